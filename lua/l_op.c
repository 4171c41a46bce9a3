/* The one generic op binding: op(name, inputs, attrs). On tensors it runs the op eagerly
 * (lt_tensor_op); on symbols of one graph it records a node (lt_graph_op). The attribute
 * table is parsed by lua/l_args.c from the op's attribute struct. */
#include <string.h>

#include "lua/l_lutra.h"

/* Room for any op's attribute struct. */
union any_attrs {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, ...) struct attrs name;
#include "kernels/ops.def"
#undef LT_OP
};

/* For messages: which of lutra's handles the value at idx is (l_lutra.h). */
const char *lt_lua_kind_of(lua_State *L, int idx) {
    static const char *const kinds[][2] = {
        {LT_SYMBOL_MT, "symbol"},
        {LT_GRAPH_MT, "graph"},
        {LT_PLAN_MT, "plan"},
        {LT_TRAINER_MT, "trainer"},
        {LT_FORWARD_MT, "forward program"},
        {LT_DATASET_MT, "dataset"},
        {LT_LOADER_MT, "loader"},
        {LT_CONTEXT_MT, "context"},
    };
    if (luaL_testudata(L, idx, LT_TENSOR_MT))
        return lt_lua_to_tensor(L, idx) ? "tensor" : "closed tensor";
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (luaL_testudata(L, idx, kinds[i][0]))
            return kinds[i][1];
    return luaL_typename(L, idx);
}

static int run_eager(lua_State *L, enum lt_op op, int n, const void *attrs) {
    struct lt_tensor *in[LT_MAX_INPUTS], *out[LT_MAX_OUTPUTS];
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        in[i] = lt_lua_to_tensor(L, -1);
        if (!in[i])
            return luaL_error(L,
                              "%s: input %d is a %s, not an open tensor (the inputs must all "
                              "be tensors or all symbols)",
                              lt_op_name(op), i + 1, lt_lua_kind_of(L, -1));
        lua_pop(L, 1);
    }
    int n_out = lt_op_outputs(op);
    struct lt_tensor **slots[LT_MAX_OUTPUTS];
    for (int k = 0; k < n_out; k++)
        slots[k] = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_tensor_op(lt_lua_ctx(L), op, n, in, attrs, out));
    for (int k = 0; k < n_out; k++)
        *slots[k] = out[k];
    return n_out;
}

static int record(lua_State *L, enum lt_op op, int n, const void *attrs) {
    int ids[LT_MAX_INPUTS], outs[LT_MAX_OUTPUTS];
    struct lt_graph *g = NULL;
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, 2, i + 1);
        if (!luaL_testudata(L, -1, LT_SYMBOL_MT))
            return luaL_error(L,
                              "%s: input %d is a %s but input 1 is a symbol; a tensor used "
                              "while tracing must first become a value of the graph",
                              lt_op_name(op), i + 1, lt_lua_kind_of(L, -1));
        struct lt_lua_symbol *s = lt_lua_check_symbol(L, -1);
        if (g && s->g != g)
            return luaL_error(L, "%s: input %d belongs to another graph than input 1",
                              lt_op_name(op), i + 1);
        g = s->g;
        ids[i] = s->value;
        lua_pop(L, 1);
    }
    LT_LUA_CHECK(L, lt_graph_op(g, op, n, ids, attrs, outs));
    lua_rawgeti(L, 2, 1);
    lua_getiuservalue(L, -1, 1); /* the graph's userdata */
    int graph_idx = lua_gettop(L), n_out = lt_op_outputs(op);
    for (int k = 0; k < n_out; k++)
        lt_lua_push_symbol(L, graph_idx, outs[k]);
    return n_out;
}

/* op(name, inputs [, attrs]): applies the op named `name` ("conv2d") to the list
 * `inputs`, all tensors (runs now, returns new tensors) or all symbols of one graph
 * (records a node, returns its output symbols). Returns one value per op output. Raises
 * the core's message (naming the op and the shapes) when the inputs do not fit. */
static int l_op(lua_State *L) {
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    enum lt_op op;
    LT_LUA_CHECK(L, lt_op_parse(lt_lua_ctx(L), name, &op));
    lua_Integer n = (lua_Integer)lua_rawlen(L, 2);
    if (n < lt_op_inputs_min(op) || n > lt_op_inputs_max(op)) {
        if (lt_op_inputs_min(op) == lt_op_inputs_max(op))
            return luaL_error(L, "%s: takes %d inputs, got %I", name, lt_op_inputs_min(op), n);
        return luaL_error(L, "%s: takes %d to %d inputs, got %I", name, lt_op_inputs_min(op),
                          lt_op_inputs_max(op), n);
    }
    union any_attrs attrs;
    memset(&attrs, 0, sizeof attrs);
    lt_lua_op_attrs(L, 3, op, &attrs);
    lua_settop(L, 3);
    lua_rawgeti(L, 2, 1);
    int symbolic = luaL_testudata(L, -1, LT_SYMBOL_MT) != NULL;
    lua_pop(L, 1);
    return symbolic ? record(L, op, (int)n, &attrs) : run_eager(L, op, (int)n, &attrs);
}

/* op_info(name): {inputs_min =, inputs_max =, outputs =, backward = bool, attrs = {names
 * of its attributes, in order}}. Raises for an unknown op. */
static int l_op_info(lua_State *L) {
    enum lt_op op;
    LT_LUA_CHECK(L, lt_op_parse(lt_lua_ctx(L), luaL_checkstring(L, 1), &op));
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, lt_op_inputs_min(op));
    lua_setfield(L, -2, "inputs_min");
    lua_pushinteger(L, lt_op_inputs_max(op));
    lua_setfield(L, -2, "inputs_max");
    lua_pushinteger(L, lt_op_outputs(op));
    lua_setfield(L, -2, "outputs");
    lua_pushboolean(L, lt_op_has_backward(op));
    lua_setfield(L, -2, "backward");
    lt_lua_push_attr_names(L, op);
    lua_setfield(L, -2, "attrs");
    return 1;
}

/* op_names(): every op's name, in the op table's order (kernels/ops.def). */
static int l_op_names(lua_State *L) {
    lua_createtable(L, LT_OP_COUNT, 0);
    for (int i = 0; i < LT_OP_COUNT; i++) {
        lua_pushstring(L, lt_op_name((enum lt_op)i));
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static const luaL_Reg op_funcs[] = {
    {"op", l_op},
    {"op_info", l_op_info},
    {"op_names", l_op_names},
    {NULL, NULL},
};

void lt_lua_open_op(lua_State *L) {
    luaL_setfuncs(L, op_funcs, 0);
}
