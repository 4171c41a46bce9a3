/* The fused attention kernel's tile products (kernels/cpu/attention.c): C = (or +=) A B
 * over register-blocked tiles, each element of C summed over l in order. Included by that
 * file alone, after it asks gcc for fused multiply-adds, into its ISA-dispatched bodies. */
#ifndef LT_ATTENTION_TILES_H
#define LT_ATTENTION_TILES_H

#include "kernels/cpu/vec.h"

/* The products' register tiles: GEMM_MR rows of C by GEMM_NR columns, kept in registers
 * across the sum (GEMM_NR floats are one AVX-512 vector, two AVX2 ones). Fused
 * multiply-adds have a latency of 4 cycles and two issue ports, so 8 or more independent
 * accumulators keep them busy: AVX-512's 32 registers hold 8-row tiles (tile8, tile8x2),
 * AVX2's 16 only the 4-row one. Every tile sums each element of C over l in order, and
 * which tile covers an element depends on the shapes and the ISA level alone, never on
 * the thread count. */
#define GEMM_MR 4
#define GEMM_MR_WIDE 8
#define GEMM_NR 16

/* The 4 x GEMM_NR tile of C at c (row stride ldc) = (or +=, add) A's rows times B. */
LT_INLINE void tile4(float *restrict c, int64_t ldc, const float *restrict a, int64_t ai,
                     int64_t al, const float *restrict b, int64_t ldb, int64_t kk, int add) {
    float c0[GEMM_NR], c1[GEMM_NR], c2[GEMM_NR], c3[GEMM_NR];
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c0[x] = add ? c[x] : 0.0f;
        c1[x] = add ? c[ldc + x] : 0.0f;
        c2[x] = add ? c[2 * ldc + x] : 0.0f;
        c3[x] = add ? c[3 * ldc + x] : 0.0f;
    }
    for (int64_t l = 0; l < kk; l++) {
        const float *bl = b + l * ldb, *al_ = a + l * al;
        float a0 = al_[0], a1 = al_[ai], a2 = al_[2 * ai], a3 = al_[3 * ai];
#pragma omp simd
        for (int x = 0; x < GEMM_NR; x++) {
            c0[x] += a0 * bl[x];
            c1[x] += a1 * bl[x];
            c2[x] += a2 * bl[x];
            c3[x] += a3 * bl[x];
        }
    }
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c[x] = c0[x];
        c[ldc + x] = c1[x];
        c[2 * ldc + x] = c2[x];
        c[3 * ldc + x] = c3[x];
    }
}

/* tile4 with 8 rows, for AVX-512. */
LT_INLINE void tile8(float *restrict c, int64_t ldc, const float *restrict a, int64_t ai,
                     int64_t al, const float *restrict b, int64_t ldb, int64_t kk, int add) {
    float c0[GEMM_NR], c1[GEMM_NR], c2[GEMM_NR], c3[GEMM_NR];
    float c4[GEMM_NR], c5[GEMM_NR], c6[GEMM_NR], c7[GEMM_NR];
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c0[x] = add ? c[x] : 0.0f;
        c1[x] = add ? c[ldc + x] : 0.0f;
        c2[x] = add ? c[2 * ldc + x] : 0.0f;
        c3[x] = add ? c[3 * ldc + x] : 0.0f;
        c4[x] = add ? c[4 * ldc + x] : 0.0f;
        c5[x] = add ? c[5 * ldc + x] : 0.0f;
        c6[x] = add ? c[6 * ldc + x] : 0.0f;
        c7[x] = add ? c[7 * ldc + x] : 0.0f;
    }
    for (int64_t l = 0; l < kk; l++) {
        const float *bl = b + l * ldb, *al_ = a + l * al;
        float a0 = al_[0], a1 = al_[ai], a2 = al_[2 * ai], a3 = al_[3 * ai];
        float a4 = al_[4 * ai], a5 = al_[5 * ai], a6 = al_[6 * ai], a7 = al_[7 * ai];
#pragma omp simd
        for (int x = 0; x < GEMM_NR; x++) {
            c0[x] += a0 * bl[x];
            c1[x] += a1 * bl[x];
            c2[x] += a2 * bl[x];
            c3[x] += a3 * bl[x];
            c4[x] += a4 * bl[x];
            c5[x] += a5 * bl[x];
            c6[x] += a6 * bl[x];
            c7[x] += a7 * bl[x];
        }
    }
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c[x] = c0[x];
        c[ldc + x] = c1[x];
        c[2 * ldc + x] = c2[x];
        c[3 * ldc + x] = c3[x];
        c[4 * ldc + x] = c4[x];
        c[5 * ldc + x] = c5[x];
        c[6 * ldc + x] = c6[x];
        c[7 * ldc + x] = c7[x];
    }
}

