/* JSON for the Lua side (metrics.jsonl lines, a checkpoint's position), through
 * libjansson: tables to text and back. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "lua/l_lutra.h"

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

static const luaL_Reg json_funcs[] = {
    {"json_encode", l_json_encode},
    {"json_decode", l_json_decode},
    {NULL, NULL},
};

void lt_lua_open_json(lua_State *L) {
    luaL_setfuncs(L, json_funcs, 0);
}
