/* bench_layers: the time of each of the example MLP's and CNN's layers through the fast
 * CPU kernels at batch 128, in f32 and bf16: forward, backward data, backward weights
 * and bias, and the whole backward, and the workspace each asks for; the CNN's max
 * poolings on plain tensors and on the channel-blocked ones a plan gives them
 * (struct lt_kargs, "Layouts"); the first convolution and its pool fused, as a plan runs
 * them (conv2d_max_pool2d). It calls the kernel
 * table directly (kernels/kernels.h), as a planned step does: prepare from the shapes,
 * the workspace query, then the calls.
 *
 * Run it with DNNL_VERBOSE=1 to see which oneDNN implementation each call takes, and
 * with LUTRA_MAX_CPU_ISA / ONEDNN_MAX_CPU_ISA to compare ISAs on one machine.
 *
 * Usage: bench_layers [--reps N]   (N timed calls per figure, after two warm-up calls;
 *                                   the least and the median are shown, in ms)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/lutra.h"
#include "core/ops/ops.h"
#include "kernels/half.h"
#include "kernels/kernels.h"
#include "kernels/rng.h"

#define MAX_REPS 201

struct layer {
    const char *name;
    enum lt_op op;
    int n_in;
    int ndim[3];
    int64_t shape[3][4];
    int image; /* input 0 is the image: it gets no gradient */
    const void *attrs;
    unsigned blocked; /* struct lt_kargs's: the slots laid out channel-blocked */
};

static const struct lt_conv2d_attrs pad1 = {{1, 1}, {1, 1}, {1, 1}, 1};
static const struct lt_pool2d_attrs k2s2 = {{2, 2}, {2, 2}, {0, 0}, 1};
static const struct lt_conv_pool_attrs pad1_k2s2 = {{1, 1}, {1, 1}, {1, 1}, 1,
                                                    {2, 2}, {2, 2}, {0, 0}, 1};

/* The table's rows: a linear layer at batch 128 (image: its input is the data), a 3x3
 * convolution with padding 1 on 28 / 14 pixel images, a 2x2 max pooling. */
#define LINEAR(name, in, out, image)                                                               \
    { name, LT_OP_LINEAR, 3, {2, 2, 1}, {{128, in}, {out, in}, {out}}, image, NULL, 0 }
#define CONV(name, c, o, hw, image)                                                                \
    { name, LT_OP_CONV2D, 3, {4, 4, 1}, {{128, c, hw, hw}, {o, c, 3, 3}, {o}}, image, &pad1, 0 }
#define CONV_POOL(name, c, o, hw)                                                                  \
    { name, LT_OP_CONV2D_MAX_POOL2D, 3, {4, 4, 1}, {{128, c, hw, hw}, {o, c, 3, 3}, {o}}, 1,       \
      &pad1_k2s2, LT_OUT(0) | LT_OUT(1) }
#define POOL(name, c, hw, blocked)                                                                 \
    { name, LT_OP_MAX_POOL2D, 1, {4}, {{128, c, hw, hw}}, 0, &k2s2, blocked }

static const struct layer layers[] = {
    LINEAR("linear 784->1024 (first)", 784, 1024, 1),
    LINEAR("linear 1024->1024", 1024, 1024, 0),
    LINEAR("linear 1024->10", 1024, 10, 0),
    CONV("conv 1->32 28x28 (first)", 1, 32, 28, 1),
    POOL("max pool 32x28x28", 32, 28, 0),
    POOL("max pool 32x28x28 blocked", 32, 28, LT_IN(0) | LT_OUT(0) | LT_OUT(1)),
    CONV_POOL("conv 1->32 28x28 + max pool, fused", 1, 32, 28),
    CONV("conv 32->64 14x14", 32, 64, 14, 0),
    POOL("max pool 64x14x14", 64, 14, 0),
    POOL("max pool 64x14x14 blocked", 64, 14, LT_IN(0) | LT_OUT(1)),
    LINEAR("linear 3136->128", 3136, 128, 0),
    LINEAR("linear 128->10", 128, 10, 0),
};

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A tensor of the shape in dt, uniform in [-1, 1) from stream `key` (zeros when key is 0),
 * 64-byte aligned as the planner places buffers. NULL data on allocation failure. */
static struct lt_kview tensor(enum lt_dtype dt, int ndim, const int64_t *shape, uint64_t key) {
    struct lt_kview v = {.dtype = dt, .ndim = ndim};
    memcpy(v.shape, shape, (size_t)ndim * sizeof *shape);
    int64_t n = lt_kview_numel(&v);
    size_t bytes = ((size_t)n * lt_dtype_bytes(dt) + 63) / 64 * 64;
    v.data = aligned_alloc(64, bytes);
    if (!v.data)
        return v;
    memset(v.data, 0, bytes);
    for (int64_t e = 0; key && e < n; e++) {
        float x = 2.0f * lt_rng_uniform(key, (uint64_t)e) - 1.0f;
        if (dt == LT_DTYPE_F32)
            ((float *)v.data)[e] = x;
        else
            ((uint16_t *)v.data)[e] = lt_f32_to_bf16(x);
    }
    return v;
}

struct timing {
    double min, median;
    size_t workspace; /* bytes the call asked for */
    int ran;          /* 0: the fast kernel declined the shapes */
};

