/* Page-locked host buffers through which a device backend's batches travel. The host
 * packs a micro-batch into one and queues its copy to the device without waiting, so
 * that the next micro-batch is packed while the device computes; losses and outputs come
 * back the same way and are read after the step's one wait. */
#ifndef LT_STAGING_H
#define LT_STAGING_H

#include "core/lutra.h"

struct lt_staging {
    const struct lt_backend *be;
    char *host;   /* page-locked, `bytes` long */
    size_t bytes;
};

/* Makes s at least `bytes` long on backend be (a device backend), dropping what it held.
 * Only while no copy through s is queued (between steps). */
enum lt_status lt_staging_reserve(struct lt_ctx *ctx, struct lt_staging *s,
                                  const struct lt_backend *be, size_t bytes);
void lt_staging_free(struct lt_staging *s);

/* Packs `bytes` of host memory src at offset `at` of s and queues their copy to the device
 * address dst. Offset `at` must not be packed again before the next wait. */
enum lt_status lt_staging_send(struct lt_ctx *ctx, struct lt_staging *s, size_t at, void *dst,
                               const void *src, size_t bytes);

/* Queues the copy of `bytes` of device memory src to offset `at` of s: they are there
 * after the backend's next sync. */
enum lt_status lt_staging_receive(struct lt_ctx *ctx, struct lt_staging *s, size_t at,
                                  const void *src, size_t bytes);

#endif
