/* Data sets: stores and the views over them (core/data.h), the in-memory kind (tensors a
 * caller made, Fashion-MNIST from its IDX files), ranges and seeded splits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/data.h"
#include "core/fail.h"
#include "core/mem.h"
#include "kernels/rng.h"

#define FMNIST_CLASSES 10
#define SPLIT_STREAM 0x73706c6974ull /* "split" */

static const char *const fmnist_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

struct lt_dataset {
    struct lt_store *store;
    int64_t n;
    int64_t *map; /* sample i is store sample map[i]; NULL: the identity */
    char (*numbers)[12]; /* class names as numbers, for stores without names */
};

/* ---- stores ---------------------------------------------------------------------------- */

struct lt_store *lt_store_new(struct lt_ctx *ctx, const struct lt_store_ops *ops,
                              size_t kind_bytes) {
    struct lt_store *s = lt_zalloc(ctx, sizeof *s);
    if (!s)
        return NULL;
    if (kind_bytes && !(s->kind = lt_zalloc(ctx, kind_bytes))) {
        free(s);
        return NULL;
    }
    s->ops = ops;
    s->refs = 1;
    pthread_mutex_init(&s->read_mu, NULL);
    atomic_init(&s->skipped, 0);
    return s;
}

struct lt_store *lt_store_retain(struct lt_store *s) {
    s->refs++;
    return s;
}

void lt_store_release(struct lt_store *s) {
    if (!s || --s->refs > 0)
        return;
    if (s->ops->release)
        s->ops->release(s);
    if (s->names)
        for (int i = 0; i < s->classes; i++)
            free(s->names[i]);
    free(s->names);
    free((void *)s->bad);
    pthread_mutex_destroy(&s->read_mu);
    free(s->kind);
    free(s);
}

const char *lt_sample_shape_str(const struct lt_sample_shape *s, char *buf, size_t size) {
    size_t n = (size_t)snprintf(buf, size, "%s (", lt_dtype_name(s->dtype));
    for (int i = 0; i < s->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)s->shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, ")");
    return buf;
}

/* ---- data sets ------------------------------------------------------------------------- */

static struct lt_dataset *view(struct lt_ctx *ctx, struct lt_store *s, int64_t n) {
    struct lt_dataset *ds = lt_zalloc(ctx, sizeof *ds);
    if (!ds)
        return NULL;
    if (!s->names && !s->static_names && s->classes > 0) {
        ds->numbers = lt_alloc(ctx, (size_t)s->classes * sizeof *ds->numbers);
        if (!ds->numbers) {
            free(ds);
            return NULL;
        }
        for (int i = 0; i < s->classes; i++)
            snprintf(ds->numbers[i], sizeof ds->numbers[i], "%d", i);
    }
    ds->store = lt_store_retain(s);
    ds->n = n;
    return ds;
}

enum lt_status lt_dataset_wrap(struct lt_ctx *ctx, struct lt_store *s, struct lt_dataset **out) {
    struct lt_dataset *ds = view(ctx, s, s->n);
    lt_store_release(s); /* the view holds its own reference */
    if (!ds)
        return LT_ENOMEM;
    *out = ds;
    return LT_OK;
}

void lt_dataset_free(struct lt_dataset *ds) {
    if (!ds)
        return;
    lt_store_release(ds->store);
    free(ds->map);
    free(ds->numbers);
    free(ds);
}

struct lt_store *lt_dataset_store(const struct lt_dataset *ds) {
    return ds->store;
}

const int64_t *lt_dataset_map(const struct lt_dataset *ds) {
    return ds->map;
}

void lt_dataset_set_origin(struct lt_dataset *ds, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ds->store->origin, sizeof ds->store->origin, fmt, ap);
    va_end(ap);
}

void lt_permutation(uint64_t key, int64_t n, int64_t *out) {
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint64_t j = lt_mix64(key + (uint64_t)i * 0x9e3779b97f4a7c15ull) % (uint64_t)(i + 1);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}

