/* safetensors files: atomic writing, and reading that checks every number in the header
 * against the file before it is used.
 *
 * Layout (Hugging Face's format): u64 little-endian header length N, N bytes of JSON
 * mapping each tensor name to {dtype, shape, data_offsets: [begin, end]} plus an
 * optional "__metadata__" string map, then the data, whose every byte belongs to exactly
 * one tensor. A reader here never reads outside the file, never allocates what the file
 * cannot hold, and says what is wrong with a malformed file.
 *
 * Every file lutra writes carries the CRC-32 (zlib's, as Python's zlib.crc32) of its data
 * section in __metadata__ (LT_SAFETENSORS_CRC_KEY, 8 lowercase hex digits); a file that
 * has one is verified when read, so a flipped bit in a checkpoint is an error, not a NaN
 * many steps later. Files from elsewhere (PyTorch) have none and are read as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "core/atomic_file.h"
#include "core/fail.h"
#include "core/file_open.h"
#include "core/mem.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data are little-endian; this file assumes a little-endian host"
#endif

#define MAX_HEADER ((uint64_t)100 << 20) /* the reference implementation's limit */

/* How a dtype on disk maps onto lutra's. Wider types are narrowed on reading. */
enum conv { CONV_NONE, CONV_I64, CONV_F64, CONV_BOOL };

struct disk_dtype {
    const char *name;
    enum lt_dtype dt;
    size_t size; /* bytes per element on disk */
    enum conv conv;
};

static const struct disk_dtype disk_dtypes[] = {
    {"F32", LT_DTYPE_F32, 4, CONV_NONE},   {"F16", LT_DTYPE_F16, 2, CONV_NONE},
    {"BF16", LT_DTYPE_BF16, 2, CONV_NONE}, {"I32", LT_DTYPE_I32, 4, CONV_NONE},
    {"U8", LT_DTYPE_U8, 1, CONV_NONE},     {"I64", LT_DTYPE_I32, 8, CONV_I64},
    {"F64", LT_DTYPE_F32, 8, CONV_F64},    {"BOOL", LT_DTYPE_U8, 1, CONV_BOOL},
};

/* safetensors' other dtypes: known, but without a lutra dtype. */
static const char *const unsupported_dtypes[] = {"I8",      "I16",     "U16",     "U32",
                                                 "U64",     "F8_E4M3", "F8_E5M2", "F8_E8M0",
                                                 "F6_E2M3", "F6_E3M2", "F4",      "C64"};

static const char *disk_name(enum lt_dtype dt) {
    for (size_t i = 0; i < sizeof disk_dtypes / sizeof *disk_dtypes; i++)
        if (disk_dtypes[i].dt == dt && disk_dtypes[i].conv == CONV_NONE)
            return disk_dtypes[i].name;
    return NULL;
}

/* Exact below a billion; beyond, three digits and a power of ten ("9.22e18"), because a
 * number that large in a header is garbage and its digits are noise. */
static const char *count_str(char *buf, size_t size, uint64_t v) {
    if (v < 1000000000ull) {
        snprintf(buf, size, "%llu", (unsigned long long)v);
        return buf;
    }
    int exp = 0;
    double m = (double)v;
    while (m >= 10) {
        m /= 10;
        exp++;
    }
    char mant[16];
    snprintf(mant, sizeof mant, "%.2f", m);
    char *end = mant + strlen(mant);
    while (end[-1] == '0')
        *--end = '\0';
    if (end[-1] == '.')
        end[-1] = '\0';
    snprintf(buf, size, "%se%d", mant, exp);
    return buf;
}

/* ---- writing ---------------------------------------------------------------------------- */

/* Checks the caller's arrays and builds the header: n entries in the given order, with
 * offsets from a layout that puts wider dtypes first. */
