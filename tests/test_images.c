/* Image data sets: PNG folders laid out as root/<class>/<file>.png and list files, written
 * with lt_png_write into a temporary directory and read back through loaders; every way
 * a folder, a file or a list can be wrong, each named in the message. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "kernels/rng.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-images"
#include "tests/file_suite.h"

/* dir/<rel> into path (PATH_MAX bytes). */
static const char *at(char *path, const char *rel) {
    snprintf(path, PATH_MAX, "%s/%s", dir, rel);
    return path;
}

/* Makes the folder dir/<rel>. */
static void folder(const char *rel) {
    char path[PATH_MAX];
    if (mkdir(at(path, rel), 0755) != 0)
        fail_msg("cannot make %s", path);
}

/* The pixel k of the image made from `seed`: never 0 nor 255, so a conversion that
 * clips or drops a channel shows. */
static uint8_t pixel(int seed, int64_t k) {
    return (uint8_t)(1 + lt_mix64((uint64_t)seed * 1000003u + (uint64_t)k) % 254);
}

/* Writes dir/<rel> as a PNG of (c, h, w) pixels made from seed. */
static void png(const char *rel, int c, int h, int w, int seed) {
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 3, (int64_t[]){c, h, w}, &t));
    uint8_t *p = lt_tensor_data(t);
    for (int64_t k = 0; k < lt_tensor_numel(t); k++)
        p[k] = pixel(seed, k);
    char path[PATH_MAX];
    CHECK(ctx, lt_png_write(ctx, at(path, rel), t));
    lt_tensor_free(t);
}

/* Writes text to dir/<rel>. */
static void text(const char *rel, const char *s) {
    char path[512];
    assert_int_equal(tmpdir_write(dir, rel, s, strlen(s), 0, path), 0);
}

static struct lt_image_options options(void) {
    struct lt_image_options o = {0};
    o.same_size = 1;
    return o;
}

static struct lt_loader_config in_order(int64_t batch, int workers) {
    struct lt_loader_config c = lt_loader_defaults(batch);
    c.shuffle = 0;
    c.workers = workers;
    return c;
}

/* Checks that the loader's next rows hold images made from seeds[0 .. n-1], (c, h, w)
 * each, as pixel / 255 (mean 0, std 1), with labels[i]. */
static void expect_images(struct lt_loader *ld, int n, const int *seeds, const int *labels, int c,
                          int h, int w) {
    int64_t per = (int64_t)c * h * w;
    for (int i = 0; i < n;) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(lt_tensor_numel(b.x), b.size * per);
        const float *x = lt_tensor_data(b.x);
        const int32_t *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size && i < n; r++, i++) {
            assert_int_equal(y[r], labels[i]);
            for (int64_t k = 0; k < per; k++)
                if (x[r * per + k] != (float)pixel(seeds[i], k) / 255.0f)
                    fail_msg("row %d, element %lld: %g, want %d / 255", i, (long long)k,
                             (double)x[r * per + k] * 255, pixel(seeds[i], k));
        }
    }
}

/* train/: the classes "cat" (1 file), "Dog" (2) and "bird" (3), RGB 4 × 5, with a hidden
 * file and folder and a file beside the class folders, all to be ignored. Sorted
 * bytewise the classes are Dog, bird, cat; each file is made from the seed that is its
 * index in that order. */
static void make_train(const char *root) {
    char rel[256];
    folder(root);
    static const char *files[6] = {"Dog/1.png",  "Dog/10.png", "bird/0.png",
                                   "bird/2.png", "bird/b.png", "cat/x.png"};
    static const char *classes[3] = {"cat", "Dog", "bird"};
    for (int k = 0; k < 3; k++) {
        snprintf(rel, sizeof rel, "%s/%s", root, classes[k]);
        folder(rel);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(rel, sizeof rel, "%s/%s", root, files[i]);
        png(rel, 3, 4, 5, i);
    }
    snprintf(rel, sizeof rel, "%s/Dog/.notes", root);
    text(rel, "not an image\n");
    snprintf(rel, sizeof rel, "%s/.cache", root);
    folder(rel);
    snprintf(rel, sizeof rel, "%s/README", root);
    text(rel, "the layout is root/<class>/<image>.png\n");
}

