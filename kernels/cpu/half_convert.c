/* Arrays of half (f16, bf16) to and from f32, giving exactly the bits of the scalar
 * conversions in kernels/half.h. f16 goes through the CPU's conversion instructions (F16C,
 * with AVX2): they round to nearest even and keep subnormals as the scalar code does, and
 * the one case where they differ, NaN payloads, is redone with the scalar function; where
 * the CPU has no F16C, or LUTRA_MAX_CPU_ISA is baseline, the scalar loop runs. bf16 is
 * bit arithmetic, vectorised (LT_DISPATCH). Used wherever half kernels work on f32 copies,
 * and by the threaded whole-tensor converts the half wrappers use (half_ref.h). */
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/vec.h"

static void f16_to_f32_scalar(const uint16_t *h, float *f, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        f[i] = lt_f16_to_f32(h[i]);
}

static void f32_to_f16_scalar(const float *f, uint16_t *h, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        h[i] = lt_f32_to_f16(f[i]);
}

__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *h, float *f,
                                                                 int64_t n) {
    int64_t i = 0;
    const __m128i exp = _mm_set1_epi16(0x7c00), mant = _mm_set1_epi16(0x03ff);
    for (; i + 8 <= n; i += 8) {
        __m128i x = _mm_loadu_si128((const __m128i *)(h + i));
        _mm256_storeu_ps(f + i, _mm256_cvtph_ps(x));
        /* NaN: all exponent bits and some mantissa bit */
        __m128i nan = _mm_andnot_si128(_mm_cmpeq_epi16(_mm_and_si128(x, mant), _mm_setzero_si128()),
                                       _mm_cmpeq_epi16(_mm_and_si128(x, exp), exp));
        if (_mm_movemask_epi8(nan))
            f16_to_f32_scalar(h + i, f + i, 8);
    }
    f16_to_f32_scalar(h + i, f + i, n - i);
}

__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(const float *f, uint16_t *h,
                                                                 int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(f + i);
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        if (_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)))
            f32_to_f16_scalar(f + i, h + i, 8);
    }
    f32_to_f16_scalar(f + i, h + i, n - i);
}

/* F16C is CPUID leaf 1's ECX bit 29 (asked directly: clang's __builtin_cpu_supports does
 * not know the name). The AVX2 code runs only where the own kernels run AVX2 or wider,
 * which honours LUTRA_MAX_CPU_ISA (lt_cpu_level). Threads that ask at once store the same
 * value. */
static int have_f16c(void) {
    static _Atomic int known = -1;
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (k < 0) {
        unsigned a, b, c = 0, d;
        k = lt_cpu_level() >= LT_CPU_AVX2 && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k;
}

void lt_f16_to_f32_n(const uint16_t *h, float *f, int64_t n) {
    if (have_f16c())
        f16_to_f32_f16c(h, f, n);
    else
        f16_to_f32_scalar(h, f, n);
}

void lt_f32_to_f16_n(const float *f, uint16_t *h, int64_t n) {
    if (have_f16c())
        f32_to_f16_f16c(f, h, n);
    else
        f32_to_f16_scalar(f, h, n);
}

/* f32 -> bf16, lt_f32_to_bf16 without its branch */
LT_INLINE void f32_to_bf16_body(const float *restrict x, uint16_t *restrict y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = lt_vbf16(x[i]);
}
LT_DISPATCH(f32_to_bf16, (const float *restrict x, uint16_t *restrict y, int64_t n), (x, y, n));

/* bf16 -> f32, lt_bf16_to_f32: exact, a shift */
LT_INLINE void bf16_to_f32_body(const uint16_t *restrict x, float *restrict y, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = lt_bf16_to_f32(x[i]);
}
LT_DISPATCH(bf16_to_f32, (const uint16_t *restrict x, float *restrict y, int64_t n), (x, y, n));

void lt_f32_to_bf16_n(const float *f, uint16_t *h, int64_t n) {
    f32_to_bf16(f, h, n);
}

void lt_bf16_to_f32_n(const uint16_t *h, float *f, int64_t n) {
    bf16_to_f32(h, f, n);
}

void lt_half_to_f32_n(enum lt_dtype dt, const uint16_t *h, float *f, int64_t n) {
    if (dt == LT_DTYPE_BF16)
        bf16_to_f32(h, f, n);
    else
        lt_f16_to_f32_n(h, f, n);
}

void lt_f32_to_half_n(enum lt_dtype dt, const float *f, uint16_t *h, int64_t n) {
    if (dt == LT_DTYPE_BF16)
        f32_to_bf16(f, h, n);
    else
        lt_f32_to_f16_n(f, h, n);
}

void lt_half_to_f32_all(enum lt_dtype dt, const uint16_t *h, float *f, int64_t n) {
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 64, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lt_half_to_f32_n(dt, h + lo, f + lo, hi - lo);
    }
}

