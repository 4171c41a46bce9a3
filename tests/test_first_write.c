/* The planner's first-write pass (core/first_write.c): the step's first micro-batch
 * overwrites every parameter gradient, so the trainer need not zero the gradient buffer.
 * Each net is trained three ways that must give the same bits: as a plan made before the
 * pass would run it (the buffer zeroed, every write adding), as planned, and as planned
 * with the gradients filled with NaN before every step. A kernel that added into a
 * gradient it was asked to overwrite, or a plan that skipped the zeroing it needs, turns
 * the run into NaN; a later micro-batch that overwrote what the first wrote loses its
 * share of the gradient. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/plan.h"
#include "core/trainer.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 8
#define STEPS 3
#define VOCAB 11
#define TOKENS 6

/* CONV: conv (with bias) -> batch_norm2d -> relu -> max pool -> flatten -> linear (with
 * bias) -> layer_norm -> times a parameter, plus a parameter (both broadcast over the
 * rows) -> cross entropy. TIED: token ids -> embedding, plus a position embedding (its
 * own table: an embedding's backward writes it first) -> layer_norm -> linear through the
 * first embedding's table (that table's gradient written by two nodes, the linear's
 * backward first) -> cross entropy over every token. SQUARED: CONV's logits times w * w (one node
 * writing w's gradient through both slots). UNUSED: CONV with a parameter that does not reach the
 * loss (no node writes its gradient). */
enum net_kind { CONV, TIED, SQUARED, UNUSED };

static const int64_t image_shape[4] = {BATCH, 2, 8, 8};

static int conv_logits(struct net *m, int x) {
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_layer_norm_attrs ln = {1e-5f};
    int64_t c = 16, classes = 5;
    int w = net_tensor(ctx, m, 0, 4, (int64_t[]){c, 2, 3, 3}, -1);
    int b = net_tensor(ctx, m, 0, 1, &c, 0.01);
    int h = net_op(ctx, m, LT_OP_CONV2D, 3, (int[]){x, w, b}, &conv);
    int gamma = net_tensor(ctx, m, 0, 1, &c, 1), beta = net_tensor(ctx, m, 0, 1, &c, 0);
    int mean = net_tensor(ctx, m, 1, 1, &c, 0), var = net_tensor(ctx, m, 1, 1, &c, 1);
    h = net_op(ctx, m, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, mean, var}, &bn);
    h = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    h = net_op(ctx, m, LT_OP_MAX_POOL2D, 1, &h, &pool); /* (B, 16, 4, 4) */
    struct lt_reshape_attrs flat = {2, {BATCH, c * 16}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
    int wl = net_tensor(ctx, m, 0, 2, (int64_t[]){classes, c * 16}, -1);
    int bl = net_tensor(ctx, m, 0, 1, &classes, 0);
    h = net_op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, wl, bl}, NULL);
    int g = net_tensor(ctx, m, 0, 1, &classes, 1), s = net_tensor(ctx, m, 0, 1, &classes, 0);
    h = net_op(ctx, m, LT_OP_LAYER_NORM, 3, (int[]){h, g, s}, &ln);
    int scale = net_tensor(ctx, m, 0, 1, &classes, -1),
        shift = net_tensor(ctx, m, 0, 1, &classes, -1);
    h = net_op(ctx, m, LT_OP_MUL, 2, (int[]){h, scale}, NULL);
    return net_op(ctx, m, LT_OP_ADD, 2, (int[]){h, shift}, NULL);
}

static int tied_logits(struct net *m, int ids) {
    struct lt_layer_norm_attrs ln = {1e-5f};
    int64_t d = 8;
    int table = net_tensor(ctx, m, 0, 2, (int64_t[]){VOCAB, d}, -1);
    int h = net_op(ctx, m, LT_OP_EMBEDDING, 2, (int[]){table, ids}, NULL); /* (B, T, d) */
    int positions = net_tensor(ctx, m, 0, 2, (int64_t[]){VOCAB, d}, -1);
    int at = net_op(ctx, m, LT_OP_EMBEDDING, 2, (int[]){positions, ids}, NULL);
    h = net_op(ctx, m, LT_OP_ADD, 2, (int[]){h, at}, NULL);
    int g = net_tensor(ctx, m, 0, 1, &d, 1), s = net_tensor(ctx, m, 0, 1, &d, 0);
    h = net_op(ctx, m, LT_OP_LAYER_NORM, 3, (int[]){h, g, s}, &ln);
    struct lt_reshape_attrs rows = {2, {BATCH * TOKENS, d}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &rows);
    return net_op(ctx, m, LT_OP_LINEAR, 2, (int[]){h, table}, NULL);
}

