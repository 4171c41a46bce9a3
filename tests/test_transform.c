/* Image augmentations: each step against a per-pixel reference written from the formulas in
 * core/transform.h, the random crop's and the flip's distributions over many keys, and a
 * message for every transform that does not fit its image. Outputs are poisoned with NaN
 * first, so an element left unwritten fails the exact comparisons. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/transform.h"
#include "kernels/rng.h"

/* A transform with nothing but the normalisation of mean 0 and std 1: out = v / 255. */
static struct lt_transform plain(void) {
    struct lt_transform t = {0};
    for (int c = 0; c < LT_MAX_CHANNELS; c++)
        t.std[c] = 1.0f;
    return t;
}

static float norm(const struct lt_transform *t, int c, int v) {
    return ((float)v / 255.0f - t->mean[c]) / t->std[c];
}

/* (c, h, w) with a pattern that differs between neighbours, rows and channels. */
static void pattern(uint8_t *img, int c, int h, int w) {
    for (int i = 0; i < c * h * w; i++)
        img[i] = (uint8_t)(i * 37 + i / w * 11 + 5);
}

/* Runs lt_transform_apply on src (c, h, w) after checking the output size is (oh, ow);
 * returns the output (c, oh, ow), malloc'd at its exact size, as the scratch is, so that
 * ASan sees any overrun. */
static float *apply(const struct lt_transform *t, const uint8_t *src, int c, int h, int w,
                    uint64_t key, int oh, int ow) {
    char msg[128] = "";
    int gh, gw;
    if (lt_transform_out_size(t, h, w, &gh, &gw, msg, sizeof msg) != 0)
        fail_msg("lt_transform_out_size: %s", msg);
    assert_int_equal(gh, oh);
    assert_int_equal(gw, ow);
    size_t n = (size_t)c * oh * ow, sb = lt_transform_scratch_bytes(t, c, h, w);
    float *out = malloc(n * sizeof *out);
    void *scratch = sb ? malloc(sb) : NULL;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        out[i] = NAN;
    if (sb)
        memset(scratch, 0xa5, sb);
    struct lt_norm norm;
    lt_transform_norm(t, &norm);
    lt_transform_apply(t, &norm, src, c, h, w, key, scratch, out);
    free(scratch);
    return out;
}

/* The documented resize of src (c, h, w) to (c, oh, ow), one pixel at a time. */
static void resize_ref(const uint8_t *src, int c, int h, int w, int oh, int ow, uint8_t *dst) {
    float scale_y = (float)h / (float)oh, scale_x = (float)w / (float)ow;
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float sy = fmaxf(scale_y * ((float)y + 0.5f) - 0.5f, 0.0f);
                float sx = fmaxf(scale_x * ((float)x + 0.5f) - 0.5f, 0.0f);
                int y0 = (int)floorf(sy), x0 = (int)floorf(sx);
                int y1 = y0 + 1 < h ? y0 + 1 : h - 1, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
                float wy = sy - (float)y0, wx = sx - (float)x0;
                const uint8_t *p = src + (size_t)ch * h * w;
                float a = (1.0f - wx) * p[y0 * w + x0] + wx * p[y0 * w + x1];
                float b = (1.0f - wx) * p[y1 * w + x0] + wx * p[y1 * w + x1];
                float v = roundf((1.0f - wy) * a + wy * b); /* halves away from zero */
                dst[((size_t)ch * oh + y) * ow + x] = (uint8_t)fminf(fmaxf(v, 0.0f), 255.0f);
            }
}

/* Checks out (c, oh, ow) against the window at (top, left) of img (c, h, w) with p zeros on
 * each side, mirrored when flip, normalised by t. */
static void check_window(const struct lt_transform *t, const uint8_t *img, int c, int h, int w,
                         int top, int left, int p, int flip, const float *out, int oh, int ow) {
    for (int ch = 0; ch < c; ch++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                int iy = top + y - p, ix = left + (flip ? ow - 1 - x : x) - p;
                int v = iy >= 0 && iy < h && ix >= 0 && ix < w ? img[(ch * h + iy) * w + ix] : 0;
                float got = out[(ch * oh + y) * ow + x];
                if (!(got == norm(t, ch, v)))
                    fail_msg("(%d, %d, %d) of the window at (%d, %d)%s: %g, expected %g (v %d)", ch,
                             y, x, top, left, flip ? " flipped" : "", got, norm(t, ch, v), v);
            }
}

