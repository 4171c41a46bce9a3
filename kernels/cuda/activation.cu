/* relu, gelu (the exact erf form), sigmoid and tanh for f32, f16 and bf16: one
 * grid-stride kernel per direction, the function chosen at compile time. Computed in
 * f32; gradients f32. relu, sigmoid and tanh differentiate from their output, gelu from
 * its input (kernels/ops.def). */
#include "kernels/cuda/cuda_kernels.cuh"

#define INV_SQRT_2PI 0.39894228040143267794f

struct relu_fn {
    __device__ static float f(float x) { return x < 0.0f ? 0.0f : x; } /* NaN passes */
    /* a select, not g * mask: an infinite g where the unit is off gives 0, not NaN */
    __device__ static float df(float y, float g) { return y > 0.0f ? g : 0.0f; }
};
struct gelu_fn {
    __device__ static float f(float x) { return 0.5f * x * erfcf(-x * 0.70710678f); }
    __device__ static float df(float x, float g) {
        float cdf = 0.5f * erfcf(-x * 0.70710678f);
        return g * (cdf + x * INV_SQRT_2PI * expf(-0.5f * x * x));
    }
};
struct sigmoid_fn {
    __device__ static float f(float x) { return 1.0f / (1.0f + expf(-x)); }
    __device__ static float df(float s, float g) { return g * s * (1.0f - s); }
};
struct tanh_fn {
    __device__ static float f(float x) { return tanhf(x); }
    __device__ static float df(float t, float g) { return g * (1.0f - t * t); }
};

template <typename F, typename T>
__global__ void activation_forward_kernel(const T *x, T *y, int64_t n) {
    LT_CUDA_LOOP(i, n) y[i] = lt_from_f<T>(F::f(lt_to_f(x[i])));
}

/* s is the output (relu, sigmoid, tanh) or the input (gelu) */
template <typename F, typename T>
__global__ void activation_backward_kernel(const T *s, const float *g, float *gx, int64_t n,
                                           bool acc) {
    LT_CUDA_LOOP(i, n) lt_grad_put(gx, i, F::df(lt_to_f(s[i]), g[i]), acc);
}

template <typename F, typename T>
static enum lt_status lt_cuda_activation_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]);
    activation_forward_kernel<F, T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (T *)a->out[0]->data, n);
    return lt_cuda_check(a, "activation");
}

template <typename F, typename T, bool FROM_INPUT>
static enum lt_status lt_cuda_activation_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const lt_kview *s = FROM_INPUT ? a->in[0] : a->out[0];
    int64_t n = lt_numel(s);
    activation_backward_kernel<F, T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const T *)s->data, (const float *)a->gout[0]->data, (float *)a->gin[0]->data, n,
        (a->accumulate & 1u) != 0);
    return lt_cuda_check(a, "activation (backward)");
}

template <typename F, bool FROM_INPUT> static void reg(lt_backend *b, enum lt_op op) {
    b->kernels[op][LT_DTYPE_F32] = lt_cuda_kernel(
        lt_cuda_activation_forward<F, float>, lt_cuda_activation_backward<F, float, FROM_INPUT>);
    b->kernels[op][LT_DTYPE_F16] = lt_cuda_kernel(
        lt_cuda_activation_forward<F, __half>, lt_cuda_activation_backward<F, __half, FROM_INPUT>);
    b->kernels[op][LT_DTYPE_BF16] =
        lt_cuda_kernel(lt_cuda_activation_forward<F, __nv_bfloat16>,
                       lt_cuda_activation_backward<F, __nv_bfloat16, FROM_INPUT>);
}

void lt_cuda_register_activation(lt_backend *b) {
    reg<relu_fn, false>(b, LT_OP_RELU);
    reg<gelu_fn, true>(b, LT_OP_GELU);
    reg<sigmoid_fn, false>(b, LT_OP_SIGMOID);
    reg<tanh_fn, false>(b, LT_OP_TANH);
}
