/* Data sets and loaders: Fashion-MNIST from its IDX files, and micro-batches made from a
 * data set with a counter-based shuffle, prepared on a background thread.
 *
 * The loader's thread and the caller share two batch slots under one mutex: the thread
 * fills a free slot while the caller uses the other, and a slot changes hands only
 * under the lock. The thread touches no reference count and no context (neither is
 * thread-safe): the views of a short batch are made once, up front, by the caller's
 * thread, and filling a batch cannot fail.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fail.h"
#include "core/mem.h"
#include "kernels/rng.h"

/* ---- data sets ------------------------------------------------------------------------ */

#define FMNIST_CLASSES 10
#define NAME_SIZE 12

static const char *const fmnist_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

struct lt_dataset {
    struct lt_tensor *images; /* u8 (N, H, W) or (N, C, H, W) */
    struct lt_tensor *labels; /* i32 (N) */
    int classes;
    const char *const *names; /* Fashion-MNIST's, or NULL: numbers */
    char (*numbers)[NAME_SIZE];
};

static void format_shape(char *buf, size_t size, const struct lt_tensor *t) {
    size_t n = (size_t)snprintf(buf, size, "%s (", lt_dtype_name(lt_tensor_dtype(t)));
    for (int i = 0; i < lt_tensor_ndim(t) && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld",
                              (long long)lt_tensor_shape(t)[i]);
    if (n < size)
        snprintf(buf + n, size - n, ")");
}

/* The checks of lt_dataset_new, with the names messages start with. */
static enum lt_status make_dataset(struct lt_ctx *ctx, const char *img_what, const char *lab_what,
                                   struct lt_tensor *images, struct lt_tensor *labels, int classes,
                                   struct lt_dataset **out) {
    char s[128];
    int nd = lt_tensor_ndim(images);
    if (lt_tensor_dtype(images) != LT_DTYPE_U8 || nd < 3 || nd > 4) {
        format_shape(s, sizeof s, images);
        return lt_fail(ctx, LT_EINVAL, "%s: images must be u8 (N, H, W) or (N, C, H, W), got %s",
                       img_what, s);
    }
    enum lt_dtype ldt = lt_tensor_dtype(labels);
    if ((ldt != LT_DTYPE_U8 && ldt != LT_DTYPE_I32) || lt_tensor_ndim(labels) != 1) {
        format_shape(s, sizeof s, labels);
        return lt_fail(ctx, LT_EINVAL, "%s: labels must be u8 or i32 (N), got %s", lab_what, s);
    }
    int64_t n = lt_tensor_shape(images)[0];
    if (lt_tensor_shape(labels)[0] != n)
        return lt_fail(ctx, LT_EINVAL, "%s has %lld images but %s has %lld labels", img_what,
                       (long long)n, lab_what, (long long)lt_tensor_shape(labels)[0]);
    if (classes < 1)
        return lt_fail(ctx, LT_EINVAL, "%s: classes must be at least 1, got %d", lab_what, classes);
    if (lt_tensor_numel(images) == 0 && n > 0)
        return lt_fail(ctx, LT_EINVAL, "%s: images have no pixels", img_what);

    struct lt_dataset *ds = lt_zalloc(ctx, sizeof *ds);
    if (!ds)
        return LT_ENOMEM;
    enum lt_status st = lt_tensor_to(ctx, labels, LT_DTYPE_I32, &ds->labels);
    if (st != LT_OK) {
        free(ds);
        return st;
    }
    const int32_t *lab = lt_tensor_data(ds->labels);
    for (int64_t i = 0; i < n; i++)
        if (lab[i] < 0 || lab[i] >= classes) {
            st = lt_fail(ctx, LT_EINVAL, "%s: label %lld is %d, outside [0, %d)", lab_what,
                         (long long)i, (int)lab[i], classes);
            lt_dataset_free(ds);
            return st;
        }
    ds->images = lt_tensor_retain(images);
    ds->classes = classes;
    *out = ds;
    return LT_OK;
}

