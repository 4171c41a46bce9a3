/* Forward-only programs (evaluation, inference) and eager ops, which are one-node
 * forward programs on the CPU. Parameters and state are read from their tensors at each
 * run. On a GPU, a tensor whose storage a trainer mirrors there is read from the
 * trainer's device copy; any other is sent at each run into the program's own copy.
 * Inputs go in and outputs come out through page-locked host memory (core/staging.h). */
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/exec.h"
#include "core/staging.h"
#include "core/tensor.h"

struct lt_forward {
    struct lt_ctx *ctx;
    struct lt_plan *plan;
    struct lt_exec ex;
    int on_device;
    char *data;  /* on a GPU: the inputs' slot */
    char *flat;  /* on a GPU: parameters, then state, of tensors no trainer mirrors there;
                  * allocated when the first such tensor is met */
    struct lt_staging staging; /* on a GPU: the inputs (as in `data`), then the outputs */
};

static size_t output_bytes(const struct lt_plan *p, int i) {
    const struct lt_kview *v = &p->bufs[p->outputs[i]].view;
    return (size_t)lt_kview_numel(v) * lt_dtype_bytes(v->dtype);
}

/* Where output i waits in the staging buffer. */
static size_t staged_output(const struct lt_plan *p, int i) {
    size_t at = lt_align(p->data_slot);
    for (int j = 0; j < i; j++)
        at += lt_align(output_bytes(p, j));
    return at;
}

static enum lt_status forward_new(struct lt_ctx *ctx, struct lt_backend *be, struct lt_graph *g,
                                  int n_out, const int *outputs, const struct lt_exec *with,
                                  struct lt_forward **out) {
    struct lt_plan *p;
    enum lt_status st = lt_plan_compile_forward(ctx, be, g, n_out, outputs, NULL, &p);
    if (st != LT_OK)
        return st;
    struct lt_forward *f = lt_zalloc(ctx, sizeof *f);
    if (!f) {
        lt_plan_free(p);
        return LT_ENOMEM;
    }
    f->ctx = ctx;
    f->plan = p;
    f->on_device = be->dev.alloc != NULL;
    st = lt_exec_init_sharing(&f->ex, ctx, p, with && with->plan->be == be ? with : NULL);
    if (st == LT_OK && f->on_device)
        st = lt_mem_alloc(ctx, be, p->bytes[LT_MEM_DATA], (void **)&f->data);
    if (st == LT_OK && f->on_device)
        st = lt_staging_reserve(ctx, &f->staging, be, staged_output(p, p->n_outputs));
    if (st != LT_OK) {
        lt_forward_free(f);
        return st;
    }
    *out = f;
    return LT_OK;
}

enum lt_status lt_forward_new(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                              const int *outputs, struct lt_forward **out) {
    return forward_new(ctx, ctx->run, g, n_out, outputs, NULL, out);
}

enum lt_status lt_forward_new_for(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                                  const int *outputs, struct lt_trainer *t,
                                  struct lt_forward **out) {
    return forward_new(ctx, ctx->run, g, n_out, outputs, t ? lt_trainer_exec(t) : NULL, out);
}

enum lt_status lt_forward_plan(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                               const int *outputs, struct lt_mem_report *r) {
    return lt_forward_plan_with(ctx, g, n_out, outputs, NULL, r);
}

enum lt_status lt_forward_plan_with(struct lt_ctx *ctx, struct lt_graph *g, int n_out,
                                    const int *outputs, const struct lt_plan_options *o,
                                    struct lt_mem_report *r) {
    struct lt_plan *p;
    enum lt_status st = lt_plan_compile_forward(ctx, ctx->run, g, n_out, outputs, o, &p);
    if (st != LT_OK)
        return st;
    lt_plan_report(p, r);
    lt_plan_free(p);
    return LT_OK;
}

