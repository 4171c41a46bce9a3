/* Loaders: micro-batches of a data set in a counter-based shuffled order, augmented and
 * normalised, made ahead by worker threads (lutra.h's lt_loader_config).
 *
 * Batches are numbered by a sequence from the last seek; batch `seq` lives in slot
 * seq mod S of a ring of S = workers + 1 batch buffers. A worker claims the next
 * sequence number whose slot is free, fills it outside the lock, and marks it ready; the
 * caller takes slots in sequence order. What a batch holds depends only on (seed, epoch,
 * iter), never on which thread made it or when. The threads touch no reference count
 * and no context (neither is thread-safe): tensors are made up front on the caller's
 * thread, and a failure is written into the slot as text, for the caller to report. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/transform.h"
#include "kernels/rng.h"

#define SHUFFLE_STREAM 0x73687566666c65ull /* "shuffle" */
#define AUGMENT_STREAM 0x6175676d656e74ull /* "augment" */
#define MAX_WORKERS 64
#define MSG_SIZE 1024

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_FAILED, SLOT_HANDED };

struct slot {
    struct lt_tensor *x, *y;             /* full batches */
    struct lt_tensor *x_short, *y_short; /* views of the short last batch, or NULL */
    enum slot_state state;
    int64_t seq;
    enum lt_status status;               /* SLOT_FAILED: what to report */
    char msg[MSG_SIZE];
};

/* One filler's own: the caller's when there are no workers. */
struct filler {
    struct lt_loader *ld;
    pthread_t thread;
    struct lt_worker w;
    int64_t *order; /* the permutation of order_epoch */
    uint32_t order_epoch;
    int order_valid;
    void *scratch; /* the transform's */
    size_t scratch_cap;
    int64_t *idx;  /* a batch's store indices (host sources) */
};

struct lt_loader {
    struct lt_ctx *ctx; /* for messages; the caller's thread only */
    struct lt_loader_config cfg;
    struct lt_store *store;
    int64_t *map;       /* data set sample -> store sample; NULL: the identity */
    int64_t n, batches;
    int64_t global;     /* samples of one batch over every shard: batch × shards */
    int has_short;      /* the epoch ends in a short batch */
    int64_t short_size; /* this shard's rows of it (0 when its slice is empty) */
    struct lt_transform t;
    struct lt_norm norm; /* t's normalisation, made once */
    int pixels;         /* x goes through the transform (u8 stores) */
    int c, oh, ow;      /* the transform's output */
    size_t x_row, y_row; /* bytes of one sample in the batch */

    int n_slots, n_fillers;
    struct slot *slots;
    struct filler *fillers;

    /* The caller's own. */
    uint32_t base_epoch; /* the position of sequence 0 */
    int64_t base_iter;
    int64_t head;        /* the sequence lt_loader_next hands out next */

    /* Shared with the threads, under mu. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int64_t tail;        /* the next sequence to claim */
    int64_t limit;       /* claims stop before this: head + n_slots */
    int stop;
    int threads;         /* threads started */
};

struct lt_loader_config lt_loader_defaults(int64_t batch) {
    struct lt_loader_config c = {0};
    c.batch = batch;
    c.shuffle = 1;
    c.n_norm = 1;
    c.std[0] = 1.0f;
    c.workers = 1;
    return c;
}

/* ---- shapes ----------------------------------------------------------------------------- */

static int augments(const struct lt_loader_config *c) {
    return c->resize_h > 0 || c->resize_w > 0 || c->crop_h > 0 || c->crop_w > 0 || c->hflip ||
           c->crop_padding > 0 || c->random_crop;
}

static void make_transform(const struct lt_loader_config *c, int channels, struct lt_transform *t) {
    memset(t, 0, sizeof *t);
    t->resize_h = c->resize_h;
    t->resize_w = c->resize_w;
    t->crop_h = c->crop_h;
    t->crop_w = c->crop_w;
    t->crop_padding = c->crop_padding;
    t->random_crop = c->random_crop;
    t->hflip = c->hflip;
    for (int k = 0; k < LT_MAX_CHANNELS; k++) {
        int j = c->n_norm == 1 || k >= channels ? 0 : k;
        t->mean[k] = c->mean[j];
        t->std[k] = c->std[j];
    }
}

