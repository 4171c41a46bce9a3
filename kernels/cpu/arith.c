/* Reference kernels for the arithmetic ops: add, sub and mul with b broadcast over a's
 * leading dims, scale, and cast. Float ops run on f32, f16 and bf16; cast also reads i32
 * and u8.
 *
 * b has a's shape or a suffix of it, so in the flat layout element i of a meets
 * element i % numel(b) of b, and b's gradient sums gout over every such i.
 *
 * The fast paths (f32; cast also f32 <-> bf16) are vectorised and threaded. A float sum,
 * difference, product or conversion is correctly rounded in float as in double, so
 * their forwards match the reference bit for bit; b's gradient sums each column in
 * double, in row order.
 */
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/half_ref.h"
#include "kernels/cpu/vec.h"

static enum lt_status add_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) + lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status sub_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) - lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status mul_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1], *z = a->out[0];
    int64_t m = lt_kview_numel(y);
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(z, i, lt_elem_load(x, i) * lt_elem_load(y, i % m));
    return LT_OK;
}

/* add (sign +1) and sub (sign -1): d/da = gout, d/db = sign * gout summed over the
 * broadcast dims. */
static void add_sub_backward(const struct lt_kargs *a, double sign) {
    const float *g = a->gout[0]->data; /* a's shape */
    int64_t n = lt_kview_numel(a->gout[0]), m = lt_kview_numel(a->in[1]);
    if (a->gin[1])
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t k = j; k < n; k += m)
                s += g[k];
            lt_grad_store(a, 1, j, sign * s);
        }
    if (a->gin[0])
        for (int64_t i = 0; i < n; i++)
            lt_grad_store(a, 0, i, g[i]);
}

static enum lt_status add_backward_ref(const struct lt_kargs *a) {
    add_sub_backward(a, 1.0);
    return LT_OK;
}

static enum lt_status sub_backward_ref(const struct lt_kargs *a) {
    add_sub_backward(a, -1.0);
    return LT_OK;
}

static enum lt_status mul_backward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->in[1];
    const float *g = a->gout[0]->data; /* a's shape */
    int64_t n = lt_kview_numel(x), m = lt_kview_numel(y);
    if (a->gin[1])
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t k = j; k < n; k += m)
                s += g[k] * lt_elem_load(x, k);
            lt_grad_store(a, 1, j, s);
        }
    if (a->gin[0])
        for (int64_t i = 0; i < n; i++)
            lt_grad_store(a, 0, i, g[i] * lt_elem_load(y, i % m));
    return LT_OK;
}

static enum lt_status scale_forward_ref(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, at->alpha * lt_elem_load(x, i));
    return LT_OK;
}

static enum lt_status scale_backward_ref(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    const float *g = a->gout[0]->data;
    for (int64_t i = 0; i < lt_kview_numel(a->gout[0]); i++)
        lt_grad_store(a, 0, i, (double)at->alpha * g[i]);
    return LT_OK;
}

/* The output's dtype is attrs.dtype; the input's value is exact in double, so the one
 * rounding is lt_elem_store's. */
static enum lt_status cast_forward_ref(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    for (int64_t i = 0; i < lt_kview_numel(x); i++)
        lt_elem_store(y, i, lt_elem_load(x, i));
    return LT_OK;
}

/* ---- fast paths ------------------------------------------------------------------------------ */

enum binary_op { BIN_ADD, BIN_SUB, BIN_MUL };

