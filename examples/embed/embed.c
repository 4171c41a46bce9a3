/* An example host: a C program with data of its own — here four Gaussian blobs in 16
 * dimensions, generated in memory — that trains the recipe beside it (recipe.lua) through
 * lutra's host API, feeding its data through a callback and printing progress from C.
 * Ctrl-C asks the run to stop: it ends after the current step with a checkpoint.
 *
 *   make && ./embed [RECIPE [WORK_DIR]]      (RECIPE: recipe.lua, WORK_DIR: work_dirs)
 *
 * Exit status: 0 when the run ended and its loss fell, 1 otherwise. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lutra_host.h>

#define DIM 16
#define CLASSES 4

/* The host's data: x (n, DIM) f32, y (n) class indices. */
struct blobs {
    int64_t n;
    float *x;
    int32_t *y;
};

/* A uniform number in [0, 1) from a 64-bit LCG state. */
static double uniform(uint64_t *s) {
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* n samples: class c's centre is 1.5 on axes c, c + 4, c + 8, c + 12, plus unit noise. */
static int make_blobs(struct blobs *b, int64_t n, uint64_t seed) {
    b->n = n;
    b->x = malloc((size_t)n * DIM * sizeof *b->x);
    b->y = malloc((size_t)n * sizeof *b->y);
    if (!b->x || !b->y)
        return -1;
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(uniform(&seed) * CLASSES);
        b->y[i] = c;
        for (int d = 0; d < DIM; d++) {
            /* Box-Muller: a standard normal from two uniforms */
            double u = uniform(&seed) + 1e-12, v = uniform(&seed);
            double noise = sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
            b->x[i * DIM + d] = (float)((d % CLASSES == c ? 1.5 : 0.0) + noise);
        }
    }
    return 0;
}

/* lutra's fill callback: samples idx[0 .. n-1] into the batch buffers lutra hands over,
 * x (n, DIM) and y (n), row after row. */
static int fill(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                char *msg, size_t msg_size) {
    (void)epoch;
    const struct blobs *b = user;
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= b->n) {
            snprintf(msg, msg_size, "blobs: no sample %lld", (long long)idx[i]);
            return -1;
        }
        memcpy((float *)x + i * DIM, b->x + idx[i] * DIM, DIM * sizeof(float));
        ((int32_t *)y)[i] = b->y[idx[i]];
    }
    return 0;
}

static struct lt_source source_of(struct blobs *b, const char *origin) {
    struct lt_source s = {
        .size = b->n,
        .x = {.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {DIM}},
        .y = {.dtype = LT_DTYPE_I32, .ndim = 0},
        .classes = CLASSES,
        .fill = fill,
        .user = b,
        .thread_safe = 1, /* fill only reads: the loader's threads may call it at once */
        .origin = origin,
    };
    return s;
}

/* What the step callback keeps: the first and the last loss. */
struct progress {
    double first, last;
};

static void on_step(void *user, const struct lt_run_stats *s) {
    struct progress *p = user;
    if (s->iter == 1)
        p->first = s->loss;
    p->last = s->loss;
    if (s->iter % 25 == 0 || s->iter == s->max_iters)
        printf("step %4lld/%lld  loss %.4f  lr %.4f  %6.0f samples/s  %.1f KiB (params %.1f)\n",
               (long long)s->iter, (long long)s->max_iters, s->loss, s->lr, s->samples_per_s,
               s->memory.total / 1024.0, s->memory.bytes[LT_MEM_PARAMS] / 1024.0);
}

/* The run Ctrl-C stops: lt_run_stop is safe in a signal handler. */
static struct lt_run *volatile running;

static void on_sigint(int sig) {
    (void)sig;
    if (running)
        lt_run_stop(running);
}

int main(int argc, char **argv) {
    const char *recipe = argc > 1 ? argv[1] : "recipe.lua";
    const char *work_dir = argc > 2 ? argv[2] : "work_dirs";
    struct blobs train, test;
    if (make_blobs(&train, 2000, 1) != 0 || make_blobs(&test, 400, 2) != 0) {
        fprintf(stderr, "embed: out of memory\n");
        return 1;
    }
    struct lt_run *run;
    struct lt_run_options o = {.quiet = 1}; /* this program prints the progress */
    enum lt_status st = lt_run_new(&o, &run);
    struct progress p = {NAN, NAN};
    if (st == LT_OK)
        lt_run_on_step(run, on_step, &p);
    struct lt_source tr = source_of(&train, "blobs train"), te = source_of(&test, "blobs test");
    if (st == LT_OK)
        st = lt_run_add_source(run, "blobs", &tr, &te);
    char wd[4200];
    snprintf(wd, sizeof wd, "work_dir=\"%s\"", work_dir);
    const char *sets[] = {wd};
    if (st == LT_OK)
        st = lt_run_load_file(run, recipe, 1, sets);
    if (st == LT_OK)
        st = lt_run_build(run);
    if (st == LT_OK) {
        printf("training %s into %s\n", recipe, lt_run_dir(run));
        running = run;
        signal(SIGINT, on_sigint);
        st = lt_run_train(run);
        signal(SIGINT, SIG_DFL);
        running = NULL;
    }
    struct lt_run_eval e;
    if (st == LT_OK)
        st = lt_run_evaluate(run, &e);
    int code = 1;
    if (st != LT_OK) {
        fprintf(stderr, "embed: %s\n", run ? lt_run_error(run) : "out of memory");
    } else {
        printf("test accuracy %.4f, loss %.4f (%lld samples); loss fell from %.4f to %.4f\n",
               e.accuracy, e.loss, (long long)e.count, p.first, p.last);
        code = p.last < p.first ? 0 : 1;
    }
    lt_run_free(run);
    free(train.x);
    free(train.y);
    free(test.x);
    free(test.y);
    return code;
}
