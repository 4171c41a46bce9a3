/* matmul and linear for f32, f16 and bf16 on cuBLAS. The tensors are row-major and
 * cuBLAS is column-major, so every product C = op(A) op(B) runs as Cᵀ = op(B)ᵀ op(A)ᵀ:
 * a row-major buffer read as column-major is its own transpose, so the operands swap
 * and no data moves. f32 runs in true fp32 unless TF32 was on when the node was prepared;
 * f16 and bf16 accumulate in f32 and round each output once. Gradients are f32: the
 * backward converts gout to the input's half dtype (in the workspace) and runs half
 * GEMMs that write f32, with beta 1 to accumulate. The 64-bit cuBLAS entry points take
 * any size. The bias is added by cuBLAS itself (y starts as the broadcast bias, beta 1),
 * so a half output is still rounded once; the bias gradient is a deterministic two-stage
 * column sum in double, as the reference sums. cuBLAS gets its workspace from the
 * planned one, so it never allocates. matmul's broadcast batch dims (kernels/matmul_batch.h)
 * run as strided-batched GEMMs along one dim of the batch (stride 0 for an operand
 * repeated along it), one call per index of the other dims; the gradient of a repeated
 * operand is summed by calls that add (beta 1) one after another on the stream.
 */
#include <cstdlib>
#include <type_traits>

#include "kernels/cuda/cuda_kernels.cuh"
#include "kernels/matmul_batch.h"

template <typename T> struct blas_dtype;
template <> struct blas_dtype<float> { static constexpr cudaDataType value = CUDA_R_32F; };
template <> struct blas_dtype<__half> { static constexpr cudaDataType value = CUDA_R_16F; };
template <> struct blas_dtype<__nv_bfloat16> {
    static constexpr cudaDataType value = CUDA_R_16BF;
};

/* ---- what prepare decides ---------------------------------------------------------- */

/* An f32 node's compute type, fixed when it is prepared: set_tf32 applies to kernels
 * prepared afterwards. Half nodes always accumulate in fp32 and need no state. */
struct f32_state {
    cublasComputeType_t compute;
};

static enum lt_status f32_prepare(const lt_kargs *a, int backward, void **state) {
    (void)backward;
    f32_state *s = (f32_state *)malloc(sizeof *s);
    if (!s) {
        if (a->msg)
            snprintf(a->msg, LT_KMSG_SIZE, "out of memory");
        return LT_ENOMEM;
    }
    s->compute = lt_cu(a)->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    *state = s;
    return LT_OK;
}

static void f32_release(void *state) {
    free(state);
}

