/* Shape inference for the index family: index_select and gather (positions chosen by i32
 * ids along a dim), masked_fill (a u8 mask that broadcasts) and triu / tril. */
#include "core/ops/ops.h"

/* dim of the attributes in [0, x->ndim), or -1 after writing why into msg. */
static int dim_of(const char *op, int dim, const struct lt_kview *x, char *msg) {
    char sx[96];
    int d = dim < 0 ? dim + x->ndim : dim;
    if (d >= 0 && d < x->ndim)
        return d;
    lt_infer_fail(msg, "%s: dim %d is out of range for shape %s", op, dim,
                  lt_shape_str(x, sx, sizeof sx));
    return -1;
}

enum lt_status lt_infer_index_select(const void *attrs, int n_in, const struct lt_kview *in,
                                     struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_index_attrs *at = attrs;
    const struct lt_kview *x = &in[0], *ids = &in[1];
    char si[96];
    enum lt_status st = lt_infer_want_dtype("index_select", in, 1, LT_DTYPE_I32, msg);
    if (st != LT_OK)
        return st;
    if (ids->ndim != 1)
        return lt_infer_fail(msg, "index_select: ids must be 1-D, got shape %s",
                             lt_shape_str(ids, si, sizeof si));
    int d = dim_of("index_select", at->dim, x, msg);
    if (d < 0)
        return LT_EINVAL;
    lt_view_like(&out[0], x);
    out[0].shape[d] = ids->shape[0];
    return LT_OK;
}

enum lt_status lt_infer_gather(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_index_attrs *at = attrs;
    const struct lt_kview *x = &in[0], *ids = &in[1];
    char sx[96], si[96];
    enum lt_status st = lt_infer_want_dtype("gather", in, 1, LT_DTYPE_I32, msg);
    if (st != LT_OK)
        return st;
    int d = dim_of("gather", at->dim, x, msg);
    if (d < 0)
        return LT_EINVAL;
    if (ids->ndim != x->ndim)
        return lt_infer_fail(msg, "gather: ids %s must have as many dims as x %s",
                             lt_shape_str(ids, si, sizeof si), lt_shape_str(x, sx, sizeof sx));
    for (int i = 0; i < x->ndim; i++)
        if (i != d && ids->shape[i] > x->shape[i])
            return lt_infer_fail(msg,
                                 "gather: ids %s do not fit x %s: dim %d is %lld, more than "
                                 "x's %lld",
                                 lt_shape_str(ids, si, sizeof si), lt_shape_str(x, sx, sizeof sx),
                                 i, (long long)ids->shape[i], (long long)x->shape[i]);
    lt_view_like(&out[0], ids);
    out[0].dtype = x->dtype;
    return LT_OK;
}

enum lt_status lt_infer_masked_fill(const void *attrs, int n_in, const struct lt_kview *in,
                                    struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    const struct lt_kview *x = &in[0], *mask = &in[1];
    char sx[96], sm[96];
    enum lt_status st = lt_infer_want_float("masked_fill", in, 0, msg);
    if (st == LT_OK)
        st = lt_infer_want_dtype("masked_fill", in, 1, LT_DTYPE_U8, msg);
    if (st != LT_OK)
        return st;
    int lead = x->ndim - mask->ndim, fits = lead >= 0;
    for (int i = 0; fits && i < mask->ndim; i++)
        fits = mask->shape[i] == x->shape[lead + i] || mask->shape[i] == 1;
    if (!fits)
        return lt_infer_fail(msg,
                             "masked_fill: mask %s does not broadcast to x %s: its dims, lined "
                             "up from the right, must equal x's or be 1",
                             lt_shape_str(mask, sm, sizeof sm), lt_shape_str(x, sx, sizeof sx));
    lt_view_like(&out[0], x);
    return LT_OK;
}

/* triu and tril: any dtype of at least 2 dims. */
static enum lt_status infer_tri(const char *op, const struct lt_kview *in, struct lt_kview *out,
                                char *msg) {
    char sx[96];
    if (in[0].ndim < 2)
        return lt_infer_fail(msg, "%s: needs at least 2 dims, got shape %s", op,
                             lt_shape_str(&in[0], sx, sizeof sx));
    lt_view_like(&out[0], &in[0]);
    return LT_OK;
}

enum lt_status lt_infer_triu(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return infer_tri("triu", in, out, msg);
}

enum lt_status lt_infer_tril(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return infer_tri("tril", in, out, msg);
}
