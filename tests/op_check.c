/* Test support for ops: reference runs, finite-difference gradient checks, poisoning. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lutra.h"
#include "core/ops/ops.h"
#include "kernels/half.h"
#include "kernels/rng.h"
#include "tests/op_check.h"

const struct op_family op_families[] = {
#define LT_FAMILY(f) {#f, f##_cases, &f##_case_count},
#include "kernels/families.def"
#undef LT_FAMILY
};
const int op_family_count = sizeof op_families / sizeof op_families[0];

static const struct lt_exec_info check_exec = {.seed = 1234, .epoch = 3, .sample_base = 17};

const struct lt_backend *op_ref_backend(void) {
    static struct lt_backend b;
    static int ready;
    if (!ready) {
        lt_cpu_reference_init(&b);
        ready = 1;
    }
    return &b;
}

static struct lt_backend fast_cpu;
static int fast_ready;

const struct lt_backend *op_fast_backend(void) {
    if (!fast_ready) {
        char msg[LT_KMSG_SIZE] = "";
        if (lt_cpu_backend_init(&fast_cpu, msg) != LT_OK)
            fail_msg("the fast CPU backend did not start: %s", msg);
        fast_ready = 1;
    }
    return &fast_cpu;
}

void op_fast_backend_release(void) {
    if (fast_ready)
        lt_backend_release(&fast_cpu);
    fast_ready = 0;
}

double op_unit_roundoff(enum lt_dtype dt) {
    switch (dt) {
    case LT_DTYPE_F16:
        return ldexp(1, -11);
    case LT_DTYPE_BF16:
        return ldexp(1, -8);
    default:
        return ldexp(1, -24);
    }
}

double op_half_tol(enum lt_dtype dt, int64_t k) {
    return 3 * op_unit_roundoff(dt) + sqrt((double)k) * op_unit_roundoff(LT_DTYPE_F32);
}

struct lt_kview kv_new(enum lt_dtype dt, int ndim, const int64_t *shape) {
    struct lt_kview v = {.dtype = dt, .ndim = ndim};
    for (int i = 0; i < ndim; i++)
        v.shape[i] = shape[i];
    size_t bytes = (size_t)lt_kview_numel(&v) * lt_dtype_bytes(dt);
    v.data = calloc(1, bytes ? bytes : 1);
    assert_non_null(v.data);
    return v;
}

static struct lt_kview kv_copy(enum lt_dtype dt, int ndim, const int64_t *shape,
                               const void *values) {
    struct lt_kview v = kv_new(dt, ndim, shape);
    memcpy(v.data, values, (size_t)lt_kview_numel(&v) * lt_dtype_bytes(dt));
    return v;
}

struct lt_kview kv_f32(int ndim, const int64_t *shape, const float *values) {
    return kv_copy(LT_DTYPE_F32, ndim, shape, values);
}

struct lt_kview kv_i32(int ndim, const int64_t *shape, const int32_t *values) {
    return kv_copy(LT_DTYPE_I32, ndim, shape, values);
}

struct lt_kview kv_half(enum lt_dtype dt, int64_t n, const uint16_t *bits) {
    assert_true(dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16);
    return kv_copy(dt, 1, &n, bits);
}

struct lt_kview kv_convert(const struct lt_kview *v, enum lt_dtype dt) {
    struct lt_kview r = kv_new(dt, v->ndim, v->shape);
    for (int64_t i = 0; i < lt_kview_numel(v); i++) {
        double x;
        switch (v->dtype) {
        case LT_DTYPE_F16:
            x = lt_f16_to_f32(((const uint16_t *)v->data)[i]);
            break;
        case LT_DTYPE_BF16:
            x = lt_bf16_to_f32(((const uint16_t *)v->data)[i]);
            break;
        case LT_DTYPE_I32:
            x = ((const int32_t *)v->data)[i];
            break;
        case LT_DTYPE_U8:
            x = ((const uint8_t *)v->data)[i];
            break;
        default:
            x = ((const float *)v->data)[i];
            break;
        }
        switch (dt) {
        case LT_DTYPE_F16:
            ((uint16_t *)r.data)[i] = lt_f32_to_f16((float)x);
            break;
        case LT_DTYPE_BF16:
            ((uint16_t *)r.data)[i] = lt_f32_to_bf16((float)x);
            break;
        case LT_DTYPE_I32:
            ((int32_t *)r.data)[i] = (int32_t)x;
            break;
        case LT_DTYPE_U8:
            ((uint8_t *)r.data)[i] = (uint8_t)x;
            break;
        default:
            ((float *)r.data)[i] = (float)x;
            break;
        }
    }
    return r;
}

void kv_free(struct lt_kview *v) {
    free(v->data);
    v->data = NULL;
}

static void poison(struct lt_kview *v) {
    if (v->dtype == LT_DTYPE_F32) {
        float *p = v->data;
        for (int64_t i = 0; i < lt_kview_numel(v); i++)
            p[i] = NAN;
    } else if (v->dtype == LT_DTYPE_F16 || v->dtype == LT_DTYPE_BF16) {
        uint16_t *p = v->data, nan = v->dtype == LT_DTYPE_F16 ? 0x7e00 : 0x7fc0;
        for (int64_t i = 0; i < lt_kview_numel(v); i++)
            p[i] = nan;
    } else {
        memset(v->data, 0xa5, (size_t)lt_kview_numel(v) * lt_dtype_bytes(v->dtype));
    }
}

static void infer(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                  struct lt_kview *out) {
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = lt_op_descs[op].infer(attrs, n_in, in, out, msg);
    if (st != LT_OK)
        fail_msg("%s: shape inference failed: %s", lt_op_descs[op].name, msg);
}

void op_infer_fails(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                    const char *want) {
    struct lt_kview out[LT_MAX_OUTPUTS];
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = lt_op_descs[op].infer(attrs, n_in, in, out, msg);
    if (st != LT_EINVAL)
        fail_msg("%s: shape inference returned %d, expected LT_EINVAL with '%s'",
                 lt_op_descs[op].name, st, want);
    if (!strstr(msg, want))
        fail_msg("message '%s' lacks '%s'", msg, want);
}

static const struct lt_kernel *kernel_of(const struct lt_backend *b, enum lt_op op,
                                        const struct lt_kview *in) {
    const struct lt_kernel *k = &b->kernels[op][in[0].dtype];
    if (!k->forward)
        fail_msg("%s: no %s kernel for %s", lt_op_descs[op].name, b->info,
                 lt_dtype_name(in[0].dtype));
    return k;
}

/* The dtype `b`'s backward kernel of op (chosen by in0) takes the gradient of a tensor of
 * dtype dt in, as a plan decides it (core/plan_build.c): dt itself when the kernel takes
 * half gradients (and, for a fast kernel that may decline the shapes, the reference
 * does too), else f32. */