static enum lt_status build_header(struct lt_ctx *ctx, const char *path, int n,
                                   const char *const *names, struct lt_tensor *const *tensors,
                                   int n_meta, const char *const *keys, const char *const *values,
                                   int *layout, char **header, size_t *header_len) {
    if (n < 0 || n_meta < 0)
        return lt_fail(ctx, LT_EINVAL, "%s: negative tensor or metadata count", path);
    for (int i = 0; i < n; i++) {
        if (!names[i] || !tensors[i])
            return lt_fail(ctx, LT_EINVAL, "%s: tensor %d has no %s", path, i,
                           names[i] ? "tensor" : "name");
        if (!strcmp(names[i], "__metadata__"))
            return lt_fail(ctx, LT_EINVAL, "%s: '__metadata__' cannot name a tensor", path);
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                return lt_fail(ctx, LT_EINVAL, "%s: two tensors are called '%s'", path, names[i]);
    }
    for (int k = 0; k < n_meta; k++) {
        if (!keys[k] || !values[k])
            return lt_fail(ctx, LT_EINVAL, "%s: metadata entry %d has no %s", path, k,
                           keys[k] ? "value" : "key");
        if (!strcmp(keys[k], LT_SAFETENSORS_CRC_KEY))
            return lt_fail(ctx, LT_EINVAL,
                           "%s: metadata key '%s' is lutra's own (the data checksum it writes)",
                           path, keys[k]);
        for (int j = 0; j < k; j++)
            if (!strcmp(keys[k], keys[j]))
                return lt_fail(ctx, LT_EINVAL, "%s: two metadata entries are called '%s'", path,
                               keys[k]);
    }

    /* layout: a stable order by element size, widest first */
    int m = 0;
    for (size_t w = 8; w >= 1; w /= 2)
        for (int i = 0; i < n; i++)
            if (lt_dtype_bytes(lt_tensor_dtype(tensors[i])) == w)
                layout[m++] = i;
    LT_ASSERT(m == n);
    uint64_t *begin = lt_alloc(ctx, ((size_t)n + 1) * sizeof *begin);
    if (!begin)
        return LT_ENOMEM;
    uint64_t off = 0;
    uLong crc = crc32_z(0, NULL, 0);
    for (int k = 0; k < n; k++) {
        begin[layout[k]] = off;
        off += lt_tensor_bytes(tensors[layout[k]]);
        crc = crc32_z(crc, lt_tensor_data(tensors[layout[k]]), lt_tensor_bytes(tensors[layout[k]]));
    }
    char crc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08lx", (unsigned long)crc & 0xffffffffUL);

    enum lt_status st = LT_OK;
    json_t *root = json_object(), *meta = NULL;
    if (!root)
        st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory building the header", path);
    if (st == LT_OK) {
        meta = json_object();
        if (!meta || json_object_set_new(root, "__metadata__", meta) != 0)
            st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory building the header", path);
        for (int k = 0; k < n_meta && st == LT_OK; k++) {
            json_t *v = json_string(values[k]);
            if (!v)
                st = lt_fail(ctx, LT_EINVAL, "%s: metadata value for '%s' is not valid UTF-8", path,
                             keys[k]);
            else if (json_object_set_new(meta, keys[k], v) != 0)
                st = lt_fail(ctx, LT_EINVAL, "%s: metadata key %d is not valid UTF-8", path, k);
        }
        if (st == LT_OK && json_object_set_new(meta, LT_SAFETENSORS_CRC_KEY, json_string(crc_hex)))
            st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory building the header", path);
    }
    for (int i = 0; i < n && st == LT_OK; i++) {
        const struct lt_tensor *t = tensors[i];
        json_t *e = json_object(), *shape = json_array();
        json_t *offs =
            json_pack("[II]", (json_int_t)begin[i], (json_int_t)(begin[i] + lt_tensor_bytes(t)));
        int bad = !e || !shape || !offs;
        for (int d = 0; d < lt_tensor_ndim(t) && !bad; d++)
            bad = json_array_append_new(shape, json_integer(lt_tensor_shape(t)[d])) != 0;
        if (!bad)
            bad = json_object_set_new(e, "dtype", json_string(disk_name(lt_tensor_dtype(t)))) ||
                  json_object_set(e, "shape", shape) || json_object_set(e, "data_offsets", offs);
        json_decref(shape);
        json_decref(offs);
        if (bad) {
            json_decref(e);
            st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory building the header", path);
        } else if (json_object_set_new(root, names[i], e) != 0) {
            st = lt_fail(ctx, LT_EINVAL, "%s: tensor name %d is not valid UTF-8", path, i);
        }
    }
    free(begin);
    char *text = NULL;
    if (st == LT_OK && !(text = json_dumps(root, JSON_COMPACT)))
        st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory writing the header", path);
    json_decref(root);
    if (st != LT_OK)
        return st;

    /* pad with spaces so that the data start at a multiple of 8 */
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    char *h = realloc(text, padded + 1);
    if (!h) {
        free(text);
        return lt_fail(ctx, LT_ENOMEM, "%s: out of memory writing the header", path);
    }
    memset(h + len, ' ', padded - len);
    h[padded] = '\0';
    *header = h;
    *header_len = padded;
    return LT_OK;
}

