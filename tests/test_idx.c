/* IDX reading: round trips of small plain and gzip files, and a message (never a crash)
 * for every way a file can be malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-idx"
#include "tests/file_suite.h"

/* An IDX u8 file's bytes: header for dims[0 .. ndim-1], then `data` bytes of pattern
 * (i * 7 + 3) mod 256 (data may differ from the product of dims, to make bad files). */
static size_t idx_bytes(unsigned char *buf, int code, int ndim, const uint32_t *dims, size_t data) {
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = (unsigned char)code;
    buf[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[n++] = (unsigned char)(dims[i] >> 24);
        buf[n++] = (unsigned char)(dims[i] >> 16);
        buf[n++] = (unsigned char)(dims[i] >> 8);
        buf[n++] = (unsigned char)dims[i];
    }
    for (size_t i = 0; i < data; i++)
        buf[n++] = (unsigned char)(i * 7 + 3);
    return n;
}

static unsigned char buf[1 << 16];

/* Writes the file, reads it back, expects failure `st` with `msg` in the message. */
static void expect_fail(const char *name, size_t n, int gz, enum lt_status st, const char *msg) {
    char path[512];
    assert_int_equal(tmpdir_write(dir, name, buf, n, gz, path), 0);
    struct lt_tensor *t = NULL;
    assert_int_equal(lt_idx_read(ctx, path, &t), st);
    assert_null(t);
    const char *err = lt_ctx_error(ctx);
    if (!strstr(err, msg) || strncmp(err, path, strlen(path)) != 0)
        fail_msg("message '%s' lacks '%s' or does not start with the path", err, msg);
}

static void check_round_trip(int gz) {
    const uint32_t dims[3] = {3, 4, 5};
    size_t n = idx_bytes(buf, 0x08, 3, dims, 60);
    char path[512];
    assert_int_equal(tmpdir_write(dir, gz ? "img.gz" : "img", buf, n, gz, path), 0);
    struct lt_tensor *t;
    CHECK(ctx, lt_idx_read(ctx, path, &t));
    assert_int_equal(lt_tensor_dtype(t), LT_DTYPE_U8);
    assert_int_equal(lt_tensor_ndim(t), 3);
    assert_int_equal(lt_tensor_shape(t)[0], 3);
    assert_int_equal(lt_tensor_shape(t)[1], 4);
    assert_int_equal(lt_tensor_shape(t)[2], 5);
    assert_memory_equal(lt_tensor_data(t), buf + 16, 60);
    lt_tensor_free(t);

    /* labels: one dim; and an empty set (N = 0) is a valid file */
    const uint32_t one[1] = {7}, zero[2] = {0, 28};
    n = idx_bytes(buf, 0x08, 1, one, 7);
    assert_int_equal(tmpdir_write(dir, gz ? "lab.gz" : "lab", buf, n, gz, path), 0);
    CHECK(ctx, lt_idx_read(ctx, path, &t));
    assert_int_equal(lt_tensor_ndim(t), 1);
    assert_int_equal(lt_tensor_shape(t)[0], 7);
    assert_memory_equal(lt_tensor_data(t), buf + 8, 7);
    lt_tensor_free(t);
    n = idx_bytes(buf, 0x08, 2, zero, 0);
    assert_int_equal(tmpdir_write(dir, gz ? "empty.gz" : "empty", buf, n, gz, path), 0);
    CHECK(ctx, lt_idx_read(ctx, path, &t));
    assert_int_equal(lt_tensor_numel(t), 0);
    lt_tensor_free(t);
}

static void plain_round_trip(void **state) {
    (void)state;
    check_round_trip(0);
}

static void gzip_round_trip(void **state) {
    (void)state;
    check_round_trip(1);
}

