#include "moonlab/train.h"

#include <math.h>
#include <string.h>

#include "moonlab/error.h"

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

int ml_train_epoch(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_optim_t *opt,
                   ml_batcher_t *b, int64_t epoch, double clip, int allow_nonfinite,
                   ml_epoch_stats_t *st)
{
    memset(st, 0, sizeof *st);
    ml_tensor_t dpred = {0};
    const ml_tensor_t *batch[ML_BATCH_MAX_TENSORS];
    int rc = ML_OK, more;
    m->train = 1;
    ml_batcher_start(b, epoch);
    while ((more = ml_batcher_next(b, batch)) == 1) {
        const ml_tensor_t *pred;
        double l, correct;
        if ((rc = ml_model_forward(m, batch[0], &pred)))
            break;
        if ((rc = loss_grad_buffer(&dpred, pred)))
            break;
        if ((rc = ml_loss(loss, reduce, &l, &correct, &dpred, pred, batch[1],
                          b->nt > 2 ? batch[2] : NULL)))
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
        accumulate(st, l, correct, terms(pred), reduce);
    }
    if (more < 0 && !rc)
        rc = ML_ENOMEM;
    ml_tensor_free(&dpred);
    finish(st, loss);
    return rc;
}

int ml_evaluate(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_batcher_t *b,
                ml_epoch_stats_t *st)
{
    memset(st, 0, sizeof *st);
    const ml_tensor_t *batch[ML_BATCH_MAX_TENSORS];
    int rc = ML_OK, more, was = m->train;
    m->train = 0;
    ml_batcher_start(b, 0);
    while ((more = ml_batcher_next(b, batch)) == 1) {
        const ml_tensor_t *pred;
        double l, correct;
        if ((rc = ml_model_forward(m, batch[0], &pred)))
            break;
        if ((rc = ml_loss(loss, reduce, &l, &correct, NULL, pred, batch[1],
                          b->nt > 2 ? batch[2] : NULL)))
            break;
        accumulate(st, l, correct, terms(pred), reduce);
    }
    if (more < 0 && !rc)
        rc = ML_ENOMEM;
    m->train = was;
    finish(st, loss);
    return rc;
}
