/* Data sets and loaders: the real Fashion-MNIST files, bad data sets, and the loader's
 * order (a permutation per epoch from (seed, epoch) only), batching, resume and its
 * worker threads (the same batches as filling them in the caller's thread). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "kernels/rng.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-dataset"
#include "tests/file_suite.h"

/* ---- Fashion-MNIST ---------------------------------------------------------------- */

static void check_fmnist(const char *split, int64_t n) {
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_fmnist(ctx, NULL, split, &ds));
    assert_int_equal(lt_dataset_size(ds), n);
    assert_int_equal(lt_dataset_classes(ds), 10);
    assert_string_equal(lt_dataset_class_name(ds, 0), "T-shirt/top");
    assert_string_equal(lt_dataset_class_name(ds, 9), "Ankle boot");
    assert_null(lt_dataset_class_name(ds, 10));
    assert_true(lt_dataset_is_image(ds));
    struct lt_sample_shape xs, ys;
    lt_dataset_sample_shape(ds, &xs, &ys);
    assert_int_equal(xs.dtype, LT_DTYPE_U8);
    assert_int_equal(xs.ndim, 3);
    assert_int_equal(xs.shape[0], 1);
    assert_int_equal(xs.shape[1], 28);
    assert_int_equal(xs.shape[2], 28);
    assert_int_equal(ys.dtype, LT_DTYPE_I32);
    assert_int_equal(ys.ndim, 0);
    /* one epoch in the files' order, x = pixel / 255 */
    struct lt_loader_config c = lt_loader_defaults(1000);
    c.shuffle = 0;
    c.workers = 0;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    int64_t count[10] = {0}, rows = 0;
    double sum = 0, sq = 0;
    struct lt_batch b;
    do {
        CHECK(ctx, lt_loader_next(ld, &b));
        const int32_t *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size; r++) {
            assert_true(y[r] >= 0 && y[r] < 10);
            count[y[r]]++;
        }
        const float *x = lt_tensor_data(b.x);
        for (int64_t i = 0; i < lt_tensor_numel(b.x); i++) {
            sum += x[i];
            sq += (double)x[i] * x[i];
        }
        rows += b.size;
    } while (!b.last);
    assert_int_equal(rows, n);
    /* balanced classes: n / 10 of each */
    for (int k = 0; k < 10; k++)
        assert_int_equal(count[k], n / 10);
    /* the usual normalisation constants are the training set's statistics */
    double m = (double)n * 784, mean = sum / m, std = sqrt(sq / m - mean * mean);
    assert_true(fabs(mean - LT_FMNIST_MEAN) < 0.003);
    assert_true(fabs(std - LT_FMNIST_STD) < 0.003);
    lt_loader_free(ld);
    lt_dataset_free(ds);
}

static void fmnist_train_and_test_load(void **state) {
    (void)state;
    check_fmnist("train", 60000);
    check_fmnist("test", 10000);
}

/* IDX bytes for u8 dims, data from fill (or zeros) */
static size_t idx(unsigned char *buf, int ndim, const uint32_t *dims, const uint8_t *data) {
    size_t n = 0, count = 1;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 8;
    buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        for (int k = 3; k >= 0; k--)
            buf[n++] = (unsigned char)(dims[i] >> (8 * k));
        count *= dims[i];
    }
    for (size_t i = 0; i < count; i++)
        buf[n++] = data ? data[i] : 0;
    return n;
}

