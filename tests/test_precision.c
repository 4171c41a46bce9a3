/* Mixed precision: the precision pass's graph trains like f32, its plan stores
 * activations in half and counts parameter copies, and the loss scaler skips an
 * overflowing step, backs off and grows as configured. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/plan.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

#define OK(call) CHECK(ctx, call)

SUITE_CONTEXT

enum { DIM = 16, CLASSES = 4, BATCH = 32 };
static const int sizes[] = {DIM, 64, 64, CLASSES};
static const struct lt_optim_group groups[2] = {{1, 1}, {1, 0}};

static struct lt_optim_config sgd(float lr) {
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, lr);
    opt.momentum = 0.9f;
    opt.n_groups = 2;
    opt.groups = groups;
    return opt;
}

/* The training graph of m in `half`, with its loss's id there. */
static struct lt_graph *mixed(struct mlp *m, enum lt_dtype half, int *loss) {
    int *map = malloc((size_t)lt_graph_value_count(m->g) * sizeof *map);
    struct lt_graph *g;
    OK(lt_graph_mixed(ctx, m->g, half, &g, map));
    *loss = map[m->loss];
    free(map);
    return g;
}

static double train_accuracy(enum lt_dtype half) {
    lt_ctx_set_seed(ctx, 11);
    struct lt_tensor *x, *y, *tx, *ty;
    blobs_make(ctx, 1024, DIM, CLASSES, 0, &x, &y);
    blobs_make(ctx, 512, DIM, CLASSES, 1, &tx, &ty);
    struct mlp m, eval;
    mlp_build(ctx, &m, BATCH, sizes, 3, 0.1f);
    int loss;
    struct lt_graph *g = mixed(&m, half, &loss);
    struct lt_optim_config opt = sgd(0.05f);
    struct lt_plan *plan;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, g, loss, &opt, &plan));
    OK(lt_trainer_new(ctx, plan, &tr));
    train_epochs(ctx, tr, x, y, BATCH, 2, NULL, NULL);
    mlp_build_eval(ctx, &m, &eval, BATCH, sizes);
    double acc = mlp_accuracy(ctx, &eval, tx, ty, BATCH);
    lt_trainer_free(tr);
    lt_plan_free(plan);
    lt_graph_free(g);
    mlp_free(&eval);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
    lt_tensor_free(tx);
    lt_tensor_free(ty);
    return acc;
}

static void bf16_and_f16_train_like_f32(void **state) {
    (void)state;
    /* separable blobs: every precision must get essentially all of them */
    assert_true(train_accuracy(LT_DTYPE_BF16) >= 0.97);
    assert_true(train_accuracy(LT_DTYPE_F16) >= 0.97);
}

/* The update one SGD step (lr 1) applies to every weight and bias of the MLP in f32,
 * bf16 and f16 (the half ones' weight gradients written in f32 by the products, the
 * biases' summed from half gout): each within a few of the half type's units in the
 * last place of f32's. */
