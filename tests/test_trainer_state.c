/* Trainers beyond one plan: more plans of the same parameters for other micro-batch sizes
 * (one step mixing sizes equals one big batch, in the first plan's memory), state handed
 * from one trainer to another (a change of precision continues the run exactly), the
 * optimizer state a checkpoint reads and writes, and evaluation in the step's memory. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/op_check.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define OK(call) CHECK(ctx, call)

enum { IN = 5, OUT = 3, ROWS = 8 };

/* A linear classifier over w (OUT, IN) and b (OUT): x (batch, IN) -> cross entropy with
 * y (batch). Planned with AdamW. */
static struct lt_plan *classifier(struct lt_tensor *w, struct lt_tensor *b, int64_t batch) {
    struct lt_graph *g;
    int x, y, wv, bv, logits, loss;
    OK(lt_graph_new(ctx, &g));
    OK(lt_graph_input(g, LT_DTYPE_F32, 2, (int64_t[]){batch, IN}, "x", &x));
    OK(lt_graph_input(g, LT_DTYPE_I32, 1, (int64_t[]){batch}, "y", &y));
    OK(lt_graph_param(g, w, "0.weight", 0, &wv));
    OK(lt_graph_param(g, b, "0.bias", 0, &bv));
    OK(lt_graph_op(g, LT_OP_LINEAR, 3, (int[]){x, wv, bv}, NULL, &logits));
    struct lt_cross_entropy_attrs ce = {0, -100};
    OK(lt_graph_op(g, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce, &loss));
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_ADAMW, 0.05f);
    struct lt_plan *p;
    OK(lt_plan_new(ctx, g, loss, &opt, &p));
    lt_graph_free(g); /* the plan keeps it */
    return p;
}

/* Fresh weights, the same for every call (seeded streams). */
static void weights(struct lt_tensor **w, struct lt_tensor **b) {
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){OUT, IN}, w));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){OUT}, b));
    OK(lt_tensor_uniform(ctx, *w, 1, -0.5, 0.5));
    OK(lt_tensor_uniform(ctx, *b, 2, -0.5, 0.5));
}

/* ROWS rows of data for step s: x (ROWS, IN), y (ROWS). */
static void data(int s, struct lt_tensor **x, struct lt_tensor **y) {
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){ROWS, IN}, x));
    OK(lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){ROWS}, y));
    OK(lt_tensor_normal(ctx, *x, 100 + (uint64_t)s, 0, 1));
    for (int i = 0; i < ROWS; i++)
        lt_tensor_set(*y, i, (i * 7 + s) % OUT);
}

static void step(struct lt_trainer *t, int n_micro, struct lt_tensor **inputs) {
    struct lt_step_input in = {n_micro, inputs, 0, 0, NULL};
    struct lt_step_result r;
    OK(lt_trainer_step(t, &in, &r));
    assert_false(r.skipped);
}

static void assert_close(const struct lt_tensor *a, const struct lt_tensor *b, double tol) {
    for (int64_t i = 0; i < lt_tensor_numel(a); i++)
        assert_true(fabs(lt_tensor_get(a, i) - lt_tensor_get(b, i)) <= tol);
}

/* A step of micro-batches of 6 and 2 rows (two plans) equals one step of 8 rows, and so
 * does one of 2 and 6 rows, whose first micro-batch (the one that overwrites the
 * gradients) runs through the added plan. */
