/* The loss family's case table: cross_entropy with and without label smoothing and
 * ignored rows, mse on odd shapes. Targets are integers, so they get no gradient. */
#include "tests/op_check.h"

#define TARGETS_NO_GRAD (1u << 1)

static const struct lt_cross_entropy_attrs plain = {0.0f, -100};
static const struct lt_cross_entropy_attrs smooth = {0.2f, -100};
/* IN_IDS with a negative max plants -1 targets */
static const struct lt_cross_entropy_attrs ignore = {0.0f, -1};
static const struct lt_cross_entropy_attrs ignore_smooth = {0.15f, -1};
static const struct lt_cross_entropy_attrs all_smooth = {1.0f, -100};

const struct op_case loss_cases[] = {
    OP_CASE_NO_GRAD("cross_entropy 7x5", LT_OP_CROSS_ENTROPY, &plain, TARGETS_NO_GRAD,
                    IN_F32(2, 7, 5), IN_IDS(5, 1, 7)),
    OP_CASE_NO_GRAD("cross_entropy 1x1", LT_OP_CROSS_ENTROPY, &plain, TARGETS_NO_GRAD,
                    IN_F32(2, 1, 1), IN_IDS(1, 1, 1)),
    OP_CASE_NO_GRAD("cross_entropy 13x3 smoothing", LT_OP_CROSS_ENTROPY, &smooth, TARGETS_NO_GRAD,
                    IN_F32(2, 13, 3), IN_IDS(3, 1, 13)),
    OP_CASE_NO_GRAD("cross_entropy 9x6 ignored", LT_OP_CROSS_ENTROPY, &ignore, TARGETS_NO_GRAD,
                    IN_F32(2, 9, 6), IN_IDS(-6, 1, 9)),
    OP_CASE_NO_GRAD("cross_entropy 11x4 ignored smoothing", LT_OP_CROSS_ENTROPY, &ignore_smooth,
                    TARGETS_NO_GRAD, IN_F32(2, 11, 4), IN_IDS(-4, 1, 11)),
    OP_CASE_NO_GRAD("cross_entropy 5x3 smoothing 1", LT_OP_CROSS_ENTROPY, &all_smooth,
                    TARGETS_NO_GRAD, IN_F32(2, 5, 3), IN_IDS(3, 1, 5)),
    /* more classes than a vector holds, and not a multiple of one */
    OP_CASE_NO_GRAD("cross_entropy 6x37 ignored smoothing", LT_OP_CROSS_ENTROPY, &ignore_smooth,
                    TARGETS_NO_GRAD, IN_F32(2, 6, 37), IN_IDS(-37, 1, 6)),
    OP_CASE("mse 5x3", LT_OP_MSE, NULL, IN_F32(2, 5, 3), IN_F32(2, 5, 3)),
    OP_CASE("mse 2x3x4", LT_OP_MSE, NULL, IN_F32(3, 2, 3, 4), IN_F32(3, 2, 3, 4)),
    OP_CASE("mse 1", LT_OP_MSE, NULL, IN_F32(1, 1), IN_F32(1, 1)),
    OP_CASE("mse 7x45", LT_OP_MSE, NULL, IN_F32(2, 7, 45), IN_F32(2, 7, 45)),
    OP_CASE_NO_GRAD("mse 17 target fixed", LT_OP_MSE, NULL, TARGETS_NO_GRAD, IN_F32(1, 17),
                    IN_F32(1, 17)),
};
const int loss_case_count = (int)(sizeof loss_cases / sizeof loss_cases[0]);
