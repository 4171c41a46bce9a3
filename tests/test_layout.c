/* The blocked layout (kernels/kernels.h, struct lt_kargs): the kernels that take it give
 * the plain kernels' bits, and the planner's pass (core/layout.c) gives it where every
 * kernel around a tensor takes it and nowhere else, a step's results unchanged.
 *
 * Capped at AVX2 (make test runs the suites so too) oneDNN's convolutions block by 8,
 * and the sequence reorders between its layout and lutra's: the same tests hold.
 */
#include <math.h>
#include <omp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/plan.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/rng.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

SUITE_CONTEXT

#define BLK LT_BLOCK_CHANNELS

/* A new tensor holding 4-d v relaid: plain (N, C, H, W) into blocked (N, C/16, H, W, 16)
 * when `to_blocked`, else back. */
static struct lt_kview relaid(const struct lt_kview *v, int to_blocked) {
    struct lt_kview r = kv_new(v->dtype, 4, v->shape);
    size_t es = lt_dtype_bytes(v->dtype);
    int64_t n = v->shape[0], c = v->shape[1], h = v->shape[2], w = v->shape[3];
    assert_int_equal(c % BLK, 0);
    for (int64_t i = 0; i < n * c * h * w; i++) {
        int64_t x = i % w, y = i / w % h, ch = i / (w * h) % c, b = i / (w * h * c);
        int64_t blocked = (((b * (c / BLK) + ch / BLK) * h + y) * w + x) * BLK + ch % BLK;
        int64_t from = to_blocked ? i : blocked, to = to_blocked ? blocked : i;
        memcpy((char *)r.data + (size_t)to * es, (const char *)v->data + (size_t)from * es, es);
    }
    return r;
}

static void assert_same_bytes(const struct lt_kview *a, const struct lt_kview *b, const char *what,
                              int s) {
    size_t es = lt_dtype_bytes(a->dtype);
    assert_int_equal(lt_kview_numel(a), lt_kview_numel(b));
    for (int64_t i = 0; i < lt_kview_numel(a); i++)
        if (memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es))
            fail_msg("%s (%s, case %d): element %lld differs", what, lt_dtype_name(a->dtype), s,
                     (long long)i);
}

/* f32 values from stream `key`: a third drawn from {-1, 0, 1, NaN} (ties and NaNs in
 * the windows), the rest uniform in [-1, 1) with some -0. */
static struct lt_kview tricky(const int64_t *shape, uint64_t key, enum lt_dtype dt) {
    struct lt_kview v = kv_new(LT_DTYPE_F32, 4, shape);
    const float set[4] = {-1.0f, 0.0f, 1.0f, NAN};
    float *p = v.data;
    for (int64_t i = 0; i < lt_kview_numel(&v); i++) {
        float u = lt_rng_uniform(key, (uint64_t)i);
        p[i] = i % 3 == 0 ? set[(int)(u * 4) & 3] : i % 7 == 1 ? -0.0f : 2.0f * u - 1.0f;
    }
    struct lt_kview r = kv_convert(&v, dt);
    kv_free(&v);
    return r;
}

/* f32 values uniform in [-1, 1) from stream `key`, in dt: no NaNs, which a product would
 * spread everywhere. */
static struct lt_kview smooth(int ndim, const int64_t *shape, uint64_t key, enum lt_dtype dt) {
    struct lt_kview v = kv_new(LT_DTYPE_F32, ndim, shape);
    for (int64_t i = 0; i < lt_kview_numel(&v); i++)
        ((float *)v.data)[i] = 2.0f * lt_rng_uniform(key, (uint64_t)i) - 1.0f;
    struct lt_kview r = kv_convert(&v, dt);
    kv_free(&v);
    return r;
}

/* ---- max pooling ------------------------------------------------------------------------- */

/* Max pooling of a blocked x, y and its gradient blocked or plain, the argmax codes
 * blocked or plain, forward and backward (overwriting and adding), against the reference
 * on plain tensors, bit for bit, in f32 and bf16: windows 2x2 over odd sizes (an
 * uncovered last row and column), 3x3 stride 3 with padding, 2x2 stride 3 (gaps between
 * windows), 1x1. */
static void blocked_max_pool_matches_reference(void **state) {
    (void)state;
    static const struct {
        int64_t x[4];
        struct lt_pool2d_attrs at;
    } cases[] = {
        {{2, 32, 7, 9}, {{2, 2}, {2, 2}, {0, 0}, 1}},
        {{1, 16, 8, 10}, {{3, 3}, {3, 3}, {1, 1}, 1}},
        {{2, 16, 8, 8}, {{2, 2}, {3, 3}, {0, 0}, 1}},
        {{1, 16, 3, 5}, {{1, 1}, {1, 1}, {0, 0}, 1}},
        /* more windows a plane than the kernels stage at a time (64): runs that span rows */
        {{1, 16, 23, 25}, {{2, 2}, {2, 2}, {0, 0}, 1}},
        {{2, 16, 20, 31}, {{3, 3}, {3, 3}, {1, 1}, 1}},
    };
    const struct lt_backend *fast = op_fast_backend();
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    char msg[LT_KMSG_SIZE] = "";
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < (int)(sizeof cases / sizeof cases[0]); s++) {
            const struct lt_pool2d_attrs *at = &cases[s].at;
            struct lt_kview x = tricky(cases[s].x, lt_rng_key(31, (uint64_t)s, 0, 0), dts[t]);
            struct lt_kview xb = relaid(&x, 1), want[2];
            op_forward(LT_OP_MAX_POOL2D, at, 1, &x, want);
            struct lt_kview gy = tricky(want[0].shape, lt_rng_key(32, (uint64_t)s, 0, 0), dts[t]);
            struct lt_kview gx0 = tricky(cases[s].x, lt_rng_key(33, (uint64_t)s, 0, 0), dts[t]);
            for (int slots = 0; slots < 4; slots++) {
                int y_blocked = slots & 1, codes_blocked = slots >> 1;
                unsigned blocked =
                    LT_IN(0) | (y_blocked ? LT_OUT(0) : 0u) | (codes_blocked ? LT_OUT(1) : 0u);
                struct lt_kview y[2] = {kv_new(dts[t], 4, want[0].shape),
                                        kv_new(LT_DTYPE_U8, 4, want[0].shape)};
                assert_int_equal(
                    op_run_blocked(fast, LT_OP_MAX_POOL2D, at, 1, &xb, y, blocked, msg), LT_OK);
                struct lt_kview got = y_blocked ? relaid(&y[0], 0) : y[0];
                struct lt_kview codes = codes_blocked ? relaid(&y[1], 0) : y[1];
                assert_same_bytes(&got, &want[0], "forward", s);
                assert_same_bytes(&codes, &want[1], "codes", s);
                struct lt_kview gyl = y_blocked ? relaid(&gy, 1) : gy;
                for (unsigned acc = 0; acc < 2; acc++) {
                    struct lt_kview ref = kv_new(dts[t], 4, gx0.shape), gxb = relaid(&gx0, 1);
                    memcpy(ref.data, gx0.data,
                           (size_t)lt_kview_numel(&gx0) * lt_dtype_bytes(dts[t]));
                    assert_int_equal(op_run_backward(LT_OP_MAX_POOL2D, at, 1, &x, want, &gy, &ref,
                                                     acc, NULL, msg),
                                     LT_OK);
                    assert_int_equal(op_run_backward_blocked(fast, LT_OP_MAX_POOL2D, at, 1, &xb, y,
                                                             &gyl, &gxb, acc, blocked, msg),
                                     LT_OK);
                    struct lt_kview gx = relaid(&gxb, 0);
                    assert_same_bytes(&gx, &ref, acc ? "accumulated gradient" : "gradient", s);
                    kv_free(&gx);
                    kv_free(&gxb);
                    kv_free(&ref);
                }
                if (y_blocked) {
                    kv_free(&got);
                    kv_free(&gyl);
                }
                if (codes_blocked)
                    kv_free(&codes);
                kv_free(&y[0]);
                kv_free(&y[1]);
            }
            kv_free(&x);
            kv_free(&xb);
            kv_free(&want[0]);
            kv_free(&want[1]);
            kv_free(&gy);
            kv_free(&gx0);
        }
}

