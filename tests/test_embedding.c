/* embedding: hand-computed lookups and scatter-adds with duplicate ids, the out-of-range
 * id error, shape errors, the case table. */
#include "core/ops/ops.h"
#include "tests/op_check.h"

/* weight (4, 3): row v holds v + 0.1, v + 0.2, v + 0.3 */
static const float weight4x3[12] = {0.1f, 0.2f, 0.3f, 1.1f, 1.2f, 1.3f,
                                    2.1f, 2.2f, 2.3f, 3.1f, 3.2f, 3.3f};

static void embedding_values(void **state) {
    (void)state;
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){4, 3}, weight4x3),
                             kv_i32(2, (int64_t[]){2, 2}, (int32_t[]){3, 0, 0, 2})};
    struct lt_kview out[1];
    op_forward(LT_OP_EMBEDDING, NULL, 2, in, out);
    assert_int_equal(out[0].ndim, 3);
    assert_int_equal(out[0].shape[0], 2);
    assert_int_equal(out[0].shape[1], 2);
    assert_int_equal(out[0].shape[2], 3);
    float want[12] = {3.1f, 3.2f, 3.3f, 0.1f, 0.2f, 0.3f,
                      0.1f, 0.2f, 0.3f, 2.1f, 2.2f, 2.3f};
    assert_floats_near(out[0].data, want, 12, 0);

    /* row 0 is looked up twice, so its gradient is the sum of two gout rows; row 1 is
     * never looked up and must come out 0, not poison */
    struct lt_kview gout = kv_f32(3, out[0].shape,
                                  (float[]){1, 2, 3, 10, 20, 30, 100, 200, 300, -1, -2, -3});
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    op_backward(LT_OP_EMBEDDING, NULL, 2, in, out, &gout, gin);
    float gwant[12] = {110, 220, 330, 0, 0, 0, -1, -2, -3, 1, 2, 3};
    assert_floats_near(gin[0].data, gwant, 12, 0);

    /* accumulating adds onto what is there instead of zeroing first */
    float *g = gin[0].data;
    for (int i = 0; i < 12; i++)
        g[i] = 0.5f;
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(op_run_backward(LT_OP_EMBEDDING, NULL, 2, in, out, &gout, gin, 1u, NULL, msg),
                     LT_OK);
    for (int i = 0; i < 12; i++)
        gwant[i] += 0.5f;
    assert_floats_near(gin[0].data, gwant, 12, 0);
    kv_free(&gin[0]);
    kv_free(&gout);
    kv_free(&out[0]);

    /* a scalar id gives one row of shape (D,) */
    struct lt_kview one[2] = {in[0], kv_i32(0, NULL, (int32_t[]){2})};
    op_forward(LT_OP_EMBEDDING, NULL, 2, one, out);
    assert_int_equal(out[0].ndim, 1);
    assert_int_equal(out[0].shape[0], 3);
    assert_floats_near(out[0].data, (float[]){2.1f, 2.2f, 2.3f}, 3, 0);
    kv_free(&out[0]);
    kv_free(&one[1]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void expect_id_error(int ndim, const int64_t *shape, const int32_t *ids,
                            const char *want) {
    struct lt_kview in[2] = {kv_f32(2, (int64_t[]){4, 3}, weight4x3),
                             kv_i32(ndim, shape, ids)};
    struct lt_kview out[1];
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_EMBEDDING].infer(NULL, 2, in, out, msg), LT_OK);
    out[0] = kv_new(out[0].dtype, out[0].ndim, out[0].shape);
    assert_int_equal(op_run(LT_OP_EMBEDDING, NULL, 2, in, out, NULL, msg), LT_EINVAL);
    assert_string_equal(msg, want);
    /* the backward checks too rather than write outside the gradient */
    struct lt_kview gin[2] = {kv_new(LT_DTYPE_F32, 2, in[0].shape), {0}};
    msg[0] = '\0';
    assert_int_equal(op_run_backward(LT_OP_EMBEDDING, NULL, 2, in, out, &out[0], gin, 0, NULL, msg),
                     LT_EINVAL);
    assert_string_equal(msg, want);
    kv_free(&gin[0]);
    kv_free(&out[0]);
    kv_free(&in[0]);
    kv_free(&in[1]);
}

static void embedding_bad_id(void **state) {
    (void)state;
    expect_id_error(1, (int64_t[]){5}, (int32_t[]){0, 3, 1, 4, 2},
                    "id 4 at (3,) is outside [0, 4)");
    expect_id_error(2, (int64_t[]){2, 3}, (int32_t[]){0, 3, 1, 2, -1, 2},
                    "id -1 at (1, 1) is outside [0, 4)");
    expect_id_error(0, NULL, (int32_t[]){12}, "id 12 at () is outside [0, 4)");
}

/* Asserts that shape inference of (w, ids) fails with a message containing want. */
static void expect_error(struct lt_kview w, struct lt_kview ids, const char *want) {
    op_infer_fails(LT_OP_EMBEDDING, NULL, 2, (struct lt_kview[]){w, ids}, want);
}

static void shape_errors(void **state) {
    (void)state;
    struct lt_kview w = {NULL, LT_DTYPE_F32, 2, {100, 16}};
    struct lt_kview ids = {NULL, LT_DTYPE_I32, 2, {8, 5}};
    struct lt_kview fids = {NULL, LT_DTYPE_F32, 2, {8, 5}};
    expect_error(w, fids, "embedding: ids must be i32, got f32");
    struct lt_kview iw = {NULL, LT_DTYPE_I32, 2, {100, 16}};
    expect_error(iw, ids, "embedding: input 1 must be a float tensor, got i32");
    struct lt_kview w1 = {NULL, LT_DTYPE_F32, 1, {100}};
    expect_error(w1, ids, "embedding: weight must be (V, D), got (100,)");
    struct lt_kview w3 = {NULL, LT_DTYPE_F32, 3, {100, 4, 4}};
    expect_error(w3, ids, "got (100, 4, 4)");
    struct lt_kview deep = {NULL, LT_DTYPE_I32, LT_MAX_DIMS, {2, 2, 2, 2, 2, 2, 2, 2}};
    expect_error(w, deep, "would give more than 8 dims");

    /* the output takes the weight's dtype, the ids' shape and D */
    struct lt_kview in[2] = {w, ids}, out[1];
    in[0].dtype = LT_DTYPE_BF16;
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[LT_OP_EMBEDDING].infer(NULL, 2, in, out, msg), LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
    assert_int_equal(out[0].ndim, 3);
    assert_int_equal(out[0].shape[0], 8);
    assert_int_equal(out[0].shape[1], 5);
    assert_int_equal(out[0].shape[2], 16);
    assert_null(out[0].data);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(embedding_values),
        cmocka_unit_test(embedding_bad_id),
        cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("embedding", tests, NULL, NULL);
}
