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

/* Per lane of block cb: the sums of x - x0 and of its square over every image and
 * position, in double. */
LT_INLINE void stat_sums_body(const struct bnb *b, int64_t cb, const float *x0, double *sum,
                              double *sq) {
    double s[LANES] = {0}, q[LANES] = {0};
    for (int64_t i = 0; i < b->n; i++) {
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
            (const struct bnb *b, int64_t cb, const float *x0, double *sum, double *sq),
            (b, cb, x0, sum, sq));

/* y = (x - mean) * scale + bias over block cb, in float, the mean in two parts (hi, lo)
 * as the plain path takes it. */
LT_INLINE void apply_body(const struct bnb *b, int64_t cb, const float *hi, const float *lo,
                          const float *sc, const float *bi) {
    for (int64_t i = 0; i < b->n; i++) {
        const float *xp = b->x + block_at(b, i, cb);
        float *yp = b->y + block_at(b, i, cb);
        for (int64_t k = 0; k < b->hw; k++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                yp[k * LANES + l] = ((xp[k * LANES + l] - hi[l]) - lo[l]) * sc[l] + bi[l];
    }
}
LT_DISPATCH(apply,
            (const struct bnb *b, int64_t cb, const float *hi, const float *lo, const float *sc,
             const float *bi),
            (b, cb, hi, lo, sc, bi));

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
    int64_t m = b.n * b.hw;
    double mom = at->momentum;
#pragma omp parallel for schedule(static) if (b.n * b.blocks * b.hw * LANES >= LT_PAR_STREAM)
    for (int64_t cb = 0; cb < b.blocks; cb++) {
        double sum[LANES], sq[LANES];
        float hi[LANES], lo[LANES], sc[LANES], bi[LANES];
        if (at->training)
            stat_sums(&b, cb, b.x + block_at(&b, 0, cb), sum, sq);
        for (int l = 0; l < LANES; l++) {
            int64_t ch = cb * LANES + l;
            double mean, var;
            if (at->training) {
                double x0 = b.x[block_at(&b, 0, cb) + l], shift = sum[l] / (double)m;
                mean = x0 + shift;
                double centred = sq[l] - sum[l] * shift; /* sum of (x - mean)^2 */
                centred = centred > 0 ? centred : 0;
                var = centred / (double)m;
                run_mean[ch] = (float)((1 - mom) * run_mean[ch] + mom * mean);
                run_var[ch] = (float)((1 - mom) * run_var[ch] + mom * centred / (double)(m - 1));
            } else {
                mean = run_mean[ch];
                var = run_var[ch];
            }
            double invstd = 1 / sqrt(var + at->eps);
            b.mean[ch] = (float)mean;
            b.invstd[ch] = (float)invstd;
            hi[l] = (float)mean;
            lo[l] = (float)(mean - hi[l]);
            sc[l] = (float)(invstd * b.w[ch]);
            bi[l] = b.bias[ch];
        }
        apply(&b, cb, hi, lo, sc, bi);
    }
    return LT_OK;
}

/* Per lane of block cb: sum(g) and sum(g * xhat), in double. */
LT_INLINE void grad_sums_body(const struct bnb *b, int64_t cb, double *sum_g, double *sum_gx) {
    double s[LANES] = {0}, q[LANES] = {0}, mean[LANES], invstd[LANES];
    for (int l = 0; l < LANES; l++) {
        mean[l] = b->mean[cb * LANES + l];
        invstd[l] = b->invstd[cb * LANES + l];
    }
    for (int64_t i = 0; i < b->n; i++) {
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
LT_DISPATCH(grad_sums, (const struct bnb *b, int64_t cb, double *sum_g, double *sum_gx),
            (b, cb, sum_g, sum_gx));

/* dx = scale * (g - k0 - xhat * k1) over block cb, per lane (k0 = k1 = 0 in evaluation). */
LT_INLINE void grad_body(const struct bnb *b, int64_t cb, const double *scale, const double *k0,
                         const double *k1, int acc) {
    double mean[LANES], invstd[LANES];
    for (int l = 0; l < LANES; l++) {
        mean[l] = b->mean[cb * LANES + l];
        invstd[l] = b->invstd[cb * LANES + l];
    }
    for (int64_t i = 0; i < b->n; i++) {
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
}
LT_DISPATCH(grad,
            (const struct bnb *b, int64_t cb, const double *scale, const double *k0,
             const double *k1, int acc),
            (b, cb, scale, k0, k1, acc));

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
    int acc = lt_accumulates(a, 0);
#pragma omp parallel for schedule(static) if (b.n * b.blocks * b.hw * LANES >= LT_PAR_STREAM)
    for (int64_t cb = 0; cb < b.blocks; cb++) {
        double sum_g[LANES], sum_gx[LANES], scale[LANES], k0[LANES], k1[LANES];
        grad_sums(&b, cb, sum_g, sum_gx);
        for (int l = 0; l < LANES; l++) {
            int64_t ch = cb * LANES + l;
            if (a->gin[1])
                lt_grad_store(a, 1, ch, sum_gx[l]);
            if (a->gin[2])
                lt_grad_store(a, 2, ch, sum_g[l]);
            scale[l] = (double)b.w[ch] * b.invstd[ch];
            k0[l] = at->training ? sum_g[l] / m : 0;
            k1[l] = at->training ? sum_gx[l] / m : 0;
        }
        if (b.gx)
            grad(&b, cb, scale, k0, k1, acc);
    }
    return LT_OK;
}

int lt_batch_norm_takes_blocked(const struct lt_kargs *a) {
    return a->in[0]->dtype == LT_DTYPE_F32 && a->in[0]->shape[1] % LANES == 0 &&
           a->blocked == (LT_IN(0) | LT_OUT(0));
}
