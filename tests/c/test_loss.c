/* Losses: values against direct double-precision formulas, dpred against finite differences,
 * for every kind and reduction with and without per-sample weights; the 1/2 convention of
 * MSE, cross-entropy stability at extreme logits, the `correct` count, and the errors.
 *
 * Tolerances. The engine computes the loss in double from float inputs, so values are
 * compared to 1e-9 relative. dpred is stored as float (relative rounding 6e-8); the loss is a
 * smooth double function of the float predictions, so central differences with eps = 1e-3
 * have truncation error eps^2/6 * |f'''| ~ 2e-7 and negligible rounding noise (1e-16/eps):
 * we accept |numeric - analytic| <= 1e-6 + 1e-4 * |numeric|. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/loss.h"
#include "moonlab/rng.h"

#define B 5
#define C 4



/* Direct formulas, in double, per sample. */
static double ref_sample(ml_loss_kind_t kind, const float *p, const ml_tensor_t *target, int i)
{
    double l = 0;
    if (kind == ML_LOSS_MSE) {
        for (int j = 0; j < C; j++) {
            double d = (double)p[j] - target->data[i * C + j];
            l += 0.5 * d * d;
        }
    } else if (kind == ML_LOSS_CROSS_ENTROPY) {
        int cls = (int)target->data[i];
        double s = 0;
        for (int j = 0; j < C; j++)
            s += exp((double)p[j]);
        l = -((double)p[cls] - log(s)); /* logits are moderate here: no shift needed */
    } else {
        for (int j = 0; j < C; j++) {
            double sig = 1.0 / (1.0 + exp(-(double)p[j])), t = target->data[i * C + j];
            l += -(t * log(sig) + (1.0 - t) * log(1.0 - sig));
        }
    }
    return l;
}

static double ref_loss(ml_loss_kind_t kind, ml_reduce_t reduce, const ml_tensor_t *pred,
                       const ml_tensor_t *target, const ml_tensor_t *w)
{
    double total = 0, wsum = 0;
    for (int i = 0; i < B; i++) {
        double wi = w ? w->data[i] : 1.0;
        total += wi * ref_sample(kind, pred->data + i * C, target, i);
        wsum += wi;
    }
    return reduce == ML_REDUCE_SUM ? total : reduce == ML_REDUCE_MEAN ? total / B : total / wsum;
}

typedef struct {
    ml_loss_kind_t kind;
    ml_reduce_t reduce;
    const ml_tensor_t *pred, *target, *w;
} loss_ctx_t;

static double loss_objective(void *p)
{
    loss_ctx_t *c = p;
    double l = NAN;
    if (ml_loss(c->kind, c->reduce, &l, NULL, NULL, c->pred, c->target, c->w) != ML_OK)
        return NAN;
    return l;
}

static void make_targets(ml_loss_kind_t kind, ml_tensor_t *target, ml_rng_t *r)
{
    if (kind == ML_LOSS_CROSS_ENTROPY) {
        new1(target, B);
        for (int i = 0; i < B; i++)
            target->data[i] = (float)ml_rng_below(r, C);
    } else {
        new2(target, B, C);
        for (int k = 0; k < B * C; k++)
            target->data[k] = kind == ML_LOSS_MSE ? 2.0f * ml_rng_float(r) - 1.0f
                              : k % 3 == 0        ? 0.3f /* soft labels are allowed */
                                                  : (float)(ml_rng_float(r) < 0.5f);
    }
}

static void test_values_and_gradients(void)
{
    static const ml_reduce_t reduces[3] = {ML_REDUCE_MEAN, ML_REDUCE_WEIGHTED_MEAN, ML_REDUCE_SUM};
    static const char *const rnames[3] = {"mean", "weighted_mean", "sum"};
    ml_rng_t r;
    ml_rng_seed(&r, 1);
    for (int kind = 0; kind < ML_LOSS_NKINDS; kind++)
        for (int ri = 0; ri < 3; ri++)
            for (int weighted = 0; weighted <= 1; weighted++) {
                ml_tensor_t pred, target, w, dpred;
                new2(&pred, B, C);
                ml_rng_uniform(&r, pred.data, B * C, -2.0f, 2.0f);
                make_targets((ml_loss_kind_t)kind, &target, &r);
                new1(&w, B);
                ml_rng_uniform(&r, w.data, B, 0.2f, 3.0f);
                const ml_tensor_t *wp = weighted ? &w : NULL;
                new2(&dpred, B, C);
                ml_tensor_fill(&dpred, NAN); /* written, not accumulated */

                double l = NAN, correct = NAN;
                int rc = ml_loss((ml_loss_kind_t)kind, reduces[ri], &l, &correct, &dpred, &pred,
                                 &target, wp);
                char what[96];
                snprintf(what, sizeof what, "%s/%s/%s", ml_loss_name((ml_loss_kind_t)kind),
                         rnames[ri], weighted ? "weighted" : "unweighted");
                CHECK_MSG(rc == ML_OK, "%s: %s", what, ml_errmsg());
                double want = ref_loss((ml_loss_kind_t)kind, reduces[ri], &pred, &target, wp);
                CHECK_MSG(fabs(l - want) <= 1e-9 * fabs(want), "%s: loss %.12g, want %.12g", what,
                          l, want);

                loss_ctx_t ctx = {(ml_loss_kind_t)kind, reduces[ri], &pred, &target, wp};
                float analytic[B * C];
                memcpy(analytic, dpred.data, sizeof analytic);
                gc_check_array(what, pred.data, analytic, B * C, 1e-3, 1e-6, 1e-4, loss_objective,
                               &ctx);
                ml_tensor_free(&pred);
                ml_tensor_free(&target);
                ml_tensor_free(&w);
                ml_tensor_free(&dpred);
            }
}

