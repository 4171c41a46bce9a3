/* What the binding files (lua/l_*.c) share: the metatable names, the state's context,
 * turning a core failure into a Lua error, handle checks and argument parsers.
 * Private to lua/; the host program (lua/main.c) uses only the openers at the end. */
#ifndef L_LUTRA_H
#define L_LUTRA_H

#include <lauxlib.h>
#include <lua.h>

#include "core/lutra.h"

#define LT_CONTEXT_MT "lutra.Context"
#define LT_TENSOR_MT "lutra.Tensor"
#define LT_GRAPH_MT "lutra.Graph"
#define LT_SYMBOL_MT "lutra.Symbol"
#define LT_PLAN_MT "lutra.Plan"
#define LT_TRAINER_MT "lutra.Trainer"
#define LT_FORWARD_MT "lutra.Forward"
#define LT_DATASET_MT "lutra.Dataset"
#define LT_LOADER_MT "lutra.Loader"

/* ---- the context ----------------------------------------------------------------------- */

/* The lua_State's context, created by luaopen_lutra_core. Cannot fail once the module is
 * open (raises otherwise). */
struct lt_ctx *lt_lua_ctx(lua_State *L);

/* Raises the context's last message as a Lua error: `return lt_lua_fail(L);`. */
int lt_lua_fail(lua_State *L);

/* Evaluates a core call and raises its message when it fails. */
#define LT_LUA_CHECK(L, call)                                                                      \
    do {                                                                                           \
        if ((call) != LT_OK)                                                                       \
            return lt_lua_fail(L);                                                                 \
    } while (0)

/* ---- handles ----------------------------------------------------------------------------- */

/* A symbolic value: a graph and a value id. Uservalue 1 is the lutra.Graph userdata, which
 * keeps the graph alive while the symbol lives. */
struct lt_lua_symbol {
    struct lt_graph *g;
    int value;
};

/* The tensor at `arg`; raises when it is not a lutra.Tensor or was closed. */
struct lt_tensor *lt_lua_check_tensor(lua_State *L, int arg);
/* The tensor at `idx`, or NULL when it is something else (no error). */
struct lt_tensor *lt_lua_to_tensor(lua_State *L, int idx);
/* Pushes an empty lutra.Tensor userdata and returns its slot, for the caller to fill
 * after the core call succeeds (created empty first: a failed call cannot leak). */
struct lt_tensor **lt_lua_new_tensor(lua_State *L);
/* Pushes an empty lutra.Dataset handle for a core call to fill. Defined in lua/l_data.c. */
struct lt_dataset **lt_lua_new_dataset(lua_State *L);

struct lt_graph *lt_lua_check_graph(lua_State *L, int arg);
struct lt_lua_symbol *lt_lua_check_symbol(lua_State *L, int arg);
/* Pushes a symbol for `value` of the graph whose userdata is at graph_idx. */
void lt_lua_push_symbol(lua_State *L, int graph_idx, int value);
/* What the value at idx is, for messages: "tensor", "closed tensor", "symbol", "graph",
 * "plan" ... (each handle type), or its Lua type ("userdata" says nothing about which).
 * Cannot fail. Defined in lua/l_op.c. */
const char *lt_lua_kind_of(lua_State *L, int idx);

/* ---- arguments ----------------------------------------------------------------------------- */

/* A dtype name ("f32") at arg; `def` when absent or nil and def >= 0. */
enum lt_dtype lt_lua_check_dtype(lua_State *L, int arg, int def);
/* Reads the shape table at idx (at most LT_MAX_DIMS integers) into shape; returns ndim,
 * or -1 with why in *err. Raises nothing. */
int lt_lua_read_shape(lua_State *L, int idx, int64_t *shape, const char **err);
/* A shape: a table of integers {2, 3}. Returns ndim and fills shape. */
int lt_lua_check_shape(lua_State *L, int arg, int64_t *shape);
/* Pushes a shape as a table of integers. */
void lt_lua_push_shape(lua_State *L, int ndim, const int64_t *shape);
/* Pushes a memory report as {params = B, ..., total = B, live_peak = {params = B, ...}}. */
void lt_lua_push_report(lua_State *L, const struct lt_mem_report *r);
/* A report table (bytes by category name, as lt_lua_push_report makes) at idx into r;
 * missing categories are 0. Raises for a bad entry. */
void lt_lua_check_report(lua_State *L, int idx, struct lt_mem_report *r);

/* Fills an op's attribute struct (lt_op_attrs_size(op) bytes, zeroed by the caller) from
 * the table at `arg` (absent or nil: every field takes its default). Raises naming the op
 * and the field on an unknown field, a missing required one or a wrong type. */
void lt_lua_op_attrs(lua_State *L, int arg, enum lt_op op, void *attrs);
/* Pushes the names of an op's attributes, in its struct's order, as a list (empty for an
 * op without attributes). Can't fail, except on memory. */
void lt_lua_push_attr_names(lua_State *L, enum lt_op op);
/* Fills an optimizer config from the table at `arg`: kind ("sgd" | "adamw") and lr first
 * give PyTorch's defaults, the other fields override them. `groups` (a list of
 * {lr_mult =, decay_mult =}) is written into a userdata pushed on the stack, which must
 * stay there while the config is used. */
void lt_lua_optim_config(lua_State *L, int arg, struct lt_optim_config *opt);

/* Fills a loss scale from {scale =, dynamic = false, growth_factor = 2, backoff_factor =
 * 0.5, growth_interval = 2000} (PyTorch's GradScaler defaults). */
void lt_lua_loss_scale(lua_State *L, int arg, struct lt_loss_scale *s);

/* ---- registration (each binding file adds its functions to the table on top) ---------- */

void lt_lua_open_tensor(lua_State *L);
void lt_lua_open_graph(lua_State *L);
void lt_lua_open_op(lua_State *L);
void lt_lua_open_plan(lua_State *L);
void lt_lua_open_data(lua_State *L);
void lt_lua_open_source(lua_State *L);
void lt_lua_open_io(lua_State *L);
void lt_lua_open_image(lua_State *L);
void lt_lua_open_sys(lua_State *L);
void lt_lua_open_json(lua_State *L);
void lt_lua_open_dist(lua_State *L);

/* ---- openers ------------------------------------------------------------------------------- */

/* What lutra.so exports for Lua's require: everything else is built hidden. */
#define LT_LUA_EXPORT __attribute__((visibility("default")))

/* `require "lutra.core"`: the C functions alone (a table). */
LT_LUA_EXPORT int luaopen_lutra_core(lua_State *L);
/* `require "lutra"`: the core, then the Lua library on top of it (lutra/api.lua, found on
 * package.path); returns the full module. */
LT_LUA_EXPORT int luaopen_lutra(lua_State *L);
/* Puts both openers into package.preload, so that a host embedding Lua finds them
 * without package.cpath. Cannot fail (raises on memory errors, as Lua does). */
void lt_lua_preload(lua_State *L);
/* Notes an interrupt (the signal number: SIGINT, SIGTERM) for lutra.core.interrupted():
 * sets a flag, and a hook in a state that asked for break_on_interrupt; a signal handler
 * may call it. Returns 1 when the same signal is already pending and no state breaks on
 * interrupts (the user insists): the handler should then take the default action. */
int lt_lua_interrupt(int sig);
/* The signal last noted and not cleared, 0 for none. Cannot fail. */
int lt_lua_interrupted(void);

/* `require "lutra.readline"` (the binary only: it links libedit): readline(prompt),
 * add_history(line), read_history(path), write_history(path). */
int luaopen_lutra_readline(lua_State *L);

#endif
