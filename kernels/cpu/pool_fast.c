/* Max and average pooling's fast paths (the references are pool.c's, global average
 * pooling's fast paths pool_global.c's). They split the planes
 * (N * C) between threads and take one of three paths: the CNN's 2x2 stride 2 windows,
 * in passes that each run along many outputs at once; any other window on a small plane,
 * through a padded copy in which every window is a set of fixed offsets (one loop over
 * all of a plane's outputs per window element); larger planes, vectorised along output
 * rows with the edges a window at a time. Max and average pooling share each path's
 * walk, and differ in the reduction: max pooling also writes each window's argmax code
 * (pool.h, lt_pool_code; u8 here, an i32 code goes to the reference). The backward
 * passes scatter from each window instead of gathering into each input, the same sums
 * in another order; max pooling's reads the codes alone, not x. The half kernels run
 * the f32 ones on f32 copies, or for 2x2 windows plane by plane.
 */
#include <string.h>

#include "kernels/cpu/pool.h"
#include "kernels/cpu/vec.h"

/* Max and average pooling share the small-plane and any-window walks, which take `avg`:
 * 0 reduces a window to its maximum and its code, 1 to its sum divided by the window's
 * divisor. A dispatched body calls its walk once with each constant, so that the choice
 * folds away and each pooling gets loops of its own, as if written apart. */

/* The windows [*lo, *hi) along a dim that lie wholly inside the image (clamped to
 * [0, out); empty when none does). Window j covers [j * stride - pad, ... + k). */
static void interior(int64_t out, int64_t k, int64_t stride, int64_t pad, int64_t size, int64_t *lo,
                     int64_t *hi) {
    int64_t first = (pad + stride - 1) / stride;
    int64_t end = size - k + pad >= 0 ? (size - k + pad) / stride + 1 : 0;
    *lo = min64(first, out);
    *hi = max64(min64(end, out), *lo);
}

/* The CNN's window, 2x2 with stride 2 and no padding: no window overlaps another. */
static int is_2x2(const struct pool_dims *d) {
    return d->kh == 2 && d->kw == 2 && d->sh == 2 && d->sw == 2 && d->ph == 0 && d->pw == 0;
}

/* Scratch of the 2x2 forward passes, on the stack: a few image rows, in L1. */
#define ROWS_BUF 2048

/* A 2x2 window's maximum, found column first: each column's larger element (*below: the
 * bottom one, which takes it when larger or the first NaN), then the right column's
 * winner (position 1 or 3 in row-major window order) against the left's (0 or 2): it
 * takes the window when larger, the first NaN, or equal and first in row-major order.
 * That is the reference's rule (pool.h), so the reference's value and code. */
LT_INLINE float column_max(float top, float bottom, int *below) {
    int t = max_takes(bottom, top);
    *below = t;
    return lt_vselect(t, bottom, top);
}

LT_INLINE float window_pick(float l, float r, int l_below, int r_below, uint8_t *code) {
    int pl = 2 * l_below, pr = 1 + 2 * r_below;
    int right = max_takes(r, l) | (!max_takes(l, r) & (pr < pl));
    *code = (uint8_t)(right ? pr : pl);
    return lt_vselect(right, r, l);
}

/* planes (h, w) -> (oh, ow), 2x2 windows, stride 2: the maximum and its code (code NULL
 * for average pooling). Two passes over a chunk of output rows, so that no loop runs
 * along a single short output row: each pair of input rows reduced into t (contiguous
 * loads), then each pair of t's neighbours, over the whole chunk at once (the pairs are
 * consecutive: t's rows are 2 * ow long). The average sums column first, (a + c) +
 * (b + d), and divides by 4. A row pair wider than the buffer goes straight to the
 * output. */
