/* reshape, transpose, concat, permute and narrow: hand-computed values and gradients, every dtype
 * moved bit for bit, shape errors, the case table. */
#include <string.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"

static void reshape_values(void **state) {
    (void)state;
    const struct lt_reshape_attrs at = {2, {3, -1}};
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}), out[1];
    op_forward(LT_OP_RESHAPE, &at, 1, &x, out);
    assert_int_equal(out[0].ndim, 2);
    assert_int_equal(out[0].shape[0], 3);
    assert_int_equal(out[0].shape[1], 2);
    assert_floats_near(out[0].data, (float[]){1, 2, 3, 4, 5, 6}, 6, 0);
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){6, 5, 4, 3, 2, 1});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 2, x.shape);
    op_backward(LT_OP_RESHAPE, &at, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){6, 5, 4, 3, 2, 1}, 6, 0);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);

    /* to 0 dims and back; u8 moves bytes unchanged */
    const struct lt_reshape_attrs scalar = {0, {0}}, three_ones = {3, {1, -1, 1}};
    x = kv_new(LT_DTYPE_U8, 2, (int64_t[]){1, 1});
    ((uint8_t *)x.data)[0] = 200;
    op_forward(LT_OP_RESHAPE, &scalar, 1, &x, out);
    assert_int_equal(out[0].ndim, 0);
    assert_int_equal(out[0].dtype, LT_DTYPE_U8);
    assert_int_equal(((uint8_t *)out[0].data)[0], 200);
    struct lt_kview back[1];
    op_forward(LT_OP_RESHAPE, &three_ones, 1, &out[0], back);
    assert_int_equal(back[0].ndim, 3);
    assert_int_equal(back[0].shape[1], 1);
    assert_int_equal(((uint8_t *)back[0].data)[0], 200);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&back[0]);
}

static void transpose_values(void **state) {
    (void)state;
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}), out[1];
    op_forward(LT_OP_TRANSPOSE, NULL, 1, &x, out);
    assert_int_equal(out[0].shape[0], 3);
    assert_int_equal(out[0].shape[1], 2);
    assert_floats_near(out[0].data, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 2, 3, 4, 5, 6});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 2, x.shape);
    op_backward(LT_OP_TRANSPOSE, NULL, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){1, 3, 5, 2, 4, 6}, 6, 0);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);

    /* batched, and 2-byte elements: each (2, 2) matrix of a (2, 2, 2) is transposed */
    x = kv_new(LT_DTYPE_BF16, 3, (int64_t[]){2, 2, 2});
    memcpy(x.data, (uint16_t[]){1, 2, 3, 4, 5, 6, 7, 8}, 8 * sizeof(uint16_t));
    op_forward(LT_OP_TRANSPOSE, NULL, 1, &x, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
    assert_memory_equal(out[0].data, ((uint16_t[]){1, 3, 2, 4, 5, 7, 6, 8}), 8 * sizeof(uint16_t));
    kv_free(&x);
    kv_free(&out[0]);
}

