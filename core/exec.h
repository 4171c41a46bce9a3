/* The executor: a plan's buffers bound to memory and its nodes' kernel arguments built
 * once, so that running a step is a loop of kernel calls. Private to the core. */
#ifndef LT_EXEC_H
#define LT_EXEC_H

#include "core/arena.h"
#include "core/plan.h"

struct lt_exec {
    struct lt_ctx *ctx;
    struct lt_plan *plan;
    struct lt_kview *views;  /* per buffer, data bound */
    struct lt_kview *hidden; /* per buffer, data NULL: what a backward does not read */
    struct lt_kargs *args;   /* per node */
    /* activations, temporaries, workspace, param copies: its own arenas or another
     * executor's (a reference held either way) */
    struct lt_arena *arena[LT_MEM_COUNT];
    size_t arena_bytes[LT_MEM_COUNT]; /* what this executor allocated (0: none, or borrowed) */
    struct lt_exec_info info;
    char msg[LT_KMSG_SIZE];
    double *node_seconds; /* per node, summed over runs, when the context profiles */
    struct lt_exec_info *info_dev; /* info in device memory (device backends) */
    int capture;                   /* runs replay captured graphs (lt_ctx_set_graphs) */
    struct {
        void *graph;
        uint64_t key; /* which micro-batch kind and bound pointers it was captured with */
    } graphs[4];
    int next_graph; /* the cache slot the next capture replaces */
    /* while set, called after each node that ran (a trainer's gradient all-reduce starts
     * the buckets the node finished); a failure stops the run */
    enum lt_status (*after_node)(void *user, int node);
    void *after_node_user;
};

/* Allocates the plan's activation, temporary and workspace arenas (exactly the planned
 * bytes) and builds every node's arguments. Fails with LT_ENOMEM. */
enum lt_status lt_exec_init(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p);
/* The same, but the activation, temporary and workspace arenas of `with` (an executor on
 * the same backend that never runs at the same time) are borrowed where they are large
 * enough (lt_mem_lend): only what no arena of it holds is allocated. A borrowed arena
 * lives as long as either executor holds it. */
enum lt_status lt_exec_init_sharing(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p,
                                    const struct lt_exec *with);
void lt_exec_release(struct lt_exec *ex);

/* A trainer's main executor, whose arenas the forward programs of its evaluation borrow
 * (lt_forward_new_for). */
const struct lt_exec *lt_trainer_exec(const struct lt_trainer *t);

/* Points buffer b at data. Cannot fail. */
void lt_exec_bind(struct lt_exec *ex, int b, void *data);

/* Points every parameter and state buffer at its tensor's data (they move when a
 * trainer adopts them). Cannot fail. */
void lt_exec_bind_tensors(struct lt_exec *ex);

/* What kind of micro-batch a run is (lt_exec_run's `run` bits). */
enum {
    LT_RUN_COPIES = 1, /* the executor's first of the step: the parameter copies are made */
    LT_RUN_FRESH = 2   /* the step's first: parameter gradients are overwritten, not added
                        * to (struct lt_pnode's overwrite_first) */
};

/* Runs every node in order; without LT_RUN_COPIES the nodes that make parameter copies
 * are skipped (the copies are still valid). On a kernel's failure returns its status
 * with the message on the context, naming the op. With capture on, the nodes' work is
 * recorded once per kind of micro-batch and set of bound pointers into a graph that
 * later runs replay. */
enum lt_status lt_exec_run(struct lt_exec *ex, unsigned run);

/* Checks tensors against the graph's inputs (count known, dtype and shape). */
enum lt_status lt_exec_check_inputs(struct lt_exec *ex, struct lt_tensor *const *inputs,
                                    const char *where);

#endif
