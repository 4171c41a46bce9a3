/* The normalisation ops' f32 reference kernels: batch_norm2d and layer_norm.
 *
 * Statistics and the gradient sums are accumulated in double. The backward kernels
 * read the saved statistics (mean, inverse standard deviation) rather than
 * recomputing them, so they see exactly what the forward normalised with.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

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

void lt_cpu_register_norm(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set(b, LT_OP_BATCH_NORM2D, LT_DTYPE_F32, batch_norm2d_forward_ref,
               batch_norm2d_backward_ref);
    lt_cpu_set(b, LT_OP_LAYER_NORM, LT_DTYPE_F32, layer_norm_forward_ref,
               layer_norm_backward_ref);
    b->kernels[LT_OP_LAYER_NORM][LT_DTYPE_F32].workspace = layer_norm_workspace;
}
