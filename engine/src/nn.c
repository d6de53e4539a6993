#include "moonlab/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/kernels.h"

static const char *const layer_names[ML_LAYER_NKINDS] = {
    [ML_LAYER_LINEAR] = "linear",   [ML_LAYER_RELU] = "relu",
    [ML_LAYER_SIGMOID] = "sigmoid", [ML_LAYER_TANH] = "tanh",
    [ML_LAYER_SOFTMAX] = "softmax", [ML_LAYER_LOG_SOFTMAX] = "log_softmax",
    [ML_LAYER_DROPOUT] = "dropout", [ML_LAYER_IDENTITY] = "identity",
    [ML_LAYER_RECURRENT] = "recurrent", [ML_LAYER_EMBEDDING] = "embedding",
    [ML_LAYER_ONE_HOT] = "one_hot",     [ML_LAYER_REPEAT] = "repeat",
};

const char *ml_layer_name(ml_layer_kind_t kind)
{
    return (unsigned)kind < ML_LAYER_NKINDS ? layer_names[kind] : "?";
}

int ml_layer_kind_from_name(const char *name)
{
    for (int k = 0; k < ML_LAYER_NKINDS; k++)
        if (strcmp(layer_names[k], name) == 0)
            return k;
    return -1;
}

#define LAYER_FAIL(code, i, L, fmt, ...)                                                   \
    ml__fail(code, "layer %d (%s): " fmt, (i) + 1, ml_layer_name((L)->spec.kind), __VA_ARGS__)

void ml_model_free(ml_model_t *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nlayers; i++) {
        ml_layer_t *L = &m->layers[i];
        ml_tensor_free(&L->y);
        ml_tensor_free(&L->dx);
        ml_tensor_free(&L->mask);
        if (L->rnn) {
            ml_rnn_free(L->rnn);
            free(L->rnn);
        }
    }
    free(m->layers);
    free(m->len);
    ml_tensor_free(&m->dy_mask);
    free(m->params);
    free(m->grads);
    free(m->decay);
    free(m);
}

static void bind_recurrent(ml_model_t *m, ml_layer_t *L)
{
    ml_rnn_bind(L->rnn, m->params + L->offset, m->grads + L->offset);
    int64_t gh = ml_rnn_gates(L->rnn->cell) * L->rnn->hidden;
    for (int l = 0; l < L->rnn->nlayers * L->rnn->dirs; l++) { /* weights decay, biases do not */
        const ml_rnn_layer_t *R = &L->rnn->layers[l];
        int64_t w_off = R->w_ih - m->params, nw = gh * (R->in + L->rnn->hidden);
        for (int64_t k = 0; k < nw; k++)
            m->decay[w_off + k] = 1.0f;
    }
}

static void bind_views(ml_model_t *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        ml_layer_t *L = &m->layers[i];
        if (L->spec.kind == ML_LAYER_RECURRENT)
            bind_recurrent(m, L);
        if (L->spec.kind == ML_LAYER_EMBEDDING) {
            ml_tensor_t *views[2] = {&L->w, &L->dw};
            float *bases[2] = {m->params + L->offset, m->grads + L->offset};
            for (int v = 0; v < 2; v++) {
                memset(views[v], 0, sizeof *views[v]);
                views[v]->data = bases[v];
                views[v]->ndim = 2;
                views[v]->shape[0] = L->in;
                views[v]->shape[1] = L->out;
                views[v]->stride[0] = L->out;
                views[v]->stride[1] = 1;
            }
            for (int64_t k = 0; k < L->nparams; k++)
                m->decay[L->offset + k] = 1.0f;
        }
        if (L->spec.kind != ML_LAYER_LINEAR)
            continue;
        float *p = m->params + L->offset, *g = m->grads + L->offset;
        const int64_t wshape[2] = {L->out, L->in}, bshape[1] = {L->out};
        /* Views into the flat buffers: built by hand, never freed by the layer. */
        ml_tensor_t *views[4] = {&L->w, &L->dw, &L->b, &L->db};
        float *bases[4] = {p, g, p + L->out * L->in, g + L->out * L->in};
        for (int v = 0; v < 4; v++) {
            ml_tensor_t *t = views[v];
            memset(t, 0, sizeof *t);
            t->data = bases[v];
            if (v < 2) {
                t->ndim = 2;
                t->shape[0] = wshape[0];
                t->shape[1] = wshape[1];
                t->stride[0] = wshape[1];
                t->stride[1] = 1;
            } else {
                t->ndim = 1;
                t->shape[0] = L->spec.bias ? bshape[0] : 0;
                t->stride[0] = 1;
            }
        }
        for (int64_t k = 0; k < L->out * L->in; k++)
            m->decay[L->offset + k] = 1.0f;
    }
}

/* Layer i starts from the final states of layer spec.state_from: an earlier recurrent layer
 * whose states have the same shape, feeding no other layer. */
