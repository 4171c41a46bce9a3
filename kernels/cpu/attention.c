/* scaled_dot_product_attention on the CPU: the reference kernels (the spec) and the fast
 * paths, flash-attention style.
 *
 * For each of the BH = prod(leading dims) heads, row i of the output is
 *   out_i = sum_j P_ij * keep_ij / (1 - p) * v_j,  P_ij = exp(s_ij - lse_i),
 *   s_ij = scale * q_i . k_j over the keys j row i sees (j <= i when causal: PyTorch's
 *   top-left alignment), lse_i = log sum_j exp(s_ij),
 * and keep_ij the dropout decision of element (head, i, j) of the sample (kernels/rng.h),
 * drawn as the dropout op draws it: lt_dropout_keep(seed, layer, epoch, sample_base + n,
 * (h * Tq + i) * Tk + j, p) for head h of sample n. No mask and no P are stored: the
 * backward recomputes P from q, k and the saved lse, and draws the same decisions again,
 * with D_i = dO_i . out_i (which equals sum_j P_ij dP_ij) and dS = P * (dP - D_i):
 *   dv_j = sum_i P_ij keep_ij dO_i,  dq_i = scale sum_j dS_ij k_j,  dk_j = scale sum_i dS_ij q_i.
 *
 * The reference reads any float dtype through lt_elem_load and sums in double, one row of
 * scores at a time in its workspace. The fast paths (f32, and f16 and bf16 read in place,
 * a block's rows widened to f32 in the thread's scratch as a tile needs them, the output
 * and the gradients rounded once from f32) walk tiles of ATT_BQ queries by ATT_BK keys with an
 * online softmax, so no (Tq, Tk) matrix exists beyond one tile: a tile's scores and dP
 * are small matrix products (register-blocked, vectorised), and so are its contributions
 * to out, dq, dk and dv. The forward and the dq pass hold a tile keys down, with the
 * queries along the vector lanes (the softmax's per-query max and sum are then lane-wise,
 * and only the query block is transposed, once); the dk / dv pass holds it queries down,
 * against its key block transposed once. Causal tiles stop at the last visible key of
 * their block. The forward and the dq pass run one task per (head, query
 * block), the dk / dv pass one per (head, key block), recomputing the tiles they need
 * instead of adding into shared rows; with many heads (fused_backward) the backward is
 * one task per head instead, the dk / dv walk adding each tile's dS into the head's dq
 * rows too, so that every tile's P and dS are computed once, not twice. A task is one
 * thread's from start to end, in an order fixed by the shapes, so the results do not
 * depend on the thread count. Each
 * thread's scratch is a slot of the planned workspace: the workspace query asks for one
 * slot per thread OpenMP would start then, and a call starts no more threads than it has
 * slots.
 */
#include <math.h>
#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"
#include "kernels/rng.h"

#define ATT_BQ 32 /* queries per block */
#define ATT_BK 64 /* keys per block */
#define ATT_FUSED_HEADS 32      /* heads from which the backward runs one task per head */
#define ATT_FUSED_DQ (256 * 64) /* the most dq floats (Tq by D) a head's task holds */

/* The sizes and attributes every kernel here reads. */
struct geom {
    int64_t bh, tq, tk, d, dv;
    int64_t heads;  /* heads per sample: the leading dims after the first */
    float scale;    /* the attribute, or 1 / sqrt(D) when it is 0 */
    float p;        /* dropout probability */
    float keep_mul; /* 1 / (1 - p) */
    int causal;
    uint32_t layer;
    int half; /* q, k, v, the output and its gradient are f16 or bf16 (read in place) */
};

static struct geom geom_of(const struct lt_kargs *a) {
    const struct lt_attention_attrs *at = a->attrs;
    const struct lt_kview *q = a->in[0], *v = a->in[2];
    int nd = q->ndim;
    struct geom g = {.tq = q->shape[nd - 2],
                     .tk = a->in[1]->shape[nd - 2],
                     .d = q->shape[nd - 1],
                     .dv = v->shape[nd - 1],
                     .bh = lt_dims_product(q, 0, nd - 2),
                     .p = at->dropout,
                     .keep_mul = 1.0f / (1.0f - at->dropout),
                     .causal = at->causal,
                     .layer = at->layer,
                     .half = lt_dtype_is_half(q->dtype)};
    g.heads = nd >= 3 && q->shape[0] > 0 ? g.bh / q->shape[0] : g.bh;
    g.scale = at->scale != 0 ? at->scale : (float)(1 / sqrt((double)g.d));
    return g;
}

/* Keys row i sees, [0, visible): all of them, or j <= i when causal. */
static int64_t visible_keys(const struct geom *g, int64_t i) {
    return g->causal && i + 1 < g->tk ? i + 1 : g->tk;
}

/* ---- reference ------------------------------------------------------------------------------ */

/* s_ij of head b, in double. */
static double score(const struct lt_kargs *a, const struct geom *g, int64_t b, int64_t i,
                    int64_t j) {
    const struct lt_kview *q = a->in[0], *k = a->in[1];
    double s = 0;
    for (int64_t x = 0; x < g->d; x++)
        s += lt_elem_load(q, (b * g->tq + i) * g->d + x) *
             lt_elem_load(k, (b * g->tk + j) * g->d + x);
    return s * g->scale;
}

