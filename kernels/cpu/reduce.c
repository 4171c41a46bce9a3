/* Reference kernels for the eager-only reductions (sum, mean, max, argmax) and eq, for
 * every dtype. No backward.
 *
 * A reduction sees its input as (outer, n, inner) and reduces the middle: n is the
 * reduced dim's size, or every element when attrs.all. Output element (o, j) sits at
 * o * inner + j whether or not the dim is kept.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

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

void lt_cpu_register_reduce(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    for (int i = 0; i < LT_DTYPE_COUNT; i++) {
        enum lt_dtype dt = (enum lt_dtype)i;
        int is_int = dt == LT_DTYPE_I32 || dt == LT_DTYPE_U8;
        lt_cpu_set(b, LT_OP_SUM, dt, is_int ? sum_int_forward_ref : sum_float_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_MEAN, dt, mean_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_MAX, dt, max_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_ARGMAX, dt, argmax_forward_ref, NULL);
        lt_cpu_set(b, LT_OP_EQ, dt, eq_forward_ref, NULL);
    }
}