template <typename T> static cublasComputeType_t compute_type(const lt_kargs *a) {
    if (!std::is_same<T, float>::value)
        return CUBLAS_COMPUTE_32F;
    if (a->state)
        return ((const f32_state *)a->state)->compute;
    /* a call that skipped prepare follows the setting of the moment */
    return lt_cu(a)->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

/* ---- workspace ------------------------------------------------------------------------ */

#define WS_ALIGN 256 /* cuBLAS rejects a workspace aligned to less */

static size_t ws_round(size_t n) {
    return (n + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
}

/* cuBLAS's own default workspace: 32 MiB on Hopper and later (its fastest kernels want
 * it), 4 MiB before. The planner keeps one workspace for all nodes, so it is paid once. */
static size_t blas_bytes(const lt_kargs *a) {
    return (size_t)(lt_cu(a)->prop.major >= 9 ? 32 : 4) << 20;
}

/* The workspace's parts: the half copy of gout, the bias gradient's partial sums and
 * cuBLAS's, each 256-byte aligned above a base aligned up from the planner's 64 bytes
 * (hence the extra WS_ALIGN). */
struct ws_parts {
    void *g;
    double *part;
    void *blas;
};

/* Bytes for parts of g_bytes and part_bytes (and cuBLAS's); fills *w from a->workspace
 * when w is given. */
static size_t ws_layout(const lt_kargs *a, size_t g_bytes, size_t part_bytes, ws_parts *w) {
    g_bytes = ws_round(g_bytes);
    part_bytes = ws_round(part_bytes);
    if (w) {
        uintptr_t base = ((uintptr_t)a->workspace + WS_ALIGN - 1) / WS_ALIGN * WS_ALIGN;
        w->g = (void *)base;
        w->part = (double *)(base + g_bytes);
        w->blas = (void *)(base + g_bytes + part_bytes);
    }
    return WS_ALIGN + g_bytes + part_bytes + blas_bytes(a);
}

/* Checks the workspace against the plan, lays it out and hands cuBLAS its part. */
static enum lt_status ws_take(const lt_kargs *a, size_t g_bytes, size_t part_bytes,
                              ws_parts *w, const char *what) {
    if (!a->workspace || a->workspace_size < ws_layout(a, g_bytes, part_bytes, NULL)) {
        snprintf(a->msg, LT_KMSG_SIZE, "%s: workspace smaller than planned", what);
        return LT_EINVAL;
    }
    ws_layout(a, g_bytes, part_bytes, w);
    return lt_cublas_check(a, cublasSetWorkspace(lt_cu(a)->blas, w->blas, blas_bytes(a)), what);
}

/* ---- the GEMM -------------------------------------------------------------------------- */

/* One row-major operand: data, leading dim (row length as stored), stride between batch
 * entries (0 when shared), and whether the product reads it transposed. */
struct mat {
    const void *p;
    int64_t ld;
    long long stride;
    bool t;
};

/* C (m x n, row-major, rows of n, entries cs apart) = beta C + op(A) op(B) over `batch`
 * entries, op(A) m x k and op(B) k x n; A and B of type ab, C of type c. An empty k
 * gives beta C (0 or C itself) without cuBLAS, whose k == 0 handling is not ours to rely
 * on. */
static enum lt_status gemm_strided(const lt_kargs *a, int64_t m, int64_t n, int64_t k, mat A, mat B,
                                   cudaDataType ab, void *C, long long cs, cudaDataType c,
                                   float beta, int64_t batch, cublasComputeType_t compute,
                                   const char *what) {
    if (m == 0 || n == 0 || batch == 0)
        return LT_OK;
    if (k == 0) {
        if (beta != 0.0f)
            return LT_OK;
        size_t es = c == CUDA_R_32F ? 4 : 2;
        for (int64_t i = 0; i < batch; i++)
            if (cudaMemsetAsync((char *)C + (size_t)(i * cs) * es, 0, (size_t)(m * n) * es,
                                lt_cu(a)->stream) != cudaSuccess)
                return lt_cuda_check(a, what);
        return LT_OK;
    }
    const float one = 1.0f;
    cublasOperation_t opa = A.t ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opb = B.t ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasStatus_t st;
    if (batch == 1)
        st = cublasGemmEx_64(lt_cu(a)->blas, opb, opa, n, m, k, &one, B.p, ab, B.ld, A.p, ab,
                             A.ld, &beta, C, c, n, compute, CUBLAS_GEMM_DEFAULT);
    else
        st = cublasGemmStridedBatchedEx_64(lt_cu(a)->blas, opb, opa, n, m, k, &one, B.p, ab, B.ld,
                                           B.stride, A.p, ab, A.ld, A.stride, &beta, C, c, n, cs,
                                           batch, compute, CUBLAS_GEMM_DEFAULT);
    return lt_cublas_check(a, st, what);
}

/* gemm_strided with the entries of C packed, m * n apart. */
static enum lt_status gemm(const lt_kargs *a, int64_t m, int64_t n, int64_t k, mat A, mat B,
                           cudaDataType ab, void *C, cudaDataType c, float beta, int64_t batch,
                           cublasComputeType_t compute, const char *what) {
    return gemm_strided(a, m, n, k, A, B, ab, C, (long long)(m * n), c, beta, batch, compute, what);
}

/* ---- small kernels ------------------------------------------------------------------- */

template <typename T> __global__ void to_half_kernel(const float *g, T *h, int64_t n) {
    LT_CUDA_LOOP(i, n) h[i] = lt_from_f<T>(g[i]);
}

/* gout (f32) as the half dtype T in the workspace, for the half GEMMs of the backward. */
template <typename T> static const void *gout_as(const lt_kargs *a, const ws_parts &w) {
    const lt_kview *g = a->gout[0];
    if (std::is_same<T, float>::value)
        return g->data;
    int64_t n = lt_numel(g);
    to_half_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)g->data, (T *)w.g, n);
    return w.g;
}