static const int train_seeds[6] = {0, 1, 2, 3, 4, 5};
static const int train_labels[6] = {0, 0, 1, 1, 1, 2};

static void folders_read_as_image_folder_does(void **state) {
    (void)state;
    char root[PATH_MAX];
    make_train("train");
    struct lt_image_options o = options();
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "train"), NULL, 0, &o, &ds));
    assert_int_equal(lt_dataset_size(ds), 6);
    assert_int_equal(lt_dataset_classes(ds), 3);
    assert_string_equal(lt_dataset_class_name(ds, 0), "Dog");
    assert_string_equal(lt_dataset_class_name(ds, 1), "bird");
    assert_string_equal(lt_dataset_class_name(ds, 2), "cat");
    assert_null(lt_dataset_class_name(ds, 3));
    assert_string_equal(lt_dataset_origin(ds), root);
    assert_true(lt_dataset_is_image(ds));
    assert_int_equal(lt_dataset_skipped(ds), 0);
    struct lt_sample_shape xs, ys;
    lt_dataset_sample_shape(ds, &xs, &ys);
    assert_int_equal(xs.dtype, LT_DTYPE_U8);
    assert_int_equal(xs.ndim, 3);
    assert_int_equal(xs.shape[0], 3);
    assert_int_equal(xs.shape[1], 4);
    assert_int_equal(xs.shape[2], 5);
    assert_int_equal(ys.dtype, LT_DTYPE_I32);
    assert_int_equal(ys.ndim, 0);
    for (int workers = 0; workers < 3; workers += 2) {
        struct lt_loader_config c = in_order(4, workers);
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        expect_images(ld, 6, train_seeds, train_labels, 3, 4, 5);
        lt_loader_free(ld);
    }

    /* two workers decode the same batches as the caller's thread, shuffled and augmented,
     * over three epochs */
    struct lt_loader_config c = lt_loader_defaults(4);
    c.seed = 17;
    c.crop_h = 4, c.crop_w = 5, c.crop_padding = 1, c.random_crop = 1, c.hflip = 1;
    c.n_norm = 3;
    c.mean[0] = 0.1f, c.mean[1] = 0.2f, c.mean[2] = 0.3f;
    c.std[0] = c.std[1] = c.std[2] = 0.5f;
    struct lt_loader *l0, *l2;
    c.workers = 0;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &l0));
    c.workers = 2;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &l2));
    lt_dataset_free(ds); /* the loaders keep the files' list */
    for (int k = 0; k < 6; k++) {
        struct lt_batch a, b;
        CHECK(ctx, lt_loader_next(l0, &a));
        CHECK(ctx, lt_loader_next(l2, &b));
        assert_int_equal(a.epoch, b.epoch);
        assert_int_equal(a.iter, b.iter);
        assert_int_equal(a.size, b.size);
        assert_memory_equal(lt_tensor_data(a.x), lt_tensor_data(b.x), lt_tensor_bytes(a.x));
        assert_memory_equal(lt_tensor_data(a.y), lt_tensor_data(b.y), lt_tensor_bytes(a.y));
    }
    lt_loader_free(l0);
    lt_loader_free(l2);
}