static int link_states(ml_model_t *m, int i)
{
    ml_layer_t *L = &m->layers[i];
    const int k = L->spec.state_from - 1;
    if (k < 0 || k >= i || m->layers[k].spec.kind != ML_LAYER_RECURRENT)
        return LAYER_FAIL(ML_EARG, i, L, "state_from = %d is not an earlier recurrent layer",
                          L->spec.state_from);
    ml_layer_t *S = &m->layers[k];
    const ml_rnn_t *a = S->rnn, *b = L->rnn;
    if (a->nlayers * a->dirs != b->nlayers * b->dirs || a->hidden != b->hidden ||
        (a->cell == ML_CELL_LSTM) != (b->cell == ML_CELL_LSTM))
        return LAYER_FAIL(ML_EARG, i, L,
                          "cannot start from the states of layer %d: %s with %d state(s) of %lld "
                          "units, this layer is %s with %d of %lld (the same count and size, and an "
                          "LSTM for an LSTM, are needed)",
                          k + 1, ml_cell_name(a->cell), a->nlayers * a->dirs, (long long)a->hidden,
                          ml_cell_name(b->cell), b->nlayers * b->dirs, (long long)b->hidden);
    if (S->state_to)
        return LAYER_FAIL(ML_EARG, i, L, "layer %d already seeds layer %d", k + 1, S->state_to);
    if (L->spec.learn_state)
        return LAYER_FAIL(ML_EARG, i, L, "learnable initial states and state_from = %d exclude each other",
                          k + 1);
    S->state_to = i + 1;
    return ML_OK;
}

int ml_model_new(ml_model_t **out, int nlayers, const ml_layer_spec_t *specs)
{
    *out = NULL;
    if (nlayers < 1)
        return ml__fail(ML_EARG, "sequential: a model needs at least one layer");
    ml_model_t *m = calloc(1, sizeof *m);
    if (!m || !(m->layers = calloc((size_t)nlayers, sizeof *m->layers))) {
        free(m);
        return ml__fail(ML_ENOMEM, "sequential: cannot allocate %d layers", nlayers);
    }
    m->nlayers = nlayers;
    m->in_ndim = specs[0].kind == ML_LAYER_RECURRENT ? 3 : 2;
    int64_t feat = 0; /* features flowing out of the previous layer; 0 = not known yet */
    int seq = m->in_ndim == 3; /* 1 while activations are sequences (B, T, F) */
    /* 1 while activations are the input's sequence, step for step (they get the lengths) */
    int chain = specs[0].kind == ML_LAYER_RECURRENT || specs[0].kind == ML_LAYER_EMBEDDING ||
                specs[0].kind == ML_LAYER_ONE_HOT;
    for (int i = 0; i < nlayers; i++) {
        ml_layer_t *L = &m->layers[i];
        L->spec = specs[i];
        if ((unsigned)L->spec.kind >= ML_LAYER_NKINDS) {
            int rc = ml__fail(ML_EARG, "layer %d: unknown kind %d", i + 1, (int)L->spec.kind);
            ml_model_free(m);
            return rc;
        }
        int rc = ML_OK;
        L->chain = chain;
        if (L->spec.kind == ML_LAYER_LINEAR) {
            int64_t in = L->spec.in ? L->spec.in : feat;
            if (in <= 0 && !L->spec.in)
                rc = LAYER_FAIL(ML_EARG, i, L, "input size not given and not known from a previous layer%s", "");
            else if (in <= 0 || L->spec.out <= 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "sizes must be positive, got in=%lld out=%lld",
                                (long long)in, (long long)L->spec.out);
            else if (feat && in != feat)
                rc = LAYER_FAIL(ML_ESHAPE, i, L, "expects %lld input features but the previous layer gives %lld",
                                (long long)in, (long long)feat);
            if (!rc) {
                if (!m->in && !feat)
                    m->in = in;
                L->in = in;
                L->out = L->spec.out;
                L->offset = m->nparams;
                L->nparams = L->out * L->in + (L->spec.bias ? L->out : 0);
                m->nparams += L->nparams;
                feat = L->out;
            }
        } else if (L->spec.kind == ML_LAYER_ONE_HOT) {
            if (i > 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "a one-hot layer reads ids (B,T) and must come first%s", "");
            else if (L->spec.in <= 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "vocabulary %lld must be positive", (long long)L->spec.in);
            if (!rc) {
                L->in = L->out = feat = L->spec.in;
                seq = 1;
            }
        } else if (L->spec.kind == ML_LAYER_REPEAT) {
            if (seq)
                rc = LAYER_FAIL(ML_EARG, i, L, "repeat reads vectors (B,F), not sequences; put it after a last-step recurrent layer or a linear layer%s", "");
            else if (L->spec.out < 1)
                rc = LAYER_FAIL(ML_EARG, i, L, "steps %lld must be positive", (long long)L->spec.out);
            if (!rc) {
                L->in = L->out = feat;
                seq = 1;
                chain = 0;
            }
        } else if (L->spec.kind == ML_LAYER_EMBEDDING) {
            if (i > 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "an embedding reads ids (B,T) and must come first%s", "");
            else if (L->spec.in <= 0 || L->spec.out <= 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "vocabulary %lld and size %lld must be positive",
                                (long long)L->spec.in, (long long)L->spec.out);
            if (!rc) {
                L->in = L->spec.in;
                L->out = L->spec.out;
                L->offset = m->nparams;
                L->nparams = L->in * L->out;
                m->nparams += L->nparams;
                feat = L->out;
                seq = 1;
            }
        } else if (L->spec.kind == ML_LAYER_RECURRENT) {
            int64_t in = L->spec.in ? L->spec.in : feat;
            const int ids = i > 0 && m->layers[i - 1].spec.kind == ML_LAYER_ONE_HOT;
            const int flags = (L->spec.sequence ? 0 : ML_RNN_LAST) |
                              (L->spec.bidirectional ? ML_RNN_BIDIRECTIONAL : 0) |
                              (L->spec.learn_state ? ML_RNN_LEARN_STATE : 0) |
                              (ids ? ML_RNN_IDS : 0);
            if (!seq)
                rc = LAYER_FAIL(ML_EARG, i, L, "a recurrent layer reads sequences (B,T,D); put it first or after other sequence layers%s", "");
            else if (in <= 0)
                rc = LAYER_FAIL(ML_EARG, i, L, "input size not given and not known from a previous layer%s", "");
            else if (feat && in != feat)
                rc = LAYER_FAIL(ML_ESHAPE, i, L, "expects %lld input features but the previous layer gives %lld",
                                (long long)in, (long long)feat);
            else if (!(L->rnn = calloc(1, sizeof *L->rnn)))
                rc = LAYER_FAIL(ML_ENOMEM, i, L, "cannot allocate%s", "");
            else if ((rc = ml_rnn_init(L->rnn, L->spec.cell, in, L->spec.hidden, L->spec.layers,
                                       flags)))
                rc = LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
            else if (!(L->spec.p >= 0.0f && L->spec.p < 1.0f))
                rc = LAYER_FAIL(ML_EARG, i, L, "dropout must be in [0, 1), got %g", (double)L->spec.p);
            else if (!L->spec.state_from || (rc = link_states(m, i)) == ML_OK)
                L->rnn->dropout = L->spec.p;
            if (ids)
                m->layers[i - 1].fused = 1;
            if (!rc) {
                if (i == 0) {
                    m->in = in;
                    m->in_ndim = 3;
                }
                L->in = in;
                L->out = (L->spec.bidirectional ? 2 : 1) * L->spec.hidden;
                L->offset = m->nparams;
                L->nparams = ml_rnn_nparams(L->spec.cell, in, L->spec.hidden, L->spec.layers, flags);
                m->nparams += L->nparams;
                feat = L->out;
                seq = L->spec.sequence;
                chain = chain && seq;
            }
        } else {
            if (L->spec.kind == ML_LAYER_DROPOUT && !(L->spec.p >= 0.0f && L->spec.p < 1.0f))
                rc = LAYER_FAIL(ML_EARG, i, L, "p must be in [0, 1), got %g", (double)L->spec.p);
            L->in = L->out = feat;
        }
        if (rc) {
            ml_model_free(m); /* the message is already written */
            return rc;
        }
    }
    m->out = feat;
    m->out_chain = chain;
    size_t bytes = (size_t)(m->nparams > 0 ? m->nparams : 1) * sizeof(float);
    m->params = calloc(1, bytes);
    m->grads = calloc(1, bytes);
    m->decay = calloc(1, bytes);
    if (!m->params || !m->grads || !m->decay) {
        long long n = (long long)m->nparams;
        ml_model_free(m);
        return ml__fail(ML_ENOMEM, "sequential: cannot allocate %lld parameters", n);
    }
    bind_views(m);
    m->train = 1;
    ml_rng_seed(&m->rng, 0);
    *out = m;
    return ML_OK;
}

