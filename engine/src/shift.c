/* Distribution shift: generators, two-sample tests and corrections (moonlab/shift.h). */
#include "moonlab/shift.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/rng.h"

/* ---- views ---- */

ml_shift_rows_t ml_shift_view(const ml_tensor_t *t, const int64_t *rows, int64_t n)
{
    ml_shift_rows_t v = {t, rows, rows ? n : (t->ndim > 0 ? t->shape[0] : 0)};
    return v;
}

int64_t ml_shift_width(const ml_shift_rows_t *v)
{
    int64_t d = 1;
    for (int i = 1; i < v->t->ndim; i++)
        d *= v->t->shape[i];
    return d;
}

int ml_shift_check_view(const ml_shift_rows_t *v, const char *fname, const char *what)
{
    if (v->t->ndim < 1)
        return ml__fail(ML_ESHAPE, "%s: %s is a scalar; expected one row per sample", fname, what);
    if (v->n < 0)
        return ml__fail(ML_EARG, "%s: %s has %lld rows", fname, what, (long long)v->n);
    if (v->rows)
        for (int64_t i = 0; i < v->n; i++)
            if (v->rows[i] < 0 || v->rows[i] >= v->t->shape[0])
                return ml__fail(ML_EARG, "%s: %s row %lld is %lld, outside 1..%lld", fname, what,
                                (long long)i + 1, (long long)v->rows[i] + 1,
                                (long long)v->t->shape[0]);
    return ML_OK;
}

static inline int64_t src_row(const ml_shift_rows_t *v, int64_t i)
{
    return v->rows ? v->rows[i] : i;
}

/* 1 if each row's values (dimensions 1..) are contiguous in memory. */
static int rows_contiguous(const ml_tensor_t *t)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= 1; d--) {
        if (t->shape[d] != 1 && t->stride[d] != s)
            return 0;
        s *= t->shape[d];
    }
    return 1;
}

/* The D values of row i of a view: a pointer into the tensor when its rows are contiguous,
 * else gathered into scratch (D floats). */
static const float *row_ptr(const ml_shift_rows_t *v, int64_t i, float *scratch)
{
    const ml_tensor_t *t = v->t;
    const float *base = t->data + src_row(v, i) * t->stride[0];
    if (rows_contiguous(t))
        return base;
    int64_t s1 = t->ndim > 1 ? t->shape[1] : 1, s2 = t->ndim > 2 ? t->shape[2] : 1;
    int64_t s3 = t->ndim > 3 ? t->shape[3] : 1;
    int64_t t1 = t->ndim > 1 ? t->stride[1] : 0, t2 = t->ndim > 2 ? t->stride[2] : 0;
    int64_t t3 = t->ndim > 3 ? t->stride[3] : 0;
    int64_t k = 0;
    for (int64_t a = 0; a < s1; a++)
        for (int64_t b = 0; b < s2; b++)
            for (int64_t c = 0; c < s3; c++)
                scratch[k++] = base[a * t1 + b * t2 + c * t3];
    return scratch;
}

/* Value of a one-per-row tensor ((N) or (N,1)) at source row r. */
static inline float row_value(const ml_tensor_t *t, int64_t r)
{
    return t->data[r * t->stride[0]];
}

static int one_per_row(const ml_tensor_t *t)
{
    return t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1);
}

/* n zero-filled elements of `size` bytes (at least one, so a size of 0 is never asked for);
 * NULL only if allocation fails. Zero-filled so that no path reads garbage. */
static void *zalloc(int64_t n, size_t size)
{
    return calloc((size_t)(n > 0 ? n : 1), size);
}

/* Scratch for one row. */
static float *row_scratch(int64_t d)
{
    return zalloc(d, sizeof(float));
}

static int oom(const char *fname)
{
    return ml__fail(ML_ENOMEM, "%s: out of memory", fname);
}

/* ---- labels ---- */

static int is_class_value(float v)
{
    return isfinite(v) && v >= 0.0f && v == floorf(v) && v < 0x1p52f;
}

int ml_shift_labels(int64_t *out, const ml_shift_rows_t *y, int64_t nclasses, const char *fname,
                    const char *what)
{
    if (!one_per_row(y->t)) {
        char s[64];
        return ml__fail(ML_ESHAPE, "%s: %s is %s; class labels are one number per row, (N) or "
                        "(N,1)", fname, what, ml_shape_str(s, sizeof s, y->t));
    }
    for (int64_t i = 0; i < y->n; i++) {
        float v = row_value(y->t, src_row(y, i));
        if (!is_class_value(v))
            return ml__fail(ML_EARG, "%s: %s row %lld is %g, expected a class label (a whole "
                            "number >= 0)", fname, what, (long long)i + 1, (double)v);
        if (nclasses > 0 && v >= (float)nclasses)
            return ml__fail(ML_EARG, "%s: %s row %lld is class %lld, outside the %lld class%s "
                            "0..%lld", fname, what, (long long)i + 1, (long long)v,
                            (long long)nclasses, nclasses == 1 ? "" : "es",
                            (long long)nclasses - 1);
        out[i] = (int64_t)v;
    }
    return ML_OK;
}

int ml_shift_is_classes(const ml_shift_rows_t *y, int64_t *nclasses)
{
    if (!one_per_row(y->t))
        return 0;
    int64_t mx = -1;
    for (int64_t i = 0; i < y->n; i++) {
        float v = row_value(y->t, src_row(y, i));
        if (!is_class_value(v))
            return 0;
        if ((int64_t)v > mx)
            mx = (int64_t)v;
    }
    *nclasses = mx + 1;
    return 1;
}

int ml_shift_predicted(int64_t *out, int64_t *nclasses_out, const ml_shift_rows_t *p,
                       int64_t nclasses, const char *fname, const char *what)
{
    if (one_per_row(p->t)) {
        int rc = ml_shift_labels(out, p, nclasses, fname, what);
        if (rc)
            return rc;
        int64_t c = nclasses;
        if (c <= 0) {
            c = 0;
            for (int64_t i = 0; i < p->n; i++)
                c = out[i] + 1 > c ? out[i] + 1 : c;
        }
        if (nclasses_out)
            *nclasses_out = c;
        return ML_OK;
    }
    if (p->t->ndim != 2) {
        char s[64];
        return ml__fail(ML_ESHAPE, "%s: %s is %s; expected labels (N) or scores (N,C)", fname,
                        what, ml_shape_str(s, sizeof s, p->t));
    }
    int64_t C = p->t->shape[1];
    if (nclasses > 0 && C != nclasses)
        return ml__fail(ML_ESHAPE, "%s: %s has %lld score columns for %lld classes", fname, what,
                        (long long)C, (long long)nclasses);
    for (int64_t i = 0; i < p->n; i++) {
        const float *r = p->t->data + src_row(p, i) * p->t->stride[0];
        int64_t best = 0;
        float bv = r[0];
        for (int64_t c = 0; c < C; c++) {
            float v = r[c * p->t->stride[1]];
            if (!isfinite(v))
                return ml__fail(ML_ENAN, "%s: %s row %lld holds %g", fname, what,
                                (long long)i + 1, (double)v);
            if (v > bv) {
                bv = v;
                best = c;
            }
        }
        out[i] = best;
    }
    if (nclasses_out)
        *nclasses_out = C;
    return ML_OK;
}

void ml_shift_priors(double *priors, const int64_t *labels, int64_t n, int64_t nclasses)
{
    for (int64_t c = 0; c < nclasses; c++)
        priors[c] = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] >= 0 && labels[i] < nclasses)
            priors[labels[i]] += 1;
    for (int64_t c = 0; c < nclasses && n > 0; c++)
        priors[c] /= (double)n;
}

int ml_shift_check_priors(const double *priors, int64_t nclasses, const char *fname,
                          const char *what)
{
    if (nclasses < 1)
        return ml__fail(ML_EARG, "%s: %s is empty; expected one probability per class", fname,
                        what);
    double sum = 0;
    for (int64_t c = 0; c < nclasses; c++) {
        if (!isfinite(priors[c]) || priors[c] < 0)
            return ml__fail(ML_EARG, "%s: %s[%lld] = %g; priors must be >= 0", fname, what,
                            (long long)c + 1, priors[c]);
        sum += priors[c];
    }
    if (fabs(sum - 1.0) > 1e-6)
        return ml__fail(ML_EARG, "%s: %s sum to %.9g, expected 1", fname, what, sum);
    return ML_OK;
}

/* ---- random helpers ---- */

static double std_normal(ml_rng_t *r)
{
    /* Marsaglia's polar method: two uniforms per accepted pair, one value kept. */
    for (;;) {
        double u = 2.0 * ml_rng_double(r) - 1.0, v = 2.0 * ml_rng_double(r) - 1.0;
        double s = u * u + v * v;
        if (s > 0 && s < 1)
            return u * sqrt(-2.0 * log(s) / s);
    }
}

