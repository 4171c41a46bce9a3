/* The CPU fast paths on sizes that the case tables (tests/cases_*.c) keep small for the
 * finite-difference checks: large enough to run threaded, with every vector tail. Each
 * op matches the reference (norm-wise 1e-5) with one thread and with two, and gives the
 * same bits twice with two threads, and with one thread as with two. The optimizer
 * passes match the reference bit for bit (SGD, AdamW) or to double rounding (the norm),
 * whatever the thread count; a gradient moved between dtypes is rounded once, bit for bit.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lutra.h"
#include "core/ops/ops.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/rng.h"
#include "tests/op_check.h"

static const struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
static const struct lt_pool2d_attrs k3s2p1 = {{3, 3}, {2, 2}, {1, 1}, 1};
static const struct lt_pool2d_attrs k3s2p1_exclude = {{3, 3}, {2, 2}, {1, 1}, 0};
static const struct lt_pool2d_attrs k3s1 = {{3, 3}, {1, 1}, {0, 0}, 1};
static const struct lt_scale_attrs by_minus_1_75 = {-1.75f};
static const struct lt_cast_attrs to_f32 = {LT_DTYPE_F32};
static const struct lt_concat_attrs dim0 = {0}, dim1 = {1}, last = {-1};
static const struct lt_reshape_attrs flat = {1, {-1}};
static const struct lt_permute_attrs bthd_to_bhtd = {4, {0, 2, 1, 3}};
static const struct lt_permute_attrs bthd_to_bhdt = {4, {0, 2, 3, 1}};
static const struct lt_permute_attrs reversed = {3, {2, 1, 0}}, keep = {2, {0, 1}};
static const struct lt_narrow_attrs narrow_mid = {1, 100, 900}, narrow_rows = {0, -67, 60};
static const struct lt_index_attrs index_dim0 = {0}, index_dim1 = {1};
static const struct lt_masked_fill_attrs fill_minus_2 = {-2.0f};
static const struct lt_tri_attrs tri_main = {0}, tri_above = {1};
static const struct lt_batch_norm_attrs bn_train = {.eps = 1e-5f, .momentum = 0.1f, .training = 1};
static const struct lt_batch_norm_attrs bn_eval = {.eps = 1e-5f, .momentum = 0.1f, .training = 0};
static const struct lt_layer_norm_attrs ln = {.eps = 1e-5f};
static const struct lt_dropout_attrs p_third = {.p = 1.0f / 3, .layer = 4};
static const struct lt_attention_attrs sdpa_plain = {0}, sdpa_causal = {.causal = 1};
static const struct lt_attention_attrs sdpa_causal_drop = {.causal = 1, .dropout = 0.1f,
                                                          .layer = 6};
static const struct lt_reduce_attrs red_all = {1, 0, 0}, red_last = {0, -1, 1};
static const struct lt_reduce_attrs red_dim0 = {0, 0, 0}, red_dim1 = {0, 1, 0};
static const struct lt_cross_entropy_attrs ce_plain = {0.0f, -100};
static const struct lt_cross_entropy_attrs ce_ignore_smooth = {0.1f, -1};

#define TARGETS_NO_GRAD (1u << 1)
#define IDS_NO_GRAD (1u << 1)
#define RUNNING_STATS ((1u << 3) | (1u << 4))
#define BN_INPUTS(n, c, h, w)                                                                      \
    IN_F32(4, n, c, h, w), IN_F32(1, c), IN_F32(1, c), IN_F32(1, c), IN_POSITIVE(1, c)

/* Sizes: the CNN's and MLP's at a smaller batch, and odd ones (not multiples of 16,
 * odd image sides that leave a row and a column outside every 2x2 window). Inputs of
 * more than 128 distinct values spread beyond [-1, 1]: with n of them, to about n/128. */
