/* Autodiff through whole graphs: the gradient a compiled step applies equals central
 * differences of the loss, on graphs with shared values, residuals, dropout, norms and
 * a CNN; and graphs that cannot be differentiated fail with a clear message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/rng.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

#define OK(call) CHECK(ctx, call)

SUITE_CONTEXT

struct model {
    struct lt_graph *g;
    int loss;
    int n_params;
    struct lt_tensor *params[8];
    int n_inputs;
    struct lt_tensor *inputs[4];
};

static int param(struct model *m, int ndim, const int64_t *shape, double scale, int fill_one) {
    struct lt_tensor *t;
    int v;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &t));
    if (fill_one)
        lt_tensor_fill(t, 1.0);
    OK(lt_tensor_uniform(ctx, t, 100 + (uint64_t)m->n_params, fill_one ? 0.5 : -scale, scale));
    OK(lt_graph_param(m->g, t, NULL, 0, &v));
    m->params[m->n_params++] = t;
    return v;
}

static int input(struct model *m, enum lt_dtype dt, int ndim, const int64_t *shape, int classes) {
    struct lt_tensor *t;
    int v;
    OK(lt_tensor_new(ctx, dt, ndim, shape, &t));
    if (dt == LT_DTYPE_I32) {
        for (int64_t i = 0; i < lt_tensor_numel(t); i++)
            lt_tensor_set(t, i, (double)((i * 7 + 3) % classes));
    } else {
        OK(lt_tensor_normal(ctx, t, 200 + (uint64_t)m->n_inputs, 0, 1));
    }
    OK(lt_graph_input(m->g, dt, ndim, shape, NULL, &v));
    m->inputs[m->n_inputs++] = t;
    return v;
}

static int op(struct model *m, enum lt_op o, int n, const int *in, const void *attrs) {
    int out[LT_MAX_OUTPUTS];
    OK(lt_graph_op(m->g, o, n, in, attrs, out));
    return out[0];
}

/* x -> linear -> tanh = t; u = t + x; v = t * u (t used twice); layer_norm; dropout;
 * linear -> cross_entropy. */
static void build_mlp_like(struct model *m) {
    OK(lt_graph_new(ctx, &m->g));
    int x = input(m, LT_DTYPE_F32, 2, (int64_t[]){5, 6}, 0);
    int y = input(m, LT_DTYPE_I32, 1, (int64_t[]){5}, 3);
    int w1 = param(m, 2, (int64_t[]){6, 6}, 0.5, 0), b1 = param(m, 1, (int64_t[]){6}, 0.5, 0);
    int g = param(m, 1, (int64_t[]){6}, 1.5, 1), beta = param(m, 1, (int64_t[]){6}, 0.5, 0);
    int w2 = param(m, 2, (int64_t[]){3, 6}, 0.5, 0), b2 = param(m, 1, (int64_t[]){3}, 0.5, 0);
    int t = op(m, LT_OP_TANH, 1, (int[]){op(m, LT_OP_LINEAR, 3, (int[]){x, w1, b1}, NULL)}, NULL);
    int u = op(m, LT_OP_ADD, 2, (int[]){t, x}, NULL);
    int v = op(m, LT_OP_MUL, 2, (int[]){t, u}, NULL);
    struct lt_layer_norm_attrs ln = {1e-5f};
    int n = op(m, LT_OP_LAYER_NORM, 3, (int[]){v, g, beta}, &ln);
    struct lt_dropout_attrs d = {0.3f, 1};
    n = op(m, LT_OP_DROPOUT, 1, &n, &d);
    int logits = op(m, LT_OP_LINEAR, 3, (int[]){n, w2, b2}, NULL);
    struct lt_cross_entropy_attrs ce = {0.1f, -100};
    m->loss = op(m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
}

/* conv -> batch_norm -> relu -> max_pool -> reshape -> linear -> cross_entropy */
static void build_cnn(struct model *m) {
    OK(lt_graph_new(ctx, &m->g));
    int x = input(m, LT_DTYPE_F32, 4, (int64_t[]){2, 3, 6, 6}, 0);
    int y = input(m, LT_DTYPE_I32, 1, (int64_t[]){2}, 5);
    /* no conv bias: batch norm removes it, so its true gradient is exactly zero */
    int w = param(m, 4, (int64_t[]){4, 3, 3, 3}, 0.3, 0);
    int gamma = param(m, 1, (int64_t[]){4}, 1.5, 1), beta = param(m, 1, (int64_t[]){4}, 0.3, 0);
    int w2 = param(m, 2, (int64_t[]){5, 36}, 0.3, 0);
    struct lt_tensor *rm, *rv;
    int vm, vv;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){4}, &rm));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){4}, &rv));
    lt_tensor_fill(rv, 1);
    OK(lt_graph_state(m->g, rm, "running_mean", &vm));
    OK(lt_graph_state(m->g, rv, "running_var", &vv));
    lt_tensor_free(rm);
    lt_tensor_free(rv);
    struct lt_conv2d_attrs ca = {{1, 1}, {1, 1}, {1, 1}, 1};
    int h = op(m, LT_OP_CONV2D, 2, (int[]){x, w}, &ca);
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    h = op(m, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, vm, vv}, &bn);
    h = op(m, LT_OP_RELU, 1, &h, NULL);
    struct lt_pool2d_attrs pa = {{2, 2}, {2, 2}, {0, 0}, 1};
    h = op(m, LT_OP_MAX_POOL2D, 1, &h, &pa);
    struct lt_reshape_attrs ra = {2, {2, 36}};
    h = op(m, LT_OP_RESHAPE, 1, &h, &ra);
    int logits = op(m, LT_OP_LINEAR, 2, (int[]){h, w2}, NULL);
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = op(m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
}

