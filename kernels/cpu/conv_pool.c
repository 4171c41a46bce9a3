/* conv2d_max_pool2d's reference kernels: conv2d's reference, then max_pool2d's (then, with
 * relu, relu's rule: a negative maximum becomes +0, NaN passes, and LT_CODE_RELU marks a
 * positive one in its code), with the convolution's output (in the backward, its
 * gradient) in the workspace, in the op's dtype: the values and gradients of the ops
 * planned apart, bit for bit, the half convolution's output rounded before the pooling
 * compares it, as it is there. With relu the backward hands the pooling's backward a
 * copy of the gradient, zero where no mark is, and of the codes without the marks.
 */
#include "kernels/cpu/pool.h"

/* The two parts of a call: the convolution's and the pooling's arguments, around the
 * convolution's output c (data: the front of the workspace; in a backward call c holds
 * its gradient and c's value is not read). */
struct parts {
    struct lt_conv2d_attrs conv_attrs;
    struct lt_pool2d_attrs pool_attrs;
    struct lt_kview c, none; /* none: c's shape without data, what a part does not read */
    struct lt_kview gout, codes; /* with relu, backward: the masked gradient, bare codes */
    struct lt_kargs conv, pool;
};

/* Bytes of v, 64-byte aligned so that what follows it is. */
static size_t bytes_of(const struct lt_kview *v) {
    return ((size_t)lt_kview_numel(v) * lt_dtype_bytes(v->dtype) + 63) / 64 * 64;
}

/* The workspace's front: c, then with relu in a backward call the masked gradient and the
 * bare codes. */
static size_t front_bytes(const struct lt_kargs *a, int backward, const struct parts *s) {
    const struct lt_conv_pool_attrs *at = a->attrs;
    size_t n = bytes_of(&s->c);
    if (at->relu && backward)
        n += bytes_of(a->gout[0]) + bytes_of(a->out[1]);
    return n;
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
    size_t front = front_bytes(a, backward, s);
    const struct lt_conv_pool_attrs *fa = a->attrs;
    if (fa->relu && backward) {
        char *after = a->workspace ? (char *)a->workspace + bytes_of(&s->c) : NULL;
        s->gout = *a->gout[0];
        s->gout.data = after;
        s->codes = *a->out[1];
        s->codes.data = after ? after + bytes_of(a->gout[0]) : NULL;
    }
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
    if (fa->relu && backward) {
        s->pool.gout[0] = &s->gout;
        s->pool.out[1] = &s->codes;
    }
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
    return front_bytes(a, backward, &s) + (conv > pool ? conv : pool);
}

/* relu of y in place, marking the positive maxima's codes (NULL data: nothing reads
 * them). */
static void relu_marked(const struct lt_kview *y, const struct lt_kview *codes) {
    for (int64_t e = 0; e < lt_kview_numel(y); e++) {
        double v = lt_elem_load(y, e);
        lt_elem_store(y, e, v < 0 ? 0.0 : v); /* NaN passes, as relu's */
        if (codes->data && v > 0)
            lt_pool_code_put(codes, e, lt_pool_code_get(codes, e) + LT_CODE_RELU);
    }
}

static enum lt_status conv_pool_forward_ref(const struct lt_kargs *a) {
    const struct lt_conv_pool_attrs *at = a->attrs;
    struct parts s;
    parts_of(a, 0, &s);
    enum lt_status st = run_part(&s.conv, 0, lt_conv2d_forward_ref);
    if (st == LT_OK)
        st = run_part(&s.pool, 0, lt_max_pool2d_forward_ref);
    if (st == LT_OK && at->relu)
        relu_marked(a->out[0], a->out[1]);
    return st;
}

/* relu's backward by the marks: the gradient where a code is marked, else +0, and the
 * codes without their marks, for the pooling's backward. */
static void unmark(const struct lt_kargs *a, const struct parts *s) {
    const struct lt_kview *g = a->gout[0], *codes = a->out[1];
    for (int64_t e = 0; e < lt_kview_numel(g); e++) {
        int64_t code = lt_pool_code_get(codes, e);
        int on = code >= LT_CODE_RELU;
        lt_elem_store(&s->gout, e, on ? lt_elem_load(g, e) : 0.0);
        lt_pool_code_put(&s->codes, e, on ? code - LT_CODE_RELU : code);
    }
}

/* The pooling's backward writes c's gradient, which the convolution's then reads. */
static enum lt_status conv_pool_backward_ref(const struct lt_kargs *a) {
    const struct lt_conv_pool_attrs *at = a->attrs;
    struct parts s;
    parts_of(a, 1, &s);
    if (at->relu)
        unmark(a, &s);
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