/* PyTorch's default for recurrent layers: every weight and bias U(±1/sqrt(H)). Other
 * initializers see W_ih as (G·H, D_l) and W_hh as (G·H, H). */
static int init_recurrent(ml_layer_t *L, uint64_t seed)
{
    const ml_rnn_t *R = L->rnn;
    int64_t H = R->hidden, GH = ml_rnn_gates(R->cell) * H;
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    for (int l = 0; l < R->nlayers * R->dirs; l++) {
        const ml_rnn_layer_t *RL = &R->layers[l];
        const ml_init_t *wi = &L->spec.weight_init, *bi = &L->spec.bias_init;
        int def = wi->kind == ML_INIT_DEFAULT;
        int rc = ml_init_fill_n(RL->w_ih, GH * RL->in, GH, def ? H : RL->in, wi, &r);
        if (!rc)
            rc = ml_init_fill(RL->w_hh, GH, H, wi, &r);
        if (!rc)
            rc = ml_init_fill_n(RL->b_ih, GH, GH, H, bi, &r);
        if (!rc)
            rc = ml_init_fill_n(RL->b_hh, GH, GH, H, bi, &r);
        if (rc)
            return rc;
    }
    if (R->learn_state) { /* learnable initial states start at zero, PyTorch's default state */
        int64_t n = (int64_t)R->nlayers * R->dirs * H;
        memset(R->h0p, 0, (size_t)n * sizeof(float));
        if (R->c0p)
            memset(R->c0p, 0, (size_t)n * sizeof(float));
    }
    return ML_OK;
}

