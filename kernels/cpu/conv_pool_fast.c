/* conv2d_max_pool2d's fast kernels, f32 and bf16: a convolution of few taps (a CNN's
 * first: C * KH * KW at most MAX_TAPS, stride 1, no dilation or groups) whose 2x2 max
 * pooling of stride 2 runs on each window's four convolution outputs in registers, so that
 * the convolution's output, four times the pooled one, is never written nor read back.
 * The backward rebuilds each window's four output gradients from the pooled gradient and
 * the argmax code, and sums the weight and bias gradients over them: the full-size
 * gradient is never in memory either. With relu, relu follows the pooling in the same
 * registers, its gradient mask the code's LT_CODE_RELU, so that its output is not written
 * either. The input's gradient is not computed (prepare
 * declines a call that asks for it; the planner fuses only where nothing does).
 *
 * Sixteen output channels are one vector, so y and its gradient lie blocked or plain,
 * as does the code, whichever the planner chose (struct lt_kargs, "Layouts"). Each
 * image is first copied, zero-padded (and widened from bf16), into the thread's slot
 * of the workspace, so that every tap reads it without a bounds check. The pooling rule
 * is the reference's (pool.h): a window's first largest output, a NaN beating every
 * number; a bf16 output is rounded before it is compared, as the two ops apart round it.
 * The sums run in f32 (fused multiply-adds where the CPU has them); the weight and bias
 * gradients are summed in f32 over an image, then in double over fixed chunks of images,
 * added in chunk order: the same bits with any thread count.
 */
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/pool.h"

#define LANES LT_BLOCK_CHANNELS
/* Taps of one output channel at most: a block's weights then stay in L1. */
#define MAX_TAPS 64
/* The images' chunks of the backward sums (fewer for a smaller batch). */
#define CHUNKS 32

struct cpd {
    int64_t n, c, h, w; /* x (N, C, H, W) */
    int64_t o, kh, kw;  /* weight (O, C, KH, KW) */
    int64_t ph, pw;     /* the convolution's padding */
    int64_t oh, ow;     /* y (N, O, OH, OW) */
    int64_t taps;       /* C * KH * KW */
    int64_t hp, wp;     /* the padded image's rows and columns */
    int relu;           /* relu after the pooling, its mask in the codes */
};

static struct cpd cpd_of(const struct lt_kargs *a) {
    const struct lt_conv_pool_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *w = a->in[1], *y = a->out[0];
    struct cpd d = {
        .n = x->shape[0],
        .c = x->shape[1],
        .h = x->shape[2],
        .w = x->shape[3],
        .o = w->shape[0],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .ph = at->padding[0],
        .pw = at->padding[1],
        .oh = y->shape[2],
        .ow = y->shape[3],
    };
    d.taps = d.c * d.kh * d.kw;
    d.relu = at->relu;
    /* the rows and columns the windows' taps reach: 2 * OH - 1 + KH - 1 past the top
     * padding at most, never fewer than the image's own */
    d.hp = max64(2 * d.oh + d.kh - 1, d.h + d.ph);
    d.wp = max64(2 * d.ow + d.kw - 1, d.w + d.pw);
    return d;
}

/* Whether these kernels take the call's shapes and dtypes, whatever the layouts. */
static int takes(const struct lt_kargs *a, int backward) {
    const struct lt_conv_pool_attrs *at = a->attrs;
    enum lt_dtype dt = a->in[0]->dtype;
    const struct lt_kview *w = a->in[1];
    if (dt != LT_DTYPE_F32 && dt != LT_DTYPE_BF16)
        return 0;
    if (at->groups != 1 || at->stride[0] != 1 || at->stride[1] != 1 || at->dilation[0] != 1 ||
        at->dilation[1] != 1 || at->pool_kernel[0] != 2 || at->pool_kernel[1] != 2 ||
        at->pool_stride[0] != 2 || at->pool_stride[1] != 2 || at->pool_padding[0] != 0 ||
        at->pool_padding[1] != 0)
        return 0;
    if (w->shape[0] % LANES != 0 || w->shape[1] * w->shape[2] * w->shape[3] > MAX_TAPS ||
        a->out[1]->dtype != LT_DTYPE_U8)
        return 0;
    if (!backward)
        return 1;
    int grads = !a->gin[0] && a->gout[0] && a->gout[0]->dtype == dt;
    for (int i = 1; i < a->n_in; i++)
        grads &= !a->gin[i] || a->gin[i]->dtype == LT_DTYPE_F32 || a->gin[i]->dtype == dt;
    return grads;
}