LT_INLINE void pool_2x2_walk(const float *restrict x, float *restrict y, uint8_t *restrict code,
                             int64_t planes, const struct pool_dims *d, int avg, int keep) {
    int64_t h = d->h, w = d->w, oh = d->oh, ow = d->ow, tw = 2 * ow;
    int64_t chunk = ROWS_BUF / (tw ? tw : 1);
    float t[ROWS_BUF];
    int below[ROWS_BUF];
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * h * w;
        float *yp = y + pl * oh * ow;
        uint8_t *cp = keep ? code + pl * oh * ow : NULL;
        if (chunk == 0) {
            for (int64_t i = 0; i < oh; i++) {
                const float *r0 = xp + 2 * i * w, *r1 = r0 + w;
#pragma omp simd
                for (int64_t j = 0; j < ow; j++) {
                    if (avg) {
                        float r = (r0[2 * j] + r1[2 * j]) + (r0[2 * j + 1] + r1[2 * j + 1]);
                        yp[i * ow + j] = r * 0.25f;
                        continue;
                    }
                    int bl, br;
                    uint8_t c;
                    float l = column_max(r0[2 * j], r1[2 * j], &bl);
                    float r = column_max(r0[2 * j + 1], r1[2 * j + 1], &br);
                    yp[i * ow + j] = window_pick(l, r, bl, br, &c);
                    if (keep)
                        cp[i * ow + j] = c;
                }
            }
            continue;
        }
        for (int64_t i0 = 0; i0 < oh; i0 += chunk) {
            int64_t rows = min64(chunk, oh - i0);
            for (int64_t r = 0; r < rows; r++) {
                const float *r0 = xp + 2 * (i0 + r) * w, *r1 = r0 + w;
                float *tr = t + r * tw;
                int *br = below + r * tw;
#pragma omp simd
                for (int64_t k = 0; k < tw; k++) {
                    if (avg)
                        tr[k] = r0[k] + r1[k];
                    else
                        tr[k] = column_max(r0[k], r1[k], &br[k]);
                }
            }
            float *yc = yp + i0 * ow;
            uint8_t *cc = keep ? cp + i0 * ow : NULL;
#pragma omp simd
            for (int64_t o = 0; o < rows * ow; o++) {
                uint8_t c;
                if (avg)
                    yc[o] = (t[2 * o] + t[2 * o + 1]) * 0.25f;
                else
                    yc[o] = window_pick(t[2 * o], t[2 * o + 1], below[2 * o], below[2 * o + 1], &c);
                if (keep)
                    cc[o] = c;
            }
        }
    }
}

LT_INLINE void pool_2x2_f32_body(const float *restrict x, float *restrict y, uint8_t *restrict code,
                                 int64_t planes, const struct pool_dims *d, int avg) {
    if (avg)
        pool_2x2_walk(x, y, NULL, planes, d, 1, 0);
    else if (code)
        pool_2x2_walk(x, y, code, planes, d, 0, 1);
    else /* nothing reads the codes */
        pool_2x2_walk(x, y, NULL, planes, d, 0, 0);
}
LT_DISPATCH(pool_2x2_f32,
            (const float *restrict x, float *restrict y, uint8_t *restrict code, int64_t planes,
             const struct pool_dims *d, int avg),
            (x, y, code, planes, d, avg));

/* Stores v into *g, or adds it when accumulating. */
LT_INLINE void put(int acc, float *g, float v) {
    if (acc)
        *g += v;
    else
        *g = v;
}

/* One output row's gradients gr (ow) into the input rows g0, g1 under it: each to its
 * window's maximum (the codes cr), or a quarter to each element. */
LT_INLINE void grad_2x2_row(const uint8_t *restrict cr, const float *restrict gr,
                            float *restrict g0, float *restrict g1, int64_t ow, int acc, int avg) {
#pragma omp simd
    for (int64_t j = 0; j < ow; j++) {
        float g = gr[j], v = g * 0.25f;
        int k = avg ? -1 : cr[j];
        put(acc, &g0[2 * j], avg ? v : lt_vselect(k == 0, g, 0.0f));
        put(acc, &g0[2 * j + 1], avg ? v : lt_vselect(k == 1, g, 0.0f));
        put(acc, &g1[2 * j], avg ? v : lt_vselect(k == 2, g, 0.0f));
        put(acc, &g1[2 * j + 1], avg ? v : lt_vselect(k == 3, g, 0.0f));
    }
}

/* The codes are read by max pooling only (NULL for average pooling). */
LT_INLINE void pool_2x2_grad_walk(const uint8_t *restrict code, const float *restrict gy,
                                  float *restrict gx, int64_t planes, const struct pool_dims *d,
                                  int acc, int avg) {
    int64_t h = d->h, w = d->w, oh = d->oh, ow = d->ow;
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int64_t i = 0; i < oh; i++) {
            const uint8_t *cr = avg ? NULL : code + (pl * oh + i) * ow;
            float *g0 = gx + (pl * h + 2 * i) * w, *g1 = g0 + w;
            const float *gr = gy + (pl * oh + i) * ow;
            if (acc)
                grad_2x2_row(cr, gr, g0, g1, ow, 1, avg);
            else
                grad_2x2_row(cr, gr, g0, g1, ow, 0, avg);
        }
        if (!acc)
            lt_pool_zero_uncovered(gx + pl * h * w, d);
    }
}

