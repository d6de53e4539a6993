/* Layers and the sequential model: finite-difference gradient checks for every layer kind
 * (inputs and parameters) and for a stacked model, the forward/backward contract (accumulation,
 * optional dx, modes), dropout statistics, initialisation, the weight-decay mask, and the
 * errors with their messages. Sequence models: lengths flowing through embedding, recurrent and
 * head layers, one-hot input (fused and dense), repeat (1 -> N), an encoder-decoder whose
 * decoder starts from the encoder's states (N -> M), learnable states, carried states, and
 * feeding the output back (generate).
 *
 * Gradient checks. The objective is J = sum_ij y_ij * R_ij with a fixed random R, so dJ/dy = R
 * is what backward receives. Central differences in double around float parameters with
 * eps = 1e-2: the forward pass is float32, so J carries rounding noise of about
 * sqrt(B*F) * 2^-24 * |y| ~ 1e-6, which eps = 1e-2 turns into ~5e-5 of noise in the numeric
 * gradient, while the truncation error of central differences is eps^2/6 * |f'''| ~ 3e-5 for
 * these smooth functions. We accept |numeric - analytic| <= 1e-3 + 1e-2 * |numeric|: an order
 * of magnitude above both, and far below the O(1) relative error of a wrong formula, a missing
 * term or a transposed index. ReLU inputs are kept at |x| >= 0.2 so that no perturbation
 * crosses the kink; dropout re-seeds the model's stream before every forward so the mask is
 * the same in every evaluation. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/nn.h"
#include "moonlab/rng.h"

#define EPS 1e-2
#define ATOL 1e-3
#define RTOL 1e-2
#define DROPOUT_SEED 4242

static ml_layer_spec_t linear(int64_t in, int64_t out, int bias)
{
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = ML_LAYER_LINEAR;
    s.in = in;
    s.out = out;
    s.bias = bias;
    return s;
}

static ml_layer_spec_t layer(ml_layer_kind_t kind)
{
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = kind;
    return s;
}

static ml_layer_spec_t dropout(float p)
{
    ml_layer_spec_t s = layer(ML_LAYER_DROPOUT);
    s.p = p;
    return s;
}


typedef struct {
    ml_model_t *m;
    const ml_tensor_t *x;
    const float *R;
    int reseed; /* dropout: same mask in every evaluation */
    const ml_tensor_t *len; /* sequence lengths, or NULL */
} objective_t;

static double objective(void *p)
{
    objective_t *o = p;
    const ml_tensor_t *y;
    if (o->reseed)
        ml_rng_seed(&o->m->rng, DROPOUT_SEED);
    if (ml_model_forward_lengths(o->m, o->x, o->len, &y) != ML_OK)
        return NAN;
    double J = 0;
    int64_t n = ml_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        J += (double)y->data[i] * o->R[i];
    return J;
}

/* Analytic input and parameter gradients of J at x (with lengths len, or NULL), then compare
 * both with central differences (the input only when it is not ids). */
static void gradcheck_len(const char *what, ml_model_t *m, ml_tensor_t *x, const ml_tensor_t *len,
                          int check_dx, int reseed, ml_rng_t *r)
{
    const ml_tensor_t *y, *dx;
    int64_t B = x->shape[0], nx = ml_tensor_numel(x);
    if (reseed)
        ml_rng_seed(&m->rng, DROPOUT_SEED);
    int rc = ml_model_forward_lengths(m, x, len, &y);
    CHECK_MSG(rc == ML_OK, "%s: %s", what, ml_errmsg());
    if (rc)
        return;
    CHECK(y->shape[0] == B);
    ml_tensor_t R;
    CHECK(ml_tensor_new(&R, y->ndim, y->shape) == ML_OK);
    ml_rng_normal(r, R.data, ml_tensor_numel(y), 0.0f, 1.0f);

    ml_model_zero_grad(m);
    CHECK(ml_model_backward(m, &R, &dx) == ML_OK);
    CHECK(dx->ndim == x->ndim && ml_tensor_numel(dx) == nx);
    float *dx_copy = malloc((size_t)nx * sizeof(float));
    memcpy(dx_copy, dx->data, (size_t)nx * sizeof(float));
    float *g_copy = malloc((size_t)(m->nparams > 0 ? m->nparams : 1) * sizeof(float));
    memcpy(g_copy, m->grads, (size_t)m->nparams * sizeof(float));

    objective_t o = {m, x, R.data, reseed, len};
    char label[96];
    snprintf(label, sizeof label, "%s dx", what);
    if (check_dx)
        gc_check_array(label, x->data, dx_copy, nx, EPS, ATOL, RTOL, objective, &o);
    snprintf(label, sizeof label, "%s dparams", what);
    gc_check_array(label, m->params, g_copy, m->nparams, EPS, ATOL, RTOL, objective, &o);
    free(dx_copy);
    free(g_copy);
    ml_tensor_free(&R);
}

static void gradcheck(const char *what, ml_model_t *m, ml_tensor_t *x, int reseed, ml_rng_t *r)
{
    gradcheck_len(what, m, x, NULL, 1, reseed, r);
}

static ml_model_t *build(int n, const ml_layer_spec_t *specs)
{
    ml_model_t *m = NULL;
    int rc = ml_model_new(&m, n, specs);
    CHECK_MSG(rc == ML_OK && m, "ml_model_new: %s", ml_errmsg());
    return m;
}

/* Parameters drawn directly (not through ml_model_init), so the checks hold at any point. */
static void random_params(ml_model_t *m, ml_rng_t *r)
{
    ml_rng_uniform(r, m->params, m->nparams, -1.0f, 1.0f);
}

static void test_gradcheck_linear(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 100);
    for (int bias = 0; bias <= 1; bias++) {
        ml_layer_spec_t s = linear(5, 4, bias);
        ml_model_t *m = build(1, &s);
        if (!m)
            continue;
        CHECK(m->nparams == 20 + 4 * bias && m->in == 5 && m->out == 4);
        random_params(m, &r);
        ml_tensor_t x;
        new2(&x, 3, 5);
        ml_rng_uniform(&r, x.data, 15, -1.0f, 1.0f);
        gradcheck(bias ? "linear+bias" : "linear", m, &x, 0, &r);
        ml_tensor_free(&x);
        ml_model_free(m);
    }
}

