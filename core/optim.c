/* Optimizer configuration defaults (PyTorch's). The update passes themselves are
 * kernels (kernels/cpu/update.c); the trainer drives them. */
#include <string.h>

#include "core/lutra.h"

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
