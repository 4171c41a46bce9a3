/* Reference kernels for softmax and log_softmax over the last dim.
 *
 * Rows subtract their max before exponentiating so that large logits cannot overflow,
 * and sums run in double. The backward kernels read only the forward output, which is
 * all the op table keeps alive for them.
 *
 * The fast paths compute in float with vec.h's exp, sum in double, and split the rows
 * between threads.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

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

/* ---- fast paths ------------------------------------------------------------------------------ */

/* Rows [r0, r1) of the forward of log_softmax or softmax. */
LT_INLINE void softmax_rows_f32_body(const float *restrict x, float *restrict y, int64_t r0,
                                     int64_t r1, int64_t cols, int log_softmax) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float m;
        double s;
        lt_vrow_max_sumexp(xr, cols, &m, &s);
        if (log_softmax) {
            /* x - m is exact near the maximum, where the log-probabilities are small */
            float ls = (float)log(s);
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                yr[c] = (xr[c] - m) - ls;
        } else {
            float inv = (float)(1 / s);
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                yr[c] = lt_vexp(xr[c] - m) * inv;
        }
    }
}
LT_DISPATCH(softmax_rows_f32,
            (const float *restrict x, float *restrict y, int64_t r0, int64_t r1, int64_t cols,
             int log_softmax),
            (x, y, r0, r1, cols, log_softmax));

/* Rows [r0, r1) of the backward: softmax's dx = y * (dy - sum(dy * y)), log_softmax's
 * dx = dy - exp(y) * sum(dy). */
LT_INLINE void softmax_grad_rows_f32_body(const float *restrict y, const float *restrict dy,
                                          float *restrict dx, int64_t r0, int64_t r1, int64_t cols,
                                          int log_softmax, int acc) {
    for (int64_t r = r0; r < r1; r++) {
        const float *yr = y + r * cols, *dyr = dy + r * cols;
        float *dxr = dx + r * cols;
        double s = 0;
        if (log_softmax) {
#pragma omp simd reduction(+ : s)
            for (int64_t c = 0; c < cols; c++)
                s += dyr[c];
        } else {
#pragma omp simd reduction(+ : s)
            for (int64_t c = 0; c < cols; c++)
                s += (double)dyr[c] * yr[c];
        }
        float sf = (float)s;
        if (log_softmax && acc) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                dxr[c] += dyr[c] - lt_vexp(yr[c]) * sf;
        } else if (log_softmax) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                dxr[c] = dyr[c] - lt_vexp(yr[c]) * sf;
        } else if (acc) {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                dxr[c] += yr[c] * (dyr[c] - sf);
        } else {
#pragma omp simd
            for (int64_t c = 0; c < cols; c++)
                dxr[c] = yr[c] * (dyr[c] - sf);
        }
    }
}
LT_DISPATCH(softmax_grad_rows_f32,
            (const float *restrict y, const float *restrict dy, float *restrict dx, int64_t r0,
             int64_t r1, int64_t cols, int log_softmax, int acc),
            (y, dy, dx, r0, r1, cols, log_softmax, acc));

static enum lt_status forward_fast(const struct lt_kargs *a, int log_softmax) {
    int64_t rows, cols;
    as_rows(a->in[0], &rows, &cols);
    if (cols == 0)
        return LT_OK;
#pragma omp parallel if (rows * cols >= LT_PAR_MATH)
    {
        int64_t r0, r1;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        softmax_rows_f32(a->in[0]->data, a->out[0]->data, r0, r1, cols, log_softmax);
    }
    return LT_OK;
}

static enum lt_status backward_fast(const struct lt_kargs *a, int log_softmax) {
    if (!a->gin[0])
        return LT_OK;
    int64_t rows, cols;
    as_rows(a->out[0], &rows, &cols);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (rows * cols >= LT_PAR_MATH)
    {
        int64_t r0, r1;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        softmax_grad_rows_f32(a->out[0]->data, a->gout[0]->data, a->gin[0]->data, r0, r1, cols,
                              log_softmax, acc);
    }
    return LT_OK;
}

static enum lt_status softmax_forward_fast(const struct lt_kargs *a) {
    return forward_fast(a, 0);
}

static enum lt_status softmax_backward_fast(const struct lt_kargs *a) {
    return backward_fast(a, 0);
}

static enum lt_status log_softmax_forward_fast(const struct lt_kargs *a) {
    return forward_fast(a, 1);
}

static enum lt_status log_softmax_backward_fast(const struct lt_kargs *a) {
    return backward_fast(a, 1);
}

void lt_cpu_register_softmax(struct lt_backend *b, int fast) {
    lt_cpu_set(b, LT_OP_SOFTMAX, LT_DTYPE_F32, softmax_forward_ref, softmax_backward_ref);
    lt_cpu_set(b, LT_OP_LOG_SOFTMAX, LT_DTYPE_F32, log_softmax_forward_ref,
               log_softmax_backward_ref);
    if (!fast)
        return;
    lt_cpu_set_fast(b, LT_OP_SOFTMAX, LT_DTYPE_F32, softmax_forward_fast, softmax_backward_fast);
    lt_cpu_set_fast(b, LT_OP_LOG_SOFTMAX, LT_DTYPE_F32, log_softmax_forward_fast,
                    log_softmax_backward_fast);
}
