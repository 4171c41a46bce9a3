/* Test support: an emulated GPU, for machines without one. Built as a plugin with the
 * CUDA plugin's entry point (lutra_emulated_device.so; point LUTRA_CUDA_PLUGIN at it),
 * it gives the core a device backend whose kernels are the CPU's, so that the core's
 * device paths (mirrors, staging, forward programs, step capture, the memory policy) run
 * where CI runs. It is strict where a GPU would be silently wrong or crash later:
 *
 * - device memory is mapped without access except while a kernel, a copy or a zeroing
 *   runs, so the core touching device memory directly faults on the spot;
 * - every tensor, workspace and optimizer buffer a kernel is given must lie in device
 *   memory, and each side of a copy where its kind says;
 * - queued copies behave as on a GPU: one to the host arrives at the next sync (its
 *   destination holds 0xff bytes until then), and the page-locked source of one to the
 *   device must not change before the next sync; a queued copy's host side must be
 *   page-locked memory;
 * - a captured step records kernels with their arguments, pointers included, and a
 *   launch replays exactly those.
 *
 * Its collectives are MPI's, run at once on the job's MPI_COMM_WORLD (the lutra process
 * has initialised MPI), so that data parallelism's device path runs too.
 *
 * LUTRA_EMULATED_DEVICE_MIB sets each card's size, in [32, 16777216] (default 8192);
 * LUTRA_EMULATED_DEVICE_COUNT how many cards there are, in [1, 64] (default 1): the ranks
 * of a job on one host each take the card of their local rank. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifdef LT_MPI
#include <mpi.h>
#endif

#include "core/lutra.h"
#include "kernels/kernels.h"

#define RUNTIME_BYTES ((size_t)16 << 20) /* what a card's context would take */

enum region_kind { DEVICE, PAGE_LOCKED };

struct region {
    char *p;
    size_t bytes; /* mapped: whole pages for device memory */
    enum region_kind kind;
};

/* A queued copy not yet settled: one to the host waits in `copy` for the next sync; one
 * from the host has the hash its source must still have then. */
struct pending {
    char *host;
    size_t bytes;
    char *copy;
    uint64_t hash;
};

/* A node's kernel: the CPU's fast one, or its reference when the fast one declines. */
struct node {
    const struct lt_kernel *k;
    void *impl, *state;
};

/* One recorded call of a captured step, with its own copy of every view. */
struct call {
    const struct node *nd; /* NULL: a zeroing of `zero` */
    int backward;
    struct lt_kargs a;
    struct lt_kview views[2 * (LT_MAX_INPUTS + LT_MAX_OUTPUTS)];
    void *zero;
    size_t zero_bytes;
};

struct graph {
    struct call **calls; /* each its own allocation: its kargs point into its views */
    int n, cap;
};

struct emu {
    struct lt_backend fast, ref;
    struct region *regions;
    int n_regions, cap_regions;
    struct pending *pending;
    int n_pending, cap_pending;
    struct graph *recording;
    size_t total, in_use;
    int comm_size;             /* the job's ranks; 0 before comm_init */
    char sticky[LT_KMSG_SIZE]; /* a fault found where it could not be returned */
};

static int grow(void **items, int *cap, int n, size_t size) {
    if (n < *cap)
        return 1;
    int c = *cap ? 2 * *cap : 16;
    void *p = realloc(*items, (size_t)c * size);
    if (!p)
        return 0;
    *items = p;
    *cap = c;
    return 1;
}

/* The region of `kind` holding [p, p + bytes), or NULL. */
static const struct region *find(const struct emu *e, const void *p, size_t bytes,
                                 enum region_kind kind) {
    const char *c = p;
    for (int i = 0; i < e->n_regions; i++) {
        const struct region *r = &e->regions[i];
        if (r->kind == kind && c >= r->p && c + bytes <= r->p + r->bytes)
            return r;
    }
    return NULL;
}

static int in_device(const struct emu *e, const void *p, size_t bytes) {
    return find(e, p, bytes, DEVICE) != NULL;
}

/* Opens (or closes) every device region to the host. */
static void access_device(const struct emu *e, int open) {
    for (int i = 0; i < e->n_regions; i++)
        if (e->regions[i].kind == DEVICE &&
            mprotect(e->regions[i].p, e->regions[i].bytes,
                     open ? PROT_READ | PROT_WRITE : PROT_NONE))
            abort(); /* the mappings are ours: this cannot fail */
}

