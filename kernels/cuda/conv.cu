/* conv2d through cuDNN's convolution API, for f32, f16 and bf16 in PyTorch's NCHW layouts.
 * Everything that depends on shapes alone is done once per node at plan time (prepare):
 * the descriptors, the algorithm of each direction from cuDNN's heuristics (never a
 * timed search, which would allocate) and the workspace they need. f32 stays true fp32
 * unless TF32 was allowed: FMA math and no FFT or Winograd algorithm, whose errors miss
 * f32's bound. Half tensors run on tensor cores with f32 accumulation. Gradients are f32
 * whatever the forward dtype; cuDNN cannot mix dtypes, so a half backward converts the
 * output gradient to half in the workspace, runs in half there and converts (or adds)
 * each result into the f32 gradient. The bias is added, and its gradient summed, by own
 * kernels; the bias gradient sums in a fixed order (no atomics), so that it is
 * reproducible. Where cuDNN reports algorithms as deterministic, those are preferred.
 */
#include <climits>
#include <new>
#include <type_traits>

#include "kernels/cuda/dnn.cuh"

/* Workspace regions start at multiples of this (cuDNN's vector loads). */
#define CONV_ALIGN 256

static size_t align_up(size_t n) {
    return (n + CONV_ALIGN - 1) / CONV_ALIGN * CONV_ALIGN;
}

/* What prepare builds for one node (forward or backward). */
struct conv_state {
    bool empty; /* an empty batch: no descriptors (cuDNN refuses N = 0), no work */
    cudnnTensorDescriptor_t x, y; /* the forward dtype: also those of gx and gy in half */
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    /* the math the heuristics are asked under, and that each chosen algorithm runs under */
    cudnnMathType_t math_ask, math_fwd, math_data, math_filter;
    bool grad[3]; /* backward: the gradients the plan asked for */
    bool deterministic; /* only algorithms whose results do not depend on the run */
    /* workspace layout: cuDNN's scratch, then (half backward) gy in half and one half
     * gradient (gx, later gw), then the bias gradient's partial sums */
    size_t lib_bytes, gy_half_at, g_half_at, partials_at, total;
    int64_t bias_units; /* the bias gradient: each row of gy split into this many units */
    int64_t bias_split; /* partial sums per channel */
};

/* ---- own kernels --------------------------------------------------------------------- */

/* y (N, O, HW) += bias (O), computed in f32 and rounded once more to T */
template <typename T>
static __global__ void bias_add_kernel(T *y, const T *bias, int64_t n, int64_t hw, int64_t o) {
    LT_CUDA_LOOP(i, n) y[i] = lt_from_f<T>(lt_to_f(y[i]) + lt_to_f(bias[i / hw % o]));
}

/* Partial sums of gy (N, O, HW) per channel: block (c, s) sums the units s, s + split, ...
 * of channel c, where unit u is piece u % units of row u / units (a row: one n). */
static __global__ void bias_partials_kernel(const float *gy, double *partials, int64_t n, int64_t o,
                                            int64_t hw, int64_t units, int64_t split) {
    int64_t c = blockIdx.x / split, s = blockIdx.x % split;
    double sum = 0.0;
    for (int64_t u = s; u < n * units; u += split) {
        int64_t row = u / units, piece = u % units;
        const float *g = gy + (row * o + c) * hw;
        int64_t p1 = (piece + 1) * hw / units;
        for (int64_t p = piece * hw / units + threadIdx.x; p < p1; p += blockDim.x)
            sum += g[p];
    }
    sum = lt_block_sum(sum);
    if (threadIdx.x == 0)
        partials[blockIdx.x] = sum;
}

/* gb[c] (+)= the channel's partial sums, in order */
static __global__ void bias_finish_kernel(const double *partials, float *gb, int64_t o,
                                          int64_t split, bool acc) {
    LT_CUDA_LOOP(c, o) {
        double sum = 0.0;
        for (int64_t s = 0; s < split; s++)
            sum += partials[c * split + s];
        lt_grad_put(gb, c, (float)sum, acc);
    }
}

template <typename T> static __global__ void to_half_kernel(const float *g, T *h, int64_t n) {
    LT_CUDA_LOOP(i, n) h[i] = lt_from_f<T>(g[i]);
}

