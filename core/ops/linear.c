/* Shape inference for matmul (batch dims broadcast as torch.matmul's) and linear. */
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
    /* torch.matmul's broadcast of the batch dims, lined up from the right */
    int la = a->ndim - 2, lb = b->ndim - 2, n = la > lb ? la : lb;
    struct lt_kview t = {.dtype = a->dtype, .ndim = n + 2};
    for (int i = 0; i < n; i++) {
        int ia = i - (n - la), ib = i - (n - lb);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return lt_infer_fail(msg,
                                 "matmul: %s @ %s: batch dims do not broadcast: %lld and %lld "
                                 "(dim %d from the end) differ and neither is 1",
                                 lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb),
                                 (long long)da, (long long)db, n - i + 2);
        t.shape[i] = da == 1 ? db : da;
    }
    t.shape[n] = a->shape[a->ndim - 2];
    t.shape[n + 1] = b->shape[b->ndim - 1];
    out[0] = t;
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