enum lt_status lt_dataset_new(struct lt_ctx *ctx, struct lt_tensor *images,
                              struct lt_tensor *labels, int classes, struct lt_dataset **out) {
    struct lt_dataset *ds;
    enum lt_status st = make_dataset(ctx, "dataset", "dataset", images, labels, classes, &ds);
    if (st != LT_OK)
        return st;
    ds->numbers = lt_alloc(ctx, (size_t)classes * sizeof *ds->numbers);
    if (!ds->numbers) {
        lt_dataset_free(ds);
        return LT_ENOMEM;
    }
    for (int i = 0; i < classes; i++)
        snprintf(ds->numbers[i], NAME_SIZE, "%d", i);
    *out = ds;
    return LT_OK;
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
        format_shape(s, sizeof s, images);
        lt_tensor_free(images);
        return lt_fail(ctx, LT_EINVAL, "%s: Fashion-MNIST images must be (N, 28, 28), got %s",
                       img_path, s);
    }
    if ((st = lt_idx_read(ctx, lab_path, &labels)) != LT_OK) {
        lt_tensor_free(images);
        return st;
    }
    struct lt_dataset *ds;
    st = make_dataset(ctx, img_path, lab_path, images, labels, FMNIST_CLASSES, &ds);
    lt_tensor_free(images);
    lt_tensor_free(labels);
    if (st != LT_OK)
        return st;
    ds->names = fmnist_names;
    *out = ds;
    return LT_OK;
}

void lt_dataset_free(struct lt_dataset *ds) {
    if (!ds)
        return;
    lt_tensor_free(ds->images);
    lt_tensor_free(ds->labels);
    free(ds->numbers);
    free(ds);
}

int64_t lt_dataset_size(const struct lt_dataset *ds) {
    return lt_tensor_shape(ds->labels)[0];
}

int lt_dataset_classes(const struct lt_dataset *ds) {
    return ds->classes;
}

struct lt_tensor *lt_dataset_images(const struct lt_dataset *ds) {
    return ds->images;
}

struct lt_tensor *lt_dataset_labels(const struct lt_dataset *ds) {
    return ds->labels;
}

const char *lt_dataset_class_name(const struct lt_dataset *ds, int i) {
    if (i < 0 || i >= ds->classes)
        return NULL;
    return ds->names ? ds->names[i] : ds->numbers[i];
}

/* ---- loaders -------------------------------------------------------------------------- */

#define SHUFFLE_STREAM 0x73687566666c65ull /* "shuffle" */

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_HANDED };

struct slot {
    struct lt_tensor *x, *y;             /* full batches: (B, ...) */
    struct lt_tensor *x_short, *y_short; /* views of the short last batch, or NULL */
    float *xd;                           /* x's data */
    int32_t *yd;                         /* y's data */
    enum slot_state state;
    /* what the slot holds: written by the filler, read by the caller after the handover */
    uint32_t epoch;
    int64_t iter, size;
};

struct lt_loader {
    struct lt_ctx *ctx; /* for messages; used by the caller's thread only */
    struct lt_loader_config cfg;
    struct lt_tensor *images, *labels; /* references kept from the data set */
    const uint8_t *pixels;             /* (N, D) */
    const int32_t *lab;                /* (N) */
    int64_t n, d, batches, short_size; /* short_size: rows of a short last batch, or 0 */
    float lut[256];                    /* pixel -> normalised value */

    /* The filler's own (the thread, or the caller without one). */
    int64_t *order; /* (N) the permutation of order_epoch */
    uint32_t order_epoch;
    int order_valid;

    struct slot slots[2];

    /* The caller's own. */
    int head;       /* the slot lt_loader_next hands out next */
    uint32_t epoch; /* the position of that batch */
    int64_t iter;

    /* Shared with the thread, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int tail; /* the slot the thread fills next */
    uint32_t fill_epoch;
    int64_t fill_iter;
    int stop;
    int threaded; /* the thread runs */
    pthread_t thread;
};

struct lt_loader_config lt_loader_defaults(int64_t batch) {
    struct lt_loader_config c = {0};
    c.batch = batch;
    c.shuffle = 1;
    c.std = 1.0f;
    c.background = 1;
    return c;
}

static void advance(const struct lt_loader *ld, uint32_t *epoch, int64_t *iter) {
    if (++*iter == ld->batches) {
        *iter = 0;
        ++*epoch;
    }
}

static void make_order(struct lt_loader *ld, uint32_t epoch) {
    int64_t *o = ld->order;
    for (int64_t i = 0; i < ld->n; i++)
        o[i] = i;
    uint64_t key = lt_rng_key(ld->cfg.seed, SHUFFLE_STREAM, epoch, 0);
    for (int64_t i = ld->n - 1; i > 0; i--) {
        uint64_t j = lt_mix64(key + (uint64_t)i * 0x9e3779b97f4a7c15ull) % (uint64_t)(i + 1);
        int64_t tmp = o[i];
        o[i] = o[j];
        o[j] = tmp;
    }
    ld->order_epoch = epoch;
    ld->order_valid = 1;
}

