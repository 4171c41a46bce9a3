/* What an op is, for every layer: the limits on dims and inputs, statuses, dtypes, the op
 * enum (from ops.def) and each op's attribute struct (from attrs.def). The public API
 * (core/lutra.h) shows these; the backends' interface (kernels/kernels.h) builds on them.
 */
#ifndef LT_KERNEL_OPS_H
#define LT_KERNEL_OPS_H

#include <stddef.h>
#include <stdint.h>

#define LT_MAX_DIMS 8
#define LT_MAX_INPUTS 8
#define LT_MAX_OUTPUTS 4

/* Statuses: LT_OK or a negative failure. A user can cause every one of these. */
enum lt_status {
    LT_OK = 0,
    LT_EINVAL = -1,      /* bad argument, shape, config or data */
    LT_ENOMEM = -2,      /* an allocation failed, or a plan exceeds the memory limit */
    LT_EIO = -3,         /* a file could not be read or written */
    LT_ECUDA = -4,       /* the CUDA runtime or one of its libraries failed */
    LT_EUNSUPPORTED = -5 /* no kernel, backend or feature for this request */
};

enum lt_dtype {
    LT_DTYPE_F32,
    LT_DTYPE_F16,
    LT_DTYPE_BF16,
    LT_DTYPE_I32,
    LT_DTYPE_U8,
    LT_DTYPE_COUNT
};

/* Bits of an op's `backward_reads` mask (kernels/ops.def). */
#define LT_IN(i) (1u << (i))
#define LT_OUT(i) (1u << (LT_MAX_INPUTS + (i)))

/* How mixed precision treats an op (the last column of kernels/ops.def). */
enum lt_precision_class { LT_PREC_HALF, LT_PREC_F32, LT_PREC_FOLLOW, LT_PREC_STATS };

enum lt_op {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state) LT_OP_##ID,
#include "ops.def"
#undef LT_OP
    LT_OP_COUNT
};

/* ---- attributes: what an op needs besides its tensors --------------------------------
 * Each op's attribute struct (the op table's `attrs` column) is listed field by field in
 * kernels/attrs.def, which documents it; the structs are expanded from there, as the
 * binding's field tables are (lua/l_args.c).
 */

/* The attributes of an op that has none (C has no empty struct). */
struct lt_no_attrs {
    char unused;
};

/* The C declaration of a member of each kind (kernels/attrs.def). */
#define LT_DECL_INT(name) int name
#define LT_DECL_INT2(name) int name[2]
#define LT_DECL_FLOAT(name) float name
#define LT_DECL_BOOL(name) int name
#define LT_DECL_U32(name) uint32_t name
#define LT_DECL_DIM(name) int name
#define LT_DECL_INDEX(name) int64_t name
#define LT_DECL_DTYPE(name) enum lt_dtype name

#define LT_ATTRS(S) struct S {
#define LT_FIELD(S, name, kind, need, def) LT_DECL_##kind(name);
#define LT_SHAPE_FIELD(S, name, count, need)                                                       \
    int count;                                                                                     \
    int64_t name[LT_MAX_DIMS];
#define LT_DIMS_FIELD(S, name, count, need)                                                        \
    int count;                                                                                     \
    int name[LT_MAX_DIMS];
/* The closing `};` stays on one line (clang-format would split it). */
/* clang-format off */
#define LT_ATTRS_END(S) };
/* clang-format on */
#include "attrs.def"
#undef LT_ATTRS
#undef LT_FIELD
#undef LT_SHAPE_FIELD
#undef LT_DIMS_FIELD
#undef LT_ATTRS_END
#undef LT_DECL_INT
#undef LT_DECL_INT2
#undef LT_DECL_FLOAT
#undef LT_DECL_BOOL
#undef LT_DECL_U32
#undef LT_DECL_DIM
#undef LT_DECL_INDEX
#undef LT_DECL_DTYPE

/* What conv2d_max_pool2d with relu adds to the code of a window whose maximum is
 * positive (kernels/attrs.def). */
#define LT_CODE_RELU 128

/* conv2d_max_pool2d's attributes as its two parts' (kernels/attrs.def). Cannot fail. */
static inline void lt_conv_pool_split(const struct lt_conv_pool_attrs *a,
                                      struct lt_conv2d_attrs *conv, struct lt_pool2d_attrs *pool) {
    conv->groups = a->groups;
    pool->count_include_pad = 1;
    for (int d = 0; d < 2; d++) {
        conv->stride[d] = a->stride[d];
        conv->padding[d] = a->padding[d];
        conv->dilation[d] = a->dilation[d];
        pool->kernel[d] = a->pool_kernel[d];
        pool->stride[d] = a->pool_stride[d];
        pool->padding[d] = a->pool_padding[d];
    }
}

/* Ops without attributes:
 * mse(pred, target) -> f32 (2) = {sum of squared differences, count of elements}.
 * embedding(weight (V, D), ids i32 (...)) -> (..., D); an id outside [0, V) fails with
 * LT_EINVAL.
 * eq(a, b) -> u8, 1 where equal; b has a's shape or a suffix of it.
 *
 * Only output 0 of an op carries a gradient; further outputs are saved statistics.
 * Elementwise binary ops (add, sub, mul): b has a's shape or a suffix of it
 * (broadcast over leading dims); the output has a's shape. matmul(a (..., M, K),
 * b (..., K, N)) -> (..., M, N), the batch dims (...) broadcast as torch.matmul's (lined
 * up from the right, a missing or size-1 dim repeated; kernels/matmul_batch.h), the
 * gradients summed over the repeats. linear(x (..., in), w (out, in) [, b (out)])
 * -> (..., out). transpose swaps the last two dims. softmax and log_softmax work on the
 * last dim. global_avg_pool (N, C, H, W) -> (N, C, 1, 1). */

/* Bytes of one element of dt (0 for a value that is no dtype): one table for the API, the
 * core, the kernels and the CUDA plugin. Cannot fail. */
static inline size_t lt_dtype_bytes(enum lt_dtype dt) {
    switch (dt) {
    case LT_DTYPE_F32:
    case LT_DTYPE_I32:
        return 4;
    case LT_DTYPE_F16:
    case LT_DTYPE_BF16:
        return 2;
    case LT_DTYPE_U8:
        return 1;
    default:
        return 0;
    }
}

#endif
