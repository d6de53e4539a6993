/* Recurrent stacks (RNN tanh and ReLU, GRU, LSTM) through the C API: finite-difference gradient
 * checks of inputs, initial states and every parameter; the forward pass against a
 * double-precision implementation of the equations in rnn.h; final states; the accumulate and
 * overwrite contract of ml_rnn_backward; BLIS-sized stacks (correctness and bit-identical results
 * at 1 and 2 threads); and the errors with their messages. Then the extensions, each by finite
 * differences too: variable lengths (every cell, stacked, both directions, both output modes;
 * against the reference, and a padded batch against each sequence run alone, NaN padding
 * included), learnable initial states, gradients flowing into the final states, truncated BPTT
 * over carried windows (the gradient stops at the window's start), and ids input (against the
 * same stack fed one-hot vectors).
 *
 * Gradient checks. J = sum(y ⊙ R) for a fixed random R shaped like the output, so dJ/dy = R is
 * what backward receives: every step carries loss in sequence mode. Parameters U(-0.5, 0.5),
 * inputs U(-1, 1), initial states h0 U(-0.8, 0.8) and c0 U(-1, 1), never zero. 1 and 2 layers for
 * every cell, 3 for LSTM, both output modes, T = 4..6, B = 2..3, D = 3, H = 4. Central
 * differences in double around the float values, eps = 1e-2, re-running ml_rnn_forward each
 * time. The forward pass is float32: J (at most 72 terms) carries rounding noise of about 1e-6,
 * which eps = 1e-2 turns into ~5e-5 in the numeric gradient; the truncation error eps^2/6 |f'''|
 * is of the same order for these smooth cells at these magnitudes (weights of at most 0.5 keep
 * states and their derivatives O(1) over 6 steps). We accept
 * |numeric - analytic| <= 1e-3 + 1e-2 |numeric| (as test_nn): an order of magnitude above both
 * (the worst element measured uses 0.13 of it) and far below the O(1) error of a missing term, a
 * wrong gate or a transposed index.
 *
 * ReLU. Central differences are only valid where no perturbation moves a pre-activation across
 * 0. The draw is repeated (from the same seeded stream, so deterministically) until every
 * pre-activation of every unit, step, sequence and layer, computed by the double reference, is at
 * least 0.05 away from 0 with units on both sides of the kink (so both branches are checked).
 * One perturbation of size 1e-2 moves a pre-activation by 1e-2 times an input or state of order
 * 1 (then damped by weights below 0.5 at later steps), well short of 0.05; and each evaluation
 * also compares the on/off pattern of all units with the unperturbed one, so a crossing would
 * fail the test rather than quietly compare a mixture of slopes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/kernels.h"
#include "moonlab/rng.h"
#include "moonlab/rnn.h"

#define EPS 1e-2
#define ATOL 1e-3
#define RTOL 1e-2
#define RELU_MARGIN 0.05

static const ml_cell_t cells[] = {ML_CELL_RNN_TANH, ML_CELL_RNN_RELU, ML_CELL_GRU, ML_CELL_LSTM};
#define NCELLS ((int)(sizeof cells / sizeof *cells))

static void new3(ml_tensor_t *t, int64_t a, int64_t b, int64_t c)
{
    int64_t shape[3] = {a, b, c};
    CHECK(ml_tensor_new(t, 3, shape) == ML_OK);
}

static float *fdup(const float *src, int64_t n)
{
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (p && n > 0)
        memcpy(p, src, (size_t)n * sizeof *p);
    return p;
}

/* A stack with its flat buffers, input, initial states, lengths and loss weights R (and Rh, Rc
 * on the final states when final is set). */
typedef struct {
    ml_cell_t cell;
    int L, last_only, dirs, S; /* S = L·dirs sub-layers (states) */
    int64_t B, T, D, H, np;
    ml_rnn_t r;
    float *params, *grads;
    ml_tensor_t x;      /* (B,T,D) */
    ml_tensor_t h0, c0; /* (S,B,H); c0 for LSTM only */
    ml_tensor_t R;      /* (B,T,dirs·H) or (B,dirs·H) */
    ml_tensor_t Rh, Rc; /* (S,B,H): weights of the final states in J, when final is set */
    int64_t *len;       /* (B) lengths, or NULL */
    int zero_state;     /* forward from the default initial states (zeros or learned) */
    int final;          /* J also weighs the final states */
    /* ReLU: on/off pattern of the unperturbed forward, and how often an evaluation differed */
    unsigned char *mask;
    long flips;
} rig_t;

static int rig_open(rig_t *g, ml_cell_t cell, int L, int flags, int64_t B, int64_t T,
                    int64_t D, int64_t H)
{
    memset(g, 0, sizeof *g);
    g->cell = cell;
    g->L = L;
    g->last_only = (flags & ML_RNN_LAST) != 0;
    g->dirs = (flags & ML_RNN_BIDIRECTIONAL) ? 2 : 1;
    g->S = L * g->dirs;
    g->B = B;
    g->T = T;
    g->D = D;
    g->H = H;
    int rc = ml_rnn_init(&g->r, cell, D, H, L, flags);
    CHECK_MSG(rc == ML_OK, "ml_rnn_init: %s", ml_errmsg());
    if (rc)
        return 0;
    g->np = ml_rnn_nparams(cell, D, H, L, flags);
    g->params = calloc((size_t)g->np, sizeof(float));
    g->grads = calloc((size_t)g->np, sizeof(float));
    CHECK(g->params && g->grads);
    if (!g->params || !g->grads)
        return 0;
    ml_rnn_bind(&g->r, g->params, g->grads);
    new3(&g->x, B, T, D);
    new3(&g->h0, g->S, B, H);
    new3(&g->Rh, g->S, B, H);
    if (cell == ML_CELL_LSTM) {
        new3(&g->c0, g->S, B, H);
        new3(&g->Rc, g->S, B, H);
    }
    if (g->last_only)
        new2(&g->R, B, g->dirs * H);
    else
        new3(&g->R, B, T, g->dirs * H);
    return 1;
}

static void rig_close(rig_t *g)
{
    ml_rnn_free(&g->r);
    free(g->params);
    free(g->grads);
    free(g->mask);
    ml_tensor_free(&g->x);
    ml_tensor_free(&g->h0);
    ml_tensor_free(&g->c0);
    ml_tensor_free(&g->R);
    ml_tensor_free(&g->Rh);
    ml_tensor_free(&g->Rc);
    free(g->len);
}

/* Lengths for the rig's batch (copied). */
static void rig_lengths(rig_t *g, const int64_t *len)
{
    free(g->len);
    g->len = NULL;
    if (!len)
        return;
    g->len = malloc((size_t)g->B * sizeof *g->len);
    memcpy(g->len, len, (size_t)g->B * sizeof *len);
}

/* Parameters U(-w, w), inputs U(-1, 1), non-zero initial states, R ~ N(0, 1). */
static void rig_draw(rig_t *g, ml_rng_t *rng, float w)
{
    ml_rng_uniform(rng, g->params, g->np, -w, w);
    ml_rng_uniform(rng, g->x.data, ml_tensor_numel(&g->x), -1.0f, 1.0f);
    ml_rng_uniform(rng, g->h0.data, ml_tensor_numel(&g->h0), -0.8f, 0.8f);
    if (g->c0.data)
        ml_rng_uniform(rng, g->c0.data, ml_tensor_numel(&g->c0), -1.0f, 1.0f);
    ml_rng_normal(rng, g->R.data, ml_tensor_numel(&g->R), 0.0f, 1.0f);
    ml_rng_normal(rng, g->Rh.data, ml_tensor_numel(&g->Rh), 0.0f, 1.0f);
    if (g->Rc.data)
        ml_rng_normal(rng, g->Rc.data, ml_tensor_numel(&g->Rc), 0.0f, 1.0f);
}

static int rig_forward(rig_t *g, const ml_tensor_t **y)
{
    int rc = g->zero_state ? ml_rnn_set_state(&g->r, NULL, NULL)
                           : ml_rnn_set_state(&g->r, &g->h0, g->c0.data ? &g->c0 : NULL);
    return rc ? rc : ml_rnn_forward(&g->r, &g->x, g->len, y);
}

static int rig_backward(rig_t *g, int overwrite, const ml_tensor_t **dx)
{
    if (!g->final)
        return ml_rnn_backward(&g->r, &g->R, overwrite, dx);
    return ml_rnn_backward_states(&g->r, &g->R, &g->Rh, g->Rc.data ? &g->Rc : NULL, overwrite,
                                  dx);
}

/* ---- reference: the equations of rnn.h in double, one sequence and one unit at a time ---- */

static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

typedef struct {
    double min_pre; /* ReLU: smallest |pre-activation| */
    long pos, neg;  /* ReLU: pre-activations on either side of 0 */
} ref_stats_t;

/* y (B,T,H) or (B,H), hn and cn (L,B,H); h0, c0 (L,B,H) or NULL for zeros; len (B) or NULL:
 * sequence b stops after len[b] steps, its later outputs are zero, its last output and final
 * states are those of step len[b]-1. One direction only. */
