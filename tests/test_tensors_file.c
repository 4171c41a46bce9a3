/* Tensors files: safetensors files and NumPy pairs read back through a loader, the task
 * told by y's dtype, and a message naming the file for each way a file is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/lutra.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-tensors"
#include "tests/file_suite.h"
static unsigned char buf[1 << 14];

static const char *path_of(const char *name, char *path) {
    snprintf(path, 512, "%s/%s", dir, name);
    return path;
}

/* A tensor of values v(i) = f0 + i * step (flat index i). */
static struct lt_tensor *tensor(enum lt_dtype dt, int ndim, const int64_t *shape, double f0,
                                double step) {
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, dt, ndim, shape, &t));
    for (int64_t i = 0; i < lt_tensor_numel(t); i++)
        lt_tensor_set(t, i, f0 + (double)i * step);
    return t;
}

static void save(const char *path, int n, const char *const *names, struct lt_tensor *const *t) {
    CHECK(ctx, lt_safetensors_save(ctx, path, n, names, t, 0, NULL, NULL));
}

/* A .npy file's bytes in `buf`: the given dict as its header (version 1 or 2), padded
 * so that the data start at a multiple of 64, then n data bytes. */
static size_t npy_bytes(int version, const char *dict, const void *data, size_t n) {
    size_t prefix = version == 1 ? 10 : 12, len = strlen(dict);
    size_t hlen = (prefix + len + 1 + 63) / 64 * 64 - prefix;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)version;
    buf[7] = 0;
    for (size_t b = 0; b < prefix - 8; b++)
        buf[8 + b] = (unsigned char)(hlen >> (8 * b));
    memcpy(buf + prefix, dict, len);
    memset(buf + prefix + len, ' ', hlen - len - 1);
    buf[prefix + hlen - 1] = '\n';
    memcpy(buf + prefix + hlen, data, n);
    return prefix + hlen + n;
}

static void write_npy(const char *name, int version, const char *dict, const void *data, size_t n) {
    char path[512];
    assert_int_equal(tmpdir_write(dir, name, buf, npy_bytes(version, dict, data, n), 0, path), 0);
}

/* Opening `path` fails with st, and the message starts with `start` and holds msg. */
static void expect_fail(const char *path, const char *start, enum lt_status st, const char *msg) {
    struct lt_dataset *ds = NULL;
    assert_int_equal(lt_dataset_open_tensors(ctx, path, &ds), st);
    assert_null(ds);
    const char *err = lt_ctx_error(ctx);
    if (!strstr(err, msg) || strncmp(err, start, strlen(start)) != 0)
        fail_msg("message '%s' lacks '%s' or does not start with '%s'", err, msg, start);
}

/* One epoch, in order, through loaders without and with workers: each batch's x and y
 * rows equal rows of the expected x (as f32 or i32) and y (i32 classes or f32). */
static void expect_batches(const struct lt_dataset *ds, const void *want_x, size_t x_row,
                           const void *want_y, size_t y_row) {
    for (int workers = 0; workers <= 2; workers += 2) {
        struct lt_loader_config c = lt_loader_defaults(3);
        c.shuffle = 0;
        c.workers = workers;
        struct lt_loader *ld;
        CHECK(ctx, lt_loader_new(ctx, ds, &c, &ld));
        int64_t i = 0;
        for (int64_t it = 0; it < lt_loader_batches(ld); it++) {
            struct lt_batch b;
            CHECK(ctx, lt_loader_next(ld, &b));
            assert_int_equal(lt_tensor_bytes(b.x), (size_t)b.size * x_row);
            assert_int_equal(lt_tensor_bytes(b.y), (size_t)b.size * y_row);
            assert_memory_equal(lt_tensor_data(b.x), (const char *)want_x + (size_t)i * x_row,
                                (size_t)b.size * x_row);
            assert_memory_equal(lt_tensor_data(b.y), (const char *)want_y + (size_t)i * y_row,
                                (size_t)b.size * y_row);
            i += b.size;
        }
        assert_int_equal(i, lt_dataset_size(ds));
        lt_loader_free(ld);
    }
}

/* ---- safetensors ------------------------------------------------------------------- */