LT_INLINE void pool_2x2_grad_f32_body(const uint8_t *restrict code, const float *restrict gy,
                                      float *restrict gx, int64_t planes, const struct pool_dims *d,
                                      int acc, int avg) {
    if (avg)
        pool_2x2_grad_walk(code, gy, gx, planes, d, acc, 1);
    else
        pool_2x2_grad_walk(code, gy, gx, planes, d, acc, 0);
}
LT_DISPATCH(pool_2x2_grad_f32,
            (const uint8_t *restrict code, const float *restrict gy, float *restrict gx,
             int64_t planes, const struct pool_dims *d, int acc, int avg),
            (code, gy, gx, planes, d, acc, avg));

/* The columns [*j0, *j1) whose windows a fast path reduces in vector lanes: those wholly
 * inside the image, when there are enough of them to fill vectors; else none (*j0 = *j1
 * = out), and every column goes through the per-window loop. */
static void vector_columns(const struct pool_dims *d, int64_t *j0, int64_t *j1) {
    interior(d->ow, d->kw, d->sw, d->pw, d->w, j0, j1);
    if (*j1 - *j0 < 16)
        *j0 = *j1 = d->ow;
}

/* The mean of window (i, j) of the plane xp, a float sum over the in-image elements. */
static float window_mean(const float *xp, const struct pool_dims *d, int count_include_pad,
                         int64_t i, int64_t j) {
    int64_t h0, h1, w0, w1;
    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
    float s = 0.0f;
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++)
            s += xp[ih * d->w + iw];
    return s / (float)window_divisor(d, count_include_pad, i, j);
}

/* Window (i, j) of the plane xp reduced one window at a time: an edge column's value,
 * and max pooling's code into cr[j]. */
LT_INLINE float edge(const float *xp, const struct pool_dims *d, int count_include_pad, int64_t i,
                     int64_t j, uint8_t *cr, int avg) {
    if (avg)
        return window_mean(xp, d, count_include_pad, i, j);
    int64_t at = window_argmax(xp, d, i, j);
    if (cr)
        cr[j] = (uint8_t)lt_pool_code(d, i, j, at);
    return xp[at];
}

/* Any window: the vector columns as a running reduction in y over the window's elements
 * in row-major order (a maximum from the first element, its code tracked in code, a sum
 * from 0), the others through window_argmax or window_mean. code is max pooling's
 * (NULL for average pooling). */
LT_INLINE void pool_any_walk(const float *restrict x, float *restrict y, uint8_t *restrict code,
                             int64_t planes, const struct pool_dims *d, int count_include_pad,
                             int avg, int keep) {
    int64_t j0, j1, sw = d->sw;
    vector_columns(d, &j0, &j1);
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * d->h * d->w;
        float *yp = y + pl * d->oh * d->ow;
        for (int64_t i = 0; i < d->oh; i++) {
            float *yr = yp + i * d->ow;
            uint8_t *cr = keep ? code + (pl * d->oh + i) * d->ow : NULL;
            for (int64_t j = 0; j < j0; j++)
                yr[j] = edge(xp, d, count_include_pad, i, j, cr, avg);
            for (int64_t j = j1; j < d->ow; j++)
                yr[j] = edge(xp, d, count_include_pad, i, j, cr, avg);
            if (j0 == j1)
                continue;
            int64_t h0, h1;
            window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
            int64_t at = h0 * d->w - d->pw; /* window j's first element: at + j * sw */
            int64_t c0 = (h0 - (i * d->sh - d->ph)) * d->kw; /* its code */
#pragma omp simd
            for (int64_t j = j0; j < j1; j++) {
                yr[j] = avg ? 0.0f : xp[at + j * sw];
                if (keep)
                    cr[j] = (uint8_t)c0;
            }
            for (int64_t ih = h0; ih < h1; ih++)
                for (int64_t kx = !avg && ih == h0; kx < d->kw; kx++) {
                    int64_t off = ih * d->w - d->pw + kx;
                    uint8_t c = (uint8_t)(c0 + (ih - h0) * d->kw + kx);
                    if (avg) {
#pragma omp simd
                        for (int64_t j = j0; j < j1; j++)
                            yr[j] += xp[off + j * sw];
                        continue;
                    }
#pragma omp simd
                    for (int64_t j = j0; j < j1; j++) {
                        float v = xp[off + j * sw];
                        int t = max_takes(v, yr[j]);
                        yr[j] = lt_vselect(t, v, yr[j]);
                        if (keep)
                            cr[j] = t ? c : cr[j];
                    }
                }
            if (!avg)
                continue;
            float div = (float)(count_include_pad ? d->kh * d->kw : (h1 - h0) * d->kw);
#pragma omp simd
            for (int64_t j = j0; j < j1; j++)
                yr[j] /= div;
        }
    }
}