static void fmnist_bad_files_fail_with_messages(void **state) {
    (void)state;
    struct lt_dataset *ds = NULL;
    assert_int_equal(lt_dataset_open_fmnist(ctx, NULL, "val", &ds), LT_EINVAL);
    expect_error("Fashion-MNIST split must be 'train' or 'test', got 'val'");
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EIO);
    expect_error("no Fashion-MNIST images in ");
    expect_error("install the dataset-fashion-mnist package");

    static unsigned char buf[64 * 32 * 32];
    char path[512];
    size_t n = idx(buf, 3, (uint32_t[]){5, 28, 28}, NULL);
    assert_int_equal(tmpdir_write(dir, "train-images-idx3-ubyte.gz", buf, n, 1, path), 0);
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EIO);
    expect_error("no Fashion-MNIST labels in ");
    /* uncompressed files are found too */
    n = idx(buf, 1, (uint32_t[]){4}, NULL);
    assert_int_equal(tmpdir_write(dir, "train-labels-idx1-ubyte", buf, n, 0, path), 0);
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EINVAL);
    expect_error("train-images-idx3-ubyte.gz has 5 samples but ");
    expect_error("train-labels-idx1-ubyte has 4 targets");
    n = idx(buf, 1, (uint32_t[]){5}, (const uint8_t[]){1, 2, 3, 12, 4});
    assert_int_equal(tmpdir_write(dir, "train-labels-idx1-ubyte", buf, n, 0, path), 0);
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EINVAL);
    expect_error("train-labels-idx1-ubyte: label 3 is 12, outside [0, 10)");
    n = idx(buf, 3, (uint32_t[]){5, 32, 32}, NULL);
    assert_int_equal(tmpdir_write(dir, "train-images-idx3-ubyte.gz", buf, n, 1, path), 0);
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EINVAL);
    expect_error("train-images-idx3-ubyte.gz: Fashion-MNIST images must be (N, 28, 28), got "
                 "u8 (5, 32, 32)");
    /* a damaged file is lt_idx_read's message */
    n = idx(buf, 3, (uint32_t[]){5, 28, 28}, NULL);
    assert_int_equal(tmpdir_write(dir, "train-images-idx3-ubyte.gz", buf, n - 1, 1, path), 0);
    assert_int_equal(lt_dataset_open_fmnist(ctx, dir, "train", &ds), LT_EINVAL);
    expect_error("header says 5 × 28 × 28 bytes but the file has 3919");
    assert_null(ds);
}

/* ---- data sets from tensors --------------------------------------------------------- */

/* n images (n, 1, 2) whose pixels encode their index (i mod 256, i / 256), label i mod
 * 10: a loader's output tells which sample each row came from. */
static struct lt_dataset *indexed(int64_t n) {
    struct lt_tensor *img, *lab;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 3, (int64_t[]){n, 1, 2}, &img));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){n}, &lab));
    uint8_t *p = lt_tensor_data(img);
    int32_t *y = lt_tensor_data(lab);
    for (int64_t i = 0; i < n; i++) {
        p[2 * i] = (uint8_t)(i % 256);
        p[2 * i + 1] = (uint8_t)(i / 256);
        y[i] = (int32_t)(i % 10);
    }
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_new(ctx, img, lab, 10, &ds));
    lt_tensor_free(img);
    lt_tensor_free(lab);
    return ds;
}

/* The sample row r of an indexed batch came from (x = pixel / 255, mean 0, std 1). */
static int64_t sample_of(const struct lt_batch *b, int64_t r) {
    const float *x = lt_tensor_data(b->x);
    long lo = lrintf(x[2 * r] * 255.0f), hi = lrintf(x[2 * r + 1] * 255.0f);
    int64_t i = hi * 256 + lo;
    assert_int_equal(((const int32_t *)lt_tensor_data(b->y))[r], i % 10);
    return i;
}