int ml_model_init(ml_model_t *m, uint64_t seed)
{
    for (int i = 0; i < m->nlayers; i++) {
        ml_layer_t *L = &m->layers[i];
        if (L->spec.kind == ML_LAYER_RECURRENT) {
            int rc = init_recurrent(L, ml_seed_derive(seed, "init", (uint64_t)i));
            if (rc)
                return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
            continue;
        }
        if (L->spec.kind == ML_LAYER_EMBEDDING) { /* PyTorch's default: N(0, 1) */
            ml_rng_t r;
            ml_rng_seed(&r, ml_seed_derive(seed, "init", (uint64_t)i));
            const ml_init_t def = {ML_INIT_NORMAL, 0.0f, 1.0f};
            const ml_init_t *wi = L->spec.weight_init.kind == ML_INIT_DEFAULT ? &def : &L->spec.weight_init;
            int rc = ml_init_fill(L->w.data, L->in, L->out, wi, &r);
            if (rc)
                return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
            continue;
        }
        if (L->spec.kind != ML_LAYER_LINEAR)
            continue;
        ml_rng_t r;
        ml_rng_seed(&r, ml_seed_derive(seed, "init", (uint64_t)i));
        int rc = ml_init_fill(L->w.data, L->out, L->in, &L->spec.weight_init, &r);
        if (!rc && L->spec.bias)
            rc = ml_init_fill_n(L->b.data, L->out, L->out, L->in, &L->spec.bias_init, &r);
        if (rc)
            return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    }
    ml_rng_seed(&m->rng, ml_seed_derive(seed, "dropout", 0));
    return ML_OK;
}

void ml_model_zero_grad(ml_model_t *m)
{
    memset(m->grads, 0, (size_t)m->nparams * sizeof(float));
}

/* Rows and features of an activation: (B, F) or (B, T, F) seen as (rows, F). */
/* Rows and features of an activation: (B, F) or (B, T, F) seen as (rows, F). */
static void rows_features(const ml_tensor_t *x, int64_t *rows, int64_t *F)
{
    *F = x->shape[x->ndim - 1];
    *rows = x->ndim == 3 ? x->shape[0] * x->shape[1] : x->shape[0];
}

/* Lengths for layer L of this forward, or NULL. */
static const int64_t *layer_lengths(const ml_model_t *m, const ml_layer_t *L)
{
    return m->has_len && L->chain ? m->len : NULL;
}

/* Every id of real steps an integer in 0..V-1, checked before anything is written. */
static int check_ids(const ml_layer_t *L, int i, const ml_tensor_t *x, const int64_t *len)
{
    int64_t B = x->shape[0], T = x->shape[1];
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < (len ? len[b] : T); t++) {
            float v = x->data[b * x->stride[0] + t * x->stride[1]];
            if (!(v >= 0.0f && v < (float)L->in) || v != (float)(int64_t)v)
                return LAYER_FAIL(ML_EARG, i, L, "id %g at (%lld,%lld) is not an integer in 0..%lld",
                                  (double)v, (long long)b + 1, (long long)t + 1, (long long)L->in - 1);
        }
    return ML_OK;
}

/* ids (B, T) -> rows of W (B, T, E), or one-hot vectors (B, T, V) (W = I); zero vectors on
 * padded steps. */
static int lookup_forward(ml_model_t *m, ml_layer_t *L, int i, const ml_tensor_t *x)
{
    const int64_t *len = layer_lengths(m, L);
    int rc = check_ids(L, i, x, len);
    if (rc)
        return rc;
    if (L->fused) { /* the recurrent layer after reads the ids */
        L->y = *x;
        L->y.owns = 0;
        return ML_OK;
    }
    const int onehot = L->spec.kind == ML_LAYER_ONE_HOT;
    int64_t B = x->shape[0], T = x->shape[1], E = L->out;
    int64_t yshape[3] = {B, T, E};
    rc = ml_tensor_ensure(&L->y, 3, yshape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++) {
            float *dst = L->y.data + (b * T + t) * E;
            if ((len && t >= len[b]) || onehot)
                memset(dst, 0, (size_t)E * sizeof(float));
            if (len && t >= len[b])
                continue;
            int64_t id = (int64_t)x->data[b * x->stride[0] + t * x->stride[1]];
            if (onehot)
                dst[id] = 1.0f;
            else
                memcpy(dst, L->w.data + id * E, (size_t)E * sizeof(float));
        }
    return ML_OK;
}

/* Embedding: gradient only into the rows the batch used (all rows are cleared first when
 * overwriting), none from padded steps. Ids have no gradient: dx, if asked for, is zero. */
