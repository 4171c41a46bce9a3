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

/* How a case input is filled (seeded, so every run sees the same numbers). Case tables
 * hold f32 data, i32 indices and u8 masks only: FILL_INDEX writes i32, FILL_MASK u8, every
 * other fill f32, and op_check_case fails a case input of any other pairing. */
enum case_fill {
    FILL_UNIFORM,  /* uniform in [-1, 1) */
    FILL_POSITIVE, /* uniform in [0.5, 2) */
    FILL_DISTINCT, /* a shuffle of (i - (n - 1) / 2 + 1/4) / 64 for i in [0, n): exact in
                    * f32, gaps of 1/64 (> 0.01) whatever n, no zero (|x| >= 1/256): no
                    * ties, no kinks; |x| < 1 while n <= 128, larger beyond */
    FILL_INDEX,    /* i32 in [0, index_max); a negative index_max draws from
                    * [0, -index_max) and puts -1 (to be ignored) in every 4th place */
    FILL_MASK      /* u8, 0 or 1 with even odds */
};

struct case_input {
    enum lt_dtype dtype; /* LT_DTYPE_F32, LT_DTYPE_I32 with FILL_INDEX, LT_DTYPE_U8 with
                          * FILL_MASK */
    int ndim;
    int64_t shape[LT_MAX_DIMS];
    enum case_fill fill;
    int index_max;
};

/* Case inputs by kind, shape as ndim then the dims: IN_F32(2, 5, 7) is (5, 7), IN_F32(0, 0)
 * a scalar. */
#define IN_F32(ndim, ...) {LT_DTYPE_F32, ndim, {__VA_ARGS__}, FILL_UNIFORM, 0}
#define IN_POSITIVE(ndim, ...) {LT_DTYPE_F32, ndim, {__VA_ARGS__}, FILL_POSITIVE, 0}
#define IN_DISTINCT(ndim, ...) {LT_DTYPE_F32, ndim, {__VA_ARGS__}, FILL_DISTINCT, 0}
#define IN_IDS(index_max, ndim, ...) {LT_DTYPE_I32, ndim, {__VA_ARGS__}, FILL_INDEX, index_max}
#define IN_MASK(ndim, ...) {LT_DTYPE_U8, ndim, {__VA_ARGS__}, FILL_MASK, 0}

struct op_case {
    const char *name;
    enum lt_op op;
    const void *attrs;
    int n_in;
    struct case_input in[LT_MAX_INPUTS];
    unsigned no_grad; /* bit i: input i gets no gradient (indices, running statistics) */
    double tol;       /* finite-difference bound, norm-wise relative; 0 means 1e-2 */
};

/* A case-table row whose n_in is the count of inputs listed (IN_* above), each of them
 * gradient-checked when the op has a backward, with the default tolerance. */
#define OP_CASE(name, op, attrs, ...) OP_CASE_NO_GRAD(name, op, attrs, 0u, __VA_ARGS__)

/* The same where the inputs in no_grad (bit i: input i) get no gradient. */
#define OP_CASE_NO_GRAD(name, op, attrs, no_grad, ...)                                         \
    {name, op, attrs,                                                                          \
     (int)(sizeof((struct case_input[]){__VA_ARGS__}) / sizeof(struct case_input)),           \
     {__VA_ARGS__}, no_grad, 0}

/* The case tables, one per op family (kernels/families.def; tests/cases_<family>.c). */
#define LT_FAMILY(family)                                                                      \
    extern const struct op_case family##_cases[];                                              \
    extern const int family##_case_count;
#include "kernels/families.def"
#undef LT_FAMILY

/* Every family's case table, in families.def's order. */
struct op_family {
    const char *name;
    const struct op_case *cases;
    const int *count;
};
extern const struct op_family op_families[];
extern const int op_family_count;

/* The reference backend, initialised on first use. */
const struct lt_backend *op_ref_backend(void);

/* The fast CPU backend (oneDNN and lutra's own kernels, at the ISA this CPU and
 * LUTRA_MAX_CPU_ISA allow), started on first use; fails the test when it cannot start.
 * op_fast_backend_release releases it (at the end of main). */
const struct lt_backend *op_fast_backend(void);
void op_fast_backend_release(void);

/* The workspace `b`'s kernel for `op` asks for, as a plan asks for it: prepare from the
 * shapes alone (a kernel that declines them leaves the node to the reference kernel, which
 * asks for none), the query, release; rounded up to 64 bytes as the planner places it.
 * backward: the backward call, with a gradient for each input in `grads` (bit i: input
 * i), added into those in `accumulate` (parameters' gradients, in a plan), and for output
 * 0. Only the shapes and dtypes of `in` are read. */
size_t op_workspace(const struct lt_backend *b, enum lt_op op, const void *attrs, int n_in,
                    const struct lt_kview *in, int backward, unsigned grads,
                    unsigned accumulate);

/* ---- bounds ------------------------------------------------------------------------------
 * Comparisons of a fast kernel with the reference use bounds derived from the formats, so
 * that one test holds for native half arithmetic and for f32 on converted copies alike. */

/* The unit roundoff u = 2^-p of a float format with p bits of precision: f32 2^-24, f16
 * 2^-11, bf16 2^-8. A value rounded to nearest is within a relative u of the exact one. */
double op_unit_roundoff(enum lt_dtype dt);