static const struct op_case big_cases[] = {
    OP_CASE("relu (64, 1024)", LT_OP_RELU, NULL, IN_F32(2, 64, 1024)),
    OP_CASE("relu (8, 32, 28, 28)", LT_OP_RELU, NULL, IN_F32(4, 8, 32, 28, 28)),
    OP_CASE("relu (40009,)", LT_OP_RELU, NULL, IN_DISTINCT(1, 40009)),
    OP_CASE("gelu (37, 1031) wide range", LT_OP_GELU, NULL, IN_DISTINCT(2, 37, 1031)),
    OP_CASE("gelu (5, 4099)", LT_OP_GELU, NULL, IN_F32(2, 5, 4099)),
    OP_CASE("sigmoid (37, 1031) wide range", LT_OP_SIGMOID, NULL, IN_DISTINCT(2, 37, 1031)),
    OP_CASE("sigmoid (5, 4099)", LT_OP_SIGMOID, NULL, IN_F32(2, 5, 4099)),
    OP_CASE("tanh (37, 1031) wide range", LT_OP_TANH, NULL, IN_DISTINCT(2, 37, 1031)),
    OP_CASE("tanh (5, 4099)", LT_OP_TANH, NULL, IN_F32(2, 5, 4099)),
    OP_CASE("max_pool2d 2x2 (8, 32, 28, 28)", LT_OP_MAX_POOL2D, &k2s2,
            IN_DISTINCT(4, 8, 32, 28, 28)),
    OP_CASE("max_pool2d 2x2 (4, 64, 14, 14)", LT_OP_MAX_POOL2D, &k2s2, IN_F32(4, 4, 64, 14, 14)),
    OP_CASE("max_pool2d 2x2 (3, 37, 15, 35)", LT_OP_MAX_POOL2D, &k2s2, IN_F32(4, 3, 37, 15, 35)),
    OP_CASE("max_pool2d 3x3 stride 2 padding 1 (4, 16, 33, 31)", LT_OP_MAX_POOL2D, &k3s2p1,
            IN_F32(4, 4, 16, 33, 31)),
    OP_CASE("max_pool2d 3x3 stride 1 (2, 16, 35, 37)", LT_OP_MAX_POOL2D, &k3s1,
            IN_F32(4, 2, 16, 35, 37)),
    /* planes too large for the padded copy: the loops along output rows */
    OP_CASE("max_pool2d 3x3 stride 2 padding 1 (2, 3, 67, 71)", LT_OP_MAX_POOL2D, &k3s2p1,
            IN_F32(4, 2, 3, 67, 71)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1 not counted (2, 3, 67, 71)", LT_OP_AVG_POOL2D,
            &k3s2p1_exclude, IN_F32(4, 2, 3, 67, 71)),
    OP_CASE("avg_pool2d 2x2 (3, 37, 15, 35)", LT_OP_AVG_POOL2D, &k2s2, IN_F32(4, 3, 37, 15, 35)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1 (4, 16, 33, 31)", LT_OP_AVG_POOL2D, &k3s2p1,
            IN_F32(4, 4, 16, 33, 31)),
    OP_CASE("avg_pool2d 3x3 stride 2 padding 1 not counted (4, 16, 33, 31)", LT_OP_AVG_POOL2D,
            &k3s2p1_exclude, IN_F32(4, 4, 16, 33, 31)),
    OP_CASE("avg_pool2d 3x3 stride 1 (2, 16, 35, 37)", LT_OP_AVG_POOL2D, &k3s1,
            IN_F32(4, 2, 16, 35, 37)),
    OP_CASE("global_avg_pool (16, 67, 9, 7)", LT_OP_GLOBAL_AVG_POOL, NULL, IN_F32(4, 16, 67, 9, 7)),
    OP_CASE_NO_GRAD("cross_entropy (300, 10)", LT_OP_CROSS_ENTROPY, &ce_plain, TARGETS_NO_GRAD,
                    IN_F32(2, 300, 10), IN_IDS(10, 1, 300)),
    OP_CASE_NO_GRAD("cross_entropy (257, 101) wide range, ignored rows, smoothing",
                    LT_OP_CROSS_ENTROPY, &ce_ignore_smooth, TARGETS_NO_GRAD,
                    IN_DISTINCT(2, 257, 101), IN_IDS(-101, 1, 257)),
    OP_CASE("mse (129, 1031)", LT_OP_MSE, NULL, IN_F32(2, 129, 1031), IN_F32(2, 129, 1031)),
    OP_CASE_NO_GRAD("mse (40009,) target fixed", LT_OP_MSE, NULL, TARGETS_NO_GRAD, IN_F32(1, 40009),
                    IN_F32(1, 40009)),
    OP_CASE("softmax (129, 1000)", LT_OP_SOFTMAX, NULL, IN_F32(2, 129, 1000)),
    OP_CASE("softmax (77, 1031) wide range", LT_OP_SOFTMAX, NULL, IN_DISTINCT(2, 77, 1031)),
    OP_CASE("softmax (4099, 3)", LT_OP_SOFTMAX, NULL, IN_F32(2, 4099, 3)),
    OP_CASE("log_softmax (129, 1000)", LT_OP_LOG_SOFTMAX, NULL, IN_F32(2, 129, 1000)),
    OP_CASE("log_softmax (77, 1031) wide range", LT_OP_LOG_SOFTMAX, NULL, IN_DISTINCT(2, 77, 1031)),
    OP_CASE("add bias (129, 1031) + (1031)", LT_OP_ADD, NULL, IN_F32(2, 129, 1031),
            IN_F32(1, 1031)),
    OP_CASE("add same shape (40009,)", LT_OP_ADD, NULL, IN_F32(1, 40009), IN_F32(1, 40009)),
    OP_CASE("add scalar (129, 1031)", LT_OP_ADD, NULL, IN_F32(2, 129, 1031), IN_F32(0, 0)),
    OP_CASE("sub narrow (9001, 7) - (7)", LT_OP_SUB, NULL, IN_F32(2, 9001, 7), IN_F32(1, 7)),
    OP_CASE("mul (33, 37, 41) * (37, 41)", LT_OP_MUL, NULL, IN_F32(3, 33, 37, 41),
            IN_F32(2, 37, 41)),
    OP_CASE("mul scalar (129, 1031)", LT_OP_MUL, NULL, IN_F32(2, 129, 1031), IN_F32(0, 0)),
    OP_CASE("scale (129, 1031)", LT_OP_SCALE, &by_minus_1_75, IN_F32(2, 129, 1031)),
    OP_CASE("cast f32 to f32 (129, 1031)", LT_OP_CAST, &to_f32, IN_F32(2, 129, 1031)),
    OP_CASE("reshape flat (33, 37, 41)", LT_OP_RESHAPE, &flat, IN_F32(3, 33, 37, 41)),
    OP_CASE("transpose (5, 129, 131)", LT_OP_TRANSPOSE, NULL, IN_F32(3, 5, 129, 131)),
    OP_CASE("transpose (1031, 67)", LT_OP_TRANSPOSE, NULL, IN_F32(2, 1031, 67)),
    OP_CASE("permute (B, T, H, D) -> (B, H, T, D) (5, 129, 7, 33)", LT_OP_PERMUTE, &bthd_to_bhtd,
            IN_F32(4, 5, 129, 7, 33)),
    OP_CASE("permute (B, T, H, D) -> (B, H, D, T) (3, 67, 5, 65)", LT_OP_PERMUTE, &bthd_to_bhdt,
            IN_F32(4, 3, 67, 5, 65)),
    OP_CASE("permute reversed (33, 37, 41)", LT_OP_PERMUTE, &reversed, IN_F32(3, 33, 37, 41)),
    OP_CASE("permute identity (129, 1031)", LT_OP_PERMUTE, &keep, IN_F32(2, 129, 1031)),
    OP_CASE("narrow last dim (129, 1031) [100, 1000)", LT_OP_NARROW, &narrow_mid,
            IN_F32(2, 129, 1031)),
    OP_CASE("narrow dim 0 (129, 1031) from -67", LT_OP_NARROW, &narrow_rows, IN_F32(2, 129, 1031)),
    OP_CASE_NO_GRAD("index_select rows (1031, 67) ids (2001,)", LT_OP_INDEX_SELECT, &index_dim0,
                    IDS_NO_GRAD, IN_F32(2, 1031, 67), IN_IDS(1031, 1, 2001)),
    OP_CASE_NO_GRAD("index_select dim 1 (7, 129, 41) ids (300,)", LT_OP_INDEX_SELECT, &index_dim1,
                    IDS_NO_GRAD, IN_F32(3, 7, 129, 41), IN_IDS(129, 1, 300)),
    OP_CASE_NO_GRAD("masked_fill (4, 6, 65, 65) causal-sized mask", LT_OP_MASKED_FILL,
                    &fill_minus_2, IDS_NO_GRAD, IN_F32(4, 4, 6, 65, 65), IN_MASK(2, 65, 65)),
    OP_CASE_NO_GRAD("masked_fill (129, 1031) mask (129, 1)", LT_OP_MASKED_FILL, &fill_minus_2,
                    IDS_NO_GRAD, IN_F32(2, 129, 1031), IN_MASK(2, 129, 1)),
    OP_CASE("triu (5, 129, 131)", LT_OP_TRIU, &tri_main, IN_F32(3, 5, 129, 131)),
    OP_CASE("tril diagonal 1 (5, 131, 129)", LT_OP_TRIL, &tri_above, IN_F32(3, 5, 131, 129)),
    OP_CASE("concat dim 0", LT_OP_CONCAT, &dim0, IN_F32(2, 129, 131), IN_F32(2, 67, 131)),
    OP_CASE("concat dim 1", LT_OP_CONCAT, &dim1, IN_F32(3, 33, 17, 41), IN_F32(3, 33, 29, 41),
            IN_F32(3, 33, 1, 41)),
    OP_CASE_NO_GRAD("concat last dim, middle input no grad", LT_OP_CONCAT, &last, 1u << 1,
                    IN_F32(2, 1031, 13), IN_F32(2, 1031, 3), IN_F32(2, 1031, 29)),
    OP_CASE_NO_GRAD("batch_norm2d train (8, 32, 28, 28)", LT_OP_BATCH_NORM2D, &bn_train,
                    RUNNING_STATS, BN_INPUTS(8, 32, 28, 28)),
    OP_CASE_NO_GRAD("batch_norm2d train (5, 3, 67, 71)", LT_OP_BATCH_NORM2D, &bn_train,
                    RUNNING_STATS, BN_INPUTS(5, 3, 67, 71)),
    OP_CASE_NO_GRAD("batch_norm2d eval (7, 19, 17, 13)", LT_OP_BATCH_NORM2D, &bn_eval,
                    RUNNING_STATS, BN_INPUTS(7, 19, 17, 13)),
    OP_CASE("layer_norm (129, 1031)", LT_OP_LAYER_NORM, &ln, IN_F32(2, 129, 1031), IN_F32(1, 1031),
            IN_F32(1, 1031)),
    OP_CASE("layer_norm (3, 41, 333)", LT_OP_LAYER_NORM, &ln, IN_F32(3, 3, 41, 333), IN_F32(1, 333),
            IN_F32(1, 333)),
    OP_CASE("dropout (129, 1031)", LT_OP_DROPOUT, &p_third, IN_F32(2, 129, 1031)),
    OP_CASE("dropout (3, 40009)", LT_OP_DROPOUT, &p_third, IN_F32(2, 3, 40009)),
    /* lengths across several query (32) and key (64) blocks, no multiple of either */
    OP_CASE("attention causal (2, 3, 200, 64)", LT_OP_SCALED_DOT_PRODUCT_ATTENTION, &sdpa_causal,
            IN_F32(4, 2, 3, 200, 64), IN_F32(4, 2, 3, 200, 64), IN_F32(4, 2, 3, 200, 64)),
    OP_CASE("attention Tq 129, Tk 77, D 40, Dv 24", LT_OP_SCALED_DOT_PRODUCT_ATTENTION,
            &sdpa_plain, IN_F32(4, 2, 4, 129, 40), IN_F32(4, 2, 4, 77, 40),
            IN_F32(4, 2, 4, 77, 24)),
    OP_CASE("attention causal dropout 0.1 (2, 2, 150, 32)", LT_OP_SCALED_DOT_PRODUCT_ATTENTION,
            &sdpa_causal_drop, IN_F32(4, 2, 2, 150, 32), IN_F32(4, 2, 2, 150, 32),
            IN_F32(4, 2, 2, 150, 32)),
    OP_CASE_NO_GRAD("embedding (1031, 67) ids (33, 41)", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD,
                    IN_F32(2, 1031, 67), IN_IDS(1031, 2, 33, 41)),
    OP_CASE_NO_GRAD("embedding (7, 333) ids (2001,): repeats", LT_OP_EMBEDDING, NULL, IDS_NO_GRAD,
                    IN_F32(2, 7, 333), IN_IDS(7, 1, 2001)),
    OP_CASE("sum all (129, 1031)", LT_OP_SUM, &red_all, IN_F32(2, 129, 1031)),
    OP_CASE("sum last keepdim (129, 1031)", LT_OP_SUM, &red_last, IN_F32(2, 129, 1031)),
    OP_CASE("sum dim 1 (7, 129, 1031)", LT_OP_SUM, &red_dim1, IN_F32(3, 7, 129, 1031)),
    OP_CASE("mean dim 0 (129, 1031)", LT_OP_MEAN, &red_dim0, IN_F32(2, 129, 1031)),
    OP_CASE("mean all (40009,)", LT_OP_MEAN, &red_all, IN_F32(1, 40009)),
    OP_CASE("max last keepdim (4099, 10)", LT_OP_MAX, &red_last, IN_F32(2, 4099, 10)),
    OP_CASE("max dim 0 (129, 1031)", LT_OP_MAX, &red_dim0, IN_DISTINCT(2, 129, 1031)),
    OP_CASE("argmax last (4099, 10)", LT_OP_ARGMAX, &red_last, IN_F32(2, 4099, 10)),
    OP_CASE("argmax all (40009,)", LT_OP_ARGMAX, &red_all, IN_DISTINCT(1, 40009)),
};
#define N_BIG (int)(sizeof big_cases / sizeof big_cases[0])

