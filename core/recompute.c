/* Activation checkpointing (DESIGN, "Plan memory"): the forward nodes are cut into
 * segments where the tensors crossing a cut are small, so that the boundaries plus the
 * largest segment keep the fewest bytes. A segment's activations are not kept from its
 * forward to its backward: copies of the forward nodes that make them run again just
 * before the segment's backward nodes, which read the copies. What stays alive is what
 * enters a segment from outside (its boundary), so the activations of a chain of n nodes
 * in about sqrt(n) segments take about 2 / sqrt(n) of their bytes, for one more forward.
 *
 * The recomputed tensors are the kept ones bit for bit: the same kernels on the same
 * inputs, dropout keyed by the sample as before. The last segment is not recomputed (its
 * backward follows its forward at once). Batch norm runs again with momentum 0, so that
 * the running statistics are updated once, as without checkpointing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/mem.h"
#include "core/ops/ops.h"
#include "core/plan.h"

/* Whether node pn reads buffer slot (LT_IN(i) or LT_OUT(k)) in its run. */
static int reads_slot(const struct lt_pnode *pn, unsigned slot) {
    return !pn->backward || (lt_op_descs[pn->op].backward_reads & slot);
}

/* read_back[b]: whether some backward node reads buffer b. */
static void read_by_backward(const struct lt_plan *p, int n_forward, char *read_back) {
    for (int t = n_forward; t < p->n_nodes; t++) {
        const struct lt_pnode *b = &p->nodes[t];
        for (int i = 0; i < b->n_in; i++)
            read_back[b->in[i]] |= reads_slot(b, LT_IN(i));
        for (int k = 0; k < b->n_out; k++)
            read_back[b->out[k]] |= reads_slot(b, LT_OUT(k));
    }
}

/* The bytes of forward node f's outputs that the backward reads: what it keeps. */
static size_t kept_bytes(const struct lt_plan *p, const struct lt_pnode *f,
                         const char *read_back) {
    size_t bytes = 0;
    for (int k = 0; k < f->n_out; k++) {
        const struct lt_buf *buf = &p->bufs[f->out[k]];
        if (buf->kind == LT_BUF_ARENA && !buf->keep && read_back[f->out[k]])
            bytes += buf->bytes;
    }
    return bytes;
}

/* The bytes that cross a cut after each forward node: values made at or before it that
 * a later forward node reads (a boundary: kept until the backward). */
static void crossing_bytes(const struct lt_plan *p, int n_forward, size_t *cross) {
    int *last = malloc(((size_t)p->n_bufs + 1) * sizeof *last);
    LT_ASSERT(last);
    for (int b = 0; b < p->n_bufs; b++)
        last[b] = -1;
    for (int n = 0; n < n_forward; n++)
        for (int i = 0; i < p->nodes[n].n_in; i++)
            last[p->nodes[n].in[i]] = n;
    for (int n = 0; n < n_forward; n++) {
        const struct lt_pnode *f = &p->nodes[n];
        for (int k = 0; k < f->n_out; k++) {
            const struct lt_buf *buf = &p->bufs[f->out[k]];
            for (int c = n; buf->kind == LT_BUF_ARENA && !buf->keep && c < last[f->out[k]]; c++)
                cross[c] += buf->bytes;
        }
    }
    free(last);
}

/* The cheapest cuts of the eligible nodes e[0 .. m-1] into segments none of which keeps
 * more than `cap` bytes: at[i] is 1 where a segment ends after e[i]. The estimated peak
 * (the boundaries plus the largest segment) is returned. */
static double cut_under(const size_t *kept, const size_t *cross, const int *e, int m, double cap,
                        double *dp, int *from, char *at) {
    if (m <= 0)
        return HUGE_VAL;
    dp[0] = 0;
    for (int i = 1; i <= m; i++) {
        dp[i] = HUGE_VAL;
        double inside = 0;
        for (int j = i - 1; j >= 0; j--) {
            inside += (double)kept[e[j]];
            if (inside > cap)
                break;
            double c = dp[j] + (j > 0 ? (double)cross[e[j - 1]] : 0);
            if (c < dp[i]) {
                dp[i] = c;
                from[i] = j;
            }
        }
    }
    if (dp[m] == HUGE_VAL)
        return HUGE_VAL;
    memset(at, 0, (size_t)m);
    double largest = 0;
    for (int i = m; i > 0; i = from[i]) {
        double inside = 0;
        for (int j = from[i]; j < i; j++)
            inside += (double)kept[e[j]];
        largest = inside > largest ? inside : largest;
        at[i - 1] = 1;
    }
    return dp[m] + largest;
}

/* seg[n] for the forward nodes, -1 for a parameter's half copy (made once per step,
 * never recomputed): the cuts that make the estimated peak (boundaries plus the largest
 * segment) smallest, over 64 caps on a segment's bytes. Returns the count. */
