/* Reference kernels for the index family: index_select and gather (elements chosen by i32
 * ids along a dim; the backward scatter-adds), masked_fill (a u8 mask that broadcasts)
 * and triu / tril (the last two dims' triangles).
 *
 * An id outside the dim is bad data a user can feed, as embedding's are: every id is
 * checked before memory is touched, and the kernel fails with LT_EINVAL naming the first
 * bad one. The forwards of index_select, gather and triu / tril move elements without
 * looking at them (any dtype, as bytes); masked_fill writes its value in x's float dtype.
 * Gradients are f32 (for half tensors the planner converts around the call).
 *
 * The fast paths (index_select, masked_fill, triu / tril) split the work between threads
 * so that each gradient element is summed by one thread in the reference's order: the
 * same bits as the reference.
 */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

/* x seen as (outer, size, inner) around dim d. */
struct around {
    int64_t outer, size, inner;
};

static struct around around_of(const struct lt_kview *x, int dim) {
    int d = dim < 0 ? dim + x->ndim : dim;
    struct around r = {lt_dims_product(x, 0, d), x->shape[d], lt_dims_product(x, d + 1, x->ndim)};
    return r;
}

static int index_dim(const struct lt_kargs *a) {
    int dim = ((const struct lt_index_attrs *)a->attrs)->dim;
    return dim < 0 ? dim + a->in[0]->ndim : dim;
}

/* ---- index_select ---------------------------------------------------------------------------- */

/* out (outer, n, inner): row (o, j) is x's row (o, ids[j]). */
static enum lt_status index_select_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *ids = a->in[1];
    struct around r = around_of(x, index_dim(a));
    enum lt_status st = lt_cpu_check_ids(a, ids, r.size);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    int64_t n = ids->shape[0];
    size_t es = lt_dtype_bytes(x->dtype), row = (size_t)r.inner * es;
    for (int64_t o = 0; o < r.outer; o++)
        for (int64_t j = 0; j < n && row; j++)
            memcpy((char *)a->out[0]->data + (size_t)(o * n + j) * row,
                   (const char *)x->data + (size_t)(o * r.size + id[j]) * row, row);
    return LT_OK;
}

/* gin (outer, size, inner): row (o, ids[j]) += gout's row (o, j), j in order. */
static enum lt_status index_select_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *ids = a->in[1];
    struct around r = around_of(a->in[0], index_dim(a));
    enum lt_status st = lt_cpu_check_ids(a, ids, r.size);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    const float *g = a->gout[0]->data;
    float *gx = a->gin[0]->data;
    int64_t n = ids->shape[0];
    if (!(a->accumulate & 1u))
        memset(gx, 0, (size_t)(r.outer * r.size * r.inner) * sizeof(float));
    for (int64_t o = 0; o < r.outer; o++)
        for (int64_t j = 0; j < n; j++)
            for (int64_t e = 0; e < r.inner; e++)
                gx[(o * r.size + id[j]) * r.inner + e] += g[(o * n + j) * r.inner + e];
    return LT_OK;
}

/* ---- gather ---------------------------------------------------------------------------------- */

/* x's flat position that gather reads for ids' flat position p: p's multi-index in ids'
 * shape, its coordinate along dim replaced by id. */
static int64_t gather_source(const struct lt_kview *x, const struct lt_kview *ids, int dim,
                             int64_t p, int32_t id) {
    int64_t from = 0, stride = 1;
    for (int k = ids->ndim - 1; k >= 0; k--) {
        int64_t c = p % ids->shape[k];
        p /= ids->shape[k];
        from += (k == dim ? id : c) * stride;
        stride *= x->shape[k];
    }
    return from;
}

static enum lt_status gather_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *ids = a->in[1];
    int dim = index_dim(a);
    enum lt_status st = lt_cpu_check_ids(a, ids, x->shape[dim]);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    size_t es = lt_dtype_bytes(x->dtype);
    for (int64_t p = 0; p < lt_kview_numel(ids); p++)
        memcpy((char *)a->out[0]->data + (size_t)p * es,
               (const char *)x->data + (size_t)gather_source(x, ids, dim, p, id[p]) * es, es);
    return LT_OK;
}

/* gin[source of p] += gout[p], p in order. */
static enum lt_status gather_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0], *ids = a->in[1];
    int dim = index_dim(a);
    enum lt_status st = lt_cpu_check_ids(a, ids, x->shape[dim]);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    const float *g = a->gout[0]->data;
    float *gx = a->gin[0]->data;
    if (!(a->accumulate & 1u))
        memset(gx, 0, (size_t)lt_kview_numel(x) * sizeof(float));
    for (int64_t p = 0; p < lt_kview_numel(ids); p++)
        gx[gather_source(x, ids, dim, p, id[p])] += g[p];
    return LT_OK;
}

