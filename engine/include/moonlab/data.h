/* Minibatches over aligned tensors (X, y and optional per-sample weights): every tensor has the
 * same first dimension N. Shuffling draws one permutation per epoch from a stream derived from
 * (seed, epoch), so epoch e's order is the same however the run got there (resume included). */
#ifndef MOONLAB_DATA_H
#define MOONLAB_DATA_H

#include <stdint.h>
#include "moonlab/tensor.h"

#define ML_BATCH_MAX_TENSORS 4

typedef struct ml_batcher {
    int nt;
    ml_tensor_t src[ML_BATCH_MAX_TENSORS];   /* views of the data (borrowed) */
    ml_tensor_t buf[ML_BATCH_MAX_TENSORS];   /* gathered batch (owned, when shuffling) */
    ml_tensor_t out[ML_BATCH_MAX_TENSORS];   /* what next() hands out */
    int64_t n, batch, pos;                   /* n: rows in an epoch (the selection's size) */
    int shuffle, drop_last;
    uint64_t seed;
    int64_t *order;                          /* (n) epoch order, owned, when shuffling */
    int64_t *rows;                           /* (n) selected source rows, owned; NULL = all */
    int64_t *pick;                           /* (batch) source rows of the current batch */
    int weights, lengths;                    /* index of the per-sample weights and of the
                                                sequence lengths among the tensors, 0 = none
                                                (init: weights = 2 when there are 3 tensors) */
} ml_batcher_t;

int ml_batcher_init(ml_batcher_t *b, int nt, const ml_tensor_t *const *ts, int64_t batch,
                    int shuffle, int drop_last, uint64_t seed);
/* Restrict the batches to source rows rows[0..nrows) (0-based, any order, repeats allowed):
 * an index view of the data, nothing is copied but the batches. Call after init, before the
 * first batch. Out-of-range rows give ML_EARG naming the position and value. */
int ml_batcher_select(ml_batcher_t *b, const int64_t *rows, int64_t nrows);
/* Rewind for epoch (0-based); reshuffles when shuffling. */
void ml_batcher_start(ml_batcher_t *b, int64_t epoch);
/* Next batch: returns 1 and points out[i] at batch tensor i, or 0 at the end of the epoch. */
int ml_batcher_next(ml_batcher_t *b, const ml_tensor_t **out);
void ml_batcher_free(ml_batcher_t *b);

/* Windows for truncated backpropagation through time over one long stream of ids (N): the
 * stream is cut into B parallel streams of L = floor(N / B) consecutive ids (stream b holds
 * ids[b·L, b·L + L)), each read as W = floor((L - 1) / k) windows of k steps. Row w·B + b of x
 * (W·B, k) is window w of stream b, and the same row of y holds the ids one step later (the
 * next-id targets). Batches of B consecutive rows, unshuffled, are then window w of every stream
 * in turn, so a model that carries its states from batch to batch reads each stream without a
 * gap. The ids left over (fewer than B·k + B) are not used.
 * ml_stream_windows_count gives W (0: the stream is too short, with the error message set). */
int64_t ml_stream_windows_count(int64_t n, int64_t B, int64_t k);
/* x and y must be (W·B, k), contiguous; ids (N) any stride. */
int ml_stream_windows(ml_tensor_t *x, ml_tensor_t *y, const ml_tensor_t *ids, int64_t B,
                      int64_t k);

#endif
