/* bench_step: training-step throughput of lutra on two reference models, through the
 * public C API only, and the bare oneDNN GEMM rate on the MLP's shapes for comparison.
 *
 *   MLP  784-1024-1024-10 (ReLU)
 *   CNN  conv(1->32,3,p1)-relu-maxpool2-conv(32->64,3,p1)-relu-maxpool2
 *        -linear(3136->128)-relu-linear(128->10)
 *
 * Batch 128, cross-entropy, SGD with momentum 0.9, synthetic data (normal inputs, uniform
 * labels: throughput does not depend on the values). In bf16 the graph casts the input
 * and every parameter to bf16 before each linear/conv, keeps activations in bf16 and
 * casts the logits back to f32 before the loss. A model/precision whose plan has no
 * kernel for some op is reported as unavailable, with the planner's message.
 *
 * Each configuration: warm-up steps, then `repeats` timed runs of several steps each;
 * the reported step time is the median run's. GFLOP/s counts the GEMM/conv work a step
 * needs: per layer the forward, the backward weights and the backward data, except the
 * first layer's backward data (no one needs the image's gradient). That is 9.56 MFLOP
 * per sample for the MLP (2 x (3 x (784*1024 + 1024*1024 + 1024*10) - 784*1024)) and
 * 25.0 for the CNN.
 *
 * The bare GEMM part times, through a oneDNN matmul primitive with plain row-major
 * layouts, each GEMM one MLP step needs (forward, backward data except the input
 * layer's, backward weights). Its sum is the step's GEMM time at the library's rate;
 * "share" is that time over the measured step time. Built with ONEDNN=0 it is skipped.
 *
 * Usage: bench_step [--threads N] [--model mlp|cnn|all] [--precision fp32|bf16|all]
 *                   [--batch N] [--warmup N] [--repeats N] [--min-time S] [--budget S]
 *                   [--no-gemm] [--checkpoint] [--json]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef LT_ONEDNN
#include <dnnl.h>
#endif

#include "core/lutra.h"

#define MAX_PARAMS 8
#define N_BATCHES 4 /* distinct synthetic batches, cycled */
#define N_CLASSES 10

enum model { MODEL_MLP, MODEL_CNN, MODEL_WIDE_CNN, MODEL_COUNT };
/* tf32: the f32 graph with TF32 products (GPU); fp16 runs with a static loss scale */
enum precision { PREC_FP32, PREC_BF16, PREC_TF32, PREC_FP16, PREC_COUNT };

static const char *const model_names[MODEL_COUNT] = {"mlp", "cnn", "wide_cnn"};
static const char *const prec_names[PREC_COUNT] = {"fp32", "bf16", "tf32", "fp16"};

struct options {
    const char *device;
    int threads, batch, warmup, repeats, json, gemm, verbose, profile, nondeterministic, graphs;
    int checkpoint; /* activation checkpointing, the planner choosing the segments */
    double min_time; /* seconds each timed run lasts at least */
    double budget;   /* seconds one configuration may take, warm-up included */
    int models[MODEL_COUNT], precs[PREC_COUNT];
};

/* One model as a graph, its parameter tensors and its nominal work. */
struct net {
    struct lt_graph *g;
    int x, y, loss;
    struct lt_tensor *params[MAX_PARAMS];
    int n_params;
    double step_flop; /* GEMM/conv FLOPs one sample costs a training step */
};

/* Graph building with the first failure kept: later calls do nothing, so a builder
 * reads as the model's layers and is checked once at the end. */
struct builder {
    struct lt_ctx *ctx;
    struct net *net;
    enum lt_dtype dt; /* the dtype linear and conv compute in */
    int64_t batch;
    enum lt_status st;
    int layers; /* linear/conv layers added so far */
};

/* Median-based timing of one configuration. */
struct timing {
    double ms_median, ms_min, ms_max;
    double mem_mib; /* the trainer's device memory: measured on a GPU, planned on the CPU */
    double activations_mib; /* planned */
    int warmup, repeats, steps_per_repeat, skipped;
    double loss; /* of the last step: a sanity check that the step computes something */
};

/* ---- small helpers -------------------------------------------------------------------- */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0 .. n-1] (sorts v). n >= 1. */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Writes s as a JSON string body: the messages we print are plain ASCII, but a quote
 * or a backslash in one must not break the line. */
static void json_str(const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar((unsigned char)*s < 0x20 ? ' ' : *s);
    }
}

/* ---- models ------------------------------------------------------------------------- */

static int op(struct builder *b, enum lt_op o, int n_in, const int *in, const void *attrs) {
    int out[LT_MAX_OUTPUTS] = {-1};
    if (b->st == LT_OK)
        b->st = lt_graph_op(b->net->g, o, n_in, in, attrs, out);
    return out[0];
}

/* v in the compute dtype (a cast node when that is not f32). */
static int compute(struct builder *b, int v) {
    if (b->dt == LT_DTYPE_F32)
        return v;
    struct lt_cast_attrs c = {b->dt};
    return op(b, LT_OP_CAST, 1, &v, &c);
}

/* A parameter of `shape`, PyTorch's default init U(-bound, bound), seen by the graph in
 * the compute dtype. */
