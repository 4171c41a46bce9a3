/* Plans' insides: the buffers and nodes of a compiled step. Private to the core.
 *
 * A plan is its graph lowered: the nodes that run (forward, then the backward nodes and
 * recomputations the passes put in the graph), in the graph's order, over a list of
 * buffers, one per value they touch. Every buffer has one memory category and an offset:
 * in its category's arena (packed by liveness), in the flat parameter/gradient/state
 * buffers, or in a data slot.
 */
#ifndef LT_PLAN_H
#define LT_PLAN_H

#include "core/graph.h"
#include "core/lutra.h"
#include "kernels/kernels.h"

enum lt_buf_kind {
    LT_BUF_ARENA, /* activations, temporaries, param copies: packed in the category's arena */
    LT_BUF_PARAM, /* a parameter: its tensor's data */
    LT_BUF_GRAD,  /* a parameter's gradient: the flat gradient buffer at the param's offset */
    LT_BUF_STATE, /* a state tensor's data, or the loss seed */
    LT_BUF_INPUT  /* a batch input: a data slot (trainer) or the caller's tensor (forward) */
};

struct lt_buf {
    enum lt_buf_kind kind;
    enum lt_mem_category cat;
    struct lt_kview view; /* dtype and shape; data NULL until an executor binds it */
    size_t bytes;         /* aligned size */
    size_t offset;        /* within the arena, the flat buffer or the data slot */
    int value;            /* the graph value it holds, -1 for gradients and the seed */
    int first, last;      /* ARENA: first and last node touching it */
    int keep;             /* read after the last node (the loss, requested outputs) */
    int recomputed;       /* written by a recomputation (lt_graph_recompute) */
    int blocked;          /* in the blocked layout (struct lt_kargs), as its gradient */
    int alias;            /* -1, or the buffer whose storage it is (lt_plan_aliases) */
};

/* A graph node lowered (struct lt_node says what its fields mean), over buffers. */
struct lt_pnode {
    enum lt_op op;
    const void *attrs; /* the graph node's */
    int backward;      /* runs the op's backward kernel */
    int once_per_step; /* a parameter's half copy: skipped after the first micro-batch */
    int recompute;     /* a forward node run again for the backward */
    int adapts;        /* a cast of a half gradient the planner put around a backward */
    int skip;          /* a reshape whose output is its input's storage: nothing to run */
    unsigned unread;   /* LT_OUT bits: outputs nothing reads, left unwritten (no storage) */
    int n_in, n_out;
    int in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];   /* buffers of the forward tensors */
    int gout[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS]; /* gradient buffers, -1 for none */
    unsigned accumulate;                          /* bit i: add into gin[i] */
    unsigned zero_first;                          /* bit i: zero gin[i] before the call */
    /* bits of accumulate that the step's first micro-batch clears: the first write of a
     * parameter's gradient (core/first_write.c) */
    unsigned overwrite_first;
    unsigned blocked;                             /* struct lt_kargs's */
    const struct lt_kernel *kernel;
    void *state;       /* what kernel->prepare built, released with the plan */
    void *state_first; /* what it built for the first micro-batch's accumulate bits */
    size_t workspace;
};

struct lt_plan {
    struct lt_ctx *ctx;
    struct lt_backend *be;  /* where it runs: the context's device; eager ops the CPU */
    struct lt_graph *graph; /* what the passes made: the plan's nodes are its nodes lowered */
    int refs;
    int training;
    /* the step's first micro-batch overwrites every parameter's gradient whole: the
     * trainer does not zero the gradient buffer (core/first_write.c) */
    int grads_overwritten;
    struct lt_buf *bufs;
    struct lt_pnode *nodes;
    int n_bufs, cap_bufs, n_nodes, cap_nodes;
    int *value_buf; /* graph value -> buffer, -1 when the step does not use it */
    int *grad_buf;  /* graph value -> gradient buffer, -1 when none */
    int loss_buf, seed_buf;
    int n_outputs;
    int *outputs;                     /* forward programs: the requested buffers */
    size_t flat_params, flat_state;   /* bytes of the flat buffers */
    size_t data_slot;                 /* bytes of one micro-batch's inputs */
    size_t bytes[LT_MEM_COUNT];       /* what the executor allocates */
    size_t live_peak[LT_MEM_COUNT];
    struct lt_optim_config opt;
    struct lt_optim_group *groups;    /* opt.groups copied, n = opt.n_groups */
};

/* Lowers p->graph (core/plan_build.c): the nodes the targets need (lt_graph_needed), in
 * the graph's order, become the plan's nodes, and each value they touch a buffer, made
 * when first touched: an input in the data slot, a parameter or state in the flat
 * buffers, a parameter's gradient in the flat gradient buffer at the parameter's offset,
 * the gradient of a target (the seed the backward starts from) in the flat state,
 * anything else in the temporaries' arena; a parameter's half copy in its own arena, made
 * once per step. Fills p->value_buf and p->grad_buf. Fails with LT_ENOMEM. */
enum lt_status lt_plan_lower(struct lt_plan *p, const int *targets, int n_targets);

/* The arguments node pn's kernel sees at plan time (prepare, the workspace query):
 * shapes and layouts, no data. */
void lt_plan_shape_args(const struct lt_plan *p, const struct lt_pnode *pn, struct lt_kargs *a);

/* Gives the blocked layout (struct lt_kargs) to every buffer where that is possible
 * (core/layout.c): a 4-d value of the arena whose channels are a multiple of 16, seen
 * by no caller, where every node that touches it or its gradient runs a kernel that
 * takes it. Sets the buffers' and the nodes' `blocked`; before the kernels are bound.
 * Fails with LT_ENOMEM. */
enum lt_status lt_plan_layouts(struct lt_plan *p);

/* Makes a reshape's output (and, where its backward writes it first, the input
 * gradient) an alias of its input's storage (of the output gradient's), and the node
 * one that runs nothing (core/alias.c). Before liveness, which keeps an alias's storage
 * for its readers too. Cannot fail. */
void lt_plan_aliases(struct lt_plan *p);

/* Makes the first write of each parameter's gradient overwrite on the step's first
 * micro-batch (core/first_write.c), preparing those nodes' kernels for it, and sets
 * grads_overwritten where that covers the whole gradient. After the kernels are bound,
 * before reshapes are aliased. Fails with LT_ENOMEM, or with a kernel's error preparing
 * (its message on the context). */
enum lt_status lt_plan_first_writes(struct lt_plan *p);

/* The plan of a training step for `loss` on backend be: the graph rewritten, its backward
 * appended and, when o asks for checkpointing (o may be NULL), recomputations inserted
 * (the passes of core/graph.h), then lowered, packed and checked against the memory
 * limit (o's, else the context's). Fails with LT_EINVAL (a bad loss or optimizer
 * config), LT_EUNSUPPORTED (no kernel or no backward) or LT_ENOMEM. */
enum lt_status lt_plan_compile_step(struct lt_ctx *ctx, struct lt_backend *be,
                                    struct lt_graph *g, int loss,
                                    const struct lt_optim_config *opt,
                                    const struct lt_plan_options *o, struct lt_plan **out);

/* The plan of a forward program computing outputs[0 .. n_out-1] (the graph rewritten,
 * then lowered and packed), checked against o->memory_limit (o may be NULL: the
 * context's limit). Fails as above. */
enum lt_status lt_plan_compile_forward(struct lt_ctx *ctx, struct lt_backend *be,
                                       struct lt_graph *g, int n_out, const int *outputs,
                                       const struct lt_plan_options *o, struct lt_plan **out);

#endif