static enum lt_status conv_pool_prepare(const struct lt_kargs *a, int backward, void **state) {
    *state = NULL;
    if (takes(a, backward))
        return LT_OK;
    snprintf(a->msg, LT_KMSG_SIZE,
             "the fast kernel takes stride 1, 2x2 windows, at most %d taps, 16 filters a "
             "block and no input gradient",
             MAX_TAPS);
    return LT_EUNSUPPORTED;
}

/* y, its gradient and the codes may be blocked; x (a few channels) never is. Asked of a
 * backward node too, whose prepare must then take it: a declined node runs the reference,
 * which takes plain tensors only. */
static int conv_pool_takes_blocked(const struct lt_kargs *a) {
    return takes(a, a->gout[0] != NULL) && !(a->blocked & ~(LT_OUT(0) | LT_OUT(1)));
}

/* ---- the workspace: the weights by lane, the threads' slots, the chunks' sums -------- */

static size_t aligned(size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

/* f32 weights as (O / 16, taps, 16) and the bias (O), then the slots. */
static size_t weights_bytes(const struct cpd *d) {
    return aligned((size_t)(d->o * (d->taps + 1)) * sizeof(float));
}

/* A thread's slot: its padded image and, in the backward, its f32 sums over an image
 * (as the weights', bias last). */
static size_t slot_bytes(const struct cpd *d, int backward) {
    size_t image = aligned((size_t)(d->c * d->hp * d->wp) * sizeof(float));
    return image + (backward ? weights_bytes(d) : 0);
}

static int64_t chunks_of(const struct cpd *d) {
    return d->n < CHUNKS ? d->n : CHUNKS;
}

/* The chunks' double sums (backward), after the slots. */
static size_t sums_bytes(const struct cpd *d, int backward) {
    return backward ? (size_t)(chunks_of(d) * d->o * (d->taps + 1)) * sizeof(double) : 0;
}

static size_t conv_pool_workspace(const struct lt_kargs *a, int backward) {
    struct cpd d = cpd_of(a);
    return weights_bytes(&d) + (size_t)omp_get_max_threads() * slot_bytes(&d, backward) +
           sums_bytes(&d, backward);
}

/* How many threads' slots a's workspace holds, or 0 (msg filled) when not one. */
static int slots_of(const struct lt_kargs *a, const struct cpd *d, int backward) {
    size_t fixed = weights_bytes(d) + sums_bytes(d, backward);
    size_t n =
        a->workspace_size > fixed ? (a->workspace_size - fixed) / slot_bytes(d, backward) : 0;
    if (n < 1)
        snprintf(a->msg, LT_KMSG_SIZE, "conv2d_max_pool2d: workspace smaller than planned");
    int most = omp_get_max_threads();
    return n < (size_t)most ? (int)n : most;
}

/* The weights (and bias, zero without one) widened into the workspace's front, each
 * tap's sixteen filters of a block side by side. */
static void lay_weights(const struct lt_kargs *a, const struct cpd *d, float *wf) {
    const struct lt_kview *w = a->in[1];
    for (int64_t o = 0; o < d->o; o++)
        for (int64_t t = 0; t < d->taps; t++)
            wf[((o / LANES) * d->taps + t) * LANES + o % LANES] =
                (float)lt_elem_load(w, o * d->taps + t);
    float *bf = wf + d->o * d->taps;
    for (int64_t o = 0; o < d->o; o++)
        bf[o] = a->n_in > 2 ? (float)lt_elem_load(a->in[2], o) : 0.0f;
}

/* Where tap t reads in the padded image, from the window's corner. */
static void tap_offsets(const struct cpd *d, int64_t *off) {
    for (int64_t c = 0, t = 0; c < d->c; c++)
        for (int64_t p = 0; p < d->kh; p++)
            for (int64_t q = 0; q < d->kw; q++, t++)
                off[t] = (c * d->hp + p) * d->wp + q;
}

/* ---- the walks over one image ------------------------------------------------------------ */

/* acc + x * w, fused where the CPU has the instruction (the walks are compiled both ways;
 * `fma` is a constant in each). */
LT_INLINE float madd(float acc, float x, float w, int fma) {
    return fma ? fmaf(x, w, acc) : acc + x * w;
}

/* Image n of x copied into img (C, HP, WP), zero around it, widened from bf16. */
LT_INLINE void pad_image(const void *x, const struct cpd *d, int64_t n, float *img, int half) {
    memset(img, 0, (size_t)(d->c * d->hp * d->wp) * sizeof(float));
    for (int64_t c = 0; c < d->c; c++)
        for (int64_t r = 0; r < d->h; r++) {
            int64_t from = ((n * d->c + c) * d->h + r) * d->w;
            float *to = img + (c * d->hp + r + d->ph) * d->wp + d->pw;
            if (half)
                for (int64_t k = 0; k < d->w; k++)
                    to[k] = lt_bf16_to_f32(((const uint16_t *)x)[from + k]);
            else
                memcpy(to, (const float *)x + from, (size_t)d->w * sizeof(float));
        }
}

/* Where lane 0 of window `win` of block ob of image n lies in y, its gradient or the
 * codes: the lanes side by side when blocked, else OH * OW apart. */
LT_INLINE int64_t lane0_at(const struct cpd *d, int64_t n, int64_t ob, int64_t win, int blocked) {
    int64_t ohw = d->oh * d->ow, plane = n * (d->o / LANES) + ob;
    return blocked ? (plane * ohw + win) * LANES : plane * LANES * ohw + win;
}

/* Sixteen lanes of `size`-byte elements between `lanes` and t at `at`, into t when `out`:
 * side by side when `blocked` (one vector), else `step` apart. */
LT_INLINE void lanes_move(void *t, int64_t at, int64_t step, void *lanes, int size, int blocked,
                          int out) {
    char *p = (char *)t + at * size, *q = lanes;
    if (blocked)
        memcpy(out ? p : q, out ? q : p, (size_t)(LANES * size));
    else
        for (int l = 0; l < LANES; l++)
            memcpy(out ? p + l * step * size : q + l * size,
                   out ? q + l * size : p + l * step * size, (size_t)size);
}

/* A window's sixteen maxima and codes stored to y and the codes (NULL: nothing reads
 * them), each in its layout, y rounded to bf16 when `half`. */
LT_INLINE void put_lanes(const struct cpd *d, int64_t n, int64_t ob, int64_t win, const float *m,
                         const int32_t *k, void *y, uint8_t *code, int y_blocked, int code_blocked,
                         int half) {
    int64_t ohw = d->oh * d->ow;
    if (half) {
        uint16_t h[LANES];
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            h[l] = lt_vbf16(m[l]);
        lanes_move(y, lane0_at(d, n, ob, win, y_blocked), ohw, h, 2, y_blocked, 1);
    } else {
        lanes_move(y, lane0_at(d, n, ob, win, y_blocked), ohw, (void *)m, 4, y_blocked, 1);
    }
    if (!code)
        return;
    uint8_t c[LANES];
#pragma omp simd
    for (int l = 0; l < LANES; l++)
        c[l] = (uint8_t)k[l];
    lanes_move(code, lane0_at(d, n, ob, win, code_blocked), ohw, c, 1, code_blocked, 1);
}

/* A window's sixteen pooled gradients (widened from bf16) and codes, each from its
 * layout. */
LT_INLINE void get_lanes(const struct cpd *d, int64_t n, int64_t ob, int64_t win, const void *gy,
                         const uint8_t *code, float *g, int32_t *k, int gy_blocked,
                         int code_blocked, int half) {
    int64_t ohw = d->oh * d->ow;
    if (half) {
        uint16_t h[LANES];
        lanes_move((void *)gy, lane0_at(d, n, ob, win, gy_blocked), ohw, h, 2, gy_blocked, 0);
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            g[l] = lt_bf16_to_f32(h[l]);
    } else {
        lanes_move((void *)gy, lane0_at(d, n, ob, win, gy_blocked), ohw, g, 4, gy_blocked, 0);
    }
    uint8_t c[LANES];
    lanes_move((void *)code, lane0_at(d, n, ob, win, code_blocked), ohw, c, 1, code_blocked, 0);
#pragma omp simd
    for (int l = 0; l < LANES; l++)
        k[l] = c[l];
}

/* Pools a window's four outputs (rounded to bf16 first when `half`) into its maximum
 * and code, by the reference's rule; with `relu`, relu's rule on the maximum (a negative
 * one becomes +0, NaN passes) and LT_CODE_RELU added to a positive one's code. */
LT_INLINE void pool_four(const float *a0, const float *a1, const float *a2, const float *a3,
                         float *m, int32_t *k, int half, int relu) {
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
        float v0 = a0[l], v1 = a1[l], v2 = a2[l], v3 = a3[l];
        if (half) { /* each output rounded, as the convolution apart writes it */
            v0 = lt_bf16_to_f32(lt_vbf16(v0));
            v1 = lt_bf16_to_f32(lt_vbf16(v1));
            v2 = lt_bf16_to_f32(lt_vbf16(v2));
            v3 = lt_bf16_to_f32(lt_vbf16(v3));
        }
        lt_max_of_four(v0, v1, v2, v3, &m[l], &k[l]);
    }
    if (relu)
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            k[l] += (m[l] > 0) * LT_CODE_RELU;
            m[l] = lt_vselect(m[l] < 0, 0.0f, m[l]);
        }
}

