/* The REPL's line editing: libedit's readline emulation as `require "lutra.readline"`.
 * Linked into the lutra binary only (it needs libedit); the C module lutra.so has no such
 * dependency, and lutra.repl falls back to plain io.read without it. */
#include <stdio.h>
#include <stdlib.h>

#include <editline/readline.h>

#include "lua/l_lutra.h"

/* readline(prompt): the line typed (without its newline), or nil at end of input. */
static int l_readline(lua_State *L) {
    const char *prompt = luaL_optstring(L, 1, "> ");
    char *line = readline(prompt);
    if (!line) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, line);
    free(line);
    return 1;
}

/* add_history(line): a line the up arrow brings back. */
static int l_add_history(lua_State *L) {
    add_history(luaL_checkstring(L, 1));
    return 0;
}

/* read_history(path), write_history(path): load and save the history; true on success. */
static int l_read_history(lua_State *L) {
    lua_pushboolean(L, read_history(luaL_checkstring(L, 1)) == 0);
    return 1;
}

static int l_write_history(lua_State *L) {
    lua_pushboolean(L, write_history(luaL_checkstring(L, 1)) == 0);
    return 1;
}

/* stifle_history(n): keep at most n lines. */
static int l_stifle_history(lua_State *L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 0 && n <= 1000000, 1, "a line count");
    stifle_history((int)n);
    return 0;
}

static const luaL_Reg readline_funcs[] = {
    {"readline", l_readline},
    {"add_history", l_add_history},
    {"read_history", l_read_history},
    {"write_history", l_write_history},
    {"stifle_history", l_stifle_history},
    {NULL, NULL},
};

int luaopen_lutra_readline(lua_State *L) {
    rl_readline_name = "lutra";
    luaL_newlib(L, readline_funcs);
    return 1;
}
