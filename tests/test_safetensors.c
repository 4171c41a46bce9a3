/* safetensors: round trips of every dtype and metadata, the exact bytes the format
 * asks for (and an independent reader in Python when there is one), a message for every
 * kind of malformed file, no crash on any damaged file, and atomic writes. */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "core/lutra.h"
#include "kernels/half.h"
#include "kernels/rng.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-safetensors"
#include "tests/file_suite.h"

static char *path_of(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static char *path_in(const char *sub, const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    return path;
}

/* Files in dir/sub other than `keep` (a temporary left behind would be one). */
static int other_files(const char *sub, const char *keep) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!keep || strcmp(e->d_name, keep)))
            n++;
    closedir(d);
    return n;
}

static struct lt_tensor *tensor(enum lt_dtype dt, int ndim, const int64_t *shape, double base) {
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, dt, ndim, shape, &t));
    for (int64_t i = 0; i < lt_tensor_numel(t); i++)
        lt_tensor_set(t, i, base + (double)i * (dt == LT_DTYPE_U8 ? 1 : -0.75));
    return t;
}

#define N_ALL 8

static void round_trip_every_dtype_and_metadata(void **state) {
    (void)state;
    const char *names[N_ALL] = {"0.weight", "0.bias", "half",   "brain",
                                "ints",     "bytes",  "scalar", "empty"};
    struct lt_tensor *t[N_ALL] = {
        tensor(LT_DTYPE_F32, 2, (int64_t[]){3, 4}, 1.5),
        tensor(LT_DTYPE_F32, 1, (int64_t[]){3}, -2),
        tensor(LT_DTYPE_F16, 1, (int64_t[]){5}, 0.25),
        tensor(LT_DTYPE_BF16, 2, (int64_t[]){2, 3}, 8),
        tensor(LT_DTYPE_I32, 1, (int64_t[]){7}, 100),
        tensor(LT_DTYPE_U8, 1, (int64_t[]){3}, 250), /* odd size: alignment is the writer's job */
        tensor(LT_DTYPE_F32, 0, (int64_t[]){1}, 42) /* shape unused */,
        tensor(LT_DTYPE_F32, 2, (int64_t[]){0, 4}, 0),
    };
    const char *keys[2] = {"format", "epoch"}, *values[2] = {"pt", "3"};
    assert_int_equal(mkdir(path_of("rt"), 0755), 0);
    CHECK(ctx, lt_safetensors_save(ctx, path_of("rt/all.safetensors"), N_ALL, names, t, 2, keys,
                                   values));
    assert_int_equal(other_files("rt", "all.safetensors"), 0);

    struct lt_safetensors *f;
    CHECK(ctx, lt_safetensors_load(ctx, path_of("rt/all.safetensors"), &f));
    assert_int_equal(lt_safetensors_count(f), N_ALL);
    const char *disk[N_ALL] = {"F32", "F32", "F16", "BF16", "I32", "U8", "F32", "F32"};
    for (int i = 0; i < N_ALL; i++) {
        assert_string_equal(lt_safetensors_name(f, i), names[i]); /* the order given */
        assert_string_equal(lt_safetensors_dtype(f, i), disk[i]);
        assert_int_equal(lt_safetensors_find(f, names[i]), i);
        struct lt_tensor *r = lt_safetensors_tensor(f, i);
        assert_int_equal(lt_tensor_dtype(r), lt_tensor_dtype(t[i]));
        assert_int_equal(lt_tensor_ndim(r), lt_tensor_ndim(t[i]));
        for (int d = 0; d < lt_tensor_ndim(r); d++)
            assert_int_equal(lt_tensor_shape(r)[d], lt_tensor_shape(t[i])[d]);
        assert_int_equal(lt_tensor_bytes(r), lt_tensor_bytes(t[i]));
        assert_memory_equal(lt_tensor_data(r), lt_tensor_data(t[i]), lt_tensor_bytes(r));
    }
    assert_true(lt_tensor_get(lt_safetensors_tensor(f, 6), 0) == 42.0);
    assert_int_equal(lt_safetensors_find(f, "nope"), -1);
    assert_null(lt_safetensors_name(f, N_ALL));
    assert_null(lt_safetensors_tensor(f, -1));
    assert_int_equal(lt_safetensors_meta_count(f), 2);
    assert_string_equal(lt_safetensors_meta_key(f, 1), "epoch");
    assert_string_equal(lt_safetensors_meta_value(f, 1), "3");
    assert_string_equal(lt_safetensors_meta(f, "format"), "pt");
    assert_null(lt_safetensors_meta(f, "nope"));
    /* a tensor outlives its file object when retained */
    struct lt_tensor *kept = lt_tensor_retain(lt_safetensors_tensor(f, 0));
    lt_safetensors_free(f);
    assert_true(lt_tensor_get(kept, 1) == 1.5 - 0.75);
    lt_tensor_free(kept);
    lt_safetensors_free(NULL);
    for (int i = 0; i < N_ALL; i++)
        lt_tensor_free(t[i]);

    /* no metadata, no tensors: the checksum alone (the CRC-32 of nothing is 0) */
    CHECK(ctx, lt_safetensors_save(ctx, path_of("none.safetensors"), 0, NULL, NULL, 0, NULL, NULL));
    size_t n;
    unsigned char *b = tmpdir_read(path_of("none.safetensors"), &n);
    const char *json = "{\"__metadata__\":{\"lutra.data_crc32\":\"00000000\"}}";
    assert_int_equal(n, 8 + 48);
    assert_int_equal(b[0], 48);
    assert_memory_equal(b + 8, json, strlen(json));
    free(b);
    CHECK(ctx, lt_safetensors_load(ctx, path_of("none.safetensors"), &f));
    assert_int_equal(lt_safetensors_count(f), 0);
    assert_int_equal(lt_safetensors_meta_count(f), 0); /* the checksum is the reader's */
    assert_null(lt_safetensors_meta(f, LT_SAFETENSORS_CRC_KEY));
    assert_int_equal(lt_safetensors_checked(f), 1);
    lt_safetensors_free(f);
}

