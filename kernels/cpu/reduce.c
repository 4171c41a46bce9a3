/* Reference kernels for the eager-only reductions (sum, mean, max, argmax), eq, topk and
 * multinomial, for every dtype (multinomial: the float ones). No backward.
 *
 * A reduction sees its input as (outer, n, inner) and reduces the middle: n is the
 * reduced dim's size, or every element when attrs.all. Output element (o, j) sits at
 * o * inner + j whether or not the dim is kept.
 *
 * The fast paths (f32 sum, mean, max and argmax) read floats directly, sum in double
 * lanes and split rows or columns between threads; a whole-tensor sum adds fixed chunks.
 * topk's splits its rows between threads; multinomial's is the reference (one pass per
 * drawn row, which generation does a few of per step).
 */
#include <math.h>
#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"
#include "kernels/rng.h"

struct layout {
    int64_t outer, n, inner;
};

static struct layout layout_of(const struct lt_kargs *a) {
    const struct lt_reduce_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0];
    if (at->all)
        return (struct layout){1, lt_kview_numel(x), 1};
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    return (struct layout){lt_dims_product(x, 0, d), x->shape[d],
                           lt_dims_product(x, d + 1, x->ndim)};
}

/* Element i of an integer view (i32 or u8). */
static int64_t load_int(const struct lt_kview *v, int64_t i) {
    if (v->dtype == LT_DTYPE_U8)
        return ((const uint8_t *)v->data)[i];
    return ((const int32_t *)v->data)[i];
}

/* Sum over the reduced dim of row (o, j), in double. */
static double sum_of(const struct lt_kview *x, struct layout l, int64_t o, int64_t j) {
    double s = 0;
    for (int64_t k = 0; k < l.n; k++)
        s += lt_elem_load(x, (o * l.n + k) * l.inner + j);
    return s;
}

/* f32, f16, bf16 -> f32, summed in double. */
static enum lt_status sum_float_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    float *y = a->out[0]->data; /* (outer, inner) */
    struct layout l = layout_of(a);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t j = 0; j < l.inner; j++)
            y[o * l.inner + j] = (float)sum_of(x, l, o, j);
    return LT_OK;
}

/* i32, u8 -> i32, summed in int64; a total beyond i32 wraps around (gcc and clang
 * define the narrowing as modulo 2^32). */
static enum lt_status sum_int_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int32_t *y = a->out[0]->data; /* (outer, inner) */
    struct layout l = layout_of(a);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t j = 0; j < l.inner; j++) {
            int64_t s = 0;
            for (int64_t k = 0; k < l.n; k++)
                s += load_int(x, (o * l.n + k) * l.inner + j);
            y[o * l.inner + j] = (int32_t)s;
        }
    return LT_OK;
}

/* any dtype -> f32; the mean of no elements is NaN, as in PyTorch. */
static enum lt_status mean_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    float *y = a->out[0]->data; /* (outer, inner) */
    struct layout l = layout_of(a);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t j = 0; j < l.inner; j++)
            y[o * l.inner + j] = (float)(sum_of(x, l, o, j) / (double)l.n);
    return LT_OK;
}

/* Index along the reduced dim of the first maximum of row (o, j), or of its first NaN:
 * as in PyTorch, NaN counts as larger than everything. Shape inference guarantees
 * n > 0. */
static int64_t argmax_of(const struct lt_kview *x, struct layout l, int64_t o, int64_t j) {
    int64_t best = 0;
    double bv = lt_elem_load(x, o * l.n * l.inner + j);
    for (int64_t k = 1; k < l.n && !isnan(bv); k++) {
        double v = lt_elem_load(x, (o * l.n + k) * l.inner + j);
        if (v > bv || isnan(v)) {
            best = k;
            bv = v;
        }
    }
    return best;
}

/* The output has x's dtype and takes one of x's values, so the store is exact. */
static enum lt_status max_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    struct layout l = layout_of(a);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t j = 0; j < l.inner; j++) {
            int64_t k = argmax_of(x, l, o, j);
            lt_elem_store(y, o * l.inner + j, lt_elem_load(x, (o * l.n + k) * l.inner + j));
        }
    return LT_OK;
}

static enum lt_status argmax_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int32_t *y = a->out[0]->data; /* (outer, inner) */
    struct layout l = layout_of(a);
    for (int64_t o = 0; o < l.outer; o++)
        for (int64_t j = 0; j < l.inner; j++)
            y[o * l.inner + j] = (int32_t)argmax_of(x, l, o, j);
    return LT_OK;
}

/* b broadcasts over a's leading dims, so a's element i meets b's element i % numel(b).
 * NaN equals nothing, not even itself. */
static enum lt_status eq_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *z = a->in[1];
    uint8_t *y = a->out[0]->data; /* a's shape */
    int64_t m = lt_kview_numel(z);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        y[i] = lt_elem_load(x, i) == lt_elem_load(z, i % m);
    return LT_OK;
}

/* ---- fast paths: f32 ----------------------------------------------------------------------- */

