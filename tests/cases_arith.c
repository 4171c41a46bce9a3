/* Case table for add, sub, mul, scale and cast: odd shapes, b equal to a, a suffix of
 * it, or a scalar. */
#include "tests/op_check.h"

static const struct lt_scale_attrs by_minus_1_75 = {-1.75f};
static const struct lt_cast_attrs to_f32 = {LT_DTYPE_F32};

const struct op_case arith_cases[] = {
    OP_CASE("add same shape", LT_OP_ADD, NULL, IN_F32(3, 3, 5, 7), IN_F32(3, 3, 5, 7)),
    OP_CASE("add suffix", LT_OP_ADD, NULL, IN_F32(3, 3, 5, 7), IN_F32(2, 5, 7)),
    OP_CASE("add scalar", LT_OP_ADD, NULL, IN_F32(3, 3, 5, 7), IN_F32(0, 0)),
    OP_CASE("sub same shape", LT_OP_SUB, NULL, IN_F32(2, 4, 9), IN_F32(2, 4, 9)),
    OP_CASE("sub last dim", LT_OP_SUB, NULL, IN_F32(3, 3, 5, 7), IN_F32(1, 7)),
    OP_CASE("mul same shape", LT_OP_MUL, NULL, IN_F32(3, 3, 5, 7), IN_F32(3, 3, 5, 7)),
    OP_CASE("mul suffix", LT_OP_MUL, NULL, IN_F32(3, 3, 5, 7), IN_F32(2, 5, 7)),
    OP_CASE("mul last dim", LT_OP_MUL, NULL, IN_F32(4, 2, 3, 5, 7), IN_F32(1, 7)),
    OP_CASE_NO_GRAD("mul b only", LT_OP_MUL, NULL, 1u << 0, IN_F32(2, 5, 7), IN_F32(1, 7)),
    OP_CASE("scale", LT_OP_SCALE, &by_minus_1_75, IN_F32(3, 3, 5, 7)),
    OP_CASE("cast f32 to f32", LT_OP_CAST, &to_f32, IN_F32(3, 3, 5, 7)),
};
const int arith_case_count = sizeof arith_cases / sizeof arith_cases[0];
