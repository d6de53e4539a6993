#include "lcommon.h"

#include <malloc.h>
#include <stdarg.h>
#include <string.h>

#include "moonlab/error.h"

_Noreturn void ml__raise(lua_State *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    luaL_where(L, 1);
    lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    lua_concat(L, 2);
    lua_error(L);
    __builtin_unreachable(); /* lua_error long-jumps out */
}

int ml__engine_error(lua_State *L, const char *fname)
{
    return luaL_error(L, "%s: %s", fname, ml_errmsg());
}

_Noreturn int ml__raise_engine(lua_State *L)
{
    ml__raise(L, "%s", ml_errmsg());
}

int ml__push_failure(lua_State *L)
{
    lua_pushnil(L);
    lua_pushstring(L, ml_errmsg());
    return 2;
}

int ml__tensor_dead(lua_State *L, int idx)
{
    ml_ltensor_t *u = lua_touserdata(L, idx);
    if (u->closed)
        return 1;
    int dead = 0;
    if (lua_getiuservalue(L, idx, 1) == LUA_TUSERDATA)
        dead = *(int *)lua_touserdata(L, -1);
    lua_pop(L, 1);
    return dead;
}

static ml_ltensor_t *to_ltensor(lua_State *L, int idx, const char *fname, int opt)
{
    if (opt && lua_isnoneornil(L, idx))
        return NULL;
    ml_ltensor_t *u = luaL_testudata(L, idx, ML_TENSOR_MT);
    if (!u)
        ml__raise(L, "%s: argument %d: expected a tensor, got %s", fname, idx,
                  luaL_typename(L, idx));
    if (ml__tensor_dead(L, idx))
        ml__raise(L, "%s: argument %d: tensor is closed", fname, idx);
    return u;
}

ml_tensor_t *ml__check_tensor(lua_State *L, int idx, const char *fname)
{
    return &to_ltensor(L, idx, fname, 0)->t;
}

ml_tensor_t *ml__opt_tensor(lua_State *L, int idx, const char *fname)
{
    ml_ltensor_t *u = to_ltensor(L, idx, fname, 1);
    return u ? &u->t : NULL;
}

/* Tensor data is malloc'd, out of the collector's sight: a loop making big temporaries (one
 * (65536, 256) one-hot block after another) grew by gigabytes before Lua's own small heap grew
 * enough to start a cycle. So before each new tensor, the process's malloc'd bytes in use are
 * compared with what was in use after the last collection: once they have doubled (by 64 MB
 * at least; the collector's default pause of 200 %, for memory it cannot see), a full
 * collection frees the dead tensors. A stopped collector (collectgarbage("stop")) is left
 * stopped. */
#if defined(__SANITIZE_ADDRESS__)
/* AddressSanitizer's allocator replaces malloc's arenas: ask it instead (libasan's interface) */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t malloced(void)
{
    return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t malloced(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd; /* small blocks, and big ones mmap'd on their own */
}
#endif

static void collect_if_grown(lua_State *L)
{
    static size_t after; /* in use after the last collection */
    const size_t least = (size_t)64 << 20;
    if (malloced() < after + (after > least ? after : least) || !lua_gc(L, LUA_GCISRUNNING))
        return;
    lua_gc(L, LUA_GCCOLLECT);
    after = malloced();
}

static ml_ltensor_t *new_ltensor(lua_State *L)
{
    collect_if_grown(L);
    ml_ltensor_t *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->closed = 0;
    u->t = (ml_tensor_t){0};
    luaL_setmetatable(L, ML_TENSOR_MT);
    return u;
}

ml_tensor_t *ml__push_tensor(lua_State *L, int ndim, const int64_t *shape, const char *fname)
{
    ml_ltensor_t *u = new_ltensor(L);
    if (ml_tensor_new(&u->t, ndim, shape)) {
        u->closed = 1;
        ml__engine_error(L, fname);
    }
    return &u->t;
}

ml_tensor_t *ml__push_empty_tensor(lua_State *L, const char *fname)
{
    int64_t zero = 0;
    ml_tensor_t *t = ml__push_tensor(L, 1, &zero, fname);
    ml_tensor_free(t);
    return t;
}

ml_tensor_t *ml__push_foreign_view(lua_State *L, const ml_tensor_t *view, int owner_idx)
{
    owner_idx = lua_absindex(L, owner_idx);
    ml_ltensor_t *u = new_ltensor(L);
    u->t = *view;
    u->t.owns = 0;
    /* Point at the memory's owner, not at an intermediate view. */
    if (luaL_testudata(L, owner_idx, ML_TENSOR_MT) &&
        !((ml_ltensor_t *)lua_touserdata(L, owner_idx))->t.owns) {
        if (lua_getiuservalue(L, owner_idx, 1) != LUA_TUSERDATA) {
            lua_pop(L, 1);
            lua_pushvalue(L, owner_idx);
        }
    } else {
        lua_pushvalue(L, owner_idx);
    }
    lua_setiuservalue(L, -2, 1);
    return &u->t;
}

ml_tensor_t *ml__push_view(lua_State *L, const ml_tensor_t *view, int base_idx)
{
    return ml__push_foreign_view(L, view, base_idx);
}

ml_tensor_t *ml__push_copy(lua_State *L, const ml_tensor_t *t, const char *fname)
{
    ml_tensor_t *c = ml__push_tensor(L, t->ndim, t->shape, fname);
    ml_tensor_copy(c, t);
    return c;
}

int64_t ml__check_integer(lua_State *L, int idx, const char *what, const char *fname)
{
    int ok;
    lua_Integer v = lua_tointegerx(L, idx, &ok);
    if (!ok)
        ml__raise(L, "%s: %s must be an integer, got %s", fname, what,
                  luaL_tolstring(L, idx, NULL));
    return (int64_t)v;
}

void ml__check_keys(lua_State *L, int idx, const char *const *keys, const char *fname)
{
    if (lua_isnoneornil(L, idx))
        return;
    idx = lua_absindex(L, idx);
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        int known = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = keys; *k && !known; k++)
                known = strcmp(lua_tostring(L, -1), *k) == 0;
        if (known)
            continue;
        const char *key = luaL_tolstring(L, -1, NULL);
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        for (const char *const *k = keys; *k; k++) {
            if (k != keys)
                luaL_addstring(&b, ", ");
            luaL_addstring(&b, *k);
        }
        luaL_pushresult(&b);
        ml__raise(L, "%s: unknown option '%s' (options: %s)", fname, key, lua_tostring(L, -1));
    }
}

