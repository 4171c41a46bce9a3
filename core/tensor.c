/* Eager tensors: refcounted views (offset, dtype, shape) of refcounted storage. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/tensor.h"
#include "kernels/half.h"
#include "kernels/rng.h"

struct lt_storage *lt_storage_new(struct lt_ctx *ctx, size_t bytes) {
    struct lt_storage *s = lt_alloc(ctx, sizeof *s);
    if (!s)
        return NULL;
    s->data = lt_alloc_arena(ctx, bytes);
    if (!s->data) {
        free(s);
        return NULL;
    }
    s->refs = 1;
    s->bytes = bytes;
    s->mirror = NULL;
    return s;
}

void lt_storage_release(struct lt_storage *s) {
    if (s && --s->refs == 0) {
        free(s->data);
        free(s);
    }
}

enum lt_status lt_check_shape(struct lt_ctx *ctx, const char *what, enum lt_dtype dt, int ndim,
                              const int64_t *shape) {
    if ((unsigned)dt >= LT_DTYPE_COUNT)
        return lt_fail(ctx, LT_EINVAL, "%s: invalid dtype %d", what, (int)dt);
    if (ndim < 0 || ndim > LT_MAX_DIMS)
        return lt_fail(ctx, LT_EINVAL, "%s: %d dims; lutra supports 0 to %d", what, ndim,
                       LT_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return lt_fail(ctx, LT_EINVAL, "%s: dim %d is negative (%lld)", what, i,
                           (long long)shape[i]);
        if (shape[i] && n > INT64_MAX / 8 / shape[i])
            return lt_fail(ctx, LT_EINVAL, "%s: too many elements", what);
        n *= shape[i];
    }
    return LT_OK;
}

static int64_t numel_of(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    return n;
}

static struct lt_tensor *view_new(struct lt_ctx *ctx, struct lt_storage *s, size_t offset,
                                  enum lt_dtype dt, int ndim, const int64_t *shape) {
    struct lt_tensor *t = lt_alloc(ctx, sizeof *t);
    if (!t)
        return NULL;
    t->refs = 1;
    t->storage = s;
    s->refs++;
    t->offset = offset;
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim > 0)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    return t;
}

enum lt_status lt_tensor_new(struct lt_ctx *ctx, enum lt_dtype dt, int ndim,
                             const int64_t *shape, struct lt_tensor **out) {
    enum lt_status st = lt_check_shape(ctx, "tensor", dt, ndim, shape);
    if (st != LT_OK)
        return st;
    struct lt_storage *s = lt_storage_new(ctx, (size_t)numel_of(ndim, shape) * lt_dtype_bytes(dt));
    if (!s)
        return LT_ENOMEM;
    struct lt_tensor *t = view_new(ctx, s, 0, dt, ndim, shape);
    lt_storage_release(s);
    if (!t)
        return LT_ENOMEM;
    *out = t;
    return LT_OK;
}

struct lt_tensor *lt_tensor_retain(struct lt_tensor *t) {
    t->refs++;
    return t;
}

void lt_tensor_free(struct lt_tensor *t) {
    if (t && --t->refs == 0) {
        lt_storage_release(t->storage);
        free(t);
    }
}

enum lt_dtype lt_tensor_dtype(const struct lt_tensor *t) {
    return t->dtype;
}

int lt_tensor_ndim(const struct lt_tensor *t) {
    return t->ndim;
}

const int64_t *lt_tensor_shape(const struct lt_tensor *t) {
    return t->shape;
}

int64_t lt_tensor_numel(const struct lt_tensor *t) {
    return numel_of(t->ndim, t->shape);
}

void lt_storage_fetch(struct lt_storage *s) {
    struct lt_mirror *m = s->mirror;
    if (!m || !m->host_stale)
        return;
    char msg[LT_KMSG_SIZE] = "";
    if (m->be->dev.copy(m->be->impl, s->data, m->dev, s->bytes, LT_COPY_D2H, msg) != LT_OK) {
        fprintf(stderr, "lutra: reading tensors back from the device failed: %s\n", msg);
        return;
    }
    m->host_stale = 0;
}

enum lt_status lt_storage_push(struct lt_ctx *ctx, struct lt_storage *s) {
    struct lt_mirror *m = s->mirror;
    if (!m || !m->device_stale)
        return LT_OK;
    lt_storage_fetch(s);
    enum lt_status st = lt_mem_copy(ctx, m->be, m->dev, s->data, s->bytes, LT_COPY_H2D);
    if (st == LT_OK)
        m->device_stale = 0;
    return st;
}

void *lt_tensor_data(const struct lt_tensor *t) {
    struct lt_storage *s = t->storage;
    if (s->mirror) {
        lt_storage_fetch(s);
        s->mirror->device_stale = 1; /* the caller may write through the pointer */
    }
    return (char *)s->data + t->offset;
}

