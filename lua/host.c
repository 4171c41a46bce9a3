/* The host API (core/lutra_host.h): a run is a Lua state — its own, or the host's — in
 * which lutra.host (lua/lutra/host.lua) drives lutra.runner. This file keeps the C side:
 * the state, the runner's reference, the stop flag, the step callback and the last step's
 * numbers; it calls the Lua side under lua_pcall and turns its errors into statuses, the
 * message kept on the run and written to the run's log. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lualib.h>

#include "core/lutra_host.h"
#include "lua/l_lutra.h"

/* lt_run_stop may be called from a signal handler: only a lock-free atomic is safe there. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lt_run_stop needs a lock-free atomic int");

/* Where an install the library was built for keeps the Lua files (the Makefile sets it
 * from PREFIX). */
#ifndef LT_LUA_DIR
#define LT_LUA_DIR "/usr/local/share/lua/5.4"
#endif

struct lt_run {
    lua_State *L;
    int own_state;   /* 1: lt_run_new made L, and lt_run_free closes it */
    int host_ref;    /* lutra.host in L's registry */
    int runner_ref;  /* the run's lutra.runner, LUA_NOREF before a recipe is loaded */
    int quiet;       /* lt_run_options.quiet */
    atomic_int stop; /* lt_run_stop's request */
    lt_run_step_fn on_step;
    void *step_user;
    struct lt_run_stats stats;
    char run_dir[PATH_MAX];
    char error[2048];
};

/* ---- failures ---------------------------------------------------------------------------- */

/* Keeps a message on the run; returns st. */
static enum lt_status fail(struct lt_run *run, enum lt_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum lt_status fail(struct lt_run *run, enum lt_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(run->error, sizeof run->error, fmt, ap);
    va_end(ap);
    return st;
}

/* tostring(v) for message_of, in protected mode: a __tostring may raise. */
static int to_text(lua_State *L) {
    luaL_tolstring(L, 1, NULL);
    return 1;
}

/* The error object on top of L as text, into the run's message; pops it. */
static void message_of(struct lt_run *run) {
    lua_State *L = run->L;
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pushcfunction(L, to_text);
        lua_rotate(L, -2, 1);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK || lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "(an error object with no message)");
        }
    }
    snprintf(run->error, sizeof run->error, "%s", lua_tostring(L, -1));
    lua_pop(L, 1);
}

/* Calls lutra.host[name](runner, the nargs arguments on the stack) for nres results,
 * protected. Returns Lua's status; on failure the error object is on top. */
static int call_raw(struct lt_run *run, const char *name, int nargs, int nres) {
    lua_State *L = run->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->host_ref);
    lua_getfield(L, -1, name);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->runner_ref);
    lua_rotate(L, -(nargs + 2), 2); /* fn, runner below the arguments */
    return lua_pcall(L, nargs + 1, nres, 0);
}

/* A failed call's status: its message kept on the run and written to the run's log
 * (lutra.host.fail, itself protected). */
static enum lt_status lua_failure(struct lt_run *run, int rc) {
    message_of(run);
    if (rc == LUA_ERRMEM)
        return LT_ENOMEM;
    lua_pushstring(run->L, run->error);
    if (call_raw(run, "fail", 1, 0) != LUA_OK)
        lua_pop(run->L, 1);
    return LT_EINVAL;
}

/* call_raw, its failure made a status with the message on the run. */
static enum lt_status call_host(struct lt_run *run, const char *name, int nargs, int nres) {
    int rc = call_raw(run, name, nargs, nres);
    return rc == LUA_OK ? LT_OK : lua_failure(run, rc);
}

/* Whether a recipe was loaded; the message otherwise. */
static enum lt_status need_recipe(struct lt_run *run) {
    run->error[0] = '\0';
    if (run->runner_ref == LUA_NOREF)
        return fail(run, LT_EINVAL, "%s", "no recipe loaded (lt_run_load_file or _string)");
    return LT_OK;
}

