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

static const struct lt_backend *fast_backend(void) {
    static struct lt_backend b;
    static int ready;
    if (!ready) {
        char msg[LT_KMSG_SIZE] = "";
        if (lt_cpu_backend_init(&b, msg) != LT_OK)
            fail_msg("the fast CPU backend did not start: %s", msg);
        ready = 1;
    }
    return &b;
}

static void reference_gradients(void **state) {
    const struct family *f = *state;
    op_check_cases(f->cases, *f->count);
}

static void fast_matches_reference(void **state) {
    const struct family *f = *state;
    /* f32 bound: different summation orders over at most a few thousand terms */
    for (int i = 0; i < *f->count; i++)
        op_compare_case(&f->cases[i], fast_backend(), 1e-5);
}

/* The half kernels of ops that follow their input's dtype (pooling, dropout) against
 * their reference on inputs rounded to the half dtype: both round the same f32 result,
 * so only a last-place rounding of the fast f32 result can differ. */
static void half_pooling_and_dropout_match_reference(void **state) {
    (void)state;
    for (int i = 0; i < pool_case_count; i++) {
        op_compare_case_as(&pool_cases[i], fast_backend(), LT_DTYPE_BF16, 1e-2);
        op_compare_case_as(&pool_cases[i], fast_backend(), LT_DTYPE_F16, 2e-3);
    }
    for (int i = 0; i < dropout_case_count; i++) {
        op_compare_case_as(&dropout_cases[i], fast_backend(), LT_DTYPE_BF16, 1e-2);
        op_compare_case_as(&dropout_cases[i], fast_backend(), LT_DTYPE_F16, 2e-3);
    }
}

/* f16 products and convolutions run the fast f32 kernels on f32 copies: against the
 * reference on the same f16 inputs, only the f32 summation order and then one f16
 * rounding can differ. */
static void f16_products_and_convolutions_match_reference(void **state) {
    (void)state;
    for (int i = 0; i < linear_case_count; i++)
        op_compare_case_as(&linear_cases[i], fast_backend(), LT_DTYPE_F16, 2e-3);
    for (int i = 0; i < conv_case_count; i++)
        op_compare_case_as(&conv_cases[i], fast_backend(), LT_DTYPE_F16, 2e-3);
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
    lt_backend_release((struct lt_backend *)fast_backend());
    return rc;
}