/* tile8 with two vectors of columns (8 by 2 GEMM_NR), for AVX-512: 16 accumulators, and
 * 10 loads (two of B, eight broadcasts of A) per 16 multiply-adds where tile8 needs 9 per
 * 8, so that the loads no longer bound it. */
LT_INLINE void tile8x2(float *restrict c, int64_t ldc, const float *restrict a, int64_t ai,
                       int64_t al, const float *restrict b, int64_t ldb, int64_t kk, int add) {
    /* c<i> and d<i>: the left and right vectors of row i (arrays of one vector each: gcc
     * keeps those in registers, not longer ones) */
    float c0[GEMM_NR], c1[GEMM_NR], c2[GEMM_NR], c3[GEMM_NR];
    float c4[GEMM_NR], c5[GEMM_NR], c6[GEMM_NR], c7[GEMM_NR];
    float d0[GEMM_NR], d1[GEMM_NR], d2[GEMM_NR], d3[GEMM_NR];
    float d4[GEMM_NR], d5[GEMM_NR], d6[GEMM_NR], d7[GEMM_NR];
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c0[x] = add ? c[x] : 0.0f;
        d0[x] = add ? c[GEMM_NR + x] : 0.0f;
        c1[x] = add ? c[ldc + x] : 0.0f;
        d1[x] = add ? c[ldc + GEMM_NR + x] : 0.0f;
        c2[x] = add ? c[2 * ldc + x] : 0.0f;
        d2[x] = add ? c[2 * ldc + GEMM_NR + x] : 0.0f;
        c3[x] = add ? c[3 * ldc + x] : 0.0f;
        d3[x] = add ? c[3 * ldc + GEMM_NR + x] : 0.0f;
        c4[x] = add ? c[4 * ldc + x] : 0.0f;
        d4[x] = add ? c[4 * ldc + GEMM_NR + x] : 0.0f;
        c5[x] = add ? c[5 * ldc + x] : 0.0f;
        d5[x] = add ? c[5 * ldc + GEMM_NR + x] : 0.0f;
        c6[x] = add ? c[6 * ldc + x] : 0.0f;
        d6[x] = add ? c[6 * ldc + GEMM_NR + x] : 0.0f;
        c7[x] = add ? c[7 * ldc + x] : 0.0f;
        d7[x] = add ? c[7 * ldc + GEMM_NR + x] : 0.0f;
    }
    for (int64_t l = 0; l < kk; l++) {
        const float *bl = b + l * ldb, *al_ = a + l * al;
        float a0 = al_[0], a1 = al_[ai], a2 = al_[2 * ai], a3 = al_[3 * ai];
        float a4 = al_[4 * ai], a5 = al_[5 * ai], a6 = al_[6 * ai], a7 = al_[7 * ai];
#pragma omp simd
        for (int x = 0; x < GEMM_NR; x++) {
            c0[x] += a0 * bl[x];
            d0[x] += a0 * bl[GEMM_NR + x];
            c1[x] += a1 * bl[x];
            d1[x] += a1 * bl[GEMM_NR + x];
            c2[x] += a2 * bl[x];
            d2[x] += a2 * bl[GEMM_NR + x];
            c3[x] += a3 * bl[x];
            d3[x] += a3 * bl[GEMM_NR + x];
            c4[x] += a4 * bl[x];
            d4[x] += a4 * bl[GEMM_NR + x];
            c5[x] += a5 * bl[x];
            d5[x] += a5 * bl[GEMM_NR + x];
            c6[x] += a6 * bl[x];
            d6[x] += a6 * bl[GEMM_NR + x];
            c7[x] += a7 * bl[x];
            d7[x] += a7 * bl[GEMM_NR + x];
        }
    }
