/* Helpers that every op's shape inference shares: messages and common checks. */
#include <stdarg.h>
#include <stdio.h>

#include "core/ops/ops.h"

const char *lt_dtype_str(enum lt_dtype dt) {
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
    return lt_infer_fail(msg, "%s: input %d must be %s, got %s", op, i + 1, lt_dtype_str(dt),
                         lt_dtype_str(in[i].dtype));
}

enum lt_status lt_infer_want_float(const char *op, const struct lt_kview *in, int i, char *msg) {
    enum lt_dtype dt = in[i].dtype;
    if (dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16)
        return LT_OK;
    return lt_infer_fail(msg, "%s: input %d must be a float tensor, got %s", op, i + 1,
                         lt_dtype_str(dt));
}

void lt_view_like(struct lt_kview *out, const struct lt_kview *v) {
    *out = *v;
    out->data = NULL;
}
