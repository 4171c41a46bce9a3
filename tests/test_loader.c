/* Loaders: the same batches, bit for bit, from any number of worker threads and after a
 * seek; their batch buffers; ranges and seeded splits read through a loader; x's shape
 * under each transform; per-channel normalisation; seeded augmentation; configurations
 * that do not fit; and data sets a host fills (threading, failures, release). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "kernels/rng.h"
#include "tests/train_util.h"

static struct lt_ctx *ctx;

static int setup(void **state) {
    (void)state;
    return lt_ctx_new(&ctx) == LT_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    lt_ctx_free(ctx);
    return 0;
}

static void expect_error(const char *msg) {
    if (!strstr(lt_ctx_error(ctx), msg))
        fail_msg("message '%s' lacks '%s'", lt_ctx_error(ctx), msg);
}

/* n images u8 (n, c, h, w) of pixels in [1, 255] (a 0 comes only from a crop's padding),
 * labels mod 7. */
static struct lt_dataset *images(int64_t n, int c, int h, int w) {
    struct lt_tensor *x, *y;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 4, (int64_t[]){n, c, h, w}, &x));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){n}, &y));
    uint8_t *p = lt_tensor_data(x);
    for (int64_t i = 0; i < lt_tensor_numel(x); i++)
        p[i] = (uint8_t)(1 + lt_mix64((uint64_t)i) % 255);
    for (int64_t i = 0; i < n; i++)
        lt_tensor_set(y, i, (double)(i % 7));
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_new(ctx, x, y, 7, &ds));
    lt_tensor_free(x);
    lt_tensor_free(y);
    return ds;
}

/* n samples whose f32 x (n, 2) holds (i, -i) and y = i mod 10: a batch tells which sample
 * each of its rows is. */
static struct lt_dataset *numbered(int64_t n) {
    struct lt_tensor *x, *y;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){n, 2}, &x));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){n}, &y));
    for (int64_t i = 0; i < n; i++) {
        lt_tensor_set(x, 2 * i, (double)i);
        lt_tensor_set(x, 2 * i + 1, -(double)i);
        lt_tensor_set(y, i, (double)(i % 10));
    }
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_new(ctx, x, y, 10, &ds));
    lt_tensor_free(x);
    lt_tensor_free(y);
    return ds;
}

/* The samples of one epoch of a numbered set, in the files' order; returns their count. */
static int64_t read_numbered(const struct lt_dataset *ds, int64_t batch, int workers,
                             int64_t *out) {
    struct lt_loader_config c = lt_loader_defaults(batch);
    c.shuffle = 0;
    c.workers = workers;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    int64_t n = 0;
    struct lt_batch b;
    do {
        CHECK(ctx, lt_loader_next(ld, &b));
        const float *x = lt_tensor_data(b.x);
        const int32_t *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size; r++) {
            int64_t i = (int64_t)x[2 * r];
            assert_true(x[2 * r + 1] == -(float)i);
            assert_int_equal(y[r], i % 10);
            out[n++] = i;
        }
    } while (!b.last);
    lt_loader_free(ld);
    return n;
}

/* ---- the same batches from any number of threads -------------------------------------- */

#define N_EPOCHS 3

/* The batches of N_EPOCHS epochs (8 batches an epoch at most), each kept at epoch ×
 * batches + iter, to compare other runs against. */
struct run {
    int64_t batches;
    unsigned char *x[N_EPOCHS * 8], *y[N_EPOCHS * 8];
    size_t xb[N_EPOCHS * 8], yb[N_EPOCHS * 8];
};

static void keep(struct run *r, const struct lt_batch *b) {
    int64_t k = (int64_t)b->epoch * r->batches + b->iter;
    assert_true(k < N_EPOCHS * 8);
    r->xb[k] = lt_tensor_bytes(b->x);
    r->yb[k] = lt_tensor_bytes(b->y);
    r->x[k] = malloc(r->xb[k]);
    r->y[k] = malloc(r->yb[k]);
    assert_non_null(r->x[k]);
    assert_non_null(r->y[k]);
    memcpy(r->x[k], lt_tensor_data(b->x), r->xb[k]);
    memcpy(r->y[k], lt_tensor_data(b->y), r->yb[k]);
}

static void same(const struct run *r, const struct lt_batch *b) {
    int64_t k = (int64_t)b->epoch * r->batches + b->iter;
    assert_true(k < N_EPOCHS * 8);
    assert_int_equal(lt_tensor_bytes(b->x), r->xb[k]);
    assert_int_equal(lt_tensor_bytes(b->y), r->yb[k]);
    assert_memory_equal(lt_tensor_data(b->x), r->x[k], r->xb[k]);
    assert_memory_equal(lt_tensor_data(b->y), r->y[k], r->yb[k]);
}

static void run_free(struct run *r) {
    for (int k = 0; k < N_EPOCHS * 8; k++) {
        free(r->x[k]);
        free(r->y[k]);
    }
}

