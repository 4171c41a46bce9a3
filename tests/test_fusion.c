/* The planner's fusion of a convolution and the max pooling after it (core/rewrite.c,
 * conv2d_max_pool2d): a CNN's first convolution, whose input needs no gradient, runs
 * fused on the fast CPU backend, and its steps follow the same net planned apart (a
 * scale by 1 after the convolution keeps the two ops apart) within f32 and bf16
 * rounding, checkpointed too, with the relu after the pool folded in; the plan holds
 * less; a convolution whose input needs a gradient, one whose output something else
 * reads, shapes the fast kernel declines and the reference backend keep the two ops,
 * and a pooled output something besides the relu reads keeps the relu. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define BATCH 6
#define STEPS 3

static const int64_t x_shape[4] = {BATCH, 2, 11, 10};

enum variant {
    FUSED,      /* conv -> relu -> pool: fused */
    APART,      /* conv -> scale 1 -> relu -> pool: the same values, not fused */
    READ_TWICE, /* the convolution's output also added to the pool's input */
    DECLINED,   /* 8 filters: not a block of 16, which the fast kernel declines */
    HAND_FUSED, /* a convolution before, then conv2d_max_pool2d written by hand: its
                 * input needs a gradient, which the reference backward computes */
    HAND_APART, /* the same with conv2d and max_pool2d */
    POOL_READ,  /* conv -> pool -> relu, the pool's output also read by a scale by 0 added
                 * to the relu's: fused, the relu kept */
};

/* conv 2 -> C1 (pad 1) -> [scale 1] -> relu -> pool 2x2 -> conv C1 -> 16 (pad 1) -> relu
 * -> pool 2x2 -> linear -> cross entropy */
