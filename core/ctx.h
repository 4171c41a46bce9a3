/* The context's insides and the error helper every core file uses. Private. */
#ifndef LT_CTX_H
#define LT_CTX_H

#include "core/lutra.h"

struct lt_ctx {
    struct lt_backend cpu; /* the CPU kernels: fast, or the reference on request */
    struct lt_backend ref; /* the reference: where a fast kernel declines a shape */
    struct lt_backend cuda; /* filled by the CUDA plugin once a GPU is asked for */
    struct lt_backend *run; /* where training plans run: &cpu or &cuda */
    void *plugin;           /* dlopen handle of lutra_cuda.so */
    int cuda_index;         /* the GPU the plugin started (cuda.impl set) */
    char device[16];        /* "cpu", "cuda:N" */
    int tf32;
    int nondeterministic; /* lt_ctx_set_deterministic(ctx, 0) */
    int profile; /* executors time every node (lt_ctx_set_profile) */
    int graphs;  /* GPU executors replay captured steps (lt_ctx_set_graphs) */
    char notice[LT_KMSG_SIZE + 96];
    uint64_t seed;
    size_t memory_limit; /* 0: the machine's RAM */
    int threads;         /* 0: OpenMP's default */
    char error[1024];
};

/* Formats the context's message and returns `st`: `return lt_fail(ctx, LT_EINVAL, ...)`. */
enum lt_status lt_fail(struct lt_ctx *ctx, enum lt_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Releases the GPU backend, if one was started (core/device.c). Cannot fail. */
void lt_ctx_release_devices(struct lt_ctx *ctx);

/* Makes the calling thread's OpenMP team the context's size. Cannot fail. */
void lt_ctx_apply_threads(const struct lt_ctx *ctx);

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
#define LT_ALIGN 64
static inline size_t lt_align(size_t n) {
    return (n + LT_ALIGN - 1) / LT_ALIGN * LT_ALIGN;
}

/* Internal invariants (never user input): always on, report and trap. */
#define LT_ASSERT(cond) ((cond) ? (void)0 : lt_assert_fail(#cond, __FILE__, __LINE__))
_Noreturn void lt_assert_fail(const char *what, const char *file, int line);

#endif