/* Gamma(a, 1) by Marsaglia and Tsang (2000); a < 1 through Gamma(a + 1) U^(1/a). */
static double gamma_draw(ml_rng_t *r, double a)
{
    if (a < 1.0) {
        double u = 1.0 - ml_rng_double(r); /* (0, 1] */
        return gamma_draw(r, a + 1.0) * pow(u, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = std_normal(r), v = 1.0 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = 1.0 - ml_rng_double(r);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return d * v;
    }
}

/* First k entries of perm (n) become a uniformly random k-subset of 0..n-1 in random order. */
static void partial_shuffle(int64_t *perm, int64_t n, int64_t k, ml_rng_t *r)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    for (int64_t i = 0; i < k && i < n - 1; i++) {
        int64_t j = i + (int64_t)ml_rng_below(r, (uint64_t)(n - i));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* Uniform [0, 1) number that depends only on (key, index). */
static double keyed_uniform(uint64_t key, uint64_t index)
{
    ml_rng_t g;
    ml_rng_seed(&g, key);
    g.counter = index;
    return ml_rng_double(&g);
}

static int check_fraction(double f, const char *fname, const char *what)
{
    if (!(f >= 0.0 && f <= 1.0))
        return ml__fail(ML_EARG, "%s: %s = %g is outside [0, 1]", fname, what, f);
    return ML_OK;
}

/* Positions with count[i] > 0, each count[i] times, ascending. */
static int64_t emit_counts(int64_t *out, const int64_t *count, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < count[i]; c++)
            out[k++] = i;
    return k;
}

/* ---- covariate shift ---- */

/* Walker's alias table for draws proportional to w (n, sum > 0): prob (n), alias (n). */
static int alias_build(double *prob, int64_t *alias, const double *w, int64_t n)
{
    int64_t *small = zalloc(n, sizeof *small), *large = zalloc(n, sizeof *large);
    if (!small || !large) {
        free(small);
        free(large);
        return ML_ENOMEM;
    }
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += w[i];
    int64_t ns = 0, nl = 0;
    for (int64_t i = 0; i < n; i++) {
        prob[i] = w[i] * (double)n / sum;
        alias[i] = i;
        if (prob[i] < 1.0)
            small[ns++] = i;
        else
            large[nl++] = i;
    }
    while (ns > 0 && nl > 0) {
        int64_t s = small[--ns], l = large[nl - 1];
        alias[s] = l;
        prob[l] -= 1.0 - prob[s];
        if (prob[l] < 1.0) {
            nl--;
            small[ns++] = l;
        }
    }
    while (nl > 0)
        prob[large[--nl]] = 1.0;
    while (ns > 0)
        prob[small[--ns]] = 1.0; /* rounding leftovers */
    free(small);
    free(large);
    return ML_OK;
}

static double sigmoid(double z)
{
    return z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
}

int ml_shift_select_logistic(int64_t *out, int64_t *nout, const ml_shift_rows_t *x,
                             const int64_t *features, const double *coef, int64_t k,
                             double bias, int64_t size, uint64_t seed, const char *fname)
{
    *nout = 0;
    int rc = ml_shift_check_view(x, fname, "x");
    if (rc)
        return rc;
    int64_t D = ml_shift_width(x), n = x->n;
    if (k < 1)
        return ml__fail(ML_EARG, "%s: features is empty; name at least one feature", fname);
    for (int64_t j = 0; j < k; j++) {
        if (features[j] < 0 || features[j] >= D)
            return ml__fail(ML_EARG, "%s: features[%lld] = %lld is outside the row's 1..%lld "
                            "values", fname, (long long)j + 1, (long long)features[j] + 1,
                            (long long)D);
        if (!isfinite(coef[j]))
            return ml__fail(ML_EARG, "%s: coef[%lld] = %g is not finite", fname,
                            (long long)j + 1, coef[j]);
    }
    if (!isfinite(bias))
        return ml__fail(ML_EARG, "%s: bias = %g is not finite", fname, bias);
    if (size < 0)
        return ml__fail(ML_EARG, "%s: size = %lld is negative", fname, (long long)size);
    if (size > 0 && n == 0)
        return ml__fail(ML_EARG, "%s: size = %lld from an empty dataset", fname, (long long)size);
    double *p = zalloc(n, sizeof *p);
    float *scratch = row_scratch(D);
    if (!p || !scratch) {
        free(p);
        free(scratch);
        return oom(fname);
    }
    double psum = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *r = row_ptr(x, i, scratch);
        double z = bias;
        for (int64_t j = 0; j < k; j++)
            z += coef[j] * (double)r[features[j]];
        if (!isfinite(z)) {
            free(p);
            free(scratch);
            return ml__fail(ML_ENAN, "%s: x row %lld gives a non-finite selection logit",
                            fname, (long long)i + 1);
        }
        p[i] = sigmoid(z);
        psum += p[i];
    }
    free(scratch);
    ml_rng_t r;
    ml_rng_seed(&r, ml_seed_derive(seed, "shift/select", 0));
    if (size == 0) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (ml_rng_double(&r) < p[i])
                out[m++] = i;
        free(p);
        *nout = m;
        return ML_OK;
    }
    if (!(psum > 0)) {
        free(p);
        return ml__fail(ML_EARG, "%s: every row has selection probability 0", fname);
    }
    double *prob = zalloc(n, sizeof *prob);
    int64_t *alias = zalloc(n, sizeof *alias);
    int64_t *count = zalloc(n, sizeof *count);
    if (!prob || !alias || !count || alias_build(prob, alias, p, n)) {
        free(p);
        free(prob);
        free(alias);
        free(count);
        return oom(fname);
    }
    for (int64_t s = 0; s < size; s++) {
        int64_t i = (int64_t)ml_rng_below(&r, (uint64_t)n);
        count[ml_rng_double(&r) < prob[i] ? i : alias[i]]++;
    }
    *nout = emit_counts(out, count, n);
    free(p);
    free(prob);
    free(alias);
    free(count);
    return ML_OK;
}

static const char *const corruption_names[ML_CORRUPT_NKINDS] = {
    [ML_CORRUPT_NOISE] = "noise",   [ML_CORRUPT_BRIGHTNESS] = "brightness",
    [ML_CORRUPT_CONTRAST] = "contrast", [ML_CORRUPT_INVERT] = "invert",
    [ML_CORRUPT_BLUR] = "blur",
};

const char *ml_corruption_name(ml_corruption_t kind)
{
    return (unsigned)kind < ML_CORRUPT_NKINDS ? corruption_names[kind] : "?";
}

int ml_corruption_from_name(const char *name)
{
    for (int k = 0; k < ML_CORRUPT_NKINDS; k++)
        if (strcmp(corruption_names[k], name) == 0)
            return k;
    return -1;
}

static float clip01(double v)
{
    return v < 0 ? 0.0f : v > 1 ? 1.0f : (float)v;
}

/* Separable Gaussian blur of an H x W image in place, edges replicated. pad: W + 2R floats,
 * tmp: H * W floats; kern: 2R + 1 weights. Both passes run along contiguous rows. */
static void blur_image(float *img, float *tmp, float *pad, int64_t H, int64_t W,
                       const float *kern, int64_t R)
{
    for (int64_t i = 0; i < H; i++) {
        const float *row = img + i * W;
        for (int64_t j = 0; j < W + 2 * R; j++) {
            int64_t jj = j - R < 0 ? 0 : j - R >= W ? W - 1 : j - R;
            pad[j] = row[jj];
        }
        float *o = tmp + i * W;
        for (int64_t j = 0; j < W; j++)
            o[j] = 0;
        for (int64_t k = 0; k <= 2 * R; k++)
            for (int64_t j = 0; j < W; j++)
                o[j] += kern[k] * pad[j + k];
    }
    for (int64_t i = 0; i < H; i++) {
        float *o = pad; /* one output row at a time: img is still read through tmp only */
        for (int64_t j = 0; j < W; j++)
            o[j] = 0;
        for (int64_t k = 0; k <= 2 * R; k++) {
            int64_t ii = i + k - R < 0 ? 0 : i + k - R >= H ? H - 1 : i + k - R;
            const float *src = tmp + ii * W;
            for (int64_t j = 0; j < W; j++)
                o[j] += kern[k] * src[j];
        }
        for (int64_t j = 0; j < W; j++)
            img[i * W + j] = clip01(o[j]);
    }
}

static int check_level(ml_corruption_t kind, double level, const char *fname)
{
    switch (kind) {
    case ML_CORRUPT_NOISE:
        if (!(level > 0 && level <= 1e6))
            return ml__fail(ML_EARG, "%s: noise level = %g must be > 0 (sigma = level/255; "
                            "1, 10 and 100 are the usual severities)", fname, level);
        break;
    case ML_CORRUPT_BRIGHTNESS:
        if (!(level >= -1 && level <= 1))
            return ml__fail(ML_EARG, "%s: brightness level = %g is outside [-1, 1] (added to "
                            "every pixel)", fname, level);
        break;
    case ML_CORRUPT_CONTRAST:
        if (!(level >= 0 && level <= 1e6))
            return ml__fail(ML_EARG, "%s: contrast level = %g must be >= 0 (the factor on "
                            "each pixel's distance from the image mean)", fname, level);
        break;
    case ML_CORRUPT_BLUR:
        if (!(level > 0 && level <= 1e3))
            return ml__fail(ML_EARG, "%s: blur level = %g must be > 0 (the Gaussian's "
                            "standard deviation in pixels)", fname, level);
        break;
    case ML_CORRUPT_INVERT:
        break;
    default:
        return ml__fail(ML_EARG, "%s: unknown corruption %d", fname, (int)kind);
    }
    return ML_OK;
}

