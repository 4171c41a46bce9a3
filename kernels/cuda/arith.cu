/* add, sub and mul with b broadcast over a's leading dims, scale, and cast, for f32, f16
 * and bf16 (cast also reads i32 and u8), as the CPU reference kernels
 * (kernels/cpu/arith.c) compute them. b has a's shape or a suffix of it, so element i of
 * a meets element i % m of b (m = numel(b)); the grid-stride loops carry that column
 * along instead of dividing per element. Values are computed in f32 and rounded once:
 * a single f32 sum, difference or product of two float-dtype values is correctly
 * rounded, as the reference's double is once stored, so the forwards match it bit for
 * bit (NaN payloads aside). b's gradient sums gout (times a, for mul) over the leading
 * repeats in double, without float atomics: each block sums a chunk of rows of a tile of
 * columns and the chunks' partials are added in a fixed order, so the result depends on
 * the shapes only.
 */
#include <type_traits>

#include "kernels/cuda/cuda_kernels.cuh"

/* Private to this file: other families' kernels may use the same names. */
namespace {

enum bin_op { BIN_ADD, BIN_SUB, BIN_MUL };

template <int OP> __device__ __forceinline__ float bin_apply(float x, float y) {
    return OP == BIN_ADD ? x + y : OP == BIN_SUB ? x - y : x * y;
}

/* z[i] = x[i] op y[i % m]; j follows i % m through the grid-stride steps. */
template <int OP, typename T>
__global__ void binary_forward_kernel(const T *x, const T *y, T *z, int64_t n, int64_t m) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)blockDim.x * gridDim.x;
    int64_t j = i % m, step = stride % m;
    for (; i < n; i += stride) {
        z[i] = lt_from_f<T>(bin_apply<OP>(lt_to_f(x[i]), lt_to_f(y[j])));
        j += step;
        if (j >= m)
            j -= m;
    }
}

template <int OP, typename T> enum lt_status lt_cuda_binary_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]), m = lt_numel(a->in[1]);
    if (n == 0)
        return LT_OK;
    binary_forward_kernel<OP, T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (const T *)a->in[1]->data, (T *)a->out[0]->data, n, m);
    return lt_cuda_check(a, "add/sub/mul");
}

/* gx = (or +=) g, the gradient of a passed through (add, sub, cast) */
__global__ void grad_copy_kernel(const float *g, float *gx, int64_t n, bool acc) {
    LT_CUDA_LOOP(i, n) lt_grad_put(gx, i, g[i], acc);
}

/* gx = (or +=) g * y[i % m], a's gradient for mul. The product is rounded on its own
 * (__fmul_rn), never fused with the accumulating add, as the reference stores it. */
template <typename T>
__global__ void grad_mul_kernel(const float *g, const T *y, float *gx, int64_t n, int64_t m,
                                bool acc) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    int64_t stride = (int64_t)blockDim.x * gridDim.x;
    int64_t j = i % m, step = stride % m;
    for (; i < n; i += stride) {
        lt_grad_put(gx, i, __fmul_rn(g[i], lt_to_f(y[j])), acc);
        j += step;
        if (j >= m)
            j -= m;
    }
}

/* ---- b's gradient: column sums of gout seen as (rows, m) ---------------------------------- */

#define COL_THREADS 256
#define COL_ELEMS 16384 /* elements a block sums at least, when there are that many */
#define COL_BLOCKS 1024 /* blocks a sum is spread over at most */

/* How the sums are split, from the shapes alone (the workspace query sees the same).
 * A block has `lanes` row lanes of `width` columns: for m <= 256 every column of b with
 * 256 / m rows side by side, so that a warp reads a contiguous stretch of gout; else
 * tiles of 256 columns. A chunk of rows goes to each block row (grid y). */
struct col_plan {
    int64_t m, rows;
    int width, lanes;
    int64_t tiles, chunks, rows_per_chunk;
};

col_plan col_plan_of(const lt_kargs *a) {
    col_plan p = {};
    p.m = lt_numel(a->in[1]);
    if (p.m == 0)
        return p;
    p.rows = lt_numel(a->in[0]) / p.m;
    p.width = p.m < COL_THREADS ? (int)p.m : COL_THREADS;
    p.lanes = COL_THREADS / p.width;
    p.tiles = (p.m + p.width - 1) / p.width;
    int64_t chunks = (p.rows * p.width + COL_ELEMS - 1) / COL_ELEMS;
    int64_t most = COL_BLOCKS / p.tiles > 1 ? COL_BLOCKS / p.tiles : 1;
    chunks = chunks < most ? chunks : most;
    chunks = chunks < 1 ? 1 : chunks;
    p.rows_per_chunk = (p.rows + chunks - 1) / chunks;
    p.chunks = p.rows_per_chunk ? (p.rows + p.rows_per_chunk - 1) / p.rows_per_chunk : 1;
    return p;
}