/* Reads ds under c with each worker count: 3 epochs straight, then a seek into the middle
 * of epoch 1 read on into epoch 2, then a seek to epoch 0's short last batch read on into
 * epoch 1; every batch must equal the one of workers 0's straight pass. */
static void same_under_any_workers(const struct lt_dataset *ds, struct lt_loader_config c) {
    static const int workers[] = {0, 1, 2, 4};
    struct run ref = {0};
    for (int w = 0; w < 4; w++) {
        c.workers = workers[w];
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        int64_t nb = lt_loader_batches(ld);
        assert_true(nb <= 8);
        ref.batches = nb;
        struct lt_batch b;
        for (int64_t k = 0; k < N_EPOCHS * nb; k++) {
            CHECK(ctx, lt_loader_next(ld, &b));
            assert_int_equal(b.epoch, k / nb);
            assert_int_equal(b.iter, k % nb);
            if (w == 0)
                keep(&ref, &b);
            else
                same(&ref, &b);
        }
        CHECK(ctx, lt_loader_seek(ld, 1, 2));
        for (int64_t k = 0; k < nb; k++) {
            CHECK(ctx, lt_loader_next(ld, &b));
            assert_int_equal(b.epoch, 1 + (2 + k) / nb);
            assert_int_equal(b.iter, (2 + k) % nb);
            same(&ref, &b);
        }
        CHECK(ctx, lt_loader_seek(ld, 0, nb - 1));
        for (int k = 0; k < 2; k++) {
            CHECK(ctx, lt_loader_next(ld, &b));
            assert_int_equal(b.epoch, k);
            assert_int_equal(b.last, k == 0);
            same(&ref, &b);
        }
        lt_loader_free(ld);
    }
    run_free(&ref);
}

static void workers_give_identical_batches(void **state) {
    (void)state;
    /* 37 samples in batches of 8: 5 a epoch, the last of 5 rows */
    struct lt_dataset *ds = images(37, 3, 5, 6);
    struct lt_loader_config c = lt_loader_defaults(8);
    c.seed = 21;
    c.n_norm = 3;
    c.mean[0] = 0.4f, c.mean[1] = 0.5f, c.mean[2] = 0.6f;
    c.std[0] = 0.2f, c.std[1] = 0.3f, c.std[2] = 0.7f;
    c.crop_h = 4, c.crop_w = 6, c.crop_padding = 1, c.random_crop = 1, c.hflip = 1;
    same_under_any_workers(ds, c);
    c.shuffle = 0; /* the files' order */
    same_under_any_workers(ds, c);
    lt_dataset_free(ds);
    ds = numbered(37); /* values copied rather than transformed */
    same_under_any_workers(ds, lt_loader_defaults(8));
    lt_dataset_free(ds);
}

static void data_bytes_are_the_batch_buffers(void **state) {
    (void)state;
    struct lt_dataset *ds = images(37, 3, 5, 6);
    const size_t batch = 8 * 3 * 5 * 6 * sizeof(float) + 8 * sizeof(int32_t);
    static const int workers[] = {0, 1, 2, 4};
    for (int w = 0; w < 4; w++) {
        struct lt_loader_config c = lt_loader_defaults(8);
        c.workers = workers[w];
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        size_t buffers = workers[w] ? (size_t)workers[w] + 1 : 1;
        assert_int_equal(lt_loader_data_bytes(ld), buffers * batch);
        lt_loader_free(ld);
    }
    lt_dataset_free(ds);
}

/* Shards of a data-parallel job: over an epoch, shard r of S with batch b hands out, in
 * order, rows [r × b, (r + 1) × b) of each unsharded batch of b × S (the same samples,
 * sample_base their place in the epoch); the short last one is cut as evenly as it goes,
 * down to an empty slice; every shard has as many batches as the unsharded loader. */