LT_INLINE void pool_any_f32_body(const float *restrict x, float *restrict y, uint8_t *restrict code,
                                 int64_t planes, const struct pool_dims *d, int count_include_pad,
                                 int avg) {
    if (avg)
        pool_any_walk(x, y, NULL, planes, d, count_include_pad, 1, 0);
    else if (code)
        pool_any_walk(x, y, code, planes, d, count_include_pad, 0, 1);
    else /* nothing reads the codes */
        pool_any_walk(x, y, NULL, planes, d, count_include_pad, 0, 0);
}
LT_DISPATCH(pool_any_f32,
            (const float *restrict x, float *restrict y, uint8_t *restrict code, int64_t planes,
             const struct pool_dims *d, int count_include_pad, int avg),
            (x, y, code, planes, d, count_include_pad, avg));

/* Max pooling's gradient of any window: each window's gout added to the element its code
 * names, in window order, into planes zeroed first unless the call accumulates. */
static void max_grad_scatter(const uint8_t *code, const float *gy, float *gx, int64_t planes,
                             const struct pool_dims *d, int acc) {
    int64_t hw = d->h * d->w, ohw = d->oh * d->ow;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = gy + pl * ohw;
        const uint8_t *cp = code + pl * ohw;
        float *gxp = gx + pl * hw;
        if (!acc)
            memset(gxp, 0, (size_t)hw * sizeof(float));
        for (int64_t i = 0; i < d->oh; i++)
            for (int64_t j = 0; j < d->ow; j++)
                gxp[lt_pool_at(d, i, j, cp[i * d->ow + j])] += gp[i * d->ow + j];
    }
}

/* Average pooling's gradient of any window: a share of each window's gout added to each
 * of its elements. */
static void avg_any_grad_f32(const float *gy, float *gx, int64_t planes, const struct pool_dims *d,
                             int count_include_pad, int acc) {
    int64_t hw = d->h * d->w;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = gy + pl * d->oh * d->ow;
        float *gxp = gx + pl * hw;
        if (!acc)
            memset(gxp, 0, (size_t)hw * sizeof(float));
        for (int64_t i = 0; i < d->oh; i++)
            for (int64_t j = 0; j < d->ow; j++) {
                int64_t h0, h1, w0, w1;
                window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
                window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
                float v = gp[i * d->ow + j] / (float)window_divisor(d, count_include_pad, i, j);
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        gxp[ih * d->w + iw] += v;
            }
    }
}

/* Scratch of the small-plane paths, on the stack of each thread. */
#define PAD_BUF 4096 /* floats of a padded plane */
#define OUT_BUF 1024 /* outputs of a plane */
#define WIN_BUF 256  /* elements of a window */

/* Small planes of any window go through a padded copy, inside which no window has an
 * edge: each window's elements are fixed offsets from its first one, so a loop over a
 * plane's outputs (gathering at base[o] + off[k]) is long and has no branch, where a loop
 * over one output row would be a few columns. The tables are the same for every plane. */
struct padded {
    int64_t hp, wp; /* the padded plane (H + 2 PH, W + 2 PW) */
    int n_out, n_win;
    int32_t base[OUT_BUF]; /* output o's window's first element in the padded plane */
    int32_t off[WIN_BUF];  /* the window's elements from its first, in row-major order */
    float div[OUT_BUF];    /* average pooling's divisor of output o */
};

static int fits_padded(const struct pool_dims *d) {
    return (d->h + 2 * d->ph) * (d->w + 2 * d->pw) <= PAD_BUF && d->oh * d->ow <= OUT_BUF &&
           d->kh * d->kw <= WIN_BUF;
}