/* Bytes of the per-chunk partial sums (doubles), needed when there is more than one chunk. */
size_t col_workspace(const lt_kargs *a, int backward) {
    col_plan p = col_plan_of(a);
    return backward && p.chunks > 1 ? (size_t)(p.chunks * p.m) * sizeof(double) : 0;
}

/* One block: columns [blockIdx.x * width, + width) over the rows of chunk blockIdx.y,
 * summed in double (g times x when MUL), the lanes combined by a tree fixed by the
 * shapes. With one chunk the sum goes straight into gb (sign applied, rounded once),
 * else into part[chunk][column]. */
template <typename T, bool MUL>
__global__ void col_sums_kernel(const float *g, const T *x, col_plan p, double *part, float *gb,
                                double sign, bool acc) {
    __shared__ double sh[COL_THREADS];
    int t = threadIdx.x, lane = t / p.width, c = t - lane * p.width;
    int64_t col = (int64_t)blockIdx.x * p.width + c;
    int64_t r0 = (int64_t)blockIdx.y * p.rows_per_chunk;
    int64_t r1 = r0 + p.rows_per_chunk < p.rows ? r0 + p.rows_per_chunk : p.rows;
    double s = 0;
    if (lane < p.lanes && col < p.m)
        for (int64_t r = r0 + lane; r < r1; r += p.lanes) {
            int64_t k = r * p.m + col;
            s += MUL ? (double)g[k] * lt_to_f(x[k]) : (double)g[k];
        }
    sh[t] = s;
    /* halve the live lanes each round: lane l < q - h adds lane l + h */
    for (int q = p.lanes; q > 1;) {
        int h = (q + 1) / 2;
        __syncthreads();
        if (lane < q - h)
            sh[t] += sh[t + h * p.width];
        q = h;
    }
    __syncthreads();
    if (lane != 0 || col >= p.m)
        return;
    if (part)
        part[(int64_t)blockIdx.y * p.m + col] = sh[c];
    else
        lt_grad_put(gb, col, (float)(sign * sh[c]), acc);
}

/* gb[j] = (or +=) sign * the chunks' partials of column j, added in chunk order */
__global__ void col_finish_kernel(const double *part, float *gb, int64_t m, int64_t chunks,
                                  double sign, bool acc) {
    LT_CUDA_LOOP(j, m) {
        double s = 0;
        for (int64_t c = 0; c < chunks; c++)
            s += part[c * m + j];
        lt_grad_put(gb, j, (float)(sign * s), acc);
    }
}

/* gin[1] = (or +=) sign * the column sums of gout (times a when MUL) */
template <typename T, bool MUL> enum lt_status col_sums(const lt_kargs *a, double sign) {
    col_plan p = col_plan_of(a);
    if (p.m == 0)
        return LT_OK;
    size_t need = col_workspace(a, 1);
    if (a->workspace_size < need) {
        snprintf(a->msg, LT_KMSG_SIZE, "workspace smaller than planned");
        return LT_EINVAL;
    }
    cudaStream_t st = lt_cu(a)->stream;
    double *part = need ? (double *)a->workspace : NULL;
    float *gb = (float *)a->gin[1]->data;
    bool acc = (a->accumulate & 2u) != 0;
    col_sums_kernel<T, MUL><<<dim3((unsigned)p.tiles, (unsigned)p.chunks), COL_THREADS, 0, st>>>(
        (const float *)a->gout[0]->data, (const T *)a->in[0]->data, p, part, gb, sign, acc);
    if (part)
        col_finish_kernel<<<lt_cuda_blocks(p.m), LT_CUDA_THREADS, 0, st>>>(part, gb, p.m, p.chunks,
                                                                           sign, acc);
    return lt_cuda_check(a, "add/sub/mul (backward)");
}

/* add (sign +1), sub (-1): ga = g, gb = sign * sum of g; mul: ga = g * b, gb = sum of
 * g * a. b's gradient first, as the reference orders them. */
template <int OP, typename T> enum lt_status lt_cuda_binary_backward(const lt_kargs *a) {
    if (a->gin[1]) {
        enum lt_status s = col_sums<T, OP == BIN_MUL>(a, OP == BIN_SUB ? -1.0 : 1.0);
        if (s != LT_OK)
            return s;
    }
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->gout[0]), m = lt_numel(a->in[1]);
    if (n == 0)
        return LT_OK;
    const float *g = (const float *)a->gout[0]->data;
    float *gx = (float *)a->gin[0]->data;
    bool acc = (a->accumulate & 1u) != 0;
    cudaStream_t st = lt_cu(a)->stream;
    if constexpr (OP == BIN_MUL)
        grad_mul_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, st>>>(
            g, (const T *)a->in[1]->data, gx, n, m, acc);
    else
        grad_copy_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, st>>>(g, gx, n, acc);
    return lt_cuda_check(a, "add/sub/mul (backward)");
}

/* ---- scale ----------------------------------------------------------------------------------- */

/* alpha * x: the reference's double product of two f32 values is exact, so its value
 * is the correctly rounded f32 product, then rounded to the half type */
