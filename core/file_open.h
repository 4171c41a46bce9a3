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

#endif
