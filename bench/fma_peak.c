/* fma_peak: the machine's multiply-add peak on `threads` threads, the ceiling that
 * `make bench` reports each step's GFLOP/s against. fp32: vfmadd231ps on the widest
 * vectors the CPU has (AVX-512: 16 lanes, AVX2 with FMA: 8), 2 FLOP a lane. bf16: AMX's
 * tdpbf16ps where the CPU has AMX and Linux grants its tile state (a 16x32 by 32x16
 * bf16 product into 16x16 f32, 16,384 FLOP an instruction; oneDNN's bf16 GEMMs run on
 * it), else vdpbf16ps (AVX512_BF16: 32 products and their sums into 16 f32 lanes, 64 FLOP
 * an instruction). Each thread runs 16 independent accumulator chains (AMX: 4 tiles),
 * enough to cover the latency on the cores of this kind; the best of three timed runs is
 * reported.
 *
 * Usage: fma_peak [--threads N (2)] [--json]
 * Prints the ISAs used and GFLOP/s for fp32 and bf16 (null without bf16 arithmetic).
 */
#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHAINS 16 /* the accumulators of CHAINS_OF */
#define ITERS 4000000L /* per run and thread: about 0.1 s at 3 GHz with AVX-512 */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Sixteen accumulators as named variables (an array may live in memory at -O2, and its
 * loads and stores would then bound the loop), each updated once an iteration by OP. */
#define CHAINS_OF(T, init)                                                                      \
    T c0 = init(0.0f), c1 = init(1.0f), c2 = init(2.0f), c3 = init(3.0f), c4 = init(4.0f),      \
      c5 = init(5.0f), c6 = init(6.0f), c7 = init(7.0f), c8 = init(8.0f), c9 = init(9.0f),      \
      c10 = init(10.0f), c11 = init(11.0f), c12 = init(12.0f), c13 = init(13.0f),               \
      c14 = init(14.0f), c15 = init(15.0f)
#define STEP_ALL(OP)                                                                            \
    do {                                                                                       \
        c0 = OP(c0); c1 = OP(c1); c2 = OP(c2); c3 = OP(c3); c4 = OP(c4); c5 = OP(c5);          \
        c6 = OP(c6); c7 = OP(c7); c8 = OP(c8); c9 = OP(c9); c10 = OP(c10); c11 = OP(c11);      \
        c12 = OP(c12); c13 = OP(c13); c14 = OP(c14); c15 = OP(c15);                            \
    } while (0)
#define SUM_ALL(ADD)                                                                            \
    ADD(ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7))),                     \
        ADD(ADD(ADD(c8, c9), ADD(c10, c11)), ADD(ADD(c12, c13), ADD(c14, c15))))

/* The results are summed and returned, so that no chain can be optimised away. */
__attribute__((target("avx512f"))) static float fp32_avx512(long iters) {
    __m512 a = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(1e-7f);
    CHAINS_OF(__m512, _mm512_set1_ps);
#define FMA512(x) _mm512_fmadd_ps(x, a, b)
    for (long i = 0; i < iters; i++)
        STEP_ALL(FMA512);
    return _mm512_reduce_add_ps(SUM_ALL(_mm512_add_ps));
}

__attribute__((target("avx2,fma"))) static float fp32_avx2(long iters) {
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(1e-7f);
    CHAINS_OF(__m256, _mm256_set1_ps);
#define FMA256(x) _mm256_fmadd_ps(x, a, b)
    for (long i = 0; i < iters; i++)
        STEP_ALL(FMA256);
    float lanes[8];
    _mm256_storeu_ps(lanes, SUM_ALL(_mm256_add_ps));
    return lanes[0] + lanes[7];
}

__attribute__((target("avx512f,avx512bf16"))) static float bf16_avx512(long iters) {
    __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3380);
    CHAINS_OF(__m512, _mm512_set1_ps);
