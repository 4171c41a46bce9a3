/* The normalisation ops' f32 reference kernels: batch_norm2d and layer_norm.
 *
 * Statistics and the gradient sums are accumulated in double. The backward kernels
 * read the saved statistics (mean, inverse standard deviation) rather than
 * recomputing them, so they see exactly what the forward normalised with.
 *
 * The fast paths keep double accumulation (in vector lanes) for every sum; layer_norm
 * then normalises, and forms its input gradient, in float (as PyTorch's CPU kernel does),
 * twice the lanes of double. They split batch_norm2d's channels, layer_norm's rows, and
 * layer_norm's weight gradient columns between threads: every sum runs on one thread in a
 * fixed order. batch_norm2d's statistics take one pass, summing x - x0 and its square
 * (x0: the channel's first value, so that a mean far from 0 cancels nothing that matters
 * in double).
 *
 * layer_norm also takes a half input (a STATS op, kernels/ops.def): x, y and their
 * gradients half, everything else f32; the fast path widens rows on the stack.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/vec.h"

/* Training uses the batch statistics and moves the running ones towards them (unbiased
 * variance, as PyTorch); evaluation uses the running ones and leaves them alone. */
static enum lt_status batch_norm2d_forward_ref(const struct lt_kargs *a) {
    const struct lt_batch_norm_attrs *at = a->attrs;
    const float *x = a->in[0]->data;      /* (N, C, H, W) */
    const float *w = a->in[1]->data;      /* (C) */
    const float *bias = a->in[2]->data;   /* (C) */
    float *run_mean = a->in[3]->data;     /* (C), written when training */
    float *run_var = a->in[4]->data;      /* (C), written when training */
    float *y = a->out[0]->data;           /* (N, C, H, W) */
    float *save_mean = a->out[1]->data;   /* (C) */
    float *save_invstd = a->out[2]->data; /* (C) */
    int64_t n = a->in[0]->shape[0], c = a->in[0]->shape[1];
    int64_t hw = a->in[0]->shape[2] * a->in[0]->shape[3];
    int64_t m = n * hw; /* values per channel; >= 2 when training (checked by infer) */
    double mom = at->momentum;
    for (int64_t ch = 0; ch < c; ch++) {
        double mean, var;
        if (at->training) {
            double sum = 0, sq = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t s = 0; s < hw; s++)
                    sum += x[(i * c + ch) * hw + s];
            mean = sum / (double)m;
            /* two passes: the one-pass formula cancels badly when |mean| >> std */
            for (int64_t i = 0; i < n; i++) {
                for (int64_t s = 0; s < hw; s++) {
                    double d = x[(i * c + ch) * hw + s] - mean;
                    sq += d * d;
                }
            }
            var = sq / (double)m;
            run_mean[ch] = (float)((1 - mom) * run_mean[ch] + mom * mean);
            run_var[ch] = (float)((1 - mom) * run_var[ch] + mom * sq / (double)(m - 1));
        } else {
            mean = run_mean[ch];
            var = run_var[ch];
        }
        double invstd = 1 / sqrt(var + at->eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        double scale = invstd * w[ch];
        for (int64_t i = 0; i < n; i++) {
            for (int64_t s = 0; s < hw; s++) {
                int64_t k = (i * c + ch) * hw + s;
                y[k] = (float)((x[k] - mean) * scale + bias[ch]);
            }
        }
    }
    return LT_OK;
}

/* With xhat = (x - mean) * invstd and M values per channel: dbias = sum(g),
 * dweight = sum(g * xhat), and dx = w * invstd * (g - dbias / M - xhat * dweight / M)
 * when training (the batch statistics depend on x), w * invstd * g in evaluation. */
