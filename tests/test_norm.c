/* The normalisation ops' tests: batch_norm2d and layer_norm forward on hand-computed
 * values, running-statistic updates (unbiased variance) and evaluation mode, backward on
 * hand-computed values, finite-difference gradients through the case table, properties
 * of the output on odd shapes, and shape errors. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "kernels/rng.h"
#include "tests/op_check.h"

static const int64_t vec2[1] = {2};

/* The hand-computed batch: per channel {1, 3, 5, 7} (mean 4, var 5, unbiased 20/3) and
 * {-5, 3, 3, 3} (mean 1, var 12, unbiased 16); eps = 4 makes invstd 1/3 and 1/4. */
static const int64_t bn_shape[4] = {2, 2, 1, 2};
static const float bn_x[8] = {1, 3, -5, 3, 5, 7, 3, 3}; /* (2, 2, 1, 2) */
static const float bn_w[2] = {2, -1}, bn_b[2] = {0.5f, 1};

/* The five inputs of the hand-computed batch_norm2d with the given running statistics. */
static void bn_inputs(struct lt_kview *in, const float *run_mean, const float *run_var) {
    in[0] = kv_f32(4, bn_shape, bn_x);
    in[1] = kv_f32(1, vec2, bn_w);
    in[2] = kv_f32(1, vec2, bn_b);
    in[3] = kv_f32(1, vec2, run_mean);
    in[4] = kv_f32(1, vec2, run_var);
}

static void free_views(struct lt_kview *v, int n) {
    for (int i = 0; i < n; i++)
        kv_free(&v[i]);
}

static void bn_train_forward(void **state) {
    (void)state;
    const struct lt_batch_norm_attrs at = {.eps = 4, .momentum = 0.25f, .training = 1};
    static const float run_mean[2] = {0.5f, -1}, run_var[2] = {2, 3};
    struct lt_kview in[5], out[3];
    bn_inputs(in, run_mean, run_var);
    op_forward(LT_OP_BATCH_NORM2D, &at, 5, in, out);
    static const float y[8] = {-1.5f, -1 / 6.0f, 2.5f, 0.5f, 7 / 6.0f, 2.5f, 0.5f, 0.5f};
    static const float mean[2] = {4, 1}, invstd[2] = {1 / 3.0f, 0.25f};
    assert_floats_near(out[0].data, y, 8, 1e-6);
    assert_floats_near(out[1].data, mean, 2, 1e-6);
    assert_floats_near(out[2].data, invstd, 2, 1e-6);
    /* 0.75 * running + 0.25 * batch, with the unbiased variances 20/3 and 16 */
    static const float new_mean[2] = {1.375f, -0.5f}, new_var[2] = {1.5f + 5 / 3.0f, 6.25f};
    assert_floats_near(in[3].data, new_mean, 2, 1e-6);
    assert_floats_near(in[4].data, new_var, 2, 1e-6);
    free_views(in, 5);
    free_views(out, 3);
}

static void bn_eval_forward(void **state) {
    (void)state;
    const struct lt_batch_norm_attrs at = {.eps = 4, .momentum = 0.25f, .training = 0};
    static const float run_mean[2] = {1, 2}, run_var[2] = {5, 0};
    struct lt_kview in[5], out[3];
    bn_inputs(in, run_mean, run_var);
    op_forward(LT_OP_BATCH_NORM2D, &at, 5, in, out);
    static const float y[8] = {0.5f, 11 / 6.0f, 4.5f, 0.5f, 19 / 6.0f, 4.5f, 0.5f, 0.5f};
    static const float invstd[2] = {1 / 3.0f, 0.5f};
    assert_floats_near(out[0].data, y, 8, 1e-6);
    assert_floats_near(out[1].data, run_mean, 2, 1e-6);
    assert_floats_near(out[2].data, invstd, 2, 1e-6);
    /* evaluation leaves the running statistics bit for bit as they were */
    assert_memory_equal(in[3].data, run_mean, sizeof run_mean);
    assert_memory_equal(in[4].data, run_var, sizeof run_var);
    free_views(in, 5);
    free_views(out, 3);
}

/* Runs forward and backward of the hand-computed batch with gout = gy; gradients for
 * x, weight and bias (the running statistics never get one). */
