/* Reference kernels for the arithmetic ops: add, sub and mul with b broadcast over a's
 * leading dims, scale, and cast. Float ops run on f32, f16 and bf16; cast also reads i32
 * and u8.
 *
 * b has a's shape or a suffix of it, so in the flat layout element i of a meets
 * element i % numel(b) of b, and b's gradient sums gout over every such i.
 */
#include "kernels/cpu/cpu_kernels.h"

static enum lt_status add_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) + lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status sub_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) - lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status mul_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) * lt_elem_load(y, i % m));
    return LT_OK;
}

/* add (sign +1) and sub (sign -1): d/da = gout, d/db = sign * gout summed over the
 * broadcast dims. */
static void add_sub_backward(const struct lt_kargs *a, double sign) {
    const float *g = a->gout[0]->data; /* a's shape */
    int64_t n = lt_kview_numel(a->gout[0]), m = lt_kview_numel(a->in[1]);
    if (a->gin[1])
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t k = j; k < n; k += m)
                s += g[k];
            lt_grad_store(a, 1, j, sign * s);
        }
    if (a->gin[0])
        for (int64_t i = 0; i < n; i++)
            lt_grad_store(a, 0, i, g[i]);
}

static enum lt_status add_backward_ref(const struct lt_kargs *a) {
    add_sub_backward(a, 1.0);
    return LT_OK;
}

static enum lt_status sub_backward_ref(const struct lt_kargs *a) {
    add_sub_backward(a, -1.0);
    return LT_OK;
}

static enum lt_status mul_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1];
    const float *g = a->gout[0]->data; /* a's shape */
    int64_t n = lt_kview_numel(x), m = lt_kview_numel(y);
    if (a->gin[1])
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t k = j; k < n; k += m)
                s += g[k] * lt_elem_load(x, k);
            lt_grad_store(a, 1, j, s);
        }
    if (a->gin[0])
        for (int64_t i = 0; i < n; i++)
            lt_grad_store(a, 0, i, g[i] * lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status scale_forward_ref(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, at->alpha * lt_elem_load(x, i));
    return LT_OK;
}

static enum lt_status scale_backward_ref(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(a->gout[0]); i++)
        lt_grad_store(a, 0, i, (double)at->alpha * g[i]);
    return LT_OK;
}

/* The output's dtype is attrs.dtype; the input's value is exact in double, so the one
 * rounding is lt_elem_store's. */
static enum lt_status cast_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, lt_elem_load(x, i));
    return LT_OK;
}

void lt_cpu_register_arith(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set_floats(b, LT_OP_ADD, add_forward_ref, add_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SUB, sub_forward_ref, sub_backward_ref);
    lt_cpu_set_floats(b, LT_OP_MUL, mul_forward_ref, mul_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SCALE, scale_forward_ref, scale_backward_ref);
    lt_cpu_set_floats(b, LT_OP_CAST, cast_forward_ref, lt_identity_backward_ref);
    /* integer inputs never need a gradient */
    lt_cpu_set(b, LT_OP_CAST, LT_DTYPE_I32, cast_forward_ref, NULL);
    lt_cpu_set(b, LT_OP_CAST, LT_DTYPE_U8, cast_forward_ref, NULL);
}
