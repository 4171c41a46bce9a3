/* The CPU reference kernels: one register function per op family, and the helpers the
 * families share.
 *
 * Reference kernels are the spec: plain loops, double accumulation where a sum is
 * long, single-threaded. Each family file fills its ops' (op, dtype) entries.
 */
#ifndef LT_CPU_KERNELS_H
#define LT_CPU_KERNELS_H

#include <math.h>

#include "kernels/half.h"
#include "kernels/kernels.h"

/* Each family (kernels/families.def) fills its ops' entries, fast or reference only. */
#define LT_FAMILY(stem) void lt_cpu_register_##stem(struct lt_backend *b, int fast);
#include "kernels/families.def"
#undef LT_FAMILY
void lt_cpu_register_update(struct lt_backend *b, int fast);
/* conv2d_max_pool2d's kernels (conv_pool.c; the fast ones in conv_pool_fast.c), registered
 * with the conv family's. */
void lt_cpu_register_conv_pool(struct lt_backend *b, int fast);
void lt_cpu_register_conv_pool_fast(struct lt_backend *b);
/* conv2d's f32 reference kernels (conv.c), which conv2d_max_pool2d's reference runs. */
enum lt_status lt_conv2d_forward_ref(const struct lt_kargs *a);
enum lt_status lt_conv2d_backward_ref(const struct lt_kargs *a);
/* The fast f16 and bf16 GELU kernels, by table (gelu_half.c). */
void lt_cpu_register_gelu_half(struct lt_backend *b);

/* GELU, the exact erf form (PyTorch's default), and its derivative, in double: the
 * reference kernels' math, and what the half tables hold rounded. */
#define LT_SQRT1_2 0.70710678118654752440      /* 1 / sqrt(2) */
#define LT_INV_SQRT_2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */
static inline double lt_gelu(double v) {
    return 0.5 * v * (1.0 + erf(v * LT_SQRT1_2));
}
static inline double lt_gelu_grad(double v) {
    double cdf = 0.5 * (1.0 + erf(v * LT_SQRT1_2)), pdf = LT_INV_SQRT_2PI * exp(-0.5 * v * v);
    return cdf + v * pdf;
}
/* n f16 values to f32 and back (round to nearest even), with exactly the bits of
 * lt_f16_to_f32 / lt_f32_to_f16, using the CPU's conversion instructions where it has
 * them (half_convert.c). Cannot fail. */
void lt_f16_to_f32_n(const uint16_t *h, float *f, int64_t n);
void lt_f32_to_f16_n(const float *f, uint16_t *h, int64_t n);
void lt_bf16_to_f32_n(const uint16_t *h, float *f, int64_t n);
void lt_f32_to_bf16_n(const float *f, uint16_t *h, int64_t n);
/* n values of half type dt (f16 or bf16) to f32 and back, on the calling thread. */
void lt_half_to_f32_n(enum lt_dtype dt, const uint16_t *h, float *f, int64_t n);
void lt_f32_to_half_n(enum lt_dtype dt, const float *f, uint16_t *h, int64_t n);
/* A whole tensor of half type dt (f16 or bf16) to f32 and back, split between the
 * threads when it is large. Cannot fail. */
void lt_half_to_f32_all(enum lt_dtype dt, const uint16_t *h, float *f, int64_t n);
void lt_f32_to_half_all(enum lt_dtype dt, const float *f, uint16_t *h, int64_t n);

/* out[j] = (or, with acc, +=) sign × the sum over the rows r of g[r·m + j] (times
 * x[r·m + j] when x is not NULL), each in double in row order (the reference's sums,
 * bit for bit), vectorised; rows of 32 columns or more split their columns between
 * threads (kernels/cpu/arith.c: a broadcast operand's and a linear bias's gradient). */
void lt_column_sums(const float *g, const float *x, float *out, int64_t rows, int64_t m,
                    double sign, int acc);
/* The same sums (sign 1, no x) over g of half type dt, read in place: each value widened
 * exactly, so the f32 results equal lt_column_sums' over an f32 copy of g. */
void lt_column_sums_half(enum lt_dtype dt, const uint16_t *g, float *out, int64_t rows, int64_t m,
                         int acc);

/* gx[0, n) of float dtype `to` = (or, with acc, +=) g[0, n) of float dtype `from`: the sum
 * in f32, rounded once to `to` (half_convert.c). A gradient passed on, converted where a
 * cast's two sides differ. On the calling thread; cannot fail. */
void lt_grad_move(enum lt_dtype from, const void *g, enum lt_dtype to, void *gx, int64_t n,
                  int acc);

/* The f16 matmul, linear and conv2d over whatever f32 kernels b has now (half_fast.c):
 * called once the fast f32 kernels are in. */
void lt_cpu_register_half_fast(struct lt_backend *b);

/* The vector ISA levels the own fast kernels are compiled for (kernels/cpu/vec.h), in
 * order: each runs on a CPU that runs the next one. */
enum lt_cpu_level { LT_CPU_BASELINE, LT_CPU_AVX2, LT_CPU_AVX512 };