static void padded_init(struct padded *p, const struct pool_dims *d, int count_include_pad) {
    p->hp = d->h + 2 * d->ph;
    p->wp = d->w + 2 * d->pw;
    p->n_out = (int)(d->oh * d->ow);
    p->n_win = (int)(d->kh * d->kw);
    for (int64_t i = 0; i < d->oh; i++)
        for (int64_t j = 0; j < d->ow; j++) {
            p->base[i * d->ow + j] = (int32_t)(i * d->sh * p->wp + j * d->sw);
            p->div[i * d->ow + j] = (float)window_divisor(d, count_include_pad, i, j);
        }
    for (int64_t ky = 0; ky < d->kh; ky++)
        for (int64_t kx = 0; kx < d->kw; kx++)
            p->off[ky * d->kw + kx] = (int32_t)(ky * p->wp + kx);
}

/* The padded plane P: the border set to `pad`, the interior the plane xp (H, W). */
static void pad_plane(float *P, const struct padded *p, const struct pool_dims *d, const float *xp,
                      float pad, int border) {
    if (border)
        for (int64_t k = 0; k < p->hp * p->wp; k++)
            P[k] = pad;
    for (int64_t ih = 0; ih < d->h; ih++)
        memcpy(P + (ih + d->ph) * p->wp + d->pw, xp + ih * d->w, (size_t)d->w * sizeof(float));
}

/* The reduction runs in window order from each window's first element. Max pooling pads
 * with -inf, which wins no window: the value is the reference's, and so is the code (k,
 * the window element that last took the maximum), except where a window's in-image
 * elements are all -inf and it starts on padding: window_argmax settles those. Average
 * pooling pads with 0 and divides the sums. */
LT_INLINE void pool_small_walk(const float *restrict x, float *restrict y, uint8_t *restrict code,
                               int64_t planes, const struct pool_dims *d, const struct padded *p,
                               int avg) {
    float P[PAD_BUF];
    uint8_t k_at[OUT_BUF];
    const int32_t *base = p->base;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * d->h * d->w;
        pad_plane(P, p, d, xp, avg ? 0.0f : -INFINITY, pl == 0);
        float *yp = y + pl * p->n_out;
#pragma omp simd
        for (int o = 0; o < p->n_out; o++) {
            yp[o] = P[base[o]];
            k_at[o] = 0;
        }
        for (int k = 1; k < p->n_win; k++) {
            int32_t off = p->off[k];
            if (avg) {
#pragma omp simd
                for (int o = 0; o < p->n_out; o++)
                    yp[o] += P[base[o] + off];
                continue;
            }
#pragma omp simd
            for (int o = 0; o < p->n_out; o++) {
                float v = P[base[o] + off];
                int t = max_takes(v, yp[o]);
                yp[o] = lt_vselect(t, v, yp[o]);
                k_at[o] = t ? (uint8_t)k : k_at[o];
            }
        }
        if (avg) {
#pragma omp simd
            for (int o = 0; o < p->n_out; o++)
                yp[o] /= p->div[o];
            continue;
        }
        uint8_t *cp = code ? code + pl * p->n_out : NULL; /* NULL: nothing reads them */
        for (int o = 0; cp && o < p->n_out; o++)
            cp[o] = yp[o] == -INFINITY
                        ? (uint8_t)lt_pool_code(d, o / d->ow, o % d->ow,
                                                window_argmax(xp, d, o / d->ow, o % d->ow))
                        : k_at[o];
    }
}

LT_INLINE void pool_small_f32_body(const float *restrict x, float *restrict y,
                                   uint8_t *restrict code, int64_t planes,
                                   const struct pool_dims *d, const struct padded *p, int avg) {
    if (avg)
        pool_small_walk(x, y, code, planes, d, p, 1);
    else
        pool_small_walk(x, y, code, planes, d, p, 0);
}
LT_DISPATCH(pool_small_f32,
            (const float *restrict x, float *restrict y, uint8_t *restrict code, int64_t planes,
             const struct pool_dims *d, const struct padded *p, int avg),
            (x, y, code, planes, d, p, avg));

/* Each window's share added to its elements in a padded gradient plane, one window
 * element at a time (the windows' k-th elements are distinct, so the lanes never
 * collide), then the interior moved out. */