static uint64_t hash(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    return h;
}

static enum lt_status refuse(char *msg, const char *why) {
    snprintf(msg, LT_KMSG_SIZE, "emulated device: %s", why);
    return LT_ECUDA;
}

/* Settles every queued copy: what goes to the host arrives, what came from page-locked
 * memory is checked not to have been overwritten meanwhile. */
static enum lt_status settle(struct emu *e, char *msg) {
    enum lt_status st = LT_OK;
    for (int i = 0; i < e->n_pending; i++) {
        struct pending *q = &e->pending[i];
        if (q->copy) {
            memcpy(q->host, q->copy, q->bytes);
            free(q->copy);
        } else if (hash(q->host, q->bytes) != q->hash && st == LT_OK) {
            st = refuse(msg, "page-locked memory was written while a queued copy from it "
                             "was in flight");
        }
    }
    e->n_pending = 0;
    if (st == LT_OK && e->sticky[0]) {
        snprintf(msg, LT_KMSG_SIZE, "%s", e->sticky);
        st = LT_ECUDA;
    }
    e->sticky[0] = '\0';
    return st;
}

/* ---- memory ---------------------------------------------------------------------------- */

static enum lt_status add_region(struct emu *e, char *p, size_t bytes, enum region_kind kind,
                                 char *msg) {
    if (!grow((void **)&e->regions, &e->cap_regions, e->n_regions, sizeof *e->regions)) {
        snprintf(msg, LT_KMSG_SIZE, "out of host memory");
        return LT_ENOMEM;
    }
    e->regions[e->n_regions++] = (struct region){p, bytes, kind};
    return LT_OK;
}

static void drop_region(struct emu *e, const void *p) {
    for (int i = 0; i < e->n_regions; i++)
        if (e->regions[i].p == p) {
            e->regions[i] = e->regions[--e->n_regions];
            return;
        }
}

static enum lt_status dev_alloc(void *impl, size_t bytes, void **out, char *msg) {
    struct emu *e = impl;
    size_t page = (size_t)sysconf(_SC_PAGE_SIZE);
    size_t n = (bytes + page - 1) / page * page;
    *out = NULL;
    if (e->in_use + n + RUNTIME_BYTES > e->total) {
        snprintf(msg, LT_KMSG_SIZE, "emulated device: out of memory");
        return LT_ENOMEM;
    }
    void *p = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(msg, LT_KMSG_SIZE, "emulated device: out of host memory");
        return LT_ENOMEM;
    }
    enum lt_status st = add_region(e, p, n, DEVICE, msg);
    if (st != LT_OK) {
        munmap(p, n);
        return st;
    }
    e->in_use += n;
    *out = p;
    return LT_OK;
}

static void dev_free(void *impl, void *ptr) {
    struct emu *e = impl;
    const struct region *r = ptr ? find(e, ptr, 1, DEVICE) : NULL;
    if (!r)
        return;
    munmap(r->p, r->bytes);
    e->in_use -= r->bytes;
    drop_region(e, ptr);
}