size_t lt_tensor_bytes(const struct lt_tensor *t) {
    return (size_t)lt_tensor_numel(t) * lt_dtype_bytes(t->dtype);
}

void lt_tensor_rebind(struct lt_tensor *t, struct lt_storage *s, size_t offset) {
    memcpy((char *)s->data + offset, lt_tensor_data(t), lt_tensor_bytes(t));
    s->refs++;
    lt_storage_release(t->storage);
    t->storage = s;
    t->offset = offset;
}

enum lt_status lt_tensor_reshape(struct lt_ctx *ctx, struct lt_tensor *t, int ndim,
                                 const int64_t *shape, struct lt_tensor **out) {
    if (ndim < 0 || ndim > LT_MAX_DIMS)
        return lt_fail(ctx, LT_EINVAL, "reshape: %d dims; lutra supports 0 to %d", ndim,
                       LT_MAX_DIMS);
    int64_t resolved[LT_MAX_DIMS], known = 1;
    int free_dim = -1;
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1 && free_dim < 0)
            free_dim = i;
        else if (shape[i] < 0)
            return lt_fail(ctx, LT_EINVAL, "reshape: dim %d is %lld", i, (long long)shape[i]);
        else
            known *= shape[i];
    }
    int64_t n = lt_tensor_numel(t);
    if (free_dim >= 0) {
        if (known == 0 || n % known)
            return lt_fail(ctx, LT_EINVAL, "reshape: cannot infer dim %d: %lld elements", free_dim,
                           (long long)n);
        resolved[free_dim] = n / known;
        known = n;
    }
    if (known != n)
        return lt_fail(ctx, LT_EINVAL, "reshape: %lld elements cannot take a shape of %lld",
                       (long long)n, (long long)known);
    struct lt_tensor *v = view_new(ctx, t->storage, t->offset, t->dtype, ndim, resolved);
    if (!v)
        return LT_ENOMEM;
    *out = v;
    return LT_OK;
}

