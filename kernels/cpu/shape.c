/* Reference kernels for reshape, transpose (of the last two dims), concat, permute and
 * narrow. They move elements without looking at them, so the forward copies bytes for any
 * dtype; the backward moves the f32 gradient the opposite way.
 *
 * The fast paths split the copies between threads; transpose moves panels of a few rows
 * at a time; permute copies whole rows where the last dim stays last, and goes through
 * transpose's panels where it amounts to a batch of transposes. Their backward moves the
 * gradient in its own dtype, half for half tensors (struct lt_kernel's half_gradients).
 */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

static enum lt_status reshape_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    size_t bytes = (size_t)lt_kview_numel(x) * lt_dtype_bytes(x->dtype);
    if (bytes) /* an empty tensor may have no buffer at all */
        memcpy(a->out[0]->data, x->data, bytes);
    return LT_OK;
}

static enum lt_status transpose_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim;
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    size_t es = lt_dtype_bytes(x->dtype);
    const char *src = x->data;   /* (batch, R, C) */
    char *dst = a->out[0]->data; /* (batch, C, R) */
    for (int64_t t = 0; t < batch; t++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                memcpy(dst + (size_t)((t * C + c) * R + r) * es,
                       src + (size_t)((t * R + r) * C + c) * es, es);
    return LT_OK;
}

static enum lt_status transpose_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim;
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    const float *g = a->gout[0]->data; /* (batch, C, R) */
    for (int64_t t = 0; t < batch; t++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                lt_grad_store(a, 0, (t * R + r) * C + c, g[(t * C + c) * R + r]);
    return LT_OK;
}

static int concat_dim(const struct lt_kargs *a) {
    const struct lt_concat_attrs *at = a->attrs;
    return at->dim < 0 ? at->dim + a->in[0]->ndim : at->dim;
}

/* The output, seen as (outer, sum of the inputs' sizes along dim, inner), holds for
 * each outer index the matching block of every input in turn. */
static enum lt_status concat_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int d = concat_dim(a);
    int64_t outer = lt_dims_product(x, 0, d), inner = lt_dims_product(x, d + 1, x->ndim);
    size_t es = lt_dtype_bytes(x->dtype);
    char *dst = a->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < a->n_in; i++) {
            size_t chunk = (size_t)(a->in[i]->shape[d] * inner) * es;
            if (chunk)
                memcpy(dst, (const char *)a->in[i]->data + (size_t)o * chunk, chunk);
            dst += chunk;
        }
    return LT_OK;
}

static enum lt_status concat_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int d = concat_dim(a);
    int64_t outer = lt_dims_product(x, 0, d), inner = lt_dims_product(x, d + 1, x->ndim);
    const float *g = a->gout[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < a->n_in; i++) {
            int64_t chunk = a->in[i]->shape[d] * inner;
            if (a->gin[i])
                for (int64_t e = 0; e < chunk; e++)
                    lt_grad_store(a, i, o * chunk + e, g[e]);
            g += chunk;
        }
    return LT_OK;
}

/* narrow sees x as (outer, size, inner) and the output as (outer, length, inner): output
 * row o is x's row o from position start on. */
struct narrow_geom {
    int64_t outer, size, inner, start, length;
};

static struct narrow_geom narrow_geom_of(const struct lt_kargs *a) {
    const struct lt_narrow_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0];
    int d = at->dim < 0 ? at->dim + x->ndim : at->dim;
    struct narrow_geom n = {lt_dims_product(x, 0, d), x->shape[d],
                            lt_dims_product(x, d + 1, x->ndim), at->start, at->length};
    if (n.start < 0)
        n.start += n.size;
    return n;
}

