-- luarocks make lutra-0.1.0-1.rockspec: builds and installs what `make install` does,
-- into the rocks tree's Lua 5.4 paths.
rockspec_format = "3.0"
package = "lutra"
version = "0.1.0-1"
source = {url = "git+file://."}
description = {
    summary = "A deep-learning training engine in C, driven from Lua",
    detailed = "Trace once, plan memory exactly, run every training step in C.",
    license = "MIT",
}
dependencies = {"lua >= 5.4, < 5.5"}
build = {
    type = "make",
    build_target = "all",
    install_target = "install",
    install_variables = {
        BINDIR = "$(BINDIR)",
        LUA_LIBDIR = "$(LIBDIR)",
        LUA_DIR = "$(LUADIR)",
    },
}
