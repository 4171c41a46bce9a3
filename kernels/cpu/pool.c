/* The pooling ops' f32 reference kernels: max_pool2d, avg_pool2d and global_avg_pool,
 * in plain loops with double accumulation.
 *
 * Backward passes gather: every input gradient element sums over the windows that
 * contain it, so it is written exactly once (overwrite or add, as the accumulate bit
 * says). Max pooling keeps no indices; its backward finds each window's maximum again
 * from the input, with the same rule as the forward.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

/* The sizes every windowed loop needs, read once from the views. */
struct pool_dims {
    int64_t planes, h, w; /* input (N * C, H, W) */
    int64_t oh, ow;       /* output (N * C, OH, OW) */
    int64_t kh, kw, sh, sw, ph, pw;
};

static struct pool_dims pool_dims(const struct lt_kargs *a) {
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

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The in-image part [*lo, *hi) of window `i` along a dim of `size` elements. */
static void window(int64_t i, int64_t k, int64_t stride, int64_t pad, int64_t size,
                   int64_t *lo, int64_t *hi) {
    int64_t start = i * stride - pad;
    *lo = max64(start, 0);
    *hi = min64(start + k, size);
}

/* The windows [*lo, *hi) along a dim that contain input coordinate `at`. */
static void windows_of(int64_t at, int64_t k, int64_t stride, int64_t pad, int64_t out_size,
                       int64_t *lo, int64_t *hi) {
    int64_t t = at + pad; /* window i covers t in [i * stride, i * stride + k) */
    *lo = t < k ? 0 : (t - k) / stride + 1;
    *hi = min64(t / stride + 1, out_size);
}

/* Index in the plane x (H, W) of window (i, j)'s maximum: the first in row-major window
 * order; a NaN beats every number so that it propagates, as in PyTorch. Padding is -inf
 * and never wins: every window overlaps the image (inference bounds the padding by half
 * the kernel), so only in-image elements are compared. */
static int64_t window_argmax(const float *x, const struct pool_dims *d, int64_t i,
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

static enum lt_status max_pool2d_forward_ref(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    const float *x = a->in[0]->data; /* (N, C, H, W) */
    float *y = a->out[0]->data;      /* (N, C, OH, OW) */

    for (int64_t pl = 0; pl < d.planes; pl++) {
        const float *xp = x + pl * d.h * d.w;
        float *yp = y + pl * d.oh * d.ow;
        for (int64_t i = 0; i < d.oh; i++)
            for (int64_t j = 0; j < d.ow; j++)
                yp[i * d.ow + j] = xp[window_argmax(xp, &d, i, j)];
    }
    return LT_OK;
}

/* Reads x only, although backward_reads also keeps y alive. */
static enum lt_status max_pool2d_backward_ref(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    const float *x = a->in[0]->data;    /* (N, C, H, W) */
    const float *gy = a->gout[0]->data; /* (N, C, OH, OW) */

    if (!a->gin[0])
        return LT_OK;
    for (int64_t pl = 0; pl < d.planes; pl++) {
        const float *xp = x + pl * d.h * d.w;
        const float *gp = gy + pl * d.oh * d.ow;
        for (int64_t ih = 0; ih < d.h; ih++)
            for (int64_t iw = 0; iw < d.w; iw++) {
                int64_t i0, i1, j0, j1;
                windows_of(ih, d.kh, d.sh, d.ph, d.oh, &i0, &i1);
                windows_of(iw, d.kw, d.sw, d.pw, d.ow, &j0, &j1);
                double s = 0.0;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++)
                        if (window_argmax(xp, &d, i, j) == ih * d.w + iw)
                            s += gp[i * d.ow + j];
                lt_grad_store(a, 0, (pl * d.h + ih) * d.w + iw, s);
            }
    }
    return LT_OK;
}

/* What window (i, j)'s sum is divided by: the full kernel area when padding counts
 * (PyTorch's default; in floor mode no window reaches past the padding), else the
 * in-image elements. */
static double window_divisor(const struct pool_dims *d, int count_include_pad, int64_t i,
                             int64_t j) {
    if (count_include_pad)
        return (double)(d->kh * d->kw);
    int64_t h0, h1, w0, w1;
    window(i, d->kh, d->sh, d->ph, d->h, &h0, &h1);
    window(j, d->kw, d->sw, d->pw, d->w, &w0, &w1);
    return (double)((h1 - h0) * (w1 - w0));
}

static enum lt_status avg_pool2d_forward_ref(const struct lt_kargs *a) {
    const struct lt_pool2d_attrs *at = a->attrs;
    struct pool_dims d = pool_dims(a);
    const float *x = a->in[0]->data; /* (N, C, H, W) */
    float *y = a->out[0]->data;      /* (N, C, OH, OW) */

