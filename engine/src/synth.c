/* Synthetic sequence data (synth.h). */
#include "moonlab/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/rng.h"

static int new2(ml_tensor_t *t, int64_t a, int64_t b, const char *fname)
{
    int64_t shape[2] = {a, b};
    int rc = ml_tensor_new(t, 2, shape);
    return rc ? ml__fail(rc, "%s: %s", fname, ml_errmsg()) : ML_OK;
}

int ml_synth_sine(ml_tensor_t *series, int64_t n, double freq, double phase, double amplitude,
                  double noise, uint64_t seed)
{
    memset(series, 0, sizeof *series);
    if (n < 1)
        return ml__fail(ML_EARG, "sine: n = %lld, needs at least 1", (long long)n);
    if (!isfinite(freq) || !isfinite(phase) || !isfinite(amplitude) || !(noise >= 0) ||
        !isfinite(noise))
        return ml__fail(ML_EARG, "sine: freq %g, phase %g, amplitude %g, noise %g: need finite "
                        "values and noise >= 0", freq, phase, amplitude, noise);
    int rc = new2(series, n, 1, "sine");
    if (rc)
        return rc;
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    if (noise > 0)
        ml_rng_normal(&r, series->data, n, 0.0f, (float)noise);
    for (int64_t t = 0; t < n; t++)
        series->data[t] += (float)(amplitude * sin(freq * (double)(t + 1) + phase));
    return ML_OK;
}

int ml_synth_ar(ml_tensor_t *series, int64_t n, const double *phi, int p, double c,
                double noise, int64_t burn, uint64_t seed)
{
    memset(series, 0, sizeof *series);
    if (n < 1 || p < 1 || p > 1000 || burn < 0 || !phi)
        return ml__fail(ML_EARG, "ar: n = %lld, p = %d, burn = %lld: needs n >= 1, 1 <= p <= "
                        "1000 coefficients, burn >= 0", (long long)n, p, (long long)burn);
    for (int i = 0; i < p; i++)
        if (!isfinite(phi[i]))
            return ml__fail(ML_EARG, "ar: coefficient %d is %g", i + 1, phi[i]);
    if (!isfinite(c) || !(noise >= 0) || !isfinite(noise))
        return ml__fail(ML_EARG, "ar: constant %g, noise %g: need finite values, noise >= 0", c,
                        noise);
    int64_t total = n + burn;
    double *x = calloc((size_t)(total + p), sizeof *x); /* p zeros, then the process */
    float *eps = malloc((size_t)total * sizeof *eps);
    if (!x || !eps) {
        free(x);
        free(eps);
        return ml__fail(ML_ENOMEM, "ar: out of memory for %lld steps", (long long)total);
    }
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    ml_rng_normal(&r, eps, total, 0.0f, 1.0f);
    for (int64_t t = 0; t < total; t++) {
        double v = c + noise * eps[t];
        for (int i = 0; i < p; i++)
            v += phi[i] * x[p + t - 1 - i];
        if (!(fabs(v) <= 1e30)) {
            free(x);
            free(eps);
            return ml__fail(ML_ENAN, "ar: the series exceeds 1e30 at step %lld: the "
                            "coefficients do not give a stationary process",
                            (long long)t - (long long)burn + 1);
        }
        x[p + t] = v;
    }
    int rc = new2(series, n, 1, "ar");
    if (!rc)
        for (int64_t t = 0; t < n; t++)
            series->data[t] = (float)x[p + burn + t];
    free(x);
    free(eps);
    return rc;
}

int ml_synth_adding(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, uint64_t seed)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (n < 1 || t < 2)
        return ml__fail(ML_EARG, "adding: n = %lld sequences of t = %lld steps: needs n >= 1 and "
                        "t >= 2", (long long)n, (long long)t);
    int64_t shape[3] = {n, t, 2};
    int rc = ml_tensor_new(x, 3, shape);
    if (rc)
        return ml__fail(rc, "adding: %s", ml_errmsg());
    if ((rc = new2(y, n, 1, "adding")) != ML_OK) {
        ml_tensor_free(x);
        return rc;
    }
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    int64_t half = (t + 1) / 2;
    for (int64_t i = 0; i < n; i++) {
        float *row = x->data + i * t * 2;
        for (int64_t s = 0; s < t; s++)
            row[2 * s] = ml_rng_float(&r);
        int64_t a = (int64_t)ml_rng_below(&r, (uint64_t)half);
        int64_t b = half + (int64_t)ml_rng_below(&r, (uint64_t)(t - half));
        row[2 * a + 1] = 1.0f;
        row[2 * b + 1] = 1.0f;
        y->data[i] = row[2 * a] + row[2 * b];
    }
    return ML_OK;
}