/* keep_ij / (1 - p) of head b: 1 without dropout. */
static double keep(const struct lt_kargs *a, const struct geom *g, int64_t b, int64_t i,
                   int64_t j) {
    if (g->p == 0)
        return 1;
    const struct lt_exec_info *ex = a->exec;
    int64_t sample = b / g->heads, e = ((b % g->heads) * g->tq + i) * g->tk + j;
    return lt_dropout_keep(ex->seed, g->layer, ex->epoch, ex->sample_base + sample, e, g->p)
               ? 1 / (1 - (double)g->p)
               : 0;
}

/* Forward: a row of scores (Tk doubles), then the row's output sum (Dv doubles). */
static size_t ref_workspace(const struct lt_kargs *a, int backward) {
    struct geom g = geom_of(a);
    int64_t wide = g.d > g.dv ? g.d : g.dv;
    return (size_t)(backward ? wide : g.tk + g.dv) * sizeof(double);
}

static enum lt_status attention_forward_ref(const struct lt_kargs *a) {
    struct geom g = geom_of(a);
    const struct lt_kview *v = a->in[2], *out = a->out[0]; /* (BH, Tk, Dv), (BH, Tq, Dv) */
    float *lse = a->out[1]->data;                          /* (BH, Tq) */
    double *s = a->workspace, *acc = s + g.tk;
    for (int64_t b = 0; b < g.bh; b++) {
        for (int64_t i = 0; i < g.tq; i++) {
            int64_t nj = visible_keys(&g, i);
            double m = -INFINITY, sum = 0;
            for (int64_t j = 0; j < nj; j++) {
                s[j] = score(a, &g, b, i, j);
                m = s[j] > m ? s[j] : m;
            }
            for (int64_t j = 0; j < nj; j++)
                sum += exp(s[j] - m);
            double l = m + log(sum);
            for (int64_t c = 0; c < g.dv; c++)
                acc[c] = 0;
            for (int64_t j = 0; j < nj; j++) {
                double pj = exp(s[j] - l) * keep(a, &g, b, i, j);
                for (int64_t c = 0; c < g.dv; c++)
                    acc[c] += pj * lt_elem_load(v, (b * g.tk + j) * g.dv + c);
            }
            for (int64_t c = 0; c < g.dv; c++)
                lt_elem_store(out, (b * g.tq + i) * g.dv + c, acc[c]);
            lse[b * g.tq + i] = (float)l;
        }
    }
    return LT_OK;
}

/* D_i = dO_i . out_i of head b. */
static double delta(const struct lt_kargs *a, const struct geom *g, int64_t b, int64_t i) {
    const float *dout = a->gout[0]->data;
    double s = 0;
    for (int64_t c = 0; c < g->dv; c++)
        s += (double)dout[(b * g->tq + i) * g->dv + c] *
             lt_elem_load(a->out[0], (b * g->tq + i) * g->dv + c);
    return s;
}

/* P_ij keep_ij / (1 - p) into *pk and dS_ij into *ds, for head b; di is D_i. */
static void probs(const struct lt_kargs *a, const struct geom *g, int64_t b, int64_t i, int64_t j,
                  double di, double *pk, double *ds) {
    const float *dout = a->gout[0]->data, *lse = a->out[1]->data;
    double p = exp(score(a, g, b, i, j) - lse[b * g->tq + i]), dp = 0;
    for (int64_t c = 0; c < g->dv; c++)
        dp += (double)dout[(b * g->tq + i) * g->dv + c] *
              lt_elem_load(a->in[2], (b * g->tk + j) * g->dv + c);
    double kp = keep(a, g, b, i, j);
    *pk = p * kp;
    *ds = p * (dp * kp - di);
}

/* Each gradient element is one whole sum, stored once: dq row by row over the keys, dk
 * and dv row by row over the queries (D_i recomputed for each pair: this is the spec). */
static enum lt_status attention_backward_ref(const struct lt_kargs *a) {
    struct geom g = geom_of(a);
    const struct lt_kview *q = a->in[0], *k = a->in[1];
    const float *dout = a->gout[0]->data; /* (BH, Tq, Dv) */
    double *acc = a->workspace, pk, ds;
    for (int64_t b = 0; b < g.bh && a->gin[0]; b++) {
        for (int64_t i = 0; i < g.tq; i++) {
            double di = delta(a, &g, b, i);
            for (int64_t x = 0; x < g.d; x++)
                acc[x] = 0;
            for (int64_t j = 0; j < visible_keys(&g, i); j++) {
                probs(a, &g, b, i, j, di, &pk, &ds);
                for (int64_t x = 0; x < g.d; x++)
                    acc[x] += ds * lt_elem_load(k, (b * g.tk + j) * g.d + x);
            }
            for (int64_t x = 0; x < g.d; x++)
                lt_grad_store(a, 0, (b * g.tq + i) * g.d + x, acc[x] * g.scale);
        }
    }
    for (int in = 1; in <= 2; in++) {
        if (!a->gin[in])
            continue;
        int64_t width = in == 1 ? g.d : g.dv;
        for (int64_t b = 0; b < g.bh; b++) {
            for (int64_t j = 0; j < g.tk; j++) {
                for (int64_t x = 0; x < width; x++)
                    acc[x] = 0;
                for (int64_t i = g.causal ? j : 0; i < g.tq; i++) {
                    probs(a, &g, b, i, j, delta(a, &g, b, i), &pk, &ds);
                    for (int64_t x = 0; x < width; x++)
                        acc[x] += in == 1 ? ds * lt_elem_load(q, (b * g.tq + i) * g.d + x)
                                          : pk * dout[(b * g.tq + i) * g.dv + x];
                }
                for (int64_t x = 0; x < width; x++)
                    lt_grad_store(a, in, (b * g.tk + j) * width + x,
                                  in == 1 ? acc[x] * g.scale : acc[x]);
            }
        }
    }
    return LT_OK;
}