static enum lt_status check_config(struct lt_ctx *ctx, const struct lt_dataset *ds,
                                   const struct lt_loader_config *c, struct lt_transform *t,
                                   int *ch, int *oh, int *ow) {
    const struct lt_store *s = lt_dataset_store(ds);
    const char *origin = lt_dataset_origin(ds);
    if (c->batch < 1)
        return lt_fail(ctx, LT_EINVAL, "loader: batch must be at least 1, got %lld",
                       (long long)c->batch);
    if (c->shards < 0 || c->shards > 4096 || c->shard < 0 || c->shard >= (c->shards ? c->shards : 1))
        return lt_fail(ctx, LT_EINVAL, "loader: shard %d of %d: shards must be in [1, 4096] "
                       "and the shard in [0, shards)", c->shard, c->shards);
    if (c->workers < 0 || c->workers > MAX_WORKERS)
        return lt_fail(ctx, LT_EINVAL, "loader: workers must be in [0, %d], got %d", MAX_WORKERS,
                       c->workers);
    if (c->n_norm < 1 || c->n_norm > LT_MAX_CHANNELS)
        return lt_fail(ctx, LT_EINVAL, "loader: between 1 and %d mean/std values, got %d",
                       LT_MAX_CHANNELS, c->n_norm);
    for (int k = 0; k < c->n_norm; k++)
        if (!(c->std[k] > 0) || !isfinite(c->std[k]) || !isfinite(c->mean[k]))
            return lt_fail(ctx, LT_EINVAL,
                           "loader: std must be finite and > 0 and mean finite, got "
                           "mean %g, std %g",
                           (double)c->mean[k], (double)c->std[k]);
    int image = s->pixels && s->x.ndim == 3;
    if (!image && (augments(c) || c->n_norm > 1))
        return lt_fail(ctx, LT_EINVAL,
                       "%s: resize, crop, flip and per-channel mean/std need an image data set "
                       "(x u8 (C, H, W)); its samples are %s",
                       origin, lt_dataset_is_image(ds) ? "images" : lt_dtype_name(s->x.dtype));
    if (image && (s->x.shape[0] < 1 || s->x.shape[0] > LT_MAX_CHANNELS))
        return lt_fail(ctx, LT_EINVAL, "%s: images of 1 to %d channels, got %lld", origin,
                       LT_MAX_CHANNELS, (long long)s->x.shape[0]);
    *ch = image ? (int)s->x.shape[0] : 1;
    if (image && c->n_norm > 1 && c->n_norm != *ch)
        return lt_fail(ctx, LT_EINVAL, "%s: %d mean/std values for images of %d channel%s",
                       origin, c->n_norm, *ch, *ch == 1 ? "" : "s");
    make_transform(c, *ch, t);
    if (!s->pixels)
        return LT_OK;
    if (image && !s->same_size && !(c->resize_h > 0 || c->crop_h > 0))
        return lt_fail(ctx, LT_EINVAL,
                       "%s: the images differ in size; a resize or a crop must make them equal",
                       origin);
    char msg[256];
    int h = image ? (int)s->x.shape[1] : 1;
    int64_t w = image ? s->x.shape[2] : 1; /* other pixels: one row of every value */
    for (int i = 0; !image && i < s->x.ndim; i++)
        w *= s->x.shape[i];
    if (w > INT_MAX)
        return lt_fail(ctx, LT_EINVAL, "%s: %lld u8 values a sample is too many", origin,
                       (long long)w);
    if (lt_transform_out_size(t, h, (int)w, oh, ow, msg, sizeof msg) != 0)
        return lt_fail(ctx, LT_EINVAL, "%s: %s", origin, msg);
    return LT_OK;
}

