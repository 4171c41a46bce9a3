/* What the runner needs from the system and its libraries, bound thinly: safetensors
 * files (the core's reader and writer), JSON lines (libjansson), PNG curves (the core's
 * chart writer), whole files written atomically, folders, the terminal (isatty, width)
 * and a monotonic clock. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

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

/* ---- JSON ----------------------------------------------------------------------------------- */

/* Whether the table at idx is a list: keys exactly 1..n, n >= 1. */
static int is_list(lua_State *L, int idx) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 || lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return 0;
        }
        count++;
    }
    return count == n;
}

/* The JSON of the value at idx, or NULL with a message in err. Non-finite numbers become
 * null (JSON has no NaN). */
static json_t *to_json(lua_State *L, int idx, int depth, char *err, size_t size) {
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return json_null();
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TSTRING:
        return json_stringn(lua_tostring(L, idx), lua_rawlen(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return isfinite(lua_tonumber(L, idx)) ? json_real(lua_tonumber(L, idx)) : json_null();
    case LUA_TTABLE:
        break;
    default:
        snprintf(err, size, "cannot encode a %s", luaL_typename(L, idx));
        return NULL;
    }
    if (depth > 64) {
        snprintf(err, size, "tables nested deeper than 64 (a cycle?)");
        return NULL;
    }
    luaL_checkstack(L, 4, "json_encode");
    if (is_list(L, idx)) {
        json_t *out = json_array();
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        for (lua_Integer i = 1; out && i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_t *v = to_json(L, -1, depth + 1, err, size);
            lua_pop(L, 1);
            if (!v || json_array_append_new(out, v) != 0) {
                json_decref(out);
                out = NULL;
            }
        }
        if (!out && !err[0])
            snprintf(err, size, "out of memory");
        return out;
    }
    json_t *out = json_object();
    if (!out) {
        snprintf(err, size, "out of memory");
        return NULL;
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        json_t *v = to_json(L, -1, depth + 1, err, size);
        lua_pop(L, 1);
        char num[32];
        const char *key = NULL;
        if (lua_type(L, -1) == LUA_TSTRING) {
            key = lua_tostring(L, -1);
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_pushvalue(L, -1); /* lua_tostring on a copy: the key itself must stay a number */
            snprintf(num, sizeof num, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
            key = num;
        } else if (v) {
            snprintf(err, size, "cannot encode a %s key", luaL_typename(L, -1));
        }
        if (!v || !key || json_object_set_new(out, key, v) != 0) {
            if (v && !key)
                json_decref(v);
            if (!err[0])
                snprintf(err, size, "out of memory");
            lua_pop(L, 1);
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* json_encode(value): one line of JSON, keys sorted; raises on a function, userdata or
 * a cycle. */
static int l_json_encode(lua_State *L) {
    luaL_checkany(L, 1);
    char err[160] = "";
    json_t *j = to_json(L, 1, 0, err, sizeof err);
    if (!j)
        return luaL_error(L, "json_encode: %s", err);
    char *text =
        json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    json_decref(j);
    if (!text)
        return luaL_error(L, "json_encode: out of memory");
    lua_pushstring(L, text);
    free(text);
    return 1;
}

static void push_json(lua_State *L, json_t *j) {
    luaL_checkstack(L, 4, "json_decode");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        lua_createtable(L, 0, (int)json_object_size(j));
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            push_json(L, v);
            lua_setfield(L, -2, key);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_createtable(L, (int)json_array_size(j), 0);
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            push_json(L, v);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(j));
        break;
    default:
        lua_pushnil(L);
    }
}

/* json_decode(text): the value, or nil and "line L column C: message". */
static int l_json_decode(lua_State *L) {
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &e);
    if (!j) {
        lua_pushnil(L);
        lua_pushfstring(L, "line %d column %d: %s", e.line, e.column, e.text);
        return 2;
    }
    push_json(L, j);
    json_decref(j);
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

/* ---- files, the terminal, the clock --------------------------------------------------------- */

/* write_atomic(path, text): writes text to path atomically (lt_file_write_atomic).
 * Returns true, or nil and "path: reason" (path unchanged, no temporary left). */
static int l_write_atomic(lua_State *L) {
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *text = luaL_checklstring(L, 2, &len);
    struct lt_ctx *ctx = lt_lua_ctx(L);
    if (lt_file_write_atomic(ctx, path, text, len) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, lt_ctx_error(ctx));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* mkdir(path): makes one folder (its parent must exist). Returns true (also when it is
 * already a folder), or nil and "path: reason". */
static int l_mkdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (mkdir(path, 0777) == 0 ||
        (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path,
                    errno == EEXIST ? "exists and is not a folder" : strerror(errno));
    return 2;
}

/* is_dir(path), is_file(path): whether path names a folder / a regular file. */
static int l_is_dir(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

static int l_is_file(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISREG(st.st_mode));
    return 1;
}

/* isatty(fd): whether file descriptor fd (0, 1, 2) is a terminal. */
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd < 1024, 1, "a file descriptor");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* term_width(fd): the terminal's columns, or nil when fd is not a terminal. */
static int l_term_width(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, 1);
    struct winsize ws;
    if (fd >= 0 && fd < 1024 && ioctl((int)fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        lua_pushinteger(L, ws.ws_col);
    else
        lua_pushnil(L);
    return 1;
}

/* clock(): seconds on a monotonic clock (wall time, not CPU time). */
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* getpid(): this process's id. */
static int l_getpid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static const luaL_Reg io_funcs[] = {
    {"save_safetensors", l_save_safetensors},
    {"load_safetensors", l_load_safetensors},
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {"write_atomic", l_write_atomic},
    {"mkdir", l_mkdir},
    {"is_dir", l_is_dir},
    {"is_file", l_is_file},
    {"isatty", l_isatty},
    {"term_width", l_term_width},
    {"clock", l_clock},
    {"getpid", l_getpid},
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
