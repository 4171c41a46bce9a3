/* Reference kernels for reshape, transpose (of the last two dims) and concat. They move
 * elements without looking at them, so the forward copies bytes for any dtype; the
 * backward moves the f32 gradient the opposite way. */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"

static size_t elem_size(enum lt_dtype dt) {
    switch (dt) {
    case LT_DTYPE_F16:
    case LT_DTYPE_BF16:
        return 2;
    case LT_DTYPE_U8:
        return 1;
    default:
        return 4;
    }
}

static enum lt_status reshape_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    size_t bytes = (size_t)lt_kview_numel(x) * elem_size(x->dtype);
    if (bytes) /* an empty tensor may have no buffer at all */
        memcpy(a->out[0]->data, x->data, bytes);
    return LT_OK;
}

static enum lt_status transpose_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim;
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    size_t es = elem_size(x->dtype);
    const char *src = x->data;   /* (batch, R, C) */
    char *dst = a->out[0]->data; /* (batch, C, R) */
    for (int64_t t = 0; t < batch; t++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                memcpy(dst + (size_t)((t * C + c) * R + r) * es,
                       src + (size_t)((t * R + r) * C + c) * es, es);
    return LT_OK;
}

static enum lt_status transpose_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const struct lt_kview *x = a->in[0];
    int nd = x->ndim;
    int64_t batch = lt_dims_product(x, 0, nd - 2), R = x->shape[nd - 2], C = x->shape[nd - 1];
    const float *g = a->gout[0]->data; /* (batch, C, R) */
    for (int64_t t = 0; t < batch; t++)
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                lt_grad_store(a, 0, (t * R + r) * C + c, g[(t * C + c) * R + r]);
    return LT_OK;
}

static int concat_dim(const struct lt_kargs *a) {
    const struct lt_concat_attrs *at = a->attrs;
    return at->dim < 0 ? at->dim + a->in[0]->ndim : at->dim;
}

/* The output, seen as (outer, sum of the inputs' sizes along dim, inner), holds for
 * each outer index the matching block of every input in turn. */
static enum lt_status concat_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int d = concat_dim(a);
    int64_t outer = lt_dims_product(x, 0, d), inner = lt_dims_product(x, d + 1, x->ndim);
    size_t es = elem_size(x->dtype);
    char *dst = a->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < a->n_in; i++) {
            size_t chunk = (size_t)(a->in[i]->shape[d] * inner) * es;
            if (chunk)
                memcpy(dst, (const char *)a->in[i]->data + (size_t)o * chunk, chunk);
            dst += chunk;
        }
    return LT_OK;
}

static enum lt_status concat_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0];
    int d = concat_dim(a);
    int64_t outer = lt_dims_product(x, 0, d), inner = lt_dims_product(x, d + 1, x->ndim);
    const float *g = a->gout[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int i = 0; i < a->n_in; i++) {
            int64_t chunk = a->in[i]->shape[d] * inner;
            if (a->gin[i])
                for (int64_t e = 0; e < chunk; e++)
                    lt_grad_store(a, i, o * chunk + e, g[e]);
            g += chunk;
        }
    return LT_OK;
}

void lt_cpu_register_shape(struct lt_backend *b, int fast) {
    (void)fast; /* no fast path yet: the reference serves both tables */
    for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
        /* integer tensors never need a gradient */
        int grad = dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
        lt_cpu_set(b, LT_OP_RESHAPE, (enum lt_dtype)dt, reshape_forward_ref,
                   grad ? lt_identity_backward_ref : NULL);
        lt_cpu_set(b, LT_OP_TRANSPOSE, (enum lt_dtype)dt, transpose_forward_ref,
                   grad ? transpose_backward_ref : NULL);
        lt_cpu_set(b, LT_OP_CONCAT, (enum lt_dtype)dt, concat_forward_ref,
                   grad ? concat_backward_ref : NULL);
    }
}
