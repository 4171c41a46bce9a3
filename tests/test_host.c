/* The host API (core/lutra_host.h): a C host's data set trains a recipe; two runs on two
 * threads give the parameters each gives alone, bit for bit; a fill that fails stops the
 * run with its message (the caller's and train.log's); a stop request ends the run at the
 * next step boundary with a checkpoint; n steps, evaluation and a checkpoint on demand;
 * bad recipes and names are refused with a message; a run in the host's own Lua state
 * releases its data when freed and leaves the state usable; a failed build is not built
 * again; a failed evaluation leaves the run usable; the step callback cannot re-enter its
 * run (lt_run_free from it is deferred); a run that did not open refuses every call.
 * Recipes are strings; the Lua files come from the source tree's lua/ (the suite runs from
 * the repository root). */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "core/lutra_host.h"
#include "tests/tmpdir.h"

#define DIM 8
#define CLASSES 3

/* A synthetic data set the host holds: CLASSES blobs in DIM dimensions. fail_at > 0 makes
 * the fill_at-th call of fill fail with a message, as a broken sensor would. released
 * counts the calls of release, late the calls of fill after it. */
struct blobs {
    int64_t n;
    float x[512 * DIM];
    int32_t y[512];
    int calls, fail_at;
    int released, late;
};

static void make_blobs(struct blobs *b, int64_t n, uint32_t seed) {
    memset(b, 0, sizeof *b);
    b->n = n;
    uint32_t s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i % CLASSES);
        b->y[i] = c;
        for (int d = 0; d < DIM; d++) {
            s = s * 1664525u + 1013904223u;
            float noise = (float)(s >> 8) / (float)(1u << 24) - 0.5f;
            b->x[i * DIM + d] = (d % CLASSES == c ? 1.5f : 0.0f) + noise;
        }
    }
}

static int fill(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                char *msg, size_t msg_size) {
    (void)epoch;
    struct blobs *b = user;
    if (b->released)
        b->late++;
    if (b->fail_at > 0 && ++b->calls == b->fail_at) {
        snprintf(msg, msg_size, "blobs: sensor 3 stopped answering");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy((float *)x + i * DIM, b->x + idx[i] * DIM, DIM * sizeof(float));
        ((int32_t *)y)[i] = b->y[idx[i]];
    }
    return 0;
}

static void release(void *user) {
    ((struct blobs *)user)->released++;
}

static struct lt_source source_of(struct blobs *b, const char *origin) {
    struct lt_source s = {
        .size = b->n,
        .x = {.dtype = LT_DTYPE_F32, .ndim = 1, .shape = {DIM}},
        .y = {.dtype = LT_DTYPE_I32, .ndim = 0},
        .classes = CLASSES,
        .fill = fill,
        .user = b,
        .caller_thread = 1,
        .origin = origin,
    };
    return s;
}

static const char *RECIPE =
    "data = {dataset = 'host:blobs', batch_size = 16}\n"
    "model = {type = 'mlp', in_features = 8, hidden = {16}, num_classes = 3}\n"
    "optim = {type = 'sgd', lr = 0.1, momentum = 0.9}\n"
    "schedule = {warmup_iters = 0}\n"
    "runner = {max_iters = 24, log_interval = 8, eval_interval = 24, checkpoint_interval = 0}\n"
    "threads = 2\n";

/* One run of RECIPE over its own blobs, with overrides for its seed and work dir. */
struct job {
    struct blobs train, test;
    char work_dir[512];
    uint32_t seed;
    struct lt_run *run;
    enum lt_status st;
    char error[1024];
    char final_path[1024];
};

/* Makes and loads the job's run (not yet trained), with one more override when extra is
 * not NULL. */
static void open_job_with(struct job *j, const char *extra) {
    struct lt_run_options o = {.lua_dir = "lua", .quiet = 1};
    assert_int_equal(lt_run_new(&o, &j->run), LT_OK);
    struct lt_source tr = source_of(&j->train, "blobs train");
    struct lt_source te = source_of(&j->test, "blobs test");
    assert_int_equal(lt_run_add_source(j->run, "blobs", &tr, &te), LT_OK);
    char seed[64], wd[600];
    snprintf(seed, sizeof seed, "seed=%u", j->seed);
    snprintf(wd, sizeof wd, "work_dir=\"%s\"", j->work_dir);
    const char *sets[] = {seed, wd, extra};
    enum lt_status st =
        lt_run_load_string(j->run, "tests/host_recipe.lua", RECIPE, extra ? 3 : 2, sets);
    if (st != LT_OK)
        print_error("%s\n", lt_run_error(j->run));
    assert_int_equal(st, LT_OK);
}

