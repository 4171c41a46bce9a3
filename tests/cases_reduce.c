/* Case table for the reductions, eq, topk and multinomial. They have no backward, so the
 * table checks that forward writes every element of an odd-shaped output. */
#include "tests/op_check.h"

static const struct lt_reduce_attrs all = {1, 0, 0}, all_keep = {1, 0, 1};
static const struct lt_reduce_attrs dim0 = {0, 0, 0}, dim1 = {0, 1, 0}, last_keep = {0, -1, 1};
static const struct lt_topk_attrs top3 = {3}, top_all = {6};
static const struct lt_multinomial_attrs draw = {17, 2};

const struct op_case reduce_cases[] = {
    OP_CASE("sum all", LT_OP_SUM, &all, IN_F32(3, 3, 5, 7)),
    OP_CASE("sum dim 1", LT_OP_SUM, &dim1, IN_F32(3, 3, 5, 7)),
    OP_CASE("sum i32 last keepdim", LT_OP_SUM, &last_keep, IN_IDS(100, 3, 3, 5, 7)),
    OP_CASE("mean last keepdim", LT_OP_MEAN, &last_keep, IN_F32(3, 3, 5, 7)),
    OP_CASE("mean all keepdim", LT_OP_MEAN, &all_keep, IN_F32(3, 3, 5, 7)),
    OP_CASE("max dim 0", LT_OP_MAX, &dim0, IN_DISTINCT(3, 3, 5, 7)),
    OP_CASE("max all", LT_OP_MAX, &all, IN_DISTINCT(2, 5, 7)),
    OP_CASE("argmax dim 1", LT_OP_ARGMAX, &dim1, IN_DISTINCT(3, 3, 5, 7)),
    OP_CASE("eq suffix", LT_OP_EQ, NULL, IN_IDS(100, 3, 3, 5, 7), IN_IDS(100, 2, 5, 7)),
    OP_CASE("topk 3 of the last dim", LT_OP_TOPK, &top3, IN_F32(3, 3, 5, 7)),
    OP_CASE("topk all, sorted", LT_OP_TOPK, &top_all, IN_DISTINCT(2, 4, 6)),
    OP_CASE("topk i32 with ties", LT_OP_TOPK, &top3, IN_IDS(4, 2, 5, 9)),
    OP_CASE("multinomial (5, 7)", LT_OP_MULTINOMIAL, &draw, IN_POSITIVE(2, 5, 7)),
    OP_CASE("multinomial (3, 2, 11)", LT_OP_MULTINOMIAL, &draw, IN_POSITIVE(3, 3, 2, 11)),
};
const int reduce_case_count = sizeof reduce_cases / sizeof reduce_cases[0];
