/* Test support for ops: run one op on the reference kernels, check its gradients by
 * finite differences, and describe a case table that every backend is compared on.
 *
 * Functions here fail the running cmocka test (with the worst elements printed)
 * rather than return a status.
 */
#ifndef LT_OP_CHECK_H
#define LT_OP_CHECK_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kernels/kernels.h"

/* How a case input is filled (seeded, so every run sees the same numbers). */
enum case_fill {
    FILL_UNIFORM,  /* uniform in [-1, 1) */
    FILL_POSITIVE, /* uniform in [0.5, 2) */
    FILL_DISTINCT, /* a shuffled grid with gaps of >= 0.01 and no zero: no ties, no kinks */
    FILL_INDEX     /* i32 in [0, index_max); index_max == -1 entries become -1 (ignored) */
};

struct case_input {
    enum lt_dtype dtype;
    int ndim;
    int64_t shape[LT_MAX_DIMS];
    enum case_fill fill;
    int index_max;
};

struct op_case {
    const char *name;
    enum lt_op op;
    const void *attrs;
    int n_in;
    struct case_input in[LT_MAX_INPUTS];
    unsigned no_grad; /* bit i: input i gets no gradient (indices, running statistics) */
    double tol;       /* finite-difference bound, norm-wise relative; 0 means 1e-2 */
};

/* The case tables, one per op family (tests/cases_<family>.c). */
#define CASE_TABLE(family)                                                                     \
    extern const struct op_case family##_cases[];                                              \
    extern const int family##_case_count;
CASE_TABLE(linear)
CASE_TABLE(conv)
CASE_TABLE(pool)
CASE_TABLE(activation)
CASE_TABLE(arith)
CASE_TABLE(shape)
CASE_TABLE(softmax)
CASE_TABLE(loss)
CASE_TABLE(dropout)
CASE_TABLE(norm)
CASE_TABLE(embedding)
CASE_TABLE(reduce)
#undef CASE_TABLE

/* The reference backend, initialised on first use. */
const struct lt_backend *op_ref_backend(void);

/* Runs the case on the reference kernels: forward writes every output element
 * (outputs are NaN-poisoned first) and, when the op has a backward, every input not in
 * no_grad passes a central-difference gradient check (loss = sum(w * out0) with random
 * w), in overwrite and in accumulate mode. */
void op_check_case(const struct op_case *c);
void op_check_cases(const struct op_case *cases, int n);

/* A contiguous tensor for tests, data from malloc (kv_free releases it). */
struct lt_kview kv_new(enum lt_dtype dt, int ndim, const int64_t *shape);
struct lt_kview kv_f32(int ndim, const int64_t *shape, const float *values);
struct lt_kview kv_i32(int ndim, const int64_t *shape, const int32_t *values);
void kv_free(struct lt_kview *v);

/* Infers the outputs' shapes, allocates them and runs the forward reference kernel;
 * asserts that shape inference and the kernel succeed. Free outputs with kv_free. */
void op_forward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                struct lt_kview *out);

/* Runs the backward reference kernel with gout for output 0 (other outputs get no
 * gradient) and writes (overwrites) gin[i] for each input whose gin[i].data != NULL. */
void op_backward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                 const struct lt_kview *out, const struct lt_kview *gout,
                 struct lt_kview *gin);

/* Asserts |a - b| <= tol * max(1, |b|) element-wise, naming the worst element. */
void assert_floats_near(const float *a, const float *b, int64_t n, double tol);

#endif
