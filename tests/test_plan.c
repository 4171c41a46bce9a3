/* The planner: exact bytes per category on a model small enough to count by hand,
 * planned == allocated, the process's real memory growth matching the plan, and the
 * memory limit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

#define OK(call) CHECK(ctx, call)

SUITE_CONTEXT

/* The tiny MLP below, x (4, 3) -> linear(5) -> relu -> linear(2), and plain SGD over its
 * two groups (weights decayed, biases not). */
static struct lt_optim_config tiny_mlp(struct mlp *m) {
    mlp_build(ctx, m, 4, (int[]){3, 5, 2}, 2, 0);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    static struct lt_optim_group groups[2] = {{1, 1}, {1, 0}};
    opt.n_groups = 2;
    opt.groups = groups;
    return opt;
}

/* The shapes of the tiny MLP's nodes (data pointers unused). */
static struct lt_kview shape_of(enum lt_dtype dt, int ndim, const int64_t *dims) {
    struct lt_kview v = {.dtype = dt, .ndim = ndim};
    memcpy(v.shape, dims, (size_t)ndim * sizeof *dims);
    return v;
}

/* The workspace of the tiny MLP's step (below): the largest any of its 8 nodes' kernels
 * asks for, each asked as the planner asks it. Which kernel takes a node, and how much
 * scratch it wants, is the library's choice for this CPU (oneDNN's AVX2 matmul wants none
 * here, its AVX-512 one some), so the test asks rather than assumes. */
static size_t tiny_mlp_workspace(void) {
    const struct lt_backend *b = op_fast_backend();
    struct lt_cross_entropy_attrs ce = {0, -100};
    struct lt_kview l1[3] = {shape_of(LT_DTYPE_F32, 2, (int64_t[]){4, 3}),
                             shape_of(LT_DTYPE_F32, 2, (int64_t[]){5, 3}),
                             shape_of(LT_DTYPE_F32, 1, (int64_t[]){5})};
    struct lt_kview l2[3] = {shape_of(LT_DTYPE_F32, 2, (int64_t[]){4, 5}),
                             shape_of(LT_DTYPE_F32, 2, (int64_t[]){2, 5}),
                             shape_of(LT_DTYPE_F32, 1, (int64_t[]){2})};
    struct lt_kview loss[2] = {shape_of(LT_DTYPE_F32, 2, (int64_t[]){4, 2}),
                               shape_of(LT_DTYPE_I32, 1, (int64_t[]){4})};
    /* forward, then backward: the image gets no gradient, parameters accumulate */
    size_t ws[8] = {
        op_workspace(b, LT_OP_LINEAR, NULL, 3, l1, 0, 0, 0),
        op_workspace(b, LT_OP_RELU, NULL, 1, l2, 0, 0, 0),
        op_workspace(b, LT_OP_LINEAR, NULL, 3, l2, 0, 0, 0),
        op_workspace(b, LT_OP_CROSS_ENTROPY, &ce, 2, loss, 0, 0, 0),
        op_workspace(b, LT_OP_CROSS_ENTROPY, &ce, 2, loss, 1, 1u, 0),
        op_workspace(b, LT_OP_LINEAR, NULL, 3, l2, 1, 7u, 6u),
        op_workspace(b, LT_OP_RELU, NULL, 1, l2, 1, 1u, 0),
        op_workspace(b, LT_OP_LINEAR, NULL, 3, l1, 1, 6u, 6u),
    };
    size_t most = 0;
    for (int i = 0; i < 8; i++)
        most = ws[i] > most ? ws[i] : most;
    return most;
}

/* x (4, 3) -> linear(5) -> relu -> linear(2) -> cross_entropy, counted by hand:
 * activations: relu's output (4, 5) kept for relu's and linear 2's backward, 80 -> 128 B,
 *   and the logits (4, 2) kept for cross_entropy's backward, 32 -> 64 B; both live at
 *   once: 192 B.
 * temporaries: linear 1's output (128, dead after relu), the loss (64, read after the
 *   step), and the gradients of logits (64), relu output (128) and linear 1 output (128).
 *   At relu's backward the loss and both 128 B gradients are live: 320 B, and the
 *   packing reaches that.
 * params and grads: 60, 20, 40, 8 floats' bytes, each padded to 64: 256 B.
 * data: x 48 -> 64 and y 16 -> 64, two micro-batch slots: 256 B. state: the loss seed.
 * workspace: what the kernels ask for (tiny_mlp_workspace). */