static void half_gradients_are_close_to_f32(void **state) {
    (void)state;
    struct lt_tensor *x, *y;
    blobs_make(ctx, BATCH, DIM, CLASSES, 2, &x, &y);
    float *u[3][6]; /* [precision][layer's weight, layer's bias] */
    for (int p = 0; p < 3; p++) {
        lt_ctx_set_seed(ctx, 5);
        struct mlp m;
        mlp_build(ctx, &m, BATCH, sizes, 3, 0);
        int loss = m.loss;
        struct lt_graph *g = p == 0 ? m.g : mixed(&m, p == 1 ? LT_DTYPE_BF16 : LT_DTYPE_F16, &loss);
        struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 1.0f);
        opt.n_groups = 2;
        opt.groups = groups;
        struct lt_plan *plan;
        struct lt_trainer *tr;
        OK(lt_plan_new(ctx, g, loss, &opt, &plan));
        OK(lt_trainer_new(ctx, plan, &tr));
        for (int t = 0; t < 6; t++) {
            struct lt_tensor *w = t % 2 ? m.b[t / 2] : m.w[t / 2];
            u[p][t] = malloc(lt_tensor_bytes(w));
            memcpy(u[p][t], lt_tensor_data(w), lt_tensor_bytes(w));
        }
        struct lt_step_input in = {1, (struct lt_tensor *[]){x, y}, 0, 0, NULL};
        struct lt_step_result r;
        OK(lt_trainer_step(tr, &in, &r));
        for (int t = 0; t < 6; t++) { /* becomes the applied update */
            struct lt_tensor *w = t % 2 ? m.b[t / 2] : m.w[t / 2];
            for (int64_t e = 0; e < lt_tensor_numel(w); e++)
                u[p][t][e] -= ((float *)lt_tensor_data(w))[e];
        }
        lt_trainer_free(tr);
        lt_plan_free(plan);
        if (g != m.g)
            lt_graph_free(g);
        mlp_free(&m);
    }
    for (int p = 1; p < 3; p++)
        for (int t = 0; t < 6; t++) {
            int64_t n = t % 2 ? sizes[t / 2 + 1] : (int64_t)sizes[t / 2] * sizes[t / 2 + 1];
            double d = 0, r = 0;
            for (int64_t e = 0; e < n; e++) {
                d += pow((double)u[p][t][e] - u[0][t][e], 2);
                r += pow((double)u[0][t][e], 2);
            }
            /* bf16 keeps 8 bits of mantissa, f16 11: a few units in the last place */
            double bound = p == 1 ? 3e-2 : 5e-3;
            if (!(r > 0 && sqrt(d / r) < bound))
                fail_msg("%s update of layer %d's %s differs from f32 by %.3g",
                         p == 1 ? "bf16" : "f16", t / 2, t % 2 ? "bias" : "weight", sqrt(d / r));
        }
    for (int p = 0; p < 3; p++)
        for (int t = 0; t < 6; t++)
            free(u[p][t]);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* The update one bf16 SGD step (lr 1) applies to the first layer's weights of the MLP
 * (with relu and dropout), in context c; *nodes: the nodes of its plan. */
static float *bf16_update(struct lt_ctx *c, int *nodes) {
    lt_ctx_set_seed(c, 5);
    struct lt_tensor *x, *y;
    blobs_make(c, BATCH, DIM, CLASSES, 2, &x, &y);
    struct mlp m;
    mlp_build(c, &m, BATCH, sizes, 3, 0.25f);
    int *map = malloc((size_t)lt_graph_value_count(m.g) * sizeof *map);
    struct lt_graph *g;
    CHECK(c, lt_graph_mixed(c, m.g, LT_DTYPE_BF16, &g, map));
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 1.0f);
    opt.n_groups = 2;
    opt.groups = groups;
    struct lt_plan *plan;
    struct lt_trainer *tr;
    CHECK(c, lt_plan_new(c, g, map[m.loss], &opt, &plan));
    CHECK(c, lt_trainer_new(c, plan, &tr));
    *nodes = lt_plan_node_count(plan);
    float *update = malloc(lt_tensor_bytes(m.w[0]));
    memcpy(update, lt_tensor_data(m.w[0]), lt_tensor_bytes(m.w[0]));
    struct lt_step_input in = {1, (struct lt_tensor *[]){x, y}, 0, 0, NULL};
    struct lt_step_result r;
    CHECK(c, lt_trainer_step(tr, &in, &r));
    for (int64_t e = 0; e < lt_tensor_numel(m.w[0]); e++)
        update[e] -= ((float *)lt_tensor_data(m.w[0]))[e];
    lt_trainer_free(tr);
    lt_plan_free(plan);
    lt_graph_free(g);
    free(map);
    mlp_free(&m);
    lt_tensor_free(x);
    lt_tensor_free(y);
    return update;
}

/* A kernel that takes f32 gradients (every CUDA kernel; on the CPU the reference relu)
 * gets f32 copies of its half gradients through the planner's casts: the reference
 * kernels' bf16 step, which goes through them, applies the update the fast half-gradient
 * kernels apply, up to bf16's rounding. */
