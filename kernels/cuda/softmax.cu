/* softmax and log_softmax over the last dim, f32 only (the dtype the reference registers;
 * mixed precision runs these ops in f32). A row of up to 1024 values goes to a group of
 * G lanes of one warp that keep it in registers (V values each), so it is read from memory
 * once; a longer row goes to a whole block that reads it again for each pass (from cache).
 * Rows subtract their max before exponentiating, the sums run in double, and every
 * reduction has a fixed shape (butterfly shuffles, then the block's warps in order), so a
 * result never depends on timing. The backward kernels read only the forward output, which
 * is all the op table keeps alive for them.
 */
#include "kernels/cuda/cuda_kernels.cuh"

namespace {

#define FULL_MASK 0xffffffffu

/* The reductions' operations (commutative, as the butterfly needs). */
struct add_fn {
    template <typename T> __device__ T operator()(T a, T b) const {
        return a + b;
    }
};
struct max_fn {
    __device__ float operator()(float a, float b) const {
        return fmaxf(a, b);
    }
};

/* Reduces v over aligned groups of `width` lanes. A butterfly applies the commutative op to
 * the same pair of values on both sides, so every lane ends with the same bits. */
template <typename T, typename Op> __device__ __forceinline__ T warp_reduce(T v, Op op, int width) {
    for (int o = width / 2; o > 0; o /= 2)
        v = op(v, __shfl_xor_sync(FULL_MASK, v, o, width));
    return v;
}

/* Reduces v over the block (a multiple of 32 threads); every thread gets the result. sh
 * holds 32 values. */
template <typename T, typename Op> __device__ T block_reduce(T v, Op op, T *sh) {
    v = warp_reduce(v, op, 32);
    __syncthreads(); /* the previous reduction has read sh */
    if (threadIdx.x % 32 == 0)
        sh[threadIdx.x / 32] = v;
    __syncthreads();
    v = sh[0];
    for (unsigned w = 1; w < blockDim.x / 32; w++)
        v = op(v, sh[w]);
    return v;
}

/* What one thread handles of one row: with V > 0, columns lane + j * G (j < V) of a G-lane
 * group of a warp; with V == 0 (and G == 0), columns lane, lane + blockDim.x, ... of a block
 * that handles the row alone. Groups past the last row take part in the reductions with
 * cols == 0. */
template <int G, int V> struct row_part {
    int64_t cols;
    int lane;
    void *sh; /* 32 doubles of shared memory when V == 0 */

    /* Calls f(j, c) for each of the thread's columns c, j its register slot. */
    template <typename F> __device__ __forceinline__ void each(F f) const {
        if constexpr (V > 0) {
#pragma unroll
            for (int j = 0; j < V; j++)
                if (lane + j * G < cols)
                    f(j, (int64_t)(lane + j * G));
        } else {
            for (int64_t c = lane; c < cols; c += blockDim.x)
                f(0, c);
        }
    }
    template <typename T, typename Op> __device__ __forceinline__ T reduce(T v, Op op) const {
        if constexpr (V > 0)
            return warp_reduce(v, op, G);
        else
            return block_reduce(v, op, (T *)sh);
    }
    __device__ float max(float v) const {
        return reduce(v, max_fn());
    }
    __device__ double sum(double v) const {
        return reduce(v, add_fn());
    }
};

/* A row's values as one thread sees them: `load` reads column c into slot j, `get` gives it
 * again, from a register when V > 0, from memory (the cache) when V == 0. */
template <int V> struct row_cache {
    float v[V];
    __device__ __forceinline__ float load(const float *p, int j, int64_t c) {
        return v[j] = p[c];
    }
    __device__ __forceinline__ float get(const float *, int j, int64_t) const {
        return v[j];
    }
};
template <> struct row_cache<0> {
    __device__ __forceinline__ float load(const float *p, int, int64_t c) {
        return p[c];
    }
    __device__ __forceinline__ float get(const float *p, int, int64_t c) const {
        return p[c];
    }
};

/* Runs op on every row with G-lane groups. A group past the last row gets row 0 with no
 * columns, so that its lanes join the shuffles and read nothing out of range. */
template <typename Op, int G, int V>
__global__ void __launch_bounds__(LT_CUDA_THREADS)
    group_rows_kernel(Op op, int64_t rows, int64_t cols) {
    const int64_t per_block = blockDim.x / G;
    for (int64_t r0 = blockIdx.x * per_block; r0 < rows; r0 += gridDim.x * per_block) {
        int64_t r = r0 + threadIdx.x / G;
        bool live = r < rows;
        op(row_part<G, V>{live ? cols : 0, (int)(threadIdx.x % G), nullptr}, live ? r : 0);
    }
}

/* Runs op on every row with one block per row (up to 1024 threads). */
template <typename Op>
__global__ void __launch_bounds__(1024) block_rows_kernel(Op op, int64_t rows, int64_t cols) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
        op(row_part<0, 0>{cols, (int)threadIdx.x, sh}, r);
}

#define MAX_GRID (1 << 20)

template <typename Op, int G, int V>
void launch_groups(const Op &op, int64_t rows, int64_t cols, cudaStream_t st) {
    const int per_block = LT_CUDA_THREADS / G;
    int64_t blocks = (rows + per_block - 1) / per_block;
    unsigned grid = (unsigned)(blocks < MAX_GRID ? blocks : MAX_GRID);
    group_rows_kernel<Op, G, V><<<grid, LT_CUDA_THREADS, 0, st>>>(op, rows, cols);
}