/* What the pooling takes: x blocked, y and the codes either way; not y blocked alone,
 * overlapping windows, f16 or codes wider than a byte. */
static void max_pool_takes_only_what_it_runs(void **state) {
    (void)state;
    const struct lt_kernel *k = &op_fast_backend()->kernels[LT_OP_MAX_POOL2D][LT_DTYPE_F32];
    assert_non_null(k->takes_blocked);
    struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1}, k3s2 = {{3, 3}, {2, 2}, {1, 1}, 1};
    struct lt_kview x = {NULL, LT_DTYPE_F32, 4, {2, 16, 8, 8}};
    struct lt_kview y = {NULL, LT_DTYPE_F32, 4, {2, 16, 4, 4}};
    struct lt_kview codes = {NULL, LT_DTYPE_U8, 4, {2, 16, 4, 4}};
    struct lt_kargs a = {.attrs = &k2s2, .n_in = 1, .n_out = 2, .in = {&x}, .out = {&y, &codes}};
    a.blocked = LT_IN(0);
    assert_true(k->takes_blocked(&a));
    a.blocked = LT_IN(0) | LT_OUT(0) | LT_OUT(1);
    assert_true(k->takes_blocked(&a));
    a.blocked = LT_OUT(0);
    assert_false(k->takes_blocked(&a));
    a.blocked = LT_OUT(1);
    assert_false(k->takes_blocked(&a));
    a.blocked = LT_IN(0);
    codes.dtype = LT_DTYPE_I32;
    assert_false(k->takes_blocked(&a));
    codes.dtype = LT_DTYPE_U8;
    a.attrs = &k3s2;
    a.blocked = LT_IN(0);
    assert_false(k->takes_blocked(&a));
    a.attrs = &k2s2;
    x.dtype = y.dtype = LT_DTYPE_F16;
    assert_false(k->takes_blocked(&a));
}

/* Global average pooling of a blocked x against the reference on plain tensors, forward
 * and backward (overwriting and adding), bit for bit: each channel is summed in the
 * reference's order. */
static void blocked_global_avg_pool_matches_reference(void **state) {
    (void)state;
    const struct lt_backend *fast = op_fast_backend();
    const int64_t xs[4] = {3, 32, 5, 7};
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kview x = smooth(4, xs, lt_rng_key(71, 0, 0, 0), LT_DTYPE_F32), want;
    struct lt_kview xb = relaid(&x, 1);
    op_forward(LT_OP_GLOBAL_AVG_POOL, NULL, 1, &x, &want);
    struct lt_kview y = kv_new(LT_DTYPE_F32, 4, want.shape);
    assert_int_equal(
        op_run_blocked(fast, LT_OP_GLOBAL_AVG_POOL, NULL, 1, &xb, &y, LT_IN(0), msg), LT_OK);
    assert_same_bytes(&y, &want, "global average pooling", 0);
    struct lt_kview gy = smooth(4, want.shape, lt_rng_key(72, 0, 0, 0), LT_DTYPE_F32);
    for (unsigned acc = 0; acc < 2; acc++) {
        struct lt_kview ref = smooth(4, xs, lt_rng_key(73, 0, 0, 0), LT_DTYPE_F32);
        struct lt_kview gxb = relaid(&ref, 1);
        assert_int_equal(
            op_run_backward(LT_OP_GLOBAL_AVG_POOL, NULL, 1, &x, &want, &gy, &ref, acc, NULL, msg),
            LT_OK);
        assert_int_equal(op_run_backward_blocked(fast, LT_OP_GLOBAL_AVG_POOL, NULL, 1, &xb, &y,
                                                 &gy, &gxb, acc, LT_IN(0), msg),
                         LT_OK);
        struct lt_kview gx = relaid(&gxb, 0);
        assert_same_bytes(&gx, &ref, "global average pooling's gradient", (int)acc);
        kv_free(&gx);
        kv_free(&gxb);
        kv_free(&ref);
    }
    kv_free(&x);
    kv_free(&xb);
    kv_free(&want);
    kv_free(&y);
    kv_free(&gy);
}

/* ---- batch normalisation ----------------------------------------------------------------- */

/* batch_norm2d with x, y and their gradients blocked against the reference on plain
 * tensors, training (the running statistics updated alike) and evaluation, the input
 * gradient overwritten and added (the latter with a mean of 100, far from 0), the
 * parameters' added: within rounding (each channel's sums run in another order than the
 * plain path's). */