static enum lt_status narrow_forward_ref(const struct lt_kargs *a) {
    struct narrow_geom n = narrow_geom_of(a);
    size_t es = lt_dtype_bytes(a->in[0]->dtype), chunk = (size_t)(n.length * n.inner) * es;
    const char *x = a->in[0]->data;
    char *y = a->out[0]->data;
    for (int64_t o = 0; o < n.outer && chunk; o++)
        memcpy(y + (size_t)o * chunk, x + (size_t)((o * n.size + n.start) * n.inner) * es, chunk);
    return LT_OK;
}

/* gin is gout inside the slice and 0 outside it. */
static enum lt_status narrow_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    struct narrow_geom n = narrow_geom_of(a);
    const float *g = a->gout[0]->data;
    for (int64_t o = 0; o < n.outer; o++)
        for (int64_t p = 0; p < n.size; p++)
            for (int64_t e = 0; e < n.inner; e++) {
                int64_t q = p - n.start;
                double v = q >= 0 && q < n.length ? g[(o * n.length + q) * n.inner + e] : 0.0;
                lt_grad_store(a, 0, (o * n.size + p) * n.inner + e, v);
            }
    return LT_OK;
}

/* A permuted copy as a walk over its destination, which is contiguous: the destination's
 * element at multi-index idx (in shape[0 .. nd)) is the source's element
 * sum idx[i] * stride[i]. */
struct perm_walk {
    int nd;
    int64_t shape[LT_MAX_DIMS], stride[LT_MAX_DIMS];
};

/* The walk that gathers the contiguous src into the dim order `order` (0-based or
 * negative, a permutation, as shape inference checked): destination dim i is src's dim
 * order[i]. */
static void perm_walk_of(struct perm_walk *w, const struct lt_kview *src, const int *order) {
    int64_t st[LT_MAX_DIMS], s = 1;
    for (int i = src->ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= src->shape[i];
    }
    w->nd = src->ndim;
    for (int i = 0; i < src->ndim; i++) {
        int d = order[i] < 0 ? order[i] + src->ndim : order[i];
        w->shape[i] = src->shape[d];
        w->stride[i] = st[d];
    }
}

/* Moves idx, over the walk's first nd dims, to the next element in row-major order, and
 * `from` (the source element) with it; after the last it wraps to the first. */
static void perm_step(const struct perm_walk *w, int nd, int64_t *idx, int64_t *from) {
    for (int i = nd - 1; i >= 0; i--) {
        *from += w->stride[i];
        if (++idx[i] < w->shape[i])
            return;
        *from -= w->stride[i] * w->shape[i];
        idx[i] = 0;
    }
}

static const int *permute_dims(const struct lt_kargs *a) {
    return ((const struct lt_permute_attrs *)a->attrs)->dims;
}

static enum lt_status permute_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    struct perm_walk w;
    perm_walk_of(&w, x, permute_dims(a));
    size_t es = lt_dtype_bytes(x->dtype);
    int64_t idx[LT_MAX_DIMS] = {0}, from = 0, n = lt_kview_numel(x);
    const char *src = x->data;
    char *dst = a->out[0]->data;
    for (int64_t o = 0; o < n; o++) {
        memcpy(dst + (size_t)o * es, src + (size_t)from * es, es);
        perm_step(&w, w.nd, idx, &from);
    }
    return LT_OK;
}

/* Output element o came from x's element `from`: its gradient goes back there. */
static enum lt_status permute_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    struct perm_walk w;
    perm_walk_of(&w, x, permute_dims(a));
    int64_t idx[LT_MAX_DIMS] = {0}, from = 0, n = lt_kview_numel(x);
    const float *g = a->gout[0]->data;
    for (int64_t o = 0; o < n; o++) {
        lt_grad_store(a, 0, from, g[o]);
        perm_step(&w, w.nd, idx, &from);
    }
    return LT_OK;
}

/* ---- fast paths ------------------------------------------------------------------------------ */

/* A copy splits between threads from this many bytes up (LT_PAR_STREAM floats). */
#define PAR_BYTES ((int64_t)LT_PAR_STREAM * 4)

