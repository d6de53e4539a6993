/* core.pre: preprocessing (preprocess.h) for moonlab.data's fitted transforms.
 *   core.pre.moments(x, rows|nil, global)            -> mean, std
 *   core.pre.range(x, rows|nil, global)              -> min, max, width (max - min, 1 for 0)
 *   core.pre.affine(x, rows|nil, shift, scale, span, offset, inverse) -> new tensor
 *   core.pre.label_count(labels, rows|nil)           -> classes (1 + largest label)
 *   core.pre.one_hot(labels, rows|nil, classes)      -> (n, classes)
 *   core.pre.windows(series, window, horizon, step)  -> x, y (nil when horizon is 0)
 * rows is an index set (the rows of a subset). Every failure raises with the engine's message,
 * which names the argument and value. */
#include <string.h>

#include "lcommon.h"
#include "moonlab/preprocess.h"

static const int64_t *opt_rows(lua_State *L, int idx, int64_t *n, const char *fname)
{
    *n = 0;
    if (lua_isnoneornil(L, idx))
        return NULL;
    return ml__check_index(L, idx, n, fname);
}

static int p_stats(lua_State *L, int moments)
{
    const char *fname = moments ? "pre.moments" : "pre.range";
    ml_tensor_t *x = ml__check_tensor(L, 1, fname);
    int64_t n;
    const int64_t *rows = opt_rows(L, 2, &n, fname);
    int global = lua_toboolean(L, 3);
    ml_tensor_t *a = ml__push_empty_tensor(L, fname), *b = ml__push_empty_tensor(L, fname);
    int rc = moments ? ml_pre_moments(a, b, x, rows, n, global)
                     : ml_pre_range(a, b, x, rows, n, global);
    if (rc)
        return ml__raise_engine(L);
    if (moments)
        return 2;
    /* range also gives the width max - min, 1 where it is 0 (a constant feature maps to the
     * range's start) */
    ml_tensor_t *w = ml__push_tensor(L, a->ndim, a->shape, fname);
    int64_t k = ml_tensor_numel(a);
    for (int64_t i = 0; i < k; i++) {
        float d = b->data[i] - a->data[i];
        w->data[i] = d > 0.0f ? d : 1.0f;
    }
    return 3;
}

static int p_moments(lua_State *L) { return p_stats(L, 1); }
static int p_range(lua_State *L) { return p_stats(L, 0); }

static int p_affine(lua_State *L)
{
    const char *fname = "pre.affine";
    ml_tensor_t *x = ml__check_tensor(L, 1, fname);
    int64_t n;
    const int64_t *rows = opt_rows(L, 2, &n, fname);
    ml_tensor_t *shift = ml__check_tensor(L, 3, fname), *scale = ml__check_tensor(L, 4, fname);
    double span = luaL_checknumber(L, 5), offset = luaL_checknumber(L, 6);
    int inverse = lua_toboolean(L, 7);
    ml_tensor_t *out = ml__push_empty_tensor(L, fname);
    if (ml_pre_affine(out, x, rows, n, shift, scale, span, offset, inverse))
        return ml__raise_engine(L);
    return 1;
}

static int p_label_count(lua_State *L)
{
    const char *fname = "pre.label_count";
    ml_tensor_t *y = ml__check_tensor(L, 1, fname);
    int64_t n, c;
    const int64_t *rows = opt_rows(L, 2, &n, fname);
    if (ml_pre_label_count(&c, y, rows, n))
        return ml__raise_engine(L);
    lua_pushinteger(L, (lua_Integer)c);
    return 1;
}

static int p_one_hot(lua_State *L)
{
    const char *fname = "pre.one_hot";
    ml_tensor_t *y = ml__check_tensor(L, 1, fname);
    int64_t n;
    const int64_t *rows = opt_rows(L, 2, &n, fname);
    lua_Integer c = luaL_checkinteger(L, 3);
    ml_tensor_t *out = ml__push_empty_tensor(L, fname);
    return ml_pre_one_hot(out, y, rows, n, (int64_t)c) ? ml__raise_engine(L) : 1;
}

static int p_windows(lua_State *L)
{
    const char *fname = "pre.windows";
    ml_tensor_t *s = ml__check_tensor(L, 1, fname);
    lua_Integer w = luaL_checkinteger(L, 2), k = luaL_checkinteger(L, 3),
                step = luaL_checkinteger(L, 4);
    ml_tensor_t *x = ml__push_empty_tensor(L, fname), *y = ml__push_empty_tensor(L, fname);
    if (ml_pre_windows(x, y, s, (int64_t)w, (int64_t)k, (int64_t)step))
        return ml__raise_engine(L);
    if (k == 0) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
    return 2;
}

int ml__open_preprocess(lua_State *L)
{
    static const luaL_Reg fns[] = {{"moments", p_moments},         {"range", p_range},
                                   {"affine", p_affine},           {"label_count", p_label_count},
                                   {"one_hot", p_one_hot},         {"windows", p_windows},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