static enum lt_status batch_norm2d_backward_ref(const struct lt_kargs *a) {
    const struct lt_batch_norm_attrs *at = a->attrs;
    const float *x = a->in[0]->data;       /* (N, C, H, W) */
    const float *w = a->in[1]->data;       /* (C) */
    const float *mean = a->out[1]->data;   /* (C) */
    const float *invstd = a->out[2]->data; /* (C) */
    const float *gy = a->gout[0]->data;    /* (N, C, H, W) */
    int64_t n = a->in[0]->shape[0], c = a->in[0]->shape[1];
    int64_t hw = a->in[0]->shape[2] * a->in[0]->shape[3];
    double m = (double)(n * hw);
    for (int64_t ch = 0; ch < c; ch++) {
        double sum_g = 0, sum_gx = 0;
        for (int64_t i = 0; i < n; i++) {
            for (int64_t s = 0; s < hw; s++) {
                int64_t k = (i * c + ch) * hw + s;
                sum_g += gy[k];
                sum_gx += gy[k] * ((x[k] - (double)mean[ch]) * invstd[ch]);
            }
        }
        if (a->gin[1])
            lt_grad_store(a, 1, ch, sum_gx);
        if (a->gin[2])
            lt_grad_store(a, 2, ch, sum_g);
        if (!a->gin[0])
            continue;
        double scale = (double)w[ch] * invstd[ch];
        for (int64_t i = 0; i < n; i++) {
            for (int64_t s = 0; s < hw; s++) {
                int64_t k = (i * c + ch) * hw + s;
                double g = gy[k];
                if (at->training) {
                    double xhat = (x[k] - (double)mean[ch]) * invstd[ch];
                    g -= (sum_g + xhat * sum_gx) / m;
                }
                lt_grad_store(a, 0, k, scale * g);
            }
        }
    }
    return LT_OK;
}

static enum lt_status layer_norm_forward_ref(const struct lt_kargs *a) {
    const struct lt_layer_norm_attrs *at = a->attrs;
    const float *x = a->in[0]->data;    /* (rows, D) */
    const float *w = a->in[1]->data;    /* (D) */
    const float *bias = a->in[2]->data; /* (D) */
    float *y = a->out[0]->data;         /* (rows, D) */
    float *mean_out = a->out[1]->data;  /* (rows) */
    float *rstd_out = a->out[2]->data;  /* (rows) */
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1];
    int64_t rows = lt_kview_numel(a->out[1]);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d;
        double sum = 0, sq = 0;
        for (int64_t j = 0; j < d; j++)
            sum += xr[j];
        double mean = sum / (double)d;
        for (int64_t j = 0; j < d; j++)
            sq += (xr[j] - mean) * (xr[j] - mean);
        double rstd = 1 / sqrt(sq / (double)d + at->eps);
        mean_out[r] = (float)mean;
        rstd_out[r] = (float)rstd;
        for (int64_t j = 0; j < d; j++)
            y[r * d + j] = (float)((xr[j] - mean) * rstd * w[j] + bias[j]);
    }
    return LT_OK;
}

/* Per row, with xhat = (x - mean) * rstd and gw = g * w:
 * dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)). dweight and dbias sum
 * g * xhat and g over the rows, in the double workspace, before they are stored. */
static enum lt_status layer_norm_backward_ref(const struct lt_kargs *a) {
    const float *x = a->in[0]->data;     /* (rows, D) */
    const float *w = a->in[1]->data;     /* (D) */
    const float *mean = a->out[1]->data; /* (rows) */
    const float *rstd = a->out[2]->data; /* (rows) */
    const float *gy = a->gout[0]->data;  /* (rows, D) */
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1];
    int64_t rows = lt_kview_numel(a->out[1]);
    double *dw = a->workspace; /* (D) */
    double *db = dw + d;       /* (D) */
    for (int64_t j = 0; j < 2 * d; j++)
        dw[j] = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * d, *gr = gy + r * d;
        double sum_gw = 0, sum_gwx = 0;
        for (int64_t j = 0; j < d; j++) {
            double xhat = (xr[j] - (double)mean[r]) * rstd[r];
            double gw = (double)gr[j] * w[j];
            sum_gw += gw;
            sum_gwx += gw * xhat;
            dw[j] += gr[j] * xhat;
            db[j] += gr[j];
        }
        if (!a->gin[0])
            continue;
        for (int64_t j = 0; j < d; j++) {
            double xhat = (xr[j] - (double)mean[r]) * rstd[r];
            double gw = (double)gr[j] * w[j];
            lt_grad_store(a, 0, r * d + j,
                          rstd[r] * (gw - (sum_gw + xhat * sum_gwx) / (double)d));
        }
    }
    for (int64_t j = 0; j < d; j++) {
        if (a->gin[1])
            lt_grad_store(a, 1, j, dw[j]);
        if (a->gin[2])
            lt_grad_store(a, 2, j, db[j]);
    }
    return LT_OK;
}

