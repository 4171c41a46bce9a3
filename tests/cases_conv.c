/* The conv family's cases: conv2d over odd shapes and every attribute it has (stride,
 * padding, dilation, groups, no bias, non-square kernels). Each gradient check stays
 * small: it runs two forwards per input element.
 */
#include "tests/op_check.h"

#define F32(fill_, ...) {.dtype = LT_DTYPE_F32, .ndim = 4, .shape = {__VA_ARGS__}, .fill = fill_}
#define BIAS(o) {.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {o}, .fill = FILL_UNIFORM}

static const struct lt_conv2d_attrs plain = {{1, 1}, {0, 0}, {1, 1}, 1};
static const struct lt_conv2d_attrs strided = {{2, 2}, {1, 1}, {1, 1}, 1};
static const struct lt_conv2d_attrs dilated = {{1, 1}, {2, 1}, {2, 2}, 1};
static const struct lt_conv2d_attrs mixed = {{2, 3}, {0, 2}, {1, 2}, 1};
static const struct lt_conv2d_attrs grouped = {{1, 2}, {1, 0}, {1, 1}, 2};
static const struct lt_conv2d_attrs depthwise = {{2, 1}, {1, 1}, {1, 1}, 5};

const struct op_case conv_cases[] = {
    {"conv2d 3x3 with bias", LT_OP_CONV2D, &plain, 3,
     {F32(FILL_UNIFORM, 3, 5, 7, 9), F32(FILL_UNIFORM, 4, 5, 3, 3), BIAS(4)}, 0, 0},
    {"conv2d stride 2 padding 1, 3x2 kernel, no bias", LT_OP_CONV2D, &strided, 2,
     {F32(FILL_UNIFORM, 3, 5, 7, 9), F32(FILL_UNIFORM, 4, 5, 3, 2)}, 0, 0},
    {"conv2d dilation 2 padding (2, 1)", LT_OP_CONV2D, &dilated, 3,
     {F32(FILL_UNIFORM, 2, 3, 7, 9), F32(FILL_UNIFORM, 4, 3, 3, 3), BIAS(4)}, 0, 0},
    {"conv2d stride (2, 3) padding (0, 2) dilation (1, 2)", LT_OP_CONV2D, &mixed, 3,
     {F32(FILL_UNIFORM, 2, 3, 9, 8), F32(FILL_UNIFORM, 3, 3, 2, 3), BIAS(3)}, 0, 0},
    {"conv2d groups 2", LT_OP_CONV2D, &grouped, 3,
     {F32(FILL_UNIFORM, 3, 6, 5, 7), F32(FILL_UNIFORM, 4, 3, 3, 2), BIAS(4)}, 0, 0},
    {"conv2d depthwise, 2 filters per channel", LT_OP_CONV2D, &depthwise, 2,
     {F32(FILL_UNIFORM, 2, 5, 7, 9), F32(FILL_UNIFORM, 10, 1, 3, 3)}, 0, 0},
    {"conv2d 1x1", LT_OP_CONV2D, &plain, 3,
     {F32(FILL_UNIFORM, 3, 5, 3, 5), F32(FILL_UNIFORM, 7, 5, 1, 1), BIAS(7)}, 0, 0},
};
const int conv_case_count = sizeof conv_cases / sizeof conv_cases[0];
