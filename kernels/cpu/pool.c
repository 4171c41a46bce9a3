/* The pooling ops' f32 reference kernels: max_pool2d, avg_pool2d and global_avg_pool,
 * in plain loops with double accumulation, their half forms over f32 copies, and the
 * family's registration (the fast paths are pool_fast.c's and pool_global.c's).
 *
 * Backward passes gather: every input gradient element sums over the windows that
 * contain it, so it is written exactly once (overwrite or add, as the accumulate bit
 * says). Max pooling's forward writes where each window's maximum lies (the rule of
 * pool.h's window_argmax, coded by lt_pool_code), and its backward reads that instead of
 * the input.
 */
#include "kernels/cpu/pool.h"

/* The windows [*lo, *hi) along a dim that contain input coordinate `at`. */
static void windows_of(int64_t at, int64_t k, int64_t stride, int64_t pad, int64_t out_size,
                       int64_t *lo, int64_t *hi) {
    int64_t t = at + pad; /* window i covers t in [i * stride, i * stride + k) */
    *lo = t < k ? 0 : (t - k) / stride + 1;
    *hi = min64(t / stride + 1, out_size);
}

enum lt_status lt_max_pool2d_forward_ref(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    const float *x = a->in[0]->data; /* (N, C, H, W) */
    float *y = a->out[0]->data;      /* (N, C, OH, OW) */

    for (int64_t pl = 0; pl < d.planes; pl++) {
        const float *xp = x + pl * d.h * d.w;
        int64_t o = pl * d.oh * d.ow;
        for (int64_t i = 0; i < d.oh; i++)
            for (int64_t j = 0; j < d.ow; j++, o++) {
                int64_t at = window_argmax(xp, &d, i, j);
                y[o] = xp[at];
                if (a->out[1]->data) /* NULL: nothing reads the codes */
                    lt_pool_code_put(a->out[1], o, lt_pool_code(&d, i, j, at));
            }
    }
    return LT_OK;
}

/* Reads the argmax alone. */
enum lt_status lt_max_pool2d_backward_ref(const struct lt_kargs *a) {
    struct pool_dims d = pool_dims(a);
    const float *gy = a->gout[0]->data; /* (N, C, OH, OW) */

    if (!a->gin[0])
        return LT_OK;
    for (int64_t pl = 0; pl < d.planes; pl++) {
        int64_t o0 = pl * d.oh * d.ow;
        const float *gp = gy + o0;
        for (int64_t ih = 0; ih < d.h; ih++)
            for (int64_t iw = 0; iw < d.w; iw++) {
                int64_t i0, i1, j0, j1;
                windows_of(ih, d.kh, d.sh, d.ph, d.oh, &i0, &i1);
                windows_of(iw, d.kw, d.sw, d.pw, d.ow, &j0, &j1);
                double s = 0.0;
                for (int64_t i = i0; i < i1; i++)
                    for (int64_t j = j0; j < j1; j++)
                        if (lt_pool_at(&d, i, j, lt_pool_code_get(a->out[1], o0 + i * d.ow + j)) ==
                            ih * d.w + iw)
                            s += gp[i * d.ow + j];
                lt_grad_store(a, 0, (pl * d.h + ih) * d.w + iw, s);
            }
    }
    return LT_OK;
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

/* Half pooling on the references: the f32 kernels on f32 copies. */
HALF_KERNEL(max_pool2d_forward_half_ref, lt_max_pool2d_forward_ref, 0)
HALF_KERNEL(max_pool2d_backward_half_ref, lt_max_pool2d_backward_ref, 1)
HALF_KERNEL(avg_pool2d_forward_half_ref, avg_pool2d_forward_ref, 0)
HALF_KERNEL(avg_pool2d_backward_half_ref, avg_pool2d_backward_ref, 1)
HALF_KERNEL(global_avg_pool_forward_half_ref, global_avg_pool_forward_ref, 0)
HALF_KERNEL(global_avg_pool_backward_half_ref, global_avg_pool_backward_ref, 1)

void lt_cpu_register_pool(struct lt_backend *b, int fast) {
    lt_cpu_set(b, LT_OP_MAX_POOL2D, LT_DTYPE_F32, lt_max_pool2d_forward_ref,
               lt_max_pool2d_backward_ref);
    lt_cpu_set(b, LT_OP_AVG_POOL2D, LT_DTYPE_F32, avg_pool2d_forward_ref,
               avg_pool2d_backward_ref);
    lt_cpu_set(b, LT_OP_GLOBAL_AVG_POOL, LT_DTYPE_F32, global_avg_pool_forward_ref,
               global_avg_pool_backward_ref);
    if (fast) {
        lt_cpu_register_pool_fast(b);
        return;
    }
    lt_cpu_set_half(b, LT_OP_MAX_POOL2D, max_pool2d_forward_half_ref,
                    max_pool2d_backward_half_ref, lt_half_ref_workspace, "ref");
    lt_cpu_set_half(b, LT_OP_AVG_POOL2D, avg_pool2d_forward_half_ref,
                    avg_pool2d_backward_half_ref, lt_half_ref_workspace, "ref");
    lt_cpu_set_half(b, LT_OP_GLOBAL_AVG_POOL, global_avg_pool_forward_half_ref,
                    global_avg_pool_backward_half_ref, lt_half_ref_workspace, "ref");
    lt_cpu_half_gradients(b, LT_OP_MAX_POOL2D);
    lt_cpu_half_gradients(b, LT_OP_AVG_POOL2D);
    lt_cpu_half_gradients(b, LT_OP_GLOBAL_AVG_POOL);
}
