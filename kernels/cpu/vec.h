/* What the CPU fast paths share: run-time ISA dispatch, the split of work between
 * threads, and float math that vectorises.
 *
 * A fast path's hot loop is written once, as an LT_INLINE function <name>_body, and
 * LT_DISPATCH(name, ...) after it compiles it three times: inlined into <name>_avx512
 * (target AVX-512 F, BW, DQ and VL, with FMA), <name>_avx2 (target "avx2,fma") and
 * <name>_baseline (the x86-64 baseline), so that no binary needs -march=native. <name>
 * itself calls the one that lt_cpu_level() names: the widest level the CPU runs, capped
 * by LUTRA_MAX_CPU_ISA (kernels/cpu/isa.c), so that the narrower paths can be tested on
 * a wider CPU. gcc's target_clones, which did this before, cannot be capped: its ifunc
 * resolvers run when the program loads, before anything can read a setting. The cost is
 * one predictable switch per call, and a call covers a thread's share of a loop, not an
 * element.
 *
 * The bodies' loops carry `#pragma omp simd`, which vectorises them at -O2 (where gcc's
 * default cost model would not). OpenMP parallel regions stay outside the dispatched
 * functions: gcc outlines a region's body into a function of its own, which would get
 * the baseline ISA. A driver therefore splits the work and calls the dispatched
 * function on each share.
 *
 * Determinism: every sum is either done by one thread in an order fixed by the sizes, or
 * combined from fixed chunks (LT_SUM_CHUNKS) in chunk order, so the same inputs give the
 * same bits whatever the thread count (tests/test_fastpaths.c checks 1 against 2). Each
 * ISA may round differently (vector widths change a sum's order): the same bits hold
 * for one level, and every level matches the reference (tests/test_isa.c).
 */
#ifndef LT_CPU_VEC_H
#define LT_CPU_VEC_H

#include <math.h>
#include <omp.h>
#include <stdint.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/rng.h"

/* For a body and the helpers it calls: inlined, they take the caller's ISA; called,
 * they would run the baseline's code. */
#define LT_INLINE static inline __attribute__((always_inline))

/* LT_DISPATCH(name, (params), (args)) after `LT_INLINE void name_body params {...}`
 * defines `static void name params`, which runs the body compiled for lt_cpu_level();
 * args are the params' names, in order. LT_DISPATCH_RET(type, name, (params), (args))
 * does the same for a body that returns a `type`. A use ends with a semicolon. */
#define LT_DISPATCH(name, params, args) LT_DISPATCH_(void, , name, params, args)
#define LT_DISPATCH_RET(type, name, params, args) LT_DISPATCH_(type, return, name, params, args)

/* `ret` is `return` or nothing (C11 has no `return f();` for a void f). The closing
 * _Static_assert only takes the semicolon that follows a use. Other architectures run
 * their baseline. */
