/* Models (sequential containers of layers) and their C training loop, as Lua userdata. */
#include <math.h>
#include <string.h>

#include "lcommon.h"
#include "moonlab/error.h"
#include "moonlab/nn.h"
#include "moonlab/optim.h"
#include "moonlab/train.h"

typedef struct lmodel {
    int closed; /* first, as in every owner of tensor memory (lcommon.h) */
    ml_model_t *m;
} lmodel_t;

/* Uservalue slots: 1 = last forward input (kept alive until backward). */
#define UV_INPUT 1

static ml_model_t *check_model(lua_State *L, int idx, const char *fname)
{
    lmodel_t *u = luaL_testudata(L, idx, ML_MODEL_MT);
    if (!u)
        ml__raise(L, "%s: expected a model, got %s", fname, luaL_typename(L, idx));
    if (u->closed)
        ml__raise(L, "%s: model is closed", fname);
    return u->m;
}

static ml_init_t read_init(lua_State *L, int idx, const char *field, int layer)
{
    ml_init_t init = {ML_INIT_DEFAULT, 0.0f, 0.0f};
    int t = lua_getfield(L, idx, field);
    if (t == LUA_TSTRING || t == LUA_TTABLE) {
        const char *name;
        if (t == LUA_TSTRING) {
            name = lua_tostring(L, -1);
        } else {
            lua_getfield(L, -1, "kind");
            name = lua_tostring(L, -1);
            lua_pop(L, 1);
            if (!name)
                luaL_error(L, "sequential: layer %d: %s needs a kind", layer, field);
            lua_getfield(L, -1, "a");
            init.a = (float)lua_tonumber(L, -1);
            lua_getfield(L, -2, "b");
            init.b = (float)lua_tonumber(L, -1);
            lua_pop(L, 2);
        }
        int k = ml_init_kind_from_name(name);
        if (k < 0)
            luaL_error(L, "sequential: layer %d: unknown initializer '%s'", layer, name);
        init.kind = (ml_init_kind_t)k;
    } else if (t != LUA_TNIL) {
        luaL_error(L, "sequential: layer %d: %s must be a name or a table", layer, field);
    }
    lua_pop(L, 1);
    return init;
}

/* core.model.new{ {kind="linear", in=3, out=1, bias=true, init=...}, {kind="relu"}, ... } */
static int m_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int n = (int)luaL_len(L, 1);
    if (n < 1)
        return luaL_error(L, "sequential: a model needs at least one layer");
    if (n > 4096)
        return luaL_error(L, "sequential: %d layers is too many", n);
    ml_layer_spec_t *specs = lua_newuserdatauv(L, sizeof *specs * (size_t)n, 0); /* GC'd */
    for (int i = 0; i < n; i++) {
        if (lua_geti(L, 1, i + 1) != LUA_TTABLE)
            return luaL_error(L, "sequential: layer %d is a %s, expected a layer", i + 1,
                              luaL_typename(L, -1));
        int li = lua_gettop(L);
        const char *kind = ml__opt_string(L, li, "kind", NULL, "sequential");
        int k = kind ? ml_layer_kind_from_name(kind) : -1;
        int cell = kind ? ml_cell_from_name(kind) : -1;
        if (cell >= 0)
            k = ML_LAYER_RECURRENT;
        if (k < 0 || (k == ML_LAYER_RECURRENT && cell < 0))
            return luaL_error(L, "sequential: layer %d: unknown kind '%s'", i + 1,
                              kind ? kind : "(none)");
        ml_layer_spec_t *s = &specs[i];
        memset(s, 0, sizeof *s);
        s->kind = (ml_layer_kind_t)k;
        s->in = ml__opt_integer(L, li, "in", 0, "sequential");
        s->out = ml__opt_integer(L, li, "out", 0, "sequential");
        s->bias = ml__opt_bool(L, li, "bias", 1, "sequential");
        s->p = (float)ml__opt_number(L, li, "p", 0.5, "sequential");
        s->weight_init = read_init(L, li, "init", i + 1);
        s->bias_init = read_init(L, li, "bias_init", i + 1);
        if (k == ML_LAYER_RECURRENT) {
            s->cell = (ml_cell_t)cell;
            s->hidden = ml__opt_integer(L, li, "hidden", 0, "sequential");
            s->layers = (int)ml__opt_integer(L, li, "layers", 1, "sequential");
            s->sequence = ml__opt_bool(L, li, "sequence", 0, "sequential");
            s->p = (float)ml__opt_number(L, li, "dropout", 0.0, "sequential");
            s->bidirectional = ml__opt_bool(L, li, "bidirectional", 0, "sequential");
            s->learn_state = ml__opt_bool(L, li, "learn_initial_state", 0, "sequential");
            lua_Integer from = ml__opt_integer(L, li, "state_from", 0, "sequential");
            if (from < 0 || from > n)
                return luaL_error(L, "sequential: layer %d: state_from = %d is not a layer of the model",
                                  i + 1, (int)from);
            s->state_from = (int)from;
        }
        lua_pop(L, 1);
    }
    lmodel_t *u = lua_newuserdatauv(L, sizeof *u, 1);
    u->closed = 1;
    u->m = NULL;
    luaL_setmetatable(L, ML_MODEL_MT);
    if (ml_model_new(&u->m, n, specs))
        return ml__engine_error(L, "sequential");
    u->closed = 0;
    return 1;
}

