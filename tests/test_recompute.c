/* Activation checkpointing (lt_plan_new_with, core/recompute.c): checkpointed steps give
 * the plain steps' losses, weights and batch-norm running statistics bit for bit (with
 * dropout, two micro-batches, in f32 and in bf16), the activations a deep chain keeps
 * shrink to a fraction, and a model where recomputing does not pay keeps its plain plan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 8
#define MAX_TENSORS 32

/* conv-bn-relu blocks with pooling and a dropout, then a linear head: the tensors it
 * owns (parameters, running statistics) come from fixed streams, so two builds start
 * equal. */
struct net {
    struct lt_graph *g;
    int x, y, loss;
    struct lt_tensor *t[MAX_TENSORS];
    int n;
};

static int tensor(struct net *m, int state, int ndim, const int64_t *shape, double init) {
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &t));
    if (init < 0)
        CHECK(ctx, lt_tensor_uniform(ctx, t, (uint64_t)m->n + 100, -0.3, 0.3));
    else
        lt_tensor_fill(t, init);
    m->t[m->n++] = t;
    int v;
    if (state)
        CHECK(ctx, lt_graph_state(m->g, t, "s", &v));
    else
        CHECK(ctx, lt_graph_param(m->g, t, "p", 0, &v));
    return v;
}

/* Adds an op; returns its output 0 (batch norm's saved statistics are outputs 1 and 2). */
static int op(struct net *m, enum lt_op o, int n, const int *in, const void *attrs) {
    int v[LT_MAX_OUTPUTS];
    CHECK(ctx, lt_graph_op(m->g, o, n, in, attrs, v));
    return v[0];
}

static void net_build(struct net *m) {
    memset(m, 0, sizeof *m);
    CHECK(ctx, lt_graph_new(ctx, &m->g));
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, (int64_t[]){BATCH, 3, 16, 16}, "x", &m->x));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_dropout_attrs drop = {0.25f, 1};
    static const int64_t widths[] = {8, 8, 16, 16};
    int h = m->x;
    int64_t ch = 3;
    for (int l = 0; l < 4; l++) {
        int64_t o = widths[l];
        int w = tensor(m, 0, 4, (int64_t[]){o, ch, 3, 3}, -1);
        h = op(m, LT_OP_CONV2D, 2, (int[]){h, w}, &conv);
        int gamma = tensor(m, 0, 1, &o, 1), beta = tensor(m, 0, 1, &o, 0);
        int mean = tensor(m, 1, 1, &o, 0), var = tensor(m, 1, 1, &o, 1);
        h = op(m, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, mean, var}, &bn);
        h = op(m, LT_OP_RELU, 1, &h, NULL);
        if (l % 2)
            h = op(m, LT_OP_MAX_POOL2D, 1, &h, &pool);
        if (l == 2)
            h = op(m, LT_OP_DROPOUT, 1, &h, &drop);
        ch = o;
    }
    struct lt_reshape_attrs flat = {2, {BATCH, 16 * 4 * 4}};
    h = op(m, LT_OP_RESHAPE, 1, &h, &flat);
    int w = tensor(m, 0, 2, (int64_t[]){5, 16 * 4 * 4}, -1);
    int b = tensor(m, 0, 1, (int64_t[]){5}, 0);
    h = op(m, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &m->y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = op(m, LT_OP_CROSS_ENTROPY, 2, (int[]){h, m->y}, &ce);
}

static void net_free(struct net *m) {
    lt_graph_free(m->g);
    for (int i = 0; i < m->n; i++)
        lt_tensor_free(m->t[i]);
}

static struct lt_plan *plan_of(struct lt_graph *g, int loss, int checkpoint) {
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    struct lt_plan_options o = {checkpoint};
    struct lt_plan *p;
    CHECK(ctx, lt_plan_new_with(ctx, g, loss, &opt, &o, &p));
    return p;
}

