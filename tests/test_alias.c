/* The planner's alias pass (core/alias.c): a reshape's output is its input's storage, and
 * its backward's input gradient the output gradient's where it writes it first; the
 * nodes run nothing, liveness keeps the shared storage for every reader, and the steps
 * are the bits of a plan that copies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/plan.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 8
static const int64_t x_shape[4] = {BATCH, 3, 12, 12};

/* four convolutions 3 -> 4 -> 4 with relus (enough layers for checkpointing to pay) ->
 * flatten (reshape) -> reshape again (a chain) -> linear -> cross entropy;
 * the first reshape's output also read by a scale added to the second's input (so that
 * its gradient is written by two backward nodes), and the last convolution's output also
 * flattened straight into a second linear whose logits are added. */
static void net_build(struct net *m) {
    net_begin(ctx, m);
    int x, y;
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    int w = net_tensor(ctx, m, 0, 4, (int64_t[]){4, 3, 3, 3}, -1);
    int c = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){x, w}, &conv); /* (B, 4, 12, 12) */
    for (int l = 0; l < 3; l++) { /* layers enough for checkpointing to pay */
        c = net_op(ctx, m, LT_OP_RELU, 1, &c, NULL);
        int wl = net_tensor(ctx, m, 0, 4, (int64_t[]){4, 4, 3, 3}, -1);
        c = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){c, wl}, &conv);
    }
    c = net_op(ctx, m, LT_OP_RELU, 1, &c, NULL);
    struct lt_reshape_attrs flat = {2, {BATCH, 576}}, split = {3, {BATCH, 24, 24}},
                            back = {2, {BATCH, 576}};
    int f = net_op(ctx, m, LT_OP_RESHAPE, 1, &c, &flat);
    int s = net_op(ctx, m, LT_OP_RESHAPE, 1, &f, &split);
    int f2 = net_op(ctx, m, LT_OP_RESHAPE, 1, &s, &back);
    struct lt_scale_attrs half = {0.5f};
    int h = net_op(ctx, m, LT_OP_SCALE, 1, &f, &half);
    h = net_op(ctx, m, LT_OP_ADD, 2, (int[]){f2, h}, NULL);
    int w1 = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 576}, -1);
    int b1 = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, 0);
    int logits = net_op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, w1, b1}, NULL);
    int g = net_op(ctx, m, LT_OP_RESHAPE, 1, &c, &flat);
    int w2 = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 576}, -1);
    int l2 = net_op(ctx, m, LT_OP_LINEAR, 2, (int[]){g, w2}, NULL);
    logits = net_op(ctx, m, LT_OP_ADD, 2, (int[]){logits, l2}, NULL);
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
}

struct seen {
    int skipped_forward, skipped_backward, reshapes, recomputed;
};

/* Each skipped reshape's output (its backward's input gradient) sits where its input
 * (output gradient) does, in the same arena; the storage is live over the whole of
 * both; a reshape whose backward adds into a gradient runs. */
static void inspect(struct lt_plan *p, struct lt_trainer *t, void *arg) {
    (void)t;
    struct seen *s = arg;
    memset(s, 0, sizeof *s);
    int segments, blocked, aliased, skipped = 0;
    lt_plan_checkpointing(p, &segments, &s->recomputed);
    lt_plan_layout(p, &blocked, &aliased);
    for (int n = 0; n < p->n_nodes; n++)
        skipped += p->nodes[n].skip;
    assert_int_equal(aliased, skipped); /* what lutra plan reports */
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        if (pn->op != LT_OP_RESHAPE)
            continue;
        s->reshapes++;
        if (!pn->skip) {
            assert_true(ctx->copy_reshapes || (pn->backward && (pn->accumulate & 1u)));
            continue;
        }
        const struct lt_buf *from = &p->bufs[pn->backward ? pn->gout[0] : pn->in[0]];
        const struct lt_buf *to = &p->bufs[pn->backward ? pn->gin[0] : pn->out[0]];
        const struct lt_buf *root = &p->bufs[to->alias];
        assert_true(to->alias >= 0);
        assert_int_equal(to->cat, from->cat);
        assert_int_equal(to->offset, from->offset);
        assert_int_equal(to->cat, root->cat);
        assert_true(root->first <= to->first && to->last <= root->last);
        s->skipped_forward += !pn->backward && !pn->recompute; /* not the copies */
        s->skipped_backward += pn->backward;
    }
}

/* Four steps with the reshapes aliased and with each copied: the same losses and
 * parameters, bit for bit, in f32 and bf16, with and without checkpointing (which does
 * recompute here, reshapes included); all four
 * forward reshapes aliased, and the two backward ones that write their gradient first
 * (s's and c's through g); the two that add into a gradient another backward wrote
 * (f's, after the scale's; c's through f, after g's) run. */
static void reshapes_copy_nothing(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++)
        for (int checkpoint = 0; checkpoint < 2; checkpoint++) {
            struct net m[2];
            double losses[2][4];
            struct seen seen[2];
            struct lt_plan_options o = {.checkpoint = checkpoint};
            for (int r = 0; r < 2; r++) {
                ctx->copy_reshapes = r;
                net_build(&m[r]);
                net_train(ctx, &m[r], dts[t], &o, x_shape, 4, losses[r], inspect, &seen[r]);
            }
            ctx->copy_reshapes = 0;
            assert_int_equal(seen[1].skipped_forward + seen[1].skipped_backward, 0);
            assert_int_equal(seen[0].skipped_forward, 4);
            assert_int_equal(seen[0].skipped_backward, 2);
            assert_int_equal(seen[0].recomputed > 0, checkpoint); /* it did recompute */
            char what[64];
            snprintf(what, sizeof what, "%s, checkpoint %d, aliased against copied",
                     lt_dtype_name(dts[t]), checkpoint);
            assert_same_training(&m[0], &m[1], losses[0], losses[1], 4, what);
            net_free(&m[0]);
            net_free(&m[1]);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reshapes_copy_nothing),
    };
    return cmocka_run_group_tests_name("test_alias", tests, setup, teardown);
}