static void model_free(struct model *m) {
    lt_graph_free(m->g);
    for (int i = 0; i < m->n_params; i++)
        lt_tensor_free(m->params[i]);
    for (int i = 0; i < m->n_inputs; i++)
        lt_tensor_free(m->inputs[i]);
}

static double loss_of(struct lt_forward *f, struct model *m, struct lt_tensor *out) {
    OK(lt_forward_run(f, m->inputs, &out, 0, 0));
    return lt_tensor_get(out, 0) / lt_tensor_get(out, 1);
}

/* One SGD step with lr 1 applies exactly -grad: compare it with central differences. */
static void check_model_gradients(struct model *m) {
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 1.0f);
    struct lt_plan *plan;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, m->g, m->loss, &opt, &plan));
    OK(lt_trainer_new(ctx, plan, &tr));
    float *before[8];
    for (int i = 0; i < m->n_params; i++) {
        before[i] = malloc(lt_tensor_bytes(m->params[i]));
        memcpy(before[i], lt_tensor_data(m->params[i]), lt_tensor_bytes(m->params[i]));
    }
    struct lt_step_input in = {1, m->inputs, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(tr, &in, &r));
    struct lt_forward *f;
    OK(lt_forward_new(ctx, m->g, 1, &m->loss, &f));
    struct lt_tensor *out;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){2}, &out));
    /* the step applied -grad to every parameter; take it, then put the weights back */
    float *analytic[8];
    for (int i = 0; i < m->n_params; i++) {
        int64_t n = lt_tensor_numel(m->params[i]);
        float *w = lt_tensor_data(m->params[i]);
        analytic[i] = malloc((size_t)n * sizeof *analytic[i]);
        for (int64_t e = 0; e < n; e++)
            analytic[i][e] = before[i][e] - w[e];
        memcpy(w, before[i], (size_t)n * sizeof *w);
    }
    for (int i = 0; i < m->n_params; i++) {
        int64_t n = lt_tensor_numel(m->params[i]);
        float *w = lt_tensor_data(m->params[i]);
        double diff = 0, norm = 0;
        const double h = 5e-3;
        for (int64_t e = 0; e < n; e++) {
            w[e] = (float)(before[i][e] + h);
            double plus = loss_of(f, m, out);
            w[e] = (float)(before[i][e] - h);
            double minus = loss_of(f, m, out);
            w[e] = before[i][e];
            double numeric = (plus - minus) / (2 * h);
            diff += pow(analytic[i][e] - numeric, 2);
            norm += numeric * numeric;
        }
        double rel = sqrt(diff) / fmax(sqrt(norm), 1e-6);
        if (!(rel < 2e-2))
            fail_msg("param %d: gradient relative error %.3g", i + 1, rel);
        free(analytic[i]);
        free(before[i]);
    }
    lt_tensor_free(out);
    lt_forward_free(f);
    lt_trainer_free(tr);
    lt_plan_free(plan);
}