static struct lt_backend fast;

static int setup(void **state) {
    (void)state;
    char msg[LT_KMSG_SIZE] = "";
    if (lt_cpu_backend_init(&fast, msg) != LT_OK) {
        fprintf(stderr, "the fast CPU backend did not start: %s\n", msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    lt_backend_release(&fast);
    omp_set_num_threads(2);
    return 0;
}

static void matches_reference_one_and_two_threads(void **state) {
    (void)state;
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (int i = 0; i < N_BIG; i++)
            op_compare_case(&big_cases[i], &fast, 1e-5);
    }
}

static void same_bits_twice_with_two_threads(void **state) {
    (void)state;
    for (int i = 0; i < N_BIG; i++)
        op_repeat_case(&big_cases[i], &fast, (const int[]){2, 2});
}

/* Stronger than the promise (same thread count, same bits), and what these kernels do:
 * every sum runs in an order fixed by the sizes alone. */
static void same_bits_with_one_and_two_threads(void **state) {
    (void)state;
    for (int i = 0; i < N_BIG; i++)
        op_repeat_case(&big_cases[i], &fast, (const int[]){1, 2});
}

/* n values uniform in [-scale, scale), from stream `key` */
static float *random_floats(int64_t n, uint64_t key, float scale) {
    float *p = malloc((size_t)n * sizeof(float));
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++)
        p[i] = scale * (2.0f * lt_rng_uniform(key, (uint64_t)i) - 1.0f);
    return p;
}

