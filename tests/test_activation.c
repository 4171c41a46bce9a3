/* relu, gelu, sigmoid and tanh: hand-computed values and gradients, half dtypes, shape
 * errors, the case table. */
#include <math.h>

#include "core/ops/ops.h"
#include "kernels/half.h"
#include "tests/op_check.h"

#define N_X 8
static const float xs[N_X] = {-3, -1, -0.5f, 0, 0.5f, 1, 2, 3};
static const float gs[N_X] = {1, 2, -1, 0.5f, 1, -2, 3, 1};

/* Runs op forward on xs and backward with gout = gs; checks both against want_y and
 * want_g (the input's gradient). */
static void check_values(enum lt_op op, const float *want_y, const float *want_g) {
    int64_t shape[] = {2, 4};
    struct lt_kview x = kv_f32(2, shape, xs), out[1];
    op_forward(op, NULL, 1, &x, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_F32);
    assert_int_equal(out[0].ndim, 2);
    assert_memory_equal(out[0].shape, shape, sizeof shape);
    assert_floats_near(out[0].data, want_y, N_X, 1e-6);

    struct lt_kview gout = kv_f32(2, shape, gs), gin = kv_new(LT_DTYPE_F32, 2, shape);
    op_backward(op, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, want_g, N_X, 1e-6);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
}

static void relu_values(void **state) {
    (void)state;
    /* at 0 the output is 0, so no gradient flows: PyTorch's choice */
    check_values(LT_OP_RELU, (float[]){0, 0, 0, 0, 0.5f, 1, 2, 3},
                 (float[]){0, 0, 0, 0, 1, -2, 3, 1});
}

static void gelu_values(void **state) {
    (void)state;
    check_values(LT_OP_GELU,
                 (float[]){-0.0040496941f, -0.15865525f, -0.15426877f, 0, 0.34573123f, 0.84134475f,
                           1.9544997f, 2.9959503f},
                 (float[]){-0.011945647f, -0.16663094f, -0.13250488f, 0.25f, 0.86749512f,
                           -2.1666309f, 3.2556954f, 1.0119456f});
}

static void sigmoid_values(void **state) {
    (void)state;
    check_values(LT_OP_SIGMOID,
                 (float[]){0.047425873f, 0.26894142f, 0.37754067f, 0.5f, 0.62245933f, 0.73105858f,
                           0.88079708f, 0.95257413f},
                 (float[]){0.04517666f, 0.39322387f, -0.23500371f, 0.125f, 0.23500371f,
                           -0.39322387f, 0.31498076f, 0.04517666f});
}

static void tanh_values(void **state) {
    (void)state;
    check_values(LT_OP_TANH,
                 (float[]){-0.99505475f, -0.76159416f, -0.46211716f, 0, 0.46211716f, 0.76159416f,
                           0.96402758f, 0.99505475f},
                 (float[]){0.0098660372f, 0.83994868f, -0.78644773f, 0.5f, 0.78644773f,
                           -0.83994868f, 0.21195247f, 0.0098660372f});
}

/* NaN passes through relu; an infinite gradient where the unit is off gives 0, not NaN;
 * sigmoid saturates without overflowing. */
static void edge_values(void **state) {
    (void)state;
    int64_t shape[] = {3};
    struct lt_kview x = kv_f32(1, shape, (float[]){NAN, -1, 2}), out[1];
    op_forward(LT_OP_RELU, NULL, 1, &x, out);
    const float *y = out[0].data;
    assert_true(isnan(y[0]));
    struct lt_kview gout = kv_f32(1, shape, (float[]){1, INFINITY, 1});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 1, shape);
    op_backward(LT_OP_RELU, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near((const float *)gin.data + 1, (float[]){0, 1}, 2, 0);
    kv_free(&x);
    kv_free(&out[0]);

    x = kv_f32(1, shape, (float[]){-1000, 1000, -90});
    op_forward(LT_OP_SIGMOID, NULL, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){0, 1, 8.1940126e-40f}, 3, 1e-6);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
}

