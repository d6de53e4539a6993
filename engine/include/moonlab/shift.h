/* Distribution shift: test sets that differ from training in a known way, tests that tell
 * whether two samples differ, and corrections of a model trained on one for use on the other.
 *
 * Rows are read through ml_shift_rows_t views: a tensor (N, ...) and optionally a list of row
 * numbers into it (a dataset subset), so nothing here copies a feature matrix to select rows.
 * Row r of a tensor is its trailing dimensions flattened (D = numel / N values). Class labels
 * are whole numbers 0..C-1 held as floats, one per row ((N) or (N,1) tensors); "predictions"
 * are either such labels or scores (N, C) whose argmax is the label.
 *
 * Generators write row positions of the view (0-based, ascending) that the caller wraps as an
 * index set over the input dataset, or new tensors where values change (corruptions, labels).
 * Every random choice draws from ml_rng_t streams derived from one seed. Every function
 * returns ML_OK or an error code with a message that starts with `fname` (the caller's name
 * for the operation) and names the argument and its value: "tweak_one: rho = 1.5 is outside
 * [0, 1]". Nothing is left allocated on failure. */
#ifndef MOONLAB_SHIFT_H
#define MOONLAB_SHIFT_H

#include <stdint.h>

#include "moonlab/tensor.h"

/* Rows rows[0..n) of t (0-based, repeats allowed), or all t->shape[0] rows when rows is NULL. */
typedef struct ml_shift_rows {
    const ml_tensor_t *t;
    const int64_t *rows;
    int64_t n;
} ml_shift_rows_t;

/* View of t's rows (rows may be NULL: all rows; n is then ignored). */
ml_shift_rows_t ml_shift_view(const ml_tensor_t *t, const int64_t *rows, int64_t n);
/* Values per row of a view (product of the trailing sizes). */
int64_t ml_shift_width(const ml_shift_rows_t *v);
/* Check that every row number of a view lies inside its tensor (what = "x", "y", ...). */
int ml_shift_check_view(const ml_shift_rows_t *v, const char *fname, const char *what);

/* ---- labels ---- */

/* Class labels of a view: y must be (N) or (N,1) with whole values in 0..nclasses-1 (any
 * value >= 0 when nclasses <= 0). out (v->n). A bad value names its row (1-based) and value. */
int ml_shift_labels(int64_t *out, const ml_shift_rows_t *y, int64_t nclasses, const char *fname,
                    const char *what);
/* 1 if y holds class labels (one whole number >= 0 per row) and then *nclasses = max + 1. */
int ml_shift_is_classes(const ml_shift_rows_t *y, int64_t *nclasses);
/* Predicted labels: scores (n, C) give their argmax (C must equal nclasses when nclasses > 0);
 * labels (n) or (n,1) are checked as ml_shift_labels does. *nclasses_out (may be NULL)
 * receives C for scores, nclasses (or max + 1) for labels. */
int ml_shift_predicted(int64_t *out, int64_t *nclasses_out, const ml_shift_rows_t *p,
                       int64_t nclasses, const char *fname, const char *what);
/* Class frequencies of labels[0..n): priors (nclasses) sum to 1 (all 0 when n = 0). */
void ml_shift_priors(double *priors, const int64_t *labels, int64_t n, int64_t nclasses);
/* A prior vector: nclasses >= 1 finite values >= 0 that sum to 1 within 1e-6. */
int ml_shift_check_priors(const double *priors, int64_t nclasses, const char *fname,
                          const char *what);

/* ---- covariate shift ---- */

/* Selection-biased sample: row i is kept with probability p_i = sigmoid(bias + sum_k
 * coef[k] * x_i[features[k]]) (features: 0-based positions within a flattened row). With
 * size = 0 every row is kept or not independently (Bernoulli); with size > 0, `size` rows are
 * drawn with replacement with probabilities proportional to p_i. out has room for v->n
 * (size = 0) or size positions; *nout receives the count. O(N k + size). */
