/* Shape inference for matmul and linear. */
#include "core/ops/ops.h"

enum lt_status lt_infer_matmul(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    char sa[96], sb[96];
    const struct lt_kview *a = &in[0], *b = &in[1];
    enum lt_status st = lt_infer_want_float("matmul", in, 0, msg);
    if (st == LT_OK)
        st = lt_infer_want_one_dtype("matmul", a, b, msg);
    if (st != LT_OK)
        return st;
    if (a->ndim < 2 || b->ndim < 2)
        return lt_infer_fail(msg, "matmul: inputs need at least 2 dims, got %s and %s",
                             lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
        return lt_infer_fail(msg, "matmul: %s @ %s: inner dims %lld and %lld differ",
                             lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb),
                             (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 2]);
    if (b->ndim > 2) {
        int same = b->ndim == a->ndim;
        for (int i = 0; same && i < a->ndim - 2; i++)
            same = a->shape[i] == b->shape[i];
        if (!same)
            return lt_infer_fail(msg,
                                 "matmul: %s @ %s: b must be 2-D or have a's leading dims",
                                 lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
    }
    lt_view_like(&out[0], a);
    out[0].shape[a->ndim - 1] = b->shape[b->ndim - 1];
    return LT_OK;
}

enum lt_status lt_infer_linear(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    (void)attrs;
    char sx[96], sw[96];
    const struct lt_kview *x = &in[0], *w = &in[1];
    enum lt_status st = lt_infer_want_float("linear", in, 0, msg);
    if (st == LT_OK)
        st = lt_infer_want_dtype_of_first("linear", n_in, in, msg);
    if (st != LT_OK)
        return st;
    if (x->ndim < 1 || w->ndim != 2)
        return lt_infer_fail(msg,
                             "linear: want input (..., in) and weight (out, in), got %s and %s",
                             lt_shape_str(x, sx, sizeof sx), lt_shape_str(w, sw, sizeof sw));
    if (x->shape[x->ndim - 1] != w->shape[1])
        return lt_infer_fail(msg, "linear: input %s has %lld features but weight %s expects %lld",
                             lt_shape_str(x, sx, sizeof sx), (long long)x->shape[x->ndim - 1],
                             lt_shape_str(w, sw, sizeof sw), (long long)w->shape[1]);
    if (n_in == 3 && (in[2].ndim != 1 || in[2].shape[0] != w->shape[0]))
        return lt_infer_fail(msg, "linear: bias %s does not match weight %s (want (%lld,))",
                             lt_shape_str(&in[2], sx, sizeof sx), lt_shape_str(w, sw, sizeof sw),
                             (long long)w->shape[0]);
    lt_view_like(&out[0], x);
    out[0].shape[x->ndim - 1] = w->shape[0];
    return LT_OK;
}
