/* NumPy's .npy files read into tensors (core/npy.h).
 *
 * A .npy file is the magic "\x93NUMPY", a major and a minor version byte, the header's
 * length (u16 little-endian in 1.0, u32 in 2.0), the header — a Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and
 * ended by a newline — then the elements, row-major. The header is parsed strictly: the
 * three keys once each, nothing else, so a file NumPy did not write is named, not
 * guessed at. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fail.h"
#include "core/file_open.h"
#include "core/mem.h"
#include "core/npy.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy files lutra reads are little-endian; this file assumes a little-endian host"
#endif

#define MAX_HEADER (1 << 20) /* NumPy's own limit is 10000 bytes */
#define WIDE_CHUNK 65536     /* i8 elements converted at a time */

/* The element types read, and what they become. */
static const struct {
    const char *descr;
    enum lt_dtype dtype;
    int bytes; /* on disk */
} kinds[] = {
    {"|u1", LT_DTYPE_U8, 1},  {"<u1", LT_DTYPE_U8, 1},  {"<i4", LT_DTYPE_I32, 4},
    {"<i8", LT_DTYPE_I32, 8}, {"<f2", LT_DTYPE_F16, 2}, {"<f4", LT_DTYPE_F32, 4},
};

struct header {
    char descr[32];
    int fortran;
    int ndim;
    int64_t shape[LT_MAX_DIMS];
};

/* A cursor over the header's text; `why` is set at the first error. */
struct cursor {
    const char *p, *start, *end;
    const char *why;
};

static int bad(struct cursor *c, const char *why) {
    if (!c->why)
        c->why = why;
    return -1;
}