/* Half inputs give half outputs rounded to nearest even from the exact value, and f32
 * gradients. */
static void half_values(void **state) {
    (void)state;
    /* f16 relu of -2, 0.5, 1.5, -0.25 */
    struct lt_kview x = kv_half(LT_DTYPE_F16, 4, (uint16_t[]){0xc000, 0x3800, 0x3e00, 0xb400});
    struct lt_kview out[1];
    op_forward(LT_OP_RELU, NULL, 1, &x, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_F16);
    assert_memory_equal(out[0].data, ((uint16_t[]){0, 0x3800, 0x3e00, 0}), 4 * sizeof(uint16_t));
    struct lt_kview gout = kv_f32(1, x.shape, (float[]){1, 2, 3, 4});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 1, x.shape);
    op_backward(LT_OP_RELU, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){0, 2, 3, 0}, 4, 0);
    kv_free(&x);
    kv_free(&out[0]);

    /* f16: gelu(1) = 0.84134475 -> 0x3abb; tanh(0.5) = 0.46211716 -> 0x3765;
     * sigmoid(1.5) = 0.81757448 -> 0x3a8a */
    const enum lt_op ops[] = {LT_OP_GELU, LT_OP_TANH, LT_OP_SIGMOID};
    const uint16_t f16_in[] = {0x3c00, 0x3800, 0x3e00}, f16_want[] = {0x3abb, 0x3765, 0x3a8a};
    for (int i = 0; i < 3; i++) {
        x = kv_half(LT_DTYPE_F16, 1, &f16_in[i]);
        op_forward(ops[i], NULL, 1, &x, out);
        assert_int_equal(((uint16_t *)out[0].data)[0], f16_want[i]);
        kv_free(&x);
        kv_free(&out[0]);
    }

    /* bf16 gelu of 1, -1, 2: 0x3f57, 0xbe22, 0x3ffa; its gradient reads the bf16 input */
    x = kv_half(LT_DTYPE_BF16, 3, (uint16_t[]){0x3f80, 0xbf80, 0x4000});
    op_forward(LT_OP_GELU, NULL, 1, &x, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
    assert_memory_equal(out[0].data, ((uint16_t[]){0x3f57, 0xbe22, 0x3ffa}), 3 * sizeof(uint16_t));
    kv_free(&gin);
    gin = kv_new(LT_DTYPE_F32, 1, x.shape);
    op_backward(LT_OP_GELU, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){1.0833155f, 2 * -0.083315471f, 3 * 1.0852318f}, 3, 1e-6);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {4, 3}};
    struct lt_kview mask = {NULL, LT_DTYPE_U8, 1, {4}};
    op_infer_fails(LT_OP_RELU, NULL, 1, &ids, "relu: input 1 must be a float tensor, got i32");
    op_infer_fails(LT_OP_GELU, NULL, 1, &mask, "gelu: input 1 must be a float tensor, got u8");
    op_infer_fails(LT_OP_SIGMOID, NULL, 1, &ids, "sigmoid: input 1 must be a float tensor");
    op_infer_fails(LT_OP_TANH, NULL, 1, &ids, "tanh: input 1 must be a float tensor");

    /* a 0-dim input is fine and keeps its shape and dtype */
    struct lt_kview scalar = {NULL, LT_DTYPE_BF16, 0, {0}}, out[1];
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_GELU].infer(NULL, 1, &scalar, out, msg), LT_OK);
    assert_int_equal(out[0].ndim, 0);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(relu_values),    cmocka_unit_test(gelu_values),
        cmocka_unit_test(sigmoid_values), cmocka_unit_test(tanh_values),
        cmocka_unit_test(edge_values),    cmocka_unit_test(half_values),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("activation", tests, NULL, NULL);
}
