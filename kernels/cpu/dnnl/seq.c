/* Primitive sequences: what a oneDNN kernel's prepare builds at plan time and each call
 * runs (dnnl_kernels.h says how the workspace is laid out). */
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/dnnl/dnnl_kernels.h"
#include "kernels/cpu/vec.h"

#define ALIGN 64

static size_t align_up(size_t n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

void lt_dnnl_seq_init(struct lt_dnnl_seq *s, const struct lt_dnnl *d) {
    memset(s, 0, sizeof *s);
    s->d = d;
}

void lt_dnnl_seq_release(struct lt_dnnl_seq *s) {
    for (int i = 0; i < s->n_steps; i++) {
        struct lt_dnnl_step *st = &s->step[i];
        for (int k = 0; k < st->n_args; k++)
            if (st->mem[k])
                dnnl_memory_destroy(st->mem[k]);
        if (st->scratch)
            dnnl_memory_destroy(st->scratch);
        if (st->prim)
            dnnl_primitive_destroy(st->prim);
    }
    lt_dnnl_seq_init(s, s->d);
}

struct lt_dnnl_ref lt_dnnl_seq_buffer(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *md) {
    struct lt_dnnl_ref r = {LT_DNNL_WS, 0, s->buffers};
    s->buffers += align_up(dnnl_memory_desc_get_size(md));
    return r;
}

static int same_ref(struct lt_dnnl_ref a, struct lt_dnnl_ref b) {
    return a.place == b.place && a.index == b.index && a.offset == b.offset;
}

/* Takes the next step slot; fails when a kernel builds more than LT_DNNL_MAX_STEPS. */
static enum lt_status new_step(struct lt_dnnl_seq *s, struct lt_dnnl_step **out, char *msg) {
    if (s->n_steps == LT_DNNL_MAX_STEPS)
        return lt_dnnl_check(dnnl_unimplemented, "too many steps in one oneDNN call", msg);
    *out = &s->step[s->n_steps++];
    memset(*out, 0, sizeof **out);
    return LT_OK;
}

/* Creates the step's primitive and memory objects from pd; on failure the step keeps
 * what was made so far and lt_dnnl_seq_release frees it. */
static enum lt_status fill_step(struct lt_dnnl_seq *s, struct lt_dnnl_step *st,
                                const_dnnl_primitive_desc_t pd, int n_args, const int *args,
                                const struct lt_dnnl_ref *refs, char *msg) {
    enum lt_status rc =
        lt_dnnl_check(dnnl_primitive_create(&st->prim, pd), "creating a primitive", msg);
    for (int k = 0; rc == LT_OK && k < n_args; k++) {
        const dnnl_memory_desc_t *md =
            dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[k]);
        if (!md)
            return lt_dnnl_check(dnnl_invalid_arguments, "querying an argument", msg);
        st->arg[k] = args[k];
        st->ref[k] = refs[k];
        rc = lt_dnnl_check(dnnl_memory_create(&st->mem[k], md, s->d->engine, DNNL_MEMORY_NONE),
                           "creating a memory object", msg);
        st->n_args = k + 1;
    }
    if (rc != LT_OK)
        return rc;
    const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    size_t bytes = sp ? dnnl_memory_desc_get_size(sp) : 0;
    if (bytes == 0)
        return LT_OK;
    if (bytes > s->scratchpad)
        s->scratchpad = bytes;
    return lt_dnnl_check(dnnl_memory_create(&st->scratch, sp, s->d->engine, DNNL_MEMORY_NONE),
                         "creating the scratchpad memory", msg);
}

enum lt_status lt_dnnl_seq_primitive(struct lt_dnnl_seq *s, const_dnnl_primitive_desc_t pd,
                                     int n_args, const int *args, const struct lt_dnnl_ref *refs,
                                     char *msg) {
    struct lt_dnnl_step *st = NULL;
    enum lt_status rc = new_step(s, &st, msg);
    if (rc == LT_OK)
        rc = fill_step(s, st, pd, n_args, args, refs, msg);
    return rc;
}

