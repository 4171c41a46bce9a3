/* The oneDNN engine and stream of the CPU backend, and the status wrapper. */
#include <stdio.h>
#include <stdlib.h>

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
    enum lt_status st = lt_dnnl_check(dnnl_engine_create(&d->engine, dnnl_cpu, 0),
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
    snprintf(b->info + n, sizeof b->info - n, ", oneDNN %d.%d.%d", v->major, v->minor, v->patch);
    lt_dnnl_register_matmul(b);
    lt_dnnl_register_conv(b);
    return LT_OK;
}
