/* Device choice: the CPU, or a GPU through the CUDA plugin, loaded with dlopen so that
 * nothing in the core links CUDA and the program runs anywhere. */
#define _GNU_SOURCE /* dladdr */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/fail.h"

#ifndef LT_PLUGIN_DIR
#define LT_PLUGIN_DIR "/usr/local/lib/lutra"
#endif
#define PLUGIN_NAME "lutra_cuda.so"

/* The plugin's path: $LUTRA_CUDA_PLUGIN, else the first place that has it. 0 with where
 * it looked in why when none does. */
static int find_plugin(char *path, size_t path_size, char *why, size_t size) {
    const char *env = getenv("LUTRA_CUDA_PLUGIN");
    if (env && *env) {
        snprintf(path, path_size, "%s", env);
        return 1;
    }
    char here[4096] = "";
    Dl_info info;
    if (dladdr((void *)find_plugin, &info) && info.dli_fname) {
        snprintf(here, sizeof here, "%s", info.dli_fname);
        char *slash = strrchr(here, '/');
        if (slash)
            slash[1] = '\0';
        else
            snprintf(here, sizeof here, "./");
    }
    /* beside the program or module, then where an install beside it puts the plugin
     * (bin/ -> lib/lutra/, lib/lua/5.4/ -> lib/lutra/), then the configured place */
    const char *dirs[][2] = {
        {here, ""}, {here, "../lib/lutra/"}, {here, "../../lutra/"}, {LT_PLUGIN_DIR "/", ""}};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(path, path_size, "%s%s%s", dirs[i][0], dirs[i][1], PLUGIN_NAME);
        if (dirs[i][0][0] && access(path, F_OK) == 0)
            return 1;
    }
    snprintf(why, size,
             "this build has no CUDA plugin (" PLUGIN_NAME " is not in %s or " LT_PLUGIN_DIR
             ": built without nvcc, or not installed)",
             here[0] ? here : "the program's folder");
    return 0;
}

/* The NVIDIA driver's user library, opened to learn whether it is there, before the
 * plugin: loading the plugin loads cuBLAS and cuDNN (about 200 MiB of the process's
 * memory, never given back) only to find no driver. The library itself is the test, not
 * /dev/nvidia* or /proc/driver/nvidia: it is what the CUDA runtime opens, so the answer
 * is the runtime's also in containers and under WSL (no /dev/nvidia*, the library in
 * /usr/lib/wsl/lib), and a machine with the kernel module but without the library is
 * told the truth. NULL, with why, when it is not there. */
static void *open_driver(char *why, size_t size) {
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h) {
        /* dlerror() says "cannot open shared object file" when it is not there, and
         * names the reason (a missing dependency, another architecture) when it is */
        const char *e = dlerror();
        if (!e || strstr(e, "No such file"))
            snprintf(why, size,
                     "no NVIDIA driver on this machine (libcuda.so.1 is not installed)");
        else
            snprintf(why, size, "the NVIDIA driver cannot be loaded: %.200s", e);
    }
    return h;
}

/* Loads the plugin. The CUDA plugin (PLUGIN_NAME) is loaded only where the driver is:
 * *driver holds the driver open until the plugin has started, so that it is not unloaded
 * and loaded again in between (dlclose it after). Another plugin named by
 * $LUTRA_CUDA_PLUGIN (the tests' emulated device) brings its own device and is loaded as
 * is, with *driver NULL. */
static void *open_plugin(void **driver, char *why, size_t size) {
    char path[4300];
    *driver = NULL;
    if (!find_plugin(path, sizeof path, why, size))
        return NULL;
    const char *slash = strrchr(path, '/');
    if (!strcmp(slash ? slash + 1 : path, PLUGIN_NAME) && !(*driver = open_driver(why, size)))
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, size, "%.200s cannot be loaded: %.100s", path, dlerror());
        if (*driver)
            dlclose(*driver);
        *driver = NULL;
    }
    return h;
}

const char *lt_cuda_plugin_path(char *buf, size_t size) {
    char why[LT_KMSG_SIZE];
    return find_plugin(buf, size, why, sizeof why) ? buf : NULL;
}

