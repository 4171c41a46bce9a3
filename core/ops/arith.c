/* STUB: shape inference for the arith ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_add(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "add: not implemented");
}

enum lt_status lt_infer_sub(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "sub: not implemented");
}

enum lt_status lt_infer_mul(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "mul: not implemented");
}

enum lt_status lt_infer_scale(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "scale: not implemented");
}

enum lt_status lt_infer_cast(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "cast: not implemented");
}

