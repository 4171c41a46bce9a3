/* Trainers: a plan's memory, and the training step (micro-batches forward and backward
 * into the fp32 gradient buffer, then the two-pass update), all in C. A trainer may hold
 * more plans of the same parameters for other input shapes (a short last micro-batch);
 * its state in and out, and its hand-over to another trainer when the precision changes,
 * are core/trainer_state.c's.
 *
 * On a GPU every buffer of the step lives on the device; the parameters and the state
 * also keep their host bytes (the graph's tensors), mirrored (core/tensor.h): a step
 * sends them when the host may have changed them, and marks the host stale after it.
 * Micro-batches go in, and their losses come out, through page-locked host memory with
 * copies that do not wait (core/staging.h): the step waits once, before the update. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/fail.h"
#include "core/mem.h"
#include "core/grad_sync.h"
#include "core/optim.h"
#include "core/tensor.h"
#include "core/trainer.h"

const struct lt_exec *lt_trainer_exec(const struct lt_trainer *t) {
    return &t->ex;
}

/* Leaves the host bytes of a mirrored storage current and drops the mirror. */
static void unmirror(struct lt_trainer *t, struct lt_storage *s, struct lt_mirror *m) {
    if (!s || s->mirror != m)
        return;
    lt_storage_fetch(s);
    s->mirror = NULL;
    lt_mem_free(t->be, m->dev);
}

void lt_trainer_free(struct lt_trainer *t) {
    if (!t)
        return;
    if (t->on_device) {
        unmirror(t, t->params, &t->pmirror);
        unmirror(t, t->state, &t->smirror);
    }
    lt_grad_sync_free(t->sync);
    lt_exec_release(&t->ex);
    for (int i = 0; i < t->n_more; i++) {
        struct lt_plan *p = t->more[i]->plan;
        lt_exec_release(t->more[i]);
        free(t->more[i]);
        lt_plan_free(p);
    }
    lt_storage_release(t->params);
    lt_storage_release(t->state);
    lt_mem_free(t->be, t->grads);
    lt_mem_free(t->be, t->moments);
    lt_mem_free(t->be, t->data);
    lt_staging_free(&t->staging);
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
            t->ranges[t->n_ranges++] = (struct param_range){(int64_t)(buf->offset / sizeof(float)),
                                                            lt_kview_numel(&buf->view),
                                                            p->graph->values[buf->value].group};
        } else if (buf->kind == LT_BUF_STATE) {
            lt_tensor_rebind(tensor, t->state, buf->offset);
        }
    }
}

/* An arena of exactly the plan's bytes for category c, recorded as allocated. */
static void *alloc_category(struct lt_trainer *t, enum lt_mem_category c) {
    void *mem;
    if (lt_mem_alloc(t->ctx, t->be, t->plan->bytes[c], &mem) != LT_OK)
        return NULL;
    t->allocated[c] += t->plan->bytes[c];
    return mem;
}

/* On a GPU: a device copy of storage s, the host's bytes to be sent before the first
 * step. */
static enum lt_status mirror(struct lt_trainer *t, struct lt_storage *s, struct lt_mirror *m,
                             char **dev) {
    *m = (struct lt_mirror){t->be, NULL, 0, 1};
    enum lt_status st = lt_mem_alloc(t->ctx, t->be, s->bytes, &m->dev);
    if (st != LT_OK)
        return st;
    s->mirror = m;
    *dev = m->dev;
    return LT_OK;
}

enum lt_status lt_trainer_write_seed(struct lt_trainer *t, float scale) {
    float seed[2] = {scale, 0.0f};
    t->scale = scale;
    size_t at = t->plan->bufs[t->plan->seed_buf].offset;
    memcpy((char *)t->state->data + at, seed, sizeof seed);
    if (!t->on_device)
        return LT_OK;
    return lt_mem_copy(t->ctx, t->be, t->seed, seed, sizeof seed, LT_COPY_H2D);
}

