/* conv2d: hand-computed values for each attribute, a hand-computed backward, shape
 * errors, and the case table. */
#include "core/ops/ops.h"
#include "tests/op_check.h"

/* x (1, 1, 3, 3) holding 1..9, the image most value tests use */
static struct lt_kview image3x3(void) {
    return kv_f32(4, (int64_t[]){1, 1, 3, 3}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9});
}

/* Runs conv2d forward and checks the output's shape and values. */
static void expect_conv(const struct lt_conv2d_attrs *a, int n_in, struct lt_kview *in,
                        const int64_t *shape, const float *want) {
    struct lt_kview out[1];
    op_forward(LT_OP_CONV2D, a, n_in, in, out);
    assert_int_equal(out[0].ndim, 4);
    for (int d = 0; d < 4; d++)
        assert_int_equal(out[0].shape[d], shape[d]);
    assert_floats_near(out[0].data, want, lt_kview_numel(&out[0]), 1e-6);
    kv_free(&out[0]);
    for (int i = 0; i < n_in; i++)
        kv_free(&in[i]);
}

static void plain_with_bias(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 1}, {0, 0}, {1, 1}, 1};
    /* w = [[1, 2], [3, 4]]: y[i, j] = x[i, j] + 2 x[i, j+1] + 3 x[i+1, j] + 4 x[i+1, j+1] */
    struct lt_kview in[3] = {image3x3(),
                             kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                             kv_f32(1, (int64_t[]){1}, (float[]){0.5f})};
    expect_conv(&a, 3, in, (int64_t[]){1, 1, 2, 2}, (float[]){37.5f, 47.5f, 67.5f, 77.5f});
}

static void stride_and_padding(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{2, 2}, {1, 1}, {1, 1}, 1};
    /* a 3x3 box filter centred on the four corners: sums of each corner's neighbours */
    struct lt_kview in[2] = {
        image3x3(), kv_f32(4, (int64_t[]){1, 1, 3, 3}, (float[]){1, 1, 1, 1, 1, 1, 1, 1, 1})};
    expect_conv(&a, 2, in, (int64_t[]){1, 1, 2, 2}, (float[]){12, 16, 24, 28});
}

static void dilation(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 1}, {0, 0}, {2, 2}, 1};
    /* the 2x2 taps land on the corners: 1*1 + 2*3 + 3*7 + 4*9 */
    struct lt_kview in[2] = {image3x3(),
                             kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4})};
    expect_conv(&a, 2, in, (int64_t[]){1, 1, 1, 1}, (float[]){64});
}

static void non_square_stride(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 2}, {0, 0}, {1, 1}, 1};
    /* a 1x1 kernel of 2 with stride (1, 2) keeps columns 0 and 2, doubled */
    struct lt_kview in[2] = {image3x3(), kv_f32(4, (int64_t[]){1, 1, 1, 1}, (float[]){2})};
    expect_conv(&a, 2, in, (int64_t[]){1, 1, 3, 2}, (float[]){2, 6, 8, 12, 14, 18});
}

static void groups(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 1}, {0, 0}, {1, 1}, 2};
    /* x (1, 2, 1, 2); group 0 (filters 0, 1) sees channel 0, group 1 (filters 2, 3)
     * channel 1 */
    struct lt_kview in[3] = {
        kv_f32(4, (int64_t[]){1, 2, 1, 2}, (float[]){1, 2, 10, 20}),
        kv_f32(4, (int64_t[]){4, 1, 1, 1}, (float[]){1, -1, 2, 3}),
        kv_f32(1, (int64_t[]){4}, (float[]){0, 0, 0, 100}),
    };
    expect_conv(&a, 3, in, (int64_t[]){1, 4, 1, 2},
                (float[]){1, 2, -1, -2, 20, 40, 130, 160});
}

static void backward_values(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 1}, {0, 0}, {1, 1}, 1};
    struct lt_kview in[3] = {image3x3(),
                             kv_f32(4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 2, 3, 4}),
                             kv_f32(1, (int64_t[]){1}, (float[]){0.5f})};
    struct lt_kview out[1];
    op_forward(LT_OP_CONV2D, &a, 3, in, out);
    /* gy = 1 everywhere: gx counts the taps over each pixel, gw sums each tap's 2x2
     * window of x, gb counts the outputs */
    struct lt_kview gout = kv_f32(4, out[0].shape, (float[]){1, 1, 1, 1});
    struct lt_kview gin[3] = {kv_new(LT_DTYPE_F32, 4, in[0].shape),
                              kv_new(LT_DTYPE_F32, 4, in[1].shape),
                              kv_new(LT_DTYPE_F32, 1, in[2].shape)};
    op_backward(LT_OP_CONV2D, &a, 3, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){1, 3, 2, 4, 10, 6, 3, 7, 4}, 9, 1e-6);
    assert_floats_near(gin[1].data, (float[]){12, 16, 24, 28}, 4, 1e-6);
    assert_floats_near(gin[2].data, (float[]){4}, 1, 1e-6);
    for (int i = 0; i < 3; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);
}

