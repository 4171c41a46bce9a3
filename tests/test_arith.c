/* add, sub, mul, scale and cast: hand-computed values, broadcast gradients, rounding of
 * casts to f16 and bf16, shape errors, the case table. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "kernels/half.h"
#include "tests/op_check.h"

/* a (2, 3) op b (3,), then the gradients of sum(g * out) with g = 1..6. */
static void check_binary(enum lt_op op, const float *want_y, const float *want_ga,
                         const float *want_gb) {
    struct lt_kview in[2] = {
        kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6}),
        kv_f32(1, (int64_t[]){3}, (float[]){10, 20, 30}),
    };
    struct lt_kview out[1];
    op_forward(op, NULL, 2, in, out);
    assert_int_equal(out[0].ndim, 2);
    assert_int_equal(out[0].shape[0], 2);
    assert_int_equal(out[0].shape[1], 3);
    assert_floats_near(out[0].data, want_y, 6, 0);

    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 2, 3, 4, 5, 6});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape),
                              kv_new(LT_DTYPE_F32, 1, in[1].shape)};
    op_backward(op, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, want_ga, 6, 0);
    assert_floats_near(gin[1].data, want_gb, 3, 0);

    /* only b's gradient asked for: a's stays unwritten */
    kv_free(&gin[0]);
    kv_free(&gin[1]);
    gin[1] = kv_new(LT_DTYPE_F32, 1, in[1].shape);
    op_backward(op, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[1].data, want_gb, 3, 0);
    kv_free(&gin[1]);
    for (int i = 0; i < 2; i++)
        kv_free(&in[i]);
    kv_free(&out[0]);
    kv_free(&gout);
}

static void binary_values(void **state) {
    (void)state;
    check_binary(LT_OP_ADD, (float[]){11, 22, 33, 14, 25, 36}, (float[]){1, 2, 3, 4, 5, 6},
                 (float[]){5, 7, 9});
    check_binary(LT_OP_SUB, (float[]){-9, -18, -27, -6, -15, -24}, (float[]){1, 2, 3, 4, 5, 6},
                 (float[]){-5, -7, -9});
    /* mul: ga = g * b, gb = sum over rows of g * a */
    check_binary(LT_OP_MUL, (float[]){10, 40, 90, 40, 100, 180},
                 (float[]){10, 40, 90, 40, 100, 180}, (float[]){17, 29, 45});
}

/* A 0-dim b is a suffix of every shape: it broadcasts to all of a. */
static void scalar_operand(void **state) {
    (void)state;
    struct lt_kview in[2] = {
        kv_f32(2, (int64_t[]){2, 2}, (float[]){1, -2, 3, 0.5f}),
        kv_f32(0, NULL, (float[]){-3}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_MUL, NULL, 2, in, out);
    assert_floats_near(out[0].data, (float[]){-3, 6, -9, -1.5f}, 4, 0);
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 1, 2, 2});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), kv_new(LT_DTYPE_F32, 0, NULL)};
    op_backward(LT_OP_MUL, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){-3, -3, -6, -6}, 4, 0);
    assert_floats_near(gin[1].data, (float[]){1 - 2 + 6 + 1}, 1, 0);
    for (int i = 0; i < 2; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);
}

/* Half arithmetic rounds the exact result once, to nearest even. */
static void half_arith(void **state) {
    (void)state;
    /* f16 near 2048 has a spacing of 2: 2048 + 1 ties down to 2048 (even), 2048 + 3 ties
     * up to 2052; 1 + 0.5 is exact. */
    struct lt_kview in[2] = {kv_half(LT_DTYPE_F16, 3, (uint16_t[]){0x6800, 0x6800, 0x3c00}),
                             kv_half(LT_DTYPE_F16, 3, (uint16_t[]){0x3c00, 0x4200, 0x3800})};
    struct lt_kview out[1];
    op_forward(LT_OP_ADD, NULL, 2, in, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_F16);
    assert_memory_equal(out[0].data, ((uint16_t[]){0x6800, 0x6802, 0x3e00}), 6);
    kv_free(&out[0]);
    for (int i = 0; i < 2; i++)
        kv_free(&in[i]);

    /* bf16: 3 * (1 + 2^-7) = 3.0234375 ties between 3.015625 (odd) and 3.03125 (even) */
    in[0] = kv_half(LT_DTYPE_BF16, 1, (uint16_t[]){0x4040});
    in[1] = kv_half(LT_DTYPE_BF16, 1, (uint16_t[]){0x3f81});
    op_forward(LT_OP_MUL, NULL, 2, in, out);
    assert_int_equal(((uint16_t *)out[0].data)[0], 0x4042);
    /* the reference kernel takes f32 gradients (a plan converts around it) and reads the
     * bf16 inputs */
    struct lt_kview gout = kv_f32(1, in[0].shape, (float[]){2});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 1, in[0].shape),
                              kv_new(LT_DTYPE_F32, 1, in[1].shape)};
    op_backward(LT_OP_MUL, NULL, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){2 * 1.0078125f}, 1, 0);
    assert_floats_near(gin[1].data, (float[]){6}, 1, 0);
    for (int i = 0; i < 2; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&gout);
}

