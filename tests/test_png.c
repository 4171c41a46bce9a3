/* PNG decoding and writing: files of every colour type, bit depth and interlacing, written
 * here with libpng, decode pixel-exactly by the conversion rule of core/png.h; every kind
 * of broken file gives a message that names it, never a crash or a leak; u8 tensors round
 * trip through lt_png_write and lt_png_read. */
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/lutra.h"
#include "core/png.h"
#include "tests/tmpdir.h"
#include "tests/train_util.h"

#define SUITE_TAG "lt-png"
#include "tests/file_suite.h"

/* ---- test files ------------------------------------------------------------------------- */

/* A test image as libpng writes it; trns adds a tRNS chunk (palette alphas, or one
 * transparent gray or RGB colour). */
struct spec {
    const char *name;
    int w, h, type, depth, interlace, trns;
    const uint16_t *values; /* (H, W, samples a pixel), or NULL for the pattern */
};

/* Samples per pixel in the file (a palette index is one). */
static int file_channels(int type) {
    switch (type) {
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        return 2;
    case PNG_COLOR_TYPE_RGB:
        return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        return 4;
    default:
        return 1;
    }
}

static int palette_size(const struct spec *s) {
    return s->depth >= 8 ? 200 : 1 << s->depth;
}

static png_color palette_entry(int i) {
    png_color c = {(png_byte)(i * 7), (png_byte)(i * 13 + 5), (png_byte)(255 - i * 3)};
    return c;
}

/* Sample c of pixel (x, y) at the file's depth: an 8-bit pattern over the whole range,
 * made 16-bit as v * 257 so that the decoder's scaling back to 8 bits is exact. */
static unsigned sample(const struct spec *s, int x, int y, int c) {
    if (s->values)
        return s->values[((size_t)y * (size_t)s->w + (size_t)x) * (size_t)file_channels(s->type) +
                         (size_t)c];
    unsigned v = (unsigned)(x * 37 + y * 101 + c * 59 + x * y * 13 + 11) & 0xff;
    if (s->type == PNG_COLOR_TYPE_PALETTE)
        return v % (unsigned)palette_size(s);
    if (s->depth == 16)
        return v * 257;
    return v >> (8 - (s->depth < 8 ? s->depth : 8));
}

/* A gray or colour sample as the decoder gives it: 8 bits. */
static unsigned to8(const struct spec *s, unsigned v) {
    if (s->depth == 16)
        return v / 257;
    if (s->depth < 8)
        return v * 255 / ((1u << s->depth) - 1);
    return v;
}

static unsigned luma(unsigned r, unsigned g, unsigned b) {
    return (299 * r + 587 * g + 114 * b + 500) / 1000;
}