/* ---- fast paths ------------------------------------------------------------------------------ */

/* -std=c11 turns gcc's contraction of a * b + c into one fused multiply-add off, which
 * halves the products' peak: the fast paths ask for it back (the AVX-512 and AVX2 builds
 * have FMA; the baseline one does not, and keeps separate roundings). Each ISA level still
 * rounds one way whatever the thread count. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

/* Floats of one thread's scratch, each part rounded up to 16 (64 bytes). */
static int64_t round16(int64_t n) {
    return (n + 15) / 16 * 16;
}

/* The scratch parts of one thread, in floats:
 *   kt (D, ATT_BK) and vt (Dv, ATT_BK): the right-hand sides of the products that give a
 *     tile of scores and of dP. The dk / dv pass holds its key block's k and v transposed
 *     there; the forward and the dq pass hold their query block's q and dO transposed
 *     (D by ATT_BQ, Dv by ATT_BQ), transposed once per task, not once per tile;
 *   s, dp (ATT_BQ * ATT_BK): a tile of scores (then probabilities) and of dP (then dS):
 *     queries down and keys across in the dk / dv pass, keys down and queries across
 *     (row stride ATT_BQ) in the forward and the dq pass;
 *   di (ATT_BQ): D_i of the tile's queries (the forward: their rescale factors);
 *   acc: the forward's output rows (ATT_BQ, Dv), their running max and sum, the tile's
 *     max and sum (ATT_BQ each); the dq pass's rows (ATT_BQ, D); the dk / dv pass's key
 *     rows (ATT_BK, D) and (ATT_BK, Dv), followed in the one-task-per-head backward by
 *     the head's dq rows (Tq, D) and D_i (Tq);
 *   half tensors only (NULL for f32): kr (ATT_BK, D) and vr (ATT_BK, Dv), a key block's rows
 * widened to f32; qr and dr (ATT_BQ by the wider of D and Dv), a query block's q and dO rows (and
 *     out's, for D_i). */
struct scratch {
    float *kt, *vt, *s, *dp, *di, *acc, *kr, *vr, *qr, *dr;
};

/* Whether the backward runs as one task per head (head_grads) rather than a dq pass and a
 * dk / dv pass: with enough heads to share out, and a head's dq rows small enough to stay
 * in cache. One pass computes each tile's P and dS once, where two compute them twice.
 * Decided by the shapes alone, so the thread count changes nothing. */
static int fused_backward(const struct geom *g) {
    return g->bh >= ATT_FUSED_HEADS && g->tq * g->d <= ATT_FUSED_DQ;
}

static int64_t acc_floats(const struct geom *g, int backward) {
    if (!backward)
        return round16(ATT_BQ * g->dv) + 4 * round16(ATT_BQ);
    int64_t dkv = round16(ATT_BK * g->d) + round16(ATT_BK * g->dv);
    if (fused_backward(g)) /* the key block's rows, then the head's dq rows and D_i */
        return dkv + round16(g->tq * g->d) + round16(g->tq);
    int64_t dq = round16(ATT_BQ * g->d);
    return dq > dkv ? dq : dkv;
}

/* The half tensors' widened rows (struct scratch). */
static int64_t rows_floats(const struct geom *g) {
    int64_t wide = g->d > g->dv ? g->d : g->dv;
    return g->half ? round16(ATT_BK * g->d) + round16(ATT_BK * g->dv) + 2 * round16(ATT_BQ * wide)
                   : 0;
}

static int64_t slot_floats(const struct geom *g, int backward) {
    return round16(g->d * ATT_BK) + round16(g->dv * ATT_BK) + 2 * ATT_BQ * ATT_BK +
           round16(ATT_BQ) + acc_floats(g, backward) + rows_floats(g);
}

static struct scratch scratch_of(const struct geom *g, float *slot) {
    struct scratch w;
    w.kt = slot;
    w.vt = w.kt + round16(g->d * ATT_BK);
    w.s = w.vt + round16(g->dv * ATT_BK);
    w.dp = w.s + ATT_BQ * ATT_BK;
    w.di = w.dp + ATT_BQ * ATT_BK;
    /* the widened rows (none for f32), then acc, whose size is the pass's */
    w.kr = w.vr = w.qr = w.dr = NULL;
    if (g->half) {
        w.kr = w.di + round16(ATT_BQ);
        w.vr = w.kr + round16(ATT_BK * g->d);
        w.qr = w.vr + round16(ATT_BK * g->dv);
        w.dr = w.qr + round16(ATT_BQ * (g->d > g->dv ? g->d : g->dv));
    }
    w.acc = w.di + round16(ATT_BQ) + rows_floats(g);
    return w;
}

static size_t fast_workspace(const struct lt_kargs *a, int backward) {
    struct geom g = geom_of(a);
    return (size_t)omp_get_max_threads() * (size_t)slot_floats(&g, backward) * sizeof(float);
}