static void shards_slice_the_global_batches(void **state) {
    (void)state;
    static const int64_t sizes[] = {37, 24, 25}; /* last global batch: 1 row, none, 1 row */
    for (int t = 0; t < 3; t++) {
        struct lt_dataset *ds = numbered(sizes[t]);
        struct lt_loader_config whole = lt_loader_defaults(12);
        whole.seed = 5;
        whole.workers = 0;
        struct lt_loader *all, *part[3];
        CHECK(ctx, lt_loader_new(ctx, ds, &whole, &all));
        for (int r = 0; r < 3; r++) {
            struct lt_loader_config c = lt_loader_defaults(4);
            c.seed = 5;
            c.workers = r; /* the same slices from any number of workers */
            c.shard = r;
            c.shards = 3;
            CHECK(ctx, lt_loader_new(ctx, ds, &c, &part[r]));
            assert_int_equal(lt_loader_batches(part[r]), lt_loader_batches(all));
        }
        for (int64_t i = 0; i < 2 * lt_loader_batches(all); i++) { /* two epochs */
            struct lt_batch b;
            CHECK(ctx, lt_loader_next(all, &b));
            int64_t row = 0, rows[3];
            for (int r = 0; r < 3; r++) {
                struct lt_batch s;
                CHECK(ctx, lt_loader_next(part[r], &s));
                assert_int_equal(s.epoch, b.epoch);
                assert_int_equal(s.last, b.last);
                assert_int_equal(s.sample_base, b.sample_base + row);
                assert_int_equal(lt_tensor_shape(s.x)[0], s.size);
                for (int64_t k = 0; k < s.size; k++)
                    assert_true(lt_tensor_get(s.x, 2 * k) == lt_tensor_get(b.x, 2 * (row + k)));
                rows[r] = s.size;
                row += s.size;
            }
            assert_int_equal(row, b.size);
            for (int r = 1; r < 3; r++) /* as even as it goes */
                assert_true(rows[r] - rows[0] >= 0 && rows[r] - rows[0] <= 1);
        }
        lt_loader_free(all);
        for (int r = 0; r < 3; r++)
            lt_loader_free(part[r]);
        lt_dataset_free(ds);
    }
    struct lt_dataset *ds = numbered(10);
    struct lt_loader_config c = lt_loader_defaults(4);
    struct lt_loader *ld;
    c.shards = 3, c.shard = 3;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("shard 3 of 3");
    c.shard = 0, c.drop_last = 1; /* 10 samples: no batch of 12 */
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("gives no batch of 12 (the batch of every rank together) with drop_last");
    lt_dataset_free(ds);
}

/* ---- ranges and splits ------------------------------------------------------------------ */