void lt_f32_to_half_all(enum lt_dtype dt, const float *f, uint16_t *h, int64_t n) {
#pragma omp parallel if (n >= LT_PAR_STREAM)
    {
        int64_t lo, hi;
        lt_share(n, 64, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        lt_f32_to_half_n(dt, f + lo, h + lo, hi - lo);
    }
}

/* dst += src over n floats */
LT_INLINE void add_f32_body(const float *restrict src, float *restrict dst, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        dst[i] += src[i];
}
LT_DISPATCH(add_f32, (const float *restrict src, float *restrict dst, int64_t n), (src, dst, n));

/* gx (f32) += g (bf16), each value widened exactly in the loop: a half gradient added into
 * an f32 one (a parameter's, behind its cast) without a pass through a chunk */
LT_INLINE void add_bf16_to_f32_body(const uint16_t *restrict g, float *restrict gx, int64_t n) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        gx[i] += lt_bf16_to_f32(g[i]);
}
LT_DISPATCH(add_bf16_to_f32, (const uint16_t *restrict g, float *restrict gx, int64_t n),
            (g, gx, n));

/* gx (bf16) = gx + g, g bf16 or f32 (from_f32): the sum in f32, rounded once, in the
 * lanes (a residual's gradients, a slice added into its tensor's) */
LT_INLINE void add_into_bf16_body(const void *restrict g, int from_f32, uint16_t *restrict gx,
                                  int64_t n) {
    if (from_f32) {
        const float *gf = g;
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] = lt_vbf16(lt_bf16_to_f32(gx[i]) + gf[i]);
    } else {
        const uint16_t *gh = g;
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            gx[i] =
                lt_vbf16(lt_bf16_to_f32(gx[i]) + lt_bf16_to_f32(gh[i]));
    }
}
LT_DISPATCH(add_into_bf16, (const void *restrict g, int from_f32, uint16_t *restrict gx, int64_t n),
            (g, from_f32, gx, n));

void lt_grad_move(enum lt_dtype from, const void *g, enum lt_dtype to, void *gx, int64_t n,
                  int acc) {
    if (from == to && !acc) {
        memcpy(gx, g, (size_t)n * lt_dtype_bytes(to));
        return;
    }
    if (!acc && from == LT_DTYPE_F32) { /* a conversion alone */
        lt_f32_to_half_n(to, g, gx, n);
        return;
    }
    if (!acc && to == LT_DTYPE_F32) {
        lt_half_to_f32_n(from, g, gx, n);
        return;
    }
    if (from == LT_DTYPE_BF16 && to == LT_DTYPE_F32) {
        add_bf16_to_f32(g, gx, n);
        return;
    }
    if (to == LT_DTYPE_BF16 && from != LT_DTYPE_F16) {
        add_into_bf16(g, from == LT_DTYPE_F32, gx, n);
        return;
    }
    float gf[LT_HALF_CHUNK], xf[LT_HALF_CHUNK];
    for (int64_t i = 0; i < n; i += LT_HALF_CHUNK) {
        int64_t m = n - i < LT_HALF_CHUNK ? n - i : LT_HALF_CHUNK;
        const float *src = (const float *)g + i;
        if (from != LT_DTYPE_F32) {
            lt_half_to_f32_n(from, (const uint16_t *)g + i, gf, m);
            src = gf;
        }
        float *dst = to == LT_DTYPE_F32 ? (float *)gx + i : xf;
        if (acc && to != LT_DTYPE_F32)
            lt_half_to_f32_n(to, (const uint16_t *)gx + i, xf, m);
        if (acc) {
            add_f32(src, dst, m);
        } else {
            memcpy(dst, src, (size_t)m * sizeof(float));
        }
        if (to != LT_DTYPE_F32)
            lt_f32_to_half_n(to, dst, (uint16_t *)gx + i, m);
    }
}
