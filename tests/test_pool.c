/* max_pool2d, avg_pool2d and global_avg_pool: hand-computed values (padding, both
 * count_include_pad modes, ties), hand-computed backwards, shape errors, the case table.
 */
#include "core/ops/ops.h"
#include "tests/op_check.h"

/* Runs `op` forward on x (freed here) and checks the output's shape and values. */
static void expect_pool(enum lt_op op, const void *attrs, struct lt_kview x,
                        const int64_t *shape, const float *want) {
    struct lt_kview out[1];
    op_forward(op, attrs, 1, &x, out);
    assert_int_equal(out[0].ndim, 4);
    for (int d = 0; d < 4; d++)
        assert_int_equal(out[0].shape[d], shape[d]);
    assert_floats_near(out[0].data, want, lt_kview_numel(&out[0]), 1e-6);
    kv_free(&out[0]);
    kv_free(&x);
}

/* Runs `op` forward and backward on x (freed here) with gy = 1 and checks gx. */
static void expect_grad(enum lt_op op, const void *attrs, struct lt_kview x, const float *want) {
    struct lt_kview out[1];
    op_forward(op, attrs, 1, &x, out);
    struct lt_kview gout = kv_new(LT_DTYPE_F32, 4, out[0].shape);
    for (int64_t i = 0; i < lt_kview_numel(&gout); i++)
        ((float *)gout.data)[i] = 1;
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 4, x.shape);
    op_backward(op, attrs, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, want, lt_kview_numel(&x), 1e-6);
    kv_free(&gin);
    kv_free(&gout);
    kv_free(&out[0]);
    kv_free(&x);
}

/* x (1, 1, 4, 4): a permutation of 1..16 */
static struct lt_kview image4x4(void) {
    return kv_f32(4, (int64_t[]){1, 1, 4, 4},
                  (float[]){3, 16, 1, 8, 12, 5, 14, 2, 9, 4, 7, 13, 6, 15, 10, 11});
}

static void max_values(void **state) {
    (void)state;
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
    expect_pool(LT_OP_MAX_POOL2D, &k2s2, image4x4(), (int64_t[]){1, 1, 2, 2},
                (float[]){16, 14, 15, 13});
    /* padding is -inf: an all-negative image keeps its own maxima at the borders */
    struct lt_pool2d_attrs k3s2p1 = {{3, 3}, {2, 2}, {1, 1}, 1};
    expect_pool(LT_OP_MAX_POOL2D, &k3s2p1,
                kv_f32(4, (int64_t[]){1, 1, 3, 3}, (float[]){-9, -8, -7, -6, -5, -4, -3, -2, -1}),
                (int64_t[]){1, 1, 2, 2}, (float[]){-5, -4, -2, -1});
    /* a non-square window over two planes: (1, 2, 2, 3), kernel (2, 1), stride (1, 2) */
    struct lt_pool2d_attrs k21 = {{2, 1}, {1, 2}, {0, 0}, 1};
    expect_pool(LT_OP_MAX_POOL2D, &k21,
                kv_f32(4, (int64_t[]){1, 2, 2, 3}, (float[]){1, 9, 2, 4, 0, 8, 7, 6, 5, -1, -2, 3}),
                (int64_t[]){1, 2, 1, 2}, (float[]){4, 8, 7, 5});
}

static void max_backward(void **state) {
    (void)state;
    /* overlapping 3x3 windows, stride 1: 16 is the max of the top two, 15 of the
     * bottom two, and each collects both gradients */
    struct lt_pool2d_attrs k3s1 = {{3, 3}, {1, 1}, {0, 0}, 1};
    expect_grad(LT_OP_MAX_POOL2D, &k3s1, image4x4(),
                (float[]){0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0});
    /* ties go to the first position in window order, padding never takes a gradient */
    struct lt_pool2d_attrs k2s2p1 = {{2, 2}, {2, 2}, {1, 1}, 1};
    expect_grad(LT_OP_MAX_POOL2D, &k2s2p1,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){-1, -1, -1, -1}),
                (float[]){1, 1, 1, 1});
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
    expect_grad(LT_OP_MAX_POOL2D, &k2s2,
                kv_f32(4, (int64_t[]){1, 1, 2, 4}, (float[]){5, 5, 1, 7, 5, 5, 7, 7}),
                (float[]){1, 0, 0, 1, 0, 0, 0, 0});
}

