/* scaled_dot_product_attention: values by hand; forward and backward against the unfused
 * composition (matmul, scale, causal mask, softmax, dropout, matmul, computed here in
 * double) on the reference and the fast kernels, in f32 and bf16; shape errors; a plan
 * that keeps O(T) per row for the backward where the composition keeps (T, T); mixed
 * precision running the op in half with an f32 lse. The case table (gradients by finite
 * differences, fast against reference) is tests/cases_attention.c, run by test_ops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ops/ops.h"
#include "kernels/rng.h"
#include "tests/op_check.h"
#include "tests/train_util.h"

#define SDPA LT_OP_SCALED_DOT_PRODUCT_ATTENTION
#define OK(call) CHECK(ctx, call)

SUITE_CONTEXT

static const struct lt_exec_info exec = {.seed = 77, .epoch = 2, .sample_base = 40};

/* Runs backend be's kernel forward (gout NULL) or backward, with the workspace it asks
 * for; asserts that it succeeds. */
static void call(const struct lt_backend *be, const struct lt_attention_attrs *at,
                 const struct lt_kview *in, struct lt_kview *out, const struct lt_kview *gout,
                 struct lt_kview *gin) {
    const struct lt_kernel *k = &be->kernels[SDPA][in[0].dtype];
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kargs a = {
        .attrs = at, .n_in = 3, .n_out = 2, .exec = &exec, .msg = msg, .impl = be->impl};
    for (int i = 0; i < 3; i++)
        a.in[i] = &in[i];
    for (int i = 0; i < 2; i++)
        a.out[i] = &out[i];
    int backward = gout != NULL;
    if (backward) {
        a.gout[0] = gout;
        for (int i = 0; i < 3; i++)
            a.gin[i] = &gin[i];
    }
    a.workspace_size = k->workspace ? k->workspace(&a, backward) : 0;
    a.workspace = aligned_alloc(64, (a.workspace_size + 63) / 64 * 64 + 64);
    assert_non_null(a.workspace);
    enum lt_status st = backward ? k->backward(&a) : k->forward(&a);
    free(a.workspace);
    if (st != LT_OK)
        fail_msg("attention %s on %s failed (%d): %s", backward ? "backward" : "forward", be->info,
                 st, msg);
}

/* Output views for q (.., tq, d) and v (.., tk, dv) of dtype dt. */
static void new_outputs(const struct lt_kview *in, struct lt_kview *out) {
    int nd = in[0].ndim;
    int64_t shape[LT_MAX_DIMS];
    memcpy(shape, in[0].shape, sizeof shape);
    shape[nd - 1] = in[2].shape[nd - 1];
    out[0] = kv_new(in[0].dtype, nd, shape);
    out[1] = kv_new(LT_DTYPE_F32, nd - 1, shape);
}

static void single_key_gives_its_value(void **state) {
    (void)state;
    const struct lt_attention_attrs at = {0};
    struct lt_kview in[3] = {kv_f32(3, (int64_t[]){1, 2, 2}, (float[]){1, 2, -3, 0.5f}),
                             kv_f32(3, (int64_t[]){1, 1, 2}, (float[]){0.25f, -1}),
                             kv_f32(3, (int64_t[]){1, 1, 3}, (float[]){4, -5, 6})};
    struct lt_kview out[2];
    op_forward(SDPA, &at, 3, in, out);
    assert_floats_near(out[0].data, (float[]){4, -5, 6, 4, -5, 6}, 6, 1e-6);
    /* one key: lse is the scaled score itself, (1 * 0.25 + 2 * -1) / sqrt(2) and
     * (-3 * 0.25 + 0.5 * -1) / sqrt(2) */
    float s = 1 / sqrtf(2);
    assert_floats_near(out[1].data, (float[]){-1.75f * s, -1.25f * s}, 2, 1e-6);
    for (int i = 0; i < 3; i++)
        kv_free(&in[i]);
    kv_free(&out[0]);
    kv_free(&out[1]);
}

/* ---- the composition, in double ------------------------------------------------------------ */

struct problem {
    int64_t b, h, tq, tk, d, dv;
    struct lt_attention_attrs at;
};

struct composed {
    double *o, *lse, *gq, *gk, *gv;
};

static float elem(const struct lt_kview *v, int64_t i) {
    if (v->dtype == LT_DTYPE_BF16)
        return lt_bf16_to_f32(((const uint16_t *)v->data)[i]);
    return ((const float *)v->data)[i];
}