/* ---- bf16 paths, on every bit pattern ---------------------------------------------------- */

/* Runs op's forward (backward when gout is not NULL) kernel of backend b; out holds the
 * op's outputs (max pooling's two). */
static void run_kernel(const struct lt_backend *b, enum lt_op op, const void *attrs,
                       struct lt_kview *in, struct lt_kview *out, struct lt_kview *gout,
                       struct lt_kview *gin, unsigned accumulate) {
    const struct lt_kernel *k = &b->kernels[op][in->dtype];
    struct lt_exec_info exec = {0};
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kargs a = {.attrs = attrs,
                         .n_in = 1,
                         .n_out = lt_op_descs[op].n_out,
                         .in = {in},
                         .gout = {gout},
                         .gin = {gin},
                         .accumulate = accumulate,
                         .exec = &exec,
                         .msg = msg};
    for (int o = 0; o < a.n_out; o++)
        a.out[o] = &out[o];
    assert_non_null(gout ? k->backward : k->forward);
    assert_int_equal(gout ? k->backward(&a) : k->forward(&a), LT_OK);
}

static void assert_same_bytes(const struct lt_kview *a, const struct lt_kview *b, size_t elem,
                              const char *what) {
    const unsigned char *p = a->data, *q = b->data;
    for (int64_t i = 0; i < lt_kview_numel(a); i++)
        if (memcmp(p + (size_t)i * elem, q + (size_t)i * elem, elem))
            fail_msg("%s: element %lld differs from the reference", what, (long long)i);
}

/* A pooling case of the tests below: x's shape, the windows, x's dtype. */
struct pool_case {
    int64_t x[4];
    const struct lt_pool2d_attrs *at;
    enum lt_dtype dt;
};

/* Padded windows whose in-image elements are all -inf (every plane -inf but for a few
 * elements): the fast paths' maxima and codes are the reference's, the code naming the
 * first in-image element and never the padding (whose gradient would land outside the
 * plane), and so are the gradients, overwriting and accumulating: small planes (the
 * padded copy) and a wide one (vector columns and edge windows). */
static void max_pool_windows_of_negative_infinity_match_reference(void **state) {
    (void)state;
    static const struct lt_pool2d_attrs k2s2p1 = {{2, 2}, {2, 2}, {1, 1}, 1};
    static const struct pool_case cases[] = {
        {{2, 3, 5, 7}, &k3s2p1, LT_DTYPE_F32},
        {{2, 2, 6, 6}, &k2s2p1, LT_DTYPE_F32},
        {{1, 2, 9, 70}, &k3s2p1, LT_DTYPE_F32},
    };
    for (int s = 0; s < 3; s++) {
        struct lt_kview x = kv_new(LT_DTYPE_F32, 4, cases[s].x), y[2], yf[2];
        int64_t n = lt_kview_numel(&x);
        for (int64_t e = 0; e < n; e++)
            ((float *)x.data)[e] = e % 23 == 5 ? (float)(e % 7) - 3.0f : -INFINITY;
        op_forward(LT_OP_MAX_POOL2D, cases[s].at, 1, &x, y);
        for (int o = 0; o < 2; o++)
            yf[o] = kv_new(y[o].dtype, 4, y[o].shape);
        run_kernel(&fast, LT_OP_MAX_POOL2D, cases[s].at, &x, yf, NULL, NULL, 0);
        assert_same_bytes(&yf[0], &y[0], sizeof(float), "max_pool2d of -inf");
        assert_same_bytes(&yf[1], &y[1], 1, "max_pool2d's codes of -inf");
        struct lt_kview gy = kv_new(LT_DTYPE_F32, 4, y[0].shape);
        for (int64_t e = 0; e < lt_kview_numel(&gy); e++)
            ((float *)gy.data)[e] = 2.0f * lt_rng_uniform(lt_rng_key(12, 0, 0, 0), (uint64_t)e) - 1;
        for (unsigned acc = 0; acc < 2; acc++) {
            struct lt_kview gx[2];
            for (int b = 0; b < 2; b++) {
                gx[b] = kv_new(LT_DTYPE_F32, 4, x.shape);
                for (int64_t e = 0; e < n; e++)
                    ((float *)gx[b].data)[e] = acc ? 0.5f : NAN;
            }
            run_kernel(&fast, LT_OP_MAX_POOL2D, cases[s].at, &x, yf, &gy, &gx[1], acc);
            assert_int_equal(op_run_backward(LT_OP_MAX_POOL2D, cases[s].at, 1, &x, y, &gy, &gx[0],
                                             acc, NULL, NULL),
                             LT_OK);
            assert_floats_near(gx[1].data, gx[0].data, n, 1e-6);
            kv_free(&gx[0]);
            kv_free(&gx[1]);
        }
        kv_free(&gy);
        for (int o = 0; o < 2; o++) {
            kv_free(&y[o]);
            kv_free(&yf[o]);
        }
        kv_free(&x);
    }
}

/* A forward whose codes nothing reads gets them with data NULL (the planner's unread
 * outputs) and writes the pooled values alone: the reference's, on every path (2x2
 * windows in f32 and, by planes, bf16; a padded small plane; a wide plane; a window too
 * large for byte codes). */