static void avg_values(void **state) {
    (void)state;
    struct lt_pool2d_attrs include = {{2, 2}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs exclude = {{2, 2}, {1, 1}, {1, 1}, 0};
    /* x (1, 1, 2, 2) = 1..4 padded by one: the 3x3 windows' sums are
     * 1 3 2 / 4 10 6 / 3 7 4, over 4 or over the 1, 2 or 4 elements in the image */
    expect_pool(LT_OP_AVG_POOL2D, &include,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                (int64_t[]){1, 1, 3, 3},
                (float[]){0.25f, 0.75f, 0.5f, 1, 2.5f, 1.5f, 0.75f, 1.75f, 1});
    expect_pool(LT_OP_AVG_POOL2D, &exclude,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                (int64_t[]){1, 1, 3, 3}, (float[]){1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 0};
    expect_pool(LT_OP_AVG_POOL2D, &k2s2, image4x4(), (int64_t[]){1, 1, 2, 2},
                (float[]){9, 6.25f, 8.5f, 10.25f});
}

static void avg_backward(void **state) {
    (void)state;
    /* each pixel sits in four windows; counted padding makes each share 1/4, else the
     * corner windows (one element) pass 1 and the edges 1/2 */
    struct lt_pool2d_attrs include = {{2, 2}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs exclude = {{2, 2}, {1, 1}, {1, 1}, 0};
    expect_grad(LT_OP_AVG_POOL2D, &include,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                (float[]){1, 1, 1, 1});
    expect_grad(LT_OP_AVG_POOL2D, &exclude,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                (float[]){2.25f, 2.25f, 2.25f, 2.25f});
}

static void global_avg(void **state) {
    (void)state;
    struct lt_no_attrs none = {0};
    struct lt_kview x =
        kv_f32(4, (int64_t[]){2, 2, 1, 3}, (float[]){1, 2, 3, 4, 5, 9, -3, 0, 0, 1, 1, 1});
    expect_pool(LT_OP_GLOBAL_AVG_POOL, &none, x, (int64_t[]){2, 2, 1, 1}, (float[]){2, 6, -1, 1});
    expect_grad(LT_OP_GLOBAL_AVG_POOL, &none,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                (float[]){0.25f, 0.25f, 0.25f, 0.25f});
}

/* Asserts that op's shape inference on x fails with a message containing want. */
static void expect_error(enum lt_op op, const void *attrs, struct lt_kview x, const char *want) {
    op_infer_fails(op, attrs, 1, &x, want);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview x = {NULL, LT_DTYPE_F32, 4, {8, 3, 4, 5}};
    struct lt_pool2d_attrs a = {{5, 5}, {1, 1}, {0, 0}, 1};
    expect_error(LT_OP_MAX_POOL2D, &a, x,
                 "max_pool2d: kernel (5, 5) is larger than input (8, 3, 4, 5) padded by (0, 0)");
    a.kernel[0] = 3;
    a.padding[1] = 3;
    expect_error(LT_OP_AVG_POOL2D, &a, x,
                 "avg_pool2d: padding (0, 3) must be >= 0 and at most half of kernel (3, 5)");
    a.padding[1] = -1;
    expect_error(LT_OP_MAX_POOL2D, &a, x, "max_pool2d: padding (0, -1)");
    a.padding[1] = 0;
    a.stride[0] = 0;
    expect_error(LT_OP_MAX_POOL2D, &a, x, "max_pool2d: stride (0, 1) must be >= 1");
    a.stride[0] = 1;
    a.kernel[1] = 0;
    expect_error(LT_OP_AVG_POOL2D, &a, x, "avg_pool2d: kernel (3, 0) must be >= 1");
    a.kernel[1] = 2;

    struct lt_kview flat = {NULL, LT_DTYPE_F32, 3, {3, 4, 5}};
    expect_error(LT_OP_MAX_POOL2D, &a, flat, "max_pool2d: input (3, 4, 5) must be 4-D");
    expect_error(LT_OP_GLOBAL_AVG_POOL, NULL, flat,
                 "global_avg_pool: input (3, 4, 5) must be 4-D");
    struct lt_kview bytes = {NULL, LT_DTYPE_U8, 4, {8, 3, 4, 5}};
    expect_error(LT_OP_AVG_POOL2D, &a, bytes, "avg_pool2d: input 1 must be a float tensor");
    expect_error(LT_OP_GLOBAL_AVG_POOL, NULL, bytes, "global_avg_pool: input 1 must be a float");
    struct lt_kview empty = {NULL, LT_DTYPE_F32, 4, {8, 0, 4, 5}};
    expect_error(LT_OP_MAX_POOL2D, &a, empty, "max_pool2d: input (8, 0, 4, 5) must not have");

    /* and valid calls infer (N, C, OH, OW) in floor mode */
    struct lt_kview out[1];
    char msg[LT_KMSG_SIZE] = "";
    a.stride[1] = 2;
    a.padding[1] = 1;
    assert_int_equal(lt_op_descs[LT_OP_MAX_POOL2D].infer(&a, 1, &x, out, msg), LT_OK);
    assert_int_equal(out[0].shape[0], 8);
    assert_int_equal(out[0].shape[1], 3);
    assert_int_equal(out[0].shape[2], 2);
    assert_int_equal(out[0].shape[3], 3);
    assert_int_equal(lt_op_descs[LT_OP_GLOBAL_AVG_POOL].infer(NULL, 1, &x, out, msg), LT_OK);
    assert_int_equal(out[0].shape[1], 3);
    assert_int_equal(out[0].shape[2], 1);
    assert_int_equal(out[0].shape[3], 1);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_values),
        cmocka_unit_test(max_backward),
        cmocka_unit_test(avg_values),
        cmocka_unit_test(avg_backward),
        cmocka_unit_test(global_avg),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
