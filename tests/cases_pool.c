/* The pool family's cases: max and average pooling over odd shapes with overlapping
 * windows, padding, non-square kernels and both count_include_pad modes, and global
 * average pooling. Max pooling inputs have distinct values, so no window has a tie
 * that a finite difference could flip.
 */
#include "tests/op_check.h"

/* {kernel, stride, padding, count_include_pad} */
static const struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
static const struct lt_pool2d_attrs k3s2p1 = {{3, 3}, {2, 2}, {1, 1}, 1};
static const struct lt_pool2d_attrs k3s2p1_exclude = {{3, 3}, {2, 2}, {1, 1}, 0};
static const struct lt_pool2d_attrs k32 = {{3, 2}, {1, 2}, {1, 0}, 1};
static const struct lt_pool2d_attrs k23_exclude = {{2, 3}, {2, 1}, {1, 1}, 0};
static const struct lt_pool2d_attrs k3s1 = {{3, 3}, {1, 1}, {0, 0}, 1};
static const struct lt_pool2d_attrs k16s4 = {{16, 16}, {4, 4}, {0, 0}, 1};
static const struct lt_pool2d_attrs k17 = {{17, 17}, {3, 5}, {8, 8}, 1};
static const struct lt_no_attrs none = {0};

const struct op_case pool_cases[] = {
    OP_CASE("max_pool2d 2x2 stride 2", LT_OP_MAX_POOL2D, &k2s2, IN_DISTINCT(4, 3, 5, 7, 9)),
    /* output rows longer than a vector */
    OP_CASE("max_pool2d 2x2 stride 2, wide", LT_OP_MAX_POOL2D, &k2s2, IN_DISTINCT(4, 2, 3, 6, 38)),
    OP_CASE("max_pool2d 3x3 stride 2 padding 1", LT_OP_MAX_POOL2D, &k3s2p1,
            IN_DISTINCT(4, 3, 5, 7, 9)),
    OP_CASE("max_pool2d 3x2 stride (1, 2) padding (1, 0)", LT_OP_MAX_POOL2D, &k32,
            IN_DISTINCT(4, 2, 3, 7, 9)),
    /* windows inside the image along more columns than a vector holds */
    OP_CASE("max_pool2d 3x3 stride 2 padding 1, wide", LT_OP_MAX_POOL2D, &k3s2p1,
            IN_DISTINCT(4, 1, 2, 7, 41)),
    OP_CASE("max_pool2d 3x3 stride 1, wide", LT_OP_MAX_POOL2D, &k3s1, IN_DISTINCT(4, 1, 2, 5, 23)),
    /* the largest window whose argmax codes fit a byte (0 to 255), and a larger one whose
     * codes are i32 */
    OP_CASE("max_pool2d 16x16 stride 4", LT_OP_MAX_POOL2D, &k16s4, IN_DISTINCT(4, 1, 2, 20, 23)),
    OP_CASE("max_pool2d 17x17 stride (3, 5) padding 8", LT_OP_MAX_POOL2D, &k17,
            IN_DISTINCT(4, 1, 2, 18, 21)),
    OP_CASE("avg_pool2d 2x2 stride 2", LT_OP_AVG_POOL2D, &k2s2, IN_F32(4, 3, 5, 7, 9)),
    OP_CASE("avg_pool2d 2x2 stride 2, wide", LT_OP_AVG_POOL2D, &k2s2, IN_F32(4, 2, 3, 6, 38)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1, padding counted", LT_OP_AVG_POOL2D, &k3s2p1,
            IN_F32(4, 3, 5, 7, 9)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1, padding not counted", LT_OP_AVG_POOL2D,
            &k3s2p1_exclude, IN_F32(4, 3, 5, 7, 9)),
    OP_CASE("avg_pool2d 3x2 stride (1, 2) padding (1, 0)", LT_OP_AVG_POOL2D, &k32,
            IN_F32(4, 2, 3, 7, 9)),
    OP_CASE("avg_pool2d 2x3 stride (2, 1) padding 1, padding not counted", LT_OP_AVG_POOL2D,
            &k23_exclude, IN_F32(4, 2, 3, 7, 9)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1, wide", LT_OP_AVG_POOL2D, &k3s2p1_exclude,
            IN_F32(4, 1, 2, 7, 41)),
    OP_CASE("avg_pool2d 3x3 stride 1, wide", LT_OP_AVG_POOL2D, &k3s1, IN_F32(4, 1, 2, 5, 23)),
    OP_CASE("global_avg_pool", LT_OP_GLOBAL_AVG_POOL, &none, IN_F32(4, 3, 5, 7, 9)),
};
const int pool_case_count = sizeof pool_cases / sizeof pool_cases[0];
