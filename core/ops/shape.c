/* Shape inference for the ops that move elements without changing them: reshape,
 * transpose (of the last two dims), concat, permute and narrow. Any dtype. */
#include <stdint.h>

#include "core/ops/ops.h"

enum lt_status lt_infer_reshape(const void *attrs, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_reshape_attrs *at = attrs;
    const struct lt_kview *x = &in[0];
    char sx[96], st[128];
    if (at->ndim < 0 || at->ndim > LT_MAX_DIMS)
        return lt_infer_fail(msg, "reshape: the new shape has %d dims; allowed are 0 to %d",
                             at->ndim, LT_MAX_DIMS);
    struct lt_kview t = {.dtype = x->dtype, .ndim = at->ndim};
    int free_dim = -1;
    int64_t known = 1; /* product of the sizes other than -1 */
    for (int i = 0; i < at->ndim; i++)
        t.shape[i] = at->shape[i];
    lt_shape_str(&t, st, sizeof st);
    for (int i = 0; i < at->ndim; i++) {
        int64_t s = at->shape[i];
        if (s == -1 && free_dim >= 0)
            return lt_infer_fail(msg, "reshape: new shape %s has more than one -1", st);
        if (s == -1) {
            free_dim = i;
        } else if (s < 0) {
            return lt_infer_fail(msg, "reshape: new shape %s has a negative size", st);
        } else {
            if (s > 0 && known > INT64_MAX / s)
                return lt_infer_fail(msg, "reshape: new shape %s has too many elements", st);
            known *= s;
        }
    }
    int64_t n = lt_kview_numel(x);
    if (free_dim >= 0 && known == 0)
        return lt_infer_fail(msg,
                             "reshape: cannot reshape %s into %s: the -1 could be any size "
                             "when the other sizes multiply to 0",
                             lt_shape_str(x, sx, sizeof sx), st);
    if (free_dim >= 0 ? n % known != 0 : n != known)
        return lt_infer_fail(msg, "reshape: cannot reshape %s (%lld elements) into %s",
                             lt_shape_str(x, sx, sizeof sx), (long long)n, st);
    if (free_dim >= 0)
        t.shape[free_dim] = n / known;
    out[0] = t;
    return LT_OK;
}

enum lt_status lt_infer_transpose(const void *attrs, int n_in, const struct lt_kview *in,
                                  struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    const struct lt_kview *x = &in[0];
    char sx[96];
    if (x->ndim < 2)
        return lt_infer_fail(msg, "transpose: needs at least 2 dims, got shape %s",
                             lt_shape_str(x, sx, sizeof sx));
    lt_view_like(&out[0], x);
    out[0].shape[x->ndim - 2] = x->shape[x->ndim - 1];
    out[0].shape[x->ndim - 1] = x->shape[x->ndim - 2];
    return LT_OK;
}

enum lt_status lt_infer_concat(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    const struct lt_concat_attrs *at = attrs;
    const struct lt_kview *x = &in[0];
    char sx[96], si[96];
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    if (d < 0 || d >= x->ndim)
        return lt_infer_fail(msg, "concat: dim %d is out of range for shape %s", at->dim,
                             lt_shape_str(x, sx, sizeof sx));
    enum lt_status st = lt_infer_want_dtype_of_first("concat", n_in, in, msg);
    if (st != LT_OK)
        return st;
    int64_t total = 0;
    for (int i = 0; i < n_in; i++) {
        const struct lt_kview *v = &in[i];
        int same = v->ndim == x->ndim;
        for (int k = 0; same && k < x->ndim; k++)
            same = k == d || v->shape[k] == x->shape[k];
        if (!same)
            return lt_infer_fail(msg,
                                 "concat: input %d has shape %s but input 1 has %s: all dims "
                                 "but the one concatenated along must agree",
                                 i + 1, lt_shape_str(v, si, sizeof si),
                                 lt_shape_str(x, sx, sizeof sx));
        total += v->shape[d];
    }
    lt_view_like(&out[0], x);
    out[0].shape[d] = total;
    return LT_OK;
}

/* Writes permute's dims as "(0, 2, 1, 3)" into buf; returns buf. at->ndim is in range. */
static const char *dims_str(const struct lt_permute_attrs *at, char *buf, size_t size) {
    struct lt_kview d = {.ndim = at->ndim};
    for (int i = 0; i < at->ndim; i++)
        d.shape[i] = at->dims[i];
    return lt_shape_str(&d, buf, size);
}

enum lt_status lt_infer_permute(const void *attrs, int n_in, const struct lt_kview *in,
                                struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_permute_attrs *at = attrs;
    const struct lt_kview *x = &in[0];
    char sx[96], sd[96];
    if (at->ndim < 0 || at->ndim > LT_MAX_DIMS)
        return lt_infer_fail(msg, "permute: %d dims given; allowed are 0 to %d", at->ndim,
                             LT_MAX_DIMS);
    if (at->ndim != x->ndim)
        return lt_infer_fail(msg, "permute: dims %s do not fit shape %s: want %d dims, got %d",
                             dims_str(at, sd, sizeof sd), lt_shape_str(x, sx, sizeof sx), x->ndim,
                             at->ndim);
    unsigned seen = 0; /* bit d: x's dim d is named */
    struct lt_kview t = {.dtype = x->dtype, .ndim = x->ndim};
    for (int i = 0; i < x->ndim; i++) {
        int d = at->dims[i] < 0 ? at->dims[i] + x->ndim : at->dims[i];
        if (d < 0 || d >= x->ndim)
            return lt_infer_fail(msg, "permute: dim %d is out of range for shape %s", at->dims[i],
                                 lt_shape_str(x, sx, sizeof sx));
        if (seen & (1u << d))
            return lt_infer_fail(msg,
                                 "permute: dims %s are not a permutation of the dims of shape "
                                 "%s: dim %d is named twice",
                                 dims_str(at, sd, sizeof sd), lt_shape_str(x, sx, sizeof sx), d);
        seen |= 1u << d;
        t.shape[i] = x->shape[d];
    }
    out[0] = t;
    return LT_OK;
}

enum lt_status lt_infer_narrow(const void *attrs, int n_in, const struct lt_kview *in,
                               struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_narrow_attrs *at = attrs;
    const struct lt_kview *x = &in[0];
    char sx[96];
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    if (d < 0 || d >= x->ndim)
        return lt_infer_fail(msg, "narrow: dim %d is out of range for shape %s", at->dim,
                             lt_shape_str(x, sx, sizeof sx));
    int64_t size = x->shape[d], start = at->start < 0 ? at->start + size : at->start;
    if (start < 0 || start > size)
        return lt_infer_fail(msg, "narrow: start %lld is out of range for dim %d of shape %s",
                             (long long)at->start, at->dim, lt_shape_str(x, sx, sizeof sx));
    if (at->length < 0 || at->length > size - start)
        return lt_infer_fail(msg,
                             "narrow: length %d from start %lld does not fit dim %d of shape %s "
                             "(size %lld)",
                             at->length, (long long)start, at->dim, lt_shape_str(x, sx, sizeof sx),
                             (long long)size);
    lt_view_like(&out[0], x);
    out[0].shape[d] = at->length;
    return LT_OK;
}