static void dataset_new_checks_its_tensors(void **state) {
    (void)state;
    struct lt_tensor *f, *scalar, *img, *lab, *lab2;
    struct lt_dataset *ds = NULL;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 3, (int64_t[]){4, 2, 2}, &f));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 0, NULL, &scalar));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 4, (int64_t[]){4, 3, 2, 2}, &img));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 1, (int64_t[]){4}, &lab));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 2, (int64_t[]){4, 1}, &lab2));
    assert_int_equal(lt_dataset_new(ctx, scalar, lab, 10, &ds), LT_EINVAL);
    expect_error("dataset: x must be u8, f32, f16, bf16 or i32 (N, ...), got f32 ()");
    assert_int_equal(lt_dataset_new(ctx, img, lab2, 10, &ds), LT_EINVAL);
    expect_error("dataset: labels must be u8 or i32 (N), got u8 (4, 1)");
    assert_int_equal(lt_dataset_new(ctx, img, f, 10, &ds), LT_EINVAL);
    expect_error("dataset: labels must be u8 or i32 (N), got f32 (4, 2, 2)");
    assert_int_equal(lt_dataset_new(ctx, img, lab, -1, &ds), LT_EINVAL);
    expect_error("dataset: classes must be in [0, 1000000], got -1");
    assert_int_equal(lt_dataset_new(ctx, img, lab, LT_MAX_CLASSES + 1, &ds), LT_EINVAL);
    expect_error("got 1000001");
    /* classes 0 is regression: the target must be a float */
    assert_int_equal(lt_dataset_new(ctx, img, lab, 0, &ds), LT_EINVAL);
    expect_error("dataset: a regression target (classes 0) must be f32, f16 or bf16 (N, ...), "
                 "got u8 (4)");
    lt_tensor_set(lab, 2, 10);
    assert_int_equal(lt_dataset_new(ctx, img, lab, 10, &ds), LT_EINVAL);
    expect_error("dataset: label 2 is 10, outside [0, 10)");
    assert_null(ds);
    struct lt_tensor *lab3;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 1, (int64_t[]){3}, &lab3));
    assert_int_equal(lt_dataset_new(ctx, img, lab3, 10, &ds), LT_EINVAL);
    expect_error("dataset has 4 samples but dataset has 3 targets");
    lt_tensor_set(lab, 2, 9);
    CHECK(ctx, lt_dataset_new(ctx, img, lab, 10, &ds));
    assert_string_equal(lt_dataset_class_name(ds, 7), "7");
    assert_true(lt_dataset_is_image(ds));
    /* the labels were copied: a later change to the caller's tensor does not show */
    lt_tensor_set(lab, 2, 4);
    struct lt_loader_config c = lt_loader_defaults(4);
    c.shuffle = 0;
    c.workers = 0;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(((const int32_t *)lt_tensor_data(b.y))[2], 9);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    /* f32 x is a data set too, not an image one; and a float target makes a regression */
    CHECK(ctx, lt_dataset_new(ctx, f, f, 0, &ds));
    assert_false(lt_dataset_is_image(ds));
    assert_int_equal(lt_dataset_classes(ds), 0);
    assert_null(lt_dataset_class_name(ds, 0));
    struct lt_sample_shape xs, ys;
    lt_dataset_sample_shape(ds, &xs, &ys);
    assert_int_equal(xs.dtype, LT_DTYPE_F32);
    assert_int_equal(xs.ndim, 2);
    assert_int_equal(ys.dtype, LT_DTYPE_F32);
    assert_int_equal(ys.ndim, 2);
    assert_int_equal(ys.shape[1], 2);
    lt_dataset_free(ds);
    lt_dataset_free(NULL);
    lt_tensor_free(f);
    lt_tensor_free(scalar);
    lt_tensor_free(img);
    lt_tensor_free(lab);
    lt_tensor_free(lab2);
    lt_tensor_free(lab3);
}

/* ---- loaders ------------------------------------------------------------------------ */

static struct lt_loader *loader(struct lt_dataset *ds, int64_t batch, int shuffle, int drop_last,
                                uint64_t seed, int workers) {
    struct lt_loader_config c = lt_loader_defaults(batch);
    c.shuffle = shuffle;
    c.drop_last = drop_last;
    c.seed = seed;
    c.workers = workers;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    return ld;
}

/* The sample order of the next `count` samples' worth of batches. */
static void take(struct lt_loader *ld, int64_t count, int64_t *order) {
    int64_t k = 0;
    while (k < count) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        for (int64_t r = 0; r < b.size && k < count; r++)
            order[k++] = sample_of(&b, r);
    }
}

