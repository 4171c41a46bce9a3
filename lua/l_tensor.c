/* The lutra.Tensor userdata: a handle to one reference of an lt_tensor. Creation,
 * element access (1-based flat indices), views and conversion; each function checks its
 * arguments and calls one core function. Printing, indexing by rows and eager math are
 * Lua (lua/lutra/tensor.lua), which adds its methods to the metatable made here. */
#include "lua/l_lutra.h"

struct lt_tensor *lt_lua_to_tensor(lua_State *L, int idx) {
    struct lt_tensor **slot = luaL_testudata(L, idx, LT_TENSOR_MT);
    return slot ? *slot : NULL;
}

struct lt_tensor *lt_lua_check_tensor(lua_State *L, int arg) {
    struct lt_tensor **slot = luaL_checkudata(L, arg, LT_TENSOR_MT);
    if (!*slot)
        luaL_argerror(L, arg, "the tensor was closed");
    return *slot;
}

struct lt_tensor **lt_lua_new_tensor(lua_State *L) {
    struct lt_tensor **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LT_TENSOR_MT);
    return slot;
}

/* __gc and __close: drop the handle's reference (views and graphs keep their own). */
static int t_release(lua_State *L) {
    struct lt_tensor **slot = luaL_checkudata(L, 1, LT_TENSOR_MT);
    lt_tensor_free(*slot);
    *slot = NULL;
    return 0;
}

/* tensor(shape [, dtype = "f32"]): a new zero-filled tensor. */
static int l_tensor(lua_State *L) {
    int64_t shape[LT_MAX_DIMS];
    int ndim = lt_lua_check_shape(L, 1, shape);
    enum lt_dtype dt = lt_lua_check_dtype(L, 2, LT_DTYPE_F32);
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_tensor_new(lt_lua_ctx(L), dt, ndim, shape, slot));
    return 1;
}

static int t_shape(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    lt_lua_push_shape(L, lt_tensor_ndim(t), lt_tensor_shape(t));
    return 1;
}

static int t_dtype(lua_State *L) {
    lua_pushstring(L, lt_dtype_name(lt_tensor_dtype(lt_lua_check_tensor(L, 1))));
    return 1;
}

static int t_ndim(lua_State *L) {
    lua_pushinteger(L, lt_tensor_ndim(lt_lua_check_tensor(L, 1)));
    return 1;
}

static int t_numel(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_tensor_numel(lt_lua_check_tensor(L, 1)));
    return 1;
}

static int t_bytes(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_tensor_bytes(lt_lua_check_tensor(L, 1)));
    return 1;
}

/* A 1-based flat index at arg, checked against t's element count; returns it 0-based. */
static int64_t check_index(lua_State *L, int arg, const struct lt_tensor *t, const char *what) {
    lua_Integer i = luaL_checkinteger(L, arg);
    int64_t n = lt_tensor_numel(t);
    if (i < 1 || i > n)
        luaL_error(L, "%s: index %I out of range: the tensor has %I elements", what, i,
                   (lua_Integer)n);
    return (int64_t)i - 1;
}

/* t:get(i): element i (1-based, flat) as a number. */
static int t_get(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    int64_t i = check_index(L, 2, t, "get");
    double v = lt_tensor_get(t, i);
    if (lt_tensor_dtype(t) == LT_DTYPE_I32 || lt_tensor_dtype(t) == LT_DTYPE_U8)
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushnumber(L, v);
    return 1;
}

/* t:set(i, v): sets element i (1-based, flat). */
static int t_set(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    int64_t i = check_index(L, 2, t, "set");
    lt_tensor_set(t, i, luaL_checknumber(L, 3));
    return 0;
}

/* t:values(): every element, flat, as a Lua list (integers for i32 and u8). */
static int t_values(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    int64_t n = lt_tensor_numel(t);
    int ints = lt_tensor_dtype(t) == LT_DTYPE_I32 || lt_tensor_dtype(t) == LT_DTYPE_U8;
    luaL_argcheck(L, n <= 0x7fffffff, 1, "too many elements for a Lua list");
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        if (ints)
            lua_pushinteger(L, (lua_Integer)lt_tensor_get(t, i));
        else
            lua_pushnumber(L, lt_tensor_get(t, i));
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* t:set_values(list): sets every element from a flat list of exactly numel numbers. */
static int t_set_values(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int64_t n = lt_tensor_numel(t);
    lua_Integer len = (lua_Integer)lua_rawlen(L, 2);
    if (len != n)
        return luaL_error(L, "set_values: %I values for a tensor of %I elements", len,
                          (lua_Integer)n);
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (lua_Integer)i + 1);
        int isnum;
        double v = lua_tonumberx(L, -1, &isnum);
        if (!isnum)
            return luaL_error(L, "set_values: value %I is a %s, not a number", (lua_Integer)i + 1,
                              luaL_typename(L, -1));
        lt_tensor_set(t, i, v);
        lua_pop(L, 1);
    }
    return 0;
}