template <typename T>
static __global__ void from_half_kernel(const T *h, float *g, int64_t n, bool acc) {
    LT_CUDA_LOOP(i, n) lt_grad_put(g, i, lt_to_f(h[i]), acc);
}

/* ---- plan time ----------------------------------------------------------------------- */

template <typename T> static cudnnDataType_t dnn_type();
template <> cudnnDataType_t dnn_type<float>() {
    return CUDNN_DATA_FLOAT;
}
template <> cudnnDataType_t dnn_type<__half>() {
    return CUDNN_DATA_HALF;
}
template <> cudnnDataType_t dnn_type<__nv_bfloat16>() {
    return CUDNN_DATA_BFLOAT16;
}

static void conv2d_release(void *state) {
    conv_state *st = (conv_state *)state;
    if (!st)
        return;
    if (st->x)
        cudnnDestroyTensorDescriptor(st->x);
    if (st->y)
        cudnnDestroyTensorDescriptor(st->y);
    if (st->w)
        cudnnDestroyFilterDescriptor(st->w);
    if (st->conv)
        cudnnDestroyConvolutionDescriptor(st->conv);
    delete st;
}

/* The algorithm of one direction: the first heuristic result, in cuDNN's order of expected
 * speed, that can run. It must report success and no down-conversion of f32 data; when f32
 * must stay exact it must not be an FFT or Winograd algorithm, and it runs under FMA math
 * whatever math it reports (FMA math is what keeps TF32 out). Otherwise it runs under the
 * math it reports: the heuristics may report a math type other than the descriptor's, and
 * an algorithm run under another one can fail. When the backend is deterministic (the
 * default), a deterministic algorithm is taken when one qualifies. The workspace query, under that math, confirms the choice. Fills *algo, *math
 * and *bytes; false when none can run. */
template <typename Perf, typename Algo, typename Inexact, typename Size>
static bool pick_algo(conv_state *st, const Perf *perf, int n, bool exact, Inexact inexact,
                      Size workspace_size, Algo *algo, cudnnMathType_t *math, size_t *bytes) {
    for (int pass = st->deterministic ? 0 : 1; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            const Perf &p = perf[i];
            if (p.status != CUDNN_STATUS_SUCCESS ||
                p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION || (exact && inexact(p.algo)) ||
                (pass == 0 && p.determinism != CUDNN_DETERMINISTIC))
                continue;
            cudnnMathType_t m = exact ? CUDNN_FMA_MATH : p.mathType;
            if (cudnnSetConvolutionMathType(st->conv, m) != CUDNN_STATUS_SUCCESS ||
                workspace_size(p.algo, bytes) != CUDNN_STATUS_SUCCESS)
                continue;
            *algo = p.algo;
            *math = m;
            return true;
        }
    return false;
}

static enum lt_status no_algo(const lt_kargs *a, const char *direction) {
    snprintf(a->msg, LT_KMSG_SIZE, "cuDNN has no usable %s algorithm for these shapes",
             direction);
    return LT_EUNSUPPORTED;
}

/* Descriptors, and the math type the heuristics are asked under, from the shapes and
 * attributes. */
