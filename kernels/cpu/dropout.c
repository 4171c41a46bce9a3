/* Dropout's f32 reference kernels.
 *
 * No mask is stored: the backward recomputes each keep decision from the same keys
 * (seed, layer, epoch, sample, element), so dropout keeps nothing alive for backward.
 */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/rng.h"

/* Whether element e of row s of the batch is kept. */
static int kept(const struct lt_kargs *a, int64_t s, int64_t e) {
    const struct lt_dropout_attrs *at = a->attrs;
    const struct lt_exec_info *ex = a->exec;
    return lt_dropout_keep(ex->seed, at->layer, ex->epoch, ex->sample_base + s, e, at->p);
}

static enum lt_status dropout_forward_ref(const struct lt_kargs *a) {
    const struct lt_dropout_attrs *at = a->attrs;
    const float *x = a->in[0]->data; /* (N, ...) */
    float *y = a->out[0]->data;      /* (N, ...) */
    int64_t n = a->in[0]->shape[0], per = lt_dims_product(a->in[0], 1, a->in[0]->ndim);
    float scale = 1.0f / (1.0f - at->p);
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < per; e++)
            y[s * per + e] = kept(a, s, e) ? x[s * per + e] * scale : 0.0f;
    return LT_OK;
}

static enum lt_status dropout_backward_ref(const struct lt_kargs *a) {
    const struct lt_dropout_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *gy = a->gout[0]->data; /* (N, ...) */
    int64_t n = a->in[0]->shape[0], per = lt_dims_product(a->in[0], 1, a->in[0]->ndim);
    float scale = 1.0f / (1.0f - at->p);
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < per; e++)
            lt_grad_store(a, 0, s * per + e, kept(a, s, e) ? gy[s * per + e] * scale : 0.0f);
    return LT_OK;
}

void lt_cpu_register_dropout(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    lt_cpu_set(b, LT_OP_DROPOUT, LT_DTYPE_F32, dropout_forward_ref, dropout_backward_ref);
}
