/* Optimizer steps against hand-computed updates: SGD (momentum, Nesterov, weight decay),
 * AdamW, global-norm clipping, parameter groups, and the skipped non-finite step. */
#include <math.h>
#include <string.h>

#include "tests/op_check.h"
#include "tests/train_util.h"

#define OK(call) CHECK(ctx, call)

SUITE_CONTEXT

/* loss = (w . x - t)^2 with x = (1, 2), t = 1 and w = (0.5, -0.25) at the start: the
 * prediction is 0, the gradient 2 (w . x - t) x = (-2, -4). */
struct problem {
    struct lt_graph *g;
    struct lt_tensor *w, *x, *t;
    int loss;
};

static void problem_new(struct problem *pr, float target) {
    OK(lt_graph_new(ctx, &pr->g));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &pr->w));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &pr->x));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 1}, &pr->t));
    lt_tensor_set(pr->w, 0, 0.5);
    lt_tensor_set(pr->w, 1, -0.25);
    lt_tensor_set(pr->x, 0, 1);
    lt_tensor_set(pr->x, 1, 2);
    lt_tensor_set(pr->t, 0, target);
    int x, t, w, p;
    OK(lt_graph_input(pr->g, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, "x", &x));
    OK(lt_graph_input(pr->g, LT_DTYPE_F32, 2, (int64_t[]){1, 1}, "t", &t));
    OK(lt_graph_param(pr->g, pr->w, "w", 0, &w));
    OK(lt_graph_op(pr->g, LT_OP_LINEAR, 2, (int[]){x, w}, NULL, &p));
    OK(lt_graph_op(pr->g, LT_OP_MSE, 2, (int[]){p, t}, NULL, &pr->loss));
}

static void problem_free(struct problem *pr) {
    lt_graph_free(pr->g);
    lt_tensor_free(pr->w);
    lt_tensor_free(pr->x);
    lt_tensor_free(pr->t);
}

/* Runs `steps` steps, resetting the input each time so the gradient is recomputed at the
 * current weights. */
static struct lt_step_result run(struct problem *pr, const struct lt_optim_config *opt,
                                 int steps) {
    struct lt_plan *p;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, pr->g, pr->loss, opt, &p));
    OK(lt_trainer_new(ctx, p, &tr));
    struct lt_step_result r = {0};
    for (int s = 0; s < steps; s++) {
        struct lt_step_input in = {1, (struct lt_tensor *[]){pr->x, pr->t}, 0, 0, NULL};
        OK(lt_trainer_step(tr, &in, &r));
    }
    lt_trainer_free(tr);
    lt_plan_free(p);
    return r;
}

static void assert_w(const struct problem *pr, double w0, double w1) {
    float want[2] = {(float)w0, (float)w1};
    assert_floats_near(lt_tensor_data(pr->w), want, 2, 1e-6);
}

static void sgd_plain_and_weight_decay(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.weight_decay = 0.01f;
    struct lt_step_result r = run(&pr, &opt, 1);
    /* d = g + 0.01 w = (-1.995, -4.0025); w -= 0.1 d */
    assert_w(&pr, 0.6995, 0.15025);
    assert_true(fabs(r.loss - 1.0) < 1e-6);
    assert_true(fabs(r.grad_norm - sqrt(20.0)) < 1e-5);
    assert_int_equal(r.step, 1);
    problem_free(&pr);
}

static void sgd_momentum_two_steps(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.momentum = 0.9f;
    run(&pr, &opt, 2);
    /* step 1: m = g = (-2, -4), w = (0.7, 0.15); step 2: w.x = 1, so g = 0,
     * m = 0.9 m = (-1.8, -3.6), w -= 0.1 m = (0.88, 0.51) */
    assert_w(&pr, 0.88, 0.51);
    problem_free(&pr);
}