static void batches_cover_each_epoch_once(void **state) {
    (void)state;
    struct lt_dataset *ds = indexed(103);
    for (int workers = 0; workers < 3; workers++) {
        struct lt_loader *ld = loader(ds, 10, 1, 0, 7, workers);
        assert_int_equal(lt_loader_batches(ld), 11);
        /* workers + 1 batch buffers, one without workers */
        size_t buffers = workers ? (size_t)workers + 1 : 1;
        assert_int_equal(lt_loader_data_bytes(ld), buffers * (10 * 2 * 4 + 10 * 4));
        for (uint32_t epoch = 0; epoch < 3; epoch++) {
            int seen[103] = {0};
            for (int64_t it = 0; it < 11; it++) {
                struct lt_batch b;
                CHECK(ctx, lt_loader_next(ld, &b));
                assert_int_equal(b.epoch, epoch);
                assert_int_equal(b.iter, it);
                assert_int_equal(b.sample_base, it * 10);
                assert_int_equal(b.last, it == 10);
                int64_t size = it == 10 ? 3 : 10;
                assert_int_equal(b.size, size);
                /* x (B, 1, 1, 2), y (B): a short batch's tensors are short too */
                assert_int_equal(lt_tensor_ndim(b.x), 4);
                assert_int_equal(lt_tensor_shape(b.x)[0], size);
                assert_int_equal(lt_tensor_shape(b.x)[1], 1);
                assert_int_equal(lt_tensor_shape(b.x)[3], 2);
                assert_int_equal(lt_tensor_dtype(b.y), LT_DTYPE_I32);
                assert_int_equal(lt_tensor_shape(b.y)[0], size);
                for (int64_t r = 0; r < size; r++)
                    seen[sample_of(&b, r)]++;
            }
            for (int i = 0; i < 103; i++)
                assert_int_equal(seen[i], 1);
        }
        uint32_t e;
        int64_t it;
        lt_loader_position(ld, &e, &it);
        assert_int_equal(e, 3);
        assert_int_equal(it, 0);
        lt_loader_free(ld);
    }
    lt_dataset_free(ds);
}

static void order_depends_on_seed_and_epoch_only(void **state) {
    (void)state;
    struct lt_dataset *ds = indexed(300);
    int64_t a[600], b[600], c[600];
    struct lt_loader *l1 = loader(ds, 32, 1, 0, 11, 1), *l2 = loader(ds, 7, 1, 0, 11, 0);
    struct lt_loader *l3 = loader(ds, 32, 1, 0, 12, 1);
    take(l1, 600, a); /* epochs 0 and 1 */
    take(l2, 600, b); /* the same, in batches of another size */
    take(l3, 600, c);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, 300 * sizeof *a) != 0);       /* another seed */
    assert_true(memcmp(a, a + 300, 300 * sizeof *a) != 0); /* another epoch */
    int moved = 0;
    for (int i = 0; i < 300; i++)
        moved += a[i] != i;
    assert_true(moved > 250);
    /* the documented formula, so that other tools can reproduce the order */
    int64_t o[300];
    for (int i = 0; i < 300; i++)
        o[i] = i;
    uint64_t key = lt_rng_key(11, 0x73687566666c65ull, 1, 0);
    for (int64_t i = 299; i > 0; i--) {
        uint64_t j = lt_mix64(key + (uint64_t)i * 0x9e3779b97f4a7c15ull) % (uint64_t)(i + 1);
        int64_t t = o[i];
        o[i] = o[j];
        o[j] = t;
    }
    assert_memory_equal(o, a + 300, sizeof o);
    lt_loader_free(l1);
    lt_loader_free(l2);
    lt_loader_free(l3);
    /* without shuffle: the file's order */
    struct lt_loader *l4 = loader(ds, 64, 0, 0, 11, 1);
    take(l4, 600, a);
    for (int i = 0; i < 600; i++)
        assert_int_equal(a[i], i % 300);
    lt_loader_free(l4);
    lt_dataset_free(ds);
}

