/* Activation checkpointing (DESIGN, "Plan memory"), a graph -> graph pass after autodiff:
 * the forward nodes are cut into segments where the tensors crossing a cut are small, so
 * that the boundaries plus the largest segment keep the fewest bytes. A segment's
 * activations are not kept from its forward to its backward: copies of the forward nodes
 * that make them run again just before the segment's backward nodes, which read the
 * copies. What stays alive is what enters a segment from outside (its boundary), so the
 * activations of a chain of n nodes in about sqrt(n) segments take about 2 / sqrt(n) of
 * their bytes, for one more forward.
 *
 * The bytes are estimated from the values' shapes as the planner sizes their buffers: a
 * node's output the step does not keep to its end (the loss, a parameter's half copy) is
 * an activation when a backward node reads it.
 *
 * The recomputed tensors are the kept ones bit for bit: the same kernels on the same
 * inputs, dropout keyed by the sample as before. The last segment is not recomputed (its
 * backward follows its forward at once). Batch norm runs again with momentum 0, so that
 * the running statistics are updated once, as without checkpointing. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fail.h"
#include "core/graph.h"
#include "core/mem.h"
#include "core/ops/ops.h"

/* The forward nodes the loss needs, in order (their positions are what segments cut),
 * and the backward nodes autodiff appended after every forward node. */
struct order {
    int loss;
    int n_forward, *fwd; /* fwd[i]: the node at position i */
    int *pos;            /* node -> its position, -1 for nodes that are not there */
    int first_back, end_back;
};

/* Whether node reads slot (LT_IN(i) or LT_OUT(k)) in its run. */
static int reads_slot(const struct lt_node *node, unsigned slot) {
    return !node->backward || (lt_op_descs[node->op].backward_reads & slot);
}

/* The bytes of value v's buffer when the step may free it before its end, else 0. */
static size_t freeable_bytes(const struct lt_graph *g, const struct order *o, int v) {
    const struct lt_value *val = &g->values[v];
    if (val->kind != LT_VALUE_NODE || v == o->loss || lt_graph_param_copy(g, val->node))
        return 0;
    return lt_align((size_t)lt_kview_numel(&val->shape) * lt_dtype_bytes(val->shape.dtype));
}

/* read_back[v]: whether some backward node reads value v. */
static void read_by_backward(const struct lt_graph *g, const struct order *o, char *read_back) {
    for (int t = o->first_back; t < o->end_back; t++) {
        const struct lt_node *b = &g->nodes[t];
        for (int i = 0; i < b->n_in; i++)
            read_back[b->in[i]] |= reads_slot(b, LT_IN(i));
        for (int k = 0; k < b->n_out; k++)
            read_back[b->out[k]] |= reads_slot(b, LT_OUT(k));
    }
}

/* The bytes of forward node f's outputs that the backward reads: what it keeps. */
static size_t kept_bytes(const struct lt_graph *g, const struct order *o, const struct lt_node *f,
                         const char *read_back) {
    size_t bytes = 0;
    for (int k = 0; k < f->n_out; k++)
        if (read_back[f->out[k]])
            bytes += freeable_bytes(g, o, f->out[k]);
    return bytes;
}

/* The bytes that cross a cut after each forward position: values made at or before it
 * that a later forward node reads (a boundary: kept until the backward). */
static void crossing_bytes(const struct lt_graph *g, const struct order *o, size_t *cross) {
    int *last = malloc(((size_t)g->n_values + 1) * sizeof *last);
    LT_ASSERT(last);
    for (int v = 0; v < g->n_values; v++)
        last[v] = -1;
    for (int n = 0; n < o->n_forward; n++)
        for (int i = 0; i < g->nodes[o->fwd[n]].n_in; i++)
            last[g->nodes[o->fwd[n]].in[i]] = n;
    for (int n = 0; n < o->n_forward; n++) {
        const struct lt_node *f = &g->nodes[o->fwd[n]];
        for (int k = 0; k < f->n_out; k++) {
            size_t bytes = freeable_bytes(g, o, f->out[k]);
            for (int c = n; bytes && c < last[f->out[k]]; c++)
                cross[c] += bytes;
        }
    }
    free(last);
}

/* The cheapest cuts of the eligible positions e[0 .. m-1] into segments none of which
 * keeps more than `cap` bytes: at[i] is 1 where a segment ends after e[i]. The estimated
 * peak (the boundaries plus the largest segment) is returned. */
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

/* seg[n] for the forward positions, -1 for a parameter's half copy (made once per step,
 * never recomputed): the cuts that make the estimated peak (boundaries plus the largest
 * segment) smallest, over 64 caps on a segment's bytes. Returns the count. */
