/* conv2d's reference kernels: direct convolution with stride, padding, dilation,
 * groups and an optional bias, in plain loops with double accumulation (f32); the f16 and
 * bf16 ones run these on f32 copies and round the output once (half_ref.h).
 *
 * Every output and every gradient element is gathered as one sum, so each element is
 * written exactly once (overwrite or add, as the accumulate bits say).
 */
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/cpu_kernels.h"

/* The sizes every loop needs, read once from the views. */
struct conv_dims {
    int64_t n, c, h, w; /* input (N, C, H, W) */
    int64_t o, kh, kw;  /* weight (O, C/groups, KH, KW) */
    int64_t oh, ow;     /* output (N, O, OH, OW) */
    int64_t cg, og;     /* channels and filters per group */
    int64_t sh, sw, ph, pw, dh, dw;
};

static struct conv_dims conv_dims(const struct lt_kargs *a) {
    const struct lt_conv2d_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *w = a->in[1], *y = a->out[0];
    struct conv_dims d = {
        .n = x->shape[0], .c = x->shape[1], .h = x->shape[2], .w = x->shape[3],
        .o = w->shape[0], .kh = w->shape[2], .kw = w->shape[3],
        .oh = y->shape[2], .ow = y->shape[3],
        .sh = at->stride[0], .sw = at->stride[1],
        .ph = at->padding[0], .pw = at->padding[1],
        .dh = at->dilation[0], .dw = at->dilation[1],
    };
    d.cg = d.c / at->groups;
    d.og = d.o / at->groups;
    return d;
}

enum lt_status lt_conv2d_forward_ref(const struct lt_kargs *a) {
    struct conv_dims d = conv_dims(a);
    const float *x = a->in[0]->data;                         /* (N, C, H, W) */
    const float *w = a->in[1]->data;                         /* (O, C/groups, KH, KW) */
    const float *bias = a->n_in > 2 ? a->in[2]->data : NULL; /* (O) */
    float *y = a->out[0]->data;                              /* (N, O, OH, OW) */

    for (int64_t n = 0; n < d.n; n++)
        for (int64_t o = 0; o < d.o; o++) {
            int64_t c0 = o / d.og * d.cg; /* first input channel of o's group */
            for (int64_t i = 0; i < d.oh; i++)
                for (int64_t j = 0; j < d.ow; j++) {
                    double s = bias ? bias[o] : 0.0;
                    for (int64_t c = 0; c < d.cg; c++) {
                        const float *xp = x + ((n * d.c + c0 + c) * d.h) * d.w;
                        const float *wp = w + (o * d.cg + c) * d.kh * d.kw;
                        for (int64_t p = 0; p < d.kh; p++) {
                            int64_t ih = i * d.sh - d.ph + p * d.dh;
                            if (ih < 0 || ih >= d.h)
                                continue;
                            for (int64_t q = 0; q < d.kw; q++) {
                                int64_t iw = j * d.sw - d.pw + q * d.dw;
                                if (iw >= 0 && iw < d.w)
                                    s += (double)xp[ih * d.w + iw] * wp[p * d.kw + q];
                            }
                        }
                    }
                    y[((n * d.o + o) * d.oh + i) * d.ow + j] = (float)s;
                }
        }
    return LT_OK;
}

/* Output position reached by input coordinate `at` through tap `tap`, or -1 when the
 * tap does not land on the stride grid or falls outside the output. */
static int64_t out_index(int64_t at, int64_t tap, int64_t stride, int64_t pad,
                         int64_t dilation, int64_t out_size) {
    int64_t t = at + pad - tap * dilation;
    if (t < 0 || t % stride != 0 || t / stride >= out_size)
        return -1;
    return t / stride;
}

/* gx[n, c, ih, iw] = sum over the filters of c's group and the taps that read it. */
static void grad_input(const struct lt_kargs *a, const struct conv_dims *d) {
    const float *w = a->in[1]->data;    /* (O, C/groups, KH, KW) */
    const float *gy = a->gout[0]->data; /* (N, O, OH, OW) */

    for (int64_t n = 0; n < d->n; n++)
        for (int64_t c = 0; c < d->c; c++) {
            int64_t o0 = c / d->cg * d->og, cl = c % d->cg;
            for (int64_t ih = 0; ih < d->h; ih++)
                for (int64_t iw = 0; iw < d->w; iw++) {
                    double s = 0.0;
                    for (int64_t o = o0; o < o0 + d->og; o++) {
                        const float *gp = gy + (n * d->o + o) * d->oh * d->ow;
                        const float *wp = w + (o * d->cg + cl) * d->kh * d->kw;
                        for (int64_t p = 0; p < d->kh; p++) {
                            int64_t i = out_index(ih, p, d->sh, d->ph, d->dh, d->oh);
                            if (i < 0)
                                continue;
                            for (int64_t q = 0; q < d->kw; q++) {
                                int64_t j = out_index(iw, q, d->sw, d->pw, d->dw, d->ow);
                                if (j >= 0)
                                    s += (double)gp[i * d->ow + j] * wp[p * d->kw + q];
                            }
                        }
                    }
                    lt_grad_store(a, 0, ((n * d->c + c) * d->h + ih) * d->w + iw, s);
                }
        }
}