enum lt_status lt_tensor_slice(struct lt_ctx *ctx, struct lt_tensor *t, int64_t start,
                               int64_t len, struct lt_tensor **out) {
    if (t->ndim < 1)
        return lt_fail(ctx, LT_EINVAL, "slice: a 0-dim tensor has no rows");
    if (start < 0 || len < 0 || start > t->shape[0] || len > t->shape[0] - start)
        return lt_fail(ctx, LT_EINVAL, "slice: rows [%lld, %lld) outside [0, %lld)",
                       (long long)start, (long long)(start + len), (long long)t->shape[0]);
    int64_t shape[LT_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = len;
    size_t row = (size_t)(lt_tensor_numel(t) / (t->shape[0] ? t->shape[0] : 1)) *
                 lt_dtype_bytes(t->dtype);
    struct lt_tensor *v =
        view_new(ctx, t->storage, t->offset + (size_t)start * row, t->dtype, t->ndim, shape);
    if (!v)
        return LT_ENOMEM;
    *out = v;
    return LT_OK;
}

double lt_tensor_get(const struct lt_tensor *t, int64_t i) {
    const void *d = lt_tensor_data(t);
    switch (t->dtype) {
    case LT_DTYPE_F32:
        return ((const float *)d)[i];
    case LT_DTYPE_F16:
        return lt_f16_to_f32(((const uint16_t *)d)[i]);
    case LT_DTYPE_BF16:
        return lt_bf16_to_f32(((const uint16_t *)d)[i]);
    case LT_DTYPE_I32:
        return ((const int32_t *)d)[i];
    case LT_DTYPE_U8:
        return ((const uint8_t *)d)[i];
    default:
        LT_ASSERT(!"invalid dtype");
    }
}

/* Integers saturate instead of overflowing (undefined behaviour in C). */
static double clampd(double v, double lo, double hi) {
    return isnan(v) ? 0 : v < lo ? lo : v > hi ? hi : v;
}

void lt_tensor_set(struct lt_tensor *t, int64_t i, double v) {
    void *d = lt_tensor_data(t);
    switch (t->dtype) {
    case LT_DTYPE_F32:
        ((float *)d)[i] = (float)v;
        break;
    case LT_DTYPE_F16:
        ((uint16_t *)d)[i] = lt_f32_to_f16((float)v);
        break;
    case LT_DTYPE_BF16:
        ((uint16_t *)d)[i] = lt_f32_to_bf16((float)v);
        break;
    case LT_DTYPE_I32:
        ((int32_t *)d)[i] = (int32_t)clampd(v, INT32_MIN, INT32_MAX);
        break;
    case LT_DTYPE_U8:
        ((uint8_t *)d)[i] = (uint8_t)clampd(v, 0, 255);
        break;
    default:
        LT_ASSERT(!"invalid dtype");
    }
}

void lt_tensor_fill(struct lt_tensor *t, double v) {
    for (int64_t i = 0; i < lt_tensor_numel(t); i++)
        lt_tensor_set(t, i, v);
}

enum lt_status lt_tensor_copy(struct lt_ctx *ctx, struct lt_tensor *dst,
                              const struct lt_tensor *src) {
    int64_t n = lt_tensor_numel(src);
    if (lt_tensor_numel(dst) != n)
        return lt_fail(ctx, LT_EINVAL, "copy: %lld elements into %lld", (long long)n,
                       (long long)lt_tensor_numel(dst));
    if (dst->dtype == src->dtype)
        memmove(lt_tensor_data(dst), lt_tensor_data(src), lt_tensor_bytes(src));
    else
        for (int64_t i = 0; i < n; i++)
            lt_tensor_set(dst, i, lt_tensor_get(src, i));
    return LT_OK;
}

enum lt_status lt_tensor_to(struct lt_ctx *ctx, const struct lt_tensor *t, enum lt_dtype dt,
                            struct lt_tensor **out) {
    struct lt_tensor *r;
    enum lt_status st = lt_tensor_new(ctx, dt, t->ndim, t->shape, &r);
    if (st != LT_OK)
        return st;
    lt_tensor_copy(ctx, r, t);
    *out = r;
    return LT_OK;
}

static enum lt_status want_float(struct lt_ctx *ctx, const struct lt_tensor *t,
                                 const char *what) {
    if (t->dtype == LT_DTYPE_F32 || t->dtype == LT_DTYPE_F16 || t->dtype == LT_DTYPE_BF16)
        return LT_OK;
    return lt_fail(ctx, LT_EINVAL, "%s: needs a float tensor, got %s", what,
                   lt_dtype_name(t->dtype));
}

enum lt_status lt_tensor_uniform(struct lt_ctx *ctx, struct lt_tensor *t, uint64_t stream,
                                 double lo, double hi) {
    enum lt_status st = want_float(ctx, t, "uniform");
    if (st != LT_OK)
        return st;
    uint64_t key = lt_rng_key(ctx->seed, stream, 0x756e69, 0);
    for (int64_t i = 0; i < lt_tensor_numel(t); i++)
        lt_tensor_set(t, i, lo + (hi - lo) * lt_rng_uniform(key, (uint64_t)i));
    return LT_OK;
}

enum lt_status lt_tensor_normal(struct lt_ctx *ctx, struct lt_tensor *t, uint64_t stream,
                                double mean, double std) {
    enum lt_status st = want_float(ctx, t, "normal");
    if (st != LT_OK)
        return st;
    uint64_t key = lt_rng_key(ctx->seed, stream, 0x6e6f72, 0);
    for (int64_t i = 0; i < lt_tensor_numel(t); i++) {
        /* Box-Muller on two uniforms of this element; 1 - u keeps log away from 0 */
        double u1 = 1.0 - lt_rng_uniform(key, 2 * (uint64_t)i);
        double u2 = lt_rng_uniform(key, 2 * (uint64_t)i + 1);
        double z = sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
        lt_tensor_set(t, i, mean + std * z);
    }
    return LT_OK;
}
