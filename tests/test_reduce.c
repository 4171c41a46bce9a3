/* sum, mean, max, argmax, eq, topk and multinomial: hand-computed values, result dtypes
 * and shapes, NaN and empty reductions, draws that follow the seed, bad rows, shape
 * errors, the case table (forward only: none has a backward). */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "kernels/half.h"
#include "tests/op_check.h"

/* (2, 3): rows {1, 5, 2} and {7, -1, 3} */
static const float x23[] = {1, 5, 2, 7, -1, 3};

/* Runs op on x (freed by the caller) and checks the output's dtype and shape; returns
 * the output (free it with kv_free). */
static struct lt_kview reduce(enum lt_op op, const struct lt_reduce_attrs *at,
                              const struct lt_kview *x, enum lt_dtype want_dt, int want_ndim,
                              const int64_t *want_shape) {
    struct lt_kview out[1];
    op_forward(op, at, 1, x, out);
    assert_int_equal(out[0].dtype, want_dt);
    assert_int_equal(out[0].ndim, want_ndim);
    if (want_ndim)
        assert_memory_equal(out[0].shape, want_shape, (size_t)want_ndim * sizeof(int64_t));
    return out[0];
}

static void sum_mean_values(void **state) {
    (void)state;
    const struct lt_reduce_attrs all = {1, 0, 0}, all_keep = {1, 0, 1}, dim0 = {0, 0, 0};
    const struct lt_reduce_attrs dim1 = {0, 1, 0}, last_keep = {0, -1, 1};
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 3}, x23);
    struct lt_kview y = reduce(LT_OP_SUM, &all, &x, LT_DTYPE_F32, 0, NULL);
    assert_floats_near(y.data, (float[]){17}, 1, 0);
    kv_free(&y);
    y = reduce(LT_OP_SUM, &all_keep, &x, LT_DTYPE_F32, 2, (int64_t[]){1, 1});
    assert_floats_near(y.data, (float[]){17}, 1, 0);
    kv_free(&y);
    y = reduce(LT_OP_SUM, &dim0, &x, LT_DTYPE_F32, 1, (int64_t[]){3});
    assert_floats_near(y.data, (float[]){8, 4, 5}, 3, 0);
    kv_free(&y);
    y = reduce(LT_OP_SUM, &dim1, &x, LT_DTYPE_F32, 1, (int64_t[]){2});
    assert_floats_near(y.data, (float[]){8, 9}, 2, 0);
    kv_free(&y);
    y = reduce(LT_OP_SUM, &last_keep, &x, LT_DTYPE_F32, 2, (int64_t[]){2, 1});
    assert_floats_near(y.data, (float[]){8, 9}, 2, 0);
    kv_free(&y);
    y = reduce(LT_OP_MEAN, &dim0, &x, LT_DTYPE_F32, 1, (int64_t[]){3});
    assert_floats_near(y.data, (float[]){4, 2, 2.5f}, 3, 0);
    kv_free(&y);
    y = reduce(LT_OP_MEAN, &all, &x, LT_DTYPE_F32, 0, NULL);
    assert_floats_near(y.data, (float[]){17.0f / 6}, 1, 1e-7);
    kv_free(&y);
    kv_free(&x);

    /* the middle dim of (2, 3, 2) */
    x = kv_f32(3, (int64_t[]){2, 3, 2}, (float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    y = reduce(LT_OP_SUM, &dim1, &x, LT_DTYPE_F32, 2, (int64_t[]){2, 2});
    assert_floats_near(y.data, (float[]){9, 12, 27, 30}, 4, 0);
    kv_free(&y);
    kv_free(&x);

    /* the sum is kept in double: 1 + 2^-30 * 2^20 would vanish in f32 one by one */
    int64_t n = 1 << 20;
    x = kv_new(LT_DTYPE_F32, 1, &n);
    float *p = x.data;
    p[0] = 1;
    for (int64_t i = 1; i < n; i++)
        p[i] = 0x1p-30f;
    y = reduce(LT_OP_SUM, &all, &x, LT_DTYPE_F32, 0, NULL);
    assert_floats_near(y.data, (float[]){1 + 0x1p-10f}, 1, 1e-7);
    kv_free(&y);
    kv_free(&x);
}

static void integer_values(void **state) {
    (void)state;
    const struct lt_reduce_attrs all = {1, 0, 0}, dim1 = {0, 1, 0};
    struct lt_kview x = kv_i32(2, (int64_t[]){2, 3}, (int32_t[]){1, 2, 3, 4, -5, 60});
    struct lt_kview y = reduce(LT_OP_SUM, &dim1, &x, LT_DTYPE_I32, 1, (int64_t[]){2});
    assert_memory_equal(y.data, ((int32_t[]){6, 59}), 2 * sizeof(int32_t));
    kv_free(&y);
    y = reduce(LT_OP_MEAN, &dim1, &x, LT_DTYPE_F32, 1, (int64_t[]){2});
    assert_floats_near(y.data, (float[]){2, 59.0f / 3}, 2, 1e-7);
    kv_free(&y);
    y = reduce(LT_OP_MAX, &dim1, &x, LT_DTYPE_I32, 1, (int64_t[]){2});
    assert_memory_equal(y.data, ((int32_t[]){3, 60}), 2 * sizeof(int32_t));
    kv_free(&y);
    y = reduce(LT_OP_ARGMAX, &all, &x, LT_DTYPE_I32, 0, NULL);
    assert_int_equal(((int32_t *)y.data)[0], 5);
    kv_free(&y);
    kv_free(&x);

    /* u8 sums widen to i32: 200 + 100 + 255 does not fit a byte */
    x = kv_new(LT_DTYPE_U8, 1, (int64_t[]){3});
    memcpy(x.data, (uint8_t[]){200, 100, 255}, 3);
    y = reduce(LT_OP_SUM, &all, &x, LT_DTYPE_I32, 0, NULL);
    assert_int_equal(((int32_t *)y.data)[0], 555);
    kv_free(&y);
    y = reduce(LT_OP_MAX, &all, &x, LT_DTYPE_U8, 0, NULL);
    assert_int_equal(((uint8_t *)y.data)[0], 255);
    kv_free(&y);
    kv_free(&x);
}

static void max_argmax_values(void **state) {
    (void)state;
    const struct lt_reduce_attrs all = {1, 0, 0}, dim0 = {0, 0, 0}, dim1_keep = {0, 1, 1};
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 3}, x23);
    struct lt_kview y = reduce(LT_OP_MAX, &dim1_keep, &x, LT_DTYPE_F32, 2, (int64_t[]){2, 1});
    assert_floats_near(y.data, (float[]){5, 7}, 2, 0);
    kv_free(&y);
    y = reduce(LT_OP_MAX, &dim0, &x, LT_DTYPE_F32, 1, (int64_t[]){3});
    assert_floats_near(y.data, (float[]){7, 5, 3}, 3, 0);
    kv_free(&y);
    y = reduce(LT_OP_ARGMAX, &dim1_keep, &x, LT_DTYPE_I32, 2, (int64_t[]){2, 1});
    assert_memory_equal(y.data, ((int32_t[]){1, 0}), 2 * sizeof(int32_t));
    kv_free(&y);
    y = reduce(LT_OP_ARGMAX, &dim0, &x, LT_DTYPE_I32, 1, (int64_t[]){3});
    assert_memory_equal(y.data, ((int32_t[]){1, 0, 1}), 3 * sizeof(int32_t));
    kv_free(&y);
    y = reduce(LT_OP_ARGMAX, &all, &x, LT_DTYPE_I32, 0, NULL);
    assert_int_equal(((int32_t *)y.data)[0], 3);
    kv_free(&y);
    kv_free(&x);

    /* ties go to the first; a NaN wins, the first NaN if several, as in PyTorch */
    x = kv_f32(2, (int64_t[]){3, 4},
               (float[]){2, 5, 5, 1, -1, NAN, 3, NAN, -INFINITY, -INFINITY, -INFINITY, -9});
    const struct lt_reduce_attrs last = {0, -1, 0};
    y = reduce(LT_OP_ARGMAX, &last, &x, LT_DTYPE_I32, 1, (int64_t[]){3});
    assert_memory_equal(y.data, ((int32_t[]){1, 1, 3}), 3 * sizeof(int32_t));
    kv_free(&y);
    y = reduce(LT_OP_MAX, &last, &x, LT_DTYPE_F32, 1, (int64_t[]){3});
    const float *m = y.data;
    assert_true(m[0] == 5 && isnan(m[1]) && m[2] == -9);
    kv_free(&y);
    kv_free(&x);

    /* f16 keeps its dtype and its bits: max of 0.5, 65504, -inf */
    x = kv_half(LT_DTYPE_F16, 3, (uint16_t[]){0x3800, 0x7bff, 0xfc00});
    y = reduce(LT_OP_MAX, &all, &x, LT_DTYPE_F16, 0, NULL);
    assert_int_equal(((uint16_t *)y.data)[0], 0x7bff);
    kv_free(&y);
    y = reduce(LT_OP_SUM, &all, &x, LT_DTYPE_F32, 0, NULL);
    assert_true(isinf(((float *)y.data)[0]) && ((float *)y.data)[0] < 0);
    kv_free(&y);
    kv_free(&x);
}

