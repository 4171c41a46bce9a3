/* STUB: shape inference for the reduce ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_sum(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "sum: not implemented");
}

enum lt_status lt_infer_mean(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "mean: not implemented");
}

enum lt_status lt_infer_max(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "max: not implemented");
}

enum lt_status lt_infer_argmax(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "argmax: not implemented");
}

enum lt_status lt_infer_eq(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "eq: not implemented");
}

