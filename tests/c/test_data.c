/* Minibatches (data.h) and the C training loop (train.h): in-order row views with a short or
 * dropped last batch, shuffled epochs that visit every row once with x/y/weights aligned and
 * reproducible per (seed, epoch), the batcher's errors; a noiseless linear regression trained
 * to convergence, bit-identical across runs, evaluation, and the NaN guard. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/data.h"
#include "moonlab/error.h"
#include "moonlab/train.h"



/* x (N, 2) = (i, 100 + i), y (N) = i, w (N) = 1000 + i: every value names its row. */
static void make_data(ml_tensor_t *x, ml_tensor_t *y, ml_tensor_t *w, int64_t n)
{
    new2(x, n, 2);
    new1(y, n);
    new1(w, n);
    for (int64_t i = 0; i < n; i++) {
        x->data[2 * i] = (float)i;
        x->data[2 * i + 1] = (float)(100 + i);
        y->data[i] = (float)i;
        w->data[i] = (float)(1000 + i);
    }
}

static void test_in_order(void)
{
    ml_tensor_t x, y, w;
    make_data(&x, &y, &w, 10);
    const ml_tensor_t *ts[3] = {&x, &y, &w};
    ml_batcher_t b;
    const ml_tensor_t *out[3];
    for (int drop = 0; drop <= 1; drop++) {
        CHECK(ml_batcher_init(&b, 3, ts, 4, 0, drop, 1) == ML_OK);
        for (int epoch = 0; epoch < 2; epoch++) { /* rewinding gives the same batches */
            ml_batcher_start(&b, epoch);
            static const int64_t sizes[3] = {4, 4, 2};
            int nb = 0;
            int64_t start = 0;
            while (ml_batcher_next(&b, out) == 1) {
                CHECK_MSG(nb < 3 && out[0]->shape[0] == sizes[nb], "batch %d has %lld rows", nb,
                          (long long)out[0]->shape[0]);
                /* Row views into the data, in order: no copy. */
                CHECK(out[0]->data == x.data + 2 * start && out[0]->owns == 0);
                CHECK(out[0]->ndim == 2 && out[0]->shape[1] == 2 && out[0]->stride[0] == 2);
                CHECK(out[1]->data == y.data + start && out[1]->ndim == 1);
                CHECK(out[2]->data == w.data + start);
                CHECK(out[1]->shape[0] == out[0]->shape[0] && out[2]->shape[0] == out[0]->shape[0]);
                start += out[0]->shape[0];
                nb++;
            }
            CHECK_MSG(nb == (drop ? 2 : 3), "drop_last=%d: %d batches", drop, nb);
            CHECK(start == (drop ? 8 : 10));
            CHECK(ml_batcher_next(&b, out) == 0); /* stays at the end */
        }
        ml_batcher_free(&b);
    }

    /* A batch larger than the data: one short batch, or none with drop_last. */
    CHECK(ml_batcher_init(&b, 1, ts, 64, 0, 0, 1) == ML_OK);
    CHECK(ml_batcher_next(&b, out) == 1 && out[0]->shape[0] == 10);
    CHECK(ml_batcher_next(&b, out) == 0);
    ml_batcher_free(&b);
    CHECK(ml_batcher_init(&b, 1, ts, 64, 0, 1, 1) == ML_OK);
    CHECK(ml_batcher_next(&b, out) == 0);
    ml_batcher_free(&b);

    /* Exact multiple: no empty batch at the end. */
    CHECK(ml_batcher_init(&b, 1, ts, 5, 0, 0, 1) == ML_OK);
    int nb = 0;
    while (ml_batcher_next(&b, out) == 1)
        nb += out[0]->shape[0] == 5;
    CHECK(nb == 2);
    ml_batcher_free(&b);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&w);
}

/* Run one shuffled epoch; order[k] = the row (read from y) at position k. Checks that x, y
 * and w stay aligned, and returns the number of rows seen. */
