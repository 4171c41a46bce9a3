/* STUB: shape inference for the softmax ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_softmax(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "softmax: not implemented");
}

enum lt_status lt_infer_log_softmax(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "log_softmax: not implemented");
}

