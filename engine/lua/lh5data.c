/* core.h5data: data sets as HDF5 files (h5data.h) for Lua.
 *
 *   core.h5data.read(path [, {x =, y =, weights =, divisor =, missing =}])
 *       -> {x =, y =, weights =, attrs = {name = value}} or nil, message.
 *       x/y/weights name datasets in the file (default "x", "y", "weights"; y and weights are
 *       read only when present unless named; false = do not read). divisor divides x.
 *       missing = "error" | "nan": NaN in x and y is an error, or kept; by default it is kept
 *       when the file declares missing values (its attribute `missing`).
 *   core.h5data.write(path, x [, y [, weights]] [, {rows =, x_type =, y_type =, attrs =}])
 *       -> true or nil, message (a file that cannot be written). rows is an index set (the
 *       rows to save, in order); types are "float32", "float64", "uint8", "int32"; attrs a
 *       table of string or number attributes. Bad arguments and values that do not fit (an
 *       infinity, NaN in weights or in an integer type, a fraction stored as uint8) raise.
 *   core.h5data.stat(path) -> size in bytes, modification time (seconds) or nil, message.
 *
 * A missing, unreadable or malformed file is an expected failure (nil, message naming the
 * file and dataset); wrong argument types and unknown options raise. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/h5data.h"

#define GUARD_MT "moonlab.h5data.guard"

/* Engine results waiting to be handed to Lua. The guard is a userdata pushed before the
 * engine call; its __gc frees whatever it still holds, so a Lua error (out of memory while
 * building the result) never leaks the engine's allocations. */
typedef struct {
    ml_h5data_t d;
} guard_t;

static int guard_gc(lua_State *L)
{
    guard_t *g = luaL_checkudata(L, 1, GUARD_MT);
    ml_h5data_free(&g->d);
    return 0;
}

static guard_t *push_guard(lua_State *L)
{
    guard_t *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, GUARD_MT);
    return g;
}