static void open_job(struct job *j) {
    open_job_with(j, NULL);
}

static void init_job(struct job *j, const char *dir, const char *name, uint32_t seed) {
    memset(j, 0, sizeof *j);
    make_blobs(&j->train, 240, seed);
    make_blobs(&j->test, 60, seed + 100);
    snprintf(j->work_dir, sizeof j->work_dir, "%s/%s", dir, name);
    j->seed = seed;
}

/* Where the threads of a pair of runs wait for each other, so that they train at once. */
static pthread_barrier_t start_together;

/* Trains the job's run to its end (a thread's body: no cmocka asserts here). */
static void *train_job(void *arg) {
    struct job *j = arg;
    j->st = lt_run_train(j->run);
    snprintf(j->error, sizeof j->error, "%s", lt_run_error(j->run));
    snprintf(j->final_path, sizeof j->final_path, "%s/final.safetensors", lt_run_dir(j->run));
    return NULL;
}

static void *train_job_together(void *arg) {
    pthread_barrier_wait(&start_together);
    return train_job(arg);
}

/* Asserts that two safetensors files hold the same tensors, bit for bit. */
static void assert_same_weights(const char *a, const char *b) {
    struct lt_ctx *ctx;
    assert_int_equal(lt_ctx_new(&ctx), LT_OK);
    struct lt_safetensors *fa, *fb;
    assert_int_equal(lt_safetensors_load(ctx, a, &fa), LT_OK);
    assert_int_equal(lt_safetensors_load(ctx, b, &fb), LT_OK);
    assert_int_equal(lt_safetensors_count(fa), lt_safetensors_count(fb));
    assert_true(lt_safetensors_count(fa) > 0);
    for (int i = 0; i < lt_safetensors_count(fa); i++) {
        assert_string_equal(lt_safetensors_name(fa, i), lt_safetensors_name(fb, i));
        struct lt_tensor *ta = lt_safetensors_tensor(fa, i), *tb = lt_safetensors_tensor(fb, i);
        assert_int_equal(lt_tensor_bytes(ta), lt_tensor_bytes(tb));
        assert_memory_equal(lt_tensor_data(ta), lt_tensor_data(tb), lt_tensor_bytes(ta));
    }
    lt_safetensors_free(fa);
    lt_safetensors_free(fb);
    lt_ctx_free(ctx);
}

static void two_threads_train_as_each_alone(void **state) {
    (void)state;
    char dir[64];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job alone[2], together[2];
    for (int k = 0; k < 2; k++) {
        init_job(&alone[k], dir, k ? "alone_b" : "alone_a", 11 + (uint32_t)k);
        open_job(&alone[k]);
        train_job(&alone[k]);
        if (alone[k].st != LT_OK)
            print_error("%s\n", alone[k].error);
        assert_int_equal(alone[k].st, LT_OK);
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        init_job(&together[k], dir, k ? "together_b" : "together_a", 11 + (uint32_t)k);
        open_job(&together[k]);
    }
    assert_int_equal(pthread_barrier_init(&start_together, NULL, 2), 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, train_job_together, &together[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&start_together);
    for (int k = 0; k < 2; k++) {
        if (together[k].st != LT_OK)
            print_error("%s\n", together[k].error);
        assert_int_equal(together[k].st, LT_OK);
        assert_same_weights(alone[k].final_path, together[k].final_path);
        lt_run_free(alone[k].run);
        lt_run_free(together[k].run);
    }
    tmpdir_remove(dir);
}

/* Whether the file at path contains text. */
static int file_has(const char *path, const char *text) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, text) != NULL;
}

static void a_failing_fill_stops_the_run_with_its_message(void **state) {
    (void)state;
    char dir[64], log[1200];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "fails", 5);
    j.train.fail_at = 6;
    open_job(&j);
    enum lt_status st = lt_run_train(j.run);
    assert_int_not_equal(st, LT_OK);
    assert_non_null(strstr(lt_run_error(j.run), "blobs: sensor 3 stopped answering"));
    snprintf(log, sizeof log, "%s/train.log", lt_run_dir(j.run));
    assert_true(file_has(log, "error: "));
    assert_true(file_has(log, "sensor 3 stopped answering"));
    /* a run that failed stays failed */
    assert_int_not_equal(lt_run_steps(j.run, 1), LT_OK);
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