LT_INLINE void avg_pool_small_grad_f32_body(const float *restrict gy, float *restrict gx,
                                            int64_t planes, const struct pool_dims *d,
                                            const struct padded *p, int acc) {
    float G[PAD_BUF], share[OUT_BUF];
    const int32_t *base = p->base;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *gp = gy + pl * p->n_out;
        float *gxp = gx + pl * d->h * d->w;
#pragma omp simd
        for (int o = 0; o < p->n_out; o++)
            share[o] = gp[o] / p->div[o];
        memset(G, 0, (size_t)(p->hp * p->wp) * sizeof(float));
        for (int k = 0; k < p->n_win; k++) {
            int32_t off = p->off[k];
#pragma omp simd
            for (int o = 0; o < p->n_out; o++)
                G[base[o] + off] += share[o];
        }
        for (int64_t ih = 0; ih < d->h; ih++) {
            const float *gr = G + (ih + d->ph) * p->wp + d->pw;
            float *out = gxp + ih * d->w;
            if (acc) {
#pragma omp simd
                for (int64_t iw = 0; iw < d->w; iw++)
                    out[iw] += gr[iw];
            } else {
                memcpy(out, gr, (size_t)d->w * sizeof(float));
            }
        }
    }
}
LT_DISPATCH(avg_pool_small_grad_f32,
            (const float *restrict gy, float *restrict gx, int64_t planes,
             const struct pool_dims *d, const struct padded *p, int acc),
            (gy, gx, planes, d, p, acc));

/* Each thread's share of the planes: [*p0, *p1). */
static void plane_share(const struct pool_dims *d, int64_t *p0, int64_t *p1) {
    lt_share(d->planes, 1, omp_get_thread_num(), omp_get_num_threads(), p0, p1);
}

/* Which loops a call takes: 2x2 stride 2; a small plane, padded; any other. */
enum pool_path { PATH_2X2, PATH_SMALL, PATH_ANY };

static enum pool_path pool_path(const struct pool_dims *d) {
    return is_2x2(d) ? PATH_2X2 : fits_padded(d) ? PATH_SMALL : PATH_ANY;
}

/* Whether the divisors count padding: max pooling divides by nothing, and takes the
 * tables' cheaper divisors. */
static int counts_pad(const struct lt_kargs *a, int avg) {
    const struct lt_pool2d_attrs *at = a->attrs;
    return avg ? at->count_include_pad : 1;
}

/* The fast forward of max pooling (avg 0), codes included, or average pooling (avg 1). */
static enum lt_status pool2d_forward_fast(const struct lt_kargs *a, int avg) {
    struct pool_dims d = pool_dims(a);
    const float *x = a->in[0]->data;              /* (N, C, H, W) */
    float *y = a->out[0]->data;                   /* (N, C, OH, OW) */
    uint8_t *code = avg ? NULL : a->out[1]->data; /* (N, C, OH, OW) */
    int count_include_pad = counts_pad(a, avg);
    enum pool_path path = pool_path(&d);
    struct padded pad;
    if (path == PATH_SMALL)
        padded_init(&pad, &d, count_include_pad);
#pragma omp parallel if (d.planes * d.h * d.w >= LT_PAR_STREAM)
    {
        int64_t p0, p1;
        plane_share(&d, &p0, &p1);
        const float *xs = x + p0 * d.h * d.w;
        float *ys = y + p0 * d.oh * d.ow;
        uint8_t *cs = code ? code + p0 * d.oh * d.ow : NULL; /* NULL: nothing reads them */
        if (path == PATH_2X2)
            pool_2x2_f32(xs, ys, cs, p1 - p0, &d, avg);
        else if (path == PATH_SMALL)
            pool_small_f32(xs, ys, cs, p1 - p0, &d, &pad, avg);
        else
            pool_any_f32(xs, ys, cs, p1 - p0, &d, count_include_pad, avg);
    }
    return LT_OK;
}

/* The fast backward of max pooling (avg 0), which reads the codes, or average pooling
 * (avg 1), which reads no forward tensor. */