static void planner_casts_around_f32_gradient_kernels(void **state) {
    (void)state;
    struct lt_ctx *ref;
    assert_int_equal(lt_ctx_new(&ref), LT_OK);
    lt_ctx_use_reference(ref);
    int fast_nodes, ref_nodes;
    float *fast = bf16_update(ctx, &fast_nodes), *slow = bf16_update(ref, &ref_nodes);
    /* the reference relu's backward: gout cast to f32 before, gin cast back after */
    assert_true(ref_nodes >= fast_nodes + 2 * 2);
    int64_t n = (int64_t)DIM * sizes[1];
    double d = 0, r = 0;
    for (int64_t e = 0; e < n; e++) {
        d += pow((double)slow[e] - fast[e], 2);
        r += pow((double)fast[e], 2);
    }
    if (!(r > 0 && sqrt(d / r) < 1e-2))
        fail_msg("the update through the planner's casts differs by %.3g", sqrt(d / r));
    free(fast);
    free(slow);
    lt_ctx_free(ref);
}

static void plan_stores_activations_in_half_and_counts_copies(void **state) {
    (void)state;
    struct mlp m;
    mlp_build(ctx, &m, 128, (int[]){784, 1024, 1024, 10}, 3, 0);
    struct lt_optim_config opt = sgd(0.1f);
    struct lt_plan *p32, *p16;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p32));
    int loss;
    struct lt_graph *g = mixed(&m, LT_DTYPE_BF16, &loss);
    OK(lt_plan_new(ctx, g, loss, &opt, &p16));
    struct lt_mem_report r32, r16;
    lt_plan_report(p32, &r32);
    lt_plan_report(p16, &r16);
    assert_int_equal(r32.bytes[LT_MEM_PARAM_COPIES], 0);
    /* every weight and bias once in bf16 (each padded to 64 bytes) */
    assert_true(r16.bytes[LT_MEM_PARAM_COPIES] >= r16.bytes[LT_MEM_PARAMS] / 2);
    assert_true(r16.bytes[LT_MEM_PARAM_COPIES] <= r16.bytes[LT_MEM_PARAMS] / 2 + 6 * 64);
    assert_int_equal(r16.bytes[LT_MEM_PARAMS], r32.bytes[LT_MEM_PARAMS]); /* f32 masters */
    assert_int_equal(r16.bytes[LT_MEM_GRADS], r32.bytes[LT_MEM_GRADS]);   /* f32 grads */
    /* f32: two relu outputs (128, 1024) and the logits (128, 10) kept for the loss; the
     * input batch itself is `data`. bf16: the relu outputs in half, the logits still f32
     * for the loss, and the input's bf16 copy, which the first linear's weight gradient
     * reads (as in PyTorch's autocast). */
    size_t relu = 128 * 1024, logits = 128 * 10 * 4;
    assert_int_equal(r32.bytes[LT_MEM_ACTIVATIONS], 2 * relu * 4 + logits);
    assert_int_equal(r16.bytes[LT_MEM_ACTIVATIONS], 2 * relu * 2 + logits + 128 * 784 * 2);
    lt_plan_free(p32);
    lt_plan_free(p16);
    lt_graph_free(g);
    mlp_free(&m);
}

/* The CNN conv(1->32, 3, p1)-relu-maxpool2-conv(32->64, 3, p1)-relu-maxpool2-
 * linear(3136->128)-relu-linear(128->10) at batch 128; its parameter tensors go to `own`. */