/* ---- masked_fill ----------------------------------------------------------------------------- */

/* The mask is u8, what eq (the engine's comparison) gives: one byte per element keeps a
 * (T, T) attention mask small, and a mask needs no more. Its strides as seen from x's dims
 * (0 where it repeats: a missing or size-1 dim). */
static void mask_strides(const struct lt_kview *x, const struct lt_kview *mask, int64_t *st) {
    int lead = x->ndim - mask->ndim;
    int64_t s = 1;
    for (int k = x->ndim - 1; k >= 0; k--) {
        int64_t m = k >= lead ? mask->shape[k - lead] : 1;
        st[k] = m == 1 ? 0 : s;
        s *= m;
    }
}

/* The mask element of x's flat position i. */
static uint8_t mask_at(const struct lt_kview *x, const uint8_t *mask, const int64_t *st,
                       int64_t i) {
    int64_t m = 0;
    for (int k = x->ndim - 1; k >= 0; k--) {
        m += i % x->shape[k] * st[k];
        i /= x->shape[k];
    }
    return mask[m];
}

static enum lt_status masked_fill_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *mask = a->in[1];
    double value = ((const struct lt_masked_fill_attrs *)a->attrs)->value;
    int64_t st[LT_MAX_DIMS];
    mask_strides(x, mask, st);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(a->out[0], i, mask_at(x, mask->data, st, i) ? value : lt_elem_load(x, i));
    return LT_OK;
}

static enum lt_status masked_fill_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0], *mask = a->in[1];
    const float *g = a->gout[0]->data;
    int64_t st[LT_MAX_DIMS];
    mask_strides(x, mask, st);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_grad_store(a, 0, i, mask_at(x, mask->data, st, i) ? 0.0 : g[i]);
    return LT_OK;
}

/* ---- triu / tril ----------------------------------------------------------------------------- */

/* Whether (i, j) is kept: on or above diagonal d for triu, on or below it for tril. */
static int tri_keeps(int upper, int d, int64_t i, int64_t j) {
    return upper ? j - i >= d : j - i <= d;
}

/* dst = src where kept, 0 elsewhere, over (batch, R, C); es bytes per element (all-zero
 * bytes are 0 in every dtype). */
static void tri_ref(const struct lt_kview *x, const void *src, void *dst, size_t es, int upper,
                    int d) {
    int nd = x->ndim;
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    for (int64_t t = 0; t < batch; t++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                size_t at = (size_t)((t * R + i) * C + j) * es;
                if (tri_keeps(upper, d, i, j))
                    memcpy((char *)dst + at, (const char *)src + at, es);
                else
                    memset((char *)dst + at, 0, es);
            }
}

static int tri_diagonal(const struct lt_kargs *a) {
    return ((const struct lt_tri_attrs *)a->attrs)->diagonal;
}

static enum lt_status triu_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    tri_ref(x, x->data, a->out[0]->data, lt_dtype_bytes(x->dtype), 1, tri_diagonal(a));
    return LT_OK;
}

static enum lt_status tril_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    tri_ref(x, x->data, a->out[0]->data, lt_dtype_bytes(x->dtype), 0, tri_diagonal(a));
    return LT_OK;
}

static enum lt_status tri_backward_ref(const struct lt_kargs *a, int upper) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim, d = tri_diagonal(a);
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    const float *g = a->gout[0]->data;
    for (int64_t t = 0; t < batch; t++)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                int64_t at = (t * R + i) * C + j;
                lt_grad_store(a, 0, at, tri_keeps(upper, d, i, j) ? g[at] : 0.0);
            }
    return LT_OK;
}

static enum lt_status triu_backward_ref(const struct lt_kargs *a) {
    return tri_backward_ref(a, 1);
}

static enum lt_status tril_backward_ref(const struct lt_kargs *a) {
    return tri_backward_ref(a, 0);
}

/* ---- fast paths ------------------------------------------------------------------------------ */

/* index_select: the output's rows (o, j) split between threads. */
static enum lt_status index_select_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *ids = a->in[1];
    struct around r = around_of(x, index_dim(a));
    enum lt_status st = lt_cpu_check_ids(a, ids, r.size);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    int64_t n = ids->shape[0], rows = r.outer * n;
    size_t es = lt_dtype_bytes(x->dtype), row = (size_t)r.inner * es;
    if (!row)
        return LT_OK;
