/* Reference kernels for embedding: a row lookup forward, a row scatter-add backward.
 *
 * An id outside [0, V) is bad data a user can feed, not a shape error, so both kernels
 * check every id before touching memory and fail with LT_EINVAL naming it. The backward
 * reads only the ids: the weight's values never enter its gradient.
 *
 * The fast paths split the ids (forward) or the vocabulary rows (backward) between
 * threads: each weight row's gradient is summed by one thread, over the ids in order, as
 * the reference sums it.
 */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

static enum lt_status embedding_forward_ref(const struct lt_kargs *a) {
    const float *w = a->in[0]->data;    /* (V, D) */
    const int32_t *id = a->in[1]->data; /* (...) */
    float *y = a->out[0]->data;         /* (..., D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_kview_numel(a->in[1]);
    enum lt_status st = lt_cpu_check_ids(a, a->in[1], vocab);
    if (st != LT_OK)
        return st;
    for (int64_t i = 0; i < n; i++)
        memcpy(y + i * dim, w + (int64_t)id[i] * dim, (size_t)dim * sizeof(float));
    return LT_OK;
}

/* dW[id[i]] += dy[i] for every position i; duplicate ids add up */
static enum lt_status embedding_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const int32_t *id = a->in[1]->data; /* (...) */
    const float *dy = a->gout[0]->data; /* (..., D) */
    float *dw = a->gin[0]->data;        /* (V, D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_kview_numel(a->in[1]);
    enum lt_status st = lt_cpu_check_ids(a, a->in[1], vocab);
    if (st != LT_OK)
        return st;
    if (!(a->accumulate & 1u))
        memset(dw, 0, (size_t)(vocab * dim) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        float *row = dw + (int64_t)id[i] * dim;
        for (int64_t d = 0; d < dim; d++)
            row[d] += dy[i * dim + d];
    }
    return LT_OK;
}

/* ---- fast paths ------------------------------------------------------------------------------ */

static enum lt_status embedding_forward_fast(const struct lt_kargs *a) {
    const float *w = a->in[0]->data;    /* (V, D) */
    const int32_t *id = a->in[1]->data; /* (...) */
    float *y = a->out[0]->data;         /* (..., D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_kview_numel(a->in[1]);
    enum lt_status st = lt_cpu_check_ids(a, a->in[1], vocab);
    if (st != LT_OK)
        return st;
#pragma omp parallel if (n * dim >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int64_t i = lo; i < hi; i++)
            memcpy(y + i * dim, w + (int64_t)id[i] * dim, (size_t)dim * sizeof(float));
    }
    return LT_OK;
}

/* dW rows [v0, v1): zeroed unless accumulating, then dy[i] added for every id in the range,
 * in the order of i. */
LT_INLINE void embedding_grad_rows_f32_body(const int32_t *restrict id, const float *restrict dy,
                                            float *restrict dw, int64_t n, int64_t dim, int64_t v0,
                                            int64_t v1, int acc) {
    if (!acc)
        memset(dw + v0 * dim, 0, (size_t)((v1 - v0) * dim) * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        if (id[i] < v0 || id[i] >= v1)
            continue;
        float *row = dw + (int64_t)id[i] * dim;
        const float *g = dy + i * dim;
#pragma omp simd
        for (int64_t d = 0; d < dim; d++)
            row[d] += g[d];
    }
}
LT_DISPATCH(embedding_grad_rows_f32,
            (const int32_t *restrict id, const float *restrict dy, float *restrict dw, int64_t n,
             int64_t dim, int64_t v0, int64_t v1, int acc),
            (id, dy, dw, n, dim, v0, v1, acc));

static enum lt_status embedding_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const int32_t *id = a->in[1]->data; /* (...) */
    const float *dy = a->gout[0]->data; /* (..., D) */
    float *dw = a->gin[0]->data;        /* (V, D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_kview_numel(a->in[1]);
    enum lt_status st = lt_cpu_check_ids(a, a->in[1], vocab);
    if (st != LT_OK)
        return st;
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if ((n + vocab) * dim >= LT_PAR_STREAM)
    {
        int64_t v0, v1;
        lt_share(vocab, 1, omp_get_thread_num(), omp_get_num_threads(), &v0, &v1);
        embedding_grad_rows_f32(id, dy, dw, n, dim, v0, v1, acc);
    }
    return LT_OK;
}

void lt_cpu_register_embedding(struct lt_backend *b, int fast) {
    if (fast)
        lt_cpu_set_fast(b, LT_OP_EMBEDDING, LT_DTYPE_F32, embedding_forward_fast,
                        embedding_backward_fast);
    else
        lt_cpu_set(b, LT_OP_EMBEDDING, LT_DTYPE_F32, embedding_forward_ref, embedding_backward_ref);
}