static int m_init(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:init");
    lua_Integer seed = luaL_checkinteger(L, 2);
    if (ml_model_init(m, (uint64_t)seed))
        return ml__engine_error(L, "model:init");
    lua_settop(L, 1);
    return 1;
}

static int m_train_mode(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:train_mode");
    if (!lua_isnoneornil(L, 2))
        m->train = lua_toboolean(L, 2);
    lua_pushboolean(L, m->train);
    return 1;
}

/* model:forward(x [, lengths]) -> y, a copy the caller owns. */
static int m_forward(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:forward");
    ml_tensor_t *x = ml__check_tensor(L, 2, "model:forward");
    ml_tensor_t *len = ml__opt_tensor(L, 3, "model:forward");
    const ml_tensor_t *y;
    if (ml_model_forward_lengths(m, x, len, &y))
        return ml__engine_error(L, "model:forward");
    lua_pushvalue(L, 2);
    lua_setiuservalue(L, 1, UV_INPUT);
    ml__push_copy(L, y, "model:forward");
    return 1;
}

/* model:backward(dy [, want_dx]) -> dx (copy) or nothing. */
static int m_backward(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:backward");
    ml_tensor_t *dy = ml__check_tensor(L, 2, "model:backward");
    int want = lua_toboolean(L, 3);
    if (lua_getiuservalue(L, 1, UV_INPUT) != LUA_TUSERDATA || ml__tensor_dead(L, -1))
        return luaL_error(L, "model:backward: no forward pass to go back through (or its input was closed)");
    lua_pop(L, 1);
    const ml_tensor_t *dx = NULL;
    if (ml_model_backward(m, dy, want ? &dx : NULL))
        return ml__engine_error(L, "model:backward");
    if (!want)
        return 0;
    ml__push_copy(L, dx, "model:backward");
    return 1;
}

static int m_zero_grad(lua_State *L)
{
    ml_model_zero_grad(check_model(L, 1, "model:zero_grad"));
    return 0;
}

static int flat_view(lua_State *L, int grads)
{
    ml_model_t *m = check_model(L, 1, grads ? "model:grads" : "model:params");
    ml_tensor_t v = {0};
    v.data = grads ? m->grads : m->params;
    v.ndim = 1;
    v.shape[0] = m->nparams;
    v.stride[0] = 1;
    ml__push_foreign_view(L, &v, 1);
    return 1;
}

static int m_params(lua_State *L) { return flat_view(L, 0); }
static int m_grads(lua_State *L) { return flat_view(L, 1); }

