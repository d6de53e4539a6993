/* The moonlab command: embeds Lua 5.4, preloads moonlab.core and hands the command line to
 * the Lua driver (lua/moonlab/cli.lua), which runs scripts and writes results. */
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../lua/lcommon.h"

#ifndef MOONLAB_LUA_DIR
#define MOONLAB_LUA_DIR "lua"
#endif

/* The Lua sources: $MOONLAB_LUA_DIR, else <dir of the executable>/../lua (a build tree beside
 * the sources, or an install prefix), else the source tree this binary was built from. */
static void lua_dirs(char *buf, size_t n)
{
    const char *env = getenv("MOONLAB_LUA_DIR");
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char rel[PATH_MAX + 16] = "";
    if (len > 0) {
        exe[len] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(rel, sizeof rel, "%s/../lua", exe);
        }
    }
    snprintf(buf, n, "%s%s%s/?.lua;%s/?/init.lua;" MOONLAB_LUA_DIR "/?.lua;" MOONLAB_LUA_DIR "/?/init.lua;",
             env ? env : "", env ? "/?.lua;" : "", rel[0] ? rel : MOONLAB_LUA_DIR,
             rel[0] ? rel : MOONLAB_LUA_DIR);
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg)
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int run(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = lua_touserdata(L, 2);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_moonlab_core);
    lua_setfield(L, -2, "moonlab.core");
    lua_pop(L, 1);
    char path[3 * PATH_MAX + 256];
    lua_dirs(path, sizeof path);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s%s", path, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "moonlab.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    lua_createtable(L, argc, 0);
    for (int i = 1; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_call(L, 1, 1);
    return 1;
}

/* OpenMP's waiting threads (libgomp, which BLIS-openmp runs on) spin for about 300 000 turns
 * before they sleep. With another job on a core, a spinning thread takes the time the one
 * doing the work needs: a 2-thread run slowed down 200-fold here (experiments/init_gradients.lua:
 * 0.4 s at 1 thread, 82 s at 2 with a compiler busy on the other core). 10 000 turns keep the
 * threads awake between the products of one step on a quiet machine and let them sleep soon
 * on a busy one. libgomp reads GOMP_SPINCOUNT once, before main, so the setting needs a fresh
 * start of this program: done once, unless the user chose a wait policy or spin count. */
static void tame_openmp_spin(char **argv)
{
    if (getenv("GOMP_SPINCOUNT") || getenv("OMP_WAIT_POLICY"))
        return;
    if (setenv("GOMP_SPINCOUNT", "10000", 1) != 0)
        return;
    execv("/proc/self/exe", argv);
    /* no /proc: run on with the default */
}

int main(int argc, char **argv)
{
    tame_openmp_spin(argv);
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "moonlab: cannot create a Lua state (out of memory)\n");
        return 1;
    }
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, run);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 1);
    int code;
    if (status != LUA_OK) {
        fprintf(stderr, "moonlab: internal error: %s\n", lua_tostring(L, -1));
        code = 1;
    } else {
        code = (int)lua_tointeger(L, -1);
    }
    lua_close(L);
    return code;
}