static void channels_convert_between_gray_and_colour(void **state) {
    (void)state;
    char root[PATH_MAX];
    folder("gray");
    folder("gray/a");
    folder("gray/b");
    png("gray/a/0.png", 1, 3, 4, 10);
    png("gray/b/0.png", 1, 3, 4, 11);
    struct lt_image_options o = options();
    struct lt_dataset *ds;
    struct lt_sample_shape xs;
    struct lt_loader *ld;
    struct lt_loader_config c = in_order(2, 0);
    /* as the files are: one channel */
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "gray"), NULL, 0, &o, &ds));
    lt_dataset_sample_shape(ds, &xs, NULL);
    assert_int_equal(xs.shape[0], 1);
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    expect_images(ld, 2, (const int[]){10, 11}, (const int[]){0, 1}, 1, 3, 4);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    /* channels 3: gray replicated into R, G and B */
    o.channels = 3;
    CHECK(ctx, lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds));
    lt_dataset_sample_shape(ds, &xs, NULL);
    assert_int_equal(xs.shape[0], 3);
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(lt_tensor_shape(b.x)[1], 3);
    const float *x = lt_tensor_data(b.x);
    for (int r = 0; r < 2; r++)
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 12; k++)
                assert_true(x[(r * 3 + ch) * 12 + k] == (float)pixel(10 + r, k) / 255.0f);
    lt_loader_free(ld);
    lt_dataset_free(ds);

    /* channels 1 on colour files: ITU-R 601-2 luma */
    folder("rgb");
    folder("rgb/a");
    png("rgb/a/0.png", 3, 3, 4, 12);
    o.channels = 1;
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "rgb"), NULL, 0, &o, &ds));
    lt_dataset_sample_shape(ds, &xs, NULL);
    assert_int_equal(xs.shape[0], 1);
    c = in_order(1, 0);
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    CHECK(ctx, lt_loader_next(ld, &b));
    x = lt_tensor_data(b.x);
    for (int k = 0; k < 12; k++) {
        int v = 299 * pixel(12, k) + 587 * pixel(12, 12 + k) + 114 * pixel(12, 24 + k);
        assert_true(x[k] == (float)((v + 500) / 1000) / 255.0f);
    }
    lt_loader_free(ld);
    lt_dataset_free(ds);
    o.channels = 2;
    assert_int_equal(lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds), LT_EINVAL);
    expect_error("channels must be 0 (as the files are), 1 or 3, got 2");
}

static void a_test_split_has_the_training_classes(void **state) {
    (void)state;
    char root[PATH_MAX];
    make_train("t_train");
    struct lt_image_options o = options();
    struct lt_dataset *train, *test = NULL;
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "t_train"), NULL, 0, &o, &train));
    const char *names[3];
    for (int i = 0; i < 3; i++)
        names[i] = lt_dataset_class_name(train, i);
    /* the same classes, other files: labels by the training classes */
    folder("t_test");
    folder("t_test/Dog");
    folder("t_test/bird");
    folder("t_test/cat");
    png("t_test/bird/7.png", 3, 4, 5, 30);
    png("t_test/cat/1.png", 3, 4, 5, 31);
    png("t_test/cat/2.png", 3, 4, 5, 32);
    png("t_test/Dog/0.png", 3, 4, 5, 33);
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "t_test"), names, 3, &o, &test));
    assert_int_equal(lt_dataset_classes(test), 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(lt_dataset_class_name(test, i), names[i]);
    struct lt_loader_config c = in_order(4, 0);
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, test, &c, &ld));
    expect_images(ld, 4, (const int[]){33, 30, 31, 32}, (const int[]){0, 1, 2, 2}, 3, 4, 5);
    lt_loader_free(ld);
    lt_dataset_free(test);
    test = NULL;

    /* classes given in another order: a folder's label is its place in that list */
    const char *shuffled[3] = {names[2], names[0], names[1]}; /* cat, Dog, bird */
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "t_test"), shuffled, 3, &o, &test));
    for (int i = 0; i < 3; i++)
        assert_string_equal(lt_dataset_class_name(test, i), shuffled[i]);
    CHECK(ctx, lt_loader_new(ctx, test, &c, &ld));
    expect_images(ld, 4, (const int[]){31, 32, 33, 30}, (const int[]){0, 0, 1, 2}, 3, 4, 5);
    lt_loader_free(ld);
    lt_dataset_free(test);
    test = NULL;

    /* a class missing */
    folder("t_missing");
    folder("t_missing/Dog");
    folder("t_missing/bird");
    png("t_missing/Dog/0.png", 3, 4, 5, 1);
    png("t_missing/bird/0.png", 3, 4, 5, 2);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "t_missing"), names, 3, &o, &test),
                     LT_EINVAL);
    expect_error(root);
    expect_error("no folder for the class 'cat'");
    /* a class more */
    folder("t_extra");
    for (int i = 0; i < 3; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "t_extra/%s", names[i]);
        folder(rel);
        snprintf(rel, sizeof rel, "t_extra/%s/0.png", names[i]);
        png(rel, 3, 4, 5, i);
    }
    folder("t_extra/zebra");
    png("t_extra/zebra/0.png", 3, 4, 5, 9);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "t_extra"), names, 3, &o, &test),
                     LT_EINVAL);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/zebra: a class the training images do not have", root);
    expect_error(want);
    assert_null(test);
    lt_dataset_free(train);
}