static void concat_values(void **state) {
    (void)state;
    /* along dim 0: (1, 2) ++ (2, 2) */
    const struct lt_concat_attrs dim0 = {0}, last = {-1};
    struct lt_kview in[3] = {
        kv_f32(2, (int64_t[]){1, 2}, (float[]){1, 2}),
        kv_f32(2, (int64_t[]){2, 2}, (float[]){3, 4, 5, 6}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_CONCAT, &dim0, 2, in, out);
    assert_int_equal(out[0].shape[0], 3);
    assert_int_equal(out[0].shape[1], 2);
    assert_floats_near(out[0].data, (float[]){1, 2, 3, 4, 5, 6}, 6, 0);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);

    /* along the last dim: (2, 1) ++ (2, 2) ++ (2, 1) */
    in[0] = kv_f32(2, (int64_t[]){2, 1}, (float[]){1, 2});
    in[1] = kv_f32(2, (int64_t[]){2, 2}, (float[]){3, 4, 5, 6});
    in[2] = kv_f32(2, (int64_t[]){2, 1}, (float[]){7, 8});
    op_forward(LT_OP_CONCAT, &last, 3, in, out);
    assert_int_equal(out[0].shape[0], 2);
    assert_int_equal(out[0].shape[1], 4);
    assert_floats_near(out[0].data, (float[]){1, 3, 4, 7, 2, 5, 6, 8}, 8, 0);

    /* backward hands each input its slice; the middle one asks for no gradient */
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){10, 20, 30, 40, 50, 60, 70, 80});
    struct lt_kview gin[3] = {
        kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}, kv_new(LT_DTYPE_F32, 2, in[2].shape)};
    op_backward(LT_OP_CONCAT, &last, 3, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){10, 50}, 2, 0);
    assert_floats_near(gin[2].data, (float[]){40, 80}, 2, 0);
    for (int i = 0; i < 3; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);

    /* i32 along dim 1 of (2, 1, 2) and (2, 2, 2) */
    const struct lt_concat_attrs dim1 = {1};
    in[0] = kv_i32(3, (int64_t[]){2, 1, 2}, (int32_t[]){1, 2, 3, 4});
    in[1] = kv_i32(3, (int64_t[]){2, 2, 2}, (int32_t[]){-1, -2, -3, -4, -5, -6, -7, -8});
    op_forward(LT_OP_CONCAT, &dim1, 2, in, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_I32);
    assert_int_equal(out[0].shape[1], 3);
    assert_memory_equal(out[0].data, ((int32_t[]){1, 2, -1, -2, -3, -4, 3, 4, -5, -6, -7, -8}),
                        12 * sizeof(int32_t));
    kv_free(&in[0]);
    kv_free(&in[1]);
    kv_free(&out[0]);
}

static void permute_values(void **state) {
    (void)state;
    /* (2, 3) -> (3, 2): a transpose; the gradient goes back the inverse way */
    const struct lt_permute_attrs swap = {2, {1, 0}};
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}), out[1];
    op_forward(LT_OP_PERMUTE, &swap, 1, &x, out);
    assert_int_equal(out[0].shape[0], 3);
    assert_int_equal(out[0].shape[1], 2);
    assert_floats_near(out[0].data, (float[]){1, 4, 2, 5, 3, 6}, 6, 0);
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 2, 3, 4, 5, 6});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 2, x.shape);
    op_backward(LT_OP_PERMUTE, &swap, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){1, 3, 5, 2, 4, 6}, 6, 0);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);

    /* attention's layout: (B, T, H, D) = (2, 3, 2, 2) -> (B, H, T, D); element (b, t, h, d)
     * holds 1000b + 100t + 10h + d, so each output element names where it came from */
    const struct lt_permute_attrs bhtd = {4, {0, 2, 1, 3}};
    x = kv_new(LT_DTYPE_F32, 4, (int64_t[]){2, 3, 2, 2});
    float *v = x.data;
    for (int b = 0, i = 0; b < 2; b++)
        for (int t = 0; t < 3; t++)
            for (int h = 0; h < 2; h++)
                for (int d = 0; d < 2; d++)
                    v[i++] = (float)(1000 * b + 100 * t + 10 * h + d);
    op_forward(LT_OP_PERMUTE, &bhtd, 1, &x, out);
    assert_int_equal(out[0].ndim, 4);
    assert_int_equal(out[0].shape[1], 2);
    assert_int_equal(out[0].shape[2], 3);
    const float *y = out[0].data;
    for (int b = 0, i = 0; b < 2; b++)
        for (int h = 0; h < 2; h++)
            for (int t = 0; t < 3; t++)
                for (int d = 0; d < 2; d++, i++)
                    assert_true(y[i] == (float)(1000 * b + 100 * t + 10 * h + d));
    /* the gradient of the output's own values is x */
    gin = kv_new(LT_DTYPE_F32, 4, x.shape);
    op_backward(LT_OP_PERMUTE, &bhtd, 1, &x, out, &out[0], &gin);
    assert_floats_near(gin.data, x.data, lt_kview_numel(&x), 0);
    kv_free(&gin);
    kv_free(&out[0]);

    /* every dtype moves bit for bit: bf16, f16 (NaN payloads included), i32 and u8 */
    const enum lt_dtype dts[4] = {LT_DTYPE_BF16, LT_DTYPE_F16, LT_DTYPE_I32, LT_DTYPE_U8};
    for (int k = 0; k < 4; k++) {
        struct lt_kview xd = kv_new(dts[k], 4, x.shape), yd[1];
        size_t es = lt_dtype_bytes(dts[k]);
        for (int64_t i = 0; i < lt_kview_numel(&x); i++) {
            uint32_t bits = 0x7c01u + (uint32_t)v[i]; /* f16 NaNs and infinities among them */
            memcpy((char *)xd.data + i * es, &bits, es);
        }
        op_forward(LT_OP_PERMUTE, &bhtd, 1, &xd, yd);
        assert_int_equal(yd[0].dtype, dts[k]);
        for (int b = 0, i = 0; b < 2; b++)
            for (int h = 0; h < 2; h++)
                for (int t = 0; t < 3; t++)
                    for (int d = 0; d < 2; d++, i++) {
                        int64_t from = ((b * 3 + t) * 2 + h) * 2 + d;
                        assert_memory_equal((char *)yd[0].data + i * es,
                                            (char *)xd.data + from * es, es);
                    }
        kv_free(&xd);
        kv_free(&yd[0]);
    }
    kv_free(&x);
}

