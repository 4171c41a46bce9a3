/* Whole files written atomically, for every writer in the core (safetensors, charts) and
 * the binding's text files: a temporary beside the target, written, made mode 0644,
 * fsynced, renamed over the target, and the folder fsynced so that the rename lasts. A
 * reader sees the old file or the new one, never a part.
 *
 * The temporary is named <path>.tmp-<pid>-XXXXXX: a run that finds one whose writer is
 * no longer alive knows it is a leftover of a killed process and may remove it (the
 * runner does, at its start).
 */
#ifndef LT_ATOMIC_FILE_H
#define LT_ATOMIC_FILE_H

#include <stddef.h>

#include "core/lutra.h"

struct lt_atomic_file {
    char *tmp; /* the temporary's name (malloc'd) */
    int fd;
};

/* Creates the temporary for `path`. Fails with LT_EIO ("path: cannot create a file in
 * DIR: reason") or LT_ENOMEM; nothing is left behind then. */
enum lt_status lt_atomic_begin(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af);

/* Appends n bytes to the temporary. Fails with LT_EIO; the caller then calls
 * lt_atomic_abort. */
enum lt_status lt_atomic_write(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af,
                               const void *data, size_t n);

/* Makes the temporary 0644, fsyncs and closes it, renames it over `path` and fsyncs the
 * folder. Fails with LT_EIO naming the step ("path: fsync failed: reason (the file was
 * not changed)"); the temporary is removed then. Either way af is released. */
enum lt_status lt_atomic_commit(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af);

/* Closes and removes the temporary, releases af. Cannot fail; af zeroed is a no-op. */
void lt_atomic_abort(struct lt_atomic_file *af);

#endif
