/* Preprocessing (preprocess.h): fits over selected rows, affine maps, one-hot, windows. */
#include "moonlab/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"

/* Reads row after row of x as F contiguous floats: a pointer into x when its rows are
 * contiguous, else a packed copy in scratch (views of any strides work). */
typedef struct {
    const ml_tensor_t *x;
    int64_t n, f;
    int contiguous;
    ml_tensor_t packed; /* (1, ...) scratch, owned when x is not contiguous */
} reader_t;

/* A reader of the selected rows of x (all of them, *nrows set to their number, when rows is
 * NULL), after checking x's shape and the selection. */
static int reader_init(reader_t *r, const ml_tensor_t *x, const int64_t *rows, int64_t *nrows,
                       const char *fname)
{
    memset(r, 0, sizeof *r);
    if (!rows)
        *nrows = x->ndim >= 1 ? x->shape[0] : 0;
    if (x->ndim < 1)
        return ml__fail(ML_EARG, "%s: x must have at least one dimension (rows)", fname);
    r->x = x;
    r->n = x->shape[0];
    r->f = 1;
    for (int d = 1; d < x->ndim; d++)
        r->f *= x->shape[d];
    if (*nrows < 0)
        return ml__fail(ML_EARG, "%s: %lld rows", fname, (long long)*nrows);
    if (rows)
        for (int64_t i = 0; i < *nrows; i++)
            if (rows[i] < 0 || rows[i] >= r->n)
                return ml__fail(ML_EARG, "%s: row %lld of the selection is %lld, outside 1..%lld",
                                fname, (long long)i + 1, (long long)rows[i] + 1,
                                (long long)r->n);
    r->contiguous = ml_tensor_is_contiguous(x);
    if (!r->contiguous) {
        int64_t shape[ML_MAX_DIMS];
        memcpy(shape, x->shape, sizeof shape);
        shape[0] = 1;
        int rc = ml_tensor_new(&r->packed, x->ndim, shape);
        if (rc)
            return ml__fail(rc, "%s: %s", fname, ml_errmsg());
    }
    return ML_OK;
}

static const float *reader_row(reader_t *r, int64_t row)
{
    if (r->contiguous)
        return r->x->data + row * r->f;
    ml_tensor_t src;
    ml_tensor_rows(&src, r->x, row, 1);
    ml_tensor_copy(&r->packed, &src);
    return r->packed.data;
}

static void reader_free(reader_t *r)
{
    ml_tensor_free(&r->packed);
}

/* reader_init for a fit, which needs at least one value. */
static int fit_init(reader_t *r, const ml_tensor_t *x, const int64_t *rows, int64_t *nrows,
                    const char *fname)
{
    int rc = reader_init(r, x, rows, nrows, fname);
    if (rc)
        return rc;
    if (*nrows < 1 || r->f < 1) {
        reader_free(r);
        return ml__fail(ML_EARG, "%s: no values to fit (%lld rows of %lld features)", fname,
                        (long long)*nrows, (long long)r->f);
    }
    return ML_OK;
}

/* The end of a fit: the two fitted tensors, freed with an error when the rows held NaN (nan)
 * or the statistics came out infinite. */
static int fit_done(ml_tensor_t *a, ml_tensor_t *b, int nan, const char *fname)
{
    if (nan || !ml_tensor_all_finite(a) || !ml_tensor_all_finite(b)) {
        ml_tensor_free(a);
        ml_tensor_free(b);
        return ml__fail(ML_ENAN, "%s: x has NaN or infinite values in the fitted rows", fname);
    }
    return ML_OK;
}

static int64_t pick(const int64_t *rows, int64_t i)
{
    return rows ? rows[i] : i;
}

