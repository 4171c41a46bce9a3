/* Data sets written in Lua: a host source (struct lt_source) whose fill calls the Lua
 * function get(i) for each sample. Lua runs on one thread, so the source is read only on
 * the thread calling the loader (caller_thread), on a Lua thread of its own (a loader
 * may be called from inside a coroutine). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua/l_lutra.h"

struct lua_source {
    lua_State *T; /* anchored in the registry by thread_ref */
    int thread_ref, fn_ref; /* fn: get(i), or fill(indices) when batched */
    int batched;
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

/* Which call of the source a value came from, for messages: get(i) or fill(a batch of
 * n), and its x or y. Formatted only when something is wrong, so a sample that is fine
 * makes no string. */
struct call {
    int batched;
    lua_Integer i; /* get's sample (1-based), or fill's batch size */
    const char *part; /* "x", "y", or NULL for the call itself */
};

/* Pushes the call's name ("get(3)'s x") and returns it. */
static const char *call_name(lua_State *T, const struct call *c) {
    return lua_pushfstring(T, c->batched ? "fill(a batch of %I)%s%s" : "get(%I)%s%s", c->i,
                           c->part ? "'s " : "", c->part ? c->part : "");
}

/* Checks that v fits dtype dt (finite; an integer in range for i32 and u8) and stores it
 * as element k of dst; raises naming the call's value otherwise. */
static void store_number(lua_State *T, const struct call *what, int64_t k, void *dst,
                         enum lt_dtype dt, lua_Number v) {
    int ok = isfinite(v);
    if (dt == LT_DTYPE_F32)
        ok = ok && fabs(v) <= FLT_MAX;
    else if (dt == LT_DTYPE_I32)
        ok = ok && v == floor(v) && v >= INT32_MIN && v <= INT32_MAX;
    else
        ok = ok && v == floor(v) && v >= 0 && v <= 255;
    if (!ok)
        luaL_error(T, "%s%s is %f, which does not fit %s%s", call_name(T, what),
                   k >= 0 ? lua_pushfstring(T, "[%I]", (lua_Integer)k + 1) : "", v,
                   lt_dtype_name(dt), dt == LT_DTYPE_F32 ? "" : " (an integer in its range)");
    k = k < 0 ? 0 : k;
    if (dt == LT_DTYPE_F32)
        ((float *)dst)[k] = (float)v;
    else if (dt == LT_DTYPE_I32)
        ((int32_t *)dst)[k] = (int32_t)v;
    else
        ((uint8_t *)dst)[k] = (uint8_t)v;
}

/* Copies the value at idx (a tensor, a number or a flat list of numbers) into dst as the
 * sample shape s says; raises naming the call's value when it does not fit. */
static void copy_value(lua_State *T, int idx, const struct call *what,
                       const struct lt_sample_shape *s, int64_t n, void *dst) {
    struct lt_tensor *t = lt_lua_to_tensor(T, idx);
    if (t) {
        if (lt_tensor_dtype(t) != s->dtype || lt_tensor_numel(t) != n)
            luaL_error(T, "%s is a %s tensor of %I elements, want %s of %I", call_name(T, what),
                       lt_dtype_name(lt_tensor_dtype(t)), (lua_Integer)lt_tensor_numel(t),
                       lt_dtype_name(s->dtype), (lua_Integer)n);
        memcpy(dst, lt_tensor_data(t), (size_t)n * lt_dtype_bytes(s->dtype));
    } else if (lua_type(T, idx) == LUA_TNUMBER && n == 1) {
        store_number(T, what, -1, dst, s->dtype, lua_tonumber(T, idx));
    } else if (lua_type(T, idx) == LUA_TTABLE && (int64_t)lua_rawlen(T, idx) == n) {
        for (int64_t k = 0; k < n; k++) {
            lua_rawgeti(T, idx, (lua_Integer)k + 1);
            if (lua_type(T, -1) != LUA_TNUMBER)
                luaL_error(T, "%s[%I] is a %s, not a number", call_name(T, what), (lua_Integer)k + 1,
                           luaL_typename(T, -1));
            store_number(T, what, k, dst, s->dtype, lua_tonumber(T, -1));
            lua_pop(T, 1);
        }
    } else {
        luaL_error(T, "%s is a %s; want a %s tensor, %s of %I numbers", call_name(T, what),
                   luaL_typename(T, idx), lt_dtype_name(s->dtype),
                   n == 1 ? "a number or a list" : "or a list", (lua_Integer)n);
    }
}