int ml_shift_corrupt(ml_tensor_t *out, uint8_t *picked, int64_t *changed,
                     const ml_shift_rows_t *x, ml_corruption_t kind, double level,
                     double fraction, int64_t height, int64_t width, uint64_t seed,
                     const char *fname)
{
    *changed = 0;
    int rc = ml_shift_check_view(x, fname, "x");
    if (!rc)
        rc = check_level(kind, level, fname);
    if (!rc)
        rc = check_fraction(fraction, fname, "fraction");
    if (rc)
        return rc;
    int64_t n = x->n, D = ml_shift_width(x);
    int same = out->ndim == x->t->ndim && out->shape[0] == n && ml_tensor_is_contiguous(out);
    for (int d = 1; same && d < out->ndim; d++)
        same = out->shape[d] == x->t->shape[d];
    if (!same) {
        char s0[64], s1[64];
        return ml__fail(ML_ESHAPE, "%s: output is %s for %lld rows of %s", fname,
                        ml_shape_str(s0, sizeof s0, out), (long long)n,
                        ml_shape_str(s1, sizeof s1, x->t));
    }
    int64_t H = 0, W = 0;
    if (kind == ML_CORRUPT_BLUR) {
        if (height > 0 || width > 0) {
            H = height;
            W = width;
        } else if (x->t->ndim == 3) {
            H = x->t->shape[1];
            W = x->t->shape[2];
        } else {
            W = H = (int64_t)llround(sqrt((double)D));
        }
        if (H < 1 || W < 1 || H * W != D)
            return ml__fail(ML_ESHAPE, "%s: blur needs images: rows of %lld values are not "
                            "%lld x %lld images (pass height and width)", fname, (long long)D,
                            (long long)H, (long long)W);
    }
    /* Copy every row, checking that images hold values in [0, 1]. */
    float *scratch = row_scratch(D);
    if (!scratch)
        return oom(fname);
    for (int64_t i = 0; i < n; i++) {
        const float *r = row_ptr(x, i, scratch);
        float *o = out->data + i * D;
        for (int64_t j = 0; j < D; j++) {
            if (!(r[j] >= 0.0f && r[j] <= 1.0f)) {
                double bad = r[j]; /* r may point into scratch */
                free(scratch);
                return ml__fail(ML_EARG, "%s: x row %lld holds %g at value %lld; corruptions "
                                "take images with values in [0, 1] (scale pixels by 1/255)",
                                fname, (long long)i + 1, bad, (long long)j + 1);
            }
            o[j] = r[j];
        }
    }
    int64_t k = (int64_t)llround(fraction * (double)n);
    k = k > n ? n : k;
    int64_t *perm = zalloc(n, sizeof *perm);
    uint8_t *mark = zalloc(n, 1);
    int64_t R = kind == ML_CORRUPT_BLUR ? (int64_t)ceil(3.0 * level) : 0;
    R = R < 1 ? 1 : R;
    float *kern = zalloc(2 * R + 1, sizeof *kern);
    float *tmp = row_scratch(D), *extra = row_scratch(D > W + 2 * R ? D : W + 2 * R);
    if (!perm || !mark || !kern || !tmp || !extra) {
        free(scratch);
        free(perm);
        free(mark);
        free(kern);
        free(tmp);
        free(extra);
        return oom(fname);
    }
    ml_rng_t pick, noise;
    ml_rng_seed(&pick, ml_seed_derive(seed, "shift/corrupt/pick", 0));
    ml_rng_seed(&noise, ml_seed_derive(seed, "shift/corrupt/noise", 0));
    partial_shuffle(perm, n, k, &pick);
    for (int64_t i = 0; i < k; i++)
        mark[perm[i]] = 1;
    if (kind == ML_CORRUPT_BLUR) {
        double ks = 0;
        for (int64_t j = -R; j <= R; j++)
            ks += exp(-0.5 * (double)(j * j) / (level * level));
        for (int64_t j = -R; j <= R; j++)
            kern[j + R] = (float)(exp(-0.5 * (double)(j * j) / (level * level)) / ks);
    }
    double sigma = level / 255.0;
    int64_t nchanged = 0;
    for (int64_t i = 0; i < n; i++) {
        if (picked)
            picked[i] = mark[i];
        if (!mark[i])
            continue;
        float *o = out->data + i * D;
        memcpy(tmp, o, (size_t)D * sizeof *tmp); /* the original, to count changes */
        switch (kind) {
        case ML_CORRUPT_NOISE:
            ml_rng_normal(&noise, extra, D, 0.0f, (float)sigma);
            for (int64_t j = 0; j < D; j++)
                o[j] = clip01((double)o[j] + extra[j]);
            break;
        case ML_CORRUPT_BRIGHTNESS:
            for (int64_t j = 0; j < D; j++)
                o[j] = clip01((double)o[j] + level);
            break;
        case ML_CORRUPT_CONTRAST: {
            double mean = 0;
            for (int64_t j = 0; j < D; j++)
                mean += o[j];
            mean /= (double)(D > 0 ? D : 1);
            for (int64_t j = 0; j < D; j++)
                o[j] = clip01(((double)o[j] - mean) * level + mean);
            break;
        }
        case ML_CORRUPT_INVERT:
            for (int64_t j = 0; j < D; j++)
                o[j] = 1.0f - o[j];
            break;
        case ML_CORRUPT_BLUR:
            blur_image(o, scratch, extra, H, W, kern, R);
            break;
        default:
            break;
        }
        nchanged += memcmp(tmp, o, (size_t)D * sizeof *tmp) != 0;
    }
    *changed = nchanged;
    free(scratch);
    free(perm);
    free(mark);
    free(kern);
    free(tmp);
    free(extra);
    return ML_OK;
}

/* ---- label shift ---- */

void ml_shift_class_counts(int64_t *counts, const double *priors, int64_t nclasses, int64_t m)
{
    int64_t total = 0;
    for (int64_t c = 0; c < nclasses; c++) {
        counts[c] = (int64_t)floor(priors[c] * (double)m);
        total += counts[c];
    }
    /* Hand out what flooring left, largest remainder first (lower class on ties). */
    while (total < m) {
        int64_t best = -1;
        double br = -1;
        for (int64_t c = 0; c < nclasses; c++) {
            double r = priors[c] * (double)m - (double)counts[c];
            if (priors[c] > 0 && r > br) {
                br = r;
                best = c;
            }
        }
        if (best < 0)
            break;
        counts[best]++;
        total++;
    }
}

/* Rows of each class: order (n) lists positions grouped by class, start (C + 1). */
static int group_by_class(int64_t **order, int64_t **start, const int64_t *labels, int64_t n,
                          int64_t C)
{
    *order = zalloc(n, sizeof **order);
    *start = zalloc(C + 1, sizeof **start);
    if (!*order || !*start) {
        free(*order);
        free(*start);
        return ML_ENOMEM;
    }
    for (int64_t i = 0; i < n; i++)
        (*start)[labels[i] + 1]++;
    for (int64_t c = 0; c < C; c++)
        (*start)[c + 1] += (*start)[c];
    int64_t *fill = zalloc(C, sizeof *fill);
    if (!fill) {
        free(*order);
        free(*start);
        return ML_ENOMEM;
    }
    memcpy(fill, *start, (size_t)C * sizeof *fill);
    for (int64_t i = 0; i < n; i++)
        (*order)[fill[labels[i]]++] = i;
    free(fill);
    return ML_OK;
}

static int check_labels_range(const int64_t *labels, int64_t n, int64_t C, const char *fname)
{
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return ml__fail(ML_EARG, "%s: row %lld has label %lld, outside the %lld class%s "
                            "0..%lld", fname, (long long)i + 1, (long long)labels[i],
                            (long long)C, C == 1 ? "" : "es", (long long)C - 1);
    return ML_OK;
}

int ml_shift_resample(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                      const double *priors, int64_t nclasses, int64_t size, int replace,
                      uint64_t seed, const char *fname)
{
    *nout = 0;
    int rc = ml_shift_check_priors(priors, nclasses, fname, "priors");
    if (!rc)
        rc = check_labels_range(labels, n, nclasses, fname);
    if (rc)
        return rc;
    if (size < 0)
        return ml__fail(ML_EARG, "%s: size = %lld is negative", fname, (long long)size);
    if (!replace && size > n)
        return ml__fail(ML_EARG, "%s: size = %lld is more than the %lld rows; without "
                        "replacement at most n (or pass replace = true)", fname,
                        (long long)size, (long long)n);
    int64_t C = nclasses;
    int64_t *order, *start;
    if (group_by_class(&order, &start, labels, n, C))
        return oom(fname);
    int64_t *counts = zalloc(C, sizeof *counts);
    int64_t *mult = zalloc(n, sizeof *mult);
    int64_t *perm = zalloc(n, sizeof *perm);
    if (!counts || !mult || !perm) {
        free(order);
        free(start);
        free(counts);
        free(mult);
        free(perm);
        return oom(fname);
    }
    for (int64_t c = 0; c < C && !rc; c++)
        if (priors[c] > 0 && start[c + 1] == start[c])
            rc = ml__fail(ML_EARG, "%s: priors[%lld] = %g but class %lld has no rows", fname,
                          (long long)c + 1, priors[c], (long long)c);
    int64_t m = size;
    if (m == 0 && replace)
        m = n;
    if (m == 0 && !rc) {
        /* The largest size whose rounded class counts every class can fill. */
        double best = (double)n;
        for (int64_t c = 0; c < C; c++)
            if (priors[c] > 0) {
                double cap = (double)(start[c + 1] - start[c]) / priors[c];
                best = cap < best ? cap : best;
            }
        m = (int64_t)floor(best + 1e-9);
        for (; m > 0; m--) {
            ml_shift_class_counts(counts, priors, C, m);
            int ok = 1;
            for (int64_t c = 0; c < C && ok; c++)
                ok = counts[c] <= start[c + 1] - start[c];
            if (ok)
                break;
        }
    }
    ml_shift_class_counts(counts, priors, C, m);
    for (int64_t c = 0; c < C && !rc; c++) {
        int64_t have = start[c + 1] - start[c];
        if (counts[c] > 0 && (have == 0 || (!replace && counts[c] > have))) {
            rc = ml__fail(ML_EARG, "%s: priors[%lld] = %g asks for %lld rows of class %lld, "
                          "which has %lld%s", fname, (long long)c + 1, priors[c],
                          (long long)counts[c], (long long)c, (long long)have,
                          have ? " (lower size or pass replace = true)" : "");
            break;
        }
    }
    if (!rc) {
        ml_rng_t r;
        ml_rng_seed(&r, ml_seed_derive(seed, "shift/resample", 0));
        for (int64_t c = 0; c < C; c++) {
            int64_t have = start[c + 1] - start[c];
            const int64_t *rows = order + start[c];
            if (replace) {
                for (int64_t s = 0; s < counts[c]; s++)
                    mult[rows[ml_rng_below(&r, (uint64_t)have)]]++;
            } else {
                partial_shuffle(perm, have, counts[c], &r);
                for (int64_t s = 0; s < counts[c]; s++)
                    mult[rows[perm[s]]]++;
            }
        }
        *nout = emit_counts(out, mult, n);
    }
    free(order);
    free(start);
    free(counts);
    free(mult);
    free(perm);
    return rc;
}

