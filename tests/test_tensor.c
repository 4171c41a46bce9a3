/* Tensors: creation, views, conversions, f16/bf16 rounding, seeded fills, eager ops. */
#include <math.h>
#include <string.h>

#include "core/lutra.h"
#include "kernels/half.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

SUITE_CONTEXT

static void views_share_storage(void **state) {
    (void)state;
    struct lt_tensor *t, *r, *s;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, 3}, &t), LT_OK);
    for (int i = 0; i < 12; i++)
        lt_tensor_set(t, i, i);
    assert_int_equal(lt_tensor_reshape(ctx, t, 2, (int64_t[]){-1, 6}, &r), LT_OK);
    assert_int_equal(lt_tensor_shape(r)[0], 2);
    assert_int_equal(lt_tensor_slice(ctx, t, 1, 2, &s), LT_OK);
    assert_int_equal(lt_tensor_shape(s)[0], 2);
    assert_true(lt_tensor_get(s, 0) == 3.0);
    lt_tensor_set(s, 0, 42);
    assert_true(lt_tensor_get(t, 3) == 42.0);
    assert_true(lt_tensor_get(r, 3) == 42.0);
    lt_tensor_free(t); /* views keep the storage alive */
    assert_true(lt_tensor_get(r, 11) == 11.0);
    lt_tensor_free(r);
    lt_tensor_free(s);
}

static void bad_shapes_fail_with_messages(void **state) {
    (void)state;
    struct lt_tensor *t, *v;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, -1}, &t), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "dim 1 is negative"));
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}, &t),
                     LT_EINVAL);
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){4, 3}, &t), LT_OK);
    assert_int_equal(lt_tensor_reshape(ctx, t, 1, (int64_t[]){5}, &v), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "12 elements"));
    assert_int_equal(lt_tensor_slice(ctx, t, 3, 2, &v), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "rows [3, 5) outside [0, 4)"));
    lt_tensor_free(t);
}

