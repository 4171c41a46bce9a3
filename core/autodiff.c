/* Autodiff, a graph -> graph pass: appends, in reverse order, the backward node of every
 * forward node that a gradient must cross on its way from the loss to a parameter, and
 * decides which gradient writes overwrite and which accumulate. */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/graph.h"
#include "core/ops/ops.h"

/* The gradient of value v, made on first use, in v's dtype: half between half ops, as
 * automatic mixed precision keeps it; parameters are f32, so their gradients are. */
static int grad_of(struct lt_graph *g, int v) {
    if (g->values[v].grad >= 0)
        return g->values[v].grad;
    struct lt_kview shape = g->values[v].shape;
    int d = lt_graph_add_value(g, LT_VALUE_GRAD, &shape);
    if (d >= 0) {
        g->values[d].of = v;
        g->values[v].grad = d;
    }
    return d;
}

/* Appends the backward of c's node n, whose output 0 has a gradient: gin for the inputs
 * a gradient reaches (req), each overwriting or accumulating (written: what a backward
 * appended before wrote). */
static enum lt_status append_backward(struct lt_graph *c, int n, const char *req, char *written) {
    const struct lt_op_desc *d = &lt_op_descs[c->nodes[n].op];
    if (!d->has_backward)
        return lt_fail(c->ctx, LT_EUNSUPPORTED,
                       "%s has no backward, but the loss's gradient must pass through it "
                       "(node %d)",
                       d->name, n);
    struct lt_node *b = lt_graph_add_twin(c, n);
    if (!b)
        return LT_ENOMEM;
    const struct lt_node *node = &c->nodes[n];
    b->backward = 1;
    b->gout[0] = c->values[node->out[0]].grad;
    for (int i = 0; i < node->n_in; i++) {
        int v = node->in[i];
        if (!req[v] || !lt_dtype_is_float(c->values[v].shape.dtype))
            continue;
        if ((b->gin[i] = grad_of(c, v)) < 0)
            return LT_ENOMEM;
        if (c->values[v].kind == LT_VALUE_PARAM || written[v]) {
            b->accumulate |= 1u << i; /* parameters sum over micro-batches */
            continue;
        }
        /* the first writer of a temporary overwrites it; when this node writes it through
         * a later slot too, zero it once and let every slot add */
        int later = 0;
        for (int j = i + 1; j < node->n_in; j++)
            later |= node->in[j] == v;
        if (later) {
            b->zero_first |= 1u << i;
            b->accumulate |= 1u << i;
        }
        written[v] = 1;
    }
    return LT_OK;
}

enum lt_status lt_graph_autodiff(struct lt_graph *g, int loss, struct lt_graph **out) {
    char *req = lt_graph_requires_grad(g);
    char *written = calloc((size_t)g->n_values + 1, 1);
    char *needed = calloc((size_t)g->n_nodes + 1, 1);
    struct lt_graph *c = NULL;
    enum lt_status st = LT_OK;
    if (!req || !written || !needed) {
        st = lt_fail(g->ctx, LT_ENOMEM, "out of memory differentiating the graph");
        goto done;
    }
    if (!req[loss]) {
        st = lt_fail(g->ctx, LT_EINVAL, "the loss does not depend on any parameter");
        goto done;
    }
    lt_graph_needed(g, &loss, 1, needed);
    st = lt_graph_copy(g, &c);
    /* the seed: the loss's gradient, written by the step, not by a node */
    if (st == LT_OK && grad_of(c, loss) < 0)
        st = LT_ENOMEM;
    if (st != LT_OK)
        goto done;
    written[loss] = 1;
    for (int n = g->n_nodes - 1; n >= 0 && st == LT_OK; n--) {
        const struct lt_node *node = &c->nodes[n];
        if (needed[n] && req[node->out[0]] && c->values[node->out[0]].grad >= 0)
            st = append_backward(c, n, req, written);
    }
done:
    free(req);
    free(written);
    free(needed);
    if (st != LT_OK) {
        lt_graph_free(c);
        return st;
    }
    *out = c;
    return LT_OK;
}