static void test_gradcheck_activations(void)
{
    static const ml_layer_kind_t kinds[] = {
        ML_LAYER_RELU,        ML_LAYER_SIGMOID, ML_LAYER_TANH,    ML_LAYER_SOFTMAX,
        ML_LAYER_LOG_SOFTMAX, ML_LAYER_DROPOUT, ML_LAYER_IDENTITY};
    ml_rng_t r;
    ml_rng_seed(&r, 200);
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        ml_layer_spec_t s = kinds[k] == ML_LAYER_DROPOUT ? dropout(0.4f) : layer(kinds[k]);
        ml_model_t *m = build(1, &s);
        if (!m)
            continue;
        CHECK(m->nparams == 0);
        ml_tensor_t x;
        new2(&x, 3, 6);
        ml_rng_uniform(&r, x.data, 18, -2.0f, 2.0f);
        if (kinds[k] == ML_LAYER_RELU) /* away from the kink: |x| in [0.2, 2.2) */
            for (int i = 0; i < 18; i++)
                x.data[i] = x.data[i] < 0 ? x.data[i] - 0.2f : x.data[i] + 0.2f;
        int reseed = kinds[k] == ML_LAYER_DROPOUT;
        gradcheck(ml_layer_name(kinds[k]), m, &x, reseed, &r);

        if (kinds[k] == ML_LAYER_DROPOUT) {
            /* dx = dy * mask exactly, the mask being y / x (0 or 1/(1-p)). */
            const ml_tensor_t *y, *dx;
            ml_rng_seed(&m->rng, DROPOUT_SEED);
            CHECK(ml_model_forward(m, &x, &y) == ML_OK);
            ml_tensor_t dy;
            new2(&dy, 3, 6);
            ml_rng_normal(&r, dy.data, 18, 0.0f, 1.0f);
            CHECK(ml_model_backward(m, &dy, &dx) == ML_OK);
            float scale = 1.0f / (1.0f - 0.4f);
            int ok = 1, dropped = 0;
            for (int i = 0; i < 18; i++) {
                int kept = y->data[i] != 0.0f;
                dropped += !kept;
                float want = kept ? dy.data[i] * scale : 0.0f;
                ok &= fabsf(dx->data[i] - want) <= 1e-6f * fabsf(want);
                if (kept)
                    ok &= fabsf(y->data[i] - x.data[i] * scale) <= 1e-6f * fabsf(y->data[i]);
            }
            CHECK_MSG(ok, "dropout: dx != dy * mask");
            CHECK_MSG(dropped > 0 && dropped < 18, "dropout dropped %d of 18", dropped);
            ml_tensor_free(&dy);
        }
        ml_tensor_free(&x);
        ml_model_free(m);
    }
}

static const ml_layer_spec_t *stacked_specs(void)
{
    static ml_layer_spec_t s[4];
    s[0] = linear(4, 5, 1);
    s[1] = layer(ML_LAYER_TANH);
    s[2] = linear(0, 3, 1); /* in from the previous layer */
    s[3] = layer(ML_LAYER_LOG_SOFTMAX);
    return s;
}

static void test_gradcheck_stacked(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 300);
    ml_model_t *m = build(4, stacked_specs());
    if (!m)
        return;
    CHECK(m->in == 4 && m->out == 3 && m->nparams == 4 * 5 + 5 + 5 * 3 + 3);
    CHECK(m->layers[2].in == 5 && m->layers[2].out == 3);
    /* Layer weights are views into the flat buffers. */
    ml_layer_t *L0 = &m->layers[0], *L2 = &m->layers[2];
    CHECK(L0->offset == 0 && L0->nparams == 25 && L2->offset == 25 && L2->nparams == 18);
    CHECK(L0->w.data == m->params && L0->b.data == m->params + 20);
    CHECK(L0->dw.data == m->grads && L0->db.data == m->grads + 20);
    CHECK(L2->w.data == m->params + 25 && L2->b.data == m->params + 40);
    CHECK(L2->w.shape[0] == 3 && L2->w.shape[1] == 5 && L2->b.shape[0] == 3);
    random_params(m, &r);
    ml_tensor_t x;
    new2(&x, 3, 4);
    ml_rng_uniform(&r, x.data, 12, -1.5f, 1.5f);
    gradcheck("linear-tanh-linear-log_softmax", m, &x, 0, &r);
    ml_tensor_free(&x);
    ml_model_free(m);
}

/* The first linear layer accepts a strided input (a transpose view): same outputs and
 * gradients as for a contiguous copy. */
static void test_strided_input(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 350);
    ml_model_t *m = build(4, stacked_specs());
    if (!m)
        return;
    random_params(m, &r);
    ml_tensor_t store, xt, x, dy;
    new2(&store, 4, 6); /* x^T */
    ml_rng_uniform(&r, store.data, 24, -1.0f, 1.0f);
    CHECK(ml_tensor_transpose(&xt, &store, 0, 1) == ML_OK);
    new2(&x, 6, 4);
    CHECK(ml_tensor_copy(&x, &xt) == ML_OK);
    new2(&dy, 6, 3);
    ml_rng_normal(&r, dy.data, 18, 0.0f, 1.0f);

    const ml_tensor_t *y;
    float y1[18], g1[43];
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    memcpy(y1, y->data, sizeof y1);
    ml_model_zero_grad(m);
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    memcpy(g1, m->grads, sizeof g1);

    CHECK(ml_model_forward(m, &xt, &y) == ML_OK);
    ml_model_zero_grad(m);
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    int ok = 1;
    for (int i = 0; i < 18; i++)
        ok &= fabsf(y->data[i] - y1[i]) <= 1e-6f * (1.0f + fabsf(y1[i]));
    for (int i = 0; i < 43; i++)
        ok &= fabsf(m->grads[i] - g1[i]) <= 1e-5f * (1.0f + fabsf(g1[i]));
    CHECK_MSG(ok, "strided input differs from its contiguous copy");
    ml_tensor_free(&store);
    ml_tensor_free(&x);
    ml_tensor_free(&dy);
    ml_model_free(m);
}