/* Views of a recurrent stack's parameters and gradients by PyTorch's names:
 * {weight_ih_l0 = {value = view, grad = view}, weight_hh_l0 = ..., bias_ih_l0, bias_hh_l0, ...} */
static void push_recurrent_params(lua_State *L, const ml_layer_t *ly)
{
    const ml_rnn_t *R = ly->rnn;
    int64_t H = R->hidden, GH = ml_rnn_gates(R->cell) * H;
    lua_createtable(L, 0, 4 * R->nlayers * R->dirs);
    for (int s = 0; s < R->nlayers * R->dirs; s++) {
        const ml_rnn_layer_t *RL = &R->layers[s];
        int l = s / R->dirs, reverse = s % R->dirs;
        const char *fwd[4] = {"weight_ih_l%d", "weight_hh_l%d", "bias_ih_l%d", "bias_hh_l%d"};
        const char *rev[4] = {"weight_ih_l%d_reverse", "weight_hh_l%d_reverse",
                              "bias_ih_l%d_reverse", "bias_hh_l%d_reverse"};
        const char *const *names = reverse ? rev : fwd;
        float *vals[4] = {RL->w_ih, RL->w_hh, RL->b_ih, RL->b_hh};
        float *grads[4] = {RL->dw_ih, RL->dw_hh, RL->db_ih, RL->db_hh};
        const int64_t cols[4] = {RL->in, H, 0, 0};
        for (int k = 0; k < 4; k++) {
            ml_tensor_t v = {0};
            v.ndim = cols[k] ? 2 : 1;
            v.shape[0] = GH;
            v.shape[1] = cols[k] ? cols[k] : 1;
            v.stride[0] = cols[k] ? cols[k] : 1;
            v.stride[1] = 1;
            lua_createtable(L, 0, 2);
            v.data = vals[k];
            ml__push_foreign_view(L, &v, 1);
            lua_setfield(L, -2, "value");
            v.data = grads[k];
            ml__push_foreign_view(L, &v, 1);
            lua_setfield(L, -2, "grad");
            lua_pushfstring(L, names[k], l);
            lua_insert(L, -2);
            lua_settable(L, -3);
        }
    }
    /* learnable initial states: h0, c0 as (layers·dirs, H), PyTorch's state order */
    float *sv[2] = {R->h0p, R->c0p}, *sg[2] = {R->dh0p, R->dc0p};
    const char *sn[2] = {"h0", "c0"};
    for (int k = 0; k < 2; k++) {
        if (!sv[k])
            continue;
        ml_tensor_t v = {0};
        v.ndim = 2;
        v.shape[0] = (int64_t)R->nlayers * R->dirs;
        v.shape[1] = H;
        v.stride[0] = H;
        v.stride[1] = 1;
        lua_createtable(L, 0, 2);
        v.data = sv[k];
        ml__push_foreign_view(L, &v, 1);
        lua_setfield(L, -2, "value");
        v.data = sg[k];
        ml__push_foreign_view(L, &v, 1);
        lua_setfield(L, -2, "grad");
        lua_setfield(L, -2, sn[k]);
    }
}