static void ranges_read_their_samples(void **state) {
    (void)state;
    struct lt_dataset *ds = numbered(50), *r, *rr;
    int64_t got[50];
    CHECK(ctx, lt_dataset_range(ctx, ds, 10, 25, &r));
    lt_dataset_free(ds); /* a view keeps what it reads */
    assert_int_equal(lt_dataset_size(r), 25);
    assert_int_equal(lt_dataset_classes(r), 10);
    assert_int_equal(read_numbered(r, 7, 0, got), 25);
    for (int i = 0; i < 25; i++)
        assert_int_equal(got[i], 10 + i);
    /* a range of a range */
    CHECK(ctx, lt_dataset_range(ctx, r, 5, 10, &rr));
    assert_int_equal(read_numbered(rr, 4, 2, got), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(got[i], 15 + i);
    lt_dataset_free(rr);
    /* empty and full ranges are ranges; past the end is not */
    CHECK(ctx, lt_dataset_range(ctx, r, 25, 0, &rr));
    assert_int_equal(lt_dataset_size(rr), 0);
    lt_dataset_free(rr);
    rr = NULL;
    assert_int_equal(lt_dataset_range(ctx, r, 20, 6, &rr), LT_EINVAL);
    expect_error("samples [20, 26) are outside the data set's 25");
    assert_int_equal(lt_dataset_range(ctx, r, -1, 2, &rr), LT_EINVAL);
    assert_null(rr);
    lt_dataset_free(r);
}

/* Splits a numbered data set and reads each non-empty part through a loader. */
static void split_of(const struct lt_dataset *ds, int64_t first, uint64_t seed, int64_t *a,
                     int64_t *b) {
    struct lt_dataset *pa, *pb;
    CHECK(ctx, lt_dataset_split(ctx, ds, first, seed, &pa, &pb));
    int64_t rest = lt_dataset_size(ds) - first;
    assert_int_equal(lt_dataset_size(pa), first);
    assert_int_equal(lt_dataset_size(pb), rest);
    if (first)
        assert_int_equal(read_numbered(pa, 6, 0, a), first);
    if (rest)
        assert_int_equal(read_numbered(pb, 6, 3, b), rest);
    lt_dataset_free(pa);
    lt_dataset_free(pb);
}

static void splits_are_disjoint_seeded_and_in_order(void **state) {
    (void)state;
    struct lt_dataset *all = numbered(70), *ds;
    CHECK(ctx, lt_dataset_range(ctx, all, 5, 60, &ds));
    lt_dataset_free(all);
    int64_t a[60], b[60], a2[60], b2[60];
    split_of(ds, 18, 4, a, b);
    int seen[70] = {0};
    for (int i = 0; i < 18; i++)
        seen[a[i]]++;
    for (int i = 0; i < 42; i++)
        seen[b[i]]++;
    for (int i = 0; i < 70; i++)
        assert_int_equal(seen[i], i >= 5 && i < 65); /* disjoint, covering the range */
    for (int i = 1; i < 18; i++)
        assert_true(a[i] > a[i - 1]); /* in the data set's order */
    for (int i = 1; i < 42; i++)
        assert_true(b[i] > b[i - 1]);
    /* at random: not the first 18 */
    assert_true(a[17] > 5 + 17);
    split_of(ds, 18, 4, a2, b2);
    assert_memory_equal(a, a2, 18 * sizeof *a);
    assert_memory_equal(b, b2, 42 * sizeof *b);
    split_of(ds, 18, 5, a2, b2);
    assert_true(memcmp(a, a2, 18 * sizeof *a) != 0);
    /* the ends of [0, size] are splits, beyond them not */
    split_of(ds, 0, 4, a2, b2);
    for (int i = 0; i < 60; i++)
        assert_int_equal(b2[i], 5 + i);
    struct lt_dataset *pa = NULL, *pb = NULL;
    assert_int_equal(lt_dataset_split(ctx, ds, 61, 4, &pa, &pb), LT_EINVAL);
    expect_error("cannot split 61 samples off a data set of 60");
    assert_int_equal(lt_dataset_split(ctx, ds, -1, 4, &pa, &pb), LT_EINVAL);
    assert_null(pa);
    assert_null(pb);
    lt_dataset_free(ds);
}

/* ---- shapes --------------------------------------------------------------------------------- */

/* Checks lt_loader_x_shape's answer for batches of 5, and that a loader's batches of 5 have
 * it. */
static void expect_shape(const struct lt_dataset *ds, const struct lt_loader_config *c,
                         enum lt_dtype dt, int ndim, const int64_t *shape) {
    struct lt_sample_shape s;
    CHECK(ctx, lt_loader_x_shape(ctx, ds, c, 5, &s));
    assert_int_equal(s.dtype, dt);
    assert_int_equal(s.ndim, ndim);
    assert_memory_equal(s.shape, shape, (size_t)ndim * sizeof *shape);
    struct lt_loader *ld;
    struct lt_loader_config c5 = *c;
    c5.batch = 5;
    CHECK(ctx, lt_loader_new(ctx, ds, &c5, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(lt_tensor_dtype(b.x), dt);
    assert_int_equal(lt_tensor_ndim(b.x), ndim);
    assert_memory_equal(lt_tensor_shape(b.x), shape, (size_t)ndim * sizeof *shape);
    lt_loader_free(ld);
}

static void x_shape_follows_the_transforms(void **state) {
    (void)state;
    struct lt_dataset *ds = images(12, 3, 8, 10);
    struct lt_loader_config c = lt_loader_defaults(3);
    c.workers = 0;
    expect_shape(ds, &c, LT_DTYPE_F32, 4, (int64_t[]){5, 3, 8, 10});
    c.flat = 1;
    expect_shape(ds, &c, LT_DTYPE_F32, 2, (int64_t[]){5, 240});
    c.crop_h = 5, c.crop_w = 6; /* centred */
    expect_shape(ds, &c, LT_DTYPE_F32, 2, (int64_t[]){5, 90});
    c.flat = 0;
    expect_shape(ds, &c, LT_DTYPE_F32, 4, (int64_t[]){5, 3, 5, 6});
    c.crop_padding = 2, c.random_crop = 1, c.crop_h = 12, c.crop_w = 14; /* the padded size */
    expect_shape(ds, &c, LT_DTYPE_F32, 4, (int64_t[]){5, 3, 12, 14});
    c = lt_loader_defaults(3);
    c.resize_h = 4, c.resize_w = 7;
    expect_shape(ds, &c, LT_DTYPE_F32, 4, (int64_t[]){5, 3, 4, 7});
    c.resize_h = 16, c.resize_w = 20, c.crop_h = 12, c.crop_w = 11; /* the crop of the resize */
    expect_shape(ds, &c, LT_DTYPE_F32, 4, (int64_t[]){5, 3, 12, 11});
    c.flat = 1;
    expect_shape(ds, &c, LT_DTYPE_F32, 2, (int64_t[]){5, 3 * 12 * 11});
    lt_dataset_free(ds);

    /* values that are not images: as they are, or flat */
    struct lt_tensor *x, *xi, *y;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_BF16, 3, (int64_t[]){6, 2, 3}, &x));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 3, (int64_t[]){6, 2, 3}, &xi));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){6}, &y));
    CHECK(ctx, lt_dataset_new(ctx, x, y, 2, &ds));
    c = lt_loader_defaults(3);
    expect_shape(ds, &c, LT_DTYPE_F32, 3, (int64_t[]){5, 2, 3});
    c.flat = 1;
    expect_shape(ds, &c, LT_DTYPE_F32, 2, (int64_t[]){5, 6});
    lt_dataset_free(ds);
    CHECK(ctx, lt_dataset_new(ctx, xi, y, 2, &ds));
    c.flat = 0;
    expect_shape(ds, &c, LT_DTYPE_I32, 3, (int64_t[]){5, 2, 3});
    lt_dataset_free(ds);
    lt_tensor_free(x);
    lt_tensor_free(xi);
    lt_tensor_free(y);
}

/* ---- normalisation and augmentation -------------------------------------------------------- */