/* ---- the last step's numbers ------------------------------------------------------------- */

static double number_field(lua_State *L, int t, const char *key, double def) {
    lua_getfield(L, t, key);
    double v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

/* Reads lutra.host.stats's table at t into s. In protected mode (the memory report's
 * check raises on a malformed table, which lutra does not make). */
static void read_stats(lua_State *L, int t, struct lt_run_stats *s) {
    memset(s, 0, sizeof *s);
    s->iter = (int64_t)number_field(L, t, "iter", 0);
    s->max_iters = (int64_t)number_field(L, t, "max_iters", 0);
    s->epoch = (int64_t)number_field(L, t, "epoch", 0);
    s->loss = number_field(L, t, "loss", NAN);
    s->lr = number_field(L, t, "lr", NAN);
    s->grad_norm = number_field(L, t, "grad_norm", NAN);
    s->loss_scale = number_field(L, t, "loss_scale", 1);
    s->skipped = (int64_t)number_field(L, t, "skipped", 0);
    s->samples_per_s = number_field(L, t, "samples_per_s", 0);
    lua_getfield(L, t, "last_skipped");
    s->last_skipped = lua_toboolean(L, -1);
    lua_getfield(L, t, "done");
    s->done = lua_toboolean(L, -1);
    lua_getfield(L, t, "memory");
    if (lua_istable(L, -1))
        lt_lua_check_report(L, lua_gettop(L), &s->memory);
    lua_pop(L, 3);
}

/* run->stats from lutra.host.stats(runner), the run below it. In protected mode. */
static int read_run_stats(lua_State *L) {
    struct lt_run *run = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->host_ref);
    lua_getfield(L, -1, "stats");
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->runner_ref);
    lua_call(L, 1, 1);
    read_stats(L, lua_gettop(L), &run->stats);
    return 0;
}

/* Refreshes run->stats from the runner (after each call that may have changed it); keeps
 * the last numbers when that fails (only out of memory). */
static void refresh_stats(struct lt_run *run) {
    if (run->runner_ref == LUA_NOREF)
        return;
    lua_pushcfunction(run->L, read_run_stats);
    lua_pushlightuserdata(run->L, run);
    if (lua_pcall(run->L, 1, 0, 0) != LUA_OK)
        lua_pop(run->L, 1);
}

/* on_step(stats): the runner's after_step hook (lutra.host.load installs it), with the
 * run as upvalue 1: the numbers kept, then the host's callback. */
static int on_step(lua_State *L) {
    struct lt_run *run = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checktype(L, 1, LUA_TTABLE);
    read_stats(L, 1, &run->stats);
    if (run->on_step)
        run->on_step(run->step_user, &run->stats);
    return 0;
}

/* stop_requested(): whether lt_run_stop was called, with the run as upvalue 1. */
static int stop_requested(lua_State *L) {
    struct lt_run *run = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushboolean(L, atomic_load_explicit(&run->stop, memory_order_relaxed));
    return 1;
}

/* ---- opening ----------------------------------------------------------------------------- */

/* Whether dir holds lutra's Lua files. */
static int has_lua_files(const char *dir) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/lutra/host.lua", dir);
    return access(path, R_OK) == 0;
}

/* The folder of lutra's Lua files (o->lua_dir, beside the library, the install's) into
 * dir; fails naming where it looked. */