static enum lt_status dev_host_alloc(void *impl, size_t bytes, void **out, char *msg) {
    struct emu *e = impl;
    *out = malloc(bytes ? bytes : 1);
    if (!*out) {
        snprintf(msg, LT_KMSG_SIZE, "out of host memory");
        return LT_ENOMEM;
    }
    enum lt_status st = add_region(e, *out, bytes, PAGE_LOCKED, msg);
    if (st != LT_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

static void dev_host_free(void *impl, void *ptr) {
    struct emu *e = impl;
    if (!ptr)
        return;
    char msg[LT_KMSG_SIZE];
    if (settle(e, msg) != LT_OK) /* as the CUDA plugin waits for the stream first */
        snprintf(e->sticky, sizeof e->sticky, "%s", msg);
    drop_region(e, ptr);
    free(ptr);
}

/* Why a copy's sides are not where its kind says (queued copies need page-locked host
 * sides), or NULL. */
static const char *misplaced(const struct emu *e, void *dst, const void *src, size_t bytes,
                             enum lt_copy_kind kind, int queued) {
    int dst_dev = in_device(e, dst, bytes), src_dev = in_device(e, src, bytes);
    const void *host = kind == LT_COPY_H2D ? src : dst;
    switch (kind) {
    case LT_COPY_H2D:
        if (!dst_dev || src_dev)
            return "a copy to the device whose destination is not device memory or whose "
                   "source is";
        break;
    case LT_COPY_D2H:
        if (!src_dev || dst_dev)
            return "a copy to the host whose source is not device memory or whose "
                   "destination is";
        break;
    case LT_COPY_D2D:
        if (!src_dev || !dst_dev)
            return "a device-to-device copy with a side outside device memory";
        return NULL;
    }
    if (queued && !find(e, host, bytes, PAGE_LOCKED))
        return "a queued copy whose host side is not page-locked memory";
    return NULL;
}

static enum lt_status check_copy(const struct emu *e, void *dst, const void *src, size_t bytes,
                                 enum lt_copy_kind kind, int queued, char *msg) {
    const char *why = bytes ? misplaced(e, dst, src, bytes, kind, queued) : NULL;
    if (why)
        return refuse(msg, why);
    if (e->recording)
        return refuse(msg, "a copy while a step is being captured");
    return LT_OK;
}

static enum lt_status dev_copy(void *impl, void *dst, const void *src, size_t bytes,
                               enum lt_copy_kind kind, char *msg) {
    struct emu *e = impl;
    enum lt_status st = check_copy(e, dst, src, bytes, kind, 0, msg);
    if (st == LT_OK && kind == LT_COPY_D2H) /* it waits for everything queued before it */
        st = settle(e, msg);
    if (st != LT_OK || !bytes)
        return st;
    access_device(e, 1);
    memmove(dst, src, bytes);
    access_device(e, 0);
    return LT_OK;
}

static enum lt_status dev_copy_async(void *impl, void *dst, const void *src, size_t bytes,
                                     enum lt_copy_kind kind, char *msg) {
    struct emu *e = impl;
    enum lt_status st = check_copy(e, dst, src, bytes, kind, kind != LT_COPY_D2D, msg);
    if (st != LT_OK || !bytes)
        return st;
    if (!grow((void **)&e->pending, &e->cap_pending, e->n_pending, sizeof *e->pending))
        return refuse(msg, "out of host memory");
    struct pending q = {kind == LT_COPY_D2H ? dst : (char *)src, bytes, NULL, 0};
    if (kind == LT_COPY_D2H && !(q.copy = malloc(bytes)))
        return refuse(msg, "out of host memory");
    access_device(e, 1);
    if (kind == LT_COPY_D2H) {
        memcpy(q.copy, src, bytes);
        memset(dst, 0xff, bytes); /* not there before the next sync */
    } else {
        memmove(dst, src, bytes);
        q.hash = hash(src, bytes);
    }
    access_device(e, 0);
    if (kind != LT_COPY_D2D)
        e->pending[e->n_pending++] = q;
    return LT_OK;
}

static enum lt_status zero_now(struct emu *e, void *ptr, size_t bytes) {
    access_device(e, 1);
    memset(ptr, 0, bytes);
    access_device(e, 0);
    return LT_OK;
}

static struct call *record(struct emu *e, char *msg) {
    struct graph *g = e->recording;
    if (!grow((void **)&g->calls, &g->cap, g->n, sizeof *g->calls)) {
        refuse(msg, "out of host memory");
        return NULL;
    }
    struct call *c = calloc(1, sizeof *c);
    if (!c)
        refuse(msg, "out of host memory");
    else
        g->calls[g->n++] = c;
    return c;
}

static enum lt_status dev_zero(void *impl, void *ptr, size_t bytes, char *msg) {
    struct emu *e = impl;
    if (!bytes)
        return LT_OK;
    if (!in_device(e, ptr, bytes))
        return refuse(msg, "zeroing memory that is not the device's");
    if (!e->recording)
        return zero_now(e, ptr, bytes);
    struct call *c = record(e, msg);
    if (!c)
        return LT_ENOMEM;
    c->zero = ptr;
    c->zero_bytes = bytes;
    return LT_OK;
}

static enum lt_status dev_sync(void *impl, char *msg) {
    return settle(impl, msg);
}

static void dev_memory(void *impl, size_t *free_bytes, size_t *total_bytes,
                       size_t *runtime_bytes) {
    const struct emu *e = impl;
    *total_bytes = e->total;
    *free_bytes = e->total - RUNTIME_BYTES - e->in_use;
    *runtime_bytes = RUNTIME_BYTES;
}

static void dev_set_flag(void *impl, int on) {
    (void)impl;
    (void)on;
}

/* ---- kernels --------------------------------------------------------------------------- */

static int view_on_device(const struct emu *e, const struct lt_kview *v) {
    return !v || !v->data ||
           in_device(e, v->data, (size_t)lt_kview_numel(v) * lt_dtype_bytes(v->dtype));
}

/* Why a kernel's arguments are not all device memory, or NULL. */
static const char *off_device(const struct emu *e, const struct lt_kargs *a) {
    for (int i = 0; i < a->n_in; i++)
        if (!view_on_device(e, a->in[i]) || !view_on_device(e, a->gin[i]))
            return "a kernel's input or its gradient is not in device memory";
    for (int i = 0; i < a->n_out; i++)
        if (!view_on_device(e, a->out[i]) || !view_on_device(e, a->gout[i]))
            return "a kernel's output or its gradient is not in device memory";
    if (a->workspace_size && !in_device(e, a->workspace, a->workspace_size))
        return "a kernel's workspace is not in device memory";
    if (!a->exec_dev || !in_device(e, a->exec_dev, sizeof *a->exec_dev))
        return "a kernel's step information is not in device memory";
    return NULL;
}

static enum lt_status call_now(struct emu *e, const struct node *nd, int backward,
                               const struct lt_kargs *a) {
    struct lt_kargs b = *a;
    b.impl = nd->impl;
    b.state = nd->state;
    access_device(e, 1);
    enum lt_status st = (backward ? nd->k->backward : nd->k->forward)(&b);
    access_device(e, 0);
    return st;
}

/* Keeps the call with copies of its views: a replay sees the pointers of the capture. */
static enum lt_status record_call(struct emu *e, const struct node *nd, int backward,
                                  const struct lt_kargs *a) {
    struct call *c = record(e, a->msg);
    if (!c)
        return LT_ENOMEM;
    c->nd = nd;
    c->backward = backward;
    c->a = *a;
    int v = 0;
    const struct lt_kview **lists[] = {c->a.in, c->a.gin, c->a.out, c->a.gout};
    int counts[] = {a->n_in, a->n_in, a->n_out, a->n_out};
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < counts[l]; i++)
            if (lists[l][i]) {
                c->views[v] = *lists[l][i];
                lists[l][i] = &c->views[v++];
            }
    return LT_OK;
}

static enum lt_status run_node(const struct lt_kargs *a, int backward) {
    struct emu *e = a->impl;
    const char *why = off_device(e, a);
    if (why)
        return refuse(a->msg, why);
    if (e->recording)
        return record_call(e, a->state, backward, a);
    return call_now(e, a->state, backward, a);
}

static enum lt_status node_forward(const struct lt_kargs *a) {
    return run_node(a, 0);
}

static enum lt_status node_backward(const struct lt_kargs *a) {
    return run_node(a, 1);
}

static enum lt_status prepare_node(enum lt_op op, const struct lt_kargs *a, int backward,
                                   void **state) {
    struct emu *e = a->impl;
    enum lt_dtype dt = a->in[0]->dtype;
    struct node *nd = calloc(1, sizeof *nd);
    if (!nd)
        return LT_ENOMEM;
    *nd = (struct node){&e->fast.kernels[op][dt], e->fast.impl, NULL};
    if (nd->k->prepare) {
        struct lt_kargs b = *a;
        b.impl = nd->impl;
        enum lt_status st = nd->k->prepare(&b, backward, &nd->state);
        /* the fused convolution and pool: the planner asks the prepare whether to fuse
         * (core/rewrite.c), so a declined pair is said so, and stays two ops as on the
         * CPU */
        if (st == LT_EUNSUPPORTED && op == LT_OP_CONV2D_MAX_POOL2D) {
            free(nd);
            return st;
        }
        if (st == LT_EUNSUPPORTED) { /* as the planner does on the CPU */
            *nd = (struct node){&e->ref.kernels[op][dt], e->ref.impl, NULL};
        } else if (st != LT_OK) {
            free(nd);
            return st;
        }
    }
    *state = nd;
    return LT_OK;
}

static void release_node(void *state) {
    struct node *nd = state;
    if (nd && nd->k->release)
        nd->k->release(nd->state);
    free(nd);
}

static size_t node_workspace(const struct lt_kargs *a, int backward) {
    const struct node *nd = a->state;
    if (!nd->k->workspace)
        return 0;
    struct lt_kargs b = *a;
    b.impl = nd->impl;
    b.state = nd->state;
    return nd->k->workspace(&b, backward);
}

/* prepare is the one entry that must know its op: the node it builds carries it on */
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state)                \
    static enum lt_status prepare_##ID(const struct lt_kargs *a, int backward, void **state) {    \
        return prepare_node(LT_OP_##ID, a, backward, state);                                       \
    }
