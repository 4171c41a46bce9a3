/* The host API (core/lutra_host.h): a run is a Lua state — its own, or the host's — in
 * which lutra.host (lua/lutra/host.lua) drives lutra.runner. This file keeps the C side:
 * the state, the runner's reference, the stop flag, the step callback and the last step's
 * numbers; it calls the Lua side under lua_pcall and turns its errors into statuses, the
 * message kept on the run and written to the run's log. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <errno.h>
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
    int own_state;        /* 1: lt_run_new made L, and lt_run_free closes it */
    int host_ref;         /* lutra.host in L's registry; LUA_NOREF: the run did not open */
    int names_ref;        /* the run's host:NAME data sets (name -> spec), for lt_run_free */
    int runner_ref;       /* the run's lutra.runner, LUA_NOREF before a recipe is loaded */
    int quiet;            /* lt_run_options.quiet */
    int in_step_callback; /* 1 while the step callback runs: the run's entry points refuse */
    int free_asked;       /* lt_run_free was called from the step callback */
    atomic_int stop;      /* lt_run_stop's request */
    lt_run_step_fn on_step;
    void *step_user;
    struct lt_run_stats stats;
    char run_dir[PATH_MAX];
    char open_error[1024]; /* why the run did not open */
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

/* The error object on top of L as text, into the run's message; pops it. Pushes nothing
 * outside protected mode. */
static void message_of(struct lt_run *run) {
    lua_State *L = run->L;
    const char *msg = NULL;
    if (lua_type(L, -1) == LUA_TSTRING) {
        msg = lua_tostring(L, -1);
    } else {
        lua_pushcfunction(L, to_text);
        lua_rotate(L, -2, 1);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
    }
    snprintf(run->error, sizeof run->error, "%s", msg ? msg : "(an error object with no message)");
    lua_pop(L, 1);
}

/* A call of lutra.host[name](self, the arguments on the stack [, text, flag]) for host_call. */
struct call {
    struct lt_run *run;
    const char *name;
    int self_ref;     /* the first argument: the runner, or the table of the run's names */
    int nres;         /* results */
    const char *text; /* when not NULL, two more arguments: text and flag as a boolean */
    int flag;
};

/* Makes the call that its struct call (argument 1) describes, with the arguments above it.
 * In protected mode: everything that may allocate happens here. */
static int host_call(lua_State *L) {
    const struct call *c = lua_touserdata(L, 1);
    int nargs = lua_gettop(L) - 1;
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->run->host_ref);
    lua_getfield(L, -1, c->name);
    lua_replace(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, c->self_ref);
    lua_replace(L, -2);
    lua_rotate(L, 2, 1); /* fn, self, the arguments */
    if (c->text) {
        lua_pushstring(L, c->text);
        lua_pushboolean(L, c->flag);
        nargs += 2;
    }
    lua_call(L, nargs + 1, c->nres);
    return c->nres;
}

/* Makes the call c with the nargs arguments on top of the stack, protected. Returns Lua's
 * status; on failure the error object is on top. Needs 2 free stack slots. */
static int call_protected(struct lt_run *run, const struct call *c, int nargs) {
    lua_State *L = run->L;
    lua_pushcfunction(L, host_call);
    lua_pushlightuserdata(L, (void *)c);
    lua_rotate(L, -(nargs + 2), 2); /* host_call, c below the arguments */
    return lua_pcall(L, nargs + 1, c->nres, 0);
}

/* lutra.host[name](runner, the nargs arguments on the stack) for nres results, protected. */
static int call_raw(struct lt_run *run, const char *name, int nargs, int nres) {
    struct call c = {run, name, run->runner_ref, nres, NULL, 0};
    return call_protected(run, &c, nargs);
}

/* A failed call's status: its message kept on the run and written to the run's log
 * (lutra.host.fail, itself protected), which marks the run failed when marks is 1 (a
 * failure of build or steps). */
static enum lt_status lua_failure(struct lt_run *run, int rc, int marks) {
    message_of(run);
    if (rc == LUA_ERRMEM)
        return LT_ENOMEM;
    struct call c = {run, "fail", run->runner_ref, 0, run->error, marks};
    if (call_protected(run, &c, 0) != LUA_OK)
        lua_pop(run->L, 1);
    return LT_EINVAL;
}