/* Returns the logits. */
static int net_build(struct lt_ctx *c, struct net *m, enum variant var) {
    int64_t c1 = var == DECLINED ? 8 : 16;
    net_begin(c, m);
    int x, y;
    CHECK(c, lt_graph_input(m->g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    struct lt_conv2d_attrs pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_scale_attrs one = {1.0f};
    int w = net_tensor(c, m, 0, 4, (int64_t[]){c1, 2, 3, 3}, -1);
    int b = net_tensor(c, m, 0, 1, (int64_t[]){c1}, -1);
    int h;
    if (var == HAND_FUSED || var == HAND_APART) {
        int w0 = net_tensor(c, m, 0, 4, (int64_t[]){2, 2, 3, 3}, -1);
        x = net_op(c, m, LT_OP_CONV2D, 2, (int[]){x, w0}, &pad1);
    }
    if (var == HAND_FUSED) {
        struct lt_conv_pool_attrs fused = {{1, 1}, {1, 1}, {1, 1}, 1, {2, 2}, {2, 2}, {0, 0}, 0};
        h = net_op(c, m, LT_OP_CONV2D_MAX_POOL2D, 3, (int[]){x, w, b}, &fused);
        h = net_op(c, m, LT_OP_RELU, 1, &h, NULL);
    } else if (var == POOL_READ) {
        struct lt_scale_attrs zero = {0.0f};
        int p = net_op(c, m, LT_OP_CONV2D, 3, (int[]){x, w, b}, &pad1);
        p = net_op(c, m, LT_OP_MAX_POOL2D, 1, &p, &pool);
        h = net_op(c, m, LT_OP_RELU, 1, &p, NULL);
        h = net_op(c, m, LT_OP_ADD, 2, (int[]){h, net_op(c, m, LT_OP_SCALE, 1, &p, &zero)}, NULL);
    } else {
        int cv = net_op(c, m, LT_OP_CONV2D, 3, (int[]){x, w, b}, &pad1);
        h = var == APART ? net_op(c, m, LT_OP_SCALE, 1, &cv, &one) : cv;
        h = net_op(c, m, LT_OP_RELU, 1, &h, NULL);
        if (var == READ_TWICE)
            h = net_op(c, m, LT_OP_ADD, 2, (int[]){h, cv}, NULL);
        h = net_op(c, m, LT_OP_MAX_POOL2D, 1, &h, &pool); /* (B, c1, 5, 5) */
    }
    w = net_tensor(c, m, 0, 4, (int64_t[]){16, c1, 3, 3}, -1);
    h = net_op(c, m, LT_OP_CONV2D, 2, (int[]){h, w}, &pad1);
    h = net_op(c, m, LT_OP_RELU, 1, &h, NULL);
    h = net_op(c, m, LT_OP_MAX_POOL2D, 1, &h, &pool); /* (B, 16, 2, 2) */
    struct lt_reshape_attrs flat = {2, {BATCH, 16 * 2 * 2}};
    h = net_op(c, m, LT_OP_RESHAPE, 1, &h, &flat);
    w = net_tensor(c, m, 0, 2, (int64_t[]){5, 16 * 2 * 2}, -1);
    h = net_op(c, m, LT_OP_LINEAR, 2, (int[]){h, w}, NULL);
    CHECK(c, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(c, m, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce);
    return h;
}

/* The forward ops a profiled step ran, in order ("conv2d_max_pool2d relu conv2d ..."),
 * and its plan's bytes. */
struct seen {
    char ops[256];
    size_t bytes;
};

static void look(struct lt_plan *p, struct lt_trainer *t, void *arg) {
    struct seen *s = arg;
    struct lt_mem_report r;
    lt_plan_report(p, &r);
    s->bytes = r.total;
    struct lt_node_time nodes[96];
    int n = lt_trainer_profile(t, nodes, 96);
    s->ops[0] = '\0';
    for (int i = 0; i < n && i < 96; i++)
        if (!nodes[i].backward && strcmp(nodes[i].op, "cast") && strcmp(nodes[i].op, "scale"))
            snprintf(s->ops + strlen(s->ops), sizeof s->ops - strlen(s->ops), "%s%s",
                     s->ops[0] ? " " : "", nodes[i].op);
}

/* Trains the net `steps` steps (profiled) on context c, what it saw into *seen. */
static void run(struct lt_ctx *c, struct net *m, enum lt_dtype half, int checkpoint, int steps,
                double *losses, struct seen *seen) {
    struct lt_plan_options o = {0};
    o.checkpoint = checkpoint;
    lt_ctx_set_profile(c, 1);
    net_train(c, m, half, &o, x_shape, steps, losses, look, seen);
    lt_ctx_set_profile(c, 0);
}

static const char fused_ops[] =
    "conv2d_max_pool2d conv2d max_pool2d relu reshape linear cross_entropy";
static const char apart_ops[] =
    "conv2d max_pool2d relu conv2d max_pool2d relu reshape linear cross_entropy";

/* Losses and every parameter of a and b, norm-wise within tol. */
static void assert_close_training(const struct net *a, const struct net *b, const double *la,
                                  const double *lb, double tol, const char *what) {
    for (int s = 0; s < STEPS; s++)
        if (fabs(la[s] - lb[s]) > tol * fabs(lb[s]))
            fail_msg("%s: step %d: loss %.9g fused, %.9g apart", what, s, la[s], lb[s]);
    for (int i = 0; i < a->n; i++) {
        const float *pa = lt_tensor_data(a->t[i]), *pb = lt_tensor_data(b->t[i]);
        int64_t n = (int64_t)(lt_tensor_bytes(a->t[i]) / sizeof(float));
        double diff = 0, norm = 0;
        for (int64_t k = 0; k < n; k++) {
            diff += ((double)pa[k] - pb[k]) * ((double)pa[k] - pb[k]);
            norm += (double)pb[k] * pb[k];
        }
        if (sqrt(diff) > tol * sqrt(norm))
            fail_msg("%s: tensor %d differs: %.3g of its norm", what, i, sqrt(diff / norm));
    }
}

/* Fused and apart on the fast backend, then apart on the reference, trained alike. */
static void fused_follows_apart(enum lt_dtype half, int checkpoint, double tol) {
    struct net a, b;
    net_build(ctx, &a, FUSED);
    net_build(ctx, &b, APART);
    double la[STEPS], lb[STEPS];
    struct seen fused, apart;
    run(ctx, &a, half, checkpoint, STEPS, la, &fused);
    run(ctx, &b, half, checkpoint, STEPS, lb, &apart);
    char what[64];
    snprintf(what, sizeof what, "%s%s", half == LT_DTYPE_BF16 ? "bf16" : "f32",
             checkpoint ? ", checkpointed" : "");
    if (!checkpoint) {
        assert_string_equal(fused.ops, fused_ops);
        assert_string_equal(apart.ops, apart_ops);
    } else { /* the recomputations are in the op list too */
        assert_non_null(strstr(fused.ops, "conv2d_max_pool2d"));
        assert_null(strstr(apart.ops, "conv2d_max_pool2d"));
    }
    assert_close_training(&a, &b, la, lb, tol, what);
    net_free(&a);
    net_free(&b);
}

/* f32: the fused kernel's f32 sums in another order than oneDNN's; bf16: the same, where
 * a convolution output can round to the other side of a bf16 step. */
static void fused_steps_follow_the_two_ops_apart(void **state) {
    (void)state;
    fused_follows_apart(LT_DTYPE_F32, 0, 1e-5);
    fused_follows_apart(LT_DTYPE_F32, 1, 1e-5);
    fused_follows_apart(LT_DTYPE_BF16, 0, 2e-2);
    fused_follows_apart(LT_DTYPE_BF16, 1, 2e-2);
}

/* The op written by hand where its input needs a gradient: the fast kernel declines the
 * backward, so the plan keeps the op's tensors plain and runs the reference backward,
 * and the steps follow conv2d and max_pool2d written apart. */
static void a_hand_written_pair_with_an_input_gradient_trains(void **state) {
    (void)state;
    struct net a, b;
    net_build(ctx, &a, HAND_FUSED);
    net_build(ctx, &b, HAND_APART);
    double la[STEPS], lb[STEPS];
    struct seen fused, apart;
    run(ctx, &a, LT_DTYPE_F32, 0, STEPS, la, &fused);
    run(ctx, &b, LT_DTYPE_F32, 0, STEPS, lb, &apart);
    assert_string_equal(fused.ops, "conv2d conv2d_max_pool2d relu conv2d max_pool2d relu "
                                   "reshape linear cross_entropy");
    assert_close_training(&a, &b, la, lb, 1e-5, "written fused against apart");
    net_free(&a);
    net_free(&b);
}

/* A forward program (the logits, as evaluation plans them) fuses too: the logits follow
 * the two ops apart, in less memory. */
static void forward_programs_fuse(void **state) {
    (void)state;
    struct net m[2];
    struct lt_tensor *x, *y, *out[2];
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, x_shape, &x));
    CHECK(ctx, lt_tensor_normal(ctx, x, 11, 0, 1));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, &y));
    size_t bytes[2];
    for (int r = 0; r < 2; r++) {
        int logits = net_build(ctx, &m[r], r ? APART : FUSED);
        struct lt_mem_report rep;
        CHECK(ctx, lt_forward_plan(ctx, m[r].g, 1, &logits, &rep));
        bytes[r] = rep.total;
        struct lt_forward *f;
        CHECK(ctx, lt_forward_new(ctx, m[r].g, 1, &logits, &f));
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){BATCH, 5}, &out[r]));
        CHECK(ctx, lt_forward_run(f, (struct lt_tensor *[]){x, y}, &out[r], 0, 0));
        lt_forward_free(f);
    }
    printf("a forward program planned %zu bytes fused, %zu apart\n", bytes[0], bytes[1]);
    assert_true(bytes[0] < bytes[1]);
    for (int64_t e = 0; e < BATCH * 5; e++)
        if (fabs(lt_tensor_get(out[0], e) - lt_tensor_get(out[1], e)) > 1e-5)
            fail_msg("logit %lld: %.9g fused, %.9g apart", (long long)e,
                     lt_tensor_get(out[0], e), lt_tensor_get(out[1], e));
    for (int r = 0; r < 2; r++) {
        lt_tensor_free(out[r]);
        net_free(&m[r]);
    }
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* The reference backend has no kernel that takes the pair (its prepare declines none),
 * so it keeps them apart: its steps are the spec the fused ones follow. */