static int cut_segments(const struct lt_plan *p, int n_forward, int *seg) {
    size_t *kept = calloc(2 * ((size_t)n_forward + 1), sizeof *kept), *cross = kept + n_forward + 1;
    int *e = malloc(2 * ((size_t)n_forward + 1) * sizeof *e), *from = e + n_forward + 1;
    double *dp = malloc(((size_t)n_forward + 1) * sizeof *dp);
    char *at = calloc((size_t)n_forward + 1, 1), *best = calloc((size_t)n_forward + 1, 1);
    char *read_back = calloc((size_t)p->n_bufs + 1, 1);
    LT_ASSERT(kept && e && dp && at && best && read_back);
    crossing_bytes(p, n_forward, cross);
    read_by_backward(p, n_forward, read_back);
    size_t total = 0, most = 0;
    int m = 0;
    for (int n = 0; n < n_forward; n++) {
        if (p->nodes[n].once_per_step)
            continue;
        kept[n] = kept_bytes(p, &p->nodes[n], read_back);
        total += kept[n];
        most = kept[n] > most ? kept[n] : most;
        e[m++] = n;
    }
    double lowest = (double)total; /* one segment: no checkpointing */
    for (int c = 1; c <= 64; c++) {
        double cap = (double)most + ((double)total - (double)most) * c / 64.0;
        double peak = cut_under(kept, cross, e, m, cap, dp, from, at);
        if (peak < lowest) {
            lowest = peak;
            memcpy(best, at, (size_t)m);
        }
    }
    int s = 0;
    for (int n = 0; n < n_forward; n++)
        seg[n] = -1;
    for (int i = 0; i < m; i++) {
        seg[e[i]] = s;
        s += best[i] && i < m - 1;
    }
    free(kept);
    free(e);
    free(dp);
    free(at);
    free(best);
    free(read_back);
    return total > 0 ? s + 1 : 1;
}

/* The copy of forward node f that recomputes it, reading and writing through map. */
static enum lt_status copy_node(struct lt_plan *p, const struct lt_pnode *f, const int *map,
                                struct lt_pnode *out) {
    *out = *f;
    out->recompute = 1;
    out->state = NULL;
    out->own_attrs = NULL;
    for (int i = 0; i < f->n_in; i++)
        out->in[i] = map[f->in[i]] >= 0 ? map[f->in[i]] : f->in[i];
    for (int k = 0; k < f->n_out; k++)
        out->out[k] = map[f->out[k]];
    /* an op that updates state while training must not update it a second time */
    const struct lt_op_desc *d = &lt_op_descs[f->op];
    if (d->freeze_state) {
        void *again = lt_alloc(p->ctx, d->attrs_size);
        if (!again)
            return LT_ENOMEM;
        if (d->freeze_state(f->attrs, again))
            out->attrs = out->own_attrs = again;
        else
            free(again);
    }
    return LT_OK;
}

/* Plans the recomputation of segment s, after the later segments': new buffers for what
 * it recomputes (map), the copies appended to `copies`, and its backward nodes rewired
 * to read them. */
static enum lt_status plan_segment(struct lt_plan *p, int n_forward, int n_nodes, const int *seg,
                                   int s, int *map, struct lt_pnode *copies, int *n_copies) {
    int n_bufs = p->n_bufs;
    char *need = calloc((size_t)n_bufs + 1, 1), *mine = calloc((size_t)n_bufs + 1, 1),
         *kept = calloc((size_t)n_bufs + 1, 1);
    if (!need || !mine || !kept) {
        free(need);
        free(mine);
        free(kept);
        return lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    }
    for (int n = 0; n < n_forward; n++)
        for (int k = 0; seg[n] == s && k < p->nodes[n].n_out; k++)
            mine[p->nodes[n].out[k]] = 1;
    /* what stays alive until the later segments' backward anyway (they read it, or their
     * copies do): read there, not recomputed */
    for (int t = n_forward; t < n_nodes; t++) {
        const struct lt_pnode *b = &p->nodes[t];
        for (int i = 0; seg[b->of] > s && i < b->n_in; i++)
            kept[b->in[i]] |= reads_slot(b, LT_IN(i));
        for (int k = 0; seg[b->of] > s && k < b->n_out; k++)
            kept[b->out[k]] |= reads_slot(b, LT_OUT(k));
    }
    for (int c = 0; c < *n_copies; c++)
        for (int i = 0; i < copies[c].n_in; i++)
            kept[copies[c].in[i]] = 1;
    for (int b = 0; b < n_bufs; b++)
        mine[b] &= !kept[b];
    /* what the segment's backward nodes read of its forward tensors */
    for (int t = n_forward; t < n_nodes; t++) {
        const struct lt_pnode *b = &p->nodes[t];
        if (seg[b->of] != s)
            continue;
        for (int i = 0; i < b->n_in; i++)
            need[b->in[i]] |= mine[b->in[i]] && reads_slot(b, LT_IN(i));
        for (int k = 0; k < b->n_out; k++)
            need[b->out[k]] |= mine[b->out[k]] && reads_slot(b, LT_OUT(k));
    }
    /* the nodes that make them, and what those read from inside the segment */
    char *again = calloc((size_t)n_forward + 1, 1);
    enum lt_status st = again ? LT_OK : lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    for (int n = n_forward - 1; st == LT_OK && n >= 0; n--) {
        const struct lt_pnode *f = &p->nodes[n];
        for (int k = 0; seg[n] == s && k < f->n_out; k++)
            again[n] |= need[f->out[k]];
        for (int i = 0; again[n] && i < f->n_in; i++)
            need[f->in[i]] |= mine[f->in[i]];
    }
    for (int n = 0; st == LT_OK && n < n_forward; n++) {
        for (int k = 0; again[n] && k < p->nodes[n].n_out; k++) {
            int orig = p->nodes[n].out[k];
            struct lt_kview view = p->bufs[orig].view; /* adding may move the array */
            int b = lt_plan_add_buf(p, LT_BUF_ARENA, &view, p->bufs[orig].value);
            if (b < 0) {
                st = LT_ENOMEM;
                break;
            }
            p->bufs[b].cat = LT_MEM_TEMPORARIES;
            p->bufs[b].recomputed = 1;
            map[orig] = b;
        }
        if (st == LT_OK && again[n])
            st = copy_node(p, &p->nodes[n], map, &copies[(*n_copies)++]);
    }
    for (int t = n_forward; st == LT_OK && t < n_nodes; t++) {
        struct lt_pnode *b = &p->nodes[t];
        if (seg[b->of] != s)
            continue;
        for (int i = 0; i < b->n_in; i++)
            b->in[i] = map[b->in[i]] >= 0 ? map[b->in[i]] : b->in[i];
        for (int k = 0; k < b->n_out; k++)
            b->out[k] = map[b->out[k]] >= 0 ? map[b->out[k]] : b->out[k];
    }
    for (int b = 0; b < n_bufs; b++)
        map[b] = -1;
    free(again);
    free(need);
    free(mine);
    free(kept);
    return st;
}