#include "kernels/ops.def"
#undef LT_OP

static enum lt_status (*const prepares[LT_OP_COUNT])(const struct lt_kargs *, int, void **) = {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state) prepare_##ID,
#include "kernels/ops.def"
#undef LT_OP
};

/* ---- the optimizer's passes ------------------------------------------------------------ */

static struct emu *update_args(void *impl, const void *const *bufs, int n_bufs, int64_t n) {
    struct emu *e = impl;
    for (int i = 0; i < n_bufs; i++)
        if (bufs[i] && !in_device(e, bufs[i], (size_t)n * sizeof(float)) && !e->sticky[0])
            snprintf(e->sticky, sizeof e->sticky,
                     "emulated device: an optimizer pass was given memory that is not the "
                     "device's");
    return e;
}

static void grad_norm(void *impl, const float *g, int64_t n, float factor, double *sumsq,
                      int *finite) {
    struct emu *e = update_args(impl, (const void *[]){g}, 1, n);
    access_device(e, 1);
    e->fast.update.grad_norm(e->fast.impl, g, n, factor, sumsq, finite);
    access_device(e, 0);
}

static void sgd(void *impl, float *p, const float *g, float *m, int64_t n, float factor,
                float lr, float momentum, float dampening, float weight_decay, int nesterov,
                int first_step) {
    struct emu *e = update_args(impl, (const void *[]){p, g, m}, 3, n);
    access_device(e, 1);
    e->fast.update.sgd(e->fast.impl, p, g, m, n, factor, lr, momentum, dampening, weight_decay,
                       nesterov, first_step);
    access_device(e, 0);
}