static int build_cnn(struct lt_graph *g, struct lt_tensor **own, int *n_own) {
    int x, y, h, loss;
    CHECK(ctx, lt_graph_input(g, LT_DTYPE_F32, 4, (int64_t[]){128, 1, 28, 28}, "x", &x));
    CHECK(ctx, lt_graph_input(g, LT_DTYPE_I32, 1, (int64_t[]){128}, "y", &y));
    static const int64_t shapes[][4] = {{32, 1, 3, 3}, {64, 32, 3, 3}, {128, 3136}, {10, 128}};
    static const int ndims[] = {4, 4, 2, 2};
    int w[4];
    for (int i = 0; i < 4; i++) {
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, ndims[i], shapes[i], &own[*n_own]));
        CHECK(ctx, lt_tensor_uniform(ctx, own[*n_own], (uint64_t)i, -0.1, 0.1));
        CHECK(ctx, lt_graph_param(g, own[(*n_own)++], NULL, 0, &w[i]));
    }
    struct lt_conv2d_attrs ca = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pa = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_reshape_attrs ra = {2, {128, 3136}};
    int pooled[2]; /* max pooling's y and argmax codes */
    struct lt_cross_entropy_attrs ce = {0, -100};
    CHECK(ctx, lt_graph_op(g, LT_OP_CONV2D, 2, (int[]){x, w[0]}, &ca, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_RELU, 1, &h, NULL, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_MAX_POOL2D, 1, &h, &pa, pooled));
    h = pooled[0];
    CHECK(ctx, lt_graph_op(g, LT_OP_CONV2D, 2, (int[]){h, w[1]}, &ca, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_RELU, 1, &h, NULL, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_MAX_POOL2D, 1, &h, &pa, pooled));
    h = pooled[0];
    CHECK(ctx, lt_graph_op(g, LT_OP_RESHAPE, 1, &h, &ra, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){h, w[2]}, NULL, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_RELU, 1, &h, NULL, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){h, w[3]}, NULL, &h));
    CHECK(ctx, lt_graph_op(g, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce, &loss));
    return loss;
}

/* How many parameters' gradients a backward cast (of the parameter's half copy) writes,
 * and how many other backward nodes write. */
static void gradient_writers(const struct lt_plan *p, int *by_casts, int *by_others) {
    *by_casts = *by_others = 0;
    for (int b = 0; b < p->n_bufs; b++) {
        if (p->bufs[b].kind != LT_BUF_GRAD)
            continue;
        for (int n = 0; n < p->n_nodes; n++)
            for (int i = 0; i < p->nodes[n].n_in; i++)
                if (p->nodes[n].gin[i] == b) {
                    if (p->nodes[n].op == LT_OP_CAST)
                        ++*by_casts;
                    else
                        ++*by_others;
                }
    }
}

static void cnn_plan_in(enum lt_dtype half) {
    struct lt_graph *g, *mixed_g;
    struct lt_tensor *own[4];
    int n_own = 0;
    CHECK(ctx, lt_graph_new(ctx, &g));
    int loss = build_cnn(g, own, &n_own);
    int *map = malloc((size_t)lt_graph_value_count(g) * sizeof *map);
    CHECK(ctx, lt_graph_mixed(ctx, g, half, &mixed_g, map));
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *p32, *p16;
    CHECK(ctx, lt_plan_new(ctx, g, loss, &opt, &p32));
    CHECK(ctx, lt_plan_new(ctx, mixed_g, map[loss], &opt, &p16));
    struct lt_mem_report r32, r16;
    lt_plan_report(p32, &r32);
    lt_plan_report(p16, &r16);
    /* every kept activation in half but the max poolings' argmax codes (a byte each
     * either way) and the logits (f32 for the loss), plus what f32 did not keep: the
     * input's half copy, which the first conv's weight gradient reads */
    size_t codes = 128 * 32 * 14 * 14 + 128 * 64 * 7 * 7, logits = 128 * 10 * sizeof(float);
    size_t input = 128 * 28 * 28 * 2, a32 = r32.bytes[LT_MEM_ACTIVATIONS];
    size_t want = codes + (a32 - codes - logits) / 2 + logits + input;
    if (r16.bytes[LT_MEM_ACTIVATIONS] != want)
        fail_msg("%s activations are %zu bytes, want %zu (f32: %zu)", lt_dtype_name(half),
                 r16.bytes[LT_MEM_ACTIVATIONS], want, a32);
    /* bf16: the convolutions and linears write their parameters' f32 gradients
     * themselves (struct lt_kernel's f32_gin); f16's fast kernels (f32 ones on copies)
     * write the half copies' gradients, which their casts' backward widen */
    int by_casts, by_others;
    gradient_writers(p16, &by_casts, &by_others);
    assert_int_equal(by_casts + by_others, n_own);
    assert_int_equal(by_casts, half == LT_DTYPE_BF16 ? 0 : n_own);
    lt_plan_free(p32);
    lt_plan_free(p16);
    lt_graph_free(mixed_g);
    lt_graph_free(g);
    free(map);
    for (int i = 0; i < n_own; i++)
        lt_tensor_free(own[i]);
}