static void drop_last_skips_the_short_batch(void **state) {
    (void)state;
    struct lt_dataset *ds = indexed(103);
    struct lt_loader *ld = loader(ds, 10, 1, 1, 3, 1);
    assert_int_equal(lt_loader_batches(ld), 10);
    for (int k = 0; k < 25; k++) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(b.size, 10);
        assert_int_equal(lt_tensor_shape(b.x)[0], 10);
        assert_int_equal(b.epoch, k / 10);
        assert_int_equal(b.iter, k % 10);
        assert_int_equal(b.last, k % 10 == 9);
    }
    lt_loader_free(ld);
    /* an exact multiple has no short batch either way */
    ld = loader(ds, 103, 1, 0, 3, 1);
    assert_int_equal(lt_loader_batches(ld), 1);
    lt_loader_free(ld);
    lt_dataset_free(ds);
}

static void seek_resumes_where_a_run_stopped(void **state) {
    (void)state;
    struct lt_dataset *ds = indexed(103);
    for (int workers = 0; workers < 3; workers++) {
        struct lt_loader *a = loader(ds, 10, 1, 0, 5, workers);
        struct lt_loader *b = loader(ds, 10, 1, 0, 5, workers);
        int64_t skip[250], n = 0;
        for (int i = 0; i < 25; i++) {
            struct lt_batch x;
            CHECK(ctx, lt_loader_next(a, &x));
            for (int64_t r = 0; r < x.size; r++)
                skip[n++] = sample_of(&x, r);
        }
        uint32_t e;
        int64_t it;
        lt_loader_position(a, &e, &it);
        /* 25 batches: epochs 0 and 1 (22 batches, of which 2 short) and 3 of epoch 2 */
        assert_int_equal(e, 2);
        assert_int_equal(it, 3);
        CHECK(ctx, lt_loader_seek(b, e, it));
        for (int k = 0; k < 15; k++) {
            struct lt_batch x, y;
            CHECK(ctx, lt_loader_next(a, &x));
            CHECK(ctx, lt_loader_next(b, &y));
            assert_int_equal(x.epoch, y.epoch);
            assert_int_equal(x.iter, y.iter);
            assert_int_equal(x.size, y.size);
            assert_memory_equal(lt_tensor_data(x.x), lt_tensor_data(y.x), lt_tensor_bytes(x.x));
            assert_memory_equal(lt_tensor_data(x.y), lt_tensor_data(y.y), lt_tensor_bytes(x.y));
        }
        /* seeking back replays; seek(e, 0) starts an epoch */
        CHECK(ctx, lt_loader_seek(b, 1, 0));
        struct lt_batch first;
        CHECK(ctx, lt_loader_next(b, &first));
        assert_int_equal(first.epoch, 1);
        assert_int_equal(first.iter, 0);
        assert_int_equal(sample_of(&first, 0), skip[103]);
        assert_int_equal(lt_loader_seek(b, 1, 11), LT_EINVAL);
        expect_error("loader: batch 11 of an epoch outside [0, 11)");
        assert_int_equal(lt_loader_seek(b, 1, -1), LT_EINVAL);
        lt_loader_free(a);
        lt_loader_free(b);
    }
    lt_dataset_free(ds);
}

/* Random 28x28 pixels, random labels in [0, 10); the tensors go to *img and *lab when
 * those are not NULL (the caller frees them). */
