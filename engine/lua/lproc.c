/* core.proc: processes, signals and claim files for the study runner and the queue. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/proc.h"

#define ML_MAX_ARGS 256

/* proc.spawn(argv_list [, {pipes = bool, log = path, dir = path}]) -> {pid =, stdin =, messages =}
 * | nil, msg. stdin and messages are descriptor numbers (or nil without pipes); dir is the
 * child's working directory. */
static int p_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    if (n < 1 || n >= ML_MAX_ARGS)
        ml__raise(L, "proc.spawn: %d arguments (1 to %d)", n, ML_MAX_ARGS - 1);
    const char *argv[ML_MAX_ARGS];
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        argv[i - 1] = lua_tostring(L, -1);
        if (!argv[i - 1])
            ml__raise(L, "proc.spawn: argument %d is a %s, expected a string", i,
                      luaL_typename(L, -1));
        lua_pop(L, 1); /* the string stays alive in the table */
    }
    argv[n] = NULL;
    int pipes = 0;
    const char *log = NULL, *dir = NULL;
    if (lua_istable(L, 2)) {
        pipes = ml__opt_bool(L, 2, "pipes", 0, "proc.spawn");
        lua_getfield(L, 2, "log");
        log = lua_tostring(L, -1);
        lua_pop(L, 1); /* kept alive by the options table */
        lua_getfield(L, 2, "dir");
        dir = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    ml_proc_t p;
    if (ml_proc_spawn_in(&p, argv, pipes, log, dir))
        return ml__push_failure(L);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, p.pid);
    lua_setfield(L, -2, "pid");
    if (pipes) {
        lua_pushinteger(L, p.to_child);
        lua_setfield(L, -2, "stdin");
        lua_pushinteger(L, p.from_child);
        lua_setfield(L, -2, "messages");
    }
    return 1;
}

/* proc.wait(pid [, block]) -> "running" | "exited", code | "killed", signal */
static int p_wait(lua_State *L)
{
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    ml_proc_status_t st;
    if (ml_proc_wait(pid, lua_toboolean(L, 2), &st))
        return ml__engine_error(L, "proc.wait");
    static const char *const states[] = {"running", "exited", "killed"};
    lua_pushstring(L, states[st.state]);
    lua_pushinteger(L, st.code);
    return 2;
}

static int p_alive(lua_State *L)
{
    lua_pushboolean(L, ml_proc_alive((pid_t)luaL_checkinteger(L, 1)));
    return 1;
}

/* proc.token(pid) -> "<boot id>:<start time>" naming the process across pid reuse and
 * reboots, or nil when no such process runs on this machine (ml_proc_token). */
static int p_token(lua_State *L)
{
    char buf[128];
    if (!ml_proc_token((pid_t)luaL_checkinteger(L, 1), buf, sizeof buf))
        return 0;
    lua_pushstring(L, buf);
    return 1;
}

/* proc.test_segv(): a write to a page mapped without access, the real invalid memory access
 * (SIGSEGV) a crashing trial makes. Registered only when MOONLAB_TEST_HOOKS is set (the
 * failure tests). Not a null pointer: that is undefined behaviour, which a compiler may turn
 * into a trap and UBSan reports before any signal. */
static int p_test_segv(lua_State *L)
{
    volatile int *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED)
        return luaL_error(L, "proc.test_segv: mmap: %s", strerror(errno));
    *page = 1;
    return luaL_error(L, "proc.test_segv: the write to a page without access did not fault");
}

