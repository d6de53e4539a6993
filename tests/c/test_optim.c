/* Optimizers against hand-unrolled reference updates written here in double (3 steps on a
 * few parameters, a different gradient each step), PyTorch's conventions (momentum buffer
 * seeded with the first gradient, Nesterov, coupled vs decoupled decay), the decay mask, the
 * state error, gradient clipping and the learning-rate schedules.
 *
 * The engine updates in float32; three steps of a handful of float operations stay within a
 * few ulps of the double reference, so we compare to 1e-6 relative (+1e-7 absolute). A wrong
 * convention (e.g. dampening, bias correction missing, decay applied to a masked element)
 * changes the result by orders of magnitude more. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/optim.h"

#define NP 4
#define STEPS 3

static const float P0[NP] = {0.5f, -1.25f, 2.0f, 0.1f};
static const float G[STEPS][NP] = {
    {0.3f, -0.2f, 0.05f, 1.0f},
    {-0.1f, 0.4f, 0.25f, -0.5f},
    {0.2f, 0.1f, -0.3f, 0.7f},
};
static const float MASK[NP] = {1, 0, 1, 0}; /* weights and biases alternate */

typedef struct {
    ml_optim_kind_t kind;
    double lr, mu, wd, b1, b2, eps;
    int nesterov, masked;
} cfg_t;

/* The reference: each update written out as in the PyTorch documentation's pseudo-code. */
static void reference(const cfg_t *c, double p[NP])
{
    double buf[NP] = {0}, m[NP] = {0}, v[NP] = {0};
    for (int i = 0; i < NP; i++)
        p[i] = P0[i];
    for (int t = 1; t <= STEPS; t++)
        for (int i = 0; i < NP; i++) {
            double g = G[t - 1][i];
            double wd = c->wd * (c->masked ? MASK[i] : 1.0);
            if (c->kind == ML_OPT_SGD) {
                g += wd * p[i];
                if (c->mu != 0) {
                    buf[i] = t == 1 ? g : c->mu * buf[i] + g;
                    g = c->nesterov ? g + c->mu * buf[i] : buf[i];
                }
                p[i] -= c->lr * g;
            } else {
                if (c->kind == ML_OPT_ADAMW)
                    p[i] *= 1.0 - c->lr * wd;
                else
                    g += wd * p[i];
                m[i] = c->b1 * m[i] + (1 - c->b1) * g;
                v[i] = c->b2 * v[i] + (1 - c->b2) * g * g;
                double mhat = m[i] / (1 - pow(c->b1, t)), vhat = v[i] / (1 - pow(c->b2, t));
                p[i] -= c->lr * mhat / (sqrt(vhat) + c->eps);
            }
        }
}

static void run_case(const char *what, const cfg_t *c)
{
    ml_optim_t o;
    ml_optim_defaults(&o, c->kind);
    o.lr = (float)c->lr;
    o.momentum = (float)c->mu;
    o.nesterov = c->nesterov;
    o.weight_decay = (float)c->wd;
    o.beta1 = (float)c->b1;
    o.beta2 = (float)c->b2;
    o.eps = (float)c->eps;
    float p[NP];
    memcpy(p, P0, sizeof p);
    for (int t = 0; t < STEPS; t++) {
        int rc = ml_optim_step(&o, p, G[t], c->masked ? MASK : NULL, NP);
        CHECK_MSG(rc == ML_OK, "%s step %d: %s", what, t + 1, ml_errmsg());
    }
    CHECK(o.t == STEPS && o.n == NP);
    double want[NP];
    reference(c, want);
    for (int i = 0; i < NP; i++)
        CHECK_MSG(fabs(p[i] - want[i]) <= 1e-7 + 1e-6 * fabs(want[i]),
                  "%s: p[%d] = %.9g, want %.9g", what, i, p[i], want[i]);
    ml_optim_free(&o);
}

