/* The files lutra's core reads and writes, bound thinly: safetensors (weights and
 * checkpoints) and PNG curves. JSON is lua/l_json.c; folders, locks, the terminal and the
 * clock are lua/l_sys.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "lua/l_lutra.h"

#define SAFETENSORS_BOX_MT "lutra.SafetensorsFile"

/* ---- safetensors -------------------------------------------------------------------------- */

/* The path argument of fn at arg: a non-empty string, or an error that says what came
 * instead ("load_safetensors: want a file path, got nil"), not "bad argument #1". */
static const char *check_path(lua_State *L, int arg, const char *fn) {
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_error(L, "%s: want a file path, got %s", fn, luaL_typename(L, arg));
    const char *path = lua_tostring(L, arg);
    if (!path[0])
        luaL_error(L, "%s: empty file path (no file named)", fn);
    return path;
}

/* save_safetensors(path, names, tensors [, meta]): writes tensors[i] under names[i] and the
 * string pairs of meta (in key order) as __metadata__, atomically. */
static int l_save_safetensors(lua_State *L) {
    const char *path = check_path(L, 1, "save_safetensors");
    lua_settop(L, 4); /* an absent metadata table is nil, not the scratch pushed below */
    if (!lua_istable(L, 2) || !lua_istable(L, 3))
        return luaL_error(L, "%s: save_safetensors wants a list of names and a list of tensors",
                          path);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if (n != (lua_Integer)lua_rawlen(L, 3))
        return luaL_error(L, "%s: save_safetensors: %I names but %I tensors", path, n,
                          (lua_Integer)lua_rawlen(L, 3));
    if (n > 1000000)
        return luaL_error(L, "%s: save_safetensors: too many tensors (%I)", path, n);
    const char **names = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *names, 0);
    struct lt_tensor **tensors = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *tensors, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        names[i] = lua_tostring(L, -1);
        if (!names[i] || lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "%s: save_safetensors: name %I is not a string", path, i + 1);
        lua_pop(L, 1); /* the names table keeps the string alive */
        lua_rawgeti(L, 3, i + 1);
        tensors[i] = lt_lua_to_tensor(L, -1);
        if (!tensors[i])
            return luaL_error(L, "%s: save_safetensors: entry %I (%s) is a %s, not an open tensor",
                              path, i + 1, names[i], lt_lua_kind_of(L, -1));
        lua_pop(L, 1);
    }
    /* metadata: collected into a sorted list so the file is the same every time */
    int n_meta = 0;
    const char **keys = NULL, **values = NULL;
    if (!lua_isnoneornil(L, 4)) {
        if (!lua_istable(L, 4))
            return luaL_error(L, "%s: save_safetensors: metadata must be a table, got %s", path,
                              luaL_typename(L, 4));
        lua_newtable(L);
        int list = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, 4)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "%s: save_safetensors: metadata must map strings to strings",
                                  path);
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_rawseti(L, list, ++n_meta);
        }
        lua_getglobal(L, "table");
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, list);
        lua_call(L, 1, 0);
        lua_pop(L, 1);
        keys = lua_newuserdatauv(L, ((size_t)n_meta + 1) * sizeof *keys, 0);
        values = lua_newuserdatauv(L, ((size_t)n_meta + 1) * sizeof *values, 0);
        for (int k = 0; k < n_meta; k++) {
            lua_rawgeti(L, list, k + 1);
            keys[k] = lua_tostring(L, -1);
            lua_rawget(L, 4);
            values[k] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    }
    LT_LUA_CHECK(L, lt_safetensors_save(lt_lua_ctx(L), path, (int)n, names,
                                        (struct lt_tensor *const *)tensors, n_meta, keys, values));
    return 0;
}

static int box_release(lua_State *L) {
    struct lt_safetensors **box = luaL_checkudata(L, 1, SAFETENSORS_BOX_MT);
    lt_safetensors_free(*box);
    *box = NULL;
    return 0;
}

/* load_safetensors(path): {names = {...} (file order), tensors = {name = tensor}, dtypes =
 * {name = "F32"} (as the file spells them), meta = {key = value}, nonfinite = {name = {nan
 * = n, inf = n, first = flat index from 0}} (only tensors holding NaN or inf), checked =
 * whether the file carried a data checksum (it matched, or this raised)}. Raises "path:
 * ..." for a file that cannot be read (lt_safetensors_load), and naming the function for
 * a path that is not a non-empty string. */