static void test_backward_contract(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 400);
    ml_model_t *m = build(4, stacked_specs());
    if (!m)
        return;
    random_params(m, &r);
    ml_tensor_t x, dy, bad;
    new2(&x, 3, 4);
    new2(&dy, 3, 3);
    ml_rng_uniform(&r, x.data, 12, -1.0f, 1.0f);
    ml_rng_normal(&r, dy.data, 9, 0.0f, 1.0f);

    /* Backward before any forward. */
    const ml_tensor_t *dx;
    CHECK_ERR(ml_model_backward(m, &dy, &dx), ML_ESTATE, "forward");

    const ml_tensor_t *y;
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    ml_model_zero_grad(m);
    CHECK(ml_model_backward(m, &dy, &dx) == ML_OK);
    float once[43];
    memcpy(once, m->grads, sizeof once);
    int nonzero = 0;
    for (int i = 0; i < 43; i++)
        nonzero += once[i] != 0.0f;
    CHECK(nonzero == 43);

    /* A second backward accumulates: the gradients double. */
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    int ok = 1;
    for (int i = 0; i < 43; i++)
        ok &= fabsf(m->grads[i] - 2.0f * once[i]) <= 1e-6f * fabsf(2.0f * once[i]);
    CHECK_MSG(ok, "two backward calls do not double the gradients");

    /* Without dx the parameter gradients are the same. */
    ml_model_zero_grad(m);
    int zero = 1;
    for (int i = 0; i < 43; i++)
        zero &= m->grads[i] == 0.0f;
    CHECK_MSG(zero, "zero_grad");
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    ok = 1;
    for (int i = 0; i < 43; i++)
        ok &= fabsf(m->grads[i] - once[i]) <= 1e-6f * fabsf(once[i]);
    CHECK_MSG(ok, "backward without dx changes the parameter gradients");

    /* Wrong gradient shape. */
    new2(&bad, 3, 4);
    CHECK_ERR(ml_model_backward(m, &bad, NULL), ML_ESHAPE, "(3,4)", "(3,3)");
    ml_tensor_free(&bad);

    /* Wrong input width, and a 1-D input. */
    new2(&bad, 2, 7);
    CHECK_ERR(ml_model_forward(m, &bad, &y), ML_ESHAPE, "(2,7)", "4");
    ml_tensor_free(&bad);
    int64_t n4[1] = {4};
    CHECK(ml_tensor_new(&bad, 1, n4) == ML_OK);
    CHECK_ERR(ml_model_forward(m, &bad, &y), ML_ESHAPE, "(4,)");
    ml_tensor_free(&bad);

    /* A different batch size after the first forward: buffers re-sized, shapes follow. */
    ml_tensor_t x5;
    new2(&x5, 5, 4);
    CHECK(ml_model_forward(m, &x5, &y) == ML_OK);
    CHECK(y->shape[0] == 5 && y->shape[1] == 3);
    ml_tensor_free(&x5);

    ml_tensor_free(&x);
    ml_tensor_free(&dy);
    ml_model_free(m);
}

static void test_dropout_modes(void)
{
    const float p = 0.3f;
    ml_layer_spec_t s = dropout(p);
    ml_model_t *m = build(1, &s);
    if (!m)
        return;
    CHECK(ml_model_init(m, 9) == ML_OK);
    const int64_t B = 200, F = 500, n = B * F;
    ml_tensor_t x, dy;
    new2(&x, B, F);
    ml_tensor_fill(&x, 1.0f);
    new2(&dy, B, F);
    ml_tensor_fill(&dy, 1.0f);
    const ml_tensor_t *y, *dx;

    /* Training: about a fraction p zeroed (binomial, 5 standard errors), survivors scaled by
     * exactly 1/(1-p), so the mean is preserved. */
    CHECK(m->train == 1); /* a new model trains */
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    int64_t zeros = 0, bad_scale = 0;
    double sum = 0;
    const float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        zeros += y->data[i] == 0.0f;
        bad_scale += y->data[i] != 0.0f && fabsf(y->data[i] - scale) > 1e-6f * scale;
        sum += y->data[i];
    }
    double frac = (double)zeros / (double)n, se = sqrt(p * (1 - p) / (double)n);
    CHECK_MSG(fabs(frac - p) <= 5 * se, "dropped fraction %.5f, want %.2f", frac, p);
    CHECK_MSG(bad_scale == 0, "%lld kept values not scaled by 1/(1-p)", (long long)bad_scale);
    double mean_se = sqrt(p / (1 - p) / (double)n);
    CHECK_MSG(fabs(sum / (double)n - 1.0) <= 5 * mean_se, "mean after dropout %.5f",
              sum / (double)n);

    /* The stream advances: the next mask differs. */
    float *first = malloc((size_t)n * sizeof *first);
    memcpy(first, y->data, (size_t)n * sizeof *first);
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    CHECK(memcmp(first, y->data, (size_t)n * sizeof *first) != 0);

    /* Same init seed, same masks. */
    ml_model_t *m2 = build(1, &s);
    if (m2) {
        CHECK(ml_model_init(m2, 9) == ML_OK);
        CHECK(ml_model_forward(m2, &x, &y) == ML_OK);
        CHECK_MSG(memcmp(first, y->data, (size_t)n * sizeof *first) == 0,
                  "dropout masks not reproducible from the init seed");
        ml_model_free(m2);
    }

    /* Evaluation: identity, forward and backward. */
    m->train = 0;
    ml_rng_uniform(&m->rng, x.data, n, -1.0f, 1.0f);
    ml_rng_normal(&m->rng, dy.data, n, 0.0f, 1.0f);
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    CHECK_MSG(memcmp(y->data, x.data, (size_t)n * sizeof(float)) == 0, "eval dropout changes x");
    CHECK(ml_model_backward(m, &dy, &dx) == ML_OK);
    CHECK_MSG(memcmp(dx->data, dy.data, (size_t)n * sizeof(float)) == 0, "eval dropout changes dy");
    free(first);
    ml_model_free(m);

    /* p = 0 in training is the identity too. */
    s = dropout(0.0f);
    m = build(1, &s);
    if (m) {
        CHECK(ml_model_forward(m, &x, &y) == ML_OK);
        CHECK(memcmp(y->data, x.data, (size_t)n * sizeof(float)) == 0);
        ml_model_free(m);
    }
    ml_tensor_free(&x);
    ml_tensor_free(&dy);
}

static void test_init(void)
{
    ml_layer_spec_t s[3] = {linear(4, 5, 1), layer(ML_LAYER_TANH), linear(5, 3, 1)};
    ml_model_t *a = build(3, s), *b = build(3, s), *c = build(3, s);
    if (!a || !b || !c)
        return;
    int zero = 1;
    for (int64_t i = 0; i < a->nparams; i++)
        zero &= a->params[i] == 0.0f;
    CHECK_MSG(zero, "parameters are zero until ml_model_init");
    CHECK(ml_model_init(a, 1234) == ML_OK);
    CHECK(ml_model_init(b, 1234) == ML_OK);
    CHECK(ml_model_init(c, 1235) == ML_OK);
    size_t bytes = (size_t)a->nparams * sizeof(float);
    CHECK_MSG(memcmp(a->params, b->params, bytes) == 0, "same seed, different parameters");
    CHECK_MSG(memcmp(a->params, c->params, bytes) != 0, "different seeds, same parameters");
    /* The default is PyTorch's: U(+-1/sqrt(in)) for weights and biases alike. */
    int in_bound = 1, distinct = 0;
    for (int64_t i = 0; i < 25; i++) {
        in_bound &= fabsf(a->params[i]) <= 0.5f; /* 1/sqrt(4) */
        distinct += a->params[i] != a->params[0];
    }
    for (int64_t i = 25; i < 43; i++)
        in_bound &= fabsf(a->params[i]) <= 1.0f / sqrtf(5.0f);
    CHECK(in_bound && distinct > 20);
    /* Re-initialising with the first seed restores the first values. */
    CHECK(ml_model_init(c, 1234) == ML_OK);
    CHECK(memcmp(a->params, c->params, bytes) == 0);
    ml_model_free(a);
    ml_model_free(b);
    ml_model_free(c);

    /* Each layer follows its own spec. */
    ml_layer_spec_t t[2] = {linear(3, 4, 0), linear(4, 2, 0)};
    t[0].weight_init = (ml_init_t){ML_INIT_CONSTANT, 0.5f, 0.0f};
    t[1].weight_init = (ml_init_t){ML_INIT_CONSTANT, -2.0f, 0.0f};
    ml_model_t *m = build(2, t);
    if (m) {
        CHECK(ml_model_init(m, 1) == ML_OK);
        int ok = 1;
        for (int i = 0; i < 12; i++)
            ok &= m->params[i] == 0.5f;
        for (int i = 12; i < 20; i++)
            ok &= m->params[i] == -2.0f;
        CHECK_MSG(ok, "per-layer weight_init not followed");
        ml_model_free(m);
    }
}

