/* The oneDNN fast paths (matmul, linear, conv2d) beyond the f32 case tables: that they
 * take every case (so test_ops compares them, not the reference with itself), every
 * bf16 path against the bf16 reference, the models' layer sizes, and whole training
 * steps of an MLP and a CNN in f32 and bf16 against the reference kernels.
 *
 * The bounds are derived from the formats (op_half_tol, steps_tol), so the same test holds
 * where oneDNN computes bf16 natively (AVX512_BF16) and where it computes in f32 from
 * converted copies (AVX2). The layers' timings are bench/bench_layers.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

/* ---- the fast kernels take every case ------------------------------------------------- */

/* Prepares the fast kernel of case c in dtype dt as a plan would (shapes only), forward
 * and backward with gradients in gdt (a mixed-precision plan gives a bf16 kernel bf16
 * ones), and asserts that it is oneDNN's and accepts the shapes: a sequence it cannot
 * build would leave the node to the reference kernel, silently and thousands of times
 * slower. */
static void assert_fast_takes(const struct op_case *c, enum lt_dtype dt, enum lt_dtype gdt) {
#ifdef LT_ONEDNN
    const struct lt_kernel *k = &op_fast_backend()->kernels[c->op][dt];
    if (!k->impl_name || strcmp(k->impl_name, "onednn") != 0)
        fail_msg("%s: the %s kernel is %s, not oneDNN's", c->name, lt_dtype_name(dt),
                 k->impl_name ? k->impl_name : "missing");
    struct lt_kview in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS];
    for (int i = 0; i < c->n_in; i++) {
        in[i] = (struct lt_kview){NULL, dt, c->in[i].ndim, {0}};
        memcpy(in[i].shape, c->in[i].shape, sizeof in[i].shape);
        gin[i] = in[i];
        gin[i].dtype = gdt;
    }
    char msg[LT_KMSG_SIZE] = "";
    if (lt_op_descs[c->op].infer(c->attrs, c->n_in, in, out, msg) != LT_OK)
        fail_msg("%s: shape inference failed: %s", c->name, msg);
    struct lt_kview gout = out[0];
    gout.dtype = gdt;
    for (int backward = 0; backward < 2; backward++) {
        struct lt_kargs a = {.attrs = c->attrs,
                             .n_in = c->n_in,
                             .n_out = 1,
                             .msg = msg,
                             .impl = op_fast_backend()->impl};
        for (int i = 0; i < c->n_in; i++) {
            a.in[i] = &in[i];
            if (backward && !(c->no_grad & (1u << i)))
                a.gin[i] = &gin[i];
        }
        a.out[0] = &out[0];
        if (backward) {
            a.gout[0] = &gout;
            a.accumulate = 6u; /* parameters accumulate */
        }
        void *state = NULL;
        enum lt_status st = k->prepare(&a, backward, &state);
        if (st != LT_OK)
            fail_msg("%s (%s, %s gradients, %s): oneDNN declined (%d): %s", c->name,
                     lt_dtype_name(dt), lt_dtype_name(gdt), backward ? "backward" : "forward",
                     st, msg);
        k->release(state);
    }
#else
    (void)c;
    (void)dt;
    (void)gdt;
    printf("skipped: built without oneDNN\n");
    skip();
#endif
}

/* Every test here is about oneDNN's kernels: a build without it (ONEDNN=0) skips them. */
#ifdef LT_ONEDNN
#define NEEDS_ONEDNN() ((void)0)
#else
#define NEEDS_ONEDNN() (printf("skipped: built without oneDNN\n"), skip())
#endif

static void fast_kernels_take_every_case(void **state) {
    (void)state;
    NEEDS_ONEDNN();
    for (int i = 0; i < linear_case_count; i++) {
        assert_fast_takes(&linear_cases[i], LT_DTYPE_F32, LT_DTYPE_F32);
        assert_fast_takes(&linear_cases[i], LT_DTYPE_BF16, LT_DTYPE_F32);
        assert_fast_takes(&linear_cases[i], LT_DTYPE_BF16, LT_DTYPE_BF16);
    }
    for (int i = 0; i < conv_case_count; i++) {
        if (conv_cases[i].op != LT_OP_CONV2D) /* conv2d_max_pool2d's is our own: test_fusion */
            continue;
        assert_fast_takes(&conv_cases[i], LT_DTYPE_F32, LT_DTYPE_F32);
        assert_fast_takes(&conv_cases[i], LT_DTYPE_BF16, LT_DTYPE_F32);
        assert_fast_takes(&conv_cases[i], LT_DTYPE_BF16, LT_DTYPE_BF16);
    }
}

/* ---- bf16 against the bf16 reference ------------------------------------------------- */

/* The longest sum in any case or model layer here (linear 3136 -> 128), for the bounds
 * (op_half_tol). */
