/* Files opened to read: regular files only, never blocking on a FIFO
 * (core/file_open.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fail.h"
#include "core/file_open.h"

/* What a path that is not a regular file is, for the message. */
static const char *file_kind(mode_t mode) {
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return "a device";
    return "something else";
}

enum lt_status lt_file_open_regular(struct lt_ctx *ctx, const char *path, int *fd_out,
                                    int64_t *size) {
    /* O_NONBLOCK: opening a FIFO must not wait for a writer; a regular file ignores it */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return lt_fail(ctx, LT_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return lt_fail(ctx, LT_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return lt_fail(ctx, LT_EIO, "%s: not a regular file (%s)", path, file_kind(sb.st_mode));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *fd_out = fd;
    *size = (int64_t)sb.st_size;
    return LT_OK;
}

int lt_read_at(int fd, void *buf, size_t n, int64_t off) {
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (errno = EIO, -1); /* EOF: the file shrank under us */
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int lt_ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}