static enum lt_dtype grad_dtype(const struct lt_backend *b, enum lt_op op, enum lt_dtype in0,
                                enum lt_dtype dt) {
    const struct lt_kernel *k = &b->kernels[op][in0];
    int takes = k->half_gradients;
    if (k->prepare)
        takes &= op_ref_backend()->kernels[op][in0].half_gradients;
    return takes && lt_dtype_is_half(dt) ? dt : LT_DTYPE_F32;
}

/* Fills what the two directions share into a and runs the forward or backward kernel
 * as a planned step would: prepare (a fast kernel that declines the shapes leaves the
 * call to the reference), the workspace it asks for, the call, release. */
static enum lt_status call_on(const struct lt_backend *b, enum lt_op op, int backward,
                              struct lt_kargs *a, const void *attrs, int n_in,
                              const struct lt_kview *in, int n_out, const struct lt_kview *out,
                              const struct lt_exec_info *exec, char *msg) {
    const struct lt_kernel *k = kernel_of(b, op, in);
    if (backward && !k->backward)
        fail_msg("%s: no backward kernel in %s", lt_op_descs[op].name, b->info);
    char own_msg[LT_KMSG_SIZE] = "";
    a->attrs = attrs;
    a->n_in = n_in;
    a->n_out = n_out;
    for (int i = 0; i < n_in; i++)
        a->in[i] = &in[i];
    for (int i = 0; i < n_out; i++)
        a->out[i] = &out[i];
    a->exec = exec ? exec : &check_exec;
    a->msg = msg ? msg : own_msg;
    a->impl = b->impl;
    void *state = NULL;
    if (k->prepare) {
        enum lt_status st = k->prepare(a, backward, &state);
        if (st == LT_EUNSUPPORTED) {
            k = kernel_of(op_ref_backend(), op, in);
        } else if (st != LT_OK) {
            return st;
        }
    }
    a->state = state;
    void *ws = NULL;
    if (k->workspace) {
        a->workspace_size = k->workspace(a, backward);
        /* 64-byte aligned, as the planner places it */
        size_t bytes = (a->workspace_size + 63) / 64 * 64;
        ws = a->workspace = aligned_alloc(64, bytes ? bytes : 64);
        assert_non_null(ws);
    }
    enum lt_status st = backward ? k->backward(a) : k->forward(a);
    free(ws);
    if (state && k->release)
        k->release(state);
    return st;
}

