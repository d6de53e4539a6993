/* The result-file reader as Lua functions: core.rfile.open(path), core.rfile.image(bytes,
 * name) and the reader's methods. A missing or malformed file or object is `nil, message`
 * (the message names the file and the object); misuse raises. */
#include <string.h>

#include "lcommon.h"
#include "moonlab/rfile.h"

#define ML_RFILE_MT "moonlab.rfile"
#define ML_RFILE_BOX_MT "moonlab.rfile.box"

typedef struct lrfile {
    ml_rfile_t *f; /* NULL once closed */
} lrfile_t;

static ml_rfile_t *check_reader(lua_State *L, const char *fname)
{
    lrfile_t *u = luaL_testudata(L, 1, ML_RFILE_MT);
    if (!u)
        ml__raise(L, "%s: expected a result-file reader, got %s", fname, luaL_typename(L, 1));
    if (!u->f)
        ml__raise(L, "%s: the reader is closed", fname);
    return u->f;
}

static int push_reader(lua_State *L, ml_rfile_t *f)
{
    lrfile_t *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->f = NULL;
    luaL_setmetatable(L, ML_RFILE_MT);
    u->f = f;
    return 1;
}

/* C results are handed to a box userdata before any Lua call that can raise turns them into
 * Lua values, so an allocation error on the way frees them through __gc. */
typedef enum { BOX_NAMES, BOX_ATTRS, BOX_TABLE } box_kind_t;

typedef struct box {
    box_kind_t kind;
    int filled;
    char **names;
    int64_t nnames;
    ml_rattr_t *attrs;
    int nattrs;
    ml_rtable_t table;
} box_t;

static int box_gc(lua_State *L)
{
    box_t *b = luaL_checkudata(L, 1, ML_RFILE_BOX_MT);
    if (b->filled) {
        ml_rfile_free_names(b->names, b->nnames);
        ml_rfile_free_attrs(b->attrs, b->nattrs);
        ml_rfile_free_table(&b->table);
    }
    memset(b, 0, sizeof *b);
    return 0;
}

static box_t *push_box(lua_State *L)
{
    box_t *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, ML_RFILE_BOX_MT);
    return b;
}

/* core.rfile.open(path) -> reader | nil, message */
static int r_open(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    ml_rfile_t *f;
    if (ml_rfile_open(&f, path))
        return ml__push_failure(L);
    return push_reader(L, f);
}

/* core.rfile.image(bytes [, name]) -> reader | nil, message: a file held in a Lua string. */
static int r_image(lua_State *L)
{
    size_t n;
    const char *bytes = luaL_checklstring(L, 1, &n);
    const char *name = luaL_optstring(L, 2, "(image)");
    ml_rfile_t *f;
    if (ml_rfile_open_image(&f, bytes, n, name))
        return ml__push_failure(L);
    return push_reader(L, f);
}

static const char *check_path(lua_State *L, const char *fname)
{
    const char *path = luaL_checkstring(L, 2);
    if (path[0] != '/')
        ml__raise(L, "%s: object path '%s' must start with '/'", fname, path);
    return path;
}

/* r:kind(path) -> "group" | "dataset" | "other" | false (nothing there) | nil, message */
static int r_kind(lua_State *L)
{
    ml_rfile_t *f = check_reader(L, "rfile:kind");
    const char *path = check_path(L, "rfile:kind");
    ml_rkind_t k;
    if (ml_rfile_kind(f, path, &k))
        return ml__push_failure(L);
    static const char *const names[] = {NULL, "group", "dataset", "other"};
    if (k == ML_RKIND_NONE)
        lua_pushboolean(L, 0);
    else
        lua_pushstring(L, names[k]);
    return 1;
}

