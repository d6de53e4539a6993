/* Distribution shift (core.shift): generators, tests and corrections of
 * engine/include/moonlab/shift.h. A view is passed as two arguments, a tensor and an index set
 * of its rows (or nil for all rows), as datasets and their subsets hold them. Class labels and
 * row positions are 0-based in C and 1-based in Lua (an index set shows positions plus one);
 * class values themselves are the dataset's labels (0..C-1) on both sides. The Lua module
 * lua/moonlab/shift.lua reads the options and calls these. Temporary buffers are userdata, so
 * nothing malloc'd is held when something raises. */
#include <math.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/shift.h"

/* A scratch buffer owned by a new userdata on the stack. */
static void *scratch(lua_State *L, size_t bytes)
{
    return lua_newuserdatauv(L, bytes ? bytes : 1, 0);
}

/* View: tensor at idx, rows at idx + 1 (an index set or nil). */
static ml_shift_rows_t check_view(lua_State *L, int idx, const char *fname)
{
    ml_tensor_t *t = ml__check_tensor(L, idx, fname);
    if (t->ndim < 1)
        ml__raise(L, "%s: argument %d: a scalar tensor has no rows", fname, idx);
    if (lua_isnoneornil(L, idx + 1))
        return ml_shift_view(t, NULL, 0);
    int64_t n;
    const int64_t *rows = ml__check_index(L, idx + 1, &n, fname);
    ml_shift_rows_t v = ml_shift_view(t, rows, n);
    if (ml_shift_check_view(&v, fname, "rows"))
        ml__raise_engine(L);
    return v;
}

static uint64_t check_seed(lua_State *L, int idx, const char *fname)
{
    return (uint64_t)ml__check_integer(L, idx, "seed", fname);
}

static int64_t opt_int(lua_State *L, int idx, int64_t def, const char *what, const char *fname)
{
    return lua_isnoneornil(L, idx) ? def : ml__check_integer(L, idx, what, fname);
}

static double check_num(lua_State *L, int idx, const char *what, const char *fname)
{
    if (lua_type(L, idx) != LUA_TNUMBER)
        ml__raise(L, "%s: %s must be a number, got %s", fname, what,
                  luaL_tolstring(L, idx, NULL));
    return (double)lua_tonumber(L, idx);
}

static double opt_num(lua_State *L, int idx, double def, const char *what, const char *fname)
{
    return lua_isnoneornil(L, idx) ? def : check_num(L, idx, what, fname);
}

/* A list of numbers at idx as doubles (a userdata left on the stack); *n its length. */
static double *check_numbers(lua_State *L, int idx, int64_t *n, const char *what,
                             const char *fname)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE)
        ml__raise(L, "%s: %s must be a list of numbers, got %s", fname, what,
                  luaL_typename(L, idx));
    int64_t len = (int64_t)luaL_len(L, idx);
    double *v = scratch(L, (size_t)len * sizeof *v);
    for (int64_t i = 0; i < len; i++) {
        if (lua_geti(L, idx, i + 1) != LUA_TNUMBER)
            ml__raise(L, "%s: %s[%I] is %s, expected a number", fname, what, (lua_Integer)i + 1,
                      luaL_tolstring(L, -1, NULL));
        v[i] = (double)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    *n = len;
    return v;
}