/* The u8 values a plain() transform's output holds, checking each is exactly v / 255. */
static void to_u8(const float *out, size_t n, uint8_t *v) {
    for (size_t i = 0; i < n; i++) {
        long u = lrintf(out[i] * 255.0f);
        assert_true(u >= 0 && u <= 255);
        v[i] = (uint8_t)u;
        if (!(out[i] == (float)u / 255.0f))
            fail_msg("element %zu is %g, not a u8 value / 255", i, out[i]);
    }
}

static void identity_normalises_each_channel(void **state) {
    (void)state;
    struct lt_transform t = {.mean = {0.5f, 0.25f, 0.1307f}, .std = {0.5f, 2.0f, 0.3081f}};
    uint8_t img[3 * 5 * 7];
    pattern(img, 3, 5, 7);
    float *out = apply(&t, img, 3, 5, 7, 1, 5, 7);
    for (int ch = 0; ch < 3; ch++)
        for (int i = 0; i < 35; i++)
            assert_true(out[ch * 35 + i] ==
                        ((float)img[ch * 35 + i] / 255.0f - t.mean[ch]) / t.std[ch]);
    free(out);
}

static void resize_to_the_same_size_is_the_identity(void **state) {
    (void)state;
    struct lt_transform t = plain();
    t.resize_h = 6;
    t.resize_w = 9;
    uint8_t img[2 * 6 * 9], got[2 * 6 * 9];
    pattern(img, 2, 6, 9);
    assert_int_equal(lt_transform_scratch_bytes(&t, 2, 6, 9), 0);
    float *out = apply(&t, img, 2, 6, 9, 1, 6, 9);
    to_u8(out, sizeof img, got);
    assert_memory_equal(got, img, sizeof img);
    /* and so is the formula itself: nothing is skipped in the reference */
    resize_ref(img, 2, 6, 9, 6, 9, got);
    assert_memory_equal(got, img, sizeof img);
    free(out);
}

static void resize_keeps_a_constant_image_constant(void **state) {
    (void)state;
    const int sizes[][2] = {{13, 3}, {3, 11}, {1, 1}, {20, 20}, {7, 5}};
    uint8_t img[2 * 7 * 5];
    memset(img, 173, 7 * 5);
    memset(img + 7 * 5, 255, 7 * 5);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        struct lt_transform t = plain();
        t.resize_h = sizes[k][0];
        t.resize_w = sizes[k][1];
        int n = t.resize_h * t.resize_w;
        float *out = apply(&t, img, 2, 7, 5, 1, t.resize_h, t.resize_w);
        for (int i = 0; i < n; i++) {
            assert_true(out[i] == 173.0f / 255.0f);
            assert_true(out[n + i] == 1.0f);
        }
        free(out);
    }
}

/* Resizes img (c, h, w) to (oh, ow), checks the result against resize_ref and returns it. */
static void check_resize(const uint8_t *img, int c, int h, int w, int oh, int ow, uint8_t *got) {
    struct lt_transform t = plain();
    t.resize_h = oh;
    t.resize_w = ow;
    assert_int_equal(lt_transform_scratch_bytes(&t, c, h, w), (size_t)c * oh * ow);
    float *out = apply(&t, img, c, h, w, 1, oh, ow);
    size_t n = (size_t)c * oh * ow;
    uint8_t *want = malloc(n);
    assert_non_null(want);
    to_u8(out, n, got);
    resize_ref(img, c, h, w, oh, ow, want);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("%d × %d -> %d × %d: element %zu is %d, expected %d", h, w, oh, ow, i, got[i],
                     want[i]);
    free(want);
    free(out);
}

