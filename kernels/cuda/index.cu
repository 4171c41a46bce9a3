/* The index family for every dtype, as the CPU reference kernels (kernels/cpu/index.c):
 * index_select and gather, masked_fill, triu and tril. One thread per output (or
 * gradient) element. The CPU checks every id before it touches memory and fails naming
 * the first bad one; a kernel cannot fail, so an id outside the dim is skipped (its
 * output element is left as it was) and raises the device's bad-data flag, which the next
 * sync reports (LT_EINVAL). The scatter-adds of index_select's and gather's backward meet
 * in float atomics: the order in which repeated ids add up is not fixed, so their last
 * bits may differ from run to run and from the CPU's in-order sum.
 */
#include <cstring>

#include "kernels/cuda/cuda_kernels.cuh"

/* Private to this file: other families' kernels may use the same names. */
namespace {

/* x seen as (outer, size, inner) around dim. */
struct around {
    int64_t outer, size, inner;
};

int index_dim(const lt_kargs *a) {
    int dim = ((const lt_index_attrs *)a->attrs)->dim;
    return dim < 0 ? dim + a->in[0]->ndim : dim;
}

around around_of(const lt_kview *x, int d) {
    around r = {1, x->shape[d], 1};
    for (int i = 0; i < d; i++)
        r.outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        r.inner *= x->shape[i];
    return r;
}

/* ---- index_select ------------------------------------------------------------------------ */

template <typename T>
__global__ void index_select_forward_kernel(const T *x, const int32_t *ids, T *y, around r,
                                            int64_t n, unsigned *flag) {
    LT_CUDA_LOOP(i, r.outer * n * r.inner) {
        int64_t e = i % r.inner, j = i / r.inner % n, o = i / (r.inner * n);
        int32_t id = ids[j];
        if (id >= 0 && id < r.size)
            y[i] = x[(o * r.size + id) * r.inner + e];
        else
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_IDS);
    }
}

__global__ void index_select_backward_kernel(const float *g, const int32_t *ids, float *gx,
                                             around r, int64_t n, unsigned *flag) {
    LT_CUDA_LOOP(i, r.outer * n * r.inner) {
        int64_t e = i % r.inner, j = i / r.inner % n, o = i / (r.inner * n);
        int32_t id = ids[j];
        if (id >= 0 && id < r.size)
            atomicAdd(gx + (o * r.size + id) * r.inner + e, g[i]);
        else
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_IDS);
    }
}

template <typename T> enum lt_status index_select_launch(const lt_kargs *a) {
    const lt_kview *x = a->in[0], *ids = a->in[1];
    around r = around_of(x, index_dim(a));
    int64_t n = ids->shape[0], total = r.outer * n * r.inner;
    if (total == 0)
        return LT_OK;
    index_select_forward_kernel<T><<<lt_cuda_blocks(total), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)x->data, (const int32_t *)ids->data, (T *)a->out[0]->data, r, n, lt_cu(a)->flag);
    return lt_cuda_check(a, "index_select");
}

/* ---- gather ------------------------------------------------------------------------------ */

/* The shapes gather walks: ids' (the output's) and x's strides. */
struct gather_geom {
    int nd, dim;
    int64_t shape[LT_MAX_DIMS], xstride[LT_MAX_DIMS], size;
};

gather_geom gather_geom_of(const lt_kargs *a) {
    const lt_kview *x = a->in[0], *ids = a->in[1];
    gather_geom g;
    g.nd = ids->ndim;
    g.dim = index_dim(a);
    g.size = x->shape[g.dim];
    int64_t s = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        g.shape[k] = ids->shape[k];
        g.xstride[k] = s;
        s *= x->shape[k];
    }
    return g;
}

/* x's flat position that ids' position p reads, or -1 for a bad id */
__device__ int64_t gather_source(const gather_geom &g, int64_t p, int32_t id) {
    if (id < 0 || id >= g.size)
        return -1;
    int64_t from = 0;
    for (int k = g.nd - 1; k >= 0; k--) {
        int64_t c = p % g.shape[k];
        p /= g.shape[k];
        from += (k == g.dim ? id : c) * g.xstride[k];
    }
    return from;
}

template <typename T>
__global__ void gather_forward_kernel(const T *x, const int32_t *ids, T *y, gather_geom g,
                                      int64_t n, unsigned *flag) {
    LT_CUDA_LOOP(p, n) {
        int64_t from = gather_source(g, p, ids[p]);
        if (from >= 0)
            y[p] = x[from];
        else
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_IDS);
    }
}

__global__ void gather_backward_kernel(const float *g, const int32_t *ids, float *gx,
                                       gather_geom geom, int64_t n, unsigned *flag) {
    LT_CUDA_LOOP(p, n) {
        int64_t from = gather_source(geom, p, ids[p]);
        if (from >= 0)
            atomicAdd(gx + from, g[p]);
        else
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_IDS);
    }
}

