/* Optimizers as Lua userdata, clipping and learning-rate schedules. */
#include <string.h>

#include "lcommon.h"
#include "moonlab/optim.h"

static ml_optim_t *check_optim(lua_State *L, int idx, const char *fname)
{
    ml_optim_t *o = luaL_testudata(L, idx, ML_OPTIM_MT);
    if (!o)
        ml__raise(L, "%s: expected an optimizer, got %s", fname, luaL_typename(L, idx));
    return o;
}

static void check_nonneg(lua_State *L, const char *fname, const char *what, double v)
{
    if (!(v >= 0.0))
        luaL_error(L, "%s: %s must be >= 0, got %f", fname, what, v);
}

/* core.optim.new{kind="sgd"|"adam"|"adamw", lr=, momentum=, nesterov=, weight_decay=,
 *                beta1=, beta2=, eps=} */
static int o_new(lua_State *L)
{
    const char *fname = "optim";
    luaL_checktype(L, 1, LUA_TTABLE);
    const char *kind = ml__opt_string(L, 1, "kind", "sgd", fname);
    int k = ml_optim_kind_from_name(kind);
    if (k < 0)
        return luaL_error(L, "optim: unknown optimizer '%s' (sgd, adam, adamw)", kind);
    ml_optim_t d;
    ml_optim_defaults(&d, (ml_optim_kind_t)k);
    d.lr = (float)ml__opt_number(L, 1, "lr", d.lr, fname);
    d.momentum = (float)ml__opt_number(L, 1, "momentum", 0.0, fname);
    d.nesterov = ml__opt_bool(L, 1, "nesterov", 0, fname);
    d.weight_decay = (float)ml__opt_number(L, 1, "weight_decay", d.weight_decay, fname);
    d.beta1 = (float)ml__opt_number(L, 1, "beta1", d.beta1, fname);
    d.beta2 = (float)ml__opt_number(L, 1, "beta2", d.beta2, fname);
    d.eps = (float)ml__opt_number(L, 1, "eps", d.eps, fname);
    check_nonneg(L, kind, "lr", d.lr);
    check_nonneg(L, kind, "momentum", d.momentum);
    check_nonneg(L, kind, "weight_decay", d.weight_decay);
    if (!(d.beta1 >= 0 && d.beta1 < 1 && d.beta2 >= 0 && d.beta2 < 1))
        return luaL_error(L, "%s: betas must be in [0, 1), got %f and %f", kind, (double)d.beta1,
                          (double)d.beta2);
    if (d.nesterov && d.momentum == 0.0f)
        return luaL_error(L, "sgd: nesterov needs a momentum > 0");
    ml_optim_t *o = lua_newuserdatauv(L, sizeof *o, 0);
    *o = d;
    luaL_setmetatable(L, ML_OPTIM_MT);
    return 1;
}

static int o_lr(lua_State *L)
{
    ml_optim_t *o = check_optim(L, 1, "optim:lr");
    if (!lua_isnoneornil(L, 2)) {
        double v = luaL_checknumber(L, 2);
        check_nonneg(L, "optim:lr", "lr", v);
        o->lr = (float)v;
    }
    lua_pushnumber(L, o->lr);
    return 1;
}

static int o_steps(lua_State *L)
{
    lua_pushinteger(L, check_optim(L, 1, "optim:steps")->t);
    return 1;
}

/* optim:state() -> {t =, m = tensor, v = tensor} copies of the state (m, v nil before the
 * first step; v nil for SGD), for checkpoints. */
static int o_state(lua_State *L)
{
    ml_optim_t *o = check_optim(L, 1, "optim:state");
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, o->t);
    lua_setfield(L, -2, "t");
    int64_t shape[1] = {o->n};
    if (o->m) {
        ml_tensor_t *t = ml__push_tensor(L, 1, shape, "optim:state");
        memcpy(t->data, o->m, (size_t)o->n * sizeof(float));
        lua_setfield(L, -2, "m");
    }
    if (o->v) {
        ml_tensor_t *t = ml__push_tensor(L, 1, shape, "optim:state");
        memcpy(t->data, o->v, (size_t)o->n * sizeof(float));
        lua_setfield(L, -2, "v");
    }
    return 1;
}