/* z[i] = x[i] op y[i % m] for i in [lo, hi), a run of whole or partial rows of m. */
LT_INLINE void binary_f32_body(const float *restrict x, const float *restrict y, float *restrict z,
                               int64_t lo, int64_t hi, int64_t m, enum binary_op op) {
    for (int64_t i = lo; i < hi;) {
        int64_t j = i % m, len = m - j < hi - i ? m - j : hi - i;
        const float *xs = x + i, *ys = y + j;
        float *zs = z + i;
        if (m == 1) { /* a scalar b: one run over the whole range */
            float b = y[0];
            len = hi - i;
            if (op == BIN_ADD) {
#pragma omp simd
                for (int64_t k = 0; k < len; k++)
                    zs[k] = xs[k] + b;
            } else if (op == BIN_SUB) {
#pragma omp simd
                for (int64_t k = 0; k < len; k++)
                    zs[k] = xs[k] - b;
            } else {
#pragma omp simd
                for (int64_t k = 0; k < len; k++)
                    zs[k] = xs[k] * b;
            }
        } else if (op == BIN_ADD) {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                zs[k] = xs[k] + ys[k];
        } else if (op == BIN_SUB) {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                zs[k] = xs[k] - ys[k];
        } else {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                zs[k] = xs[k] * ys[k];
        }
        i += len;
    }
}
LT_DISPATCH(binary_f32,
            (const float *restrict x, const float *restrict y, float *restrict z, int64_t lo,
             int64_t hi, int64_t m, enum binary_op op),
            (x, y, z, lo, hi, m, op));

static enum lt_status binary_forward(const struct lt_kargs *a, enum binary_op op) {
    const float *x = a->in[0]->data, *y = a->in[1]->data;
    float *z = a->out[0]->data;
    int64_t n = lt_kview_numel(a->in[0]), m = lt_kview_numel(a->in[1]);
    if (n == 0)
        return LT_OK;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        binary_f32(x, y, z, lo, hi, m, op);
    }
    return LT_OK;
}

static enum lt_status add_forward_fast(const struct lt_kargs *a) {
    return binary_forward(a, BIN_ADD);
}

static enum lt_status sub_forward_fast(const struct lt_kargs *a) {
    return binary_forward(a, BIN_SUB);
}

static enum lt_status mul_forward_fast(const struct lt_kargs *a) {
    return binary_forward(a, BIN_MUL);
}

/* Columns summed together: a block of doubles on the stack, in L1. */
#define COL_BLOCK 256

/* out[j] = (or +=) sign * sum over rows o of g[o * m + j] (times x[o * m + j] when x is
 * not NULL), for the columns j in [c0, c1), each summed in double in row order. g is of
 * dtype dt: f32, or a half type read in place (no x then): a bf16 value widened in the
 * loop (a shift), an f16 row block widened on the stack first. */
LT_INLINE void column_sums_body(enum lt_dtype dt, const void *restrict g, const float *restrict x,
                                float *restrict out, int64_t rows, int64_t m, int64_t c0,
                                int64_t c1, double sign, int acc) {
    double s[COL_BLOCK];
    float row[COL_BLOCK];
    for (int64_t b0 = c0; b0 < c1; b0 += COL_BLOCK) {
        int64_t len = c1 - b0 < COL_BLOCK ? c1 - b0 : COL_BLOCK;
        for (int64_t j = 0; j < len; j++)
            s[j] = 0;
        for (int64_t o = 0; o < rows; o++) {
            const float *gr = row;
            if (dt == LT_DTYPE_F32) {
                gr = (const float *)g + o * m + b0;
            } else if (dt == LT_DTYPE_BF16) {
                const uint16_t *hr = (const uint16_t *)g + o * m + b0;
#pragma omp simd
                for (int64_t j = 0; j < len; j++)
                    s[j] += lt_bf16_to_f32(hr[j]);
                continue;
            } else {
                lt_half_to_f32_n(dt, (const uint16_t *)g + o * m + b0, row, len);
            }
            if (x) {
                const float *xr = x + o * m + b0;
#pragma omp simd
                for (int64_t j = 0; j < len; j++)
                    s[j] += (double)gr[j] * xr[j];
            } else {
#pragma omp simd
                for (int64_t j = 0; j < len; j++)
                    s[j] += gr[j];
            }
        }
        if (acc)
            for (int64_t j = 0; j < len; j++)
                out[b0 + j] += (float)(sign * s[j]);
        else
            for (int64_t j = 0; j < len; j++)
                out[b0 + j] = (float)(sign * s[j]);
    }
}
LT_DISPATCH(column_sums,
            (enum lt_dtype dt, const void *restrict g, const float *restrict x, float *restrict out,
             int64_t rows, int64_t m, int64_t c0, int64_t c1, double sign, int acc),
            (dt, g, x, out, rows, m, c0, c1, sign, acc));

