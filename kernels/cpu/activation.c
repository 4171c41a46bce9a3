/* Reference kernels for the elementwise activations: relu, gelu (the exact erf form,
 * PyTorch's default), sigmoid and tanh, for f32, f16 and bf16 inputs.
 *
 * Values are computed in double and rounded once to the output's dtype (through f32 for
 * the half types). The reference's gradients are f32 whatever the forward dtype. relu,
 * sigmoid and tanh differentiate from their output, gelu from its input (kernels/ops.def).
 *
 * The fast paths (f32) compute in float with vec.h's math, vectorised and threaded;
 * relu also has f16 and bf16 ones, on the bit patterns, and gelu ones by table
 * (kernels/cpu/gelu_half.c). Those two take half gradients (struct lt_kernel's
 * half_gradients).
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

static enum lt_status relu_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++) {
        double v = lt_elem_load(x, i);
        lt_elem_store(y, i, v < 0 ? 0.0 : v); /* NaN passes through, as in PyTorch */
    }
    return LT_OK;
}

static enum lt_status relu_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *y = a->out[0];
    const float *g = a->gout[0]->data;
    /* a select, not g * mask: an infinite g where the unit is off gives 0, not NaN */
    for (int64_t i = 0; i < lt_kview_numel(y); i++)
        lt_grad_store(a, 0, i, lt_elem_load(y, i) > 0 ? (double)g[i] : 0.0);
    return LT_OK;
}

static enum lt_status gelu_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, lt_gelu(lt_elem_load(x, i)));
    return LT_OK;
}

static enum lt_status gelu_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_grad_store(a, 0, i, g[i] * lt_gelu_grad(lt_elem_load(x, i)));
    return LT_OK;
}

static enum lt_status sigmoid_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, 1.0 / (1.0 + exp(-lt_elem_load(x, i))));
    return LT_OK;
}

static enum lt_status sigmoid_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *y = a->out[0];
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(y); i++) {
        double s = lt_elem_load(y, i);
        lt_grad_store(a, 0, i, g[i] * s * (1.0 - s));
    }
    return LT_OK;
}

static enum lt_status tanh_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, tanh(lt_elem_load(x, i)));
    return LT_OK;
}

static enum lt_status tanh_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *y = a->out[0];
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(y); i++) {
        double t = lt_elem_load(y, i);
        lt_grad_store(a, 0, i, g[i] * (1.0 - t * t));
    }
    return LT_OK;
}

/* ---- fast paths: f32 ---------------------------------------------------------------------- */

/* The erf and exp polynomials are chains of a * b + c: contracted into fused multiply-adds
 * (which -std=c11 turns off) they take half the instructions, and the GELU half the time.
 * The fast paths are checked against the reference within a tolerance, never bit for bit. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

LT_INLINE void relu_f32_body(const float *restrict x, float *restrict y, int64_t n, float c) {
    (void)c;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] < 0 ? 0.0f : x[i];
}
LT_DISPATCH(relu_f32, (const float *restrict x, float *restrict y, int64_t n, float c),
            (x, y, n, c));

LT_INLINE void relu_grad_f32_body(const float *restrict y, const float *restrict g,
                                  float *restrict gx, int64_t n, float c, int acc) {
    (void)c;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += y[i] > 0 ? g[i] : 0.0f;
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = y[i] > 0 ? g[i] : 0.0f;
    }
}
LT_DISPATCH(relu_grad_f32,
            (const float *restrict y, const float *restrict g, float *restrict gx, int64_t n,
             float c, int acc),
            (y, g, gx, n, c, acc));

/* The normal CDF: Phi(x) = erfc(-x / sqrt 2) / 2, from the tail on either side so that
 * it keeps its relative accuracy for negative x. */
LT_INLINE float normal_cdf(float x) {
    float tail = 0.5f * lt_verfc_nonneg(fabsf(x) * (float)LT_SQRT1_2);
    return lt_vselect(x < 0, tail, 1.0f - tail);
}

LT_INLINE void gelu_f32_body(const float *restrict x, float *restrict y, int64_t n, float c) {
    (void)c;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * normal_cdf(x[i]);
}
LT_DISPATCH(gelu_f32, (const float *restrict x, float *restrict y, int64_t n, float c),
            (x, y, n, c));

LT_INLINE float gelu_grad(float x, float g) {
    return g * (normal_cdf(x) + x * (float)LT_INV_SQRT_2PI * lt_vexp(-0.5f * x * x));
}

