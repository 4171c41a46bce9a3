/* The normalisation ops, batch_norm2d and layer_norm, f32 only (the dtype the reference
 * registers; mixed precision runs them in f32), with statistics and gradient sums in double
 * and in a fixed order (no atomics), so that results never depend on timing. batch_norm2d
 * splits each channel's N * H * W values into parts fixed by the shape alone (enough blocks
 * to fill the device when channels are few); a block takes its part's sum and centred sum
 * of squares (two passes, the second from cache), and one thread per channel merges the
 * parts in order with Chan's formula, as robust as the reference's two passes when the
 * mean is far from 0. Its backward sums g and g * xhat the same way. layer_norm gives a
 * row to a G-lane warp group that keeps it in registers (a block beyond 1024 features);
 * its weight and bias gradients are column sums over chunks of rows, merged in chunk
 * order. The backward kernels read the saved statistics, as the reference does.
 */
#include "kernels/cuda/cuda_kernels.cuh"
#include "kernels/cuda/rows.cuh"

namespace {

/* Sums v over the block (1-D or 2-D, a multiple of 32 threads); every thread gets the
 * result. sh holds 32 doubles. */
__device__ double block_sum(double v, double *sh) {
    unsigned tid = threadIdx.x + threadIdx.y * blockDim.x;
    v = warp_reduce(v, add_fn(), 32);
    __syncthreads(); /* the previous sum has read sh */
    if (tid % 32 == 0)
        sh[tid / 32] = v;
    __syncthreads();
    v = sh[0];
    for (unsigned w = 1; w < blockDim.x * blockDim.y / 32; w++)
        v += sh[w];
    return v;
}

/* ---- batch_norm2d ---------------------------------------------------------------------- */

/* How each channel's values (n samples of a plane of hw) split into parts: pn ranges of sn
 * samples times ps ranges of ss plane positions (the last of each may be shorter). A
 * function of the shape alone, so that the sums' order is too. */
struct bn_split {
    int64_t sn, ss, pn, ps;
};

__host__ __device__ int64_t ceil_div(int64_t a, int64_t b) {
    return (a + b - 1) / b;
}

/* About 1024 blocks over all channels, each with at least 4096 values; no parts when a
 * channel has no values. */
bn_split bn_split_of(int64_t n, int64_t c, int64_t hw) {
    bn_split s = {1, 1, 0, 0};
    if (n * hw * c == 0)
        return s;
    int64_t want = ceil_div(1024, c), most = ceil_div(n * hw, 4096);
    int64_t p = want < most ? want : most;
    s.pn = p < n ? p : n;
    s.sn = ceil_div(n, s.pn);
    s.pn = ceil_div(n, s.sn);
    int64_t ps = ceil_div(p, s.pn), cap = ceil_div(hw, 1024);
    s.ps = ps < cap ? ps : cap;
    s.ss = ceil_div(hw, s.ps);
    s.ps = ceil_div(hw, s.ss);
    return s;
}

/* Bounds of part p: samples [i0, i1), plane positions [s0, s1). */
struct bn_range {
    int64_t i0, i1, s0, s1;
};

__device__ bn_range bn_range_of(const bn_split &sp, int64_t p, int64_t n, int64_t hw) {
    int64_t i0 = p / sp.ps * sp.sn, s0 = p % sp.ps * sp.ss;
    return {i0, i0 + sp.sn < n ? i0 + sp.sn : n, s0, s0 + sp.ss < hw ? s0 + sp.ss : hw};
}

/* A 2-D block over a part or over planes: x along the plane (a power of two, 32 to 256),
 * y along samples or planes, 256 threads in all. */
dim3 bn_block(int64_t plane_len) {
    unsigned bx = 32;
    while (bx < 256 && bx < plane_len)
        bx *= 2;
    return dim3(bx, LT_CUDA_THREADS / bx);
}

/* Calls f(k), k the element's index in x, for this thread's share of part `rg` of
 * channel ch. */
template <typename F>
__device__ __forceinline__ void bn_each(const bn_range &rg, int64_t ch, int64_t c, int64_t hw,
                                        F f) {
    for (int64_t i = rg.i0 + threadIdx.y; i < rg.i1; i += blockDim.y) {
        int64_t base = (i * c + ch) * hw;
        for (int64_t s = rg.s0 + threadIdx.x; s < rg.s1; s += blockDim.x)
            f(base + s);
    }
}

/* Block (ch, p): part[(ch * parts + p) * 2 + {0, 1}] = {sum of x, sum of (x - part mean)^2}.
 * The second pass re-reads the part from cache; it keeps the variance exact when the mean
 * is far from 0. */
__global__ void bn_stats_kernel(const float *x, int64_t n, int64_t c, int64_t hw, bn_split sp,
                                double *part) {
    __shared__ double sh[32];
    int64_t ch = blockIdx.x, p = blockIdx.y, parts = sp.pn * sp.ps;
    bn_range rg = bn_range_of(sp, p, n, hw);
    double sum = 0;
    bn_each(rg, ch, c, hw, [&](int64_t k) { sum += x[k]; });
    sum = block_sum(sum, sh);
    double mean = sum / (double)((rg.i1 - rg.i0) * (rg.s1 - rg.s0)), sq = 0;
    bn_each(rg, ch, c, hw, [&](int64_t k) {
        double d = x[k] - mean;
        sq += d * d;
    });
    sq = block_sum(sq, sh);
    if (threadIdx.x == 0 && threadIdx.y == 0) {
        part[(ch * parts + p) * 2] = sum;
        part[(ch * parts + p) * 2 + 1] = sq;
    }
}

/* Per channel: training merges the parts into the batch mean and variance and moves the
 * running statistics (unbiased variance); evaluation takes the running ones. Writes the
 * saved statistics and coef[ch] = {mean, invstd * weight} in double for the apply pass. */
__global__ void bn_finish_kernel(const double *part, bn_split sp, int64_t n, int64_t c, int64_t hw,
                                 const float *w, float *run_mean, float *run_var, float *save_mean,
                                 float *save_invstd, double *coef, bool training, double mom,
                                 double eps) {
    int64_t parts = sp.pn * sp.ps;
    double m = (double)(n * hw);
    LT_CUDA_LOOP(ch, c) {
        const double *pc = part + ch * parts * 2;
        double mean, var;
        if (training) {
            double sum = 0, sq = 0;
            for (int64_t p = 0; p < parts; p++)
                sum += pc[2 * p];
            mean = sum / m;
            /* Chan et al.: each part's centred squares plus its count times the squared
             * distance of its mean from the whole mean */
            for (int64_t p = 0; p < parts; p++) {
                bn_range rg = bn_range_of(sp, p, n, hw);
                double cnt = (double)((rg.i1 - rg.i0) * (rg.s1 - rg.s0));
                double d = pc[2 * p] / cnt - mean;
                sq += pc[2 * p + 1] + cnt * d * d;
            }
            var = sq / m;
            run_mean[ch] = (float)((1 - mom) * run_mean[ch] + mom * mean);
            run_var[ch] = (float)((1 - mom) * run_var[ch] + mom * sq / (m - 1));
        } else {
            mean = run_mean[ch];
            var = run_var[ch];
        }
        double invstd = 1 / sqrt(var + eps);
        save_mean[ch] = (float)mean;
        save_invstd[ch] = (float)invstd;
        coef[2 * ch] = mean;
        coef[2 * ch + 1] = invstd * w[ch];
    }
}

/* y = (x - mean) * invstd * w + bias over planes (sample, channel): threadIdx.y and
 * blockIdx.x pick the plane, threadIdx.x and blockIdx.y the position in it. */
__global__ void bn_apply_kernel(const float *x, float *y, const double *coef, const float *bias,
                                int64_t planes, int64_t c, int64_t hw) {
    for (int64_t pl = blockIdx.x * blockDim.y + threadIdx.y; pl < planes;
         pl += gridDim.x * blockDim.y) {
        int64_t ch = pl % c;
        double mean = coef[2 * ch], scale = coef[2 * ch + 1], b = bias[ch];
        for (int64_t s = blockIdx.y * blockDim.x + threadIdx.x; s < hw; s += gridDim.y * blockDim.x)
            y[pl * hw + s] = (float)((x[pl * hw + s] - mean) * scale + b);
    }
}

/* The grid of a plane-wise pass: planes on x, the plane's positions on y (few blocks each,
 * a thread taking several positions). */
dim3 bn_plane_grid(dim3 block, int64_t planes, int64_t hw) {
    int64_t gx = ceil_div(planes, block.y), gy = ceil_div(hw, 4 * block.x);
    return dim3((unsigned)(gx < MAX_GRID ? gx : MAX_GRID), (unsigned)(gy < 1024 ? gy : 1024));
}

/* The parts' two doubles, then two doubles per channel: the forward's coefficients or the
 * backward's sums. */
size_t batch_norm2d_workspace(const lt_kargs *a, int backward) {
    (void)backward;
    const lt_kview *x = a->in[0];
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    bn_split sp = bn_split_of(n, c, hw);
    return (size_t)(2 * c * (sp.pn * sp.ps + 1)) * sizeof(double);
}

enum lt_status lt_cuda_batch_norm2d_forward(const lt_kargs *a) {
    const lt_batch_norm_attrs *at = (const lt_batch_norm_attrs *)a->attrs;
    const lt_kview *x = a->in[0];
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    enum lt_status st = want_workspace(a, batch_norm2d_workspace(a, 0), "batch_norm2d");
    if (st != LT_OK || c == 0)
        return st;
    bn_split sp = bn_split_of(n, c, hw);
    double *part = (double *)a->workspace, *coef = part + 2 * c * sp.pn * sp.ps;
    cudaStream_t stream = lt_cu(a)->stream;
    /* training has at least 2 values per channel (shape inference), so parts exist */
    if (at->training)
        bn_stats_kernel<<<dim3((unsigned)c, (unsigned)(sp.pn * sp.ps)), bn_block(sp.ss), 0,
                          stream>>>((const float *)x->data, n, c, hw, sp, part);
    bn_finish_kernel<<<lt_cuda_blocks(c), LT_CUDA_THREADS, 0, stream>>>(
        part, sp, n, c, hw, (const float *)a->in[1]->data, (float *)a->in[3]->data,
        (float *)a->in[4]->data, (float *)a->out[1]->data, (float *)a->out[2]->data, coef,
        at->training != 0, (double)at->momentum, (double)at->eps);
    if (n * hw > 0) {
        dim3 block = bn_block(hw);
        bn_apply_kernel<<<bn_plane_grid(block, n * c, hw), block, 0, stream>>>(
            (const float *)x->data, (float *)a->out[0]->data, coef, (const float *)a->in[2]->data,
            n * c, c, hw);
    }
    return lt_cuda_check(a, "batch_norm2d");
}

/* Block (ch, p): part[(ch * parts + p) * 2 + {0, 1}] = {sum of g, sum of g * xhat} with
 * xhat = (x - mean) * invstd from the saved statistics. */
__global__ void bn_grad_stats_kernel(const float *x, const float *gy, const float *mean,
                                     const float *invstd, int64_t n, int64_t c, int64_t hw,
                                     bn_split sp, double *part) {
    __shared__ double sh[32];
    int64_t ch = blockIdx.x, p = blockIdx.y, parts = sp.pn * sp.ps;
    bn_range rg = bn_range_of(sp, p, n, hw);
    double mu = mean[ch], is = invstd[ch], sg = 0, sgx = 0;
    bn_each(rg, ch, c, hw, [&](int64_t k) {
        sg += gy[k];
        sgx += gy[k] * ((x[k] - mu) * is);
    });
    sg = block_sum(sg, sh);
    sgx = block_sum(sgx, sh);
    if (threadIdx.x == 0 && threadIdx.y == 0) {
        part[(ch * parts + p) * 2] = sg;
        part[(ch * parts + p) * 2 + 1] = sgx;
    }
}

/* Per channel: merges the parts in order into dbias = sum(g) and dweight = sum(g * xhat),
 * stores those gradients, and keeps both sums in double for the input's gradient. */
__global__ void bn_grad_finish_kernel(const double *part, int64_t parts, int64_t c, float *gw,
                                      float *gb, bool acc_w, bool acc_b, double *sums) {
    LT_CUDA_LOOP(ch, c) {
        const double *pc = part + ch * parts * 2;
        double sg = 0, sgx = 0;
        for (int64_t p = 0; p < parts; p++) {
            sg += pc[2 * p];
            sgx += pc[2 * p + 1];
        }
        if (gw)
            lt_grad_put(gw, ch, (float)sgx, acc_w);
        if (gb)
            lt_grad_put(gb, ch, (float)sg, acc_b);
        sums[2 * ch] = sg;
        sums[2 * ch + 1] = sgx;
    }
}

/* dx = w * invstd * (g - sum(g) / M - xhat * sum(g * xhat) / M) when training (the batch
 * statistics depend on x), w * invstd * g in evaluation; laid out as bn_apply_kernel. */
__global__ void bn_grad_input_kernel(const float *x, const float *gy, const float *w,
                                     const float *mean, const float *invstd, const double *sums,
                                     float *gx, int64_t planes, int64_t c, int64_t hw, double m,
                                     bool training, bool acc) {
    for (int64_t pl = blockIdx.x * blockDim.y + threadIdx.y; pl < planes;
         pl += gridDim.x * blockDim.y) {
        int64_t ch = pl % c;
        double mu = mean[ch], is = invstd[ch], scale = (double)w[ch] * is;
        double k0 = sums[2 * ch] / m, k1 = sums[2 * ch + 1] / m;
        for (int64_t s = blockIdx.y * blockDim.x + threadIdx.x; s < hw;
             s += gridDim.y * blockDim.x) {
            int64_t k = pl * hw + s;
            double g = gy[k];
            if (training)
                g -= k0 + (x[k] - mu) * is * k1;
            lt_grad_put(gx, k, (float)(scale * g), acc);
        }
    }
}

enum lt_status lt_cuda_batch_norm2d_backward(const lt_kargs *a) {
    const lt_batch_norm_attrs *at = (const lt_batch_norm_attrs *)a->attrs;
    if (!a->gin[0] && !a->gin[1] && !a->gin[2])
        return LT_OK;
    const lt_kview *x = a->in[0];
    int64_t n = x->shape[0], c = x->shape[1], hw = x->shape[2] * x->shape[3];
    enum lt_status st = want_workspace(a, batch_norm2d_workspace(a, 1), "batch_norm2d (backward)");
    if (st != LT_OK || c == 0)
        return st;
    bn_split sp = bn_split_of(n, c, hw);
    int64_t parts = sp.pn * sp.ps;
    double *part = (double *)a->workspace, *sums = part + 2 * c * parts;
    const float *mean = (const float *)a->out[1]->data, *invstd = (const float *)a->out[2]->data;
    const float *gy = (const float *)a->gout[0]->data;
    cudaStream_t stream = lt_cu(a)->stream;
    if (parts > 0)
        bn_grad_stats_kernel<<<dim3((unsigned)c, (unsigned)parts), bn_block(sp.ss), 0, stream>>>(
            (const float *)x->data, gy, mean, invstd, n, c, hw, sp, part);
    bn_grad_finish_kernel<<<lt_cuda_blocks(c), LT_CUDA_THREADS, 0, stream>>>(
        part, parts, c, a->gin[1] ? (float *)a->gin[1]->data : nullptr,
        a->gin[2] ? (float *)a->gin[2]->data : nullptr, (a->accumulate & 2u) != 0,
        (a->accumulate & 4u) != 0, sums);
    if (a->gin[0] && n * hw > 0) {
        dim3 block = bn_block(hw);
        bn_grad_input_kernel<<<bn_plane_grid(block, n * c, hw), block, 0, stream>>>(
            (const float *)x->data, gy, (const float *)a->in[1]->data, mean, invstd, sums,
            (float *)a->gin[0]->data, n * c, c, hw, (double)(n * hw), at->training != 0,
            (a->accumulate & 1u) != 0);
    }
    return lt_cuda_check(a, "batch_norm2d (backward)");
}

/* ---- layer_norm ------------------------------------------------------------------------ */

/* Per row: the mean, then the centred sum of squares (two passes over registers), both in
 * double; y = (x - mean) * rstd * w + bias in double, rounded once. */
struct ln_forward_rows {
    const float *x, *w, *bias;
    float *y, *mean, *rstd;
    int64_t d;
    double eps;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * d;
        float *yr = y + r * d;
        row_cache<V> xs;
        double s = 0;
        rp.each([&](int j, int64_t c) { s += xs.load(xr, j, c); });
        double mu = rp.sum(s) / (double)d, q = 0;
        rp.each([&](int j, int64_t c) {
            double t = xs.get(xr, j, c) - mu;
            q += t * t;
        });
        double rs = 1 / sqrt(rp.sum(q) / (double)d + eps);
        if (rp.live && rp.lane == 0) {
            mean[r] = (float)mu;
            rstd[r] = (float)rs;
        }
        rp.each([&](int j, int64_t c) {
            yr[c] = (float)((xs.get(xr, j, c) - mu) * rs * w[c] + bias[c]);
        });
    }
};