static void blocked_batch_norm_matches_reference(void **state) {
    (void)state;
    const struct lt_backend *fast = op_fast_backend();
    const int64_t xs[4] = {4, 32, 5, 7}, cs[1] = {32};
    char msg[LT_KMSG_SIZE] = "";
    /* mode: x's gradient overwritten or added (bit 0), the parameters' too (bits 1, 2: a
     * plan's first micro-batch overwrites them, the later ones add) */
    const unsigned modes[4] = {0u, 1u, 6u, 7u};
    for (int training = 0; training < 2; training++)
        for (int k = 0; k < 4; k++) {
            unsigned mode = modes[k];
            struct lt_batch_norm_attrs at = {1e-5f, 0.1f, training};
            struct lt_kview in[2][5], out[2][3], gin[2][5];
            for (int r = 0; r < 2; r++) { /* r 0: the reference, plain; 1: blocked */
                in[r][0] = smooth(4, xs, lt_rng_key(51, 0, 0, 0), LT_DTYPE_F32);
                for (int i = 1; i < 5; i++)
                    in[r][i] = smooth(1, cs, lt_rng_key(52, (uint64_t)i, 0, 0), LT_DTYPE_F32);
                for (int64_t c = 0; c < 32; c++) /* a variance is positive */
                    ((float *)in[r][4].data)[c] = 1.5f + ((float *)in[r][4].data)[c];
                for (int64_t e = 0; (mode & 1u) && e < lt_kview_numel(&in[r][0]); e++)
                    ((float *)in[r][0].data)[e] += 100.0f; /* a mean far from 0 */
                out[r][0] = kv_new(LT_DTYPE_F32, 4, xs);
                out[r][1] = kv_new(LT_DTYPE_F32, 1, cs);
                out[r][2] = kv_new(LT_DTYPE_F32, 1, cs);
                for (int i = 0; i < 5; i++)
                    gin[r][i] = i < 3 ? smooth(in[r][i].ndim, in[r][i].shape,
                                               lt_rng_key(53, (uint64_t)i, 0, 0), LT_DTYPE_F32)
                                      : (struct lt_kview){0};
            }
            struct lt_kview xb = relaid(&in[1][0], 1), yb = relaid(&out[1][0], 1);
            kv_free(&in[1][0]);
            in[1][0] = xb;
            struct lt_kview gy = smooth(4, xs, lt_rng_key(54, 0, 0, 0), LT_DTYPE_F32);
            struct lt_kview gyb = relaid(&gy, 1), gxb = relaid(&gin[1][0], 1);
            kv_free(&gin[1][0]);
            gin[1][0] = gxb;
            const unsigned blocked = LT_IN(0) | LT_OUT(0);
            assert_int_equal(op_run(LT_OP_BATCH_NORM2D, &at, 5, in[0], out[0], NULL, msg), LT_OK);
            struct lt_kview ob[3] = {yb, out[1][1], out[1][2]};
            assert_int_equal(
                op_run_blocked(fast, LT_OP_BATCH_NORM2D, &at, 5, in[1], ob, blocked, msg), LT_OK);
            struct lt_kview y = relaid(&ob[0], 0);
            assert_floats_near(y.data, out[0][0].data, lt_kview_numel(&y), 1e-5);
            for (int i = 1; i < 3; i++)
                assert_floats_near(ob[i].data, out[0][i].data, 32, 1e-6);
            for (int i = 3; i < 5; i++) /* the running statistics */
                assert_floats_near(in[1][i].data, in[0][i].data, 32, 1e-6);
            assert_int_equal(op_run_backward(LT_OP_BATCH_NORM2D, &at, 5, in[0], out[0], &gy,
                                             gin[0], mode, NULL, msg),
                             LT_OK);
            assert_int_equal(op_run_backward_blocked(fast, LT_OP_BATCH_NORM2D, &at, 5, in[1], ob,
                                                     &gyb, gin[1], mode, blocked, msg),
                             LT_OK);
            struct lt_kview gx = relaid(&gin[1][0], 0);
            assert_floats_near(gx.data, gin[0][0].data, lt_kview_numel(&gx), 1e-5);
            for (int i = 1; i < 3; i++)
                assert_floats_near(gin[1][i].data, gin[0][i].data, 32, 1e-5);
            kv_free(&y);
            kv_free(&gx);
            kv_free(&gy);
            kv_free(&gyb);
            kv_free(&ob[0]);
            for (int r = 0; r < 2; r++) {
                for (int i = 0; i < 5; i++) {
                    kv_free(&in[r][i]);
                    if (gin[r][i].data)
                        kv_free(&gin[r][i]);
                }
                for (int i = 0; i < 3; i++) /* out[1][1], [2] are ob[1], [2] */
                    kv_free(&out[r][i]);
            }
        }
}

/* Blocked batch_norm2d, forward and backward, on 1 thread and on 2: the same bits (its
 * sums are split into chunks of images that N alone sets). */
static void blocked_batch_norm_is_the_same_on_any_thread_count(void **state) {
    (void)state;
    const struct lt_backend *fast = op_fast_backend();
    const int64_t xs[4] = {6, 32, 5, 7}, cs[1] = {32};
    const unsigned blocked = LT_IN(0) | LT_OUT(0);
    struct lt_batch_norm_attrs at = {1e-5f, 0.1f, 1};
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kview y[2], g[2][3];
    int threads = omp_get_max_threads();
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(r + 1);
        struct lt_kview in[5], out[3];
        in[0] = smooth(4, xs, lt_rng_key(61, 0, 0, 0), LT_DTYPE_F32);
        for (int i = 1; i < 5; i++)
            in[i] = smooth(1, cs, lt_rng_key(62, (uint64_t)i, 0, 0), LT_DTYPE_F32);
        for (int64_t c = 0; c < 32; c++)
            ((float *)in[4].data)[c] += 1.5f;
        out[0] = kv_new(LT_DTYPE_F32, 4, xs);
        out[1] = kv_new(LT_DTYPE_F32, 1, cs);
        out[2] = kv_new(LT_DTYPE_F32, 1, cs);
        assert_int_equal(
            op_run_blocked(fast, LT_OP_BATCH_NORM2D, &at, 5, in, out, blocked, msg), LT_OK);
        struct lt_kview gy = smooth(4, xs, lt_rng_key(63, 0, 0, 0), LT_DTYPE_F32);
        struct lt_kview gin[5] = {kv_new(LT_DTYPE_F32, 4, xs), kv_new(LT_DTYPE_F32, 1, cs),
                                  kv_new(LT_DTYPE_F32, 1, cs), {0}, {0}};
        assert_int_equal(op_run_backward_blocked(fast, LT_OP_BATCH_NORM2D, &at, 5, in, out, &gy,
                                                 gin, 6u, blocked, msg),
                         LT_OK);
        y[r] = out[0];
        for (int i = 0; i < 3; i++)
            g[r][i] = gin[i];
        for (int i = 0; i < 5; i++)
            kv_free(&in[i]);
        kv_free(&out[1]);
        kv_free(&out[2]);
        kv_free(&gy);
    }
    omp_set_num_threads(threads);
    assert_same_bytes(&y[0], &y[1], "batch norm forward, 1 and 2 threads", 0);
    for (int i = 0; i < 3; i++)
        assert_same_bytes(&g[0][i], &g[1][i], "batch norm backward, 1 and 2 threads", i);
    for (int r = 0; r < 2; r++) {
        kv_free(&y[r]);
        for (int i = 0; i < 3; i++)
            kv_free(&g[r][i]);
    }
}