/* column_sums over every column, the columns split between the threads. */
static void column_sums_all(enum lt_dtype dt, const void *g, const float *x, float *out,
                            int64_t rows, int64_t m, double sign, int acc) {
#pragma omp parallel if (rows * m >= LT_PAR_STREAM && m >= 32)
    {
        int64_t c0, c1;
        lt_share(m, 16, omp_get_thread_num(), omp_get_num_threads(), &c0, &c1);
        column_sums(dt, g, x, out, rows, m, c0, c1, sign, acc);
    }
}

/* sum of g[k] (times x[k] when x is not NULL) over k in [lo, hi), in double */
LT_INLINE double dot_range_f32_body(const float *restrict g, const float *restrict x, int64_t lo,
                                    int64_t hi) {
    double s = 0;
    if (x) {
#pragma omp simd reduction(+ : s)
        for (int64_t k = lo; k < hi; k++)
            s += (double)g[k] * x[k];
    } else {
#pragma omp simd reduction(+ : s)
        for (int64_t k = lo; k < hi; k++)
            s += g[k];
    }
    return s;
}
LT_DISPATCH_RET(double, dot_range_f32,
                (const float *restrict g, const float *restrict x, int64_t lo, int64_t hi),
                (g, x, lo, hi));

/* b's gradient: gin[1][j] = sign * sum over the rows of gout (times a, for mul), by
 * lt_column_sums; a scalar b sums fixed chunks. */
static void broadcast_grad(const struct lt_kargs *a, const float *x, double sign) {
    const float *g = a->gout[0]->data; /* a's shape, (rows, m) */
    float *gb = a->gin[1]->data;       /* (m) */
    int64_t n = lt_kview_numel(a->gout[0]), m = lt_kview_numel(a->in[1]);
    int acc = lt_accumulates(a, 1);
    if (m == 1) {
        double part[LT_SUM_CHUNKS];
#pragma omp parallel for schedule(static) if (n >= LT_PAR_STREAM)
        for (int k = 0; k < LT_SUM_CHUNKS; k++) {
            int64_t lo, hi;
            lt_share(n, 16, k, LT_SUM_CHUNKS, &lo, &hi);
            part[k] = dot_range_f32(g, x, lo, hi);
        }
        double s = 0;
        for (int k = 0; k < LT_SUM_CHUNKS; k++)
            s += part[k];
        gb[0] = acc ? gb[0] + (float)(sign * s) : (float)(sign * s);
        return;
    }
    lt_column_sums(g, x, gb, m ? n / m : 0, m, sign, acc);
}

void lt_column_sums(const float *g, const float *x, float *out, int64_t rows, int64_t m,
                    double sign, int acc) {
    column_sums_all(LT_DTYPE_F32, g, x, out, rows, m, sign, acc);
}

void lt_column_sums_half(enum lt_dtype dt, const uint16_t *g, float *out, int64_t rows, int64_t m,
                         int acc) {
    column_sums_all(dt, g, NULL, out, rows, m, 1.0, acc);
}

/* gx = (or +=) g * y[i % m] over [lo, hi), or g itself when y is NULL */
LT_INLINE void scaled_copy_f32_body(const float *restrict g, const float *restrict y,
                                    float *restrict gx, int64_t lo, int64_t hi, int64_t m,
                                    int acc) {
    for (int64_t i = lo; i < hi;) {
        int64_t j = y ? i % m : 0, len = y && m - j < hi - i ? m - j : hi - i;
        const float *gs = g + i, *ys = y ? y + j : NULL;
        float *out = gx + i;
        if (!y && acc) {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                out[k] += gs[k];
        } else if (!y) {
            memcpy(out, gs, (size_t)len * sizeof(float));
        } else if (acc) {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                out[k] += gs[k] * ys[k];
        } else {
#pragma omp simd
            for (int64_t k = 0; k < len; k++)
                out[k] = gs[k] * ys[k];
        }
        i += len;
    }
}
LT_DISPATCH(scaled_copy_f32,
            (const float *restrict g, const float *restrict y, float *restrict gx, int64_t lo,
             int64_t hi, int64_t m, int acc),
            (g, y, gx, lo, hi, m, acc));

