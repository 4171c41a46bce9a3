/* PNG decoding for data sets, private to the core. It runs on the loaders' worker threads:
 * it never touches a context and reports failures in a buffer the caller owns.
 *
 * Every image comes out 8-bit and planar (C, H, W), by one conversion rule:
 * - 16-bit samples are scaled to 8 bits exactly, round(v * 255 / 65535) (png_set_scale_16);
 * - a palette expands to RGB; gray of 1, 2 or 4 bits expands to 8 (v * 255 / (2^bits - 1));
 * - alpha, and the transparency of a tRNS chunk, is dropped, not composited;
 * - want_channels 0 keeps the file's colour: gray (with or without alpha) gives 1 channel,
 *   RGB, RGBA and palette files give 3;
 * - want_channels 1 turns RGB into gray as round((299 R + 587 G + 114 B) / 1000), halves
 *   rounded up: ITU-R 601-2 luma, the weights PIL documents for convert("L") (PIL's own
 *   fixed-point arithmetic gives one less or one more on 9040 of the 2^24 colours);
 * - want_channels 3 replicates gray into R, G and B;
 * any other want_channels is an error.
 */
#ifndef LT_PNG_H
#define LT_PNG_H

#include <stddef.h>
#include <stdint.h>

/* A decoded image. `pixels` is grown with realloc and kept across calls, so a worker that
 * keeps one image decodes without allocating once it has seen its largest image: it holds
 * channels × height × width bytes of image (C, H, W), and cap may be larger (the decoder
 * also keeps its row buffer there). libpng's own memory for a decode (its structs, zlib's
 * state and window) comes from `arena`, kept across calls the same way: a decode takes
 * from it without freeing, and it grows after a decode that needed more. Zero the struct
 * before the first use. */
struct lt_png_image {
    uint8_t *pixels;
    size_t cap; /* bytes allocated at pixels */
    int width, height, channels;
    unsigned char *arena;
    size_t arena_cap;  /* bytes allocated at arena */
    size_t arena_used; /* taken by the decode in progress */
    size_t arena_need; /* what the decode in progress asked for in all */
};

/* Reads only the header (the chunks before the image data): the size, and the channel
 * count the file decodes to with want_channels 0. Returns 0, or -1 with a message in msg
 * that starts with the path ("PATH: not a PNG file (signature)", "PATH: truncated (the file
 * ends after 20 bytes)", "PATH: IHDR: CRC error"). The outputs are written only on success. */
int lt_png_probe(const char *path, int *width, int *height, int *channels, char *msg,
                 size_t msg_size);

/* Decodes path into img by the rule above: any colour type, bit depth 1 to 16, interlaced
 * or not; want_channels is 0, 1 or 3. max_pixels > 0 refuses an image of more than that
 * many pixels before any is decoded ("PATH: 70000 × 70000 pixels is over data.max_pixels
 * (16777216)"). The whole file is read through IEND, so a truncated file or a corrupt
 * chunk is an error: returns 0, or -1 with a message starting with the path (cannot open,
 * not a regular file, not a PNG, truncated, a CRC error in a critical chunk, invalid IHDR
 * data, corrupt compressed data, out of memory). On failure img keeps its buffer (for
 * the next call) and its width, height and channels are 0. */
int lt_png_decode(const char *path, int want_channels, int64_t max_pixels, struct lt_png_image *img,
                  char *msg, size_t msg_size);

/* Frees the buffer and zeroes img. NULL is a no-op. */
void lt_png_image_free(struct lt_png_image *img);

#endif