/* Initialising a layer's bias writes that bias and nothing else. Layer 2's initializer is
 * invalid, so ml_model_init fails there (naming it) and leaves layer 2's parameters as they
 * were: zero. Anything else in them was written by layer 1. Everything stays inside the
 * flat buffer, so an overrun shows up here as a failed check, not as heap corruption. */
static void test_init_bias_stays_in_its_slice(void)
{
    ml_layer_spec_t s[2] = {linear(2, 3, 1), linear(3, 4, 0)};
    s[0].weight_init = (ml_init_t){ML_INIT_CONSTANT, 0.25f, 0.0f};
    s[0].bias_init = (ml_init_t){ML_INIT_CONSTANT, 0.5f, 0.0f};
    s[1].weight_init = (ml_init_t){ML_INIT_UNIFORM, 1.0f, -1.0f}; /* upper below lower */
    ml_model_t *m = build(2, s);
    if (!m)
        return;
    CHECK(m->nparams == 6 + 3 + 12);
    CHECK_ERR(ml_model_init(m, 5), ML_EARG, "layer 2 (linear)");
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= m->params[i] == 0.25f;
    for (int i = 6; i < 9; i++)
        ok &= m->params[i] == 0.5f;
    CHECK_MSG(ok, "layer 1 weight/bias not initialised from its spec");
    int written = 0;
    for (int i = 9; i < 21; i++)
        written += m->params[i] != 0.0f;
    CHECK_MSG(written == 0,
              "initialising layer 1's bias (3) wrote %d floats into layer 2's weights", written);
    ml_model_free(m);
}

static void test_decay_mask(void)
{
    ml_model_t *m = build(4, stacked_specs());
    if (!m)
        return;
    int ok = 1;
    for (int l = 0; l < m->nlayers; l++) {
        ml_layer_t *L = &m->layers[l];
        if (L->spec.kind != ML_LAYER_LINEAR)
            continue;
        for (int64_t k = 0; k < L->out * L->in; k++)
            ok &= m->decay[L->offset + k] == 1.0f;
        for (int64_t k = 0; k < L->out; k++)
            ok &= m->decay[L->offset + L->out * L->in + k] == 0.0f;
    }
    CHECK_MSG(ok, "decay mask is not 1 on weights, 0 on biases");
    double total = 0;
    for (int64_t i = 0; i < m->nparams; i++)
        total += m->decay[i];
    CHECK(total == 20 + 15);
    ml_model_free(m);
}

static void test_new_errors(void)
{
    ml_model_t *m = (ml_model_t *)&m; /* must be reset to NULL on failure */
    CHECK_ERR(ml_model_new(&m, 0, NULL), ML_EARG, "layer");
    CHECK(m == NULL);

    ml_layer_spec_t mis[3] = {linear(4, 5, 1), layer(ML_LAYER_TANH), linear(6, 3, 1)};
    m = (ml_model_t *)&m;
    CHECK_ERR(ml_model_new(&m, 3, mis), ML_ESHAPE, "layer 3 (linear)", "6", "5");
    CHECK(m == NULL);

    ml_layer_spec_t d1[2] = {linear(4, 5, 1), dropout(1.0f)};
    CHECK_ERR(ml_model_new(&m, 2, d1), ML_EARG, "layer 2 (dropout)", "1");
    d1[1].p = -0.1f;
    CHECK_ERR(ml_model_new(&m, 2, d1), ML_EARG, "layer 2 (dropout)", "-0.1");
    d1[1].p = NAN;
    CHECK_ERR(ml_model_new(&m, 2, d1), ML_EARG, "layer 2 (dropout)");

    ml_layer_spec_t noin[1] = {linear(0, 5, 1)};
    CHECK_ERR(ml_model_new(&m, 1, noin), ML_EARG, "layer 1 (linear)");
    ml_layer_spec_t noout[2] = {linear(4, 5, 1), linear(5, 0, 1)};
    CHECK_ERR(ml_model_new(&m, 2, noout), ML_EARG, "layer 2 (linear)", "0");
    ml_layer_spec_t unk[2] = {linear(4, 5, 1), layer(ML_LAYER_NKINDS)};
    CHECK_ERR(ml_model_new(&m, 2, unk), ML_EARG, "layer 2");
    CHECK(m == NULL);
}

static void test_names(void)
{
    static const char *const names[ML_LAYER_NKINDS] = {
        "linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "dropout", "identity", "recurrent", "embedding",
        "one_hot", "repeat"};
    for (int k = 0; k < ML_LAYER_NKINDS; k++) {
        CHECK(strcmp(ml_layer_name((ml_layer_kind_t)k), names[k]) == 0);
        CHECK(ml_layer_kind_from_name(names[k]) == k);
    }
    CHECK(ml_layer_kind_from_name("lstm") == -1);
    CHECK(ml_layer_name(ML_LAYER_NKINDS) != NULL);
}

/* Recurrent stacks inside models, with dropout between their layers in training mode (the
 * model's stream is re-seeded before every evaluation so each sees the same masks), and a
 * linear head on every step. Inputs and parameters. */
