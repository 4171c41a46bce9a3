/* oneDNN fast paths of conv2d (f32 and bf16): direct convolution, forward, backward data
 * and backward weights (with the bias gradient).
 *
 * Direct only (never convolution_auto: it picks Winograd, which misses the f32 bound).
 * Every primitive is described with format_tag_any so oneDNN picks the layouts it is
 * fast in; the backward primitives get a forward descriptor as hint but choose their
 * own layouts (forcing the forward's blocked layouts onto them made oneDNN fall back to
 * its reference code, ~2000x slower). Reorders between lutra's plain NCHW / OIHW buffers
 * and those layouts run inside the call, into planned workspace (kernels/cpu/dnnl/seq.c);
 * a gradient that accumulates is added by its reorder back (a sum post-op), and gout
 * is reordered (and converted to bf16) once for both backward primitives when they want
 * the same layout.
 *
 * bf16: x, w, bias, y and their gradients are bf16 (half gradients: struct lt_kernel),
 * but for the weights' and the bias's where the planner hands f32 ones (the parameters'
 * own, struct lt_kernel's f32_gin), accumulation is f32 inside oneDNN. Where oneDNN has no bf16
 * convolution on this CPU (it needs AVX-512), the same sequence computes in f32 from converted
 * copies (a result added into a bf16 gradient is summed in f32 and rounded once by seq.c's
 * conversion).
 */
#include <stdlib.h>

#include "kernels/cpu/dnnl/dnnl_kernels.h"

struct conv_state {
    struct lt_dnnl_seq seq;
    unsigned grads;      /* bit i: the gradient of input i was prepared */
    unsigned accumulate; /* the accumulate bits it was prepared with */
    dnnl_data_type_t cdt; /* what the primitives compute in: bf16, or f32 */
};

/* Descriptions shared by every primitive of one node. */
struct conv_geom {
    int64_t x[4], y[4], w[5], b[1]; /* w: (G, O/G, C/G, KH, KW) when grouped */
    int w_ndim;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
};

static struct conv_geom geom_of(const struct lt_kargs *a) {
    const struct lt_conv2d_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *w = a->in[1], *y = a->out[0];
    struct conv_geom g;
    for (int i = 0; i < 4; i++) {
        g.x[i] = x->shape[i];
        g.y[i] = y->shape[i];
    }
    int64_t groups = at->groups;
    if (groups > 1) {
        g.w_ndim = 5;
        int64_t w5[5] = {groups, w->shape[0] / groups, w->shape[1], w->shape[2], w->shape[3]};
        for (int i = 0; i < 5; i++)
            g.w[i] = w5[i];
    } else {
        g.w_ndim = 4;
        for (int i = 0; i < 4; i++)
            g.w[i] = w->shape[i];
    }
    g.b[0] = w->shape[0];
    for (int i = 0; i < 2; i++) {
        g.strides[i] = at->stride[i];
        g.dilates[i] = at->dilation[i] - 1; /* oneDNN counts the gaps */
        /* PyTorch pads both sides alike; its output size is oneDNN's with pad_r = pad_l */
        g.pad_l[i] = g.pad_r[i] = at->padding[i];
    }
    return g;
}

/* A description that lets the primitive choose the layout. */
static void md_any(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_data_type_t dt) {
    dnnl_dims_t d;
    for (int i = 0; i < ndim; i++)
        d[i] = dims[i];
    dnnl_memory_desc_init_by_tag(md, ndim, d, dt, dnnl_format_tag_any);
}

static struct lt_dnnl_ref at(enum lt_dnnl_place place, int index) {
    return (struct lt_dnnl_ref){place, index, 0};
}

static const dnnl_memory_desc_t *pd_md(const_dnnl_primitive_desc_t pd, int arg) {
    return dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
}