#pragma omp parallel if (rows * r.inner >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int64_t k = lo; k < hi; k++)
            memcpy((char *)a->out[0]->data + (size_t)k * row,
                   (const char *)x->data + (size_t)(k / n * r.size + id[k % n]) * row, row);
    }
    return LT_OK;
}

/* index_select's backward: the gradient's (outer, inner) columns split between threads,
 * each summing its columns over j in order. */
static enum lt_status index_select_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *ids = a->in[1];
    struct around r = around_of(a->in[0], index_dim(a));
    enum lt_status st = lt_cpu_check_ids(a, ids, r.size);
    if (st != LT_OK)
        return st;
    const int32_t *id = ids->data;
    const float *g = a->gout[0]->data;
    float *gx = a->gin[0]->data;
    int64_t n = ids->shape[0], cols = r.outer * r.inner;
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (cols * (r.size + n) >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(cols, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        /* the columns [lo, hi) as runs within one outer row each */
        for (int64_t c = lo; c < hi;) {
            int64_t o = c / r.inner, e0 = c % r.inner;
            int64_t e1 = r.inner < e0 + hi - c ? r.inner : e0 + hi - c;
            if (!acc)
                for (int64_t p = 0; p < r.size; p++)
                    memset(gx + (o * r.size + p) * r.inner + e0, 0,
                           (size_t)(e1 - e0) * sizeof(float));
            for (int64_t j = 0; j < n; j++) {
                float *dst = gx + (o * r.size + id[j]) * r.inner;
                const float *src = g + (o * n + j) * r.inner;
                for (int64_t e = e0; e < e1; e++)
                    dst[e] += src[e];
            }
            c += e1 - e0;
        }
    }
    return LT_OK;
}

/* masked_fill: x's rows along its last dim split between threads; the mask's offset is
 * found once per row, then steps by 0 or 1 along it. */
static void masked_rows(const struct lt_kargs *a, int grad, int64_t lo, int64_t hi) {
    const struct lt_kview *x = a->in[0], *mask = a->in[1];
    const uint8_t *m = mask->data;
    int64_t st[LT_MAX_DIMS];
    mask_strides(x, mask, st);
    int nd = x->ndim;
    int64_t len = nd ? x->shape[nd - 1] : 1, step = nd ? st[nd - 1] : 0;
    double value = ((const struct lt_masked_fill_attrs *)a->attrs)->value;
    int acc = grad && lt_accumulates(a, 0);
    for (int64_t row = lo; row < hi; row++) {
        int64_t mo = 0, rest = row;
        for (int k = nd - 2; k >= 0; k--) {
            mo += rest % x->shape[k] * st[k];
            rest /= x->shape[k];
        }
        const uint8_t *mr = m + mo;
        int64_t base = row * len;
        if (grad) {
            const float *g = (const float *)a->gout[0]->data + base;
            float *gx = (float *)a->gin[0]->data + base;
            for (int64_t e = 0; e < len; e++) {
                float v = mr[e * step] ? 0.0f : g[e];
                gx[e] = acc ? gx[e] + v : v;
            }
        } else if (x->dtype == LT_DTYPE_F32) {
            const float *xs = (const float *)x->data + base;
            float *y = (float *)a->out[0]->data + base;
            for (int64_t e = 0; e < len; e++)
                y[e] = mr[e * step] ? (float)value : xs[e];
        } else {
            /* f16 and bf16: x's bits pass unchanged, the value rounded once */
            uint16_t fill = x->dtype == LT_DTYPE_F16 ? lt_f32_to_f16((float)value)
                                                     : lt_f32_to_bf16((float)value);
            const uint16_t *xs = (const uint16_t *)x->data + base;
            uint16_t *y = (uint16_t *)a->out[0]->data + base;
            for (int64_t e = 0; e < len; e++)
                y[e] = mr[e * step] ? fill : xs[e];
        }
    }
}

static void masked_all(const struct lt_kargs *a, int grad) {
    const struct lt_kview *x = a->in[0];
    int64_t n = lt_kview_numel(x), len = x->ndim ? x->shape[x->ndim - 1] : 1;
    if (n == 0)
        return;
    int64_t rows = n / len;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        masked_rows(a, grad, lo, hi);
    }
}

static enum lt_status masked_fill_forward_fast(const struct lt_kargs *a) {
    masked_all(a, 0);
    return LT_OK;
}

