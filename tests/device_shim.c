/* A device backend seen as a host one (tests/device_shim.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/lutra.h"
#include "tests/device_shim.h"

static size_t view_bytes(const struct lt_kview *v) {
    return (size_t)lt_kview_numel(v) * lt_dtype_bytes(v->dtype);
}

/* One host view's device twin; NULL data stays NULL (a tensor the call must not read). */
static enum lt_status send(const struct lt_backend *dev, const struct lt_kview *host,
                           struct lt_kview *out, char *msg) {
    *out = *host;
    if (!host->data)
        return LT_OK;
    size_t bytes = view_bytes(host);
    enum lt_status st = dev->dev.alloc(dev->impl, bytes, &out->data, msg);
    if (st == LT_OK)
        st = dev->dev.copy(dev->impl, out->data, host->data, bytes, LT_COPY_H2D, msg);
    return st;
}

static enum lt_status fetch(const struct lt_backend *dev, const struct lt_kview *host,
                            const struct lt_kview *twin, char *msg) {
    if (!host || !host->data)
        return LT_OK;
    return dev->dev.copy(dev->impl, host->data, twin->data, view_bytes(host), LT_COPY_D2H, msg);
}

/* Twins of every view of a call, and the shapes-only arguments prepare sees. */
struct twins {
    struct lt_kview in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];
    struct lt_kview gin[LT_MAX_INPUTS], gout[LT_MAX_OUTPUTS];
    struct lt_kview shape_in[LT_MAX_INPUTS], shape_out[LT_MAX_OUTPUTS];
    struct lt_kview shape_gin[LT_MAX_INPUTS], shape_gout[LT_MAX_OUTPUTS];
};

static void free_twins(const struct lt_backend *dev, const struct lt_kargs *a, struct twins *t) {
    for (int i = 0; i < a->n_in; i++) {
        dev->dev.free(dev->impl, t->in[i].data);
        if (a->gin[i])
            dev->dev.free(dev->impl, t->gin[i].data);
    }
    for (int k = 0; k < a->n_out; k++) {
        dev->dev.free(dev->impl, t->out[k].data);
        if (a->gout[k])
            dev->dev.free(dev->impl, t->gout[k].data);
    }
}

static const struct lt_backend *shim_dev; /* one device backend per test program */

static enum lt_status run(enum lt_op op, int backward, const struct lt_kargs *a) {
    const struct lt_backend *dev = shim_dev;
    const struct lt_kernel *k = &dev->kernels[op][a->in[0]->dtype];
    struct twins *t = calloc(1, sizeof *t);
    struct lt_kargs d = *a, shapes = *a;
    void *state = NULL, *ws = NULL;
    enum lt_status st = t ? LT_OK : LT_ENOMEM;
    for (int i = 0; i < a->n_in && st == LT_OK; i++) {
        t->shape_in[i] = *a->in[i];
        t->shape_in[i].data = NULL;
        shapes.in[i] = &t->shape_in[i];
        st = send(dev, a->in[i], &t->in[i], a->msg);
        d.in[i] = &t->in[i];
        if (st == LT_OK && a->gin[i]) {
            t->shape_gin[i] = *a->gin[i];
            t->shape_gin[i].data = NULL;
            shapes.gin[i] = &t->shape_gin[i];
            st = send(dev, a->gin[i], &t->gin[i], a->msg);
            d.gin[i] = &t->gin[i];
        }
    }
    for (int j = 0; j < a->n_out && st == LT_OK; j++) {
        t->shape_out[j] = *a->out[j];
        t->shape_out[j].data = NULL;
        shapes.out[j] = &t->shape_out[j];
        st = send(dev, a->out[j], &t->out[j], a->msg);
        d.out[j] = &t->out[j];
        if (st == LT_OK && a->gout[j]) {
            t->shape_gout[j] = *a->gout[j];
            t->shape_gout[j].data = NULL;
            shapes.gout[j] = &t->shape_gout[j];
            st = send(dev, a->gout[j], &t->gout[j], a->msg);
            d.gout[j] = &t->gout[j];
        }
    }
    shapes.impl = d.impl = dev->impl;
    void *exec_dev = NULL;
    if (st == LT_OK)
        st = dev->dev.alloc(dev->impl, sizeof *a->exec, &exec_dev, a->msg);
    if (st == LT_OK)
        st = dev->dev.copy(dev->impl, exec_dev, a->exec, sizeof *a->exec, LT_COPY_H2D, a->msg);
    d.exec_dev = exec_dev;
    if (st == LT_OK && k->prepare)
        st = k->prepare(&shapes, backward, &state);
    d.state = shapes.state = state;
    d.workspace_size = 0;
    if (st == LT_OK && k->workspace) {
        d.workspace_size = k->workspace(&shapes, backward);
        st = dev->dev.alloc(dev->impl, d.workspace_size, &ws, a->msg);
        d.workspace = ws;
    }
    if (st == LT_OK)
        st = backward ? k->backward(&d) : k->forward(&d);
    if (st == LT_OK)
        st = dev->dev.sync(dev->impl, a->msg);
    /* outputs, gradients and in-place inputs (batch norm's running statistics) back */
    for (int i = 0; i < a->n_in && st == LT_OK; i++) {
        st = fetch(dev, a->in[i], &t->in[i], a->msg);
        if (st == LT_OK && a->gin[i])
            st = fetch(dev, a->gin[i], &t->gin[i], a->msg);
    }
    for (int j = 0; j < a->n_out && st == LT_OK && !backward; j++)
        st = fetch(dev, a->out[j], &t->out[j], a->msg);
    if (state && k->release)
        k->release(state);
    dev->dev.free(dev->impl, ws);
    dev->dev.free(dev->impl, exec_dev);
    if (t)
        free_twins(dev, a, t);
    free(t);
    return st;
}

#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state)                 \
    static enum lt_status fwd_##ID(const struct lt_kargs *a) {                                     \
        return run(LT_OP_##ID, 0, a);                                                              \
    }                                                                                              \
    static enum lt_status bwd_##ID(const struct lt_kargs *a) {                                     \
        return run(LT_OP_##ID, 1, a);                                                              \
    }
#include "kernels/ops.def"
#undef LT_OP

void device_shim_init(struct lt_backend *shim, const struct lt_backend *dev) {
    memset(shim, 0, sizeof *shim);
    shim_dev = dev;
    shim->name = "device shim";
    snprintf(shim->info, sizeof shim->info, "%s", dev->info);
    static const lt_kernel_fn fwd[LT_OP_COUNT] = {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state) fwd_##ID,
#include "kernels/ops.def"
#undef LT_OP
    };
    static const lt_kernel_fn bwd[LT_OP_COUNT] = {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, has_bwd, reads, prec, state) bwd_##ID,
#include "kernels/ops.def"
#undef LT_OP
    };
    for (int op = 0; op < LT_OP_COUNT; op++)
        for (int dt = 0; dt < LT_DTYPE_COUNT; dt++) {
            const struct lt_kernel *k = &dev->kernels[op][dt];
            if (!k->forward)
                continue;
            shim->kernels[op][dt].forward = fwd[op];
            shim->kernels[op][dt].backward = k->backward ? bwd[op] : NULL;
            shim->kernels[op][dt].impl_name = k->impl_name;
        }
}