/* What a task reads, beyond the geometry. */
struct job {
    struct geom g;
    enum lt_dtype dt, ddt;              /* of q, k, v and out, and of dout: f32 or a half type */
    const void *q, *k, *v, *out, *dout; /* out and lse: as the backward reads them */
    const float *lse;
    void *o;            /* the forward writes its output here (dtype dt) */
    float *l;           /* and the rows' log-sum-exp here */
    void *gq, *gk, *gv; /* of dtype gdt: f32, or a half type (half gradients) */
    enum lt_dtype gdt;
    int acc_q, acc_k, acc_v;
    uint64_t seed;
    uint32_t epoch;
    int64_t sample_base;
};

/* The dropout stream of head b's sample. */
LT_INLINE uint64_t head_key(const struct job *jb, int64_t b) {
    const struct geom *g = &jb->g;
    return lt_rng_key(jb->seed, g->layer, jb->epoch, (uint64_t)(jb->sample_base + b / g->heads));
}

/* Rows [r0, r0 + n) of a matrix of `width` columns and dtype dt at `base`, in f32: the
 * rows themselves when they are f32, else widened into buf (exactly). */
LT_INLINE const float *rows_f32(enum lt_dtype dt, const void *base, int64_t r0, int64_t n,
                                int64_t width, float *buf) {
    if (dt == LT_DTYPE_F32)
        return (const float *)base + r0 * width;
    lt_half_to_f32_n(dt, (const uint16_t *)base + r0 * width, buf, n * width);
    return buf;
}

/* dst (n rows of stride ld) = src (nc rows of n) transposed. Sixteen source rows at a
 * time, so that a column of them is stored as one vector rather than element by
 * element. */
LT_INLINE void transpose_block(float *restrict dst, int64_t ld, const float *restrict src,
                               int64_t nc, int64_t n) {
    int64_t c0 = 0;
    for (; c0 + 16 <= nc; c0 += 16)
        for (int64_t x = 0; x < n; x++) {
#pragma omp simd
            for (int64_t c = 0; c < 16; c++)
                dst[x * ld + c0 + c] = src[(c0 + c) * n + x];
        }
    for (int64_t c = c0; c < nc; c++)
        for (int64_t x = 0; x < n; x++)
            dst[x * ld + c] = src[c * n + x];
}

#include "kernels/cpu/attention_tiles.h"

LT_INLINE float dot(const float *restrict a, const float *restrict b, int64_t n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t x = 0; x < n; x++)
        s += a[x] * b[x];
    return s;
}

/* Keys [0, nc) of the visible ones of row i of the tile (cn of them): the rest is 0. */
LT_INLINE int64_t row_keys(const struct geom *g, int64_t i, int64_t c0, int64_t nc) {
    int64_t cn = visible_keys(g, i) - c0;
    return cn < 0 ? 0 : cn < nc ? cn : nc;
}

/* In a keys-down tile of query rows from r0 and keys from c0, key row j is visible to
 * query lanes i >= first_lane(j) (visible_keys: j <= i when causal). */
LT_INLINE int64_t first_lane(const struct geom *g, int64_t r0, int64_t c0, int64_t j) {
    return g->causal ? c0 + j - r0 : 0;
}

/* The keys-down tile of scores at t (nc key rows of nr query lanes, row stride ATT_BQ)
 * = k rows [c0, c0 + nc) times the query block transposed in qt (D, ATT_BQ). With the
 * queries along the vector lanes, a row's softmax max and sum are lane-wise maxima and
 * sums down the tile, with no reduction across a vector, and the k and v rows are read
 * in place, with no transpose per tile. */
LT_INLINE void scores_t(float *restrict t, const float *restrict k, const float *restrict qt,
                        int64_t d, int64_t nc, int64_t nr) {
    gemm(t, ATT_BQ, k, d, 1, qt, ATT_BQ, nc, nr, d, 0);
}

/* Forward of head b, query rows [r0, r1): the online softmax over key blocks. A tile's
 * scores are one product, their exponentials rescale the rows' running sums, and the
 * tile's probabilities times its values add into the output rows: a second product. */