/* Points ex's parameter and state buffers at the step's copies of their tensors. */
static void bind_flat(struct lt_trainer *t, struct lt_exec *ex) {
    if (!t->on_device) {
        lt_exec_bind_tensors(ex);
        return;
    }
    const struct lt_plan *p = ex->plan;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if ((buf->kind != LT_BUF_PARAM && buf->kind != LT_BUF_STATE) || buf->value < 0)
            continue;
        const struct lt_tensor *x = p->graph->values[buf->value].tensor;
        LT_ASSERT(x->storage == t->params || x->storage == t->state);
        lt_exec_bind(ex, b, (x->storage == t->params ? t->dparams : t->dstate) + x->offset);
    }
}

/* In a data-parallel job: the all-reduce of the gradient, in buckets. */
static enum lt_status join_sync(struct lt_trainer *t) {
    return lt_dist_active(t->ctx) ? lt_grad_sync_new(t->ctx, t->plan, t->grads, &t->sync) : LT_OK;
}

/* Rank 0's bytes of a storage to every rank (its device copy too). */
static enum lt_status broadcast_storage(struct lt_trainer *t, struct lt_storage *s,
                                        const char *what) {
    lt_storage_fetch(s);
    enum lt_status st = lt_dist_broadcast(t->ctx, s->data, s->bytes, 0, what);
    if (st == LT_OK && s->mirror)
        s->mirror->device_stale = 1;
    return st;
}

/* In a data-parallel job, before the first step: every rank takes rank 0's weights (the
 * updates agree from then on). */
static enum lt_status agree_weights(struct lt_trainer *t) {
    if (!t->sync || t->weights_agreed)
        return LT_OK;
    enum lt_status st = broadcast_storage(t, t->params, "the weights' broadcast from rank 0");
    t->weights_agreed = st == LT_OK;
    return st;
}

/* After a step: every rank takes rank 0's running statistics (as DDP's buffers: each
 * rank's forward saw only its shard), so that evaluation and the next step see the
 * statistics rank 0 saves. The state holds the loss seed too, the same on every rank:
 * only statistics need the broadcast. */
static enum lt_status agree_statistics(struct lt_trainer *t) {
    if (!t->sync || t->plan->flat_state <= 2 * sizeof(float))
        return LT_OK;
    return broadcast_storage(t, t->state, "the running statistics' broadcast from rank 0");
}

enum lt_status lt_trainer_new(struct lt_ctx *ctx, struct lt_plan *p, struct lt_trainer **out) {
    struct lt_trainer *t = lt_zalloc(ctx, sizeof *t);
    if (!t)
        return LT_ENOMEM;
    t->ctx = ctx;
    t->be = p->be;
    t->on_device = p->be->dev.alloc != NULL;
    t->plan = p;
    p->refs++;
    t->lr = p->opt.lr;
    t->slot = p->data_slot;
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
    t->dparams = t->params->data;
    t->dstate = t->state->data;
    if (t->on_device && ((st = mirror(t, t->params, &t->pmirror, &t->dparams)) != LT_OK ||
                         (st = mirror(t, t->state, &t->smirror, &t->dstate)) != LT_OK)) {
        lt_trainer_free(t);
        return st;
    }
    adopt_tensors(t);
    bind_flat(t, &t->ex);
    for (int b = 0; b < p->n_bufs; b++)
        if (p->bufs[b].kind == LT_BUF_GRAD)
            lt_exec_bind(&t->ex, b, (char *)t->grads + p->bufs[b].offset);
    t->seed = (float *)(t->dstate + p->bufs[p->seed_buf].offset);
    t->scaler = (struct lt_loss_scale){1.0f, 0, 2.0f, 0.5f, 2000};
    lt_exec_bind(&t->ex, p->seed_buf, t->seed);
    if ((st = lt_trainer_write_seed(t, 1.0f)) != LT_OK || (st = join_sync(t)) != LT_OK) {
        lt_trainer_free(t);
        return st;
    }
    *out = t;
    return LT_OK;
}