static enum lt_status reshape_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int64_t bytes = lt_kview_numel(x) * (int64_t)lt_dtype_bytes(x->dtype);
    if (bytes == 0)
        return LT_OK;
#pragma omp parallel if (bytes >= PAR_BYTES)
    {
        int64_t lo, hi;
        lt_share(bytes, 64, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        memcpy((char *)a->out[0]->data + lo, (const char *)x->data + lo, (size_t)(hi - lo));
    }
    return LT_OK;
}

LT_INLINE void copy_grad_f32_body(const float *restrict v, const float *restrict g,
                                  float *restrict gx, int64_t n, float c, int acc) {
    (void)v;
    (void)c;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += g[i];
    } else {
        memcpy(gx, g, (size_t)n * sizeof(float));
    }
}
LT_DISPATCH(copy_grad_f32,
            (const float *restrict v, const float *restrict g, float *restrict gx, int64_t n,
             float c, int acc),
            (v, g, gx, n, c, acc));

enum lt_status lt_identity_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    enum lt_dtype from = a->gout[0]->dtype, to = a->gin[0]->dtype;
    int64_t n = lt_kview_numel(a->gout[0]);
    if (from == LT_DTYPE_F32 && to == LT_DTYPE_F32) {
        lt_par_grad(copy_grad_f32, NULL, a->gout[0]->data, a->gin[0]->data, n, 0.0f,
                    lt_accumulates(a, 0), LT_PAR_STREAM);
        return LT_OK;
    }
    size_t fs = lt_dtype_bytes(from), ts = lt_dtype_bytes(to);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lt_grad_move(from, (const char *)a->gout[0]->data + (size_t)lo * fs, to,
                     (char *)a->gin[0]->data + (size_t)lo * ts, hi - lo, acc);
    }
    return LT_OK;
}

/* Transposes move panels of PANEL rows of src: for each column, the panel's values go to
 * one short run of a dst row. The reads are PANEL streams along src's rows, the writes
 * runs of PANEL elements; wider square tiles measured slower (power-of-two row strides
 * make a tile's rows collide in the cache). */
#define PANEL 8

/* dst (C, R) = (or +=, acc) the transpose of src (R, C), panels [p0, p1). */
LT_INLINE void transpose_panels_f32_body(const float *restrict src, float *restrict dst, int64_t R,
                                         int64_t C, int64_t p0, int64_t p1, int acc) {
    for (int64_t p = p0; p < p1; p++) {
        int64_t r0 = p * PANEL, nr = R - r0 < PANEL ? R - r0 : PANEL;
        const float *s0 = src + r0 * C;
        for (int64_t c = 0; c < C; c++) {
            float *d = dst + c * R + r0;
            if (acc)
                for (int64_t r = 0; r < nr; r++)
                    d[r] += s0[r * C + c];
            else
                for (int64_t r = 0; r < nr; r++)
                    d[r] = s0[r * C + c];
        }
    }
}
LT_DISPATCH(transpose_panels_f32,
            (const float *restrict src, float *restrict dst, int64_t R, int64_t C, int64_t p0,
             int64_t p1, int acc),
            (src, dst, R, C, p0, p1, acc));

/* The same for 2-byte elements (f16, bf16), which need no arithmetic. */
LT_INLINE void transpose_panels_u16_body(const uint16_t *restrict src, uint16_t *restrict dst,
                                         int64_t R, int64_t C, int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; p++) {
        int64_t r0 = p * PANEL, nr = R - r0 < PANEL ? R - r0 : PANEL;
        const uint16_t *s0 = src + r0 * C;
        for (int64_t c = 0; c < C; c++)
            for (int64_t r = 0; r < nr; r++)
                dst[c * R + r0 + r] = s0[r * C + c];
    }
}
LT_DISPATCH(transpose_panels_u16,
            (const uint16_t *restrict src, uint16_t *restrict dst, int64_t R, int64_t C, int64_t p0,
             int64_t p1),
            (src, dst, R, C, p0, p1));

