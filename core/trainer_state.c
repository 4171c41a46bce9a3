/* A trainer's state in and out: its loss scale, clean-step count, lr and step count,
 * its optimizer moments per parameter, and the hand-over of all of it (with the weights
 * and running statistics) to another trainer of the same parameters, when the precision
 * changes. */
#include <math.h>
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/trainer.h"

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
    t->clean_steps = 0;
    return lt_trainer_write_seed(t, s->scale);
}

float lt_trainer_loss_scale(const struct lt_trainer *t) {
    return t->scale;
}

int lt_trainer_clean_steps(const struct lt_trainer *t) {
    return t->clean_steps;
}

enum lt_status lt_trainer_set_clean_steps(struct lt_trainer *t, int clean_steps) {
    if (clean_steps < 0)
        return lt_fail(t->ctx, LT_EINVAL, "set_clean_steps: the count must be >= 0, got %d",
                       clean_steps);
    t->clean_steps = clean_steps;
    return LT_OK;
}

void lt_trainer_set_lr(struct lt_trainer *t, float lr) {
    t->lr = lr;
}

float lt_trainer_lr(const struct lt_trainer *t) {
    return t->lr;
}

int lt_trainer_moment_count(const struct lt_trainer *t) {
    if (!t->moments)
        return 0;
    return t->plan->opt.kind == LT_OPTIM_ADAMW ? 2 : 1;
}

/* Copies bytes between two trainers' memories (host or device, one GPU). */
static enum lt_status copy_between(struct lt_trainer *dst, void *to, const struct lt_trainer *src,
                                   const void *from, size_t bytes) {
    if (dst->on_device)
        return lt_mem_copy(dst->ctx, dst->be, to, from, bytes,
                           src->on_device ? LT_COPY_D2D : LT_COPY_H2D);
    return lt_mem_copy(dst->ctx, src->be, to, from, bytes, LT_COPY_D2H);
}

/* Moment k of parameter buffer b: a pointer into the flat moment buffer. */
static float *moment_at(const struct lt_trainer *t, int k, int b) {
    int64_t total = (int64_t)(t->plan->bytes[LT_MEM_PARAMS] / sizeof(float));
    return t->moments + (int64_t)k * total + (int64_t)(t->plan->bufs[b].offset / sizeof(float));
}

enum lt_status lt_trainer_copy_state(struct lt_trainer *dst, const struct lt_trainer *src) {
    const struct lt_plan *pd = dst->plan, *ps = src->plan;
    const struct lt_graph *gd = pd->graph, *gs = ps->graph;
    if (gd->n_params != gs->n_params ||
        lt_trainer_moment_count(dst) != lt_trainer_moment_count(src))
        return lt_fail(dst->ctx, LT_EINVAL,
                       "copy_state: the trainers differ: %d and %d parameters, %d and %d "
                       "optimizer moments",
                       gs->n_params, gd->n_params, lt_trainer_moment_count(src),
                       lt_trainer_moment_count(dst));
    for (int i = 0; i < gd->n_params; i++) {
        int bd = lt_trainer_buf_of(pd, LT_VALUE_PARAM, i), bs = lt_trainer_buf_of(ps, LT_VALUE_PARAM, i);
        if ((bd < 0) != (bs < 0) ||
            (bd >= 0 && lt_kview_numel(&pd->bufs[bd].view) != lt_kview_numel(&ps->bufs[bs].view)))
            return lt_fail(dst->ctx, LT_EINVAL, "copy_state: parameter %d differs in size", i + 1);
    }
    int moments = lt_trainer_moment_count(dst);
    lt_storage_fetch(src->params);
    lt_storage_fetch(src->state);
    lt_storage_fetch(dst->params);
    lt_storage_fetch(dst->state);
    if (dst->on_device)
        dst->pmirror.device_stale = dst->smirror.device_stale = 1;
    for (int i = 0; i < gd->n_params; i++) {
        int bd = lt_trainer_buf_of(pd, LT_VALUE_PARAM, i), bs = lt_trainer_buf_of(ps, LT_VALUE_PARAM, i);
        if (bd < 0)
            continue;
        struct lt_tensor *td = gd->values[pd->bufs[bd].value].tensor;
        size_t bytes = (size_t)lt_kview_numel(&pd->bufs[bd].view) * sizeof(float);
        lt_trainer_adopt(td, dst->params, pd->bufs[bd].offset);
        memcpy((char *)dst->params->data + pd->bufs[bd].offset,
               (const char *)src->params->data + ps->bufs[bs].offset, bytes);
        for (int k = 0; k < moments; k++) {
            enum lt_status st =
                copy_between(dst, moment_at(dst, k, bd), src, moment_at(src, k, bs), bytes);
            if (st != LT_OK)
                return st;
        }
    }
    for (int i = 0; i < gd->n_states; i++) {
        int bd = lt_trainer_buf_of(pd, LT_VALUE_STATE, i), bs = lt_trainer_buf_of(ps, LT_VALUE_STATE, i);
        if (bd < 0)
            continue;
        struct lt_tensor *td = gd->values[pd->bufs[bd].value].tensor;
        lt_trainer_adopt(td, dst->state, pd->bufs[bd].offset);
        if (bs >= 0 && gs->values[ps->bufs[bs].value].tensor != td &&
            ps->bufs[bs].bytes == pd->bufs[bd].bytes)
            memcpy((char *)dst->state->data + pd->bufs[bd].offset,
                   (const char *)src->state->data + ps->bufs[bs].offset, lt_tensor_bytes(td));
    }
    dst->step = src->step;
    dst->lr = src->lr;
    dst->scaler = src->scaler;
    dst->clean_steps = src->clean_steps;
    return lt_trainer_write_seed(dst, src->scale);
}