static void channels_have_their_own_mean_and_std(void **state) {
    (void)state;
    struct lt_tensor *x, *y;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 4, (int64_t[]){7, 3, 4, 5}, &x));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 1, (int64_t[]){7}, &y));
    uint8_t *p = lt_tensor_data(x);
    for (int64_t i = 0; i < lt_tensor_numel(x); i++)
        p[i] = (uint8_t)(i * 29 + 3);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_new(ctx, x, y, 1, &ds));
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    struct lt_loader_config c = lt_loader_defaults(7);
    c.shuffle = 0;
    c.n_norm = 3;
    memcpy(c.mean, mean, sizeof mean);
    memcpy(c.std, std, sizeof std);
    for (int workers = 0; workers < 2; workers++) {
        c.workers = workers;
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(lt_tensor_numel(b.x), lt_tensor_numel(x));
        const float *v = lt_tensor_data(b.x);
        for (int64_t i = 0; i < lt_tensor_numel(x); i++) {
            int ch = (int)(i / 20 % 3);
            float want = ((float)p[i] / 255.0f - mean[ch]) / std[ch];
            if (v[i] != want)
                fail_msg("element %lld (channel %d): %.9g, want %.9g", (long long)i, ch,
                         (double)v[i], (double)want);
        }
        lt_loader_free(ld);
    }
    /* one value applies to every channel */
    c.n_norm = 1;
    c.workers = 0;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    const float *v = lt_tensor_data(b.x);
    for (int64_t i = 0; i < lt_tensor_numel(x); i++)
        assert_true(v[i] == ((float)p[i] / 255.0f - mean[0]) / std[0]);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    lt_tensor_free(x);
    lt_tensor_free(y);
}

/* The first `batches` batches' x, concatenated, in a new buffer. */
static float *read_x(struct lt_loader *ld, int batches, size_t *bytes) {
    size_t n = 0;
    float *all = NULL;
    for (int k = 0; k < batches; k++) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        size_t nb = lt_tensor_bytes(b.x);
        all = realloc(all, n + nb);
        assert_non_null(all);
        memcpy((char *)all + n, lt_tensor_data(b.x), nb);
        n += nb;
    }
    *bytes = n;
    return all;
}

static void augmentation_is_seeded_by_epoch_and_sample(void **state) {
    (void)state;
    struct lt_dataset *ds = images(20, 3, 6, 7);
    struct lt_loader_config c = lt_loader_defaults(6); /* 4 batches, the last of 2 */
    c.shuffle = 0;
    c.seed = 8;
    c.crop_h = 6, c.crop_w = 7, c.crop_padding = 2, c.random_crop = 1, c.hflip = 1;
    struct lt_loader *l0, *l3;
    c.workers = 0;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &l0));
    c.workers = 3;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &l3));
    size_t n0, n3, nb;
    float *a = read_x(l0, 8, &n0), *b = read_x(l3, 8, &n3); /* epochs 0 and 1 */
    assert_int_equal(n0, n3);
    assert_memory_equal(a, b, n0);
    /* the same samples in the same places, cropped and flipped otherwise in epoch 1 */
    size_t half = n0 / 2;
    assert_true(memcmp(a, (char *)a + half, half) != 0);
    /* images (not just the epoch) differ: some sample changed, some kept its draw */
    int differ = 0;
    const size_t img = 3 * 6 * 7;
    for (int i = 0; i < 20; i++)
        differ += memcmp(a + i * img, a + (20 + i) * img, img * sizeof *a) != 0;
    assert_true(differ > 10);
    /* a seek back to epoch 0 replays it, on either loader */
    CHECK(ctx, lt_loader_seek(l3, 0, 0));
    float *r = read_x(l3, 4, &nb);
    assert_int_equal(nb, half);
    assert_memory_equal(a, r, half);
    free(r);
    CHECK(ctx, lt_loader_seek(l0, 1, 2));
    r = read_x(l0, 2, &nb);
    assert_memory_equal((char *)a + half + 12 * img * sizeof *a, r, nb);
    free(r);
    /* augmented: not the plain images, and the padding's zeros show (no pixel is 0) */
    lt_loader_free(l0);
    c = lt_loader_defaults(6);
    c.shuffle = 0;
    c.workers = 0;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &l0));
    float *plain = read_x(l0, 4, &nb);
    assert_true(memcmp(a, plain, half) != 0);
    int zeros = 0;
    for (size_t i = 0; i < half / sizeof *a; i++)
        zeros += a[i] == 0.0f;
    assert_true(zeros > 0);
    free(plain);
    free(a);
    free(b);
    lt_loader_free(l0);
    lt_loader_free(l3);
    lt_dataset_free(ds);
}

