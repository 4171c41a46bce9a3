/* max_pool2d, avg_pool2d and global_avg_pool: hand-computed values and max pooling's
 * argmax codes (padding, both count_include_pad modes, ties, a window too large for a
 * byte), hand-computed backwards, shape errors, the case table.
 */
#include "core/ops/ops.h"
#include "tests/op_check.h"

/* Frees the outputs op_forward made. */
static void free_outputs(enum lt_op op, struct lt_kview *out) {
    for (int k = 0; k < lt_op_descs[op].n_out; k++)
        kv_free(&out[k]);
}

/* Runs `op` forward on x (freed here) and checks the output's shape and values, and for
 * max pooling the argmax codes (codes: NULL for the others). */
static void expect_pool(enum lt_op op, const void *attrs, struct lt_kview x, const int64_t *shape,
                        const float *want, const int32_t *codes) {
    struct lt_kview out[LT_MAX_OUTPUTS];
    op_forward(op, attrs, 1, &x, out);
    assert_int_equal(out[0].ndim, 4);
    for (int d = 0; d < 4; d++)
        assert_int_equal(out[0].shape[d], shape[d]);
    assert_floats_near(out[0].data, want, lt_kview_numel(&out[0]), 1e-6);
    for (int64_t e = 0; codes && e < lt_kview_numel(&out[1]); e++) {
        int64_t got = out[1].dtype == LT_DTYPE_U8 ? ((const uint8_t *)out[1].data)[e]
                                                  : ((const int32_t *)out[1].data)[e];
        if (got != codes[e])
            fail_msg("code %lld: %lld, want %d", (long long)e, (long long)got, codes[e]);
    }
    free_outputs(op, out);
    kv_free(&x);
}

/* Runs `op` forward and backward on x (freed here) with gy = 1 and checks gx. */
static void expect_grad(enum lt_op op, const void *attrs, struct lt_kview x, const float *want) {
    struct lt_kview out[LT_MAX_OUTPUTS];
    op_forward(op, attrs, 1, &x, out);
    struct lt_kview gout = kv_new(LT_DTYPE_F32, 4, out[0].shape);
    for (int64_t i = 0; i < lt_kview_numel(&gout); i++)
        ((float *)gout.data)[i] = 1;
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 4, x.shape);
    op_backward(op, attrs, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, want, lt_kview_numel(&x), 1e-6);
    kv_free(&gin);
    kv_free(&gout);
    free_outputs(op, out);
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
    /* codes: the maximum's row-major position in its 2x2 window */
    expect_pool(LT_OP_MAX_POOL2D, &k2s2, image4x4(), (int64_t[]){1, 1, 2, 2},
                (float[]){16, 14, 15, 13}, (int32_t[]){1, 2, 3, 1});
    /* padding is -inf: an all-negative image keeps its own maxima at the borders; codes
     * count from the window's padded corner (-1, -1) in a 3x3 window */
    struct lt_pool2d_attrs k3s2p1 = {{3, 3}, {2, 2}, {1, 1}, 1};
    expect_pool(LT_OP_MAX_POOL2D, &k3s2p1,
                kv_f32(4, (int64_t[]){1, 1, 3, 3}, (float[]){-9, -8, -7, -6, -5, -4, -3, -2, -1}),
                (int64_t[]){1, 1, 2, 2}, (float[]){-5, -4, -2, -1}, (int32_t[]){8, 7, 5, 4});
    /* a non-square window over two planes: (1, 2, 2, 3), kernel (2, 1), stride (1, 2) */
    struct lt_pool2d_attrs k21 = {{2, 1}, {1, 2}, {0, 0}, 1};
    expect_pool(LT_OP_MAX_POOL2D, &k21,
                kv_f32(4, (int64_t[]){1, 2, 2, 3}, (float[]){1, 9, 2, 4, 0, 8, 7, 6, 5, -1, -2, 3}),
                (int64_t[]){1, 2, 1, 2}, (float[]){4, 8, 7, 5}, (int32_t[]){1, 1, 0, 0});
}

/* A window of more than 256 elements codes its argmax in i32: a 17x17 window over a
 * 17x18 plane whose largest element is at (16, 1) and (5, 17). */
static void max_wide_codes(void **state) {
    (void)state;
    struct lt_pool2d_attrs k17 = {{17, 17}, {1, 1}, {0, 0}, 1};
    float v[17 * 18];
    for (int e = 0; e < 17 * 18; e++)
        v[e] = (float)(e % 7);
    v[16 * 18 + 1] = 50;
    v[5 * 18 + 17] = 40;
    struct lt_kview x = kv_f32(4, (int64_t[]){1, 1, 17, 18}, v);
    struct lt_kview out[LT_MAX_OUTPUTS];
    op_forward(LT_OP_MAX_POOL2D, &k17, 1, &x, out);
    assert_int_equal(out[1].dtype, LT_DTYPE_I32);
    const int32_t *codes = out[1].data;
    /* window 0 covers columns 0-16: 50 at (16, 1); window 1 columns 1-17: 50 at (16, 0) */
    assert_int_equal(codes[0], 16 * 17 + 1);
    assert_int_equal(codes[1], 16 * 17 + 0);
    free_outputs(LT_OP_MAX_POOL2D, out);
    float want[17 * 18] = {0};
    want[16 * 18 + 1] = 2; /* both windows' maximum */
    expect_grad(LT_OP_MAX_POOL2D, &k17, x, want);
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
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}), (int64_t[]){1, 1, 3, 3},
                (float[]){0.25f, 0.75f, 0.5f, 1, 2.5f, 1.5f, 0.75f, 1.75f, 1}, NULL);
    expect_pool(LT_OP_AVG_POOL2D, &exclude,
                kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}), (int64_t[]){1, 1, 3, 3},
                (float[]){1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4}, NULL);
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 0};
    expect_pool(LT_OP_AVG_POOL2D, &k2s2, image4x4(), (int64_t[]){1, 1, 2, 2},
                (float[]){9, 6.25f, 8.5f, 10.25f}, NULL);
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
    expect_pool(LT_OP_GLOBAL_AVG_POOL, &none, x, (int64_t[]){2, 2, 1, 1}, (float[]){2, 6, -1, 1},
                NULL);
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

    /* and valid calls infer (N, C, OH, OW) in floor mode, max pooling's codes in bytes */
    struct lt_kview out[LT_MAX_OUTPUTS];
    char msg[LT_KMSG_SIZE] = "";
    a.stride[1] = 2;
    a.padding[1] = 1;
    assert_int_equal(lt_op_descs[LT_OP_MAX_POOL2D].infer(&a, 1, &x, out, msg), LT_OK);
    assert_int_equal(out[0].shape[0], 8);
    assert_int_equal(out[0].shape[1], 3);
    assert_int_equal(out[0].shape[2], 2);
    assert_int_equal(out[0].shape[3], 3);
    assert_int_equal(out[1].dtype, LT_DTYPE_U8);
    assert_memory_equal(out[1].shape, out[0].shape, sizeof out[0].shape);
    assert_int_equal(lt_op_descs[LT_OP_GLOBAL_AVG_POOL].infer(NULL, 1, &x, out, msg), LT_OK);
    assert_int_equal(out[0].shape[1], 3);
    assert_int_equal(out[0].shape[2], 1);
    assert_int_equal(out[0].shape[3], 1);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(max_values),     cmocka_unit_test(max_backward),
        cmocka_unit_test(max_wide_codes), cmocka_unit_test(avg_values),
        cmocka_unit_test(avg_backward),   cmocka_unit_test(global_avg),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
