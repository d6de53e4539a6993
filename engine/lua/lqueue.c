/* core.queue: the batch queue's SQLite store (moonlab/queue.h) as a Lua object. Every method
 * returns nil, message when the store refuses (unknown id, a lock held too long, a full disk);
 * wrong argument types raise. */
#include <stdlib.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/queue.h"

#define ML_QUEUE_MT "moonlab.queue"
#define MAX_ARGS 256
#define MAX_IDS 4096

typedef struct lqueue {
    ml_queue_t *q;
} lqueue_t;

static ml_queue_t *check_queue(lua_State *L, const char *fname)
{
    lqueue_t *u = luaL_testudata(L, 1, ML_QUEUE_MT);
    if (!u)
        ml__raise(L, "%s: expected a queue, got %s", fname, luaL_typename(L, 1));
    if (!u->q)
        ml__raise(L, "%s: the queue is closed", fname);
    return u->q;
}

static void set_number(lua_State *L, const char *k, double v)
{
    if (v > 0) {
        lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
    }
}

static void set_integer(lua_State *L, const char *k, int64_t v)
{
    if (v > 0) {
        lua_pushinteger(L, (lua_Integer)v);
        lua_setfield(L, -2, k);
    }
}

static void set_string(lua_State *L, const char *k, const char *s)
{
    if (s && *s) {
        lua_pushstring(L, s);
        lua_setfield(L, -2, k);
    }
}

