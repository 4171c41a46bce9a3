/* The embedding family's case table: 1-D, 3-D and duplicate-heavy ids. Ids are
 * integers, so they get no gradient. */
#include "tests/op_check.h"

#define F32(nd, ...) {LT_DTYPE_F32, nd, {__VA_ARGS__}, FILL_UNIFORM, 0}
#define IDS(max, nd, ...) {LT_DTYPE_I32, nd, {__VA_ARGS__}, FILL_INDEX, max}

const struct op_case embedding_cases[] = {
    {"embedding 11x5 ids 7", LT_OP_EMBEDDING, NULL, 2, {F32(2, 11, 5), IDS(11, 1, 7)}, 2u, 0},
    {"embedding 6x4 ids 2x3x2", LT_OP_EMBEDDING, NULL, 2, {F32(2, 6, 4), IDS(6, 3, 2, 3, 2)},
     2u, 0},
    /* 3 rows and 19 ids: every row is hit several times */
    {"embedding 3x1 ids 19", LT_OP_EMBEDDING, NULL, 2, {F32(2, 3, 1), IDS(3, 1, 19)}, 2u, 0},
    {"embedding 9x7 ids 1x1", LT_OP_EMBEDDING, NULL, 2, {F32(2, 9, 7), IDS(9, 2, 1, 1)}, 2u,
     0},
};
const int embedding_case_count = (int)(sizeof embedding_cases / sizeof embedding_cases[0]);