/* The batch's x shape for `rows` rows. */
static void x_shape(const struct lt_store *s, const struct lt_loader_config *c, int ch, int oh,
                    int ow, int64_t rows, struct lt_sample_shape *x) {
    memset(x, 0, sizeof *x);
    x->shape[0] = rows;
    /* pixels come out as f32; other samples in the dtype the store hands out */
    x->dtype = s->pixels ? LT_DTYPE_F32 : s->x.dtype;
    if (s->pixels && s->x.ndim == 3) {
        x->ndim = 4;
        x->shape[1] = ch;
        x->shape[2] = oh;
        x->shape[3] = ow;
    } else {
        x->ndim = s->x.ndim + 1;
        memcpy(x->shape + 1, s->x.shape, (size_t)s->x.ndim * sizeof x->shape[0]);
    }
    if (c->flat && x->ndim > 2) {
        int64_t e = 1;
        for (int i = 1; i < x->ndim; i++)
            e *= x->shape[i];
        x->ndim = 2;
        x->shape[1] = e;
    }
}

enum lt_status lt_loader_x_shape(struct lt_ctx *ctx, const struct lt_dataset *ds,
                                 const struct lt_loader_config *cfg, int64_t batch,
                                 struct lt_sample_shape *x) {
    struct lt_transform t;
    int ch, oh = 0, ow = 0;
    enum lt_status st = check_config(ctx, ds, cfg, &t, &ch, &oh, &ow);
    if (st == LT_OK)
        x_shape(lt_dataset_store(ds), cfg, ch, oh, ow, batch, x);
    return st;
}

/* ---- filling a batch --------------------------------------------------------------------- */

static void batch_position(const struct lt_loader *ld, int64_t seq, uint32_t *epoch,
                           int64_t *iter) {
    int64_t k = ld->base_iter + seq;
    *epoch = ld->base_epoch + (uint32_t)(k / ld->batches);
    *iter = k % ld->batches;
}

/* Batch iter's rows for this shard: its slice of the epoch's global batch (rows
 * [iter × global, ...) of the order), cut evenly among the shards, so that a short last
 * batch leaves some shards one row more and, with fewer rows than shards, some none. */
static void batch_rows(const struct lt_loader *ld, int64_t iter, int64_t *start, int64_t *size) {
    int64_t shards = ld->cfg.shards ? ld->cfg.shards : 1, shard = ld->cfg.shard;
    int64_t first = iter * ld->global;
    int64_t rows = ld->n - first < ld->global ? ld->n - first : ld->global;
    int64_t lo = first + shard * rows / shards, hi = first + (shard + 1) * rows / shards;
    *start = lo;
    *size = hi - lo;
}

static void make_order(struct filler *f, uint32_t epoch) {
    const struct lt_loader *ld = f->ld;
    lt_permutation(lt_rng_key(ld->cfg.seed, SHUFFLE_STREAM, epoch, 0), ld->n, f->order);
    f->order_epoch = epoch;
    f->order_valid = 1;
}

/* The data set index at position p of the epoch's order. */
static int64_t at(const struct filler *f, int64_t p) {
    return f->ld->cfg.shuffle ? f->order[p] : p;
}

static int64_t store_index(const struct lt_loader *ld, int64_t i) {
    return ld->map ? ld->map[i] : i;
}

static int fail_msg(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_msg(char *msg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, MSG_SIZE, fmt, ap);
    va_end(ap);
    return -1;
}

/* Row r of an image batch from the sample at position p of the epoch, or with
 * LT_BAD_FILE_SKIP from the next one that decodes. */