static void push_numbers(lua_State *L, const double *v, int64_t n)
{
    lua_createtable(L, (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        lua_pushnumber(L, (lua_Number)v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Positions out[0..n) (0-based) as an index set. */
static void push_positions(lua_State *L, const int64_t *out, int64_t n)
{
    int64_t *r = ml__push_index(L, n);
    memcpy(r, out, (size_t)n * sizeof *r);
}

/* A count argument (classes, iterations) already read: raises unless it is in 1..max. */
static void check_count(lua_State *L, int64_t v, int64_t max, const char *what,
                        const char *fname)
{
    if (v < 1 || v > max)
        ml__raise(L, "%s: %s = %I is outside 1..%I", fname, what, (lua_Integer)v,
                  (lua_Integer)max);
}

/* A class k, when the class count C is known (> 0): raises unless 0 <= k < C. */
static void check_class(lua_State *L, int64_t k, int64_t C, const char *fname)
{
    if (C > 0 && (k < 0 || k >= C))
        ml__raise(L, "%s: class = %I is outside the %I classes 0..%I", fname, (lua_Integer)k,
                  (lua_Integer)C, (lua_Integer)C - 1);
}

/* A new tensor of the given shape holding v (as many doubles as the shape has elements). */
static ml_tensor_t *push_doubles(lua_State *L, const double *v, int ndim, const int64_t *shape,
                                 const char *fname)
{
    ml_tensor_t *t = ml__push_tensor(L, ndim, shape, fname);
    int64_t n = ml_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        t->data[i] = (float)v[i];
    return t;
}

/* Class labels of a view (a userdata left on the stack). */
static int64_t *labels_of(lua_State *L, const ml_shift_rows_t *y, int64_t nclasses,
                          const char *fname, const char *what)
{
    int64_t *lab = scratch(L, (size_t)y->n * sizeof *lab);
    if (ml_shift_labels(lab, y, nclasses, fname, what))
        ml__raise_engine(L);
    return lab;
}

/* Predicted labels (labels or scores) of a view; *nc receives the class count. */
static int64_t *predicted_of(lua_State *L, const ml_shift_rows_t *p, int64_t nclasses,
                             int64_t *nc, const char *fname, const char *what)
{
    int64_t *lab = scratch(L, (size_t)p->n * sizeof *lab);
    if (ml_shift_predicted(lab, nc, p, nclasses, fname, what))
        ml__raise_engine(L);
    return lab;
}

/* ---- generators ---- */

/* core.shift.select(x, rows, features, coef, bias, size, seed) -> index of view positions */
static int s_select(lua_State *L)
{
    const char *fname = "selection";
    ml_shift_rows_t x = check_view(L, 1, fname);
    int64_t k, kc;
    double *fd = check_numbers(L, 3, &k, "features", fname);
    double *coef = check_numbers(L, 4, &kc, "coef", fname);
    if (kc != k)
        ml__raise(L, "%s: %I features but %I coefficients", fname, (lua_Integer)k,
                  (lua_Integer)kc);
    int64_t *feat = scratch(L, (size_t)k * sizeof *feat);
    for (int64_t j = 0; j < k; j++) {
        if (fd[j] != floor(fd[j]) || !(fabs(fd[j]) < 0x1p52))
            ml__raise(L, "%s: features[%I] = %f is not a whole number", fname, (lua_Integer)j + 1,
                      fd[j]);
        feat[j] = (int64_t)fd[j] - 1;
    }
    double bias = opt_num(L, 5, 0, "bias", fname);
    int64_t size = opt_int(L, 6, 0, "size", fname);
    uint64_t seed = check_seed(L, 7, fname);
    if (size < 0)
        ml__raise(L, "%s: size = %I is negative", fname, (lua_Integer)size);
    int64_t cap = size > 0 ? size : x.n, m;
    int64_t *out = scratch(L, (size_t)cap * sizeof *out);
    if (ml_shift_select_logistic(out, &m, &x, feat, coef, k, bias, size, seed, fname))
        ml__raise_engine(L);
    push_positions(L, out, m);
    return 1;
}

/* core.shift.corrupt(x, rows, kind, level, fraction, height, width, seed)
 * -> x' (n, ...), changed rows, index of corrupted positions */
static int s_corrupt(lua_State *L)
{
    const char *fname = "corrupt";
    ml_shift_rows_t x = check_view(L, 1, fname);
    const char *kname = luaL_checkstring(L, 3);
    int kind = ml_corruption_from_name(kname);
    if (kind < 0)
        ml__raise(L, "%s: kind = '%s' is not a corruption (noise, brightness, contrast, invert, "
                  "blur)", fname, kname);
    double level = opt_num(L, 4, 0, "level", fname);
    double fraction = check_num(L, 5, "fraction", fname);
    int64_t height = opt_int(L, 6, 0, "height", fname), width = opt_int(L, 7, 0, "width", fname);
    uint64_t seed = check_seed(L, 8, fname);
    int64_t shape[ML_MAX_DIMS];
    memcpy(shape, x.t->shape, sizeof shape);
    shape[0] = x.n;
    uint8_t *picked = scratch(L, (size_t)x.n);
    ml_tensor_t *out = ml__push_tensor(L, x.t->ndim, shape, fname);
    int64_t changed;
    if (ml_shift_corrupt(out, picked, &changed, &x, (ml_corruption_t)kind, level, fraction,
                         height, width, seed, fname))
        ml__raise_engine(L);
    lua_pushinteger(L, changed);
    int64_t np = 0;
    for (int64_t i = 0; i < x.n; i++)
        np += picked[i];
    int64_t *r = ml__push_index(L, np);
    np = 0;
    for (int64_t i = 0; i < x.n; i++)
        if (picked[i])
            r[np++] = i;
    return 3;
}

/* core.shift.resample(y, rows, priors, size, replace, seed) -> index */
static int s_resample(lua_State *L)
{
    const char *fname = lua_isstring(L, 7) ? lua_tostring(L, 7) : "resample";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t C;
    double *priors = check_numbers(L, 3, &C, "priors", fname);
    if (ml_shift_check_priors(priors, C, fname, "priors"))
        ml__raise_engine(L);
    int64_t *lab = labels_of(L, &y, C, fname, "y");
    int64_t size = opt_int(L, 4, 0, "size", fname);
    int replace = lua_toboolean(L, 5);
    uint64_t seed = check_seed(L, 6, fname);
    if (size < 0)
        ml__raise(L, "%s: size = %I is negative", fname, (lua_Integer)size);
    int64_t cap = replace ? (size > 0 ? size : y.n) : y.n, m;
    int64_t *out = scratch(L, (size_t)cap * sizeof *out);
    if (ml_shift_resample(out, &m, lab, y.n, priors, C, size, replace, seed, fname))
        ml__raise_engine(L);
    push_positions(L, out, m);
    return 1;
}

/* core.shift.dirichlet(C, alpha, seed) -> priors */
static int s_dirichlet(lua_State *L)
{
    const char *fname = "dirichlet";
    int64_t C = ml__check_integer(L, 1, "classes", fname);
    double alpha = check_num(L, 2, "alpha", fname);
    uint64_t seed = check_seed(L, 3, fname);
    check_count(L, C, 1000000, "classes", fname);
    double *p = scratch(L, (size_t)C * sizeof *p);
    if (ml_shift_dirichlet(p, C, alpha, seed, fname))
        ml__raise_engine(L);
    push_numbers(L, p, C);
    return 1;
}

/* core.shift.tweak_one(C, class, rho) -> priors */
static int s_tweak_one(lua_State *L)
{
    const char *fname = "tweak_one";
    int64_t C = ml__check_integer(L, 1, "classes", fname);
    int64_t k = ml__check_integer(L, 2, "class", fname);
    double rho = check_num(L, 3, "rho", fname);
    check_count(L, C, 1000000, "classes", fname);
    double *p = scratch(L, (size_t)C * sizeof *p);
    if (ml_shift_tweak_one(p, C, k, rho, fname))
        ml__raise_engine(L);
    push_numbers(L, p, C);
    return 1;
}

/* core.shift.knock_out(y, rows, class, fraction, seed, classes) -> index */
static int s_knock_out(lua_State *L)
{
    const char *fname = "knock_out";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t k = ml__check_integer(L, 3, "class", fname);
    double fraction = check_num(L, 4, "fraction", fname);
    uint64_t seed = check_seed(L, 5, fname);
    int64_t C = opt_int(L, 6, 0, "classes", fname);
    int64_t *lab = labels_of(L, &y, C, fname, "y");
    check_class(L, k, C, fname);
    int64_t *out = scratch(L, (size_t)y.n * sizeof *out), m;
    if (ml_shift_knock_out(out, &m, lab, y.n, k, fraction, seed, fname))
        ml__raise_engine(L);
    push_positions(L, out, m);
    return 1;
}

/* core.shift.keep_class(y, rows, class, classes) -> index */
static int s_keep_class(lua_State *L)
{
    const char *fname = "only_class";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t k = ml__check_integer(L, 3, "class", fname);
    int64_t C = opt_int(L, 4, 0, "classes", fname);
    int64_t *lab = labels_of(L, &y, C, fname, "y");
    check_class(L, k, C, fname);
    int64_t *out = scratch(L, (size_t)y.n * sizeof *out), m;
    if (ml_shift_keep_class(out, &m, lab, y.n, k, fname))
        ml__raise_engine(L);
    push_positions(L, out, m);
    return 1;
}

/* core.shift.relabel(y, rows, map, x, feature, threshold, above, fraction, seed)
 * -> y' (shaped like y), changed rows. map[c + 1] is class c's new label; feature is 1-based
 * or nil (every row). */
static int s_relabel(lua_State *L)
{
    const char *fname = "relabel";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t C;
    double *md = check_numbers(L, 3, &C, "map", fname);
    int64_t *map = scratch(L, (size_t)C * sizeof *map);
    for (int64_t c = 0; c < C; c++) {
        if (md[c] != floor(md[c]) || !(fabs(md[c]) < 0x1p52))
            ml__raise(L, "%s: map entry for class %I is %f, not a class", fname, (lua_Integer)c,
                      md[c]);
        map[c] = (int64_t)md[c];
    }
    ml_relabel_t rule = {map, C, -1, 0, 1, 1.0};
    ml_shift_rows_t x = {0};
    if (!lua_isnoneornil(L, 5)) {
        rule.feature = ml__check_integer(L, 5, "feature", fname) - 1;
        if (rule.feature < 0)
            ml__raise(L, "%s: feature = %I must be >= 1", fname, (lua_Integer)rule.feature + 1);
        x = ml_shift_view(ml__check_tensor(L, 4, fname), NULL, 0);
        rule.threshold = check_num(L, 6, "threshold", fname);
        rule.above = lua_toboolean(L, 7);
    }
    rule.fraction = opt_num(L, 8, 1.0, "fraction", fname);
    uint64_t seed = check_seed(L, 9, fname);
    ml_tensor_t *out = ml__push_tensor(L, y.t->ndim, y.t->shape, fname);
    int64_t changed;
    if (ml_shift_relabel(out, &changed, &y, x.t ? &x : NULL, &rule, seed, fname))
        ml__raise_engine(L);
    lua_pushinteger(L, changed);
    return 2;
}

/* core.shift.describe(x_before, rows_b, y_before, x_after, rows_a, y_after, classes)
 * -> {n_before, n_after, mean_shift, mean_diff (D tensor), classes, priors_before,
 *     priors_after}; priors only when both y hold class labels. */
static int s_describe(lua_State *L)
{
    const char *fname = "shift report";
    ml_shift_rows_t xb = check_view(L, 1, fname), xa = check_view(L, 4, fname);
    int64_t D = ml_shift_width(&xb);
    double *diff = scratch(L, (size_t)D * sizeof *diff), norm;
    if (ml_shift_mean_shift(diff, &norm, &xb, &xa, fname))
        ml__raise_engine(L);
    int64_t C = opt_int(L, 7, 0, "classes", fname);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, xb.n);
    lua_setfield(L, -2, "n_before");
    lua_pushinteger(L, xa.n);
    lua_setfield(L, -2, "n_after");
    lua_pushnumber(L, norm);
    lua_setfield(L, -2, "mean_shift");
    int64_t shape[1] = {D};
    push_doubles(L, diff, 1, shape, fname);
    lua_setfield(L, -2, "mean_diff");
    int tab = lua_gettop(L);
    if (lua_isnoneornil(L, 3) || lua_isnoneornil(L, 6))
        return 1;
    ml_tensor_t *yb = ml__check_tensor(L, 3, fname), *ya = ml__check_tensor(L, 6, fname);
    if (yb->ndim < 1 || yb->shape[0] != xb.t->shape[0] || ya->ndim < 1 ||
        ya->shape[0] != xa.t->shape[0])
        ml__raise(L, "%s: x and y have different numbers of rows", fname);
    ml_shift_rows_t vb = {yb, xb.rows, xb.n}, va = {ya, xa.rows, xa.n};
    int64_t cb, ca;
    if (!ml_shift_is_classes(&vb, &cb) || !ml_shift_is_classes(&va, &ca))
        return 1;
    C = C > 0 ? C : (cb > ca ? cb : ca);
    if (cb > C || ca > C)
        return 1;
    int64_t *lb = labels_of(L, &vb, C, fname, "y"), *la = labels_of(L, &va, C, fname, "y");
    double *pb = scratch(L, (size_t)C * sizeof *pb), *pa = scratch(L, (size_t)C * sizeof *pa);
    ml_shift_priors(pb, lb, vb.n, C);
    ml_shift_priors(pa, la, va.n, C);
    lua_pushinteger(L, C);
    lua_setfield(L, tab, "classes");
    push_numbers(L, pb, C);
    lua_setfield(L, tab, "priors_before");
    push_numbers(L, pa, C);
    lua_setfield(L, tab, "priors_after");
    lua_settop(L, tab);
    return 1;
}

/* core.shift.priors(y, rows, classes) -> class frequencies */
static int s_priors(lua_State *L)
{
    const char *fname = "priors";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t C = opt_int(L, 3, 0, "classes", fname);
    int64_t *lab = labels_of(L, &y, C, fname, "y");
    if (C <= 0)
        for (int64_t i = 0; i < y.n; i++)
            C = lab[i] + 1 > C ? lab[i] + 1 : C;
    double *p = scratch(L, (size_t)(C > 0 ? C : 1) * sizeof *p);
    ml_shift_priors(p, lab, y.n, C);
    push_numbers(L, p, C);
    return 1;
}

/* core.shift.class_weights(y, rows, w) -> (n) tensor of w[label + 1] */
static int s_class_weights(lua_State *L)
{
    const char *fname = "class_weights";
    ml_shift_rows_t y = check_view(L, 1, fname);
    int64_t C;
    double *w = check_numbers(L, 3, &C, "weights", fname);
    for (int64_t c = 0; c < C; c++)
        if (!(w[c] >= 0) || isinf(w[c]))
            ml__raise(L, "%s: weights[%I] = %f; class weights are finite and >= 0", fname,
                      (lua_Integer)c + 1, w[c]);
    int64_t *lab = labels_of(L, &y, C, fname, "y");
    int64_t shape[1] = {y.n};
    ml_tensor_t *out = ml__push_tensor(L, 1, shape, fname);
    for (int64_t i = 0; i < y.n; i++)
        out->data[i] = (float)w[lab[i]];
    return 1;
}

/* core.shift.scatter(w (n), rows, N) -> (N) tensor with w[i] at rows[i], 0 elsewhere; a row
 * listed twice must get the same weight. */
static int s_scatter(lua_State *L)
{
    const char *fname = "weighted";
    ml_tensor_t *w = ml__check_tensor(L, 1, fname);
    int64_t n;
    const int64_t *rows = ml__check_index(L, 2, &n, fname);
    int64_t N = ml__check_integer(L, 3, "rows of the dataset", fname);
    if (w->ndim != 1 || w->shape[0] != n)
        ml__raise(L, "%s: %I weights for %I rows", fname,
                  (lua_Integer)(w->ndim >= 1 ? w->shape[0] : 0), (lua_Integer)n);
    if (N < 0)
        ml__raise(L, "%s: %I rows", fname, (lua_Integer)N);
    int64_t shape[1] = {N};
    ml_tensor_t *out = ml__push_tensor(L, 1, shape, fname);
    uint8_t *set = scratch(L, (size_t)N);
    memset(set, 0, (size_t)N);
    for (int64_t i = 0; i < n; i++) {
        int64_t r = rows[i];
        float v = w->data[i * w->stride[0]];
        if (r < 0 || r >= N)
            ml__raise(L, "%s: row %I is outside 1..%I", fname, (lua_Integer)r + 1, (lua_Integer)N);
        if (set[r] && out->data[r] != v)
            ml__raise(L, "%s: row %I appears twice in the subset with weights %f and %f; "
                      "materialize the dataset first (data.materialize)", fname,
                      (lua_Integer)r + 1, (double)out->data[r], (double)v);
        out->data[r] = v;
        set[r] = 1;
    }
    lua_pop(L, 1);
    return 1;
}

/* ---- detection ---- */

/* core.shift.ks(a, rows_a, b, rows_b) -> statistics, p-values (lists), Bonferroni p */
static int s_ks(lua_State *L)
{
    const char *fname = "ks_test";
    ml_shift_rows_t a = check_view(L, 1, fname), b = check_view(L, 3, fname);
    int64_t D = ml_shift_width(&a);
    double *st = scratch(L, (size_t)D * sizeof *st), *p = scratch(L, (size_t)D * sizeof *p), pa;
    if (ml_shift_ks_test(st, p, &pa, &a, &b, fname))
        ml__raise_engine(L);
    push_numbers(L, st, D);
    push_numbers(L, p, D);
    lua_pushnumber(L, pa);
    return 3;
}

/* core.shift.chi2(pa, rows_a, pb, rows_b, classes) -> statistic, df, p, {counts a}, {counts b} */
static int s_chi2(lua_State *L)
{
    const char *fname = "chi2_test";
    ml_shift_rows_t a = check_view(L, 1, fname), b = check_view(L, 3, fname);
    int64_t C = opt_int(L, 5, 0, "classes", fname), ca, cb;
    if (C <= 0) { /* the score columns, else the largest label seen */
        predicted_of(L, &a, 0, &ca, fname, "source");
        predicted_of(L, &b, 0, &cb, fname, "target");
        C = ca > cb ? ca : cb;
    }
    check_count(L, C, 100000, "classes", fname);
    int64_t *la = predicted_of(L, &a, C, NULL, fname, "source");
    int64_t *lb = predicted_of(L, &b, C, NULL, fname, "target");
    int64_t *table = scratch(L, (size_t)(2 * C) * sizeof *table);
    double stat, df, p;
    if (ml_shift_chi2_test(&stat, &df, &p, table, la, a.n, lb, b.n, C, fname))
        ml__raise_engine(L);
    lua_pushnumber(L, stat);
    lua_pushnumber(L, df);
    lua_pushnumber(L, p);
    for (int s = 0; s < 2; s++) {
        lua_createtable(L, (int)C, 0);
        for (int64_t c = 0; c < C; c++) {
            lua_pushinteger(L, table[s * C + c]);
            lua_rawseti(L, -2, c + 1);
        }
    }
    return 5;
}

/* core.shift.mmd(a, rows_a, b, rows_b, permutations, bandwidth, seed) -> mmd2, p, sigma */
static int s_mmd(lua_State *L)
{
    const char *fname = "mmd_test";
    ml_shift_rows_t a = check_view(L, 1, fname), b = check_view(L, 3, fname);
    int64_t perms = ml__check_integer(L, 5, "permutations", fname);
    double bw = opt_num(L, 6, 0, "bandwidth", fname);
    uint64_t seed = check_seed(L, 7, fname);
    double mmd2, p, sigma;
    if (ml_shift_mmd_test(&mmd2, &p, &sigma, &a, &b, perms, bw, seed, fname))
        ml__raise_engine(L);
    lua_pushnumber(L, mmd2);
    lua_pushnumber(L, p);
    lua_pushnumber(L, sigma);
    return 3;
}

/* core.shift.domain(a, rows_a, b, rows_b, holdout, l2, seed) -> accuracy, correct, total, p */
static int s_domain(lua_State *L)
{
    const char *fname = "classifier_test";
    ml_shift_rows_t a = check_view(L, 1, fname), b = check_view(L, 3, fname);
    double holdout = check_num(L, 5, "holdout", fname), l2 = check_num(L, 6, "l2", fname);
    uint64_t seed = check_seed(L, 7, fname);
    double acc, p;
    int64_t correct, total;
    if (ml_shift_domain_test(&acc, &correct, &total, &p, &a, &b, holdout, l2, seed, fname))
        ml__raise_engine(L);
    lua_pushnumber(L, acc);
    lua_pushinteger(L, correct);
    lua_pushinteger(L, total);
    lua_pushnumber(L, p);
    return 4;
}

/* ---- correction ---- */

/* core.shift.logreg(x0, rows0, x1, rows1, l2, max_iter, tol) -> weights (D tensor), bias, iters */
static int s_logreg(lua_State *L)
{
    const char *fname = "domain_classifier";
    ml_shift_rows_t a = check_view(L, 1, fname), b = check_view(L, 3, fname);
    double l2 = check_num(L, 5, "l2", fname);
    int64_t max_iter = opt_int(L, 6, 100, "max_iter", fname);
    double tol = opt_num(L, 7, 1e-8, "tol", fname);
    check_count(L, max_iter, 100000, "max_iter", fname);
    int64_t D = ml_shift_width(&a);
    double *coef = scratch(L, (size_t)(D + 1) * sizeof *coef);
    int iters;
    if (ml_shift_logreg(coef, &iters, &a, &b, l2, (int)max_iter, tol, fname))
        ml__raise_engine(L);
    int64_t shape[1] = {D};
    push_doubles(L, coef, 1, shape, fname);
    lua_pushnumber(L, coef[D]);
    lua_pushinteger(L, iters);
    return 3;
}

/* core.shift.importance(x, rows, weights (D), bias, ratio, clip) -> (n) tensor */
static int s_importance(lua_State *L)
{
    const char *fname = "importance_weights";
    ml_shift_rows_t x = check_view(L, 1, fname);
    ml_tensor_t *w = ml__check_tensor(L, 3, fname);
    int64_t D = ml_shift_width(&x);
    if (w->ndim != 1 || w->shape[0] != D)
        ml__raise(L, "%s: %I classifier weights for rows of %I values", fname,
                  (lua_Integer)(w->ndim >= 1 ? w->shape[0] : 0), (lua_Integer)D);
    double bias = check_num(L, 4, "bias", fname), ratio = check_num(L, 5, "ratio", fname);
    double clip = opt_num(L, 6, 0, "clip", fname);
    double *coef = scratch(L, (size_t)(D + 1) * sizeof *coef);
    for (int64_t j = 0; j < D; j++)
        coef[j] = w->data[j * w->stride[0]];
    coef[D] = bias;
    int64_t shape[1] = {x.n};
    ml_tensor_t *out = ml__push_tensor(L, 1, shape, fname);
    if (ml_shift_importance(out->data, &x, coef, ratio, clip, fname))
        ml__raise_engine(L);
    return 1;
}

/* core.shift.bbse(ps, rows, ys, rows, pt, rows, classes, ridge)
 * -> weights, priors, mu (lists), confusion (C, C) tensor, source priors (list) */
static int s_bbse(lua_State *L)
{
    const char *fname = "bbse";
    ml_shift_rows_t ps = check_view(L, 1, fname), ys = check_view(L, 3, fname);
    ml_shift_rows_t pt = check_view(L, 5, fname);
    int64_t C = opt_int(L, 7, 0, "classes", fname), c1 = 0, c2 = 0;
    double ridge = opt_num(L, 8, -1, "ridge", fname);
    if (ps.n != ys.n)
        ml__raise(L, "%s: %I source predictions for %I source labels", fname, (lua_Integer)ps.n,
                  (lua_Integer)ys.n);
    if (C <= 0) { /* the classes: the score columns, else the largest label seen */
        int64_t c3 = 0;
        predicted_of(L, &ps, 0, &c1, fname, "source predictions");
        predicted_of(L, &pt, 0, &c2, fname, "target predictions");
        const int64_t *yl = labels_of(L, &ys, 0, fname, "source labels");
        for (int64_t i = 0; i < ys.n; i++)
            c3 = yl[i] + 1 > c3 ? yl[i] + 1 : c3;
        C = c1 > c2 ? c1 : c2;
        C = c3 > C ? c3 : C;
    }
    check_count(L, C, 100000, "classes", fname);
    int64_t *lps = predicted_of(L, &ps, C, NULL, fname, "source predictions");
    int64_t *lys = labels_of(L, &ys, C, fname, "source labels");
    int64_t *lpt = predicted_of(L, &pt, C, NULL, fname, "target predictions");
    double *w = scratch(L, (size_t)C * sizeof *w), *pr = scratch(L, (size_t)C * sizeof *pr);
    double *mu = scratch(L, (size_t)C * sizeof *mu), *src = scratch(L, (size_t)C * sizeof *src);
    double *conf = scratch(L, (size_t)(C * C) * sizeof *conf);
    if (ml_shift_bbse(w, conf, mu, pr, lps, lys, ps.n, lpt, pt.n, C, ridge, fname))
        ml__raise_engine(L);
    for (int64_t j = 0; j < C; j++)
        src[j] = 0;
    for (int64_t i = 0; i < C * C; i++)
        src[i % C] += conf[i];
    push_numbers(L, w, C);
    push_numbers(L, pr, C);
    push_numbers(L, mu, C);
    int64_t shape[2] = {C, C};
    push_doubles(L, conf, 2, shape, fname);
    push_numbers(L, src, C);
    return 5;
}

/* Probabilities (m, C) of a view of scores as a userdata on the stack. */
static double *probs_of(lua_State *L, const ml_shift_rows_t *v, int logits, int64_t *C,
                        const char *fname)
{
    char s[64];
    if (v->t->ndim != 2)
        ml__raise(L, "%s: probabilities are %s, expected (N,C)", fname,
                  ml_shape_str(s, sizeof s, v->t));
    *C = v->t->shape[1];
    double *p = scratch(L, (size_t)(v->n * *C) * sizeof *p);
    if (ml_shift_probabilities(p, v, logits, fname))
        ml__raise_engine(L);
    return p;
}

/* core.shift.em(probs, rows, source_priors, tol, max_iter, logits)
 * -> priors (list), posteriors (m, C), iterations, converged */
static int s_em(lua_State *L)
{
    const char *fname = "em";
    ml_shift_rows_t v = check_view(L, 1, fname);
    int64_t C, Cs;
    double *sp = check_numbers(L, 3, &Cs, "source_priors", fname);
    double tol = opt_num(L, 4, 1e-6, "tol", fname);
    int64_t max_iter = opt_int(L, 5, 100, "max_iter", fname);
    int logits = lua_toboolean(L, 6);
    check_count(L, max_iter, 1000000, "max_iter", fname);
    double *p = probs_of(L, &v, logits, &C, fname);
    if (Cs != C)
        ml__raise(L, "%s: source_priors has %I entries for %I classes", fname, (lua_Integer)Cs,
                  (lua_Integer)C);
    double *pr = scratch(L, (size_t)C * sizeof *pr);
    double *post = scratch(L, (size_t)(v.n * C) * sizeof *post);
    int iters, conv;
    if (ml_shift_em(pr, post, &iters, &conv, p, v.n, sp, C, tol, (int)max_iter, fname))
        ml__raise_engine(L);
    push_numbers(L, pr, C);
    int64_t shape[2] = {v.n, C};
    push_doubles(L, post, 2, shape, fname);
    lua_pushinteger(L, iters);
    lua_pushboolean(L, conv);
    return 4;
}

/* core.shift.recalibrate(probs, rows, w, logits) -> (m, C) probabilities */
static int s_recalibrate(lua_State *L)
{
    const char *fname = "recalibrate";
    ml_shift_rows_t v = check_view(L, 1, fname);
    int64_t C, Cw;
    double *w = check_numbers(L, 3, &Cw, "weights", fname);
    int logits = lua_toboolean(L, 4);
    double *p = probs_of(L, &v, logits, &C, fname);
    if (Cw != C)
        ml__raise(L, "%s: %I class weights for %I classes", fname, (lua_Integer)Cw,
                  (lua_Integer)C);
    if (ml_shift_recalibrate(p, v.n, w, C, fname))
        ml__raise_engine(L);
    int64_t shape[2] = {v.n, C};
    push_doubles(L, p, 2, shape, fname);
    return 1;
}

/* ---- distributions ---- */

static int d_kolmogorov_sf(lua_State *L)
{
    lua_pushnumber(L, ml_stat_kolmogorov_sf(luaL_checknumber(L, 1)));
    return 1;
}

static int d_ks2_sf(lua_State *L)
{
    int64_t n = ml__check_integer(L, 1, "n", "ks2_sf"), m = ml__check_integer(L, 2, "m", "ks2_sf");
    double d = check_num(L, 3, "d", "ks2_sf");
    if (n < 1 || m < 1 || n * (double)m > 1e9)
        ml__raise(L, "ks2_sf: n = %I, m = %I (each >= 1, n m <= 1e9)", (lua_Integer)n,
                  (lua_Integer)m);
    lua_pushnumber(L, ml_stat_ks2_exact_sf(n, m, (int64_t)llround(d * (double)n * (double)m)));
    return 1;
}

static int d_chi2_sf(lua_State *L)
{
    lua_pushnumber(L, ml_stat_chi2_sf(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
    return 1;
}

static int d_gamma_q(lua_State *L)
{
    lua_pushnumber(L, ml_stat_gamma_q(luaL_checknumber(L, 1), luaL_checknumber(L, 2)));
    return 1;
}

static int d_binom_sf(lua_State *L)
{
    int64_t k = ml__check_integer(L, 1, "k", "binom_sf");
    int64_t n = ml__check_integer(L, 2, "n", "binom_sf");
    lua_pushnumber(L, ml_stat_binom_sf(k, n, luaL_checknumber(L, 3)));
    return 1;
}

static const luaL_Reg functions[] = {
    {"select", s_select},
    {"corrupt", s_corrupt},
    {"resample", s_resample},
    {"dirichlet", s_dirichlet},
    {"tweak_one", s_tweak_one},
    {"knock_out", s_knock_out},
    {"keep_class", s_keep_class},
    {"relabel", s_relabel},
    {"describe", s_describe},
    {"priors", s_priors},
    {"class_weights", s_class_weights},
    {"scatter", s_scatter},
    {"ks", s_ks},
    {"chi2", s_chi2},
    {"mmd", s_mmd},
    {"domain", s_domain},
    {"logreg", s_logreg},
    {"importance", s_importance},
    {"bbse", s_bbse},
    {"em", s_em},
    {"recalibrate", s_recalibrate},
    {"kolmogorov_sf", d_kolmogorov_sf},
    {"ks2_sf", d_ks2_sf},
    {"chi2_sf", d_chi2_sf},
    {"gamma_q", d_gamma_q},
    {"binom_sf", d_binom_sf},
    {NULL, NULL}};

int ml__open_shift(lua_State *L)
{
    luaL_newlib(L, functions);
    return 1;
}
