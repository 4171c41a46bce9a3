/* End to end through the C API alone: an MLP learns a synthetic separable problem, and
 * the same seed gives bitwise the same parameters. */
#include <math.h>
#include <stdio.h>
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
    double first, last;
    train_epochs(ctx, tr, x, y, BATCH, epochs, &first, &last);
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

/* Trains 20 steps of effective batch 8 as micro-batches of `micro` rows and returns the
 * first layer's weights (malloc'd). Dropout is on: its masks follow the sample. With
 * `reference`, on the reference kernels. */
static float *train_accumulated(int micro, enum lt_optim_kind kind, int reference) {
    struct lt_ctx *ctx;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    if (reference)
        lt_ctx_use_reference(ctx);
    lt_ctx_set_seed(ctx, 3);
    struct lt_tensor *x, *y;
    blobs_make(ctx, 160, DIM, CLASSES, 0, &x, &y);
    struct mlp m;
    mlp_build(ctx, &m, micro, sizes, 3, 0.2f);
    struct lt_optim_config opt = lt_optim_defaults(kind, kind == LT_OPTIM_SGD ? 0.05f : 1e-3f);
    opt.momentum = kind == LT_OPTIM_SGD ? 0.9f : 0;
    opt.n_groups = 2;
    opt.groups = (struct lt_optim_group[]){{1, 1}, {1, 0}};
    struct lt_plan *plan;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &plan));
    OK(lt_trainer_new(ctx, plan, &tr));
    int n_micro = 8 / micro;
    for (int s = 0; s < 20; s++) {
        struct lt_tensor *batch[16];
        for (int k = 0; k < n_micro; k++) {
            OK(lt_tensor_slice(ctx, x, s * 8 + k * micro, micro, &batch[2 * k]));
            OK(lt_tensor_slice(ctx, y, s * 8 + k * micro, micro, &batch[2 * k + 1]));
        }
        struct lt_step_input in = {n_micro, batch, 0, s * 8, NULL};
        struct lt_step_result r;
        OK(lt_trainer_step(tr, &in, &r));
        assert_int_equal((int)r.count, 8);
        for (int k = 0; k < 2 * n_micro; k++)
            lt_tensor_free(batch[k]);
    }
    float *w = malloc(lt_tensor_bytes(m.w[0]));
    memcpy(w, lt_tensor_data(m.w[0]), lt_tensor_bytes(m.w[0]));
    lt_trainer_free(tr);
    lt_plan_free(plan);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
    lt_ctx_free(ctx);
    return w;
}

static double rel_diff(const float *a, const float *b, int64_t n) {
    double d = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        r += (double)b[i] * b[i];
    }
    return sqrt(d / r);
}

static void accumulation_equals_one_big_batch(void **state) {
    (void)state;
    const enum lt_optim_kind kinds[2] = {LT_OPTIM_SGD, LT_OPTIM_ADAMW};
    const double bound[2] = {1e-5, 1e-4};
    int64_t n = (int64_t)sizes[0] * sizes[1];
    for (int i = 0; i < 2; i++) {
        float *whole = train_accumulated(8, kinds[i], 0);
        for (int micro = 4; micro >= 2; micro /= 2) {
            float *acc = train_accumulated(micro, kinds[i], 0);
            double d = rel_diff(acc, whole, n);
            if (!(d <= bound[i]))
                fail_msg("%s, 8 / %d micro-batches: relative difference %.3g > %.3g",
                         i ? "adamw" : "sgd", micro, d, bound[i]);
            free(acc);
        }
        free(whole);
    }
}

/* On the reference kernels (double sums inside each kernel) the only rounding that
 * accumulation adds is the f32 gradient buffer's: each micro-batch's gradient is rounded
 * to f32 before the next is added. Measured: printed, and bounded well below the fast
 * kernels' bound. */
static void accumulation_on_the_reference_kernels(void **state) {
    (void)state;
    int64_t n = (int64_t)sizes[0] * sizes[1];
    float *whole = train_accumulated(8, LT_OPTIM_SGD, 1);
    for (int micro = 4; micro >= 2; micro /= 2) {
        float *acc = train_accumulated(micro, LT_OPTIM_SGD, 1);
        double d = rel_diff(acc, whole, n);
        int same = memcmp(acc, whole, (size_t)n * sizeof *acc) == 0;
        printf("reference kernels, 8 / %d micro-batches: relative difference %.3g%s\n", micro, d,
               same ? " (bitwise equal)" : "");
        if (!(d <= 1e-6))
            fail_msg("8 / %d micro-batches: relative difference %.3g > 1e-6", micro, d);
        free(acc);
    }
    free(whole);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_learns_separable_blobs),
        cmocka_unit_test(same_seed_gives_the_same_parameters_bitwise),
        cmocka_unit_test(accumulation_equals_one_big_batch),
        cmocka_unit_test(accumulation_on_the_reference_kernels),
    };
    return cmocka_run_group_tests_name("train", tests, NULL, NULL);
}
