/* The id check of the ops that index with i32 tensors (embedding, index_select, gather):
 * every id must lie in [0, size) before any memory is read through it. */
#include <stdio.h>

#include "kernels/cpu/cpu_kernels.h"

/* Writes the multi-dim index of flat position `pos` in `v`, as "(1, 4)". */
static void index_str(const struct lt_kview *v, int64_t pos, char *buf, size_t size) {
    int64_t idx[LT_MAX_DIMS];
    for (int i = v->ndim - 1; i >= 0; i--) {
        idx[i] = v->shape[i] ? pos % v->shape[i] : 0;
        pos = v->shape[i] ? pos / v->shape[i] : 0;
    }
    size_t n = (size_t)snprintf(buf, size, "(");
    for (int i = 0; i < v->ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, i ? ", %lld" : "%lld", (long long)idx[i]);
    if (n < size)
        snprintf(buf + n, size - n, v->ndim == 1 ? ",)" : ")");
}

enum lt_status lt_cpu_check_ids(const struct lt_kargs *a, const struct lt_kview *ids,
                                int64_t size) {
    const int32_t *id = ids->data;
    int64_t n = lt_kview_numel(ids);
    for (int64_t i = 0; i < n; i++) {
        if (id[i] >= 0 && id[i] < size)
            continue;
        char where[128];
        index_str(ids, i, where, sizeof where);
        snprintf(a->msg, LT_KMSG_SIZE, "id %d at %s is outside [0, %lld)", (int)id[i], where,
                 (long long)size);
        return LT_EINVAL;
    }
    return LT_OK;
}