/* An entry as a table; unset fields are absent (nil). */
static void push_entry(lua_State *L, const ml_queue_entry_t *e)
{
    lua_createtable(L, 0, 18);
    lua_pushinteger(L, (lua_Integer)e->id);
    lua_setfield(L, -2, "id");
    lua_pushstring(L, ml_queue_state_name(e->state));
    lua_setfield(L, -2, "status");
    lua_pushstring(L, e->script);
    lua_setfield(L, -2, "script");
    lua_pushstring(L, e->dir);
    lua_setfield(L, -2, "dir");
    lua_createtable(L, e->nargs, 0);
    for (int i = 0; i < e->nargs; i++) {
        lua_pushstring(L, e->args[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "args");
    set_number(L, "added", e->added);
    set_number(L, "started", e->started);
    set_number(L, "finished", e->finished);
    set_number(L, "heartbeat", e->heartbeat);
    lua_pushinteger(L, (lua_Integer)e->attempts);
    lua_setfield(L, -2, "attempts");
    set_string(L, "host", e->host);
    set_integer(L, "runner_pid", e->runner_pid);
    set_integer(L, "pid", e->pid);
    if (e->exit_code >= 0) {
        lua_pushinteger(L, e->exit_code);
        lua_setfield(L, -2, "exit");
    }
    set_integer(L, "signal", e->signal);
    set_string(L, "reason", e->reason);
    set_string(L, "result", e->result);
}

/* Entries are copied into Lua under lua_pcall, so a memory error there cannot leak them. */
typedef struct entries {
    const ml_queue_entry_t *es;
    int64_t n;
} entries_t;

static int push_entries(lua_State *L)
{
    const entries_t *l = lua_touserdata(L, 1);
    lua_createtable(L, (int)l->n, 0);
    for (int64_t i = 0; i < l->n; i++) {
        push_entry(L, &l->es[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* Push entries (freeing them whatever happens); raises what the copy raised. */
static int push_owned(lua_State *L, ml_queue_entry_t *es, int64_t n)
{
    entries_t l = {es, n};
    lua_pushcfunction(L, push_entries);
    lua_pushlightuserdata(L, &l);
    int status = lua_pcall(L, 1, 1, 0);
    ml_queue_list_free(es, n);
    if (status != LUA_OK)
        return lua_error(L);
    return 1;
}

/* core.queue.open(path [, {create = bool, busy_ms = int}]) -> queue | nil, message */
static int q_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int create = 0;
    lua_Integer busy = 30000;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        create = ml__opt_bool(L, 2, "create", 0, "queue.open");
        busy = ml__opt_integer(L, 2, "busy_ms", busy, "queue.open");
        if (busy < 0 || busy > 3600000)
            ml__raise(L, "queue.open: busy_ms = %d (0 to 3600000)", (int)busy);
    }
    lqueue_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->q = NULL;
    luaL_setmetatable(L, ML_QUEUE_MT);
    if (ml_queue_open(&u->q, path, create, (int)busy))
        return ml__push_failure(L);
    return 1;
}

static int q_close(lua_State *L)
{
    lqueue_t *u = luaL_checkudata(L, 1, ML_QUEUE_MT);
    ml_queue_close(u->q);
    u->q = NULL;
    return 0;
}

/* A string argument or table field with no embedded zero byte. */
static const char *plain_string(lua_State *L, int idx, const char *fname, const char *what)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    if (!s || lua_type(L, idx) != LUA_TSTRING)
        ml__raise(L, "%s: %s is a %s, expected a string", fname, what, luaL_typename(L, idx));
    if (strlen(s) != n)
        ml__raise(L, "%s: %s contains a zero byte", fname, what);
    return s;
}

/* q:add(script, dir, {arg, ...}) -> id | nil, message */
static int q_add(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:add");
    const char *script = plain_string(L, 2, "queue:add", "script");
    const char *dir = plain_string(L, 3, "queue:add", "dir");
    const char *args[MAX_ARGS];
    int n = 0;
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        lua_Integer len = luaL_len(L, 4);
        if (len > MAX_ARGS)
            ml__raise(L, "queue:add: %d arguments (at most %d)", (int)len, MAX_ARGS);
        for (n = 0; n < (int)len; n++) {
            lua_geti(L, 4, n + 1);
            args[n] = plain_string(L, -1, "queue:add", "an argument");
            lua_pop(L, 1); /* the string stays alive in the table */
        }
    }
    int64_t id;
    if (ml_queue_add(q, script, dir, args, n, &id))
        return ml__push_failure(L);
    lua_pushinteger(L, (lua_Integer)id);
    return 1;
}

static int q_get(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:get");
    ml_queue_entry_t e;
    if (ml_queue_get(q, (int64_t)luaL_checkinteger(L, 2), &e))
        return ml__push_failure(L);
    ml_queue_entry_t *one = malloc(sizeof *one);
    if (!one) {
        ml_queue_entry_free(&e);
        return luaL_error(L, "queue:get: out of memory");
    }
    *one = e;
    push_owned(L, one, 1);
    lua_geti(L, -1, 1);
    return 1;
}

static int q_list(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:list");
    ml_queue_entry_t *es;
    int64_t n;
    if (ml_queue_list(q, &es, &n))
        return ml__push_failure(L);
    return push_owned(L, es, n);
}

/* q:counts() -> {pending =, running =, done =, failed =} */
static int q_counts(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:counts");
    int64_t c[ML_QUEUE_NSTATES];
    if (ml_queue_counts(q, c))
        return ml__push_failure(L);
    lua_createtable(L, 0, ML_QUEUE_NSTATES);
    for (int i = 0; i < ML_QUEUE_NSTATES; i++) {
        lua_pushinteger(L, (lua_Integer)c[i]);
        lua_setfield(L, -2, ml_queue_state_name((ml_queue_state_t)i));
    }
    return 1;
}

/* q:claim() -> entry | false when nothing is pending | nil, message */
static int q_claim(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:claim");
    ml_queue_entry_t e;
    int got;
    if (ml_queue_claim(q, &e, &got))
        return ml__push_failure(L);
    if (!got) {
        lua_pushboolean(L, 0);
        return 1;
    }
    ml_queue_entry_t *one = malloc(sizeof *one);
    if (!one) {
        ml_queue_entry_free(&e);
        return luaL_error(L, "queue:claim: out of memory");
    }
    *one = e;
    push_owned(L, one, 1);
    lua_geti(L, -1, 1);
    return 1;
}

static int ok_or_fail(lua_State *L, int rc)
{
    if (rc)
        return ml__push_failure(L);
    lua_pushboolean(L, 1);
    return 1;
}

static int q_started(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:started");
    lua_Integer id = luaL_checkinteger(L, 2), pid = luaL_checkinteger(L, 3);
    if (pid <= 0)
        ml__raise(L, "queue:started: pid %d is not a process id", (int)pid);
    return ok_or_fail(L, ml_queue_started(q, (int64_t)id, (pid_t)pid));
}

static int q_heartbeat(lua_State *L)
{
    return ok_or_fail(L, ml_queue_heartbeat(check_queue(L, "queue:heartbeat")));
}

/* q:finish(id, "done" | "failed", {exit =, signal =, reason =, result =}) -> held | nil, msg */
static int q_finish(lua_State *L)
{
    static const char *const states[] = {"done", "failed", NULL};
    ml_queue_t *q = check_queue(L, "queue:finish");
    lua_Integer id = luaL_checkinteger(L, 2);
    int s = luaL_checkoption(L, 3, NULL, states);
    luaL_checktype(L, 4, LUA_TTABLE);
    lua_Integer code = ml__opt_integer(L, 4, "exit", -1, "queue:finish");
    lua_Integer sig = ml__opt_integer(L, 4, "signal", 0, "queue:finish");
    const char *reason = ml__opt_string(L, 4, "reason", NULL, "queue:finish");
    const char *result = ml__opt_string(L, 4, "result", NULL, "queue:finish");
    if (code < -1 || code > 255 || sig < 0 || sig > 128)
        ml__raise(L, "queue:finish: exit %d, signal %d out of range", (int)code, (int)sig);
    int held;
    if (ml_queue_finish(q, (int64_t)id, s == 0 ? ML_QUEUE_DONE : ML_QUEUE_FAILED, (int)code,
                        (int)sig, reason, result, &held))
        return ml__push_failure(L);
    lua_pushboolean(L, held);
    return 1;
}

static int q_release(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:release");
    lua_Integer id = luaL_checkinteger(L, 2);
    return ok_or_fail(L, ml_queue_release(q, (int64_t)id, luaL_optstring(L, 3, NULL)));
}

/* The ids in the table at idx (at most MAX_IDS), in a userdata pushed on the stack. */
static int64_t *read_ids(lua_State *L, int idx, int64_t *count, const char *fname)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 0 || n > MAX_IDS)
        ml__raise(L, "%s: %d ids (0 to %d at once)", fname, (int)n, MAX_IDS);
    int64_t *ids = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *ids, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint)
            ml__raise(L, "%s: id %d is a %s, expected an integer", fname, (int)i + 1,
                      luaL_typename(L, -1));
        ids[i] = (int64_t)v;
        lua_pop(L, 1);
    }
    *count = (int64_t)n;
    return ids;
}

