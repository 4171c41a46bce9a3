/* IDX files (the MNIST format), plain or gzip-compressed, read into u8 tensors.
 *
 * An IDX file is two zero bytes, a type code (0x08 for u8), a dim count, one big-endian
 * u32 per dim, then the elements row-major. Every count in the header is checked against
 * what the file holds before it is trusted: a truncated or corrupt file is an error
 * message naming the file, never a crash or a huge allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/fail.h"
#include "core/file_open.h"
#include "core/mem.h"

#define IDX_U8 0x08

static const char *type_name(int code) {
    switch (code) {
    case 0x08:
        return "u8";
    case 0x09:
        return "i8";
    case 0x0b:
        return "i16";
    case 0x0c:
        return "i32";
    case 0x0d:
        return "f32";
    case 0x0e:
        return "f64";
    default:
        return NULL;
    }
}

/* Reads up to n bytes; returns the count read (short at the end of the data) or -1
 * when zlib reports an error other than a stream cut short. *cut is set when the gzip
 * stream ended before its end marker. */
static int64_t read_upto(gzFile gz, void *buf, size_t n, int *cut) {
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (size_t)1 << 30)
            want = (size_t)1 << 30;
        int r = gzread(gz, (char *)buf + got, (unsigned)want);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    int errnum = Z_OK;
    gzerror(gz, &errnum);
    if (errnum == Z_BUF_ERROR)
        *cut = 1; /* zlib's "unexpected end of file": a truncated gzip stream */
    else if (errnum != Z_OK)
        return -1;
    return (int64_t)got;
}

/* Counts the bytes left in the stream (for the message about a file that is too long). */
static int64_t count_rest(gzFile gz, int *cut) {
    char buf[1 << 14];
    int64_t total = 0, r;
    while ((r = read_upto(gz, buf, sizeof buf, cut)) > 0)
        total += r;
    return r < 0 ? -1 : total;
}

static enum lt_status zlib_fail(struct lt_ctx *ctx, const char *path, gzFile gz) {
    int errnum = Z_OK;
    const char *msg = gzerror(gz, &errnum);
    if (errnum == Z_ERRNO)
        return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(errno));
    const char *colon = strstr(msg, ": "); /* zlib says "<fd:3>: incorrect data check" */
    return lt_fail(ctx, LT_EIO, "%s: corrupt gzip data (%s)", path, colon ? colon + 2 : msg);
}

/* "60000 × 28 × 28" */
static void format_dims(char *buf, size_t size, int ndim, const int64_t *dims) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? " × %lld" : "%lld", (long long)dims[i]);
}

/* The data of a gzip file, decompressed in chunks as they arrive: memory follows what
 * the file holds, not what its header claims (a header saying 600000 × 280 × 28 over
 * 26 MB of data allocates about 47 MB, not 4.7 GB). gzip's own size field (ISIZE) is the
 * size modulo 2^32 of the last member only, so it is no bound. The tensor is allocated
 * once the data are known to be exactly `want` bytes, and the chunks are copied in. */
#define GZ_CHUNK ((size_t)4 << 20)

static void free_chunks(unsigned char **chunk, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(chunk[i]);
    free(chunk);
}

static enum lt_status read_gz_data(struct lt_ctx *ctx, const char *path, gzFile gz,
                                   const char *shape, int ndim, const int64_t *dims, int64_t want,
                                   struct lt_tensor **out) {
    unsigned char **chunk = NULL;
    size_t n = 0, cap = 0;
    int64_t total = 0;
    int cut = 0;
    enum lt_status st = LT_OK;
    while (total < want) {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            unsigned char **grown = realloc(chunk, ncap * sizeof *grown);
            if (!grown) {
                st = lt_fail(ctx, LT_ENOMEM, "%s: out of memory reading the file", path);
                break;
            }
            chunk = grown;
            cap = ncap;
        }
        size_t size = (uint64_t)(want - total) < GZ_CHUNK ? (size_t)(want - total) : GZ_CHUNK;
        if (!(chunk[n] = lt_alloc(ctx, size))) {
            st = LT_ENOMEM;
            break;
        }
        n++;
        int64_t got = read_upto(gz, chunk[n - 1], size, &cut);
        if (got < 0) {
            st = zlib_fail(ctx, path, gz);
            break;
        }
        total += got;
        if ((size_t)got < size) {
            st = lt_fail(ctx, LT_EINVAL, "%s: header says %s bytes but the file has %lld%s", path,
                         shape, (long long)total, cut ? " (the gzip stream is cut short)" : "");
            break;
        }
    }
    if (st == LT_OK) { /* nothing may follow the data */
        int64_t rest = count_rest(gz, &cut);
        if (rest < 0)
            st = zlib_fail(ctx, path, gz);
        else if (cut)
            st = lt_fail(ctx, LT_EINVAL, "%s: the gzip stream is cut short after the data", path);
        else if (rest > 0)
            st = lt_fail(ctx, LT_EINVAL, "%s: header says %s bytes but the file has %lld", path,
                         shape, (long long)(want + rest));
    }
    struct lt_tensor *t = NULL;
    if (st == LT_OK)
        st = lt_tensor_new(ctx, LT_DTYPE_U8, ndim, dims, &t);
    if (st == LT_OK) {
        unsigned char *dst = lt_tensor_data(t);
        size_t left = (size_t)want;
        for (size_t i = 0; i < n; i++) { /* every chunk is full: GZ_CHUNK, the last the rest */
            size_t size = left < GZ_CHUNK ? left : GZ_CHUNK;
            memcpy(dst + i * GZ_CHUNK, chunk[i], size);
            left -= size;
            free(chunk[i]);
            chunk[i] = NULL;
        }
        *out = t;
    }
    free_chunks(chunk, n);
    return st;
}

