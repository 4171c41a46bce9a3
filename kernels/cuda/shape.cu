/* reshape, transpose (of the last two dims, batched), concat, permute and narrow for every
 * dtype,
 * as the CPU reference kernels (kernels/cpu/shape.c) move them. The forwards move
 * elements without looking at them, as integers of the element's size, so every bit
 * pattern (NaN payloads included) arrives unchanged; the backwards move the f32 gradient
 * the opposite way, adding when accumulating. Reshape is a device-to-device copy;
 * transpose goes through 32 x 32 tiles in shared memory so that both its reads and its
 * writes run along rows; concat copies every input's slices in one launch (grid y picks
 * the input); permute maps each destination index to its source index; narrow copies
 * its slice, and its backward writes every element of gin (0 outside the slice).
 */
#include "kernels/cuda/cuda_kernels.cuh"

/* Private to this file: other families' kernels may use the same names. */
namespace {

enum lt_status copy_bytes(const lt_kargs *a, void *dst, const void *src, int64_t n, size_t es,
                          const char *what) {
    if (n) /* an empty tensor may have no buffer at all */
        cudaMemcpyAsync(dst, src, (size_t)n * es, cudaMemcpyDeviceToDevice, lt_cu(a)->stream);
    return lt_cuda_check(a, what);
}

__global__ void grad_add_kernel(const float *g, float *gx, int64_t n) {
    LT_CUDA_LOOP(i, n) gx[i] += g[i];
}

/* gin[0] = (or +=) gout[0], element for element: the backward of reshape, and of
 * transpose where one of the two dims is 1 */
enum lt_status identity_backward(const lt_kargs *a, const char *what) {
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->gout[0]);
    const float *g = (const float *)a->gout[0]->data;
    float *gx = (float *)a->gin[0]->data;
    if (!(a->accumulate & 1u))
        return copy_bytes(a, gx, g, n, sizeof(float), what);
    grad_add_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(g, gx, n);
    return lt_cuda_check(a, what);
}

enum lt_status lt_cuda_reshape_forward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    return copy_bytes(a, a->out[0]->data, x->data, lt_numel(x), lt_dtype_bytes(x->dtype), "reshape");
}

enum lt_status lt_cuda_reshape_backward(const lt_kargs *a) {
    return identity_backward(a, "reshape (backward)");
}

/* ---- transpose ------------------------------------------------------------------------------- */

#define TILE 32
#define TILE_ROWS 8 /* a block is TILE x TILE_ROWS threads; each moves TILE / TILE_ROWS */

/* dst (batch, C, R) = (or +=, ACC: the f32 gradient) the transpose of src (batch, R, C).
 * Blocks walk the tiles of all the matrices; the tile's padding column keeps the
 * column-wise reads of shared memory off a single bank (for 1-, 2- and 4-byte T). */
template <typename T, bool ACC>
__global__ void transpose_kernel(const T *src, T *dst, int64_t batch, int64_t R, int64_t C) {
    __shared__ T tile[TILE][TILE + 1];
    int64_t tiles_r = (R + TILE - 1) / TILE, tiles_c = (C + TILE - 1) / TILE;
    int64_t per = tiles_r * tiles_c, total = batch * per;
    int tx = threadIdx.x, ty = threadIdx.y;
    for (int64_t b = blockIdx.x; b < total; b += gridDim.x) {
        int64_t t = b / per, rest = b - t * per;
        int64_t r0 = rest / tiles_c * TILE, c0 = rest % tiles_c * TILE;
        const T *s = src + t * R * C;
        T *d = dst + t * R * C;
        for (int k = ty; k < TILE; k += TILE_ROWS)
            if (r0 + k < R && c0 + tx < C)
                tile[k][tx] = s[(r0 + k) * C + c0 + tx];
        __syncthreads();
        for (int k = ty; k < TILE; k += TILE_ROWS)
            if (c0 + k < C && r0 + tx < R) {
                T v = tile[tx][k];
                int64_t o = (c0 + k) * R + r0 + tx;
                if constexpr (ACC)
                    d[o] += v;
                else
                    d[o] = v;
            }
        __syncthreads(); /* the next tile overwrites this one */
    }
}

