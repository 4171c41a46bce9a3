/* Shape inference for the elementwise activations (relu, gelu, sigmoid, tanh): a float
 * tensor in, the same dtype and shape out. */
#include "core/ops/ops.h"

static enum lt_status same_as_input(const char *op, const struct lt_kview *in, struct lt_kview *out,
                                    char *msg) {
    enum lt_status st = lt_infer_want_float(op, in, 0, msg);
    if (st == LT_OK)
        lt_view_like(&out[0], &in[0]);
    return st;
}

enum lt_status lt_infer_relu(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return same_as_input("relu", in, out, msg);
}

enum lt_status lt_infer_gelu(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return same_as_input("gelu", in, out, msg);
}

enum lt_status lt_infer_sigmoid(const void *attrs, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return same_as_input("sigmoid", in, out, msg);
}

enum lt_status lt_infer_tanh(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return same_as_input("tanh", in, out, msg);
}
