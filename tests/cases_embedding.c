/* The embedding family's case table: 1-D, 3-D and duplicate-heavy ids. Ids are
 * integers, so they get no gradient. */
#include "tests/op_check.h"

#define IDS_NO_GRAD (1u << 1)

const struct op_case embedding_cases[] = {
    OP_CASE_NO_GRAD("embedding 11x5 ids 7", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD, IN_F32(2, 11, 5),
                    IN_IDS(11, 1, 7)),
    OP_CASE_NO_GRAD("embedding 6x4 ids 2x3x2", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD, IN_F32(2, 6, 4),
                    IN_IDS(6, 3, 2, 3, 2)),
    /* 3 rows and 19 ids: every row is hit several times */
    OP_CASE_NO_GRAD("embedding 3x1 ids 19", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD, IN_F32(2, 3, 1),
                    IN_IDS(3, 1, 19)),
    OP_CASE_NO_GRAD("embedding 5x37 ids 11", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD, IN_F32(2, 5, 37),
                    IN_IDS(5, 1, 11)),
    OP_CASE_NO_GRAD("embedding 9x7 ids 1x1", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD, IN_F32(2, 9, 7),
                    IN_IDS(9, 2, 1, 1)),
};
const int embedding_case_count = (int)(sizeof embedding_cases / sizeof embedding_cases[0]);
