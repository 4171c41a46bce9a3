/* Training on the GPU through the public API: the device step equals the CPU's (captured
 * and checkpointed steps equal plain ones), an MLP learns, the memory the trainer takes
 * on the card is what the plan said (evaluation borrowing the step's), and a CNN on a
 * slice of Fashion-MNIST reaches the CPU's accuracy. Without a GPU every test says
 * "skipped: no GPU" and why. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/train_util.h"

static struct lt_ctx *gpu, *cpu;
static char why[1024];

static int setup(void **state) {
    (void)state;
    if (lt_ctx_new(&gpu) != LT_OK || lt_ctx_new(&cpu) != LT_OK)
        return -1;
    if (lt_ctx_set_device(gpu, "cuda") != LT_OK) {
        snprintf(why, sizeof why, "%s", lt_ctx_error(gpu));
        lt_ctx_free(gpu);
        gpu = NULL;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lt_ctx_free(gpu);
    lt_ctx_free(cpu);
    return 0;
}

#define NEED_GPU()                                                                                 \
    do {                                                                                           \
        if (!gpu) {                                                                                \
            printf("skipped: no GPU (%s)\n", why);                                                 \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* mlp_build puts weights in group 0 and biases in group 1 */
static const struct lt_optim_group groups[2] = {{1, 1}, {1, 0}};

/* SGD with momentum over the MLP, planned with options o (NULL: none); the forward
 * nodes it recomputes into *recomputed when that is not NULL. */
static struct lt_trainer *trainer_with(struct lt_ctx *ctx, struct mlp *m, float lr,
                                       const struct lt_plan_options *o, int *recomputed) {
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, lr);
    opt.momentum = 0.9f;
    opt.n_groups = 2;
    opt.groups = groups;
    struct lt_plan *p;
    struct lt_trainer *t;
    CHECK(ctx, lt_plan_new_with(ctx, m->g, m->loss, &opt, o, &p));
    int segments;
    if (recomputed)
        lt_plan_checkpointing(p, &segments, recomputed);
    CHECK(ctx, lt_trainer_new(ctx, p, &t));
    lt_plan_free(p);
    return t;
}

static struct lt_trainer *trainer_for(struct lt_ctx *ctx, struct mlp *m, float lr) {
    return trainer_with(ctx, m, lr, NULL, NULL);
}

#define STEPS 5

/* An MLP with dropout trained STEPS steps of six micro-batches (both kinds of run, both
 * data slots, the staging slots reused) on ctx, planned with options o; its losses, and
 * the model in m. */
static void two_micro_run(struct lt_ctx *ctx, const struct lt_plan_options *o, struct mlp *m,
                          double *losses, int *recomputed) {
    static const int sizes[] = {32, 64, 64, 5};
    struct lt_tensor *x, *y, *x2, *y2;
    blobs_make(cpu, 32, 32, 5, 0, &x, &y);
    blobs_make(cpu, 32, 32, 5, 1, &x2, &y2);
    lt_ctx_set_seed(ctx, 11);
    mlp_build(ctx, m, 32, sizes, 3, 0.2f);
    struct lt_trainer *t = trainer_with(ctx, m, 0.05f, o, recomputed);
    for (int s = 0; s < STEPS; s++) {
        struct lt_tensor *in[12] = {x, y, x2, y2, x, y, x2, y2, x2, y2, x, y};
        struct lt_step_input si = {6, in, 0, 192 * s, NULL};
        struct lt_step_result r;
        CHECK(ctx, lt_trainer_step(t, &si, &r));
        losses[s] = r.loss;
    }
    lt_trainer_free(t);
    lt_tensor_free(x);
    lt_tensor_free(y);
    lt_tensor_free(x2);
    lt_tensor_free(y2);
}