static enum lt_status make_descriptors(const lt_kargs *a, conv_state *st, cudnnDataType_t dt,
                                       bool half) {
    const lt_conv2d_attrs *at = (const lt_conv2d_attrs *)a->attrs;
    const lt_kview *x = a->in[0], *w = a->in[1], *y = a->out[0];
    for (int d = 0; d < 4; d++)
        if (x->shape[d] > INT_MAX || w->shape[d] > INT_MAX || y->shape[d] > INT_MAX) {
            snprintf(a->msg, LT_KMSG_SIZE, "a dimension exceeds cuDNN's int range");
            return LT_EINVAL;
        }
    cudnnStatus_t s = cudnnCreateTensorDescriptor(&st->x);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnCreateTensorDescriptor(&st->y);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnCreateFilterDescriptor(&st->w);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnCreateConvolutionDescriptor(&st->conv);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetTensor4dDescriptor(st->x, CUDNN_TENSOR_NCHW, dt, (int)x->shape[0],
                                       (int)x->shape[1], (int)x->shape[2], (int)x->shape[3]);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetTensor4dDescriptor(st->y, CUDNN_TENSOR_NCHW, dt, (int)y->shape[0],
                                       (int)y->shape[1], (int)y->shape[2], (int)y->shape[3]);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetFilter4dDescriptor(st->w, dt, CUDNN_TENSOR_NCHW, (int)w->shape[0],
                                       (int)w->shape[1], (int)w->shape[2], (int)w->shape[3]);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetConvolution2dDescriptor(st->conv, at->padding[0], at->padding[1], at->stride[0],
                                            at->stride[1], at->dilation[0], at->dilation[1],
                                            CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    if (s == CUDNN_STATUS_SUCCESS)
        s = cudnnSetConvolutionGroupCount(st->conv, at->groups);
    /* FMA math keeps f32 off TF32 tensor cores; DEFAULT math allows TF32 */
    st->math_ask = half             ? CUDNN_TENSOR_OP_MATH
                   : lt_cu(a)->tf32 ? CUDNN_DEFAULT_MATH
                                    : CUDNN_FMA_MATH;
    return lt_cudnn_check(a, s, "conv2d: descriptors");
}

static enum lt_status choose_forward(const lt_kargs *a, conv_state *st, bool exact) {
    cudnnHandle_t h = lt_dnn(a);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    enum lt_status rc =
        lt_cudnn_check(a, cudnnSetConvolutionMathType(st->conv, st->math_ask), "conv2d: math type");
    if (rc == LT_OK)
        rc = lt_cudnn_check(a,
                            cudnnGetConvolutionForwardAlgorithm_v7(h, st->x, st->w, st->conv, st->y,
                                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                                   &n, perf),
                            "conv2d: forward heuristics");
    if (rc != LT_OK)
        return rc;
    bool found = pick_algo(
        st, perf, n, exact,
        [](cudnnConvolutionFwdAlgo_t al) {
            return al == CUDNN_CONVOLUTION_FWD_ALGO_FFT ||
                   al == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
                   al == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
                   al == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
        },
        [&](cudnnConvolutionFwdAlgo_t al, size_t *bytes) {
            return cudnnGetConvolutionForwardWorkspaceSize(h, st->x, st->w, st->conv, st->y, al,
                                                           bytes);
        },
        &st->fwd, &st->math_fwd, &st->lib_bytes);
    return found ? LT_OK : no_algo(a, "forward");
}

static enum lt_status choose_backward_data(const lt_kargs *a, conv_state *st, bool exact,
                                           size_t *bytes) {
    cudnnHandle_t h = lt_dnn(a);
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    enum lt_status rc =
        lt_cudnn_check(a, cudnnSetConvolutionMathType(st->conv, st->math_ask), "conv2d: math type");
    if (rc == LT_OK)
        rc = lt_cudnn_check(
            a,
            cudnnGetConvolutionBackwardDataAlgorithm_v7(
                h, st->w, st->y, st->conv, st->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf),
            "conv2d: backward-data heuristics");
    if (rc != LT_OK)
        return rc;
    bool found = pick_algo(
        st, perf, n, exact,
        [](cudnnConvolutionBwdDataAlgo_t al) {
            return al == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
                   al == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
                   al == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
                   al == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
        },
        [&](cudnnConvolutionBwdDataAlgo_t al, size_t *b) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(h, st->w, st->y, st->conv, st->x,
                                                                al, b);
        },
        &st->bwd_data, &st->math_data, bytes);
    return found ? LT_OK : no_algo(a, "backward-data");
}

static enum lt_status choose_backward_filter(const lt_kargs *a, conv_state *st, bool exact,
                                             size_t *bytes) {
    cudnnHandle_t h = lt_dnn(a);
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int n = 0;
    enum lt_status rc =
        lt_cudnn_check(a, cudnnSetConvolutionMathType(st->conv, st->math_ask), "conv2d: math type");
    if (rc == LT_OK)
        rc = lt_cudnn_check(a,
                            cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                                h, st->x, st->y, st->conv, st->w,
                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf),
                            "conv2d: backward-filter heuristics");
    if (rc != LT_OK)
        return rc;
    bool found = pick_algo(
        st, perf, n, exact,
        [](cudnnConvolutionBwdFilterAlgo_t al) {
            return al == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
                   al == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
                   al == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD ||
                   al == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
        },
        [&](cudnnConvolutionBwdFilterAlgo_t al, size_t *b) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, st->x, st->y, st->conv, st->w,
                                                                  al, b);
        },
        &st->bwd_filter, &st->math_filter, bytes);
    return found ? LT_OK : no_algo(a, "backward-filter");
}