static int cut_segments(const struct lt_graph *g, const struct order *o, int *seg) {
    int n_forward = o->n_forward;
    size_t *kept = calloc(2 * ((size_t)n_forward + 1), sizeof *kept), *cross = kept + n_forward + 1;
    int *e = malloc(2 * ((size_t)n_forward + 1) * sizeof *e), *from = e + n_forward + 1;
    double *dp = malloc(((size_t)n_forward + 1) * sizeof *dp);
    char *at = calloc((size_t)n_forward + 1, 1), *best = calloc((size_t)n_forward + 1, 1);
    char *read_back = calloc((size_t)g->n_values + 1, 1);
    LT_ASSERT(kept && e && dp && at && best && read_back);
    crossing_bytes(g, o, cross);
    read_by_backward(g, o, read_back);
    size_t total = 0, most = 0;
    int m = 0;
    for (int n = 0; n < n_forward; n++) {
        if (lt_graph_param_copy(g, o->fwd[n]))
            continue;
        kept[n] = kept_bytes(g, o, &g->nodes[o->fwd[n]], read_back);
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

/* Appends to g the copy of forward node f that recomputes it, reading and writing through
 * map. An op that updates state while training must not update it a second time. */
static enum lt_status copy_node(struct lt_graph *g, int f, const int *map) {
    struct lt_node *c = lt_graph_add_twin(g, f);
    if (!c)
        return LT_ENOMEM;
    const struct lt_node *node = &g->nodes[f];
    c->recompute = 1;
    for (int i = 0; i < node->n_in; i++)
        c->in[i] = map[node->in[i]] >= 0 ? map[node->in[i]] : node->in[i];
    for (int k = 0; k < node->n_out; k++)
        c->out[k] = map[node->out[k]];
    const struct lt_op_desc *d = &lt_op_descs[node->op];
    if (d->freeze_state)
        d->freeze_state(node->attrs, c->attrs);
    return LT_OK;
}

/* Plans the recomputation of segment s, after the later segments': new values for what it
 * recomputes (map), the copies appended to g, and its backward nodes rewired to read
 * them. The copies appended before (the later segments') start at node `copies`. */
static enum lt_status plan_segment(struct lt_graph *g, const struct order *o, const int *seg, int s,
                                   int copies, int *map) {
    int n_values = g->n_values;
    char *need = calloc((size_t)n_values + 1, 1), *mine = calloc((size_t)n_values + 1, 1),
         *kept = calloc((size_t)n_values + 1, 1), *again = calloc((size_t)o->n_forward + 1, 1);
    enum lt_status st = LT_OK;
    if (!need || !mine || !kept || !again) {
        st = lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
        goto done;
    }
    for (int n = 0; n < o->n_forward; n++)
        for (int k = 0; seg[n] == s && k < g->nodes[o->fwd[n]].n_out; k++)
            mine[g->nodes[o->fwd[n]].out[k]] = 1;
    /* what stays alive until the later segments' backward anyway (they read it, or their
     * copies do): read there, not recomputed */
    for (int t = o->first_back; t < o->end_back; t++) {
        const struct lt_node *b = &g->nodes[t];
        int later = seg[o->pos[b->of]] > s;
        for (int i = 0; later && i < b->n_in; i++)
            kept[b->in[i]] |= reads_slot(b, LT_IN(i));
        for (int k = 0; later && k < b->n_out; k++)
            kept[b->out[k]] |= reads_slot(b, LT_OUT(k));
    }
    for (int c = copies; c < g->n_nodes; c++)
        for (int i = 0; i < g->nodes[c].n_in; i++)
            kept[g->nodes[c].in[i]] = 1;
    for (int v = 0; v < n_values; v++)
        mine[v] &= !kept[v];
    /* what the segment's backward nodes read of its forward tensors */
    for (int t = o->first_back; t < o->end_back; t++) {
        const struct lt_node *b = &g->nodes[t];
        if (seg[o->pos[b->of]] != s)
            continue;
        for (int i = 0; i < b->n_in; i++)
            need[b->in[i]] |= mine[b->in[i]] && reads_slot(b, LT_IN(i));
        for (int k = 0; k < b->n_out; k++)
            need[b->out[k]] |= mine[b->out[k]] && reads_slot(b, LT_OUT(k));
    }
    /* the nodes that make them, and what those read from inside the segment */
    for (int n = o->n_forward - 1; n >= 0; n--) {
        const struct lt_node *f = &g->nodes[o->fwd[n]];
        for (int k = 0; seg[n] == s && k < f->n_out; k++)
            again[n] |= need[f->out[k]];
        for (int i = 0; again[n] && i < f->n_in; i++)
            need[f->in[i]] |= mine[f->in[i]];
    }
    for (int n = 0; st == LT_OK && n < o->n_forward; n++) {
        for (int k = 0; again[n] && k < g->nodes[o->fwd[n]].n_out; k++) {
            int orig = g->nodes[o->fwd[n]].out[k];
            struct lt_kview shape = g->values[orig].shape; /* adding may move the array */
            int v = lt_graph_add_value(g, LT_VALUE_NODE, &shape);
            if (v < 0) {
                st = LT_ENOMEM;
                break;
            }
            g->values[v].slot = k;
            map[orig] = v;
        }
        if (st == LT_OK && again[n])
            st = copy_node(g, o->fwd[n], map);
    }
    for (int t = o->first_back; st == LT_OK && t < o->end_back; t++) {
        struct lt_node *b = &g->nodes[t];
        if (seg[o->pos[b->of]] != s)
            continue;
        for (int i = 0; i < b->n_in; i++)
            b->in[i] = map[b->in[i]] >= 0 ? map[b->in[i]] : b->in[i];
        for (int k = 0; k < b->n_out; k++)
            b->out[k] = map[b->out[k]] >= 0 ? map[b->out[k]] : b->out[k];
    }
    for (int v = 0; v < n_values; v++)
        map[v] = -1;
done:
    free(again);
    free(need);
    free(mine);
    free(kept);
    return st;
}

/* Moves the copies of segment s (nodes start[s] .. end[s]-1, appended after the backward
 * nodes) to just before the segment's first backward node, and points their outputs'
 * values at where they now are. */
static enum lt_status place_copies(struct lt_graph *g, const struct order *o, const int *seg,
                                   int count, const int *start, const int *end) {
    struct lt_node *nodes = malloc(((size_t)g->n_nodes + 1) * sizeof *nodes);
    char *placed = calloc((size_t)count + 1, 1);
    if (!nodes || !placed) {
        free(nodes);
        free(placed);
        return lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
    }
    memcpy(nodes, g->nodes, (size_t)o->first_back * sizeof *nodes);
    int at = o->first_back;
    for (int t = o->first_back; t < o->end_back; t++) {
        int s = seg[o->pos[g->nodes[t].of]];
        if (s >= 0 && s < count - 1 && !placed[s]) {
            memcpy(nodes + at, g->nodes + start[s], (size_t)(end[s] - start[s]) * sizeof *nodes);
            at += end[s] - start[s];
            placed[s] = 1;
        }
        nodes[at++] = g->nodes[t];
    }
    /* a segment's copies recompute what its backward nodes read: one runs where it has any */
    LT_ASSERT(at == g->n_nodes);
    free(placed);
    free(g->nodes);
    g->nodes = nodes;
    g->cap_nodes = g->n_nodes + 1;
    for (int n = o->first_back; n < g->n_nodes; n++)
        for (int k = 0; g->nodes[n].recompute && k < g->nodes[n].n_out; k++)
            g->values[g->nodes[n].out[k]].node = n;
    return LT_OK;
}

/* The order of g: its forward nodes the loss needs and where its backward nodes are. */
static enum lt_status order_of(const struct lt_graph *g, int loss, struct order *o) {
    char *needed = calloc((size_t)g->n_nodes + 1, 1);
    o->loss = loss;
    o->fwd = malloc(((size_t)g->n_nodes + 1) * sizeof *o->fwd);
    o->pos = malloc(((size_t)g->n_nodes + 1) * sizeof *o->pos);
    if (!needed || !o->fwd || !o->pos) {
        free(needed);
        return lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
    }
    lt_graph_needed(g, &loss, 1, needed);
    o->n_forward = 0;
    o->first_back = g->n_nodes;
    for (int n = 0; n < g->n_nodes; n++) {
        o->pos[n] = -1;
        if (g->nodes[n].backward && o->first_back == g->n_nodes)
            o->first_back = n;
        else if (!g->nodes[n].backward && needed[n])
            o->fwd[o->pos[n] = o->n_forward++] = n;
    }
    o->end_back = g->n_nodes;
    free(needed);
    return LT_OK;
}

enum lt_status lt_graph_recompute(struct lt_graph *g, int loss, struct lt_graph **out) {
    struct order o = {0};
    struct lt_graph *c = NULL;
    int *seg = NULL, *map = NULL, *start = NULL, *end = NULL;
    enum lt_status st = order_of(g, loss, &o);
    if (st == LT_OK && !(seg = malloc(((size_t)o.n_forward + 1) * sizeof *seg)))
        st = lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
    if (st != LT_OK)
        goto done;
    int count = cut_segments(g, &o, seg);
    if (count < 2) {
        *out = lt_graph_retain(g);
        goto done;
    }
    st = lt_graph_copy(g, &c);
    if (st != LT_OK)
        goto done;
    c->segments = count;
    /* values added for a segment's copies are never remapped: room for all of them */
    int room = c->n_values + o.n_forward * LT_MAX_OUTPUTS;
    map = malloc(((size_t)room + 1) * sizeof *map);
    /* segment s's copies are nodes start[s] .. end[s]-1; planned last segment first */
    start = calloc(2 * ((size_t)count + 1), sizeof *start);
    if (!map || !start) {
        st = lt_fail(g->ctx, LT_ENOMEM, "out of memory planning");
        goto done;
    }
    end = start + count + 1;
    for (int v = 0; v < room; v++)
        map[v] = -1;
    for (int s = count - 2; s >= 0 && st == LT_OK; s--) {
        start[s] = c->n_nodes;
        st = plan_segment(c, &o, seg, s, o.end_back, map);
        end[s] = c->n_nodes;
    }
    if (st == LT_OK)
        st = place_copies(c, &o, seg, count, start, end);
    if (st == LT_OK)
        *out = c;
done:
    if (st != LT_OK)
        lt_graph_free(c);
    free(o.fwd);
    free(o.pos);
    free(seg);
    free(map);
    free(start);
    return st;
}