/* Appends a oneDNN reorder (a layout change; dtypes too, though those go through
 * add_convert) from `from` to `to`, adding into `to` with `accumulate`. */
static enum lt_status add_reorder(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                                  struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md,
                                  struct lt_dnnl_ref to, int accumulate, char *msg) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    enum lt_status rc = lt_dnnl_attr(&attr, accumulate, msg);
    if (rc == LT_OK)
        rc = lt_dnnl_check(dnnl_reorder_primitive_desc_create(&pd, from_md, s->d->engine, to_md,
                                                              s->d->engine, attr),
                           "creating a reorder", msg);
    struct lt_dnnl_step *st = NULL;
    if (rc == LT_OK)
        rc = new_step(s, &st, msg);
    if (rc == LT_OK) {
        st->conversion = !accumulate;
        st->from_md = *from_md;
        st->to_md = *to_md;
        rc = fill_step(s, st, pd, 2, (const int[]){DNNL_ARG_FROM, DNNL_ARG_TO},
                       (const struct lt_dnnl_ref[]){from, to}, msg);
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    return rc;
}

static size_t dt_size(dnnl_data_type_t dt) {
    return dt == dnnl_f32 ? 4 : dt == dnnl_bf16 ? 2 : 0;
}

/* Appends an own conversion between f32 and bf16 of dense buffers of one layout. */
static enum lt_status add_convert(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                                  struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md,
                                  struct lt_dnnl_ref to, int adds, char *msg) {
    size_t fs = dt_size(from_md->data_type), ts = dt_size(to_md->data_type);
    if (!fs || !ts || fs == ts)
        return lt_dnnl_check(dnnl_unimplemented, "converting between these dtypes", msg);
    struct lt_dnnl_step *st = NULL;
    enum lt_status rc = new_step(s, &st, msg);
    if (rc != LT_OK)
        return rc;
    st->n = (int64_t)(dnnl_memory_desc_get_size(from_md) / fs);
    st->from_dt = from_md->data_type;
    st->to_dt = to_md->data_type;
    st->n_args = 2;
    st->ref[0] = from;
    st->ref[1] = to;
    st->adds = adds;
    st->conversion = !adds; /* what it writes is not the converted data alone */
    st->from_md = *from_md;
    st->to_md = *to_md;
    return LT_OK;
}

/* A workspace buffer that an earlier step fills from `from` as to_md, if there is one. */
static int find(const struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md, struct lt_dnnl_ref *got) {
    for (int i = 0; i < s->n_steps; i++) {
        const struct lt_dnnl_step *st = &s->step[i];
        if (st->conversion && same_ref(st->ref[0], from) && st->ref[1].place == LT_DNNL_WS &&
            dnnl_memory_desc_equal(&st->from_md, from_md) &&
            dnnl_memory_desc_equal(&st->to_md, to_md)) {
            *got = st->ref[1];
            return 1;
        }
    }
    return 0;
}

/* `from` as to_md in a workspace buffer: one reorder or one conversion. */
static enum lt_status into_buffer(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                                  struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md,
                                  struct lt_dnnl_ref *got, char *msg) {
    if (find(s, from_md, from, to_md, got))
        return LT_OK;
    *got = lt_dnnl_seq_buffer(s, to_md);
    if (from_md->data_type == to_md->data_type)
        return add_reorder(s, from_md, from, to_md, *got, 0, msg);
    return add_convert(s, from_md, from, to_md, *got, 0, msg);
}

