/* Token data sets: every file layout read back through a loader (windows equal the
 * stream, y is x shifted by one), parts, seeded random windows, the sample count, the
 * largest id, and a message naming the file for each way a file or an option is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "kernels/rng.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define TOKENS_STREAM 0x746f6b656e73ull /* core/tokens.c's "tokens" */
#define MAX_TOKENS 4096

#define SUITE_TAG "lt-tokens"
#include "tests/file_suite.h"
static unsigned char buf[1024 + 4 * MAX_TOKENS];

static void put(unsigned char *p, uint32_t v, int width) {
    for (int b = 0; b < width; b++)
        p[b] = (unsigned char)(v >> (8 * b));
}

/* A token file's bytes: with magic != 0 an llm.c header (magic, version 1, `said` tokens)
 * first; then tok[0 .. n-1], `width` bytes each. */
static size_t file_bytes(int32_t magic, int64_t said, const uint32_t *tok, int64_t n, int width) {
    size_t at = 0;
    if (magic) {
        memset(buf, 0, 1024);
        put(buf, (uint32_t)magic, 4);
        put(buf + 4, 1, 4);
        put(buf + 8, (uint32_t)said, 4);
        at = 1024;
    }
    for (int64_t k = 0; k < n; k++, at += (size_t)width)
        put(buf + at, tok[k], width);
    return at;
}

static const char *write_file(const char *name, size_t n, char *path) {
    assert_int_equal(tmpdir_write(dir, name, buf, n, 0, path), 0);
    return path;
}

static struct lt_token_options options(enum lt_token_format f, int64_t block) {
    struct lt_token_options o = {.format = f, .block_size = block, .begin = 0, .end = 1};
    return o;
}

static void expect_fail(const char *path, const struct lt_token_options *o, enum lt_status st,
                        const char *msg) {
    struct lt_dataset *ds = NULL;
    assert_int_equal(lt_dataset_open_tokens(ctx, path, o, &ds), st);
    assert_null(ds);
    const char *err = lt_ctx_error(ctx);
    if (!strstr(err, msg) || strncmp(err, path, strlen(path)) != 0)
        fail_msg("message '%s' lacks '%s' or does not start with the path", err, msg);
}

static struct lt_loader *loader(const struct lt_dataset *ds, int64_t batch, int workers) {
    struct lt_loader_config c = lt_loader_defaults(batch);
    c.shuffle = 0;
    c.workers = workers;
    struct lt_loader *ld;
    CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
    return ld;
}

/* Reads one epoch through loaders without and with workers: sample i's x is the part's
 * tokens [i * block, i * block + block), y the same shifted by one. `tok` is the part. */
static void expect_windows(const struct lt_dataset *ds, const uint32_t *tok, int64_t block) {
    int64_t n = lt_dataset_size(ds);
    for (int workers = 0; workers <= 2; workers += 2) {
        struct lt_loader *ld = loader(ds, 5, workers);
        int64_t i = 0;
        for (int64_t it = 0; it < lt_loader_batches(ld); it++) {
            struct lt_batch b;
            CHECK(ctx, lt_loader_next(ld, &b));
            assert_int_equal(lt_tensor_dtype(b.x), LT_DTYPE_I32);
            assert_int_equal(lt_tensor_dtype(b.y), LT_DTYPE_I32);
            assert_int_equal(lt_tensor_ndim(b.x), 2);
            assert_int_equal(lt_tensor_shape(b.x)[1], block);
            assert_int_equal(lt_tensor_ndim(b.y), 2);
            assert_int_equal(lt_tensor_shape(b.y)[0], b.size);
            assert_int_equal(lt_tensor_shape(b.y)[1], block);
            const int32_t *x = lt_tensor_data(b.x), *y = lt_tensor_data(b.y);
            for (int64_t r = 0; r < b.size; r++, i++)
                for (int64_t j = 0; j < block; j++) {
                    assert_int_equal(x[r * block + j], tok[i * block + j]);
                    assert_int_equal(y[r * block + j], tok[i * block + j + 1]);
                }
        }
        assert_int_equal(i, n);
        lt_loader_free(ld);
    }
}

