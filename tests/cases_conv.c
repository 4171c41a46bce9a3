/* The conv family's cases: conv2d over odd shapes and every attribute it has (stride,
 * padding, dilation, groups, no bias, non-square kernels), and conv2d_max_pool2d: the
 * shapes its fast kernel takes (a first layer's: few taps, 16 filters a block, 2x2
 * windows, odd sizes leaving a row or column to no window) and ones it leaves to the
 * reference. Each gradient check stays small: it runs two forwards per input element.
 */
#include "tests/op_check.h"

static const struct lt_conv2d_attrs plain = {{1, 1}, {0, 0}, {1, 1}, 1};
static const struct lt_conv2d_attrs strided = {{2, 2}, {1, 1}, {1, 1}, 1};
static const struct lt_conv2d_attrs dilated = {{1, 1}, {2, 1}, {2, 2}, 1};
static const struct lt_conv2d_attrs mixed = {{2, 3}, {0, 2}, {1, 2}, 1};
static const struct lt_conv2d_attrs grouped = {{1, 2}, {1, 0}, {1, 1}, 2};
static const struct lt_conv2d_attrs depthwise = {{2, 1}, {1, 1}, {1, 1}, 5};
static const struct lt_conv2d_attrs pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
static const struct lt_conv2d_attrs grouped_strided = {{2, 2}, {2, 1}, {2, 1}, 3};

/* stride, padding, dilation, groups, pool kernel, pool stride, pool padding, relu */
static const struct lt_conv_pool_attrs first_pool = {{1, 1}, {1, 1}, {1, 1}, 1,
                                                     {2, 2}, {2, 2}, {0, 0}, 0};
static const struct lt_conv_pool_attrs first_relu = {{1, 1}, {1, 1}, {1, 1}, 1,
                                                     {2, 2}, {2, 2}, {0, 0}, 1};
static const struct lt_conv_pool_attrs valid_relu = {{1, 1}, {0, 0}, {1, 1}, 1,
                                                     {2, 2}, {2, 2}, {0, 0}, 1};
static const struct lt_conv_pool_attrs wide_pool = {{1, 1}, {2, 1}, {1, 1}, 1,
                                                    {2, 2}, {2, 2}, {0, 0}, 0};
static const struct lt_conv_pool_attrs strided_relu = {{2, 1}, {1, 0}, {1, 2}, 1,
                                                       {3, 2}, {2, 1}, {1, 0}, 1};

/* x (N, C, H, W), weight (O, C/groups, KH, KW), bias (O) */
const struct op_case conv_cases[] = {
    OP_CASE("conv2d 3x3 with bias", LT_OP_CONV2D, &plain, IN_F32(4, 3, 5, 7, 9),
            IN_F32(4, 4, 5, 3, 3), IN_F32(1, 4)),
    OP_CASE("conv2d stride 2 padding 1, 3x2 kernel, no bias", LT_OP_CONV2D, &strided,
            IN_F32(4, 3, 5, 7, 9), IN_F32(4, 4, 5, 3, 2)),
    OP_CASE("conv2d dilation 2 padding (2, 1)", LT_OP_CONV2D, &dilated, IN_F32(4, 2, 3, 7, 9),
            IN_F32(4, 4, 3, 3, 3), IN_F32(1, 4)),
    OP_CASE("conv2d stride (2, 3) padding (0, 2) dilation (1, 2)", LT_OP_CONV2D, &mixed,
            IN_F32(4, 2, 3, 9, 8), IN_F32(4, 3, 3, 2, 3), IN_F32(1, 3)),
    OP_CASE("conv2d groups 2", LT_OP_CONV2D, &grouped, IN_F32(4, 3, 6, 5, 7), IN_F32(4, 4, 3, 3, 2),
            IN_F32(1, 4)),
    OP_CASE("conv2d depthwise, 2 filters per channel", LT_OP_CONV2D, &depthwise,
            IN_F32(4, 2, 5, 7, 9), IN_F32(4, 10, 1, 3, 3)),
    OP_CASE("conv2d 1x1", LT_OP_CONV2D, &plain, IN_F32(4, 3, 5, 3, 5), IN_F32(4, 7, 5, 1, 1),
            IN_F32(1, 7)),
    OP_CASE_NO_GRAD("conv2d first layer: 1 channel, padding 1, no input gradient", LT_OP_CONV2D,
                    &pad1, 1u, IN_F32(4, 3, 1, 8, 7), IN_F32(4, 8, 1, 3, 3), IN_F32(1, 8)),
    OP_CASE("conv2d 16 -> 9 channels, padding 1", LT_OP_CONV2D, &pad1, IN_F32(4, 2, 16, 5, 6),
            IN_F32(4, 9, 16, 3, 3), IN_F32(1, 9)),
    OP_CASE("conv2d groups 3, stride 2, padding (2, 1), dilation (2, 1), no bias", LT_OP_CONV2D,
            &grouped_strided, IN_F32(4, 2, 6, 9, 8), IN_F32(4, 9, 2, 3, 3)),
    OP_CASE_NO_GRAD("conv2d frozen weight: bias and input gradients", LT_OP_CONV2D, &pad1, 2u,
                    IN_F32(4, 2, 3, 5, 6), IN_F32(4, 4, 3, 3, 3), IN_F32(1, 4)),
    OP_CASE_NO_GRAD("conv2d_max_pool2d first layer: 1 -> 16 channels, padding 1, odd width",
                    LT_OP_CONV2D_MAX_POOL2D, &first_pool, 1u, IN_F32(4, 2, 1, 8, 7),
                    IN_F32(4, 16, 1, 3, 3), IN_F32(1, 16)),
    OP_CASE_NO_GRAD("conv2d_max_pool2d 3 -> 32 channels, no padding or bias, odd height, relu",
                    LT_OP_CONV2D_MAX_POOL2D, &valid_relu, 1u, IN_F32(4, 2, 3, 9, 8),
                    IN_F32(4, 32, 3, 3, 3)),
    OP_CASE_NO_GRAD("conv2d_max_pool2d 1 -> 48 channels (a pair of blocks and one alone), relu",
                    LT_OP_CONV2D_MAX_POOL2D, &first_relu, 1u, IN_F32(4, 1, 1, 7, 8),
                    IN_F32(4, 48, 1, 3, 3), IN_F32(1, 48)),
    OP_CASE_NO_GRAD("conv2d_max_pool2d 2 channels of 5x3 taps, padding (2, 1)",
                    LT_OP_CONV2D_MAX_POOL2D, &wide_pool, 1u, IN_F32(4, 3, 2, 6, 7),
                    IN_F32(4, 16, 2, 5, 3), IN_F32(1, 16)),
    OP_CASE("conv2d_max_pool2d strided, dilated, 3x2 windows, relu, the input's gradient",
            LT_OP_CONV2D_MAX_POOL2D, &strided_relu, IN_F32(4, 2, 3, 9, 8), IN_F32(4, 5, 3, 3, 2),
            IN_F32(1, 5)),
};
const int conv_case_count = sizeof conv_cases / sizeof conv_cases[0];
