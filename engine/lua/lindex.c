/* Index sets (moonlab.index): row numbers of a dataset, as splits return them. Stored 0-based
 * as int64 in C, shown 1-based in Lua like every other index. */
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"

static ml_lindex_t *check_index(lua_State *L, int idx, const char *fname)
{
    ml_lindex_t *u = luaL_testudata(L, idx, ML_INDEX_MT);
    if (!u)
        ml__raise(L, "%s: expected an index set, got %s", fname, luaL_typename(L, idx));
    return u;
}

const int64_t *ml__check_index(lua_State *L, int idx, int64_t *n, const char *fname)
{
    ml_lindex_t *u = check_index(L, idx, fname);
    *n = u->n;
    return u->rows;
}

int64_t *ml__push_index(lua_State *L, int64_t n)
{
    if (n < 0 || n > ((int64_t)1 << 40))
        ml__raise(L, "index: %lld entries", (long long)n);
    ml_lindex_t *u = lua_newuserdatauv(L, sizeof *u + (size_t)n * sizeof(int64_t), 0);
    u->n = n;
    luaL_setmetatable(L, ML_INDEX_MT);
    return u->rows;
}

/* core.index.new{3, 1, 2} (1-based) or core.index.new(n) = 1..n */
static int i_new(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TNUMBER) {
        lua_Integer n = luaL_checkinteger(L, 1);
        if (n < 0)
            ml__raise(L, "index.new: size %lld is negative", (long long)n);
        int64_t *r = ml__push_index(L, n);
        for (int64_t i = 0; i < n; i++)
            r[i] = i;
        return 1;
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    int64_t n = (int64_t)luaL_len(L, 1);
    int64_t *r = ml__push_index(L, n);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, 1, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 1)
            ml__raise(L, "index.new: entry %lld is %s, expected a row number >= 1",
                      (long long)i + 1, luaL_tolstring(L, -1, NULL));
        r[i] = v - 1;
        lua_pop(L, 1);
    }
    return 1;
}

static int i_len(lua_State *L)
{
    lua_pushinteger(L, check_index(L, 1, "index length")->n);
    return 1;
}

static int i_index(lua_State *L)
{
    ml_lindex_t *u = check_index(L, 1, "index");
    if (lua_type(L, 2) != LUA_TNUMBER) {
        luaL_getmetatable(L, ML_INDEX_MT);
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        return 1;
    }
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > u->n)
        ml__raise(L, "index: position %lld out of range 1..%lld", (long long)i, (long long)u->n);
    lua_pushinteger(L, u->rows[i - 1] + 1);
    return 1;
}

static int i_totable(lua_State *L)
{
    ml_lindex_t *u = check_index(L, 1, "index:totable");
    lua_createtable(L, (int)u->n, 0);
    for (int64_t i = 0; i < u->n; i++) {
        lua_pushinteger(L, u->rows[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* a:take(b) -> a[b]: entries of a at the positions b names (composing selections). */
static int i_take(lua_State *L)
{
    ml_lindex_t *a = check_index(L, 1, "index:take");
    ml_lindex_t *b = check_index(L, 2, "index:take");
    for (int64_t i = 0; i < b->n; i++)
        if (b->rows[i] >= a->n)
            ml__raise(L, "index:take: position %lld is %lld, outside 1..%lld", (long long)i + 1,
                      (long long)b->rows[i] + 1, (long long)a->n);
    int64_t *r = ml__push_index(L, b->n);
    for (int64_t i = 0; i < b->n; i++)
        r[i] = a->rows[b->rows[i]];
    return 1;
}

/* idx:max() -> the largest row number (1-based); 0 for an empty set. */
static int i_max(lua_State *L)
{
    ml_lindex_t *u = check_index(L, 1, "index:max");
    int64_t mx = -1;
    for (int64_t i = 0; i < u->n; i++)
        mx = u->rows[i] > mx ? u->rows[i] : mx;
    lua_pushinteger(L, mx + 1);
    return 1;
}

/* core.index.gather(tensor, index) -> a new tensor of the selected rows (dimension 1). */
static int i_gather(lua_State *L)
{
    ml_tensor_t *t = ml__check_tensor(L, 1, "index.gather");
    ml_lindex_t *u = check_index(L, 2, "index.gather");
    if (t->ndim < 1)
        ml__raise(L, "index.gather: a scalar tensor has no rows");
    for (int64_t i = 0; i < u->n; i++)
        if (u->rows[i] >= t->shape[0])
            ml__raise(L, "index.gather: row %lld is outside 1..%lld", (long long)u->rows[i] + 1,
                      (long long)t->shape[0]);
    int64_t shape[ML_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = u->n;
    ml_tensor_t *out = ml__push_tensor(L, t->ndim, shape, "index.gather");
    for (int64_t i = 0; i < u->n; i++) {
        ml_tensor_t src, dst;
        ml_tensor_rows(&src, t, u->rows[i], 1);
        ml_tensor_rows(&dst, out, i, 1);
        ml_tensor_copy(&dst, &src);
    }
    return 1;
}

static int i_tostring(lua_State *L)
{
    ml_lindex_t *u = check_index(L, 1, "index");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "index(%d)", (int)u->n);
    luaL_addvalue(&b);
    int64_t show = u->n < 12 ? u->n : 12;
    for (int64_t i = 0; i < show; i++) {
        lua_pushfstring(L, " %d", (int)(u->rows[i] + 1));
        luaL_addvalue(&b);
    }
    if (show < u->n)
        luaL_addstring(&b, " ...");
    luaL_pushresult(&b);
    return 1;
}

static int i_is_index(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, ML_INDEX_MT) != NULL);
    return 1;
}

static const luaL_Reg methods[] = {{"totable", i_totable}, {"take", i_take}, {"max", i_max},
                                   {"__index", i_index},   {"__len", i_len},
                                   {"__tostring", i_tostring}, {NULL, NULL}};
static const luaL_Reg functions[] = {
    {"new", i_new}, {"gather", i_gather}, {"is_index", i_is_index}, {NULL, NULL}};

int ml__open_index(lua_State *L)
{
    luaL_newmetatable(L, ML_INDEX_MT);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
