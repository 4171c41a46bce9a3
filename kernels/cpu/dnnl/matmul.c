/* oneDNN fast paths of matmul and linear (f32 and bf16): the matmul primitive on
 * lutra's plain buffers.
 *
 * Every product is one matmul primitive with plain, possibly transposed (strided)
 * operands: linear's weight (out, in) is read as (in, out) through strides, and the
 * gradients read gout and the inputs transposed the same way. The one copy for layout
 * is of a large right-hand operand whose row pitch makes gemm's packing thrash the cache
 * (unaliased). Gradients accumulate through a sum post-op (dst = dst + product), so
 * parameter gradients, which always accumulate, cost no extra pass.
 *
 * bf16: inputs and the forward output are bf16, accumulation is f32 inside oneDNN,
 * gradients are f32. gout is converted once to bf16 in the workspace for the two
 * backward products. Where oneDNN has no bf16 matmul on this CPU (it needs AVX512_BF16
 * or at least AVX-512), the same sequence computes in f32 from converted copies: the
 * inputs are exact in f32, so the result differs only by the order of f32 sums.
 *
 * matmul(a (..., M, K), b (K, N) or (..., K, N)): with a 2-D b the leading dims of a fold
 * into rows (one big product); else they are one batch dim. linear(x (..., in),
 * w (out, in), bias (out)) is matmul with rows = numel(x) / in; its bias gradient is a
 * column sum of gout done here (f32 gout, double sums).
 */
#include <stdlib.h>

#include "kernels/cpu/dnnl/dnnl_kernels.h"

struct mm_state {
    struct lt_dnnl_seq seq;
    unsigned grads;      /* bit i: the gradient of input i was prepared */
    unsigned accumulate; /* the accumulate bits it was prepared with */
    int bias_grad;       /* linear: sum gout's columns into gin[2] after the sequence */
    int64_t rows, cols;  /* gout seen as (rows, cols) for the bias gradient */
};

/* The problem as batch x (M, K) @ (K, N). `bt`: b is stored transposed, (N, K) (linear's
 * weight). `shared`: b has no batch dim; the batch is folded into M. */
struct mm_dims {
    int64_t batch, m, k, n;
    int bt, shared;
};

static struct mm_dims dims_of(const struct lt_kargs *a, int linear) {
    struct mm_dims d = {0};
    const struct lt_kview *x = a->in[0], *w = a->in[1];
    if (linear) {
        d.k = w->shape[1];
        d.n = w->shape[0];
        d.m = d.k ? lt_kview_numel(x) / d.k : 0;
        d.batch = 1;
        d.bt = d.shared = 1;
        return d;
    }
    d.batch = 1;
    for (int i = 0; i < x->ndim - 2; i++)
        d.batch *= x->shape[i];
    d.m = x->shape[x->ndim - 2];
    d.k = x->shape[x->ndim - 1];
    d.n = w->shape[w->ndim - 1];
    d.shared = w->ndim == 2;
    if (d.shared) {
        d.m *= d.batch;
        d.batch = 1;
    }
    return d;
}

/* A (rows, cols) matrix, batch of them when batch > 1, with element (r, c) at
 * r * rs + c * cs and batch entries bs apart. */
static void mat(dnnl_memory_desc_t *md, const struct mm_dims *d, int64_t rows, int64_t cols,
                int64_t rs, int64_t cs, int64_t bs, dnnl_data_type_t dt) {
    if (d->batch > 1)
        lt_dnnl_md_strided(md, 3, (int64_t[]){d->batch, rows, cols}, (int64_t[]){bs, rs, cs}, dt);
    else
        lt_dnnl_md_strided(md, 2, (int64_t[]){rows, cols}, (int64_t[]){rs, cs}, dt);
}

/* b as the (K, N) operand of the forward, and its transpose (N, K), whatever its
 * storage. */
static void b_mat(dnnl_memory_desc_t *md, const struct mm_dims *d, int transpose,
                  dnnl_data_type_t dt) {
    int64_t bs = d->k * d->n;
    /* stored (K, N): element (k, n) at k * N + n; stored (N, K): at n * K + k */
    int64_t sk = d->bt ? 1 : d->n, sn = d->bt ? d->k : 1;
    if (transpose)
        mat(md, d, d->n, d->k, sn, sk, bs, dt);
    else
        mat(md, d, d->k, d->n, sk, sn, bs, dt);
}

static struct lt_dnnl_ref at(enum lt_dnnl_place place, int index) {
    return (struct lt_dnnl_ref){place, index, 0};
}

/* The description of `md` (a plain row-major (rows, cols) matrix or batch of them)
 * with each row padded by 64 bytes when its pitch is a multiple of 1 KiB and there are
 * many rows. oneDNN's gemm packs a row-major b by walking down its columns, and with
 * such a pitch every row lands in the same few cache sets: gout (128, 1024) @ w (1024,
 * 1024) took 3.5 ms, 1.8 ms from a padded copy that costs 0.1 ms (2 threads, AVX2). */