/* call_raw, its failure made a status with the message on the run (marks: lua_failure's). */
static enum lt_status call_host(struct lt_run *run, const char *name, int nargs, int nres,
                                int marks) {
    int rc = call_raw(run, name, nargs, nres);
    return rc == LUA_OK ? LT_OK : lua_failure(run, rc, marks);
}

/* What every entry point fn checks first: a run that opened, a call that does not come
 * from the step callback (the runner is in the middle of a step then), room on L's stack
 * for the calls that follow. Clears the last message. */
static enum lt_status enter(struct lt_run *run, const char *fn) {
    if (run->host_ref == LUA_NOREF)
        return fail(run, LT_EINVAL, "%s: the run did not open: %s", fn, run->open_error);
    if (run->in_step_callback)
        return fail(run, LT_EINVAL, "%s: called from the step callback", fn);
    if (!lua_checkstack(run->L, 8))
        return fail(run, LT_ENOMEM, "%s: no room on the Lua stack: out of memory", fn);
    run->error[0] = '\0';
    return LT_OK;
}

/* Whether a recipe was loaded; the message otherwise. */
static enum lt_status need_recipe(struct lt_run *run, const char *fn) {
    if (run->runner_ref == LUA_NOREF)
        return fail(run, LT_EINVAL, "%s: no recipe loaded (lt_run_load_file or lt_run_load_string)",
                    fn);
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
 * run as upvalue 1: the numbers kept, then the host's callback, during which the run's
 * entry points refuse and lt_run_free is deferred. */
static int on_step(lua_State *L) {
    struct lt_run *run = lua_touserdata(L, lua_upvalueindex(1));
    luaL_checktype(L, 1, LUA_TTABLE);
    read_stats(L, 1, &run->stats);
    run->in_step_callback = 1;
    run->on_step(run->step_user, &run->stats);
    run->in_step_callback = 0;
    return 0;
}

/* has_on_step(): whether the host set a step callback, with the run as upvalue 1: without
 * one the hook builds no numbers (lt_run_stats refreshes them after each call). */
static int has_on_step(lua_State *L) {
    struct lt_run *run = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushboolean(L, run->on_step != NULL);
    return 1;
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
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/lutra/host.lua", dir);
    return access(path, R_OK) == 0;
}

/* The folder of lutra's Lua files (o->lua_dir, beside the library, the install's) into
 * dir (PATH_MAX bytes), as an absolute path: a host that changes its working directory
 * later still finds the files lutra requires lazily. Fails naming where it looked. */
static enum lt_status find_lua_dir(struct lt_run *run, const struct lt_run_options *o, char *dir) {
    if (o && o->lua_dir) {
        if (!realpath(o->lua_dir, dir))
            return fail(run, LT_EINVAL, "lutra's Lua files are not in %s: %s", o->lua_dir,
                        strerror(errno));
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
    char tried[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof beside / sizeof beside[0]; i++) {
        snprintf(tried, sizeof tried, "%s%s", here, beside[i]);
        if (has_lua_files(tried) && realpath(tried, dir))
            return LT_OK;
    }
    if (has_lua_files(LT_LUA_DIR) && realpath(LT_LUA_DIR, dir))
        return LT_OK;
    return fail(
        run, LT_EINVAL,
        "lutra's Lua files are not found: not in %s/../share/lua/5.4, %s/../../lua or " LT_LUA_DIR
        " (set lt_run_options.lua_dir)",
        here, here);
}

/* Whether the ';'-separated list path has the entry. */
static int on_path(const char *path, const char *entry) {
    size_t n = strlen(entry);
    for (const char *p = strstr(path, entry); p; p = strstr(p + 1, entry))
        if ((p == path || p[-1] == ';') && (p[n] == ';' || p[n] == '\0'))
            return 1;
    return 0;
}

/* Loads lutra into L (the dir and the run as light userdata): the standard libraries in a
 * state of the run's own, preload, lutra's folder on package.path (once, however many runs
 * the state has), the run's table of names and lutra.host in the registry. In protected
 * mode. */
static int open_lutra(lua_State *L) {
    const char *dir = lua_touserdata(L, 1);
    struct lt_run *run = lua_touserdata(L, 2);
    if (run->own_state)
        luaL_openlibs(L);
    if (lua_getglobal(L, "package") != LUA_TTABLE || lua_getglobal(L, "require") != LUA_TFUNCTION)
        return luaL_error(L, "the Lua state has no package library (package, require): open "
                             "the standard libraries (luaL_openlibs) before lt_run_new_in");
    lua_pop(L, 1);
    lt_lua_preload(L);
    lua_getfield(L, 3, "path");
    const char *path = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    const char *entry = lua_pushfstring(L, "%s/?.lua", dir);
    if (!on_path(path, entry)) {
        lua_pushfstring(L, "%s;%s", entry, path);
        lua_setfield(L, 3, "path");
    }
    lua_newtable(L);
    run->names_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lutra.host");
    lua_call(L, 1, 1);
    run->host_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* last: the run is open */
    return 0;
}

/* Opens a run in L (own: a state the run made, which it closes); fn names the caller in
 * messages. */
static enum lt_status open_run(lua_State *L, int own, const struct lt_run_options *o,
                               struct lt_run **out, const char *fn) {
    struct lt_run *run = calloc(1, sizeof *run);
    if (!run) {
        if (own && L)
            lua_close(L);
        *out = NULL;
        return LT_ENOMEM;
    }
    *out = run;
    run->L = L;
    run->own_state = own;
    run->host_ref = run->names_ref = run->runner_ref = LUA_NOREF;
    atomic_init(&run->stop, 0);
    run->stats.loss = run->stats.lr = run->stats.grad_norm = NAN;
    run->stats.loss_scale = 1;
    run->quiet = o && o->quiet;
    enum lt_status st = LT_OK;
    char dir[PATH_MAX];
    if (!L)
        st = own ? fail(run, LT_ENOMEM, "%s: cannot create a Lua state: out of memory", fn)
                 : fail(run, LT_EINVAL, "%s: L is NULL", fn);
    else if (!lua_checkstack(L, 8))
        st = fail(run, LT_ENOMEM, "%s: no room on the Lua stack: out of memory", fn);
    else
        st = find_lua_dir(run, o, dir);
    if (st == LT_OK) {
        lua_pushcfunction(L, open_lutra);
        lua_pushlightuserdata(L, dir);
        lua_pushlightuserdata(L, run);
        int rc = lua_pcall(L, 2, 0, 0);
        if (rc != LUA_OK) {
            message_of(run);
            char why[sizeof run->error];
            snprintf(why, sizeof why, "%s", run->error);
            st = fail(run, rc == LUA_ERRMEM ? LT_ENOMEM : LT_EINVAL,
                      "%s: loading lutra from %.1024s: %.900s", fn, dir, why);
        }
    }
    if (st != LT_OK)
        snprintf(run->open_error, sizeof run->open_error, "%.1000s", run->error);
    return st;
}

enum lt_status lt_run_new(const struct lt_run_options *o, struct lt_run **out) {
    return open_run(luaL_newstate(), 1, o, out, "lt_run_new");
}

enum lt_status lt_run_new_in(struct lua_State *L, const struct lt_run_options *o,
                             struct lt_run **out) {
    return open_run(L, 0, o, out, "lt_run_new_in");
}

void lt_run_free(struct lt_run *run) {
    if (!run)
        return;
    if (run->in_step_callback) {
        /* the runner is in the middle of a step: it stops at the step's end, and
         * lt_run_steps frees the run before it returns */
        run->free_asked = 1;
        atomic_store_explicit(&run->stop, 1, memory_order_relaxed);
        return;
    }
    lua_State *L = run->L;
    if (L && run->host_ref != LUA_NOREF) {
        if (lua_checkstack(L, 8)) {
            /* failures here have no one left to tell */
            if (run->runner_ref != LUA_NOREF && call_raw(run, "close", 0, 0) != LUA_OK)
                lua_pop(L, 1);
            struct call forget = {run, "forget", run->names_ref, 0, NULL, 0};
            if (call_protected(run, &forget, 0) != LUA_OK)
                lua_pop(L, 1);
        } else {
            fprintf(stderr, "lt_run_free: no room on the Lua stack: the run is not closed\n");
        }
    }
    if (L && run->own_state) {
        lua_close(L); /* the sources' release runs here, as their data sets go */
    } else if (L) {
        luaL_unref(L, LUA_REGISTRYINDEX, run->runner_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, run->names_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, run->host_ref);
        /* the run's data sets and loaders are garbage now: collected here, so that the
         * sources' release runs before lt_run_free returns */
        lua_gc(L, LUA_GCCOLLECT);
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
    enum lt_status st; /* lt_dataset_from_source's refusal */
};

/* lutra.host.register(names, name, train, test, caller_thread) over data sets made of the
 * host's sources. In protected mode; the handles exist before the sources are taken, so a
 * data set is never without its handle (whose __gc frees it, and the source with it). */
static int register_sources(lua_State *L) {
    struct sources_job *job = lua_touserdata(L, 1);
    struct lt_ctx *ctx = lt_lua_ctx(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, job->run->host_ref);
    lua_getfield(L, -1, "register");
    lua_rawgeti(L, LUA_REGISTRYINDEX, job->run->names_ref);
    lua_pushstring(L, job->name);
    struct lt_dataset **train = lt_lua_new_dataset(L);
    struct lt_dataset **test = lt_lua_new_dataset(L);
    const char *split = "train";
    job->st = lt_dataset_from_source(ctx, job->train, train);
    if (job->st == LT_OK) {
        split = "test";
        job->st = lt_dataset_from_source(ctx, job->test, test);
    }
    if (job->st != LT_OK)
        return luaL_error(L, "lt_run_add_source: %s: %s source: %s", job->name, split,
                          lt_ctx_error(ctx));
    lua_pushboolean(L, job->train->caller_thread);
    lua_call(L, 5, 0);
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
    enum lt_status st = enter(run, "lt_run_add_source");
    if (st != LT_OK)
        return st;
    if (!is_word(name))
        return fail(run, LT_EINVAL,
                    "lt_run_add_source: the name must be a word ([A-Za-z_][A-Za-z0-9_]*), got "
                    "'%s'",
                    name ? name : "(null)");
    if (!train || !test)
        return fail(run, LT_EINVAL, "lt_run_add_source: %s: give a train and a test source", name);
    struct sources_job job = {run, name, train, test, LT_OK};
    lua_pushcfunction(run->L, register_sources);
    lua_pushlightuserdata(run->L, &job);
    int rc = lua_pcall(run->L, 1, 0, 0);
    if (rc == LUA_OK)
        return LT_OK;
    message_of(run);
    return job.st != LT_OK ? job.st : rc == LUA_ERRMEM ? LT_ENOMEM : LT_EINVAL;
}

/* ---- the recipe -------------------------------------------------------------------------- */

struct load_job {
    struct lt_run *run;
    const char *fn; /* the entry point, for messages */
    const char *path, *text;
    int n;
    const char *const *overrides;
};

/* lutra.host.load(path, text, overrides, {quiet =, stop_requested =, on_step =,
 * has_on_step =}); the
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
            return luaL_error(L, "%s: override %d is NULL", job->fn, i + 1);
        lua_pushstring(L, job->overrides[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_createtable(L, 0, 4);
    lua_pushboolean(L, run->quiet);
    lua_setfield(L, -2, "quiet");
    lua_pushlightuserdata(L, run);
    lua_pushcclosure(L, stop_requested, 1);
    lua_setfield(L, -2, "stop_requested");
    lua_pushlightuserdata(L, run);
    lua_pushcclosure(L, on_step, 1);
    lua_setfield(L, -2, "on_step");
    lua_pushlightuserdata(L, run);
    lua_pushcclosure(L, has_on_step, 1);
    lua_setfield(L, -2, "has_on_step");
    lua_call(L, 4, 1);
    run->runner_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

/* lt_run_load_file (text NULL) and lt_run_load_string, fn naming which; path is the
 * file's path or the string's name. */
static enum lt_status load(struct lt_run *run, const char *fn, const char *path, const char *text,
                           int n, const char *const *overrides) {
    enum lt_status st = enter(run, fn);
    if (st != LT_OK)
        return st;
    if (run->runner_ref != LUA_NOREF)
        return fail(run, LT_EINVAL,
                    "%s: a recipe is loaded already: a run trains one recipe (make another run)",
                    fn);
    if (!path)
        return fail(run, LT_EINVAL, "%s: %s is NULL", fn, text ? "name" : "path");
    if (n < 0)
        return fail(run, LT_EINVAL, "%s: n_overrides is %d: it must be >= 0", fn, n);
    if (n > 0 && !overrides)
        return fail(run, LT_EINVAL, "%s: overrides is NULL and n_overrides is %d", fn, n);
    struct load_job job = {run, fn, path, text, n, overrides};
    lua_pushcfunction(run->L, load_recipe);
    lua_pushlightuserdata(run->L, &job);
    int rc = lua_pcall(run->L, 1, 0, 0);
    if (rc != LUA_OK)
        return lua_failure(run, rc, 0);
    refresh_stats(run);
    return LT_OK;
}

enum lt_status lt_run_load_file(struct lt_run *run, const char *path, int n_overrides,
                                const char *const *overrides) {
    return load(run, "lt_run_load_file", path, NULL, n_overrides, overrides);
}

enum lt_status lt_run_load_string(struct lt_run *run, const char *name, const char *text,
                                  int n_overrides, const char *const *overrides) {
    if (!text) {
        enum lt_status st = enter(run, "lt_run_load_string");
        return st != LT_OK ? st : fail(run, LT_EINVAL, "%s", "lt_run_load_string: text is NULL");
    }
    return load(run, "lt_run_load_string", name, text, n_overrides, overrides);
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
    enum lt_status st = enter(run, "lt_run_build");
    if (st != LT_OK)
        return st;
    st = need_recipe(run, "lt_run_build");
    if (st != LT_OK)
        return st;
    st = call_host(run, "build", 0, 0, 1);
    after_call(run);
    return st;
}

/* lt_run_steps and lt_run_train, fn naming which. Frees the run before it returns when
 * the step callback asked for that. */
static enum lt_status steps(struct lt_run *run, int64_t n, const char *fn) {
    enum lt_status st = enter(run, fn);
    if (st != LT_OK)
        return st;
    st = need_recipe(run, fn);
    if (st != LT_OK)
        return st;
    lua_pushinteger(run->L, n < 0 ? -1 : (lua_Integer)n);
    st = call_host(run, "steps", 1, 0, 1);
    after_call(run);
    if (run->free_asked)
        lt_run_free(run);
    return st;
}

enum lt_status lt_run_steps(struct lt_run *run, int64_t n) {
    return steps(run, n, "lt_run_steps");
}

enum lt_status lt_run_train(struct lt_run *run) {
    return steps(run, -1, "lt_run_train");
}

enum lt_status lt_run_evaluate(struct lt_run *run, struct lt_run_eval *out) {
    enum lt_status st = enter(run, "lt_run_evaluate");
    if (st == LT_OK && !out)
        st = fail(run, LT_EINVAL, "%s", "lt_run_evaluate: out is NULL");
    if (st == LT_OK)
        st = need_recipe(run, "lt_run_evaluate");
    if (st != LT_OK)
        return st;
    st = call_host(run, "evaluate", 0, 3, 0);
    if (st == LT_OK) {
        lua_State *L = run->L;
        out->loss = lua_tonumber(L, -3);
        out->accuracy = lua_isnumber(L, -2) ? lua_tonumber(L, -2) : NAN;
        out->count = (int64_t)lua_tonumber(L, -1);
        lua_pop(L, 3);
    }
    after_call(run);
    return st;
}

enum lt_status lt_run_save(struct lt_run *run, char *path, size_t size) {
    enum lt_status st = enter(run, "lt_run_save");
    if (st == LT_OK)
        st = need_recipe(run, "lt_run_save");
    if (st != LT_OK)
        return st;
    st = call_host(run, "save", 0, 1, 0);
    if (st == LT_OK) {
        const char *saved = lua_tostring(run->L, -1);
        if (path && size > 0)
            snprintf(path, size, "%s", saved ? saved : "");
        lua_pop(run->L, 1);
    }
    after_call(run);
    return st;
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