static void bn_grads(const struct lt_batch_norm_attrs *at, const float *run_mean,
                     const float *run_var, const float *gy, struct lt_kview *gin) {
    struct lt_kview in[5], out[3];
    bn_inputs(in, run_mean, run_var);
    op_forward(LT_OP_BATCH_NORM2D, at, 5, in, out);
    struct lt_kview gout = kv_f32(4, bn_shape, gy);
    memset(gin, 0, 5 * sizeof *gin);
    for (int i = 0; i < 3; i++)
        gin[i] = kv_new(LT_DTYPE_F32, in[i].ndim, in[i].shape);
    op_backward(LT_OP_BATCH_NORM2D, at, 5, in, out, &gout, gin);
    kv_free(&gout);
    free_views(in, 5);
    free_views(out, 3);
}

/* Training with gout = x: per channel dx = w * invstd * (g - mean(g) - xhat * mean(g *
 * xhat)), worked out by hand; dweight = sum(g * xhat), dbias = sum(g). */
static void bn_train_backward(void **state) {
    (void)state;
    const struct lt_batch_norm_attrs at = {.eps = 4, .momentum = 0.25f, .training = 1};
    static const float run_mean[2] = {0, 0}, run_var[2] = {1, 1};
    struct lt_kview gin[5];
    bn_grads(&at, run_mean, run_var, bn_x, gin);
    static const float dx[8] = {-8 / 9.0f, -8 / 27.0f, 0.375f,  -0.125f,
                                8 / 27.0f, 8 / 9.0f,   -0.125f, -0.125f};
    static const float dw[2] = {20 / 3.0f, 12}, db[2] = {16, 4};
    assert_floats_near(gin[0].data, dx, 8, 1e-6);
    assert_floats_near(gin[1].data, dw, 2, 1e-6);
    assert_floats_near(gin[2].data, db, 2, 1e-6);
    free_views(gin, 3);
}

/* Evaluation is affine in x: dx = w * invstd * g. */
static void bn_eval_backward(void **state) {
    (void)state;
    const struct lt_batch_norm_attrs at = {.eps = 4, .momentum = 0.25f, .training = 0};
    static const float run_mean[2] = {1, 2}, run_var[2] = {5, 0};
    static const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    struct lt_kview gin[5];
    bn_grads(&at, run_mean, run_var, ones, gin);
    static const float dx[8] = {2 / 3.0f, 2 / 3.0f, -0.5f, -0.5f,
                                2 / 3.0f, 2 / 3.0f, -0.5f, -0.5f};
    static const float dw[2] = {4, -2}, db[2] = {4, 4};
    assert_floats_near(gin[0].data, dx, 8, 1e-6);
    assert_floats_near(gin[1].data, dw, 2, 1e-6);
    assert_floats_near(gin[2].data, db, 2, 1e-6);
    free_views(gin, 3);
}

/* Fills v with uniform values in [lo, hi), keyed by `stream`. */
static void fill(struct lt_kview *v, uint64_t stream, float lo, float hi) {
    float *p = v->data;
    uint64_t key = lt_rng_key(2024, stream, 0, 0);
    for (int64_t i = 0; i < lt_kview_numel(v); i++)
        p[i] = lo + (hi - lo) * lt_rng_uniform(key, (uint64_t)i);
}

/* On an odd shape, each channel of (y - b) / w has mean 0 and variance var / (var + eps),
 * and the running statistics move towards the batch's (computed here directly). */