/* model:layer(i) -> {kind=, in=, out=, nparams=, weight=view, bias=view, dweight=, dbias=} */
static int m_layer(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:layer");
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > m->nlayers)
        return luaL_error(L, "model:layer: %d out of range 1..%d", (int)i, m->nlayers);
    ml_layer_t *ly = &m->layers[i - 1];
    lua_createtable(L, 0, 8);
    lua_pushstring(L, ml_layer_name(ly->spec.kind));
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, ly->in);
    lua_setfield(L, -2, "in");
    lua_pushinteger(L, ly->out);
    lua_setfield(L, -2, "out");
    lua_pushinteger(L, ly->nparams);
    lua_setfield(L, -2, "nparams");
    if (ly->spec.kind == ML_LAYER_DROPOUT) {
        lua_pushnumber(L, ly->spec.p);
        lua_setfield(L, -2, "p");
    }
    if (ly->spec.kind == ML_LAYER_RECURRENT) {
        push_recurrent_params(L, ly);
        lua_setfield(L, -2, "params");
        lua_pushstring(L, ml_cell_name(ly->rnn->cell));
        lua_setfield(L, -2, "kind");
        lua_pushinteger(L, ly->rnn->nlayers);
        lua_setfield(L, -2, "layers");
        lua_pushboolean(L, ly->rnn->dirs == 2);
        lua_setfield(L, -2, "bidirectional");
        lua_pushinteger(L, ly->rnn->hidden);
        lua_setfield(L, -2, "hidden");
    }
    if (ly->spec.kind == ML_LAYER_LINEAR || ly->spec.kind == ML_LAYER_EMBEDDING) {
        const ml_tensor_t *views[4] = {&ly->w, &ly->b, &ly->dw, &ly->db};
        const char *names[4] = {"weight", "bias", "dweight", "dbias"};
        int bias = ly->spec.kind == ML_LAYER_LINEAR && ly->spec.bias;
        for (int k = 0; k < 4; k++) {
            if ((k == 1 || k == 3) && !bias)
                continue;
            ml__push_foreign_view(L, views[k], 1);
            lua_setfield(L, -2, names[k]);
        }
    }
    return 1;
}

static ml_rnn_t *check_recurrent(lua_State *L, ml_model_t *m, const char *fname)
{
    lua_Integer i = luaL_checkinteger(L, 2);
    if (i < 1 || i > m->nlayers || m->layers[i - 1].spec.kind != ML_LAYER_RECURRENT)
        ml__raise(L, "%s: layer %d is not a recurrent layer", fname, (int)i);
    return m->layers[i - 1].rnn;
}

/* model:rng_state() -> {key, counter, nbuf, w1, w2, w3, w4}: the dropout stream's position,
 * for checkpoints; model:set_rng_state(t) puts it back. */
