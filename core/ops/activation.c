/* STUB: shape inference for the activation ops. */
#include "core/ops/ops.h"

enum lt_status lt_infer_relu(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "relu: not implemented");
}

enum lt_status lt_infer_gelu(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "gelu: not implemented");
}

enum lt_status lt_infer_sigmoid(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "sigmoid: not implemented");
}

enum lt_status lt_infer_tanh(const void *attrs, int n_in, const struct lt_kview *in,
    struct lt_kview *out, char *msg) {
    (void)attrs; (void)n_in; (void)in; (void)out;
    return lt_infer_fail(msg, "tanh: not implemented");
}

