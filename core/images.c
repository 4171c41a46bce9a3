/* Image data sets: PNG files named by a folder tree (root/<class>/<file>, torchvision's
 * ImageFolder) or by a list file ("path label" lines). Opening reads every file's header
 * (so a bad or mismatching file is named before training); a loader's workers decode the
 * pixels when a batch needs them (core/png.c), each into its own buffer. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/data.h"
#include "core/fail.h"
#include "core/mem.h"

struct images {
    char **paths;      /* n, owned */
    int32_t *labels;   /* n */
    int64_t n, cap;
    int channels;      /* what every file decodes to */
    int64_t max_pixels;
};

static int images_read(struct lt_store *s, struct lt_worker *w, uint32_t epoch, int64_t i,
                       struct lt_image *img, void *y, char *msg, size_t size) {
    (void)epoch;
    const struct images *k = s->kind;
    if (lt_png_decode(k->paths[i], k->channels, k->max_pixels, &w->png, msg, size) != 0)
        return -1;
    img->pixels = w->png.pixels;
    img->c = w->png.channels;
    img->h = w->png.height;
    img->w = w->png.width;
    img->name = k->paths[i];
    *(int32_t *)y = k->labels[i];
    return 0;
}

static void images_release(struct lt_store *s) {
    struct images *k = s->kind;
    for (int64_t i = 0; i < k->n; i++)
        free(k->paths[i]);
    free(k->paths);
    free(k->labels);
}

static const struct lt_store_ops images_ops = {.image = images_read, .release = images_release};

static enum lt_status add_file(struct lt_ctx *ctx, struct images *k, const char *path,
                               int32_t label) {
    if (k->n == k->cap) {
        int64_t cap = k->cap ? 2 * k->cap : 256;
        char **p = realloc(k->paths, (size_t)cap * sizeof *p);
        if (p)
            k->paths = p;
        int32_t *l = p ? realloc(k->labels, (size_t)cap * sizeof *l) : NULL;
        if (!p || !l)
            return lt_fail(ctx, LT_ENOMEM, "out of memory listing images");
        k->labels = l;
        k->cap = cap;
    }
    if (!(k->paths[k->n] = strdup(path)))
        return lt_fail(ctx, LT_ENOMEM, "out of memory listing images");
    k->labels[k->n++] = label;
    return LT_OK;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of dir that are folders (want_dirs) or regular files, not starting with
 * '.', sorted bytewise; *out and its strings are the caller's to free (free_names). */
static enum lt_status list_dir(struct lt_ctx *ctx, const char *dir, int want_dirs, char ***out,
                               int *count) {
    DIR *d = opendir(dir);
    if (!d)
        return lt_fail(ctx, LT_EIO, "%s: cannot open the folder: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0, cap = 0;
    enum lt_status st = LT_OK;
    struct dirent *e;
    char path[2 * PATH_MAX];
    while (st == LT_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0 || (want_dirs ? !S_ISDIR(sb.st_mode) : !S_ISREG(sb.st_mode))) {
            if (!want_dirs && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
                st = lt_fail(ctx, LT_EINVAL, "%s: a folder inside a class folder (the layout "
                                             "is root/<class>/<image>.png)", path);
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **p = realloc(names, (size_t)cap * sizeof *p);
            if (!p) {
                st = lt_fail(ctx, LT_ENOMEM, "out of memory listing %s", dir);
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name)))
            st = lt_fail(ctx, LT_ENOMEM, "out of memory listing %s", dir);
        else
            n++;
    }
    closedir(d);
    if (st != LT_OK) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return st;
    }
    if (n)
        qsort(names, (size_t)n, sizeof *names, cmp_str);
    *out = names;
    *count = n;
    return LT_OK;
}

