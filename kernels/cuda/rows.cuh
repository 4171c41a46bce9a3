/* Row-wise work for the CUDA kernels that reduce along rows (softmax, the losses,
 * layer norm): butterfly reductions over a warp's lane groups and over a block, and the
 * launch that gives each row the smallest lane group holding it in registers (a whole
 * block beyond 1024 columns). Every reduction adds in a fixed order: results depend on
 * the shapes alone. Internal to each file that includes it (an unnamed namespace). */
#ifndef LT_CUDA_ROWS_CUH
#define LT_CUDA_ROWS_CUH

#include "kernels/cuda/cuda_kernels.cuh"

namespace {

#define FULL_MASK 0xffffffffu
#define MAX_GRID (1 << 20)

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
 * cols == 0 and live false. */
template <int G, int V> struct row_part {
    int64_t cols;
    int lane;
    bool live;
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

/* The row's maximum m and the sum of exp(x - m) over it (in double), its values cached in
 * xs: the first two passes of softmax, log_softmax and cross entropy's backward. */
template <int G, int V>
__device__ __forceinline__ void row_max_sumexp(const row_part<G, V> &rp, const float *xr,
                                               row_cache<V> &xs, float &m, double &s) {
    m = -INFINITY;
    rp.each([&](int j, int64_t c) { m = fmaxf(m, xs.load(xr, j, c)); });
    m = rp.max(m);
    s = 0;
    rp.each([&](int j, int64_t c) { s += expf(xs.get(xr, j, c) - m); });
    s = rp.sum(s);
}

/* Runs op on every row with G-lane groups. A group past the last row gets row 0 with no
 * columns, so that its lanes join the shuffles and read nothing out of range. */
template <typename Op, int G, int V>
__global__ void __launch_bounds__(LT_CUDA_THREADS)
    group_rows_kernel(Op op, int64_t rows, int64_t cols) {
    const int64_t per_block = blockDim.x / G;
    for (int64_t r0 = blockIdx.x * per_block; r0 < rows; r0 += gridDim.x * per_block) {
        int64_t r = r0 + threadIdx.x / G;
        bool live = r < rows;
        op(row_part<G, V>{live ? cols : 0, (int)(threadIdx.x % G), live, nullptr}, live ? r : 0);
    }
}

/* Runs op on every row with one block per row (up to 1024 threads). */
template <typename Op>
__global__ void __launch_bounds__(1024) block_rows_kernel(Op op, int64_t rows, int64_t cols) {
    __shared__ double sh[32];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
        op(row_part<0, 0>{cols, (int)threadIdx.x, true, sh}, r);
}

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

/* Fails when the planner gave less workspace than the kernel's query asked for. */
enum lt_status want_workspace(const lt_kargs *a, size_t bytes, const char *what) {
    if (a->workspace_size >= bytes)
        return LT_OK;
    snprintf(a->msg, LT_KMSG_SIZE, "%s: workspace smaller than planned", what);
    return LT_EINVAL;
}

} // namespace

#endif