static void adamw(void *impl, float *p, const float *g, float *m, float *v, int64_t n,
                  float factor, float lr, float beta1, float beta2, float eps,
                  float weight_decay, int64_t step) {
    struct emu *e = update_args(impl, (const void *[]){p, g, m, v}, 4, n);
    access_device(e, 1);
    e->fast.update.adamw(e->fast.impl, p, g, m, v, n, factor, lr, beta1, beta2, eps,
                         weight_decay, step);
    access_device(e, 0);
}

/* ---- step capture ---------------------------------------------------------------------- */

static enum lt_status capture_begin(void *impl, char *msg) {
    struct emu *e = impl;
    if (e->recording)
        return refuse(msg, "a capture inside a capture");
    if (!(e->recording = calloc(1, sizeof *e->recording)))
        return refuse(msg, "out of host memory");
    return LT_OK;
}

static enum lt_status capture_end(void *impl, void **graph, char *msg) {
    struct emu *e = impl;
    *graph = e->recording;
    e->recording = NULL;
    return *graph ? LT_OK : refuse(msg, "no capture was begun");
}

static enum lt_status graph_launch(void *impl, void *graph, char *msg) {
    struct emu *e = impl;
    const struct graph *g = graph;
    for (int i = 0; i < g->n; i++) {
        const struct call *c = g->calls[i];
        enum lt_status st = c->nd ? call_now(e, c->nd, c->backward, &c->a)
                                  : zero_now(e, c->zero, c->zero_bytes);
        if (st != LT_OK) {
            snprintf(msg, LT_KMSG_SIZE, "%s",
                     c->a.msg && c->a.msg[0] ? c->a.msg : "a kernel failed");
            return st;
        }
    }
    return LT_OK;
}

