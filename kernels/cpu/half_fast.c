/* The f16 fast paths of matmul, linear and conv2d: the fast f32 kernels (oneDNN's, which
 * has no f16 primitives on CPUs without AVX512-FP16) run on f32 copies of the f16
 * tensors, and each f16 output is rounded once from their f32 result (half_ref.h). The
 * f32 kernel is prepared for the f32 shapes at plan time as usual; the copies and the
 * f32 kernel's own workspace are this kernel's workspace. f16 compute is therefore no
 * faster than f32 on a CPU; what fp16 training gains here is half-sized activations. */
#include <pthread.h>
#include <stdlib.h>

#include "kernels/cpu/half_ref.h"

/* The f32 kernel each f16 entry wraps, per op: the same functions in every backend, so
 * the table is filled once per process (contexts made at once on two threads would
 * otherwise write it while the other's plans read it), from the backend that registers
 * first; `registering` hands it to the once routine on that thread. */
static struct lt_kernel inner[LT_OP_COUNT];
static pthread_once_t inner_once = PTHREAD_ONCE_INIT;
static _Thread_local const struct lt_backend *registering;

struct half_state {
    void *inner; /* what the f32 kernel's prepare built */
    size_t inner_workspace;
};

/* v shown as f32 (no data) when it is half. */
static const struct lt_kview *f32_shape(const struct lt_kview *v, struct lt_kview *shown) {
    if (!v)
        return NULL;
    *shown = *v;
    shown->data = NULL;
    if (lt_dtype_is_half(shown->dtype))
        shown->dtype = LT_DTYPE_F32;
    return shown;
}

/* a with every half view, gradients included, shown as f32 (no data): what the f32
 * kernel was prepared for. */
static void f32_shapes(const struct lt_kargs *a, struct lt_kargs *b, struct lt_kview *views) {
    *b = *a;
    for (int i = 0; i < a->n_in; i++) {
        b->in[i] = f32_shape(a->in[i], views++);
        b->gin[i] = f32_shape(a->gin[i], views++);
    }
    for (int k = 0; k < a->n_out; k++) {
        b->out[k] = f32_shape(a->out[k], views++);
        b->gout[k] = f32_shape(a->gout[k], views++);
    }
}

static enum lt_status prepare(enum lt_op op, const struct lt_kargs *a, int backward,
                              void **state) {
    struct half_state *s = calloc(1, sizeof *s);
    if (!s)
        return LT_ENOMEM;
    struct lt_kargs b;
    struct lt_kview views[2 * (LT_MAX_INPUTS + LT_MAX_OUTPUTS)];
    f32_shapes(a, &b, views);
    enum lt_status st = LT_OK;
    if (inner[op].prepare)
        st = inner[op].prepare(&b, backward, &s->inner);
    if (st != LT_OK) {
        free(s);
        return st;
    }
    b.state = s->inner;
    if (inner[op].workspace)
        s->inner_workspace = (inner[op].workspace(&b, backward) + 63) / 64 * 64;
    *state = s;
    return LT_OK;
}

static void release(enum lt_op op, void *state) {
    struct half_state *s = state;
    if (s->inner && inner[op].release)
        inner[op].release(s->inner);
    free(s);
}

/* The copies a call makes: a backward of these ops reads x and w (in[0], in[1]; not the
 * bias or the output), gout and the gradients it writes. */
static size_t copies(const struct lt_kargs *a, int backward) {
    if (!backward)
        return lt_half_ref_workspace(a, 0);
    size_t n = lt_half_ref_copy_bytes(a->in[0]) + lt_half_ref_copy_bytes(a->in[1]) +
               lt_half_ref_copy_bytes(a->gout[0]);
    for (int i = 0; i < a->n_in; i++)
        if (a->gin[i])
            n += lt_half_ref_copy_bytes(a->gin[i]);
    return n;
}

static size_t workspace(const struct lt_kargs *a, int backward) {
    const struct half_state *s = a->state;
    return copies(a, backward) + s->inner_workspace;
}

static enum lt_status run(enum lt_op op, const struct lt_kargs *a, int backward) {
    const struct half_state *s = a->state;
    return lt_half_run(a, backward, backward ? inner[op].backward : inner[op].forward, s->inner,
                       s->inner_workspace);
}

#define HALF_VIA_F32(ID)                                                                        \
    static enum lt_status prepare_##ID(const struct lt_kargs *a, int backward, void **state) { \
        return prepare(LT_OP_##ID, a, backward, state);                                        \
    }                                                                                          \
    static void release_##ID(void *state) {                                                    \
        release(LT_OP_##ID, state);                                                            \
    }                                                                                          \
    static enum lt_status forward_##ID(const struct lt_kargs *a) {                             \
        return run(LT_OP_##ID, a, 0);                                                          \
    }                                                                                          \
    static enum lt_status backward_##ID(const struct lt_kargs *a) {                            \
        return run(LT_OP_##ID, a, 1);                                                          \
    }
HALF_VIA_F32(MATMUL)
HALF_VIA_F32(LINEAR)
HALF_VIA_F32(CONV2D)
#undef HALF_VIA_F32

/* takes_blocked NULL: the f16 copies are plain; f32_gin 0 */
#define ENTRY(ID)                                                                                  \
    {                                                                                              \
        LT_OP_##ID, {                                                                              \
            .forward = forward_##ID, .backward = backward_##ID, .prepare = prepare_##ID,           \
            .release = release_##ID, .workspace = workspace, .half_gradients = 1                   \
        }                                                                                          \
    }

static const struct {
    enum lt_op op;
    struct lt_kernel k;
} entries[] = {ENTRY(MATMUL), ENTRY(LINEAR), ENTRY(CONV2D)};

static void fill_inner(void) {
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++)
        inner[entries[i].op] = registering->kernels[entries[i].op][LT_DTYPE_F32];
}

void lt_cpu_register_half_fast(struct lt_backend *b) {
    registering = b;
    pthread_once(&inner_once, fill_inner);
    for (size_t i = 0; i < sizeof entries / sizeof entries[0]; i++) {
        enum lt_op op = entries[i].op;
        struct lt_kernel k = entries[i].k;
        k.impl_name = inner[op].impl_name;
        b->kernels[op][LT_DTYPE_F16] = k;
    }
}
#undef ENTRY