static int param(struct builder *b, int ndim, const int64_t *shape, double bound,
                 const char *name) {
    struct net *n = b->net;
    if (b->st != LT_OK)
        return -1;
    if (n->n_params == MAX_PARAMS) {
        b->st = LT_EINVAL;
        return -1;
    }
    struct lt_tensor *t;
    int v = -1;
    if ((b->st = lt_tensor_new(b->ctx, LT_DTYPE_F32, ndim, shape, &t)) != LT_OK)
        return -1;
    n->params[n->n_params++] = t;
    b->st = lt_tensor_uniform(b->ctx, t, (uint64_t)n->n_params, -bound, bound);
    if (b->st == LT_OK)
        b->st = lt_graph_param(n->g, t, name, 0, &v);
    return compute(b, v);
}

/* Adds a linear/conv layer's training work, given its forward FLOPs per sample: the
 * backward weights costs as much, and so does the backward data but for the first layer,
 * which reads the graph's input. */
static void count_flop(struct builder *b, double fwd) {
    b->net->step_flop += (b->layers++ == 0 ? 2 : 3) * fwd;
}

/* h (batch, in) -> linear -> (batch, out) */
static int linear(struct builder *b, int h, int64_t in, int64_t out, const char *name) {
    double bound = 1.0 / sqrt((double)in);
    int w = param(b, 2, (int64_t[]){out, in}, bound, name);
    int bias = param(b, 1, (int64_t[]){out}, bound, name);
    count_flop(b, 2.0 * (double)in * (double)out);
    return op(b, LT_OP_LINEAR, 3, (int[]){h, w, bias}, NULL);
}

/* h (batch, c, hw, hw) -> conv 3x3, padding 1 -> (batch, o, hw, hw) */
static int conv3x3(struct builder *b, int h, int64_t c, int64_t o, int64_t hw, const char *name) {
    double bound = 1.0 / sqrt((double)(c * 9));
    int w = param(b, 4, (int64_t[]){o, c, 3, 3}, bound, name);
    int bias = param(b, 1, (int64_t[]){o}, bound, name);
    struct lt_conv2d_attrs at = {{1, 1}, {1, 1}, {1, 1}, 1};
    count_flop(b, 2.0 * (double)(o * hw * hw) * (double)(c * 9));
    return op(b, LT_OP_CONV2D, 3, (int[]){h, w, bias}, &at);
}

static int relu(struct builder *b, int h) {
    return op(b, LT_OP_RELU, 1, &h, NULL);
}

static int maxpool2(struct builder *b, int h) {
    struct lt_pool2d_attrs at = {{2, 2}, {2, 2}, {0, 0}, 0};
    return op(b, LT_OP_MAX_POOL2D, 1, &h, &at);
}

/* The logits (in the compute dtype) -> f32 -> cross-entropy against y. */
static void loss(struct builder *b, int logits) {
    struct lt_cast_attrs f32 = {LT_DTYPE_F32};
    if (b->dt != LT_DTYPE_F32)
        logits = op(b, LT_OP_CAST, 1, &logits, &f32);
    struct lt_cross_entropy_attrs ce = {0, -100};
    b->net->loss = op(b, LT_OP_CROSS_ENTROPY, 2, (int[]){logits, b->net->y}, &ce);
}

static void build_mlp(struct builder *b) {
    struct net *n = b->net;
    if (b->st == LT_OK)
        b->st = lt_graph_input(n->g, LT_DTYPE_F32, 2, (int64_t[]){b->batch, 784}, "x", &n->x);
    if (b->st == LT_OK)
        b->st = lt_graph_input(n->g, LT_DTYPE_I32, 1, (int64_t[]){b->batch}, "y", &n->y);
    int h = compute(b, n->x);
    h = relu(b, linear(b, h, 784, 1024, "fc1"));
    h = relu(b, linear(b, h, 1024, 1024, "fc2"));
    loss(b, linear(b, h, 1024, N_CLASSES, "fc3"));
}

/* conv(1->c1)-relu-maxpool2-conv(c1->c2)-relu-maxpool2-linear(c2*49->hidden)-relu
 * -linear(hidden->10): the CNN (32, 64, 128), and the wide CNN (128, 256, 512) that is
 * bound by arithmetic on a GPU, where the small models are bound by launches. */
static void build_cnn(struct builder *b, int64_t c1, int64_t c2, int64_t hidden) {
    struct net *n = b->net;
    if (b->st == LT_OK)
        b->st = lt_graph_input(n->g, LT_DTYPE_F32, 4, (int64_t[]){b->batch, 1, 28, 28}, "x", &n->x);
    if (b->st == LT_OK)
        b->st = lt_graph_input(n->g, LT_DTYPE_I32, 1, (int64_t[]){b->batch}, "y", &n->y);
    int h = compute(b, n->x);
    h = maxpool2(b, relu(b, conv3x3(b, h, 1, c1, 28, "conv1")));   /* (B, c1, 14, 14) */
    h = maxpool2(b, relu(b, conv3x3(b, h, c1, c2, 14, "conv2")));  /* (B, c2, 7, 7) */
    struct lt_reshape_attrs flat = {2, {b->batch, c2 * 7 * 7}};
    h = op(b, LT_OP_RESHAPE, 1, &h, &flat);
    h = relu(b, linear(b, h, c2 * 7 * 7, hidden, "fc1"));
    loss(b, linear(b, h, hidden, N_CLASSES, "fc2"));
}

