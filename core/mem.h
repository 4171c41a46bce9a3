/* The core's memory: host allocation that records failures on the context, a
 * backend's arenas (device memory on a GPU, aligned host memory on the CPU), and how one
 * program borrows another's arenas. Private to the core. */
#ifndef LT_MEM_H
#define LT_MEM_H

#include <stddef.h>

#include "core/lutra.h"
#include "kernels/kernels.h"

/* Allocation that records LT_ENOMEM on the context when it fails. */
void *lt_alloc(struct lt_ctx *ctx, size_t bytes);
void *lt_zalloc(struct lt_ctx *ctx, size_t bytes);

/* 64-byte aligned, zero-filled (so the pages are touched and counted now). */
void *lt_alloc_arena(struct lt_ctx *ctx, size_t bytes);

/* Memory of a backend: device memory on a GPU backend, a zeroed 64-byte aligned host
 * arena on the CPU. Failures are recorded on ctx (LT_ENOMEM, LT_ECUDA). lt_mem_free
 * takes NULL; lt_mem_copy's kind says which sides are the device's. */
enum lt_status lt_mem_alloc(struct lt_ctx *ctx, const struct lt_backend *be, size_t bytes,
                            void **out);
void lt_mem_free(const struct lt_backend *be, void *ptr);
enum lt_status lt_mem_zero(struct lt_ctx *ctx, const struct lt_backend *be, void *ptr,
                           size_t bytes);
enum lt_status lt_mem_copy(struct lt_ctx *ctx, const struct lt_backend *be, void *dst,
                           const void *src, size_t bytes, enum lt_copy_kind kind);

/* Which arena of a program holding have[c] bytes per category each category of another's
 * need[c] borrows (core/lend.c): lend[c] is the lender's category, or -1 when c
 * allocates its own. Activations, temporaries and workspace lend and borrow, each arena
 * once; the largest need chooses first, taking the smallest arena that holds it. */
void lt_mem_lend(const size_t *have, const size_t *need, int *lend);
/* Formats bytes as "12.5 MiB" into buf. Cannot fail. */
const char *lt_bytes_str(size_t bytes, char *buf, size_t size);

#define LT_ALIGN 64
static inline size_t lt_align(size_t n) {
    return (n + LT_ALIGN - 1) / LT_ALIGN * LT_ALIGN;
}

#endif
