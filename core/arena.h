/* A block of a backend's memory that executors share: the executor that allocated it
 * and those that borrow it (an evaluation program borrowing its trainer's step memory)
 * each hold a reference, and the last release frees it; so the borrowers and the lender
 * never need to know of each other. Private to the core; like the context, not for use
 * from two threads at once. */
#ifndef LT_ARENA_H
#define LT_ARENA_H

#include <stddef.h>

#include "core/lutra.h"
#include "kernels/kernels.h"

struct lt_arena {
    const struct lt_backend *be;
    void *data; /* device memory on a GPU backend, zeroed 64-byte aligned host memory else */
    size_t bytes;
    int refs;
};

/* An arena of `bytes` on backend be, holding one reference. Fails with LT_ENOMEM or
 * LT_ECUDA (the message on ctx). */
enum lt_status lt_arena_new(struct lt_ctx *ctx, const struct lt_backend *be, size_t bytes,
                            struct lt_arena **out);

/* Adds a reference; returns a. Cannot fail. */
struct lt_arena *lt_arena_retain(struct lt_arena *a);

/* Drops a reference, freeing the arena with the last. NULL is a no-op. */
void lt_arena_release(struct lt_arena *a);

#endif
