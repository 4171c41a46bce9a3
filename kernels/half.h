/* f16 and bf16 storage: explicit conversions to and from f32.
 *
 * Half values are stored as uint16_t (clang 14 has no _Float16 here and neither
 * compiler has a portable __bf16). Narrowing rounds to nearest, ties to even; NaN stays
 * NaN (quiet), overflow becomes inf, f16 keeps subnormals. Plain C, usable from the CPU
 * kernels, the core and (through LT_HD) CUDA code. These functions cannot fail.
 */
#ifndef LT_HALF_H
#define LT_HALF_H

#include <stdint.h>
#include <string.h>

#ifdef __CUDACC__
#define LT_HD __host__ __device__
#else
#define LT_HD
#endif

static inline LT_HD uint32_t lt_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline LT_HD float lt_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline LT_HD uint16_t lt_f32_to_f16(float f) {
    uint32_t x = lt_f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x47800000u) /* >= 65536, inf or NaN */
        return sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u);
    if (ax < 0x38800000u) {
        /* Below f16's smallest normal (2^-14): adding 0.5 aligns the value so that
         * the f32 adder's own round-to-nearest-even produces the subnormal bits. */
        float v = lt_bits_f32(ax) + 0.5f;
        return sign | (uint16_t)(lt_f32_bits(v) - 0x3f000000u);
    }
    uint32_t odd = (ax >> 13) & 1u;
    ax += 0xc8000fffu + odd; /* rebias the exponent by 15 - 127, round to nearest even */
    return sign | (uint16_t)(ax >> 13);
}

static inline LT_HD float lt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        float v = (float)mant * 0x1p-24f;
        return lt_bits_f32(lt_f32_bits(v) | sign);
    }
    if (exp == 31)
        return lt_bits_f32(sign | 0x7f800000u | (mant << 13));
    return lt_bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

static inline LT_HD uint16_t lt_f32_to_bf16(float f) {
    uint32_t x = lt_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

static inline LT_HD float lt_bf16_to_f32(uint16_t h) {
    return lt_bits_f32((uint32_t)h << 16);
}

#endif
