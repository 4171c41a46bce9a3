/* Dropout's f32 reference kernels.
 *
 * No mask is stored: the backward recomputes each keep decision from the same keys
 * (seed, layer, epoch, sample, element), so dropout keeps nothing alive for backward.
 *
 * The fast path keys each sample once and draws its elements in vector lanes (the same
 * 64-bit mixer), threaded over the flat range: the same decisions, the same bits.
 */
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/vec.h"
#include "kernels/rng.h"

/* Whether element e of row s of the batch is kept. */
static int kept(const struct lt_kargs *a, int64_t s, int64_t e) {
    const struct lt_dropout_attrs *at = a->attrs;
    const struct lt_exec_info *ex = a->exec;
    return lt_dropout_keep(ex->seed, at->layer, ex->epoch, ex->sample_base + s, e, at->p);
}

static enum lt_status dropout_forward_ref(const struct lt_kargs *a) {
    const struct lt_dropout_attrs *at = a->attrs;
    const float *x = a->in[0]->data; /* (N, ...) */
    float *y = a->out[0]->data;      /* (N, ...) */
    int64_t n = a->in[0]->shape[0], per = lt_dims_product(a->in[0], 1, a->in[0]->ndim);
    float scale = 1.0f / (1.0f - at->p);
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < per; e++)
            y[s * per + e] = kept(a, s, e) ? x[s * per + e] * scale : 0.0f;
    return LT_OK;
}

static enum lt_status dropout_backward_ref(const struct lt_kargs *a) {
    const struct lt_dropout_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *gy = a->gout[0]->data; /* (N, ...) */
    int64_t n = a->in[0]->shape[0], per = lt_dims_product(a->in[0], 1, a->in[0]->ndim);
    float scale = 1.0f / (1.0f - at->p);
    for (int64_t s = 0; s < n; s++)
        for (int64_t e = 0; e < per; e++)
            lt_grad_store(a, 0, s * per + e, kept(a, s, e) ? gy[s * per + e] * scale : 0.0f);
    return LT_OK;
}

/* ---- fast path ------------------------------------------------------------------------------- */

/* out[k] = keep(e0 + k) ? in[k] * scale : 0 (or += when acc) for k in [0, n): elements
 * e0... of one sample, whose stream is `key`. lt_dropout_keep's draw, in lanes. */
LT_INLINE void dropout_run_f32_body(const float *restrict in, float *restrict out, int64_t n,
                                    uint64_t key, int64_t e0, float p, float scale, int acc) {
    if (acc) {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            out[k] += lt_vselect(lt_vuniform(key, e0 + k) >= p, in[k] * scale, 0.0f);
    } else {
#pragma omp simd
        for (int64_t k = 0; k < n; k++)
            out[k] = lt_vselect(lt_vuniform(key, e0 + k) >= p, in[k] * scale, 0.0f);
    }
}
LT_DISPATCH(dropout_run_f32,
            (const float *restrict in, float *restrict out, int64_t n, uint64_t key, int64_t e0,
             float p, float scale, int acc),
            (in, out, n, key, e0, p, scale, acc));

/* dropout_run_f32 on elements [lo, lo + len) of in and out, of dtype dt: a half type in
 * chunks widened on the stack, each result rounded once (as the reference's f32 result
 * rounded to half). */
static void dropout_piece(enum lt_dtype dt, const void *in, void *out, int64_t lo, int64_t len,
                          uint64_t key, int64_t e0, float p, float scale, int acc) {
    if (dt == LT_DTYPE_F32) {
        dropout_run_f32((const float *)in + lo, (float *)out + lo, len, key, e0, p, scale, acc);
        return;
    }
    float xf[LT_HALF_CHUNK], yf[LT_HALF_CHUNK];
    for (int64_t k = 0; k < len; k += LT_HALF_CHUNK) {
        int64_t m = len - k < LT_HALF_CHUNK ? len - k : LT_HALF_CHUNK;
        const uint16_t *x = (const uint16_t *)in + lo + k;
        uint16_t *y = (uint16_t *)out + lo + k;
        lt_half_to_f32_n(dt, x, xf, m);
        if (acc)
            lt_half_to_f32_n(dt, y, yf, m);
        dropout_run_f32(xf, yf, m, key, e0 + k, p, scale, acc);
        lt_f32_to_half_n(dt, yf, y, m);
    }
}

/* The forward (x -> y) or the backward (gy -> gx) over the flat range, tensors of dtype
 * dt, split between threads; each thread keys the samples its share crosses. */
static void dropout_all(const struct lt_kargs *a, enum lt_dtype dt, const void *in, void *out,
                        int acc) {
    const struct lt_dropout_attrs *at = a->attrs;
    const struct lt_exec_info *ex = a->exec;
    int64_t total = lt_kview_numel(a->in[0]);
    int64_t per = lt_dims_product(a->in[0], 1, a->in[0]->ndim);
    float scale = 1.0f / (1.0f - at->p);
    if (total == 0)
        return;
#pragma omp parallel if (total >= LT_PAR_MATH)
    {
        int64_t lo, hi;
        lt_share(total, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        while (lo < hi) {
            int64_t s = lo / per, e0 = lo - s * per;
            int64_t len = per - e0 < hi - lo ? per - e0 : hi - lo;
            uint64_t key =
                lt_rng_key(ex->seed, at->layer, ex->epoch, (uint64_t)(ex->sample_base + s));
            dropout_piece(dt, in, out, lo, len, key, e0, at->p, scale, acc);
            lo += len;
        }
    }
}

/* f32 and the half types alike (half gradients: struct lt_kernel). */
static enum lt_status dropout_forward_fast(const struct lt_kargs *a) {
    dropout_all(a, a->in[0]->dtype, a->in[0]->data, a->out[0]->data, 0);
    return LT_OK;
}

static enum lt_status dropout_backward_fast(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    dropout_all(a, a->gin[0]->dtype, a->gout[0]->data, a->gin[0]->data, lt_accumulates(a, 0));
    return LT_OK;
}

/* The reference's half dropout: the f32 kernels on f32 copies, so that mixed precision
 * keeps dropout's output, an activation, in half. */
static enum lt_status dropout_forward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 0, dropout_forward_ref);
}

static enum lt_status dropout_backward_half_ref(const struct lt_kargs *a) {
    return lt_half_ref_run(a, 1, dropout_backward_ref);
}

void lt_cpu_register_dropout(struct lt_backend *b, int fast) {
    if (fast) {
        lt_cpu_set_fast(b, LT_OP_DROPOUT, LT_DTYPE_F32, dropout_forward_fast,
                        dropout_backward_fast);
        lt_cpu_set_half(b, LT_OP_DROPOUT, dropout_forward_fast, dropout_backward_fast, NULL, "vec");
    } else {
        lt_cpu_set(b, LT_OP_DROPOUT, LT_DTYPE_F32, dropout_forward_ref, dropout_backward_ref);
        lt_cpu_set_half(b, LT_OP_DROPOUT, dropout_forward_half_ref, dropout_backward_half_ref,
                        lt_half_ref_workspace, "ref");
    }
    lt_cpu_half_gradients(b, LT_OP_DROPOUT);
}