/* In both half dtypes (f16 products and convolutions run f32 kernels on copies, but
 * what they keep is f16). */
static void cnn_plan_keeps_activations_in_half_at_half_the_bytes(void **state) {
    (void)state;
    static const enum lt_dtype halves[] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    for (int h = 0; h < 2; h++)
        cnn_plan_in(halves[h]);
}

/* mse(matmul(P, X), T) + mse(matmul(X, W), X) over X (2, 6, 5): P (4, 6) is the left
 * operand, repeated over X's batch (its gradient summed over the batch entries), W (5,
 * 5) the right one, shared. Two micro-batches of one SGD step from fixed streams, in
 * context c and precision `half` (f32: as built); the update of P and W, concatenated
 * (malloc'd); *by_casts: how many parameters' gradients a cast backward writes. */
static float *matmul_update(struct lt_ctx *c, enum lt_dtype half, int *by_casts) {
    lt_ctx_set_seed(c, 7);
    struct net m;
    net_begin(c, &m);
    int x, t;
    CHECK(c, lt_graph_input(m.g, LT_DTYPE_F32, 3, (int64_t[]){2, 6, 5}, "x", &x));
    CHECK(c, lt_graph_input(m.g, LT_DTYPE_F32, 3, (int64_t[]){2, 4, 5}, "t", &t));
    int pw = net_tensor(c, &m, 0, 2, (int64_t[]){4, 6}, -1);
    int ww = net_tensor(c, &m, 0, 2, (int64_t[]){5, 5}, -1);
    int left = net_op(c, &m, LT_OP_MATMUL, 2, (int[]){pw, x}, NULL);
    int right = net_op(c, &m, LT_OP_MATMUL, 2, (int[]){x, ww}, NULL);
    int l1 = net_op(c, &m, LT_OP_MSE, 2, (int[]){left, t}, NULL);
    int l2 = net_op(c, &m, LT_OP_MSE, 2, (int[]){right, x}, NULL);
    m.loss = net_op(c, &m, LT_OP_ADD, 2, (int[]){l1, l2}, NULL);
    float *before = malloc((4 * 6 + 5 * 5) * sizeof(float));
    memcpy(before, lt_tensor_data(m.t[0]), 4 * 6 * sizeof(float));
    memcpy(before + 4 * 6, lt_tensor_data(m.t[1]), 5 * 5 * sizeof(float));
    struct net_run r;
    net_run_begin(c, &m, half, NULL, &r);
    int by_others;
    gradient_writers(r.p, by_casts, &by_others);
    struct lt_tensor *in[4];
    for (int k = 0; k < 4; k++) {
        const int64_t *shape = k % 2 ? (int64_t[]){2, 4, 5} : (int64_t[]){2, 6, 5};
        CHECK(c, lt_tensor_new(c, LT_DTYPE_F32, 3, shape, &in[k]));
        CHECK(c, lt_tensor_normal(c, in[k], 60 + (uint64_t)k, 0, 1));
    }
    double loss;
    net_steps(c, r.t, in, 1, &loss, NULL, NULL);
    for (int e = 0; e < 4 * 6; e++)
        before[e] -= ((float *)lt_tensor_data(m.t[0]))[e];
    for (int e = 0; e < 5 * 5; e++)
        before[4 * 6 + e] -= ((float *)lt_tensor_data(m.t[1]))[e];
    for (int k = 0; k < 4; k++)
        lt_tensor_free(in[k]);
    net_run_end(&m, &r);
    net_free(&m);
    return before;
}