static enum lt_status start_cuda(struct lt_ctx *ctx, int device, char *why, size_t size) {
    if (ctx->cuda.impl) { /* started before; the context may have gone back to the CPU */
        if (ctx->cuda_index == device)
            return LT_OK;
        snprintf(why, size, "this context already started cuda:%d; one GPU per context",
                 ctx->cuda_index);
        return LT_EUNSUPPORTED;
    }
    void *driver = NULL;
    if (!ctx->plugin && !(ctx->plugin = open_plugin(&driver, why, size)))
        return LT_EUNSUPPORTED;
    lt_plugin_init_fn init;
    *(void **)&init = dlsym(ctx->plugin, LT_CUDA_PLUGIN_ENTRY);
    if (!init) {
        snprintf(why, size, PLUGIN_NAME " has no entry point " LT_CUDA_PLUGIN_ENTRY);
        if (driver)
            dlclose(driver);
        return LT_EUNSUPPORTED;
    }
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = init(&ctx->cuda, device, LT_PLUGIN_ABI, msg);
    if (driver) /* the runtime holds its own reference once it has started */
        dlclose(driver);
    if (st != LT_OK) {
        memset(&ctx->cuda, 0, sizeof ctx->cuda);
        snprintf(why, size, "%s", msg[0] ? msg : "the CUDA plugin could not start");
        return st;
    }
    ctx->cuda_index = device;
    return LT_OK;
}

/* "cuda" -> 0, "cuda:N" -> N; -1 for anything else. */
static int cuda_index(const char *name) {
    if (!strcmp(name, "cuda"))
        return 0;
    if (strncmp(name, "cuda:", 5) || !isdigit((unsigned char)name[5]))
        return -1;
    char *end;
    long n = strtol(name + 5, &end, 10);
    return *end || n < 0 || n > 1024 ? -1 : (int)n;
}

enum lt_status lt_ctx_set_device(struct lt_ctx *ctx, const char *device) {
    char why[LT_KMSG_SIZE + 64] = "";
    ctx->notice[0] = '\0';
    if (!strcmp(device, "cpu")) {
        ctx->run = &ctx->cpu;
        snprintf(ctx->device, sizeof ctx->device, "cpu");
        return LT_OK;
    }
    int auto_pick = !strcmp(device, "auto");
    int index = auto_pick ? 0 : cuda_index(device);
    if (index < 0)
        return lt_fail(ctx, LT_EINVAL,
                       "device '%s': expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"", device);
    enum lt_status st = start_cuda(ctx, index, why, sizeof why);
    if (st == LT_OK) {
        ctx->cuda.dev.set_tf32(ctx->cuda.impl, ctx->tf32);
        ctx->cuda.dev.set_deterministic(ctx->cuda.impl, !ctx->nondeterministic);
        ctx->run = &ctx->cuda;
        snprintf(ctx->device, sizeof ctx->device, "cuda:%d", index);
        return LT_OK;
    }
    if (auto_pick) {
        ctx->run = &ctx->cpu;
        snprintf(ctx->device, sizeof ctx->device, "cpu");
        snprintf(ctx->notice, sizeof ctx->notice, "no usable GPU: %.300s", why);
        return LT_OK;
    }
    return lt_fail(ctx, st, "device '%s': %s", device, why);
}

const char *lt_ctx_device(const struct lt_ctx *ctx) {
    return ctx->device;
}

const char *lt_ctx_device_notice(const struct lt_ctx *ctx) {
    return ctx->notice;
}

const char *lt_ctx_device_info(const struct lt_ctx *ctx) {
    return ctx->run->info;
}

void lt_ctx_device_memory(const struct lt_ctx *ctx, size_t *free_bytes, size_t *total_bytes,
                          size_t *runtime_bytes) {
    const struct lt_backend *b = ctx->run;
    if (b->dev.memory) {
        b->dev.memory(b->impl, free_bytes, total_bytes, runtime_bytes);
        return;
    }
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES),
         page = sysconf(_SC_PAGE_SIZE);
    *total_bytes = pages > 0 && page > 0 ? (size_t)pages * (size_t)page : 0;
    *free_bytes = avail > 0 && page > 0 ? (size_t)avail * (size_t)page : 0;
    *runtime_bytes = 0;
}

void lt_ctx_set_deterministic(struct lt_ctx *ctx, int on) {
    ctx->nondeterministic = !on;
    if (ctx->cuda.dev.set_deterministic)
        ctx->cuda.dev.set_deterministic(ctx->cuda.impl, on);
}

void lt_ctx_set_tf32(struct lt_ctx *ctx, int on) {
    ctx->tf32 = on != 0;
    if (ctx->cuda.dev.set_tf32)
        ctx->cuda.dev.set_tf32(ctx->cuda.impl, ctx->tf32);
}

void lt_ctx_release_devices(struct lt_ctx *ctx) {
    lt_backend_release(&ctx->cuda);
    /* the plugin's code stays mapped: CUDA's runtime registers exit handlers that
     * would point into it */
    ctx->plugin = NULL;
}