/* x (2, 4, 2) narrowed along dim 1 to positions 1 .. 2 (and -3: the same ones), along the
 * last dim, and an i32 tensor moved unchanged; the gradient is gout in the slice and 0
 * elsewhere, added to what gin held when accumulating. */
static void narrow_values(void **state) {
    (void)state;
    float xs[16];
    for (int i = 0; i < 16; i++)
        xs[i] = (float)i;
    struct lt_kview x = kv_f32(3, (int64_t[]){2, 4, 2}, xs), out[1];
    const struct lt_narrow_attrs mid = {1, 1, 2}, mid_neg = {-2, -3, 2}, last = {-1, 1, 1};
    op_forward(LT_OP_NARROW, &mid, 1, &x, out);
    assert_int_equal(out[0].ndim, 3);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 2, 2}), 3 * sizeof(int64_t));
    assert_floats_near(out[0].data, (float[]){2, 3, 4, 5, 10, 11, 12, 13}, 8, 0);
    struct lt_kview gout = kv_f32(3, out[0].shape, (float[]){1, 2, 3, 4, 5, 6, 7, 8});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 3, x.shape);
    op_backward(LT_OP_NARROW, &mid, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0}, 16, 0);
    for (int i = 0; i < 16; i++)
        ((float *)gin.data)[i] = 1;
    assert_int_equal(op_run_backward(LT_OP_NARROW, &mid, 1, &x, out, &gout, &gin, 1u, NULL, NULL),
                     LT_OK);
    assert_floats_near(gin.data, (float[]){1, 1, 2, 3, 4, 5, 1, 1, 1, 1, 6, 7, 8, 9, 1, 1}, 16, 0);
    kv_free(&out[0]);

    op_forward(LT_OP_NARROW, &mid_neg, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){2, 3, 4, 5, 10, 11, 12, 13}, 8, 0);
    kv_free(&out[0]);
    op_forward(LT_OP_NARROW, &last, 1, &x, out);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 4, 1}), 3 * sizeof(int64_t));
    assert_floats_near(out[0].data, (float[]){1, 3, 5, 7, 9, 11, 13, 15}, 8, 0);
    kv_free(&out[0]);

    struct lt_kview ids = kv_i32(1, (int64_t[]){5}, (int32_t[]){7, -8, 9, -10, 11});
    const struct lt_narrow_attrs tail = {0, 3, 2}, none = {0, 5, 0};
    op_forward(LT_OP_NARROW, &tail, 1, &ids, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_I32);
    assert_memory_equal(out[0].data, ((int32_t[]){-10, 11}), 2 * sizeof(int32_t));
    kv_free(&out[0]);
    op_forward(LT_OP_NARROW, &none, 1, &ids, out);
    assert_int_equal(out[0].shape[0], 0);
    kv_free(&out[0]);
    kv_free(&ids);
    kv_free(&x);
    kv_free(&gout);
    kv_free(&gin);
}