static void test_gradcheck_recurrent(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 2718);
    const ml_cell_t cells[3] = {ML_CELL_LSTM, ML_CELL_GRU, ML_CELL_RNN_TANH};
    for (int c = 0; c < 3; c++)
        for (int sequence = 0; sequence < 2; sequence++) {
            ml_layer_spec_t s[2];
            memset(s, 0, sizeof s);
            s[0].kind = ML_LAYER_RECURRENT;
            s[0].cell = cells[c];
            s[0].in = 3;
            s[0].hidden = 4;
            s[0].layers = 2;
            s[0].sequence = sequence;
            s[0].p = 0.3f;
            s[0].bidirectional = (c + sequence) % 2; /* both kinds of stack, both modes */
            s[1] = linear(0, 2, 1);
            ml_model_t *m = build(2, s);
            if (!m)
                continue;
            ml_rng_uniform(&r, m->params, m->nparams, -0.5f, 0.5f);
            m->train = 1;
            ml_tensor_t x;
            int64_t shape[3] = {2, 4, 3};
            CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
            ml_rng_normal(&r, x.data, 24, 0.0f, 1.0f);
            char what[64];
            snprintf(what, sizeof what, "%s%s%s + dropout", ml_cell_name(cells[c]),
                     s[0].bidirectional ? " bidirectional" : "", sequence ? " sequence" : " last");
            gradcheck(what, m, &x, 1, &r);
            /* the masks really drop: training and evaluation outputs differ */
            const ml_tensor_t *y;
            ml_rng_seed(&m->rng, DROPOUT_SEED);
            CHECK(ml_model_forward(m, &x, &y) == ML_OK);
            float first = y->data[0];
            m->train = 0;
            CHECK(ml_model_forward(m, &x, &y) == ML_OK);
            CHECK(first != y->data[0]);
            ml_tensor_free(&x);
            ml_model_free(m);
        }
}

/* backward_fresh writes what zero_grad + backward would have accumulated, whatever the
 * gradient buffer held before, bit for bit. */
static void test_backward_fresh(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 77);
    ml_model_t *m = build(4, stacked_specs());
    if (!m)
        return;
    random_params(m, &r);
    ml_tensor_t x, dy;
    new2(&x, 6, 4);
    new2(&dy, 6, 3);
    ml_rng_normal(&r, x.data, 24, 0.0f, 1.0f);
    ml_rng_normal(&r, dy.data, 18, 0.0f, 1.0f);
    const ml_tensor_t *y;
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    ml_model_zero_grad(m);
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    float want[64];
    CHECK(m->nparams <= 64);
    memcpy(want, m->grads, (size_t)m->nparams * sizeof(float));
    ml_rng_uniform(&r, m->grads, m->nparams, 5.0f, 9.0f); /* stale garbage */
    CHECK(ml_model_backward_fresh(m, &dy, NULL) == ML_OK);
    CHECK(memcmp(want, m->grads, (size_t)m->nparams * sizeof(float)) == 0);
    CHECK(m->overwrite == 0);
    /* and the next plain backward accumulates again */
    CHECK(ml_model_backward(m, &dy, NULL) == ML_OK);
    CHECK_CLOSE(m->grads[0], 2.0f * want[0], 1e-6, 1e-6);
    ml_tensor_free(&x);
    ml_tensor_free(&dy);
    ml_model_free(m);
}

/* ---- sequence models: lengths, one-hot, repeat, encoder-decoder, learnable states ---- */

static ml_layer_spec_t recurrent(ml_cell_t cell, int64_t in, int64_t hidden, int layers,
                                 int sequence, int bidirectional)
{
    ml_layer_spec_t s = layer(ML_LAYER_RECURRENT);
    s.cell = cell;
    s.in = in;
    s.hidden = hidden;
    s.layers = layers;
    s.sequence = sequence;
    s.bidirectional = bidirectional;
    return s;
}

static ml_layer_spec_t lookup(ml_layer_kind_t kind, int64_t vocab, int64_t size)
{
    ml_layer_spec_t s = layer(kind);
    s.in = vocab;
    s.out = size;
    return s;
}

/* ids (B,T) in 0..V-1 as floats; padded steps (t >= len) hold -1, which no layer may read. */
static void draw_ids(ml_tensor_t *ids, int64_t B, int64_t T, int64_t V, const float *len,
                     ml_rng_t *r)
{
    new2(ids, B, T);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            ids->data[b * T + t] =
                len && t >= (int64_t)len[b] ? -1.0f : (float)((int64_t)(ml_rng_float(r) * V) % V);
}

/* Lengths flow through a model: an embedding (padded ids never read), a bidirectional GRU over
 * every step, tanh and a linear head on every step (outputs at padded steps are zero and their
 * R does not reach any gradient); a dense sequence into a two-layer LSTM's last step and a head.
 * Finite differences of inputs (where real) and every parameter. */
static void test_gradcheck_lengths(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 31);
    ml_tensor_t len;
    new1(&len, 3);
    const float lens[3] = {4, 1, 3};
    memcpy(len.data, lens, sizeof lens);

    ml_layer_spec_t a[4] = {lookup(ML_LAYER_EMBEDDING, 6, 3),
                            recurrent(ML_CELL_GRU, 0, 3, 1, 1, 1), layer(ML_LAYER_TANH),
                            linear(0, 2, 1)};
    ml_model_t *m = build(4, a);
    if (m) {
        random_params(m, &r);
        ml_tensor_t ids;
        draw_ids(&ids, 3, 4, 6, lens, &r);
        gradcheck_len("embedding + bidirectional gru + tanh + linear, lengths", m, &ids, &len, 0,
                      0, &r);
        const ml_tensor_t *y;
        CHECK(ml_model_forward_lengths(m, &ids, &len, &y) == ML_OK);
        int zero = 1;
        for (int64_t t = 1; t < 4; t++) /* sequence 2 has one step */
            for (int64_t c = 0; c < 2; c++)
                zero &= y->data[(1 * 4 + t) * 2 + c] == 0.0f;
        CHECK_MSG(zero, "outputs of padded steps are not zero");
        CHECK(ml_model_lengths(m) != NULL && ml_model_lengths(m)[2] == 3);
        CHECK(ml_model_forward(m, &ids, &y) != ML_OK); /* without lengths the -1 are read */
        CHECK(ml_model_lengths(m) == NULL);
        ml_tensor_free(&ids);
        ml_model_free(m);
    }

    ml_layer_spec_t b[2] = {recurrent(ML_CELL_LSTM, 2, 3, 2, 0, 0), linear(0, 2, 1)};
    m = build(2, b);
    if (m) {
        random_params(m, &r);
        ml_tensor_t x;
        int64_t shape[3] = {3, 4, 2};
        CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
        ml_rng_normal(&r, x.data, 24, 0.0f, 1.0f);
        gradcheck_len("lstm L=2 last step + linear, lengths", m, &x, &len, 1, 0, &r);
        ml_tensor_free(&x);
        ml_model_free(m);
    }
    ml_tensor_free(&len);
}

/* A one-hot layer before a recurrent layer builds no vectors (the recurrent layer reads the
 * ids); with an identity between them the model builds the dense (B,T,V) one-hot input. Both
 * give the same outputs bit for bit and the same gradients (to summation order), with lengths;
 * finite differences through the fused path; the one-hot layer's dense output itself. */
