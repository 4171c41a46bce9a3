/* Shape inference for the normalisation ops, batch_norm2d and layer_norm.
 *
 * The input may be any float dtype; weight, bias and running statistics are f32 (fp32
 * master weights and fp32 statistics under mixed precision), and so are the saved
 * statistics the forward returns for the backward.
 */
#include "core/ops/ops.h"

/* Checks that in[i] is an f32 vector of length n, the input's count of `dim_word`;
 * `what` names in[i] in the message. */
static enum lt_status want_vector(const char *op, const struct lt_kview *in, int i,
                                  const char *what, const char *dim_word, int64_t n,
                                  char *msg) {
    char xs[64], vs[64];
    enum lt_status st = lt_infer_want_dtype(op, in, i, LT_DTYPE_F32, msg);
    if (st != LT_OK)
        return st;
    if (in[i].ndim == 1 && in[i].shape[0] == n)
        return LT_OK;
    return lt_infer_fail(msg, "%s: input %s has %lld %s but %s is %s", op,
                         lt_shape_str(&in[0], xs, sizeof xs), (long long)n, dim_word, what,
                         lt_shape_str(&in[i], vs, sizeof vs));
}

static void f32_vector(struct lt_kview *out, int64_t n) {
    *out = (struct lt_kview){.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {n}};
}

/* A recomputed batch norm in training normalises by the batch's statistics again but
 * moves the running statistics by (1 - 0) * running + 0 * batch: they stay. */
int lt_freeze_batch_norm2d(const void *attrs, void *again) {
    const struct lt_batch_norm_attrs *bn = attrs;
    if (!bn->training)
        return 0;
    struct lt_batch_norm_attrs *out = again;
    *out = *bn;
    out->momentum = 0;
    return 1;
}

enum lt_status lt_infer_batch_norm2d(const void *attrs_, int n_in, const struct lt_kview *in,
                                     struct lt_kview *out, char *msg) {
    static const char *const names[] = {"input", "weight", "bias", "running_mean",
                                        "running_var"};
    const struct lt_batch_norm_attrs *attrs = attrs_;
    char s[64];
    (void)n_in;
    enum lt_status st = lt_infer_want_float("batch_norm2d", in, 0, msg);
    if (st != LT_OK)
        return st;
    if (in[0].ndim != 4)
        return lt_infer_fail(msg, "batch_norm2d: input must be (N, C, H, W), got %s",
                             lt_shape_str(&in[0], s, sizeof s));
    int64_t c = in[0].shape[1];
    for (int i = 1; i < 5; i++) {
        st = want_vector("batch_norm2d", in, i, names[i], "channels", c, msg);
        if (st != LT_OK)
            return st;
    }
    if (!(attrs->eps > 0.0f))
        return lt_infer_fail(msg, "batch_norm2d: eps must be > 0, got %g", (double)attrs->eps);
    if (!(attrs->momentum >= 0.0f && attrs->momentum <= 1.0f))
        return lt_infer_fail(msg, "batch_norm2d: momentum must be in [0, 1], got %g",
                             (double)attrs->momentum);
    /* running_var takes the unbiased variance, which divides by count - 1 (PyTorch
     * refuses this case too) */
    if (attrs->training && in[0].shape[0] * in[0].shape[2] * in[0].shape[3] < 2)
        return lt_infer_fail(msg,
                             "batch_norm2d: training needs more than one value per channel, "
                             "got input %s",
                             lt_shape_str(&in[0], s, sizeof s));
    lt_view_like(&out[0], &in[0]);
    f32_vector(&out[1], c); /* save_mean */
    f32_vector(&out[2], c); /* save_invstd */
    return LT_OK;
}

enum lt_status lt_infer_layer_norm(const void *attrs_, int n_in, const struct lt_kview *in,
                                   struct lt_kview *out, char *msg) {
    const struct lt_layer_norm_attrs *attrs = attrs_;
    char s[64];
    (void)n_in;
    enum lt_status st = lt_infer_want_float("layer_norm", in, 0, msg);
    if (st != LT_OK)
        return st;
    if (in[0].ndim < 1)
        return lt_infer_fail(msg, "layer_norm: input %s needs a last dim to normalise",
                             lt_shape_str(&in[0], s, sizeof s));
    int64_t d = in[0].shape[in[0].ndim - 1];
    if (d < 1)
        return lt_infer_fail(msg, "layer_norm: input %s has no features to normalise",
                             lt_shape_str(&in[0], s, sizeof s));
    st = want_vector("layer_norm", in, 1, "weight", "features", d, msg);
    if (st == LT_OK)
        st = want_vector("layer_norm", in, 2, "bias", "features", d, msg);
    if (st != LT_OK)
        return st;
    if (!(attrs->eps > 0.0f))
        return lt_infer_fail(msg, "layer_norm: eps must be > 0, got %g", (double)attrs->eps);
    int64_t rows = lt_kview_numel(&in[0]) / d; /* d >= 1 */
    lt_view_like(&out[0], &in[0]);
    f32_vector(&out[1], rows); /* mean */
    f32_vector(&out[2], rows); /* rstd */
    return LT_OK;
}