/* Run 1 (`what`) gave run 0's losses and weights, bit for bit; frees both models. */
static void assert_same_runs(struct mlp m[2], double losses[2][STEPS], const char *what) {
    for (int s = 0; s < STEPS; s++)
        if (losses[1][s] != losses[0][s])
            fail_msg("step %d: %s loss %.9g, plain %.9g", s, what, losses[1][s], losses[0][s]);
    for (int l = 0; l < 3; l++)
        for (int64_t i = 0; i < lt_tensor_numel(m[0].w[l]); i++)
            if (lt_tensor_get(m[1].w[l], i) != lt_tensor_get(m[0].w[l], i))
                fail_msg("%s: layer %d weight %lld differs", what, l, (long long)i);
    mlp_free(&m[0]);
    mlp_free(&m[1]);
}

/* Same seed, same data, no dropout: the GPU's losses are the CPU's to f32 rounding, and
 * so are the weights after the steps (read back through the parameter tensors). */
static void gpu_steps_equal_cpu_steps(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {32, 64, 64, 5};
    struct lt_ctx *ctxs[2] = {cpu, gpu};
    struct mlp m[2];
    struct lt_trainer *t[2];
    struct lt_tensor *x, *y;
    blobs_make(cpu, 64, 32, 5, 0, &x, &y);
    double losses[2][6];
    for (int d = 0; d < 2; d++) {
        lt_ctx_set_seed(ctxs[d], 7);
        mlp_build(ctxs[d], &m[d], 64, sizes, 3, 0);
        t[d] = trainer_for(ctxs[d], &m[d], 0.05f);
        for (int s = 0; s < 6; s++) {
            struct lt_tensor *in[2] = {x, y};
            struct lt_step_input si = {1, in, 0, 0, NULL};
            struct lt_step_result r;
            CHECK(ctxs[d], lt_trainer_step(t[d], &si, &r));
            losses[d][s] = r.loss;
        }
    }
    for (int s = 0; s < 6; s++)
        if (fabs(losses[1][s] - losses[0][s]) > 1e-4 * fmax(1, fabs(losses[0][s])))
            fail_msg("step %d: GPU loss %.7f, CPU %.7f", s, losses[1][s], losses[0][s]);
    for (int l = 0; l < 3; l++) {
        int64_t n = lt_tensor_numel(m[0].w[l]);
        for (int64_t i = 0; i < n; i++)
            if (fabs(lt_tensor_get(m[1].w[l], i) - lt_tensor_get(m[0].w[l], i)) > 1e-4)
                fail_msg("layer %d weight %lld: GPU %.7f, CPU %.7f", l, (long long)i,
                         lt_tensor_get(m[1].w[l], i), lt_tensor_get(m[0].w[l], i));
    }
    for (int d = 0; d < 2; d++) {
        lt_trainer_free(t[d]);
        mlp_free(&m[d]);
    }
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* A class target outside the logits' range is bad data: the step fails with a message
 * before anything is updated, and the next good step runs. */
static void bad_target_fails_the_step(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {8, 16, 4};
    struct mlp m;
    struct lt_tensor *x, *y;
    blobs_make(cpu, 16, 8, 4, 0, &x, &y);
    mlp_build(gpu, &m, 16, sizes, 2, 0);
    struct lt_trainer *t = trainer_for(gpu, &m, 0.05f);
    float before = lt_tensor_get(m.w[0], 0);
    lt_tensor_set(y, 3, 9);
    struct lt_tensor *in[2] = {x, y};
    struct lt_step_input si = {1, in, 0, 0, NULL};
    struct lt_step_result r;
    assert_int_equal(lt_trainer_step(t, &si, &r), LT_EINVAL);
    if (!strstr(lt_ctx_error(gpu), "outside"))
        fail_msg("message: %s", lt_ctx_error(gpu));
    assert_true(lt_tensor_get(m.w[0], 0) == before);
    lt_tensor_set(y, 3, 1);
    CHECK(gpu, lt_trainer_step(t, &si, &r));
    assert_int_equal(r.step, 1);
    lt_trainer_free(t);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* A forward program on the GPU over plain host tensors (no trainer) gives the CPU's
 * logits to f32 rounding. */
static void gpu_forward_equals_cpu_forward(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {32, 64, 64, 5};
    struct mlp m, eval;
    struct lt_tensor *x, *y, *logits[2];
    lt_ctx_set_seed(cpu, 5);
    blobs_make(cpu, 48, 32, 5, 0, &x, &y);
    mlp_build(cpu, &m, 48, sizes, 3, 0);
    mlp_build_eval(cpu, &m, &eval, 48, sizes);
    struct lt_ctx *ctxs[2] = {cpu, gpu};
    for (int d = 0; d < 2; d++) {
        struct lt_forward *f;
        CHECK(ctxs[d], lt_forward_new(ctxs[d], eval.g, 1, &eval.logits, &f));
        CHECK(ctxs[d], lt_tensor_new(ctxs[d], LT_DTYPE_F32, 2, (int64_t[]){48, 5}, &logits[d]));
        CHECK(ctxs[d], lt_forward_run(f, &x, &logits[d], 0, 0));
        lt_forward_free(f);
    }
    for (int64_t i = 0; i < 48 * 5; i++)
        if (fabs(lt_tensor_get(logits[1], i) - lt_tensor_get(logits[0], i)) > 1e-5)
            fail_msg("logit %lld: GPU %.7f, CPU %.7f", (long long)i, lt_tensor_get(logits[1], i),
                     lt_tensor_get(logits[0], i));
    lt_tensor_free(logits[0]);
    lt_tensor_free(logits[1]);
    mlp_free(&eval);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* A captured step (CUDA graph) replays what the plain step runs: with dropout (whose
 * random stream moves every step) and six micro-batches per step, the same losses and
 * weights, bit for bit. */
static void captured_steps_equal_plain_steps(void **state) {
    (void)state;
    NEED_GPU();
    struct lt_ctx *plain;
    assert_int_equal(lt_ctx_new(&plain), LT_OK);
    CHECK(plain, lt_ctx_set_device(plain, "cuda"));
    struct mlp m[2];
    double losses[2][STEPS];
    two_micro_run(plain, NULL, &m[0], losses[0], NULL);
    lt_ctx_set_graphs(gpu, 1);
    two_micro_run(gpu, NULL, &m[1], losses[1], NULL);
    lt_ctx_set_graphs(gpu, 0);
    assert_same_runs(m, losses, "captured");
    lt_ctx_free(plain);
}

/* Activation checkpointing on the GPU: the recomputed activations are the kept ones, so
 * losses and weights are the plain run's. */
static void checkpointed_steps_equal_plain_steps_on_gpu(void **state) {
    (void)state;
    NEED_GPU();
    struct mlp m[2];
    double losses[2][STEPS];
    int recomputed = 0;
    struct lt_plan_options o = {.checkpoint = 1};
    two_micro_run(gpu, NULL, &m[0], losses[0], NULL);
    two_micro_run(gpu, &o, &m[1], losses[1], &recomputed);
    assert_true(recomputed > 0);
    assert_same_runs(m, losses, "checkpointed");
}

/* An evaluation program made for a trainer takes less of the card than one of its own
 * (it borrows the step's arenas and reads the trainer's weights in place) and computes
 * the same logits. */
static void evaluation_borrows_the_step_memory_on_gpu(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {32, 256, 256, 5};
    struct mlp m, eval;
    struct lt_tensor *x, *y, *logits[2];
    blobs_make(cpu, 64, 32, 5, 0, &x, &y);
    mlp_build(gpu, &m, 64, sizes, 3, 0);
    mlp_build_eval(gpu, &m, &eval, 32, sizes);
    struct lt_trainer *t = trainer_for(gpu, &m, 0.05f);
    struct lt_tensor *in[2] = {x, y};
    struct lt_step_input si = {1, in, 0, 0, NULL};
    struct lt_step_result r;
    CHECK(gpu, lt_trainer_step(t, &si, &r));
    struct lt_tensor *rows;
    CHECK(cpu, lt_tensor_slice(cpu, x, 0, 32, &rows));
    size_t used[2];
    for (int shared = 0; shared < 2; shared++) {
        size_t free0, free1, total, runtime;
        lt_ctx_device_memory(gpu, &free0, &total, &runtime);
        struct lt_forward *f;
        CHECK(gpu, shared ? lt_forward_new_for(gpu, eval.g, 1, &eval.logits, t, &f)
                          : lt_forward_new(gpu, eval.g, 1, &eval.logits, &f));
        CHECK(gpu, lt_tensor_new(gpu, LT_DTYPE_F32, 2, (int64_t[]){32, 5}, &logits[shared]));
        CHECK(gpu, lt_forward_run(f, &rows, &logits[shared], 0, 0));
        lt_ctx_device_memory(gpu, &free1, &total, &runtime);
        used[shared] = free0 - free1;
        lt_forward_free(f);
    }
    printf("an evaluation program of its own took %zu bytes of the card, one borrowing the "
           "step's memory %zu\n", used[0], used[1]);
    assert_true(used[1] < used[0]);
    assert_memory_equal(lt_tensor_data(logits[0]), lt_tensor_data(logits[1]),
                        lt_tensor_bytes(logits[0]));
    lt_tensor_free(logits[0]);
    lt_tensor_free(logits[1]);
    lt_tensor_free(rows);
    lt_trainer_free(t);
    mlp_free(&eval);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

static void mlp_learns_blobs_on_gpu(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {16, 64, 64, 4};
    struct mlp m, eval;
    struct lt_tensor *x, *y;
    lt_ctx_set_seed(gpu, 1);
    blobs_make(gpu, 2048, 16, 4, 0, &x, &y);
    mlp_build(gpu, &m, 64, sizes, 3, 0.1f);
    struct lt_trainer *t = trainer_for(gpu, &m, 0.05f);
    double first, last;
    train_epochs(gpu, t, x, y, 64, 3, &first, &last);
    mlp_build_eval(gpu, &m, &eval, 256, sizes);
    double acc = mlp_accuracy(gpu, &eval, x, y, 256);
    if (!(acc >= 0.98 && last < first))
        fail_msg("accuracy %.4f, loss %.4f -> %.4f", acc, first, last);
    lt_trainer_free(t);
    mlp_free(&eval);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* cudaMalloc rounds each allocation up to the driver's 2 MiB pages (small ones share). */
#define PAGE ((size_t)2 << 20)

static void gpu_memory_matches_plan(void **state) {
    (void)state;
    NEED_GPU();
    static const int sizes[] = {784, 4096, 4096, 10};
    struct mlp m;
    mlp_build(gpu, &m, 512, sizes, 3, 0);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 1e-3f);
    opt.n_groups = 2;
    opt.groups = groups;
    struct lt_plan *p;
    struct lt_trainer *t;
    CHECK(gpu, lt_plan_new(gpu, m.g, m.loss, &opt, &p));
    struct lt_mem_report plan;
    lt_plan_report(p, &plan);
    size_t free0, free1, total, runtime;
    lt_ctx_device_memory(gpu, &free0, &total, &runtime);
    CHECK(gpu, lt_trainer_new(gpu, p, &t));
    lt_ctx_device_memory(gpu, &free1, &total, &runtime);
    size_t used = free0 - free1;
    printf("plan %.1f MiB, the card's free memory fell by %.1f MiB; runtime %.1f MiB\n",
           (double)plan.total / (1 << 20), (double)used / (1 << 20), (double)runtime / (1 << 20));
    /* ten allocations at most: the arenas, flat buffers and data slots */
    if (used + 10 * PAGE < plan.total || used > plan.total + 10 * PAGE)
        fail_msg("planned %zu bytes, the card lost %zu", plan.total, used);
    assert_true(runtime > 0);
    lt_trainer_free(t);
    lt_plan_free(p);
    mlp_free(&m);
}

/* ---- a CNN on Fashion-MNIST --------------------------------------------------------- */

#define TRAIN_N 4096
#define TEST_N 2048
#define BATCH 128

struct cnn {
    struct lt_graph *g;
    int x, y, logits, loss;
    struct lt_tensor *p[8];
};

static int add(struct lt_ctx *ctx, struct cnn *c, enum lt_op op, int n, const int *in,
               const void *attrs) {
    int v[LT_MAX_OUTPUTS];
    CHECK(ctx, lt_graph_op(c->g, op, n, in, attrs, v));
    return v[0];
}

static int param(struct lt_ctx *ctx, struct cnn *c, int i, int ndim, const int64_t *shape,
                 double fan_in) {
    int v;
    if (!c->p[i]) {
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &c->p[i]));
        double bound = 1.0 / sqrt(fan_in);
        CHECK(ctx, lt_tensor_uniform(ctx, c->p[i], (uint64_t)i, -bound, bound));
    }
    CHECK(ctx, lt_graph_param(c->g, c->p[i], "p", 0, &v));
    return v;
}

/* conv(1->8,3,p1)-relu-maxpool2-conv(8->16,3,p1)-relu-maxpool2-linear(784->10), small
 * enough for the CPU's side to train in seconds on the reference kernels (a GPU check
 * is built without oneDNN);
 * `from` shares its parameter tensors (an evaluation graph). */
static void cnn_build(struct lt_ctx *ctx, struct cnn *c, const struct cnn *from, int64_t batch,
                      int train) {
    if (from)
        for (int i = 0; i < 8; i++)
            c->p[i] = from->p[i] ? lt_tensor_retain(from->p[i]) : NULL;
    CHECK(ctx, lt_graph_new(ctx, &c->g));
    CHECK(ctx, lt_graph_input(c->g, LT_DTYPE_F32, 4, (int64_t[]){batch, 1, 28, 28}, "x", &c->x));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    int h = c->x, ch = 1, i = 0;
    for (int l = 0; l < 2; l++) {
        int o = 8 << l;
        int w = param(ctx, c, i++, 4, (int64_t[]){o, ch, 3, 3}, ch * 9);
        int b = param(ctx, c, i++, 1, (int64_t[]){o}, ch * 9);
        h = add(ctx, c, LT_OP_CONV2D, 3, (int[]){h, w, b}, &conv);
        h = add(ctx, c, LT_OP_RELU, 1, &h, NULL);
        h = add(ctx, c, LT_OP_MAX_POOL2D, 1, &h, &pool);
        ch = o;
    }
    struct lt_reshape_attrs flat = {2, {batch, 16 * 7 * 7}};
    h = add(ctx, c, LT_OP_RESHAPE, 1, &h, &flat);
    int w = param(ctx, c, i++, 2, (int64_t[]){10, 16 * 7 * 7}, 16 * 7 * 7);
    int b = param(ctx, c, i++, 1, (int64_t[]){10}, 16 * 7 * 7);
    c->logits = add(ctx, c, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
    if (train) {
        CHECK(ctx, lt_graph_input(c->g, LT_DTYPE_I32, 1, (int64_t[]){batch}, "y", &c->y));
        struct lt_cross_entropy_attrs ce = {0, -100};
        c->loss = add(ctx, c, LT_OP_CROSS_ENTROPY, 2, (int[]){c->logits, c->y}, &ce);
    }
}

static void cnn_free(struct cnn *c) {
    lt_graph_free(c->g);
    for (int i = 0; i < 8; i++)
        lt_tensor_free(c->p[i]);
}

static struct lt_loader *slice_loader(struct lt_ctx *ctx, const char *split, int64_t n,
                                      int shuffle) {
    struct lt_dataset *ds, *part;
    CHECK(ctx, lt_dataset_open_fmnist(ctx, getenv("LUTRA_FMNIST_DIR"), split, &ds));
    CHECK(ctx, lt_dataset_range(ctx, ds, 0, n, &part));
    struct lt_loader_config lc = lt_loader_defaults(BATCH);
    lc.shuffle = shuffle;
    lc.drop_last = 1;
    lc.mean[0] = LT_FMNIST_MEAN;
    lc.std[0] = LT_FMNIST_STD;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, part, &lc, &ld));
    lt_dataset_free(part);
    lt_dataset_free(ds);
    return ld;
}

/* Trains two epochs of the slice on ctx's device; the test slice's accuracy. */
static double cnn_accuracy_after_training(struct lt_ctx *ctx) {
    struct cnn c = {0}, e = {0};
    lt_ctx_set_seed(ctx, 3);
    cnn_build(ctx, &c, NULL, BATCH, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    struct lt_plan *p;
    struct lt_trainer *t;
    CHECK(ctx, lt_plan_new(ctx, c.g, c.loss, &opt, &p));
    CHECK(ctx, lt_trainer_new(ctx, p, &t));
    struct lt_loader *train = slice_loader(ctx, "train", TRAIN_N, 1);
    struct lt_batch b;
    for (int s = 0; s < 2 * TRAIN_N / BATCH; s++) {
        CHECK(ctx, lt_loader_next(train, &b));
        struct lt_tensor *in[2] = {b.x, b.y};
        struct lt_step_input si = {1, in, b.epoch, b.sample_base, NULL};
        struct lt_step_result r;
        CHECK(ctx, lt_trainer_step(t, &si, &r));
        assert_false(r.skipped);
    }
    cnn_build(ctx, &e, &c, BATCH, 0);
    struct lt_forward *f;
    CHECK(ctx, lt_forward_new(ctx, e.g, 1, &e.logits, &f));
    struct lt_tensor *logits;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){BATCH, 10}, &logits));
    struct lt_loader *test = slice_loader(ctx, "test", TEST_N, 0);
    int64_t right = 0;
    for (int k = 0; k < TEST_N / BATCH; k++) {
        CHECK(ctx, lt_loader_next(test, &b));
        CHECK(ctx, lt_forward_run(f, &b.x, &logits, 0, 0));
        for (int r = 0; r < BATCH; r++) {
            int best = 0;
            for (int j = 1; j < 10; j++)
                if (lt_tensor_get(logits, r * 10 + j) > lt_tensor_get(logits, r * 10 + best))
                    best = j;
            right += best == (int)lt_tensor_get(b.y, r);
        }
    }
    lt_loader_free(test);
    lt_loader_free(train);
    lt_tensor_free(logits);
    lt_forward_free(f);
    lt_trainer_free(t);
    lt_plan_free(p);
    cnn_free(&e);
    cnn_free(&c);
    return (double)right / TEST_N;
}

