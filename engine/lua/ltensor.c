/* moonlab tensors as Lua userdata. Indices are 1-based, as everywhere in Lua. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/kernels.h"

static ml_ltensor_t *check_u(lua_State *L, int idx, const char *fname)
{
    ml_ltensor_t *u = luaL_testudata(L, idx, ML_TENSOR_MT);
    if (!u)
        ml__raise(L, "%s: expected a tensor, got %s", fname, luaL_typename(L, idx));
    if (ml__tensor_dead(L, idx))
        luaL_error(L, "%s: tensor is closed", fname);
    return u;
}

/* Shape from either a table {2, 3} or the integer arguments from `first` on. */
static int read_shape(lua_State *L, int first, int64_t *shape, const char *fname)
{
    int n;
    if (lua_type(L, first) == LUA_TTABLE) {
        n = (int)luaL_len(L, first);
        if (n > ML_MAX_DIMS)
            luaL_error(L, "%s: %d dimensions (at most %d)", fname, n, ML_MAX_DIMS);
        for (int i = 0; i < n; i++) {
            lua_geti(L, first, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok || v < 0)
                luaL_error(L, "%s: size %d must be a non-negative integer", fname, i + 1);
            shape[i] = v;
            lua_pop(L, 1);
        }
        return n;
    }
    n = lua_gettop(L) - first + 1;
    if (n > ML_MAX_DIMS)
        luaL_error(L, "%s: %d dimensions (at most %d)", fname, n, ML_MAX_DIMS);
    for (int i = 0; i < n; i++) {
        int ok;
        lua_Integer v = lua_tointegerx(L, first + i, &ok);
        if (!ok || v < 0)
            luaL_error(L, "%s: size %d must be a non-negative integer, got %s", fname, i + 1,
                       luaL_tolstring(L, first + i, NULL));
        shape[i] = v;
    }
    return n < 0 ? 0 : n;
}

static int t_new(lua_State *L)
{
    int64_t shape[ML_MAX_DIMS];
    int n = read_shape(L, 1, shape, "tensor.new");
    ml__push_tensor(L, n, shape, "tensor.new");
    return 1;
}

/* Shape of a nested table of numbers, checked to be rectangular. */
static void nested_shape(lua_State *L, int idx, int depth, int *ndim, int64_t *shape)
{
    if (depth >= ML_MAX_DIMS) {
        luaL_error(L, "tensor.from: more than %d levels of nesting", ML_MAX_DIMS);
        return;
    }
    int64_t n = (int64_t)luaL_len(L, idx);
    shape[depth] = n;
    *ndim = depth + 1;
    if (n > 0) {
        lua_geti(L, idx, 1);
        if (lua_type(L, -1) == LUA_TTABLE)
            nested_shape(L, lua_gettop(L), depth + 1, ndim, shape);
        lua_pop(L, 1);
    }
}

