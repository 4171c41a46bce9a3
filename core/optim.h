/* The optimizer, in one place for the core: its config's checks, the moments it keeps
 * and the update pass it runs over one range of the flat buffers. Private to the core;
 * the passes themselves are each backend's kernels (struct lt_update_kernels). */
#ifndef LT_OPTIM_H
#define LT_OPTIM_H

#include <stdint.h>

#include "core/graph.h"
#include "core/lutra.h"

/* Checks o against PyTorch's domains (lr, weight decay, momentum, betas ...) and that
 * every parameter of g is in one of its groups. Fails with LT_EINVAL naming the field
 * and the value ("optim: momentum must be in [0, 1), got 1"). */
enum lt_status lt_optim_check(struct lt_ctx *ctx, const struct lt_optim_config *o,
                              const struct lt_graph *g);

/* How many moment buffers of the parameters' size o keeps: AdamW 2 (exp_avg, exp_avg_sq),
 * SGD with momentum 1 (momentum_buffer), plain SGD 0. The moments are laid out one after
 * the other in one flat buffer. Cannot fail. */
int lt_optim_moments(const struct lt_optim_config *o);

/* Updates n parameters w from their gradients g (each multiplied by factor as it is
 * read) with o's rule at learning rate lr and weight decay wd (the group's), moments m
 * (the first moment of these parameters; the second is m + stride) and `step` optimizer
 * steps applied before this one. Runs on the backend's update kernels. Cannot fail. */
void lt_optim_update(const struct lt_backend *be, const struct lt_optim_config *o, float *w,
                     const float *g, float *m, int64_t stride, int64_t n, float factor, float lr,
                     float wd, int64_t step);

#endif
