/* The table-driven op test: every op of every family on odd shapes, forward and
 * backward. The reference kernels pass finite-difference gradient checks; every fast
 * path (oneDNN, vectorised own kernels) matches the reference. */
#include <stdio.h>

#include "tests/op_check.h"

struct family {
    const char *name;
    const struct op_case *cases;
    const int *count;
};

#define FAMILY(f) {#f, f##_cases, &f##_case_count}
static const struct family families[] = {
    FAMILY(linear),  FAMILY(conv), FAMILY(pool),    FAMILY(activation),
    FAMILY(arith),   FAMILY(shape), FAMILY(softmax), FAMILY(loss),
    FAMILY(dropout), FAMILY(norm), FAMILY(embedding), FAMILY(reduce),
};
#undef FAMILY

static void reference_gradients(void **state) {
    const struct family *f = *state;
    op_check_cases(f->cases, *f->count);
}

static void fast_matches_reference(void **state) {
    const struct family *f = *state;
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

#define N_FAMILIES (int)(sizeof families / sizeof families[0])

int main(void) {
    struct CMUnitTest tests[2 * N_FAMILIES + 2];
    static char names[2 * N_FAMILIES][64];
    for (int i = 0; i < N_FAMILIES; i++) {
        snprintf(names[2 * i], sizeof names[0], "%s: reference gradients", families[i].name);
        snprintf(names[2 * i + 1], sizeof names[0], "%s: fast matches reference", families[i].name);
        tests[2 * i] = (struct CMUnitTest){names[2 * i], reference_gradients, NULL, NULL,
                                           (void *)&families[i]};
        tests[2 * i + 1] = (struct CMUnitTest){names[2 * i + 1], fast_matches_reference, NULL,
                                               NULL, (void *)&families[i]};
    }
    tests[2 * N_FAMILIES] = (struct CMUnitTest){"half pooling and dropout match the reference",
                                                half_pooling_and_dropout_match_reference, NULL,
                                                NULL, NULL};
    tests[2 * N_FAMILIES + 1] = (struct CMUnitTest){
        "f16 products and convolutions match the reference",
        f16_products_and_convolutions_match_reference, NULL, NULL, NULL};
    int rc = _cmocka_run_group_tests("ops", tests, 2 * N_FAMILIES + 2, NULL, NULL);
    op_fast_backend_release();
    return rc;
}