static int m_rng_state(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:rng_state");
    lua_Integer v[7] = {(lua_Integer)m->rng.key, (lua_Integer)m->rng.counter, m->rng.nbuf,
                        m->rng.buf[0], m->rng.buf[1], m->rng.buf[2], m->rng.buf[3]};
    lua_createtable(L, 7, 0);
    for (int i = 0; i < 7; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int m_set_rng_state(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:set_rng_state");
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer v[7];
    for (int i = 0; i < 7; i++) {
        if (lua_geti(L, 2, i + 1) != LUA_TNUMBER || !lua_isinteger(L, -1))
            return luaL_error(L, "model:set_rng_state: entry %d is not an integer", i + 1);
        v[i] = lua_tointeger(L, -1);
        lua_pop(L, 1);
    }
    if (v[2] < 0 || v[2] > 4)
        return luaL_error(L, "model:set_rng_state: %d buffered words (0 to 4)", (int)v[2]);
    m->rng.key = (uint64_t)v[0];
    m->rng.counter = (uint64_t)v[1];
    m->rng.nbuf = (int)v[2];
    for (int i = 0; i < 4; i++)
        m->rng.buf[i] = (uint32_t)v[3 + i];
    return 0;
}

/* model:set_state(i, h0 [, c0]): initial states (layers, B, H) of recurrent layer i for the
 * following forward passes; nil returns them to zeros. */
static int m_set_state(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:set_state");
    ml_rnn_t *r = check_recurrent(L, m, "model:set_state");
    ml_tensor_t *h0 = ml__opt_tensor(L, 3, "model:set_state");
    ml_tensor_t *c0 = ml__opt_tensor(L, 4, "model:set_state");
    if (ml_rnn_set_state(r, h0, c0))
        return luaL_error(L, "model:set_state: layer %d: %s", (int)lua_tointeger(L, 2), ml_errmsg());
    return 0;
}

/* model:carry_state(on): recurrent layers start each forward from the previous one's final
 * states (detached); returns the previous setting. */
static int m_carry_state(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:carry_state");
    int was = m->carry;
    if (!lua_isnoneornil(L, 2))
        ml_model_set_carry(m, lua_toboolean(L, 2));
    lua_pushboolean(L, was);
    return 1;
}

/* model:generate(prime, steps [, temperature [, rng]]) -> ids (B, steps): the output fed back
 * as the next input (ml_model_generate). */
static int m_generate(lua_State *L)
{
    const char *fname = "model:generate";
    ml_model_t *m = check_model(L, 1, fname);
    ml_tensor_t *prime = ml__check_tensor(L, 2, fname);
    lua_Integer steps = luaL_checkinteger(L, 3);
    lua_Number temperature = luaL_optnumber(L, 4, 0.0);
    ml_rng_t *rng = lua_isnoneornil(L, 5) ? NULL : luaL_testudata(L, 5, ML_RNG_MT);
    if (!lua_isnoneornil(L, 5) && !rng)
        ml__raise(L, "%s: argument 5 must be a random stream (ml.rng), got %s", fname,
                  luaL_typename(L, 5));
    if (steps < 1)
        ml__raise(L, "%s: steps must be >= 1, got %d", fname, (int)steps);
    if (prime->ndim != 2) {
        char s[64];
        ml__raise(L, "%s: prime is %s, expected ids (B,P)", fname, ml_shape_str(s, sizeof s, prime));
    }
    int64_t shape[2] = {prime->shape[0], (int64_t)steps};
    ml_tensor_t *out = ml__push_tensor(L, 2, shape, fname);
    if (ml_model_generate(m, out, prime, (double)temperature, rng))
        return ml__engine_error(L, fname);
    return 1;
}

/* model:reset_state(): every recurrent layer back to its default initial states. */
static int m_reset_state(lua_State *L)
{
    ml_model_reset_state(check_model(L, 1, "model:reset_state"));
    return 0;
}

/* model:final_state(i) -> h_n [, c_n]: copies of the last forward's final states. */
static int m_final_state(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:final_state");
    ml_rnn_t *r = check_recurrent(L, m, "model:final_state");
    const ml_tensor_t *hn, *cn;
    ml_rnn_final_state(r, &hn, &cn);
    if (!hn)
        ml__raise(L, "model:final_state: no forward pass yet");
    ml__push_copy(L, hn, "model:final_state");
    if (!cn)
        return 1;
    ml__push_copy(L, cn, "model:final_state");
    return 2;
}

/* model:state_grad(i) -> dh0 [, dc0]: gradients of the initial states from the last backward. */
static int m_state_grad(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:state_grad");
    ml_rnn_t *r = check_recurrent(L, m, "model:state_grad");
    const ml_tensor_t *dh, *dc;
    ml_rnn_state_grad(r, &dh, &dc);
    if (!dh)
        ml__raise(L, "model:state_grad: no backward pass yet");
    ml__push_copy(L, dh, "model:state_grad");
    if (!dc)
        return 1;
    ml__push_copy(L, dc, "model:state_grad");
    return 2;
}

static int m_info(lua_State *L)
{
    ml_model_t *m = check_model(L, 1, "model:info");
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, m->nlayers);
    lua_setfield(L, -2, "layers");
    lua_pushinteger(L, m->nparams);
    lua_setfield(L, -2, "nparams");
    lua_pushinteger(L, m->in);
    lua_setfield(L, -2, "in");
    lua_pushinteger(L, m->out);
    lua_setfield(L, -2, "out");
    return 1;
}

static ml_optim_t *check_optim(lua_State *L, int idx, const char *fname)
{
    int t = lua_getfield(L, idx, "optim");
    ml_optim_t *o = t == LUA_TUSERDATA ? luaL_testudata(L, -1, ML_OPTIM_MT) : NULL;
    if (!o)
        luaL_error(L, "%s: option 'optim' must be an optimizer (optim.sgd{...}), got %s", fname,
                   luaL_typename(L, -1));
    lua_pop(L, 1); /* the option table keeps it alive */
    return o;
}

typedef struct data_args {
    const ml_tensor_t *ts[4];
    int nt;
    int weights, lengths; /* their index in ts, 0 = none */
    const int64_t *rows; /* selected rows (an index set), or NULL for all */
    int64_t nrows;
    ml_loss_kind_t loss;
    ml_reduce_t reduce;
    int64_t batch;
} data_args_t;

static void read_data_args(lua_State *L, data_args_t *a, const char *fname)
{
    static const char *const reductions[] = {"mean", "weighted_mean", "sum", NULL};
    a->ts[0] = ml__field_tensor(L, 2, "x", 1, fname);
    a->ts[1] = ml__field_tensor(L, 2, "y", 1, fname);
    const ml_tensor_t *w = ml__field_tensor(L, 2, "weights", 0, fname);
    const ml_tensor_t *len = ml__field_tensor(L, 2, "lengths", 0, fname);
    a->nt = 2;
    a->weights = a->lengths = 0;
    if (w) {
        a->weights = a->nt;
        a->ts[a->nt++] = w;
    }
    if (len) {
        a->lengths = a->nt;
        a->ts[a->nt++] = len;
    }
    a->rows = NULL;
    a->nrows = 0;
    if (lua_getfield(L, 2, "rows") != LUA_TNIL)
        a->rows = ml__check_index(L, -1, &a->nrows, fname); /* kept alive by the options */
    lua_pop(L, 1);
    const char *loss = ml__opt_string(L, 2, "loss", NULL, fname);
    int k = loss ? ml_loss_kind_from_name(loss) : -1;
    if (k < 0)
        luaL_error(L, "%s: option 'loss' must be one of mse, cross_entropy, bce_logits; got %s",
                   fname, loss ? loss : "nothing");
    a->loss = (ml_loss_kind_t)k;
    const char *red = ml__opt_string(L, 2, "reduce", "mean", fname);
    int r;
    for (r = 0; reductions[r] && strcmp(reductions[r], red) != 0; r++)
        ;
    if (!reductions[r])
        luaL_error(L, "%s: option 'reduce' must be mean, weighted_mean or sum; got %s", fname, red);
    a->reduce = (ml_reduce_t)r;
    a->batch = ml__opt_integer(L, 2, "batch", 0, fname);
    if (a->batch <= 0)
        a->batch = a->ts[0]->ndim ? a->ts[0]->shape[0] : 1;
}

static void push_stats(lua_State *L, const ml_epoch_stats_t *st, int with_train)
{
    lua_createtable(L, 0, 5);
    lua_pushnumber(L, st->loss);
    lua_setfield(L, -2, "loss");
    lua_pushnumber(L, st->accuracy);
    lua_setfield(L, -2, "accuracy");
    lua_pushinteger(L, st->samples);
    lua_setfield(L, -2, "samples");
    if (with_train) {
        lua_pushnumber(L, st->grad_norm);
        lua_setfield(L, -2, "grad_norm");
        lua_pushinteger(L, st->steps);
        lua_setfield(L, -2, "steps");
    }
}

/* The running sums of an epoch stopped inside (ml_train_steps), as model:train_epoch returns
 * and takes them: {done = false, steps =, samples =, loss_sum =, correct =, grad_norm =}. */
static void push_part(lua_State *L, const ml_epoch_stats_t *st)
{
    lua_createtable(L, 0, 6);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "done");
    lua_pushinteger(L, st->steps);
    lua_setfield(L, -2, "steps");
    lua_pushinteger(L, st->samples);
    lua_setfield(L, -2, "samples");
    lua_pushnumber(L, st->loss);
    lua_setfield(L, -2, "loss_sum");
    lua_pushnumber(L, st->accuracy);
    lua_setfield(L, -2, "correct");
    lua_pushnumber(L, st->grad_norm);
    lua_setfield(L, -2, "grad_norm");
}