/* Writes the spec's image with libpng to dir/<name>.png; the path goes to path. */
static void write_file(const struct spec *s, char *path) {
    snprintf(path, 512, "%s/%s.png", dir, s->name);
    int ch = file_channels(s->type);
    size_t rowbytes = ((size_t)s->w * (size_t)ch * (size_t)s->depth + 7) / 8;
    unsigned char *image = calloc((size_t)s->h, rowbytes);
    png_bytep *rows = malloc((size_t)s->h * sizeof *rows);
    assert_non_null(image);
    assert_non_null(rows);
    for (int y = 0; y < s->h; y++) {
        rows[y] = image + (size_t)y * rowbytes;
        for (int x = 0; x < s->w; x++)
            for (int c = 0; c < ch; c++) {
                unsigned v = sample(s, x, y, c);
                size_t at = (size_t)x * (size_t)ch + (size_t)c;
                if (s->depth == 16) {
                    rows[y][2 * at] = (png_byte)(v >> 8);
                    rows[y][2 * at + 1] = (png_byte)v;
                } else if (s->depth == 8) {
                    rows[y][at] = (png_byte)v;
                } else { /* one sample a pixel, packed from the high bit */
                    size_t bit = at * (size_t)s->depth;
                    rows[y][bit / 8] |= (png_byte)(v << (8 - s->depth - (int)(bit % 8)));
                }
            }
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng could not write %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)s->w, (png_uint_32)s->h, s->depth, s->type, s->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color pal[256];
    png_byte alpha[256];
    if (s->type == PNG_COLOR_TYPE_PALETTE) {
        for (int i = 0; i < palette_size(s); i++)
            pal[i] = palette_entry(i), alpha[i] = (png_byte)(i * 31);
        png_set_PLTE(png, info, pal, palette_size(s));
        if (s->trns)
            png_set_tRNS(png, info, alpha, palette_size(s), NULL);
    } else if (s->trns) {
        png_color_16 key = {0, (png_uint_16)sample(s, 1, 1, 0), (png_uint_16)sample(s, 1, 1, 1),
                            (png_uint_16)sample(s, 1, 1, 2), (png_uint_16)sample(s, 1, 1, 0)};
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    assert_int_equal(fclose(f), 0);
    free(rows);
    free(image);
}

/* Pixel (x, y) of the spec's image decoded with want channels (0: the file's colour). */
static void expected(const struct spec *s, int want, int x, int y, unsigned *out, int *n) {
    unsigned rgb[3];
    int color = s->type & PNG_COLOR_MASK_COLOR;
    if (s->type == PNG_COLOR_TYPE_PALETTE) {
        png_color c = palette_entry((int)sample(s, x, y, 0));
        rgb[0] = c.red, rgb[1] = c.green, rgb[2] = c.blue;
    } else {
        for (int c = 0; c < 3; c++)
            rgb[c] = to8(s, sample(s, x, y, color ? c : 0));
    }
    *n = want ? want : color ? 3 : 1;
    if (*n == 1)
        out[0] = color ? luma(rgb[0], rgb[1], rgb[2]) : rgb[0];
    else
        memcpy(out, rgb, sizeof rgb);
}

/* path's message: it starts with "path: ". */
static void assert_names(const char *msg, const char *path) {
    size_t n = strlen(path);
    if (strncmp(msg, path, n) != 0 || strncmp(msg + n, ": ", 2) != 0)
        fail_msg("message '%s' does not start with '%s: '", msg, path);
}

/* ---- round trips ------------------------------------------------------------------------- */

static const struct spec specs[] = {
    {"gray1", 13, 7, PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, 0, NULL},
    {"gray2", 13, 7, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 0, NULL},
    {"gray4", 13, 7, PNG_COLOR_TYPE_GRAY, 4, PNG_INTERLACE_NONE, 0, NULL},
    {"gray8", 13, 7, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, NULL},
    {"gray16", 13, 7, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 0, NULL},
    {"gray8_trns", 13, 7, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 1, NULL},
    {"gray2_trns", 13, 7, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_NONE, 1, NULL},
    {"gray_alpha8", 13, 7, PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, 0, NULL},
    {"gray_alpha16", 13, 7, PNG_COLOR_TYPE_GRAY_ALPHA, 16, PNG_INTERLACE_NONE, 0, NULL},
    {"rgb8", 13, 7, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0, NULL},
    {"rgb16", 13, 7, PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_NONE, 0, NULL},
    {"rgb8_trns", 13, 7, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 1, NULL},
    {"rgba8", 13, 7, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, 0, NULL},
    {"rgba16", 13, 7, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_NONE, 0, NULL},
    {"palette8", 13, 7, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 0, NULL},
    {"palette8_trns", 13, 7, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, 1, NULL},
    {"palette4", 13, 7, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_NONE, 0, NULL},
    {"palette1_trns", 13, 7, PNG_COLOR_TYPE_PALETTE, 1, PNG_INTERLACE_NONE, 1, NULL},
    {"rgb8_adam7", 17, 11, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 0, NULL},
    {"gray2_adam7", 17, 11, PNG_COLOR_TYPE_GRAY, 2, PNG_INTERLACE_ADAM7, 0, NULL},
    {"rgba16_adam7", 17, 11, PNG_COLOR_TYPE_RGB_ALPHA, 16, PNG_INTERLACE_ADAM7, 0, NULL},
    {"palette4_trns_adam7", 17, 11, PNG_COLOR_TYPE_PALETTE, 4, PNG_INTERLACE_ADAM7, 1, NULL},
    {"one_pixel", 1, 1, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, 0, NULL},
};

/* Every spec, with 0, 1 and 3 channels, through one image (its buffer reused). */
static void every_format_decodes_exactly(void **state) {
    (void)state;
    struct lt_png_image img = {0};
    char path[512], msg[1024];
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const struct spec *s = &specs[i];
        write_file(s, path);
        int w, h, c;
        if (lt_png_probe(path, &w, &h, &c, msg, sizeof msg) != 0)
            fail_msg("%s", msg);
        assert_int_equal(w, s->w);
        assert_int_equal(h, s->h);
        assert_int_equal(c, s->type & PNG_COLOR_MASK_COLOR ? 3 : 1);
        for (int want = 0; want <= 3; want += want ? 2 : 1) {
            if (lt_png_decode(path, want, 0, &img, msg, sizeof msg) != 0)
                fail_msg("%s", msg);
            unsigned px[3];
            int n;
            expected(s, want, 0, 0, px, &n);
            assert_int_equal(img.width, s->w);
            assert_int_equal(img.height, s->h);
            assert_int_equal(img.channels, n);
            size_t plane = (size_t)s->w * (size_t)s->h;
            for (int y = 0; y < s->h; y++)
                for (int x = 0; x < s->w; x++) {
                    expected(s, want, x, y, px, &n);
                    for (int k = 0; k < n; k++) {
                        unsigned got =
                            img.pixels[(size_t)k * plane + (size_t)y * (size_t)s->w + (size_t)x];
                        if (got != px[k])
                            fail_msg("%s, %d channels: pixel (%d, %d) channel %d is %u, want %u",
                                     s->name, want, x, y, k, got, px[k]);
                    }
                }
        }
    }
    lt_png_image_free(&img);
    assert_null(img.pixels);
    lt_png_image_free(NULL);
}