/* The forward descriptor: the forward primitive's, and the backward ones' hint. */
static enum lt_status forward_pd(dnnl_primitive_desc_t *pd, const struct lt_dnnl *d,
                                 const struct conv_geom *g, int has_bias, dnnl_data_type_t cdt,
                                 char *msg) {
    dnnl_memory_desc_t src, wei, bias, dst;
    md_any(&src, 4, g->x, cdt);
    md_any(&wei, g->w_ndim, g->w, cdt);
    md_any(&dst, 4, g->y, cdt);
    lt_dnnl_md_plain(&bias, 1, g->b, cdt);
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    enum lt_status rc = lt_dnnl_check(dnnl_dilated_convolution_forward_desc_init(
                                          &desc, dnnl_forward_training, dnnl_convolution_direct,
                                          &src, &wei, has_bias ? &bias : NULL, &dst, g->strides,
                                          g->dilates, g->pad_l, g->pad_r),
                                      "describing a convolution", msg);
    if (rc == LT_OK)
        rc = lt_dnnl_attr(&attr, 0, msg);
    if (rc == LT_OK)
        rc = lt_dnnl_pd(pd, &desc, attr, d, NULL, cdt != dnnl_f32, DNNL_ARG_SRC,
                        "creating a convolution", msg);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static enum lt_status build_forward(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                    const struct conv_geom *g, dnnl_data_type_t cdt) {
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    int has_bias = a->n_in == 3;
    dnnl_primitive_desc_t pd = NULL;
    enum lt_status rc = forward_pd(&pd, s->d, g, has_bias, cdt, a->msg);
    if (rc != LT_OK)
        return rc;
    dnnl_memory_desc_t ux, uw, ub, uy, wb;
    lt_dnnl_md_laid(&ux, a, LT_IN(0), g->x, udt);
    lt_dnnl_md_plain(&uw, g->w_ndim, g->w, udt);
    lt_dnnl_md_plain(&ub, 1, g->b, udt);
    lt_dnnl_md_laid(&uy, a, LT_OUT(0), g->y, udt);
    wb = lt_dnnl_md_retype(&ub, cdt);
    struct lt_dnnl_ref rx, rw, rb = {0}, ry;
    rc = lt_dnnl_seq_input(s, &ux, at(LT_DNNL_IN, 0), pd_md(pd, DNNL_ARG_SRC), &rx, a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_seq_input(s, &uw, at(LT_DNNL_IN, 1), pd_md(pd, DNNL_ARG_WEIGHTS), &rw, a->msg);
    if (rc == LT_OK && has_bias)
        rc = lt_dnnl_seq_input(s, &ub, at(LT_DNNL_IN, 2), &wb, &rb, a->msg);
    int direct = 0;
    if (rc == LT_OK) {
        direct = lt_dnnl_seq_output(s, pd_md(pd, DNNL_ARG_DST), &uy, at(LT_DNNL_OUT, 0), 0, &ry);
        int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        struct lt_dnnl_ref refs[4] = {rx, rw, ry, rb};
        rc = lt_dnnl_seq_primitive(s, pd, has_bias ? 4 : 3, args, refs, a->msg);
    }
    if (rc == LT_OK && !direct)
        rc =
            lt_dnnl_seq_reorder(s, pd_md(pd, DNNL_ARG_DST), ry, &uy, at(LT_DNNL_OUT, 0), 0, a->msg);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* The backward-data descriptor, its layouts its own (any). */
static enum lt_status backward_data_pd(dnnl_primitive_desc_t *pd, const struct lt_kargs *a,
                                       const struct conv_geom *g, dnnl_data_type_t cdt,
                                       const_dnnl_primitive_desc_t hint) {
    dnnl_data_type_t gx_dt = lt_dnnl_dtype(a->gin[0]->dtype);
    dnnl_memory_desc_t dsrc, wei, ddst;
    md_any(&dsrc, 4, g->x, cdt == dnnl_f32 ? dnnl_f32 : gx_dt);
    md_any(&wei, g->w_ndim, g->w, cdt);
    md_any(&ddst, 4, g->y, cdt);
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    *pd = NULL;
    enum lt_status rc = lt_dnnl_check(dnnl_dilated_convolution_backward_data_desc_init(
                                          &desc, dnnl_convolution_direct, &dsrc, &wei, &ddst,
                                          g->strides, g->dilates, g->pad_l, g->pad_r),
                                      "describing a convolution backward data", a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_attr(&attr, 0, a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_pd(pd, &desc, attr, a->impl, hint, cdt != dnnl_f32, DNNL_ARG_DIFF_SRC,
                        "creating a convolution backward data", a->msg);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* gx (+)= conv backward data of gout. */
static enum lt_status build_backward_data(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                          const struct conv_geom *g, dnnl_data_type_t cdt,
                                          const_dnnl_primitive_desc_t hint) {
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    dnnl_data_type_t gx_dt = lt_dnnl_dtype(a->gin[0]->dtype);
    dnnl_memory_desc_t uw, ug, ugx;
    lt_dnnl_md_plain(&uw, g->w_ndim, g->w, udt);
    lt_dnnl_md_laid(&ug, a, LT_OUT(0), g->y, lt_dnnl_dtype(a->gout[0]->dtype));
    lt_dnnl_md_laid(&ugx, a, LT_IN(0), g->x, gx_dt);
    dnnl_primitive_desc_t pd = NULL;
    enum lt_status rc = backward_data_pd(&pd, a, g, cdt, hint);
    if (rc != LT_OK)
        return rc;
    struct lt_dnnl_ref rw, rg, rgx;
    int acc = a->accumulate & 1u, direct = 0;
    rc = lt_dnnl_seq_input(s, &uw, at(LT_DNNL_IN, 1), pd_md(pd, DNNL_ARG_WEIGHTS), &rw, a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_seq_input(s, &ug, at(LT_DNNL_GOUT, 0), pd_md(pd, DNNL_ARG_DIFF_DST), &rg,
                               a->msg);
    if (rc == LT_OK) {
        direct = lt_dnnl_seq_output(s, pd_md(pd, DNNL_ARG_DIFF_SRC), &ugx, at(LT_DNNL_GIN, 0), acc,
                                    &rgx);
        int args[3] = {DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_SRC};
        rc = lt_dnnl_seq_primitive(s, pd, 3, args, (struct lt_dnnl_ref[]){rw, rg, rgx}, a->msg);
    }
    if (rc == LT_OK && !direct)
        rc = lt_dnnl_seq_reorder(s, pd_md(pd, DNNL_ARG_DIFF_SRC), rgx, &ugx, at(LT_DNNL_GIN, 0),
                                 acc, a->msg);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* The backward-weights descriptor (with the bias gradient when there is a bias and it
 * is wanted), its layouts its own (any). */
static enum lt_status backward_weights_pd(dnnl_primitive_desc_t *pd, const struct lt_kargs *a,
                                          const struct conv_geom *g, dnnl_data_type_t cdt,
                                          const_dnnl_primitive_desc_t hint) {
    int bias = a->n_in == 3 && a->gin[2];
    dnnl_data_type_t gw_dt = a->gin[1] ? lt_dnnl_dtype(a->gin[1]->dtype) : dnnl_f32;
    dnnl_data_type_t gb_dt = bias ? lt_dnnl_dtype(a->gin[2]->dtype) : dnnl_f32;
    dnnl_memory_desc_t src, dwei, dbias, ddst;
    md_any(&src, 4, g->x, cdt);
    md_any(&dwei, g->w_ndim, g->w, cdt == dnnl_f32 ? dnnl_f32 : gw_dt);
    lt_dnnl_md_plain(&dbias, 1, g->b, cdt == dnnl_f32 ? dnnl_f32 : gb_dt);
    md_any(&ddst, 4, g->y, cdt);
    dnnl_convolution_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    *pd = NULL;
    enum lt_status rc =
        lt_dnnl_check(dnnl_dilated_convolution_backward_weights_desc_init(
                          &desc, dnnl_convolution_direct, &src, &dwei, bias ? &dbias : NULL, &ddst,
                          g->strides, g->dilates, g->pad_l, g->pad_r),
                      "describing a convolution backward weights", a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_attr(&attr, 0, a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_pd(pd, &desc, attr, a->impl, hint, cdt != dnnl_f32, DNNL_ARG_SRC,
                        "creating a convolution backward weights", a->msg);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

/* gw (+)= conv backward weights and gb (+)= the bias gradient, each when asked for. */
static enum lt_status build_backward_weights(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                             const struct conv_geom *g, dnnl_data_type_t cdt,
                                             const_dnnl_primitive_desc_t hint) {
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    int bias = a->n_in == 3 && a->gin[2];
    /* the gradients' dtypes as stored */
    dnnl_data_type_t gw_dt = a->gin[1] ? lt_dnnl_dtype(a->gin[1]->dtype) : dnnl_f32;
    dnnl_data_type_t gb_dt = bias ? lt_dnnl_dtype(a->gin[2]->dtype) : dnnl_f32;
    dnnl_memory_desc_t ux, ug, ugw, ugb;
    lt_dnnl_md_laid(&ux, a, LT_IN(0), g->x, udt);
    lt_dnnl_md_laid(&ug, a, LT_OUT(0), g->y, lt_dnnl_dtype(a->gout[0]->dtype));
    lt_dnnl_md_plain(&ugw, g->w_ndim, g->w, gw_dt);
    lt_dnnl_md_plain(&ugb, 1, g->b, gb_dt);
    dnnl_primitive_desc_t pd = NULL;
    enum lt_status rc = backward_weights_pd(&pd, a, g, cdt, hint);
    if (rc != LT_OK)
        return rc;
    struct lt_dnnl_ref rx, rg, rgw, rgb = {0};
    int acc_w = (a->accumulate >> 1) & 1u, acc_b = (a->accumulate >> 2) & 1u;
    int direct_w = 0, direct_b = 1;
    rc = lt_dnnl_seq_input(s, &ux, at(LT_DNNL_IN, 0), pd_md(pd, DNNL_ARG_SRC), &rx, a->msg);
    if (rc == LT_OK)
        rc = lt_dnnl_seq_input(s, &ug, at(LT_DNNL_GOUT, 0), pd_md(pd, DNNL_ARG_DIFF_DST), &rg,
                               a->msg);
    if (rc == LT_OK) {
        if (a->gin[1])
            direct_w = lt_dnnl_seq_output(s, pd_md(pd, DNNL_ARG_DIFF_WEIGHTS), &ugw,
                                          at(LT_DNNL_GIN, 1), acc_w, &rgw);
        else /* only the bias gradient is wanted: the weights' goes to scratch */
            rgw = lt_dnnl_seq_buffer(s, pd_md(pd, DNNL_ARG_DIFF_WEIGHTS));
        if (bias)
            direct_b = lt_dnnl_seq_output(s, pd_md(pd, DNNL_ARG_DIFF_BIAS), &ugb,
                                          at(LT_DNNL_GIN, 2), acc_b, &rgb);
        int args[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
        rc = lt_dnnl_seq_primitive(s, pd, bias ? 4 : 3, args,
                                   (struct lt_dnnl_ref[]){rx, rg, rgw, rgb}, a->msg);
    }
    if (rc == LT_OK && a->gin[1] && !direct_w)
        rc = lt_dnnl_seq_reorder(s, pd_md(pd, DNNL_ARG_DIFF_WEIGHTS), rgw, &ugw, at(LT_DNNL_GIN, 1),
                                 acc_w, a->msg);
    if (rc == LT_OK && !direct_b)
        rc = lt_dnnl_seq_reorder(s, pd_md(pd, DNNL_ARG_DIFF_BIAS), rgb, &ugb, at(LT_DNNL_GIN, 2),
                                 acc_b, a->msg);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

static enum lt_status build_backward(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                     const struct conv_geom *g, dnnl_data_type_t cdt) {
    dnnl_primitive_desc_t hint = NULL;
    enum lt_status rc = forward_pd(&hint, s->d, g, a->n_in == 3, cdt, a->msg);
    if (rc == LT_OK && a->gin[0])
        rc = build_backward_data(s, a, g, cdt, hint);
    if (rc == LT_OK && (a->gin[1] || (a->n_in == 3 && a->gin[2])))
        rc = build_backward_weights(s, a, g, cdt, hint);
    if (hint)
        dnnl_primitive_desc_destroy(hint);
    return rc;
}

static void release(void *state) {
    struct conv_state *st = state;
    if (!st)
        return;
    lt_dnnl_seq_release(&st->seq);
    free(st);
}

static enum lt_status prepare(const struct lt_kargs *a, int backward, void **state) {
    enum lt_dtype dt = a->in[0]->dtype;
    if (dt != LT_DTYPE_F32 && dt != LT_DTYPE_BF16)
        return LT_EUNSUPPORTED;
    if (lt_kview_numel(a->in[0]) == 0 || lt_kview_numel(a->in[1]) == 0 ||
        lt_kview_numel(a->out[0]) == 0)
        return LT_EUNSUPPORTED; /* empty: the reference handles it */
    struct conv_state *st = calloc(1, sizeof *st);
    if (!st)
        return LT_ENOMEM;
    if (backward) {
        for (int i = 0; i < a->n_in; i++)
            st->grads |= a->gin[i] ? 1u << i : 0u;
        st->accumulate = a->accumulate;
    }
    struct conv_geom g = geom_of(a);
    /* bf16 natively where oneDNN has it, else in f32 from converted copies */
    const dnnl_data_type_t tries[2] = {lt_dnnl_dtype(dt), dnnl_f32};
    enum lt_status rc = LT_EUNSUPPORTED;
    for (int t = 0; t < (dt == LT_DTYPE_F32 ? 1 : 2) && rc == LT_EUNSUPPORTED; t++) {
        lt_dnnl_seq_init(&st->seq, a->impl);
        st->cdt = tries[t];
        rc = backward ? build_backward(&st->seq, a, &g, tries[t])
                      : build_forward(&st->seq, a, &g, tries[t]);
        if (rc != LT_OK)
            lt_dnnl_seq_release(&st->seq);
    }
    if (rc != LT_OK) {
        free(st);
        return rc;
    }
    *state = st;
    return LT_OK;
}

/* Whether the primitive pd keeps `arg` (of dims) plain. */
static int keeps_plain(const_dnnl_primitive_desc_t pd, int arg, const int64_t *dims) {
    const dnnl_memory_desc_t *md = pd_md(pd, arg);
    dnnl_memory_desc_t plain;
    lt_dnnl_md_plain(&plain, 4, dims, md->data_type);
    return dnnl_memory_desc_equal(md, &plain);
}

/* Whether one of the backward primitives of this call keeps x or y plain where
 * a->blocked would block it. */
static int backward_keeps_plain(const struct lt_kargs *a, const struct conv_geom *g,
                                dnnl_data_type_t cdt, const_dnnl_primitive_desc_t fwd) {
    int x = (a->blocked & LT_IN(0)) != 0, y = (a->blocked & LT_OUT(0)) != 0, plain = 0;
    dnnl_primitive_desc_t pd = NULL;
    if (a->gin[0]) {
        if (backward_data_pd(&pd, a, g, cdt, fwd) != LT_OK)
            return 1;
        plain |= (x && keeps_plain(pd, DNNL_ARG_DIFF_SRC, g->x)) ||
                 (y && keeps_plain(pd, DNNL_ARG_DIFF_DST, g->y));
        dnnl_primitive_desc_destroy(pd);
    }
    if (a->gin[1] || (a->n_in == 3 && a->gin[2])) {
        if (backward_weights_pd(&pd, a, g, cdt, fwd) != LT_OK)
            return 1;
        plain |= (x && keeps_plain(pd, DNNL_ARG_SRC, g->x)) ||
                 (y && keeps_plain(pd, DNNL_ARG_DIFF_DST, g->y));
        dnnl_primitive_desc_destroy(pd);
    }
    return plain;
}

/* x, y and their gradients in either layout: each is described as laid out, and the
 * sequence reorders only where a primitive wants another. Blocked is taken unless one of
 * the call's primitives keeps the tensor plain (gemm-based convolutions, an AVX2 CPU's
 * first layer): there a blocked tensor would add a reorder that a plain one does not
 * need. A layout of the primitive's own (nChw8c on AVX2, nhwc for AMX) is reordered
 * either way, and the blocked one is then the pooling's faster side. */
static int takes_blocked(const struct lt_kargs *a) {
    enum lt_dtype dt = a->in[0]->dtype;
    if ((dt != LT_DTYPE_F32 && dt != LT_DTYPE_BF16) || (a->blocked & ~(LT_IN(0) | LT_OUT(0))))
        return 0;
    /* what prepare builds for these layouts, in the dtype it computes in: the planner's
     * prepare then cannot decline what this took */
    char msg[LT_KMSG_SIZE] = "";
    struct lt_kargs q = *a;
    q.msg = msg;
    void *state = NULL;
    if (prepare(&q, a->gout[0] != NULL, &state) != LT_OK)
        return 0;
    dnnl_data_type_t cdt = ((const struct conv_state *)state)->cdt;
    release(state);
    struct conv_geom g = geom_of(a);
    dnnl_primitive_desc_t fwd = NULL;
    if (forward_pd(&fwd, a->impl, &g, a->n_in == 3, cdt, msg) != LT_OK)
        return 0;
    int plain = a->gout[0] ? backward_keeps_plain(&q, &g, cdt, fwd)
                           : ((a->blocked & LT_IN(0)) && keeps_plain(fwd, DNNL_ARG_SRC, g.x)) ||
                                 ((a->blocked & LT_OUT(0)) && keeps_plain(fwd, DNNL_ARG_DST, g.y));
    dnnl_primitive_desc_destroy(fwd);
    return !plain;
}

static size_t workspace(const struct lt_kargs *a, int backward) {
    (void)backward;
    const struct conv_state *st = a->state;
    return st ? lt_dnnl_seq_workspace(&st->seq) : 0;
}

static enum lt_status run_forward(const struct lt_kargs *a) {
    const struct conv_state *st = a->state;
    if (!st)
        return lt_dnnl_check(dnnl_invalid_arguments, "oneDNN conv2d: not prepared", a->msg);
    return lt_dnnl_seq_run(&st->seq, a);
}

static enum lt_status run_backward(const struct lt_kargs *a) {
    const struct conv_state *st = a->state;
    enum lt_status ok = lt_dnnl_check_grads(a, st != NULL, st ? st->grads : 0,
                                            st ? st->accumulate : 0, "conv2d");
    if (ok != LT_OK)
        return ok;
    return lt_dnnl_seq_run(&st->seq, a);
}

void lt_dnnl_register_conv(struct lt_backend *b) {
    const enum lt_dtype dts[] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int i = 0; i < 2; i++)
        b->kernels[LT_OP_CONV2D][dts[i]] = (struct lt_kernel){
            .forward = run_forward,
            .backward = run_backward,
            .prepare = prepare,
            .release = release,
            .workspace = workspace,
            .impl_name = "onednn",
            .half_gradients = 1,
            .f32_gin = LT_IN(1) | LT_IN(2), /* the weights' and bias's in their own dtypes */
            .takes_blocked = takes_blocked,
        };
}
