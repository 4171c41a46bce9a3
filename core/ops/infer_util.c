/* Helpers that every op's shape inference shares: messages and common checks. */
#include <stdarg.h>
#include <stdio.h>

#include "core/ops/ops.h"

const char *lt_dtype_name(enum lt_dtype dt) {
    static const char *const names[LT_DTYPE_COUNT] = {"f32", "f16", "bf16", "i32", "u8"};
    return (unsigned)dt < LT_DTYPE_COUNT ? names[dt] : "?";
}

const char *lt_shape_str(const struct lt_kview *v, char *buf, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < v->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)v->shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, v->ndim == 1 ? ",)" : ")");
    return buf;
}

enum lt_status lt_infer_fail(char *msg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, LT_KMSG_SIZE, fmt, ap);
    va_end(ap);
    return LT_EINVAL;
}

enum lt_status lt_infer_want_dtype(const char *op, const struct lt_kview *in, int i,
                                   enum lt_dtype dt, char *msg) {
    if (in[i].dtype == dt)
        return LT_OK;
    return lt_infer_fail(msg, "%s: input %d must be %s, got %s", op, i + 1, lt_dtype_name(dt),
                         lt_dtype_name(in[i].dtype));
}

int lt_dtype_is_float(enum lt_dtype dt) {
    return dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
}

enum lt_status lt_infer_want_float(const char *op, const struct lt_kview *in, int i, char *msg) {
    if (lt_dtype_is_float(in[i].dtype))
        return LT_OK;
    return lt_infer_fail(msg, "%s: input %d must be a float tensor, got %s", op, i + 1,
                         lt_dtype_name(in[i].dtype));
}

enum lt_status lt_infer_want_one_dtype(const char *op, const struct lt_kview *a,
                                       const struct lt_kview *b, char *msg) {
    if (a->dtype == b->dtype)
        return LT_OK;
    return lt_infer_fail(msg, "%s: inputs must have one dtype, got %s and %s", op,
                         lt_dtype_name(a->dtype), lt_dtype_name(b->dtype));
}

enum lt_status lt_infer_want_dtype_of_first(const char *op, int n_in, const struct lt_kview *in,
                                            char *msg) {
    for (int i = 1; i < n_in; i++)
        if (in[i].dtype != in[0].dtype)
            return lt_infer_fail(msg, "%s: input %d is %s but input 1 is %s", op, i + 1,
                                 lt_dtype_name(in[i].dtype), lt_dtype_name(in[0].dtype));
    return LT_OK;
}

enum lt_status lt_infer_want_suffix(const char *op, const struct lt_kview *a,
                                    const struct lt_kview *b, char *msg) {
    char sa[96], sb[96];
    int lead = a->ndim - b->ndim, fits = lead >= 0;
    for (int i = 0; fits && i < b->ndim; i++)
        fits = b->shape[i] == a->shape[lead + i];
    if (fits)
        return LT_OK;
    return lt_infer_fail(msg,
                         "%s: shapes %s and %s do not broadcast: the second must equal the "
                         "first or a suffix of it",
                         op, lt_shape_str(a, sa, sizeof sa), lt_shape_str(b, sb, sizeof sb));
}

enum lt_status lt_infer_float_like_input(const char *op, const struct lt_kview *in,
                                         struct lt_kview *out, char *msg) {
    enum lt_status st = lt_infer_want_float(op, in, 0, msg);
    if (st == LT_OK)
        lt_view_like(&out[0], &in[0]);
    return st;
}

void lt_view_like(struct lt_kview *out, const struct lt_kview *v) {
    *out = *v;
    out->data = NULL;
}
