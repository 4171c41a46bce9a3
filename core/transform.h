/* Image augmentations, applied per sample on the data loader's worker threads. Private to
 * the core.
 *
 * Every function here is pure: no allocation, no context, no state. The random choices
 * (a crop's offset, a flip) come from the counter-based generator (kernels/rng.h) under a
 * 64-bit key the loader derives from (seed, epoch, sample index), so a resumed run and
 * any number of threads give the same images. None of these functions can fail but
 * lt_transform_out_size, which is where a transform is checked against an image size.
 */
#ifndef LT_TRANSFORM_H
#define LT_TRANSFORM_H

#include <stddef.h>
#include <stdint.h>

#include "core/lutra.h" /* LT_MAX_CHANNELS */

/* What happens to one u8 image (C, H, W) on its way into a batch, in torchvision's order:
 * Resize -> RandomCrop(padding) or CenterCrop -> RandomHorizontalFlip -> ToTensor ->
 * Normalize. Sizes come in pairs: both 0 (the step is skipped) or both > 0. */
struct lt_transform {
    int resize_h, resize_w; /* > 0: bilinear resize to this size first; 0: none */
    int crop_h, crop_w;     /* > 0: crop to this size; 0: none */
    int crop_padding;       /* zeros added on each side before a random crop (0 otherwise) */
    int random_crop;        /* 1: random offset, uniform over every position; 0: centre crop */
    int hflip;              /* 1: mirror left-right with probability 1/2 */
    float mean[LT_MAX_CHANNELS], std[LT_MAX_CHANNELS]; /* out = (v / 255 - mean[c]) / std[c] */
};

/* The output height and width for an input of h × w (after the resize, then the crop).
 * Returns 0, or -1 with a message in msg (truncated to msg_size) when t does not apply:
 * a crop that does not fit ("crop 32 × 32 is larger than the image 28 × 28 (+ padding
 * 2)"; a centre crop must be <= the image, a random crop <= the image plus 2·padding), a
 * size pair with one side 0 or a negative size, padding without a random crop, or an
 * empty image. The loader calls it once per data set; the other functions assume it
 * returned 0 for their t, h and w. */
int lt_transform_out_size(const struct lt_transform *t, int h, int w, int *oh, int *ow, char *msg,
                          size_t msg_size);

/* Bytes of scratch lt_transform_apply needs for an image of c × h × w: the resized
 * image (c × resize_h × resize_w u8); 0 without a resize, or with one to h × w itself
 * (which is skipped, being the identity). */
size_t lt_transform_scratch_bytes(const struct lt_transform *t, int c, int h, int w);

/* Each channel's normalisation of every u8 value u: v[c][u] = ((float)u / 255.0f -
 * mean[c]) / std[c], made once per transform by lt_transform_norm, so that no image pays
 * for the divisions again. */
struct lt_norm {
    float v[LT_MAX_CHANNELS][256];
};

void lt_transform_norm(const struct lt_transform *t, struct lt_norm *norm);

/* Applies t to src (u8, c × h × w planar, 1 <= c <= LT_MAX_CHANNELS) into out (f32,
 * c × oh × ow as lt_transform_out_size gave), drawing the crop offset and the flip from
 * `key` as lt_transform_draw does; norm is t's (lt_transform_norm). scratch:
 * lt_transform_scratch_bytes bytes, any alignment (NULL when that is 0). Cannot fail.
 *
 * Resize: PyTorch's F.interpolate(mode="bilinear", align_corners=False, antialias=False)
 * computed in float: source column sx = (w / ow)·(x + 0.5) - 0.5, clamped below at 0,
 * x0 = floor(sx), x1 = min(x0 + 1, w - 1), weight sx - x0 (rows alike), and the value
 * (1 - wy)·((1 - wx)·v00 + wx·v01) + wy·((1 - wx)·v10 + wx·v11) rounded half up (ties
 * away from zero, the values being >= 0) and clamped to [0, 255] back into u8. A resize
 * to the same size is the identity.
 * Crop: the window at (top, left) of the image with crop_padding zeros on each side;
 * padding pixels read as u8 0, so they come out as (0 - mean[c]) / std[c], as
 * torchvision's pad of the image with 0 before normalising does.
 * Normalise: out = ((float)v / 255.0f - mean[c]) / std[c], in float, in that order. */
void lt_transform_apply(const struct lt_transform *t, const struct lt_norm *norm,
                        const uint8_t *src, int c, int h, int w, uint64_t key, void *scratch,
                        float *out);

/* What lt_transform_apply draws for `key` on an input of h × w (before the resize): the
 * crop's top-left in padded coordinates (pixel (top, left) of the image with the padding
 * around it is the output's first) and whether it flips. Cannot fail.
 * A random crop's top is floor(u0 · (h' + 2·padding - crop_h + 1)) and its left is
 * floor(u1 · (w' + 2·padding - crop_w + 1)), with uk = lt_rng_uniform(key, k) and h' × w'
 * the size after the resize: uniform over every position. A centre crop's top is
 * torchvision's int(round((h' - crop_h) / 2.0)), where Python's round takes a half to
 * the even neighbour (a margin of 5 gives 2, of 3 gives 2); left alike. Without a crop
 * both are 0. It flips when hflip is set and lt_rng_uniform(key, 2) < 0.5. */
void lt_transform_draw(const struct lt_transform *t, int h, int w, uint64_t key, int *top,
                       int *left, int *flip);

#endif