/* Window (i, j) of blocks ob .. ob + nb - 1 (nb 1 or 2, a constant in each use): two
 * blocks share each tap's four inputs, so that a tap loads six vectors for eight
 * products, not five for four. */
LT_INLINE void forward_window(const struct cpd *d, const float *wf, const int64_t *off,
                              const float *img, int64_t n, int64_t ob, int nb, int64_t i,
                              int64_t j, void *y, uint8_t *code, int y_blocked, int code_blocked,
                              int half, int fma) {
    const float *bias = wf + d->o * d->taps + ob * LANES, *w = wf + ob * d->taps * LANES;
    const float *corner = img + 2 * i * d->wp + 2 * j;
    int64_t next = d->taps * LANES; /* block ob + 1's weights */
    float a0[LANES], a1[LANES], a2[LANES], a3[LANES], b0[LANES], b1[LANES], b2[LANES], b3[LANES];
#pragma omp simd
    for (int l = 0; l < LANES; l++) {
        a0[l] = a1[l] = a2[l] = a3[l] = bias[l];
        b0[l] = b1[l] = b2[l] = b3[l] = nb > 1 ? bias[LANES + l] : 0.0f;
    }
    for (int64_t t = 0; t < d->taps; t++) {
        const float *xp = corner + off[t], *wv = w + t * LANES;
        float x0 = xp[0], x1 = xp[1], x2 = xp[d->wp], x3 = xp[d->wp + 1];
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            a0[l] = madd(a0[l], x0, wv[l], fma);
            a1[l] = madd(a1[l], x1, wv[l], fma);
            a2[l] = madd(a2[l], x2, wv[l], fma);
            a3[l] = madd(a3[l], x3, wv[l], fma);
            if (nb > 1) {
                b0[l] = madd(b0[l], x0, wv[next + l], fma);
                b1[l] = madd(b1[l], x1, wv[next + l], fma);
                b2[l] = madd(b2[l], x2, wv[next + l], fma);
                b3[l] = madd(b3[l], x3, wv[next + l], fma);
            }
        }
    }
    float m[LANES];
    int32_t k[LANES];
    pool_four(a0, a1, a2, a3, m, k, half, d->relu);
    put_lanes(d, n, ob, i * d->ow + j, m, k, y, code, y_blocked, code_blocked, half);
    if (nb > 1) {
        pool_four(b0, b1, b2, b3, m, k, half, d->relu);
        put_lanes(d, n, ob + 1, i * d->ow + j, m, k, y, code, y_blocked, code_blocked, half);
    }
}