static void resize_upsamples_and_downsamples_bilinearly(void **state) {
    (void)state;
    /* 2 × 2 -> 4 × 4: source rows and columns -0.25 (clamped to 0), 0.25, 0.75, 1.25 */
    const uint8_t up[4] = {0, 100, 200, 255};
    uint8_t got[4 * 4 * 4];
    check_resize(up, 1, 2, 2, 4, 4, got);
    /* the first row is 0, 25, 75, 100; (1, 1) is 0.75·25 + 0.25·(0.75·200 + 0.25·255) */
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 25);
    assert_int_equal(got[2], 75);
    assert_int_equal(got[3], 100);
    assert_int_equal(got[5], 72);
    assert_int_equal(got[15], 255);
    /* 4 × 4 -> 2 × 2: sources 0.5 and 2.5, each output the mean of a 2 × 2 block; 3.5
     * rounds up to 4 */
    const uint8_t down[16] = {1, 2, 10, 20, 5, 6, 30, 40, 0, 0, 255, 255, 0, 1, 255, 254};
    check_resize(down, 1, 4, 4, 2, 2, got);
    assert_int_equal(got[0], 4);
    assert_int_equal(got[1], 25);
    assert_int_equal(got[2], 0);   /* 0.25 */
    assert_int_equal(got[3], 255); /* 254.75 */
    /* ratios that are not whole, odd sizes and three channels */
    uint8_t img[3 * 7 * 9];
    pattern(img, 3, 7, 9);
    uint8_t big[3 * 17 * 23];
    check_resize(img, 3, 7, 9, 5, 4, big);
    check_resize(img, 3, 7, 9, 17, 23, big);
    check_resize(img, 3, 7, 9, 3, 20, big);
}

static void centre_crop_takes_the_middle_window(void **state) {
    (void)state;
    struct lt_transform t = {.mean = {0.1f, 0.2f, 0.3f}, .std = {0.9f, 0.8f, 0.7f}};
    t.crop_h = 4;
    t.crop_w = 5;
    uint8_t img[3 * 9 * 10];
    pattern(img, 3, 9, 10);
    /* margins 5 and 5: 2.5 rounds to the even 2, as Python's round does */
    int top, left, flip;
    lt_transform_draw(&t, 9, 10, 1, &top, &left, &flip);
    assert_int_equal(top, 2);
    assert_int_equal(left, 2);
    assert_int_equal(flip, 0);
    float *out = apply(&t, img, 3, 9, 10, 1, 4, 5);
    check_window(&t, img, 3, 9, 10, 2, 2, 0, 0, out, 4, 5);
    free(out);
    /* heights 7, 5, 4 and 10 for a crop of 4: margins 3 (1.5 -> 2), 1 (0.5 -> 0), 0, 6 */
    const int cases[][2] = {{7, 2}, {5, 0}, {4, 0}, {10, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lt_transform_draw(&t, cases[k][0], 9, 7, &top, &left, &flip);
        assert_int_equal(top, cases[k][1]);
        assert_int_equal(left, 2);
    }
}

/* Over 3,000 keys, every (top, left) a random crop of (oh, ow) with padding p on an h × w
 * image may take occurs, none outside, and each output is its window. */
static void check_random_crops(int h, int w, int oh, int ow, int p) {
    struct lt_transform t = {.mean = {0.5f, 0.25f}, .std = {0.25f, 0.5f}};
    t.crop_h = oh;
    t.crop_w = ow;
    t.crop_padding = p;
    t.random_crop = 1;
    uint8_t img[2 * 8 * 8];
    pattern(img, 2, h, w);
    int nt = h + 2 * p - oh + 1, nl = w + 2 * p - ow + 1;
    int seen[16][16] = {{0}};
    for (int i = 0; i < 3000; i++) {
        uint64_t key = lt_rng_key(7, 0, 3, (uint64_t)i);
        int top, left, flip;
        lt_transform_draw(&t, h, w, key, &top, &left, &flip);
        assert_true(top >= 0 && top < nt && left >= 0 && left < nl);
        assert_int_equal(top, (int)floorf(lt_rng_uniform(key, 0) * (float)nt));
        assert_int_equal(left, (int)floorf(lt_rng_uniform(key, 1) * (float)nl));
        assert_int_equal(flip, 0);
        seen[top][left]++;
        float *out = apply(&t, img, 2, h, w, key, oh, ow);
        check_window(&t, img, 2, h, w, top, left, p, 0, out, oh, ow);
        if (top == 0 && p > 0) /* each channel's first row is padding: 0, normalised */
            for (int x = 0; x < ow; x++) {
                assert_true(out[x] == -2.0f);
                assert_true(out[oh * ow + x] == -0.5f);
            }
        free(out);
    }
    for (int y = 0; y < nt; y++)
        for (int x = 0; x < nl; x++)
            if (!seen[y][x])
                fail_msg("crop %d × %d (padding %d) of %d × %d: offset (%d, %d) never drawn", oh,
                         ow, p, h, w, y, x);
}

static void random_crops_cover_every_offset_and_pad_with_zeros(void **state) {
    (void)state;
    check_random_crops(6, 5, 4, 4, 2);
    check_random_crops(4, 4, 2, 2, 3); /* windows wholly in the padding */
    check_random_crops(7, 8, 7, 8, 0); /* one position */
    check_random_crops(8, 3, 5, 1, 1);
}

static void flips_half_the_time_and_mirror(void **state) {
    (void)state;
    struct lt_transform t = {.mean = {0.3f, 0.4f, 0.5f}, .std = {0.2f, 0.3f, 0.4f}};
    t.crop_h = 5;
    t.crop_w = 6;
    t.crop_padding = 1;
    t.random_crop = 1;
    struct lt_transform nf = t;
    t.hflip = 1;
    uint8_t img[3 * 7 * 8];
    pattern(img, 3, 7, 8);
    int flips = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t key = lt_rng_key(11, 0, 1, (uint64_t)i);
        int top, left, flip, top2, left2, flip2;
        lt_transform_draw(&t, 7, 8, key, &top, &left, &flip);
        lt_transform_draw(&nf, 7, 8, key, &top2, &left2, &flip2);
        assert_int_equal(top, top2); /* the flip leaves the crop's draws alone */
        assert_int_equal(left, left2);
        assert_int_equal(flip2, 0);
        assert_int_equal(flip, lt_rng_uniform(key, 2) < 0.5f);
        flips += flip;
        float *a = apply(&t, img, 3, 7, 8, key, 5, 6);
        float *b = apply(&nf, img, 3, 7, 8, key, 5, 6);
        check_window(&t, img, 3, 7, 8, top, left, 1, flip, a, 5, 6);
        for (int r = 0; r < 3 * 5; r++)
            for (int x = 0; x < 6; x++)
                assert_true(a[r * 6 + x] == b[r * 6 + (flip ? 5 - x : x)]);
        free(a);
        free(b);
    }
    if (flips < 400 || flips > 600)
        fail_msg("%d flips in 1000 keys", flips);
}