template <typename T> enum lt_status gather_launch(const lt_kargs *a) {
    const lt_kview *ids = a->in[1];
    int64_t n = lt_numel(ids);
    if (n == 0)
        return LT_OK;
    gather_forward_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (const int32_t *)ids->data, (T *)a->out[0]->data,
        gather_geom_of(a), n, lt_cu(a)->flag);
    return lt_cuda_check(a, "gather");
}

/* The backward of index_select and gather: gin zeroed unless accumulating, then the
 * scatter-add. */
enum lt_status scatter_backward(const lt_kargs *a, bool select) {
    if (!a->gin[0])
        return LT_OK;
    const lt_kview *ids = a->in[1];
    float *gx = (float *)a->gin[0]->data;
    const char *what = select ? "index_select (backward)" : "gather (backward)";
    lt_cuda *c = lt_cu(a);
    if (!(a->accumulate & 1u) && lt_numel(a->in[0]) &&
        cudaMemsetAsync(gx, 0, (size_t)lt_numel(a->in[0]) * sizeof(float), c->stream) !=
            cudaSuccess)
        return lt_cuda_check(a, what);
    int64_t n = lt_numel(a->gout[0]);
    if (n == 0)
        return lt_cuda_check(a, what);
    const float *g = (const float *)a->gout[0]->data;
    if (select)
        index_select_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, c->stream>>>(
            g, (const int32_t *)ids->data, gx, around_of(a->in[0], index_dim(a)), ids->shape[0],
            c->flag);
    else
        gather_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, c->stream>>>(
            g, (const int32_t *)ids->data, gx, gather_geom_of(a), n, c->flag);
    return lt_cuda_check(a, what);
}

enum lt_status lt_cuda_index_select_backward(const lt_kargs *a) {
    return scatter_backward(a, true);
}

enum lt_status lt_cuda_gather_backward(const lt_kargs *a) {
    return scatter_backward(a, false);
}

/* ---- masked_fill ------------------------------------------------------------------------- */

/* x's shape and the u8 mask's strides along x's dims (0 where it repeats). */
struct mask_geom {
    int nd;
    int64_t shape[LT_MAX_DIMS], mstride[LT_MAX_DIMS];
};

mask_geom mask_geom_of(const lt_kargs *a) {
    const lt_kview *x = a->in[0], *mask = a->in[1];
    mask_geom g;
    g.nd = x->ndim;
    int lead = x->ndim - mask->ndim;
    int64_t s = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        int64_t m = k >= lead ? mask->shape[k - lead] : 1;
        g.shape[k] = x->shape[k];
        g.mstride[k] = m == 1 ? 0 : s;
        s *= m;
    }
    return g;
}

__device__ bool masked(const mask_geom &g, const uint8_t *mask, int64_t i) {
    int64_t m = 0;
    for (int k = g.nd - 1; k >= 0; k--) {
        m += i % g.shape[k] * g.mstride[k];
        i /= g.shape[k];
    }
    return mask[m] != 0;
}

template <typename T>
__global__ void masked_fill_forward_kernel(const T *x, const uint8_t *mask, T *y, mask_geom g,
                                           T value, int64_t n) {
    LT_CUDA_LOOP(i, n) y[i] = masked(g, mask, i) ? value : x[i];
}

__global__ void masked_fill_backward_kernel(const float *g, const uint8_t *mask, float *gx,
                                            mask_geom geom, int64_t n, bool acc) {
    LT_CUDA_LOOP(i, n) lt_grad_put(gx, i, masked(geom, mask, i) ? 0.0f : g[i], acc);
}

/* x's elements move as integers of their size (S: uint32_t for f32, uint16_t for the
 * halves), and the value is stored as bits rounded once to x's dtype, as the reference
 * stores it. */
enum lt_status lt_cuda_masked_fill_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]);
    if (n == 0)
        return LT_OK;
    float value = ((const lt_masked_fill_attrs *)a->attrs)->value;
    const uint8_t *mask = (const uint8_t *)a->in[1]->data;
    mask_geom g = mask_geom_of(a);
    cudaStream_t s = lt_cu(a)->stream;
    enum lt_dtype dt = a->in[0]->dtype;
    if (dt == LT_DTYPE_F32) {
        uint32_t bits;
        memcpy(&bits, &value, sizeof bits);
        masked_fill_forward_kernel<uint32_t><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(
            (const uint32_t *)a->in[0]->data, mask, (uint32_t *)a->out[0]->data, g, bits, n);
    } else {
        uint16_t bits = dt == LT_DTYPE_F16 ? lt_f32_to_f16(value) : lt_f32_to_bf16(value);
        masked_fill_forward_kernel<uint16_t><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(
            (const uint16_t *)a->in[0]->data, mask, (uint16_t *)a->out[0]->data, g, bits, n);
    }
    return lt_cuda_check(a, "masked_fill");
}

enum lt_status lt_cuda_masked_fill_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->in[0]);
    if (n == 0)
        return LT_OK;
    masked_fill_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (const uint8_t *)a->in[1]->data, (float *)a->gin[0]->data,
        mask_geom_of(a), n, a->accumulate & 1u);
    return lt_cuda_check(a, "masked_fill (backward)");
}