/* The reductions relate as documented: SUM = B * MEAN, SUM = sum(w) * WEIGHTED_MEAN, and
 * without weights the two means agree; dpred scales the same way. */
static void test_reductions(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 2);
    ml_tensor_t pred, target, w, d_sum, d_mean, d_wmean;
    new2(&pred, B, C);
    ml_rng_uniform(&r, pred.data, B * C, -1.0f, 1.0f);
    make_targets(ML_LOSS_CROSS_ENTROPY, &target, &r);
    new1(&w, B);
    double wsum = 0;
    for (int i = 0; i < B; i++)
        wsum += w.data[i] = (float)(i + 1) * 0.5f; /* 7.5 */
    new2(&d_sum, B, C);
    new2(&d_mean, B, C);
    new2(&d_wmean, B, C);
    double ls, lm, lw;
    for (int weighted = 0; weighted <= 1; weighted++) {
        const ml_tensor_t *wp = weighted ? &w : NULL;
        double denom_w = weighted ? wsum : B;
        CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_SUM, &ls, NULL, &d_sum, &pred, &target,
                      wp) == ML_OK);
        CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &lm, NULL, &d_mean, &pred, &target,
                      wp) == ML_OK);
        CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_WEIGHTED_MEAN, &lw, NULL, &d_wmean, &pred,
                      &target, wp) == ML_OK);
        CHECK_CLOSE(lm * B, ls, 0, 1e-12);
        CHECK_CLOSE(lw * denom_w, ls, 0, 1e-12);
        int ok = 1;
        for (int k = 0; k < B * C; k++) {
            ok &=
                fabsf(d_mean.data[k] * B - d_sum.data[k]) <= 1e-6f * (fabsf(d_sum.data[k]) + 1e-6f);
            ok &= fabs(d_wmean.data[k] * denom_w - d_sum.data[k]) <=
                  1e-6 * (fabs(d_sum.data[k]) + 1e-6);
        }
        CHECK_MSG(ok, "dpred does not scale with the reduction (weighted=%d)", weighted);
    }
    ml_tensor_free(&pred);
    ml_tensor_free(&target);
    ml_tensor_free(&w);
    ml_tensor_free(&d_sum);
    ml_tensor_free(&d_mean);
    ml_tensor_free(&d_wmean);
}

/* Squared loss per sample is 1/2 sum (pred - target)^2: one sample 3 vs 1 gives 2, not 4,
 * and the gradient is pred - target = 2, not 4. */
static void test_mse_half(void)
{
    ml_tensor_t p, t, d;
    new2(&p, 1, 1);
    new2(&t, 1, 1);
    new2(&d, 1, 1);
    p.data[0] = 3.0f;
    t.data[0] = 1.0f;
    double l, correct = -1;
    CHECK(ml_loss(ML_LOSS_MSE, ML_REDUCE_MEAN, &l, &correct, &d, &p, &t, NULL) == ML_OK);
    CHECK(l == 2.0);
    CHECK(d.data[0] == 2.0f);
    CHECK(correct == 0.0); /* no accuracy for regression */
    ml_tensor_free(&p);
    ml_tensor_free(&t);
    ml_tensor_free(&d);
}

