/* The eager-only reductions (sum, mean, max, argmax), eq, topk and multinomial, for
 * every dtype (multinomial: the float ones), as the reference: a reduction sees its input
 * as (outer, n, inner) and reduces the middle (n is every element when attrs.all), output
 * (o, j) at o * inner + j. Float sums and means run in double, integer sums in int64
 * (wrapping to i32 as the reference's do). An output is reduced by one block (a contiguous
 * row, or few outputs over a long dim: each thread folds a strided share, then a fixed
 * halving tree), or, for short dims and for many outputs over a strided dim, by one thread
 * walking the dim in order; either way the order is fixed by the shape. max and argmax
 * combine (value, index) pairs by a total order (NaN above everything, then the value,
 * then the smaller index), so any combining order finds the reference's element: the
 * first maximum, or the first NaN. topk and multinomial walk a row per thread in the
 * reference's order (generation asks for a few rows).
 */
#include <type_traits>

#include "kernels/cuda/cuda_kernels.cuh"

namespace {

#define MAX_GRID (1 << 20)
#define REDUCE_THREADS 1024

struct layout {
    int64_t outer, n, inner;
};

layout layout_of(const lt_kargs *a) {
    const lt_reduce_attrs *at = (const lt_reduce_attrs *)a->attrs;
    const lt_kview *x = a->in[0];
    if (at->all)
        return {1, lt_numel(x), 1};
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    layout l = {1, x->shape[d], 1};
    for (int i = 0; i < d; i++)
        l.outer *= x->shape[i];
    for (int i = d + 1; i < x->ndim; i++)
        l.inner *= x->shape[i];
    return l;
}

/* ---- how reductions see each dtype ------------------------------------------------------ */

/* The exact value as a double (sums, means). */
template <typename T> __device__ __forceinline__ double as_double(T x) {
    if constexpr (std::is_integral<T>::value)
        return (double)x;
    else
        return lt_to_f(x);
}

/* The comparison key of max and argmax: float for the float dtypes (exact), int for the
 * integer ones; key_back turns a key into the dtype again, exactly. */
template <typename T>
using cmp_key = typename std::conditional<std::is_integral<T>::value, int, float>::type;

template <typename T> __device__ __forceinline__ cmp_key<T> key_of(T x) {
    if constexpr (std::is_integral<T>::value)
        return (int)x;
    else
        return lt_to_f(x);
}

template <typename T> __device__ __forceinline__ T key_back(cmp_key<T> k) {
    if constexpr (std::is_integral<T>::value)
        return (T)k;
    else
        return lt_from_f<T>(k);
}

__device__ __forceinline__ bool is_nan(float v) {
    return v != v;
}
__device__ __forceinline__ bool is_nan(int) {
    return false;
}

/* ---- the reductions: an accumulator, its identity, one element, combine, the result ------- */

template <typename T> struct sum_float_op {
    typedef double acc;
    typedef float out;
    __device__ static acc zero() {
        return 0;
    }
    __device__ static acc one(T x, int64_t) {
        return as_double(x);
    }
    __device__ static acc join(acc a, acc b) {
        return a + b;
    }
    __device__ static out finish(acc a, int64_t) {
        return (float)a;
    }
};

/* Integer addition is exact in any order; the total wraps to i32 as the reference's does. */
template <typename T> struct sum_int_op {
    typedef long long acc;
    typedef int32_t out;
    __device__ static acc zero() {
        return 0;
    }
    __device__ static acc one(T x, int64_t) {
        return (long long)x;
    }
    __device__ static acc join(acc a, acc b) {
        return a + b;
    }
    __device__ static out finish(acc a, int64_t) {
        return (int32_t)a;
    }
};

template <typename T>
using sum_op =
    typename std::conditional<std::is_integral<T>::value, sum_int_op<T>, sum_float_op<T>>::type;

/* The float sum, divided. The mean of no elements is 0 / 0, NaN, as the reference's. */
template <typename T> struct mean_op : sum_float_op<T> {
    __device__ static float finish(double a, int64_t n) {
        return (float)(a / (double)n);
    }
};

/* An element's key and its index along the reduced dim; k < 0: no element yet. */
template <typename K> struct best {
    K v;
    int64_t k;
};

/* The greater of two elements in the total order NaN > everything, then by value, then the
 * smaller index (so the first maximum, or the first NaN, wins whatever the order). -0 and +0
 * compare equal, as in the reference. */
template <typename K> __device__ __forceinline__ best<K> better(best<K> a, best<K> b) {
    if (a.k < 0)
        return b;
    if (b.k < 0)
        return a;
    bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an != bn)
        return an ? a : b;
    if (!an && a.v != b.v)
        return a.v > b.v ? a : b;
    return a.k < b.k ? a : b;
}

/* The running best element (the largest, NaN first, the earliest of equals), which max
 * and argmax finish differently. */
template <typename T> struct best_op {
    typedef best<cmp_key<T>> acc;
    __device__ static acc zero() {
        return {cmp_key<T>(0), -1};
    }
    __device__ static acc one(T x, int64_t k) {
        return {key_of(x), k};
    }
    __device__ static acc join(acc a, acc b) {
        return better(a, b);
    }
};