/* The bias gradient's split: enough blocks to fill the device (8 of 256 threads per SM),
 * each summing pieces of about 1024 to 2047 elements, so that few channels with large
 * images still spread over the whole device. */
static void plan_bias(const lt_kargs *a, conv_state *st) {
    const lt_kview *y = a->out[0];
    int64_t n = y->shape[0], o = y->shape[1], hw = y->shape[2] * y->shape[3];
    int64_t target = 8 * (int64_t)lt_cu(a)->prop.multiProcessorCount;
    st->bias_units = hw / 1024 > 1 ? hw / 1024 : 1;
    int64_t split = (target + o - 1) / o, units = n * st->bias_units;
    st->bias_split = split < units ? split : units;
    if (st->bias_split < 1)
        st->bias_split = 1;
}

static enum lt_status plan(const lt_kargs *a, int backward, conv_state *st, cudnnDataType_t dt,
                           size_t elem) {
    bool half = dt != CUDNN_DATA_FLOAT, exact = !half && !lt_cu(a)->tf32;
    st->deterministic = lt_cu(a)->deterministic;
    if (backward)
        for (int i = 0; i < a->n_in; i++)
            st->grad[i] = a->gin[i] != NULL;
    if (st->grad[2])
        plan_bias(a, st);
    st->empty = a->in[0]->shape[0] == 0;
    if (!st->empty) {
        enum lt_status rc = make_descriptors(a, st, dt, half);
        if (rc == LT_OK && !backward)
            rc = choose_forward(a, st, exact);
        size_t data_bytes = 0, filter_bytes = 0;
        if (rc == LT_OK && st->grad[0])
            rc = choose_backward_data(a, st, exact, &data_bytes);
        if (rc == LT_OK && st->grad[1])
            rc = choose_backward_filter(a, st, exact, &filter_bytes);
        if (rc != LT_OK)
            return rc;
        /* the two backward calls run one after the other and share the scratch */
        if (backward)
            st->lib_bytes = data_bytes > filter_bytes ? data_bytes : filter_bytes;
    }
    size_t at = align_up(st->lib_bytes);
    st->gy_half_at = st->g_half_at = at;
    if (half && !st->empty && (st->grad[0] || st->grad[1])) {
        size_t gx = st->grad[0] ? (size_t)lt_numel(a->in[0]) : 0;
        size_t gw = st->grad[1] ? (size_t)lt_numel(a->in[1]) : 0;
        st->g_half_at = at + align_up((size_t)lt_numel(a->out[0]) * elem);
        at = st->g_half_at + align_up((gx > gw ? gx : gw) * elem);
    }
    st->partials_at = at;
    if (st->grad[2])
        at += align_up((size_t)(a->out[0]->shape[1] * st->bias_split) * sizeof(double));
    st->total = at;
    return LT_OK;
}

template <typename T>
static enum lt_status conv2d_prepare(const lt_kargs *a, int backward, void **state) {
    conv_state *st = new (std::nothrow) conv_state();
    if (!st) {
        snprintf(a->msg, LT_KMSG_SIZE, "out of memory");
        return LT_ENOMEM;
    }
    enum lt_status rc = plan(a, backward, st, dnn_type<T>(), sizeof(T));
    if (rc != LT_OK) {
        conv2d_release(st);
        return rc;
    }
    *state = st;
    return LT_OK;
}

static size_t conv2d_workspace(const lt_kargs *a, int backward) {
    (void)backward;
    return ((const conv_state *)a->state)->total;
}

/* ---- step time ----------------------------------------------------------------------- */

static enum lt_status check_workspace(const lt_kargs *a, const conv_state *st) {
    if (a->workspace_size >= st->total)
        return LT_OK;
    snprintf(a->msg, LT_KMSG_SIZE, "workspace smaller than planned");
    return LT_EINVAL;
}

/* Sets the math the direction's algorithm was chosen under (one descriptor serves both
 * backward directions; a host-side setting, no device work). */
static enum lt_status use_math(const lt_kargs *a, const conv_state *st, cudnnMathType_t m) {
    return lt_cudnn_check(a, cudnnSetConvolutionMathType(st->conv, m), "conv2d: math type");
}

