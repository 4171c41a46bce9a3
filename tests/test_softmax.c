/* softmax and log_softmax: hand-computed values, stability on large logits, hand-checked
 * gradients, shape errors, the case table. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"

/* softmax([1, 2, 3]) and log_softmax([1, 2, 3]) */
static const float soft123[3] = {0.09003057f, 0.24472847f, 0.66524096f};
static const float logsoft123[3] = {-2.40760596f, -1.40760596f, -0.40760596f};

static void softmax_values(void **state) {
    (void)state;
    /* row 1 is row 0 shifted by 1000: exp(1000) would overflow without the max */
    struct lt_kview x = kv_f32(2, (int64_t[]){3, 3},
                               (float[]){1, 2, 3, 1001, 1002, 1003, -5, -5, -5});
    struct lt_kview out[1];
    op_forward(LT_OP_SOFTMAX, NULL, 1, &x, out);
    assert_int_equal(out[0].ndim, 2);
    assert_int_equal(out[0].shape[1], 3);
    float third = 1.0f / 3;
    float want[9] = {soft123[0], soft123[1], soft123[2], soft123[0], soft123[1], soft123[2],
                     third,      third,      third};
    assert_floats_near(out[0].data, want, 9, 1e-6);
    kv_free(&out[0]);

    op_forward(LT_OP_LOG_SOFTMAX, NULL, 1, &x, out);
    float lwant[9] = {logsoft123[0], logsoft123[1], logsoft123[2],
                      logsoft123[0], logsoft123[1], logsoft123[2],
                      -logf(3),      -logf(3),      -logf(3)};
    assert_floats_near(out[0].data, lwant, 9, 1e-6);
    kv_free(&out[0]);
    kv_free(&x);
}

static void softmax_gradients(void **state) {
    (void)state;
    struct lt_kview x = kv_f32(1, (int64_t[]){3}, (float[]){1, 2, 3});
    struct lt_kview out[1];
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 1, x.shape);

    /* softmax: dx = y * (dy - sum(dy * y)); a one-hot dy on class 2 gives
     * y * (e2 - y2) */
    op_forward(LT_OP_SOFTMAX, NULL, 1, &x, out);
    struct lt_kview gout = kv_f32(1, x.shape, (float[]){0, 0, 1});
    op_backward(LT_OP_SOFTMAX, NULL, 1, &x, out, &gout, &gin);
    const float *y = soft123;
    float want[3] = {-y[0] * y[2], -y[1] * y[2], y[2] * (1 - y[2])};
    assert_floats_near(gin.data, want, 3, 1e-6);
    /* a constant dy changes nothing: softmax is shift-invariant */
    memcpy(gout.data, (float[]){2, 2, 2}, sizeof(float[3]));
    op_backward(LT_OP_SOFTMAX, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){0, 0, 0}, 3, 1e-6);
    kv_free(&out[0]);

    /* log_softmax: dx = dy - softmax * sum(dy) */
    op_forward(LT_OP_LOG_SOFTMAX, NULL, 1, &x, out);
    memcpy(gout.data, (float[]){1, 0, -3}, sizeof(float[3]));
    op_backward(LT_OP_LOG_SOFTMAX, NULL, 1, &x, out, &gout, &gin);
    float lwant[3] = {1 + 2 * y[0], 2 * y[1], -3 + 2 * y[2]};
    assert_floats_near(gin.data, lwant, 3, 1e-6);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
    kv_free(&x);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview scalar = {NULL, LT_DTYPE_F32, 0, {0}};
    op_infer_fails(LT_OP_SOFTMAX, NULL, 1, &scalar,
                   "softmax: input needs at least 1 dim, got a scalar");
    op_infer_fails(LT_OP_LOG_SOFTMAX, NULL, 1, &scalar, "log_softmax: input needs at least 1 dim");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {4, 3}};
    op_infer_fails(LT_OP_SOFTMAX, NULL, 1, &ids,
                   "softmax: input 1 must be a float tensor, got i32");
    op_infer_fails(LT_OP_LOG_SOFTMAX, NULL, 1, &ids, "log_softmax: input 1 must be a float tensor");

    /* the output keeps the input's dtype and shape */
    struct lt_kview half = {NULL, LT_DTYPE_BF16, 3, {2, 5, 7}};
    struct lt_kview out[1];
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_SOFTMAX].infer(NULL, 1, &half, out, msg), LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
    assert_int_equal(out[0].ndim, 3);
    assert_int_equal(out[0].shape[2], 7);
    assert_null(out[0].data);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(softmax_values),
        cmocka_unit_test(softmax_gradients),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("softmax", tests, NULL, NULL);
}