template <typename T, bool ACC>
enum lt_status transpose_launch(const lt_kargs *a, const void *src, void *dst, int64_t R, int64_t C,
                                const char *what) {
    const lt_kview *x = a->in[0];
    int64_t batch = 1;
    for (int i = 0; i < x->ndim - 2; i++)
        batch *= x->shape[i];
    int64_t tiles = batch * ((R + TILE - 1) / TILE) * ((C + TILE - 1) / TILE);
    if (tiles == 0)
        return LT_OK;
    unsigned blocks = (unsigned)(tiles < 65536 ? tiles : 65536);
    transpose_kernel<T, ACC><<<blocks, dim3(TILE, TILE_ROWS), 0, lt_cu(a)->stream>>>(
        (const T *)src, (T *)dst, batch, R, C);
    return lt_cuda_check(a, what);
}

/* A matrix with one row or one column has the same layout as its transpose: a copy. */
enum lt_status lt_cuda_transpose_forward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
    size_t es = lt_dtype_bytes(x->dtype);
    const void *src = x->data;
    void *dst = a->out[0]->data;
    if (R == 1 || C == 1)
        return copy_bytes(a, dst, src, lt_numel(x), es, "transpose");
    if (es == 1)
        return transpose_launch<uint8_t, false>(a, src, dst, R, C, "transpose");
    if (es == 2)
        return transpose_launch<uint16_t, false>(a, src, dst, R, C, "transpose");
    return transpose_launch<uint32_t, false>(a, src, dst, R, C, "transpose");
}

/* gout (batch, C, R) transposed back into gin (batch, R, C) */
enum lt_status lt_cuda_transpose_backward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    int64_t R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
    if (R == 1 || C == 1)
        return identity_backward(a, "transpose (backward)");
    if (!a->gin[0])
        return LT_OK;
    const void *g = a->gout[0]->data;
    void *gx = a->gin[0]->data;
    if (a->accumulate & 1u)
        return transpose_launch<float, true>(a, g, gx, C, R, "transpose (backward)");
    return transpose_launch<float, false>(a, g, gx, C, R, "transpose (backward)");
}

/* ---- concat ---------------------------------------------------------------------------------- */

/* The output seen as (outer, row) with row = (sum of the inputs' sizes along dim) * inner:
 * input i is (outer, chunk[i]) and its slice o lands at o * row + offset[i]. */
struct concat_parts {
    void *data[LT_MAX_INPUTS]; /* the inputs (forward) or their gradients, NULL for none */
    int64_t chunk[LT_MAX_INPUTS], offset[LT_MAX_INPUTS];
    int64_t outer, row;
};

concat_parts concat_parts_of(const lt_kargs *a, bool grad) {
    const lt_concat_attrs *at = (const lt_concat_attrs *)a->attrs;
    const lt_kview *x = a->in[0];
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < d; i++)
        outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        inner *= x->shape[i];
    concat_parts p = {};
    p.outer = outer;
    for (int i = 0; i < a->n_in; i++) {
        p.data[i] = grad ? (a->gin[i] ? a->gin[i]->data : NULL) : a->in[i]->data;
        p.chunk[i] = a->in[i]->shape[d] * inner;
        p.offset[i] = p.row;
        p.row += p.chunk[i];
    }
    return p;
}

/* Element e of input blockIdx.y's (outer, chunk) is (o, w); (o, w) follows e through the
 * grid-stride steps instead of a division per element. Forward (GRAD false): the input's
 * element goes to the output. Backward: the gradient's element goes to the input's
 * gradient, added when bit i of acc is set. */
template <typename T, bool GRAD>
__global__ void concat_kernel(concat_parts p, T *whole, unsigned acc) {
    int i = blockIdx.y;
    T *part = (T *)p.data[i];
    int64_t chunk = p.chunk[i], n = p.outer * chunk;
    if (!part || n == 0)
        return;
    int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)blockDim.x * gridDim.x;
    int64_t o = e / chunk, w = e - o * chunk;
    int64_t step_o = stride / chunk, step_w = stride - step_o * chunk;
    bool add = (acc >> i) & 1u;
    for (; e < n; e += stride) {
        int64_t at = o * p.row + p.offset[i] + w;
        if constexpr (GRAD)
            part[e] = add ? part[e] + whole[at] : whole[at];
        else
            whole[at] = part[e];
        w += step_w;
        o += step_o;
        if (w >= chunk) {
            w -= chunk;
            o++;
        }
    }
}

