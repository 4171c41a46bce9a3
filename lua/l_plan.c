/* The compiled objects: lutra.Plan (a planned training step and its byte counts),
 * lutra.Trainer (a plan's memory and its steps: one C call per optimizer step) and
 * lutra.Forward (a planned forward pass, for evaluation and inference). */
#include "lua/l_lutra.h"

/* Each handle remembers its graph's input count, to check the tensors a step is given
 * before the core reads them. */
struct lplan {
    struct lt_plan *p;
    int n_inputs;
};

struct ltrainer {
    struct lt_trainer *t;
    int n_inputs;
};

struct lforward {
    struct lt_forward *f;
    int n_inputs, n_outputs;
};

static struct lplan *check_plan(lua_State *L, int arg) {
    struct lplan *h = luaL_checkudata(L, arg, LT_PLAN_MT);
    if (!h->p)
        luaL_argerror(L, arg, "the plan was closed");
    return h;
}

static struct ltrainer *check_trainer(lua_State *L, int arg) {
    struct ltrainer *h = luaL_checkudata(L, arg, LT_TRAINER_MT);
    if (!h->t)
        luaL_argerror(L, arg, "the trainer was closed");
    return h;
}

static struct lforward *check_forward(lua_State *L, int arg) {
    struct lforward *h = luaL_checkudata(L, arg, LT_FORWARD_MT);
    if (!h->f)
        luaL_error(L, "forward program: it was closed (a Trainer closes its programs when it "
                      "closes or changes precision: ask it for the program again)");
    return h;
}

/* The value id of the symbol at arg, which must belong to graph g. */
static int check_value_of(lua_State *L, int arg, struct lt_graph *g) {
    struct lt_lua_symbol *s = lt_lua_check_symbol(L, arg);
    luaL_argcheck(L, s->g == g, arg, "the symbol belongs to another graph");
    return s->value;
}

/* Collects `n` tensors from the list at idx into out; raises naming `what` otherwise. */
static void check_tensor_list(lua_State *L, int idx, int n, struct lt_tensor **out,
                              const char *what) {
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: want a list of %d tensors, got %s", what, n, lt_lua_kind_of(L, idx));
    lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
    if (len != n)
        luaL_error(L, "%s: want %d tensors (one per graph input), got %I", what, n, len);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, idx, i + 1);
        out[i] = lt_lua_to_tensor(L, -1);
        if (!out[i])
            luaL_error(L, "%s: entry %d is a %s, not an open tensor", what, i + 1,
                       lt_lua_kind_of(L, -1));
        lua_pop(L, 1);
    }
}

/* An epoch (0 .. 2^32-1) and a sample index (>= 0) at arg and arg + 1, both optional. */
static void check_position(lua_State *L, int arg, uint32_t *epoch, int64_t *sample_base) {
    lua_Integer e = luaL_optinteger(L, arg, 0), s = luaL_optinteger(L, arg + 1, 0);
    luaL_argcheck(L, e >= 0 && e <= 0xffffffffLL, arg, "the epoch must be in [0, 2^32)");
    luaL_argcheck(L, s >= 0, arg + 1, "the sample index must be >= 0");
    *epoch = (uint32_t)e;
    *sample_base = (int64_t)s;
}

/* ---- plans ---------------------------------------------------------------------------------- */

/* The plan options at arg: nil, or {checkpoint = false | true, memory_limit = bytes (an
 * integer >= 0; 0: the context's limit; math.maxinteger: none)}. */
