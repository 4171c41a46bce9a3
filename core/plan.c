/* The planner: from a graph to the exact list of buffers and nodes a step runs, each
 * buffer with its memory category and offset. It runs the passes (graph -> graph), lowers
 * what they made (core/plan_build.c), binds the kernels, packs the arenas by liveness and
 * checks the limit. Planning computes nothing and allocates only bookkeeping; the
 * executor allocates exactly the bytes reported here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/ops/ops.h"
#include "core/optim.h"
#include "core/plan.h"

void lt_plan_shape_args(const struct lt_plan *p, const struct lt_pnode *pn, struct lt_kargs *a) {
    memset(a, 0, sizeof *a);
    a->attrs = pn->attrs;
    a->n_in = pn->n_in;
    a->n_out = pn->n_out;
    for (int i = 0; i < pn->n_in; i++) {
        a->in[i] = &p->bufs[pn->in[i]].view;
        a->gin[i] = pn->gin[i] >= 0 ? &p->bufs[pn->gin[i]].view : NULL;
    }
    for (int i = 0; i < pn->n_out; i++) {
        a->out[i] = &p->bufs[pn->out[i]].view;
        a->gout[i] = pn->gout[i] >= 0 ? &p->bufs[pn->gout[i]].view : NULL;
    }
    a->accumulate = pn->accumulate;
    a->impl = p->be->impl;
    a->blocked = pn->blocked;
}

/* Looks up each node's kernel, lets it prepare (library primitives are created here,
 * never inside a step) and asks for its workspace. A fast kernel that declines the
 * shapes leaves the node to the reference kernel. */
static enum lt_status bind_kernels(struct lt_plan *p) {
    for (int n = 0; n < p->n_nodes; n++) {
        struct lt_pnode *pn = &p->nodes[n];
        enum lt_dtype dt = p->bufs[pn->in[0]].view.dtype;
        const struct lt_kernel *k = &p->be->kernels[pn->op][dt];
        const char *name = lt_op_descs[pn->op].name;
        if (!k->forward)
            return lt_fail(p->ctx, LT_EUNSUPPORTED, "%s has no %s kernel for %s", name,
                           p->be->name, lt_dtype_name(dt));
        if (pn->backward && !k->backward)
            return lt_fail(p->ctx, LT_EUNSUPPORTED, "%s has no %s backward kernel for %s", name,
                           p->be->name, lt_dtype_name(dt));
        struct lt_kargs a;
        lt_plan_shape_args(p, pn, &a);
        if (k->prepare) {
            char msg[LT_KMSG_SIZE] = "";
            a.msg = msg;
            enum lt_status st = k->prepare(&a, pn->backward, &pn->state);
            /* the reference takes a declined node, but only with plain tensors (a kernel
             * whose takes_blocked accepted the node's layouts prepares for them) */
            if (st == LT_EUNSUPPORTED && p->be == &p->ctx->cpu && !pn->blocked) {
                k = &p->ctx->ref.kernels[pn->op][dt];
                pn->state = NULL;
            } else if (st != LT_OK) {
                return lt_fail(p->ctx, st, "%s: preparing the kernel%s: %s", name,
                               pn->blocked ? " for blocked tensors" : "",
                               msg[0] ? msg : "failed");
            }
        }
        pn->kernel = k;
        a.state = pn->state;
        if (k->workspace) {
            pn->workspace = lt_align(k->workspace(&a, pn->backward));
            if (pn->workspace > p->bytes[LT_MEM_WORKSPACE])
                p->bytes[LT_MEM_WORKSPACE] = pn->workspace;
        }
    }
    return LT_OK;
}

static void touch(struct lt_plan *p, int b, int t) {
    if (b < 0)
        return;
    struct lt_buf *buf = &p->bufs[b];
    if (buf->first < 0 || t < buf->first)
        buf->first = t;
    if (t > buf->last)
        buf->last = t;
}

