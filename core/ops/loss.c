/* Shape inference for the losses, cross_entropy and mse. Both reduce to f32 (2,) =
 * {sum, count} so that gradient accumulation can divide once by the step's count. */
#include "core/ops/ops.h"

static void loss_output(struct lt_kview *out) {
    *out = (struct lt_kview){.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {2}};
}

enum lt_status lt_infer_cross_entropy(const void *attrs, int n_in, const struct lt_kview *in,
                                      struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_cross_entropy_attrs *at = attrs;
    const struct lt_kview *logits = &in[0], *targets = &in[1];
    char sl[96], sy[96];
    enum lt_status st = lt_infer_want_float("cross_entropy", in, 0, msg);
    if (st == LT_OK && targets->dtype != LT_DTYPE_I32)
        st = lt_infer_fail(msg, "cross_entropy: targets must be i32 class indices, got %s",
                           lt_dtype_name(targets->dtype));
    if (st != LT_OK)
        return st;
    if (logits->ndim != 2 || targets->ndim != 1)
        return lt_infer_fail(msg, "cross_entropy: want logits (N, C) and targets (N,), got %s "
                                  "and %s",
                             lt_shape_str(logits, sl, sizeof sl),
                             lt_shape_str(targets, sy, sizeof sy));
    if (logits->shape[0] != targets->shape[0])
        return lt_infer_fail(msg, "cross_entropy: logits %s and targets %s disagree on the "
                                  "batch size",
                             lt_shape_str(logits, sl, sizeof sl),
                             lt_shape_str(targets, sy, sizeof sy));
    /* with no classes no target can be valid, and the row's log-sum-exp is -inf */
    if (logits->shape[1] < 1)
        return lt_infer_fail(msg, "cross_entropy: logits %s have no classes",
                             lt_shape_str(logits, sl, sizeof sl));
    /* written so that NaN fails too */
    if (!(at->label_smoothing >= 0.0f && at->label_smoothing <= 1.0f))
        return lt_infer_fail(msg, "cross_entropy: label_smoothing %g is outside [0, 1]",
                             (double)at->label_smoothing);
    loss_output(&out[0]);
    return LT_OK;
}

enum lt_status lt_infer_mse(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    const struct lt_kview *pred = &in[0], *target = &in[1];
    char sp[96], stg[96];
    enum lt_status st = lt_infer_want_float("mse", in, 0, msg);
    if (st == LT_OK && target->dtype != pred->dtype)
        st = lt_infer_fail(msg, "mse: prediction is %s but target is %s",
                           lt_dtype_name(pred->dtype), lt_dtype_name(target->dtype));
    if (st != LT_OK)
        return st;
    int same = pred->ndim == target->ndim;
    for (int i = 0; same && i < pred->ndim; i++)
        same = pred->shape[i] == target->shape[i];
    if (!same)
        return lt_infer_fail(msg, "mse: prediction %s and target %s differ in shape",
                             lt_shape_str(pred, sp, sizeof sp),
                             lt_shape_str(target, stg, sizeof stg));
    loss_output(&out[0]);
    return LT_OK;
}
