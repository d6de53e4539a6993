/* The HDF5 result writer and SHA-256 as Lua functions. */
#include <stdio.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/hash.h"
#include "moonlab/results.h"

typedef struct lresults {
    int closed;
    ml_results_t *r;
} lresults_t;

static ml_results_t *check_writer(lua_State *L, const char *fname)
{
    lresults_t *u = luaL_testudata(L, 1, ML_RESULTS_MT);
    if (!u)
        ml__raise(L, "%s: expected a result writer, got %s", fname, luaL_typename(L, 1));
    if (u->closed)
        ml__raise(L, "%s: result writer is already committed or aborted", fname);
    return u->r;
}

/* nil, message, and "storage" when the file system refused the write (ML_ESTORAGE: no space or
 * quota left, read-only, no permission), which the study runner stops on. */
static int push_write_failure(lua_State *L, int rc)
{
    ml__push_failure(L);
    if (rc != ML_ESTORAGE)
        return 2;
    lua_pushliteral(L, "storage");
    return 3;
}

/* core.results.create(path) -> writer | nil, message[, "storage"] */
static int w_create(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lresults_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->closed = 1;
    u->r = NULL;
    luaL_setmetatable(L, ML_RESULTS_MT);
    int rc = ml_results_create(&u->r, path);
    if (rc)
        return push_write_failure(L, rc);
    u->closed = 0;
    return 1;
}

static int w_group(lua_State *L)
{
    ml_results_t *r = check_writer(L, "results:group");
    if (ml_results_group(r, luaL_checkstring(L, 2)))
        return ml__engine_error(L, "results:group");
    return 0;
}

/* w:attr(object_path, name, value): integer -> int64, other number -> float64, string,
 * boolean -> int64 0/1. */
static int w_attr(lua_State *L)
{
    ml_results_t *r = check_writer(L, "results:attr");
    const char *obj = luaL_checkstring(L, 2), *name = luaL_checkstring(L, 3);
    int rc;
    switch (lua_type(L, 4)) {
    case LUA_TNUMBER:
        rc = lua_isinteger(L, 4) ? ml_results_attr_int64(r, obj, name, lua_tointeger(L, 4))
                                 : ml_results_attr_double(r, obj, name, lua_tonumber(L, 4));
        break;
    case LUA_TBOOLEAN:
        rc = ml_results_attr_int64(r, obj, name, lua_toboolean(L, 4));
        break;
    case LUA_TSTRING:
        rc = ml_results_attr_string(r, obj, name, lua_tostring(L, 4));
        break;
    default:
        return luaL_error(L, "results:attr: attribute '%s' is a %s; expected a number, string or boolean",
                          name, luaL_typename(L, 4));
    }
    if (rc)
        return ml__engine_error(L, "results:attr");
    return 0;
}