static void safetensors_classification(void **state) {
    (void)state;
    char path[512];
    struct lt_tensor *t[2] = {tensor(LT_DTYPE_F32, 2, (int64_t[]){7, 3}, 0.5, 0.25),
                              tensor(LT_DTYPE_I32, 1, (int64_t[]){7}, 0, 0)};
    const int32_t labels[7] = {0, 4, 1, 2, 0, 3, 1};
    memcpy(lt_tensor_data(t[1]), labels, sizeof labels);
    const char *names[2] = {"y", "x"}; /* the order in the file does not matter */
    struct lt_tensor *order[2] = {t[1], t[0]};
    save(path_of("cls.safetensors", path), 2, names, order);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_tensors(ctx, path, &ds));
    assert_int_equal(lt_dataset_size(ds), 7);
    assert_int_equal(lt_dataset_classes(ds), 5); /* max + 1 */
    assert_string_equal(lt_dataset_class_name(ds, 4), "4");
    assert_string_equal(lt_dataset_origin(ds), path);
    struct lt_sample_shape xs, ys;
    lt_dataset_sample_shape(ds, &xs, &ys);
    assert_int_equal(xs.dtype, LT_DTYPE_F32);
    assert_int_equal(xs.ndim, 1);
    assert_int_equal(xs.shape[0], 3);
    assert_int_equal(ys.dtype, LT_DTYPE_I32);
    assert_int_equal(ys.ndim, 0);
    expect_batches(ds, lt_tensor_data(t[0]), 3 * 4, labels, 4);
    lt_dataset_free(ds);
    lt_tensor_free(t[0]);
    lt_tensor_free(t[1]);
}

static void safetensors_regression(void **state) {
    (void)state;
    char path[512];
    /* u8 x is scaled to [0, 1]; a bf16 target becomes f32 */
    struct lt_tensor *t[2] = {tensor(LT_DTYPE_U8, 2, (int64_t[]){6, 4}, 3, 10),
                              tensor(LT_DTYPE_BF16, 2, (int64_t[]){6, 2}, -3, 0.5)};
    save(path_of("reg.safetensors", path), 2, (const char *[]){"x", "y"}, t);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_tensors(ctx, path, &ds));
    assert_int_equal(lt_dataset_size(ds), 6);
    assert_int_equal(lt_dataset_classes(ds), 0);
    float x[24], y[12];
    for (int i = 0; i < 24; i++)
        x[i] = (float)(3 + 10 * i) / 255.0f;
    for (int i = 0; i < 12; i++)
        y[i] = -3.0f + 0.5f * (float)i;
    expect_batches(ds, x, 4 * 4, y, 2 * 4);
    lt_dataset_free(ds);
    lt_tensor_free(t[0]);
    lt_tensor_free(t[1]);
}

/* I64 labels (what PyTorch saves) are read into i32. */
static void safetensors_i64_labels(void **state) {
    (void)state;
    char path[512];
    const char *json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
                       "\"y\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[24,48]}}";
    size_t len = strlen(json), hlen = (len + 7) / 8 * 8;
    for (int b = 0; b < 8; b++)
        buf[b] = (unsigned char)(hlen >> (8 * b));
    memcpy(buf + 8, json, len);
    memset(buf + 8 + len, ' ', hlen - len);
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const int64_t labels[3] = {2, 0, 1};
    memcpy(buf + 8 + hlen, x, sizeof x);
    memcpy(buf + 8 + hlen + sizeof x, labels, sizeof labels);
    assert_int_equal(tmpdir_write(dir, "i64.safetensors", buf, 8 + hlen + 48, 0, path), 0);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_tensors(ctx, path, &ds));
    assert_int_equal(lt_dataset_classes(ds), 3);
    const int32_t want[3] = {2, 0, 1};
    expect_batches(ds, x, 2 * 4, want, 4);
    lt_dataset_free(ds);
}

static void safetensors_errors_name_the_file(void **state) {
    (void)state;
    char path[512];
    struct lt_tensor *a = tensor(LT_DTYPE_F32, 2, (int64_t[]){4, 2}, 0, 1);
    struct lt_tensor *y3 = tensor(LT_DTYPE_I32, 1, (int64_t[]){3}, 0, 1);
    struct lt_tensor *y4 = tensor(LT_DTYPE_I32, 1, (int64_t[]){4}, 1, -1); /* 1, 0, -1, -2 */
    save(path_of("nox.safetensors", path), 3, (const char *[]){"a", "b", "y"},
         (struct lt_tensor *[]){a, a, y4});
    expect_fail(path, path, LT_EINVAL, ": no tensor named 'x' (it has: a, b, y)");
    save(path_of("noy.safetensors", path), 2, (const char *[]){"x", "z"},
         (struct lt_tensor *[]){a, y4});
    expect_fail(path, path, LT_EINVAL, ": no tensor named 'y' (it has: x, z)");
    save(path_of("n.safetensors", path), 2, (const char *[]){"x", "y"},
         (struct lt_tensor *[]){a, y3});
    expect_fail(path, path, LT_EINVAL, ": x has 4 samples but y has 3");
    save(path_of("neg.safetensors", path), 2, (const char *[]){"x", "y"},
         (struct lt_tensor *[]){a, y4});
    expect_fail(path, path, LT_EINVAL, ": y[2] is -1; a class index must be >= 0");
    struct lt_tensor *ids = tensor(LT_DTYPE_I32, 2, (int64_t[]){4, 2}, 0, 1);
    save(path_of("int2d.safetensors", path), 2, (const char *[]){"x", "y"},
         (struct lt_tensor *[]){a, ids});
    expect_fail(path, path, LT_EINVAL, ": integer y must be class indices (N), but it has 2 dims");
    expect_fail(path_of("nope.safetensors", path), path, LT_EIO, "cannot open");
    assert_int_equal(tmpdir_write(dir, "data.csv", "1,2\n", 4, 0, path), 0);
    expect_fail(path, path, LT_EINVAL, "a tensors file is a .safetensors file or x's .npy file");
    lt_tensor_free(a);
    lt_tensor_free(ids);
    lt_tensor_free(y3);
    lt_tensor_free(y4);
}

