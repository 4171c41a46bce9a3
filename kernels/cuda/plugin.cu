/* The CUDA plugin's entry point: starts the device, its stream and library handles,
 * fills the kernel table and the device-memory operations the core uses. */
#include <cstdlib>
#include <dlfcn.h>
#include <cstring>
#include <ctime>
#include <pthread.h>

#include <nccl.h>

#include "kernels/cuda/dnn.cuh"

static_assert(sizeof(ncclUniqueId) == LT_COMM_ID_BYTES, "LT_COMM_ID_BYTES is NCCL's id size");

/* The backend's impl: the handles every kernel sees, then the collectives' state, which
 * only this file touches (so the kernels' header need not include nccl.h). */
struct lt_cuda_dev {
    lt_cuda c;                /* first: the kernels' lt_cuda * points here */
    ncclComm_t comm;          /* NULL before comm_init and after an abort */
    cudaStream_t comm_stream; /* the sums run here, beside the kernels' stream */
    cudaEvent_t queued;       /* the kernels' stream when a sum was queued */
    cudaEvent_t summed;       /* the comm stream when comm_wait was called */
};

enum lt_status lt_cuda_check(const lt_kargs *a, const char *what) {
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess)
        return LT_OK;
    if (a && a->msg)
        snprintf(a->msg, LT_KMSG_SIZE, "%s: %s", what, cudaGetErrorString(e));
    return LT_ECUDA;
}

enum lt_status lt_cublas_check(const lt_kargs *a, cublasStatus_t st, const char *what) {
    if (st == CUBLAS_STATUS_SUCCESS)
        return LT_OK;
    if (a && a->msg)
        snprintf(a->msg, LT_KMSG_SIZE, "%s: cuBLAS %s", what, cublasGetStatusString(st));
    return st == CUBLAS_STATUS_ALLOC_FAILED ? LT_ENOMEM : LT_ECUDA;
}

enum lt_status lt_cudnn_check(const lt_kargs *a, cudnnStatus_t st, const char *what) {
    if (st == CUDNN_STATUS_SUCCESS)
        return LT_OK;
    if (a && a->msg)
        snprintf(a->msg, LT_KMSG_SIZE, "%s: cuDNN %s", what, cudnnGetErrorString(st));
    return st == CUDNN_STATUS_NOT_SUPPORTED ? LT_EUNSUPPORTED : LT_ECUDA;
}

static enum lt_status fail(char *msg, cudaError_t e, const char *what) {
    snprintf(msg, LT_KMSG_SIZE, "%s: %s", what, cudaGetErrorString(e));
    return e == cudaErrorMemoryAllocation ? LT_ENOMEM : LT_ECUDA;
}

/* ---- device memory ------------------------------------------------------------------- */

/* An allocation's outcome. */
static enum lt_status allocated(cudaError_t e, void **out, char *msg, const char *what) {
    if (e == cudaSuccess)
        return LT_OK;
    cudaGetLastError(); /* an allocation failure is not sticky: clear it */
    *out = NULL;
    return fail(msg, e, what);
}

static enum lt_status dev_alloc(void *impl, size_t bytes, void **out, char *msg) {
    (void)impl;
    return allocated(cudaMalloc(out, bytes ? bytes : 1), out, msg, "cudaMalloc");
}

static void dev_free(void *impl, void *ptr) {
    lt_cuda *c = (lt_cuda *)impl;
    if (!ptr)
        return;
    cudaStreamSynchronize(c->stream); /* queued work may still read it */
    cudaFree(ptr);
}

static enum lt_status dev_copy(void *impl, void *dst, const void *src, size_t bytes,
                               enum lt_copy_kind kind, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    static const cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                           cudaMemcpyDeviceToDevice};
    if (!bytes)
        return LT_OK;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, kinds[kind], c->stream);
    if (e == cudaSuccess && kind == LT_COPY_D2H)
        e = cudaStreamSynchronize(c->stream);
    return e == cudaSuccess ? LT_OK : fail(msg, e, "copy");
}