static void bad_headers_fail_with_messages(void **state) {
    (void)state;
    const uint32_t dims[3] = {3, 4, 5};
    for (int gz = 0; gz < 2; gz++) {
        expect_fail("e", 0, gz, LT_EINVAL, "file is empty");
        idx_bytes(buf, 0x08, 3, dims, 60);
        expect_fail("m", 3, gz, LT_EINVAL, "file ends inside the IDX magic (3 of 4 bytes)");
        buf[0] = 0x01;
        expect_fail("bm", 76, gz, LT_EINVAL,
                    "not an IDX file (it starts with 01 00 08 03; an IDX file starts with 00 00");
        size_t n = idx_bytes(buf, 0x0d, 3, dims, 60);
        expect_fail("f32", n, gz, LT_EUNSUPPORTED,
                    "IDX element type 0x0d (f32) is not supported; lutra reads u8 (0x08) files");
        n = idx_bytes(buf, 0x42, 3, dims, 60);
        expect_fail("code", n, gz, LT_EINVAL, "unknown IDX element type 0x42");
        n = idx_bytes(buf, 0x08, 0, dims, 0);
        expect_fail("d0", n, gz, LT_EINVAL, "IDX header has 0 dims; lutra reads 1 to 8");
        n = idx_bytes(buf, 0x08, 9, (uint32_t[9]){1, 1, 1, 1, 1, 1, 1, 1, 1}, 1);
        expect_fail("d9", n, gz, LT_EINVAL, "IDX header has 9 dims");
        idx_bytes(buf, 0x08, 3, dims, 60);
        expect_fail("h", 9, gz, LT_EINVAL, "file ends inside the IDX header (9 of 16 bytes)");
    }
}

static void wrong_byte_counts_fail_with_messages(void **state) {
    (void)state;
    const uint32_t dims[3] = {3, 4, 5};
    size_t n = idx_bytes(buf, 0x08, 3, dims, 59);
    expect_fail("short", n, 0, LT_EINVAL, "header says 3 × 4 × 5 bytes but the file has 59");
    expect_fail("short.gz", n, 1, LT_EINVAL, "header says 3 × 4 × 5 bytes but the file has 59");
    n = idx_bytes(buf, 0x08, 3, dims, 61);
    expect_fail("long", n, 0, LT_EINVAL, "header says 3 × 4 × 5 bytes but the file has 61");
    expect_fail("long.gz", n, 1, LT_EINVAL, "header says 3 × 4 × 5 bytes but the file has 61");
    /* a header promising more than the file could ever hold allocates nothing */
    const uint32_t huge[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 2};
    n = idx_bytes(buf, 0x08, 4, huge, 10);
    expect_fail("huge", n, 0, LT_EINVAL, "header says 4294967295 × 4294967295 × 4294967295 × 2");
    expect_fail("huge.gz", n, 1, LT_EINVAL, "bytes, more than any file can hold");
    const uint32_t mnist[3] = {60000, 28, 28};
    n = idx_bytes(buf, 0x08, 3, mnist, 1234);
    expect_fail("train-images-idx3-ubyte", n, 0, LT_EINVAL,
                "header says 60000 × 28 × 28 bytes but the file has 1234");
    expect_fail("train-images-idx3-ubyte.gz", n, 1, LT_EINVAL,
                "header says 60000 × 28 × 28 bytes but the file has 1234");
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Headers that claim far more than the file holds (600000 × 280 × 28: 4.7 GB; 60000 × 28
 * × 28 × 400: 18.8 GB) over 5 MB of data that deflate cannot shrink: the message names
 * both sizes, and memory grows by what the file holds, never by the claim (a bound from
 * the compressed size, 1032:1 for deflate, would still allow 5 GB here). */
static void inflated_claims_allocate_nothing_large(void **state) {
    (void)state;
    const size_t data = (size_t)5 << 20;
    unsigned char *big = malloc(16 + 4 + data);
    assert_non_null(big);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < 20 + data; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        big[i] = (unsigned char)x;
    }
    const uint32_t claims[2][4] = {{600000, 280, 28}, {60000, 28, 28, 400}};
    const char *said[2] = {"header says 600000 × 280 × 28 bytes but the file has 5242880",
                           "header says 60000 × 28 × 28 × 400 bytes but the file has 5242876"};
    char path[512];
    for (int c = 0; c < 2; c++) {
        int ndim = c == 0 ? 3 : 4;
        size_t head = idx_bytes(buf, 0x08, ndim, claims[c], 0);
        memcpy(big + 20 - head, buf, head); /* the header right before the data */
        const unsigned char *file = big + 20 - head;
        size_t n = head + data - (size_t)(c == 0 ? 0 : 4);
        for (int gz = 0; gz < 2; gz++) {
            assert_int_equal(tmpdir_write(dir, gz ? "claim.gz" : "claim", file, n, gz, path), 0);
            long before = max_rss_kb();
            struct lt_tensor *t = NULL;
            assert_int_equal(lt_idx_read(ctx, path, &t), LT_EINVAL);
            assert_null(t);
            if (!strstr(lt_ctx_error(ctx), said[c]) ||
                strncmp(lt_ctx_error(ctx), path, strlen(path)))
                fail_msg("message '%s' lacks '%s'", lt_ctx_error(ctx), said[c]);
            long grown_mb = (max_rss_kb() - before) / 1024;
            if (grown_mb > 64)
                fail_msg("reading %s grew the peak memory by %ld MB", path, grown_mb);
        }
    }
    free(big);
}