static void ref_forward(ml_cell_t cell, int L, int last_only, int64_t B, int64_t T, int64_t D,
                        int64_t H, const float *params, const float *x, const int64_t *len,
                        const float *h0, const float *c0, double *y, double *hn, double *cn,
                        ref_stats_t *st)
{
    const int64_t G = ml_rnn_gates(cell), GH = G * H, Dmax = D > H ? D : H;
    double *in = malloc((size_t)(B * T * Dmax) * sizeof *in);
    double *out = calloc((size_t)(B * T * H), sizeof *out);
    double *gi = malloc((size_t)GH * sizeof *gi), *gh = malloc((size_t)GH * sizeof *gh);
    double *h = malloc((size_t)H * sizeof *h), *c = malloc((size_t)H * sizeof *c);
    double *hnew = malloc((size_t)H * sizeof *hnew);
    if (st) {
        st->min_pre = INFINITY;
        st->pos = st->neg = 0;
    }
    for (int64_t k = 0; k < B * T * D; k++)
        in[k] = x[k];
    const float *p = params;
    for (int l = 0; l < L; l++) {
        const int64_t Dl = l == 0 ? D : H;
        const float *w_ih = p, *w_hh = w_ih + GH * Dl, *b_ih = w_hh + GH * H, *b_hh = b_ih + GH;
        p = b_hh + GH;
        for (int64_t b = 0; b < B; b++) {
            for (int64_t j = 0; j < H; j++) {
                h[j] = h0 ? h0[(l * B + b) * H + j] : 0.0;
                c[j] = c0 ? c0[(l * B + b) * H + j] : 0.0;
            }
            for (int64_t t = 0; t < (len ? len[b] : T); t++) {
                const double *xt = in + (b * T + t) * Dl;
                for (int64_t k = 0; k < GH; k++) {
                    double si = b_ih[k], sh = b_hh[k];
                    for (int64_t d = 0; d < Dl; d++)
                        si += (double)w_ih[k * Dl + d] * xt[d];
                    for (int64_t j = 0; j < H; j++)
                        sh += (double)w_hh[k * H + j] * h[j];
                    gi[k] = si;
                    gh[k] = sh;
                }
                for (int64_t j = 0; j < H; j++) {
                    switch (cell) {
                    case ML_CELL_RNN_TANH:
                        hnew[j] = tanh(gi[j] + gh[j]);
                        break;
                    case ML_CELL_RNN_RELU: {
                        double pre = gi[j] + gh[j];
                        if (st) {
                            st->min_pre = fmin(st->min_pre, fabs(pre));
                            st->pos += pre > 0;
                            st->neg += pre < 0;
                        }
                        hnew[j] = pre > 0 ? pre : 0.0;
                        break;
                    }
                    case ML_CELL_GRU: {
                        double rr = sigm(gi[j] + gh[j]), z = sigm(gi[H + j] + gh[H + j]);
                        double n = tanh(gi[2 * H + j] + rr * gh[2 * H + j]);
                        hnew[j] = (1.0 - z) * n + z * h[j];
                        break;
                    }
                    default: { /* LSTM */
                        double i = sigm(gi[j] + gh[j]), f = sigm(gi[H + j] + gh[H + j]);
                        double gg = tanh(gi[2 * H + j] + gh[2 * H + j]);
                        double o = sigm(gi[3 * H + j] + gh[3 * H + j]);
                        c[j] = f * c[j] + i * gg;
                        hnew[j] = o * tanh(c[j]);
                        break;
                    }
                    }
                }
                for (int64_t j = 0; j < H; j++)
                    out[(b * T + t) * H + j] = h[j] = hnew[j];
            }
            for (int64_t j = 0; j < H; j++) {
                hn[(l * B + b) * H + j] = h[j];
                if (cn)
                    cn[(l * B + b) * H + j] = c[j];
            }
        }
        memcpy(in, out, (size_t)(B * T * H) * sizeof *in);
    }
    for (int64_t b = 0; b < B; b++) {
        const int64_t n = len ? len[b] : T;
        for (int64_t t = last_only ? n - 1 : 0; t < (last_only ? n : T); t++)
            for (int64_t j = 0; j < H; j++)
                y[last_only ? b * H + j : (b * T + t) * H + j] = out[(b * T + t) * H + j];
    }
    free(in);
    free(out);
    free(gi);
    free(gh);
    free(h);
    free(c);
    free(hnew);
}

/* Largest |got - want| / (atol + rtol |want|) over n values: <= 1 passes. */
static double worst(const float *got, const double *want, int64_t n, double atol, double rtol)
{
    double w = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / (atol + rtol * fabs(want[i]));
        w = e > w || isnan(e) ? e : w;
    }
    return w;
}

/* The engine's forward (with the rig's states, or zeros) against the reference. */
static void check_against_reference(const char *what, rig_t *g, int with_h0, int with_c0,
                                    double atol, double rtol)
{
    const int64_t nh = g->L * g->B * g->H, ny = ml_tensor_numel(&g->R);
    CHECK(ml_rnn_set_state(&g->r, with_h0 ? &g->h0 : NULL, with_c0 ? &g->c0 : NULL) == ML_OK);
    const ml_tensor_t *y, *hn, *cn;
    int rc = ml_rnn_forward(&g->r, &g->x, g->len, &y);
    CHECK_MSG(rc == ML_OK, "%s: %s", what, ml_errmsg());
    if (rc)
        return;
    if (g->last_only)
        CHECK(y->ndim == 2 && y->shape[0] == g->B && y->shape[1] == g->H);
    else
        CHECK(y->ndim == 3 && y->shape[0] == g->B && y->shape[1] == g->T && y->shape[2] == g->H);
    ml_rnn_final_state(&g->r, &hn, &cn);
    CHECK(hn && hn->ndim == 3 && hn->shape[0] == g->L && hn->shape[1] == g->B &&
          hn->shape[2] == g->H);
    CHECK((cn != NULL) == (g->cell == ML_CELL_LSTM));
    double *ry = malloc((size_t)ny * sizeof *ry), *rh = malloc((size_t)nh * sizeof *rh);
    double *rc_ = malloc((size_t)nh * sizeof *rc_);
    ref_forward(g->cell, g->L, g->last_only, g->B, g->T, g->D, g->H, g->params, g->x.data, g->len,
                with_h0 ? g->h0.data : NULL, with_c0 ? g->c0.data : NULL, ry, rh, rc_, NULL);
    double e = worst(y->data, ry, ny, atol, rtol);
    CHECK_MSG(e <= 1.0, "%s: output off the reference by %.3g tolerances", what, e);
    if (hn) {
        e = worst(hn->data, rh, nh, atol, rtol);
        CHECK_MSG(e <= 1.0, "%s: h_n off the reference by %.3g tolerances", what, e);
    }
    if (cn) {
        e = worst(cn->data, rc_, nh, atol, rtol);
        CHECK_MSG(e <= 1.0, "%s: c_n off the reference by %.3g tolerances", what, e);
    }
    free(ry);
    free(rh);
    free(rc_);
}

/* ---- gradient checks ---- */

/* Pack the on/off pattern of every ReLU unit (L->gates holds max(pre, 0)). A padded step's
 * gates are never activated (they hold the raw products), so they count as off. */
static void relu_pattern(const rig_t *g, unsigned char *m)
{
    const int64_t n = g->T * g->B * g->H, BH = g->B * g->H;
    for (int l = 0; l < g->S; l++)
        for (int64_t k = 0; k < n; k++) {
            const int64_t t = k / BH, b = k % BH / g->H;
            m[l * n + k] = (!g->len || t < g->len[b]) && g->r.layers[l].gates.data[k] > 0.0f;
        }
}

static double objective(void *p)
{
    rig_t *g = p;
    const ml_tensor_t *y;
    if (rig_forward(g, &y) != ML_OK)
        return NAN;
    if (g->mask) {
        const int64_t n = g->S * g->T * g->B * g->H;
        unsigned char *now = malloc((size_t)n);
        relu_pattern(g, now);
        g->flips += memcmp(now, g->mask, (size_t)n) != 0;
        free(now);
    }
    double J = 0;
    const int64_t n = ml_tensor_numel(y);
    for (int64_t i = 0; i < n; i++)
        J += (double)y->data[i] * g->R.data[i];
    if (g->final) {
        const ml_tensor_t *hn, *cn;
        ml_rnn_final_state(&g->r, &hn, &cn);
        for (int64_t i = 0; i < ml_tensor_numel(hn); i++)
            J += (double)hn->data[i] * g->Rh.data[i];
        for (int64_t i = 0; cn && i < ml_tensor_numel(cn); i++)
            J += (double)cn->data[i] * g->Rc.data[i];
    }
    return J;
}

/* Analytic gradients of J with respect to x, h0 (c0) and every parameter block, each compared
 * with central differences. */
static void gradcheck(const char *what, rig_t *g)
{
    const ml_tensor_t *y, *dx, *dh0, *dc0;
    int rc = rig_forward(g, &y);
    CHECK_MSG(rc == ML_OK, "%s: forward: %s", what, ml_errmsg());
    if (rc)
        return;
    rc = rig_backward(g, 1, &dx);
    CHECK_MSG(rc == ML_OK, "%s: backward: %s", what, ml_errmsg());
    if (rc)
        return;
    ml_rnn_state_grad(&g->r, &dh0, &dc0);
    CHECK(dx && dx->ndim == 3 && dx->shape[0] == g->B && dx->shape[1] == g->T &&
          dx->shape[2] == g->D);
    CHECK(dh0 && dh0->ndim == 3 && dh0->shape[0] == g->S && dh0->shape[1] == g->B &&
          dh0->shape[2] == g->H);
    CHECK((dc0 != NULL) == (g->cell == ML_CELL_LSTM));
    const int64_t nx = g->B * g->T * g->D, nh = g->S * g->B * g->H;
    float *ax = fdup(dx->data, nx), *ah = fdup(dh0->data, nh);
    float *ac = dc0 ? fdup(dc0->data, nh) : NULL, *ag = fdup(g->grads, g->np);
    if (g->cell == ML_CELL_RNN_RELU) {
        g->mask = malloc((size_t)(g->S * g->T * g->B * g->H));
        relu_pattern(g, g->mask);
        g->flips = 0;
    }

    char label[128];
    snprintf(label, sizeof label, "%s dx", what);
    gc_check_array(label, g->x.data, ax, nx, EPS, ATOL, RTOL, objective, g);
    if (!g->zero_state) { /* else h0 and c0 are not inputs of J */
        snprintf(label, sizeof label, "%s dh0", what);
        gc_check_array(label, g->h0.data, ah, nh, EPS, ATOL, RTOL, objective, g);
        if (ac) {
            snprintf(label, sizeof label, "%s dc0", what);
            gc_check_array(label, g->c0.data, ac, nh, EPS, ATOL, RTOL, objective, g);
        }
    }
    static const char *const block[4] = {"w_ih", "w_hh", "b_ih", "b_hh"};
    const int64_t GH = ml_rnn_gates(g->cell) * g->H;
    int64_t covered = 0;
    for (int l = 0; l < g->S; l++) {
        ml_rnn_layer_t *Ly = &g->r.layers[l];
        float *p[4] = {Ly->w_ih, Ly->w_hh, Ly->b_ih, Ly->b_hh};
        const int64_t n[4] = {GH * Ly->in, GH * g->H, GH, GH};
        for (int k = 0; k < 4; k++) {
            snprintf(label, sizeof label, "%s layer %d d%s", what, l, block[k]);
            gc_check_array(label, p[k], ag + (p[k] - g->params), n[k], EPS, ATOL, RTOL,
                           objective, g);
            covered += n[k];
        }
    }
    if (g->r.learn_state) { /* the learnable initial states, after the weights */
        const int64_t n = g->S * g->H;
        snprintf(label, sizeof label, "%s learned h0", what);
        gc_check_array(label, g->r.h0p, ag + (g->r.h0p - g->params), n, EPS, ATOL, RTOL,
                       objective, g);
        covered += n;
        if (g->r.c0p) {
            snprintf(label, sizeof label, "%s learned c0", what);
            gc_check_array(label, g->r.c0p, ag + (g->r.c0p - g->params), n, EPS, ATOL, RTOL,
                           objective, g);
            covered += n;
        }
    }
    CHECK(covered == g->np); /* every parameter was perturbed */
    if (g->mask) {
        CHECK_MSG(g->flips == 0, "%s: %ld perturbations moved a ReLU unit across its kink",
                  what, g->flips);
        free(g->mask);
        g->mask = NULL;
    }
    free(ax);
    free(ah);
    free(ac);
    free(ag);
}