enum lt_status lt_dnnl_seq_input(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *user_md,
                                 struct lt_dnnl_ref user, const dnnl_memory_desc_t *want,
                                 struct lt_dnnl_ref *got, char *msg) {
    if (dnnl_memory_desc_equal(user_md, want)) {
        *got = user;
        return LT_OK;
    }
    if (user_md->data_type == want->data_type)
        return into_buffer(s, user_md, user, want, got, msg);
    /* convert in the user's dense layout, then change the layout */
    dnnl_memory_desc_t mid = lt_dnnl_md_retype(user_md, want->data_type);
    struct lt_dnnl_ref at_mid;
    enum lt_status rc = into_buffer(s, user_md, user, &mid, &at_mid, msg);
    if (rc != LT_OK || dnnl_memory_desc_equal(&mid, want)) {
        *got = at_mid;
        return rc;
    }
    return into_buffer(s, &mid, at_mid, want, got, msg);
}

enum lt_status lt_dnnl_seq_reorder(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *from_md,
                                   struct lt_dnnl_ref from, const dnnl_memory_desc_t *to_md,
                                   struct lt_dnnl_ref to, int accumulate, char *msg) {
    if (from_md->data_type == to_md->data_type)
        return add_reorder(s, from_md, from, to_md, to, accumulate, msg);
    /* change the layout in the source's dtype, then convert (adding) in the target's */
    dnnl_memory_desc_t mid = lt_dnnl_md_retype(to_md, from_md->data_type);
    struct lt_dnnl_ref at_mid = from;
    enum lt_status rc = LT_OK;
    if (!dnnl_memory_desc_equal(&mid, from_md))
        rc = into_buffer(s, from_md, from, &mid, &at_mid, msg);
    if (rc == LT_OK)
        rc = add_convert(s, &mid, at_mid, to_md, to, accumulate, msg);
    return rc;
}

int lt_dnnl_seq_output(struct lt_dnnl_seq *s, const dnnl_memory_desc_t *have,
                       const dnnl_memory_desc_t *user_md, struct lt_dnnl_ref user, int accumulate,
                       struct lt_dnnl_ref *write_to) {
    if (!accumulate && dnnl_memory_desc_equal(have, user_md)) {
        *write_to = user;
        return 1;
    }
    *write_to = lt_dnnl_seq_buffer(s, have);
    return 0;
}

size_t lt_dnnl_seq_workspace(const struct lt_dnnl_seq *s) {
    return s->buffers + s->scratchpad;
}

static void *place_of(const struct lt_kargs *a, struct lt_dnnl_ref r) {
    const struct lt_kview *v = NULL;
    switch (r.place) {
    case LT_DNNL_IN:
        v = r.index < a->n_in ? a->in[r.index] : NULL;
        break;
    case LT_DNNL_OUT:
        v = r.index < a->n_out ? a->out[r.index] : NULL;
        break;
    case LT_DNNL_GIN:
        v = a->gin[r.index];
        break;
    case LT_DNNL_GOUT:
        v = a->gout[r.index];
        break;
    case LT_DNNL_WS:
        return (char *)a->workspace + r.offset;
    }
    return v ? v->data : NULL;
}

/* to = (or, adds, +=) from converted, n elements, f32 <-> bf16 (round to nearest even;
 * a sum in f32, rounded once). */
