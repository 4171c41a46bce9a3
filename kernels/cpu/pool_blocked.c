/* Max pooling of a channel-blocked x: (N, C / 16, H, W, 16), as a convolution writes it
 * (struct lt_kargs, "Layouts"). A window's sixteen channels are one vector, so every
 * comparison runs in the lanes, whatever the window; y and its gradient are blocked too,
 * or plain (then each window's sixteen results go to sixteen planes), and so are the
 * argmax codes, each layout as the planner chose.
 *
 * The rule is the reference's (pool.h): each window's first largest element, a NaN
 * beating every number, saved as its code; the backward reads the codes. Windows may
 * not overlap (the planner asks takes_blocked), so that an input element is in at most
 * one window and its gradient is that window's gout or zero: the reference's
 * single-term sums, bit for bit (zero added to a gradient, as the reference's store
 * does). bf16 compares and adds in f32 and rounds once.
 */
#include <string.h>

#include "kernels/cpu/pool.h"

#define LANES LT_BLOCK_CHANNELS

/* x[at], widened from bf16 when `half`. */
LT_INLINE float load(const void *x, int64_t at, int half) {
    return half ? lt_bf16_to_f32(((const uint16_t *)x)[at]) : ((const float *)x)[at];
}

/* x[at] = v, rounded to bf16 when `half`. */
LT_INLINE void store(void *x, int64_t at, float v, int half) {
    if (half)
        ((uint16_t *)x)[at] = lt_vbf16(v);
    else
        ((float *)x)[at] = v;
}

/* The code (pool.h) of element (ih, iw) in window (i, j). */
LT_INLINE int32_t code_of(const struct pool_dims *d, int64_t i, int64_t j, int64_t ih, int64_t iw) {
    return (int32_t)((ih - (i * d->sh - d->ph)) * d->kw + iw - (j * d->sw - d->pw));
}

/* Window (i, j)'s maximum in each lane of the block plane at `base`, and its code. */
LT_INLINE void window_max(const void *x, int64_t base, const struct pool_dims *d, int64_t i,
                          int64_t j, int half, float *best, int32_t *arg) {
    int64_t h0, h1, w0, w1;
    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
    int64_t first = base + (h0 * d->w + w0) * LANES;
    int32_t c0 = code_of(d, i, j, h0, w0);
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
        best[l] = load(x, first + l, half);
        arg[l] = c0;
    }
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++) {
            int64_t at = base + (ih * d->w + iw) * LANES;
            int32_t e = code_of(d, i, j, ih, iw);
#pragma omp simd
            for (int l = 0; l < LANES; l++) {
                float v = load(x, at + l, half);
                int take = max_takes(v, best[l]);
                best[l] = lt_vselect(take, v, best[l]);
                arg[l] = take ? e : arg[l];
            }
        }
}

/* window_max for 2x2 windows of stride 2 without padding (the CNN's): the four elements,
 * all in the image, compared in row-major order in straight-line code. */
LT_INLINE void window_max_2x2(const void *x, int64_t base, const struct pool_dims *d, int64_t i,
                              int64_t j, int half, float *best, int32_t *arg) {
    int64_t at = base + (2 * i * d->w + 2 * j) * LANES, down = d->w * LANES;
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
        lt_max_of_four(load(x, at + l, half), load(x, at + LANES + l, half),
                       load(x, at + down + l, half), load(x, at + down + LANES + l, half),
                       &best[l], &arg[l]);
    }
}

/* Whether the windows are 2x2 of stride 2 without padding. */
static int two_by_two(const struct pool_dims *d) {
    return d->kh == 2 && d->kw == 2 && d->sh == 2 && d->sw == 2 && d->ph == 0 && d->pw == 0;
}

/* Windows of a block plane handled at a time, in row-major order: their results (or
 * gouts and codes) wait in lane order in the thread's stack, so that the window loops
 * read and write them as whole vectors whatever the layout of y, its gradient and the
 * codes, and a plain one is read or written a run of windows at a time. */
#define ROW 64

/* Where window w (row-major) of block plane bp starts in y, gout or the codes: its
 * sixteen lanes together when blocked, else each in its own plane, OH * OW apart. */
LT_INLINE int64_t out_at(const struct pool_dims *d, int64_t bp, int64_t w, int blocked) {
    int64_t ohw = d->oh * d->ow;
    return blocked ? (bp * ohw + w) * LANES : bp * LANES * ohw + w;
}

