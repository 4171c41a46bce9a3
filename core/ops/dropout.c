/* Shape inference for dropout: the output has the input's shape; p is checked here so
 * that a kernel never divides by 1 - p == 0. */
#include "core/ops/ops.h"

enum lt_status lt_infer_dropout(const void *attrs_, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    const struct lt_dropout_attrs *attrs = attrs_;
    char s[64];
    (void)n_in;
    enum lt_status st = lt_infer_want_float("dropout", in, 0, msg);
    if (st != LT_OK)
        return st;
    /* written so that NaN fails too */
    if (!(attrs->p >= 0.0f && attrs->p < 1.0f))
        return lt_infer_fail(msg, "dropout: p must be in [0, 1), got %g", (double)attrs->p);
    /* the mask is keyed by sample, so there must be a sample dim */
    if (in[0].ndim < 1)
        return lt_infer_fail(msg, "dropout: input %s needs a batch dim (N, ...)",
                             lt_shape_str(&in[0], s, sizeof s));
    lt_view_like(&out[0], &in[0]);
    return LT_OK;
}