/* Asserts that conv2d's shape inference fails with a message containing want. */
static void expect_error(const struct lt_conv2d_attrs *a, int n_in, const struct lt_kview *in,
                         const char *want) {
    op_infer_fails(LT_OP_CONV2D, a, n_in, in, want);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_conv2d_attrs a = {{1, 1}, {0, 0}, {1, 1}, 1};
    struct lt_kview x = {NULL, LT_DTYPE_F32, 4, {8, 3, 28, 28}};
    struct lt_kview w = {NULL, LT_DTYPE_F32, 4, {32, 1, 3, 3}};
    expect_error(&a, 2, (struct lt_kview[]){x, w},
                 "conv2d: input (8, 3, 28, 28) has 3 channels but weight (32, 1, 3, 3) "
                 "expects 1 (groups 1)");
    a.groups = 2;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "groups 2 must divide the input's 3");
    a.groups = 3;
    w.shape[0] = 31;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "and the weight's 31 filters");

    a.groups = 1;
    w.shape[0] = 32;
    w.shape[1] = 3;
    struct lt_kview b = {NULL, LT_DTYPE_F32, 1, {16}};
    expect_error(&a, 3, (struct lt_kview[]){x, w, b},
                 "conv2d: bias (16,) must be (32,) for weight (32, 3, 3, 3)");

    struct lt_kview small = {NULL, LT_DTYPE_F32, 4, {8, 3, 2, 5}};
    expect_error(&a, 2, (struct lt_kview[]){small, w},
                 "kernel spans 3x3 (dilation (1, 1)) but input (8, 3, 2, 5) padded by (0, 0)");
    a.dilation[1] = 14;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "conv2d: kernel spans 3x29");
    a.dilation[0] = 0;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "conv2d: dilation (0, 14) must be >= 1");
    a.dilation[0] = a.dilation[1] = 1;
    a.stride[1] = 0;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "conv2d: stride (1, 0) must be >= 1");
    a.stride[1] = 1;
    a.padding[0] = -1;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "conv2d: padding (-1, 0) must be >= 0");
    a.padding[0] = 0;
    a.groups = 0;
    expect_error(&a, 2, (struct lt_kview[]){x, w}, "conv2d: groups 0 must be >= 1");
    a.groups = 1;

    struct lt_kview flat = {NULL, LT_DTYPE_F32, 2, {8, 784}};
    expect_error(&a, 2, (struct lt_kview[]){flat, w}, "conv2d: input (8, 784) must be 4-D");
    expect_error(&a, 2, (struct lt_kview[]){x, flat}, "conv2d: weight (8, 784) must be 4-D");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 4, {8, 3, 28, 28}};
    expect_error(&a, 2, (struct lt_kview[]){ids, w}, "conv2d: input 1 must be a float tensor");
    struct lt_kview half = {NULL, LT_DTYPE_F16, 4, {32, 3, 3, 3}};
    expect_error(&a, 2, (struct lt_kview[]){x, half}, "conv2d: input 2 is f16 but input 1 is f32");
    struct lt_kview empty = {NULL, LT_DTYPE_F32, 4, {8, 3, 0, 28}};
    expect_error(&a, 2, (struct lt_kview[]){empty, w}, "must not have empty dims");

    /* and a valid call infers (N, O, OH, OW) */
    struct lt_kview out[1];
    char msg[LT_KMSG_SIZE] = "";
    a.stride[0] = 2;
    a.padding[1] = 1;
    b.shape[0] = 32;
    assert_int_equal(lt_op_descs[LT_OP_CONV2D].infer(&a, 3, (struct lt_kview[]){x, w, b}, out,
                                                     msg),
                     LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_F32);
    assert_int_equal(out[0].shape[0], 8);
    assert_int_equal(out[0].shape[1], 32);
    assert_int_equal(out[0].shape[2], 13);
    assert_int_equal(out[0].shape[3], 28);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_with_bias),
        cmocka_unit_test(stride_and_padding),
        cmocka_unit_test(dilation),
        cmocka_unit_test(non_square_stride),
        cmocka_unit_test(groups),
        cmocka_unit_test(backward_values),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("conv", tests, NULL, NULL);
}
