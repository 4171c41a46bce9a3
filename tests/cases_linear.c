/* Case table for matmul and linear: odd shapes, with and without bias, batching and
 * broadcast batch dims, and inputs without a gradient (a first layer's input, frozen
 * weights). */
#include "tests/op_check.h"

const struct op_case linear_cases[] = {
    OP_CASE("matmul 2-D", LT_OP_MATMUL, NULL, IN_F32(2, 5, 7), IN_F32(2, 7, 3)),
    OP_CASE("matmul batched b", LT_OP_MATMUL, NULL, IN_F32(3, 2, 3, 5), IN_F32(3, 2, 5, 4)),
    OP_CASE("matmul shared b", LT_OP_MATMUL, NULL, IN_F32(3, 3, 2, 5), IN_F32(2, 5, 3)),
    OP_CASE("matmul 4-D batched b", LT_OP_MATMUL, NULL, IN_F32(4, 2, 3, 3, 4),
            IN_F32(4, 2, 3, 4, 5)),
    OP_CASE("matmul 4-D a, shared b", LT_OP_MATMUL, NULL, IN_F32(4, 2, 2, 3, 6), IN_F32(2, 6, 5)),
    OP_CASE("matmul one row, one column", LT_OP_MATMUL, NULL, IN_F32(2, 1, 9), IN_F32(2, 9, 1)),
    OP_CASE("matmul broadcast (2, 1, 3, 4) @ (3, 4, 5)", LT_OP_MATMUL, NULL, IN_F32(4, 2, 1, 3, 4),
            IN_F32(3, 3, 4, 5)),
    OP_CASE("matmul 2-D a, batched b", LT_OP_MATMUL, NULL, IN_F32(2, 3, 4), IN_F32(3, 2, 4, 5)),
    OP_CASE("matmul both broadcast (3, 1, 2, 4) @ (1, 2, 4, 3)", LT_OP_MATMUL, NULL,
            IN_F32(4, 3, 1, 2, 4), IN_F32(4, 1, 2, 4, 3)),
    OP_CASE("matmul a repeated inside (2, 1, 3, 4) @ (2, 3, 4, 2)", LT_OP_MATMUL, NULL,
            IN_F32(4, 2, 1, 3, 4), IN_F32(4, 2, 3, 4, 2)),
    OP_CASE("matmul b with more dims (3, 5) @ (2, 1, 5, 4)", LT_OP_MATMUL, NULL, IN_F32(2, 3, 5),
            IN_F32(4, 2, 1, 5, 4)),
    OP_CASE_NO_GRAD("matmul broadcast, no gradient for b", LT_OP_MATMUL, NULL, 2u,
                    IN_F32(3, 1, 3, 4), IN_F32(3, 2, 4, 3)),
    OP_CASE_NO_GRAD("matmul, no gradient for a", LT_OP_MATMUL, NULL, 1u, IN_F32(3, 2, 4, 6),
                    IN_F32(3, 2, 6, 3)),
    OP_CASE("linear with bias", LT_OP_LINEAR, NULL, IN_F32(2, 5, 7), IN_F32(2, 3, 7), IN_F32(1, 3)),
    OP_CASE("linear 3-D input", LT_OP_LINEAR, NULL, IN_F32(3, 2, 3, 5), IN_F32(2, 4, 5)),
    OP_CASE("linear 1-D input", LT_OP_LINEAR, NULL, IN_F32(1, 6), IN_F32(2, 5, 6), IN_F32(1, 5)),
    OP_CASE("linear (17, 40) -> 23", LT_OP_LINEAR, NULL, IN_F32(2, 17, 40), IN_F32(2, 23, 40),
            IN_F32(1, 23)),
    OP_CASE_NO_GRAD("linear, first layer (no input gradient)", LT_OP_LINEAR, NULL, 1u,
                    IN_F32(2, 9, 11), IN_F32(2, 6, 11), IN_F32(1, 6)),
    OP_CASE_NO_GRAD("linear, frozen weight: bias gradient only", LT_OP_LINEAR, NULL, 3u,
                    IN_F32(2, 9, 11), IN_F32(2, 6, 11), IN_F32(1, 6)),
};
const int linear_case_count = sizeof linear_cases / sizeof linear_cases[0];