/* Element ti of t to element li of `lanes` (`size` bytes), or back when `out`. */
LT_INLINE void move_one(void *t, int64_t ti, void *lanes, int64_t li, int size, int out) {
    char *a = (char *)t + ti * size, *b = (char *)lanes + li * size;
    if (out)
        memcpy(a, b, (size_t)size);
    else
        memcpy(b, a, (size_t)size);
}

/* n windows' sixteen lanes of `size`-byte elements between lane order in `lanes` and
 * `at` in t (out_at), into t when `out`, else out of it: a copy when t is blocked, a
 * transpose from or into the sixteen planes' rows when not. */
LT_INLINE void lanes_move(void *t, int64_t at, void *lanes, int64_t n, int64_t ohw, int blocked,
                          int size, int out) {
    if (blocked)
        for (int64_t j = 0; j < n; j++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                move_one(t, at + j * LANES + l, lanes, j * LANES + l, size, out);
    else
        for (int l = 0; l < LANES; l++)
            for (int64_t j = 0; j < n; j++)
                move_one(t, at + l * ohw + j, lanes, j * LANES + l, size, out);
}

/* The results of n windows in lane order (best, arg) written to y at `at` and to the
 * codes at `cat` (out_at), bf16 rounded in the lanes first. */
LT_INLINE void put_row(void *y, uint8_t *code, const struct pool_dims *d, int64_t at, int64_t cat,
                       int64_t n, const float (*best)[LANES], const int32_t (*arg)[LANES],
                       int y_blocked, int code_blocked, int half) {
    int64_t ohw = d->oh * d->ow;
    if (half) {
        uint16_t bits[ROW][LANES];
        for (int64_t j = 0; j < n; j++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                bits[j][l] = lt_vbf16(best[j][l]);
        lanes_move(y, at, bits, n, ohw, y_blocked, 2, 1);
    } else {
        lanes_move(y, at, (void *)best, n, ohw, y_blocked, 4, 1);
    }
    if (!code) /* nothing reads the codes */
        return;
    uint8_t c[ROW][LANES];
    for (int64_t j = 0; j < n; j++)
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            c[j][l] = (uint8_t)arg[j][l];
    lanes_move(code, cat, c, n, ohw, code_blocked, 1, 1);
}

LT_INLINE void forward_walk(const void *x, void *y, uint8_t *code, int64_t b0, int64_t b1,
                            const struct pool_dims *d, int y_blocked, int code_blocked, int half,
                            int two) {
    float best[ROW][LANES];
    int32_t arg[ROW][LANES];
    int64_t ohw = d->oh * d->ow;
    for (int64_t bp = b0; bp < b1; bp++)
        for (int64_t w0 = 0; w0 < ohw; w0 += ROW) {
            int64_t n = ohw - w0 < ROW ? ohw - w0 : ROW;
            for (int64_t k = 0; k < n; k++) {
                int64_t i = (w0 + k) / d->ow, j = (w0 + k) % d->ow;
                if (two)
                    window_max_2x2(x, bp * d->h * d->w * LANES, d, i, j, half, best[k], arg[k]);
                else
                    window_max(x, bp * d->h * d->w * LANES, d, i, j, half, best[k], arg[k]);
            }
            put_row(y, code, d, out_at(d, bp, w0, y_blocked), out_at(d, bp, w0, code_blocked), n,
                    (const float(*)[LANES])best, (const int32_t(*)[LANES])arg, y_blocked,
                    code_blocked, half);
        }
}

/* Whether input coordinate t lies in a window along a dim (windows do not overlap). */
LT_INLINE int covered(int64_t t, int64_t k, int64_t stride, int64_t pad, int64_t out) {
    int64_t q = (t + pad) / stride;
    return q < out && t + pad - q * stride < k;
}

/* gx (+)= c, the window's gout or zero, as the reference's sum: c added to zero first
 * (a -0 gout gives +0), then stored or added. */
LT_INLINE void grad_put(void *gx, int64_t at, float c, int acc, int half) {
    float sum = c + 0.0f;
    store(gx, at, acc ? load(gx, at, half) + sum : sum, half);
}

/* The bf16 bits that gradient bits b become when the reference writes them over
 * (added to zero in f32, rounded): b, but +0 for -0 and a NaN made quiet. Overwriting
 * bf16 gradients stores these, so that no lane widens or rounds. */
LT_INLINE uint16_t written_bf16(uint16_t b) {
    uint16_t q = (b & 0x7fffu) > 0x7f80u ? (uint16_t)(b | 0x40u) : b;
    return q == 0x8000u ? (uint16_t)0 : q;
}

/* The gouts (their bf16 bits when `bits`) and codes of n windows at `at` and `cat`
 * (out_at), in lane order, bf16 widened in the lanes. */
LT_INLINE void get_row(const uint8_t *code, const void *gy, const struct pool_dims *d, int64_t at,
                       int64_t cat, int64_t n, float (*g)[LANES], uint16_t (*gb)[LANES],
                       int32_t (*arg)[LANES], uint16_t (*arg16)[LANES], int gy_blocked,
                       int code_blocked, int half, int bits) {
    int64_t ohw = d->oh * d->ow;
    if (half) {
        lanes_move((void *)gy, at, gb, n, ohw, gy_blocked, 2, 0);
        for (int64_t j = 0; j < n && bits; j++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                gb[j][l] = written_bf16(gb[j][l]);
        for (int64_t j = 0; j < n && !bits; j++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                g[j][l] = lt_bf16_to_f32(gb[j][l]);
    } else {
        lanes_move((void *)gy, at, g, n, ohw, gy_blocked, 4, 0);
    }
    uint8_t c[ROW][LANES];
    lanes_move((void *)code, cat, c, n, ohw, code_blocked, 1, 0);
    for (int64_t j = 0; j < n && bits; j++)
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            arg16[j][l] = c[j][l];
    for (int64_t j = 0; j < n && !bits; j++)
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            arg[j][l] = c[j][l];
}

LT_INLINE void backward_walk(const uint8_t *code, const void *gy, void *gx, int64_t b0, int64_t b1,
                             const struct pool_dims *d, int gy_blocked, int code_blocked, int acc,
                             int half, int two) {
    int bits = half && !acc;
    float gs[ROW][LANES];
    uint16_t gbs[ROW][LANES], args16[ROW][LANES];
    int32_t args[ROW][LANES];
    for (int64_t bp = b0; bp < b1; bp++) {
        int64_t base = bp * d->h * d->w * LANES;
        for (int64_t i = 0; i < d->oh; i++)
            for (int64_t j = 0; j < d->ow; j++) {
                int64_t w = i * d->ow + j, k = w % ROW, ohw = d->oh * d->ow;
                if (k == 0)
                    get_row(code, gy, d, out_at(d, bp, w, gy_blocked),
                            out_at(d, bp, w, code_blocked), ohw - w < ROW ? ohw - w : ROW, gs, gbs,
                            args, args16, gy_blocked, code_blocked, half, bits);
                const float *g = gs[k];
                const uint16_t *gb = gbs[k], *arg16 = args16[k];
                const int32_t *arg = args[k];
                int64_t h0, h1, w0, w1;
                if (two) { /* the four elements, unrolled */
                    h0 = 2 * i, h1 = h0 + 2, w0 = 2 * j, w1 = w0 + 2;
                } else {
                    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
                    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
                }
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) {
                        int64_t to = base + (ih * d->w + iw) * LANES;
                        int32_t e = code_of(d, i, j, ih, iw);
#pragma omp simd
                        for (int l = 0; l < LANES; l++) {
                            if (bits) /* a bitwise select: AVX2 has no masked 16-bit load */
                                ((uint16_t *)gx)[to + l] =
                                    (uint16_t)(gb[l] & -(uint16_t)(arg16[l] == e));
                            else
                                grad_put(gx, to + l, lt_vselect(arg[l] == e, g[l], 0.0f), acc,
                                         half);
                        }
                    }
            }
        /* what no window covers (between windows, past the last) gets zero */
        int all_columns = d->kw == d->sw && d->pw == 0 && d->ow * d->sw == d->w;
        for (int64_t ih = 0; ih < d->h; ih++) {
            int row = covered(ih, d->kh, d->sh, d->ph, d->oh);
            if (row && all_columns)
                continue;
            for (int64_t iw = 0; iw < d->w; iw++) {
                if (row && covered(iw, d->kw, d->sw, d->pw, d->ow))
                    continue;
                int64_t to = base + (ih * d->w + iw) * LANES;
#pragma omp simd
                for (int l = 0; l < LANES; l++)
                    grad_put(gx, to + l, 0.0f, acc, half);
            }
        }
    }
}

/* Each walk compiled for f32 and for bf16 (the forward also for 2x2 windows, the
 * backward for each accumulate mode), the choices folded away. */
LT_INLINE void forward_body(const void *x, void *y, uint8_t *code, int64_t b0, int64_t b1,
                            const struct pool_dims *d, int y_blocked, int code_blocked, int half) {
    int two = two_by_two(d);
    if (half && two)
        forward_walk(x, y, code, b0, b1, d, y_blocked, code_blocked, 1, 1);
    else if (half)
        forward_walk(x, y, code, b0, b1, d, y_blocked, code_blocked, 1, 0);
    else if (two)
        forward_walk(x, y, code, b0, b1, d, y_blocked, code_blocked, 0, 1);
    else
        forward_walk(x, y, code, b0, b1, d, y_blocked, code_blocked, 0, 0);
}
LT_DISPATCH(forward,
            (const void *x, void *y, uint8_t *code, int64_t b0, int64_t b1,
             const struct pool_dims *d, int y_blocked, int code_blocked, int half),
            (x, y, code, b0, b1, d, y_blocked, code_blocked, half));

LT_INLINE void backward_body(const uint8_t *code, const void *gy, void *gx, int64_t b0, int64_t b1,
                             const struct pool_dims *d, int gy_blocked, int code_blocked, int acc,
                             int half) {
    int two = two_by_two(d);
    if (half && acc)
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 1, 1, 0);
    else if (half && two)
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 0, 1, 1);
    else if (half)
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 0, 1, 0);
    else if (acc)
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 1, 0, 0);
    else if (two)
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 0, 0, 1);
    else
        backward_walk(code, gy, gx, b0, b1, d, gy_blocked, code_blocked, 0, 0, 0);
}
LT_DISPATCH(backward,
            (const uint8_t *code, const void *gy, void *gx, int64_t b0, int64_t b1,
             const struct pool_dims *d, int gy_blocked, int code_blocked, int acc, int half),
            (code, gy, gx, b0, b1, d, gy_blocked, code_blocked, acc, half));