static void test_one_hot(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 32);
    const float lens[3] = {4, 2, 3};
    ml_tensor_t len;
    new1(&len, 3);
    memcpy(len.data, lens, sizeof lens);
    ml_layer_spec_t f[3] = {lookup(ML_LAYER_ONE_HOT, 5, 0), recurrent(ML_CELL_LSTM, 0, 3, 2, 1, 1),
                            linear(0, 2, 1)};
    ml_layer_spec_t d[4] = {lookup(ML_LAYER_ONE_HOT, 5, 0), layer(ML_LAYER_IDENTITY),
                            recurrent(ML_CELL_LSTM, 0, 3, 2, 1, 1), linear(0, 2, 1)};
    ml_model_t *fm = build(3, f), *dm = build(4, d);
    if (fm && dm) {
        CHECK(fm->layers[0].fused && !dm->layers[0].fused && fm->layers[1].rnn->ids);
        CHECK(fm->nparams == dm->nparams);
        random_params(fm, &r);
        memcpy(dm->params, fm->params, (size_t)fm->nparams * sizeof(float));
        ml_tensor_t ids, R;
        draw_ids(&ids, 3, 4, 5, lens, &r);
        const ml_tensor_t *yf, *yd;
        CHECK(ml_model_forward_lengths(fm, &ids, &len, &yf) == ML_OK);
        CHECK(ml_model_forward_lengths(dm, &ids, &len, &yd) == ML_OK);
        CHECK(ml_tensor_numel(yf) == 24 &&
              memcmp(yf->data, yd->data, 24 * sizeof(float)) == 0);
        /* the dense one-hot vectors: 1 at the id, zeros elsewhere and on padded steps */
        const ml_tensor_t *oh = &dm->layers[0].y;
        CHECK(oh->ndim == 3 && oh->shape[2] == 5);
        int ok = 1;
        for (int64_t b = 0; b < 3; b++)
            for (int64_t t = 0; t < 4; t++)
                for (int64_t v = 0; v < 5; v++)
                    ok &= oh->data[(b * 4 + t) * 5 + v] ==
                          (t < (int64_t)lens[b] && v == (int64_t)ids.data[b * 4 + t] ? 1.0f : 0.0f);
        CHECK_MSG(ok, "dense one-hot vectors wrong");
        CHECK(ml_tensor_new(&R, 3, yf->shape) == ML_OK);
        ml_rng_normal(&r, R.data, 24, 0.0f, 1.0f);
        CHECK(ml_model_backward_fresh(fm, &R, NULL) == ML_OK);
        CHECK(ml_model_backward_fresh(dm, &R, NULL) == ML_OK);
        double e = 0;
        for (int64_t i = 0; i < fm->nparams; i++)
            e = fmax(e, fabs(fm->grads[i] - dm->grads[i]) / (1e-6 + 1e-5 * fabs(dm->grads[i])));
        CHECK_MSG(e <= 1.0, "fused one-hot gradients off the dense ones by %.3g tolerances", e);
        gradcheck_len("one_hot + bidirectional lstm L=2 + linear, lengths", fm, &ids, &len, 0, 0, &r);
        /* an id out of range is named by the one-hot layer, on real steps only */
        ids.data[1 * 4 + 1] = 5.0f;
        CHECK_ERR(ml_model_forward_lengths(fm, &ids, &len, &yf), ML_EARG, "layer 1 (one_hot)",
                  "id 5 at (2,2)", "0..4");
        ml_tensor_free(&ids);
        ml_tensor_free(&R);
    }
    ml_model_free(fm);
    ml_model_free(dm);
    ml_tensor_free(&len);
}

/* 1 -> N and N -> M: a vector through a linear layer, repeated over 3 steps into a GRU; an LSTM
 * encoder (last step, lengths) whose output is repeated over M = 3 decoder steps and whose
 * final states start the decoder LSTM (state_from): the decoder's initial-state gradients flow
 * back into the encoder. Finite differences of inputs and every parameter, and the forward of
 * the seeded decoder against the same decoder started by hand from the encoder's states. */
static void test_gradcheck_repeat_and_seq2seq(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 33);
    ml_layer_spec_t rep = layer(ML_LAYER_REPEAT);
    rep.out = 3;
    ml_layer_spec_t a[4] = {linear(2, 3, 1), rep, recurrent(ML_CELL_GRU, 0, 4, 1, 1, 0),
                            linear(0, 2, 1)};
    ml_model_t *m = build(4, a);
    if (m) {
        random_params(m, &r);
        ml_tensor_t x;
        new2(&x, 3, 2);
        ml_rng_normal(&r, x.data, 6, 0.0f, 1.0f);
        gradcheck("linear + repeat(3) + gru + linear", m, &x, 0, &r);
        const ml_tensor_t *y;
        CHECK(ml_model_forward(m, &x, &y) == ML_OK);
        CHECK(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 3 && y->shape[2] == 2);
        ml_tensor_free(&x);
        ml_model_free(m);
    }

    ml_layer_spec_t dec = recurrent(ML_CELL_LSTM, 0, 4, 2, 1, 0);
    dec.state_from = 1;
    ml_layer_spec_t s[4] = {recurrent(ML_CELL_LSTM, 2, 4, 2, 0, 0), rep, dec, linear(0, 3, 1)};
    m = build(4, s);
    if (m) {
        CHECK(m->layers[0].state_to == 3 && !m->out_chain);
        random_params(m, &r);
        ml_tensor_t x, len;
        int64_t shape[3] = {3, 4, 2};
        CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
        ml_rng_normal(&r, x.data, 24, 0.0f, 1.0f);
        new1(&len, 3);
        len.data[0] = 4;
        len.data[1] = 2;
        len.data[2] = 3;
        gradcheck_len("lstm encoder (lengths) -> repeat(3) -> lstm decoder from its states", m,
                      &x, &len, 1, 0, &r);
        /* the decoder really starts from the encoder's final states */
        const ml_tensor_t *y, *hn, *cn;
        CHECK(ml_model_forward_lengths(m, &x, &len, &y) == ML_OK);
        CHECK(y->shape[1] == 3); /* M steps, not the input's T */
        float *want = malloc((size_t)ml_tensor_numel(&m->layers[2].y) * sizeof(float));
        memcpy(want, m->layers[2].y.data, (size_t)ml_tensor_numel(&m->layers[2].y) * sizeof(float));
        ml_rnn_final_state(m->layers[0].rnn, &hn, &cn);
        ml_rnn_t *d = m->layers[2].rnn;
        const ml_tensor_t *yd;
        CHECK(ml_rnn_set_state(d, NULL, NULL) == ML_OK);
        CHECK(ml_rnn_forward(d, &m->layers[1].y, NULL, &yd) == ML_OK);
        CHECK(memcmp(want, yd->data, (size_t)ml_tensor_numel(yd) * sizeof(float)) != 0);
        CHECK(ml_rnn_set_state(d, hn, cn) == ML_OK);
        CHECK(ml_rnn_forward(d, &m->layers[1].y, NULL, &yd) == ML_OK);
        CHECK(memcmp(want, yd->data, (size_t)ml_tensor_numel(yd) * sizeof(float)) == 0);
        free(want);
        ml_tensor_free(&x);
        ml_tensor_free(&len);
        ml_model_free(m);
    }
}