static void free_names(char **names, int n) {
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Reads every file's header: the channel count (the first file's, unless o says), the
 * size (the first file's; with same_size all must have it); files that fail are an error,
 * or with LT_BAD_FILE_SKIP dropped and counted. */
static enum lt_status probe_all(struct lt_ctx *ctx, struct lt_store *s, const char *where,
                                const struct lt_image_options *o) {
    struct images *k = s->kind;
    int64_t kept = 0, w0 = 0, h0 = 0;
    const char *first = NULL;
    char msg[1024];
    for (int64_t i = 0; i < k->n; i++) {
        int w, h, c;
        int rc = lt_png_probe(k->paths[i], &w, &h, &c, msg, sizeof msg);
        if (rc == 0 && o->max_pixels > 0 && (int64_t)w * h > o->max_pixels) {
            snprintf(msg, sizeof msg, "%s: %d × %d pixels is over data.max_pixels (%lld)",
                     k->paths[i], w, h, (long long)o->max_pixels);
            rc = -1;
        }
        if (rc == 0 && first && o->same_size && (w != w0 || h != h0)) {
            snprintf(msg, sizeof msg,
                     "%s: %d × %d pixels, but %s is %lld × %lld (images must have one size "
                     "unless data.resize or a crop makes them equal)",
                     k->paths[i], w, h, first, (long long)w0, (long long)h0);
            return lt_fail(ctx, LT_EINVAL, "%s", msg);
        }
        if (rc != 0) {
            if (o->on_bad_file != LT_BAD_FILE_SKIP)
                return lt_fail(ctx, LT_EINVAL, "%s", msg);
            atomic_fetch_add(&s->skipped, 1);
            free(k->paths[i]);
            k->paths[i] = NULL;
            continue;
        }
        if (!first) {
            first = k->paths[i];
            w0 = w;
            h0 = h;
            k->channels = o->channels ? o->channels : c;
        }
        s->same_size &= w == w0 && h == h0;
        k->paths[kept] = k->paths[i];
        k->labels[kept] = k->labels[i];
        if (kept++ != i)
            k->paths[i] = NULL; /* moved: release must not free it twice */
    }
    k->n = kept;
    if (!kept)
        return lt_fail(ctx, LT_EINVAL, "%s: no image could be read", where);
    s->n = kept;
    s->pixels = 1;
    s->files = 1;
    s->x = (struct lt_sample_shape){.dtype = LT_DTYPE_U8, .ndim = 3,
                                    .shape = {k->channels, h0, w0}};
    s->y = (struct lt_sample_shape){.dtype = LT_DTYPE_I32, .ndim = 0};
    k->max_pixels = o->max_pixels;
    return LT_OK;
}

static enum lt_status check_options(struct lt_ctx *ctx, const char *where,
                                    const struct lt_image_options *o) {
    if (o->channels != 0 && o->channels != 1 && o->channels != 3)
        return lt_fail(ctx, LT_EINVAL, "%s: channels must be 0 (as the files are), 1 or 3, got %d",
                       where, o->channels);
    if (o->max_pixels < 0)
        return lt_fail(ctx, LT_EINVAL, "%s: max_pixels must be >= 0", where);
    return LT_OK;
}

/* The folder's classes against the expected ones (a test split's against training's). */
static enum lt_status check_classes(struct lt_ctx *ctx, const char *root, char **found, int n,
                                    const char *const *want, int n_want) {
    for (int j = 0; j < n_want; j++) {
        if (!want[j])
            return lt_fail(ctx, LT_EINVAL, "%s: expected class %d has no name", root, j);
        for (int k = 0; k < j; k++)
            if (!strcmp(want[j], want[k]))
                return lt_fail(ctx, LT_EINVAL, "%s: the expected classes list '%s' twice",
                               root, want[j]);
    }
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (int j = 0; j < n_want && !known; j++)
            known = !strcmp(found[i], want[j]);
        if (!known)
            return lt_fail(ctx, LT_EINVAL, "%s/%s: a class the training images do not have", root,
                           found[i]);
    }
    for (int j = 0; j < n_want; j++) {
        int there = 0;
        for (int i = 0; i < n && !there; i++)
            there = !strcmp(found[i], want[j]);
        if (!there)
            return lt_fail(ctx, LT_EINVAL, "%s: no folder for the class '%s' the training images "
                                           "have", root, want[j]);
    }
    return LT_OK;
}