enum lt_status lt_safetensors_save(struct lt_ctx *ctx, const char *path, int n,
                                   const char *const *names, struct lt_tensor *const *tensors,
                                   int n_meta, const char *const *meta_keys,
                                   const char *const *meta_values) {
    int *layout = lt_alloc(ctx, ((size_t)(n > 0 ? n : 0) + 1) * sizeof *layout);
    if (!layout)
        return LT_ENOMEM;
    char *header = NULL;
    size_t header_len = 0;
    enum lt_status st = build_header(ctx, path, n, names, tensors, n_meta, meta_keys, meta_values,
                                     layout, &header, &header_len);
    if (st != LT_OK) {
        free(layout);
        return st;
    }

    struct lt_atomic_file af;
    st = lt_atomic_begin(ctx, path, &af);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    if (st == LT_OK)
        st = lt_atomic_write(ctx, path, &af, len8, 8);
    if (st == LT_OK)
        st = lt_atomic_write(ctx, path, &af, header, header_len);
    for (int k = 0; k < n && st == LT_OK; k++)
        st = lt_atomic_write(ctx, path, &af, lt_tensor_data(tensors[layout[k]]),
                             lt_tensor_bytes(tensors[layout[k]]));
    free(layout);
    free(header);
    if (st != LT_OK) {
        lt_atomic_abort(&af);
        return st;
    }
    return lt_atomic_commit(ctx, path, &af);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct entry {
    char *name;
    const char *disk; /* dtype as the file spells it */
    struct lt_tensor *t;
    uint64_t begin, end; /* in the data */
    const struct disk_dtype *dd;
    uint32_t crc;                    /* of the bytes on disk, when the file has a checksum */
    int64_t n_nan, n_inf, first_bad; /* non-finite values after reading; first_bad -1: none */
    int64_t wide_at;                 /* the first I64 value outside i32's range, or -1 */
    long long wide;
};

struct lt_safetensors {
    int n, n_meta;
    int checked; /* the file carried a data checksum (and it matched) */
    struct entry *e;
    char **keys, **values;
};

void lt_safetensors_free(struct lt_safetensors *f) {
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        free(f->e[i].name);
        lt_tensor_free(f->e[i].t);
    }
    for (int k = 0; k < f->n_meta; k++) {
        free(f->keys[k]);
        free(f->values[k]);
    }
    free(f->e);
    free(f->keys);
    free(f->values);
    free(f);
}

static enum lt_status json_count(struct lt_ctx *ctx, const char *path, const char *name,
                                 const char *field, json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s': %s must hold non-negative integers", path,
                       name, field);
    *out = (uint64_t)json_integer_value(v);
    return LT_OK;
}