/* The spec byte by byte: u64 LE length, compact JSON padded with spaces to a multiple of
 * 8, offsets relative to the data, data widest dtype first, little-endian. */
static void header_layout_is_the_specs(void **state) {
    (void)state;
    struct lt_tensor *a = tensor(LT_DTYPE_F32, 1, (int64_t[]){2}, 1);  /* 1, 0.25 */
    struct lt_tensor *b = tensor(LT_DTYPE_U8, 1, (int64_t[]){3}, 7);   /* 7, 8, 9 */
    struct lt_tensor *c = tensor(LT_DTYPE_F16, 1, (int64_t[]){1}, -2); /* -2 */
    const char *names[3] = {"a", "b", "c"}, *k[1] = {"k"}, *v[1] = {"v"};
    CHECK(ctx, lt_safetensors_save(ctx, path_of("layout.safetensors"), 3, names,
                                   (struct lt_tensor *[]){a, b, c}, 1, k, v));
    const unsigned char data[13] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0x3e, /* a */
                                    0x00, 0xc0,                                     /* c */
                                    7,    8,    9};                                 /* b */
    char json[512];
    snprintf(json, sizeof json,
             "{\"__metadata__\":{\"k\":\"v\",\"lutra.data_crc32\":\"%08lx\"},"
             "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[10,13]},"
             "\"c\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[8,10]}}",
             crc32(0, data, sizeof data));
    size_t jn = strlen(json), hn = (jn + 7) / 8 * 8;
    size_t n;
    unsigned char *f = tmpdir_read(path_of("layout.safetensors"), &n);
    assert_non_null(f);
    assert_int_equal(n, 8 + hn + 13);
    for (int i = 0; i < 8; i++)
        assert_int_equal(f[i], (hn >> (8 * i)) & 0xff);
    assert_memory_equal(f + 8, json, jn);
    for (size_t i = jn; i < hn; i++)
        assert_int_equal(f[8 + i], ' ');
    assert_memory_equal(f + 8 + hn, data, 13);
    free(f);
    lt_tensor_free(a);
    lt_tensor_free(b);
    lt_tensor_free(c);
}

/* An independent reader: Python's json and struct decode the file the way
 * safetensors.torch does, and print what they find. */
static const char *py_reader =
    "import json, struct, sys, zlib\n"
    "d = open(sys.argv[1], 'rb').read()\n"
    "(n,) = struct.unpack('<Q', d[:8])\n"
    "h = json.loads(d[8:8 + n])\n"
    "meta = h.pop('__metadata__', {})\n"
    "assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())\n"
    "buf = d[8 + n:]\n"
    "assert meta['lutra.data_crc32'] == '%08x' % zlib.crc32(buf), 'checksum'\n"
    "spans = sorted(tuple(e['data_offsets']) for e in h.values())\n"
    "end = 0\n"
    "for b, e in spans:\n"
    "    assert b == end, 'hole or overlap'\n"
    "    end = e\n"
    "assert end == len(buf), 'trailing bytes'\n"
    "fmt = {'F32': ('f', 4), 'F16': ('e', 2), 'I32': ('i', 4), 'U8': ('B', 1), 'BF16': ('H', 2)}\n"
    "out = {'__metadata__': meta}\n"
    "for name, e in h.items():\n"
    "    c, size = fmt[e['dtype']]\n"
    "    b, end = e['data_offsets']\n"
    "    count = (end - b) // size\n"
    "    vals = list(struct.unpack('<%d%s' % (count, c), buf[b:end]))\n"
    "    if e['dtype'] == 'BF16':\n"
    "        vals = [struct.unpack('<f', struct.pack('<I', v << 16))[0] for v in vals]\n"
    "    out[name] = [e['dtype'], e['shape'], vals]\n"
    "print(json.dumps(out))\n";