static void scale_values(void **state) {
    (void)state;
    const struct lt_scale_attrs at = {-1.5f};
    struct lt_kview x = kv_f32(1, (int64_t[]){3}, (float[]){1, 2, -4}), out[1];
    op_forward(LT_OP_SCALE, &at, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){-1.5f, -3, 6}, 3, 0);
    struct lt_kview gout = kv_f32(1, x.shape, (float[]){1, 1, 2});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 1, x.shape);
    op_backward(LT_OP_SCALE, &at, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){-1.5f, -1.5f, -3}, 3, 0);
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
}

/* Casts x to `to` and returns the output (free it with kv_free). */
static struct lt_kview cast(const struct lt_kview *x, enum lt_dtype to) {
    const struct lt_cast_attrs at = {to};
    struct lt_kview out[1];
    op_forward(LT_OP_CAST, &at, 1, x, out);
    assert_int_equal(out[0].dtype, to);
    assert_int_equal(out[0].ndim, x->ndim);
    assert_memory_equal(out[0].shape, x->shape, (size_t)x->ndim * sizeof(int64_t));
    return out[0];
}

static void cast_to_f16(void **state) {
    (void)state;
    const float v[] = {
        1.0f,
        1.0f + 0x1p-11f,     /* tie: down to 1, the even one */
        1.0f + 3 * 0x1p-11f, /* tie: up to 1 + 2^-9, the even one */
        65504.0f,            /* largest f16 */
        65519.0f,            /* just below the tie with 65536: stays finite */
        65520.0f,            /* tie: rounds to even, which is 2^16 = inf */
        -1e6f,
        INFINITY,
        0x1p-14f,     /* smallest normal */
        0x1p-24f,     /* smallest subnormal */
        0x1p-25f,     /* tie between 0 and 2^-24: 0 */
        3 * 0x1p-25f, /* tie between 2^-24 and 2^-23: 2^-23 */
        1e-8f,        /* under half the smallest subnormal: 0 */
        -0.0f,
        -2.5f,
    };
    const uint16_t want[] = {0x3c00, 0x3c00, 0x3c02, 0x7bff, 0x7bff, 0x7c00, 0xfc00, 0x7c00,
                             0x0400, 0x0001, 0x0000, 0x0002, 0x0000, 0x8000, 0xc100};
    int n = (int)(sizeof v / sizeof v[0]);
    struct lt_kview x = kv_f32(1, (int64_t[]){n}, v);
    struct lt_kview y = cast(&x, LT_DTYPE_F16);
    const uint16_t *h = y.data;
    for (int i = 0; i < n; i++)
        if (h[i] != want[i])
            fail_msg("f16 of %a: got 0x%04x, want 0x%04x", (double)v[i], h[i], want[i]);
    kv_free(&x);
    kv_free(&y);

    x = kv_f32(1, (int64_t[]){1}, (float[]){NAN});
    y = cast(&x, LT_DTYPE_F16);
    uint16_t nan16 = ((uint16_t *)y.data)[0];
    assert_true((nan16 & 0x7c00) == 0x7c00 && (nan16 & 0x03ff) != 0);
    kv_free(&x);
    kv_free(&y);
}