/* A batch's rows: what read_rows, run under lua_pcall, needs. */
struct rows_job {
    struct lua_source *src;
    const int64_t *idx; /* 0-based */
    int64_t n;
    void *x, *y;        /* the batch's buffers */
};

/* Calls the function below its nargs arguments for two results and copies them into x
 * (n_x elements) and y (n_y); raises "<call> failed: <its error>" when it raises, or
 * naming the value that does not fit. */
static void call_source(lua_State *T, int nargs, struct call *c, const struct lua_source *src,
                        int64_t n_x, void *x, int64_t n_y, void *y) {
    if (lua_pcall(T, nargs, 2, 0) != LUA_OK)
        luaL_error(T, "%s failed: %s", call_name(T, c), luaL_tolstring(T, -1, NULL));
    int xi = lua_gettop(T) - 1, yi = lua_gettop(T);
    c->part = "x";
    copy_value(T, xi, c, &src->x, n_x, x);
    c->part = "y";
    copy_value(T, yi, c, &src->y, n_y, y);
}

/* The job's rows: fill(indices) once, or get(i) for each sample, the values copied into
 * the batch; every Lua error (the source's own, a __len or __index raising, a value that
 * does not fit) is raised here, inside the pcall, so none crosses the loader's C frames. */
static int read_rows(lua_State *T) {
    struct rows_job *job = lua_touserdata(T, 1);
    struct lua_source *src = job->src;
    lua_rawgeti(T, LUA_REGISTRYINDEX, src->fn_ref);
    int fn = lua_gettop(T);
    if (src->batched) {
        lua_pushvalue(T, fn);
        lua_createtable(T, (int)job->n, 0);
        for (int64_t r = 0; r < job->n; r++) {
            lua_pushinteger(T, (lua_Integer)job->idx[r] + 1);
            lua_rawseti(T, -2, (lua_Integer)r + 1);
        }
        struct call c = {1, (lua_Integer)job->n, NULL};
        call_source(T, 1, &c, src, job->n * src->x_elems, job->x, job->n * src->y_elems,
                    job->y);
        return 0;
    }
    size_t xb = (size_t)src->x_elems * lt_dtype_bytes(src->x.dtype);
    size_t yb = (size_t)src->y_elems * lt_dtype_bytes(src->y.dtype);
    for (int64_t r = 0; r < job->n; r++) {
        lua_settop(T, fn);
        struct call c = {0, (lua_Integer)job->idx[r] + 1, NULL};
        lua_pushvalue(T, fn);
        lua_pushinteger(T, c.i);
        call_source(T, 1, &c, src, src->x_elems, (char *)job->x + (size_t)r * xb, src->y_elems,
                    (char *)job->y + (size_t)r * yb);
    }
    return 0;
}

static int fill(void *user, uint32_t epoch, const int64_t *idx, int64_t n, void *x, void *y,
                char *msg, size_t size) {
    (void)epoch;
    struct lua_source *src = user;
    lua_State *T = src->T;
    struct rows_job job = {src, idx, n, x, y};
    lua_settop(T, 0);
    lua_pushcfunction(T, read_rows);
    lua_pushlightuserdata(T, &job);
    int rc = lua_pcall(T, 1, 0, 0);
    if (rc != LUA_OK) {
        const char *e = lua_tostring(T, -1);
        snprintf(msg, size, "%s: %s", src->name, e ? e : "(an error that is not a string)");
    }
    lua_settop(T, 0);
    return rc == LUA_OK ? 0 : -1;
}

static void release(void *user) {
    struct lua_source *src = user;
    luaL_unref(src->T, LUA_REGISTRYINDEX, src->fn_ref);
    luaL_unref(src->T, LUA_REGISTRYINDEX, src->thread_ref); /* T may be collected now */
    free(src);
}