/* Liveness, and which forward tensors a backward keeps alive (activations). */
static void liveness(struct lt_plan *p) {
    for (int t = 0; t < p->n_nodes; t++) {
        struct lt_pnode *pn = &p->nodes[t];
        unsigned reads = pn->backward ? lt_op_descs[pn->op].backward_reads : ~0u;
        for (int i = 0; i < pn->n_in; i++)
            if (reads & LT_IN(i))
                touch(p, pn->in[i], t);
        for (int k = 0; k < pn->n_out; k++)
            if ((!pn->backward || (reads & LT_OUT(k))) && !(pn->unread & LT_OUT(k)))
                touch(p, pn->out[k], t);
        for (int i = 0; i < pn->n_in; i++)
            touch(p, pn->gin[i], t);
        for (int k = 0; k < pn->n_out; k++)
            touch(p, pn->gout[k], t);
        if (!pn->backward && !pn->recompute)
            continue;
        /* what a backward reads of the forward, and what a recomputation reads of it (the
         * segment's boundary), is kept from the forward: activations */
        for (int i = 0; i < pn->n_in; i++)
            if ((reads & LT_IN(i)) && p->bufs[pn->in[i]].cat == LT_MEM_TEMPORARIES &&
                !(pn->recompute && p->bufs[pn->in[i]].recomputed))
                p->bufs[pn->in[i]].cat = LT_MEM_ACTIVATIONS;
        if (!pn->backward)
            continue;
        for (int k = 0; k < pn->n_out; k++)
            if ((reads & LT_OUT(k)) && p->bufs[pn->out[k]].cat == LT_MEM_TEMPORARIES)
                p->bufs[pn->out[k]].cat = LT_MEM_ACTIVATIONS;
    }
    for (int b = 0; b < p->n_bufs; b++) {
        if (p->bufs[b].keep)
            p->bufs[b].last = p->n_nodes;
        if (p->bufs[b].cat == LT_MEM_PARAM_COPIES && p->bufs[b].first >= 0)
            p->bufs[b].first = 0;
    }
    /* an alias's storage is its root's: live while either is, kept for the backward
     * when the alias is */
    for (int b = 0; b < p->n_bufs; b++) {
        struct lt_buf *a = &p->bufs[b];
        if (a->alias < 0 || a->first < 0)
            continue;
        struct lt_buf *r = &p->bufs[a->alias];
        if (r->first < 0 || a->first < r->first)
            r->first = a->first;
        if (a->last > r->last)
            r->last = a->last;
        if (a->cat == LT_MEM_ACTIVATIONS && r->cat == LT_MEM_TEMPORARIES)
            r->cat = LT_MEM_ACTIVATIONS;
    }
}

/* Gives each alias its root's place, once the roots are packed. */
static void place_aliases(struct lt_plan *p) {
    for (int b = 0; b < p->n_bufs; b++) {
        struct lt_buf *a = &p->bufs[b];
        if (a->alias >= 0) {
            a->cat = p->bufs[a->alias].cat;
            a->offset = p->bufs[a->alias].offset;
        }
    }
}

static int by_size_desc(const void *x, const void *y) {
    const struct lt_buf *const *a = x, *const *b = y;
    if ((*a)->bytes != (*b)->bytes)
        return (*a)->bytes < (*b)->bytes ? 1 : -1;
    if ((*a)->first != (*b)->first)
        return (*a)->first - (*b)->first;
    /* the buffers' order last, so the packing does not depend on qsort's stability */
    return *a < *b ? -1 : *a > *b;
}

static int by_offset(const void *x, const void *y) {
    const struct lt_buf *const *a = x, *const *b = y;
    return (*a)->offset < (*b)->offset ? -1 : (*a)->offset > (*b)->offset;
}

/* Packs one category's arena buffers: largest first, each at the lowest offset free
 * for its whole lifetime. Returns the arena's size. */
static size_t pack(struct lt_plan *p, enum lt_mem_category cat) {
    struct lt_buf **list = malloc(((size_t)p->n_bufs + 1) * sizeof *list);
    struct lt_buf **overlap = malloc(((size_t)p->n_bufs + 1) * sizeof *overlap);
    LT_ASSERT(list && overlap);
    int n = 0;
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == LT_BUF_ARENA && p->bufs[b].cat == cat && p->bufs[b].first >= 0 &&
            p->bufs[b].alias < 0)
            list[n++] = &p->bufs[b];
    qsort(list, (size_t)n, sizeof *list, by_size_desc);
    size_t size = 0;
    for (int i = 0; i < n; i++) {
        struct lt_buf *b = list[i];
        int m = 0;
        for (int j = 0; j < i; j++)
            if (list[j]->first <= b->last && b->first <= list[j]->last)
                overlap[m++] = list[j];
        qsort(overlap, (size_t)m, sizeof *overlap, by_offset);
        size_t at = 0;
        for (int j = 0; j < m; j++) {
            if (overlap[j]->offset >= at + b->bytes)
                break;
            if (overlap[j]->offset + overlap[j]->bytes > at)
                at = overlap[j]->offset + overlap[j]->bytes;
        }
        b->offset = at;
        if (at + b->bytes > size)
            size = at + b->bytes;
    }
    /* the most bytes live at one moment: what no packing can go below */
    size_t peak = 0;
    for (int t = 0; t <= p->n_nodes; t++) {
        size_t live = 0;
        for (int i = 0; i < n; i++)
            if (list[i]->first <= t && t <= list[i]->last)
                live += list[i]->bytes;
        if (live > peak)
            peak = live;
    }
    p->live_peak[cat] = peak;
    free(list);
    free(overlap);
    return size;
}