static void nested_fill(lua_State *L, int idx, int depth, int ndim, const int64_t *shape,
                        float **out, int64_t *pos)
{
    if (depth >= ML_MAX_DIMS)
        return;
    int64_t n = (int64_t)luaL_len(L, idx);
    if (n != shape[depth])
        luaL_error(L, "tensor.from: ragged table: a row at depth %d has %lld entries, expected %lld",
                   depth + 1, (long long)n, (long long)shape[depth]);
    for (int64_t i = 1; i <= n; i++) {
        int t = lua_geti(L, idx, i);
        if (depth + 1 < ndim) {
            if (t != LUA_TTABLE)
                luaL_error(L, "tensor.from: ragged table: entry %lld at depth %d is a %s",
                           (long long)i, depth + 1, luaL_typename(L, -1));
            nested_fill(L, lua_gettop(L), depth + 1, ndim, shape, out, pos);
        } else {
            if (t != LUA_TNUMBER)
                luaL_error(L, "tensor.from: entry %lld at depth %d is a %s, expected a number",
                           (long long)i, depth + 1, luaL_typename(L, -1));
            (*out)[(*pos)++] = (float)lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
    }
}

static int t_from(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int ndim = 1;
    int64_t shape[ML_MAX_DIMS] = {0};
    nested_shape(L, 1, 0, &ndim, shape);
    ml_tensor_t *t = ml__push_tensor(L, ndim, shape, "tensor.from");
    float *data = t->data;
    int64_t pos = 0;
    nested_fill(L, 1, 0, ndim, shape, &data, &pos);
    return 1;
}

static int t_shape(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:shape")->t;
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int t_size(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:size")->t;
    if (lua_isnoneornil(L, 2)) {
        lua_pushinteger(L, ml_tensor_numel(t));
        return 1;
    }
    lua_Integer d = luaL_checkinteger(L, 2);
    if (d < 1 || d > t->ndim)
        return luaL_error(L, "tensor:size: dimension %d out of range (tensor has %d)", (int)d,
                          t->ndim);
    lua_pushinteger(L, t->shape[d - 1]);
    return 1;
}

static int t_dim(lua_State *L)
{
    lua_pushinteger(L, check_u(L, 1, "tensor:dim")->t.ndim);
    return 1;
}

static int t_len(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor length")->t;
    lua_pushinteger(L, t->ndim ? t->shape[0] : 1);
    return 1;
}

/* Element index from arguments first..first+ndim-1 (1-based), bounds-checked. */
static void read_index(lua_State *L, ml_tensor_t *t, int first, int64_t *idx, const char *fname)
{
    for (int i = 0; i < t->ndim; i++) {
        int ok;
        lua_Integer v = lua_tointegerx(L, first + i, &ok);
        if (!ok)
            luaL_error(L, "%s: tensor %s needs %d integer indices", fname,
                       ml_shape_str((char[64]){0}, 64, t), t->ndim);
        if (v < 1 || v > t->shape[i])
            luaL_error(L, "%s: index %d is %d, out of range 1..%d", fname, i + 1, (int)v,
                       (int)t->shape[i]);
        idx[i] = v - 1;
    }
}

static int t_get(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:get")->t;
    int64_t idx[ML_MAX_DIMS];
    read_index(L, t, 2, idx, "tensor:get");
    lua_pushnumber(L, *ml_tensor_at(t, idx));
    return 1;
}

static int t_set(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:set")->t;
    int64_t idx[ML_MAX_DIMS];
    read_index(L, t, 2, idx, "tensor:set");
    *ml_tensor_at(t, idx) = (float)luaL_checknumber(L, 2 + t->ndim);
    lua_settop(L, 1);
    return 1;
}

static int t_item(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:item")->t;
    if (ml_tensor_numel(t) != 1)
        return luaL_error(L, "tensor:item: tensor %s has %d elements, expected 1",
                          ml_shape_str((char[64]){0}, 64, t), (int)ml_tensor_numel(t));
    int64_t idx[ML_MAX_DIMS] = {0};
    lua_pushnumber(L, *ml_tensor_at(t, idx));
    return 1;
}

static int t_slice(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:slice")->t;
    lua_Integer d = luaL_checkinteger(L, 2);
    lua_Integer a = luaL_checkinteger(L, 3);
    lua_Integer b = luaL_optinteger(L, 4, a);
    lua_Integer step = luaL_optinteger(L, 5, 1);
    if (d < 1 || d > t->ndim)
        return luaL_error(L, "tensor:slice: dimension %d out of range (tensor has %d)", (int)d,
                          t->ndim);
    ml_tensor_t v;
    if (a < 1 || b > t->shape[d - 1] || b < a - 1)
        return luaL_error(L, "tensor:slice: range %d..%d out of bounds for size %d", (int)a,
                          (int)b, (int)t->shape[d - 1]);
    if (ml_tensor_slice(&v, t, (int)d - 1, a - 1, b, step))
        return ml__engine_error(L, "tensor:slice");
    ml__push_view(L, &v, 1);
    return 1;
}

static int t_transpose(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:transpose")->t;
    lua_Integer d0 = luaL_optinteger(L, 2, 1), d1 = luaL_optinteger(L, 3, 2);
    ml_tensor_t v;
    if (ml_tensor_transpose(&v, t, (int)d0 - 1, (int)d1 - 1))
        return ml__engine_error(L, "tensor:transpose");
    ml__push_view(L, &v, 1);
    return 1;
}

static int t_reshape(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:reshape")->t;
    int64_t shape[ML_MAX_DIMS];
    int n;
    if (lua_type(L, 2) == LUA_TTABLE) {
        n = (int)luaL_len(L, 2);
        if (n > ML_MAX_DIMS)
            return luaL_error(L, "tensor:reshape: %d dimensions (at most %d)", n, ML_MAX_DIMS);
        for (int i = 0; i < n; i++) {
            lua_geti(L, 2, i + 1);
            shape[i] = lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - 1;
        if (n > ML_MAX_DIMS)
            return luaL_error(L, "tensor:reshape: %d dimensions (at most %d)", n, ML_MAX_DIMS);
        for (int i = 0; i < n; i++)
            shape[i] = luaL_checkinteger(L, 2 + i);
    }
    ml_tensor_t v;
    if (ml_tensor_reshape(&v, t, n, shape))
        return ml__engine_error(L, "tensor:reshape");
    ml__push_view(L, &v, 1);
    return 1;
}

static int t_clone(lua_State *L)
{
    ml__push_copy(L, &check_u(L, 1, "tensor:clone")->t, "tensor:clone");
    return 1;
}

static int t_copy(lua_State *L)
{
    ml_tensor_t *dst = &check_u(L, 1, "tensor:copy")->t;
    ml_tensor_t *src = ml__check_tensor(L, 2, "tensor:copy");
    if (ml_tensor_copy(dst, src))
        return ml__engine_error(L, "tensor:copy");
    lua_settop(L, 1);
    return 1;
}

static int t_fill(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:fill")->t;
    ml_tensor_fill(t, (float)luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

/* Contiguous data of t: t itself or a copy pushed on the stack (popped by the caller). */
static const ml_tensor_t *contiguous(lua_State *L, ml_tensor_t *t, int *pushed, const char *fname)
{
    *pushed = 0;
    if (ml_tensor_is_contiguous(t))
        return t;
    *pushed = 1;
    return ml__push_copy(L, t, fname);
}

typedef enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_NORM } reduce_t;

static int reduce(lua_State *L, reduce_t op, const char *fname)
{
    ml_tensor_t *t = &check_u(L, 1, fname)->t;
    int pushed;
    const ml_tensor_t *c = contiguous(L, t, &pushed, fname);
    int64_t n = ml_tensor_numel(c);
    double acc = op == R_MAX ? -INFINITY : op == R_MIN ? INFINITY : 0.0;
    if ((op == R_MAX || op == R_MIN) && n == 0)
        return luaL_error(L, "%s: tensor is empty", fname);
    for (int64_t i = 0; i < n; i++) {
        double v = c->data[i];
        switch (op) {
        case R_SUM: case R_MEAN: acc += v; break;
        case R_MAX: acc = v > acc ? v : acc; break;
        case R_MIN: acc = v < acc ? v : acc; break;
        case R_NORM: acc += v * v; break;
        }
    }
    if (op == R_MEAN)
        acc = n ? acc / (double)n : NAN;
    if (op == R_NORM)
        acc = sqrt(acc);
    lua_pushnumber(L, acc);
    return 1;
}

static int t_sum(lua_State *L) { return reduce(L, R_SUM, "tensor:sum"); }
static int t_mean(lua_State *L) { return reduce(L, R_MEAN, "tensor:mean"); }
static int t_max(lua_State *L) { return reduce(L, R_MAX, "tensor:max"); }
static int t_min(lua_State *L) { return reduce(L, R_MIN, "tensor:min"); }
static int t_norm(lua_State *L) { return reduce(L, R_NORM, "tensor:norm"); }

/* t:argmax() -> (...) the 0-based position of the largest value along the last dimension of
 * (..., C) (class ids, as labels hold them). */
static int t_argmax(lua_State *L)
{
    const char *fname = "tensor:argmax";
    ml_tensor_t *t = &check_u(L, 1, fname)->t;
    char s[64];
    if (t->ndim < 2 || t->shape[t->ndim - 1] < 1)
        return luaL_error(L, "%s: tensor is %s, expected (N,C) or more dimensions with C >= 1",
                          fname, ml_shape_str(s, sizeof s, t));
    ml_tensor_t *out = ml__push_tensor(L, t->ndim - 1, t->shape, fname);
    if (ml_tensor_argmax(out, t))
        return luaL_error(L, "%s: %s", fname, ml_errmsg());
    return 1;
}

static int t_all_finite(lua_State *L)
{
    lua_pushboolean(L, ml_tensor_all_finite(&check_u(L, 1, "tensor:all_finite")->t));
    return 1;
}

static void push_nested(lua_State *L, const ml_tensor_t *t, int d, int64_t *idx)
{
    if (d >= t->ndim || d >= ML_MAX_DIMS) {
        lua_pushnumber(L, *ml_tensor_at(t, idx));
        return;
    }
    lua_createtable(L, (int)t->shape[d], 0);
    for (int64_t i = 0; i < t->shape[d]; i++) {
        idx[d] = i;
        push_nested(L, t, d + 1, idx);
        lua_rawseti(L, -2, i + 1);
    }
}

static int t_totable(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:totable")->t;
    int64_t idx[ML_MAX_DIMS] = {0};
    push_nested(L, t, 0, idx);
    return 1;
}

static int t_matmul(lua_State *L)
{
    ml_tensor_t *a = &check_u(L, 1, "tensor:matmul")->t;
    ml_tensor_t *b = ml__check_tensor(L, 2, "tensor:matmul");
    char sa[64], sb[64];
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0])
        return luaL_error(L, "tensor:matmul: cannot multiply %s by %s", ml_shape_str(sa, 64, a),
                          ml_shape_str(sb, 64, b));
    int64_t shape[2] = {a->shape[0], b->shape[1]};
    ml_tensor_t *c = ml__push_tensor(L, 2, shape, "tensor:matmul");
    if (ml_tensor_matmul(c, a, b, 1.0f, 0.0f))
        return ml__engine_error(L, "tensor:matmul");
    return 1;
}

/* Elementwise binary ops: tensor op tensor (same shape, or a (N) row broadcast over a (M,N)
 * matrix) and tensor op number, either side. Result is a new contiguous tensor. */
typedef enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW } binop_t;
static const char *const binop_names[] = {"add", "sub", "mul", "div", "pow"};

static float apply_op(binop_t op, float a, float b)
{
    switch (op) {
    case OP_ADD: return a + b;
    case OP_SUB: return a - b;
    case OP_MUL: return a * b;
    case OP_DIV: return a / b;
    default: return powf(a, b);
    }
}

static int binop(lua_State *L, binop_t op)
{
    char fname[32], sa[64], sb[64];
    snprintf(fname, sizeof fname, "tensor %s", binop_names[op]);
    int ta = luaL_testudata(L, 1, ML_TENSOR_MT) != NULL;
    int tb = luaL_testudata(L, 2, ML_TENSOR_MT) != NULL;
    if (!ta && !tb)
        return luaL_error(L, "%s: no tensor operand", fname);
    if (ta && tb) {
        ml_tensor_t *a = ml__check_tensor(L, 1, fname), *b = ml__check_tensor(L, 2, fname);
        int same = a->ndim == b->ndim;
        for (int i = 0; same && i < a->ndim; i++)
            same = a->shape[i] == b->shape[i];
        int rowb = !same && a->ndim == 2 && b->ndim == 1 && b->shape[0] == a->shape[1];
        if (!same && !rowb)
            return luaL_error(L, "%s: shapes %s and %s do not match", fname,
                              ml_shape_str(sa, 64, a), ml_shape_str(sb, 64, b));
        int pa, pb;
        const ml_tensor_t *ca = contiguous(L, a, &pa, fname);
        const ml_tensor_t *cb = contiguous(L, b, &pb, fname);
        ml_tensor_t *c = ml__push_tensor(L, a->ndim, a->shape, fname);
        int64_t n = ml_tensor_numel(c), nb = ml_tensor_numel(cb);
        for (int64_t i = 0; i < n; i++)
            c->data[i] = apply_op(op, ca->data[i], cb->data[rowb ? i % nb : i]);
        return 1;
    }
    int tidx = ta ? 1 : 2;
    ml_tensor_t *t = ml__check_tensor(L, tidx, fname);
    float s = (float)luaL_checknumber(L, ta ? 2 : 1);
    int p;
    const ml_tensor_t *ct = contiguous(L, t, &p, fname);
    ml_tensor_t *c = ml__push_tensor(L, t->ndim, t->shape, fname);
    int64_t n = ml_tensor_numel(c);
    for (int64_t i = 0; i < n; i++)
        c->data[i] = ta ? apply_op(op, ct->data[i], s) : apply_op(op, s, ct->data[i]);
    return 1;
}

static int t_add(lua_State *L) { return binop(L, OP_ADD); }
static int t_sub(lua_State *L) { return binop(L, OP_SUB); }
static int t_mul(lua_State *L) { return binop(L, OP_MUL); }
static int t_div(lua_State *L) { return binop(L, OP_DIV); }
static int t_pow(lua_State *L) { return binop(L, OP_POW); }

static int t_unm(lua_State *L)
{
    lua_settop(L, 1);
    lua_pushnumber(L, -1.0);
    return binop(L, OP_MUL);
}

/* Unary maps by name. */
static int t_apply(lua_State *L)
{
    static const char *const names[] = {"exp", "log", "abs", "sqrt", "square", "tanh",
                                        "sigmoid", "relu", NULL};
    ml_tensor_t *t = &check_u(L, 1, "tensor:apply")->t;
    int f = luaL_checkoption(L, 2, NULL, names);
    int p;
    const ml_tensor_t *ct = contiguous(L, t, &p, "tensor:apply");
    ml_tensor_t *c = ml__push_tensor(L, t->ndim, t->shape, "tensor:apply");
    int64_t n = ml_tensor_numel(c);
    float *y = c->data;
    const float *x = ct->data;
    switch (f) {
    case 0: for (int64_t i = 0; i < n; i++) y[i] = expf(x[i]); break;
    case 1: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case 2: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
    case 3: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case 4: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;
    case 5: ml_k_tanh(y, x, n); break;
    case 6: ml_k_sigmoid(y, x, n); break;
    default: ml_k_relu(y, x, n); break;
    }
    return 1;
}

/* Columns x^1 .. x^k of a (N) or (N,1) tensor: polynomial features (N, k). */
static int t_powers(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor:powers")->t;
    lua_Integer k = luaL_checkinteger(L, 2);
    char s[64];
    if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1)))
        return luaL_error(L, "tensor:powers: tensor is %s, expected (N,) or (N,1)",
                          ml_shape_str(s, 64, t));
    if (k < 1 || k > 64)
        return luaL_error(L, "tensor:powers: degree %d out of range 1..64", (int)k);
    int64_t shape[2] = {t->shape[0], k};
    ml_tensor_t *c = ml__push_tensor(L, 2, shape, "tensor:powers");
    for (int64_t i = 0; i < shape[0]; i++) {
        float x = t->data[i * t->stride[0]], v = 1.0f;
        for (int64_t j = 0; j < k; j++) {
            v *= x;
            c->data[i * k + j] = v;
        }
    }
    return 1;
}