/* a's gradient: gout, times b broadcast for mul (y not NULL). */
static void elementwise_grad(const struct lt_kargs *a, const float *y) {
    const float *g = a->gout[0]->data;
    float *gx = a->gin[0]->data;
    int64_t n = lt_kview_numel(a->gout[0]), m = lt_kview_numel(a->in[1]);
    int acc = lt_accumulates(a, 0);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        scaled_copy_f32(g, y, gx, lo, hi, m, acc);
    }
}

static enum lt_status add_backward_fast(const struct lt_kargs *a) {
    if (a->gin[1])
        broadcast_grad(a, NULL, 1.0);
    if (a->gin[0])
        elementwise_grad(a, NULL);
    return LT_OK;
}

static enum lt_status sub_backward_fast(const struct lt_kargs *a) {
    if (a->gin[1])
        broadcast_grad(a, NULL, -1.0);
    if (a->gin[0])
        elementwise_grad(a, NULL);
    return LT_OK;
}

static enum lt_status mul_backward_fast(const struct lt_kargs *a) {
    if (a->gin[1])
        broadcast_grad(a, a->in[0]->data, 1.0);
    if (a->gin[0])
        elementwise_grad(a, a->in[1]->data);
    return LT_OK;
}

LT_INLINE void scale_f32_body(const float *restrict x, float *restrict y, int64_t n, float alpha) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = alpha * x[i];
}
LT_DISPATCH(scale_f32, (const float *restrict x, float *restrict y, int64_t n, float alpha),
            (x, y, n, alpha));

LT_INLINE void scale_grad_f32_body(const float *restrict v, const float *restrict g,
                                   float *restrict gx, int64_t n, float alpha, int acc) {
    (void)v;
    if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] += alpha * g[i];
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = alpha * g[i];
    }
}
LT_DISPATCH(scale_grad_f32,
            (const float *restrict v, const float *restrict g, float *restrict gx, int64_t n,
             float alpha, int acc),
            (v, g, gx, n, alpha, acc));

static enum lt_status scale_forward_fast(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    lt_par_map(scale_f32, a->in[0]->data, a->out[0]->data, lt_kview_numel(a->in[0]), at->alpha,
               LT_PAR_STREAM);
    return LT_OK;
}

static enum lt_status scale_backward_fast(const struct lt_kargs *a) {
    const struct lt_scale_attrs *at = a->attrs;
    if (!a->gin[0])
        return LT_OK;
    lt_par_grad(scale_grad_f32, NULL, a->gout[0]->data, a->gin[0]->data, lt_kview_numel(a->gout[0]),
                at->alpha, lt_accumulates(a, 0), LT_PAR_STREAM);
    return LT_OK;
}

/* bf16 -> f32; a NaN comes out quiet, as through the reference's double */
LT_INLINE void bf16_to_f32_body(const uint16_t *restrict x, float *restrict y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        uint32_t b = x[i];
        y[i] = lt_bits_f32(((b & 0x7fffu) > 0x7f80u ? b | 0x40u : b) << 16);
    }
}
LT_DISPATCH(bf16_to_f32, (const uint16_t *restrict x, float *restrict y, int64_t n), (x, y, n));

/* f16 -> f32 as the reference casts (through double): a signalling NaN comes out quiet. */
LT_INLINE void quiet_nans_body(uint32_t *restrict u, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        u[i] |= (u[i] & 0x7fffffffu) > 0x7f800000u ? 0x00400000u : 0u;
}
LT_DISPATCH(quiet_nans, (uint32_t *restrict u, int64_t n), (u, n));

static void f16_to_f32_quiet(const uint16_t *h, float *f, int64_t n) {
    lt_f16_to_f32_n(h, f, n);
    quiet_nans((uint32_t *)f, n);
}