/* `reps` timed calls of the fast kernel of layer l in dt; grads: bit i asks for gin[i]
 * (0: the forward). Parameters' gradients accumulate, as in a plan; the gradients are of
 * dt where the kernel takes half gradients (struct lt_kernel), as in a plan. */
static struct timing time_call(const struct lt_backend *b, const struct layer *l,
                               enum lt_dtype dt, unsigned grads, int reps) {
    struct timing t = {0};
    const struct lt_kernel *k = &b->kernels[l->op][dt];
    struct lt_kview in[3], gin[3], out[LT_MAX_OUTPUTS], gout;
    char msg[LT_KMSG_SIZE] = "";
    const void *attrs = l->attrs;
    enum lt_dtype gdt = k->half_gradients ? dt : LT_DTYPE_F32;
    for (int i = 0; i < l->n_in; i++) {
        in[i] = tensor(dt, l->ndim[i], l->shape[i], lt_rng_key(5, (uint64_t)i, 0, 0));
        gin[i] = tensor(gdt, l->ndim[i], l->shape[i], 0);
    }
    if (lt_op_descs[l->op].infer(attrs, l->n_in, in, out, msg) != LT_OK) {
        fprintf(stderr, "bench_layers: %s: %s\n", l->name, msg);
        exit(1);
    }
    /* every output the op has; a second one (max pooling's argmax codes) of zeros, which
     * name a valid element of every window for the backward to read */
    int n_out = lt_op_descs[l->op].n_out;
    for (int o = 0; o < n_out; o++)
        out[o] = tensor(out[o].dtype, out[o].ndim, out[o].shape, 0);
    gout = tensor(gdt, out[0].ndim, out[0].shape, lt_rng_key(6, 0, 0, 0));
    struct lt_kargs a = {.attrs = attrs,
                         .n_in = l->n_in,
                         .n_out = n_out,
                         .msg = msg,
                         .impl = b->impl,
                         .blocked = l->blocked};
    for (int i = 0; i < l->n_in; i++) {
        a.in[i] = &in[i];
        a.gin[i] = (grads >> i) & 1u ? &gin[i] : NULL;
    }
    for (int o = 0; o < n_out; o++)
        a.out[o] = &out[o];
    if (grads) {
        a.gout[0] = &gout;
        a.accumulate = grads & 6u;
    }
    void *state = NULL;
    if (k->forward && (!k->prepare || k->prepare(&a, grads != 0, &state) == LT_OK)) {
        a.state = state;
        a.workspace_size = k->workspace ? k->workspace(&a, grads != 0) : 0;
        a.workspace = aligned_alloc(64, (a.workspace_size + 63) / 64 * 64 + 64);
        double ms[MAX_REPS];
        for (int r = 0; r < reps + 2; r++) {
            double t0 = now_ms();
            enum lt_status st = grads ? k->backward(&a) : k->forward(&a);
            if (st != LT_OK) {
                fprintf(stderr, "bench_layers: %s: %s\n", l->name, msg);
                exit(1);
            }
            if (r >= 2)
                ms[r - 2] = now_ms() - t0;
        }
        qsort(ms, (size_t)reps, sizeof ms[0], cmp_double);
        t = (struct timing){ms[0], ms[reps / 2], a.workspace_size, 1};
        free(a.workspace);
        if (state && k->release)
            k->release(state);
    }
    for (int i = 0; i < l->n_in; i++) {
        free(in[i].data);
        free(gin[i].data);
    }
    for (int o = 0; o < n_out; o++)
        free(out[o].data);
    free(gout.data);
    return t;
}

int main(int argc, char **argv) {
    int reps = 31;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: bench_layers [--reps N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_layers: --reps must be in [1, %d]\n", MAX_REPS);
        return 2;
    }
    struct lt_backend b;
    char msg[LT_KMSG_SIZE] = "";
    if (lt_cpu_backend_init(&b, msg) != LT_OK) {
        fprintf(stderr, "bench_layers: the fast CPU backend did not start: %s\n", msg);
        return 1;
    }
    printf("CPU backend: %s\n", b.info);
    const enum lt_dtype dts[2] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        printf("%-26s %4s %15s %15s %15s %15s  workspace fwd/bwd (ms, min/median, batch 128)\n",
               "layer", lt_dtype_name(dts[d]), "fwd", "bwd data", "bwd w+b", "bwd all");
        for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
            const struct layer *l = &layers[i];
            /* a pooling has no parameters: its whole backward is its backward data */
            unsigned params = l->n_in > 1 ? 6u : 0u, all = l->image ? params : params | 1u;
            struct timing tm[4] = {time_call(&b, l, dts[d], 0, reps),
                                   {0, 0, 0, 0},
                                   params ? time_call(&b, l, dts[d], params, reps)
                                          : (struct timing){0, 0, 0, 0},
                                   time_call(&b, l, dts[d], all, reps)};
            if (!l->image)
                tm[1] = time_call(&b, l, dts[d], 1u, reps);
            printf("%-31s", l->name);
            for (int k = 0; k < 4; k++) {
                if (tm[k].ran)
                    printf(" %7.3f/%-7.3f", tm[k].min, tm[k].median);
                else
                    printf(" %15s", "-");
            }
            printf(" %5.1f/%.1f MB\n", (double)tm[0].workspace / 1e6, (double)tm[3].workspace / 1e6);
        }
    }
    lt_backend_release(&b);
    return 0;
}
