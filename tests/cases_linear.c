/* Case table for matmul and linear: odd shapes, with and without bias and batching. */
#include "tests/op_check.h"

const struct op_case linear_cases[] = {
    OP_CASE("matmul 2-D", LT_OP_MATMUL, NULL, IN_F32(2, 5, 7), IN_F32(2, 7, 3)),
    OP_CASE("matmul batched b", LT_OP_MATMUL, NULL, IN_F32(3, 2, 3, 5), IN_F32(3, 2, 5, 4)),
    OP_CASE("matmul shared b", LT_OP_MATMUL, NULL, IN_F32(3, 3, 2, 5), IN_F32(2, 5, 3)),
    OP_CASE("linear with bias", LT_OP_LINEAR, NULL, IN_F32(2, 5, 7), IN_F32(2, 3, 7), IN_F32(1, 3)),
    OP_CASE("linear 3-D input", LT_OP_LINEAR, NULL, IN_F32(3, 2, 3, 5), IN_F32(2, 4, 5)),
};
const int linear_case_count = sizeof linear_cases / sizeof linear_cases[0];
