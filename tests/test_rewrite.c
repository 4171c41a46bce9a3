/* The planner's exact rewrites (core/rewrite.c): a max_pool2d after a relu runs before
 * it, and the steps are the same bits as with the two in their written order (kept so
 * by a scale by 1 between them, which blocks the rewrite), in f32 and bf16; the plan
 * needs less memory; the pool's argmax codes move with it to the relu's node; a relu read
 * by anything else, a pool whose codes something reads or asks for, and an average pool,
 * are left as they are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/graph.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 8

static const int64_t x_shape[4] = {BATCH, 3, 12, 12};

enum variant { REWRITTEN, BLOCKED, READ_TWICE, AVERAGE };

/* conv 3 -> 8 -> relu -> [scale 1] -> pool 2x2 [+ average pool of the relu] -> linear ->
 * cross entropy */
static void net_build(struct net *m, enum variant var) {
    net_begin(ctx, m);
    int x, y;
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_scale_attrs one = {1.0f};
    int w = net_tensor(ctx, m, 0, 4, (int64_t[]){8, 3, 3, 3}, -1);
    int b = net_tensor(ctx, m, 0, 1, (int64_t[]){8}, -1);
    int h = net_op(ctx, m, LT_OP_CONV2D, 3, (int[]){x, w, b}, &conv);
    int r = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    h = var == BLOCKED ? net_op(ctx, m, LT_OP_SCALE, 1, &r, &one) : r;
    h = net_op(ctx, m, var == AVERAGE ? LT_OP_AVG_POOL2D : LT_OP_MAX_POOL2D, 1, &h, &pool);
    if (var == READ_TWICE) /* the relu's output is read by an average pool too */
        h = net_op(ctx, m, LT_OP_ADD, 2,
                   (int[]){h, net_op(ctx, m, LT_OP_AVG_POOL2D, 1, &r, &pool)}, NULL);
    struct lt_reshape_attrs flat = {2, {BATCH, 8 * 6 * 6}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
    w = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 8 * 6 * 6}, -1);
    h = net_op(ctx, m, LT_OP_LINEAR, 2, (int[]){h, w}, NULL);
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce);
}

/* Which of relu and max_pool2d a profiled step ran first ("max_pool2d relu"), and its
 * plan's bytes. */
struct seen {
    char order[64];
    size_t bytes;
};

static void look(struct lt_plan *p, struct lt_trainer *t, void *arg) {
    struct seen *s = arg;
    struct lt_mem_report r;
    lt_plan_report(p, &r);
    s->bytes = r.total;
    struct lt_node_time nodes[64];
    int n = lt_trainer_profile(t, nodes, 64);
    s->order[0] = '\0';
    for (int i = 0; i < n && i < 64; i++)
        if (!nodes[i].backward &&
            (!strcmp(nodes[i].op, "relu") || !strcmp(nodes[i].op, "max_pool2d")))
            snprintf(s->order + strlen(s->order), sizeof s->order - strlen(s->order), "%s%s",
                     s->order[0] ? " " : "", nodes[i].op);
}

/* Trains the net `steps` steps (profiled), what it saw into *seen. */
static void run(struct net *m, enum lt_dtype half, int steps, double *losses,
                struct seen *seen) {
    lt_ctx_set_profile(ctx, 1);
    net_train(ctx, m, half, NULL, x_shape, steps, losses, look, seen);
    lt_ctx_set_profile(ctx, 0);
}

static void same_steps(enum lt_dtype half) {
    struct net a, b;
    net_build(&a, REWRITTEN);
    net_build(&b, BLOCKED);
    double la[3], lb[3];
    struct seen seen;
    run(&a, half, 3, la, &seen);
    assert_string_equal(seen.order, "max_pool2d relu");
    run(&b, half, 3, lb, &seen);
    assert_string_equal(seen.order, "relu max_pool2d");
    for (int s = 0; s < 3; s++)
        if (la[s] != lb[s])
            fail_msg("step %d: loss %.9g rewritten, %.9g as written", s, la[s], lb[s]);
    for (int i = 0; i < a.n; i++)
        assert_memory_equal(lt_tensor_data(a.t[i]), lt_tensor_data(b.t[i]),
                            lt_tensor_bytes(a.t[i]));
    net_free(&a);
    net_free(&b);
}

static void rewritten_steps_equal_written_steps(void **state) {
    (void)state;
    same_steps(LT_DTYPE_F32);
    same_steps(LT_DTYPE_BF16);
}

/* The relu's full-size output is no longer a tensor the step holds. */
static void the_rewritten_step_needs_less(void **state) {
    (void)state;
    struct net a, b;
    net_build(&a, REWRITTEN);
    net_build(&b, BLOCKED);
    struct seen rewritten, written;
    run(&a, LT_DTYPE_F32, 0, NULL, &rewritten);
    run(&b, LT_DTYPE_F32, 0, NULL, &written);
    printf("the step planned %zu bytes rewritten, %zu as written\n", rewritten.bytes,
           written.bytes);
    assert_true(rewritten.bytes < written.bytes);
    net_free(&a);
    net_free(&b);
}

