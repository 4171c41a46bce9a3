/* The lutra binary's host: Lua 5.4 with the lutra modules preloaded, running one script.
 *
 *   lutra script.lua [args...]
 *
 * The script runs under lua_pcall with a traceback handler and sees `arg` as under lua5.4.
 * SIGINT only sets a flag (read by lutra.core.interrupted(), so a loop can finish its
 * step); a second SIGINT ends the process. Exit status: 0, 1 on an error, 2 on a usage
 * error, 130 after an interrupt. The command-line verbs come later, on top of this. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua/l_lutra.h"

static volatile sig_atomic_t got_sigint;

static void on_sigint(int sig) {
    (void)sig;
    got_sigint = 1;
    lt_lua_interrupt();
    signal(SIGINT, SIG_DFL);
}

/* Adds a traceback to an error message (as lua.c does). */
static int msghandler(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Puts the Lua library's places beside the executable first on package.path: the
 * source tree's lua/ for build/<dir>/lutra, share/lua/5.4 for an installed bin/lutra. */
static void add_paths(lua_State *L) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/../../lua/?.lua;%s/../share/lua/5.4/?.lua;", exe, exe);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

/* Runs argv[1] with arg = {[0] = script, ...}; in protected mode (lua_pcall). */
static int run(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    lt_lua_preload(L);
    add_paths(L);
    lua_createtable(L, argc - 2, 2);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, msghandler);
    int handler = lua_gettop(L);
    if (luaL_loadfile(L, argv[1]) != LUA_OK)
        return lua_error(L);
    for (int i = 2; i < argc; i++)
        lua_pushstring(L, argv[i]);
    if (lua_pcall(L, argc - 2, 0, handler) != LUA_OK)
        return lua_error(L);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s script.lua [args...]\n", argv[0]);
        return 2;
    }
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "lutra: cannot create a Lua state: out of memory\n");
        return 1;
    }
    signal(SIGINT, on_sigint);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 0, 0);
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lutra: %s\n", msg ? msg : "(error object is not a string)");
    }
    lua_close(L);
    if (got_sigint)
        return 130;
    return status == LUA_OK ? 0 : 1;
}