size_t op_workspace(const struct lt_backend *b, enum lt_op op, const void *attrs, int n_in,
                    const struct lt_kview *in, int backward, unsigned grads,
                    unsigned accumulate) {
    const struct lt_kernel *k = kernel_of(b, op, in);
    struct lt_kview shapes[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS], gout;
    char msg[LT_KMSG_SIZE] = "";
    for (int i = 0; i < n_in; i++) {
        shapes[i] = in[i];
        shapes[i].data = NULL;
        gin[i] = shapes[i];
        gin[i].dtype = grad_dtype(b, op, in[0].dtype, in[i].dtype);
    }
    if (lt_op_descs[op].infer(attrs, n_in, shapes, out, msg) != LT_OK)
        fail_msg("%s: shape inference failed: %s", lt_op_descs[op].name, msg);
    gout = out[0];
    gout.dtype = grad_dtype(b, op, in[0].dtype, out[0].dtype);
    struct lt_kargs a = {.attrs = attrs,
                         .n_in = n_in,
                         .n_out = lt_op_descs[op].n_out,
                         .msg = msg,
                         .impl = b->impl};
    for (int i = 0; i < n_in; i++) {
        a.in[i] = &shapes[i];
        if (backward && (grads >> i) & 1u)
            a.gin[i] = &gin[i];
    }
    for (int i = 0; i < a.n_out; i++)
        a.out[i] = &out[i];
    if (backward) {
        a.gout[0] = &gout;
        a.accumulate = accumulate & grads;
    }
    void *state = NULL;
    if (k->prepare) {
        enum lt_status st = k->prepare(&a, backward, &state);
        if (st == LT_EUNSUPPORTED)
            k = kernel_of(op_ref_backend(), op, in); /* it takes the node, as in a plan */
        else if (st != LT_OK)
            fail_msg("%s: prepare failed (%d): %s", lt_op_descs[op].name, st, msg);
    }
    a.state = state;
    size_t bytes = k->workspace ? k->workspace(&a, backward) : 0;
    if (state && k->release)
        k->release(state);
    return (bytes + 63) / 64 * 64;
}

static enum lt_status run_on(const struct lt_backend *b, enum lt_op op, const void *attrs,
                             int n_in, const struct lt_kview *in, struct lt_kview *out,
                             const struct lt_exec_info *exec, char *msg, unsigned blocked) {
    int n_out = lt_op_descs[op].n_out;
    for (int i = 0; i < n_out; i++)
        poison(&out[i]);
    struct lt_kargs a = {.blocked = blocked};
    return call_on(b, op, 0, &a, attrs, n_in, in, n_out, out, exec, msg);
}

enum lt_status op_run(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                      struct lt_kview *out, const struct lt_exec_info *exec, char *msg) {
    return run_on(op_ref_backend(), op, attrs, n_in, in, out, exec, msg, 0);
}

enum lt_status op_run_blocked(const struct lt_backend *b, enum lt_op op, const void *attrs,
                              int n_in, const struct lt_kview *in, struct lt_kview *out,
                              unsigned blocked, char *msg) {
    return run_on(b, op, attrs, n_in, in, out, NULL, msg, blocked);
}

static enum lt_status run_backward_on(const struct lt_backend *b, enum lt_op op,
                                      const void *attrs, int n_in, const struct lt_kview *in,
                                      const struct lt_kview *out, const struct lt_kview *gout,
                                      struct lt_kview *gin, unsigned accumulate,
                                      const struct lt_exec_info *exec, char *msg,
                                      unsigned blocked) {
    unsigned reads = lt_op_descs[op].backward_reads;
    int n_out = lt_op_descs[op].n_out;
    struct lt_kview in_seen[LT_MAX_INPUTS], out_seen[LT_MAX_OUTPUTS];
    for (int i = 0; i < n_in; i++) {
        in_seen[i] = in[i];
        if (!(reads & LT_IN(i)))
            in_seen[i].data = NULL;
    }
    for (int i = 0; i < n_out; i++) {
        out_seen[i] = out[i];
        if (!(reads & LT_OUT(i)))
            out_seen[i].data = NULL;
    }
    struct lt_kargs a = {0};
    a.gout[0] = gout;
    for (int i = 0; i < n_in; i++) {
        a.gin[i] = gin[i].data ? &gin[i] : NULL;
        if (a.gin[i] && !(accumulate & (1u << i)))
            poison(&gin[i]);
    }
    a.accumulate = accumulate;
    a.blocked = blocked;
    return call_on(b, op, 1, &a, attrs, n_in, in_seen, n_out, out_seen, exec, msg);
}