static void bad_folders_and_files_are_named(void **state) {
    (void)state;
    char root[PATH_MAX], path[PATH_MAX], want[2 * PATH_MAX];
    struct lt_image_options o = options();
    struct lt_dataset *ds = NULL;

    folder("empty");
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "empty"), NULL, 0, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s: no class folders", root);
    expect_error(want);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "nowhere"), NULL, 0, &o, &ds), LT_EIO);
    snprintf(want, sizeof want, "%s: cannot open the folder", root);
    expect_error(want);

    folder("hollow");
    folder("hollow/a");
    folder("hollow/b");
    png("hollow/a/0.png", 3, 4, 5, 0);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "hollow"), NULL, 0, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s/b: an empty class folder", root);
    expect_error(want);

    /* a folder where the images go */
    folder("nested");
    folder("nested/a");
    folder("nested/a/more");
    png("nested/a/0.png", 3, 4, 5, 0);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "nested"), NULL, 0, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s/a/more: a folder inside a class folder", root);
    expect_error(want);

    /* a text file among the images: an error, or left out and counted */
    folder("texty");
    folder("texty/a");
    png("texty/a/0.png", 3, 4, 5, 0);
    png("texty/a/2.png", 3, 4, 5, 2);
    text("texty/a/1.png", "these are not the pixels you are looking for\n");
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "texty"), NULL, 0, &o, &ds), LT_EINVAL);
    expect_error(at(path, "texty/a/1.png"));
    expect_error("not a PNG");
    o.on_bad_file = LT_BAD_FILE_SKIP;
    CHECK(ctx, lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds));
    assert_int_equal(lt_dataset_size(ds), 2);
    assert_int_equal(lt_dataset_skipped(ds), 1);
    struct lt_loader_config c = in_order(2, 0);
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    expect_images(ld, 2, (const int[]){0, 2}, (const int[]){0, 0}, 3, 4, 5);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    ds = NULL;
    o = options();

    /* over max_pixels */
    folder("big");
    folder("big/a");
    png("big/a/0.png", 1, 4, 5, 0);
    o.max_pixels = 19;
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "big"), NULL, 0, &o, &ds), LT_EINVAL);
    expect_error(at(path, "big/a/0.png"));
    expect_error("pixels is over data.max_pixels (19)");
    o.max_pixels = 20;
    CHECK(ctx, lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds));
    lt_dataset_free(ds);
    ds = NULL;
    o.max_pixels = -1;
    assert_int_equal(lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds), LT_EINVAL);
    expect_error("max_pixels must be >= 0");
    o = options();

    /* another size, with same_size */
    folder("sizes");
    folder("sizes/a");
    folder("sizes/b");
    png("sizes/a/0.png", 3, 4, 5, 0);
    png("sizes/b/0.png", 3, 6, 5, 1);
    assert_int_equal(lt_dataset_open_images(ctx, at(root, "sizes"), NULL, 0, &o, &ds), LT_EINVAL);
    expect_error(at(path, "sizes/b/0.png"));
    expect_error(at(path, "sizes/a/0.png"));
    assert_null(ds);
}

