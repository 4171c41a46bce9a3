/* The lutra.Graph and lutra.Symbol userdata: a graph being traced, and its symbolic
 * values (a graph and a value id; dtype and shape, no data). Declaring inputs, parameters
 * and state. Recording ops on symbols is lua/l_op.c. */
#include "lua/l_lutra.h"

static struct lt_graph **graph_slot(lua_State *L, int arg) {
    return luaL_checkudata(L, arg, LT_GRAPH_MT);
}

struct lt_graph *lt_lua_check_graph(lua_State *L, int arg) {
    struct lt_graph **slot = graph_slot(L, arg);
    if (!*slot)
        luaL_argerror(L, arg, "the graph was closed");
    return *slot;
}

/* The symbol's graph is read through its uservalue each time, so that a symbol of a
 * closed graph is an error rather than a dangling pointer. */
struct lt_lua_symbol *lt_lua_check_symbol(lua_State *L, int arg) {
    struct lt_lua_symbol *s = luaL_checkudata(L, arg, LT_SYMBOL_MT);
    lua_getiuservalue(L, arg, 1);
    struct lt_graph **slot = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (!slot || !*slot)
        luaL_argerror(L, arg, "the symbol's graph was closed");
    s->g = *slot;
    return s;
}

void lt_lua_push_symbol(lua_State *L, int graph_idx, int value) {
    graph_idx = lua_absindex(L, graph_idx);
    struct lt_lua_symbol *s = lua_newuserdatauv(L, sizeof *s, 1);
    s->g = NULL;
    s->value = value;
    luaL_setmetatable(L, LT_SYMBOL_MT);
    lua_pushvalue(L, graph_idx);
    lua_setiuservalue(L, -2, 1);
}

/* graph(): a new, empty graph. */
static int l_graph(lua_State *L) {
    struct lt_graph **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LT_GRAPH_MT);
    LT_LUA_CHECK(L, lt_graph_new(lt_lua_ctx(L), slot));
    return 1;
}

/* __gc and __close: drop Lua's reference (plans keep their own). */
static int g_release(lua_State *L) {
    struct lt_graph **slot = graph_slot(L, 1);
    lt_graph_free(*slot);
    *slot = NULL;
    return 0;
}

/* g:input(shape [, dtype = "f32" [, name]]): a data input fed at every step, in the order
 * declared; returns its symbol. */
static int g_input(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    int64_t shape[LT_MAX_DIMS];
    int ndim = lt_lua_check_shape(L, 2, shape);
    enum lt_dtype dt = lt_lua_check_dtype(L, 3, LT_DTYPE_F32);
    const char *name = luaL_optstring(L, 4, NULL);
    int v;
    LT_LUA_CHECK(L, lt_graph_input(g, dt, ndim, shape, name, &v));
    lt_lua_push_symbol(L, 1, v);
    return 1;
}

/* g:param(tensor [, name [, group = 1]]): a trainable f32 parameter backed by tensor, in
 * optimizer group `group` (1-based); returns its symbol. */
static int g_param(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    struct lt_tensor *t = lt_lua_check_tensor(L, 2);
    const char *name = luaL_optstring(L, 3, NULL);
    lua_Integer group = luaL_optinteger(L, 4, 1);
    luaL_argcheck(L, group >= 1 && group <= 0x7fffffff, 4, "groups are numbered from 1");
    int v;
    LT_LUA_CHECK(L, lt_graph_param(g, t, name, (int)group - 1, &v));
    lt_lua_push_symbol(L, 1, v);
    return 1;
}

/* g:state(tensor [, name]): a non-trainable tensor the graph reads (running statistics,
 * constants); returns its symbol. */
static int g_state(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    struct lt_tensor *t = lt_lua_check_tensor(L, 2);
    const char *name = luaL_optstring(L, 3, NULL);
    int v;
    LT_LUA_CHECK(L, lt_graph_state(g, t, name, &v));
    lt_lua_push_symbol(L, 1, v);
    return 1;
}

/* g:value(id): the symbol of value `id` (0-based, as s:id() numbers them). */
static int g_value(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    lua_Integer id = luaL_checkinteger(L, 2);
    luaL_argcheck(L, id >= 0 && id < lt_graph_value_count(g), 2, "not a value of the graph");
    lt_lua_push_symbol(L, 1, (int)id);
    return 1;
}