/* The step callback: asks for a stop after step 3, from "another" context. */
static void stop_after_three(void *user, const struct lt_run_stats *s) {
    struct lt_run *run = *(struct lt_run **)user;
    if (s->iter == 3)
        lt_run_stop(run);
}

static void a_stop_request_ends_the_run_with_a_checkpoint(void **state) {
    (void)state;
    char dir[64], path[1200];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "stops", 7);
    open_job(&j);
    lt_run_on_step(j.run, stop_after_three, &j.run);
    assert_int_equal(lt_run_train(j.run), LT_OK);
    struct lt_run_stats s;
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 3);
    assert_int_equal(s.max_iters, 24);
    assert_true(s.done);
    snprintf(path, sizeof path, "%s/iter_3.safetensors", lt_run_dir(j.run));
    assert_int_equal(access(path, R_OK), 0);
    snprintf(path, sizeof path, "%s/train.log", lt_run_dir(j.run));
    assert_true(file_has(path, "interrupted (stop requested) at iteration 3"));
    /* the run has ended: more steps are refused */
    assert_int_equal(lt_run_steps(j.run, 1), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "the run has ended"));
    lt_run_free(j.run);

    /* a stop asked for before the first step: no step ran, and the log says so */
    init_job(&j, dir, "stops_at_once", 7);
    open_job(&j);
    assert_int_equal(lt_run_build(j.run), LT_OK);
    lt_run_stop(j.run);
    assert_int_equal(lt_run_train(j.run), LT_OK);
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 0);
    assert_true(s.done);
    snprintf(path, sizeof path, "%s/train.log", lt_run_dir(j.run));
    assert_true(
        file_has(path, "interrupted (stop requested) at iteration 0 before the first step"));
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

/* Counts the callback's calls and checks the numbers it gets. */
static void count_steps(void *user, const struct lt_run_stats *s) {
    int *calls = user;
    ++*calls;
    if (s->iter != *calls || !isfinite(s->loss) || s->memory.bytes[LT_MEM_PARAMS] == 0)
        *calls = -1000;
}

static void steps_evaluation_and_checkpoints_on_demand(void **state) {
    (void)state;
    char dir[64], path[1024];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "steps", 9);
    open_job(&j);
    int calls = 0;
    lt_run_on_step(j.run, count_steps, &calls);
    assert_int_equal(lt_run_build(j.run), LT_OK);
    assert_true(lt_run_dir(j.run)[0] != '\0');
    assert_int_equal(lt_run_steps(j.run, 5), LT_OK);
    assert_int_equal(calls, 5);
    struct lt_run_stats s;
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 5);
    assert_false(s.done);
    assert_true(s.lr > 0 && s.loss > 0 && s.samples_per_s > 0);
    assert_int_equal(s.memory.total,
                     s.memory.bytes[LT_MEM_PARAMS] + s.memory.bytes[LT_MEM_GRADS] +
                         s.memory.bytes[LT_MEM_OPTIMIZER] + s.memory.bytes[LT_MEM_ACTIVATIONS] +
                         s.memory.bytes[LT_MEM_TEMPORARIES] + s.memory.bytes[LT_MEM_WORKSPACE] +
                         s.memory.bytes[LT_MEM_DATA] + s.memory.bytes[LT_MEM_STATE] +
                         s.memory.bytes[LT_MEM_PARAM_COPIES] + s.memory.bytes[LT_MEM_RUNTIME]);
    assert_int_equal(lt_run_save(j.run, path, sizeof path), LT_OK);
    assert_non_null(strstr(path, "iter_5.safetensors"));
    assert_int_equal(access(path, R_OK), 0);
    double first = s.loss;
    assert_int_equal(lt_run_train(j.run), LT_OK);
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 24);
    assert_true(s.done);
    assert_int_equal(calls, 24);
    assert_true(s.loss < first);
    struct lt_run_eval e;
    assert_int_equal(lt_run_evaluate(j.run, &e), LT_OK);
    assert_int_equal(e.count, 60);
    assert_true(e.accuracy > 0.9);
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