enum lt_status lt_cuda_layer_norm_forward(const lt_kargs *a) {
    const lt_layer_norm_attrs *at = (const lt_layer_norm_attrs *)a->attrs;
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1], rows = lt_numel(a->out[1]);
    if (rows == 0)
        return LT_OK;
    ln_forward_rows op = {
        (const float *)a->in[0]->data,
        (const float *)a->in[1]->data,
        (const float *)a->in[2]->data,
        (float *)a->out[0]->data,
        (float *)a->out[1]->data,
        (float *)a->out[2]->data,
        d,
        (double)at->eps,
    };
    launch_rows(op, rows, d, lt_cu(a)->stream);
    return lt_cuda_check(a, "layer_norm");
}

/* Per row, with xhat = (x - mean) * rstd and gw = g * w, in double:
 * dx = rstd * (gw - (sum(gw) + xhat * sum(gw * xhat)) / D). */
struct ln_backward_rows {
    const float *x, *w, *mean, *rstd, *gy;
    float *gx;
    int64_t d;
    bool acc;

    template <int G, int V> __device__ void operator()(const row_part<G, V> &rp, int64_t r) const {
        const float *xr = x + r * d, *gr = gy + r * d;
        float *dr = gx + r * d;
        double mu = mean[r], rs = rstd[r], inv_d = 1.0 / (double)d;
        row_cache<V> xs, gs;
        double sg = 0, sgx = 0;
        rp.each([&](int j, int64_t c) {
            double xh = (xs.load(xr, j, c) - mu) * rs, gw = (double)gs.load(gr, j, c) * w[c];
            sg += gw;
            sgx += gw * xh;
        });
        sg = rp.sum(sg);
        sgx = rp.sum(sgx);
        rp.each([&](int j, int64_t c) {
            double xh = (xs.get(xr, j, c) - mu) * rs, gw = (double)gs.get(gr, j, c) * w[c];
            lt_grad_put(dr, c, (float)(rs * (gw - (sg + xh * sgx) * inv_d)), acc);
        });
    }
};

