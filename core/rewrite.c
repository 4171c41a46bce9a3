/* Exact rewrites: the first pass the planner runs on a graph; the caller's graph is left
 * as it is (the plan gets a rewritten copy with the same value ids).
 *
 * max_pool2d(relu(x)) -> relu(max_pool2d(x)): relu is monotone, so the two give the same
 * values, and the same gradients (a window whose maximum is positive sends its gradient
 * to the same element, the first largest; one whose maximum is not gets none either
 * way), but the relu and its backward then run on the pooled tensor, a quarter of the
 * size for 2x2 windows. The pool's argmax codes may differ (a window of negatives has its
 * largest negative as argmax, not its first zero), so a pool whose codes something reads
 * keeps its place.
 *
 * max_pool2d(conv2d(x, w, b)) -> conv2d_max_pool2d(x, w, b), after that: where only the
 * pool reads the convolution's output, x needs no gradient (it depends on no parameter:
 * the images of a CNN's first convolution) and the backend has a kernel that takes the
 * pair in one (its prepare accepts the shapes), so that the convolution's output is
 * never written. The pool's node becomes the fused one, with the convolution's inputs;
 * the convolution's node is then read by nothing and does not run. A relu that alone
 * reads the fused pooling's output, whose codes nothing reads, then folds in too (the
 * attribute relu: its mask rides in the codes), where the backend's kernel takes that
 * (only into nodes this rewrite fused: a hand-written one keeps its relu apart):
 * the fused node writes the relu's output, and the relu's node, turned to write the
 * fused node's former output from it, is read by nothing. */
#include <stdlib.h>

#include "core/fail.h"
#include "core/graph.h"
#include "core/mem.h"
#include "core/ops/ops.h"

/* How many nodes read each value, targets counted as readers (g->n_values + 1 entries). */
static int *readers_of(const struct lt_graph *g, const int *targets, int n_targets) {
    int *readers = calloc((size_t)g->n_values + 1, sizeof *readers);
    if (!readers)
        return NULL;
    for (int n = 0; n < g->n_nodes; n++)
        for (int i = 0; i < g->nodes[n].n_in; i++)
            readers[g->nodes[n].in[i]]++;
    for (int i = 0; i < n_targets; i++)
        readers[targets[i]]++;
    return readers;
}

/* The relu node whose output only a max_pool2d reads (and no target), for each such
 * pool whose codes nothing reads; -1 elsewhere. Returns how many pairs there are, or -1
 * (LT_ENOMEM). */