static int fill_pixels(struct filler *f, uint32_t epoch, int64_t p, float *x, void *y,
                       char *msg) {
    struct lt_loader *ld = f->ld;
    struct lt_store *s = ld->store;
    for (int64_t tries = 0; tries < ld->n; tries++, p = (p + 1) % ld->n) {
        int64_t i = at(f, p), si = store_index(ld, i);
        /* a file known bad is passed over only by a loader that skips: others name it */
        if (ld->cfg.on_bad_file == LT_BAD_FILE_SKIP && s->bad && atomic_load(&s->bad[si]))
            continue;
        struct lt_image img;
        int rc;
        if (s->serial && !s->caller_thread)
            pthread_mutex_lock(&s->read_mu);
        rc = s->ops->image(s, &f->w, epoch, si, &img, y, msg, MSG_SIZE);
        if (s->serial && !s->caller_thread)
            pthread_mutex_unlock(&s->read_mu);
        if (rc != 0) {
            if (ld->cfg.on_bad_file != LT_BAD_FILE_SKIP || !s->bad)
                return -1;
            if (!atomic_exchange(&s->bad[si], 1))
                atomic_fetch_add(&s->skipped, 1);
            continue;
        }
        int oh, ow;
        char why[256];
        if (img.c != ld->c ||
            lt_transform_out_size(&ld->t, img.h, img.w, &oh, &ow, why, sizeof why) != 0 ||
            oh != ld->oh || ow != ld->ow)
        {
            char sample[64];
            snprintf(sample, sizeof sample, "sample %lld", (long long)si);
            return fail_msg(msg, "%s: %s is %d × %d × %d (C × H × W), which does not give the "
                                 "batch's %d × %d × %d",
                            img.name ? img.name : s->origin, img.name ? "the image" : sample,
                            img.c, img.h, img.w, ld->c, ld->oh, ld->ow);
        }
        size_t need = lt_transform_scratch_bytes(&ld->t, img.c, img.h, img.w);
        if (need > f->scratch_cap) {
            void *p2 = realloc(f->scratch, need);
            if (!p2)
                return fail_msg(msg, "%s: out of memory augmenting an image", s->origin);
            f->scratch = p2;
            f->scratch_cap = need;
        }
        uint64_t key = lt_rng_key(ld->cfg.seed, AUGMENT_STREAM, epoch, (uint64_t)i);
        lt_transform_apply(&ld->t, &ld->norm, img.pixels, img.c, img.h, img.w, key, f->scratch,
                           x);
        return 0;
    }
    return fail_msg(msg, "%s: no sample of the epoch could be decoded", s->origin);
}

/* How many samples ahead of the one being made a batch's fill asks its store to bring
 * into the cache: enough for the memory's latency to pass while the ones between are
 * normalised (a 784-pixel sample takes about as long as a miss). */
#define PREFETCH_AHEAD 4

/* Asks the store to prefetch the sample at position p of the epoch, when p is before
 * `end` (the batch's end) and the store can. */
static void prefetch(const struct filler *f, int64_t p, int64_t end) {
    const struct lt_store *s = f->ld->store;
    if (p < end && s->ops->prefetch)
        s->ops->prefetch(s, store_index(f->ld, at(f, p)));
}

/* Writes batch `seq` into slot s; on failure, its status and message. */
static void fill(struct filler *f, struct slot *sl, int64_t seq) {
    struct lt_loader *ld = f->ld;
    struct lt_store *s = ld->store;
    uint32_t epoch;
    int64_t iter;
    batch_position(ld, seq, &epoch, &iter);
    if (ld->cfg.shuffle && (!f->order_valid || f->order_epoch != epoch))
        make_order(f, epoch);
    int64_t start, size;
    batch_rows(ld, iter, &start, &size);
    char *x = lt_tensor_data(sl->x), *y = lt_tensor_data(sl->y);
    int rc = 0;
    if (s->pixels) {
        for (int64_t r = 0; r < size && rc == 0; r++) {
            prefetch(f, start + r + PREFETCH_AHEAD, start + size);
            rc = fill_pixels(f, epoch, start + r, (float *)(x + (size_t)r * ld->x_row),
                             y + (size_t)r * ld->y_row, sl->msg);
        }
    } else if (s->ops->batch) {
        for (int64_t r = 0; r < size; r++)
            f->idx[r] = store_index(ld, at(f, start + r));
        if (s->serial && !s->caller_thread)
            pthread_mutex_lock(&s->read_mu);
        rc = s->ops->batch(s, epoch, f->idx, size, x, y, sl->msg, MSG_SIZE);
        if (s->serial && !s->caller_thread)
            pthread_mutex_unlock(&s->read_mu);
    } else {
        for (int64_t r = 0; r < size && rc == 0; r++) {
            prefetch(f, start + r + PREFETCH_AHEAD, start + size);
            rc = s->ops->sample(s, epoch, store_index(ld, at(f, start + r)),
                                x + (size_t)r * ld->x_row, y + (size_t)r * ld->y_row, sl->msg,
                                MSG_SIZE);
        }
    }
    sl->seq = seq;
    sl->status = rc == 0 ? LT_OK : LT_EINVAL;
}

