/* The context: backend table, seed, memory limit and the last error message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/ops/ops.h"

enum lt_status lt_ctx_new(struct lt_ctx **out) {
    struct lt_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return LT_ENOMEM;
    lt_cpu_reference_init(&ctx->ref);
    char msg[LT_KMSG_SIZE] = "";
    if (lt_cpu_backend_init(&ctx->cpu, msg) != LT_OK) {
        /* a library that cannot start costs speed, not correctness */
        lt_cpu_reference_init(&ctx->cpu);
        snprintf(ctx->cpu.info, sizeof ctx->cpu.info, "reference kernels (%.100s)", msg);
    }
    ctx->run = &ctx->cpu;
    snprintf(ctx->device, sizeof ctx->device, "cpu");
    *out = ctx;
    return LT_OK;
}

void lt_ctx_free(struct lt_ctx *ctx) {
    if (!ctx)
        return;
    lt_ctx_release_devices(ctx);
    lt_backend_release(&ctx->cpu);
    free(ctx);
}

void lt_ctx_use_reference(struct lt_ctx *ctx) {
    lt_backend_release(&ctx->cpu);
    lt_cpu_reference_init(&ctx->cpu);
}

const char *lt_ctx_backend_info(const struct lt_ctx *ctx) {
    return ctx->cpu.info;
}

const char *lt_ctx_error(const struct lt_ctx *ctx) {
    return ctx->error;
}

void lt_ctx_set_seed(struct lt_ctx *ctx, uint64_t seed) {
    ctx->seed = seed;
}

uint64_t lt_ctx_seed(const struct lt_ctx *ctx) {
    return ctx->seed;
}

void lt_ctx_set_threads(struct lt_ctx *ctx, int threads) {
    ctx->threads = threads > 0 ? threads : 0;
    lt_ctx_apply_threads(ctx);
}

int lt_ctx_threads(const struct lt_ctx *ctx) {
    return ctx->threads ? ctx->threads : omp_get_max_threads();
}

void lt_ctx_apply_threads(const struct lt_ctx *ctx) {
    /* OpenMP's team size is per calling thread: set it where steps run */
    if (ctx->threads)
        omp_set_num_threads(ctx->threads);
}

void lt_ctx_set_profile(struct lt_ctx *ctx, int on) {
    ctx->profile = on != 0;
}

void lt_ctx_set_graphs(struct lt_ctx *ctx, int on) {
    ctx->graphs = on != 0;
}

void lt_ctx_set_memory_limit(struct lt_ctx *ctx, size_t bytes) {
    ctx->memory_limit = bytes;
}

size_t lt_ctx_memory_limit(const struct lt_ctx *ctx) {
    return ctx->memory_limit;
}

enum lt_status lt_dtype_parse(struct lt_ctx *ctx, const char *name, enum lt_dtype *out) {
    for (int i = 0; i < LT_DTYPE_COUNT; i++)
        if (!strcmp(name, lt_dtype_name((enum lt_dtype)i))) {
            *out = (enum lt_dtype)i;
            return LT_OK;
        }
    return lt_fail(ctx, LT_EINVAL, "unknown dtype '%s' (one of f32, f16, bf16, i32, u8)", name);
}

const char *lt_op_name(enum lt_op op) {
    return lt_op_descs[op].name;
}

int lt_op_inputs_min(enum lt_op op) {
    return lt_op_descs[op].min_in;
}

int lt_op_inputs_max(enum lt_op op) {
    return lt_op_descs[op].max_in;
}

int lt_op_outputs(enum lt_op op) {
    return lt_op_descs[op].n_out;
}

size_t lt_op_attrs_size(enum lt_op op) {
    return lt_op_descs[op].attrs_size;
}

int lt_op_has_backward(enum lt_op op) {
    return lt_op_descs[op].has_backward;
}

enum lt_status lt_op_parse(struct lt_ctx *ctx, const char *name, enum lt_op *out) {
    for (int i = 0; i < LT_OP_COUNT; i++)
        if (!strcmp(name, lt_op_descs[i].name)) {
            *out = (enum lt_op)i;
            return LT_OK;
        }
    return lt_fail(ctx, LT_EINVAL, "unknown op '%s'", name);
}

const char *lt_mem_category_name(enum lt_mem_category c) {
    static const char *const names[LT_MEM_COUNT] = {
        "params",    "param_copies", "grads", "optimizer", "activations",
        "temporaries", "workspace",  "data",  "state",     "runtime"};
    return (unsigned)c < LT_MEM_COUNT ? names[c] : "?";
}

double lt_clock(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