int ml_synth_copy(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, int64_t len,
                  int symbols, uint64_t seed)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    if (n < 1 || t < 1 || len < 1 || symbols < 1 || symbols > 1000000 || t > (1LL << 40) ||
        len > (1LL << 40))
        return ml__fail(ML_EARG, "copy: n = %lld, t = %lld, len = %lld, symbols = %d: needs each "
                        ">= 1", (long long)n, (long long)t, (long long)len, symbols);
    int64_t steps = t + 2 * len;
    int rc = new2(x, n, steps, "copy");
    if (!rc && (rc = new2(y, n, steps, "copy")) != ML_OK)
        ml_tensor_free(x);
    if (rc)
        return rc;
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        float *xi = x->data + i * steps, *yi = y->data + i * steps;
        for (int64_t s = 0; s < len; s++) {
            float v = (float)(1 + ml_rng_below(&r, (uint64_t)symbols));
            xi[s] = v;
            yi[t + len + s] = v;
        }
        xi[len + t - 1] = (float)(symbols + 1);
    }
    return ML_OK;
}

int ml_synth_tagging(ml_tensor_t *x, ml_tensor_t *y, int64_t n, int64_t t, const ml_tagging_t *o,
                     uint64_t seed, double *best_expected, double *best_sample)
{
    memset(x, 0, sizeof *x);
    memset(y, 0, sizeof *y);
    *best_expected = *best_sample = 0;
    if (n < 1 || t < 1)
        return ml__fail(ML_EARG, "tagging: n = %lld sentences of t = %lld words: needs both >= 1",
                        (long long)n, (long long)t);
    int others = o->vocab - o->ambiguous - o->names;
    if (o->ambiguous < 1 || o->names < 1 || others < 1 || o->vocab > (1 << 24))
        return ml__fail(ML_EARG, "tagging: vocab %d, ambiguous %d, names %d: needs at least one "
                        "ambiguous, one name and one other word", o->vocab, o->ambiguous,
                        o->names);
    double pa = o->p_ambiguous;
    if (!(pa >= 0.0 && pa < 1.0))
        return ml__fail(ML_EARG, "tagging: p_ambiguous = %g, needs 0 <= p < 1", pa);
    int rc = new2(x, n, t, "tagging");
    if (!rc && (rc = new2(y, n, t, "tagging")) != ML_OK)
        ml_tensor_free(x);
    if (rc)
        return rc;
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    int rest = o->vocab - o->ambiguous;
    for (int64_t i = 0; i < n * t; i++) {
        int id = ml_rng_double(&r) < pa ? (int)ml_rng_below(&r, (uint64_t)o->ambiguous)
                                        : o->ambiguous + (int)ml_rng_below(&r, (uint64_t)rest);
        x->data[i] = (float)id;
    }
    double q = (1.0 - pa) * o->names / rest;
    int guess = q > 0.5;
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *xi = x->data + i * t;
        float *yi = y->data + i * t;
        for (int64_t s = 0; s < t; s++) {
            int id = (int)xi[s];
            int name = id >= o->ambiguous && id < o->ambiguous + o->names;
            int tag = name;
            if (id < o->ambiguous && s + 1 < t) {
                int next = (int)xi[s + 1];
                tag = next >= o->ambiguous && next < o->ambiguous + o->names;
                right += tag == guess;
            } else {
                right++; /* fixed by the words up to here */
            }
            yi[s] = (float)tag;
        }
    }
    *best_expected = 1.0 - (double)(t - 1) / (double)t * pa * (q < 1 - q ? q : 1 - q);
    *best_sample = (double)right / ((double)n * (double)t);
    return ML_OK;
}