/* Output tensors of the statistics: the feature shape (x's shape without its rows) or (1). */
static int new_stats(ml_tensor_t *a, ml_tensor_t *b, const ml_tensor_t *x, int global)
{
    int64_t shape[ML_MAX_DIMS] = {1};
    int nd = 1;
    if (!global && x->ndim > 1) {
        nd = x->ndim - 1;
        memcpy(shape, x->shape + 1, (size_t)nd * sizeof *shape);
    }
    int rc = ml_tensor_new(a, nd, shape);
    if (!rc && (rc = ml_tensor_new(b, nd, shape)) != ML_OK)
        ml_tensor_free(a);
    return rc;
}

int ml_pre_moments(ml_tensor_t *mean, ml_tensor_t *std, const ml_tensor_t *x,
                   const int64_t *rows, int64_t nrows, int global)
{
    memset(mean, 0, sizeof *mean);
    memset(std, 0, sizeof *std);
    if (!x)
        return ml__fail(ML_EARG, "standardize: no x");
    reader_t r;
    int rc = fit_init(&r, x, rows, &nrows, "standardize");
    if (rc)
        return rc;
    int64_t nf = global ? 1 : r.f;
    double *sum = calloc((size_t)nf * 2, sizeof *sum);
    if (!sum || new_stats(mean, std, x, global) != ML_OK) {
        free(sum);
        reader_free(&r);
        return ml__fail(ML_ENOMEM, "standardize: out of memory");
    }
    double *sq = sum + nf;
    /* two passes: the mean, then squared deviations from it (no cancellation) */
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t i = 0; i < nrows; i++) {
            const float *v = reader_row(&r, pick(rows, i));
            if (global) {
                double s = 0;
                for (int64_t j = 0; j < r.f; j++)
                    s += pass ? (v[j] - sum[0]) * (v[j] - sum[0]) : v[j];
                (pass ? sq : sum)[0] += s;
            } else if (pass == 0) {
                for (int64_t j = 0; j < r.f; j++)
                    sum[j] += v[j];
            } else {
                for (int64_t j = 0; j < r.f; j++)
                    sq[j] += (v[j] - sum[j]) * (v[j] - sum[j]);
            }
        }
        if (pass == 0) {
            double count = global ? (double)nrows * (double)r.f : (double)nrows;
            for (int64_t j = 0; j < nf; j++)
                sum[j] /= count;
        }
    }
    double count = global ? (double)nrows * (double)r.f : (double)nrows;
    for (int64_t j = 0; j < nf; j++) {
        double sd = sqrt(sq[j] / count);
        mean->data[j] = (float)sum[j];
        std->data[j] = sd > 0 && (float)sd > 0 ? (float)sd : 1.0f;
    }
    free(sum);
    reader_free(&r);
    return fit_done(mean, std, 0, "standardize");
}

int ml_pre_range(ml_tensor_t *lo, ml_tensor_t *hi, const ml_tensor_t *x, const int64_t *rows,
                 int64_t nrows, int global)
{
    memset(lo, 0, sizeof *lo);
    memset(hi, 0, sizeof *hi);
    if (!x)
        return ml__fail(ML_EARG, "minmax: no x");
    reader_t r;
    int rc = fit_init(&r, x, rows, &nrows, "minmax");
    if (rc)
        return rc;
    if ((rc = new_stats(lo, hi, x, global)) != ML_OK) {
        reader_free(&r);
        return ml__fail(rc, "minmax: %s", ml_errmsg());
    }
    int64_t nf = global ? 1 : r.f;
    for (int64_t j = 0; j < nf; j++) {
        lo->data[j] = INFINITY;
        hi->data[j] = -INFINITY;
    }
    int nan = 0;
    for (int64_t i = 0; i < nrows; i++) {
        const float *v = reader_row(&r, pick(rows, i));
        for (int64_t j = 0; j < r.f; j++) {
            int64_t k = global ? 0 : j;
            nan |= v[j] != v[j];
            lo->data[k] = v[j] < lo->data[k] ? v[j] : lo->data[k];
            hi->data[k] = v[j] > hi->data[k] ? v[j] : hi->data[k];
        }
    }
    reader_free(&r);
    return fit_done(lo, hi, nan, "minmax");
}

