/* A trainer's gradient all-reduce over the ranks of a data-parallel job: the flat
 * gradient buffer cut into buckets, each summed over the ranks as soon as the backward of
 * the step's last micro-batch has finished writing it (MPI's non-blocking all-reduce on
 * the CPU, moved on between kernels; the device's collectives, NCCL, on a GPU), so that
 * the transfer overlaps the rest of the backward. Private to the core. */
#ifndef LT_GRAD_SYNC_H
#define LT_GRAD_SYNC_H

#include "core/exec.h"

struct lt_grad_sync;

/* The all-reduce of a trainer of plan p whose gradient buffer is grads (p's backend's
 * memory): buckets cut as lt_plan_grad_buckets says (contiguous ranges of the buffer,
 * cut only where a parameter starts, filled from its end: the last parameters' gradients
 * are the backward's first). On a device, joins its communicator to the job first (once
 * per context). Fails with LT_ENOMEM, or as the device's collectives do
 * (LT_EUNSUPPORTED when it has none). */
enum lt_status lt_grad_sync_new(struct lt_ctx *ctx, const struct lt_plan *p, float *grads,
                                struct lt_grad_sync **out);
void lt_grad_sync_free(struct lt_grad_sync *s);

/* Before the step's last micro-batch runs on ex: starts the buckets no node of ex writes
 * and hooks ex so that each other bucket starts after the node that finishes it (buckets
 * start in one order on every rank). */
enum lt_status lt_grad_sync_begin(struct lt_grad_sync *s, struct lt_exec *ex);

/* After the step's micro-batches (none, for a rank whose shard of a short last batch is
 * empty): starts what has not started, waits for every sum (at most the context's
 * timeout) and unhooks the executor. Writes res's comm_ fields. */
enum lt_status lt_grad_sync_finish(struct lt_grad_sync *s, struct lt_step_result *res);

/* After a failure between begin and finish: unhooks the executor and forgets the step's
 * buckets. The sums already started stay in flight (the job has lost its agreement: the
 * trainer takes no more steps). */
void lt_grad_sync_abandon(struct lt_grad_sync *s);

#endif
