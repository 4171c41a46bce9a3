/* The optimizer in one file: PyTorch's defaults, the checks of a config, the moments
 * it keeps and the dispatch of its update pass to the backend's kernels
 * (kernels/cpu/update.c, kernels/cuda/update.cu); the trainer drives it. */
#include <math.h>
#include <string.h>

#include "core/fail.h"
#include "core/optim.h"

struct lt_optim_config lt_optim_defaults(enum lt_optim_kind kind, float lr) {
    struct lt_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    if (kind == LT_OPTIM_ADAMW) {
        c.beta1 = 0.9f;
        c.beta2 = 0.999f;
        c.eps = 1e-8f;
        c.weight_decay = 1e-2f;
    }
    return c;
}

enum lt_status lt_optim_check(struct lt_ctx *ctx, const struct lt_optim_config *o,
                              const struct lt_graph *g) {
    if (!(o->lr >= 0 && isfinite(o->lr)))
        return lt_fail(ctx, LT_EINVAL, "optim: lr must be a finite number >= 0, got %g",
                       (double)o->lr);
    if (!(o->weight_decay >= 0 && isfinite(o->weight_decay)))
        return lt_fail(ctx, LT_EINVAL, "optim: weight_decay must be >= 0, got %g",
                       (double)o->weight_decay);
    if (!(o->max_grad_norm >= 0 && isfinite(o->max_grad_norm)))
        return lt_fail(ctx, LT_EINVAL, "optim: max_grad_norm must be >= 0, got %g",
                       (double)o->max_grad_norm);
    if (o->kind == LT_OPTIM_SGD) {
        if (!(o->momentum >= 0 && o->momentum < 1))
            return lt_fail(ctx, LT_EINVAL, "optim: momentum must be in [0, 1), got %g",
                           (double)o->momentum);
        if (!(o->dampening >= 0 && o->dampening <= 1))
            return lt_fail(ctx, LT_EINVAL, "optim: dampening must be in [0, 1], got %g",
                           (double)o->dampening);
        if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
            return lt_fail(ctx, LT_EINVAL,
                           "optim: nesterov needs momentum > 0 and dampening 0");
    } else if (o->kind == LT_OPTIM_ADAMW) {
        if (!(o->beta1 >= 0 && o->beta1 < 1 && o->beta2 >= 0 && o->beta2 < 1))
            return lt_fail(ctx, LT_EINVAL, "optim: betas must be in [0, 1), got %g and %g",
                           (double)o->beta1, (double)o->beta2);
        if (!(o->eps > 0))
            return lt_fail(ctx, LT_EINVAL, "optim: eps must be > 0, got %g", (double)o->eps);
    } else {
        return lt_fail(ctx, LT_EINVAL, "optim: unknown optimizer kind %d", (int)o->kind);
    }
    if (o->n_groups < 0 || (o->n_groups > 0 && !o->groups))
        return lt_fail(ctx, LT_EINVAL, "optim: %d groups but no group table", o->n_groups);
    for (int i = 0; i < o->n_groups; i++)
        if (!(o->groups[i].lr_mult >= 0 && o->groups[i].decay_mult >= 0))
            return lt_fail(ctx, LT_EINVAL, "optim: group %d has a negative multiplier", i);
    int groups = o->n_groups > 0 ? o->n_groups : 1;
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v].kind == LT_VALUE_PARAM && g->values[v].group >= groups)
            return lt_fail(ctx, LT_EINVAL, "param '%s' is in group %d, but the optimizer has %d",
                           g->values[v].name ? g->values[v].name : "?", g->values[v].group,
                           groups);
    return LT_OK;
}

int lt_optim_moments(const struct lt_optim_config *o) {
    if (o->kind == LT_OPTIM_ADAMW)
        return 2;
    return o->momentum > 0 ? 1 : 0;
}

void lt_optim_update(const struct lt_backend *be, const struct lt_optim_config *o, float *w,
                     const float *g, float *m, int64_t stride, int64_t n, float factor, float lr,
                     float wd, int64_t step) {
    const struct lt_update_kernels *u = &be->update;
    if (o->kind == LT_OPTIM_ADAMW)
        u->adamw(be->impl, w, g, m, m + stride, n, factor, lr, o->beta1, o->beta2, o->eps, wd,
                 step + 1);
    else
        u->sgd(be->impl, w, g, m, n, factor, lr, o->momentum, o->dampening, wd, o->nesterov,
               step == 0);
}
