/* The executor: binds a plan's buffers to memory and runs its nodes' kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/exec.h"
#include "core/ops/ops.h"
#include "core/tensor.h"

static const enum lt_mem_category arena_cats[] = {LT_MEM_ACTIVATIONS, LT_MEM_TEMPORARIES,
                                                  LT_MEM_WORKSPACE, LT_MEM_PARAM_COPIES};

enum lt_status lt_exec_init(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p) {
    return lt_exec_init_sharing(ex, ctx, p, NULL);
}

enum lt_status lt_exec_init_sharing(struct lt_exec *ex, struct lt_ctx *ctx, struct lt_plan *p,
                                    const struct lt_exec *with) {
    memset(ex, 0, sizeof *ex);
    ex->ctx = ctx;
    ex->plan = p;
    ex->views = lt_zalloc(ctx, ((size_t)p->n_bufs + 1) * sizeof *ex->views);
    ex->hidden = lt_zalloc(ctx, ((size_t)p->n_bufs + 1) * sizeof *ex->hidden);
    ex->args = lt_zalloc(ctx, ((size_t)p->n_nodes + 1) * sizeof *ex->args);
    if (ctx->profile)
        ex->node_seconds = lt_zalloc(ctx, ((size_t)p->n_nodes + 1) * sizeof *ex->node_seconds);
    if (!ex->views || !ex->hidden || !ex->args || (ctx->profile && !ex->node_seconds)) {
        lt_exec_release(ex);
        return LT_ENOMEM;
    }
    size_t have[LT_MEM_COUNT] = {0};
    for (int c = 0; c < LT_MEM_COUNT && with; c++)
        have[c] = with->arena[c] ? with->arena[c]->bytes : 0;
    int lend[LT_MEM_COUNT];
    lt_mem_lend(have, p->bytes, lend);
    for (size_t i = 0; i < sizeof arena_cats / sizeof arena_cats[0]; i++) {
        enum lt_mem_category c = arena_cats[i];
        if (!p->bytes[c])
            continue;
        if (lend[c] >= 0) { /* `with` never runs at the same time: its arena is free */
            ex->arena[c] = lt_arena_retain(with->arena[lend[c]]);
            continue;
        }
        enum lt_status st = lt_arena_new(ctx, p->be, p->bytes[c], &ex->arena[c]);
        if (st != LT_OK) {
            lt_exec_release(ex);
            return st;
        }
        ex->arena_bytes[c] = p->bytes[c];
    }
    for (int b = 0; b < p->n_bufs; b++) {
        ex->views[b] = ex->hidden[b] = p->bufs[b].view;
        /* a category whose buffers are all empty has no arena: they keep data NULL */
        if (p->bufs[b].kind == LT_BUF_ARENA && p->bufs[b].first >= 0 && ex->arena[p->bufs[b].cat])
            ex->views[b].data = (char *)ex->arena[p->bufs[b].cat]->data + p->bufs[b].offset;
    }
    if (p->be->dev.alloc) {
        enum lt_status st = lt_mem_alloc(ctx, p->be, sizeof *ex->info_dev, (void **)&ex->info_dev);
        if (st != LT_OK) {
            lt_exec_release(ex);
            return st;
        }
        ex->capture = ctx->graphs && !ctx->profile && p->be->dev.capture_begin;
    }
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        struct lt_kargs *a = &ex->args[n];
        unsigned reads = pn->backward ? lt_op_descs[pn->op].backward_reads : ~0u;
        a->attrs = pn->attrs;
        a->n_in = pn->n_in;
        a->n_out = pn->n_out;
        for (int i = 0; i < pn->n_in; i++) {
            a->in[i] = (reads & LT_IN(i)) ? &ex->views[pn->in[i]] : &ex->hidden[pn->in[i]];
            a->gin[i] = pn->gin[i] >= 0 ? &ex->views[pn->gin[i]] : NULL;
        }
        for (int k = 0; k < pn->n_out; k++) {
            int shown = !pn->backward || (reads & LT_OUT(k));
            a->out[k] = shown ? &ex->views[pn->out[k]] : &ex->hidden[pn->out[k]];
            a->gout[k] = pn->gout[k] >= 0 ? &ex->views[pn->gout[k]] : NULL;
        }
        a->accumulate = pn->accumulate;
        a->blocked = pn->blocked;
        a->workspace = ex->arena[LT_MEM_WORKSPACE] ? ex->arena[LT_MEM_WORKSPACE]->data : NULL;
        a->workspace_size = pn->workspace;
        a->exec = &ex->info;
        a->exec_dev = ex->info_dev;
        a->msg = ex->msg;
        a->state = pn->state;
        a->impl = p->be->impl;
    }
    return LT_OK;
}