template <typename T> static size_t gout_half_bytes(const lt_kargs *a, int backward) {
    return backward && !std::is_same<T, float>::value ? (size_t)lt_numel(a->out[0]) * sizeof(T)
                                                       : 0;
}

template <typename T>
__global__ void bias_fill_kernel(const T *bias, T *y, int64_t rows, int64_t out) {
    LT_CUDA_LOOP(i, rows * out) y[i] = bias[i % out];
}

/* The bias gradient: column sums of g (rows x cols). Blocks of COLSUM_X columns by
 * COLSUM_Y row lanes; the rows split into `chunks` whose partial sums (double) go to
 * the workspace, then one thread per column adds them in order. The split depends on the
 * shape alone, so the result is the same on every run and every device. */
#define COLSUM_X 32
#define COLSUM_Y 8
#define COLSUM_BLOCKS 1024 /* enough blocks to fill the device when there are few columns */

struct colsum_split {
    int64_t tiles, chunks, rows_per_chunk;
};

static colsum_split colsum_split_of(int64_t rows, int64_t cols) {
    colsum_split s;
    s.tiles = (cols + COLSUM_X - 1) / COLSUM_X;
    int64_t by_rows = (rows + 63) / 64; /* at least 64 rows, 8 per lane, per chunk */
    int64_t by_blocks = s.tiles ? COLSUM_BLOCKS / s.tiles : 1;
    s.chunks = by_rows < by_blocks ? by_rows : by_blocks;
    if (s.chunks < 1)
        s.chunks = 1;
    s.rows_per_chunk = (rows + s.chunks - 1) / s.chunks;
    return s;
}

__global__ void colsum_partial_kernel(const float *g, int64_t rows, int64_t cols,
                                      int64_t rows_per_chunk, double *part) {
    __shared__ double sum[COLSUM_Y][COLSUM_X];
    int64_t c = (int64_t)blockIdx.x * COLSUM_X + threadIdx.x;
    int64_t r0 = (int64_t)blockIdx.y * rows_per_chunk;
    int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
    double s = 0;
    if (c < cols)
        for (int64_t r = r0 + threadIdx.y; r < r1; r += COLSUM_Y)
            s += g[r * cols + c];
    sum[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        for (int y = 1; y < COLSUM_Y; y++)
            s += sum[y][threadIdx.x];
        part[(int64_t)blockIdx.y * cols + c] = s;
    }
}

__global__ void colsum_finish_kernel(const double *part, int64_t chunks, int64_t cols, float *gb,
                                     bool acc) {
    LT_CUDA_LOOP(c, cols) {
        double s = 0;
        for (int64_t k = 0; k < chunks; k++)
            s += part[k * cols + c];
        lt_grad_put(gb, c, (float)s, acc);
    }
}

/* ---- matmul -------------------------------------------------------------------------- */

/* a (batch..., M, K) @ b (batch..., K, N), the batch dims broadcast
 * (kernels/matmul_batch.h). `fold`: b is shared by every entry and a repeats nothing, so
 * the batch folds into M and one GEMM does all of it. */
struct mm_dims {
    lt_mm_batch w;
    int64_t M, K, N;
    bool fold;
};

static mm_dims mm_dims_of(const lt_kargs *a) {
    const lt_kview *A = a->in[0], *B = a->in[1];
    mm_dims d;
    d.w = lt_mm_batch_of(A, B);
    d.M = A->shape[A->ndim - 2];
    d.K = A->shape[A->ndim - 1];
    d.N = B->shape[B->ndim - 1];
    d.fold = d.w.b_count == 1 && d.w.a_count == d.w.count;
    return d;
}

/* One operand of a batched product: its matrix (mat: data, leading dim, transposed),
 * its batch strides along the walk's dims (in matrices, 0 repeated) and the elements of
 * one matrix. */
struct bmat {
    mat m;
    const int64_t *bst;
    int64_t size;
};

