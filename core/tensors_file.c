/* Tensors files: an in-memory data set read from a safetensors file (tensors "x" and
 * "y") or a NumPy pair (x.npy and y.npy), its task told by y's dtype (lutra.h's
 * lt_dataset_open_tensors). The checks are made here, naming the files, so that
 * lt_dataset_new, which builds the set, has nothing left to refuse. */
#include <stdio.h>
#include <string.h>

#include "core/data.h"
#include "core/fail.h"
#include "core/file_open.h"
#include "core/npy.h"

/* The two tensors and the files they came from (the same file for safetensors). */
struct pair {
    struct lt_tensor *x, *y; /* owned */
    char x_file[4096], y_file[4096];
};

/* Tensor `name` of f, retained; fails naming the tensors the file has. */
static enum lt_status take_tensor(struct lt_ctx *ctx, const char *path,
                                  const struct lt_safetensors *f, const char *name,
                                  struct lt_tensor **out) {
    int i = lt_safetensors_find(f, name);
    if (i >= 0) {
        *out = lt_tensor_retain(lt_safetensors_tensor(f, i));
        return LT_OK;
    }
    char have[512] = "";
    size_t n = 0;
    for (int k = 0; k < lt_safetensors_count(f) && n < sizeof have; k++)
        n += (size_t)snprintf(have + n, sizeof have - n, k ? ", %s" : "%s",
                              lt_safetensors_name(f, k));
    return lt_fail(ctx, LT_EINVAL, "%s: no tensor named '%s' (it has: %s)", path, name,
                   lt_safetensors_count(f) ? have : "no tensors");
}

static enum lt_status read_safetensors(struct lt_ctx *ctx, const char *path, struct pair *p) {
    struct lt_safetensors *f;
    enum lt_status st = lt_safetensors_load(ctx, path, &f);
    if (st != LT_OK)
        return st;
    st = take_tensor(ctx, path, f, "x", &p->x);
    if (st == LT_OK)
        st = take_tensor(ctx, path, f, "y", &p->y);
    lt_safetensors_free(f);
    snprintf(p->x_file, sizeof p->x_file, "%s", path);
    snprintf(p->y_file, sizeof p->y_file, "%s", path);
    return st;
}

/* y's file: x's with the last 'x' of its file name made 'y'. */
static enum lt_status read_npy_pair(struct lt_ctx *ctx, const char *path, struct pair *p) {
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *x = strrchr(base, 'x');
    if (!x)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: y's file is named after x's, with its last 'x' made 'y' (x.npy -> "
                       "y.npy), but this file name has no 'x'",
                       path);
    if (snprintf(p->y_file, sizeof p->y_file, "%s", path) >= (int)sizeof p->y_file)
        return lt_fail(ctx, LT_EINVAL, "%s: the path is too long", path);
    p->y_file[x - path] = 'y';
    snprintf(p->x_file, sizeof p->x_file, "%s", path);
    enum lt_status st = lt_npy_read(ctx, path, &p->x);
    if (st == LT_OK)
        st = lt_npy_read(ctx, p->y_file, &p->y);
    return st;
}

/* The task y's dtype tells: classes = max + 1 for integer class indices (N), 0 for a
 * float target. */
static enum lt_status task(struct lt_ctx *ctx, const struct pair *p, int *classes) {
    enum lt_dtype dt = lt_tensor_dtype(p->y);
    *classes = 0;
    if (dt != LT_DTYPE_U8 && dt != LT_DTYPE_I32)
        return LT_OK;
    if (lt_tensor_ndim(p->y) != 1)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: integer y must be class indices (N), but it has %d dims (a float y "
                       "is a regression target of any shape)",
                       p->y_file, lt_tensor_ndim(p->y));
    int64_t n = lt_tensor_numel(p->y), best = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = dt == LT_DTYPE_U8 ? ((const uint8_t *)lt_tensor_data(p->y))[i]
                                      : ((const int32_t *)lt_tensor_data(p->y))[i];
        if (v < 0)
            return lt_fail(ctx, LT_EINVAL, "%s: y[%lld] is %lld; a class index must be >= 0",
                           p->y_file, (long long)i, (long long)v);
        if (v > best)
            best = v;
    }
    if (best >= LT_MAX_CLASSES)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: class index %lld: a data set has at most %d classes (for "
                       "regression targets, store y as floats)",
                       p->y_file, (long long)best, LT_MAX_CLASSES);
    *classes = (int)best + 1;
    return LT_OK;
}

/* What lt_dataset_new would refuse, said with the files' names. */
static enum lt_status check_shapes(struct lt_ctx *ctx, const struct pair *p) {
    if (lt_tensor_ndim(p->x) < 1)
        return lt_fail(ctx, LT_EINVAL, "%s: x is a scalar; it must be (N, ...)", p->x_file);
    if (lt_tensor_ndim(p->y) < 1)
        return lt_fail(ctx, LT_EINVAL, "%s: y is a scalar; it must be (N, ...)", p->y_file);
    int64_t n = lt_tensor_shape(p->x)[0], ny = lt_tensor_shape(p->y)[0];
    if (n != ny && !strcmp(p->x_file, p->y_file))
        return lt_fail(ctx, LT_EINVAL, "%s: x has %lld samples but y has %lld", p->x_file,
                       (long long)n, (long long)ny);
    if (n != ny)
        return lt_fail(ctx, LT_EINVAL, "%s has %lld samples but %s has %lld", p->x_file,
                       (long long)n, p->y_file, (long long)ny);
    if (n == 0)
        return lt_fail(ctx, LT_EINVAL, "%s: x holds no samples", p->x_file);
    if (lt_tensor_numel(p->x) == 0)
        return lt_fail(ctx, LT_EINVAL, "%s: x's samples have no elements", p->x_file);
    return LT_OK;
}

enum lt_status lt_dataset_open_tensors(struct lt_ctx *ctx, const char *path,
                                       struct lt_dataset **out) {
    if (!path)
        return lt_fail(ctx, LT_EINVAL, "tensors: no file path given");
    struct pair p = {0};
    enum lt_status st;
    if (lt_ends_with(path, ".safetensors"))
        st = read_safetensors(ctx, path, &p);
    else if (lt_ends_with(path, ".npy"))
        st = read_npy_pair(ctx, path, &p);
    else
        st = lt_fail(ctx, LT_EINVAL,
                     "%s: a tensors file is a .safetensors file or x's .npy file of a pair", path);
    int classes = 0;
    if (st == LT_OK)
        st = check_shapes(ctx, &p);
    if (st == LT_OK)
        st = task(ctx, &p, &classes);
    struct lt_dataset *ds = NULL;
    if (st == LT_OK)
        st = lt_dataset_new(ctx, p.x, p.y, classes, &ds);
    lt_tensor_free(p.x);
    lt_tensor_free(p.y);
    if (st != LT_OK)
        return st;
    lt_dataset_set_origin(ds, "%s", path);
    *out = ds;
    return LT_OK;
}