/* f32 -> f32 copies, f32 <-> bf16 and f32 <-> f16 converts; every other pair is the
 * reference's. */
static enum lt_status cast_forward_fast(const struct lt_kargs *a) {
    const struct lt_kview *x = a->in[0], *y = a->out[0];
    enum lt_dtype from = x->dtype, to = y->dtype;
    int64_t n = lt_kview_numel(x);
    int f32 = from == LT_DTYPE_F32;
    int half_to = to == LT_DTYPE_BF16 || to == LT_DTYPE_F16;
    if (!((f32 && (to == LT_DTYPE_F32 || half_to)) ||
          ((from == LT_DTYPE_BF16 || from == LT_DTYPE_F16) && to == LT_DTYPE_F32)))
        return cast_forward_ref(a);
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        const float *xf = (const float *)x->data + lo;
        const uint16_t *xh = (const uint16_t *)x->data + lo;
        if (f32 && to == LT_DTYPE_F32)
            memcpy((float *)y->data + lo, xf, (size_t)(hi - lo) * sizeof(float));
        else if (f32 && to == LT_DTYPE_BF16)
            lt_f32_to_bf16_n(xf, (uint16_t *)y->data + lo, hi - lo);
        else if (f32)
            lt_f32_to_f16_n(xf, (uint16_t *)y->data + lo, hi - lo);
        else if (from == LT_DTYPE_BF16)
            bf16_to_f32(xh, (float *)y->data + lo, hi - lo);
        else
            f16_to_f32_quiet(xh, (float *)y->data + lo, hi - lo);
    }
    return LT_OK;
}

/* Half add, sub, mul and scale: the f32 fast kernels on f32 copies of the half tensors,
 * each half output rounded once from the f32 result (kernels/cpu/half_ref.h). For add, sub
 * and mul that equals the reference's rounding of the exact result: f32 holds more than
 * twice a half type's precision, so rounding through it cannot change the half result. */
#define HALF_VIA_F32_FAST(name)                                                                 \
    static enum lt_status name##_forward_half(const struct lt_kargs *a) {                      \
        return lt_half_ref_run(a, 0, name##_forward_fast);                                     \
    }                                                                                          \
    static enum lt_status name##_backward_half(const struct lt_kargs *a) {                     \
        return lt_half_ref_run(a, 1, name##_backward_fast);                                    \
    }
HALF_VIA_F32_FAST(add)
HALF_VIA_F32_FAST(sub)
HALF_VIA_F32_FAST(mul)
HALF_VIA_F32_FAST(scale)

/* Half add where b has a's shape (a residual), chunk by chunk in cache: out = a, then
 * out += b as a gradient is added (lt_grad_move: the sum in f32, rounded once). No f32
 * copies of the tensors; a broadcast b takes the copies above. */
static enum lt_status add_forward_half_direct(const struct lt_kargs *a) {
    int64_t n = lt_kview_numel(a->out[0]);
    if (lt_kview_numel(a->in[1]) != n)
        return add_forward_half(a);
    enum lt_dtype dt = a->out[0]->dtype;
    const uint16_t *x = a->in[0]->data, *y = a->in[1]->data;
    uint16_t *out = a->out[0]->data;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int64_t i = lo; i < hi; i += LT_HALF_CHUNK) {
            int64_t m = hi - i < LT_HALF_CHUNK ? hi - i : LT_HALF_CHUNK;
            memcpy(out + i, x + i, (size_t)m * sizeof *out);
            lt_grad_move(dt, y + i, dt, out + i, m, 1);
        }
    }
    return LT_OK;
}

/* The copies only a broadcast b makes. */
static size_t add_half_workspace(const struct lt_kargs *a, int backward) {
    if (lt_kview_numel(a->in[1]) == lt_kview_numel(a->out[0]))
        return 0;
    return lt_half_ref_workspace(a, backward);
}

