/* The gradient all-reduce of a data-parallel step, in buckets that start as the backward
 * finishes them (core/grad_sync.h). */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/dist.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/grad_sync.h"

struct bucket {
    int64_t lo, hi; /* floats [lo, hi) of the gradient buffer */
};

/* The node after which each bucket is final, for one executor (-1: before the first). */
struct readiness {
    const struct lt_exec *ex;
    int *node;
};

#define MAX_EXECS 16

struct lt_grad_sync {
    struct lt_ctx *ctx;
    const struct lt_backend *be;
    int on_device;
    float *grads;
    struct bucket *buckets; /* from the end of the buffer: the backward's order */
    int n_buckets;
    struct readiness ready[MAX_EXECS];
    int n_ready;
    /* the step in flight */
    struct lt_exec *ex; /* hooked, or NULL */
    const int *ex_ready;
    int next;  /* the first bucket not started */
    int early; /* buckets started while the backward still ran */
    struct lt_dist_pending pending;
};

static enum lt_status start_bucket(struct lt_grad_sync *s, int b) {
    const struct bucket *k = &s->buckets[b];
    if (!s->on_device) {
        if (s->pending.n == LT_DIST_MAX_PENDING) { /* a very large model: let the first land */
            enum lt_status st = lt_dist_wait(s->ctx, &s->pending, "the gradient all-reduce");
            if (st != LT_OK)
                return st;
        }
        return lt_dist_start_sum(s->ctx, s->grads + k->lo, k->hi - k->lo, &s->pending);
    }
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = s->be->dev.comm_sum(s->be->impl, s->grads + k->lo, k->hi - k->lo, msg);
    return st == LT_OK ? LT_OK : lt_fail(s->ctx, st, "gradient all-reduce: %s", msg);
}

/* Starts, in order, every bucket final after node n. */
static enum lt_status start_ready(struct lt_grad_sync *s, int n) {
    while (s->next < s->n_buckets && s->ex_ready && s->ex_ready[s->next] <= n) {
        enum lt_status st = start_bucket(s, s->next);
        if (st != LT_OK)
            return st;
        s->next++;
    }
    return LT_OK;
}

static enum lt_status after_node(void *user, int n) {
    struct lt_grad_sync *s = user;
    if (!s->on_device)
        lt_dist_progress(&s->pending);
    int before = s->next;
    enum lt_status st = start_ready(s, n);
    if (n < s->ex->plan->n_nodes - 1) /* nodes still to run: these overlap them */
        s->early += s->next - before;
    return st;
}

/* Cuts [0, total) into buckets (at most n_params, at least one when total > 0), from
 * the last parameter back: a bucket closes once it holds `bytes`; the first also takes
 * the buffer's end, the last its start. Returns how many. */
static int cut(const int64_t *offsets, int n_params, int64_t total, size_t bytes,
               struct bucket *out) {
    int64_t cap = (int64_t)(bytes / sizeof(float)), hi = total;
    int n = 0;
    for (int i = n_params - 1; i >= 0 && hi > 0; i--)
        if (hi - offsets[i] >= cap || i == 0) {
            int64_t lo = i == 0 ? 0 : offsets[i];
            out[n++] = (struct bucket){lo, hi};
            hi = lo;
        }
    if (hi > 0) /* no parameters: one bucket of everything */
        out[n++] = (struct bucket){0, hi};
    return n;
}

static int by_offset(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The buckets of plan p's gradient buffer (malloc'd into *out); -1 when out of memory. */
static int plan_buckets(const struct lt_plan *p, size_t bytes, struct bucket **out) {
    int n_params = 0;
    for (int b = 0; b < p->n_bufs; b++)
        n_params += p->bufs[b].kind == LT_BUF_PARAM;
    int64_t *offsets = malloc(((size_t)n_params + 1) * sizeof *offsets);
    struct bucket *buckets = malloc(((size_t)n_params + 1) * sizeof *buckets);
    int n = -1;
    if (offsets && buckets) {
        int k = 0;
        for (int b = 0; b < p->n_bufs; b++)
            if (p->bufs[b].kind == LT_BUF_PARAM)
                offsets[k++] = (int64_t)(p->bufs[b].offset / sizeof(float));
        qsort(offsets, (size_t)k, sizeof *offsets, by_offset);
        n = cut(offsets, k, (int64_t)(p->bytes[LT_MEM_GRADS] / sizeof(float)),
                bytes < 4096 ? 4096 : bytes, buckets);
    }
    free(offsets);
    if (n < 0) {
        free(buckets);
        buckets = NULL;
    }
    *out = buckets;
    return n;
}

int lt_plan_grad_buckets(const struct lt_plan *p, size_t bytes, size_t *largest) {
    struct bucket *buckets;
    int n = plan_buckets(p, bytes, &buckets);
    size_t most = 0;
    for (int i = 0; i < n; i++) {
        size_t b = (size_t)(buckets[i].hi - buckets[i].lo) * sizeof(float);
        most = b > most ? b : most;
    }
    if (largest)
        *largest = most;
    free(buckets);
    return n;
}