/* ---- NumPy pairs -------------------------------------------------------------------- */

static void npy_pairs(void **state) {
    (void)state;
    char path[512];
    /* the 'x' replaced is the file name's last, never one in a folder's name */
    assert_int_equal(mkdir(path_of("xx", path), 0755), 0);
    float x[30];
    for (int i = 0; i < 30; i++)
        x[i] = (float)i * 0.125f - 1.0f;
    const int64_t labels[5] = {2, 0, 1, 2, 1};
    write_npy("xx/train_x.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5, 2, 3), }",
              x, sizeof x);
    write_npy("xx/train_y.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }",
              labels, sizeof labels);
    struct lt_dataset *ds;
    CHECK(ctx, lt_dataset_open_tensors(ctx, path_of("xx/train_x.npy", path), &ds));
    assert_int_equal(lt_dataset_size(ds), 5);
    assert_int_equal(lt_dataset_classes(ds), 3);
    assert_string_equal(lt_dataset_origin(ds), path);
    struct lt_sample_shape xs;
    lt_dataset_sample_shape(ds, &xs, NULL);
    assert_int_equal(xs.ndim, 2);
    assert_int_equal(xs.shape[0], 2);
    assert_int_equal(xs.shape[1], 3);
    const int32_t want[5] = {2, 0, 1, 2, 1};
    expect_batches(ds, x, 6 * 4, want, 4);
    lt_dataset_free(ds);

    /* version 2.0, u8 pixels and an f16 target (1.5, -2, 0.5, 3): a regression */
    const uint8_t px[12] = {0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8};
    const uint16_t half[4] = {0x3e00, 0xc000, 0x3800, 0x4200};
    write_npy("a_x.npy", 2, "{\"shape\": (4, 3), \"fortran_order\": False, \"descr\": \"|u1\"}", px,
              sizeof px);
    write_npy("a_y.npy", 2, "{'descr':'<f2','fortran_order':False,'shape':(4,)}", half,
              sizeof half);
    CHECK(ctx, lt_dataset_open_tensors(ctx, path_of("a_x.npy", path), &ds));
    assert_int_equal(lt_dataset_classes(ds), 0);
    float fx[12];
    for (int i = 0; i < 12; i++)
        fx[i] = (float)px[i] / 255.0f;
    const float fy[4] = {1.5f, -2.0f, 0.5f, 3.0f};
    expect_batches(ds, fx, 3 * 4, fy, 4);
    lt_dataset_free(ds);

    /* i32 ids stay i32, with their largest id and its place */
    int32_t ids[12];
    for (int i = 0; i < 12; i++)
        ids[i] = i == 7 ? 900 : i * 3;
    const float t[3] = {0.25f, 0.5f, 0.75f};
    write_npy("x.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 4), }", ids,
              sizeof ids);
    write_npy("y.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", t, sizeof t);
    CHECK(ctx, lt_dataset_open_tensors(ctx, path_of("x.npy", path), &ds));
    int64_t where;
    assert_int_equal(lt_dataset_max_id(ds, &where), 900);
    assert_int_equal(where, 7);
    expect_batches(ds, ids, 4 * 4, t, 4);
    lt_dataset_free(ds);
}

