/* Case table for the reductions and eq. They have no backward, so the table checks
 * that forward writes every element of an odd-shaped output. */
#include "tests/op_check.h"

#define F32(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_UNIFORM, 0}
#define DISTINCT(...) {LT_DTYPE_F32, __VA_ARGS__, FILL_DISTINCT, 0}
#define I32(...) {LT_DTYPE_I32, __VA_ARGS__, FILL_INDEX, 100}

static const struct lt_reduce_attrs all = {1, 0, 0}, all_keep = {1, 0, 1};
static const struct lt_reduce_attrs dim0 = {0, 0, 0}, dim1 = {0, 1, 0}, last_keep = {0, -1, 1};

const struct op_case reduce_cases[] = {
    {"sum all", LT_OP_SUM, &all, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"sum dim 1", LT_OP_SUM, &dim1, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"sum i32 last keepdim", LT_OP_SUM, &last_keep, 1, {I32(3, {3, 5, 7})}, 0, 0},
    {"mean last keepdim", LT_OP_MEAN, &last_keep, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"mean all keepdim", LT_OP_MEAN, &all_keep, 1, {F32(3, {3, 5, 7})}, 0, 0},
    {"max dim 0", LT_OP_MAX, &dim0, 1, {DISTINCT(3, {3, 5, 7})}, 0, 0},
    {"max all", LT_OP_MAX, &all, 1, {DISTINCT(2, {5, 7})}, 0, 0},
    {"argmax dim 1", LT_OP_ARGMAX, &dim1, 1, {DISTINCT(3, {3, 5, 7})}, 0, 0},
    {"eq suffix", LT_OP_EQ, NULL, 2, {I32(3, {3, 5, 7}), I32(2, {5, 7})}, 0, 0},
};
const int reduce_case_count = sizeof reduce_cases / sizeof reduce_cases[0];