static void convert(const void *from, dnnl_data_type_t from_dt, void *to, int64_t n, int adds) {
    if (adds) {
        enum lt_dtype f = from_dt == dnnl_bf16 ? LT_DTYPE_BF16 : LT_DTYPE_F32;
        enum lt_dtype t = from_dt == dnnl_bf16 ? LT_DTYPE_F32 : LT_DTYPE_BF16;
#pragma omp parallel if (n > (1 << 16))
        {
            int64_t lo, hi;
            lt_share(n, 32, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            lt_grad_move(f, (const char *)from + (size_t)lo * lt_dtype_bytes(f), t,
                         (char *)to + (size_t)lo * lt_dtype_bytes(t), hi - lo, 1);
        }
    } else if (from_dt == dnnl_bf16) {
        lt_half_to_f32_all(LT_DTYPE_BF16, from, to, n);
    } else {
        lt_f32_to_half_all(LT_DTYPE_BF16, from, to, n);
    }
}

enum lt_status lt_dnnl_seq_run(const struct lt_dnnl_seq *s, const struct lt_kargs *a) {
    if (a->workspace_size < lt_dnnl_seq_workspace(s) || (lt_dnnl_seq_workspace(s) && !a->workspace))
        return lt_dnnl_check(dnnl_invalid_arguments, "oneDNN call: workspace smaller than planned",
                             a->msg);
    void *scratch = (char *)a->workspace + s->buffers;
    for (int i = 0; i < s->n_steps; i++) {
        const struct lt_dnnl_step *st = &s->step[i];
        if (!st->prim) {
            void *from = place_of(a, st->ref[0]), *to = place_of(a, st->ref[1]);
            if (!from || !to)
                return lt_dnnl_check(dnnl_invalid_arguments, "oneDNN call: a tensor is missing",
                                     a->msg);
            convert(from, st->from_dt, to, st->n, st->adds);
            continue;
        }
        dnnl_exec_arg_t args[LT_DNNL_MAX_ARGS + 1];
        for (int k = 0; k < st->n_args; k++) {
            void *p = place_of(a, st->ref[k]);
            if (!p)
                return lt_dnnl_check(dnnl_invalid_arguments, "oneDNN call: a tensor is missing",
                                     a->msg);
            enum lt_status rc = lt_dnnl_check(dnnl_memory_set_data_handle(st->mem[k], p),
                                              "binding a buffer", a->msg);
            if (rc != LT_OK)
                return rc;
            args[k] = (dnnl_exec_arg_t){st->arg[k], st->mem[k]};
        }
        int n = st->n_args;
        if (st->scratch) {
            enum lt_status rc = lt_dnnl_check(dnnl_memory_set_data_handle(st->scratch, scratch),
                                              "binding the scratchpad", a->msg);
            if (rc != LT_OK)
                return rc;
            args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, st->scratch};
        }
        enum lt_status rc = lt_dnnl_check(dnnl_primitive_execute(st->prim, s->d->stream, n, args),
                                          "running a primitive", a->msg);
        if (rc != LT_OK)
            return rc;
    }
    return LT_OK;
}

/* ---- helpers ------------------------------------------------------------------------- */

enum lt_status lt_dnnl_attr(dnnl_primitive_attr_t *attr, int sum, char *msg) {
    *attr = NULL;
    enum lt_status rc = lt_dnnl_check(dnnl_primitive_attr_create(attr), "creating an attr", msg);
    if (rc == LT_OK)
        rc =
            lt_dnnl_check(dnnl_primitive_attr_set_scratchpad_mode(*attr, dnnl_scratchpad_mode_user),
                          "setting the scratchpad mode", msg);
    if (rc == LT_OK && sum) {
        dnnl_post_ops_t po = NULL;
        rc = lt_dnnl_check(dnnl_post_ops_create(&po), "creating post-ops", msg);
        if (rc == LT_OK)
            rc = lt_dnnl_check(dnnl_post_ops_append_sum(po, 1.0f), "appending a sum", msg);
        if (rc == LT_OK)
            rc =
                lt_dnnl_check(dnnl_primitive_attr_set_post_ops(*attr, po), "setting post-ops", msg);
        if (po)
            dnnl_post_ops_destroy(po);
    }
    if (rc != LT_OK && *attr) {
        dnnl_primitive_attr_destroy(*attr);
        *attr = NULL;
    }
    return rc;
}

/* Whether pd's `arg` pads its channels (dim 1) to more than twice their count: a
 * blocked layout for an image with one or three channels, which multiplies the work. */
static int overpadded(const_dnnl_primitive_desc_t pd, int arg) {
    if (!arg)
        return 0;
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
    return md && md->ndims >= 2 && md->padded_dims[1] > 2 * md->dims[1];
}