static void cnn_reaches_cpu_accuracy(void **state) {
    (void)state;
    NEED_GPU();
    struct lt_dataset *probe;
    if (lt_dataset_open_fmnist(cpu, getenv("LUTRA_FMNIST_DIR"), "test", &probe) != LT_OK) {
        printf("skipped: no Fashion-MNIST (%s)\n", lt_ctx_error(cpu));
        skip();
    }
    lt_dataset_free(probe);
    double on_gpu = cnn_accuracy_after_training(gpu);
    double on_cpu = cnn_accuracy_after_training(cpu);
    printf("CNN, %d training samples x 2 epochs: test accuracy %.4f on the GPU, %.4f on the CPU\n",
           TRAIN_N, on_gpu, on_cpu);
    if (!(on_gpu >= 0.65 && on_gpu >= on_cpu - 0.02))
        fail_msg("GPU accuracy %.4f, CPU %.4f", on_gpu, on_cpu);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gpu_steps_equal_cpu_steps),
        cmocka_unit_test(bad_target_fails_the_step),
        cmocka_unit_test(gpu_forward_equals_cpu_forward),
        cmocka_unit_test(captured_steps_equal_plain_steps),
        cmocka_unit_test(checkpointed_steps_equal_plain_steps_on_gpu),
        cmocka_unit_test(evaluation_borrows_the_step_memory_on_gpu),
        cmocka_unit_test(mlp_learns_blobs_on_gpu),
        cmocka_unit_test(gpu_memory_matches_plan),
        cmocka_unit_test(cnn_reaches_cpu_accuracy),
    };
    return cmocka_run_group_tests_name("gpu training", tests, setup, teardown);
}