static void cast_to_bf16(void **state) {
    (void)state;
    const float v[] = {
        1.0f,
        1.0f + 0x1p-8f,            /* tie: down to 1 */
        1.0f + 3 * 0x1p-8f,        /* tie: up to 1 + 2^-6 */
        1.0f + 0x1p-8f + 0x1p-20f, /* just above the tie: up */
        0x1.fep127f,               /* largest bf16 */
        0x1.fffffep127f,           /* largest f32: overflows to inf */
        1e-40f,                    /* an f32 subnormal: bf16 keeps subnormals */
        -2.5f,
        -INFINITY,
    };
    const uint16_t want[] = {0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x7f7f,
                             0x7f80, 0x0001, 0xc020, 0xff80};
    int n = (int)(sizeof v / sizeof v[0]);
    struct lt_kview x = kv_f32(1, (int64_t[]){n}, v);
    struct lt_kview y = cast(&x, LT_DTYPE_BF16);
    const uint16_t *h = y.data;
    for (int i = 0; i < n; i++)
        if (h[i] != want[i])
            fail_msg("bf16 of %a: got 0x%04x, want 0x%04x", (double)v[i], h[i], want[i]);
    kv_free(&x);
    kv_free(&y);

    x = kv_f32(1, (int64_t[]){1}, (float[]){-NAN});
    y = cast(&x, LT_DTYPE_BF16);
    uint16_t nan16 = ((uint16_t *)y.data)[0];
    assert_true((nan16 & 0x7f80) == 0x7f80 && (nan16 & 0x007f) != 0);
    kv_free(&x);
    kv_free(&y);
}

/* From the half types and the integers: widening is exact, half to half rounds once. */
static void cast_from_others(void **state) {
    (void)state;
    struct lt_kview x = kv_half(LT_DTYPE_F16, 4, (uint16_t[]){0x0001, 0x7bff, 0xfc00, 0x3555});
    struct lt_kview y = cast(&x, LT_DTYPE_F32);
    assert_memory_equal(y.data, ((float[]){0x1p-24f, 65504, -INFINITY, 0x1.554p-2f}),
                        4 * sizeof(float));
    kv_free(&x);
    kv_free(&y);

    /* f16 -> bf16: 1 + 2^-10 rounds to 1; 1 + 2^-8 ties to 1; 1 + 3 * 2^-8 ties up */
    x = kv_half(LT_DTYPE_F16, 3, (uint16_t[]){0x3c01, 0x3c04, 0x3c0c});
    y = cast(&x, LT_DTYPE_BF16);
    assert_memory_equal(y.data, ((uint16_t[]){0x3f80, 0x3f80, 0x3f82}), 6);
    kv_free(&x);
    kv_free(&y);

    /* bf16 -> f16: 1 + 2^-7 is exact; 65536 overflows; 2^-24 becomes a subnormal */
    x = kv_half(LT_DTYPE_BF16, 3, (uint16_t[]){0x3f81, 0x4780, 0x3380});
    y = cast(&x, LT_DTYPE_F16);
    assert_memory_equal(y.data, ((uint16_t[]){0x3c08, 0x7c00, 0x0001}), 6);
    kv_free(&x);
    kv_free(&y);

    /* i32 -> f32 rounds to nearest even above 2^24 */
    x = kv_i32(1, (int64_t[]){4}, (int32_t[]){16777217, 16777219, -3, INT32_MIN});
    y = cast(&x, LT_DTYPE_F32);
    assert_floats_near(y.data, (float[]){16777216.0f, 16777220.0f, -3, -2147483648.0f}, 4, 0);
    kv_free(&x);
    kv_free(&y);

    x = kv_new(LT_DTYPE_U8, 1, (int64_t[]){3});
    memcpy(x.data, (uint8_t[]){0, 1, 255}, 3);
    y = cast(&x, LT_DTYPE_F32);
    assert_floats_near(y.data, (float[]){0, 1, 255}, 3, 0);
    kv_free(&x);
    kv_free(&y);
}

