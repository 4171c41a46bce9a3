/* Shape inference for the elementwise activations (relu, gelu, sigmoid, tanh): a float
 * tensor in, the same dtype and shape out. */
#include "core/ops/ops.h"

enum lt_status lt_infer_relu(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return lt_infer_float_like_input("relu", in, out, msg);
}

enum lt_status lt_infer_gelu(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return lt_infer_float_like_input("gelu", in, out, msg);
}

enum lt_status lt_infer_sigmoid(const void *attrs, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return lt_infer_float_like_input("sigmoid", in, out, msg);
}

enum lt_status lt_infer_tanh(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return lt_infer_float_like_input("tanh", in, out, msg);
}
