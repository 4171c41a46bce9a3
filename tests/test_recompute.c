/* Activation checkpointing (lt_plan_new_with, core/recompute.c): checkpointed steps give
 * the plain steps' losses, weights and batch-norm running statistics bit for bit (with
 * dropout, two micro-batches, in f32 and in bf16), the activations a deep chain keeps
 * shrink to a fraction, a model where recomputing does not pay keeps its plain plan, and
 * the caller's graph is left as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 8

static const int64_t x_shape[4] = {BATCH, 3, 16, 16};

/* conv-bn-relu blocks with pooling and a dropout, then a linear head. */
static void net_build(struct net *m) {
    net_begin(ctx, m);
    int x, y;
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_dropout_attrs drop = {0.25f, 1};
    static const int64_t widths[] = {8, 8, 16, 16};
    int h = x;
    int64_t ch = 3;
    for (int l = 0; l < 4; l++) {
        int64_t o = widths[l];
        int w = net_tensor(ctx, m, 0, 4, (int64_t[]){o, ch, 3, 3}, -1);
        h = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){h, w}, &conv);
        int gamma = net_tensor(ctx, m, 0, 1, &o, 1), beta = net_tensor(ctx, m, 0, 1, &o, 0);
        int mean = net_tensor(ctx, m, 1, 1, &o, 0), var = net_tensor(ctx, m, 1, 1, &o, 1);
        h = net_op(ctx, m, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, mean, var}, &bn);
        h = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
        if (l % 2)
            h = net_op(ctx, m, LT_OP_MAX_POOL2D, 1, &h, &pool);
        if (l == 2)
            h = net_op(ctx, m, LT_OP_DROPOUT, 1, &h, &drop);
        ch = o;
    }
    struct lt_reshape_attrs flat = {2, {BATCH, 16 * 4 * 4}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
    int w = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 16 * 4 * 4}, -1);
    int b = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, 0);
    h = net_op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce);
}

static struct lt_plan *plan_of(struct lt_graph *g, int loss, int checkpoint) {
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    struct lt_plan_options o = {.checkpoint = checkpoint};
    struct lt_plan *p;
    CHECK(ctx, lt_plan_new_with(ctx, g, loss, &opt, &o, &p));
    return p;
}

static void count_recomputed(struct lt_plan *p, struct lt_trainer *t, void *arg) {
    (void)t;
    int segments;
    lt_plan_checkpointing(p, &segments, arg);
}

static void steps_equal(enum lt_dtype half) {
    struct net plain, ckpt;
    net_build(&plain);
    net_build(&ckpt);
    double a[3], b[3];
    int none, recomputed;
    struct lt_plan_options off = {0}, on = {.checkpoint = 1};
    net_train(ctx, &plain, half, &off, x_shape, 3, a, count_recomputed, &none);
    net_train(ctx, &ckpt, half, &on, x_shape, 3, b, count_recomputed, &recomputed);
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
 * recomputed nodes, and how many more nodes it has; frees the graph and weights. The
 * passes that make the plans work on graphs of their own: g is left as it was. */
struct both {
    struct lt_mem_report plain, ckpt;
    int segments, recomputed, more_nodes;
};

static struct both plan_both(struct lt_graph *g, int loss, struct lt_tensor **w, int n) {
    struct both r;
    int nodes = lt_graph_node_count(g), values = lt_graph_value_count(g);
    struct lt_plan *plain = plan_of(g, loss, 0), *ckpt = plan_of(g, loss, 1);
    assert_int_equal(lt_graph_node_count(g), nodes);
    assert_int_equal(lt_graph_value_count(g), values);
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
