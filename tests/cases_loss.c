/* The loss family's case table: cross_entropy with and without label smoothing and
 * ignored rows, mse on odd shapes. Targets are integers, so they get no gradient. */
#include "tests/op_check.h"

#define F32(nd, ...) {LT_DTYPE_F32, nd, {__VA_ARGS__}, FILL_UNIFORM, 0}
#define IDS(n, max) {LT_DTYPE_I32, 1, {n}, FILL_INDEX, max}

static const struct lt_cross_entropy_attrs plain = {0.0f, -100};
static const struct lt_cross_entropy_attrs smooth = {0.2f, -100};
/* FILL_INDEX with a negative max plants -1 targets */
static const struct lt_cross_entropy_attrs ignore = {0.0f, -1};
static const struct lt_cross_entropy_attrs ignore_smooth = {0.15f, -1};
static const struct lt_cross_entropy_attrs all_smooth = {1.0f, -100};

const struct op_case loss_cases[] = {
    {"cross_entropy 7x5", LT_OP_CROSS_ENTROPY, &plain, 2, {F32(2, 7, 5), IDS(7, 5)}, 2u, 0},
    {"cross_entropy 1x1", LT_OP_CROSS_ENTROPY, &plain, 2, {F32(2, 1, 1), IDS(1, 1)}, 2u, 0},
    {"cross_entropy 13x3 smoothing", LT_OP_CROSS_ENTROPY, &smooth, 2,
     {F32(2, 13, 3), IDS(13, 3)}, 2u, 0},
    {"cross_entropy 9x6 ignored", LT_OP_CROSS_ENTROPY, &ignore, 2,
     {F32(2, 9, 6), IDS(9, -6)}, 2u, 0},
    {"cross_entropy 11x4 ignored smoothing", LT_OP_CROSS_ENTROPY, &ignore_smooth, 2,
     {F32(2, 11, 4), IDS(11, -4)}, 2u, 0},
    {"cross_entropy 5x3 smoothing 1", LT_OP_CROSS_ENTROPY, &all_smooth, 2,
     {F32(2, 5, 3), IDS(5, 3)}, 2u, 0},
    {"mse 5x3", LT_OP_MSE, NULL, 2, {F32(2, 5, 3), F32(2, 5, 3)}, 0, 0},
    {"mse 2x3x4", LT_OP_MSE, NULL, 2, {F32(3, 2, 3, 4), F32(3, 2, 3, 4)}, 0, 0},
    {"mse 1", LT_OP_MSE, NULL, 2, {F32(1, 1), F32(1, 1)}, 0, 0},
    {"mse 17 target fixed", LT_OP_MSE, NULL, 2, {F32(1, 17), F32(1, 17)}, 2u, 0},
};
const int loss_case_count = (int)(sizeof loss_cases / sizeof loss_cases[0]);