static enum lt_status find_lua_dir(struct lt_run *run, const struct lt_run_options *o, char *dir,
                                   size_t size) {
    if (o && o->lua_dir) {
        snprintf(dir, size, "%s", o->lua_dir);
        if (has_lua_files(dir))
            return LT_OK;
        return fail(run, LT_EINVAL, "lutra's Lua files are not in %s (no lutra/host.lua there)",
                    o->lua_dir);
    }
    char here[PATH_MAX] = ".";
    Dl_info info;
    if (dladdr((void *)find_lua_dir, &info) && info.dli_fname) {
        snprintf(here, sizeof here, "%s", info.dli_fname);
        char *slash = strrchr(here, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(here, sizeof here, ".");
    }
    /* an install's lib/ -> share/lua/5.4; the source tree's build/<dir>/ -> lua/ */
    const char *beside[] = {"/../share/lua/5.4", "/../../lua"};
    for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
        snprintf(dir, size, "%s%s", here, beside[i]);
        if (has_lua_files(dir))
            return LT_OK;
    }
    snprintf(dir, size, "%s", LT_LUA_DIR);
    if (has_lua_files(dir))
        return LT_OK;
    return fail(
        run, LT_EINVAL,
        "lutra's Lua files are not found: not in %s/../share/lua/5.4, %s/../../lua or " LT_LUA_DIR
        " (set lt_run_options.lua_dir)",
        here, here);
}

/* Loads lutra into L (the dir string and the run as arguments): the standard libraries
 * in a state of the run's own, preload, package.path, lutra.host in the registry. In
 * protected mode. */
static int open_lutra(lua_State *L) {
    const char *dir = lua_tostring(L, 1);
    struct lt_run *run = lua_touserdata(L, 2);
    if (run->own_state)
        luaL_openlibs(L);
    lt_lua_preload(L);
    lua_getglobal(L, "package");
    luaL_checktype(L, -1, LUA_TTABLE);
    lua_pushfstring(L, "%s/?.lua;", dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lutra.host");
    lua_call(L, 1, 1);
    run->host_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static enum lt_status open_run(lua_State *L, int own, const struct lt_run_options *o,
                               struct lt_run **out) {
    struct lt_run *run = calloc(1, sizeof *run);
    if (!run) {
        if (own)
            lua_close(L);
        *out = NULL;
        return LT_ENOMEM;
    }
    *out = run;
    run->L = L;
    run->own_state = own;
    run->host_ref = run->runner_ref = LUA_NOREF;
    atomic_init(&run->stop, 0);
    run->stats.loss = run->stats.lr = run->stats.grad_norm = NAN;
    run->stats.loss_scale = 1;
    run->quiet = o && o->quiet;
    if (!L)
        return fail(run, LT_ENOMEM, "%s", "cannot create a Lua state: out of memory");
    char dir[PATH_MAX];
    enum lt_status st = find_lua_dir(run, o, dir, sizeof dir);
    if (st != LT_OK)
        return st;
    lua_pushcfunction(L, open_lutra);
    lua_pushstring(L, dir);
    lua_pushlightuserdata(L, run);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK) {
        message_of(run);
        char why[sizeof run->error];
        snprintf(why, sizeof why, "%s", run->error);
        snprintf(run->error, sizeof run->error, "loading lutra from %.1024s: %.900s", dir, why);
        return rc == LUA_ERRMEM ? LT_ENOMEM : LT_EINVAL;
    }
    return LT_OK;
}

enum lt_status lt_run_new(const struct lt_run_options *o, struct lt_run **out) {
    return open_run(luaL_newstate(), 1, o, out);
}

enum lt_status lt_run_new_in(struct lua_State *L, const struct lt_run_options *o,
                             struct lt_run **out) {
    return open_run(L, 0, o, out);
}

void lt_run_free(struct lt_run *run) {
    if (!run)
        return;
    if (run->L && run->runner_ref != LUA_NOREF && call_raw(run, "close", 0, 0) != LUA_OK)
        lua_pop(run->L, 1); /* a failure here has no one left to tell */
    if (run->L && run->own_state) {
        lua_close(run->L); /* the sources' release runs here, as their data sets go */
    } else if (run->L) {
        luaL_unref(run->L, LUA_REGISTRYINDEX, run->runner_ref);
        luaL_unref(run->L, LUA_REGISTRYINDEX, run->host_ref);
    }
    free(run);
}

const char *lt_run_error(const struct lt_run *run) {
    return run->error;
}

/* ---- data -------------------------------------------------------------------------------- */

struct sources_job {
    struct lt_run *run;
    const char *name;
    const struct lt_source *train, *test;
};

/* lutra.host.register(name, train, test, caller_thread) over data sets made of the
 * host's sources. In protected mode; the handles exist before the sources are taken, so
 * a data set is never without its handle (whose __gc frees it, and the source with it). */
static int register_sources(lua_State *L) {
    struct sources_job *job = lua_touserdata(L, 1);
    struct lt_ctx *ctx = lt_lua_ctx(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, job->run->host_ref);
    lua_getfield(L, -1, "register");
    lua_pushstring(L, job->name);
    struct lt_dataset **train = lt_lua_new_dataset(L);
    struct lt_dataset **test = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_from_source(ctx, job->train, train));
    LT_LUA_CHECK(L, lt_dataset_from_source(ctx, job->test, test));
    lua_pushboolean(L, job->train->caller_thread);
    lua_call(L, 4, 0);
    return 0;
}

