#include "moonlab/train.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "moonlab/error.h"
#include "moonlab/kernels.h"

/* The loss-gradient buffer lives with the model's last layer size; one per process thread is
 * enough because a model trains on one thread at a time. */
static int loss_grad_buffer(ml_tensor_t *buf, const ml_tensor_t *pred)
{
    return ml_tensor_ensure(buf, pred->ndim, pred->shape);
}

/* Loss terms of a batch: rows, or rows x steps for sequence outputs. */
static int64_t terms(const ml_tensor_t *pred)
{
    return pred->ndim == 3 ? pred->shape[0] * pred->shape[1] : pred->shape[0];
}

/* The loss of one batch, and *n its number of terms (rows, or rows x steps). With lengths and an
 * output that is still the input's sequence, only the real steps count: the per-step weights
 * are the 0/1 mask of real steps (times the given per-step weights), "mean" divides by the
 * number of real steps, and *n is that number. mask is a (B, T) scratch buffer. */
static int batch_loss(const ml_model_t *m, ml_loss_kind_t kind, ml_reduce_t reduce, double *l,
                      double *correct, ml_tensor_t *dpred, const ml_tensor_t *pred,
                      const ml_tensor_t *target, const ml_tensor_t *w, ml_tensor_t *mask,
                      int64_t *n)
{
    const int64_t *len = ml_model_lengths(m);
    if (!len || !m->out_chain || pred->ndim != 3) {
        *n = terms(pred);
        return ml_loss(kind, reduce, l, correct, dpred, pred, target, w);
    }
    const int64_t B = pred->shape[0], T = pred->shape[1];
    if (w && !(w->ndim == 2 && w->shape[0] == B && w->shape[1] == T)) {
        char a[64];
        return ml__fail(ML_ESHAPE, "%s: weights are %s, expected per-step weights (%lld,%lld)",
                        ml_loss_name(kind), ml_shape_str(a, sizeof a, w), (long long)B,
                        (long long)T);
    }
    int64_t shape[2] = {B, T}, real = 0;
    if (ml_tensor_ensure(mask, 2, shape))
        return ml__fail(ML_ENOMEM, "loss: cannot allocate a (%lld,%lld) mask", (long long)B,
                        (long long)T);
    for (int64_t b = 0; b < B; b++) {
        real += len[b];
        for (int64_t t = 0; t < T; t++)
            mask->data[b * T + t] =
                t >= len[b] ? 0.0f : w ? w->data[b * w->stride[0] + t * w->stride[1]] : 1.0f;
    }
    *n = real;
    if (reduce != ML_REDUCE_MEAN)
        return ml_loss(kind, reduce, l, correct, dpred, pred, target, mask);
    int rc = ml_loss(kind, ML_REDUCE_SUM, l, correct, dpred, pred, target, mask);
    if (!rc) {
        *l /= (double)real;
        if (dpred)
            ml_k_scale(dpred->data, (float)(1.0 / (double)real), ml_tensor_numel(dpred));
    }
    return rc;
}

static void accumulate(ml_epoch_stats_t *st, double loss, double correct, int64_t rows,
                       ml_reduce_t reduce)
{
    /* Per-batch losses are means; weight them by rows to get the epoch's sample mean. */
    st->loss += reduce == ML_REDUCE_SUM ? loss : loss * (double)rows;
    st->accuracy += correct;
    st->samples += rows;
    st->steps++;
}