/* The luma weights on colours worked out by hand, a half rounded up included. */
static void rgb_to_gray_is_601_luma(void **state) {
    (void)state;
    const unsigned char colors[6][3] = {{255, 0, 0}, {0, 255, 0},     {0, 0, 255},
                                        {0, 0, 250}, {255, 255, 255}, {10, 20, 30}};
    const unsigned char want[6] = {76, 150, 29, 29, 255, 18};
    const int64_t shape[3] = {3, 1, 6};
    struct lt_tensor *t, *g;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, 3, shape, &t));
    uint8_t *d = lt_tensor_data(t);
    for (int i = 0; i < 6; i++)
        for (int c = 0; c < 3; c++)
            d[c * 6 + i] = colors[i][c];
    char path[512];
    snprintf(path, sizeof path, "%s/colors.png", dir);
    CHECK(ctx, lt_png_write(ctx, path, t));
    CHECK(ctx, lt_png_read(ctx, path, 1, &g));
    assert_int_equal(lt_tensor_shape(g)[0], 1);
    assert_memory_equal(lt_tensor_data(g), want, 6);
    lt_tensor_free(g);
    lt_tensor_free(t);
}

/* 16-bit samples are rounded to 8 bits, not cut to their high byte: round(v * 255 / 65535). */
static void sixteen_bits_round(void **state) {
    (void)state;
    static const uint16_t values[8] = {0, 127, 129, 255, 384, 511, 65534, 65535};
    const unsigned char want[8] = {0, 0, 1, 1, 1, 2, 255, 255};
    const struct spec s = {"round16", 8, 1, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_NONE, 0, values};
    char path[512], msg[1024];
    write_file(&s, path);
    struct lt_png_image img = {0};
    if (lt_png_decode(path, 0, 0, &img, msg, sizeof msg) != 0)
        fail_msg("%s", msg);
    assert_memory_equal(img.pixels, want, 8);
    lt_png_image_free(&img);
}

/* A worker's image keeps its buffers: a smaller image after a larger one allocates
 * nothing, for its pixels nor for libpng's own memory (the arena, as large as a decode
 * needed, empty between decodes). */
static void the_buffer_is_reused(void **state) {
    (void)state;
    const struct spec big = {"big", 40, 30, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0, NULL};
    const struct spec small = {"small", 9, 5, PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, 0, NULL};
    char pb[512], ps[512], msg[1024];
    write_file(&big, pb);
    write_file(&small, ps);
    struct lt_png_image img = {0};
    assert_int_equal(lt_png_decode(pb, 3, 0, &img, msg, sizeof msg), 0);
    uint8_t *pixels = img.pixels;
    size_t cap = img.cap;
    assert_true(cap >= 3 * 40 * 30);
    unsigned char *arena = img.arena;
    size_t arena_cap = img.arena_cap;
    assert_non_null(arena); /* libpng's structs and zlib's state at least */
    assert_int_equal(img.arena_used, 0);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(lt_png_decode(k == 1 ? pb : ps, 3, 0, &img, msg, sizeof msg), 0);
        assert_ptr_equal(img.pixels, pixels);
        assert_int_equal(img.cap, cap);
        assert_ptr_equal(img.arena, arena);
        assert_int_equal(img.arena_cap, arena_cap);
    }
    assert_int_equal(img.channels * img.height * img.width, 3 * 9 * 5);
    lt_png_image_free(&img);
}

