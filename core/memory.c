/* The core's memory: host allocations that record their failure on the context, and a
 * backend's memory, reached the same way whether it is the host's or a GPU's. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"

const char *lt_bytes_str(size_t bytes, char *buf, size_t size) {
    if (bytes < 1024)
        snprintf(buf, size, "%zu B", bytes);
    else if (bytes < (size_t)1 << 20)
        snprintf(buf, size, "%.1f KiB", (double)bytes / 1024);
    else if (bytes < (size_t)1 << 30)
        snprintf(buf, size, "%.1f MiB", (double)bytes / (1 << 20));
    else
        snprintf(buf, size, "%.2f GiB", (double)bytes / (1 << 30));
    return buf;
}

void *lt_alloc(struct lt_ctx *ctx, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p)
        lt_fail(ctx, LT_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *lt_zalloc(struct lt_ctx *ctx, size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p)
        lt_fail(ctx, LT_ENOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *lt_alloc_arena(struct lt_ctx *ctx, size_t bytes) {
    size_t n = lt_align(bytes ? bytes : 1);
    void *p = aligned_alloc(LT_ALIGN, n);
    if (!p) {
        lt_fail(ctx, LT_ENOMEM, "out of memory allocating an arena of %zu bytes", n);
        return NULL;
    }
    memset(p, 0, n);
    return p;
}

enum lt_status lt_mem_alloc(struct lt_ctx *ctx, const struct lt_backend *be, size_t bytes,
                            void **out) {
    if (!be->dev.alloc) {
        *out = lt_alloc_arena(ctx, bytes);
        return *out ? LT_OK : LT_ENOMEM;
    }
    char msg[LT_KMSG_SIZE] = "", b[32];
    size_t n = lt_align(bytes ? bytes : 1);
    enum lt_status st = be->dev.alloc(be->impl, n, out, msg);
    if (st == LT_OK)
        st = be->dev.zero(be->impl, *out, n, msg);
    if (st != LT_OK) {
        be->dev.free(be->impl, *out);
        *out = NULL;
        return lt_fail(ctx, st, "allocating %s on the GPU: %s", lt_bytes_str(n, b, sizeof b), msg);
    }
    return LT_OK;
}

void lt_mem_free(const struct lt_backend *be, void *ptr) {
    if (be->dev.free)
        be->dev.free(be->impl, ptr);
    else
        free(ptr);
}

enum lt_status lt_mem_zero(struct lt_ctx *ctx, const struct lt_backend *be, void *ptr,
                           size_t bytes) {
    if (!be->dev.zero) {
        /* a large buffer (the step's gradients) split between the threads: one core's
         * stores do not fill the memory's bandwidth (7 MB: 2 threads take half the time) */
#pragma omp parallel if (bytes >= ((size_t)1 << 20))
        {
            size_t k = (size_t)omp_get_thread_num(), n = (size_t)omp_get_num_threads();
            size_t lo = bytes / n * k, hi = k + 1 == n ? bytes : bytes / n * (k + 1);
            memset((char *)ptr + lo, 0, hi - lo);
        }
        return LT_OK;
    }
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = be->dev.zero(be->impl, ptr, bytes, msg);
    return st == LT_OK ? LT_OK : lt_fail(ctx, st, "zeroing GPU memory: %s", msg);
}

enum lt_status lt_mem_copy(struct lt_ctx *ctx, const struct lt_backend *be, void *dst,
                           const void *src, size_t bytes, enum lt_copy_kind kind) {
    if (!be->dev.copy) {
        memmove(dst, src, bytes);
        return LT_OK;
    }
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = be->dev.copy(be->impl, dst, src, bytes, kind, msg);
    return st == LT_OK ? LT_OK : lt_fail(ctx, st, "copying to or from the GPU: %s", msg);
}