/* r:list(group) -> { names in byte order } | nil, message */
static int r_list(lua_State *L)
{
    ml_rfile_t *f = check_reader(L, "rfile:list");
    const char *path = check_path(L, "rfile:list");
    box_t *b = push_box(L);
    b->kind = BOX_NAMES;
    if (ml_rfile_list(f, path, &b->names, &b->nnames))
        return ml__push_failure(L);
    b->filled = 1;
    lua_createtable(L, (int)(b->nnames < 1 << 20 ? b->nnames : 0), 0);
    for (int64_t i = 0; i < b->nnames; i++) {
        lua_pushstring(L, b->names[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 1;
}

/* r:attrs(obj) -> { name = value } (integers, floats, strings) | nil, message */
static int r_attrs(lua_State *L)
{
    ml_rfile_t *f = check_reader(L, "rfile:attrs");
    const char *path = check_path(L, "rfile:attrs");
    box_t *b = push_box(L);
    b->kind = BOX_ATTRS;
    if (ml_rfile_attrs(f, path, &b->attrs, &b->nattrs))
        return ml__push_failure(L);
    b->filled = 1;
    lua_createtable(L, 0, b->nattrs);
    for (int i = 0; i < b->nattrs; i++) {
        const ml_rvalue_t *v = &b->attrs[i].v;
        if (v->type == ML_COL_INT64)
            lua_pushinteger(L, (lua_Integer)v->i);
        else if (v->type == ML_COL_FLOAT64)
            lua_pushnumber(L, (lua_Number)v->d);
        else
            lua_pushstring(L, v->s);
        lua_setfield(L, -2, b->attrs[i].name);
    }
    return 1;
}

/* r:table(path) -> columns, nrows | nil, message. columns is a list of {name =, type =
 * "int" | "float" | "string", values = {...}} in the table's field order, the form
 * core.results' writer takes. */
static int r_table(lua_State *L)
{
    static const char *const types[] = {"int", "float", "string"};
    ml_rfile_t *f = check_reader(L, "rfile:table");
    const char *path = check_path(L, "rfile:table");
    box_t *b = push_box(L);
    b->kind = BOX_TABLE;
    if (ml_rfile_table(f, path, &b->table))
        return ml__push_failure(L);
    b->filled = 1;
    const ml_rtable_t *t = &b->table;
    int prealloc = t->nrows < 1 << 24 ? (int)t->nrows : 0;
    lua_createtable(L, t->ncols, 0);
    for (int c = 0; c < t->ncols; c++) {
        const ml_rcolumn_t *col = &t->cols[c];
        lua_createtable(L, 0, 3);
        lua_pushstring(L, col->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, types[col->type]);
        lua_setfield(L, -2, "type");
        lua_createtable(L, prealloc, 0);
        for (int64_t i = 0; i < t->nrows; i++) {
            if (col->type == ML_COL_INT64)
                lua_pushinteger(L, (lua_Integer)((const int64_t *)col->data)[i]);
            else if (col->type == ML_COL_FLOAT64)
                lua_pushnumber(L, (lua_Number)((const double *)col->data)[i]);
            else
                lua_pushstring(L, ((char *const *)col->data)[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "values");
        lua_rawseti(L, -2, c + 1);
    }
    lua_pushinteger(L, (lua_Integer)t->nrows);
    return 2;
}

/* r:tensor(path) -> float32 tensor with the dataset's shape | nil, message */
static int r_tensor(lua_State *L)
{
    ml_rfile_t *f = check_reader(L, "rfile:tensor");
    const char *path = check_path(L, "rfile:tensor");
    /* The Lua tensor exists (a placeholder scalar) before the file's data is read, and takes
     * it over with no call that can raise in between. */
    ml_tensor_t *dst = ml__push_tensor(L, 0, NULL, "rfile:tensor");
    ml_tensor_t t;
    if (ml_rfile_tensor(f, path, &t))
        return ml__push_failure(L);
    ml_tensor_free(dst);
    *dst = t;
    return 1;
}

static int r_name(lua_State *L)
{
    ml_rfile_t *f = check_reader(L, "rfile:name");
    lua_pushstring(L, ml_rfile_name(f));
    return 1;
}

static int r_close(lua_State *L)
{
    lrfile_t *u = luaL_checkudata(L, 1, ML_RFILE_MT);
    ml_rfile_close(u->f);
    u->f = NULL;
    return 0;
}

static const luaL_Reg methods[] = {{"kind", r_kind},     {"list", r_list},   {"attrs", r_attrs},
                                   {"table", r_table},   {"tensor", r_tensor},
                                   {"name", r_name},     {"close", r_close}, {NULL, NULL}};
static const luaL_Reg functions[] = {{"open", r_open}, {"image", r_image}, {NULL, NULL}};

int ml__open_rfile(lua_State *L)
{
    luaL_newmetatable(L, ML_RFILE_MT);
    lua_pushcfunction(L, r_close);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, r_close);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, ML_RFILE_BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
