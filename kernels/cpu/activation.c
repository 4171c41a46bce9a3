/* Reference kernels for the elementwise activations: relu, gelu (the exact erf form,
 * PyTorch's default), sigmoid and tanh, for f32, f16 and bf16 inputs.
 *
 * Values are computed in double and rounded once to the output's dtype (through f32 for
 * the half types). Gradients are f32 whatever the forward dtype. relu, sigmoid and tanh
 * differentiate from their output, gelu from its input (kernels/ops.def).
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

#define SQRT1_2 0.70710678118654752440      /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */

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
    for (int64_t i = 0; i < lt_kview_numel(x); i++) {
        double v = lt_elem_load(x, i);
        lt_elem_store(y, i, 0.5 * v * (1.0 + erf(v * SQRT1_2)));
    }
    return LT_OK;
}

static enum lt_status gelu_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(x); i++) {
        double v = lt_elem_load(x, i);
        double cdf = 0.5 * (1.0 + erf(v * SQRT1_2)), pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
        lt_grad_store(a, 0, i, g[i] * (cdf + v * pdf));
    }
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

void lt_cpu_register_activation(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set_floats(b, LT_OP_RELU, relu_forward_ref, relu_backward_ref);
    lt_cpu_set_floats(b, LT_OP_GELU, gelu_forward_ref, gelu_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SIGMOID, sigmoid_forward_ref, sigmoid_backward_ref);
    lt_cpu_set_floats(b, LT_OP_TANH, tanh_forward_ref, tanh_backward_ref);
}
