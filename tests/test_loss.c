/* cross_entropy and mse: hand-computed values (label smoothing, ignored rows), the
 * out-of-range target error, shape errors, the case table. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"

/* logits (4, 3); rows 0 and 3 are permutations with the target on the largest logit,
 * row 1 is uniform, row 2 is skipped by ignore_index. */
static const float ce_logits[12] = {1, 2, 3, 1, 1, 1, 0, 5, -1, 2, 0, 1};
static const int32_t ce_targets[4] = {2, 0, -100, 0};

static void cross_entropy_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){4, 3}, ce_logits),
                             kv_i32(1, (int64_t[]){4}, ce_targets)};
    struct lt_kview out[1];

    /* -log softmax: 0.40760596 on rows 0 and 3, log 3 on row 1 */
    struct lt_cross_entropy_attrs at = {0.0f, -100};
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    assert_int_equal(out[0].ndim, 1);
    assert_int_equal(out[0].shape[0], 2);
    assert_floats_near(out[0].data, (float[]){1.91382422f, 3}, 2, 1e-6);
    kv_free(&out[0]);

    /* smoothing 0.1: 0.9 * 0.40760596 + 0.1 * mean(2.4076, 1.4076, 0.4076) per permuted
     * row; the uniform row is unchanged */
    at.label_smoothing = 0.1f;
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    assert_floats_near(out[0].data, (float[]){2.11382422f, 3}, 2, 1e-6);
    kv_free(&out[0]);

    /* an ignore_index inside [0, C), like a padding class: rows 1 and 3 drop out, and
     * row 2's -100 is now out of range, so give it a real class */
    ((int32_t *)in[1].data)[2] = 1;
    at = (struct lt_cross_entropy_attrs){0.0f, 0};
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    assert_floats_near(out[0].data, (float[]){0.41678044f, 2}, 2, 1e-6);
    kv_free(&out[0]);

    /* every row ignored: nothing to sum and nothing to count */
    memcpy(in[1].data, (int32_t[]){7, 7, 7, 7}, sizeof(int32_t[4]));
    at.ignore_index = 7;
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    assert_floats_near(out[0].data, (float[]){0, 0}, 2, 0);
    struct lt_kview gout = kv_f32(1, (int64_t[]){2}, (float[]){1, 1});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    op_backward(LT_OP_CROSS_ENTROPY, &at, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[12]){0}, 12, 0);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void cross_entropy_gradients(void **state) {
    (void)state;
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){4, 3}, ce_logits),
                             kv_i32(1, (int64_t[]){4}, ce_targets)};
    struct lt_kview out[1];
    /* the count's gradient (5) must have no effect */
    struct lt_kview gout = kv_f32(1, (int64_t[]){2}, (float[]){2, 5});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};

    /* 2 * (softmax - onehot); the ignored row 2 gets exactly 0 over the poison */
    struct lt_cross_entropy_attrs at = {0.0f, -100};
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    op_backward(LT_OP_CROSS_ENTROPY, &at, 2, in, out, &gout, gin);
    float want[12] = {0.18006115f,  0.48945694f, -0.66951809f, -1.33333333f,
                      0.66666667f,  0.66666667f, 0,            0,
                      0,            -0.66951809f, 0.18006115f, 0.48945694f};
    assert_floats_near(gin[0].data, want, 12, 1e-6);
    kv_free(&out[0]);

    /* smoothing 0.1: 2 * (softmax - 0.9 onehot - 0.1 / 3) */
    at.label_smoothing = 0.1f;
    op_forward(LT_OP_CROSS_ENTROPY, &at, 2, in, out);
    op_backward(LT_OP_CROSS_ENTROPY, &at, 2, in, out, &gout, gin);
    float swant[12] = {0.11339448f,  0.42279028f, -0.53618476f, -1.2f,
                       0.6f,         0.6f,        0,            0,
                       0,            -0.53618476f, 0.11339448f, 0.42279028f};
    assert_floats_near(gin[0].data, swant, 12, 1e-6);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void expect_target_error(const int32_t *targets, const char *want) {
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){4, 3}, ce_logits),
                             kv_i32(1, (int64_t[]){4}, targets)};
    struct lt_kview out = kv_new(LT_DTYPE_F32, 1, (int64_t[]){2});
    struct lt_kview gout = kv_f32(1, (int64_t[]){2}, (float[]){1, 0});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    struct lt_cross_entropy_attrs at = {0.0f, -100};
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(op_run(LT_OP_CROSS_ENTROPY, &at, 2, in, &out, NULL, msg), LT_EINVAL);
    assert_string_equal(msg, want);
    /* the backward checks too rather than read outside a row */
    msg[0] = '\0';
    assert_int_equal(
        op_run_backward(LT_OP_CROSS_ENTROPY, &at, 2, in, &out, &gout, gin, 0, NULL, msg),
        LT_EINVAL);
    assert_string_equal(msg, want);
    kv_free(&gin[0]);
    kv_free(&gout);
    kv_free(&out);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void cross_entropy_bad_target(void **state) {
    (void)state;
    expect_target_error((int32_t[]){0, 1, 2, 12},
                        "target 12 at row 3 is outside [0, 3)");
    expect_target_error((int32_t[]){0, 3, 2, 1},
                        "target 3 at row 1 is outside [0, 3)");
    /* negative but not the ignore_index */
    expect_target_error((int32_t[]){-1, 0, 2, 1},
                        "target -1 at row 0 is outside [0, 3)");
}