/* Chunks of rows for the weight and bias gradients: about 256K threads (a column each per
 * chunk), at least 16 rows a chunk. A function of the shape alone, so that the sums' order
 * is too. */
int64_t ln_chunk_rows(int64_t rows, int64_t d) {
    int64_t chunks = ceil_div(rows, 16), fill = ceil_div(262144, d);
    chunks = chunks < fill ? chunks : fill;
    chunks = chunks < 1024 ? chunks : 1024;
    return chunks > 0 ? ceil_div(rows, chunks) : 1;
}

/* Thread (column j, chunk blockIdx.y): the chunk's sums of g * xhat and of g over its rows,
 * in row order, into pw and pb (chunk-major). */
__global__ void ln_param_partial_kernel(const float *x, const float *mean, const float *rstd,
                                        const float *gy, double *pw, double *pb, int64_t rows,
                                        int64_t d, int64_t chunk) {
    int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= d)
        return;
    int64_t r0 = blockIdx.y * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
    double sw = 0, sb = 0;
    for (int64_t r = r0; r < r1; r++) {
        double g = gy[r * d + j];
        sw += g * ((x[r * d + j] - (double)mean[r]) * rstd[r]);
        sb += g;
    }
    pw[blockIdx.y * d + j] = sw;
    pb[blockIdx.y * d + j] = sb;
}