/* S = scale q k^T with masked entries -inf, P = softmax(S), Pd = P * keep / (1 - p),
 * out = Pd v; dPd = dout v^T, dP = dPd * keep / (1 - p), dS = softmax's backward of dP,
 * dq = scale dS k, dk = scale dS^T q, dv = Pd^T dout. */
static struct composed compose(const struct problem *pr, const struct lt_kview *in,
                               const float *dout) {
    int64_t bh = pr->b * pr->h, tq = pr->tq, tk = pr->tk, d = pr->d, dv = pr->dv;
    double scale = pr->at.scale != 0 ? pr->at.scale : 1 / sqrt((double)d);
    struct composed c = {calloc((size_t)(bh * tq * dv), 8), calloc((size_t)(bh * tq), 8),
                         calloc((size_t)(bh * tq * d), 8), calloc((size_t)(bh * tk * d), 8),
                         calloc((size_t)(bh * tk * dv), 8)};
    double *p = malloc((size_t)(tq * tk) * 8), *pd = malloc((size_t)(tq * tk) * 8);
    double *ds = malloc((size_t)(tq * tk) * 8);
    for (int64_t b = 0; b < bh; b++) {
        for (int64_t i = 0; i < tq; i++) {
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < tk; j++) {
                double s = 0;
                for (int64_t x = 0; x < d; x++)
                    s += (double)elem(&in[0], (b * tq + i) * d + x) *
                         elem(&in[1], (b * tk + j) * d + x);
                p[i * tk + j] = pr->at.causal && j > i ? -INFINITY : s * scale;
                m = fmax(m, p[i * tk + j]);
            }
            for (int64_t j = 0; j < tk; j++)
                sum += exp(p[i * tk + j] - m);
            c.lse[b * tq + i] = m + log(sum);
            for (int64_t j = 0; j < tk; j++) {
                p[i * tk + j] = exp(p[i * tk + j] - m) / sum;
                double kp = 1;
                if (pr->at.dropout > 0)
                    kp = lt_dropout_keep(exec.seed, pr->at.layer, exec.epoch,
                                         exec.sample_base + b / pr->h,
                                         ((b % pr->h) * tq + i) * tk + j, pr->at.dropout)
                             ? 1 / (1 - (double)pr->at.dropout)
                             : 0;
                pd[i * tk + j] = p[i * tk + j] * kp;
                double dpd = 0;
                for (int64_t x = 0; x < dv; x++) {
                    c.o[(b * tq + i) * dv + x] +=
                        pd[i * tk + j] * elem(&in[2], (b * tk + j) * dv + x);
                    dpd +=
                        (double)dout[(b * tq + i) * dv + x] * elem(&in[2], (b * tk + j) * dv + x);
                }
                ds[i * tk + j] = dpd * kp; /* dP, made dS below */
            }
            double dot = 0;
            for (int64_t j = 0; j < tk; j++)
                dot += p[i * tk + j] * ds[i * tk + j];
            for (int64_t j = 0; j < tk; j++)
                ds[i * tk + j] = p[i * tk + j] * (ds[i * tk + j] - dot);
        }
        for (int64_t i = 0; i < tq; i++)
            for (int64_t j = 0; j < tk; j++) {
                for (int64_t x = 0; x < d; x++) {
                    c.gq[(b * tq + i) * d + x] +=
                        scale * ds[i * tk + j] * elem(&in[1], (b * tk + j) * d + x);
                    c.gk[(b * tk + j) * d + x] +=
                        scale * ds[i * tk + j] * elem(&in[0], (b * tq + i) * d + x);
                }
                for (int64_t x = 0; x < dv; x++)
                    c.gv[(b * tk + j) * dv + x] += pd[i * tk + j] * dout[(b * tq + i) * dv + x];
            }
    }
    free(p);
    free(pd);
    free(ds);
    return c;
}

static void composed_free(struct composed *c) {
    free(c->o);
    free(c->lse);
    free(c->gq);
    free(c->gk);
    free(c->gv);
}

/* ||got - want|| / ||want|| <= tol, naming what. */
static void assert_close(const char *what, const struct lt_kview *got, const double *want,
                         double tol) {
    double diff = 0, norm = 0;
    for (int64_t e = 0; e < lt_kview_numel(got); e++) {
        double g = elem(got, e);
        diff += (g - want[e]) * (g - want[e]);
        norm += want[e] * want[e];
    }
    double rel = sqrt(diff) / fmax(sqrt(norm), 1e-30);
    if (!(rel <= tol))
        fail_msg("%s: relative error %.3g > %.3g", what, rel, tol);
}