/* C[t] = beta C[t] + op(A[t]) op(B[t]) for every entry t of the walk w: strided-batched
 * GEMMs along one dim bd, one per combination of the other dims. Entries that write one C
 * (C repeated along a dim: a gradient summed over its repeats) never share a call: bd is
 * a dim along which C moves (none: one GEMM per entry), and the calls run one after
 * another on the stream, each adding (beta 1) to what the ones before wrote. */
static enum lt_status gemm_walk(const lt_kargs *a, const lt_mm_batch &w, int64_t m, int64_t n,
                                int64_t k, bmat A, bmat B, cudaDataType ab, void *C,
                                const int64_t *c_bst, cudaDataType c, bool accumulate,
                                cublasComputeType_t ct, const char *what) {
    size_t es = c == CUDA_R_32F ? 4 : 2, ab_es = ab == CUDA_R_32F ? 4 : 2;
    int bd = -1;
    for (int i = w.nd - 1; i >= 0 && bd < 0; i--)
        if (c_bst[i])
            bd = i;
    bool repeated = false; /* some dim leaves C in place: every call after the first adds */
    for (int i = 0; i < w.nd; i++)
        repeated |= c_bst[i] == 0 && w.shape[i] > 1;
    if (repeated && !accumulate) {
        int64_t n_c = 1;
        for (int i = 0; i < w.nd; i++)
            n_c *= c_bst[i] ? w.shape[i] : 1;
        if (cudaMemsetAsync(C, 0, (size_t)(n_c * m * n) * es, lt_cu(a)->stream) != cudaSuccess)
            return lt_cuda_check(a, what);
        accumulate = true;
    }
    if (w.count == 0)
        return LT_OK;
    int64_t inner = bd >= 0 ? w.shape[bd] : 1, outer = w.count / inner;
    for (int64_t o = 0; o < outer; o++) {
        int64_t rest = o, oa = 0, ob = 0, oc = 0;
        for (int i = w.nd - 1; i >= 0; i--) {
            if (i == bd)
                continue;
            int64_t x = rest % w.shape[i];
            rest /= w.shape[i];
            oa += x * A.bst[i];
            ob += x * B.bst[i];
            oc += x * c_bst[i];
        }
        int64_t sa = bd >= 0 ? A.bst[bd] : 0, sb = bd >= 0 ? B.bst[bd] : 0;
        int64_t sc = bd >= 0 ? c_bst[bd] : 0;
        mat Ao = {(const char *)A.m.p + (size_t)(oa * A.size) * ab_es, A.m.ld,
                  (long long)(sa * A.size), A.m.t};
        mat Bo = {(const char *)B.m.p + (size_t)(ob * B.size) * ab_es, B.m.ld,
                  (long long)(sb * B.size), B.m.t};
        enum lt_status st =
            gemm_strided(a, m, n, k, Ao, Bo, ab, (char *)C + (size_t)(oc * m * n) * es,
                         (long long)(sc * m * n), c, accumulate ? 1.0f : 0.0f, inner, ct, what);
        if (st != LT_OK)
            return st;
    }
    return LT_OK;
}

/* The output's batch strides (in matrices): packed, row-major over the walk. */
static void packed_strides(const lt_mm_batch &w, int64_t *so) {
    int64_t s = 1;
    for (int i = w.nd - 1; i >= 0; i--) {
        so[i] = s;
        s *= w.shape[i];
    }
}

template <typename T> static size_t matmul_workspace(const lt_kargs *a, int backward) {
    return ws_layout(a, gout_half_bytes<T>(a, backward), 0, NULL);
}

template <typename T> static enum lt_status lt_cuda_matmul_forward(const lt_kargs *a) {
    ws_parts w;
    enum lt_status st = ws_take(a, 0, 0, &w, "matmul");
    if (st != LT_OK)
        return st;
    mm_dims d = mm_dims_of(a);
    const void *A = a->in[0]->data, *B = a->in[1]->data;
    cudaDataType t = blas_dtype<T>::value;
    if (d.fold)
        return gemm(a, d.w.count * d.M, d.N, d.K, {A, d.K, 0, false}, {B, d.N, 0, false}, t,
                    a->out[0]->data, t, 0.0f, 1, compute_type<T>(a), "matmul");
    int64_t so[LT_MAX_DIMS];
    packed_strides(d.w, so);
    return gemm_walk(a, d.w, d.M, d.N, d.K, {{A, d.K, 0, false}, d.w.sa, d.M * d.K},
                     {{B, d.N, 0, false}, d.w.sb, d.K * d.N}, t, a->out[0]->data, so, t, false,
                     compute_type<T>(a), "matmul");
}

