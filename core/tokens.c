/* Token data sets: windows of a token stream read from one file or from several, one after
 * another (lutra.h's lt_dataset_open_tokens, lt_dataset_open_token_files). A sample is
 * block_size consecutive tokens (x) and, for each, the token after it (y), at a fixed or a
 * seeded random position of the stream's part.
 *
 * Only the part [floor(begin * n), floor(end * n)) is read, whole, at opening, and kept
 * at the files' width (1, 2 or 4 bytes a token): a stream of u16 tokens costs two bytes a
 * token in memory, not four. Samples are widened to i32 as they are read. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/data.h"
#include "core/fail.h"
#include "core/file_open.h"
#include "core/mem.h"
#include "kernels/rng.h"

#define TOKENS_STREAM 0x746f6b656e73ull /* "tokens" */
#define HEADER_INTS 256                 /* llm.c's .bin header: 256 int32 */
#define HEADER_BYTES (HEADER_INTS * 4)
#define MAGIC_U16 20240520
#define MAGIC_U32 20240801

struct tokens {
    unsigned char *data; /* the part's tokens, little-endian, `width` bytes each */
    int width;           /* 1, 2 or 4 */
    int64_t count;       /* tokens in the part */
    int64_t first;       /* the part's first token's index in the stream */
    int64_t block;       /* block_size */
    int random;          /* random_windows */
    uint64_t seed;
};

/* Token k of the part. Decoded byte by byte, so the host's byte order does not matter. */
static uint32_t token(const struct tokens *t, int64_t k) {
    const unsigned char *p = t->data + (size_t)k * (size_t)t->width;
    switch (t->width) {
    case 1:
        return p[0];
    case 2:
        return (uint32_t)p[0] | (uint32_t)p[1] << 8;
    default:
        return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
}

/* Where sample i of `epoch` starts in the part. A random start is uniform over every
 * position that leaves room for the block and its next token, [0, count - block - 1];
 * the full 64 bits are reduced (24-bit uniforms would leave most of a large part
 * unreachable). */
static int64_t window(const struct tokens *t, uint32_t epoch, int64_t i) {
    if (!t->random)
        return i * t->block;
    uint64_t key = lt_rng_key(t->seed, TOKENS_STREAM, epoch, (uint64_t)i);
    return (int64_t)(lt_mix64(key) % (uint64_t)(t->count - t->block));
}

static int tokens_sample(struct lt_store *s, uint32_t epoch, int64_t i, void *x, void *y, char *msg,
                         size_t size) {
    (void)msg, (void)size;
    const struct tokens *t = s->kind;
    int32_t *xs = x, *ys = y; /* (block) each */
    int64_t at = window(t, epoch, i);
    uint32_t prev = token(t, at);
    for (int64_t j = 0; j < t->block; j++) {
        uint32_t next = token(t, at + j + 1);
        xs[j] = (int32_t)prev;
        ys[j] = (int32_t)next;
        prev = next;
    }
    return 0;
}

/* The largest token of part positions [lo, hi), keeping the smallest position on a tie. */
static void scan(const struct tokens *t, int64_t lo, int64_t hi, int64_t *best, int64_t *at) {
    for (int64_t k = lo; k < hi; k++) {
        int64_t v = token(t, k);
        if (v > *best || (v == *best && k < *at)) {
            *best = v;
            *at = k;
        }
    }
}

/* Over the whole part, unless a view picks some of the fixed windows: then over those
 * windows, each with its last target token (targets index the same vocabulary as x).
 * Random windows may start anywhere, so any view of them covers the whole part. */
static int64_t tokens_max_id(const struct lt_store *s, const int64_t *map, int64_t n,
                             int64_t *where) {
    const struct tokens *t = s->kind;
    int64_t best = -1, at = -1;
    if (!map || t->random) {
        scan(t, 0, t->count, &best, &at);
    } else {
        for (int64_t r = 0; r < n; r++)
            scan(t, map[r] * t->block, map[r] * t->block + t->block + 1, &best, &at);
    }
    *where = t->first + at;
    return best;
}

static void tokens_release(struct lt_store *s) {
    struct tokens *t = s->kind;
    free(t->data);
}

static const struct lt_store_ops tokens_ops = {
    .sample = tokens_sample, .max_id = tokens_max_id, .release = tokens_release};

static int32_t le32(const unsigned char *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

/* The token width and where the tokens start (after a header or at 0), from the format
 * and, with LT_TOKENS_AUTO, the file's first bytes. Checks the byte count. */
static enum lt_status layout(struct lt_ctx *ctx, const char *path, int fd, int64_t size,
                             enum lt_token_format format, int *width, int64_t *offset, int64_t *n) {
    *offset = 0;
    unsigned char h[HEADER_BYTES];
    int32_t magic = 0;
    if (size >= HEADER_BYTES) {
        if (lt_read_at(fd, h, sizeof h, 0) != 0)
            return lt_fail(ctx, LT_EIO, "%s: read failed: %s", path, strerror(errno));
        magic = le32(h);
    }
    int headed = magic == MAGIC_U16 || magic == MAGIC_U32;
    if (headed && format != LT_TOKENS_AUTO)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: starts with a token file header (magic %d), which a raw format "
                       "would read as tokens: set data.token_format = \"auto\"",
                       path, (int)magic);
    if (format == LT_TOKENS_AUTO) {
        if (headed) {
            /* h[1] is the version; the magic alone fixes the layout, so any is read */
            *width = magic == MAGIC_U16 ? 2 : 4;
            *offset = HEADER_BYTES;
            int64_t said = le32(h + 8), body = size - HEADER_BYTES;
            if (said < 0 || body % *width != 0 || body / *width != said)
                return lt_fail(ctx, LT_EINVAL,
                               "%s: header says %lld u%d tokens but the file holds %lld bytes "
                               "after its header",
                               path, (long long)said, *width * 8, (long long)body);
            *n = said;
            return LT_OK;
        }
        if (!lt_ends_with(path, ".txt"))
            return lt_fail(ctx, LT_EINVAL,
                           "%s: no token file header (llm.c's magic 20240520 or 20240801) and "
                           "not a .txt file: set data.token_format = \"u16\" | \"u32\" | "
                           "\"bytes\" to read raw tokens",
                           path);
        format = LT_TOKENS_BYTES;
    }
    *width = format == LT_TOKENS_BYTES ? 1 : format == LT_TOKENS_U16 ? 2 : 4;
    if (size % *width != 0)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: %lld bytes is not a whole number of u%d tokens (%d bytes each)", path,
                       (long long)size, *width * 8, *width);
    *n = size / *width;
    return LT_OK;
}

