/* Cross-validation splits (core.split): each splitter builds a plan (moonlab.split userdata,
 * engine/include/moonlab/split.h) whose folds come out as index sets, 1-based in Lua, one fold
 * at a time (plan:fold(i), O(N)). Labels, groups and test folds are 1-D tensors, (N,1)
 * tensors, or Lua lists of numbers or of strings. The Lua module lua/moonlab/split.lua reads
 * the options and calls these. */
#include <math.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/split.h"

#define ML_SPLIT_MT "moonlab.split"

static ml_split_t *check_plan(lua_State *L, int idx, const char *fname)
{
    ml_split_t *s = luaL_testudata(L, idx, ML_SPLIT_MT);
    if (!s)
        ml__raise(L, "%s: expected a split plan, got %s", fname, luaL_typename(L, idx));
    return s;
}

/* A zeroed plan on the stack, freed by __gc: the engine fills it, so nothing malloc'd is ever
 * held outside a Lua object while something can raise. */
static ml_split_t *push_plan(lua_State *L)
{
    ml_split_t *s = lua_newuserdatauv(L, sizeof *s, 0);
    *s = (ml_split_t){0};
    luaL_setmetatable(L, ML_SPLIT_MT);
    return s;
}

/* Integral and safely convertible to int64 (labels that are whole numbers keep their values;
 * others are ranked as doubles). */
static int is_whole(double v)
{
    return isfinite(v) && v == floor(v) && fabs(v) < 0x1p62;
}

_Noreturn static void not_classes(lua_State *L, const char *fname, const float *v,
                                  int64_t stride, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!is_whole(v[i * stride]))
            ml__raise(L, "%s: labels row %I is %f: class labels must be whole numbers or "
                      "strings (is this a regression target?)", fname, (lua_Integer)i + 1,
                      (double)v[i * stride]);
    ml__raise(L, "%s: labels are not whole numbers", fname);
}

/* Values (n) at idx as int64 with the labels' order: whole numbers as themselves, other
 * numbers and strings by rank. Class labels (`what` is "labels") must be whole numbers or
 * strings, as scikit-learn refuses to stratify on a continuous target. The buffer is a
 * userdata left on the stack. */