/* The norm-wise bound of a kernel in half type dt against its reference, for sums of up
 * to k terms:
 *   2u  the forward output: both sides round it to dt, each within u of the exact value;
 *   u   gout: a kernel with native half products rounds it to dt first (the reference
 *       keeps it f32); its independent rounding errors add up in a product as the values
 *       themselves do, so the product's norm-wise error stays u (Higham and Mary's
 *       probabilistic rounding-error analysis);
 *   sqrt(k) 2^-24  the f32 accumulation in another order than the reference's double
 *       one (the same probabilistic analysis).
 * 3u + sqrt(k) 2^-24: bf16 0.0117 and f16 0.00147 for k = 4096. */
double op_half_tol(enum lt_dtype dt, int64_t k);

/* Runs the case on the reference kernels: forward writes every output element
 * (outputs are NaN-poisoned first) and, when the op has a backward, every input not in
 * no_grad passes a central-difference gradient check (loss = sum(w * out0) with random
 * w), in overwrite and in accumulate mode. */
void op_check_case(const struct op_case *c);
void op_check_cases(const struct op_case *cases, int n);

/* Runs the case on `fast` and on the reference, forward and backward (overwrite and
 * accumulate mode), and compares every output and gradient: floats by norm-wise relative
 * error ||a - ref|| / ||ref|| <= tol, integers exactly. */
void op_compare_case(const struct op_case *c, const struct lt_backend *fast, double tol);

/* op_compare_case with the case's f32 inputs rounded to dt (to nearest even) first (a
 * STATS op's input 0 alone: its weights stay f32): the f16 and bf16 kernels, compared
 * with their reference; half outputs are compared by their f32 values, norm-wise. */
void op_compare_case_as(const struct op_case *c, const struct lt_backend *fast, enum lt_dtype dt,
                        double tol);

/* Runs the case on `b` twice, forward and backward (overwrite and accumulate mode), from
 * the same inputs, run r with an OpenMP team of threads[r], and asserts that the two runs
 * give the same bits: what a threaded kernel guarantees for a given thread count, or
 * (with two different counts) for any. Leaves the team size at threads[1]. */
void op_repeat_case(const struct op_case *c, const struct lt_backend *b, const int threads[2]);

/* A contiguous tensor for tests, data from malloc (kv_free releases it). kv_new zeroes
 * the data; kv_f32 and kv_i32 copy numel values; kv_half makes a 1-D f16 or bf16 tensor
 * of n elements from their bit patterns. */
struct lt_kview kv_new(enum lt_dtype dt, int ndim, const int64_t *shape);
struct lt_kview kv_f32(int ndim, const int64_t *shape, const float *values);
struct lt_kview kv_i32(int ndim, const int64_t *shape, const int32_t *values);
struct lt_kview kv_half(enum lt_dtype dt, int64_t n, const uint16_t *bits);
/* A new tensor of v's shape holding v's values converted to dt (floats round to nearest
 * even, to an integer truncate), for tests that need the same data in another dtype. */
struct lt_kview kv_convert(const struct lt_kview *v, enum lt_dtype dt);
void kv_free(struct lt_kview *v);

/* Runs the forward reference kernel of `op` into outputs the caller allocated with the
 * shapes shape inference gives. The outputs are NaN-poisoned first (a byte pattern for
 * integer dtypes), so an element the kernel leaves alone shows. `exec` keys the random
 * streams (NULL: a fixed seed, epoch and sample_base). Returns the kernel's status, its
 * message in msg (LT_KMSG_SIZE bytes; NULL when the caller does not want it); fails the
 * test only when the op has no reference kernel for in[0]'s dtype. */
enum lt_status op_run(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                      struct lt_kview *out, const struct lt_exec_info *exec, char *msg);

/* Runs the backward reference kernel with gout for output 0 (other outputs get no
 * gradient) into gin[i] for each input whose gin[i].data != NULL: it adds into gin[i]
 * when bit i of `accumulate` is set, else overwrites gin[i], NaN-poisoned first. The
 * kernel sees only the forward tensors the op's backward_reads names (the others have
 * data == NULL), as in a planned step. Returns as op_run does; fails the test when the
 * op has no backward reference kernel. */
enum lt_status op_run_backward(enum lt_op op, const void *attrs, int n_in,
                               const struct lt_kview *in, const struct lt_kview *out,
                               const struct lt_kview *gout, struct lt_kview *gin,
                               unsigned accumulate, const struct lt_exec_info *exec, char *msg);

/* op_run and op_run_backward on backend b's kernels, with the tensors of the slots in
 * `blocked` (and their gradients) in the blocked layout (struct lt_kargs). */
enum lt_status op_run_blocked(const struct lt_backend *b, enum lt_op op, const void *attrs,
                              int n_in, const struct lt_kview *in, struct lt_kview *out,
                              unsigned blocked, char *msg);
enum lt_status op_run_backward_blocked(const struct lt_backend *b, enum lt_op op,
                                       const void *attrs, int n_in, const struct lt_kview *in,
                                       const struct lt_kview *out, const struct lt_kview *gout,
                                       struct lt_kview *gin, unsigned accumulate,
                                       unsigned blocked, char *msg);

/* Infers the outputs' shapes, allocates them and runs op_run; asserts that shape
 * inference and the kernel succeed. Free outputs with kv_free. */
void op_forward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                struct lt_kview *out);

/* op_run_backward overwriting every gin[i] with data != NULL; asserts that it succeeds. */
void op_backward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                 const struct lt_kview *out, const struct lt_kview *gout,
                 struct lt_kview *gin);

/* Asserts that shape inference of `op` fails with LT_EINVAL and a message containing
 * `want`. */
void op_infer_fails(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                    const char *want);

/* Asserts |a - b| <= tol * max(1, |b|) element-wise, naming the worst element. */
void assert_floats_near(const float *a, const float *b, int64_t n, double tol);

#endif