enum lt_status op_run_backward(enum lt_op op, const void *attrs, int n_in,
                               const struct lt_kview *in, const struct lt_kview *out,
                               const struct lt_kview *gout, struct lt_kview *gin,
                               unsigned accumulate, const struct lt_exec_info *exec, char *msg) {
    return run_backward_on(op_ref_backend(), op, attrs, n_in, in, out, gout, gin, accumulate,
                           exec, msg, 0);
}

enum lt_status op_run_backward_blocked(const struct lt_backend *b, enum lt_op op,
                                       const void *attrs, int n_in, const struct lt_kview *in,
                                       const struct lt_kview *out, const struct lt_kview *gout,
                                       struct lt_kview *gin, unsigned accumulate,
                                       unsigned blocked, char *msg) {
    return run_backward_on(b, op, attrs, n_in, in, out, gout, gin, accumulate, NULL, msg,
                           blocked);
}

void op_forward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                struct lt_kview *out) {
    infer(op, attrs, n_in, in, out);
    for (int i = 0; i < lt_op_descs[op].n_out; i++)
        out[i] = kv_new(out[i].dtype, out[i].ndim, out[i].shape);
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = op_run(op, attrs, n_in, in, out, NULL, msg);
    if (st != LT_OK)
        fail_msg("%s: forward failed (%d): %s", lt_op_descs[op].name, st, msg);
}

void op_backward(enum lt_op op, const void *attrs, int n_in, const struct lt_kview *in,
                 const struct lt_kview *out, const struct lt_kview *gout,
                 struct lt_kview *gin) {
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = op_run_backward(op, attrs, n_in, in, out, gout, gin, 0, NULL, msg);
    if (st != LT_OK)
        fail_msg("%s: backward failed (%d): %s", lt_op_descs[op].name, st, msg);
}

void assert_floats_near(const float *a, const float *b, int64_t n, double tol) {
    int64_t worst = -1;
    double worst_err = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)a[i] - b[i]) / fmax(1.0, fabs((double)b[i]));
        if (!(err <= tol) && (worst < 0 || !(err <= worst_err))) {
            worst = i;
            worst_err = err;
        }
    }
    if (worst >= 0)
        fail_msg("element %lld: got %.8g, want %.8g (error %.3g > %.3g)", (long long)worst,
                 (double)a[worst], (double)b[worst], worst_err, tol);
}

static void fill_input(struct lt_kview *v, const struct case_input *ci, uint64_t key) {
    int64_t n = lt_kview_numel(v);
    if ((ci->fill == FILL_INDEX) != (ci->dtype == LT_DTYPE_I32) ||
        (ci->fill == FILL_MASK) != (ci->dtype == LT_DTYPE_U8) ||
        (ci->fill != FILL_INDEX && ci->fill != FILL_MASK && ci->dtype != LT_DTYPE_F32))
        fail_msg("case input of %s with fill %d: case tables hold f32 data, i32 indices "
                 "(FILL_INDEX) and u8 masks (FILL_MASK) only",
                 lt_dtype_name(ci->dtype), (int)ci->fill);
    if (ci->fill == FILL_MASK) {
        uint8_t *p = v->data;
        for (int64_t i = 0; i < n; i++)
            p[i] = lt_rng_uniform(key, (uint64_t)i) < 0.5f;
        return;
    }
    if (ci->fill == FILL_INDEX) {
        int32_t *p = v->data;
        for (int64_t i = 0; i < n; i++) {
            int m = ci->index_max < 0 ? -ci->index_max : ci->index_max;
            p[i] = (int32_t)(lt_rng_uniform(key, (uint64_t)i) * (float)m);
            /* a negative index_max plants ignored entries (-1) in every 4th place */
            if (ci->index_max < 0 && i % 4 == 1)
                p[i] = -1;
        }
        return;
    }
    float *p = v->data;
    if (ci->fill == FILL_DISTINCT) {
        /* the offset 1/4 keeps 0 off the grid for odd n as for even; every value is a
         * multiple of 1/256 well inside f32's 24 bits, so the gaps are exact */
        for (int64_t i = 0; i < n; i++)
            p[i] = (float)(((double)i - (double)(n - 1) / 2 + 0.25) / 64);
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(lt_rng_uniform(key, (uint64_t)i) * (float)(i + 1)) % (i + 1);
            float t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float u = lt_rng_uniform(key, (uint64_t)i);
        p[i] = ci->fill == FILL_POSITIVE ? 0.5f + 1.5f * u : 2.0f * u - 1.0f;
    }
}

