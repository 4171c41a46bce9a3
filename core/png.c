/* PNG files for data sets: decoding into planar 8-bit images by one conversion rule
 * (core/png.h), on the loaders' worker threads as well as the caller's, and reading and
 * writing u8 tensors (core/lutra.h).
 *
 * libpng reports errors by longjmp to the setjmp of the function that drives it; each
 * such function keeps its cleanup in the setjmp branch and sets nothing between setjmp
 * and a possible jump that the branch reads. */
#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/fail.h"
#include "core/png.h"

/* ---- decoding --------------------------------------------------------------------------- */

/* One decode's state, shared with libpng's callbacks: the file, the bytes read ahead, and
 * where the failure's message goes. */
struct reader {
    const char *path;
    int fd;
    int64_t offset;      /* bytes handed to libpng (or the signature check) so far */
    size_t pos, len;     /* buf[pos .. len) is read from the file and not yet handed */
    enum lt_status kind; /* LT_OK until a failure: LT_EIO, LT_EINVAL or LT_ENOMEM */
    char warning[128];   /* libpng's first warning: it names what "Invalid IHDR data" means */
    char *msg;
    size_t msg_size;
    unsigned char buf[16384];
};

/* Sets the failure's kind and its message, "path: " and the text. */
__attribute__((format(printf, 3, 4))) static void say(struct reader *r, enum lt_status kind,
                                                      const char *fmt, ...) {
    r->kind = kind;
    if (r->msg_size == 0)
        return;
    int n = snprintf(r->msg, r->msg_size, "%s: ", r->path);
    if (n < 0 || (size_t)n >= r->msg_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg + n, r->msg_size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* strerror's text without its shared buffer: this runs on several threads at once. */
static const char *reason(int e, char *buf, size_t size) {
    if (strerror_r(e, buf, size) != 0)
        snprintf(buf, size, "error %d", e);
    return buf;
}

static void on_error(png_structp png, png_const_charp text) {
    struct reader *r = png_get_error_ptr(png);
    if (r->kind == LT_OK) { /* else read_data has said what went wrong */
        if (r->warning[0])
            say(r, LT_EINVAL, "%s (%s)", text, r->warning);
        else
            say(r, LT_EINVAL, "%s", text);
    }
    png_longjmp(png, 1);
}

/* Warnings (a bad ancillary chunk, which libpng skips) are not printed: a data set's
 * decodes run on worker threads, many per second. */
static void on_warning(png_structp png, png_const_charp text) {
    struct reader *r = png_get_error_ptr(png);
    if (!r->warning[0])
        snprintf(r->warning, sizeof r->warning, "%s", text);
}

/* Copies up to n bytes of the file to out. Returns the count, short only at the end of the
 * file, or -1 with errno set. */
static ssize_t take(struct reader *r, unsigned char *out, size_t n) {
    size_t got = 0;
    while (got < n) {
        if (r->pos == r->len) {
            ssize_t k = read(r->fd, r->buf, sizeof r->buf);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return -1;
            if (k == 0)
                break;
            r->pos = 0;
            r->len = (size_t)k;
        }
        size_t k = n - got < r->len - r->pos ? n - got : r->len - r->pos;
        memcpy(out + got, r->buf + r->pos, k);
        r->pos += k;
        got += k;
    }
    r->offset += (int64_t)got;
    return (ssize_t)got;
}

/* libpng's read function: all n bytes, or an error that says whether the file is short
 * or the read failed. */
static void read_data(png_structp png, png_bytep out, size_t n) {
    struct reader *r = png_get_io_ptr(png);
    ssize_t got = take(r, out, n);
    if (got < 0) {
        char e[128];
        say(r, LT_EIO, "read failed: %s", reason(errno, e, sizeof e));
        png_error(png, "read failed");
    }
    if ((size_t)got < n) {
        say(r, LT_EINVAL, "truncated (the file ends after %lld bytes)", (long long)r->offset);
        png_error(png, "truncated");
    }
}

/* Opens r->path to read: a regular file only, and without blocking, so that a FIFO named
 * by mistake is a message rather than a hang (as core/file_open.c, which needs a context). */
static int open_file(struct reader *r) {
    char e[128];
    int fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        say(r, LT_EIO, "cannot open: %s", reason(errno, e, sizeof e));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        say(r, LT_EIO, "cannot stat: %s", reason(errno, e, sizeof e));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        say(r, LT_EIO, "not a regular file (%s)",
            S_ISDIR(sb.st_mode) ? "a directory" : "a FIFO, socket or device");
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    r->fd = fd;
    return 0;
}

/* Reads the 8-byte signature (libpng is told it was read). 0, or -1 with the message. */
static int check_signature(struct reader *r) {
    unsigned char sig[8];
    ssize_t n = take(r, sig, sizeof sig);
    char e[128];
    if (n < 0)
        say(r, LT_EIO, "read failed: %s", reason(errno, e, sizeof e));
    else if (n == 0)
        say(r, LT_EINVAL, "not a PNG file (the file is empty)");
    else if (png_sig_cmp(sig, 0, (size_t)n) != 0)
        say(r, LT_EINVAL, "not a PNG file (signature)");
    else if (n < 8)
        say(r, LT_EINVAL, "truncated (the file ends after %lld bytes)", (long long)n);
    return r->kind == LT_OK ? 0 : -1;
}

/* ITU-R 601-2 luma, rounded half up. */
static uint8_t luma(unsigned red, unsigned green, unsigned blue) {
    return (uint8_t)((299 * red + 587 * green + 114 * blue + 500) / 1000);
}

/* Row y of the decoded, interleaved image (in_c channels) into the planar output (out_c
 * channels: in_c, or 1 from RGB). */
static void put_row(uint8_t *out /* (out_c, H, W) */, const uint8_t *row /* (W, in_c) */, size_t y,
                    size_t w, size_t plane, int in_c, int out_c) {
    uint8_t *dst = out + y * w;
    if (in_c == out_c) {
        for (int c = 0; c < in_c; c++)
            for (size_t x = 0; x < w; x++)
                dst[(size_t)c * plane + x] = row[x * (size_t)in_c + (size_t)c];
        return;
    }
    for (size_t x = 0; x < w; x++)
        dst[x] = luma(row[3 * x], row[3 * x + 1], row[3 * x + 2]);
}

/* Makes room for `need` bytes at img->pixels; nothing is kept (the caller overwrites it). */
static int reserve(struct lt_png_image *img, size_t need) {
    if (img->cap >= need)
        return 0;
    free(img->pixels);
    img->pixels = malloc(need);
    img->cap = img->pixels ? need : 0;
    return img->pixels ? 0 : -1;
}

/* Reads the pixels, after the header, into img (want 0, 1 or 3 channels). LT_OK, or the
 * failure's kind with its message said. */
static enum lt_status read_pixels(struct reader *r, png_structp png, png_infop info, int want,
                                  int64_t max_pixels, struct lt_png_image *img) {
    png_uint_32 w, h;
    int depth, type, interlace;
    png_get_IHDR(png, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    if (max_pixels > 0 && (int64_t)w * (int64_t)h > max_pixels) {
        say(r, LT_EINVAL, "%lu × %lu pixels is over data.max_pixels (%lld)", (unsigned long)w,
            (unsigned long)h, (long long)max_pixels);
        return LT_EINVAL;
    }
    if (depth == 16)
        png_set_scale_16(png);
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png); /* RGBA where a tRNS chunk gives the palette alpha */
    else if (depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    png_set_strip_alpha(png); /* a no-op without alpha */
    if (want == 3 && !(type & PNG_COLOR_MASK_COLOR))
        png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int in_c = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    LT_ASSERT(png_get_bit_depth(png, info) == 8 && (in_c == 1 || in_c == 3) &&
              rowbytes == (size_t)w * (size_t)in_c);
    int out_c = want ? want : in_c;

    /* the planar image, then the interleaved rows libpng writes: one row, or all of them
     * when it needs the earlier passes of an interlaced image */
    size_t plane = (size_t)w * h;
    if (plane > SIZE_MAX / 8) {
        say(r, LT_ENOMEM, "%lu × %lu pixels is too large", (unsigned long)w, (unsigned long)h);
        return LT_ENOMEM;
    }
    size_t image = plane * (size_t)out_c;
    size_t rows = (passes > 1 ? (size_t)h : 1) * rowbytes;
    if (reserve(img, image + rows) != 0) {
        say(r, LT_ENOMEM, "out of memory for %lu × %lu pixels", (unsigned long)w, (unsigned long)h);
        return LT_ENOMEM;
    }
    uint8_t *buf = img->pixels + image;
    if (passes == 1) {
        for (size_t y = 0; y < h; y++) {
            png_read_row(png, buf, NULL);
            put_row(img->pixels, buf, y, w, plane, in_c, out_c);
        }
    } else {
        for (int p = 0; p < passes; p++)
            for (size_t y = 0; y < h; y++)
                png_read_row(png, buf + y * rowbytes, NULL);
        for (size_t y = 0; y < h; y++)
            put_row(img->pixels, buf + y * rowbytes, y, w, plane, in_c, out_c);
    }
    /* through IEND: a file cut after its image data, or with a bad chunk there, is corrupt */
    png_read_end(png, NULL);
    img->width = (int)w;
    img->height = (int)h;
    img->channels = out_c;
    return LT_OK;
}

/* libpng's allocations during a decode, from the image's arena: a bump allocation (the
 * decode frees everything at its end, so nothing is reused within it); what does not fit
 * comes from malloc, and the arena grows to the decode's whole need afterwards. */
#define ARENA_ALIGN 16

static png_voidp arena_malloc(png_structp png, png_alloc_size_t size) {
    struct lt_png_image *img = png_get_mem_ptr(png);
    size_t n = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    img->arena_need += n;
    if (img->arena && n <= img->arena_cap - img->arena_used) {
        void *p = img->arena + img->arena_used;
        img->arena_used += n;
        return p;
    }
    return malloc(size);
}

static void arena_free(png_structp png, png_voidp p) {
    struct lt_png_image *img = png_get_mem_ptr(png);
    unsigned char *c = p;
    if (!(img->arena && c >= img->arena && c < img->arena + img->arena_cap))
        free(p);
}

/* After a decode: the arena empty again, and as large as the decode needed. */
static void arena_settle(struct lt_png_image *img) {
    if (img->arena_need > img->arena_cap) {
        unsigned char *a = malloc(img->arena_need);
        if (a) { /* else the next decode takes from malloc again */
            free(img->arena);
            img->arena = a;
            img->arena_cap = img->arena_need;
        }
    }
    img->arena_used = img->arena_need = 0;
}

/* Opens r->path, checks it is a PNG and reads its header; then, with img, its pixels
 * (want channels, 0, 1 or 3), or, without, the probe's answers. LT_OK, or the failure's
 * kind with its message said. */
static enum lt_status run(struct reader *r, int want, int64_t max_pixels, struct lt_png_image *img,
                          int *width, int *height, int *channels) {
    if (want != 0 && want != 1 && want != 3) {
        say(r, LT_EINVAL, "channels must be 0 (as in the file), 1 or 3, got %d", want);
        return LT_EINVAL;
    }
    if (open_file(r) != 0)
        return r->kind;
    if (check_signature(r) != 0) {
        close(r->fd);
        return r->kind;
    }
    /* a decode's libpng memory from the image's arena; a probe's from malloc */
    png_structp png = img ? png_create_read_struct_2(PNG_LIBPNG_VER_STRING, r, on_error,
                                                     on_warning, img, arena_malloc, arena_free)
                          : png_create_read_struct(PNG_LIBPNG_VER_STRING, r, on_error,
                                                   on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        close(r->fd);
        if (img)
            arena_settle(img);
        say(r, LT_ENOMEM, "out of memory for the PNG decoder");
        return LT_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        close(r->fd);
        if (img)
            arena_settle(img);
        return r->kind;
    }
    png_set_read_fn(png, r, read_data);
    png_set_sig_bytes(png, 8);
    png_read_info(png, info);
    enum lt_status st = LT_OK;
    if (img) {
        st = read_pixels(r, png, info, want, max_pixels, img);
    } else {
        *width = (int)png_get_image_width(png, info);
        *height = (int)png_get_image_height(png, info);
        *channels = png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR ? 3 : 1;
    }
    png_destroy_read_struct(&png, &info, NULL);
    close(r->fd);
    if (img)
        arena_settle(img);
    return st;
}

/* A reader for path whose messages go to msg. */
static void reader_init(struct reader *r, const char *path, char *msg, size_t msg_size) {
    memset(r, 0, offsetof(struct reader, buf));
    r->path = path;
    r->fd = -1;
    r->msg = msg;
    r->msg_size = msg_size;
    if (msg_size)
        msg[0] = '\0';
}

int lt_png_probe(const char *path, int *width, int *height, int *channels, char *msg,
                 size_t msg_size) {
    struct reader r;
    reader_init(&r, path, msg, msg_size);
    int w, h, c;
    if (run(&r, 0, 0, NULL, &w, &h, &c) != LT_OK)
        return -1;
    *width = w, *height = h, *channels = c;
    return 0;
}

int lt_png_decode(const char *path, int want_channels, int64_t max_pixels, struct lt_png_image *img,
                  char *msg, size_t msg_size) {
    struct reader r;
    reader_init(&r, path, msg, msg_size);
    img->width = img->height = img->channels = 0;
    return run(&r, want_channels, max_pixels, img, NULL, NULL, NULL) == LT_OK ? 0 : -1;
}

void lt_png_image_free(struct lt_png_image *img) {
    if (!img)
        return;
    free(img->pixels);
    free(img->arena);
    memset(img, 0, sizeof *img);
}

/* ---- tensors ----------------------------------------------------------------------------- */

enum lt_status lt_png_read(struct lt_ctx *ctx, const char *path, int channels,
                           struct lt_tensor **out) {
    char msg[4608];
    struct reader r;
    reader_init(&r, path, msg, sizeof msg);
    struct lt_png_image img = {0};
    enum lt_status st = run(&r, channels, 0, &img, NULL, NULL, NULL);
    if (st != LT_OK) {
        lt_png_image_free(&img);
        return lt_fail(ctx, st, "%s", msg);
    }
    const int64_t shape[3] = {img.channels, img.height, img.width};
    struct lt_tensor *t;
    st = lt_tensor_new(ctx, LT_DTYPE_U8, 3, shape, &t);
    if (st == LT_OK) {
        memcpy(lt_tensor_data(t), img.pixels, lt_tensor_bytes(t));
        *out = t;
    }
    lt_png_image_free(&img);
    return st;
}

/* A PNG file being encoded into memory, and the message of a failure. */
struct sink {
    unsigned char *data;
    size_t len, cap;
    enum lt_status kind;
    char msg[256];
};

static void on_write_error(png_structp png, png_const_charp text) {
    struct sink *s = png_get_error_ptr(png);
    if (s->kind == LT_OK) {
        s->kind = LT_EINVAL;
        snprintf(s->msg, sizeof s->msg, "%s", text);
    }
    png_longjmp(png, 1);
}

static void on_write_warning(png_structp png, png_const_charp text) {
    (void)png, (void)text;
}

static void write_data(png_structp png, png_bytep data, size_t n) {
    struct sink *s = png_get_io_ptr(png);
    if (n > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 4096;
        while (n > cap - s->len)
            cap *= 2;
        unsigned char *grown = realloc(s->data, cap);
        if (!grown) {
            s->kind = LT_ENOMEM;
            snprintf(s->msg, sizeof s->msg, "out of memory");
            png_error(png, s->msg);
        }
        s->data = grown;
        s->cap = cap;
    }
    memcpy(s->data + s->len, data, n);
    s->len += n;
}

/* Given, because without one libpng flushes its I/O pointer as a FILE. */
static void flush_data(png_structp png) {
    (void)png;
}

/* Encodes a planar image (C, H, W), C = 1 to 4, as an 8-bit PNG into s. LT_OK, or the
 * failure's kind with s->msg. */
static enum lt_status encode(struct sink *s, const uint8_t *px, int c, uint32_t h, uint32_t w) {
    static const int types[4] = {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                 PNG_COLOR_TYPE_RGB_ALPHA};
    size_t plane = (size_t)w * h;
    uint8_t *row = malloc((size_t)w * (size_t)c);
    png_structp png =
        row ? png_create_write_struct(PNG_LIBPNG_VER_STRING, s, on_write_error, on_write_warning)
            : NULL;
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        free(row);
        snprintf(s->msg, sizeof s->msg, "out of memory");
        return s->kind = LT_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        return s->kind;
    }
    png_set_write_fn(png, s, write_data, flush_data);
    png_set_IHDR(png, info, w, h, 8, types[c - 1], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (size_t y = 0; y < h; y++) {
        for (size_t x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                row[x * (size_t)c + (size_t)k] = px[(size_t)k * plane + y * w + x];
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return LT_OK;
}

enum lt_status lt_png_write(struct lt_ctx *ctx, const char *path, const struct lt_tensor *t) {
    enum lt_dtype dt = lt_tensor_dtype(t);
    int nd = lt_tensor_ndim(t);
    const int64_t *shape = lt_tensor_shape(t);
    if (dt != LT_DTYPE_U8)
        return lt_fail(ctx, LT_EINVAL, "%s: a PNG is written from a u8 tensor, got %s", path,
                       lt_dtype_name(dt));
    if (nd != 2 && nd != 3)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: a PNG is written from a (H, W) or (C, H, W) tensor, got %d dims", path,
                       nd);
    int64_t c = nd == 3 ? shape[0] : 1, h = shape[nd - 2], w = shape[nd - 1];
    if (c < 1 || c > 4)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: a PNG has 1 (gray), 2 (gray, alpha), 3 (RGB) or 4 (RGBA) channels, "
                       "got %lld",
                       path, (long long)c);
    if (h < 1 || w < 1 || h > PNG_USER_HEIGHT_MAX || w > PNG_USER_WIDTH_MAX)
        return lt_fail(ctx, LT_EINVAL, "%s: a PNG is 1 to %d pixels a side, got %lld × %lld", path,
                       PNG_USER_WIDTH_MAX, (long long)h, (long long)w);
    struct sink s = {0};
    enum lt_status st = encode(&s, lt_tensor_data(t), (int)c, (uint32_t)h, (uint32_t)w);
    if (st != LT_OK) {
        free(s.data);
        return lt_fail(ctx, st, "%s: cannot encode the image: %s", path, s.msg);
    }
    struct lt_atomic_file af;
    st = lt_atomic_begin(ctx, path, &af);
    if (st == LT_OK) {
        st = lt_atomic_write(ctx, path, &af, s.data, s.len);
        if (st == LT_OK)
            st = lt_atomic_commit(ctx, path, &af);
        else
            lt_atomic_abort(&af);
    }
    free(s.data);
    return st;
}
