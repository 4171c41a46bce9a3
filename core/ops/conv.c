/* Shape inference for conv2d: checks what a user can get wrong about the input, the
 * weight, the bias and the attributes, and computes the output shape.
 *
 * Layouts are PyTorch's: x (N, C, H, W), w (O, C/groups, KH, KW), bias (O). The output
 * is (N, O, OH, OW) with OH = (H + 2 * pad - dilation * (KH - 1) - 1) / stride + 1.
 */
#include "core/ops/ops.h"

/* The attributes alone, before any shape is looked at. */
static enum lt_status check_attrs(const struct lt_conv2d_attrs *a, char *msg) {
    if (a->stride[0] < 1 || a->stride[1] < 1)
        return lt_infer_fail(msg, "conv2d: stride (%d, %d) must be >= 1", a->stride[0],
                             a->stride[1]);
    if (a->dilation[0] < 1 || a->dilation[1] < 1)
        return lt_infer_fail(msg, "conv2d: dilation (%d, %d) must be >= 1", a->dilation[0],
                             a->dilation[1]);
    if (a->padding[0] < 0 || a->padding[1] < 0)
        return lt_infer_fail(msg, "conv2d: padding (%d, %d) must be >= 0", a->padding[0],
                             a->padding[1]);
    if (a->groups < 1)
        return lt_infer_fail(msg, "conv2d: groups %d must be >= 1", a->groups);
    return LT_OK;
}

enum lt_status lt_infer_conv2d(const void *attrs_, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    const struct lt_conv2d_attrs *a = attrs_;
    const struct lt_kview *x = &in[0], *w = &in[1];
    char xs[96], ws[96], bs[96];
    enum lt_status st;

    for (int i = 0; i < n_in; i++)
        if ((st = lt_infer_want_float("conv2d", in, i, msg)) != LT_OK)
            return st;
    if ((st = lt_infer_want_dtype_of_first("conv2d", n_in, in, msg)) != LT_OK)
        return st;
    lt_shape_str(x, xs, sizeof xs);
    lt_shape_str(w, ws, sizeof ws);
    if (x->ndim != 4)
        return lt_infer_fail(msg, "conv2d: input %s must be 4-D (N, C, H, W)", xs);
    if (w->ndim != 4)
        return lt_infer_fail(msg, "conv2d: weight %s must be 4-D (O, C/groups, KH, KW)", ws);
    /* the batch may be empty; nothing else may */
    if (x->shape[0] < 0 || x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1 ||
        w->shape[0] < 1 || w->shape[1] < 1 || w->shape[2] < 1 || w->shape[3] < 1)
        return lt_infer_fail(msg, "conv2d: input %s and weight %s must not have empty dims",
                             xs, ws);
    if ((st = check_attrs(a, msg)) != LT_OK)
        return st;

    int64_t c = x->shape[1], o = w->shape[0];
    if (c % a->groups != 0 || o % a->groups != 0)
        return lt_infer_fail(msg,
                             "conv2d: groups %d must divide the input's %lld channels and the "
                             "weight's %lld filters (input %s, weight %s)",
                             a->groups, (long long)c, (long long)o, xs, ws);
    if (w->shape[1] * a->groups != c)
        return lt_infer_fail(msg,
                             "conv2d: input %s has %lld channels but weight %s expects %lld "
                             "(groups %d)",
                             xs, (long long)c, ws, (long long)(w->shape[1] * a->groups),
                             a->groups);

    int64_t span[2], oshape[2];
    for (int d = 0; d < 2; d++) {
        span[d] = (int64_t)a->dilation[d] * (w->shape[2 + d] - 1) + 1;
        int64_t padded = x->shape[2 + d] + 2 * (int64_t)a->padding[d];
        oshape[d] = padded < span[d] ? 0 : (padded - span[d]) / a->stride[d] + 1;
    }
    if (oshape[0] == 0 || oshape[1] == 0)
        return lt_infer_fail(msg,
                             "conv2d: kernel spans %lldx%lld (dilation (%d, %d)) but input %s "
                             "padded by (%d, %d) is smaller (weight %s)",
                             (long long)span[0], (long long)span[1], a->dilation[0],
                             a->dilation[1], xs, a->padding[0], a->padding[1], ws);

    if (n_in == 3) {
        const struct lt_kview *b = &in[2];
        if (b->ndim != 1 || b->shape[0] != o)
            return lt_infer_fail(msg, "conv2d: bias %s must be (%lld,) for weight %s",
                                 lt_shape_str(b, bs, sizeof bs), (long long)o, ws);
    }

    out[0] = (struct lt_kview){.dtype = x->dtype, .ndim = 4};
    out[0].shape[0] = x->shape[0];
    out[0].shape[1] = o;
    out[0].shape[2] = oshape[0];
    out[0].shape[3] = oshape[1];
    return LT_OK;
}

/* conv2d_max_pool2d: conv2d's checks, then max_pool2d's on the convolution's output; a
 * message names the fused op, then the part that refused. */
enum lt_status lt_infer_conv2d_max_pool2d(const void *attrs_, int n_in, const struct lt_kview *in,
                                          struct lt_kview *out, char *msg) {
    struct lt_conv2d_attrs conv;
    struct lt_pool2d_attrs pool;
    lt_conv_pool_split(attrs_, &conv, &pool);
    struct lt_kview c;
    char part[LT_KMSG_SIZE];
    enum lt_status st = lt_infer_conv2d(&conv, n_in, in, &c, part);
    if (st == LT_OK)
        st = lt_infer_max_pool2d(&pool, 1, &c, out, part);
    if (st != LT_OK)
        return lt_infer_fail(msg, "conv2d_max_pool2d: %s", part);
    const struct lt_conv_pool_attrs *a = attrs_;
    if (a->relu && (int64_t)a->pool_kernel[0] * a->pool_kernel[1] > LT_CODE_RELU)
        return lt_infer_fail(msg,
                             "conv2d_max_pool2d: relu needs windows of at most %d elements, "
                             "got %dx%d",
                             LT_CODE_RELU, a->pool_kernel[0], a->pool_kernel[1]);
    return LT_OK;
}