/* Reducing over a dim of size 0: sum gives 0 and mean NaN, as in PyTorch. */
static void empty_values(void **state) {
    (void)state;
    const struct lt_reduce_attrs dim1 = {0, 1, 0};
    struct lt_kview x = kv_new(LT_DTYPE_F32, 2, (int64_t[]){2, 0});
    struct lt_kview y = reduce(LT_OP_SUM, &dim1, &x, LT_DTYPE_F32, 1, (int64_t[]){2});
    assert_floats_near(y.data, (float[]){0, 0}, 2, 0);
    kv_free(&y);
    y = reduce(LT_OP_MEAN, &dim1, &x, LT_DTYPE_F32, 1, (int64_t[]){2});
    assert_true(isnan(((float *)y.data)[0]) && isnan(((float *)y.data)[1]));
    kv_free(&y);
    kv_free(&x);
}

static void eq_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {
        kv_f32(2, (int64_t[]){2, 3}, (float[]){1, 2, NAN, 1, 5, -0.0f}),
        kv_f32(1, (int64_t[]){3}, (float[]){1, 5, NAN}),
    };
    struct lt_kview out[1];
    op_forward(LT_OP_EQ, NULL, 2, in, out);
    assert_int_equal(out[0].dtype, LT_DTYPE_U8);
    assert_int_equal(out[0].ndim, 2);
    assert_memory_equal(out[0].data, ((uint8_t[]){1, 0, 0, 1, 1, 0}), 6);
    kv_free(&out[0]);
    kv_free(&in[1]);
    /* -0 equals 0; a 0-dim b broadcasts to all of a */
    in[1] = kv_f32(0, NULL, (float[]){0});
    op_forward(LT_OP_EQ, NULL, 2, in, out);
    assert_memory_equal(out[0].data, ((uint8_t[]){0, 0, 0, 0, 0, 1}), 6);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);

    /* i32 predictions against i32 labels, as an accuracy count does */
    in[0] = kv_i32(1, (int64_t[]){4}, (int32_t[]){3, 1, 4, 1});
    in[1] = kv_i32(1, (int64_t[]){4}, (int32_t[]){3, 2, 4, 7});
    op_forward(LT_OP_EQ, NULL, 2, in, out);
    assert_memory_equal(out[0].data, ((uint8_t[]){1, 0, 1, 0}), 4);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview x = {NULL, LT_DTYPE_F32, 2, {2, 3}};
    const struct lt_reduce_attrs dim2 = {0, 2, 0}, dimm3 = {0, -3, 1}, dim1 = {0, 1, 0};
    const struct lt_reduce_attrs all = {1, 0, 0};
    op_infer_fails(LT_OP_SUM, &dim2, 1, &x, "sum: dim 2 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_MEAN, &dimm3, 1, &x, "mean: dim -3 is out of range for shape (2, 3)");
    struct lt_kview s = {NULL, LT_DTYPE_F32, 0, {0}};
    const struct lt_reduce_attrs dim0 = {0, 0, 0};
    op_infer_fails(LT_OP_ARGMAX, &dim0, 1, &s, "argmax: dim 0 is out of range for shape ()");
    struct lt_kview e = {NULL, LT_DTYPE_F32, 2, {2, 0}};
    op_infer_fails(LT_OP_MAX, &dim1, 1, &e, "max: dim 1 of shape (2, 0) has no elements to reduce");
    op_infer_fails(LT_OP_ARGMAX, &all, 1, &e, "argmax: shape (2, 0) has no elements to reduce");

    struct lt_kview b = {NULL, LT_DTYPE_F32, 1, {2}};
    op_infer_fails(LT_OP_EQ, NULL, 2, (struct lt_kview[]){x, b},
                   "eq: shapes (2, 3) and (2,) do not broadcast: the second must equal the first "
                   "or a suffix of it");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {2, 3}};
    op_infer_fails(LT_OP_EQ, NULL, 2, (struct lt_kview[]){x, ids},
                   "eq: inputs must have one dtype, got f32 and i32");
}