static void configs_that_do_not_fit_fail(void **state) {
    (void)state;
    struct lt_dataset *img = images(10, 3, 6, 7), *num = numbered(10);
    struct lt_loader *ld = NULL;
    struct lt_sample_shape s;
    struct lt_loader_config c = lt_loader_defaults(4);
    c.hflip = 1;
    assert_int_equal(lt_loader_new(ctx, num, &c, &ld), LT_EINVAL);
    expect_error("resize, crop, flip and per-channel mean/std need an image data set");
    expect_error("its samples are f32");
    c = lt_loader_defaults(4);
    c.crop_h = c.crop_w = 2;
    assert_int_equal(lt_loader_x_shape(ctx, num, &c, 4, &s), LT_EINVAL);
    expect_error("need an image data set");
    c = lt_loader_defaults(4);
    c.n_norm = 3;
    c.std[1] = c.std[2] = 1;
    assert_int_equal(lt_loader_new(ctx, num, &c, &ld), LT_EINVAL);
    expect_error("per-channel mean/std need an image data set");

    c = lt_loader_defaults(4);
    c.n_norm = 2;
    c.std[1] = 1;
    assert_int_equal(lt_loader_new(ctx, img, &c, &ld), LT_EINVAL);
    expect_error("2 mean/std values for images of 3 channels");
    assert_int_equal(lt_loader_x_shape(ctx, img, &c, 4, &s), LT_EINVAL);
    expect_error("2 mean/std values for images of 3 channels");
    c.n_norm = 3;
    c.std[2] = 0;
    assert_int_equal(lt_loader_new(ctx, img, &c, &ld), LT_EINVAL);
    expect_error("std must be finite and > 0");

    c = lt_loader_defaults(4);
    c.crop_h = 7, c.crop_w = 7;
    assert_int_equal(lt_loader_new(ctx, img, &c, &ld), LT_EINVAL);
    expect_error("crop 7 × 7 is larger than the image 6 × 7");
    assert_int_equal(lt_loader_x_shape(ctx, img, &c, 4, &s), LT_EINVAL);
    expect_error("crop 7 × 7 is larger than the image 6 × 7");
    c.random_crop = 1, c.crop_padding = 1, c.crop_h = 9, c.crop_w = 9; /* 8 × 9 padded */
    assert_int_equal(lt_loader_new(ctx, img, &c, &ld), LT_EINVAL);
    expect_error("crop 9 × 9 is larger than the image 6 × 7");
    c.crop_h = 8;
    CHECK(ctx, lt_loader_x_shape(ctx, img, &c, 4, &s));
    assert_int_equal(s.shape[2], 8);
    assert_null(ld);
    lt_dataset_free(img);
    lt_dataset_free(num);
}

/* ---- data sets a host fills ------------------------------------------------------------------ */

/* A source of samples whose values say which sample and epoch they are: x i32 (3) =
 * (i, epoch, i + 100), y f32 (2) = (i / 4, -i) — or, as an image set, x u8 (2, 3, 4) of
 * pixels made from i. It counts and checks its calls. */
struct host {
    int image;
    int64_t fail_index; /* >= 0: a batch holding it fails while fail_left > 0 */
    atomic_int fail_left;
    int silent; /* fail without a message */
    atomic_int calls, in_fill, overlapped;
    atomic_int releases;
    int check_thread;
    pthread_t thread;
    atomic_int wrong_thread;
};

static uint8_t pixel(int64_t i, int k) {
    return (uint8_t)(i * 13 + k * 7 + 1);
}

static int host_fill(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                     char *msg, size_t msg_size) {
    struct host *h = user;
    atomic_fetch_add(&h->calls, 1);
    if (atomic_fetch_add(&h->in_fill, 1) > 0)
        atomic_store(&h->overlapped, 1);
    if (h->check_thread && !pthread_equal(pthread_self(), h->thread))
        atomic_store(&h->wrong_thread, 1);
    /* long enough for another thread's call to overlap this one, were they let */
    nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
    int rc = 0;
    for (int64_t r = 0; r < n; r++) {
        if (idx[r] == h->fail_index && atomic_load(&h->fail_left) > 0) {
            atomic_fetch_sub(&h->fail_left, 1);
            if (!h->silent)
                snprintf(msg, msg_size, "sample %lld is not there yet", (long long)idx[r]);
            rc = 1;
            break;
        }
        if (h->image) {
            for (int k = 0; k < 24; k++)
                ((uint8_t *)x)[24 * r + k] = pixel(idx[r], k);
            ((int32_t *)y)[r] = (int32_t)(idx[r] % 5);
        } else {
            int32_t *xi = (int32_t *)x + 3 * r;
            xi[0] = (int32_t)idx[r];
            xi[1] = (int32_t)epoch;
            xi[2] = (int32_t)idx[r] + 100;
            float *fy = (float *)y + 2 * r;
            fy[0] = (float)idx[r] / 4;
            fy[1] = -(float)idx[r];
        }
    }
    atomic_fetch_sub(&h->in_fill, 1);
    return rc;
}

static void host_release(void *user) {
    atomic_fetch_add(&((struct host *)user)->releases, 1);
}

static void host_init(struct host *h) {
    memset(h, 0, sizeof *h);
    h->fail_index = -1;
    atomic_init(&h->fail_left, 0);
    atomic_init(&h->calls, 0);
    atomic_init(&h->in_fill, 0);
    atomic_init(&h->overlapped, 0);
    atomic_init(&h->releases, 0);
    atomic_init(&h->wrong_thread, 0);
}

