/* Max pooling's 2x2 gradient in AVX-512 lanes, for output rows of at most 16 windows.
 *
 * The dispatched walk of pool_fast.c runs along one output row at a time; at the widths
 * a small CNN pools (14 and 7 windows a row) gcc's vector loop barely starts and the
 * scalar remainder, with max pooling's NaN rule, took most of its time. Here a row's 2·ow
 * inputs come in two masked loads, one permutation each splits them into the windows'
 * left and right elements, the argmax (the first maximum in row-major window order, a NaN
 * beating every number: pool_fast.c's argmax4) is decided in mask registers, and the
 * gradient goes back interleaved by two more permutations, each lane what the walk would
 * have written, bit for bit.
 */
#include <immintrin.h>

#include "kernels/cpu/pool.h"

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f")))

/* Whether v replaces best: it is larger, or the first NaN. */
AVX512 static inline __mmask16 takes(__m512 v, __m512 best) {
    return _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
           (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q));
}

/* The masks of the first and second 16 of 2n floats (n <= 16). */
static inline void halves(int64_t n, __mmask16 *lo, __mmask16 *hi) {
    *lo = (__mmask16)(n >= 8 ? 0xffffu : (1u << (2 * n)) - 1u);
    *hi = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1u : 0u);
}

/* The 2n floats at p (n <= 16) split into lanes 2j (*left) and 2j + 1 (*right). */
AVX512 static inline void split(const float *p, int64_t n, __m512 *left, __m512 *right) {
    __mmask16 lo, hi;
    halves(n, &lo, &hi);
    __m512 a = _mm512_maskz_loadu_ps(lo, p), b = _mm512_maskz_loadu_ps(hi, p + 16);
    const __m512i even =
        _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    *left = _mm512_permutex2var_ps(a, even, b);
    *right = _mm512_permutex2var_ps(a, odd, b);
}

/* The 2n floats at p = (or, acc, +=) left and right interleaved. */
AVX512 static inline void merge(float *p, int64_t n, __m512 left, __m512 right, int acc) {
    __mmask16 lo, hi;
    halves(n, &lo, &hi);
    const __m512i first = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i second =
        _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    __m512 a = _mm512_permutex2var_ps(left, first, right);
    __m512 b = _mm512_permutex2var_ps(left, second, right);
    if (acc) {
        a = _mm512_add_ps(_mm512_maskz_loadu_ps(lo, p), a);
        b = _mm512_add_ps(_mm512_maskz_loadu_ps(hi, p + 16), b);
    }
    _mm512_mask_storeu_ps(p, lo, a);
    _mm512_mask_storeu_ps(p + 16, hi, b);
}

/* One output row gr (ow <= 16 windows) into the input rows g0, g1 under it, each window's
 * gradient to its maximum among r0[2j], r0[2j + 1], r1[2j], r1[2j + 1], zeros elsewhere. */
AVX512 static void grad_row(const float *r0, const float *r1, const float *gr, float *g0, float *g1,
                            int64_t ow, int acc) {
    __m512 a, b, c, d;
    split(r0, ow, &a, &b);
    split(r1, ow, &c, &d);
    __m512 g = _mm512_maskz_loadu_ps((__mmask16)((1u << ow) - 1u), gr);
    __mmask16 kb = takes(b, a);
    __m512 best = _mm512_mask_blend_ps(kb, a, b);
    __mmask16 kc = takes(c, best);
    best = _mm512_mask_blend_ps(kc, best, c);
    __mmask16 kd = takes(d, best);
    __mmask16 at_c = kc & ~kd, at_b = kb & ~kc & ~kd, at_a = ~(kb | kc | kd);
    __m512 zero = _mm512_setzero_ps();
    merge(g0, ow, _mm512_mask_mov_ps(zero, at_a, g), _mm512_mask_mov_ps(zero, at_b, g), acc);
    merge(g1, ow, _mm512_mask_mov_ps(zero, at_c, g), _mm512_mask_mov_ps(zero, kd, g), acc);
}

AVX512 static void grad_planes(const float *x, const float *gy, float *gx, int64_t planes,
                               const struct pool_dims *d, int acc) {
    int64_t h = d->h, w = d->w, oh = d->oh, ow = d->ow;
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int64_t i = 0; i < oh; i++) {
            int64_t at = (pl * h + 2 * i) * w;
            grad_row(x + at, x + at + w, gy + (pl * oh + i) * ow, gx + at, gx + at + w, ow, acc);
        }
        if (!acc)
            lt_pool_zero_uncovered(gx + pl * h * w, d);
    }
}

int lt_pool_2x2_max_grad_avx512(const float *x, const float *gy, float *gx, int64_t planes,
                                const struct pool_dims *d, int acc) {
    if (lt_cpu_level() != LT_CPU_AVX512 || d->ow > 16)
        return 0;
    grad_planes(x, gy, gx, planes, d, acc);
    return 1;
}
#else
int lt_pool_2x2_max_grad_avx512(const float *x, const float *gy, float *gx, int64_t planes,
                                const struct pool_dims *d, int acc) {
    (void)x, (void)gy, (void)gx, (void)planes, (void)d, (void)acc;
    return 0;
}
#endif
