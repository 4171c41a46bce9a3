/* batch_norm2d on channel-blocked tensors (struct lt_kargs, "Layouts"): x and y, and
 * their gradients, as (N, C / 16, H, W, 16), so that a block's sixteen channels are the
 * vector lanes of every loop, and each channel's sums run in its lane. The arithmetic is
 * the plain fast path's (kernels/cpu/norm.c): statistics from sums of x - x0 and their
 * squares in double, y in float from the mean in two parts, the gradient sums in double;
 * only the order of each sum differs (a lane adds its channel's values one by one), so
 * the results agree with the plain layout's to rounding.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

#define LANES LT_BLOCK_CHANNELS

/* One call's sizes and tensors; blocks (N, C / 16) of hw positions of 16 floats. */
struct bnb {
    const float *x, *w, *bias, *gy;
    float *y, *gx, *mean, *invstd;
    int64_t n, blocks, hw;
};

/* Where block cb of image i starts. */
static inline int64_t block_at(const struct bnb *b, int64_t i, int64_t cb) {
    return (i * b->blocks + cb) * b->hw * LANES;
}

/* The work is split into units of one block and a run of images, so that every thread
 * has some however few the blocks: the sums over a block's fixed image chunks (their
 * count set by N alone), added in chunk order (the same bits with any thread count), then
 * the per-element passes one (block, image) at a time. The partial sums and the
 * per-channel factors are the call's workspace. */
#define CHUNKS 8

static int64_t chunks_of(int64_t n) {
    return n < CHUNKS ? n : CHUNKS;
}

/* Images [*i0, *i1) of chunk k of `chunks`. */
static void chunk_images(int64_t n, int64_t chunks, int64_t k, int64_t *i0, int64_t *i1) {
    *i0 = k * n / chunks;
    *i1 = (k + 1) * n / chunks;
}

size_t lt_batch_norm_blocked_workspace(const struct lt_kargs *a, int backward) {
    (void)backward;
    if (!a->blocked)
        return 0;
    int64_t blocks = a->in[0]->shape[1] / LANES, chunks = chunks_of(a->in[0]->shape[0]);
    /* partial sums (two a lane a chunk), then three double factors a channel */
    return (size_t)(blocks * LANES * (2 * chunks + 3)) * sizeof(double);
}

/* Per lane of block cb, over images [i0, i1): the sums of x - x0 and of its square, in
 * double. */
LT_INLINE void stat_sums_body(const struct bnb *b, int64_t cb, int64_t i0, int64_t i1,
                              const float *x0, double *sum, double *sq) {
    double s[LANES] = {0}, q[LANES] = {0};
    for (int64_t i = i0; i < i1; i++) {
        const float *xp = b->x + block_at(b, i, cb);
        for (int64_t k = 0; k < b->hw; k++)
#pragma omp simd
            for (int l = 0; l < LANES; l++) {
                double d = (double)xp[k * LANES + l] - x0[l];
                s[l] += d;
                q[l] += d * d;
            }
    }
    for (int l = 0; l < LANES; l++) {
        sum[l] = s[l];
        sq[l] = q[l];
    }
}
LT_DISPATCH(stat_sums,
            (const struct bnb *b, int64_t cb, int64_t i0, int64_t i1, const float *x0,
             double *sum, double *sq),
            (b, cb, i0, i1, x0, sum, sq));

/* y = (x - mean) * scale + bias over image i of block cb, in float, the mean in two parts
 * (hi, lo) as the plain path takes it; f holds hi, lo, scale and bias, a lane each. */
LT_INLINE void apply_body(const struct bnb *b, int64_t cb, int64_t i, const double *f) {
    float hi[LANES], lo[LANES], sc[LANES], bi[LANES];
    for (int l = 0; l < LANES; l++) {
        hi[l] = (float)f[l];
        lo[l] = (float)f[LANES + l];
        sc[l] = (float)f[2 * LANES + l];
        bi[l] = b->bias[cb * LANES + l];
    }
    const float *xp = b->x + block_at(b, i, cb);
    float *yp = b->y + block_at(b, i, cb);
    for (int64_t k = 0; k < b->hw; k++)
#pragma omp simd
        for (int l = 0; l < LANES; l++)
            yp[k * LANES + l] = ((xp[k * LANES + l] - hi[l]) - lo[l]) * sc[l] + bi[l];
}
LT_DISPATCH(apply, (const struct bnb *b, int64_t cb, int64_t i, const double *f), (b, cb, i, f));