/* The level the own fast kernels run: the widest this CPU has (AVX-512F, AVX2, else
 * the x86-64 baseline), capped by LUTRA_MAX_CPU_ISA when that is valid. Read once, on
 * the first call; any thread may call it. Cannot fail. */
enum lt_cpu_level lt_cpu_level(void);

/* The widest level this CPU runs, whatever the cap: what lt_cpu_level starts from.
 * Cannot fail. */
enum lt_cpu_level lt_cpu_widest_level(void);

/* lt_cpu_level()'s name: "avx512", "avx2" or "baseline". Cannot fail. */
const char *lt_cpu_isa(void);

/* The widest level LUTRA_MAX_CPU_ISA allows: avx512, avx2 or baseline (any case), and
 * LT_CPU_AVX512, the top level (no cap), when it is unset or empty. A cap above the CPU's
 * level leaves the CPU's. Fails with LT_EINVAL on any other value, *cap then
 * LT_CPU_AVX512 and the message in msg (LT_KMSG_SIZE bytes, may be NULL). */
enum lt_status lt_cpu_isa_cap(enum lt_cpu_level *cap, char *msg);

/* Sets the forward/backward reference kernels of `op` for dtype `dt`. */
static inline void lt_cpu_set(struct lt_backend *b, enum lt_op op, enum lt_dtype dt,
                              lt_kernel_fn forward, lt_kernel_fn backward) {
    b->kernels[op][dt] = (struct lt_kernel){.forward = forward, .backward = backward,
                                            .impl_name = "ref"};
}

/* lt_cpu_set for each float dtype (f32, f16, bf16), for kernels that go through
 * lt_elem_load and lt_elem_store. */
static inline void lt_cpu_set_floats(struct lt_backend *b, enum lt_op op, lt_kernel_fn forward,
                                     lt_kernel_fn backward) {
    lt_cpu_set(b, op, LT_DTYPE_F32, forward, backward);
    lt_cpu_set(b, op, LT_DTYPE_F16, forward, backward);
    lt_cpu_set(b, op, LT_DTYPE_BF16, forward, backward);
}

/* Sets the f16 and bf16 kernels of `op` to half wrappers of its f32 kernels
 * (kernels/cpu/half_ref.h), with their workspace query. */
static inline void lt_cpu_set_half(struct lt_backend *b, enum lt_op op, lt_kernel_fn forward,
                                   lt_kernel_fn backward,
                                   size_t (*workspace)(const struct lt_kargs *, int),
                                   const char *impl_name) {
    for (enum lt_dtype dt = LT_DTYPE_F16; dt <= LT_DTYPE_BF16; dt++)
        b->kernels[op][dt] = (struct lt_kernel){.forward = forward,
                                                .backward = backward,
                                                .workspace = workspace,
                                                .impl_name = impl_name};
}

/* Marks the f16 and bf16 kernels of `op` as taking half gradients (struct lt_kernel's
 * half_gradients): kernels made by lt_half_run, and native ones written for it. */
static inline void lt_cpu_half_gradients(struct lt_backend *b, enum lt_op op) {
    b->kernels[op][LT_DTYPE_F16].half_gradients = 1;
    b->kernels[op][LT_DTYPE_BF16].half_gradients = 1;
}

/* struct lt_kernel's takes_blocked for an elementwise op: any layout, so long as every
 * input has the output's shape (a broadcast reads by position) and all share it. */
static inline int lt_cpu_elementwise_takes_blocked(const struct lt_kargs *a) {
    unsigned all = LT_OUT(0);
    for (int i = 0; i < a->n_in; i++) {
        const struct lt_kview *x = a->in[i], *y = a->out[0];
        int same = x->ndim == y->ndim;
        for (int d = 0; same && d < x->ndim; d++)
            same = x->shape[d] == y->shape[d];
        if (!same)
            return a->blocked == 0;
        all |= LT_IN(i);
    }
    return a->blocked == 0 || a->blocked == all;
}

/* Gives the f32, f16 and bf16 kernels of `op`, an elementwise one, every layout that
 * lt_cpu_elementwise_takes_blocked allows. */
static inline void lt_cpu_elementwise_layouts(struct lt_backend *b, enum lt_op op) {
    for (enum lt_dtype dt = LT_DTYPE_F32; dt <= LT_DTYPE_BF16; dt++)
        b->kernels[op][dt].takes_blocked = lt_cpu_elementwise_takes_blocked;
}

/* batch_norm2d's statistics of one channel: in training, from the sums of x - x0 and of
 * its square over its m values (the running ones, *run_mean and *run_var, moved towards
 * them, the variance unbiased as PyTorch's); in evaluation the running ones. Returns the
 * mean, and the inverse standard deviation in *invstd. */