/* Learnable initial states in a model: finite differences over every parameter (they are
 * among them, after the stack's weights); ml_model_init sets them to zero; they do not decay. */
static void test_learned_state_in_model(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 34);
    ml_layer_spec_t rec = recurrent(ML_CELL_LSTM, 2, 3, 2, 1, 1);
    rec.learn_state = 1;
    ml_layer_spec_t s[2] = {rec, linear(0, 2, 1)};
    ml_model_t *m = build(2, s);
    if (!m)
        return;
    const ml_rnn_t *R = m->layers[0].rnn;
    CHECK(m->layers[0].nparams == ml_rnn_nparams(ML_CELL_LSTM, 2, 3, 2, ML_RNN_BIDIRECTIONAL) + 2 * 4 * 3);
    CHECK(ml_model_init(m, 5) == ML_OK);
    int zero = 1;
    for (int64_t k = 0; k < 12; k++)
        zero &= R->h0p[k] == 0.0f && R->c0p[k] == 0.0f && m->decay[R->h0p - m->params + k] == 0.0f;
    CHECK_MSG(zero, "learnable states not zero after init, or decayed");
    random_params(m, &r);
    ml_tensor_t x;
    int64_t shape[3] = {2, 3, 2};
    CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
    ml_rng_normal(&r, x.data, 12, 0.0f, 1.0f);
    gradcheck("bidirectional lstm L=2 with learnable initial states + linear", m, &x, 0, &r);
    ml_tensor_free(&x);
    ml_model_free(m);
}

/* Carry mode at model level: the second window continues from the first window's final states
 * of every recurrent layer; reset_state starts over. */
static void test_model_carry(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 35);
    ml_layer_spec_t s[3] = {recurrent(ML_CELL_GRU, 2, 3, 1, 1, 0),
                            recurrent(ML_CELL_LSTM, 0, 3, 1, 1, 0), linear(0, 1, 1)};
    ml_model_t *m = build(3, s);
    if (!m)
        return;
    random_params(m, &r);
    ml_tensor_t x;
    int64_t shape[3] = {2, 3, 2};
    CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
    ml_rng_normal(&r, x.data, 12, 0.0f, 1.0f);
    const ml_tensor_t *y;
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    float first[6], again[6];
    memcpy(first, y->data, sizeof first);
    ml_model_set_carry(m, 1);
    CHECK(m->layers[0].rnn->carry && m->layers[1].rnn->carry);
    CHECK(ml_model_forward(m, &x, &y) == ML_OK); /* from zeros: nothing carried yet */
    CHECK(memcmp(first, y->data, sizeof first) == 0);
    CHECK(ml_model_forward(m, &x, &y) == ML_OK); /* from the first window's states */
    memcpy(again, y->data, sizeof again);
    CHECK(memcmp(first, again, sizeof first) != 0);
    ml_model_reset_state(m);
    CHECK(ml_model_forward(m, &x, &y) == ML_OK);
    CHECK(memcmp(first, y->data, sizeof first) == 0);
    ml_model_set_carry(m, 0);
    ml_tensor_free(&x);
    ml_model_free(m);
}

/* Feeding back: each generated id is the argmax of the last step's logits after reading the
 * prime and the ids generated before, which one forward over the whole sequence from the
 * initial states reproduces (causal model); sampling with a seeded stream is reproducible and
 * temperature 0 equals argmax; the carry setting is restored; errors. */
static void test_generate(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 36);
    ml_layer_spec_t s[3] = {lookup(ML_LAYER_EMBEDDING, 5, 3), recurrent(ML_CELL_GRU, 0, 4, 2, 1, 0),
                            linear(0, 5, 1)};
    ml_model_t *m = build(3, s);
    if (!m)
        return;
    random_params(m, &r);
    ml_tensor_t prime, out, whole;
    draw_ids(&prime, 2, 3, 5, NULL, &r);
    new2(&out, 2, 4);
    CHECK(ml_model_generate(m, &out, &prime, 0.0, NULL) == ML_OK);
    CHECK(m->carry == 0 && m->train == 1);
    new2(&whole, 2, 6); /* prime + the first three generated ids */
    for (int64_t b = 0; b < 2; b++)
        for (int64_t t = 0; t < 6; t++)
            whole.data[b * 6 + t] = t < 3 ? prime.data[b * 3 + t] : out.data[b * 4 + t - 3];
    const ml_tensor_t *y;
    m->train = 0;
    CHECK(ml_model_forward(m, &whole, &y) == ML_OK);
    int same = 1;
    for (int64_t b = 0; b < 2; b++)
        for (int64_t t = 2; t < 6; t++) { /* the step after t predicts generated id t-2 */
            const float *z = y->data + (b * 6 + t) * 5;
            int64_t best = 0;
            for (int64_t v = 1; v < 5; v++)
                best = z[v] > z[best] ? v : best;
            same &= (float)best == out.data[b * 4 + t - 2];
        }
    CHECK_MSG(same, "generated ids are not the argmax of a forward over the whole sequence");
    ml_tensor_t a, b;
    new2(&a, 2, 4);
    new2(&b, 2, 4);
    ml_rng_t s1, s2;
    ml_rng_seed(&s1, 9);
    ml_rng_seed(&s2, 9);
    CHECK(ml_model_generate(m, &a, &prime, 1.0, &s1) == ML_OK);
    CHECK(ml_model_generate(m, &b, &prime, 1.0, &s2) == ML_OK);
    CHECK(memcmp(a.data, b.data, sizeof(float) * 8) == 0);
    CHECK_ERR(ml_model_generate(m, &a, &prime, -1.0, &s1), ML_EARG, "temperature -1");
    ml_tensor_free(&a);
    ml_tensor_free(&b);
    ml_tensor_free(&prime);
    ml_tensor_free(&out);
    ml_tensor_free(&whole);
    ml_model_free(m);
    /* models that cannot feed back: no ids input, or no per-step logits over the ids */
    ml_layer_spec_t t1[2] = {recurrent(ML_CELL_GRU, 5, 4, 1, 1, 0), linear(0, 5, 1)};
    ml_layer_spec_t t2[3] = {lookup(ML_LAYER_ONE_HOT, 5, 0), recurrent(ML_CELL_GRU, 0, 4, 1, 0, 0),
                             linear(0, 5, 1)};
    ml_tensor_t p, o;
    new2(&p, 1, 2);
    new2(&o, 1, 2);
    m = build(2, t1);
    if (m)
        CHECK_ERR(ml_model_generate(m, &o, &p, 0.0, NULL), ML_EARG, "layer 1 (gru)", "does not read ids");
    ml_model_free(m);
    m = build(3, t2);
    if (m)
        CHECK_ERR(ml_model_generate(m, &o, &p, 0.0, NULL), ML_EARG, "not on every step");
    ml_model_free(m);
    ml_tensor_free(&p);
    ml_tensor_free(&o);
}