/* Checks one header entry and fills e (without its tensor). */
static enum lt_status parse_entry(struct lt_ctx *ctx, const char *path, const char *name, json_t *v,
                                  uint64_t data_size, struct entry *e, int *ndim, int64_t *shape) {
    if (!json_is_object(v))
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s' must be a JSON object", path, name);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape");
    json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dt))
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s' has no string 'dtype'", path, name);
    if (!json_is_array(sh))
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s' has no 'shape' array", path, name);
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s' has no 'data_offsets' pair", path, name);

    const char *dname = json_string_value(dt);
    e->dd = NULL;
    for (size_t i = 0; i < sizeof disk_dtypes / sizeof *disk_dtypes; i++)
        if (!strcmp(dname, disk_dtypes[i].name))
            e->dd = &disk_dtypes[i];
    if (!e->dd) {
        for (size_t i = 0; i < sizeof unsupported_dtypes / sizeof *unsupported_dtypes; i++)
            if (!strcmp(dname, unsupported_dtypes[i]))
                return lt_fail(ctx, LT_EUNSUPPORTED,
                               "%s: tensor '%s' has dtype %s, which lutra does not read (F32, "
                               "F16, BF16, I32, U8; I64, F64 and BOOL are converted)",
                               path, name, dname);
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s' has an unknown dtype '%.40s'", path, name,
                       dname);
    }
    e->disk = e->dd->name;

    size_t nd = json_array_size(sh);
    if (nd > LT_MAX_DIMS)
        return lt_fail(ctx, LT_EUNSUPPORTED,
                       "%s: tensor '%s' has %zu dims; lutra supports up to %d", path, name, nd,
                       LT_MAX_DIMS);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t d = 0; d < nd; d++) {
        uint64_t dim = 0;
        enum lt_status st = json_count(ctx, path, name, "shape", json_array_get(sh, d), &dim);
        if (st != LT_OK)
            return st;
        if (dim && numel > (UINT64_MAX / 16) / dim)
            overflow = 1;
        else
            numel *= dim;
        shape[d] = (int64_t)dim;
    }
    *ndim = (int)nd;
    enum lt_status st;
    if ((st = json_count(ctx, path, name, "data_offsets", json_array_get(offs, 0), &e->begin)) ||
        (st = json_count(ctx, path, name, "data_offsets", json_array_get(offs, 1), &e->end)))
        return st;
    char a[32], b[32], c[32], d[32];
    if (e->begin > e->end)
        return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s': data_offsets [%s, %s] run backwards", path,
                       name, count_str(a, sizeof a, e->begin), count_str(b, sizeof b, e->end));
    if (e->end > data_size)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: tensor '%s': data_offsets [%s, %s] go past the end of the data (%s "
                       "bytes)",
                       path, name, count_str(a, sizeof a, e->begin), count_str(b, sizeof b, e->end),
                       count_str(c, sizeof c, data_size));
    uint64_t span = e->end - e->begin;
    if (overflow || numel * e->dd->size != span) {
        char s[160];
        size_t k = 0;
        s[0] = '\0';
        for (size_t i = 0; i < nd && k < sizeof s; i++)
            k += (size_t)snprintf(s + k, sizeof s - k, i ? ", %lld" : "%lld", (long long)shape[i]);
        if (overflow)
            return lt_fail(ctx, LT_EINVAL, "%s: tensor '%s': shape [%s] is too large", path, name,
                           s);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: tensor '%s': shape [%s] of %s needs %s bytes but data_offsets [%s, %s] "
                       "hold %s",
                       path, name, s, e->dd->name, count_str(a, sizeof a, numel * e->dd->size),
                       count_str(b, sizeof b, e->begin), count_str(c, sizeof c, e->end),
                       count_str(d, sizeof d, span));
    }
    return LT_OK;
}

static int by_offset(const void *pa, const void *pb) {
    const struct entry *a = *(const struct entry *const *)pa, *b = *(const struct entry *const *)pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    return (a->end > b->end) - (a->end < b->end);
}

/* The file's entries in the order of their data (malloc'd), or NULL (LT_ENOMEM). */
static struct entry **by_position(struct lt_ctx *ctx, struct lt_safetensors *f) {
    struct entry **s = lt_alloc(ctx, ((size_t)f->n + 1) * sizeof *s);
    if (!s)
        return NULL;
    for (int i = 0; i < f->n; i++)
        s[i] = &f->e[i];
    qsort(s, (size_t)f->n, sizeof *s, by_offset);
    return s;
}

/* Every byte of the data belongs to exactly one tensor. */
static enum lt_status check_cover(struct lt_ctx *ctx, const char *path, struct lt_safetensors *f,
                                  uint64_t data_size) {
    struct entry **s = by_position(ctx, f);
    if (!s)
        return LT_ENOMEM;
    uint64_t at = 0;
    const struct entry *prev = NULL;
    enum lt_status st = LT_OK;
    char a[32], b[32], c[32], d[32];
    for (int i = 0; i <= f->n && st == LT_OK; i++) {
        uint64_t begin = i < f->n ? s[i]->begin : data_size;
        if (begin < at)
            st = lt_fail(ctx, LT_EINVAL, "%s: tensors '%s' [%s, %s] and '%s' [%s, %s] overlap",
                         path, prev->name, count_str(a, sizeof a, prev->begin),
                         count_str(b, sizeof b, prev->end), s[i]->name,
                         count_str(c, sizeof c, s[i]->begin), count_str(d, sizeof d, s[i]->end));
        else if (begin > at)
            st = lt_fail(ctx, LT_EINVAL, "%s: bytes [%s, %s) of the data belong to no tensor", path,
                         count_str(a, sizeof a, at), count_str(b, sizeof b, begin));
        else if (i < f->n) {
            at = s[i]->end;
            prev = s[i];
        }
    }
    free(s);
    return st;
}