/* gw[o, c, p, q] = sum over the batch and output positions of gy times the input that
 * tap (p, q) read. */
static void grad_weight(const struct lt_kargs *a, const struct conv_dims *d) {
    const float *x = a->in[0]->data;    /* (N, C, H, W) */
    const float *gy = a->gout[0]->data; /* (N, O, OH, OW) */

    for (int64_t o = 0; o < d->o; o++) {
        int64_t c0 = o / d->og * d->cg;
        for (int64_t c = 0; c < d->cg; c++)
            for (int64_t p = 0; p < d->kh; p++)
                for (int64_t q = 0; q < d->kw; q++) {
                    double s = 0.0;
                    for (int64_t n = 0; n < d->n; n++) {
                        const float *xp = x + (n * d->c + c0 + c) * d->h * d->w;
                        const float *gp = gy + (n * d->o + o) * d->oh * d->ow;
                        for (int64_t i = 0; i < d->oh; i++) {
                            int64_t ih = i * d->sh - d->ph + p * d->dh;
                            if (ih < 0 || ih >= d->h)
                                continue;
                            for (int64_t j = 0; j < d->ow; j++) {
                                int64_t iw = j * d->sw - d->pw + q * d->dw;
                                if (iw >= 0 && iw < d->w)
                                    s += (double)gp[i * d->ow + j] * xp[ih * d->w + iw];
                            }
                        }
                    }
                    lt_grad_store(a, 1, ((o * d->cg + c) * d->kh + p) * d->kw + q, s);
                }
    }
}

/* gb[o] = sum of gy over the batch and output positions. */
static void grad_bias(const struct lt_kargs *a, const struct conv_dims *d) {
    const float *gy = a->gout[0]->data; /* (N, O, OH, OW) */

    for (int64_t o = 0; o < d->o; o++) {
        double s = 0.0;
        for (int64_t n = 0; n < d->n; n++) {
            const float *gp = gy + (n * d->o + o) * d->oh * d->ow;
            for (int64_t k = 0; k < d->oh * d->ow; k++)
                s += gp[k];
        }
        lt_grad_store(a, 2, o, s);
    }
}

/* Reads x and w only (backward_reads); the bias gradient needs no forward tensor. */
enum lt_status lt_conv2d_backward_ref(const struct lt_kargs *a) {
    struct conv_dims d = conv_dims(a);
    if (a->gin[0])
        grad_input(a, &d);
    if (a->gin[1])
        grad_weight(a, &d);
    if (a->n_in > 2 && a->gin[2])
        grad_bias(a, &d);
    return LT_OK;
}

static enum lt_status conv2d_forward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 0, lt_conv2d_forward_ref);
}

static enum lt_status conv2d_backward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 1, lt_conv2d_backward_ref);
}

/* The fast paths are oneDNN's (kernels/cpu/dnnl/conv.c), registered over these. */
void lt_cpu_register_conv(struct lt_backend *b, int fast) {
    (void)fast;
    lt_cpu_set(b, LT_OP_CONV2D, LT_DTYPE_F32, lt_conv2d_forward_ref, lt_conv2d_backward_ref);
    lt_cpu_set(b, LT_OP_CONV2D, LT_DTYPE_BF16, conv2d_forward_half_ref, conv2d_backward_half_ref);
    lt_cpu_set(b, LT_OP_CONV2D, LT_DTYPE_F16, conv2d_forward_half_ref, conv2d_backward_half_ref);
    b->kernels[LT_OP_CONV2D][LT_DTYPE_BF16].workspace = lt_half_ref_workspace;
    b->kernels[LT_OP_CONV2D][LT_DTYPE_F16].workspace = lt_half_ref_workspace;
    for (enum lt_dtype dt = LT_DTYPE_F16; dt <= LT_DTYPE_BF16; dt++) /* half_ref.h: in place */
        b->kernels[LT_OP_CONV2D][dt].f32_gin = LT_IN(1) | LT_IN(2);
    lt_cpu_half_gradients(b, LT_OP_CONV2D);
    lt_cpu_register_conv_pool(b, fast);
}
