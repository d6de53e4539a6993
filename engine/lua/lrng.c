/* Seeded random streams and initializers as Lua userdata. */
#include <string.h>

#include "lcommon.h"
#include "moonlab/init.h"
#include "moonlab/rng.h"

static ml_rng_t *check_rng(lua_State *L, int idx, const char *fname)
{
    ml_rng_t *r = luaL_testudata(L, idx, ML_RNG_MT);
    if (!r)
        ml__raise(L, "%s: expected a random stream, got %s", fname, luaL_typename(L, idx));
    return r;
}

static int r_new(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    ml_rng_t *r = lua_newuserdatauv(L, sizeof *r, 0);
    ml_rng_seed(r, (uint64_t)seed);
    luaL_setmetatable(L, ML_RNG_MT);
    return 1;
}

/* core.rng.derive(seed, name [, index]) -> child seed (integer) */
static int r_derive(lua_State *L)
{
    lua_Integer seed = luaL_checkinteger(L, 1);
    const char *name = luaL_optstring(L, 2, NULL);
    lua_Integer index = luaL_optinteger(L, 3, 0);
    lua_pushinteger(L, (lua_Integer)ml_seed_derive((uint64_t)seed, name, (uint64_t)index));
    return 1;
}

static int read_shape(lua_State *L, int idx, int64_t *shape, const char *fname)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        shape[0] = luaL_checkinteger(L, idx);
        if (shape[0] < 0)
            luaL_error(L, "%s: size must be >= 0", fname);
        return 1;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    int n = (int)luaL_len(L, idx);
    if (n > ML_MAX_DIMS)
        luaL_error(L, "%s: %d dimensions (at most %d)", fname, n, ML_MAX_DIMS);
    for (int i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        shape[i] = lua_tointeger(L, -1);
        if (shape[i] < 0)
            luaL_error(L, "%s: size %d must be >= 0", fname, i + 1);
        lua_pop(L, 1);
    }
    return n;
}

/* r:uniform(shape [, a, b]) / r:normal(shape [, mean, std]) -> tensor */
static int r_fill(lua_State *L, int normal)
{
    const char *fname = normal ? "rng:normal" : "rng:uniform";
    ml_rng_t *r = check_rng(L, 1, fname);
    int64_t shape[ML_MAX_DIMS];
    int nd = read_shape(L, 2, shape, fname);
    double a = luaL_optnumber(L, 3, 0.0), b = luaL_optnumber(L, 4, 1.0);
    if (normal ? !(b >= 0) : !(b >= a))
        return luaL_error(L, normal ? "%s: std %f must be >= 0" : "%s: upper bound %f below lower",
                          fname, b);
    ml_tensor_t *t = ml__push_tensor(L, nd, shape, fname);
    if (normal)
        ml_rng_normal(r, t->data, ml_tensor_numel(t), (float)a, (float)b);
    else
        ml_rng_uniform(r, t->data, ml_tensor_numel(t), (float)a, (float)b);
    return 1;
}

static int r_uniform(lua_State *L) { return r_fill(L, 0); }
static int r_normal(lua_State *L) { return r_fill(L, 1); }

static int r_float(lua_State *L)
{
    lua_pushnumber(L, ml_rng_double(check_rng(L, 1, "rng:float")));
    return 1;
}

/* r:integer(n) -> uniform in 1..n */
static int r_integer(lua_State *L)
{
    ml_rng_t *r = check_rng(L, 1, "rng:integer");
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 1)
        return luaL_error(L, "rng:integer: n must be >= 1, got %d", (int)n);
    lua_pushinteger(L, (lua_Integer)ml_rng_below(r, (uint64_t)n) + 1);
    return 1;
}

/* r:permutation(n) -> table of 1..n shuffled */
static int r_permutation(lua_State *L)
{
    ml_rng_t *r = check_rng(L, 1, "rng:permutation");
    lua_Integer n = luaL_checkinteger(L, 2);
    if (n < 0 || n > (1 << 26))
        return luaL_error(L, "rng:permutation: n = %d out of range", (int)n);
    int64_t *p = lua_newuserdatauv(L, sizeof *p * (size_t)(n ? n : 1), 0);
    ml_rng_permutation(r, p, n);
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) {
        lua_pushinteger(L, p[i] + 1);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* core.init.fill(tensor, {kind=, a=, b=}, fan_out, fan_in, rng) */
static int i_fill(lua_State *L)
{
    const char *fname = "init";
    ml_tensor_t *t = ml__check_tensor(L, 1, fname);
    luaL_checktype(L, 2, LUA_TTABLE);
    const char *kind = ml__opt_string(L, 2, "kind", "default", fname);
    int k = ml_init_kind_from_name(kind);
    if (k < 0)
        return luaL_error(L, "init: unknown initializer '%s'", kind);
    ml_init_t init = {(ml_init_kind_t)k, (float)ml__opt_number(L, 2, "a", 0.0, fname),
                      (float)ml__opt_number(L, 2, "b", 0.0, fname)};
    lua_Integer fan_out = luaL_checkinteger(L, 3), fan_in = luaL_checkinteger(L, 4);
    ml_rng_t *r = check_rng(L, 5, fname);
    if (!ml_tensor_is_contiguous(t) || fan_out * fan_in != ml_tensor_numel(t))
        return luaL_error(L, "init: tensor must be contiguous with fan_out*fan_in = %d elements",
                          (int)(fan_out * fan_in));
    if (ml_init_fill(t->data, fan_out, fan_in, &init, r))
        return ml__engine_error(L, "init");
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg methods[] = {{"uniform", r_uniform}, {"normal", r_normal},
                                   {"float", r_float},     {"integer", r_integer},
                                   {"permutation", r_permutation}, {NULL, NULL}};
static const luaL_Reg functions[] = {
    {"new", r_new}, {"derive", r_derive}, {"init_fill", i_fill}, {NULL, NULL}};

int ml__open_rng(lua_State *L)
{
    luaL_newmetatable(L, ML_RNG_MT);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