static int64_t shuffled_epoch(ml_batcher_t *b, int64_t epoch, int64_t *order, int64_t n)
{
    const ml_tensor_t *out[3];
    ml_batcher_start(b, epoch);
    int64_t k = 0;
    int aligned = 1;
    while (ml_batcher_next(b, out) == 1) {
        int64_t m = out[0]->shape[0];
        for (int64_t i = 0; i < m; i++) {
            float row = *ml_tensor_at(out[1], (int64_t[]){i});
            aligned &= *ml_tensor_at(out[0], (int64_t[]){i, 0}) == row;
            aligned &= *ml_tensor_at(out[0], (int64_t[]){i, 1}) == 100.0f + row;
            if (b->nt > 2)
                aligned &= *ml_tensor_at(out[2], (int64_t[]){i}) == 1000.0f + row;
            if (k < n)
                order[k] = (int64_t)row;
            k++;
        }
    }
    CHECK_MSG(aligned, "epoch %lld: x, y and weights rows not aligned", (long long)epoch);
    return k;
}

static int is_permutation(const int64_t *order, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]])
            ok = 0;
        else
            seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void)
{
    enum { N = 100, EPOCHS = 4 };
    ml_tensor_t x, y, w;
    make_data(&x, &y, &w, N);
    const ml_tensor_t *ts[3] = {&x, &y, &w};
    ml_batcher_t b;
    int64_t orders[EPOCHS][N];
    CHECK(ml_batcher_init(&b, 3, ts, 7, 1, 0, 2024) == ML_OK);
    for (int e = 0; e < EPOCHS; e++) {
        CHECK(shuffled_epoch(&b, e, orders[e], N) == N);
        CHECK_MSG(is_permutation(orders[e], N), "epoch %d does not visit every row once", e);
        int in_order = 1;
        for (int i = 0; i < N; i++)
            in_order &= orders[e][i] == i;
        CHECK_MSG(!in_order, "epoch %d not shuffled", e);
    }
    for (int e = 1; e < EPOCHS; e++)
        CHECK_MSG(memcmp(orders[0], orders[e], sizeof orders[0]) != 0,
                  "epochs 0 and %d have the same order", e);

    /* Resume: a new batcher with the same seed gives epoch 2's order without epochs 0, 1. */
    ml_batcher_t b2;
    int64_t again[N];
    CHECK(ml_batcher_init(&b2, 3, ts, 7, 1, 0, 2024) == ML_OK);
    shuffled_epoch(&b2, 2, again, N);
    CHECK_MSG(memcmp(orders[2], again, sizeof again) == 0, "epoch 2 differs after resume");
    /* Same batcher, epochs out of order. */
    shuffled_epoch(&b, 1, again, N);
    CHECK(memcmp(orders[1], again, sizeof again) == 0);
    /* The batch size does not change the order. */
    ml_batcher_t b3;
    CHECK(ml_batcher_init(&b3, 3, ts, 32, 1, 0, 2024) == ML_OK);
    shuffled_epoch(&b3, 3, again, N);
    CHECK(memcmp(orders[3], again, sizeof again) == 0);
    ml_batcher_free(&b3);
    ml_batcher_free(&b2);

    /* A different seed, a different order. */
    CHECK(ml_batcher_init(&b2, 3, ts, 7, 1, 0, 2025) == ML_OK);
    shuffled_epoch(&b2, 0, again, N);
    CHECK(is_permutation(again, N));
    CHECK(memcmp(orders[0], again, sizeof again) != 0);
    ml_batcher_free(&b2);

    /* drop_last with shuffling: 14 full batches, a different 2 rows left out each epoch. */
    CHECK(ml_batcher_init(&b2, 3, ts, 7, 1, 1, 2024) == ML_OK);
    CHECK(shuffled_epoch(&b2, 0, again, N) == 98);
    CHECK(memcmp(orders[0], again, 98 * sizeof *again) == 0);
    ml_batcher_free(&b2);
    ml_batcher_free(&b);

    /* A non-contiguous source (a transpose view) is gathered row by row, still aligned. */
    ml_tensor_t xt_store, xt;
    new2(&xt_store, 2, N);
    for (int64_t i = 0; i < N; i++) {
        xt_store.data[i] = (float)i;
        xt_store.data[N + i] = (float)(100 + i);
    }
    CHECK(ml_tensor_transpose(&xt, &xt_store, 0, 1) == ML_OK);
    const ml_tensor_t *ts2[2] = {&xt, &y};
    CHECK(ml_batcher_init(&b2, 2, ts2, 9, 1, 0, 77) == ML_OK);
    CHECK(shuffled_epoch(&b2, 0, again, N) == N);
    CHECK(is_permutation(again, N));
    ml_batcher_free(&b2);
    ml_tensor_free(&xt_store);

    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&w);
}