void lt_forward_free(struct lt_forward *f) {
    if (!f)
        return;
    if (f->plan) {
        lt_mem_free(f->plan->be, f->data);
        lt_mem_free(f->plan->be, f->flat);
    }
    lt_staging_free(&f->staging);
    lt_exec_release(&f->ex);
    lt_plan_free(f->plan);
    free(f);
}

/* On a GPU: sends the inputs into the slot, and points every parameter and state buffer
 * at a device copy of its tensor: the trainer's mirror (sent first if the host changed
 * it), or the program's own, sent now. */
static enum lt_status bind_device(struct lt_forward *f, struct lt_tensor *const *inputs) {
    const struct lt_plan *p = f->plan;
    enum lt_status st = LT_OK;
    for (int b = 0; st == LT_OK && b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if (buf->kind == LT_BUF_INPUT) {
            const struct lt_tensor *x = inputs[p->graph->values[buf->value].index];
            st = lt_staging_send(f->ctx, &f->staging, buf->offset, f->data + buf->offset,
                                 lt_tensor_data(x), lt_tensor_bytes(x));
            lt_exec_bind(&f->ex, b, f->data + buf->offset);
            continue;
        }
        if ((buf->kind != LT_BUF_PARAM && buf->kind != LT_BUF_STATE) || buf->value < 0)
            continue;
        const struct lt_tensor *t = p->graph->values[buf->value].tensor;
        struct lt_mirror *m = t->storage->mirror;
        if (m && m->be == p->be) {
            st = lt_storage_push(f->ctx, t->storage);
            lt_exec_bind(&f->ex, b, (char *)m->dev + t->offset);
            continue;
        }
        if (!f->flat &&
            (st = lt_mem_alloc(f->ctx, p->be, p->flat_params + p->flat_state,
                               (void **)&f->flat)) != LT_OK)
            break;
        char *at = f->flat + (buf->kind == LT_BUF_STATE ? p->flat_params : 0) + buf->offset;
        st = lt_mem_copy(f->ctx, p->be, at, lt_tensor_data(t), lt_tensor_bytes(t), LT_COPY_H2D);
        lt_exec_bind(&f->ex, b, at);
    }
    return st;
}

/* State a run may have written (batch norm in training mode): the program's own copies
 * go back to their tensors; a mirror's host side is now the older one. */
static enum lt_status after_device_run(struct lt_forward *f) {
    const struct lt_plan *p = f->plan;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if (buf->kind != LT_BUF_STATE || buf->value < 0)
            continue;
        const struct lt_tensor *t = p->graph->values[buf->value].tensor;
        struct lt_mirror *m = t->storage->mirror;
        if (m && m->be == p->be) {
            m->host_stale = 1;
            continue;
        }
        enum lt_status st = lt_mem_copy(f->ctx, p->be, (char *)t->storage->data + t->offset,
                                        f->ex.views[b].data, lt_tensor_bytes(t), LT_COPY_D2H);
        if (st != LT_OK)
            return st;
    }
    return LT_OK;
}