/* Writes batch (epoch, iter) into slot s. Cannot fail. */
static void fill(struct lt_loader *ld, struct slot *s, uint32_t epoch, int64_t iter) {
    if (ld->cfg.shuffle && (!ld->order_valid || ld->order_epoch != epoch))
        make_order(ld, epoch);
    int64_t start = iter * ld->cfg.batch;
    int64_t size = ld->n - start < ld->cfg.batch ? ld->n - start : ld->cfg.batch;
    for (int64_t r = 0; r < size; r++) {
        int64_t i = ld->cfg.shuffle ? ld->order[start + r] : start + r;
        const uint8_t *src = ld->pixels + i * ld->d;
        float *dst = s->xd + r * ld->d;
        for (int64_t k = 0; k < ld->d; k++)
            dst[k] = ld->lut[src[k]];
        s->yd[r] = ld->lab[i];
    }
    s->epoch = epoch;
    s->iter = iter;
    s->size = size;
}

static void *worker(void *arg) {
    struct lt_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop && ld->slots[ld->tail].state != SLOT_FREE)
            pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->stop)
            break;
        struct slot *s = &ld->slots[ld->tail];
        uint32_t epoch = ld->fill_epoch;
        int64_t iter = ld->fill_iter;
        s->state = SLOT_FILLING;
        ld->tail ^= 1;
        advance(ld, &ld->fill_epoch, &ld->fill_iter);
        pthread_mutex_unlock(&ld->mu);
        fill(ld, s, epoch, iter);
        pthread_mutex_lock(&ld->mu);
        s->state = SLOT_READY;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

static void free_slots(struct lt_loader *ld) {
    for (int k = 0; k < 2; k++) {
        lt_tensor_free(ld->slots[k].x);
        lt_tensor_free(ld->slots[k].y);
        lt_tensor_free(ld->slots[k].x_short);
        lt_tensor_free(ld->slots[k].y_short);
    }
}

static enum lt_status make_slot(struct lt_ctx *ctx, struct lt_loader *ld, struct slot *s) {
    const int64_t *sh = lt_tensor_shape(ld->images);
    int nd = lt_tensor_ndim(ld->images);
    int64_t xs[4] = {ld->cfg.batch, 1, sh[nd - 2], sh[nd - 1]};
    if (nd == 4)
        xs[1] = sh[1];
    if (ld->cfg.flat)
        xs[1] = ld->d;
    enum lt_status st = lt_tensor_new(ctx, LT_DTYPE_F32, ld->cfg.flat ? 2 : 4, xs, &s->x);
    if (st == LT_OK)
        st = lt_tensor_new(ctx, LT_DTYPE_I32, 1, &ld->cfg.batch, &s->y);
    if (st == LT_OK && ld->short_size) {
        st = lt_tensor_slice(ctx, s->x, 0, ld->short_size, &s->x_short);
        if (st == LT_OK)
            st = lt_tensor_slice(ctx, s->y, 0, ld->short_size, &s->y_short);
    }
    if (st != LT_OK)
        return st;
    s->xd = lt_tensor_data(s->x);
    s->yd = lt_tensor_data(s->y);
    return LT_OK;
}

enum lt_status lt_loader_new(struct lt_ctx *ctx, const struct lt_dataset *ds,
                             const struct lt_loader_config *cfg, struct lt_loader **out) {
    int64_t n = lt_dataset_size(ds), b = cfg->batch;
    if (b < 1)
        return lt_fail(ctx, LT_EINVAL, "loader: batch must be at least 1, got %lld", (long long)b);
    if (!(cfg->std > 0) || !isfinite(cfg->std) || !isfinite(cfg->mean))
        return lt_fail(ctx, LT_EINVAL,
                       "loader: std must be finite and > 0 and mean finite, got "
                       "mean %g, std %g",
                       (double)cfg->mean, (double)cfg->std);
    int64_t batches = cfg->drop_last ? n / b : (n + b - 1) / b;
    if (batches == 0)
        return lt_fail(ctx, LT_EINVAL,
                       "loader: a data set of %lld samples gives no batch of %lld%s", (long long)n,
                       (long long)b, cfg->drop_last ? " with drop_last" : "");

    struct lt_loader *ld = lt_zalloc(ctx, sizeof *ld);
    if (!ld)
        return LT_ENOMEM;
    ld->ctx = ctx;
    ld->cfg = *cfg;
    ld->cfg.shuffle = cfg->shuffle != 0;
    ld->cfg.flat = cfg->flat != 0;
    ld->images = lt_tensor_retain(lt_dataset_images(ds));
    ld->labels = lt_tensor_retain(lt_dataset_labels(ds));
    ld->pixels = lt_tensor_data(ld->images);
    ld->lab = lt_tensor_data(ld->labels);
    ld->n = n;
    ld->d = lt_tensor_numel(ld->images) / (n ? n : 1);
    ld->batches = batches;
    ld->short_size = cfg->drop_last ? 0 : n % b;
    for (int v = 0; v < 256; v++)
        ld->lut[v] = ((float)v / 255.0f - cfg->mean) / cfg->std;

    enum lt_status st = LT_OK;
    if (ld->cfg.shuffle) {
        ld->order = lt_alloc(ctx, (size_t)n * sizeof *ld->order);
        if (!ld->order)
            st = LT_ENOMEM;
    }
    for (int k = 0; k < 2 && st == LT_OK; k++)
        st = make_slot(ctx, ld, &ld->slots[k]);
    if (st == LT_OK && cfg->background) {
        int e = pthread_mutex_init(&ld->mu, NULL);
        if (e == 0 && (e = pthread_cond_init(&ld->cv, NULL)) != 0)
            pthread_mutex_destroy(&ld->mu);
        if (e == 0 && (e = pthread_create(&ld->thread, NULL, worker, ld)) != 0) {
            pthread_cond_destroy(&ld->cv);
            pthread_mutex_destroy(&ld->mu);
        }
        if (e != 0)
            st = lt_fail(ctx, LT_ENOMEM, "loader: cannot start its thread: %s", strerror(e));
        else
            ld->threaded = 1;
    }
    if (st != LT_OK) {
        lt_loader_free(ld);
        return st;
    }
    *out = ld;
    return LT_OK;
}