static size_t machine_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? (size_t)pages * (size_t)page : SIZE_MAX;
}

/* The plan's bytes against the limit: the options' when they set one, else the context's,
 * else the device's free memory or the machine's RAM. */
static enum lt_status check_limit(struct lt_plan *p, const struct lt_plan_options *o) {
    size_t total = 0;
    for (int c = 0; c < LT_MEM_COUNT; c++)
        total += p->bytes[c];
    size_t limit = o && o->memory_limit ? o->memory_limit : p->ctx->memory_limit;
    size_t device_free = 0, device_total, runtime;
    if (!limit && p->be->dev.memory) {
        p->be->dev.memory(p->be->impl, &device_free, &device_total, &runtime);
        limit = device_free;
    } else if (!limit) {
        limit = machine_memory();
    }
    if (total <= limit)
        return LT_OK;
    char line[512], a[32], b[32];
    size_t n = 0;
    for (int c = 0; c < LT_MEM_COUNT && n < sizeof line; c++)
        if (p->bytes[c])
            n += (size_t)snprintf(line + n, sizeof line - n, "%s%s %s", n ? ", " : "",
                                  lt_mem_category_name((enum lt_mem_category)c),
                                  lt_bytes_str(p->bytes[c], a, sizeof a));
    return lt_fail(p->ctx, LT_ENOMEM, "the %s needs %s (%s) but %s %s",
                   p->training ? "step" : "program", lt_bytes_str(total, a, sizeof a), line,
                   (o && o->memory_limit) || p->ctx->memory_limit ? "the memory limit is"
                                        : p->be->dev.memory ? "the GPU has free only"
                                                            : "the machine has",
                   lt_bytes_str(limit, b, sizeof b));
}

static enum lt_status check_loss(struct lt_ctx *ctx, const struct lt_graph *g, int loss) {
    if (loss < 0 || loss >= g->n_values)
        return lt_fail(ctx, LT_EINVAL, "the loss %d is not a value of the graph", loss);
    const struct lt_kview *s = &g->values[loss].shape;
    if (g->values[loss].kind != LT_VALUE_NODE || s->dtype != LT_DTYPE_F32 || s->ndim != 1 ||
        s->shape[0] != 2)
        return lt_fail(ctx, LT_EINVAL,
                       "the loss must be the {sum, count} output of a loss op "
                       "(cross_entropy, mse)");
    return LT_OK;
}

static enum lt_status check_outputs(struct lt_ctx *ctx, const struct lt_graph *g, int n_out,
                                    const int *outputs) {
    if (n_out < 1)
        return lt_fail(ctx, LT_EINVAL, "a forward program needs at least one output");
    for (int i = 0; i < n_out; i++)
        if (outputs[i] < 0 || outputs[i] >= g->n_values)
            return lt_fail(ctx, LT_EINVAL, "output %d is not a value of the graph", i + 1);
    return LT_OK;
}

/* A plan of graph g (the reference is the plan's, also on failure), lowered for the
 * targets. On failure nothing is left. */
static enum lt_status plan_lowered(struct lt_ctx *ctx, struct lt_backend *be, struct lt_graph *g,
                                   const int *targets, int n_targets, int training,
                                   struct lt_plan **out) {
    struct lt_plan *p = lt_zalloc(ctx, sizeof *p);
    if (!p) {
        lt_graph_free(g);
        return LT_ENOMEM;
    }
    p->ctx = ctx;
    p->be = be;
    p->graph = g;
    p->refs = 1;
    p->training = training;
    p->loss_buf = p->seed_buf = -1;
    p->value_buf = malloc(((size_t)g->n_values + 1) * sizeof *p->value_buf);
    p->grad_buf = malloc(((size_t)g->n_values + 1) * sizeof *p->grad_buf);
    p->outputs = malloc(((size_t)n_targets + 1) * sizeof *p->outputs);
    enum lt_status st = LT_OK;
    if (!p->value_buf || !p->grad_buf || !p->outputs)
        st = lt_fail(ctx, LT_ENOMEM, "out of memory planning");
    if (st == LT_OK)
        st = lt_plan_lower(p, targets, n_targets);
    if (st != LT_OK) {
        lt_plan_free(p);
        return st;
    }
    *out = p;
    return LT_OK;
}