static void test_batcher_errors(void)
{
    ml_tensor_t x, y, w;
    make_data(&x, &y, &w, 10);
    ml_tensor_t y9;
    new1(&y9, 9);
    ml_batcher_t b;
    const ml_tensor_t *bad[2] = {&x, &y9};
    CHECK_ERR(ml_batcher_init(&b, 2, bad, 4, 0, 0, 1), ML_ESHAPE, "(10,2)", "(9,)");
    CHECK_ERR(ml_batcher_init(&b, 2, bad, 4, 1, 0, 1), ML_ESHAPE, "(10,2)", "(9,)");
    const ml_tensor_t *ok[2] = {&x, &y};
    CHECK_ERR(ml_batcher_init(&b, 2, ok, 0, 0, 0, 1), ML_EARG, "0");
    CHECK_ERR(ml_batcher_init(&b, 2, ok, -3, 0, 0, 1), ML_EARG, "-3");
    CHECK_ERR(ml_batcher_init(&b, 0, ok, 4, 0, 0, 1), ML_EARG, "0");
    const ml_tensor_t *five[5] = {&x, &y, &w, &y, &w};
    CHECK_ERR(ml_batcher_init(&b, 5, five, 4, 0, 0, 1), ML_EARG, "5");
    ml_batcher_free(&b);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&w);
    ml_tensor_free(&y9);
}

/* ---- training ---- */

enum { RN = 64, RD = 3 };
static const float W_TRUE[RD] = {0.5f, -1.0f, 2.0f};
static const float B_TRUE = 0.3f;

/* Noiseless y = x . w + b, computed in double and rounded once. */
static void regression_data(ml_tensor_t *x, ml_tensor_t *y)
{
    new2(x, RN, RD);
    new2(y, RN, 1);
    ml_rng_t r;
    ml_rng_seed(&r, 8);
    ml_rng_uniform(&r, x->data, RN * RD, -1.0f, 1.0f);
    for (int i = 0; i < RN; i++) {
        double s = B_TRUE;
        for (int j = 0; j < RD; j++)
            s += (double)x->data[i * RD + j] * W_TRUE[j];
        y->data[i] = (float)s;
    }
}

typedef struct {
    ml_model_t *m;
    ml_batcher_t b;
    ml_optim_t o;
} run_t;

static void run_setup(run_t *r, const ml_tensor_t *x, const ml_tensor_t *y, uint64_t seed)
{
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = ML_LAYER_LINEAR;
    s.in = RD;
    s.out = 1;
    s.bias = 1;
    CHECK(ml_model_new(&r->m, 1, &s) == ML_OK);
    CHECK(ml_model_init(r->m, seed) == ML_OK);
    const ml_tensor_t *ts[2] = {x, y};
    CHECK(ml_batcher_init(&r->b, 2, ts, 16, 1, 0, seed) == ML_OK);
    ml_optim_defaults(&r->o, ML_OPT_SGD);
    r->o.lr = 0.1f;
}

static void run_free(run_t *r)
{
    ml_model_free(r->m);
    ml_batcher_free(&r->b);
    ml_optim_free(&r->o);
}