void lt_exec_release(struct lt_exec *ex) {
    const struct lt_backend *be = ex->plan ? ex->plan->be : NULL;
    for (int c = 0; c < LT_MEM_COUNT; c++)
        lt_arena_release(ex->arena[c]);
    for (int i = 0; i < 4 && be; i++)
        if (ex->graphs[i].graph)
            be->dev.graph_free(be->impl, ex->graphs[i].graph);
    if (be && ex->info_dev)
        lt_mem_free(be, ex->info_dev);
    free(ex->views);
    free(ex->hidden);
    free(ex->args);
    free(ex->node_seconds);
    memset(ex, 0, sizeof *ex);
}

void lt_exec_bind(struct lt_exec *ex, int b, void *data) {
    ex->views[b].data = data;
}

void lt_exec_bind_tensors(struct lt_exec *ex) {
    const struct lt_plan *p = ex->plan;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if ((buf->kind == LT_BUF_PARAM || buf->kind == LT_BUF_STATE) && buf->value >= 0)
            ex->views[b].data = lt_tensor_data(p->graph->values[buf->value].tensor);
    }
}

static enum lt_status run_nodes(struct lt_exec *ex, unsigned run) {
    const struct lt_plan *p = ex->plan;
    const struct lt_backend *be = p->be;
    for (int n = 0; n < p->n_nodes; n++) {
        const struct lt_pnode *pn = &p->nodes[n];
        if (pn->once_per_step && !(run & LT_RUN_COPIES))
            continue;
        if (pn->overwrite_first) { /* the kernel was prepared both ways */
            int fresh = (run & LT_RUN_FRESH) != 0;
            ex->args[n].accumulate = fresh ? pn->accumulate & ~pn->overwrite_first : pn->accumulate;
            ex->args[n].state = fresh ? pn->state_first : pn->state;
        }
        if (pn->skip) { /* an aliased reshape: its output is its input */
            enum lt_status st = ex->after_node ? ex->after_node(ex->after_node_user, n) : LT_OK;
            if (st != LT_OK)
                return st;
            continue;
        }
        for (int i = 0; pn->zero_first && i < pn->n_in; i++)
            if (pn->zero_first & (1u << i)) {
                const struct lt_kview *g = &ex->views[pn->gin[i]];
                enum lt_status st = lt_mem_zero(
                    ex->ctx, p->be, g->data, (size_t)lt_kview_numel(g) * lt_dtype_bytes(g->dtype));
                if (st != LT_OK)
                    return st;
            }
        lt_kernel_fn fn = pn->backward ? pn->kernel->backward : pn->kernel->forward;
        ex->msg[0] = '\0';
        double t0 = ex->node_seconds ? lt_clock() : 0;
        enum lt_status st = fn(&ex->args[n]);
        if (ex->node_seconds) { /* a device's kernels end when the stream is done */
            if (st == LT_OK && be->dev.sync)
                st = be->dev.sync(be->impl, ex->msg);
            ex->node_seconds[n] += lt_clock() - t0;
        }
        if (st != LT_OK)
            return lt_fail(ex->ctx, st, "%s%s: %s", lt_op_descs[pn->op].name,
                           pn->backward ? " (backward)" : "",
                           ex->msg[0] ? ex->msg : "the kernel failed");
        if (ex->after_node && (st = ex->after_node(ex->after_node_user, n)) != LT_OK)
            return st;
    }
    return LT_OK;
}