/* Transposes every (R, C) matrix of src into dst (C, R), the panels of all of them split
 * between threads. es is 4 (floats, i32) or 2; `acc` adds (f32 only). */
static void transpose_all(const void *src, void *dst, int64_t batch, int64_t R, int64_t C,
                          size_t es, int acc) {
    int64_t per = (R + PANEL - 1) / PANEL, total = batch * per;
#pragma omp parallel if (batch * R * C >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(total, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        while (lo < hi) {
            int64_t b = lo / per, end = (b + 1) * per < hi ? (b + 1) * per : hi;
            size_t at = (size_t)(b * R * C) * es;
            if (es == 4)
                transpose_panels_f32((const float *)((const char *)src + at),
                                     (float *)((char *)dst + at), R, C, lo - b * per, end - b * per,
                                     acc);
            else
                transpose_panels_u16((const uint16_t *)((const char *)src + at),
                                     (uint16_t *)((char *)dst + at), R, C, lo - b * per,
                                     end - b * per);
            lo = end;
        }
    }
}

static enum lt_status transpose_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    size_t es = lt_dtype_bytes(x->dtype);
    if (es == 1)
        return transpose_forward_ref(a);
    int nd = x->ndim;
    transpose_all(x->data, a->out[0]->data, lt_dims_product(x, 0, nd - 2), x->shape[nd - 2],
                  x->shape[nd - 1], es, 0);
    return LT_OK;
}

/* Whether a backward call adds a half gradient into gin[0]: the transposes and
 * permutations add only f32, so they move it into the workspace first. */
static int adds_half(const struct lt_kargs *a) {
    return a->gin[0] && a->gin[0]->dtype != LT_DTYPE_F32 && lt_accumulates(a, 0);
}

static size_t moved_workspace(const struct lt_kargs *a, int backward) {
    return backward && adds_half(a) ? (size_t)lt_kview_numel(a->gin[0]) * 2 : 0;
}

/* gin[0] += the half gradient the caller moved into the workspace. */
static void add_moved(const struct lt_kargs *a) {
    enum lt_dtype dt = a->gin[0]->dtype;
    int64_t n = lt_kview_numel(a->gin[0]);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lt_grad_move(dt, (const uint16_t *)a->workspace + lo, dt, (uint16_t *)a->gin[0]->data + lo,
                     hi - lo, 1);
    }
}

/* The gradient (batch, C, R) transposed back into gin (batch, R, C). */
static enum lt_status transpose_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim, half_acc = adds_half(a);
    transpose_all(a->gout[0]->data, half_acc ? a->workspace : a->gin[0]->data,
                  lt_dims_product(x, 0, nd - 2), x->shape[nd - 1], x->shape[nd - 2],
                  lt_dtype_bytes(a->gin[0]->dtype), lt_accumulates(a, 0) && !half_acc);
    if (half_acc)
        add_moved(a);
    return LT_OK;
}

/* Elements [lo, hi) of the concatenation (outer, sum of the inputs' sizes along dim,
 * inner): forward copies them from the inputs (es bytes each); backward (grad) copies the
 * gradient (the inputs' dtype) back into every gin that is not NULL, adding when
 * accumulating. */
static void concat_range(const struct lt_kargs *a, int64_t inner, size_t es, int grad, int64_t lo,
                         int64_t hi) {
    int d = concat_dim(a);
    int64_t row = a->out[0]->shape[d] * inner;
    char *out = grad ? a->gout[0]->data : a->out[0]->data;
    for (int64_t o = lo / row, at = o * row; at < hi; o++)
        for (int i = 0; i < a->n_in && at < hi; i++) {
            int64_t chunk = a->in[i]->shape[d] * inner;
            int64_t b = at > lo ? at : lo, e = at + chunk < hi ? at + chunk : hi;
            int64_t from = o * chunk + b - at;
            if (b < e && !grad) {
                memcpy(out + (size_t)b * es, (const char *)a->in[i]->data + (size_t)from * es,
                       (size_t)(e - b) * es);
            } else if (b < e && a->gin[i]) {
                enum lt_dtype dt = a->gin[i]->dtype;
                lt_grad_move(dt, out + (size_t)b * es, dt,
                             (char *)a->gin[i]->data + (size_t)from * es, e - b,
                             lt_accumulates(a, i));
            }
            at += chunk;
        }
}

