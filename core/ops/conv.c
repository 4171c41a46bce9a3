/* STUB: shape inference for the conv ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_conv2d(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "conv2d: not implemented");
}