/* ---- broken files ------------------------------------------------------------------------ */

/* Writes n bytes as dir/name, decodes it: -1, a message naming it and containing `what`,
 * and an image with no size. */
static void expect_fail(const char *name, const unsigned char *bytes, size_t n, const char *what) {
    char path[512], msg[1024];
    assert_int_equal(tmpdir_write(dir, name, bytes, n, 0, path), 0);
    struct lt_png_image img = {0};
    int rc = lt_png_decode(path, 0, 0, &img, msg, sizeof msg);
    lt_png_image_free(&img);
    if (rc != -1)
        fail_msg("%s (%zu bytes) decoded", name, n);
    assert_names(msg, path);
    if (!strstr(msg, what))
        fail_msg("message '%s' lacks '%s'", msg, what);
    assert_int_equal(img.width, 0);
}

/* A good RGB file's bytes (free them). */
static unsigned char *good_file(size_t *n) {
    const struct spec s = {"good", 13, 7, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, 0, NULL};
    char path[512];
    write_file(&s, path);
    unsigned char *bytes = tmpdir_read(path, n);
    assert_non_null(bytes);
    return bytes;
}

/* Where chunk `type` starts (its length field). */
static size_t find_chunk(const unsigned char *bytes, size_t n, const char *type) {
    for (size_t at = 8; at + 8 <= n;) {
        size_t len = (size_t)bytes[at] << 24 | (size_t)bytes[at + 1] << 16 |
                     (size_t)bytes[at + 2] << 8 | bytes[at + 3];
        if (memcmp(bytes + at + 4, type, 4) == 0)
            return at;
        at += 12 + len;
    }
    fail_msg("no %s chunk", type);
    return 0;
}

static void put_u32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* Sets IHDR's fields and its CRC, so that the values, not the checksum, are wrong. */
static void set_ihdr(unsigned char *bytes, uint32_t w, uint32_t h, int depth) {
    put_u32(bytes + 16, w);
    put_u32(bytes + 20, h);
    bytes[24] = (unsigned char)depth;
    put_u32(bytes + 29, (uint32_t)crc32(0, bytes + 12, 17));
}

static void truncated_files_fail(void **state) {
    (void)state;
    size_t n;
    unsigned char *bytes = good_file(&n);
    size_t idat = find_chunk(bytes, n, "IDAT");
    /* in the signature, after it, in IHDR, between chunks, in IDAT, before and in IEND */
    const size_t cuts[] = {4, 8, 20, 33, idat + 20, n / 2, n - 12, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%zu.png", cuts[i]);
        expect_fail(name, bytes, cuts[i], "truncated");
    }
    free(bytes);
}

static void corrupt_chunks_fail(void **state) {
    (void)state;
    size_t n;
    unsigned char *bytes = good_file(&n);
    size_t idat = find_chunk(bytes, n, "IDAT");
    size_t len = (size_t)bytes[idat + 2] << 8 | bytes[idat + 3];
    /* a flipped byte in the compressed data: zlib or the CRC finds it, either way a message */
    bytes[idat + 8 + len / 2] ^= 0x10;
    expect_fail("idat_data.png", bytes, n, "");
    bytes[idat + 8 + len / 2] ^= 0x10;
    bytes[idat + 8 + len] ^= 0x01; /* the CRC itself */
    expect_fail("idat_crc.png", bytes, n, "IDAT: CRC error");
    free(bytes);

    bytes = good_file(&n);
    bytes[20] ^= 0x01; /* the height, under the old CRC */
    expect_fail("ihdr_crc.png", bytes, n, "IHDR: CRC error");
    free(bytes);

    bytes = good_file(&n);
    set_ihdr(bytes, 0, 7, 8);
    expect_fail("width0.png", bytes, n, "Invalid IHDR data (Image width is zero in IHDR)");
    set_ihdr(bytes, 13, 7, 3);
    expect_fail("depth3.png", bytes, n, "Invalid IHDR data (Invalid bit depth in IHDR)");
    free(bytes);
}