static void net_build(struct net *m, enum net_kind kind) {
    net_begin(ctx, m);
    int x, y, logits;
    int64_t rows = kind == TIED ? BATCH * TOKENS : BATCH;
    if (kind == TIED) {
        CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 2, (int64_t[]){BATCH, TOKENS}, "ids", &x));
        logits = tied_logits(m, x);
    } else {
        CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, image_shape, "x", &x));
        logits = conv_logits(m, x);
    }
    if (kind == SQUARED) {
        int w = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, -1);
        int sq = net_op(ctx, m, LT_OP_MUL, 2, (int[]){w, w}, NULL);
        logits = net_op(ctx, m, LT_OP_MUL, 2, (int[]){logits, sq}, NULL);
    }
    if (kind == UNUSED) {
        int unused = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, -1);
        net_op(ctx, m, LT_OP_RELU, 1, &unused, NULL);
    }
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, &rows, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
}

/* Two micro-batches of the net's inputs, from fixed streams. */
static void batches(enum net_kind kind, struct lt_tensor **in) {
    for (int k = 0; k < 2; k++) {
        struct lt_tensor **x = &in[2 * k], **y = &in[2 * k + 1];
        int64_t rows = kind == TIED ? BATCH * TOKENS : BATCH;
        if (kind == TIED) {
            CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 2, (int64_t[]){BATCH, TOKENS}, x));
            for (int64_t i = 0; i < rows; i++)
                lt_tensor_set(*x, i, (double)((i * 7 + k) % VOCAB));
        } else {
            CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, image_shape, x));
            CHECK(ctx, lt_tensor_normal(ctx, *x, 7 + (uint64_t)k, 0, 1));
        }
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, &rows, y));
        for (int64_t i = 0; i < rows; i++)
            lt_tensor_set(*y, i, (double)((i * 3 + k) % (kind == TIED ? VOCAB : 5)));
    }
}

/* NaN in every float of every parameter's gradient (the alignment gaps between them
 * are never written: zero since the buffer was made). */
static void poison(struct lt_trainer *t, void *arg) {
    (void)arg;
    const struct lt_plan *p = t->plan;
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == LT_BUF_GRAD)
            memset((char *)t->grads + p->bufs[b].offset, 0xff,
                   (size_t)lt_kview_numel(&p->bufs[b].view) * sizeof(float));
}

/* Whether the first node writing each parameter gradient of p overwrites it on the
 * first micro-batch. */
static int every_first_write_overwrites(const struct lt_plan *p) {
    for (int b = 0; b < p->n_bufs; b++) {
        if (p->bufs[b].kind != LT_BUF_GRAD)
            continue;
        int first = 1;
        for (int n = 0; n < p->n_nodes && first; n++)
            for (int i = 0; i < p->nodes[n].n_in && first; i++)
                if (p->nodes[n].gin[i] == b) {
                    if (!(p->nodes[n].overwrite_first & (1u << i)))
                        return 0;
                    first = 0;
                }
    }
    return 1;
}

/* Whether every byte of t's gradient buffer outside the parameters' gradients (the
 * alignment gaps) is zero. */
static int gaps_are_zero(const struct lt_trainer *t) {
    const struct lt_plan *p = t->plan;
    const unsigned char *g = (const unsigned char *)t->grads;
    char *inside = calloc(p->bytes[LT_MEM_GRADS] + 1, 1);
    assert_non_null(inside);
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == LT_BUF_GRAD)
            memset(inside + p->bufs[b].offset, 1,
                   (size_t)lt_kview_numel(&p->bufs[b].view) * sizeof(float));
    int zero = 1;
    for (size_t i = 0; i < p->bytes[LT_MEM_GRADS]; i++)
        zero &= inside[i] || g[i] == 0;
    free(inside);
    return zero;
}