template <typename T> static enum lt_status lt_cuda_conv2d_forward(const lt_kargs *a) {
    const conv_state *st = (const conv_state *)a->state;
    enum lt_status rc = check_workspace(a, st);
    if (rc != LT_OK || st->empty)
        return rc;
    const float one = 1.0f, zero = 0.0f;
    rc = use_math(a, st, st->math_fwd);
    if (rc == LT_OK)
        rc = lt_cudnn_check(a,
                            cudnnConvolutionForward(lt_dnn(a), &one, st->x, a->in[0]->data,
                                                    st->w, a->in[1]->data, st->conv, st->fwd,
                                                    a->workspace, st->lib_bytes, &zero, st->y,
                                                    a->out[0]->data),
                            "conv2d");
    if (rc != LT_OK || a->n_in < 3)
        return rc;
    const lt_kview *y = a->out[0];
    int64_t n = lt_numel(y);
    bias_add_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, lt_cu(a)->stream>>>(
        (T *)y->data, (const T *)a->in[2]->data, n, y->shape[2] * y->shape[3], y->shape[1]);
    return lt_cuda_check(a, "conv2d (bias)");
}

/* The bias gradient: partial sums per channel, then their sum in order. */
static enum lt_status bias_grad(const lt_kargs *a, const conv_state *st) {
    const lt_kview *gy = a->gout[0];
    int64_t o = gy->shape[1];
    double *partials = (double *)((char *)a->workspace + st->partials_at);
    cudaStream_t s = lt_cu(a)->stream;
    bias_partials_kernel<<<(unsigned)(o * st->bias_split), LT_CUDA_THREADS, 0, s>>>(
        (const float *)gy->data, partials, gy->shape[0], o, gy->shape[2] * gy->shape[3],
        st->bias_units, st->bias_split);
    bias_finish_kernel<<<lt_cuda_blocks(o), LT_CUDA_THREADS, 0, s>>>(
        partials, (float *)a->gin[2]->data, o, st->bias_split, (a->accumulate & 4u) != 0);
    return lt_cuda_check(a, "conv2d (bias gradient)");
}

/* An empty batch: the weight and bias gradients are zero sums. */
static enum lt_status empty_backward(const lt_kargs *a) {
    for (int i = 1; i < a->n_in; i++) {
        if (!a->gin[i] || (a->accumulate & (1u << i)))
            continue;
        cudaError_t e = cudaMemsetAsync(
            a->gin[i]->data, 0, (size_t)lt_numel(a->gin[i]) * sizeof(float), lt_cu(a)->stream);
        if (e != cudaSuccess) {
            snprintf(a->msg, LT_KMSG_SIZE, "%s", cudaGetErrorString(e));
            return LT_ECUDA;
        }
    }
    return LT_OK;
}

/* f32: cuDNN writes or adds (beta) straight into the gradients. */
static enum lt_status backward_f32(const lt_kargs *a, const conv_state *st) {
    cudnnHandle_t h = lt_dnn(a);
    const float one = 1.0f, zero = 0.0f;
    const void *gy = a->gout[0]->data;
    enum lt_status rc = LT_OK;
    if (a->gin[0] && (rc = use_math(a, st, st->math_data)) == LT_OK)
        rc = lt_cudnn_check(a,
                            cudnnConvolutionBackwardData(
                                h, &one, st->w, a->in[1]->data, st->y, gy, st->conv, st->bwd_data,
                                a->workspace, st->lib_bytes, (a->accumulate & 1u) ? &one : &zero,
                                st->x, a->gin[0]->data),
                            "conv2d (input gradient)");
    if (rc == LT_OK && a->gin[1] && (rc = use_math(a, st, st->math_filter)) == LT_OK)
        rc = lt_cudnn_check(a,
                            cudnnConvolutionBackwardFilter(
                                h, &one, st->x, a->in[0]->data, st->y, gy, st->conv, st->bwd_filter,
                                a->workspace, st->lib_bytes, (a->accumulate & 2u) ? &one : &zero,
                                st->w, a->gin[1]->data),
                            "conv2d (weight gradient)");
    return rc;
}

