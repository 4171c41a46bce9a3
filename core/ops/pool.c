/* Shape inference for the pooling ops: max_pool2d and avg_pool2d (windowed, PyTorch's
 * floor mode) and global_avg_pool ((N, C, H, W) -> (N, C, 1, 1)).
 *
 * max_pool2d's second output, y's shape, holds where each window's maximum lies: its
 * row-major position in the kernel's KH x KW window, counted from the window's padded
 * corner (kernels/cpu/pool.h, lt_pool_code). One byte an output where a window has at
 * most 256 elements, else i32. The backward scatters gout through it, so that x need not
 * be kept from the forward: for 2x2 windows the byte replaces sixteen bytes of f32
 * input (PyTorch keeps an int64 index). */
#include "core/ops/ops.h"

/* The checks both windowed pools share; fills out[0] with (N, C, OH, OW). */
static enum lt_status infer_pool2d(const char *op, const struct lt_pool2d_attrs *a,
                                   const struct lt_kview *in, struct lt_kview *out, char *msg) {
    const struct lt_kview *x = &in[0];
    char xs[96];
    enum lt_status st;

    if ((st = lt_infer_want_float(op, in, 0, msg)) != LT_OK)
        return st;
    lt_shape_str(x, xs, sizeof xs);
    if (x->ndim != 4)
        return lt_infer_fail(msg, "%s: input %s must be 4-D (N, C, H, W)", op, xs);
    if (x->shape[0] < 0 || x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1)
        return lt_infer_fail(msg, "%s: input %s must not have empty dims", op, xs);
    if (a->kernel[0] < 1 || a->kernel[1] < 1)
        return lt_infer_fail(msg, "%s: kernel (%d, %d) must be >= 1", op, a->kernel[0],
                             a->kernel[1]);
    if (a->stride[0] < 1 || a->stride[1] < 1)
        return lt_infer_fail(msg, "%s: stride (%d, %d) must be >= 1", op, a->stride[0],
                             a->stride[1]);
    /* PyTorch's bound: it keeps every window overlapping the image, so a max is never
     * -inf padding and an average excluding padding never divides by zero */
    if (a->padding[0] < 0 || a->padding[1] < 0 || a->padding[0] > a->kernel[0] / 2 ||
        a->padding[1] > a->kernel[1] / 2)
        return lt_infer_fail(msg,
                             "%s: padding (%d, %d) must be >= 0 and at most half of kernel "
                             "(%d, %d)",
                             op, a->padding[0], a->padding[1], a->kernel[0], a->kernel[1]);

    out[0] = (struct lt_kview){.dtype = x->dtype, .ndim = 4};
    out[0].shape[0] = x->shape[0];
    out[0].shape[1] = x->shape[1];
    for (int d = 0; d < 2; d++) {
        int64_t padded = x->shape[2 + d] + 2 * (int64_t)a->padding[d];
        if (padded < a->kernel[d])
            return lt_infer_fail(msg,
                                 "%s: kernel (%d, %d) is larger than input %s padded by "
                                 "(%d, %d)",
                                 op, a->kernel[0], a->kernel[1], xs, a->padding[0],
                                 a->padding[1]);
        out[0].shape[2 + d] = (padded - a->kernel[d]) / a->stride[d] + 1;
    }
    return LT_OK;
}

enum lt_status lt_infer_max_pool2d(const void *attrs_, int n_in, const struct lt_kview *in,
                                   struct lt_kview *out, char *msg) {
    const struct lt_pool2d_attrs *a = attrs_;
    (void)n_in;
    enum lt_status st = infer_pool2d("max_pool2d", a, in, out, msg);
    if (st != LT_OK)
        return st;
    lt_view_like(&out[1], &out[0]);
    out[1].dtype = (int64_t)a->kernel[0] * a->kernel[1] <= 256 ? LT_DTYPE_U8 : LT_DTYPE_I32;
    return LT_OK;
}

int lt_op_output_skippable(enum lt_op op, int k) {
    return (op == LT_OP_MAX_POOL2D || op == LT_OP_CONV2D_MAX_POOL2D) && k == 1;
}

enum lt_status lt_infer_avg_pool2d(const void *attrs_, int n_in, const struct lt_kview *in,
                                   struct lt_kview *out, char *msg) {
    (void)n_in;
    return infer_pool2d("avg_pool2d", attrs_, in, out, msg);
}

enum lt_status lt_infer_global_avg_pool(const void *attrs_, int n_in, const struct lt_kview *in,
                                        struct lt_kview *out, char *msg) {
    const struct lt_kview *x = &in[0];
    char xs[96];
    enum lt_status st;
    (void)attrs_;
    (void)n_in;

    if ((st = lt_infer_want_float("global_avg_pool", in, 0, msg)) != LT_OK)
        return st;
    lt_shape_str(x, xs, sizeof xs);
    if (x->ndim != 4)
        return lt_infer_fail(msg, "global_avg_pool: input %s must be 4-D (N, C, H, W)", xs);
    if (x->shape[0] < 0 || x->shape[1] < 1 || x->shape[2] < 1 || x->shape[3] < 1)
        return lt_infer_fail(msg, "global_avg_pool: input %s must not have empty dims", xs);
    out[0] = (struct lt_kview){.dtype = x->dtype, .ndim = 4};
    out[0].shape[0] = x->shape[0];
    out[0].shape[1] = x->shape[1];
    out[0].shape[2] = 1;
    out[0].shape[3] = 1;
    return LT_OK;
}
