/* oneDNN fast paths of matmul and linear (f32 and bf16): the matmul primitive on
 * lutra's plain buffers.
 *
 * Every product is one matmul primitive with plain, possibly transposed (strided)
 * operands: linear's weight (out, in) is read as (in, out) through strides, and the
 * gradients read gout and the inputs transposed the same way. The one copy for layout
 * is of a large right-hand operand whose row pitch makes gemm's packing thrash the cache
 * (unaliased). Gradients accumulate through a sum post-op (dst = dst + product), so
 * adding into a gradient costs no extra pass; a parameter gradient's first write
 * overwrites on a step's first micro-batch (core/first_write.c), from a second
 * preparation without the post-op.
 *
 * bf16: inputs, the forward output and the gradients are bf16 (half gradients: struct
 * lt_kernel), but for an input's gradient the planner hands in f32 (a parameter's own,
 * struct lt_kernel's f32_gin); accumulation is f32 inside oneDNN, each result rounded
 * once. Where oneDNN
 * has no bf16 matmul on this CPU (it needs AVX512_BF16 or at least AVX-512), the same
 * sequence computes in f32 from converted copies: the inputs are exact in f32, so the
 * result differs only by the order of f32 sums (a result added into a bf16 gradient is
 * summed in f32 and rounded once by the conversion, kernels/cpu/dnnl/seq.c).
 *
 * matmul(a (..., M, K), b (..., K, N)) broadcasts its batch dims (kernels/matmul_batch.h):
 * with a b that every batch entry shares and an a that repeats nothing, the leading dims
 * of a fold into rows (one big product); else the output's batch dims are the primitive's
 * batch dims, and an operand repeated along one has size 1 there (oneDNN broadcasts it).
 * The gradient of a repeated operand is the sum over its repeats, which oneDNN's matmul
 * does not do: the product is written for every batch entry into the workspace and
 * summed into the gradient here (f32, in batch order; a bf16 gradient summed in an f32
 * buffer and rounded once). linear(x (..., in), w (out, in), bias (out)) is matmul with rows =
 * numel(x) / in; its bias gradient is a column sum of gout done here (double sums; a
 * bf16 gout read in place into f32 sums, in the workspace when the gradient is bf16).
 */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/dnnl/dnnl_kernels.h"
#include "kernels/cpu/vec.h"
#include "kernels/matmul_batch.h"

/* The problem as (batch...) x (M, K) @ (K, N). `bt`: b is stored transposed, (N, K)
 * (linear's weight). nb batch dims of sizes bshape (none when the batch folds into M or
 * there is one entry); sa, sb and so: a's, b's and out's strides along them, in
 * matrices (0: repeated). */
struct mm_dims {
    int64_t m, k, n;
    int bt, nb;
    int64_t bshape[LT_MAX_DIMS], sa[LT_MAX_DIMS], sb[LT_MAX_DIMS], so[LT_MAX_DIMS];
    int64_t count, a_count, b_count;
};

struct mm_state {
    struct lt_dnnl_seq seq;
    struct mm_dims d;
    /* bit i: input i is repeated over the batch; its gradient is computed per entry into
     * the workspace at full[i] and summed into gin[i] after the sequence (a half gin
     * through the f32 sums at sums[i], rounded once) */
    unsigned summed;
    size_t full[2], sums[2];
    unsigned grads;      /* bit i: the gradient of input i was prepared */
    unsigned accumulate; /* the accumulate bits it was prepared with */
    int bias_grad;       /* linear: sum gout's columns into gin[2] after the sequence */
    int64_t rows, cols;  /* gout seen as (rows, cols) for the bias gradient */
    int bias_half;       /* half gout: the f32 sums at bias_ws */
    size_t bias_ws;
};