static void tiny_mlp_bytes_counted_by_hand(void **state) {
    (void)state;
    struct mlp m;
    struct lt_optim_config opt = tiny_mlp(&m);
    struct lt_plan *p;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    struct lt_mem_report r;
    lt_plan_report(p, &r);
    size_t ws = tiny_mlp_workspace();
    assert_int_equal(r.bytes[LT_MEM_ACTIVATIONS], 192);
    assert_int_equal(r.live_peak[LT_MEM_ACTIVATIONS], 192);
    assert_int_equal(r.bytes[LT_MEM_TEMPORARIES], 320);
    assert_int_equal(r.live_peak[LT_MEM_TEMPORARIES], 320);
    assert_int_equal(r.bytes[LT_MEM_PARAMS], 256);
    assert_int_equal(r.bytes[LT_MEM_GRADS], 256);
    assert_int_equal(r.bytes[LT_MEM_OPTIMIZER], 0); /* plain SGD keeps no moments */
    assert_int_equal(r.bytes[LT_MEM_DATA], 256);
    assert_int_equal(r.bytes[LT_MEM_STATE], 64);
    assert_int_equal(r.bytes[LT_MEM_WORKSPACE], ws);
    assert_int_equal(r.total, 192 + 320 + 256 + 256 + 256 + 64 + ws);
    assert_int_equal(lt_plan_node_count(p), 8); /* 4 forward, 4 backward */
    lt_plan_free(p);
    mlp_free(&m);
}

static void optimizer_bytes_follow_the_kind(void **state) {
    (void)state;
    struct mlp m;
    mlp_build(ctx, &m, 4, (int[]){3, 5, 2}, 2, 0);
    struct lt_optim_group groups[2] = {{1, 1}, {1, 0}};
    struct lt_optim_config sgd = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    sgd.momentum = 0.9f;
    struct lt_optim_config adamw = lt_optim_defaults(LT_OPTIM_ADAMW, 1e-3f);
    struct lt_optim_config *configs[] = {&sgd, &adamw};
    size_t want[] = {256, 512};
    for (int i = 0; i < 2; i++) {
        configs[i]->n_groups = 2;
        configs[i]->groups = groups;
        struct lt_plan *p;
        OK(lt_plan_new(ctx, m.g, m.loss, configs[i], &p));
        struct lt_mem_report r;
        lt_plan_report(p, &r);
        assert_int_equal(r.bytes[LT_MEM_OPTIMIZER], want[i]);
        lt_plan_free(p);
    }
    mlp_free(&m);
}

/* A CNN with batch norm, for the categories an MLP does not have. */
static void build_cnn(struct lt_graph **gp, int *loss, struct lt_tensor **owned, int *n_owned) {
    struct lt_graph *g;
    OK(lt_graph_new(ctx, &g));
    int x, y, h, w, b, gamma, beta, rm, rv, w2;
    OK(lt_graph_input(g, LT_DTYPE_F32, 4, (int64_t[]){8, 1, 12, 12}, "x", &x));
    OK(lt_graph_input(g, LT_DTYPE_I32, 1, (int64_t[]){8}, "y", &y));
    int64_t shapes[6][2] = {{8, 1}, {8, 0}, {8, 0}, {8, 0}, {8, 0}, {10, 288}};
    int *ids[6] = {&w, &b, &gamma, &beta, &rm, &rv};
    for (int i = 0; i < 6; i++) {
        struct lt_tensor *t;
        if (i == 0)
            OK(lt_tensor_new(ctx, LT_DTYPE_F32, 4, (int64_t[]){8, 1, 3, 3}, &t));
        else
            OK(lt_tensor_new(ctx, LT_DTYPE_F32, shapes[i][1] ? 2 : 1, shapes[i], &t));
        OK(lt_tensor_uniform(ctx, t, (uint64_t)i, 0.1, 0.5));
        if (i < 4)
            OK(lt_graph_param(g, t, NULL, 0, ids[i]));
        else if (i == 5)
            OK(lt_graph_param(g, t, NULL, 0, &w2));
        else
            OK(lt_graph_state(g, t, NULL, ids[i]));
        owned[(*n_owned)++] = t;
    }
    struct lt_tensor *var;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){8}, &var));
    lt_tensor_fill(var, 1);
    OK(lt_graph_state(g, var, "running_var", &rv));
    owned[(*n_owned)++] = var;
    struct lt_conv2d_attrs ca = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    struct lt_pool2d_attrs pa = {{2, 2}, {2, 2}, {0, 0}, 1};
    struct lt_reshape_attrs ra = {2, {8, 288}};
    struct lt_cross_entropy_attrs ce = {0, -100};
    int outs[3];
    OK(lt_graph_op(g, LT_OP_CONV2D, 3, (int[]){x, w, b}, &ca, &h));
    OK(lt_graph_op(g, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, rm, rv}, &bn, outs));
    OK(lt_graph_op(g, LT_OP_RELU, 1, outs, NULL, &h));
    OK(lt_graph_op(g, LT_OP_MAX_POOL2D, 1, &h, &pa, outs));
    OK(lt_graph_op(g, LT_OP_RESHAPE, 1, outs, &ra, &h));
    OK(lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){h, w2}, NULL, &h));
    OK(lt_graph_op(g, LT_OP_CROSS_ENTROPY, 2, (int[]){h, y}, &ce, loss));
    *gp = g;
}