/* ---- convolution ------------------------------------------------------------------------- */

/* Small integers in [lo, hi] from stream `key`, in dt: every sum of their products is
 * exact in f32 and in double, so that kernels summing in different orders agree bit for
 * bit, and windows hold ties. */
static struct lt_kview ints(int ndim, const int64_t *shape, uint64_t key, int lo, int hi,
                            enum lt_dtype dt) {
    struct lt_kview v = kv_new(LT_DTYPE_F32, ndim, shape);
    for (int64_t i = 0; i < lt_kview_numel(&v); i++)
        ((float *)v.data)[i] =
            (float)(lo + (int)(lt_rng_uniform(key, (uint64_t)i) * (float)(hi - lo + 1)));
    struct lt_kview r = kv_convert(&v, dt);
    kv_free(&v);
    return r;
}

/* The fused first convolution and pool (conv2d_max_pool2d) with y and its gradient, and
 * the codes, each blocked or plain, forward and backward (overwriting and adding the
 * weight and bias gradients, in f32 as a mixed plan folds them), against the reference
 * on plain tensors, bit for bit, in f32 and bf16: integer data, so that ties are
 * everywhere and every sum is exact; odd sizes, 16 and 48 filters, with and without
 * bias. */
static void blocked_conv_pool_matches_reference(void **state) {
    (void)state;
    static const struct {
        int64_t x[4], w[4];
        struct lt_conv_pool_attrs at;
        int bias;
    } cases[] = {
        {{3, 1, 9, 7}, {16, 1, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1, {2, 2}, {2, 2}, {0, 0}, 1}, 1},
        {{2, 3, 8, 9}, {48, 3, 3, 3}, {{1, 1}, {0, 2}, {1, 1}, 1, {2, 2}, {2, 2}, {0, 0}, 0}, 0},
    };
    const struct lt_backend *fast = op_fast_backend();
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    char msg[LT_KMSG_SIZE] = "";
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < (int)(sizeof cases / sizeof cases[0]); s++) {
            const struct lt_conv_pool_attrs *at = &cases[s].at;
            int n_in = 2 + cases[s].bias;
            int64_t o = cases[s].w[0];
            struct lt_kview in[3] = {
                ints(4, cases[s].x, lt_rng_key(41, (uint64_t)s, 0, 0), -1, 2, dts[t]),
                ints(4, cases[s].w, lt_rng_key(42, (uint64_t)s, 0, 0), -1, 1, dts[t]),
                ints(1, &o, lt_rng_key(43, (uint64_t)s, 0, 0), -1, 1, dts[t])};
            struct lt_kview want[2];
            op_forward(LT_OP_CONV2D_MAX_POOL2D, at, n_in, in, want);
            struct lt_kview gy = ints(4, want[0].shape, lt_rng_key(44, (uint64_t)s, 0, 0), -2, 2,
                                      dts[t]);
            for (int slots = 0; slots < 4; slots++) {
                int y_blocked = slots & 1, codes_blocked = slots >> 1;
                unsigned blocked = (y_blocked ? LT_OUT(0) : 0u) | (codes_blocked ? LT_OUT(1) : 0u);
                struct lt_kview y[2] = {kv_new(dts[t], 4, want[0].shape),
                                        kv_new(LT_DTYPE_U8, 4, want[0].shape)};
                assert_int_equal(op_run_blocked(fast, LT_OP_CONV2D_MAX_POOL2D, at, n_in, in, y,
                                                blocked, msg),
                                 LT_OK);
                struct lt_kview got = y_blocked ? relaid(&y[0], 0) : y[0];
                struct lt_kview codes = codes_blocked ? relaid(&y[1], 0) : y[1];
                assert_same_bytes(&got, &want[0], "fused forward", s);
                assert_same_bytes(&codes, &want[1], "fused codes", s);
                struct lt_kview gyl = y_blocked ? relaid(&gy, 1) : gy;
                for (unsigned acc = 0; acc < 2; acc++) {
                    struct lt_kview ref[3] = {{0}}, fst[3] = {{0}};
                    for (int i = 1; i < n_in; i++) {
                        ref[i] = ints(in[i].ndim, in[i].shape, lt_rng_key(45, (uint64_t)i, 0, 0),
                                      -3, 3, LT_DTYPE_F32);
                        fst[i] = kv_convert(&ref[i], LT_DTYPE_F32);
                    }
                    ref[0] = (struct lt_kview){NULL, dts[t], 4, {0}};
                    fst[0] = ref[0];
                    unsigned bits = acc ? LT_IN(1) | LT_IN(2) : 0u;
                    assert_int_equal(op_run_backward(LT_OP_CONV2D_MAX_POOL2D, at, n_in, in, want,
                                                     &gy, ref, bits, NULL, msg),
                                     LT_OK);
                    assert_int_equal(op_run_backward_blocked(fast, LT_OP_CONV2D_MAX_POOL2D, at,
                                                             n_in, in, y, &gyl, fst, bits,
                                                             blocked, msg),
                                     LT_OK);
                    for (int i = 1; i < n_in; i++) {
                        assert_same_bytes(&fst[i], &ref[i],
                                          acc ? "fused accumulated gradient" : "fused gradient",
                                          s);
                        kv_free(&ref[i]);
                        kv_free(&fst[i]);
                    }
                }
                if (y_blocked)
                    kv_free(&gyl), kv_free(&got);
                if (codes_blocked)
                    kv_free(&codes);
                kv_free(&y[0]);
                kv_free(&y[1]);
            }
            kv_free(&gy);
            kv_free(&want[0]);
            kv_free(&want[1]);
            for (int i = 0; i < 3; i++)
                kv_free(&in[i]);
        }
}

