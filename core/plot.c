/* Curves as PNG files: line charts (loss, lr, memory against iterations) drawn into an RGB
 * buffer with a built-in 5×7 font for the title, tick values and legend, and written
 * with libpng atomically (temporary file, fsync, rename). No other drawing library: a
 * run's work dir gets its curves wherever lutra builds. */
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/fail.h"

/* ---- the font ------------------------------------------------------------------------------ */

/* 5 columns × 7 rows per glyph, '#' set. Lowercase letters, digits and what numbers and
 * labels need; uppercase is drawn as lowercase, anything else as a space. */
struct glyph {
    char c;
    const char *rows[7];
};

static const struct glyph font[] = {
    {'0', {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "}},
    {'1', {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'2', {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"}},
    {'3', {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "}},
    {'4', {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "}},
    {'5', {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "}},
    {'6', {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "}},
    {'7', {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "}},
    {'8', {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "}},
    {'9', {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "}},
    {'.', {"     ", "     ", "     ", "     ", "     ", " ##  ", " ##  "}},
    {',', {"     ", "     ", "     ", "     ", " ##  ", "  #  ", " #   "}},
    {'-', {"     ", "     ", "     ", "#####", "     ", "     ", "     "}},
    {'+', {"     ", "  #  ", "  #  ", "#####", "  #  ", "  #  ", "     "}},
    {'(', {"   # ", "  #  ", " #   ", " #   ", " #   ", "  #  ", "   # "}},
    {')', {" #   ", "  #  ", "   # ", "   # ", "   # ", "  #  ", " #   "}},
    {'/', {"     ", "    #", "   # ", "  #  ", " #   ", "#    ", "     "}},
    {'%', {"##   ", "##  #", "   # ", "  #  ", " #   ", "#  ##", "   ##"}},
    {':', {"     ", " ##  ", " ##  ", "     ", " ##  ", " ##  ", "     "}},
    {'_', {"     ", "     ", "     ", "     ", "     ", "     ", "#####"}},
    {'a', {"     ", "     ", " ### ", "    #", " ####", "#   #", " ####"}},
    {'b', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#### "}},
    {'c', {"     ", "     ", " ### ", "#    ", "#    ", "#   #", " ### "}},
    {'d', {"    #", "    #", " ## #", "#  ##", "#   #", "#   #", " ####"}},
    {'e', {"     ", "     ", " ### ", "#   #", "#####", "#    ", " ### "}},
    {'f', {"  ## ", " #  #", " #   ", "###  ", " #   ", " #   ", " #   "}},
    {'g', {"     ", " ####", "#   #", "#   #", " ####", "    #", " ### "}},
    {'h', {"#    ", "#    ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
    {'i', {"  #  ", "     ", " ##  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'j', {"   # ", "     ", "  ## ", "   # ", "   # ", "#  # ", " ##  "}},
    {'k', {"#    ", "#    ", "#  # ", "# #  ", "##   ", "# #  ", "#  # "}},
    {'l', {" ##  ", "  #  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "}},
    {'m', {"     ", "     ", "## # ", "# # #", "# # #", "#   #", "#   #"}},
    {'n', {"     ", "     ", "# ## ", "##  #", "#   #", "#   #", "#   #"}},
    {'o', {"     ", "     ", " ### ", "#   #", "#   #", "#   #", " ### "}},
    {'p', {"     ", "     ", "#### ", "#   #", "#### ", "#    ", "#    "}},
    {'q', {"     ", "     ", " ## #", "#  ##", " ####", "    #", "    #"}},
    {'r', {"     ", "     ", "# ## ", "##  #", "#    ", "#    ", "#    "}},
    {'s', {"     ", "     ", " ### ", "#    ", " ### ", "    #", "#### "}},
    {'t', {" #   ", " #   ", "###  ", " #   ", " #   ", " #  #", "  ## "}},
    {'u', {"     ", "     ", "#   #", "#   #", "#   #", "#  ##", " ## #"}},
    {'v', {"     ", "     ", "#   #", "#   #", "#   #", " # # ", "  #  "}},
    {'w', {"     ", "     ", "#   #", "#   #", "# # #", "# # #", " # # "}},
    {'x', {"     ", "     ", "#   #", " # # ", "  #  ", " # # ", "#   #"}},
    {'y', {"     ", "     ", "#   #", "#   #", " ####", "    #", " ### "}},
    {'z', {"     ", "     ", "#####", "   # ", "  #  ", " #   ", "#####"}},
};

static const struct glyph *glyph_of(char c) {
    if (c >= 'A' && c <= 'Z')
        c = (char)(c - 'A' + 'a');
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c)
            return &font[i];
    return NULL;
}

/* ---- the canvas ---------------------------------------------------------------------------- */

struct canvas {
    unsigned char *rgb; /* (height, width, 3) */
    int w, h;
};

static void dot(struct canvas *c, int x, int y, uint32_t rgb) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    unsigned char *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = (unsigned char)(rgb >> 16);
    p[1] = (unsigned char)(rgb >> 8);
    p[2] = (unsigned char)rgb;
}

/* A line of width 2 (Bresenham, and the pixel below). */
static void line(struct canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb) {
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
    for (;;) {
        dot(c, x0, y0, rgb);
        dot(c, x0, y0 + 1, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
    }
}

static void hline(struct canvas *c, int x0, int x1, int y, uint32_t rgb) {
    for (int x = x0; x <= x1; x++)
        dot(c, x, y, rgb);
}

static void vline(struct canvas *c, int x, int y0, int y1, uint32_t rgb) {
    for (int y = y0; y <= y1; y++)
        dot(c, x, y, rgb);
}

/* Text with its top-left corner at (x, y); 6 pixels per character. */
static void text(struct canvas *c, int x, int y, const char *s, uint32_t rgb) {
    for (; *s; s++, x += 6) {
        const struct glyph *g = glyph_of(*s);
        for (int r = 0; g && r < 7; r++)
            for (int k = 0; k < 5; k++)
                if (g->rows[r][k] == '#')
                    dot(c, x + k, y + r, rgb);
    }
}

/* ---- the chart ------------------------------------------------------------------------------- */

/* Tick values: `n` round numbers spanning [lo, hi] (a step of 1, 2 or 5 × 10^k). */
static double tick_step(double lo, double hi, int n) {
    double raw = (hi - lo) / n, mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void draw(struct canvas *c, const char *title, const char *x_label, int n_series,
                 const struct lt_plot_series *series, double x0, double x1, double y0, double y1) {
    const int left = 64, right = 12, top = 24, bottom = 34;
    int pw = c->w - left - right, ph = c->h - top - bottom;
    const uint32_t axis = 0x404040, grid = 0xe4e4e4;
    char buf[32];
    double ys = tick_step(y0, y1, 5), xs = tick_step(x0, x1, 6);
    for (double v = ceil(y0 / ys) * ys; v <= y1 + ys * 1e-9; v += ys) {
        int y = top + ph - (int)lround((v - y0) / (y1 - y0) * ph);
        hline(c, left, left + pw, y, grid);
        snprintf(buf, sizeof buf, "%.4g", fabs(v) < ys * 1e-9 ? 0.0 : v);
        text(c, left - 6 - 6 * (int)strlen(buf), y - 3, buf, axis);
    }
    for (double v = ceil(x0 / xs) * xs; v <= x1 + xs * 1e-9; v += xs) {
        int x = left + (int)lround((v - x0) / (x1 - x0) * pw);
        vline(c, x, top, top + ph, grid);
        snprintf(buf, sizeof buf, "%.6g", v);
        text(c, x - 3 * (int)strlen(buf), top + ph + 6, buf, axis);
    }
    hline(c, left, left + pw, top + ph, axis);
    vline(c, left, top, top + ph, axis);
    if (title)
        text(c, left, 8, title, 0x000000);
    if (x_label)
        text(c, left + pw - 6 * (int)strlen(x_label), c->h - 12, x_label, axis);
    int legend_x = c->w - right;
    for (int s = n_series - 1; s >= 0; s--) {
        const struct lt_plot_series *ser = &series[s];
        if (ser->label) {
            legend_x -= 6 * (int)strlen(ser->label) + 16;
            hline(c, legend_x, legend_x + 8, 11, ser->rgb);
            hline(c, legend_x, legend_x + 8, 12, ser->rgb);
            text(c, legend_x + 12, 8, ser->label, ser->rgb);
        }
        int have = 0, px = 0, py = 0;
        for (int i = 0; i < ser->n; i++) {
            if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) {
                have = 0;
                continue;
            }
            int x = left + (int)lround((ser->x[i] - x0) / (x1 - x0) * pw);
            int y = top + ph - (int)lround((ser->y[i] - y0) / (y1 - y0) * ph);
            if (have)
                line(c, px, py, x, y, ser->rgb);
            else if (i + 1 == ser->n || !isfinite(ser->x[i + 1]) || !isfinite(ser->y[i + 1]))
                line(c, x - 2, y, x + 2, y, ser->rgb); /* a lone point: a dash */
            px = x, py = y, have = 1;
        }
    }
}

/* Writes the canvas as an 8-bit RGB PNG to an open file; 0 on success. libpng reports
 * errors by longjmp back here; nothing set after setjmp is read after the jump. */
static int write_png(FILE *f, const struct canvas *c) {
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++)
        png_write_row(png, c->rgb + (size_t)y * (size_t)c->w * 3);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

enum lt_status lt_plot_png(struct lt_ctx *ctx, const char *path, const char *title,
                           const char *x_label, int width, int height, int n_series,
                           const struct lt_plot_series *series) {
    if (width < 160 || width > 4096 || height < 100 || height > 4096)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: a chart is 160 to 4096 by 100 to 4096 pixels, got %dx%d", path, width,
                       height);
    if (n_series < 1)
        return lt_fail(ctx, LT_EINVAL, "%s: a chart needs at least one series", path);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++)
            if (isfinite(series[s].x[i]) && isfinite(series[s].y[i])) {
                x0 = fmin(x0, series[s].x[i]), x1 = fmax(x1, series[s].x[i]);
                y0 = fmin(y0, series[s].y[i]), y1 = fmax(y1, series[s].y[i]);
            }
    if (!(x0 <= x1))
        return lt_fail(ctx, LT_EINVAL, "%s: no finite point to draw", path);
    if (x1 - x0 < 1e-12 * fmax(1, fabs(x0)))
        x0 -= 0.5, x1 += 0.5;
    double pad = (y1 - y0) * 0.05;
    if (pad < 1e-12 * fmax(1, fabs(y0)))
        pad = fmax(fabs(y0) * 0.05, 1e-6);
    y0 -= pad, y1 += pad;
    struct canvas c = {malloc((size_t)width * (size_t)height * 3), width, height};
    if (!c.rgb)
        return lt_fail(ctx, LT_ENOMEM, "%s: out of memory for a %dx%d chart", path, width, height);
    memset(c.rgb, 0xff, (size_t)width * (size_t)height * 3);
    draw(&c, title, x_label, n_series, series, x0, x1, y0, y1);

    struct lt_atomic_file af;
    enum lt_status st = lt_atomic_begin(ctx, path, &af);
    if (st != LT_OK) {
        free(c.rgb);
        return st;
    }
    /* libpng writes through a FILE on a duplicate of the temporary's descriptor */
    int fd = dup(af.fd);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int e = 0;
    if (!f) {
        e = errno ? errno : EIO;
        if (fd >= 0)
            close(fd);
    } else {
        errno = 0;
        if (write_png(f, &c) != 0 || fflush(f) != 0)
            e = errno ? errno : EIO;
        if (fclose(f) != 0 && !e)
            e = errno ? errno : EIO;
    }
    free(c.rgb);
    if (e) {
        lt_atomic_abort(&af);
        return lt_fail(ctx, LT_EIO, "%s: cannot write the chart: %s", path, strerror(e));
    }
    return lt_atomic_commit(ctx, path, &af);
}