/* Concatenate tensors along dimension d (1-based, default 1). */
static int t_cat(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer d = luaL_optinteger(L, 2, 1);
    int n = (int)luaL_len(L, 1);
    if (n < 1)
        return luaL_error(L, "tensor.cat: no tensors given");
    lua_geti(L, 1, 1);
    ml_tensor_t *first = ml__check_tensor(L, -1, "tensor.cat");
    lua_pop(L, 1);
    if (d < 1 || d > first->ndim)
        return luaL_error(L, "tensor.cat: dimension %d out of range (tensors have %d)", (int)d,
                          first->ndim);
    int64_t shape[ML_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[d - 1] = 0;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        ml_tensor_t *t = ml__check_tensor(L, -1, "tensor.cat");
        for (int j = 0; j < first->ndim; j++)
            if (t->ndim != first->ndim || (j != d - 1 && t->shape[j] != first->shape[j])) {
                char a[64], b[64];
                return luaL_error(L, "tensor.cat: tensor %d is %s, tensor 1 is %s", i,
                                  ml_shape_str(a, 64, t), ml_shape_str(b, 64, first));
            }
        shape[d - 1] += t->shape[d - 1];
        lua_pop(L, 1);
    }
    ml_tensor_t *out = ml__push_tensor(L, first->ndim, shape, "tensor.cat");
    int64_t at = 0;
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        ml_tensor_t *t = ml__check_tensor(L, -1, "tensor.cat");
        ml_tensor_t dst;
        ml_tensor_slice(&dst, out, (int)d - 1, at, at + t->shape[d - 1], 1);
        ml_tensor_copy(&dst, t);
        at += t->shape[d - 1];
        lua_pop(L, 1);
    }
    return 1;
}