static void test_regression(void)
{
    enum { EPOCHS = 150 };
    ml_tensor_t x, y;
    regression_data(&x, &y);
    run_t a, c;
    run_setup(&a, &x, &y, 31);
    run_setup(&c, &x, &y, 31);
    double first = 0, last = 0;
    int identical = 1, rc_ok = 1;
    for (int e = 0; e < EPOCHS; e++) {
        ml_epoch_stats_t sa, sc;
        rc_ok &=
            ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, e, 0.0, 0, &sa) == ML_OK;
        rc_ok &=
            ml_train_epoch(c.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &c.o, &c.b, e, 0.0, 0, &sc) == ML_OK;
        identical &= memcmp(&sa, &sc, sizeof sa) == 0;
        identical &= memcmp(a.m->params, c.m->params, (size_t)a.m->nparams * sizeof(float)) == 0;
        if (e == 0) {
            first = sa.loss;
            CHECK(sa.samples == RN && sa.steps == 4);
            CHECK(sa.accuracy == 0.0);
            CHECK(sa.grad_norm > 0.0);
        }
        last = sa.loss;
    }
    CHECK_MSG(rc_ok, "ml_train_epoch failed: %s", ml_errmsg());
    CHECK_MSG(identical, "two runs with the same seeds differ");
    CHECK_MSG(first > 0.1 && last < 1e-6, "training loss %.3g -> %.3g", first, last);
    CHECK(a.o.t == EPOCHS * 4);

    /* Evaluation on the whole data: the loss is the per-sample mean, i.e. ml_loss over all rows
     * at once, and the parameters are the true ones. */
    ml_epoch_stats_t ev;
    CHECK(ml_evaluate(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.b, &ev) == ML_OK);
    CHECK(ev.samples == RN && ev.steps == 4);
    const ml_tensor_t *pred;
    double direct;
    CHECK(ml_model_forward(a.m, &x, &pred) == ML_OK);
    CHECK(ml_loss(ML_LOSS_MSE, ML_REDUCE_MEAN, &direct, NULL, NULL, pred, &y, NULL) == ML_OK);
    CHECK_CLOSE(ev.loss, direct, 1e-15, 1e-6);
    CHECK_MSG(ev.loss < 1e-6, "evaluation loss %.3g", ev.loss);
    for (int j = 0; j < RD; j++)
        CHECK_CLOSE(a.m->params[j], W_TRUE[j], 1e-3, 0);
    CHECK_CLOSE(a.m->params[RD], B_TRUE, 1e-3, 0);
    CHECK(a.m->train == 1); /* evaluate restores the mode */

    /* A different seed starts elsewhere and trains differently. */
    run_t d, c0;
    run_setup(&d, &x, &y, 32);
    run_setup(&c0, &x, &y, 31);
    CHECK(memcmp(c0.m->params, d.m->params, (size_t)d.m->nparams * sizeof(float)) != 0);
    ml_epoch_stats_t sd, sc0;
    CHECK(ml_train_epoch(d.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &d.o, &d.b, 0, 0.0, 0, &sd) == ML_OK);
    CHECK(ml_train_epoch(c0.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &c0.o, &c0.b, 0, 0.0, 0, &sc0) ==
          ML_OK);
    CHECK(sd.loss != sc0.loss);
    run_free(&d);
    run_free(&c0);

    run_free(&a);
    run_free(&c);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

/* ml_train_epoch follows the batcher's order for the epoch it is given: the same start
 * trained as epoch 0 or as epoch 1 ends differently, and a run resumed at epoch 2 from the
 * parameters after epoch 1 (plain SGD has no other state) ends bit-identical to the
 * uninterrupted one. */