static void *worker(void *arg) {
    struct filler *f = arg;
    struct lt_loader *ld = f->ld;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop && (ld->tail >= ld->limit ||
                             ld->slots[ld->tail % ld->n_slots].state != SLOT_FREE))
            pthread_cond_wait(&ld->cv, &ld->mu);
        if (ld->stop)
            break;
        int64_t seq = ld->tail++;
        struct slot *sl = &ld->slots[seq % ld->n_slots];
        sl->state = SLOT_FILLING;
        pthread_mutex_unlock(&ld->mu);
        fill(f, sl, seq);
        pthread_mutex_lock(&ld->mu);
        sl->state = sl->status == LT_OK ? SLOT_READY : SLOT_FAILED;
        pthread_cond_broadcast(&ld->cv);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* ---- the loader ---------------------------------------------------------------------------- */

static enum lt_status make_slot(struct lt_ctx *ctx, struct lt_loader *ld, struct slot *sl,
                                const struct lt_sample_shape *xs) {
    const struct lt_store *s = ld->store;
    int64_t ys[LT_MAX_DIMS + 1] = {ld->cfg.batch};
    memcpy(ys + 1, s->y.shape, (size_t)s->y.ndim * sizeof ys[0]);
    enum lt_status st = lt_tensor_new(ctx, xs->dtype, xs->ndim, xs->shape, &sl->x);
    if (st == LT_OK)
        st = lt_tensor_new(ctx, s->y.dtype, s->y.ndim + 1, ys, &sl->y);
    if (st == LT_OK && ld->has_short) {
        st = lt_tensor_slice(ctx, sl->x, 0, ld->short_size, &sl->x_short);
        if (st == LT_OK)
            st = lt_tensor_slice(ctx, sl->y, 0, ld->short_size, &sl->y_short);
    }
    return st;
}

static void stop_threads(struct lt_loader *ld) {
    if (!ld->threads)
        return;
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->cv);
    pthread_mutex_unlock(&ld->mu);
    for (int k = 0; k < ld->threads; k++)
        pthread_join(ld->fillers[k].thread, NULL);
    ld->threads = 0;
}

void lt_loader_free(struct lt_loader *ld) {
    if (!ld)
        return;
    stop_threads(ld);
    if (ld->slots)
        for (int k = 0; k < ld->n_slots; k++) {
            lt_tensor_free(ld->slots[k].x);
            lt_tensor_free(ld->slots[k].y);
            lt_tensor_free(ld->slots[k].x_short);
            lt_tensor_free(ld->slots[k].y_short);
        }
    if (ld->fillers)
        for (int k = 0; k < ld->n_fillers; k++) {
            lt_png_image_free(&ld->fillers[k].w.png);
            free(ld->fillers[k].order);
            free(ld->fillers[k].scratch);
            free(ld->fillers[k].idx);
        }
    pthread_cond_destroy(&ld->cv);
    pthread_mutex_destroy(&ld->mu);
    lt_store_release(ld->store);
    free(ld->map);
    free(ld->slots);
    free(ld->fillers);
    free(ld);
}