static void max_pool_without_codes_matches_reference(void **state) {
    (void)state;
    static const struct lt_pool2d_attrs k17 = {{17, 17}, {3, 5}, {8, 8}, 1};
    static const struct pool_case cases[] = {
        {{2, 3, 6, 30}, &k2s2, LT_DTYPE_F32},  {{3, 40, 28, 28}, &k2s2, LT_DTYPE_BF16},
        {{2, 3, 5, 7}, &k3s2p1, LT_DTYPE_F32}, {{1, 2, 9, 70}, &k3s1, LT_DTYPE_F32},
        {{1, 2, 18, 21}, &k17, LT_DTYPE_F32},
    };
    for (int s = 0; s < 5; s++) {
        struct lt_kview x32 = kv_new(LT_DTYPE_F32, 4, cases[s].x), y[2], yf[2];
        for (int64_t e = 0; e < lt_kview_numel(&x32); e++)
            ((float *)x32.data)[e] =
                2.0f * lt_rng_uniform(lt_rng_key(13, 0, 0, 0), (uint64_t)e) - 1;
        struct lt_kview x = kv_convert(&x32, cases[s].dt);
        op_forward(LT_OP_MAX_POOL2D, cases[s].at, 1, &x, y);
        yf[0] = kv_new(y[0].dtype, 4, y[0].shape);
        yf[1] = y[1];
        yf[1].data = NULL;
        run_kernel(&fast, LT_OP_MAX_POOL2D, cases[s].at, &x, yf, NULL, NULL, 0);
        assert_same_bytes(&yf[0], &y[0], lt_dtype_bytes(cases[s].dt), "max_pool2d without codes");
        kv_free(&yf[0]);
        kv_free(&y[0]);
        kv_free(&y[1]);
        kv_free(&x);
        kv_free(&x32);
    }
}

/* Max pooling's 2x2 windows where they tie and hold NaNs (x drawn from -1, 0, 1 and NaN):
 * the fast forward's values and argmax codes are the reference's bit for bit (the first
 * maximum in window order, a NaN beating every number), and so is the gradient through
 * them, overwriting and accumulating, in f32 and bf16 (gradients in the tensors' dtype);
 * rows of 15 windows (one AVX-512 row), of 4 with an uncovered last row and column, of 17
 * (the dispatched walk), and 120 planes of 28 x 28 (bf16 widens them a few at a time). */
static void max_pool_ties_and_nans_match_reference(void **state) {
    (void)state;
    static const int64_t shapes[4][4] = {
        {2, 3, 6, 30}, {2, 2, 5, 9}, {1, 2, 4, 34}, {3, 40, 28, 28}};
    const float values[4] = {-1.0f, 0.0f, 1.0f, NAN};
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 4; s++) {
            struct lt_kview x32 = kv_new(LT_DTYPE_F32, 4, shapes[s]), y[2], yf[2], gx[2];
            int64_t n = lt_kview_numel(&x32);
            uint64_t key = lt_rng_key(8, (uint64_t)s, 0, 0);
            for (int64_t e = 0; e < n; e++)
                ((float *)x32.data)[e] = values[(int)(lt_rng_uniform(key, (uint64_t)e) * 4) & 3];
            struct lt_kview x = kv_convert(&x32, dts[t]);
            op_forward(LT_OP_MAX_POOL2D, &k2s2, 1, &x, y);
            for (int o = 0; o < 2; o++)
                yf[o] = kv_new(y[o].dtype, 4, y[o].shape);
            run_kernel(&fast, LT_OP_MAX_POOL2D, &k2s2, &x, yf, NULL, NULL, 0);
            assert_same_bytes(&yf[0], &y[0], lt_dtype_bytes(dts[t]), "max_pool2d");
            assert_same_bytes(&yf[1], &y[1], 1, "max_pool2d's codes");
            struct lt_kview gy32 = kv_new(LT_DTYPE_F32, 4, y[0].shape);
            for (int64_t e = 0; e < lt_kview_numel(&gy32); e++)
                ((float *)gy32.data)[e] =
                    2.0f * lt_rng_uniform(lt_rng_key(10, 0, 0, 0), (uint64_t)e) - 1;
            struct lt_kview gy = kv_convert(&gy32, dts[t]);
            for (unsigned acc = 0; acc < 2; acc++) {
                for (int b = 0; b < 2; b++) {
                    struct lt_kview start = kv_new(LT_DTYPE_F32, 4, x.shape);
                    for (int64_t e = 0; acc && e < n; e++)
                        ((float *)start.data)[e] = 0.5f;
                    gx[b] = kv_convert(&start, dts[t]);
                    kv_free(&start);
                    if (b)
                        run_kernel(&fast, LT_OP_MAX_POOL2D, &k2s2, &x, yf, &gy, &gx[b], acc);
                    else /* with the workspace a half reference asks for */
                        assert_int_equal(op_run_backward(LT_OP_MAX_POOL2D, &k2s2, 1, &x, y, &gy,
                                                         &gx[b], acc, NULL, NULL),
                                         LT_OK);
                }
                assert_same_bytes(&gx[1], &gx[0], lt_dtype_bytes(dts[t]),
                                  acc ? "max_pool2d accumulated gradient" : "max_pool2d gradient");
                kv_free(&gx[0]);
                kv_free(&gx[1]);
            }
            kv_free(&gy);
            kv_free(&gy32);
            for (int o = 0; o < 2; o++) {
                kv_free(&y[o]);
                kv_free(&yf[o]);
            }
            kv_free(&x);
            kv_free(&x32);
        }
}

/* Whether two half values are the same or neighbours (one rounding apart): both NaN, or
 * patterns of the same sign at most one apart. */
static int half_neighbours(uint16_t a, uint16_t b, enum lt_dtype dt) {
    uint16_t exp = dt == LT_DTYPE_F16 ? 0x7c00 : 0x7f80;
    int nan_a = (a & 0x7fff) > exp, nan_b = (b & 0x7fff) > exp;
    if (nan_a || nan_b)
        return nan_a && nan_b;
    if ((a ^ b) & 0x8000)
        return (a & 0x7fff) + (b & 0x7fff) <= 1; /* +0 and -0, or the smallest either side */
    return abs((int)a - (int)b) <= 1;
}