static struct lt_dataset *noise(int64_t n, int channels, struct lt_tensor **img_out,
                                struct lt_tensor **lab_out) {
    struct lt_tensor *img, *lab;
    int64_t shape4[4] = {n, channels, 28, 28}, shape3[3] = {n, 28, 28};
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, channels ? 4 : 3, channels ? shape4 : shape3, &img));
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 1, (int64_t[]){n}, &lab));
    uint8_t *p = lt_tensor_data(img), *y = lt_tensor_data(lab);
    for (int64_t i = 0; i < lt_tensor_numel(img); i++)
        p[i] = (uint8_t)lt_mix64((uint64_t)i);
    for (int64_t i = 0; i < n; i++)
        y[i] = (uint8_t)(lt_mix64((uint64_t)~i) % 10);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_new(ctx, img, lab, 10, &ds));
    if (img_out)
        *img_out = img;
    else
        lt_tensor_free(img);
    if (lab_out)
        *lab_out = lab;
    else
        lt_tensor_free(lab);
    return ds;
}

static void workers_match_the_callers_thread(void **state) {
    (void)state;
    struct lt_dataset *ds = noise(500, 0, NULL, NULL);
    struct lt_loader_config c = lt_loader_defaults(64);
    c.seed = 99;
    c.mean[0] = LT_FMNIST_MEAN;
    c.std[0] = LT_FMNIST_STD;
    c.flat = 1;
    struct lt_loader *ld[3];
    const int workers[3] = {0, 1, 3};
    for (int k = 0; k < 3; k++) {
        c.workers = workers[k];
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld[k]));
    }
    lt_dataset_free(ds); /* the loaders keep what they need */
    for (int i = 0; i < 40; i++) {
        if (i == 17) /* a seek in the middle, while the threads work ahead */
            for (int k = 0; k < 3; k++)
                CHECK(ctx, lt_loader_seek(ld[k], 5, 2));
        struct lt_batch x;
        CHECK(ctx, lt_loader_next(ld[0], &x));
        assert_int_equal(lt_tensor_ndim(x.x), 2);
        assert_int_equal(lt_tensor_shape(x.x)[1], 784);
        assert_int_equal(lt_tensor_shape(x.x)[0], x.size);
        for (int k = 1; k < 3; k++) {
            struct lt_batch y;
            CHECK(ctx, lt_loader_next(ld[k], &y));
            assert_int_equal(x.epoch, y.epoch);
            assert_int_equal(x.iter, y.iter);
            assert_int_equal(x.size, y.size);
            assert_int_equal(lt_tensor_shape(y.x)[0], y.size);
            assert_memory_equal(lt_tensor_data(x.x), lt_tensor_data(y.x), lt_tensor_bytes(x.x));
            assert_memory_equal(lt_tensor_data(x.y), lt_tensor_data(y.y), lt_tensor_bytes(x.y));
        }
    }
    for (int k = 0; k < 3; k++)
        lt_loader_free(ld[k]);
}

static void pixels_are_normalised_in_f32(void **state) {
    (void)state;
    struct lt_tensor *img, *lab;
    struct lt_dataset *ds = noise(20, 3, &img, &lab);
    struct lt_loader_config c = lt_loader_defaults(8);
    c.shuffle = 0;
    c.mean[0] = 0.5f;
    c.std[0] = 0.25f;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(lt_tensor_ndim(b.x), 4);
    assert_int_equal(lt_tensor_shape(b.x)[1], 3);
    assert_int_equal(lt_tensor_shape(b.x)[2], 28);
    const uint8_t *p = lt_tensor_data(img);
    const float *x = lt_tensor_data(b.x);
    for (int64_t i = 0; i < lt_tensor_numel(b.x); i++)
        assert_true(x[i] == ((float)p[i] / 255.0f - 0.5f) / 0.25f);
    const int32_t *y = lt_tensor_data(b.y);
    const uint8_t *l = lt_tensor_data(lab);
    for (int i = 0; i < 8; i++)
        assert_int_equal(y[i], l[i]);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    lt_tensor_free(img);
    lt_tensor_free(lab);
}

