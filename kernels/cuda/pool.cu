/* max_pool2d, avg_pool2d and global_avg_pool for f32, f16 and bf16, with the CPU
 * reference's semantics (kernels/cpu/pool.c): a max pooling window's maximum is its first
 * largest in-image element in row-major order, a NaN beating every number; padding is
 * -inf for max pooling and, for average pooling, counted in the divisor or not as
 * count_include_pad says. Values are computed in f32 (long sums in double) and rounded
 * once to a half output; gradients are f32.
 *
 * Forward passes take one thread per output (one block per plane for the global mean).
 * Backward passes gather, one thread per input element, summing over the windows that
 * contain it, so every gradient element is written once and in a fixed order: no atomics,
 * reproducible sums. Max pooling's forward writes each window's argmax code (the CPU's
 * rule, kernels/cpu/pool.h: the row-major position in the KH x KW window from its padded
 * corner; u8, or i32 for windows of more than 256 elements), and its backward reads the
 * codes, not x. Windows that tile the image without overlap (kernel == stride, no
 * padding: the usual 2x2 pooling) take one thread per window instead, which writes its
 * whole window.
 */
#include "kernels/cuda/cuda_kernels.cuh"

/* Sizes of one plane and of the windows. Within a plane coordinates fit in int (the
 * planes' count and offsets are int64). */
struct pool_geom {
    int h, w, oh, ow;
    int kh, kw, sh, sw, ph, pw;
    bool include_pad;
};

static pool_geom pool_geometry(const lt_kargs *a) {
    const lt_pool2d_attrs *at = (const lt_pool2d_attrs *)a->attrs;
    const lt_kview *x = a->in[0], *y = a->out[0];
    pool_geom g;
    g.h = (int)x->shape[2];
    g.w = (int)x->shape[3];
    g.oh = (int)y->shape[2];
    g.ow = (int)y->shape[3];
    g.kh = at->kernel[0];
    g.kw = at->kernel[1];
    g.sh = at->stride[0];
    g.sw = at->stride[1];
    g.ph = at->padding[0];
    g.pw = at->padding[1];
    g.include_pad = at->count_include_pad != 0;
    return g;
}

/* The in-image part [lo, hi) of window i along a dim of `size` elements. */
static __device__ __forceinline__ void window(int i, int k, int stride, int pad, int size, int &lo,
                                              int &hi) {
    int start = i * stride - pad;
    lo = max(start, 0);
    hi = min(start + k, size);
}

/* The windows [lo, hi) along a dim that contain input coordinate `at`: window i covers
 * padded coordinates [i * stride, i * stride + k). */
static __device__ __forceinline__ void windows_of(int at, int k, int stride, int pad, int out_size,
                                                  int &lo, int &hi) {
    int t = at + pad;
    lo = t < k ? 0 : (t - k) / stride + 1;
    hi = min(t / stride + 1, out_size);
}

/* Index in the plane x (h, w) of window (i, j)'s maximum: the first in row-major window
 * order, a NaN beating every number. Padding never wins: shape inference keeps every
 * window overlapping the image, so only in-image elements are compared. */
template <typename T>
static __device__ int window_argmax(const T *x, const pool_geom &g, int i, int j) {
    int h0, h1, w0, w1, best = -1;
    float bv = 0.0f;
    window(i, g.kh, g.sh, g.ph, g.h, h0, h1);
    window(j, g.kw, g.sw, g.pw, g.w, w0, w1);
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) {
            int at = ih * g.w + iw;
            float v = lt_to_f(x[at]);
            if (best < 0 || v > bv || (isnan(v) && !isnan(bv))) {
                best = at;
                bv = v;
            }
        }
    return best;
}

/* The code of plane index `at` in window (i, j), and back (kernels/cpu/pool.h). */
static __device__ __forceinline__ int code_of(const pool_geom &g, int i, int j, int at) {
    return (at / g.w - (i * g.sh - g.ph)) * g.kw + (at % g.w - (j * g.sw - g.pw));
}