/* The graph a training step runs: g rewritten where that is exact and cheaper, the
 * backward of the loss appended and, when checkpointing, the recomputations inserted. */
static enum lt_status step_graph(struct lt_graph *g, const struct lt_backend *be, int loss,
                                 int checkpoint, struct lt_graph **out) {
    struct lt_graph *rewritten, *differentiated;
    enum lt_status st = lt_graph_rewrite(g, be, &loss, 1, &rewritten);
    if (st != LT_OK)
        return st;
    st = lt_graph_autodiff(rewritten, loss, &differentiated);
    lt_graph_free(rewritten);
    if (st != LT_OK)
        return st;
    if (!checkpoint) {
        *out = differentiated;
        return LT_OK;
    }
    st = lt_graph_recompute(differentiated, loss, out);
    lt_graph_free(differentiated);
    return st;
}

/* The second half: layouts chosen, kernels bound, reshapes aliased, liveness, the arenas
 * packed. The caller then sets the categories only it knows and checks the limit. */
static enum lt_status plan_pack(struct lt_plan *p) {
    enum lt_status st = lt_plan_layouts(p);
    if (st == LT_OK)
        st = bind_kernels(p);
    if (st == LT_OK)
        st = lt_plan_first_writes(p);
    if (st != LT_OK)
        return st;
    lt_plan_aliases(p);
    liveness(p);
    p->bytes[LT_MEM_ACTIVATIONS] = pack(p, LT_MEM_ACTIVATIONS);
    p->bytes[LT_MEM_TEMPORARIES] = pack(p, LT_MEM_TEMPORARIES);
    p->bytes[LT_MEM_PARAM_COPIES] = pack(p, LT_MEM_PARAM_COPIES);
    place_aliases(p);
    return LT_OK;
}

enum lt_status lt_plan_compile_step(struct lt_ctx *ctx, struct lt_backend *be,
                                    struct lt_graph *g, int loss,
                                    const struct lt_optim_config *opt,
                                    const struct lt_plan_options *o, struct lt_plan **out) {
    enum lt_status st = check_loss(ctx, g, loss);
    if (st == LT_OK)
        st = lt_optim_check(ctx, opt, g);
    struct lt_graph *run = NULL;
    if (st == LT_OK)
        st = step_graph(g, be, loss, o && o->checkpoint, &run);
    struct lt_plan *p = NULL;
    if (st == LT_OK)
        st = plan_lowered(ctx, be, run, &loss, 1, 1, &p);
    if (st != LT_OK)
        return st;
    p->opt = *opt;
    if (opt->n_groups > 0) {
        p->groups = lt_alloc(ctx, (size_t)opt->n_groups * sizeof *p->groups);
        if (!p->groups)
            st = LT_ENOMEM;
        else
            memcpy(p->groups, opt->groups, (size_t)opt->n_groups * sizeof *p->groups);
    }
    p->opt.groups = p->groups;
    /* the loss stays readable after the step; its gradient, the seed, is a state slot */
    p->loss_buf = p->value_buf[loss];
    p->bufs[p->loss_buf].keep = 1;
    p->seed_buf = p->grad_buf[loss];
    if (st == LT_OK)
        st = plan_pack(p);
    if (st == LT_OK) {
        size_t params = p->flat_params;
        p->bytes[LT_MEM_PARAMS] = params;
        p->bytes[LT_MEM_GRADS] = params;
        p->bytes[LT_MEM_STATE] = p->flat_state;
        p->bytes[LT_MEM_DATA] = 2 * p->data_slot; /* one loading while one runs */
        p->bytes[LT_MEM_OPTIMIZER] = (size_t)lt_optim_moments(opt) * params;
        st = check_limit(p, o);
    }
    if (st != LT_OK) {
        lt_plan_free(p);
        return st;
    }
    *out = p;
    return LT_OK;
}

