/* Lowering: a finished graph (what the passes made of it) becomes the plan's nodes over
 * buffers, one buffer per value, each with its memory category. Every node is lowered
 * the same way; what a node or a value is (backward, recomputed, a gradient, a
 * parameter's half copy) is read from the graph. */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/ops/ops.h"
#include "core/plan.h"

/* Appends a buffer for a tensor of `shape`; returns its index or -1 (LT_ENOMEM). */
static int add_buf(struct lt_plan *p, enum lt_buf_kind kind, enum lt_mem_category cat,
                   const struct lt_kview *shape, int value) {
    if (p->n_bufs == p->cap_bufs) {
        int cap = p->cap_bufs ? 2 * p->cap_bufs : 64;
        struct lt_buf *b = realloc(p->bufs, (size_t)cap * sizeof *b);
        if (!b) {
            lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
            return -1;
        }
        p->bufs = b;
        p->cap_bufs = cap;
    }
    struct lt_buf *b = &p->bufs[p->n_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->cat = cat;
    b->view = *shape;
    b->view.data = NULL;
    b->bytes = lt_align((size_t)lt_kview_numel(shape) * lt_dtype_bytes(shape->dtype));
    b->value = value;
    b->first = -1;
    b->last = -1;
    return p->n_bufs++;
}

/* Appends a node (zeroed); returns it or NULL (LT_ENOMEM). */
static struct lt_pnode *add_node(struct lt_plan *p) {
    if (p->n_nodes == p->cap_nodes) {
        int cap = p->cap_nodes ? 2 * p->cap_nodes : 64;
        struct lt_pnode *n = realloc(p->nodes, (size_t)cap * sizeof *n);
        if (!n) {
            lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
            return NULL;
        }
        p->nodes = n;
        p->cap_nodes = cap;
    }
    struct lt_pnode *n = &p->nodes[p->n_nodes++];
    memset(n, 0, sizeof *n);
    return n;
}

/* The buffer of value v, made on first use (see lt_plan_lower for where each kind goes);
 * -1 on LT_ENOMEM. */
static int buf_of(struct lt_plan *p, int v, const char *is_target) {
    if (p->value_buf[v] >= 0)
        return p->value_buf[v];
    const struct lt_graph *g = p->graph;
    const struct lt_value *val = &g->values[v];
    int b = -1;
    switch (val->kind) {
    case LT_VALUE_INPUT:
        if ((b = add_buf(p, LT_BUF_INPUT, LT_MEM_DATA, &val->shape, v)) >= 0) {
            p->bufs[b].offset = p->data_slot;
            p->data_slot += p->bufs[b].bytes;
        }
        break;
    case LT_VALUE_PARAM:
        if ((b = add_buf(p, LT_BUF_PARAM, LT_MEM_PARAMS, &val->shape, v)) >= 0) {
            p->bufs[b].offset = p->flat_params;
            p->flat_params += p->bufs[b].bytes;
        }
        break;
    case LT_VALUE_STATE:
        if ((b = add_buf(p, LT_BUF_STATE, LT_MEM_STATE, &val->shape, v)) >= 0) {
            p->bufs[b].offset = p->flat_state;
            p->flat_state += p->bufs[b].bytes;
        }
        break;
    case LT_VALUE_NODE:
        if ((b = add_buf(p, LT_BUF_ARENA, LT_MEM_TEMPORARIES, &val->shape, v)) >= 0)
            p->bufs[b].recomputed = g->nodes[val->node].recompute;
        break;
    case LT_VALUE_GRAD: /* no value of its own in the buffer: a gradient has no tensor */
        if (g->values[val->of].kind == LT_VALUE_PARAM) {
            if ((b = add_buf(p, LT_BUF_GRAD, LT_MEM_GRADS, &val->shape, -1)) >= 0)
                p->bufs[b].offset = p->bufs[p->value_buf[val->of]].offset;
        } else if (is_target[val->of]) {
            if ((b = add_buf(p, LT_BUF_STATE, LT_MEM_STATE, &val->shape, -1)) >= 0) {
                p->bufs[b].offset = p->flat_state;
                p->flat_state += p->bufs[b].bytes;
            }
        } else {
            b = add_buf(p, LT_BUF_ARENA, LT_MEM_TEMPORARIES, &val->shape, -1);
        }
        break;
    }
    if (b >= 0)
        p->value_buf[v] = b;
    return b;
}

/* Whether backward node `node` runs a kernel that takes its gradients in the dtypes of
 * its tensors (struct lt_kernel's half_gradients). On the CPU a fast kernel with a prepare
 * may decline the shapes at plan time and hand the node to the reference kernel: then
 * both must. */
static int takes_half_gradients(const struct lt_plan *p, const struct lt_node *node) {
    enum lt_dtype dt = p->graph->values[node->in[0]].shape.dtype;
    const struct lt_kernel *k = &p->be->kernels[node->op][dt];
    if (p->be == &p->ctx->cpu && k->prepare)
        return k->half_gradients && p->ctx->ref.kernels[node->op][dt].half_gradients;
    return k->half_gradients;
}

/* What the adapter's casts are told: indexed by the dtype they convert to. */
static const struct lt_cast_attrs cast_to[LT_DTYPE_COUNT] = {[LT_DTYPE_F32] = {LT_DTYPE_F32},
                                                             [LT_DTYPE_F16] = {LT_DTYPE_F16},
                                                             [LT_DTYPE_BF16] = {LT_DTYPE_BF16}};

/* Appends a plan node casting buffer `from` into buffer `to` (no graph node of its own). */
static enum lt_status add_cast(struct lt_plan *p, int from, int to) {
    struct lt_pnode *pn = add_node(p);
    if (!pn)
        return LT_ENOMEM;
    pn->op = LT_OP_CAST;
    pn->adapts = 1;
    pn->attrs = &cast_to[p->bufs[to].view.dtype];
    pn->n_in = pn->n_out = 1;
    pn->in[0] = from;
    pn->out[0] = to;
    for (int i = 0; i < LT_MAX_INPUTS; i++)
        pn->gin[i] = -1;
    for (int k = 0; k < LT_MAX_OUTPUTS; k++)
        pn->gout[k] = -1;
    return LT_OK;
}

/* An f32 copy of half gradient buffer b for one call: a temporary of b's shape. */
static int f32_copy(struct lt_plan *p, int b) {
    struct lt_kview shape = p->bufs[b].view;
    shape.dtype = LT_DTYPE_F32;
    return add_buf(p, LT_BUF_ARENA, LT_MEM_TEMPORARIES, &shape, -1);
}

/* Node `pn` (backward, its kernel taking f32 gradients) made to read and write f32 copies
 * of its half gradients: each half gout cast to f32 before the call; each half gin written
 * into an f32 copy (loaded first when the call adds into it), cast back after. A gradient
 * written through several slots shares one copy. Appends the casts before and the node. */
static enum lt_status lower_adapted(struct lt_plan *p, const struct lt_pnode *pn) {
    struct lt_pnode call = *pn;
    int copy_of[LT_MAX_INPUTS];
    enum lt_status st = LT_OK;
    for (int k = 0; k < pn->n_out && st == LT_OK; k++)
        if (pn->gout[k] >= 0 && lt_dtype_is_half(p->bufs[pn->gout[k]].view.dtype)) {
            if ((call.gout[k] = f32_copy(p, pn->gout[k])) < 0)
                return LT_ENOMEM;
            st = add_cast(p, pn->gout[k], call.gout[k]);
        }
    for (int i = 0; i < pn->n_in && st == LT_OK; i++) {
        copy_of[i] = -1;
        if (pn->gin[i] < 0 || !lt_dtype_is_half(p->bufs[pn->gin[i]].view.dtype))
            continue;
        for (int j = 0; j < i; j++)
            if (pn->gin[j] == pn->gin[i])
                call.gin[i] = call.gin[j];
        if (call.gin[i] != pn->gin[i])
            continue; /* its copy is slot j's */
        if ((call.gin[i] = copy_of[i] = f32_copy(p, pn->gin[i])) < 0)
            return LT_ENOMEM;
        /* the first slot decides: an add into what an earlier node wrote needs its value */
        unsigned bit = 1u << i;
        if ((pn->accumulate & bit) && !(pn->zero_first & bit))
            st = add_cast(p, pn->gin[i], call.gin[i]);
    }
    struct lt_pnode *added = st == LT_OK ? add_node(p) : NULL;
    if (!added)
        return st == LT_OK ? LT_ENOMEM : st;
    *added = call;
    for (int i = 0; i < pn->n_in && st == LT_OK; i++)
        if (copy_of[i] >= 0)
            st = add_cast(p, copy_of[i], pn->gin[i]);
    return st;
}

/* Whether backward node `node` can write its gin[i], the gradient of a half tensor, in
 * f32: a kernel taking f32 gradients anyway (the planner's casts leave an f32 gin
 * alone), or one taking half gradients that says so (struct lt_kernel's f32_gin; on the
 * CPU the reference too, where the fast kernel may decline at plan time). */
static int writes_f32_gin(const struct lt_plan *p, const struct lt_node *node, int i) {
    if (!takes_half_gradients(p, node))
        return 1;
    enum lt_dtype dt = p->graph->values[node->in[0]].shape.dtype;
    const struct lt_kernel *k = &p->be->kernels[node->op][dt];
    unsigned bit = LT_IN(i);
    if (p->be == &p->ctx->cpu && k->prepare)
        return (k->f32_gin & bit) && (p->ctx->ref.kernels[node->op][dt].f32_gin & bit);
    return (k->f32_gin & bit) != 0;
}

/* Mixed precision reads a parameter through its half copy (a cast made once per step),
 * whose gradient the copy's users write in half and the cast's backward adds, widened,
 * into the parameter's f32 gradient. Where every writer writes it through one slot and
 * can write f32 (writes_f32_gin), they add into the parameter's gradient themselves:
 * into[half gradient] = the f32 one (-1 elsewhere), and the cast's backward is dropped.
 * Neither a half weight gradient nor its conversion is then made; the gradient is
 * rounded once, to f32. Fails with LT_ENOMEM. */
static enum lt_status fold_param_copies(const struct lt_plan *p, const char *needed, int *into,
                                        char *dropped) {
    const struct lt_graph *g = p->graph;
    /* per gradient value: the backward nodes writing it, and whether one cannot fold */
    int *writers = calloc((size_t)g->n_values + 1, sizeof *writers);
    char *stuck = calloc((size_t)g->n_values + 1, 1);
    if (!writers || !stuck) {
        free(writers);
        free(stuck);
        return lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    }
    for (int n = 0; n < g->n_nodes; n++) {
        const struct lt_node *w = &g->nodes[n];
        for (int i = 0; needed[n] && w->backward && i < w->n_in; i++) {
            int v = w->gin[i], slots = 0, first = 1;
            for (int j = 0; v >= 0 && j < w->n_in; j++) {
                slots += w->gin[j] == v;
                first &= !(j < i && w->gin[j] == v);
            }
            if (v < 0 || !first) /* a node counts once per value */
                continue;
            writers[v]++;
            stuck[v] |= slots > 1 || !writes_f32_gin(p, w, i);
        }
    }
    for (int v = 0; v < g->n_values; v++)
        into[v] = -1;
    for (int c = 0; c < g->n_nodes; c++) {
        const struct lt_node *cast = &g->nodes[c];
        int half = cast->gout[0];
        dropped[c] = needed[c] && cast->backward && cast->of >= 0 &&
                     lt_graph_param_copy(g, cast->of) && half >= 0 && cast->gin[0] >= 0 &&
                     writers[half] > 0 && !stuck[half];
        if (dropped[c])
            into[half] = cast->gin[0];
    }
    free(writers);
    free(stuck);
    return LT_OK;
}

/* Which values a needed node reads (a backward node: what its op's backward reads) or
 * the caller asks for; NULL on LT_ENOMEM. */
static char *read_values(const struct lt_graph *g, const char *needed, const char *is_target) {
    char *read = calloc((size_t)g->n_values + 1, 1);
    if (!read)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        read[v] = is_target[v];
    for (int n = 0; n < g->n_nodes; n++) {
        const struct lt_node *node = &g->nodes[n];
        if (!needed[n])
            continue;
        unsigned reads = node->backward ? lt_op_descs[node->op].backward_reads : ~0u;
        for (int i = 0; i < node->n_in; i++)
            read[node->in[i]] |= (reads & LT_IN(i)) != 0;
        for (int k = 0; node->backward && k < node->n_out; k++)
            read[node->out[k]] |= (reads & LT_OUT(k)) != 0;
    }
    return read;
}

/* Lowers graph node n: buffers for what it touches, then the plan's node. */
static enum lt_status lower_node(struct lt_plan *p, int n, const char *is_target, const char *read,
                                 const int *into) {
    const struct lt_node *node = &p->graph->nodes[n];
    /* the gradients it writes, a parameter's half copy's taken by the parameter's own */
    int gin[LT_MAX_INPUTS];
    for (int i = 0; i < LT_MAX_INPUTS; i++)
        gin[i] = i < node->n_in && node->gin[i] >= 0 && into[node->gin[i]] >= 0 ? into[node->gin[i]]
                                                                                : node->gin[i];
    int ids[2 * (LT_MAX_INPUTS + LT_MAX_OUTPUTS)], count = 0;
    for (int i = 0; i < node->n_in; i++)
        ids[count++] = node->in[i];
    for (int k = 0; k < node->n_out; k++)
        ids[count++] = node->out[k];
    for (int k = 0; k < node->n_out; k++)
        if (node->gout[k] >= 0)
            ids[count++] = node->gout[k];
    for (int i = 0; i < node->n_in; i++)
        if (gin[i] >= 0)
            ids[count++] = gin[i];
    int half_gradients = 0;
    for (int j = 0; j < count; j++) {
        if (buf_of(p, ids[j], is_target) < 0)
            return LT_ENOMEM;
        half_gradients |= j >= node->n_in + node->n_out &&
                          lt_dtype_is_half(p->bufs[p->value_buf[ids[j]]].view.dtype);
    }
    struct lt_pnode pn = {0};
    pn.op = node->op;
    pn.attrs = node->attrs;
    pn.backward = node->backward;
    pn.recompute = node->recompute;
    pn.n_in = node->n_in;
    pn.n_out = node->n_out;
    for (int i = 0; i < LT_MAX_INPUTS; i++) {
        pn.in[i] = i < node->n_in ? p->value_buf[node->in[i]] : 0;
        pn.gin[i] = gin[i] >= 0 ? p->value_buf[gin[i]] : -1;
    }
    for (int k = 0; k < LT_MAX_OUTPUTS; k++) {
        pn.out[k] = k < node->n_out ? p->value_buf[node->out[k]] : 0;
        pn.gout[k] = node->gout[k] >= 0 ? p->value_buf[node->gout[k]] : -1;
    }
    for (int k = 1; !node->backward && k < node->n_out; k++)
        if (!read[node->out[k]] && lt_op_output_skippable(node->op, k))
            pn.unread |= LT_OUT(k);
    pn.accumulate = node->accumulate;
    pn.zero_first = node->zero_first;
    for (int i = 0; i < node->n_in; i++)
        if (gin[i] != node->gin[i]) { /* a parameter's gradient: micro-batches sum */
            pn.accumulate |= 1u << i;
            pn.zero_first &= ~(1u << i);
        }
    /* a parameter's half copy: made once per step, read by every micro-batch */
    if (lt_graph_param_copy(p->graph, n)) {
        pn.once_per_step = 1;
        p->bufs[pn.out[0]].cat = LT_MEM_PARAM_COPIES;
        p->bufs[pn.out[0]].keep = 1;
    }
    if (node->backward && half_gradients && !takes_half_gradients(p, node))
        return lower_adapted(p, &pn);
    struct lt_pnode *added = add_node(p);
    if (!added)
        return LT_ENOMEM;
    *added = pn;
    return LT_OK;
}

enum lt_status lt_plan_lower(struct lt_plan *p, const int *targets, int n_targets) {
    const struct lt_graph *g = p->graph;
    char *needed = calloc((size_t)g->n_nodes + 1, 1);
    char *is_target = calloc((size_t)g->n_values + 1, 1);
    if (!needed || !is_target) {
        free(needed);
        free(is_target);
        return lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    }
    for (int i = 0; i < n_targets; i++)
        is_target[targets[i]] = 1;
    for (int v = 0; v < g->n_values; v++)
        p->value_buf[v] = p->grad_buf[v] = -1;
    lt_graph_needed(g, targets, n_targets, needed);
    char *read = read_values(g, needed, is_target);
    int *into = malloc(((size_t)g->n_values + 1) * sizeof *into);
    char *dropped = calloc((size_t)g->n_nodes + 1, 1);
    enum lt_status st = read && into && dropped
                            ? fold_param_copies(p, needed, into, dropped)
                            : lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    for (int n = 0; n < g->n_nodes && st == LT_OK; n++)
        if (needed[n] && !dropped[n])
            st = lower_node(p, n, is_target, read, into);
    for (int v = 0; v < g->n_values && st == LT_OK; v++)
        if (g->values[v].grad >= 0)
            p->grad_buf[v] = p->value_buf[g->values[v].grad];
    free(read);
    free(into);
    free(dropped);
    free(needed);
    free(is_target);
    return st;
}