static void sgd_nesterov_two_steps(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.momentum = 0.5f;
    opt.nesterov = 1;
    run(&pr, &opt, 2);
    /* step 1: m = g = (-2, -4), d = g + 0.5 m = (-3, -6), w = (0.8, 0.35);
     * step 2: w.x = 1.5, g = 2 * 0.5 * x = (1, 2), m = 0.5 m + g = (0, 0), d = g + 0.5 m
     * = (1, 2), w = (0.7, 0.15) */
    assert_w(&pr, 0.7, 0.15);
    problem_free(&pr);
}

static void adamw_first_step(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 0.1f);
    opt.weight_decay = 0.01f;
    run(&pr, &opt, 1);
    /* decoupled decay w *= 1 - 0.1 * 0.01; with bias correction the first step moves
     * each weight by lr * g / |g| (up to eps) against the gradient's sign */
    assert_w(&pr, 0.5 * 0.999 + 0.1, -0.25 * 0.999 + 0.1);
    problem_free(&pr);
}

static void adamw_second_step(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 0.1f);
    opt.weight_decay = 0;
    run(&pr, &opt, 2);
    /* after step 1: w = (0.6, -0.15), w.x = 0.3, g = 2 (0.3 - 1) x = (-1.4, -2.8).
     * m = 0.9 * 0.1 g1 + 0.1 g2, v = 0.999 * 0.001 g1^2 + 0.001 g2^2, corrected by
     * 1 - 0.9^2 and 1 - 0.999^2 */
    double g1[2] = {-2, -4}, g2[2] = {-1.4, -2.8}, w[2] = {0.6, -0.15};
    for (int i = 0; i < 2; i++) {
        double m = 0.9 * 0.1 * g1[i] + 0.1 * g2[i];
        double v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * g2[i] * g2[i];
        w[i] -= 0.1 * (m / 0.19) / (sqrt(v / (1 - 0.999 * 0.999)) + 1e-8);
    }
    assert_w(&pr, w[0], w[1]);
    problem_free(&pr);
}

static void clipping_scales_to_max_norm(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 1.0f);
    opt.max_grad_norm = 1.0f;
    struct lt_step_result r = run(&pr, &opt, 1);
    double norm = sqrt(20.0), c = 1.0 / (norm + 1e-6);
    assert_true(fabs(r.grad_norm - norm) < 1e-5); /* reported before clipping */
    assert_w(&pr, 0.5 + 2 * c, -0.25 + 4 * c);
    problem_free(&pr);
}

static void groups_scale_lr_and_decay(void **state) {
    (void)state;
    /* two parameters in two groups fed by the same input: p = wa.x + wb.x */
    struct lt_graph *g;
    struct lt_tensor *wa, *wb, *x, *t;
    OK(lt_graph_new(ctx, &g));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &wa));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &wb));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &x));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 1}, &t));
    lt_tensor_fill(wa, 0.5);
    lt_tensor_fill(wb, -0.5);
    lt_tensor_set(x, 0, 1);
    lt_tensor_set(x, 1, 2);
    lt_tensor_set(t, 0, 1);
    int vx, vt, va, vb, pa, pb, p, loss;
    OK(lt_graph_input(g, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, "x", &vx));
    OK(lt_graph_input(g, LT_DTYPE_F32, 2, (int64_t[]){1, 1}, "t", &vt));
    OK(lt_graph_param(g, wa, "a", 0, &va));
    OK(lt_graph_param(g, wb, "b", 1, &vb));
    OK(lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){vx, va}, NULL, &pa));
    OK(lt_graph_op(g, LT_OP_LINEAR, 2, (int[]){vx, vb}, NULL, &pb));
    OK(lt_graph_op(g, LT_OP_ADD, 2, (int[]){pa, pb}, NULL, &p));
    OK(lt_graph_op(g, LT_OP_MSE, 2, (int[]){p, vt}, NULL, &loss));
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.weight_decay = 0.1f;
    opt.n_groups = 2;
    opt.groups = (struct lt_optim_group[]){{1, 1}, {0.5f, 0}};
    struct lt_plan *pl;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, g, loss, &opt, &pl));
    OK(lt_trainer_new(ctx, pl, &tr));
    struct lt_step_input in = {1, (struct lt_tensor *[]){x, t}, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(tr, &in, &r));
    /* p = 0, g = (-2, -4) for both. a: lr 0.1, decay 0.1: d = g + 0.1 * 0.5.
     * b: lr 0.05, no decay. */
    assert_floats_near(lt_tensor_data(wa), (float[]){0.5f - 0.1f * -1.95f, 0.5f - 0.1f * -3.95f},
                       2, 1e-6);
    assert_floats_near(lt_tensor_data(wb), (float[]){-0.5f + 0.1f, -0.5f + 0.2f}, 2, 1e-6);
    /* the base lr is what schedules set; groups keep their multipliers */
    lt_trainer_set_lr(tr, 0.0f);
    assert_true(lt_trainer_lr(tr) == 0.0f);
    OK(lt_trainer_step(tr, &in, &r));
    assert_floats_near(lt_tensor_data(wb), (float[]){-0.4f, -0.3f}, 2, 1e-6);
    lt_trainer_free(tr);
    lt_plan_free(pl);
    lt_graph_free(g);
    lt_tensor_free(wa);
    lt_tensor_free(wb);
    lt_tensor_free(x);
    lt_tensor_free(t);
}

