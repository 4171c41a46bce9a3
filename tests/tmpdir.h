/* Test support for suites that write files: a private temporary directory, removed with
 * everything in it, and writing raw bytes (plain or gzip) to a file in it. */
#ifndef LT_TMPDIR_H
#define LT_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

/* Makes a new directory /tmp/<tag>-XXXXXX and writes its path to dir (>= 64 bytes).
 * Returns 0, or -1 when it cannot be made. */
static inline int tmpdir_make(char *dir, size_t size, const char *tag) {
    snprintf(dir, size, "/tmp/%s-XXXXXX", tag);
    return mkdtemp(dir) ? 0 : -1;
}

/* Removes dir and everything under it. */
static inline void tmpdir_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char path[1024];
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
                continue;
            struct stat sb;
            if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
                chmod(path, 0700);
                tmpdir_remove(path);
            } else {
                remove(path);
            }
        }
        closedir(d);
    }
    rmdir(dir);
}

/* Writes n bytes to dir/name (gzip-compressed when gz), puts the full path in path
 * (>= 512 bytes). Returns 0, or -1 on failure. */
static inline int tmpdir_write(const char *dir, const char *name, const void *bytes, size_t n,
                               int gz, char *path) {
    snprintf(path, 512, "%s/%s", dir, name);
    /* a new file, not a truncated one: ext4 flushes a truncated file's data on close */
    unlink(path);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f)
            return -1;
        int ok = n == 0 || gzwrite(f, bytes, (unsigned)n) == (int)n;
        return gzclose(f) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(bytes, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Reads a whole file into a new buffer (free it); NULL on failure. */
static inline unsigned char *tmpdir_read(const char *path, size_t *n) {
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = (size_t)size;
    return buf;
}

#endif