/* What a captured graph depends on: the micro-batch kind and every bound pointer. */
static uint64_t capture_key(const struct lt_exec *ex, unsigned run) {
    uint64_t key = run * 0x9e3779b97f4a7c15ull;
    for (int b = 0; b < ex->plan->n_bufs; b++)
        key = (key ^ (uint64_t)(uintptr_t)ex->views[b].data) * 0x100000001b3ull;
    return key;
}

/* Replays the graph of this kind of run, capturing it first when there is none. */
static enum lt_status run_captured(struct lt_exec *ex, unsigned run) {
    const struct lt_backend *be = ex->plan->be;
    uint64_t key = capture_key(ex, run);
    int slot = -1;
    for (int i = 0; i < 4; i++)
        if (ex->graphs[i].graph && ex->graphs[i].key == key)
            slot = i;
    if (slot < 0) {
        slot = ex->next_graph;
        ex->next_graph = (slot + 1) % 4;
        if (ex->graphs[slot].graph)
            be->dev.graph_free(be->impl, ex->graphs[slot].graph);
        ex->graphs[slot].graph = NULL;
        enum lt_status st = be->dev.capture_begin(be->impl, ex->msg);
        if (st != LT_OK)
            return lt_fail(ex->ctx, st, "%s", ex->msg);
        enum lt_status ran = run_nodes(ex, run);
        st = be->dev.capture_end(be->impl, &ex->graphs[slot].graph, ex->msg);
        if (ran != LT_OK)
            return ran;
        if (st != LT_OK)
            return lt_fail(ex->ctx, st, "%s", ex->msg);
        ex->graphs[slot].key = key;
    }
    enum lt_status st = be->dev.graph_launch(be->impl, ex->graphs[slot].graph, ex->msg);
    return st == LT_OK ? LT_OK : lt_fail(ex->ctx, st, "%s", ex->msg);
}

enum lt_status lt_exec_run(struct lt_exec *ex, unsigned run) {
    lt_ctx_apply_threads(ex->ctx);
    if (ex->info_dev) {
        enum lt_status st = lt_mem_copy(ex->ctx, ex->plan->be, ex->info_dev, &ex->info,
                                        sizeof ex->info, LT_COPY_H2D);
        if (st != LT_OK)
            return st;
    }
    /* a hooked run calls back between nodes: no graph can hold that */
    return ex->capture && !ex->after_node ? run_captured(ex, run) : run_nodes(ex, run);
}

enum lt_status lt_exec_check_inputs(struct lt_exec *ex, struct lt_tensor *const *inputs,
                                    const char *where) {
    const struct lt_graph *g = ex->plan->graph;
    for (int i = 0; i < g->n_inputs; i++) {
        int v = lt_graph_find(g, LT_VALUE_INPUT, i);
        const struct lt_kview *want = &g->values[v].shape;
        const struct lt_tensor *t = inputs[i];
        const char *name = g->values[v].name ? g->values[v].name : "input";
        if (!t)
            return lt_fail(ex->ctx, LT_EINVAL, "%s: %s (input %d) is missing", where, name, i + 1);
        int same = t->dtype == want->dtype && t->ndim == want->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == want->shape[d];
        if (!same) {
            char a[96], b[96];
            struct lt_kview got = {NULL, t->dtype, t->ndim, {0}};
            memcpy(got.shape, t->shape, sizeof got.shape);
            return lt_fail(ex->ctx, LT_EINVAL, "%s: %s (input %d) is %s %s, the graph wants %s %s",
                           where, name, i + 1, lt_dtype_name(t->dtype),
                           lt_shape_str(&got, a, sizeof a), lt_dtype_name(want->dtype),
                           lt_shape_str(want, b, sizeof b));
        }
    }
    return LT_OK;
}