/* The gradient of a cast is f32 on both sides: it passes through unrounded. */
static void cast_backward(void **state) {
    (void)state;
    const struct lt_cast_attrs at = {LT_DTYPE_F32};
    struct lt_kview x = kv_half(LT_DTYPE_F16, 3, (uint16_t[]){0x3c00, 0x4000, 0x4200}), out[1];
    op_forward(LT_OP_CAST, &at, 1, &x, out);
    struct lt_kview gout = kv_f32(1, x.shape, (float[]){1.0f + 0x1p-20f, -2, 1e-9f});
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 1, x.shape);
    op_backward(LT_OP_CAST, &at, 1, &x, out, &gout, &gin);
    assert_memory_equal(gin.data, gout.data, 3 * sizeof(float));
    kv_free(&x);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin);
    /* integer inputs have a forward but never a gradient */
    const struct lt_kernel *k = &op_ref_backend()->kernels[LT_OP_CAST][LT_DTYPE_I32];
    assert_non_null(k->forward);
    assert_null(k->backward);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview a = {NULL, LT_DTYPE_F32, 2, {4, 5}};
    struct lt_kview b = {NULL, LT_DTYPE_F32, 1, {3}};
    op_infer_fails(LT_OP_ADD, NULL, 2, (struct lt_kview[]){a, b},
                   "add: shapes (4, 5) and (3,) do not broadcast: the second must equal the "
                   "first or a suffix of it");
    /* a prefix is not a suffix */
    b.shape[0] = 4;
    op_infer_fails(LT_OP_SUB, NULL, 2, (struct lt_kview[]){a, b}, "sub: shapes (4, 5) and (4,)");
    /* b may not have more dims than a */
    struct lt_kview big = {NULL, LT_DTYPE_F32, 3, {2, 4, 5}};
    op_infer_fails(LT_OP_MUL, NULL, 2, (struct lt_kview[]){a, big},
                   "mul: shapes (4, 5) and (2, 4, 5) do not broadcast");
    struct lt_kview h = {NULL, LT_DTYPE_F16, 2, {4, 5}};
    op_infer_fails(LT_OP_MUL, NULL, 2, (struct lt_kview[]){a, h},
                   "mul: inputs must have one dtype, got f32 and f16");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {4, 5}};
    op_infer_fails(LT_OP_ADD, NULL, 2, (struct lt_kview[]){ids, ids},
                   "add: input 1 must be a float tensor, got i32");
    const struct lt_scale_attrs two = {2};
    op_infer_fails(LT_OP_SCALE, &two, 1, &ids, "scale: input 1 must be a float tensor, got i32");

    const struct lt_cast_attrs to_i32 = {LT_DTYPE_I32}, to_f16 = {LT_DTYPE_F16};
    const struct lt_cast_attrs bogus = {(enum lt_dtype)99};
    op_infer_fails(LT_OP_CAST, &to_i32, 1, &a, "cast: cannot cast f32 to i32");
    struct lt_kview mask = {NULL, LT_DTYPE_U8, 1, {7}};
    op_infer_fails(LT_OP_CAST, &to_f16, 1, &mask, "cast: cannot cast u8 to f16");
    op_infer_fails(LT_OP_CAST, &bogus, 1, &a, "cast: unknown target dtype 99");
}

/* What does infer: suffixes of every length, and casts that are allowed. */
static void shapes_inferred(void **state) {
    (void)state;
    struct lt_kview a = {NULL, LT_DTYPE_BF16, 3, {2, 4, 5}}, out[1];
    char msg[LT_KMSG_SIZE] = "";
    for (int nb = 0; nb <= 3; nb++) {
        struct lt_kview b = {NULL, LT_DTYPE_BF16, nb, {0}};
        for (int i = 0; i < nb; i++)
            b.shape[i] = a.shape[3 - nb + i];
        assert_int_equal(lt_op_descs[LT_OP_ADD].infer(NULL, 2, (struct lt_kview[]){a, b}, out, msg),
                         LT_OK);
        assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
        assert_int_equal(out[0].ndim, 3);
        assert_memory_equal(out[0].shape, a.shape, 3 * sizeof(int64_t));
    }
    const struct lt_cast_attrs to_f32 = {LT_DTYPE_F32};
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 1, {9}};
    assert_int_equal(lt_op_descs[LT_OP_CAST].infer(&to_f32, 1, &ids, out, msg), LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_F32);
    assert_int_equal(out[0].shape[0], 9);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binary_values),    cmocka_unit_test(scalar_operand),
        cmocka_unit_test(half_arith),       cmocka_unit_test(scale_values),
        cmocka_unit_test(cast_to_f16),      cmocka_unit_test(cast_to_bf16),
        cmocka_unit_test(cast_from_others), cmocka_unit_test(cast_backward),
        cmocka_unit_test(shape_errors),     cmocka_unit_test(shapes_inferred),
    };
    return cmocka_run_group_tests_name("arith", tests, NULL, NULL);
}