/* optim:set_state{t =, m =, v =}: restore what optim:state() returned. */
static int o_set_state(lua_State *L)
{
    ml_optim_t *o = check_optim(L, 1, "optim:set_state");
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer t = ml__opt_integer(L, 2, "t", 0, "optim:set_state");
    lua_getfield(L, 2, "m");
    lua_getfield(L, 2, "v");
    if (lua_isnil(L, -2)) {
        if (t != 0)
            return luaL_error(L, "optim:set_state: t = %d but no moment buffer m", (int)t);
        ml_optim_free(o);
        return 0;
    }
    ml_tensor_t *m = ml__check_tensor(L, -2, "optim:set_state");
    ml_tensor_t *v = lua_isnil(L, -1) ? NULL : ml__check_tensor(L, -1, "optim:set_state");
    int64_t n = ml_tensor_numel(m);
    if (!ml_tensor_is_contiguous(m) || (v && (!ml_tensor_is_contiguous(v) || ml_tensor_numel(v) != n)))
        return luaL_error(L, "optim:set_state: m and v must be contiguous with the same size");
    if (ml_optim_set_state(o, t, m->data, v ? v->data : NULL, n))
        return ml__engine_error(L, "optim:set_state");
    return 0;
}

/* optim:step(params, grads [, decay_mask]): one update of flat tensors. */
static int o_step(lua_State *L)
{
    ml_optim_t *o = check_optim(L, 1, "optim:step");
    ml_tensor_t *p = ml__check_tensor(L, 2, "optim:step");
    ml_tensor_t *g = ml__check_tensor(L, 3, "optim:step");
    ml_tensor_t *d = ml__opt_tensor(L, 4, "optim:step");
    int64_t n = ml_tensor_numel(p);
    if (!ml_tensor_is_contiguous(p) || !ml_tensor_is_contiguous(g) || ml_tensor_numel(g) != n ||
        (d && (!ml_tensor_is_contiguous(d) || ml_tensor_numel(d) != n)))
        return luaL_error(L, "optim:step: params, grads (and decay mask) must be contiguous with %d elements each",
                          (int)n);
    if (ml_optim_step(o, p->data, g->data, d ? d->data : NULL, n))
        return ml__engine_error(L, "optim:step");
    return 0;
}

static int o_gc(lua_State *L)
{
    ml_optim_free(luaL_checkudata(L, 1, ML_OPTIM_MT));
    return 0;
}

static int o_tostring(lua_State *L)
{
    ml_optim_t *o = luaL_checkudata(L, 1, ML_OPTIM_MT);
    lua_pushfstring(L, "optimizer %s (lr %f)", ml_optim_name(o->kind), (double)o->lr);
    return 1;
}

/* core.optim.clip_grad_norm(grads, max_norm) -> norm before clipping */
static int o_clip(lua_State *L)
{
    ml_tensor_t *g = ml__check_tensor(L, 1, "optim.clip_grad_norm");
    double mx = luaL_checknumber(L, 2);
    if (!ml_tensor_is_contiguous(g))
        return luaL_error(L, "optim.clip_grad_norm: gradient tensor must be contiguous");
    lua_pushnumber(L, ml_clip_grad_norm(g->data, ml_tensor_numel(g), mx));
    return 1;
}

/* core.optim.schedule_lr({kind="step"|"cosine"|"constant", lr=, step_size=, gamma=, t_max=,
 *                         min_lr=}, epoch0) -> lr */
static int o_schedule(lua_State *L)
{
    static const char *const kinds[] = {"constant", "step", "cosine", NULL};
    const char *fname = "optim.schedule";
    luaL_checktype(L, 1, LUA_TTABLE);
    ml_schedule_t s;
    memset(&s, 0, sizeof s);
    const char *kind = ml__opt_string(L, 1, "kind", "constant", fname);
    int k;
    for (k = 0; kinds[k] && strcmp(kinds[k], kind) != 0; k++)
        ;
    if (!kinds[k])
        return luaL_error(L, "optim.schedule: unknown schedule '%s' (constant, step, cosine)", kind);
    s.kind = (ml_sched_kind_t)k;
    s.base_lr = (float)ml__opt_number(L, 1, "lr", 0.01, fname);
    s.step_size = ml__opt_integer(L, 1, "step_size", 0, fname);
    s.gamma = (float)ml__opt_number(L, 1, "gamma", 0.1, fname);
    s.t_max = ml__opt_integer(L, 1, "t_max", 0, fname);
    s.min_lr = (float)ml__opt_number(L, 1, "min_lr", 0.0, fname);
    lua_Integer epoch = luaL_checkinteger(L, 2);
    lua_pushnumber(L, ml_schedule_lr(&s, epoch));
    return 1;
}

static const luaL_Reg methods[] = {
    {"lr", o_lr}, {"steps", o_steps}, {"step", o_step},
    {"state", o_state}, {"set_state", o_set_state}, {NULL, NULL}};
static const luaL_Reg meta[] = {{"__gc", o_gc}, {"__tostring", o_tostring}, {NULL, NULL}};
static const luaL_Reg functions[] = {
    {"new", o_new}, {"clip_grad_norm", o_clip}, {"schedule_lr", o_schedule}, {NULL, NULL}};

int ml__open_optim(lua_State *L)
{
    luaL_newmetatable(L, ML_OPTIM_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
