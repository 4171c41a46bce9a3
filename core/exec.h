/* The executor: a plan's buffers bound to memory and its nodes' kernel arguments built
 * once, so that running a step is a loop of kernel calls. Private to the core. */
#ifndef LT_EXEC_H
#define LT_EXEC_H

#include "core/plan.h"

struct lt_exec {
    struct lt_ctx *ctx;
    struct lt_plan *plan;
    struct lt_kview *views;  /* per buffer, data bound */
    struct lt_kview *hidden; /* per buffer, data NULL: what a backward does not read */
    struct lt_kargs *args;   /* per node */
    void *arena[LT_MEM_COUNT]; /* activations, temporaries, workspace, param copies */
    size_t arena_bytes[LT_MEM_COUNT]; /* what this executor allocated (0: none, or borrowed) */
    size_t arena_size[LT_MEM_COUNT];  /* the arena's size, its own or borrowed */
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
};

/* Allocates the plan's activation, temporary and workspace arenas (exactly the planned
 * bytes) and builds every node's arguments. Fails with LT_ENOMEM. */
enum lt_status lt_exec_init(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p);
/* The same, but the activation, temporary and workspace arenas of `with` (an executor on
 * the same backend that never runs at the same time, and outlives this one) are borrowed
 * where they are large enough (lt_mem_lend): only what no arena of it holds is
 * allocated. */
enum lt_status lt_exec_init_sharing(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p,
                                    const struct lt_exec *with);
void lt_exec_release(struct lt_exec *ex);

/* A trainer lending its arenas to the forward programs of its evaluation
 * (lt_forward_new_for): its main executor; the lender keeps a list of its borrowers and
 * orphans them when it is freed (core/trainer.c, core/forward.c). */
struct lt_forward;
const struct lt_exec *lt_trainer_exec(const struct lt_trainer *t);
enum lt_status lt_trainer_lend(struct lt_trainer *t, struct lt_forward *f);
void lt_trainer_unlend(struct lt_trainer *t, struct lt_forward *f);
void lt_forward_orphan(struct lt_forward *f);

/* Points buffer b at data. Cannot fail. */
void lt_exec_bind(struct lt_exec *ex, int b, void *data);

/* Points every parameter and state buffer at its tensor's data (they move when a
 * trainer adopts them). Cannot fail. */
void lt_exec_bind_tensors(struct lt_exec *ex);

/* Runs every node in order; after the first micro-batch of a step, the nodes that
 * make parameter copies are skipped (the copies are still valid). On a kernel's failure
 * returns its status with the message on the context, naming the op. With capture on,
 * the nodes' work is recorded once per kind of micro-batch and set of bound pointers
 * into a graph that later runs replay. */
enum lt_status lt_exec_run(struct lt_exec *ex, int first_micro);

/* Checks tensors against the graph's inputs (count known, dtype and shape). */
enum lt_status lt_exec_check_inputs(struct lt_exec *ex, struct lt_tensor *const *inputs,
                                    const char *where);

#endif
