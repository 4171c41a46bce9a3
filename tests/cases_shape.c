/* Case table for reshape, transpose and concat: odd shapes, negative dims, -1 sizes. */
#include "tests/op_check.h"

#define F32(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_UNIFORM, 0}

static const struct lt_reshape_attrs to_7_rows = {2, {7, -1}};
static const struct lt_reshape_attrs flat = {1, {-1}};
static const struct lt_concat_attrs dim0 = {0}, dim1 = {1}, last = {-1};

const struct op_case shape_cases[] = {
    {"reshape (7, -1)", LT_OP_RESHAPE, &to_7_rows, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"reshape flat", LT_OP_RESHAPE, &flat, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"transpose 3-D", LT_OP_TRANSPOSE, NULL, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"transpose 2-D", LT_OP_TRANSPOSE, NULL, 1, {F32(2, {4, 9})}, 0, 0},
    {"concat dim 0", LT_OP_CONCAT, &dim0, 4,
     {F32(2, {2, 5}), F32(2, {3, 5}), F32(2, {1, 5}), F32(2, {4, 5})}, 0, 0},
    {"concat dim 1", LT_OP_CONCAT, &dim1, 3,
     {F32(3, {3, 2, 7}), F32(3, {3, 5, 7}), F32(3, {3, 1, 7})}, 0, 0},
    {"concat last dim", LT_OP_CONCAT, &last, 2, {F32(3, {3, 5, 2}), F32(3, {3, 5, 3})}, 0, 0},
    {"concat middle input no grad", LT_OP_CONCAT, &dim1, 3,
     {F32(2, {3, 2}), F32(2, {3, 4}), F32(2, {3, 3})}, 1u << 1, 0},
    {"concat one input", LT_OP_CONCAT, &last, 1, {F32(2, {3, 5})}, 0, 0},
};
const int shape_case_count = sizeof shape_cases / sizeof shape_cases[0];