/* Sum of x[0, n) in double. */
LT_INLINE double sum_f32_body(const float *restrict x, int64_t n) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t k = 0; k < n; k++)
        s += x[k];
    return s;
}
LT_DISPATCH_RET(double, sum_f32, (const float *restrict x, int64_t n), (x, n));

/* Columns [c0, c1) of slice o of x (outer, n, inner): y[o, j] = sum over k / div, each
 * column summed in double in k order. */
LT_INLINE void column_means_f32_body(const float *restrict x, float *restrict y, struct layout l,
                                     int64_t o, int64_t c0, int64_t c1, double div) {
    enum { BLOCK = 256 };
    double s[BLOCK];
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t len = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t j = 0; j < len; j++)
            s[j] = 0;
        for (int64_t k = 0; k < l.n; k++) {
            const float *xr = x + (o * l.n + k) * l.inner + b0;
#pragma omp simd
            for (int64_t j = 0; j < len; j++)
                s[j] += xr[j];
        }
        for (int64_t j = 0; j < len; j++)
            y[o * l.inner + b0 + j] = (float)(s[j] / div);
    }
}
LT_DISPATCH(column_means_f32,
            (const float *restrict x, float *restrict y, struct layout l, int64_t o, int64_t c0,
             int64_t c1, double div),
            (x, y, l, o, c0, c1, div));

/* sum (div 1) or mean (div n) of an f32 tensor: one row, in fixed chunks; rows, split
 * between threads; columns, split by (slice, block of columns). */
static void sum_fast(const struct lt_kargs *a, int mean) {
    const float *x = a->in[0]->data;
    float *y = a->out[0]->data; /* (outer, inner) */
    struct layout l = layout_of(a);
    double div = mean ? (double)l.n : 1.0;
    int64_t total = l.outer * l.n * l.inner;
    if (l.outer == 1 && l.inner == 1) {
        double part[LT_SUM_CHUNKS];
#pragma omp parallel for schedule(static) if (total >= LT_PAR_STREAM)
        for (int k = 0; k < LT_SUM_CHUNKS; k++) {
            int64_t lo, hi;
            lt_share(l.n, 16, k, LT_SUM_CHUNKS, &lo, &hi);
            part[k] = sum_f32(x + lo, hi - lo);
        }
        double s = 0;
        for (int k = 0; k < LT_SUM_CHUNKS; k++)
            s += part[k];
        y[0] = (float)(s / div);
        return;
    }
    if (l.inner == 1) {
#pragma omp parallel for schedule(static) if (total >= LT_PAR_STREAM)
        for (int64_t o = 0; o < l.outer; o++)
            y[o] = (float)(sum_f32(x + o * l.n, l.n) / div);
        return;
    }
    int64_t blocks = (l.inner + 255) / 256;
#pragma omp parallel for schedule(static) if (total >= LT_PAR_STREAM)
    for (int64_t t = 0; t < l.outer * blocks; t++) {
        int64_t o = t / blocks, c0 = t % blocks * 256;
        column_means_f32(x, y, l, o, c0, c0 + 256 < l.inner ? c0 + 256 : l.inner, div);
    }
}

static enum lt_status sum_forward_fast(const struct lt_kargs *a) {
    sum_fast(a, 0);
    return LT_OK;
}

static enum lt_status mean_forward_fast(const struct lt_kargs *a) {
    sum_fast(a, 1);
    return LT_OK;
}

/* Index of the first maximum of x[0, n), or of its first NaN (argmax_of's rule). */
static int64_t row_argmax_f32(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t k = 1; k < n && x[best] == x[best]; k++)
        if (x[k] > x[best] || x[k] != x[k])
            best = k;
    return best;
}

/* ---- topk and multinomial: a pick per row of the last dim ------------------------------------ */

/* a ranks before b: larger, NaN counting as the largest. */
static int ranks_before(double a, double b) {
    return a > b || (isnan(a) && !isnan(b));
}

/* The k largest of rows [lo, hi) of x (rows of n), largest first: each row's values and
 * 0-based positions kept sorted in the outputs as the row is read, a new value going in
 * after those it does not rank before (so equal values keep their order). */
static void topk_rows(const struct lt_kargs *a, int64_t lo, int64_t hi) {
    const struct lt_kview *x = a->in[0], *vals = a->out[0];
    int64_t n = x->shape[x->ndim - 1], k = ((const struct lt_topk_attrs *)a->attrs)->k;
    int32_t *idx = a->out[1]->data;
    for (int64_t r = lo; r < hi; r++) {
        int64_t have = 0, base = r * k;
        for (int64_t i = 0; i < n && k > 0; i++) {
            double v = lt_elem_load(x, r * n + i);
            if (have == k && !ranks_before(v, lt_elem_load(vals, base + k - 1)))
                continue;
            int64_t at = have < k ? have++ : k - 1;
            while (at > 0 && ranks_before(v, lt_elem_load(vals, base + at - 1))) {
                lt_elem_store(vals, base + at, lt_elem_load(vals, base + at - 1));
                idx[base + at] = idx[base + at - 1];
                at--;
            }
            lt_elem_store(vals, base + at, v);
            idx[base + at] = (int32_t)i;
        }
    }
}