/* Draw until no ReLU pre-activation is within RELU_MARGIN of 0 and both sides occur. The
 * reference starts from the rig's h0, or from zeros when the rig runs from its default states
 * (a ReLU rig has no learnable ones). */
static void draw_clear_of_kink(rig_t *g, ml_rng_t *rng)
{
    const int64_t ny = ml_tensor_numel(&g->R), nh = g->L * g->B * g->H;
    double *y = malloc((size_t)ny * sizeof *y), *hn = malloc((size_t)nh * sizeof *hn);
    ref_stats_t st = {0, 0, 0};
    int tries = 0;
    CHECK(g->dirs == 1 && !g->r.learn_state);
    do {
        rig_draw(g, rng, 0.5f);
        ref_forward(g->cell, g->L, g->last_only, g->B, g->T, g->D, g->H, g->params, g->x.data,
                    g->len, g->zero_state ? NULL : g->h0.data, NULL, y, hn, NULL, &st);
    } while (++tries < 100000 && !(st.min_pre >= RELU_MARGIN && st.pos > 0 && st.neg > 0));
    CHECK_MSG(st.min_pre >= RELU_MARGIN && st.pos > 0 && st.neg > 0,
              "no draw clear of the ReLU kink in %d tries (min |pre| %.3g)", tries, st.min_pre);
    free(y);
    free(hn);
}

/* The same for a bidirectional stack, layer by layer: each direction of a layer is a
 * one-direction layer with its own parameters (sub-layer 2l+d) and initial state, the backward
 * one reading each sequence's own steps in reverse, so the one-direction reference checks them
 * one at a time; the next layer reads both directions' outputs side by side, rounded to float as
 * the engine passes them on (a difference of ~1e-7, far inside the margin). */
static void draw_clear_of_kink_bi(rig_t *g, ml_rng_t *rng)
{
    const int64_t B = g->B, T = g->T, H = g->H, H2 = 2 * H;
    const int64_t Dmax = g->D > H2 ? g->D : H2;
    double *y = malloc((size_t)(B * T * H) * sizeof *y), *hn = malloc((size_t)(B * H) * sizeof *hn);
    float *in = malloc((size_t)(B * T * Dmax) * sizeof *in);
    float *xr = malloc((size_t)(B * T * Dmax) * sizeof *xr);
    float *next = malloc((size_t)(B * T * H2) * sizeof *next);
    ref_stats_t st;
    double min_pre = 0;
    long pos = 0, neg = 0;
    int tries = 0, clear = 0;
    CHECK(g->dirs == 2 && !g->r.learn_state);
    do {
        rig_draw(g, rng, 0.5f);
        min_pre = INFINITY;
        pos = neg = 0;
        int64_t Dl = g->D;
        memcpy(in, g->x.data, (size_t)(B * T * Dl) * sizeof *in);
        for (int l = 0; l < g->L; l++) {
            for (int d = 0; d < 2; d++) {
                const int s = 2 * l + d;
                for (int64_t b = 0; b < B; b++) {
                    const int64_t n = g->len ? g->len[b] : T;
                    for (int64_t t = 0; t < T; t++)
                        memcpy(xr + (b * T + t) * Dl,
                               in + (b * T + (d && t < n ? n - 1 - t : t)) * Dl,
                               (size_t)Dl * sizeof *xr);
                }
                ref_forward(g->cell, 1, 0, B, T, Dl, H, g->r.layers[s].w_ih, xr, g->len,
                            g->zero_state ? NULL : g->h0.data + s * B * H, NULL, y, hn, NULL,
                            &st);
                min_pre = fmin(min_pre, st.min_pre);
                pos += st.pos;
                neg += st.neg;
                for (int64_t b = 0; b < B; b++) { /* output of step t: the reversed run's n-1-t */
                    const int64_t n = g->len ? g->len[b] : T;
                    for (int64_t t = 0; t < T; t++)
                        for (int64_t j = 0; j < H; j++)
                            next[(b * T + t) * H2 + d * H + j] =
                                (float)y[(b * T + (d && t < n ? n - 1 - t : t)) * H + j];
                }
            }
            Dl = H2;
            memcpy(in, next, (size_t)(B * T * H2) * sizeof *in);
        }
        clear = min_pre >= RELU_MARGIN && pos > 0 && neg > 0;
    } while (++tries < 100000 && !clear);
    CHECK_MSG(clear, "no bidirectional draw clear of the ReLU kink in %d tries (min |pre| %.3g)",
              tries, min_pre);
    free(y);
    free(hn);
    free(in);
    free(xr);
    free(next);
}

/* Either of the two, by the rig's directions. */
static void draw_relu(rig_t *g, ml_rng_t *rng)
{
    if (g->dirs == 2)
        draw_clear_of_kink_bi(g, rng);
    else
        draw_clear_of_kink(g, rng);
}

static void test_gradcheck(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 2024);
    char what[96];
    for (int c = 0; c < NCELLS; c++)
        for (int L = 1; L <= 3; L++) {
            if (L == 3 && cells[c] != ML_CELL_LSTM) /* three layers: LSTM only */
                continue;
            for (int last_only = 0; last_only <= 1; last_only++) {
                /* sizes vary a little so that no two dimensions coincide by accident */
                const int64_t B = 2 + (L + last_only) % 2, T = 4 + (c + L) % 3, D = 3, H = 4;
                rig_t g;
                if (rig_open(&g, cells[c], L, last_only, B, T, D, H)) {
                    if (cells[c] == ML_CELL_RNN_RELU)
                        draw_relu(&g, &rng);
                    else
                        rig_draw(&g, &rng, 0.5f);
                    snprintf(what, sizeof what, "%s L=%d %s B=%lld T=%lld",
                             ml_cell_name(cells[c]), L, last_only ? "last" : "seq",
                             (long long)B, (long long)T);
                    gradcheck(what, &g);
                }
                rig_close(&g);
            }
        }
}

/* ---- forward against the reference, layout, final states ---- */

static void test_layout(void)
{
    /* sum over layers of G·H·(D_l + H + 2) */
    CHECK(ml_rnn_nparams(ML_CELL_RNN_TANH, 3, 4, 1, 0) == 4 * (3 + 4 + 2));
    CHECK(ml_rnn_nparams(ML_CELL_GRU, 3, 4, 2, 0) == 12 * (3 + 4 + 2) + 12 * (4 + 4 + 2));
    CHECK(ml_rnn_nparams(ML_CELL_LSTM, 5, 2, 3, 0) == 8 * (5 + 2 + 2) + 2 * 8 * (2 + 2 + 2));
    CHECK(ml_rnn_gates(ML_CELL_RNN_RELU) == 1 && ml_rnn_gates(ML_CELL_GRU) == 3 &&
          ml_rnn_gates(ML_CELL_LSTM) == 4);
    /* views in the documented order, contiguous, parameters and gradients in step */
    rig_t g;
    if (rig_open(&g, ML_CELL_LSTM, 2, 0, 2, 3, 3, 4)) {
        const ml_rnn_layer_t *a = &g.r.layers[0], *b = &g.r.layers[1];
        CHECK(a->in == 3 && b->in == 4);
        CHECK(a->w_ih == g.params && a->w_hh == g.params + 48 && a->b_ih == g.params + 112 &&
              a->b_hh == g.params + 128);
        CHECK(b->w_ih == g.params + 144 && b->w_hh == g.params + 208 &&
              b->b_ih == g.params + 272 && b->b_hh == g.params + 288 && g.np == 304);
        CHECK(a->dw_ih == g.grads && a->dw_hh == g.grads + 48 && b->db_hh == g.grads + 288);
    }
    rig_close(&g);
    static const char *const names[] = {"rnn", "rnn_relu", "gru", "lstm"};
    for (int c = 0; c < NCELLS; c++) {
        CHECK(strcmp(ml_cell_name(cells[c]), names[c]) == 0);
        CHECK(ml_cell_from_name(names[c]) == (int)cells[c]);
    }
    CHECK(ml_cell_from_name("transformer") == -1);
    CHECK(ml_cell_name(ML_CELL_NKINDS) != NULL);
}

/* The forward pass matches the equations (gate order, GRU's r inside, biases) with zero,
 * h0-only and full initial states, 1 to 3 layers, both output modes. Tolerance: float32
 * against double over sums of at most 8 terms and 5 steps, ~1e-6; 1e-5 + 1e-4|ref| is ten
 * times that and far below any wrong gate. */
static void test_reference_forward(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 77);
    char what[96];
    for (int c = 0; c < NCELLS; c++)
        for (int L = 1; L <= 3; L++)
            for (int last_only = 0; last_only <= 1; last_only++) {
                rig_t g;
                if (rig_open(&g, cells[c], L, last_only, 3, 5, 3, 4)) {
                    rig_draw(&g, &rng, 0.5f);
                    const int lstm = cells[c] == ML_CELL_LSTM;
                    for (int states = 0; states < (lstm ? 3 : 2); states++) {
                        snprintf(what, sizeof what, "%s L=%d %s states=%s",
                                 ml_cell_name(cells[c]), L, last_only ? "last" : "seq",
                                 states == 0 ? "zero" : states == 1 ? "h0" : "h0,c0");
                        check_against_reference(what, &g, states >= 1, states == 2, 1e-5, 1e-4);
                    }
                }
                rig_close(&g);
            }
}

/* A strided input (a transpose view, stride[2] != 1) gives the same result as its copy. */
static void test_strided_input(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 78);
    rig_t g;
    if (rig_open(&g, ML_CELL_GRU, 2, 0, 3, 4, 3, 4)) {
        rig_draw(&g, &rng, 0.5f);
        ml_tensor_t store, view;
        new3(&store, 3, 3, 4); /* (B, D, T) */
        ml_rng_uniform(&rng, store.data, 36, -1.0f, 1.0f);
        CHECK(ml_tensor_transpose(&view, &store, 1, 2) == ML_OK);
        CHECK(view.stride[2] != 1);
        CHECK(ml_tensor_copy(&g.x, &view) == ML_OK);
        const ml_tensor_t *y;
        CHECK(rig_forward(&g, &y) == ML_OK);
        float *want = fdup(y->data, ml_tensor_numel(y));
        CHECK(ml_rnn_forward(&g.r, &view, NULL, &y) == ML_OK);
        CHECK_MSG(memcmp(want, y->data, (size_t)ml_tensor_numel(y) * sizeof(float)) == 0,
                  "strided input differs from its contiguous copy");
        free(want);
        ml_tensor_free(&store);
    }
    rig_close(&g);
}