static void python_reads_what_lutra_writes(void **state) {
    (void)state;
    struct lt_tensor *t[4] = {tensor(LT_DTYPE_F32, 2, (int64_t[]){2, 3}, 0.5),
                              tensor(LT_DTYPE_BF16, 1, (int64_t[]){3}, -1),
                              tensor(LT_DTYPE_F16, 1, (int64_t[]){2}, 3),
                              tensor(LT_DTYPE_I32, 1, (int64_t[]){2}, -5)};
    const char *names[4] = {"fc.weight", "bn.bias", "h", "steps"}, *k[1] = {"lutra"},
               *v[1] = {"0.1.0"};
    CHECK(ctx, lt_safetensors_save(ctx, path_of("py.safetensors"), 4, names, t, 1, k, v));
    char script[512], cmd[1200];
    FILE *s = fopen(path_of("reader.py"), "w");
    assert_non_null(s);
    fputs(py_reader, s);
    fclose(s);
    snprintf(script, sizeof script, "%s", path_of("reader.py"));
    /* the system's python starts faster than a version manager's shim */
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof cmd, "%s %s %s 2>/dev/null", py, script, path_of("py.safetensors"));
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    if (WIFEXITED(rc) && WEXITSTATUS(rc) == 127) { /* no python3 */
        for (int i = 0; i < 4; i++)
            lt_tensor_free(t[i]);
        printf("skipped: no python3 to read the file\n");
        skip();
    }
    assert_int_equal(rc, 0);
    json_error_t err;
    json_t *root = json_loads(out, 0, &err);
    if (!root)
        fail_msg("python printed '%s'", out);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(root, "__metadata__"), "lutra")),
        "0.1.0");
    const char *dt[4] = {"F32", "BF16", "F16", "I32"};
    for (int i = 0; i < 4; i++) {
        json_t *e = json_object_get(root, names[i]);
        assert_non_null(e);
        assert_string_equal(json_string_value(json_array_get(e, 0)), dt[i]);
        json_t *shape = json_array_get(e, 1), *vals = json_array_get(e, 2);
        assert_int_equal(json_array_size(shape), lt_tensor_ndim(t[i]));
        for (int d = 0; d < lt_tensor_ndim(t[i]); d++)
            assert_int_equal(json_integer_value(json_array_get(shape, d)),
                             lt_tensor_shape(t[i])[d]);
        assert_int_equal(json_array_size(vals), lt_tensor_numel(t[i]));
        for (int64_t j = 0; j < lt_tensor_numel(t[i]); j++)
            assert_true(json_number_value(json_array_get(vals, (size_t)j)) ==
                        lt_tensor_get(t[i], j));
    }
    json_decref(root);
    for (int i = 0; i < 4; i++)
        lt_tensor_free(t[i]);
}

/* A file of the given header text (length prefix from its size unless len is given)
 * and `data` zero bytes of data. */
static char *raw_file(const char *name, const char *header, uint64_t len, size_t data) {
    size_t hn = strlen(header);
    if (!len)
        len = hn;
    unsigned char *b = calloc(1, 8 + hn + data);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(len >> (8 * i));
    memcpy(b + 8, header, hn);
    char path[512];
    assert_int_equal(tmpdir_write(dir, name, b, 8 + hn + data, 0, path), 0);
    free(b);
    return path_of(name);
}

static void expect_load_fails(const char *path, enum lt_status st, const char *msg) {
    struct lt_safetensors *f = NULL;
    assert_int_equal(lt_safetensors_load(ctx, path, &f), st);
    assert_null(f);
    expect_error(msg);
    if (strncmp(lt_ctx_error(ctx), path, strlen(path)) != 0)
        fail_msg("message '%s' does not start with the path", lt_ctx_error(ctx));
}

#define T(body) "{\"t\":{" body "}}"