static void bad_loader_configs_fail(void **state) {
    (void)state;
    struct lt_dataset *ds = indexed(5);
    struct lt_loader *ld = NULL;
    struct lt_loader_config c = lt_loader_defaults(0);
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("loader: batch must be at least 1, got 0");
    c = lt_loader_defaults(2);
    c.std[0] = 0;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("std must be finite and > 0");
    c.std[0] = NAN;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("std must be finite and > 0");
    c = lt_loader_defaults(2);
    c.workers = 65;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("loader: workers must be in [0, 64], got 65");
    c.workers = -1;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    c = lt_loader_defaults(8);
    c.drop_last = 1;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error("loader: a data set of 5 samples gives no batch of 8 with drop_last");
    assert_null(ld);
    c.drop_last = 0; /* one short batch is an epoch */
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(b.size, 5);
    assert_true(b.last);
    lt_loader_free(ld);
    lt_loader_free(NULL);
    lt_dataset_free(ds);
}

static void loaders_shut_down_cleanly_at_any_point(void **state) {
    (void)state;
    struct lt_dataset *ds = noise(300, 0, NULL, NULL);
    for (int k = 0; k < 60; k++) {
        struct lt_loader *ld = loader(ds, 16, 1, 0, (uint64_t)k, 1 + k % 3);
        for (int i = 0; i < k % 4; i++) {
            struct lt_batch b;
            CHECK(ctx, lt_loader_next(ld, &b));
            if (k % 3 == 0)
                CHECK(ctx, lt_loader_seek(ld, 1, 3));
        }
        lt_loader_free(ld); /* the threads may be mid-batch or waiting */
    }
    lt_dataset_free(ds);
}

static void fmnist_epoch_through_the_loader(void **state) {
    (void)state;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_fmnist(ctx, LT_FMNIST_DIR, "test", &ds));
    struct lt_loader_config c = lt_loader_defaults(128);
    c.mean[0] = LT_FMNIST_MEAN;
    c.std[0] = LT_FMNIST_STD;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    assert_int_equal(lt_loader_batches(ld), 79);
    double sum = 0, sq = 0;
    int64_t rows = 0, classes[10] = {0};
    struct lt_batch b;
    do {
        CHECK(ctx, lt_loader_next(ld, &b));
        const float *x = lt_tensor_data(b.x);
        for (int64_t i = 0; i < lt_tensor_numel(b.x); i++) {
            sum += x[i];
            sq += (double)x[i] * x[i];
        }
        for (int64_t r = 0; r < b.size; r++)
            classes[((const int32_t *)lt_tensor_data(b.y))[r]]++;
        rows += b.size;
    } while (!b.last);
    assert_int_equal(rows, 10000);
    assert_int_equal(b.size, 10000 % 128);
    for (int k = 0; k < 10; k++)
        assert_int_equal(classes[k], 1000);
    /* normalised with the training set's statistics: near 0 and 1 on the test set */
    double n = 10000.0 * 784, mean = sum / n, std = sqrt(sq / n - mean * mean);
    assert_true(fabs(mean) < 0.03 && fabs(std - 1) < 0.03);
    lt_loader_free(ld);
    lt_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fmnist_train_and_test_load),
        cmocka_unit_test(fmnist_bad_files_fail_with_messages),
        cmocka_unit_test(dataset_new_checks_its_tensors),
        cmocka_unit_test(batches_cover_each_epoch_once),
        cmocka_unit_test(order_depends_on_seed_and_epoch_only),
        cmocka_unit_test(drop_last_skips_the_short_batch),
        cmocka_unit_test(seek_resumes_where_a_run_stopped),
        cmocka_unit_test(workers_match_the_callers_thread),
        cmocka_unit_test(pixels_are_normalised_in_f32),
        cmocka_unit_test(bad_loader_configs_fail),
        cmocka_unit_test(loaders_shut_down_cleanly_at_any_point),
        cmocka_unit_test(fmnist_epoch_through_the_loader),
    };
    return cmocka_run_group_tests_name("dataset", tests, setup, teardown);
}
