/* Dropout for f32, f16 and bf16 with the CPU's mask, bit for bit: element e of sample n
 * is kept when lt_dropout_keep(seed, layer, epoch, sample_base + n, e, p) says so
 * (kernels/rng.h, the same functions compiled for the device), and a kept value is
 * multiplied by the host-computed f32 1 / (1 - p), as kernels/cpu/dropout.c does; a half
 * output is that f32 product rounded once, as the CPU's half wrapper rounds it. At p = 0
 * every draw (>= 0) keeps and the scale is 1. No mask is stored: the backward draws the
 * same decisions again. A draw costs one 64-bit mix, keying a sample four: each block
 * takes a contiguous chunk of elements, keys the few samples it spans once into shared
 * memory, and its threads walk (sample, element) along without dividing per element.
 */
#include "kernels/cuda/cuda_kernels.cuh"

/* Private to this file: other families' kernels may use the same names. */
namespace {

#define DROP_THREADS 256
#define DROP_ITEMS 8 /* elements per thread and chunk */
#define DROP_CHUNK (DROP_THREADS * DROP_ITEMS)

/* What every element's decision needs from the attributes and shapes; the stream keys
 * (seed, epoch, sample_base) are read on the device, from a->exec_dev, so that a
 * captured step draws each run's masks. */
struct drop_args {
    uint32_t layer;
    int64_t samples, per;   /* the input is (samples, per) */
    int64_t step_s, step_e; /* DROP_THREADS elements = step_s samples + step_e elements */
    int64_t keys;           /* most samples a chunk spans, DROP_CHUNK at most */
    float p, scale;
};

drop_args drop_args_of(const lt_kargs *a) {
    const lt_dropout_attrs *at = (const lt_dropout_attrs *)a->attrs;
    const lt_kview *x = a->in[0];
    drop_args d;
    d.layer = at->layer;
    d.samples = x->shape[0];
    d.per = 1;
    for (int i = 1; i < x->ndim; i++)
        d.per *= x->shape[i];
    d.step_s = d.per ? DROP_THREADS / d.per : 0;
    d.step_e = d.per ? DROP_THREADS % d.per : 0;
    /* a chunk starting inside a sample spans at most DROP_CHUNK / per + 2 of them, and
     * never more than one per element */
    d.keys = d.per ? DROP_CHUNK / d.per + 2 : 0;
    d.keys = d.keys < DROP_CHUNK ? d.keys : DROP_CHUNK;
    d.p = at->p;
    d.scale = 1.0f / (1.0f - at->p);
    return d;
}

/* Forward (GRAD false): out = keep ? in * scale : 0, rounded to T. Backward (GRAD, T is
 * float): the same from the gradient, added when acc; the product rounded on its own
 * (__fmul_rn, never fused into the add), as the reference stores it. */
template <typename T, bool GRAD>
__global__ void dropout_kernel(const T *in, T *out, drop_args d, const lt_exec_info *exec,
                               bool acc) {
    __shared__ uint64_t keys[DROP_CHUNK];
    const uint64_t seed = exec->seed;
    const uint32_t epoch = exec->epoch;
    const int64_t sample_base = exec->sample_base;
    int64_t total = d.samples * d.per;
    int t = threadIdx.x;
    for (int64_t base = (int64_t)blockIdx.x * DROP_CHUNK; base < total;
         base += (int64_t)gridDim.x * DROP_CHUNK) {
        int64_t hi = base + DROP_CHUNK < total ? base + DROP_CHUNK : total;
        int64_t s0 = base / d.per, e0 = base - s0 * d.per;
        int64_t nk = d.samples - s0 < d.keys ? d.samples - s0 : d.keys;
        __syncthreads(); /* the previous chunk's readers are done with keys */
        for (int64_t k = t; k < nk; k += DROP_THREADS)
            keys[k] = lt_rng_key(seed, d.layer, epoch, (uint64_t)(sample_base + s0 + k));
        __syncthreads();
        /* this thread's first element: sample s0 + s, element e of it */
        int64_t off = e0 + t;
        int64_t s = off < d.per ? 0 : off / d.per, e = off - s * d.per;
        for (int j = 0; j < DROP_ITEMS; j++) {
            int64_t i = base + (int64_t)j * DROP_THREADS + t;
            if (i >= hi)
                break;
            bool keep = lt_rng_uniform(keys[s], (uint64_t)e) >= d.p;
            if constexpr (GRAD)
                lt_grad_put(out, i, keep ? __fmul_rn(in[i], d.scale) : 0.0f, acc);
            else
                out[i] = lt_from_f<T>(keep ? __fmul_rn(lt_to_f(in[i]), d.scale) : 0.0f);
            e += d.step_e;
            s += d.step_s;
            if (e >= d.per) {
                e -= d.per;
                s++;
            }
        }
    }
}

template <typename T, bool GRAD>
enum lt_status dropout_launch(const lt_kargs *a, const void *in, void *out, bool acc,
                              const char *what) {
    drop_args d = drop_args_of(a);
    int64_t total = d.samples * d.per;
    if (total == 0)
        return LT_OK;
    dropout_kernel<T, GRAD>
        <<<lt_cuda_blocks(total, DROP_CHUNK), DROP_THREADS, 0, lt_cu(a)->stream>>>(
            (const T *)in, (T *)out, d, a->exec_dev, acc);
    return lt_cuda_check(a, what);
}

template <typename T> enum lt_status lt_cuda_dropout_forward(const lt_kargs *a) {
    return dropout_launch<T, false>(a, a->in[0]->data, a->out[0]->data, false, "dropout");
}

/* Gradients are f32 whatever the forward dtype: one backward serves all three. */
enum lt_status lt_cuda_dropout_backward(const lt_kargs *a) {
    if (!a->gin[0])
        return LT_OK;
    return dropout_launch<float, true>(a, a->gout[0]->data, a->gin[0]->data,
                                       (a->accumulate & 1u) != 0, "dropout (backward)");
}

} // namespace

void lt_cuda_register_dropout(lt_backend *b) {
    b->kernels[LT_OP_DROPOUT][LT_DTYPE_F32] =
        lt_cuda_kernel(lt_cuda_dropout_forward<float>, lt_cuda_dropout_backward);
    b->kernels[LT_OP_DROPOUT][LT_DTYPE_F16] =
        lt_cuda_kernel(lt_cuda_dropout_forward<__half>, lt_cuda_dropout_backward);
    b->kernels[LT_OP_DROPOUT][LT_DTYPE_BF16] =
        lt_cuda_kernel(lt_cuda_dropout_forward<__nv_bfloat16>, lt_cuda_dropout_backward);
}