/* The backward sums the weight and bias gradients over rows in double: 2 * D doubles. */
static size_t layer_norm_workspace(const struct lt_kargs *a, int backward) {
    if (!backward)
        return 0;
    return 2 * (size_t)a->in[0]->shape[a->in[0]->ndim - 1] * sizeof(double);
}

/* ---- fast paths ------------------------------------------------------------------------------ */

/* batch_norm2d's sizes and tensors, passed whole to each thread's channels */
struct bn_args {
    const float *x, *w, *bias, *gy; /* x, gy (N, C, HW); w, bias (C) */
    float *y, *gx;                  /* (N, C, HW) */
    float *mean, *invstd;           /* (C) */
    int64_t n, c, hw;
};

/* Sum of x - x0 and of its square over channel ch, in double. */
LT_INLINE void bn_channel_sums_body(const struct bn_args *b, int64_t ch, double x0, double *sum,
                                    double *sq) {
    double s = 0, q = 0;
    for (int64_t i = 0; i < b->n; i++) {
        const float *xp = b->x + (i * b->c + ch) * b->hw;
#pragma omp simd reduction(+ : s, q)
        for (int64_t k = 0; k < b->hw; k++) {
            double d = xp[k] - x0;
            s += d;
            q += d * d;
        }
    }
    *sum = s;
    *sq = q;
}
LT_DISPATCH(bn_channel_sums,
            (const struct bn_args *b, int64_t ch, double x0, double *sum, double *sq),
            (b, ch, x0, sum, sq));

/* y = (x - mean) * scale + bias over channel ch, in float: the mean in two parts, so that
 * x - mean keeps its bits when the mean is large next to the spread (x - hi is exact near
 * the mean). */
LT_INLINE void bn_channel_apply_body(const struct bn_args *b, int64_t ch, double mean, double scale,
                                     double bias) {
    float hi = (float)mean, lo = (float)(mean - hi), sc = (float)scale, bi = (float)bias;
    for (int64_t i = 0; i < b->n; i++) {
        const float *xp = b->x + (i * b->c + ch) * b->hw;
        float *yp = b->y + (i * b->c + ch) * b->hw;
#pragma omp simd
        for (int64_t k = 0; k < b->hw; k++)
            yp[k] = ((xp[k] - hi) - lo) * sc + bi;
    }
}
LT_DISPATCH(bn_channel_apply,
            (const struct bn_args *b, int64_t ch, double mean, double scale, double bias),
            (b, ch, mean, scale, bias));

static enum lt_status batch_norm2d_forward_fast(const struct lt_kargs *a) {
    if (a->blocked)
        return lt_batch_norm_blocked_forward(a);
    const struct lt_batch_norm_attrs *at = a->attrs;
    float *run_mean = a->in[3]->data; /* (C), written when training */
    float *run_var = a->in[4]->data;  /* (C), written when training */
    struct bn_args b = {
        .x = a->in[0]->data,
        .w = a->in[1]->data,
        .bias = a->in[2]->data,
        .y = a->out[0]->data,
        .mean = a->out[1]->data,
        .invstd = a->out[2]->data,
        .n = a->in[0]->shape[0],
        .c = a->in[0]->shape[1],
        .hw = a->in[0]->shape[2] * a->in[0]->shape[3],
    };
    int64_t m = b.n * b.hw; /* values per channel; >= 2 when training (checked by infer) */
#pragma omp parallel for schedule(static) if (b.n * b.c * b.hw >= LT_PAR_STREAM)
    for (int64_t ch = 0; ch < b.c; ch++) {
        double x0 = b.x[ch * b.hw], sum = 0, sq = 0, invstd;
        if (at->training)
            bn_channel_sums(&b, ch, x0, &sum, &sq);
        double mean =
            lt_bn_channel_stats(at, x0, sum, sq, m, &run_mean[ch], &run_var[ch], &invstd);
        b.mean[ch] = (float)mean;
        b.invstd[ch] = (float)invstd;
        bn_channel_apply(&b, ch, mean, invstd * b.w[ch], b.bias[ch]);
    }
    return LT_OK;
}