static void bad_recipes_and_names_are_refused(void **state) {
    (void)state;
    struct lt_run_options o = {.lua_dir = "lua", .quiet = 1};
    struct lt_run *run;
    assert_int_equal(lt_run_new(&o, &run), LT_OK);
    static struct blobs b;
    make_blobs(&b, 30, 1);
    struct lt_source s = source_of(&b, "blobs");
    assert_int_equal(lt_run_add_source(run, "no good", &s, &s), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "must be a word"));
    struct lt_source bad = s;
    bad.x.dtype = LT_DTYPE_F16;
    assert_int_equal(lt_run_add_source(run, "bad", &s, &bad), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "lt_run_add_source: bad: test source: "));
    assert_non_null(strstr(lt_run_error(run), "x must be f32 or i32"));
    assert_int_equal(lt_run_load_file(run, NULL, 0, NULL), LT_EINVAL);
    assert_string_equal(lt_run_error(run), "lt_run_load_file: path is NULL");
    assert_int_equal(lt_run_load_string(run, "x.lua", RECIPE, 1, NULL), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "lt_run_load_string: overrides is NULL"));
    assert_int_equal(lt_run_steps(run, 1), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "no recipe loaded"));
    assert_int_equal(lt_run_add_source(run, "blobs", &s, &s), LT_OK);
    const char *sets[] = {"optim.lrr=0.1"};
    assert_int_equal(lt_run_load_string(run, "x.lua", RECIPE, 1, sets), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "optim.lrr"));
    lt_run_free(run);

    assert_int_equal(lt_run_new(&o, &run), LT_OK);
    assert_int_equal(lt_run_load_string(run, "x.lua", RECIPE, 0, NULL), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "host:blobs"));
    lt_run_free(run);

    struct lt_run_options nowhere = {.lua_dir = "/nonexistent"};
    assert_int_equal(lt_run_new(&nowhere, &run), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "/nonexistent"));
    lt_run_free(run);
    lt_run_free(NULL);
}

/* package.path of L, into buf. */
static void package_path(lua_State *L, char *buf, size_t size) {
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    snprintf(buf, size, "%s", lua_tostring(L, -1));
    lua_pop(L, 2);
}

static void a_run_in_the_hosts_lua_state(void **state) {
    (void)state;
    char dir[64], wd[600];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    struct lt_run_options o = {.lua_dir = "lua", .quiet = 1};
    struct lt_run *run;
    assert_int_equal(lt_run_new_in(L, &o, &run), LT_OK);
    static char path[4096], path_again[4096];
    package_path(L, path, sizeof path);
    assert_true(path[0] == '/'); /* the folder as an absolute path: the host may chdir */
    static struct blobs train, test;
    make_blobs(&train, 60, 4);
    make_blobs(&test, 30, 5);
    struct lt_source tr = source_of(&train, "blobs train"), te = source_of(&test, "blobs test");
    tr.caller_thread = 0; /* filled on a loader's worker thread */
    tr.release = te.release = release;
    assert_int_equal(lt_run_add_source(run, "blobs", &tr, &te), LT_OK);
    snprintf(wd, sizeof wd, "work_dir=\"%s/own\"", dir);
    const char *sets[] = {wd, "runner.max_iters=3"};
    assert_int_equal(lt_run_load_string(run, "tests/host_recipe.lua", RECIPE, 2, sets), LT_OK);
    assert_int_equal(lt_run_train(run), LT_OK);
    struct lt_run_stats st;
    lt_run_stats(run, &st);
    assert_int_equal(st.iter, 3);
    assert_int_equal(train.released + test.released, 0);
    lt_run_free(run);
    /* the data sets went with the run, the loader's workers with them */
    assert_int_equal(train.released, 1);
    assert_int_equal(test.released, 1);
    assert_int_equal(train.late, 0);

    /* a later run in the state: the same package.path, and no host:blobs any more */
    assert_int_equal(lt_run_new_in(L, &o, &run), LT_OK);
    package_path(L, path_again, sizeof path_again);
    assert_string_equal(path, path_again);
    assert_int_equal(lt_run_load_string(run, "tests/host_recipe.lua", RECIPE, 2, sets), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "host:blobs"));
    lt_run_free(run);

    /* the state is the host's again, with lutra loaded */
    assert_int_equal(luaL_dostring(L, "return require('lutra').ones(2, 3):sum()"), LUA_OK);
    assert_int_equal(lua_tointeger(L, -1), 6);
    lua_close(L);
    assert_int_equal(train.released + test.released, 2);
    tmpdir_remove(dir);
}

