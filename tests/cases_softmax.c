/* The softmax family's case table: odd shapes, a single class, a 4-D input. */
#include "tests/op_check.h"

const struct op_case softmax_cases[] = {
    OP_CASE("softmax 5x7", LT_OP_SOFTMAX, NULL, IN_F32(2, 5, 7)),
    OP_CASE("softmax 3x4x9", LT_OP_SOFTMAX, NULL, IN_F32(3, 3, 4, 9)),
    OP_CASE("softmax 1-D 13", LT_OP_SOFTMAX, NULL, IN_F32(1, 13)),
    OP_CASE("softmax one class", LT_OP_SOFTMAX, NULL, IN_F32(2, 6, 1)),
    OP_CASE("softmax 2x3x5x2", LT_OP_SOFTMAX, NULL, IN_F32(4, 2, 3, 5, 2)),
    /* more columns than a vector holds, and not a multiple of one */
    OP_CASE("softmax 4x37", LT_OP_SOFTMAX, NULL, IN_F32(2, 4, 37)),
    OP_CASE("log_softmax 3x53", LT_OP_LOG_SOFTMAX, NULL, IN_F32(2, 3, 53)),
    OP_CASE("log_softmax 5x7", LT_OP_LOG_SOFTMAX, NULL, IN_F32(2, 5, 7)),
    OP_CASE("log_softmax 3x4x9", LT_OP_LOG_SOFTMAX, NULL, IN_F32(3, 3, 4, 9)),
    OP_CASE("log_softmax 1-D 13", LT_OP_LOG_SOFTMAX, NULL, IN_F32(1, 13)),
    OP_CASE("log_softmax one class", LT_OP_LOG_SOFTMAX, NULL, IN_F32(2, 6, 1)),
    OP_CASE("log_softmax 2x3x5x2", LT_OP_LOG_SOFTMAX, NULL, IN_F32(4, 2, 3, 5, 2)),
};
const int softmax_case_count = (int)(sizeof softmax_cases / sizeof softmax_cases[0]);