static enum lt_status dev_host_alloc(void *impl, size_t bytes, void **out, char *msg) {
    (void)impl;
    return allocated(cudaHostAlloc(out, bytes ? bytes : 1, cudaHostAllocDefault), out, msg,
                     "cudaHostAlloc");
}

static void dev_host_free(void *impl, void *ptr) {
    lt_cuda *c = (lt_cuda *)impl;
    if (!ptr)
        return;
    cudaStreamSynchronize(c->stream); /* a queued copy may still use it */
    cudaFreeHost(ptr);
}

static enum lt_status dev_copy_async(void *impl, void *dst, const void *src, size_t bytes,
                                     enum lt_copy_kind kind, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    static const cudaMemcpyKind kinds[] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost,
                                           cudaMemcpyDeviceToDevice};
    cudaError_t e = bytes ? cudaMemcpyAsync(dst, src, bytes, kinds[kind], c->stream) : cudaSuccess;
    return e == cudaSuccess ? LT_OK : fail(msg, e, "queued copy");
}

static enum lt_status dev_zero(void *impl, void *ptr, size_t bytes, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaError_t e = bytes ? cudaMemsetAsync(ptr, 0, bytes, c->stream) : cudaSuccess;
    return e == cudaSuccess ? LT_OK : fail(msg, e, "memset");
}

static enum lt_status dev_sync(void *impl, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaError_t e = cudaStreamSynchronize(c->stream);
    if (e != cudaSuccess)
        return fail(msg, e, "a kernel failed");
    unsigned flag = 0;
    e = cudaMemcpy(&flag, c->flag, sizeof flag, cudaMemcpyDeviceToHost);
    if (e != cudaSuccess)
        return fail(msg, e, "reading the bad-data flag");
    if (flag) {
        cudaMemset(c->flag, 0, sizeof flag);
        snprintf(msg, LT_KMSG_SIZE, "%s",
                 flag & LT_CUDA_BAD_INDEX ? "an embedding id or a class target is outside its "
                                            "range (or not ignore_index)"
                 : flag & LT_CUDA_BAD_IDS ? "an index_select or gather id is outside its dim"
                 : flag & LT_CUDA_BAD_PROBS
                     ? "a multinomial row has a negative or non-finite probability, or none "
                       "above 0"
                     : "a kernel flagged bad data");
        return LT_EINVAL;
    }
    return LT_OK;
}

static void dev_memory(void *impl, size_t *free_bytes, size_t *total_bytes,
                       size_t *runtime_bytes) {
    lt_cuda *c = (lt_cuda *)impl;
    size_t f = 0, t = 0;
    cudaMemGetInfo(&f, &t);
    *free_bytes = f;
    *total_bytes = t;
    *runtime_bytes = c->runtime_bytes;
}

static void dev_set_tf32(void *impl, int on) {
    ((lt_cuda *)impl)->tf32 = on != 0;
}

static void dev_set_deterministic(void *impl, int on) {
    ((lt_cuda *)impl)->deterministic = on != 0;
}

static enum lt_status dev_capture_begin(void *impl, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaError_t e = cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? LT_OK : fail(msg, e, "starting a step capture");
}

static enum lt_status dev_capture_end(void *impl, void **graph, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaGraph_t g = NULL;
    cudaGraphExec_t exec = NULL;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e == cudaSuccess)
        e = cudaGraphInstantiate(&exec, g, 0);
    if (g)
        cudaGraphDestroy(g);
    *graph = exec;
    return e == cudaSuccess ? LT_OK : fail(msg, e, "capturing the step");
}

static enum lt_status dev_graph_launch(void *impl, void *graph, char *msg) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)graph, c->stream);
    return e == cudaSuccess ? LT_OK : fail(msg, e, "launching the captured step");
}