/* The smallest group that holds a row in registers, or a block per row beyond 1024
 * columns (more threads for longer rows). rows, cols >= 1. */
template <typename Op> void launch_rows(const Op &op, int64_t rows, int64_t cols, cudaStream_t st) {
    if (cols <= 4)
        launch_groups<Op, 4, 1>(op, rows, cols, st);
    else if (cols <= 8)
        launch_groups<Op, 8, 1>(op, rows, cols, st);
    else if (cols <= 16)
        launch_groups<Op, 16, 1>(op, rows, cols, st);
    else if (cols <= 32)
        launch_groups<Op, 32, 1>(op, rows, cols, st);
    else if (cols <= 64)
        launch_groups<Op, 32, 2>(op, rows, cols, st);
    else if (cols <= 128)
        launch_groups<Op, 32, 4>(op, rows, cols, st);
    else if (cols <= 256)
        launch_groups<Op, 32, 8>(op, rows, cols, st);
    else if (cols <= 512)
        launch_groups<Op, 32, 16>(op, rows, cols, st);
    else if (cols <= 1024)
        launch_groups<Op, 32, 32>(op, rows, cols, st);
    else {
        int threads = 128;
        while (threads < 1024 && threads * 8 < cols)
            threads *= 2;
        unsigned grid = (unsigned)(rows < MAX_GRID ? rows : MAX_GRID);
        block_rows_kernel<Op><<<grid, threads, 0, st>>>(op, rows, cols);
    }
}

/* softmax: y = exp(x - max) / sum; log_softmax: y = x - (max + log(sum)). The exponentials
 * are float (each within a few ulp, all positive: no cancellation), their sum double. */
template <bool LOG> struct forward_rows {
    const float *x;
    float *y;
    int64_t cols;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        row_cache<V> xs;
        float m = -INFINITY;
        rp.each([&](int j, int64_t c) { m = fmaxf(m, xs.load(xr, j, c)); });
        m = rp.max(m);
        double s = 0;
        rp.each([&](int j, int64_t c) { s += expf(xs.get(xr, j, c) - m); });
        s = rp.sum(s);
        if constexpr (LOG) {
            double lse = (double)m + log(s);
            rp.each([&](int j, int64_t c) { yr[c] = (float)((double)xs.get(xr, j, c) - lse); });
        } else {
            double inv = 1.0 / s;
            rp.each([&](int j, int64_t c) { yr[c] = (float)(expf(xs.get(xr, j, c) - m) * inv); });
        }
    }
};

/* softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy). Both in
 * double as the reference: the difference cancels where the gradient is nearly consistent
 * with the output (a confident prediction), and exp(y) near 1 must not lose the few bits
 * that dx keeps there. */
template <bool LOG> struct backward_rows {
    const float *y, *dy;
    float *dx;
    int64_t cols;
    bool acc;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        row_cache<V> ys, gs;
        double s = 0;
        rp.each([&](int j, int64_t c) {
            double g = gs.load(gr, j, c);
            s += LOG ? g : g * ys.load(yr, j, c);
        });
        s = rp.sum(s);
        rp.each([&](int j, int64_t c) {
            double g = gs.get(gr, j, c), d;
            if constexpr (LOG)
                d = g - exp((double)yr[c]) * s;
            else
                d = (double)ys.get(yr, j, c) * (g - s);
            lt_grad_put(dr, c, (float)d, acc);
        });
    }
};

/* A tensor seen as (rows, cols) with cols its last dim. */
void as_rows(const lt_kview *v, int64_t *rows, int64_t *cols) {
    *cols = v->shape[v->ndim - 1];
    *rows = *cols ? lt_numel(v) / *cols : 0;
}

template <bool LOG> enum lt_status softmax_forward(const lt_kargs *a) {
    int64_t rows, cols;
    as_rows(a->in[0], &rows, &cols);
    if (rows == 0 || cols == 0)
        return LT_OK;
    forward_rows<LOG> op = {(const float *)a->in[0]->data, (float *)a->out[0]->data, cols};
    launch_rows(op, rows, cols, lt_cu(a)->stream);
    return lt_cuda_check(a, LOG ? "log_softmax" : "softmax");
}

template <bool LOG> enum lt_status softmax_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int64_t rows, cols;
    as_rows(a->out[0], &rows, &cols);
    if (rows == 0 || cols == 0)
        return LT_OK;
    backward_rows<LOG> op = {(const float *)a->out[0]->data, (const float *)a->gout[0]->data,
                             (float *)a->gin[0]->data, cols, (a->accumulate & 1u) != 0};
    launch_rows(op, rows, cols, lt_cu(a)->stream);
    return lt_cuda_check(a, LOG ? "log_softmax (backward)" : "softmax (backward)");
}

} // namespace

void lt_cuda_register_softmax(lt_backend *b) {
    b->kernels[LT_OP_SOFTMAX][LT_DTYPE_F32] =
        lt_cuda_kernel(softmax_forward<false>, softmax_backward<false>);
    b->kernels[LT_OP_LOG_SOFTMAX][LT_DTYPE_F32] =
        lt_cuda_kernel(softmax_forward<true>, softmax_backward<true>);
}