static void read_part(lua_State *L, ml_epoch_stats_t *st, const char *fname)
{
    memset(st, 0, sizeof *st);
    if (lua_getfield(L, 2, "from") == LUA_TNIL) {
        lua_pop(L, 1);
        return;
    }
    if (!lua_istable(L, -1))
        luaL_error(L, "%s: option 'from' must be the table a stopped part returned, got %s",
                   fname, luaL_typename(L, -1));
    int t = lua_gettop(L);
    st->steps = ml__opt_integer(L, t, "steps", 0, fname);
    st->samples = ml__opt_integer(L, t, "samples", 0, fname);
    st->loss = ml__opt_number(L, t, "loss_sum", 0.0, fname);
    st->accuracy = ml__opt_number(L, t, "correct", 0.0, fname);
    st->grad_norm = ml__opt_number(L, t, "grad_norm", 0.0, fname);
    if (st->steps < 0 || st->samples < 0)
        luaL_error(L, "%s: option 'from' has steps %d and samples %d; expected counts >= 0",
                   fname, (int)st->steps, (int)st->samples);
    lua_pop(L, 1);
}

/* model:train_epoch{x=, y=, weights=, loss=, reduce=, optim=, batch=, shuffle=, seed=, epoch=,
 *                   clip=, allow_nonfinite=, from=, seconds=}
 *   -> {done = true, loss=, accuracy=, grad_norm=, steps=, samples=}
 *   or {done = false, steps=, samples=, loss_sum=, correct=, grad_norm=}
 * With seconds, the epoch stops after the first step that ends that many seconds after the call
 * began (unless it was the last) and the running sums come back; from = those sums continues the
 * epoch at the next step (ml_train_steps). */
