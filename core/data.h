/* Data sets' insides: a store holds samples (in memory, in files, in a host's hands) and
 * says how to read one; a data set is a view of a store (all of it, or some samples by
 * index); loaders read stores through the ops below. Private to the core.
 *
 * A store's kind lives in its own file (core/dataset.c: tensors in memory; core/images.c,
 * core/tokens.c, core/tensors_file.c, core/source.c), which makes it with lt_store_new
 * and wraps it with lt_dataset_wrap; core/loader.c calls the ops. Nothing here calls a
 * kind: the ops are function pointers, so calls go one way. */
#ifndef LT_DATA_H
#define LT_DATA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lutra.h"
#include "core/png.h"

struct lt_store;

/* A loader thread's scratch: a kind decodes into it (steady state allocates nothing). */
struct lt_worker {
    struct lt_png_image png;
};

/* An image, 8-bit planar (C, H, W), as a store hands it out. */
struct lt_image {
    const uint8_t *pixels;
    int c, h, w;
    const char *name; /* its file, for messages; NULL when it has none */
};

struct lt_store_ops {
    /* Pixel stores (x u8): sample i's pixels (valid until the next call with w); writes
     * its y.
     * Returns 0, or -1 with a message naming the file. */
    int (*image)(struct lt_store *s, struct lt_worker *w, uint32_t epoch, int64_t i,
                 struct lt_image *img, void *y, char *msg, size_t size);
    /* Other stores: writes sample i's x and y as the loader hands them out (i32, f32). */
    int (*sample)(struct lt_store *s, uint32_t epoch, int64_t i, void *x, void *y, char *msg,
                  size_t size);
    /* Host sources: a batch at once (struct lt_source's fill). */
    int (*batch)(struct lt_store *s, uint32_t epoch, const int64_t *idx, int64_t n, void *x,
                 void *y, char *msg, size_t size);
    /* The largest id of integer x among the samples map[0 .. n-1] (map NULL: 0 .. n-1)
     * and its first flat position (lt_dataset_max_id); NULL when x is not integer. */
    int64_t (*max_id)(const struct lt_store *s, const int64_t *map, int64_t n, int64_t *where);
    /* Optional: starts bringing sample i's first bytes into the cache (an in-memory store),
     * so that reading it a sample later does not wait on memory: a shuffled epoch reads
     * each sample from a random place. */
    void (*prefetch)(const struct lt_store *s, int64_t i);
    /* Frees what the kind allocated (not the store itself). */
    void (*release)(struct lt_store *s);
};

struct lt_store {
    const struct lt_store_ops *ops;
    int refs;                   /* data sets and loaders holding it (the caller's thread) */
    int64_t n;                  /* samples */
    struct lt_sample_shape x;   /* as the store holds it (images: the first file's size) */
    struct lt_sample_shape y;   /* as a loader hands it out: i32 or f32 */
    int classes;
    int pixels;                 /* x is u8 pixels, ops->image serves (an image set when
                                 * x is (C, H, W)) */
    int files;                  /* samples are files: one that fails to decode may be
                                 * skipped (bad marks it) */
    int same_size;              /* every image has x's size */
    int caller_thread;          /* read only on the thread that calls lt_loader_next */
    int serial;                 /* not thread-safe: one read at a time, under read_mu */
    pthread_mutex_t read_mu;    /* shared by every loader of the store */
    char **names;               /* class names (owned), or NULL */
    const char *const *static_names;
    char origin[512];
    atomic_llong skipped;       /* files left out at opening, or found bad since */
    atomic_uchar *bad;          /* file stores: sample found undecodable (n entries) */
    void *kind;                 /* the kind's own state */
};

/* A store of `kind_bytes` of kind state (zeroed, at s->kind), refs 1. Fails with
 * LT_ENOMEM. */
struct lt_store *lt_store_new(struct lt_ctx *ctx, const struct lt_store_ops *ops,
                              size_t kind_bytes);
struct lt_store *lt_store_retain(struct lt_store *s);
void lt_store_release(struct lt_store *s);

/* A data set over all of s, taking over the caller's reference (released on failure).
 * Fails with LT_ENOMEM. */
enum lt_status lt_dataset_wrap(struct lt_ctx *ctx, struct lt_store *s, struct lt_dataset **out);

/* The store; the store index of each sample (NULL: sample i is store sample i). Cannot
 * fail. */
struct lt_store *lt_dataset_store(const struct lt_dataset *ds);
const int64_t *lt_dataset_map(const struct lt_dataset *ds);

/* Sets the origin a data set's messages name ("fashion_mnist train", a path). */
void lt_dataset_set_origin(struct lt_dataset *ds, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The permutation of 0 .. n-1 a Fisher–Yates shuffle keyed by `key` makes: step i (from
 * n - 1 down to 1) swaps i with lt_mix64(key + i * 0x9e3779b97f4a7c15) % (i + 1). The
 * loader's epoch order and lt_dataset_split both draw it. Cannot fail. */
void lt_permutation(uint64_t key, int64_t n, int64_t *out);

/* Formats a sample shape ("u8 (1, 28, 28)") into buf. Cannot fail. */
const char *lt_sample_shape_str(const struct lt_sample_shape *s, char *buf, size_t size);

#endif