/* In sequence mode the top layer's final state is the output's last step, bit for bit; in
 * last-step mode it is the output. Lower layers' and cell states are checked against the
 * reference above. Before any forward there are no states; c only for LSTM. */
static void test_final_states(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 79);
    for (int c = 0; c < NCELLS; c++)
        for (int last_only = 0; last_only <= 1; last_only++) {
            rig_t g;
            if (rig_open(&g, cells[c], 2, last_only, 3, 5, 3, 4)) {
                rig_draw(&g, &rng, 0.5f);
                const ml_tensor_t *y, *hn, *cn, *dh0, *dc0;
                ml_rnn_final_state(&g.r, &hn, &cn);
                ml_rnn_state_grad(&g.r, &dh0, &dc0);
                CHECK(hn == NULL && cn == NULL && dh0 == NULL && dc0 == NULL);
                CHECK(rig_forward(&g, &y) == ML_OK);
                ml_rnn_final_state(&g.r, &hn, &cn);
                CHECK((cn != NULL) == (cells[c] == ML_CELL_LSTM));
                if (!hn)
                    goto next;
                const int64_t B = g.B, T = g.T, H = g.H, top = (g.L - 1) * B * H;
                int same = 1;
                for (int64_t b = 0; b < B; b++)
                    same &= memcmp(hn->data + top + b * H,
                                   y->data + (last_only ? b * H : (b * T + T - 1) * H),
                                   (size_t)H * sizeof(float)) == 0;
                CHECK_MSG(same, "%s %s: h_n[L-1] != y at the last step", ml_cell_name(cells[c]),
                          last_only ? "last" : "seq");
                /* the lower layer's final state is not the output */
                CHECK(memcmp(hn->data, hn->data + top, (size_t)(B * H) * sizeof(float)) != 0);
            }
        next:
            rig_close(&g);
        }
}

/* ---- backward contract ---- */

/* Two backward calls with overwrite = 0 double the parameter gradients and give the same dx and
 * state gradients bit for bit. The doubling is not exact: the bias sums add T·B rows one at a
 * time onto the first result, and BLIS may split long sums over k into blocks that land on C in
 * turn, so the second call rounds differently; we allow 1e-5 of the largest gradient (T·B = 160
 * roundings of 2^-24 at most), where a call that overwrote instead would be off by all of it.
 * overwrite = 1 gives the single-call result whatever the buffer held, NaN included. */
static void check_contract(const char *what, rig_t *g)
{
    const ml_tensor_t *y, *dx, *dh0, *dc0;
    CHECK(rig_forward(g, &y) == ML_OK);
    const int64_t np = g->np, nx = g->B * g->T * g->D, nh = g->L * g->B * g->H;
    memset(g->grads, 0, (size_t)np * sizeof(float));
    CHECK(ml_rnn_backward(&g->r, &g->R, 0, &dx) == ML_OK);
    ml_rnn_state_grad(&g->r, &dh0, &dc0);
    float *once = fdup(g->grads, np), *dx1 = fdup(dx->data, nx), *dh1 = fdup(dh0->data, nh);
    float *dc1 = dc0 ? fdup(dc0->data, nh) : NULL;
    double gmax = 0;
    int64_t nonzero = 0;
    for (int64_t i = 0; i < np; i++) {
        gmax = fmax(gmax, fabs(once[i]));
        nonzero += once[i] != 0.0f;
    }
    /* not vacuous; not all, as ReLU units off at every step (and their zero outputs feeding the
     * layer above) have zero gradients */
    CHECK_MSG(4 * nonzero >= np, "%s: %lld of %lld gradients are zero", what,
              (long long)(np - nonzero), (long long)np);

    CHECK(ml_rnn_backward(&g->r, &g->R, 0, &dx) == ML_OK);
    ml_rnn_state_grad(&g->r, &dh0, &dc0);
    double e = 0;
    for (int64_t i = 0; i < np; i++)
        e = fmax(e, fabs((double)g->grads[i] - 2.0 * once[i]));
    CHECK_MSG(e <= 1e-5 * gmax, "%s: two backward calls are off double by %.3g (max |g| %.3g)",
              what, e, gmax);
    CHECK_MSG(memcmp(dx1, dx->data, (size_t)nx * sizeof(float)) == 0 &&
                  memcmp(dh1, dh0->data, (size_t)nh * sizeof(float)) == 0 &&
                  (!dc1 || memcmp(dc1, dc0->data, (size_t)nh * sizeof(float)) == 0),
              "%s: dx or state gradients accumulate across backward calls", what);

    for (int64_t i = 0; i < np; i++)
        g->grads[i] = NAN;
    CHECK(ml_rnn_backward(&g->r, &g->R, 1, &dx) == ML_OK);
    int same = 1;
    for (int64_t i = 0; i < np; i++)
        same &= g->grads[i] == once[i]; /* == also equates +0 and -0 from 0 + (-0) */
    CHECK_MSG(same, "%s: overwrite over NaN differs from a single call on zeros", what);
    float *first = fdup(g->grads, np);
    ml_rng_t rng;
    ml_rng_seed(&rng, 5);
    ml_rng_uniform(&rng, g->grads, np, -1e30f, 1e30f);
    CHECK(ml_rnn_backward(&g->r, &g->R, 1, NULL) == ML_OK); /* and without dx */
    CHECK_MSG(memcmp(first, g->grads, (size_t)np * sizeof(float)) == 0,
              "%s: overwrite depends on what the buffer held", what);
    free(once);
    free(dx1);
    free(dh1);
    free(dc1);
    free(first);
}

static void test_backward_contract(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 80);
    for (int c = 0; c < NCELLS; c++) {
        rig_t g;
        if (rig_open(&g, cells[c], 2, 0, 3, 5, 3, 4)) {
            rig_draw(&g, &rng, 0.5f);
            check_contract(ml_cell_name(cells[c]), &g);
        }
        rig_close(&g);
    }
}

/* ---- BLIS-sized stacks ---- */

/* Directional derivative along a random direction d over all of v[0..n): J(v+s·d) - J(v-s·d)
 * against ana · Δ, Δ the step actually taken in float. The step has norm s·|d| ≈ 0.1, under 1%
 * of |v|: the truncation error measured ~1e-4 relative (it falls as the step squared), and the
 * difference, summed over all elements, is >= 4e-3 here, far above J's float noise (sums of
 * 10240 products: up to ~1e-5 measured, independent of the step). Accept
 * |numeric - analytic| <= 2e-5 + 1e-2 |numeric|; a wrong stride or a transposed GEMM operand
 * gives O(1) relative errors. */
static void directional(const char *what, rig_t *g, float *v, const float *ana, int64_t n,
                        ml_rng_t *rng)
{
    float *v0 = fdup(v, n), *d = malloc((size_t)n * sizeof *d);
    ml_rng_normal(rng, d, n, 0.0f, 1.0f);
    const double s = 0.1 / sqrt((double)n);
    double pred = 0;
    for (int64_t i = 0; i < n; i++) {
        float vp = (float)(v0[i] + s * d[i]), vm = (float)(v0[i] - s * d[i]);
        pred += (double)ana[i] * ((double)vp - (double)vm);
        v[i] = vp;
    }
    double Jp = objective(g);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)(v0[i] - s * d[i]);
    double Jm = objective(g);
    memcpy(v, v0, (size_t)n * sizeof *v);
    double num = Jp - Jm;
    CHECK_MSG(fabs(num - pred) <= 1e-2 * fabs(num) + 2e-5,
              "%s: directional derivative: analytic %.9g, numeric %.9g", what, pred, num);
    free(v0);
    free(d);
}

/* ReLU with 64 units has thousands of pre-activations, some always within a step's reach of the
 * kink, where a directional difference measures a mixture of slopes (1-3% off, measured). So the
 * big ReLU stack gets small weights U(-0.05, 0.05) and biases b_ih = ±1 by unit: pre-activations
 * stay near ±1, units on and off (both branches), and the draw is verified clear of the kink. The
 * elementwise ReLU derivative near the kink is the small gradient checks' business; here it is
 * the GEMMs around it. */
static void relu_clear_of_kink(rig_t *g, ml_rng_t *rng)
{
    const int64_t ny = ml_tensor_numel(&g->R), nh = g->L * g->B * g->H;
    const int64_t GH = g->H;
    ml_rng_uniform(rng, g->params, g->np, -0.05f, 0.05f);
    for (int l = 0; l < g->L; l++)
        for (int64_t j = 0; j < GH; j++)
            g->r.layers[l].b_ih[j] = j % 2 ? -1.0f : 1.0f;
    double *y = malloc((size_t)ny * sizeof *y), *hn = malloc((size_t)nh * sizeof *hn);
    ref_stats_t st;
    ref_forward(g->cell, g->L, g->last_only, g->B, g->T, g->D, g->H, g->params, g->x.data,
                g->len, g->h0.data, NULL, y, hn, NULL, &st);
    CHECK_MSG(st.min_pre >= 0.1 && st.pos > 0 && st.neg > 0,
              "big ReLU draw: min |pre| %.3g, %ld on, %ld off", st.min_pre, st.pos, st.neg);
    free(y);
    free(hn);
}

/* Sizes where every recurrent GEMM goes to BLIS (B·G·H·H >= 32·64·64 > 8192 multiply-adds):
 * the forward against the reference, gradients along random directions, the overwrite contract,
 * and bit-identical outputs and gradients at 1 and 2 BLIS threads. BLIS splits the m and n loops
 * among threads, never k, so each element is summed in the same order whatever the count. */