/* An activation (relu, gelu) on every bit pattern of a half dtype: the forward is the
 * reference's bits; the fast kernel takes half gradients, the reference f32 ones holding
 * the same values, and its gradient is the reference's rounded once to dt: the same bits
 * (relu) or (gelu, whose derivative is rounded to f32 before the product) the same or a
 * neighbour, overwriting; adding onto the overwritten gradient negated, where the sums
 * cancel, gelu's is within 2^-21 of that gradient (the f32 derivative's rounding). */
static void half_activation_matches_reference(enum lt_op op, enum lt_dtype dt, const uint16_t *bits,
                                              const float *g) {
    const struct lt_backend *ref = op_ref_backend();
    const char *name = lt_op_descs[op].name, *type = dt == LT_DTYPE_F16 ? "f16" : "bf16";
    int64_t n = 65536;
    struct lt_kview x = kv_half(dt, n, bits), y[2], gx[2];
    for (int b = 0; b < 2; b++) {
        y[b] = kv_half(dt, n, bits);
        run_kernel(b ? &fast : ref, op, NULL, &x, &y[b], NULL, NULL, 0);
    }
    for (int64_t i = 0; i < n; i++)
        if (((uint16_t *)y[1].data)[i] != ((uint16_t *)y[0].data)[i])
            fail_msg("%s %s at 0x%04x differs from the reference", type, name, (unsigned)bits[i]);
    struct lt_kview g32 = kv_f32(1, &n, g), gout[2];
    gout[1] = kv_convert(&g32, dt);
    gout[0] = kv_convert(&gout[1], LT_DTYPE_F32);
    struct lt_kview base = kv_half(dt, n, bits); /* what adding adds onto */
    for (unsigned acc = 0; acc < 2; acc++) {
        for (int b = 0; b < 2; b++) {
            gx[b] = kv_convert(&base, b ? dt : LT_DTYPE_F32);
            run_kernel(b ? &fast : ref, op, NULL, &x, &y[0], &gout[b], &gx[b], acc);
        }
        struct lt_kview rounded = kv_convert(&gx[0], dt), wide = kv_convert(&gx[1], LT_DTYPE_F32);
        struct lt_kview want_wide = kv_convert(&rounded, LT_DTYPE_F32);
        const uint16_t *got = gx[1].data, *want = rounded.data;
        uint16_t *onto = base.data;
        for (int64_t i = 0; i < n; i++) {
            float d = fabsf(((float *)wide.data)[i] - ((float *)want_wide.data)[i]);
            float v = dt == LT_DTYPE_F16 ? lt_f16_to_f32(onto[i]) : lt_bf16_to_f32(onto[i]);
            float bound = ldexpf(fabsf(v), -21);
            int ok = op == LT_OP_RELU ? got[i] == want[i]
                                      : half_neighbours(got[i], want[i], dt) || (acc && d <= bound);
            if (!ok)
                fail_msg("%s %s %sgradient at x = 0x%04x: 0x%04x, the reference 0x%04x", type, name,
                         acc ? "added " : "", (unsigned)bits[i], (unsigned)got[i],
                         (unsigned)want[i]);
            if (!acc) /* the next pass adds onto this gradient negated */
                onto[i] = want[i] ^ 0x8000u;
        }
        kv_free(&rounded);
        kv_free(&wide);
        kv_free(&want_wide);
        kv_free(&gx[0]);
        kv_free(&gx[1]);
    }
    kv_free(&base);
    kv_free(&g32);
    kv_free(&gout[0]);
    kv_free(&gout[1]);
    kv_free(&x);
    kv_free(&y[0]);
    kv_free(&y[1]);
}

static void half_paths_match_reference_bit_for_bit(void **state) {
    (void)state;
    const struct lt_backend *ref = op_ref_backend();
    uint16_t *bits = malloc(65536 * sizeof(uint16_t));
    assert_non_null(bits);
    for (int i = 0; i < 65536; i++)
        bits[i] = (uint16_t)i;
    omp_set_num_threads(2);
    float *g = random_floats(65536, 41, 1.0f);
    int64_t n = 65536;
    const enum lt_op activations[2] = {LT_OP_RELU, LT_OP_GELU};
    for (int o = 0; o < 2; o++) {
        half_activation_matches_reference(activations[o], LT_DTYPE_BF16, bits, g);
        half_activation_matches_reference(activations[o], LT_DTYPE_F16, bits, g);
    }
    struct lt_kview x = kv_half(LT_DTYPE_BF16, 65536, bits);
    /* bf16 -> f32, then f32 -> bf16 from every bf16 with each kind of lower half (exact,
     * below, at and above the halfway point, odd and even) */
    static const struct lt_cast_attrs to_bf16 = {LT_DTYPE_BF16};
    struct lt_kview wide[2];
    for (int b = 0; b < 2; b++) {
        wide[b] = kv_new(LT_DTYPE_F32, 1, &n);
        run_kernel(b ? &fast : ref, LT_OP_CAST, &to_f32, &x, &wide[b], NULL, NULL, 0);
    }
    assert_same_bytes(&wide[1], &wide[0], 4, "cast bf16 to f32");
    static const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    int64_t m = 65536 * 6;
    struct lt_kview f = kv_new(LT_DTYPE_F32, 1, &m), narrow[2];
    for (int64_t i = 0; i < m; i++)
        ((uint32_t *)f.data)[i] = (uint32_t)(i / 6) << 16 | lows[i % 6];
    for (int b = 0; b < 2; b++) {
        narrow[b] = kv_new(LT_DTYPE_BF16, 1, &m);
        run_kernel(b ? &fast : ref, LT_OP_CAST, &to_bf16, &f, &narrow[b], NULL, NULL, 0);
    }
    assert_same_bytes(&narrow[1], &narrow[0], 2, "cast f32 to bf16");
    /* the same both ways for f16: every pattern to f32, and the f32 set above to f16 */
    static const struct lt_cast_attrs to_f16 = {LT_DTYPE_F16};
    struct lt_kview xh = kv_half(LT_DTYPE_F16, 65536, bits), wide16[2], narrow16[2];
    for (int b = 0; b < 2; b++) {
        wide16[b] = kv_new(LT_DTYPE_F32, 1, &n);
        run_kernel(b ? &fast : ref, LT_OP_CAST, &to_f32, &xh, &wide16[b], NULL, NULL, 0);
        narrow16[b] = kv_new(LT_DTYPE_F16, 1, &m);
        run_kernel(b ? &fast : ref, LT_OP_CAST, &to_f16, &f, &narrow16[b], NULL, NULL, 0);
    }
    assert_same_bytes(&wide16[1], &wide16[0], 4, "cast f16 to f32");
    assert_same_bytes(&narrow16[1], &narrow16[0], 2, "cast f32 to f16");
    for (int b = 0; b < 2; b++) {
        kv_free(&wide16[b]);
        kv_free(&narrow16[b]);
    }
    kv_free(&xh);
    /* the 2-byte transpose: all but one pattern as (3, 21845) and (21845, 3) */
    for (int shape = 0; shape < 2; shape++) {
        struct lt_kview t[2], sq = x;
        sq.ndim = 2;
        sq.shape[0] = shape ? 21845 : 3;
        sq.shape[1] = 65535 / sq.shape[0];
        for (int b = 0; b < 2; b++) {
            t[b] = kv_new(LT_DTYPE_BF16, 2, (int64_t[]){sq.shape[1], sq.shape[0]});
            run_kernel(b ? &fast : ref, LT_OP_TRANSPOSE, NULL, &sq, &t[b], NULL, NULL, 0);
        }
        assert_same_bytes(&t[1], &t[0], 2, "bf16 transpose");
        kv_free(&t[0]);
        kv_free(&t[1]);
    }
    for (int b = 0; b < 2; b++) {
        kv_free(&wide[b]);
        kv_free(&narrow[b]);
    }
    kv_free(&f);
    kv_free(&x);
    free(g);
    free(bits);
}