/* Opens the file and checks the set against the stream it holds. */
static void check_file(const char *path, const struct lt_token_options *o, const uint32_t *tok,
                       int64_t n) {
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, o, &ds));
    assert_int_equal(lt_dataset_size(ds), (n - 1) / o->block_size);
    assert_int_equal(lt_dataset_classes(ds), 0);
    assert_false(lt_dataset_is_image(ds));
    assert_string_equal(lt_dataset_origin(ds), path);
    struct lt_sample_shape xs, ys;
    lt_dataset_sample_shape(ds, &xs, &ys);
    assert_int_equal(xs.dtype, LT_DTYPE_I32);
    assert_int_equal(xs.ndim, 1);
    assert_int_equal(xs.shape[0], o->block_size);
    assert_int_equal(ys.dtype, LT_DTYPE_I32);
    assert_int_equal(ys.ndim, 1);
    assert_int_equal(ys.shape[0], o->block_size);
    expect_windows(ds, tok, o->block_size);
    lt_dataset_free(ds);
}

static uint32_t stream[MAX_TOKENS];

/* n tokens of a stream below `vocab`, not periodic in any small block size. */
static void make_stream(int64_t n, uint32_t vocab) {
    for (int64_t k = 0; k < n; k++)
        stream[k] = (uint32_t)(lt_mix64((uint64_t)k + 1) % vocab);
}

static void headers_give_u16_and_u32(void **state) {
    (void)state;
    char path[512];
    make_stream(1000, 50257);
    struct lt_token_options o = options(LT_TOKENS_AUTO, 16);
    check_file(write_file("gpt2.bin", file_bytes(20240520, 1000, stream, 1000, 2), path), &o,
               stream, 1000);
    make_stream(777, 128256); /* past u16 */
    o.block_size = 7;
    check_file(write_file("llama.bin", file_bytes(20240801, 777, stream, 777, 4), path), &o, stream,
               777);
}

static void raw_formats_and_text(void **state) {
    (void)state;
    char path[512];
    struct lt_token_options o = options(LT_TOKENS_U16, 9);
    make_stream(500, 65536);
    check_file(write_file("raw16", file_bytes(0, 0, stream, 500, 2), path), &o, stream, 500);
    o.format = LT_TOKENS_U32;
    make_stream(333, 1u << 31);
    check_file(write_file("raw32", file_bytes(0, 0, stream, 333, 4), path), &o, stream, 333);
    o.format = LT_TOKENS_BYTES;
    make_stream(100, 256);
    check_file(write_file("bytes.dat", file_bytes(0, 0, stream, 100, 1), path), &o, stream, 100);
    /* a .txt file without a header is bytes */
    const char *text = "It is a truth universally acknowledged, that a single man in "
                       "possession of a good fortune, must be in want of a wife.\n";
    int64_t n = (int64_t)strlen(text);
    for (int64_t k = 0; k < n; k++)
        stream[k] = (unsigned char)text[k];
    o = options(LT_TOKENS_AUTO, 4);
    check_file(write_file("book.txt", file_bytes(0, 0, stream, n, 1), path), &o, stream, n);
    /* short .txt files have no room for a header: still bytes */
    o.block_size = 2;
    check_file(write_file("short.txt", file_bytes(0, 0, stream, 5, 1), path), &o, stream, 5);
}

static void sample_count_is_floor_of_part_minus_one(void **state) {
    (void)state;
    char path[512];
    const int64_t sizes[] = {2, 3, 17, 18, 33, 100, 1001};
    const int64_t blocks[] = {1, 2, 4, 16, 1000};
    make_stream(1001, 65536);
    for (size_t a = 0; a < sizeof sizes / sizeof sizes[0]; a++) {
        write_file("count", file_bytes(0, 0, stream, sizes[a], 2), path);
        for (size_t b = 0; b < sizeof blocks / sizeof blocks[0]; b++) {
            struct lt_token_options o = options(LT_TOKENS_U16, blocks[b]);
            if (sizes[a] < blocks[b] + 1) {
                expect_fail(path, &o, LT_EINVAL, "fewer than the block_size + 1");
                continue;
            }
            struct lt_dataset *ds;
            CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &ds));
            assert_int_equal(lt_dataset_size(ds), (sizes[a] - 1) / blocks[b]);
            lt_dataset_free(ds);
        }
    }
}