static void test_blis_sized(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 81);
    const int threads0 = ml_k_get_threads();
    const int64_t B = 32, T = 5, D = 16, H = 64;
    char what[96];
    for (int c = 0; c < NCELLS; c++) {
        rig_t g;
        if (!rig_open(&g, cells[c], 2, 0, B, T, D, H)) {
            rig_close(&g);
            continue;
        }
        const char *name = ml_cell_name(cells[c]);
        /* PyTorch's default scale 1/sqrt(H): stable dynamics for 64 units */
        rig_draw(&g, &rng, 0.125f);
        if (cells[c] == ML_CELL_RNN_RELU)
            relu_clear_of_kink(&g, &rng);
        snprintf(what, sizeof what, "%s B=32 H=64", name);
        /* sums of 80 terms in float, in BLIS's order: ten times the small case's tolerance */
        check_against_reference(what, &g, 1, cells[c] == ML_CELL_LSTM, 1e-4, 1e-3);

        const int64_t ny = B * T * H, nx = B * T * D, nh = 2 * B * H, np = g.np;
        const ml_tensor_t *y, *dx, *dh0, *dc0, *hn, *cn;
        float *res[2][8];
        const int64_t sizes[8] = {ny, nx, np, nh, nh, nh, nh};
        for (int run = 0; run < 2; run++) {
            ml_k_set_threads(run + 1);
            CHECK(ml_k_get_threads() == run + 1);
            memset(res[run], 0, sizeof res[run]);
            if (rig_forward(&g, &y) != ML_OK || ml_rnn_backward(&g.r, &g.R, 1, &dx) != ML_OK) {
                CHECK_MSG(0, "%s at %d threads: %s", what, run + 1, ml_errmsg());
                continue;
            }
            ml_rnn_state_grad(&g.r, &dh0, &dc0);
            ml_rnn_final_state(&g.r, &hn, &cn);
            res[run][0] = fdup(y->data, ny);
            res[run][1] = fdup(dx->data, nx);
            res[run][2] = fdup(g.grads, np);
            res[run][3] = fdup(dh0->data, nh);
            res[run][4] = fdup(hn->data, nh);
            res[run][5] = dc0 ? fdup(dc0->data, nh) : NULL;
            res[run][6] = cn ? fdup(cn->data, nh) : NULL;
        }
        static const char *const names[7] = {"y", "dx", "grads", "dh0", "h_n", "dc0", "c_n"};
        for (int k = 0; k < 7; k++) {
            if (!res[0][k] && !res[1][k])
                continue;
            CHECK_MSG(res[0][k] && res[1][k] &&
                          memcmp(res[0][k], res[1][k], (size_t)sizes[k] * sizeof(float)) == 0,
                      "%s: %s differs between 1 and 2 BLIS threads", what, names[k]);
        }
        ml_k_set_threads(threads0);

        /* gradients along random directions (the analytic ones from the runs above) */
        if (cells[c] == ML_CELL_RNN_RELU) {
            g.mask = malloc((size_t)(g.L * T * B * H));
            CHECK(rig_forward(&g, &y) == ML_OK);
            relu_pattern(&g, g.mask);
            g.flips = 0;
        }
        if (res[0][2]) {
            snprintf(what, sizeof what, "%s B=32 H=64 params", name);
            directional(what, &g, g.params, res[0][2], np, &rng);
            snprintf(what, sizeof what, "%s B=32 H=64 x", name);
            directional(what, &g, g.x.data, res[0][1], nx, &rng);
            snprintf(what, sizeof what, "%s B=32 H=64 h0", name);
            directional(what, &g, g.h0.data, res[0][3], nh, &rng);
            if (res[0][5]) {
                snprintf(what, sizeof what, "%s B=32 H=64 c0", name);
                directional(what, &g, g.c0.data, res[0][5], nh, &rng);
            }
        }
        if (g.mask) {
            CHECK_MSG(g.flips == 0, "%s: a step moved a ReLU unit across its kink", what);
            free(g.mask);
            g.mask = NULL;
        }
        for (int run = 0; run < 2; run++)
            for (int k = 0; k < 7; k++)
                free(res[run][k]);

        /* overwrite ignores NaN in the buffer through BLIS's beta = 0 too */
        snprintf(what, sizeof what, "%s B=32 H=64", name);
        check_contract(what, &g);
        rig_close(&g);
    }
}

/* ---- errors ---- */

static void test_errors(void)
{
    ml_rnn_t r;
    CHECK_ERR(ml_rnn_init(&r, ML_CELL_LSTM, 3, 4, 0, 0), ML_EARG, "0 layers", "1 to 8");
    CHECK_ERR(ml_rnn_init(&r, ML_CELL_LSTM, 3, 4, ML_RNN_MAX_LAYERS + 1, 0), ML_EARG,
              "9 layers", "1 to 8");
    CHECK_ERR(ml_rnn_init(&r, ML_CELL_GRU, 3, 0, 1, 0), ML_EARG, "gru", "hidden size 0");
    CHECK_ERR(ml_rnn_init(&r, ML_CELL_GRU, 0, 4, 1, 0), ML_EARG, "input size 0");
    CHECK_ERR(ml_rnn_init(&r, ML_CELL_NKINDS, 3, 4, 1, 0), ML_EARG, "unknown cell");
    CHECK(ml_rnn_init(&r, ML_CELL_LSTM, 3, 4, ML_RNN_MAX_LAYERS, 0) == ML_OK);
    ml_rnn_free(&r);

    ml_rng_t rng;
    ml_rng_seed(&rng, 82);
    rig_t g;
    if (rig_open(&g, ML_CELL_LSTM, 2, 0, 2, 4, 3, 4)) {
        rig_draw(&g, &rng, 0.5f);
        const ml_tensor_t *y, *dx;
        /* backward before any forward */
        CHECK_ERR(ml_rnn_backward(&g.r, &g.R, 0, &dx), ML_ESTATE, "lstm", "forward");

        ml_tensor_t bad;
        /* wrong rank, wrong feature size, T = 0 */
        new2(&bad, 2, 3);
        CHECK_ERR(ml_rnn_forward(&g.r, &bad, NULL, &y), ML_ESHAPE, "lstm", "(2,3)", "(B,T,3)");
        ml_tensor_free(&bad);
        new3(&bad, 2, 4, 5);
        CHECK_ERR(ml_rnn_forward(&g.r, &bad, NULL, &y), ML_ESHAPE, "(2,4,5)", "(B,T,3)");
        ml_tensor_free(&bad);
        new3(&bad, 2, 0, 3);
        CHECK_ERR(ml_rnn_forward(&g.r, &bad, NULL, &y), ML_ESHAPE, "(2,0,3)", "T >= 1");
        ml_tensor_free(&bad);
        /* a failed forward leaves nothing to go back through */
        CHECK_ERR(ml_rnn_backward(&g.r, &g.R, 0, &dx), ML_ESTATE, "forward");

        /* a cell state alone for a batch of 3 (no h0 ever set), an input of 2 */
        new3(&bad, 2, 3, 4);
        CHECK(ml_rnn_set_state(&g.r, NULL, &bad) == ML_OK);
        CHECK_ERR(ml_rnn_forward(&g.r, &g.x, NULL, &y), ML_ESHAPE, "batch of 3", "input has 2");
        ml_tensor_free(&bad);

        /* initial states of the wrong shape */
        new3(&bad, 3, 2, 4); /* layers */
        CHECK_ERR(ml_rnn_set_state(&g.r, &bad, NULL), ML_ESHAPE, "h0", "(3,2,4)", "(2,B,4)");
        CHECK_ERR(ml_rnn_set_state(&g.r, &g.h0, &bad), ML_ESHAPE, "c0", "(3,2,4)", "(2,B,4)");
        ml_tensor_free(&bad);
        new3(&bad, 2, 2, 5); /* hidden */
        CHECK_ERR(ml_rnn_set_state(&g.r, &bad, NULL), ML_ESHAPE, "h0", "(2,2,5)", "(2,B,4)");
        ml_tensor_free(&bad);
        new2(&bad, 2, 4); /* rank */
        CHECK_ERR(ml_rnn_set_state(&g.r, &bad, NULL), ML_ESHAPE, "h0", "(2,4)", "(2,B,4)");
        ml_tensor_free(&bad);
        new3(&bad, 2, 3, 4); /* h0 and c0 for different batches */
        CHECK_ERR(ml_rnn_set_state(&g.r, &g.h0, &bad), ML_ESHAPE, "batch of 2", "c0 for 3");

        /* a state for a batch of 3, an input of 2 */
        CHECK(ml_rnn_set_state(&g.r, &bad, NULL) == ML_OK);
        CHECK_ERR(ml_rnn_forward(&g.r, &g.x, NULL, &y), ML_ESHAPE, "batch of 3", "input has 2");
        CHECK(ml_rnn_set_state(&g.r, &bad, &bad) == ML_OK);
        CHECK_ERR(ml_rnn_forward(&g.r, &g.x, NULL, &y), ML_ESHAPE, "batch of 3", "input has 2");
        /* NULL returns both to zeros: any batch again */
        CHECK(ml_rnn_set_state(&g.r, NULL, NULL) == ML_OK);
        CHECK(ml_rnn_forward(&g.r, &g.x, NULL, &y) == ML_OK);
        ml_tensor_free(&bad);

        /* output gradient of the wrong shape, or not contiguous */
        new3(&bad, 2, 4, 5);
        CHECK_ERR(ml_rnn_backward(&g.r, &bad, 0, &dx), ML_ESHAPE, "(2,4,5)", "(2,4,4)");
        ml_tensor_free(&bad);
        new2(&bad, 2, 4);
        CHECK_ERR(ml_rnn_backward(&g.r, &bad, 0, &dx), ML_ESHAPE, "(2,4)", "(2,4,4)");
        ml_tensor_free(&bad);
        ml_tensor_t store, view;
        new3(&store, 2, 4, 4);
        CHECK(ml_tensor_transpose(&view, &store, 1, 2) == ML_OK);
        CHECK_ERR(ml_rnn_backward(&g.r, &view, 0, &dx), ML_ESHAPE, "contiguous");
        ml_tensor_free(&store);
        CHECK(ml_rnn_backward(&g.r, &g.R, 0, &dx) == ML_OK);
    }
    rig_close(&g);

    /* a cell state is LSTM-only */
    for (int c = 0; c < NCELLS; c++) {
        if (cells[c] == ML_CELL_LSTM)
            continue;
        rig_t h;
        if (rig_open(&h, cells[c], 2, 0, 2, 4, 3, 4)) {
            ml_tensor_t c0;
            new3(&c0, 2, 2, 4);
            CHECK_ERR(ml_rnn_set_state(&h.r, &h.h0, &c0), ML_EARG, ml_cell_name(cells[c]),
                      "cell state");
            CHECK_ERR(ml_rnn_set_state(&h.r, NULL, &c0), ML_EARG, "cell state");
            ml_tensor_free(&c0);
        }
        rig_close(&h);
    }
}

/* A refused set_state keeps the states that were set before; a wrong-rank state is named by
 * its shape, not by a batch comparison. */