template <typename T> struct max_op : best_op<T> {
    typedef T out;
    __device__ static out finish(typename best_op<T>::acc a, int64_t) {
        return key_back<T>(a.v);
    }
};

template <typename T> struct argmax_op : best_op<T> {
    typedef int32_t out;
    __device__ static out finish(typename best_op<T>::acc a, int64_t) {
        return (int32_t)a.k;
    }
};

/* ---- kernels ------------------------------------------------------------------------------ */

/* One block per output (a power of two of threads, at most REDUCE_THREADS): each thread
 * folds elements tid, tid + blockDim.x, ... in order, then a halving tree combines. */
template <typename Op, typename T>
__global__ void __launch_bounds__(REDUCE_THREADS)
    reduce_block_kernel(const T *x, typename Op::out *y, layout l) {
    __shared__ typename Op::acc sh[REDUCE_THREADS];
    int64_t outs = l.outer * l.inner;
    for (int64_t q = blockIdx.x; q < outs; q += gridDim.x) {
        int64_t o = q / l.inner, j = q - o * l.inner;
        const T *xq = x + o * l.n * l.inner + j;
        typename Op::acc a = Op::zero();
        for (int64_t k = threadIdx.x; k < l.n; k += blockDim.x)
            a = Op::join(a, Op::one(xq[k * l.inner], k));
        sh[threadIdx.x] = a;
        __syncthreads();
        for (unsigned s = blockDim.x / 2; s > 0; s /= 2) {
            if (threadIdx.x < s)
                sh[threadIdx.x] = Op::join(sh[threadIdx.x], sh[threadIdx.x + s]);
            __syncthreads();
        }
        if (threadIdx.x == 0)
            y[q] = Op::finish(sh[0], l.n);
        __syncthreads(); /* sh[0] is read before the next output overwrites it */
    }
}

/* One thread per output, folding the reduced dim in order. */
template <typename Op, typename T>
__global__ void reduce_thread_kernel(const T *x, typename Op::out *y, layout l) {
    LT_CUDA_LOOP(q, l.outer * l.inner) {
        int64_t o = q / l.inner, j = q - o * l.inner;
        const T *xq = x + o * l.n * l.inner + j;
        typename Op::acc a = Op::zero();
        for (int64_t k = 0; k < l.n; k++)
            a = Op::join(a, Op::one(xq[k * l.inner], k));
        y[q] = Op::finish(a, l.n);
    }
}

/* Threads per output: short dims (n <= 32) and many strided outputs go one per thread. */
template <typename Op, typename T> enum lt_status lt_cuda_reduce_forward(const lt_kargs *a) {
    layout l = layout_of(a);
    int64_t outs = l.outer * l.inner;
    if (outs == 0)
        return LT_OK;
    const T *x = (const T *)a->in[0]->data;
    typename Op::out *y = (typename Op::out *)a->out[0]->data;
    cudaStream_t st = lt_cu(a)->stream;
    if (l.n <= 32 || (l.inner > 1 && outs >= 4096)) {
        reduce_thread_kernel<Op, T><<<lt_cuda_blocks(outs), LT_CUDA_THREADS, 0, st>>>(x, y, l);
    } else {
        unsigned threads = 32;
        while (threads < REDUCE_THREADS && threads < l.n)
            threads *= 2;
        reduce_block_kernel<Op, T>
            <<<(unsigned)(outs < MAX_GRID ? outs : MAX_GRID), threads, 0, st>>>(x, y, l);
    }
    return lt_cuda_check(a, "reduction");
}

/* ---- eq --------------------------------------------------------------------------------- */

/* Floats compare by value (NaN equals nothing, -0 equals +0), integers exactly. */
template <typename T> __device__ __forceinline__ bool same(T a, T b) {
    if constexpr (std::is_integral<T>::value)
        return a == b;
    else
        return lt_to_f(a) == lt_to_f(b);
}

/* y[i] = x[i] == z[i % m]: z is a suffix of x's shape, repeated over the leading dims. The
 * index into z follows i without a division per element. */
template <typename T>
__global__ void eq_forward_kernel(const T *x, const T *z, uint8_t *y, int64_t n, int64_t m) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)blockDim.x * gridDim.x, j = i % m, step = stride % m;
    for (; i < n; i += stride) {
        y[i] = same(x[i], z[j]);
        j += step;
        if (j >= m)
            j -= m;
    }
}

template <typename T> enum lt_status lt_cuda_eq_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]), m = lt_numel(a->in[1]);
    if (n == 0)
        return LT_OK;
    eq_forward_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (const T *)a->in[1]->data, (uint8_t *)a->out[0]->data, n, m);
    return lt_cuda_check(a, "eq");
}

/* ---- topk and multinomial: one thread per row of the last dim ------------------------------- */

/* a ranks before b: larger, NaN counting as the largest */
__device__ __forceinline__ bool ranks_before(double a, double b) {
    return a > b || (isnan(a) && !isnan(b));
}

/* The reference's insertion, in the outputs: each row's k largest, largest first, equal
 * values in their order. */
