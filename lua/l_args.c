/* Argument parsing for the binding: dtypes, shapes, memory reports, and the table-driven
 * parsing of op attribute structs and optimizer configs. Each op's attribute struct has a
 * field table here, expanded from kernels/attrs.def (as the struct itself is in
 * kernels/ops.h) and found through the op table's `attrs` column; there is no switch over
 * ops and no code per op. Dims in attributes are 1-based (Lua's), negative from the end;
 * they are stored 0-based as the core wants them. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lua/l_lutra.h"

enum lt_dtype lt_lua_check_dtype(lua_State *L, int arg, int def) {
    if (def >= 0 && lua_isnoneornil(L, arg))
        return (enum lt_dtype)def;
    const char *name = luaL_checkstring(L, arg);
    enum lt_dtype dt;
    if (lt_dtype_parse(lt_lua_ctx(L), name, &dt) != LT_OK)
        luaL_argerror(L, arg, lt_ctx_error(lt_lua_ctx(L)));
    return dt;
}

int lt_lua_read_shape(lua_State *L, int idx, int64_t *shape, const char **err) {
    if (!lua_istable(L, idx)) {
        *err = "a shape is a table of integers";
        return -1;
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (n > LT_MAX_DIMS) {
        *err = "a shape has at most 8 dims";
        return -1;
    }
    for (lua_Integer i = 1; i <= n; i++) {
        int ok = 0;
        lua_rawgeti(L, idx, i);
        lua_Integer d = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
        lua_pop(L, 1);
        if (!ok) {
            *err = "a shape's dims must be integers";
            return -1;
        }
        shape[i - 1] = (int64_t)d;
    }
    return (int)n;
}

int lt_lua_check_shape(lua_State *L, int arg, int64_t *shape) {
    const char *err = NULL;
    int ndim = lt_lua_read_shape(L, arg, shape, &err);
    if (ndim < 0)
        luaL_argerror(L, arg, err);
    return ndim;
}

void lt_lua_push_shape(lua_State *L, int ndim, const int64_t *shape) {
    lua_createtable(L, ndim, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushinteger(L, (lua_Integer)shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

void lt_lua_push_report(lua_State *L, const struct lt_mem_report *r) {
    lua_createtable(L, 0, LT_MEM_COUNT + 2);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        lua_pushinteger(L, (lua_Integer)r->bytes[c]);
        lua_setfield(L, -2, lt_mem_category_name((enum lt_mem_category)c));
    }
    lua_pushinteger(L, (lua_Integer)r->total);
    lua_setfield(L, -2, "total");
    lua_createtable(L, 0, LT_MEM_COUNT);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        lua_pushinteger(L, (lua_Integer)r->live_peak[c]);
        lua_setfield(L, -2, lt_mem_category_name((enum lt_mem_category)c));
    }
    lua_setfield(L, -2, "live_peak");
}

void lt_lua_check_report(lua_State *L, int idx, struct lt_mem_report *r) {
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(r, 0, sizeof *r);
    for (int c = 0; c < LT_MEM_COUNT; c++) {
        lua_getfield(L, idx, lt_mem_category_name((enum lt_mem_category)c));
        lua_Integer b = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
        luaL_argcheck(L, b >= 0, idx, "a report's bytes are >= 0");
        r->bytes[c] = (size_t)b;
        r->total += r->bytes[c];
        lua_pop(L, 1);
    }
}

/* ---- field tables ------------------------------------------------------------------------ */

enum ftype {
    F_INT,   /* int */
    F_INT2,  /* int[2]: a number for both, or {h, w} */
    F_FLOAT, /* float */
    F_BOOL,  /* int 0/1: a boolean, or 0 / 1 */
    F_U32,   /* uint32_t */
    F_DIM,   /* int: 1-based or negative in Lua, 0-based or negative in C */
    F_INDEX, /* int64_t: a position along a dim, 1-based or negative in Lua, as F_DIM */
    F_DTYPE, /* enum lt_dtype: a dtype name */
    F_SHAPE, /* int64_t[LT_MAX_DIMS] at offset, its int count at count_offset */
    F_DIMS,  /* int[LT_MAX_DIMS] of dims, each as F_DIM, its int count at count_offset */
    F_ENUM   /* an enum whose values are 0, 1, ...: one of `names` */
};

enum fneed {
    REQUIRED, /* must be given */
    DEFAULT,  /* `def` when absent */
    KEEP      /* the struct's value when absent */
};

