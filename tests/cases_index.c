/* Case table for index_select, gather, masked_fill, triu and tril: odd shapes, repeated
 * ids, negative dims, masks that repeat along dims, diagonals off the main one. */
#include "tests/op_check.h"

#define IDS_NO_GRAD (1u << 1)
#define MASK_NO_GRAD (1u << 1)

static const struct lt_index_attrs dim0 = {0}, dim1 = {1}, last = {-1};
static const struct lt_masked_fill_attrs fill = {2.5f};
static const struct lt_tri_attrs main_diag = {0}, above = {1}, below2 = {-2}, below1 = {-1},
                                 above3 = {3};

const struct op_case index_cases[] = {
    OP_CASE_NO_GRAD("index_select dim 0, repeated ids", LT_OP_INDEX_SELECT, &dim0, IDS_NO_GRAD,
                    IN_F32(2, 7, 5), IN_IDS(7, 1, 9)),
    OP_CASE_NO_GRAD("index_select dim 1 (3, 6, 4)", LT_OP_INDEX_SELECT, &dim1, IDS_NO_GRAD,
                    IN_F32(3, 3, 6, 4), IN_IDS(6, 1, 5)),
    OP_CASE_NO_GRAD("index_select last dim", LT_OP_INDEX_SELECT, &last, IDS_NO_GRAD,
                    IN_F32(3, 2, 3, 5), IN_IDS(5, 1, 3)),
    OP_CASE_NO_GRAD("gather dim 1, more ids than positions", LT_OP_GATHER, &dim1, IDS_NO_GRAD,
                    IN_F32(2, 3, 5), IN_IDS(5, 2, 3, 7)),
    OP_CASE_NO_GRAD("gather dim 0, ids smaller in other dims", LT_OP_GATHER, &dim0, IDS_NO_GRAD,
                    IN_F32(3, 4, 3, 2), IN_IDS(4, 3, 6, 2, 2)),
    OP_CASE_NO_GRAD("gather last dim, one per row", LT_OP_GATHER, &last, IDS_NO_GRAD,
                    IN_F32(3, 2, 3, 6), IN_IDS(6, 3, 2, 3, 1)),
    OP_CASE_NO_GRAD("masked_fill same shape", LT_OP_MASKED_FILL, &fill, MASK_NO_GRAD,
                    IN_F32(3, 3, 4, 5), IN_MASK(3, 3, 4, 5)),
    OP_CASE_NO_GRAD("masked_fill (T, T) mask on (B, H, T, T)", LT_OP_MASKED_FILL, &fill,
                    MASK_NO_GRAD, IN_F32(4, 2, 3, 5, 5), IN_MASK(2, 5, 5)),
    OP_CASE_NO_GRAD("masked_fill mask repeated along a size-1 dim", LT_OP_MASKED_FILL, &fill,
                    MASK_NO_GRAD, IN_F32(3, 2, 3, 4), IN_MASK(3, 2, 1, 4)),
    OP_CASE_NO_GRAD("masked_fill one mask element", LT_OP_MASKED_FILL, &fill, MASK_NO_GRAD,
                    IN_F32(2, 3, 4), IN_MASK(1, 1)),
    OP_CASE("triu (3, 4, 5)", LT_OP_TRIU, &main_diag, IN_F32(3, 3, 4, 5)),
    OP_CASE("triu diagonal 1", LT_OP_TRIU, &above, IN_F32(2, 5, 5)),
    OP_CASE("triu diagonal -2, tall", LT_OP_TRIU, &below2, IN_F32(3, 2, 4, 3)),
    OP_CASE("tril (3, 4, 5)", LT_OP_TRIL, &main_diag, IN_F32(3, 3, 4, 5)),
    OP_CASE("tril diagonal -1", LT_OP_TRIL, &below1, IN_F32(2, 5, 5)),
    OP_CASE("tril diagonal 3, wide", LT_OP_TRIL, &above3, IN_F32(2, 4, 6)),
};
const int index_case_count = sizeof index_cases / sizeof index_cases[0];
