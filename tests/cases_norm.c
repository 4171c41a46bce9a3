/* The normalisation ops' case table: every backend is compared with the reference on
 * these, and the reference's gradients are checked by finite differences (op_check.c).
 * Running statistics (inputs 4 and 5 of batch_norm2d) never get a gradient. */
#include "tests/op_check.h"

#define RUNNING_STATS ((1u << 3) | (1u << 4))

static const struct lt_batch_norm_attrs bn_train = {.eps = 1e-5f, .momentum = 0.1f,
                                                    .training = 1};
static const struct lt_batch_norm_attrs bn_eval = {.eps = 1e-5f, .momentum = 0.1f,
                                                   .training = 0};
static const struct lt_layer_norm_attrs ln = {.eps = 1e-5f};

/* batch_norm2d's five inputs for x (n, c, h, w): weight, bias, running mean and (> 0)
 * running variance */
#define BN_INPUTS(n, c, h, w)                                                                      \
    IN_F32(4, n, c, h, w), IN_F32(1, c), IN_F32(1, c), IN_F32(1, c), IN_POSITIVE(1, c)

/* layer_norm's three inputs for x of `ndim` dims ending in d */
#define LN_INPUTS(ndim, d, ...) IN_F32(ndim, __VA_ARGS__), IN_F32(1, d), IN_F32(1, d)

const struct op_case norm_cases[] = {
    OP_CASE_NO_GRAD("batch_norm2d train (3, 5, 4, 3)", LT_OP_BATCH_NORM2D, &bn_train, RUNNING_STATS,
                    BN_INPUTS(3, 5, 4, 3)),
    OP_CASE_NO_GRAD("batch_norm2d train (1, 3, 2, 5)", LT_OP_BATCH_NORM2D, &bn_train, RUNNING_STATS,
                    BN_INPUTS(1, 3, 2, 5)),
    OP_CASE_NO_GRAD("batch_norm2d train (6, 4, 1, 1)", LT_OP_BATCH_NORM2D, &bn_train, RUNNING_STATS,
                    BN_INPUTS(6, 4, 1, 1)),
    OP_CASE_NO_GRAD("batch_norm2d eval (3, 5, 4, 3)", LT_OP_BATCH_NORM2D, &bn_eval, RUNNING_STATS,
                    BN_INPUTS(3, 5, 4, 3)),
    OP_CASE_NO_GRAD("batch_norm2d eval (1, 2, 1, 1)", LT_OP_BATCH_NORM2D, &bn_eval, RUNNING_STATS,
                    BN_INPUTS(1, 2, 1, 1)),
    /* planes and rows longer than a vector, not a multiple of one */
    OP_CASE_NO_GRAD("batch_norm2d train (2, 3, 5, 7)", LT_OP_BATCH_NORM2D, &bn_train, RUNNING_STATS,
                    BN_INPUTS(2, 3, 5, 7)),
    OP_CASE("layer_norm (3, 37)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(2, 37, 3, 37)),
    OP_CASE("layer_norm (3, 7)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(2, 7, 3, 7)),
    OP_CASE("layer_norm (2, 3, 5)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(3, 5, 2, 3, 5)),
    OP_CASE("layer_norm (11,)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(1, 11, 11)),
    OP_CASE("layer_norm (4, 1)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(2, 1, 4, 1)),
    /* rows longer than the half fast path widens on its stack (2048 floats) */
    OP_CASE("layer_norm (2, 2100)", LT_OP_LAYER_NORM, &ln, LN_INPUTS(2, 2100, 2, 2100)),
};
const int norm_case_count = (int)(sizeof norm_cases / sizeof norm_cases[0]);