static void test_mixed_sizes_in_one_step(void **state) {
    (void)state;
    struct lt_tensor *w1, *b1, *w2, *b2, *w3, *b3;
    weights(&w1, &b1);
    weights(&w2, &b2);
    weights(&w3, &b3);
    struct lt_plan *p8 = classifier(w1, b1, ROWS);
    struct lt_plan *p6 = classifier(w2, b2, 6), *p2 = classifier(w2, b2, 2);
    struct lt_plan *q6 = classifier(w3, b3, 6), *q2 = classifier(w3, b3, 2);
    struct lt_trainer *one, *two, *three;
    OK(lt_trainer_new(ctx, p8, &one));
    OK(lt_trainer_new(ctx, p6, &two));
    OK(lt_trainer_new(ctx, q6, &three));
    OK(lt_trainer_add_plan(three, q2));
    struct lt_mem_report before, after;
    lt_trainer_memory(two, &before);
    OK(lt_trainer_add_plan(two, p2));
    assert_int_equal(lt_trainer_plan_count(two), 2);
    /* the plans never run at the same time: the smaller one's activations, temporaries
     * and workspace live in the first one's arenas */
    lt_trainer_memory(two, &after);
    assert_int_equal(after.bytes[LT_MEM_ACTIVATIONS], before.bytes[LT_MEM_ACTIVATIONS]);
    assert_int_equal(after.bytes[LT_MEM_TEMPORARIES], before.bytes[LT_MEM_TEMPORARIES]);
    assert_int_equal(after.bytes[LT_MEM_WORKSPACE], before.bytes[LT_MEM_WORKSPACE]);
    for (int s = 0; s < 3; s++) {
        struct lt_tensor *x, *y, *x6, *y6, *x2, *y2;
        data(s, &x, &y);
        OK(lt_tensor_slice(ctx, x, 0, 6, &x6));
        OK(lt_tensor_slice(ctx, y, 0, 6, &y6));
        OK(lt_tensor_slice(ctx, x, 6, 2, &x2));
        OK(lt_tensor_slice(ctx, y, 6, 2, &y2));
        step(one, 1, (struct lt_tensor *[]){x, y});
        step(two, 2, (struct lt_tensor *[]){x6, y6, x2, y2});
        step(three, 2, (struct lt_tensor *[]){x2, y2, x6, y6});
        lt_tensor_free(x), lt_tensor_free(y), lt_tensor_free(x6), lt_tensor_free(y6);
        lt_tensor_free(x2), lt_tensor_free(y2);
    }
    assert_close(w1, w2, 1e-5);
    assert_close(b1, b2, 1e-5);
    assert_close(w1, w3, 1e-5);
    assert_close(b1, b3, 1e-5);
    assert_int_equal(lt_trainer_steps(two), 3);
    /* a larger plan gets arenas of its own */
    struct lt_plan *p64 = classifier(w2, b2, 64);
    struct lt_mem_report planned;
    lt_plan_report(p64, &planned);
    OK(lt_trainer_add_plan(two, p64));
    lt_trainer_memory(two, &before);
    assert_int_equal(before.bytes[LT_MEM_TEMPORARIES],
                     after.bytes[LT_MEM_TEMPORARIES] + planned.bytes[LT_MEM_TEMPORARIES]);
    lt_plan_free(p64);
    /* a plan over other parameters is refused */
    struct lt_plan *other = classifier(w1, b1, 2);
    assert_int_equal(lt_trainer_add_plan(two, other), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "not the trainer's parameter"));
    lt_plan_free(other);
    lt_trainer_free(one), lt_trainer_free(two), lt_trainer_free(three);
    lt_plan_free(p8), lt_plan_free(p6), lt_plan_free(p2), lt_plan_free(q6), lt_plan_free(q2);
    lt_tensor_free(w1), lt_tensor_free(b1), lt_tensor_free(w2), lt_tensor_free(b2);
    lt_tensor_free(w3), lt_tensor_free(b3);
}

/* Training 2 steps in one trainer, then 2 in another that took its state, equals 4 steps
 * in one, bit for bit. */
static void test_copy_state_continues_exactly(void **state) {
    (void)state;
    struct lt_tensor *w1, *b1, *w2, *b2;
    weights(&w1, &b1);
    weights(&w2, &b2);
    struct lt_plan *pr = classifier(w1, b1, ROWS), *pa = classifier(w2, b2, ROWS),
                   *pb = classifier(w2, b2, ROWS);
    struct lt_trainer *ref, *a, *b;
    OK(lt_trainer_new(ctx, pr, &ref));
    OK(lt_trainer_new(ctx, pa, &a));
    for (int s = 0; s < 4; s++) {
        struct lt_tensor *x, *y;
        data(s, &x, &y);
        step(ref, 1, (struct lt_tensor *[]){x, y});
        if (s == 2) {
            OK(lt_trainer_new(ctx, pb, &b));
            OK(lt_trainer_copy_state(b, a));
            lt_trainer_free(a);
        }
        step(s < 2 ? a : b, 1, (struct lt_tensor *[]){x, y});
        lt_tensor_free(x), lt_tensor_free(y);
    }
    assert_memory_equal(lt_tensor_data(w1), lt_tensor_data(w2), lt_tensor_bytes(w1));
    assert_memory_equal(lt_tensor_data(b1), lt_tensor_data(b2), lt_tensor_bytes(b1));
    assert_int_equal(lt_trainer_steps(b), 4);
    lt_trainer_free(ref), lt_trainer_free(b);
    lt_plan_free(pr), lt_plan_free(pa), lt_plan_free(pb);
    lt_tensor_free(w1), lt_tensor_free(b1), lt_tensor_free(w2), lt_tensor_free(b2);
}