static const int64_t longest_sum = 3136;

static void bf16_matches_reference(void **state) {
    (void)state;
    NEEDS_ONEDNN();
    double tol = op_half_tol(LT_DTYPE_BF16, longest_sum);
    for (int i = 0; i < linear_case_count; i++)
        op_compare_case_as(&linear_cases[i], op_fast_backend(), LT_DTYPE_BF16, tol);
    for (int i = 0; i < conv_case_count; i++)
        op_compare_case_as(&conv_cases[i], op_fast_backend(), LT_DTYPE_BF16, tol);
}

/* The models' layers at a small batch (the reference is slow), with inputs that need no
 * gradient where the model has them (the image). */
static const struct lt_conv2d_attrs pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
static const struct op_case model_layers[] = {
    OP_CASE_NO_GRAD("linear 784 -> 1024, first layer", LT_OP_LINEAR, NULL, 1u, IN_F32(2, 8, 784),
                    IN_F32(2, 1024, 784), IN_F32(1, 1024)),
    OP_CASE("linear 1024 -> 1024", LT_OP_LINEAR, NULL, IN_F32(2, 8, 1024), IN_F32(2, 1024, 1024),
            IN_F32(1, 1024)),
    OP_CASE("linear 1024 -> 10", LT_OP_LINEAR, NULL, IN_F32(2, 8, 1024), IN_F32(2, 10, 1024),
            IN_F32(1, 10)),
    OP_CASE("linear 3136 -> 128", LT_OP_LINEAR, NULL, IN_F32(2, 8, 3136), IN_F32(2, 128, 3136),
            IN_F32(1, 128)),
    OP_CASE_NO_GRAD("conv 1 -> 32, 28x28, first layer", LT_OP_CONV2D, &pad1, 1u,
                    IN_F32(4, 2, 1, 28, 28), IN_F32(4, 32, 1, 3, 3), IN_F32(1, 32)),
    OP_CASE("conv 32 -> 64, 14x14", LT_OP_CONV2D, &pad1, IN_F32(4, 2, 32, 14, 14),
            IN_F32(4, 64, 32, 3, 3), IN_F32(1, 64)),
    OP_CASE("matmul (4, 33, 65) @ (4, 65, 31)", LT_OP_MATMUL, NULL, IN_F32(3, 4, 33, 65),
            IN_F32(3, 4, 65, 31)),
    /* broadcast batch dims: oneDNN repeats the size-1 dims; the gradients of the repeated
     * operands are summed after the products */
    OP_CASE("matmul (2, 1, 33, 65) @ (3, 65, 31)", LT_OP_MATMUL, NULL, IN_F32(4, 2, 1, 33, 65),
            IN_F32(3, 3, 65, 31)),
    OP_CASE("matmul (33, 65) @ (3, 65, 31)", LT_OP_MATMUL, NULL, IN_F32(2, 33, 65),
            IN_F32(3, 3, 65, 31)),
    /* both repeated, 4-D, and b's rows 1 KiB apart: the padded copy stays 3-D only */
    OP_CASE("matmul (2, 1, 8, 256) @ (1, 2, 256, 256)", LT_OP_MATMUL, NULL, IN_F32(4, 2, 1, 8, 256),
            IN_F32(4, 1, 2, 256, 256)),
};
static const int n_model_layers = sizeof model_layers / sizeof model_layers[0];

static void model_layers_match_reference(void **state) {
    (void)state;
    NEEDS_ONEDNN();
    for (int i = 0; i < n_model_layers; i++) {
        assert_fast_takes(&model_layers[i], LT_DTYPE_F32, LT_DTYPE_F32);
        assert_fast_takes(&model_layers[i], LT_DTYPE_BF16, LT_DTYPE_F32);
        assert_fast_takes(&model_layers[i], LT_DTYPE_BF16, LT_DTYPE_BF16);
        op_compare_case(&model_layers[i], op_fast_backend(), 1e-5);
        op_compare_case_as(&model_layers[i], op_fast_backend(), LT_DTYPE_BF16,
                           op_half_tol(LT_DTYPE_BF16, longest_sum));
    }
}

/* ---- whole training steps ------------------------------------------------------------ */

#define OK(ctx, call) CHECK(ctx, call)

enum model_kind { MLP, CNN };

struct model {
    struct lt_graph *g;
    int loss;
    int n_params;
    struct lt_tensor *params[8];
    struct lt_tensor *x, *y; /* one batch */
};

static int param(struct lt_ctx *ctx, struct model *m, int ndim, const int64_t *shape,
                 int64_t fan_in) {
    struct lt_tensor *t;
    int v;
    double bound = 1.0 / sqrt((double)fan_in);
    OK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &t));
    OK(ctx, lt_tensor_uniform(ctx, t, 10 + (uint64_t)m->n_params, -bound, bound));
    OK(ctx, lt_graph_param(m->g, t, NULL, 0, &v));
    m->params[m->n_params++] = t;
    return v;
}