/* sum(w * out0) in double: the scalar whose gradient the check compares. */
static double weighted_sum(const struct lt_kview *out0, const float *w) {
    const float *o = out0->data;
    double s = 0;
    for (int64_t i = 0; i < lt_kview_numel(out0); i++)
        s += (double)w[i] * o[i];
    return s;
}

static void check_gradient(const struct op_case *c, struct lt_kview *in, int i,
                           const struct lt_kview *analytic, const float *w) {
    int n_out = lt_op_descs[c->op].n_out;
    const double h = 1e-3;
    int64_t n = lt_kview_numel(&in[i]);
    float *x = in[i].data;
    float *numeric = malloc((size_t)n * sizeof(float));
    struct lt_kview out[LT_MAX_OUTPUTS];
    infer(c->op, c->attrs, c->n_in, in, out);
    for (int k = 0; k < n_out; k++)
        out[k] = kv_new(out[k].dtype, out[k].ndim, out[k].shape);
    for (int64_t e = 0; e < n; e++) {
        float saved = x[e];
        x[e] = (float)(saved + h);
        assert_int_equal(op_run(c->op, c->attrs, c->n_in, in, out, NULL, NULL), LT_OK);
        double plus = weighted_sum(&out[0], w);
        x[e] = (float)(saved - h);
        assert_int_equal(op_run(c->op, c->attrs, c->n_in, in, out, NULL, NULL), LT_OK);
        double minus = weighted_sum(&out[0], w);
        x[e] = saved;
        numeric[e] = (float)((plus - minus) / (2 * h));
    }
    for (int k = 0; k < n_out; k++)
        kv_free(&out[k]);
    double diff = 0, norm = 0;
    int64_t worst = 0;
    const float *g = analytic->data;
    for (int64_t e = 0; e < n; e++) {
        double d = (double)g[e] - numeric[e];
        diff += d * d;
        norm += (double)numeric[e] * numeric[e];
        if (fabs(d) > fabs((double)g[worst] - numeric[worst]) || isnan(d))
            worst = e;
    }
    double rel = sqrt(diff) / fmax(sqrt(norm), 1e-6);
    double tol = c->tol > 0 ? c->tol : 1e-2;
    if (!(rel <= tol)) {
        float gw = g[worst], nw = numeric[worst];
        free(numeric);
        fail_msg("%s: gradient of input %d: relative error %.3g > %.3g; worst element %lld: "
                 "analytic %.6g, numeric %.6g",
                 c->name, i + 1, rel, tol, (long long)worst, (double)gw, (double)nw);
    }
    free(numeric);
}