enum lt_status lt_batch_norm_blocked_forward(const struct lt_kargs *a) {
    const struct lt_batch_norm_attrs *at = a->attrs;
    float *run_mean = a->in[3]->data, *run_var = a->in[4]->data;
    struct bnb b = {
        .x = a->in[0]->data,
        .w = a->in[1]->data,
        .bias = a->in[2]->data,
        .y = a->out[0]->data,
        .mean = a->out[1]->data,
        .invstd = a->out[2]->data,
        .n = a->in[0]->shape[0],
        .blocks = a->in[0]->shape[1] / LANES,
        .hw = a->in[0]->shape[2] * a->in[0]->shape[3],
    };
    int64_t m = b.n * b.hw, chunks = chunks_of(b.n);
    double *part = a->workspace;                          /* (blocks, chunks, 2, LANES) */
    double *fac = part + b.blocks * chunks * 2 * LANES; /* (blocks, 3, LANES) */
    int par = b.n * b.blocks * b.hw * LANES >= LT_PAR_STREAM;
    if (at->training) {
#pragma omp parallel for schedule(static) if (par)
        for (int64_t u = 0; u < b.blocks * chunks; u++) {
            int64_t cb = u / chunks, i0, i1;
            chunk_images(b.n, chunks, u % chunks, &i0, &i1);
            double *p = part + u * 2 * LANES;
            stat_sums(&b, cb, i0, i1, b.x + block_at(&b, 0, cb), p, p + LANES);
        }
    }
    for (int64_t cb = 0; cb < b.blocks; cb++)
        for (int l = 0; l < LANES; l++) {
            int64_t ch = cb * LANES + l;
            double sum = 0, sq = 0, invstd;
            for (int64_t k = 0; at->training && k < chunks; k++) {
                sum += part[((cb * chunks + k) * 2) * LANES + l];
                sq += part[((cb * chunks + k) * 2 + 1) * LANES + l];
            }
            double mean = lt_bn_channel_stats(at, b.x[block_at(&b, 0, cb) + l], sum, sq, m,
                                              &run_mean[ch], &run_var[ch], &invstd);
            b.mean[ch] = (float)mean;
            b.invstd[ch] = (float)invstd;
            double *f = fac + cb * 3 * LANES;
            f[l] = (float)mean;
            f[LANES + l] = (float)(mean - (float)mean);
            f[2 * LANES + l] = (float)(invstd * b.w[ch]);
        }
#pragma omp parallel for schedule(static) if (par)
    for (int64_t u = 0; u < b.blocks * b.n; u++)
        apply(&b, u / b.n, u % b.n, fac + u / b.n * 3 * LANES);
    return LT_OK;
}

/* Per lane of block cb, over images [i0, i1): sum(g) and sum(g * xhat), in double. */
LT_INLINE void grad_sums_body(const struct bnb *b, int64_t cb, int64_t i0, int64_t i1,
                              double *sum_g, double *sum_gx) {
    double s[LANES] = {0}, q[LANES] = {0}, mean[LANES], invstd[LANES];
    for (int l = 0; l < LANES; l++) {
        mean[l] = b->mean[cb * LANES + l];
        invstd[l] = b->invstd[cb * LANES + l];
    }
    for (int64_t i = i0; i < i1; i++) {
        const float *xp = b->x + block_at(b, i, cb), *gp = b->gy + block_at(b, i, cb);
        for (int64_t k = 0; k < b->hw; k++)
#pragma omp simd
            for (int l = 0; l < LANES; l++) {
                double g = gp[k * LANES + l];
                s[l] += g;
                q[l] += g * ((xp[k * LANES + l] - mean[l]) * invstd[l]);
            }
    }
    for (int l = 0; l < LANES; l++) {
        sum_g[l] = s[l];
        sum_gx[l] = q[l];
    }
}
LT_DISPATCH(grad_sums,
            (const struct bnb *b, int64_t cb, int64_t i0, int64_t i1, double *sum_g,
             double *sum_gx),
            (b, cb, i0, i1, sum_g, sum_gx));

