/* Data: IDX files, data sets (Fashion-MNIST, tensors, image folders, token files) and
 * loaders, bound thinly. lutra.Dataset and lutra.Loader are handles to the core objects;
 * a loader's batch tensors are its buffers, refilled by the next call (see
 * lt_loader_next). The runner (lua/lutra/data.lua) builds them from a recipe's `data`
 * table; data sets written in Lua are lua/l_source.c's. */
#include <string.h>

#include "lua/l_lutra.h"

static struct lt_dataset **check_dataset(lua_State *L, int arg) {
    struct lt_dataset **slot = luaL_checkudata(L, arg, LT_DATASET_MT);
    if (!*slot)
        luaL_argerror(L, arg, "the data set was closed");
    return slot;
}

/* A loader's handle. `busy` while lt_loader_next runs: a data set written in Lua runs
 * inside it, and must not close, seek or call the loader that is calling it. */
struct loader_handle {
    struct lt_loader *ld;
    int busy;
};

static struct loader_handle *check_handle(lua_State *L, int arg) {
    struct loader_handle *h = luaL_checkudata(L, arg, LT_LOADER_MT);
    if (!h->ld)
        luaL_argerror(L, arg, "the loader was closed");
    if (h->busy)
        luaL_error(L, "loader: in use: its data source's get cannot call, seek or close it");
    return h;
}

static struct lt_loader *check_loader(lua_State *L, int arg) {
    return check_handle(L, arg)->ld;
}

/* Pushes a new handle holding one more reference to t. */
static void push_retained(lua_State *L, struct lt_tensor *t) {
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    *slot = lt_tensor_retain(t);
}

struct lt_dataset **lt_lua_new_dataset(lua_State *L) {
    struct lt_dataset **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LT_DATASET_MT);
    return slot;
}

/* idx_read(path): the IDX file (plain or gzip) as a u8 tensor shaped as its header says. */
static int l_idx_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_idx_read(lt_lua_ctx(L), path, slot));
    return 1;
}

/* fmnist(dir, split): Fashion-MNIST's "train" or "test" split from dir (nil or "": the
 * Debian package's folder). */
static int l_fmnist(lua_State *L) {
    const char *dir = luaL_optstring(L, 1, NULL);
    const char *split = luaL_checkstring(L, 2);
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_fmnist(lt_lua_ctx(L), dir, split, slot));
    return 1;
}

/* dataset(x, y, classes): a data set over tensors (x (N, ...) u8, f32, f16, bf16 or i32;
 * y (N) class indices with classes >= 1, or a float target (N, ...) with classes 0). */
static int l_dataset(lua_State *L) {
    struct lt_tensor *x = lt_lua_check_tensor(L, 1);
    struct lt_tensor *y = lt_lua_check_tensor(L, 2);
    lua_Integer classes = luaL_checkinteger(L, 3);
    luaL_argcheck(L, classes >= 0 && classes <= 0x7fffffff, 3, "classes must be >= 0");
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_new(lt_lua_ctx(L), x, y, (int)classes, slot));
    return 1;
}

