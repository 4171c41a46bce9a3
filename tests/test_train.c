/* End to end through the C API alone: an MLP learns a synthetic separable problem, and
 * the same seed gives bitwise the same parameters. */
#include <stdlib.h>
#include <string.h>

#include "tests/op_check.h"
#include "tests/train_util.h"

#define OK(call) CHECK(ctx, call)

enum { N_TRAIN = 1024, N_TEST = 512, DIM = 16, CLASSES = 4, BATCH = 32 };
static const int sizes[] = {DIM, 32, 32, CLASSES};

/* Trains for `epochs` with SGD momentum and returns the flat parameters (malloc'd) and
 * test accuracy. */
static float *train(uint64_t seed, int epochs, float dropout, double *accuracy, size_t *n_floats) {
    struct lt_ctx *ctx;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    lt_ctx_set_seed(ctx, seed);
    struct lt_tensor *x, *y, *tx, *ty;
    blobs_make(ctx, N_TRAIN, DIM, CLASSES, 0, &x, &y);
    blobs_make(ctx, N_TEST, DIM, CLASSES, 1, &tx, &ty);
    struct mlp m, eval;
    mlp_build(ctx, &m, BATCH, sizes, 3, dropout);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    opt.weight_decay = 1e-4f;
    struct lt_optim_group groups[2] = {{1, 1}, {1, 0}}; /* no decay on biases */
    opt.n_groups = 2;
    opt.groups = groups;
    struct lt_plan *plan;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &plan));
    OK(lt_trainer_new(ctx, plan, &tr));
    double first = 0, last = 0;
    for (int e = 0; e < epochs; e++)
        for (int64_t s = 0; s + BATCH <= N_TRAIN; s += BATCH) {
            struct lt_tensor *xs, *ys;
            OK(lt_tensor_slice(ctx, x, s, BATCH, &xs));
            OK(lt_tensor_slice(ctx, y, s, BATCH, &ys));
            struct lt_step_input in = {1, (struct lt_tensor *[]){xs, ys}, (uint32_t)e, s};
            struct lt_step_result r;
            OK(lt_trainer_step(tr, &in, &r));
            assert_false(r.skipped);
            if (e == 0 && s == 0)
                first = r.loss;
            last = r.loss;
            lt_tensor_free(xs);
            lt_tensor_free(ys);
        }
    assert_true(last < first / 4);
    mlp_build_eval(ctx, &m, &eval, BATCH, sizes);
    *accuracy = mlp_accuracy(ctx, &eval, tx, ty, BATCH);
    size_t n = 0;
    for (int l = 0; l < 3; l++)
        n += (size_t)(lt_tensor_numel(m.w[l]) + lt_tensor_numel(m.b[l]));
    float *params = malloc(n * sizeof *params), *at = params;
    for (int l = 0; l < 3; l++) {
        memcpy(at, lt_tensor_data(m.w[l]), lt_tensor_bytes(m.w[l]));
        at += lt_tensor_numel(m.w[l]);
        memcpy(at, lt_tensor_data(m.b[l]), lt_tensor_bytes(m.b[l]));
        at += lt_tensor_numel(m.b[l]);
    }
    *n_floats = n;
    lt_trainer_free(tr);
    lt_plan_free(plan);
    mlp_free(&eval);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
    lt_tensor_free(tx);
    lt_tensor_free(ty);
    lt_ctx_free(ctx);
    return params;
}

static void mlp_learns_separable_blobs(void **state) {
    (void)state;
    double acc;
    size_t n;
    free(train(1, 3, 0, &acc, &n));
    /* the blobs are separable: anything short of near-perfect means it did not learn */
    assert_true(acc >= 0.98);
}

static void same_seed_gives_the_same_parameters_bitwise(void **state) {
    (void)state;
    double acc1, acc2, acc3;
    size_t n1, n2, n3;
    float *a = train(7, 1, 0.2f, &acc1, &n1);
    float *b = train(7, 1, 0.2f, &acc2, &n2);
    float *c = train(8, 1, 0.2f, &acc3, &n3);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1 * sizeof *a);
    assert_memory_not_equal(a, c, n1 * sizeof *a);
    free(a);
    free(b);
    free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_learns_separable_blobs),
        cmocka_unit_test(same_seed_gives_the_same_parameters_bitwise),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
