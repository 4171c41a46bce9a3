/* The table-driven op test: every op of every family (kernels/families.def) on odd
 * shapes, forward and backward. Every op of ops.def has a case row and kernels on the
 * CPU backends; the reference kernels pass finite-difference gradient checks; every fast
 * path (oneDNN, vectorised own kernels) matches the reference. */
#include <stdio.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"

/* Every op has at least one case row, and for the dtype of its rows a forward kernel
 * (and a backward one when it has a backward) on the reference and the fast backend: an
 * op added to ops.def without its cases or kernels fails here, named. */
static void every_op_has_cases_and_kernels(void **state) {
    (void)state;
    const struct lt_backend *backends[2] = {op_ref_backend(), op_fast_backend()};
    for (int op = 0; op < LT_OP_COUNT; op++) {
        const struct op_case *row = NULL;
        for (int f = 0; f < op_family_count && !row; f++)
            for (int i = 0; i < *op_families[f].count && !row; i++)
                if (op_families[f].cases[i].op == (enum lt_op)op)
                    row = &op_families[f].cases[i];
        if (!row)
            fail_msg("%s has no case row in any tests/cases_*.c", lt_op_descs[op].name);
        enum lt_dtype dt = row->in[0].dtype;
        for (int b = 0; b < 2; b++) {
            const struct lt_kernel *k = &backends[b]->kernels[op][dt];
            if (!k->forward)
                fail_msg("%s has no %s kernel for %s", lt_op_descs[op].name, backends[b]->info,
                         lt_dtype_name(dt));
            if (lt_op_descs[op].has_backward && !k->backward)
                fail_msg("%s has no %s backward kernel for %s", lt_op_descs[op].name,
                         backends[b]->info, lt_dtype_name(dt));
        }
    }
}

static void reference_gradients(void **state) {
    const struct op_family *f = *state;
    op_check_cases(f->cases, *f->count);
}

static void fast_matches_reference(void **state) {
    const struct op_family *f = *state;
    /* f32 bound: different summation orders over at most a few thousand terms */
    for (int i = 0; i < *f->count; i++)
        op_compare_case(&f->cases[i], op_fast_backend(), 1e-5);
}

/* Longer than any sum in the case tables, for the half bounds (op_half_tol). */
static const int64_t longest_sum = 4096;

/* The half kernels of ops that follow their input's dtype (pooling, dropout) against
 * their reference on inputs rounded to the half dtype: both round the same f32 result,
 * so only a last-place rounding of the fast f32 result can differ. */
static void half_pooling_and_dropout_match_reference(void **state) {
    (void)state;
    const enum lt_dtype halves[2] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    for (int h = 0; h < 2; h++) {
        double tol = op_half_tol(halves[h], longest_sum);
        for (int i = 0; i < pool_case_count; i++)
            op_compare_case_as(&pool_cases[i], op_fast_backend(), halves[h], tol);
        for (int i = 0; i < dropout_case_count; i++)
            op_compare_case_as(&dropout_cases[i], op_fast_backend(), halves[h], tol);
    }
}

/* f16 products and convolutions run the fast f32 kernels on f32 copies: against the
 * reference on the same f16 inputs, only the f32 summation order and then one f16
 * rounding can differ. */
static void f16_products_and_convolutions_match_reference(void **state) {
    (void)state;
    double tol = op_half_tol(LT_DTYPE_F16, longest_sum);
    for (int i = 0; i < linear_case_count; i++)
        op_compare_case_as(&linear_cases[i], op_fast_backend(), LT_DTYPE_F16, tol);
    for (int i = 0; i < conv_case_count; i++)
        op_compare_case_as(&conv_cases[i], op_fast_backend(), LT_DTYPE_F16, tol);
}

/* Every fast kernel that takes half gradients (struct lt_kernel's half_gradients), on
 * every case of its op in each half dtype, against the reference (which takes f32
 * gradients where it does not): forward, and backward in overwrite and accumulate mode. */
static void half_gradient_kernels_match_reference(void **state) {
    (void)state;
    const enum lt_dtype halves[2] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    const struct lt_backend *fast = op_fast_backend();
    int checked = 0;
    for (int h = 0; h < 2; h++)
        for (int f = 0; f < op_family_count; f++)
            for (int i = 0; i < *op_families[f].count; i++) {
                const struct op_case *c = &op_families[f].cases[i];
                if (c->in[0].dtype != LT_DTYPE_F32 ||
                    !fast->kernels[c->op][halves[h]].half_gradients)
                    continue;
                op_compare_case_as(c, fast, halves[h], op_half_tol(halves[h], longest_sum));
                checked++;
            }
    assert_true(checked > 0);
}

#define MAX_FAMILIES 32

int main(void) {
    struct CMUnitTest tests[2 * MAX_FAMILIES + 4];
    static char names[2 * MAX_FAMILIES][64];
    int n = 0;
    tests[n++] = (struct CMUnitTest){"every op has cases and kernels",
                                     every_op_has_cases_and_kernels, NULL, NULL, NULL};
    for (int i = 0; i < op_family_count && i < MAX_FAMILIES; i++) {
        snprintf(names[2 * i], sizeof names[0], "%s: reference gradients", op_families[i].name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s: fast matches reference",
                 op_families[i].name);
        tests[n++] = (struct CMUnitTest){names[2 * i], reference_gradients, NULL, NULL,
                                         (void *)&op_families[i]};
        tests[n++] = (struct CMUnitTest){names[2 * i + 1], fast_matches_reference, NULL, NULL,
                                         (void *)&op_families[i]};
    }
    tests[n++] = (struct CMUnitTest){"half pooling and dropout match the reference",
                                     half_pooling_and_dropout_match_reference, NULL, NULL, NULL};
    tests[n++] = (struct CMUnitTest){"f16 products and convolutions match the reference",
                                     f16_products_and_convolutions_match_reference, NULL, NULL,
                                     NULL};
    tests[n++] = (struct CMUnitTest){"half-gradient kernels match the reference",
                                     half_gradient_kernels_match_reference, NULL, NULL, NULL};
    int rc = _cmocka_run_group_tests("ops", tests, (size_t)n, NULL, NULL);
    op_fast_backend_release();
    return rc;
}