static void mlp_with_shared_values_matches_finite_differences(void **state) {
    (void)state;
    struct model m = {0};
    build_mlp_like(&m);
    check_model_gradients(&m);
    model_free(&m);
}

static void cnn_matches_finite_differences(void **state) {
    (void)state;
    struct model m = {0};
    build_cnn(&m);
    check_model_gradients(&m);
    model_free(&m);
}

static void no_gradient_for_inputs_and_state(void **state) {
    (void)state;
    struct model m = {0};
    build_cnn(&m);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *plan;
    OK(lt_plan_new(ctx, m.g, m.loss, &opt, &plan));
    /* the first conv needs no input gradient: its backward writes only w and b */
    int backward = lt_plan_node_count(plan) - lt_graph_node_count(m.g);
    assert_int_equal(backward, lt_graph_node_count(m.g));
    lt_plan_free(plan);
    model_free(&m);
}

static void differentiating_through_argmax_fails_clearly(void **state) {
    (void)state;
    struct model m = {0};
    OK(lt_graph_new(ctx, &m.g));
    int x = input(&m, LT_DTYPE_F32, 2, (int64_t[]){4, 3}, 0);
    int w = param(&m, 2, (int64_t[]){3, 3}, 0.5, 0);
    int h = op(&m, LT_OP_LINEAR, 2, (int[]){x, w}, NULL);
    struct lt_reduce_attrs ra = {0, -1, 0};
    int a = op(&m, LT_OP_ARGMAX, 1, &h, &ra);
    struct lt_cross_entropy_attrs ce = {0, -100};
    int loss = op(&m, LT_OP_CROSS_ENTROPY, 2, (int[]){h, a}, &ce);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *plan;
    /* the targets come from argmax, which is an integer: no gradient is needed there */
    OK(lt_plan_new(ctx, m.g, loss, &opt, &plan));
    lt_plan_free(plan);
    /* a float path through an op without backward is refused */
    struct lt_reduce_attrs over_rows = {0, 0, 0};
    int s = op(&m, LT_OP_MAX, 1, &h, &over_rows); /* (3,) */
    int y = input(&m, LT_DTYPE_I32, 1, (int64_t[]){4}, 3);
    int scaled = op(&m, LT_OP_MUL, 2, (int[]){h, s}, NULL);
    int loss2 = op(&m, LT_OP_CROSS_ENTROPY, 2, (int[]){scaled, y}, &ce);
    assert_int_equal(lt_plan_new(ctx, m.g, loss2, &opt, &plan), LT_EUNSUPPORTED);
    if (!strstr(lt_ctx_error(ctx), "max has no backward"))
        fail_msg("message: %s", lt_ctx_error(ctx));
    model_free(&m);
}

static void bad_loss_and_optimizer_are_refused(void **state) {
    (void)state;
    struct model m = {0};
    build_mlp_like(&m);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *plan;
    assert_int_equal(lt_plan_new(ctx, m.g, 0, &opt, &plan), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "the loss must be"));
    opt.momentum = 1.5f;
    assert_int_equal(lt_plan_new(ctx, m.g, m.loss, &opt, &plan), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "momentum must be in [0, 1)"));
    opt = lt_optim_defaults(LT_OPTIM_SGD, NAN);
    assert_int_equal(lt_plan_new(ctx, m.g, m.loss, &opt, &plan), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "lr must be"));
    model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mlp_with_shared_values_matches_finite_differences),
        cmocka_unit_test(cnn_matches_finite_differences),
        cmocka_unit_test(no_gradient_for_inputs_and_state),
        cmocka_unit_test(differentiating_through_argmax_fails_clearly),
        cmocka_unit_test(bad_loss_and_optimizer_are_refused),
    };
    return cmocka_run_group_tests_name("autodiff", tests, setup, teardown);
}