static int l_load_safetensors(lua_State *L) {
    const char *path = check_path(L, 1, "load_safetensors");
    struct lt_safetensors **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    luaL_setmetatable(L, SAFETENSORS_BOX_MT);
    LT_LUA_CHECK(L, lt_safetensors_load(lt_lua_ctx(L), path, box));
    struct lt_safetensors *f = *box;
    int n = lt_safetensors_count(f);
    lua_createtable(L, 0, 4);
    lua_createtable(L, n, 0);
    lua_createtable(L, 0, n);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const char *name = lt_safetensors_name(f, i);
        lua_pushstring(L, name);
        lua_rawseti(L, -4, i + 1);
        struct lt_tensor **slot = lt_lua_new_tensor(L);
        *slot = lt_tensor_retain(lt_safetensors_tensor(f, i));
        lua_setfield(L, -3, name);
        lua_pushstring(L, lt_safetensors_dtype(f, i));
        lua_setfield(L, -2, name);
    }
    lua_setfield(L, -4, "dtypes");
    lua_setfield(L, -3, "tensors");
    lua_setfield(L, -2, "names");
    lua_newtable(L);
    for (int k = 0; k < lt_safetensors_meta_count(f); k++) {
        lua_pushstring(L, lt_safetensors_meta_value(f, k));
        lua_setfield(L, -2, lt_safetensors_meta_key(f, k));
    }
    lua_setfield(L, -2, "meta");
    lua_newtable(L);
    for (int i = 0; i < n; i++) {
        int64_t nan, inf, first;
        if (lt_safetensors_nonfinite(f, i, &nan, &inf, &first) == 0)
            continue;
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)nan);
        lua_setfield(L, -2, "nan");
        lua_pushinteger(L, (lua_Integer)inf);
        lua_setfield(L, -2, "inf");
        lua_pushinteger(L, (lua_Integer)first);
        lua_setfield(L, -2, "first");
        lua_setfield(L, -2, lt_safetensors_name(f, i));
    }
    lua_setfield(L, -2, "nonfinite");
    lua_pushboolean(L, lt_safetensors_checked(f));
    lua_setfield(L, -2, "checked");
    lt_safetensors_free(f);
    *box = NULL;
    return 1;
}

/* ---- curves --------------------------------------------------------------------------------- */

/* Reads list field `key` of the series table at idx into n doubles (NaN for non-numbers). */
static double *series_values(lua_State *L, int idx, const char *key, int s, int *n) {
    lua_getfield(L, idx, key);
    if (!lua_istable(L, -1))
        luaL_error(L, "plot_png: series %d needs a list %s", s + 1, key);
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    if (len > 10000000)
        luaL_error(L, "plot_png: series %d has too many points", s + 1);
    double *v = lua_newuserdatauv(L, ((size_t)len + 1) * sizeof *v, 0);
    for (lua_Integer i = 0; i < len; i++) {
        lua_rawgeti(L, -2, i + 1);
        v[i] = lua_isnumber(L, -1) ? (double)lua_tonumber(L, -1) : NAN;
        lua_pop(L, 1);
    }
    lua_replace(L, -2); /* the values stay on the stack (anchored) until the call returns */
    *n = (int)len;
    return v;
}

/* plot_png(path, {title =, x_label =, width = 640, height = 400, series = {{label =, x =
 * {...}, y = {...}, color = 0xRRGGBB}, ...}}): a line chart written atomically. */
static int l_plot_png(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "title");
    const char *title = lua_tostring(L, -1);
    lua_getfield(L, 2, "x_label");
    const char *x_label = lua_tostring(L, -1);
    lua_getfield(L, 2, "width");
    lua_Integer w = luaL_optinteger(L, -1, 640);
    lua_getfield(L, 2, "height");
    lua_Integer h = luaL_optinteger(L, -1, 400);
    luaL_argcheck(L, w > 0 && w <= 4096 && h > 0 && h <= 4096, 2, "width and height up to 4096");
    lua_getfield(L, 2, "series");
    int list = lua_gettop(L);
    luaL_argcheck(L, lua_istable(L, list), 2, "series must be a list of tables");
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    luaL_argcheck(L, n >= 1 && n <= 64, 2, "1 to 64 series");
    struct lt_plot_series *series = lua_newuserdatauv(L, (size_t)n * sizeof *series, 0);
    for (int s = 0; s < (int)n; s++) {
        lua_rawgeti(L, list, s + 1);
        int t = lua_gettop(L);
        if (!lua_istable(L, t))
            return luaL_error(L, "plot_png: series %d is not a table", s + 1);
        int nx, ny;
        series[s].x = series_values(L, t, "x", s, &nx);
        series[s].y = series_values(L, t, "y", s, &ny);
        if (nx != ny)
            return luaL_error(L, "plot_png: series %d has %d x and %d y values", s + 1, nx, ny);
        series[s].n = nx;
        lua_getfield(L, t, "label");
        series[s].label = lua_tostring(L, -1);
        lua_getfield(L, t, "color");
        series[s].rgb = (uint32_t)luaL_optinteger(L, -1, 0x1f77b4);
        lua_pop(L, 1);    /* the label string stays anchored in the series table */
        lua_remove(L, t); /* the value arrays stay on the stack */
    }
    LT_LUA_CHECK(L,
                 lt_plot_png(lt_lua_ctx(L), path, title, x_label, (int)w, (int)h, (int)n, series));
    return 0;
}

static const luaL_Reg io_funcs[] = {
    {"save_safetensors", l_save_safetensors},
    {"load_safetensors", l_load_safetensors},
    {"plot_png", l_plot_png},
    {NULL, NULL},
};

void lt_lua_open_io(lua_State *L) {
    luaL_setfuncs(L, io_funcs, 0);
    luaL_newmetatable(L, SAFETENSORS_BOX_MT);
    lua_pushcfunction(L, box_release);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}
