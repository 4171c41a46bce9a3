/* Autodiff: appends, in reverse order, the backward node of every forward node that a
 * gradient must cross on its way from the loss to a parameter, and decides which
 * gradient writes overwrite and which accumulate. */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/ops/ops.h"
#include "core/plan.h"

/* Which values a gradient reaches: parameters, and node outputs computed from them. */
static char *requires_grad(const struct lt_graph *g) {
    char *req = calloc((size_t)g->n_values + 1, 1);
    if (!req)
        return NULL;
    for (int v = 0; v < g->n_values; v++)
        req[v] = g->values[v].kind == LT_VALUE_PARAM;
    for (int n = 0; n < g->n_nodes; n++) {
        const struct lt_node *node = &g->nodes[n];
        int any = 0;
        for (int i = 0; i < node->n_in; i++)
            any |= req[node->in[i]];
        /* only output 0 carries a gradient; further outputs are saved statistics */
        req[node->out[0]] = (char)any;
    }
    return req;
}

/* The gradient buffer of value v, created on first use: parameters write into the flat
 * gradient buffer, everything else into a temporary. */
static int grad_of(struct lt_plan *p, int v) {
    if (p->grad_buf[v] >= 0)
        return p->grad_buf[v];
    const struct lt_value *val = &p->graph->values[v];
    struct lt_kview shape = val->shape;
    shape.dtype = LT_DTYPE_F32; /* gradients are fp32 whatever the forward dtype */
    int b = lt_plan_add_buf(p, val->kind == LT_VALUE_PARAM ? LT_BUF_GRAD : LT_BUF_ARENA, &shape,
                            -1);
    if (b >= 0) {
        p->bufs[b].cat = val->kind == LT_VALUE_PARAM ? LT_MEM_GRADS : LT_MEM_TEMPORARIES;
        if (val->kind == LT_VALUE_PARAM)
            p->bufs[b].offset = p->bufs[p->value_buf[v]].offset;
        p->grad_buf[v] = b;
    }
    return b;
}

enum lt_status lt_autodiff(struct lt_plan *p, int loss, const char *needed) {
    const struct lt_graph *g = p->graph;
    char *req = requires_grad(g);
    char *written = calloc((size_t)g->n_values + 1, 1);
    enum lt_status st = LT_OK;
    if (!req || !written) {
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory differentiating the graph");
        goto done;
    }
    if (!req[loss]) {
        st = lt_fail(p->ctx, LT_EINVAL, "the loss does not depend on any parameter");
        goto done;
    }
    p->grad_buf[loss] = p->seed_buf;
    written[loss] = 1;

    /* forward node indices in the plan are the graph's node order filtered by `needed` */
    int *plan_index = malloc(((size_t)g->n_nodes + 1) * sizeof *plan_index);
    if (!plan_index) {
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory differentiating the graph");
        goto done;
    }
    for (int n = 0, k = 0; n < g->n_nodes; n++)
        plan_index[n] = needed[n] ? k++ : -1;

    for (int n = g->n_nodes - 1; n >= 0 && st == LT_OK; n--) {
        const struct lt_node *node = &g->nodes[n];
        if (!needed[n] || !req[node->out[0]] || p->grad_buf[node->out[0]] < 0)
            continue;
        const struct lt_op_desc *d = &lt_op_descs[node->op];
        if (!d->has_backward) {
            st = lt_fail(p->ctx, LT_EUNSUPPORTED,
                         "%s has no backward, but the loss's gradient must pass through it "
                         "(node %d)",
                         d->name, n);
            break;
        }
        const struct lt_pnode *fwd = &p->nodes[plan_index[n]];
        struct lt_pnode *b = lt_plan_add_node(p);
        if (!b) {
            st = LT_ENOMEM;
            break;
        }
        fwd = &p->nodes[plan_index[n]]; /* adding a node may have moved the array */
        b->op = node->op;
        b->attrs = node->attrs;
        b->backward = 1;
        b->of = plan_index[n];
        b->n_in = node->n_in;
        b->n_out = node->n_out;
        memcpy(b->in, fwd->in, sizeof b->in);
        memcpy(b->out, fwd->out, sizeof b->out);
        b->gout[0] = p->grad_buf[node->out[0]];
        int bi = (int)(b - p->nodes);
        for (int i = 0; i < node->n_in; i++) {
            int v = node->in[i];
            if (!req[v] || !lt_dtype_is_float(g->values[v].shape.dtype))
                continue;
            int gb = grad_of(p, v);
            if (gb < 0) {
                st = LT_ENOMEM;
                break;
            }
            b = &p->nodes[bi];
            b->gin[i] = gb;
            if (g->values[v].kind == LT_VALUE_PARAM || written[v]) {
                b->accumulate |= 1u << i; /* parameters sum over micro-batches */
                continue;
            }
            /* the first writer of a temporary overwrites it; when this node writes it
             * through a later slot too, zero it once and let every slot add */
            int later = 0;
            for (int j = i + 1; j < node->n_in; j++)
                later |= node->in[j] == v;
            if (later) {
                b->zero_first |= 1u << i;
                b->accumulate |= 1u << i;
            }
            written[v] = 1;
        }
    }
    free(plan_index);
done:
    free(req);
    free(written);
    return st;
}