/* Whether s is a word: [A-Za-z_][A-Za-z0-9_]*. */
static int is_word(const char *s) {
    if (!s || !(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        return 0;
    for (; *s; s++)
        if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

enum lt_status lt_run_add_source(struct lt_run *run, const char *name,
                                 const struct lt_source *train, const struct lt_source *test) {
    run->error[0] = '\0';
    if (!is_word(name))
        return fail(run, LT_EINVAL,
                    "lt_run_add_source: the name must be a word ([A-Za-z_][A-Za-z0-9_]*), got "
                    "'%s'",
                    name ? name : "(null)");
    if (!train || !test)
        return fail(run, LT_EINVAL, "lt_run_add_source: %s: give a train and a test source", name);
    struct sources_job job = {run, name, train, test};
    lua_pushcfunction(run->L, register_sources);
    lua_pushlightuserdata(run->L, &job);
    int rc = lua_pcall(run->L, 1, 0, 0);
    if (rc == LUA_OK)
        return LT_OK;
    message_of(run);
    return rc == LUA_ERRMEM ? LT_ENOMEM : LT_EINVAL;
}

/* ---- the recipe -------------------------------------------------------------------------- */

struct load_job {
    struct lt_run *run;
    const char *path, *text;
    int n;
    const char *const *overrides;
};

/* lutra.host.load(path, text, overrides, {quiet =, stop_requested =, on_step =}); the
 * runner it returns goes into the registry. In protected mode. */
static int load_recipe(lua_State *L) {
    struct load_job *job = lua_touserdata(L, 1);
    struct lt_run *run = job->run;
    lua_rawgeti(L, LUA_REGISTRYINDEX, run->host_ref);
    lua_getfield(L, -1, "load");
    lua_pushstring(L, job->path);
    if (job->text)
        lua_pushstring(L, job->text);
    else
        lua_pushnil(L);
    lua_createtable(L, job->n, 0);
    for (int i = 0; i < job->n; i++) {
        if (!job->overrides[i])
            return luaL_error(L, "override %d is NULL", i + 1);
        lua_pushstring(L, job->overrides[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_createtable(L, 0, 3);
    lua_pushboolean(L, run->quiet);
    lua_setfield(L, -2, "quiet");
    lua_pushlightuserdata(L, run);
    lua_pushcclosure(L, stop_requested, 1);
    lua_setfield(L, -2, "stop_requested");
    lua_pushlightuserdata(L, run);
    lua_pushcclosure(L, on_step, 1);
    lua_setfield(L, -2, "on_step");
    lua_call(L, 4, 1);
    run->runner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

static enum lt_status load(struct lt_run *run, const char *path, const char *text, int n,
                           const char *const *overrides) {
    run->error[0] = '\0';
    if (run->runner_ref != LUA_NOREF)
        return fail(run, LT_EINVAL, "%s",
                    "a recipe is loaded already: a run trains one recipe (make another run)");
    if (!path || n < 0 || (n > 0 && !overrides))
        return fail(run, LT_EINVAL, "%s", "lt_run_load: a path and n >= 0 overrides are needed");
    struct load_job job = {run, path, text, n, overrides};
    lua_pushcfunction(run->L, load_recipe);
    lua_pushlightuserdata(run->L, &job);
    int rc = lua_pcall(run->L, 1, 0, 0);
    if (rc != LUA_OK)
        return lua_failure(run, rc);
    refresh_stats(run);
    return LT_OK;
}

enum lt_status lt_run_load_file(struct lt_run *run, const char *path, int n_overrides,
                                const char *const *overrides) {
    return load(run, path, NULL, n_overrides, overrides);
}

enum lt_status lt_run_load_string(struct lt_run *run, const char *name, const char *text,
                                  int n_overrides, const char *const *overrides) {
    if (!text)
        return fail(run, LT_EINVAL, "%s", "lt_run_load_string: no text");
    return load(run, name, text, n_overrides, overrides);
}

/* ---- driving the run --------------------------------------------------------------------- */

/* After a call that may have built the run or stepped it: its folder and numbers. */
static void after_call(struct lt_run *run) {
    refresh_stats(run);
    if (run->run_dir[0])
        return;
    if (call_raw(run, "run_dir", 0, 1) != LUA_OK) {
        lua_pop(run->L, 1);
        return;
    }
    const char *dir = lua_tostring(run->L, -1);
    if (dir)
        snprintf(run->run_dir, sizeof run->run_dir, "%s", dir);
    lua_pop(run->L, 1);
}

enum lt_status lt_run_build(struct lt_run *run) {
    enum lt_status st = need_recipe(run);
    if (st == LT_OK)
        st = call_host(run, "build", 0, 0);
    if (run->runner_ref != LUA_NOREF)
        after_call(run);
    return st;
}

enum lt_status lt_run_steps(struct lt_run *run, int64_t n) {
    enum lt_status st = need_recipe(run);
    if (st != LT_OK)
        return st;
    lua_pushinteger(run->L, n < 0 ? -1 : (lua_Integer)n);
    st = call_host(run, "steps", 1, 0);
    after_call(run);
    return st;
}

enum lt_status lt_run_train(struct lt_run *run) {
    return lt_run_steps(run, -1);
}

enum lt_status lt_run_evaluate(struct lt_run *run, struct lt_run_eval *out) {
    enum lt_status st = need_recipe(run);
    if (st == LT_OK)
        st = call_host(run, "evaluate", 0, 3);
    if (st != LT_OK)
        return st;
    lua_State *L = run->L;
    out->loss = lua_tonumber(L, -3);
    out->accuracy = lua_isnumber(L, -2) ? lua_tonumber(L, -2) : NAN;
    out->count = (int64_t)lua_tonumber(L, -1);
    lua_pop(L, 3);
    after_call(run);
    return LT_OK;
}

enum lt_status lt_run_save(struct lt_run *run, char *path, size_t size) {
    enum lt_status st = need_recipe(run);
    if (st == LT_OK)
        st = call_host(run, "save", 0, 1);
    if (st != LT_OK)
        return st;
    if (path && size > 0)
        snprintf(path, size, "%s", lua_tostring(run->L, -1) ? lua_tostring(run->L, -1) : "");
    lua_pop(run->L, 1);
    after_call(run);
    return LT_OK;
}

const char *lt_run_dir(const struct lt_run *run) {
    return run->run_dir;
}

void lt_run_stats(const struct lt_run *run, struct lt_run_stats *out) {
    *out = run->stats;
}

void lt_run_on_step(struct lt_run *run, lt_run_step_fn fn, void *user) {
    run->on_step = fn;
    run->step_user = user;
}

void lt_run_stop(struct lt_run *run) {
    atomic_store_explicit(&run->stop, 1, memory_order_relaxed);
}
