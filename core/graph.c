/* Graphs: symbolic values and the nodes that connect them, with shapes checked as each
 * node is added. Building a node computes nothing. Also the builders the passes share
 * (core/graph.h): copies, values and nodes added as they are, and what a target needs. */
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

/* Room for `more` values beyond those there are; 0, or -1 with LT_ENOMEM recorded. */
static int reserve_values(struct lt_graph *g, int more) {
    if (g->n_values + more <= g->cap_values)
        return 0;
    int cap = g->cap_values ? g->cap_values : 64;
    while (cap < g->n_values + more)
        cap *= 2;
    struct lt_value *v = realloc(g->values, (size_t)cap * sizeof *v);
    if (!v) {
        lt_fail(g->ctx, LT_ENOMEM, "out of memory growing a graph");
        return -1;
    }
    g->values = v;
    g->cap_values = cap;
    return 0;
}

/* Room for one more node; 0, or -1 with LT_ENOMEM recorded. */
static int reserve_node(struct lt_graph *g) {
    if (g->n_nodes < g->cap_nodes)
        return 0;
    int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
    struct lt_node *n = realloc(g->nodes, (size_t)cap * sizeof *n);
    if (!n) {
        lt_fail(g->ctx, LT_ENOMEM, "out of memory growing a graph");
        return -1;
    }
    g->nodes = n;
    g->cap_nodes = cap;
    return 0;
}

/* The value after the last, blank (no producer, no gradient), in reserved room. */
static struct lt_value *blank_value(struct lt_graph *g) {
    struct lt_value *v = &g->values[g->n_values];
    memset(v, 0, sizeof *v);
    v->node = v->grad = v->of = -1;
    return v;
}

/* A copy of op's attrs (zeros when attrs is NULL); NULL with LT_ENOMEM recorded. */
static void *copy_attrs(struct lt_graph *g, enum lt_op op, const void *attrs) {
    size_t size = lt_op_descs[op].attrs_size;
    void *copy = lt_zalloc(g->ctx, size);
    if (copy && attrs)
        memcpy(copy, attrs, size);
    return copy;
}

/* The node after the last, blank (no gradients, of no node), in reserved room. */
static struct lt_node *blank_node(struct lt_graph *g, enum lt_op op, void *attrs) {
    struct lt_node *n = &g->nodes[g->n_nodes];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->attrs = attrs;
    n->of = -1;
    for (int i = 0; i < LT_MAX_INPUTS; i++)
        n->gin[i] = -1;
    for (int k = 0; k < LT_MAX_OUTPUTS; k++)
        n->gout[k] = -1;
    return n;
}

/* Appends a value slot; NULL with LT_ENOMEM recorded on failure. */
static struct lt_value *new_value(struct lt_graph *g, const char *name) {
    if (reserve_values(g, 1) < 0)
        return NULL;
    char *copy = NULL;
    if (name) {
        copy = lt_alloc(g->ctx, strlen(name) + 1);
        if (!copy)
            return NULL;
        strcpy(copy, name);
    }
    struct lt_value *v = blank_value(g);
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

