/* The precision pass: from a traced f32 graph to a mixed-precision one.
 *
 * Matmul-like ops (precision class HALF) take half inputs and accumulate in f32 inside
 * their kernels; softmax, losses and reductions (F32) run in f32; a norm (STATS) takes
 * its half input as it is where the backend has a half kernel for it, its weights and
 * statistics f32 (else it is an F32 op); everything else (FOLLOW) runs in the dtype its
 * inputs arrive in, so activations kept for backward are stored in half. Parameters stay
 * f32 master weights: each one a half op reads is cast once per step (a `param_copies`
 * buffer). An op without a kernel for the half dtype runs in f32 between casts, which the
 * plan then counts. Autodiff gives every value a gradient of its own dtype: half between
 * half ops, f32 for parameters and f32 ops (a cast's backward converts the gradient back
 * to its input's dtype).
 */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/graph.h"
#include "core/ops/ops.h"

struct pass {
    struct lt_ctx *ctx;
    const struct lt_graph *src;
    struct lt_graph *dst;
    enum lt_dtype half;
    int *to_half, *to_f32; /* per dst value: its cast, or -1 (grown with dst) */
    int cap;
};

static enum lt_status grow(struct pass *ps) {
    int need = ps->dst->n_values + LT_MAX_OUTPUTS + 1;
    if (need <= ps->cap)
        return LT_OK;
    int cap = ps->cap ? ps->cap : 64;
    while (cap < need)
        cap *= 2;
    int *h = realloc(ps->to_half, (size_t)cap * sizeof *h);
    if (h)
        ps->to_half = h;
    int *f = h ? realloc(ps->to_f32, (size_t)cap * sizeof *f) : NULL;
    if (f)
        ps->to_f32 = f;
    if (!h || !f)
        return lt_fail(ps->ctx, LT_ENOMEM, "out of memory in the precision pass");
    for (int i = ps->cap; i < cap; i++)
        ps->to_half[i] = ps->to_f32[i] = -1;
    ps->cap = cap;
    return LT_OK;
}

/* Value v of dst as dtype dt, through one cached cast node. */
static enum lt_status as_dtype(struct pass *ps, int v, enum lt_dtype dt, int *out) {
    enum lt_dtype have = ps->dst->values[v].shape.dtype;
    if (have == dt || !lt_dtype_is_float(have)) {
        *out = v;
        return LT_OK;
    }
    int *cache = dt == LT_DTYPE_F32 ? ps->to_f32 : ps->to_half;
    if (cache[v] >= 0) {
        *out = cache[v];
        return LT_OK;
    }
    struct lt_cast_attrs ca = {dt};
    int casted;
    enum lt_status st = lt_graph_op(ps->dst, LT_OP_CAST, 1, &v, &ca, &casted);
    if (st == LT_OK)
        st = grow(ps);
    if (st != LT_OK)
        return st;
    cache = dt == LT_DTYPE_F32 ? ps->to_f32 : ps->to_half;
    cache[v] = casted;
    *out = casted;
    return LT_OK;
}

/* Whether the backend can run op in dt, forward and (when it has one) backward. */
static int has_kernel(const struct pass *ps, enum lt_op op, enum lt_dtype dt) {
    const struct lt_kernel *k = &ps->ctx->run->kernels[op][dt];
    return k->forward && (!lt_op_descs[op].has_backward || k->backward);
}

static enum lt_status copy_leaves(struct pass *ps, int *map) {
    const struct lt_graph *g = ps->src;
    enum lt_status st = LT_OK;
    for (int v = 0; v < g->n_values && st == LT_OK; v++) {
        const struct lt_value *val = &g->values[v];
        if (val->kind == LT_VALUE_INPUT)
            st = lt_graph_input(ps->dst, val->shape.dtype, val->shape.ndim, val->shape.shape,
                                val->name, &map[v]);
        else if (val->kind == LT_VALUE_PARAM)
            st = lt_graph_param(ps->dst, val->tensor, val->name, val->group, &map[v]);
        else if (val->kind == LT_VALUE_STATE)
            st = lt_graph_state(ps->dst, val->tensor, val->name, &map[v]);
        if (st == LT_OK)
            st = grow(ps);
    }
    return st;
}

