/* Exact rewrites: the first pass the planner runs on a graph; the caller's graph is left
 * as it is (the plan gets a rewritten copy with the same value ids).
 *
 * max_pool2d(relu(x)) -> relu(max_pool2d(x)): relu is monotone, so the two give the same
 * values, and the same gradients (a window whose maximum is positive sends its gradient
 * to the same element, the first largest; one whose maximum is not gets none either
 * way), but the relu and its backward then run on the pooled tensor, a quarter of the
 * size for 2x2 windows. The pool's argmax codes may differ (a window of negatives has its
 * largest negative as argmax, not its first zero), so a pool whose codes something reads
 * keeps its place. */
#include <stdlib.h>

#include "core/fail.h"
#include "core/graph.h"

/* The relu node whose output only a max_pool2d reads (and no target), for each such
 * pool whose codes nothing reads; -1 elsewhere. Returns how many pairs there are. */
static int relu_pool_pairs(const struct lt_graph *g, const int *targets, int n_targets,
                           int *relu_of) {
    int *readers = calloc((size_t)g->n_values + 1, sizeof *readers);
    LT_ASSERT(readers);
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++)
            readers[g->nodes[n].in[i]]++;
    for (int i = 0; i < n_targets; i++)
        readers[targets[i]]++;
    int pairs = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        const struct lt_node *pool = &g->nodes[n];
        relu_of[n] = -1;
        if (pool->op != LT_OP_MAX_POOL2D)
            continue;
        const struct lt_value *r = &g->values[pool->in[0]];
        if (r->kind == LT_VALUE_NODE && g->nodes[r->node].op == LT_OP_RELU &&
            readers[pool->in[0]] == 1 && readers[pool->out[1]] == 0) {
            relu_of[n] = r->node;
            pairs++;
        }
    }
    free(readers);
    return pairs;
}

enum lt_status lt_graph_rewrite(struct lt_graph *g, const int *targets, int n_targets,
                                struct lt_graph **out) {
    int *relu_of = malloc(((size_t)g->n_nodes + 1) * sizeof *relu_of);
    if (!relu_of)
        return lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
    if (relu_pool_pairs(g, targets, n_targets, relu_of) == 0) {
        free(relu_of);
        *out = lt_graph_retain(g);
        return LT_OK;
    }
    struct lt_graph *c;
    enum lt_status st = lt_graph_copy(g, &c);
    if (st != LT_OK) {
        free(relu_of);
        return st;
    }
    for (int n = 0; n < c->n_nodes; n++) {
        if (relu_of[n] < 0)
            continue;
        /* the relu's node now pools x into r and the codes, and the pool's node takes relu
         * of r into p: the nodes keep their inputs and first outputs, the codes move to
         * the relu's node, r takes p's shape */
        struct lt_node *relu = &c->nodes[relu_of[n]], *pool = &c->nodes[n];
        enum lt_op op = relu->op;
        void *attrs = relu->attrs;
        relu->op = pool->op;
        relu->attrs = pool->attrs;
        pool->op = op;
        pool->attrs = attrs;
        int codes = pool->out[1];
        relu->out[1] = codes;
        relu->n_out = 2;
        pool->out[1] = 0; /* unused slots are 0, as a new node's */
        pool->n_out = 1;
        c->values[codes].node = relu_of[n];
        c->values[pool->in[0]].shape = c->values[pool->out[0]].shape;
    }
    free(relu_of);
    *out = c;
    return LT_OK;
}