LT_INLINE void gelu_grad_f32_body(const float *restrict x, const float *restrict g,
                                  float *restrict gx, int64_t n, float c, int acc) {
    (void)c;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += gelu_grad(x[i], g[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = gelu_grad(x[i], g[i]);
    }
}
LT_DISPATCH(gelu_grad_f32,
            (const float *restrict x, const float *restrict g, float *restrict gx, int64_t n,
             float c, int acc),
            (x, g, gx, n, c, acc));

LT_INLINE void sigmoid_f32_body(const float *restrict x, float *restrict y, int64_t n, float c) {
    (void)c;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = lt_vsigmoid(x[i]);
}
LT_DISPATCH(sigmoid_f32, (const float *restrict x, float *restrict y, int64_t n, float c),
            (x, y, n, c));

LT_INLINE void sigmoid_grad_f32_body(const float *restrict y, const float *restrict g,
                                     float *restrict gx, int64_t n, float c, int acc) {
    (void)c;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += g[i] * y[i] * (1.0f - y[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = g[i] * y[i] * (1.0f - y[i]);
    }
}
LT_DISPATCH(sigmoid_grad_f32,
            (const float *restrict y, const float *restrict g, float *restrict gx, int64_t n,
             float c, int acc),
            (y, g, gx, n, c, acc));

LT_INLINE void tanh_f32_body(const float *restrict x, float *restrict y, int64_t n, float c) {
    (void)c;
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = lt_vtanh(x[i]);
}
LT_DISPATCH(tanh_f32, (const float *restrict x, float *restrict y, int64_t n, float c),
            (x, y, n, c));

LT_INLINE void tanh_grad_f32_body(const float *restrict y, const float *restrict g,
                                  float *restrict gx, int64_t n, float c, int acc) {
    (void)c;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += g[i] * (1.0f - y[i] * y[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = g[i] * (1.0f - y[i] * y[i]);
    }
}
LT_DISPATCH(tanh_grad_f32,
            (const float *restrict y, const float *restrict g, float *restrict gx, int64_t n,
             float c, int acc),
            (y, g, gx, n, c, acc));

/* Half relu on bit patterns, as the reference rounds: a negative number (not -0) becomes
 * +0, anything else but NaN passes, and a NaN comes out as the reference's conversion
 * makes it: bf16 keeps its payload, made quiet; f16 becomes the sign and 0x7e00. `inf`
 * is the dtype's +inf pattern (0x7f80 bf16, 0x7c00 f16): a magnitude above it is NaN. */
LT_INLINE void relu_half_body(const uint16_t *restrict x, uint16_t *restrict y, int64_t n,
                              uint32_t inf) {
    int f16 = inf == 0x7c00u;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = x[i];
        uint32_t nan = (b & 0x7fffu) > inf, neg = b > 0x8000u;
        uint32_t quiet = f16 ? (b & 0x8000u) | 0x7e00u : b | 0x40u;
        y[i] = (uint16_t)(nan ? quiet : neg ? 0u : b);
    }
}
LT_DISPATCH(relu_half, (const uint16_t *restrict x, uint16_t *restrict y, int64_t n, uint32_t inf),
            (x, y, n, inf));

/* The half gradient where y > 0 on half bits (a positive number or +inf, [0x0001, inf]),
 * else +0: gout's own bits, so nothing rounds. A mask, not a select: AVX-512F has no
 * 16-bit blend, and gcc leaves a select on 16-bit lanes scalar there. */
LT_INLINE void relu_grad_half_body(const uint16_t *restrict y, const uint16_t *restrict g,
                                   uint16_t *restrict gx, int64_t n, uint32_t inf) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        gx[i] = (uint16_t)(g[i] & (0u - (uint32_t)((uint32_t)y[i] - 1u < inf)));
}
LT_DISPATCH(relu_grad_half,
            (const uint16_t *restrict y, const uint16_t *restrict g, uint16_t *restrict gx,
             int64_t n, uint32_t inf),
            (y, g, gx, n, inf));

static uint32_t half_inf(enum lt_dtype dt) {
    return dt == LT_DTYPE_F16 ? 0x7c00u : 0x7f80u;
}

static enum lt_status relu_forward_half(const struct lt_kargs *a) {
    int64_t n = lt_kview_numel(a->in[0]);
    uint32_t inf = half_inf(a->in[0]->dtype);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        relu_half((const uint16_t *)a->in[0]->data + lo, (uint16_t *)a->out[0]->data + lo,
                  hi - lo, inf);
    }
    return LT_OK;
}

/* Half gradients (struct lt_kernel's half_gradients); an add into gin goes through f32
 * chunks on the stack, rounded once. */