int ml_shift_select_logistic(int64_t *out, int64_t *nout, const ml_shift_rows_t *x,
                             const int64_t *features, const double *coef, int64_t k,
                             double bias, int64_t size, uint64_t seed, const char *fname);

typedef enum {
    ML_CORRUPT_NOISE = 0,   /* x + N(0, (level/255)^2) */
    ML_CORRUPT_BRIGHTNESS,  /* x + level, level in [-1, 1] */
    ML_CORRUPT_CONTRAST,    /* (x - m) * level + m, m the image's mean, level >= 0 */
    ML_CORRUPT_INVERT,      /* 1 - x */
    ML_CORRUPT_BLUR,        /* Gaussian blur with standard deviation `level` pixels */
    ML_CORRUPT_NKINDS
} ml_corruption_t;

const char *ml_corruption_name(ml_corruption_t kind);
int ml_corruption_from_name(const char *name); /* -1 if unknown */

/* Corrupt round(fraction * n) rows of the view, chosen at random, and copy the others:
 * out is a contiguous tensor (n, trailing sizes of x) the caller allocated. Images must hold
 * values in [0, 1] (checked on every row); results are clipped to [0, 1]. Blur needs the
 * image's height and width: (N, H, W) tensors give them, (N, D) rows are taken as square
 * images (D must be a square) unless height and width are > 0. picked (n, may be NULL) is set
 * to 1 for corrupted rows, 0 for the others; *changed counts the rows whose values differ. */
int ml_shift_corrupt(ml_tensor_t *out, uint8_t *picked, int64_t *changed,
                     const ml_shift_rows_t *x, ml_corruption_t kind, double level,
                     double fraction, int64_t height, int64_t width, uint64_t seed,
                     const char *fname);

/* ---- label shift ---- */

/* Rows per class for m draws with these priors: floor(m * p_c), then one more for the classes
 * with the largest remainders (lower class first on ties), so the counts sum to m. */
void ml_shift_class_counts(int64_t *counts, const double *priors, int64_t nclasses, int64_t m);

/* Resample to class priors (nclasses): counts[c] = ml_shift_class_counts(priors, size) rows of
 * class c. Without replacement each class's rows are a random subset of its rows, and size = 0
 * takes the largest size that every class can fill; with replacement they are drawn uniformly
 * from the class's rows, and size = 0 means n. out has room for n (without replacement) or
 * size (with) positions, ascending; *nout the count. */
int ml_shift_resample(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                      const double *priors, int64_t nclasses, int64_t size, int replace,
                      uint64_t seed, const char *fname);
/* Priors drawn from Dirichlet(alpha, ..., alpha) (alpha > 0). */
int ml_shift_dirichlet(double *priors, int64_t nclasses, double alpha, uint64_t seed,
                       const char *fname);
/* Priors with rho on class k and (1 - rho) / (C - 1) on each other class. */
int ml_shift_tweak_one(double *priors, int64_t nclasses, int64_t k, double rho,
                       const char *fname);
/* Drop round(fraction * n_k) of class k's rows, chosen at random; out (n) keeps the rest. */
int ml_shift_knock_out(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                       int64_t k, double fraction, uint64_t seed, const char *fname);
/* Keep only class k's rows. */
int ml_shift_keep_class(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                        int64_t k, const char *fname);

/* ---- concept shift ---- */

/* Relabelling: a row's new label is map[old label] (map NULL: the old label), applied where
 * the rule holds. The rule: feature < 0 means every row; otherwise x_i[feature] > threshold
 * (above = 1) or <= threshold (above = 0). With fraction < 1 only a random part of the rows
 * where the rule holds is relabelled: row r of the tensor is picked when a uniform number
 * derived from (seed, r) is below fraction, so a row that appears twice in the view gets one
 * label. x (may be NULL without a feature rule) is read at the same tensor rows as y. y_out
 * must be a contiguous tensor shaped like y->t; it receives y's labels with the rows of the
 * view relabelled (rows outside the view are copied unchanged). *changed counts the view's
 * rows whose label changed. */
