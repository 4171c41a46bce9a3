/* Images as files, bound thinly: PNG files read into u8 tensors (C, H, W) and u8 tensors
 * written as PNG files (lt_png_read, lt_png_write). */
#include "lua/l_lutra.h"

/* read_png(path [, channels]): a new u8 tensor (C, H, W); channels 0 (the default) keeps
 * the file's colour (1 for gray, 3 for colour), 1 makes it gray, 3 RGB. Raises "path: ..."
 * for a file that cannot be read or is not a valid PNG. */
static int l_read_png(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    lua_Integer channels = luaL_optinteger(L, 2, 0);
    luaL_argcheck(L, channels == 0 || channels == 1 || channels == 3, 2,
                  "channels: 0 (as in the file), 1 or 3");
    struct lt_tensor **slot = lt_lua_new_tensor(L);
    LT_LUA_CHECK(L, lt_png_read(lt_lua_ctx(L), path, (int)channels, slot));
    return 1;
}

/* write_png(path, tensor): writes a u8 tensor (H, W) or (C, H, W), C = 1 (gray), 2 (gray,
 * alpha), 3 (RGB) or 4 (RGBA), as an 8-bit PNG, atomically. Raises "path: ..." for another
 * dtype or shape or when the file cannot be written. */
static int l_write_png(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct lt_tensor *t = lt_lua_check_tensor(L, 2);
    LT_LUA_CHECK(L, lt_png_write(lt_lua_ctx(L), path, t));
    return 0;
}

static const luaL_Reg image_funcs[] = {
    {"read_png", l_read_png},
    {"write_png", l_write_png},
    {NULL, NULL},
};

void lt_lua_open_image(lua_State *L) {
    luaL_setfuncs(L, image_funcs, 0);
}
