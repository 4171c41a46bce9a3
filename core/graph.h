/* Graphs' insides: values and nodes. Private to the core. */
#ifndef LT_GRAPH_H
#define LT_GRAPH_H

#include "core/lutra.h"
#include "kernels/kernels.h"

enum lt_value_kind { LT_VALUE_INPUT, LT_VALUE_PARAM, LT_VALUE_STATE, LT_VALUE_NODE };

struct lt_value {
    enum lt_value_kind kind;
    struct lt_kview shape;    /* dtype and shape; data NULL */
    int node, slot;           /* NODE: the producer and which of its outputs */
    struct lt_tensor *tensor; /* PARAM, STATE: the backing tensor (a reference) */
    int group;                /* PARAM: optimizer group */
    int index;                /* INPUT, PARAM, STATE: position among its kind */
    char *name;
};

struct lt_node {
    enum lt_op op;
    void *attrs; /* a copy, lt_op_attrs_size(op) bytes */
    int n_in, n_out;
    int in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];
};

struct lt_graph {
    struct lt_ctx *ctx;
    int refs;
    struct lt_value *values;
    struct lt_node *nodes;
    int n_values, cap_values, n_nodes, cap_nodes;
    int n_inputs, n_params, n_states;
};

/* Adds a reference: a plan keeps its graph alive. Cannot fail. */
struct lt_graph *lt_graph_retain(struct lt_graph *g);

/* The value of kind `kind` numbered `index` (the index-th input, param or state). */
int lt_graph_find(const struct lt_graph *g, enum lt_value_kind kind, int index);

#endif
