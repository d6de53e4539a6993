#include "moonlab/init.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"

static const char *const names[ML_INIT_NKINDS] = {
    [ML_INIT_DEFAULT] = "default",
    [ML_INIT_ZEROS] = "zeros",
    [ML_INIT_CONSTANT] = "constant",
    [ML_INIT_NORMAL] = "normal",
    [ML_INIT_UNIFORM] = "uniform",
    [ML_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [ML_INIT_XAVIER_NORMAL] = "xavier_normal",
    [ML_INIT_KAIMING_UNIFORM] = "kaiming_uniform",
    [ML_INIT_KAIMING_NORMAL] = "kaiming_normal",
    [ML_INIT_ORTHOGONAL] = "orthogonal",
};

int ml_init_kind_from_name(const char *name)
{
    for (int k = 0; k < ML_INIT_NKINDS; k++)
        if (strcmp(names[k], name) == 0)
            return k;
    return -1;
}

const char *ml_init_name(ml_init_kind_t kind)
{
    return (unsigned)kind < ML_INIT_NKINDS ? names[kind] : "?";
}

/* Orthogonal rows (rows <= cols) or columns: modified Gram-Schmidt on a Gaussian matrix, in
 * double. A rank-deficient draw (probability zero in exact arithmetic) is redrawn. */
static int orthogonal(float *w, int64_t rows, int64_t cols, float gain, ml_rng_t *rng)
{
    if (rows == 0 || cols == 0)
        return ML_OK;
    int tall = rows > cols;
    int64_t nv = tall ? cols : rows, len = tall ? rows : cols; /* nv vectors of length len */
    double *v = malloc((size_t)(nv * len) * sizeof *v);
    float *tmp = malloc((size_t)len * sizeof *tmp);
    if (!v || !tmp) {
        free(v);
        free(tmp);
        return ml__fail(ML_ENOMEM, "init orthogonal: cannot allocate %lldx%lld scratch",
                        (long long)rows, (long long)cols);
    }
    for (int64_t i = 0; i < nv; i++) {
        double *vi = v + i * len;
        for (int tries = 0;; tries++) {
            ml_rng_normal(rng, tmp, len, 0.0f, 1.0f);
            for (int64_t j = 0; j < len; j++)
                vi[j] = tmp[j];
            for (int pass = 0; pass < 2; pass++) /* twice is enough for float32 accuracy */
                for (int64_t p = 0; p < i; p++) {
                    const double *vp = v + p * len;
                    double dot = 0;
                    for (int64_t j = 0; j < len; j++)
                        dot += vi[j] * vp[j];
                    for (int64_t j = 0; j < len; j++)
                        vi[j] -= dot * vp[j];
                }
            double nrm = 0;
            for (int64_t j = 0; j < len; j++)
                nrm += vi[j] * vi[j];
            nrm = sqrt(nrm);
            if (nrm > 1e-6 || tries > 8) {
                for (int64_t j = 0; j < len; j++)
                    vi[j] /= nrm;
                break;
            }
        }
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            w[r * cols + c] = (float)(gain * (tall ? v[c * len + r] : v[r * len + c]));
    free(v);
    free(tmp);
    return ML_OK;
}

int ml_init_fill(float *w, int64_t fan_out, int64_t fan_in, const ml_init_t *init,
                 ml_rng_t *rng)
{
    return ml_init_fill_n(w, fan_out * fan_in, fan_out, fan_in, init, rng);
}

int ml_init_fill_n(float *w, int64_t n, int64_t fan_out, int64_t fan_in, const ml_init_t *init,
                   ml_rng_t *rng)
{
    if (n < 0 || fan_out < 0 || fan_in < 0)
        return ml__fail(ML_EARG, "init: negative size: n=%lld, fan_out=%lld, fan_in=%lld",
                        (long long)n, (long long)fan_out, (long long)fan_in);
    double fi = fan_in > 0 ? (double)fan_in : 1.0, fo = fan_out > 0 ? (double)fan_out : 1.0;
    float gain = init->a != 0.0f ? init->a : 1.0f;
    float bound;
    switch (init->kind) {
    case ML_INIT_DEFAULT:
        bound = (float)(1.0 / sqrt(fi));
        ml_rng_uniform(rng, w, n, -bound, bound);
        return ML_OK;
    case ML_INIT_ZEROS:
        memset(w, 0, (size_t)n * sizeof *w);
        return ML_OK;
    case ML_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            w[i] = init->a;
        return ML_OK;
    case ML_INIT_NORMAL:
        if (init->b < 0)
            return ml__fail(ML_EARG, "init normal: std %g is negative", init->b);
        ml_rng_normal(rng, w, n, init->a, init->b);
        return ML_OK;
    case ML_INIT_UNIFORM:
        if (init->b < init->a)
            return ml__fail(ML_EARG, "init uniform: upper bound %g below lower %g", init->b,
                            init->a);
        ml_rng_uniform(rng, w, n, init->a, init->b);
        return ML_OK;
    case ML_INIT_XAVIER_UNIFORM:
        bound = (float)(gain * sqrt(6.0 / (fi + fo)));
        ml_rng_uniform(rng, w, n, -bound, bound);
        return ML_OK;
    case ML_INIT_XAVIER_NORMAL:
        ml_rng_normal(rng, w, n, 0.0f, (float)(gain * sqrt(2.0 / (fi + fo))));
        return ML_OK;
    case ML_INIT_KAIMING_UNIFORM:
        bound = (float)sqrt(6.0 / fi);
        ml_rng_uniform(rng, w, n, -bound, bound);
        return ML_OK;
    case ML_INIT_KAIMING_NORMAL:
        ml_rng_normal(rng, w, n, 0.0f, (float)sqrt(2.0 / fi));
        return ML_OK;
    case ML_INIT_ORTHOGONAL:
        return n == fan_out * fan_in ? orthogonal(w, fan_out, fan_in, gain, rng)
                                     : orthogonal(w, 1, n, gain, rng);
    default:
        return ml__fail(ML_EARG, "init: unknown initializer %d", (int)init->kind);
    }
}
