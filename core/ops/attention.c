/* Shape inference for scaled_dot_product_attention: q (..., Tq, D), k (..., Tk, D) and
 * v (..., Tk, Dv) of one float dtype and the same leading dims give out (..., Tq, Dv) in
 * that dtype and the rows' log-sum-exp (..., Tq) in f32, which the backward reads instead
 * of a (Tq, Tk) matrix of probabilities. The attributes are checked here so that no
 * kernel meets a scale that is not finite or a dropout p outside [0, 1). */
#include <math.h>
#include <stdio.h>

#include "core/ops/ops.h"

#define OP "scaled_dot_product_attention"

/* The shapes of q, k and v as "q (2, 4, 8, 16), k (2, 4, 9, 16), v (2, 4, 9, 16)". */
static const char *shapes_str(const struct lt_kview *in, char *buf, size_t size) {
    char s[3][96];
    snprintf(buf, size, "q %s, k %s, v %s", lt_shape_str(&in[0], s[0], sizeof s[0]),
             lt_shape_str(&in[1], s[1], sizeof s[1]), lt_shape_str(&in[2], s[2], sizeof s[2]));
    return buf;
}

enum lt_status lt_infer_scaled_dot_product_attention(const void *attrs_, int n_in,
                                                     const struct lt_kview *in,
                                                     struct lt_kview *out, char *msg) {
    const struct lt_attention_attrs *at = attrs_;
    const struct lt_kview *q = &in[0], *k = &in[1], *v = &in[2];
    char s[320];
    enum lt_status st = lt_infer_want_float(OP, in, 0, msg);
    if (st == LT_OK)
        st = lt_infer_want_dtype_of_first(OP, n_in, in, msg);
    if (st != LT_OK)
        return st;
    if (q->ndim < 2 || k->ndim != q->ndim || v->ndim != q->ndim)
        return lt_infer_fail(msg,
                             OP ": want q (..., Tq, D), k (..., Tk, D) and v (..., Tk, Dv) with "
                                "the same count of dims (at least 2), got %s",
                             shapes_str(in, s, sizeof s));
    int nd = q->ndim;
    for (int i = 0; i < nd - 2; i++)
        if (k->shape[i] != q->shape[i] || v->shape[i] != q->shape[i])
            return lt_infer_fail(msg, OP ": %s: the leading dims (before the last two) differ",
                                 shapes_str(in, s, sizeof s));
    if (k->shape[nd - 1] != q->shape[nd - 1])
        return lt_infer_fail(msg, OP ": %s: q's last dim %lld and k's %lld differ",
                             shapes_str(in, s, sizeof s), (long long)q->shape[nd - 1],
                             (long long)k->shape[nd - 1]);
    if (v->shape[nd - 2] != k->shape[nd - 2])
        return lt_infer_fail(msg, OP ": %s: k has %lld keys but v has %lld values",
                             shapes_str(in, s, sizeof s), (long long)k->shape[nd - 2],
                             (long long)v->shape[nd - 2]);
    if (k->shape[nd - 2] < 1 || q->shape[nd - 1] < 1)
        return lt_infer_fail(msg, OP ": %s: want at least one key and a last dim of at least 1",
                             shapes_str(in, s, sizeof s));
    if (!isfinite(at->scale))
        return lt_infer_fail(msg, OP ": scale must be a finite number, got %g", (double)at->scale);
    /* written so that NaN fails too */
    if (!(at->dropout >= 0.0f && at->dropout < 1.0f))
        return lt_infer_fail(msg, OP ": dropout must be in [0, 1), got %g", (double)at->dropout);
    /* the mask is keyed by sample (kernels/rng.h), so there must be a sample dim */
    if (at->dropout > 0 && nd < 3)
        return lt_infer_fail(msg, OP ": dropout needs a batch dim, q (N, ..., Tq, D); got %s",
                             shapes_str(in, s, sizeof s));
    out[0] = (struct lt_kview){.dtype = q->dtype, .ndim = nd};
    out[1] = (struct lt_kview){.dtype = LT_DTYPE_F32, .ndim = nd - 1};
    for (int i = 0; i < nd - 1; i++)
        out[0].shape[i] = out[1].shape[i] = q->shape[i];
    out[0].shape[nd - 1] = v->shape[nd - 1];
    return LT_OK;
}