static enum lt_status relu_backward_half(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    enum lt_dtype dt = a->out[0]->dtype;
    int64_t n = lt_kview_numel(a->out[0]);
    int acc = lt_accumulates(a, 0);
    uint32_t inf = half_inf(dt);
    const uint16_t *y = a->out[0]->data, *g = a->gout[0]->data;
    uint16_t *gx = a->gin[0]->data;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        uint16_t passed[LT_HALF_CHUNK];
        for (int64_t i = lo; i < hi; i += LT_HALF_CHUNK) {
            int64_t m = hi - i < LT_HALF_CHUNK ? hi - i : LT_HALF_CHUNK;
            relu_grad_half(y + i, g + i, acc ? passed : gx + i, m, inf);
            if (acc)
                lt_grad_move(dt, passed, dt, gx + i, m, 1);
        }
    }
    return LT_OK;
}

/* y = f(x) over the whole tensor; `par_min` says from how many elements it pays to
 * thread. */
static enum lt_status map_forward(const struct lt_kargs *a, lt_map_fn f, int64_t par_min) {
    lt_par_map(f, a->in[0]->data, a->out[0]->data, lt_kview_numel(a->in[0]), 0.0f, par_min);
    return LT_OK;
}

/* gin[0] from gout[0] and the one forward tensor the op's backward reads, `v`. */
static enum lt_status map_backward(const struct lt_kargs *a, const struct lt_kview *v, lt_grad_fn f,
                                   int64_t par_min) {
    if (!a->gin[0])
        return LT_OK;
    lt_par_grad(f, v->data, a->gout[0]->data, a->gin[0]->data, lt_kview_numel(v), 0.0f,
                lt_accumulates(a, 0), par_min);
    return LT_OK;
}

static enum lt_status relu_forward_fast(const struct lt_kargs *a) {
    return map_forward(a, relu_f32, LT_PAR_STREAM);
}

static enum lt_status relu_backward_fast(const struct lt_kargs *a) {
    return map_backward(a, a->out[0], relu_grad_f32, LT_PAR_STREAM);
}

static enum lt_status gelu_forward_fast(const struct lt_kargs *a) {
    return map_forward(a, gelu_f32, LT_PAR_MATH);
}

static enum lt_status gelu_backward_fast(const struct lt_kargs *a) {
    return map_backward(a, a->in[0], gelu_grad_f32, LT_PAR_MATH);
}

static enum lt_status sigmoid_forward_fast(const struct lt_kargs *a) {
    return map_forward(a, sigmoid_f32, LT_PAR_MATH);
}

static enum lt_status sigmoid_backward_fast(const struct lt_kargs *a) {
    return map_backward(a, a->out[0], sigmoid_grad_f32, LT_PAR_STREAM);
}

static enum lt_status tanh_forward_fast(const struct lt_kargs *a) {
    return map_forward(a, tanh_f32, LT_PAR_MATH);
}

static enum lt_status tanh_backward_fast(const struct lt_kargs *a) {
    return map_backward(a, a->out[0], tanh_grad_f32, LT_PAR_STREAM);
}

void lt_cpu_register_activation(struct lt_backend *b, int fast) {
    lt_cpu_set_floats(b, LT_OP_RELU, relu_forward_ref, relu_backward_ref);
    lt_cpu_set_floats(b, LT_OP_GELU, gelu_forward_ref, gelu_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SIGMOID, sigmoid_forward_ref, sigmoid_backward_ref);
    lt_cpu_set_floats(b, LT_OP_TANH, tanh_forward_ref, tanh_backward_ref);
    if (!fast)
        return;
    lt_cpu_set_fast(b, LT_OP_RELU, LT_DTYPE_F32, relu_forward_fast, relu_backward_fast);
    lt_cpu_set_fast(b, LT_OP_RELU, LT_DTYPE_BF16, relu_forward_half, relu_backward_half);
    lt_cpu_set_fast(b, LT_OP_RELU, LT_DTYPE_F16, relu_forward_half, relu_backward_half);
    lt_cpu_set_fast(b, LT_OP_GELU, LT_DTYPE_F32, gelu_forward_fast, gelu_backward_fast);
    lt_cpu_register_gelu_half(b);
    lt_cpu_set_fast(b, LT_OP_SIGMOID, LT_DTYPE_F32, sigmoid_forward_fast, sigmoid_backward_fast);
    lt_cpu_set_fast(b, LT_OP_TANH, LT_DTYPE_F32, tanh_forward_fast, tanh_backward_fast);
    lt_cpu_half_gradients(b, LT_OP_RELU);
    lt_cpu_half_gradients(b, LT_OP_GELU);
    lt_cpu_elementwise_layouts(b, LT_OP_RELU);
    lt_cpu_elementwise_layouts(b, LT_OP_GELU);
    lt_cpu_elementwise_layouts(b, LT_OP_SIGMOID);
    lt_cpu_elementwise_layouts(b, LT_OP_TANH);
}