template <typename T, bool GRAD>
enum lt_status concat_launch(const lt_kargs *a, void *whole, const char *what) {
    concat_parts p = concat_parts_of(a, GRAD);
    int64_t most = 0;
    for (int i = 0; i < a->n_in; i++)
        most = p.chunk[i] > most ? p.chunk[i] : most;
    if (p.outer * most == 0)
        return LT_OK;
    dim3 grid(lt_cuda_blocks(p.outer * most), (unsigned)a->n_in);
    concat_kernel<T, GRAD>
        <<<grid, LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(p, (T *)whole, a->accumulate);
    return lt_cuda_check(a, what);
}

enum lt_status lt_cuda_concat_forward(const lt_kargs *a) {
    void *y = a->out[0]->data;
    switch (lt_dtype_bytes(a->in[0]->dtype)) {
    case 1:
        return concat_launch<uint8_t, false>(a, y, "concat");
    case 2:
        return concat_launch<uint16_t, false>(a, y, "concat");
    default:
        return concat_launch<uint32_t, false>(a, y, "concat");
    }
}

enum lt_status lt_cuda_concat_backward(const lt_kargs *a) {
    return concat_launch<float, true>(a, a->gout[0]->data, "concat (backward)");
}

/* ---- permute --------------------------------------------------------------------------------- */

/* A permuted copy as seen from its contiguous destination: the element at multi-index
 * idx (in shape[0 .. nd)) comes from the source's element sum idx[i] * stride[i]. */
struct perm_walk {
    int nd;
    int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
};

/* The walk that gathers the contiguous src into the dim order `order` (0-based or
 * negative, a permutation, as shape inference checked): destination dim i is src's dim
 * order[i]. */
perm_walk perm_walk_of(const lt_kview *src, const int *order) {
    int64_t st[LT_MAX_DIMS], s = 1;
    for (int i = src->ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= src->shape[i];
    }
    perm_walk w = {};
    w.nd = src->ndim;
    for (int i = 0; i < src->ndim; i++) {
        int d = order[i] < 0 ? order[i] + src->ndim : order[i];
        w.shape[i] = src->shape[d];
        w.stride[i] = st[d];
    }
    return w;
}

/* dst[o] = (or +=, ACC: the f32 gradient) the walk's source element of o, for o in
 * [0, n): the writes are coalesced, the reads gather. */
template <typename T, bool ACC>
__global__ void permute_kernel(perm_walk w, const T *src, T *dst, int64_t n) {
    LT_CUDA_LOOP(o, n) {
        int64_t rest = o, from = 0;
        for (int i = w.nd - 1; i >= 0; i--) {
            from += rest % w.shape[i] * w.stride[i];
            rest /= w.shape[i];
        }
        if constexpr (ACC)
            dst[o] += src[from];
        else
            dst[o] = src[from];
    }
}

template <typename T, bool ACC>
enum lt_status permute_launch(const lt_kargs *a, const perm_walk &w, const void *src, void *dst,
                              const char *what) {
    int64_t n = 1;
    for (int i = 0; i < w.nd; i++)
        n *= w.shape[i];
    if (n == 0)
        return LT_OK;
    permute_kernel<T, ACC><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        w, (const T *)src, (T *)dst, n);
    return lt_cuda_check(a, what);
}

const int *permute_dims(const lt_kargs *a) {
    return ((const lt_permute_attrs *)a->attrs)->dims;
}

enum lt_status lt_cuda_permute_forward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    perm_walk w = perm_walk_of(x, permute_dims(a));
    const void *src = x->data;
    void *dst = a->out[0]->data;
    switch (lt_dtype_bytes(x->dtype)) {
    case 1:
        return permute_launch<uint8_t, false>(a, w, src, dst, "permute");
    case 2:
        return permute_launch<uint16_t, false>(a, w, src, dst, "permute");
    default:
        return permute_launch<uint32_t, false>(a, w, src, dst, "permute");
    }
}

/* gout gathered back through the inverse permutation (gin's dim dims[i] is gout's dim i),
 * so that gin is written in order. */
