/* Dropout's case table: every backend is compared with the reference on these, and the
 * reference's gradient is checked by finite differences (op_check.c). */
#include "tests/op_check.h"

static const struct lt_dropout_attrs p_quarter = {.p = 0.25f, .layer = 2};
static const struct lt_dropout_attrs p_half = {.p = 0.5f, .layer = 7};
static const struct lt_dropout_attrs p_zero = {.p = 0.0f, .layer = 1};
static const struct lt_dropout_attrs p_high = {.p = 0.9f, .layer = 3};

const struct op_case dropout_cases[] = {
    OP_CASE("dropout (3, 5, 4, 3) p=0.25", LT_OP_DROPOUT, &p_quarter, IN_F32(4, 3, 5, 4, 3)),
    OP_CASE("dropout (7, 11) p=0.5", LT_OP_DROPOUT, &p_half, IN_F32(2, 7, 11)),
    OP_CASE("dropout (5,) p=0", LT_OP_DROPOUT, &p_zero, IN_F32(1, 5)),
    OP_CASE("dropout (3, 41) p=0.25", LT_OP_DROPOUT, &p_quarter, IN_F32(2, 3, 41)),
    OP_CASE("dropout (2, 3, 13) p=0.9", LT_OP_DROPOUT, &p_high, IN_F32(3, 2, 3, 13)),
};
const int dropout_case_count = (int)(sizeof dropout_cases / sizeof dropout_cases[0]);