enum lt_status lt_plan_recompute(struct lt_plan *p) {
    int n_forward = 0;
    while (n_forward < p->n_nodes && !p->nodes[n_forward].backward)
        n_forward++;
    int n_nodes = p->n_nodes;
    int *seg = malloc(((size_t)n_forward + 1) * sizeof *seg);
    /* every segment but the last copies at most all its forward nodes */
    struct lt_pnode *copies = malloc(((size_t)n_forward + 1) * sizeof *copies);
    int *map = NULL;
    enum lt_status st = LT_OK;
    if (!seg || !copies) {
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
        goto done;
    }
    int count = cut_segments(p, n_forward, seg);
    p->segments = count;
    if (count < 2)
        goto done;
    /* buffers added for a segment's copies are never remapped: room for all of them */
    map = malloc(((size_t)p->n_bufs + (size_t)n_forward * LT_MAX_OUTPUTS + 1) * sizeof *map);
    if (!map) {
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
        goto done;
    }
    for (int b = 0; b < p->n_bufs + n_forward * LT_MAX_OUTPUTS; b++)
        map[b] = -1;
    /* segment s's copies are copies[start[s] .. end[s]); planned last segment first */
    int *start = calloc(2 * ((size_t)count + 1), sizeof *start), *end = start + count + 1;
    int n_copies = 0;
    if (!start) {
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
        goto done;
    }
    for (int s = count - 2; s >= 0 && st == LT_OK; s--) {
        start[s] = n_copies;
        st = plan_segment(p, n_forward, n_nodes, seg, s, map, copies, &n_copies);
        end[s] = n_copies;
    }
    /* the copies of segment s go just before its first backward node */
    struct lt_pnode *nodes = st == LT_OK ? malloc(((size_t)n_nodes + (size_t)n_copies) *
                                                  sizeof *nodes)
                                         : NULL;
    if (st == LT_OK && !nodes)
        st = lt_fail(p->ctx, LT_ENOMEM, "out of memory planning");
    if (st != LT_OK) {
        for (int c = 0; c < n_copies; c++)
            free(copies[c].own_attrs);
        free(start);
        goto done;
    }
    char *placed = calloc((size_t)count + 1, 1);
    LT_ASSERT(placed);
    memcpy(nodes, p->nodes, (size_t)n_forward * sizeof *nodes);
    int at = n_forward;
    for (int t = n_forward; t < n_nodes; t++) {
        int s = seg[p->nodes[t].of];
        if (s >= 0 && s < count - 1 && !placed[s]) {
            memcpy(nodes + at, copies + start[s], (size_t)(end[s] - start[s]) * sizeof *nodes);
            at += end[s] - start[s];
            placed[s] = 1;
        }
        nodes[at++] = p->nodes[t];
    }
    for (int s = 0; s < count - 1; s++) /* a segment no gradient crosses runs no copies */
        for (int c = start[s]; !placed[s] && c < end[s]; c++)
            free(copies[c].own_attrs);
    free(placed);
    free(start);
    free(p->nodes);
    p->nodes = nodes;
    p->n_nodes = at;
    p->cap_nodes = n_nodes + n_copies;
done:
    free(map);
    free(seg);
    free(copies);
    return st;
}
