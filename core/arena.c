/* Shared, reference-counted blocks of a backend's memory (core/arena.h). */
#include <stdlib.h>

#include "core/arena.h"
#include "core/fail.h"
#include "core/mem.h"

enum lt_status lt_arena_new(struct lt_ctx *ctx, const struct lt_backend *be, size_t bytes,
                            struct lt_arena **out) {
    struct lt_arena *a = lt_zalloc(ctx, sizeof *a);
    if (!a)
        return LT_ENOMEM;
    enum lt_status st = lt_mem_alloc(ctx, be, bytes, &a->data);
    if (st != LT_OK) {
        free(a);
        return st;
    }
    a->be = be;
    a->bytes = bytes;
    a->refs = 1;
    *out = a;
    return LT_OK;
}

struct lt_arena *lt_arena_retain(struct lt_arena *a) {
    a->refs++;
    return a;
}

void lt_arena_release(struct lt_arena *a) {
    if (!a || --a->refs > 0)
        return;
    LT_ASSERT(a->refs == 0);
    lt_mem_free(a->be, a->data);
    free(a);
}