int ml_shift_dirichlet(double *priors, int64_t nclasses, double alpha, uint64_t seed,
                       const char *fname)
{
    if (nclasses < 1)
        return ml__fail(ML_EARG, "%s: %lld classes", fname, (long long)nclasses);
    if (!(alpha > 0 && alpha <= 1e12))
        return ml__fail(ML_EARG, "%s: alpha = %g must be > 0", fname, alpha);
    ml_rng_t r;
    ml_rng_seed(&r, ml_seed_derive(seed, "shift/dirichlet", 0));
    double sum = 0;
    for (int64_t c = 0; c < nclasses; c++)
        sum += priors[c] = gamma_draw(&r, alpha);
    if (!(sum > 0)) { /* every draw underflowed (tiny alpha): one class takes all */
        for (int64_t c = 0; c < nclasses; c++)
            priors[c] = 0;
        priors[ml_rng_below(&r, (uint64_t)nclasses)] = 1;
        return ML_OK;
    }
    for (int64_t c = 0; c < nclasses; c++)
        priors[c] /= sum;
    return ML_OK;
}

int ml_shift_tweak_one(double *priors, int64_t nclasses, int64_t k, double rho,
                       const char *fname)
{
    if (nclasses < 2)
        return ml__fail(ML_EARG, "%s: %lld classes; tweak-one needs at least 2", fname,
                        (long long)nclasses);
    if (k < 0 || k >= nclasses)
        return ml__fail(ML_EARG, "%s: class = %lld is outside the %lld classes 0..%lld", fname,
                        (long long)k, (long long)nclasses, (long long)nclasses - 1);
    int rc = check_fraction(rho, fname, "rho");
    if (rc)
        return rc;
    for (int64_t c = 0; c < nclasses; c++)
        priors[c] = c == k ? rho : (1.0 - rho) / (double)(nclasses - 1);
    return ML_OK;
}

int ml_shift_knock_out(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                       int64_t k, double fraction, uint64_t seed, const char *fname)
{
    *nout = 0;
    int rc = check_fraction(fraction, fname, "fraction");
    if (rc)
        return rc;
    if (k < 0)
        return ml__fail(ML_EARG, "%s: class = %lld is negative", fname, (long long)k);
    int64_t have = 0;
    for (int64_t i = 0; i < n; i++)
        have += labels[i] == k;
    int64_t drop = (int64_t)llround(fraction * (double)have);
    int64_t *rows = zalloc(have, sizeof *rows);
    int64_t *perm = zalloc(have, sizeof *perm);
    uint8_t *gone = zalloc(n, 1);
    if (!rows || !perm || !gone) {
        free(rows);
        free(perm);
        free(gone);
        return oom(fname);
    }
    int64_t h = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] == k)
            rows[h++] = i;
    ml_rng_t r;
    ml_rng_seed(&r, ml_seed_derive(seed, "shift/knock_out", 0));
    partial_shuffle(perm, have, drop, &r);
    for (int64_t s = 0; s < drop; s++)
        gone[rows[perm[s]]] = 1;
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (!gone[i])
            out[m++] = i;
    *nout = m;
    free(rows);
    free(perm);
    free(gone);
    return ML_OK;
}

int ml_shift_keep_class(int64_t *out, int64_t *nout, const int64_t *labels, int64_t n,
                        int64_t k, const char *fname)
{
    *nout = 0;
    if (k < 0)
        return ml__fail(ML_EARG, "%s: class = %lld is negative", fname, (long long)k);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] == k)
            out[m++] = i;
    *nout = m;
    return ML_OK;
}

/* ---- concept shift ---- */

int ml_shift_relabel(ml_tensor_t *y_out, int64_t *changed, const ml_shift_rows_t *y,
                     const ml_shift_rows_t *x, const ml_relabel_t *rule, uint64_t seed,
                     const char *fname)
{
    char s0[64], s1[64];
    *changed = 0;
    int rc = ml_shift_check_view(y, fname, "y");
    if (rc)
        return rc;
    int64_t C = rule->nclasses;
    if (!rule->map || C < 1)
        return ml__fail(ML_EARG, "%s: no mapping of classes", fname);
    for (int64_t c = 0; c < C; c++)
        if (rule->map[c] < 0 || rule->map[c] >= C)
            return ml__fail(ML_EARG, "%s: map sends class %lld to %lld, outside the %lld "
                            "classes 0..%lld", fname, (long long)c, (long long)rule->map[c],
                            (long long)C, (long long)C - 1);
    rc = check_fraction(rule->fraction, fname, "fraction");
    if (rc)
        return rc;
    if (y_out->ndim != y->t->ndim || y_out->shape[0] != y->t->shape[0] ||
        ml_tensor_numel(y_out) != y->t->shape[0] || !ml_tensor_is_contiguous(y_out) ||
        !one_per_row(y->t))
        return ml__fail(ML_ESHAPE, "%s: output labels %s for labels %s (one per row)", fname,
                        ml_shape_str(s0, sizeof s0, y_out), ml_shape_str(s1, sizeof s1, y->t));
    int64_t D = 0;
    if (rule->feature >= 0) {
        if (!x || !x->t)
            return ml__fail(ML_EARG, "%s: a rule on a feature needs x", fname);
        if (x->t->ndim < 1 || x->t->shape[0] != y->t->shape[0])
            return ml__fail(ML_ESHAPE, "%s: x is %s for labels %s", fname,
                            ml_shape_str(s0, sizeof s0, x->t), ml_shape_str(s1, sizeof s1, y->t));
        D = ml_shift_width(x);
        if (rule->feature >= D)
            return ml__fail(ML_EARG, "%s: feature = %lld is outside the row's 1..%lld values",
                            fname, (long long)rule->feature + 1, (long long)D);
        if (!isfinite(rule->threshold))
            return ml__fail(ML_EARG, "%s: threshold = %g is not finite", fname, rule->threshold);
    }
    for (int64_t i = 0; i < y->n; i++) {
        float v = row_value(y->t, src_row(y, i));
        if (!is_class_value(v) || v >= (float)C)
            return ml__fail(ML_EARG, "%s: y row %lld is %g, outside the %lld classes 0..%lld of "
                            "the map", fname, (long long)i + 1, (double)v, (long long)C,
                            (long long)C - 1);
    }
    int rc2 = ml_tensor_copy(y_out, y->t);
    if (rc2)
        return rc2;
    float *scratch = D > 0 ? row_scratch(D) : NULL;
    if (D > 0 && !scratch)
        return oom(fname);
    uint64_t key = ml_seed_derive(seed, "shift/relabel", 0);
    int64_t nchanged = 0;
    for (int64_t i = 0; i < y->n; i++) {
        int64_t r = src_row(y, i);
        int64_t old = (int64_t)row_value(y->t, r), lab = old;
        int hold = 1;
        if (rule->feature >= 0) {
            ml_shift_rows_t xv = ml_shift_view(x->t, &r, 1);
            double f = row_ptr(&xv, 0, scratch)[rule->feature];
            hold = rule->above ? f > rule->threshold : f <= rule->threshold;
        }
        if (hold && rule->fraction < 1.0)
            hold = keyed_uniform(key, (uint64_t)r) < rule->fraction;
        if (hold)
            lab = rule->map[old];
        y_out->data[r] = (float)lab;
        nchanged += lab != old;
    }
    free(scratch);
    *changed = nchanged;
    return ML_OK;
}

int ml_shift_mean_shift(double *diff, double *norm, const ml_shift_rows_t *before,
                        const ml_shift_rows_t *after, const char *fname)
{
    int64_t D = ml_shift_width(before);
    if (ml_shift_width(after) != D)
        return ml__fail(ML_ESHAPE, "%s: rows of %lld and %lld values", fname, (long long)D,
                        (long long)ml_shift_width(after));
    double *acc = zalloc(D, sizeof *acc);
    float *scratch = row_scratch(D);
    if (!acc || !scratch) {
        free(acc);
        free(scratch);
        return oom(fname);
    }
    const ml_shift_rows_t *v[2] = {after, before};
    for (int s = 0; s < 2; s++) {
        double sign = s == 0 ? 1.0 : -1.0;
        double inv = v[s]->n > 0 ? sign / (double)v[s]->n : 0.0;
        for (int64_t i = 0; i < v[s]->n; i++) {
            const float *r = row_ptr(v[s], i, scratch);
            for (int64_t j = 0; j < D; j++)
                acc[j] += inv * (double)r[j];
        }
    }
    double ss = 0;
    for (int64_t j = 0; j < D; j++) {
        ss += acc[j] * acc[j];
        if (diff)
            diff[j] = acc[j];
    }
    *norm = sqrt(ss);
    free(acc);
    free(scratch);
    return ML_OK;
}

/* ---- distributions ---- */