static void graph_free(void *impl, void *graph) {
    (void)impl;
    struct graph *g = graph;
    for (int i = 0; g && i < g->n; i++)
        free(g->calls[i]);
    if (g)
        free(g->calls);
    free(g);
}

/* ---- collectives ----------------------------------------------------------------------- */

#ifdef LT_MPI
/* Why MPI cannot carry a collective now, or NULL. */
static const char *no_mpi(void) {
    int on = 0, off = 0;
    MPI_Initialized(&on);
    MPI_Finalized(&off);
    return on && !off ? NULL
                      : "MPI is not running in this process (collectives need the ranks of "
                        "`mpirun ... lutra`)";
}

static enum lt_status comm_id(void *impl, unsigned char id[LT_COMM_ID_BYTES], char *msg) {
    (void)impl;
    const char *why = no_mpi();
    if (why)
        return refuse(msg, why);
    /* opaque to the core, which only carries it to the other ranks: MPI needs no id */
    memset(id, 0, LT_COMM_ID_BYTES);
    snprintf((char *)id, LT_COMM_ID_BYTES, "emulated %ld %lld", (long)getpid(),
             (long long)time(NULL));
    return LT_OK;
}

static enum lt_status comm_init(void *impl, const unsigned char id[LT_COMM_ID_BYTES], int rank,
                                int size, char *msg) {
    struct emu *e = impl;
    (void)id;
    const char *why = no_mpi();
    if (why)
        return refuse(msg, why);
    if (e->comm_size) {
        snprintf(msg, LT_KMSG_SIZE,
                 "emulated device: this device has already joined a communicator");
        return LT_EINVAL;
    }
    int world_rank, world_size;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* the sums run on MPI's world: the core's ranks must be its ranks */
    if (size < 1 || rank < 0 || rank >= size || rank != world_rank || size != world_size) {
        snprintf(msg, LT_KMSG_SIZE,
                 "emulated device: rank %d of %d is not this process's place in MPI's world "
                 "(rank %d of %d)",
                 rank, size, world_rank, world_size);
        return LT_EINVAL;
    }
    e->comm_size = size;
    return LT_OK;
}

/* The sum is done when this returns: the emulation does not model a collective's stream
 * overlapping the kernels', so what comm_wait would wait for is already there. */
static enum lt_status comm_sum(void *impl, float *ptr, int64_t n, char *msg) {
    struct emu *e = impl;
    const char *why = no_mpi();
    if (why)
        return refuse(msg, why);
    if (!e->comm_size)
        return refuse(msg, "a sum over ranks before this device joined a communicator "
                           "(comm_init)");
    if (n <= 0)
        return LT_OK;
    if (!in_device(e, ptr, (size_t)n * sizeof(float)))
        return refuse(msg, "a sum over ranks of memory that is not the device's");
    if (e->recording) /* it would run now, not at the graph's launch */
        return refuse(msg, "a sum over ranks while a step is being captured");
    int rc = MPI_SUCCESS;
    access_device(e, 1);
    for (int64_t done = 0; done < n && rc == MPI_SUCCESS;) {
        int count = n - done > (1 << 30) ? 1 << 30 : (int)(n - done); /* MPI counts in int */
        rc = MPI_Allreduce(MPI_IN_PLACE, ptr + done, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        done += count;
    }
    access_device(e, 0);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        snprintf(msg, LT_KMSG_SIZE, "emulated device: the all-reduce: MPI %.*s", len, text);
        return LT_ECUDA;
    }
    return LT_OK;
}

static enum lt_status comm_wait(void *impl, double timeout_s, char *msg) {
    const struct emu *e = impl;
    (void)timeout_s;
    if (!e->comm_size)
        return refuse(msg, "waiting for sums over ranks before this device joined a "
                           "communicator (comm_init)");
    return LT_OK;
}
#endif

/* ---- the entry point ------------------------------------------------------------------- */

static void release(void *impl) {
    struct emu *e = impl;
    char msg[LT_KMSG_SIZE];
    settle(e, msg);
    for (int i = 0; i < e->n_regions; i++)
        if (e->regions[i].kind == DEVICE)
            munmap(e->regions[i].p, e->regions[i].bytes);
    graph_free(e, e->recording);
    lt_backend_release(&e->fast);
    lt_backend_release(&e->ref);
    free(e->regions);
    free(e->pending);
    free(e);
}