enum lt_status lt_cuda_permute_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const lt_kview *x = a->in[0];
    const int *dims = permute_dims(a);
    int inv[LT_MAX_DIMS] = {};
    for (int i = 0; i < x->ndim; i++)
        inv[dims[i] < 0 ? dims[i] + x->ndim : dims[i]] = i;
    perm_walk w = perm_walk_of(a->gout[0], inv);
    const void *g = a->gout[0]->data;
    void *gx = a->gin[0]->data;
    if (a->accumulate & 1u)
        return permute_launch<float, true>(a, w, g, gx, "permute (backward)");
    return permute_launch<float, false>(a, w, g, gx, "permute (backward)");
}

/* ---- narrow ---------------------------------------------------------------------------------- */

/* x as (outer, size, inner), the output as (outer, length, inner), from position start. */
struct narrow_geom {
    int64_t outer, size, inner, start, length;
};

narrow_geom narrow_geom_of(const lt_kargs *a) {
    const lt_narrow_attrs *at = (const lt_narrow_attrs *)a->attrs;
    const lt_kview *x = a->in[0];
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    narrow_geom n = {1, x->shape[d], 1, at->start, at->length};
    for (int i = 0; i < d; i++)
        n.outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        n.inner *= x->shape[i];
    if (n.start < 0)
        n.start += n.size;
    return n;
}

template <typename T> __global__ void narrow_forward_kernel(const T *x, T *y, narrow_geom n) {
    int64_t row = n.length * n.inner;
    LT_CUDA_LOOP(i, n.outer * row) {
        int64_t o = i / row, r = i % row;
        y[i] = x[(o * n.size + n.start) * n.inner + r];
    }
}

/* gin[i] = (or +=) gout's element for i inside the slice, 0 outside */
__global__ void narrow_backward_kernel(const float *g, float *gx, narrow_geom n, bool acc) {
    int64_t row = n.size * n.inner;
    LT_CUDA_LOOP(i, n.outer * row) {
        int64_t o = i / row, r = i % row, q = r / n.inner - n.start;
        bool in = q >= 0 && q < n.length;
        float v = in ? g[(o * n.length + q) * n.inner + r % n.inner] : 0.0f;
        if (!acc || in)
            lt_grad_put(gx, i, v, acc);
    }
}

template <typename T> enum lt_status narrow_launch(const lt_kargs *a, const narrow_geom &n) {
    int64_t total = n.outer * n.length * n.inner;
    if (total == 0)
        return LT_OK;
    narrow_forward_kernel<T><<<lt_cuda_blocks(total), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (T *)a->out[0]->data, n);
    return lt_cuda_check(a, "narrow");
}

enum lt_status lt_cuda_narrow_forward(const lt_kargs *a) {
    narrow_geom n = narrow_geom_of(a);
    switch (lt_dtype_bytes(a->in[0]->dtype)) {
    case 1:
        return narrow_launch<uint8_t>(a, n);
    case 2:
        return narrow_launch<uint16_t>(a, n);
    default:
        return narrow_launch<uint32_t>(a, n);
    }
}

enum lt_status lt_cuda_narrow_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    narrow_geom n = narrow_geom_of(a);
    int64_t total = n.outer * n.size * n.inner;
    if (total == 0)
        return LT_OK;
    narrow_backward_kernel<<<lt_cuda_blocks(total), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n, a->accumulate & 1u);
    return lt_cuda_check(a, "narrow (backward)");
}

} // namespace

void lt_cuda_register_shape(lt_backend *b) {
    for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
        /* integer tensors never need a gradient */
        bool grad = dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
        b->kernels[LT_OP_RESHAPE][dt] =
            lt_cuda_kernel(lt_cuda_reshape_forward, grad ? lt_cuda_reshape_backward : NULL);
        b->kernels[LT_OP_TRANSPOSE][dt] =
            lt_cuda_kernel(lt_cuda_transpose_forward, grad ? lt_cuda_transpose_backward : NULL);
        b->kernels[LT_OP_CONCAT][dt] =
            lt_cuda_kernel(lt_cuda_concat_forward, grad ? lt_cuda_concat_backward : NULL);
        b->kernels[LT_OP_PERMUTE][dt] =
            lt_cuda_kernel(lt_cuda_permute_forward, grad ? lt_cuda_permute_backward : NULL);
        b->kernels[LT_OP_NARROW][dt] =
            lt_cuda_kernel(lt_cuda_narrow_forward, grad ? lt_cuda_narrow_backward : NULL);
    }
}