enum lt_status lt_loader_new(struct lt_ctx *ctx, const struct lt_dataset *ds,
                             const struct lt_loader_config *cfg, struct lt_loader **out) {
    struct lt_transform t;
    int ch, oh = 0, ow = 0;
    enum lt_status st = check_config(ctx, ds, cfg, &t, &ch, &oh, &ow);
    if (st != LT_OK)
        return st;
    int shards = cfg->shards ? cfg->shards : 1;
    int64_t n = lt_dataset_size(ds), b = cfg->batch * shards;
    int64_t batches = cfg->drop_last ? n / b : (n + b - 1) / b;
    if (batches == 0)
        return lt_fail(ctx, LT_EINVAL,
                       "loader: a data set of %lld samples gives no batch of %lld%s%s",
                       (long long)n, (long long)b,
                       shards > 1 ? " (the batch of every rank together)" : "",
                       cfg->drop_last ? " with drop_last" : "");

    struct lt_loader *ld = lt_zalloc(ctx, sizeof *ld);
    if (!ld)
        return LT_ENOMEM;
    struct lt_store *s = lt_dataset_store(ds);
    ld->ctx = ctx;
    ld->cfg = *cfg;
    ld->cfg.shuffle = cfg->shuffle != 0;
    ld->cfg.flat = cfg->flat != 0;
    ld->store = lt_store_retain(s);
    ld->n = n;
    ld->batches = batches;
    ld->global = b;
    ld->has_short = !cfg->drop_last && n % b != 0;
    if (ld->has_short) {
        int64_t first;
        batch_rows(ld, batches - 1, &first, &ld->short_size);
    }
    ld->t = t;
    lt_transform_norm(&t, &ld->norm);
    ld->c = ch;
    ld->oh = oh;
    ld->ow = ow;
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv, NULL);

    int workers = s->caller_thread ? 0 : cfg->workers;
    ld->n_slots = workers + 1 < 2 ? 1 : workers + 1;
    ld->n_fillers = workers ? workers : 1;
    ld->limit = ld->n_slots;
    ld->slots = lt_zalloc(ctx, (size_t)ld->n_slots * sizeof *ld->slots);
    ld->fillers = lt_zalloc(ctx, (size_t)ld->n_fillers * sizeof *ld->fillers);
    if (!ld->slots || !ld->fillers)
        st = LT_ENOMEM;
    if (st == LT_OK && s->files && !s->bad) {
        s->bad = calloc((size_t)(s->n ? s->n : 1), sizeof *s->bad);
        if (!s->bad)
            st = lt_fail(ctx, LT_ENOMEM, "out of memory making a loader");
    }
    const int64_t *map = lt_dataset_map(ds);
    if (st == LT_OK && map) {
        ld->map = lt_alloc(ctx, (size_t)(n ? n : 1) * sizeof *ld->map);
        if (ld->map)
            memcpy(ld->map, map, (size_t)n * sizeof *ld->map);
        else
            st = LT_ENOMEM;
    }
    struct lt_sample_shape xs;
    x_shape(s, cfg, ch, oh, ow, cfg->batch, &xs);
    ld->x_row = lt_dtype_bytes(xs.dtype);
    for (int i = 1; i < xs.ndim; i++)
        ld->x_row *= (size_t)xs.shape[i];
    ld->y_row = lt_dtype_bytes(s->y.dtype);
    for (int i = 0; i < s->y.ndim; i++)
        ld->y_row *= (size_t)s->y.shape[i];
    for (int k = 0; k < ld->n_slots && st == LT_OK; k++)
        st = make_slot(ctx, ld, &ld->slots[k], &xs);
    for (int k = 0; k < ld->n_fillers && st == LT_OK; k++) {
        struct filler *f = &ld->fillers[k];
        f->ld = ld;
        if (ld->cfg.shuffle && !(f->order = lt_alloc(ctx, (size_t)(n ? n : 1) * sizeof *f->order)))
            st = LT_ENOMEM;
        if (st == LT_OK && s->ops->batch && !(f->idx = lt_alloc(ctx, (size_t)cfg->batch * sizeof *f->idx)))
            st = LT_ENOMEM;
    }
    for (int k = 0; k < workers && st == LT_OK; k++) {
        int e = pthread_create(&ld->fillers[k].thread, NULL, worker, &ld->fillers[k]);
        if (e != 0)
            st = lt_fail(ctx, LT_ENOMEM, "loader: cannot start its thread: %s", strerror(e));
        else
            ld->threads++;
    }
    if (st != LT_OK) {
        lt_loader_free(ld);
        return st;
    }
    *out = ld;
    return LT_OK;
}