/* ---- triu / tril ------------------------------------------------------------------------- */

__device__ __forceinline__ bool tri_keeps(bool upper, int d, int64_t i, int64_t j) {
    return upper ? j - i >= d : j - i <= d;
}

/* dst = src where kept, 0 elsewhere (ACC: dst += src where kept, the f32 gradient) */
template <typename T, bool ACC>
__global__ void tri_kernel(const T *src, T *dst, int64_t n, int64_t R, int64_t C, bool upper,
                           int d) {
    LT_CUDA_LOOP(k, n) {
        int64_t j = k % C, i = k / C % R;
        bool keep = tri_keeps(upper, d, i, j);
        if constexpr (ACC) {
            if (keep)
                dst[k] += src[k];
        } else {
            dst[k] = keep ? src[k] : T(0);
        }
    }
}

template <typename T, bool ACC>
enum lt_status tri_launch(const lt_kargs *a, const void *src, void *dst, bool upper,
                          const char *what) {
    const lt_kview *x = a->in[0];
    int64_t n = lt_numel(x), R = x->shape[x->ndim - 2], C = x->shape[x->ndim - 1];
    if (n == 0)
        return LT_OK;
    int d = ((const lt_tri_attrs *)a->attrs)->diagonal;
    tri_kernel<T, ACC><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)src, (T *)dst, n, R, C, upper, d);
    return lt_cuda_check(a, what);
}

/* the forward moves elements as integers of their size: all-zero bits are 0 in every dtype */
enum lt_status tri_forward(const lt_kargs *a, bool upper) {
    const void *x = a->in[0]->data;
    void *y = a->out[0]->data;
    const char *what = upper ? "triu" : "tril";
    switch (lt_dtype_bytes(a->in[0]->dtype)) {
    case 1:
        return tri_launch<uint8_t, false>(a, x, y, upper, what);
    case 2:
        return tri_launch<uint16_t, false>(a, x, y, upper, what);
    default:
        return tri_launch<uint32_t, false>(a, x, y, upper, what);
    }
}

enum lt_status tri_backward(const lt_kargs *a, bool upper) {
    if (!a->gin[0])
        return LT_OK;
    const void *g = a->gout[0]->data;
    void *gx = a->gin[0]->data;
    const char *what = upper ? "triu (backward)" : "tril (backward)";
    if (a->accumulate & 1u)
        return tri_launch<float, true>(a, g, gx, upper, what);
    return tri_launch<float, false>(a, g, gx, upper, what);
}

enum lt_status lt_cuda_triu_forward(const lt_kargs *a) {
    return tri_forward(a, true);
}
enum lt_status lt_cuda_tril_forward(const lt_kargs *a) {
    return tri_forward(a, false);
}
enum lt_status lt_cuda_triu_backward(const lt_kargs *a) {
    return tri_backward(a, true);
}
enum lt_status lt_cuda_tril_backward(const lt_kargs *a) {
    return tri_backward(a, false);
}

/* The forwards of index_select and gather by element size. */
enum lt_status lt_cuda_index_select_forward(const lt_kargs *a) {
    switch (lt_dtype_bytes(a->in[0]->dtype)) {
    case 1:
        return index_select_launch<uint8_t>(a);
    case 2:
        return index_select_launch<uint16_t>(a);
    default:
        return index_select_launch<uint32_t>(a);
    }
}

enum lt_status lt_cuda_gather_forward(const lt_kargs *a) {
    switch (lt_dtype_bytes(a->in[0]->dtype)) {
    case 1:
        return gather_launch<uint8_t>(a);
    case 2:
        return gather_launch<uint16_t>(a);
    default:
        return gather_launch<uint32_t>(a);
    }
}

} // namespace

void lt_cuda_register_index(lt_backend *b) {
    for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
        /* integer tensors never need a gradient */
        bool grad = dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
        b->kernels[LT_OP_INDEX_SELECT][dt] = lt_cuda_kernel(
            lt_cuda_index_select_forward, grad ? lt_cuda_index_select_backward : NULL);
        b->kernels[LT_OP_GATHER][dt] =
            lt_cuda_kernel(lt_cuda_gather_forward, grad ? lt_cuda_gather_backward : NULL);
        b->kernels[LT_OP_TRIU][dt] =
            lt_cuda_kernel(lt_cuda_triu_forward, grad ? lt_cuda_triu_backward : NULL);
        b->kernels[LT_OP_TRIL][dt] =
            lt_cuda_kernel(lt_cuda_tril_forward, grad ? lt_cuda_tril_backward : NULL);
    }
    for (int dt = LT_DTYPE_F32; dt <= LT_DTYPE_BF16; dt++)
        b->kernels[LT_OP_MASKED_FILL][dt] =
            lt_cuda_kernel(lt_cuda_masked_fill_forward, lt_cuda_masked_fill_backward);
}