static int lookup_backward(ml_model_t *m, ml_layer_t *L, int i, const ml_tensor_t *dy,
                           int need_dx)
{
    const ml_tensor_t *x = &L->x;
    const int64_t *len = layer_lengths(m, L);
    int64_t B = x->shape[0], T = x->shape[1], E = L->out;
    if (L->spec.kind == ML_LAYER_EMBEDDING) {
        if (m->overwrite)
            memset(L->dw.data, 0, (size_t)L->nparams * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < (len ? len[b] : T); t++) {
                int64_t id = (int64_t)x->data[b * x->stride[0] + t * x->stride[1]];
                ml_k_axpy(L->dw.data + id * E, dy->data + (b * T + t) * E, 1.0f, E);
            }
    }
    if (!need_dx)
        return ML_OK;
    int64_t shape[2] = {B, T};
    if (L->dx.data && !L->dx.owns)
        memset(&L->dx, 0, sizeof L->dx);
    int rc = ml_tensor_ensure(&L->dx, 2, shape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    memset(L->dx.data, 0, (size_t)(B * T) * sizeof(float));
    return ML_OK;
}

/* (B, F) -> (B, M, F): the vector at every step; backward sums the steps' gradients. */
static int repeat_forward(ml_layer_t *L, int i, const ml_tensor_t *x)
{
    int64_t B = x->shape[0], F = x->shape[1], M = L->spec.out;
    int64_t shape[3] = {B, M, F};
    int rc = ml_tensor_ensure(&L->y, 3, shape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < M; t++)
            memcpy(L->y.data + (b * M + t) * F, x->data + b * F, (size_t)F * sizeof(float));
    return ML_OK;
}

static int repeat_backward(ml_layer_t *L, int i, const ml_tensor_t *dy)
{
    int64_t B = dy->shape[0], M = dy->shape[1], F = dy->shape[2];
    int64_t shape[2] = {B, F};
    int rc = ml_tensor_ensure(&L->dx, 2, shape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    memset(L->dx.data, 0, (size_t)(B * F) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < M; t++)
            ml_k_axpy(L->dx.data + b * F, dy->data + (b * M + t) * F, 1.0f, F);
    return ML_OK;
}

static int layer_forward(ml_model_t *m, int i, const ml_tensor_t *x)
{
    ml_layer_t *L = &m->layers[i];
    L->x = *x;
    L->x.owns = 0;
    if (L->spec.kind == ML_LAYER_RECURRENT) {
        const ml_tensor_t *y;
        L->rnn->train = m->train;
        L->rnn->rng = &m->rng;
        int rc = ML_OK;
        if (L->spec.state_from) { /* the encoder's final states, for this batch */
            const ml_tensor_t *hn, *cn;
            ml_rnn_final_state(m->layers[L->spec.state_from - 1].rnn, &hn, &cn);
            rc = ml_rnn_set_state(L->rnn, hn, cn);
        }
        if (!rc)
            rc = ml_rnn_forward(L->rnn, x, layer_lengths(m, L), &y);
        if (rc)
            return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
        L->y = *y; /* a view of the stack's output */
        L->y.owns = 0;
        return ML_OK;
    }
    if (L->spec.kind == ML_LAYER_EMBEDDING || L->spec.kind == ML_LAYER_ONE_HOT)
        return lookup_forward(m, L, i, x);
    if (L->spec.kind == ML_LAYER_REPEAT)
        return repeat_forward(L, i, x);
    int64_t rows, F;
    rows_features(x, &rows, &F);
    int64_t yshape[3] = {x->shape[0], x->shape[1], x->ndim == 3 ? x->shape[2] : 0};
    if (L->spec.kind == ML_LAYER_LINEAR)
        yshape[x->ndim - 1] = L->out;
    int rc = ml_tensor_ensure(&L->y, x->ndim, yshape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    float *y = L->y.data;
    const float *xd = x->data;
    int64_t n = rows * F;
    switch (L->spec.kind) {
    case ML_LAYER_LINEAR: {
        /* y (rows,out) = x (rows,in) @ W^T, W stored (out,in): W^T is the stride-swapped view.
         * A 2-D input may be any view; a 3-D one comes contiguous from the layer before. */
        int64_t rs = x->ndim == 2 ? x->stride[0] : F, cs = x->ndim == 2 ? x->stride[1] : 1;
        ml_k_gemm(y, L->out, 1, xd, rs, cs, L->w.data, 1, L->in, rows, L->out, L->in, 1.0f, 0.0f);
        if (L->spec.bias)
            ml_k_add_bias(y, L->out, L->b.data, rows, L->out);
        return ML_OK;
    }
    case ML_LAYER_RELU: ml_k_relu(y, xd, n); return ML_OK;
    case ML_LAYER_SIGMOID: ml_k_sigmoid(y, xd, n); return ML_OK;
    case ML_LAYER_TANH: ml_k_tanh(y, xd, n); return ML_OK;
    case ML_LAYER_SOFTMAX: ml_k_softmax(y, xd, rows, F); return ML_OK;
    case ML_LAYER_LOG_SOFTMAX: ml_k_log_softmax(y, xd, rows, F); return ML_OK;
    case ML_LAYER_IDENTITY: memcpy(y, xd, (size_t)n * sizeof *y); return ML_OK;
    case ML_LAYER_DROPOUT:
        if (!m->train || L->spec.p == 0.0f) {
            memcpy(y, xd, (size_t)n * sizeof *y);
            return ML_OK;
        }
        rc = ml_tensor_ensure(&L->mask, x->ndim, yshape);
        if (rc)
            return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
        {
            float keep = 1.0f - L->spec.p, scale = 1.0f / keep;
            float *mask = L->mask.data;
            for (int64_t k = 0; k < n; k++)
                mask[k] = ml_rng_float(&m->rng) < keep ? scale : 0.0f;
            for (int64_t k = 0; k < n; k++)
                y[k] = xd[k] * mask[k];
        }
        return ML_OK;
    default:
        return LAYER_FAIL(ML_EARG, i, L, "unknown kind %d", (int)L->spec.kind);
    }
}

/* Name of layer i for messages: the cell for recurrent layers. */
static const char *layer_label(const ml_layer_t *L)
{
    return L->spec.kind == ML_LAYER_RECURRENT ? ml_cell_name(L->spec.cell)
                                              : ml_layer_name(L->spec.kind);
}

/* Lengths of this forward: (B) or (B, 1), integers 1..T, for a model that reads sequences. */
static int take_lengths(ml_model_t *m, const ml_tensor_t *x, const ml_tensor_t *lengths)
{
    char a[64];
    m->has_len = 0;
    if (!lengths)
        return ML_OK;
    const ml_layer_t *first = &m->layers[0];
    if (!first->chain)
        return ml__fail(ML_EARG, "lengths given, but layer 1 (%s) does not read sequences",
                        layer_label(first));
    const int64_t B = x->shape[0], T = x->shape[1];
    if (!((lengths->ndim == 1 && lengths->shape[0] == B) ||
          (lengths->ndim == 2 && lengths->shape[0] == B && lengths->shape[1] == 1))) {
        char b[64];
        return ml__fail(ML_ESHAPE, "lengths are %s, expected (%lld,) for the input %s",
                        ml_shape_str(a, sizeof a, lengths), (long long)B,
                        ml_shape_str(b, sizeof b, x));
    }
    for (int64_t k = 0; k < B; k++) {
        float v = lengths->data[k * lengths->stride[0]];
        if (!(v >= 1.0f && v <= (float)T) || v != (float)(int64_t)v)
            return ml__fail(ML_EARG, "layer 1 (%s): length %g of sequence %lld is not an integer in 1..%lld (T of the input %s)",
                            layer_label(first), (double)v, (long long)k + 1, (long long)T,
                            ml_shape_str(a, sizeof a, x));
    }
    if (m->len_cap < B) {
        int64_t *p = realloc(m->len, (size_t)B * sizeof *p);
        if (!p)
            return ml__fail(ML_ENOMEM, "cannot keep %lld lengths", (long long)B);
        m->len = p;
        m->len_cap = B;
    }
    for (int64_t k = 0; k < B; k++)
        m->len[k] = (int64_t)lengths->data[k * lengths->stride[0]];
    m->has_len = 1;
    return ML_OK;
}

/* Zero steps t >= n_b of a (B, T, F) activation. */
static void zero_padded(float *y, const int64_t *len, int64_t B, int64_t T, int64_t F)
{
    for (int64_t b = 0; b < B; b++)
        if (len[b] < T)
            memset(y + (b * T + len[b]) * F, 0, (size_t)((T - len[b]) * F) * sizeof(float));
}

int ml_model_forward(ml_model_t *m, const ml_tensor_t *x, const ml_tensor_t **y)
{
    return ml_model_forward_lengths(m, x, NULL, y);
}

int ml_model_forward_lengths(ml_model_t *m, const ml_tensor_t *x, const ml_tensor_t *lengths,
                             const ml_tensor_t **y)
{
    char buf[64];
    const ml_layer_t *L0 = &m->layers[0];
    ml_layer_kind_t first = L0->spec.kind;
    if (x->ndim != m->in_ndim || (m->in && x->shape[x->ndim - 1] != m->in)) {
        char want[64];
        if (first == ML_LAYER_EMBEDDING || first == ML_LAYER_ONE_HOT)
            snprintf(want, sizeof want, "ids (B,T)");
        else
            snprintf(want, sizeof want, "%s%lld)", m->in_ndim == 3 ? "(B,T," : "(B,",
                     (long long)m->in);
        m->has_len = 0;
        return ml__fail(ML_ESHAPE, "input is %s, layer 1 (%s) expects %s",
                        ml_shape_str(buf, sizeof buf, x), layer_label(L0), want);
    }
    /* Elementwise kernels need contiguous rows; only the model's own input can be a view. */
    if (first != ML_LAYER_LINEAR && first != ML_LAYER_RECURRENT && first != ML_LAYER_EMBEDDING &&
        first != ML_LAYER_ONE_HOT && !ml_tensor_is_contiguous(x))
        return ml__fail(ML_ESHAPE, "input %s is a non-contiguous view; copy it first",
                        ml_shape_str(buf, sizeof buf, x));
    int rc = take_lengths(m, x, lengths);
    if (rc)
        return rc;
    const ml_tensor_t *cur = x;
    for (int i = 0; i < m->nlayers; i++) {
        rc = layer_forward(m, i, cur);
        if (rc)
            return rc;
        cur = &m->layers[i].y;
    }
    ml_layer_t *last = &m->layers[m->nlayers - 1];
    if (m->has_len && m->out_chain && cur->ndim == 3 && last->spec.kind != ML_LAYER_RECURRENT)
        zero_padded(last->y.data, m->len, cur->shape[0], cur->shape[1], cur->shape[2]);
    *y = cur;
    return ML_OK;
}

const int64_t *ml_model_lengths(const ml_model_t *m)
{
    return m->has_len ? m->len : NULL;
}

void ml_model_set_carry(ml_model_t *m, int on)
{
    m->carry = on != 0;
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].rnn)
            ml_rnn_set_carry(m->layers[i].rnn, on);
}

void ml_model_reset_state(ml_model_t *m)
{
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].rnn)
            ml_rnn_reset_state(m->layers[i].rnn);
}