static double rel_diff(const float *a, const float *b, int n) {
    double d = 0, r = 0;
    for (int e = 0; e < n; e++) {
        d += pow((double)a[e] - b[e], 2);
        r += pow((double)b[e], 2);
    }
    return sqrt(d / r);
}

/* Both operands of a bf16 matmul are parameters whose f32 gradients the product writes
 * itself (no cast backward), the left one summed over the batch, on the fast and the
 * reference kernels: their updates are f32's up to bf16's rounding of the operands. */
static void bf16_matmul_writes_f32_parameter_gradients(void **state) {
    (void)state;
    struct lt_ctx *ref;
    assert_int_equal(lt_ctx_new(&ref), LT_OK);
    lt_ctx_use_reference(ref);
    int casts;
    float *f32 = matmul_update(ctx, LT_DTYPE_F32, &casts);
    float *fast = matmul_update(ctx, LT_DTYPE_BF16, &casts);
    assert_int_equal(casts, 0);
    float *slow = matmul_update(ref, LT_DTYPE_BF16, &casts);
    assert_int_equal(casts, 0);
    int n = 4 * 6 + 5 * 5;
    double d_fast = rel_diff(fast, f32, n), d_ref = rel_diff(slow, fast, n);
    if (!(d_fast < 2e-2 && d_ref < 1e-2))
        fail_msg("bf16 updates: fast against f32 %.3g, reference against fast %.3g", d_fast, d_ref);
    free(f32);
    free(fast);
    free(slow);
    lt_ctx_free(ref);
}

/* An f16 MLP whose input can be made to overflow f16 (|x| > 65504). */
struct scaled {
    struct mlp m;
    struct lt_graph *g;
    struct lt_plan *plan;
    struct lt_trainer *tr;
    struct lt_tensor *x, *y;
};

static void scaled_new(struct scaled *s, const struct lt_loss_scale *ls) {
    lt_ctx_set_seed(ctx, 1);
    mlp_build(ctx, &s->m, BATCH, sizes, 3, 0);
    int loss;
    s->g = mixed(&s->m, LT_DTYPE_F16, &loss);
    struct lt_optim_config opt = sgd(0.01f);
    OK(lt_plan_new(ctx, s->g, loss, &opt, &s->plan));
    OK(lt_trainer_new(ctx, s->plan, &s->tr));
    OK(lt_trainer_set_loss_scale(s->tr, ls));
    blobs_make(ctx, BATCH, DIM, CLASSES, 3, &s->x, &s->y);
}

static struct lt_step_result scaled_step(struct scaled *s, int overflow) {
    float *x = lt_tensor_data(s->x);
    float saved = x[0];
    if (overflow)
        x[0] = 1e6f; /* inf once rounded to f16 */
    struct lt_step_input in = {1, (struct lt_tensor *[]){s->x, s->y}, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(s->tr, &in, &r));
    x[0] = saved;
    return r;
}

static void scaled_free(struct scaled *s) {
    lt_trainer_free(s->tr);
    lt_plan_free(s->plan);
    lt_graph_free(s->g);
    mlp_free(&s->m);
    lt_tensor_free(s->x);
    lt_tensor_free(s->y);
}

static void dynamic_scale_skips_overflow_backs_off_and_grows(void **state) {
    (void)state;
    struct scaled s;
    struct lt_loss_scale ls = {256.0f, 1, 2.0f, 0.5f, 2};
    scaled_new(&s, &ls);
    float *w = lt_tensor_data(s.m.w[0]);
    float w0 = w[0];
    struct lt_step_result r = scaled_step(&s, 1);
    assert_true(r.skipped);
    assert_int_equal(r.step, 0);
    assert_true(r.loss_scale == 256.0f);
    assert_true(w[0] == w0); /* the weights were not touched */
    assert_true(lt_trainer_loss_scale(s.tr) == 128.0f);
    r = scaled_step(&s, 0);
    assert_false(r.skipped);
    assert_int_equal(r.step, 1);
    assert_true(lt_trainer_loss_scale(s.tr) == 128.0f);
    r = scaled_step(&s, 0); /* the second clean step in a row: growth */
    assert_true(lt_trainer_loss_scale(s.tr) == 256.0f);
    scaled_free(&s);
}