#pragma omp simd
    for (int x = 0; x < GEMM_NR; x++) {
        c[x] = c0[x];
        c[GEMM_NR + x] = d0[x];
        c[ldc + x] = c1[x];
        c[ldc + GEMM_NR + x] = d1[x];
        c[2 * ldc + x] = c2[x];
        c[2 * ldc + GEMM_NR + x] = d2[x];
        c[3 * ldc + x] = c3[x];
        c[3 * ldc + GEMM_NR + x] = d3[x];
        c[4 * ldc + x] = c4[x];
        c[4 * ldc + GEMM_NR + x] = d4[x];
        c[5 * ldc + x] = c5[x];
        c[5 * ldc + GEMM_NR + x] = d5[x];
        c[6 * ldc + x] = c6[x];
        c[6 * ldc + GEMM_NR + x] = d6[x];
        c[7 * ldc + x] = c7[x];
        c[7 * ldc + GEMM_NR + x] = d7[x];
    }
}

/* C (m, n) = (or +=, add) A (m, kk) B (kk, n): A's element (i, l) at a[i * ai + l * al]
 * (so that A may be a tile read transposed), B and C row-major with strides ldb and ldc.
 * Each element of C sums over l in order. */
LT_INLINE void gemm(float *restrict c, int64_t ldc, const float *restrict a, int64_t ai, int64_t al,
                    const float *restrict b, int64_t ldb, int64_t m, int64_t n, int64_t kk,
                    int add) {
    /* asked at run time: a body is compiled once per ISA, but its target attribute
     * defines no macro to test (one predictable branch per product) */
    int64_t wide = lt_cpu_level() == LT_CPU_AVX512 ? GEMM_MR_WIDE : 0;
    for (int64_t i0 = 0; i0 < m;) {
        int64_t rows = wide && m - i0 >= wide ? wide : m - i0 < GEMM_MR ? m - i0 : GEMM_MR;
        for (int64_t j0 = 0; j0 < n; j0 += GEMM_NR) {
            int64_t nr = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
            float *cij = c + i0 * ldc + j0;
            const float *ai0 = a + i0 * ai, *bj = b + j0;
            if (rows == GEMM_MR_WIDE && n - j0 >= 2 * GEMM_NR) {
                tile8x2(cij, ldc, ai0, ai, al, bj, ldb, kk, add);
                j0 += GEMM_NR;
                continue;
            }
            if (nr == GEMM_NR && rows == GEMM_MR_WIDE) {
                tile8(cij, ldc, ai0, ai, al, bj, ldb, kk, add);
                continue;
            }
            if (nr == GEMM_NR && rows == GEMM_MR) {
                tile4(cij, ldc, ai0, ai, al, bj, ldb, kk, add);
                continue;
            }
            /* the edges: a row at a time, in the same order of l */
            for (int64_t i = 0; i < rows; i++) {
                float row[GEMM_NR];
                float *ci = cij + i * ldc;
                for (int64_t x = 0; x < nr; x++)
                    row[x] = add ? ci[x] : 0.0f;
                for (int64_t l = 0; l < kk; l++) {
                    float av = ai0[i * ai + l * al];
                    const float *bl = bj + l * ldb;
#pragma omp simd
                    for (int64_t x = 0; x < nr; x++)
                        row[x] += av * bl[x];
                }
                for (int64_t x = 0; x < nr; x++)
                    ci[x] = row[x];
            }
        }
        i0 += rows;
    }
}

#endif