static enum lt_status masked_fill_backward_fast(const struct lt_kargs *a) {
    if (a->gin[0])
        masked_all(a, 1);
    return LT_OK;
}

/* triu / tril: the matrices' rows split between threads; each row is a kept run and a
 * zeroed run (or, in the backward, a copied or added run and a zeroed one). */
static void tri_rows(const struct lt_kargs *a, int upper, int grad, int64_t lo, int64_t hi) {
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim, d = tri_diagonal(a);
    int64_t R = x->shape[nd - 2], C = x->shape[nd - 1];
    size_t es = grad ? sizeof(float) : lt_dtype_bytes(x->dtype);
    const char *src = grad ? a->gout[0]->data : x->data;
    char *dst = grad ? a->gin[0]->data : a->out[0]->data;
    int acc = grad && lt_accumulates(a, 0);
    for (int64_t row = lo; row < hi; row++) {
        int64_t i = row % R;
        /* kept columns: triu [i + d, C), tril [0, i + d + 1), clamped to [0, C] */
        int64_t b = upper ? i + d : 0, e = upper ? C : i + d + 1;
        b = b < 0 ? 0 : b > C ? C : b;
        e = e < 0 ? 0 : e > C ? C : e;
        if (e < b)
            e = b;
        char *out = dst + (size_t)(row * C) * es;
        const char *in = src + (size_t)(row * C) * es;
        if (acc) {
            float *gx = (float *)out;
            const float *g = (const float *)in;
            for (int64_t j = b; j < e; j++)
                gx[j] += g[j];
            continue;
        }
        memset(out, 0, (size_t)b * es);
        memcpy(out + (size_t)b * es, in + (size_t)b * es, (size_t)(e - b) * es);
        memset(out + (size_t)e * es, 0, (size_t)(C - e) * es);
    }
}

static void tri_all(const struct lt_kargs *a, int upper, int grad) {
    const struct lt_kview *x = a->in[0];
    int64_t n = lt_kview_numel(x), C = x->shape[x->ndim - 1];
    if (n == 0)
        return;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n / C, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        tri_rows(a, upper, grad, lo, hi);
    }
}

static enum lt_status triu_forward_fast(const struct lt_kargs *a) {
    tri_all(a, 1, 0);
    return LT_OK;
}

static enum lt_status tril_forward_fast(const struct lt_kargs *a) {
    tri_all(a, 0, 0);
    return LT_OK;
}

static enum lt_status triu_backward_fast(const struct lt_kargs *a) {
    if (a->gin[0])
        tri_all(a, 1, 1);
    return LT_OK;
}

static enum lt_status tril_backward_fast(const struct lt_kargs *a) {
    if (a->gin[0])
        tri_all(a, 0, 1);
    return LT_OK;
}

void lt_cpu_register_index(struct lt_backend *b, int fast) {
    for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
        /* integer tensors never need a gradient */
        int grad = dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
        if (!fast) {
            lt_cpu_set(b, LT_OP_INDEX_SELECT, (enum lt_dtype)dt, index_select_forward_ref,
                       grad ? index_select_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_GATHER, (enum lt_dtype)dt, gather_forward_ref,
                       grad ? gather_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_TRIU, (enum lt_dtype)dt, triu_forward_ref,
                       grad ? triu_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_TRIL, (enum lt_dtype)dt, tril_forward_ref,
                       grad ? tril_backward_ref : NULL);
            if (grad)
                lt_cpu_set(b, LT_OP_MASKED_FILL, (enum lt_dtype)dt, masked_fill_forward_ref,
                           masked_fill_backward_ref);
            continue;
        }
        lt_cpu_set_fast(b, LT_OP_INDEX_SELECT, (enum lt_dtype)dt, index_select_forward_fast,
                        grad ? index_select_backward_fast : NULL);
        /* gather is off a GPT's hot path (attention and losses have their own ops): the
         * reference serves */
        lt_cpu_set(b, LT_OP_GATHER, (enum lt_dtype)dt, gather_forward_ref,
                   grad ? gather_backward_ref : NULL);
        lt_cpu_set_fast(b, LT_OP_TRIU, (enum lt_dtype)dt, triu_forward_fast,
                        grad ? triu_backward_fast : NULL);
        lt_cpu_set_fast(b, LT_OP_TRIL, (enum lt_dtype)dt, tril_forward_fast,
                        grad ? tril_backward_fast : NULL);
        if (grad)
            lt_cpu_set_fast(b, LT_OP_MASKED_FILL, (enum lt_dtype)dt, masked_fill_forward_fast,
                            masked_fill_backward_fast);
    }
}