static void npy_errors_name_the_file(void **state) {
    (void)state;
    char path[512], y_path[512];
    const float x[8] = {0};
    const int32_t y3[3] = {0, 1, 2}, yneg[4] = {0, 1, 2, -7};
    const char *x42 = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }";
    path_of("e_x.npy", path);
    path_of("e_y.npy", y_path);
    write_npy("e_x.npy", 1, x42, x, sizeof x);
    expect_fail(path, y_path, LT_EIO, "e_y.npy: cannot open: No such file or directory");
    write_npy("e_y.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", y3,
              sizeof y3);
    expect_fail(path, path, LT_EINVAL, "e_x.npy has 4 samples but ");
    expect_fail(path, path, LT_EINVAL, "e_y.npy has 3");
    write_npy("e_y.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", yneg,
              sizeof yneg);
    expect_fail(path, y_path, LT_EINVAL, "e_y.npy: y[3] is -7; a class index must be >= 0");

    /* what the reader refuses in x's file */
    const struct {
        int version;
        const char *dict;
        size_t bytes;
        const char *msg;
    } bad[] = {
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 32,
         "float64 ('<f8') is not read: save the array as float32"},
        {1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4, 2), }", 32,
         "dtype '>f4' is big-endian"},
        {1, "{'descr': '<c8', 'fortran_order': False, 'shape': (4,), }", 32,
         "dtype '<c8' is not read; lutra reads uint8"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 2), }", 32,
         "the array is in Fortran order"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", 28,
         "shape (4, 2) of '<f4' needs 32 data bytes but the file holds 28"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", 36,
         "shape (4, 2) of '<f4' needs 32 data bytes but the file holds 36"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 32,
         "needs more than the 32 data bytes the file holds"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': [4, 2], }", 32,
         "bad .npy header: 'shape' is not a tuple"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, -2), }", 32,
         "'shape' holds something that is not a non-negative integer"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 8)}", 32,
         "'shape' has more dims than lutra's tensors hold (8)"},
        {1, "{'descr': '<f4', 'shape': (4, 2), }", 32,
         "it lacks one of 'descr', 'fortran_order' and 'shape'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), 'extra': 1}", 32,
         "it has a key other than 'descr', 'fortran_order' and 'shape'"},
        {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4, 2)}", 32,
         "a key appears twice"},
        {1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,)}", 32,
         "structured arrays are not read"},
        {1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (4, 2)}", 32,
         "'fortran_order' is neither True nor False"},
        {1, "{'descr': '<f4' 'fortran_order': False, 'shape': (4, 2)}", 32,
         "entries are not separated by ','"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2)} x", 32,
         "text follows the dict"},
        {1, "('descr', '<f4')", 32, "it is not a dict"},
        {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }", 32,
         ".npy format version 3.0; lutra reads 1.0 and 2.0"},
    };
    unsigned char data[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n =
            npy_bytes(bad[i].version == 3 ? 2 : bad[i].version, bad[i].dict, data, bad[i].bytes);
        buf[6] = (unsigned char)bad[i].version;
        assert_int_equal(tmpdir_write(dir, "e_x.npy", buf, n, 0, path), 0);
        expect_fail(path, path, LT_EINVAL, bad[i].msg);
    }

    /* an int64 past i32 names its element */
    const int64_t wide[4] = {1, 2, (int64_t)1 << 40, 3};
    write_npy("e_x.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }", wide,
              sizeof wide);
    expect_fail(path, path, LT_EINVAL, "int64 value 1099511627776 (element 2) does not fit i32");
    /* not a .npy file at all, a header longer than the file, a cut prefix */
    assert_int_equal(tmpdir_write(dir, "e_x.npy", "PK\3\4 not numpy", 15, 0, path), 0);
    expect_fail(path, path, LT_EINVAL, "not a .npy file (it does not start with \\x93NUMPY)");
    npy_bytes(1, "{}", data, 0);
    buf[8] = 0xff;
    buf[9] = 0x7f;
    assert_int_equal(tmpdir_write(dir, "e_x.npy", buf, 64, 0, path), 0);
    expect_fail(path, path, LT_EINVAL, ".npy header of 32767 bytes does not fit the file's 64");
    assert_int_equal(tmpdir_write(dir, "e_x.npy", buf, 7, 0, path), 0);
    expect_fail(path, path, LT_EINVAL, "not a .npy file");
    /* y's file is named after x's last 'x': a name without one has no pair */
    write_npy("data.npy", 1, x42, x, sizeof x);
    expect_fail(path_of("data.npy", path), path, LT_EINVAL, "this file name has no 'x'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(safetensors_classification),
        cmocka_unit_test(safetensors_regression),
        cmocka_unit_test(safetensors_i64_labels),
        cmocka_unit_test(safetensors_errors_name_the_file),
        cmocka_unit_test(npy_pairs),
        cmocka_unit_test(npy_errors_name_the_file),
    };
    return cmocka_run_group_tests_name("tensors_file", tests, setup, teardown);
}
