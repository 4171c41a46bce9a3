/* Shape inference for the eager-only reductions (sum, mean, max, argmax over all
 * elements or one dim), eq, and the row-wise picks of generation (topk, multinomial).
 * None of them has a backward.
 *
 * Result dtypes: sum of a float tensor is f32 and of an integer one i32; mean is f32;
 * max keeps the input's dtype; argmax is i32; eq is u8.
 */
#include "core/ops/ops.h"

/* Fills out with x's shape reduced as at says; the caller sets the dtype. A reduction
 * with no identity (max, argmax) passes `need_elements` so that reducing over zero
 * elements fails here instead of in the kernel. */
static enum lt_status reduced(const char *op, const struct lt_reduce_attrs *at,
                              const struct lt_kview *x, int need_elements, struct lt_kview *out,
                              char *msg) {
    char sx[96];
    lt_view_like(out, x);
    if (at->all) {
        if (need_elements && lt_kview_numel(x) == 0)
            return lt_infer_fail(msg, "%s: shape %s has no elements to reduce", op,
                                 lt_shape_str(x, sx, sizeof sx));
        for (int i = 0; i < x->ndim; i++)
            out->shape[i] = 1;
        if (!at->keepdim)
            out->ndim = 0;
        return LT_OK;
    }
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    if (d < 0 || d >= x->ndim)
        return lt_infer_fail(msg, "%s: dim %d is out of range for shape %s", op, at->dim,
                             lt_shape_str(x, sx, sizeof sx));
    if (need_elements && x->shape[d] == 0)
        return lt_infer_fail(msg, "%s: dim %d of shape %s has no elements to reduce", op, at->dim,
                             lt_shape_str(x, sx, sizeof sx));
    if (at->keepdim) {
        out->shape[d] = 1;
    } else {
        for (int i = d; i < x->ndim - 1; i++)
            out->shape[i] = x->shape[i + 1];
        out->ndim--;
    }
    return LT_OK;
}

enum lt_status lt_infer_sum(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)n_in;
    enum lt_status st = reduced("sum", attrs, &in[0], 0, &out[0], msg);
    out[0].dtype = lt_dtype_is_float(in[0].dtype) ? LT_DTYPE_F32 : LT_DTYPE_I32;
    return st;
}

enum lt_status lt_infer_mean(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)n_in;
    enum lt_status st = reduced("mean", attrs, &in[0], 0, &out[0], msg);
    out[0].dtype = LT_DTYPE_F32;
    return st;
}

enum lt_status lt_infer_max(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)n_in;
    return reduced("max", attrs, &in[0], 1, &out[0], msg);
}

enum lt_status lt_infer_argmax(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    (void)n_in;
    enum lt_status st = reduced("argmax", attrs, &in[0], 1, &out[0], msg);
    out[0].dtype = LT_DTYPE_I32;
    return st;
}

/* a and b: one dtype, b's shape equal to a's or a suffix of it (as for add). */
enum lt_status lt_infer_eq(const void *attrs, int n_in, const struct lt_kview *in,
                           struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    enum lt_status st = lt_infer_want_one_dtype("eq", &in[0], &in[1], msg);
    if (st == LT_OK)
        st = lt_infer_want_suffix("eq", &in[0], &in[1], msg);
    if (st != LT_OK)
        return st;
    lt_view_like(&out[0], &in[0]);
    out[0].dtype = LT_DTYPE_U8;
    return LT_OK;
}

/* topk: values in x's dtype and i32 indices, both x's shape with the last dim k. */
enum lt_status lt_infer_topk(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_topk_attrs *at = attrs;
    const struct lt_kview *x = &in[0];
    char sx[96];
    if (x->ndim < 1)
        return lt_infer_fail(msg, "topk: needs at least 1 dim, got shape %s",
                             lt_shape_str(x, sx, sizeof sx));
    int64_t n = x->shape[x->ndim - 1];
    if (at->k < 0 || at->k > n)
        return lt_infer_fail(msg, "topk: k = %d does not fit the last dim of shape %s (0 .. %lld)",
                             at->k, lt_shape_str(x, sx, sizeof sx), (long long)n);
    lt_view_like(&out[0], x);
    out[0].shape[x->ndim - 1] = at->k;
    out[1] = out[0];
    out[1].dtype = LT_DTYPE_I32;
    return LT_OK;
}

/* multinomial: float probabilities (..., V), V >= 1, one i32 draw per row: (..., 1). */
enum lt_status lt_infer_multinomial(const void *attrs, int n_in, const struct lt_kview *in,
                                    struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    const struct lt_kview *p = &in[0];
    char sp[96];
    enum lt_status st = lt_infer_want_float("multinomial", in, 0, msg);
    if (st != LT_OK)
        return st;
    if (p->ndim < 1 || p->shape[p->ndim - 1] == 0)
        return lt_infer_fail(msg, "multinomial: probabilities %s have no last dim to draw from",
                             lt_shape_str(p, sp, sizeof sp));
    lt_view_like(&out[0], p);
    out[0].dtype = LT_DTYPE_I32;
    out[0].shape[p->ndim - 1] = 1;
    return LT_OK;
}