/* oneDNN's convolution with x, y (and their gradients) blocked, each alone and both,
 * against itself on plain tensors, bit for bit (the same primitive; only the reorders
 * around it change), forward and backward, overwriting and adding, f32 and bf16; and a
 * first layer's single input channel with y blocked. */
static void blocked_conv_matches_plain(void **state) {
    (void)state;
#ifdef LT_ONEDNN
    static const struct {
        int64_t x[4], w[4];
        unsigned blocked;
    } cases[] = {
        {{3, 16, 7, 6}, {32, 16, 3, 3}, LT_IN(0) | LT_OUT(0)},
        {{3, 16, 7, 6}, {32, 16, 3, 3}, LT_IN(0)},
        {{3, 16, 7, 6}, {32, 16, 3, 3}, LT_OUT(0)},
        {{2, 1, 6, 5}, {16, 1, 3, 3}, LT_OUT(0)},
    };
    const struct lt_backend *fast = op_fast_backend();
    struct lt_conv2d_attrs at = {{1, 1}, {1, 1}, {1, 1}, 1};
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    char msg[LT_KMSG_SIZE] = "";
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < (int)(sizeof cases / sizeof cases[0]); s++) {
            unsigned blocked = cases[s].blocked;
            int bx = (blocked & LT_IN(0)) != 0, by = (blocked & LT_OUT(0)) != 0;
            const int64_t bshape[1] = {cases[s].w[0]};
            struct lt_kview in[3], in_b[3];
            in[0] = smooth(4, cases[s].x, lt_rng_key(41, (uint64_t)s, 0, 0), dts[t]);
            in[1] = smooth(4, cases[s].w, lt_rng_key(42, (uint64_t)s, 0, 0), dts[t]);
            in[2] = smooth(1, bshape, lt_rng_key(43, (uint64_t)s, 0, 0), dts[t]);
            in_b[0] = bx ? relaid(&in[0], 1) : in[0];
            in_b[1] = in[1];
            in_b[2] = in[2];
            struct lt_kview y;
            op_forward(LT_OP_CONV2D, &at, 3, in, &y);
            struct lt_kview yp = kv_new(dts[t], 4, y.shape), yb = kv_new(dts[t], 4, y.shape);
            assert_int_equal(op_run_blocked(fast, LT_OP_CONV2D, &at, 3, in, &yp, 0, msg), LT_OK);
            assert_int_equal(op_run_blocked(fast, LT_OP_CONV2D, &at, 3, in_b, &yb, blocked, msg),
                             LT_OK);
            struct lt_kview got = by ? relaid(&yb, 0) : yb;
            assert_same_bytes(&got, &yp, "conv forward", s);
            struct lt_kview gy = smooth(4, y.shape, lt_rng_key(44, (uint64_t)s, 0, 0), dts[t]);
            struct lt_kview gy_b = by ? relaid(&gy, 1) : gy;
            /* x's gradient overwritten or added, the parameters' too (a plan's first
             * micro-batch overwrites them, the later ones add) */
            const unsigned modes[4] = {0u, 1u, 6u, 7u};
            for (int k = 0; k < 4; k++) {
                unsigned mode = modes[k], acc = mode & 1u;
                struct lt_kview gp[3], gb[3];
                for (int i = 0; i < 3; i++) {
                    gp[i] = smooth(in[i].ndim, in[i].shape,
                                   lt_rng_key(45, (uint64_t)s, (uint64_t)i, acc), dts[t]);
                    gb[i] = i == 0 && bx ? relaid(&gp[i], 1) : kv_convert(&gp[i], dts[t]);
                }
                assert_int_equal(op_run_backward_blocked(fast, LT_OP_CONV2D, &at, 3, in, &yp, &gy,
                                                         gp, mode, 0, msg),
                                 LT_OK);
                assert_int_equal(op_run_backward_blocked(fast, LT_OP_CONV2D, &at, 3, in_b, &yb,
                                                         &gy_b, gb, mode, blocked, msg),
                                 LT_OK);
                struct lt_kview gx = bx ? relaid(&gb[0], 0) : gb[0];
                assert_same_bytes(&gx, &gp[0], acc ? "conv accumulated dx" : "conv dx", s);
                assert_same_bytes(&gb[1], &gp[1], "conv dw", s);
                assert_same_bytes(&gb[2], &gp[2], "conv db", s);
                if (bx)
                    kv_free(&gx);
                for (int i = 0; i < 3; i++) {
                    kv_free(&gp[i]);
                    kv_free(&gb[i]);
                }
            }
            if (by) {
                kv_free(&got);
                kv_free(&gy_b);
            }
            if (bx)
                kv_free(&in_b[0]);
            for (int i = 0; i < 3; i++)
                kv_free(&in[i]);
            kv_free(&y);
            kv_free(&yp);
            kv_free(&yb);
            kv_free(&gy);
        }
#else
    printf("skipped: built without oneDNN\n");
    skip();
#endif
}

/* ---- the planner ------------------------------------------------------------------------- */

#define BATCH 8
static const int64_t x_shape[4] = {BATCH, 1, 12, 12};

/* The nets: CNN, conv 1 -> 16 -> relu -> pool -> conv 16 -> 32 -> relu -> pool ->
 * flatten -> linear -> cross entropy. OTHERS_READ: the first convolution's output is also
 * read by an average pooling (which takes no layout) whose result, scaled by 0, is added
 * to the relu's, and the second convolution is followed by a sigmoid, whose bf16
 * backward takes f32 gradients (the planner casts them into copies of its own).
 * TWO_READERS: the second convolution is two, both reading the first block's output
 * (whose gradient the second adds into, blocked), their outputs added (elementwise: in
 * their layout). BATCH_NORM: each convolution (without a bias) followed by batch_norm2d
 * (f32, with casts around it in bf16). RESIDUAL: conv 1 -> 16 -> relu -> conv 16 -> 16,
 * added to its input, -> relu -> global average pooling -> flatten -> linear. Returns the
 * logits. */