static int64_t rows_of(const struct lt_kview *x) {
    int64_t n = x->ndim ? x->shape[x->ndim - 1] : 1;
    return n ? lt_kview_numel(x) / n : lt_dims_product(x, 0, x->ndim - 1);
}

static enum lt_status topk_forward_ref(const struct lt_kargs *a) {
    topk_rows(a, 0, rows_of(a->in[0]));
    return LT_OK;
}

/* Rows split between threads: each row's result is the reference's. */
static enum lt_status topk_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int64_t rows = rows_of(x);
#pragma omp parallel if (lt_kview_numel(x) >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        topk_rows(a, lo, hi);
    }
    return LT_OK;
}

/* One draw per row by the inverse of the running sum (kernels/attrs.def). Rows are
 * checked whole before drawing, so a bad row fails naming it. */
static enum lt_status multinomial_forward_ref(const struct lt_kargs *a) {
    const struct lt_multinomial_attrs *at = a->attrs;
    const struct lt_kview *p = a->in[0];
    int64_t n = p->shape[p->ndim - 1], rows = lt_kview_numel(p) / n;
    uint64_t key = lt_rng_key(at->seed, LT_MULTINOMIAL_STREAM, at->step, 0);
    int32_t *y = a->out[0]->data;
    for (int64_t r = 0; r < rows; r++) {
        double total = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = lt_elem_load(p, r * n + i);
            if (!(v >= 0) || isinf(v)) {
                snprintf(a->msg, LT_KMSG_SIZE, "row %lld has probability %g at %lld", (long long)r,
                         v, (long long)i);
                return LT_EINVAL;
            }
            total += v;
        }
        if (total == 0) {
            snprintf(a->msg, LT_KMSG_SIZE, "row %lld has no nonzero probability", (long long)r);
            return LT_EINVAL;
        }
        double target = (double)lt_rng_uniform(key, (uint64_t)r) * total, run = 0;
        int64_t pick = -1;
        for (int64_t i = 0; i < n && pick < 0; i++) {
            double v = lt_elem_load(p, r * n + i);
            run += v;
            if (run > target && v > 0)
                pick = i;
        }
        /* rounding left the target at the very top: the last position that can be drawn */
        for (int64_t i = n - 1; pick < 0; i--)
            if (lt_elem_load(p, r * n + i) > 0)
                pick = i;
        y[r] = (int32_t)pick;
    }
    return LT_OK;
}

/* max and argmax over the last dim (inner == 1), rows split between threads; any other
 * layout is the reference's. */
static enum lt_status max_forward_fast(const struct lt_kargs *a) {
    struct layout l = layout_of(a);
    if (l.inner != 1)
        return max_forward_ref(a);
    const float *x = a->in[0]->data;
    float *y = a->out[0]->data;
#pragma omp parallel for schedule(static) if (l.outer * l.n >= LT_PAR_STREAM)
    for (int64_t o = 0; o < l.outer; o++)
        y[o] = x[o * l.n + row_argmax_f32(x + o * l.n, l.n)];
    return LT_OK;
}

static enum lt_status argmax_forward_fast(const struct lt_kargs *a) {
    struct layout l = layout_of(a);
    if (l.inner != 1)
        return argmax_forward_ref(a);
    const float *x = a->in[0]->data;
    int32_t *y = a->out[0]->data;
#pragma omp parallel for schedule(static) if (l.outer * l.n >= LT_PAR_STREAM)
    for (int64_t o = 0; o < l.outer; o++)
        y[o] = (int32_t)row_argmax_f32(x + o * l.n, l.n);
    return LT_OK;
}

void lt_cpu_register_reduce(struct lt_backend *b, int fast) {
    for (int i = 0; i < LT_DTYPE_COUNT; i++) {
        enum lt_dtype dt = (enum lt_dtype)i;
        int is_int = dt == LT_DTYPE_I32 || dt == LT_DTYPE_U8;
        lt_cpu_set(b, LT_OP_SUM, dt, is_int ? sum_int_forward_ref : sum_float_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_MEAN, dt, mean_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_MAX, dt, max_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_ARGMAX, dt, argmax_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_EQ, dt, eq_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_TOPK, dt, fast ? topk_forward_fast : topk_forward_ref, NULL);
        if (!is_int)
            lt_cpu_set(b, LT_OP_MULTINOMIAL, dt, multinomial_forward_ref, NULL);
    }
    if (!fast)
        return;
    lt_cpu_set_fast(b, LT_OP_SUM, LT_DTYPE_F32, sum_forward_fast, NULL);
    lt_cpu_set_fast(b, LT_OP_MEAN, LT_DTYPE_F32, mean_forward_fast, NULL);
    lt_cpu_set_fast(b, LT_OP_MAX, LT_DTYPE_F32, max_forward_fast, NULL);
    lt_cpu_set_fast(b, LT_OP_ARGMAX, LT_DTYPE_F32, argmax_forward_fast, NULL);
}