static struct mm_dims dims_of(const struct lt_kargs *a, int linear) {
    struct mm_dims d = {0};
    const struct lt_kview *x = a->in[0], *w = a->in[1];
    d.count = d.a_count = d.b_count = 1;
    if (linear) {
        d.k = w->shape[1];
        d.n = w->shape[0];
        d.m = d.k ? lt_kview_numel(x) / d.k : 0;
        d.bt = 1;
        return d;
    }
    struct lt_mm_batch bw = lt_mm_batch_of(x, w);
    d.m = x->shape[x->ndim - 2];
    d.k = x->shape[x->ndim - 1];
    d.n = w->shape[w->ndim - 1];
    d.count = bw.count;
    d.a_count = bw.a_count;
    d.b_count = bw.b_count;
    if (bw.b_count == 1 && bw.a_count == bw.count) {
        d.m *= bw.count; /* b shared by every entry, a repeats nothing: one product */
        return d;
    }
    d.nb = bw.nd;
    int64_t so = 1;
    for (int i = bw.nd - 1; i >= 0; i--) {
        d.bshape[i] = bw.shape[i];
        d.sa[i] = bw.sa[i];
        d.sb[i] = bw.sb[i];
        d.so[i] = so;
        so *= bw.shape[i];
    }
    return d;
}

/* A (rows, cols) matrix with element (r, c) at r * rs + c * cs, and with d's batch dims
 * when it has some: batch strides bst (in matrices of bs elements; 0: size 1 there, the
 * matrix repeated). */
static void mat(dnnl_memory_desc_t *md, const struct mm_dims *d, int64_t rows, int64_t cols,
                int64_t rs, int64_t cs, int64_t bs, const int64_t *bst, dnnl_data_type_t dt) {
    int nd = d->nb + 2;
    int64_t dims[LT_MAX_DIMS + 2], strides[LT_MAX_DIMS + 2];
    dims[nd - 2] = rows;
    dims[nd - 1] = cols;
    strides[nd - 2] = rs;
    strides[nd - 1] = cs;
    int64_t extent = bs; /* elements spanned by the dims inside dim i */
    for (int i = d->nb - 1; i >= 0; i--) {
        dims[i] = bst[i] ? d->bshape[i] : 1;
        /* a size-1 dim's stride is never stepped: a dense one keeps oneDNN's checks happy */
        strides[i] = bst[i] ? bst[i] * bs : extent;
        extent = strides[i] * dims[i] > extent ? strides[i] * dims[i] : extent;
    }
    lt_dnnl_md_strided(md, nd, dims, strides, dt);
}

/* b as the (K, N) operand of the forward, and its transpose (N, K), whatever its
 * storage. */
static void b_mat(dnnl_memory_desc_t *md, const struct mm_dims *d, int transpose,
                  dnnl_data_type_t dt) {
    int64_t bs = d->k * d->n;
    /* stored (K, N): element (k, n) at k * N + n; stored (N, K): at n * K + k */
    int64_t sk = d->bt ? 1 : d->n, sn = d->bt ? d->k : 1;
    if (transpose)
        mat(md, d, d->n, d->k, sn, sk, bs, d->sb, dt);
    else
        mat(md, d, d->k, d->n, sk, sn, bs, d->sb, dt);
}

static struct lt_dnnl_ref at(enum lt_dnnl_place place, int index) {
    return (struct lt_dnnl_ref){place, index, 0};
}

/* The description of `md` (a plain row-major (rows, cols) matrix or batch of them)
 * with each row padded by 64 bytes when its pitch is a multiple of 1 KiB and there are
 * many rows. oneDNN's gemm packs a row-major b by walking down its columns, and with
 * such a pitch every row lands in the same few cache sets: gout (128, 1024) @ w (1024,
 * 1024) took 3.5 ms, 1.8 ms from a padded copy that costs 0.1 ms (2 threads, AVX2). For
 * f32 products only: in bf16 oneDNN's brgemm (AMX) takes the dense operand and sent a
 * padded one to its slower gemm:jit, after the copy (the MLP's bf16 step 1.08x, the GPT's
 * 1.01x without it, on a Sapphire Rapids-class VM). */
static dnnl_memory_desc_t unaliased(const dnnl_memory_desc_t *md) {
    int n = md->ndims;
    const dnnl_dim_t *st = md->format_desc.blocking.strides;
    size_t size = md->data_type == dnnl_f32 ? 4 : 2;
    if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks || n < 2 || n > 3 ||
        st[n - 1] != 1 || md->dims[n - 2] < 256 || (st[n - 2] * size) % 1024 != 0)
        return *md;
    int64_t rows = md->dims[n - 2], pitch = st[n - 2] + (int64_t)(64 / size);
    int64_t dims[3], strides[3] = {rows * pitch, pitch, 1};
    for (int i = 0; i < n; i++)
        dims[i] = md->dims[i];
    dnnl_memory_desc_t r;
    lt_dnnl_md_strided(&r, n, dims, strides + (3 - n), md->data_type);
    return r;
}