/* Half: gy converted to T; each gradient computed in T into one scratch buffer, then
 * converted into (or added to) its f32 gradient before the next one reuses the buffer. */
template <typename T> static enum lt_status backward_half(const lt_kargs *a, const conv_state *st) {
    cudnnHandle_t h = lt_dnn(a);
    cudaStream_t s = lt_cu(a)->stream;
    const float one = 1.0f, zero = 0.0f;
    T *gy = (T *)((char *)a->workspace + st->gy_half_at);
    T *g = (T *)((char *)a->workspace + st->g_half_at);
    int64_t ny = lt_numel(a->gout[0]);
    to_half_kernel<T>
        <<<lt_cuda_blocks(ny), LT_CUDA_THREADS, 0, s>>>((const float *)a->gout[0]->data, gy, ny);
    enum lt_status rc = lt_cuda_check(a, "conv2d (gradient to half)");
    if (rc == LT_OK && a->gin[0] && (rc = use_math(a, st, st->math_data)) == LT_OK) {
        rc = lt_cudnn_check(a,
                            cudnnConvolutionBackwardData(h, &one, st->w, a->in[1]->data, st->y, gy,
                                                         st->conv, st->bwd_data, a->workspace,
                                                         st->lib_bytes, &zero, st->x, g),
                            "conv2d (input gradient)");
        int64_t n = lt_numel(a->gin[0]);
        if (rc == LT_OK) {
            from_half_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(
                g, (float *)a->gin[0]->data, n, (a->accumulate & 1u) != 0);
            rc = lt_cuda_check(a, "conv2d (input gradient to f32)");
        }
    }
    if (rc == LT_OK && a->gin[1] && (rc = use_math(a, st, st->math_filter)) == LT_OK) {
        rc = lt_cudnn_check(a,
                            cudnnConvolutionBackwardFilter(
                                h, &one, st->x, a->in[0]->data, st->y, gy, st->conv, st->bwd_filter,
                                a->workspace, st->lib_bytes, &zero, st->w, g),
                            "conv2d (weight gradient)");
        int64_t n = lt_numel(a->gin[1]);
        if (rc == LT_OK) {
            from_half_kernel<T><<<lt_cuda_blocks(n), LT_CUDA_THREADS, 0, s>>>(
                g, (float *)a->gin[1]->data, n, (a->accumulate & 2u) != 0);
            rc = lt_cuda_check(a, "conv2d (weight gradient to f32)");
        }
    }
    return rc;
}

/* Reads x and w only (backward_reads); the bias gradient needs no forward tensor. */
template <typename T> static enum lt_status lt_cuda_conv2d_backward(const lt_kargs *a) {
    const conv_state *st = (const conv_state *)a->state;
    enum lt_status rc = check_workspace(a, st);
    if (rc != LT_OK)
        return rc;
    for (int i = 0; i < a->n_in; i++)
        if (a->gin[i] && !st->grad[i]) {
            snprintf(a->msg, LT_KMSG_SIZE, "gradient %d was not planned", i);
            return LT_EINVAL;
        }
    if (st->empty)
        return empty_backward(a);
    if (a->gin[0] || a->gin[1]) {
        if constexpr (std::is_same<T, float>::value)
            rc = backward_f32(a, st);
        else
            rc = backward_half<T>(a, st);
    }
    if (rc == LT_OK && a->n_in > 2 && a->gin[2])
        rc = bias_grad(a, st);
    return rc;
}

template <typename T> static lt_kernel conv_kernel() {
    lt_kernel k = lt_cuda_kernel(lt_cuda_conv2d_forward<T>, lt_cuda_conv2d_backward<T>, "cudnn");
    k.prepare = conv2d_prepare<T>;
    k.release = conv2d_release;
    k.workspace = conv2d_workspace;
    return k;
}

/* f16 as well as the reference's f32 and bf16: the half path is the same for both, and
 * fp16 mixed precision then keeps convolutions in half on the GPU. */
void lt_cuda_register_conv(lt_backend *b) {
    b->kernels[LT_OP_CONV2D][LT_DTYPE_F32] = conv_kernel<float>();
    b->kernels[LT_OP_CONV2D][LT_DTYPE_F16] = conv_kernel<__half>();
    b->kernels[LT_OP_CONV2D][LT_DTYPE_BF16] = conv_kernel<__nv_bfloat16>();
}
