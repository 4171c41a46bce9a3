/* The op descriptor table, expanded once from kernels/ops.def. */
#include "core/ops/ops.h"

/* The state column: the op's freeze function, or none. */
#define LT_FREEZE_STATELESS(name) NULL
#define LT_FREEZE_UPDATES_STATE(name) lt_freeze_##name

const struct lt_op_desc lt_op_descs[LT_OP_COUNT] = {
#define LT_OP(ID, name_, min_in_, max_in_, n_out_, attrs_, has_bwd, reads, prec, state)        \
    [LT_OP_##ID] = {.name = #name_,                                                            \
                    .min_in = min_in_,                                                         \
                    .max_in = max_in_,                                                         \
                    .n_out = n_out_,                                                           \
                    .attrs_size = sizeof(struct attrs_),                                       \
                    .has_backward = has_bwd,                                                   \
                    .backward_reads = reads,                                                   \
                    .precision = prec,                                                         \
                    .infer = lt_infer_##name_,                                                 \
                    .freeze_state = LT_FREEZE_##state(name_)},
#include "kernels/ops.def"
#undef LT_OP
};