/* One operand: its description as stored (user dtype) and where it is. */
struct operand {
    dnnl_memory_desc_t md;
    struct lt_dnnl_ref ref;
};

/* Appends dst (+)= src @ wei [+ bias]. src, wei and bias are converted to cdt where
 * their stored dtype differs; dst is written in its own dtype, through an f32 buffer
 * and a conversion when computing in f32 for a bf16 dst. */
static enum lt_status mm_step(struct lt_dnnl_seq *s, dnnl_data_type_t cdt, struct operand src,
                              struct operand wei, const struct operand *bias, struct operand dst,
                              int accumulate, char *msg) {
    struct lt_dnnl_ref r_src, r_wei, r_bias = {0}, r_dst;
    dnnl_memory_desc_t w_src = lt_dnnl_md_retype(&src.md, cdt);
    dnnl_memory_desc_t w_wei = lt_dnnl_md_retype(&wei.md, cdt);
    if (cdt == dnnl_f32)
        w_wei = unaliased(&w_wei);
    dnnl_memory_desc_t w_bias;
    dnnl_memory_desc_t w_dst = cdt == dnnl_f32 ? lt_dnnl_md_retype(&dst.md, dnnl_f32) : dst.md;
    enum lt_status rc = lt_dnnl_seq_input(s, &src.md, src.ref, &w_src, &r_src, msg);
    if (rc == LT_OK)
        rc = lt_dnnl_seq_input(s, &wei.md, wei.ref, &w_wei, &r_wei, msg);
    if (rc == LT_OK && bias) {
        w_bias = lt_dnnl_md_retype(&bias->md, cdt);
        rc = lt_dnnl_seq_input(s, &bias->md, bias->ref, &w_bias, &r_bias, msg);
    }
    if (rc != LT_OK)
        return rc;
    int direct = lt_dnnl_seq_output(s, &w_dst, &dst.md, dst.ref, 0, &r_dst);

    dnnl_matmul_desc_t desc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    rc = lt_dnnl_check(dnnl_matmul_desc_init(&desc, &w_src, &w_wei, bias ? &w_bias : NULL, &w_dst),
                       "describing a matmul", msg);
    if (rc == LT_OK)
        rc = lt_dnnl_attr(&attr, accumulate && direct, msg);
    if (rc == LT_OK)
        rc = lt_dnnl_pd(&pd, &desc, attr, s->d, NULL, cdt != dnnl_f32, 0, "creating a matmul", msg);
    if (rc == LT_OK) {
        int args[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_BIAS};
        struct lt_dnnl_ref refs[4] = {r_src, r_wei, r_dst, r_bias};
        rc = lt_dnnl_seq_primitive(s, pd, bias ? 4 : 3, args, refs, msg);
    }
    if (pd)
        dnnl_primitive_desc_destroy(pd);
    if (attr)
        dnnl_primitive_attr_destroy(attr);
    if (rc == LT_OK && !direct)
        rc = lt_dnnl_seq_reorder(s, &w_dst, r_dst, &dst.md, dst.ref, accumulate, msg);
    return rc;
}

static enum lt_status build_forward(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                    const struct mm_dims *d, int linear, dnnl_data_type_t cdt) {
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    struct operand x = {.ref = at(LT_DNNL_IN, 0)}, w = {.ref = at(LT_DNNL_IN, 1)};
    struct operand y = {.ref = at(LT_DNNL_OUT, 0)}, bias = {.ref = at(LT_DNNL_IN, 2)};
    mat(&x.md, d, d->m, d->k, d->k, 1, d->m * d->k, d->sa, udt);
    b_mat(&w.md, d, 0, udt);
    mat(&y.md, d, d->m, d->n, d->n, 1, d->m * d->n, d->so, udt);
    int has_bias = linear && a->n_in == 3;
    if (has_bias)
        lt_dnnl_md_plain(&bias.md, 2, (int64_t[]){1, d->n}, udt);
    return mm_step(s, cdt, x, w, has_bias ? &bias : NULL, y, 0, a->msg);
}