/* sum(g) and sum(g * xhat) over channel ch, in double */
LT_INLINE void bn_channel_grad_sums_body(const struct bn_args *b, int64_t ch, double *sum_g,
                                         double *sum_gx) {
    double mean = b->mean[ch], invstd = b->invstd[ch], s = 0, q = 0;
    for (int64_t i = 0; i < b->n; i++) {
        const float *xp = b->x + (i * b->c + ch) * b->hw;
        const float *gp = b->gy + (i * b->c + ch) * b->hw;
#pragma omp simd reduction(+ : s, q)
        for (int64_t k = 0; k < b->hw; k++) {
            s += gp[k];
            q += gp[k] * ((xp[k] - mean) * invstd);
        }
    }
    *sum_g = s;
    *sum_gx = q;
}
LT_DISPATCH(bn_channel_grad_sums,
            (const struct bn_args *b, int64_t ch, double *sum_g, double *sum_gx),
            (b, ch, sum_g, sum_gx));

/* dx = scale * (g - k0 - xhat * k1) over channel ch (k0 = k1 = 0 in evaluation) */
LT_INLINE void bn_channel_grad_body(const struct bn_args *b, int64_t ch, double scale, double k0,
                                    double k1, int acc) {
    double mean = b->mean[ch], invstd = b->invstd[ch];
    for (int64_t i = 0; i < b->n; i++) {
        const float *xp = b->x + (i * b->c + ch) * b->hw;
        const float *gp = b->gy + (i * b->c + ch) * b->hw;
        float *dp = b->gx + (i * b->c + ch) * b->hw;
        if (acc) {
#pragma omp simd
            for (int64_t k = 0; k < b->hw; k++)
                dp[k] += (float)(scale * (gp[k] - k0 - (xp[k] - mean) * invstd * k1));
        } else {
#pragma omp simd
            for (int64_t k = 0; k < b->hw; k++)
                dp[k] = (float)(scale * (gp[k] - k0 - (xp[k] - mean) * invstd * k1));
        }
    }
}
LT_DISPATCH(bn_channel_grad,
            (const struct bn_args *b, int64_t ch, double scale, double k0, double k1, int acc),
            (b, ch, scale, k0, k1, acc));

static enum lt_status batch_norm2d_backward_fast(const struct lt_kargs *a) {
    if (a->blocked)
        return lt_batch_norm_blocked_backward(a);
    const struct lt_batch_norm_attrs *at = a->attrs;
    struct bn_args b = {
        .x = a->in[0]->data,
        .w = a->in[1]->data,
        .gy = a->gout[0]->data,
        .gx = a->gin[0] ? a->gin[0]->data : NULL,
        .mean = a->out[1]->data,
        .invstd = a->out[2]->data,
        .n = a->in[0]->shape[0],
        .c = a->in[0]->shape[1],
        .hw = a->in[0]->shape[2] * a->in[0]->shape[3],
    };
    double m = (double)(b.n * b.hw);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel for schedule(static) if (b.n * b.c * b.hw >= LT_PAR_STREAM)
    for (int64_t ch = 0; ch < b.c; ch++) {
        double sum_g, sum_gx;
        bn_channel_grad_sums(&b, ch, &sum_g, &sum_gx);
        if (a->gin[1])
            lt_grad_store(a, 1, ch, sum_gx);
        if (a->gin[2])
            lt_grad_store(a, 2, ch, sum_g);
        if (b.gx)
            bn_channel_grad(&b, ch, (double)b.w[ch] * b.invstd[ch], at->training ? sum_g / m : 0,
                            at->training ? sum_gx / m : 0, acc);
    }
    return LT_OK;
}

/* Rows [r0, r1) of layer_norm's forward, statistics in double. */
LT_INLINE void ln_rows_f32_body(const float *restrict x, const float *restrict w,
                                const float *restrict bias, float *restrict y,
                                float *restrict mean_out, float *restrict rstd_out, int64_t d,
                                int64_t r0, int64_t r1, double eps) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        double sum = 0, sq = 0;
#pragma omp simd reduction(+ : sum)
        for (int64_t j = 0; j < d; j++)
            sum += xr[j];
        double mean = sum / (double)d;
#pragma omp simd reduction(+ : sq)
        for (int64_t j = 0; j < d; j++)
            sq += (xr[j] - mean) * (xr[j] - mean);
        double rstd = 1 / sqrt(sq / (double)d + eps);
        float m = (float)mean, rs = (float)rstd;
        mean_out[r] = m;
        rstd_out[r] = rs;