static __device__ __forceinline__ int at_of(const pool_geom &g, int i, int j, int code) {
    return (i * g.sh - g.ph + code / g.kw) * g.w + (j * g.sw - g.pw + code % g.kw);
}

/* What window (i, j)'s sum is divided by: the kernel area when padding counts (no window
 * reaches past the padding in floor mode), else its in-image elements. */
static __device__ __forceinline__ float window_divisor(const pool_geom &g, int i, int j) {
    if (g.include_pad)
        return (float)(g.kh * g.kw);
    int h0, h1, w0, w1;
    window(i, g.kh, g.sh, g.ph, g.h, h0, h1);
    window(j, g.kw, g.sw, g.pw, g.w, w0, w1);
    return (float)((h1 - h0) * (w1 - w0));
}

/* ---- windowed pooling ------------------------------------------------------------------ */

/* y and the codes C (uint8_t or int32_t) */
template <typename T, typename C>
static __global__ void max_pool2d_forward_kernel(const T *x, T *y, C *code, int64_t n,
                                                 pool_geom g) {
    int64_t in_plane = (int64_t)g.h * g.w, out_plane = (int64_t)g.oh * g.ow;
    LT_CUDA_LOOP(e, n) {
        int64_t pl = e / out_plane;
        int r = (int)(e % out_plane), i = r / g.ow, j = r % g.ow;
        const T *xp = x + pl * in_plane;
        int best = window_argmax(xp, g, i, j);
        y[e] = xp[best]; /* exact: a copy */
        /* NULL: nothing reads the codes */
        if (code)
            code[e] = (C)code_of(g, i, j, best);
    }
}

/* gx (+)= the gradients of the windows whose code names this element */
template <typename C>
static __global__ void max_pool2d_backward_kernel(const C *code, const float *gy, float *gx,
                                                  int64_t n, pool_geom g, bool acc) {
    int64_t in_plane = (int64_t)g.h * g.w, out_plane = (int64_t)g.oh * g.ow;
    LT_CUDA_LOOP(e, n) {
        int64_t pl = e / in_plane;
        int r = (int)(e % in_plane), i0, i1, j0, j1;
        windows_of(r / g.w, g.kh, g.sh, g.ph, g.oh, i0, i1);
        windows_of(r % g.w, g.kw, g.sw, g.pw, g.ow, j0, j1);
        const C *cp = code + pl * out_plane;
        const float *gp = gy + pl * out_plane;
        float s = 0.0f;
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++)
                if (at_of(g, i, j, (int)cp[i * g.ow + j]) == r)
                    s += gp[i * g.ow + j];
        lt_grad_put(gx, e, s, acc);
    }
}

/* Non-overlapping windows: window e writes its own elements, the maximum's gradient and
 * zeros, so each gradient element is still written once. */
template <typename C>
static __global__ void max_pool2d_backward_tiled_kernel(const C *code, const float *gy, float *gx,
                                                        int64_t n, pool_geom g, bool acc) {
    int64_t in_plane = (int64_t)g.h * g.w, out_plane = (int64_t)g.oh * g.ow;
    LT_CUDA_LOOP(e, n) {
        int64_t pl = e / out_plane;
        int r = (int)(e % out_plane), i = r / g.ow, j = r % g.ow;
        float *gp = gx + pl * in_plane;
        int best = at_of(g, i, j, (int)code[e]);
        float v = gy[e];
        for (int ih = i * g.kh; ih < (i + 1) * g.kh; ih++)
            for (int iw = j * g.kw; iw < (j + 1) * g.kw; iw++) {
                int at = ih * g.w + iw;
                lt_grad_put(gp, at, at == best ? v : 0.0f, acc);
            }
    }
}

/* The elements no tiled window covers (the last rows or columns when the kernel does not
 * divide the size) get no gradient. */
