/* Data: IDX files, data sets (Fashion-MNIST, or tensors) and loaders, bound thinly.
 * lutra.Dataset and lutra.Loader are handles to the core objects; a loader's batch
 * tensors are its buffers, refilled by the next call (see lt_loader_next). The runner
 * (lua/lutra/data.lua) builds them from a recipe's `data` table. */
#include "lua/l_lutra.h"

static struct lt_dataset **check_dataset(lua_State *L, int arg) {
    struct lt_dataset **slot = luaL_checkudata(L, arg, LT_DATASET_MT);
    if (!*slot)
        luaL_argerror(L, arg, "the data set was closed");
    return slot;
}

static struct lt_loader *check_loader(lua_State *L, int arg) {
    struct lt_loader **slot = luaL_checkudata(L, arg, LT_LOADER_MT);
    if (!*slot)
        luaL_argerror(L, arg, "the loader was closed");
    return *slot;
}

/* Pushes a new handle holding one more reference to t. */
static void push_retained(lua_State *L, struct lt_tensor *t) {
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    *slot = lt_tensor_retain(t);
}

static struct lt_dataset **new_dataset(lua_State *L) {
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
    struct lt_dataset **slot = new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_open_fmnist(lt_lua_ctx(L), dir, split, slot));
    return 1;
}

/* dataset(images, labels, classes): a data set over tensors (images u8 (N, [C,] H, W),
 * labels u8 or i32 (N)). */
static int l_dataset(lua_State *L) {
    struct lt_tensor *images = lt_lua_check_tensor(L, 1);
    struct lt_tensor *labels = lt_lua_check_tensor(L, 2);
    lua_Integer classes = luaL_checkinteger(L, 3);
    luaL_argcheck(L, classes >= 1 && classes <= 0x7fffffff, 3, "classes must be >= 1");
    struct lt_dataset **slot = new_dataset(L);
    LT_LUA_CHECK(L, lt_dataset_new(lt_lua_ctx(L), images, labels, (int)classes, slot));
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

/* ds:images(), ds:labels(): the data set's tensors (not to be written). */
static int ds_images(lua_State *L) {
    push_retained(L, lt_dataset_images(*check_dataset(L, 1)));
    return 1;
}

static int ds_labels(lua_State *L) {
    push_retained(L, lt_dataset_labels(*check_dataset(L, 1)));
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

/* Reads an optional field of the options table at arg. */
static lua_Number opt_number(lua_State *L, int arg, const char *key, lua_Number def) {
    lua_getfield(L, arg, key);
    lua_Number v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "loader: %s must be a number, got %s", key, luaL_typename(L, -1));
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static int opt_flag(lua_State *L, int arg, const char *key, int def) {
    lua_getfield(L, arg, key);
    int v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* loader(ds, {batch =, shuffle = true, drop_last = false, seed = 0, mean = 0, std = 1,
 * flat = false, background = true}): micro-batches over ds from (epoch 0, batch 0). */
static int l_loader(lua_State *L) {
    struct lt_dataset *ds = *check_dataset(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Number batch = opt_number(L, 2, "batch", 0);
    luaL_argcheck(L, batch >= 1 && batch <= 1e15, 2, "batch must be a number >= 1");
    struct lt_loader_config cfg = lt_loader_defaults((int64_t)batch);
    cfg.shuffle = opt_flag(L, 2, "shuffle", cfg.shuffle);
    cfg.drop_last = opt_flag(L, 2, "drop_last", cfg.drop_last);
    lua_Number seed = opt_number(L, 2, "seed", 0);
    luaL_argcheck(L, seed >= 0, 2, "seed must be >= 0");
    cfg.seed = (uint64_t)seed;
    cfg.mean = (float)opt_number(L, 2, "mean", cfg.mean);
    cfg.std = (float)opt_number(L, 2, "std", cfg.std);
    cfg.flat = opt_flag(L, 2, "flat", cfg.flat);
    cfg.background = opt_flag(L, 2, "background", cfg.background);
    struct lt_loader **slot = lua_newuserdatauv(L, sizeof *slot, 0);
    *slot = NULL;
    luaL_setmetatable(L, LT_LOADER_MT);
    LT_LUA_CHECK(L, lt_loader_new(lt_lua_ctx(L), ds, &cfg, slot));
    return 1;
}

static int ld_release(lua_State *L) {
    struct lt_loader **slot = luaL_checkudata(L, 1, LT_LOADER_MT);
    lt_loader_free(*slot);
    *slot = NULL;
    return 0;
}

/* ld:next(): {x =, y =, epoch =, iter =, sample_base =, size =, last =} (epoch and iter
 * 0-based, as the core counts). x and y are the loader's buffers: valid until the next
 * call to next or seek. */
static int ld_next(lua_State *L) {
    struct lt_loader *ld = check_loader(L, 1);
    struct lt_batch b;
    LT_LUA_CHECK(L, lt_loader_next(ld, &b));
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
    {"idx_read", l_idx_read}, {"fmnist", l_fmnist}, {"dataset", l_dataset},
    {"loader", l_loader},     {NULL, NULL},
};

static const luaL_Reg dataset_methods[] = {
    {"size", ds_size},     {"classes", ds_classes},       {"images", ds_images},
    {"labels", ds_labels}, {"class_name", ds_class_name}, {"close", ds_release},
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
