/* embedding for f32 weights, as kernels/cpu/embedding.c: the forward copies row ids[i]
 * of the weight (V, D) into row i of the output, the backward adds row i of the output
 * gradient into row ids[i] of the weight's. One warp per row, its lanes along D (four
 * floats at a time when D and the pointers allow). The CPU checks every id before it
 * touches memory and fails naming the first bad one; a kernel cannot fail, so an id
 * outside [0, V) is skipped and raises the device's bad-data flag, which the next sync
 * reports (LT_EINVAL). The backward's weight rows are summed with float atomics: the
 * order in which duplicate ids add into a row is not fixed, so its last bits may differ
 * from run to run and from the CPU's id-order sum.
 */
#include "kernels/cuda/cuda_kernels.cuh"

/* Private to this file: other families' kernels may use the same names. */
namespace {

#define ROWS_PER_BLOCK 8 /* warps per block, one row each at a time */

/* Calls f(i, id) for each row i this warp takes whose id is in [0, vocab); a row whose
 * id is not is skipped and raises the bad-data flag. */
template <typename F>
__device__ __forceinline__ void each_row(const int32_t *ids, int64_t n, int64_t vocab,
                                         unsigned *flag, F f) {
    for (int64_t i = (int64_t)blockIdx.x * ROWS_PER_BLOCK + threadIdx.y; i < n;
         i += (int64_t)gridDim.x * ROWS_PER_BLOCK) {
        int32_t id = ids[i];
        if (id >= 0 && id < vocab)
            f(i, id);
        else if (threadIdx.x == 0)
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_INDEX);
    }
}

/* y[i] = w[ids[i]], rows of `dim` V's (floats, or float4s when D and the pointers allow) */
template <typename V>
__global__ void embedding_forward_kernel(const V *w, const int32_t *ids, V *y, int64_t n,
                                         int64_t vocab, int64_t dim, unsigned *flag) {
    each_row(ids, n, vocab, flag, [&](int64_t i, int32_t id) {
        const V *src = w + (int64_t)id * dim;
        V *dst = y + i * dim;
        for (int64_t d = threadIdx.x; d < dim; d += 32)
            dst[d] = src[d];
    });
}

/* dw[ids[i]] += dy[i]; duplicate ids meet in atomicAdd, in no fixed order */
__global__ void embedding_backward_kernel(const int32_t *ids, const float *dy, float *dw, int64_t n,
                                          int64_t vocab, int64_t dim, unsigned *flag) {
    each_row(ids, n, vocab, flag, [&](int64_t i, int32_t id) {
        float *dst = dw + (int64_t)id * dim;
        const float *src = dy + i * dim;
        for (int64_t d = threadIdx.x; d < dim; d += 32)
            atomicAdd(dst + d, src[d]);
    });
}

unsigned row_blocks(int64_t n) {
    int64_t b = (n + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    return (unsigned)(b > 65536 ? 65536 : b);
}

enum lt_status lt_cuda_embedding_forward(const lt_kargs *a) {
    const float *w = (const float *)a->in[0]->data;       /* (V, D) */
    const int32_t *ids = (const int32_t *)a->in[1]->data; /* (...) */
    float *y = (float *)a->out[0]->data;                  /* (..., D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_numel(a->in[1]);
    if (n == 0)
        return LT_OK;
    lt_cuda *c = lt_cu(a);
    dim3 block(32, ROWS_PER_BLOCK);
    /* a caller's tensor bound as the weight may not be 16-byte aligned */
    if (dim % 4 == 0 && ((uintptr_t)w | (uintptr_t)y) % 16 == 0)
        embedding_forward_kernel<float4><<<row_blocks(n), block, 0, c->stream>>>(
            (const float4 *)w, ids, (float4 *)y, n, vocab, dim / 4, c->flag);
    else
        embedding_forward_kernel<float>
            <<<row_blocks(n), block, 0, c->stream>>>(w, ids, y, n, vocab, dim, c->flag);
    return lt_cuda_check(a, "embedding");
}

/* Overwriting zeroes the whole weight gradient first: rows no id names get 0. */
enum lt_status lt_cuda_embedding_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const int32_t *ids = (const int32_t *)a->in[1]->data; /* (...) */
    const float *dy = (const float *)a->gout[0]->data;    /* (..., D) */
    float *dw = (float *)a->gin[0]->data;                 /* (V, D) */
    int64_t vocab = a->in[0]->shape[0], dim = a->in[0]->shape[1];
    int64_t n = lt_numel(a->in[1]);
    lt_cuda *c = lt_cu(a);
    if (!(a->accumulate & 1u) && vocab * dim != 0)
        cudaMemsetAsync(dw, 0, (size_t)(vocab * dim) * sizeof(float), c->stream);
    if (n)
        embedding_backward_kernel<<<row_blocks(n), dim3(32, ROWS_PER_BLOCK), 0, c->stream>>>(
            ids, dy, dw, n, vocab, dim, c->flag);
    return lt_cuda_check(a, "embedding (backward)");
}

} // namespace

void lt_cuda_register_embedding(lt_backend *b) {
    b->kernels[LT_OP_EMBEDDING][LT_DTYPE_F32] =
        lt_cuda_kernel(lt_cuda_embedding_forward, lt_cuda_embedding_backward);
}
