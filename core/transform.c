/* Image augmentations (resize, crop, flip, normalise) for the data loader's workers: the
 * contracts are in transform.h. Each output row is written by one tight loop over a u8
 * row (the flip reverses the index, the normalisation is a table lookup), so a small
 * sample costs about what copying it does. */
#include "core/transform.h"

#include <stdarg.h>
#include <stdio.h>

#include "core/fail.h"
#include "kernels/rng.h"

__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t size, const char *fmt,
                                                      ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, size, fmt, ap);
    va_end(ap);
    return -1;
}

/* Whether t resizes an h × w image: a resize to its own size is skipped. */
static int resizes(const struct lt_transform *t, int h, int w) {
    return t->resize_h > 0 && (t->resize_h != h || t->resize_w != w);
}

int lt_transform_out_size(const struct lt_transform *t, int h, int w, int *oh, int *ow, char *msg,
                          size_t msg_size) {
    if (h <= 0 || w <= 0)
        return fail(msg, msg_size, "cannot transform an empty image %d × %d", h, w);
    if ((t->resize_h > 0) != (t->resize_w > 0) || t->resize_h < 0 || t->resize_w < 0)
        return fail(msg, msg_size, "resize %d × %d: both sides must be > 0 (or both 0 for none)",
                    t->resize_h, t->resize_w);
    if ((t->crop_h > 0) != (t->crop_w > 0) || t->crop_h < 0 || t->crop_w < 0)
        return fail(msg, msg_size, "crop %d × %d: both sides must be > 0 (or both 0 for none)",
                    t->crop_h, t->crop_w);
    int p = t->crop_padding;
    if (p < 0)
        return fail(msg, msg_size, "crop padding %d is negative", p);
    if (p > 0 && !(t->crop_h > 0 && t->random_crop))
        return fail(msg, msg_size, "crop padding %d needs a random crop", p);
    if (t->resize_h > 0) {
        h = t->resize_h;
        w = t->resize_w;
    }
    if (t->crop_h > 0) {
        /* long long: h + 2·padding must not wrap for a padding near INT_MAX */
        long long room_h = h + 2LL * p, room_w = w + 2LL * p;
        if (t->crop_h > room_h || t->crop_w > room_w) {
            if (t->random_crop && p > 0)
                return fail(msg, msg_size,
                            "crop %d × %d is larger than the image %d × %d (+ padding %d)",
                            t->crop_h, t->crop_w, h, w, p);
            return fail(msg, msg_size, "crop %d × %d is larger than the image %d × %d", t->crop_h,
                        t->crop_w, h, w);
        }
        h = t->crop_h;
        w = t->crop_w;
    }
    *oh = h;
    *ow = w;
    return 0;
}

size_t lt_transform_scratch_bytes(const struct lt_transform *t, int c, int h, int w) {
    if (!resizes(t, h, w))
        return 0;
    return (size_t)c * (size_t)t->resize_h * (size_t)t->resize_w;
}

/* floor(u · n) for the k-th draw of `key`: uniform over [0, n). u < 1 has 24 bits, so
 * the float product stays below n for any n <= 2^24, far beyond an image's size. */
static int draw_below(uint64_t key, uint64_t k, int n) {
    return (int)(lt_rng_uniform(key, k) * (float)n);
}

/* torchvision's int(round(margin / 2.0)): Python rounds a half to the even neighbour. */
static int centre_offset(int margin) {
    int half = margin / 2;
    return margin % 2 && half % 2 ? half + 1 : half;
}

void lt_transform_draw(const struct lt_transform *t, int h, int w, uint64_t key, int *top,
                       int *left, int *flip) {
    if (t->resize_h > 0) {
        h = t->resize_h;
        w = t->resize_w;
    }
    *top = *left = 0;
    if (t->crop_h > 0 && t->random_crop) {
        int p = t->crop_padding;
        *top = draw_below(key, 0, h + 2 * p - t->crop_h + 1);
        *left = draw_below(key, 1, w + 2 * p - t->crop_w + 1);
    } else if (t->crop_h > 0) {
        *top = centre_offset(h - t->crop_h);
        *left = centre_offset(w - t->crop_w);
    }
    *flip = t->hflip && lt_rng_uniform(key, 2) < 0.5f;
}

/* PyTorch's area_pixel_compute_source_index (align_corners=False) and the two
 * neighbours: i0 = floor(s), i1 = min(i0 + 1, n - 1), weight s - i0. */
static inline void source_index(float scale, int i, int n, int *i0, int *i1, float *weight) {
    float s = scale * ((float)i + 0.5f) - 0.5f;
    if (s < 0)
        s = 0;
    *i0 = (int)s; /* s >= 0: truncation is floor */
    *i1 = *i0 < n - 1 ? *i0 + 1 : *i0;
    *weight = s - (float)*i0;
}

