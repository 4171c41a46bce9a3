/* Tensors' insides: storage sharing and rebinding. Private to the core. */
#ifndef LT_TENSOR_H
#define LT_TENSOR_H

#include "core/lutra.h"

struct lt_storage {
    int refs;
    void *data;
    size_t bytes;
};

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