static int m_train_epoch(lua_State *L)
{
    const char *fname = "model:train_epoch";
    ml_model_t *m = check_model(L, 1, fname);
    luaL_checktype(L, 2, LUA_TTABLE);
    data_args_t a;
    read_data_args(L, &a, fname);
    ml_optim_t *o = check_optim(L, 2, fname);
    int shuffle = ml__opt_bool(L, 2, "shuffle", 1, fname);
    lua_Integer seed = ml__opt_integer(L, 2, "seed", 0, fname);
    lua_Integer epoch = ml__opt_integer(L, 2, "epoch", 1, fname);
    double clip = ml__opt_number(L, 2, "clip", 0.0, fname);
    int allow = ml__opt_bool(L, 2, "allow_nonfinite", 0, fname);
    double seconds = ml__opt_number(L, 2, "seconds", HUGE_VAL, fname);
    if (epoch < 1)
        return luaL_error(L, "%s: epoch must be >= 1, got %d", fname, (int)epoch);
    if (!(seconds >= 0))
        return luaL_error(L, "%s: seconds must be >= 0, got %f", fname, seconds);
    ml_epoch_stats_t st;
    read_part(L, &st, fname);
    /* Nothing below raises until the batcher is freed. */
    ml_batcher_t b;
    int done = 0;
    int rc = ml_batcher_init(&b, a.nt, a.ts, a.batch, shuffle, 0, (uint64_t)seed);
    b.weights = a.weights;
    b.lengths = a.lengths;
    if (!rc && a.rows)
        rc = ml_batcher_select(&b, a.rows, a.nrows);
    if (!rc)
        rc = ml_train_steps(m, a.loss, a.reduce, o, &b, epoch - 1, clip, allow, seconds, &st,
                            &done);
    ml_batcher_free(&b);
    lua_pushnil(L); /* the layers now point at freed batches: no backward until a forward */
    lua_setiuservalue(L, 1, UV_INPUT);
    if (rc) {
        lua_pushnil(L);
        lua_pushstring(L, ml_errmsg());
        lua_pushstring(L, rc == ML_ENAN ? "nonfinite" : "error");
        return 3;
    }
    if (!done) {
        push_part(L, &st);
        return 1;
    }
    push_stats(L, &st, 1);
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "done");
    return 1;
}