/* A view of the samples idx[0 .. n-1] of ds (indices into ds). */
static enum lt_status subset(struct lt_ctx *ctx, const struct lt_dataset *ds, const int64_t *idx,
                             int64_t n, struct lt_dataset **out) {
    struct lt_dataset *v = view(ctx, ds->store, n);
    if (!v)
        return LT_ENOMEM;
    v->map = lt_alloc(ctx, (size_t)(n ? n : 1) * sizeof *v->map);
    if (!v->map) {
        lt_dataset_free(v);
        return LT_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        v->map[i] = ds->map ? ds->map[idx[i]] : idx[i];
    *out = v;
    return LT_OK;
}

enum lt_status lt_dataset_range(struct lt_ctx *ctx, const struct lt_dataset *ds, int64_t begin,
                                int64_t count, struct lt_dataset **out) {
    if (begin < 0 || count < 0 || begin > ds->n || count > ds->n - begin)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: samples [%lld, %lld) are outside the data set's %lld",
                       ds->store->origin, (long long)begin, (long long)(begin + count),
                       (long long)ds->n);
    int64_t *idx = lt_alloc(ctx, (size_t)(count ? count : 1) * sizeof *idx);
    if (!idx)
        return LT_ENOMEM;
    for (int64_t i = 0; i < count; i++)
        idx[i] = begin + i;
    enum lt_status st = subset(ctx, ds, idx, count, out);
    free(idx);
    return st;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

enum lt_status lt_dataset_split(struct lt_ctx *ctx, const struct lt_dataset *ds, int64_t first,
                                uint64_t seed, struct lt_dataset **a, struct lt_dataset **b) {
    int64_t n = ds->n;
    if (first < 0 || first > n)
        return lt_fail(ctx, LT_EINVAL, "%s: cannot split %lld samples off a data set of %lld",
                       ds->store->origin, (long long)first, (long long)n);
    int64_t *p = lt_alloc(ctx, (size_t)(n ? n : 1) * sizeof *p);
    if (!p)
        return LT_ENOMEM;
    lt_permutation(lt_rng_key(seed, SPLIT_STREAM, 0, 0), n, p);
    qsort(p, (size_t)first, sizeof *p, cmp_i64);
    qsort(p + first, (size_t)(n - first), sizeof *p, cmp_i64);
    enum lt_status st = subset(ctx, ds, p, first, a);
    if (st == LT_OK && (st = subset(ctx, ds, p + first, n - first, b)) != LT_OK) {
        lt_dataset_free(*a);
        *a = NULL;
    }
    free(p);
    return st;
}

int64_t lt_dataset_size(const struct lt_dataset *ds) {
    return ds->n;
}

int lt_dataset_classes(const struct lt_dataset *ds) {
    return ds->store->classes;
}

void lt_dataset_sample_shape(const struct lt_dataset *ds, struct lt_sample_shape *x,
                             struct lt_sample_shape *y) {
    if (x)
        *x = ds->store->x;
    if (y)
        *y = ds->store->y;
}

int lt_dataset_is_image(const struct lt_dataset *ds) {
    return ds->store->pixels && ds->store->x.ndim == 3;
}

const char *lt_dataset_class_name(const struct lt_dataset *ds, int i) {
    const struct lt_store *s = ds->store;
    if (i < 0 || i >= s->classes)
        return NULL;
    if (s->names)
        return s->names[i];
    return s->static_names ? s->static_names[i] : ds->numbers[i];
}

const char *lt_dataset_origin(const struct lt_dataset *ds) {
    return ds->store->origin;
}

int64_t lt_dataset_skipped(const struct lt_dataset *ds) {
    return atomic_load(&ds->store->skipped);
}

int64_t lt_dataset_max_id(const struct lt_dataset *ds, int64_t *where) {
    const struct lt_store *st = ds->store;
    int64_t w = -1, best = -1;
    if (st->ops->max_id && ds->n > 0)
        best = st->ops->max_id(st, ds->map, ds->n, &w);
    if (where)
        *where = w;
    return best;
}

/* ---- the in-memory kind ---------------------------------------------------------------- */

struct mem {
    struct lt_tensor *x; /* u8, f32 or i32 (N, ...) */
    struct lt_tensor *y; /* i32 (N) or f32 (N, ...) */
    int64_t x_elems, y_elems; /* per sample */
};

static int mem_image(struct lt_store *s, struct lt_worker *w, uint32_t epoch, int64_t i,
                     struct lt_image *img, void *y, char *msg, size_t size) {
    (void)w, (void)epoch, (void)msg, (void)size;
    const struct mem *m = s->kind;
    img->pixels = (const uint8_t *)lt_tensor_data(m->x) + i * m->x_elems;
    img->c = s->x.ndim == 3 ? (int)s->x.shape[0] : 1;
    img->h = s->x.ndim == 3 ? (int)s->x.shape[1] : 1;
    img->w = s->x.ndim == 3 ? (int)s->x.shape[2] : (int)m->x_elems;
    img->name = NULL;
    size_t yb = (size_t)m->y_elems * 4;
    memcpy(y, (const char *)lt_tensor_data(m->y) + (size_t)i * yb, yb);
    return 0;
}

static int mem_sample(struct lt_store *s, uint32_t epoch, int64_t i, void *x, void *y, char *msg,
                      size_t size) {
    (void)epoch, (void)msg, (void)size;
    const struct mem *m = s->kind;
    size_t xb = (size_t)m->x_elems * 4, yb = (size_t)m->y_elems * 4;
    memcpy(x, (const char *)lt_tensor_data(m->x) + (size_t)i * xb, xb);
    memcpy(y, (const char *)lt_tensor_data(m->y) + (size_t)i * yb, yb);
    return 0;
}

static int64_t mem_max_id(const struct lt_store *s, const int64_t *map, int64_t n,
                          int64_t *where) {
    const struct mem *m = s->kind;
    const int32_t *x = lt_tensor_data(m->x);
    int64_t best = -1, at = -1;
    for (int64_t r = 0; r < n; r++) {
        const int32_t *row = x + (map ? map[r] : r) * m->x_elems;
        for (int64_t e = 0; e < m->x_elems; e++)
            if (row[e] > best) {
                best = row[e];
                at = r * m->x_elems + e;
            }
    }
    *where = at;
    return best;
}

/* The lines of sample i's x, at most the first PREFETCH_BYTES: the hardware's own
 * prefetcher follows the rest of a longer one. */
#define PREFETCH_BYTES 4096
static void mem_prefetch(const struct lt_store *s, int64_t i) {
    const struct mem *m = s->kind;
    size_t bytes = (size_t)m->x_elems * lt_dtype_bytes(lt_tensor_dtype(m->x));
    const char *x = (const char *)lt_tensor_data(m->x) + (size_t)i * bytes;
    for (size_t k = 0; k < bytes && k < PREFETCH_BYTES; k += 64)
        __builtin_prefetch(x + k, 0, 3);
}

static void mem_release(struct lt_store *s) {
    struct mem *m = s->kind;
    lt_tensor_free(m->x);
    lt_tensor_free(m->y);
}

static const struct lt_store_ops mem_pixels = {
    .image = mem_image, .prefetch = mem_prefetch, .release = mem_release};
static const struct lt_store_ops mem_values = {
    .sample = mem_sample, .prefetch = mem_prefetch, .release = mem_release};
static const struct lt_store_ops mem_ids = {
    .sample = mem_sample, .max_id = mem_max_id, .prefetch = mem_prefetch, .release = mem_release};

static void tensor_str(const struct lt_tensor *t, char *buf, size_t size) {
    struct lt_sample_shape s = {.dtype = lt_tensor_dtype(t), .ndim = lt_tensor_ndim(t)};
    memcpy(s.shape, lt_tensor_shape(t), (size_t)s.ndim * sizeof s.shape[0]);
    lt_sample_shape_str(&s, buf, size);
}

static int is_float(enum lt_dtype dt) {
    return dt == LT_DTYPE_F32 || dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
}

/* The checks of lt_dataset_new, with the names its messages start with. */
static enum lt_status make_mem(struct lt_ctx *ctx, const char *x_what, const char *y_what,
                               struct lt_tensor *x, struct lt_tensor *y, int classes,
                               struct lt_dataset **out) {
    char s[160];
    enum lt_dtype xdt = lt_tensor_dtype(x), ydt = lt_tensor_dtype(y);
    int nd = lt_tensor_ndim(x);
    if (nd < 1 || !(xdt == LT_DTYPE_U8 || xdt == LT_DTYPE_I32 || is_float(xdt))) {
        tensor_str(x, s, sizeof s);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: x must be u8, f32, f16, bf16 or i32 (N, ...), got %s", x_what, s);
    }
    if (classes < 0 || classes > LT_MAX_CLASSES)
        return lt_fail(ctx, LT_EINVAL, "%s: classes must be in [0, %d], got %d", y_what,
                       LT_MAX_CLASSES, classes);
    if (classes > 0 && ((ydt != LT_DTYPE_U8 && ydt != LT_DTYPE_I32) || lt_tensor_ndim(y) != 1)) {
        tensor_str(y, s, sizeof s);
        return lt_fail(ctx, LT_EINVAL, "%s: labels must be u8 or i32 (N), got %s", y_what, s);
    }
    if (classes == 0 && (!is_float(ydt) || lt_tensor_ndim(y) < 1)) {
        tensor_str(y, s, sizeof s);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: a regression target (classes 0) must be f32, f16 or bf16 (N, ...), "
                       "got %s",
                       y_what, s);
    }
    if (xdt == LT_DTYPE_U8 && nd == 4 &&
        (lt_tensor_shape(x)[1] < 1 || lt_tensor_shape(x)[1] > LT_MAX_CHANNELS)) {
        tensor_str(x, s, sizeof s);
        return lt_fail(ctx, LT_EINVAL, "%s: images (N, C, H, W) have 1 to %d channels, got %s",
                       x_what, LT_MAX_CHANNELS, s);
    }
    int64_t n = lt_tensor_shape(x)[0];
    if (lt_tensor_shape(y)[0] != n)
        return lt_fail(ctx, LT_EINVAL, "%s has %lld samples but %s has %lld targets", x_what,
                       (long long)n, y_what, (long long)lt_tensor_shape(y)[0]);
    int64_t x_elems = n ? lt_tensor_numel(x) / n : 0;
    if (x_elems == 0 && n > 0)
        return lt_fail(ctx, LT_EINVAL, "%s: samples have no elements", x_what);

    enum lt_dtype keep = xdt == LT_DTYPE_U8 || xdt == LT_DTYPE_I32 ? xdt : LT_DTYPE_F32;
    const struct lt_store_ops *ops =
        keep == LT_DTYPE_U8 ? &mem_pixels : keep == LT_DTYPE_I32 ? &mem_ids : &mem_values;
    struct lt_store *st = lt_store_new(ctx, ops, sizeof(struct mem));
    if (!st)
        return LT_ENOMEM;
    struct mem *m = st->kind;
    enum lt_status rc = lt_tensor_to(ctx, y, classes ? LT_DTYPE_I32 : LT_DTYPE_F32, &m->y);
    if (rc == LT_OK) {
        if (keep == xdt)
            m->x = lt_tensor_retain(x);
        else
            rc = lt_tensor_to(ctx, x, keep, &m->x);
    }
    if (rc != LT_OK) {
        lt_store_release(st);
        return rc;
    }
    if (classes) {
        const int32_t *lab = lt_tensor_data(m->y);
        for (int64_t i = 0; i < n; i++)
            if (lab[i] < 0 || lab[i] >= classes) {
                rc = lt_fail(ctx, LT_EINVAL, "%s: label %lld is %d, outside [0, %d)", y_what,
                             (long long)i, (int)lab[i], classes);
                lt_store_release(st);
                return rc;
            }
    }
    m->x_elems = x_elems;
    m->y_elems = n ? lt_tensor_numel(m->y) / n : 1;
    st->n = n;
    st->classes = classes;
    st->pixels = keep == LT_DTYPE_U8;
    st->x.dtype = keep;
    /* images (N, H, W) hold one channel: (1, H, W) per sample */
    st->x.ndim = nd == 3 && keep == LT_DTYPE_U8 ? 3 : nd - 1;
    if (nd == 3 && keep == LT_DTYPE_U8) {
        st->x.shape[0] = 1;
        st->x.shape[1] = lt_tensor_shape(x)[1];
        st->x.shape[2] = lt_tensor_shape(x)[2];
    } else {
        for (int i = 1; i < nd; i++)
            st->x.shape[i - 1] = lt_tensor_shape(x)[i];
    }
    st->same_size = 1;
    st->y.dtype = classes ? LT_DTYPE_I32 : LT_DTYPE_F32;
    st->y.ndim = classes ? 0 : lt_tensor_ndim(y) - 1;
    for (int i = 1; i < lt_tensor_ndim(y) && !classes; i++)
        st->y.shape[i - 1] = lt_tensor_shape(y)[i];
    snprintf(st->origin, sizeof st->origin, "%s", x_what);
    return lt_dataset_wrap(ctx, st, out);
}

