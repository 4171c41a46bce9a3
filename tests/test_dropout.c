/* Dropout's tests: the mask is lt_dropout_keep's, keyed by sample and not by batch
 * position; the kept fraction is 1 - p; the backward recomputes the same mask without
 * reading anything of the forward; shape errors. */
#include <math.h>
#include <string.h>

#include "core/ops/ops.h"
#include "kernels/rng.h"
#include "tests/op_check.h"

/* Runs the reference forward (backward when gy != NULL, into g, adding when accumulate)
 * with the given exec info, which op_forward does not take; asserts that it succeeds.
 * The output or gradient is poisoned first unless it is added into, and the backward
 * sees no forward tensor (backward_reads is 0, checked in backward_recomputes_mask). */
static void run(const struct lt_dropout_attrs *at, const struct lt_exec_info *ex,
                const struct lt_kview *x, struct lt_kview *y, const struct lt_kview *gy,
                struct lt_kview *g, unsigned accumulate) {
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = gy ? op_run_backward(LT_OP_DROPOUT, at, 1, x, y, gy, g, accumulate, ex, msg)
                           : op_run(LT_OP_DROPOUT, at, 1, x, y, ex, msg);
    if (st != LT_OK)
        fail_msg("dropout %s failed (%d): %s", gy ? "backward" : "forward", st, msg);
}

/* A (n, per) tensor with distinct nonzero values, so a dropped element is visible. */
static struct lt_kview ramp(int64_t n, int64_t per) {
    int64_t shape[2] = {n, per};
    struct lt_kview v = kv_new(LT_DTYPE_F32, 2, shape);
    float *p = v.data;
    for (int64_t i = 0; i < n * per; i++)
        p[i] = 1.0f + 0.01f * (float)i;
    return v;
}

static void mask_matches_rng(void **state) {
    (void)state;
    const struct lt_dropout_attrs at = {.p = 0.3f, .layer = 5};
    const struct lt_exec_info ex = {.seed = 42, .epoch = 9, .sample_base = 1000};
    int64_t shape[3] = {6, 5, 7};
    struct lt_kview x = kv_new(LT_DTYPE_F32, 3, shape), y = kv_new(LT_DTYPE_F32, 3, shape);
    float *xp = x.data;
    for (int i = 0; i < 6 * 35; i++)
        xp[i] = 0.5f + 0.01f * (float)i;
    run(&at, &ex, &x, &y, NULL, NULL, 0);
    const float *yp = y.data;
    int kept = 0;
    for (int n = 0; n < 6; n++) {
        for (int e = 0; e < 35; e++) {
            int i = n * 35 + e;
            if (lt_dropout_keep(ex.seed, at.layer, ex.epoch, ex.sample_base + n, e, at.p)) {
                float want = xp[i] / (1.0f - at.p);
                assert_floats_near(&yp[i], &want, 1, 1e-6);
                kept++;
            } else {
                assert_true(yp[i] == 0.0f);
            }
        }
    }
    /* a mask that keeps everything or nothing would pass the loop vacuously */
    assert_true(kept > 0 && kept < 6 * 35);
    kv_free(&x);
    kv_free(&y);
}

static double kept_fraction(float p) {
    const struct lt_dropout_attrs at = {.p = p, .layer = 0};
    const struct lt_exec_info ex = {.seed = 7, .epoch = 0, .sample_base = 0};
    struct lt_kview x = ramp(10, 10000), y = ramp(10, 10000);
    run(&at, &ex, &x, &y, NULL, NULL, 0);
    int64_t kept = 0;
    for (int64_t i = 0; i < 100000; i++)
        kept += ((float *)y.data)[i] != 0.0f;
    kv_free(&x);
    kv_free(&y);
    return (double)kept / 100000.0;
}

/* 100k draws: the fraction's standard deviation is at most 0.0016, so 0.01 is > 6 sd. */
static void keeps_one_minus_p(void **state) {
    (void)state;
    static const float ps[] = {0.1f, 0.5f, 0.9f};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double frac = kept_fraction(ps[i]);
        if (!(fabs(frac - (1.0 - ps[i])) < 0.01))
            fail_msg("p = %g keeps %.4f of the elements", (double)ps[i], frac);
    }
    assert_true(kept_fraction(0.0f) == 1.0);
}

/* Rows 3..5 of a batch of 6 and the same samples as a batch of their own (sample_base
 * moved by 3) get the same mask: micro-batching does not change dropout. */
