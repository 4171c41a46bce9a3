/* The softmax family's case table: odd shapes, a single class, a 4-D input. */
#include "tests/op_check.h"

#define F32(nd, ...) {LT_DTYPE_F32, nd, {__VA_ARGS__}, FILL_UNIFORM, 0}

const struct op_case softmax_cases[] = {
    {"softmax 5x7", LT_OP_SOFTMAX, NULL, 1, {F32(2, 5, 7)}, 0, 0},
    {"softmax 3x4x9", LT_OP_SOFTMAX, NULL, 1, {F32(3, 3, 4, 9)}, 0, 0},
    {"softmax 1-D 13", LT_OP_SOFTMAX, NULL, 1, {F32(1, 13)}, 0, 0},
    {"softmax one class", LT_OP_SOFTMAX, NULL, 1, {F32(2, 6, 1)}, 0, 0},
    {"softmax 2x3x5x2", LT_OP_SOFTMAX, NULL, 1, {F32(4, 2, 3, 5, 2)}, 0, 0},
    {"log_softmax 5x7", LT_OP_LOG_SOFTMAX, NULL, 1, {F32(2, 5, 7)}, 0, 0},
    {"log_softmax 3x4x9", LT_OP_LOG_SOFTMAX, NULL, 1, {F32(3, 3, 4, 9)}, 0, 0},
    {"log_softmax 1-D 13", LT_OP_LOG_SOFTMAX, NULL, 1, {F32(1, 13)}, 0, 0},
    {"log_softmax one class", LT_OP_LOG_SOFTMAX, NULL, 1, {F32(2, 6, 1)}, 0, 0},
    {"log_softmax 2x3x5x2", LT_OP_LOG_SOFTMAX, NULL, 1, {F32(4, 2, 3, 5, 2)}, 0, 0},
};
const int softmax_case_count = (int)(sizeof softmax_cases / sizeof softmax_cases[0]);