/* One file of the stream: its path, descriptor, where its tokens start, how many. */
struct token_file {
    const char *path;
    int fd;
    int64_t offset, n;
};

/* Refuses a u32 token past i32 (what a sample holds), naming its file and its index
 * there. */
static enum lt_status check_ids(struct lt_ctx *ctx, const struct token_file *files, int n_files,
                                const struct tokens *t) {
    if (t->width < 4)
        return LT_OK;
    for (int64_t k = 0; k < t->count; k++) {
        uint32_t v = token(t, k);
        if (v <= INT32_MAX)
            continue;
        int64_t at = t->first + k; /* in the stream, then in its file */
        int f = 0;
        while (f < n_files - 1 && at >= files[f].n)
            at -= files[f++].n;
        return lt_fail(ctx, LT_EINVAL, "%s: token %lld is %lu, past i32's %ld", files[f].path,
                       (long long)at, (unsigned long)v, (long)INT32_MAX);
    }
    return LT_OK;
}

static enum lt_status check_options(struct lt_ctx *ctx, const char *path,
                                    const struct lt_token_options *o) {
    if (!o)
        return lt_fail(ctx, LT_EINVAL, "%s: no token options given", path);
    if (o->format < LT_TOKENS_AUTO || o->format > LT_TOKENS_BYTES)
        return lt_fail(ctx, LT_EINVAL, "%s: unknown token format %d", path, (int)o->format);
    if (o->block_size < 1)
        return lt_fail(ctx, LT_EINVAL, "%s: block_size must be at least 1, got %lld", path,
                       (long long)o->block_size);
    if (!(o->begin >= 0 && o->begin <= o->end && o->end <= 1))
        return lt_fail(ctx, LT_EINVAL,
                       "%s: the part [%g, %g) must be a range of fractions within [0, 1]", path,
                       o->begin, o->end);
    return LT_OK;
}

/* Reads the part of the stream (the files' tokens one after another) into t (width,
 * first and count set); LT_EIO names the file and the system's reason. */
static enum lt_status read_part(struct lt_ctx *ctx, const struct token_file *files, int n_files,
                                struct tokens *t) {
    size_t bytes = (size_t)t->count * (size_t)t->width;
    if (!(t->data = lt_alloc(ctx, bytes)))
        return LT_ENOMEM;
    int64_t lo = t->first, hi = t->first + t->count, start = 0; /* start: file f's first */
    for (int f = 0; f < n_files; start += files[f].n, f++) {
        int64_t a = lo > start ? lo : start, b = hi < start + files[f].n ? hi : start + files[f].n;
        if (a >= b)
            continue;
        unsigned char *to = t->data + (size_t)(a - lo) * (size_t)t->width;
        if (lt_read_at(files[f].fd, to, (size_t)(b - a) * (size_t)t->width,
                       files[f].offset + (a - start) * t->width) != 0)
            return lt_fail(ctx, LT_EIO, "%s: read failed: %s", files[f].path, strerror(errno));
    }
    return LT_OK;
}

