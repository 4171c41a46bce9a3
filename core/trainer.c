/* Trainers: a plan's memory, and the training step (micro-batches forward and backward
 * into the fp32 gradient buffer, then the two-pass update), all in C. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctx.h"
#include "core/exec.h"
#include "core/tensor.h"

/* One parameter's slice of the flat buffers. */
struct param_range {
    int64_t offset, n; /* in floats */
    int group;
};

struct lt_trainer {
    struct lt_ctx *ctx;
    struct lt_plan *plan;
    struct lt_exec ex;
    struct lt_storage *params, *state; /* the graph's tensors are views of these */
    float *grads, *moments;            /* (params), (params) or (2, params) */
    char *data;                        /* (2, data_slot): micro-batch slots */
    float *seed;                       /* {loss scale, 0}: the loss's incoming gradient */
    struct param_range *ranges;
    int n_ranges;
    size_t allocated[LT_MEM_COUNT]; /* bytes handed to each category's allocations */
    float lr;
    int64_t step;
    struct lt_loss_scale scaler;
    int clean_steps; /* in a row, for dynamic growth */
};

void lt_trainer_free(struct lt_trainer *t) {
    if (!t)
        return;
    lt_exec_release(&t->ex);
    lt_storage_release(t->params);
    lt_storage_release(t->state);
    free(t->grads);
    free(t->moments);
    free(t->data);
    free(t->ranges);
    lt_plan_free(t->plan);
    free(t);
}

/* Moves the graph's parameter and state tensors into the flat buffers. */
static void adopt_tensors(struct lt_trainer *t) {
    struct lt_plan *p = t->plan;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if (buf->value < 0)
            continue;
        struct lt_tensor *tensor = p->graph->values[buf->value].tensor;
        if (buf->kind == LT_BUF_PARAM) {
            lt_tensor_rebind(tensor, t->params, buf->offset);
            t->ranges[t->n_ranges++] = (struct param_range){
                (int64_t)(buf->offset / sizeof(float)), lt_kview_numel(&buf->view),
                p->graph->values[buf->value].group};
        } else if (buf->kind == LT_BUF_STATE) {
            lt_tensor_rebind(tensor, t->state, buf->offset);
        }
    }
}

/* An arena of exactly the plan's bytes for category c, recorded as allocated. */
static void *alloc_category(struct lt_trainer *t, enum lt_mem_category c) {
    void *mem = lt_alloc_arena(t->ctx, t->plan->bytes[c]);
    if (mem)
        t->allocated[c] += t->plan->bytes[c];
    return mem;
}

enum lt_status lt_trainer_new(struct lt_ctx *ctx, struct lt_plan *p, struct lt_trainer **out) {
    struct lt_trainer *t = lt_zalloc(ctx, sizeof *t);
    if (!t)
        return LT_ENOMEM;
    t->ctx = ctx;
    t->plan = p;
    p->refs++;
    t->lr = p->opt.lr;
    enum lt_status st = lt_exec_init(&t->ex, ctx, p);
    if (st != LT_OK) {
        lt_trainer_free(t);
        return st;
    }
    t->params = lt_storage_new(ctx, p->bytes[LT_MEM_PARAMS]);
    t->state = lt_storage_new(ctx, p->bytes[LT_MEM_STATE]);
    t->grads = alloc_category(t, LT_MEM_GRADS);
    t->data = alloc_category(t, LT_MEM_DATA);
    t->ranges = lt_zalloc(ctx, ((size_t)p->graph->n_params + 1) * sizeof *t->ranges);
    if (p->bytes[LT_MEM_OPTIMIZER])
        t->moments = alloc_category(t, LT_MEM_OPTIMIZER);
    if (!t->params || !t->state || !t->grads || !t->data || !t->ranges ||
        (p->bytes[LT_MEM_OPTIMIZER] && !t->moments)) {
        lt_trainer_free(t);
        return LT_ENOMEM;
    }
    t->allocated[LT_MEM_PARAMS] = t->params->bytes;
    t->allocated[LT_MEM_STATE] = t->state->bytes;
    for (int c = 0; c < LT_MEM_COUNT; c++)
        t->allocated[c] += t->ex.arena_bytes[c];
    adopt_tensors(t);
    lt_exec_bind_tensors(&t->ex);
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == LT_BUF_GRAD)
            lt_exec_bind(&t->ex, b, (char *)t->grads + p->bufs[b].offset);
    t->seed = (float *)((char *)t->state->data + p->bufs[p->seed_buf].offset);
    t->scaler = (struct lt_loss_scale){1.0f, 0, 2.0f, 0.5f, 2000};
    t->seed[0] = 1.0f;
    lt_exec_bind(&t->ex, p->seed_buf, t->seed);
    *out = t;
    return LT_OK;
}

/* Copies micro-batch k into its data slot and points the input buffers there. */
static void load_micro(struct lt_trainer *t, struct lt_tensor *const *inputs, int k) {
    struct lt_plan *p = t->plan;
    char *slot = t->data + (size_t)(k % 2) * p->data_slot;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if (buf->kind != LT_BUF_INPUT)
            continue;
        const struct lt_tensor *src = inputs[p->graph->values[buf->value].index];
        memcpy(slot + buf->offset, lt_tensor_data(src), lt_tensor_bytes(src));
        lt_exec_bind(&t->ex, b, slot + buf->offset);
    }
}