static void sizes_may_differ_when_a_transform_equalises_them(void **state) {
    (void)state;
    char root[PATH_MAX];
    folder("mixed");
    folder("mixed/a");
    folder("mixed/b");
    png("mixed/a/0.png", 3, 4, 5, 0);
    png("mixed/b/0.png", 3, 6, 8, 1);
    struct lt_image_options o = options();
    o.same_size = 0;
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "mixed"), NULL, 0, &o, &ds));
    struct lt_sample_shape xs;
    lt_dataset_sample_shape(ds, &xs, NULL);
    assert_int_equal(xs.shape[1], 4); /* the first file's */
    assert_int_equal(xs.shape[2], 5);
    struct lt_loader_config c = in_order(2, 0);
    struct lt_loader *ld = NULL;
    assert_int_equal(lt_loader_new(ctx, ds, &c, &ld), LT_EINVAL);
    expect_error(root);
    expect_error("the images differ in size; a resize or a crop must make them equal");
    assert_null(ld);
    /* a resize to the first file's size: it comes through as it is */
    c.resize_h = 4, c.resize_w = 5;
    for (int workers = 0; workers < 2; workers++) {
        c.workers = workers;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(lt_tensor_shape(b.x)[2], 4);
        assert_int_equal(lt_tensor_shape(b.x)[3], 5);
        const float *x = lt_tensor_data(b.x);
        for (int k = 0; k < 60; k++)
            assert_true(x[k] == (float)pixel(0, k) / 255.0f);
        for (int k = 60; k < 120; k++)
            assert_true(x[k] > 0 && x[k] < 1);
        lt_loader_free(ld);
    }
    /* a centre crop that fits both works as well */
    c = in_order(2, 0);
    c.crop_h = 3, c.crop_w = 3;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    CHECK(ctx, lt_loader_next(ld, &b));
    assert_int_equal(lt_tensor_shape(b.x)[2], 3);
    lt_loader_free(ld);
    lt_dataset_free(ds);
}

static void a_truncated_file_fails_in_the_loader(void **state) {
    (void)state;
    char root[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];
    folder("cut");
    folder("cut/a");
    png("cut/a/0.png", 3, 4, 5, 0);
    png("cut/a/1.png", 3, 4, 5, 1);
    png("cut/a/2.png", 3, 4, 5, 2);
    size_t n;
    unsigned char *bytes = tmpdir_read(at(path, "cut/a/1.png"), &n);
    assert_non_null(bytes);
    assert_true(n > 33 + 12 + 20);
    char full[512];
    /* the header whole, the image data cut short */
    assert_int_equal(tmpdir_write(dir, "cut/a/1.png", bytes, n - 20, 0, full), 0);
    free(bytes);
    struct lt_image_options o = options();
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_images(ctx, at(root, "cut"), NULL, 0, &o, &ds));
    assert_int_equal(lt_dataset_size(ds), 3);
    snprintf(want, sizeof want, "%s: ", path);
    for (int workers = 0; workers < 3; workers += 2) {
        struct lt_loader_config c = in_order(3, workers);
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        struct lt_batch b;
        assert_int_equal(lt_loader_next(ld, &b), LT_EINVAL);
        expect_error(want);
        uint32_t e;
        int64_t it;
        lt_loader_position(ld, &e, &it);
        assert_int_equal(e, 0);
        assert_int_equal(it, 0);
        assert_int_equal(lt_loader_next(ld, &b), LT_EINVAL); /* tried again, failed again */
        expect_error(want);
        lt_loader_free(ld);
    }
    assert_int_equal(lt_dataset_skipped(ds), 0);
    /* skipped: the next sample of the epoch takes its place, counted once */
    struct lt_loader_config c = in_order(3, 0);
    c.on_bad_file = LT_BAD_FILE_SKIP;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    for (int epoch = 0; epoch < 2; epoch++)
        expect_images(ld, 3, (const int[]){0, 2, 2}, (const int[]){0, 0, 0}, 3, 4, 5);
    assert_int_equal(lt_dataset_skipped(ds), 1);
    lt_loader_free(ld);
    /* a loader that does not skip still names the file */
    c.on_bad_file = LT_BAD_FILE_ERROR;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    struct lt_batch b;
    assert_int_equal(lt_loader_next(ld, &b), LT_EINVAL);
    expect_error(want);
    lt_loader_free(ld);
    lt_dataset_free(ds);
}