/* Result dtypes (kernels/kernels.h) and that a max over a non-empty dim of an otherwise
 * empty tensor is fine. */
static void dtypes_inferred(void **state) {
    (void)state;
    const struct lt_reduce_attrs all = {1, 0, 0}, dim0 = {0, 0, 0};
    const struct {
        enum lt_op op;
        enum lt_dtype in, want;
    } rows[] = {
        {LT_OP_SUM, LT_DTYPE_F32, LT_DTYPE_F32},    {LT_OP_SUM, LT_DTYPE_BF16, LT_DTYPE_F32},
        {LT_OP_SUM, LT_DTYPE_I32, LT_DTYPE_I32},    {LT_OP_SUM, LT_DTYPE_U8, LT_DTYPE_I32},
        {LT_OP_MEAN, LT_DTYPE_F16, LT_DTYPE_F32},   {LT_OP_MEAN, LT_DTYPE_U8, LT_DTYPE_F32},
        {LT_OP_MAX, LT_DTYPE_I32, LT_DTYPE_I32},    {LT_OP_MAX, LT_DTYPE_BF16, LT_DTYPE_BF16},
        {LT_OP_ARGMAX, LT_DTYPE_F32, LT_DTYPE_I32}, {LT_OP_ARGMAX, LT_DTYPE_U8, LT_DTYPE_I32},
    };
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kview out[1];
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct lt_kview x = {NULL, rows[i].in, 2, {4, 5}};
        assert_int_equal(lt_op_descs[rows[i].op].infer(&all, 1, &x, out, msg), LT_OK);
        assert_int_equal(out[0].dtype, rows[i].want);
        assert_non_null(op_ref_backend()->kernels[rows[i].op][rows[i].in].forward);
    }
    struct lt_kview e = {NULL, LT_DTYPE_F32, 2, {3, 0}};
    assert_int_equal(lt_op_descs[LT_OP_MAX].infer(&dim0, 1, &e, out, msg), LT_OK);
    assert_int_equal(out[0].ndim, 1);
    assert_int_equal(out[0].shape[0], 0);
}


