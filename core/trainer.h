/* A trainer's insides, shared by its two files: core/trainer.c (its memory, its plans and
 * the step) and core/trainer_state.c (its state in and out: optimizer moments, counters,
 * loss scale, lr, and the hand-over to another trainer). Private to the core. */
#ifndef LT_TRAINER_H
#define LT_TRAINER_H

#include "core/exec.h"
#include "core/staging.h"
#include "core/tensor.h"

/* One parameter's slice of the flat buffers. */
struct param_range {
    int64_t offset, n; /* in floats */
    int group;
};

/* Plans one trainer may hold: the first and the shapes added with lt_trainer_add_plan. */
#define MAX_PLANS 16

struct lt_trainer {
    struct lt_ctx *ctx;
    const struct lt_backend *be; /* the plan's */
    int on_device;
    struct lt_plan *plan;                /* the first plan: layouts and optimizer come from it */
    struct lt_exec ex;                   /* its executor */
    struct lt_exec *more[MAX_PLANS - 1]; /* executors of added plans; they borrow ex's
                                          * arenas where those are large enough */
    int n_more;
    size_t slot;                       /* bytes of one data slot: the largest plan's */
    struct lt_storage *params, *state; /* the graph's tensors are views of these */
    struct lt_mirror pmirror, smirror; /* their device copies, on a GPU */
    char *dparams, *dstate;            /* where the step reads them: device or host bytes */
    float *grads, *moments;            /* (params), (params) or (2, params) */
    char *data;                        /* (2, data_slot): micro-batch slots */
    struct lt_staging staging;         /* on a GPU: the step's losses, then its batches */
    float *seed;                       /* {loss scale, 0}: the loss's incoming gradient,
                                        * in dstate */
    float scale;                       /* seed[0], on the host */
    struct param_range *ranges;
    int n_ranges;
    size_t allocated[LT_MEM_COUNT]; /* bytes handed to each category's allocations */
    float lr;
    int64_t step;
    struct lt_loss_scale scaler;
    int clean_steps; /* in a row, for dynamic growth */
    struct lt_grad_sync *sync; /* in a data-parallel job: the gradient's all-reduce */
    int weights_agreed;        /* the ranks started from rank 0's weights */
    int disagreed;             /* a step of the job failed: the ranks no longer agree */
};

/* Writes {scale, 0} where the loss's gradient is read, and into the host bytes of the
 * state (which a push sends). */
enum lt_status lt_trainer_write_seed(struct lt_trainer *t, float scale);

/* The buffer of parameter (or state) number i in plan p, or -1 when the plan does not use
 * it. */
int lt_trainer_buf_of(const struct lt_plan *p, enum lt_value_kind kind, int i);

/* Makes tensor t a view of s at offset, keeping its values (a no-op when it is one). */
void lt_trainer_adopt(struct lt_tensor *t, struct lt_storage *s, size_t offset);

#endif