static struct lt_plan_options check_plan_options(lua_State *L, int arg) {
    struct lt_plan_options o = {0};
    if (lua_isnoneornil(L, arg))
        return o;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_getfield(L, arg, "checkpoint");
    if (!lua_isnil(L, -1)) {
        luaL_argexpected(L, lua_isboolean(L, -1), arg, "checkpoint: a boolean");
        o.checkpoint = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "memory_limit");
    if (!lua_isnil(L, -1)) {
        luaL_argexpected(L, lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0, arg,
                         "memory_limit: an integer >= 0");
        o.memory_limit = (size_t)lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    return o;
}

/* plan(graph, loss, optim [, options]): differentiates the loss symbol (the output of
 * cross_entropy or mse) and plans the training step. optim: {kind = "sgd" | "adamw",
 * lr =, momentum =, dampening =, nesterov =, weight_decay =, beta1 =, beta2 =, eps =,
 * max_grad_norm =, groups = {{lr_mult =, decay_mult =}, ...}}; fields not given take
 * PyTorch's defaults. options: {checkpoint = true} (activation checkpointing),
 * {memory_limit = bytes} (this plan's limit instead of the context's). */
static int l_plan(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    int loss = check_value_of(L, 2, g);
    struct lt_plan_options o = check_plan_options(L, 4);
    struct lt_optim_config opt;
    lt_lua_optim_config(L, 3, &opt); /* pushes the groups' storage */
    struct lplan *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->p = NULL;
    h->n_inputs = lt_graph_input_count(g);
    luaL_setmetatable(L, LT_PLAN_MT);
    LT_LUA_CHECK(L, lt_plan_new_with(lt_lua_ctx(L), g, loss, &opt, &o, &h->p));
    return 1;
}

static int p_release(lua_State *L) {
    struct lplan *h = luaL_checkudata(L, 1, LT_PLAN_MT);
    lt_plan_free(h->p);
    h->p = NULL;
    return 0;
}

/* p:report(): the bytes the step will allocate, by category. */
static int p_report(lua_State *L) {
    struct lt_mem_report r;
    lt_plan_report(check_plan(L, 1)->p, &r);
    lt_lua_push_report(L, &r);
    return 1;
}

/* p:grad_buckets(bytes): how many all-reduce buckets a data-parallel step cuts the
 * gradient into, and the largest one's bytes. */
static int p_grad_buckets(lua_State *L) {
    struct lplan *h = check_plan(L, 1);
    lua_Integer bytes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, bytes > 0, 2, "bytes must be > 0");
    size_t largest = 0;
    int n = lt_plan_grad_buckets(h->p, (size_t)bytes, &largest);
    if (n < 0)
        return luaL_error(L, "grad_buckets: out of memory");
    lua_pushinteger(L, n);
    lua_pushinteger(L, (lua_Integer)largest);
    return 2;
}

/* p:nodes(): nodes in the planned step, forward plus backward (recomputations
 * included). */
static int p_nodes(lua_State *L) {
    lua_pushinteger(L, lt_plan_node_count(check_plan(L, 1)->p));
    return 1;
}

/* p:checkpointing(): activation checkpointing's segments (1: none) and the forward
 * nodes it recomputes. */
static int p_checkpointing(lua_State *L) {
    int segments, recomputed;
    lt_plan_checkpointing(check_plan(L, 1)->p, &segments, &recomputed);
    lua_pushinteger(L, segments);
    lua_pushinteger(L, recomputed);
    return 2;
}

/* p:layout(): the tensors kept channel-blocked and the reshapes aliased (lt_plan_layout). */
static int p_layout(lua_State *L) {
    int blocked, aliased;
    lt_plan_layout(check_plan(L, 1)->p, &blocked, &aliased);
    lua_pushinteger(L, blocked);
    lua_pushinteger(L, aliased);
    return 2;
}

/* ---- trainers ------------------------------------------------------------------------------- */

/* trainer(plan): allocates the plan's memory; the graph's parameters become views of
 * one flat buffer. */
static int l_trainer(lua_State *L) {
    struct lplan *p = check_plan(L, 1);
    struct ltrainer *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->t = NULL;
    h->n_inputs = p->n_inputs;
    luaL_setmetatable(L, LT_TRAINER_MT);
    LT_LUA_CHECK(L, lt_trainer_new(lt_lua_ctx(L), p->p, &h->t));
    return 1;
}