static void net_free(struct net *n) {
    lt_graph_free(n->g);
    for (int i = 0; i < n->n_params; i++)
        lt_tensor_free(n->params[i]);
    memset(n, 0, sizeof *n);
}

/* Builds the model's graph; on failure the message is on the context. */
static enum lt_status net_build(struct lt_ctx *ctx, enum model m, enum precision p, int64_t batch,
                                struct net *n) {
    memset(n, 0, sizeof *n);
    enum lt_dtype dt = p == PREC_BF16 ? LT_DTYPE_BF16 : p == PREC_FP16 ? LT_DTYPE_F16 : LT_DTYPE_F32;
    struct builder b = {ctx, n, dt, batch, LT_OK, 0};
    b.st = lt_graph_new(ctx, &n->g);
    if (m == MODEL_MLP)
        build_mlp(&b);
    else if (m == MODEL_CNN)
        build_cnn(&b, 32, 64, 128);
    else
        build_cnn(&b, 128, 256, 512);
    if (b.st != LT_OK)
        net_free(n);
    return b.st;
}

/* ---- data and timing ---------------------------------------------------------------- */

/* N_BATCHES pairs (x f32 shaped like the graph's input, y i32 (batch) in [0, 10)). */
static enum lt_status make_batches(struct lt_ctx *ctx, const struct net *n, struct lt_tensor **xy) {
    int64_t shape[LT_MAX_DIMS];
    int ndim = lt_graph_value_shape(n->g, n->x, NULL, shape);
    int64_t batch = shape[0];
    enum lt_status st = LT_OK;
    memset(xy, 0, 2 * N_BATCHES * sizeof *xy);
    for (int k = 0; k < N_BATCHES && st == LT_OK; k++) {
        struct lt_tensor *u = NULL;
        st = lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &xy[2 * k]);
        if (st == LT_OK)
            st = lt_tensor_normal(ctx, xy[2 * k], 100 + (uint64_t)k, 0, 1);
        if (st == LT_OK)
            st = lt_tensor_new(ctx, LT_DTYPE_F32, 1, &batch, &u);
        if (st == LT_OK)
            st = lt_tensor_uniform(ctx, u, 200 + (uint64_t)k, 0, N_CLASSES);
        if (st == LT_OK)
            st = lt_tensor_to(ctx, u, LT_DTYPE_I32, &xy[2 * k + 1]); /* truncates */
        lt_tensor_free(u);
    }
    return st;
}

static enum lt_status run_steps(struct lt_trainer *tr, struct lt_tensor **xy, int64_t batch,
                                int count, int64_t *step, struct timing *t) {
    for (int i = 0; i < count; i++, (*step)++) {
        int k = (int)(*step % N_BATCHES);
        struct lt_step_input in = {1, &xy[2 * k], 0, *step * batch, NULL};
        struct lt_step_result r;
        enum lt_status st = lt_trainer_step(tr, &in, &r);
        if (st != LT_OK)
            return st;
        t->skipped += r.skipped;
        t->loss = r.loss;
    }
    return LT_OK;
}

/* Warm-up (at least one step, at most `warmup` steps or a fifth of the budget), then
 * timed runs sized from the warm-up's step time so that the whole fits the budget. */
static enum lt_status time_steps(struct lt_trainer *tr, struct lt_tensor **xy, int64_t batch,
                                 const struct options *o, struct timing *t) {
    memset(t, 0, sizeof *t);
    int64_t step = 0;
    double start = now(), last = 0;
    enum lt_status st = LT_OK;
    do {
        double t0 = now();
        if ((st = run_steps(tr, xy, batch, 1, &step, t)) != LT_OK)
            return st;
        last = now() - t0;
        t->warmup++;
    } while (t->warmup < o->warmup && now() - start < 0.2 * o->budget);
    double left = o->budget - (now() - start);
    lt_trainer_profile_reset(tr); /* the profile counts the timed steps only */
    t->steps_per_repeat = (int)ceil(o->min_time / fmax(last, 1e-6));
    if (t->steps_per_repeat < 1)
        t->steps_per_repeat = 1;
    t->repeats = o->repeats;
    while (t->repeats > 1 && t->repeats * t->steps_per_repeat * last > left) {
        if (t->steps_per_repeat > 1)
            t->steps_per_repeat--;
        else
            t->repeats--;
    }
    double ms[64];
    for (int r = 0; r < t->repeats; r++) {
        double t0 = now();
        if ((st = run_steps(tr, xy, batch, t->steps_per_repeat, &step, t)) != LT_OK)
            return st;
        ms[r] = 1e3 * (now() - t0) / t->steps_per_repeat;
    }
    t->ms_min = ms[0];
    t->ms_max = ms[0];
    for (int r = 1; r < t->repeats; r++) {
        t->ms_min = fmin(t->ms_min, ms[r]);
        t->ms_max = fmax(t->ms_max, ms[r]);
    }
    t->ms_median = median(ms, t->repeats);
    return LT_OK;
}