enum net_kind { CNN, OTHERS_READ, TWO_READERS, BATCH_NORM, RESIDUAL };

/* batch_norm2d of h's c channels, with its parameters and running statistics. */
static int batch_norm(struct net *m, int h, int64_t c) {
    struct lt_batch_norm_attrs bn = {1e-5f, 0.1f, 1};
    int gamma = net_tensor(ctx, m, 0, 1, &c, 1), beta = net_tensor(ctx, m, 0, 1, &c, 0);
    int mean = net_tensor(ctx, m, 1, 1, &c, 0), var = net_tensor(ctx, m, 1, 1, &c, 1);
    return net_op(ctx, m, LT_OP_BATCH_NORM2D, 5, (int[]){h, gamma, beta, mean, var}, &bn);
}

/* The RESIDUAL net from its input x; returns the logits. */
static int residual_build(struct net *m, int x) {
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    int w1 = net_tensor(ctx, m, 0, 4, (int64_t[]){16, 1, 3, 3}, -1);
    int h = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){x, w1}, &conv);
    h = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    int w2 = net_tensor(ctx, m, 0, 4, (int64_t[]){16, 16, 3, 3}, -1);
    int r = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){h, w2}, &conv);
    h = net_op(ctx, m, LT_OP_ADD, 2, (int[]){h, r}, NULL);
    h = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    h = net_op(ctx, m, LT_OP_GLOBAL_AVG_POOL, 1, &h, NULL); /* (B, 16, 1, 1) */
    struct lt_reshape_attrs flat = {2, {BATCH, 16}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
    int w = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 16}, -1);
    int b = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, 0);
    return net_op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
}

static int net_build(struct net *m, enum net_kind kind) {
    net_begin(ctx, m);
    int x, y;
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_F32, 4, x_shape, "x", &x));
    if (kind == RESIDUAL) {
        int logits = residual_build(m, x);
        CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
        struct lt_cross_entropy_attrs ce = {0, -100};
        m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
        return logits;
    }
    struct lt_conv2d_attrs conv = {{1, 1}, {1, 1}, {1, 1}, 1};
    struct lt_pool2d_attrs pool = {{2, 2}, {2, 2}, {0, 0}, 1};
    int w1 = net_tensor(ctx, m, 0, 4, (int64_t[]){16, 1, 3, 3}, -1);
    int b1 = net_tensor(ctx, m, 0, 1, (int64_t[]){16}, 0.01);
    int h = kind == BATCH_NORM ? net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){x, w1}, &conv)
                               : net_op(ctx, m, LT_OP_CONV2D, 3, (int[]){x, w1, b1}, &conv);
    if (kind == BATCH_NORM)
        h = batch_norm(m, h, 16);
    if (kind == CNN || kind == TWO_READERS) {
        /* a scale by 1 keeps the first convolution's output a tensor: the planner would
         * run it and its pool as one op (test_fusion) */
        struct lt_scale_attrs one = {1.0f};
        h = net_op(ctx, m, LT_OP_SCALE, 1, &h, &one);
    }
    int c1 = h;
    h = net_op(ctx, m, LT_OP_RELU, 1, &h, NULL);
    if (kind == OTHERS_READ) {
        /* relu(c1) + 0 * avg_pool(c1, 1x1): c1 read by a kernel without the layout too */
        struct lt_scale_attrs zero = {0.0f};
        struct lt_pool2d_attrs one = {{1, 1}, {1, 1}, {0, 0}, 1};
        int z = net_op(ctx, m, LT_OP_AVG_POOL2D, 1, &c1, &one);
        z = net_op(ctx, m, LT_OP_SCALE, 1, &z, &zero);
        h = net_op(ctx, m, LT_OP_ADD, 2, (int[]){h, z}, NULL);
    }
    h = net_op(ctx, m, LT_OP_MAX_POOL2D, 1, &h, &pool); /* (B, 16, 6, 6) */
    int w2 = net_tensor(ctx, m, 0, 4, (int64_t[]){32, 16, 3, 3}, -1);
    int c2 = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){h, w2}, &conv);
    if (kind == BATCH_NORM)
        c2 = batch_norm(m, c2, 32);
    if (kind == TWO_READERS) {
        int w3 = net_tensor(ctx, m, 0, 4, (int64_t[]){32, 16, 3, 3}, -1);
        int c3 = net_op(ctx, m, LT_OP_CONV2D, 2, (int[]){h, w3}, &conv);
        c2 = net_op(ctx, m, LT_OP_ADD, 2, (int[]){c2, c3}, NULL);
    }
    h = net_op(ctx, m, kind == OTHERS_READ ? LT_OP_SIGMOID : LT_OP_RELU, 1, &c2, NULL);
    h = net_op(ctx, m, LT_OP_MAX_POOL2D, 1, &h, &pool); /* (B, 32, 3, 3) */
    struct lt_reshape_attrs flat = {2, {BATCH, 32 * 3 * 3}};
    h = net_op(ctx, m, LT_OP_RESHAPE, 1, &h, &flat);
    int w = net_tensor(ctx, m, 0, 2, (int64_t[]){5, 32 * 3 * 3}, -1);
    int b = net_tensor(ctx, m, 0, 1, (int64_t[]){5}, 0);
    int logits = net_op(ctx, m, LT_OP_LINEAR, 3, (int[]){h, w, b}, NULL);
    CHECK(ctx, lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, "y", &y));
    struct lt_cross_entropy_attrs ce = {0, -100};
    m->loss = net_op(ctx, m, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, y}, &ce);
    return logits;
}

/* What a plan laid out, for each convolution in order: its input and output blocked,
 * and whether its kernel takes each blocked alone in the forward and in the backward call
 * (what oneDNN keeps plain on this CPU decides that: the test asks the kernel rather than
 * assume a CPU). */
#define MAX_CONVS 3
struct seen {
    int convs, in_blocked[MAX_CONVS], out_blocked[MAX_CONVS], takes_in[MAX_CONVS],
        takes_out[MAX_CONVS], blocked_bufs, sum_blocked;
};

