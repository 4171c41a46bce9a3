/* The optimizer's passes over the flat fp32 buffers: the gradient norm with the finite
 * check, and the SGD and AdamW updates, as PyTorch defines them.
 *
 * The fast paths run every step over every parameter, so they are vectorised and
 * threaded. SGD and AdamW do the reference's float operations in the reference's order
 * (no contraction into fma: ISO C mode), so they match it bit for bit; the norm sums in
 * double over fixed chunks, whatever the thread count.
 */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

static void grad_norm_ref(void *impl, const float *g, int64_t n, float factor, double *sumsq,
                          int *finite) {
    (void)impl;
    double s = 0;
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        float v = g[i] * factor;
        ok &= isfinite(v) != 0;
        s += (double)v * v;
    }
    *sumsq = s;
    *finite = ok;
}

static void sgd_ref(void *impl, float *p, const float *g, float *m, int64_t n, float factor,
                    float lr, float momentum, float dampening, float weight_decay, int nesterov,
                    int first_step) {
    (void)impl;
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] * factor + weight_decay * p[i];
        if (momentum > 0) {
            /* PyTorch starts the buffer at the first gradient, undamped */
            m[i] = first_step ? d : momentum * m[i] + (1 - dampening) * d;
            d = nesterov ? d + momentum * m[i] : m[i];
        }
        p[i] -= lr * d;
    }
}

static void adamw_ref(void *impl, float *p, const float *g, float *m, float *v, int64_t n,
                      float factor, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int64_t step) {
    (void)impl;
    double c1 = 1 - pow(beta1, (double)step), c2 = 1 - pow(beta2, (double)step);
    float step_size = (float)(lr / c1), c2_sqrt = (float)sqrt(c2);
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * factor;
        p[i] *= 1 - lr * weight_decay;
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / c2_sqrt + eps);
    }
}

/* ---- fast paths ------------------------------------------------------------------------------ */

LT_INLINE double sumsq_f32_body(const float *restrict g, int64_t n, float factor) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) {
        float v = g[i] * factor;
        s += (double)v * v;
    }
    return s;
}
LT_DISPATCH_RET(double, sumsq_f32, (const float *restrict g, int64_t n, float factor),
                (g, n, factor));

/* Every v is finite exactly when the sum is: a square is never negative, so no inf can
 * cancel, and n * FLT_MAX^2 stays far below DBL_MAX. */
static void grad_norm_fast(void *impl, const float *g, int64_t n, float factor, double *sumsq,
                           int *finite) {
    (void)impl;
    double part[LT_SUM_CHUNKS];
#pragma omp parallel for schedule(static) if (n >= LT_PAR_STREAM)
    for (int k = 0; k < LT_SUM_CHUNKS; k++) {
        int64_t lo, hi;
        lt_share(n, 16, k, LT_SUM_CHUNKS, &lo, &hi);
        part[k] = sumsq_f32(g + lo, hi - lo, factor);
    }
    double s = 0;
    for (int k = 0; k < LT_SUM_CHUNKS; k++)
        s += part[k];
    *sumsq = s;
    *finite = isfinite(s) != 0;
}

/* The SGD settings, passed whole to each thread's share. */
struct sgd_args {
    float factor, lr, momentum, dampening, weight_decay;
    int nesterov, first_step;
};

LT_INLINE void sgd_f32_body(float *restrict p, const float *restrict g, float *restrict m,
                            int64_t n, const struct sgd_args *s) {
    float factor = s->factor, lr = s->lr, mom = s->momentum, wd = s->weight_decay;
    float keep = 1 - s->dampening;
    if (!(mom > 0)) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            p[i] -= lr * (g[i] * factor + wd * p[i]);
    } else if (s->first_step && s->nesterov) {
        /* PyTorch starts the buffer at the first gradient, undamped */
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] * factor + wd * p[i];
            m[i] = d;
            p[i] -= lr * (d + mom * d);
        }
    } else if (s->first_step) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] * factor + wd * p[i];
            m[i] = d;
            p[i] -= lr * d;
        }
    } else if (s->nesterov) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] * factor + wd * p[i];
            m[i] = mom * m[i] + keep * d;
            p[i] -= lr * (d + mom * m[i]);
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float d = g[i] * factor + wd * p[i];
            m[i] = mom * m[i] + keep * d;
            p[i] -= lr * m[i];
        }
    }
}
LT_DISPATCH(sgd_f32,
            (float *restrict p, const float *restrict g, float *restrict m, int64_t n,
             const struct sgd_args *s),
            (p, g, m, n, s));

static void sgd_fast(void *impl, float *p, const float *g, float *m, int64_t n, float factor,
                     float lr, float momentum, float dampening, float weight_decay, int nesterov,
                     int first_step) {
    (void)impl;
    struct sgd_args s = {factor, lr, momentum, dampening, weight_decay, nesterov, first_step};
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        sgd_f32(p + lo, g + lo, m ? m + lo : NULL, hi - lo, &s);
    }
}

/* AdamW's per-step constants, computed once as the reference computes them. */
struct adamw_args {
    float factor, decay, beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, c2_sqrt, eps;
};

LT_INLINE void adamw_f32_body(float *restrict p, const float *restrict g, float *restrict m,
                              float *restrict v, int64_t n, const struct adamw_args *s) {
    float factor = s->factor, decay = s->decay, b1 = s->beta1, b2 = s->beta2;
    float ob1 = s->one_minus_beta1, ob2 = s->one_minus_beta2;
    float step_size = s->step_size, c2_sqrt = s->c2_sqrt, eps = s->eps;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * factor;
        float mi = b1 * m[i] + ob1 * gi;
        float vi = b2 * v[i] + ob2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) / c2_sqrt + eps);
    }
}
LT_DISPATCH(adamw_f32,
            (float *restrict p, const float *restrict g, float *restrict m, float *restrict v,
             int64_t n, const struct adamw_args *s),
            (p, g, m, v, n, s));

static void adamw_fast(void *impl, float *p, const float *g, float *m, float *v, int64_t n,
                       float factor, float lr, float beta1, float beta2, float eps,
                       float weight_decay, int64_t step) {
    (void)impl;
    double c1 = 1 - pow(beta1, (double)step), c2 = 1 - pow(beta2, (double)step);
    struct adamw_args s = {.factor = factor,
                           .decay = 1 - lr * weight_decay,
                           .beta1 = beta1,
                           .beta2 = beta2,
                           .one_minus_beta1 = 1 - beta1,
                           .one_minus_beta2 = 1 - beta2,
                           .step_size = (float)(lr / c1),
                           .c2_sqrt = (float)sqrt(c2),
                           .eps = eps};
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        adamw_f32(p + lo, g + lo, m + lo, v + lo, hi - lo, &s);
    }
}

void lt_cpu_register_update(struct lt_backend *b, int fast) {
    b->update.grad_norm = fast ? grad_norm_fast : grad_norm_ref;
    b->update.sgd = fast ? sgd_fast : sgd_ref;
    b->update.adamw = fast ? adamw_fast : adamw_ref;
}