int lt_max_pool_takes_blocked(const struct lt_kargs *a) {
    enum lt_dtype dt = a->in[0]->dtype;
    struct pool_dims d = pool_dims(a);
    int grads_alike = (!a->gin[0] || a->gin[0]->dtype == dt) &&
                      (!a->gout[0] || a->gout[0]->dtype == dt);
    return (dt == LT_DTYPE_F32 || dt == LT_DTYPE_BF16) && grads_alike &&
           a->out[1]->dtype == LT_DTYPE_U8 && a->in[0]->shape[1] % LANES == 0 &&
           (a->blocked & LT_IN(0)) && !(a->blocked & ~(LT_IN(0) | LT_OUT(0) | LT_OUT(1))) &&
           d.kh <= d.sh && d.kw <= d.sw;
}

/* The block planes (N * C / 16) split between the threads. */
static void block_share(const struct pool_dims *d, int64_t *b0, int64_t *b1) {
    lt_share(d->planes / LANES, 1, omp_get_thread_num(), omp_get_num_threads(), b0, b1);
}

enum lt_status lt_max_pool_blocked_forward(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    int half = a->in[0]->dtype == LT_DTYPE_BF16, y_blocked = (a->blocked & LT_OUT(0)) != 0;
    int code_blocked = (a->blocked & LT_OUT(1)) != 0;
    const void *x = a->in[0]->data;
    void *y = a->out[0]->data;
    uint8_t *code = a->out[1]->data;
#pragma omp parallel if (d.planes * d.h * d.w >= LT_PAR_STREAM)
    {
        int64_t b0, b1;
        block_share(&d, &b0, &b1);
        forward(x, y, code, b0, b1, &d, y_blocked, code_blocked, half);
    }
    return LT_OK;
}

enum lt_status lt_max_pool_blocked_backward(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    struct pool_dims d = pool_dims(a);
    int half = a->in[0]->dtype == LT_DTYPE_BF16, gy_blocked = (a->blocked & LT_OUT(0)) != 0;
    int code_blocked = (a->blocked & LT_OUT(1)) != 0, acc = lt_accumulates(a, 0);
    const uint8_t *code = a->out[1]->data;
    const void *gy = a->gout[0]->data;
    void *gx = a->gin[0]->data;
#pragma omp parallel if (d.planes * d.h * d.w >= LT_PAR_STREAM)
    {
        int64_t b0, b1;
        block_share(&d, &b0, &b1);
        backward(code, gy, gx, b0, b1, &d, gy_blocked, code_blocked, acc, half);
    }
    return LT_OK;
}