void op_check_case(const struct op_case *c) {
    const struct lt_op_desc *d = &lt_op_descs[c->op];
    struct lt_kview in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];
    for (int i = 0; i < c->n_in; i++) {
        in[i] = kv_new(c->in[i].dtype, c->in[i].ndim, c->in[i].shape);
        fill_input(&in[i], &c->in[i], lt_rng_key(99, (uint64_t)c->op, (uint64_t)i, 0));
    }
    op_forward(c->op, c->attrs, c->n_in, in, out);
    for (int k = 0; k < d->n_out; k++) {
        if (out[k].dtype != LT_DTYPE_F32)
            continue;
        const float *o = out[k].data;
        for (int64_t e = 0; e < lt_kview_numel(&out[k]); e++)
            if (!isfinite(o[e]))
                fail_msg("%s: output %d element %lld not written or not finite (%g)", c->name,
                         k + 1, (long long)e, (double)o[e]);
    }
    if (d->has_backward) {
        int64_t n0 = lt_kview_numel(&out[0]);
        struct lt_kview gout = kv_new(LT_DTYPE_F32, out[0].ndim, out[0].shape);
        float *w = gout.data;
        uint64_t key = lt_rng_key(7, (uint64_t)c->op, 0, 0);
        for (int64_t e = 0; e < n0; e++)
            w[e] = 2.0f * lt_rng_uniform(key, (uint64_t)e) - 1.0f;
        struct lt_kview gin[LT_MAX_INPUTS] = {{0}};
        for (int i = 0; i < c->n_in; i++)
            if (!(c->no_grad & (1u << i)))
                gin[i] = kv_new(LT_DTYPE_F32, in[i].ndim, in[i].shape);
        op_backward(c->op, c->attrs, c->n_in, in, out, &gout, gin);
        for (int i = 0; i < c->n_in; i++)
            if (gin[i].data)
                check_gradient(c, in, i, &gin[i], w);

        /* accumulate mode adds exactly the same gradient onto what is there */
        struct lt_kview acc[LT_MAX_INPUTS] = {{0}};
        unsigned mask = 0;
        for (int i = 0; i < c->n_in; i++) {
            if (!gin[i].data)
                continue;
            acc[i] = kv_new(LT_DTYPE_F32, in[i].ndim, in[i].shape);
            float *p = acc[i].data;
            for (int64_t e = 0; e < lt_kview_numel(&acc[i]); e++)
                p[e] = 0.5f;
            mask |= 1u << i;
        }
        char msg[LT_KMSG_SIZE] = "";
        if (op_run_backward(c->op, c->attrs, c->n_in, in, out, &gout, acc, mask, NULL, msg) !=
            LT_OK)
            fail_msg("%s: backward failed in accumulate mode: %s", c->name, msg);
        for (int i = 0; i < c->n_in; i++) {
            if (!gin[i].data)
                continue;
            int64_t n = lt_kview_numel(&gin[i]);
            float *want = malloc((size_t)n * sizeof(float));
            for (int64_t e = 0; e < n; e++)
                want[e] = 0.5f + ((float *)gin[i].data)[e];
            assert_floats_near(acc[i].data, want, n, 1e-5);
            free(want);
            kv_free(&acc[i]);
            kv_free(&gin[i]);
        }
        kv_free(&gout);
    }
    for (int k = 0; k < d->n_out; k++)
        kv_free(&out[k]);
    for (int i = 0; i < c->n_in; i++)
        kv_free(&in[i]);
}

void op_check_cases(const struct op_case *cases, int n) {
    for (int i = 0; i < n; i++)
        op_check_case(&cases[i]);
}

/* Norm-wise relative error of a against the reference r, over n floats. */
static double rel_error(const float *a, const float *r, int64_t n, int64_t *worst) {
    double d = 0, norm = 0, worst_d = -1;
    *worst = 0;
    for (int64_t e = 0; e < n; e++) {
        double diff = (double)a[e] - r[e];
        d += diff * diff;
        norm += (double)r[e] * r[e];
        if (!(fabs(diff) <= worst_d)) {
            worst_d = fabs(diff);
            *worst = e;
        }
    }
    return sqrt(d) / fmax(sqrt(norm), 1e-30);
}

static void compare(const char *name, const char *what, int index, const struct lt_kview *got,
                    const struct lt_kview *ref, double tol) {
    if (lt_dtype_is_half(ref->dtype) || lt_dtype_is_half(got->dtype)) {
        /* half tensors: the same norm-wise comparison on their f32 values */
        struct lt_kview g32 = kv_convert(got, LT_DTYPE_F32), r32 = kv_convert(ref, LT_DTYPE_F32);
        compare(name, what, index, &g32, &r32, tol);
        kv_free(&g32);
        kv_free(&r32);
        return;
    }
    if (ref->dtype != LT_DTYPE_F32) {
        size_t bytes = (size_t)lt_kview_numel(ref) * lt_dtype_bytes(ref->dtype);
        if (memcmp(got->data, ref->data, bytes))
            fail_msg("%s: %s %d differs from the reference", name, what, index);
        return;
    }
    int64_t worst;
    double err = rel_error(got->data, ref->data, lt_kview_numel(ref), &worst);
    if (!(err <= tol))
        fail_msg("%s: %s %d: relative error %.3g > %.3g; worst element %lld: %.8g, reference "
                 "%.8g",
                 name, what, index, err, tol, (long long)worst,
                 (double)((const float *)got->data)[worst], (double)((const float *)ref->data)[worst]);
}

void op_compare_case(const struct op_case *c, const struct lt_backend *fast, double tol) {
    op_compare_case_as(c, fast, LT_DTYPE_F32, tol);
}