#pragma omp simd
        for (int64_t j = 0; j < d; j++)
            yr[j] = (xr[j] - m) * rs * w[j] + bias[j];
    }
}
LT_DISPATCH(ln_rows_f32,
            (const float *restrict x, const float *restrict w, const float *restrict bias,
             float *restrict y, float *restrict mean_out, float *restrict rstd_out, int64_t d,
             int64_t r0, int64_t r1, double eps),
            (x, w, bias, y, mean_out, rstd_out, d, r0, r1, eps));

static enum lt_status layer_norm_forward_fast(const struct lt_kargs *a) {
    const struct lt_layer_norm_attrs *at = a->attrs;
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1];
    int64_t rows = lt_kview_numel(a->out[1]);
#pragma omp parallel if (rows * d >= LT_PAR_STREAM)
    {
        int64_t r0, r1;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        ln_rows_f32(a->in[0]->data, a->in[1]->data, a->in[2]->data, a->out[0]->data,
                    a->out[1]->data, a->out[2]->data, d, r0, r1, at->eps);
    }
    return LT_OK;
}

/* Rows [r0, r1) of dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)), gw = g * w. */
LT_INLINE void ln_grad_rows_f32_body(const float *restrict x, const float *restrict w,
                                     const float *restrict mean, const float *restrict rstd,
                                     const float *restrict gy, float *restrict gx, int64_t d,
                                     int64_t r0, int64_t r1, int acc) {
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + r * d, *gr = gy + r * d;
        float *dr = gx + r * d;
        double mu = mean[r], rs = rstd[r], sum_gw = 0, sum_gwx = 0;
#pragma omp simd reduction(+ : sum_gw, sum_gwx)
        for (int64_t j = 0; j < d; j++) {
            double gw = (double)gr[j] * w[j];
            sum_gw += gw;
            sum_gwx += gw * ((xr[j] - mu) * rs);
        }
        float k0 = (float)(sum_gw / (double)d), k1 = (float)(sum_gwx / (double)d);
        float muf = mean[r], rsf = rstd[r];
        if (acc) {
#pragma omp simd
            for (int64_t j = 0; j < d; j++)
                dr[j] += rsf * (gr[j] * w[j] - k0 - (xr[j] - muf) * rsf * k1);
        } else {
#pragma omp simd
            for (int64_t j = 0; j < d; j++)
                dr[j] = rsf * (gr[j] * w[j] - k0 - (xr[j] - muf) * rsf * k1);
        }
    }
}
LT_DISPATCH(ln_grad_rows_f32,
            (const float *restrict x, const float *restrict w, const float *restrict mean,
             const float *restrict rstd, const float *restrict gy, float *restrict gx, int64_t d,
             int64_t r0, int64_t r1, int acc),
            (x, w, mean, rstd, gy, gx, d, r0, r1, acc));

/* Columns [c0, c1) of dweight = sum over rows of g * xhat and dbias = sum of g, each
 * column summed in double in row order (the reference's sums); x and gy of dtype dt (f32,
 * or a half type widened a row's block at a time). */
LT_INLINE void ln_param_grad_body(enum lt_dtype dt, const void *restrict x,
                                  const float *restrict mean, const float *restrict rstd,
                                  const void *restrict gy, float *restrict dw, float *restrict db,
                                  int64_t d, int64_t rows, int64_t c0, int64_t c1, int acc_w,
                                  int acc_b) {
    enum { BLOCK = 128 };
    double sw[BLOCK], sb[BLOCK];
    float xw[BLOCK], gw[BLOCK];
    for (int64_t b0 = c0; b0 < c1; b0 += BLOCK) {
        int64_t len = c1 - b0 < BLOCK ? c1 - b0 : BLOCK;
        for (int64_t j = 0; j < len; j++)
            sw[j] = sb[j] = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = xw, *gr = gw;
            if (dt == LT_DTYPE_F32) {
                xr = (const float *)x + r * d + b0;
                gr = (const float *)gy + r * d + b0;
            } else {
                lt_half_to_f32_n(dt, (const uint16_t *)x + r * d + b0, xw, len);
                lt_half_to_f32_n(dt, (const uint16_t *)gy + r * d + b0, gw, len);
            }
            double mu = mean[r], rs = rstd[r];
#pragma omp simd
            for (int64_t j = 0; j < len; j++) {
                sw[j] += gr[j] * ((xr[j] - mu) * rs);
                sb[j] += gr[j];
            }
        }
        for (int64_t j = 0; dw && j < len; j++)
            dw[b0 + j] = acc_w ? dw[b0 + j] + (float)sw[j] : (float)sw[j];
        for (int64_t j = 0; db && j < len; j++)
            db[b0 + j] = acc_b ? db[b0 + j] + (float)sb[j] : (float)sb[j];
    }
}
LT_DISPATCH(ln_param_grad,
            (enum lt_dtype dt, const void *restrict x, const float *restrict mean,
             const float *restrict rstd, const void *restrict gy, float *restrict dw,
             float *restrict db, int64_t d, int64_t rows, int64_t c0, int64_t c1, int acc_w,
             int acc_b),
            (dt, x, mean, rstd, gy, dw, db, d, rows, c0, c1, acc_w, acc_b));