/* topk: largest first, equal values in their order, NaN above everything; i32 rows. */
static void topk_values(void **state) {
    (void)state;
    struct lt_kview x = kv_f32(2, (int64_t[]){2, 4}, (float[]){1, 3, 2, 3, NAN, 0, 5, -1});
    struct lt_kview out[2];
    const struct lt_topk_attrs two = {2}, none = {0};
    op_forward(LT_OP_TOPK, &two, 1, &x, out);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 2}), 2 * sizeof(int64_t));
    const float *v = out[0].data;
    assert_true(v[0] == 3 && v[1] == 3 && isnan(v[2]) && v[3] == 5);
    assert_memory_equal(out[1].data, ((int32_t[]){1, 3, 0, 2}), 4 * sizeof(int32_t));
    kv_free(&out[0]);
    kv_free(&out[1]);
    op_forward(LT_OP_TOPK, &none, 1, &x, out);
    assert_int_equal(out[0].shape[1], 0);
    kv_free(&out[0]);
    kv_free(&out[1]);
    kv_free(&x);

    struct lt_kview ids = kv_i32(1, (int64_t[]){5}, (int32_t[]){4, -2, 9, 4, 0});
    const struct lt_topk_attrs all = {5};
    op_forward(LT_OP_TOPK, &all, 1, &ids, out);
    assert_memory_equal(out[0].data, ((int32_t[]){9, 4, 4, 0, -2}), 5 * sizeof(int32_t));
    assert_memory_equal(out[1].data, ((int32_t[]){2, 0, 3, 4, 1}), 5 * sizeof(int32_t));
    kv_free(&out[0]);
    kv_free(&out[1]);
    kv_free(&ids);
}

/* multinomial: a row with one nonzero value always draws it; a seed and step give the
 * same draws again, another step others; 4000 draws from (1, 3) land near 3/4. */