/* Three steps of two micro-batches; the losses, then every tensor's bytes. */
static void train(struct net *m, enum lt_dtype half, int checkpoint, double losses[3],
                  int *recomputed) {
    struct lt_graph *g = m->g;
    int loss = m->loss;
    if (half != LT_DTYPE_F32) {
        int map[256];
        assert_true(lt_graph_value_count(m->g) <= 256);
        CHECK(ctx, lt_graph_mixed(ctx, m->g, half, &g, map));
        loss = map[m->loss];
    }
    struct lt_plan *p = plan_of(g, loss, checkpoint);
    int n_segments;
    lt_plan_checkpointing(p, &n_segments, recomputed);
    struct lt_trainer *t;
    CHECK(ctx, lt_trainer_new(ctx, p, &t));
    struct lt_tensor *x[2], *y[2];
    for (int k = 0; k < 2; k++) {
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, (int64_t[]){BATCH, 3, 16, 16}, &x[k]));
        CHECK(ctx, lt_tensor_normal(ctx, x[k], 7 + (uint64_t)k, 0, 1));
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, &y[k]));
        for (int i = 0; i < BATCH; i++)
            lt_tensor_set(y[k], i, (i * 3 + k) % 5);
    }
    struct lt_tensor *in[4] = {x[0], y[0], x[1], y[1]};
    for (int s = 0; s < 3; s++) {
        struct lt_step_input si = {2, in, (uint32_t)s, 0};
        struct lt_step_result r;
        CHECK(ctx, lt_trainer_step(t, &si, &r));
        assert_false(r.skipped);
        losses[s] = r.loss;
    }
    for (int k = 0; k < 2; k++) {
        lt_tensor_free(x[k]);
        lt_tensor_free(y[k]);
    }
    lt_trainer_free(t);
    lt_plan_free(p);
    if (g != m->g)
        lt_graph_free(g);
}

static void steps_equal(enum lt_dtype half) {
    struct net plain, ckpt;
    net_build(&plain);
    net_build(&ckpt);
    double a[3], b[3];
    int none, recomputed;
    train(&plain, half, 0, a, &none);
    train(&ckpt, half, 1, b, &recomputed);
    assert_int_equal(none, 0);
    assert_true(recomputed > 0);
    for (int s = 0; s < 3; s++)
        if (a[s] != b[s])
            fail_msg("step %d: loss %.9g checkpointed, %.9g plain", s, b[s], a[s]);
    for (int i = 0; i < plain.n; i++) /* weights, and batch norm's running statistics */
        if (memcmp(lt_tensor_data(plain.t[i]), lt_tensor_data(ckpt.t[i]),
                   lt_tensor_bytes(plain.t[i])))
            fail_msg("tensor %d differs after checkpointed steps", i);
    net_free(&plain);
    net_free(&ckpt);
}

static void checkpointed_steps_equal_plain_steps(void **state) {
    (void)state;
    steps_equal(LT_DTYPE_F32);
}

static void checkpointed_bf16_steps_equal_plain_steps(void **state) {
    (void)state;
    steps_equal(LT_DTYPE_BF16);
}

/* x (rows, widths[0]), or an image (rows, 1, 28, 28) flattened to it, through n linear
 * layers to widths[n], the first `relus` of them followed by relu, into cross entropy.
 * The weights go into w. */
