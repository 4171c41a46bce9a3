/* Case table for reshape, transpose and concat: odd shapes, negative dims, -1 sizes. */
#include "tests/op_check.h"

static const struct lt_reshape_attrs to_7_rows = {2, {7, -1}};
static const struct lt_reshape_attrs flat = {1, {-1}};
static const struct lt_concat_attrs dim0 = {0}, dim1 = {1}, last = {-1};

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
};
const int shape_case_count = sizeof shape_cases / sizeof shape_cases[0];