static void test_resume(void)
{
    ml_tensor_t x, y;
    regression_data(&x, &y);
    run_t a, b;
    run_setup(&a, &x, &y, 13);
    run_setup(&b, &x, &y, 13);
    ml_epoch_stats_t st;
    CHECK(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, 0, 0.0, 0, &st) == ML_OK);
    CHECK(ml_train_epoch(b.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &b.o, &b.b, 1, 0.0, 0, &st) == ML_OK);
    size_t bytes = (size_t)a.m->nparams * sizeof(float);
    CHECK_MSG(memcmp(a.m->params, b.m->params, bytes) != 0, "epochs 0 and 1 train identically");
    run_free(&a);
    run_free(&b);

    run_setup(&a, &x, &y, 13);
    run_setup(&b, &x, &y, 13);
    float snap[RD + 1] = {0};
    for (int e = 0; e < 4; e++) {
        CHECK(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, e, 0.0, 0, &st) ==
              ML_OK);
        if (e == 1)
            memcpy(snap, a.m->params, sizeof snap);
    }
    memcpy(b.m->params, snap, sizeof snap);
    for (int e = 2; e < 4; e++)
        CHECK(ml_train_epoch(b.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &b.o, &b.b, e, 0.0, 0, &st) ==
              ML_OK);
    CHECK_MSG(memcmp(a.m->params, b.m->params, bytes) == 0, "resumed run differs");
    run_free(&a);
    run_free(&b);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

/* An epoch in parts (ml_train_steps with no time to spare: one step per call), continued on a
 * second model from the first one's parameters and running sums after two steps (plain SGD has
 * no other state), ends bit-identical to ml_train_epoch in one call. A part cannot start at or
 * past the epoch's last step. */
static void test_epoch_in_parts(void)
{
    ml_tensor_t x, y;
    regression_data(&x, &y);
    run_t a, b, c;
    run_setup(&a, &x, &y, 17);
    run_setup(&b, &x, &y, 17);
    run_setup(&c, &x, &y, 17);
    ml_epoch_stats_t whole, part;
    CHECK(ml_epoch_steps(&a.b) == 4);
    CHECK(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, 1, 0.0, 0, &whole) == ML_OK);
    memset(&part, 0, sizeof part);
    int done = 1;
    for (int k = 1; k <= 2; k++) {
        CHECK(ml_train_steps(b.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &b.o, &b.b, 1, 0.0, 0, 0.0, &part,
                             &done) == ML_OK);
        CHECK(!done && part.steps == k && part.samples == 16 * k);
    }
    memcpy(c.m->params, b.m->params, (size_t)b.m->nparams * sizeof(float));
    ml_epoch_stats_t saved = part;
    while (!done)
        CHECK(ml_train_steps(c.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &c.o, &c.b, 1, 0.0, 0, 0.0, &part,
                             &done) == ML_OK);
    CHECK(part.steps == 4);
    CHECK_MSG(memcmp(&whole, &part, sizeof whole) == 0, "epoch in parts: loss %.17g vs %.17g",
              part.loss, whole.loss);
    CHECK(memcmp(a.m->params, c.m->params, (size_t)a.m->nparams * sizeof(float)) == 0);

    /* a part needs a step inside the epoch: the error names both */
    part = saved;
    part.steps = 4;
    CHECK(ml_train_steps(c.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &c.o, &c.b, 1, 0.0, 0, HUGE_VAL, &part,
                         &done) == ML_EARG);
    CHECK_MSG(strstr(ml_errmsg(), "epoch of 4 steps at step 4") != NULL, "%s", ml_errmsg());
    part.steps = -1;
    CHECK(ml_train_steps(c.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &c.o, &c.b, 1, 0.0, 0, HUGE_VAL, &part,
                         &done) == ML_EARG);
    run_free(&a);
    run_free(&b);
    run_free(&c);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

/* Clipping in the loop: the reported norm is the pre-clip norm and the step is bounded. */
static void test_clip_in_loop(void)
{
    ml_tensor_t x, y;
    regression_data(&x, &y);
    run_t a;
    run_setup(&a, &x, &y, 5);
    float before[RD + 1];
    memcpy(before, a.m->params, sizeof before);
    a.o.lr = 1.0f;
    ml_epoch_stats_t st;
    /* One step over the whole data: batch = N. */
    ml_batcher_free(&a.b);
    const ml_tensor_t *ts[2] = {&x, &y};
    CHECK(ml_batcher_init(&a.b, 2, ts, RN, 0, 0, 5) == ML_OK);
    CHECK(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, 0, 1e-3, 0, &st) == ML_OK);
    CHECK(st.steps == 1 && st.grad_norm > 1e-3);
    double moved = 0;
    for (int j = 0; j <= RD; j++)
        moved += ((double)a.m->params[j] - before[j]) * ((double)a.m->params[j] - before[j]);
    CHECK_MSG(sqrt(moved) <= 1e-3 * (1 + 1e-5), "clipped step moved %.6g", sqrt(moved));
    CHECK(sqrt(moved) > 0.9e-3);
    run_free(&a);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