/* Per column: adds the chunks in order and stores dweight and dbias (either may be NULL). */
__global__ void ln_param_finish_kernel(const double *pw, const double *pb, int64_t chunks,
                                       int64_t d, float *dw, float *db, bool acc_w, bool acc_b) {
    LT_CUDA_LOOP(j, d) {
        double sw = 0, sb = 0;
        for (int64_t k = 0; k < chunks; k++) {
            sw += pw[k * d + j];
            sb += pb[k * d + j];
        }
        if (dw)
            lt_grad_put(dw, j, (float)sw, acc_w);
        if (db)
            lt_grad_put(db, j, (float)sb, acc_b);
    }
}

/* The backward's two (chunks, D) double arrays of partial column sums. */
size_t layer_norm_workspace(const lt_kargs *a, int backward) {
    if (!backward)
        return 0;
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1], rows = lt_numel(a->in[0]) / d;
    return 2 * (size_t)(ceil_div(rows, ln_chunk_rows(rows, d)) * d) * sizeof(double);
}

enum lt_status lt_cuda_layer_norm_backward(const lt_kargs *a) {
    int64_t d = a->in[0]->shape[a->in[0]->ndim - 1], rows = lt_numel(a->out[1]);
    const float *x = (const float *)a->in[0]->data, *mean = (const float *)a->out[1]->data;
    const float *rstd = (const float *)a->out[2]->data, *gy = (const float *)a->gout[0]->data;
    bool params = a->gin[1] || a->gin[2];
    enum lt_status st =
        want_workspace(a, params ? layer_norm_workspace(a, 1) : 0, "layer_norm (backward)");
    if (st != LT_OK)
        return st;
    cudaStream_t stream = lt_cu(a)->stream;
    if (a->gin[0] && rows > 0) {
        ln_backward_rows op = {
            x,  (const float *)a->in[1]->data, mean, rstd,
            gy, (float *)a->gin[0]->data,      d,    (a->accumulate & 1u) != 0,
        };
        launch_rows(op, rows, d, stream);
    }
    if (params) {
        int64_t chunk = ln_chunk_rows(rows, d), chunks = ceil_div(rows, chunk);
        double *pw = (double *)a->workspace, *pb = pw + chunks * d;
        dim3 grid((unsigned)ceil_div(d, LT_CUDA_THREADS), (unsigned)chunks);
        if (chunks > 0)
            ln_param_partial_kernel<<<grid, LT_CUDA_THREADS, 0, stream>>>(x, mean, rstd, gy, pw, pb,
                                                                          rows, d, chunk);
        ln_param_finish_kernel<<<lt_cuda_blocks(d), LT_CUDA_THREADS, 0, stream>>>(
            pw, pb, chunks, d, a->gin[1] ? (float *)a->gin[1]->data : nullptr,
            a->gin[2] ? (float *)a->gin[2]->data : nullptr, (a->accumulate & 2u) != 0,
            (a->accumulate & 4u) != 0);
    }
    return lt_cuda_check(a, "layer_norm (backward)");
}

} // namespace

void lt_cuda_register_norm(lt_backend *b) {
    lt_kernel bn = lt_cuda_kernel(lt_cuda_batch_norm2d_forward, lt_cuda_batch_norm2d_backward);
    bn.workspace = batch_norm2d_workspace;
    b->kernels[LT_OP_BATCH_NORM2D][LT_DTYPE_F32] = bn;
    lt_kernel ln = lt_cuda_kernel(lt_cuda_layer_norm_forward, lt_cuda_layer_norm_backward);
    ln.workspace = layer_norm_workspace;
    b->kernels[LT_OP_LAYER_NORM][LT_DTYPE_F32] = ln;
}
