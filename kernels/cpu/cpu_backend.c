/* The CPU backend: every family's reference kernels in one table. */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"

void lt_cpu_backend_init(struct lt_backend *b) {
    static void (*const families[])(struct lt_backend *) = {
        lt_cpu_register_linear,  lt_cpu_register_conv,       lt_cpu_register_pool,
        lt_cpu_register_activation, lt_cpu_register_arith,   lt_cpu_register_shape,
        lt_cpu_register_softmax, lt_cpu_register_loss,       lt_cpu_register_dropout,
        lt_cpu_register_norm,    lt_cpu_register_embedding,  lt_cpu_register_reduce,
        lt_cpu_register_update,
    };
    memset(b, 0, sizeof *b);
    b->name = "cpu";
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        families[i](b);
}