/* Whether node pn's kernel takes the tensor of `slot` blocked alone. */
static int takes_slot(const struct lt_plan *p, const struct lt_pnode *pn, unsigned slot) {
    const struct lt_kernel *k = &p->be->kernels[pn->op][p->bufs[pn->in[0]].view.dtype];
    struct lt_kargs a;
    lt_plan_shape_args(p, pn, &a);
    a.blocked = slot;
    return k->takes_blocked && k->takes_blocked(&a);
}

/* Records what the plan blocked; asserts that each blocked buffer is a value only
 * kernels see (or its gradient), that every node's bits agree with its buffers, that a
 * tensor and the gradient a node sees with it share a layout, and that no pooling
 * writes a blocked output from a plain input. */
static void inspect(struct lt_plan *p, struct lt_trainer *t, void *arg) {
    (void)t;
    struct seen *s = arg;
    memset(s, 0, sizeof *s);
    int reported, aliased;
    lt_plan_layout(p, &reported, &aliased);
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].blocked) {
            s->blocked_bufs++;
            assert_int_equal(p->bufs[b].kind, LT_BUF_ARENA);
            assert_false(p->bufs[b].keep);
            assert_int_equal(p->bufs[b].view.shape[1] % BLK, 0);
        }
    assert_int_equal(reported, s->blocked_bufs); /* what lutra plan reports */
    int weights_of[MAX_CONVS]; /* a convolution's nodes (forward, backward) share them */
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        /* a tensor and the gradient a node sees with it share a layout */
        for (int i = 0; i < pn->n_in; i++) {
            assert_int_equal(!!(pn->blocked & LT_IN(i)), p->bufs[pn->in[i]].blocked);
            if (pn->gin[i] >= 0)
                assert_int_equal(p->bufs[pn->gin[i]].blocked, p->bufs[pn->in[i]].blocked);
        }
        for (int k = 0; k < pn->n_out; k++) {
            assert_int_equal(!!(pn->blocked & LT_OUT(k)), p->bufs[pn->out[k]].blocked);
            if (pn->gout[k] >= 0)
                assert_int_equal(p->bufs[pn->gout[k]].blocked, p->bufs[pn->out[k]].blocked);
        }
        if (pn->op == LT_OP_MAX_POOL2D && p->bufs[pn->out[0]].blocked)
            assert_true(p->bufs[pn->in[0]].blocked);
        if (pn->op == LT_OP_ADD && !pn->backward && !pn->recompute)
            s->sum_blocked = p->bufs[pn->out[0]].blocked;
        if (pn->op != LT_OP_CONV2D || pn->recompute)
            continue;
        int c = 0;
        while (c < s->convs && weights_of[c] != pn->in[1])
            c++;
        if (c == s->convs) { /* its forward, first */
            assert_true(!pn->backward && s->convs < MAX_CONVS);
            weights_of[s->convs++] = pn->in[1];
            s->in_blocked[c] = p->bufs[pn->in[0]].blocked;
            s->out_blocked[c] = p->bufs[pn->out[0]].blocked;
            s->takes_in[c] = s->takes_out[c] = 1;
        }
        s->takes_in[c] &= takes_slot(p, pn, LT_IN(0));
        s->takes_out[c] &= takes_slot(p, pn, LT_OUT(0));
    }
}

/* Trains the net 4 steps into m[0] with the planner's layouts and into m[1] with every
 * tensor plain (which blocks nothing), their losses into losses[0] and [1]; returns what
 * the laid-out plan blocked. The caller frees the nets. */
static struct seen train_both_ways(enum net_kind kind, enum lt_dtype dt, int checkpoint,
                                   struct net m[2], double losses[2][4]) {
    struct seen seen[2];
    struct lt_plan_options o = {.checkpoint = checkpoint};
    for (int r = 0; r < 2; r++) {
        ctx->plain_layouts = r;
        net_build(&m[r], kind);
        net_train(ctx, &m[r], dt, &o, x_shape, 4, losses[r], inspect, &seen[r]);
    }
    ctx->plain_layouts = 0;
    assert_int_equal(seen[1].blocked_bufs, 0);
    return seen[0];
}

/* train_both_ways, the same losses and parameters bit for bit. */
static struct seen same_steps_both_ways(enum net_kind kind, enum lt_dtype dt, int checkpoint) {
    struct net m[2];
    double losses[2][4];
    struct seen seen = train_both_ways(kind, dt, checkpoint, m, losses);
    assert_same_training(&m[0], &m[1], losses[0], losses[1], 4, "laid out against plain");
    net_free(&m[0]);
    net_free(&m[1]);
    return seen;
}

/* The CNN in f32 and bf16, with and without checkpointing: each convolution's output
 * (read only by max pooling) is blocked exactly where the convolution's kernel takes it
 * (on an AVX-512 CPU both; with AVX2 oneDNN's first layer keeps its output gradient
 * plain), the second's at least on every CPU with AVX2; the steps are those of the plain
 * plan. */
static void planner_blocks_between_kernels_that_take_it(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++)
        for (int checkpoint = 0; checkpoint < 2; checkpoint++) {
            struct seen s = same_steps_both_ways(CNN, dts[t], checkpoint);
            assert_int_equal(s.convs, 2);
            for (int c = 0; c < 2; c++)
                assert_int_equal(s.out_blocked[c], s.takes_out[c]);
            if (lt_cpu_level() >= LT_CPU_AVX2)
                assert_true(s.out_blocked[1] && s.blocked_bufs > 0);
        }
}

/* A convolution's output that kernels without the layout also read (a scale, an add)
 * stays plain; the other convolution's output, read by a sigmoid and then max pooling,
 * is blocked where its kernel takes it in f32, and plain in bf16 (where the sigmoid's
 * backward sees f32 copies of its gradients); the steps are the plain plan's. */
static void tensors_other_kernels_read_stay_plain(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++) {
        struct seen s = same_steps_both_ways(OTHERS_READ, dts[t], 0);
        assert_false(s.out_blocked[0]);
        assert_int_equal(s.out_blocked[1], t == 0 && s.takes_out[1]);
    }
}

/* Two convolutions reading one blocked tensor: its gradient is the sum of their
 * backward-data results, the second added into the first's in the blocked layout; the
 * tensor is blocked where the first block's output is and both take it; their outputs,
 * added (elementwise, in their layout), are blocked where both convolutions take them;
 * the steps are the plain plan's. */