LT_INLINE void forward_block_body(const struct job *jb, int64_t b, int64_t r0, int64_t r1,
                                  float *slot) {
    const struct geom *g = &jb->g;
    struct scratch w = scratch_of(g, slot);
    int64_t d = g->d, dv = g->dv, nr = r1 - r0;
    /* per query lane: the running max and sum, the tile's max and sum, the rescale */
    float *o = w.acc, *m = o + round16(ATT_BQ * dv), *l = m + round16(ATT_BQ);
    float *mx = l + round16(ATT_BQ), *sum = mx + round16(ATT_BQ), *alpha = w.di;
    uint64_t key = g->p > 0 ? head_key(jb, b) : 0;
    float p = g->p, mul = g->keep_mul, scale = g->scale;
    transpose_block(w.kt, ATT_BQ, rows_f32(jb->dt, jb->q, b * g->tq + r0, nr, d, w.qr), nr, d);
    for (int64_t r = 0; r < nr; r++) {
        m[r] = -INFINITY;
        l[r] = 0;
#pragma omp simd
        for (int64_t x = 0; x < dv; x++)
            o[r * dv + x] = 0;
    }
    int64_t kend = visible_keys(g, r1 - 1); /* the key blocks past it are all masked */
    for (int64_t c0 = 0; c0 < kend; c0 += ATT_BK) {
        int64_t nc = kend - c0 < ATT_BK ? kend - c0 : ATT_BK;
        scores_t(w.s, rows_f32(jb->dt, jb->k, b * g->tk + c0, nc, d, w.kr), w.kt, d, nc, nr);
#pragma omp simd
        for (int64_t i = 0; i < nr; i++) {
            mx[i] = m[i];
            sum[i] = 0;
        }
        for (int64_t j = 0; j < nc; j++) {
            float *restrict sj = w.s + j * ATT_BQ;
            int64_t lo = first_lane(g, r0, c0, j);
#pragma omp simd
            for (int64_t i = 0; i < nr; i++) {
                float x = sj[i] * scale;
                sj[i] = x;
                mx[i] = lt_vselect((i >= lo) & (x > mx[i]), x, mx[i]); /* & vectorises, && not */
            }
        }
        /* a lane with no visible key here keeps its max: alpha 1, nothing added */
#pragma omp simd
        for (int64_t i = 0; i < nr; i++)
            alpha[i] = lt_vexp(m[i] - mx[i]);
        for (int64_t j = 0; j < nc; j++) {
            float *restrict sj = w.s + j * ATT_BQ;
            int64_t lo = first_lane(g, r0, c0, j);
#pragma omp simd
            for (int64_t i = 0; i < nr; i++) {
                float e = lt_vselect(i >= lo, lt_vexp(sj[i] - mx[i]), 0.0f);
                sum[i] += e;
                sj[i] = e;
            }
            if (p > 0) {
                int64_t e0 = ((b % g->heads) * g->tq + r0) * g->tk + c0 + j;
#pragma omp simd
                for (int64_t i = 0; i < nr; i++)
                    sj[i] = lt_vselect(lt_vuniform(key, e0 + i * g->tk) >= p, sj[i] * mul, 0.0f);
            }
        }
        for (int64_t r = 0; r < nr; r++) {
            float *restrict orow = o + r * dv, ar = alpha[r];
            l[r] = l[r] * ar + sum[r];
            m[r] = mx[r];
#pragma omp simd
            for (int64_t x = 0; x < dv; x++)
                orow[x] *= ar;
        }
        /* o (nr, Dv) += P (the tile read transposed) v */
        gemm(o, dv, w.s, 1, ATT_BQ, rows_f32(jb->dt, jb->v, b * g->tk + c0, nc, dv, w.vr), dv, nr,
             dv, nc, 1);
    }
    for (int64_t r = 0; r < nr; r++) {
        int64_t at = (b * g->tq + r0 + r) * dv;
        float inv = 1.0f / l[r], *orow = o + r * dv;
        float *dst = jb->dt == LT_DTYPE_F32 ? (float *)jb->o + at : orow;
#pragma omp simd
        for (int64_t x = 0; x < dv; x++)
            dst[x] = orow[x] * inv;
        if (jb->dt != LT_DTYPE_F32) /* rounded once from the f32 row */
            lt_f32_to_half_n(jb->dt, orow, (uint16_t *)jb->o + at, dv);
        jb->l[b * g->tq + r0 + r] = m[r] + logf(l[r]);
    }
}
LT_DISPATCH(forward_block, (const struct job *jb, int64_t b, int64_t r0, int64_t r1, float *slot),
            (jb, b, r0, r1, slot));

/* The dk / dv pass's tile (queries down, keys across) of query rows [r0, r0 + nr) of
 * head b against keys [c0, c0 + nc), whose k and v are transposed in w: w.s =
 * P keep / (1 - p) and w.dp = dS, 0 where a key is not visible; di holds the rows' D_i,
 * qr and dr their q and dO rows in f32. */
LT_INLINE void tile_grads(const struct job *jb, const struct scratch *w, const float *qr,
                          const float *dr, const float *di, int64_t b, int64_t r0, int64_t nr,
                          int64_t c0, int64_t nc, uint64_t key) {
    const struct geom *g = &jb->g;
    int64_t d = g->d, dv = g->dv;
    gemm(w->s, ATT_BK, qr, d, 1, w->kt, ATT_BK, nr, nc, d, 0);
    gemm(w->dp, ATT_BK, dr, dv, 1, w->vt, ATT_BK, nr, nc, dv, 0);
    float p = g->p, mul = g->keep_mul, scale = g->scale;
    for (int64_t r = 0; r < nr; r++) {
        float *restrict s = w->s + r * ATT_BK, *restrict dp = w->dp + r * ATT_BK;
        float lse = jb->lse[b * g->tq + r0 + r], d_i = di[r];
        int64_t cn = row_keys(g, r0 + r, c0, nc);
        /* whole vectors of 16 past a causal row's last key, masked: a scalar remainder
         * of exps costs more than the masked lanes */
        int64_t cv = (cn + 15) / 16 * 16 < nc ? (cn + 15) / 16 * 16 : nc;
        if (p > 0) {
            int64_t e0 = ((b % g->heads) * g->tq + r0 + r) * g->tk + c0;
#pragma omp simd
            for (int64_t c = 0; c < cv; c++) {
                float pr = lt_vselect(c < cn, lt_vexp(s[c] * scale - lse), 0.0f);
                float kp = lt_vselect(lt_vuniform(key, e0 + c) >= p, mul, 0.0f);
                s[c] = pr * kp;
                dp[c] = pr * (dp[c] * kp - d_i);
            }
        } else {
#pragma omp simd
            for (int64_t c = 0; c < cv; c++) {
                float pr = lt_vselect(c < cn, lt_vexp(s[c] * scale - lse), 0.0f);
                s[c] = pr;
                dp[c] = pr * (dp[c] - d_i);
            }
        }
        for (int64_t c = cv; c < nc; c++)
            s[c] = dp[c] = 0;
    }
}

