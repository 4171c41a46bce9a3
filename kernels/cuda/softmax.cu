/* softmax and log_softmax over the last dim, f32 only (the dtype the reference registers;
 * mixed precision runs these ops in f32). A row of up to 1024 values goes to a group of
 * G lanes of one warp that keep it in registers (V values each), so it is read from memory
 * once; a longer row goes to a whole block that reads it again for each pass (from cache).
 * Rows subtract their max before exponentiating, the sums run in double, and every
 * reduction has a fixed shape (butterfly shuffles, then the block's warps in order), so a
 * result never depends on timing. The backward kernels read only the forward output, which
 * is all the op table keeps alive for them.
 */
#include "kernels/cuda/cuda_kernels.cuh"
#include "kernels/cuda/rows.cuh"

namespace {

/* softmax: y = exp(x - max) / sum; log_softmax: y = x - (max + log(sum)). The exponentials
 * are float (each within a few ulp, all positive: no cancellation), their sum double. */
template <bool LOG> struct forward_rows {
    const float *x;
    float *y;
    int64_t cols;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        row_cache<V> xs;
        float m;
        double s;
        row_max_sumexp(rp, xr, xs, m, s);
        if constexpr (LOG) {
            double lse = (double)m + log(s);
            rp.each([&](int j, int64_t c) { yr[c] = (float)((double)xs.get(xr, j, c) - lse); });
        } else {
            double inv = 1.0 / s;
            rp.each([&](int j, int64_t c) { yr[c] = (float)(expf(xs.get(xr, j, c) - m) * inv); });
        }
    }
};

/* softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy). Both in
 * double as the reference: the difference cancels where the gradient is nearly consistent
 * with the output (a confident prediction), and exp(y) near 1 must not lose the few bits
 * that dx keeps there. */
template <bool LOG> struct backward_rows {
    const float *y, *dy;
    float *dx;
    int64_t cols;
    bool acc;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *yr = y + r * cols, *gr = dy + r * cols;
        float *dr = dx + r * cols;
        row_cache<V> ys, gs;
        double s = 0;
        rp.each([&](int j, int64_t c) {
            double g = gs.load(gr, j, c);
            s += LOG ? g : g * ys.load(yr, j, c);
        });
        s = rp.sum(s);
        rp.each([&](int j, int64_t c) {
            double g = gs.get(gr, j, c), d;
            if constexpr (LOG)
                d = g - exp((double)yr[c]) * s;
            else
                d = (double)ys.get(yr, j, c) * (g - s);
            lt_grad_put(dr, c, (float)d, acc);
        });
    }
};

/* A tensor seen as (rows, cols) with cols its last dim. */
void as_rows(const lt_kview *v, int64_t *rows, int64_t *cols) {
    *cols = v->shape[v->ndim - 1];
    *rows = *cols ? lt_numel(v) / *cols : 0;
}

template <bool LOG> enum lt_status lt_cuda_softmax_forward(const lt_kargs *a) {
    int64_t rows, cols;
    as_rows(a->in[0], &rows, &cols);
    if (rows == 0 || cols == 0)
        return LT_OK;
    forward_rows<LOG> op = {(const float *)a->in[0]->data, (float *)a->out[0]->data, cols};
    launch_rows(op, rows, cols, lt_cu(a)->stream);
    return lt_cuda_check(a, LOG ? "log_softmax" : "softmax");
}

template <bool LOG> enum lt_status lt_cuda_softmax_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    int64_t rows, cols;
    as_rows(a->out[0], &rows, &cols);
    if (rows == 0 || cols == 0)
        return LT_OK;
    backward_rows<LOG> op = {(const float *)a->out[0]->data, (const float *)a->gout[0]->data,
                             (float *)a->gin[0]->data, cols, (a->accumulate & 1u) != 0};
    launch_rows(op, rows, cols, lt_cu(a)->stream);
    return lt_cuda_check(a, LOG ? "log_softmax (backward)" : "softmax (backward)");
}

} // namespace

void lt_cuda_register_softmax(lt_backend *b) {
    b->kernels[LT_OP_SOFTMAX][LT_DTYPE_F32] =
        lt_cuda_kernel(lt_cuda_softmax_forward<false>, lt_cuda_softmax_backward<false>);
    b->kernels[LT_OP_LOG_SOFTMAX][LT_DTYPE_F32] =
        lt_cuda_kernel(lt_cuda_softmax_forward<true>, lt_cuda_softmax_backward<true>);
}