static dnnl_memory_desc_t unaliased(const dnnl_memory_desc_t *md) {
    int n = md->ndims;
    const dnnl_dim_t *st = md->format_desc.blocking.strides;
    size_t size = md->data_type == dnnl_f32 ? 4 : 2;
    if (md->format_kind != dnnl_blocked || md->format_desc.blocking.inner_nblks || n < 2 ||
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
    /* a conversion afterwards cannot accumulate into a bf16 dst; gradients are f32 */
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
    mat(&x.md, d, d->m, d->k, d->k, 1, d->m * d->k, udt);
    b_mat(&w.md, d, 0, udt);
    mat(&y.md, d, d->m, d->n, d->n, 1, d->m * d->n, udt);
    int has_bias = linear && a->n_in == 3;
    if (has_bias)
        lt_dnnl_md_plain(&bias.md, 2, (int64_t[]){1, d->n}, udt);
    return mm_step(s, cdt, x, w, has_bias ? &bias : NULL, y, 0, a->msg);
}

static enum lt_status build_backward(struct lt_dnnl_seq *s, const struct lt_kargs *a,
                                     const struct mm_dims *d, dnnl_data_type_t cdt) {
    dnnl_data_type_t udt = lt_dnnl_dtype(a->in[0]->dtype);
    int64_t mk = d->m * d->k, mn = d->m * d->n;
    /* gout (batch, M, N) f32, converted once to cdt for both products */
    struct operand g = {.ref = at(LT_DNNL_GOUT, 0)};
    mat(&g.md, d, d->m, d->n, d->n, 1, mn, dnnl_f32);
    dnnl_memory_desc_t gc_md = lt_dnnl_md_retype(&g.md, cdt);
    struct lt_dnnl_ref gc;
    enum lt_status rc = lt_dnnl_seq_input(s, &g.md, g.ref, &gc_md, &gc, a->msg);
    if (rc == LT_OK && a->gin[0]) {
        /* ga (M, K) = g (M, N) @ b^T (N, K) */
        struct operand src = {gc_md, gc}, w = {.ref = at(LT_DNNL_IN, 1)};
        struct operand ga = {.ref = at(LT_DNNL_GIN, 0)};
        b_mat(&w.md, d, 1, udt);
        mat(&ga.md, d, d->m, d->k, d->k, 1, mk, dnnl_f32);
        rc = mm_step(s, cdt, src, w, NULL, ga, a->accumulate & 1u, a->msg);
    }
    if (rc == LT_OK && a->gin[1]) {
        struct operand src, wei, gb = {.ref = at(LT_DNNL_GIN, 1)};
        if (d->bt) {
            /* gb (N, K) = g^T (N, M) @ a (M, K) */
            src.ref = gc;
            mat(&src.md, d, d->n, d->m, 1, d->n, mn, cdt);
            wei.ref = at(LT_DNNL_IN, 0);
            mat(&wei.md, d, d->m, d->k, d->k, 1, mk, udt);
            mat(&gb.md, d, d->n, d->k, d->k, 1, d->n * d->k, dnnl_f32);
        } else {
            /* gb (K, N) = a^T (K, M) @ g (M, N) */
            src.ref = at(LT_DNNL_IN, 0);
            mat(&src.md, d, d->k, d->m, 1, d->k, mk, udt);
            wei = (struct operand){gc_md, gc};
            mat(&gb.md, d, d->k, d->n, d->n, 1, d->k * d->n, dnnl_f32);
        }
        rc = mm_step(s, cdt, src, wei, NULL, gb, (a->accumulate >> 1) & 1u, a->msg);
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
    if (d.batch <= 0 || d.m <= 0 || d.k <= 0 || d.n <= 0)
        return LT_EUNSUPPORTED; /* empty products: the reference writes zeros */
    struct mm_state *st = calloc(1, sizeof *st);
    if (!st)
        return LT_ENOMEM;
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
            rc = backward ? build_backward(&st->seq, a, &d, tries[t])
                          : build_forward(&st->seq, a, &d, linear, tries[t]);
        if (rc != LT_OK)
            lt_dnnl_seq_release(&st->seq);
    }
    if (rc != LT_OK) {
        free(st);
        return rc;
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

/* gb (+)= the column sums of g (rows, cols), in double. */
static void bias_grad(const float *g, int64_t rows, int64_t cols, float *gb, int accumulate) {
    enum { BLOCK = 64 };
    int64_t blocks = (cols + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16))
    for (int64_t b = 0; b < blocks; b++) {
        int64_t c0 = b * BLOCK, n = cols - c0 < BLOCK ? cols - c0 : BLOCK;
        double s[BLOCK] = {0};
        for (int64_t r = 0; r < rows; r++)
            for (int64_t j = 0; j < n; j++)
                s[j] += g[r * cols + c0 + j];
        for (int64_t j = 0; j < n; j++)
            gb[c0 + j] = (float)(accumulate ? gb[c0 + j] + s[j] : s[j]);
    }
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
    if (rc == LT_OK && st->bias_grad)
        bias_grad(a->gout[0]->data, st->rows, st->cols, a->gin[2]->data, (a->accumulate >> 2) & 1u);
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
        };
        b->kernels[LT_OP_LINEAR][dts[i]] = (struct lt_kernel){
            .forward = run_forward,
            .backward = run_backward,
            .prepare = linear_prepare,
            .release = release,
            .workspace = workspace,
            .impl_name = "onednn",
        };
    }
}