static void test_nan_guard(void)
{
    ml_tensor_t x, y;
    regression_data(&x, &y);
    x.data[5 * RD + 1] = NAN;
    run_t a;
    run_setup(&a, &x, &y, 9);
    ml_epoch_stats_t st;
    /* Epoch 2 (0-based) is reported as epoch 3, counting from 1 like layers and rows. */
    CHECK_ERR(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, 2, 0.0, 0, &st), ML_ENAN,
              "NaN", "epoch 3");
    /* The step that saw NaN was not applied. */
    int finite = 1;
    for (int64_t i = 0; i < a.m->nparams; i++)
        finite &= isfinite(a.m->params[i]);
    CHECK_MSG(finite, "parameters updated from a NaN loss");

    /* allow_nonfinite: the epoch runs to the end and reports a non-finite loss. */
    CHECK(ml_train_epoch(a.m, ML_LOSS_MSE, ML_REDUCE_MEAN, &a.o, &a.b, 3, 0.0, 1, &st) == ML_OK);
    CHECK(st.steps == 4 && st.samples == RN);
    CHECK(!isfinite(st.loss));
    run_free(&a);

    /* Errors inside the loop come back with their code: a target of the wrong width. */
    ml_tensor_t y2;
    new2(&y2, RN, 2);
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = ML_LAYER_LINEAR;
    s.in = RD;
    s.out = 1;
    ml_model_t *m;
    CHECK(ml_model_new(&m, 1, &s) == ML_OK);
    ml_batcher_t b;
    const ml_tensor_t *ts[2] = {&x, &y2};
    CHECK(ml_batcher_init(&b, 2, ts, 16, 0, 0, 1) == ML_OK);
    ml_optim_t o;
    ml_optim_defaults(&o, ML_OPT_SGD);
    CHECK_ERR(ml_train_epoch(m, ML_LOSS_MSE, ML_REDUCE_MEAN, &o, &b, 0, 0.0, 0, &st), ML_ESHAPE,
              "(16,2)", "(16,1)");
    CHECK_ERR(ml_evaluate(m, ML_LOSS_MSE, ML_REDUCE_MEAN, &b, &st), ML_ESHAPE, "(16,2)", "(16,1)");
    ml_model_free(m);
    ml_batcher_free(&b);
    ml_optim_free(&o);
    ml_tensor_free(&y2);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

