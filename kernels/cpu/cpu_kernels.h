/* The CPU reference kernels, one register function per op family.
 *
 * Reference kernels are the spec: plain loops, double accumulation where a sum is
 * long, single-threaded. Each family file fills its ops' (op, dtype) entries.
 */
#ifndef LT_CPU_KERNELS_H
#define LT_CPU_KERNELS_H

#include "kernels/kernels.h"

void lt_cpu_register_linear(struct lt_backend *b);
void lt_cpu_register_conv(struct lt_backend *b);
void lt_cpu_register_pool(struct lt_backend *b);
void lt_cpu_register_activation(struct lt_backend *b);
void lt_cpu_register_arith(struct lt_backend *b);
void lt_cpu_register_shape(struct lt_backend *b);
void lt_cpu_register_softmax(struct lt_backend *b);
void lt_cpu_register_loss(struct lt_backend *b);
void lt_cpu_register_dropout(struct lt_backend *b);
void lt_cpu_register_norm(struct lt_backend *b);
void lt_cpu_register_embedding(struct lt_backend *b);
void lt_cpu_register_reduce(struct lt_backend *b);
void lt_cpu_register_update(struct lt_backend *b);

/* Sets the forward/backward reference kernels of `op` for dtype `dt`. */
static inline void lt_cpu_set(struct lt_backend *b, enum lt_op op, enum lt_dtype dt,
                              lt_kernel_fn forward, lt_kernel_fn backward) {
    b->kernels[op][dt].forward = forward;
    b->kernels[op][dt].backward = backward;
}

/* For a backward kernel: stores v into gin element i, adding when accumulating. */
static inline void lt_grad_store(const struct lt_kargs *a, int input, int64_t i, double v) {
    float *g = (float *)a->gin[input]->data;
    if (a->accumulate & (1u << input))
        g[i] += (float)v;
    else
        g[i] = (float)v;
}

#endif