/* D_i = dO_i . out_i for query rows [r0, r0 + nr) of head b into di (half rows widened
 * ATT_BQ at a time into w's qr and dr). */
LT_INLINE void row_deltas(const struct job *jb, struct scratch *w, float *di, int64_t b, int64_t r0,
                          int64_t nr) {
    int64_t dv = jb->g.dv;
    for (int64_t c = 0; c < nr; c += ATT_BQ) {
        int64_t n = nr - c < ATT_BQ ? nr - c : ATT_BQ, row = b * jb->g.tq + r0 + c;
        const float *dr = rows_f32(jb->ddt, jb->dout, row, n, dv, w->dr);
        const float *orow = rows_f32(jb->dt, jb->out, row, n, dv, w->qr);
        for (int64_t r = 0; r < n; r++)
            di[c + r] = dot(dr + r * dv, orow + r * dv, dv);
    }
}

/* dst (n floats) = (or +=, acc) src * sc. */
LT_INLINE void store_scaled(float *restrict dst, const float *restrict src, int64_t n, float sc,
                            int acc) {
    if (acc) {
#pragma omp simd
        for (int64_t x = 0; x < n; x++)
            dst[x] += src[x] * sc;
    } else {
#pragma omp simd
        for (int64_t x = 0; x < n; x++)
            dst[x] = src[x] * sc;
    }
}

/* A block's gradient rows into gin (elements [at, at + n)) of dtype jb->gdt: (or +=, acc)
 * src * sc; a half gin through lt_grad_move, src (the block's scratch) scaled in place. */
LT_INLINE void store_grad(const struct job *jb, void *gin, int64_t at, float *restrict src,
                          int64_t n, float sc, int acc) {
    if (jb->gdt == LT_DTYPE_F32) {
        store_scaled((float *)gin + at, src, n, sc, acc);
        return;
    }
#pragma omp simd
    for (int64_t x = 0; x < n; x++)
        src[x] *= sc;
    lt_grad_move(LT_DTYPE_F32, src, jb->gdt, (uint16_t *)gin + at, n, acc);
}

/* gq rows [r0, r1) of head b: dq = scale dS k, summed over the key blocks. The tiles are
 * keys down (as in the forward): S^T = k q^T and dP^T = v dO^T against the query block's
 * q and dO transposed once, dS^T elementwise with the queries' lse and D_i along the
 * lanes, and dq = dS k reads the tile transposed, k in place. */
LT_INLINE void dq_block_body(const struct job *jb, int64_t b, int64_t r0, int64_t r1, float *slot) {
    const struct geom *g = &jb->g;
    struct scratch w = scratch_of(g, slot);
    int64_t d = g->d, dv = g->dv, nr = r1 - r0;
    const float *lse = jb->lse + b * g->tq + r0, *di = w.di;
    float *dq = w.acc;
    uint64_t key = g->p > 0 ? head_key(jb, b) : 0;
    float p = g->p, mul = g->keep_mul, scale = g->scale;
    row_deltas(jb, &w, w.di, b, r0, nr);
    transpose_block(w.kt, ATT_BQ, rows_f32(jb->dt, jb->q, b * g->tq + r0, nr, d, w.qr), nr, d);
    transpose_block(w.vt, ATT_BQ, rows_f32(jb->ddt, jb->dout, b * g->tq + r0, nr, dv, w.dr), nr,
                    dv);
#pragma omp simd
    for (int64_t x = 0; x < nr * d; x++)
        dq[x] = 0;
    int64_t kend = visible_keys(g, r1 - 1);
    for (int64_t c0 = 0; c0 < kend; c0 += ATT_BK) {
        int64_t nc = kend - c0 < ATT_BK ? kend - c0 : ATT_BK;
        const float *kr = rows_f32(jb->dt, jb->k, b * g->tk + c0, nc, d, w.kr);
        scores_t(w.s, kr, w.kt, d, nc, nr);
        scores_t(w.dp, rows_f32(jb->dt, jb->v, b * g->tk + c0, nc, dv, w.vr), w.vt, dv, nc, nr);
        for (int64_t j = 0; j < nc; j++) {
            const float *restrict sj = w.s + j * ATT_BQ;
            float *restrict dsj = w.dp + j * ATT_BQ;
            int64_t lo = first_lane(g, r0, c0, j);
            if (p > 0) {
                int64_t e0 = ((b % g->heads) * g->tq + r0) * g->tk + c0 + j;
#pragma omp simd
                for (int64_t i = 0; i < nr; i++) {
                    float pr = lt_vselect(i >= lo, lt_vexp(sj[i] * scale - lse[i]), 0.0f);
                    float kp = lt_vselect(lt_vuniform(key, e0 + i * g->tk) >= p, mul, 0.0f);
                    dsj[i] = pr * (dsj[i] * kp - di[i]);
                }
            } else {
#pragma omp simd
                for (int64_t i = 0; i < nr; i++) {
                    float pr = lt_vselect(i >= lo, lt_vexp(sj[i] * scale - lse[i]), 0.0f);
                    dsj[i] = pr * (dsj[i] - di[i]);
                }
            }
        }
        gemm(dq, d, w.dp, 1, ATT_BQ, kr, d, nr, d, nc, 1);
    }
    store_grad(jb, jb->gq, (b * g->tq + r0) * d, dq, nr * d, g->scale, jb->acc_q);
}
LT_DISPATCH(dq_block, (const struct job *jb, int64_t b, int64_t r0, int64_t r1, float *slot),
            (jb, b, r0, r1, slot));

