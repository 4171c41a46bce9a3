/* Reference kernels for softmax and log_softmax over the last dim.
 *
 * Rows subtract their max before exponentiating so that large logits cannot overflow,
 * and sums run in double. The backward kernels read only the forward output, which is
 * all the op table keeps alive for them.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

/* A tensor seen as (rows, cols) with cols its last dim. */
static void as_rows(const struct lt_kview *v, int64_t *rows, int64_t *cols) {
    *cols = v->shape[v->ndim - 1];
    *rows = lt_dims_product(v, 0, v->ndim - 1);
}

static enum lt_status softmax_forward_ref(const struct lt_kargs *a) {
    const float *x = a->in[0]->data; /* (rows, cols) */
    float *y = a->out[0]->data;      /* (rows, cols) */
    int64_t rows, cols;
    as_rows(a->in[0], &rows, &cols);
    for (int64_t r = 0; r < rows && cols > 0; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m;
        double s;
        lt_row_max_sumexp(xr, cols, &m, &s);
        for (int64_t c = 0; c < cols; c++)
            yr[c] = (float)(exp((double)xr[c] - m) / s);
    }
    return LT_OK;
}

/* dx = y * (dy - sum(dy * y)) per row */
static enum lt_status softmax_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const float *y = a->out[0]->data;   /* (rows, cols) */
    const float *dy = a->gout[0]->data; /* (rows, cols) */
    int64_t rows, cols;
    as_rows(a->out[0], &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        double dot = 0;
        for (int64_t c = 0; c < cols; c++)
            dot += (double)dyr[c] * yr[c];
        for (int64_t c = 0; c < cols; c++)
            lt_grad_store(a, 0, r * cols + c, (double)yr[c] * ((double)dyr[c] - dot));
    }
    return LT_OK;
}

static enum lt_status log_softmax_forward_ref(const struct lt_kargs *a) {
    const float *x = a->in[0]->data; /* (rows, cols) */
    float *y = a->out[0]->data;      /* (rows, cols) */
    int64_t rows, cols;
    as_rows(a->in[0], &rows, &cols);
    for (int64_t r = 0; r < rows && cols > 0; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m;
        double s;
        lt_row_max_sumexp(xr, cols, &m, &s);
        double lse = m + log(s);
        for (int64_t c = 0; c < cols; c++)
            yr[c] = (float)((double)xr[c] - lse);
    }
    return LT_OK;
}

/* dx = dy - exp(y) * sum(dy) per row; exp(y) is the softmax */
static enum lt_status log_softmax_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const float *y = a->out[0]->data;   /* (rows, cols) */
    const float *dy = a->gout[0]->data; /* (rows, cols) */
    int64_t rows, cols;
    as_rows(a->out[0], &rows, &cols);
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        double sum = 0;
        for (int64_t c = 0; c < cols; c++)
            sum += dyr[c];
        for (int64_t c = 0; c < cols; c++)
            lt_grad_store(a, 0, r * cols + c, (double)dyr[c] - exp((double)yr[c]) * sum);
    }
    return LT_OK;
}

void lt_cpu_register_softmax(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set(b, LT_OP_SOFTMAX, LT_DTYPE_F32, softmax_forward_ref, softmax_backward_ref);
    lt_cpu_set(b, LT_OP_LOG_SOFTMAX, LT_DTYPE_F32, log_softmax_forward_ref,
               log_softmax_backward_ref);
}