static void list_files_name_images_and_labels(void **state) {
    (void)state;
    char list[PATH_MAX], abs_png[PATH_MAX], want[PATH_MAX + 64];
    folder("lists");
    folder("lists/img");
    folder("lists/sub dir");
    png("lists/img/a.png", 3, 4, 5, 40);
    png("lists/img/b.png", 3, 4, 5, 41);
    png("lists/sub dir/c d.png", 3, 4, 5, 42);
    png("elsewhere.png", 3, 4, 5, 43);
    char body[2 * PATH_MAX];
    snprintf(body, sizeof body,
             "# path label\n"
             "\n"
             "img/a.png 0\n"
             "  img/b.png\t2  \r\n"
             "%s 1\n"
             "sub dir/c d.png 1\n"
             "   \n"
             "# the end\n",
             at(abs_png, "elsewhere.png"));
    text("lists/train.txt", body);
    struct lt_image_options o = options();
    struct lt_dataset *ds = NULL;
    CHECK(ctx, lt_dataset_open_image_list(ctx, at(list, "lists/train.txt"), 3, &o, &ds));
    assert_int_equal(lt_dataset_size(ds), 4);
    assert_int_equal(lt_dataset_classes(ds), 3);
    assert_string_equal(lt_dataset_class_name(ds, 2), "2");
    assert_string_equal(lt_dataset_origin(ds), list);
    struct lt_loader_config c = in_order(3, 2);
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    expect_images(ld, 4, (const int[]){40, 41, 43, 42}, (const int[]){0, 2, 1, 1}, 3, 4, 5);
    lt_loader_free(ld);
    lt_dataset_free(ds);
    ds = NULL;

    text("lists/bad.txt", "img/a.png 0\n# fine so far\nimg/b.png two\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, at(list, "lists/bad.txt"), 3, &o, &ds),
                     LT_EINVAL);
    snprintf(want, sizeof want, "%s:3: want \"path label\", got \"img/b.png two\"", list);
    expect_error(want);
    text("lists/bad.txt", "img/a.png\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, list, 3, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s:1: want \"path label\"", list);
    expect_error(want);
    text("lists/bad.txt", "\nimg/a.png 3\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, list, 3, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s:2: label 3 is outside [0, 3)", list);
    expect_error(want);
    text("lists/bad.txt", "img/a.png -1\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, list, 3, &o, &ds), LT_EINVAL);
    expect_error(":1: label -1 is outside [0, 3)");
    text("lists/bad.txt", "# nothing\n\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, list, 3, &o, &ds), LT_EINVAL);
    snprintf(want, sizeof want, "%s: lists no image", list);
    expect_error(want);
    text("lists/bad.txt", "img/a.png 0\nimg/gone.png 1\n");
    assert_int_equal(lt_dataset_open_image_list(ctx, list, 3, &o, &ds), LT_EINVAL);
    expect_error(at(abs_png, "lists/img/gone.png"));
    assert_int_equal(lt_dataset_open_image_list(ctx, at(list, "lists/none.txt"), 3, &o, &ds),
                     LT_EIO);
    expect_error(list);
    assert_int_equal(lt_dataset_open_image_list(ctx, at(list, "lists/train.txt"), 0, &o, &ds),
                     LT_EINVAL);
    expect_error("classes must be in [1, 1000000], got 0");
    assert_null(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(folders_read_as_image_folder_does),
        cmocka_unit_test(channels_convert_between_gray_and_colour),
        cmocka_unit_test(a_test_split_has_the_training_classes),
        cmocka_unit_test(bad_folders_and_files_are_named),
        cmocka_unit_test(sizes_may_differ_when_a_transform_equalises_them),
        cmocka_unit_test(a_truncated_file_fails_in_the_loader),
        cmocka_unit_test(list_files_name_images_and_labels),
    };
    return cmocka_run_group_tests_name("images", tests, setup, teardown);
}
