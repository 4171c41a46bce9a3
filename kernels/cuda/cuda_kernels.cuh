/* What every file of the CUDA plugin shares: the plugin's handles, dtype conversions,
 * launch sizes, error checks and the registration of each family's kernels.
 *
 * The plugin fills the same kernel table as the CPU backend (kernels/kernels.h). Every
 * pointer a kernel sees is device memory; kernels queue work on the plugin's one stream
 * and never synchronise. A launch failure returns LT_ECUDA with the reason in a->msg;
 * bad data (an index out of range) cannot be reported from inside a kernel, so kernels
 * raise the device flag (lt_cuda_flag_bad_data) and the next sync reports it.
 *
 * Semantics are the CPU reference's (the files of kernels/cpu): same shapes, same accumulate
 * rules, gradients f32 whatever the forward dtype, values computed in f32 and rounded
 * once (to nearest even) to a half output. Mixed precision keeps activation gradients in
 * half: no kernel here sets struct lt_kernel's half_gradients, so the planner casts each
 * half gradient to an f32 copy before a backward and back after it.
 */
#ifndef LT_CUDA_KERNELS_CUH
#define LT_CUDA_KERNELS_CUH

#include <cstdint>
#include <cstdio>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

extern "C" {
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/rng.h"
}

/* The plugin's private handles: lt_kargs.impl and lt_backend.impl. */
struct lt_cuda {
    int device;
    cudaDeviceProp prop;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *dnn; /* a cudnnHandle_t (kernels/cuda/dnn.cuh): cudnn.h is slow to compile */
    int tf32;            /* f32 products and convolutions may use TF32 */
    int deterministic;   /* library algorithms must give the same bits every run */
    unsigned *flag;      /* device word: nonzero once a kernel met bad data */
    /* LT_CUDA_SCRATCH doubles of device memory and as many of pinned host memory, for
     * results that leave the device (the update's norm partials); runtime memory */
    double *scratch, *host_scratch;
    size_t runtime_bytes; /* device memory the context and handles took at start */
};

static inline lt_cuda *lt_cu(const lt_kargs *a) {
    return (lt_cuda *)a->impl;
}

#define LT_CUDA_SCRATCH 4096

/* Bits of the bad-data flag, each with its message (plugin.cu). */
#define LT_CUDA_BAD_INDEX 1u  /* an embedding id or a target outside its range */
#define LT_CUDA_BAD_IDS 2u    /* an index_select or gather id outside its dim */
#define LT_CUDA_BAD_PROBS 4u  /* a multinomial row that cannot be drawn from */

__device__ __forceinline__ void lt_cuda_flag_bad_data(unsigned *flag, unsigned bit) {
    atomicOr(flag, bit);
}

/* ---- dtypes -------------------------------------------------------------------------- */

/* Every float dtype converts through f32: load to float, store rounding to nearest even. */
__device__ __forceinline__ float lt_to_f(float x) { return x; }
__device__ __forceinline__ float lt_to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float lt_to_f(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float lt_to_f(int32_t x) { return (float)x; }
__device__ __forceinline__ float lt_to_f(uint8_t x) { return (float)x; }

template <typename T> __device__ __forceinline__ T lt_from_f(float x);
template <> __device__ __forceinline__ float lt_from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half lt_from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 lt_from_f<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

/* The C++ type of each lt_dtype, for templates instantiated per dtype. */
template <enum lt_dtype D> struct lt_ctype;
template <> struct lt_ctype<LT_DTYPE_F32> { typedef float type; };
template <> struct lt_ctype<LT_DTYPE_F16> { typedef __half type; };
template <> struct lt_ctype<LT_DTYPE_BF16> { typedef __nv_bfloat16 type; };
template <> struct lt_ctype<LT_DTYPE_I32> { typedef int32_t type; };
template <> struct lt_ctype<LT_DTYPE_U8> { typedef uint8_t type; };

/* Stores a gradient element: adds when accumulating, else overwrites. */
__device__ __forceinline__ void lt_grad_put(float *g, int64_t i, float v, bool acc) {
    g[i] = acc ? g[i] + v : v;
}

/* ---- launches ------------------------------------------------------------------------ */

#define LT_CUDA_THREADS 256

/* Blocks for a grid-stride loop over n elements (at least one). */
static inline unsigned lt_cuda_blocks(int64_t n, int threads = LT_CUDA_THREADS) {
    int64_t b = (n + threads - 1) / threads;
    if (b < 1)
        b = 1;
    return (unsigned)(b > 65536 ? 65536 : b);
}

#define LT_CUDA_LOOP(i, n)                                                                      \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
         i += (int64_t)blockDim.x * gridDim.x)

/* Sum of v over the block (blockDim.x a multiple of 32), valid in thread 0. A fixed tree,
 * so the result does not depend on scheduling. */
static inline __device__ double lt_block_sum(double v) {
    __shared__ double warp_sums[32];
    __syncthreads(); /* a previous call's readers are done with warp_sums */
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0)
        warp_sums[warp] = v;
    __syncthreads();
    v = 0.0;
    if (warp == 0) {
        v = lane < (int)(blockDim.x >> 5) ? warp_sums[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1)
            v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}

/* After a launch (or a series of them): LT_OK, or LT_ECUDA with `what` and the runtime's
 * reason in a->msg. */
enum lt_status lt_cuda_check(const lt_kargs *a, const char *what);
/* The same for a cuBLAS status (cuDNN's: kernels/cuda/dnn.cuh). */
enum lt_status lt_cublas_check(const lt_kargs *a, cublasStatus_t st, const char *what);

/* A kernel-table entry. */
static inline lt_kernel lt_cuda_kernel(lt_kernel_fn forward, lt_kernel_fn backward,
                                       const char *impl_name = "cuda") {
    lt_kernel k = {};
    k.forward = forward;
    k.backward = backward;
    k.impl_name = impl_name;
    return k;
}

/* Contiguous tensors only: the element count. */
static inline int64_t lt_numel(const lt_kview *v) {
    return lt_kview_numel(v);
}

/* Each family (kernels/families.def) fills its ops' entries (one .cu file each: linear
 * through cuBLAS, conv through cuDNN); update holds the grad norm, SGD and AdamW. */
#define LT_FAMILY(stem) void lt_cuda_register_##stem(lt_backend *b);
#include "kernels/families.def"
#undef LT_FAMILY
void lt_cuda_register_update(lt_backend *b);

#endif
