/* bench_loader: how many images a second the loader makes from PNG files — decode,
 * random crop with padding, horizontal flip, normalise — with 1 and 2 worker threads, as
 * a recipe on an image folder would run it. The images are Fashion-MNIST's first N
 * training images, written as PNGs into a temporary folder tree first (root/<class>/).
 *
 * Usage: bench_loader [--images N (6000)] [--budget SECONDS (4)] [--json]
 * (each worker count is timed for `budget` seconds after a warm-up of two batches)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/lutra.h"
#include "tests/tmpdir.h"

#define BATCH 128

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(struct lt_ctx *ctx, const char *what) {
    fprintf(stderr, "bench_loader: %s: %s\n", what, lt_ctx_error(ctx));
    exit(1);
}

/* The IDX file of Fashion-MNIST's training split, gzip or plain. */
static struct lt_tensor *read_idx(struct lt_ctx *ctx, const char *stem) {
    char path[512];
    struct lt_tensor *t;
    snprintf(path, sizeof path, "%s/%s.gz", LT_FMNIST_DIR, stem);
    if (lt_idx_read(ctx, path, &t) == LT_OK)
        return t;
    snprintf(path, sizeof path, "%s/%s", LT_FMNIST_DIR, stem);
    if (lt_idx_read(ctx, path, &t) != LT_OK)
        die(ctx, "reading Fashion-MNIST");
    return t;
}

/* Writes the first n images as root/<label>/<i>.png. */
static void write_pngs(struct lt_ctx *ctx, const char *root, int64_t n) {
    struct lt_tensor *images = read_idx(ctx, "train-images-idx3-ubyte");
    struct lt_tensor *labels = read_idx(ctx, "train-labels-idx1-ubyte");
    char path[1024];
    for (int c = 0; c < 10; c++) {
        snprintf(path, sizeof path, "%s/%d", root, c);
        mkdir(path, 0755);
    }
    for (int64_t i = 0; i < n && i < lt_tensor_shape(images)[0]; i++) {
        struct lt_tensor *img;
        if (lt_tensor_slice(ctx, images, i, 1, &img) != LT_OK)
            die(ctx, "slicing");
        snprintf(path, sizeof path, "%s/%d/%05lld.png", root, (int)lt_tensor_get(labels, i),
                 (long long)i);
        if (lt_png_write(ctx, path, img) != LT_OK)
            die(ctx, "writing a PNG");
        lt_tensor_free(img);
    }
    lt_tensor_free(images);
    lt_tensor_free(labels);
}

/* Images a second with `workers` threads over `budget` seconds. */
static double rate(struct lt_ctx *ctx, const struct lt_dataset *ds, int workers, double budget) {
    struct lt_loader_config c = lt_loader_defaults(BATCH);
    c.seed = 1;
    c.mean[0] = LT_FMNIST_MEAN;
    c.std[0] = LT_FMNIST_STD;
    c.crop_h = c.crop_w = 28;
    c.crop_padding = 2;
    c.random_crop = 1;
    c.hflip = 1;
    c.workers = workers;
    struct lt_loader *ld;
    if (lt_loader_new(ctx, ds, &c, &ld) != LT_OK)
        die(ctx, "making a loader");
    struct lt_batch b;
    for (int k = 0; k < 2; k++)
        if (lt_loader_next(ld, &b) != LT_OK)
            die(ctx, "loading");
    int64_t images = 0;
    double t0 = now_s(), t;
    do {
        if (lt_loader_next(ld, &b) != LT_OK)
            die(ctx, "loading");
        images += b.size;
    } while ((t = now_s()) - t0 < budget);
    lt_loader_free(ld);
    return (double)images / (t - t0);
}

int main(int argc, char **argv) {
    int64_t n = 6000;
    double budget = 4;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--images") && i + 1 < argc)
            n = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget = atof(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: bench_loader [--images N] [--budget SECONDS] [--json]\n");
            return 2;
        }
    }
    if (n < BATCH || budget <= 0) {
        fprintf(stderr, "bench_loader: want --images >= %d and --budget > 0\n", BATCH);
        return 2;
    }
    struct lt_ctx *ctx;
    if (lt_ctx_new(&ctx) != LT_OK)
        return 1;
    char root[64];
    if (tmpdir_make(root, sizeof root, "lutra-bench-png") != 0) {
        fprintf(stderr, "bench_loader: cannot make a temporary folder\n");
        return 1;
    }
    double t0 = now_s();
    write_pngs(ctx, root, n);
    double write_s = now_s() - t0;
    struct lt_image_options o = {0};
    struct lt_dataset *ds;
    t0 = now_s();
    if (lt_dataset_open_images(ctx, root, NULL, 0, &o, &ds) != LT_OK)
        die(ctx, "opening the folder");
    double open_s = now_s() - t0;
    for (int workers = 1; workers <= 2; workers++) {
        double r = rate(ctx, ds, workers, budget);
        if (json)
            printf("{\"kind\": \"loader\", \"workers\": %d, \"images\": %lld, "
                   "\"images_per_s\": %.0f, \"open_s\": %.3f, \"write_s\": %.3f}\n",
                   workers, (long long)n, r, open_s, write_s);
        else
            printf("loader, %d worker%s: %.0f images/s (PNG decode + crop + flip + "
                   "normalise; %lld files opened in %.2f s)\n",
                   workers, workers == 1 ? "" : "s", r, (long long)n, open_s);
    }
    lt_dataset_free(ds);
    tmpdir_remove(root);
    lt_ctx_free(ctx);
    return 0;
}
