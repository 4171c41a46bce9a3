/* The system for the Lua side: whole files written atomically, folders (made, made only
 * if new, listed), a work dir's lock, whether a process lives, the terminal and the
 * clock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lua/l_lutra.h"

#define LOCK_MT "lutra.Lock"

/* write_atomic(path, text): writes text to path atomically (lt_file_write_atomic).
 * Returns true, or nil and "path: reason" (path unchanged, no temporary left). */
static int l_write_atomic(lua_State *L) {
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *text = luaL_checklstring(L, 2, &len);
    struct lt_ctx *ctx = lt_lua_ctx(L);
    if (lt_file_write_atomic(ctx, path, text, len) != LT_OK) {
        lua_pushnil(L);
        lua_pushstring(L, lt_ctx_error(ctx));
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* mkdir(path): makes one folder (its parent must exist). Returns true (also when it is
 * already a folder), or nil and "path: reason". */
static int l_mkdir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (mkdir(path, 0777) == 0 ||
        (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path,
                    errno == EEXIST ? "exists and is not a folder" : strerror(errno));
    return 2;
}

/* is_dir(path), is_file(path): whether path names a folder / a regular file. */
static int l_is_dir(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
    return 1;
}

static int l_is_file(lua_State *L) {
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISREG(st.st_mode));
    return 1;
}

/* isatty(fd): whether file descriptor fd (0, 1, 2) is a terminal. */
static int l_isatty(lua_State *L) {
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd < 1024, 1, "a file descriptor");
    lua_pushboolean(L, isatty((int)fd));
    return 1;
}

/* term_width(fd): the terminal's columns, or nil when fd is not a terminal. */
static int l_term_width(lua_State *L) {
    lua_Integer fd = luaL_optinteger(L, 1, 1);
    struct winsize ws;
    if (fd >= 0 && fd < 1024 && ioctl((int)fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        lua_pushinteger(L, ws.ws_col);
    else
        lua_pushnil(L);
    return 1;
}

/* clock(): seconds on a monotonic clock (wall time, not CPU time). */
static int l_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* getpid(): this process's id. */
static int l_getpid(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

/* mkdir_new(path): makes the folder, which must not exist (its parent must). Returns
 * true, or nil, "path: reason" and, when something is already there, "exists". */
static int l_mkdir_new(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    if (mkdir(path, 0777) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    int e = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path, strerror(e));
    if (e != EEXIST)
        return 2;
    lua_pushliteral(L, "exists");
    return 3;
}

/* A held lock: the open lock file, whose flock the kernel drops when the process ends
 * (a killed run leaves no stale lock). */
struct lock {
    int fd;
};

static int lock_release(lua_State *L) {
    struct lock *k = luaL_checkudata(L, 1, LOCK_MT);
    if (k->fd >= 0) {
        close(k->fd);
        k->fd = -1;
    }
    return 0;
}

/* lock(path): takes an exclusive lock on the file at path (created if needed) and writes
 * this process's id into it. Returns a lock (released by lock:release(), by closing it
 * or when it is collected; the kernel releases it when the process ends), or nil, a
 * message and the holder's pid (0 when it cannot be read) when another process holds it,
 * or nil and "path: reason" when the file cannot be opened. */
static int l_lock(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    struct lock *k = lua_newuserdatauv(L, sizeof *k, 0); /* empty first: nothing can leak */
    k->fd = -1;
    luaL_setmetatable(L, LOCK_MT);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        close(fd);
        lua_pushnil(L);
        if (e != EWOULDBLOCK) {
            lua_pushfstring(L, "%s: %s", path, strerror(e));
            return 2;
        }
        long pid = 0;
        if (n > 0)
            sscanf(buf, "%ld", &pid);
        lua_pushfstring(L, "%s is held by process %d", path, (int)pid);
        lua_pushinteger(L, pid);
        return 3;
    }
    k->fd = fd;
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    return 1;
}

/* list_dir(path): the names in the folder (without "." and ".."), in no order. Returns
 * the list, or nil and "path: reason". */
static int l_list_dir(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_newtable(L);
    lua_Integer n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

/* pid_alive(pid): whether a process with this id exists (one we may not signal counts). */
static int l_pid_alive(lua_State *L) {
    lua_Integer pid = luaL_checkinteger(L, 1);
    luaL_argcheck(L, pid > 0 && pid <= 0x7fffffff, 1, "a process id");
    lua_pushboolean(L, kill((pid_t)pid, 0) == 0 || errno == EPERM);
    return 1;
}

static const luaL_Reg sys_funcs[] = {
    {"write_atomic", l_write_atomic},
    {"mkdir", l_mkdir},
    {"is_dir", l_is_dir},
    {"is_file", l_is_file},
    {"isatty", l_isatty},
    {"term_width", l_term_width},
    {"clock", l_clock},
    {"getpid", l_getpid},
    {"mkdir_new", l_mkdir_new},
    {"lock", l_lock},
    {"list_dir", l_list_dir},
    {"pid_alive", l_pid_alive},
    {NULL, NULL},
};

static const luaL_Reg lock_methods[] = {
    {"release", lock_release},
    {NULL, NULL},
};

static const luaL_Reg lock_meta[] = {
    {"__gc", lock_release},
    {"__close", lock_release},
    {NULL, NULL},
};

void lt_lua_open_sys(lua_State *L) {
    luaL_setfuncs(L, sys_funcs, 0);
    luaL_newmetatable(L, LOCK_MT);
    luaL_setfuncs(L, lock_meta, 0);
    luaL_newlib(L, lock_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
