/* The losses, cross_entropy over class logits and mse, f32 only (the dtype the reference
 * registers; mixed precision runs losses in f32). Each returns f32 (2,) = {sum of losses,
 * count}. The sums must not depend on timing, so no atomics: cross_entropy writes each
 * row's loss (a G-lane warp group per row with the row in registers, or a block per row
 * beyond 1024 classes) into the workspace and mse each block's partial sum, and then one
 * block adds those in a fixed order, in double. A target outside [0, C) that is not
 * ignore_index cannot fail the call from the device: its row counts as ignored and the
 * plugin's bad-data flag makes the next sync fail. The backward reads the loss gradient,
 * element 0 of gout[0], on the device.
 */
#include "kernels/cuda/cuda_kernels.cuh"
#include "kernels/cuda/rows.cuh"

namespace {

/* Sums v over the block (1-D, a multiple of 32 threads); every thread gets the result. */
template <typename T> __device__ T block_sum(T v, T *sh) {
    return block_reduce(v, add_fn(), sh);
}


/* ---- cross_entropy --------------------------------------------------------------------- */

/* Whether target y of a row is a class (not ignored, in range). */
__device__ __forceinline__ bool ce_counts(int32_t y, int ignore, int64_t classes) {
    return y != ignore && y >= 0 && y < classes;
}

/* The loss of each row into loss[r]: lse - x[y], with label smoothing e
 * (1 - e) * (lse - x[y]) + e * (lse - mean(x)); 0 for an ignored or bad target. The
 * exponentials are float (all positive: their sum loses nothing that matters), the sums and
 * lse = max + log(sum) double. */
struct ce_loss_rows {
    const float *x;
    const int32_t *t;
    double *loss;
    int64_t classes;
    int ignore;
    double e;
    unsigned *flag;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * classes;
        row_cache<V> xs;
        float m = -INFINITY;
        double sx = 0;
        rp.each([&](int j, int64_t c) {
            float v = xs.load(xr, j, c);
            m = fmaxf(m, v);
            sx += v;
        });
        m = rp.max(m);
        double s = 0;
        rp.each([&](int j, int64_t c) { s += expf(xs.get(xr, j, c) - m); });
        s = rp.sum(s);
        if (e > 0) /* the same for every thread: the reduction's shuffles stay uniform */
            sx = rp.sum(sx);
        if (!rp.live || rp.lane != 0)
            return;
        int32_t y = t[r];
        double l = 0;
        if (ce_counts(y, ignore, classes)) {
            double lse = (double)m + log(s);
            l = lse - xr[y];
            if (e > 0)
                l = (1 - e) * l + e * (lse - sx / (double)classes);
        } else if (y != ignore) {
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_INDEX);
        }
        loss[r] = l;
    }
};

/* out = {sum of the rows' losses, count of counted targets}, in a fixed order. */
__global__ void __launch_bounds__(1024)
    ce_total_kernel(const double *loss, const int32_t *t, int64_t n, int64_t classes, int ignore,
                    float *out) {
    __shared__ double shs[32];
    __shared__ long long shc[32];
    double s = 0;
    long long count = 0;
    for (int64_t r = threadIdx.x; r < n; r += blockDim.x) {
        s += loss[r];
        count += ce_counts(t[r], ignore, classes);
    }
    s = block_sum(s, shs);
    count = block_sum(count, shc);
    if (threadIdx.x == 0) {
        out[0] = (float)s;
        out[1] = (float)count;
    }
}

/* One double per row. */
size_t cross_entropy_workspace(const lt_kargs *a, int backward) {
    return backward ? 0 : (size_t)a->in[0]->shape[0] * sizeof(double);
}

enum lt_status lt_cuda_cross_entropy_forward(const lt_kargs *a) {
    const lt_cross_entropy_attrs *at = (const lt_cross_entropy_attrs *)a->attrs;
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    enum lt_status st = want_workspace(a, cross_entropy_workspace(a, 0), "cross_entropy");
    if (st != LT_OK)
        return st;
    const int32_t *t = (const int32_t *)a->in[1]->data;
    double *loss = (double *)a->workspace;
    cudaStream_t stream = lt_cu(a)->stream;
    if (n > 0) {
        ce_loss_rows op = {(const float *)a->in[0]->data,
                           t,
                           loss,
                           classes,
                           at->ignore_index,
                           (double)at->label_smoothing,
                           lt_cu(a)->flag};
        launch_rows(op, n, classes, stream);
    }
    ce_total_kernel<<<1, 1024, 0, stream>>>(loss, t, n, classes, at->ignore_index,
                                            (float *)a->out[0]->data);
    return lt_cuda_check(a, "cross_entropy");
}

/* d loss / d x[c] = g * (softmax[c] - (1 - e) * [c == y] - e / C); 0 where the target is
 * ignored or bad. softmax[c] is exp(x[c] - max) in float over the sum in double: at a
 * confident target exp(0) is exactly 1, so softmax[y] - 1 keeps its small value. */
