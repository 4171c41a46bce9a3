/* The planner's layout pass: which buffers lie channel-blocked (struct lt_kargs).
 *
 * Every candidate starts blocked, with its gradient; then any node whose kernel does not
 * take the layouts it would see makes plain what it refuses (plain_refused), and a node
 * that would see a tensor and its gradient in two layouts makes both plain, until no
 * node objects. Only plain ever spreads, so the pass ends, and what it leaves blocked every
 * kernel takes. The case it is for: a convolution's output read by max pooling, and the
 * pooling's output read through relu by the next convolution, each convolution writing
 * and reading its own layout with no reorder between (docs/performance.md). */
#include <stdlib.h>

#include "core/ctx.h"
#include "core/fail.h"
#include "core/plan.h"

/* Whether buffer b may be blocked: a value of the arena no caller reads, 4-d, its
 * channels a multiple of the block. */
static int candidate(const struct lt_plan *p, int b) {
    const struct lt_buf *buf = &p->bufs[b];
    return buf->kind == LT_BUF_ARENA && buf->value >= 0 && !buf->keep && buf->view.ndim == 4 &&
           buf->view.shape[1] % LT_BLOCK_CHANNELS == 0 && lt_kview_numel(&buf->view) > 0;
}

/* Makes buffer b plain, and the value or gradient paired with it (pair[b], -1 none);
 * returns whether it was blocked. */
static int make_plain(struct lt_plan *p, const int *pair, int b) {
    if (b < 0 || !p->bufs[b].blocked)
        return 0;
    p->bufs[b].blocked = 0;
    if (pair[b] >= 0)
        p->bufs[pair[b]].blocked = 0;
    return 1;
}

static int is_blocked(const struct lt_plan *p, int b) {
    return b >= 0 && p->bufs[b].blocked;
}

/* The slots of node pn whose tensors (or their gradients) are blocked. */
static unsigned blocked_slots(const struct lt_plan *p, const struct lt_pnode *pn) {
    unsigned bits = 0;
    for (int i = 0; i < pn->n_in; i++)
        bits |= is_blocked(p, pn->in[i]) || is_blocked(p, pn->gin[i]) ? LT_IN(i) : 0u;
    for (int k = 0; k < pn->n_out; k++)
        bits |= is_blocked(p, pn->out[k]) || is_blocked(p, pn->gout[k]) ? LT_OUT(k) : 0u;
    return bits;
}

/* Makes plain both sides of each slot where node pn would see a tensor and its gradient
 * in two layouts: a recomputed tensor (checkpointing) is not the value its gradient is
 * paired with. Returns whether a buffer was blocked. */
static int plain_mixed(struct lt_plan *p, const int *pair, const struct lt_pnode *pn) {
    int changed = 0;
    for (int i = 0; i < pn->n_in; i++)
        if (pn->gin[i] >= 0 && is_blocked(p, pn->in[i]) != is_blocked(p, pn->gin[i]))
            changed |= make_plain(p, pair, pn->in[i]) | make_plain(p, pair, pn->gin[i]);
    for (int k = 0; k < pn->n_out; k++)
        if (pn->gout[k] >= 0 && is_blocked(p, pn->out[k]) != is_blocked(p, pn->gout[k]))
            changed |= make_plain(p, pair, pn->out[k]) | make_plain(p, pair, pn->gout[k]);
    return changed;
}

/* Whether node pn's kernel takes the blocked slots `bits`. */
static int node_takes(const struct lt_plan *p, const struct lt_pnode *pn, unsigned bits) {
    const struct lt_kernel *k = &p->be->kernels[pn->op][p->bufs[pn->in[0]].view.dtype];
    if (!k->takes_blocked)
        return 0;
    struct lt_kargs a;
    lt_plan_shape_args(p, pn, &a);
    a.blocked = bits;
    return k->takes_blocked(&a);
}

/* Makes plain what node pn's kernel refuses of the blocked slots `bits`: each slot it
 * refuses alone (so that a convolution that keeps its input plain may still write its
 * output blocked), or, where it refuses none alone, every buffer it touches. Returns
 * whether a buffer was blocked. */
static int plain_refused(struct lt_plan *p, const int *pair, const struct lt_pnode *pn,
                         unsigned bits) {
    int changed = 0;
    for (int i = 0; i < pn->n_in; i++)
        if ((bits & LT_IN(i)) && !node_takes(p, pn, LT_IN(i)))
            changed |= make_plain(p, pair, pn->in[i]) | make_plain(p, pair, pn->gin[i]);
    for (int k = 0; k < pn->n_out; k++)
        if ((bits & LT_OUT(k)) && !node_takes(p, pn, LT_OUT(k)))
            changed |= make_plain(p, pair, pn->out[k]) | make_plain(p, pair, pn->gout[k]);
    if (changed)
        return 1;
    for (int i = 0; i < pn->n_in; i++)
        changed |= make_plain(p, pair, pn->in[i]) | make_plain(p, pair, pn->gin[i]);
    for (int k = 0; k < pn->n_out; k++)
        changed |= make_plain(p, pair, pn->out[k]) | make_plain(p, pair, pn->gout[k]);
    return changed;
}

enum lt_status lt_plan_layouts(struct lt_plan *p) {
    if (p->ctx->plain_layouts)
        return LT_OK;
    int *pair = malloc(((size_t)p->n_bufs + 1) * sizeof *pair);
    if (!pair)
        return lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    for (int b = 0; b < p->n_bufs; b++)
        pair[b] = -1;
    int any = 0;
    for (int b = 0; b < p->n_bufs; b++) {
        if (!candidate(p, b))
            continue;
        int g = p->grad_buf[p->bufs[b].value];
        if (g >= 0 && p->bufs[g].kind != LT_BUF_ARENA)
            continue;
        p->bufs[b].blocked = 1;
        if (g >= 0) {
            p->bufs[g].blocked = 1;
            pair[b] = g;
            pair[g] = b;
        }
        any = 1;
    }
    for (int changed = any; changed;) {
        changed = 0;
        for (int n = 0; n < p->n_nodes; n++) {
            const struct lt_pnode *pn = &p->nodes[n];
            unsigned bits = blocked_slots(p, pn);
            if (!bits)
                continue;
            int mixed = plain_mixed(p, pair, pn);
            changed |= mixed;
            if (!mixed && !node_takes(p, pn, bits))
                changed |= plain_refused(p, pair, pn, bits);
        }
    }
    for (int n = 0; n < p->n_nodes; n++)
        p->nodes[n].blocked = blocked_slots(p, &p->nodes[n]);
    free(pair);
    return LT_OK;
}