/* w:table(path, nrows, { {name=, type="int"|"float"|"string", values={...}}, ... }) */
static int w_table(lua_State *L)
{
    static const char *const types[] = {"int", "float", "string", NULL};
    const char *fname = "results:table";
    ml_results_t *r = check_writer(L, fname);
    const char *path = luaL_checkstring(L, 2);
    lua_Integer nrows = luaL_checkinteger(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    int ncols = (int)luaL_len(L, 4);
    if (ncols < 1 || ncols > 1024 || nrows < 0)
        return luaL_error(L, "%s: %d columns and %d rows", fname, ncols, (int)nrows);
    /* Buffers are userdata so a raise below frees them with the rest of the stack. */
    ml_column_t *cols = lua_newuserdatauv(L, sizeof *cols * (size_t)ncols, 0);
    for (int c = 0; c < ncols; c++) {
        lua_geti(L, 4, c + 1);
        int ci = lua_gettop(L);
        luaL_checktype(L, ci, LUA_TTABLE);
        lua_getfield(L, ci, "name");
        cols[c].name = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (!cols[c].name)
            return luaL_error(L, "%s: column %d has no name", fname, c + 1);
        lua_getfield(L, ci, "type");
        const char *ty = lua_tostring(L, -1);
        int t;
        for (t = 0; ty && types[t] && strcmp(types[t], ty) != 0; t++)
            ;
        if (!ty || !types[t])
            return luaL_error(L, "%s: column '%s' type must be int, float or string", fname,
                              cols[c].name);
        lua_pop(L, 1);
        cols[c].type = (ml_col_type_t)t;
        lua_getfield(L, ci, "values");
        int vi = lua_gettop(L);
        luaL_checktype(L, vi, LUA_TTABLE);
        size_t esz = t == ML_COL_STRING ? sizeof(char *) : 8;
        void *buf = lua_newuserdatauv(L, esz * (size_t)(nrows ? nrows : 1), 0);
        for (lua_Integer i = 0; i < nrows; i++) {
            lua_geti(L, vi, i + 1);
            if (t == ML_COL_STRING) {
                const char *s = lua_tostring(L, -1);
                ((const char **)buf)[i] = s ? s : ""; /* kept alive by the values table */
            } else if (t == ML_COL_INT64) {
                ((int64_t *)buf)[i] = lua_tointeger(L, -1);
            } else {
                ((double *)buf)[i] = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : (0.0 / 0.0);
            }
            lua_pop(L, 1);
        }
        cols[c].data = buf;
        /* Anchor the buffer in the column table so it outlives this loop iteration. */
        lua_setfield(L, ci, "__buffer");
        lua_pop(L, 2); /* values, column */
    }
    int rc = ml_results_table(r, path, ncols, cols, nrows);
    for (int c = 0; c < ncols; c++) {
        lua_geti(L, 4, c + 1);
        lua_pushnil(L);
        lua_setfield(L, -2, "__buffer");
        lua_pop(L, 1);
    }
    if (rc)
        return ml__engine_error(L, fname);
    return 0;
}

static int w_tensor(lua_State *L)
{
    ml_results_t *r = check_writer(L, "results:tensor");
    const char *path = luaL_checkstring(L, 2);
    ml_tensor_t *t = ml__check_tensor(L, 3, "results:tensor");
    if (ml_results_tensor(r, path, t))
        return ml__engine_error(L, "results:tensor");
    return 0;
}

/* w:int64(path, values): a 1-D int64 dataset. values is an index set, written as its 1-based
 * row numbers (what Lua shows), or a list of integers, written as they are. */
static int w_int64(lua_State *L)
{
    const char *fname = "results:int64";
    ml_results_t *r = check_writer(L, fname);
    const char *path = luaL_checkstring(L, 2);
    int64_t n;
    int64_t *buf;
    if (luaL_testudata(L, 3, ML_INDEX_MT)) {
        const int64_t *rows = ml__check_index(L, 3, &n, fname);
        buf = lua_newuserdatauv(L, sizeof *buf * (size_t)(n ? n : 1), 0);
        for (int64_t i = 0; i < n; i++)
            buf[i] = rows[i] + 1;
    } else {
        if (lua_type(L, 3) != LUA_TTABLE)
            ml__raise(L, "%s: expected an index set or a list of integers, got %s", fname,
                      luaL_typename(L, 3));
        n = (int64_t)luaL_len(L, 3);
        buf = lua_newuserdatauv(L, sizeof *buf * (size_t)(n ? n : 1), 0);
        for (int64_t i = 0; i < n; i++) {
            int ok;
            lua_geti(L, 3, i + 1);
            buf[i] = (int64_t)lua_tointegerx(L, -1, &ok);
            if (!ok)
                ml__raise(L, "%s: entry %I is %s, expected an integer", fname,
                          (lua_Integer)i + 1, luaL_tolstring(L, -1, NULL));
            lua_pop(L, 1);
        }
    }
    if (ml_results_int64(r, path, buf, n))
        return ml__engine_error(L, fname);
    return 0;
}

/* w:commit() -> true | nil, message[, "storage"] */
static int w_commit(lua_State *L)
{
    ml_results_t *r = check_writer(L, "results:commit");
    lresults_t *u = lua_touserdata(L, 1);
    u->closed = 1;
    u->r = NULL;
    int rc = ml_results_commit(r);
    if (rc)
        return push_write_failure(L, rc);
    lua_pushboolean(L, 1);
    return 1;
}

static int w_abort(lua_State *L)
{
    lresults_t *u = luaL_checkudata(L, 1, ML_RESULTS_MT);
    if (!u->closed) {
        ml_results_abort(u->r);
        u->r = NULL;
        u->closed = 1;
    }
    return 0;
}

/* core.sha256(string) -> hex */
static int h_sha256(lua_State *L)
{
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    ml_sha256_t h;
    char hex[65];
    ml_sha256_init(&h);
    ml_sha256_update(&h, s, n);
    ml_sha256_final(&h, hex);
    lua_pushstring(L, hex);
    return 1;
}

/* core.sha256_file(path) -> hex | nil, message */
static int h_sha256_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open '%s'", path);
        return 2;
    }
    ml_sha256_t h;
    char hex[65], buf[8192];
    size_t n;
    ml_sha256_init(&h);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        ml_sha256_update(&h, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read '%s'", path);
        return 2;
    }
    ml_sha256_final(&h, hex);
    lua_pushstring(L, hex);
    return 1;
}

/* w:copy(dst_path, src_file, src_path) */
static int w_copy(lua_State *L)
{
    ml_results_t *r = check_writer(L, "results:copy");
    if (ml_results_copy(r, luaL_checkstring(L, 2), luaL_checkstring(L, 3), luaL_checkstring(L, 4)))
        return ml__engine_error(L, "results:copy");
    return 0;
}

static const luaL_Reg methods[] = {{"copy", w_copy},{"group", w_group},   {"attr", w_attr},
                                   {"table", w_table},   {"tensor", w_tensor},
                                   {"int64", w_int64},
                                   {"commit", w_commit}, {"abort", w_abort},
                                   {NULL, NULL}};
static const luaL_Reg functions[] = {{"create", w_create}, {"sha256", h_sha256},
                                     {"sha256_file", h_sha256_file}, {NULL, NULL}};

int ml__open_results(lua_State *L)
{
    luaL_newmetatable(L, ML_RESULTS_MT);
    lua_pushcfunction(L, w_abort);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, w_abort);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
