/* Which vector ISA lutra's own fast kernels dispatch to at run time (never -march=native:
 * binaries move between machines): the widest one the CPU runs, capped by the
 * environment variable LUTRA_MAX_CPU_ISA, so that the narrower code paths can be tested
 * on a wider CPU. LT_DISPATCH (kernels/cpu/vec.h) asks lt_cpu_level() at each call. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "kernels/cpu/cpu_kernels.h"

static const char *const level_names[] = {"baseline", "avx2", "avx512"};

enum lt_status lt_cpu_isa_cap(enum lt_cpu_level *cap, char *msg) {
    *cap = LT_CPU_AVX512;
    const char *s = getenv("LUTRA_MAX_CPU_ISA");
    if (!s || !*s)
        return LT_OK;
    for (int level = LT_CPU_BASELINE; level <= LT_CPU_AVX512; level++)
        if (!strcasecmp(s, level_names[level])) {
            *cap = (enum lt_cpu_level)level;
            return LT_OK;
        }
    if (msg)
        snprintf(msg, LT_KMSG_SIZE,
                 "LUTRA_MAX_CPU_ISA='%.40s' is not one of avx512, avx2, baseline", s);
    return LT_EINVAL;
}

enum lt_cpu_level lt_cpu_widest_level(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    /* AVX-512 as every server and desktop CPU with it has it (Skylake-SP on, Zen 4 on): the
     * word and doubleword forms too, which the half kernels' 16-bit lanes need */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return LT_CPU_AVX512;
    /* every AVX2 CPU made has FMA too, but a virtual machine may hide it */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return LT_CPU_AVX2;
#endif
    return LT_CPU_BASELINE;
}

enum lt_cpu_level lt_cpu_level(void) {
    /* -1 until first asked. Threads that ask at once each compute the same value from
     * the same CPU and environment and store it: the race is benign, and the atomic keeps
     * it defined behaviour. Relaxed order: nothing else is published with it. */
    static _Atomic int cached = -1;
    int level = atomic_load_explicit(&cached, memory_order_relaxed);
    if (level < 0) {
        enum lt_cpu_level cap;
        level = lt_cpu_widest_level();
        /* an invalid cap caps nothing here; lt_cpu_backend_init reports it */
        if (lt_cpu_isa_cap(&cap, NULL) == LT_OK && (int)cap < level)
            level = cap;
        atomic_store_explicit(&cached, level, memory_order_relaxed);
    }
    return (enum lt_cpu_level)level;
}

const char *lt_cpu_isa(void) {
    return level_names[lt_cpu_level()];
}