static void f16_rounds_to_nearest_even(void **state) {
    (void)state;
    assert_int_equal(lt_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(lt_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(lt_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(lt_f32_to_f16(65520.0f), 0x7c00); /* halfway to 65536 rounds up: inf */
    assert_int_equal(lt_f32_to_f16(65519.0f), 0x7bff);
    /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1) */
    assert_int_equal(lt_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    /* 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and 1 + 2^-9: up */
    assert_int_equal(lt_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    assert_int_equal(lt_f32_to_f16(0x1p-24f), 0x0001); /* smallest subnormal */
    assert_int_equal(lt_f32_to_f16(0x1p-25f), 0x0000); /* halfway to it: even (0) */
    assert_int_equal(lt_f32_to_f16(0x1.8p-25f), 0x0001);
    assert_int_equal(lt_f32_to_f16(INFINITY), 0x7c00);
    assert_true((lt_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (lt_f32_to_f16(NAN) & 0x3ff));
    for (uint32_t h = 0; h < 0x7c00; h++) /* every finite half survives the round trip */
        assert_int_equal(lt_f32_to_f16(lt_f16_to_f32((uint16_t)h)), h);
    assert_true(lt_f16_to_f32(0x0001) == 0x1p-24f);
    assert_true(isinf(lt_f16_to_f32(0xfc00)) && lt_f16_to_f32(0xfc00) < 0);
}

static void bf16_rounds_to_nearest_even(void **state) {
    (void)state;
    assert_int_equal(lt_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(lt_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);     /* tie: even */
    assert_int_equal(lt_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82); /* tie: up to even */
    assert_int_equal(lt_f32_to_bf16(1.0f + 0x1.8p-8f), 0x3f81);   /* above half: up */
    assert_int_equal(lt_f32_to_bf16(3.4e38f), 0x7f80);            /* rounds up to inf */
    assert_true((lt_f32_to_bf16(NAN) & 0x7f80) == 0x7f80 && (lt_f32_to_bf16(NAN) & 0x7f));
    assert_true(lt_bf16_to_f32(0x3f80) == 1.0f);
}

static void conversions_between_dtypes(void **state) {
    (void)state;
    struct lt_tensor *t, *h, *back, *i;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){3}, &t), LT_OK);
    lt_tensor_set(t, 0, 1.0 + 0x1p-11);
    lt_tensor_set(t, 1, -3.75);
    lt_tensor_set(t, 2, 7e4);
    assert_int_equal(lt_tensor_to(ctx, t, LT_DTYPE_F16, &h), LT_OK);
    assert_int_equal(lt_tensor_to(ctx, h, LT_DTYPE_F32, &back), LT_OK);
    assert_true(lt_tensor_get(back, 0) == 1.0);
    assert_true(lt_tensor_get(back, 1) == -3.75);
    assert_true(isinf(lt_tensor_get(back, 2)));
    assert_int_equal(lt_tensor_to(ctx, t, LT_DTYPE_I32, &i), LT_OK);
    assert_true(lt_tensor_get(i, 1) == -3.0);
    lt_tensor_free(t);
    lt_tensor_free(h);
    lt_tensor_free(back);
    lt_tensor_free(i);
}

static void fills_depend_on_seed_and_stream_only(void **state) {
    (void)state;
    struct lt_tensor *a, *b;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){20000}, &a), LT_OK);
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){20000}, &b), LT_OK);
    lt_ctx_set_seed(ctx, 5);
    lt_tensor_normal(ctx, a, 1, 0, 1);
    lt_tensor_normal(ctx, b, 1, 0, 1);
    assert_memory_equal(lt_tensor_data(a), lt_tensor_data(b), lt_tensor_bytes(a));
    double mean = 0, var = 0;
    for (int i = 0; i < 20000; i++)
        mean += lt_tensor_get(a, i) / 20000;
    for (int i = 0; i < 20000; i++)
        var += pow(lt_tensor_get(a, i) - mean, 2) / 20000;
    assert_true(fabs(mean) < 0.05 && fabs(var - 1) < 0.05);
    lt_tensor_normal(ctx, b, 2, 0, 1);
    assert_true(memcmp(lt_tensor_data(a), lt_tensor_data(b), lt_tensor_bytes(a)) != 0);
    lt_tensor_uniform(ctx, a, 3, -2, 2);
    for (int i = 0; i < 20000; i++)
        assert_true(lt_tensor_get(a, i) >= -2 && lt_tensor_get(a, i) < 2);
    struct lt_tensor *ints;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){2}, &ints), LT_OK);
    assert_int_equal(lt_tensor_uniform(ctx, ints, 1, 0, 1), LT_EINVAL);
    lt_tensor_free(ints);
    lt_tensor_free(a);
    lt_tensor_free(b);
}

static void eager_op_runs_a_kernel(void **state) {
    (void)state;
    struct lt_tensor *x, *w, *y;
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){1, 2}, &x), LT_OK);
    assert_int_equal(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){3, 2}, &w), LT_OK);
    lt_tensor_set(x, 0, 1);
    lt_tensor_set(x, 1, 2);
    for (int i = 0; i < 6; i++)
        lt_tensor_set(w, i, i);
    assert_int_equal(lt_tensor_op(ctx, LT_OP_LINEAR, 2, (struct lt_tensor *[]){x, w}, NULL, &y),
                     LT_OK);
    assert_int_equal(lt_tensor_ndim(y), 2);
    assert_int_equal(lt_tensor_shape(y)[1], 3);
    assert_true(lt_tensor_get(y, 0) == 2 && lt_tensor_get(y, 1) == 8 && lt_tensor_get(y, 2) == 14);
    lt_tensor_free(y);
    /* a shape error reaches the caller as a message, not a crash */
    assert_int_equal(lt_tensor_op(ctx, LT_OP_MATMUL, 2, (struct lt_tensor *[]){w, w}, NULL, &y),
                     LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "matmul: (3, 2) @ (3, 2): inner dims 2 and 3 differ"));
    lt_tensor_free(x);
    lt_tensor_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(views_share_storage),
        cmocka_unit_test(bad_shapes_fail_with_messages),
        cmocka_unit_test(f16_rounds_to_nearest_even),
        cmocka_unit_test(bf16_rounds_to_nearest_even),
        cmocka_unit_test(conversions_between_dtypes),
        cmocka_unit_test(fills_depend_on_seed_and_stream_only),
        cmocka_unit_test(eager_op_runs_a_kernel),
    };
    return cmocka_run_group_tests_name("tensor", tests, setup, teardown);
}
