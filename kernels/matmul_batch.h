/* The batch of a matmul that broadcasts, as torch.matmul's: out (batch..., M, N) =
 * a (a_batch..., M, K) @ b (b_batch..., K, N), the batch dims lined up from the right, a
 * missing or size-1 dim repeated. Every backend walks the output's batch with it; shape
 * inference checked that the dims broadcast. Plain C, also compiled as CUDA C++.
 */
#ifndef LT_MATMUL_BATCH_H
#define LT_MATMUL_BATCH_H

#include "kernels/kernels.h"

/* The output's batch as nd dims, dims of size 1 dropped and neighbours merged where both
 * operands step through them as through one dim. Entry t of the output batch (row-major
 * over shape) reads a's matrix at sum idx[i] * sa[i] and b's at sum idx[i] * sb[i]
 * (counted in matrices; a stride of 0 repeats the operand along that dim). */
struct lt_mm_batch {
    int nd; /* >= 1 */
    int64_t shape[LT_MAX_DIMS];
    int64_t sa[LT_MAX_DIMS], sb[LT_MAX_DIMS];
    int64_t count, a_count, b_count; /* matrices in out, a and b */
};

/* The batch of a @ b (both at least 2-D, broadcastable). Cannot fail. */
static inline struct lt_mm_batch lt_mm_batch_of(const struct lt_kview *a,
                                                const struct lt_kview *b) {
    struct lt_mm_batch w;
    int la = a->ndim - 2, lb = b->ndim - 2, n = la > lb ? la : lb;
    int64_t st_a = 1, st_b = 1, sa[LT_MAX_DIMS], sb[LT_MAX_DIMS], shape[LT_MAX_DIMS];
    w.a_count = w.b_count = w.count = 1;
    for (int i = n - 1; i >= 0; i--) {
        int ia = i - (n - la), ib = i - (n - lb);
        int64_t da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
        shape[i] = da == 1 ? db : da; /* as shape inference: (0, 1) gives 0 */
        sa[i] = da == 1 ? 0 : st_a;
        sb[i] = db == 1 ? 0 : st_b;
        st_a *= da;
        st_b *= db;
        w.count *= shape[i];
    }
    w.a_count = st_a;
    w.b_count = st_b;
    w.nd = 0;
    for (int i = 0; i < n; i++) {
        if (shape[i] == 1)
            continue;
        int k = w.nd - 1;
        if (k >= 0 && w.sa[k] == sa[i] * shape[i] && w.sb[k] == sb[i] * shape[i]) {
            w.shape[k] *= shape[i];
            w.sa[k] = sa[i];
            w.sb[k] = sb[i];
        } else {
            w.shape[w.nd] = shape[i];
            w.sa[w.nd] = sa[i];
            w.sb[w.nd] = sb[i];
            w.nd++;
        }
    }
    if (w.nd == 0) {
        w.nd = 1;
        w.shape[0] = 1;
        w.sa[0] = w.sb[0] = 0;
    }
    return w;
}

/* The matrices of a and b that output batch entry t (in [0, count)) reads. Cannot fail. */
static inline void lt_mm_batch_at(const struct lt_mm_batch *w, int64_t t, int64_t *ia,
                                  int64_t *ib) {
    int64_t oa = 0, ob = 0;
    for (int i = w->nd - 1; i >= 0; i--) {
        int64_t x = t % w->shape[i];
        t /= w->shape[i];
        oa += x * w->sa[i];
        ob += x * w->sb[i];
    }
    *ia = oa;
    *ib = ob;
}

#endif