enum lt_status lt_dnnl_pd(dnnl_primitive_desc_t *pd, const_dnnl_op_desc_t op_desc,
                          const_dnnl_primitive_attr_t attr, const struct lt_dnnl *d,
                          const_dnnl_primitive_desc_t hint, int no_ref, int pad_arg,
                          const char *what, char *msg) {
    *pd = NULL;
    dnnl_primitive_desc_iterator_t it = NULL;
    enum lt_status rc = lt_dnnl_check(
        dnnl_primitive_desc_iterator_create(&it, op_desc, attr, d->engine, hint), what, msg);
    if (rc != LT_OK)
        return rc;
    /* oneDNN lists its implementations best first, the reference last: take the first
     * that does not pad the channels, else the first at all */
    dnnl_primitive_desc_t first = NULL;
    do {
        dnnl_primitive_desc_t cand = dnnl_primitive_desc_iterator_fetch(it);
        if (!cand) {
            rc = lt_dnnl_check(dnnl_out_of_memory, what, msg);
            break;
        }
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(cand, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
            impl = NULL; /* nameless: treated as the reference */
        int is_ref = !impl || strncmp(impl, "ref", 3) == 0;
        if (!is_ref && !overpadded(cand, pad_arg)) {
            *pd = cand;
            break;
        }
        if (!first && !(is_ref && no_ref))
            first = cand;
        else
            dnnl_primitive_desc_destroy(cand);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    if (*pd || rc != LT_OK) {
        if (first)
            dnnl_primitive_desc_destroy(first);
        return rc;
    }
    *pd = first;
    return first ? LT_OK : lt_dnnl_check(dnnl_unimplemented, what, msg); /* only ref:, refused */
}

void lt_dnnl_md_strided(dnnl_memory_desc_t *md, int ndim, const int64_t *dims,
                        const int64_t *strides, dnnl_data_type_t dt) {
    dnnl_dims_t dd, ss;
    for (int i = 0; i < ndim; i++) {
        dd[i] = dims[i];
        ss[i] = strides[i];
    }
    /* cannot fail for ndim in [1, DNNL_MAX_NDIMS] and positive dims, which callers give */
    dnnl_memory_desc_init_by_strides(md, ndim, dd, dt, ss);
}

void lt_dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims, dnnl_data_type_t dt) {
    int64_t strides[DNNL_MAX_NDIMS];
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= dims[i];
    }
    lt_dnnl_md_strided(md, ndim, dims, strides, dt);
}

void lt_dnnl_md_laid(dnnl_memory_desc_t *md, const struct lt_kargs *a, unsigned slot,
                     const int64_t *dims, dnnl_data_type_t dt) {
    if (!(a->blocked & slot)) {
        lt_dnnl_md_plain(md, 4, dims, dt);
        return;
    }
    _Static_assert(LT_BLOCK_CHANNELS == 16, "the blocked layout is oneDNN's nChw16c");
    dnnl_dims_t d = {dims[0], dims[1], dims[2], dims[3]};
    /* cannot fail for 4 positive dims, which the planner's layout pass ensures */
    dnnl_memory_desc_init_by_tag(md, 4, d, dt, dnnl_nChw16c);
}

dnnl_memory_desc_t lt_dnnl_md_retype(const dnnl_memory_desc_t *md, dnnl_data_type_t dt) {
    dnnl_memory_desc_t r = *md;
    r.data_type = dt;
    return r;
}

enum lt_status lt_dnnl_check_grads(const struct lt_kargs *a, int prepared, unsigned grads,
                                   unsigned accumulate, const char *op) {
    unsigned asked = 0;
    for (int i = 0; i < a->n_in; i++)
        asked |= a->gin[i] ? 1u << i : 0u;
    if (prepared && asked == grads && (a->accumulate & asked) == (accumulate & asked))
        return LT_OK;
    snprintf(a->msg, LT_KMSG_SIZE, "oneDNN %s: called with other gradients than prepared", op);
    return LT_EINVAL;
}