/* A dataset name option: nil -> NULL (default), false -> "" (do not read), a string. */
static const char *name_option(lua_State *L, int idx, const char *field, const char *fname)
{
    if (lua_isnoneornil(L, idx))
        return NULL;
    int t = lua_getfield(L, idx, field);
    const char *v = NULL;
    if (t == LUA_TSTRING) {
        v = lua_tostring(L, -1); /* the option table keeps it alive */
        if (!v[0])
            ml__raise(L, "%s: option '%s' is an empty name", fname, field);
    } else if (t == LUA_TBOOLEAN && !lua_toboolean(L, -1) && strcmp(field, "x") != 0) {
        v = "";
    } else if (t != LUA_TNIL) {
        ml__raise(L, "%s: option '%s' must be a dataset name%s, got %s", fname, field,
                  strcmp(field, "x") ? " or false" : "", luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* Moves an engine tensor into a new tensor userdata (no copy); pushes nil for an empty one. */
static void push_moved(lua_State *L, ml_tensor_t *t, const char *fname)
{
    if (!t->data && t->ndim == 0) {
        lua_pushnil(L);
        return;
    }
    ml_tensor_t *u = ml__push_empty_tensor(L, fname);
    *u = *t;
    memset(t, 0, sizeof *t);
}

static int h_read(lua_State *L)
{
    static const char *const keys[] = {"x", "y", "weights", "divisor", "missing", NULL};
    const char *fname = "h5data.read";
    const char *path = luaL_checkstring(L, 1);
    ml__check_keys(L, 2, keys, fname);
    ml_h5data_spec_t spec = {0};
    spec.x = name_option(L, 2, "x", fname);
    spec.y = name_option(L, 2, "y", fname);
    spec.weights = name_option(L, 2, "weights", fname);
    lua_Number divisor = ml__opt_number(L, 2, "divisor", 1.0, fname);
    if (!(divisor > 0.0) || divisor > 1e30)
        ml__raise(L, "%s: option 'divisor' must be a positive number, got %f", fname, divisor);
    const char *missing = ml__opt_string(L, 2, "missing", NULL, fname);
    if (missing && strcmp(missing, "error") == 0)
        spec.missing = ML_H5_MISSING_ERROR;
    else if (missing && strcmp(missing, "nan") == 0)
        spec.missing = ML_H5_MISSING_NAN;
    else if (missing)
        ml__raise(L, "%s: option 'missing' must be \"error\" or \"nan\", got \"%s\"", fname,
                  missing);
    guard_t *g = push_guard(L);
    if (ml_h5data_read(&g->d, path, &spec))
        return ml__push_failure(L);
    if (divisor != 1.0) { /* in place; division, as x / d would give */
        float d = (float)divisor;
        int64_t n = ml_tensor_numel(&g->d.x);
        for (int64_t i = 0; i < n; i++)
            g->d.x.data[i] /= d;
    }
    lua_createtable(L, 0, 4);
    push_moved(L, &g->d.x, fname);
    lua_setfield(L, -2, "x");
    push_moved(L, &g->d.y, fname);
    lua_setfield(L, -2, "y");
    push_moved(L, &g->d.weights, fname);
    lua_setfield(L, -2, "weights");
    lua_createtable(L, 0, g->d.nattrs);
    for (int i = 0; i < g->d.nattrs; i++) {
        const ml_h5data_attr_t *a = &g->d.attrs[i];
        if (a->text)
            lua_pushstring(L, a->text);
        else if (a->number == (lua_Number)(lua_Integer)a->number && fabs(a->number) < 9e15)
            lua_pushinteger(L, (lua_Integer)a->number);
        else
            lua_pushnumber(L, a->number);
        lua_setfield(L, -2, a->name);
    }
    lua_setfield(L, -2, "attrs");
    ml_h5data_free(&g->d);
    return 1;
}

static ml_h5_type_t type_option(lua_State *L, int idx, const char *field, const char *fname)
{
    const char *s = ml__opt_string(L, idx, field, "float32", fname);
    static const char *const names[] = {"float32", "float64", "uint8", "int32", NULL};
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return (ml_h5_type_t)i;
    ml__raise(L, "%s: option '%s' must be \"float32\", \"float64\", \"uint8\" or \"int32\", got "
                 "\"%s\"", fname, field, s);
}

static int h_write(lua_State *L)
{
    static const char *const keys[] = {"rows", "x_type", "y_type", "attrs", NULL};
    const char *fname = "h5data.write";
    const char *path = luaL_checkstring(L, 1);
    ml_h5data_save_t s = {0};
    s.x = ml__check_tensor(L, 2, fname);
    s.y = ml__opt_tensor(L, 3, fname);
    s.weights = ml__opt_tensor(L, 4, fname);
    int o = 5;
    ml__check_keys(L, o, keys, fname);
    s.x_type = type_option(L, o, "x_type", fname);
    s.y_type = type_option(L, o, "y_type", fname);
    if (lua_istable(L, o)) {
        if (lua_getfield(L, o, "rows") != LUA_TNIL)
            s.rows = ml__check_index(L, -1, &s.nrows, fname); /* kept alive by the table */
        lua_pop(L, 1);
    }
    /* Attributes: copied into a Lua-owned array (no malloc held across a raise). */
    ml_h5data_attr_t *attrs = NULL;
    if (lua_istable(L, o) && lua_getfield(L, o, "attrs") != LUA_TNIL) {
        int at = lua_gettop(L);
        if (!lua_istable(L, at))
            ml__raise(L, "%s: option 'attrs' must be a table, got %s", fname,
                      luaL_typename(L, at));
        int n = 0;
        lua_pushnil(L);
        while (lua_next(L, at)) {
            n++;
            lua_pop(L, 1);
        }
        attrs = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *attrs, 0);
        int i = 0;
        lua_pushnil(L);
        while (lua_next(L, at)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                ml__raise(L, "%s: attribute names must be strings, got %s", fname,
                          luaL_typename(L, -2));
            attrs[i].name = lua_tostring(L, -2);
            attrs[i].text = NULL;
            attrs[i].number = 0;
            if (lua_type(L, -1) == LUA_TSTRING)
                attrs[i].text = lua_tostring(L, -1);
            else if (lua_type(L, -1) == LUA_TNUMBER)
                attrs[i].number = lua_tonumber(L, -1);
            else
                ml__raise(L, "%s: attribute '%s' must be a string or a number, got %s", fname,
                          attrs[i].name, luaL_typename(L, -1));
            i++;
            lua_pop(L, 1);
        }
        s.nattrs = n;
        s.attrs = attrs;
    }
    int rc = ml_h5data_write(path, &s);
    if (rc == ML_EIO)
        return ml__push_failure(L);
    if (rc)
        ml__raise(L, "data.save: %s", ml_errmsg());
    lua_pushboolean(L, 1);
    return 1;
}

static int h_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, strerror(errno));
        return 2;
    }
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec * 1e-9);
    return 2;
}

int ml__open_h5data(lua_State *L)
{
    luaL_newmetatable(L, GUARD_MT);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"read", h_read}, {"write", h_write}, {"stat", h_stat}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
