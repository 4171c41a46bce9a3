/* The CUDA plugin's entry point: starts the device, its stream and library handles,
 * fills the kernel table and the device-memory operations the core uses. */
#include <cstdlib>
#include <dlfcn.h>
#include <cstring>

#include "kernels/cuda/dnn.cuh"

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

static void release_impl(void *impl) {
    lt_cuda *c = (lt_cuda *)impl;
    cudaStreamSynchronize(c->stream);
    if (c->dnn)
        cudnnDestroy((cudnnHandle_t)c->dnn);
    if (c->blas)
        cublasDestroy(c->blas);
    cudaFree(c->flag);
    cudaFree(c->scratch);
    cudaFreeHost(c->host_scratch);
    cudaStreamDestroy(c->stream);
    free(c);
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
    lt_cuda *c = (lt_cuda *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(msg, LT_KMSG_SIZE, "out of memory");
        return LT_ENOMEM;
    }
    enum lt_status st = start(c, device, msg);
    if (st != LT_OK) {
        if (c->stream)
            release_impl(c);
        else
            free(c);
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
