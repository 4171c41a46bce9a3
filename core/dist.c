/* Data-parallel ranks over MPI: the process's world (started by an MPI launcher, joined
 * by contexts), sums and broadcasts with a timeout, and the end of a rank's part in the
 * job. Built without MPI (LT_MPI undefined), a process is a world of one, and one started
 * by a launcher is told how to build lutra with MPI instead of training N copies side by
 * side. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef LT_MPI
#include <mpi.h>
#endif

#include "core/ctx.h"
#include "core/dist.h"
#include "core/fail.h"

#define DEFAULT_TIMEOUT 600.0
#define DEFAULT_BUCKET (1u << 20)

/* The process's world: MPI is one per process, whichever contexts join it. */
static struct {
    int up;       /* MPI is running: this process is a rank of a launched job */
    int started;  /* MPI_Init done (by lutra) */
    int ended;    /* MPI_Finalize done */
    int rank, size, local_rank, local_size;
} world = {0, 0, 0, 0, 1, 0, 1};

/* An environment variable's non-negative integer, or -1. */
static int env_int(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n >= 0 && n < (1L << 30) ? (int)n : -1;
}

int lt_dist_launched(int *rank, int *size) {
    /* Open MPI, then the PMI/PMIx variables other launchers (MPICH's hydra, Slurm) set */
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    for (int i = 0; i < 3; i++) {
        int s = env_int(sizes[i]), r = env_int(ranks[i]);
        if (s >= 0 || r >= 0) {
            if (rank)
                *rank = r;
            if (size)
                *size = s;
            return 1;
        }
    }
    return 0;
}

int lt_dist_built(void) {
#ifdef LT_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef LT_MPI
_Static_assert(sizeof(MPI_Request) <= LT_DIST_REQUEST_BYTES, "an MPI_Request fits a slot");

/* Slot i of p as the MPI_Request it holds. */
static MPI_Request *request(struct lt_dist_pending *p, int i) {
    return (MPI_Request *)(void *)p->requests[i];
}

/* MPI's words for an error code. */
static enum lt_status mpi_fail(struct lt_ctx *ctx, int rc, const char *what) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    return lt_fail(ctx, LT_EIO, "rank %d: %s failed: %s (a rank of the job has gone, or its "
                   "host is unreachable)", world.rank, what, text);
}

static enum lt_status start_mpi(struct lt_ctx *ctx) {
    if (world.up) /* another context joined first: the world is known */
        return LT_OK;
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return lt_fail(ctx, LT_EIO, "dist: MPI_Init failed");
        world.started = 1;
        atexit(lt_dist_finalize);
    }
    /* errors come back as codes, so that a message names the collective and the rank */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    world.up = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world.rank, MPI_INFO_NULL,
                            &local) == MPI_SUCCESS) {
        MPI_Comm_rank(local, &world.local_rank);
        MPI_Comm_size(local, &world.local_size);
        MPI_Comm_free(&local);
    }
    return LT_OK;
}
#endif

enum lt_status lt_dist_join(struct lt_ctx *ctx) {
    int rank, size;
    if (!lt_dist_launched(&rank, &size)) {
        ctx->dist_joined = 1; /* a world of one */
        return LT_OK;
    }
#ifdef LT_MPI
    enum lt_status st = start_mpi(ctx);
    if (st != LT_OK)
        return st;
    ctx->dist_joined = 1;
    return LT_OK;
#else
    return lt_fail(ctx, LT_EUNSUPPORTED,
                   "started by an MPI launcher (rank %d of %d), but this lutra was built "
                   "without MPI: it would train %d unconnected copies. Install Debian's "
                   "libopenmpi-dev and openmpi-bin and rebuild (make MPI=1)",
                   rank, size, size > 0 ? size : 2);
#endif
}

/* A launched job of one rank is active too: mpirun -np 1 runs the collectives (NCCL's on
 * a single GPU, as a smoke test) and must train as a lone process does. */
int lt_dist_active(const struct lt_ctx *ctx) {
    return ctx->dist_joined && world.up;
}

int lt_dist_rank(const struct lt_ctx *ctx) {
    return ctx->dist_joined ? world.rank : 0;
}

int lt_dist_size(const struct lt_ctx *ctx) {
    return ctx->dist_joined ? world.size : 1;
}

int lt_dist_local_rank(const struct lt_ctx *ctx) {
    return ctx->dist_joined ? world.local_rank : 0;
}

int lt_dist_local_size(const struct lt_ctx *ctx) {
    return ctx->dist_joined ? world.local_size : 1;
}

enum lt_status lt_dist_set_timeout(struct lt_ctx *ctx, double seconds) {
    if (!(seconds > 0) || seconds > 1e9)
        return lt_fail(ctx, LT_EINVAL, "dist: the timeout must be a number of seconds > 0, "
                       "got %g", seconds);
    ctx->dist_timeout = seconds;
    return LT_OK;
}

double lt_dist_timeout(const struct lt_ctx *ctx) {
    return ctx->dist_timeout > 0 ? ctx->dist_timeout : DEFAULT_TIMEOUT;
}

enum lt_status lt_dist_set_bucket_bytes(struct lt_ctx *ctx, size_t bytes) {
    if (bytes < 4096)
        return lt_fail(ctx, LT_EINVAL, "dist: a gradient bucket must be at least 4096 bytes, "
                       "got %zu", bytes);
    ctx->dist_bucket_bytes = bytes;
    return LT_OK;
}

