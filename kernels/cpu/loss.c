/* Reference kernels for the losses: cross_entropy over class logits and mse.
 *
 * Each returns f32 (2,) = {sum of per-item losses, count of items} rather than a mean,
 * so a step that accumulates micro-batches divides once by the whole step's count. The
 * gradient flows from element 0 only; the count is a constant.
 *
 * The fast paths compute in float with vec.h's exp and sum in double; rows (or, for mse,
 * elements) are split into fixed chunks between threads, so the sums do not depend on
 * the thread count.
 */
#include <math.h>
#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

/* Checks every target before anything is computed, so a failing call has written
 * nothing. Returns LT_EINVAL naming the first bad row. */
static enum lt_status check_targets(const struct lt_kargs *a, const int32_t *t, int64_t n,
                                    int64_t classes, int ignore_index) {
    for (int64_t r = 0; r < n; r++) {
        if (t[r] == ignore_index || (t[r] >= 0 && t[r] < classes))
            continue;
        snprintf(a->msg, LT_KMSG_SIZE, "target %d at row %lld is outside [0, %lld)",
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

/* ---- fast paths ------------------------------------------------------------------------------ */

/* Sum of the losses of rows [r0, r1) of x (N, C), in double. */
LT_INLINE double ce_rows_f32_body(const float *restrict x, const int32_t *restrict t, int64_t r0,
                                  int64_t r1, int64_t classes,
                                  const struct lt_cross_entropy_attrs *at) {
    double e = at->label_smoothing, sum = 0;
    for (int64_t r = r0; r < r1; r++) {
        if (t[r] == at->ignore_index)
            continue;
        const float *xr = x + r * classes;
        float m;
        double s;
        lt_vrow_max_sumexp(xr, classes, &m, &s);
        double lse = m + log(s);
        double loss = lse - xr[t[r]];
        if (e > 0) {
            double mean = 0;
#pragma omp simd reduction(+ : mean)
            for (int64_t c = 0; c < classes; c++)
                mean += xr[c];
            loss = (1 - e) * loss + e * (lse - mean / (double)classes);
        }
        sum += loss;
    }
    return sum;
}
LT_DISPATCH_RET(double, ce_rows_f32,
                (const float *restrict x, const int32_t *restrict t, int64_t r0, int64_t r1,
                 int64_t classes, const struct lt_cross_entropy_attrs *at),
                (x, t, r0, r1, classes, at));

static enum lt_status cross_entropy_forward_fast(const struct lt_kargs *a) {
    const struct lt_cross_entropy_attrs *at = a->attrs;
    const float *x = a->in[0]->data;   /* (N, C) */
    const int32_t *t = a->in[1]->data; /* (N) */
    float *out = a->out[0]->data;      /* (2) */
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    enum lt_status st = check_targets(a, t, n, classes, at->ignore_index);
    if (st != LT_OK)
        return st;
    double part[LT_SUM_CHUNKS];
#pragma omp parallel for schedule(static) if (n * classes >= LT_PAR_MATH)
    for (int k = 0; k < LT_SUM_CHUNKS; k++) {
        int64_t r0, r1;
        lt_share(n, 1, k, LT_SUM_CHUNKS, &r0, &r1);
        part[k] = ce_rows_f32(x, t, r0, r1, classes, at);
    }
    double sum = 0;
    for (int k = 0; k < LT_SUM_CHUNKS; k++)
        sum += part[k];
    int64_t count = 0;
    for (int64_t r = 0; r < n; r++)
        count += t[r] != at->ignore_index;
    out[0] = (float)sum;
    out[1] = (float)count;
    return LT_OK;
}

/* Rows [r0, r1) of the gradient: g * (softmax - (1 - e) * onehot - e / C), 0 where the
 * target is ignored. */
LT_INLINE void ce_grad_rows_f32_body(const float *restrict x, const int32_t *restrict t,
                                     float *restrict gx, int64_t r0, int64_t r1, int64_t classes,
                                     float g, const struct lt_cross_entropy_attrs *at, int acc) {
    float e = at->label_smoothing, hit = 1.0f - e, spread = e / (float)classes;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * classes;
        float *gr = gx + r * classes;
        if (t[r] == at->ignore_index) {
            if (!acc)
                for (int64_t c = 0; c < classes; c++)
                    gr[c] = 0.0f;
            continue;
        }
        float m;
        double s;
        lt_vrow_max_sumexp(xr, classes, &m, &s);
        float inv = (float)(1 / s);
        int64_t target = t[r];
        if (acc) {
#pragma omp simd
            for (int64_t c = 0; c < classes; c++)
                gr[c] +=
                    g * (lt_vexp(xr[c] - m) * inv - lt_vselect(c == target, hit, 0.0f) - spread);
        } else {
#pragma omp simd
            for (int64_t c = 0; c < classes; c++)
                gr[c] =
                    g * (lt_vexp(xr[c] - m) * inv - lt_vselect(c == target, hit, 0.0f) - spread);
        }
    }
}
LT_DISPATCH(ce_grad_rows_f32,
            (const float *restrict x, const int32_t *restrict t, float *restrict gx, int64_t r0,
             int64_t r1, int64_t classes, float g, const struct lt_cross_entropy_attrs *at,
             int acc),
            (x, t, gx, r0, r1, classes, g, at, acc));

static enum lt_status cross_entropy_backward_fast(const struct lt_kargs *a) {
    const struct lt_cross_entropy_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *x = a->in[0]->data;   /* (N, C) */
    const int32_t *t = a->in[1]->data; /* (N) */
    float *gx = a->gin[0]->data;       /* (N, C) */
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    float g = ((const float *)a->gout[0]->data)[0];
    enum lt_status st = check_targets(a, t, n, classes, at->ignore_index);
    if (st != LT_OK)
        return st;
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (n * classes >= LT_PAR_MATH)
    {
        int64_t r0, r1;
        lt_share(n, 1, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        ce_grad_rows_f32(x, t, gx, r0, r1, classes, g, at, acc);
    }
    return LT_OK;
}

LT_INLINE double sq_diff_f32_body(const float *restrict p, const float *restrict t, int64_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - t[i];
        s += d * d;
    }
    return s;
}
LT_DISPATCH_RET(double, sq_diff_f32, (const float *restrict p, const float *restrict t, int64_t n),
                (p, t, n));

static enum lt_status mse_forward_fast(const struct lt_kargs *a) {
    const float *p = a->in[0]->data; /* (...) */
    const float *t = a->in[1]->data; /* same shape */
    float *out = a->out[0]->data;    /* (2) */
    int64_t n = lt_kview_numel(a->in[0]);
    double part[LT_SUM_CHUNKS];
#pragma omp parallel for schedule(static) if (n >= LT_PAR_STREAM)
    for (int k = 0; k < LT_SUM_CHUNKS; k++) {
        int64_t lo, hi;
        lt_share(n, 16, k, LT_SUM_CHUNKS, &lo, &hi);
        part[k] = sq_diff_f32(p + lo, t + lo, hi - lo);
    }
    double sum = 0;
    for (int k = 0; k < LT_SUM_CHUNKS; k++)
        sum += part[k];
    out[0] = (float)sum;
    out[1] = (float)n;
    return LT_OK;
}

/* gx = (or +=) c * (p - t) */
LT_INLINE void scaled_diff_f32_body(const float *restrict p, const float *restrict t,
                                    float *restrict gx, int64_t n, float c, int acc) {
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += c * (p[i] - t[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = c * (p[i] - t[i]);
    }
}
LT_DISPATCH(scaled_diff_f32,
            (const float *restrict p, const float *restrict t, float *restrict gx, int64_t n,
             float c, int acc),
            (p, t, gx, n, c, acc));

/* d/dp = 2 g (p - t), d/dt = -2 g (p - t) */
static enum lt_status mse_backward_fast(const struct lt_kargs *a) {
    const float *p = a->in[0]->data; /* (...) */
    const float *t = a->in[1]->data; /* same shape */
    int64_t n = lt_kview_numel(a->in[0]);
    float g2 = (float)(2.0 * ((const float *)a->gout[0]->data)[0]);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int i = 0; i < 2; i++)
            if (a->gin[i])
                scaled_diff_f32(p + lo, t + lo, (float *)a->gin[i]->data + lo, hi - lo,
                                i ? -g2 : g2, lt_accumulates(a, i));
    }
    return LT_OK;
}

void lt_cpu_register_loss(struct lt_backend *b, int fast) {
    lt_cpu_set(b, LT_OP_CROSS_ENTROPY, LT_DTYPE_F32, cross_entropy_forward_ref,
               cross_entropy_backward_ref);
    lt_cpu_set(b, LT_OP_MSE, LT_DTYPE_F32, mse_forward_ref, mse_backward_ref);
    if (!fast)
        return;
    lt_cpu_set_fast(b, LT_OP_CROSS_ENTROPY, LT_DTYPE_F32, cross_entropy_forward_fast,
                    cross_entropy_backward_fast);
    lt_cpu_set_fast(b, LT_OP_MSE, LT_DTYPE_F32, mse_forward_fast, mse_backward_fast);
}