static enum lt_status read_gz(struct lt_ctx *ctx, const char *path, gzFile gz, int64_t file_size,
                              struct lt_tensor **out) {
    unsigned char head[4 + 4 * LT_MAX_DIMS];
    int cut = 0;
    int64_t got = read_upto(gz, head, 4, &cut);
    if (got < 0)
        return zlib_fail(ctx, path, gz);
    int packed = !gzdirect(gz);
    if (got == 0)
        return lt_fail(ctx, LT_EINVAL, "%s: file is empty; an IDX file starts with a 4-byte magic",
                       path);
    if (got < 4)
        return lt_fail(ctx, LT_EINVAL, "%s: file ends inside the IDX magic (%lld of 4 bytes)", path,
                       (long long)got);
    if (head[0] || head[1])
        return lt_fail(ctx, LT_EINVAL,
                       "%s: not an IDX file (it starts with %02x %02x %02x %02x; an IDX file "
                       "starts with 00 00, a type code and a dim count)",
                       path, head[0], head[1], head[2], head[3]);
    int code = head[2], ndim = head[3];
    if (code != IDX_U8) {
        if (type_name(code))
            return lt_fail(ctx, LT_EUNSUPPORTED,
                           "%s: IDX element type 0x%02x (%s) is not supported; lutra reads u8 "
                           "(0x08) files",
                           path, code, type_name(code));
        return lt_fail(ctx, LT_EINVAL, "%s: unknown IDX element type 0x%02x", path, code);
    }
    if (ndim < 1 || ndim > LT_MAX_DIMS)
        return lt_fail(ctx, LT_EINVAL, "%s: IDX header has %d dims; lutra reads 1 to %d", path,
                       ndim, LT_MAX_DIMS);
    size_t head_bytes = 4 + 4 * (size_t)ndim;
    got = read_upto(gz, head + 4, head_bytes - 4, &cut);
    if (got < 0)
        return zlib_fail(ctx, path, gz);
    if ((size_t)got < head_bytes - 4)
        return lt_fail(ctx, LT_EINVAL, "%s: file ends inside the IDX header (%lld of %zu bytes)",
                       path, (long long)(4 + got), head_bytes);

    int64_t dims[LT_MAX_DIMS], want = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        const unsigned char *p = head + 4 + 4 * i;
        dims[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
                            (uint32_t)p[3]);
        if (dims[i] && want > INT64_MAX / 8 / dims[i])
            overflow = 1;
        else
            want *= dims[i];
    }
    char shape[160];
    format_dims(shape, sizeof shape, ndim, dims);

    if (overflow)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: header says %s bytes, more than any file can hold (the file has %lld "
                       "bytes%s)",
                       path, shape, (long long)file_size, packed ? " compressed" : "");
    if (packed)
        return read_gz_data(ctx, path, gz, shape, ndim, dims, want, out);

    /* A plain file holds exactly the header and the data: known before allocating. */
    int64_t room = file_size - (int64_t)head_bytes;
    if (want != room)
        return lt_fail(ctx, LT_EINVAL, "%s: header says %s bytes but the file has %lld", path,
                       shape, (long long)room);
    struct lt_tensor *t;
    enum lt_status st = lt_tensor_new(ctx, LT_DTYPE_U8, ndim, dims, &t);
    if (st != LT_OK)
        return st;
    got = read_upto(gz, lt_tensor_data(t), (size_t)want, &cut);
    if (got < 0) {
        lt_tensor_free(t);
        return zlib_fail(ctx, path, gz);
    }
    if (got < want) { /* the file shrank while we read it */
        lt_tensor_free(t);
        return lt_fail(ctx, LT_EINVAL, "%s: header says %s bytes but the file has %lld", path,
                       shape, (long long)got);
    }
    *out = t;
    return LT_OK;
}

enum lt_status lt_idx_read(struct lt_ctx *ctx, const char *path, struct lt_tensor **out) {
    int fd;
    int64_t size;
    enum lt_status st = lt_file_open_regular(ctx, path, &fd, &size);
    if (st != LT_OK)
        return st;
    gzFile gz = gzdopen(fd, "rb"); /* reads plain files as they are */
    if (!gz) {
        close(fd);
        return lt_fail(ctx, LT_ENOMEM, "%s: out of memory opening the file", path);
    }
    gzbuffer(gz, 1 << 17);
    st = read_gz(ctx, path, gz, size, out);
    gzclose_r(gz);
    return st;
}