/* Micro-batches in page-locked memory at once on a GPU: the step waits for the card
 * before it packs every STAGED-th, so the staging buffer stays small however many
 * micro-batches a step accumulates. */
#define STAGED 4

/* Where micro-batch k of a step of n waits in the staging buffer: after the losses. */
static size_t staged_losses(int n) {
    return lt_align((size_t)n * 2 * sizeof(float));
}

/* Copies micro-batch k into its data slot (on a GPU through the staging buffer, queued
 * behind micro-batch k - 2, which used the slot before; the caller has waited for the
 * copy that used its staging slot) and points ex's input buffers there. */
static enum lt_status load_micro(struct lt_trainer *t, struct lt_exec *ex,
                                 struct lt_tensor *const *inputs, int k, int n) {
    const struct lt_plan *p = ex->plan;
    char *slot = t->data + (size_t)(k % 2) * t->slot;
    size_t staged = staged_losses(n) + (size_t)(k % STAGED) * t->slot;
    for (int b = 0; b < p->n_bufs; b++) {
        const struct lt_buf *buf = &p->bufs[b];
        if (buf->kind != LT_BUF_INPUT)
            continue;
        const struct lt_tensor *src = inputs[p->graph->values[buf->value].index];
        void *to = slot + buf->offset;
        enum lt_status st =
            t->on_device ? lt_staging_send(t->ctx, &t->staging, staged + buf->offset, to,
                                           lt_tensor_data(src), lt_tensor_bytes(src))
                         : lt_mem_copy(t->ctx, t->be, to, lt_tensor_data(src),
                                       lt_tensor_bytes(src), LT_COPY_H2D);
        if (st != LT_OK)
            return st;
        lt_exec_bind(ex, b, slot + buf->offset);
    }
    return LT_OK;
}

/* The executor whose plan takes these inputs: 0 for the first plan, i + 1 for more[i];
 * -1 (with the first plan's message on the context) when none does. */
static int pick_exec(struct lt_trainer *t, struct lt_tensor *const *inputs) {
    for (int i = 0; i < t->n_more; i++)
        if (lt_exec_check_inputs(t->more[i], inputs, "step") == LT_OK)
            return i + 1;
    return lt_exec_check_inputs(&t->ex, inputs, "step") == LT_OK ? 0 : -1;
}

static struct lt_exec *exec_at(struct lt_trainer *t, int e) {
    return e == 0 ? &t->ex : t->more[e - 1];
}

/* The optimizer's pass over each range of parameters, at its group's lr and decay. */
static void update(struct lt_trainer *t, float factor) {
    const struct lt_plan *p = t->plan;
    float *params = (float *)t->dparams;
    int64_t total = (int64_t)(p->bytes[LT_MEM_PARAMS] / sizeof(float));
    for (int r = 0; r < t->n_ranges; r++) {
        const struct param_range *pr = &t->ranges[r];
        float lr = t->lr, wd = p->opt.weight_decay;
        if (p->opt.n_groups > 0) {
            lr *= p->groups[pr->group].lr_mult;
            wd *= p->groups[pr->group].decay_mult;
        }
        lt_optim_update(t->be, &p->opt, params + pr->offset, t->grads + pr->offset,
                        t->moments ? t->moments + pr->offset : NULL, total, pr->n, factor, lr,
                        wd, t->step);
    }
}

/* Queues every micro-batch of the step, forward and backward; on the CPU it also sums
 * their losses, on a GPU they are staged and summed after the wait. */
static enum lt_status zero_grads(struct lt_trainer *t) {
    return lt_mem_zero(t->ctx, t->be, t->grads, t->plan->bytes[LT_MEM_GRADS]);
}

