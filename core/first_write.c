/* The planner's first-write pass: a step's gradient buffer is not zeroed.
 *
 * Parameter gradients accumulate: every node that writes one adds into it, so that the
 * micro-batches of a step sum. Zeroing the whole flat buffer first costs a pass over it,
 * and each adding write reads what it adds to (a oneDNN product with a sum post-op reads
 * its whole output). Instead, the node that writes a parameter's gradient first in the
 * plan overwrites it on the step's first micro-batch (struct lt_pnode's
 * `overwrite_first`) and adds on the later ones, like every other writer. A kernel that
 * prepares for its accumulate bits (oneDNN, cuDNN) prepares both ways: `state_first` is
 * the overwriting one.
 *
 * The trainer skips the zeroing where the plan's first micro-batch writes every
 * parameter's gradient whole this way (`grads_overwritten`); not where a parameter gets
 * no gradient (another plan of the same trainer may have written its part of the
 * buffer), where its first writer writes it through two slots at once (which slot lands
 * first is the kernel's affair) or a kernel declines the overwriting preparation. The
 * flat buffer's alignment gaps are never written: zero from its allocation. The pass runs
 * before reshapes are aliased (core/alias.c), which never touches a parameter's gradient.
 */
#include <stdlib.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/ops/ops.h"
#include "core/plan.h"

/* Whether node pn writes buffer b through exactly one input slot, i, adding. */
static int single_adding_write(const struct lt_pnode *pn, int b, int i) {
    unsigned bit = 1u << i;
    if (!(pn->accumulate & bit) || (pn->zero_first & bit))
        return 0;
    for (int j = 0; j < pn->n_in; j++)
        if (j != i && pn->gin[j] == b)
            return 0;
    return 1;
}

/* Prepares node pn's kernel a second time, for its first-micro-batch accumulate bits,
 * and grows the workspace to the larger of the two preparations. Drops the bits where
 * the kernel declines (LT_EUNSUPPORTED); fails, naming the op, on any other error. */
static enum lt_status prepare_first(struct lt_plan *p, struct lt_pnode *pn) {
    const struct lt_kernel *k = pn->kernel;
    struct lt_kargs a;
    lt_plan_shape_args(p, pn, &a);
    a.accumulate &= ~pn->overwrite_first;
    if (k->prepare) {
        char msg[LT_KMSG_SIZE] = "";
        a.msg = msg;
        enum lt_status st = k->prepare(&a, pn->backward, &pn->state_first);
        if (st == LT_EUNSUPPORTED) {
            pn->state_first = NULL;
            pn->overwrite_first = 0;
            return LT_OK;
        }
        if (st != LT_OK)
            return lt_fail(p->ctx, st, "%s (backward): preparing the kernel to overwrite: %s",
                           lt_op_descs[pn->op].name, msg[0] ? msg : "failed");
    }
    a.state = pn->state_first;
    if (k->workspace) {
        size_t bytes = lt_align(k->workspace(&a, pn->backward));
        if (bytes > pn->workspace)
            pn->workspace = bytes;
        if (pn->workspace > p->bytes[LT_MEM_WORKSPACE])
            p->bytes[LT_MEM_WORKSPACE] = pn->workspace;
    }
    return LT_OK;
}

enum lt_status lt_plan_first_writes(struct lt_plan *p) {
    p->grads_overwritten = 0;
    if (!p->training)
        return LT_OK;
    char *seen = lt_zalloc(p->ctx, (size_t)p->n_bufs + 1);
    if (!seen)
        return LT_ENOMEM;
    for (int n = 0; n < p->n_nodes; n++) {
        struct lt_pnode *pn = &p->nodes[n];
        for (int i = 0; i < pn->n_in; i++) {
            int b = pn->gin[i];
            if (b < 0 || p->bufs[b].kind != LT_BUF_GRAD || seen[b])
                continue;
            seen[b] = 1;
            if (single_adding_write(pn, b, i))
                pn->overwrite_first |= 1u << i;
        }
        enum lt_status st = pn->overwrite_first ? prepare_first(p, pn) : LT_OK;
        if (st != LT_OK) {
            free(seen);
            return st;
        }
    }
    /* covered: every parameter's gradient buffer, each with an overwriting first write */
    int covered = 1;
    for (int b = 0; b < p->n_bufs; b++)
        seen[b] = 0;
    for (int n = 0; n < p->n_nodes; n++)
        for (int i = 0; i < p->nodes[n].n_in; i++)
            if (p->nodes[n].overwrite_first & (1u << i))
                seen[p->nodes[n].gin[i]] = 1;
    for (int v = 0; v < p->graph->n_values && covered; v++)
        if (p->graph->values[v].kind == LT_VALUE_PARAM)
            covered = p->grad_buf[v] >= 0 && seen[p->grad_buf[v]];
    p->grads_overwritten = covered;
    free(seen);
    return LT_OK;
}