/* Every x and y value of `epochs` epochs; tokens are their positions, so each value says
 * where it came from. Asserts that each window is a run of consecutive positions. */
static void values(const struct lt_dataset *ds, int64_t block, int workers, uint32_t epoch,
                   int32_t *out) {
    struct lt_loader *ld = loader(ds, 4, workers);
    CHECK(ctx, lt_loader_seek(ld, epoch, 0));
    int64_t i = 0;
    for (int64_t it = 0; it < lt_loader_batches(ld); it++) {
        struct lt_batch b;
        CHECK(ctx, lt_loader_next(ld, &b));
        assert_int_equal(b.epoch, epoch);
        const int32_t *x = lt_tensor_data(b.x), *y = lt_tensor_data(b.y);
        for (int64_t r = 0; r < b.size; r++, i++)
            for (int64_t j = 0; j < block; j++) {
                assert_int_equal(x[r * block + j], x[r * block] + j);
                assert_int_equal(y[r * block + j], x[r * block + j] + 1);
                out[i * block + j] = x[r * block + j];
            }
    }
    lt_loader_free(ld);
}

/* The lowest and highest token a data set's windows read. */
static void bounds(const struct lt_dataset *ds, int64_t block, int32_t *lo, int32_t *hi) {
    int64_t n = lt_dataset_size(ds);
    int32_t *v = malloc((size_t)(n * block) * sizeof *v);
    assert_non_null(v);
    values(ds, block, 0, 0, v);
    *lo = INT32_MAX;
    *hi = -1;
    for (int64_t k = 0; k < n * block; k++) {
        *lo = v[k] < *lo ? v[k] : *lo;
        *hi = v[k] + 1 > *hi ? v[k] + 1 : *hi; /* y's last token */
    }
    free(v);
}

static void parts_split_the_stream(void **state) {
    (void)state;
    char path[512];
    for (int64_t k = 0; k < 1000; k++)
        stream[k] = (uint32_t)k;
    write_file("positions.bin", file_bytes(20240520, 1000, stream, 1000, 2), path);
    for (int random = 0; random < 2; random++) {
        struct lt_token_options o = options(LT_TOKENS_AUTO, 8);
        o.random_windows = random;
        o.seed = 3;
        o.end = 0.9;
        struct lt_dataset *train, *val;
        CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &train));
        o.begin = 0.9;
        o.end = 1;
        CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &val));
        assert_int_equal(lt_dataset_size(train), (900 - 1) / 8);
        assert_int_equal(lt_dataset_size(val), (100 - 1) / 8);
        int32_t lo, hi;
        bounds(train, 8, &lo, &hi);
        assert_true(lo >= 0 && hi <= 899);
        if (!random) /* the fixed windows start at the part's start */
            assert_int_equal(lo, 0);
        bounds(val, 8, &lo, &hi);
        assert_true(lo >= 900 && hi <= 999);
        if (!random)
            assert_int_equal(lo, 900);
        lt_dataset_free(train);
        lt_dataset_free(val);
    }
}

