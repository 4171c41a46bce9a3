/* Case table for matmul and linear: odd shapes, with and without bias and batching. */
#include "tests/op_check.h"

#define F32(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_UNIFORM, 0}

const struct op_case linear_cases[] = {
    {"matmul 2-D", LT_OP_MATMUL, NULL, 2, {F32(2, {5, 7}), F32(2, {7, 3})}, 0, 0},
    {"matmul batched b", LT_OP_MATMUL, NULL, 2, {F32(3, {2, 3, 5}), F32(3, {2, 5, 4})}, 0, 0},
    {"matmul shared b", LT_OP_MATMUL, NULL, 2, {F32(3, {3, 2, 5}), F32(2, {5, 3})}, 0, 0},
    {"linear with bias", LT_OP_LINEAR, NULL, 3, {F32(2, {5, 7}), F32(2, {3, 7}), F32(1, {3})}, 0, 0},
    {"linear 3-D input", LT_OP_LINEAR, NULL, 2, {F32(3, {2, 3, 5}), F32(2, {4, 5})}, 0, 0},
};
const int linear_case_count = sizeof linear_cases / sizeof linear_cases[0];
