/* scaled_dot_product_attention for f32, f16 and bf16 (f32 arithmetic, one rounding of a
 * half output), with the CPU reference's semantics (kernels/cpu/attention.c): causal
 * aligned top-left, scale 0 meaning 1 / sqrt(D), dropout drawn per (sample, element) from
 * the dropout op's streams (kernels/rng.h) with the keys read on the device, lse saved
 * for the backward, which recomputes P and draws the same decisions again.
 *
 * Flash-style and simple: one warp per output row. The forward walks the row's keys with
 * an online softmax (the running max and sum in every lane, the output's columns split
 * between the lanes, ATT_COLS at a time: a wider Dv walks the keys again per chunk); no
 * score is stored. The backward runs one warp per query row for dq and one per key row
 * for dk and dv, each recomputing the scores it needs, so that every gradient element is
 * one warp's sum in a fixed order: no atomics, the same bits every run.
 */
#include "kernels/cuda/cuda_kernels.cuh"

namespace {

#define ATT_WARPS 4  /* rows per block */
#define ATT_COLS 256 /* accumulator columns a warp holds at once */
#define ATT_PER_LANE (ATT_COLS / 32)

/* The sizes and attributes every kernel here reads. */
struct geom {
    int64_t bh, tq, tk, d, dv;
    int64_t heads; /* heads per sample: the leading dims after the first */
    float scale;   /* the attribute, or 1 / sqrt(D) when it is 0 */
    float p, keep_mul;
    int causal;
    uint32_t layer;
};

geom geom_of(const lt_kargs *a) {
    const lt_attention_attrs *at = (const lt_attention_attrs *)a->attrs;
    const lt_kview *q = a->in[0];
    int nd = q->ndim;
    geom g;
    g.tq = q->shape[nd - 2];
    g.tk = a->in[1]->shape[nd - 2];
    g.d = q->shape[nd - 1];
    g.dv = a->in[2]->shape[nd - 1];
    g.bh = 1;
    for (int i = 0; i < nd - 2; i++)
        g.bh *= q->shape[i];
    g.heads = nd >= 3 && q->shape[0] > 0 ? g.bh / q->shape[0] : g.bh;
    g.scale = at->scale != 0 ? at->scale : (float)(1 / sqrt((double)g.d));
    g.p = at->dropout;
    g.keep_mul = 1.0f / (1.0f - at->dropout);
    g.causal = at->causal;
    g.layer = at->layer;
    return g;
}

/* Keys row i sees, [0, visible). */
__device__ __forceinline__ int64_t visible_keys(const geom &g, int64_t i) {
    return g.causal && i + 1 < g.tk ? i + 1 : g.tk;
}

/* Sum over the warp by a butterfly: every lane ends with the same bits. */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* a . b over n elements, the lanes taking every 32nd. */
template <typename A, typename B> __device__ float warp_dot(const A *a, const B *b, int64_t n) {
    float s = 0;
    for (int64_t x = threadIdx.x % 32; x < n; x += 32)
        s += lt_to_f(a[x]) * lt_to_f(b[x]);
    return warp_sum(s);
}

/* The dropout stream of head b's sample. */
__device__ uint64_t head_key(const geom &g, const lt_exec_info *exec, int64_t b) {
    if (g.p == 0)
        return 0;
    return lt_rng_key(exec->seed, g.layer, exec->epoch,
                      (uint64_t)(exec->sample_base + b / g.heads));
}

/* keep_ij / (1 - p) of head b: 1 without dropout. */
__device__ float keep(const geom &g, uint64_t key, int64_t b, int64_t i, int64_t j) {
    if (g.p == 0)
        return 1.0f;
    int64_t e = ((b % g.heads) * g.tq + i) * g.tk + j;
    return lt_rng_uniform(key, (uint64_t)e) >= g.p ? g.keep_mul : 0.0f;
}

/* One warp per row of out (BH * Tq rows). */
template <typename T>
__global__ void attention_forward_kernel(const T *q, const T *k, const T *v, T *out, float *lse,
                                         geom g, const lt_exec_info *exec) {
    int64_t row = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
    if (row >= g.bh * g.tq)
        return; /* the whole warp: the shuffles below see all 32 lanes */
    int lane = threadIdx.x % 32;
    int64_t b = row / g.tq, i = row % g.tq, nj = visible_keys(g, i);
    const T *qi = q + row * g.d, *kb = k + b * g.tk * g.d, *vb = v + b * g.tk * g.dv;
    uint64_t key = head_key(g, exec, b);
    int64_t chunks = g.dv > 0 ? (g.dv + ATT_COLS - 1) / ATT_COLS : 1;
    for (int64_t ch = 0; ch < chunks; ch++) {
        float acc[ATT_PER_LANE] = {}, m = -INFINITY, l = 0;
        for (int64_t j = 0; j < nj; j++) {
            float s = warp_dot(qi, kb + j * g.d, g.d) * g.scale;
            float mn = fmaxf(m, s), alpha = expf(m - mn), pj = expf(s - mn);
            l = l * alpha + pj;
            m = mn;
            float pk = pj * keep(g, key, b, i, j);
#pragma unroll
            for (int t = 0; t < ATT_PER_LANE; t++) {
                int64_t c = ch * ATT_COLS + lane + 32 * t;
                acc[t] = acc[t] * alpha + (c < g.dv ? pk * lt_to_f(vb[j * g.dv + c]) : 0.0f);
            }
        }
        float inv = 1.0f / l;
#pragma unroll
        for (int t = 0; t < ATT_PER_LANE; t++) {
            int64_t c = ch * ATT_COLS + lane + 32 * t;
            if (c < g.dv)
                out[row * g.dv + c] = lt_from_f<T>(acc[t] * inv);
        }
        if (ch == 0 && lane == 0)
            lse[row] = m + logf(l);
    }
}

/* What both backward kernels read. */
template <typename T> struct grads {
    const T *q, *k, *v, *out;
    const float *lse, *dout;
    float *gq, *gk, *gv;
    bool acc_q, acc_k, acc_v;
};

/* P_ij keep_ij / (1 - p) into *pk and dS_ij into *ds, for head b; di is D_i. */
template <typename T>
__device__ void probs(const grads<T> &r, const geom &g, uint64_t key, int64_t b, int64_t i,
                      int64_t j, float di, float *pk, float *ds) {
    int64_t qi = b * g.tq + i, kj = b * g.tk + j;
    float s = warp_dot(r.q + qi * g.d, r.k + kj * g.d, g.d) * g.scale;
    float p = expf(s - r.lse[qi]);
    float dp = warp_dot(r.dout + qi * g.dv, r.v + kj * g.dv, g.dv);
    float kp = keep(g, key, b, i, j);
    *pk = p * kp;
    *ds = p * (dp * kp - di);
}

/* One warp per query row: dq_i = scale sum_j dS_ij k_j. */
template <typename T>
__global__ void attention_dq_kernel(grads<T> r, geom g, const lt_exec_info *exec) {
    int64_t row = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
    if (row >= g.bh * g.tq)
        return;
    int lane = threadIdx.x % 32;
    int64_t b = row / g.tq, i = row % g.tq, nj = visible_keys(g, i);
    uint64_t key = head_key(g, exec, b);
    float di = warp_dot(r.dout + row * g.dv, r.out + row * g.dv, g.dv), pk, ds;
    for (int64_t ch = 0; ch * ATT_COLS < g.d; ch++) {
        float acc[ATT_PER_LANE] = {};
        for (int64_t j = 0; j < nj; j++) {
            probs(r, g, key, b, i, j, di, &pk, &ds);
            const T *kj = r.k + (b * g.tk + j) * g.d;
#pragma unroll
            for (int t = 0; t < ATT_PER_LANE; t++) {
                int64_t c = ch * ATT_COLS + lane + 32 * t;
                if (c < g.d)
                    acc[t] += ds * lt_to_f(kj[c]);
            }
        }
#pragma unroll
        for (int t = 0; t < ATT_PER_LANE; t++) {
            int64_t c = ch * ATT_COLS + lane + 32 * t;
            if (c < g.d)
                lt_grad_put(r.gq, row * g.d + c, acc[t] * g.scale, r.acc_q);
        }
    }
}

/* One warp per key row: dk_j = scale sum_i dS_ij q_i and dv_j = sum_i P_ij keep_ij dO_i
 * over the query rows that see key j. */
template <typename T>
__global__ void attention_dkv_kernel(grads<T> r, geom g, const lt_exec_info *exec) {
    int64_t row = (int64_t)blockIdx.x * ATT_WARPS + threadIdx.x / 32;
    if (row >= g.bh * g.tk)
        return;
    int lane = threadIdx.x % 32;
    int64_t b = row / g.tk, j = row % g.tk;
    uint64_t key = head_key(g, exec, b);
    int64_t wide = g.d > g.dv ? g.d : g.dv;
    for (int64_t ch = 0; ch * ATT_COLS < wide; ch++) {
        float ak[ATT_PER_LANE] = {}, av[ATT_PER_LANE] = {}, pk, ds;
        for (int64_t i = g.causal ? j : 0; i < g.tq; i++) {
            int64_t qi = b * g.tq + i;
            float di = warp_dot(r.dout + qi * g.dv, r.out + qi * g.dv, g.dv);
            probs(r, g, key, b, i, j, di, &pk, &ds);
#pragma unroll
            for (int t = 0; t < ATT_PER_LANE; t++) {
                int64_t c = ch * ATT_COLS + lane + 32 * t;
                if (c < g.d)
                    ak[t] += ds * lt_to_f(r.q[qi * g.d + c]);
                if (c < g.dv)
                    av[t] += pk * r.dout[qi * g.dv + c];
            }
        }
#pragma unroll
        for (int t = 0; t < ATT_PER_LANE; t++) {
            int64_t c = ch * ATT_COLS + lane + 32 * t;
            if (r.gk && c < g.d)
                lt_grad_put(r.gk, row * g.d + c, ak[t] * g.scale, r.acc_k);
            if (r.gv && c < g.dv)
                lt_grad_put(r.gv, row * g.dv + c, av[t], r.acc_v);
        }
    }
}

unsigned row_blocks(int64_t rows) {
    return (unsigned)((rows + ATT_WARPS - 1) / ATT_WARPS);
}

template <typename T> enum lt_status lt_cuda_attention_forward(const lt_kargs *a) {
    geom g = geom_of(a);
    int64_t rows = g.bh * g.tq;
    if (rows == 0)
        return LT_OK;
    attention_forward_kernel<T><<<row_blocks(rows), ATT_WARPS * 32, 0, lt_cu(a)->stream>>>(
        (const T *)a->in[0]->data, (const T *)a->in[1]->data, (const T *)a->in[2]->data,
        (T *)a->out[0]->data, (float *)a->out[1]->data, g, a->exec_dev);
    return lt_cuda_check(a, "scaled_dot_product_attention");
}

template <typename T> enum lt_status lt_cuda_attention_backward(const lt_kargs *a) {
    geom g = geom_of(a);
    grads<T> r;
    r.q = (const T *)a->in[0]->data;
    r.k = (const T *)a->in[1]->data;
    r.v = (const T *)a->in[2]->data;
    r.out = (const T *)a->out[0]->data;
    r.lse = (const float *)a->out[1]->data;
    r.dout = (const float *)a->gout[0]->data;
    r.gq = a->gin[0] ? (float *)a->gin[0]->data : NULL;
    r.gk = a->gin[1] ? (float *)a->gin[1]->data : NULL;
    r.gv = a->gin[2] ? (float *)a->gin[2]->data : NULL;
    r.acc_q = (a->accumulate & 1u) != 0;
    r.acc_k = (a->accumulate & 2u) != 0;
    r.acc_v = (a->accumulate & 4u) != 0;
    cudaStream_t stream = lt_cu(a)->stream;
    if (r.gq && g.bh * g.tq > 0) {
        attention_dq_kernel<T>
            <<<row_blocks(g.bh * g.tq), ATT_WARPS * 32, 0, stream>>>(r, g, a->exec_dev);
        enum lt_status st = lt_cuda_check(a, "scaled_dot_product_attention (backward, dq)");
        if (st != LT_OK)
            return st;
    }
    if ((r.gk || r.gv) && g.bh * g.tk > 0) {
        attention_dkv_kernel<T>
            <<<row_blocks(g.bh * g.tk), ATT_WARPS * 32, 0, stream>>>(r, g, a->exec_dev);
        return lt_cuda_check(a, "scaled_dot_product_attention (backward, dk and dv)");
    }
    return LT_OK;
}

template <enum lt_dtype D> lt_kernel attention_kernel() {
    typedef typename lt_ctype<D>::type T;
    return lt_cuda_kernel(lt_cuda_attention_forward<T>, lt_cuda_attention_backward<T>);
}

} // namespace

void lt_cuda_register_attention(lt_backend *b) {
    b->kernels[LT_OP_SCALED_DOT_PRODUCT_ATTENTION][LT_DTYPE_F32] = attention_kernel<LT_DTYPE_F32>();
    b->kernels[LT_OP_SCALED_DOT_PRODUCT_ATTENTION][LT_DTYPE_F16] = attention_kernel<LT_DTYPE_F16>();
    b->kernels[LT_OP_SCALED_DOT_PRODUCT_ATTENTION][LT_DTYPE_BF16] =
        attention_kernel<LT_DTYPE_BF16>();
}
