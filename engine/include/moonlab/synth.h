/* Synthetic data sets for sequence studies, each drawn from one seeded Philox stream (the same
 * seed gives the same tensors on any machine and thread count). Outputs are new owning
 * tensors; on failure they are left zeroed and the message names the argument and value. */
#ifndef MOONLAB_SYNTH_H
#define MOONLAB_SYNTH_H

#include <stdint.h>

#include "moonlab/tensor.h"

/* series (n, 1): x_t = amplitude * sin(freq * t + phase) + noise * N(0, 1), t = 1..n (d2l's
 * sequence-model data is freq 0.01, amplitude 1, noise 0.2, n 1000). */
int ml_synth_sine(ml_tensor_t *series, int64_t n, double freq, double phase, double amplitude,
                  double noise, uint64_t seed);

/* series (n, 1) of an AR(p) process x_t = c + sum_i phi[i] x_{t-1-i} + noise * N(0, 1),
 * started from zeros and run `burn` steps before the first value kept. A series that grows
 * beyond 1e30 (non-stationary coefficients) is ML_ENAN naming the step. */
int ml_synth_ar(ml_tensor_t *series, int64_t n, const double *phi, int p, double c,
                double noise, int64_t burn, uint64_t seed);

/* The adding problem (Hochreiter & Schmidhuber 1997; the form of Le et al. 2015 and Arjovsky
 * et al. 2016): x (n, t, 2), channel 1 uniform values in [0, 1), channel 2 a marker that is 1
 * at exactly two steps, one drawn uniformly from the first ceil(t/2) steps and one from the
 * rest, 0 elsewhere; y (n, 1) the sum of the two marked values. t >= 2. */
int ml_synth_adding(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, uint64_t seed);

/* The copy task (Arjovsky et al. 2016): ids 1..symbols are data, 0 is blank, symbols + 1 the
 * delimiter. x (n, t + 2 len): len random data symbols, t - 1 blanks, the delimiter, len blanks;
 * y (n, t + 2 len): t + len blanks, then the len data symbols. t >= 1, len >= 1, symbols >= 1. */
int ml_synth_copy(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, int64_t len,
                  int symbols, uint64_t seed);

/* A tagging task whose tag depends on the next token ("Teddy bears" / "Teddy Roosevelt").
 * Vocabulary ids 0..vocab-1: 0..ambiguous-1 are ambiguous words ("Teddy"), the next `names`
 * ids are name words ("Roosevelt"), the rest other words ("bears"). Each token is ambiguous
 * with probability p_ambiguous (uniform among them), else uniform among the other vocab -
 * ambiguous words. Tags: 1 (part of a name) for a name word and for an ambiguous word followed
 * by a name word, 0 otherwise (an ambiguous last word is 0). x, y (n, t).
 *   *best_expected: the exact expected accuracy of the best left-to-right tagger, which sees
 *     only the words up to the one it tags: 1 - (t - 1)/t * p_ambiguous * min(q, 1 - q), with
 *     q = (1 - p_ambiguous) names / (vocab - ambiguous) the chance that the next word is a
 *     name (independent of everything before it);
 *   *best_sample: that tagger's accuracy on the sample drawn (it tags an ambiguous word 1 iff
 *     q > 1/2). A bidirectional model can reach 1. */
typedef struct ml_tagging {
    int vocab, ambiguous, names;
    double p_ambiguous;
} ml_tagging_t;
int ml_synth_tagging(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, const ml_tagging_t *o,
                     uint64_t seed, double *best_expected, double *best_sample);

#endif