static void test_set_state_atomic(void)
{
    rig_t g;
    if (!rig_open(&g, ML_CELL_LSTM, 2, 1, 2, 3, 3, 4))
        return;
    ml_rng_t rng;
    ml_rng_seed(&rng, 31);
    rig_draw(&g, &rng, 0.5f);
    CHECK(ml_rnn_set_state(&g.r, &g.h0, &g.c0) == ML_OK);
    const ml_tensor_t *y;
    CHECK(ml_rnn_forward(&g.r, &g.x, NULL, &y) == ML_OK);
    float before = y->data[0];
    ml_tensor_t bad_c, bad_h;
    new3(&bad_c, 2, 2, 5);
    new2(&bad_h, 2, 4);
    CHECK_ERR(ml_rnn_set_state(&g.r, &g.c0, &bad_c), ML_ESHAPE, "c0 is (2,2,5)", "(2,B,4)");
    CHECK_ERR(ml_rnn_set_state(&g.r, &bad_h, &g.c0), ML_ESHAPE, "h0 is (2,4)", "(2,B,4)");
    CHECK(ml_rnn_forward(&g.r, &g.x, NULL, &y) == ML_OK);
    CHECK(y->data[0] == before); /* still the first h0 and c0 */
    ml_tensor_free(&bad_c);
    ml_tensor_free(&bad_h);
    rig_close(&g);
}

/* ---- variable lengths ---- */

/* Padded steps of x (t >= len[b]) set to v. */
static void fill_padding(rig_t *g, float v)
{
    for (int64_t b = 0; b < g->B; b++)
        for (int64_t t = g->len[b]; t < g->T; t++)
            for (int64_t d = 0; d < g->D; d++)
                g->x.data[(b * g->T + t) * g->D + d] = v;
}

/* One direction against the double reference, which runs each sequence for its own steps only:
 * outputs (zero on padded steps), the last step of each sequence, final states. Padding is
 * filled with large values that would show in any output they reached. */
static void test_lengths_reference(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 90);
    static const int64_t len[3] = {5, 1, 3};
    char what[96];
    for (int c = 0; c < NCELLS; c++)
        for (int L = 1; L <= 2; L++)
            for (int last_only = 0; last_only <= 1; last_only++) {
                rig_t g;
                if (rig_open(&g, cells[c], L, last_only, 3, 5, 3, 4)) {
                    rig_draw(&g, &rng, 0.5f);
                    rig_lengths(&g, len);
                    fill_padding(&g, 1e3f);
                    snprintf(what, sizeof what, "%s L=%d %s lengths 5,1,3", ml_cell_name(cells[c]),
                             L, last_only ? "last" : "seq");
                    check_against_reference(what, &g, 1, cells[c] == ML_CELL_LSTM, 1e-5, 1e-4);
                }
                rig_close(&g);
            }
}

/* Finite differences with lengths: every cell, one and two directions, both output modes,
 * stacked; R is non-zero on padded steps too (their outputs are constants, so their share of J
 * must not reach any gradient), and the padded inputs get numeric gradient 0, which the analytic
 * one must match. ReLU too, stacked bidirectional included (the kink-free draw runs the
 * one-direction reference once per layer and direction). */
static void test_lengths_gradcheck(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 91);
    static const int64_t len[3] = {4, 2, 1};
    const int configs[4][2] = {{1, 0}, {2, ML_RNN_LAST}, {2, ML_RNN_BIDIRECTIONAL},
                               {1, ML_RNN_BIDIRECTIONAL | ML_RNN_LAST}};
    char what[128];
    for (int c = 0; c < NCELLS; c++)
        for (int k = 0; k < 4; k++) {
            const int L = configs[k][0], flags = configs[k][1];
            rig_t g;
            if (rig_open(&g, cells[c], L, flags, 3, 4, 3, 4)) {
                rig_lengths(&g, len);
                if (cells[c] == ML_CELL_RNN_RELU)
                    draw_relu(&g, &rng);
                else
                    rig_draw(&g, &rng, 0.5f);
                snprintf(what, sizeof what, "%s L=%d%s %s lengths 4,2,1", ml_cell_name(cells[c]),
                         L, (flags & ML_RNN_BIDIRECTIONAL) ? " bidirectional" : "",
                         (flags & ML_RNN_LAST) ? "last" : "seq");
                gradcheck(what, &g);
            }
            rig_close(&g);
        }
}

/* A padded batch is the same computation as each sequence run alone for its own steps: outputs
 * (zero on padded steps, exactly), final states, input and initial-state gradients (zero on
 * padded steps, exactly) and the parameter gradients (the sum over sequences), for both
 * directions and both output modes. Rounding differs only in where GEMMs sum over other rows'
 * blocks: 1e-6 + 1e-5 |ref|. Then NaN in every padded input changes nothing, bit for bit. */
static void test_lengths_as_separate_sequences(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 92);
    static const int64_t len[3] = {5, 2, 4};
    const int64_t B = 3, T = 5, D = 3, H = 4;
    char what[128];
    const ml_cell_t some[3] = {ML_CELL_RNN_TANH, ML_CELL_GRU, ML_CELL_LSTM};
    for (int c = 0; c < 3; c++)
        for (int flags = 0; flags < 4; flags++) { /* LAST x BIDIRECTIONAL */
            rig_t g;
            if (!rig_open(&g, some[c], 2, flags, B, T, D, H)) {
                rig_close(&g);
                continue;
            }
            snprintf(what, sizeof what, "%s%s %s", ml_cell_name(some[c]),
                     (flags & ML_RNN_BIDIRECTIONAL) ? " bidirectional" : "",
                     (flags & ML_RNN_LAST) ? "last" : "seq");
            rig_draw(&g, &rng, 0.5f);
            rig_lengths(&g, len);
            const int64_t DH = g.dirs * H, S = g.S;
            const ml_tensor_t *y, *dx, *hn, *cn, *dh0, *dc0;
            CHECK(rig_forward(&g, &y) == ML_OK);
            CHECK(rig_backward(&g, 1, &dx) == ML_OK);
            ml_rnn_final_state(&g.r, &hn, &cn);
            ml_rnn_state_grad(&g.r, &dh0, &dc0);
            float *Y = fdup(y->data, ml_tensor_numel(y)), *DX = fdup(dx->data, B * T * D);
            float *HN = fdup(hn->data, S * B * H), *DH0 = fdup(dh0->data, S * B * H);
            float *CN = cn ? fdup(cn->data, S * B * H) : NULL;
            float *DC0 = dc0 ? fdup(dc0->data, S * B * H) : NULL;
            float *G = fdup(g.grads, g.np);
            double *gsum = calloc((size_t)g.np, sizeof *gsum);
            double e = 0;
            for (int64_t b = 0; b < B; b++) {
                const int64_t n = len[b];
                rig_t s;
                if (!rig_open(&s, some[c], 2, flags, 1, n, D, H)) {
                    rig_close(&s);
                    continue;
                }
                memcpy(s.params, g.params, (size_t)g.np * sizeof(float));
                memcpy(s.x.data, g.x.data + b * T * D, (size_t)(n * D) * sizeof(float));
                for (int64_t k = 0; k < S; k++) {
                    memcpy(s.h0.data + k * H, g.h0.data + (k * B + b) * H, (size_t)H * sizeof(float));
                    if (s.c0.data)
                        memcpy(s.c0.data + k * H, g.c0.data + (k * B + b) * H, (size_t)H * sizeof(float));
                }
                if (g.last_only)
                    memcpy(s.R.data, g.R.data + b * DH, (size_t)DH * sizeof(float));
                else
                    memcpy(s.R.data, g.R.data + b * T * DH, (size_t)(n * DH) * sizeof(float));
                const ml_tensor_t *sy, *sdx, *shn, *scn, *sdh0, *sdc0;
                CHECK(rig_forward(&s, &sy) == ML_OK && rig_backward(&s, 1, &sdx) == ML_OK);
                ml_rnn_final_state(&s.r, &shn, &scn);
                ml_rnn_state_grad(&s.r, &sdh0, &sdc0);
                for (int64_t i = 0; i < g.np; i++)
                    gsum[i] += s.grads[i];
                /* outputs and input gradients of the real steps; exact zeros after them */
                const int64_t steps = g.last_only ? 1 : n;
                const float *yb = Y + (g.last_only ? b * DH : b * T * DH);
                for (int64_t i = 0; i < steps * DH; i++)
                    e = fmax(e, fabs(yb[i] - sy->data[i]) / (1e-6 + 1e-5 * fabs(sy->data[i])));
                int zeros = 1;
                for (int64_t i = n * DH; !g.last_only && i < T * DH; i++)
                    zeros &= yb[i] == 0.0f;
                for (int64_t i = 0; i < n * D; i++)
                    e = fmax(e, fabs(DX[b * T * D + i] - sdx->data[i]) /
                                    (1e-6 + 1e-5 * fabs(sdx->data[i])));
                for (int64_t i = n * D; i < T * D; i++)
                    zeros &= DX[b * T * D + i] == 0.0f;
                CHECK_MSG(zeros, "%s: sequence %lld: padded outputs or input gradients not zero",
                          what, (long long)b + 1);
                for (int64_t k = 0; k < S; k++)
                    for (int64_t j = 0; j < H; j++) {
                        const int64_t at = (k * B + b) * H + j, one = k * H + j;
                        e = fmax(e, fabs(HN[at] - shn->data[one]) / (1e-6 + 1e-5 * fabs(shn->data[one])));
                        e = fmax(e, fabs(DH0[at] - sdh0->data[one]) / (1e-6 + 1e-5 * fabs(sdh0->data[one])));
                        if (CN) {
                            e = fmax(e, fabs(CN[at] - scn->data[one]) / (1e-6 + 1e-5 * fabs(scn->data[one])));
                            e = fmax(e, fabs(DC0[at] - sdc0->data[one]) / (1e-6 + 1e-5 * fabs(sdc0->data[one])));
                        }
                    }
                rig_close(&s);
            }
            for (int64_t i = 0; i < g.np; i++)
                e = fmax(e, fabs(G[i] - gsum[i]) / (1e-6 + 1e-5 * fabs(gsum[i])));
            CHECK_MSG(e <= 1.0, "%s: padded batch off the separate sequences by %.3g tolerances",
                      what, e);

            /* NaN on every padded input step: nothing changes */
            fill_padding(&g, NAN);
            CHECK(rig_forward(&g, &y) == ML_OK);
            CHECK(rig_backward(&g, 1, &dx) == ML_OK);
            ml_rnn_final_state(&g.r, &hn, &cn);
            CHECK_MSG(memcmp(Y, y->data, (size_t)ml_tensor_numel(y) * sizeof(float)) == 0 &&
                          memcmp(HN, hn->data, (size_t)(S * B * H) * sizeof(float)) == 0 &&
                          memcmp(G, g.grads, (size_t)g.np * sizeof(float)) == 0 &&
                          memcmp(DX, dx->data, (size_t)(B * T * D) * sizeof(float)) == 0,
                      "%s: NaN padding changed an output or a gradient", what);
            free(Y);
            free(DX);
            free(HN);
            free(DH0);
            free(CN);
            free(DC0);
            free(G);
            free(gsum);
            rig_close(&g);
        }
}