/* Where the gradient of input i (rows, cols per matrix, its batch strides bst) goes:
 * gin[i] itself (accumulating there when asked), or, when input i is repeated over the
 * batch, a workspace buffer of one matrix per batch entry that run_backward sums. */
static enum lt_status grad_dst(struct mm_state *st, const struct lt_kargs *a, int i, int64_t rows,
                               int64_t cols, const int64_t *bst, struct operand *dst,
                               int *accumulate) {
    const struct mm_dims *d = &st->d;
    int64_t count = i == 0 ? d->a_count : d->b_count;
    dnnl_data_type_t gdt = lt_dnnl_dtype(a->gin[i]->dtype);
    if (d->nb == 0 || count == d->count) {
        mat(&dst->md, d, rows, cols, cols, 1, rows * cols, bst, gdt);
        dst->ref = at(LT_DNNL_GIN, i);
        *accumulate = (a->accumulate >> i) & 1u;
        return LT_OK;
    }
    mat(&dst->md, d, rows, cols, cols, 1, rows * cols, d->so, dnnl_f32);
    dst->ref = lt_dnnl_seq_buffer(&st->seq, &dst->md);
    st->summed |= 1u << i;
    st->full[i] = dst->ref.offset;
    if (gdt != dnnl_f32) {
        dnnl_memory_desc_t sums;
        lt_dnnl_md_plain(&sums, 2, (int64_t[]){count * rows, cols}, dnnl_f32);
        st->sums[i] = lt_dnnl_seq_buffer(&st->seq, &sums).offset;
    }
    *accumulate = 0;
    return LT_OK;
}

static enum lt_status build_backward(struct mm_state *st, const struct lt_kargs *a,
                                     dnnl_data_type_t cdt) {
    struct lt_dnnl_seq *s = &st->seq;
    const struct mm_dims *d = &st->d;
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    int64_t mk = d->m * d->k, mn = d->m * d->n;
    st->summed = 0;
    /* gout (batch, M, N) in its dtype, converted once to cdt (if it differs) for both */
    struct operand g = {.ref = at(LT_DNNL_GOUT, 0)};
    mat(&g.md, d, d->m, d->n, d->n, 1, mn, d->so, lt_dnnl_dtype(a->gout[0]->dtype));
    dnnl_memory_desc_t gc_md = lt_dnnl_md_retype(&g.md, cdt);
    struct lt_dnnl_ref gc;
    enum lt_status rc = lt_dnnl_seq_input(s, &g.md, g.ref, &gc_md, &gc, a->msg);
    int acc;
    if (rc == LT_OK && a->gin[0]) {
        /* ga (M, K) = g (M, N) @ b^T (N, K) */
        struct operand src = {gc_md, gc}, w = {.ref = at(LT_DNNL_IN, 1)}, ga;
        b_mat(&w.md, d, 1, udt);
        rc = grad_dst(st, a, 0, d->m, d->k, d->sa, &ga, &acc);
        if (rc == LT_OK)
            rc = mm_step(s, cdt, src, w, NULL, ga, acc, a->msg);
    }
    if (rc == LT_OK && a->gin[1]) {
        struct operand src, wei, gb;
        if (d->bt) {
            /* gb (N, K) = g^T (N, M) @ a (M, K) */
            src.ref = gc;
            mat(&src.md, d, d->n, d->m, 1, d->n, mn, d->so, cdt);
            wei.ref = at(LT_DNNL_IN, 0);
            mat(&wei.md, d, d->m, d->k, d->k, 1, mk, d->sa, udt);
            rc = grad_dst(st, a, 1, d->n, d->k, d->sb, &gb, &acc);
        } else {
            /* gb (K, N) = a^T (K, M) @ g (M, N) */
            src.ref = at(LT_DNNL_IN, 0);
            mat(&src.md, d, d->k, d->m, 1, d->k, mk, d->sa, udt);
            wei = (struct operand){gc_md, gc};
            rc = grad_dst(st, a, 1, d->k, d->n, d->sb, &gb, &acc);
        }
        if (rc == LT_OK)
            rc = mm_step(s, cdt, src, wei, NULL, gb, acc, a->msg);
    }
    return rc;
}