/* Its gradient: gout passed on to each input in place. */
static enum lt_status add_backward_half_direct(const struct lt_kargs *a) {
    int64_t n = lt_kview_numel(a->gout[0]);
    if (lt_kview_numel(a->in[1]) != n)
        return add_backward_half(a);
    enum lt_dtype dt = a->gout[0]->dtype;
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int i = 0; i < 2; i++) /* gin[0] first: an add into itself (x + x) sums */
            if (a->gin[i])
                lt_grad_move(dt, (const uint16_t *)a->gout[0]->data + lo, dt,
                             (uint16_t *)a->gin[i]->data + lo, hi - lo, lt_accumulates(a, i));
    }
    return LT_OK;
}

void lt_cpu_register_arith(struct lt_backend *b, int fast) {
    lt_cpu_set_floats(b, LT_OP_ADD, add_forward_ref, add_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SUB, sub_forward_ref, sub_backward_ref);
    lt_cpu_set_floats(b, LT_OP_MUL, mul_forward_ref, mul_backward_ref);
    lt_cpu_set_floats(b, LT_OP_SCALE, scale_forward_ref, scale_backward_ref);
    lt_cpu_set_floats(b, LT_OP_CAST, cast_forward_ref, lt_identity_backward_ref);
    lt_cpu_half_gradients(b, LT_OP_CAST); /* gin (+)= gout, each in its own dtype */
    b->kernels[LT_OP_CAST][LT_DTYPE_F32].half_gradients = 1;
    /* integer inputs never need a gradient */
    lt_cpu_set(b, LT_OP_CAST, LT_DTYPE_I32, cast_forward_ref, NULL);
    lt_cpu_set(b, LT_OP_CAST, LT_DTYPE_U8, cast_forward_ref, NULL);
    if (!fast)
        return;
    lt_cpu_set_fast(b, LT_OP_ADD, LT_DTYPE_F32, add_forward_fast, add_backward_fast);
    lt_cpu_set_fast(b, LT_OP_SUB, LT_DTYPE_F32, sub_forward_fast, sub_backward_fast);
    lt_cpu_set_fast(b, LT_OP_MUL, LT_DTYPE_F32, mul_forward_fast, mul_backward_fast);
    lt_cpu_set_fast(b, LT_OP_SCALE, LT_DTYPE_F32, scale_forward_fast, scale_backward_fast);
    lt_cpu_set_half(b, LT_OP_ADD, add_forward_half_direct, add_backward_half_direct,
                    add_half_workspace, "vec");
    lt_cpu_set_half(b, LT_OP_SUB, sub_forward_half, sub_backward_half, lt_half_ref_workspace,
                    "vec");
    lt_cpu_set_half(b, LT_OP_MUL, mul_forward_half, mul_backward_half, lt_half_ref_workspace,
                    "vec");
    lt_cpu_set_half(b, LT_OP_SCALE, scale_forward_half, scale_backward_half,
                    lt_half_ref_workspace, "vec");
    lt_cpu_half_gradients(b, LT_OP_ADD);
    lt_cpu_half_gradients(b, LT_OP_SUB);
    lt_cpu_half_gradients(b, LT_OP_MUL);
    lt_cpu_half_gradients(b, LT_OP_SCALE);
    lt_cpu_elementwise_layouts(b, LT_OP_ADD);
    lt_cpu_elementwise_layouts(b, LT_OP_SUB);
    lt_cpu_elementwise_layouts(b, LT_OP_MUL);
    lt_cpu_elementwise_layouts(b, LT_OP_SCALE);
    lt_cpu_set_fast(b, LT_OP_CAST, LT_DTYPE_F32, cast_forward_fast, lt_identity_backward_fast);
    lt_cpu_set_fast(b, LT_OP_CAST, LT_DTYPE_BF16, cast_forward_fast, lt_identity_backward_fast);
    lt_cpu_set_fast(b, LT_OP_CAST, LT_DTYPE_F16, cast_forward_fast, lt_identity_backward_fast);
    lt_cpu_half_gradients(b, LT_OP_CAST);
    b->kernels[LT_OP_CAST][LT_DTYPE_F32].half_gradients = 1; /* f32 to half: a half gout */
    lt_cpu_elementwise_layouts(b, LT_OP_CAST);
}