/* Opens one file and lays it out (its descriptor closed again on failure). */
static enum lt_status open_file(struct lt_ctx *ctx, const char *path, enum lt_token_format format,
                                struct token_file *tf, int *width) {
    int64_t size;
    tf->path = path;
    if (!path)
        return lt_fail(ctx, LT_EINVAL, "tokens: a file of the stream has no path");
    enum lt_status st = lt_file_open_regular(ctx, path, &tf->fd, &size);
    if (st == LT_OK && (st = layout(ctx, path, tf->fd, size, format, width, &tf->offset,
                                    &tf->n)) != LT_OK)
        close(tf->fd);
    return st;
}

/* Opens and lays out each file; all must store tokens at one width. On failure none is
 * left open. */
static enum lt_status open_files(struct lt_ctx *ctx, const char *const *paths, int n_files,
                                 enum lt_token_format format, struct token_file *files,
                                 int *width) {
    for (int f = 0; f < n_files; f++) {
        int w;
        enum lt_status st = open_file(ctx, paths[f], format, &files[f], &w);
        if (st == LT_OK && f > 0 && w != *width) {
            st = lt_fail(ctx, LT_EINVAL,
                         "%s: holds u%d tokens but %s holds u%d: the files of one stream "
                         "must store tokens alike",
                         paths[f], w * 8, paths[0], *width * 8);
            close(files[f].fd);
        }
        if (st != LT_OK) {
            for (int g = 0; g < f; g++)
                close(files[g].fd);
            return st;
        }
        *width = w;
    }
    return LT_OK;
}

enum lt_status lt_dataset_open_token_files(struct lt_ctx *ctx, const char *const *paths,
                                           int n_paths, const struct lt_token_options *o,
                                           struct lt_dataset **out) {
    if (!paths || n_paths < 1)
        return lt_fail(ctx, LT_EINVAL, "tokens: no file path given");
    const char *name = paths[0] ? paths[0] : "tokens";
    enum lt_status st = check_options(ctx, name, o);
    if (st != LT_OK)
        return st;
    struct token_file *files = lt_alloc(ctx, (size_t)n_paths * sizeof *files);
    if (!files)
        return LT_ENOMEM;
    int width = 1;
    if ((st = open_files(ctx, paths, n_paths, o->format, files, &width)) != LT_OK) {
        free(files);
        return st;
    }
    int64_t n = 0;
    for (int f = 0; f < n_paths; f++)
        n += files[f].n;
    int64_t lo = (int64_t)floor(o->begin * (double)n), hi = (int64_t)floor(o->end * (double)n);
    struct lt_store *s = NULL;
    if (hi - lo - 1 < o->block_size)
        st = lt_fail(ctx, LT_EINVAL,
                     "%s%s: the part [%g, %g) of its %lld tokens holds %lld, fewer than the "
                     "block_size + 1 = %lld + 1 that one sample needs",
                     name, n_paths > 1 ? " and the files after it" : "", o->begin, o->end,
                     (long long)n, (long long)(hi - lo), (long long)o->block_size);
    else if (!(s = lt_store_new(ctx, &tokens_ops, sizeof(struct tokens))))
        st = LT_ENOMEM;
    if (s) {
        struct tokens *t = s->kind;
        t->width = width;
        t->first = lo;
        t->count = hi - lo;
        t->block = o->block_size;
        t->random = o->random_windows != 0;
        t->seed = o->seed;
        st = read_part(ctx, files, n_paths, t);
        if (st == LT_OK)
            st = check_ids(ctx, files, n_paths, t);
    }
    for (int f = 0; f < n_paths; f++)
        close(files[f].fd);
    free(files);
    if (st != LT_OK) {
        if (s)
            lt_store_release(s);
        return st;
    }
    struct tokens *t = s->kind;
    s->n = (t->count - 1) / t->block;
    s->x = (struct lt_sample_shape){.dtype = LT_DTYPE_I32, .ndim = 1, .shape = {t->block}};
    s->y = s->x;
    if (n_paths == 1)
        snprintf(s->origin, sizeof s->origin, "%s", name);
    else
        snprintf(s->origin, sizeof s->origin, "%s and %d more files", name, n_paths - 1);
    return lt_dataset_wrap(ctx, s, out);
}

enum lt_status lt_dataset_open_tokens(struct lt_ctx *ctx, const char *path,
                                      const struct lt_token_options *o, struct lt_dataset **out) {
    return lt_dataset_open_token_files(ctx, &path, 1, o, out);
}