double ml_stat_kolmogorov_sf(double x)
{
    if (!(x > 0))
        return 1.0;
    if (x < 1.0) {
        /* P(K <= x) = sqrt(2 pi)/x sum_k exp(-(2k-1)^2 pi^2 / (8 x^2)): fast for small x. */
        double s = 0, f = -M_PI * M_PI / (8.0 * x * x);
        for (int k = 1; k < 50; k++) {
            double t = exp(f * (double)((2 * k - 1) * (2 * k - 1)));
            s += t;
            if (t < 1e-17 * s)
                break;
        }
        double cdf = sqrt(2.0 * M_PI) / x * s;
        return cdf >= 1.0 ? 0.0 : 1.0 - cdf;
    }
    double s = 0;
    for (int k = 1; k < 100; k++) {
        double t = exp(-2.0 * (double)k * (double)k * x * x);
        s += (k % 2 ? 2.0 : -2.0) * t;
        if (t < 1e-17)
            break;
    }
    return s < 0 ? 0 : s > 1 ? 1 : s;
}

double ml_stat_ks2_exact_sf(int64_t n, int64_t m, int64_t h)
{
    if (h <= 0)
        return 1.0;
    if (n < 1 || m < 1)
        return 1.0;
    /* u[j] = (paths from (0,0) to (i,j) that keep |i m - j n| < h) / C(i + j, j). */
    double *u = zalloc(m + 1, sizeof *u);
    if (!u)
        return NAN;
    u[0] = 1.0;
    for (int64_t j = 1; j <= m; j++)
        u[j] = j * n < h ? u[j - 1] : 0.0;
    for (int64_t i = 1; i <= n; i++) {
        int64_t im = i * m;
        u[0] = im < h ? u[0] : 0.0;
        for (int64_t j = 1; j <= m; j++) {
            int64_t dlt = im - j * n;
            if (dlt >= h || -dlt >= h)
                u[j] = 0.0;
            else
                u[j] = ((double)i * u[j] + (double)j * u[j - 1]) / (double)(i + j);
        }
    }
    double p = 1.0 - u[m];
    free(u);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int ml_stat_ks2(double *d, double *p, double *a, int64_t n, double *b, int64_t m,
                const char *fname)
{
    *d = 0;
    *p = 1;
    if (n < 1 || m < 1)
        return ml__fail(ML_EARG, "%s: samples of %lld and %lld values; KS needs both non-empty",
                        fname, (long long)n, (long long)m);
    for (int64_t i = 0; i < n; i++)
        if (isnan(a[i]))
            return ml__fail(ML_ENAN, "%s: first sample value %lld is NaN", fname, (long long)i + 1);
    for (int64_t i = 0; i < m; i++)
        if (isnan(b[i]))
            return ml__fail(ML_ENAN, "%s: second sample value %lld is NaN", fname,
                            (long long)i + 1);
    qsort(a, (size_t)n, sizeof *a, cmp_double);
    qsort(b, (size_t)m, sizeof *b, cmp_double);
    /* D n m = max |i m - j n| over the distinct values, i and j counting values <= t. */
    int64_t i = 0, j = 0, h = 0;
    while (i < n || j < m) {
        double t = i < n && (j >= m || a[i] <= b[j]) ? a[i] : b[j];
        while (i < n && a[i] == t)
            i++;
        while (j < m && b[j] == t)
            j++;
        int64_t dlt = i * m - j * n;
        dlt = dlt < 0 ? -dlt : dlt;
        h = dlt > h ? dlt : h;
    }
    double nm = (double)n * (double)m;
    *d = (double)h / nm;
    if (nm <= 1e7)
        *p = ml_stat_ks2_exact_sf(n, m, h);
    else
        *p = ml_stat_kolmogorov_sf(sqrt(nm / (double)(n + m)) * *d);
    if (isnan(*p))
        return oom(fname);
    return ML_OK;
}

/* x^a e^-x / Gamma(a), the common factor of P and Q. */
static double gamma_front(double a, double x)
{
    return exp(a * log(x) - x - lgamma(a));
}

/* P(a, x) by its power series (x < a + 1). */
static double gamma_p_series(double a, double x)
{
    double term = 1.0 / a, sum = term;
    for (int k = 1; k < 10000; k++) {
        term *= x / (a + k);
        sum += term;
        if (fabs(term) < fabs(sum) * 1e-16)
            break;
    }
    return sum * gamma_front(a, x);
}

/* Q(a, x) by its continued fraction, evaluated with Lentz's method (x >= a + 1). */
static double gamma_q_fraction(double a, double x)
{
    const double tiny = 1e-300;
    double bk = x + 1.0 - a, c = 1.0 / tiny, dk = 1.0 / bk, f = dk;
    for (int k = 1; k < 10000; k++) {
        double ak = -(double)k * ((double)k - a);
        bk += 2.0;
        dk = ak * dk + bk;
        dk = fabs(dk) < tiny ? tiny : dk;
        c = bk + ak / c;
        c = fabs(c) < tiny ? tiny : c;
        dk = 1.0 / dk;
        double delta = dk * c;
        f *= delta;
        if (fabs(delta - 1.0) < 1e-16)
            break;
    }
    return f * gamma_front(a, x);
}

double ml_stat_gamma_p(double a, double x)
{
    if (!(a > 0) || !(x >= 0))
        return NAN;
    if (x == 0)
        return 0.0;
    if (isinf(x))
        return 1.0;
    return x < a + 1.0 ? gamma_p_series(a, x) : 1.0 - gamma_q_fraction(a, x);
}

double ml_stat_gamma_q(double a, double x)
{
    if (!(a > 0) || !(x >= 0))
        return NAN;
    if (x == 0)
        return 1.0;
    if (isinf(x))
        return 0.0;
    return x < a + 1.0 ? 1.0 - gamma_p_series(a, x) : gamma_q_fraction(a, x);
}

double ml_stat_chi2_sf(double x, double df)
{
    if (!(x > 0))
        return 1.0;
    return ml_stat_gamma_q(0.5 * df, 0.5 * x);
}

double ml_stat_binom_sf(int64_t k, int64_t n, double p)
{
    if (k <= 0)
        return 1.0;
    if (k > n || !(p > 0))
        return 0.0;
    if (p >= 1)
        return 1.0;
    /* Sum the terms i = k..n outward from the largest one, so none underflows first. */
    int64_t mode = (int64_t)floor((double)(n + 1) * p);
    int64_t i0 = mode < k ? k : mode > n ? n : mode;
    double lt = lgamma((double)n + 1) - lgamma((double)i0 + 1) - lgamma((double)(n - i0) + 1) +
                (double)i0 * log(p) + (double)(n - i0) * log1p(-p);
    double t0 = exp(lt), sum = t0, odds = p / (1.0 - p), t = t0;
    for (int64_t i = i0; i < n; i++) {
        t *= (double)(n - i) / (double)(i + 1) * odds;
        sum += t;
        if (t < sum * 1e-17)
            break;
    }
    t = t0;
    for (int64_t i = i0; i > k; i--) {
        t *= (double)i / (double)(n - i + 1) / odds;
        sum += t;
        if (t < sum * 1e-17)
            break;
    }
    return sum > 1 ? 1 : sum;
}

/* ---- detection ---- */

/* The source and target views of a two-sample test, checked; *D = the values per row, which
 * must be the same in both. */
static int check_two_samples(int64_t *D, const ml_shift_rows_t *a, const ml_shift_rows_t *b,
                             const char *fname)
{
    int rc = ml_shift_check_view(a, fname, "source");
    if (!rc)
        rc = ml_shift_check_view(b, fname, "target");
    if (rc)
        return rc;
    *D = ml_shift_width(a);
    if (ml_shift_width(b) != *D)
        return ml__fail(ML_ESHAPE, "%s: source rows have %lld values, target rows %lld", fname,
                        (long long)*D, (long long)ml_shift_width(b));
    return ML_OK;
}

/* Columns of a view's rows: out (D, n), column j at out + j n. */
static void gather_columns(double *out, const ml_shift_rows_t *v, int64_t D, float *scratch)
{
    for (int64_t i = 0; i < v->n; i++) {
        const float *r = row_ptr(v, i, scratch);
        for (int64_t j = 0; j < D; j++)
            out[j * v->n + i] = r[j];
    }
}

int ml_shift_ks_test(double *stat, double *p, double *p_adjusted, const ml_shift_rows_t *a,
                     const ml_shift_rows_t *b, const char *fname)
{
    int64_t D;
    int rc = check_two_samples(&D, a, b, fname);
    if (rc)
        return rc;
    if (a->n < 1 || b->n < 1)
        return ml__fail(ML_EARG, "%s: %lld source and %lld target rows; both must be non-empty",
                        fname, (long long)a->n, (long long)b->n);
    double *ca = zalloc(D * a->n, sizeof *ca);
    double *cb = zalloc(D * b->n, sizeof *cb);
    float *scratch = row_scratch(D);
    if (!ca || !cb || !scratch) {
        free(ca);
        free(cb);
        free(scratch);
        return oom(fname);
    }
    gather_columns(ca, a, D, scratch);
    gather_columns(cb, b, D, scratch);
    double pmin = 1.0;
    for (int64_t j = 0; j < D && !rc; j++) {
        rc = ml_stat_ks2(&stat[j], &p[j], ca + j * a->n, a->n, cb + j * b->n, b->n, fname);
        pmin = p[j] < pmin ? p[j] : pmin;
    }
    *p_adjusted = pmin * (double)D > 1 ? 1 : pmin * (double)D;
    free(ca);
    free(cb);
    free(scratch);
    return rc;
}

int ml_shift_chi2_test(double *stat, double *df, double *p, int64_t *table,
                       const int64_t *la, int64_t n, const int64_t *lb, int64_t m,
                       int64_t nclasses, const char *fname)
{
    *stat = 0;
    *df = 0;
    *p = 1;
    if (n < 1 || m < 1)
        return ml__fail(ML_EARG, "%s: %lld source and %lld target labels; both must be "
                        "non-empty", fname, (long long)n, (long long)m);
    int rc = check_labels_range(la, n, nclasses, fname);
    if (!rc)
        rc = check_labels_range(lb, m, nclasses, fname);
    if (rc)
        return rc;
    int64_t C = nclasses;
    memset(table, 0, (size_t)(2 * C) * sizeof *table);
    for (int64_t i = 0; i < n; i++)
        table[la[i]]++;
    for (int64_t i = 0; i < m; i++)
        table[C + lb[i]]++;
    double N = (double)(n + m), s = 0;
    int64_t seen = 0;
    for (int64_t c = 0; c < C; c++) {
        double col = (double)(table[c] + table[C + c]);
        if (col == 0)
            continue;
        seen++;
        double ea = col * (double)n / N, eb = col * (double)m / N;
        double da = (double)table[c] - ea, db = (double)table[C + c] - eb;
        s += da * da / ea + db * db / eb;
    }
    if (seen < 2)
        return ML_OK;
    *stat = s;
    *df = (double)(seen - 1);
    *p = ml_stat_chi2_sf(s, *df);
    return ML_OK;
}

/* k-th smallest of v (n), reordering v (quickselect, Hoare partition). */
static float select_kth(float *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* 2 * sum over pairs i < j within group g (ng rows) of K; and the rows' sums. */
static void group_sums(double *pairs, double *rowsum, const float *K, int64_t N,
                       const int64_t *g, int64_t ng, const double *r)
{
    double s = 0, rs = 0;
    for (int64_t a = 0; a < ng; a++) {
        const float *Ka = K + g[a] * N;
        double t = 0;
        for (int64_t b = a + 1; b < ng; b++)
            t += Ka[g[b]];
        s += t;
        rs += r[g[a]];
    }
    *pairs = 2.0 * s;
    *rowsum = rs;
}

/* Unbiased MMD^2 when group g holds the ng rows of one sample (ng = n: the first sample). */
static double mmd2_of(const float *K, int64_t N, const int64_t *g, int64_t ng, int first,
                      int64_t n, int64_t m, const double *r, double total)
{
    double sgg, rg;
    group_sums(&sgg, &rg, K, N, g, ng, r);
    double s_cross = rg - sgg, s_other = total - 2.0 * rg + sgg;
    double sxx = first ? sgg : s_other, syy = first ? s_other : sgg;
    return sxx / ((double)n * (double)(n - 1)) + syy / ((double)m * (double)(m - 1)) -
           2.0 * s_cross / ((double)n * (double)m);
}

int ml_shift_mmd_test(double *mmd2, double *p, double *sigma, const ml_shift_rows_t *a,
                      const ml_shift_rows_t *b, int64_t permutations, double bandwidth,
                      uint64_t seed, const char *fname)
{
    *mmd2 = 0;
    *p = 1;
    *sigma = 0;
    int64_t D;
    int rc = check_two_samples(&D, a, b, fname);
    if (rc)
        return rc;
    int64_t n = a->n, m = b->n, N = n + m;
    if (n < 2 || m < 2)
        return ml__fail(ML_EARG, "%s: %lld source and %lld target rows; the unbiased MMD needs "
                        "at least 2 of each", fname, (long long)n, (long long)m);
    if (N > ML_SHIFT_MMD_MAX)
        return ml__fail(ML_EARG, "%s: %lld pooled rows, more than %d (the kernel matrix is N^2 "
                        "floats); test a random subset of each sample", fname, (long long)N,
                        ML_SHIFT_MMD_MAX);
    if (permutations < 1 || permutations > 1000000)
        return ml__fail(ML_EARG, "%s: permutations = %lld is outside 1..1000000", fname,
                        (long long)permutations);
    if (!(bandwidth >= 0) || isinf(bandwidth))
        return ml__fail(ML_EARG, "%s: bandwidth = %g must be > 0 (or 0 for the median "
                        "heuristic)", fname, bandwidth);
    ml_tensor_t X = {0}, K = {0};
    int64_t xs[2] = {N, D}, ks[2] = {N, N};
    double *sq = zalloc(N, sizeof *sq), *r = zalloc(N, sizeof *r);
    int64_t *perm = zalloc(N, sizeof *perm), *g = zalloc(N, sizeof *g);
    if (!sq || !r || !perm || !g || ml_tensor_new(&X, 2, xs) || ml_tensor_new(&K, 2, ks)) {
        rc = oom(fname);
        goto done;
    }
    for (int64_t i = 0; i < N; i++) {
        const ml_shift_rows_t *v = i < n ? a : b;
        int64_t ii = i < n ? i : i - n;
        int64_t row1 = src_row(v, ii);
        ml_shift_rows_t one = ml_shift_view(v->t, &row1, 1);
        const float *row = row_ptr(&one, 0, X.data + i * D);
        if (row != X.data + i * D)
            memcpy(X.data + i * D, row, (size_t)D * sizeof(float));
        double s = 0;
        for (int64_t j = 0; j < D; j++) {
            float xv = X.data[i * D + j];
            if (!isfinite(xv)) {
                rc = ml__fail(ML_ENAN, "%s: %s row %lld holds %g", fname,
                              i < n ? "source" : "target", (long long)ii + 1, (double)xv);
                goto done;
            }
            s += (double)xv * xv;
        }
        sq[i] = s;
    }
    /* Squared distances |x_i|^2 + |x_j|^2 - 2 x_i.x_j from one product. */
    ml_tensor_t Xt;
    ml_tensor_transpose(&Xt, &X, 0, 1);
    rc = ml_tensor_matmul(&K, &X, &Xt, 1.0f, 0.0f);
    if (rc)
        goto done;
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < N; j++) {
            double d2 = i == j ? 0.0 : sq[i] + sq[j] - 2.0 * (double)K.data[i * N + j];
            K.data[i * N + j] = (float)(d2 > 0 ? d2 : 0);
        }
    double sg = bandwidth;
    if (sg == 0) {
        int64_t np = N * (N - 1) / 2, k = 0;
        float *pairs = zalloc(np, sizeof *pairs);
        if (!pairs) {
            rc = oom(fname);
            goto done;
        }
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = i + 1; j < N; j++)
                pairs[k++] = K.data[i * N + j];
        /* the median distance: the middle one, or the mean of the middle two */
        double hi = sqrt((double)select_kth(pairs, np, np / 2));
        double lo = np % 2 ? hi : sqrt((double)select_kth(pairs, np, np / 2 - 1));
        free(pairs);
        sg = 0.5 * (lo + hi);
        if (!(sg > 0)) {
            rc = ml__fail(ML_EARG, "%s: the median distance between rows is 0 (most rows are "
                          "equal); pass bandwidth =", fname);
            goto done;
        }
    }
    *sigma = sg;
    double total = 0, scale = -0.5 / (sg * sg);
    for (int64_t i = 0; i < N; i++) {
        double rs = 0;
        for (int64_t j = 0; j < N; j++) {
            float kv = i == j ? 1.0f : (float)exp(scale * (double)K.data[i * N + j]);
            K.data[i * N + j] = kv;
            rs += i == j ? 0.0 : (double)kv;
        }
        r[i] = rs;
        total += rs;
    }
    /* The smaller sample's pairs are summed; the rest follows from the row sums. */
    int first = n <= m;
    int64_t ng = first ? n : m;
    for (int64_t i = 0; i < ng; i++)
        g[i] = first ? i : n + i;
    double obs = mmd2_of(K.data, N, g, ng, first, n, m, r, total);
    ml_rng_t rng;
    ml_rng_seed(&rng, ml_seed_derive(seed, "shift/mmd", 0));
    int64_t ge = 0;
    for (int64_t t = 0; t < permutations; t++) {
        partial_shuffle(perm, N, ng, &rng);
        double s = mmd2_of(K.data, N, perm, ng, first, n, m, r, total);
        ge += s >= obs - 1e-12 * fabs(obs);
    }
    *mmd2 = obs;
    *p = (double)(1 + ge) / (double)(1 + permutations);
done:
    ml_tensor_free(&X);
    ml_tensor_free(&K);
    free(sq);
    free(r);
    free(perm);
    free(g);
    return rc;
}