/* The problem's q, k, v (uniform in [-1, 1), rounded to dt), dout, and the op's
 * outputs and gradients on backend be, all against the composition. */
static void check_against_composition(const struct problem *pr, const struct lt_backend *be,
                                      enum lt_dtype dt, double tol) {
    int64_t dims[3][4] = {{pr->b, pr->h, pr->tq, pr->d},
                          {pr->b, pr->h, pr->tk, pr->d},
                          {pr->b, pr->h, pr->tk, pr->dv}};
    struct lt_kview in[3], out[2], gin[3];
    for (int i = 0; i < 3; i++) {
        struct lt_kview f = kv_new(LT_DTYPE_F32, 4, dims[i]);
        float *p = f.data;
        for (int64_t e = 0; e < lt_kview_numel(&f); e++)
            p[e] = 2 * lt_rng_uniform(lt_rng_key(5, (uint64_t)i, 0, 0), (uint64_t)e) - 1;
        in[i] = kv_convert(&f, dt);
        gin[i] = kv_new(LT_DTYPE_F32, 4, dims[i]);
        kv_free(&f);
    }
    new_outputs(in, out);
    struct lt_kview gout = kv_new(LT_DTYPE_F32, 4, out[0].shape);
    float *g = gout.data;
    for (int64_t e = 0; e < lt_kview_numel(&gout); e++)
        g[e] = 2 * lt_rng_uniform(lt_rng_key(6, 0, 0, 0), (uint64_t)e) - 1;
    struct composed want = compose(pr, in, g);
    call(be, &pr->at, in, out, NULL, NULL);
    call(be, &pr->at, in, out, &gout, gin);
    assert_close("out", &out[0], want.o, tol);
    assert_close("lse", &out[1], want.lse, 1e-6);
    assert_close("dq", &gin[0], want.gq, tol);
    assert_close("dk", &gin[1], want.gk, tol);
    assert_close("dv", &gin[2], want.gv, tol);
    composed_free(&want);
    for (int i = 0; i < 3; i++) {
        kv_free(&in[i]);
        kv_free(&gin[i]);
    }
    kv_free(&out[0]);
    kv_free(&out[1]);
    kv_free(&gout);
}

/* Causal and not, Tq == Tk across several blocks, Tq != Tk, dropout, explicit scale; few
 * heads and many. */
static const struct problem problems[] = {
    {2, 3, 37, 37, 19, 19, {0}},
    {2, 3, 37, 37, 19, 19, {.causal = 1}},
    {1, 2, 100, 100, 16, 8, {.causal = 1}},
    {2, 2, 29, 70, 8, 12, {.scale = 0.2f}},
    {2, 2, 40, 40, 8, 8, {.causal = 1, .dropout = 0.2f, .layer = 3}},
    /* 32 heads and more: the fast backward's one task per head */
    {8, 4, 70, 70, 16, 16, {.causal = 1}},
    {4, 8, 29, 70, 8, 12, {.scale = 0.2f}},
    {4, 8, 40, 40, 8, 8, {.causal = 1, .dropout = 0.2f, .layer = 3}},
    {4, 8, 40, 70, 8, 12, {.causal = 1}},
    {4, 8, 70, 40, 12, 8, {.causal = 1}},
};
#define N_PROBLEMS (int)(sizeof problems / sizeof problems[0])

static void f32_equals_composition(void **state) {
    (void)state;
    for (int i = 0; i < N_PROBLEMS; i++) {
        check_against_composition(&problems[i], op_ref_backend(), LT_DTYPE_F32, 1e-5);
        check_against_composition(&problems[i], op_fast_backend(), LT_DTYPE_F32, 1e-5);
    }
}

/* bf16 inputs, composed in double from the same rounded values: only the output's
 * rounding to bf16 (and the backward's use of that rounded output) differ. */
static void bf16_equals_composition(void **state) {
    (void)state;
    for (int i = 0; i < N_PROBLEMS; i++) {
        check_against_composition(&problems[i], op_ref_backend(), LT_DTYPE_BF16, 1e-2);
        check_against_composition(&problems[i], op_fast_backend(), LT_DTYPE_BF16, 1e-2);
    }
}