static struct lt_source host_source(struct host *h, int64_t n) {
    struct lt_source s = {0};
    s.size = n;
    if (h->image) {
        s.x = (struct lt_sample_shape){.dtype = LT_DTYPE_U8, .ndim = 3, .shape = {2, 3, 4}};
        s.y = (struct lt_sample_shape){.dtype = LT_DTYPE_I32, .ndim = 0};
        s.classes = 5;
    } else {
        s.x = (struct lt_sample_shape){.dtype = LT_DTYPE_I32, .ndim = 1, .shape = {3}};
        s.y = (struct lt_sample_shape){.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {2}};
    }
    s.fill = host_fill;
    s.release = host_release;
    s.user = h;
    s.origin = "test_host";
    return s;
}

/* Reads `batches` batches of a regression host source and checks every value. */
static void read_host(struct lt_loader *ld, int batches) {
    for (int k = 0; k < batches; k++) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(lt_tensor_dtype(b.x), LT_DTYPE_I32);
        assert_int_equal(lt_tensor_ndim(b.x), 2);
        assert_int_equal(lt_tensor_shape(b.x)[1], 3);
        assert_int_equal(lt_tensor_dtype(b.y), LT_DTYPE_F32);
        assert_int_equal(lt_tensor_ndim(b.y), 2);
        assert_int_equal(lt_tensor_shape(b.y)[1], 2);
        const int32_t *x = lt_tensor_data(b.x);
        const float *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size; r++) {
            int32_t i = x[3 * r];
            assert_int_equal(x[3 * r + 1], b.epoch);
            assert_int_equal(x[3 * r + 2], i + 100);
            assert_true(y[2 * r] == (float)i / 4 && y[2 * r + 1] == -(float)i);
        }
    }
}

static void host_sources_fill_from_threads(void **state) {
    (void)state;
    /* thread-safe: three workers at once, the same batches as the caller's thread */
    struct host h;
    host_init(&h);
    struct lt_source src = host_source(&h, 45);
    src.thread_safe = 1;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    assert_int_equal(lt_dataset_size(ds), 45);
    assert_int_equal(lt_dataset_classes(ds), 0);
    assert_string_equal(lt_dataset_origin(ds), "test_host");
    struct lt_loader_config c = lt_loader_defaults(10);
    c.seed = 6;
    same_under_any_workers(ds, c);
    c.workers = 3;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    read_host(ld, 12);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);

    /* not thread-safe: three workers, one call at a time */
    host_init(&h);
    src = host_source(&h, 45);
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    read_host(ld, 30);
    assert_true(atomic_load(&h.calls) >= 30);
    assert_int_equal(atomic_load(&h.overlapped), 0);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);
}

static void a_caller_thread_source_fills_in_lt_loader_next(void **state) {
    (void)state;
    struct host h;
    host_init(&h);
    h.check_thread = 1;
    h.thread = pthread_self();
    struct lt_source src = host_source(&h, 23);
    src.caller_thread = 1;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    struct lt_loader_config c = lt_loader_defaults(5);
    c.workers = 3; /* ignored: the batches are made in lt_loader_next */
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    assert_int_equal(lt_loader_data_bytes(ld), 5 * 3 * 4 + 5 * 2 * 4);
    assert_int_equal(atomic_load(&h.calls), 0); /* nothing made ahead */
    read_host(ld, 7);
    assert_int_equal(atomic_load(&h.calls), 7);
    assert_int_equal(atomic_load(&h.wrong_thread), 0);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);
}

/* A source whose fill fails for sample 13 (in batch 2 of 6 rows) `times` times. */
static void failing_fill_is_retried(int workers, int times, int silent) {
    struct host h;
    host_init(&h);
    h.fail_index = 13;
    h.silent = silent;
    atomic_store(&h.fail_left, times);
    struct lt_source src = host_source(&h, 30);
    src.thread_safe = 1;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    struct lt_loader_config c = lt_loader_defaults(6);
    c.shuffle = 0;
    c.workers = workers;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(lt_loader_next(ld, &b), LT_EINVAL);
    expect_error(silent ? "test_host: the source's fill failed" : "sample 13 is not there yet");
    uint32_t e;
    int64_t it;
    lt_loader_position(ld, &e, &it);
    assert_int_equal(e, 0);
    assert_int_equal(it, 2);
    /* the next call makes the same batch again */
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(b.epoch, 0);
    assert_int_equal(b.iter, 2);
    assert_int_equal(((const int32_t *)lt_tensor_data(b.x))[3 * 1], 13);
    read_host(ld, 8);
    lt_loader_free(ld);
    assert_int_equal(atomic_load(&h.releases), 0); /* the data set still uses it */
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);
}

static void a_failing_fill_fails_the_batch_and_is_retried(void **state) {
    (void)state;
    failing_fill_is_retried(0, 1, 0);
    failing_fill_is_retried(0, 1, 1);
    /* with workers the batch was made ahead: it failed once, and is made again */
    failing_fill_is_retried(2, 1, 0);
}

