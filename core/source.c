/* Data sets a host fills (struct lt_source in core/lutra.h): the loader asks the host's
 * callback for a batch at a time, or for u8 images one sample at a time, so that they
 * take the image path (augmentation, per-channel normalisation) like files do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/data.h"
#include "core/fail.h"

static int source_batch(struct lt_store *s, uint32_t epoch, const int64_t *idx, int64_t n,
                        void *x, void *y, char *msg, size_t size) {
    const struct lt_source *src = s->kind;
    msg[0] = '\0';
    if (src->fill(src->user, epoch, idx, n, x, y, msg, size) == 0)
        return 0;
    if (!msg[0])
        snprintf(msg, size, "%s: the source's fill failed", s->origin);
    return -1;
}

static int source_image(struct lt_store *s, struct lt_worker *w, uint32_t epoch, int64_t i,
                        struct lt_image *img, void *y, char *msg, size_t size) {
    size_t bytes = (size_t)(s->x.shape[0] * s->x.shape[1] * s->x.shape[2]);
    if (bytes > w->png.cap) {
        uint8_t *p = realloc(w->png.pixels, bytes);
        if (!p) {
            snprintf(msg, size, "%s: out of memory", s->origin);
            return -1;
        }
        w->png.pixels = p;
        w->png.cap = bytes;
    }
    if (source_batch(s, epoch, &i, 1, w->png.pixels, y, msg, size) != 0)
        return -1;
    img->pixels = w->png.pixels;
    img->c = (int)s->x.shape[0];
    img->h = (int)s->x.shape[1];
    img->w = (int)s->x.shape[2];
    img->name = NULL;
    return 0;
}

static void source_release(struct lt_store *s) {
    const struct lt_source *src = s->kind;
    if (src->release)
        src->release(src->user);
}

static const struct lt_store_ops batch_ops = {.batch = source_batch, .release = source_release};
static const struct lt_store_ops image_ops = {.image = source_image, .release = source_release};

enum lt_status lt_dataset_from_source(struct lt_ctx *ctx, const struct lt_source *src,
                                      struct lt_dataset **out) {
    const char *origin = src->origin ? src->origin : "source";
    char sx[160], sy[160];
    const struct lt_sample_shape *x = &src->x, *y = &src->y;
    if (!src->fill || src->size < 0)
        return lt_fail(ctx, LT_EINVAL, "%s: a source needs a fill function and a size >= 0",
                       origin);
    int x_ok = x->ndim >= 0 && x->ndim < LT_MAX_DIMS &&
               (x->dtype == LT_DTYPE_F32 || x->dtype == LT_DTYPE_I32 ||
                (x->dtype == LT_DTYPE_U8 && x->ndim == 3));
    for (int i = 0; x_ok && i < x->ndim; i++)
        x_ok = x->shape[i] >= 1;
    if (!x_ok)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: x must be f32 or i32 of any shape, or u8 (C, H, W), got %s", origin,
                       lt_sample_shape_str(x, sx, sizeof sx));
    if (x->dtype == LT_DTYPE_U8 && (x->shape[0] > LT_MAX_CHANNELS || x->shape[1] > 65535 ||
                                    x->shape[2] > 65535))
        return lt_fail(ctx, LT_EINVAL, "%s: images of %s are too large", origin,
                       lt_sample_shape_str(x, sx, sizeof sx));
    if (src->classes < 0 || src->classes > LT_MAX_CLASSES)
        return lt_fail(ctx, LT_EINVAL, "%s: classes must be in [0, %d], got %d", origin,
                       LT_MAX_CLASSES, src->classes);
    int y_ok = src->classes > 0 ? y->dtype == LT_DTYPE_I32 && y->ndim == 0
                                : src->classes == 0 && y->dtype == LT_DTYPE_F32 && y->ndim >= 0 &&
                                      y->ndim < LT_MAX_DIMS;
    if (!y_ok)
        return lt_fail(ctx, LT_EINVAL,
                       "%s: y must be an i32 scalar (a class) with classes >= 1, or f32 with "
                       "classes 0; got %s with classes %d",
                       origin, lt_sample_shape_str(y, sy, sizeof sy), src->classes);
    struct lt_store *s = lt_store_new(ctx, x->dtype == LT_DTYPE_U8 ? &image_ops : &batch_ops,
                                      sizeof *src);
    if (!s)
        return lt_fail(ctx, LT_ENOMEM, "%s: out of memory for the source's data set", origin);
    memcpy(s->kind, src, sizeof *src);
    ((struct lt_source *)s->kind)->origin = NULL; /* the store keeps its own copy */
    s->n = src->size;
    s->x = *x;
    s->y = *y;
    s->classes = src->classes;
    s->pixels = x->dtype == LT_DTYPE_U8;
    s->same_size = 1;
    s->caller_thread = src->caller_thread != 0;
    s->serial = !src->thread_safe;
    snprintf(s->origin, sizeof s->origin, "%s", origin);
    /* a failed wrap releases the store: the host's release must not run then */
    struct lt_source *kept = s->kind;
    kept->release = NULL;
    enum lt_status st = lt_dataset_wrap(ctx, s, out);
    if (st == LT_OK)
        kept->release = src->release;
    return st;
}