static void shape_errors(void **state) {
    (void)state;
    const struct lt_attention_attrs at = {0};
    struct lt_kview q = {NULL, LT_DTYPE_F32, 4, {2, 3, 5, 8}};
    struct lt_kview k = q, v = q;
    k.shape[3] = 7;
    op_infer_fails(SDPA, &at, 3, (struct lt_kview[]){q, k, v},
                   "scaled_dot_product_attention: q (2, 3, 5, 8), k (2, 3, 5, 7), v (2, 3, 5, 8): "
                   "q's last dim 8 and k's 7 differ");
    k = q;
    v.shape[2] = 6;
    op_infer_fails(SDPA, &at, 3, (struct lt_kview[]){q, k, v}, "k has 5 keys but v has 6 values");
    v = q;
    k.shape[1] = 4;
    op_infer_fails(SDPA, &at, 3, (struct lt_kview[]){q, k, v},
                   "the leading dims (before the last two) differ");
    k = q;
    k.ndim = 3;
    op_infer_fails(SDPA, &at, 3, (struct lt_kview[]){q, k, v},
                   "want q (..., Tq, D), k (..., Tk, D) and v (..., Tk, Dv) with the same "
                   "count of dims");
    k = q;
    v.dtype = LT_DTYPE_BF16;
    op_infer_fails(SDPA, &at, 3, (struct lt_kview[]){q, k, v},
                   "scaled_dot_product_attention: input 3 is bf16 but input 1 is f32");
    v = q;
    const struct lt_attention_attrs bad_p = {.dropout = 1};
    op_infer_fails(SDPA, &bad_p, 3, (struct lt_kview[]){q, k, v},
                   "dropout must be in [0, 1), got 1");
    const struct lt_attention_attrs bad_scale = {.scale = INFINITY};
    op_infer_fails(SDPA, &bad_scale, 3, (struct lt_kview[]){q, k, v},
                   "scale must be a finite number, got inf");
    struct lt_kview q2 = {NULL, LT_DTYPE_F32, 2, {5, 8}};
    const struct lt_attention_attrs drop = {.dropout = 0.1f};
    op_infer_fails(SDPA, &drop, 3, (struct lt_kview[]){q2, q2, q2}, "dropout needs a batch dim");

    /* out (..., Tq, Dv) in q's dtype, lse (..., Tq) in f32 */
    struct lt_kview hq = {NULL, LT_DTYPE_BF16, 4, {2, 3, 5, 8}}, hk = hq, hv = hq, out[2];
    hk.shape[2] = hv.shape[2] = 9;
    hv.shape[3] = 4;
    char msg[LT_KMSG_SIZE] = "";
    assert_int_equal(lt_op_descs[SDPA].infer(&at, 3, (struct lt_kview[]){hq, hk, hv}, out, msg),
                     LT_OK);
    assert_int_equal(out[0].dtype, LT_DTYPE_BF16);
    assert_int_equal(out[0].ndim, 4);
    assert_int_equal(out[0].shape[2], 5);
    assert_int_equal(out[0].shape[3], 4);
    assert_int_equal(out[1].dtype, LT_DTYPE_F32);
    assert_int_equal(out[1].ndim, 3);
    assert_int_equal(out[1].shape[2], 5);
}

/* The half kernels against their reference on the case table's inputs rounded to the
 * half type: both round the same f32 or double result once, and the fast path sums in f32
 * where the reference sums in double. */
static void half_fast_matches_reference(void **state) {
    (void)state;
    const enum lt_dtype halves[2] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < attention_case_count; i++)
            op_compare_case_as(&attention_cases[i], op_fast_backend(), halves[h],
                               op_half_tol(halves[h], 4096));
}

/* ---- plans --------------------------------------------------------------------------------- */

enum { B = 1, H = 2, T = 256, D = 16 };

/* q, k and v parameters (B, H, T, D) and a target input; the attention fused or composed
 * (matmul, scale, softmax, matmul) into an mse loss. Returns the loss value; *sdpa gets
 * the fused node's two outputs. */