static void test_cross_entropy_extremes(void)
{
    ml_tensor_t p, t, d;
    new2(&p, 3, 3);
    new1(&t, 3);
    new2(&d, 3, 3);
    const float rows[9] = {1000,  -1000, 0,     /* target 1: loss 2000 */
                           1000,  -1000, 0,     /* target 0: loss ~0 */
                           -1000, -1000, -999}; /* target 2: log(1 + 2/e) */
    memcpy(p.data, rows, sizeof rows);
    t.data[0] = 1;
    t.data[1] = 0;
    t.data[2] = 2;
    double l, correct;
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_SUM, &l, &correct, &d, &p, &t, NULL) == ML_OK);
    CHECK(isfinite(l));
    CHECK_CLOSE(l, 2000.0 + log(1.0 + 2.0 / M_E), 0, 1e-12);
    CHECK(ml_tensor_all_finite(&d));
    CHECK_CLOSE(d.data[0], 1.0, 1e-7, 0);
    CHECK_CLOSE(d.data[1], -1.0, 1e-7, 0);
    CHECK_CLOSE(d.data[2], 0.0, 1e-7, 0);
    CHECK_CLOSE(d.data[3], 0.0, 1e-7, 0);
    CHECK_CLOSE(d.data[8], 1.0 / (1.0 + 2.0 / M_E) - 1.0, 1e-7, 0);
    CHECK(correct == 2.0); /* rows 2 and 3 */

    /* BCE at extreme logits: finite, and exactly the margin when wrong. */
    ml_tensor_t bp, bt;
    new2(&bp, 1, 2);
    new2(&bt, 1, 2);
    bp.data[0] = 1000.0f;
    bp.data[1] = -1000.0f;
    bt.data[0] = 0.0f;
    bt.data[1] = 0.0f;
    ml_tensor_t bd;
    new2(&bd, 1, 2);
    CHECK(ml_loss(ML_LOSS_BCE_LOGITS, ML_REDUCE_SUM, &l, &correct, &bd, &bp, &bt, NULL) == ML_OK);
    CHECK_CLOSE(l, 1000.0, 0, 1e-12);
    CHECK(ml_tensor_all_finite(&bd));
    CHECK(correct == 0.0);
    ml_tensor_free(&p);
    ml_tensor_free(&t);
    ml_tensor_free(&d);
    ml_tensor_free(&bp);
    ml_tensor_free(&bt);
    ml_tensor_free(&bd);
}

static void test_correct(void)
{
    ml_tensor_t p, t, w;
    new2(&p, 4, 3);
    new1(&t, 4);
    new1(&w, 4);
    const float logits[12] = {5, 1, 0,  /* argmax 0 */
                              0, 2, 1,  /* argmax 1 */
                              0, 1, 3,  /* argmax 2 */
                              4, 0, 0}; /* argmax 0 */
    memcpy(p.data, logits, sizeof logits);
    const float cls[4] = {0, 1, 0, 2}; /* rows 1 and 2 right */
    memcpy(t.data, cls, sizeof cls);
    const float ws[4] = {0.5f, 2.0f, 1.0f, 4.0f};
    memcpy(w.data, ws, sizeof ws);
    double l, correct;
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, &correct, NULL, &p, &t, NULL) ==
          ML_OK);
    CHECK(correct == 2.0);
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, &correct, NULL, &p, &t, &w) == ML_OK);
    CHECK(correct == 2.5);
    /* Targets as (B, 1) are accepted and mean the same. */
    ml_tensor_t t2;
    new2(&t2, 4, 1);
    memcpy(t2.data, cls, sizeof cls);
    double l2, c2;
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l2, &c2, NULL, &p, &t2, &w) == ML_OK);
    CHECK(l2 == l && c2 == correct);
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t, NULL) == ML_OK);

    /* BCE: a row counts only when every sign-thresholded logit matches its target. */
    ml_tensor_t bp, bt;
    new2(&bp, 3, 2);
    new2(&bt, 3, 2);
    const float z[6] = {2, -1, /* (1, 0) */ 2, 1, /* (1, 1) */ -3, -0.5f /* (0, 0) */};
    const float y[6] = {1, 0, 1, 0, 0, 0}; /* rows 1 and 3 right */
    memcpy(bp.data, z, sizeof z);
    memcpy(bt.data, y, sizeof y);
    CHECK(ml_loss(ML_LOSS_BCE_LOGITS, ML_REDUCE_MEAN, &l, &correct, NULL, &bp, &bt, NULL) == ML_OK);
    CHECK(correct == 2.0);
    ml_tensor_free(&p);
    ml_tensor_free(&t);
    ml_tensor_free(&w);
    ml_tensor_free(&t2);
    ml_tensor_free(&bp);
    ml_tensor_free(&bt);
}

/* Predictions given as a strided view give the same loss and gradient as a contiguous copy. */
static void test_strided_pred(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 3);
    ml_tensor_t store, view, pred, target, d1, d2;
    new2(&store, C, B);
    ml_rng_uniform(&r, store.data, B * C, -2.0f, 2.0f);
    CHECK(ml_tensor_transpose(&view, &store, 0, 1) == ML_OK);
    new2(&pred, B, C);
    CHECK(ml_tensor_copy(&pred, &view) == ML_OK);
    make_targets(ML_LOSS_CROSS_ENTROPY, &target, &r);
    new2(&d1, B, C);
    new2(&d2, B, C);
    double l1, l2;
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l1, NULL, &d1, &pred, &target, NULL) ==
          ML_OK);
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l2, NULL, &d2, &view, &target, NULL) ==
          ML_OK);
    CHECK(l1 == l2);
    CHECK(memcmp(d1.data, d2.data, B * C * sizeof(float)) == 0);
    ml_tensor_free(&store);
    ml_tensor_free(&pred);
    ml_tensor_free(&target);
    ml_tensor_free(&d1);
    ml_tensor_free(&d2);
}

