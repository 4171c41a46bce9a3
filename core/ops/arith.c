/* Shape inference for the arithmetic ops: add, sub and mul (b broadcast over a's
 * leading dims), scale, and cast between dtypes. */
#include "core/ops/ops.h"

/* a and b: one float dtype, b's shape equal to a's or to a suffix of it; out is a's. */
static enum lt_status binary(const char *op, const struct lt_kview *in, struct lt_kview *out,
                             char *msg) {
    enum lt_status st = lt_infer_want_float(op, in, 0, msg);
    if (st == LT_OK)
        st = lt_infer_want_one_dtype(op, &in[0], &in[1], msg);
    if (st == LT_OK)
        st = lt_infer_want_suffix(op, &in[0], &in[1], msg);
    if (st == LT_OK)
        lt_view_like(&out[0], &in[0]);
    return st;
}

enum lt_status lt_infer_add(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return binary("add", in, out, msg);
}

enum lt_status lt_infer_sub(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return binary("sub", in, out, msg);
}

enum lt_status lt_infer_mul(const void *attrs, int n_in, const struct lt_kview *in,
                            struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return binary("mul", in, out, msg);
}

enum lt_status lt_infer_scale(const void *attrs, int n_in, const struct lt_kview *in,
                              struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    return lt_infer_float_like_input("scale", in, out, msg);
}

/* Casts go between the float dtypes, or from an integer dtype to f32 (labels and masks
 * into arithmetic). Float to integer has no agreed rounding, so it is refused. */
enum lt_status lt_infer_cast(const void *attrs, int n_in, const struct lt_kview *in,
                             struct lt_kview *out, char *msg) {
    (void)n_in;
    const struct lt_cast_attrs *at = attrs;
    enum lt_dtype from = in[0].dtype, to = at->dtype;
    if ((unsigned)to >= LT_DTYPE_COUNT)
        return lt_infer_fail(msg, "cast: unknown target dtype %d", (int)to);
    if ((unsigned)from >= LT_DTYPE_COUNT)
        return lt_infer_fail(msg, "cast: unknown input dtype %d", (int)from);
    if (!(lt_dtype_is_float(from) && lt_dtype_is_float(to)) &&
        !(!lt_dtype_is_float(from) && to == LT_DTYPE_F32))
        return lt_infer_fail(msg,
                             "cast: cannot cast %s to %s: casts go between f32, f16 and bf16, "
                             "or from i32 and u8 to f32",
                             lt_dtype_name(from), lt_dtype_name(to));
    lt_view_like(&out[0], &in[0]);
    out[0].dtype = to;
    return LT_OK;
}