template <typename T>
__global__ void scale_forward_kernel(const T *x, T *y, int64_t n, float alpha) {
    LT_CUDA_LOOP(i, n) y[i] = lt_from_f<T>(__fmul_rn(alpha, lt_to_f(x[i])));
}

__global__ void scale_backward_kernel(const float *g, float *gx, int64_t n, float alpha, bool acc) {
    LT_CUDA_LOOP(i, n) lt_grad_put(gx, i, __fmul_rn(alpha, g[i]), acc);
}

template <typename T> enum lt_status lt_cuda_scale_forward(const lt_kargs *a) {
    const lt_scale_attrs *at = (const lt_scale_attrs *)a->attrs;
    int64_t n = lt_numel(a->in[0]);
    scale_forward_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (T *)a->out[0]->data, n, at->alpha);
    return lt_cuda_check(a, "scale");
}

enum lt_status lt_cuda_scale_backward(const lt_kargs *a) {
    const lt_scale_attrs *at = (const lt_scale_attrs *)a->attrs;
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->gout[0]);
    scale_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n, at->alpha,
        (a->accumulate & 1u) != 0);
    return lt_cuda_check(a, "scale (backward)");
}

/* ---- cast ------------------------------------------------------------------------------------ */

/* Every source value is exact in f32 except a large i32, which the reference rounds to
 * f32 on its way to a half type too (double, then float, then half): the same roundings. */
template <typename From, typename To>
__global__ void cast_forward_kernel(const From *x, To *y, int64_t n) {
    LT_CUDA_LOOP(i, n) y[i] = lt_from_f<To>(lt_to_f(x[i]));
}

template <typename From, typename To> enum lt_status cast_to(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]);
    cudaStream_t st = lt_cu(a)->stream;
    if constexpr (std::is_same<From, To>::value) {
        if (n)
            cudaMemcpyAsync(a->out[0]->data, a->in[0]->data, (size_t)n * sizeof(From),
                            cudaMemcpyDeviceToDevice, st);
    } else {
        cast_forward_kernel<From, To><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, st>>>(
            (const From *)a->in[0]->data, (To *)a->out[0]->data, n);
    }
    return lt_cuda_check(a, "cast");
}

/* The target is the output's dtype. Shape inference (core/ops/arith.c) lets only casts
 * into float dtypes through: between f32, f16 and bf16, and from i32 and u8 to f32. */
template <typename From> enum lt_status lt_cuda_cast_forward(const lt_kargs *a) {
    switch (a->out[0]->dtype) {
    case LT_DTYPE_F32:
        return cast_to<From, float>(a);
    case LT_DTYPE_F16:
        return cast_to<From, __half>(a);
    case LT_DTYPE_BF16:
        return cast_to<From, __nv_bfloat16>(a);
    default:
        snprintf(a->msg, LT_KMSG_SIZE, "no CUDA cast into an integer dtype");
        return LT_EUNSUPPORTED;
    }
}

/* Gradients are f32 on both sides of a cast: passed through. */
enum lt_status lt_cuda_cast_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int64_t n = lt_numel(a->gout[0]);
    grad_copy_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n, (a->accumulate & 1u) != 0);
    return lt_cuda_check(a, "cast (backward)");
}

/* ---- registration ---------------------------------------------------------------------------- */

template <int OP, enum lt_dtype D> void reg_binary(lt_backend *b, enum lt_op op) {
    typedef typename lt_ctype<D>::type T;
    lt_kernel k = lt_cuda_kernel(lt_cuda_binary_forward<OP, T>, lt_cuda_binary_backward<OP, T>);
    k.workspace = col_workspace;
    b->kernels[op][D] = k;
}

template <enum lt_dtype D> void reg_float(lt_backend *b) {
    typedef typename lt_ctype<D>::type T;
    reg_binary<BIN_ADD, D>(b, LT_OP_ADD);
    reg_binary<BIN_SUB, D>(b, LT_OP_SUB);
    reg_binary<BIN_MUL, D>(b, LT_OP_MUL);
    b->kernels[LT_OP_SCALE][D] = lt_cuda_kernel(lt_cuda_scale_forward<T>, lt_cuda_scale_backward);
    b->kernels[LT_OP_CAST][D] = lt_cuda_kernel(lt_cuda_cast_forward<T>, lt_cuda_cast_backward);
}

} // namespace

void lt_cuda_register_arith(lt_backend *b) {
    reg_float<LT_DTYPE_F32>(b);
    reg_float<LT_DTYPE_F16>(b);
    reg_float<LT_DTYPE_BF16>(b);
    /* integer inputs never need a gradient */
    b->kernels[LT_OP_CAST][LT_DTYPE_I32] = lt_cuda_kernel(lt_cuda_cast_forward<int32_t>, NULL);
    b->kernels[LT_OP_CAST][LT_DTYPE_U8] = lt_cuda_kernel(lt_cuda_cast_forward<uint8_t>, NULL);
}