static int64_t *check_labels(lua_State *L, int idx, int64_t n, const char *what,
                             const char *fname)
{
    int classes = strcmp(what, "labels") == 0;
    idx = lua_absindex(L, idx);
    int64_t *out = lua_newuserdatauv(L, sizeof *out * (size_t)(n ? n : 1), 0);
    if (luaL_testudata(L, idx, ML_TENSOR_MT)) {
        ml_tensor_t *t = ml__check_tensor(L, idx, fname);
        if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1)))
            ml__raise(L, "%s: %s must be one value per row, a (N) or (N,1) tensor; got %d "
                      "dimensions", fname, what, t->ndim);
        if (t->shape[0] != n)
            ml__raise(L, "%s: %s has %I rows for %I samples", fname, what,
                      (lua_Integer)t->shape[0], (lua_Integer)n);
        int whole = 1;
        for (int64_t i = 0; i < n && whole; i++)
            whole = is_whole(t->data[i * t->stride[0]]);
        if (whole) {
            for (int64_t i = 0; i < n; i++)
                out[i] = (int64_t)t->data[i * t->stride[0]];
            return out;
        }
        if (classes)
            not_classes(L, fname, t->data, t->stride[0], n);
        double *v = lua_newuserdatauv(L, sizeof *v * (size_t)(n ? n : 1), 0);
        for (int64_t i = 0; i < n; i++)
            v[i] = t->data[i * t->stride[0]];
        int64_t nc;
        if (ml_split_encode_f64(out, &nc, v, n, fname))
            ml__raise_engine(L);
        lua_pop(L, 1);
        return out;
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        ml__raise(L, "%s: %s must be a tensor or a list, got %s", fname, what,
                  luaL_typename(L, idx));
    int64_t len = (int64_t)luaL_len(L, idx);
    if (len != n)
        ml__raise(L, "%s: %s has %I entries for %I samples", fname, what, (lua_Integer)len,
                  (lua_Integer)n);
    if (n == 0)
        return out;
    lua_geti(L, idx, 1);
    int strings = lua_type(L, -1) == LUA_TSTRING;
    lua_pop(L, 1);
    if (strings) {
        const char **v = lua_newuserdatauv(L, sizeof *v * (size_t)n, 0);
        for (int64_t i = 0; i < n; i++) {
            if (lua_geti(L, idx, i + 1) != LUA_TSTRING)
                ml__raise(L, "%s: %s entry %I is a %s; the list holds strings", fname, what,
                          (lua_Integer)i + 1, luaL_typename(L, -1));
            v[i] = lua_tostring(L, -1); /* kept alive by the list */
            lua_pop(L, 1);
        }
        int64_t nc;
        if (ml_split_encode_str(out, &nc, v, n, fname))
            ml__raise_engine(L);
        lua_pop(L, 1);
        return out;
    }
    int whole = 1;
    for (int64_t i = 0; i < n; i++) {
        if (lua_geti(L, idx, i + 1) != LUA_TNUMBER)
            ml__raise(L, "%s: %s entry %I is a %s; expected a number or a string", fname,
                      what, (lua_Integer)i + 1, luaL_typename(L, -1));
        if (lua_isinteger(L, -1))
            out[i] = (int64_t)lua_tointeger(L, -1);
        else if (is_whole(lua_tonumber(L, -1)))
            out[i] = (int64_t)lua_tonumber(L, -1);
        else
            whole = 0;
        lua_pop(L, 1);
    }
    if (whole)
        return out;
    for (int64_t i = 0; classes && i < n; i++) {
        lua_geti(L, idx, i + 1);
        if (!lua_isinteger(L, -1) && !is_whole(lua_tonumber(L, -1)))
            ml__raise(L, "%s: labels entry %I is %f: class labels must be whole numbers or "
                      "strings (is this a regression target?)", fname, (lua_Integer)i + 1,
                      lua_tonumber(L, -1));
        lua_pop(L, 1);
    }
    double *v = lua_newuserdatauv(L, sizeof *v * (size_t)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_geti(L, idx, i + 1);
        if (lua_isinteger(L, -1) && fabs((double)lua_tointeger(L, -1)) > 0x1p53)
            ml__raise(L, "%s: %s entry %I = %s is too large to compare with fractional "
                      "labels", fname, what, (lua_Integer)i + 1, lua_tostring(L, -1));
        v[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    int64_t nc;
    if (ml_split_encode_f64(out, &nc, v, n, fname))
        ml__raise_engine(L);
    lua_pop(L, 1);
    return out;
}

/* nil: not given; an integer: a count; another number: a fraction. */
static ml_split_size_t check_size(lua_State *L, int idx, const char *what, const char *fname)
{
    ml_split_size_t z = {ML_SIZE_NONE, 0, 0};
    if (lua_isnoneornil(L, idx))
        return z;
    if (lua_type(L, idx) != LUA_TNUMBER)
        ml__raise(L, "%s: %s must be a fraction (a float in (0, 1)) or a count (an integer), "
                  "got %s", fname, what, luaL_typename(L, idx));
    if (lua_isinteger(L, idx)) {
        z.kind = ML_SIZE_COUNT;
        z.count = (int64_t)lua_tointeger(L, idx);
    } else {
        z.kind = ML_SIZE_FRACTION;
        z.fraction = lua_tonumber(L, idx);
    }
    return z;
}

static uint64_t check_seed(lua_State *L, int idx, const char *fname)
{
    return (uint64_t)ml__check_integer(L, idx, "seed", fname);
}

/* core.split.kfold(n, k, shuffle, seed) */
static int s_kfold(lua_State *L)
{
    const char *fname = "kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 2, "k", fname);
    int shuffle = lua_toboolean(L, 3);
    uint64_t seed = check_seed(L, 4, fname);
    if (ml_split_kfold(push_plan(L), n, k, shuffle, seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.repeated_kfold(n, k, repeats, seed) */
static int s_repeated_kfold(lua_State *L)
{
    const char *fname = "repeated_kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 2, "k", fname);
    int64_t repeats = ml__check_integer(L, 3, "repeats", fname);
    uint64_t seed = check_seed(L, 4, fname);
    if (ml_split_repeated_kfold(push_plan(L), n, k, repeats, seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.stratified_kfold(n, labels, k, shuffle, seed) */
static int s_stratified_kfold(lua_State *L)
{
    const char *fname = "stratified_kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 3, "k", fname);
    int shuffle = lua_toboolean(L, 4);
    uint64_t seed = check_seed(L, 5, fname);
    const int64_t *y = check_labels(L, 2, n, "labels", fname);
    if (ml_split_stratified_kfold(push_plan(L), y, n, k, shuffle, seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.repeated_stratified_kfold(n, labels, k, repeats, seed) */
static int s_repeated_stratified_kfold(lua_State *L)
{
    const char *fname = "repeated_stratified_kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 3, "k", fname);
    int64_t repeats = ml__check_integer(L, 4, "repeats", fname);
    uint64_t seed = check_seed(L, 5, fname);
    const int64_t *y = check_labels(L, 2, n, "labels", fname);
    if (ml_split_repeated_stratified_kfold(push_plan(L), y, n, k, repeats, seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.group_kfold(n, groups, k) */
static int s_group_kfold(lua_State *L)
{
    const char *fname = "group_kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 3, "k", fname);
    const int64_t *g = check_labels(L, 2, n, "groups", fname);
    if (ml_split_group_kfold(push_plan(L), g, n, k))
        ml__raise_engine(L);
    return 1;
}

/* core.split.stratified_group_kfold(n, labels, groups, k, shuffle, seed) */
static int s_stratified_group_kfold(lua_State *L)
{
    const char *fname = "stratified_group_kfold";
    int64_t n = ml__check_integer(L, 1, "n", fname), k = ml__check_integer(L, 4, "k", fname);
    int shuffle = lua_toboolean(L, 5);
    uint64_t seed = check_seed(L, 6, fname);
    const int64_t *y = check_labels(L, 2, n, "labels", fname);
    const int64_t *g = check_labels(L, 3, n, "groups", fname);
    if (ml_split_stratified_group_kfold(push_plan(L), y, g, n, k, shuffle, seed))
        ml__raise_engine(L);
    return 1;
}

/* Sizes of a shuffle split from (train, test) at idx, idx+1 over `total` rows or groups. */
static void shuffle_sizes(lua_State *L, int idx, int64_t total, double default_test,
                          int64_t out[3], const char *fname, const char *unit)
{
    ml_split_size_t train = check_size(L, idx, "train", fname);
    ml_split_size_t test = check_size(L, idx + 1, "test", fname);
    ml_split_size_t none = {ML_SIZE_NONE, 0, 0};
    if (ml_split_sizes(out, total, train, none, test, default_test, fname, unit))
        ml__raise_engine(L);
}

/* core.split.shuffle_split(n, splits, train, test, seed) */
static int s_shuffle_split(lua_State *L)
{
    const char *fname = "shuffle_split";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    int64_t splits = ml__check_integer(L, 2, "splits", fname);
    uint64_t seed = check_seed(L, 5, fname);
    int64_t z[3];
    shuffle_sizes(L, 3, n, 0.1, z, fname, "samples");
    if (ml_split_shuffle(push_plan(L), n, splits, z[0], z[2], seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.stratified_shuffle_split(n, labels, splits, train, test, seed) */
static int s_stratified_shuffle_split(lua_State *L)
{
    const char *fname = "stratified_shuffle_split";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    int64_t splits = ml__check_integer(L, 3, "splits", fname);
    uint64_t seed = check_seed(L, 6, fname);
    int64_t z[3];
    shuffle_sizes(L, 4, n, 0.1, z, fname, "samples");
    const int64_t *y = check_labels(L, 2, n, "labels", fname);
    if (ml_split_stratified_shuffle(push_plan(L), y, n, splits, z[0], z[2], seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.group_shuffle_split(n, groups, splits, train, test, seed): sizes count groups. */
static int s_group_shuffle_split(lua_State *L)
{
    const char *fname = "group_shuffle_split";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    int64_t splits = ml__check_integer(L, 3, "splits", fname);
    ml_split_size_t train = check_size(L, 4, "train", fname);
    ml_split_size_t test = check_size(L, 5, "test", fname);
    uint64_t seed = check_seed(L, 6, fname);
    const int64_t *g = check_labels(L, 2, n, "groups", fname);
    if (ml_split_group_shuffle(push_plan(L), g, n, splits, train, test, seed))
        ml__raise_engine(L);
    return 1;
}

/* core.split.leave_one_out(n) */
static int s_leave_one_out(lua_State *L)
{
    int64_t n = ml__check_integer(L, 1, "n", "leave_one_out");
    if (ml_split_leave_one_out(push_plan(L), n))
        ml__raise_engine(L);
    return 1;
}

/* core.split.leave_p_out(n, p) */
static int s_leave_p_out(lua_State *L)
{
    int64_t n = ml__check_integer(L, 1, "n", "leave_p_out");
    int64_t p = ml__check_integer(L, 2, "p", "leave_p_out");
    if (ml_split_leave_p_out(push_plan(L), n, p))
        ml__raise_engine(L);
    return 1;
}

/* core.split.leave_one_group_out(n, groups) */
static int s_leave_one_group_out(lua_State *L)
{
    const char *fname = "leave_one_group_out";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    const int64_t *g = check_labels(L, 2, n, "groups", fname);
    if (ml_split_leave_one_group_out(push_plan(L), g, n))
        ml__raise_engine(L);
    return 1;
}

/* core.split.time_series_split(n, splits, test | nil, gap, max_train | nil) */
static int s_time_series_split(lua_State *L)
{
    const char *fname = "time_series_split";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    int64_t splits = ml__check_integer(L, 2, "splits", fname);
    int64_t test = lua_isnoneornil(L, 3) ? 0 : ml__check_integer(L, 3, "test", fname);
    int64_t gap = ml__check_integer(L, 4, "gap", fname);
    int64_t max_train = lua_isnoneornil(L, 5) ? 0 : ml__check_integer(L, 5, "max_train", fname);
    if (!lua_isnoneornil(L, 3) && test < 1)
        ml__raise(L, "%s: test = %I: needs at least 1 row", fname, (lua_Integer)test);
    if (!lua_isnoneornil(L, 5) && max_train < 1)
        ml__raise(L, "%s: max_train = %I: needs at least 1 row", fname, (lua_Integer)max_train);
    if (ml_split_time_series(push_plan(L), n, splits, test, gap, max_train))
        ml__raise_engine(L);
    return 1;
}

/* core.split.predefined_split(n, test_fold): whole numbers, -1 = always train. */
static int s_predefined_split(lua_State *L)
{
    const char *fname = "predefined_split";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    int64_t *tf = lua_newuserdatauv(L, sizeof *tf * (size_t)(n ? n : 1), 0);
    if (luaL_testudata(L, 2, ML_TENSOR_MT)) {
        ml_tensor_t *t = ml__check_tensor(L, 2, fname);
        if (t->ndim != 1 || t->shape[0] != n)
            ml__raise(L, "%s: test_fold must be a (%I) tensor, one entry per sample",
                      fname, (lua_Integer)n);
        for (int64_t i = 0; i < n; i++) {
            double v = t->data[i * t->stride[0]];
            if (!is_whole(v))
                ml__raise(L, "%s: test_fold entry %I is %f, expected a whole fold number "
                          "or -1", fname, (lua_Integer)i + 1, v);
            tf[i] = (int64_t)v;
        }
    } else {
        if (lua_type(L, 2) != LUA_TTABLE)
            ml__raise(L, "%s: test_fold must be a tensor or a list, got %s", fname,
                      luaL_typename(L, 2));
        int64_t len = (int64_t)luaL_len(L, 2);
        if (len != n)
            ml__raise(L, "%s: test_fold has %I entries for %I samples", fname,
                      (lua_Integer)len, (lua_Integer)n);
        for (int64_t i = 0; i < n; i++) {
            int ok = lua_geti(L, 2, i + 1) == LUA_TNUMBER;
            lua_Integer v = ok ? lua_tointegerx(L, -1, &ok) : 0;
            if (!ok)
                ml__raise(L, "%s: test_fold entry %I is %s, expected a whole fold number "
                          "or -1", fname, (lua_Integer)i + 1, luaL_tolstring(L, -1, NULL));
            tf[i] = (int64_t)v;
            lua_pop(L, 1);
        }
    }
    if (ml_split_predefined(push_plan(L), tf, n))
        ml__raise_engine(L);
    return 1;
}

/* Index sets of fold f (0-based) pushed as train, test (and val when `with_val`). */
static int push_fold(lua_State *L, const ml_split_t *s, int64_t f, int with_val)
{
    int64_t ntr, nva, nte;
    if (ml_split_fold_sizes(s, f, &ntr, &nva, &nte))
        ml__raise_engine(L);
    int64_t *train = ml__push_index(L, ntr);
    int64_t *test = ml__push_index(L, nte);
    int64_t *val = with_val ? ml__push_index(L, nva) : NULL;
    if (ml_split_fold(s, f, train, val, test))
        ml__raise_engine(L);
    return with_val ? 3 : 2;
}

/* core.split.holdout(n, labels | nil, train, val, test, shuffle, seed) -> train, test, val */
static int s_holdout(lua_State *L)
{
    const char *fname = "holdout";
    int64_t n = ml__check_integer(L, 1, "n", fname);
    ml_split_size_t train = check_size(L, 3, "train", fname);
    ml_split_size_t val = check_size(L, 4, "val", fname);
    ml_split_size_t test = check_size(L, 5, "test", fname);
    int shuffle = lua_toboolean(L, 6);
    uint64_t seed = check_seed(L, 7, fname);
    int64_t z[3];
    if (ml_split_sizes(z, n, train, val, test, 0.25, fname, "samples"))
        ml__raise_engine(L);
    const int64_t *y = lua_isnoneornil(L, 2) ? NULL : check_labels(L, 2, n, "labels", fname);
    ml_split_t *s = push_plan(L);
    if (ml_split_holdout(s, y, n, z[0], z[1], z[2], shuffle, seed))
        ml__raise_engine(L);
    return push_fold(L, s, 0, 1);
}

/* plan:fold(i) -> train, test (1 <= i <= plan:count()) */
static int p_fold(lua_State *L)
{
    ml_split_t *s = check_plan(L, 1, "split:fold");
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > s->nfolds)
        ml__raise(L, "%s: fold %I outside 1..%I", s->name, (lua_Integer)i,
                  (lua_Integer)s->nfolds);
    return push_fold(L, s, (int64_t)i - 1, 0);
}

static int p_count(lua_State *L)
{
    lua_pushinteger(L, check_plan(L, 1, "split:count")->nfolds);
    return 1;
}

static int p_samples(lua_State *L)
{
    lua_pushinteger(L, check_plan(L, 1, "split:samples")->n);
    return 1;
}

static int p_name(lua_State *L)
{
    lua_pushstring(L, check_plan(L, 1, "split:name")->name);
    return 1;
}

static int p_gc(lua_State *L)
{
    ml_split_free(check_plan(L, 1, "split:__gc"));
    return 0;
}

static const luaL_Reg methods[] = {{"fold", p_fold},       {"count", p_count},
                                   {"samples", p_samples}, {"name", p_name},
                                   {NULL, NULL}};
static const luaL_Reg functions[] = {
    {"kfold", s_kfold},
    {"repeated_kfold", s_repeated_kfold},
    {"stratified_kfold", s_stratified_kfold},
    {"repeated_stratified_kfold", s_repeated_stratified_kfold},
    {"group_kfold", s_group_kfold},
    {"stratified_group_kfold", s_stratified_group_kfold},
    {"shuffle_split", s_shuffle_split},
    {"stratified_shuffle_split", s_stratified_shuffle_split},
    {"group_shuffle_split", s_group_shuffle_split},
    {"leave_one_out", s_leave_one_out},
    {"leave_p_out", s_leave_p_out},
    {"leave_one_group_out", s_leave_one_group_out},
    {"time_series_split", s_time_series_split},
    {"predefined_split", s_predefined_split},
    {"holdout", s_holdout},
    {NULL, NULL}};

int ml__open_split(lua_State *L)
{
    luaL_newmetatable(L, ML_SPLIT_MT);
    lua_pushcfunction(L, p_gc);
    lua_setfield(L, -2, "__gc");
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
