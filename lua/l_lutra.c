/* The module openers and the context: `require "lutra.core"` builds the table of C
 * functions around one lt_ctx per lua_State (kept in the registry); `require "lutra"`
 * adds the Lua library (lua/lutra/api.lua) on top. Also the context's settings: seed,
 * threads, memory limit, backend and version; and the interrupt flag a host's signal
 * handlers set. */
#include <signal.h>

#include "lua/l_lutra.h"

/* The registry key of the context userdata (its address is the key). */
static const char ctx_key = 'c';

/* The signal a host's handler saw (SIGINT, SIGTERM), 0 for none; signals are
 * process-wide, so this is too. */
static volatile sig_atomic_t interrupted;

/* The state whose running code an interrupt breaks (the REPL's), or NULL: then an
 * interrupt only sets the flag, and a training loop finishes its step. */
static lua_State *volatile break_state;

struct lt_ctx *lt_lua_ctx(lua_State *L) {
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key);
    struct lt_ctx **slot = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!slot || !*slot)
        luaL_error(L, "lutra: the module is not open in this Lua state");
    return *slot;
}

int lt_lua_fail(lua_State *L) {
    return luaL_error(L, "%s", lt_ctx_error(lt_lua_ctx(L)));
}

/* The hook an interrupt sets in break_state: removes itself and raises, as lua.c does. */
static void break_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

int lt_lua_interrupt(int sig) {
    lua_State *L = break_state;
    if (!L && interrupted == sig)
        return 1; /* the same signal again, not yet handled: the user insists */
    interrupted = sig;
    if (L) /* lua_sethook is the one Lua call that is safe in a signal handler */
        lua_sethook(L, break_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
    return 0;
}

int lt_lua_interrupted(void) {
    return interrupted;
}

/* The context is the first handle created in a state and is finalised last (Lua runs
 * finalisers in reverse order of creation), after every object that refers to it. */
static int ctx_gc(lua_State *L) {
    struct lt_ctx **slot = luaL_checkudata(L, 1, LT_CONTEXT_MT);
    lt_ctx_free(*slot);
    *slot = NULL;
    return 0;
}

/* Creates the context userdata in the registry unless it is there already. */
static void open_ctx(lua_State *L) {
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &ctx_key) != LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    lua_pop(L, 1);
    struct lt_ctx **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    if (luaL_newmetatable(L, LT_CONTEXT_MT)) {
        lua_pushcfunction(L, ctx_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (lt_ctx_new(slot) != LT_OK)
        luaL_error(L, "lutra: out of memory creating the context");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &ctx_key);
}

/* set_seed(n): the seed every random stream is keyed from (n >= 0). */
static int l_set_seed(lua_State *L) {
    lua_Integer seed = luaL_checkinteger(L, 1);
    luaL_argcheck(L, seed >= 0, 1, "the seed must be >= 0");
    lt_ctx_set_seed(lt_lua_ctx(L), (uint64_t)seed);
    return 0;
}

static int l_seed(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_ctx_seed(lt_lua_ctx(L)));
    return 1;
}

/* set_threads(n): threads for the CPU kernels; 0 means OpenMP's default. */
static int l_set_threads(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 4096, 1, "the thread count must be in [0, 4096]");
    lt_ctx_set_threads(lt_lua_ctx(L), (int)n);
    return 0;
}

static int l_threads(lua_State *L) {
    lua_pushinteger(L, lt_ctx_threads(lt_lua_ctx(L)));
    return 1;
}

/* set_profile(on): trainers made afterwards time every node of their steps (slower
 * steps, exact attribution); read with trainer handle:profile(). */
static int l_set_profile(lua_State *L) {
    luaL_checktype(L, 1, LUA_TBOOLEAN);
    lt_ctx_set_profile(lt_lua_ctx(L), lua_toboolean(L, 1));
    return 0;
}

/* set_memory_limit(bytes): what plans may use; 0 means the machine's RAM. */
static int l_set_memory_limit(lua_State *L) {
    lua_Integer bytes = luaL_checkinteger(L, 1);
    luaL_argcheck(L, bytes >= 0, 1, "the memory limit must be >= 0 bytes");
    lt_ctx_set_memory_limit(lt_lua_ctx(L), (size_t)bytes);
    return 0;
}

static int l_memory_limit(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_ctx_memory_limit(lt_lua_ctx(L)));
    return 1;
}

/* use_reference(): plans built from now on use the reference kernels. */
static int l_use_reference(lua_State *L) {
    lt_ctx_use_reference(lt_lua_ctx(L));
    return 0;
}

static int l_backend_info(lua_State *L) {
    lua_pushstring(L, lt_ctx_backend_info(lt_lua_ctx(L)));
    return 1;
}

/* set_device(name): "auto", "cpu", "cuda", "cuda:N". Returns the device picked and, when
 * "auto" fell back to the CPU, why; or nil and the reason when the device cannot be used
 * (a run-time condition, as write_atomic reports, not a bad call). */
