/* Shape inference for softmax and log_softmax: both normalise over the last dim and keep
 * their input's dtype and shape. */
#include "core/ops/ops.h"

static enum lt_status infer_last_dim(const char *op, const struct lt_kview *in,
                                     struct lt_kview *out, char *msg) {
    enum lt_status st = lt_infer_want_float(op, in, 0, msg);
    if (st != LT_OK)
        return st;
    /* a scalar has no last dim to normalise over */
    if (in[0].ndim < 1)
        return lt_infer_fail(msg, "%s: input needs at least 1 dim, got a scalar", op);
    lt_view_like(&out[0], &in[0]);
    return LT_OK;
}

enum lt_status lt_infer_softmax(const void *attrs, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return infer_last_dim("softmax", in, out, msg);
}

enum lt_status lt_infer_log_softmax(const void *attrs, int n_in, const struct lt_kview *in,
                                    struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return infer_last_dim("log_softmax", in, out, msg);
}