/* Reads an optional field of the options table at arg. */
static lua_Number opt_number(lua_State *L, int arg, const char *fn, const char *key,
                             lua_Number def) {
    lua_getfield(L, arg, key);
    lua_Number v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "%s: %s must be a number, got %s", fn, key, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* An optional integer field in [lo, hi]. */
static int opt_int(lua_State *L, int arg, const char *fn, const char *key, int def, int lo,
                   int hi) {
    lua_Number v = opt_number(L, arg, fn, key, def);
    if (!(v >= lo && v <= hi) || v != (lua_Number)(int)v)
        luaL_error(L, "%s: %s must be an integer in [%d, %d], got %f", fn, key, lo, hi, (double)v);
    return (int)v;
}

static int opt_flag(lua_State *L, int arg, const char *key, int def) {
    lua_getfield(L, arg, key);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

static const char *opt_string(lua_State *L, int arg, const char *fn, const char *key,
                              const char *def) {
    lua_getfield(L, arg, key);
    const char *v = def;
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: %s must be a string, got %s", fn, key, luaL_typename(L, -1));
        v = lua_tostring(L, -1); /* kept alive by the options table */
    }
    lua_pop(L, 1);
    return v;
}

static enum lt_bad_file opt_bad_file(lua_State *L, int arg, const char *fn) {
    const char *v = opt_string(L, arg, fn, "on_bad_file", "error");
    if (!strcmp(v, "error"))
        return LT_BAD_FILE_ERROR;
    if (!strcmp(v, "skip"))
        return LT_BAD_FILE_SKIP;
    return (enum lt_bad_file)luaL_error(L, "%s: on_bad_file must be \"error\" or \"skip\", got "
                                           "\"%s\"", fn, v);
}

/* A size option: n (n × n) or {h, w}; 0, 0 when absent. */
static void opt_size(lua_State *L, int arg, const char *fn, const char *key, int *h, int *w) {
    lua_getfield(L, arg, key);
    *h = *w = 0;
    if (lua_isinteger(L, -1)) {
        lua_Integer v = lua_tointeger(L, -1);
        if (v < 1 || v > 65535)
            luaL_error(L, "%s: %s must be in [1, 65535], got %d", fn, key, (int)v);
        *h = *w = (int)v;
    } else if (lua_istable(L, -1) && luaL_len(L, -1) == 2) {
        int idx = lua_gettop(L);
        lua_rawgeti(L, idx, 1);
        lua_rawgeti(L, idx, 2);
        lua_Integer a = lua_tointeger(L, -2), b = lua_tointeger(L, -1);
        if (!lua_isinteger(L, -2) || !lua_isinteger(L, -1) || a < 1 || b < 1 || a > 65535 ||
            b > 65535)
            luaL_error(L, "%s: %s must be {height, width} in [1, 65535]", fn, key);
        *h = (int)a;
        *w = (int)b;
        lua_pop(L, 2);
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "%s: %s must be an integer or {height, width}, got %s", fn, key,
                   luaL_typename(L, -1));
    }
    lua_pop(L, 1);
}