/* A FIFO (or any other non-file) is refused at once, never waited on. */
static void fifos_are_refused_without_blocking(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/fifo.gz", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20); /* a blocking open() would hang here: the alarm ends the test as a failure */
    struct lt_tensor *t = NULL;
    assert_int_equal(lt_idx_read(ctx, path, &t), LT_EIO);
    alarm(0);
    assert_null(t);
    assert_non_null(strstr(lt_ctx_error(ctx), "fifo.gz: not a regular file (a FIFO)"));
    unlink(path);
}

static void damaged_gzip_fails_with_messages(void **state) {
    (void)state;
    const uint32_t dims[2] = {100, 100};
    size_t n = idx_bytes(buf, 0x08, 2, dims, 10000);
    char path[512];
    assert_int_equal(tmpdir_write(dir, "whole.gz", buf, n, 1, path), 0);
    size_t zn = 0;
    unsigned char *z = tmpdir_read(path, &zn);
    assert_non_null(z);

    /* cut inside the deflate stream, and just before the 8-byte trailer */
    memcpy(buf, z, zn);
    expect_fail("cut.gz", zn / 2, 0, LT_EINVAL, "the gzip stream is cut short");
    expect_fail("notrailer.gz", zn - 8, 0, LT_EINVAL, "the gzip stream is cut short");
    /* a wrong CRC */
    buf[zn - 6] ^= 0x55;
    expect_fail("crc.gz", zn, 0, LT_EIO, "corrupt gzip data (incorrect data check)");
    /* garbage in the deflate data: whichever error zlib finds first, it is a message */
    memcpy(buf, z, zn);
    for (size_t i = 20; i < 40; i++)
        buf[i] ^= 0xa5;
    char p2[512];
    assert_int_equal(tmpdir_write(dir, "garbage.gz", buf, zn, 0, p2), 0);
    struct lt_tensor *t = NULL;
    enum lt_status st = lt_idx_read(ctx, p2, &t);
    assert_true(st == LT_EIO || st == LT_EINVAL);
    assert_null(t);
    assert_non_null(strstr(lt_ctx_error(ctx), "garbage.gz: "));
    free(z);
}

static void missing_files_fail_with_eio(void **state) {
    (void)state;
    struct lt_tensor *t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/nope.gz", dir);
    assert_int_equal(lt_idx_read(ctx, path, &t), LT_EIO);
    assert_non_null(strstr(lt_ctx_error(ctx), "nope.gz: cannot open: No such file or directory"));
    assert_int_equal(lt_idx_read(ctx, dir, &t), LT_EIO);
    assert_non_null(strstr(lt_ctx_error(ctx), ": not a regular file (a directory)"));
    assert_null(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_round_trip),
        cmocka_unit_test(gzip_round_trip),
        cmocka_unit_test(bad_headers_fail_with_messages),
        cmocka_unit_test(wrong_byte_counts_fail_with_messages),
        cmocka_unit_test(damaged_gzip_fails_with_messages),
        cmocka_unit_test(missing_files_fail_with_eio),
        cmocka_unit_test(inflated_claims_allocate_nothing_large),
        cmocka_unit_test(fifos_are_refused_without_blocking),
    };
    return cmocka_run_group_tests_name("idx", tests, setup, teardown);
}
