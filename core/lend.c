/* Memory lent between programs that never run at the same time: a trainer's plans, and
 * the evaluation programs run between its steps. What lives within one run (activations,
 * temporaries, workspace) can sit in another program's arena of any of those kinds. */
#include "core/mem.h"

static int shareable(int c) {
    return c == LT_MEM_ACTIVATIONS || c == LT_MEM_TEMPORARIES || c == LT_MEM_WORKSPACE;
}

void lt_mem_lend(const size_t *have, const size_t *need, int *lend) {
    int taken[LT_MEM_COUNT] = {0}, decided[LT_MEM_COUNT] = {0};
    for (int c = 0; c < LT_MEM_COUNT; c++)
        lend[c] = -1;
    for (;;) { /* the largest need not yet decided chooses next */
        int c = -1;
        for (int k = 0; k < LT_MEM_COUNT; k++)
            if (shareable(k) && need[k] && !decided[k] && (c < 0 || need[k] > need[c]))
                c = k;
        if (c < 0)
            return;
        decided[c] = 1;
        int best = -1; /* the smallest free arena that holds it */
        for (int k = 0; k < LT_MEM_COUNT; k++)
            if (shareable(k) && !taken[k] && have[k] >= need[c] &&
                (best < 0 || have[k] < have[best]))
                best = k;
        if (best >= 0) {
            lend[c] = best;
            taken[best] = 1;
        }
    }
}

size_t lt_mem_extra(const struct lt_mem_report *have, const struct lt_mem_report *need) {
    int lend[LT_MEM_COUNT];
    lt_mem_lend(have->bytes, need->bytes, lend);
    size_t extra = 0;
    for (int c = 0; c < LT_MEM_COUNT; c++)
        extra += lend[c] < 0 ? need->bytes[c] : 0;
    return extra;
}