/* An image over max_pixels is refused from its header: nothing is allocated for it. */
static void huge_images_are_refused(void **state) {
    (void)state;
    size_t n;
    unsigned char *bytes = good_file(&n);
    set_ihdr(bytes, 70000, 70000, 8);
    char path[512], msg[1024], want[1024];
    assert_int_equal(tmpdir_write(dir, "huge.png", bytes, n, 0, path), 0);
    int w, h, c;
    assert_int_equal(lt_png_probe(path, &w, &h, &c, msg, sizeof msg), 0);
    assert_int_equal(w, 70000);
    assert_int_equal(h, 70000);
    struct lt_png_image img = {0};
    assert_int_equal(lt_png_decode(path, 0, 16777216, &img, msg, sizeof msg), -1);
    snprintf(want, sizeof want, "%s: 70000 × 70000 pixels is over data.max_pixels (16777216)",
             path);
    assert_string_equal(msg, want);
    assert_null(img.pixels);
    /* at the limit exactly is allowed */
    set_ihdr(bytes, 13, 7, 8);
    assert_int_equal(tmpdir_write(dir, "limit.png", bytes, n, 0, path), 0);
    assert_int_equal(lt_png_decode(path, 0, 13 * 7, &img, msg, sizeof msg), 0);
    lt_png_image_free(&img);
    free(bytes);
}

static void other_files_fail(void **state) {
    (void)state;
    const char *text = "width,height\n28,28\n";
    expect_fail("x.png", (const unsigned char *)text, strlen(text), "not a PNG file (signature)");
    expect_fail("empty.png", (const unsigned char *)"", 0, "not a PNG file (the file is empty)");

    char path[512], msg[1024];
    struct lt_png_image img = {0};
    snprintf(path, sizeof path, "%s/nope.png", dir);
    assert_int_equal(lt_png_decode(path, 0, 0, &img, msg, sizeof msg), -1);
    assert_names(msg, path);
    assert_non_null(strstr(msg, "cannot open: No such file or directory"));
    assert_int_equal(lt_png_decode(dir, 0, 0, &img, msg, sizeof msg), -1);
    assert_names(msg, dir);
    assert_non_null(strstr(msg, "not a regular file (a directory)"));
    /* a FIFO is refused without waiting for a writer */
    snprintf(path, sizeof path, "%s/fifo.png", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(lt_png_probe(path, &img.width, &img.height, &img.channels, msg, sizeof msg),
                     -1);
    assert_non_null(strstr(msg, "not a regular file"));

    /* a channel count outside 0, 1, 3; and no message buffer at all */
    write_file(&specs[0], path);
    assert_int_equal(lt_png_decode(path, 2, 0, &img, msg, sizeof msg), -1);
    assert_names(msg, path);
    assert_non_null(strstr(msg, "channels must be 0 (as in the file), 1 or 3, got 2"));
    assert_int_equal(lt_png_decode(path, 4, 0, &img, NULL, 0), -1);
    /* a short buffer gets a cut message, not an overflow */
    char tiny[8];
    snprintf(path, sizeof path, "%s/x.png", dir);
    assert_int_equal(lt_png_decode(path, 0, 0, &img, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    lt_png_image_free(&img);
}

/* ---- tensors ----------------------------------------------------------------------------- */

/* A u8 tensor with a pattern. */
static struct lt_tensor *pattern(int ndim, const int64_t *shape) {
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_U8, ndim, shape, &t));
    uint8_t *d = lt_tensor_data(t);
    for (int64_t i = 0; i < lt_tensor_numel(t); i++)
        d[i] = (uint8_t)(i * 29 + 7);
    return t;
}

/* Writes t, reads it back with `channels`: shape (c, 5, 7) and the first planes of t. */
static void check_round_trip(const char *name, int ndim, const int64_t *shape, int channels,
                             int64_t c) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct lt_tensor *t = pattern(ndim, shape), *back;
    CHECK(ctx, lt_png_write(ctx, path, t));
    CHECK(ctx, lt_png_read(ctx, path, channels, &back));
    assert_int_equal(lt_tensor_dtype(back), LT_DTYPE_U8);
    assert_int_equal(lt_tensor_ndim(back), 3);
    assert_int_equal(lt_tensor_shape(back)[0], c);
    assert_int_equal(lt_tensor_shape(back)[1], 5);
    assert_int_equal(lt_tensor_shape(back)[2], 7);
    assert_memory_equal(lt_tensor_data(back), lt_tensor_data(t), (size_t)c * 35);
    lt_tensor_free(back);
    lt_tensor_free(t);
}

