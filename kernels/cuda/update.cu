/* The optimizer's passes on the device: the gradient norm with the finite check, and
 * the SGD and AdamW updates over the flat fp32 buffers (kernels/cpu/update.c is the spec).
 *
 * The updates do the reference's float operations in the reference's order, each one
 * rounded on its own (the __f*_rn intrinsics, which nvcc never contracts into an fma),
 * so they match it bit for bit. The norm is a fixed two-stage reduction: per-block sums
 * in double to the plugin's scratch, copied to its pinned host scratch and added on the
 * host in block order, so the result depends on n alone, never on timing. grad_norm is
 * the one pass that waits for the device: its results are host values.
 */
#include <cmath>

#include "kernels/cuda/cuda_kernels.cuh"

/* Blocks of the norm's first stage: as many partial sums, at most LT_CUDA_SCRATCH. */
#define NORM_BLOCKS 1024
static_assert(NORM_BLOCKS <= LT_CUDA_SCRATCH, "the norm's partials must fit the scratch");

/* Per-block sums of (factor * g)^2 in double, reduced in a fixed order: each warp by
 * shuffles, then thread 0 over the warps. */
__global__ void sumsq_kernel(const float *g, int64_t n, float factor, double *part) {
    __shared__ double warp_sum[LT_CUDA_THREADS / 32];
    double s = 0;
    LT_CUDA_LOOP(i, n) {
        float v = g[i] * factor;
        s += (double)v * v;
    }
    for (int off = 16; off > 0; off >>= 1)
        s += __shfl_down_sync(0xffffffffu, s, off);
    if (threadIdx.x % 32 == 0)
        warp_sum[threadIdx.x / 32] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < LT_CUDA_THREADS / 32; w++)
            s += warp_sum[w];
        part[blockIdx.x] = s;
    }
}

/* Every factor * g is finite exactly when the sum of squares is: a square is never
 * negative, so no inf can cancel, NaN stays NaN, and n * FLT_MAX^2 stays far below
 * DBL_MAX. A CUDA failure reports a NaN norm, not finite, so the step is skipped; the
 * failure itself surfaces at the next sync. */
static void grad_norm(void *impl, const float *g, int64_t n, float factor, double *sumsq,
                      int *finite) {
    lt_cuda *dev = (lt_cuda *)impl;
    unsigned blocks = lt_cuda_blocks(n);
    if (blocks > NORM_BLOCKS)
        blocks = NORM_BLOCKS;
    sumsq_kernel<<<blocks, LT_CUDA_THREADS, 0, dev->stream>>>(g, n, factor, dev->scratch);
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(dev->host_scratch, dev->scratch, blocks * sizeof(double),
                            cudaMemcpyDeviceToHost, dev->stream);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(dev->stream);
    if (e != cudaSuccess) {
        *sumsq = NAN;
        *finite = 0;
        return;
    }
    double s = 0;
    for (unsigned b = 0; b < blocks; b++)
        s += dev->host_scratch[b];
    *sumsq = s;
    *finite = std::isfinite(s);
}

/* keep = 1 - dampening, computed on the host as the reference computes it. */
__global__ void sgd_kernel(float *p, const float *g, float *m, int64_t n, float factor,
                           float lr, float momentum, float keep, float weight_decay,
                           bool use_momentum, bool nesterov, bool first_step) {
    LT_CUDA_LOOP(i, n) {
        float d = __fadd_rn(__fmul_rn(g[i], factor), __fmul_rn(weight_decay, p[i]));
        if (use_momentum) {
            /* PyTorch starts the buffer at the first gradient, undamped */
            float mi = first_step ? d
                                  : __fadd_rn(__fmul_rn(momentum, m[i]), __fmul_rn(keep, d));
            m[i] = mi;
            d = nesterov ? __fadd_rn(d, __fmul_rn(momentum, mi)) : mi;
        }
        p[i] = __fsub_rn(p[i], __fmul_rn(lr, d));
    }
}

static void sgd(void *impl, float *p, const float *g, float *m, int64_t n, float factor,
                float lr, float momentum, float dampening, float weight_decay, int nesterov,
                int first_step) {
    lt_cuda *dev = (lt_cuda *)impl;
    sgd_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, dev->stream>>>(
        p, g, m, n, factor, lr, momentum, 1 - dampening, weight_decay, momentum > 0,
        nesterov != 0, first_step != 0);
}

/* The bias corrections step_size and c2_sqrt come from the host (double, then rounded
 * to float, as the reference does). The decay 1 - lr * weight_decay is a multiply-add,
 * so it is formed here, where its rounding is explicit; one_minus_beta* are single
 * subtractions, the same on either side. */
__global__ void adamw_kernel(float *p, const float *g, float *m, float *v, int64_t n,
                             float factor, float lr, float weight_decay, float beta1,
                             float beta2, float one_minus_beta1, float one_minus_beta2,
                             float step_size, float c2_sqrt, float eps) {
    float decay = __fsub_rn(1.0f, __fmul_rn(lr, weight_decay));
    LT_CUDA_LOOP(i, n) {
        float gi = __fmul_rn(g[i], factor);
        float pi = __fmul_rn(p[i], decay);
        float mi = __fadd_rn(__fmul_rn(beta1, m[i]), __fmul_rn(one_minus_beta1, gi));
        float vi = __fadd_rn(__fmul_rn(beta2, v[i]), __fmul_rn(__fmul_rn(one_minus_beta2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), c2_sqrt), eps);
        p[i] = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step_size, mi), denom));
    }
}

static void adamw(void *impl, float *p, const float *g, float *m, float *v, int64_t n,
                  float factor, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int64_t step) {
    lt_cuda *dev = (lt_cuda *)impl;
    double c1 = 1 - pow(beta1, (double)step), c2 = 1 - pow(beta2, (double)step);
    float step_size = (float)(lr / c1), c2_sqrt = (float)sqrt(c2);
    adamw_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, dev->stream>>>(
        p, g, m, v, n, factor, lr, weight_decay, beta1, beta2, 1 - beta1, 1 - beta2, step_size,
        c2_sqrt, eps);
}

void lt_cuda_register_update(lt_backend *b) {
    b->update.grad_norm = grad_norm;
    b->update.sgd = sgd;
    b->update.adamw = adamw;
}
