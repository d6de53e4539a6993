/* core.synth: seeded synthetic sequence data (synth.h) for moonlab.data.synthetic.
 *   core.synth.sine(seed, n, freq, phase, amplitude, noise)            -> series (n, 1)
 *   core.synth.ar(seed, n, {phi...}, c, noise, burn)                   -> series (n, 1)
 *   core.synth.adding(seed, n, t)                                      -> x (n, t, 2), y (n, 1)
 *   core.synth.copy(seed, n, t, len, symbols)                          -> x, y (n, t + 2 len)
 *   core.synth.steps(n)                                                -> (n, 1): 1..n
 *   core.synth.tagging(seed, n, t, vocab, ambiguous, names, p)         -> x, y (n, t),
 *                                                     best expected accuracy, best on sample
 * Bad arguments raise with the engine's message (it names the argument and value). */
#include <stdlib.h>

#include "lcommon.h"
#include "moonlab/synth.h"

static uint64_t check_seed(lua_State *L, int idx)
{
    return (uint64_t)luaL_checkinteger(L, idx);
}

static int y_sine(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    double f = luaL_checknumber(L, 3), ph = luaL_checknumber(L, 4), a = luaL_checknumber(L, 5),
           noise = luaL_checknumber(L, 6);
    ml_tensor_t *s = ml__push_empty_tensor(L, "synth.sine");
    return ml_synth_sine(s, (int64_t)n, f, ph, a, noise, seed) ? ml__raise_engine(L) : 1;
}

static int y_ar(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    double c = luaL_checknumber(L, 4), noise = luaL_checknumber(L, 5);
    lua_Integer burn = luaL_checkinteger(L, 6);
    lua_Integer p = luaL_len(L, 3);
    if (p < 1 || p > 1000)
        ml__raise(L, "ar: %d coefficients, 1 to 1000 needed", (int)p);
    double *phi = lua_newuserdatauv(L, (size_t)p * sizeof *phi, 0); /* Lua-owned scratch */
    for (lua_Integer i = 0; i < p; i++) {
        lua_geti(L, 3, i + 1);
        int ok;
        phi[i] = lua_tonumberx(L, -1, &ok);
        if (!ok)
            ml__raise(L, "ar: coefficient %d is %s, not a number", (int)i + 1,
                      luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    ml_tensor_t *s = ml__push_empty_tensor(L, "synth.ar");
    if (ml_synth_ar(s, (int64_t)n, phi, (int)p, c, noise, (int64_t)burn, seed))
        return ml__raise_engine(L);
    return 1;
}

static int y_adding(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), t = luaL_checkinteger(L, 3);
    ml_tensor_t *x = ml__push_empty_tensor(L, "synth.adding");
    ml_tensor_t *y = ml__push_empty_tensor(L, "synth.adding");
    return ml_synth_adding(x, y, (int64_t)n, (int64_t)t, seed) ? ml__raise_engine(L) : 2;
}

static int y_copy(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), t = luaL_checkinteger(L, 3),
                len = luaL_checkinteger(L, 4), k = luaL_checkinteger(L, 5);
    if (k < 1 || k > 1000000)
        ml__raise(L, "copy: symbols = %d, needs 1 to 1000000", (int)k);
    ml_tensor_t *x = ml__push_empty_tensor(L, "synth.copy");
    ml_tensor_t *y = ml__push_empty_tensor(L, "synth.copy");
    if (ml_synth_copy(x, y, (int64_t)n, (int64_t)t, (int64_t)len, (int)k, seed))
        return ml__raise_engine(L);
    return 2;
}

static int y_tagging(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    lua_Integer n = luaL_checkinteger(L, 2), t = luaL_checkinteger(L, 3);
    ml_tagging_t o;
    lua_Integer v = luaL_checkinteger(L, 4), a = luaL_checkinteger(L, 5),
                nm = luaL_checkinteger(L, 6);
    if (v < 1 || v > (1 << 24) || a < 0 || a > v || nm < 0 || nm > v)
        ml__raise(L, "tagging: vocab %d, ambiguous %d, names %d out of range", (int)v, (int)a,
                  (int)nm);
    o.vocab = (int)v;
    o.ambiguous = (int)a;
    o.names = (int)nm;
    o.p_ambiguous = luaL_checknumber(L, 7);
    ml_tensor_t *x = ml__push_empty_tensor(L, "synth.tagging");
    ml_tensor_t *y = ml__push_empty_tensor(L, "synth.tagging");
    double best, sample;
    if (ml_synth_tagging(x, y, (int64_t)n, (int64_t)t, &o, seed, &best, &sample))
        return ml__raise_engine(L);
    lua_pushnumber(L, best);
    lua_pushnumber(L, sample);
    return 4;
}

/* core.synth.steps(n) -> (n, 1): 1, 2, ..., n (time steps of a series) */
static int y_steps(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    if (n < 1 || n > ((lua_Integer)1 << 40))
        ml__raise(L, "steps: n = %d, needs n >= 1", (int)n);
    int64_t shape[2] = {(int64_t)n, 1};
    ml_tensor_t *t = ml__push_tensor(L, 2, shape, "synth.steps");
    for (int64_t i = 0; i < (int64_t)n; i++)
        t->data[i] = (float)(i + 1);
    return 1;
}

int ml__open_synth(lua_State *L)
{
    static const luaL_Reg fns[] = {{"sine", y_sine},     {"ar", y_ar},
                                   {"adding", y_adding}, {"copy", y_copy},
                                   {"tagging", y_tagging}, {"steps", y_steps},
                                   {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