/* model:evaluate{x=, y=, weights=, loss=, reduce=, batch=} -> {loss=, accuracy=, samples=} */
static int m_evaluate(lua_State *L)
{
    const char *fname = "model:evaluate";
    ml_model_t *m = check_model(L, 1, fname);
    luaL_checktype(L, 2, LUA_TTABLE);
    data_args_t a;
    read_data_args(L, &a, fname);
    ml_batcher_t b;
    ml_epoch_stats_t st;
    int rc = ml_batcher_init(&b, a.nt, a.ts, a.batch, 0, 0, 0);
    b.weights = a.weights;
    b.lengths = a.lengths;
    if (!rc && a.rows)
        rc = ml_batcher_select(&b, a.rows, a.nrows);
    if (!rc)
        rc = ml_evaluate(m, a.loss, a.reduce, &b, &st);
    ml_batcher_free(&b);
    lua_pushnil(L);
    lua_setiuservalue(L, 1, UV_INPUT);
    if (rc)
        return ml__engine_error(L, fname);
    push_stats(L, &st, 0);
    return 1;
}

static int m_close(lua_State *L)
{
    lmodel_t *u = luaL_checkudata(L, 1, ML_MODEL_MT);
    if (!u->closed) {
        ml_model_free(u->m);
        u->m = NULL;
        u->closed = 1;
    }
    return 0;
}

static int m_tostring(lua_State *L)
{
    lmodel_t *u = luaL_checkudata(L, 1, ML_MODEL_MT);
    if (u->closed)
        lua_pushliteral(L, "model (closed)");
    else
        lua_pushfstring(L, "model (%d layers, %d parameters)", u->m->nlayers,
                        (int)u->m->nparams);
    return 1;
}

static const luaL_Reg methods[] = {
    {"init", m_init},           {"train_mode", m_train_mode}, {"forward", m_forward},
    {"backward", m_backward},   {"zero_grad", m_zero_grad},   {"params", m_params},
    {"grads", m_grads},         {"layer", m_layer},           {"info", m_info},
    {"train_epoch", m_train_epoch}, {"evaluate", m_evaluate}, {"close", m_close},
    {"set_state", m_set_state}, {"rng_state", m_rng_state}, {"set_rng_state", m_set_rng_state},
    {"final_state", m_final_state}, {"state_grad", m_state_grad},
    {"carry_state", m_carry_state}, {"reset_state", m_reset_state}, {"generate", m_generate},
    {NULL, NULL}};

static const luaL_Reg meta[] = {
    {"__gc", m_close}, {"__close", m_close}, {"__tostring", m_tostring}, {NULL, NULL}};

/* core.loss(kind, pred, target [, weights [, reduce]]) -> loss, dpred, correct */
static int l_loss(lua_State *L)
{
    static const char *const reductions[] = {"mean", "weighted_mean", "sum", NULL};
    const char *kind = luaL_checkstring(L, 1);
    int k = ml_loss_kind_from_name(kind);
    if (k < 0)
        return luaL_error(L, "loss: unknown loss '%s' (mse, cross_entropy, bce_logits)", kind);
    ml_tensor_t *pred = ml__check_tensor(L, 2, "loss");
    ml_tensor_t *target = ml__check_tensor(L, 3, "loss");
    ml_tensor_t *w = ml__opt_tensor(L, 4, "loss");
    int r = luaL_checkoption(L, 5, "mean", reductions);
    if (pred->ndim != 2 && pred->ndim != 3) {
        char s[64];
        return luaL_error(L, "%s: prediction is %s, expected (B,C) or (B,T,C)", kind,
                          ml_shape_str(s, 64, pred));
    }
    ml_tensor_t *d = ml__push_tensor(L, pred->ndim, pred->shape, "loss");
    double value, correct;
    if (ml_loss((ml_loss_kind_t)k, (ml_reduce_t)r, &value, &correct, d, pred, target, w))
        return ml__engine_error(L, "loss");
    lua_pushnumber(L, value);
    lua_insert(L, -2);
    lua_pushnumber(L, correct);
    return 3;
}

static const luaL_Reg functions[] = {{"new", m_new}, {NULL, NULL}};

int ml__open_model(lua_State *L)
{
    luaL_newmetatable(L, ML_MODEL_MT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}

int ml__open_loss(lua_State *L)
{
    lua_pushcfunction(L, l_loss);
    return 1;
}
