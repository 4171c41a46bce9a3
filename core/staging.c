/* Batches in and results out through page-locked host memory (core/staging.h). */
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/staging.h"

enum lt_status lt_staging_reserve(struct lt_ctx *ctx, struct lt_staging *s,
                                  const struct lt_backend *be, size_t bytes) {
    if (s->host && s->be == be && s->bytes >= bytes)
        return LT_OK;
    lt_staging_free(s);
    char msg[LT_KMSG_SIZE] = "", b[32];
    size_t n = lt_align(bytes ? bytes : 1);
    enum lt_status st = be->dev.host_alloc(be->impl, n, (void **)&s->host, msg);
    if (st != LT_OK)
        return lt_fail(ctx, st, "allocating %s of page-locked host memory: %s",
                       lt_bytes_str(n, b, sizeof b), msg);
    s->be = be;
    s->bytes = n;
    return LT_OK;
}

void lt_staging_free(struct lt_staging *s) {
    if (s->host)
        s->be->dev.host_free(s->be->impl, s->host);
    s->host = NULL;
    s->bytes = 0;
}

static enum lt_status queue(struct lt_ctx *ctx, const struct lt_staging *s, void *dst,
                            const void *src, size_t bytes, enum lt_copy_kind kind) {
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = s->be->dev.copy_async(s->be->impl, dst, src, bytes, kind, msg);
    return st == LT_OK ? LT_OK : lt_fail(ctx, st, "copying to or from the GPU: %s", msg);
}

enum lt_status lt_staging_send(struct lt_ctx *ctx, struct lt_staging *s, size_t at, void *dst,
                               const void *src, size_t bytes) {
    LT_ASSERT(at + bytes <= s->bytes);
    memcpy(s->host + at, src, bytes);
    return queue(ctx, s, dst, s->host + at, bytes, LT_COPY_H2D);
}

enum lt_status lt_staging_receive(struct lt_ctx *ctx, struct lt_staging *s, size_t at,
                                  const void *src, size_t bytes) {
    LT_ASSERT(at + bytes <= s->bytes);
    return queue(ctx, s, s->host + at, src, bytes, LT_COPY_D2H);
}