static void test_updates(void)
{
    const cfg_t cases[] = {
        {ML_OPT_SGD, 0.1, 0, 0, 0, 0, 0, 0, 0},
        {ML_OPT_SGD, 0.1, 0.9, 0, 0, 0, 0, 0, 0},
        {ML_OPT_SGD, 0.1, 0.9, 0, 0, 0, 0, 1, 0},
        {ML_OPT_SGD, 0.1, 0, 0.05, 0, 0, 0, 0, 0},
        {ML_OPT_SGD, 0.1, 0.9, 0.05, 0, 0, 0, 1, 1},
        {ML_OPT_SGD, 0.1, 0.5, 0.2, 0, 0, 0, 0, 1},
        {ML_OPT_ADAM, 0.1, 0, 0, 0.9, 0.999, 1e-8, 0, 0},
        {ML_OPT_ADAM, 0.05, 0, 0.1, 0.8, 0.99, 1e-3, 0, 1},
        {ML_OPT_ADAMW, 0.1, 0, 0.1, 0.9, 0.999, 1e-8, 0, 0},
        {ML_OPT_ADAMW, 0.1, 0, 0.3, 0.9, 0.999, 1e-8, 0, 1},
    };
    const char *names[] = {"sgd",
                           "sgd momentum",
                           "sgd nesterov",
                           "sgd decay",
                           "sgd nesterov decay masked",
                           "sgd momentum decay masked",
                           "adam",
                           "adam decay masked",
                           "adamw",
                           "adamw masked"};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        run_case(names[k], &cases[k]);
}

/* Conventions stated directly, one step each, so a failure says which one broke. */
static void test_conventions(void)
{
    ml_optim_t o;
    float p[NP];

    /* Momentum: the first step uses the gradient itself (buffer = g, no (1-mu) damping). */
    ml_optim_defaults(&o, ML_OPT_SGD);
    o.lr = 0.5f;
    o.momentum = 0.9f;
    memcpy(p, P0, sizeof p);
    CHECK(ml_optim_step(&o, p, G[0], NULL, NP) == ML_OK);
    int ok = 1;
    for (int i = 0; i < NP; i++) {
        ok &= o.m[i] == G[0][i];
        ok &= p[i] == P0[i] - 0.5f * G[0][i];
    }
    CHECK_MSG(ok, "first momentum step is not p -= lr * g with buffer = g");
    ml_optim_free(&o);

    /* AdamW decays the parameter itself: with a zero gradient the Adam part is 0/(0+eps) = 0
     * and p becomes p * (1 - lr * wd) exactly where the mask allows it. Adam's coupled decay
     * instead feeds wd*p through the normalised step, moving p by about lr. */
    const float zero[NP] = {0};
    ml_optim_defaults(&o, ML_OPT_ADAMW);
    o.lr = 0.1f;
    o.weight_decay = 0.5f;
    memcpy(p, P0, sizeof p);
    CHECK(ml_optim_step(&o, p, zero, MASK, NP) == ML_OK);
    ok = 1;
    for (int i = 0; i < NP; i++) {
        double want = MASK[i] ? P0[i] * (1.0 - 0.1 * 0.5) : P0[i];
        ok &= fabs(p[i] - want) <= 1e-6 * fabs(want);
    }
    CHECK_MSG(ok, "AdamW decay is not decoupled p *= 1 - lr*wd (masked)");
    ml_optim_free(&o);

    ml_optim_defaults(&o, ML_OPT_ADAM);
    o.lr = 0.1f;
    o.weight_decay = 0.5f;
    memcpy(p, P0, sizeof p);
    CHECK(ml_optim_step(&o, p, zero, NULL, NP) == ML_OK);
    ok = 1;
    for (int i = 0; i < NP; i++) /* first Adam step moves every element by lr * sign */
        ok &= fabs(fabs((double)p[i] - P0[i]) - 0.1) <= 1e-5;
    CHECK_MSG(ok, "Adam's coupled decay is not g += wd*p");
    ml_optim_free(&o);

    /* Defaults. */
    ml_optim_defaults(&o, ML_OPT_SGD);
    CHECK(o.kind == ML_OPT_SGD && o.lr == 0.01f && o.weight_decay == 0.0f && o.momentum == 0.0f);
    CHECK(o.t == 0 && o.n == 0 && o.m == NULL && o.v == NULL);
    ml_optim_defaults(&o, ML_OPT_ADAM);
    CHECK(o.lr == 0.001f && o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f);
    CHECK(o.weight_decay == 0.0f);
    ml_optim_defaults(&o, ML_OPT_ADAMW);
    CHECK(o.lr == 0.001f && o.weight_decay == 0.01f);
}

