/* The backends' interface: what a kernel is called with, the kernel table every backend
 * fills (reference, fast CPU paths, the CUDA plugin), the optimizer's passes, device
 * memory, and the plugin's entry point. Users of the public API never see it.
 *
 * This is the bottom layer. It decides no policy and owns no long-lived memory: a
 * kernel reads its inputs, writes its outputs and uses only the workspace it was given.
 * Kernels are looked up by (op, dtype of input 0); there is no switch over ops anywhere.
 * Plain C: no CUDA types appear here (a stream would be an opaque pointer).
 */
#ifndef LT_KERNELS_H
#define LT_KERNELS_H

#include "kernels/ops.h"

/* ---- what a kernel is called with ------------------------------------------------------ */

/* One contiguous tensor as a kernel sees it. In a backward call, a forward tensor that
 * the op's backward_reads mask does not name has data == NULL (its shape is valid). */
struct lt_kview {
    void *data;
    enum lt_dtype dtype;
    int ndim;
    int64_t shape[LT_MAX_DIMS];
};

/* What a step passes to every kernel; the random streams are keyed from it. */
struct lt_exec_info {
    uint64_t seed;
    uint32_t epoch;
    int64_t sample_base; /* index in the epoch's sample stream of row 0 of this batch */
};

#define LT_KMSG_SIZE 256

/* Guarantees to kernels: every tensor is contiguous; the workspace and every buffer the
 * planner places are 64-byte aligned (a caller's tensor bound as an input may not be);
 * a backward call always has gout[0].
 *
 * Layouts: a tensor is row-major (plain) unless its slot's bit is set in `blocked`:
 * then the 4-d tensor (N, C, H, W), C a multiple of 16, lies as (N, C / 16, H, W, 16),
 * sixteen channels of one position side by side (oneDNN's nChw16c), and so does its
 * gradient. The planner gives that layout to a tensor that only kernels see, where
 * every kernel that touches it and its gradient takes it (struct lt_kernel's
 * takes_blocked): a convolution then writes and reads its own layout, and what follows
 * it (pooling, relu) works a vector of channels at a time, without reorders between. */
#define LT_BLOCK_CHANNELS 16

struct lt_kargs {
    const void *attrs; /* the op's attribute struct */
    int n_in, n_out;
    const struct lt_kview *in[LT_MAX_INPUTS];
    /* In a forward call, an output that nothing reads may have data NULL where the op
     * allows it (lt_op_output_skippable: max pooling's codes): the kernel skips it. */
    const struct lt_kview *out[LT_MAX_OUTPUTS];
    /* backward only */
    const struct lt_kview *gout[LT_MAX_OUTPUTS]; /* NULL: no gradient flows back from it */
    const struct lt_kview *gin[LT_MAX_INPUTS];   /* NULL: that input needs no gradient */
    unsigned accumulate;                         /* bit i: add into gin[i], else overwrite */
    void *workspace;                             /* planned scratch, workspace_size bytes */
    size_t workspace_size;
    const struct lt_exec_info *exec;
    /* On a device backend, the same in device memory, rewritten before each run: kernels
     * that key random streams read it there, so that a captured step (a CUDA graph)
     * sees each run's values. NULL on the CPU. */
    const struct lt_exec_info *exec_dev;
    char *msg;   /* LT_KMSG_SIZE bytes for the reason when a kernel fails on its data */
    void *state; /* what the kernel's prepare built for this node, or NULL */
    void *impl;  /* the backend's private handles (a oneDNN engine and stream) */
    unsigned blocked; /* LT_IN(i) / LT_OUT(k): that tensor and its gradient are blocked */
};

/* A kernel returns LT_OK, or LT_EINVAL with msg filled when the data itself is invalid
 * (an index out of range). Shapes were validated before it runs. */
typedef enum lt_status (*lt_kernel_fn)(const struct lt_kargs *a);