static int t_index(lua_State *L)
{
    if (lua_type(L, 2) != LUA_TNUMBER) { /* methods work on closed tensors too (is_closed) */
        luaL_getmetatable(L, ML_TENSOR_MT);
        lua_pushvalue(L, 2);
        lua_rawget(L, -2);
        return 1;
    }
    ml_ltensor_t *u = check_u(L, 1, "tensor index");
    {
        ml_tensor_t *t = &u->t;
        lua_Integer i = luaL_checkinteger(L, 2);
        if (t->ndim == 0)
            return luaL_error(L, "tensor index: a scalar tensor has no rows; use :item()");
        if (i < 1 || i > t->shape[0])
            return luaL_error(L, "tensor index: %d out of range 1..%d", (int)i, (int)t->shape[0]);
        if (t->ndim == 1) {
            lua_pushnumber(L, t->data[(i - 1) * t->stride[0]]);
            return 1;
        }
        ml_tensor_t row, v;
        ml_tensor_slice(&row, t, 0, i - 1, i, 1);
        int64_t shape[ML_MAX_DIMS];
        v = row;
        for (int k = 1; k < t->ndim; k++) {
            shape[k - 1] = t->shape[k];
            v.shape[k - 1] = t->shape[k];
            v.stride[k - 1] = t->stride[k];
        }
        v.ndim = t->ndim - 1;
        (void)shape;
        ml__push_view(L, &v, 1);
        return 1;
    }
}