static void bn_odd_shape(void **state) {
    (void)state;
    enum { N = 3, C = 5, HW = 12 };
    const struct lt_batch_norm_attrs at = {.eps = 1e-5f, .momentum = 0.1f, .training = 1};
    const int64_t xs[4] = {N, C, 4, 3}, cs[1] = {C};
    struct lt_kview in[5], out[3];
    in[0] = kv_new(LT_DTYPE_F32, 4, xs);
    fill(&in[0], 0, 2, 5); /* a mean far from 0 */
    for (int i = 1; i < 5; i++) {
        in[i] = kv_new(LT_DTYPE_F32, 1, cs);
        fill(&in[i], (uint64_t)i, 0.5f, 2);
    }
    float old_mean[C], old_var[C];
    memcpy(old_mean, in[3].data, sizeof old_mean);
    memcpy(old_var, in[4].data, sizeof old_var);
    op_forward(LT_OP_BATCH_NORM2D, &at, 5, in, out);
    const float *x = in[0].data, *y = out[0].data, *w = in[1].data, *b = in[2].data;
    for (int c = 0; c < C; c++) {
        double sum = 0, sq = 0, ysum = 0, ysq = 0;
        for (int n = 0; n < N; n++) {
            for (int s = 0; s < HW; s++) {
                int k = (n * C + c) * HW + s;
                double z = (y[k] - b[c]) / w[c];
                sum += x[k];
                ysum += z;
                ysq += z * z;
            }
        }
        double mean = sum / (N * HW);
        for (int n = 0; n < N; n++)
            for (int s = 0; s < HW; s++)
                sq += (x[(n * C + c) * HW + s] - mean) * (x[(n * C + c) * HW + s] - mean);
        double var = sq / (N * HW);
        float got[4] = {(float)(ysum / (N * HW)), (float)(ysq / (N * HW)),
                        ((float *)in[3].data)[c], ((float *)in[4].data)[c]};
        float want[4] = {0, (float)(var / (var + at.eps)),
                         (float)(0.9 * old_mean[c] + 0.1 * mean),
                         (float)(0.9 * old_var[c] + 0.1 * sq / (N * HW - 1))};
        assert_floats_near(got, want, 4, 1e-5);
    }
    free_views(in, 5);
    free_views(out, 3);
}

/* Rows {1, 3, 5, 7} (mean 4, var 5) and {-5, 3, 3, 3} (mean 1, var 12); eps = 4. */
static void ln_forward(void **state) {
    (void)state;
    const struct lt_layer_norm_attrs at = {.eps = 4};
    const int64_t xs[2] = {2, 4}, ds[1] = {4};
    static const float x[8] = {1, 3, 5, 7, -5, 3, 3, 3};
    static const float w[4] = {1, 2, -1, 0.5f}, b[4] = {0, 0.5f, 1, -1};
    struct lt_kview in[3] = {kv_f32(2, xs, x), kv_f32(1, ds, w), kv_f32(1, ds, b)}, out[3];
    op_forward(LT_OP_LAYER_NORM, &at, 3, in, out);
    static const float y[8] = {-1, -1 / 6.0f, 2 / 3.0f, -0.5f, -1.5f, 1.5f, 0.5f, -0.75f};
    static const float mean[2] = {4, 1}, rstd[2] = {1 / 3.0f, 0.25f};
    assert_floats_near(out[0].data, y, 8, 1e-6);
    assert_floats_near(out[1].data, mean, 2, 1e-6);
    assert_floats_near(out[2].data, rstd, 2, 1e-6);
    free_views(in, 3);
    free_views(out, 3);
}

/* Rows {1, 3} and {3, 1} (mean 2, var 1; eps = 3 makes rstd 1/2), gout rows (1, 0) and
 * (0, 2): dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) by hand; the weight and
 * bias gradients sum over both rows. */
static void ln_backward(void **state) {
    (void)state;
    const struct lt_layer_norm_attrs at = {.eps = 3};
    const int64_t xs[2] = {2, 2};
    static const float x[4] = {1, 3, 3, 1}, gy[4] = {1, 0, 0, 2};
    static const float w[2] = {1, 1}, b[2] = {0, 0};
    struct lt_kview in[3] = {kv_f32(2, xs, x), kv_f32(1, vec2, w), kv_f32(1, vec2, b)}, out[3];
    op_forward(LT_OP_LAYER_NORM, &at, 3, in, out);
    struct lt_kview gout = kv_f32(2, xs, gy);
    struct lt_kview gin[3] = {kv_new(LT_DTYPE_F32, 2, xs), kv_new(LT_DTYPE_F32, 1, vec2),
                              kv_new(LT_DTYPE_F32, 1, vec2)};
    op_backward(LT_OP_LAYER_NORM, &at, 3, in, out, &gout, gin);
    static const float dx[4] = {0.1875f, -0.1875f, -0.375f, 0.375f};
    static const float dw[2] = {-0.5f, -1}, db[2] = {1, 2};
    assert_floats_near(gin[0].data, dx, 4, 1e-6);
    assert_floats_near(gin[1].data, dw, 2, 1e-6);
    assert_floats_near(gin[2].data, db, 2, 1e-6);
    kv_free(&gout);
    free_views(gin, 3);
    free_views(in, 3);
    free_views(out, 3);
}