void lt_loader_free(struct lt_loader *ld) {
    if (!ld)
        return;
    if (ld->threaded) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
        pthread_join(ld->thread, NULL);
        pthread_cond_destroy(&ld->cv);
        pthread_mutex_destroy(&ld->mu);
    }
    free_slots(ld);
    lt_tensor_free(ld->images);
    lt_tensor_free(ld->labels);
    free(ld->order);
    free(ld);
}

enum lt_status lt_loader_next(struct lt_loader *ld, struct lt_batch *b) {
    struct slot *s = &ld->slots[ld->head];
    if (ld->threaded) {
        pthread_mutex_lock(&ld->mu);
        struct slot *prev = &ld->slots[ld->head ^ 1];
        if (prev->state == SLOT_HANDED) { /* the caller is done with it: refill it */
            prev->state = SLOT_FREE;
            pthread_cond_broadcast(&ld->cv);
        }
        while (s->state != SLOT_READY)
            pthread_cond_wait(&ld->cv, &ld->mu);
        s->state = SLOT_HANDED;
        pthread_mutex_unlock(&ld->mu);
    } else {
        fill(ld, s, ld->epoch, ld->iter);
    }
    LT_ASSERT(s->epoch == ld->epoch && s->iter == ld->iter);
    int short_batch = s->size < ld->cfg.batch;
    b->x = short_batch ? s->x_short : s->x;
    b->y = short_batch ? s->y_short : s->y;
    b->epoch = s->epoch;
    b->iter = s->iter;
    b->sample_base = s->iter * ld->cfg.batch;
    b->size = s->size;
    b->last = s->iter == ld->batches - 1;
    ld->head ^= 1;
    advance(ld, &ld->epoch, &ld->iter);
    return LT_OK;
}

enum lt_status lt_loader_seek(struct lt_loader *ld, uint32_t epoch, int64_t iter) {
    if (iter < 0 || iter >= ld->batches)
        return lt_fail(ld->ctx, LT_EINVAL, "loader: batch %lld of an epoch outside [0, %lld)",
                       (long long)iter, (long long)ld->batches);
    if (ld->threaded) {
        pthread_mutex_lock(&ld->mu);
        /* let a batch in the making finish, then forget both slots */
        while (ld->slots[0].state == SLOT_FILLING || ld->slots[1].state == SLOT_FILLING)
            pthread_cond_wait(&ld->cv, &ld->mu);
        ld->slots[0].state = ld->slots[1].state = SLOT_FREE;
        ld->tail = 0;
        ld->fill_epoch = epoch;
        ld->fill_iter = iter;
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
    ld->head = 0;
    ld->epoch = epoch;
    ld->iter = iter;
    return LT_OK;
}

void lt_loader_position(const struct lt_loader *ld, uint32_t *epoch, int64_t *iter) {
    *epoch = ld->epoch;
    *iter = ld->iter;
}

int64_t lt_loader_batches(const struct lt_loader *ld) {
    return ld->batches;
}

size_t lt_loader_data_bytes(const struct lt_loader *ld) {
    return 2 * (lt_tensor_bytes(ld->slots[0].x) + lt_tensor_bytes(ld->slots[0].y));
}