/* Gradients are f16 between the f16 ops, as automatic mixed precision keeps them: from a
 * scale of 2^24 the scaled gradients overflow f16 with no input forcing it, so the first
 * steps are skipped, each halving the scale, until they fit; then the model trains. */
static void scale_from_2_24_backs_off_until_f16_gradients_fit(void **state) {
    (void)state;
    struct scaled s;
    const float start = 16777216.0f;
    struct lt_loss_scale ls = {start, 1, 2.0f, 0.5f, 1000};
    scaled_new(&s, &ls);
    int skipped = 0;
    double first = NAN, last = NAN;
    for (int i = 0; i < 100; i++) {
        struct lt_step_result r = scaled_step(&s, 0);
        if (i == 0)
            assert_true(r.skipped);
        if (r.skipped) {
            assert_int_equal(r.step, 0); /* only before the first applied step */
            skipped++;
            continue;
        }
        first = isnan(first) ? r.loss : first;
        last = r.loss;
    }
    assert_true(skipped >= 2 && skipped < 20);
    assert_true(lt_trainer_loss_scale(s.tr) == ldexpf(start, -skipped)); /* no growth yet */
    assert_true(last < 0.5 * first);
    scaled_free(&s);
}

static void static_scale_never_changes(void **state) {
    (void)state;
    struct scaled s;
    struct lt_loss_scale ls = {512.0f, 0, 2.0f, 0.5f, 1};
    scaled_new(&s, &ls);
    struct lt_step_result r = scaled_step(&s, 1);
    assert_true(r.skipped);
    for (int i = 0; i < 3; i++)
        scaled_step(&s, 0);
    assert_true(lt_trainer_loss_scale(s.tr) == 512.0f);
    ls.scale = NAN;
    assert_int_equal(lt_trainer_set_loss_scale(s.tr, &ls), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "loss scale must be a finite number > 0"));
    scaled_free(&s);
}

static void scale_does_not_change_the_update(void **state) {
    (void)state;
    /* the same step with scale 1 and scale 1024 applies the same update (exact powers of
     * two: only rounding inside half ops can differ) */
    float *after[2];
    for (int i = 0; i < 2; i++) {
        struct scaled s;
        struct lt_loss_scale ls = {i ? 1024.0f : 1.0f, 0, 2.0f, 0.5f, 1};
        scaled_new(&s, &ls);
        scaled_step(&s, 0);
        after[i] = malloc(lt_tensor_bytes(s.m.w[0]));
        memcpy(after[i], lt_tensor_data(s.m.w[0]), lt_tensor_bytes(s.m.w[0]));
        scaled_free(&s);
    }
    assert_floats_near(after[1], after[0], (int64_t)DIM * sizes[1], 1e-5);
    free(after[0]);
    free(after[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bf16_and_f16_train_like_f32),
        cmocka_unit_test(half_gradients_are_close_to_f32),
        cmocka_unit_test(planner_casts_around_f32_gradient_kernels),
        cmocka_unit_test(plan_stores_activations_in_half_and_counts_copies),
        cmocka_unit_test(cnn_plan_keeps_activations_in_half_at_half_the_bytes),
        cmocka_unit_test(bf16_matmul_writes_f32_parameter_gradients),
        cmocka_unit_test(dynamic_scale_skips_overflow_backs_off_and_grows),
        cmocka_unit_test(scale_from_2_24_backs_off_until_f16_gradients_fit),
        cmocka_unit_test(static_scale_never_changes),
        cmocka_unit_test(scale_does_not_change_the_update),
    };
    return cmocka_run_group_tests_name("precision", tests, setup, teardown);
}
