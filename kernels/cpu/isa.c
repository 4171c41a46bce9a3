/* Which vector ISA the fast kernels dispatch to at run time (never -march=native:
 * binaries move between machines). */
#include "kernels/cpu/cpu_kernels.h"

const char *lt_cpu_isa(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? "avx512" : "baseline";
}
