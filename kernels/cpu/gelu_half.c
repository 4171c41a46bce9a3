/* GELU of f16 and bf16 tensors by table.
 *
 * A half input has 65536 possible values, so each one's GELU, rounded to the dtype, and
 * its derivative, rounded to f32, are computed once per process in double as the
 * reference computes them (lt_gelu, lt_gelu_grad), and a step looks them up: the forward
 * gives the reference's bits, NaNs and infinities included. The backward multiplies the
 * incoming gradient by the looked-up derivative in f32 (an added gradient adds in f32)
 * and rounds once to the dtype: the reference's result or its neighbour, but where an
 * added gradient cancels the product, within the derivative's f32 rounding (2^-24 of
 * the product) of the reference. On two Sapphire Rapids cores a lookup is ~3.5x faster
 * than the erf polynomial in AVX-512 lanes forward and ~2.7x backward
 * (docs/performance.md).
 *
 * A dtype's tables (128 KiB of outputs, 256 KiB of derivatives; static, nothing is
 * allocated) are filled by the first call of either kernel in the process, in under a
 * millisecond. Not when a plan is made: a kernel with a prepare may decline its node at
 * plan time, and the planner then gives its backward f32 gradients (core/plan_build.c).
 */
#include <pthread.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

struct gelu_table {
    uint16_t y[65536];
    float dy[65536];
};

static struct gelu_table tables[2]; /* bf16, f16 */
static pthread_once_t filled[2] = {PTHREAD_ONCE_INIT, PTHREAD_ONCE_INIT};

static void fill(struct gelu_table *t, enum lt_dtype dt) {
    for (uint32_t h = 0; h < 65536; h++) {
        double v = dt == LT_DTYPE_BF16 ? lt_bf16_to_f32((uint16_t)h) : lt_f16_to_f32((uint16_t)h);
        float y = (float)lt_gelu(v);
        t->y[h] = dt == LT_DTYPE_BF16 ? lt_f32_to_bf16(y) : lt_f32_to_f16(y);
        t->dy[h] = (float)lt_gelu_grad(v);
    }
}

static void fill_bf16(void) {
    fill(&tables[0], LT_DTYPE_BF16);
}

static void fill_f16(void) {
    fill(&tables[1], LT_DTYPE_F16);
}

static const struct gelu_table *table_of(enum lt_dtype dt) {
    int i = dt == LT_DTYPE_F16;
    pthread_once(&filled[i], i ? fill_f16 : fill_bf16);
    return &tables[i];
}

static enum lt_status forward(const struct lt_kargs *a) {
    const uint16_t *table = table_of(a->in[0]->dtype)->y;
    const uint16_t *x = a->in[0]->data;
    uint16_t *y = a->out[0]->data;
    int64_t n = lt_kview_numel(a->in[0]);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int64_t i = lo; i < hi; i++)
            y[i] = table[x[i]];
    }
    return LT_OK;
}

/* Values a thread looks up at a time: their derivatives stay in the first-level cache. */
#define CHUNK 512

/* gx (+)= g * d over a chunk of bf16 values, widened and rounded in the lanes. */
LT_INLINE void grad_bf16_body(const float *restrict d, const uint16_t *restrict g,
                              uint16_t *restrict gx, int64_t m, int acc) {
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++)
            gx[i] = lt_vbf16(lt_bf16_to_f32(gx[i]) + lt_bf16_to_f32(g[i]) * d[i]);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < m; i++)
            gx[i] = lt_vbf16(lt_bf16_to_f32(g[i]) * d[i]);
    }
}
LT_DISPATCH(grad_bf16,
            (const float *restrict d, const uint16_t *restrict g, uint16_t *restrict gx, int64_t m,
             int acc),
            (d, g, gx, m, acc));

/* The same for f16, through the conversion routines. */
static void grad_f16(const float *d, const uint16_t *g, uint16_t *gx, int64_t m, int acc) {
    float gf[CHUNK], out[CHUNK];
    lt_f16_to_f32_n(g, gf, m);
    if (acc)
        lt_f16_to_f32_n(gx, out, m);
    for (int64_t i = 0; i < m; i++)
        out[i] = acc ? out[i] + gf[i] * d[i] : gf[i] * d[i];
    lt_f32_to_f16_n(out, gx, m);
}

static enum lt_status backward(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    enum lt_dtype dt = a->in[0]->dtype;
    const float *dy = table_of(dt)->dy;
    const uint16_t *x = a->in[0]->data, *g = a->gout[0]->data;
    uint16_t *gx = a->gin[0]->data;
    int64_t n = lt_kview_numel(a->in[0]);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        float d[CHUNK];
        for (int64_t i = lo; i < hi; i += CHUNK) {
            int64_t m = hi - i < CHUNK ? hi - i : CHUNK;
            for (int64_t j = 0; j < m; j++)
                d[j] = dy[x[i + j]];
            if (dt == LT_DTYPE_BF16)
                grad_bf16(d, g + i, gx + i, m, acc);
            else
                grad_f16(d, g + i, gx + i, m, acc);
        }
    }
    return LT_OK;
}

void lt_cpu_register_gelu_half(struct lt_backend *b) {
    const enum lt_dtype dts[2] = {LT_DTYPE_BF16, LT_DTYPE_F16};
    for (int i = 0; i < 2; i++)
        lt_cpu_set_fast(b, LT_OP_GELU, dts[i], forward, backward);
}
