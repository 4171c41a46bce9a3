/* STUB: shape inference for the shape ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_reshape(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "reshape: not implemented");
}

enum lt_status lt_infer_transpose(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "transpose: not implemented");
}

enum lt_status lt_infer_concat(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "concat: not implemented");
}

