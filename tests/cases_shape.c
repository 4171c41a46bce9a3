/* Case table for reshape, transpose, concat, permute and narrow: odd shapes, negative
 * dims, -1 sizes. */
#include "tests/op_check.h"

static const struct lt_reshape_attrs to_7_rows = {2, {7, -1}};
static const struct lt_reshape_attrs flat = {1, {-1}};
static const struct lt_concat_attrs dim0 = {0}, dim1 = {1}, last = {-1};
static const struct lt_permute_attrs bthd_to_bhtd = {4, {0, 2, 1, 3}};
static const struct lt_permute_attrs reversed = {4, {3, 2, 1, 0}};
static const struct lt_permute_attrs rotate_negative = {3, {-1, 0, -2}};
static const struct lt_permute_attrs keep3 = {3, {0, 1, 2}}, keep1 = {1, {0}};
static const struct lt_permute_attrs swap_last = {3, {0, 2, 1}}, keep0 = {0, {0}};
static const struct lt_narrow_attrs mid_rows = {1, 2, 3}, last_from_end = {-1, -4, 3};
static const struct lt_narrow_attrs first_all = {0, 0, 5}, one_of_1d = {0, 6, 1};
static const struct lt_narrow_attrs empty_slice = {1, 2, 0};

const struct op_case shape_cases[] = {
    OP_CASE("reshape (7, -1)", LT_OP_RESHAPE, &to_7_rows, IN_F32(3, 3, 5, 7)),
    OP_CASE("reshape flat", LT_OP_RESHAPE, &flat, IN_F32(3, 3, 5, 7)),
    OP_CASE("transpose 3-D", LT_OP_TRANSPOSE, NULL, IN_F32(3, 3, 5, 7)),
    OP_CASE("transpose 2-D", LT_OP_TRANSPOSE, NULL, IN_F32(2, 4, 9)),
    OP_CASE("concat dim 0", LT_OP_CONCAT, &dim0, IN_F32(2, 2, 5), IN_F32(2, 3, 5), IN_F32(2, 1, 5),
            IN_F32(2, 4, 5)),
    OP_CASE("concat dim 1", LT_OP_CONCAT, &dim1, IN_F32(3, 3, 2, 7), IN_F32(3, 3, 5, 7),
            IN_F32(3, 3, 1, 7)),
    OP_CASE("concat last dim", LT_OP_CONCAT, &last, IN_F32(3, 3, 5, 2), IN_F32(3, 3, 5, 3)),
    OP_CASE_NO_GRAD("concat middle input no grad", LT_OP_CONCAT, &dim1, 1u << 1, IN_F32(2, 3, 2),
                    IN_F32(2, 3, 4), IN_F32(2, 3, 3)),
    OP_CASE("concat one input", LT_OP_CONCAT, &last, IN_F32(2, 3, 5)),
    OP_CASE("permute (B, T, H, D) -> (B, H, T, D)", LT_OP_PERMUTE, &bthd_to_bhtd,
            IN_F32(4, 2, 5, 3, 7)),
    OP_CASE("permute reversed", LT_OP_PERMUTE, &reversed, IN_F32(4, 3, 2, 5, 7)),
    OP_CASE("permute negative dims", LT_OP_PERMUTE, &rotate_negative, IN_F32(3, 3, 5, 7)),
    OP_CASE("permute as transpose", LT_OP_PERMUTE, &swap_last, IN_F32(3, 3, 5, 7)),
    OP_CASE("permute identity", LT_OP_PERMUTE, &keep3, IN_F32(3, 3, 5, 7)),
    OP_CASE("permute 1-D", LT_OP_PERMUTE, &keep1, IN_F32(1, 11)),
    OP_CASE("permute 0-D", LT_OP_PERMUTE, &keep0, IN_F32(0, 0)),
    OP_CASE("narrow dim 1 (3, 7, 5) [2, 5)", LT_OP_NARROW, &mid_rows, IN_F32(3, 3, 7, 5)),
    OP_CASE("narrow last dim from the end", LT_OP_NARROW, &last_from_end, IN_F32(3, 2, 3, 7)),
    OP_CASE("narrow whole dim 0", LT_OP_NARROW, &first_all, IN_F32(2, 5, 3)),
    OP_CASE("narrow 1-D to one element", LT_OP_NARROW, &one_of_1d, IN_F32(1, 11)),
    OP_CASE("narrow to nothing", LT_OP_NARROW, &empty_slice, IN_F32(3, 2, 5, 3)),
};
const int shape_case_count = sizeof shape_cases / sizeof shape_cases[0];