    /* reserve the node and its output values before committing it, so failure leaves
     * no trace */
    if (reserve_node(g) < 0 || reserve_values(g, d->n_out) < 0)
        return LT_ENOMEM;
    void *attr_copy = copy_attrs(g, op, attrs);
    if (!attr_copy)
        return LT_ENOMEM;
    struct lt_node *n = blank_node(g, op, attr_copy);
    n->n_in = n_in;
    n->n_out = d->n_out;
    memcpy(n->in, in, (size_t)n_in * sizeof *in);
    for (int k = 0; k < d->n_out; k++) {
        struct lt_value *v = blank_value(g);
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

enum lt_status lt_graph_copy(const struct lt_graph *g, struct lt_graph **out) {
    struct lt_graph *c = lt_zalloc(g->ctx, sizeof *c);
    if (!c)
        return LT_ENOMEM;
    *c = *g;
    c->refs = 1;
    c->values = calloc((size_t)g->n_values + 1, sizeof *c->values);
    c->nodes = calloc((size_t)g->n_nodes + 1, sizeof *c->nodes);
    c->cap_values = g->n_values;
    c->cap_nodes = g->n_nodes;
    c->n_values = c->n_nodes = 0; /* what lt_graph_free releases: the copies made so far */
    if (!c->values || !c->nodes)
        goto fail;
    for (int v = 0; v < g->n_values; v++) {
        struct lt_value *to = &c->values[c->n_values++];
        *to = g->values[v];
        to->name = NULL;
        to->tensor = to->tensor ? lt_tensor_retain(to->tensor) : NULL;
        if (g->values[v].name && !(to->name = strdup(g->values[v].name)))
            goto fail;
    }
    for (int n = 0; n < g->n_nodes; n++) {
        struct lt_node *to = &c->nodes[c->n_nodes];
        *to = g->nodes[n];
        if (!(to->attrs = copy_attrs(c, to->op, g->nodes[n].attrs)))
            goto fail;
        c->n_nodes++;
    }
    *out = c;
    return LT_OK;
fail:
    lt_graph_free(c);
    return lt_fail(g->ctx, LT_ENOMEM, "out of memory copying a graph");
}

int lt_graph_add_value(struct lt_graph *g, enum lt_value_kind kind, const struct lt_kview *shape) {
    if (reserve_values(g, 1) < 0)
        return -1;
    struct lt_value *v = blank_value(g);
    v->kind = kind;
    v->shape = *shape;
    v->shape.data = NULL;
    return g->n_values++;
}

struct lt_node *lt_graph_add_node(struct lt_graph *g, enum lt_op op, const void *attrs) {
    if (reserve_node(g) < 0)
        return NULL;
    void *attr_copy = copy_attrs(g, op, attrs);
    if (!attr_copy)
        return NULL;
    struct lt_node *n = blank_node(g, op, attr_copy);
    g->n_nodes++;
    return n;
}

struct lt_node *lt_graph_add_twin(struct lt_graph *g, int n) {
    struct lt_node *t = lt_graph_add_node(g, g->nodes[n].op, g->nodes[n].attrs);
    if (!t)
        return NULL;
    const struct lt_node *node = &g->nodes[n]; /* adding a node may have moved the array */
    t->of = n;
    t->n_in = node->n_in;
    t->n_out = node->n_out;
    memcpy(t->in, node->in, sizeof t->in);
    memcpy(t->out, node->out, sizeof t->out);
    return t;
}

void lt_graph_needed(const struct lt_graph *g, const int *targets, int n_targets, char *needed) {
    char *want = calloc((size_t)g->n_values + 1, 1);
    LT_ASSERT(want);
    for (int i = 0; i < n_targets; i++)
        want[targets[i]] = 1;
    for (int n = g->n_nodes - 1; n >= 0; n--) {
        const struct lt_node *node = &g->nodes[n];
        needed[n] = (char)node->backward;
        for (int k = 0; !node->backward && k < node->n_out; k++)
            needed[n] |= want[node->out[k]];
        if (!needed[n])
            continue;
        for (int i = 0; i < node->n_in; i++)
            want[node->in[i]] = 1;
        for (int k = 0; node->backward && k < node->n_out; k++) {
            want[node->out[k]] = 1;
            if (node->gout[k] >= 0)
                want[node->gout[k]] = 1;
        }
    }
    free(want);
}

int lt_graph_param_copy(const struct lt_graph *g, int n) {
    const struct lt_node *node = &g->nodes[n];
    return !node->backward && node->op == LT_OP_CAST &&
           g->values[node->in[0]].kind == LT_VALUE_PARAM;
}

/* Which values a gradient reaches: parameters, and node outputs computed from them. */
char *lt_graph_requires_grad(const struct lt_graph *g) {
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
