/* Opening a file to read, for every reader in the core (IDX data, safetensors): a regular
 * file only, and without blocking, so that a FIFO, a directory or a device named by
 * mistake gets a message instead of a hang. Private to the core. */
#ifndef LT_FILE_OPEN_H
#define LT_FILE_OPEN_H

#include <stdint.h>

#include "core/lutra.h"

/* Opens path for reading and gives its descriptor (blocking reads, close-on-exec) and
 * size. Fails with LT_EIO: "path: cannot open: reason", "path: not a regular file (a
 * FIFO)". */
enum lt_status lt_file_open_regular(struct lt_ctx *ctx, const char *path, int *fd,
                                    int64_t *size);

/* Reads n bytes at byte offset off of fd (pread, retried on EINTR, in pieces of at most
 * 1 GiB). Returns 0, or -1 with errno set (EIO when the file ends first: it shrank). */
int lt_read_at(int fd, void *buf, size_t n, int64_t off);

/* Whether the string s ends with tail (a file name with ".txt"). Cannot fail. */
int lt_ends_with(const char *s, const char *tail);

#endif