struct field {
    const char *name; /* NULL ends a table */
    enum ftype type;
    size_t offset, count_offset;
    enum fneed need;
    double def;
    const char *const *names; /* F_ENUM: the values' names in order, NULL-ended */
};

#define FIELDS_END                                                                                 \
    { NULL, F_INT, 0, 0, KEEP, 0, NULL }

/* The op attribute structs' tables, one per LT_ATTRS row of kernels/attrs.def
 * (`lt_conv2d_attrs_fields`); lt_no_attrs, written by hand in kernels/ops.h, has none. */
#define LT_ATTRS(S) static const struct field S##_fields[] = {
#define LT_FIELD(S, name, kind, need, def)                                                         \
    {#name, F_##kind, offsetof(struct S, name), 0, need, def, NULL},
#define LT_SHAPE_FIELD(S, name, count, need)                                                       \
    {#name, F_SHAPE, offsetof(struct S, name), offsetof(struct S, count), need, 0, NULL},
#define LT_DIMS_FIELD(S, name, count, need)                                                        \
    {#name, F_DIMS, offsetof(struct S, name), offsetof(struct S, count), need, 0, NULL},
/* The closing `};` stays on one line (clang-format would split it). */
/* clang-format off */
#define LT_ATTRS_END(S) FIELDS_END};
/* clang-format on */
#include "kernels/attrs.def"
#undef LT_ATTRS
#undef LT_FIELD
#undef LT_SHAPE_FIELD
#undef LT_DIMS_FIELD
#undef LT_ATTRS_END

static const struct field lt_no_attrs_fields[] = {FIELDS_END};

/* Each op's field table, from the op table's attrs column. */
static const struct field *const op_fields[LT_OP_COUNT] = {
#define LT_OP(ID, name, min_in, max_in, n_out, attrs, ...) [LT_OP_##ID] = attrs##_fields,
#include "kernels/ops.def"
#undef LT_OP
};

/* The optimizer's structs are the core's (core/lutra.h), not op attributes; their tables
 * are written here in the same form. */
#define FIELD(S, name, type, need, def)                                                            \
    { #name, type, offsetof(struct S, name), 0, need, def, NULL }

static const char *const kind_names[] = {"sgd", "adamw", NULL}; /* enum lt_optim_kind */
_Static_assert(LT_OPTIM_SGD == 0 && LT_OPTIM_ADAMW == 1 &&
                   sizeof(enum lt_optim_kind) == sizeof(int),
               "kind_names follows enum lt_optim_kind");

static const struct field optim_fields[] = {
    {"kind", F_ENUM, offsetof(struct lt_optim_config, kind), 0, REQUIRED, 0, kind_names},
    FIELD(lt_optim_config, lr, F_FLOAT, REQUIRED, 0),
    FIELD(lt_optim_config, weight_decay, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, momentum, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, dampening, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, nesterov, F_BOOL, KEEP, 0),
    FIELD(lt_optim_config, beta1, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, beta2, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, eps, F_FLOAT, KEEP, 0),
    FIELD(lt_optim_config, max_grad_norm, F_FLOAT, KEEP, 0),
    FIELDS_END,
};

static const struct field group_fields[] = {
    FIELD(lt_optim_group, lr_mult, F_FLOAT, DEFAULT, 1),
    FIELD(lt_optim_group, decay_mult, F_FLOAT, DEFAULT, 1),
    FIELDS_END,
};

static const struct field loss_scale_fields[] = {
    FIELD(lt_loss_scale, scale, F_FLOAT, REQUIRED, 0),
    FIELD(lt_loss_scale, dynamic, F_BOOL, DEFAULT, 0),
    FIELD(lt_loss_scale, growth_factor, F_FLOAT, DEFAULT, 2), /* PyTorch's GradScaler */
    FIELD(lt_loss_scale, backoff_factor, F_FLOAT, DEFAULT, 0.5),
    FIELD(lt_loss_scale, growth_interval, F_INT, DEFAULT, 2000),
    FIELDS_END,
};

/* ---- parsing -------------------------------------------------------------------------------- */

static int bad(lua_State *L, const char *what, const struct field *f, const char *want) {
    return luaL_error(L, "%s: '%s' must be %s, got %s", what, f->name, want, luaL_typename(L, -1));
}

/* `"a", "b" or "c"` from a NULL-ended list of names, written into buf (cut at size). */
static const char *quoted(const char *const *names, char *buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && len < size; i++) {
        const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
        int n = snprintf(buf + len, size - len, "%s\"%s\"", sep, names[i]);
        len += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* An integer in int's range at the top of the stack, or raises. */
static int to_int(lua_State *L, const char *what, const struct field *f, const char *want) {
    int ok = 0;
    lua_Integer v = lua_type(L, -1) == LUA_TNUMBER ? lua_tointegerx(L, -1, &ok) : 0;
    if (!ok || v < -0x7fffffff || v > 0x7fffffff)
        bad(L, what, f, want);
    return (int)v;
}

/* A dim at the top of the stack: 1-based or negative in Lua, returned 0-based (or
 * negative), or raises. */
static int to_dim(lua_State *L, const char *what, const struct field *f, const char *want) {
    int d = to_int(L, what, f, want);
    if (d == 0)
        luaL_error(L, "%s: '%s' is 1-based (1 .. n, or negative from the end), got 0", what,
                   f->name);
    return d > 0 ? d - 1 : d;
}

/* Stores the value at the top of the stack into field f of out (and pops it). Numbers
 * must be numbers: Lua's string-to-number coercion is not applied. */
static void store(lua_State *L, const char *what, const struct field *f, void *out) {
    char *at = (char *)out + f->offset;
    int ok = 0, isnum = lua_type(L, -1) == LUA_TNUMBER;
    const char *err = NULL;
    switch (f->type) {
    case F_INT:
        *(int *)at = to_int(L, what, f, "an integer");
        break;
    case F_INT2:
        if (lua_istable(L, -1)) {
            if (lua_rawlen(L, -1) != 2)
                bad(L, what, f, "an integer or a pair of integers");
            for (int i = 0; i < 2; i++) {
                lua_rawgeti(L, -1, i + 1);
                ((int *)at)[i] = to_int(L, what, f, "an integer or a pair of integers");
                lua_pop(L, 1);
            }
        } else {
            ((int *)at)[0] = ((int *)at)[1] =
                to_int(L, what, f, "an integer or a pair of integers");
        }
        break;
    case F_FLOAT: {
        double v = isnum ? lua_tonumberx(L, -1, &ok) : 0;
        if (!ok)
            bad(L, what, f, "a number");
        *(float *)at = (float)v;
        break;
    }
    case F_BOOL:
        if (lua_isboolean(L, -1)) {
            *(int *)at = lua_toboolean(L, -1);
        } else {
            lua_Integer v = isnum ? lua_tointegerx(L, -1, &ok) : 0;
            if (!ok || (v != 0 && v != 1))
                bad(L, what, f, "a boolean");
            *(int *)at = (int)v;
        }
        break;
    case F_U32: {
        lua_Integer v = isnum ? lua_tointegerx(L, -1, &ok) : 0;
        if (!ok || v < 0 || v > 0xffffffffLL)
            bad(L, what, f, "an integer in [0, 2^32)");
        *(uint32_t *)at = (uint32_t)v;
        break;
    }
    case F_DIM:
        *(int *)at = to_dim(L, what, f, "an integer dim");
        break;
    case F_INDEX:
        *(int64_t *)at = to_dim(L, what, f, "an integer position");
        break;
    case F_DIMS: {
        const char *want = "a table of integer dims";
        if (!lua_istable(L, -1))
            bad(L, what, f, want);
        lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n > LT_MAX_DIMS)
            luaL_error(L, "%s: '%s' has %I dims; at most %d are allowed", what, f->name, n,
                       LT_MAX_DIMS);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            ((int *)at)[i - 1] = to_dim(L, what, f, want);
            lua_pop(L, 1);
        }
        *(int *)((char *)out + f->count_offset) = (int)n;
        break;
    }
    case F_DTYPE:
        if (lua_type(L, -1) != LUA_TSTRING)
            bad(L, what, f, "a dtype name");
        if (lt_dtype_parse(lt_lua_ctx(L), lua_tostring(L, -1), (enum lt_dtype *)at) != LT_OK)
            luaL_error(L, "%s: '%s': %s", what, f->name, lt_ctx_error(lt_lua_ctx(L)));
        break;
    case F_SHAPE: {
        int ndim = lt_lua_read_shape(L, lua_gettop(L), (int64_t *)at, &err);
        if (ndim < 0)
            luaL_error(L, "%s: '%s': %s", what, f->name, err);
        *(int *)((char *)out + f->count_offset) = ndim;
        break;
    }
    case F_ENUM: {
        const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        int k = 0;
        while (f->names[k] && strcmp(f->names[k], name))
            k++;
        if (!f->names[k]) {
            char want[128];
            bad(L, what, f, quoted(f->names, want, sizeof want));
        }
        *(int *)at = k;
        break;
    }
    }
    lua_pop(L, 1);
}

/* Raises when the table at arg has a key that is not a field; lists the fields. */
static void check_keys(lua_State *L, int arg, const char *what, const struct field *fields,
                       const char *also) {
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        const char *key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        int known = key && also && !strcmp(key, also);
        for (const struct field *f = fields; key && !known && f->name; f++)
            known = !strcmp(key, f->name);
        if (known)
            continue;
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const struct field *f = fields; f->name; f++) {
            luaL_addstring(&b, f == fields ? "" : ", ");
            luaL_addstring(&b, f->name);
        }
        if (also) {
            luaL_addstring(&b, fields->name ? ", " : "");
            luaL_addstring(&b, also);
        }
        if (!fields->name && !also)
            luaL_addstring(&b, "none");
        luaL_pushresult(&b);
        if (key)
            luaL_error(L, "%s: unknown attribute '%s' (it takes: %s)", what, key,
                       lua_tostring(L, -1));
        luaL_error(L, "%s: attribute keys must be strings, got a %s (it takes: %s)", what,
                   luaL_typename(L, -2), lua_tostring(L, -1));
    }
}

/* Fills `out` from the table at arg (absent or nil: an empty table) by `fields`. */
static void parse_fields(lua_State *L, int arg, const char *what, const struct field *fields,
                         void *out, const char *also) {
    arg = lua_absindex(L, arg);
    if (lua_isnoneornil(L, arg)) {
        lua_newtable(L);
        lua_replace(L, arg);
    }
    if (!lua_istable(L, arg))
        luaL_error(L, "%s: attributes must be a table, got %s", what, luaL_typename(L, arg));
    check_keys(L, arg, what, fields, also);
    for (const struct field *f = fields; f->name; f++) {
        if (lua_getfield(L, arg, f->name) == LUA_TNIL) {
            lua_pop(L, 1);
            if (f->need == REQUIRED)
                luaL_error(L, "%s: attribute '%s' is required", what, f->name);
            if (f->need == KEEP)
                continue;
            lua_pushnumber(L, f->def);
        }
        store(L, what, f, out);
    }
}

void lt_lua_op_attrs(lua_State *L, int arg, enum lt_op op, void *attrs) {
    if (lua_isnone(L, arg))
        lua_settop(L, arg); /* a slot for the empty table */
    parse_fields(L, arg, lt_op_name(op), op_fields[op], attrs, NULL);
}

void lt_lua_push_attr_names(lua_State *L, enum lt_op op) {
    const struct field *fields = op_fields[op];
    lua_newtable(L);
    for (int i = 0; fields[i].name; i++) {
        lua_pushstring(L, fields[i].name);
        lua_rawseti(L, -2, i + 1);
    }
}

void lt_lua_optim_config(lua_State *L, int arg, struct lt_optim_config *opt) {
    arg = lua_absindex(L, arg);
    luaL_checktype(L, arg, LUA_TTABLE);
    struct lt_optim_config head;
    memset(&head, 0, sizeof head);
    parse_fields(L, arg, "optim", optim_fields, &head, "groups");
    *opt = lt_optim_defaults(head.kind, head.lr);
    parse_fields(L, arg, "optim", optim_fields, opt, "groups");
    lua_getfield(L, arg, "groups");
    if (lua_isnil(L, -1)) {
        opt->n_groups = 0;
        opt->groups = NULL;
        return; /* the nil stays as the promised stack slot */
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "optim: 'groups' must be a list of {lr_mult =, decay_mult =}, got %s",
                   luaL_typename(L, -1));
    int list = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, list);
    if (n > 0x10000)
        luaL_error(L, "optim: %I groups is too many", n);
    struct lt_optim_group *groups = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *groups, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, list, i);
        if (!lua_istable(L, -1))
            luaL_error(L, "optim: group %I must be a table {lr_mult =, decay_mult =}, got %s", i,
                       luaL_typename(L, -1));
        parse_fields(L, -1, "optim group", group_fields, &groups[i - 1], NULL);
        lua_pop(L, 1);
    }
    lua_replace(L, list); /* the userdata stays on the stack in the list's slot */
    opt->n_groups = (int)n;
    opt->groups = groups;
}

void lt_lua_loss_scale(lua_State *L, int arg, struct lt_loss_scale *s) {
    luaL_checktype(L, arg, LUA_TTABLE);
    memset(s, 0, sizeof *s);
    parse_fields(L, arg, "loss_scale", loss_scale_fields, s, NULL);
}