static void random_windows_follow_seed_and_epoch(void **state) {
    (void)state;
    char path[512];
    enum { N = 3000, T = 5 };
    for (int64_t k = 0; k < N; k++)
        stream[k] = (uint32_t)k;
    write_file("random.u32", file_bytes(0, 0, stream, N, 4), path);
    struct lt_token_options o = options(LT_TOKENS_U32, T);
    o.random_windows = 1;
    o.seed = 42;
    o.begin = 0.1; /* the part: tokens [300, 3000) */
    struct lt_dataset *a, *b, *c;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &a));
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &b));
    o.seed = 43;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &c));
    int64_t n = lt_dataset_size(a), part = N - 300;
    assert_int_equal(n, (part - 1) / T);
    size_t bytes = (size_t)(n * T) * sizeof(int32_t);
    int32_t *a0 = malloc(bytes), *a0w = malloc(bytes), *b0 = malloc(bytes), *a1 = malloc(bytes),
            *c0 = malloc(bytes);
    assert_true(a0 && a0w && b0 && a1 && c0);
    values(a, T, 0, 0, a0);
    values(a, T, 2, 0, a0w);
    values(b, T, 0, 0, b0);
    values(a, T, 2, 1, a1);
    values(c, T, 0, 0, c0);
    assert_memory_equal(a0, a0w, bytes); /* workers see the same windows */
    assert_memory_equal(a0, b0, bytes);  /* so does another set of the same seed */
    int64_t same_epoch = 0, same_seed = 0, lo = N, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        /* sample i starts at a uniform draw from (seed, epoch, i) over the part's starts */
        uint64_t key = lt_rng_key(42, TOKENS_STREAM, 0, (uint64_t)i);
        assert_int_equal(a0[i * T], 300 + (int64_t)(lt_mix64(key) % (uint64_t)(part - T)));
        same_epoch += a0[i * T] == a1[i * T];
        same_seed += a0[i * T] == c0[i * T];
        lo = a0[i * T] < lo ? a0[i * T] : lo;
        hi = a0[i * T] > hi ? a0[i * T] : hi;
    }
    assert_true(same_epoch < n / 20 && same_seed < n / 20);
    /* the starts cover the part: its first and last tenth are both reached */
    assert_true(lo >= 300 && lo < 300 + part / 10);
    assert_true(hi <= N - T - 1 && hi > N - part / 10);
    free(a0);
    free(a0w);
    free(b0);
    free(a1);
    free(c0);
    lt_dataset_free(a);
    lt_dataset_free(b);
    lt_dataset_free(c);
}

static void max_id_names_the_token_and_its_place(void **state) {
    (void)state;
    char path[512];
    for (int64_t k = 0; k < 1000; k++)
        stream[k] = (uint32_t)(k % 100);
    stream[700] = 5000;
    stream[800] = 5000;
    write_file("max.bin", file_bytes(20240520, 1000, stream, 1000, 2), path);
    struct lt_token_options o = options(LT_TOKENS_AUTO, 10);
    struct lt_dataset *ds, *view;
    int64_t where;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &ds));
    assert_int_equal(lt_dataset_max_id(ds, &where), 5000);
    assert_int_equal(where, 700); /* the first of two */
    assert_int_equal(lt_dataset_max_id(ds, NULL), 5000);
    /* a view of fixed windows reads only its windows: samples [0, 60) hold [0, 601) */
    CHECK(ctx, lt_dataset_range(ctx, ds, 0, 60, &view));
    assert_int_equal(lt_dataset_max_id(view, &where), 99);
    assert_int_equal(where, 99);
    lt_dataset_free(view);
    /* sample 69 holds [690, 700] with y: its last target is the large token */
    CHECK(ctx, lt_dataset_range(ctx, ds, 69, 1, &view));
    assert_int_equal(lt_dataset_max_id(view, &where), 5000);
    assert_int_equal(where, 700);
    lt_dataset_free(view);
    lt_dataset_free(ds);
    /* positions are the file's, not the part's */
    o.begin = 0.75;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &ds));
    assert_int_equal(lt_dataset_max_id(ds, &where), 5000);
    assert_int_equal(where, 800);
    lt_dataset_free(ds);
    /* random windows may start anywhere: any view covers the whole part */
    o.begin = 0;
    o.random_windows = 1;
    CHECK(ctx, lt_dataset_open_tokens(ctx, path, &o, &ds));
    CHECK(ctx, lt_dataset_range(ctx, ds, 0, 1, &view));
    assert_int_equal(lt_dataset_max_id(view, &where), 5000);
    assert_int_equal(where, 700);
    lt_dataset_free(view);
    lt_dataset_free(ds);
}