static void planned_equals_allocated(void **state) {
    (void)state;
    struct lt_graph *g;
    struct lt_tensor *owned[8];
    int n_owned = 0, loss;
    build_cnn(&g, &loss, owned, &n_owned);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 1e-3f);
    struct lt_plan *p;
    struct lt_trainer *t;
    OK(lt_plan_new(ctx, g, loss, &opt, &p));
    OK(lt_trainer_new(ctx, p, &t));
    struct lt_mem_report planned, allocated;
    lt_plan_report(p, &planned);
    lt_trainer_memory(t, &allocated);
    for (int c = 0; c < LT_MEM_COUNT; c++)
        if (planned.bytes[c] != allocated.bytes[c])
            fail_msg("%s: planned %zu, allocated %zu", lt_mem_category_name((enum lt_mem_category)c),
                     planned.bytes[c], allocated.bytes[c]);
    /* the running statistics are state; batch norm's saved mean and invstd are activations */
    assert_true(planned.bytes[LT_MEM_STATE] >= 2 * 64 + 64);
    assert_true(planned.bytes[LT_MEM_ACTIVATIONS] > 0);
    for (int c = 0; c < LT_MEM_COUNT; c++)
        assert_true(planned.live_peak[c] <= planned.bytes[c]);
    lt_trainer_free(t);
    lt_plan_free(p);
    lt_graph_free(g);
    for (int i = 0; i < n_owned; i++)
        lt_tensor_free(owned[i]);
}

static size_t resident_bytes(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &pages, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGE_SIZE);
}

/* The process grows by what the plan says, less the parameter tensors the trainer
 * moved into its flat buffer (their old storage is released). */
static void resident_growth_matches_the_plan(void **state) {
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    printf("skipped: ASan's shadow memory and quarantine make RSS meaningless\n");
    skip();
#endif
    struct mlp m;
    static const int sizes[] = {784, 512, 512, 10};
    mlp_build(ctx, &m, 64, sizes, 3, 0.1f);
    struct lt_tensor *x, *y;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){64, 784}, &x));
    OK(lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){64}, &y));
    OK(lt_tensor_uniform(ctx, x, 9, 0, 1));
    size_t moved = 0;
    for (int l = 0; l < 3; l++)
        moved += lt_tensor_bytes(m.w[l]) + lt_tensor_bytes(m.b[l]);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 1e-3f);
    opt.n_groups = 2;
    opt.groups = (struct lt_optim_group[]){{1, 1}, {1, 0}};
    /* What libraries keep after their first use (oneDNN's JIT code, the packing buffers
     * its gemm mallocs and the allocator then keeps) is the `runtime` category: measured,
     * not planned. A throw-away trainer of the same shapes puts it in place first. */
    {
        struct mlp w;
        struct lt_plan *wp;
        struct lt_trainer *wt;
        mlp_build(ctx, &w, 64, sizes, 3, 0.1f);
        OK(lt_plan_new(ctx, w.g, w.loss, &opt, &wp));
        OK(lt_trainer_new(ctx, wp, &wt));
        struct lt_step_input win = {1, (struct lt_tensor *[]){x, y}, 0, 0, NULL};
        struct lt_step_result wr;
        for (int s = 0; s < 3; s++)
            OK(lt_trainer_step(wt, &win, &wr));
        lt_trainer_free(wt);
        lt_plan_free(wp);
        mlp_free(&w);
    }
    size_t before = resident_bytes();
    struct lt_plan *p;
    struct lt_trainer *t;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    OK(lt_trainer_new(ctx, p, &t));
    struct lt_step_input in = {1, (struct lt_tensor *[]){x, y}, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(t, &in, &r));
    size_t after = resident_bytes();
    struct lt_mem_report rep;
    lt_plan_report(p, &rep);
    double want = (double)rep.total - (double)moved, got = (double)after - (double)before;
    /* a few percent, and a few pages of bookkeeping on a small plan */
    if (!(got > want * 0.97 - 65536 && got < want * 1.03 + 262144))
        fail_msg("resident growth %.0f bytes, plan says %.0f (total %zu less %zu moved)", got, want,
                 rep.total, moved);
    lt_trainer_free(t);
    lt_plan_free(p);
    lt_tensor_free(x);
    lt_tensor_free(y);
    mlp_free(&m);
}

