/* The CPU backend: every family's kernels in one table, reference or fast. */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/cpu_kernels.h"
#ifdef LT_ONEDNN
#include "kernels/cpu/dnnl/dnnl_kernels.h"
#endif

static void register_families(struct lt_backend *b, int fast) {
    static void (*const families[])(struct lt_backend *, int) = {
#define LT_FAMILY(stem) lt_cpu_register_##stem,
#include "kernels/families.def"
#undef LT_FAMILY
        lt_cpu_register_update,
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        families[i](b, fast);
}

void lt_cpu_reference_init(struct lt_backend *b) {
    memset(b, 0, sizeof *b);
    b->name = "cpu";
    snprintf(b->info, sizeof b->info, "reference kernels");
    register_families(b, 0);
}

/* Also fails, with LT_EINVAL, when LUTRA_MAX_CPU_ISA is set to a level it does not know
 * (lt_cpu_isa_cap), or oneDNN cannot be held to it: the context then runs the
 * reference kernels and names the reason in its backend info. */
enum lt_status lt_cpu_backend_init(struct lt_backend *b, char *msg) {
    memset(b, 0, sizeof *b);
    b->name = "cpu";
    enum lt_cpu_level cap;
    enum lt_status st = lt_cpu_isa_cap(&cap, msg);
    if (st != LT_OK)
        return st;
    register_families(b, 1);
    snprintf(b->info, sizeof b->info, "own kernels (%s)", lt_cpu_isa());
#ifdef LT_ONEDNN
    st = lt_dnnl_register(b, msg);
    if (st != LT_OK) {
        lt_backend_release(b);
        return st;
    }
#endif
    lt_cpu_register_half_fast(b);
    return LT_OK;
}

void lt_backend_release(struct lt_backend *b) {
    if (b->impl && b->release_impl)
        b->release_impl(b->impl);
    b->impl = NULL;
}
