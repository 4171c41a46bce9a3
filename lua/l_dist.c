/* Data-parallel ranks for Lua: the job's world (core/lutra.h, lt_dist_*) as lutra.core's
 * dist_* functions; the runner (lua/lutra/dist.lua) decides what each rank does. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <sched.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>

#include "lua/l_lutra.h"

/* dist_launched(): whether an MPI launcher started this process, and the rank and world
 * size its environment says (nil where it does not); dist_built(): whether lutra has MPI. */
static int l_dist_launched(lua_State *L) {
    int rank, size, launched = lt_dist_launched(&rank, &size);
    lua_pushboolean(L, launched);
    if (launched && rank >= 0)
        lua_pushinteger(L, rank);
    else
        lua_pushnil(L);
    if (launched && size >= 0)
        lua_pushinteger(L, size);
    else
        lua_pushnil(L);
    return 3;
}

static int l_dist_built(lua_State *L) {
    lua_pushboolean(L, lt_dist_built());
    return 1;
}

/* dist_join(): joins the job (a world of one without a launcher); raises why not. */
static int l_dist_join(lua_State *L) {
    LT_LUA_CHECK(L, lt_dist_join(lt_lua_ctx(L)));
    return 0;
}

/* dist_world(): {rank =, size =, local_rank =, local_size =, timeout =, bucket_bytes =}. */
static int l_dist_world(lua_State *L) {
    struct lt_ctx *ctx = lt_lua_ctx(L);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, lt_dist_rank(ctx));
    lua_setfield(L, -2, "rank");
    lua_pushinteger(L, lt_dist_size(ctx));
    lua_setfield(L, -2, "size");
    lua_pushinteger(L, lt_dist_local_rank(ctx));
    lua_setfield(L, -2, "local_rank");
    lua_pushinteger(L, lt_dist_local_size(ctx));
    lua_setfield(L, -2, "local_size");
    lua_pushnumber(L, lt_dist_timeout(ctx));
    lua_setfield(L, -2, "timeout");
    lua_pushinteger(L, (lua_Integer)lt_dist_bucket_bytes(ctx));
    lua_setfield(L, -2, "bucket_bytes");
    return 1;
}

/* dist_set_timeout(seconds), dist_set_bucket_bytes(n): raise on bad values. */
static int l_dist_set_timeout(lua_State *L) {
    LT_LUA_CHECK(L, lt_dist_set_timeout(lt_lua_ctx(L), luaL_checknumber(L, 1)));
    return 0;
}

static int l_dist_set_bucket_bytes(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0, 1, "bytes must be > 0");
    LT_LUA_CHECK(L, lt_dist_set_bucket_bytes(lt_lua_ctx(L), (size_t)n));
    return 0;
}

/* dist_cores(): the cores this rank may use: the host's shared among its ranks, and no
 * more than it may run on (the launcher may bind a rank to one core, or to a socket that
 * other ranks share; a container may hold it to fewer cores than the host has); at
 * least 1. */
static int l_dist_cores(lua_State *L) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int local = lt_dist_local_size(lt_lua_ctx(L));
    long n = (online > 0 ? online : 1) / (local > 0 ? local : 1);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < n)
        n = CPU_COUNT(&set);
    lua_pushinteger(L, n > 0 ? n : 1);
    return 1;
}

#define MAX_SUMS 64

/* dist_sum(list of numbers [, what]), dist_max(...): their sums (largest values) over
 * every rank, a new list. */
static int reduce_list(lua_State *L, int max) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *what = luaL_optstring(L, 2, max ? "a maximum over the ranks" : "a sum over the ranks");
    lua_Integer n = luaL_len(L, 1);
    luaL_argcheck(L, n >= 0 && n <= MAX_SUMS, 1, "at most 64 numbers");
    double v[MAX_SUMS];
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, 1, i + 1);
        if (!lua_isnumber(L, -1))
            return luaL_error(L, "%s: item %d is a %s, not a number", what, (int)i + 1,
                              luaL_typename(L, -1));
        v[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    struct lt_ctx *ctx = lt_lua_ctx(L);
    LT_LUA_CHECK(L, max ? lt_dist_max(ctx, v, (int)n, what) : lt_dist_sum(ctx, v, (int)n, what));
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_dist_sum(lua_State *L) {
    return reduce_list(L, 0);
}

static int l_dist_max(lua_State *L) {
    return reduce_list(L, 1);
}

static const luaL_Reg dist_funcs[] = {
    {"dist_launched", l_dist_launched},
    {"dist_built", l_dist_built},
    {"dist_join", l_dist_join},
    {"dist_world", l_dist_world},
    {"dist_set_timeout", l_dist_set_timeout},
    {"dist_set_bucket_bytes", l_dist_set_bucket_bytes},
    {"dist_sum", l_dist_sum},
    {"dist_max", l_dist_max},
    {"dist_cores", l_dist_cores},
    {NULL, NULL},
};

void lt_lua_open_dist(lua_State *L) {
    luaL_setfuncs(L, dist_funcs, 0);
}