int ml_pre_affine(ml_tensor_t *out, const ml_tensor_t *x, const int64_t *rows, int64_t nrows,
                  const ml_tensor_t *shift, const ml_tensor_t *scale, double span, double offset,
                  int inverse)
{
    memset(out, 0, sizeof *out);
    if (!x)
        return ml__fail(ML_EARG, "transform: no x");
    reader_t r;
    int rc = reader_init(&r, x, rows, &nrows, "transform");
    if (rc)
        return rc;
    int64_t ns = shift ? ml_tensor_numel(shift) : 0;
    if (!shift || !scale || ns != ml_tensor_numel(scale) || !(ns == 1 || ns == r.f) ||
        !ml_tensor_is_contiguous(shift) || !ml_tensor_is_contiguous(scale)) {
        reader_free(&r);
        return ml__fail(ML_ESHAPE,
                        "transform: the fitted statistics have %lld values, x has %lld features "
                        "per row (fitted on data of another shape?)",
                        (long long)ns, (long long)r.f);
    }
    for (int64_t j = 0; j < ns; j++)
        if (scale->data[j] == 0.0f || !isfinite(scale->data[j])) {
            reader_free(&r);
            return ml__fail(ML_EARG, "transform: scale %lld is %g", (long long)j + 1,
                            (double)scale->data[j]);
        }
    if (span == 0.0 || !isfinite(span) || !isfinite(offset)) {
        reader_free(&r);
        return ml__fail(ML_EARG, "transform: range width %g and start %g", span, offset);
    }
    int64_t shape[ML_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[0] = nrows;
    if ((rc = ml_tensor_new(out, x->ndim, shape)) != ML_OK) {
        reader_free(&r);
        return ml__fail(rc, "transform: %s", ml_errmsg());
    }
    int64_t step = ns == 1 ? 0 : 1;
    for (int64_t i = 0; i < nrows; i++) {
        const float *v = reader_row(&r, pick(rows, i));
        float *o = out->data + i * r.f;
        const float *sh = shift->data, *sc = scale->data;
        for (int64_t j = 0; j < r.f; j++) {
            double a = sh[j * step], b = sc[j * step];
            /* the difference in float, as max - min was taken: the maximum maps exactly to
             * the end of the range */
            float diff = v[j] - sh[j * step];
            o[j] = inverse ? (float)((v[j] - offset) / span * b + a)
                           : (float)((double)diff / b * span + offset);
        }
    }
    reader_free(&r);
    return ML_OK;
}

static int check_labels(const ml_tensor_t *labels, const char *fname)
{
    if (!labels || labels->ndim < 1 || labels->ndim > 2 ||
        (labels->ndim == 2 && labels->shape[1] != 1))
        return ml__fail(ML_ESHAPE, "%s: labels must be (N) or (N, 1)", fname);
    return ML_OK;
}

static float label_at(const ml_tensor_t *labels, int64_t row)
{
    return labels->data[row * labels->stride[0]];
}

int ml_pre_label_count(int64_t *classes, const ml_tensor_t *labels, const int64_t *rows,
                       int64_t nrows)
{
    *classes = 0;
    int rc = check_labels(labels, "one_hot");
    if (rc)
        return rc;
    int64_t n = labels->shape[0];
    if (!rows)
        nrows = n;
    if (nrows < 1)
        return ml__fail(ML_EARG, "one_hot: no labels to fit");
    float mx = 0;
    for (int64_t i = 0; i < nrows; i++) {
        int64_t row = pick(rows, i);
        if (row < 0 || row >= n)
            return ml__fail(ML_EARG, "one_hot: row %lld is outside 1..%lld", (long long)row + 1,
                            (long long)n);
        float v = label_at(labels, row);
        if (!(v >= 0.0f && v < 16777216.0f) || v != floorf(v))
            return ml__fail(ML_EARG, "one_hot: label of row %lld is %g, not a class index 0, 1, "
                            "2, ...", (long long)row + 1, (double)v);
        mx = v > mx ? v : mx;
    }
    *classes = (int64_t)mx + 1;
    return ML_OK;
}

int ml_pre_one_hot(ml_tensor_t *out, const ml_tensor_t *labels, const int64_t *rows,
                   int64_t nrows, int64_t classes)
{
    memset(out, 0, sizeof *out);
    int rc = check_labels(labels, "one_hot");
    if (rc)
        return rc;
    int64_t n = labels->shape[0];
    if (!rows)
        nrows = n;
    if (classes < 1 || nrows < 0)
        return ml__fail(ML_EARG, "one_hot: %lld classes for %lld rows", (long long)classes,
                        (long long)nrows);
    for (int64_t i = 0; i < nrows; i++) {
        int64_t row = pick(rows, i);
        if (row < 0 || row >= n)
            return ml__fail(ML_EARG, "one_hot: row %lld is outside 1..%lld", (long long)row + 1,
                            (long long)n);
        float v = label_at(labels, row);
        if (!(v >= 0.0f && v < (float)classes) || v != floorf(v))
            return ml__fail(ML_EARG, "one_hot: label of row %lld is %g, outside the %lld "
                            "classes 0..%lld", (long long)row + 1, (double)v,
                            (long long)classes, (long long)classes - 1);
    }
    int64_t shape[2] = {nrows, classes};
    if ((rc = ml_tensor_new(out, 2, shape)) != ML_OK)
        return ml__fail(rc, "one_hot: %s", ml_errmsg());
    for (int64_t i = 0; i < nrows; i++)
        out->data[i * classes + (int64_t)label_at(labels, pick(rows, i))] = 1.0f;
    return ML_OK;
}

int ml_pre_windows(ml_tensor_t *x, ml_tensor_t *y, const ml_tensor_t *series, int64_t w,
                   int64_t k, int64_t step)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (!series || series->ndim < 1 || series->ndim > 2)
        return ml__fail(ML_ESHAPE, "windows: the series must be (T) or (T, D), got %d "
                        "dimensions", series ? series->ndim : 0);
    int64_t t = series->shape[0], d = series->ndim == 2 ? series->shape[1] : 1;
    if (w < 1 || k < 0 || step < 1)
        return ml__fail(ML_EARG, "windows: window %lld, horizon %lld, step %lld: needs window "
                        ">= 1, horizon >= 0, step >= 1", (long long)w, (long long)k,
                        (long long)step);
    if (w > t || k > t - w)
        return ml__fail(ML_EARG, "windows: a window of %lld steps and a horizon of %lld need at "
                        "least %lld steps, the series has %lld", (long long)w, (long long)k,
                        (long long)w + (long long)k, (long long)t);
    if (d < 1)
        return ml__fail(ML_ESHAPE, "windows: the series has no features");
    int64_t n = (t - w - k) / step + 1;
    int vec = series->ndim == 2;
    int64_t xs[3] = {n, w, d}, ys[3] = {n, k, d};
    int rc = ml_tensor_new(x, vec ? 3 : 2, xs);
    if (!rc && k > 0 && (rc = ml_tensor_new(y, vec ? 3 : 2, ys)) != ML_OK)
        ml_tensor_free(x);
    if (rc)
        return ml__fail(rc, "windows: %s", ml_errmsg());
    int64_t s0 = series->stride[0], s1 = vec ? series->stride[1] : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t start = i * step;
        float *xo = x->data + i * w * d;
        for (int64_t s = 0; s < w; s++)
            for (int64_t j = 0; j < d; j++)
                xo[s * d + j] = series->data[(start + s) * s0 + j * s1];
        if (k == 0)
            continue;
        float *yo = y->data + i * k * d;
        for (int64_t s = 0; s < k; s++)
            for (int64_t j = 0; j < d; j++)
                yo[s * d + j] = series->data[(start + w + s) * s0 + j * s1];
    }
    return ML_OK;
}