/* ---- the optimizer passes ---------------------------------------------------------------- */

static float *copy_floats(const float *src, int64_t n) {
    float *p = malloc((size_t)n * sizeof(float));
    assert_non_null(p);
    memcpy(p, src, (size_t)n * sizeof(float));
    return p;
}

static void assert_same_floats(const float *a, const float *b, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)))
            fail_msg("%s: element %lld is %.9g, the reference %.9g", what, (long long)i,
                     (double)a[i], (double)b[i]);
}

/* A prime count: no multiple of any vector width or thread share. */
#define N_PARAMS 200003

static void sgd_matches_reference_bit_for_bit(void **state) {
    (void)state;
    const struct lt_update_kernels *ref = &op_ref_backend()->update, *vec = &fast.update;
    struct {
        float momentum, dampening, weight_decay;
        int nesterov;
    } configs[] = {{0, 0, 0, 0},
                   {0, 0, 0.01f, 0},
                   {0.9f, 0, 0, 0},
                   {0.9f, 0.1f, 0.001f, 0},
                   {0.9f, 0, 0.001f, 1}};
    float *g = random_floats(N_PARAMS, 11, 3.0f);
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++)
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            float *p[2], *m[2];
            for (int b = 0; b < 2; b++) {
                p[b] = random_floats(N_PARAMS, 12, 1.0f);
                m[b] = random_floats(N_PARAMS, 13, 0.1f);
            }
            /* a first step, then a second one that reads the buffer */
            for (int step = 0; step < 2; step++)
                for (int b = 0; b < 2; b++)
                    (b ? vec : ref)
                        ->sgd(NULL, p[b], g, m[b], N_PARAMS, 0.25f, 0.1f, configs[c].momentum,
                              configs[c].dampening, configs[c].weight_decay, configs[c].nesterov,
                              step == 0);
            assert_same_floats(p[1], p[0], N_PARAMS, "sgd parameters");
            assert_same_floats(m[1], m[0], N_PARAMS, "sgd momentum");
            for (int b = 0; b < 2; b++) {
                free(p[b]);
                free(m[b]);
            }
        }
    free(g);
}

static void adamw_matches_reference_bit_for_bit(void **state) {
    (void)state;
    const struct lt_update_kernels *ref = &op_ref_backend()->update, *vec = &fast.update;
    float *g = random_floats(N_PARAMS, 21, 3.0f);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        float *p[2], *m[2], *v[2];
        float *p0 = random_floats(N_PARAMS, 22, 1.0f);
        for (int b = 0; b < 2; b++) {
            p[b] = copy_floats(p0, N_PARAMS);
            m[b] = calloc(N_PARAMS, sizeof(float));
            v[b] = calloc(N_PARAMS, sizeof(float));
            assert_true(m[b] && v[b]);
        }
        for (int64_t step = 1; step <= 3; step++)
            for (int b = 0; b < 2; b++)
                (b ? vec : ref)
                    ->adamw(NULL, p[b], g, m[b], v[b], N_PARAMS, 0.5f, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f,
                            step);
        assert_same_floats(p[1], p[0], N_PARAMS, "adamw parameters");
        assert_same_floats(m[1], m[0], N_PARAMS, "adamw first moments");
        assert_same_floats(v[1], v[0], N_PARAMS, "adamw second moments");
        for (int b = 0; b < 2; b++) {
            free(p[b]);
            free(m[b]);
            free(v[b]);
        }
        free(p0);
    }
    free(g);
}

static void grad_norm_matches_reference(void **state) {
    (void)state;
    const struct lt_update_kernels *ref = &op_ref_backend()->update, *vec = &fast.update;
    float *g = random_floats(N_PARAMS, 31, 2.0f);
    double want, got[2];
    int want_ok, ok;
    ref->grad_norm(NULL, g, N_PARAMS, 0.5f, &want, &want_ok);
    assert_true(want_ok);
    for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        vec->grad_norm(NULL, g, N_PARAMS, 0.5f, &got[threads - 1], &ok);
        assert_true(ok);
        /* double sums of one set of terms in two orders */
        assert_true(fabs(got[threads - 1] - want) <= 1e-12 * want);
    }
    /* fixed chunks: the thread count does not change the bits */
    assert_memory_equal(&got[0], &got[1], sizeof(double));
    /* every kind of non-finite value, wherever it is, and an overflow of the factor */
    const float bad[] = {INFINITY, -INFINITY, NAN};
    const int64_t at[] = {0, 17, N_PARAMS / 2, N_PARAMS - 1};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
            float saved = g[at[k]];
            g[at[k]] = bad[b];
            vec->grad_norm(NULL, g, N_PARAMS, 0.5f, &got[0], &ok);
            assert_false(ok);
            g[at[k]] = saved;
        }
    g[5] = 3e38f;
    vec->grad_norm(NULL, g, N_PARAMS, 2.0f, &got[0], &ok);
    ref->grad_norm(NULL, g, N_PARAMS, 2.0f, &want, &want_ok);
    assert_false(ok);
    assert_false(want_ok);
    vec->grad_norm(NULL, g, 0, 1.0f, &got[0], &ok);
    assert_true(ok && got[0] == 0.0);
    free(g);
}