/* q:retry([{id, ...}]) -> count | nil, message (no ids: every failed entry) */
static int q_retry(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:retry");
    int64_t n = 0;
    const int64_t *ids = lua_isnoneornil(L, 2) ? NULL : read_ids(L, 2, &n, "queue:retry");
    int64_t changed;
    if (ml_queue_retry(q, ids, n, &changed))
        return ml__push_failure(L);
    lua_pushinteger(L, (lua_Integer)changed);
    return 1;
}

static int q_remove(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:remove");
    int64_t n;
    const int64_t *ids = read_ids(L, 2, &n, "queue:remove");
    return ok_or_fail(L, ml_queue_remove(q, ids, n));
}

/* q:recover(stale_seconds) -> count of entries put back to pending | nil, message */
static int q_recover(lua_State *L)
{
    ml_queue_t *q = check_queue(L, "queue:recover");
    lua_Number stale = luaL_checknumber(L, 2);
    if (!(stale > 0))
        ml__raise(L, "queue:recover: stale limit %g s (must be positive)", (double)stale);
    int64_t n;
    if (ml_queue_recover(q, (double)stale, &n))
        return ml__push_failure(L);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

int ml__open_queue(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"add", q_add},         {"get", q_get},         {"list", q_list},
        {"counts", q_counts},   {"claim", q_claim},     {"started", q_started},
        {"heartbeat", q_heartbeat}, {"finish", q_finish}, {"release", q_release},
        {"retry", q_retry},     {"remove", q_remove},   {"recover", q_recover},
        {"close", q_close},     {NULL, NULL}};
    if (luaL_newmetatable(L, ML_QUEUE_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, q_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, q_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"open", q_open}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