/* Limits relative to the plan's own total (which holds the workspace this CPU's kernels
 * ask for): one byte less is refused with the categories in the message, the total
 * itself fits. */
/* After a test that sets a memory limit, whether it passed or not: none. */
static int no_limit(void **state) {
    (void)state;
    lt_ctx_set_memory_limit(ctx, 0);
    return 0;
}

static void memory_limit_refuses_a_plan_that_does_not_fit(void **state) {
    (void)state;
    struct mlp m;
    struct lt_optim_config opt = tiny_mlp(&m);
    struct lt_plan *p;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    struct lt_mem_report r;
    lt_plan_report(p, &r);
    lt_plan_free(p);
    lt_ctx_set_memory_limit(ctx, r.total - 1);
    assert_int_equal(lt_plan_new(ctx, m.g, m.loss, &opt, &p), LT_ENOMEM);
    char needs[64], limit[64], total[32], below[32];
    snprintf(needs, sizeof needs, "the step needs %s", lt_bytes_str(r.total, total, sizeof total));
    snprintf(limit, sizeof limit, "memory limit is %s",
             lt_bytes_str(r.total - 1, below, sizeof below));
    const char *msg = lt_ctx_error(ctx);
    if (!strstr(msg, needs) || !strstr(msg, "activations 192 B") || !strstr(msg, limit))
        fail_msg("message: %s", msg);
    lt_ctx_set_memory_limit(ctx, r.total);
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    lt_plan_free(p);
    mlp_free(&m);
}

/* The options' memory_limit is this plan's limit, for training and forward plans alike:
 * it refuses what the context's limit takes, and lets through what the context's limit
 * refuses; SIZE_MAX refuses nothing; the context's limit stays as it was. */
static void memory_limit_option_overrides_the_context(void **state) {
    (void)state;
    struct mlp m;
    struct lt_optim_config opt = tiny_mlp(&m);
    struct lt_plan *p;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &p));
    struct lt_mem_report r, f;
    lt_plan_report(p, &r);
    lt_plan_free(p);
    OK(lt_forward_plan(ctx, m.g, 1, &m.logits, &f));
    /* no context limit; the option's, one byte short, refuses */
    struct lt_plan_options o = {0};
    o.memory_limit = r.total - 1;
    assert_int_equal(lt_plan_new_with(ctx, m.g, m.loss, &opt, &o, &p), LT_ENOMEM);
    if (!strstr(lt_ctx_error(ctx), "the memory limit is"))
        fail_msg("message: %s", lt_ctx_error(ctx));
    o.checkpoint = 1; /* both the plain and the checkpointed plan are held to it */
    assert_int_equal(lt_plan_new_with(ctx, m.g, m.loss, &opt, &o, &p), LT_ENOMEM);
    o.checkpoint = 0;
    o.memory_limit = f.total - 1;
    assert_int_equal(lt_forward_plan_with(ctx, m.g, 1, &m.logits, &o, &f), LT_ENOMEM);
    assert_int_equal(lt_ctx_memory_limit(ctx), 0);
    /* a context limit nothing fits under; the option's SIZE_MAX lets both through, and
     * the exact totals fit */
    lt_ctx_set_memory_limit(ctx, 1);
    assert_int_equal(lt_plan_new(ctx, m.g, m.loss, &opt, &p), LT_ENOMEM);
    o.memory_limit = SIZE_MAX;
    OK(lt_plan_new_with(ctx, m.g, m.loss, &opt, &o, &p));
    lt_plan_free(p);
    OK(lt_forward_plan_with(ctx, m.g, 1, &m.logits, &o, &f));
    o.memory_limit = r.total;
    OK(lt_plan_new_with(ctx, m.g, m.loss, &opt, &o, &p));
    lt_plan_free(p);
    o.memory_limit = f.total;
    OK(lt_forward_plan_with(ctx, m.g, 1, &m.logits, &o, &f));
    assert_int_equal(lt_ctx_memory_limit(ctx), 1);
    /* zero: the context's */
    o.memory_limit = 0;
    assert_int_equal(lt_forward_plan_with(ctx, m.g, 1, &m.logits, &o, &f), LT_ENOMEM);
    mlp_free(&m);
}