/* Resize, random crop with padding, flip and normalisation together, against the
 * references composed; and the same key gives the same bytes every time. */
static void the_whole_chain_is_a_function_of_the_key(void **state) {
    (void)state;
    struct lt_transform t = {.mean = {0.485f, 0.456f, 0.406f}, .std = {0.229f, 0.224f, 0.225f}};
    t.resize_h = 10;
    t.resize_w = 12;
    t.crop_h = 8;
    t.crop_w = 8;
    t.crop_padding = 2;
    t.random_crop = 1;
    t.hflip = 1;
    uint8_t img[3 * 7 * 9], resized[3 * 10 * 12];
    pattern(img, 3, 7, 9);
    resize_ref(img, 3, 7, 9, 10, 12, resized);
    int differ = 0;
    float *prev = NULL;
    for (int i = 0; i < 50; i++) {
        uint64_t key = lt_rng_key(3, 1, 2, (uint64_t)i);
        int top, left, flip;
        lt_transform_draw(&t, 7, 9, key, &top, &left, &flip);
        float *a = apply(&t, img, 3, 7, 9, key, 8, 8);
        float *b = apply(&t, img, 3, 7, 9, key, 8, 8);
        assert_memory_equal(a, b, 3 * 8 * 8 * sizeof *a);
        check_window(&t, resized, 3, 10, 12, top, left, 2, flip, a, 8, 8);
        if (prev && memcmp(prev, a, 3 * 8 * 8 * sizeof *a) != 0)
            differ++;
        free(prev);
        free(b);
        prev = a;
    }
    free(prev);
    assert_true(differ > 40);
}