static int op(struct lt_ctx *ctx, struct model *m, enum lt_op o, int n, const int *in,
              const void *attrs) {
    int out[LT_MAX_OUTPUTS];
    OK(ctx, lt_graph_op(m->g, o, n, in, attrs, out));
    return out[0];
}

/* v as dt (a cast node when it is another dtype); the precision pass's job, by hand. */
static int as(struct lt_ctx *ctx, struct model *m, int v, enum lt_dtype dt) {
    enum lt_dtype have;
    int64_t shape[LT_MAX_DIMS];
    lt_graph_value_shape(m->g, v, &have, shape);
    if (have == dt)
        return v;
    struct lt_cast_attrs c = {dt};
    return op(ctx, m, LT_OP_CAST, 1, &v, &c);
}

/* weight (out, in) [and bias] cast to dt, then linear; relu unless last */
static int linear(struct lt_ctx *ctx, struct model *m, int h, int64_t in, int64_t out,
                  enum lt_dtype dt, int last) {
    int w = as(ctx, m, param(ctx, m, 2, (int64_t[]){out, in}, in), dt);
    int b = as(ctx, m, param(ctx, m, 1, (int64_t[]){out}, in), dt);
    h = op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
    return last ? h : op(ctx, m, LT_OP_RELU, 1, &h, NULL);
}

/* conv 3x3 padding 1 -> relu -> max_pool 2 (in f32: pooling has no bf16 kernel) */
static int conv_block(struct lt_ctx *ctx, struct model *m, int h, int64_t cin, int64_t cout,
                      enum lt_dtype dt) {
    int w = as(ctx, m, param(ctx, m, 4, (int64_t[]){cout, cin, 3, 3}, cin * 9), dt);
    int b = as(ctx, m, param(ctx, m, 1, (int64_t[]){cout}, cin * 9), dt);
    h = op(ctx, m, LT_OP_CONV2D, 3, (int[]){as(ctx, m, h, dt), w, b}, &pad1);
    h = op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    return op(ctx, m, LT_OP_MAX_POOL2D, 1, (int[]){as(ctx, m, h, LT_DTYPE_F32)}, &pool);
}

/* MLP 784-1024-1024-10 or CNN conv(1->32)-pool-conv(32->64)-pool-linear(3136->128)-
 * linear(128->10), matmuls and convs in dt, cross entropy in f32. */
static void model_build(struct lt_ctx *ctx, struct model *m, enum model_kind kind, int64_t batch,
                      enum lt_dtype dt) {
    memset(m, 0, sizeof *m);
    OK(ctx, lt_graph_new(ctx, &m->g));
    int x, y, h;
    if (kind == MLP) {
        OK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){batch, 784}, &m->x));
        OK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 2, (int64_t[]){batch, 784}, "x", &x));
        h = linear(ctx, m, as(ctx, m, x, dt), 784, 1024, dt, 0);
        h = linear(ctx, m, h, 1024, 1024, dt, 0);
        h = linear(ctx, m, h, 1024, 10, dt, 1);
    } else {
        OK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, (int64_t[]){batch, 1, 28, 28}, &m->x));
        OK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, (int64_t[]){batch, 1, 28, 28}, "x", &x));
        h = conv_block(ctx, m, x, 1, 32, dt);
        h = conv_block(ctx, m, h, 32, 64, dt);
        struct lt_reshape_attrs flat = {2, {batch, 3136}};
        h = op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
        h = linear(ctx, m, as(ctx, m, h, dt), 3136, 128, dt, 0);
        h = linear(ctx, m, h, 128, 10, dt, 1);
    }
    OK(ctx, lt_tensor_normal(ctx, m->x, 1, 0, 1));
    OK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){batch}, &m->y));
    for (int64_t i = 0; i < batch; i++)
        lt_tensor_set(m->y, i, (double)((i * 7 + 3) % 10));
    OK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){batch}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){as(ctx, m, h, LT_DTYPE_F32), y}, &ce);
}

static void model_free(struct model *m) {
    lt_graph_free(m->g);
    for (int i = 0; i < m->n_params; i++)
        lt_tensor_free(m->params[i]);
    lt_tensor_free(m->x);
    lt_tensor_free(m->y);
}

/* Runs `steps` SGD steps (lr 0.1) and returns the change of every parameter, flat
 * (malloc'd), and the first step's loss. */