static void same_sample_same_mask(void **state) {
    (void)state;
    const struct lt_dropout_attrs at = {.p = 0.5f, .layer = 3};
    const struct lt_exec_info whole = {.seed = 11, .epoch = 2, .sample_base = 40};
    const struct lt_exec_info part = {.seed = 11, .epoch = 2, .sample_base = 43};
    struct lt_kview x = ramp(6, 29), y = ramp(6, 29);
    run(&at, &whole, &x, &y, NULL, NULL, 0);
    int64_t half_shape[2] = {3, 29};
    struct lt_kview xh = kv_f32(2, half_shape, (float *)x.data + 3 * 29);
    struct lt_kview yh = kv_new(LT_DTYPE_F32, 2, half_shape);
    run(&at, &part, &xh, &yh, NULL, NULL, 0);
    assert_memory_equal(yh.data, (float *)y.data + 3 * 29, 3 * 29 * sizeof(float));

    /* and a different layer or epoch draws a different mask */
    const struct lt_dropout_attrs other_layer = {.p = 0.5f, .layer = 4};
    const struct lt_exec_info other_epoch = {.seed = 11, .epoch = 3, .sample_base = 43};
    struct lt_kview y2 = kv_new(LT_DTYPE_F32, 2, half_shape);
    run(&other_layer, &part, &xh, &y2, NULL, NULL, 0);
    assert_memory_not_equal(y2.data, yh.data, 3 * 29 * sizeof(float));
    run(&at, &other_epoch, &xh, &y2, NULL, NULL, 0);
    assert_memory_not_equal(y2.data, yh.data, 3 * 29 * sizeof(float));
    kv_free(&x);
    kv_free(&y);
    kv_free(&xh);
    kv_free(&yh);
    kv_free(&y2);
}

/* gx = mask / (1 - p) * gy, the mask recomputed; accumulate adds onto gx. */
static void backward_recomputes_mask(void **state) {
    (void)state;
    /* nothing of the forward is kept alive for the backward: run() hands it no data */
    assert_int_equal(lt_op_descs[LT_OP_DROPOUT].backward_reads, 0);
    const struct lt_dropout_attrs at = {.p = 0.4f, .layer = 8};
    const struct lt_exec_info ex = {.seed = 5, .epoch = 1, .sample_base = 250};
    struct lt_kview x = ramp(4, 31), y = ramp(4, 31), gy = ramp(4, 31), g = ramp(4, 31);
    run(&at, &ex, &x, &y, NULL, NULL, 0);
    float *gyp = gy.data;
    for (int i = 0; i < 4 * 31; i++)
        gyp[i] = 2.0f - 0.03f * (float)i;
    run(&at, &ex, &x, &y, &gy, &g, 0);
    const float *yp = y.data, *gp = g.data;
    float want[4 * 31];
    for (int i = 0; i < 4 * 31; i++)
        want[i] = yp[i] != 0.0f ? gyp[i] / (1.0f - at.p) : 0.0f;
    assert_floats_near(gp, want, 4 * 31, 1e-6);

    run(&at, &ex, &x, &y, &gy, &g, 1);
    for (int i = 0; i < 4 * 31; i++)
        want[i] *= 2.0f;
    assert_floats_near(gp, want, 4 * 31, 1e-6);
    kv_free(&x);
    kv_free(&y);
    kv_free(&gy);
    kv_free(&g);
}


static enum lt_status infer(const struct lt_dropout_attrs *at, const struct lt_kview *x,
                            char *msg) {
    struct lt_kview out[LT_MAX_OUTPUTS];
    return lt_op_descs[LT_OP_DROPOUT].infer(at, 1, x, out, msg);
}

static void shape_errors(void **state) {
    (void)state;
    char msg[LT_KMSG_SIZE];
    struct lt_kview x = {.dtype = LT_DTYPE_F32, .ndim = 2, .shape = {8, 3}};
    struct lt_kview out[LT_MAX_OUTPUTS];
    const struct lt_dropout_attrs ok = {.p = 0.5f};
    assert_int_equal(lt_op_descs[LT_OP_DROPOUT].infer(&ok, 1, &x, out, msg), LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_F32);
    assert_int_equal(out[0].ndim, 2);
    assert_true(out[0].shape[0] == 8 && out[0].shape[1] == 3 && !out[0].data);

    const struct lt_dropout_attrs one = {.p = 1.0f}, neg = {.p = -0.1f}, nan = {.p = NAN};
    assert_int_equal(infer(&one, &x, msg), LT_EINVAL);
    assert_string_equal(msg, "dropout: p must be in [0, 1), got 1");
    assert_int_equal(infer(&neg, &x, msg), LT_EINVAL);
    assert_int_equal(infer(&nan, &x, msg), LT_EINVAL);

    struct lt_kview scalar = {.dtype = LT_DTYPE_F32, .ndim = 0};
    assert_int_equal(infer(&ok, &scalar, msg), LT_EINVAL);
    assert_non_null(strstr(msg, "dropout"));
    struct lt_kview ints = {.dtype = LT_DTYPE_I32, .ndim = 1, .shape = {4}};
    assert_int_equal(infer(&ok, &ints, msg), LT_EINVAL);
    assert_string_equal(msg, "dropout: input 1 must be a float tensor, got i32");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mask_matches_rng),      cmocka_unit_test(keeps_one_minus_p),
        cmocka_unit_test(same_sample_same_mask), cmocka_unit_test(backward_recomputes_mask),       cmocka_unit_test(shape_errors),
    };
    return cmocka_run_group_tests_name("dropout", tests, NULL, NULL);
}