/* ---- the bare GEMM rate ---------------------------------------------------------------- */

#define MAX_GEMMS 9

struct gemm_result {
    double ms_per_step; /* sum over the step's GEMMs of each one's best time */
    double gflop_per_step;
    int uses_ref; /* some shape ran oneDNN's reference implementation */
    char error[160];
    int count; /* the GEMMs timed, each C (m, n) = A (m, k) B (k, n) */
    const char *name[MAX_GEMMS];
    int64_t m[MAX_GEMMS], n[MAX_GEMMS], k[MAX_GEMMS];
    double ms[MAX_GEMMS];
};

#ifdef LT_ONEDNN
/* One GEMM C (m, n) = op(A) (m, k) x op(B) (k, n), row-major; a transposed operand is
 * stored as its transpose (PyTorch's (out, in) weight in the forward). */
struct gemm_shape {
    const char *name;
    int64_t m, n, k;
    int trans_a, trans_b;
};

/* The MLP step's GEMMs at batch B: per layer (in -> out) the forward Y = X W^T, the
 * backward data dX = dY W (not for the input layer: no one needs the image's gradient)
 * and the backward weights dW = dY^T X. Returns the count written. */
static int mlp_gemms(int64_t batch, struct gemm_shape *g) {
    static const int64_t sizes[4] = {784, 1024, 1024, N_CLASSES};
    static const char *const names[3][3] = {{"fc1 fwd", "fc1 bwd_data", "fc1 bwd_w"},
                                            {"fc2 fwd", "fc2 bwd_data", "fc2 bwd_w"},
                                            {"fc3 fwd", "fc3 bwd_data", "fc3 bwd_w"}};
    int n = 0;
    for (int l = 0; l < 3; l++) {
        int64_t in = sizes[l], out = sizes[l + 1];
        g[n++] = (struct gemm_shape){names[l][0], batch, out, in, 0, 1};
        if (l > 0)
            g[n++] = (struct gemm_shape){names[l][1], batch, in, out, 0, 0};
        g[n++] = (struct gemm_shape){names[l][2], out, in, batch, 1, 0};
    }
    return n;
}

/* A matrix descriptor (rows, cols), row-major or stored transposed. */
static dnnl_status_t matrix_md(dnnl_memory_desc_t *md, int64_t rows, int64_t cols, int trans,
                               dnnl_data_type_t dt) {
    dnnl_dims_t dims = {rows, cols};
    dnnl_dims_t strides = {cols, 1};
    if (trans) {
        strides[0] = 1;
        strides[1] = rows;
    }
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

static void *filled(size_t count, dnnl_data_type_t dt) {
    size_t bytes = count * (dt == dnnl_bf16 ? 2 : 4);
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p)
        return NULL;
    if (dt == dnnl_bf16) {
        uint16_t *h = p;
        for (size_t i = 0; i < count; i++)
            h[i] = 0x3d80; /* 0.0625: no denormals, no overflow */
    } else {
        float *f = p;
        for (size_t i = 0; i < count; i++)
            f[i] = 0.0625f;
    }
    return p;
}

/* The best time in seconds of one GEMM over `repeats` runs of at least `min_time` each:
 * the rate the library reaches, which a noisy spell can only hide, never raise. */
