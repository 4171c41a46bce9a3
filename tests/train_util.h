/* Test support for training through the C API: an MLP builder and synthetic data. */
#ifndef LT_TRAIN_UTIL_H
#define LT_TRAIN_UTIL_H

#include "core/lutra.h"

#define MLP_MAX_LAYERS 4

/* Fails the running test with the context's message unless st is LT_OK. */
void check_ok(struct lt_ctx *ctx, enum lt_status st, const char *call, int line);
#define CHECK(ctx, call) check_ok((ctx), (call), #call, __LINE__)

struct mlp {
    struct lt_graph *g;
    int x, y, logits, loss;
    int n_layers;
    struct lt_tensor *w[MLP_MAX_LAYERS], *b[MLP_MAX_LAYERS];
};

/* x (batch, sizes[0]) -> [linear -> relu -> dropout(p)] ... -> linear -> logits
 * (batch, sizes[n_layers]) -> cross_entropy against y i32 (batch). Weights and biases
 * get PyTorch's default Linear init, U(-1/sqrt(in), 1/sqrt(in)), from the context's
 * seed. Dropout is left out when p == 0. */
void mlp_build(struct lt_ctx *ctx, struct mlp *m, int64_t batch, const int *sizes,
               int n_layers, float dropout);

/* A second graph over the same parameter tensors, without dropout or loss: x -> logits.
 * For evaluation with lt_forward. */
void mlp_build_eval(struct lt_ctx *ctx, const struct mlp *train, struct mlp *eval, int64_t batch,
                    const int *sizes);
void mlp_free(struct mlp *m);

/* Trains `epochs` passes over (x, y) in batches of `batch` rows (the remainder dropped),
 * asserting no step is skipped; returns the first and last step's loss. */
void train_epochs(struct lt_ctx *ctx, struct lt_trainer *tr, struct lt_tensor *x,
                  struct lt_tensor *y, int64_t batch, int epochs, double *first, double *last);

/* A small model built node by node: its graph, its loss, and the tensors it owns. */
#define NET_MAX_TENSORS 32
struct net {
    struct lt_graph *g;
    int loss;
    struct lt_tensor *t[NET_MAX_TENSORS];
    int n;
};

void net_begin(struct lt_ctx *ctx, struct net *m);
/* A parameter (with `state`: a state tensor) of the shape: uniform in [-0.3, 0.3) from a
 * stream fixed by its number, or filled with init when init >= 0; so that two builds
 * start equal. Returns its value. */
int net_tensor(struct lt_ctx *ctx, struct net *m, int state, int ndim, const int64_t *shape,
               double init);
/* Adds an op; returns its output 0. */
int net_op(struct lt_ctx *ctx, struct net *m, enum lt_op op, int n, const int *in,
           const void *attrs);
void net_free(struct net *m);

/* A net planned in `half` (unless it is f32; with options o, NULL for none) under SGD
 * with momentum, and its trainer: g is the graph planned, m's own or its mixed copy. */
struct net_run {
    struct lt_graph *g;
    struct lt_plan *p;
    struct lt_trainer *t;
};
void net_run_begin(struct lt_ctx *ctx, struct net *m, enum lt_dtype half,
                   const struct lt_plan_options *o, struct net_run *r);
/* Frees the trainer, the plan and a mixed copy of the graph. */
void net_run_end(struct net *m, struct net_run *r);

/* Trains `steps` steps of the same two micro-batches (in: x, y of the first, then of the
 * second), each step applied and not skipped; the losses. before(t, arg), when not NULL,
 * runs before each step. */
void net_steps(struct lt_ctx *ctx, struct lt_trainer *t, struct lt_tensor *const *in, int steps,
               double *losses, void (*before)(struct lt_trainer *, void *), void *arg);

/* Plans the net (in `half` unless it is f32; with options o, NULL for none) under SGD
 * with momentum, and trains `steps` steps of the same two micro-batches of images of
 * shape x_shape with 5 classes (from fixed streams), each step applied; the losses.
 * inspect(plan, trainer, arg), when not NULL, runs before both are freed. */
void net_train(struct lt_ctx *ctx, struct net *m, enum lt_dtype half,
               const struct lt_plan_options *o, const int64_t *x_shape, int steps,
               double *losses, void (*inspect)(struct lt_plan *, struct lt_trainer *, void *),
               void *arg);

/* Asserts that two trainings of one net's two builds, a and b, gave the same `steps`
 * losses and left the same parameters and state, bit for bit; `what` names the pair in
 * a failure. */
void assert_same_training(const struct net *a, const struct net *b, const double *loss_a,
                          const double *loss_b, int steps, const char *what);

/* One context per cmocka suite: defines `ctx` and the group setup/teardown that make
 * and free it (pass `setup, teardown` to cmocka_run_group_tests_name). */
#define SUITE_CONTEXT                                                                          \
    static struct lt_ctx *ctx;                                                                 \
    static int setup(void **state) {                                                           \
        (void)state;                                                                           \
        return lt_ctx_new(&ctx) == LT_OK ? 0 : -1;                                             \
    }                                                                                          \
    static int teardown(void **state) {                                                        \
        (void)state;                                                                           \
        lt_ctx_free(ctx);                                                                      \
        return 0;                                                                              \
    }

/* n points in `dim` dims around `classes` well separated centres (x f32 (n, dim),
 * y i32 (n)), from (seed, stream). */
void blobs_make(struct lt_ctx *ctx, int64_t n, int dim, int classes, uint64_t stream,
                struct lt_tensor **x, struct lt_tensor **y);

/* Fraction of rows of x classified right by the eval graph. */
double mlp_accuracy(struct lt_ctx *ctx, struct mlp *eval, struct lt_tensor *x, struct lt_tensor *y,
                    int64_t batch);

#endif