static void release(void *state) {
    struct mm_state *st = state;
    if (!st)
        return;
    lt_dnnl_seq_release(&st->seq);
    free(st);
}

static enum lt_status prepare(const struct lt_kargs *a, int backward, void **state, int linear) {
    enum lt_dtype dt = a->in[0]->dtype;
    if (dt != LT_DTYPE_F32 && dt != LT_DTYPE_BF16)
        return LT_EUNSUPPORTED;
    struct mm_dims d = dims_of(a, linear);
    if (d.count <= 0 || d.m <= 0 || d.k <= 0 || d.n <= 0)
        return LT_EUNSUPPORTED; /* empty products: the reference writes zeros */
    struct mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return LT_ENOMEM;
    st->d = d;
    if (backward) {
        for (int i = 0; i < a->n_in; i++)
            st->grads |= a->gin[i] ? 1u << i : 0u;
        st->accumulate = a->accumulate;
        st->bias_grad = linear && a->n_in == 3 && a->gin[2];
        st->rows = d.m;
        st->cols = d.n;
    }
    /* bf16 natively where oneDNN has it, else in f32 from converted copies */
    const dnnl_data_type_t tries[2] = {lt_dnnl_dtype(dt), dnnl_f32};
    enum lt_status rc = LT_EUNSUPPORTED;
    for (int t = 0; t < (dt == LT_DTYPE_F32 ? 1 : 2) && rc == LT_EUNSUPPORTED; t++) {
        lt_dnnl_seq_init(&st->seq, a->impl);
        if (backward && !(st->grads & 3u))
            rc = LT_OK; /* only the bias gradient: no primitive */
        else
            rc = backward ? build_backward(st, a, tries[t])
                          : build_forward(&st->seq, a, &d, linear, tries[t]);
        if (rc != LT_OK)
            lt_dnnl_seq_release(&st->seq);
    }
    if (rc != LT_OK) {
        free(st);
        return rc;
    }
    st->bias_half = st->bias_grad && a->gout[0]->dtype != LT_DTYPE_F32;
    if (st->bias_half && a->gin[2]->dtype != LT_DTYPE_F32) { /* f32 sums, rounded once */
        dnnl_memory_desc_t md;
        lt_dnnl_md_plain(&md, 1, (int64_t[]){st->cols}, dnnl_f32);
        st->bias_ws = lt_dnnl_seq_buffer(&st->seq, &md).offset;
    }
    *state = st;
    return LT_OK;
}

static enum lt_status matmul_prepare(const struct lt_kargs *a, int backward, void **state) {
    return prepare(a, backward, state, 0);
}

static enum lt_status linear_prepare(const struct lt_kargs *a, int backward, void **state) {
    return prepare(a, backward, state, 1);
}

static size_t workspace(const struct lt_kargs *a, int backward) {
    (void)backward;
    const struct mm_state *st = a->state;
    return st ? lt_dnnl_seq_workspace(&st->seq) : 0;
}

/* gin (+)= the per-entry gradients `full` (count matrices of `size` floats) of an operand
 * repeated over the batch, each added into the matrix it came from (batch strides bst),
 * in batch order whatever the thread count. */