static __global__ void uncovered_zero_kernel(float *gx, int64_t n, pool_geom g) {
    int64_t in_plane = (int64_t)g.h * g.w;
    LT_CUDA_LOOP(e, n) {
        int r = (int)(e % in_plane);
        if (r / g.w >= g.oh * g.kh || r % g.w >= g.ow * g.kw)
            gx[e] = 0.0f;
    }
}

template <typename T>
static __global__ void avg_pool2d_forward_kernel(const T *x, T *y, int64_t n, pool_geom g) {
    int64_t in_plane = (int64_t)g.h * g.w, out_plane = (int64_t)g.oh * g.ow;
    LT_CUDA_LOOP(e, n) {
        int64_t pl = e / out_plane;
        int r = (int)(e % out_plane), i = r / g.ow, j = r % g.ow, h0, h1, w0, w1;
        window(i, g.kh, g.sh, g.ph, g.h, h0, h1);
        window(j, g.kw, g.sw, g.pw, g.w, w0, w1);
        const T *xp = x + pl * in_plane;
        float s = 0.0f;
        for (int ih = h0; ih < h1; ih++)
            for (int iw = w0; iw < w1; iw++)
                s += lt_to_f(xp[ih * g.w + iw]);
        y[e] = lt_from_f<T>(s / window_divisor(g, i, j));
    }
}

/* gx (+)= the sum over the windows containing this element of their gradient divided as
 * the forward divided them. Reads no forward tensor. */
static __global__ void avg_pool2d_backward_kernel(const float *gy, float *gx, int64_t n,
                                                  pool_geom g, bool acc) {
    int64_t in_plane = (int64_t)g.h * g.w, out_plane = (int64_t)g.oh * g.ow;
    LT_CUDA_LOOP(e, n) {
        int64_t pl = e / in_plane;
        int r = (int)(e % in_plane), i0, i1, j0, j1;
        windows_of(r / g.w, g.kh, g.sh, g.ph, g.oh, i0, i1);
        windows_of(r % g.w, g.kw, g.sw, g.pw, g.ow, j0, j1);
        const float *gp = gy + pl * out_plane;
        float s = 0.0f;
        for (int i = i0; i < i1; i++)
            for (int j = j0; j < j1; j++)
                s += gp[i * g.ow + j] / window_divisor(g, i, j);
        lt_grad_put(gx, e, s, acc);
    }
}

template <typename T> static enum lt_status lt_cuda_max_pool2d_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->out[0]);
    pool_geom g = pool_geometry(a);
    const T *x = (const T *)a->in[0]->data;
    T *y = (T *)a->out[0]->data;
    cudaStream_t s = lt_cu(a)->stream;
    if (a->out[1]->dtype == LT_DTYPE_U8)
        max_pool2d_forward_kernel<T, uint8_t>
            <<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(x, y, (uint8_t *)a->out[1]->data, n, g);
    else
        max_pool2d_forward_kernel<T, int32_t>
            <<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(x, y, (int32_t *)a->out[1]->data, n, g);
    return lt_cuda_check(a, "max_pool2d");
}

/* The gradient through codes C (u8 or i32). */
template <typename C> static void max_pool2d_backward_launch(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]);
    pool_geom g = pool_geometry(a);
    bool acc = (a->accumulate & 1u) != 0;
    cudaStream_t s = lt_cu(a)->stream;
    const C *code = (const C *)a->out[1]->data;
    const float *gy = (const float *)a->gout[0]->data;
    float *gx = (float *)a->gin[0]->data;
    if (g.kh == g.sh && g.kw == g.sw && g.ph == 0 && g.pw == 0) {
        int64_t windows = lt_numel(a->out[0]);
        if (!acc && (g.h != g.oh * g.kh || g.w != g.ow * g.kw))
            uncovered_zero_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(gx, n, g);
        max_pool2d_backward_tiled_kernel<C>
            <<<lt_cuda_blocks(windows), LT_CUDA_THREADS, 0, s>>>(code, gy, gx, windows, g, acc);
    } else {
        max_pool2d_backward_kernel<C>
            <<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(code, gy, gx, n, g, acc);
    }
}