static enum lt_status run_micro_batches(struct lt_trainer *t, const struct lt_step_input *in,
                                        double *sum, double *count) {
    int n_inputs = t->plan->graph->n_inputs;
    int ran[MAX_PLANS] = {0}; /* an executor's first micro-batch makes its param copies */
    int64_t sample = in->sample_base;
    for (int k = 0; k < in->n_micro; k++) {
        struct lt_tensor *const *inputs = in->inputs + (size_t)k * n_inputs;
        int e = pick_exec(t, inputs);
        struct lt_exec *ex = exec_at(t, e);
        enum lt_status st = LT_OK;
        if (t->on_device && k >= STAGED && k % STAGED == 0) { /* the staging slots are free */
            char msg[LT_KMSG_SIZE] = "";
            if ((st = t->be->dev.sync(t->be->impl, msg)) != LT_OK)
                return lt_fail(t->ctx, st, "step: %s", msg);
        }
        if ((st = load_micro(t, ex, inputs, k, in->n_micro)) != LT_OK)
            return st;
        /* the first micro-batch's plan overwrites every parameter's gradient, or the
         * gradient is zeroed first */
        if (k == 0 && !ex->plan->grads_overwritten && (st = zero_grads(t)) != LT_OK)
            return st;
        /* the last micro-batch's backward finishes the gradient: its buckets start as it
         * goes */
        if (t->sync && k == in->n_micro - 1 && (st = lt_grad_sync_begin(t->sync, ex)) != LT_OK)
            return st;
        if (in->sample_bases)
            sample = in->sample_bases[k];
        ex->info = (struct lt_exec_info){lt_ctx_seed(t->ctx), in->epoch, sample};
        unsigned run = (ran[e] ? 0 : LT_RUN_COPIES) | (k == 0 ? LT_RUN_FRESH : 0);
        if ((st = lt_exec_run(ex, run)) != LT_OK)
            return st;
        ran[e] = 1;
        const float *loss = ex->views[ex->plan->loss_buf].data; /* {sum, count} */
        if (t->on_device) {
            st = lt_staging_receive(t->ctx, &t->staging, (size_t)k * 2 * sizeof(float), loss,
                                    2 * sizeof(float));
            if (st != LT_OK)
                return st;
        } else {
            *sum += loss[0];
            *count += loss[1];
        }
        sample += n_inputs > 0 && lt_tensor_ndim(inputs[0]) > 0 ? lt_tensor_shape(inputs[0])[0] : 1;
    }
    return LT_OK;
}

/* The step after its checks: lt_trainer_step's contract. */
static enum lt_status run_step(struct lt_trainer *t, const struct lt_step_input *in,
                               struct lt_step_result *res);

enum lt_status lt_trainer_step(struct lt_trainer *t, const struct lt_step_input *in,
                               struct lt_step_result *res) {
    int n_inputs = t->plan->graph->n_inputs;
    /* a rank whose shard of a short last batch is empty still takes part in the sums */
    if (in->n_micro < (t->sync ? 0 : 1))
        return lt_fail(t->ctx, LT_EINVAL, "step: needs at least one micro-batch, got %d",
                       in->n_micro);
    for (int k = 0; k < in->n_micro; k++)
        if (pick_exec(t, in->inputs + (size_t)k * n_inputs) < 0)
            return LT_EINVAL;
    if (t->disagreed)
        return lt_fail(t->ctx, LT_EINVAL, "step: an earlier step of this data-parallel job "
                       "failed, and the ranks no longer agree: end the job (a resume from the "
                       "last checkpoint continues it)");
    enum lt_status st = run_step(t, in, res);
    /* past the checks, a failed step of a data-parallel job has left the ranks' collectives
     * out of step (a bad batch refused above has not: the step can be asked again) */
    if (st != LT_OK && t->sync) {
        lt_grad_sync_abandon(t->sync);
        t->disagreed = 1;
    }
    return st;
}