static void concat_all(const struct lt_kargs *a, int grad) {
    const struct lt_kview *x = a->in[0];
    int d = concat_dim(a);
    int64_t inner = lt_dims_product(x, d + 1, x->ndim), n = lt_kview_numel(a->out[0]);
    size_t es = lt_dtype_bytes(grad ? a->gout[0]->dtype : x->dtype);
    if (n == 0)
        return;
    /* concat(x, x): two slots add into one gradient, whose elements two threads' shares
     * of the output would both reach; one thread then */
    int shared = 0;
    for (int i = 0; grad && i < a->n_in; i++)
        for (int j = 0; j < i; j++)
            shared |= a->gin[i] && a->gin[j] && a->gin[i]->data == a->gin[j]->data;
#pragma omp parallel if (n >= LT_PAR_STREAM && !shared)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        concat_range(a, inner, es, grad, lo, hi);
    }
}

static enum lt_status concat_forward_fast(const struct lt_kargs *a) {
    concat_all(a, 0);
    return LT_OK;
}

static enum lt_status concat_backward_fast(const struct lt_kargs *a) {
    concat_all(a, 1);
    return LT_OK;
}

/* The walk with its dims of size 1 dropped and neighbours merged where the source steps
 * through them as through one dim (stride[i] == stride[i + 1] * shape[i + 1]): the
 * identity becomes one run, a permutation that keeps the last dim last walks rows of at
 * least that dim. At least one dim stays. */
static void perm_walk_merge(struct perm_walk *w) {
    int n = 0;
    for (int i = 0; i < w->nd; i++) {
        if (w->shape[i] == 1)
            continue;
        if (n > 0 && w->stride[n - 1] == w->stride[i] * w->shape[i]) {
            w->shape[n - 1] *= w->shape[i];
            w->stride[n - 1] = w->stride[i];
        } else {
            w->shape[n] = w->shape[i];
            w->stride[n] = w->stride[i];
            n++;
        }
    }
    if (n == 0) {
        w->shape[0] = w->stride[0] = 1;
        n = 1;
    }
    w->nd = n;
}

/* dst[k] = (or +=, acc: f32 gradients) src[k * step] for k in [0, n), es-byte elements. */
static void copy_line(char *restrict dst, const char *restrict src, int64_t n, int64_t step,
                      size_t es, int acc) {
    if (acc) {
        float *d = (float *)dst;
        const float *s = (const float *)src;
        for (int64_t k = 0; k < n; k++)
            d[k] += s[k * step];
    } else if (step == 1) {
        memcpy(dst, src, (size_t)n * es);
    } else if (es == 4) {
        for (int64_t k = 0; k < n; k++)
            ((uint32_t *)dst)[k] = ((const uint32_t *)src)[k * step];
    } else if (es == 2) {
        for (int64_t k = 0; k < n; k++)
            ((uint16_t *)dst)[k] = ((const uint16_t *)src)[k * step];
    } else {
        for (int64_t k = 0; k < n; k++)
            dst[k] = src[k * step];
    }
}

/* dst = (or +=, acc) src gathered by the merged walk w, es bytes per element. A walk of
 * a batch of 2-D transposes, dst (batch, C, R) from src (batch, R, C), goes through
 * transpose_all's panels (2- and 4-byte elements); any other runs along the walk's last
 * dim, its lines (or, for a single line, its elements) split between threads. */