enum lt_status lt_dataset_new(struct lt_ctx *ctx, struct lt_tensor *x, struct lt_tensor *y,
                              int classes, struct lt_dataset **out) {
    return make_mem(ctx, "dataset", "dataset", x, y, classes, out);
}

/* <dir>/<stem>.gz, else <dir>/<stem> */
static enum lt_status find_file(struct lt_ctx *ctx, const char *dir, const char *stem,
                                const char *what, char *path, size_t size) {
    struct stat sb;
    snprintf(path, size, "%s/%s.gz", dir, stem);
    if (stat(path, &sb) == 0)
        return LT_OK;
    snprintf(path, size, "%s/%s", dir, stem);
    if (stat(path, &sb) == 0)
        return LT_OK;
    return lt_fail(ctx, LT_EIO,
                   "no Fashion-MNIST %s in %s: neither %s.gz nor %s is there (install the "
                   "dataset-fashion-mnist package, or give the directory that holds them)",
                   what, dir, stem, stem);
}

enum lt_status lt_dataset_open_fmnist(struct lt_ctx *ctx, const char *dir, const char *split,
                                      struct lt_dataset **out) {
    const char *prefix;
    if (split && !strcmp(split, "train"))
        prefix = "train";
    else if (split && !strcmp(split, "test"))
        prefix = "t10k";
    else
        return lt_fail(ctx, LT_EINVAL, "Fashion-MNIST split must be 'train' or 'test', got '%s'",
                       split ? split : "(null)");
    if (!dir || !*dir)
        dir = LT_FMNIST_DIR;

    char img_path[4096], lab_path[4096], stem[64];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    enum lt_status st = find_file(ctx, dir, stem, "images", img_path, sizeof img_path);
    if (st != LT_OK)
        return st;
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    if ((st = find_file(ctx, dir, stem, "labels", lab_path, sizeof lab_path)) != LT_OK)
        return st;

    struct lt_tensor *images = NULL, *labels = NULL;
    if ((st = lt_idx_read(ctx, img_path, &images)) != LT_OK)
        return st;
    const int64_t *sh = lt_tensor_shape(images);
    if (lt_tensor_ndim(images) != 3 || sh[1] != 28 || sh[2] != 28) {
        char s[128];
        tensor_str(images, s, sizeof s);
        lt_tensor_free(images);
        return lt_fail(ctx, LT_EINVAL, "%s: Fashion-MNIST images must be (N, 28, 28), got %s",
                       img_path, s);
    }
    if ((st = lt_idx_read(ctx, lab_path, &labels)) != LT_OK) {
        lt_tensor_free(images);
        return st;
    }
    struct lt_dataset *ds;
    st = make_mem(ctx, img_path, lab_path, images, labels, FMNIST_CLASSES, &ds);
    lt_tensor_free(images);
    lt_tensor_free(labels);
    if (st != LT_OK)
        return st;
    ds->store->static_names = fmnist_names;
    free(ds->numbers);
    ds->numbers = NULL;
    lt_dataset_set_origin(ds, "%s", dir);
    *out = ds;
    return LT_OK;
}