template <typename T>
__global__ void topk_kernel(const T *x, T *vals, int32_t *idx, int64_t rows, int64_t n, int64_t k) {
    LT_CUDA_LOOP(r, rows) {
        int64_t have = 0, base = r * k;
        for (int64_t i = 0; i < n && k > 0; i++) {
            T v = x[r * n + i];
            if (have == k && !ranks_before(as_double(v), as_double(vals[base + k - 1])))
                continue;
            int64_t at = have < k ? have++ : k - 1;
            while (at > 0 && ranks_before(as_double(v), as_double(vals[base + at - 1]))) {
                vals[base + at] = vals[base + at - 1];
                idx[base + at] = idx[base + at - 1];
                at--;
            }
            vals[base + at] = v;
            idx[base + at] = (int32_t)i;
        }
    }
}

template <typename T> enum lt_status lt_cuda_topk_forward(const lt_kargs *a) {
    const lt_kview *x = a->in[0];
    int64_t n = x->shape[x->ndim - 1], k = ((const lt_topk_attrs *)a->attrs)->k;
    int64_t rows = 1;
    for (int i = 0; i < x->ndim - 1; i++)
        rows *= x->shape[i];
    if (rows == 0 || k == 0)
        return LT_OK;
    topk_kernel<T><<<lt_cuda_blocks(rows, 128), 128, 0, lt_cu(a)->stream>>>(
        (const T *)x->data, (T *)a->out[0]->data, (int32_t *)a->out[1]->data, rows, n, k);
    return lt_cuda_check(a, "topk");
}

/* The reference's draw (kernels/attrs.def): the row's sum, then the first position whose
 * running sum exceeds u times it, both in double in the row's order. */
template <typename T>
__global__ void multinomial_kernel(const T *p, int32_t *y, int64_t rows, int64_t n, uint64_t key,
                                   unsigned *flag) {
    LT_CUDA_LOOP(r, rows) {
        const T *row = p + r * n;
        double total = 0;
        bool bad = false;
        for (int64_t i = 0; i < n; i++) {
            double v = as_double(row[i]);
            bad |= !(v >= 0) || isinf(v);
            total += v;
        }
        if (bad || total == 0) {
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_PROBS);
            y[r] = 0;
            continue;
        }
        double target = (double)lt_rng_uniform(key, (uint64_t)r) * total, run = 0;
        int64_t pick = -1;
        for (int64_t i = 0; i < n && pick < 0; i++) {
            double v = as_double(row[i]);
            run += v;
            if (run > target && v > 0)
                pick = i;
        }
        for (int64_t i = n - 1; pick < 0; i--)
            if (as_double(row[i]) > 0)
                pick = i;
        y[r] = (int32_t)pick;
    }
}

template <typename T> enum lt_status lt_cuda_multinomial_forward(const lt_kargs *a) {
    const lt_multinomial_attrs *at = (const lt_multinomial_attrs *)a->attrs;
    const lt_kview *p = a->in[0];
    int64_t n = p->shape[p->ndim - 1], rows = lt_numel(p) / n;
    if (rows == 0)
        return LT_OK;
    uint64_t key = lt_rng_key(at->seed, LT_MULTINOMIAL_STREAM, at->step, 0);
    multinomial_kernel<T><<<lt_cuda_blocks(rows, 128), 128, 0, lt_cu(a)->stream>>>(
        (const T *)p->data, (int32_t *)a->out[0]->data, rows, n, key, lt_cu(a)->flag);
    return lt_cuda_check(a, "multinomial");
}

template <enum lt_dtype D> void reg(lt_backend *b) {
    typedef typename lt_ctype<D>::type T;
    b->kernels[LT_OP_SUM][D] = lt_cuda_kernel(lt_cuda_reduce_forward<sum_op<T>, T>, nullptr);
    b->kernels[LT_OP_MEAN][D] = lt_cuda_kernel(lt_cuda_reduce_forward<mean_op<T>, T>, nullptr);
    b->kernels[LT_OP_MAX][D] = lt_cuda_kernel(lt_cuda_reduce_forward<max_op<T>, T>, nullptr);
    b->kernels[LT_OP_ARGMAX][D] = lt_cuda_kernel(lt_cuda_reduce_forward<argmax_op<T>, T>, nullptr);
    b->kernels[LT_OP_EQ][D] = lt_cuda_kernel(lt_cuda_eq_forward<T>, nullptr);
    b->kernels[LT_OP_TOPK][D] = lt_cuda_kernel(lt_cuda_topk_forward<T>, nullptr);
    if constexpr (!std::is_integral<T>::value)
        b->kernels[LT_OP_MULTINOMIAL][D] = lt_cuda_kernel(lt_cuda_multinomial_forward<T>, nullptr);
}

} // namespace

void lt_cuda_register_reduce(lt_backend *b) {
    reg<LT_DTYPE_F32>(b);
    reg<LT_DTYPE_F16>(b);
    reg<LT_DTYPE_BF16>(b);
    reg<LT_DTYPE_I32>(b);
    reg<LT_DTYPE_U8>(b);
}