static dnnl_status_t time_gemm(dnnl_engine_t eng, dnnl_stream_t s, const struct gemm_shape *g,
                               dnnl_data_type_t in_dt, dnnl_data_type_t out_dt, double min_time,
                               int repeats, double *sec, int *uses_ref) {
    dnnl_memory_desc_t a_md, b_md, c_md;
    dnnl_matmul_desc_t desc;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t mem[3] = {NULL, NULL, NULL};
    void *buf[3] = {filled((size_t)(g->m * g->k), in_dt), filled((size_t)(g->k * g->n), in_dt),
                    filled((size_t)(g->m * g->n), out_dt)};
    dnnl_status_t st = buf[0] && buf[1] && buf[2] ? dnnl_success : dnnl_out_of_memory;
    if (st == dnnl_success)
        st = matrix_md(&a_md, g->m, g->k, g->trans_a, in_dt);
    if (st == dnnl_success)
        st = matrix_md(&b_md, g->k, g->n, g->trans_b, in_dt);
    if (st == dnnl_success)
        st = matrix_md(&c_md, g->m, g->n, 0, out_dt);
    if (st == dnnl_success)
        st = dnnl_matmul_desc_init(&desc, &a_md, &b_md, NULL, &c_md);
    if (st == dnnl_success)
        st = dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL);
    if (st == dnnl_success)
        st = dnnl_primitive_create(&prim, pd);
    const dnnl_memory_desc_t *mds[3] = {&a_md, &b_md, &c_md};
    for (int i = 0; i < 3 && st == dnnl_success; i++)
        st = dnnl_memory_create(&mem[i], mds[i], eng, buf[i]);
    if (st == dnnl_success) {
        const char *impl = "";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        *uses_ref |= strncmp(impl, "ref", 3) == 0;
        dnnl_exec_arg_t args[3] = {
            {DNNL_ARG_SRC, mem[0]}, {DNNL_ARG_WEIGHTS, mem[1]}, {DNNL_ARG_DST, mem[2]}};
        double t0 = now();
        for (int i = 0; i < 3 && st == dnnl_success; i++) /* warm-up */
            st = dnnl_primitive_execute(prim, s, 3, args);
        dnnl_stream_wait(s);
        double one = (now() - t0) / 3;
        int calls = (int)(min_time / (one > 1e-7 ? one : 1e-7)) + 1;
        for (int r = 0; r < repeats && st == dnnl_success; r++) {
            t0 = now();
            for (int c = 0; c < calls && st == dnnl_success; c++)
                st = dnnl_primitive_execute(prim, s, 3, args);
            dnnl_stream_wait(s);
            double t = (now() - t0) / calls;
            if (r == 0 || t < *sec)
                *sec = t;
        }
    }
    for (int i = 0; i < 3; i++) {
        dnnl_memory_destroy(mem[i]);
        free(buf[i]);
    }
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* The MLP step's GEMMs in one precision: fp32 everywhere, or bf16 operands and outputs,
 * forward and backward (as lutra's bf16 step: its activation gradients are bf16, and its
 * weight gradients bf16 products that the casts' backward adds into f32). */
static int bare_gemm(enum precision p, int64_t batch, int repeats, struct gemm_result *res) {
    memset(res, 0, sizeof *res);
    dnnl_engine_t eng = NULL;
    dnnl_stream_t s = NULL;
    dnnl_status_t st = dnnl_engine_create(&eng, dnnl_cpu, 0);
    if (st == dnnl_success)
        st = dnnl_stream_create(&s, eng, dnnl_stream_default_flags);
    struct gemm_shape g[MAX_GEMMS];
    int n = mlp_gemms(batch, g);
    dnnl_data_type_t in_dt = p == PREC_BF16 ? dnnl_bf16 : dnnl_f32;
    for (int i = 0; i < n && st == dnnl_success; i++) {
        double sec = 0;
        st = time_gemm(eng, s, &g[i], in_dt, in_dt, 0.02, repeats, &sec, &res->uses_ref);
        if (st != dnnl_success)
            break;
        res->ms_per_step += 1e3 * sec;
        res->gflop_per_step += 2e-9 * (double)(g[i].m * g[i].n * g[i].k);
        res->name[i] = g[i].name;
        res->m[i] = g[i].m;
        res->n[i] = g[i].n;
        res->k[i] = g[i].k;
        res->ms[i] = 1e3 * sec;
        res->count = i + 1;
    }
    if (st == dnnl_unimplemented)
        snprintf(res->error, sizeof res->error,
                 "oneDNN %d.%d has no %s matmul for this CPU's instruction set",
                 dnnl_version()->major, dnnl_version()->minor, prec_names[p]);
    else if (st != dnnl_success)
        snprintf(res->error, sizeof res->error, "oneDNN %s matmul failed with status %d",
                 prec_names[p], (int)st);
    dnnl_stream_destroy(s);
    dnnl_engine_destroy(eng);
    return st == dnnl_success;
}
#else
static int bare_gemm(enum precision p, int64_t batch, int repeats, struct gemm_result *res) {
    (void)p;
    (void)batch;
    (void)repeats;
    memset(res, 0, sizeof *res);
    snprintf(res->error, sizeof res->error, "built without oneDNN (ONEDNN=0)");
    return 0;
}
#endif

/* ---- one configuration --------------------------------------------------------------- */

static void print_unavailable(const struct options *o, enum model m, enum precision p,
                              const char *why) {
    if (o->json) {
        printf("{\"kind\": \"step\", \"model\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
               "\"batch\": %d, \"available\": false, \"error\": \"",
               model_names[m], prec_names[p], o->threads, o->batch);
        json_str(why);
        printf("\"}\n");
    } else {
        printf("%-8s %-5s unavailable: %s\n", model_names[m], prec_names[p], why);
    }
    fflush(stdout);
}

static void print_step(const struct options *o, enum model m, enum precision p, const struct net *n,
                       const struct timing *t, const struct gemm_result *gm, int have_gemm) {
    double sps = 1e3 * o->batch / t->ms_median;
    double mflop = n->step_flop * 1e-6; /* per sample */
    double gflops = mflop * sps * 1e-3;
    double share = have_gemm ? gm->ms_per_step / t->ms_median : 0;
    if (o->json) {
        printf("{\"kind\": \"step\", \"model\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
               "\"batch\": %d, \"available\": true, \"samples_per_s\": %.1f, "
               "\"ms_per_step\": %.3f, \"ms_per_step_min\": %.3f, \"ms_per_step_max\": %.3f, "
               "\"mflop_per_sample\": %.3f, \"gflops\": %.2f, \"warmup\": %d, \"repeats\": %d, "
               "\"steps_per_repeat\": %d, \"skipped_steps\": %d, \"device\": \"%s\", "
               "\"mem_mib\": %.1f, \"activations_mib\": %.2f, \"graphs\": %s, "
               "\"deterministic\": %s, \"checkpoint\": %s",
               model_names[m], prec_names[p], o->threads, o->batch, sps, t->ms_median, t->ms_min,
               t->ms_max, mflop, gflops, t->warmup, t->repeats, t->steps_per_repeat, t->skipped,
               o->device, t->mem_mib, t->activations_mib, o->graphs ? "true" : "false",
               o->nondeterministic ? "false" : "true", o->checkpoint ? "true" : "false");
        if (isfinite(t->loss)) /* JSON has no NaN */
            printf(", \"last_loss\": %.4f", t->loss);
        else
            printf(", \"last_loss\": null");
        if (have_gemm)
            printf(", \"gemm_ms_per_step\": %.3f, \"gemm_share\": %.4f", gm->ms_per_step, share);
        printf("}\n");
    } else {
        printf("%-8s %-5s %10.1f %9.2f %9.1f %8.0f", model_names[m], prec_names[p], sps,
               t->ms_median, gflops, t->mem_mib);
        if (have_gemm)
            printf(" %11.0f%%", 100 * share);
        else
            printf(" %12s", "-");
        printf("   (%d warm-up, %d x %d steps, range %.2f-%.2f ms%s)\n", t->warmup, t->repeats,
               t->steps_per_repeat, t->ms_min, t->ms_max,
               t->skipped ? ", some steps skipped: non-finite gradients" : "");
    }
    fflush(stdout);
}

/* Each GEMM's own time: JSON lines of kind gemm_shape, or text lines with --verbose. */
static void print_gemm_shapes(const struct options *o, enum precision p,
                              const struct gemm_result *gm) {
    for (int i = 0; i < gm->count; i++) {
        double gflops = 2e-6 * (double)(gm->m[i] * gm->n[i] * gm->k[i]) / gm->ms[i];
        if (o->json)
            printf("{\"kind\": \"gemm_shape\", \"precision\": \"%s\", \"gemm\": \"%s\", "
                   "\"m\": %lld, \"n\": %lld, \"k\": %lld, \"shape_ms\": %.4f, "
                   "\"shape_gflops\": %.1f}\n",
                   prec_names[p], gm->name[i], (long long)gm->m[i], (long long)gm->n[i],
                   (long long)gm->k[i], gm->ms[i], gflops);
        else if (o->verbose)
            printf("  %-13s M=%-5lld N=%-5lld K=%-5lld %8.3f ms %7.1f GFLOP/s\n", gm->name[i],
                   (long long)gm->m[i], (long long)gm->n[i], (long long)gm->k[i], gm->ms[i],
                   gflops);
    }
}

/* Where the step's time went, by op and direction, most first (--profile). */
static void print_profile(const struct options *o, enum model m, enum precision p,
                          const struct lt_trainer *tr) {
    struct lt_node_time nodes[512];
    int n = lt_trainer_profile(tr, nodes, 512);
    if (n > 512)
        n = 512;
    struct {
        char name[48];
        double seconds;
    } ops[64];
    int n_ops = 0;
    double total = 0;
    for (int i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "%s%s", nodes[i].op, nodes[i].backward ? " (backward)" : "");
        int k = 0;
        while (k < n_ops && strcmp(ops[k].name, name))
            k++;
        if (k == n_ops && n_ops < 64) {
            snprintf(ops[n_ops].name, sizeof ops[0].name, "%s", name);
            ops[n_ops++].seconds = 0;
        }
        if (k < n_ops)
            ops[k].seconds += nodes[i].seconds;
        total += nodes[i].seconds;
    }
    for (int i = 0; i < n_ops; i++) /* most first */
        for (int j = i + 1; j < n_ops; j++)
            if (ops[j].seconds > ops[i].seconds) {
                __typeof__(ops[0]) tmp = ops[i];
                ops[i] = ops[j];
                ops[j] = tmp;
            }
    for (int i = 0; i < n_ops; i++) {
        double share = total > 0 ? ops[i].seconds / total : 0;
        if (o->json)
            printf("{\"kind\": \"profile\", \"model\": \"%s\", \"precision\": \"%s\", "
                   "\"batch\": %d, \"op\": \"%s\", \"share\": %.4f}\n",
                   model_names[m], prec_names[p], o->batch, ops[i].name, share);
        else
            printf("    %-28s %5.1f%%\n", ops[i].name, 100 * share);
    }
}