static void the_reference_keeps_them_apart_and_agrees(void **state) {
    (void)state;
    struct lt_ctx *ref;
    CHECK(ctx, lt_ctx_new(&ref));
    lt_ctx_use_reference(ref);
    struct net a, b;
    net_build(ctx, &a, FUSED);
    double la[STEPS], lb[STEPS];
    struct seen fused, spec;
    run(ctx, &a, LT_DTYPE_F32, 0, STEPS, la, &fused);
    assert_string_equal(fused.ops, fused_ops);
    net_build(ref, &b, FUSED);
    run(ref, &b, LT_DTYPE_F32, 0, STEPS, lb, &spec);
    assert_string_equal(spec.ops, apart_ops);
    assert_close_training(&a, &b, la, lb, 1e-5, "fast fused against the reference");
    net_free(&a);
    net_free(&b);
    lt_ctx_free(ref);
}

/* The convolution's full-size output (and its gradient) is no longer a tensor. */
static void the_fused_step_needs_less(void **state) {
    (void)state;
    struct net a, b;
    net_build(ctx, &a, FUSED);
    net_build(ctx, &b, APART);
    struct seen fused, apart;
    run(ctx, &a, LT_DTYPE_F32, 0, 0, NULL, &fused);
    run(ctx, &b, LT_DTYPE_F32, 0, 0, NULL, &apart);
    printf("the step planned %zu bytes fused, %zu apart\n", fused.bytes, apart.bytes);
    assert_true(fused.bytes < apart.bytes);
    net_free(&a);
    net_free(&b);
}