/* Forgets every batch made or being made and starts the sequence at (epoch, iter). */
static void restart(struct lt_loader *ld, uint32_t epoch, int64_t iter) {
    if (ld->threads) {
        pthread_mutex_lock(&ld->mu);
        ld->limit = 0; /* no new claims while the fillers finish */
        for (;;) {
            int busy = 0;
            for (int k = 0; k < ld->n_slots; k++)
                busy |= ld->slots[k].state == SLOT_FILLING;
            if (!busy)
                break;
            pthread_cond_wait(&ld->cv, &ld->mu);
        }
        for (int k = 0; k < ld->n_slots; k++)
            ld->slots[k].state = SLOT_FREE;
    }
    ld->base_epoch = epoch;
    ld->base_iter = iter;
    ld->head = 0;
    ld->tail = 0;
    ld->limit = ld->n_slots;
    if (ld->threads) {
        pthread_cond_broadcast(&ld->cv);
        pthread_mutex_unlock(&ld->mu);
    }
}

enum lt_status lt_loader_next(struct lt_loader *ld, struct lt_batch *b) {
    struct slot *sl = &ld->slots[ld->head % ld->n_slots];
    if (ld->threads) {
        pthread_mutex_lock(&ld->mu);
        if (ld->head > 0) { /* the caller is done with the previous batch: refill its slot */
            struct slot *prev = &ld->slots[(ld->head - 1) % ld->n_slots];
            if (prev->state == SLOT_HANDED)
                prev->state = SLOT_FREE;
        }
        ld->limit = ld->head + ld->n_slots;
        pthread_cond_broadcast(&ld->cv);
        /* the state first: a filler writes seq outside the lock, before it marks the slot */
        while (!((sl->state == SLOT_READY || sl->state == SLOT_FAILED) && sl->seq == ld->head))
            pthread_cond_wait(&ld->cv, &ld->mu);
        if (sl->state == SLOT_READY)
            sl->state = SLOT_HANDED;
        pthread_mutex_unlock(&ld->mu);
    } else {
        fill(&ld->fillers[0], sl, ld->head);
    }
    uint32_t epoch;
    int64_t iter;
    batch_position(ld, ld->head, &epoch, &iter);
    if (sl->status != LT_OK) {
        enum lt_status st = lt_fail(ld->ctx, sl->status, "%s", sl->msg);
        restart(ld, epoch, iter); /* the next call makes this batch again */
        return st;
    }
    int64_t start, size;
    batch_rows(ld, iter, &start, &size);
    int short_batch = ld->has_short && iter == ld->batches - 1;
    b->x = short_batch ? sl->x_short : sl->x;
    b->y = short_batch ? sl->y_short : sl->y;
    b->epoch = epoch;
    b->iter = iter;
    b->sample_base = start;
    b->size = size;
    b->last = iter == ld->batches - 1;
    ld->head++;
    return LT_OK;
}

enum lt_status lt_loader_seek(struct lt_loader *ld, uint32_t epoch, int64_t iter) {
    if (iter < 0 || iter >= ld->batches)
        return lt_fail(ld->ctx, LT_EINVAL, "loader: batch %lld of an epoch outside [0, %lld)",
                       (long long)iter, (long long)ld->batches);
    restart(ld, epoch, iter);
    return LT_OK;
}

void lt_loader_position(const struct lt_loader *ld, uint32_t *epoch, int64_t *iter) {
    batch_position(ld, ld->head, epoch, iter);
}

int64_t lt_loader_batches(const struct lt_loader *ld) {
    return ld->batches;
}

size_t lt_loader_data_bytes(const struct lt_loader *ld) {
    return (size_t)ld->n_slots *
           (lt_tensor_bytes(ld->slots[0].x) + lt_tensor_bytes(ld->slots[0].y));
}