static void host_sources_are_released_once(void **state) {
    (void)state;
    struct host h;
    host_init(&h);
    struct lt_source src = host_source(&h, 10);
    struct lt_dataset *ds, *part;
    struct lt_loader *ld;
    /* the loader outlives the data set and its view */
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    CHECK(ctx, lt_dataset_range(ctx, ds, 2, 5, &part));
    struct lt_loader_config c = lt_loader_defaults(2);
    CHECK(ctx, lt_loader_new(ctx, part, &c, &ld));
    lt_dataset_free(ds);
    lt_dataset_free(part);
    assert_int_equal(atomic_load(&h.releases), 0);
    read_host(ld, 4);
    lt_loader_free(ld);
    assert_int_equal(atomic_load(&h.releases), 1);
    /* the data set outlives the loader */
    host_init(&h);
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    lt_loader_free(ld);
    assert_int_equal(atomic_load(&h.releases), 0);
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);
    /* a source refused is not released */
    host_init(&h);
    src.x.dtype = LT_DTYPE_U8; /* u8 must be (C, H, W) */
    ds = NULL;
    assert_int_equal(lt_dataset_from_source(ctx, &src, &ds), LT_EINVAL);
    expect_error("test_host: x must be f32 or i32 of any shape, or u8 (C, H, W), got u8 (3)");
    src = host_source(&h, 10);
    src.classes = 3; /* a class needs an i32 scalar y */
    assert_int_equal(lt_dataset_from_source(ctx, &src, &ds), LT_EINVAL);
    expect_error("y must be an i32 scalar (a class) with classes >= 1");
    src = host_source(&h, 10);
    src.classes = -1;
    assert_int_equal(lt_dataset_from_source(ctx, &src, &ds), LT_EINVAL);
    expect_error("test_host: classes must be in [0, 1000000], got -1");
    src = host_source(&h, 10);
    src.fill = NULL;
    assert_int_equal(lt_dataset_from_source(ctx, &src, &ds), LT_EINVAL);
    expect_error("a source needs a fill function");
    assert_null(ds);
    assert_int_equal(atomic_load(&h.releases), 0);
}

static void an_image_source_is_normalised_and_augmented(void **state) {
    (void)state;
    struct host h;
    host_init(&h);
    h.image = 1;
    struct lt_source src = host_source(&h, 9);
    src.thread_safe = 1;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_from_source(ctx, &src, &ds));
    assert_true(lt_dataset_is_image(ds));
    assert_int_equal(lt_dataset_classes(ds), 5);
    assert_string_equal(lt_dataset_class_name(ds, 4), "4");
    struct lt_loader_config c = lt_loader_defaults(4);
    c.shuffle = 0;
    c.workers = 2;
    c.n_norm = 2;
    c.mean[0] = 0.5f, c.mean[1] = 0.25f;
    c.std[0] = 2.0f, c.std[1] = 0.5f;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    for (int64_t i = 0; i < 9;) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(lt_tensor_ndim(b.x), 4);
        const float *x = lt_tensor_data(b.x);
        const int32_t *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size; r++, i++) {
            assert_int_equal(y[r], i % 5);
            for (int k = 0; k < 24; k++) {
                int ch = k / 12;
                assert_true(x[24 * r + k] ==
                            ((float)pixel(i, k) / 255.0f - c.mean[ch]) / c.std[ch]);
            }
        }
    }
    lt_loader_free(ld);
    /* augmentation works on it as on files, and as with files any worker count agrees */
    c = lt_loader_defaults(4);
    c.crop_h = 2, c.crop_w = 4, c.crop_padding = 1, c.random_crop = 1, c.hflip = 1;
    same_under_any_workers(ds, c);
    lt_dataset_free(ds);
    assert_int_equal(atomic_load(&h.releases), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(workers_give_identical_batches),
        cmocka_unit_test(data_bytes_are_the_batch_buffers),
        cmocka_unit_test(shards_slice_the_global_batches),
        cmocka_unit_test(ranges_read_their_samples),
        cmocka_unit_test(splits_are_disjoint_seeded_and_in_order),
        cmocka_unit_test(x_shape_follows_the_transforms),
        cmocka_unit_test(channels_have_their_own_mean_and_std),
        cmocka_unit_test(augmentation_is_seeded_by_epoch_and_sample),
        cmocka_unit_test(configs_that_do_not_fit_fail),
        cmocka_unit_test(host_sources_fill_from_threads),
        cmocka_unit_test(a_caller_thread_source_fills_in_lt_loader_next),
        cmocka_unit_test(a_failing_fill_fails_the_batch_and_is_retried),
        cmocka_unit_test(host_sources_are_released_once),
        cmocka_unit_test(an_image_source_is_normalised_and_augmented),
    };
    return cmocka_run_group_tests_name("loader", tests, setup, teardown);
}
