/* The context's insides and the error helper every core file uses. Private. */
#ifndef LT_CTX_H
#define LT_CTX_H

#include "core/lutra.h"

struct lt_ctx {
    struct lt_backend cpu; /* the kernels plans use: fast, or the reference on request */
    struct lt_backend ref; /* the reference: where a fast kernel declines a shape */
    uint64_t seed;
    size_t memory_limit; /* 0: the machine's RAM */
    int threads;         /* 0: OpenMP's default */
    char error[1024];
};

/* Formats the context's message and returns `st`: `return lt_fail(ctx, LT_EINVAL, ...)`. */
enum lt_status lt_fail(struct lt_ctx *ctx, enum lt_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Makes the calling thread's OpenMP team the context's size. Cannot fail. */
void lt_ctx_apply_threads(const struct lt_ctx *ctx);

/* Allocation that records LT_ENOMEM on the context when it fails. */
void *lt_alloc(struct lt_ctx *ctx, size_t bytes);
void *lt_zalloc(struct lt_ctx *ctx, size_t bytes);

/* 64-byte aligned, zero-filled (so the pages are touched and counted now). */
void *lt_alloc_arena(struct lt_ctx *ctx, size_t bytes);

#define LT_ALIGN 64
static inline size_t lt_align(size_t n) {
    return (n + LT_ALIGN - 1) / LT_ALIGN * LT_ALIGN;
}

/* Internal invariants (never user input): always on, report and trap. */
#define LT_ASSERT(cond) ((cond) ? (void)0 : lt_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void lt_assert_fail(const char *what, const char *file, int line);

#endif