void op_compare_case_as(const struct op_case *c, const struct lt_backend *fast, enum lt_dtype dt,
                        double tol) {
    const struct lt_backend *ref = op_ref_backend();
    const struct lt_op_desc *d = &lt_op_descs[c->op];
    struct lt_kview in[LT_MAX_INPUTS], out[2][LT_MAX_OUTPUTS];
    for (int i = 0; i < c->n_in; i++) {
        in[i] = kv_new(c->in[i].dtype, c->in[i].ndim, c->in[i].shape);
        fill_input(&in[i], &c->in[i], lt_rng_key(99, (uint64_t)c->op, (uint64_t)i, 0));
        /* a STATS op (a norm) takes input 0 in dt, its weights in f32 */
        int keep = lt_op_descs[c->op].precision == LT_PREC_STATS && i > 0;
        if (in[i].dtype == LT_DTYPE_F32 && dt != LT_DTYPE_F32 && !keep) {
            struct lt_kview f = in[i];
            in[i] = kv_convert(&f, dt);
            kv_free(&f);
        }
    }
    infer(c->op, c->attrs, c->n_in, in, out[0]);
    const struct lt_backend *backends[2] = {ref, fast};
    char msg[LT_KMSG_SIZE] = "";
    for (int b = 0; b < 2; b++) {
        for (int k = 0; k < d->n_out; k++)
            out[b][k] = kv_new(out[0][k].dtype, out[0][k].ndim, out[0][k].shape);
        /* state an op updates in place (running statistics) starts equal for both */
        struct lt_kview own[LT_MAX_INPUTS];
        for (int i = 0; i < c->n_in; i++) {
            own[i] = kv_new(in[i].dtype, in[i].ndim, in[i].shape);
            memcpy(own[i].data, in[i].data, (size_t)lt_kview_numel(&in[i]) * lt_dtype_bytes(in[i].dtype));
        }
        if (run_on(backends[b], c->op, c->attrs, c->n_in, own, out[b], NULL, msg, 0) != LT_OK)
            fail_msg("%s: forward on %s failed: %s", c->name, backends[b]->info, msg);
        for (int i = 0; i < c->n_in; i++)
            kv_free(&own[i]);
    }
    for (int k = 0; k < d->n_out; k++)
        compare(c->name, "output", k + 1, &out[1][k], &out[0][k], tol);
    if (d->has_backward) {
        /* each backend's gradients in the dtypes its kernel takes: gout rounded to a
         * half type from the same f32 values */
        struct lt_kview gout32 = kv_new(LT_DTYPE_F32, out[0][0].ndim, out[0][0].shape), gout[2];
        uint64_t key = lt_rng_key(7, (uint64_t)c->op, 0, 0);
        for (int64_t e = 0; e < lt_kview_numel(&gout32); e++)
            ((float *)gout32.data)[e] = 2.0f * lt_rng_uniform(key, (uint64_t)e) - 1.0f;
        if (dt != LT_DTYPE_F32) { /* values of dt, as a mixed-precision step's arrive */
            struct lt_kview rounded = kv_convert(&gout32, dt);
            kv_free(&gout32);
            gout32 = kv_convert(&rounded, LT_DTYPE_F32);
            kv_free(&rounded);
        }
        for (int b = 0; b < 2; b++)
            gout[b] =
                kv_convert(&gout32, grad_dtype(backends[b], c->op, in[0].dtype, out[0][0].dtype));
        for (unsigned mode = 0; mode < 2; mode++) { /* overwrite, then accumulate */
            struct lt_kview gin[2][LT_MAX_INPUTS] = {{{0}}};
            unsigned mask = 0;
            for (int b = 0; b < 2; b++)
                for (int i = 0; i < c->n_in; i++) {
                    if (c->no_grad & (1u << i))
                        continue;
                    struct lt_kview g = kv_new(LT_DTYPE_F32, in[i].ndim, in[i].shape);
                    for (int64_t e = 0; mode && e < lt_kview_numel(&g); e++)
                        ((float *)g.data)[e] = 0.5f;
                    gin[b][i] =
                        kv_convert(&g, grad_dtype(backends[b], c->op, in[0].dtype, in[i].dtype));
                    kv_free(&g);
                    mask |= mode << i;
                }
            for (int b = 0; b < 2; b++)
                if (run_backward_on(backends[b], c->op, c->attrs, c->n_in, in, out[b], &gout[b],
                                    gin[b], mask, NULL, msg, 0) != LT_OK)
                    fail_msg("%s: backward on %s failed: %s", c->name, backends[b]->info, msg);
            for (int i = 0; i < c->n_in; i++) {
                if (!gin[0][i].data)
                    continue;
                compare(c->name, mode ? "accumulated gradient" : "gradient", i + 1, &gin[1][i],
                        &gin[0][i], tol);
                kv_free(&gin[0][i]);
                kv_free(&gin[1][i]);
            }
        }
        kv_free(&gout32);
        kv_free(&gout[0]);
        kv_free(&gout[1]);
    }
    for (int b = 0; b < 2; b++)
        for (int k = 0; k < d->n_out; k++)
            kv_free(&out[b][k]);
    for (int i = 0; i < c->n_in; i++)
        kv_free(&in[i]);
}

