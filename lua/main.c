/* The lutra binary's host: Lua 5.4 with the lutra modules preloaded, running the command
 * line through lutra.cli (lua/lutra/cli.lua), which holds the verbs, their help and the
 * exit codes:
 *
 *   lutra train RECIPE [...]   lutra eval | plan | run | repl | --help | --version
 *
 * The host stays thin: it sets up Lua, preloads lutra and lutra.readline (libedit),
 * installs SIGINT and SIGTERM handlers that only note the signal (lutra.interrupted()
 * tells which, so a loop finishes its step, saves and exits 130 or 143; a second signal
 * of the same kind ends the process at once), and runs require("lutra.cli").main(arg)
 * under lua_pcall with a traceback handler. Exit status: what main returns; 1 when an
 * error escapes it. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "lua/l_lutra.h"

/* The first signal is noted; the same signal again while the first is pending takes the
 * default action (the user insists), except in the REPL's running code, which breaks. */
static void on_signal(int sig) {
    if (lt_lua_interrupt(sig)) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

static void install_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* How long an OpenMP thread waiting at a barrier spins before it sleeps: libgomp reads it
 * once, as it loads, from GOMP_SPINCOUNT (default 300,000 spins, about a millisecond).
 * A training step passes hundreds of barriers; where another process competes for a core,
 * the waiting thread keeps its own core spinning while the thread it waits for is
 * descheduled, and every barrier costs a scheduler time slice: the GPT's step ran 4 to 7
 * times slower beside one busy process, against 1.7 to 2 times with 10,000 spins, which
 * cost nothing measurable on a quiet machine (docs/performance.md, "A shared machine").
 * So the binary starts itself again with 10,000 unless the user chose a wait policy; where
 * it cannot (no /proc), it runs on with libgomp's default. */
static void set_spin_count(char **argv) {
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY"))
        return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) == 0) {
        execv("/proc/self/exe", argv);
        unsetenv("GOMP_SPINCOUNT"); /* not what this process runs with: keep children right */
    }
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

/* Runs require("lutra.cli").main(arg) with arg = {[0] = argv[0], argv[1], ...}; pushes its
 * exit code. In protected mode (lua_pcall). */
static int run(lua_State *L) {
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    lt_lua_preload(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_lutra_readline);
    lua_setfield(L, -2, "lutra.readline");
    lua_pop(L, 1);
    add_paths(L);
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, msghandler);
    int handler = lua_gettop(L);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "lutra.cli");
    if (lua_pcall(L, 1, 1, handler) != LUA_OK)
        return lua_error(L);
    lua_getfield(L, -1, "main");
    lua_getglobal(L, "arg");
    if (lua_pcall(L, 1, 1, handler) != LUA_OK)
        return lua_error(L);
    return 1;
}

int main(int argc, char **argv) {
    set_spin_count(argv);
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "lutra: cannot create a Lua state: out of memory\n");
        return 1;
    }
    install_handlers();
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int code = 1;
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fprintf(stderr, "lutra: %s\n", msg ? msg : "(error object is not a string)");
    } else if (lua_isinteger(L, -1)) {
        code = (int)lua_tointeger(L, -1);
    } else {
        code = 0;
    }
    fflush(stdout);
    /* A rank of a data-parallel job that failed (1: at run time, 2: usage or config) ends
     * the whole job, before anything waits on the ranks it would leave behind (freeing
     * the state ends the GPU's communicator); one stopped by a signal (130, 143) stopped
     * at the step every rank agreed on, as the others did. */
    if (code == 1 || code == 2)
        lt_dist_abort(code);
    lua_close(L);
    lt_dist_finalize();
    return code;
}