static void permute_all(const struct perm_walk *w, const void *src, void *dst, size_t es, int acc) {
    int nd = w->nd, b = nd - 2; /* b: the transposes' C dim */
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= w->shape[i];
    if (n == 0)
        return;
    if (es != 1 && (nd == 2 || nd == 3) && w->stride[b] == 1 && w->stride[b + 1] == w->shape[b] &&
        (nd == 2 || w->stride[0] == w->shape[1] * w->shape[2])) {
        transpose_all(src, dst, nd == 3 ? w->shape[0] : 1, w->shape[b + 1], w->shape[b], es, acc);
        return;
    }
    int64_t len = w->shape[nd - 1], step = w->stride[nd - 1];
    const char *s = src;
    char *d = dst;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        if (nd == 1) {
            lt_share(n, 64, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            copy_line(d + (size_t)lo * es, s + (size_t)(lo * step) * es, hi - lo, step, es, acc);
        } else {
            lt_share(n / len, 1, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            int64_t idx[LT_MAX_DIMS] = {0}, from = 0, rest = lo;
            for (int i = nd - 2; i >= 0; i--) {
                idx[i] = rest % w->shape[i];
                rest /= w->shape[i];
                from += idx[i] * w->stride[i];
            }
            for (int64_t l = lo; l < hi; l++) {
                copy_line(d + (size_t)(l * len) * es, s + (size_t)from * es, len, step, es, acc);
                perm_step(w, nd - 1, idx, &from);
            }
        }
    }
}

static enum lt_status permute_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    struct perm_walk w;
    perm_walk_of(&w, x, permute_dims(a));
    perm_walk_merge(&w);
    permute_all(&w, x->data, a->out[0]->data, lt_dtype_bytes(x->dtype), 0);
    return LT_OK;
}

/* The gradient goes back through the inverse permutation (gin's dim dims[i] is gout's
 * dim i), so that gin is written in order. */
static enum lt_status permute_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    const int *dims = permute_dims(a);
    int inv[LT_MAX_DIMS] = {0};
    for (int i = 0; i < x->ndim; i++)
        inv[dims[i] < 0 ? dims[i] + x->ndim : dims[i]] = i;
    struct perm_walk w;
    perm_walk_of(&w, a->gout[0], inv);
    perm_walk_merge(&w);
    int half_acc = adds_half(a);
    permute_all(&w, a->gout[0]->data, half_acc ? a->workspace : a->gin[0]->data,
                lt_dtype_bytes(a->gin[0]->dtype), lt_accumulates(a, 0) && !half_acc);
    if (half_acc)
        add_moved(a);
    return LT_OK;
}

/* The output's elements [lo, hi) (forward, es bytes each), or gin's (backward): the
 * slice's positions copy (or add into gin), gin's others are zeroed when not
 * accumulating. */
static void narrow_range(const struct lt_kargs *a, const struct narrow_geom *n, int grad,
                         int64_t lo, int64_t hi) {
    int64_t slice = n->length * n->inner, row = grad ? n->size * n->inner : slice;
    int64_t first = n->start * n->inner; /* the slice's offset in a row of x */
    if (!grad) {
        size_t es = lt_dtype_bytes(a->in[0]->dtype);
        const char *x = a->in[0]->data;
        char *y = a->out[0]->data;
        for (int64_t o = lo / row; o * row < hi; o++) {
            int64_t b = o * row > lo ? o * row : lo, e = (o + 1) * row < hi ? (o + 1) * row : hi;
            memcpy(y + (size_t)b * es,
                   x + (size_t)(o * n->size * n->inner + first + b - o * row) * es,
                   (size_t)(e - b) * es);
        }
        return;
    }
    enum lt_dtype dt = a->gin[0]->dtype;
    size_t es = lt_dtype_bytes(dt);
    const char *g = a->gout[0]->data;
    char *gx = a->gin[0]->data;
    int acc = lt_accumulates(a, 0);
    for (int64_t o = lo / row; o * row < hi; o++) {
        int64_t b = o * row > lo ? o * row : lo, e = (o + 1) * row < hi ? (o + 1) * row : hi;
        int64_t s0 = o * row + first, s1 = s0 + slice; /* the slice within row o */
        int64_t c0 = b > s0 ? b : s0, c1 = e < s1 ? e : s1;
        if (c0 >= c1) { /* this share of the row misses the slice */
            if (!acc)
                memset(gx + (size_t)b * es, 0, (size_t)(e - b) * es);
            continue;
        }
        if (!acc) {
            memset(gx + (size_t)b * es, 0, (size_t)(c0 - b) * es);
            memset(gx + (size_t)c1 * es, 0, (size_t)(e - c1) * es);
        }
        lt_grad_move(dt, g + (size_t)(o * slice + (c0 - s0)) * es, dt, gx + (size_t)c0 * es,
                     c1 - c0, acc);
    }
}

