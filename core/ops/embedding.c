/* Shape inference for embedding: weight (V, D) looked up by i32 ids of any shape gives
 * (ids..., D) in the weight's dtype. */
#include "core/ops/ops.h"

enum lt_status lt_infer_embedding(const void *attrs, int n_in, const struct lt_kview *in,
                                  struct lt_kview *out, char *msg) {
    (void)attrs;
    (void)n_in;
    const struct lt_kview *weight = &in[0], *ids = &in[1];
    char sw[96], si[96];
    enum lt_status st = lt_infer_want_float("embedding", in, 0, msg);
    if (st == LT_OK && ids->dtype != LT_DTYPE_I32)
        st = lt_infer_fail(msg, "embedding: ids must be i32, got %s", lt_dtype_name(ids->dtype));
    if (st != LT_OK)
        return st;
    if (weight->ndim != 2)
        return lt_infer_fail(msg, "embedding: weight must be (V, D), got %s",
                             lt_shape_str(weight, sw, sizeof sw));
    if (ids->ndim + 1 > LT_MAX_DIMS)
        return lt_infer_fail(msg, "embedding: ids %s with weight %s would give more than %d "
                                  "dims",
                             lt_shape_str(ids, si, sizeof si),
                             lt_shape_str(weight, sw, sizeof sw), LT_MAX_DIMS);
    lt_view_like(&out[0], ids);
    out[0].dtype = weight->dtype;
    out[0].ndim = ids->ndim + 1;
    out[0].shape[ids->ndim] = weight->shape[1];
    return LT_OK;
}