static void skip_space(struct cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* Skips spaces and takes `ch` when it is next; 1 if it was taken. */
static int take(struct cursor *c, char ch) {
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into buf. */
static int quoted(struct cursor *c, char *buf, size_t size, const char *why) {
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return bad(c, why);
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= size)
            return bad(c, why);
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return bad(c, "a string is not closed");
    c->p++;
    buf[n] = 0;
    return 0;
}

static int word(struct cursor *c, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && !memcmp(c->p, w, n)) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* A tuple of non-negative integers: (), (5,), (3, 4) — a trailing comma allowed. */
static int shape(struct cursor *c, struct header *h) {
    if (!take(c, '('))
        return bad(c, "'shape' is not a tuple");
    h->ndim = 0;
    for (;;) {
        if (take(c, ')'))
            return 0;
        skip_space(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return bad(c, "'shape' holds something that is not a non-negative integer");
        if (h->ndim == LT_MAX_DIMS)
            return bad(c, "'shape' has more dims than lutra's tensors hold (8)");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            int d = *c->p++ - '0';
            if (v > (INT64_MAX - d) / 10)
                return bad(c, "a dim of 'shape' is too large");
            v = v * 10 + d;
        }
        h->shape[h->ndim++] = v;
        if (!take(c, ',')) {
            if (take(c, ')'))
                return 0;
            return bad(c, "'shape' is not a tuple");
        }
    }
}

/* The dict: each of the three keys once, in any order, a trailing comma allowed. */
static int parse(struct cursor *c, struct header *h) {
    int seen[3] = {0, 0, 0};
    if (!take(c, '{'))
        return bad(c, "it is not a dict");
    while (!take(c, '}')) {
        char key[32];
        if (quoted(c, key, sizeof key, "a key is not a short quoted string") != 0)
            return -1;
        if (!take(c, ':'))
            return bad(c, "a key is not followed by ':'");
        int k = !strcmp(key, "descr")           ? 0
                : !strcmp(key, "fortran_order") ? 1
                : !strcmp(key, "shape")         ? 2
                                                : -1;
        if (k < 0)
            return bad(c, "it has a key other than 'descr', 'fortran_order' and 'shape'");
        if (seen[k]++)
            return bad(c, "a key appears twice");
        if (k == 0 && quoted(c, h->descr, sizeof h->descr,
                             "'descr' is not a type string (structured arrays are not read)"))
            return -1;
        if (k == 1) {
            skip_space(c);
            if (word(c, "True"))
                h->fortran = 1;
            else if (word(c, "False"))
                h->fortran = 0;
            else
                return bad(c, "'fortran_order' is neither True nor False");
        }
        if (k == 2 && shape(c, h) != 0)
            return -1;
        if (!take(c, ',')) {
            if (take(c, '}'))
                break;
            return bad(c, "entries are not separated by ','");
        }
    }
    skip_space(c);
    if (c->p != c->end)
        return bad(c, "text follows the dict");
    if (!seen[0] || !seen[1] || !seen[2])
        return bad(c, "it lacks one of 'descr', 'fortran_order' and 'shape'");
    return 0;
}

/* The header at the start of the file into h; *data gets where the elements start. */
static enum lt_status read_header(struct lt_ctx *ctx, const char *path, int fd, int64_t size,
                                  struct header *h, int64_t *data) {
    unsigned char pre[12];
    if (size >= 10 && lt_read_at(fd, pre, size < 12 ? 10 : 12, 0) != 0)
        return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(errno));
    if (size < 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return lt_fail(ctx, LT_EINVAL, "%s: not a .npy file (it does not start with \\x93NUMPY)",
                       path);
    int64_t prefix, hlen;
    if (pre[6] == 1 && pre[7] == 0) {
        prefix = 10;
        hlen = pre[8] | pre[9] << 8;
    } else if (pre[6] == 2 && pre[7] == 0 && size >= 12) {
        prefix = 12;
        hlen = (int64_t)((uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
                         (uint32_t)pre[11] << 24);
    } else {
        return lt_fail(ctx, LT_EINVAL, "%s: .npy format version %d.%d; lutra reads 1.0 and 2.0",
                       path, pre[6], pre[7]);
    }
    if (hlen > size - prefix || hlen > MAX_HEADER)
        return lt_fail(ctx, LT_EINVAL, "%s: .npy header of %lld bytes does not fit the file's %lld",
                       path, (long long)hlen, (long long)size);
    char *text = lt_alloc(ctx, (size_t)hlen + 1);
    if (!text)
        return LT_ENOMEM;
    if (lt_read_at(fd, text, (size_t)hlen, prefix) != 0) {
        int e = errno;
        free(text);
        return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(e));
    }
    struct cursor c = {text, text, text + hlen, NULL};
    memset(h, 0, sizeof *h);
    int rc = parse(&c, h);
    long at = (long)(c.p - c.start);
    free(text);
    if (rc != 0)
        return lt_fail(ctx, LT_EINVAL, "%s: bad .npy header: %s (at byte %ld of the header)", path,
                       c.why, at);
    *data = prefix + hlen;
    return LT_OK;
}

/* Finds the header's descr among the kinds read; fails naming what to save instead. */
static enum lt_status kind_of(struct lt_ctx *ctx, const char *path, const struct header *h,
                              enum lt_dtype *dt, int *bytes) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(h->descr, kinds[i].descr)) {
            *dt = kinds[i].dtype;
            *bytes = kinds[i].bytes;
            return LT_OK;
        }
    if (!strcmp(h->descr, "<f8"))
        return lt_fail(ctx, LT_EINVAL,
                       "%s: float64 ('<f8') is not read: save the array as float32 "
                       "(a.astype(np.float32))",
                       path);
    if (h->descr[0] == '>')
        return lt_fail(ctx, LT_EINVAL,
                       "%s: dtype '%s' is big-endian: save the array little-endian "
                       "(a.astype(a.dtype.newbyteorder('<')))",
                       path, h->descr);
    return lt_fail(ctx, LT_EINVAL,
                   "%s: dtype '%s' is not read; lutra reads uint8 ('|u1'), int32 ('<i4'), "
                   "int64 ('<i8', into int32), float16 ('<f2') and float32 ('<f4')",
                   path, h->descr);
}

