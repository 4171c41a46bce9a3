/* Tensors' insides: storage sharing and rebinding. Private to the core. */
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include "core/lutra.h"

/* A device copy of a storage: a trainer's parameters or state on a GPU. The host bytes
 * stay what users and checkpoints see (GPU forward programs read the device copy); the
 * flags say which side is newer, so that each copy happens only when the other side
 * needs it. */
struct lt_mirror {
    const struct lt_backend *be;
    void *dev;        /* as many bytes as the storage */
    int host_stale;   /* the device is newer: lt_tensor_data fetches it first */
    int device_stale; /* the host may be newer (someone took a data pointer): send it
                       * before the device reads */
};

struct lt_storage {
    int refs;
    void *data;
    size_t bytes;
    struct lt_mirror *mirror; /* NULL: host memory alone */
};

/* Brings the host bytes of s up to date with its mirror (when it has one and they are
 * stale). A device failure leaves the old bytes and says so on stderr: it cannot be a
 * caller's error and lt_tensor_data has no way to fail. */
void lt_storage_fetch(struct lt_storage *s);

/* Sends the host bytes of s to its mirror when the host may have changed them (after
 * fetching the device's newer bytes, if the host has not seen them). LT_OK without a
 * mirror; a device failure is recorded on ctx. */
enum lt_status lt_storage_push(struct lt_ctx *ctx, struct lt_storage *s);

struct lt_tensor {
    int refs;
    struct lt_storage *storage;
    size_t offset; /* bytes into the storage */
    enum lt_dtype dtype;
    int ndim;
    int64_t shape[LT_MAX_DIMS];
};

/* A storage of `bytes` zeroed, 64-byte aligned bytes, one reference. NULL on failure
 * (LT_ENOMEM recorded on ctx). */
struct lt_storage *lt_storage_new(struct lt_ctx *ctx, size_t bytes);
void lt_storage_release(struct lt_storage *s);

/* Copies t's values to storage s at byte offset `offset` and makes t a view of them.
 * Cannot fail (the caller sized s). */
void lt_tensor_rebind(struct lt_tensor *t, struct lt_storage *s, size_t offset);

/* Checks a dtype and shape a caller passed; fails with LT_EINVAL naming `what`. */
enum lt_status lt_check_shape(struct lt_ctx *ctx, const char *what, enum lt_dtype dt, int ndim,
                              const int64_t *shape);

#endif