static void a_host_state_without_the_package_library_is_refused(void **state) {
    (void)state;
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    struct lt_run_options o = {.lua_dir = "lua", .quiet = 1};
    struct lt_run *run;
    assert_int_equal(lt_run_new_in(L, &o, &run), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "no package library"));
    lt_run_free(run);
    lua_close(L);
}

/* A run whose build fails (the model takes 7 features, the data has 8) is not built again
 * by lt_run_evaluate or lt_run_save, nor by a second lt_run_build; it lets go of its work
 * dir when freed. The same when lt_run_evaluate is the call that builds it. */
static void a_run_that_failed_while_building_is_not_built_again(void **state) {
    (void)state;
    char dir[64], first[1024];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "unbuilt", 3);
    open_job_with(&j, "model.in_features=7");
    assert_int_equal(lt_run_build(j.run), LT_EINVAL);
    snprintf(first, sizeof first, "%s", lt_run_error(j.run));
    assert_true(first[0] != '\0');
    struct lt_run_eval e;
    assert_int_equal(lt_run_evaluate(j.run, &e), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "the run failed while building: "));
    assert_non_null(strstr(lt_run_error(j.run), first));
    char path[1024];
    assert_int_equal(lt_run_save(j.run, path, sizeof path), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "the run failed while building: "));
    assert_int_equal(lt_run_build(j.run), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "the run failed: "));
    assert_int_equal(lt_run_steps(j.run, 1), LT_EINVAL);
    assert_null(strstr(lt_run_error(j.run), "in use"));
    lt_run_free(j.run);

    init_job(&j, dir, "unbuilt", 3);
    open_job_with(&j, "model.in_features=7");
    assert_int_equal(lt_run_evaluate(j.run, &e), LT_EINVAL);
    snprintf(first, sizeof first, "%s", lt_run_error(j.run));
    assert_int_equal(lt_run_evaluate(j.run, &e), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "the run failed while building: "));
    assert_non_null(strstr(lt_run_error(j.run), first));
    lt_run_free(j.run);

    /* the work dir is free again */
    init_job(&j, dir, "unbuilt", 3);
    open_job(&j);
    if (lt_run_build(j.run) != LT_OK)
        print_error("%s\n", lt_run_error(j.run));
    assert_int_equal(lt_run_build(j.run), LT_OK);
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

/* A failed evaluation (the test source's fill fails) returns its error and leaves the run
 * as it was: it steps on. */
static void a_failed_evaluation_leaves_the_run_usable(void **state) {
    (void)state;
    char dir[64], log[1200];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "evalfails", 6);
    j.test.fail_at = 1;
    open_job(&j);
    assert_int_equal(lt_run_steps(j.run, 3), LT_OK);
    struct lt_run_eval e;
    assert_int_equal(lt_run_evaluate(j.run, &e), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(j.run), "sensor 3 stopped answering"));
    snprintf(log, sizeof log, "%s/train.log", lt_run_dir(j.run));
    assert_true(file_has(log, "error: "));
    assert_int_equal(lt_run_steps(j.run, 2), LT_OK);
    struct lt_run_stats s;
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 5);
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

/* What the step callback tries on its own run. */
struct reentry {
    struct lt_run *run;
    int calls, free_at;
    enum lt_status steps, build, evaluate, save;
    char message[256];
};

static void reenter(void *user, const struct lt_run_stats *s) {
    (void)s;
    struct reentry *r = user;
    if (++r->calls == 1) {
        r->steps = lt_run_steps(r->run, 1);
        snprintf(r->message, sizeof r->message, "%s", lt_run_error(r->run));
        r->build = lt_run_build(r->run);
        struct lt_run_eval e;
        r->evaluate = lt_run_evaluate(r->run, &e);
        r->save = lt_run_save(r->run, NULL, 0);
    }
    if (r->calls == r->free_at)
        lt_run_free(r->run);
}

