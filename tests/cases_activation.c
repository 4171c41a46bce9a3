/* Case table for the activations: odd shapes; relu on distinct values, away from its
 * kink at 0. */
#include "tests/op_check.h"

#define F32(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_UNIFORM, 0}
/* An even count of elements: FILL_DISTINCT puts a 0 in the middle of an odd count. */
#define DISTINCT(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_DISTINCT, 0}

const struct op_case activation_cases[] = {
    {"relu 3-D", LT_OP_RELU, NULL, 1, {DISTINCT(3, {3, 5, 6})}, 0, 0},
    {"relu 2-D", LT_OP_RELU, NULL, 1, {DISTINCT(2, {7, 10})}, 0, 0},
    {"gelu", LT_OP_GELU, NULL, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"gelu 1-D", LT_OP_GELU, NULL, 1, {F32(1, {13})}, 0, 0},
    {"sigmoid", LT_OP_SIGMOID, NULL, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"tanh", LT_OP_TANH, NULL, 1, {F32(4, {2, 3, 5, 7})}, 0, 0},
};
const int activation_case_count = sizeof activation_cases / sizeof activation_cases[0];
