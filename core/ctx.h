/* The context's insides: the backends, the device, the seed, the memory limit, the
 * threads and the last message. Private to the core. */
#ifndef LT_CTX_H
#define LT_CTX_H

#include "core/lutra.h"
#include "kernels/kernels.h"

struct lt_ctx {
    struct lt_backend cpu; /* the CPU kernels: fast, or the reference on request */
    struct lt_backend ref; /* the reference: where a fast kernel declines a shape */
    struct lt_backend cuda; /* filled by the CUDA plugin once a GPU is asked for */
    struct lt_backend *run; /* where training plans run: &cpu or &cuda */
    void *plugin;           /* dlopen handle of lutra_cuda.so */
    int cuda_index;         /* the GPU the plugin started (cuda.impl set) */
    char device[16];        /* "cpu", "cuda:N" */
    int tf32;
    int nondeterministic; /* lt_ctx_set_deterministic(ctx, 0) */
    int profile; /* executors time every node (lt_ctx_set_profile) */
    int graphs;  /* GPU executors replay captured steps (lt_ctx_set_graphs) */
    int plain_layouts; /* planners keep every tensor plain (tests compare the layouts) */
    int copy_reshapes; /* planners give reshapes outputs of their own (tests compare) */
    char notice[LT_KMSG_SIZE + 96];
    uint64_t seed;
    size_t memory_limit; /* 0: the machine's RAM */
    int threads;         /* 0: OpenMP's default */
    /* data parallel (core/dist.c): joined the process's MPI world; how long a collective
     * waits; the bytes of a gradient bucket; the device's communicator made */
    int dist_joined;
    double dist_timeout;
    size_t dist_bucket_bytes;
    int dist_device_comm;
    char error[1024];
};

/* Releases the GPU backend, if one was started (core/device.c). Cannot fail. */
void lt_ctx_release_devices(struct lt_ctx *ctx);

/* The monotonic clock, in seconds (node timing, collectives' deadlines). */
double lt_clock(void);

/* Makes the calling thread's OpenMP team the context's size. Cannot fail. */
void lt_ctx_apply_threads(const struct lt_ctx *ctx);

#endif