static int tr_release(lua_State *L) {
    struct ltrainer *h = luaL_checkudata(L, 1, LT_TRAINER_MT);
    lt_trainer_free(h->t);
    h->t = NULL;
    return 0;
}

/* tr:step(batches [, epoch = 0 [, sample_base = 0]]): one optimizer step over the
 * micro-batches in `batches`, each a list of tensors in the graph's input order, with
 * sample_base = its own first row's index in the epoch when every one has it (else they
 * follow each other from the argument).
 * Returns {loss =, count =, grad_norm =, skipped = bool, step =, loss_scale =}, and in a
 * data-parallel job comm_buckets =, comm_early =, comm_wait_seconds = (lt_step_result). */
static int tr_step(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    struct lt_step_input in;
    check_position(L, 3, &in.epoch, &in.sample_base);
    lua_Integer n_micro = (lua_Integer)lua_rawlen(L, 2);
    /* none: a data-parallel rank whose shard of a short last batch is empty (the core
     * refuses it elsewhere) */
    luaL_argcheck(L, n_micro >= 0 && n_micro <= 0x10000, 2,
                  "want a list of up to 65536 micro-batches");
    size_t n = (size_t)n_micro * (size_t)(h->n_inputs ? h->n_inputs : 1);
    struct lt_tensor **inputs = lua_newuserdatauv(L, n * sizeof *inputs, 0);
    int64_t *bases = lua_newuserdatauv(L, ((size_t)n_micro + 1) * sizeof *bases, 0);
    int own = 0; /* micro-batches with a sample_base of their own */
    for (lua_Integer k = 0; k < n_micro; k++) {
        lua_rawgeti(L, 2, k + 1);
        check_tensor_list(L, lua_gettop(L), h->n_inputs, inputs + (size_t)k * (size_t)h->n_inputs,
                          "step: micro-batch");
        if (lua_getfield(L, -1, "sample_base") != LUA_TNIL) {
            int ok;
            lua_Integer b = lua_tointegerx(L, -1, &ok);
            if (!ok || b < 0)
                return luaL_error(L, "step: micro-batch %d: sample_base must be an integer >= 0",
                                  (int)k + 1);
            bases[k] = b;
            own++;
        }
        lua_pop(L, 2);
    }
    if (own != 0 && own != n_micro)
        return luaL_error(L, "step: %d of %d micro-batches give a sample_base: all or none",
                          own, (int)n_micro);
    in.sample_bases = own ? bases : NULL;
    in.n_micro = (int)n_micro;
    in.inputs = inputs;
    struct lt_step_result r;
    LT_LUA_CHECK(L, lt_trainer_step(h->t, &in, &r));
    lua_createtable(L, 0, 6);
    lua_pushnumber(L, r.loss);
    lua_setfield(L, -2, "loss");
    lua_pushnumber(L, r.count);
    lua_setfield(L, -2, "count");
    lua_pushnumber(L, r.grad_norm);
    lua_setfield(L, -2, "grad_norm");
    lua_pushboolean(L, r.skipped);
    lua_setfield(L, -2, "skipped");
    lua_pushinteger(L, (lua_Integer)r.step);
    lua_setfield(L, -2, "step");
    lua_pushnumber(L, r.loss_scale);
    lua_setfield(L, -2, "loss_scale");
    if (r.comm_buckets > 0) {
        lua_pushinteger(L, r.comm_buckets);
        lua_setfield(L, -2, "comm_buckets");
        lua_pushinteger(L, r.comm_early);
        lua_setfield(L, -2, "comm_early");
        lua_pushnumber(L, r.comm_wait_seconds);
        lua_setfield(L, -2, "comm_wait_seconds");
    }
    return 1;
}

