/* The training loop in C: one epoch of minibatch SGD-style training, and evaluation. Lua calls
 * these once per epoch; nothing per sample or per element runs in Lua. */
#ifndef MOONLAB_TRAIN_H
#define MOONLAB_TRAIN_H

#include "moonlab/data.h"
#include "moonlab/loss.h"
#include "moonlab/nn.h"
#include "moonlab/optim.h"

typedef struct ml_epoch_stats {
    double loss;       /* mean training loss over the epoch's samples (as the optimizer saw it) */
    double accuracy;   /* fraction correct (classification losses), else 0 */
    double grad_norm;  /* global gradient norm of the last step */
    int64_t steps;
    int64_t samples;
} ml_epoch_stats_t;

/* Batcher tensors: 0 = X (N, in), 1 = target, and per-sample weights (N) or per-step weights
 * (N, T) and sequence lengths (N) where the batcher's weights and lengths say. With lengths and
 * sequence outputs only real steps enter the loss (the mean is over real steps). clip <= 0
 * disables global-norm clipping. A non-finite loss stops the epoch with ML_ENAN naming the
 * step unless allow_nonfinite is set. With the model in carry mode (ml_model_set_carry) the
 * recurrent states are reset before the first batch and carried from batch to batch (truncated
 * BPTT over consecutive windows; ml_stream_windows), in training and evaluation alike. */
int ml_train_epoch(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_optim_t *opt,
                   ml_batcher_t *b, int64_t epoch, double clip, int allow_nonfinite,
                   ml_epoch_stats_t *st);
/* Steps (batches) in one epoch of the batcher. */
int64_t ml_epoch_steps(const ml_batcher_t *b);
/* Part of an epoch, for checkpoints inside long epochs. st holds the epoch so far: zeros at its
 * start, or what a part that did not end the epoch left there, which are running sums (loss:
 * the sum of the batch losses weighted as ml_train_epoch weights them, accuracy: the number
 * correct, steps and samples so far, grad_norm of the last clipped step). The steps from
 * st->steps on run until the epoch ends, or stop after the first step that ends at least
 * `seconds` after the call began (HUGE_VAL: no limit); the epoch's last step always ends it.
 * *done = 1 when the epoch ended: st then holds its means, as from ml_train_epoch. A part
 * starting at step k > 0 reads the epoch's batch order from its k-th batch and starts from the
 * recurrent states the model holds (in carry mode, the ones the previous part left, or states
 * put back with ml_rnn_set_state); at step 0 they are reset as in ml_train_epoch. An epoch run
 * in parts, with the model, optimizer, dropout stream, carried states and st saved and restored
 * between them, gives the same numbers bit for bit as ml_train_epoch. On an error st holds the
 * running sums. */
int ml_train_steps(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_optim_t *opt,
                   ml_batcher_t *b, int64_t epoch, double clip, int allow_nonfinite,
                   double seconds, ml_epoch_stats_t *st, int *done);
/* Loss and accuracy of the model on the batcher's data (eval mode, no gradients). */
int ml_evaluate(ml_model_t *m, ml_loss_kind_t loss, ml_reduce_t reduce, ml_batcher_t *b,
                ml_epoch_stats_t *st);

#endif
