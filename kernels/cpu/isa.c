/* Which vector ISA the fast kernels dispatch to at run time (never -march=native:
 * binaries move between machines). It names the clone gcc's ifunc picks for an LT_CLONES
 * function (kernels/cpu/vec.h), by the same test. */
#include "kernels/cpu/cpu_kernels.h"

const char *lt_cpu_isa(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "avx512";
    if (__builtin_cpu_supports("avx2"))
        return "avx2";
#endif
    return "baseline";
}