static void update(struct lt_trainer *t, float factor) {
    const struct lt_plan *p = t->plan;
    const struct lt_update_kernels *u = &t->ctx->cpu.update;
    float *params = t->params->data;
    int64_t total = (int64_t)(p->bytes[LT_MEM_PARAMS] / sizeof(float));
    for (int r = 0; r < t->n_ranges; r++) {
        const struct param_range *pr = &t->ranges[r];
        float lr = t->lr, wd = p->opt.weight_decay;
        if (p->opt.n_groups > 0) {
            lr *= p->groups[pr->group].lr_mult;
            wd *= p->groups[pr->group].decay_mult;
        }
        float *w = params + pr->offset;
        const float *g = t->grads + pr->offset;
        if (p->opt.kind == LT_OPTIM_ADAMW)
            u->adamw(w, g, t->moments + pr->offset, t->moments + total + pr->offset, pr->n, factor,
                     lr, p->opt.beta1, p->opt.beta2, p->opt.eps, wd, t->step + 1);
        else
            u->sgd(w, g, t->moments ? t->moments + pr->offset : NULL, pr->n, factor, lr,
                   p->opt.momentum, p->opt.dampening, wd, p->opt.nesterov, t->step == 0);
    }
}

enum lt_status lt_trainer_step(struct lt_trainer *t, const struct lt_step_input *in,
                               struct lt_step_result *res) {
    struct lt_plan *p = t->plan;
    int n_inputs = p->graph->n_inputs;
    if (in->n_micro < 1)
        return lt_fail(t->ctx, LT_EINVAL, "step: needs at least one micro-batch, got %d",
                       in->n_micro);
    for (int k = 0; k < in->n_micro; k++) {
        enum lt_status st = lt_exec_check_inputs(&t->ex, in->inputs + (size_t)k * n_inputs, "step");
        if (st != LT_OK)
            return st;
    }
    memset(t->grads, 0, p->bytes[LT_MEM_GRADS]);
    lt_exec_bind_tensors(&t->ex);
    const float *loss = NULL;
    double sum = 0, count = 0;
    int64_t rows = n_inputs > 0 && lt_tensor_ndim(in->inputs[0]) > 0
                       ? lt_tensor_shape(in->inputs[0])[0]
                       : 1;
    for (int k = 0; k < in->n_micro; k++) {
        load_micro(t, in->inputs + (size_t)k * n_inputs, k);
        t->ex.info = (struct lt_exec_info){lt_ctx_seed(t->ctx), in->epoch,
                                           in->sample_base + (int64_t)k * rows};
        enum lt_status st = lt_exec_run(&t->ex, k == 0);
        if (st != LT_OK)
            return st;
        loss = t->ex.views[p->loss_buf].data;
        sum += loss[0];
        count += loss[1];
    }
    /* one division for the whole step: equal to one batch n_micro times larger */
    float factor = count > 0 ? (float)(1.0 / ((double)t->seed[0] * count)) : 0.0f;
    double sumsq;
    int finite;
    int64_t total = (int64_t)(p->bytes[LT_MEM_GRADS] / sizeof(float));
    t->ctx->cpu.update.grad_norm(t->grads, total, factor, &sumsq, &finite);
    res->loss = count > 0 ? sum / count : 0;
    res->count = count;
    res->grad_norm = sqrt(sumsq);
    res->skipped = !finite || !isfinite(sum);
    if (!res->skipped) {
        float clip = 1.0f;
        if (p->opt.max_grad_norm > 0 && res->grad_norm > p->opt.max_grad_norm)
            clip = (float)(p->opt.max_grad_norm / (res->grad_norm + 1e-6));
        update(t, factor * clip);
        t->step++;
    }
    res->step = t->step;
    res->loss_scale = t->seed[0];
    if (t->scaler.dynamic) {
        if (res->skipped) {
            t->seed[0] *= t->scaler.backoff_factor;
            t->clean_steps = 0;
        } else if (++t->clean_steps >= t->scaler.growth_interval) {
            t->seed[0] *= t->scaler.growth_factor;
            t->clean_steps = 0;
        }
    }
    return LT_OK;
}

enum lt_status lt_trainer_set_loss_scale(struct lt_trainer *t, const struct lt_loss_scale *s) {
    if (!(s->scale > 0 && isfinite(s->scale)))
        return lt_fail(t->ctx, LT_EINVAL, "loss scale must be a finite number > 0, got %g",
                       (double)s->scale);
    if (s->dynamic && !(s->growth_factor > 1 && isfinite(s->growth_factor)))
        return lt_fail(t->ctx, LT_EINVAL, "loss scale growth_factor must be > 1, got %g",
                       (double)s->growth_factor);
    if (s->dynamic && !(s->backoff_factor > 0 && s->backoff_factor < 1))
        return lt_fail(t->ctx, LT_EINVAL, "loss scale backoff_factor must be in (0, 1), got %g",
                       (double)s->backoff_factor);
    if (s->dynamic && s->growth_interval < 1)
        return lt_fail(t->ctx, LT_EINVAL, "loss scale growth_interval must be >= 1, got %d",
                       s->growth_interval);
    t->scaler = *s;
    t->seed[0] = s->scale;
    t->clean_steps = 0;
    return LT_OK;
}

float lt_trainer_loss_scale(const struct lt_trainer *t) {
    return t->seed[0];
}

void lt_trainer_set_lr(struct lt_trainer *t, float lr) {
    t->lr = lr;
}

float lt_trainer_lr(const struct lt_trainer *t) {
    return t->lr;
}

void lt_trainer_memory(const struct lt_trainer *t, struct lt_mem_report *r) {
    memset(r, 0, sizeof *r);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        r->bytes[c] = t->allocated[c];
        r->total += t->allocated[c];
        r->live_peak[c] = t->plan->live_peak[c];
    }
}