static float *train_delta(int reference, enum model_kind kind, enum lt_dtype dt, int64_t batch,
                          int steps, double *loss, int64_t *n) {
    struct lt_ctx *ctx;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    if (reference)
        lt_ctx_use_reference(ctx);
    struct model m;
    model_build(ctx, &m, kind, batch, dt);
    *n = 0;
    for (int i = 0; i < m.n_params; i++)
        *n += lt_tensor_numel(m.params[i]);
    float *d = malloc((size_t)*n * sizeof *d);
    assert_non_null(d);
    int64_t at = 0;
    for (int i = 0; i < m.n_params; i++) {
        memcpy(d + at, lt_tensor_data(m.params[i]), lt_tensor_bytes(m.params[i]));
        at += lt_tensor_numel(m.params[i]);
    }
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *plan;
    struct lt_trainer *tr;
    OK(ctx, lt_plan_new(ctx, m.g, m.loss, &opt, &plan));
    OK(ctx, lt_trainer_new(ctx, plan, &tr));
    for (int s = 0; s < steps; s++) {
        struct lt_step_input in = {1, (struct lt_tensor *[]){m.x, m.y}, 0, 0, NULL};
        struct lt_step_result r;
        OK(ctx, lt_trainer_step(tr, &in, &r));
        assert_false(r.skipped);
        if (s == 0)
            *loss = r.loss;
    }
    at = 0;
    for (int i = 0; i < m.n_params; i++) {
        const float *p = lt_tensor_data(m.params[i]);
        for (int64_t e = 0; e < lt_tensor_numel(m.params[i]); e++)
            d[at + e] = p[e] - d[at + e];
        at += lt_tensor_numel(m.params[i]);
    }
    lt_trainer_free(tr);
    lt_plan_free(plan);
    model_free(&m);
    lt_ctx_free(ctx);
    return d;
}

/* The bound on the parameter updates of `steps` steps of a model with `layers` products
 * (linear, conv) in dt whose sums have up to `longest_sum` terms, against the reference.
 * Per step, the first layer's weight gradient carries a rounding of gout to dt in its own
 * backward product and in each one above it (a native half kernel rounds gout; the
 * reference keeps it f32): u each, to first order; the forward outputs' rounding adds u
 * more (both sides round them, rarely differently); the steps' updates add up:
 *   half: steps (layers + 1) u: MLP bf16 2 * 4 * 2^-8 = 0.031, CNN bf16 0.039.
 * In f32 each of those roundings is instead that of an f32 sum of up to k terms in another
 * order than the reference's double one, sqrt(k) 2^-24 (probabilistic analysis):
 *   f32: steps (layers + 1) sqrt(k) 2^-24: MLP 1.5e-5, CNN 3.3e-5 (k = 3136). */
static double steps_tol(enum lt_dtype dt, int steps, int layers) {
    double per_rounding = dt == LT_DTYPE_F32
                              ? sqrt((double)longest_sum) * op_unit_roundoff(LT_DTYPE_F32)
                              : op_unit_roundoff(dt);
    return steps * (layers + 1) * per_rounding;
}

static void step_matches_reference(enum model_kind kind, enum lt_dtype dt) {
    const char *name = kind == MLP ? "MLP" : "CNN";
    const int steps = 2, layers = kind == MLP ? 3 : 4;
    double tol = steps_tol(dt, steps, layers);
    double loss_ref, loss_fast;
    int64_t n_ref, n_fast;
    float *ref = train_delta(1, kind, dt, 4, steps, &loss_ref, &n_ref);
    float *fast = train_delta(0, kind, dt, 4, steps, &loss_fast, &n_fast);
    assert_int_equal(n_ref, n_fast);
    if (!(fabs(loss_fast - loss_ref) <= tol * fabs(loss_ref)))
        fail_msg("%s %s: first loss %.8g, reference %.8g", name, lt_dtype_name(dt), loss_fast,
                 loss_ref);
    double d = 0, r = 0;
    for (int64_t i = 0; i < n_ref; i++) {
        d += ((double)fast[i] - ref[i]) * ((double)fast[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    double rel = sqrt(d / r);
    if (!(rel <= tol))
        fail_msg("%s %s: parameter updates differ from the reference by %.3g > %.3g", name,
                 lt_dtype_name(dt), rel, tol);
    free(ref);
    free(fast);
}

static void training_steps_match_reference(void **state) {
    (void)state;
    NEEDS_ONEDNN();
    step_matches_reference(MLP, LT_DTYPE_F32);
    step_matches_reference(CNN, LT_DTYPE_F32);
    step_matches_reference(MLP, LT_DTYPE_BF16);
    step_matches_reference(CNN, LT_DTYPE_BF16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fast_kernels_take_every_case),
        cmocka_unit_test(bf16_matches_reference),
        cmocka_unit_test(model_layers_match_reference),
        cmocka_unit_test(training_steps_match_reference),
    };
    int rc = cmocka_run_group_tests_name("dnnl", tests, NULL, NULL);
    op_fast_backend_release();
    return rc;
}