/* The next id of each row from the logits z (B, V) of one step (row stride rs). */
static void pick_ids(float *ids, const float *z, int64_t rs, int64_t B, int64_t V,
                     double temperature, ml_rng_t *rng)
{
    for (int64_t b = 0; b < B; b++) {
        const float *zb = z + b * rs;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            best = zb[v] > zb[best] ? v : best;
        if (temperature > 0) { /* inverse CDF of softmax(z / temperature), stable in double */
            double total = 0, u;
            for (int64_t v = 0; v < V; v++)
                total += exp(((double)zb[v] - zb[best]) / temperature);
            u = ml_rng_double(rng) * total;
            for (int64_t v = 0; v < V; v++) {
                u -= exp(((double)zb[v] - zb[best]) / temperature);
                if (u < 0) {
                    best = v;
                    break;
                }
            }
        }
        ids[b] = (float)best;
    }
}

int ml_model_generate(ml_model_t *m, ml_tensor_t *out, const ml_tensor_t *prime, double temperature,
                      ml_rng_t *rng)
{
    const ml_layer_kind_t first = m->layers[0].spec.kind;
    if (first != ML_LAYER_EMBEDDING && first != ML_LAYER_ONE_HOT)
        return ml__fail(ML_EARG, "generate: layer 1 (%s) does not read ids; feeding back needs an "
                        "embedding or one_hot first layer", layer_label(&m->layers[0]));
    if (!m->out_chain || m->out != m->layers[0].in)
        return ml__fail(ML_EARG, "generate: the model gives %lld values per step%s, feeding back "
                        "needs logits over its %lld ids on every step", (long long)m->out,
                        m->out_chain ? "" : " (not on every step)", (long long)m->layers[0].in);
    if (prime->ndim != 2 || prime->shape[1] < 1 || out->ndim != 2 ||
        out->shape[0] != prime->shape[0] || out->shape[1] < 1 || !ml_tensor_is_contiguous(out)) {
        char a[64], b[64];
        return ml__fail(ML_ESHAPE, "generate: prime is %s and the output %s: expected (B,P) and "
                        "contiguous (B,steps)", ml_shape_str(a, sizeof a, prime),
                        ml_shape_str(b, sizeof b, out));
    }
    if (!(temperature >= 0) || (temperature > 0 && !rng))
        return ml__fail(ML_EARG, "generate: temperature %g must be >= 0 (> 0 needs a stream)",
                        temperature);
    const int64_t B = prime->shape[0], steps = out->shape[1], V = m->out;
    int64_t shape[2] = {B, 1};
    ml_tensor_t next;
    if (ml_tensor_new(&next, 2, shape))
        return ml__fail(ML_ENOMEM, "generate: cannot allocate (%lld,1)", (long long)B);
    const int was_train = m->train, was_carry = m->carry;
    m->train = 0;
    ml_model_reset_state(m);
    ml_model_set_carry(m, 1);
    const ml_tensor_t *y = prime; /* set by every successful forward */
    int rc = ml_model_forward(m, prime, &y);
    for (int64_t s = 0; !rc && s < steps; s++) {
        const int64_t T = y->shape[1];
        pick_ids(next.data, y->data + (T - 1) * V, T * V, B, V, temperature, rng);
        for (int64_t k = 0; k < B; k++)
            out->data[k * steps + s] = next.data[k];
        if (s + 1 < steps)
            rc = ml_model_forward(m, &next, &y);
    }
    ml_model_set_carry(m, was_carry);
    m->train = was_train;
    ml_tensor_free(&next);
    return rc;
}

