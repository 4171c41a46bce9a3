/* What an op is, for every layer: the limits on dims and inputs, statuses, dtypes, the op
 * enum (from ops.def) and each op's attribute struct. The public API (core/lutra.h)
 * shows these; the backends' interface (kernels/kernels.h) builds on them.
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
enum lt_precision_class { LT_PREC_HALF, LT_PREC_F32, LT_PREC_FOLLOW };

enum lt_op {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec) LT_OP_##ID,
#include "ops.def"
#undef LT_OP
    LT_OP_COUNT
};

/* ---- attributes: what an op needs besides its tensors --------------------------------
 * Shapes use PyTorch's layouts: images (N, C, H, W), conv weights (O, C/groups, KH, KW),
 * linear weights (out, in). Dims are 0-based here; the Lua API is 1-based.
 */

struct lt_no_attrs {
    char unused;
};

/* conv2d(x (N, C, H, W), w (O, C/groups, KH, KW) [, bias (O)]) -> (N, O, OH, OW) */
struct lt_conv2d_attrs {
    int stride[2], padding[2], dilation[2]; /* (h, w); stride and dilation >= 1 */
    int groups;                             /* >= 1, divides C and O */
};

/* max_pool2d / avg_pool2d(x (N, C, H, W)) -> (N, C, OH, OW), OH = (H + 2p - k) / s + 1.
 * Max pooling pads with -inf; avg pooling divides by k*k when count_include_pad
 * (PyTorch's default), else by the count of in-image elements. */
struct lt_pool2d_attrs {
    int kernel[2], stride[2], padding[2];
    int count_include_pad;
};

/* scale(x) = alpha * x */
struct lt_scale_attrs {
    float alpha;
};

/* cast(x) -> x converted to `dtype` (round to nearest even). Gradients are f32
 * whatever the forward dtype, so the backward passes the gradient through. */
struct lt_cast_attrs {
    enum lt_dtype dtype;
};

/* reshape(x) -> x with `shape` (same count of elements; one entry may be -1) */
struct lt_reshape_attrs {
    int ndim;
    int64_t shape[LT_MAX_DIMS];
};

/* concat(x1, ..., xn) along dim (0-based, may be negative); other dims must agree */
struct lt_concat_attrs {
    int dim;
};

/* cross_entropy(logits (N, C), targets i32 (N)) -> f32 (2) = {sum of losses, count}.
 * The loss sums over targets != ignore_index; the count is how many those are, so that
 * accumulation can divide once by the step's count. With label smoothing e the loss of
 * one row is (1 - e) * -logp[y] + e * mean_c(-logp[c]), as in PyTorch. A target outside
 * [0, C) that is not ignore_index fails with LT_EINVAL. Backward reads the logits, the
 * targets and element 0 of gout[0] (the count has no gradient). */
struct lt_cross_entropy_attrs {
    float label_smoothing;
    int ignore_index;
};
/* mse(pred, target) -> f32 (2) = {sum of squared differences, count of elements} */

/* dropout(x (N, ...)) -> x * keep / (1 - p). The keep mask is
 * lt_dropout_keep(seed, layer, epoch, sample_base + n, element within the sample, p)
 * (kernels/rng.h), so it depends on the sample, never on the batch it came in. */
struct lt_dropout_attrs {
    float p;        /* in [0, 1) */
    uint32_t layer; /* distinguishes the dropout layers of one model */
};

/* batch_norm2d(x (N, C, H, W), weight (C), bias (C), running_mean (C), running_var (C))
 *   -> y (N, C, H, W), save_mean (C), save_invstd (C).
 * Training: normalises with the batch statistics and updates the running ones in place
 * (the one op that writes into inputs: the running statistics, which are `state`)
 * (running = (1 - momentum) * running + momentum * batch, unbiased variance), as
 * PyTorch. Evaluation: normalises with the running statistics. Never a gradient for the
 * running statistics. */
struct lt_batch_norm_attrs {
    float eps, momentum;
    int training;
};

/* layer_norm(x (..., D), weight (D), bias (D)) -> y, mean (rows), rstd (rows) */
struct lt_layer_norm_attrs {
    float eps;
};

/* embedding(weight (V, D), ids i32 (...)) -> (..., D); an id outside [0, V) fails with
 * LT_EINVAL. */

/* sum / mean / max / argmax(x) over all elements (all != 0) or over one dim (may be
 * negative), keeping that dim as 1 when keepdim. Result dtypes: sum of floats -> f32,
 * of i32/u8 -> i32; mean -> f32; max -> the input's; argmax -> i32 (0-based index of
 * the first maximum; NaN counts as the largest). Any dtype is accepted. */
struct lt_reduce_attrs {
    int all, dim, keepdim;
};
/* eq(a, b) -> u8, 1 where equal; b has a's shape or a suffix of it. */

/* Only output 0 of an op carries a gradient; further outputs are saved statistics.
 * Elementwise binary ops (add, sub, mul): b has a's shape or a suffix of it
 * (broadcast over leading dims); the output has a's shape. matmul(a (..., M, K),
 * b (K, N) or (..., K, N)) -> (..., M, N). linear(x (..., in), w (out, in) [, b (out)])
 * -> (..., out). transpose swaps the last two dims. softmax and log_softmax work on the
 * last dim. global_avg_pool (N, C, H, W) -> (N, C, 1, 1). */

/* Bytes of one element of dt (0 for a value that is no dtype). Kernels and the CUDA plugin
 * use this; the core's lt_dtype_size is the same. */
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