/* mean or std: a number or a list of 1 .. LT_MAX_CHANNELS numbers; returns the count. */
static int opt_norm(lua_State *L, int arg, const char *key, float *v, float def) {
    lua_getfield(L, arg, key);
    int n = 1;
    v[0] = def;
    if (lua_isnumber(L, -1)) {
        v[0] = (float)lua_tonumber(L, -1);
    } else if (lua_istable(L, -1)) {
        n = (int)luaL_len(L, -1);
        if (n < 1 || n > LT_MAX_CHANNELS)
            luaL_error(L, "loader: %s must have 1 to %d values, got %d", key, LT_MAX_CHANNELS, n);
        for (int i = 0; i < n; i++) {
            lua_rawgeti(L, -1, i + 1);
            if (!lua_isnumber(L, -1))
                luaL_error(L, "loader: %s[%d] must be a number", key, i + 1);
            v[i] = (float)lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "loader: %s must be a number or a list, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return n;
}

/* The loader options at arg: {batch =, shuffle = true, drop_last = false, seed = 0,
 * mean = 0, std = 1 (numbers or per-channel lists), flat = false, workers = 1,
 * background = true (false: workers 0), resize =, crop = (n or {h, w}), padding = 0,
 * random_crop = false, hflip = false, on_bad_file = "error", shards = 1, shard = 0 (a
 * data-parallel rank's slice of batch × shards, lt_loader_config)}. */
static struct lt_loader_config loader_config(lua_State *L, int arg) {
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Number batch = opt_number(L, arg, "loader", "batch", 0);
    luaL_argcheck(L, batch >= 1 && batch <= 1e15, arg, "batch must be a number >= 1");
    struct lt_loader_config cfg = lt_loader_defaults((int64_t)batch);
    cfg.shuffle = opt_flag(L, arg, "shuffle", cfg.shuffle);
    cfg.drop_last = opt_flag(L, arg, "drop_last", cfg.drop_last);
    lua_Number seed = opt_number(L, arg, "loader", "seed", 0);
    luaL_argcheck(L, seed >= 0, arg, "seed must be >= 0");
    cfg.seed = (uint64_t)seed;
    int nm = opt_norm(L, arg, "mean", cfg.mean, 0.0f);
    int ns = opt_norm(L, arg, "std", cfg.std, 1.0f);
    if (nm != ns && nm > 1 && ns > 1)
        luaL_error(L, "loader: mean has %d values but std %d", nm, ns);
    cfg.n_norm = nm > ns ? nm : ns;
    for (int i = nm; i < cfg.n_norm; i++)
        cfg.mean[i] = cfg.mean[0];
    for (int i = ns; i < cfg.n_norm; i++)
        cfg.std[i] = cfg.std[0];
    cfg.flat = opt_flag(L, arg, "flat", cfg.flat);
    cfg.workers = opt_flag(L, arg, "background", 1) ? 1 : 0;
    cfg.workers = opt_int(L, arg, "loader", "workers", cfg.workers, 0, 64);
    opt_size(L, arg, "loader", "resize", &cfg.resize_h, &cfg.resize_w);
    opt_size(L, arg, "loader", "crop", &cfg.crop_h, &cfg.crop_w);
    cfg.crop_padding = opt_int(L, arg, "loader", "padding", 0, 0, 65535);
    cfg.random_crop = opt_flag(L, arg, "random_crop", 0);
    cfg.hflip = opt_flag(L, arg, "hflip", 0);
    cfg.on_bad_file = opt_bad_file(L, arg, "loader");
    cfg.shards = opt_int(L, arg, "loader", "shards", 1, 1, 4096);
    cfg.shard = opt_int(L, arg, "loader", "shard", 0, 0, cfg.shards - 1);
    return cfg;
}

static void push_sample_shape(lua_State *L, const struct lt_sample_shape *s) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, lt_dtype_name(s->dtype));
    lua_setfield(L, -2, "dtype");
    lt_lua_push_shape(L, s->ndim, s->shape);
    lua_setfield(L, -2, "shape");
}

/* The image options at arg (absent: defaults): {channels = 0, max_pixels = 0, same_size =
 * false, on_bad_file = "error"}. */
static struct lt_image_options image_options(lua_State *L, int arg, const char *fn) {
    struct lt_image_options o = {0};
    if (lua_isnoneornil(L, arg))
        return o;
    luaL_checktype(L, arg, LUA_TTABLE);
    o.channels = opt_int(L, arg, fn, "channels", 0, 0, 3);
    lua_Number mp = opt_number(L, arg, fn, "max_pixels", 0);
    luaL_argcheck(L, mp >= 0 && mp <= 9e15, arg, "max_pixels must be >= 0");
    o.max_pixels = (int64_t)mp;
    o.same_size = opt_flag(L, arg, "same_size", 0);
    o.on_bad_file = opt_bad_file(L, arg, fn);
    return o;
}

/* images(root, {channels =, max_pixels =, same_size =, on_bad_file =, classes = {names}}):
 * an image folder root/<class>/<file>.png; with classes, their order gives the labels. */
static int l_images(lua_State *L) {
    const char *root = luaL_checkstring(L, 1);
    struct lt_image_options o = image_options(L, 2, "images");
    const char **names = NULL;
    int n = 0;
    if (!lua_isnoneornil(L, 2)) {
        lua_getfield(L, 2, "classes"); /* stays on the stack: it keeps the names alive */
        int list = lua_gettop(L);
        if (lua_istable(L, list)) {
            n = (int)luaL_len(L, list);
            names = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *names, 0);
            for (int i = 0; i < n; i++) {
                lua_rawgeti(L, list, i + 1);
                if (lua_type(L, -1) != LUA_TSTRING)
                    return luaL_error(L, "images: classes[%d] must be a string", i + 1);
                names[i] = lua_tostring(L, -1);
                lua_pop(L, 1);
            }
        } else if (!lua_isnil(L, list)) {
            return luaL_error(L, "images: classes must be a list of names");
        }
    }
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_images(lt_lua_ctx(L), root, names, n, &o, slot));
    return 1;
}