/* How a run treats the gradient buffer: as a plan without the pass (every first-write
 * bit cleared: zeroed, then added into), as planned, as planned and poisoned. */
enum way { ZEROED, PLANNED, POISONED };

/* Trains a build of the net STEPS steps (checkpointed or not) one way and returns the
 * plan's grads_overwritten; `every`: whether each gradient's first write overwrites. */
static int train(struct lt_ctx *c, struct net *m, enum net_kind kind, enum lt_dtype half,
                 int checkpoint, enum way way, double *losses, int *every) {
    struct lt_plan_options o = {.checkpoint = checkpoint};
    struct net_run r;
    net_run_begin(c, m, half, &o, &r);
    int overwritten = r.p->grads_overwritten;
    *every = every_first_write_overwrites(r.p);
    if (way == ZEROED) {
        for (int n = 0; n < r.p->n_nodes; n++)
            r.p->nodes[n].overwrite_first = 0;
        r.p->grads_overwritten = 0;
    }
    struct lt_tensor *in[4];
    batches(kind, in);
    net_steps(c, r.t, in, STEPS, losses, way == POISONED ? poison : NULL, NULL);
    if (!gaps_are_zero(r.t))
        fail_msg("an alignment gap of the gradient buffer was written");
    for (int k = 0; k < 4; k++)
        lt_tensor_free(in[k]);
    net_run_end(m, &r);
    return overwritten;
}

/* Each net, in f32 and bf16, plain and checkpointed, on the fast and the reference
 * kernels: the three ways give the same bits, and the plan skips the zeroing exactly
 * where it may. */
static void check_net(enum net_kind kind, int want_overwritten) {
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int reference = 0; reference < 2; reference++) {
        struct lt_ctx *c = ctx;
        if (reference) {
            CHECK(ctx, lt_ctx_new(&c));
            lt_ctx_use_reference(c);
        }
        for (int d = 0; d < 2; d++)
            for (int checkpoint = 0; checkpoint < 2; checkpoint++) {
                char what[96];
                snprintf(what, sizeof what, "net %d, %s%s, %s kernels", (int)kind,
                         lt_dtype_name(dts[d]), checkpoint ? " checkpointed" : "",
                         reference ? "reference" : "fast");
                struct net nets[3];
                double losses[3][STEPS];
                for (int w = ZEROED; w <= POISONED; w++) {
                    int every;
                    net_build(&nets[w], kind);
                    int ow = train(c, &nets[w], kind, dts[d], checkpoint, (enum way)w, losses[w],
                                   &every);
                    if (ow != want_overwritten)
                        fail_msg("%s: grads_overwritten %d, expected %d", what, ow,
                                 want_overwritten);
                    if (want_overwritten && !every)
                        fail_msg("%s: a parameter gradient's first write adds", what);
                }
                for (int st = 0; st < STEPS; st++)
                    assert_true(isfinite(losses[ZEROED][st]));
                assert_same_training(&nets[ZEROED], &nets[PLANNED], losses[ZEROED], losses[PLANNED],
                                     STEPS, what);
                assert_same_training(&nets[ZEROED], &nets[POISONED], losses[ZEROED],
                                     losses[POISONED], STEPS, what);
                for (int w = ZEROED; w <= POISONED; w++)
                    net_free(&nets[w]);
            }
        if (reference)
            lt_ctx_free(c);
    }
}

static void a_convolutional_net_needs_no_zeroing(void **state) {
    (void)state;
    check_net(CONV, 1);
}

static void a_gradient_written_by_two_nodes_is_overwritten_by_the_first(void **state) {
    (void)state;
    check_net(TIED, 1);
}

static void a_gradient_written_through_two_slots_is_zeroed(void **state) {
    (void)state;
    check_net(SQUARED, 0);
}

static void a_parameter_without_a_gradient_keeps_the_zeroing(void **state) {
    (void)state;
    check_net(UNUSED, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_convolutional_net_needs_no_zeroing),
        cmocka_unit_test(a_gradient_written_by_two_nodes_is_overwritten_by_the_first),
        cmocka_unit_test(a_gradient_written_through_two_slots_is_zeroed),
        cmocka_unit_test(a_parameter_without_a_gradient_keeps_the_zeroing),
    };
    return cmocka_run_group_tests_name("first_write", tests, setup, teardown);
}