static struct lt_graph *chain(int64_t rows, int image, const int64_t *widths, int n, int relus,
                              struct lt_tensor **w, int *loss) {
    struct lt_graph *g;
    CHECK(ctx, lt_graph_new(ctx, &g));
    int h, y, v;
    if (image) {
        CHECK(ctx, lt_graph_input(g, LT_DTYPE_F32, 4, (int64_t[]){rows, 1, 28, 28}, "x", &h));
        struct lt_reshape_attrs flat = {2, {rows, widths[0]}};
        CHECK(ctx, lt_graph_op(g, LT_OP_RESHAPE, 1, &h, &flat, &h));
    } else {
        CHECK(ctx, lt_graph_input(g, LT_DTYPE_F32, 2, (int64_t[]){rows, widths[0]}, "x", &h));
    }
    for (int l = 0; l < n; l++) {
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){widths[l + 1], widths[l]},
                                 &w[l]));
        CHECK(ctx, lt_graph_param(g, w[l], "w", 0, &v));
        CHECK(ctx, lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){h, v}, NULL, &h));
        if (l < relus)
            CHECK(ctx, lt_graph_op(g, LT_OP_RELU, 1, &h, NULL, &h));
    }
    CHECK(ctx, lt_graph_input(g, LT_DTYPE_I32, 1, (int64_t[]){rows}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    CHECK(ctx, lt_graph_op(g, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce, loss));
    return g;
}

/* The plain and checkpointed plans' reports, the checkpointed one's segments and
 * recomputed nodes, and how many more nodes it has; frees the graph and weights. */
struct both {
    struct lt_mem_report plain, ckpt;
    int segments, recomputed, more_nodes;
};

static struct both plan_both(struct lt_graph *g, int loss, struct lt_tensor **w, int n) {
    struct both r;
    struct lt_plan *plain = plan_of(g, loss, 0), *ckpt = plan_of(g, loss, 1);
    lt_plan_report(plain, &r.plain);
    lt_plan_report(ckpt, &r.ckpt);
    lt_plan_checkpointing(ckpt, &r.segments, &r.recomputed);
    r.more_nodes = lt_plan_node_count(ckpt) - lt_plan_node_count(plain);
    lt_plan_free(plain);
    lt_plan_free(ckpt);
    lt_graph_free(g);
    for (int l = 0; l < n; l++)
        lt_tensor_free(w[l]);
    return r;
}

/* A chain of 16 linear-relu layers: its activations fall to well under half, the total
 * falls, and the recomputation is one more forward at most. */
static void checkpointing_keeps_fewer_activations(void **state) {
    (void)state;
    int64_t widths[17];
    for (int l = 0; l <= 16; l++)
        widths[l] = 512;
    struct lt_tensor *w[16];
    int loss;
    struct lt_graph *g = chain(256, 0, widths, 16, 16, w, &loss);
    struct both r = plan_both(g, loss, w, 16);
    printf("activations %zu -> %zu bytes, total %zu -> %zu; %d segments, %d nodes recomputed\n",
           r.plain.bytes[LT_MEM_ACTIVATIONS], r.ckpt.bytes[LT_MEM_ACTIVATIONS], r.plain.total,
           r.ckpt.total, r.segments, r.recomputed);
    assert_true(r.segments >= 4);
    assert_true(r.ckpt.bytes[LT_MEM_ACTIVATIONS] * 2 < r.plain.bytes[LT_MEM_ACTIVATIONS]);
    assert_true(r.ckpt.total < r.plain.total);
    assert_int_equal(r.more_nodes, r.recomputed);
    assert_true(r.recomputed > 0 && r.recomputed <= 32);
}

/* A flatten and a narrow chain: recomputing would copy the 784-wide input again for
 * little, so checkpointing is left out and the plan is the plain one. */
static void checkpointing_that_does_not_pay_is_left_out(void **state) {
    (void)state;
    static const int64_t widths[] = {784, 32, 32, 32, 32, 10};
    struct lt_tensor *w[5];
    int loss;
    struct lt_graph *g = chain(128, 1, widths, 5, 3, w, &loss);
    struct both r = plan_both(g, loss, w, 5);
    assert_int_equal(r.ckpt.total, r.plain.total);
    assert_int_equal(r.segments, 1);
    assert_int_equal(r.recomputed, 0);
    assert_int_equal(r.more_nodes, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkpointed_steps_equal_plain_steps),
        cmocka_unit_test(checkpointed_bf16_steps_equal_plain_steps),
        cmocka_unit_test(checkpointing_keeps_fewer_activations),
        cmocka_unit_test(checkpointing_that_does_not_pay_is_left_out),
    };
    return cmocka_run_group_tests_name("recompute", tests, setup, teardown);
}