/* Builds, plans and times one model in one precision. Returns 0 when the harness itself
 * failed (not for a missing kernel: that is reported and counts as success). */
static int bench_one(struct lt_ctx *ctx, const struct options *o, enum model m, enum precision p,
                     const struct gemm_result *gm, int have_gemm) {
    struct net n;
    struct lt_plan *plan = NULL;
    struct lt_trainer *tr = NULL;
    struct lt_tensor *xy[2 * N_BATCHES] = {NULL};
    struct timing t;
    int ok = 1;
    enum lt_status st = net_build(ctx, m, p, o->batch, &n);
    if (st != LT_OK) {
        fprintf(stderr, "bench_step: building the %s %s graph: %s\n", model_names[m], prec_names[p],
                lt_ctx_error(ctx));
        return 0;
    }
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    lt_ctx_set_tf32(ctx, p == PREC_TF32);
    struct lt_plan_options po = {.checkpoint = o->checkpoint};
    st = lt_plan_new_with(ctx, n.g, n.loss, &opt, &po, &plan);
    lt_ctx_set_tf32(ctx, 0);
    if (st == LT_EUNSUPPORTED) {
        print_unavailable(o, m, p, lt_ctx_error(ctx));
        goto done;
    }
    size_t free0 = 0, free1 = 0, total, runtime;
    lt_ctx_device_memory(ctx, &free0, &total, &runtime);
    if (st == LT_OK)
        st = lt_trainer_new(ctx, plan, &tr);
    lt_ctx_device_memory(ctx, &free1, &total, &runtime);
    if (st == LT_OK && p == PREC_FP16) {
        struct lt_loss_scale scale = {128.0f, 0, 2.0f, 0.5f, 2000};
        st = lt_trainer_set_loss_scale(tr, &scale);
    }
    if (st == LT_OK)
        st = make_batches(ctx, &n, xy);
    if (st == LT_OK)
        st = time_steps(tr, xy, o->batch, o, &t);
    if (st == LT_OK) {
        struct lt_mem_report r;
        lt_plan_report(plan, &r);
        t.mem_mib = (double)(strcmp(o->device, "cpu") ? free0 - free1 : r.total) / (1 << 20);
        t.activations_mib = (double)r.bytes[LT_MEM_ACTIVATIONS] / (1 << 20);
        print_step(o, m, p, &n, &t, gm, have_gemm && m == MODEL_MLP);
        if (o->profile)
            print_profile(o, m, p, tr);
    } else {
        fprintf(stderr, "bench_step: %s %s: %s\n", model_names[m], prec_names[p],
                lt_ctx_error(ctx));
        ok = 0;
    }
done:
    for (int i = 0; i < 2 * N_BATCHES; i++)
        lt_tensor_free(xy[i]);
    lt_trainer_free(tr);
    lt_plan_free(plan);
    net_free(&n);
    return ok;
}