static void bad_files_fail_with_messages(void **state) {
    (void)state;
    char path[512];
    make_stream(100, 1000);
    struct lt_token_options o = options(LT_TOKENS_U16, 4);
    write_file("odd.u16", file_bytes(0, 0, stream, 100, 1) + 1, path);
    expect_fail(path, &o, LT_EINVAL, "101 bytes is not a whole number of u16 tokens");
    o.format = LT_TOKENS_U32;
    write_file("odd.u32", 102, path);
    expect_fail(path, &o, LT_EINVAL, "102 bytes is not a whole number of u32 tokens");

    o.format = LT_TOKENS_AUTO;
    write_file("count.bin", file_bytes(20240520, 101, stream, 100, 2), path);
    expect_fail(path, &o, LT_EINVAL, "header says 101 u16 tokens but the file holds 200 bytes");
    write_file("odd.bin", file_bytes(20240801, 100, stream, 100, 4) - 2, path);
    expect_fail(path, &o, LT_EINVAL, "header says 100 u32 tokens but the file holds 398 bytes");
    write_file("neg.bin", file_bytes(20240520, -1, stream, 100, 2), path);
    expect_fail(path, &o, LT_EINVAL, "header says -1 u16 tokens");

    write_file("few.bin", file_bytes(20240520, 4, stream, 4, 2), path);
    expect_fail(path, &o, LT_EINVAL, "holds 4, fewer than the block_size + 1 = 4 + 1");
    write_file("part.bin", file_bytes(20240520, 100, stream, 100, 2), path);
    o.begin = 0.97;
    expect_fail(path, &o, LT_EINVAL, "the part [0.97, 1) of its 100 tokens holds 3");
    o.begin = 0;

    write_file("tokens.dat", file_bytes(0, 0, stream, 100, 2), path);
    expect_fail(path, &o, LT_EINVAL,
                "not a .txt file: set data.token_format = \"u16\" | \"u32\" | \"bytes\"");
    write_file("empty.dat", 0, path);
    expect_fail(path, &o, LT_EINVAL, "set data.token_format");

    stream[50] = 0x80000000u;
    o.format = LT_TOKENS_U32;
    write_file("wide.u32", file_bytes(0, 0, stream, 100, 4), path);
    expect_fail(path, &o, LT_EINVAL, "token 50 is 2147483648, past i32's 2147483647");

    snprintf(path, sizeof path, "%s/nope.bin", dir);
    expect_fail(path, &o, LT_EIO, "cannot open: No such file or directory");
    expect_fail(dir, &o, LT_EIO, "not a regular file (a directory)");
}

static void bad_options_fail_with_messages(void **state) {
    (void)state;
    char path[512];
    make_stream(100, 1000);
    write_file("opts.u16", file_bytes(0, 0, stream, 100, 2), path);
    struct lt_token_options o = options(LT_TOKENS_U16, 0);
    expect_fail(path, &o, LT_EINVAL, "block_size must be at least 1, got 0");
    o.block_size = 4;
    o.begin = 0.5;
    o.end = 0.4;
    expect_fail(path, &o, LT_EINVAL, "the part [0.5, 0.4) must be a range of fractions");
    o.begin = 0;
    o.end = 1.5;
    expect_fail(path, &o, LT_EINVAL, "within [0, 1]");
    o.end = 1;
    o.format = (enum lt_token_format)9;
    expect_fail(path, &o, LT_EINVAL, "unknown token format 9");
    expect_fail(path, NULL, LT_EINVAL, "no token options given");
}

/* Several files are one stream: a headed u16 file, a raw one and a headed one again give
 * the windows of their tokens one after another, and a part's fractions are taken of the
 * whole stream, across a file boundary. */