/* proc.poll({fd, ...}, timeout_ms) -> {bool, ...} */
static int p_poll(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1), fds[64], ready[64];
    if (n > 64)
        ml__raise(L, "proc.poll: %d descriptors (at most 64)", n);
    for (int i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        fds[i] = (int)luaL_checkinteger(L, -1);
        lua_pop(L, 1);
    }
    int r = ml_proc_poll(fds, n, (int)luaL_optinteger(L, 2, -1), ready);
    if (r < 0)
        return ml__engine_error(L, "proc.poll");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushboolean(L, ready[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* proc.read(fd) -> text | "" at end of file | nil when nothing is available */
static int p_read(lua_State *L)
{
    int fd = (int)luaL_checkinteger(L, 1);
    luaL_Buffer b;
    char *buf = luaL_buffinitsize(L, &b, 65536);
    int64_t r = ml_proc_read(fd, buf, 65536);
    if (r < 0) {
        lua_pushnil(L);
        return 1;
    }
    luaL_pushresultsize(&b, (size_t)r);
    return 1;
}

static int p_write(lua_State *L)
{
    size_t n;
    int fd = (int)luaL_checkinteger(L, 1);
    const char *s = luaL_checklstring(L, 2, &n);
    if (ml_proc_write(fd, s, (int64_t)n))
        return ml__push_failure(L);
    lua_pushboolean(L, 1);
    return 1;
}

static int p_close(lua_State *L)
{
    close((int)luaL_checkinteger(L, 1));
    return 0;
}

static int p_catch_signals(lua_State *L)
{
    ml_proc_catch_signals();
    return 0;
}

/* proc.interrupted() -> signal name ("SIGINT", "SIGTERM") or nil */
static int p_interrupted(lua_State *L)
{
    int s = ml_proc_interrupted();
    if (!s)
        return 0;
    lua_pushstring(L, s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : "signal");
    return 1;
}

/* proc.kill(pid, "TERM" | "KILL" | "INT" | "SEGV" [, group]) */
static int p_kill(lua_State *L)
{
    static const char *const names[] = {"TERM", "KILL", "INT", "SEGV", NULL};
    static const int sigs[] = {SIGTERM, SIGKILL, SIGINT, SIGSEGV};
    pid_t pid = (pid_t)luaL_checkinteger(L, 1);
    int s = luaL_checkoption(L, 2, "TERM", names);
    if (ml_proc_kill(pid, sigs[s], lua_toboolean(L, 3)))
        return ml__engine_error(L, "proc.kill");
    return 0;
}

static int p_redirect(lua_State *L)
{
    if (ml_proc_redirect_output(luaL_checkstring(L, 1)))
        return ml__push_failure(L);
    lua_pushboolean(L, 1);
    return 1;
}

/* proc.create_exclusive(path, text) -> true | false (exists) | nil, message */
static int p_create_exclusive(lua_State *L)
{
    int r = ml_proc_create_exclusive(luaL_checkstring(L, 1), luaL_checkstring(L, 2));
    if (r < 0)
        return ml__push_failure(L);
    lua_pushboolean(L, r == 0);
    return 1;
}

static int p_mtime(lua_State *L)
{
    double t = ml_proc_mtime(luaL_checkstring(L, 1));
    if (t < 0)
        return 0;
    lua_pushnumber(L, t);
    return 1;
}

static int p_touch(lua_State *L)
{
    lua_pushboolean(L, ml_proc_touch(luaL_checkstring(L, 1)) == ML_OK);
    return 1;
}

static int p_now(lua_State *L)
{
    lua_pushnumber(L, ml_proc_now());
    return 1;
}

static int p_self_exe(lua_State *L)
{
    char buf[4096];
    if (ml_proc_self_exe(buf, sizeof buf))
        return ml__engine_error(L, "proc.self_exe");
    lua_pushstring(L, buf);
    return 1;
}

static int p_wake_on_child_exit(lua_State *L)
{
    ml_proc_wake_on_child_exit();
    return 0;
}

static int p_cwd(lua_State *L)
{
    char buf[4096];
    if (ml_proc_cwd(buf, sizeof buf))
        return ml__engine_error(L, "proc.cwd");
    lua_pushstring(L, buf);
    return 1;
}

static int p_die_with_parent(lua_State *L)
{
    lua_pushboolean(L, ml_proc_die_with_parent() == ML_OK);
    return 1;
}

static int p_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

static int add_name(const char *name, void *ud)
{
    lua_State *L = ud;
    lua_pushstring(L, name);
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    return 0;
}

/* proc.list_dir(path) -> {name, ...} (sorted) | nil, message */
static int p_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_newtable(L);
    if (ml_proc_list_dir(path, add_name, L))
        return ml__push_failure(L);
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    return 1;
}

/* proc.exit(code): leave at once (a worker whose parent is gone), flushing stdio. */
static int p_exit(lua_State *L)
{
    fflush(NULL);
    _exit((int)luaL_optinteger(L, 1, 0));
}

static int p_getenv(lua_State *L)
{
    lua_pushstring(L, getenv(luaL_checkstring(L, 1)));
    return 1;
}

int ml__open_proc(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"spawn", p_spawn},       {"wait", p_wait},
        {"alive", p_alive},       {"token", p_token},
        {"poll", p_poll},
        {"read", p_read},         {"write", p_write},
        {"close", p_close},       {"catch_signals", p_catch_signals},
        {"interrupted", p_interrupted}, {"kill", p_kill},
        {"redirect_output", p_redirect}, {"create_exclusive", p_create_exclusive},
        {"mtime", p_mtime},       {"touch", p_touch},
        {"now", p_now},           {"self_exe", p_self_exe},
        {"die_with_parent", p_die_with_parent}, {"isatty", p_isatty},
        {"list_dir", p_list_dir}, {"exit", p_exit},
        {"getenv", p_getenv},     {"cwd", p_cwd},
        {"wake_on_child_exit", p_wake_on_child_exit},
        {NULL, NULL}};
    luaL_newlib(L, fns);
    if (getenv("MOONLAB_TEST_HOOKS")) {
        lua_pushcfunction(L, p_test_segv);
        lua_setfield(L, -2, "test_segv");
    }
    return 1;
}