typedef struct ml_relabel {
    const int64_t *map;     /* (nclasses) new label of each class, or NULL */
    int64_t nclasses;
    int64_t feature;        /* 0-based position in a flattened row; < 0: every row */
    double threshold;
    int above;
    double fraction;        /* in [0, 1] */
} ml_relabel_t;

int ml_shift_relabel(ml_tensor_t *y_out, int64_t *changed, const ml_shift_rows_t *y,
                     const ml_shift_rows_t *x, const ml_relabel_t *rule, uint64_t seed,
                     const char *fname);

/* Mean of the after-view's rows minus the before-view's, per value (diff, width D, may be
 * NULL) and its Euclidean norm. Both views must have the same row width. */
int ml_shift_mean_shift(double *diff, double *norm, const ml_shift_rows_t *before,
                        const ml_shift_rows_t *after, const char *fname);

/* ---- distributions (p-values) ---- */

/* Kolmogorov's limiting distribution: P(K > x), K = sup |Brownian bridge|. */
double ml_stat_kolmogorov_sf(double x);
/* Exact two-sample Smirnov tail for continuous data: P(max_t |F_n(t) - G_m(t)| >= h / (n m)),
 * h the statistic times n m (an integer). Lattice-path count, O(n m). */
double ml_stat_ks2_exact_sf(int64_t n, int64_t m, int64_t h);
/* Two-sample KS test of a (n) against b (m); both are sorted in place. *d the statistic
 * sup |F_a - F_b| (ties handled), *p its two-sided p-value: exact when n m <= 1e7, else
 * Kolmogorov's limit at sqrt(n m / (n + m)) d. */
int ml_stat_ks2(double *d, double *p, double *a, int64_t n, double *b, int64_t m,
                const char *fname);
/* Regularized incomplete gamma functions P(a, x) and Q(a, x) = 1 - P(a, x), a > 0, x >= 0. */
double ml_stat_gamma_p(double a, double x);
double ml_stat_gamma_q(double a, double x);
/* P(X > x) for X ~ chi-squared with df degrees of freedom. */
double ml_stat_chi2_sf(double x, double df);
/* P(X >= k) for X ~ Binomial(n, p). */
double ml_stat_binom_sf(int64_t k, int64_t n, double p);

/* ---- detection ---- */

/* Per-dimension two-sample KS tests of a (n, K) against b (m, K): stat[j], p[j] for every
 * column j of the flattened rows; *p_adjusted = min(1, K min_j p[j]) (Bonferroni). */
int ml_shift_ks_test(double *stat, double *p, double *p_adjusted, const ml_shift_rows_t *a,
                     const ml_shift_rows_t *b, const char *fname);
/* Chi-squared test of homogeneity of two label samples: table (2, nclasses) counts each
 * label in a (row 0) and b (row 1); classes absent from both are left out. *df = classes
 * seen - 1; with df = 0 the statistic is 0 and p 1. No continuity correction. */
int ml_shift_chi2_test(double *stat, double *df, double *p, int64_t *table,
                       const int64_t *la, int64_t n, const int64_t *lb, int64_t m,
                       int64_t nclasses, const char *fname);

/* Pooled samples above this size are refused by the MMD test (its kernel matrix is N^2 floats). */
#define ML_SHIFT_MMD_MAX 8192

/* Kernel two-sample test: the unbiased MMD^2 of a (n) and b (m) rows (n, m >= 2) with the
 * Gaussian kernel exp(-|x - y|^2 / (2 sigma^2)); sigma = bandwidth if > 0, else the median
 * of the distances between distinct rows of the pooled sample. p = (1 + #{permutations whose
 * MMD^2 >= the observed}) / (1 + permutations), the pooled rows reassigned at random. */
int ml_shift_mmd_test(double *mmd2, double *p, double *sigma, const ml_shift_rows_t *a,
                      const ml_shift_rows_t *b, int64_t permutations, double bandwidth,
                      uint64_t seed, const char *fname);

/* Domain-classifier test: a random `holdout` fraction of each sample is held out; a
 * logistic regression (ridge l2) learns to tell the rest of a (label 0) from the rest of b
 * (label 1); on a held-out set with equally many rows of each (the smaller count), it
 * predicts b where its logit exceeds log(n_b train / n_a train) (equal priors). *correct of
 * *total held-out rows are right; *p = P(Binomial(total, 1/2) >= correct). */
