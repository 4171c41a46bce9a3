/* Data sets written in Lua: a host source (struct lt_source) whose fill calls the Lua
 * function get(i) for each sample. Lua runs on one thread, so the source is read only on
 * the thread calling the loader (caller_thread), on a Lua thread of its own (a loader
 * may be called from inside a coroutine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/l_lutra.h"

struct lua_source {
    lua_State *T; /* anchored in the registry by thread_ref */
    int thread_ref, get_ref;
    struct lt_sample_shape x, y;
    int64_t x_elems, y_elems;
    char name[128];
};

static int64_t elems(const struct lt_sample_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++)
        n *= s->shape[i];
    return n;
}

static void store_number(void *dst, int64_t k, enum lt_dtype dt, lua_Number v) {
    if (dt == LT_DTYPE_F32)
        ((float *)dst)[k] = (float)v;
    else if (dt == LT_DTYPE_I32)
        ((int32_t *)dst)[k] = (int32_t)v;
    else
        ((uint8_t *)dst)[k] = (uint8_t)v;
}

/* Copies the value at idx (a tensor, a number or a flat list of numbers) into dst as
 * the sample shape s says; 0, or -1 with a message. */
static int copy_value(lua_State *T, int idx, const char *what, const struct lt_sample_shape *s,
                      int64_t n, void *dst, char *msg, size_t size) {
    struct lt_tensor *t = lt_lua_to_tensor(T, idx);
    if (t) {
        if (lt_tensor_dtype(t) != s->dtype || lt_tensor_numel(t) != n) {
            snprintf(msg, size, "%s is a %s tensor of %lld elements, want %s of %lld", what,
                     lt_dtype_name(lt_tensor_dtype(t)), (long long)lt_tensor_numel(t),
                     lt_dtype_name(s->dtype), (long long)n);
            return -1;
        }
        memcpy(dst, lt_tensor_data(t), (size_t)n * lt_dtype_bytes(s->dtype));
        return 0;
    }
    if (lua_isnumber(T, idx) && n == 1) {
        lua_Number v = lua_tonumber(T, idx);
        if (s->dtype != LT_DTYPE_F32 && v != (lua_Number)(int64_t)v) {
            snprintf(msg, size, "%s is %g, want an integer", what, (double)v);
            return -1;
        }
        store_number(dst, 0, s->dtype, v);
        return 0;
    }
    if (lua_istable(T, idx) && luaL_len(T, idx) == n) {
        for (int64_t k = 0; k < n; k++) {
            lua_rawgeti(T, idx, (lua_Integer)k + 1);
            int ok = lua_isnumber(T, -1);
            lua_Number v = lua_tonumber(T, -1);
            lua_pop(T, 1);
            if (!ok) {
                snprintf(msg, size, "%s[%lld] is not a number", what, (long long)k + 1);
                return -1;
            }
            store_number(dst, k, s->dtype, v);
        }
        return 0;
    }
    snprintf(msg, size, "%s is a %s; want a %s tensor, %s of %lld numbers", what,
             lua_typename(T, lua_type(T, idx)), lt_dtype_name(s->dtype),
             n == 1 ? "a number or a list" : "or a list", (long long)n);
    return -1;
}

static int fill(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                char *msg, size_t size) {
    (void)epoch;
    struct lua_source *src = user;
    lua_State *T = src->T;
    size_t xb = (size_t)src->x_elems * lt_dtype_bytes(src->x.dtype);
    size_t yb = (size_t)src->y_elems * lt_dtype_bytes(src->y.dtype);
    char what[64];
    for (int64_t r = 0; r < n; r++) {
        lua_settop(T, 0);
        lua_rawgeti(T, LUA_REGISTRYINDEX, src->get_ref);
        lua_pushinteger(T, (lua_Integer)idx[r] + 1);
        if (lua_pcall(T, 1, 2, 0) != LUA_OK) {
            const char *e = lua_tostring(T, -1);
            snprintf(msg, size, "%s: get(%lld) failed: %s", src->name, (long long)idx[r] + 1,
                     e ? e : "(an error that is not a string)");
            lua_settop(T, 0);
            return -1;
        }
        snprintf(what, sizeof what, "get(%lld)'s x", (long long)idx[r] + 1);
        int rc = copy_value(T, 1, what, &src->x, src->x_elems, (char *)x + (size_t)r * xb, msg,
                            size);
        snprintf(what, sizeof what, "get(%lld)'s y", (long long)idx[r] + 1);
        if (rc == 0)
            rc = copy_value(T, 2, what, &src->y, src->y_elems, (char *)y + (size_t)r * yb, msg,
                            size);
        lua_settop(T, 0);
        if (rc != 0) {
            char full[1024];
            snprintf(full, sizeof full, "%s: %s", src->name, msg);
            snprintf(msg, size, "%s", full);
            return -1;
        }
    }
    return 0;
}

static void release(void *user) {
    struct lua_source *src = user;
    luaL_unref(src->T, LUA_REGISTRYINDEX, src->get_ref);
    luaL_unref(src->T, LUA_REGISTRYINDEX, src->thread_ref); /* T may be collected now */
    free(src);
}

/* Reads {dtype =, shape =} at field `key` of the table at arg. */
static void sample_shape(lua_State *L, int arg, const char *key, struct lt_sample_shape *s) {
    lua_getfield(L, arg, key);
    if (!lua_istable(L, -1))
        luaL_error(L, "source: %s must be {dtype =, shape =}", key);
    int t = lua_gettop(L);
    lua_getfield(L, t, "dtype");
    s->dtype = lt_lua_check_dtype(L, lua_gettop(L), -1);
    lua_getfield(L, t, "shape");
    s->ndim = lt_lua_check_shape(L, lua_gettop(L), s->shape);
    lua_settop(L, t - 1);
}

/* source{name =, size =, get = function(i) return x, y end, x = {dtype =, shape =},
 * y = {dtype =, shape =}, classes = n}: a data set whose sample i (1-based) is get(i). */
static int l_source(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "get");
    luaL_argcheck(L, lua_isfunction(L, -1), 1, "get must be a function");
    lua_pop(L, 1);
    lua_getfield(L, 1, "size");
    lua_Integer size = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    luaL_argcheck(L, size >= 0, 1, "size must be an integer >= 0");
    lua_getfield(L, 1, "classes");
    lua_Integer classes = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    luaL_argcheck(L, classes >= 0 && classes <= 0x7fffffff, 1, "classes must be an integer >= 0");
    struct lt_sample_shape x, y;
    sample_shape(L, 1, "x", &x);
    sample_shape(L, 1, "y", &y);
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, "source");

    struct lua_source *src = calloc(1, sizeof *src);
    if (!src)
        return luaL_error(L, "source: out of memory");
    snprintf(src->name, sizeof src->name, "%s", name);
    lua_pop(L, 1);
    src->x = x;
    src->y = y;
    src->x_elems = elems(&src->x);
    src->y_elems = elems(&src->y);
    src->T = lua_newthread(L);
    src->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, 1, "get");
    src->get_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    struct lt_source s = {
        .size = size, .x = src->x, .y = src->y, .classes = (int)classes, .fill = fill,
        .release = release, .user = src, .caller_thread = 1, .origin = src->name,
    };
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    enum lt_status st = lt_dataset_from_source(lt_lua_ctx(L), &s, slot);
    if (st != LT_OK) {
        release(src);
        return lt_lua_fail(L);
    }
    return 1;
}

static const luaL_Reg source_funcs[] = {{"source", l_source}, {NULL, NULL}};

void lt_lua_open_source(lua_State *L) {
    luaL_setfuncs(L, source_funcs, 0);
}