static void test_state_errors(void)
{
    ml_optim_t o;
    float p[8] = {0}, g[8] = {0};
    ml_optim_defaults(&o, ML_OPT_ADAM);
    CHECK(ml_optim_step(&o, p, g, NULL, 4) == ML_OK);
    CHECK_ERR(ml_optim_step(&o, p, g, NULL, 8), ML_ESTATE, "4", "8");
    CHECK_ERR(ml_optim_step(&o, p, g, NULL, 3), ML_ESTATE, "4", "3");
    CHECK(o.t == 1); /* a refused step is not counted */
    CHECK(ml_optim_step(&o, p, g, NULL, 4) == ML_OK);
    CHECK(o.t == 2);
    ml_optim_free(&o);
    CHECK(o.m == NULL && o.v == NULL);
    ml_optim_free(&o); /* idempotent */

    ml_optim_defaults(&o, ML_OPT_SGD);
    o.momentum = 0.9f;
    CHECK(ml_optim_step(&o, p, g, NULL, 8) == ML_OK);
    CHECK_ERR(ml_optim_step(&o, p, g, NULL, 2), ML_ESTATE, "8", "2");
    ml_optim_free(&o);
}

static void test_clip(void)
{
    float g[3] = {3.0f, 0.0f, -4.0f};
    double norm = ml_clip_grad_norm(g, 3, 10.0);
    CHECK(norm == 5.0);
    CHECK(g[0] == 3.0f && g[1] == 0.0f && g[2] == -4.0f); /* below: untouched */

    norm = ml_clip_grad_norm(g, 3, 1.0);
    CHECK(norm == 5.0); /* the norm before clipping */
    double after = sqrt((double)g[0] * g[0] + (double)g[1] * g[1] + (double)g[2] * g[2]);
    CHECK_CLOSE(after, 1.0, 0, 1e-5);
    CHECK_CLOSE(g[0] / g[2], -0.75, 0, 1e-6); /* direction kept */
    CHECK(ml_clip_grad_norm(g, 3, 1.0) <= 1.0 + 1e-6);

    /* Many elements: the norm is accumulated in double. */
    static float many[100000];
    for (int i = 0; i < 100000; i++)
        many[i] = 0.01f;
    norm = ml_clip_grad_norm(many, 100000, 0.5);
    CHECK_CLOSE(norm, sqrt(100000.0) * 0.01f, 0, 1e-7);
    CHECK_CLOSE(many[0], 0.5 / sqrt(100000.0), 0, 1e-5);
}

static void test_schedules(void)
{
    ml_schedule_t s;
    memset(&s, 0, sizeof s);
    s.kind = ML_SCHED_CONSTANT;
    s.base_lr = 0.1f;
    CHECK(ml_schedule_lr(&s, 0) == 0.1f && ml_schedule_lr(&s, 1000) == 0.1f);

    s.kind = ML_SCHED_STEP;
    s.step_size = 3;
    s.gamma = 0.5f;
    static const int64_t ep[] = {0, 2, 3, 5, 6, 9, 30};
    static const double step_want[] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.0125, 0.1 / 1024};
    for (int k = 0; k < 7; k++)
        CHECK_CLOSE(ml_schedule_lr(&s, ep[k]), step_want[k], 0, 1e-6);

    s.kind = ML_SCHED_COSINE;
    s.t_max = 10;
    s.min_lr = 0.001f;
    for (int64_t e = 0; e <= 10; e++) {
        double want = 0.001 + (0.1 - 0.001) * 0.5 * (1 + cos(M_PI * (double)e / 10));
        CHECK_CLOSE(ml_schedule_lr(&s, e), want, 1e-8, 1e-5);
    }
    CHECK_CLOSE(ml_schedule_lr(&s, 0), 0.1, 0, 1e-6);
    CHECK_CLOSE(ml_schedule_lr(&s, 5), 0.0505, 0, 1e-5);
    CHECK_CLOSE(ml_schedule_lr(&s, 10), 0.001, 0, 1e-5);
    /* Decreasing over the whole range. */
    int mono = 1;
    for (int64_t e = 1; e <= 10; e++)
        mono &= ml_schedule_lr(&s, e) < ml_schedule_lr(&s, e - 1);
    CHECK(mono);
}

static void test_names(void)
{
    static const char *const names[ML_OPT_NKINDS] = {"sgd", "adam", "adamw"};
    for (int k = 0; k < ML_OPT_NKINDS; k++) {
        CHECK(strcmp(ml_optim_name((ml_optim_kind_t)k), names[k]) == 0);
        CHECK(ml_optim_kind_from_name(names[k]) == k);
    }
    CHECK(ml_optim_kind_from_name("rmsprop") == -1);
}

int main(void)
{
    test_updates();
    test_conventions();
    test_state_errors();
    test_clip();
    test_schedules();
    test_names();
    return check_report("test_optim");
}
