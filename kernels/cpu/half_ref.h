/* Half (f16, bf16) kernels made from f32 ones: the spec for the half fast paths of
 * linear and conv, the f16 fast paths themselves (kernels/cpu/half_fast.c, over the fast
 * f32 kernels), and the half kernels of ops whose f32 kernel serves both (pooling,
 * dropout), so that mixed precision keeps their activations in half.
 *
 * The f32 kernel runs on f32 copies of the half tensors (exact: every f16 and bf16 is
 * an f32), placed in the kernel's workspace, and each half output is rounded once to
 * nearest even from the f32 result, the way the fast paths round their f32
 * accumulators. Gradients are those of the tensors' dtypes (struct lt_kernel's
 * half_gradients): a half gout is read through an f32 copy, and a half gin is written
 * through one (loaded first when the call adds into it), rounded once at the end.
 */
#ifndef LT_HALF_REF_H
#define LT_HALF_REF_H

#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"

/* Workspace bytes of an f32 copy of v when v is half (64-byte multiples), else 0. */
static inline size_t lt_half_ref_copy_bytes(const struct lt_kview *v) {
    if (!lt_dtype_is_half(v->dtype))
        return 0;
    return ((size_t)lt_kview_numel(v) * sizeof(float) + 63) / 64 * 64;
}

/* The workspace query of a half kernel: room for an f32 copy of every half input and
 * output (this query does not know its op, so not which of them the op's backward reads:
 * a kernel that does counts its own, as half_fast.c does) and, in a backward call, of
 * every half gradient. Cannot fail. */
static inline size_t lt_half_ref_workspace(const struct lt_kargs *a, int backward) {
    size_t n = 0;
    for (int i = 0; i < a->n_in; i++) {
        n += lt_half_ref_copy_bytes(a->in[i]);
        if (backward && a->gin[i])
            n += lt_half_ref_copy_bytes(a->gin[i]);
    }
    for (int k = 0; k < a->n_out; k++) {
        n += lt_half_ref_copy_bytes(a->out[k]);
        if (backward && a->gout[k])
            n += lt_half_ref_copy_bytes(a->gout[k]);
    }
    return n;
}

/* A view of v as f32: v itself when it is not half; else an f32 view over the next copy
 * slot at *ws (advanced), holding v's values when `load`. A tensor a backward call does
 * not read (data NULL) takes no slot. */
static inline struct lt_kview lt_half_ref_view(const struct lt_kview *v, char **ws, int load) {
    struct lt_kview f = *v;
    if (!lt_dtype_is_half(v->dtype) || !v->data)
        return f;
    f.dtype = LT_DTYPE_F32;
    float *p = (float *)*ws;
    if (load)
        lt_half_to_f32_all(v->dtype, v->data, p, lt_kview_numel(v));
    f.data = p;
    *ws += lt_half_ref_copy_bytes(v);
    return f;
}

/* The copies' bytes a call makes: of the half tensors it reads (data not NULL) and
 * writes, at most lt_half_ref_workspace's. */
static inline size_t lt_half_run_copies(const struct lt_kargs *a, int backward) {
    size_t n = 0;
    for (int i = 0; i < a->n_in; i++) {
        n += a->in[i]->data ? lt_half_ref_copy_bytes(a->in[i]) : 0;
        if (backward && a->gin[i])
            n += lt_half_ref_copy_bytes(a->gin[i]);
    }
    for (int k = 0; k < a->n_out; k++) {
        n += a->out[k]->data ? lt_half_ref_copy_bytes(a->out[k]) : 0;
        if (backward && a->gout[k])
            n += lt_half_ref_copy_bytes(a->gout[k]);
    }
    return n;
}

/* Runs the f32 kernel `f32` (forward or backward) on f32 copies of a's half tensors,
 * gradients included, which take the front of the workspace; the f32 kernel gets `state`
 * and the `inner_workspace` bytes after them. Fails with LT_EINVAL when the workspace is
 * smaller than that, else as the f32 kernel does. */
static inline enum lt_status lt_half_run(const struct lt_kargs *a, int backward, lt_kernel_fn f32,
                                         void *state, size_t inner_workspace) {
    size_t copies = lt_half_run_copies(a, backward);
    if (a->workspace_size < copies + inner_workspace) {
        snprintf(a->msg, LT_KMSG_SIZE, "half kernel: workspace smaller than planned");
        return LT_EINVAL;
    }
    struct lt_kargs b = *a;
    struct lt_kview in[LT_MAX_INPUTS], out[LT_MAX_OUTPUTS];
    char *ws = a->workspace;
    for (int i = 0; i < a->n_in; i++) {
        in[i] = lt_half_ref_view(a->in[i], &ws, 1);
        b.in[i] = &in[i];
    }
    for (int k = 0; k < a->n_out; k++) {
        out[k] = lt_half_ref_view(a->out[k], &ws, backward);
        b.out[k] = &out[k];
    }
    struct lt_kview gout[LT_MAX_OUTPUTS], gin[LT_MAX_INPUTS];
    int own[LT_MAX_INPUTS] = {0}; /* gin[i] is a copy of this call's to round back */
    for (int k = 0; backward && k < a->n_out; k++)
        if (a->gout[k]) {
            gout[k] = lt_half_ref_view(a->gout[k], &ws, 1);
            b.gout[k] = &gout[k];
        }
    for (int i = 0; backward && i < a->n_in; i++) {
        if (!a->gin[i])
            continue;
        int j = 0; /* a gradient written through two slots shares one copy */
        while (j < i && !(a->gin[j] && a->gin[j]->data == a->gin[i]->data))
            j++;
        if (j < i) {
            b.gin[i] = b.gin[j];
            continue;
        }
        gin[i] = lt_half_ref_view(a->gin[i], &ws, (a->accumulate >> i) & 1u);
        b.gin[i] = &gin[i];
        own[i] = lt_dtype_is_half(a->gin[i]->dtype);
    }
    b.workspace = inner_workspace ? (char *)a->workspace + copies : NULL;
    b.workspace_size = inner_workspace;
    b.state = state;
    enum lt_status st = f32(&b);
    for (int k = 0; st == LT_OK && !backward && k < a->n_out; k++)
        if (lt_dtype_is_half(a->out[k]->dtype))
            lt_f32_to_half_all(a->out[k]->dtype, out[k].data, a->out[k]->data,
                               lt_kview_numel(a->out[k]));
    for (int i = 0; st == LT_OK && backward && i < a->n_in; i++)
        if (own[i])
            lt_f32_to_half_all(a->gin[i]->dtype, gin[i].data, a->gin[i]->data,
                               lt_kview_numel(a->gin[i]));
    return st;
}

/* lt_half_run for an f32 kernel with no state or workspace of its own. */
static inline enum lt_status lt_half_ref_run(const struct lt_kargs *a, int backward,
                                             lt_kernel_fn f32) {
    return lt_half_run(a, backward, f32, NULL, 0);
}

#endif
