/* STUB: shape inference for the pool ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_max_pool2d(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "max_pool2d: not implemented");
}

enum lt_status lt_infer_avg_pool2d(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "avg_pool2d: not implemented");
}

enum lt_status lt_infer_global_avg_pool(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "global_avg_pool: not implemented");
}

