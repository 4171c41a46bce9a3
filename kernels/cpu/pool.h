/* What the pooling kernels share: the sizes of a call, the windows and the reference's
 * rules (each window's maximum and its code, its divisor), for the references (pool.c)
 * and the fast paths (pool_fast.c, pool_blocked.c, pool_global.c) alike, and the half
 * kernels' wrapper. */
#ifndef LT_CPU_POOL_H
#define LT_CPU_POOL_H

#include <math.h>
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/vec.h"

/* The sizes every windowed loop needs, read once from the views. */
struct pool_dims {
    int64_t planes, h, w; /* input (N * C, H, W) */
    int64_t oh, ow;       /* output (N * C, OH, OW) */
    int64_t kh, kw, sh, sw, ph, pw;
};

static inline struct pool_dims pool_dims(const struct lt_kargs *a) {
    const struct lt_pool2d_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    return (struct pool_dims){
        .planes = x->shape[0] * x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .oh = y->shape[2], .ow = y->shape[3],
        .kh = at->kernel[0], .kw = at->kernel[1],
        .sh = at->stride[0], .sw = at->stride[1],
        .ph = at->padding[0], .pw = at->padding[1],
    };
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The in-image part [*lo, *hi) of window `i` along a dim of `size` elements. */
static inline void window(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t size,
                   int64_t *lo, int64_t *hi) {
    int64_t start = i * stride - pad;
    *lo = max64(start, 0);
    *hi = min64(start + k, size);
}

/* Index in the plane x (H, W) of window (i, j)'s maximum: the first in row-major window
 * order; a NaN beats every number so that it propagates, as in PyTorch. Padding is -inf
 * and never wins: every window overlaps the image (inference bounds the padding by half
 * the kernel), so only in-image elements are compared. */
static inline int64_t window_argmax(const float *x, const struct pool_dims *d, int64_t i,
                             int64_t j) {
    int64_t h0, h1, w0, w1, best = -1;
    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++) {
            int64_t at = ih * d->w + iw;
            if (best < 0 || x[at] > x[best] || (isnan(x[at]) && !isnan(x[best])))
                best = at;
        }
    return best;
}

/* Max pooling's saved argmax (core/ops/pool.c): the code of the element at plane index
 * `at` in window (i, j), its row-major position in the KH x KW window counted from the
 * window's padded corner; and back. */
static inline int64_t lt_pool_code(const struct pool_dims *d, int64_t i, int64_t j, int64_t at) {
    return (at / d->w - (i * d->sh - d->ph)) * d->kw + (at % d->w - (j * d->sw - d->pw));
}

static inline int64_t lt_pool_at(const struct pool_dims *d, int64_t i, int64_t j, int64_t code) {
    return (i * d->sh - d->ph + code / d->kw) * d->w + (j * d->sw - d->pw + code % d->kw);
}

/* Element e of the argmax tensor v, u8 or i32 as inference made it; and its store. */
static inline int64_t lt_pool_code_get(const struct lt_kview *v, int64_t e) {
    return v->dtype == LT_DTYPE_U8 ? ((const uint8_t *)v->data)[e] : ((const int32_t *)v->data)[e];
}

static inline void lt_pool_code_put(const struct lt_kview *v, int64_t e, int64_t code) {
    if (v->dtype == LT_DTYPE_U8)
        ((uint8_t *)v->data)[e] = (uint8_t)code;
    else
        ((int32_t *)v->data)[e] = (int32_t)code;
}

/* Whether candidate v replaces `best` under window_argmax's rule: it is larger, or the
 * first NaN. Bitwise rather than short-circuit, so that it vectorises. */
LT_INLINE int max_takes(float v, float best) {
    return (v > best) | ((v != v) & (best == best));
}

/* The first largest of a 2x2 window's four values in row-major order (max_takes's rule),
 * into *best, and its code (0-3) into *arg: straight-line and branch-free, for a lane of
 * a simd loop. */
LT_INLINE void lt_max_of_four(float v0, float v1, float v2, float v3, float *best,
                              int32_t *arg) {
    int t = max_takes(v1, v0), k = t;
    float m = lt_vselect(t, v1, v0);
    t = max_takes(v2, m);
    m = lt_vselect(t, v2, m);
    k = t ? 2 : k;
    t = max_takes(v3, m);
    *best = lt_vselect(t, v3, m);
    *arg = t ? 3 : k;
}

/* What window (i, j)'s sum is divided by: the full kernel area when padding counts
 * (PyTorch's default; in floor mode no window reaches past the padding), else the
 * in-image elements. */
static inline double window_divisor(const struct pool_dims *d, int count_include_pad, int64_t i,
                             int64_t j) {
    if (count_include_pad)
        return (double)(d->kh * d->kw);
    int64_t h0, h1, w0, w1;
    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
    return (double)((h1 - h0) * (w1 - w0));
}

/* A half kernel `name`: the f32 kernel `f32` (forward, or backward when `backward`) on
 * f32 copies of the half tensors (exact for max pooling), so that mixed precision keeps
 * pooled activations in half. */
#define HALF_KERNEL(name, f32, backward)                                                           \
    static enum lt_status name(const struct lt_kargs *a) {                                         \
        return lt_half_ref_run(a, backward, f32);                                                  \
    }

/* Zeroes what no 2x2 window covers (the last row or column of an odd size), in an
 * overwritten gradient plane (H, W). */
static inline void lt_pool_zero_uncovered(float *gp, const struct pool_dims *d) {
    if (2 * d->ow < d->w)
        for (int64_t ih = 0; ih < 2 * d->oh; ih++)
            gp[ih * d->w + d->w - 1] = 0.0f;
    if (2 * d->oh < d->h)
        memset(gp + 2 * d->oh * d->w, 0, (size_t)((d->h - 2 * d->oh) * d->w) * sizeof(float));
}

/* Max pooling's f32 references (pool.c), which the fast kernels call where the argmax is
 * i32 (windows of more than 256 elements). */
enum lt_status lt_max_pool2d_forward_ref(const struct lt_kargs *a);
enum lt_status lt_max_pool2d_backward_ref(const struct lt_kargs *a);

/* Max pooling's 2x2 stride-2 gradient of `planes` planes into gx (= or, acc, +=), each
 * window's gout to the element its code names, in AVX-512 lanes (pool_grad_avx512.c):
 * returns 0, touching nothing, where the CPU level is below AVX-512 or a row has more
 * than 16 windows, for the dispatched walk to take. */
int lt_pool_2x2_max_grad_avx512(const uint8_t *code, const float *gy, float *gx, int64_t planes,
                                const struct pool_dims *d, int acc);

/* Max pooling of a channel-blocked x (struct lt_kargs), y in either layout, f32 and
 * bf16, for windows that do not overlap (pool_blocked.c): the kernels' takes_blocked,
 * and the forward and backward they call when a->blocked is set. */
int lt_max_pool_takes_blocked(const struct lt_kargs *a);
enum lt_status lt_max_pool_blocked_forward(const struct lt_kargs *a);
enum lt_status lt_max_pool_blocked_backward(const struct lt_kargs *a);

/* Registers global average pooling's fast f32 and half kernels over the references,
 * plain and channel-blocked (pool_global.c). */
void lt_cpu_register_global_pool_fast(struct lt_backend *b);

/* Registers the fast f32 and half pooling kernels over the references (pool_fast.c),
 * global average pooling's included. */
void lt_cpu_register_pool_fast(struct lt_backend *b);

#endif