/* gk and gv rows [c0, c0 + nc) of head b: dk = scale dS^T q and dv = (P keep / (1 - p))^T
 * dO, summed over the query blocks that see them (products with the tiles read
 * transposed), in the scratch's acc. With `deltas` (the head's D_i, computed before) each
 * tile's dS also adds into the head's dq rows at `dq` (Tq by D); without, D_i comes per
 * query block. */
LT_INLINE void key_block_grads(const struct job *jb, struct scratch *w, int64_t b, int64_t c0,
                               int64_t nc, const float *deltas, float *dq, uint64_t key) {
    const struct geom *g = &jb->g;
    int64_t d = g->d, dv = g->dv;
    float *dk = w->acc, *dvs = dk + round16(ATT_BK * d);
#pragma omp simd
    for (int64_t x = 0; x < nc * d; x++)
        dk[x] = 0;
#pragma omp simd
    for (int64_t x = 0; x < nc * dv; x++)
        dvs[x] = 0;
    const float *kr = rows_f32(jb->dt, jb->k, b * g->tk + c0, nc, d, w->kr);
    transpose_block(w->kt, ATT_BK, kr, nc, d);
    transpose_block(w->vt, ATT_BK, rows_f32(jb->dt, jb->v, b * g->tk + c0, nc, dv, w->vr), nc, dv);
    /* causal: the first query block with a row that sees key c0 */
    for (int64_t r0 = g->causal ? c0 / ATT_BQ * ATT_BQ : 0; r0 < g->tq; r0 += ATT_BQ) {
        int64_t nr = g->tq - r0 < ATT_BQ ? g->tq - r0 : ATT_BQ;
        /* causal: the block's keys past its last row's are masked for all its rows and
         * add nothing; the tile stops before them */
        int64_t seen = row_keys(g, r0 + nr - 1, c0, nc);
        const float *di = deltas ? deltas + r0 : w->di;
        if (!deltas)
            row_deltas(jb, w, w->di, b, r0, nr);
        const float *qr = rows_f32(jb->dt, jb->q, b * g->tq + r0, nr, d, w->qr);
        const float *dr = rows_f32(jb->ddt, jb->dout, b * g->tq + r0, nr, dv, w->dr);
        tile_grads(jb, w, qr, dr, di, b, r0, nr, c0, seen, key);
        gemm(dvs, dv, w->s, 1, ATT_BK, dr, dv, seen, dv, nr, 1);
        gemm(dk, d, w->dp, 1, ATT_BK, qr, d, seen, d, nr, 1);
        if (dq) /* dq rows (nr, D) += dS (nr, seen) k */
            gemm(dq + r0 * d, d, w->dp, ATT_BK, 1, kr, d, nr, d, seen, 1);
    }
    if (jb->gk)
        store_grad(jb, jb->gk, (b * g->tk + c0) * d, dk, nc * d, g->scale, jb->acc_k);
    if (jb->gv)
        store_grad(jb, jb->gv, (b * g->tk + c0) * dv, dvs, nc * dv, 1.0f, jb->acc_v);
}

LT_INLINE void dkv_block_body(const struct job *jb, int64_t b, int64_t c0, int64_t c1,
                              float *slot) {
    struct scratch w = scratch_of(&jb->g, slot);
    key_block_grads(jb, &w, b, c0, c1 - c0, NULL, NULL, jb->g.p > 0 ? head_key(jb, b) : 0);
}
LT_DISPATCH(dkv_block, (const struct job *jb, int64_t b, int64_t c0, int64_t c1, float *slot),
            (jb, b, c0, c1, slot));

/* The whole backward of head b (fused_backward): the dk / dv pass's walk over its key
 * blocks, each tile's dS also adding into the head's dq rows, held until the end; D_i
 * comes once per row, before the walk. Each dq row sums over the key blocks in the order
 * the dq pass does. lo and hi are unused (the task is the head). */
LT_INLINE void head_grads_body(const struct job *jb, int64_t b, int64_t lo, int64_t hi,
                               float *slot) {
    (void)lo;
    (void)hi;
    const struct geom *g = &jb->g;
    struct scratch w = scratch_of(g, slot);
    float *dq = w.acc + round16(ATT_BK * g->d) + round16(ATT_BK * g->dv);
    float *deltas = dq + round16(g->tq * g->d);
    uint64_t key = g->p > 0 ? head_key(jb, b) : 0;
    row_deltas(jb, &w, deltas, b, 0, g->tq);
#pragma omp simd
    for (int64_t x = 0; x < g->tq * g->d; x++)
        dq[x] = 0;
    for (int64_t c0 = 0; c0 < g->tk; c0 += ATT_BK)
        key_block_grads(jb, &w, b, c0, g->tk - c0 < ATT_BK ? g->tk - c0 : ATT_BK, deltas, dq, key);
    store_grad(jb, jb->gq, b * g->tq * g->d, dq, g->tq * g->d, g->scale, jb->acc_q);
}
LT_DISPATCH(head_grads, (const struct job *jb, int64_t b, int64_t lo, int64_t hi, float *slot),
            (jb, b, lo, hi, slot));

typedef void (*block_fn)(const struct job *jb, int64_t b, int64_t lo, int64_t hi, float *slot);

/* Runs fn over every (head, block of `len` rows of `rows`) on up to `slots` threads, each
 * with its scratch slot. A task's result does not depend on which thread runs it, so the
 * tasks are handed out as threads come free (the causal blocks' work grows with i). */