LT_INLINE void forward_walk(const struct cpd *d, const float *wf, const int64_t *off,
                            const float *img, int64_t n, void *y, uint8_t *code, int y_blocked,
                            int code_blocked, int half, int fma) {
    int64_t blocks = d->o / LANES;
    for (int64_t i = 0; i < d->oh; i++)
        for (int64_t j = 0; j < d->ow; j++) {
            int64_t ob = 0;
            for (; ob + 2 <= blocks; ob += 2)
                forward_window(d, wf, off, img, n, ob, 2, i, j, y, code, y_blocked,
                               code_blocked, half, fma);
            if (ob < blocks)
                forward_window(d, wf, off, img, n, ob, 1, i, j, y, code, y_blocked,
                               code_blocked, half, fma);
        }
}

/* The four forms of the forward walk, the choices folded away. */
LT_INLINE void forward_image_body(const struct cpd *d, const float *wf, const int64_t *off,
                                  const void *x, float *img, int64_t n, void *y, uint8_t *code,
                                  int y_blocked, int code_blocked, int half, int fma) {
    pad_image(x, d, n, img, half);
    if (half && fma)
        forward_walk(d, wf, off, img, n, y, code, y_blocked, code_blocked, 1, 1);
    else if (half)
        forward_walk(d, wf, off, img, n, y, code, y_blocked, code_blocked, 1, 0);
    else if (fma)
        forward_walk(d, wf, off, img, n, y, code, y_blocked, code_blocked, 0, 1);
    else
        forward_walk(d, wf, off, img, n, y, code, y_blocked, code_blocked, 0, 0);
}
LT_DISPATCH(forward_image,
            (const struct cpd *d, const float *wf, const int64_t *off, const void *x, float *img,
             int64_t n, void *y, uint8_t *code, int y_blocked, int code_blocked, int half, int fma),
            (d, wf, off, x, img, n, y, code, y_blocked, code_blocked, half, fma));

