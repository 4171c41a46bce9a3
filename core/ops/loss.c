/* STUB: shape inference for the loss ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_cross_entropy(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "cross_entropy: not implemented");
}

enum lt_status lt_infer_mse(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "mse: not implemented");
}