static enum lt_status rewrite_node(struct pass *ps, const struct lt_node *node, int *map) {
    const struct lt_op_desc *d = &lt_op_descs[node->op];
    int in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS], any_half = 0;
    for (int i = 0; i < node->n_in; i++) {
        in[i] = map[node->in[i]];
        any_half |= ps->dst->values[in[i]].shape.dtype == ps->half;
    }
    enum lt_dtype target = LT_DTYPE_F32;
    /* a STATS op with a half kernel takes its input in half, the rest as they are (f32) */
    int stats_half = d->precision == LT_PREC_STATS &&
                     ps->dst->values[in[0]].shape.dtype == ps->half &&
                     has_kernel(ps, node->op, ps->half);
    if (node->op == LT_OP_CAST)
        target = ps->dst->values[in[0]].shape.dtype; /* the user's own cast stays as written */
    else if (d->precision == LT_PREC_HALF || (d->precision == LT_PREC_FOLLOW && any_half))
        target = ps->half;
    /* no half kernel: run in f32 between casts, and hand half back to what follows */
    int back_to_half = 0;
    if (target == ps->half && !has_kernel(ps, node->op, ps->half)) {
        target = LT_DTYPE_F32;
        back_to_half = 1;
    }
    /* f32 ops whose output is shaped like their input (norms, softmax) return it in the
     * dtype the activations came in; losses and reductions stay f32 */
    int f32_op = d->precision == LT_PREC_F32 || (d->precision == LT_PREC_STATS && !stats_half);
    if (f32_op && any_half) {
        const struct lt_kview *a = &ps->src->values[node->in[0]].shape;
        const struct lt_kview *o = &ps->src->values[node->out[0]].shape;
        back_to_half = a->ndim == o->ndim && !memcmp(a->shape, o->shape, (size_t)a->ndim * 8);
    }
    enum lt_status st = LT_OK;
    for (int i = 0; i < node->n_in && st == LT_OK; i++) {
        const struct lt_value *v = &ps->dst->values[in[i]];
        /* f32 ops keep f32 params and state (norm weights, running statistics) */
        if (node->op != LT_OP_CAST && !stats_half && lt_dtype_is_float(v->shape.dtype))
            st = as_dtype(ps, in[i], target, &in[i]);
    }
    if (st == LT_OK)
        st = lt_graph_op(ps->dst, node->op, node->n_in, in, node->attrs, out);
    if (st == LT_OK)
        st = grow(ps);
    if (st == LT_OK && back_to_half && lt_dtype_is_float(ps->dst->values[out[0]].shape.dtype))
        st = as_dtype(ps, out[0], ps->half, &out[0]);
    for (int k = 0; st == LT_OK && k < node->n_out; k++)
        map[node->out[k]] = out[k];
    return st;
}

enum lt_status lt_graph_mixed(struct lt_ctx *ctx, const struct lt_graph *g, enum lt_dtype half,
                              struct lt_graph **out, int *map) {
    if (half != LT_DTYPE_F16 && half != LT_DTYPE_BF16)
        return lt_fail(ctx, LT_EINVAL, "mixed precision needs f16 or bf16, got %s",
                       lt_dtype_name(half));
    struct pass ps = {ctx, g, NULL, half, NULL, NULL, 0};
    enum lt_status st = lt_graph_new(ctx, &ps.dst);
    if (st == LT_OK)
        st = copy_leaves(&ps, map);
    for (int n = 0; n < g->n_nodes && st == LT_OK; n++)
        st = rewrite_node(&ps, &g->nodes[n], map);
    free(ps.to_half);
    free(ps.to_f32);
    if (st != LT_OK) {
        lt_graph_free(ps.dst);
        return st;
    }
    *out = ps.dst;
    return LT_OK;
}