/* Adds image n's weight and bias gradients to acc (laid out as the weights): each
 * window's pooled gradient goes to the output its code names, whose taps read img. */
LT_INLINE void backward_walk(const struct cpd *d, const int64_t *off, const float *img, int64_t n,
                             const void *gy, const uint8_t *code, float *acc, int gy_blocked,
                             int code_blocked, int half, int fma) {
    float *accb = acc + d->o * d->taps;
    for (int64_t i = 0; i < d->oh; i++)
        for (int64_t j = 0; j < d->ow; j++) {
            const float *corner = img + 2 * i * d->wp + 2 * j;
            for (int64_t ob = 0; ob < d->o / LANES; ob++) {
                float g[LANES];
                int32_t k[LANES];
                get_lanes(d, n, ob, i * d->ow + j, gy, code, g, k, gy_blocked, code_blocked, half);
                if (d->relu) /* relu's gradient: none where the maximum was not positive */
#pragma omp simd
                    for (int l = 0; l < LANES; l++) {
                        g[l] = lt_vselect(k[l] >= LT_CODE_RELU, g[l], 0.0f);
                        k[l] &= LT_CODE_RELU - 1;
                    }
#pragma omp simd
                for (int l = 0; l < LANES; l++)
                    accb[ob * LANES + l] += g[l];
                /* each lane's gradient goes to one of the four outputs: its tap reads the
                 * input under that output, picked by the code (the other three would
                 * add zero products) */
                for (int64_t t = 0; t < d->taps; t++) {
                    const float *xp = corner + off[t];
                    float x0 = xp[0], x1 = xp[1], x2 = xp[d->wp], x3 = xp[d->wp + 1];
                    float *av = acc + (ob * d->taps + t) * LANES;
#pragma omp simd
                    for (int l = 0; l < LANES; l++) {
                        float xs = lt_vselect(k[l] == 1, x1, x0);
                        xs = lt_vselect(k[l] == 2, x2, xs);
                        xs = lt_vselect(k[l] == 3, x3, xs);
                        av[l] = madd(av[l], g[l], xs, fma);
                    }
                }
            }
        }
}

LT_INLINE void backward_image_body(const struct cpd *d, const int64_t *off, const void *x,
                                   float *img, int64_t n, const void *gy, const uint8_t *code,
                                   float *acc, int gy_blocked, int code_blocked, int half,
                                   int fma) {
    pad_image(x, d, n, img, half);
    if (half && fma)
        backward_walk(d, off, img, n, gy, code, acc, gy_blocked, code_blocked, 1, 1);
    else if (half)
        backward_walk(d, off, img, n, gy, code, acc, gy_blocked, code_blocked, 1, 0);
    else if (fma)
        backward_walk(d, off, img, n, gy, code, acc, gy_blocked, code_blocked, 0, 1);
    else
        backward_walk(d, off, img, n, gy, code, acc, gy_blocked, code_blocked, 0, 0);
}
LT_DISPATCH(backward_image,
            (const struct cpd *d, const int64_t *off, const void *x, float *img, int64_t n,
             const void *gy, const uint8_t *code, float *acc, int gy_blocked, int code_blocked,
             int half, int fma),
            (d, off, x, img, n, gy, code, acc, gy_blocked, code_blocked, half, fma));

/* ---- the kernels ---------------------------------------------------------------------------- */

static int has_fma(void) {
    return lt_cpu_level() >= LT_CPU_AVX2;
}

