/* Graphs: symbolic values and the nodes that connect them, with shapes checked as each
 * node is added. Building a node computes nothing. */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/graph.h"
#include "core/ops/ops.h"
#include "core/tensor.h"

enum lt_status lt_graph_new(struct lt_ctx *ctx, struct lt_graph **out) {
    struct lt_graph *g = lt_zalloc(ctx, sizeof *g);
    if (!g)
        return LT_ENOMEM;
    g->ctx = ctx;
    g->refs = 1;
    *out = g;
    return LT_OK;
}

struct lt_graph *lt_graph_retain(struct lt_graph *g) {
    g->refs++;
    return g;
}

void lt_graph_free(struct lt_graph *g) {
    if (!g || --g->refs > 0)
        return;
    for (int i = 0; i < g->n_values; i++) {
        lt_tensor_free(g->values[i].tensor);
        free(g->values[i].name);
    }
    for (int i = 0; i < g->n_nodes; i++)
        free(g->nodes[i].attrs);
    free(g->values);
    free(g->nodes);
    free(g);
}

/* Appends a value slot; NULL with LT_ENOMEM recorded on failure. */
static struct lt_value *new_value(struct lt_graph *g, const char *name) {
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? 2 * g->cap_values : 64;
        struct lt_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v) {
            lt_fail(g->ctx, LT_ENOMEM, "out of memory growing a graph");
            return NULL;
        }
        g->values = v;
        g->cap_values = cap;
    }
    char *copy = NULL;
    if (name) {
        copy = lt_alloc(g->ctx, strlen(name) + 1);
        if (!copy)
            return NULL;
        strcpy(copy, name);
    }
    struct lt_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->node = -1;
    v->name = copy;
    return v;
}

static void set_shape(struct lt_value *v, enum lt_dtype dt, int ndim, const int64_t *shape) {
    v->shape.dtype = dt;
    v->shape.ndim = ndim;
    if (ndim > 0)
        memcpy(v->shape.shape, shape, (size_t)ndim * sizeof *shape);
}

enum lt_status lt_graph_input(struct lt_graph *g, enum lt_dtype dt, int ndim,
                              const int64_t *shape, const char *name, int *value) {
    enum lt_status st = lt_check_shape(g->ctx, name ? name : "input", dt, ndim, shape);
    if (st != LT_OK)
        return st;
    struct lt_value *v = new_value(g, name);
    if (!v)
        return LT_ENOMEM;
    v->kind = LT_VALUE_INPUT;
    v->index = g->n_inputs++;
    set_shape(v, dt, ndim, shape);
    *value = g->n_values++;
    return LT_OK;
}

static enum lt_status add_tensor_value(struct lt_graph *g, struct lt_tensor *t,
                                       const char *name, enum lt_value_kind kind, int *value) {
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].tensor == t)
            return lt_fail(g->ctx, LT_EINVAL, "%s: this tensor is already value %d of the graph",
                           name ? name : "tensor", i);
    struct lt_value *v = new_value(g, name);
    if (!v)
        return LT_ENOMEM;
    v->kind = kind;
    v->tensor = lt_tensor_retain(t);
    v->index = kind == LT_VALUE_PARAM ? g->n_params++ : g->n_states++;
    set_shape(v, lt_tensor_dtype(t), lt_tensor_ndim(t), lt_tensor_shape(t));
    *value = g->n_values++;
    return LT_OK;
}

enum lt_status lt_graph_param(struct lt_graph *g, struct lt_tensor *t, const char *name,
                              int group, int *value) {
    if (lt_tensor_dtype(t) != LT_DTYPE_F32)
        return lt_fail(g->ctx, LT_EINVAL, "%s: parameters are f32 (master weights), got %s",
                       name ? name : "param", lt_dtype_name(lt_tensor_dtype(t)));
    if (group < 0)
        return lt_fail(g->ctx, LT_EINVAL, "%s: optimizer group %d is negative",
                       name ? name : "param", group);
    enum lt_status st = add_tensor_value(g, t, name, LT_VALUE_PARAM, value);
    if (st == LT_OK)
        g->values[*value].group = group;
    return st;
}

enum lt_status lt_graph_state(struct lt_graph *g, struct lt_tensor *t, const char *name,
                              int *value) {
    return add_tensor_value(g, t, name, LT_VALUE_STATE, value);
}