struct lt_kernel {
    lt_kernel_fn forward;
    lt_kernel_fn backward; /* NULL when the op has no backward */
    /* Optional: builds what one node needs across steps (library primitives and
     * descriptors) from shapes alone, at plan time; the data pointers are NULL then.
     * Fails with LT_EUNSUPPORTED when this kernel cannot take the shapes (the caller
     * then uses the reference kernel) or LT_ENOMEM. */
    enum lt_status (*prepare)(const struct lt_kargs *a, int backward, void **state);
    void (*release)(void *state);
    /* Workspace the call needs, in bytes (after prepare, so it may read a->state);
     * NULL means none. */
    size_t (*workspace)(const struct lt_kargs *a, int backward);
    /* Human-readable name of the implementation ("ref", "onednn", "avx512"). */
    const char *impl_name;
    /* 1: the backward takes gout[k] and writes gin[i] in the dtypes of out[k] and in[i]
     * (half gradients for half tensors, as mixed precision keeps them). 0: it takes f32
     * gradients whatever the tensors' dtypes, and the planner hands it f32 copies of the
     * half ones (casts before and after the call, planned like any node). */
    int half_gradients;
    /* With half_gradients, bit i: the backward also writes gin[i] in f32 for a half
     * in[i] (adding in f32 when asked). The planner then has the backward of a
     * parameter's half copy's user write the parameter's f32 gradient itself
     * (core/plan_build.c). */
    unsigned f32_gin;
    /* Optional (CPU): whether this kernel, forward and backward, runs with the tensors
     * of a->blocked's slots in the blocked layout (see struct lt_kargs), asked at plan
     * time on shapes alone, before prepare. NULL: plain tensors only. */
    int (*takes_blocked)(const struct lt_kargs *a);
};

/* The optimizer's passes over the flat fp32 buffers (DESIGN, "Execute"), called with the
 * backend's impl. `factor`
 * multiplies every gradient as it is read: it unscales the loss scale and divides by
 * the step's count of targets. */
struct lt_update_kernels {
    /* Sum of squares of factor * g over n elements (in double), and whether all are
     * finite. Cannot fail. The results are host values on every backend. */
    void (*grad_norm)(void *impl, const float *g, int64_t n, float factor, double *sumsq, int *finite);
    /* p -= lr * d, PyTorch's SGD with momentum buffer m (m unused when momentum == 0). */
    void (*sgd)(void *impl, float *p, const float *g, float *m, int64_t n, float factor, float lr,
                float momentum, float dampening, float weight_decay, int nesterov,
                int first_step);
    /* PyTorch's AdamW; `step` counts applied steps from 1 (bias correction). */
    void (*adamw)(void *impl, float *p, const float *g, float *m, float *v, int64_t n, float factor,
                  float lr, float beta1, float beta2, float eps, float weight_decay,
                  int64_t step);
};

/* ---- device memory ---------------------------------------------------------------------- */

enum lt_copy_kind { LT_COPY_H2D, LT_COPY_D2H, LT_COPY_D2D };

/* The bytes of a collective communicator's id (NCCL's ncclUniqueId). */
#define LT_COMM_ID_BYTES 128

/* How the core reaches a device backend's memory. A backend whose tensors live in host
 * memory (the CPU) leaves every member NULL. Work is ordered on the backend's one stream:
 * kernels, copies and zeroing run in the order they were asked for; a copy to the host
 * returns once the bytes are there. Failures write why into msg (LT_KMSG_SIZE bytes). */
