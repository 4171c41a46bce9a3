/* Reference kernels for matmul (broadcasting batch dims) and linear: the spec, in plain
 * loops with double sums.
 * The f16 and bf16 ones run these on f32 copies and round the output once (half_ref.h). */
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/matmul_batch.h"

/* out[t] = a[ia] @ b[ib] for each output batch entry t and the matrices ia, ib it
 * reads (kernels/matmul_batch.h). */
static enum lt_status matmul_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *A = a->in[0], *B = a->in[1];
    struct lt_mm_batch w = lt_mm_batch_of(A, B);
    int64_t M = A->shape[A->ndim - 2], K = A->shape[A->ndim - 1], N = B->shape[B->ndim - 1];
    for (int64_t t = 0; t < w.count; t++) {
        int64_t ia, ib;
        lt_mm_batch_at(&w, t, &ia, &ib);
        const float *x = (const float *)A->data + ia * M * K; /* (M, K) */
        const float *y = (const float *)B->data + ib * K * N; /* (K, N) */
        float *z = (float *)a->out[0]->data + t * M * N;      /* (M, N) */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)x[i * K + k] * y[k * N + j];
                z[i * N + j] = (float)s;
            }
    }
    return LT_OK;
}

/* ga[p] = sum over the entries t that read a's matrix p of g[t] @ b[ib(t)]^T, and gb the
 * same way: a matrix repeated over the batch gets the sum of its uses' gradients. */
static enum lt_status matmul_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *A = a->in[0], *B = a->in[1];
    struct lt_mm_batch w = lt_mm_batch_of(A, B);
    int64_t M = A->shape[A->ndim - 2], K = A->shape[A->ndim - 1], N = B->shape[B->ndim - 1];
    const float *g = a->gout[0]->data; /* (count, M, N) */
    const float *x = A->data, *y = B->data;
    if (a->gin[0])
        for (int64_t p = 0; p < w.a_count; p++)
            for (int64_t i = 0; i < M; i++)
                for (int64_t k = 0; k < K; k++) {
                    double s = 0;
                    for (int64_t t = 0; t < w.count; t++) {
                        int64_t ia, ib;
                        lt_mm_batch_at(&w, t, &ia, &ib);
                        if (ia != p)
                            continue;
                        for (int64_t j = 0; j < N; j++)
                            s += (double)g[(t * M + i) * N + j] * y[(ib * K + k) * N + j];
                    }
                    lt_grad_store(a, 0, (p * M + i) * K + k, s);
                }
    if (a->gin[1])
        for (int64_t p = 0; p < w.b_count; p++)
            for (int64_t k = 0; k < K; k++)
                for (int64_t j = 0; j < N; j++) {
                    double s = 0;
                    for (int64_t t = 0; t < w.count; t++) {
                        int64_t ia, ib;
                        lt_mm_batch_at(&w, t, &ia, &ib);
                        if (ib != p)
                            continue;
                        for (int64_t i = 0; i < M; i++)
                            s += (double)x[(ia * M + i) * K + k] * g[(t * M + i) * N + j];
                    }
                    lt_grad_store(a, 1, (p * K + k) * N + j, s);
                }
    return LT_OK;
}

static enum lt_status linear_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *X = a->in[0], *W = a->in[1];
    int64_t in = W->shape[1], out = W->shape[0], rows = lt_kview_numel(X) / in;
    const float *x = X->data, *w = W->data; /* (rows, in), (out, in) */
    const float *bias = a->n_in == 3 ? a->in[2]->data : NULL;
    float *y = a->out[0]->data; /* (rows, out) */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int64_t i = 0; i < in; i++)
                s += (double)x[r * in + i] * w[o * in + i];
            y[r * out + o] = (float)s;
        }
    return LT_OK;
}

static enum lt_status linear_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *X = a->in[0], *W = a->in[1];
    int64_t in = W->shape[1], out = W->shape[0], rows = lt_kview_numel(X) / in;
    const float *g = a->gout[0]->data; /* (rows, out) */
    const float *x = X->data, *w = W->data;
    if (a->gin[0])
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t o = 0; o < out; o++)
                    s += (double)g[r * out + o] * w[o * in + i];
                lt_grad_store(a, 0, r * in + i, s);
            }
    if (a->gin[1])
        for (int64_t o = 0; o < out; o++)
            for (int64_t i = 0; i < in; i++) {
                double s = 0;
                for (int64_t r = 0; r < rows; r++)
                    s += (double)g[r * out + o] * x[r * in + i];
                lt_grad_store(a, 1, o * in + i, s);
            }
    if (a->n_in == 3 && a->gin[2])
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t r = 0; r < rows; r++)
                s += g[r * out + o];
            lt_grad_store(a, 2, o, s);
        }
    return LT_OK;
}

static enum lt_status matmul_forward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 0, matmul_forward_ref);
}

static enum lt_status matmul_backward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 1, matmul_backward_ref);
}

static enum lt_status linear_forward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 0, linear_forward_ref);
}

static enum lt_status linear_backward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 1, linear_backward_ref);
}

/* The fast paths are oneDNN's (kernels/cpu/dnnl/matmul.c), registered over these. */
void lt_cpu_register_linear(struct lt_backend *b, int fast) {
    (void)fast;
    lt_cpu_set(b, LT_OP_MATMUL, LT_DTYPE_F32, matmul_forward_ref, matmul_backward_ref);
    lt_cpu_set(b, LT_OP_LINEAR, LT_DTYPE_F32, linear_forward_ref, linear_backward_ref);
    static const enum lt_dtype halves[] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    for (int h = 0; h < 2; h++) {
        lt_cpu_set(b, LT_OP_MATMUL, halves[h], matmul_forward_half_ref, matmul_backward_half_ref);
        lt_cpu_set(b, LT_OP_LINEAR, halves[h], linear_forward_half_ref, linear_backward_half_ref);
        b->kernels[LT_OP_MATMUL][halves[h]].workspace = lt_half_ref_workspace;
        b->kernels[LT_OP_LINEAR][halves[h]].workspace = lt_half_ref_workspace;
        /* half_ref.h writes an f32 gin in place */
        b->kernels[LT_OP_MATMUL][halves[h]].f32_gin = LT_IN(0) | LT_IN(1);
        b->kernels[LT_OP_LINEAR][halves[h]].f32_gin = LT_IN(1) | LT_IN(2);
    }
    lt_cpu_half_gradients(b, LT_OP_MATMUL);
    lt_cpu_half_gradients(b, LT_OP_LINEAR);
}