/* Counts the NaN and ±inf values of e's tensor (float dtypes; nothing for the others),
 * by their bits: exponent all ones, mantissa zero (inf) or not (NaN). */
static void count_nonfinite(struct entry *e) {
    e->n_nan = e->n_inf = 0;
    e->first_bad = -1;
    enum lt_dtype dt = lt_tensor_dtype(e->t);
    uint32_t exp_mask, man_mask;
    if (dt == LT_DTYPE_F32)
        exp_mask = 0x7f800000u, man_mask = 0x007fffffu;
    else if (dt == LT_DTYPE_F16)
        exp_mask = 0x7c00u, man_mask = 0x03ffu;
    else if (dt == LT_DTYPE_BF16)
        exp_mask = 0x7f80u, man_mask = 0x007fu;
    else
        return;
    const void *data = lt_tensor_data(e->t);
    int64_t n = lt_tensor_numel(e->t), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = dt == LT_DTYPE_F32 ? ((const uint32_t *)data)[i] : ((const uint16_t *)data)[i];
        bad += (u & exp_mask) == exp_mask;
    }
    if (!bad)
        return;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = dt == LT_DTYPE_F32 ? ((const uint32_t *)data)[i] : ((const uint16_t *)data)[i];
        if ((u & exp_mask) != exp_mask)
            continue;
        if (e->first_bad < 0)
            e->first_bad = i;
        if (u & man_mask)
            e->n_nan++;
        else
            e->n_inf++;
    }
}

/* Reads entry e's bytes from the file into a new tensor, narrowing if its dtype asks;
 * with `crc`, also the CRC-32 of the bytes as they are on disk. */
static enum lt_status read_tensor(struct lt_ctx *ctx, const char *path, int fd, uint64_t data_at,
                                  struct entry *e, int ndim, const int64_t *shape, int crc) {
    enum lt_status st = lt_tensor_new(ctx, e->dd->dt, ndim, shape, &e->t);
    if (st != LT_OK)
        return st;
    size_t span = (size_t)(e->end - e->begin);
    void *dst = lt_tensor_data(e->t), *buf = dst;
    if (e->dd->conv == CONV_I64 || e->dd->conv == CONV_F64) {
        if (!(buf = lt_alloc(ctx, span)))
            return LT_ENOMEM;
    }
    if (span && lt_read_at(fd, buf, span, data_at + e->begin) != 0) {
        if (buf != dst)
            free(buf);
        return lt_fail(ctx, LT_EIO, "%s: reading tensor '%s' failed: %s", path, e->name,
                       strerror(errno));
    }
    if (crc)
        e->crc = (uint32_t)crc32_z(crc32_z(0, NULL, 0), buf, span);
    size_t n = span / e->dd->size;
    e->wide_at = -1; /* reported after the checksum: a corrupt file says so first */
    if (e->dd->conv == CONV_I64) {
        const int64_t *src = buf;
        int32_t *out = dst;
        for (size_t i = 0; i < n; i++) {
            if ((src[i] < INT32_MIN || src[i] > INT32_MAX) && e->wide_at < 0) {
                e->wide_at = (int64_t)i;
                e->wide = (long long)src[i];
            }
            out[i] = (int32_t)src[i];
        }
    } else if (e->dd->conv == CONV_F64) {
        const double *src = buf;
        float *out = dst;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)src[i];
    } else if (e->dd->conv == CONV_BOOL) {
        uint8_t *out = dst;
        for (size_t i = 0; i < n; i++)
            out[i] = out[i] != 0;
    }
    if (buf != dst)
        free(buf);
    count_nonfinite(e);
    return LT_OK;
}

