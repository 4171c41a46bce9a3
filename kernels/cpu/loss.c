/* Reference kernels for the losses: cross_entropy over class logits and mse.
 *
 * Each returns f32 (2,) = {sum of per-item losses, count of items} rather than a mean,
 * so a step that accumulates micro-batches divides once by the whole step's count. The
 * gradient flows from element 0 only; the count is a constant.
 */
#include <math.h>
#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"

/* Checks every target before anything is computed, so a failing call has written
 * nothing. Returns LT_EINVAL naming the first bad row. */
static enum lt_status check_targets(const struct lt_kargs *a, const int32_t *t, int64_t n,
                                    int64_t classes, int ignore_index) {
    for (int64_t r = 0; r < n; r++) {
        if (t[r] == ignore_index || (t[r] >= 0 && t[r] < classes))
            continue;
        snprintf(a->msg, LT_KMSG_SIZE, "cross_entropy: target %d at row %lld is outside [0, %lld)",
                 (int)t[r], (long long)r, (long long)classes);
        return LT_EINVAL;
    }
    return LT_OK;
}

/* The row's log-sum-exp, stable, in double. classes >= 1. */
static double row_lse(const float *x, int64_t classes) {
    float m;
    double s;
    lt_row_max_sumexp(x, classes, &m, &s);
    return m + log(s);
}

static enum lt_status cross_entropy_forward_ref(const struct lt_kargs *a) {
    const struct lt_cross_entropy_attrs *at = a->attrs;
    const float *x = a->in[0]->data;   /* (N, C) */
    const int32_t *t = a->in[1]->data; /* (N) */
    float *out = a->out[0]->data;      /* (2) */
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    double e = at->label_smoothing;
    enum lt_status st = check_targets(a, t, n, classes, at->ignore_index);
    if (st != LT_OK)
        return st;
    double sum = 0;
    int64_t count = 0;
    for (int64_t r = 0; r < n; r++) {
        if (t[r] == at->ignore_index)
            continue;
        const float *xr = x + r * classes;
        double lse = row_lse(xr, classes);
        double loss = lse - xr[t[r]];
        if (e > 0) {
            /* mean_c(-logp[c]) = lse - mean_c(x[c]) */
            double mean = 0;
            for (int64_t c = 0; c < classes; c++)
                mean += xr[c];
            mean /= (double)classes;
            loss = (1 - e) * loss + e * (lse - mean);
        }
        sum += loss;
        count++;
    }
    out[0] = (float)sum;
    out[1] = (float)count;
    return LT_OK;
}

/* d loss / d x[c] = g * (softmax[c] - (1 - e) * [c == y] - e / C); ignored rows get 0 */
static enum lt_status cross_entropy_backward_ref(const struct lt_kargs *a) {
    const struct lt_cross_entropy_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *x = a->in[0]->data;   /* (N, C) */
    const int32_t *t = a->in[1]->data; /* (N) */
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    double g = ((const float *)a->gout[0]->data)[0];
    double e = at->label_smoothing;
    enum lt_status st = check_targets(a, t, n, classes, at->ignore_index);
    if (st != LT_OK)
        return st;
    for (int64_t r = 0; r < n; r++) {
        const float *xr = x + r * classes;
        int ignored = t[r] == at->ignore_index;
        double lse = ignored ? 0 : row_lse(xr, classes);
        for (int64_t c = 0; c < classes; c++) {
            double d = 0;
            if (!ignored)
                d = g * (exp((double)xr[c] - lse) - (c == t[r] ? 1 - e : 0) -
                         e / (double)classes);
            lt_grad_store(a, 0, r * classes + c, d);
        }
    }
    return LT_OK;
}

static enum lt_status mse_forward_ref(const struct lt_kargs *a) {
    const float *p = a->in[0]->data; /* (...) */
    const float *t = a->in[1]->data; /* same shape */
    float *out = a->out[0]->data;    /* (2) */
    int64_t n = lt_kview_numel(a->in[0]);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - t[i];
        sum += d * d;
    }
    out[0] = (float)sum;
    out[1] = (float)n;
    return LT_OK;
}

/* d/dp = 2 g (p - t), d/dt = -2 g (p - t) */
static enum lt_status mse_backward_ref(const struct lt_kargs *a) {
    const float *p = a->in[0]->data; /* (...) */
    const float *t = a->in[1]->data; /* same shape */
    int64_t n = lt_kview_numel(a->in[0]);
    double g2 = 2.0 * ((const float *)a->gout[0]->data)[0];
    for (int64_t i = 0; i < n; i++) {
        double d = g2 * ((double)p[i] - t[i]);
        if (a->gin[0])
            lt_grad_store(a, 0, i, d);
        if (a->gin[1])
            lt_grad_store(a, 1, i, -d);
    }
    return LT_OK;
}

void lt_cpu_register_loss(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set(b, LT_OP_CROSS_ENTROPY, LT_DTYPE_F32, cross_entropy_forward_ref,
               cross_entropy_backward_ref);
    lt_cpu_set(b, LT_OP_MSE, LT_DTYPE_F32, mse_forward_ref, mse_backward_ref);
}