static int layer_backward(ml_model_t *m, int i, const ml_tensor_t *dy, int need_dx)
{
    ml_layer_t *L = &m->layers[i];
    const ml_tensor_t *x = &L->x;
    if (L->spec.kind == ML_LAYER_EMBEDDING || L->spec.kind == ML_LAYER_ONE_HOT)
        return lookup_backward(m, L, i, dy, need_dx);
    if (L->spec.kind == ML_LAYER_REPEAT)
        return need_dx ? repeat_backward(L, i, dy) : ML_OK;
    if (L->spec.kind == ML_LAYER_RECURRENT) {
        const ml_tensor_t *dx = NULL, *dhn = NULL, *dcn = NULL;
        if (L->state_to) /* the decoder's initial-state gradients flow into our final states */
            ml_rnn_state_grad(m->layers[L->state_to - 1].rnn, &dhn, &dcn);
        int rc = ml_rnn_backward_states(L->rnn, dy, dhn, dcn, m->overwrite, need_dx ? &dx : NULL);
        if (rc)
            return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
        if (dx) {
            L->dx = *dx;
            L->dx.owns = 0;
        }
        return ML_OK;
    }
    int64_t rows, F;
    rows_features(x, &rows, &F);
    int64_t n = rows * F;
    int64_t xrs = x->ndim == 2 ? x->stride[0] : F, xcs = x->ndim == 2 ? x->stride[1] : 1;
    if (L->spec.kind == ML_LAYER_LINEAR) {
        /* dW (out,in) += dy^T (out,rows) @ x (rows,in); db += column sums of dy. */
        float beta = m->overwrite ? 0.0f : 1.0f;
        ml_k_gemm(L->dw.data, L->in, 1, dy->data, 1, L->out, x->data, xrs, xcs, L->out, L->in,
                  rows, 1.0f, beta);
        if (L->spec.bias) {
            if (m->overwrite)
                memset(L->db.data, 0, (size_t)L->out * sizeof(float));
            ml_k_sum_rows(L->db.data, dy->data, L->out, rows, L->out);
        }
    }
    if (!need_dx)
        return ML_OK;
    int64_t dxshape[3] = {x->shape[0], x->shape[1], x->ndim == 3 ? x->shape[2] : 0};
    if (L->dx.data && !L->dx.owns)
        memset(&L->dx, 0, sizeof L->dx); /* was a view; layers own their dx */
    int rc = ml_tensor_ensure(&L->dx, x->ndim, dxshape);
    if (rc)
        return LAYER_FAIL(rc, i, L, "%s", ml_errmsg());
    float *dx = L->dx.data;
    const float *g = dy->data, *y = L->y.data;
    if (L->spec.kind == ML_LAYER_LINEAR) {
        /* dx (rows,in) = dy (rows,out) @ W (out,in) */
        ml_k_gemm(dx, L->in, 1, g, L->out, 1, L->w.data, L->in, 1, rows, L->in, L->out, 1.0f, 0.0f);
        return ML_OK;
    }
    memset(dx, 0, (size_t)n * sizeof *dx);
    switch (L->spec.kind) {
    case ML_LAYER_RELU: ml_k_relu_backward(dx, g, y, n); break;
    case ML_LAYER_SIGMOID: ml_k_sigmoid_backward(dx, g, y, n); break;
    case ML_LAYER_TANH: ml_k_tanh_backward(dx, g, y, n); break;
    case ML_LAYER_SOFTMAX: ml_k_softmax_backward(dx, g, y, rows, F); break;
    case ML_LAYER_LOG_SOFTMAX: ml_k_log_softmax_backward(dx, g, y, rows, F); break;
    case ML_LAYER_IDENTITY: memcpy(dx, g, (size_t)n * sizeof *dx); break;
    case ML_LAYER_DROPOUT:
        if (!m->train || L->spec.p == 0.0f)
            memcpy(dx, g, (size_t)n * sizeof *dx);
        else
            for (int64_t k = 0; k < n; k++)
                dx[k] = g[k] * L->mask.data[k];
        break;
    default: break;
    }
    return ML_OK;
}

