/* Case table for add, sub, mul, scale and cast: odd shapes, b equal to a, a suffix of
 * it, or a scalar. */
#include "tests/op_check.h"

#define F32(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_UNIFORM, 0}

static const struct lt_scale_attrs by_minus_1_75 = {-1.75f};
static const struct lt_cast_attrs to_f32 = {LT_DTYPE_F32};

const struct op_case arith_cases[] = {
    {"add same shape", LT_OP_ADD, NULL, 2, {F32(3, {3, 5, 7}), F32(3, {3, 5, 7})}, 0, 0},
    {"add suffix", LT_OP_ADD, NULL, 2, {F32(3, {3, 5, 7}), F32(2, {5, 7})}, 0, 0},
    {"add scalar", LT_OP_ADD, NULL, 2, {F32(3, {3, 5, 7}), F32(0, {0})}, 0, 0},
    {"sub same shape", LT_OP_SUB, NULL, 2, {F32(2, {4, 9}), F32(2, {4, 9})}, 0, 0},
    {"sub last dim", LT_OP_SUB, NULL, 2, {F32(3, {3, 5, 7}), F32(1, {7})}, 0, 0},
    {"mul same shape", LT_OP_MUL, NULL, 2, {F32(3, {3, 5, 7}), F32(3, {3, 5, 7})}, 0, 0},
    {"mul suffix", LT_OP_MUL, NULL, 2, {F32(3, {3, 5, 7}), F32(2, {5, 7})}, 0, 0},
    {"mul last dim", LT_OP_MUL, NULL, 2, {F32(4, {2, 3, 5, 7}), F32(1, {7})}, 0, 0},
    {"mul b only", LT_OP_MUL, NULL, 2, {F32(2, {5, 7}), F32(1, {7})}, 1u << 0, 0},
    {"scale", LT_OP_SCALE, &by_minus_1_75, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"cast f32 to f32", LT_OP_CAST, &to_f32, 1, {F32(3, {3, 5, 7})}, 0, 0},
};
const int arith_case_count = sizeof arith_cases / sizeof arith_cases[0];
