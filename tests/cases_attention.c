/* scaled_dot_product_attention's case table: causal and not, lengths across the fast
 * paths' query (32) and key (64) blocks and of 1, more or fewer queries than keys, head
 * dims that are no multiple of a vector, no leading dims, an explicit scale, dropout. */
#include "tests/op_check.h"

#define SDPA LT_OP_SCALED_DOT_PRODUCT_ATTENTION

static const struct lt_attention_attrs plain = {0}, causal = {.causal = 1};
static const struct lt_attention_attrs scaled = {.scale = 0.3f};
static const struct lt_attention_attrs causal_dropout = {.causal = 1, .dropout = 0.25f, .layer = 5};
static const struct lt_attention_attrs dropout = {.dropout = 0.5f, .layer = 2};

/* q (..., tq, d), k (..., tk, d), v (..., tk, dv) with leading dims b, h */
#define QKV(b, h, tq, tk, d, dv)                                                                   \
    IN_F32(4, b, h, tq, d), IN_F32(4, b, h, tk, d), IN_F32(4, b, h, tk, dv)

const struct op_case attention_cases[] = {
    OP_CASE("attention (2, 3, 5, 4)", SDPA, &plain, QKV(2, 3, 5, 5, 4, 4)),
    OP_CASE("attention causal (2, 3, 5, 4)", SDPA, &causal, QKV(2, 3, 5, 5, 4, 4)),
    /* past one key block and two query blocks, neither a multiple of them */
    OP_CASE("attention causal (2, 67, 5) 3-D", SDPA, &causal, IN_F32(3, 2, 67, 5),
            IN_F32(3, 2, 67, 5), IN_F32(3, 2, 67, 5)),
    OP_CASE("attention (1, 67, 3) 3-D, Dv 6", SDPA, &plain, IN_F32(3, 1, 67, 3),
            IN_F32(3, 1, 67, 3), IN_F32(3, 1, 67, 6)),
    OP_CASE("attention causal T = 1", SDPA, &causal, QKV(2, 1, 1, 1, 3, 3)),
    OP_CASE("attention Tq 3 != Tk 7, Dv 6", SDPA, &plain, QKV(2, 2, 3, 7, 4, 6)),
    /* top-left alignment: rows past Tk see every key */
    OP_CASE("attention causal Tq 6 > Tk 4", SDPA, &causal, QKV(1, 2, 6, 4, 3, 5)),
    OP_CASE("attention causal Tq 3 < Tk 7", SDPA, &causal, QKV(1, 2, 3, 7, 3, 2)),
    OP_CASE("attention (7, 13) no leading dims", SDPA, &plain, IN_F32(2, 7, 13), IN_F32(2, 7, 13),
            IN_F32(2, 7, 13)),
    OP_CASE("attention scale 0.3 (2, 2, 6, 5)", SDPA, &scaled, QKV(2, 2, 6, 6, 5, 5)),
    OP_CASE("attention causal dropout 0.25 (2, 2, 6, 4)", SDPA, &causal_dropout,
            QKV(2, 2, 6, 6, 4, 4)),
    OP_CASE("attention dropout 0.5 Tq 4 != Tk 9", SDPA, &dropout, QKV(3, 1, 4, 9, 3, 3)),
    /* 32 heads: the fast backward runs one task per head (its dq rows held whole) */
    OP_CASE("attention causal 32 heads (8, 4, 5, 3)", SDPA, &causal, QKV(8, 4, 5, 5, 3, 3)),
    OP_CASE("attention dropout 0.5 32 heads Tq 4 != Tk 9", SDPA, &dropout, QKV(4, 8, 4, 9, 3, 2)),
    OP_CASE("attention causal 32 heads Tq 6 > Tk 4", SDPA, &causal, QKV(8, 4, 6, 4, 3, 5)),
    /* without q's gradient: the dk / dv pass alone, on the per-head shapes */
    OP_CASE_NO_GRAD("attention causal 32 heads, no gradient for q", SDPA, &causal, 1u,
                    QKV(8, 4, 5, 5, 3, 3)),
};
const int attention_case_count = (int)(sizeof attention_cases / sizeof attention_cases[0]);