/* Asserts that two runs' tensors hold the same bytes. */
static void same_bits(const char *name, const char *what, int index, const struct lt_kview *a,
                      const struct lt_kview *b) {
    size_t bytes = (size_t)lt_kview_numel(a) * lt_dtype_bytes(a->dtype);
    if (memcmp(a->data, b->data, bytes))
        fail_msg("%s: %s %d differs between two runs on the same inputs", name, what, index);
}

void op_repeat_case(const struct op_case *c, const struct lt_backend *b, const int threads[2]) {
    const struct lt_op_desc *d = &lt_op_descs[c->op];
    struct lt_kview in[LT_MAX_INPUTS], out[2][LT_MAX_OUTPUTS];
    for (int i = 0; i < c->n_in; i++) {
        in[i] = kv_new(c->in[i].dtype, c->in[i].ndim, c->in[i].shape);
        fill_input(&in[i], &c->in[i], lt_rng_key(99, (uint64_t)c->op, (uint64_t)i, 0));
    }
    infer(c->op, c->attrs, c->n_in, in, out[0]);
    char msg[LT_KMSG_SIZE] = "";
    for (int r = 0; r < 2; r++) {
        omp_set_num_threads(threads[r]);
        for (int k = 0; k < d->n_out; k++)
            out[r][k] = kv_new(out[0][k].dtype, out[0][k].ndim, out[0][k].shape);
        /* state an op updates in place (running statistics) starts equal for both */
        struct lt_kview own[LT_MAX_INPUTS];
        for (int i = 0; i < c->n_in; i++) {
            own[i] = kv_new(in[i].dtype, in[i].ndim, in[i].shape);
            memcpy(own[i].data, in[i].data,
                   (size_t)lt_kview_numel(&in[i]) * lt_dtype_bytes(in[i].dtype));
        }
        if (run_on(b, c->op, c->attrs, c->n_in, own, out[r], NULL, msg, 0) != LT_OK)
            fail_msg("%s: forward on %s failed: %s", c->name, b->info, msg);
        for (int i = 0; i < c->n_in; i++)
            kv_free(&own[i]);
    }
    for (int k = 0; k < d->n_out; k++)
        same_bits(c->name, "output", k + 1, &out[1][k], &out[0][k]);
    if (d->has_backward) {
        struct lt_kview gout = kv_new(LT_DTYPE_F32, out[0][0].ndim, out[0][0].shape);
        uint64_t key = lt_rng_key(7, (uint64_t)c->op, 0, 0);
        for (int64_t e = 0; e < lt_kview_numel(&gout); e++)
            ((float *)gout.data)[e] = 2.0f * lt_rng_uniform(key, (uint64_t)e) - 1.0f;
        for (unsigned mode = 0; mode < 2; mode++) { /* overwrite, then accumulate */
            struct lt_kview gin[2][LT_MAX_INPUTS] = {{{0}}};
            unsigned mask = 0;
            for (int r = 0; r < 2; r++)
                for (int i = 0; i < c->n_in; i++) {
                    if (c->no_grad & (1u << i))
                        continue;
                    gin[r][i] = kv_new(LT_DTYPE_F32, in[i].ndim, in[i].shape);
                    for (int64_t e = 0; mode && e < lt_kview_numel(&gin[r][i]); e++)
                        ((float *)gin[r][i].data)[e] = 0.5f;
                    mask |= mode << i;
                }
            for (int r = 0; r < 2; r++) {
                omp_set_num_threads(threads[r]);
                if (run_backward_on(b, c->op, c->attrs, c->n_in, in, out[0], &gout, gin[r], mask,
                                    NULL, msg, 0) != LT_OK)
                    fail_msg("%s: backward on %s failed: %s", c->name, b->info, msg);
            }
            for (int i = 0; i < c->n_in; i++) {
                if (!gin[0][i].data)
                    continue;
                same_bits(c->name, mode ? "accumulated gradient" : "gradient", i + 1, &gin[1][i],
                          &gin[0][i]);
                kv_free(&gin[0][i]);
                kv_free(&gin[1][i]);
            }
        }
        kv_free(&gout);
    }
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < d->n_out; k++)
            kv_free(&out[r][k]);
    for (int i = 0; i < c->n_in; i++)
        kv_free(&in[i]);
}