/* ---- options and main ------------------------------------------------------------------ */

static void usage(FILE *f) {
    fprintf(f, "usage: bench_step [options]\n"
               "  --device D           cpu, cuda or cuda:N (default cpu)\n"
               "  --threads N          CPU threads (default 2)\n"
               "  --model mlp|cnn|wide_cnn|all  which model (default mlp and cnn)\n"
               "  --precision fp32|bf16|tf32|fp16|all  (default fp32 and bf16)\n"
               "  --batch N            batch size (default 128)\n"
               "  --warmup N           warm-up steps, at most (default 10)\n"
               "  --repeats N          timed runs; the median is reported (default 5, max 64)\n"
               "  --min-time S         seconds each timed run lasts at least (default 0.4)\n"
               "  --budget S           seconds one configuration may take (default 15)\n"
               "  --no-gemm            skip the bare oneDNN GEMM timing\n"
               "  --checkpoint         activation checkpointing (segments recomputed)\n"
               "  --graphs             capture the step as CUDA graphs (GPU)\n"
               "  --nondeterministic   let cuDNN use non-deterministic algorithms (GPU)\n"
               "  --profile            also where the step's time goes, by op (each node\n"
               "                       timed alone: the step itself runs slower)\n"
               "  --verbose            also each GEMM's time (JSON: always, as gemm_shape lines)\n"
               "  --json               one JSON object per line instead of text\n");
}

static int parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return 0;
    *out = v;
    return 1;
}

/* Sets flags[i] for the name's entry among names[0 .. n-1], or all of them for "all". */
static int parse_choice(const char *s, const char *const *names, int n, int *flags) {
    for (int i = 0; i < n; i++)
        flags[i] = strcmp(s, "all") == 0 || strcmp(s, names[i]) == 0;
    for (int i = 0; i < n; i++)
        if (flags[i])
            return 1;
    return 0;
}

/* Returns 1 and fills o, -1 after printing the usage for --help, or 0 after printing
 * what was wrong. */
static int parse_options(int argc, char **argv, struct options *o) {
    *o = (struct options){.device = "cpu",
                          .threads = 2,
                          .batch = 128,
                          .warmup = 10,
                          .repeats = 5,
                          .gemm = 1,
                          .min_time = 0.4,
                          .budget = 15,
                          .models = {1, 1, 0},
                          .precs = {1, 1, 0, 0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int ok = 1, takes = 1;
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            takes = 0;
        } else if (strcmp(a, "--verbose") == 0) {
            o->verbose = 1;
            takes = 0;
        } else if (strcmp(a, "--graphs") == 0) {
            o->graphs = 1;
            takes = 0;
        } else if (strcmp(a, "--checkpoint") == 0) {
            o->checkpoint = 1;
            takes = 0;
        } else if (strcmp(a, "--nondeterministic") == 0) {
            o->nondeterministic = 1;
            takes = 0;
        } else if (strcmp(a, "--profile") == 0) {
            o->profile = 1;
            takes = 0;
        } else if (strcmp(a, "--no-gemm") == 0) {
            o->gemm = 0;
            takes = 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return -1;
        } else if (!v) {
            ok = 0;
        } else if (strcmp(a, "--device") == 0) {
            o->device = v;
        } else if (strcmp(a, "--threads") == 0) {
            ok = parse_int(v, 1, 1024, &o->threads);
        } else if (strcmp(a, "--batch") == 0) {
            ok = parse_int(v, 1, 1 << 16, &o->batch);
        } else if (strcmp(a, "--warmup") == 0) {
            ok = parse_int(v, 1, 1000000, &o->warmup);
        } else if (strcmp(a, "--repeats") == 0) {
            ok = parse_int(v, 1, 64, &o->repeats);
        } else if (strcmp(a, "--min-time") == 0) {
            ok = parse_double(v, 0, 3600, &o->min_time);
        } else if (strcmp(a, "--budget") == 0) {
            ok = parse_double(v, 0, 36000, &o->budget);
        } else if (strcmp(a, "--model") == 0) {
            ok = parse_choice(v, model_names, MODEL_COUNT, o->models);
        } else if (strcmp(a, "--precision") == 0) {
            ok = parse_choice(v, prec_names, PREC_COUNT, o->precs);
        } else {
            ok = 0;
        }
        if (!ok) {
            fprintf(stderr, "bench_step: bad option '%s%s%s'\n", a, takes && v ? " " : "",
                    takes && v ? v : "");
            usage(stderr);
            return 0;
        }
        i += takes;
    }
    return 1;
}