/* On an odd shape every row of (y - b) / w has mean 0 and variance var / (var + eps). */
static void ln_odd_shape(void **state) {
    (void)state;
    enum { ROWS = 15, D = 13 };
    const struct lt_layer_norm_attrs at = {.eps = 1e-5f};
    const int64_t xs[3] = {3, 5, D}, ds[1] = {D};
    struct lt_kview in[3] = {kv_new(LT_DTYPE_F32, 3, xs), kv_new(LT_DTYPE_F32, 1, ds),
                             kv_new(LT_DTYPE_F32, 1, ds)},
                    out[3];
    fill(&in[0], 10, -3, 7);
    fill(&in[1], 11, 0.5f, 2);
    fill(&in[2], 12, -1, 1);
    op_forward(LT_OP_LAYER_NORM, &at, 3, in, out);
    assert_int_equal(out[1].ndim, 1);
    assert_int_equal(out[1].shape[0], ROWS);
    const float *x = in[0].data, *y = out[0].data, *w = in[1].data, *b = in[2].data;
    for (int r = 0; r < ROWS; r++) {
        double sum = 0, sq = 0, zsum = 0, zsq = 0;
        for (int j = 0; j < D; j++)
            sum += x[r * D + j];
        for (int j = 0; j < D; j++) {
            double z = (y[r * D + j] - b[j]) / w[j];
            sq += (x[r * D + j] - sum / D) * (x[r * D + j] - sum / D);
            zsum += z;
            zsq += z * z;
        }
        double var = sq / D;
        float got[4] = {(float)(zsum / D), (float)(zsq / D), ((float *)out[1].data)[r],
                        ((float *)out[2].data)[r]};
        float want[4] = {0, (float)(var / (var + at.eps)), (float)(sum / D),
                         (float)(1 / sqrt(var + at.eps))};
        assert_floats_near(got, want, 4, 1e-5);
    }
    free_views(in, 3);
    free_views(out, 3);
}


/* A shape-only view (infer never reads data). */
static struct lt_kview sv(enum lt_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2,
                          int64_t d3) {
    return (struct lt_kview){.dtype = dt, .ndim = ndim, .shape = {d0, d1, d2, d3}};
}

static enum lt_status infer(enum lt_op op, const void *attrs, int n_in,
                            const struct lt_kview *in, struct lt_kview *out, char *msg) {
    msg[0] = '\0';
    return lt_op_descs[op].infer(attrs, n_in, in, out, msg);
}

