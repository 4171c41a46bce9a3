/* Max pooling's 2x2 gradient in AVX-512 lanes, for output rows of at most 16 windows.
 *
 * The dispatched walk of pool_fast.c runs along one output row at a time; at the widths
 * a small CNN pools (14 and 7 windows a row) gcc's vector loop barely starts and the
 * scalar remainder took most of its time. Here a row's codes (each window's argmax, 0-3
 * in row-major window order) come in one masked load, become four masks, and the
 * gradient goes to the windows' four elements interleaved by two permutations per input
 * row, each lane what the walk would have written, bit for bit.
 */
#include <immintrin.h>

#include "kernels/cpu/pool.h"

#if defined(__x86_64__)
#define AVX512 LT_AVX512_TARGET

/* The masks of the first and second 16 of 2n floats (n <= 16). */
static inline void halves(int64_t n, __mmask16 *lo, __mmask16 *hi) {
    *lo = (__mmask16)(n >= 8 ? 0xffffu : (1u << (2 * n)) - 1u);
    *hi = (__mmask16)(n > 8 ? (1u << (2 * n - 16)) - 1u : 0u);
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
 * gradient to the element its code cr names (0, 1 on g0's pair; 2, 3 on g1's), zeros
 * elsewhere. */
AVX512 static void grad_row(const uint8_t *cr, const float *gr, float *g0, float *g1, int64_t ow,
                            int acc) {
    __mmask16 row = (__mmask16)((1u << ow) - 1u);
    __m512i c = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(row, cr));
    __m512 g = _mm512_maskz_loadu_ps(row, gr), zero = _mm512_setzero_ps();
    __m512 at[4];
    for (int k = 0; k < 4; k++)
        at[k] = _mm512_mask_mov_ps(zero, _mm512_cmpeq_epi32_mask(c, _mm512_set1_epi32(k)), g);
    merge(g0, ow, at[0], at[1], acc);
    merge(g1, ow, at[2], at[3], acc);
}

AVX512 static void grad_planes(const uint8_t *code, const float *gy, float *gx, int64_t planes,
                               const struct pool_dims *d, int acc) {
    int64_t h = d->h, w = d->w, oh = d->oh, ow = d->ow;
    for (int64_t pl = 0; pl < planes; pl++) {
        for (int64_t i = 0; i < oh; i++) {
            int64_t at = (pl * h + 2 * i) * w, o = (pl * oh + i) * ow;
            grad_row(code + o, gy + o, gx + at, gx + at + w, ow, acc);
        }
        if (!acc)
            lt_pool_zero_uncovered(gx + pl * h * w, d);
    }
}

int lt_pool_2x2_max_grad_avx512(const uint8_t *code, const float *gy, float *gx, int64_t planes,
                                const struct pool_dims *d, int acc) {
    if (lt_cpu_level() != LT_CPU_AVX512 || d->ow > 16)
        return 0;
    grad_planes(code, gy, gx, planes, d, acc);
    return 1;
}
#else
int lt_pool_2x2_max_grad_avx512(const uint8_t *code, const float *gy, float *gx, int64_t planes,
                                const struct pool_dims *d, int acc) {
    (void)code, (void)gy, (void)gx, (void)planes, (void)d, (void)acc;
    return 0;
}
#endif