/* t:fill(v): every element set to v; returns t. */
static int t_fill(lua_State *L) {
    lt_tensor_fill(lt_lua_check_tensor(L, 1), luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* A random stream number (an integer >= 0) at arg. */
static uint64_t check_stream(lua_State *L, int arg) {
    lua_Integer s = luaL_checkinteger(L, arg);
    luaL_argcheck(L, s >= 0, arg, "the stream must be >= 0");
    return (uint64_t)s;
}

/* t:uniform(stream, lo, hi): fills t from (seed, stream) uniformly in [lo, hi); returns t. */
static int t_uniform(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    uint64_t stream = check_stream(L, 2);
    double lo = luaL_checknumber(L, 3), hi = luaL_checknumber(L, 4);
    LT_LUA_CHECK(L, lt_tensor_uniform(lt_lua_ctx(L), t, stream, lo, hi));
    lua_settop(L, 1);
    return 1;
}

/* t:normal(stream, mean, std): fills t from (seed, stream) with normal values; returns t. */
static int t_normal(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    uint64_t stream = check_stream(L, 2);
    double mean = luaL_checknumber(L, 3), std = luaL_checknumber(L, 4);
    LT_LUA_CHECK(L, lt_tensor_normal(lt_lua_ctx(L), t, stream, mean, std));
    lua_settop(L, 1);
    return 1;
}

/* t:reshape(shape): a view with another shape (one dim may be -1). */
static int t_reshape(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    int64_t shape[LT_MAX_DIMS];
    int ndim = lt_lua_check_shape(L, 2, shape);
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_tensor_reshape(lt_lua_ctx(L), t, ndim, shape, slot));
    return 1;
}

/* t:slice(first, count): a view of rows first .. first + count - 1 (1-based) of dim 1. */
static int t_slice(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
    luaL_argcheck(L, first >= 1, 2, "rows are numbered from 1");
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_tensor_slice(lt_lua_ctx(L), t, (int64_t)first - 1, (int64_t)count, slot));
    return 1;
}

/* t:to(dtype): a new tensor with t's values converted. */
static int t_to(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    enum lt_dtype dt = lt_lua_check_dtype(L, 2, -1);
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_tensor_to(lt_lua_ctx(L), t, dt, slot));
    return 1;
}

/* t:copy(src): copies src's elements into t (same count, any dtypes); returns t. */
static int t_copy(lua_State *L) {
    struct lt_tensor *t = lt_lua_check_tensor(L, 1);
    struct lt_tensor *src = lt_lua_check_tensor(L, 2);
    LT_LUA_CHECK(L, lt_tensor_copy(lt_lua_ctx(L), t, src));
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg tensor_funcs[] = {
    {"tensor", l_tensor},
    {NULL, NULL},
};

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape},           {"dtype", t_dtype}, {"ndim", t_ndim},       {"numel", t_numel},
    {"bytes", t_bytes},           {"get", t_get},     {"set", t_set},         {"values", t_values},
    {"set_values", t_set_values}, {"fill", t_fill},   {"uniform", t_uniform}, {"normal", t_normal},
    {"reshape", t_reshape},       {"slice", t_slice}, {"to", t_to},           {"copy", t_copy},
    {"close", t_release},         {NULL, NULL},
};

static const luaL_Reg tensor_meta[] = {
    {"__gc", t_release},
    {"__close", t_release},
    {NULL, NULL},
};

void lt_lua_open_tensor(lua_State *L) {
    luaL_setfuncs(L, tensor_funcs, 0);
    /* core.TensorMethods: the C methods, untouched by the Lua side, which builds its own
     * method table from them; core.Tensor: the metatable, which the Lua side extends. The
     * metatable is set up once per state, so opening the core again keeps its additions. */
    luaL_newlib(L, tensor_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "TensorMethods");
    if (luaL_newmetatable(L, LT_TENSOR_MT)) {
        luaL_setfuncs(L, tensor_meta, 0);
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "__index");
    }
    lua_setfield(L, -3, "Tensor");
    lua_pop(L, 1);
}
