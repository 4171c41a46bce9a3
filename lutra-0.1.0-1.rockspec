-- luarocks --lua-version 5.4 make lutra-0.1.0-1.rockspec: builds and installs what `make
-- install` does, into the rocks tree: the binary, the C module and the Lua files in the
-- tree's Lua 5.4 paths; liblutra, its headers and lutra.pc in the rock's own folder, under
-- c/ (luarocks deploys lib/ as Lua modules): PKG_CONFIG_PATH=<rock>/c/lib/pkgconfig.
-- Nothing goes outside the tree.
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
    build_variables = {
        PREFIX = "$(PREFIX)",
    },
    install_variables = {
        PREFIX = "$(PREFIX)",
        LIBDIR = "$(PREFIX)/c/lib",
        INCLUDEDIR = "$(PREFIX)/c/include",
        BINDIR = "$(BINDIR)",
        LUA_LIBDIR = "$(LIBDIR)",
        LUA_DIR = "$(LUADIR)",
    },
}