/* ---- logistic regression ---- */

typedef struct {
    const ml_shift_rows_t *x[2];
    int64_t n, D;
    double l2;
    float *scratch;
} logreg_t;

/* out (n) = X v_w + v_b over the rows of both groups. */
static void lr_matvec(const logreg_t *lr, double *out, const double *v)
{
    int64_t k = 0;
    for (int g = 0; g < 2; g++)
        for (int64_t i = 0; i < lr->x[g]->n; i++) {
            const float *row = row_ptr(lr->x[g], i, lr->scratch);
            double s = v[lr->D];
            for (int64_t j = 0; j < lr->D; j++)
                s += (double)row[j] * v[j];
            out[k++] = s;
        }
}

/* out (D + 1) = X^T c (and the sum of c for the bias), plus l2 v_w. */
static void lr_tmatvec(const logreg_t *lr, double *out, const double *c, const double *v)
{
    for (int64_t j = 0; j <= lr->D; j++)
        out[j] = j < lr->D ? lr->l2 * v[j] : 0.0;
    int64_t k = 0;
    for (int g = 0; g < 2; g++)
        for (int64_t i = 0; i < lr->x[g]->n; i++, k++) {
            const float *row = row_ptr(lr->x[g], i, lr->scratch);
            double ck = c[k];
            for (int64_t j = 0; j < lr->D; j++)
                out[j] += ck * (double)row[j];
            out[lr->D] += ck;
        }
}