/* Reads the codes alone; the same for every dtype: the gradients are f32. */
static enum lt_status lt_cuda_max_pool2d_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    if (a->out[1]->dtype == LT_DTYPE_U8)
        max_pool2d_backward_launch<uint8_t>(a);
    else
        max_pool2d_backward_launch<int32_t>(a);
    return lt_cuda_check(a, "max_pool2d (backward)");
}

template <typename T> static enum lt_status lt_cuda_avg_pool2d_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->out[0]);
    avg_pool2d_forward_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (T *)a->out[0]->data, n, pool_geometry(a));
    return lt_cuda_check(a, "avg_pool2d");
}

/* The same for every dtype: the gradients are f32. */
static enum lt_status lt_cuda_avg_pool2d_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->in[0]);
    avg_pool2d_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n, pool_geometry(a),
        (a->accumulate & 1u) != 0);
    return lt_cuda_check(a, "avg_pool2d (backward)");
}

/* ---- global average pooling ------------------------------------------------------------ */

/* y[pl] = mean of plane pl (hw elements), one block per plane, summed in double */
template <typename T>
static __global__ void global_avg_pool_forward_kernel(const T *x, T *y, int64_t planes,
                                                      int64_t hw) {
    for (int64_t pl = blockIdx.x; pl < planes; pl += gridDim.x) {
        const T *xp = x + pl * hw;
        double s = 0.0;
        for (int64_t k = threadIdx.x; k < hw; k += blockDim.x)
            s += lt_to_f(xp[k]);
        s = lt_block_sum(s);
        if (threadIdx.x == 0)
            y[pl] = lt_from_f<T>((float)(s / (double)hw));
    }
}

static __global__ void global_avg_pool_backward_kernel(const float *gy, float *gx, int64_t n,
                                                       int64_t hw, bool acc) {
    LT_CUDA_LOOP(e, n) lt_grad_put(gx, e, gy[e / hw] / (float)hw, acc);
}

template <typename T> static enum lt_status lt_cuda_global_avg_pool_forward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    int64_t planes = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    if (planes == 0)
        return LT_OK;
    /* a block about as wide as the plane (small planes are the common case: 7x7) */
    int threads = hw >= LT_CUDA_THREADS ? LT_CUDA_THREADS : (int)(hw + 31) / 32 * 32;
    unsigned blocks = (unsigned)(planes < 65536 ? planes : 65536);
    global_avg_pool_forward_kernel<T><<<blocks, threads, 0, lt_cu(a)->stream>>>(
        (const T *)x->data, (T *)a->out[0]->data, planes, hw);
    return lt_cuda_check(a, "global_avg_pool");
}

/* Reads no forward tensor. */
static enum lt_status lt_cuda_global_avg_pool_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const lt_kview *x = a->in[0];
    int64_t n = lt_numel(x);
    global_avg_pool_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n, x->shape[2] * x->shape[3],
        (a->accumulate & 1u) != 0);
    return lt_cuda_check(a, "global_avg_pool (backward)");
}

template <typename T> static void reg(lt_backend *b, enum lt_dtype dt) {
    b->kernels[LT_OP_MAX_POOL2D][dt] =
        lt_cuda_kernel(lt_cuda_max_pool2d_forward<T>, lt_cuda_max_pool2d_backward);
    b->kernels[LT_OP_AVG_POOL2D][dt] =
        lt_cuda_kernel(lt_cuda_avg_pool2d_forward<T>, lt_cuda_avg_pool2d_backward);
    b->kernels[LT_OP_GLOBAL_AVG_POOL][dt] =
        lt_cuda_kernel(lt_cuda_global_avg_pool_forward<T>, lt_cuda_global_avg_pool_backward);
}

void lt_cuda_register_pool(lt_backend *b) {
    reg<float>(b, LT_DTYPE_F32);
    reg<__half>(b, LT_DTYPE_F16);
    reg<__nv_bfloat16>(b, LT_DTYPE_BF16);
}