static void test_errors(void)
{
    ml_tensor_t p, t_bad, t_ce, w, w_bad, d_bad, p1;
    new2(&p, 3, 2);
    new2(&t_bad, 3, 3);
    new1(&t_ce, 3);
    new1(&w, 3);
    new1(&w_bad, 4);
    new2(&d_bad, 2, 3);
    new1(&p1, 3);
    double l;

    CHECK_ERR(ml_loss(ML_LOSS_MSE, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_bad, NULL), ML_ESHAPE,
              "(3,3)", "(3,2)");
    CHECK_ERR(ml_loss(ML_LOSS_BCE_LOGITS, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_bad, NULL),
              ML_ESHAPE, "(3,3)", "(3,2)");
    CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_bad, NULL),
              ML_ESHAPE, "(3,3)", "3");
    CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &w_bad, NULL),
              ML_ESHAPE, "(4,)", "3");
    CHECK_ERR(ml_loss(ML_LOSS_MSE, ML_REDUCE_MEAN, &l, NULL, NULL, &p1, &t_ce, NULL), ML_ESHAPE,
              "(3,)");
    CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_ce, &w_bad),
              ML_ESHAPE, "(4,)", "3");
    CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, &d_bad, &p, &t_ce, NULL),
              ML_ESHAPE, "(2,3)", "(3,2)");
    CHECK_ERR(ml_loss(ML_LOSS_NKINDS, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_ce, NULL), ML_EARG,
              "3");

    /* Class indices: out of range, negative, non-integer, NaN; the message names the row
     * (counted from 1, like layers) and the value. */
    static const float bad_cls[] = {2.0f, 5.0f, -1.0f, 1.5f, NAN};
    static const char *const bad_txt[] = {"2", "5", "-1", "1.5", "nan"};
    for (int k = 0; k < 5; k++) {
        t_ce.data[0] = 0;
        t_ce.data[1] = bad_cls[k];
        t_ce.data[2] = 1;
        CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_ce, NULL),
                  ML_EARG, "row 2", bad_txt[k]);
    }
    t_ce.data[1] = 1;
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_ce, NULL) == ML_OK);
    /* Per-step targets (B,T) = (2,3): the sequence and the step, counted from 1 */
    {
        int64_t ps[3] = {2, 3, 4}, ts[2] = {2, 3};
        ml_tensor_t seq, steps;
        CHECK(ml_tensor_new(&seq, 3, ps) == ML_OK && ml_tensor_new(&steps, 2, ts) == ML_OK);
        steps.data[1 * 3 + 1] = 9.0f;
        CHECK_ERR(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &seq, &steps, NULL),
                  ML_EARG, "target of sequence 2, step 2 is 9, expected a class index in [0, 4)");
        ml_tensor_free(&seq);
        ml_tensor_free(&steps);
    }

    /* Weighted mean needs a positive weight sum. */
    ml_tensor_fill(&w, 0.0f);
    CHECK_ERR(
        ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_WEIGHTED_MEAN, &l, NULL, NULL, &p, &t_ce, &w),
        ML_EARG, "weight");
    /* ... which the other reductions do not. */
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &l, NULL, NULL, &p, &t_ce, &w) == ML_OK);
    CHECK(l == 0.0);

    ml_tensor_free(&p);
    ml_tensor_free(&t_bad);
    ml_tensor_free(&t_ce);
    ml_tensor_free(&w);
    ml_tensor_free(&w_bad);
    ml_tensor_free(&d_bad);
    ml_tensor_free(&p1);
}

static void test_names(void)
{
    static const char *const names[ML_LOSS_NKINDS] = {"mse", "cross_entropy", "bce_logits"};
    for (int k = 0; k < ML_LOSS_NKINDS; k++) {
        CHECK(strcmp(ml_loss_name((ml_loss_kind_t)k), names[k]) == 0);
        CHECK(ml_loss_kind_from_name(names[k]) == k);
    }
    CHECK(ml_loss_kind_from_name("nll") == -1);
}

int main(void)
{
    test_values_and_gradients();
    test_reductions();
    test_mse_half();
    test_cross_entropy_extremes();
    test_correct();
    test_strided_pred();
    test_errors();
    test_names();
    return check_report("test_loss");
}