int ml_model_backward(ml_model_t *m, const ml_tensor_t *dy, const ml_tensor_t **dx)
{
    char a[64];
    const ml_tensor_t *y = &m->layers[m->nlayers - 1].y;
    if (!y->data || !m->layers[0].x.data)
        return ml__fail(ML_ESTATE, "no forward pass to go back through");
    int same = dy->ndim == y->ndim;
    for (int k = 0; same && k < dy->ndim; k++)
        same = dy->shape[k] == y->shape[k];
    if (!same) {
        char b[64];
        return ml__fail(ML_ESHAPE, "gradient is %s, the last output was %s",
                        ml_shape_str(a, sizeof a, dy), ml_shape_str(b, sizeof b, y));
    }
    if (!ml_tensor_is_contiguous(dy))
        return ml__fail(ML_ESHAPE, "gradient %s must be contiguous",
                        ml_shape_str(a, sizeof a, dy));
    const ml_tensor_t *g = dy;
    if (m->has_len && m->out_chain && dy->ndim == 3 &&
        m->layers[m->nlayers - 1].spec.kind != ML_LAYER_RECURRENT) {
        /* padded outputs are constant zeros: their gradient goes nowhere */
        if (ml_tensor_ensure(&m->dy_mask, 3, dy->shape))
            return ml__fail(ML_ENOMEM, "cannot allocate %s", ml_shape_str(a, sizeof a, dy));
        memcpy(m->dy_mask.data, dy->data, (size_t)ml_tensor_numel(dy) * sizeof(float));
        zero_padded(m->dy_mask.data, m->len, dy->shape[0], dy->shape[1], dy->shape[2]);
        g = &m->dy_mask;
    }
    for (int i = m->nlayers - 1; i >= 0; i--) {
        int need = i > 0 || dx != NULL;
        int rc = layer_backward(m, i, g, need);
        if (rc)
            return rc;
        g = &m->layers[i].dx;
    }
    if (dx)
        *dx = &m->layers[0].dx;
    return ML_OK;
}

int ml_model_backward_fresh(ml_model_t *m, const ml_tensor_t *dy, const ml_tensor_t **dx)
{
    m->overwrite = 1;
    int rc = ml_model_backward(m, dy, dx);
    m->overwrite = 0;
    if (rc) /* a failed backward may have written part of the buffer: leave it all zero */
        ml_model_zero_grad(m);
    return rc;
}