/* tr:set_lr(lr): the base learning rate from the next step on. */
static int tr_set_lr(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    lua_Number lr = luaL_checknumber(L, 2);
    luaL_argcheck(L, lr >= 0, 2, "the learning rate must be >= 0");
    lt_trainer_set_lr(h->t, (float)lr);
    return 0;
}

static int tr_lr(lua_State *L) {
    lua_pushnumber(L, lt_trainer_lr(check_trainer(L, 1)->t));
    return 1;
}

/* tr:set_loss_scale{scale =, dynamic =, growth_factor =, backoff_factor =,
 * growth_interval =}: the loss scaling of the next steps (see lt_trainer_set_loss_scale). */
static int tr_set_loss_scale(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    struct lt_loss_scale s;
    lt_lua_loss_scale(L, 2, &s);
    LT_LUA_CHECK(L, lt_trainer_set_loss_scale(h->t, &s));
    return 0;
}

/* tr:clean_steps() / tr:set_clean_steps(n): the dynamic scaler's clean steps in a row. */
static int tr_clean_steps(lua_State *L) {
    lua_pushinteger(L, lt_trainer_clean_steps(check_trainer(L, 1)->t));
    return 1;
}

static int tr_set_clean_steps(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n <= 2147483647, 2, "the count must be in [0, 2^31)");
    LT_LUA_CHECK(L, lt_trainer_set_clean_steps(h->t, (int)n));
    return 0;
}

/* tr:loss_scale(): the scale the next step will use. */
static int tr_loss_scale(lua_State *L) {
    lua_pushnumber(L, lt_trainer_loss_scale(check_trainer(L, 1)->t));
    return 1;
}

/* tr:memory(): the bytes the trainer allocated, by category. */
static int tr_memory(lua_State *L) {
    struct lt_mem_report r;
    lt_trainer_memory(check_trainer(L, 1)->t, &r);
    lt_lua_push_report(L, &r);
    return 1;
}

/* tr:add_plan(plan): another plan of the same parameters (another input shape); each
 * micro-batch then runs through the plan its shapes match. */
static int tr_add_plan(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    struct lplan *p = check_plan(L, 2);
    luaL_argcheck(L, p->n_inputs == h->n_inputs, 2, "the plan reads another number of inputs");
    LT_LUA_CHECK(L, lt_trainer_add_plan(h->t, p->p));
    return 0;
}

static int tr_plan_count(lua_State *L) {
    lua_pushinteger(L, lt_trainer_plan_count(check_trainer(L, 1)->t));
    return 1;
}

/* tr:copy_state(src): continue where trainer src stands (weights, moments, step, lr,
 * scaler). */
static int tr_copy_state(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    struct ltrainer *src = check_trainer(L, 2);
    LT_LUA_CHECK(L, lt_trainer_copy_state(h->t, src->t));
    return 0;
}

static int tr_moment_count(lua_State *L) {
    lua_pushinteger(L, lt_trainer_moment_count(check_trainer(L, 1)->t));
    return 1;
}

/* The 1-based moment and parameter numbers at arg, arg + 1, made 0-based. */
static void check_moment_ref(lua_State *L, int arg, int *k, int *i) {
    lua_Integer a = luaL_checkinteger(L, arg), b = luaL_checkinteger(L, arg + 1);
    luaL_argcheck(L, a >= 1 && a <= 2, arg, "moment numbers are 1 or 2");
    luaL_argcheck(L, b >= 1 && b <= 0x7fffffff, arg + 1, "parameter numbers start at 1");
    *k = (int)a - 1;
    *i = (int)b - 1;
}

/* tr:get_moment(k, i, tensor): moment k of parameter i (both 1-based) into tensor. */
static int tr_get_moment(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    int k, i;
    check_moment_ref(L, 2, &k, &i);
    LT_LUA_CHECK(L, lt_trainer_get_moment(h->t, k, i, lt_lua_check_tensor(L, 4)));
    return 0;
}