/* ga = g bᵀ; gb = aᵀ g, each summed over the entries that repeat its operand. */
template <typename T> static enum lt_status lt_cuda_matmul_backward(const lt_kargs *a) {
    if (!a->gin[0] && !a->gin[1])
        return LT_OK;
    const char *what = "matmul (backward)";
    ws_parts w;
    enum lt_status st = ws_take(a, gout_half_bytes<T>(a, 1), 0, &w, what);
    if (st != LT_OK)
        return st;
    mm_dims d = mm_dims_of(a);
    const void *A = a->in[0]->data, *B = a->in[1]->data, *g = gout_as<T>(a, w);
    cudaDataType t = blas_dtype<T>::value;
    cublasComputeType_t ct = compute_type<T>(a);
    int64_t M = d.M, K = d.K, N = d.N, so[LT_MAX_DIMS];
    packed_strides(d.w, so);
    if (a->gin[0]) {
        bool acc = a->accumulate & 1u;
        if (d.fold)
            st = gemm(a, d.w.count * M, K, N, {g, N, 0, false}, {B, N, 0, true}, t, a->gin[0]->data,
                      CUDA_R_32F, acc ? 1.0f : 0.0f, 1, ct, what);
        else
            st = gemm_walk(a, d.w, M, K, N, {{g, N, 0, false}, so, M * N},
                           {{B, N, 0, true}, d.w.sb, K * N}, t, a->gin[0]->data, d.w.sa, CUDA_R_32F,
                           acc, ct, what);
    }
    if (st == LT_OK && a->gin[1]) {
        bool acc = a->accumulate & 2u;
        if (d.fold)
            st = gemm(a, K, N, d.w.count * M, {A, K, 0, true}, {g, N, 0, false}, t, a->gin[1]->data,
                      CUDA_R_32F, acc ? 1.0f : 0.0f, 1, ct, what);
        else
            st = gemm_walk(a, d.w, K, N, M, {{A, K, 0, true}, d.w.sa, M * K},
                           {{g, N, 0, false}, so, M * N}, t, a->gin[1]->data, d.w.sb, CUDA_R_32F,
                           acc, ct, what);
    }
    if (st != LT_OK)
        return st;
    return lt_cuda_check(a, what);
}

/* ---- linear -------------------------------------------------------------------------- */

/* x (rows..., in), w (out, in): rows is the product of x's leading dims. */
struct lin_dims {
    int64_t rows, in, out;
};

static lin_dims lin_dims_of(const lt_kargs *a) {
    const lt_kview *X = a->in[0], *W = a->in[1];
    lin_dims d;
    d.rows = 1;
    for (int i = 0; i < X->ndim - 1; i++)
        d.rows *= X->shape[i];
    d.out = W->shape[0];
    d.in = W->shape[1];
    return d;
}

/* The bias gradient's partial sums, sized whenever there is a bias: the workspace
 * follows from the shapes alone, as the half copy of gout does. */
static size_t bias_part_bytes(const lt_kargs *a, int backward) {
    if (!backward || a->n_in < 3)
        return 0;
    lin_dims d = lin_dims_of(a);
    return (size_t)(colsum_split_of(d.rows, d.out).chunks * d.out) * sizeof(double);
}

template <typename T> static size_t linear_workspace(const lt_kargs *a, int backward) {
    return ws_layout(a, gout_half_bytes<T>(a, backward), bias_part_bytes(a, backward), NULL);
}