size_t lt_dist_bucket_bytes(const struct lt_ctx *ctx) {
    return ctx->dist_bucket_bytes ? ctx->dist_bucket_bytes : DEFAULT_BUCKET;
}

enum lt_status lt_dist_start_sum(struct lt_ctx *ctx, float *buf, int64_t n,
                                 struct lt_dist_pending *p) {
#ifdef LT_MPI
    if (p->n == LT_DIST_MAX_PENDING)
        return lt_fail(ctx, LT_EINVAL, "dist: more than %d all-reduces in flight",
                       LT_DIST_MAX_PENDING);
    /* MPI counts in int: a bucket larger than that goes in pieces (never in practice) */
    int count = n > (1 << 30) ? (1 << 30) : (int)n;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                            request(p, p->n));
    if (rc != MPI_SUCCESS)
        return mpi_fail(ctx, rc, "the gradient all-reduce");
    p->n++;
    return count < n ? lt_dist_start_sum(ctx, buf + count, n - count, p) : LT_OK;
#else
    (void)buf;
    (void)n;
    (void)p;
    return lt_fail(ctx, LT_EUNSUPPORTED, "dist: lutra was built without MPI");
#endif
}

void lt_dist_progress(struct lt_dist_pending *p) {
#ifdef LT_MPI
    for (int i = 0; i < p->n; i++) {
        int done = 0;
        MPI_Test(request(p, i), &done, MPI_STATUS_IGNORE);
        if (!done)
            break; /* in order: the later ones wait behind this one anyway */
    }
#else
    (void)p;
#endif
}

enum lt_status lt_dist_wait(struct lt_ctx *ctx, struct lt_dist_pending *p, const char *what) {
    enum lt_status st = LT_OK;
#ifdef LT_MPI
    double timeout = lt_dist_timeout(ctx), deadline = lt_clock() + timeout;
    long spins = 0;
    for (int i = 0; i < p->n && st == LT_OK;) {
        int done = 0, rc = MPI_Test(request(p, i), &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            st = mpi_fail(ctx, rc, what);
        } else if (done) {
            i++;
        } else if (lt_clock() > deadline) {
            st = lt_fail(ctx, LT_EIO, "rank %d: %s: the other ranks did not answer within "
                         "%g s (dist.timeout): one has stopped or hangs, or its host is "
                         "unreachable; ending the job", world.rank, what, timeout);
        } else if (++spins > 2000) { /* a long wait: yield the core to the ranks we wait for */
            struct timespec ns = {0, 100000};
            nanosleep(&ns, NULL);
        }
    }
#else
    (void)ctx;
    (void)what;
#endif
    p->n = 0; /* after a failure the job ends: what is still in flight is left to it */
    return st;
}

/* v over every rank, in place, by op (MPI_SUM or MPI_MAX, as an int: no MPI type in the
 * signature), waiting at most the timeout. */
static enum lt_status reduce_doubles(struct lt_ctx *ctx, double *v, int n, int max,
                                     const char *what) {
    if (!lt_dist_active(ctx) || n <= 0)
        return LT_OK;
#ifdef LT_MPI
    struct lt_dist_pending p = {0};
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, max ? MPI_MAX : MPI_SUM,
                            MPI_COMM_WORLD, request(&p, 0));
    if (rc != MPI_SUCCESS)
        return mpi_fail(ctx, rc, what);
    p.n = 1;
    return lt_dist_wait(ctx, &p, what);
#else
    (void)v;
    (void)max;
    (void)what;
    return LT_OK;
#endif
}

enum lt_status lt_dist_sum(struct lt_ctx *ctx, double *v, int n, const char *what) {
    return reduce_doubles(ctx, v, n, 0, what);
}

enum lt_status lt_dist_max(struct lt_ctx *ctx, double *v, int n, const char *what) {
    return reduce_doubles(ctx, v, n, 1, what);
}

enum lt_status lt_dist_broadcast(struct lt_ctx *ctx, void *buf, size_t bytes, int root,
                                 const char *what) {
    if (!lt_dist_active(ctx) || bytes == 0)
        return LT_OK;
    if (root < 0 || root >= world.size)
        return lt_fail(ctx, LT_EINVAL, "%s: root %d is not a rank of %d", what, root, world.size);
#ifdef LT_MPI
    struct lt_dist_pending p = {0};
    for (size_t off = 0; off < bytes;) {
        size_t n = bytes - off > (1u << 30) ? (1u << 30) : bytes - off;
        int rc = MPI_Ibcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_WORLD,
                            request(&p, p.n));
        if (rc != MPI_SUCCESS) {
            lt_dist_wait(ctx, &p, what);
            return mpi_fail(ctx, rc, what);
        }
        p.n++;
        off += n;
        if (p.n == LT_DIST_MAX_PENDING || off == bytes) {
            enum lt_status st = lt_dist_wait(ctx, &p, what);
            if (st != LT_OK)
                return st;
        }
    }
    return LT_OK;
#else
    (void)buf;
    return LT_OK;
#endif
}

void lt_dist_finalize(void) {
#ifdef LT_MPI
    if (world.started && !world.ended) {
        world.ended = 1;
        MPI_Finalize();
    }
#endif
}

void lt_dist_abort(int code) {
#ifdef LT_MPI
    if (world.up && !world.ended) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code); /* the launcher names this rank and ends the others */
    }
#endif
    (void)code;
}