static int attention_graph(struct lt_graph *g, struct lt_tensor **own, int fused, int *sdpa) {
    int64_t shape[4] = {B, H, T, D};
    int qkv[3], y, h, loss;
    for (int i = 0; i < 3; i++) {
        OK(lt_tensor_new(ctx, LT_DTYPE_F32, 4, shape, &own[i]));
        OK(lt_tensor_uniform(ctx, own[i], (uint64_t)i, -1, 1));
        OK(lt_graph_param(g, own[i], NULL, 0, &qkv[i]));
    }
    OK(lt_graph_input(g, LT_DTYPE_F32, 4, shape, "y", &y));
    if (fused) {
        struct lt_attention_attrs at = {0};
        OK(lt_graph_op(g, SDPA, 3, qkv, &at, sdpa));
        h = sdpa[0];
    } else {
        struct lt_scale_attrs sc = {1 / sqrtf(D)};
        OK(lt_graph_op(g, LT_OP_TRANSPOSE, 1, &qkv[1], NULL, &h));
        OK(lt_graph_op(g, LT_OP_MATMUL, 2, (int[]){qkv[0], h}, NULL, &h));
        OK(lt_graph_op(g, LT_OP_SCALE, 1, &h, &sc, &h));
        OK(lt_graph_op(g, LT_OP_SOFTMAX, 1, &h, NULL, &h));
        OK(lt_graph_op(g, LT_OP_MATMUL, 2, (int[]){h, qkv[2]}, NULL, &h));
    }
    OK(lt_graph_op(g, LT_OP_MSE, 2, (int[]){h, y}, NULL, &loss));
    return loss;
}

/* The fused op keeps q, k, v (parameters here), its output and the rows' lse: the
 * activations are out (B, H, T, D) and lse (B, H, T) in f32, where the composition keeps
 * the (B, H, T, T) probabilities too. */
static void plan_keeps_o_of_t_per_row(void **state) {
    (void)state;
    struct lt_mem_report r[2];
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    for (int fused = 0; fused < 2; fused++) {
        struct lt_graph *g;
        struct lt_tensor *own[3];
        int sdpa[2];
        OK(lt_graph_new(ctx, &g));
        int loss = attention_graph(g, own, fused, sdpa);
        struct lt_plan *p;
        OK(lt_plan_new(ctx, g, loss, &opt, &p));
        lt_plan_report(p, &r[fused]);
        lt_plan_free(p);
        lt_graph_free(g);
        for (int i = 0; i < 3; i++)
            lt_tensor_free(own[i]);
    }
    size_t out = B * H * T * D * 4, lse = B * H * T * 4, probs = (size_t)B * H * T * T * 4;
    printf("activations: fused %zu B, composed %zu B\n", r[1].bytes[LT_MEM_ACTIVATIONS],
           r[0].bytes[LT_MEM_ACTIVATIONS]);
    assert_int_equal(r[1].bytes[LT_MEM_ACTIVATIONS], out + lse);
    assert_true(r[0].bytes[LT_MEM_ACTIVATIONS] >= probs);
}

/* Under bf16 mixed precision the op reads and writes bf16 (its kernels accumulate in
 * f32), and its lse stays f32. */
static void mixed_precision_runs_in_half_with_f32_lse(void **state) {
    (void)state;
    struct lt_graph *g, *mixed;
    struct lt_tensor *own[3];
    int sdpa[2];
    OK(lt_graph_new(ctx, &g));
    int loss = attention_graph(g, own, 1, sdpa);
    int *map = malloc((size_t)lt_graph_value_count(g) * sizeof *map);
    assert_non_null(map);
    OK(lt_graph_mixed(ctx, g, LT_DTYPE_BF16, &mixed, map));
    enum lt_dtype dt;
    int64_t shape[LT_MAX_DIMS];
    assert_int_equal(lt_graph_value_shape(mixed, map[sdpa[0]], &dt, shape), 4);
    assert_int_equal(dt, LT_DTYPE_BF16);
    assert_int_equal(lt_graph_value_shape(mixed, map[sdpa[1]], &dt, shape), 3);
    assert_int_equal(dt, LT_DTYPE_F32);
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.1f);
    struct lt_plan *p;
    OK(lt_plan_new(ctx, mixed, map[loss], &opt, &p));
    lt_plan_free(p);
    lt_graph_free(mixed);
    free(map);
    lt_graph_free(g);
    for (int i = 0; i < 3; i++)
        lt_tensor_free(own[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_key_gives_its_value),
        cmocka_unit_test(f32_equals_composition),
        cmocka_unit_test(bf16_equals_composition),
        cmocka_unit_test(half_fast_matches_reference),
        cmocka_unit_test(shape_errors),
        cmocka_unit_test(plan_keeps_o_of_t_per_row),
        cmocka_unit_test(mixed_precision_runs_in_half_with_f32_lse),
    };
    int rc = cmocka_run_group_tests_name("attention", tests, setup, teardown);
    op_fast_backend_release();
    return rc;
}
