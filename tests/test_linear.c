/* matmul and linear: hand-computed values, shape errors, the case table. */
#include "core/ops/ops.h"
#include "kernels/matmul_batch.h"
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

/* a (2, 1, 1, 2) @ b (3, 2, 1) -> (2, 3, 1, 1): out[i, h] = a[i] . b[h]; each a[i] is
 * used by three products and each b[h] by two, so their gradients sum over those. */
static void matmul_broadcast_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {
        kv_f32(4, (int64_t[]){2, 1, 1, 2}, (float[]){1, 2, 3, 4}),
        kv_f32(3, (int64_t[]){3, 2, 1}, (float[]){1, 0, 0, 1, 1, 1}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_MATMUL, NULL, 2, in, out);
    assert_int_equal(out[0].ndim, 4);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 3, 1, 1}), 4 * sizeof(int64_t));
    assert_floats_near(out[0].data, (float[]){1, 2, 3, 3, 4, 7}, 6, 1e-6);

    /* ga[i] = sum_h g[i, h] b[h]^T; gb[h] = sum_i a[i]^T g[i, h] */
    struct lt_kview gout = kv_f32(4, out[0].shape, (float[]){1, 2, 3, 4, 5, 6});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 4, in[0].shape),
                              kv_new(LT_DTYPE_F32, 3, in[1].shape)};
    op_backward(LT_OP_MATMUL, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){4, 5, 10, 11}, 4, 1e-6);
    assert_floats_near(gin[1].data, (float[]){13, 18, 17, 24, 21, 30}, 6, 1e-6);
    for (int i = 0; i < 2; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);
}

/* Asserts that a @ b infers the shape `want` (ndim then the dims, as IN_F32 spells one). */
static void expect_matmul_shape(struct lt_kview a, struct lt_kview b, struct lt_kview want) {
    struct lt_kview out;
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_infer_matmul(NULL, 2, (struct lt_kview[]){a, b}, &out, msg), LT_OK);
    assert_int_equal(out.ndim, want.ndim);
    assert_memory_equal(out.shape, want.shape, (size_t)out.ndim * sizeof(int64_t));
}

#define SHAPE(ndim, ...) ((struct lt_kview){NULL, LT_DTYPE_F32, ndim, {__VA_ARGS__}})

/* The output shapes of torch.matmul's broadcast. */
static void matmul_broadcast_shapes(void **state) {
    (void)state;
    expect_matmul_shape(SHAPE(4, 8, 1, 5, 3), SHAPE(3, 4, 3, 7), SHAPE(4, 8, 4, 5, 7));
    expect_matmul_shape(SHAPE(2, 5, 3), SHAPE(3, 4, 3, 7), SHAPE(3, 4, 5, 7));
    expect_matmul_shape(SHAPE(3, 6, 5, 3), SHAPE(2, 3, 7), SHAPE(3, 6, 5, 7));
    expect_matmul_shape(SHAPE(3, 1, 5, 3), SHAPE(4, 2, 1, 3, 7), SHAPE(4, 2, 1, 5, 7));
    expect_matmul_shape(SHAPE(4, 2, 1, 5, 3), SHAPE(4, 1, 4, 3, 7), SHAPE(4, 2, 4, 5, 7));
    /* an empty batch dim against a repeated one stays empty, and the kernels' walk of the
     * batch agrees: no matrix to read or write */
    expect_matmul_shape(SHAPE(3, 0, 2, 3), SHAPE(3, 1, 3, 4), SHAPE(3, 0, 2, 4));
    expect_matmul_shape(SHAPE(3, 1, 2, 3), SHAPE(3, 0, 3, 4), SHAPE(3, 0, 2, 4));
    struct lt_kview a = SHAPE(3, 0, 2, 3), b = SHAPE(3, 1, 3, 4);
    assert_int_equal(lt_mm_batch_of(&a, &b).count, 0);
    assert_int_equal(lt_mm_batch_of(&b, &a).count, 0);
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
    struct lt_kview a3 = {NULL, LT_DTYPE_F32, 3, {2, 3, 4}};
    struct lt_kview b3 = {NULL, LT_DTYPE_F32, 3, {5, 4, 2}};
    op_infer_fails(LT_OP_MATMUL, NULL, 2, (struct lt_kview[]){a3, b3},
                   "matmul: (2, 3, 4) @ (5, 4, 2): batch dims do not broadcast: 2 and 5 (dim 3 "
                   "from the end) differ and neither is 1");
    struct lt_kview a4 = {NULL, LT_DTYPE_F32, 4, {3, 2, 3, 4}};
    op_infer_fails(LT_OP_MATMUL, NULL, 2, (struct lt_kview[]){a4, b3},
                   "(3, 2, 3, 4) @ (5, 4, 2): batch dims do not broadcast: 2 and 5");
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(linear_values),
        cmocka_unit_test(matmul_values),
        cmocka_unit_test(matmul_broadcast_values),
        cmocka_unit_test(matmul_broadcast_shapes),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("linear", tests, NULL, NULL);
}