static void other_shapes_are_left_alone(void **state) {
    (void)state;
    static const enum variant left[] = {READ_TWICE, AVERAGE};
    for (int i = 0; i < 2; i++) {
        struct net m;
        net_build(&m, left[i]);
        struct seen seen;
        double loss[1];
        run(&m, LT_DTYPE_F32, 1, loss, &seen);
        assert_string_equal(seen.order, left[i] == AVERAGE ? "relu" : "relu max_pool2d");
        net_free(&m);
    }
}

/* conv -> relu -> max pool, the pool's codes read by a cast to f32 when `read`. Returns
 * the graph; the pool's output and codes, the relu's and the pool's nodes through the
 * pointers, and in *w the conv's weight (the caller frees both). */
static struct lt_graph *relu_pool(int read, int *pooled, int *codes, int *relu_node, int *pool_node,
                                  struct lt_tensor **w) {
    struct lt_graph *g;
    int x, wv, r, out[LT_MAX_OUTPUTS];
    CHECK(ctx, lt_graph_new(ctx, &g));
    CHECK(ctx, lt_graph_input(g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, (int64_t[]){8, 3, 3, 3}, w));
    CHECK(ctx, lt_graph_param(g, *w, "w", 0, &wv));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    CHECK(ctx, lt_graph_op(g, LT_OP_CONV2D, 2, (int[]){x, wv}, &conv, out));
    CHECK(ctx, lt_graph_op(g, LT_OP_RELU, 1, out, NULL, &r));
    CHECK(ctx, lt_graph_op(g, LT_OP_MAX_POOL2D, 1, &r, &pool, out));
    *pooled = out[0];
    *codes = out[1];
    *relu_node = g->values[r].node;
    *pool_node = g->values[out[0]].node;
    if (read) {
        struct lt_cast_attrs to_f32 = {LT_DTYPE_F32};
        CHECK(ctx, lt_graph_op(g, LT_OP_CAST, 1, codes, &to_f32, out));
    }
    return g;
}

/* The reference kernels: a backend with no kernel for the fused convolution and pool,
 * so the graph-level tests below see the relu rewrite alone. */
static const struct lt_backend *reference(void) {
    static struct lt_backend ref;
    if (!ref.name)
        lt_cpu_reference_init(&ref);
    return &ref;
}

/* The swapped nodes: the relu's now pools, writing r and the codes (its slot 1, the
 * codes' producer), the pool's now applies relu, with one output. */
static void the_codes_move_with_the_pool(void **state) {
    (void)state;
    int pooled, codes, relu_node, pool_node;
    struct lt_tensor *w;
    struct lt_graph *g = relu_pool(0, &pooled, &codes, &relu_node, &pool_node, &w), *c;
    CHECK(ctx, lt_graph_rewrite(g, reference(), &pooled, 1, &c));
    assert_ptr_not_equal(c, g);
    const struct lt_node *first = &c->nodes[relu_node], *second = &c->nodes[pool_node];
    assert_int_equal(first->op, LT_OP_MAX_POOL2D);
    assert_int_equal(first->n_out, 2);
    assert_int_equal(first->out[1], codes);
    assert_int_equal(c->values[codes].node, relu_node);
    assert_int_equal(c->values[codes].slot, 1);
    assert_int_equal(second->op, LT_OP_RELU);
    assert_int_equal(second->n_out, 1);
    assert_int_equal(second->in[0], first->out[0]);
    assert_int_equal(second->out[0], pooled);
    /* the caller's graph is as it was */
    assert_int_equal(g->nodes[relu_node].op, LT_OP_RELU);
    assert_int_equal(g->values[codes].node, pool_node);
    lt_graph_free(c);
    lt_graph_free(g);
    lt_tensor_free(w);
}

/* The codes of max(relu(x)) are not those of relu(max(x)) (a window of negatives), so a
 * pool whose codes are read or asked for keeps its place. */
static void read_codes_keep_the_pool_in_place(void **state) {
    (void)state;
    for (int read = 0; read < 2; read++) {
        int pooled, codes, relu_node, pool_node;
        struct lt_tensor *w;
        struct lt_graph *g = relu_pool(read, &pooled, &codes, &relu_node, &pool_node, &w), *c;
        int targets[2] = {pooled, codes};
        CHECK(ctx, lt_graph_rewrite(g, reference(), targets, read ? 1 : 2, &c));
        assert_ptr_equal(c, g);
        lt_graph_free(c);
        lt_graph_free(g);
        lt_tensor_free(w);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rewritten_steps_equal_written_steps),
        cmocka_unit_test(the_rewritten_step_needs_less),
        cmocka_unit_test(other_shapes_are_left_alone),
        cmocka_unit_test(the_codes_move_with_the_pool),
        cmocka_unit_test(read_codes_keep_the_pool_in_place),
    };
    return cmocka_run_group_tests_name("rewrite", tests, setup, teardown);
}