static int relu_pool_pairs(const struct lt_graph *g, const int *targets, int n_targets,
                           int *relu_of) {
    int *readers = readers_of(g, targets, n_targets);
    if (!readers)
        return -1;
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

/* The fused node's attributes: the convolution's and the pooling's. */
static struct lt_conv_pool_attrs fused_attrs(const struct lt_conv2d_attrs *conv,
                                             const struct lt_pool2d_attrs *pool) {
    struct lt_conv_pool_attrs f = {.groups = conv->groups};
    for (int d = 0; d < 2; d++) {
        f.stride[d] = conv->stride[d];
        f.padding[d] = conv->padding[d];
        f.dilation[d] = conv->dilation[d];
        f.pool_kernel[d] = pool->kernel[d];
        f.pool_stride[d] = pool->stride[d];
        f.pool_padding[d] = pool->padding[d];
    }
    return f;
}

/* Whether be's conv2d_max_pool2d kernel takes `attrs` on node c's inputs and node p's
 * outputs, asked of its prepare on the shapes alone. */
static int backend_takes(const struct lt_graph *g, const struct lt_backend *be,
                         const struct lt_conv_pool_attrs *attrs, const struct lt_node *c,
                         const struct lt_node *p) {
    enum lt_dtype dt = g->values[c->in[0]].shape.dtype;
    const struct lt_kernel *k = &be->kernels[LT_OP_CONV2D_MAX_POOL2D][dt];
    if (!k->forward || !k->backward || !k->prepare)
        return 0;
    struct lt_kargs a = {.attrs = attrs, .n_in = c->n_in, .n_out = p->n_out, .impl = be->impl};
    for (int i = 0; i < c->n_in; i++)
        a.in[i] = &g->values[c->in[i]].shape;
    for (int o = 0; o < p->n_out; o++)
        a.out[o] = &g->values[p->out[o]].shape;
    char msg[LT_KMSG_SIZE] = "";
    a.msg = msg;
    void *state = NULL;
    if (k->prepare(&a, 0, &state) != LT_OK)
        return 0;
    if (state && k->release)
        k->release(state);
    return 1;
}

/* conv_of[n]: the convolution node that max pooling node n fuses with, else -1. Returns
 * how many there are, or -1 (LT_ENOMEM). */
static int conv_pool_pairs(const struct lt_graph *g, const struct lt_backend *be,
                           const int *targets, int n_targets, int *conv_of) {
    int *readers = readers_of(g, targets, n_targets);
    char *grad = lt_graph_requires_grad(g);
    if (!readers || !grad) {
        free(readers);
        free(grad);
        return -1;
    }
    int pairs = 0;
    for (int n = 0; n < g->n_nodes; n++) {
        const struct lt_node *pool = &g->nodes[n];
        conv_of[n] = -1;
        if (pool->op != LT_OP_MAX_POOL2D)
            continue;
        const struct lt_value *cv = &g->values[pool->in[0]];
        if (cv->kind != LT_VALUE_NODE || readers[pool->in[0]] != 1)
            continue;
        const struct lt_node *conv = &g->nodes[cv->node];
        if (conv->op != LT_OP_CONV2D || grad[conv->in[0]])
            continue;
        struct lt_conv_pool_attrs attrs = fused_attrs(conv->attrs, pool->attrs);
        if (backend_takes(g, be, &attrs, conv, pool)) {
            conv_of[n] = cv->node;
            pairs++;
        }
    }
    free(readers);
    free(grad);
    return pairs;
}

/* Swaps each relu and the max pooling after it (relu_of, from relu_pool_pairs). */
static void swap_relu_pool(struct lt_graph *c, const int *relu_of) {
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
}

/* Makes each pool node of conv_of its fused node. Fails with LT_ENOMEM. */
static enum lt_status fuse_conv_pool(struct lt_graph *c, const int *conv_of) {
    for (int n = 0; n < c->n_nodes; n++) {
        if (conv_of[n] < 0)
            continue;
        struct lt_node *pool = &c->nodes[n];
        const struct lt_node *conv = &c->nodes[conv_of[n]];
        struct lt_conv_pool_attrs *attrs = lt_zalloc(c->ctx, sizeof *attrs);
        if (!attrs)
            return LT_ENOMEM;
        *attrs = fused_attrs(conv->attrs, pool->attrs);
        free(pool->attrs);
        pool->attrs = attrs;
        pool->op = LT_OP_CONV2D_MAX_POOL2D;
        pool->n_in = conv->n_in;
        for (int i = 0; i < conv->n_in; i++)
            pool->in[i] = conv->in[i];
    }
    return LT_OK;
}

/* Folds into each node this rewrite fused (conv_of) the relu that alone reads its output,
 * where its codes are read by nothing and be's kernel takes the relu. Fails with
 * LT_ENOMEM. */
static enum lt_status fold_relus(struct lt_graph *c, const struct lt_backend *be,
                                 const int *targets, int n_targets, const int *conv_of) {
    int *readers = readers_of(c, targets, n_targets);
    int *reader = malloc(((size_t)c->n_values + 1) * sizeof *reader); /* the last reader */
    if (!readers || !reader) {
        free(readers);
        free(reader);
        return LT_ENOMEM;
    }
    for (int v = 0; v < c->n_values; v++)
        reader[v] = -1; /* a value only a target reads has no reader node */
    for (int n = 0; n < c->n_nodes; n++)
        for (int i = 0; i < c->nodes[n].n_in; i++)
            reader[c->nodes[n].in[i]] = n;
    for (int n = 0; n < c->n_nodes; n++) {
        struct lt_node *f = &c->nodes[n];
        if (conv_of[n] < 0 || readers[f->out[0]] != 1 || readers[f->out[1]] != 0)
            continue;
        int y = f->out[0], r = reader[y];
        if (r < 0 || c->nodes[r].op != LT_OP_RELU || c->nodes[r].in[0] != y)
            continue;
        struct lt_node *relu = &c->nodes[r];
        struct lt_conv_pool_attrs *attrs = f->attrs, with = *attrs;
        with.relu = 1;
        if (!backend_takes(c, be, &with, f, f))
            continue;
        attrs->relu = 1;
        int out = relu->out[0];
        f->out[0] = out;
        c->values[out].node = n;
        relu->in[0] = out;
        relu->out[0] = y;
        c->values[y].node = r;
    }
    free(readers);
    free(reader);
    return LT_OK;
}

enum lt_status lt_graph_rewrite(struct lt_graph *g, const struct lt_backend *be, const int *targets,
                                int n_targets, struct lt_graph **out) {
    int *relu_of = malloc(((size_t)g->n_nodes + 1) * sizeof *relu_of);
    int *conv_of = malloc(((size_t)g->n_nodes + 1) * sizeof *conv_of);
    struct lt_graph *c = NULL;
    enum lt_status st = relu_of && conv_of ? LT_OK : LT_ENOMEM;
    int swapped = st == LT_OK ? relu_pool_pairs(g, targets, n_targets, relu_of) : 0;
    if (swapped < 0)
        st = LT_ENOMEM;
    if (st == LT_OK && swapped > 0) {
        st = lt_graph_copy(g, &c);
        if (st == LT_OK)
            swap_relu_pool(c, relu_of);
    }
    const struct lt_graph *now = c ? c : g;
    int fused = st == LT_OK ? conv_pool_pairs(now, be, targets, n_targets, conv_of) : 0;
    if (fused < 0)
        st = LT_ENOMEM;
    if (st == LT_OK && fused > 0 && !c)
        st = lt_graph_copy(g, &c);
    if (st == LT_OK && fused > 0)
        st = fuse_conv_pool(c, conv_of);
    if (st == LT_OK && fused > 0)
        st = fold_relus(c, be, targets, n_targets, conv_of);
    free(relu_of);
    free(conv_of);
    if (st != LT_OK) {
        if (c)
            lt_graph_free(c);
        return st == LT_ENOMEM ? lt_fail(g->ctx, LT_ENOMEM, "out of memory planning") : st;
    }
    *out = c ? c : lt_graph_retain(g);
    return LT_OK;
}