static void forward_programs_keep_no_activations(void **state) {
    (void)state;
    struct mlp m;
    mlp_build(ctx, &m, 4, (int[]){3, 5, 2}, 2, 0);
    struct lt_forward *f;
    OK(lt_forward_new(ctx, m.g, 1, &m.logits, &f));
    struct lt_mem_report r;
    lt_forward_memory(f, &r);
    assert_int_equal(r.bytes[LT_MEM_ACTIVATIONS], 0);
    assert_int_equal(r.bytes[LT_MEM_PARAMS], 0); /* read from the tensors, not copied */
    /* linear 1's output and relu's output (128 B each) overlap at relu; the logits (64 B)
     * reuse linear 1's place, dead by then */
    assert_int_equal(r.bytes[LT_MEM_TEMPORARIES], 128 + 128);
    size_t total = 0;
    for (int c = 0; c < LT_MEM_COUNT; c++)
        total += r.bytes[c];
    assert_int_equal(r.total, total);
    lt_forward_free(f);
    mlp_free(&m);
}

/* Max pooling's argmax codes, which a forward program asked for its pooled output alone
 * does not read: no storage, and the same pooled values as a program that asks for the
 * codes too (whose codes are the reference's). */
static void forward_programs_store_no_unread_codes(void **state) {
    (void)state;
    static const int64_t shape[4] = {2, 16, 8, 8};
    struct lt_graph *g;
    int x, out[LT_MAX_OUTPUTS];
    OK(lt_graph_new(ctx, &g));
    OK(lt_graph_input(g, LT_DTYPE_F32, 4, shape, "x", &x));
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
    OK(lt_graph_op(g, LT_OP_MAX_POOL2D, 1, &x, &k2s2, out));
    struct lt_tensor *xt, *y[2], *codes;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 4, shape, &xt));
    OK(lt_tensor_normal(ctx, xt, 5, 0, 1));
    struct lt_mem_report r[2];
    for (int both = 0; both < 2; both++) {
        struct lt_forward *f;
        OK(lt_forward_new(ctx, g, 1 + both, out, &f));
        lt_forward_memory(f, &r[both]);
        OK(lt_tensor_new(ctx, LT_DTYPE_F32, 4, (int64_t[]){2, 16, 4, 4}, &y[both]));
        if (both)
            OK(lt_tensor_new(ctx, LT_DTYPE_U8, 4, (int64_t[]){2, 16, 4, 4}, &codes));
        struct lt_tensor *outs[2] = {y[both], both ? codes : NULL};
        OK(lt_forward_run(f, &xt, outs, 0, 0));
        lt_forward_free(f);
    }
    /* the codes' 512 bytes are the difference */
    assert_int_equal(r[1].bytes[LT_MEM_TEMPORARIES] - r[0].bytes[LT_MEM_TEMPORARIES], 512);
    struct lt_kview xv = kv_f32(4, shape, lt_tensor_data(xt)), want[LT_MAX_OUTPUTS];
    op_forward(LT_OP_MAX_POOL2D, &k2s2, 1, &xv, want);
    assert_memory_equal(lt_tensor_data(y[0]), want[0].data, 512 * sizeof(float));
    assert_memory_equal(lt_tensor_data(y[1]), want[0].data, 512 * sizeof(float));
    assert_memory_equal(lt_tensor_data(codes), want[1].data, 512);
    kv_free(&want[0]);
    kv_free(&want[1]);
    kv_free(&xv);
    lt_tensor_free(y[0]);
    lt_tensor_free(y[1]);
    lt_tensor_free(codes);
    lt_tensor_free(xt);
    lt_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tiny_mlp_bytes_counted_by_hand),
        cmocka_unit_test(optimizer_bytes_follow_the_kind),
        cmocka_unit_test(planned_equals_allocated),
        cmocka_unit_test(resident_growth_matches_the_plan),
        cmocka_unit_test_teardown(memory_limit_refuses_a_plan_that_does_not_fit, no_limit),
        cmocka_unit_test_teardown(memory_limit_option_overrides_the_context, no_limit),
        cmocka_unit_test(forward_programs_keep_no_activations),
        cmocka_unit_test(forward_programs_store_no_unread_codes),
    };
    int rc = cmocka_run_group_tests_name("plan", tests, setup, teardown);
    op_fast_backend_release();
    return rc;
}