static int l_set_device(lua_State *L) {
    struct lt_ctx *ctx = lt_lua_ctx(L);
    if (lt_ctx_set_device(ctx, luaL_checkstring(L, 1)) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, lt_ctx_error(ctx));
        return 2;
    }
    lua_pushstring(L, lt_ctx_device(ctx));
    const char *notice = lt_ctx_device_notice(ctx);
    if (notice[0])
        lua_pushstring(L, notice);
    else
        lua_pushnil(L);
    return 2;
}

/* cuda_plugin() -> the plugin's path, or nil when there is none. */
static int l_cuda_plugin(lua_State *L) {
    char path[4300];
    if (lt_cuda_plugin_path(path, sizeof path))
        lua_pushstring(L, path);
    else
        lua_pushnil(L);
    return 1;
}

static int l_device(lua_State *L) {
    lua_pushstring(L, lt_ctx_device(lt_lua_ctx(L)));
    return 1;
}

static int l_device_info(lua_State *L) {
    lua_pushstring(L, lt_ctx_device_info(lt_lua_ctx(L)));
    return 1;
}

/* device_memory() -> free, total, runtime bytes of the training device. */
static int l_device_memory(lua_State *L) {
    size_t f, t, r;
    lt_ctx_device_memory(lt_lua_ctx(L), &f, &t, &r);
    lua_pushinteger(L, (lua_Integer)f);
    lua_pushinteger(L, (lua_Integer)t);
    lua_pushinteger(L, (lua_Integer)r);
    return 3;
}

static int l_set_tf32(lua_State *L) {
    lt_ctx_set_tf32(lt_lua_ctx(L), lua_toboolean(L, 1));
    return 0;
}

static int l_set_graphs(lua_State *L) {
    lt_ctx_set_graphs(lt_lua_ctx(L), lua_toboolean(L, 1));
    return 0;
}

static int l_set_deterministic(lua_State *L) {
    lt_ctx_set_deterministic(lt_lua_ctx(L), lua_toboolean(L, 1));
    return 0;
}

static int l_version(lua_State *L) {
    lua_pushstring(L, LT_VERSION);
    return 1;
}

/* interrupted(): false, or the name of the signal the host saw ("SIGINT", "SIGTERM");
 * always false under a stock lua5.4, which does not report signals. */
static int l_interrupted(lua_State *L) {
    int sig = interrupted;
    if (sig == 0)
        lua_pushboolean(L, 0);
    else if (sig == SIGINT)
        lua_pushliteral(L, "SIGINT");
    else if (sig == SIGTERM)
        lua_pushliteral(L, "SIGTERM");
    else
        lua_pushfstring(L, "signal %d", sig);
    return 1;
}

/* clear_interrupt(): forgets a seen signal (the REPL, after it stopped what ran). */
static int l_clear_interrupt(lua_State *L) {
    (void)L;
    interrupted = 0;
    return 0;
}

/* break_on_interrupt(on): whether an interrupt raises "interrupted!" in the code running
 * in this state (the REPL) instead of only setting the flag. */
static int l_break_on_interrupt(lua_State *L) {
    break_state = lua_toboolean(L, 1) ? L : NULL;
    return 0;
}

static const luaL_Reg ctx_funcs[] = {
    {"set_seed", l_set_seed},
    {"seed", l_seed},
    {"set_threads", l_set_threads},
    {"threads", l_threads},
    {"set_profile", l_set_profile},
    {"set_memory_limit", l_set_memory_limit},
    {"memory_limit", l_memory_limit},
    {"use_reference", l_use_reference},
    {"backend_info", l_backend_info},
    {"set_device", l_set_device},
    {"device", l_device},
    {"cuda_plugin", l_cuda_plugin},
    {"device_info", l_device_info},
    {"device_memory", l_device_memory},
    {"set_tf32", l_set_tf32},
    {"set_deterministic", l_set_deterministic},
    {"set_graphs", l_set_graphs},
    {"version", l_version},
    {"interrupted", l_interrupted},
    {"clear_interrupt", l_clear_interrupt},
    {"break_on_interrupt", l_break_on_interrupt},
    {NULL, NULL},
};

LT_LUA_EXPORT int luaopen_lutra_core(lua_State *L) {
    open_ctx(L);
    luaL_newlib(L, ctx_funcs);
    lt_lua_open_tensor(L);
    lt_lua_open_graph(L);
    lt_lua_open_op(L);
    lt_lua_open_plan(L);
    lt_lua_open_data(L);
    lt_lua_open_source(L);
    lt_lua_open_io(L);
    lt_lua_open_image(L);
    lt_lua_open_sys(L);
    lt_lua_open_json(L);
    lt_lua_open_dist(L);
    return 1;
}

/* The core goes into package.loaded["lutra.core"] first, so that the Lua files can
 * require it; they must never require "lutra" itself (it is being loaded). */
LT_LUA_EXPORT int luaopen_lutra(lua_State *L) {
    luaL_requiref(L, "lutra.core", luaopen_lutra_core, 0);
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lutra.api");
    lua_call(L, 1, 1);
    return 1;
}

void lt_lua_preload(lua_State *L) {
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lutra_core);
    lua_setfield(L, -2, "lutra.core");
    lua_pushcfunction(L, luaopen_lutra);
    lua_setfield(L, -2, "lutra");
    lua_pop(L, 1);
}