static void other_shapes_keep_the_two_ops(void **state) {
    (void)state;
    static const enum variant kept[] = {READ_TWICE, DECLINED, POOL_READ};
    static const char *const ops[] = {
        "conv2d relu add max_pool2d conv2d max_pool2d relu reshape linear cross_entropy",
        apart_ops,
        "conv2d_max_pool2d relu add conv2d max_pool2d relu reshape linear cross_entropy"};
    for (int i = 0; i < 3; i++) {
        struct net m;
        net_build(ctx, &m, kept[i]);
        struct seen seen;
        double loss[1];
        run(ctx, &m, LT_DTYPE_F32, 0, 1, loss, &seen);
        assert_string_equal(seen.ops, ops[i]);
        net_free(&m);
    }
}

/* The fast kernel takes the conv family's conv2d_max_pool2d cases without an input
 * gradient, f32 and bf16, forward and backward (so test_ops compares it, not the
 * reference with itself), and declines the one with. */
static void the_fast_kernel_takes_the_first_layers(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    int taken = 0;
    for (int i = 0; i < conv_case_count; i++) {
        const struct op_case *c = &conv_cases[i];
        if (c->op != LT_OP_CONV2D_MAX_POOL2D)
            continue;
        for (int t = 0; t < 2; t++) {
            const struct lt_kernel *k = &op_fast_backend()->kernels[c->op][dts[t]];
            struct lt_kview in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS];
            for (int j = 0; j < c->n_in; j++) {
                in[j] = (struct lt_kview){NULL, dts[t], c->in[j].ndim, {0}};
                memcpy(in[j].shape, c->in[j].shape, sizeof in[j].shape);
                gin[j] = in[j];
                gin[j].dtype = LT_DTYPE_F32;
            }
            char msg[LT_KMSG_SIZE] = "";
            assert_int_equal(lt_op_descs[c->op].infer(c->attrs, c->n_in, in, out, msg), LT_OK);
            for (int backward = 0; backward < 2; backward++) {
                struct lt_kargs a = {.attrs = c->attrs, .n_in = c->n_in, .n_out = 2, .msg = msg};
                for (int j = 0; j < c->n_in; j++) {
                    a.in[j] = &in[j];
                    if (backward && !(c->no_grad & (1u << j)))
                        a.gin[j] = &gin[j];
                }
                a.out[0] = &out[0];
                a.out[1] = &out[1];
                a.gout[0] = backward ? &out[0] : NULL;
                void *st = NULL;
                /* the case with an input gradient is strided: declined both ways */
                enum lt_status want = c->no_grad & 1u ? LT_OK : LT_EUNSUPPORTED;
                if (k->prepare(&a, backward, &st) != want)
                    fail_msg("%s (%s, %s): prepare %s", c->name, lt_dtype_name(dts[t]),
                             backward ? "backward" : "forward",
                             want == LT_OK ? "declined" : "accepted");
                taken += want == LT_OK;
            }
        }
    }
    assert_int_equal(taken, 4 * 2 * 2);
}