struct ce_grad_rows {
    const float *x;
    const int32_t *t;
    const float *gout;
    float *gx;
    int64_t classes;
    int ignore;
    double e;
    bool acc;
    unsigned *flag;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * classes;
        float *gr = gx + r * classes;
        row_cache<V> xs;
        float m;
        double s;
        row_max_sumexp(rp, xr, xs, m, s);
        int32_t y = t[r];
        bool counted = ce_counts(y, ignore, classes);
        if (!counted && y != ignore && rp.live && rp.lane == 0)
            lt_cuda_flag_bad_data(flag, LT_CUDA_BAD_INDEX);
        double g = gout[0], inv = 1.0 / s, hit = 1.0 - e, spread = e / (double)classes;
        rp.each([&](int j, int64_t c) {
            double d = 0;
            if (counted)
                d = g * (expf(xs.get(xr, j, c) - m) * inv - (c == y ? hit : 0.0) - spread);
            lt_grad_put(gr, c, (float)d, acc);
        });
    }
};

enum lt_status lt_cuda_cross_entropy_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    const lt_cross_entropy_attrs *at = (const lt_cross_entropy_attrs *)a->attrs;
    int64_t n = a->in[0]->shape[0], classes = a->in[0]->shape[1];
    if (n == 0)
        return LT_OK;
    ce_grad_rows op = {(const float *)a->in[0]->data,
                       (const int32_t *)a->in[1]->data,
                       (const float *)a->gout[0]->data,
                       (float *)a->gin[0]->data,
                       classes,
                       at->ignore_index,
                       (double)at->label_smoothing,
                       (a->accumulate & 1u) != 0,
                       lt_cu(a)->flag};
    launch_rows(op, n, classes, lt_cu(a)->stream);
    return lt_cuda_check(a, "cross_entropy (backward)");
}

/* ---- mse ------------------------------------------------------------------------------- */

/* Blocks of the partial sums: a function of n alone, so that the sum's order is too. */
int64_t mse_parts(int64_t n) {
    int64_t p = (n + 8 * LT_CUDA_THREADS - 1) / (8 * LT_CUDA_THREADS);
    return p < 1 ? 1 : p > 1024 ? 1024 : p;
}

/* part[block] = sum of (p - t)^2 over the block's grid-stride share, in double. */
__global__ void mse_partial_kernel(const float *p, const float *t, int64_t n, double *part) {
    __shared__ double sh[32];
    double s = 0;
    LT_CUDA_LOOP(i, n) {
        double d = (double)p[i] - t[i];
        s += d * d;
    }
    s = block_sum(s, sh);
    if (threadIdx.x == 0)
        part[blockIdx.x] = s;
}

__global__ void __launch_bounds__(1024)
    mse_total_kernel(const double *part, int64_t parts, int64_t n, float *out) {
    __shared__ double sh[32];
    double s = 0;
    for (int64_t k = threadIdx.x; k < parts; k += blockDim.x)
        s += part[k];
    s = block_sum(s, sh);
    if (threadIdx.x == 0) {
        out[0] = (float)s;
        out[1] = (float)n;
    }
}

size_t mse_workspace(const lt_kargs *a, int backward) {
    return backward ? 0 : (size_t)mse_parts(lt_numel(a->in[0])) * sizeof(double);
}

enum lt_status lt_cuda_mse_forward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]), parts = mse_parts(n);
    enum lt_status st = want_workspace(a, mse_workspace(a, 0), "mse");
    if (st != LT_OK)
        return st;
    double *part = (double *)a->workspace;
    cudaStream_t stream = lt_cu(a)->stream;
    mse_partial_kernel<<<(unsigned)parts, LT_CUDA_THREADS, 0, stream>>>(
        (const float *)a->in[0]->data, (const float *)a->in[1]->data, n, part);
    mse_total_kernel<<<1, 1024, 0, stream>>>(part, parts, n, (float *)a->out[0]->data);
    return lt_cuda_check(a, "mse");
}

/* d/dp = 2 g (p - t), d/dt = -2 g (p - t); gp or gt NULL when that input needs none. */
__global__ void mse_backward_kernel(const float *p, const float *t, const float *gout, float *gp,
                                    float *gt, int64_t n, bool acc_p, bool acc_t) {
    double g2 = 2.0 * gout[0];
    LT_CUDA_LOOP(i, n) {
        double d = g2 * ((double)p[i] - t[i]);
        if (gp)
            lt_grad_put(gp, i, (float)d, acc_p);
        if (gt)
            lt_grad_put(gt, i, (float)-d, acc_t);
    }
}

enum lt_status lt_cuda_mse_backward(const lt_kargs *a) {
    int64_t n = lt_numel(a->in[0]);
    if ((!a->gin[0] && !a->gin[1]) || n == 0)
        return LT_OK;
    mse_backward_kernel<<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (const float *)a->in[0]->data, (const float *)a->in[1]->data,
        (const float *)a->gout[0]->data, a->gin[0] ? (float *)a->gin[0]->data : nullptr,
        a->gin[1] ? (float *)a->gin[1]->data : nullptr, n, (a->accumulate & 1u) != 0,
        (a->accumulate & 2u) != 0);
    return lt_cuda_check(a, "mse (backward)");
}

} // namespace

void lt_cuda_register_loss(lt_backend *b) {
    lt_kernel ce = lt_cuda_kernel(lt_cuda_cross_entropy_forward, lt_cuda_cross_entropy_backward);
    ce.workspace = cross_entropy_workspace;
    b->kernels[LT_OP_CROSS_ENTROPY][LT_DTYPE_F32] = ce;
    lt_kernel mse = lt_cuda_kernel(lt_cuda_mse_forward, lt_cuda_mse_backward);
    mse.workspace = mse_workspace;
    b->kernels[LT_OP_MSE][LT_DTYPE_F32] = mse;
}