    for (int64_t pl = 0; pl < d.planes; pl++) {
        const float *xp = x + pl * d.h * d.w;
        float *yp = y + pl * d.oh * d.ow;
        for (int64_t i = 0; i < d.oh; i++)
            for (int64_t j = 0; j < d.ow; j++) {
                int64_t h0, h1, w0, w1;
                window(i, d.kh, d.sh, d.ph, d.h, &h0, &h1);
                window(j, d.kw, d.sw, d.pw, d.w, &w0, &w1);
                double s = 0.0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        s += xp[ih * d.w + iw];
                yp[i * d.ow + j] = (float)(s / window_divisor(&d, at->count_include_pad, i, j));
            }
    }
    return LT_OK;
}

/* Reads no forward tensor: the divisors depend on shapes only. */
static enum lt_status avg_pool2d_backward_ref(const struct lt_kargs *a) {
    const struct lt_pool2d_attrs *at = a->attrs;
    struct pool_dims d = pool_dims(a);
    const float *gy = a->gout[0]->data; /* (N, C, OH, OW) */

    if (!a->gin[0])
        return LT_OK;
    for (int64_t pl = 0; pl < d.planes; pl++) {
        const float *gp = gy + pl * d.oh * d.ow;
        for (int64_t ih = 0; ih < d.h; ih++)
            for (int64_t iw = 0; iw < d.w; iw++) {
                int64_t i0, i1, j0, j1;
                windows_of(ih, d.kh, d.sh, d.ph, d.oh, &i0, &i1);
                windows_of(iw, d.kw, d.sw, d.pw, d.ow, &j0, &j1);
                double s = 0.0;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++)
                        s += gp[i * d.ow + j] / window_divisor(&d, at->count_include_pad, i, j);
                lt_grad_store(a, 0, (pl * d.h + ih) * d.w + iw, s);
            }
    }
    return LT_OK;
}

static enum lt_status global_avg_pool_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *xv = a->in[0];
    int64_t planes = xv->shape[0] * xv->shape[1], hw = xv->shape[2] * xv->shape[3];
    const float *x = xv->data;  /* (N, C, H, W) */
    float *y = a->out[0]->data; /* (N, C, 1, 1) */

    for (int64_t pl = 0; pl < planes; pl++) {
        double s = 0.0;
        for (int64_t k = 0; k < hw; k++)
            s += x[pl * hw + k];
        y[pl] = (float)(s / (double)hw);
    }
    return LT_OK;
}

/* Reads no forward tensor. */
static enum lt_status global_avg_pool_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *xv = a->in[0];
    int64_t planes = xv->shape[0] * xv->shape[1], hw = xv->shape[2] * xv->shape[3];
    const float *gy = a->gout[0]->data; /* (N, C, 1, 1) */

    if (!a->gin[0])
        return LT_OK;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t k = 0; k < hw; k++)
            lt_grad_store(a, 0, pl * hw + k, (double)gy[pl] / (double)hw);
    return LT_OK;
}

void lt_cpu_register_pool(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set(b, LT_OP_MAX_POOL2D, LT_DTYPE_F32, max_pool2d_forward_ref,
               max_pool2d_backward_ref);
    lt_cpu_set(b, LT_OP_AVG_POOL2D, LT_DTYPE_F32, avg_pool2d_forward_ref,
               avg_pool2d_backward_ref);
    lt_cpu_set(b, LT_OP_GLOBAL_AVG_POOL, LT_DTYPE_F32, global_avg_pool_forward_ref,
               global_avg_pool_backward_ref);
}