/* The fast permute and narrow against the reference on the case rows' inputs rounded to
 * bf16 and to f16: copies, so exactly equal, but for the one rounding to the half dtype
 * of a gradient added into a half gradient (the reference adds in f32). */
static void copies_half_fast_match_reference(void **state) {
    (void)state;
    for (int i = 0; i < shape_case_count; i++)
        if (shape_cases[i].op == LT_OP_PERMUTE || shape_cases[i].op == LT_OP_NARROW) {
            op_compare_case_as(&shape_cases[i], op_fast_backend(), LT_DTYPE_BF16,
                               op_unit_roundoff(LT_DTYPE_BF16));
            op_compare_case_as(&shape_cases[i], op_fast_backend(), LT_DTYPE_F16,
                               op_unit_roundoff(LT_DTYPE_F16));
        }
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview x = {NULL, LT_DTYPE_F32, 2, {2, 3}};
    const struct lt_reshape_attrs r1 = {2, {4, -1}}, r2 = {1, {7}}, r3 = {3, {-1, 3, -1}},
                                  r4 = {2, {-2, -3}}, r5 = {2, {1LL << 40, 1LL << 40}},
                                  r6 = {LT_MAX_DIMS + 1, {0}}, r7 = {2, {0, -1}};
    op_infer_fails(LT_OP_RESHAPE, &r1, 1, &x,
                   "reshape: cannot reshape (2, 3) (6 elements) into (4, -1)");
    op_infer_fails(LT_OP_RESHAPE, &r2, 1, &x,
                   "reshape: cannot reshape (2, 3) (6 elements) into (7,)");
    op_infer_fails(LT_OP_RESHAPE, &r3, 1, &x,
                   "reshape: new shape (-1, 3, -1) has more than one -1");
    op_infer_fails(LT_OP_RESHAPE, &r4, 1, &x, "reshape: new shape (-2, -3) has a negative size");
    op_infer_fails(LT_OP_RESHAPE, &r5, 1, &x, "has too many elements");
    op_infer_fails(LT_OP_RESHAPE, &r6, 1, &x, "reshape: the new shape has 9 dims");
    struct lt_kview empty = {NULL, LT_DTYPE_F32, 2, {0, 3}};
    op_infer_fails(LT_OP_RESHAPE, &r7, 1, &empty,
                   "reshape: cannot reshape (0, 3) into (0, -1): the -1 could be any size");

    struct lt_kview v = {NULL, LT_DTYPE_F32, 1, {5}}, s = {NULL, LT_DTYPE_F32, 0, {0}};
    op_infer_fails(LT_OP_TRANSPOSE, NULL, 1, &v,
                   "transpose: needs at least 2 dims, got shape (5,)");
    op_infer_fails(LT_OP_TRANSPOSE, NULL, 1, &s, "transpose: needs at least 2 dims, got shape ()");

    const struct lt_concat_attrs d0 = {0}, d2 = {2}, dm3 = {-3};
    struct lt_kview y = {NULL, LT_DTYPE_F32, 2, {3, 4}};
    op_infer_fails(LT_OP_CONCAT, &d0, 2, (struct lt_kview[]){x, y},
                   "concat: input 2 has shape (3, 4) but input 1 has (2, 3): all dims but the "
                   "one concatenated along must agree");
    struct lt_kview z = {NULL, LT_DTYPE_F32, 3, {1, 2, 3}};
    op_infer_fails(LT_OP_CONCAT, &d0, 2, (struct lt_kview[]){x, z}, "input 2 has shape (1, 2, 3)");
    struct lt_kview h = {NULL, LT_DTYPE_F16, 2, {2, 3}};
    op_infer_fails(LT_OP_CONCAT, &d0, 3, (struct lt_kview[]){x, x, h},
                   "concat: input 3 is f16 but input 1 is f32");
    op_infer_fails(LT_OP_CONCAT, &d2, 1, &x, "concat: dim 2 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_CONCAT, &dm3, 1, &x, "concat: dim -3 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_CONCAT, &d0, 1, &s, "concat: dim 0 is out of range for shape ()");

    const struct lt_permute_attrs p3 = {3, {0, 2, 1}}, p1 = {1, {0}}, p_big = {2, {0, 2}},
                                  p_neg = {2, {0, -3}}, p_twice = {2, {1, 1}},
                                  p_twice_neg = {2, {-1, 1}}, p_many = {LT_MAX_DIMS + 1, {0}};
    op_infer_fails(LT_OP_PERMUTE, &p3, 1, &x,
                   "permute: dims (0, 2, 1) do not fit shape (2, 3): want 2 dims, got 3");
    op_infer_fails(LT_OP_PERMUTE, &p1, 1, &x,
                   "permute: dims (0,) do not fit shape (2, 3): want 2 dims, got 1");
    op_infer_fails(LT_OP_PERMUTE, &p_big, 1, &x, "permute: dim 2 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_PERMUTE, &p_neg, 1, &x,
                   "permute: dim -3 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_PERMUTE, &p_twice, 1, &x,
                   "permute: dims (1, 1) are not a permutation of the dims of shape (2, 3): dim "
                   "1 is named twice");
    op_infer_fails(LT_OP_PERMUTE, &p_twice_neg, 1, &x,
                   "permute: dims (-1, 1) are not a permutation of the dims of shape (2, 3): "
                   "dim 1 is named twice");
    op_infer_fails(LT_OP_PERMUTE, &p_many, 1, &x, "permute: 9 dims given; allowed are 0 to 8");
    op_infer_fails(LT_OP_PERMUTE, &p1, 1, &s,
                   "permute: dims (0,) do not fit shape (): want 0 dims, got 1");

    const struct lt_narrow_attrs n_dim = {2, 0, 1}, n_start = {1, 4, 0}, n_neg = {1, -4, 1},
                                 n_long = {1, 1, 3}, n_negative_length = {0, 0, -1};
    op_infer_fails(LT_OP_NARROW, &n_dim, 1, &x, "narrow: dim 2 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_NARROW, &n_start, 1, &x,
                   "narrow: start 4 is out of range for dim 1 of shape (2, 3)");
    op_infer_fails(LT_OP_NARROW, &n_neg, 1, &x,
                   "narrow: start -4 is out of range for dim 1 of shape (2, 3)");
    op_infer_fails(LT_OP_NARROW, &n_long, 1, &x,
                   "narrow: length 3 from start 1 does not fit dim 1 of shape (2, 3) (size 3)");
    op_infer_fails(LT_OP_NARROW, &n_negative_length, 1, &x,
                   "narrow: length -1 from start 0 does not fit dim 0 of shape (2, 3) (size 2)");
    op_infer_fails(LT_OP_NARROW, &n_dim, 1, &s, "narrow: dim 2 is out of range for shape ()");
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reshape_values),
        cmocka_unit_test(transpose_values),
        cmocka_unit_test(concat_values),
        cmocka_unit_test(permute_values),
        cmocka_unit_test(narrow_values),
        cmocka_unit_test(copies_half_fast_match_reference),
        cmocka_unit_test(shape_errors),
    };
    int rc = cmocka_run_group_tests_name("shape", tests, NULL, NULL);
    op_fast_backend_release();
    return rc;
}