int ml_shift_domain_test(double *accuracy, int64_t *correct, int64_t *total, double *p,
                         const ml_shift_rows_t *a, const ml_shift_rows_t *b, double holdout,
                         double l2, uint64_t seed, const char *fname);

/* ---- correction ---- */

/* Logistic regression of label 0 (rows of x0) against label 1 (rows of x1): minimizes
 * sum_i log(1 + exp(z_i)) - y_i z_i + l2/2 |w|^2, z_i = x_i . w + b (the bias is not
 * penalized; scikit-learn's LogisticRegression with C = 1/l2), by Newton's method with
 * conjugate-gradient steps (matrix-free: reads the rows in place). coef (D + 1): the D weights
 * then the bias. Stops when |gradient| <= tol max(1, |initial gradient|) or after max_iter
 * Newton steps; *iters (may be NULL) receives the steps taken. l2 >= 0. */
int ml_shift_logreg(double *coef, int *iters, const ml_shift_rows_t *x0,
                    const ml_shift_rows_t *x1, double l2, int max_iter, double tol,
                    const char *fname);
/* Importance weights: out[i] = min(clip, ratio * exp(x_i . w + b)) for the view's rows,
 * coef as ml_shift_logreg returns it (D + 1). clip <= 0: no clipping. */
int ml_shift_importance(float *out, const ml_shift_rows_t *x, const double *coef,
                        double ratio, double clip, const char *fname);

/* Black-box shift estimation (Lipton et al. 2018). From predictions ps and true labels ys of n
 * held-out source rows, and predictions pt of m target rows:
 *   confusion (C, C): the joint C[i][j] = #{ps = i, ys = j} / n (rows predicted, columns true);
 *   mu (C): mu[i] = #{pt = i} / m;
 *   w (C): argmin |C w - mu|^2 + lambda |w - 1|^2, then clipped at 0 — with a joint C, C w = mu
 *     is solved by w = p_t(y) / p_s(y), the importance weight of each class, not p_t(y);
 *     lambda = ridge if >= 0, else 1 / min(n, m); the ridge pulls w toward 1 (no shift);
 *   priors (C): the target priors w_j p_s(j) (p_s the column sums of C), normalized to 1. */
int ml_shift_bbse(double *w, double *confusion, double *mu, double *priors,
                  const int64_t *ps, const int64_t *ys, int64_t n, const int64_t *pt, int64_t m,
                  int64_t nclasses, double ridge, const char *fname);

/* Probabilities of a view of scores (m, C): rows that sum to 1 (within 1e-3, all >= 0), or
 * logits (logits = 1) turned into probabilities by a softmax. out (m * C), row-major. */
int ml_shift_probabilities(double *out, const ml_shift_rows_t *scores, int logits,
                           const char *fname);
/* EM re-estimation of the target priors (Saerens, Latinne and Decaestecker 2002). probs
 * (m, C) are a source-trained model's posteriors on target rows, source_priors (C) the
 * training priors. Repeats: posteriors ∝ (priors_k / source_priors_k) probs; priors = their
 * mean over the rows, from the source priors, until max |change| < tol or max_iter steps.
 * priors (C) out; posteriors (m * C, may be NULL) the final adjusted posteriors (those of the
 * returned priors); *iters the steps, *converged 1 if the tolerance was met. */
int ml_shift_em(double *priors, double *posteriors, int *iters, int *converged,
                const double *probs, int64_t m, const double *source_priors, int64_t nclasses,
                double tol, int max_iter, const char *fname);
/* Re-calibrate probabilities (m, C) in place for class weights w (C >= 0, not all 0):
 * p(y|x) ∝ w_y p(y|x), rows renormalized (a row whose weighted sum is 0 is left as it was). */
int ml_shift_recalibrate(double *probs, int64_t m, const double *w, int64_t nclasses,
                         const char *fname);

#endif