static void non_finite_step_is_skipped(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, INFINITY);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    opt.momentum = 0.9f;
    struct lt_plan *p;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, pr.g, pr.loss, &opt, &p));
    OK(lt_trainer_new(ctx, p, &tr));
    struct lt_step_input in = {1, (struct lt_tensor *[]){pr.x, pr.t}, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(tr, &in, &r));
    assert_true(r.skipped);
    assert_int_equal(r.step, 0);
    assert_w(&pr, 0.5, -0.25); /* untouched */
    /* the next finite step is the optimizer's first: momentum starts from its gradient */
    lt_tensor_set(pr.t, 0, 1);
    OK(lt_trainer_step(tr, &in, &r));
    assert_false(r.skipped);
    assert_int_equal(r.step, 1);
    assert_w(&pr, 0.7, 0.15);
    lt_trainer_free(tr);
    lt_plan_free(p);
    problem_free(&pr);
}

static void bad_step_inputs_fail_clearly(void **state) {
    (void)state;
    struct problem pr;
    problem_new(&pr, 1);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *p;
    struct lt_trainer *tr;
    OK(lt_plan_new(ctx, pr.g, pr.loss, &opt, &p));
    OK(lt_trainer_new(ctx, p, &tr));
    struct lt_step_result r;
    struct lt_step_input in = {1, (struct lt_tensor *[]){pr.t, pr.x}, 0, 0, NULL};
    assert_int_equal(lt_trainer_step(tr, &in, &r), LT_EINVAL);
    if (!strstr(lt_ctx_error(ctx), "step: x (input 1) is f32 (1, 1), the graph wants f32 (1, 2)"))
        fail_msg("message: %s", lt_ctx_error(ctx));
    in.n_micro = 0;
    assert_int_equal(lt_trainer_step(tr, &in, &r), LT_EINVAL);
    assert_w(&pr, 0.5, -0.25);
    lt_trainer_free(tr);
    lt_plan_free(p);
    problem_free(&pr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sgd_plain_and_weight_decay),
        cmocka_unit_test(sgd_momentum_two_steps),
        cmocka_unit_test(sgd_nesterov_two_steps),
        cmocka_unit_test(adamw_first_step),
        cmocka_unit_test(adamw_second_step),
        cmocka_unit_test(clipping_scales_to_max_norm),
        cmocka_unit_test(groups_scale_lr_and_decay),
        cmocka_unit_test(non_finite_step_is_skipped),
        cmocka_unit_test(bad_step_inputs_fail_clearly),
    };
    return cmocka_run_group_tests_name("optim", tests, setup, teardown);
}
