/* Every op of every family on the GPU against the CPU reference kernels, forward and
 * backward (overwrite and accumulate), on the case tables of tests/test_ops.c: f32 to
 * 1e-5 norm-wise, TF32 products and convolutions to 1e-3, f16 and bf16 kernels to 1e-2
 * against the reference on the same rounded inputs. Outputs are NaN-poisoned first and
 * every call is followed by a wait that reports any CUDA error (tests/device_shim.h).
 * Without a GPU (or without the plugin) every test says "skipped: no GPU" and why. */
#include <stdio.h>

#include "core/ctx.h"
#include "tests/device_shim.h"
#include "tests/op_check.h"

#define MAX_FAMILIES 32

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

static void gpu_matches_reference(void **state) {
    NEED_GPU();
    const struct op_family *f = *state;
    for (int i = 0; i < *f->count; i++) {
        const struct op_case *c = &f->cases[i];
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
        op_compare_case(&conv_cases[i], &shim, 1e-3);
    lt_ctx_set_tf32(ctx, 0);
}

int main(void) {
    struct CMUnitTest tests[MAX_FAMILIES + 1];
    static char names[MAX_FAMILIES][64];
    int n = 0;
    for (int i = 0; i < op_family_count && i < MAX_FAMILIES; i++) {
        snprintf(names[i], sizeof names[0], "%s: GPU matches the reference", op_families[i].name);
        tests[n++] = (struct CMUnitTest){names[i], gpu_matches_reference, NULL, NULL,
                                         (void *)&op_families[i]};
    }
    tests[n++] =
        (struct CMUnitTest){"TF32 within its bound", tf32_within_its_bound, NULL, NULL, NULL};
    return _cmocka_run_group_tests("gpu ops", tests, (size_t)n, setup, teardown);
}