static double softplus(double z)
{
    return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static double lr_loss(const logreg_t *lr, const double *z, const double *w)
{
    double f = 0;
    int64_t n0 = lr->x[0]->n;
    for (int64_t k = 0; k < lr->n; k++)
        f += softplus(z[k]) - (k >= n0 ? z[k] : 0.0);
    double ww = 0;
    for (int64_t j = 0; j < lr->D; j++)
        ww += w[j] * w[j];
    return f + 0.5 * lr->l2 * ww;
}

static double dot(const double *a, const double *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

int ml_shift_logreg(double *coef, int *iters, const ml_shift_rows_t *x0,
                    const ml_shift_rows_t *x1, double l2, int max_iter, double tol,
                    const char *fname)
{
    int64_t D;
    int rc = check_two_samples(&D, x0, x1, fname);
    if (rc)
        return rc;
    if (x0->n < 1 || x1->n < 1)
        return ml__fail(ML_EARG, "%s: %lld source and %lld target rows; the classifier needs "
                        "both", fname, (long long)x0->n, (long long)x1->n);
    if (!(l2 >= 0) || isinf(l2))
        return ml__fail(ML_EARG, "%s: l2 = %g must be >= 0", fname, l2);
    if (max_iter < 1 || !(tol > 0))
        return ml__fail(ML_EARG, "%s: max_iter = %d, tol = %g", fname, max_iter, tol);
    logreg_t lr = {{x0, x1}, x0->n + x1->n, D, l2, row_scratch(D)};
    int64_t P = D + 1, n = lr.n, n0 = x0->n;
    double *z = zalloc(n, sizeof *z), *c = zalloc(n, sizeof *c);
    double *dd = zalloc(n, sizeof *dd), *xp = zalloc(n, sizeof *xp);
    double *buf = zalloc(6 * P, sizeof *buf);
    if (!lr.scratch || !z || !c || !dd || !xp || !buf) {
        rc = oom(fname);
        goto done;
    }
    double *g = buf, *step = buf + P, *res = buf + 2 * P, *dir = buf + 3 * P, *hd = buf + 4 * P;
    double *wtry = buf + 5 * P;
    for (int64_t j = 0; j < P; j++)
        coef[j] = 0;
    for (int64_t k = 0; k < n; k++)
        z[k] = 0;
    double f = lr_loss(&lr, z, coef), g0 = -1;
    int it = 0;
    for (; it <= max_iter; it++) {
        for (int64_t k = 0; k < n; k++) {
            double s = sigmoid(z[k]);
            c[k] = s - (k >= n0 ? 1.0 : 0.0);
            dd[k] = s * (1.0 - s);
        }
        lr_tmatvec(&lr, g, c, coef);
        double gn = sqrt(dot(g, g, P));
        if (g0 < 0)
            g0 = gn;
        if (gn <= tol * (g0 > 1 ? g0 : 1) || it == max_iter)
            break;
        /* Conjugate gradients on H step = -g, H v = X^T diag(dd) X v + l2 v_w. */
        double eta = gn < 0.25 ? sqrt(gn) : 0.5;
        for (int64_t j = 0; j < P; j++) {
            step[j] = 0;
            res[j] = -g[j];
            dir[j] = res[j];
        }
        double rr = dot(res, res, P);
        int64_t cg_max = P < 250 ? 2 * P : 500;
        for (int64_t k = 0; k < cg_max && sqrt(rr) > eta * gn; k++) {
            lr_matvec(&lr, xp, dir);
            for (int64_t q = 0; q < n; q++)
                xp[q] *= dd[q];
            lr_tmatvec(&lr, hd, xp, dir);
            hd[D] += 1e-12 * dir[D]; /* keeps the bias direction definite at saturation */
            double curv = dot(dir, hd, P);
            if (!(curv > 0))
                break;
            double alpha = rr / curv;
            for (int64_t j = 0; j < P; j++) {
                step[j] += alpha * dir[j];
                res[j] -= alpha * hd[j];
            }
            double rr2 = dot(res, res, P);
            for (int64_t j = 0; j < P; j++)
                dir[j] = res[j] + rr2 / rr * dir[j];
            rr = rr2;
        }
        double slope = dot(g, step, P);
        if (!(slope < 0)) { /* no descent direction from CG: take the gradient's */
            for (int64_t j = 0; j < P; j++)
                step[j] = -g[j];
            slope = -gn * gn;
        }
        /* Backtracking line search along step; X step once, then z + t X step is cheap. */
        lr_matvec(&lr, xp, step);
        double t = 1.0, ftry = f;
        for (int ls = 0; ls < 60; ls++) {
            if (ls > 0)
                t *= 0.5;
            for (int64_t q = 0; q < n; q++)
                c[q] = z[q] + t * xp[q];
            for (int64_t j = 0; j < P; j++)
                wtry[j] = coef[j] + t * step[j];
            ftry = lr_loss(&lr, c, wtry);
            if (ftry <= f + 1e-4 * t * slope)
                break;
        }
        if (!(ftry < f)) /* no decrease left at double precision: converged */
            break;
        memcpy(coef, wtry, (size_t)P * sizeof *coef);
        memcpy(z, c, (size_t)n * sizeof *z);
        f = ftry;
    }
    if (iters)
        *iters = it;
    for (int64_t j = 0; j < P; j++)
        if (!isfinite(coef[j])) {
            rc = ml__fail(ML_ENAN, "%s: the logistic regression diverged (are the rows finite?)",
                          fname);
            break;
        }
done:
    free(lr.scratch);
    free(z);
    free(c);
    free(dd);
    free(xp);
    free(buf);
    return rc;
}

/* x_i . w + b for row i of a view. */
static double margin(const ml_shift_rows_t *v, int64_t i, const double *coef, int64_t D,
                     float *scratch)
{
    const float *row = row_ptr(v, i, scratch);
    double z = coef[D];
    for (int64_t j = 0; j < D; j++)
        z += coef[j] * (double)row[j];
    return z;
}

int ml_shift_domain_test(double *accuracy, int64_t *correct, int64_t *total, double *p,
                         const ml_shift_rows_t *a, const ml_shift_rows_t *b, double holdout,
                         double l2, uint64_t seed, const char *fname)
{
    *accuracy = 0;
    *correct = *total = 0;
    *p = 1;
    int64_t D;
    int rc = check_two_samples(&D, a, b, fname);
    if (rc)
        return rc;
    int64_t n = a->n, m = b->n;
    if (!(holdout > 0 && holdout < 1))
        return ml__fail(ML_EARG, "%s: holdout = %g is outside (0, 1)", fname, holdout);
    int64_t ha = (int64_t)llround(holdout * (double)n), hb = (int64_t)llround(holdout * (double)m);
    int64_t h = ha < hb ? ha : hb;
    if (h < 1 || n - h < 1 || m - h < 1)
        return ml__fail(ML_EARG, "%s: holdout = %g of %lld source and %lld target rows leaves "
                        "%lld rows of each to test and %lld and %lld to train; each must be >= 1",
                        fname, holdout, (long long)n, (long long)m, (long long)h,
                        (long long)(n - h), (long long)(m - h));
    int64_t *pa = zalloc(n, sizeof *pa), *pb = zalloc(m, sizeof *pb);
    double *coef = zalloc(D + 1, sizeof *coef);
    float *scratch = row_scratch(D);
    if (!pa || !pb || !coef || !scratch) {
        rc = oom(fname);
        goto done;
    }
    ml_rng_t r;
    ml_rng_seed(&r, ml_seed_derive(seed, "shift/domain", 0));
    partial_shuffle(pa, n, n, &r);
    partial_shuffle(pb, m, m, &r);
    /* Positions -> rows of the tensors: the first h of each permutation test, the rest train. */
    for (int64_t i = 0; i < n; i++)
        pa[i] = src_row(a, pa[i]);
    for (int64_t i = 0; i < m; i++)
        pb[i] = src_row(b, pb[i]);
    ml_shift_rows_t ta = ml_shift_view(a->t, pa + h, n - h), tb = ml_shift_view(b->t, pb + h, m - h);
    rc = ml_shift_logreg(coef, NULL, &ta, &tb, l2, 100, 1e-8, fname);
    if (rc)
        goto done;
    double thr = log((double)(m - h) / (double)(n - h));
    ml_shift_rows_t ea = ml_shift_view(a->t, pa, h), eb = ml_shift_view(b->t, pb, h);
    int64_t k = 0;
    for (int64_t i = 0; i < h; i++) {
        k += margin(&ea, i, coef, D, scratch) <= thr;
        k += margin(&eb, i, coef, D, scratch) > thr;
    }
    *correct = k;
    *total = 2 * h;
    *accuracy = (double)k / (double)(2 * h);
    *p = ml_stat_binom_sf(k, 2 * h, 0.5);
done:
    free(pa);
    free(pb);
    free(coef);
    free(scratch);
    return rc;
}

int ml_shift_importance(float *out, const ml_shift_rows_t *x, const double *coef,
                        double ratio, double clip, const char *fname)
{
    int rc = ml_shift_check_view(x, fname, "x");
    if (rc)
        return rc;
    if (!(ratio > 0) || isinf(ratio))
        return ml__fail(ML_EARG, "%s: ratio = %g must be > 0", fname, ratio);
    if (isnan(clip))
        return ml__fail(ML_EARG, "%s: clip is NaN", fname);
    int64_t D = ml_shift_width(x);
    float *scratch = row_scratch(D);
    if (!scratch)
        return oom(fname);
    for (int64_t i = 0; i < x->n; i++) {
        double z = margin(x, i, coef, D, scratch);
        double w = ratio * exp(z < 700 ? z : 700);
        if (clip > 0 && w > clip)
            w = clip;
        out[i] = w > FLT_MAX ? FLT_MAX : isnan(w) ? 0.0f : (float)w;
    }
    free(scratch);
    return ML_OK;
}

/* Solve A x = b (A symmetric positive definite, n x n, overwritten) by Cholesky. */
static int cholesky_solve(double *A, double *x, const double *b, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (int64_t k = 0; k < j; k++)
            s -= A[j * n + k] * A[j * n + k];
        if (!(s > 0))
            return 1;
        A[j * n + j] = sqrt(s);
        for (int64_t i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (int64_t k = 0; k < j; k++)
                t -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = t / A[j * n + j];
        }
    }
    for (int64_t i = 0; i < n; i++) {
        double t = b[i];
        for (int64_t k = 0; k < i; k++)
            t -= A[i * n + k] * x[k];
        x[i] = t / A[i * n + i];
    }
    for (int64_t i = n - 1; i >= 0; i--) {
        double t = x[i];
        for (int64_t k = i + 1; k < n; k++)
            t -= A[k * n + i] * x[k];
        x[i] = t / A[i * n + i];
    }
    return 0;
}

int ml_shift_bbse(double *w, double *confusion, double *mu, double *priors,
                  const int64_t *ps, const int64_t *ys, int64_t n, const int64_t *pt, int64_t m,
                  int64_t nclasses, double ridge, const char *fname)
{
    int64_t C = nclasses;
    if (C < 1)
        return ml__fail(ML_EARG, "%s: %lld classes", fname, (long long)C);
    if (n < 1 || m < 1)
        return ml__fail(ML_EARG, "%s: %lld held-out source rows and %lld target rows; both must "
                        "be non-empty", fname, (long long)n, (long long)m);
    int rc = check_labels_range(ps, n, C, fname);
    if (!rc)
        rc = check_labels_range(ys, n, C, fname);
    if (!rc)
        rc = check_labels_range(pt, m, C, fname);
    if (rc)
        return rc;
    if (isnan(ridge) || isinf(ridge))
        return ml__fail(ML_EARG, "%s: ridge = %g", fname, ridge);
    double lambda = ridge >= 0 ? ridge : 1.0 / (double)(n < m ? n : m);
    double *A = zalloc(C * C, sizeof *A), *rhs = zalloc(C, sizeof *rhs);
    if (!A || !rhs) {
        free(A);
        free(rhs);
        return oom(fname);
    }
    memset(confusion, 0, (size_t)(C * C) * sizeof *confusion);
    for (int64_t i = 0; i < n; i++)
        confusion[ps[i] * C + ys[i]] += 1.0 / (double)n;
    ml_shift_priors(mu, pt, m, C);
    /* (C^T C + lambda I) w = C^T mu + lambda 1: least squares pulled toward w = 1. */
    for (int64_t a = 0; a < C; a++) {
        double t = 0;
        for (int64_t i = 0; i < C; i++)
            t += confusion[i * C + a] * mu[i];
        rhs[a] = t + lambda;
        for (int64_t b = 0; b < C; b++) {
            double s = 0;
            for (int64_t i = 0; i < C; i++)
                s += confusion[i * C + a] * confusion[i * C + b];
            A[a * C + b] = s + (a == b ? lambda : 0.0);
        }
    }
    if (cholesky_solve(A, w, rhs, C)) {
        free(A);
        free(rhs);
        return ml__fail(ML_EARG, "%s: the confusion matrix is singular (some class is never "
                        "seen in the held-out data); pass ridge > 0", fname);
    }
    double tot = 0;
    for (int64_t j = 0; j < C; j++) {
        w[j] = w[j] > 0 ? w[j] : 0;
        double ps_j = 0;
        for (int64_t i = 0; i < C; i++)
            ps_j += confusion[i * C + j];
        priors[j] = w[j] * ps_j;
        tot += priors[j];
    }
    for (int64_t j = 0; j < C; j++)
        priors[j] = tot > 0 ? priors[j] / tot : 1.0 / (double)C;
    free(A);
    free(rhs);
    return ML_OK;
}

int ml_shift_probabilities(double *out, const ml_shift_rows_t *scores, int logits,
                           const char *fname)
{
    int rc = ml_shift_check_view(scores, fname, "probabilities");
    if (rc)
        return rc;
    if (scores->t->ndim != 2) {
        char s[64];
        return ml__fail(ML_ESHAPE, "%s: probabilities are %s, expected (N,C)", fname,
                        ml_shape_str(s, sizeof s, scores->t));
    }
    int64_t C = scores->t->shape[1];
    float *scratch = row_scratch(C);
    if (!scratch)
        return oom(fname);
    for (int64_t i = 0; i < scores->n; i++) {
        const float *r = row_ptr(scores, i, scratch);
        double *o = out + i * C, sum = 0, mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) {
            if (!isfinite(r[c])) {
                double bad = r[c]; /* r may point into scratch */
                free(scratch);
                return ml__fail(ML_ENAN, "%s: row %lld holds %g", fname, (long long)i + 1, bad);
            }
            mx = r[c] > mx ? r[c] : mx;
        }
        for (int64_t c = 0; c < C; c++) {
            if (!logits && r[c] < 0) {
                double bad = r[c];
                free(scratch);
                return ml__fail(ML_EARG, "%s: row %lld holds %g; probabilities are >= 0 (pass "
                                "logits = true for raw model outputs)", fname, (long long)i + 1,
                                bad);
            }
            o[c] = logits ? exp((double)r[c] - mx) : (double)r[c];
            sum += o[c];
        }
        if (!logits && fabs(sum - 1.0) > 1e-3) {
            free(scratch);
            return ml__fail(ML_EARG, "%s: row %lld sums to %g; probabilities sum to 1 (pass "
                            "logits = true for raw model outputs)", fname, (long long)i + 1, sum);
        }
        for (int64_t c = 0; c < C; c++)
            o[c] /= sum;
    }
    free(scratch);
    return ML_OK;
}