/* int64 elements into t's int32, a chunk at a time. */
static enum lt_status read_wide(struct lt_ctx *ctx, const char *path, int fd, int64_t off,
                                struct lt_tensor *t) {
    int64_t n = lt_tensor_numel(t);
    int32_t *dst = lt_tensor_data(t);
    int64_t *buf = lt_alloc(ctx, WIDE_CHUNK * sizeof *buf);
    if (!buf)
        return LT_ENOMEM;
    enum lt_status st = LT_OK;
    for (int64_t i = 0; i < n && st == LT_OK; i += WIDE_CHUNK) {
        int64_t m = n - i < WIDE_CHUNK ? n - i : WIDE_CHUNK;
        if (lt_read_at(fd, buf, (size_t)m * 8, off + i * 8) != 0) {
            st = lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(errno));
            break;
        }
        for (int64_t k = 0; k < m; k++) {
            if (buf[k] < INT32_MIN || buf[k] > INT32_MAX) {
                st = lt_fail(ctx, LT_EINVAL, "%s: int64 value %lld (element %lld) does not fit i32",
                             path, (long long)buf[k], (long long)(i + k));
                break;
            }
            dst[i + k] = (int32_t)buf[k];
        }
    }
    free(buf);
    return st;
}

static enum lt_status read_data(struct lt_ctx *ctx, const char *path, int fd, int64_t size,
                                struct lt_tensor **out) {
    struct header h;
    int64_t data = 0;
    enum lt_status st = read_header(ctx, path, fd, size, &h, &data);
    if (st != LT_OK)
        return st;
    enum lt_dtype dt = LT_DTYPE_U8;
    int bytes = 1;
    if ((st = kind_of(ctx, path, &h, &dt, &bytes)) != LT_OK)
        return st;
    if (h.fortran)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: the array is in Fortran order: save it C-contiguous "
                       "(np.ascontiguousarray(a))",
                       path);
    /* the element count, stopped once it passes the file's bytes (it cannot overflow) */
    int64_t count = 1, have = size - data;
    for (int i = 0; i < h.ndim && count <= have; i++)
        count = h.shape[i] && count > have / h.shape[i] ? have + 1 : count * h.shape[i];
    if (count > have || count * bytes != have) {
        char dims[LT_MAX_DIMS * 22 + 4];
        size_t n = (size_t)snprintf(dims, sizeof dims, "(");
        for (int i = 0; i < h.ndim; i++)
            n += (size_t)snprintf(dims + n, sizeof dims - n, i ? ", %lld" : "%lld",
                                  (long long)h.shape[i]);
        snprintf(dims + n, sizeof dims - n, ")");
        if (count > have)
            return lt_fail(ctx, LT_EINVAL,
                           "%s: shape %s of '%s' needs more than the %lld data bytes the file "
                           "holds",
                           path, dims, h.descr, (long long)have);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: shape %s of '%s' needs %lld data bytes but the file holds %lld", path,
                       dims, h.descr, (long long)(count * bytes), (long long)have);
    }
    struct lt_tensor *t;
    if ((st = lt_tensor_new(ctx, dt, h.ndim, h.shape, &t)) != LT_OK)
        return st;
    if (bytes == 8)
        st = read_wide(ctx, path, fd, data, t);
    else if (count && lt_read_at(fd, lt_tensor_data(t), lt_tensor_bytes(t), data) != 0)
        st = lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(errno));
    if (st != LT_OK) {
        lt_tensor_free(t);
        return st;
    }
    *out = t;
    return LT_OK;
}

enum lt_status lt_npy_read(struct lt_ctx *ctx, const char *path, struct lt_tensor **out) {
    int fd;
    int64_t size;
    enum lt_status st = lt_file_open_regular(ctx, path, &fd, &size);
    if (st != LT_OK)
        return st;
    st = read_data(ctx, path, fd, size, out);
    close(fd);
    return st;
}