/* ---- learnable initial states ---- */

/* Finite differences of J over the learnable states (rig_draw draws them non-zero with the
 * other parameters), which every sequence of the batch starts from. With explicit states set
 * instead, the forward uses those and the learnable states get zero gradient; explicit states
 * equal to the learned ones broadcast over the batch give the same outputs, bit for bit. */
static void test_learned_state(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 93);
    char what[96];
    for (int c = 0; c < NCELLS; c++) {
        const int flags = ML_RNN_LEARN_STATE | (c % 2 ? 0 : ML_RNN_BIDIRECTIONAL);
        if (cells[c] == ML_CELL_RNN_RELU) /* the state path does not depend on the cell */
            continue;
        rig_t g;
        if (!rig_open(&g, cells[c], 2, flags, 3, 4, 3, 4)) {
            rig_close(&g);
            continue;
        }
        const int64_t S = g.S, B = g.B, H = g.H;
        CHECK(g.np == ml_rnn_nparams(cells[c], 3, 4, 2, flags & ~ML_RNN_LEARN_STATE) +
                          (cells[c] == ML_CELL_LSTM ? 2 : 1) * S * H);
        CHECK(g.r.h0p == g.params + g.np - (cells[c] == ML_CELL_LSTM ? 2 : 1) * S * H);
        CHECK((g.r.c0p != NULL) == (cells[c] == ML_CELL_LSTM));
        rig_draw(&g, &rng, 0.5f);
        g.zero_state = 1;
        snprintf(what, sizeof what, "%s L=2%s learned initial state", ml_cell_name(cells[c]),
                 g.dirs == 2 ? " bidirectional" : "");
        gradcheck(what, &g);
        const ml_tensor_t *y;
        CHECK(rig_forward(&g, &y) == ML_OK);
        float *want = fdup(y->data, ml_tensor_numel(y));
        for (int64_t k = 0; k < S; k++)
            for (int64_t b = 0; b < B; b++) {
                memcpy(g.h0.data + (k * B + b) * H, g.r.h0p + k * H, (size_t)H * sizeof(float));
                if (g.c0.data)
                    memcpy(g.c0.data + (k * B + b) * H, g.r.c0p + k * H, (size_t)H * sizeof(float));
            }
        g.zero_state = 0;
        CHECK(rig_forward(&g, &y) == ML_OK);
        CHECK_MSG(memcmp(want, y->data, (size_t)ml_tensor_numel(y) * sizeof(float)) == 0,
                  "%s: explicit states equal to the learned ones give other outputs", what);
        for (int64_t i = 0; i < g.np; i++)
            g.grads[i] = 1.0f;
        CHECK(rig_backward(&g, 1, NULL) == ML_OK);
        int zero = 1;
        for (int64_t i = 0; i < S * H; i++)
            zero &= g.r.dh0p[i] == 0.0f && (!g.r.dc0p || g.r.dc0p[i] == 0.0f);
        CHECK_MSG(zero, "%s: learned states got gradient from a forward that did not use them", what);
        free(want);
        rig_close(&g);
    }
}

/* ---- gradients into the final states ---- */

/* J = sum(y R) + sum(h_n Rh) + sum(c_n Rc): ml_rnn_backward_states against finite differences,
 * with lengths (the final states are then the states of each sequence's own last step, and
 * their gradient must pass through the padded steps unchanged), every cell, one and two
 * directions. */
static void test_final_state_gradients(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 94);
    static const int64_t len[3] = {4, 1, 3};
    char what[96];
    for (int c = 0; c < NCELLS; c++)
        for (int bi = 0; bi <= 1; bi++) {
            rig_t g;
            if (rig_open(&g, cells[c], 2, bi ? ML_RNN_BIDIRECTIONAL | ML_RNN_LAST : 0, 3, 4, 3, 4)) {
                rig_lengths(&g, len);
                if (cells[c] == ML_CELL_RNN_RELU)
                    draw_relu(&g, &rng);
                else
                    rig_draw(&g, &rng, 0.5f);
                g.final = 1;
                snprintf(what, sizeof what, "%s L=2%s final-state gradients",
                         ml_cell_name(cells[c]), bi ? " bidirectional" : "");
                gradcheck(what, &g);
            }
            rig_close(&g);
        }
    /* the final-state gradients must have the final states' shape; c only for LSTM */
    rig_t g;
    if (rig_open(&g, ML_CELL_GRU, 2, 0, 3, 4, 3, 4)) {
        const ml_tensor_t *y;
        CHECK(rig_forward(&g, &y) == ML_OK);
        ml_tensor_t bad;
        new3(&bad, 2, 2, 4);
        CHECK_ERR(ml_rnn_backward_states(&g.r, &g.R, &bad, NULL, 1, NULL), ML_ESHAPE, "gru",
                  "final hidden state gradient", "(2,2,4)", "(2,3,4)");
        CHECK_ERR(ml_rnn_backward_states(&g.r, &g.R, &g.Rh, &g.Rh, 1, NULL), ML_EARG,
                  "cell state");
        ml_tensor_free(&bad);
    }
    rig_close(&g);
}

/* ---- truncated backpropagation through time ---- */

/* Carry mode over two consecutive windows x1, x2 of a stream, every cell. (1) Window 2's outputs
 * are the second half of one forward over [x1 x2] (the state crossed the boundary). (2) Window
 * 2's gradients are the truncated ones: the parameter, input and initial-state gradients (the
 * last with respect to the carried states window 2 starts from) match finite differences of
 * J2 = sum(y2 R) with window 2's initial states held at window 1's final states (a constant:
 * the gradient stops at the boundary) -- and differ from the full gradient of the same J2
 * through both windows, which finite differences of the joined forward give (checked on the
 * inputs of window 1: exactly zero truncated, clearly not zero in full). (3) reset_state starts
 * again from zeros. ReLU draws the joined stream clear of the kink (from zero states, as window
 * 1 starts), which covers window 2 too, and its perturbations are checked for crossings. */
static void test_truncated_bptt(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 95);
    const int64_t B = 2, k = 3, D = 3, H = 4;
    char what[96];
    for (int c = 0; c < NCELLS; c++) {
        rig_t w, full; /* w: one window; full: both windows joined (T = 2k) */
        if (!rig_open(&w, cells[c], 2, 0, B, k, D, H) || !rig_open(&full, cells[c], 2, 0, B, 2 * k, D, H)) {
            rig_close(&w);
            rig_close(&full);
            continue;
        }
        snprintf(what, sizeof what, "%s L=2 truncated", ml_cell_name(cells[c]));
        full.zero_state = w.zero_state = 1;
        if (cells[c] == ML_CELL_RNN_RELU)
            draw_relu(&full, &rng);
        else
            rig_draw(&full, &rng, 0.5f);
        memcpy(w.params, full.params, (size_t)w.np * sizeof(float));
        /* R on window 2 only */
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < k; t++)
                for (int64_t j = 0; j < H; j++) {
                    float v = full.R.data[(b * 2 * k + k + t) * H + j];
                    full.R.data[(b * 2 * k + t) * H + j] = 0.0f;
                    w.R.data[(b * k + t) * H + j] = v;
                }
        ml_tensor_t x1, x2;
        new3(&x1, B, k, D);
        new3(&x2, B, k, D);
        for (int64_t b = 0; b < B; b++) {
            memcpy(x1.data + b * k * D, full.x.data + b * 2 * k * D, (size_t)(k * D) * sizeof(float));
            memcpy(x2.data + b * k * D, full.x.data + (b * 2 * k + k) * D, (size_t)(k * D) * sizeof(float));
        }
        const ml_tensor_t *y, *yf, *dx, *hn, *cn, *dh, *dc;
        ml_rnn_set_carry(&w.r, 1);
        ml_rnn_reset_state(&w.r);
        CHECK(ml_rnn_forward(&w.r, &x1, NULL, &y) == ML_OK);
        float *y1 = fdup(y->data, B * k * H);
        ml_rnn_final_state(&w.r, &hn, &cn);
        ml_tensor_t h1, c1; /* window 1's final states */
        new3(&h1, 2, B, H);
        CHECK(ml_tensor_copy(&h1, hn) == ML_OK);
        if (cn) {
            new3(&c1, 2, B, H);
            CHECK(ml_tensor_copy(&c1, cn) == ML_OK);
        }
        CHECK(ml_rnn_forward(&w.r, &x2, NULL, &y) == ML_OK);
        CHECK(ml_rnn_forward(&full.r, &full.x, NULL, &yf) == ML_OK);
        double e = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < k * H; i++) {
                double want = yf->data[b * 2 * k * H + k * H + i];
                e = fmax(e, fabs(y->data[b * k * H + i] - want) / (1e-6 + 1e-5 * fabs(want)));
            }
        CHECK_MSG(e <= 1.0, "%s: window 2 off the joined forward by %.3g tolerances", what, e);
        CHECK(ml_rnn_backward(&w.r, &w.R, 1, &dx) == ML_OK);
        float *ag = fdup(w.grads, w.np), *ax = fdup(dx->data, B * k * D);
        ml_rnn_state_grad(&w.r, &dh, &dc); /* with respect to the carried h1 (c1) */
        CHECK(dh && (dc != NULL) == (cn != NULL));
        float *ah = fdup(dh->data, 2 * B * H), *ac = dc ? fdup(dc->data, 2 * B * H) : NULL;
        /* finite differences of J2 with window 2 starting from h1 (c1), held fixed */
        ml_rnn_set_carry(&w.r, 0);
        CHECK(ml_tensor_copy(&w.x, &x2) == ML_OK);
        CHECK(ml_tensor_copy(&w.h0, &h1) == ML_OK);
        if (cn)
            CHECK(ml_tensor_copy(&w.c0, &c1) == ML_OK);
        w.zero_state = 0;
        if (cells[c] == ML_CELL_RNN_RELU) { /* the unperturbed on/off pattern of window 2 */
            objective(&w);
            w.mask = malloc((size_t)(w.S * w.T * w.B * w.H));
            relu_pattern(&w, w.mask);
            w.flips = 0;
        }
        char label[128];
        snprintf(label, sizeof label, "%s dparams", what);
        gc_check_array(label, w.params, ag, w.np, EPS, ATOL, RTOL, objective, &w);
        snprintf(label, sizeof label, "%s dx2", what);
        gc_check_array(label, w.x.data, ax, B * k * D, EPS, ATOL, RTOL, objective, &w);
        snprintf(label, sizeof label, "%s dh1 (carried)", what);
        gc_check_array(label, w.h0.data, ah, 2 * B * H, EPS, ATOL, RTOL, objective, &w);
        if (ac) {
            snprintf(label, sizeof label, "%s dc1 (carried)", what);
            gc_check_array(label, w.c0.data, ac, 2 * B * H, EPS, ATOL, RTOL, objective, &w);
        }
        if (w.mask) {
            CHECK_MSG(w.flips == 0, "%s: %ld perturbations moved a ReLU unit across its kink",
                      what, w.flips);
            free(w.mask);
            w.mask = NULL;
        }
        /* the full gradient of J2 reaches window 1's inputs; the truncated one does not */
        double reach = 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < k * D; i++)
                reach = fmax(reach, fabs(gc_central_diff(full.x.data + b * 2 * k * D + i, EPS,
                                                         objective, &full)));
        CHECK_MSG(reach > 1e-2, "%s: window 1 does not affect J2 (max |dJ2/dx1| %.3g): the test "
                  "would not tell truncation from full BPTT", what, reach);
        /* reset: window 1 again from zeros gives the first outputs, bit for bit */
        ml_rnn_set_carry(&w.r, 1);
        CHECK(ml_rnn_forward(&w.r, &x1, NULL, &y) == ML_OK); /* from the carried state */
        CHECK(memcmp(y1, y->data, (size_t)(B * k * H) * sizeof(float)) != 0);
        ml_rnn_reset_state(&w.r);
        CHECK(ml_rnn_forward(&w.r, &x1, NULL, &y) == ML_OK);
        CHECK_MSG(memcmp(y1, y->data, (size_t)(B * k * H) * sizeof(float)) == 0,
                  "%s: reset_state does not start from zeros", what);
        /* a carried state is for its batch size */
        ml_tensor_t x3;
        new3(&x3, B + 1, k, D);
        CHECK_ERR(ml_rnn_forward(&w.r, &x3, NULL, &y), ML_ESHAPE, "batch of 2", "input has 3",
                  "carried");
        ml_tensor_free(&x3);
        free(y1);
        free(ag);
        free(ax);
        free(ah);
        free(ac);
        ml_tensor_free(&x1);
        ml_tensor_free(&x2);
        ml_tensor_free(&h1);
        if (cn)
            ml_tensor_free(&c1);
        rig_close(&w);
        rig_close(&full);
    }
}