static enum lt_status run_step(struct lt_trainer *t, const struct lt_step_input *in,
                               struct lt_step_result *res) {
    struct lt_plan *p = t->plan;
    enum lt_status st = agree_weights(t);
    if (st == LT_OK && in->n_micro == 0) /* a rank without data adds zeros */
        st = zero_grads(t);
    if (st == LT_OK)
        st = lt_storage_push(t->ctx, t->params);
    if (st == LT_OK)
        st = lt_storage_push(t->ctx, t->state);
    if (st == LT_OK && t->on_device)
        st = lt_staging_reserve(t->ctx, &t->staging, t->be,
                                staged_losses(in->n_micro) +
                                    (size_t)(in->n_micro < STAGED ? in->n_micro : STAGED) *
                                        t->slot);
    if (st != LT_OK)
        return st;
    bind_flat(t, &t->ex);
    for (int i = 0; i < t->n_more; i++)
        bind_flat(t, t->more[i]);
    double sum = 0, count = 0;
    res->comm_buckets = res->comm_early = 0;
    res->comm_wait_seconds = 0;
    st = run_micro_batches(t, in, &sum, &count);
    if (t->on_device) {
        /* a kernel's failure, or bad data it flagged, stops the step before the update;
         * and no copy through the staging buffer outlives the step, even a failed one */
        char msg[LT_KMSG_SIZE] = "";
        enum lt_status waited = t->be->dev.sync(t->be->impl, msg);
        if (st == LT_OK && waited != LT_OK)
            st = lt_fail(t->ctx, waited, "step: %s", msg);
        const float *losses = (const float *)t->staging.host;
        for (int k = 0; st == LT_OK && k < in->n_micro; k++) {
            sum += losses[2 * k];
            count += losses[2 * k + 1];
        }
    }
    if (st == LT_OK && t->sync) { /* every rank's gradient and losses, summed */
        double pair[2] = {sum, count};
        st = lt_grad_sync_finish(t->sync, res);
        if (st == LT_OK)
            st = lt_dist_sum(t->ctx, pair, 2, "the loss all-reduce");
        sum = pair[0];
        count = pair[1];
    }
    if (st != LT_OK)
        return st;
    /* one division for the whole step: equal to one batch n_micro times larger (and world
     * size times, in a data-parallel job) */
    float factor = count > 0 ? (float)(1.0 / ((double)t->scale * count)) : 0.0f;
    double sumsq;
    int finite;
    int64_t total = (int64_t)(p->bytes[LT_MEM_GRADS] / sizeof(float));
    t->be->update.grad_norm(t->be->impl, t->grads, total, factor, &sumsq, &finite);
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
    /* the step wrote the parameters (and batch norm the running statistics) */
    t->pmirror.host_stale = t->smirror.host_stale = t->on_device;
    res->step = t->step;
    res->loss_scale = t->scale;
    if (t->scaler.dynamic) {
        if (res->skipped) {
            st = lt_trainer_write_seed(t, t->scale * t->scaler.backoff_factor);
            t->clean_steps = 0;
        } else if (++t->clean_steps >= t->scaler.growth_interval) {
            st = lt_trainer_write_seed(t, t->scale * t->scaler.growth_factor);
            t->clean_steps = 0;
        }
    }
    return st == LT_OK ? agree_statistics(t) : st;
}

void lt_trainer_memory(const struct lt_trainer *t, struct lt_mem_report *r) {
    memset(r, 0, sizeof *r);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        r->bytes[c] = t->allocated[c];
        r->total += t->allocated[c];
        r->live_peak[c] = t->plan->live_peak[c];
    }
}

/* ---- more plans ------------------------------------------------------------------------- */

int lt_trainer_buf_of(const struct lt_plan *p, enum lt_value_kind kind, int i) {
    int v = lt_graph_find(p->graph, kind, i);
    return v < 0 ? -1 : p->value_buf[v];
}

void lt_trainer_adopt(struct lt_tensor *t, struct lt_storage *s, size_t offset) {
    if (t->storage != s || t->offset != offset)
        lt_tensor_rebind(t, s, offset);
}