/* The value of element i of a buffer of float dtype dt, widened exactly. */
static float load_as_f32(enum lt_dtype dt, const void *p, int64_t i) {
    if (dt == LT_DTYPE_F32)
        return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == LT_DTYPE_BF16 ? lt_bf16_to_f32(h) : lt_f16_to_f32(h);
}

/* lt_grad_move for every pair of float dtypes, overwriting and adding, on a length that
 * crosses its chunks and the vector tails: each result is the f32 sum (or the value)
 * rounded once to the destination's dtype, bit for bit. */
static void grad_moves_round_once(void **state) {
    (void)state;
    enum { N = 2 * 2048 + 37 }; /* past two of its chunks (LT_HALF_CHUNK, kernels/cpu/vec.h) */
    const enum lt_dtype dts[3] = {LT_DTYPE_F32, LT_DTYPE_BF16, LT_DTYPE_F16};
    float src[N], old[N];
    uint64_t key = lt_rng_key(11, 2, 0, 0);
    for (int64_t i = 0; i < N; i++) {
        src[i] = 8 * lt_rng_uniform(key, (uint64_t)i) - 4;
        old[i] = 8 * lt_rng_uniform(key, (uint64_t)(i + N)) - 4;
    }
    for (int f = 0; f < 3; f++)
        for (int t = 0; t < 3; t++)
            for (int acc = 0; acc < 2; acc++) {
                struct lt_kview g = kv_f32(1, (int64_t[]){N}, src),
                                x = kv_f32(1, (int64_t[]){N}, old);
                struct lt_kview gh = kv_convert(&g, dts[f]), xh = kv_convert(&x, dts[t]);
                struct lt_kview want = kv_new(dts[t], 1, (int64_t[]){N});
                for (int64_t i = 0; i < N; i++) {
                    float v = load_as_f32(dts[f], gh.data, i);
                    if (acc)
                        v += load_as_f32(dts[t], xh.data, i);
                    lt_elem_store(&want, i, v);
                }
                lt_grad_move(dts[f], gh.data, dts[t], xh.data, N, acc);
                if (memcmp(xh.data, want.data, (size_t)N * lt_dtype_bytes(dts[t])))
                    fail_msg("lt_grad_move %s to %s%s differs from the value rounded once",
                             lt_dtype_name(dts[f]), lt_dtype_name(dts[t]), acc ? ", adding" : "");
                kv_free(&g);
                kv_free(&x);
                kv_free(&gh);
                kv_free(&xh);
                kv_free(&want);
            }
}

/* The array conversions (F16C where the CPU has it) give the scalar conversions' bits:
 * every f16 pattern one way; the other way every f16's f32 value, its neighbours one ulp
 * either side, the midpoints between f16s, specials and NaNs with payloads, and a
 * million random patterns. Odd lengths take the vector loop's tail too. */
static void f16_array_conversions_match_scalar(void **state) {
    (void)state;
    enum { N = 65536 * 4 + 1000000 + 7 };
    uint16_t *h = malloc(N * sizeof *h), *h2 = malloc(N * sizeof *h2);
    float *f = malloc(N * sizeof *f);
    uint32_t *bits = malloc(N * sizeof *bits);
    assert_non_null(h && h2 && f && bits);
    for (uint32_t i = 0; i < 65536; i++)
        h[i] = (uint16_t)i;
    lt_f16_to_f32_n(h, f, 65536);
    for (uint32_t i = 0; i < 65536; i++) {
        uint32_t got, want;
        float w = lt_f16_to_f32((uint16_t)i);
        memcpy(&got, &f[i], 4);
        memcpy(&want, &w, 4);
        if (got != want)
            fail_msg("f16 %#06x: %#010x, scalar %#010x", i, got, want);
    }
    int64_t n = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint32_t b;
        float v = lt_f16_to_f32((uint16_t)i);
        memcpy(&b, &v, 4);
        bits[n++] = b;
        bits[n++] = b + 1;
        bits[n++] = b - 1;
        bits[n++] = b + 0x1000u; /* halfway to the next f16 (13 dropped bits) */
    }
    uint64_t key = lt_rng_key(7, 1, 2, 3);
    while (n < N)
        bits[n] = (uint32_t)(lt_mix64(key + (uint64_t)n) >> 17), n++;
    bits[N - 1] = 0x7fa00001u; /* a signalling NaN with a payload */
    bits[N - 2] = 0xffc12345u;
    memcpy(f, bits, N * sizeof *f);
    lt_f32_to_f16_n(f, h, N);
    for (int64_t i = 0; i < N; i++)
        h2[i] = lt_f32_to_f16(f[i]);
    for (int64_t i = 0; i < N; i++)
        if (h[i] != h2[i])
            fail_msg("f32 %#010x: %#06x, scalar %#06x", bits[i], h[i], h2[i]);
    free(h);
    free(h2);
    free(f);
    free(bits);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_reference_one_and_two_threads),
        cmocka_unit_test(same_bits_twice_with_two_threads),
        cmocka_unit_test(same_bits_with_one_and_two_threads),
        cmocka_unit_test(half_paths_match_reference_bit_for_bit),
        cmocka_unit_test(max_pool_ties_and_nans_match_reference),
        cmocka_unit_test(max_pool_windows_of_negative_infinity_match_reference),
        cmocka_unit_test(max_pool_without_codes_matches_reference),
        cmocka_unit_test(f16_array_conversions_match_scalar),
        cmocka_unit_test(grad_moves_round_once),
        cmocka_unit_test(sgd_matches_reference_bit_for_bit),
        cmocka_unit_test(adamw_matches_reference_bit_for_bit),
        cmocka_unit_test(grad_norm_matches_reference),
    };
    return cmocka_run_group_tests_name("fastpaths", tests, setup, teardown);
}