static void the_step_callback_cannot_reenter_its_run(void **state) {
    (void)state;
    char dir[64], path[1200];
    assert_int_equal(tmpdir_make(dir, sizeof dir, "lutra-host"), 0);
    static struct job j;
    init_job(&j, dir, "reenter", 8);
    open_job(&j);
    struct reentry r = {.run = j.run};
    lt_run_on_step(j.run, reenter, &r);
    assert_int_equal(lt_run_steps(j.run, 2), LT_OK);
    assert_int_equal(r.calls, 2);
    assert_int_equal(r.steps, LT_EINVAL);
    assert_string_equal(r.message, "lt_run_steps: called from the step callback");
    assert_int_equal(r.build, LT_EINVAL);
    assert_int_equal(r.evaluate, LT_EINVAL);
    assert_int_equal(r.save, LT_EINVAL);
    struct lt_run_stats s;
    lt_run_stats(j.run, &s);
    assert_int_equal(s.iter, 2);
    lt_run_free(j.run);

    /* lt_run_free from the callback: the run stops after that step, with a checkpoint,
     * and is freed as lt_run_train returns */
    init_job(&j, dir, "reenter", 8);
    open_job(&j);
    struct reentry f = {.run = j.run, .free_at = 2};
    lt_run_on_step(j.run, reenter, &f);
    assert_int_equal(lt_run_build(j.run), LT_OK);
    snprintf(path, sizeof path, "%s/iter_2.safetensors", lt_run_dir(j.run));
    assert_int_equal(lt_run_train(j.run), LT_OK);
    assert_int_equal(f.calls, 2);
    assert_int_equal(access(path, R_OK), 0);
    /* its work dir is free again */
    init_job(&j, dir, "reenter", 8);
    open_job(&j);
    assert_int_equal(lt_run_build(j.run), LT_OK);
    lt_run_free(j.run);
    tmpdir_remove(dir);
}

/* A run that did not open refuses every call, naming it and why; a NULL out is refused. */
static void calls_on_a_run_that_did_not_open(void **state) {
    (void)state;
    struct lt_run_options o = {.lua_dir = "lua", .quiet = 1};
    struct lt_run *run;
    assert_int_equal(lt_run_new_in(NULL, &o, &run), LT_EINVAL);
    assert_string_equal(lt_run_error(run), "lt_run_new_in: L is NULL");
    static struct blobs b;
    make_blobs(&b, 30, 1);
    struct lt_source s = source_of(&b, "blobs");
    assert_int_equal(lt_run_add_source(run, "blobs", &s, &s), LT_EINVAL);
    assert_string_equal(lt_run_error(run),
                        "lt_run_add_source: the run did not open: lt_run_new_in: L is NULL");
    assert_int_equal(lt_run_load_string(run, "x.lua", RECIPE, 0, NULL), LT_EINVAL);
    assert_int_equal(lt_run_build(run), LT_EINVAL);
    assert_int_equal(lt_run_steps(run, 1), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "lt_run_steps: the run did not open"));
    struct lt_run_eval e;
    assert_int_equal(lt_run_evaluate(run, &e), LT_EINVAL);
    assert_int_equal(lt_run_save(run, NULL, 0), LT_EINVAL);
    assert_string_equal(lt_run_dir(run), "");
    lt_run_free(run);

    struct lt_run_options nowhere = {.lua_dir = "/nonexistent"};
    assert_int_equal(lt_run_new(&nowhere, &run), LT_EINVAL);
    assert_int_equal(lt_run_train(run), LT_EINVAL);
    assert_non_null(strstr(lt_run_error(run), "lt_run_train: the run did not open: "));
    assert_non_null(strstr(lt_run_error(run), "/nonexistent"));
    lt_run_free(run);

    assert_int_equal(lt_run_new(&o, &run), LT_OK);
    assert_int_equal(lt_run_add_source(run, "blobs", &s, &s), LT_OK);
    assert_int_equal(lt_run_load_string(run, "x.lua", RECIPE, 0, NULL), LT_OK);
    assert_int_equal(lt_run_evaluate(run, NULL), LT_EINVAL);
    assert_string_equal(lt_run_error(run), "lt_run_evaluate: out is NULL");
    lt_run_free(run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_threads_train_as_each_alone),
        cmocka_unit_test(a_failing_fill_stops_the_run_with_its_message),
        cmocka_unit_test(a_stop_request_ends_the_run_with_a_checkpoint),
        cmocka_unit_test(steps_evaluation_and_checkpoints_on_demand),
        cmocka_unit_test(bad_recipes_and_names_are_refused),
        cmocka_unit_test(a_run_in_the_hosts_lua_state),
        cmocka_unit_test(a_host_state_without_the_package_library_is_refused),
        cmocka_unit_test(a_run_that_failed_while_building_is_not_built_again),
        cmocka_unit_test(a_failed_evaluation_leaves_the_run_usable),
        cmocka_unit_test(the_step_callback_cannot_reenter_its_run),
        cmocka_unit_test(calls_on_a_run_that_did_not_open),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