static void bn_shape_errors(void **state) {
    (void)state;
    const enum lt_dtype F = LT_DTYPE_F32;
    const struct lt_batch_norm_attrs train = {.eps = 1e-5f, .momentum = 0.1f, .training = 1};
    const struct lt_batch_norm_attrs eval = {.eps = 1e-5f, .momentum = 1, .training = 0};
    struct lt_kview in[5] = {sv(F, 4, 8, 16, 7, 7), sv(F, 1, 16, 0, 0, 0),
                             sv(F, 1, 16, 0, 0, 0), sv(F, 1, 16, 0, 0, 0),
                             sv(F, 1, 16, 0, 0, 0)};
    struct lt_kview out[LT_MAX_OUTPUTS];
    char msg[LT_KMSG_SIZE];
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_OK);
    assert_int_equal(out[0].ndim, 4);
    assert_memory_equal(out[0].shape, in[0].shape, 4 * sizeof(int64_t));
    for (int k = 1; k < 3; k++) {
        assert_int_equal(out[k].dtype, F);
        assert_int_equal(out[k].ndim, 1);
        assert_int_equal(out[k].shape[0], 16);
    }

    in[1] = sv(F, 1, 8, 0, 0, 0);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "batch_norm2d: input (8, 16, 7, 7) has 16 channels but weight "
                             "is (8,)");
    in[1] = in[2];
    in[4] = sv(F, 2, 16, 1, 0, 0);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "batch_norm2d: input (8, 16, 7, 7) has 16 channels but "
                             "running_var is (16, 1)");
    in[4] = in[2];
    in[2].dtype = LT_DTYPE_F16;
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "batch_norm2d: input 3 must be f32, got f16");
    in[2].dtype = F;

    in[0] = sv(F, 3, 8, 16, 49, 0);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "batch_norm2d: input must be (N, C, H, W), got (8, 16, 49)");
    in[0] = sv(LT_DTYPE_I32, 4, 8, 16, 7, 7);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);

    /* one value per channel: fine in evaluation, no unbiased variance in training */
    in[0] = sv(F, 4, 1, 16, 1, 1);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &eval, 5, in, out, msg), LT_OK);
    assert_int_equal(infer(LT_OP_BATCH_NORM2D, &train, 5, in, out, msg), LT_EINVAL);
    assert_non_null(strstr(msg, "more than one value per channel"));

    in[0] = sv(F, 4, 2, 16, 3, 3);
    const struct lt_batch_norm_attrs bad[] = {
        {.eps = 0, .momentum = 0.1f, .training = 1},
        {.eps = -1e-5f, .momentum = 0.1f, .training = 1},
        {.eps = NAN, .momentum = 0.1f, .training = 1},
        {.eps = 1e-5f, .momentum = 1.5f, .training = 1},
        {.eps = 1e-5f, .momentum = -0.1f, .training = 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(infer(LT_OP_BATCH_NORM2D, &bad[i], 5, in, out, msg), LT_EINVAL);
        assert_non_null(strstr(msg, "batch_norm2d: "));
    }
}

static void ln_shape_errors(void **state) {
    (void)state;
    const enum lt_dtype F = LT_DTYPE_F32;
    const struct lt_layer_norm_attrs at = {.eps = 1e-5f}, zero = {.eps = 0};
    struct lt_kview in[3] = {sv(F, 3, 2, 3, 5, 0), sv(F, 1, 5, 0, 0, 0), sv(F, 1, 5, 0, 0, 0)};
    struct lt_kview out[LT_MAX_OUTPUTS];
    char msg[LT_KMSG_SIZE];
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_OK);
    assert_int_equal(out[0].ndim, 3);
    assert_memory_equal(out[0].shape, in[0].shape, 3 * sizeof(int64_t));
    for (int k = 1; k < 3; k++) {
        assert_int_equal(out[k].dtype, F);
        assert_int_equal(out[k].ndim, 1);
        assert_int_equal(out[k].shape[0], 6);
    }
    assert_int_equal(infer(LT_OP_LAYER_NORM, &zero, 3, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "layer_norm: eps must be > 0, got 0");

    in[0] = sv(F, 2, 4, 5, 0, 0);
    in[1] = sv(F, 1, 4, 0, 0, 0);
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "layer_norm: input (4, 5) has 5 features but weight is (4,)");
    in[1] = in[2];
    in[2] = sv(F, 2, 5, 1, 0, 0);
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "layer_norm: input (4, 5) has 5 features but bias is (5, 1)");
    in[2] = in[1];

    in[0] = sv(F, 0, 0, 0, 0, 0);
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_EINVAL);
    assert_non_null(strstr(msg, "layer_norm: "));
    in[0] = sv(F, 2, 4, 0, 0, 0);
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "layer_norm: input (4, 0) has no features to normalise");
    in[0] = sv(LT_DTYPE_U8, 1, 5, 0, 0, 0);
    assert_int_equal(infer(LT_OP_LAYER_NORM, &at, 3, in, out, msg), LT_EINVAL);
    assert_string_equal(msg, "layer_norm: input 1 must be a float tensor, got u8");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bn_train_forward),  cmocka_unit_test(bn_eval_forward),
        cmocka_unit_test(bn_train_backward), cmocka_unit_test(bn_eval_backward),
        cmocka_unit_test(bn_odd_shape),      cmocka_unit_test(ln_forward),
        cmocka_unit_test(ln_backward),       cmocka_unit_test(ln_odd_shape),   cmocka_unit_test(bn_shape_errors),
        cmocka_unit_test(ln_shape_errors),
    };
    return cmocka_run_group_tests_name("norm", tests, NULL, NULL);
}