static inline double lt_bn_channel_stats(const struct lt_batch_norm_attrs *at, double x0,
                                         double sum, double sq, int64_t m, float *run_mean,
                                         float *run_var, double *invstd) {
    double mean, var, mom = at->momentum;
    if (at->training) {
        double shift = sum / (double)m;
        mean = x0 + shift;
        double centred = sq - sum * shift; /* sum of (x - mean)^2 */
        centred = centred > 0 ? centred : 0;
        var = centred / (double)m;
        *run_mean = (float)((1 - mom) * *run_mean + mom * mean);
        *run_var = (float)((1 - mom) * *run_var + mom * centred / (double)(m - 1));
    } else {
        mean = *run_mean;
        var = *run_var;
    }
    *invstd = 1 / sqrt(var + at->eps);
    return mean;
}

/* batch_norm2d with x and y (and their gradients) channel-blocked, f32 (norm_blocked.c):
 * the kernel's takes_blocked, and what its fast forward and backward call when
 * a->blocked is set. */
int lt_batch_norm_takes_blocked(const struct lt_kargs *a);
size_t lt_batch_norm_blocked_workspace(const struct lt_kargs *a, int backward);
enum lt_status lt_batch_norm_blocked_forward(const struct lt_kargs *a);
enum lt_status lt_batch_norm_blocked_backward(const struct lt_kargs *a);

/* For a backward kernel: stores v into gin element i, adding when accumulating. */
static inline void lt_grad_store(const struct lt_kargs *a, int input, int64_t i, double v) {
    float *g = (float *)a->gin[input]->data;
    if (a->accumulate & (1u << input))
        g[i] += (float)v;
    else
        g[i] = (float)v;
}

/* Checks every i32 id of `ids` against [0, size): on the first one outside, writes "id 7
 * at (1, 4) is outside [0, 5)" to a->msg and fails with LT_EINVAL (check_ids.c). */
enum lt_status lt_cpu_check_ids(const struct lt_kargs *a, const struct lt_kview *ids,
                                int64_t size);

/* ---- helpers the families share; none of them can fail ---------------------------------- */

/* Element i of a view as a double: exact for every dtype. */
static inline double lt_elem_load(const struct lt_kview *v, int64_t i) {
    switch (v->dtype) {
    case LT_DTYPE_F16:
        return lt_f16_to_f32(((const uint16_t *)v->data)[i]);
    case LT_DTYPE_BF16:
        return lt_bf16_to_f32(((const uint16_t *)v->data)[i]);
    case LT_DTYPE_I32:
        return ((const int32_t *)v->data)[i];
    case LT_DTYPE_U8:
        return ((const uint8_t *)v->data)[i];
    default:
        return ((const float *)v->data)[i];
    }
}

/* Stores x into element i of a view. A float view rounds to nearest even, the half types
 * through f32: a sum or product of two values of one dtype, rounded to double, then f32,
 * then a half type, still comes out correctly rounded (each step keeps more than twice
 * the next one's precision plus two bits, which makes double rounding harmless). An
 * integer view takes only values of its dtype, as lt_elem_load gives them: it truncates. */
static inline void lt_elem_store(const struct lt_kview *v, int64_t i, double x) {
    switch (v->dtype) {
    case LT_DTYPE_F16:
        ((uint16_t *)v->data)[i] = lt_f32_to_f16((float)x);
        break;
    case LT_DTYPE_BF16:
        ((uint16_t *)v->data)[i] = lt_f32_to_bf16((float)x);
        break;
    case LT_DTYPE_I32:
        ((int32_t *)v->data)[i] = (int32_t)x;
        break;
    case LT_DTYPE_U8:
        ((uint8_t *)v->data)[i] = (uint8_t)x;
        break;
    default:
        ((float *)v->data)[i] = (float)x;
        break;
    }
}

/* Product of v's dims [from, to): with to = ndim - 1 the row count of a tensor seen as
 * (rows, last dim). */
static inline int64_t lt_dims_product(const struct lt_kview *v, int from, int to) {
    int64_t n = 1;
    for (int i = from; i < to; i++)
        n *= v->shape[i];
    return n;
}

/* Max of x[0, n) and the sum of exp(x - max) over it, in double: the two parts of the
 * stable log-sum-exp, max + log(sumexp). n >= 1. */
static inline void lt_row_max_sumexp(const float *x, int64_t n, float *max, double *sumexp) {
    float m = x[0];
    for (int64_t c = 1; c < n; c++)
        m = x[c] > m ? x[c] : m;
    double s = 0;
    for (int64_t c = 0; c < n; c++)
        s += exp((double)x[c] - m);
    *max = m;
    *sumexp = s;
}

/* The backward of an op whose gradient is the identity on the flat buffer (reshape; cast,
 * which converts it back to its input's dtype): gin[0] (+)= gout[0], element for element,
 * each sum rounded once to gin's dtype. */
static inline enum lt_status lt_identity_backward_ref(const struct lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int acc = (a->accumulate & 1u) != 0;
    for (int64_t i = 0; i < lt_kview_numel(a->gout[0]); i++) {
        double g = lt_elem_load(a->gout[0], i);
        lt_elem_store(a->gin[0], i, acc ? (double)(float)(lt_elem_load(a->gin[0], i) + g) : g);
    }
    return LT_OK;
}

#endif
