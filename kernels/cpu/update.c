/* The optimizer's passes over the flat fp32 buffers: the gradient norm with the finite
 * check, and the SGD and AdamW updates, as PyTorch defines them. */
#include <math.h>

#include "kernels/cpu/cpu_kernels.h"

static void grad_norm_ref(const float *g, int64_t n, float factor, double *sumsq, int *finite) {
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

static void sgd_ref(float *p, const float *g, float *m, int64_t n, float factor, float lr,
                    float momentum, float dampening, float weight_decay, int nesterov,
                    int first_step) {
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

static void adamw_ref(float *p, const float *g, float *m, float *v, int64_t n, float factor,
                      float lr, float beta1, float beta2, float eps, float weight_decay,
                      int64_t step) {
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

void lt_cpu_register_update(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    b->update.grad_norm = grad_norm_ref;
    b->update.sgd = sgd_ref;
    b->update.adamw = adamw_ref;
}
