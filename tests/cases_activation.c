/* Case table for the activations: odd shapes; relu on distinct values, away from its
 * kink at 0. */
#include "tests/op_check.h"

const struct op_case activation_cases[] = {
    OP_CASE("relu 3-D", LT_OP_RELU, NULL, IN_DISTINCT(3, 3, 5, 6)),
    OP_CASE("relu 2-D", LT_OP_RELU, NULL, IN_DISTINCT(2, 7, 10)),
    OP_CASE("gelu", LT_OP_GELU, NULL, IN_F32(3, 3, 5, 7)),
    OP_CASE("gelu 1-D", LT_OP_GELU, NULL, IN_F32(1, 13)),
    OP_CASE("sigmoid", LT_OP_SIGMOID, NULL, IN_F32(3, 3, 5, 7)),
    OP_CASE("tanh", LT_OP_TANH, NULL, IN_F32(4, 2, 3, 5, 7)),
    /* distinct values of 279 spread over [-2.2, 2.2]: both sides of the fast paths'
     * range splits */
    OP_CASE("gelu 9x31 wider", LT_OP_GELU, NULL, IN_DISTINCT(2, 9, 31)),
    OP_CASE("tanh 9x31 wider", LT_OP_TANH, NULL, IN_DISTINCT(2, 9, 31)),
};
const int activation_case_count = sizeof activation_cases / sizeof activation_cases[0];
