/* Whole files written atomically: temporary, fsync, rename, fsync the folder
 * (core/atomic_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/fail.h"

/* The folder of path: "." for a bare name, "/" for a file in the root. */
static void dir_of(const char *path, char *dir, size_t size) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else if (slash == path)
        snprintf(dir, size, "/");
    else
        snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

enum lt_status lt_atomic_begin(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af) {
    af->fd = -1;
    size_t size = strlen(path) + 40;
    af->tmp = malloc(size);
    if (!af->tmp)
        return lt_fail(ctx, LT_ENOMEM, "%s: out of memory", path);
    snprintf(af->tmp, size, "%s.tmp-%ld-XXXXXX", path, (long)getpid());
    af->fd = mkstemp(af->tmp);
    if (af->fd < 0) {
        int e = errno;
        char dir[4200];
        dir_of(path, dir, sizeof dir);
        free(af->tmp);
        af->tmp = NULL;
        return lt_fail(ctx, LT_EIO, "%s: cannot create a file in %s: %s", path, dir, strerror(e));
    }
    return LT_OK;
}

enum lt_status lt_atomic_write(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af,
                               const void *data, size_t n) {
    const char *at = data;
    while (n > 0) {
        ssize_t w = write(af->fd, at, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return lt_fail(ctx, LT_EIO, "%s: write failed: %s (the file was not changed)", path,
                           strerror(w < 0 ? errno : EIO));
        at += w;
        n -= (size_t)w;
    }
    return LT_OK;
}

enum lt_status lt_atomic_commit(struct lt_ctx *ctx, const char *path, struct lt_atomic_file *af) {
    const char *step = NULL;
    int e = 0;
    if (fchmod(af->fd, 0644) != 0)
        step = "chmod", e = errno;
    else if (fsync(af->fd) != 0)
        step = "fsync", e = errno;
    if (close(af->fd) != 0 && !step)
        step = "close", e = errno;
    af->fd = -1;
    if (!step && rename(af->tmp, path) != 0)
        step = "rename", e = errno;
    if (step) {
        lt_atomic_abort(af);
        return lt_fail(ctx, LT_EIO, "%s: %s failed: %s (the file was not changed)", path, step,
                       strerror(e));
    }
    free(af->tmp);
    af->tmp = NULL;
    /* make the rename itself durable; a folder that cannot be synced changes nothing */
    char dir[4200];
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return LT_OK;
}

void lt_atomic_abort(struct lt_atomic_file *af) {
    if (af->fd >= 0)
        close(af->fd);
    if (af->tmp)
        unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    af->fd = -1;
}

enum lt_status lt_file_write_atomic(struct lt_ctx *ctx, const char *path, const void *data,
                                    size_t n) {
    struct lt_atomic_file af;
    enum lt_status st = lt_atomic_begin(ctx, path, &af);
    if (st != LT_OK)
        return st;
    st = lt_atomic_write(ctx, path, &af, data, n);
    if (st != LT_OK) {
        lt_atomic_abort(&af);
        return st;
    }
    return lt_atomic_commit(ctx, path, &af);
}
