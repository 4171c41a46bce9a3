/* The data-parallel world inside the core: what the trainer's gradient all-reduce
 * (core/grad_sync.c) needs of MPI besides the public lt_dist_* calls. Private to the core.
 *
 * Every collective waits with the context's timeout (lt_dist_set_timeout): a rank that
 * hangs, or a host that drops off the network, fails the collective with a message
 * instead of blocking the job forever; a rank that dies is noticed by MPI's launcher,
 * which takes the job down naming it. */
#ifndef LT_DIST_H
#define LT_DIST_H

#include "core/lutra.h"

/* Requests in flight: non-blocking collectives, held in place (a step allocates
 * nothing). Each slot holds one MPI_Request, whose type this header does not name: Open
 * MPI's is a pointer, MPICH's an int (core/dist.c checks that it fits). */
#define LT_DIST_MAX_PENDING 64
#define LT_DIST_REQUEST_BYTES 16

struct lt_dist_pending {
    int n;
    _Alignas(16) unsigned char requests[LT_DIST_MAX_PENDING][LT_DIST_REQUEST_BYTES];
};

/* Starts summing n floats at buf over every rank, in place (MPI_Iallreduce). Every rank
 * starts the same sums in the same order. Fails with LT_EIO (MPI's message) or LT_EINVAL
 * when p is full. */
enum lt_status lt_dist_start_sum(struct lt_ctx *ctx, float *buf, int64_t n,
                                 struct lt_dist_pending *p);

/* Lets MPI move the requests on (a test, not a wait): called between kernels so that
 * the transfer overlaps the backward. Cannot fail: an error shows at the wait. */
void lt_dist_progress(struct lt_dist_pending *p);

/* Waits for every request in p, at most the context's timeout; what names the
 * collective in a message. Fails with LT_EIO on an MPI error or the timeout. p is empty
 * afterwards either way. */
enum lt_status lt_dist_wait(struct lt_ctx *ctx, struct lt_dist_pending *p, const char *what);

/* Whether ctx has joined the world of a launched job (of any size, one included). */
int lt_dist_active(const struct lt_ctx *ctx);

#endif