static void run_blocks(const struct job *jb, block_fn fn, int64_t rows, int64_t len, float *ws,
                       int64_t slot_len, int slots) {
    const struct geom *g = &jb->g;
    int64_t per = (rows + len - 1) / len, tasks = g->bh * per;
    int team = omp_get_max_threads() < slots ? omp_get_max_threads() : slots;
    int64_t work = g->bh * g->tq * g->tk * (g->d + g->dv);
#pragma omp parallel for schedule(dynamic) num_threads(team) if (work >= 64 * LT_PAR_STREAM)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t b = t / per, lo = t % per * len, hi = lo + len < rows ? lo + len : rows;
        fn(jb, b, lo, hi, ws + (int64_t)omp_get_thread_num() * slot_len);
    }
}

/* The thread slots in a's workspace, or 0 (msg filled) when there is not even one. */
static int slots_of(const struct lt_kargs *a, const struct geom *g, int backward) {
    int64_t slot = slot_floats(g, backward) * (int64_t)sizeof(float);
    int64_t n = (int64_t)a->workspace_size / slot;
    if (n < 1)
        snprintf(a->msg, LT_KMSG_SIZE,
                 "scaled_dot_product_attention: workspace smaller than planned");
    return n > 1024 ? 1024 : (int)n;
}

static struct job job_of(const struct lt_kargs *a) {
    struct job jb = {.g = geom_of(a),
                     .dt = a->in[0]->dtype,
                     .q = a->in[0]->data,
                     .k = a->in[1]->data,
                     .v = a->in[2]->data,
                     .out = a->out[0]->data,
                     .lse = a->out[1]->data,
                     .seed = a->exec->seed,
                     .epoch = a->exec->epoch,
                     .sample_base = a->exec->sample_base};
    return jb;
}

static enum lt_status attention_forward_fast(const struct lt_kargs *a) {
    struct job jb = job_of(a);
    int slots = slots_of(a, &jb.g, 0);
    if (slots < 1)
        return LT_EINVAL;
    jb.o = a->out[0]->data;
    jb.l = a->out[1]->data;
    run_blocks(&jb, forward_block, jb.g.tq, ATT_BQ, a->workspace, slot_floats(&jb.g, 0), slots);
    return LT_OK;
}

static enum lt_status attention_backward_fast(const struct lt_kargs *a) {
    struct job jb = job_of(a);
    int slots = slots_of(a, &jb.g, 1);
    if (slots < 1)
        return LT_EINVAL;
    jb.dout = a->gout[0]->data;
    jb.ddt = a->gout[0]->dtype;
    /* half rows are widened into scratch that f32 inputs have none of: an f32 op's output
     * gradient is f32 (a plan gives half gradients to half ops alone) */
    if (jb.dt == LT_DTYPE_F32 && jb.ddt != LT_DTYPE_F32) {
        snprintf(a->msg, LT_KMSG_SIZE,
                 "scaled_dot_product_attention: f32 inputs take an f32 output gradient");
        return LT_EINVAL;
    }
    jb.gq = a->gin[0] ? a->gin[0]->data : NULL;
    jb.gk = a->gin[1] ? a->gin[1]->data : NULL;
    jb.gv = a->gin[2] ? a->gin[2]->data : NULL;
    jb.gdt = LT_DTYPE_F32;
    for (int i = 0; i < 3; i++)
        if (a->gin[i])
            jb.gdt = a->gin[i]->dtype;
    jb.acc_q = lt_accumulates(a, 0);
    jb.acc_k = lt_accumulates(a, 1);
    jb.acc_v = lt_accumulates(a, 2);
    int64_t slot = slot_floats(&jb.g, 1);
    if (jb.gq && fused_backward(&jb.g)) {
        run_blocks(&jb, head_grads, 1, 1, a->workspace, slot, slots);
        return LT_OK;
    }
    if (jb.gq)
        run_blocks(&jb, dq_block, jb.g.tq, ATT_BQ, a->workspace, slot, slots);
    if (jb.gk || jb.gv)
        run_blocks(&jb, dkv_block, jb.g.tk, ATT_BK, a->workspace, slot, slots);
    return LT_OK;
}

void lt_cpu_register_attention(struct lt_backend *b, int fast) {
    const enum lt_op op = LT_OP_SCALED_DOT_PRODUCT_ATTENTION;
    for (enum lt_dtype dt = LT_DTYPE_F32; dt <= LT_DTYPE_BF16; dt++)
        b->kernels[op][dt] = (struct lt_kernel){.forward = attention_forward_ref,
                                                .backward = attention_backward_ref,
                                                .workspace = ref_workspace,
                                                .impl_name = "ref"};
    if (!fast)
        return;
    b->kernels[op][LT_DTYPE_F32] = (struct lt_kernel){.forward = attention_forward_fast,
                                                      .backward = attention_backward_fast,
                                                      .workspace = fast_workspace,
                                                      .impl_name = lt_cpu_isa()};
    /* half tensors read in place, a block's rows widened at a time: the same kernels */
    for (enum lt_dtype dt = LT_DTYPE_F16; dt <= LT_DTYPE_BF16; dt++)
        b->kernels[op][dt] = (struct lt_kernel){.forward = attention_forward_fast,
                                                .backward = attention_backward_fast,
                                                .workspace = fast_workspace,
                                                .impl_name = "vec",
                                                .half_gradients = 1};
}