static enum lt_status layer_norm_backward_fast(const struct lt_kargs *a) {
    const float *x = a->in[0]->data;     /* (rows, D) */
    const float *w = a->in[1]->data;     /* (D) */
    const float *mean = a->out[1]->data; /* (rows) */
    const float *rstd = a->out[2]->data; /* (rows) */
    const float *gy = a->gout[0]->data;  /* (rows, D) */
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1];
    int64_t rows = lt_kview_numel(a->out[1]);
    float *dw = a->gin[1] ? a->gin[1]->data : NULL, *db = a->gin[2] ? a->gin[2]->data : NULL;
#pragma omp parallel if (rows * d >= LT_PAR_STREAM)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo, hi;
        if (a->gin[0]) {
            lt_share(rows, 1, t, nt, &lo, &hi);
            ln_grad_rows_f32(x, w, mean, rstd, gy, a->gin[0]->data, d, lo, hi,
                             lt_accumulates(a, 0));
        }
        if (dw || db) {
            lt_share(d, 16, t, nt, &lo, &hi);
            ln_param_grad(LT_DTYPE_F32, x, mean, rstd, gy, dw, db, d, rows, lo, hi,
                          lt_accumulates(a, 1), lt_accumulates(a, 2));
        }
    }
    return LT_OK;
}

/* ---- half layer_norm (a STATS op, kernels/ops.def): x, y and their gradients half;
 * weight, bias, the statistics and their gradients f32 ------------------------------------ */

/* The reference: the f32 kernels on f32 copies of the half tensors (half_ref.h). */
static size_t layer_norm_half_ref_workspace(const struct lt_kargs *a, int backward) {
    return lt_half_ref_workspace(a, backward) + layer_norm_workspace(a, backward);
}

static enum lt_status layer_norm_forward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 0, layer_norm_forward_ref);
}

static enum lt_status layer_norm_backward_half_ref(const struct lt_kargs *a) {
    return lt_half_run(a, 1, layer_norm_backward_ref, NULL, layer_norm_workspace(a, 1));
}

/* The fast path widens whole rows on the stack, as many as fit LT_HALF_CHUNK floats; a row
 * longer than that takes f32 copies of the tensors. */
static int rows_on_stack(const struct lt_kargs *a) {
    return a->in[0]->shape[a->in[0]->ndim - 1] <= LT_HALF_CHUNK;
}

static size_t layer_norm_half_workspace(const struct lt_kargs *a, int backward) {
    return rows_on_stack(a) ? 0 : lt_half_ref_workspace(a, backward);
}

static enum lt_status layer_norm_forward_half(const struct lt_kargs *a) {
    if (!rows_on_stack(a))
        return lt_half_ref_run(a, 0, layer_norm_forward_fast);
    const struct lt_layer_norm_attrs *at = a->attrs;
    enum lt_dtype dt = a->in[0]->dtype;
    const uint16_t *x = a->in[0]->data;
    uint16_t *y = a->out[0]->data;
    float *mean = a->out[1]->data, *rstd = a->out[2]->data;
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1], rows = lt_kview_numel(a->out[1]);
#pragma omp parallel if (rows * d >= LT_PAR_STREAM)
    {
        int64_t r0, r1;
        lt_share(rows, 1, omp_get_thread_num(), omp_get_num_threads(), &r0, &r1);
        float xf[LT_HALF_CHUNK], yf[LT_HALF_CHUNK];
        for (int64_t r = r0, k; r < r1; r += k) {
            k = r1 - r < LT_HALF_CHUNK / d ? r1 - r : LT_HALF_CHUNK / d;
            lt_half_to_f32_n(dt, x + r * d, xf, k * d);
            ln_rows_f32(xf, a->in[1]->data, a->in[2]->data, yf, mean + r, rstd + r, d, 0, k,
                        at->eps);
            lt_f32_to_half_n(dt, yf, y + r * d, k * d);
        }
    }
    return LT_OK;
}