static int t_newindex(lua_State *L)
{
    ml_tensor_t *t = &check_u(L, 1, "tensor index assignment")->t;
    lua_Integer i = luaL_checkinteger(L, 2);
    if (t->ndim != 1)
        return luaL_error(L, "tensor index assignment: tensor has %d dimensions; use :set()",
                          t->ndim);
    if (i < 1 || i > t->shape[0])
        return luaL_error(L, "tensor index assignment: %d out of range 1..%d", (int)i,
                          (int)t->shape[0]);
    t->data[(i - 1) * t->stride[0]] = (float)luaL_checknumber(L, 3);
    return 0;
}

static int t_tostring(lua_State *L)
{
    luaL_checkudata(L, 1, ML_TENSOR_MT);
    ml_ltensor_t *u = lua_touserdata(L, 1);
    if (ml__tensor_dead(L, 1)) {
        lua_pushliteral(L, "tensor (closed)");
        return 1;
    }
    ml_tensor_t *t = &u->t;
    luaL_Buffer b;
    char s[64];
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor");
    luaL_addstring(&b, ml_shape_str(s, sizeof s, t));
    int64_t n = ml_tensor_numel(t);
    if (t->ndim <= 2 && n <= 64) {
        int64_t rows = t->ndim == 2 ? t->shape[0] : 1, cols = t->ndim ? t->shape[t->ndim - 1] : 1;
        luaL_addstring(&b, "\n");
        for (int64_t r = 0; r < rows; r++) {
            luaL_addstring(&b, "  ");
            for (int64_t c = 0; c < cols; c++) {
                int64_t idx[2] = {t->ndim == 2 ? r : c, c};
                snprintf(s, sizeof s, "%s%.6g", c ? " " : "", (double)*ml_tensor_at(t, idx));
                luaL_addstring(&b, s);
            }
            luaL_addstring(&b, "\n");
        }
    } else {
        snprintf(s, sizeof s, " %lld elements", (long long)n);
        luaL_addstring(&b, s);
    }
    luaL_pushresult(&b);
    return 1;
}