/* g:mixed(half): a new graph computing what g computes in mixed precision (half: "f16"
 * or "bf16"; see lt_graph_mixed), and a table mapping each value id of g to its id in
 * the new graph (keys and values 0-based, as s:id()). */
static int g_mixed(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    enum lt_dtype half = lt_lua_check_dtype(L, 2, -1);
    int n = lt_graph_value_count(g);
    int *map = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *map, 0);
    struct lt_graph **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LT_GRAPH_MT);
    LT_LUA_CHECK(L, lt_graph_mixed(lt_lua_ctx(L), g, half, slot, map));
    lua_createtable(L, n, 1);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, map[i]);
        lua_rawseti(L, -2, i);
    }
    return 2;
}

/* g:info(): {values =, nodes =, inputs =, params =, param_numel =}. */
static int g_info(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, lt_graph_value_count(g));
    lua_setfield(L, -2, "values");
    lua_pushinteger(L, lt_graph_node_count(g));
    lua_setfield(L, -2, "nodes");
    lua_pushinteger(L, lt_graph_input_count(g));
    lua_setfield(L, -2, "inputs");
    lua_pushinteger(L, lt_graph_param_count(g));
    lua_setfield(L, -2, "params");
    lua_pushinteger(L, (lua_Integer)lt_graph_param_numel(g));
    lua_setfield(L, -2, "param_numel");
    return 1;
}

static int s_shape(lua_State *L) {
    struct lt_lua_symbol *s = lt_lua_check_symbol(L, 1);
    int64_t shape[LT_MAX_DIMS];
    int ndim = lt_graph_value_shape(s->g, s->value, NULL, shape);
    lt_lua_push_shape(L, ndim, shape);
    return 1;
}

static int s_dtype(lua_State *L) {
    struct lt_lua_symbol *s = lt_lua_check_symbol(L, 1);
    enum lt_dtype dt;
    lt_graph_value_shape(s->g, s->value, &dt, NULL);
    lua_pushstring(L, lt_dtype_name(dt));
    return 1;
}

static int s_ndim(lua_State *L) {
    struct lt_lua_symbol *s = lt_lua_check_symbol(L, 1);
    lua_pushinteger(L, lt_graph_value_shape(s->g, s->value, NULL, NULL));
    return 1;
}

/* s:id(): the value's number in its graph (0-based, as the core numbers them). */
static int s_id(lua_State *L) {
    lua_pushinteger(L, lt_lua_check_symbol(L, 1)->value);
    return 1;
}

/* s:graph(): the lutra.Graph the symbol belongs to. */
static int s_graph(lua_State *L) {
    lt_lua_check_symbol(L, 1);
    lua_getiuservalue(L, 1, 1);
    return 1;
}

static const luaL_Reg graph_funcs[] = {
    {"graph", l_graph},
    {NULL, NULL},
};

static const luaL_Reg graph_methods[] = {
    {"input", g_input}, {"param", g_param}, {"state", g_state},   {"value", g_value},
    {"mixed", g_mixed}, {"info", g_info},   {"close", g_release}, {NULL, NULL},
};

static const luaL_Reg graph_meta[] = {
    {"__gc", g_release},
    {"__close", g_release},
    {NULL, NULL},
};

static const luaL_Reg symbol_methods[] = {
    {"shape", s_shape}, {"dtype", s_dtype}, {"ndim", s_ndim},
    {"id", s_id},       {"graph", s_graph}, {NULL, NULL},
};

void lt_lua_open_graph(lua_State *L) {
    luaL_setfuncs(L, graph_funcs, 0);
    luaL_newmetatable(L, LT_GRAPH_MT);
    luaL_setfuncs(L, graph_meta, 0);
    luaL_newlib(L, graph_methods);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, "Graph");
    /* As for tensors (lua/l_tensor.c): core.SymbolMethods stays as the C made it; the
     * metatable core.Symbol is set up once and extended by the Lua side. */
    luaL_newlib(L, symbol_methods);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "SymbolMethods");
    if (luaL_newmetatable(L, LT_SYMBOL_MT)) {
        lua_pushvalue(L, -2);
        lua_setfield(L, -2, "__index");
    }
    lua_setfield(L, -3, "Symbol");
    lua_pop(L, 1);
}