static enum lt_status layer_norm_backward_half(const struct lt_kargs *a) {
    if (!rows_on_stack(a))
        return lt_half_ref_run(a, 1, layer_norm_backward_fast);
    enum lt_dtype dt = a->in[0]->dtype;
    const uint16_t *x = a->in[0]->data, *gy = a->gout[0]->data;
    const float *w = a->in[1]->data, *mean = a->out[1]->data, *rstd = a->out[2]->data;
    uint16_t *gx = a->gin[0] ? a->gin[0]->data : NULL;
    float *dw = a->gin[1] ? a->gin[1]->data : NULL, *db = a->gin[2] ? a->gin[2]->data : NULL;
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1], rows = lt_kview_numel(a->out[1]);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (rows * d >= LT_PAR_STREAM)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t lo, hi;
        if (gx) {
            float xf[LT_HALF_CHUNK], gf[LT_HALF_CHUNK], gxf[LT_HALF_CHUNK];
            lt_share(rows, 1, t, nt, &lo, &hi);
            for (int64_t r = lo, k; r < hi; r += k) {
                k = hi - r < LT_HALF_CHUNK / d ? hi - r : LT_HALF_CHUNK / d;
                lt_half_to_f32_n(dt, x + r * d, xf, k * d);
                lt_half_to_f32_n(dt, gy + r * d, gf, k * d);
                if (acc)
                    lt_half_to_f32_n(dt, gx + r * d, gxf, k * d);
                ln_grad_rows_f32(xf, w, mean + r, rstd + r, gf, gxf, d, 0, k, acc);
                lt_f32_to_half_n(dt, gxf, gx + r * d, k * d);
            }
        }
        if (dw || db) {
            lt_share(d, 16, t, nt, &lo, &hi);
            ln_param_grad(dt, x, mean, rstd, gy, dw, db, d, rows, lo, hi, lt_accumulates(a, 1),
                          lt_accumulates(a, 2));
        }
    }
    return LT_OK;
}

void lt_cpu_register_norm(struct lt_backend *b, int fast) {
    lt_cpu_set(b, LT_OP_BATCH_NORM2D, LT_DTYPE_F32, batch_norm2d_forward_ref,
               batch_norm2d_backward_ref);
    lt_cpu_set(b, LT_OP_LAYER_NORM, LT_DTYPE_F32, layer_norm_forward_ref,
               layer_norm_backward_ref);
    b->kernels[LT_OP_LAYER_NORM][LT_DTYPE_F32].workspace = layer_norm_workspace;
    if (fast) {
        lt_cpu_set_fast(b, LT_OP_BATCH_NORM2D, LT_DTYPE_F32, batch_norm2d_forward_fast,
                        batch_norm2d_backward_fast);
        b->kernels[LT_OP_BATCH_NORM2D][LT_DTYPE_F32].takes_blocked = lt_batch_norm_takes_blocked;
        b->kernels[LT_OP_BATCH_NORM2D][LT_DTYPE_F32].workspace = lt_batch_norm_blocked_workspace;
        lt_cpu_set_fast(b, LT_OP_LAYER_NORM, LT_DTYPE_F32, layer_norm_forward_fast,
                        layer_norm_backward_fast);
        lt_cpu_set_half(b, LT_OP_LAYER_NORM, layer_norm_forward_half, layer_norm_backward_half,
                        layer_norm_half_workspace, "vec");
    } else {
        lt_cpu_set_half(b, LT_OP_LAYER_NORM, layer_norm_forward_half_ref,
                        layer_norm_backward_half_ref, layer_norm_half_ref_workspace, "ref");
    }
    lt_cpu_half_gradients(b, LT_OP_LAYER_NORM);
}