static int t_close(lua_State *L)
{
    ml_ltensor_t *u = luaL_checkudata(L, 1, ML_TENSOR_MT);
    if (!u->closed) {
        ml_tensor_free(&u->t);
        u->closed = 1;
        /* Drop the reference to a base so it can be collected. */
        lua_pushnil(L);
        lua_setiuservalue(L, 1, 1);
    }
    return 0;
}

static int t_is_tensor(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, ML_TENSOR_MT) != NULL);
    return 1;
}

static int t_is_closed(lua_State *L)
{
    luaL_checkudata(L, 1, ML_TENSOR_MT);
    lua_pushboolean(L, ml__tensor_dead(L, 1));
    return 1;
}

static const luaL_Reg methods[] = {
    {"shape", t_shape},     {"size", t_size},       {"dim", t_dim},
    {"get", t_get},         {"set", t_set},         {"item", t_item},
    {"slice", t_slice},     {"transpose", t_transpose}, {"t", t_transpose},
    {"reshape", t_reshape}, {"clone", t_clone},     {"copy", t_copy},
    {"fill", t_fill},       {"sum", t_sum},         {"mean", t_mean},
    {"max", t_max},         {"min", t_min},         {"norm", t_norm},
    {"all_finite", t_all_finite}, {"totable", t_totable}, {"matmul", t_matmul},
    {"add", t_add},         {"sub", t_sub},         {"mul", t_mul},
    {"div", t_div},         {"pow", t_pow},         {"apply", t_apply},
    {"powers", t_powers},   {"close", t_close},     {"is_closed", t_is_closed},
    {"argmax", t_argmax},
    {"__index", t_index},   {"__newindex", t_newindex}, {"__len", t_len},
    {"__tostring", t_tostring}, {"__gc", t_close}, {"__close", t_close},
    {"__add", t_add},       {"__sub", t_sub},       {"__mul", t_mul},
    {"__div", t_div},       {"__pow", t_pow},       {"__unm", t_unm},
    {NULL, NULL}};

static const luaL_Reg functions[] = {
    {"new", t_new}, {"from", t_from}, {"cat", t_cat}, {"is_tensor", t_is_tensor}, {NULL, NULL}};

int ml__open_tensor(lua_State *L)
{
    luaL_newmetatable(L, ML_TENSOR_MT);
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