static void files_read_as_one_stream(void **state) {
    (void)state;
    char a[512], b[512], c[512];
    make_stream(900, 60000);
    write_file("one.bin", file_bytes(20240520, 300, stream, 300, 2), a);
    write_file("two.u16", file_bytes(0, 0, stream + 300, 250, 2), b);
    write_file("three.bin", file_bytes(20240520, 350, stream + 550, 350, 2), c);
    const char *paths[] = {a, b, c};
    struct lt_token_options o = options(LT_TOKENS_AUTO, 7);
    struct lt_dataset *ds;
    /* auto reads the headers; the raw middle file then needs the u16 format, so the
     * stream of all three is refused in auto: a file without a header is not a .txt */
    assert_int_equal(lt_dataset_open_token_files(ctx, paths, 3, &o, &ds), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "two.u16: no token file header"));
    const char *headed[] = {a, c};
    CHECK(ctx, lt_dataset_open_token_files(ctx, headed, 2, &o, &ds));
    uint32_t joined[650];
    memcpy(joined, stream, 300 * sizeof *joined);
    memcpy(joined + 300, stream + 550, 350 * sizeof *joined);
    assert_int_equal(lt_dataset_size(ds), (650 - 1) / 7);
    char origin[600];
    snprintf(origin, sizeof origin, "%s and 1 more files", a);
    assert_string_equal(lt_dataset_origin(ds), origin);
    expect_windows(ds, joined, 7);
    lt_dataset_free(ds);
    /* raw u16 files alike, and the part [0.3, 0.7) of 900 tokens: [270, 630) */
    write_file("one.u16", file_bytes(0, 0, stream, 300, 2), a);
    write_file("three.u16", file_bytes(0, 0, stream + 550, 350, 2), c);
    o = options(LT_TOKENS_U16, 7);
    o.begin = 0.3;
    o.end = 0.7;
    CHECK(ctx, lt_dataset_open_token_files(ctx, paths, 3, &o, &ds));
    expect_windows(ds, stream + 270, 7);
    lt_dataset_free(ds);
}

/* A stream's files must store tokens alike, and each one is checked as one file is. */
static void files_of_a_stream_are_checked(void **state) {
    (void)state;
    char a[512], b[512], missing[512];
    make_stream(100, 1000);
    write_file("wide.bin", file_bytes(20240801, 100, stream, 100, 4), a);
    write_file("narrow.bin", file_bytes(20240520, 100, stream, 100, 2), b);
    snprintf(missing, sizeof missing, "%s/nope.bin", dir);
    struct lt_token_options o = options(LT_TOKENS_AUTO, 4);
    struct lt_dataset *ds = NULL;
    const char *mixed[] = {a, b};
    assert_int_equal(lt_dataset_open_token_files(ctx, mixed, 2, &o, &ds), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "narrow.bin: holds u16 tokens but"));
    assert_non_null(strstr(lt_ctx_error(ctx), "wide.bin holds u32"));
    const char *gone[] = {a, missing};
    assert_int_equal(lt_dataset_open_token_files(ctx, gone, 2, &o, &ds), LT_EIO);
    assert_non_null(strstr(lt_ctx_error(ctx), "nope.bin: cannot open"));
    /* a u32 token past i32 in the second file is named there, at its index in that file */
    uint32_t big[100];
    memcpy(big, stream, sizeof big);
    big[30] = 0x80000000u;
    char c[512];
    write_file("big.bin", file_bytes(20240801, 100, big, 100, 4), c);
    const char *second[] = {a, c};
    assert_int_equal(lt_dataset_open_token_files(ctx, second, 2, &o, &ds), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "big.bin: token 30 is 2147483648, past i32's"));
    const char *none[] = {a, NULL};
    assert_int_equal(lt_dataset_open_token_files(ctx, none, 2, &o, &ds), LT_EINVAL);
    assert_int_equal(lt_dataset_open_token_files(ctx, mixed, 0, &o, &ds), LT_EINVAL);
    assert_string_equal(lt_ctx_error(ctx), "tokens: no file path given");
    assert_null(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_give_u16_and_u32),
        cmocka_unit_test(raw_formats_and_text),
        cmocka_unit_test(sample_count_is_floor_of_part_minus_one),
        cmocka_unit_test(parts_split_the_stream),
        cmocka_unit_test(random_windows_follow_seed_and_epoch),
        cmocka_unit_test(max_id_names_the_token_and_its_place),
        cmocka_unit_test(bad_files_fail_with_messages),
        cmocka_unit_test(bad_options_fail_with_messages),
        cmocka_unit_test(files_read_as_one_stream),
        cmocka_unit_test(files_of_a_stream_are_checked),
    };
    return cmocka_run_group_tests_name("tokens", tests, setup, teardown);
}