static void multinomial_values(void **state) {
    (void)state;
    struct lt_kview p = kv_f32(2, (int64_t[]){2, 3}, (float[]){0, 1, 0, 0, 0, 2}), out[1];
    const struct lt_multinomial_attrs s1 = {42, 0};
    op_forward(LT_OP_MULTINOMIAL, &s1, 1, &p, out);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 1}), 2 * sizeof(int64_t));
    assert_memory_equal(out[0].data, ((int32_t[]){1, 2}), 2 * sizeof(int32_t));
    kv_free(&out[0]);
    kv_free(&p);

    enum { ROWS = 4000 };
    static float two[2 * ROWS];
    for (int r = 0; r < ROWS; r++) {
        two[2 * r] = 1;
        two[2 * r + 1] = 3;
    }
    p = kv_f32(2, (int64_t[]){ROWS, 2}, two);
    struct lt_kview again[1], later[1];
    const struct lt_multinomial_attrs s1_step1 = {42, 1};
    op_forward(LT_OP_MULTINOMIAL, &s1, 1, &p, out);
    op_forward(LT_OP_MULTINOMIAL, &s1, 1, &p, again);
    op_forward(LT_OP_MULTINOMIAL, &s1_step1, 1, &p, later);
    assert_memory_equal(out[0].data, again[0].data, ROWS * sizeof(int32_t));
    int ones = 0, differ = 0;
    for (int r = 0; r < ROWS; r++) {
        ones += ((int32_t *)out[0].data)[r];
        differ += ((int32_t *)out[0].data)[r] != ((int32_t *)later[0].data)[r];
    }
    assert_true(ones > 0.72 * ROWS && ones < 0.78 * ROWS);
    assert_true(differ > ROWS / 10);
    kv_free(&out[0]);
    kv_free(&again[0]);
    kv_free(&later[0]);
    kv_free(&p);
}

static void expect_bad_row(const float *probs, const char *want) {
    struct lt_kview p = kv_f32(2, (int64_t[]){2, 2}, probs), out[1];
    const struct lt_multinomial_attrs s = {1, 0};
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_MULTINOMIAL].infer(&s, 1, &p, out, msg), LT_OK);
    out[0] = kv_new(out[0].dtype, out[0].ndim, out[0].shape);
    assert_int_equal(op_run(LT_OP_MULTINOMIAL, &s, 1, &p, out, NULL, msg), LT_EINVAL);
    assert_string_equal(msg, want);
    kv_free(&out[0]);
    kv_free(&p);
}

static void multinomial_bad_rows(void **state) {
    (void)state;
    expect_bad_row((float[]){1, 1, 1, -1}, "row 1 has probability -1 at 1");
    expect_bad_row((float[]){NAN, 1, 1, 1}, "row 0 has probability nan at 0");
    expect_bad_row((float[]){1, INFINITY, 1, 1}, "row 0 has probability inf at 1");
    expect_bad_row((float[]){1, 1, 0, 0}, "row 1 has no nonzero probability");
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {2, 4}}, none = {NULL, LT_DTYPE_F32, 2, {2, 0}};
    const struct lt_multinomial_attrs s = {1, 0};
    op_infer_fails(LT_OP_MULTINOMIAL, &s, 1, &ids,
                   "multinomial: input 1 must be a float tensor, got i32");
    op_infer_fails(LT_OP_MULTINOMIAL, &s, 1, &none,
                   "multinomial: probabilities (2, 0) have no last dim to draw from");
    const struct lt_topk_attrs five = {5}, minus = {-1};
    op_infer_fails(LT_OP_TOPK, &five, 1, &ids,
                   "topk: k = 5 does not fit the last dim of shape (2, 4) (0 .. 4)");
    op_infer_fails(LT_OP_TOPK, &minus, 1, &ids, "topk: k = -1 does not fit");
    struct lt_kview scalar = {NULL, LT_DTYPE_F32, 0, {0}};
    op_infer_fails(LT_OP_TOPK, &five, 1, &scalar, "topk: needs at least 1 dim, got shape ()");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sum_mean_values),    cmocka_unit_test(integer_values),
        cmocka_unit_test(max_argmax_values),  cmocka_unit_test(empty_values),
        cmocka_unit_test(eq_values),          cmocka_unit_test(shape_errors),
        cmocka_unit_test(dtypes_inferred),    cmocka_unit_test(topk_values),
        cmocka_unit_test(multinomial_values), cmocka_unit_test(multinomial_bad_rows),
    };
    return cmocka_run_group_tests_name("reduce", tests, NULL, NULL);
}