/* image_list(path, classes, {channels =, max_pixels =, same_size =, on_bad_file =}): images
 * listed as "path label" lines. */
static int l_image_list(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer classes = luaL_checkinteger(L, 2);
    luaL_argcheck(L, classes >= 1 && classes <= LT_MAX_CLASSES, 2, "classes out of range");
    struct lt_image_options o = image_options(L, 3, "image_list");
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_image_list(lt_lua_ctx(L), path, (int)classes, &o, slot));
    return 1;
}

/* tensors(path): x and y from a safetensors file or a .npy pair. */
static int l_tensors(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_tensors(lt_lua_ctx(L), path, slot));
    return 1;
}

/* tokens(path | {path, ...}, {format = "auto" | "u16" | "u32" | "bytes", block_size =,
 * begin = 0, ["end"] = 1, random = false, seed = 0}): windows of a token stream, read
 * from one file or from several one after another. */
static int l_tokens(lua_State *L) {
    int n_paths = 1;
    if (lua_istable(L, 1)) {
        n_paths = (int)luaL_len(L, 1);
        luaL_argcheck(L, n_paths >= 1 && n_paths <= 1 << 20, 1, "want one path or more");
    } else {
        luaL_checkstring(L, 1);
    }
    luaL_checktype(L, 2, LUA_TTABLE);
    struct lt_token_options o = {0};
    const char *fmt = opt_string(L, 2, "tokens", "format", "auto");
    static const char *const formats[] = {"auto", "u16", "u32", "bytes", NULL};
    int f = 0;
    while (formats[f] && strcmp(formats[f], fmt))
        f++;
    if (!formats[f])
        return luaL_error(L, "tokens: format must be \"auto\", \"u16\", \"u32\" or \"bytes\", "
                             "got \"%s\"", fmt);
    o.format = (enum lt_token_format)f;
    lua_Number bs = opt_number(L, 2, "tokens", "block_size", 0);
    luaL_argcheck(L, bs >= 1 && bs <= 1e9, 2, "block_size must be >= 1");
    o.block_size = (int64_t)bs;
    o.begin = opt_number(L, 2, "tokens", "begin", 0);
    o.end = opt_number(L, 2, "tokens", "end", 1);
    o.random_windows = opt_flag(L, 2, "random", 0);
    lua_Number seed = opt_number(L, 2, "tokens", "seed", 0);
    luaL_argcheck(L, seed >= 0, 2, "seed must be >= 0");
    o.seed = (uint64_t)seed;
    /* the paths, as a userdata array so that an error raised below frees it */
    const char **paths = lua_newuserdatauv(L, (size_t)n_paths * sizeof *paths, 0);
    if (lua_istable(L, 1)) {
        for (int i = 0; i < n_paths; i++) {
            /* the table keeps the string alive, so its pointer outlives the pop */
            if (lua_rawgeti(L, 1, i + 1) != LUA_TSTRING)
                return luaL_error(L, "tokens: path %d is a %s, not a string", i + 1,
                                  luaL_typename(L, -1));
            paths[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
    } else {
        paths[0] = lua_tostring(L, 1);
    }
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_token_files(lt_lua_ctx(L), paths, n_paths, &o, slot));
    return 1;
}

static int ds_release(lua_State *L) {
    struct lt_dataset **slot = luaL_checkudata(L, 1, LT_DATASET_MT);
    lt_dataset_free(*slot);
    *slot = NULL;
    return 0;
}

static int ds_size(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_dataset_size(*check_dataset(L, 1)));
    return 1;
}

static int ds_classes(lua_State *L) {
    lua_pushinteger(L, lt_dataset_classes(*check_dataset(L, 1)));
    return 1;
}