/* The value of the checksum key: 8 hex digits. */
static int parse_crc(const char *text, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = text[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    if (text[8])
        return -1;
    *out = v;
    return 0;
}

/* The CRC-32 of the whole data section from its tensors' (which cover it exactly, in
 * offset order), compared with the one the file carries. */
static enum lt_status verify_crc(struct lt_ctx *ctx, const char *path, struct lt_safetensors *f,
                                 uint32_t want) {
    struct entry **s = by_position(ctx, f);
    if (!s)
        return LT_ENOMEM;
    uLong crc = crc32_z(0, NULL, 0);
    for (int i = 0; i < f->n; i++)
        crc = crc32_combine(crc, s[i]->crc, (z_off_t)(s[i]->end - s[i]->begin));
    free(s);
    if ((uint32_t)crc != want)
        return lt_fail(ctx, LT_EINVAL, "%s: data checksum mismatch (file corrupted?)", path);
    f->checked = 1;
    return LT_OK;
}

static enum lt_status parse_header(struct lt_ctx *ctx, const char *path, int fd, json_t *root,
                                   uint64_t data_at, uint64_t data_size, struct lt_safetensors *f) {
    if (!json_is_object(root))
        return lt_fail(ctx, LT_EINVAL, "%s: header is not a JSON object", path);
    size_t count = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    if (meta) {
        if (!json_is_object(meta))
            return lt_fail(ctx, LT_EINVAL, "%s: __metadata__ must be an object of strings", path);
        count--;
    }
    if (count > (size_t)INT32_MAX / 2)
        return lt_fail(ctx, LT_EINVAL, "%s: header names too many tensors", path);
    f->e = lt_zalloc(ctx, (count + 1) * sizeof *f->e);
    if (!f->e)
        return LT_ENOMEM;

    int64_t(*shapes)[LT_MAX_DIMS] = lt_alloc(ctx, (count + 1) * sizeof *shapes);
    int *ndims = lt_alloc(ctx, (count + 1) * sizeof *ndims);
    if (!shapes || !ndims) {
        free(shapes);
        free(ndims);
        return LT_ENOMEM;
    }
    enum lt_status st = LT_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__"))
            continue;
        struct entry *e = &f->e[f->n];
        if (!(e->name = strdup(key))) {
            st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory", path);
            break;
        }
        f->n++;
        st = parse_entry(ctx, path, key, v, data_size, e, &ndims[f->n - 1], shapes[f->n - 1]);
        if (st != LT_OK)
            break;
    }
    if (st == LT_OK)
        st = check_cover(ctx, path, f, data_size);
    const char *crc_text = NULL;
    uint32_t crc = 0;
    if (st == LT_OK && meta && (v = json_object_get(meta, LT_SAFETENSORS_CRC_KEY))) {
        crc_text = json_string_value(v);
        if (!crc_text || parse_crc(crc_text, &crc) != 0)
            st = lt_fail(ctx, LT_EINVAL,
                         "%s: __metadata__ '%s' must be 8 hex digits (the data's CRC-32)", path,
                         LT_SAFETENSORS_CRC_KEY);
    }
    if (st == LT_OK && meta) {
        size_t nm = json_object_size(meta);
        f->keys = lt_zalloc(ctx, (nm + 1) * sizeof *f->keys);
        f->values = lt_zalloc(ctx, (nm + 1) * sizeof *f->values);
        if (!f->keys || !f->values)
            st = LT_ENOMEM;
        json_object_foreach(meta, key, v) {
            if (st != LT_OK)
                break;
            if (!json_is_string(v)) {
                st = lt_fail(ctx, LT_EINVAL,
                             "%s: __metadata__ must map strings to strings; '%s' is not a string",
                             path, key);
                break;
            }
            if (!strcmp(key, LT_SAFETENSORS_CRC_KEY))
                continue; /* the reader's business, not the caller's */
            f->keys[f->n_meta] = strdup(key);
            f->values[f->n_meta] = strdup(json_string_value(v));
            f->n_meta++;
            if (!f->keys[f->n_meta - 1] || !f->values[f->n_meta - 1])
                st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory", path);
        }
    }
    for (int i = 0; i < f->n && st == LT_OK; i++)
        st = read_tensor(ctx, path, fd, data_at, &f->e[i], ndims[i], shapes[i], crc_text != NULL);
    if (st == LT_OK && crc_text)
        st = verify_crc(ctx, path, f, crc);
    for (int i = 0; i < f->n && st == LT_OK; i++)
        if (f->e[i].wide_at >= 0)
            st = lt_fail(ctx, LT_EINVAL,
                         "%s: tensor '%s': I64 value %lld (element %lld) does not fit i32", path,
                         f->e[i].name, f->e[i].wide, (long long)f->e[i].wide_at);
    free(shapes);
    free(ndims);
    return st;
}