/* tr:set_moment(k, i, tensor): moment k of parameter i (both 1-based) from tensor. */
static int tr_set_moment(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    int k, i;
    check_moment_ref(L, 2, &k, &i);
    LT_LUA_CHECK(L, lt_trainer_set_moment(h->t, k, i, lt_lua_check_tensor(L, 4)));
    return 0;
}

/* tr:steps(), tr:set_steps(n): optimizer steps applied. */
static int tr_steps(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_trainer_steps(check_trainer(L, 1)->t));
    return 1;
}

static int tr_set_steps(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    LT_LUA_CHECK(L, lt_trainer_set_steps(h->t, (int64_t)luaL_checkinteger(L, 2)));
    return 0;
}

/* tr:profile(): the first plan's nodes in step order, each {op =, backward =, seconds =}
 * summed over the steps run since the trainer was made or tr:profile_reset(); an empty
 * list when the trainer was not made profiling (set_profile). */
static int tr_profile(lua_State *L) {
    struct ltrainer *h = check_trainer(L, 1);
    int n = lt_trainer_profile(h->t, NULL, 0);
    struct lt_node_time *times = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *times, 0);
    n = lt_trainer_profile(h->t, times, n);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, times[i].op);
        lua_setfield(L, -2, "op");
        lua_pushboolean(L, times[i].backward);
        lua_setfield(L, -2, "backward");
        lua_pushnumber(L, times[i].seconds);
        lua_setfield(L, -2, "seconds");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int tr_profile_reset(lua_State *L) {
    lt_trainer_profile_reset(check_trainer(L, 1)->t);
    return 0;
}

/* ---- forward programs ---------------------------------------------------------------------- */

/* The output symbols of a forward program, a list at arg; returns how many. */
static int check_outputs(lua_State *L, int arg, struct lt_graph *g, int outputs[64]) {
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, arg);
    luaL_argcheck(L, n >= 1 && n <= 64, arg, "want a list of 1 to 64 output symbols");
    for (lua_Integer i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        outputs[i] = check_value_of(L, lua_gettop(L), g);
        lua_pop(L, 1);
    }
    return (int)n;
}

/* forward(graph, outputs [, trainer]): plans the graph's forward up to the symbols in
 * `outputs`; with a trainer, the program borrows the trainer's memory between its steps
 * (its evaluation). */
static int l_forward(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    int outputs[64];
    int n = check_outputs(L, 2, g, outputs);
    struct lt_trainer *lender = lua_isnoneornil(L, 3) ? NULL : check_trainer(L, 3)->t;
    struct lforward *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->f = NULL;
    h->n_inputs = lt_graph_input_count(g);
    h->n_outputs = n;
    luaL_setmetatable(L, LT_FORWARD_MT);
    LT_LUA_CHECK(L, lender ? lt_forward_new_for(lt_lua_ctx(L), g, n, outputs, lender, &h->f)
                           : lt_forward_new(lt_lua_ctx(L), g, n, outputs, &h->f));
    return 1;
}

/* forward_plan(graph, outputs [, options]): the bytes forward(graph, outputs) would
 * allocate, by category, without allocating them. options: {memory_limit = bytes} (as
 * plan's). */
static int l_forward_plan(lua_State *L) {
    struct lt_graph *g = lt_lua_check_graph(L, 1);
    int outputs[64];
    int n = check_outputs(L, 2, g, outputs);
    struct lt_plan_options o = check_plan_options(L, 3);
    struct lt_mem_report r;
    LT_LUA_CHECK(L, lt_forward_plan_with(lt_lua_ctx(L), g, n, outputs, &o, &r));
    lt_lua_push_report(L, &r);
    return 1;
}

static int f_release(lua_State *L) {
    struct lforward *h = luaL_checkudata(L, 1, LT_FORWARD_MT);
    lt_forward_free(h->f);
    h->f = NULL;
    return 0;
}

/* f:run(inputs, outputs [, epoch [, sample_base]]): runs the program on one tensor per
 * graph input, writing each output into the given tensors (of the outputs' dtypes and
 * shapes). */