static enum lt_status pool2d_backward_fast(const struct lt_kargs *a, int avg) {
    struct pool_dims d = pool_dims(a);
    const uint8_t *code = avg ? NULL : a->out[1]->data; /* (N, C, OH, OW) */
    const float *gy = a->gout[0]->data;                 /* (N, C, OH, OW) */
    if (!a->gin[0])
        return LT_OK;
    float *gx = a->gin[0]->data; /* (N, C, H, W) */
    int acc = lt_accumulates(a, 0), count_include_pad = counts_pad(a, avg);
    enum pool_path path = pool_path(&d);
    struct padded pad;
    if (path == PATH_SMALL)
        padded_init(&pad, &d, count_include_pad);
#pragma omp parallel if (d.planes * d.h * d.w >= LT_PAR_STREAM)
    {
        int64_t p0, p1;
        plane_share(&d, &p0, &p1);
        int64_t in_at = p0 * d.h * d.w, out_at = p0 * d.oh * d.ow;
        const uint8_t *cs = avg ? NULL : code + out_at;
        const float *gys = gy + out_at;
        float *gxs = gx + in_at;
        if (path == PATH_2X2) {
            if (avg || !lt_pool_2x2_max_grad_avx512(cs, gys, gxs, p1 - p0, &d, acc))
                pool_2x2_grad_f32(cs, gys, gxs, p1 - p0, &d, acc, avg);
        } else if (!avg)
            max_grad_scatter(cs, gys, gxs, p1 - p0, &d, acc);
        else if (path == PATH_SMALL)
            avg_pool_small_grad_f32(gys, gxs, p1 - p0, &d, &pad, acc);
        else
            avg_any_grad_f32(gys, gxs, p1 - p0, &d, count_include_pad, acc);
    }
    return LT_OK;
}

/* Codes of windows larger than a byte counts (i32) take the reference. */
static int wide_codes(const struct lt_kargs *a) {
    return a->out[1]->dtype != LT_DTYPE_U8;
}

static enum lt_status max_pool2d_forward_fast(const struct lt_kargs *a) {
    if (wide_codes(a))
        return lt_max_pool2d_forward_ref(a);
    return a->blocked ? lt_max_pool_blocked_forward(a) : pool2d_forward_fast(a, 0);
}

static enum lt_status max_pool2d_backward_fast(const struct lt_kargs *a) {
    if (wide_codes(a))
        return lt_max_pool2d_backward_ref(a);
    return a->blocked ? lt_max_pool_blocked_backward(a) : pool2d_backward_fast(a, 0);
}

static enum lt_status avg_pool2d_forward_fast(const struct lt_kargs *a) {
    return pool2d_forward_fast(a, 1);
}

static enum lt_status avg_pool2d_backward_fast(const struct lt_kargs *a) {
    return pool2d_backward_fast(a, 1);
}

/* Half pooling over the fast kernels: the f32 kernels on f32 copies. */
HALF_KERNEL(max_pool2d_forward_half_fast, max_pool2d_forward_fast, 0)
HALF_KERNEL(max_pool2d_backward_half_fast, max_pool2d_backward_fast, 1)
HALF_KERNEL(avg_pool2d_forward_half_fast, avg_pool2d_forward_fast, 0)
HALF_KERNEL(avg_pool2d_backward_half_fast, avg_pool2d_backward_fast, 1)

/* Half 2x2 pooling, planes at a time: each thread widens as many whole planes of x as fit
 * a buffer on its stack (planes are contiguous), runs the f32 walk over them and rounds
 * their output back (exact for max pooling), so that no f32 copy of the whole tensor is
 * made or planned. Larger planes and the other windows take the whole-tensor copies
 * above. */
#define HALF_PLANE 16384 /* floats: 64 KiB, a 128x128 plane */

static int half_by_planes(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    return is_2x2(&d) && d.h * d.w <= HALF_PLANE;
}

/* How many of [p, p1)'s planes of hw elements fit the stack buffers. */
static int64_t planes_at_once(int64_t p, int64_t p1, int64_t hw) {
    int64_t fit = HALF_PLANE / hw;
    return p1 - p < fit ? p1 - p : fit;
}

static size_t half_pool_workspace(const struct lt_kargs *a, int backward) {
    return half_by_planes(a) || a->blocked ? 0 : lt_half_ref_workspace(a, backward);
}

static enum lt_status pool_2x2_forward_half(const struct lt_kargs *a, int avg) {
    struct pool_dims d = pool_dims(a);
    enum lt_dtype dt = a->in[0]->dtype;
    const uint16_t *x = a->in[0]->data;
    uint16_t *y = a->out[0]->data;
#pragma omp parallel if (d.planes * d.h * d.w >= LT_PAR_STREAM)
    {
        float xf[HALF_PLANE], yf[HALF_PLANE / 4];
        int64_t p0, p1;
        plane_share(&d, &p0, &p1);
        for (int64_t p = p0, k; p < p1; p += k) {
            k = planes_at_once(p, p1, d.h * d.w);
            lt_half_to_f32_n(dt, x + p * d.h * d.w, xf, k * d.h * d.w);
            uint8_t *code = avg ? NULL : a->out[1]->data; /* NULL: nothing reads them */
            pool_2x2_f32(xf, yf, code ? code + p * d.oh * d.ow : NULL, k, &d, avg);
            lt_f32_to_half_n(dt, yf, y + p * d.oh * d.ow, k * d.oh * d.ow);
        }
    }
    return LT_OK;
}