enum lt_status lt_trainer_add_plan(struct lt_trainer *t, struct lt_plan *p) {
    const struct lt_plan *p0 = t->plan;
    const struct lt_graph *g0 = p0->graph, *g = p->graph;
    if (t->n_more >= MAX_PLANS - 1)
        return lt_fail(t->ctx, LT_EINVAL, "add_plan: a trainer holds at most %d plans", MAX_PLANS);
    if (!p->training || p->opt.kind != p0->opt.kind)
        return lt_fail(t->ctx, LT_EINVAL,
                       "add_plan: the plan must be a training plan with the same optimizer");
    if (g->n_params != g0->n_params || g->n_inputs != g0->n_inputs)
        return lt_fail(t->ctx, LT_EINVAL,
                       "add_plan: the plan has %d parameters and %d inputs, the trainer's %d "
                       "and %d",
                       g->n_params, g->n_inputs, g0->n_params, g0->n_inputs);
    for (int i = 0; i < g->n_params; i++) {
        const struct lt_value *a = &g0->values[lt_graph_find(g0, LT_VALUE_PARAM, i)];
        const struct lt_value *b = &g->values[lt_graph_find(g, LT_VALUE_PARAM, i)];
        int b0 = lt_trainer_buf_of(p0, LT_VALUE_PARAM, i), b1 = lt_trainer_buf_of(p, LT_VALUE_PARAM, i);
        if (a->tensor != b->tensor || (b0 < 0) != (b1 < 0))
            return lt_fail(t->ctx, LT_EINVAL,
                           "add_plan: parameter %d (%s) is not the trainer's parameter %d", i + 1,
                           b->name ? b->name : "unnamed", i + 1);
    }
    struct lt_exec *ex = lt_zalloc(t->ctx, sizeof *ex);
    if (!ex)
        return LT_ENOMEM;
    if (p->be != t->be) {
        free(ex);
        return lt_fail(t->ctx, LT_EINVAL, "add_plan: the plan runs on another device");
    }
    /* the plans run one after the other: what lives within a run shares memory */
    enum lt_status st = lt_exec_init_sharing(ex, t->ctx, p, &t->ex);
    if (st != LT_OK) {
        free(ex);
        return st;
    }
    if (p->data_slot > t->slot) { /* a larger shape: both slots grow */
        char *data;
        if ((st = lt_mem_alloc(t->ctx, t->be, 2 * p->data_slot, (void **)&data)) != LT_OK) {
            lt_exec_release(ex);
            free(ex);
            return st;
        }
        lt_mem_free(t->be, t->data);
        t->data = data;
        t->allocated[LT_MEM_DATA] += 2 * (p->data_slot - t->slot);
        t->slot = p->data_slot;
    }
    for (int c = 0; c < LT_MEM_COUNT; c++)
        t->allocated[c] += ex->arena_bytes[c];
    /* gradients land where the first plan's update reads them */
    for (int i = 0; i < g->n_params; i++) {
        int v0 = lt_graph_find(g0, LT_VALUE_PARAM, i), v = lt_graph_find(g, LT_VALUE_PARAM, i);
        if (p->grad_buf[v] >= 0 && p0->grad_buf[v0] >= 0)
            lt_exec_bind(ex, p->grad_buf[v], (char *)t->grads + p0->bufs[p0->grad_buf[v0]].offset);
    }
    lt_exec_bind(ex, p->seed_buf, t->seed);
    bind_flat(t, ex);
    p->refs++;
    t->more[t->n_more++] = ex;
    return LT_OK;
}

int lt_trainer_plan_count(const struct lt_trainer *t) {
    return 1 + t->n_more;
}

int lt_trainer_profile(const struct lt_trainer *t, struct lt_node_time *out, int max) {
    const struct lt_plan *p = t->plan;
    if (!t->ex.node_seconds)
        return 0;
    for (int n = 0; n < p->n_nodes && n < max; n++)
        out[n] = (struct lt_node_time){lt_op_name(p->nodes[n].op),
                                       p->nodes[n].backward || p->nodes[n].adapts,
                                       t->ex.node_seconds[n]};
    return p->n_nodes;
}

void lt_trainer_profile_reset(struct lt_trainer *t) {
    if (t->ex.node_seconds)
        memset(t->ex.node_seconds, 0, (size_t)t->plan->n_nodes * sizeof *t->ex.node_seconds);
}
