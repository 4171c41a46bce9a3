/* A plan's buffers and nodes, appended: the builders that lowering the graph
 * (core/plan.c), autodiff (core/autodiff.c) and recomputation (core/recompute.c) share,
 * so that the passes call down into them and never back into the planner. */
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/plan.h"

int lt_plan_add_buf(struct lt_plan *p, enum lt_buf_kind kind, const struct lt_kview *shape,
                    int value) {
    if (p->n_bufs == p->cap_bufs) {
        int cap = p->cap_bufs ? 2 * p->cap_bufs : 64;
        struct lt_buf *b = realloc(p->bufs, (size_t)cap * sizeof *b);
        if (!b) {
            lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
            return -1;
        }
        p->bufs = b;
        p->cap_bufs = cap;
    }
    struct lt_buf *b = &p->bufs[p->n_bufs];
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->view = *shape;
    b->view.data = NULL;
    b->bytes = lt_align((size_t)lt_kview_numel(shape) * lt_dtype_bytes(shape->dtype));
    b->value = value;
    b->first = -1;
    b->last = -1;
    return p->n_bufs++;
}

struct lt_pnode *lt_plan_add_node(struct lt_plan *p) {
    if (p->n_nodes == p->cap_nodes) {
        int cap = p->cap_nodes ? 2 * p->cap_nodes : 64;
        struct lt_pnode *n = realloc(p->nodes, (size_t)cap * sizeof *n);
        if (!n) {
            lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
            return NULL;
        }
        p->nodes = n;
        p->cap_nodes = cap;
    }
    struct lt_pnode *n = &p->nodes[p->n_nodes++];
    memset(n, 0, sizeof *n);
    for (int i = 0; i < LT_MAX_INPUTS; i++)
        n->gin[i] = -1;
    for (int i = 0; i < LT_MAX_OUTPUTS; i++)
        n->gout[i] = -1;
    return n;
}