static void malformed_files_fail_with_messages(void **state) {
    (void)state;
    char path[512];
    assert_int_equal(tmpdir_write(dir, "five", "\1\0\0\0\0", 5, 0, path), 0);
    expect_load_fails(path, LT_EINVAL, "file is 5 bytes; a safetensors file starts with an 8-byte");
    /* DESIGN's example */
    unsigned char big[4096] = {0};
    uint64_t huge = 9000000000000000000ull;
    for (int i = 0; i < 8; i++)
        big[i] = (unsigned char)(huge >> (8 * i));
    assert_int_equal(tmpdir_write(dir, "ckpt.safetensors", big, sizeof big, 0, path), 0);
    expect_load_fails(path, LT_EINVAL,
                      "ckpt.safetensors: header length 9e18 exceeds file size 4096");
    big[0] = 0xff, big[1] = 0xff, big[2] = 0xff, big[3] = 0xff, big[7] = 0xff;
    assert_int_equal(tmpdir_write(dir, "ckpt2.safetensors", big, sizeof big, 0, path), 0);
    expect_load_fails(path, LT_EINVAL, "header length 1.84e19 exceeds file size 4096");
    /* within a (sparse) file, but past the 100 MB limit: nothing that large is allocated */
    memset(big, 0, 8);
    big[3] = 0x10; /* 256 MiB */
    assert_int_equal(tmpdir_write(dir, "sparse", big, 8, 0, path), 0);
    assert_int_equal(truncate(path, (off_t)300 << 20), 0);
    expect_load_fails(path, LT_EINVAL, "header length 268435456 exceeds the limit of 104857600");
    unlink(path);

    expect_load_fails(raw_file("json", "{\"t\": ", 0, 0), LT_EINVAL, "header is not valid JSON: ");
    expect_load_fails(raw_file("array", "[1, 2]", 0, 0), LT_EINVAL, "header is not a JSON object");
    expect_load_fails(raw_file("dup", "{\"a\":{},\"a\":{}}", 0, 0), LT_EINVAL,
                      "duplicate object key");
    expect_load_fails(raw_file("notobj", "{\"t\": 3}", 0, 0), LT_EINVAL,
                      "tensor 't' must be a JSON object");
    expect_load_fails(raw_file("nodtype", T("\"shape\":[1],\"data_offsets\":[0,4]"), 0, 4),
                      LT_EINVAL, "tensor 't' has no string 'dtype'");
    expect_load_fails(raw_file("noshape", T("\"dtype\":\"F32\",\"data_offsets\":[0,4]"), 0, 4),
                      LT_EINVAL, "tensor 't' has no 'shape' array");
    expect_load_fails(
        raw_file("nooffs", T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]"), 0, 4),
        LT_EINVAL, "tensor 't' has no 'data_offsets' pair");
    expect_load_fails(
        raw_file("negdim", T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 0, 4),
        LT_EINVAL, "tensor 't': shape must hold non-negative integers");
    expect_load_fails(
        raw_file("realoff", T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]"), 0, 4),
        LT_EINVAL, "tensor 't': data_offsets must hold non-negative integers");
    expect_load_fails(
        raw_file("f33", T("\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]"), 0, 4),
        LT_EINVAL, "tensor 't' has an unknown dtype 'F33'");
    expect_load_fails(
        raw_file("i8", T("\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]"), 0, 4),
        LT_EUNSUPPORTED, "tensor 't' has dtype I8, which lutra does not read");
    expect_load_fails(
        raw_file("dims9",
                 T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"), 0, 1),
        LT_EUNSUPPORTED, "tensor 't' has 9 dims; lutra supports up to 8");
    expect_load_fails(
        raw_file("mismatch", T("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 0, 8),
        LT_EINVAL, "tensor 't': shape [3] of F32 needs 12 bytes but data_offsets [0, 8] hold 8");
    expect_load_fails(
        raw_file("toolarge",
                 T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]"), 0,
                 0),
        LT_EINVAL, "tensor 't': shape [4294967296, 4294967296] is too large");
    expect_load_fails(
        raw_file("past", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 0, 4),
        LT_EINVAL, "tensor 't': data_offsets [0, 8] go past the end of the data (4 bytes)");
    expect_load_fails(
        raw_file("back", T("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]"), 0, 8),
        LT_EINVAL, "tensor 't': data_offsets [8, 0] run backwards");
    expect_load_fails(raw_file("overlap",
                               "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                               0, 12),
                      LT_EINVAL, "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    expect_load_fails(raw_file("hole",
                               "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                               0, 12),
                      LT_EINVAL, "bytes [4, 8) of the data belong to no tensor");
    expect_load_fails(
        raw_file("tail", T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 0, 6),
        LT_EINVAL, "bytes [4, 6) of the data belong to no tensor");
    expect_load_fails(raw_file("metaobj", "{\"__metadata__\": [1]}", 0, 0), LT_EINVAL,
                      "__metadata__ must be an object of strings");
    expect_load_fails(raw_file("metaval", "{\"__metadata__\": {\"epoch\": 3}}", 0, 0), LT_EINVAL,
                      "__metadata__ must map strings to strings; 'epoch' is not a string");
    expect_load_fails(path_of("missing.safetensors"), LT_EIO,
                      "missing.safetensors: cannot open: No such file or directory");
    expect_load_fails(dir, LT_EIO, "not a regular file");
}

/* PyTorch's int64 and float64 tensors (BatchNorm's num_batches_tracked) and bools. */
static void wider_dtypes_are_narrowed(void **state) {
    (void)state;
    const char *h = "{\"n\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                    "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]},"
                    "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[24,26]}}";
    size_t hn = strlen(h);
    unsigned char file[512] = {0};
    for (int i = 0; i < 8; i++)
        file[i] = (unsigned char)(hn >> (8 * i));
    memcpy(file + 8, h, hn);
    int64_t n[2] = {-7, 2147483647};
    double d = 0.1;
    memcpy(file + 8 + hn, n, 16);
    memcpy(file + 8 + hn + 16, &d, 8);
    file[8 + hn + 24] = 0;
    file[8 + hn + 25] = 1;
    char path[512];
    assert_int_equal(tmpdir_write(dir, "wide", file, 8 + hn + 26, 0, path), 0);
    struct lt_safetensors *f;
    CHECK(ctx, lt_safetensors_load(ctx, path, &f));
    assert_string_equal(lt_safetensors_dtype(f, 0), "I64");
    struct lt_tensor *t = lt_safetensors_tensor(f, 0);
    assert_int_equal(lt_tensor_dtype(t), LT_DTYPE_I32);
    assert_true(lt_tensor_get(t, 0) == -7 && lt_tensor_get(t, 1) == 2147483647);
    t = lt_safetensors_tensor(f, 1);
    assert_int_equal(lt_tensor_dtype(t), LT_DTYPE_F32);
    assert_true(lt_tensor_get(t, 0) == (double)0.1f);
    t = lt_safetensors_tensor(f, 2);
    assert_int_equal(lt_tensor_dtype(t), LT_DTYPE_U8);
    assert_true(lt_tensor_get(t, 0) == 0 && lt_tensor_get(t, 1) == 1);
    lt_safetensors_free(f);
    n[1] = 2147483648;
    memcpy(file + 8 + hn, n, 16);
    assert_int_equal(tmpdir_write(dir, "wide", file, 8 + hn + 26, 0, path), 0);
    expect_load_fails(path, LT_EINVAL,
                      "tensor 'n': I64 value 2147483648 (element 1) does not fit i32");
}

/* Every truncation and many random byte changes of a valid file: an error or a file,
 * never a crash (the sanitizer build watches the reads). */
static void damaged_files_never_crash(void **state) {
    (void)state;
    struct lt_tensor *t[3] = {tensor(LT_DTYPE_F32, 2, (int64_t[]){2, 3}, 1),
                              tensor(LT_DTYPE_BF16, 1, (int64_t[]){5}, 2),
                              tensor(LT_DTYPE_U8, 1, (int64_t[]){3}, 3)};
    const char *names[3] = {"a.weight", "b", "c"}, *k[1] = {"k"}, *v[1] = {"v"};
    CHECK(ctx, lt_safetensors_save(ctx, path_of("good"), 3, names, t, 1, k, v));
    size_t n = 0;
    unsigned char *good = tmpdir_read(path_of("good"), &n), *bad = malloc(n);
    char path[512];
    struct lt_safetensors *f;
    for (size_t len = 0; len < n; len++) {
        assert_int_equal(tmpdir_write(dir, "cut", good, len, 0, path), 0);
        f = NULL;
        assert_int_equal(lt_safetensors_load(ctx, path, &f), LT_EINVAL);
        assert_null(f);
    }
    int ok = 0;
    for (uint64_t it = 0; it < 1500; it++) {
        memcpy(bad, good, n);
        uint64_t r = lt_mix64(it);
        for (int j = 0; j < 1 + (int)(r % 3); j++) {
            uint64_t q = lt_mix64(r + (uint64_t)j);
            /* mostly the first 8 bytes and the header, where the numbers are */
            size_t at = (size_t)(q % (j == 0 ? 8 + 40 : n));
            bad[at] = (unsigned char)(q >> 32);
        }
        assert_int_equal(tmpdir_write(dir, "flip", bad, n, 0, path), 0);
        enum lt_status st = lt_safetensors_load(ctx, path, &f);
        assert_true(st == LT_OK || st == LT_EINVAL || st == LT_EUNSUPPORTED);
        if (st == LT_OK) {
            ok++;
            lt_safetensors_free(f);
        }
    }
    assert_true(ok < 1500);
    free(good);
    free(bad);
    for (int i = 0; i < 3; i++)
        lt_tensor_free(t[i]);
}

static void writes_are_atomic(void **state) {
    (void)state;
    struct lt_tensor *small = tensor(LT_DTYPE_F32, 1, (int64_t[]){4}, 1);
    struct lt_tensor *large = tensor(LT_DTYPE_F32, 1, (int64_t[]){1 << 16}, 2);
    const char *name[1] = {"w"};
    const char *target = "w.safetensors";
    assert_int_equal(mkdir(path_of("atomic"), 0755), 0);
#define path_of(name) path_in("atomic", name)
    CHECK(ctx, lt_safetensors_save(ctx, path_of(target), 1, name, &small, 0, NULL, NULL));
    size_t n0 = 0;
    unsigned char *before = tmpdir_read(path_of(target), &n0);
    /* overwriting replaces the file whole */
    CHECK(ctx, lt_safetensors_save(ctx, path_of(target), 1, name, &large, 0, NULL, NULL));
    struct lt_safetensors *f;
    CHECK(ctx, lt_safetensors_load(ctx, path_of(target), &f));
    assert_int_equal(lt_tensor_numel(lt_safetensors_tensor(f, 0)), 1 << 16);
    lt_safetensors_free(f);
    CHECK(ctx, lt_safetensors_save(ctx, path_of(target), 1, name, &small, 0, NULL, NULL));
    assert_int_equal(other_files("atomic", target), 0);

    /* a write that fails half-way (a file size limit: EFBIG) leaves the old file as it
     * was and no temporary */
    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum lt_status st = lt_safetensors_save(ctx, path_of(target), 1, name, &large, 0, NULL, NULL);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(st, LT_EIO);
    expect_error("w.safetensors: write failed: File too large (the file was not changed)");
    size_t n1 = 0;
    unsigned char *after = tmpdir_read(path_of(target), &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    assert_int_equal(other_files("atomic", target), 0);
    free(before);
    free(after);

    /* a directory that does not exist, or that cannot be written */
    assert_int_equal(lt_safetensors_save(ctx, path_of("no/such/dir/w.safetensors"), 1, name, &small,
                                         0, NULL, NULL),
                     LT_EIO);
    expect_error("w.safetensors: cannot create a file in ");
    expect_error("/no/such/dir: No such file or directory");
    if (geteuid() != 0) { /* root writes anywhere */
        char ro[512];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        assert_int_equal(mkdir(ro, 0555), 0);
        snprintf(ro, sizeof ro, "%s/ro/w.safetensors", dir);
        assert_int_equal(lt_safetensors_save(ctx, ro, 1, name, &small, 0, NULL, NULL), LT_EIO);
        expect_error("Permission denied");
        struct stat sb;
        assert_int_not_equal(stat(ro, &sb), 0);
    }
    /* a rename that fails (the target is a directory): the temporary goes too */
    char sub[512];
    snprintf(sub, sizeof sub, "%s/atomic/isdir", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(lt_safetensors_save(ctx, sub, 1, name, &small, 0, NULL, NULL), LT_EIO);
    expect_error("isdir: rename failed: Is a directory");
    rmdir(sub);
    assert_int_equal(other_files("atomic", target), 0);
    lt_tensor_free(small);
    lt_tensor_free(large);
#undef path_of
}

static void bad_arguments_write_nothing(void **state) {
    (void)state;
    struct lt_tensor *t = tensor(LT_DTYPE_F32, 1, (int64_t[]){2}, 1);
    struct lt_tensor *two[2] = {t, t};
    assert_int_equal(mkdir(path_of("args"), 0755), 0);
    const char *p = path_of("args/bad.safetensors");
    assert_int_equal(lt_safetensors_save(ctx, p, 2, (const char *[]){"x", "x"}, two, 0, NULL, NULL),
                     LT_EINVAL);
    expect_error("bad.safetensors: two tensors are called 'x'");
    assert_int_equal(
        lt_safetensors_save(ctx, p, 1, (const char *[]){"__metadata__"}, two, 0, NULL, NULL),
        LT_EINVAL);
    expect_error("'__metadata__' cannot name a tensor");
    assert_int_equal(lt_safetensors_save(ctx, p, 1, (const char *[]){NULL}, two, 0, NULL, NULL),
                     LT_EINVAL);
    expect_error("tensor 0 has no name");
    assert_int_equal(lt_safetensors_save(ctx, p, 1, (const char *[]){"\xff"}, two, 0, NULL, NULL),
                     LT_EINVAL);
    expect_error("tensor name 0 is not valid UTF-8");
    assert_int_equal(lt_safetensors_save(ctx, p, 1, (const char *[]){"x"}, two, 2,
                                         (const char *[]){"k", "k"}, (const char *[]){"1", "2"}),
                     LT_EINVAL);
    expect_error("two metadata entries are called 'k'");
    assert_int_equal(lt_safetensors_save(ctx, p, 1, (const char *[]){"x"}, two, 1,
                                         (const char *[]){"k"}, (const char *[]){"\xc3"}),
                     LT_EINVAL);
    expect_error("metadata value for 'k' is not valid UTF-8");
    assert_int_equal(lt_safetensors_save(ctx, p, -1, NULL, NULL, 0, NULL, NULL), LT_EINVAL);
    assert_int_equal(other_files("args", NULL), 0);
    lt_tensor_free(t);
}

/* A file of `h` (a header JSON) and `data`, written as is: what another writer would make. */
static char *file_of(const char *name, const char *h, const void *data, size_t n) {
    size_t hn = strlen(h);
    unsigned char *b = malloc(8 + hn + n + 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, h, hn);
    memcpy(b + 8 + hn, data, n);
    char path[512];
    assert_int_equal(tmpdir_write(dir, name, b, 8 + hn + n, 0, path), 0);
    free(b);
    return path_of(name);
}

/* The checkpoint that trained to NaN: one flipped bit anywhere in the data (an exponent
 * bit of a weight, a bit of an optimizer moment) is a checksum error naming the file. */
static void checksums_catch_flipped_bits(void **state) {
    (void)state;
    struct lt_tensor *t[3] = {tensor(LT_DTYPE_F32, 2, (int64_t[]){7, 5}, 0.5),
                              tensor(LT_DTYPE_BF16, 1, (int64_t[]){9}, 2),
                              tensor(LT_DTYPE_I32, 1, (int64_t[]){3}, 7)};
    const char *names[3] = {"0.weight", "optimizer.exp_avg.0.weight", "steps"};
    CHECK(ctx, lt_safetensors_save(ctx, path_of("ckpt.safetensors"), 3, names, t, 0, NULL, NULL));
    size_t n = 0;
    unsigned char *good = tmpdir_read(path_of("ckpt.safetensors"), &n), *bad = malloc(n);
    uint64_t hn = 0;
    for (int i = 0; i < 8; i++)
        hn |= (uint64_t)good[i] << (8 * i);
    size_t data_at = 8 + (size_t)hn;
    assert_int_equal(n - data_at, 7 * 5 * 4 + 9 * 2 + 3 * 4);
    struct lt_safetensors *f = NULL;
    CHECK(ctx, lt_safetensors_load(ctx, path_of("ckpt.safetensors"), &f));
    assert_int_equal(lt_safetensors_checked(f), 1);
    lt_safetensors_free(f);
    char path[512];
    for (size_t at = data_at; at < n; at++) {
        memcpy(bad, good, n);
        bad[at] ^= (unsigned char)(1u << (at % 8)); /* byte 3 bit 6 of a float: its exponent */
        assert_int_equal(tmpdir_write(dir, "ckpt.safetensors", bad, n, 0, path), 0);
        expect_load_fails(path, LT_EINVAL,
                          "ckpt.safetensors: data checksum mismatch (file corrupted?)");
    }
    /* a checksum that is not 8 hex digits */
    char *h = malloc(hn + 1);
    memcpy(h, good + 8, hn);
    h[hn] = '\0';
    char *digits = strstr(h, "\"lutra.data_crc32\":\"") + strlen("\"lutra.data_crc32\":\"");
    memcpy(digits, "12x45678", 8);
    expect_load_fails(file_of("badcrc", h, good + data_at, n - data_at), LT_EINVAL,
                      "__metadata__ 'lutra.data_crc32' must be 8 hex digits");
    free(h);
    /* a file without one (PyTorch's) reads as before */
    const float w[2] = {1, 2};
    const char *torch = "{\"__metadata__\":{\"format\":\"pt\"},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK(ctx, lt_safetensors_load(ctx, file_of("torch", torch, w, sizeof w), &f));
    assert_int_equal(lt_safetensors_checked(f), 0);
    assert_string_equal(lt_safetensors_meta(f, "format"), "pt");
    lt_safetensors_free(f);
    /* the key is the writer's own */
    assert_int_equal(lt_safetensors_save(ctx, path_of("mine"), 1, names, t, 1,
                                         (const char *[]){LT_SAFETENSORS_CRC_KEY},
                                         (const char *[]){"00000000"}),
                     LT_EINVAL);
    expect_error("mine: metadata key 'lutra.data_crc32' is lutra's own");
    free(good);
    free(bad);
    for (int i = 0; i < 3; i++)
        lt_tensor_free(t[i]);
}

/* An I64 value beyond i32 in a file whose checksum fails: the checksum speaks first. */
static void checksum_is_checked_before_values(void **state) {
    (void)state;
    const int64_t v[2] = {1, (int64_t)1 << 40};
    char h[256];
    const char *fmt = "{\"__metadata__\":{\"lutra.data_crc32\":\"%08lx\"},"
                      "\"n\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
    snprintf(h, sizeof h, fmt, crc32(0, (const Bytef *)v, sizeof v));
    expect_load_fails(file_of("wide_ok", h, v, sizeof v), LT_EINVAL,
                      "tensor 'n': I64 value 1099511627776 (element 1) does not fit i32");
    snprintf(h, sizeof h, fmt, crc32(0, (const Bytef *)v, sizeof v) ^ 1);
    expect_load_fails(file_of("wide_bad", h, v, sizeof v), LT_EINVAL, "data checksum mismatch");
}

/* NaN and inf are read as they are and counted, per dtype, after narrowing. */
static void nonfinite_values_are_counted(void **state) {
    (void)state;
    const float f32[4] = {1, NAN, INFINITY, -INFINITY}, pad = 0;
    const double f64[2] = {1e300, 0.5}; /* 1e300 is inf as f32 */
    const uint16_t f16[3] = {0x3c00, 0x7e00, 0xfc00}, bf16[3] = {0x3f80, 0x3f80, 0x7f81};
    const int32_t i32[1] = {-1};
    unsigned char d[56];
    memcpy(d, f32, 16);
    memcpy(d + 16, &pad, 4);
    memcpy(d + 20, i32, 4);
    memcpy(d + 24, f64, 16);
    memcpy(d + 40, f16, 6);
    memcpy(d + 46, bf16, 6);
    memset(d + 52, 0, 4);
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                    "\"p\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
                    "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[40,46]},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[46,52]},"
                    "\"u\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[52,56]},"
                    "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[20,24]}}";
    struct lt_safetensors *f;
    CHECK(ctx, lt_safetensors_load(ctx, file_of("nan", h, d, sizeof d), &f));
    const struct {
        const char *name;
        int64_t nan, inf, first;
    } want[6] = {{"a", 1, 2, 1}, {"d", 0, 1, 0}, {"p", 0, 0, -1},
                 {"h", 1, 1, 1}, {"b", 1, 0, 2}, {"i", 0, 0, -1}};
    for (int k = 0; k < 6; k++) {
        int i = lt_safetensors_find(f, want[k].name);
        int64_t nan = -1, inf = -1, first = -2;
        int64_t total = lt_safetensors_nonfinite(f, i, &nan, &inf, &first);
        if (nan != want[k].nan || inf != want[k].inf || first != want[k].first ||
            total != nan + inf)
            fail_msg("tensor %s: %lld NaN, %lld inf, first %lld", want[k].name, (long long)nan,
                     (long long)inf, (long long)first);
    }
    assert_int_equal(lt_safetensors_nonfinite(f, 99, NULL, NULL, NULL), 0);
    assert_int_equal(lt_safetensors_checked(f), 0);
    lt_safetensors_free(f);
}

/* A FIFO, a directory or an empty path: refused with a message, never waited on. */
static void only_regular_files_are_read(void **state) {
    (void)state;
    assert_int_equal(mkfifo(path_of("fifo.safetensors"), 0600), 0);
    alarm(20); /* a blocking open() would hang: the alarm ends the test as a failure */
    expect_load_fails(path_of("fifo.safetensors"), LT_EIO,
                      "fifo.safetensors: not a regular file (a FIFO)");
    alarm(0);
    expect_load_fails(dir, LT_EIO, ": not a regular file (a directory)");
    struct lt_safetensors *f = NULL;
    assert_int_equal(lt_safetensors_load(ctx, "", &f), LT_EINVAL);
    expect_error("empty file path");
    assert_null(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_every_dtype_and_metadata),
        cmocka_unit_test(header_layout_is_the_specs),
        cmocka_unit_test(python_reads_what_lutra_writes),
        cmocka_unit_test(malformed_files_fail_with_messages),
        cmocka_unit_test(wider_dtypes_are_narrowed),
        cmocka_unit_test(damaged_files_never_crash),
        cmocka_unit_test(writes_are_atomic),
        cmocka_unit_test(bad_arguments_write_nothing),
        cmocka_unit_test(checksums_catch_flipped_bits),
        cmocka_unit_test(checksum_is_checked_before_values),
        cmocka_unit_test(nonfinite_values_are_counted),
        cmocka_unit_test(only_regular_files_are_read),
    };
    return cmocka_run_group_tests_name("safetensors", tests, setup, teardown);
}