/* ds:class_name(c): the name of class c (0-based, as labels are); nil out of range. */
static int ds_class_name(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    lua_Integer c = luaL_checkinteger(L, 2);
    const char *name = c >= 0 && c < 0x7fffffff ? lt_dataset_class_name(ds, (int)c) : NULL;
    if (name)
        lua_pushstring(L, name);
    else
        lua_pushnil(L);
    return 1;
}

/* ds:range(first, count): samples first .. first + count - 1 (1-based, as Tensor:narrow),
 * as a data set. */
static int ds_range(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2), count = luaL_checkinteger(L, 3);
    int64_t n = lt_dataset_size(ds);
    if (first < 1 || count < 0 || first - 1 > n || count > n - (first - 1))
        return luaL_error(L, "range: samples %I .. %I are outside the data set's 1 .. %I", first,
                          first + count - 1, (lua_Integer)n);
    struct lt_dataset **slot = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_range(lt_lua_ctx(L), ds, (int64_t)first - 1, (int64_t)count,
                                     slot));
    return 1;
}

/* ds:split(first, seed): two data sets, `first` samples drawn at random from seed, and
 * the rest. */
static int ds_split(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    lua_Integer first = luaL_checkinteger(L, 2), seed = luaL_checkinteger(L, 3);
    luaL_argcheck(L, seed >= 0, 3, "seed must be >= 0");
    struct lt_dataset **a = lt_lua_new_dataset(L), **b = lt_lua_new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_split(lt_lua_ctx(L), ds, (int64_t)first, (uint64_t)seed, a, b));
    return 2;
}

/* ds:sample_shape(): {dtype =, shape =} of one sample's x, and of its y. */
static int ds_sample_shape(lua_State *L) {
    struct lt_sample_shape x, y;
    lt_dataset_sample_shape(*check_dataset(L, 1), &x, &y);
    push_sample_shape(L, &x);
    push_sample_shape(L, &y);
    return 2;
}

static int ds_is_image(lua_State *L) {
    lua_pushboolean(L, lt_dataset_is_image(*check_dataset(L, 1)));
    return 1;
}

static int ds_origin(lua_State *L) {
    lua_pushstring(L, lt_dataset_origin(*check_dataset(L, 1)));
    return 1;
}

static int ds_skipped(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_dataset_skipped(*check_dataset(L, 1)));
    return 1;
}

/* ds:max_id(): the largest id of integer x and its position (see lt_dataset_max_id), or
 * nil. */
static int ds_max_id(lua_State *L) {
    int64_t where;
    int64_t m = lt_dataset_max_id(*check_dataset(L, 1), &where);
    if (m < 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushinteger(L, (lua_Integer)m);
    lua_pushinteger(L, (lua_Integer)where);
    return 2;
}

/* loader(ds, opts): micro-batches over ds from (epoch 0, batch 0); opts as loader_config. */
static int l_loader(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    struct lt_loader_config cfg = loader_config(L, 2);
    struct loader_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->ld = NULL;
    h->busy = 0;
    luaL_setmetatable(L, LT_LOADER_MT);
    LT_LUA_CHECK(L, lt_loader_new(lt_lua_ctx(L), ds, &cfg, &h->ld));
    return 1;
}

/* loader_x_shape(ds, opts): {dtype =, shape =} of x in a batch of opts.batch rows. */
static int l_loader_x_shape(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    struct lt_loader_config cfg = loader_config(L, 2);
    struct lt_sample_shape x;
    LT_LUA_CHECK(L, lt_loader_x_shape(lt_lua_ctx(L), ds, &cfg, cfg.batch, &x));
    push_sample_shape(L, &x);
    return 1;
}

static int ld_release(lua_State *L) {
    struct loader_handle *h = luaL_checkudata(L, 1, LT_LOADER_MT);
    if (h->busy) /* close from inside the loader's own data source (a __gc cannot be) */
        return luaL_error(L, "loader: in use: its data source's get cannot close it");
    lt_loader_free(h->ld);
    h->ld = NULL;
    return 0;
}

/* ld:next(): {x =, y =, epoch =, iter =, sample_base =, size =, last =} (epoch and iter
 * 0-based, as the core counts). x and y are the loader's buffers: valid until the next
 * call to next or seek. */
static int ld_next(lua_State *L) {
    struct loader_handle *h = check_handle(L, 1);
    struct lt_batch b;
    h->busy = 1;
    enum lt_status st = lt_loader_next(h->ld, &b);
    h->busy = 0;
    if (st != LT_OK)
        return lt_lua_fail(L);
    lua_createtable(L, 0, 7);
    push_retained(L, b.x);
    lua_setfield(L, -2, "x");
    push_retained(L, b.y);
    lua_setfield(L, -2, "y");
    lua_pushinteger(L, (lua_Integer)b.epoch);
    lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, (lua_Integer)b.iter);
    lua_setfield(L, -2, "iter");
    lua_pushinteger(L, (lua_Integer)b.sample_base);
    lua_setfield(L, -2, "sample_base");
    lua_pushinteger(L, (lua_Integer)b.size);
    lua_setfield(L, -2, "size");
    lua_pushboolean(L, b.last);
    lua_setfield(L, -2, "last");
    return 1;
}