/* The half gradient of 2x2 pooling, planes at a time: gout's planes widened on the stack,
 * the f32 walk (max pooling's from the codes) into f32 planes of gin (loaded first when
 * adding), rounded back once. */
static enum lt_status pool_2x2_backward_half(const struct lt_kargs *a, int avg) {
    if (!a->gin[0])
        return LT_OK;
    struct pool_dims d = pool_dims(a);
    enum lt_dtype dt = a->in[0]->dtype;
    const uint8_t *code = avg ? NULL : a->out[1]->data;
    const uint16_t *gy = a->gout[0]->data;
    uint16_t *gx = a->gin[0]->data;
    int acc = lt_accumulates(a, 0);
    int64_t hw = d.h * d.w, ohw = d.oh * d.ow;
#pragma omp parallel if (d.planes * hw >= LT_PAR_STREAM)
    {
        float gxf[HALF_PLANE], gyf[HALF_PLANE / 4];
        int64_t p0, p1;
        plane_share(&d, &p0, &p1);
        for (int64_t p = p0, k; p < p1; p += k) {
            k = planes_at_once(p, p1, hw);
            const uint8_t *cs = avg ? NULL : code + p * ohw;
            lt_half_to_f32_n(dt, gy + p * ohw, gyf, k * ohw);
            if (acc)
                lt_half_to_f32_n(dt, gx + p * hw, gxf, k * hw);
            if (avg || !lt_pool_2x2_max_grad_avx512(cs, gyf, gxf, k, &d, acc))
                pool_2x2_grad_f32(cs, gyf, gxf, k, &d, acc, avg);
            lt_f32_to_half_n(dt, gxf, gx + p * hw, k * hw);
        }
    }
    return LT_OK;
}

static enum lt_status max_pool2d_forward_half(const struct lt_kargs *a) {
    if (a->blocked)
        return lt_max_pool_blocked_forward(a);
    return half_by_planes(a) ? pool_2x2_forward_half(a, 0) : max_pool2d_forward_half_fast(a);
}

static enum lt_status max_pool2d_backward_half(const struct lt_kargs *a) {
    if (a->blocked)
        return lt_max_pool_blocked_backward(a);
    return half_by_planes(a) ? pool_2x2_backward_half(a, 0) : max_pool2d_backward_half_fast(a);
}

static enum lt_status avg_pool2d_forward_half(const struct lt_kargs *a) {
    return half_by_planes(a) ? pool_2x2_forward_half(a, 1) : avg_pool2d_forward_half_fast(a);
}

static enum lt_status avg_pool2d_backward_half(const struct lt_kargs *a) {
    return half_by_planes(a) ? pool_2x2_backward_half(a, 1) : avg_pool2d_backward_half_fast(a);
}

void lt_cpu_register_pool_fast(struct lt_backend *b) {
    lt_cpu_set_fast(b, LT_OP_MAX_POOL2D, LT_DTYPE_F32, max_pool2d_forward_fast,
                    max_pool2d_backward_fast);
    lt_cpu_set_fast(b, LT_OP_AVG_POOL2D, LT_DTYPE_F32, avg_pool2d_forward_fast,
                    avg_pool2d_backward_fast);
    lt_cpu_set_half(b, LT_OP_MAX_POOL2D, max_pool2d_forward_half, max_pool2d_backward_half,
                    half_pool_workspace, "vec");
    lt_cpu_set_half(b, LT_OP_AVG_POOL2D, avg_pool2d_forward_half, avg_pool2d_backward_half,
                    half_pool_workspace, "vec");
    lt_cpu_half_gradients(b, LT_OP_MAX_POOL2D);
    /* f32 and bf16, what oneDNN's convolutions write blocked */
    b->kernels[LT_OP_MAX_POOL2D][LT_DTYPE_F32].takes_blocked = lt_max_pool_takes_blocked;
    b->kernels[LT_OP_MAX_POOL2D][LT_DTYPE_BF16].takes_blocked = lt_max_pool_takes_blocked;
    lt_cpu_half_gradients(b, LT_OP_AVG_POOL2D);
    lt_cpu_register_global_pool_fast(b);
}
