/* Preprocessing fitted on the training rows and applied to any rows: per-feature moments and
 * ranges, the affine map that standardizes or rescales, one-hot labels, and sliding windows
 * over a series.
 *
 * A data tensor x is (N, ...): N rows, each of F = numel / N features (every position of a
 * row is one feature: an (N, 28, 28) image set has 784). `rows` selects rows (0-based, any
 * order, repeats allowed; NULL = all N), so a fit sees only the rows of an index view and
 * nothing is copied. `global` pools every value of the selected rows into one feature.
 * Statistics are accumulated in double. Results are new owning tensors (the caller frees);
 * on failure outputs are left zeroed and the message names the argument and value. */
#ifndef MOONLAB_PREPROCESS_H
#define MOONLAB_PREPROCESS_H

#include <stdint.h>

#include "moonlab/tensor.h"

/* mean and std (F) (or (1) when global): std is the population standard deviation (ddof 0,
 * as scikit-learn's StandardScaler); a feature with std 0 gets std 1 so that it maps to 0.
 * At least one row must be selected. */
int ml_pre_moments(ml_tensor_t *mean, ml_tensor_t *std, const ml_tensor_t *x,
                   const int64_t *rows, int64_t nrows, int global);
/* lo and hi (F) (or (1)): each feature's minimum and maximum over the selected rows. */
int ml_pre_range(ml_tensor_t *lo, ml_tensor_t *hi, const ml_tensor_t *x, const int64_t *rows,
                 int64_t nrows, int global);

/* out (nrows, ...) = (x[row] - shift) / scale * span + offset, feature by feature (shift and
 * scale have F or 1 elements); inverse = 1 maps back: (x[row] - offset) / span * scale + shift.
 * scale must be non-zero, span non-zero. Standardizing is shift = mean, scale = std, span 1,
 * offset 0; min-max to [a, b] is shift = min, scale = max - min (1 where 0), span = b - a,
 * offset a. */
int ml_pre_affine(ml_tensor_t *out, const ml_tensor_t *x, const int64_t *rows, int64_t nrows,
                  const ml_tensor_t *shift, const ml_tensor_t *scale, double span, double offset,
                  int inverse);

/* *classes = 1 + the largest label among the selected rows; labels (N) or (N, 1) must be
 * whole numbers >= 0 (ML_EARG naming the row and value otherwise). */
int ml_pre_label_count(int64_t *classes, const ml_tensor_t *labels, const int64_t *rows,
                       int64_t nrows);
/* out (nrows, classes): row i has a 1 in column labels[row_i] and 0 elsewhere. A label
 * outside 0..classes-1 is ML_EARG naming its row and value. */
int ml_pre_one_hot(ml_tensor_t *out, const ml_tensor_t *labels, const int64_t *rows,
                   int64_t nrows, int64_t classes);

/* Sliding windows over a series (T) or (T, D), one per `step` time steps:
 *   x (N', w) or (N', w, D): steps s .. s+w-1 of window s = 0, step, 2 step, ...
 *   y (N', k) or (N', k, D): the k steps after the window (s+w .. s+w+k-1); k = 0: y is left
 *     zeroed (windows only)
 * with N' = (T - w - k) / step + 1 (integer division); needs w >= 1, k >= 0, step >= 1 and
 * T >= w + k. The series may be any view. */
int ml_pre_windows(ml_tensor_t *x, ml_tensor_t *y, const ml_tensor_t *series, int64_t w,
                   int64_t k, int64_t step);

#endif
