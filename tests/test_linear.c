/* matmul and linear: hand-computed values, shape errors, the case table. */
#include "core/ops/ops.h"
#include "tests/op_check.h"

static void linear_values(void **state) {
    (void)state;
    /* x (2, 3), w (2, 3), b (2): y = x w^T + b */
    struct lt_kview in[3] = {
        kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}),
        kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 0, -1, 0.5f, 0.5f, 0.5f}),
        kv_f32(1, (int64_t[]){2}, (float[]){10, -10}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_LINEAR, NULL, 3, in, out);
    assert_int_equal(out[0].shape[0], 2);
    assert_int_equal(out[0].shape[1], 2);
    assert_floats_near(out[0].data, (float[]){8, -7, 8, -2.5f}, 4, 1e-6);

    /* gradients of sum(g * y): gx = g w, gw = g^T x, gb = sum_rows g */
    struct lt_kview gout = kv_f32(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    struct lt_kview gin[3] = {kv_new(LT_DTYPE_F32, 2, in[0].shape),
                              kv_new(LT_DTYPE_F32, 2, in[1].shape),
                              kv_new(LT_DTYPE_F32, 1, in[2].shape)};
    op_backward(LT_OP_LINEAR, NULL, 3, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){2, 1, 0, 5, 2, -1}, 6, 1e-6);
    assert_floats_near(gin[1].data, (float[]){13, 17, 21, 18, 24, 30}, 6, 1e-6);
    assert_floats_near(gin[2].data, (float[]){4, 6}, 2, 1e-6);
    for (int i = 0; i < 3; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);
}

static void matmul_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {
        kv_f32(2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4}),
        kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 0, 2, 0, 1, -1}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_MATMUL, NULL, 2, in, out);
    assert_floats_near(out[0].data, (float[]){1, 2, 0, 3, 4, 2}, 6, 1e-6);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview x = {NULL, LT_DTYPE_F32, 2, {8, 784}};
    struct lt_kview w = {NULL, LT_DTYPE_F32, 2, {10, 100}};
    struct lt_kview b = {NULL, LT_DTYPE_F32, 1, {9}};
    op_infer_fails(LT_OP_LINEAR, NULL, 2, (struct lt_kview[]){x, w},
                   "linear: input (8, 784) has 784 features but weight (10, 100) expects 100");
    w.shape[1] = 784;
    op_infer_fails(LT_OP_LINEAR, NULL, 3, (struct lt_kview[]){x, w, b}, "bias (9,)");
    struct lt_kview m = {NULL, LT_DTYPE_F32, 2, {3, 4}};
    op_infer_fails(LT_OP_MATMUL, NULL, 2, (struct lt_kview[]){m, m}, "inner dims 4 and 3 differ");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {4, 3}};
    op_infer_fails(LT_OP_MATMUL, NULL, 2, (struct lt_kview[]){ids, m}, "must be a float tensor");
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_values),
        cmocka_unit_test(matmul_values),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("linear", tests, NULL, NULL);
}