enum lt_status lt_forward_run(struct lt_forward *f, struct lt_tensor *const *inputs,
                              struct lt_tensor *const *out, uint32_t epoch,
                              int64_t sample_base) {
    struct lt_plan *p = f->plan;
    enum lt_status st;
    st = lt_exec_check_inputs(&f->ex, inputs, "forward");
    if (st != LT_OK)
        return st;
    for (int i = 0; i < p->n_outputs; i++) {
        const struct lt_kview *want = &p->bufs[p->outputs[i]].view;
        const struct lt_tensor *t = out[i];
        int same = t && t->dtype == want->dtype && t->ndim == want->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = t->shape[d] == want->shape[d];
        if (!same)
            return lt_fail(f->ctx, LT_EINVAL,
                           "forward: output tensor %d does not have the output's dtype and shape",
                           i + 1);
    }
    if (f->on_device) {
        st = bind_device(f, inputs);
    } else {
        for (int b = 0; b < p->n_bufs; b++)
            if (p->bufs[b].kind == LT_BUF_INPUT)
                lt_exec_bind(&f->ex, b,
                             lt_tensor_data(inputs[p->graph->values[p->bufs[b].value].index]));
        lt_exec_bind_tensors(&f->ex);
    }
    f->ex.info = (struct lt_exec_info){lt_ctx_seed(f->ctx), epoch, sample_base};
    if (st == LT_OK)
        st = lt_exec_run(&f->ex, LT_RUN_COPIES);
    if (!f->on_device) {
        for (int i = 0; st == LT_OK && i < p->n_outputs; i++)
            memcpy(lt_tensor_data(out[i]), f->ex.views[p->outputs[i]].data,
                   lt_tensor_bytes(out[i]));
        return st;
    }
    for (int i = 0; st == LT_OK && i < p->n_outputs; i++)
        st = lt_staging_receive(f->ctx, &f->staging, staged_output(p, i),
                                f->ex.views[p->outputs[i]].data, output_bytes(p, i));
    /* a kernel's failure, or bad data it flagged; and no copy outlives the run */
    enum lt_status waited = p->be->dev.sync(p->be->impl, f->ex.msg);
    if (st != LT_OK)
        return st;
    if (waited != LT_OK)
        return lt_fail(f->ctx, waited, "forward: %s", f->ex.msg);
    for (int i = 0; i < p->n_outputs; i++)
        memcpy(lt_tensor_data(out[i]), f->staging.host + staged_output(p, i),
               lt_tensor_bytes(out[i]));
    return after_device_run(f);
}

void lt_forward_memory(const struct lt_forward *f, struct lt_mem_report *r) {
    lt_plan_report(f->plan, r);
}

enum lt_status lt_tensor_op(struct lt_ctx *ctx, enum lt_op op, int n_in,
                            struct lt_tensor *const *in, const void *attrs,
                            struct lt_tensor **out) {
    if ((unsigned)op >= LT_OP_COUNT)
        return lt_fail(ctx, LT_EINVAL, "unknown op %d", (int)op);
    if (n_in < 0 || n_in > LT_MAX_INPUTS)
        return lt_fail(ctx, LT_EINVAL, "%s: %d inputs", lt_op_name(op), n_in);
    struct lt_graph *g;
    enum lt_status st = lt_graph_new(ctx, &g);
    if (st != LT_OK)
        return st;
    int ids[LT_MAX_INPUTS], outs[LT_MAX_OUTPUTS], n_out = lt_op_outputs(op);
    for (int i = 0; st == LT_OK && i < n_in; i++)
        st = lt_graph_input(g, in[i]->dtype, in[i]->ndim, in[i]->shape, NULL, &ids[i]);
    if (st == LT_OK)
        st = lt_graph_op(g, op, n_in, ids, attrs, outs);
    struct lt_forward *f = NULL;
    if (st == LT_OK) /* eager ops work on host tensors: on the CPU */
        st = forward_new(ctx, &ctx->cpu, g, n_out, outs, NULL, &f);
    struct lt_tensor *results[LT_MAX_OUTPUTS] = {NULL};
    for (int k = 0; st == LT_OK && k < n_out; k++) {
        enum lt_dtype dt;
        int64_t shape[LT_MAX_DIMS];
        int ndim = lt_graph_value_shape(g, outs[k], &dt, shape);
        st = lt_tensor_new(ctx, dt, ndim, shape, &results[k]);
    }
    if (st == LT_OK)
        st = lt_forward_run(f, in, results, 0, 0);
    lt_forward_free(f);
    lt_graph_free(g);
    if (st != LT_OK) {
        for (int k = 0; k < n_out; k++)
            lt_tensor_free(results[k]);
        return st;
    }
    memcpy(out, results, (size_t)n_out * sizeof *out);
    return LT_OK;
}