int main(int argc, char **argv) {
    struct options o;
    int parsed = parse_options(argc, argv, &o);
    if (parsed <= 0)
        return parsed < 0 ? 0 : 2;
    struct lt_ctx *ctx;
    if (lt_ctx_new(&ctx) != LT_OK) {
        fprintf(stderr, "bench_step: out of memory creating a context\n");
        return 1;
    }
    lt_ctx_set_seed(ctx, 0);
    if (lt_ctx_set_device(ctx, o.device) != LT_OK) {
        fprintf(stderr, "bench_step: %s\n", lt_ctx_error(ctx));
        lt_ctx_free(ctx);
        return 1;
    }
    if (strcmp(o.device, "cpu"))
        o.gemm = 0; /* the bare GEMM is oneDNN's */
    lt_ctx_set_profile(ctx, o.profile);
    lt_ctx_set_deterministic(ctx, !o.nondeterministic);
    lt_ctx_set_graphs(ctx, o.graphs);
    /* also sizes the OpenMP pool of this thread, which the bare oneDNN GEMM uses too */
    lt_ctx_set_threads(ctx, o.threads);
    if (o.json) {
        printf("{\"kind\": \"info\", \"backend\": \"");
        json_str(lt_ctx_device_info(ctx));
        printf("\", \"threads\": %d, \"batch\": %d, \"version\": \"%s\"}\n", o.threads, o.batch,
               LT_VERSION);
    } else {
        printf("lutra %s, %s; %d threads, batch %d\n", LT_VERSION, lt_ctx_device_info(ctx),
               o.threads, o.batch);
    }

    struct gemm_result gm[PREC_COUNT];
    memset(gm, 0, sizeof gm);
    int have_gemm[PREC_COUNT] = {0};
    for (int p = 0; p < PREC_COUNT && o.gemm && o.models[MODEL_MLP]; p++) {
        if (!o.precs[p])
            continue;
        have_gemm[p] = bare_gemm((enum precision)p, o.batch, o.repeats, &gm[p]);
        if (o.json) {
            printf("{\"kind\": \"gemm\", \"precision\": \"%s\", \"threads\": %d, \"batch\": %d, "
                   "\"available\": %s",
                   prec_names[p], o.threads, o.batch, have_gemm[p] ? "true" : "false");
            if (have_gemm[p])
                printf(", \"ms_per_step\": %.3f, \"gflop_per_step\": %.4f, \"gflops\": %.1f, "
                       "\"uses_ref\": %s",
                       gm[p].ms_per_step, gm[p].gflop_per_step,
                       gm[p].gflop_per_step / gm[p].ms_per_step * 1e3,
                       gm[p].uses_ref ? "true" : "false");
            else {
                printf(", \"error\": \"");
                json_str(gm[p].error);
                printf("\"");
            }
            printf("}\n");
        } else if (have_gemm[p]) {
            printf("bare oneDNN GEMM, MLP step shapes, %s: %.3f ms per step, %.1f GFLOP/s%s\n",
                   prec_names[p], gm[p].ms_per_step, gm[p].gflop_per_step / gm[p].ms_per_step * 1e3,
                   gm[p].uses_ref ? " (some shape ran oneDNN's ref implementation)" : "");
        } else {
            printf("bare GEMM, %s: skipped: %s\n", prec_names[p], gm[p].error);
        }
        if (have_gemm[p])
            print_gemm_shapes(&o, (enum precision)p, &gm[p]);
        fflush(stdout);
    }

    if (!o.json)
        printf("%-8s %-5s %10s %9s %9s %8s %12s\n", "model", "prec", "samples/s", "ms/step",
               "GFLOP/s", "MiB", "GEMM share");
    int ok = 1;
    for (int m = 0; m < MODEL_COUNT; m++)
        for (int p = 0; p < PREC_COUNT; p++)
            if (o.models[m] && o.precs[p])
                ok &= bench_one(ctx, &o, (enum model)m, (enum precision)p, &gm[p], have_gemm[p]);
    lt_ctx_free(ctx);
    return ok ? 0 : 1;
}