enum lt_status lt_plan_compile_forward(struct lt_ctx *ctx, struct lt_backend *be,
                                       struct lt_graph *g, int n_out, const int *outputs,
                                       const struct lt_plan_options *o, struct lt_plan **out) {
    enum lt_status st = check_outputs(ctx, g, n_out, outputs);
    struct lt_graph *run = NULL;
    if (st == LT_OK)
        st = lt_graph_rewrite(g, be, outputs, n_out, &run);
    struct lt_plan *p = NULL;
    if (st == LT_OK)
        st = plan_lowered(ctx, be, run, outputs, n_out, 0, &p);
    if (st != LT_OK)
        return st;
    p->n_outputs = n_out;
    for (int i = 0; i < n_out && st == LT_OK; i++) {
        p->outputs[i] = p->value_buf[outputs[i]];
        if (p->outputs[i] < 0) /* an input or param asked for as an output */
            st = lt_fail(ctx, LT_EINVAL, "output %d is not computed by any node", i + 1);
        else
            p->bufs[p->outputs[i]].keep = 1;
    }
    if (st == LT_OK)
        st = plan_pack(p);
    if (st == LT_OK) {
        if (be->dev.alloc)
            p->bytes[LT_MEM_DATA] = p->data_slot; /* the inputs' device slot */
        st = check_limit(p, o);
    }
    if (st != LT_OK) {
        lt_plan_free(p);
        return st;
    }
    *out = p;
    return LT_OK;
}

enum lt_status lt_plan_new_with(struct lt_ctx *ctx, struct lt_graph *g, int loss,
                                const struct lt_optim_config *opt,
                                const struct lt_plan_options *o, struct lt_plan **out) {
    if (!opt)
        return lt_fail(ctx, LT_EINVAL, "a training plan needs an optimizer config");
    /* the plain plan first, under the same limit */
    struct lt_plan_options flat = o ? *o : (struct lt_plan_options){0};
    flat.checkpoint = 0;
    enum lt_status st = lt_plan_compile_step(ctx, ctx->run, g, loss, opt, &flat, out);
    if (st != LT_OK && !(st == LT_ENOMEM && o && o->checkpoint))
        return st;
    if (!o || !o->checkpoint)
        return st;
    /* checkpointed, kept only when the step is smaller: recomputed copies can cost more
     * than the activations they free */
    struct lt_plan *plain = st == LT_OK ? *out : NULL, *ck;
    st = lt_plan_compile_step(ctx, ctx->run, g, loss, opt, o, &ck);
    if (st != LT_OK) {
        lt_plan_free(plain);
        return st;
    }
    struct lt_mem_report a, b;
    lt_plan_report(ck, &b);
    if (plain) {
        lt_plan_report(plain, &a);
        if (a.total <= b.total) {
            lt_plan_free(ck);
            *out = plain;
            return LT_OK;
        }
        lt_plan_free(plain);
    }
    *out = ck;
    return LT_OK;
}

enum lt_status lt_plan_new(struct lt_ctx *ctx, struct lt_graph *g, int loss,
                           const struct lt_optim_config *opt, struct lt_plan **out) {
    return lt_plan_new_with(ctx, g, loss, opt, NULL, out);
}

void lt_plan_free(struct lt_plan *p) {
    if (!p || --p->refs > 0)
        return;
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        if (pn->kernel && pn->kernel->release) {
            if (pn->state)
                pn->kernel->release(pn->state);
            if (pn->state_first)
                pn->kernel->release(pn->state_first);
        }
    }
    lt_graph_free(p->graph);
    free(p->bufs);
    free(p->nodes);
    free(p->value_buf);
    free(p->grad_buf);
    free(p->outputs);
    free(p->groups);
    free(p);
}

void lt_plan_report(const struct lt_plan *p, struct lt_mem_report *r) {
    memset(r, 0, sizeof *r);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        r->bytes[c] = p->bytes[c];
        r->total += p->bytes[c];
        r->live_peak[c] = p->live_peak[c];
    }
}

int lt_plan_node_count(const struct lt_plan *p) {
    return p->n_nodes;
}

void lt_plan_layout(const struct lt_plan *p, int *blocked, int *aliased) {
    *blocked = *aliased = 0;
    for (int b = 0; b < p->n_bufs; b++)
        *blocked += p->bufs[b].blocked;
    for (int n = 0; n < p->n_nodes; n++)
        *aliased += p->nodes[n].skip;
}

void lt_plan_checkpointing(const struct lt_plan *p, int *segments, int *recomputed) {
    *segments = p->graph->segments > 0 ? p->graph->segments : 1;
    *recomputed = 0;
    for (int n = 0; n < p->n_nodes; n++)
        *recomputed += p->nodes[n].recompute;
}