static enum lt_status conv_pool_forward(const struct lt_kargs *a) {
    struct cpd d = cpd_of(a);
    int slots = slots_of(a, &d, 0);
    if (slots < 1)
        return LT_EINVAL;
    float *wf = a->workspace;
    char *slot0 = (char *)a->workspace + weights_bytes(&d);
    int64_t off[MAX_TAPS];
    lay_weights(a, &d, wf);
    tap_offsets(&d, off);
    int half = a->in[0]->dtype == LT_DTYPE_BF16, fma = has_fma();
    int y_blocked = (a->blocked & LT_OUT(0)) != 0, code_blocked = (a->blocked & LT_OUT(1)) != 0;
    const void *x = a->in[0]->data;
    void *y = a->out[0]->data;
    uint8_t *code = a->out[1]->data; /* NULL: nothing reads the codes */
    int64_t work = d.n * d.o * d.oh * d.ow * d.taps;
#pragma omp parallel num_threads(slots) if (work >= LT_PAR_STREAM)
    {
        float *img = (float *)(slot0 + (size_t)omp_get_thread_num() * slot_bytes(&d, 0));
#pragma omp for schedule(static)
        for (int64_t n = 0; n < d.n; n++)
            forward_image(&d, wf, off, x, img, n, y, code, y_blocked, code_blocked, half, fma);
    }
    return LT_OK;
}

static enum lt_status conv_pool_backward(const struct lt_kargs *a) {
    struct cpd d = cpd_of(a);
    int64_t per = d.o * (d.taps + 1), chunks = chunks_of(&d);
    if (!a->gin[1] && !(a->n_in > 2 && a->gin[2]))
        return LT_OK;
    int slots = slots_of(a, &d, 1);
    if (slots < 1)
        return LT_EINVAL;
    char *slot0 = (char *)a->workspace + weights_bytes(&d);
    double *sums = (double *)(slot0 + (size_t)slots * slot_bytes(&d, 1));
    int64_t off[MAX_TAPS];
    tap_offsets(&d, off);
    int half = a->in[0]->dtype == LT_DTYPE_BF16, fma = has_fma();
    int gy_blocked = (a->blocked & LT_OUT(0)) != 0, code_blocked = (a->blocked & LT_OUT(1)) != 0;
    const void *x = a->in[0]->data, *gy = a->gout[0]->data;
    const uint8_t *code = a->out[1]->data;
    int64_t work = d.n * d.o * d.oh * d.ow * d.taps;
#pragma omp parallel num_threads(slots) if (work >= LT_PAR_STREAM)
    {
        char *slot = slot0 + (size_t)omp_get_thread_num() * slot_bytes(&d, 1);
        float *img = (float *)slot;
        float *acc = (float *)(slot + slot_bytes(&d, 1) - weights_bytes(&d));
#pragma omp for schedule(static)
        for (int64_t k = 0; k < chunks; k++) {
            double *sum = sums + k * per;
            for (int64_t e = 0; e < per; e++)
                sum[e] = 0;
            for (int64_t n = k * d.n / chunks; n < (k + 1) * d.n / chunks; n++) {
                memset(acc, 0, (size_t)per * sizeof(float));
                backward_image(&d, off, x, img, n, gy, code, acc, gy_blocked, code_blocked, half,
                               fma);
                for (int64_t e = 0; e < per; e++)
                    sum[e] += acc[e];
            }
        }
    }
    /* the chunks in order, from lane order to the weights' (O, C, KH, KW) and the bias */
    for (int64_t o = 0; o < d.o; o++)
        for (int64_t t = 0; t <= d.taps; t++) {
            int64_t e =
                t < d.taps ? ((o / LANES) * d.taps + t) * LANES + o % LANES : d.o * d.taps + o;
            int input = t < d.taps ? 1 : 2;
            const struct lt_kview *g = input < a->n_in ? a->gin[input] : NULL;
            if (!g)
                continue;
            double s = 0;
            for (int64_t k = 0; k < chunks; k++)
                s += sums[k * per + e];
            int64_t at = t < d.taps ? o * d.taps + t : o;
            float v = (float)s;
            if (a->accumulate & LT_IN(input))
                v += (float)lt_elem_load(g, at);
            lt_elem_store(g, at, v);
        }
    return LT_OK;
}

void lt_cpu_register_conv_pool_fast(struct lt_backend *b) {
    static const enum lt_dtype dtypes[] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int i = 0; i < 2; i++) {
        struct lt_kernel *k = &b->kernels[LT_OP_CONV2D_MAX_POOL2D][dtypes[i]];
        k->forward = conv_pool_forward;
        k->backward = conv_pool_backward;
        k->prepare = conv_pool_prepare;
        k->workspace = conv_pool_workspace;
        k->takes_blocked = conv_pool_takes_blocked;
        k->impl_name = lt_cpu_isa();
    }
}