/* Reads {dtype =, shape =} at field `key` of the table at arg; raises naming the key. */
static void sample_shape(lua_State *L, int arg, const char *key, struct lt_sample_shape *s) {
    lua_getfield(L, arg, key);
    int t = lua_gettop(L);
    if (!lua_istable(L, t))
        luaL_error(L, "source: %s must be {dtype =, shape =}, got %s", key, luaL_typename(L, t));
    lua_getfield(L, t, "dtype");
    const char *dt = lua_tostring(L, -1);
    if (!dt || lt_dtype_parse(lt_lua_ctx(L), dt, &s->dtype) != LT_OK)
        luaL_error(L, "source: %s.dtype: %s", key, dt ? lt_ctx_error(lt_lua_ctx(L)) : "missing");
    lua_getfield(L, t, "shape");
    const char *err = NULL;
    int nd = lt_lua_read_shape(L, lua_gettop(L), s->shape, &err);
    if (nd < 0)
        luaL_error(L, "source: %s.shape: %s", key, err);
    if (nd >= LT_MAX_DIMS) /* the batch takes one more dim */
        luaL_error(L, "source: %s.shape has %d dims; a sample has at most %d", key, nd,
                   LT_MAX_DIMS - 1);
    s->ndim = nd;
    for (int i = 0; i < s->ndim; i++)
        if (s->shape[i] < 1 || s->shape[i] > ((int64_t)1 << 40))
            luaL_error(L, "source: %s.shape[%d] must be an integer >= 1", key, i + 1);
    lua_settop(L, t - 1);
}

/* source{name =, size =, get = function(i) return x, y end (or fill = function(indices)
 * return xs, ys end), x = {dtype =, shape =}, y = {dtype =, shape =}, classes = n}: a data
 * set whose sample i (1-based) is get(i); with fill, a batch's samples come from one call
 * (xs and ys: tensors (n, ...) or flat lists of n samples' values). */
static int l_source(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "get");
    lua_getfield(L, 1, "fill");
    int has_get = lua_isfunction(L, -2), batched = lua_isfunction(L, -1);
    lua_pop(L, 2);
    if (has_get == batched)
        return luaL_error(L, "source: give get = function(i) or fill = function(indices), "
                             "one of the two");
    lua_getfield(L, 1, "size");
    lua_Integer size = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    if (size < 0)
        return luaL_error(L, "source: size must be an integer >= 0");
    lua_getfield(L, 1, "classes");
    lua_Integer classes = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
    lua_pop(L, 1);
    if (classes < 0 || classes > LT_MAX_CLASSES)
        return luaL_error(L, "source: classes must be an integer in [0, %d]", LT_MAX_CLASSES);
    struct lt_sample_shape x, y;
    sample_shape(L, 1, "x", &x);
    sample_shape(L, 1, "y", &y);
    lua_getfield(L, 1, "name");
    const char *name = luaL_optstring(L, -1, "source");

    /* the handle first: nothing below may raise with memory or references unowned */
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    lua_State *T = lua_newthread(L);
    int thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, 1, batched ? "fill" : "get");
    int fn_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    struct lua_source *src = calloc(1, sizeof *src);
    if (!src) {
        luaL_unref(L, LUA_REGISTRYINDEX, fn_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, thread_ref);
        return luaL_error(L, "source: out of memory");
    }
    snprintf(src->name, sizeof src->name, "%s", name);
    src->x = x;
    src->y = y;
    src->x_elems = elems(&x);
    src->y_elems = elems(&y);
    src->T = T;
    src->thread_ref = thread_ref;
    src->fn_ref = fn_ref;
    src->batched = batched;

    struct lt_source s = {
        .size = size, .x = x, .y = y, .classes = (int)classes, .fill = fill,
        .release = release, .user = src, .caller_thread = 1, .origin = src->name,
    };
    if (lt_dataset_from_source(lt_lua_ctx(L), &s, slot) != LT_OK) {
        release(src);
        return lt_lua_fail(L);
    }
    return 1;
}

static const luaL_Reg source_funcs[] = {{"source", l_source}, {NULL, NULL}};

void lt_lua_open_source(lua_State *L) {
    luaL_setfuncs(L, source_funcs, 0);
}