#define DOT512(x) _mm512_dpbf16_ps(x, a, b)
    for (long i = 0; i < iters; i++)
        STEP_ALL(DOT512);
    return _mm512_reduce_add_ps(SUM_ALL(_mm512_add_ps));
}

/* AMX: the tile configuration of palette 1, 16 rows of 64 bytes in tiles 0-7. */
struct tile_config {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

/* Four accumulator tiles (0-3), two A tiles (4, 5) and two B tiles (6, 7): each iteration
 * is four independent tile products. */
__attribute__((target("amx-tile,amx-bf16"))) static float bf16_amx(long iters) {
    struct tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    uint16_t ab[16 * 32];
    for (int i = 0; i < 16 * 32; i++)
        ab[i] = 0x3380; /* 6e-8: the sums stay finite */
    float out[16 * 16];
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ab, 64);
    _tile_loadd(5, ab, 64);
    _tile_loadd(6, ab, 64);
    _tile_loadd(7, ab, 64);
    for (long i = 0; i < iters; i++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, out, 64);
    _tile_release();
    return out[0];
}

/* AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22), with Linux's permission to
 * use the tile data (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, 18). */
static int have_amx(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22)))
        return 0;
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
}

/* AVX512_BF16: CPUID leaf 7, subleaf 1, EAX bit 5. */
static int have_avx512_bf16(void) {
    unsigned a, b, c, d;
    return __builtin_cpu_supports("avx512f") && __get_cpuid_count(7, 1, &a, &b, &c, &d) &&
           (a & (1u << 5));
}

/* Best GFLOP/s of three runs of `kernel` on `threads` threads, `flop` FLOP an
 * instruction. */
static double peak(float (*kernel)(long), int threads, double flop) {
    double best = 0;
    volatile float sink = 0;
    kernel(ITERS / 20); /* wake the cores up */
    for (int run = 0; run < 3; run++) {
        double t0 = now_s();
#pragma omp parallel num_threads(threads)
        {
            float r = kernel(ITERS);
#pragma omp atomic
            sink += r;
        }
        double dt = now_s() - t0;
        double gflops = flop * CHAINS * (double)ITERS * threads / dt * 1e-9;
        if (gflops > best)
            best = gflops;
    }
    (void)sink;
    return best;
}

int main(int argc, char **argv) {
    int threads = 2, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "usage: fma_peak [--threads N] [--json]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 4096) {
        fprintf(stderr, "fma_peak: --threads must be in [1, 4096], got %d\n", threads);
        return 2;
    }
    const char *isa = "none";
    double fp32 = 0, bf16 = 0;
    if (__builtin_cpu_supports("avx512f")) {
        isa = "avx512";
        fp32 = peak(fp32_avx512, threads, 32);
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        isa = "avx2";
        fp32 = peak(fp32_avx2, threads, 16);
    }
    const char *bf16_isa = "none";
    if (have_amx()) {
        bf16_isa = "amx";
        /* 4 products of 16,384 FLOP an iteration, counted as CHAINS of 4096 */
        bf16 = peak(bf16_amx, threads, 16384.0 * 4 / CHAINS);
    } else if (have_avx512_bf16()) {
        bf16_isa = "avx512_bf16";
        bf16 = peak(bf16_avx512, threads, 64);
    }
    char b[32] = "null";
    if (bf16 > 0)
        snprintf(b, sizeof b, "%.1f", bf16);
    if (json)
        printf("{\"kind\": \"peak\", \"isa\": \"%s\", \"bf16_isa\": \"%s\", \"threads\": %d, "
               "\"fp32_gflops\": %.1f, \"bf16_gflops\": %s}\n",
               isa, bf16_isa, threads, fp32, b);
    else
        printf("multiply-add peak on %d threads: fp32 %.1f GFLOP/s (%s), bf16 %s GFLOP/s (%s)\n",
               threads, fp32, isa, b, bf16_isa);
    return 0;
}