#if defined(__x86_64__)
/* The AVX-512 level's target: what lt_cpu_widest_level requires of the CPU for it. */
#define LT_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl")))
#define LT_DISPATCH_(type, ret, name, params, args)                                                \
    LT_AVX512_TARGET static type name##_avx512 params {                                            \
        ret name##_body args;                                                                      \
    }                                                                                              \
    __attribute__((target("avx2,fma"))) static type name##_avx2 params {                           \
        ret name##_body args;                                                                      \
    }                                                                                              \
    static type name##_baseline params {                                                           \
        ret name##_body args;                                                                      \
    }                                                                                              \
    static type name params {                                                                      \
        switch (lt_cpu_level()) {                                                                  \
        case LT_CPU_AVX512:                                                                        \
            ret name##_avx512 args;                                                                \
            break;                                                                                 \
        case LT_CPU_AVX2:                                                                          \
            ret name##_avx2 args;                                                                  \
            break;                                                                                 \
        default:                                                                                   \
            ret name##_baseline args;                                                              \
            break;                                                                                 \
        }                                                                                          \
    }                                                                                              \
    _Static_assert(1, #name)
#else
#define LT_DISPATCH_(type, ret, name, params, args)                                                \
    static type name params {                                                                      \
        ret name##_body args;                                                                      \
    }                                                                                              \
    _Static_assert(1, #name)
#endif

/* Below these sizes a kernel runs on the calling thread alone: forking the team costs a
 * few microseconds, more than the work. LT_PAR_STREAM counts elements of a streaming
 * loop (a load, a few flops, a store); LT_PAR_MATH elements of a loop with an exp or a
 * division in it. */
#define LT_PAR_STREAM 32768
#define LT_PAR_MATH 4096

/* A threaded sum is split into this many fixed chunks whatever the thread count, each
 * summed in order, and the chunks' sums added in chunk order: the same bits with any
 * number of threads. */
#define LT_SUM_CHUNKS 64

/* Share t of nt of [0, n): [*lo, *hi), contiguous, near-equal, cut at multiples of
 * `grain` (16 for floats: a cache line, so that no two threads write one). */
static inline void lt_share(int64_t n, int64_t grain, int t, int nt, int64_t *lo, int64_t *hi) {
    int64_t units = (n + grain - 1) / grain, q = units / nt, r = units % nt;
    int64_t first = t * q + (t < r ? t : r);
    int64_t end = first + q + (t < r);
    *lo = first * grain < n ? first * grain : n;
    *hi = end * grain < n ? end * grain : n;
}

/* Sets `op`'s kernels for `dt` in the fast table, named after the ISA they dispatch to. */
static inline void lt_cpu_set_fast(struct lt_backend *b, enum lt_op op, enum lt_dtype dt,
                                   lt_kernel_fn forward, lt_kernel_fn backward) {
    b->kernels[op][dt] =
        (struct lt_kernel){.forward = forward, .backward = backward, .impl_name = lt_cpu_isa()};
}

/* Whether a backward call adds into gin[i] rather than overwriting it. */
static inline int lt_accumulates(const struct lt_kargs *a, int i) {
    return (a->accumulate >> i) & 1u;
}

/* The two shapes of an elementwise f32 loop, as dispatched functions over n elements:
 * y = f(x) with a constant c, and gx = (or, with acc, +=) the gradient from the forward
 * tensor v (NULL when the gradient needs none) and g. */
typedef void (*lt_map_fn)(const float *restrict x, float *restrict y, int64_t n, float c);
typedef void (*lt_grad_fn)(const float *restrict v, const float *restrict g, float *restrict gx,
                           int64_t n, float c, int acc);

/* Runs f over n elements, on every thread from par_min elements up. */
static inline void lt_par_map(lt_map_fn f, const float *x, float *y, int64_t n, float c,
                              int64_t par_min) {
#pragma omp parallel if (n >= par_min)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        f(x + lo, y + lo, hi - lo, c);
    }
}

static inline void lt_par_grad(lt_grad_fn f, const float *v, const float *g, float *gx, int64_t n,
                               float c, int acc, int64_t par_min) {
#pragma omp parallel if (n >= par_min)
    {
        int64_t lo, hi;
        lt_share(n, 16, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        f(v ? v + lo : NULL, g + lo, gx + lo, hi - lo, c, acc);
    }
}

/* Elements of half (f16, bf16) tensors converted to f32 at a time, in cache. */
#define LT_HALF_CHUNK 2048

/* The fast backward of an op whose gradient is the identity on the flat f32 buffer
 * (reshape, cast): lt_identity_backward_ref's contract, threaded (kernels/cpu/shape.c). */
enum lt_status lt_identity_backward_fast(const struct lt_kargs *a);

/* ---- vectorisable float math --------------------------------------------------------------
 * Branch-free (selects, not ifs) so that a simd loop can inline them. NaN in gives NaN
 * out. Accuracies are against the exact function, in units in the last place (ulp). */

/* `hi` where `take`, else `lo`, as a bitwise select: gcc threads a float ?: into
 * branches (and then cannot vectorise the loop) when later code folds for one side. */
LT_INLINE float lt_vselect(int take, float hi, float lo) {
    uint32_t m = 0u - (uint32_t)take;
    return lt_bits_f32((lt_f32_bits(hi) & m) | (lt_f32_bits(lo) & ~m));
}

/* f32 to bf16, rounded to nearest even, a NaN kept a quiet NaN: lt_f32_to_bf16
 * (kernels/half.h) without its branch, so that a simd loop can round in its lanes. */
LT_INLINE uint16_t lt_vbf16(float x) {
    uint32_t u = lt_f32_bits(x);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

/* e^x within 2 ulp (Cephes' expf), subnormal results included. Clamping x to
 * [-104, 89] lets the arithmetic itself underflow to 0 and overflow to inf; a NaN
 * passes through every step. */
LT_INLINE float lt_vexp(float x) {
    float xc = lt_vselect(x > 89.0f, 89.0f, x);
    xc = lt_vselect(xc < -104.0f, -104.0f, xc);
    /* k = round(x / ln 2): adding 1.5 * 2^23 leaves it in the low mantissa bits */
    float shifted = xc * 1.44269504088896341f + 12582912.0f;
    float kf = shifted - 12582912.0f;
    int32_t k = (int32_t)(lt_f32_bits(shifted) - 0x4b400000u);
    /* ln 2 in two parts: kf times the first is exact */
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    /* 2^k in two factors: k spans [-150, 128], wider than one float exponent (a NaN
     * gives a garbage k here, but p is NaN) */
    int32_t k1 = k >> 1, k2 = k - k1;
    return p * lt_bits_f32((uint32_t)(k1 + 127) << 23) * lt_bits_f32((uint32_t)(k2 + 127) << 23);
}

/* tanh(x) within 3 ulp (Cephes' tanhf). */
LT_INLINE float lt_vtanh(float x) {
    float ax = fabsf(x);
    float big = 1.0f - 2.0f / (lt_vexp(ax + ax) + 1.0f);
    float z = x * x;
    float small = -5.70498872745e-3f;
    small = small * z + 2.06390887954e-2f;
    small = small * z - 5.37397155531e-2f;
    small = small * z + 1.33314422036e-1f;
    small = small * z - 3.33332819422e-1f;
    small = small * z * x + x;
    return lt_vselect(ax >= 0.625f, lt_vselect(x < 0, -big, big), small);
}

/* 1 / (1 + e^-x), within 3 ulp. */
LT_INLINE float lt_vsigmoid(float x) {
    return 1.0f / (1.0f + lt_vexp(-x));
}

/* erfc(z) for z >= 0 within a relative 1e-6 while erfc(z) > 1e-30 (Numerical Recipes'
 * erfcc: Chebyshev, 1.2e-7 in exact arithmetic; float rounding of -z^2 adds the rest). */
LT_INLINE float lt_verfc_nonneg(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    return t * lt_vexp(p - z * z);
}

/* Max of x[0, n) and the sum of e^(x - max) over it (lt_row_max_sumexp's parts, the
 * sum in double lanes), for inlining into a body. n >= 1. */
LT_INLINE void lt_vrow_max_sumexp(const float *restrict x, int64_t n, float *max, double *sumexp) {
    float m = x[0];
    if (n < 32) { /* a simd max's setup costs more than a short row */
        for (int64_t c = 1; c < n; c++)
            m = x[c] > m ? x[c] : m;
    } else {
#pragma omp simd reduction(max : m)
        for (int64_t c = 1; c < n; c++)
            m = x[c] > m ? x[c] : m;
    }
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t c = 0; c < n; c++)
        s += lt_vexp(x[c] - m);
    *max = m;
    *sumexp = s;
}

/* lt_rng_uniform(key, e) (kernels/rng.h), through an int32 conversion (exact: 24 bits),
 * which vectorises where a uint64 one needs AVX-512DQ. The dropout op and attention's
 * dropout both draw with it, so that their decisions agree with lt_dropout_keep's. */
LT_INLINE float lt_vuniform(uint64_t key, int64_t e) {
    return (float)(int32_t)(lt_mix64(key + (uint64_t)e * 0x9e3779b97f4a7c15ull) >> 40) * 0x1p-24f;
}

#endif