/* A forward program whose output is the fused pool itself (a target nothing else reads):
 * fused, no relu to fold, the values those of the ops apart. */
static void a_fused_output_read_by_the_caller_alone(void **state) {
    (void)state;
    struct lt_tensor *x, *out[2];
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, x_shape, &x));
    CHECK(ctx, lt_tensor_normal(ctx, x, 12, 0, 1));
    const int64_t pooled[4] = {BATCH, 16, 5, 5};
    for (int r = 0; r < 2; r++) {
        struct net m;
        net_begin(ctx, &m);
        int xv;
        CHECK(ctx, lt_graph_input(m.g, LT_DTYPE_F32, 4, x_shape, "x", &xv));
        struct lt_conv2d_attrs pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
        struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
        struct lt_scale_attrs one = {1.0f};
        int w = net_tensor(ctx, &m, 0, 4, (int64_t[]){16, 2, 3, 3}, -1);
        int h = net_op(ctx, &m, LT_OP_CONV2D, 2, (int[]){xv, w}, &pad1);
        if (r)
            h = net_op(ctx, &m, LT_OP_SCALE, 1, &h, &one);
        h = net_op(ctx, &m, LT_OP_MAX_POOL2D, 1, &h, &pool);
        struct lt_forward *f;
        CHECK(ctx, lt_forward_new(ctx, m.g, 1, &h, &f));
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, pooled, &out[r]));
        CHECK(ctx, lt_forward_run(f, &x, &out[r], 0, 0));
        lt_forward_free(f);
        net_free(&m);
    }
    for (int64_t e = 0; e < BATCH * 16 * 25; e++)
        if (fabs(lt_tensor_get(out[0], e) - lt_tensor_get(out[1], e)) > 1e-5)
            fail_msg("element %lld: %.9g fused, %.9g apart", (long long)e,
                     lt_tensor_get(out[0], e), lt_tensor_get(out[1], e));
    lt_tensor_free(out[0]);
    lt_tensor_free(out[1]);
    lt_tensor_free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fused_steps_follow_the_two_ops_apart),
        cmocka_unit_test(the_reference_keeps_them_apart_and_agrees),
        cmocka_unit_test(the_fused_step_needs_less),
        cmocka_unit_test(other_shapes_keep_the_two_ops),
        cmocka_unit_test(the_fast_kernel_takes_the_first_layers),
        cmocka_unit_test(a_hand_written_pair_with_an_input_gradient_trains),
        cmocka_unit_test(forward_programs_fuse),
        cmocka_unit_test(a_fused_output_read_by_the_caller_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