static void dev_graph_free(void *impl, void *graph) {
    (void)impl;
    if (graph)
        cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

/* ---- collectives (NCCL) --------------------------------------------------------------- */

/* NCCL is loaded on first use, not linked: only data-parallel jobs need it, and a machine
 * without libnccl.so.2 must still run everything else on its GPU. nccl.h gives the types;
 * every call goes through this table (nothing else here may name an NCCL function, or the
 * plugin would need libnccl again to load). */
#define LT_NCCL_FNS(X)                                                                             \
    X(ncclGetUniqueId)                                                                             \
    X(ncclCommInitRank)                                                                            \
    X(ncclAllReduce)                                                                               \
    X(ncclCommGetAsyncError)                                                                       \
    X(ncclCommAbort)                                                                               \
    X(ncclCommDestroy)                                                                             \
    X(ncclGetErrorString)                                                                          \
    X(ncclGetLastError)

static struct {
#define LT_NCCL_MEMBER(f) decltype(&::f) f; /* decltype: the type only, no reference */
    LT_NCCL_FNS(LT_NCCL_MEMBER)
#undef LT_NCCL_MEMBER
} nccl;

static pthread_once_t nccl_once = PTHREAD_ONCE_INIT;
static char nccl_why[LT_KMSG_SIZE]; /* why loading failed; "" once the table is filled */

/* Opens libnccl and fills the table, or writes why not into nccl_why. The handle is kept
 * for the process's life, never dlclose'd: the table is shared by every device's impl in
 * the process, not owned by one, and NCCL's own threads (an aborted communicator's proxy
 * and watchdog threads) may still run its code after the last ncclCommDestroy; unmapping
 * it under them would crash, while keeping it costs nothing. */
static void nccl_load(void) {
    void *lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        char first[LT_KMSG_SIZE / 2]; /* the versioned name's error: the one that says why */
        snprintf(first, sizeof first, "%s", dlerror());
        if (!(lib = dlopen("libnccl.so", RTLD_NOW | RTLD_LOCAL))) {
            snprintf(nccl_why, sizeof nccl_why,
                     "data parallel on a GPU needs NCCL: libnccl.so.2 could not be loaded "
                     "(%s); install NCCL or put it on LD_LIBRARY_PATH",
                     first);
            return;
        }
    }
#define LT_NCCL_RESOLVE(f)                                                                         \
    if (!(nccl.f = (decltype(nccl.f))dlsym(lib, #f))) {                                            \
        snprintf(nccl_why, sizeof nccl_why,                                                        \
                 "data parallel on a GPU needs NCCL 2.13 or newer: the installed libnccl "         \
                 "lacks " #f " (%s)",                                                              \
                 dlerror());                                                                       \
        memset(&nccl, 0, sizeof nccl);                                                             \
        return;                                                                                    \
    }
    LT_NCCL_FNS(LT_NCCL_RESOLVE)
#undef LT_NCCL_RESOLVE
    nccl_why[0] = '\0';
}

/* Loads NCCL on the first call; LT_EUNSUPPORTED, saying why, on every call when it cannot. */
static enum lt_status nccl_ready(char *msg) {
    pthread_once(&nccl_once, nccl_load);
    if (nccl.ncclGetLastError) /* the last one filled */
        return LT_OK;
    snprintf(msg, LT_KMSG_SIZE, "%s", nccl_why);
    return LT_EUNSUPPORTED;
}

/* Only after nccl_ready succeeded (a comm exists only then). */
static enum lt_status nccl_fail(char *msg, ncclResult_t r, ncclComm_t comm, const char *what) {
    const char *last = nccl.ncclGetLastError(comm); /* the detail, where NCCL kept one */
    snprintf(msg, LT_KMSG_SIZE, "%s: NCCL %s%s%s%s", what, nccl.ncclGetErrorString(r),
             last && *last ? " (" : "", last ? last : "", last && *last ? ")" : "");
    return LT_ECUDA;
}

static enum lt_status dev_comm_id(void *impl, unsigned char id[LT_COMM_ID_BYTES], char *msg) {
    (void)impl;
    enum lt_status st = nccl_ready(msg);
    if (st != LT_OK)
        return st;
    ncclUniqueId uid;
    ncclResult_t r = nccl.ncclGetUniqueId(&uid);
    if (r != ncclSuccess)
        return nccl_fail(msg, r, NULL, "making the job's communicator id");
    memcpy(id, &uid, sizeof uid);
    return LT_OK;
}

static enum lt_status dev_comm_init(void *impl, const unsigned char id[LT_COMM_ID_BYTES],
                                    int rank, int size, char *msg) {
    lt_cuda_dev *d = (lt_cuda_dev *)impl;
    if (d->comm) {
        snprintf(msg, LT_KMSG_SIZE, "this device has already joined a communicator");
        return LT_EINVAL;
    }
    enum lt_status st = nccl_ready(msg);
    if (st != LT_OK)
        return st;
    cudaError_t e = cudaSetDevice(d->c.device); /* NCCL binds the comm to the current device */
    /* kept after a failed or aborted join: release_impl frees them, a new join reuses them */
    if (e == cudaSuccess && !d->comm_stream)
        e = cudaStreamCreateWithFlags(&d->comm_stream, cudaStreamNonBlocking);
    if (e == cudaSuccess && !d->queued)
        e = cudaEventCreateWithFlags(&d->queued, cudaEventDisableTiming);
    if (e == cudaSuccess && !d->summed)
        e = cudaEventCreateWithFlags(&d->summed, cudaEventDisableTiming);
    if (e != cudaSuccess)
        return fail(msg, e, "creating the communication stream");
    ncclUniqueId uid;
    memcpy(&uid, id, sizeof uid);
    ncclResult_t r = nccl.ncclCommInitRank(&d->comm, size, uid, rank);
    if (r != ncclSuccess) {
        d->comm = NULL;
        return nccl_fail(msg, r, NULL, "joining the job's communicator");
    }
    return LT_OK;
}

static enum lt_status dev_comm_sum(void *impl, float *ptr, int64_t n, char *msg) {
    lt_cuda_dev *d = (lt_cuda_dev *)impl;
    if (!d->comm) {
        snprintf(msg, LT_KMSG_SIZE, "a sum over ranks before this device joined a communicator "
                                    "(comm_init), or after it was aborted");
        return LT_EINVAL;
    }
    if (n <= 0)
        return LT_OK;
    /* the sum reads what the kernels queued so far wrote: start it behind them */
    cudaError_t e = cudaEventRecord(d->queued, d->c.stream);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(d->comm_stream, d->queued, 0);
    if (e != cudaSuccess)
        return fail(msg, e, "queueing the all-reduce");
    ncclResult_t r =
        nccl.ncclAllReduce(ptr, ptr, (size_t)n, ncclFloat, ncclSum, d->comm, d->comm_stream);
    return r == ncclSuccess ? LT_OK : nccl_fail(msg, r, d->comm, "queueing the all-reduce");
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static enum lt_status dev_comm_wait(void *impl, double timeout_s, char *msg) {
    lt_cuda_dev *d = (lt_cuda_dev *)impl;
    if (!d->comm) {
        snprintf(msg, LT_KMSG_SIZE, "waiting for sums over ranks before this device joined a "
                                    "communicator (comm_init), or after it was aborted");
        return LT_EINVAL;
    }
    cudaError_t e = cudaEventRecord(d->summed, d->comm_stream);
    if (e != cudaSuccess)
        return fail(msg, e, "waiting for the all-reduce");
    /* Poll rather than synchronise: a rank that died or hangs would block this one forever,
     * and only an abort frees the device from a collective that cannot finish. */
    const struct timespec nap = {0, 100000}; /* 100 us */
    double start = seconds_now();
    ncclResult_t r = ncclSuccess;
    while ((e = cudaEventQuery(d->summed)) == cudaErrorNotReady) {
        ncclResult_t async = ncclSuccess;
        if ((r = nccl.ncclCommGetAsyncError(d->comm, &async)) == ncclSuccess)
            r = async;
        if (r != ncclSuccess || seconds_now() - start > timeout_s)
            break;
        nanosleep(&nap, NULL);
    }
    if (e == cudaSuccess)
        return (e = cudaStreamWaitEvent(d->c.stream, d->summed, 0)) == cudaSuccess
                   ? LT_OK
                   : fail(msg, e, "waiting for the all-reduce");
    if (e == cudaErrorNotReady && r == ncclSuccess)
        snprintf(msg, LT_KMSG_SIZE, "the NCCL all-reduce did not finish within %g s "
                                    "(dist.timeout): a rank has stopped or hangs",
                 timeout_s);
    else if (e == cudaErrorNotReady)
        nccl_fail(msg, r, d->comm, "the NCCL all-reduce failed");
    else
        fail(msg, e, "the NCCL all-reduce failed");
    nccl.ncclCommAbort(d->comm);
    d->comm = NULL;
    return LT_ECUDA;
}

static void release_impl(void *impl) {
    lt_cuda_dev *d = (lt_cuda_dev *)impl;
    lt_cuda *c = &d->c;
    cudaStreamSynchronize(c->stream);
    if (d->comm)
        nccl.ncclCommDestroy(d->comm); /* waits for the sums still queued */
    if (d->comm_stream)
        cudaStreamDestroy(d->comm_stream);
    if (d->queued)
        cudaEventDestroy(d->queued);
    if (d->summed)
        cudaEventDestroy(d->summed);
    if (c->dnn)
        cudnnDestroy((cudnnHandle_t)c->dnn);
    if (c->blas)
        cublasDestroy(c->blas);
    cudaFree(c->flag);
    cudaFree(c->scratch);
    cudaFreeHost(c->host_scratch);
    cudaStreamDestroy(c->stream);
    free(d);
}

/* ---- the entry point ----------------------------------------------------------------- */

static enum lt_status start(lt_cuda *c, int device, char *msg) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        /* the runtime says "insufficient driver" also when there is none at all */
        void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
        if (!driver) {
            snprintf(msg, LT_KMSG_SIZE, "no NVIDIA driver on this machine (libcuda.so.1 is "
                                        "not installed)");
        } else {
            dlclose(driver);
            snprintf(msg, LT_KMSG_SIZE, "no usable CUDA driver: %s", cudaGetErrorString(e));
        }
        cudaGetLastError();
        return LT_EUNSUPPORTED;
    }
    if (device < 0 || device >= count) {
        snprintf(msg, LT_KMSG_SIZE, "no CUDA device %d (this machine has %d)", device, count);
        return LT_EUNSUPPORTED;
    }
    c->device = device;
    if ((e = cudaSetDevice(device)) != cudaSuccess ||
        (e = cudaGetDeviceProperties(&c->prop, device)) != cudaSuccess)
        return fail(msg, e, "starting the device");
    size_t free0 = 0, total = 0;
    if ((e = cudaFree(0)) != cudaSuccess || (e = cudaMemGetInfo(&free0, &total)) != cudaSuccess)
        return fail(msg, e, "creating the CUDA context");
    if ((e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking)) != cudaSuccess ||
        (e = cudaMalloc((void **)&c->flag, sizeof *c->flag)) != cudaSuccess ||
        (e = cudaMemset(c->flag, 0, sizeof *c->flag)) != cudaSuccess ||
        (e = cudaMalloc((void **)&c->scratch, LT_CUDA_SCRATCH * sizeof(double))) != cudaSuccess ||
        (e = cudaMallocHost((void **)&c->host_scratch, LT_CUDA_SCRATCH * sizeof(double))) !=
            cudaSuccess)
        return fail(msg, e, "creating the stream");
    if (cublasCreate(&c->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(c->blas, c->stream) != CUBLAS_STATUS_SUCCESS) {
        snprintf(msg, LT_KMSG_SIZE, "cuBLAS could not start");
        return LT_ECUDA;
    }
    cudnnHandle_t dnn = NULL;
    cudnnStatus_t ds = cudnnCreate(&dnn);
    c->dnn = dnn;
    if (ds == CUDNN_STATUS_SUCCESS)
        ds = cudnnSetStream(dnn, c->stream);
    if (ds != CUDNN_STATUS_SUCCESS) {
        snprintf(msg, LT_KMSG_SIZE, "cuDNN could not start: %s", cudnnGetErrorString(ds));
        return LT_ECUDA;
    }
    size_t free1 = 0;
    cudaMemGetInfo(&free1, &total);
    /* what the context holds is unknowable from inside it; what the handles took is not */
    c->runtime_bytes = (total - free0) + (free0 > free1 ? free0 - free1 : 0);
    return LT_OK;
}

extern "C" __attribute__((visibility("default"))) enum lt_status
lt_cuda_backend_init(struct lt_backend *b, int device, unsigned abi, char *msg) {
    if (abi != LT_PLUGIN_ABI) {
        snprintf(msg, LT_KMSG_SIZE,
                 "lutra_cuda.so was built for another version of lutra (interface %#x, "
                 "the core's %#x): rebuild it",
                 LT_PLUGIN_ABI, abi);
        return LT_EUNSUPPORTED;
    }
    memset(b, 0, sizeof *b);
    lt_cuda_dev *d = (lt_cuda_dev *)calloc(1, sizeof *d);
    if (!d) {
        snprintf(msg, LT_KMSG_SIZE, "out of memory");
        return LT_ENOMEM;
    }
    lt_cuda *c = &d->c;
    enum lt_status st = start(c, device, msg);
    if (st != LT_OK) {
        if (c->stream)
            release_impl(c);
        else
            free(d);
        return st;
    }
    b->name = "cuda";
    b->impl = c;
    b->release_impl = release_impl;
    b->dev.alloc = dev_alloc;
    b->dev.free = dev_free;
    b->dev.copy = dev_copy;
    b->dev.zero = dev_zero;
    b->dev.host_alloc = dev_host_alloc;
    b->dev.host_free = dev_host_free;
    b->dev.copy_async = dev_copy_async;
    b->dev.sync = dev_sync;
    b->dev.memory = dev_memory;
    b->dev.set_tf32 = dev_set_tf32;
    b->dev.set_deterministic = dev_set_deterministic;
    b->dev.capture_begin = dev_capture_begin;
    b->dev.capture_end = dev_capture_end;
    b->dev.graph_launch = dev_graph_launch;
    b->dev.graph_free = dev_graph_free;
    b->dev.comm_id = dev_comm_id;
    b->dev.comm_init = dev_comm_init;
    b->dev.comm_sum = dev_comm_sum;
    b->dev.comm_wait = dev_comm_wait;
    c->deterministic = 1;
    static void (*const families[])(lt_backend *) = {
#define LT_FAMILY(stem) lt_cuda_register_##stem,
#include "kernels/families.def"
#undef LT_FAMILY
        lt_cuda_register_update,
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        families[i](b);
    int rt = 0, drv = 0;
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    int blas = 0;
    cublasGetVersion(c->blas, &blas);
    size_t dnn = cudnnGetVersion();
    snprintf(b->info, sizeof b->info,
             "cuda:%d %s (sm_%d%d, %.0f GiB), driver %d.%d, runtime %d.%d, cuBLAS %d, cuDNN %zu",
             device, c->prop.name, c->prop.major, c->prop.minor,
             (double)c->prop.totalGlobalMem / (1 << 30), drv / 1000, drv % 1000 / 10,
             rt / 1000, rt % 1000 / 10, blas, dnn);
    return LT_OK;
}