enum lt_status lt_safetensors_load(struct lt_ctx *ctx, const char *path,
                                   struct lt_safetensors **out) {
    if (!path || !path[0])
        return lt_fail(ctx, LT_EINVAL, "safetensors: empty file path (no file to read)");
    int fd;
    int64_t file_size;
    enum lt_status st = lt_file_open_regular(ctx, path, &fd, &file_size);
    if (st != LT_OK)
        return st;
    uint64_t size = (uint64_t)file_size;
    char a[32], b[32];
    unsigned char len8[8];
    if (size < 8) {
        close(fd);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: file is %llu bytes; a safetensors file starts with an 8-byte header "
                       "length",
                       path, (unsigned long long)size);
    }
    if (lt_read_at(fd, len8, 8, 0) != 0) {
        int e = errno;
        close(fd);
        return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(e));
    }
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)len8[i] << (8 * i);
    if (hlen > size - 8) {
        close(fd);
        return lt_fail(ctx, LT_EINVAL, "%s: header length %s exceeds file size %s", path,
                       count_str(a, sizeof a, hlen), count_str(b, sizeof b, size));
    }
    if (hlen > MAX_HEADER) {
        close(fd);
        return lt_fail(ctx, LT_EINVAL, "%s: header length %s exceeds the limit of %s bytes", path,
                       count_str(a, sizeof a, hlen), count_str(b, sizeof b, MAX_HEADER));
    }
    char *text = lt_alloc(ctx, (size_t)hlen + 1);
    if (!text) {
        close(fd);
        return LT_ENOMEM;
    }
    if (hlen && lt_read_at(fd, text, (size_t)hlen, 8) != 0) {
        int e = errno;
        free(text);
        close(fd);
        return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(e));
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root) {
        close(fd);
        return lt_fail(ctx, LT_EINVAL, "%s: header is not valid JSON: %s (byte %d of %s)", path,
                       jerr.text, jerr.position, count_str(a, sizeof a, hlen));
    }
    struct lt_safetensors *f = lt_zalloc(ctx, sizeof *f);
    st = f ? parse_header(ctx, path, fd, root, 8 + hlen, size - 8 - hlen, f) : LT_ENOMEM;
    json_decref(root);
    close(fd);
    if (st != LT_OK) {
        lt_safetensors_free(f);
        return st;
    }
    *out = f;
    return LT_OK;
}

int lt_safetensors_count(const struct lt_safetensors *f) {
    return f->n;
}

const char *lt_safetensors_name(const struct lt_safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->e[i].name : NULL;
}

struct lt_tensor *lt_safetensors_tensor(const struct lt_safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->e[i].t : NULL;
}

const char *lt_safetensors_dtype(const struct lt_safetensors *f, int i) {
    return i >= 0 && i < f->n ? f->e[i].disk : NULL;
}

int64_t lt_safetensors_nonfinite(const struct lt_safetensors *f, int i, int64_t *n_nan,
                                 int64_t *n_inf, int64_t *first) {
    const struct entry *e = i >= 0 && i < f->n ? &f->e[i] : NULL;
    if (n_nan)
        *n_nan = e ? e->n_nan : 0;
    if (n_inf)
        *n_inf = e ? e->n_inf : 0;
    if (first)
        *first = e ? e->first_bad : -1;
    return e ? e->n_nan + e->n_inf : 0;
}

int lt_safetensors_checked(const struct lt_safetensors *f) {
    return f->checked;
}

int lt_safetensors_find(const struct lt_safetensors *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->e[i].name, name))
            return i;
    return -1;
}

int lt_safetensors_meta_count(const struct lt_safetensors *f) {
    return f->n_meta;
}

const char *lt_safetensors_meta_key(const struct lt_safetensors *f, int i) {
    return i >= 0 && i < f->n_meta ? f->keys[i] : NULL;
}

const char *lt_safetensors_meta_value(const struct lt_safetensors *f, int i) {
    return i >= 0 && i < f->n_meta ? f->values[i] : NULL;
}

const char *lt_safetensors_meta(const struct lt_safetensors *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->keys[i], key))
            return f->values[i];
    return NULL;
}