static void narrow_all(const struct lt_kargs *a, int grad) {
    struct narrow_geom n = narrow_geom_of(a);
    int64_t total = n.outer * (grad ? n.size : n.length) * n.inner;
    if (total == 0)
        return;
#pragma omp parallel if (total >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(total, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        if (lo < hi)
            narrow_range(a, &n, grad, lo, hi);
    }
}

static enum lt_status narrow_forward_fast(const struct lt_kargs *a) {
    narrow_all(a, 0);
    return LT_OK;
}

static enum lt_status narrow_backward_fast(const struct lt_kargs *a) {
    if (a->gin[0])
        narrow_all(a, 1);
    return LT_OK;
}

void lt_cpu_register_shape(struct lt_backend *b, int fast) {
    for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
        /* integer tensors never need a gradient */
        int grad = dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
        if (!fast) {
            lt_cpu_set(b, LT_OP_RESHAPE, (enum lt_dtype)dt, reshape_forward_ref,
                       grad ? lt_identity_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_TRANSPOSE, (enum lt_dtype)dt, transpose_forward_ref,
                       grad ? transpose_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_CONCAT, (enum lt_dtype)dt, concat_forward_ref,
                       grad ? concat_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_PERMUTE, (enum lt_dtype)dt, permute_forward_ref,
                       grad ? permute_backward_ref : NULL);
            lt_cpu_set(b, LT_OP_NARROW, (enum lt_dtype)dt, narrow_forward_ref,
                       grad ? narrow_backward_ref : NULL);
            continue;
        }
        lt_cpu_set_fast(b, LT_OP_RESHAPE, (enum lt_dtype)dt, reshape_forward_fast,
                        grad ? lt_identity_backward_fast : NULL);
        lt_cpu_set_fast(b, LT_OP_TRANSPOSE, (enum lt_dtype)dt, transpose_forward_fast,
                        grad ? transpose_backward_fast : NULL);
        lt_cpu_set_fast(b, LT_OP_CONCAT, (enum lt_dtype)dt, concat_forward_fast,
                        grad ? concat_backward_fast : NULL);
        lt_cpu_set_fast(b, LT_OP_PERMUTE, (enum lt_dtype)dt, permute_forward_fast,
                        grad ? permute_backward_fast : NULL);
        lt_cpu_set_fast(b, LT_OP_NARROW, (enum lt_dtype)dt, narrow_forward_fast,
                        grad ? narrow_backward_fast : NULL);
        b->kernels[LT_OP_TRANSPOSE][dt].workspace = moved_workspace;
        b->kernels[LT_OP_PERMUTE][dt].workspace = moved_workspace;
    }
    if (!fast)
        return;
    static const enum lt_op moves[] = {LT_OP_RESHAPE, LT_OP_TRANSPOSE, LT_OP_CONCAT, LT_OP_PERMUTE,
                                       LT_OP_NARROW};
    for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
        lt_cpu_half_gradients(b, moves[i]);
}
