/* Test support for training through the C API: an MLP builder, small models built node
 * by node (struct net), and synthetic data. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/train_util.h"

#define OK(call) assert_int_equal((call), LT_OK)

void check_ok(struct lt_ctx *ctx, enum lt_status st, const char *call, int line) {
    if (st != LT_OK)
        fail_msg("line %d: %s failed (%d): %s", line, call, st, lt_ctx_error(ctx));
}

static int linear_layer(struct lt_ctx *ctx, struct mlp *m, int layer, int in, int out, int h) {
    char name[32];
    int wv, bv, y;
    snprintf(name, sizeof name, "%d.weight", layer);
    OK(lt_graph_param(m->g, m->w[layer], name, 0, &wv));
    snprintf(name, sizeof name, "%d.bias", layer);
    OK(lt_graph_param(m->g, m->b[layer], name, 1, &bv));
    (void)ctx;
    (void)in;
    (void)out;
    OK(lt_graph_op(m->g, LT_OP_LINEAR, 3, (int[]){h, wv, bv}, NULL, &y));
    return y;
}

static void build_body(struct lt_ctx *ctx, struct mlp *m, int64_t batch, const int *sizes,
                       float dropout, int with_loss) {
    OK(lt_graph_new(ctx, &m->g));
    OK(lt_graph_input(m->g, LT_DTYPE_F32, 2, (int64_t[]){batch, sizes[0]}, "x", &m->x));
    if (with_loss)
        OK(lt_graph_input(m->g, LT_DTYPE_I32, 1, (int64_t[]){batch}, "y", &m->y));
    int h = m->x;
    for (int l = 0; l < m->n_layers; l++) {
        h = linear_layer(ctx, m, l, sizes[l], sizes[l + 1], h);
        if (l == m->n_layers - 1)
            break;
        OK(lt_graph_op(m->g, LT_OP_RELU, 1, &h, NULL, &h));
        if (dropout > 0) {
            struct lt_dropout_attrs d = {dropout, (uint32_t)l};
            OK(lt_graph_op(m->g, LT_OP_DROPOUT, 1, &h, &d, &h));
        }
    }
    m->logits = h;
    if (with_loss) {
        struct lt_cross_entropy_attrs ce = {0, -100};
        OK(lt_graph_op(m->g, LT_OP_CROSS_ENTROPY, 2, (int[]){m->logits, m->y}, &ce, &m->loss));
    }
}

void mlp_build(struct lt_ctx *ctx, struct mlp *m, int64_t batch, const int *sizes,
               int n_layers, float dropout) {
    m->n_layers = n_layers;
    for (int l = 0; l < n_layers; l++) {
        double bound = 1.0 / sqrt(sizes[l]);
        OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){sizes[l + 1], sizes[l]}, &m->w[l]));
        OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){sizes[l + 1]}, &m->b[l]));
        OK(lt_tensor_uniform(ctx, m->w[l], 2 * (uint64_t)l, -bound, bound));
        OK(lt_tensor_uniform(ctx, m->b[l], 2 * (uint64_t)l + 1, -bound, bound));
    }
    build_body(ctx, m, batch, sizes, dropout, 1);
}

void mlp_build_eval(struct lt_ctx *ctx, const struct mlp *train, struct mlp *eval, int64_t batch,
                    const int *sizes) {
    eval->n_layers = train->n_layers;
    for (int l = 0; l < train->n_layers; l++) {
        eval->w[l] = lt_tensor_retain(train->w[l]);
        eval->b[l] = lt_tensor_retain(train->b[l]);
    }
    build_body(ctx, eval, batch, sizes, 0, 0);
}

void mlp_free(struct mlp *m) {
    lt_graph_free(m->g);
    for (int l = 0; l < m->n_layers; l++) {
        lt_tensor_free(m->w[l]);
        lt_tensor_free(m->b[l]);
    }
}

void blobs_make(struct lt_ctx *ctx, int64_t n, int dim, int classes, uint64_t stream,
                struct lt_tensor **x, struct lt_tensor **y) {
    struct lt_tensor *centres, *noise, *pick;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){classes, dim}, &centres));
    OK(lt_tensor_normal(ctx, centres, 1000, 0, 3));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){n, dim}, &noise));
    OK(lt_tensor_normal(ctx, noise, 1001 + stream, 0, 1));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 1, (int64_t[]){n}, &pick));
    OK(lt_tensor_uniform(ctx, pick, 2001 + stream, 0, classes));
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, (int64_t[]){n, dim}, x));
    OK(lt_tensor_new(ctx, LT_DTYPE_I32, 1, (int64_t[]){n}, y));
    for (int64_t i = 0; i < n; i++) {
        int c = (int)lt_tensor_get(pick, i);
        lt_tensor_set(*y, i, c);
        for (int d = 0; d < dim; d++)
            lt_tensor_set(*x, i * dim + d,
                          lt_tensor_get(centres, c * dim + d) + lt_tensor_get(noise, i * dim + d));
    }
    lt_tensor_free(centres);
    lt_tensor_free(noise);
    lt_tensor_free(pick);
}

void train_epochs(struct lt_ctx *ctx, struct lt_trainer *tr, struct lt_tensor *x,
                  struct lt_tensor *y, int64_t batch, int epochs, double *first, double *last) {
    int64_t n = lt_tensor_shape(x)[0];
    for (int e = 0; e < epochs; e++)
        for (int64_t s = 0; s + batch <= n; s += batch) {
            struct lt_tensor *xs, *ys;
            CHECK(ctx, lt_tensor_slice(ctx, x, s, batch, &xs));
            CHECK(ctx, lt_tensor_slice(ctx, y, s, batch, &ys));
            struct lt_step_input in = {1, (struct lt_tensor *[]){xs, ys}, (uint32_t)e, s, NULL};
            struct lt_step_result r;
            CHECK(ctx, lt_trainer_step(tr, &in, &r));
            assert_false(r.skipped);
            if (e == 0 && s == 0 && first)
                *first = r.loss;
            if (last)
                *last = r.loss;
            lt_tensor_free(xs);
            lt_tensor_free(ys);
        }
}

double mlp_accuracy(struct lt_ctx *ctx, struct mlp *eval, struct lt_tensor *x, struct lt_tensor *y,
                    int64_t batch) {
    struct lt_forward *f;
    OK(lt_forward_new(ctx, eval->g, 1, &eval->logits, &f));
    int64_t shape[LT_MAX_DIMS];
    lt_graph_value_shape(eval->g, eval->logits, NULL, shape);
    struct lt_tensor *logits;
    OK(lt_tensor_new(ctx, LT_DTYPE_F32, 2, shape, &logits));
    int64_t n = lt_tensor_shape(x)[0], right = 0, seen = 0;
    for (int64_t start = 0; start + batch <= n; start += batch) {
        struct lt_tensor *xs;
        OK(lt_tensor_slice(ctx, x, start, batch, &xs));
        OK(lt_forward_run(f, &xs, &logits, 0, 0));
        for (int64_t r = 0; r < batch; r++) {
            int best = 0;
            for (int c = 1; c < shape[1]; c++)
                if (lt_tensor_get(logits, r * shape[1] + c) > lt_tensor_get(logits, r * shape[1] + best))
                    best = c;
            right += best == (int)lt_tensor_get(y, start + r);
            seen++;
        }
        lt_tensor_free(xs);
    }
    lt_tensor_free(logits);
    lt_forward_free(f);
    return (double)right / (double)seen;
}

void net_begin(struct lt_ctx *ctx, struct net *m) {
    memset(m, 0, sizeof *m);
    CHECK(ctx, lt_graph_new(ctx, &m->g));
}

int net_tensor(struct lt_ctx *ctx, struct net *m, int state, int ndim, const int64_t *shape,
               double init) {
    assert_true(m->n < NET_MAX_TENSORS);
    struct lt_tensor *t;
    CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, ndim, shape, &t));
    if (init < 0)
        CHECK(ctx, lt_tensor_uniform(ctx, t, (uint64_t)m->n + 100, -0.3, 0.3));
    else
        lt_tensor_fill(t, init);
    m->t[m->n++] = t;
    int v;
    if (state)
        CHECK(ctx, lt_graph_state(m->g, t, "s", &v));
    else
        CHECK(ctx, lt_graph_param(m->g, t, "p", 0, &v));
    return v;
}

int net_op(struct lt_ctx *ctx, struct net *m, enum lt_op op, int n, const int *in,
           const void *attrs) {
    int v[LT_MAX_OUTPUTS];
    CHECK(ctx, lt_graph_op(m->g, op, n, in, attrs, v));
    return v[0];
}

void net_free(struct net *m) {
    lt_graph_free(m->g);
    for (int i = 0; i < m->n; i++)
        lt_tensor_free(m->t[i]);
}

void net_steps(struct lt_ctx *ctx, struct lt_trainer *t, struct lt_tensor *const *in, int steps,
               double *losses, void (*before)(struct lt_trainer *, void *), void *arg) {
    for (int s = 0; s < steps; s++) {
        if (before)
            before(t, arg);
        struct lt_step_input si = {2, in, (uint32_t)s, 0, NULL};
        struct lt_step_result r;
        CHECK(ctx, lt_trainer_step(t, &si, &r));
        assert_false(r.skipped);
        losses[s] = r.loss;
    }
}

void net_run_begin(struct lt_ctx *ctx, struct net *m, enum lt_dtype half,
                   const struct lt_plan_options *o, struct net_run *r) {
    r->g = m->g;
    int loss = m->loss;
    if (half != LT_DTYPE_F32) {
        int map[256];
        assert_true(lt_graph_value_count(m->g) <= 256);
        CHECK(ctx, lt_graph_mixed(ctx, m->g, half, &r->g, map));
        loss = map[m->loss];
    }
    struct lt_optim_config opt = lt_optim_defaults(LT_OPTIM_SGD, 0.05f);
    opt.momentum = 0.9f;
    CHECK(ctx, lt_plan_new_with(ctx, r->g, loss, &opt, o, &r->p));
    CHECK(ctx, lt_trainer_new(ctx, r->p, &r->t));
}

void net_run_end(struct net *m, struct net_run *r) {
    lt_trainer_free(r->t);
    lt_plan_free(r->p);
    if (r->g != m->g)
        lt_graph_free(r->g);
}

void net_train(struct lt_ctx *ctx, struct net *m, enum lt_dtype half,
               const struct lt_plan_options *o, const int64_t *x_shape, int steps, double *losses,
               void (*inspect)(struct lt_plan *, struct lt_trainer *, void *), void *arg) {
    struct net_run r;
    net_run_begin(ctx, m, half, o, &r);
    struct lt_tensor *x[2], *y[2];
    for (int k = 0; k < 2; k++) {
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_F32, 4, x_shape, &x[k]));
        CHECK(ctx, lt_tensor_normal(ctx, x[k], 7 + (uint64_t)k, 0, 1));
        CHECK(ctx, lt_tensor_new(ctx, LT_DTYPE_I32, 1, x_shape, &y[k]));
        for (int64_t i = 0; i < x_shape[0]; i++)
            lt_tensor_set(y[k], i, (double)((i * 3 + k) % 5));
    }
    net_steps(ctx, r.t, (struct lt_tensor *[]){x[0], y[0], x[1], y[1]}, steps, losses, NULL, NULL);
    if (inspect)
        inspect(r.p, r.t, arg);
    for (int k = 0; k < 2; k++) {
        lt_tensor_free(x[k]);
        lt_tensor_free(y[k]);
    }
    net_run_end(m, &r);
}

void assert_same_training(const struct net *a, const struct net *b, const double *loss_a,
                          const double *loss_b, int steps, const char *what) {
    for (int s = 0; s < steps; s++)
        if (memcmp(&loss_a[s], &loss_b[s], sizeof(double)))
            fail_msg("%s, step %d: loss %.17g against %.17g", what, s, loss_a[s], loss_b[s]);
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        size_t bytes = (size_t)lt_tensor_numel(a->t[i]) * lt_dtype_bytes(lt_tensor_dtype(a->t[i]));
        if (memcmp(lt_tensor_data(a->t[i]), lt_tensor_data(b->t[i]), bytes))
            fail_msg("%s: tensor %d differs after the steps", what, i);
    }
}