static void finish(ml_epoch_stats_t *st, ml_loss_kind_t loss)
{
    if (st->samples > 0) {
        st->loss /= (double)st->samples;
        st->accuracy = loss == ML_LOSS_MSE ? 0.0 : st->accuracy / (double)st->samples;
    }
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t ml_epoch_steps(const ml_batcher_t *b)
{
    return b->drop_last ? b->n / b->batch : (b->n + b->batch - 1) / b->batch;
}

int ml_train_steps(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_optim_t *opt,
                   ml_batcher_t *b, int64_t epoch, double clip, int allow_nonfinite,
                   double seconds, ml_epoch_stats_t *st, int *done)
{
    *done = 0;
    const int64_t total = ml_epoch_steps(b);
    if (st->steps < 0 || (st->steps > 0 && st->steps >= total))
        return ml__fail(ML_EARG, "train: cannot resume an epoch of %lld steps at step %lld",
                        (long long)total, (long long)st->steps);
    const double t0 = now();
    ml_tensor_t dpred = {0}, mask = {0};
    const ml_tensor_t *batch[ML_BATCH_MAX_TENSORS];
    int rc = ML_OK, more;
    m->train = 1;
    if (m->carry && st->steps == 0) /* each epoch reads its streams from the start */
        ml_model_reset_state(m);
    ml_batcher_start(b, epoch);
    b->pos = st->steps * b->batch; /* every step before the last takes a full batch */
    while ((more = ml_batcher_next(b, batch)) == 1) {
        const ml_tensor_t *pred;
        double l = 0, correct = 0; /* written by batch_loss when it succeeds */
        int64_t n = 0;
        if ((rc = ml_model_forward_lengths(m, batch[0], b->lengths ? batch[b->lengths] : NULL,
                                           &pred)))
            break;
        if ((rc = loss_grad_buffer(&dpred, pred)))
            break;
        if ((rc = batch_loss(m, loss, reduce, &l, &correct, &dpred, pred, batch[1],
                             b->weights ? batch[b->weights] : NULL, &mask, &n)))
            break;
        if (!isfinite(l) && !allow_nonfinite) {
            rc = ml__fail(ML_ENAN, "loss is %s at epoch %lld, step %lld", isnan(l) ? "NaN" : "Inf",
                          (long long)epoch + 1, (long long)st->steps + 1);
            break;
        }
        if ((rc = ml_model_backward_fresh(m, &dpred, NULL)))
            break;
        /* The norm costs a pass over every gradient: take it only when clipping or on the
         * epoch's last step, whose norm the epoch reports. */
        int last = b->pos >= b->n || (b->drop_last && b->n - b->pos < b->batch);
        if (clip > 0 || last)
            st->grad_norm = ml_clip_grad_norm(m->grads, m->nparams, clip);
        if ((rc = ml_optim_step(opt, m->params, m->grads, m->decay, m->nparams)))
            break;
        accumulate(st, l, correct, n, reduce);
        if (!last && now() - t0 >= seconds) {
            more = 2; /* stopped at a step boundary inside the epoch */
            break;
        }
    }
    if (more < 0 && !rc)
        rc = ML_ENOMEM;
    ml_tensor_free(&dpred);
    ml_tensor_free(&mask);
    if (!rc && more == 0) {
        finish(st, loss);
        *done = 1;
    }
    return rc;
}

int ml_train_epoch(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_optim_t *opt,
                   ml_batcher_t *b, int64_t epoch, double clip, int allow_nonfinite,
                   ml_epoch_stats_t *st)
{
    int done;
    memset(st, 0, sizeof *st);
    int rc = ml_train_steps(m, loss, reduce, opt, b, epoch, clip, allow_nonfinite, HUGE_VAL, st,
                            &done);
    if (rc) /* the sums so far, as means (as before a failed epoch) */
        finish(st, loss);
    return rc;
}

int ml_evaluate(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_batcher_t *b,
                ml_epoch_stats_t *st)
{
    memset(st, 0, sizeof *st);
    const ml_tensor_t *batch[ML_BATCH_MAX_TENSORS];
    ml_tensor_t mask = {0};
    int rc = ML_OK, more, was = m->train;
    m->train = 0;
    if (m->carry)
        ml_model_reset_state(m);
    ml_batcher_start(b, 0);
    while ((more = ml_batcher_next(b, batch)) == 1) {
        const ml_tensor_t *pred;
        double l = 0, correct = 0; /* written by batch_loss when it succeeds */
        int64_t n = 0;
        if ((rc = ml_model_forward_lengths(m, batch[0], b->lengths ? batch[b->lengths] : NULL,
                                           &pred)))
            break;
        if ((rc = batch_loss(m, loss, reduce, &l, &correct, NULL, pred, batch[1],
                             b->weights ? batch[b->weights] : NULL, &mask, &n)))
            break;
        accumulate(st, l, correct, n, reduce);
    }
    if (more < 0 && !rc)
        rc = ML_ENOMEM;
    ml_tensor_free(&mask);
    m->train = was;
    finish(st, loss);
    return rc;
}