/* The device's communicator: rank 0 makes the job's id, MPI takes it to the others. */
static enum lt_status join_device(struct lt_ctx *ctx, const struct lt_backend *be) {
    if (ctx->dist_device_comm)
        return LT_OK;
    if (!be->dev.comm_init)
        return lt_fail(ctx, LT_EUNSUPPORTED, "data parallel on %s: its backend has no "
                       "collectives (the CUDA plugin built without NCCL?)", ctx->device);
    unsigned char id[LT_COMM_ID_BYTES] = {0};
    char msg[LT_KMSG_SIZE] = "";
    enum lt_status st = LT_OK;
    if (lt_dist_rank(ctx) == 0 && (st = be->dev.comm_id(be->impl, id, msg)) != LT_OK)
        return lt_fail(ctx, st, "rank 0: %s", msg);
    if ((st = lt_dist_broadcast(ctx, id, sizeof id, 0, "the NCCL id's broadcast")) != LT_OK)
        return st;
    if ((st = be->dev.comm_init(be->impl, id, lt_dist_rank(ctx), lt_dist_size(ctx), msg)) !=
        LT_OK)
        return lt_fail(ctx, st, "rank %d: %s", lt_dist_rank(ctx), msg);
    ctx->dist_device_comm = 1;
    return LT_OK;
}

enum lt_status lt_grad_sync_new(struct lt_ctx *ctx, const struct lt_plan *p, float *grads,
                                struct lt_grad_sync **out) {
    int on_device = p->be->dev.alloc != NULL;
    enum lt_status st = on_device ? join_device(ctx, p->be) : LT_OK;
    if (st != LT_OK)
        return st;
    struct lt_grad_sync *s = lt_zalloc(ctx, sizeof *s);
    if (!s)
        return LT_ENOMEM;
    s->n_buckets = plan_buckets(p, lt_dist_bucket_bytes(ctx), &s->buckets);
    if (s->n_buckets < 0) {
        free(s);
        return lt_fail(ctx, LT_ENOMEM, "gradient buckets: out of memory");
    }
    s->ctx = ctx;
    s->be = p->be;
    s->on_device = on_device;
    s->grads = grads;
    *out = s;
    return LT_OK;
}

void lt_grad_sync_free(struct lt_grad_sync *s) {
    if (!s)
        return;
    if (s->pending.n)
        lt_dist_wait(s->ctx, &s->pending, "the gradient all-reduce");
    for (int i = 0; i < s->n_ready; i++)
        free(s->ready[i].node);
    free(s->buckets);
    free(s);
}

/* For each bucket, the last node of ex's plan that writes a gradient inside it. */
static const int *readiness_of(struct lt_grad_sync *s, const struct lt_exec *ex) {
    for (int i = 0; i < s->n_ready; i++)
        if (s->ready[i].ex == ex)
            return s->ready[i].node;
    if (s->n_ready == MAX_EXECS)
        return NULL;
    int *node = malloc(((size_t)s->n_buckets + 1) * sizeof *node);
    if (!node)
        return NULL;
    for (int b = 0; b < s->n_buckets; b++)
        node[b] = -1;
    const struct lt_plan *p = ex->plan;
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        for (int i = 0; i < pn->n_in; i++) {
            if (pn->gin[i] < 0 || p->bufs[pn->gin[i]].kind != LT_BUF_GRAD)
                continue;
            const struct lt_buf *g = &p->bufs[pn->gin[i]];
            int64_t lo = (int64_t)(g->offset / sizeof(float)), hi = lo + lt_kview_numel(&g->view);
            for (int b = 0; b < s->n_buckets; b++)
                if (s->buckets[b].lo < hi && lo < s->buckets[b].hi)
                    node[b] = n;
        }
    }
    s->ready[s->n_ready++] = (struct readiness){ex, node};
    return node;
}

enum lt_status lt_grad_sync_begin(struct lt_grad_sync *s, struct lt_exec *ex) {
    s->next = 0;
    s->ex_ready = readiness_of(s, ex);
    if (!s->ex_ready) /* no table: every bucket starts at the end */
        return LT_OK;
    s->ex = ex;
    ex->after_node = after_node;
    ex->after_node_user = s;
    enum lt_status st = start_ready(s, -1);
    s->early = s->next;
    return st;
}

static void unhook(struct lt_grad_sync *s) {
    if (s->ex) {
        s->ex->after_node = NULL;
        s->ex->after_node_user = NULL;
        s->ex = NULL;
    }
    s->ex_ready = NULL;
}

void lt_grad_sync_abandon(struct lt_grad_sync *s) {
    unhook(s);
    s->next = 0;
    s->early = 0;
}

enum lt_status lt_grad_sync_finish(struct lt_grad_sync *s, struct lt_step_result *res) {
    double t0 = lt_clock();
    res->comm_buckets = s->n_buckets;
    res->comm_early = s->early;
    s->early = 0;
    unhook(s);
    enum lt_status st = LT_OK;
    while (st == LT_OK && s->next < s->n_buckets)
        st = start_bucket(s, s->next++);
    s->next = 0; /* the next step starts from the first bucket, whether it hooks or not */
    enum lt_status waited;
    if (s->on_device) {
        char msg[LT_KMSG_SIZE] = "";
        waited = s->be->dev.comm_wait(s->be->impl, lt_dist_timeout(s->ctx), msg);
        if (waited != LT_OK)
            waited = lt_fail(s->ctx, waited, "rank %d: the gradient all-reduce: %s",
                             lt_dist_rank(s->ctx), msg);
    } else {
        waited = lt_dist_wait(s->ctx, &s->pending, "the gradient all-reduce");
    }
    res->comm_wait_seconds = lt_clock() - t0;
    return st != LT_OK ? st : waited;
}