template <typename T> static enum lt_status lt_cuda_linear_forward(const lt_kargs *a) {
    ws_parts w;
    enum lt_status st = ws_take(a, 0, 0, &w, "linear");
    if (st != LT_OK)
        return st;
    lin_dims d = lin_dims_of(a);
    T *y = (T *)a->out[0]->data;
    float beta = 0.0f;
    if (a->n_in == 3) {
        bias_fill_kernel<T><<<lt_cuda_blocks(d.rows * d.out), LT_CUDA_THREADS, 0,
                              lt_cu(a)->stream>>>((const T *)a->in[2]->data, y, d.rows, d.out);
        beta = 1.0f;
    }
    cudaDataType t = blas_dtype<T>::value;
    st = gemm(a, d.rows, d.out, d.in, {a->in[0]->data, d.in, 0, false},
              {a->in[1]->data, d.in, 0, true}, t, y, t, beta, 1, compute_type<T>(a), "linear");
    return st == LT_OK ? lt_cuda_check(a, "linear") : st;
}

/* gx = g w; gw = gᵀ x; gbias = column sums of g (from the f32 g). */
template <typename T> static enum lt_status lt_cuda_linear_backward(const lt_kargs *a) {
    const char *what = "linear (backward)";
    bool gbias = a->n_in == 3 && a->gin[2];
    if (!a->gin[0] && !a->gin[1] && !gbias)
        return LT_OK;
    ws_parts w;
    enum lt_status st =
        ws_take(a, gout_half_bytes<T>(a, 1), bias_part_bytes(a, 1), &w, what);
    if (st != LT_OK)
        return st;
    lin_dims d = lin_dims_of(a);
    cudaStream_t stream = lt_cu(a)->stream;
    if (a->gin[0] || a->gin[1]) {
        const void *g = gout_as<T>(a, w);
        cudaDataType t = blas_dtype<T>::value;
        cublasComputeType_t ct = compute_type<T>(a);
        if (a->gin[0])
            st = gemm(a, d.rows, d.in, d.out, {g, d.out, 0, false},
                      {a->in[1]->data, d.in, 0, false}, t, a->gin[0]->data, CUDA_R_32F,
                      a->accumulate & 1u ? 1.0f : 0.0f, 1, ct, what);
        if (st == LT_OK && a->gin[1])
            st = gemm(a, d.out, d.in, d.rows, {g, d.out, 0, true},
                      {a->in[0]->data, d.in, 0, false}, t, a->gin[1]->data, CUDA_R_32F,
                      a->accumulate & 2u ? 1.0f : 0.0f, 1, ct, what);
        if (st != LT_OK)
            return st;
    }
    if (gbias && d.out > 0) {
        colsum_split s = colsum_split_of(d.rows, d.out);
        colsum_partial_kernel<<<dim3((unsigned)s.tiles, (unsigned)s.chunks),
                                dim3(COLSUM_X, COLSUM_Y), 0, stream>>>(
            (const float *)a->gout[0]->data, d.rows, d.out, s.rows_per_chunk, w.part);
        colsum_finish_kernel<<<lt_cuda_blocks(d.out), LT_CUDA_THREADS, 0, stream>>>(
            w.part, s.chunks, d.out, (float *)a->gin[2]->data, (a->accumulate & 4u) != 0);
    }
    return lt_cuda_check(a, what);
}

/* ---- registration -------------------------------------------------------------------- */

template <typename T>
static void reg(lt_backend *b, enum lt_dtype dt, enum lt_op op, lt_kernel_fn forward,
                lt_kernel_fn backward, size_t (*workspace)(const lt_kargs *, int)) {
    lt_kernel k = lt_cuda_kernel(forward, backward, "cublas");
    k.workspace = workspace;
    if (std::is_same<T, float>::value) {
        k.prepare = f32_prepare;
        k.release = f32_release;
    }
    b->kernels[op][dt] = k;
}

template <typename T> static void reg_dtype(lt_backend *b, enum lt_dtype dt) {
    reg<T>(b, dt, LT_OP_MATMUL, lt_cuda_matmul_forward<T>, lt_cuda_matmul_backward<T>,
           matmul_workspace<T>);
    reg<T>(b, dt, LT_OP_LINEAR, lt_cuda_linear_forward<T>, lt_cuda_linear_backward<T>,
           linear_workspace<T>);
}

void lt_cuda_register_linear(lt_backend *b) {
    reg_dtype<float>(b, LT_DTYPE_F32);
    reg_dtype<__half>(b, LT_DTYPE_F16);
    reg_dtype<__nv_bfloat16>(b, LT_DTYPE_BF16);
}
