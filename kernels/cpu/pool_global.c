/* Global average pooling's fast paths, (N, C, H, W) -> (N, C, 1, 1) (the reference is
 * pool.c's): each plane's mean summed in double in position order, the reference's order
 * and so its bits, and the gradient spread back; x plain, or channel-blocked (N, C / 16,
 * H, W, 16) as a convolution writes it (struct lt_kargs, "Layouts"), where a block's
 * sixteen channels are summed in the lanes; y lies the same either way. The half kernels
 * run the f32 ones on f32 copies.
 */
#include "kernels/cpu/pool.h"

#define LANES LT_BLOCK_CHANNELS

/* Per lane of block plane bp: the mean of its hw positions, summed in double in position
 * order (the reference's order, so the reference's bits), into y (N, C, 1, 1), whose
 * layout is the same blocked or not. */
LT_INLINE void block_means_body(const float *x, float *y, int64_t b0, int64_t b1, int64_t hw) {
    for (int64_t bp = b0; bp < b1; bp++) {
        double s[LANES] = {0};
        const float *xp = x + bp * hw * LANES;
        for (int64_t k = 0; k < hw; k++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                s[l] += xp[k * LANES + l];
        for (int l = 0; l < LANES; l++)
            y[bp * LANES + l] = (float)(s[l] / (double)hw);
    }
}
LT_DISPATCH(block_means, (const float *x, float *y, int64_t b0, int64_t b1, int64_t hw),
            (x, y, b0, b1, hw));

/* gx (+)= gy / hw at every position of block planes [b0, b1). */
LT_INLINE void block_spread_body(const float *gy, float *gx, int64_t b0, int64_t b1, int64_t hw,
                                 int acc) {
    for (int64_t bp = b0; bp < b1; bp++) {
        float v[LANES];
        for (int l = 0; l < LANES; l++)
            v[l] = (float)((double)gy[bp * LANES + l] / (double)hw);
        float *gp = gx + bp * hw * LANES;
        for (int64_t k = 0; k < hw; k++)
#pragma omp simd
            for (int l = 0; l < LANES; l++)
                gp[k * LANES + l] = acc ? gp[k * LANES + l] + v[l] : v[l];
    }
}
LT_DISPATCH(block_spread,
            (const float *gy, float *gx, int64_t b0, int64_t b1, int64_t hw, int acc),
            (gy, gx, b0, b1, hw, acc));

static int global_avg_pool_takes_blocked(const struct lt_kargs *a) {
    return a->in[0]->dtype == LT_DTYPE_F32 && a->in[0]->shape[1] % LANES == 0 &&
           !(a->blocked & ~(LT_IN(0) | LT_OUT(0)));
}

static enum lt_status blocked_forward(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int64_t blocks = x->shape[0] * x->shape[1] / LANES, hw = x->shape[2] * x->shape[3];
#pragma omp parallel if (blocks * hw * LANES >= LT_PAR_STREAM)
    {
        int64_t b0, b1;
        lt_share(blocks, 1, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1);
        block_means(x->data, a->out[0]->data, b0, b1, hw);
    }
    return LT_OK;
}

static enum lt_status blocked_backward(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    int64_t blocks = x->shape[0] * x->shape[1] / LANES, hw = x->shape[2] * x->shape[3];
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (blocks * hw * LANES >= LT_PAR_STREAM)
    {
        int64_t b0, b1;
        lt_share(blocks, 1, omp_get_thread_num(), omp_get_num_threads(), &b0, &b1);
        block_spread(a->gout[0]->data, a->gin[0]->data, b0, b1, hw, acc);
    }
    return LT_OK;
}

/* planes of hw elements -> their means, summed in double */
LT_INLINE void plane_means_f32_body(const float *restrict x, float *restrict y, int64_t planes,
                                    int64_t hw) {
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * hw;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t k = 0; k < hw; k++)
            s += xp[k];
        y[pl] = (float)(s / (double)hw);
    }
}
LT_DISPATCH(plane_means_f32,
            (const float *restrict x, float *restrict y, int64_t planes, int64_t hw),
            (x, y, planes, hw));

LT_INLINE void plane_spread_f32_body(const float *restrict gy, float *restrict gx, int64_t planes,
                                     int64_t hw, int acc) {
    for (int64_t pl = 0; pl < planes; pl++) {
        float v = (float)((double)gy[pl] / (double)hw), *gp = gx + pl * hw;
        if (acc) {
#pragma omp simd
            for (int64_t k = 0; k < hw; k++)
                gp[k] += v;
        } else {
#pragma omp simd
            for (int64_t k = 0; k < hw; k++)
                gp[k] = v;
        }
    }
}
LT_DISPATCH(plane_spread_f32,
            (const float *restrict gy, float *restrict gx, int64_t planes, int64_t hw, int acc),
            (gy, gx, planes, hw, acc));

static enum lt_status global_avg_pool_forward_fast(const struct lt_kargs *a) {
    if (a->blocked & LT_IN(0))
        return blocked_forward(a);
    const struct lt_kview *xv = a->in[0];
    int64_t planes = xv->shape[0] * xv->shape[1], hw = xv->shape[2] * xv->shape[3];
    const float *x = xv->data;  /* (N, C, H, W) */
    float *y = a->out[0]->data; /* (N, C, 1, 1) */
#pragma omp parallel if (planes * hw >= LT_PAR_STREAM)
    {
        int64_t p0, p1;
        lt_share(planes, 16, omp_get_thread_num(), omp_get_num_threads(), &p0, &p1);
        plane_means_f32(x + p0 * hw, y + p0, p1 - p0, hw);
    }
    return LT_OK;
}

static enum lt_status global_avg_pool_backward_fast(const struct lt_kargs *a) {
    if (a->blocked & LT_IN(0))
        return blocked_backward(a);
    const struct lt_kview *xv = a->in[0];
    int64_t planes = xv->shape[0] * xv->shape[1], hw = xv->shape[2] * xv->shape[3];
    const float *gy = a->gout[0]->data; /* (N, C, 1, 1) */
    if (!a->gin[0])
        return LT_OK;
    float *gx = a->gin[0]->data; /* (N, C, H, W) */
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (planes * hw >= LT_PAR_STREAM)
    {
        int64_t p0, p1;
        lt_share(planes, 1, omp_get_thread_num(), omp_get_num_threads(), &p0, &p1);
        plane_spread_f32(gy + p0, gx + p0 * hw, p1 - p0, hw, acc);
    }
    return LT_OK;
}

HALF_KERNEL(global_avg_pool_forward_half_fast, global_avg_pool_forward_fast, 0)
HALF_KERNEL(global_avg_pool_backward_half_fast, global_avg_pool_backward_fast, 1)

void lt_cpu_register_global_pool_fast(struct lt_backend *b) {
    lt_cpu_set_fast(b, LT_OP_GLOBAL_AVG_POOL, LT_DTYPE_F32, global_avg_pool_forward_fast,
                    global_avg_pool_backward_fast);
    lt_cpu_set_half(b, LT_OP_GLOBAL_AVG_POOL, global_avg_pool_forward_half_fast,
                    global_avg_pool_backward_half_fast, lt_half_ref_workspace, "vec");
    b->kernels[LT_OP_GLOBAL_AVG_POOL][LT_DTYPE_F32].takes_blocked =
        global_avg_pool_takes_blocked;
    lt_cpu_half_gradients(b, LT_OP_GLOBAL_AVG_POOL);
}
