/* Dense float32 tensors of up to four dimensions with element strides.
 *
 * A tensor either owns its buffer (ml_tensor_new) or is a view into another tensor's buffer
 * (slice, transpose, reshape); views never free. The struct is a plain value: the caller owns
 * it and calls ml_tensor_free on owners exactly once (free on a view or a zeroed struct is a
 * no-op, and free is idempotent). */
#ifndef MOONLAB_TENSOR_H
#define MOONLAB_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define ML_MAX_DIMS 4

typedef struct ml_tensor {
    float *data;                   /* first element */
    int ndim;                      /* 0 (scalar) .. ML_MAX_DIMS */
    int owns;                      /* 1 if data was allocated by ml_tensor_new */
    int64_t shape[ML_MAX_DIMS];
    int64_t stride[ML_MAX_DIMS];   /* in elements */
} ml_tensor_t;

/* Allocate a zero-filled contiguous (row-major) tensor. Sizes must be >= 0. */
int ml_tensor_new(ml_tensor_t *t, int ndim, const int64_t *shape);
/* Release an owning tensor; a no-op on views. Leaves *t zeroed. */
void ml_tensor_free(ml_tensor_t *t);
/* Make *t hold exactly `shape`, reallocating only when the capacity is too small
 * (used by layers for buffers sized on first use and reused after). */
int ml_tensor_ensure(ml_tensor_t *t, int ndim, const int64_t *shape);

int64_t ml_tensor_numel(const ml_tensor_t *t);
int ml_tensor_is_contiguous(const ml_tensor_t *t);
/* Pointer to element idx[0..ndim). No bounds check: callers check. */
float *ml_tensor_at(const ml_tensor_t *t, const int64_t *idx);

/* Views (no copy). `out` becomes a view of `src`. */
int ml_tensor_slice(ml_tensor_t *out, const ml_tensor_t *src, int dim, int64_t start,
                    int64_t stop, int64_t step);
int ml_tensor_transpose(ml_tensor_t *out, const ml_tensor_t *src, int d0, int d1);
/* Reshape without copy: src must be contiguous; one size may be -1 (inferred). */
int ml_tensor_reshape(ml_tensor_t *out, const ml_tensor_t *src, int ndim, const int64_t *shape);
/* View of rows [start, start+n) of a tensor along dim 0 (the common batch case). */
int ml_tensor_rows(ml_tensor_t *out, const ml_tensor_t *src, int64_t start, int64_t n);

/* Copy (any strides) into dst, which must have the same shape. */
int ml_tensor_copy(ml_tensor_t *dst, const ml_tensor_t *src);
int ml_tensor_fill(ml_tensor_t *t, float v);
/* 1 if every element is finite. */
int ml_tensor_all_finite(const ml_tensor_t *t);
double ml_tensor_sum(const ml_tensor_t *t);
/* Position of the largest value along the last dimension of t (N, ..., C), 1 < ndim: out, of
 * t's shape without the last dimension, receives 0-based positions 0..C-1 as floats (class ids,
 * the convention of labels). The first of equal largest values wins; NaN values are passed
 * over (a row of NaN only gives 0). t may be any view; C must be at least 1. */
int ml_tensor_argmax(ml_tensor_t *out, const ml_tensor_t *t);
/* Format a shape as "(2,3)" into buf (for error messages); returns buf. */
const char *ml_shape_str(char *buf, size_t n, const ml_tensor_t *t);

/* C = alpha * A @ B + beta * C for 2-D tensors with any strides (transposed operands are
 * transpose views; nothing is copied). A (M,K), B (K,N), C (M,N). Runs on BLIS. */
int ml_tensor_matmul(ml_tensor_t *c, const ml_tensor_t *a, const ml_tensor_t *b, float alpha,
                     float beta);

#endif
