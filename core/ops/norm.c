/* STUB: shape inference for the norm ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_batch_norm2d(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "batch_norm2d: not implemented");
}

enum lt_status lt_infer_layer_norm(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "layer_norm: not implemented");
}

