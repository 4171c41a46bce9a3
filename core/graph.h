/* Graphs' insides: values and nodes, the builders the passes share, and the passes
 * (graph -> graph) the planner runs before it lowers a graph. Private to the core.
 *
 * A traced graph holds forward nodes only. Autodiff appends backward nodes and the
 * gradients they write; recomputation inserts copies of forward nodes before them. A
 * pass never changes the ids of the values it was given. */
#ifndef LT_GRAPH_H
#define LT_GRAPH_H

#include "core/lutra.h"
#include "kernels/kernels.h"

enum lt_value_kind {
    LT_VALUE_INPUT,
    LT_VALUE_PARAM,
    LT_VALUE_STATE,
    LT_VALUE_NODE,
    LT_VALUE_GRAD /* the gradient of value `of` (lt_graph_autodiff), in its dtype */
};

struct lt_value {
    enum lt_value_kind kind;
    struct lt_kview shape;    /* dtype and shape; data NULL */
    int node, slot;           /* NODE: the producer and which of its outputs */
    struct lt_tensor *tensor; /* PARAM, STATE: the backing tensor (a reference) */
    int group;                /* PARAM: optimizer group */
    int index;                /* INPUT, PARAM, STATE: position among its kind */
    int grad;                 /* its gradient (a GRAD value) once autodiff made one, else -1 */
    int of;                   /* GRAD: the value it is the gradient of; else -1 */
    char *name;
};

/* A forward node reads `in` and writes `out`. A backward node (backward = 1) runs the
 * backward of node `of` on the same in and out (reading what the op's backward_reads
 * names) and gout, and writes gin. A recomputation (recompute = 1) is a copy of forward
 * node `of` writing new values, run again just before the backward that reads them. */
struct lt_node {
    enum lt_op op;
    void *attrs; /* the node's own copy, lt_op_attrs_size(op) bytes */
    int n_in, n_out;
    int in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];
    int backward, recompute, of;                  /* of: -1 on a traced node */
    int gout[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS]; /* gradient values, -1 for none */
    unsigned accumulate;                          /* bit i: add into gin[i] */
    unsigned zero_first;                          /* bit i: zero gin[i] before the call */
};

struct lt_graph {
    struct lt_ctx *ctx;
    int refs;
    struct lt_value *values;
    struct lt_node *nodes;
    int n_values, cap_values, n_nodes, cap_nodes;
    int n_inputs, n_params, n_states;
    int segments; /* activation checkpointing's segments (lt_graph_recompute); 0 without */
};

/* Adds a reference: a plan keeps its graph alive. Cannot fail. */
struct lt_graph *lt_graph_retain(struct lt_graph *g);

/* The value of kind `kind` numbered `index` (the index-th input, param or state). */
int lt_graph_find(const struct lt_graph *g, enum lt_value_kind kind, int index);

/* ---- builders: what the passes share ---------------------------------------------------- */

/* A copy of g with the same value and node ids, sharing its tensors (retained), each node
 * with its own attrs. Fails with LT_ENOMEM. */
enum lt_status lt_graph_copy(const struct lt_graph *g, struct lt_graph **out);

/* Appends a value of `kind` and `shape` made by no node yet (node, grad and of -1);
 * returns its id, or -1 with LT_ENOMEM recorded. */
int lt_graph_add_value(struct lt_graph *g, enum lt_value_kind kind, const struct lt_kview *shape);

/* Appends a node running op with a copy of attrs (lt_op_attrs_size(op) bytes), no inputs
 * or outputs yet, gin and gout -1, of -1; returns it (valid until the next node is
 * added), or NULL with LT_ENOMEM recorded. */
struct lt_node *lt_graph_add_node(struct lt_graph *g, enum lt_op op, const void *attrs);
/* Appends a node that is a twin of node n — its op, a copy of its attributes, its inputs
 * and outputs — for a pass to turn into n's backward or recomputation (it sets the
 * rest). Returns it, or NULL (LT_ENOMEM); the node array may have moved. */
struct lt_node *lt_graph_add_twin(struct lt_graph *g, int n);

/* needed[n] (g->n_nodes entries): whether node n runs for the targets: a backward node
 * always (autodiff appends only those a gradient crosses), any other when it writes a
 * target or a value that a node that runs reads. Cannot fail. */
void lt_graph_needed(const struct lt_graph *g, const int *targets, int n_targets, char *needed);

/* Which values a gradient reaches (g->n_values + 1 entries, freed by the caller):
 * parameters, and the output 0 of every node that reads one of them. NULL when out of
 * memory. */
char *lt_graph_requires_grad(const struct lt_graph *g);

/* Whether node n makes a parameter's half copy (a cast of a parameter): made once per
 * step, read by every micro-batch, so alive for the whole step. */
int lt_graph_param_copy(const struct lt_graph *g, int n);

/* ---- passes: each gives a new graph (or g itself, retained) with g's value ids --------- */

/* The graph the plan of `targets` (the loss, or a program's outputs) runs on backend be:
 * g itself, or a copy where an exact rewrite makes it cheaper (core/rewrite.c: max_pool2d
 * after relu runs before it; a convolution and the max pooling after it run as one op
 * where be has a kernel for the pair). Fails with LT_ENOMEM. */
enum lt_status lt_graph_rewrite(struct lt_graph *g, const struct lt_backend *be, const int *targets,
                                int n_targets, struct lt_graph **out);

/* The forward graph g with, in reverse order, the backward node of every node that the
 * loss's gradient crosses on its way to a parameter appended (core/autodiff.c). Every
 * value a gradient reaches gets one (value.grad); the loss's is the seed the step starts
 * from, written by no node. Fails with LT_EINVAL (the loss depends on no parameter),
 * LT_EUNSUPPORTED (a gradient must cross an op without backward) or LT_ENOMEM. */
enum lt_status lt_graph_autodiff(struct lt_graph *g, int loss, struct lt_graph **out);

/* Activation checkpointing on a graph from lt_graph_autodiff (core/recompute.c): cuts the
 * forward nodes the loss needs into the segments that keep the fewest bytes at the
 * estimated peak, and inserts before each segment's backward, but the last's, copies of
 * its forward nodes that recompute what that backward reads; the backward nodes read the
 * copies. g itself (retained) when one segment is best. Fails with LT_ENOMEM. */
enum lt_status lt_graph_recompute(struct lt_graph *g, int loss, struct lt_graph **out);

#endif