enum lt_status lt_graph_op(struct lt_graph *g, enum lt_op op, int n_in, const int *in,
                           const void *attrs, int *out) {
    if ((unsigned)op >= LT_OP_COUNT)
        return lt_fail(g->ctx, LT_EINVAL, "unknown op %d", (int)op);
    const struct lt_op_desc *d = &lt_op_descs[op];
    if (n_in < d->min_in || n_in > d->max_in) {
        if (d->min_in == d->max_in)
            return lt_fail(g->ctx, LT_EINVAL, "%s: takes %d inputs, got %d", d->name, d->min_in,
                           n_in);
        return lt_fail(g->ctx, LT_EINVAL, "%s: takes %d to %d inputs, got %d", d->name,
                       d->min_in, d->max_in, n_in);
    }
    if (!attrs && d->attrs_size > sizeof(struct lt_no_attrs))
        return lt_fail(g->ctx, LT_EINVAL, "%s: needs its attributes", d->name);
    struct lt_kview shapes[LT_MAX_INPUTS], outs[LT_MAX_OUTPUTS];
    for (int i = 0; i < n_in; i++) {
        if (in[i] < 0 || in[i] >= g->n_values)
            return lt_fail(g->ctx, LT_EINVAL, "%s: input %d is not a value of this graph",
                           d->name, i + 1);
        shapes[i] = g->values[in[i]].shape;
    }
    char msg[LT_KMSG_SIZE] = "";
    memset(outs, 0, sizeof outs);
    if (d->infer(attrs, n_in, shapes, outs, msg) != LT_OK)
        return lt_fail(g->ctx, LT_EINVAL, "%s", msg);

    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        struct lt_node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
        if (!n)
            return lt_fail(g->ctx, LT_ENOMEM, "out of memory growing a graph");
        g->nodes = n;
        g->cap_nodes = cap;
    }
    /* reserve the output values before committing the node, so failure leaves no trace */
    if (g->n_values + d->n_out > g->cap_values) {
        int cap = g->cap_values ? g->cap_values : 64;
        while (cap < g->n_values + d->n_out)
            cap *= 2;
        struct lt_value *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v)
            return lt_fail(g->ctx, LT_ENOMEM, "out of memory growing a graph");
        g->values = v;
        g->cap_values = cap;
    }
    void *attr_copy = lt_zalloc(g->ctx, d->attrs_size);
    if (!attr_copy)
        return LT_ENOMEM;
    if (attrs)
        memcpy(attr_copy, attrs, d->attrs_size);

    struct lt_node *n = &g->nodes[g->n_nodes];
    n->op = op;
    n->attrs = attr_copy;
    n->n_in = n_in;
    n->n_out = d->n_out;
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    for (int k = 0; k < d->n_out; k++) {
        struct lt_value *v = &g->values[g->n_values];
        memset(v, 0, sizeof *v);
        v->kind = LT_VALUE_NODE;
        v->shape = outs[k];
        v->shape.data = NULL;
        v->node = g->n_nodes;
        v->slot = k;
        n->out[k] = out[k] = g->n_values++;
    }
    g->n_nodes++;
    return LT_OK;
}

int lt_graph_value_shape(const struct lt_graph *g, int value, enum lt_dtype *dt,
                         int64_t *shape) {
    if (value < 0 || value >= g->n_values)
        return -1;
    const struct lt_kview *s = &g->values[value].shape;
    if (dt)
        *dt = s->dtype;
    if (shape)
        memcpy(shape, s->shape, (size_t)s->ndim * sizeof *shape);
    return s->ndim;
}

int lt_graph_value_count(const struct lt_graph *g) {
    return g->n_values;
}

int lt_graph_node_count(const struct lt_graph *g) {
    return g->n_nodes;
}

int lt_graph_input_count(const struct lt_graph *g) {
    return g->n_inputs;
}

int lt_graph_param_count(const struct lt_graph *g) {
    return g->n_params;
}

int64_t lt_graph_param_numel(const struct lt_graph *g) {
    int64_t n = 0;
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == LT_VALUE_PARAM)
            n += lt_kview_numel(&g->values[i].shape);
    return n;
}

int lt_graph_find(const struct lt_graph *g, enum lt_value_kind kind, int index) {
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i].kind == kind && g->values[i].index == index)
            return i;
    return -1;
}