enum lt_status lt_dataset_open_images(struct lt_ctx *ctx, const char *root,
                                      const char *const *classes, int n_classes,
                                      const struct lt_image_options *o, struct lt_dataset **out) {
    enum lt_status st = check_options(ctx, root, o);
    if (st != LT_OK)
        return st;
    char **dirs = NULL;
    int n_dirs = 0;
    if ((st = list_dir(ctx, root, 1, &dirs, &n_dirs)) != LT_OK)
        return st;
    if (n_dirs == 0) {
        free(dirs);
        return lt_fail(ctx, LT_EINVAL,
                       "%s: no class folders (the layout is root/<class>/<image>.png)", root);
    }
    if (classes && (st = check_classes(ctx, root, dirs, n_dirs, classes, n_classes)) != LT_OK) {
        free_names(dirs, n_dirs);
        return st;
    }
    if (n_dirs > LT_MAX_CLASSES) {
        free_names(dirs, n_dirs);
        return lt_fail(ctx, LT_EINVAL, "%s: %d class folders; a data set has at most %d classes",
                       root, n_dirs, LT_MAX_CLASSES);
    }
    /* with the expected classes, a folder's label is its class's place in that list; the
     * names are then in that order (check_classes made them the same set) */
    if (classes) {
        for (int c = 0; c < n_dirs; c++) {
            int j = 0;
            while (strcmp(classes[j], dirs[c]))
                j++;
            if (j != c) { /* put folder c's name at its label's place */
                char *t = dirs[c];
                dirs[c] = dirs[j];
                dirs[j] = t;
                c--; /* look at what came into place c */
            }
        }
    }
    struct lt_store *s = lt_store_new(ctx, &images_ops, sizeof(struct images));
    if (!s) {
        free_names(dirs, n_dirs);
        return LT_ENOMEM;
    }
    s->same_size = 1;
    char path[2 * PATH_MAX], dir[PATH_MAX];
    for (int c = 0; c < n_dirs && st == LT_OK; c++) {
        char **files = NULL;
        int n_files = 0;
        snprintf(dir, sizeof dir, "%s/%s", root, dirs[c]);
        if ((st = list_dir(ctx, dir, 0, &files, &n_files)) != LT_OK)
            break;
        if (n_files == 0)
            st = lt_fail(ctx, LT_EINVAL, "%s: an empty class folder", dir);
        for (int f = 0; f < n_files && st == LT_OK; f++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[f]);
            st = add_file(ctx, s->kind, path, c);
        }
        free_names(files, n_files);
    }
    if (st == LT_OK)
        st = probe_all(ctx, s, root, o);
    if (st == LT_OK) {
        s->classes = n_dirs;
        s->names = dirs;
        dirs = NULL;
    }
    free_names(dirs, dirs ? n_dirs : 0);
    if (st != LT_OK) {
        lt_store_release(s);
        return st;
    }
    snprintf(s->origin, sizeof s->origin, "%s", root);
    return lt_dataset_wrap(ctx, s, out);
}

enum lt_status lt_dataset_open_image_list(struct lt_ctx *ctx, const char *list, int classes,
                                          const struct lt_image_options *o,
                                          struct lt_dataset **out) {
    enum lt_status st = check_options(ctx, list, o);
    if (st != LT_OK)
        return st;
    if (classes < 1 || classes > LT_MAX_CLASSES)
        return lt_fail(ctx, LT_EINVAL, "%s: classes must be in [1, %d], got %d", list,
                       LT_MAX_CLASSES, classes);
    FILE *f = fopen(list, "r");
    if (!f)
        return lt_fail(ctx, LT_EIO, "%s: cannot open: %s", list, strerror(errno));
    struct lt_store *s = lt_store_new(ctx, &images_ops, sizeof(struct images));
    if (!s) {
        fclose(f);
        return LT_ENOMEM;
    }
    s->same_size = 1;
    /* relative paths are relative to the list file's folder */
    char base[PATH_MAX], line[PATH_MAX + 64], path[2 * PATH_MAX];
    snprintf(base, sizeof base, "%s", list);
    char *slash = strrchr(base, '/');
    if (slash)
        slash[1] = '\0';
    else
        base[0] = '\0';
    int lineno = 0;
    while (st == LT_OK && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            st = lt_fail(ctx, LT_EINVAL, "%s:%d: the line is too long", list, lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
            line[--len] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        /* the label is the last field: paths may hold spaces */
        char *sep = strrchr(p, ' ');
        char *tab = strrchr(p, '\t');
        if (tab > sep)
            sep = tab;
        char *end;
        long label = sep ? strtol(sep + 1, &end, 10) : -1;
        if (!sep || *end || end == sep + 1) {
            st = lt_fail(ctx, LT_EINVAL, "%s:%d: want \"path label\", got \"%s\"", list, lineno, p);
            break;
        }
        if (label < 0 || label >= classes) {
            st = lt_fail(ctx, LT_EINVAL, "%s:%d: label %ld is outside [0, %d)", list, lineno,
                         label, classes);
            break;
        }
        while (sep > p && (sep[-1] == ' ' || sep[-1] == '\t'))
            sep--;
        *sep = '\0';
        if (snprintf(path, sizeof path, "%s%s", p[0] == '/' ? "" : base, p) >= (int)sizeof path) {
            st = lt_fail(ctx, LT_EINVAL, "%s:%d: the path is too long", list, lineno);
            break;
        }
        st = add_file(ctx, s->kind, path, (int32_t)label);
    }
    if (st == LT_OK && ferror(f))
        st = lt_fail(ctx, LT_EIO, "%s: cannot read: %s", list, strerror(errno));
    fclose(f);
    if (st == LT_OK && ((struct images *)s->kind)->n == 0)
        st = lt_fail(ctx, LT_EINVAL, "%s: lists no image", list);
    if (st == LT_OK)
        st = probe_all(ctx, s, list, o);
    if (st != LT_OK) {
        lt_store_release(s);
        return st;
    }
    s->classes = classes;
    snprintf(s->origin, sizeof s->origin, "%s", list);
    return lt_dataset_wrap(ctx, s, out);
}