/* Moments and the step count read out and written back; bad references fail. */
static void test_optimizer_state_round_trip(void **state) {
    (void)state;
    struct lt_tensor *w, *b, *x, *y, *m, *small;
    weights(&w, &b);
    struct lt_plan *p = classifier(w, b, ROWS);
    struct lt_trainer *t;
    OK(lt_trainer_new(ctx, p, &t));
    data(0, &x, &y);
    step(t, 1, (struct lt_tensor *[]){x, y});
    assert_int_equal(lt_trainer_moment_count(t), 2);
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){OUT, IN}, &m));
    OK(lt_trainer_get_moment(t, 1, 0, m)); /* exp_avg_sq of the weight: > 0 after a step */
    double sum = 0;
    for (int64_t i = 0; i < lt_tensor_numel(m); i++)
        sum += lt_tensor_get(m, i);
    assert_true(sum > 0);
    lt_tensor_fill(m, 0.25);
    OK(lt_trainer_set_moment(t, 1, 0, m));
    lt_tensor_fill(m, 0);
    OK(lt_trainer_get_moment(t, 1, 0, m));
    assert_true(lt_tensor_get(m, 7) == 0.25);
    OK(lt_trainer_set_steps(t, 41));
    assert_int_equal(lt_trainer_steps(t), 41);
    assert_int_equal(lt_trainer_set_steps(t, -1), LT_EINVAL);
    assert_int_equal(lt_trainer_get_moment(t, 2, 0, m), LT_EINVAL);
    assert_int_equal(lt_trainer_get_moment(t, 0, 5, m), LT_EINVAL);
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){OUT}, &small));
    assert_int_equal(lt_trainer_set_moment(t, 0, 0, small), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "15 elements"));
    lt_tensor_free(small), lt_tensor_free(m), lt_tensor_free(x), lt_tensor_free(y);
    lt_trainer_free(t);
    lt_plan_free(p);
    lt_tensor_free(w), lt_tensor_free(b);
}

/* x (batch, IN) -> logits through w and b: the classifier's evaluation. */
static struct lt_forward *logits_program(struct lt_tensor *w, struct lt_tensor *b, int64_t batch,
                                         struct lt_trainer *lender) {
    struct lt_graph *g;
    int x, wv, bv, logits;
    OK(lt_graph_new(ctx, &g));
    OK(lt_graph_input(g, LT_DTYPE_F32, 2, (int64_t[]){batch, IN}, "x", &x));
    OK(lt_graph_param(g, w, "0.weight", 0, &wv));
    OK(lt_graph_param(g, b, "0.bias", 0, &bv));
    OK(lt_graph_op(g, LT_OP_LINEAR, 3, (int[]){x, wv, bv}, NULL, &logits));
    struct lt_forward *f;
    OK(lender ? lt_forward_new_for(ctx, g, 1, &logits, lender, &f)
              : lt_forward_new(ctx, g, 1, &logits, &f));
    lt_graph_free(g);
    return f;
}

static void run_logits(struct lt_forward *f, struct lt_tensor *x, struct lt_tensor *out) {
    OK(lt_forward_run(f, &x, &out, 0, 0));
}

/* An evaluation program borrowing a trainer's memory, run between its steps, changes
 * none of its steps; it gives what a program of its own gives, also once the trainer is
 * gone (what it borrowed is still held). */
static void test_evaluation_borrows_the_step_memory(void **state) {
    (void)state;
    struct lt_tensor *w1, *b1, *w2, *b2, *x, *y, *a, *c;
    weights(&w1, &b1);
    weights(&w2, &b2);
    struct lt_plan *p1 = classifier(w1, b1, ROWS), *p2 = classifier(w2, b2, ROWS);
    struct lt_trainer *lender, *alone;
    OK(lt_trainer_new(ctx, p1, &lender));
    OK(lt_trainer_new(ctx, p2, &alone));
    struct lt_forward *shared = logits_program(w1, b1, 4, lender);
    struct lt_forward *own = logits_program(w1, b1, 4, NULL);
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, OUT}, &a));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, OUT}, &c));
    struct lt_tensor *probe;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, IN}, &probe));
    OK(lt_tensor_normal(ctx, probe, 9, 0, 1));
    for (int s = 0; s < 3; s++) {
        data(s, &x, &y);
        step(lender, 1, (struct lt_tensor *[]){x, y});
        step(alone, 1, (struct lt_tensor *[]){x, y});
        run_logits(shared, probe, a);
        run_logits(own, probe, c);
        assert_memory_equal(lt_tensor_data(a), lt_tensor_data(c), lt_tensor_bytes(a));
        lt_tensor_free(x), lt_tensor_free(y);
    }
    assert_memory_equal(lt_tensor_data(w1), lt_tensor_data(w2), lt_tensor_bytes(w1));
    lt_trainer_free(lender);
    run_logits(shared, probe, a); /* the arenas it borrowed live on */
    assert_memory_equal(lt_tensor_data(a), lt_tensor_data(c), lt_tensor_bytes(a));
    lt_forward_free(shared), lt_forward_free(own);
    lt_trainer_free(alone);
    lt_plan_free(p1), lt_plan_free(p2);
    lt_tensor_free(a), lt_tensor_free(c), lt_tensor_free(probe);
    lt_tensor_free(w1), lt_tensor_free(b1), lt_tensor_free(w2), lt_tensor_free(b2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mixed_sizes_in_one_step),
        cmocka_unit_test(test_copy_state_continues_exactly),
        cmocka_unit_test(test_optimizer_state_round_trip),
        cmocka_unit_test(test_evaluation_borrows_the_step_memory),
    };
    return cmocka_run_group_tests_name("trainer_state", tests, setup, teardown);
}
