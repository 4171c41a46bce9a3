/* Every op of every family on the GPU against the CPU reference kernels, forward and
 * backward (overwrite and accumulate), on the case tables of tests/test_ops.c: f32 to
 * 1e-5 norm-wise, TF32 products and convolutions to 1e-3, f16 and bf16 kernels to 1e-2
 * against the reference on the same rounded inputs. Outputs are NaN-poisoned first and
 * every call is followed by a wait that reports any CUDA error (tests/device_shim.h).
 * The NCCL collectives of data-parallel ranks get a smoke test on one rank (no MPI).
 * Without a GPU (or without the plugin) every test says "skipped: no GPU" and why. */
#include <stdio.h>

#include "core/ctx.h"
#include "tests/device_shim.h"
#include "tests/op_check.h"

#define MAX_FAMILIES 32
#define COMM_FLOATS 1000

static struct lt_ctx *ctx;
static struct lt_backend shim;
static int have_gpu;

static int setup(void **state) {
    (void)state;
    if (lt_ctx_new(&ctx) != LT_OK)
        return -1;
    if (lt_ctx_set_device(ctx, "cuda") == LT_OK) {
        have_gpu = 1;
        device_shim_init(&shim, ctx->run);
        printf("GPU: %s\n", lt_ctx_device_info(ctx));
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lt_ctx_free(ctx);
    return 0;
}

#define NEED_GPU()                                                                                 \
    do {                                                                                           \
        if (!have_gpu) {                                                                           \
            printf("skipped: no GPU (%s)\n", lt_ctx_error(ctx));                                   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

static int has_kernels(enum lt_op op, enum lt_dtype dt) {
    return shim.kernels[op][dt].forward && op_ref_backend()->kernels[op][dt].forward;
}

/* Whether the device lacks case c's op where it may: the fused convolution and pool,
 * which the planner makes only where a backend has a kernel for the pair (core/rewrite.c).
 * Every other op must have a device kernel (op_compare_case fails naming it). */
static int may_lack(const struct op_case *c) {
    return c->op == LT_OP_CONV2D_MAX_POOL2D && !shim.kernels[c->op][c->in[0].dtype].forward;
}

static void gpu_matches_reference(void **state) {
    NEED_GPU();
    const struct op_family *f = *state;
    for (int i = 0; i < *f->count; i++) {
        const struct op_case *c = &f->cases[i];
        if (may_lack(c))
            continue;
        op_compare_case(c, &shim, 1e-5);
        if (c->in[0].dtype != LT_DTYPE_F32)
            continue;
        if (has_kernels(c->op, LT_DTYPE_BF16))
            op_compare_case_as(c, &shim, LT_DTYPE_BF16, 1e-2);
        if (has_kernels(c->op, LT_DTYPE_F16))
            op_compare_case_as(c, &shim, LT_DTYPE_F16, 1e-2);
    }
}

/* TF32 is the products' and convolutions' opt-in: 10 mantissa bits in, f32 out. */
static void tf32_within_its_bound(void **state) {
    (void)state;
    NEED_GPU();
    lt_ctx_set_tf32(ctx, 1);
    for (int i = 0; i < linear_case_count; i++)
        op_compare_case(&linear_cases[i], &shim, 1e-3);
    for (int i = 0; i < conv_case_count; i++)
        if (!may_lack(&conv_cases[i]))
            op_compare_case(&conv_cases[i], &shim, 1e-3);
    lt_ctx_set_tf32(ctx, 0);
}

/* The NCCL collectives on a communicator of one rank, no MPI: comm_id, comm_init as rank 0
 * of 1, a sum over floats [10, 910) of a known buffer, comm_wait; a sum over one rank
 * leaves every float as it was. The only test that joins: before it the device has no
 * communicator, so a sum or a wait is refused, and after it a second join is. */
static void nccl_sum_over_one_rank(void **state) {
    (void)state;
    NEED_GPU();
    const struct lt_backend *be = ctx->run;
    assert_non_null(be->dev.comm_id);
    assert_non_null(be->dev.comm_init);
    assert_non_null(be->dev.comm_sum);
    assert_non_null(be->dev.comm_wait);
    char msg[LT_KMSG_SIZE] = "";
    float host[COMM_FLOATS], back[COMM_FLOATS];
    for (int i = 0; i < COMM_FLOATS; i++)
        host[i] = 0.25f * (float)(i - 500);
    void *buf = NULL;
    enum lt_status st = be->dev.alloc(be->impl, sizeof host, &buf, msg);
    if (st == LT_OK)
        st = be->dev.copy(be->impl, buf, host, sizeof host, LT_COPY_H2D, msg);
    if (st != LT_OK) {
        be->dev.free(be->impl, buf);
        fail_msg("allocating and filling the buffer (%d): %s", st, msg);
    }
    float *lo = (float *)buf + 10;
    assert_int_equal(be->dev.comm_sum(be->impl, lo, 900, msg), LT_EINVAL);
    assert_int_equal(be->dev.comm_wait(be->impl, 30.0, msg), LT_EINVAL);

    unsigned char id[LT_COMM_ID_BYTES];
    if ((st = be->dev.comm_id(be->impl, id, msg)) == LT_OK &&
        (st = be->dev.comm_init(be->impl, id, 0, 1, msg)) == LT_OK &&
        (st = be->dev.comm_sum(be->impl, lo, 900, msg)) == LT_OK &&
        (st = be->dev.comm_wait(be->impl, 30.0, msg)) == LT_OK)
        st = be->dev.copy(be->impl, back, buf, sizeof back, LT_COPY_D2H, msg);
    be->dev.free(be->impl, buf);
    if (st != LT_OK)
        fail_msg("the sum over one rank failed (%d): %s", st, msg);
    for (int i = 0; i < COMM_FLOATS; i++)
        if (back[i] != host[i])
            fail_msg("float %d: %g after the sum, %g before", i, (double)back[i], (double)host[i]);
    msg[0] = '\0';
    assert_int_equal(be->dev.comm_init(be->impl, id, 0, 1, msg), LT_EINVAL);
    assert_true(msg[0] != '\0');
}

int main(void) {
    struct CMUnitTest tests[MAX_FAMILIES + 2];
    static char names[MAX_FAMILIES][64];
    int n = 0;
    for (int i = 0; i < op_family_count && i < MAX_FAMILIES; i++) {
        snprintf(names[i], sizeof names[0], "%s: GPU matches the reference", op_families[i].name);
        tests[n++] = (struct CMUnitTest){names[i], gpu_matches_reference, NULL, NULL,
                                         (void *)&op_families[i]};
    }
    tests[n++] =
        (struct CMUnitTest){"TF32 within its bound", tf32_within_its_bound, NULL, NULL, NULL};
    tests[n++] =
        (struct CMUnitTest){"NCCL sum over one rank", nccl_sum_over_one_rank, NULL, NULL, NULL};
    return _cmocka_run_group_tests("gpu ops", tests, (size_t)n, setup, teardown);
}