static void test_sequence_errors(void)
{
    ml_model_t *m = NULL;
    ml_layer_spec_t rep = layer(ML_LAYER_REPEAT);
    rep.out = 3;
    ml_layer_spec_t a[2] = {recurrent(ML_CELL_GRU, 2, 3, 1, 1, 0), rep};
    CHECK_ERR(ml_model_new(&m, 2, a), ML_EARG, "layer 2 (repeat)", "vectors (B,F)");
    rep.out = 0;
    ml_layer_spec_t b[2] = {linear(2, 3, 1), rep};
    CHECK_ERR(ml_model_new(&m, 2, b), ML_EARG, "layer 2 (repeat)", "steps 0");
    ml_layer_spec_t c[2] = {linear(2, 3, 1), lookup(ML_LAYER_ONE_HOT, 4, 0)};
    CHECK_ERR(ml_model_new(&m, 2, c), ML_EARG, "layer 2 (one_hot)", "must come first");
    ml_layer_spec_t d[1] = {lookup(ML_LAYER_ONE_HOT, 0, 0)};
    CHECK_ERR(ml_model_new(&m, 1, d), ML_EARG, "layer 1 (one_hot)", "vocabulary 0");
    /* state_from: an earlier recurrent layer with states of the same shape, feeding one layer */
    ml_layer_spec_t dec = recurrent(ML_CELL_LSTM, 0, 4, 1, 1, 0);
    rep.out = 2;
    dec.state_from = 3;
    ml_layer_spec_t e[3] = {recurrent(ML_CELL_LSTM, 2, 4, 1, 0, 0), rep, dec};
    CHECK_ERR(ml_model_new(&m, 3, e), ML_EARG, "layer 3 (recurrent)", "state_from = 3");
    e[2].state_from = 2;
    CHECK_ERR(ml_model_new(&m, 3, e), ML_EARG, "state_from = 2", "not an earlier recurrent layer");
    e[2].state_from = 1;
    e[2].cell = ML_CELL_GRU;
    CHECK_ERR(ml_model_new(&m, 3, e), ML_EARG, "layer 1", "lstm", "gru");
    e[2].cell = ML_CELL_LSTM;
    e[2].hidden = 5;
    CHECK_ERR(ml_model_new(&m, 3, e), ML_EARG, "4 units", "5");
    e[2].hidden = 4;
    e[2].learn_state = 1;
    CHECK_ERR(ml_model_new(&m, 3, e), ML_EARG, "exclude each other");
    e[2].learn_state = 0;
    ml_layer_spec_t twice[5] = {e[0], e[1], e[2], rep, e[2]};
    twice[3] = layer(ML_LAYER_IDENTITY);
    CHECK_ERR(ml_model_new(&m, 5, twice), ML_EARG, "layer 5", "layer 1 already seeds layer 3");
    CHECK(m == NULL);

    /* lengths: size, zero, beyond T, not integers, for a model that reads no sequence */
    ml_layer_spec_t f[2] = {recurrent(ML_CELL_LSTM, 3, 4, 1, 0, 0), linear(0, 1, 1)};
    m = build(2, f);
    if (m) {
        ml_tensor_t x, len;
        int64_t shape[3] = {2, 5, 3};
        CHECK(ml_tensor_new(&x, 3, shape) == ML_OK);
        new1(&len, 3);
        const ml_tensor_t *y;
        CHECK_ERR(ml_model_forward_lengths(m, &x, &len, &y), ML_ESHAPE, "lengths are (3,)",
                  "expected (2,)", "(2,5,3)");
        ml_tensor_free(&len);
        new1(&len, 2);
        len.data[0] = 5;
        len.data[1] = 0;
        CHECK_ERR(ml_model_forward_lengths(m, &x, &len, &y), ML_EARG, "layer 1 (lstm)",
                  "length 0 of sequence 2", "1..5", "(2,5,3)");
        len.data[1] = 6;
        CHECK_ERR(ml_model_forward_lengths(m, &x, &len, &y), ML_EARG, "length 6 of sequence 2");
        len.data[1] = 2.5f;
        CHECK_ERR(ml_model_forward_lengths(m, &x, &len, &y), ML_EARG, "length 2.5");
        len.data[1] = 2;
        CHECK(ml_model_forward_lengths(m, &x, &len, &y) == ML_OK);
        ml_tensor_t bad;
        int64_t bshape[3] = {2, 5, 4};
        CHECK(ml_tensor_new(&bad, 3, bshape) == ML_OK);
        CHECK_ERR(ml_model_forward(m, &bad, &y), ML_ESHAPE, "(2,5,4)", "layer 1 (lstm)", "(B,T,3)");
        ml_tensor_free(&bad);
        ml_tensor_free(&x);
        ml_tensor_free(&len);
        ml_model_free(m);
    }
    ml_layer_spec_t g[1] = {linear(3, 1, 1)};
    m = build(1, g);
    if (m) {
        ml_tensor_t x, len;
        new2(&x, 2, 3);
        new1(&len, 2);
        const ml_tensor_t *y;
        CHECK_ERR(ml_model_forward_lengths(m, &x, &len, &y), ML_EARG, "lengths given",
                  "layer 1 (linear) does not read sequences");
        ml_tensor_free(&x);
        ml_tensor_free(&len);
        ml_model_free(m);
    }
}

int main(void)
{
    test_gradcheck_lengths();
    test_one_hot();
    test_gradcheck_repeat_and_seq2seq();
    test_learned_state_in_model();
    test_model_carry();
    test_generate();
    test_sequence_errors();
    test_backward_fresh();
    test_gradcheck_recurrent();
    test_gradcheck_linear();
    test_gradcheck_activations();
    test_gradcheck_stacked();
    test_strided_input();
    test_backward_contract();
    test_dropout_modes();
    test_init();
    test_init_bias_stays_in_its_slice();
    test_decay_mask();
    test_new_errors();
    test_names();
    return check_report("test_nn");
}