__attribute__((visibility("default"))) enum lt_status
lt_cuda_backend_init(struct lt_backend *b, int device, unsigned abi, char *msg);

enum lt_status lt_cuda_backend_init(struct lt_backend *b, int device, unsigned abi, char *msg) {
    if (abi != LT_PLUGIN_ABI) {
        snprintf(msg, LT_KMSG_SIZE, "the emulated device was built for another version of lutra");
        return LT_EUNSUPPORTED;
    }
    const char *count = getenv("LUTRA_EMULATED_DEVICE_COUNT");
    char *end = NULL;
    long cards = count && *count ? strtol(count, &end, 10) : 1;
    if ((end && *end) || cards < 1 || cards > 64) {
        snprintf(msg, LT_KMSG_SIZE,
                 "LUTRA_EMULATED_DEVICE_COUNT must be a whole number in [1, 64], got '%s'", count);
        return LT_EUNSUPPORTED;
    }
    if (device < 0 || device >= cards) {
        snprintf(msg, LT_KMSG_SIZE,
                 "no CUDA device %d (the emulator has %ld; LUTRA_EMULATED_DEVICE_COUNT sets "
                 "how many)",
                 device, cards);
        return LT_EUNSUPPORTED;
    }
    memset(b, 0, sizeof *b);
    struct emu *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(msg, LT_KMSG_SIZE, "out of memory");
        return LT_ENOMEM;
    }
    enum lt_status st = lt_cpu_backend_init(&e->fast, msg);
    if (st != LT_OK) {
        free(e);
        return st;
    }
    lt_cpu_reference_init(&e->ref);
    const char *mib = getenv("LUTRA_EMULATED_DEVICE_MIB");
    end = NULL;
    long size = mib && *mib ? strtol(mib, &end, 10) : 8192;
    if ((end && *end) || size < 32 || size > (1L << 24)) {
        snprintf(msg, LT_KMSG_SIZE,
                 "LUTRA_EMULATED_DEVICE_MIB must be a whole number of MiB in [32, 16777216] "
                 "(the runtime takes 16), got '%s'",
                 mib);
        lt_backend_release(&e->fast);
        lt_backend_release(&e->ref);
        free(e);
        return LT_EUNSUPPORTED;
    }
    e->total = (size_t)size << 20;
    b->name = "cuda";
    b->impl = e;
    b->release_impl = release;
    for (int op = 0; op < LT_OP_COUNT; op++)
        for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
            const struct lt_kernel *k = &e->fast.kernels[op][dt];
            if (!k->forward)
                continue;
            /* a node may fall back to the reference kernel (prepare_node); takes_blocked
             * NULL: plain layouts, as a device's */
            const struct lt_kernel *r = &e->ref.kernels[op][dt];
            b->kernels[op][dt] = (struct lt_kernel){
                .forward = node_forward,
                .backward = k->backward ? node_backward : NULL,
                .prepare = prepares[op],
                .release = release_node,
                .workspace = node_workspace,
                .impl_name = k->impl_name,
                .half_gradients = k->half_gradients && (!k->prepare || r->half_gradients),
                .f32_gin = k->f32_gin & (k->prepare ? r->f32_gin : ~0u)};
        }
    b->update = (struct lt_update_kernels){grad_norm, sgd, adamw};
    b->dev = (struct lt_device_ops){
        .alloc = dev_alloc,           .free = dev_free,
        .copy = dev_copy,             .zero = dev_zero,
        .host_alloc = dev_host_alloc, .host_free = dev_host_free,
        .copy_async = dev_copy_async, .sync = dev_sync,
        .memory = dev_memory,         .set_tf32 = dev_set_flag,
        .set_deterministic = dev_set_flag,
        .capture_begin = capture_begin, .capture_end = capture_end,
        .graph_launch = graph_launch, .graph_free = graph_free,
#ifdef LT_MPI
        .comm_id = comm_id,           .comm_init = comm_init,
        .comm_sum = comm_sum,         .comm_wait = comm_wait,
#endif
    };
    snprintf(b->info, sizeof b->info,
             "cuda:%d emulated on the CPU (a test backend: host memory, CPU kernels), %zu MiB",
             device, e->total >> 20);
    return LT_OK;
}