/* ---- ids input ---- */

typedef struct {
    rig_t *g;
    const ml_tensor_t *tok; /* (B,T) ids */
    const int64_t *len;
} ids_objective_t;

static double ids_objective(void *p)
{
    ids_objective_t *o = p;
    rig_t *g = o->g;
    const ml_tensor_t *y;
    if (ml_rnn_set_state(&g->r, &g->h0, g->c0.data ? &g->c0 : NULL) != ML_OK ||
        ml_rnn_forward(&g->r, o->tok, o->len, &y) != ML_OK)
        return NAN;
    double J = 0;
    for (int64_t i = 0; i < ml_tensor_numel(y); i++)
        J += (double)y->data[i] * g->R.data[i];
    return J;
}

/* ML_RNN_IDS against the same stack fed the one-hot vectors: outputs and final states bit for
 * bit (a one-hot row times W_ihᵀ is the column exactly), gradients to 1e-6 + 1e-5 |ref| (the
 * scatter into dW_ih sums rows in another order than the GEMM), with lengths and both
 * directions; then finite differences of every parameter through the ids path. */
static void test_ids_input(void)
{
    ml_rng_t rng;
    ml_rng_seed(&rng, 96);
    static const int64_t len[3] = {4, 2, 3};
    const int64_t B = 3, T = 4, V = 5, H = 4;
    const ml_cell_t some[2] = {ML_CELL_GRU, ML_CELL_LSTM};
    char what[96];
    for (int c = 0; c < 2; c++)
        for (int bi = 0; bi <= 1; bi++) {
            const int flags = bi ? ML_RNN_BIDIRECTIONAL : ML_RNN_LAST;
            rig_t dense, ids;
            if (!rig_open(&dense, some[c], 2, flags, B, T, V, H) ||
                !rig_open(&ids, some[c], 2, flags | ML_RNN_IDS, B, T, V, H)) {
                rig_close(&dense);
                rig_close(&ids);
                continue;
            }
            snprintf(what, sizeof what, "%s L=2%s ids", ml_cell_name(some[c]), bi ? " bidirectional" : "");
            CHECK(ids.np == dense.np);
            rig_draw(&dense, &rng, 0.5f);
            rig_lengths(&dense, len);
            memcpy(ids.params, dense.params, (size_t)dense.np * sizeof(float));
            memcpy(ids.R.data, dense.R.data, (size_t)ml_tensor_numel(&dense.R) * sizeof(float));
            memcpy(ids.h0.data, dense.h0.data, (size_t)ml_tensor_numel(&dense.h0) * sizeof(float));
            if (dense.c0.data)
                memcpy(ids.c0.data, dense.c0.data, (size_t)ml_tensor_numel(&dense.c0) * sizeof(float));
            ml_tensor_t tok;
            new2(&tok, B, T);
            memset(dense.x.data, 0, (size_t)(B * T * V) * sizeof(float));
            for (int64_t b = 0; b < B; b++)
                for (int64_t t = 0; t < T; t++) {
                    int64_t id = (int64_t)(ml_rng_float(&rng) * (float)V) % V;
                    tok.data[b * T + t] = t < len[b] ? (float)id : -7.0f; /* padding: never read */
                    if (t < len[b])
                        dense.x.data[(b * T + t) * V + id] = 1.0f;
                }
            const ml_tensor_t *yd, *yi, *dxd, *dxi, *hd, *hi, *cd, *ci;
            CHECK(rig_forward(&dense, &yd) == ML_OK && rig_backward(&dense, 1, &dxd) == ML_OK);
            CHECK(ml_rnn_set_state(&ids.r, &ids.h0, ids.c0.data ? &ids.c0 : NULL) == ML_OK);
            int rc = ml_rnn_forward(&ids.r, &tok, len, &yi);
            CHECK_MSG(rc == ML_OK, "%s: %s", what, ml_errmsg());
            if (rc == ML_OK) {
                CHECK(ml_rnn_backward(&ids.r, &ids.R, 1, &dxi) == ML_OK);
                ml_rnn_final_state(&dense.r, &hd, &cd);
                ml_rnn_final_state(&ids.r, &hi, &ci);
                CHECK_MSG(memcmp(yd->data, yi->data, (size_t)ml_tensor_numel(yd) * sizeof(float)) == 0 &&
                              memcmp(hd->data, hi->data, (size_t)ml_tensor_numel(hd) * sizeof(float)) == 0,
                          "%s: outputs or final states differ from the one-hot input's", what);
                double e = 0;
                for (int64_t i = 0; i < dense.np; i++)
                    e = fmax(e, fabs(ids.grads[i] - dense.grads[i]) / (1e-6 + 1e-5 * fabs(dense.grads[i])));
                CHECK_MSG(e <= 1.0, "%s: gradients off the one-hot input's by %.3g tolerances", what, e);
                CHECK(dxi->ndim == 2 && dxi->shape[0] == B && dxi->shape[1] == T);
                int zero = 1;
                for (int64_t i = 0; i < B * T; i++)
                    zero &= dxi->data[i] == 0.0f;
                CHECK_MSG(zero, "%s: ids got a gradient", what);
            }
            /* finite differences of the parameters through the gather and scatter */
            float *ag = fdup(ids.grads, ids.np);
            ids_objective_t o = {&ids, &tok, len};
            char label[128];
            snprintf(label, sizeof label, "%s dparams", what);
            gc_check_array(label, ids.params, ag, ids.np, EPS, ATOL, RTOL, ids_objective, &o);
            free(ag);
            /* ids out of range or not integers, on real steps only */
            tok.data[1 * T + 1] = 5.0f;
            CHECK_ERR(ml_rnn_forward(&ids.r, &tok, len, &yi), ML_EARG, ml_cell_name(some[c]),
                      "id 5 at (2,2)", "0..4");
            tok.data[1 * T + 1] = 0.5f;
            CHECK_ERR(ml_rnn_forward(&ids.r, &tok, len, &yi), ML_EARG, "id 0.5 at (2,2)");
            ml_tensor_t bad;
            new3(&bad, B, T, V);
            CHECK_ERR(ml_rnn_forward(&ids.r, &bad, NULL, &yi), ML_ESHAPE, "(3,4,5)", "ids (B,T)");
            ml_tensor_free(&bad);
            ml_tensor_free(&tok);
            rig_close(&dense);
            rig_close(&ids);
        }
}

/* ---- errors of the new arguments ---- */

static void test_length_errors(void)
{
    rig_t g;
    if (!rig_open(&g, ML_CELL_LSTM, 2, 0, 3, 5, 3, 4)) {
        rig_close(&g);
        return;
    }
    const ml_tensor_t *y, *dx;
    static const int64_t zero[3] = {5, 0, 2}, over[3] = {5, 6, 2}, ok[3] = {5, 5, 2};
    CHECK_ERR(ml_rnn_forward(&g.r, &g.x, zero, &y), ML_EARG, "lstm", "length 0 of sequence 2",
              "1..5", "(3,5,3)");
    CHECK_ERR(ml_rnn_forward(&g.r, &g.x, over, &y), ML_EARG, "length 6 of sequence 2", "1..5");
    /* a refused forward leaves nothing to go back through, and the next one works */
    CHECK_ERR(ml_rnn_backward(&g.r, &g.R, 0, &dx), ML_ESTATE, "forward");
    CHECK(ml_rnn_forward(&g.r, &g.x, ok, &y) == ML_OK);
    CHECK(ml_rnn_backward(&g.r, &g.R, 0, &dx) == ML_OK);
    rig_close(&g);
}

int main(void)
{
    test_set_state_atomic();
    test_layout();
    test_reference_forward();
    test_strided_input();
    test_final_states();
    test_gradcheck();
    test_backward_contract();
    test_blis_sized();
    test_errors();
    test_lengths_reference();
    test_lengths_gradcheck();
    test_lengths_as_separate_sequences();
    test_learned_state();
    test_final_state_gradients();
    test_truncated_bptt();
    test_ids_input();
    test_length_errors();
    return check_report("test_rnn");
}