static void sum_repeats(const float *full, float *gin, const struct mm_dims *d, const int64_t *bst,
                        int64_t n_mats, int64_t size, int accumulate) {
    if (!accumulate)
        memset(gin, 0, (size_t)(n_mats * size) * sizeof(float));
#pragma omp parallel if (d->count * size >= (1 << 16))
    {
        int64_t lo, hi;
        lt_share(size, 64, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        for (int64_t t = 0; t < d->count; t++) {
            int64_t p = 0, rest = t;
            for (int i = d->nb - 1; i >= 0; i--) {
                p += rest % d->bshape[i] * bst[i];
                rest /= d->bshape[i];
            }
            const float *src = full + t * size;
            float *dst = gin + p * size;
            for (int64_t e = lo; e < hi; e++)
                dst[e] += src[e];
        }
    }
}

/* The bias gradient from a half gout: the column sums of gout read in place, into gin[2]
 * when it is f32, else into f32 sums (loaded from gin[2] when adding) rounded once into
 * it. */
static void bias_grad_half(const struct lt_kargs *a, const struct mm_state *st) {
    enum lt_dtype dt = a->gout[0]->dtype;
    int acc = (a->accumulate >> 2) & 1u;
    if (a->gin[2]->dtype == LT_DTYPE_F32) {
        lt_column_sums_half(dt, a->gout[0]->data, a->gin[2]->data, st->rows, st->cols, acc);
        return;
    }
    float *sums = (float *)((char *)a->workspace + st->bias_ws);
    if (acc)
        lt_half_to_f32_n(dt, a->gin[2]->data, sums, st->cols);
    lt_column_sums_half(dt, a->gout[0]->data, sums, st->rows, st->cols, acc);
    lt_f32_to_half_n(dt, sums, a->gin[2]->data, st->cols);
}

/* sum_repeats into gin[i]: in place when it is f32, else in the f32 sums (loaded from
 * gin[i] when adding) and rounded once into it. */
static void sum_into_grad(const struct lt_kargs *a, const struct mm_state *st, int i) {
    const struct mm_dims *d = &st->d;
    const float *full = (const float *)((const char *)a->workspace + st->full[i]);
    int64_t n_mats = i == 0 ? d->a_count : d->b_count, size = i == 0 ? d->m * d->k : d->k * d->n;
    const int64_t *bst = i == 0 ? d->sa : d->sb;
    int acc = (a->accumulate >> i) & 1u;
    enum lt_dtype dt = a->gin[i]->dtype;
    if (dt == LT_DTYPE_F32) {
        sum_repeats(full, a->gin[i]->data, d, bst, n_mats, size, acc);
        return;
    }
    float *sums = (float *)((char *)a->workspace + st->sums[i]);
    if (acc)
        lt_half_to_f32_all(dt, a->gin[i]->data, sums, n_mats * size);
    sum_repeats(full, sums, d, bst, n_mats, size, acc);
    lt_f32_to_half_all(dt, sums, a->gin[i]->data, n_mats * size);
}

static enum lt_status run_forward(const struct lt_kargs *a) {
    const struct mm_state *st = a->state;
    if (!st)
        return lt_dnnl_check(dnnl_invalid_arguments, "oneDNN matmul: not prepared", a->msg);
    return lt_dnnl_seq_run(&st->seq, a);
}

static enum lt_status run_backward(const struct lt_kargs *a) {
    const struct mm_state *st = a->state;
    enum lt_status ok = lt_dnnl_check_grads(a, st != NULL, st ? st->grads : 0,
                                            st ? st->accumulate : 0, "matmul");
    if (ok != LT_OK)
        return ok;
    enum lt_status rc = lt_dnnl_seq_run(&st->seq, a);
    for (int i = 0; i < 2 && rc == LT_OK; i++)
        if (st->summed & (1u << i))
            sum_into_grad(a, st, i);
    if (rc == LT_OK && st->bias_half)
        bias_grad_half(a, st);
    else if (rc == LT_OK && st->bias_grad)
        lt_column_sums(a->gout[0]->data, NULL, a->gin[2]->data, st->rows, st->cols, 1.0,
                       (a->accumulate >> 2) & 1u);
    return rc;
}

void lt_dnnl_register_matmul(struct lt_backend *b) {
    const enum lt_dtype dts[] = {LT_DTYPE_F32, LT_DTYPE_BF16};
    for (int i = 0; i < 2; i++) {
        b->kernels[LT_OP_MATMUL][dts[i]] = (struct lt_kernel){
            .forward = run_forward,
            .backward = run_backward,
            .prepare = matmul_prepare,
            .release = release,
            .workspace = workspace,
            .impl_name = "onednn",
            .half_gradients = 1,
            .f32_gin = LT_IN(0) | LT_IN(1), /* a gradient in its own dtype (grad_dst) */
        };
        b->kernels[LT_OP_LINEAR][dts[i]] = (struct lt_kernel){
            .forward = run_forward,
            .backward = run_backward,
            .prepare = linear_prepare,
            .release = release,
            .workspace = workspace,
            .impl_name = "onednn",
            .half_gradients = 1,
            .f32_gin = LT_IN(1) | LT_IN(2),
        };
    }
}