/* lt_transform_out_size fails with `want` in the message for t on an h × w image. */
static void expect_misfit(const struct lt_transform *t, int h, int w, const char *want) {
    char msg[128] = "";
    int oh = -7, ow = -7;
    assert_int_equal(lt_transform_out_size(t, h, w, &oh, &ow, msg, sizeof msg), -1);
    if (strcmp(msg, want) != 0)
        fail_msg("message '%s', expected '%s'", msg, want);
    assert_int_equal(oh, -7);
    assert_int_equal(ow, -7);
}

static void sizes_that_do_not_fit_fail_with_messages(void **state) {
    (void)state;
    struct lt_transform t = plain();
    t.crop_h = t.crop_w = 32;
    t.crop_padding = 1;
    t.random_crop = 1;
    expect_misfit(&t, 28, 28, "crop 32 × 32 is larger than the image 28 × 28 (+ padding 1)");
    t.crop_padding = 2; /* 28 + 2·2 holds 32 exactly */
    int oh, ow;
    assert_int_equal(lt_transform_out_size(&t, 28, 28, &oh, &ow, NULL, 0), 0);
    assert_int_equal(oh, 32);
    assert_int_equal(ow, 32);
    t.crop_padding = 0;
    expect_misfit(&t, 28, 40, "crop 32 × 32 is larger than the image 28 × 40");
    t.random_crop = 0;
    t.crop_h = 29;
    t.crop_w = 28;
    expect_misfit(&t, 28, 28, "crop 29 × 28 is larger than the image 28 × 28");
    t.crop_h = 28;
    assert_int_equal(lt_transform_out_size(&t, 28, 28, &oh, &ow, NULL, 0), 0);
    /* the crop is checked against the resized image */
    t.resize_h = t.resize_w = 20;
    t.crop_h = t.crop_w = 24;
    expect_misfit(&t, 28, 28, "crop 24 × 24 is larger than the image 20 × 20");
    t.resize_h = 40;
    t.resize_w = 30;
    t.crop_h = 32;
    assert_int_equal(lt_transform_out_size(&t, 28, 28, &oh, &ow, NULL, 0), 0);
    assert_int_equal(oh, 32);
    assert_int_equal(ow, 24);
    /* malformed transforms */
    t = plain();
    t.resize_h = 5;
    expect_misfit(&t, 28, 28, "resize 5 × 0: both sides must be > 0 (or both 0 for none)");
    t.resize_h = 0;
    t.crop_w = -3;
    expect_misfit(&t, 28, 28, "crop 0 × -3: both sides must be > 0 (or both 0 for none)");
    t.crop_h = t.crop_w = 4;
    t.crop_padding = 2;
    expect_misfit(&t, 28, 28, "crop padding 2 needs a random crop");
    t.random_crop = 1;
    t.crop_padding = -1;
    expect_misfit(&t, 28, 28, "crop padding -1 is negative");
    t.crop_padding = 0;
    expect_misfit(&t, 0, 28, "cannot transform an empty image 0 × 28");
    /* a message longer than its buffer is cut, not overrun */
    char small[8];
    t.crop_h = 40;
    assert_int_equal(lt_transform_out_size(&t, 28, 28, &oh, &ow, small, sizeof small), -1);
    assert_string_equal(small, "crop 40");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_normalises_each_channel),
        cmocka_unit_test(resize_to_the_same_size_is_the_identity),
        cmocka_unit_test(resize_keeps_a_constant_image_constant),
        cmocka_unit_test(resize_upsamples_and_downsamples_bilinearly),
        cmocka_unit_test(centre_crop_takes_the_middle_window),
        cmocka_unit_test(random_crops_cover_every_offset_and_pad_with_zeros),
        cmocka_unit_test(flips_half_the_time_and_mirror),
        cmocka_unit_test(the_whole_chain_is_a_function_of_the_key),
        cmocka_unit_test(sizes_that_do_not_fit_fail_with_messages),
    };
    return cmocka_run_group_tests_name("transform", tests, NULL, NULL);
}