static void tensors_round_trip(void **state) {
    (void)state;
    const int64_t hw[2] = {5, 7}, gray[3] = {1, 5, 7}, ga[3] = {2, 5, 7}, rgb[3] = {3, 5, 7},
                  rgba[3] = {4, 5, 7};
    check_round_trip("hw.png", 2, hw, 0, 1);
    check_round_trip("gray.png", 3, gray, 0, 1);
    check_round_trip("rgb.png", 3, rgb, 0, 3);
    /* alpha is dropped on reading: the colour planes come back */
    check_round_trip("ga.png", 3, ga, 0, 1);
    check_round_trip("rgba.png", 3, rgba, 0, 3);
    /* and a file is replaced whole */
    check_round_trip("rgb.png", 3, rgb, 0, 3);

    /* gray read as 3 channels: the plane three times */
    char path[512];
    snprintf(path, sizeof path, "%s/hw.png", dir);
    struct lt_tensor *t;
    CHECK(ctx, lt_png_read(ctx, path, 3, &t));
    const uint8_t *d = lt_tensor_data(t);
    assert_int_equal(lt_tensor_shape(t)[0], 3);
    assert_memory_equal(d, d + 35, 35);
    assert_memory_equal(d, d + 70, 35);
    lt_tensor_free(t);
}

static void tensor_errors(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/bad.png", dir);
    struct lt_tensor *t = NULL;
    const int64_t rgb[3] = {3, 5, 7}, five[3] = {5, 5, 7}, four[4] = {1, 3, 5, 7},
                  empty[2] = {0, 7};
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 3, rgb, &t));
    assert_int_equal(lt_png_write(ctx, path, t), LT_EINVAL);
    assert_names(lt_ctx_error(ctx), path);
    assert_non_null(strstr(lt_ctx_error(ctx), "a PNG is written from a u8 tensor, got f32"));
    lt_tensor_free(t);
    t = pattern(3, five);
    assert_int_equal(lt_png_write(ctx, path, t), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "got 5"));
    lt_tensor_free(t);
    t = pattern(4, four);
    assert_int_equal(lt_png_write(ctx, path, t), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "got 4 dims"));
    lt_tensor_free(t);
    t = pattern(2, empty);
    assert_int_equal(lt_png_write(ctx, path, t), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "got 0 × 7"));
    lt_tensor_free(t);
    assert_int_equal(access(path, F_OK), -1);

    /* a folder that does not exist */
    t = pattern(3, rgb);
    snprintf(path, sizeof path, "%s/none/x.png", dir);
    assert_int_equal(lt_png_write(ctx, path, t), LT_EIO);
    assert_names(lt_ctx_error(ctx), path);
    lt_tensor_free(t);

    /* reading: a missing file is LT_EIO, a file that is not a PNG and a bad channel count
     * LT_EINVAL; the out-parameter is untouched */
    struct lt_tensor *out = NULL;
    assert_int_equal(lt_png_read(ctx, path, 0, &out), LT_EIO);
    assert_names(lt_ctx_error(ctx), path);
    snprintf(path, sizeof path, "%s/x.png", dir);
    assert_int_equal(tmpdir_write(dir, "x.png", "hello", 5, 0, path), 0);
    assert_int_equal(lt_png_read(ctx, path, 0, &out), LT_EINVAL);
    assert_names(lt_ctx_error(ctx), path);
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    assert_int_equal(lt_png_read(ctx, path, 2, &out), LT_EINVAL);
    assert_non_null(strstr(lt_ctx_error(ctx), "channels must be 0"));
    assert_null(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_format_decodes_exactly), cmocka_unit_test(rgb_to_gray_is_601_luma),
        cmocka_unit_test(sixteen_bits_round),           cmocka_unit_test(the_buffer_is_reused),
        cmocka_unit_test(truncated_files_fail),         cmocka_unit_test(corrupt_chunks_fail),
        cmocka_unit_test(huge_images_are_refused),      cmocka_unit_test(other_files_fail),
        cmocka_unit_test(tensors_round_trip),           cmocka_unit_test(tensor_errors),
    };
    return cmocka_run_group_tests_name("png", tests, setup, teardown);
}