static void a_blocked_gradient_accumulates(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++) {
        struct seen s = same_steps_both_ways(TWO_READERS, dts[t], 0);
        assert_int_equal(s.convs, 3);
        assert_int_equal(s.in_blocked[1], s.in_blocked[2]);
        assert_int_equal(s.in_blocked[1], s.out_blocked[0] && s.takes_in[1] && s.takes_in[2]);
        assert_int_equal(s.out_blocked[1], s.out_blocked[2]);
        assert_int_equal(s.out_blocked[1], s.takes_out[1] && s.takes_out[2]);
    }
}

/* The CNN with batch normalisation, f32 and bf16 (batch_norm2d in f32 between casts):
 * each convolution's output, read by batch_norm2d, is blocked exactly where the
 * convolution's kernel takes it; the steps agree with the plain plan's to rounding (a
 * blocked batch norm sums each channel in another order). */
static void batch_norm_takes_the_layout(void **state) {
    (void)state;
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++) {
        struct net m[2];
        double losses[2][4];
        struct seen seen = train_both_ways(BATCH_NORM, dts[t], 0, m, losses);
        for (int c = 0; c < 2; c++)
            assert_int_equal(seen.out_blocked[c], seen.takes_out[c]);
        if (lt_cpu_level() >= LT_CPU_AVX2)
            assert_true(seen.out_blocked[1]);
        for (int st = 0; st < 4; st++)
            if (fabs(losses[0][st] - losses[1][st]) > 1e-5 * fmax(1.0, fabs(losses[1][st])))
                fail_msg("%s, step %d: loss %.9g laid out, %.9g plain", lt_dtype_name(dts[t]),
                         st, losses[0][st], losses[1][st]);
        for (int i = 0; i < m[0].n; i++)
            for (int64_t e = 0; e < lt_tensor_numel(m[0].t[i]); e++)
                if (fabs(lt_tensor_get(m[0].t[i], e) - lt_tensor_get(m[1].t[i], e)) >
                    1e-4 * fmax(1.0, fabs(lt_tensor_get(m[1].t[i], e))))
                    fail_msg("%s: tensor %d element %lld: %.9g laid out, %.9g plain",
                             lt_dtype_name(dts[t]), i, (long long)e,
                             lt_tensor_get(m[0].t[i], e), lt_tensor_get(m[1].t[i], e));
        net_free(&m[0]);
        net_free(&m[1]);
    }
}

/* A residual block ending in global average pooling: the sum and the pooling's input are
 * blocked exactly where both convolutions take their tensors (the trunk is one chain of
 * kernels that take the layout); the steps agree with the plain plan's to rounding (the
 * plain pooling sums in another order). */
static void a_residual_trunk_stays_blocked(void **state) {
    (void)state;
    struct net m[2];
    double losses[2][4];
    struct seen s = train_both_ways(RESIDUAL, LT_DTYPE_F32, 0, m, losses);
    assert_int_equal(s.sum_blocked,
                     s.takes_out[0] && s.takes_in[1] && s.takes_out[1] && s.out_blocked[0]);
    assert_int_equal(s.sum_blocked, s.out_blocked[0] && s.out_blocked[1]);
    for (int st = 0; st < 4; st++)
        if (fabs(losses[0][st] - losses[1][st]) > 1e-6 * fmax(1.0, fabs(losses[1][st])))
            fail_msg("step %d: loss %.9g laid out, %.9g plain", st, losses[0][st], losses[1][st]);
    net_free(&m[0]);
    net_free(&m[1]);
}

/* A forward program (the CNN's logits, as an evaluation plans them) with the planner's
 * layouts, blocked where the convolutions take it, and with every tensor plain: the
 * same bits. */
static void forward_programs_are_the_same(void **state) {
    (void)state;
    struct net m;
    int logits = net_build(&m, CNN);
    struct lt_tensor *x, *y, *out[2];
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, x_shape, &x));
    CHECK(ctx, lt_tensor_normal(ctx, x, 11, 0, 1));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){BATCH}, &y));
    for (int r = 0; r < 2; r++) {
        ctx->plain_layouts = r;
        struct lt_plan *p;
        CHECK(ctx, lt_plan_compile_forward(ctx, &ctx->cpu, m.g, 1, &logits, NULL, &p));
        int blocked = 0;
        for (int b = 0; b < p->n_bufs; b++)
            blocked += p->bufs[b].blocked;
        if (r == 1 || lt_cpu_level() >= LT_CPU_AVX2)
            assert_int_equal(blocked > 0, r == 0);
        lt_plan_free(p);
        struct lt_forward *f;
        CHECK(ctx, lt_forward_new(ctx, m.g, 1, &logits, &f));
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){BATCH, 5}, &out[r]));
        CHECK(ctx, lt_forward_run(f, (struct lt_tensor *[]){x, y}, &out[r], 0, 0));
        lt_forward_free(f);
    }
    ctx->plain_layouts = 0;
    for (int64_t e = 0; e < BATCH * 5; e++)
        if (lt_tensor_get(out[0], e) != lt_tensor_get(out[1], e))
            fail_msg("logit %lld: %.9g laid out, %.9g plain", (long long)e,
                     lt_tensor_get(out[0], e), lt_tensor_get(out[1], e));
    lt_tensor_free(out[0]);
    lt_tensor_free(out[1]);
    lt_tensor_free(x);
    lt_tensor_free(y);
    net_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocked_max_pool_matches_reference),
        cmocka_unit_test(max_pool_takes_only_what_it_runs),
        cmocka_unit_test(blocked_global_avg_pool_matches_reference),
        cmocka_unit_test(blocked_batch_norm_matches_reference),
        cmocka_unit_test(blocked_batch_norm_is_the_same_on_any_thread_count),
        cmocka_unit_test(blocked_conv_matches_plain),
        cmocka_unit_test(blocked_conv_pool_matches_reference),
        cmocka_unit_test(planner_blocks_between_kernels_that_take_it),
        cmocka_unit_test(tensors_other_kernels_read_stay_plain),
        cmocka_unit_test(a_blocked_gradient_accumulates),
        cmocka_unit_test(batch_norm_takes_the_layout),
        cmocka_unit_test(a_residual_trunk_stays_blocked),
        cmocka_unit_test(forward_programs_are_the_same),
    };
    int failed = cmocka_run_group_tests_name("test_layout", tests, setup, teardown);
    op_fast_backend_release();
    return failed;
}