/* Classification through the loop: accuracy is a fraction of samples, weights respected. */
static void test_classification_stats(void)
{
    enum { CN = 40 };
    ml_tensor_t x, y;
    new2(&x, CN, 2);
    new1(&y, CN);
    for (int i = 0; i < CN; i++) {
        int cls = i % 2;
        x.data[2 * i] = cls ? 1.0f : -1.0f;
        x.data[2 * i + 1] = 0.25f * (float)(i % 5);
        y.data[i] = (float)cls;
    }
    ml_layer_spec_t s;
    memset(&s, 0, sizeof s);
    s.kind = ML_LAYER_LINEAR;
    s.in = 2;
    s.out = 2;
    s.bias = 1;
    ml_model_t *m;
    CHECK(ml_model_new(&m, 1, &s) == ML_OK);
    CHECK(ml_model_init(m, 3) == ML_OK);
    ml_batcher_t b;
    const ml_tensor_t *ts[2] = {&x, &y};
    CHECK(ml_batcher_init(&b, 2, ts, 8, 1, 0, 3) == ML_OK);
    ml_optim_t o;
    ml_optim_defaults(&o, ML_OPT_ADAM);
    o.lr = 0.05f;
    ml_epoch_stats_t st;
    for (int e = 0; e < 60; e++)
        CHECK(ml_train_epoch(m, ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &o, &b, e, 0.0, 0, &st) ==
              ML_OK);
    CHECK(st.accuracy >= 0.0 && st.accuracy <= 1.0);
    ml_epoch_stats_t ev;
    CHECK(ml_evaluate(m, ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &b, &ev) == ML_OK);
    CHECK_MSG(ev.accuracy == 1.0, "separable data, accuracy %.3f", ev.accuracy);
    const ml_tensor_t *pred;
    double direct, correct;
    CHECK(ml_model_forward(m, &x, &pred) == ML_OK);
    CHECK(ml_loss(ML_LOSS_CROSS_ENTROPY, ML_REDUCE_MEAN, &direct, &correct, NULL, pred, &y, NULL) ==
          ML_OK);
    CHECK_CLOSE(ev.loss, direct, 1e-12, 1e-6);
    CHECK(correct == CN);
    ml_model_free(m);
    ml_batcher_free(&b);
    ml_optim_free(&o);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

/* A selection of rows (an index view): batches hold exactly those rows, in selection order or
 * shuffled, with repeats; rows outside the data are refused. */
static void test_select(void)
{
    ml_tensor_t x, y;
    new2(&x, 6, 2);
    new1(&y, 6);
    for (int64_t i = 0; i < 6; i++) {
        x.data[2 * i] = (float)i;
        x.data[2 * i + 1] = (float)(10 * i);
        y.data[i] = (float)i;
    }
    const ml_tensor_t *ts[2] = {&x, &y};
    const int64_t rows[4] = {4, 0, 4, 5};
    ml_batcher_t b;
    const ml_tensor_t *out[ML_BATCH_MAX_TENSORS];
    CHECK(ml_batcher_init(&b, 2, ts, 3, 0, 0, 1) == ML_OK);
    CHECK(ml_batcher_select(&b, rows, 4) == ML_OK);
    CHECK(b.n == 4);
    CHECK(ml_batcher_next(&b, out) == 1);
    CHECK(out[0]->shape[0] == 3 && out[1]->shape[0] == 3);
    CHECK(out[1]->data[0] == 4.0f && out[1]->data[1] == 0.0f && out[1]->data[2] == 4.0f);
    CHECK(out[0]->data[1] == 40.0f && out[0]->data[3] == 0.0f);
    CHECK(ml_batcher_next(&b, out) == 1);
    CHECK(out[1]->shape[0] == 1 && out[1]->data[0] == 5.0f);
    CHECK(ml_batcher_next(&b, out) == 0);
    ml_batcher_free(&b);

    /* shuffled: each selected position once per epoch, x and y still aligned */
    CHECK(ml_batcher_init(&b, 2, ts, 4, 1, 0, 9) == ML_OK);
    CHECK(ml_batcher_select(&b, rows, 4) == ML_OK);
    ml_batcher_start(&b, 3);
    CHECK(ml_batcher_next(&b, out) == 1);
    int count[6] = {0};
    for (int i = 0; i < 4; i++) {
        int r = (int)out[1]->data[i];
        CHECK(r >= 0 && r < 6);
        count[r]++;
        CHECK(out[0]->data[2 * i] == (float)r);
    }
    CHECK(count[4] == 2 && count[0] == 1 && count[5] == 1);
    ml_batcher_free(&b);

    const int64_t bad[2] = {1, 6};
    CHECK(ml_batcher_init(&b, 2, ts, 3, 0, 0, 1) == ML_OK);
    CHECK_ERR(ml_batcher_select(&b, bad, 2), ML_EARG, "row 2 is 6", "0..5");
    ml_batcher_free(&b);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
}

int main(void)
{
    test_select();
    test_in_order();
    test_shuffle();
    test_batcher_errors();
    test_regression();
    test_resume();
    test_epoch_in_parts();
    test_clip_in_loop();
    test_nan_guard();
    test_classification_stats();
    return check_report("test_data");
}