/* dx = scale * (g - k0 - xhat * k1) over image i of block cb, per lane (k0 = k1 = 0 in
 * evaluation); f holds scale, k0 and k1, a lane each. */
LT_INLINE void grad_body(const struct bnb *b, int64_t cb, int64_t i, const double *f, int acc) {
    double mean[LANES], invstd[LANES];
    for (int l = 0; l < LANES; l++) {
        mean[l] = b->mean[cb * LANES + l];
        invstd[l] = b->invstd[cb * LANES + l];
    }
    const double *scale = f, *k0 = f + LANES, *k1 = f + 2 * LANES;
    const float *xp = b->x + block_at(b, i, cb), *gp = b->gy + block_at(b, i, cb);
    float *dp = b->gx + block_at(b, i, cb);
    for (int64_t k = 0; k < b->hw; k++)
#pragma omp simd
        for (int l = 0; l < LANES; l++) {
            int64_t e = k * LANES + l;
            float d = (float)(scale[l] * (gp[e] - k0[l] - (xp[e] - mean[l]) * invstd[l] * k1[l]));
            dp[e] = acc ? dp[e] + d : d;
        }
}
LT_DISPATCH(grad, (const struct bnb *b, int64_t cb, int64_t i, const double *f, int acc),
            (b, cb, i, f, acc));

enum lt_status lt_batch_norm_blocked_backward(const struct lt_kargs *a) {
    const struct lt_batch_norm_attrs *at = a->attrs;
    struct bnb b = {
        .x = a->in[0]->data,
        .w = a->in[1]->data,
        .gy = a->gout[0]->data,
        .gx = a->gin[0] ? a->gin[0]->data : NULL,
        .mean = a->out[1]->data,
        .invstd = a->out[2]->data,
        .n = a->in[0]->shape[0],
        .blocks = a->in[0]->shape[1] / LANES,
        .hw = a->in[0]->shape[2] * a->in[0]->shape[3],
    };
    double m = (double)(b.n * b.hw);
    int64_t chunks = chunks_of(b.n);
    int acc = lt_accumulates(a, 0), par = b.n * b.blocks * b.hw * LANES >= LT_PAR_STREAM;
    double *part = a->workspace;                          /* (blocks, chunks, 2, LANES) */
    double *fac = part + b.blocks * chunks * 2 * LANES; /* (blocks, 3, LANES) */
#pragma omp parallel for schedule(static) if (par)
    for (int64_t u = 0; u < b.blocks * chunks; u++) {
        int64_t cb = u / chunks, i0, i1;
        chunk_images(b.n, chunks, u % chunks, &i0, &i1);
        double *p = part + u * 2 * LANES;
        grad_sums(&b, cb, i0, i1, p, p + LANES);
    }
    for (int64_t cb = 0; cb < b.blocks; cb++)
        for (int l = 0; l < LANES; l++) {
            int64_t ch = cb * LANES + l;
            double sum_g = 0, sum_gx = 0;
            for (int64_t k = 0; k < chunks; k++) {
                sum_g += part[((cb * chunks + k) * 2) * LANES + l];
                sum_gx += part[((cb * chunks + k) * 2 + 1) * LANES + l];
            }
            if (a->gin[1])
                lt_grad_store(a, 1, ch, sum_gx);
            if (a->gin[2])
                lt_grad_store(a, 2, ch, sum_g);
            double *f = fac + cb * 3 * LANES;
            f[l] = (double)b.w[ch] * b.invstd[ch];
            f[LANES + l] = at->training ? sum_g / m : 0;
            f[2 * LANES + l] = at->training ? sum_gx / m : 0;
        }
    if (b.gx) {
#pragma omp parallel for schedule(static) if (par)
        for (int64_t u = 0; u < b.blocks * b.n; u++)
            grad(&b, u / b.n, u % b.n, fac + u / b.n * 3 * LANES, acc);
    }
    return LT_OK;
}

int lt_batch_norm_takes_blocked(const struct lt_kargs *a) {
    return a->in[0]->dtype == LT_DTYPE_F32 && a->in[0]->shape[1] % LANES == 0 &&
           a->blocked == (LT_IN(0) | LT_OUT(0));
}
