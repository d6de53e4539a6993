/* Losses over a batch. Each returns the scalar loss and, if dpred is non-NULL, writes (not
 * accumulates) d loss / d pred into it.
 *
 * Conventions (stated because they are a known trap):
 * - squared loss per sample is 1/2 * sum_c (pred - target)^2 (d2l's (y_hat - y)^2 / 2);
 * - cross-entropy takes logits (B, C) and class indices (B) stored as floats, fused with
 *   log-softmax; binary cross-entropy takes logits and targets in [0, 1], both (B, C), and sums
 *   over C per sample;
 * - reduction: ML_REDUCE_MEAN divides the (weighted) sum over samples by the number of samples
 *   B, ML_REDUCE_WEIGHTED_MEAN by the sum of the weights (PyTorch's weighted cross-entropy),
 *   ML_REDUCE_SUM does not divide. Without weights every weight is 1 and the two means agree.
 * - sequence outputs: pred (B, T, C) with targets (B, T) (cross-entropy) or (B, T, C) gives one
 *   term per step: the same as (B·T) rows, so "mean" averages over all B·T steps; per-step weights
 *   (B, T) — a 0/1 mask of real steps with "weighted_mean" averages over the real steps only. */
#ifndef MOONLAB_LOSS_H
#define MOONLAB_LOSS_H

#include "moonlab/tensor.h"

typedef enum { ML_LOSS_MSE = 0, ML_LOSS_CROSS_ENTROPY, ML_LOSS_BCE_LOGITS, ML_LOSS_NKINDS } ml_loss_kind_t;
typedef enum { ML_REDUCE_MEAN = 0, ML_REDUCE_WEIGHTED_MEAN, ML_REDUCE_SUM } ml_reduce_t;

/* pred (B, C); target (B, C) for MSE and BCE, (B) or (B, 1) class indices for cross-entropy;
 * weights (B) or NULL; dpred (B, C) or NULL. *correct (may be NULL) receives the (weighted)
 * number of rows whose argmax is the target (cross-entropy) or whose sign-thresholded logits
 * all match the targets (BCE); 0 for MSE. */
int ml_loss(ml_loss_kind_t kind, ml_reduce_t reduce, double *loss, double *correct,
            ml_tensor_t *dpred, const ml_tensor_t *pred, const ml_tensor_t *target,
            const ml_tensor_t *weights);

const char *ml_loss_name(ml_loss_kind_t kind);
int ml_loss_kind_from_name(const char *name);

#endif