/* The flat-buffer index of parameter i, checked; -1 with a message on failure. */
static int param_buf(struct lt_trainer *t, int k, int i, const struct lt_tensor *x,
                     const char *where) {
    const struct lt_plan *p = t->plan;
    if (k < 0 || k >= lt_trainer_moment_count(t))
        return lt_fail(t->ctx, LT_EINVAL, "%s: moment %d does not exist (the optimizer keeps %d)",
                       where, k, lt_trainer_moment_count(t)),
               -1;
    if (i < 0 || i >= p->graph->n_params)
        return lt_fail(t->ctx, LT_EINVAL, "%s: parameter %d does not exist (the graph has %d)",
                       where, i, p->graph->n_params),
               -1;
    int b = lt_trainer_buf_of(p, LT_VALUE_PARAM, i);
    if (b < 0)
        return lt_fail(t->ctx, LT_EINVAL, "%s: parameter %d is not trained by this plan", where, i),
               -1;
    if (lt_tensor_dtype(x) != LT_DTYPE_F32 ||
        lt_tensor_numel(x) != lt_kview_numel(&p->bufs[b].view))
        return lt_fail(t->ctx, LT_EINVAL,
                       "%s: parameter %d has %lld elements; the tensor must be f32 with as many, "
                       "got %s with %lld",
                       where, i, (long long)lt_kview_numel(&p->bufs[b].view),
                       lt_dtype_name(lt_tensor_dtype(x)), (long long)lt_tensor_numel(x)),
               -1;
    return b;
}

enum lt_status lt_trainer_get_moment(struct lt_trainer *t, int k, int i, struct lt_tensor *dst) {
    int b = param_buf(t, k, i, dst, "get_moment");
    if (b < 0)
        return LT_EINVAL;
    return lt_mem_copy(t->ctx, t->be, lt_tensor_data(dst), moment_at(t, k, b), lt_tensor_bytes(dst),
                       LT_COPY_D2H);
}

enum lt_status lt_trainer_set_moment(struct lt_trainer *t, int k, int i,
                                     const struct lt_tensor *src) {
    int b = param_buf(t, k, i, src, "set_moment");
    if (b < 0)
        return LT_EINVAL;
    return lt_mem_copy(t->ctx, t->be, moment_at(t, k, b), lt_tensor_data(src), lt_tensor_bytes(src),
                       LT_COPY_H2D);
}

int64_t lt_trainer_steps(const struct lt_trainer *t) {
    return t->step;
}

enum lt_status lt_trainer_set_steps(struct lt_trainer *t, int64_t steps) {
    if (steps < 0)
        return lt_fail(t->ctx, LT_EINVAL, "set_steps: the step count must be >= 0, got %lld",
                       (long long)steps);
    t->step = steps;
    return LT_OK;
}