/* ld:seek(epoch, iter): the next batch is batch `iter` of `epoch` (both 0-based). */
static int ld_seek(lua_State *L) {
    struct lt_loader *ld = check_loader(L, 1);
    lua_Integer epoch = luaL_checkinteger(L, 2), iter = luaL_checkinteger(L, 3);
    luaL_argcheck(L, epoch >= 0 && epoch <= 0xffffffffLL, 2, "the epoch must be in [0, 2^32)");
    LT_LUA_CHECK(L, lt_loader_seek(ld, (uint32_t)epoch, (int64_t)iter));
    return 0;
}

/* ld:position(): epoch, iter of the batch the next call hands out. */
static int ld_position(lua_State *L) {
    uint32_t epoch;
    int64_t iter;
    lt_loader_position(check_loader(L, 1), &epoch, &iter);
    lua_pushinteger(L, (lua_Integer)epoch);
    lua_pushinteger(L, (lua_Integer)iter);
    return 2;
}

static int ld_batches(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_loader_batches(check_loader(L, 1)));
    return 1;
}

static int ld_data_bytes(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)lt_loader_data_bytes(check_loader(L, 1)));
    return 1;
}

static const luaL_Reg data_funcs[] = {
    {"idx_read", l_idx_read},
    {"fmnist", l_fmnist},
    {"dataset", l_dataset},
    {"images", l_images},
    {"image_list", l_image_list},
    {"tensors", l_tensors},
    {"tokens", l_tokens},
    {"loader", l_loader},
    {"loader_x_shape", l_loader_x_shape},
    {NULL, NULL},
};

static const luaL_Reg dataset_methods[] = {
    {"size", ds_size},
    {"classes", ds_classes},
    {"class_name", ds_class_name},
    {"range", ds_range},
    {"split", ds_split},
    {"sample_shape", ds_sample_shape},
    {"is_image", ds_is_image},
    {"origin", ds_origin},
    {"skipped", ds_skipped},
    {"max_id", ds_max_id},
    {"close", ds_release},
    {NULL, NULL},
};

static const luaL_Reg loader_methods[] = {
    {"next", ld_next},
    {"seek", ld_seek},
    {"position", ld_position},
    {"batches", ld_batches},
    {"data_bytes", ld_data_bytes},
    {"close", ld_release},
    {NULL, NULL},
};

/* A metatable with __gc and __close (both `release`) and an __index of methods. */
static void new_type(lua_State *L, const char *mt, const luaL_Reg *methods, lua_CFunction release) {
    luaL_newmetatable(L, mt);
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, release);
    lua_setfield(L, -2, "__close");
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void lt_lua_open_data(lua_State *L) {
    luaL_setfuncs(L, data_funcs, 0);
    new_type(L, LT_DATASET_MT, dataset_methods, ds_release);
    new_type(L, LT_LOADER_MT, loader_methods, ld_release);
    lua_pushstring(L, LT_FMNIST_DIR);
    lua_setfield(L, -2, "FMNIST_DIR");
}