static void mse_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){3, 1}, (float[]){1, 2, 3}),
                             kv_f32(2, (int64_t[]){3, 1}, (float[]){0, 2, 5})};
    struct lt_kview out[1];
    op_forward(LT_OP_MSE, NULL, 2, in, out);
    assert_floats_near(out[0].data, (float[]){5, 3}, 2, 1e-6);

    /* 2 * 1.5 * (p - t) and its negation; the count's gradient (7) has no effect */
    struct lt_kview gout = kv_f32(1, (int64_t[]){2}, (float[]){1.5f, 7});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape),
                              kv_new(LT_DTYPE_F32, 2, in[1].shape)};
    op_backward(LT_OP_MSE, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){3, 0, -6}, 3, 1e-6);
    assert_floats_near(gin[1].data, (float[]){-3, 0, 6}, 3, 1e-6);

    /* only the target asks for a gradient: the prediction's buffer stays untouched */
    memcpy(gin[0].data, (float[]){9, 9, 9}, sizeof(float[3]));
    memcpy(gin[1].data, (float[]){9, 9, 9}, sizeof(float[3]));
    struct lt_kview target_only[2] = {{0}, gin[1]};
    op_backward(LT_OP_MSE, NULL, 2, in, out, &gout, target_only);
    assert_floats_near(gin[0].data, (float[]){9, 9, 9}, 3, 0);
    assert_floats_near(gin[1].data, (float[]){-3, 0, 6}, 3, 1e-6);
    kv_free(&gin[0]);
    kv_free(&gin[1]);
    kv_free(&gout);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

/* Asserts that shape inference of op on (a, b) fails with a message containing want. */
static void expect_error(enum lt_op op, const void *attrs, struct lt_kview a,
                         struct lt_kview b, const char *want) {
    op_infer_fails(op, attrs, 2, (struct lt_kview[]){a, b}, want);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_cross_entropy_attrs at = {0.0f, -100};
    struct lt_kview logits = {NULL, LT_DTYPE_F32, 2, {8, 10}};
    struct lt_kview targets = {NULL, LT_DTYPE_I32, 1, {7}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, targets,
                 "cross_entropy: logits (8, 10) and targets (7,) disagree on the batch size");
    targets.shape[0] = 8;
    struct lt_kview ftargets = {NULL, LT_DTYPE_F32, 1, {8}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, ftargets,
                 "cross_entropy: targets must be i32 class indices, got f32");
    struct lt_kview ilogits = {NULL, LT_DTYPE_I32, 2, {8, 10}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, ilogits, targets, "must be a float tensor");
    struct lt_kview flat = {NULL, LT_DTYPE_F32, 1, {8}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, flat, targets,
                 "cross_entropy: want logits (N, C) and targets (N,), got (8,) and (8,)");
    struct lt_kview targets2 = {NULL, LT_DTYPE_I32, 2, {8, 1}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, targets2, "got (8, 10) and (8, 1)");
    struct lt_kview empty = {NULL, LT_DTYPE_F32, 2, {8, 0}};
    expect_error(LT_OP_CROSS_ENTROPY, &at, empty, targets,
                 "cross_entropy: logits (8, 0) have no classes");
    at.label_smoothing = 1.5f;
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, targets,
                 "cross_entropy: label_smoothing 1.5 is outside [0, 1]");
    at.label_smoothing = -0.1f;
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, targets, "label_smoothing -0.1 is outside");
    at.label_smoothing = NAN;
    expect_error(LT_OP_CROSS_ENTROPY, &at, logits, targets, "label_smoothing nan is outside");

    /* the good case gives f32 (2,) whatever the logits' dtype */
    at.label_smoothing = 1.0f;
    struct lt_kview in[2] = {logits, targets}, out[1];
    in[0].dtype = LT_DTYPE_F16;
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_CROSS_ENTROPY].infer(&at, 2, in, out, msg), LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_F32);
    assert_int_equal(out[0].ndim, 1);
    assert_int_equal(out[0].shape[0], 2);

    struct lt_kview p = {NULL, LT_DTYPE_F32, 2, {4, 3}};
    struct lt_kview t = {NULL, LT_DTYPE_F32, 2, {3, 4}};
    expect_error(LT_OP_MSE, NULL, p, t, "mse: prediction (4, 3) and target (3, 4) differ in shape");
    t = (struct lt_kview){NULL, LT_DTYPE_F32, 1, {12}};
    expect_error(LT_OP_MSE, NULL, p, t, "prediction (4, 3) and target (12,) differ");
    t = (struct lt_kview){NULL, LT_DTYPE_BF16, 2, {4, 3}};
    expect_error(LT_OP_MSE, NULL, p, t, "mse: prediction is f32 but target is bf16");
    p.dtype = LT_DTYPE_I32;
    expect_error(LT_OP_MSE, NULL, p, p, "mse: input 1 must be a float tensor, got i32");
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cross_entropy_values), cmocka_unit_test(cross_entropy_gradients),
        cmocka_unit_test(cross_entropy_bad_target), cmocka_unit_test(mse_values),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("loss", tests, NULL, NULL);
}