static int get_field(lua_State *L, int idx, const char *field)
{
    if (lua_type(L, idx) != LUA_TTABLE)
        return LUA_TNIL;
    return lua_getfield(L, idx, field);
}

lua_Number ml__opt_number(lua_State *L, int idx, const char *field, lua_Number def,
                          const char *fname)
{
    int t = get_field(L, idx, field);
    lua_Number v = def;
    if (t == LUA_TNUMBER)
        v = lua_tonumber(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a number, got %s", fname, field,
                   luaL_typename(L, -1));
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_pop(L, 1);
    return v;
}

lua_Integer ml__opt_integer(lua_State *L, int idx, const char *field, lua_Integer def,
                            const char *fname)
{
    int t = get_field(L, idx, field);
    lua_Integer v = def;
    if (t == LUA_TNUMBER) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok)
            luaL_error(L, "%s: option '%s' must be an integer, got %s", fname, field,
                       lua_tostring(L, -1));
    } else if (t != LUA_TNIL) {
        luaL_error(L, "%s: option '%s' must be an integer, got %s", fname, field,
                   luaL_typename(L, -1));
    }
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_pop(L, 1);
    return v;
}

int ml__opt_bool(lua_State *L, int idx, const char *field, int def, const char *fname)
{
    int t = get_field(L, idx, field);
    int v = def;
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a boolean, got %s", fname, field,
                   luaL_typename(L, -1));
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_pop(L, 1);
    return v;
}

const char *ml__opt_string(lua_State *L, int idx, const char *field, const char *def,
                           const char *fname)
{
    int t = get_field(L, idx, field);
    const char *v = def;
    if (t == LUA_TSTRING)
        v = lua_tostring(L, -1); /* still referenced by the option table */
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a string, got %s", fname, field,
                   luaL_typename(L, -1));
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_pop(L, 1);
    return v;
}

ml_tensor_t *ml__field_tensor(lua_State *L, int idx, const char *field, int required,
                              const char *fname)
{
    int t = get_field(L, idx, field);
    ml_tensor_t *r = NULL;
    if (t == LUA_TNIL) {
        if (required)
            luaL_error(L, "%s: option '%s' (a tensor) is required", fname, field);
    } else {
        ml_ltensor_t *u = luaL_testudata(L, -1, ML_TENSOR_MT);
        if (!u)
            luaL_error(L, "%s: option '%s' must be a tensor, got %s", fname, field,
                       luaL_typename(L, -1));
        else if (ml__tensor_dead(L, -1))
            luaL_error(L, "%s: option '%s': tensor is closed", fname, field);
        r = &u->t;
    }
    if (lua_type(L, idx) == LUA_TTABLE)
        lua_pop(L, 1);
    return r; /* the option table keeps the tensor alive */
}