/* Output columns are taken in chunks whose source indices and weights are computed once
 * and reused by every row and channel, without scratch. */
#define RESIZE_CHUNK 256

/* Bilinear resize of src (c, h, w) into dst (c, oh, ow), u8 to u8 through float. */
static void resize(const uint8_t *src, int c, int h, int w, int oh, int ow, uint8_t *dst) {
    const float scale_y = (float)h / (float)oh, scale_x = (float)w / (float)ow;
    int x0[RESIZE_CHUNK], x1[RESIZE_CHUNK];
    float wx[RESIZE_CHUNK];
    for (int xs = 0; xs < ow; xs += RESIZE_CHUNK) {
        int n = ow - xs < RESIZE_CHUNK ? ow - xs : RESIZE_CHUNK;
        for (int i = 0; i < n; i++)
            source_index(scale_x, xs + i, w, &x0[i], &x1[i], &wx[i]);
        for (int y = 0; y < oh; y++) {
            int y0, y1;
            float wy;
            source_index(scale_y, y, h, &y0, &y1, &wy);
            for (int ch = 0; ch < c; ch++) {
                const uint8_t *r0 = src + ((size_t)ch * h + y0) * w;
                const uint8_t *r1 = src + ((size_t)ch * h + y1) * w;
                uint8_t *o = dst + ((size_t)ch * oh + y) * ow + xs;
                for (int i = 0; i < n; i++) {
                    float a = (1.0f - wx[i]) * r0[x0[i]] + wx[i] * r0[x1[i]];
                    float b = (1.0f - wx[i]) * r1[x0[i]] + wx[i] * r1[x1[i]];
                    float v = (1.0f - wy) * a + wy * b;
                    /* Rounded half up through the exact fraction v - r (the float just
                     * below one half plus 0.5f rounds to 1). A convex combination of u8
                     * values is >= 0 and under 255.5 whatever the float rounding, so the
                     * result is in [0, 255] with no clamp. */
                    int r = (int)v;
                    o[i] = (uint8_t)(r + (v - (float)r >= 0.5f));
                }
            }
        }
    }
}

static inline void fill(float *o, int n, float v) {
    for (int i = 0; i < n; i++)
        o[i] = v;
}

void lt_transform_norm(const struct lt_transform *t, struct lt_norm *norm) {
    for (int ch = 0; ch < LT_MAX_CHANNELS; ch++)
        for (int v = 0; v < 256; v++) /* the formula exactly as documented */
            norm->v[ch][v] = ((float)v / 255.0f - t->mean[ch]) / t->std[ch];
}

void lt_transform_apply(const struct lt_transform *t, const struct lt_norm *norm,
                        const uint8_t *src, int c, int h, int w, uint64_t key, void *scratch,
                        float *out) {
    LT_ASSERT(c >= 1 && c <= LT_MAX_CHANNELS);
    int top, left, flip;
    lt_transform_draw(t, h, w, key, &top, &left, &flip);
    if (resizes(t, h, w)) {
        resize(src, c, h, w, t->resize_h, t->resize_w, scratch);
        src = scratch;
    }
    if (t->resize_h > 0) {
        h = t->resize_h;
        w = t->resize_w;
    }
    int oh = t->crop_h > 0 ? t->crop_h : h, ow = t->crop_h > 0 ? t->crop_w : w;
    int p = t->crop_padding;
    /* Output pixel (y, x) reads image pixel (top - p + y, sx + x), or the padding's 0
     * outside it; columns [lo, hi) of an output row are inside the image. */
    int sx = left - p;
    int lo = sx < 0 ? -sx : 0;
    int hi = w - sx < ow ? w - sx : ow;
    /* A crop narrower than the padding may lie wholly in it: no column inside. */
    int inside = hi > lo;
    for (int ch = 0; ch < c; ch++) {
        const float *lut = norm->v[ch]; /* u8 value -> normalised value */
        const float zero = lut[0];
        for (int y = 0; y < oh; y++) {
            float *o = out + ((size_t)ch * oh + y) * ow;
            int sy = top - p + y;
            if (sy < 0 || sy >= h || !inside) {
                fill(o, ow, zero);
                continue;
            }
            const uint8_t *s = src + ((size_t)ch * h + sy) * w + (sx + lo);
            int n = hi - lo;
            if (!flip) {
                fill(o, lo, zero);
                for (int i = 0; i < n; i++)
                    o[lo + i] = lut[s[i]];
                fill(o + hi, ow - hi, zero);
            } else { /* output column ow - 1 - x takes what column x would */
                fill(o + ow - lo, lo, zero);
                float *r = o + ow - 1 - lo;
                for (int i = 0; i < n; i++)
                    r[-i] = lut[s[i]];
                fill(o, ow - hi, zero);
            }
        }
    }
}
