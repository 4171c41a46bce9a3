/* index_select, gather, masked_fill, triu and tril: hand-computed values and gradients,
 * ids out of range caught on the reference and the fast backend, shape errors. The case
 * table (tests/cases_index.c) runs in test_ops. */
#include <math.h>

#include "core/ops/ops.h"
#include "tests/op_check.h"

/* x (2, 3) = {{1, 2, 3}, {4, 5, 6}} */
static const float x23[] = {1, 2, 3, 4, 5, 6};

static void index_select_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){2, 3}, x23),
                             kv_i32(1, (int64_t[]){4}, (int32_t[]){2, 0, 2, 1})};
    const struct lt_index_attrs cols = {1}, rows = {-2};
    struct lt_kview out[1];
    op_forward(LT_OP_INDEX_SELECT, &cols, 2, in, out);
    assert_memory_equal(out[0].shape, ((int64_t[]){2, 4}), 2 * sizeof(int64_t));
    assert_floats_near(out[0].data, (float[]){3, 1, 3, 2, 6, 4, 6, 5}, 8, 0);
    /* column 2 was taken twice: its gradient is the sum of both */
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 2, 3, 4, 5, 6, 7, 8});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    op_backward(LT_OP_INDEX_SELECT, &cols, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){2, 4, 4, 6, 8, 12}, 6, 0);
    kv_free(&out[0]);
    kv_free(&gout);

    struct lt_kview two[2] = {in[0], kv_i32(1, (int64_t[]){3}, (int32_t[]){1, 1, 0})};
    op_forward(LT_OP_INDEX_SELECT, &rows, 2, two, out);
    assert_floats_near(out[0].data, (float[]){4, 5, 6, 4, 5, 6, 1, 2, 3}, 9, 0);
    kv_free(&out[0]);
    kv_free(&two[1]);
    kv_free(&gin[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void gather_values(void **state) {
    (void)state;
    /* torch.gather(x, 1, [[2, 2], [0, 1]]) = [[3, 3], [4, 5]] */
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){2, 3}, x23),
                             kv_i32(2, (int64_t[]){2, 2}, (int32_t[]){2, 2, 0, 1})};
    const struct lt_index_attrs cols = {1}, rows = {0};
    struct lt_kview out[1];
    op_forward(LT_OP_GATHER, &cols, 2, in, out);
    assert_floats_near(out[0].data, (float[]){3, 3, 4, 5}, 4, 0);
    struct lt_kview gout = kv_f32(2, out[0].shape, (float[]){1, 2, 3, 4});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    op_backward(LT_OP_GATHER, &cols, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){0, 0, 3, 3, 4, 0}, 6, 0);
    kv_free(&out[0]);
    kv_free(&gout);

    /* along dim 0, ids (1, 3): out[0][j] = x[ids[0][j]][j] */
    struct lt_kview down[2] = {in[0], kv_i32(2, (int64_t[]){1, 3}, (int32_t[]){1, 0, 1})};
    op_forward(LT_OP_GATHER, &rows, 2, down, out);
    assert_memory_equal(out[0].shape, ((int64_t[]){1, 3}), 2 * sizeof(int64_t));
    assert_floats_near(out[0].data, (float[]){4, 2, 6}, 3, 0);
    kv_free(&out[0]);
    kv_free(&down[1]);
    kv_free(&gin[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void masked_fill_values(void **state) {
    (void)state;
    /* a causal mask (2, 2) over (2, 2, 2), filled with -inf; u8 mask, nonzero fills */
    float xs[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct lt_kview in[2] = {kv_f32(3, (int64_t[]){2, 2, 2}, xs),
                             kv_new(LT_DTYPE_U8, 2, (int64_t[]){2, 2})};
    ((uint8_t *)in[1].data)[1] = 7;
    const struct lt_masked_fill_attrs minus_inf = {-INFINITY};
    struct lt_kview out[1];
    op_forward(LT_OP_MASKED_FILL, &minus_inf, 2, in, out);
    const float *y = out[0].data;
    for (int i = 0; i < 8; i++)
        if (i % 4 == 1)
            assert_true(isinf(y[i]) && y[i] < 0);
        else
            assert_true(y[i] == xs[i]);
    struct lt_kview gout = kv_f32(3, out[0].shape, (float[]){1, 2, 3, 4, 5, 6, 7, 8});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 3, in[0].shape), {0}};
    op_backward(LT_OP_MASKED_FILL, &minus_inf, 2, in, out, &gout, gin);
    assert_floats_near(gin[0].data, (float[]){1, 0, 3, 4, 5, 0, 7, 8}, 8, 0);
    kv_free(&out[0]);
    kv_free(&gout);
    kv_free(&gin[0]);

    /* bf16: the value rounds once to bf16 (1/3 -> 0x3eab), x's bits pass */
    struct lt_kview h[2] = {kv_convert(&in[0], LT_DTYPE_BF16), in[1]};
    const struct lt_masked_fill_attrs third = {1.0f / 3};
    op_forward(LT_OP_MASKED_FILL, &third, 2, h, out);
    assert_int_equal(((uint16_t *)out[0].data)[1], 0x3eab);
    assert_int_equal(((uint16_t *)out[0].data)[0], ((uint16_t *)h[0].data)[0]);
    kv_free(&out[0]);
    kv_free(&h[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void triangles_values(void **state) {
    (void)state;
    /* (3, 3) of 1 .. 9 */
    float xs[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct lt_kview x = kv_f32(2, (int64_t[]){3, 3}, xs), out[1];
    const struct lt_tri_attrs d0 = {0}, d1 = {1}, dm1 = {-1};
    op_forward(LT_OP_TRIU, &d0, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){1, 2, 3, 0, 5, 6, 0, 0, 9}, 9, 0);
    kv_free(&out[0]);
    op_forward(LT_OP_TRIU, &d1, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){0, 2, 3, 0, 0, 6, 0, 0, 0}, 9, 0);
    kv_free(&out[0]);
    op_forward(LT_OP_TRIL, &d0, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){1, 0, 0, 4, 5, 0, 7, 8, 9}, 9, 0);
    struct lt_kview gout = kv_f32(2, x.shape, xs), gin = kv_new(LT_DTYPE_F32, 2, x.shape);
    op_backward(LT_OP_TRIL, &d0, 1, &x, out, &gout, &gin);
    assert_floats_near(gin.data, (float[]){1, 0, 0, 4, 5, 0, 7, 8, 9}, 9, 0);
    kv_free(&out[0]);
    op_forward(LT_OP_TRIL, &dm1, 1, &x, out);
    assert_floats_near(out[0].data, (float[]){0, 0, 0, 4, 0, 0, 7, 8, 0}, 9, 0);
    kv_free(&out[0]);

    /* a u8 causal mask from ones: what masked_fill takes */
    struct lt_kview ones = kv_new(LT_DTYPE_U8, 2, (int64_t[]){3, 3});
    for (int i = 0; i < 9; i++)
        ((uint8_t *)ones.data)[i] = 1;
    op_forward(LT_OP_TRIU, &d1, 1, &ones, out);
    assert_memory_equal(out[0].data, ((uint8_t[]){0, 1, 1, 0, 0, 1, 0, 0, 0}), 9);
    kv_free(&out[0]);
    kv_free(&ones);
    kv_free(&x);
    kv_free(&gout);
    kv_free(&gin);
}

/* Runs op with ids that hold a bad one on `b`, forward and backward: both fail with want
 * and write nothing out of bounds. */
static void expect_id_error(const struct lt_backend *b, enum lt_op op, const void *attrs,
                            struct lt_kview ids, const char *want) {
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){2, 3}, x23), ids}, out[1];
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[op].infer(attrs, 2, in, out, msg), LT_OK);
    out[0] = kv_new(out[0].dtype, out[0].ndim, out[0].shape);
    struct lt_kargs a = {.attrs = attrs, .n_in = 2, .n_out = 1, .msg = msg, .impl = b->impl};
    a.in[0] = &in[0];
    a.in[1] = &in[1];
    a.out[0] = &out[0];
    assert_int_equal(b->kernels[op][LT_DTYPE_F32].forward(&a), LT_EINVAL);
    assert_string_equal(msg, want);
    struct lt_kview gin = kv_new(LT_DTYPE_F32, 2, in[0].shape);
    a.gout[0] = &out[0];
    a.gin[0] = &gin;
    msg[0] = '\0';
    assert_int_equal(b->kernels[op][LT_DTYPE_F32].backward(&a), LT_EINVAL);
    assert_string_equal(msg, want);
    kv_free(&gin);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void bad_ids(void **state) {
    (void)state;
    const struct lt_index_attrs cols = {1}, rows = {0};
    const struct lt_backend *backends[2] = {op_ref_backend(), op_fast_backend()};
    for (int i = 0; i < 2; i++) {
        const struct lt_backend *b = backends[i];
        expect_id_error(b, LT_OP_INDEX_SELECT, &cols,
                        kv_i32(1, (int64_t[]){3}, (int32_t[]){0, 3, 1}),
                        "id 3 at (1,) is outside [0, 3)");
        expect_id_error(b, LT_OP_INDEX_SELECT, &rows, kv_i32(1, (int64_t[]){2}, (int32_t[]){-1, 0}),
                        "id -1 at (0,) is outside [0, 2)");
        expect_id_error(b, LT_OP_GATHER, &cols,
                        kv_i32(2, (int64_t[]){2, 2}, (int32_t[]){0, 1, 2, 5}),
                        "id 5 at (1, 1) is outside [0, 3)");
    }
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview x = {NULL, LT_DTYPE_F32, 2, {2, 3}};
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 1, {4}}, ids2 = {NULL, LT_DTYPE_I32, 2, {2, 2}};
    struct lt_kview fids = {NULL, LT_DTYPE_F32, 1, {4}};
    const struct lt_index_attrs d2 = {2}, d1 = {1}, dm3 = {-3};
    op_infer_fails(LT_OP_INDEX_SELECT, &d2, 2, (struct lt_kview[]){x, ids},
                   "index_select: dim 2 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_INDEX_SELECT, &d1, 2, (struct lt_kview[]){x, ids2},
                   "index_select: ids must be 1-D, got shape (2, 2)");
    op_infer_fails(LT_OP_INDEX_SELECT, &d1, 2, (struct lt_kview[]){x, fids},
                   "index_select: input 2 must be i32, got f32");
    op_infer_fails(LT_OP_GATHER, &dm3, 2, (struct lt_kview[]){x, ids2},
                   "gather: dim -3 is out of range for shape (2, 3)");
    op_infer_fails(LT_OP_GATHER, &d1, 2, (struct lt_kview[]){x, ids},
                   "gather: ids (4,) must have as many dims as x (2, 3)");
    struct lt_kview wide = {NULL, LT_DTYPE_I32, 2, {3, 1}};
    op_infer_fails(LT_OP_GATHER, &d1, 2, (struct lt_kview[]){x, wide},
                   "gather: ids (3, 1) do not fit x (2, 3): dim 0 is 3, more than x's 2");

    const struct lt_masked_fill_attrs v = {0};
    struct lt_kview m = {NULL, LT_DTYPE_U8, 2, {3, 3}}, mf = {NULL, LT_DTYPE_F32, 2, {2, 3}};
    struct lt_kview ix = {NULL, LT_DTYPE_I32, 2, {2, 3}};
    op_infer_fails(LT_OP_MASKED_FILL, &v, 2, (struct lt_kview[]){x, m},
                   "masked_fill: mask (3, 3) does not broadcast to x (2, 3): its dims, lined up "
                   "from the right, must equal x's or be 1");
    op_infer_fails(LT_OP_MASKED_FILL, &v, 2, (struct lt_kview[]){x, mf},
                   "masked_fill: input 2 must be u8, got f32");
    op_infer_fails(LT_OP_MASKED_FILL, &v, 2, (struct lt_kview[]){ix, m},
                   "masked_fill: input 1 must be a float tensor, got i32");

    const struct lt_tri_attrs t0 = {0};
    struct lt_kview v1 = {NULL, LT_DTYPE_F32, 1, {5}};
    op_infer_fails(LT_OP_TRIU, &t0, 1, &v1, "triu: needs at least 2 dims, got shape (5,)");
    op_infer_fails(LT_OP_TRIL, &t0, 1, &v1, "tril: needs at least 2 dims, got shape (5,)");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(index_select_values),
        cmocka_unit_test(gather_values),
        cmocka_unit_test(masked_fill_values),
        cmocka_unit_test(triangles_values),
        cmocka_unit_test(bad_ids),
        cmocka_unit_test(shape_errors),
    };
    int rc = cmocka_run_group_tests_name("index", tests, NULL, NULL);
    op_fast_backend_release();
    return rc;
}
