/* conv2d_max_pool2d's reference kernels: conv2d's reference, then max_pool2d's, with the
 * convolution's output (in the backward, its gradient) in the workspace, in the op's
 * dtype: the values and gradients of the two ops planned apart, bit for bit, the half
 * convolution's output rounded before the pooling compares it, as it is there.
 */
#include "kernels/cpu/pool.h"

/* The two parts of a call: the convolution's and the pooling's arguments, around the
 * convolution's output c (data: the front of the workspace; in a backward call c holds
 * its gradient and c's value is not read). */
struct parts {
    struct lt_conv2d_attrs conv_attrs;
    struct lt_pool2d_attrs pool_attrs;
    struct lt_kview c, none; /* none: c's shape without data, what a part does not read */
    struct lt_kargs conv, pool;
};

/* Bytes of c, 64-byte aligned so that what follows it is. */
static size_t c_bytes(const struct lt_kview *c) {
    return ((size_t)lt_kview_numel(c) * lt_dtype_bytes(c->dtype) + 63) / 64 * 64;
}

static void parts_of(const struct lt_kargs *a, int backward, struct parts *s) {
    lt_conv_pool_split(a->attrs, &s->conv_attrs, &s->pool_attrs);
    const struct lt_kview *x = a->in[0], *w = a->in[1];
    const struct lt_conv2d_attrs *at = &s->conv_attrs;
    s->c = (struct lt_kview){.dtype = x->dtype, .ndim = 4};
    s->c.shape[0] = x->shape[0];
    s->c.shape[1] = w->shape[0];
    for (int d = 0; d < 2; d++) {
        int64_t span = (int64_t)at->dilation[d] * (w->shape[2 + d] - 1) + 1;
        s->c.shape[2 + d] =
            (x->shape[2 + d] + 2 * (int64_t)at->padding[d] - span) / at->stride[d] + 1;
    }
    s->c.data = a->workspace;
    s->none = s->c;
    s->none.data = NULL;
    size_t front = c_bytes(&s->c);
    void *rest = a->workspace ? (char *)a->workspace + front : NULL;
    size_t rest_size = a->workspace_size > front ? a->workspace_size - front : 0;

    s->conv = *a;
    s->conv.attrs = &s->conv_attrs;
    s->conv.n_out = 1;
    s->conv.out[0] = backward ? &s->none : &s->c;
    s->conv.gout[0] = backward ? &s->c : NULL;
    s->conv.workspace = rest;
    s->conv.workspace_size = rest_size;
    s->conv.blocked = 0;

    s->pool = *a;
    s->pool.attrs = &s->pool_attrs;
    s->pool.n_in = 1;
    s->pool.in[0] = backward ? &s->none : &s->c;
    s->pool.gin[0] = backward ? &s->c : NULL;
    s->pool.accumulate = 0;
    s->pool.workspace = rest;
    s->pool.workspace_size = rest_size;
    s->pool.blocked = 0;
    for (int i = 1; i < LT_MAX_INPUTS; i++)
        s->pool.gin[i] = NULL;
}

/* A part's f32 reference, on f32 copies of its half tensors when the op is half. */
static enum lt_status run_part(const struct lt_kargs *a, int backward, lt_kernel_fn f32) {
    if (lt_dtype_is_half(a->in[0]->dtype))
        return lt_half_ref_run(a, backward, f32);
    return f32(a);
}

static size_t part_workspace(const struct lt_kargs *a, int backward) {
    return lt_dtype_is_half(a->in[0]->dtype) ? lt_half_ref_workspace(a, backward) : 0;
}

static size_t conv_pool_workspace_ref(const struct lt_kargs *a, int backward) {
    struct parts s;
    parts_of(a, backward, &s);
    size_t conv = part_workspace(&s.conv, backward), pool = part_workspace(&s.pool, backward);
    return c_bytes(&s.c) + (conv > pool ? conv : pool);
}

static enum lt_status conv_pool_forward_ref(const struct lt_kargs *a) {
    struct parts s;
    parts_of(a, 0, &s);
    enum lt_status st = run_part(&s.conv, 0, lt_conv2d_forward_ref);
    return st == LT_OK ? run_part(&s.pool, 0, lt_max_pool2d_forward_ref) : st;
}

/* The pooling's backward writes c's gradient, which the convolution's then reads. */
static enum lt_status conv_pool_backward_ref(const struct lt_kargs *a) {
    struct parts s;
    parts_of(a, 1, &s);
    enum lt_status st = run_part(&s.pool, 1, lt_max_pool2d_backward_ref);
    return st == LT_OK ? run_part(&s.conv, 1, lt_conv2d_backward_ref) : st;
}

void lt_cpu_register_conv_pool(struct lt_backend *b, int fast) {
    for (enum lt_dtype dt = LT_DTYPE_F32; dt <= LT_DTYPE_BF16; dt++) {
        lt_cpu_set(b, LT_OP_CONV2D_MAX_POOL2D, dt, conv_pool_forward_ref, conv_pool_backward_ref);
        b->kernels[LT_OP_CONV2D_MAX_POOL2D][dt].workspace = conv_pool_workspace_ref;
    }
    for (enum lt_dtype dt = LT_DTYPE_F16; dt <= LT_DTYPE_BF16; dt++) /* as conv2d's */
        b->kernels[LT_OP_CONV2D_MAX_POOL2D][dt].f32_gin = LT_IN(1) | LT_IN(2);
    lt_cpu_half_gradients(b, LT_OP_CONV2D_MAX_POOL2D);
    if (fast)
        lt_cpu_register_conv_pool_fast(b);
}