struct lt_device_ops {
    /* `bytes` of device memory, 256-byte aligned. LT_ENOMEM when the device is full. */
    enum lt_status (*alloc)(void *impl, size_t bytes, void **out, char *msg);
    void (*free)(void *impl, void *ptr); /* ptr may be NULL */
    enum lt_status (*copy)(void *impl, void *dst, const void *src, size_t bytes,
                           enum lt_copy_kind kind, char *msg);
    enum lt_status (*zero)(void *impl, void *ptr, size_t bytes, char *msg);
    /* Page-locked host memory: the host side of copy_async (batches on their way in,
     * losses and outputs on their way out). */
    enum lt_status (*host_alloc)(void *impl, size_t bytes, void **out, char *msg);
    void (*host_free)(void *impl, void *ptr); /* ptr may be NULL */
    /* A copy queued on the stream that returns at once. Its host side comes from
     * host_alloc; the host must not write it (H2D) or read it (D2H) before the next sync
     * (or a copy to the host, which waits for everything queued before it). */
    enum lt_status (*copy_async)(void *impl, void *dst, const void *src, size_t bytes,
                                 enum lt_copy_kind kind, char *msg);
    /* Waits for all queued work. Reports a kernel's asynchronous failure (LT_ECUDA) and
     * bad data a kernel flagged on the device (LT_EINVAL: an index out of range). */
    enum lt_status (*sync)(void *impl, char *msg);
    /* The device's free and total bytes now, and what the runtime itself took when the
     * backend started (context, library handles): the `runtime` category. */
    void (*memory)(void *impl, size_t *free_bytes, size_t *total_bytes, size_t *runtime_bytes);
    /* Lets f32 matrix products and convolutions use TF32 (off by default). Takes effect for
     * kernels prepared afterwards. */
    void (*set_tf32)(void *impl, int on);
    /* Whether library algorithms must give the same bits on every run (cuDNN's
     * deterministic convolutions; on by default). Takes effect for kernels prepared
     * afterwards. */
    void (*set_deterministic)(void *impl, int on);
    /* Step capture: the work queued between capture_begin and capture_end is recorded,
     * not run, into a graph that graph_launch replays on the stream (kernel arguments,
     * pointers included, fixed at capture). */
    enum lt_status (*capture_begin)(void *impl, char *msg);
    enum lt_status (*capture_end)(void *impl, void **graph, char *msg);
    enum lt_status (*graph_launch)(void *impl, void *graph, char *msg);
    void (*graph_free)(void *impl, void *graph);
    /* Collectives of a data-parallel job (NCCL on CUDA); NULL where the device has none.
     * comm_id makes the job's id on rank 0 (the core broadcasts it over MPI); comm_init
     * joins this rank to the job's communicator; comm_sum queues, on a stream of its own
     * behind the work queued so far, the sum over every rank of n floats at ptr, in place;
     * comm_wait makes the stream wait for every sum queued, failing (LT_ECUDA, the job's
     * communicator aborted) when they are not done within timeout_s seconds. */
    enum lt_status (*comm_id)(void *impl, unsigned char id[LT_COMM_ID_BYTES], char *msg);
    enum lt_status (*comm_init)(void *impl, const unsigned char id[LT_COMM_ID_BYTES], int rank,
                                int size, char *msg);
    enum lt_status (*comm_sum)(void *impl, float *ptr, int64_t n, char *msg);
    enum lt_status (*comm_wait)(void *impl, double timeout_s, char *msg);
};

/* A backend: its kernel table, its optimizer passes and its private handles. On a device
 * backend every pointer a kernel or update pass sees is device memory. */
struct lt_backend {
    const char *name;
    struct lt_kernel kernels[LT_OP_COUNT][LT_DTYPE_COUNT];
    struct lt_update_kernels update;
    struct lt_device_ops dev;       /* all NULL for host memory */
    void *impl;                     /* passed to every kernel as lt_kargs.impl */
    void (*release_impl)(void *impl);
    char info[256];                 /* what it was built with, for --version */
};

/* The CUDA plugin (lutra_cuda.so) exports one function of this type under the name
 * LT_CUDA_PLUGIN_ENTRY. It fills `b` for CUDA device `device`, or fails with
 * LT_EUNSUPPORTED (no driver, no such device, `abi` not the plugin's LT_PLUGIN_ABI) or
 * LT_ECUDA, writing why into msg. */
#define LT_CUDA_PLUGIN_ENTRY "lt_cuda_backend_init"
/* The base's second byte is a revision, raised when the tables change without changing
 * size (struct lt_kernel's f32_gin took padding). */
#define LT_PLUGIN_ABI (0x4c540100u + (unsigned)sizeof(struct lt_backend))
typedef enum lt_status (*lt_plugin_init_fn)(struct lt_backend *b, int device, unsigned abi,
                                            char *msg);

/* Fills `b` with the CPU reference kernels only: the spec. Cannot fail. */
void lt_cpu_reference_init(struct lt_backend *b);

/* Fills `b` with the CPU's fastest kernels (oneDNN, vectorised own kernels) at the ISA
 * the CPU and LUTRA_MAX_CPU_ISA allow, the reference where there is no fast one. Fails
 * with LT_EUNSUPPORTED when a library cannot start, LT_EINVAL when LUTRA_MAX_CPU_ISA
 * names no level, writing why into msg (LT_KMSG_SIZE bytes). */
enum lt_status lt_cpu_backend_init(struct lt_backend *b, char *msg);

/* Releases what a backend's init acquired. b->impl may be NULL. Cannot fail. */
void lt_backend_release(struct lt_backend *b);

/* Helpers for kernels (and the planner). These cannot fail. */
static inline int lt_dtype_is_half(enum lt_dtype dt) {
    return dt == LT_DTYPE_F16 || dt == LT_DTYPE_BF16;
}

static inline int64_t lt_kview_numel(const struct lt_kview *v) {
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++)
        n *= v->shape[i];
    return n;
}

#endif