/* Posteriors reweighted by ratio (C) into out (m, C); row sums 0 leave the row as it was. */
static void reweight_rows(double *out, const double *probs, int64_t m, const double *ratio,
                          int64_t C)
{
    for (int64_t i = 0; i < m; i++) {
        const double *p = probs + i * C;
        double *o = out + i * C, s = 0;
        for (int64_t c = 0; c < C; c++)
            s += o[c] = ratio[c] * p[c];
        for (int64_t c = 0; c < C; c++)
            o[c] = s > 0 ? o[c] / s : p[c];
    }
}

int ml_shift_em(double *priors, double *posteriors, int *iters, int *converged,
                const double *probs, int64_t m, const double *source_priors, int64_t nclasses,
                double tol, int max_iter, const char *fname)
{
    int64_t C = nclasses;
    *iters = 0;
    *converged = 0;
    int rc = ml_shift_check_priors(source_priors, C, fname, "source_priors");
    if (rc)
        return rc;
    for (int64_t c = 0; c < C; c++)
        if (!(source_priors[c] > 0))
            return ml__fail(ML_EARG, "%s: source_priors[%lld] = 0; every class needs a source "
                            "prior > 0", fname, (long long)c + 1);
    if (m < 1)
        return ml__fail(ML_EARG, "%s: no target rows", fname);
    if (!(tol > 0) || max_iter < 1)
        return ml__fail(ML_EARG, "%s: tol = %g, max_iter = %d", fname, tol, max_iter);
    double *post = zalloc(m * C, sizeof *post);
    double *ratio = zalloc(C, sizeof *ratio), *next = zalloc(C, sizeof *next);
    if (!post || !ratio || !next) {
        free(post);
        free(ratio);
        free(next);
        return oom(fname);
    }
    memcpy(priors, source_priors, (size_t)C * sizeof *priors);
    int it = 0;
    while (it < max_iter) {
        for (int64_t c = 0; c < C; c++)
            ratio[c] = priors[c] / source_priors[c];
        reweight_rows(post, probs, m, ratio, C);
        for (int64_t c = 0; c < C; c++)
            next[c] = 0;
        for (int64_t i = 0; i < m; i++)
            for (int64_t c = 0; c < C; c++)
                next[c] += post[i * C + c];
        double change = 0;
        for (int64_t c = 0; c < C; c++) {
            next[c] /= (double)m;
            double d = fabs(next[c] - priors[c]);
            change = d > change ? d : change;
        }
        memcpy(priors, next, (size_t)C * sizeof *priors);
        it++;
        if (change < tol) {
            *converged = 1;
            break;
        }
    }
    *iters = it;
    if (posteriors) {
        for (int64_t c = 0; c < C; c++)
            ratio[c] = priors[c] / source_priors[c];
        reweight_rows(posteriors, probs, m, ratio, C);
    }
    free(post);
    free(ratio);
    free(next);
    return ML_OK;
}

int ml_shift_recalibrate(double *probs, int64_t m, const double *w, int64_t nclasses,
                         const char *fname)
{
    double s = 0;
    for (int64_t c = 0; c < nclasses; c++) {
        if (!(w[c] >= 0) || isinf(w[c]))
            return ml__fail(ML_EARG, "%s: weights[%lld] = %g; class weights are finite and >= 0",
                            fname, (long long)c + 1, w[c]);
        s += w[c];
    }
    if (!(s > 0))
        return ml__fail(ML_EARG, "%s: every class weight is 0", fname);
    for (int64_t i = 0; i < m; i++) {
        double *p = probs + i * nclasses, t = 0;
        for (int64_t c = 0; c < nclasses; c++)
            t += w[c] * p[c];
        if (t > 0)
            for (int64_t c = 0; c < nclasses; c++)
                p[c] = w[c] * p[c] / t;
    }
    return ML_OK;
}
