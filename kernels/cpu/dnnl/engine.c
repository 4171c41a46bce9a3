/* The oneDNN engine and stream of the CPU backend, the ISA cap it shares with the own
 * kernels (LUTRA_MAX_CPU_ISA), and the status wrapper. */
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/dnnl/dnnl_kernels.h"

enum lt_status lt_dnnl_check(dnnl_status_t s, const char *what, char *msg) {
    if (s == dnnl_success)
        return LT_OK;
    if (msg)
        snprintf(msg, LT_KMSG_SIZE, "%s: oneDNN status %d", what, (int)s);
    return s == dnnl_out_of_memory ? LT_ENOMEM
           : s == dnnl_unimplemented ? LT_EUNSUPPORTED
                                     : LT_EINVAL;
}

dnnl_data_type_t lt_dnnl_dtype(enum lt_dtype dt) {
    static const dnnl_data_type_t map[LT_DTYPE_COUNT] = {dnnl_f32, dnnl_f16, dnnl_bf16,
                                                         dnnl_s32, dnnl_u8};
    return map[dt];
}

/* oneDNN's lowercase name of an ISA level (as ONEDNN_MAX_CPU_ISA spells it). */
static const char *isa_name(dnnl_cpu_isa_t isa) {
    static const struct {
        dnnl_cpu_isa_t isa;
        const char *name;
    } names[] = {
        {dnnl_cpu_isa_all, "all"},
        {dnnl_cpu_isa_sse41, "sse41"},
        {dnnl_cpu_isa_avx, "avx"},
        {dnnl_cpu_isa_avx2, "avx2"},
        {dnnl_cpu_isa_avx2_vnni, "avx2_vnni"},
        {dnnl_cpu_isa_avx512_mic, "avx512_mic"},
        {dnnl_cpu_isa_avx512_mic_4ops, "avx512_mic_4ops"},
        {dnnl_cpu_isa_avx512_core, "avx512_core"},
        {dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"},
        {dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"},
        {dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].isa == isa)
            return names[i].name;
    return "unknown";
}

static int env_set(const char *name) {
    const char *s = getenv(name);
    return s && *s;
}

/* Holds oneDNN to LUTRA_MAX_CPU_ISA (lt_cpu_isa_cap) unless ONEDNN_MAX_CPU_ISA, or its
 * older name DNNL_MAX_CPU_ISA, sets oneDNN's own cap: avx2 to oneDNN's avx2, baseline to
 * sse41, the lowest oneDNN has. oneDNN takes a cap only before it first dispatches, so a
 * later context of the same process finds it fixed: that is fine while what oneDNN runs
 * is within the cap. Fails with LT_EINVAL, message in msg, where it is not. */
static enum lt_status cap_isa(char *msg) {
    enum lt_cpu_level cap;
    if (lt_cpu_isa_cap(&cap, NULL) != LT_OK || cap == LT_CPU_AVX512 ||
        env_set("ONEDNN_MAX_CPU_ISA") || env_set("DNNL_MAX_CPU_ISA"))
        return LT_OK;
    dnnl_cpu_isa_t want = cap == LT_CPU_AVX2 ? dnnl_cpu_isa_avx2 : dnnl_cpu_isa_sse41;
    dnnl_status_t s = dnnl_set_max_cpu_isa(want);
    if (s == dnnl_success)
        return LT_OK;
    /* the levels are bit sets, each one's a superset of those below it */
    dnnl_cpu_isa_t have = dnnl_get_effective_cpu_isa();
    if (((unsigned)have & ~(unsigned)want) == 0)
        return LT_OK;
    snprintf(msg, LT_KMSG_SIZE,
             "LUTRA_MAX_CPU_ISA=%s: oneDNN already runs %s and cannot be capped now (status %d)",
             getenv("LUTRA_MAX_CPU_ISA"), isa_name(have), (int)s);
    return LT_EINVAL;
}

static void release(void *impl) {
    struct lt_dnnl *d = impl;
    if (d->stream)
        dnnl_stream_destroy(d->stream);
    if (d->engine)
        dnnl_engine_destroy(d->engine);
    free(d);
}

enum lt_status lt_dnnl_register(struct lt_backend *b, char *msg) {
    struct lt_dnnl *d = calloc(1, sizeof *d);
    if (!d)
        return LT_ENOMEM;
    b->impl = d;
    b->release_impl = release;
    enum lt_status st = cap_isa(msg);
    if (st != LT_OK)
        return st;
    st = lt_dnnl_check(dnnl_engine_create(&d->engine, dnnl_cpu, 0),
                       "creating the oneDNN CPU engine", msg);
    if (st == LT_OK)
        st = lt_dnnl_check(dnnl_stream_create(&d->stream, d->engine, dnnl_stream_default_flags),
                           "creating the oneDNN stream", msg);
    if (st != LT_OK)
        return st;
    const dnnl_version_t *v = dnnl_version();
    size_t n = 0;
    while (n < sizeof b->info && b->info[n])
        n++;
    snprintf(b->info + n, sizeof b->info - n, ", oneDNN %d.%d.%d (%s)", v->major, v->minor,
             v->patch, isa_name(dnnl_get_effective_cpu_isa()));
    lt_dnnl_register_matmul(b);
    lt_dnnl_register_conv(b);
    return LT_OK;
}
