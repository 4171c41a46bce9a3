/* The planner's alias pass: a reshape copies nothing.
 *
 * A reshape's output holds its input's bytes in the same order, and a value is never
 * written again once made, so the output can be the input's storage itself: the buffer
 * becomes an alias (struct lt_buf's `alias`), the node is skipped (`skip`), and liveness
 * keeps the storage for the alias's readers too (core/plan.c). The same holds for the
 * backward, whose input gradient is the output gradient reshaped: where it writes that
 * gradient first (overwriting, nothing zeroed), the output gradient's readers are all
 * done (they are the backward nodes of the output's readers, which run before), so the
 * input gradient can take its storage. Only arena buffers alias (not a batch input, a
 * parameter or its gradient, a requested output), and a blocked one never does.
 */
#include "core/ctx.h"
#include "core/plan.h"

/* The buffer whose storage b uses. */
static int root_of(const struct lt_plan *p, int b) {
    while (p->bufs[b].alias >= 0)
        b = p->bufs[b].alias;
    return b;
}

static int may_alias(const struct lt_plan *p, int b) {
    return b >= 0 && p->bufs[b].kind == LT_BUF_ARENA && !p->bufs[b].blocked;
}

void lt_plan_aliases(struct lt_plan *p) {
    for (int b = 0; b < p->n_bufs; b++)
        p->bufs[b].alias = -1;
    if (p->ctx->copy_reshapes)
        return;
    for (int n = 0; n < p->n_nodes; n++) {
        struct lt_pnode *pn = &p->nodes[n];
        if (pn->op != LT_OP_RESHAPE)
            continue;
        int from = pn->backward ? pn->gout[0] : pn->in[0];
        int to = pn->backward ? pn->gin[0] : pn->out[0];
        if (!may_alias(p, from) || !may_alias(p, to) || p->bufs[to].keep)
            continue;
        if (pn->backward && ((pn->accumulate | pn->zero_first) & 1u))
            continue; /* it adds into a gradient others write too */
        p->bufs[to].alias = root_of(p, from);
        pn->skip = 1;
    }
}