static int f_run(lua_State *L) {
    struct lforward *h = check_forward(L, 1);
    uint32_t epoch;
    int64_t sample_base;
    check_position(L, 4, &epoch, &sample_base);
    struct lt_tensor *in[64], *out[64];
    luaL_argcheck(L, h->n_inputs <= 64, 2, "a forward program reads at most 64 inputs");
    check_tensor_list(L, 2, h->n_inputs, in, "run: inputs");
    lua_Integer n_out = lua_istable(L, 3) ? (lua_Integer)lua_rawlen(L, 3) : -1;
    if (n_out != h->n_outputs)
        return luaL_error(L, "run: want a list of %d output tensors", h->n_outputs);
    check_tensor_list(L, 3, h->n_outputs, out, "run: outputs");
    LT_LUA_CHECK(L, lt_forward_run(h->f, in, out, epoch, sample_base));
    return 0;
}

/* f:memory(): the bytes the program's arenas take, by category. */
static int f_memory(lua_State *L) {
    struct lt_mem_report r;
    lt_forward_memory(check_forward(L, 1)->f, &r);
    lt_lua_push_report(L, &r);
    return 1;
}

/* mem_extra(step_report, program_report): the bytes the program allocates beyond what
 * it borrows from the step's memory (lt_mem_extra). */
static int l_mem_extra(lua_State *L) {
    struct lt_mem_report have, need;
    lt_lua_check_report(L, 1, &have);
    lt_lua_check_report(L, 2, &need);
    lua_pushinteger(L, (lua_Integer)lt_mem_extra(&have, &need));
    return 1;
}

static const luaL_Reg plan_funcs[] = {
    {"plan", l_plan},
    {"trainer", l_trainer},
    {"forward", l_forward},
    {"forward_plan", l_forward_plan},
    {"mem_extra", l_mem_extra},
    {NULL, NULL},
};

static const luaL_Reg plan_methods[] = {
    {"report", p_report},
    {"nodes", p_nodes},
    {"grad_buckets", p_grad_buckets},
    {"checkpointing", p_checkpointing},
    {"layout", p_layout},
    {"close", p_release},
    {NULL, NULL},
};

static const luaL_Reg trainer_methods[] = {
    {"step", tr_step},
    {"set_lr", tr_set_lr},
    {"lr", tr_lr},
    {"set_loss_scale", tr_set_loss_scale},
    {"loss_scale", tr_loss_scale},
    {"clean_steps", tr_clean_steps},
    {"set_clean_steps", tr_set_clean_steps},
    {"memory", tr_memory},
    {"add_plan", tr_add_plan},
    {"plan_count", tr_plan_count},
    {"copy_state", tr_copy_state},
    {"moment_count", tr_moment_count},
    {"get_moment", tr_get_moment},
    {"set_moment", tr_set_moment},
    {"steps", tr_steps},
    {"set_steps", tr_set_steps},
    {"profile", tr_profile},
    {"profile_reset", tr_profile_reset},
    {"close", tr_release},
    {NULL, NULL},
};

static const luaL_Reg forward_methods[] = {
    {"run", f_run},
    {"memory", f_memory},
    {"close", f_release},
    {NULL, NULL},
};

/* Makes a metatable with __gc and __close (both `release`) and an __index of methods,
 * and stores it in the table below it as core[field]. */
static void new_type(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction release,
                     const char *field) {
    luaL_newmetatable(L, mt);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_setfield(L, -2, field);
}

void lt_lua_open_plan(lua_State *L) {
    luaL_setfuncs(L, plan_funcs, 0);
    new_type(L, LT_PLAN_MT, plan_methods, p_release, "Plan");
    new_type(L, LT_TRAINER_MT, trainer_methods, tr_release, "Trainer");
    new_type(L, LT_FORWARD_MT, forward_methods, f_release, "Forward");
}
