/* Initializers: each one's empirical mean, standard deviation and bounds against its formula
 * on a (256, 512) weight, orthogonality of the orthogonal initializer, reproducibility from a
 * seed, names, and the errors for unknown kinds and bad sizes.
 *
 * Moments are checked to 5 standard errors (n = 131072 draws): the mean to 5*sigma/sqrt(n),
 * the variance to 5*sigma^2*sqrt((kurtosis-1)/n), kurtosis 1.8 for a uniform and 3 for a
 * normal. That is a 0.6% band on the standard deviation, tight enough to catch any wrong
 * constant (fan_in vs fan_out, a missing sqrt or factor 2). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/init.h"
#include "moonlab/rng.h"

#define FAN_OUT 256
#define FAN_IN 512
#define N ((int64_t)FAN_OUT * FAN_IN)

static float w[N];

static int fill(ml_init_kind_t kind, float a, float b, uint64_t seed)
{
    ml_init_t init = {kind, a, b};
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    for (int64_t i = 0; i < N; i++)
        w[i] = NAN; /* every element must be written */
    return ml_init_fill(w, FAN_OUT, FAN_IN, &init, &r);
}

static void check_moments(const char *what, double mu, double sigma, double kurt)
{
    double s = 0, ss = 0;
    int finite = 1;
    for (int64_t i = 0; i < N; i++) {
        finite &= isfinite(w[i]);
        s += w[i];
    }
    CHECK_MSG(finite, "%s: not every element written", what);
    double mean = s / (double)N;
    for (int64_t i = 0; i < N; i++)
        ss += (w[i] - mean) * (w[i] - mean);
    double var = ss / (double)(N - 1), want_var = sigma * sigma;
    double se_mean = sigma / sqrt((double)N);
    double se_var = want_var * sqrt((kurt - 1.0) / (double)N);
    CHECK_MSG(fabs(mean - mu) <= 5 * se_mean, "%s: mean %.6g, want %.6g +- %.2g", what, mean, mu,
              5 * se_mean);
    CHECK_MSG(fabs(var - want_var) <= 5 * se_var, "%s: std %.6g, want %.6g", what, sqrt(var),
              sigma);
}

/* U(lo, hi): all values inside, both ends approached within 0.1% of the width. */
static void check_uniform(const char *what, double lo, double hi)
{
    float mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < N; i++) {
        mn = w[i] < mn ? w[i] : mn;
        mx = w[i] > mx ? w[i] : mx;
    }
    double slack = 1e-6 * (hi - lo); /* float rounding of the bound itself */
    CHECK_MSG(mn >= lo - slack && mx <= hi + slack,
              "%s: values in [%.7g, %.7g], bounds [%.7g, %.7g]", what, mn, mx, lo, hi);
    CHECK_MSG(mn < lo + 1e-3 * (hi - lo) && mx > hi - 1e-3 * (hi - lo),
              "%s: values in [%.7g, %.7g] do not reach the bounds [%.7g, %.7g]", what, mn, mx, lo,
              hi);
    check_moments(what, 0.5 * (lo + hi), (hi - lo) / sqrt(12.0), 1.8);
}

static void test_uniform_family(void)
{
    double fi = FAN_IN, fo = FAN_OUT;
    double b;

    CHECK(fill(ML_INIT_DEFAULT, 0, 0, 1) == ML_OK);
    b = 1.0 / sqrt(fi);
    check_uniform("default", -b, b);

    CHECK(fill(ML_INIT_XAVIER_UNIFORM, 0, 0, 2) == ML_OK);
    b = sqrt(6.0 / (fi + fo));
    check_uniform("xavier_uniform", -b, b);

    CHECK(fill(ML_INIT_XAVIER_UNIFORM, 2.5f, 0, 3) == ML_OK);
    check_uniform("xavier_uniform gain 2.5", -2.5 * b, 2.5 * b);

    CHECK(fill(ML_INIT_KAIMING_UNIFORM, 0, 0, 4) == ML_OK);
    b = sqrt(6.0 / fi);
    check_uniform("kaiming_uniform", -b, b);

    CHECK(fill(ML_INIT_UNIFORM, -0.3f, 0.7f, 5) == ML_OK);
    check_uniform("uniform(-0.3, 0.7)", -0.3, 0.7);
}

static void test_normal_family(void)
{
    double fi = FAN_IN, fo = FAN_OUT;

    CHECK(fill(ML_INIT_KAIMING_NORMAL, 0, 0, 6) == ML_OK);
    check_moments("kaiming_normal", 0.0, sqrt(2.0 / fi), 3.0);

    CHECK(fill(ML_INIT_XAVIER_NORMAL, 0, 0, 7) == ML_OK);
    check_moments("xavier_normal", 0.0, sqrt(2.0 / (fi + fo)), 3.0);

    CHECK(fill(ML_INIT_XAVIER_NORMAL, 0.5f, 0, 8) == ML_OK);
    check_moments("xavier_normal gain 0.5", 0.0, 0.5 * sqrt(2.0 / (fi + fo)), 3.0);

    CHECK(fill(ML_INIT_NORMAL, 0.25f, 0.1f, 9) == ML_OK);
    check_moments("normal(0.25, 0.1)", 0.25, 0.1, 3.0);
}

static void test_constant_zeros(void)
{
    CHECK(fill(ML_INIT_CONSTANT, 0.375f, 0, 1) == ML_OK);
    int ok = 1;
    for (int64_t i = 0; i < N; i++)
        ok &= w[i] == 0.375f;
    CHECK_MSG(ok, "constant 0.375");

    CHECK(fill(ML_INIT_ZEROS, 5.0f, 6.0f, 1) == ML_OK);
    ok = 1;
    for (int64_t i = 0; i < N; i++)
        ok &= w[i] == 0.0f;
    CHECK_MSG(ok, "zeros (a and b ignored)");
}

/* A bias: ml_init_fill_n writes exactly n values with the layer's fans setting the scale
 * (PyTorch's default bias is U(+-1/sqrt(fan_in))). The buffer is made big enough for
 * n*fan_in floats so that an overrun shows up as a failed check, not as memory corruption. */
static void test_bias(void)
{
    const int64_t n = 8, fan_in = 64;
    float *bias = malloc((size_t)(n * fan_in) * sizeof *bias);
    for (int64_t i = 0; i < n * fan_in; i++)
        bias[i] = 77.0f;
    ml_init_t init = {ML_INIT_DEFAULT, 0, 0};
    ml_rng_t r;
    ml_rng_seed(&r, 10);
    CHECK(ml_init_fill_n(bias, n, n, fan_in, &init, &r) == ML_OK);
    double b = 1.0 / sqrt((double)fan_in);
    int ok = 1, distinct = 0;
    for (int64_t i = 0; i < n; i++) {
        ok &= fabs(bias[i]) <= b;
        distinct += bias[i] != bias[0];
    }
    CHECK_MSG(ok && distinct == n - 1, "bias values not spread inside +-1/sqrt(fan_in)");
    int64_t overrun = 0;
    for (int64_t i = n; i < n * fan_in; i++)
        overrun += bias[i] != 77.0f;
    CHECK_MSG(overrun == 0, "bias of %lld with fan_in %lld: %lld floats written past the end",
              (long long)n, (long long)fan_in, (long long)overrun);

    /* A large bias follows the same formula statistically (reusing w as storage). */
    for (int64_t i = 0; i < N; i++)
        w[i] = NAN;
    ml_rng_seed(&r, 11);
    init.kind = ML_INIT_KAIMING_NORMAL;
    CHECK(ml_init_fill_n(w, N, FAN_OUT, FAN_IN, &init, &r) == ML_OK);
    check_moments("kaiming_normal via fill_n", 0.0, sqrt(2.0 / FAN_IN), 3.0);

    /* Orthogonal on a vector: a unit vector times the gain. */
    init = (ml_init_t){ML_INIT_ORTHOGONAL, 3.0f, 0.0f};
    for (int64_t i = 0; i < n * fan_in; i++)
        bias[i] = 77.0f;
    CHECK(ml_init_fill_n(bias, n, n, fan_in, &init, &r) == ML_OK);
    double nrm = 0;
    for (int64_t i = 0; i < n; i++)
        nrm += (double)bias[i] * bias[i];
    CHECK_CLOSE(sqrt(nrm), 3.0, 0, 1e-5);
    CHECK(bias[n] == 77.0f);
    free(bias);

    float tiny[4];
    init.kind = ML_INIT_DEFAULT;
    CHECK_ERR(ml_init_fill_n(tiny, -3, 3, 4, &init, &r), ML_EARG, "-3");
}

/* max |G - gain^2 I| over the Gram matrix of the rows (or of the columns when tall). */
static double orth_error(const float *m, int64_t rows, int64_t cols, double gain2)
{
    int tall = rows > cols;
    int64_t nv = tall ? cols : rows, len = tall ? rows : cols;
    double worst = 0;
    for (int64_t i = 0; i < nv; i++)
        for (int64_t j = 0; j <= i; j++) {
            double dot = 0;
            for (int64_t k = 0; k < len; k++) {
                double x = tall ? m[k * cols + i] : m[i * cols + k];
                double y = tall ? m[k * cols + j] : m[j * cols + k];
                dot += x * y;
            }
            double e = fabs(dot - (i == j ? gain2 : 0.0));
            worst = e > worst ? e : worst;
        }
    return worst;
}

static void test_orthogonal(void)
{
    ml_rng_t r;
    ml_init_t init = {ML_INIT_ORTHOGONAL, 0, 0};

    /* Wide: rows orthonormal, W W^T = I. */
    ml_rng_seed(&r, 21);
    CHECK(ml_init_fill(w, FAN_OUT, FAN_IN, &init, &r) == ML_OK);
    double e = orth_error(w, FAN_OUT, FAN_IN, 1.0);
    CHECK_MSG(e < 1e-4, "256x512: max |W W^T - I| = %g", e);

    /* Tall: columns orthonormal, W^T W = I. */
    ml_rng_seed(&r, 22);
    CHECK(ml_init_fill(w, FAN_IN, FAN_OUT, &init, &r) == ML_OK);
    e = orth_error(w, FAN_IN, FAN_OUT, 1.0);
    CHECK_MSG(e < 1e-4, "512x256: max |W^T W - I| = %g", e);

    /* Square, with a gain: W W^T = gain^2 I. */
    init.a = 1.5f;
    ml_rng_seed(&r, 23);
    float sq[64 * 64];
    CHECK(ml_init_fill(sq, 64, 64, &init, &r) == ML_OK);
    e = orth_error(sq, 64, 64, 2.25);
    CHECK_MSG(e < 2.25e-4, "64x64 gain 1.5: max |W W^T - 2.25 I| = %g", e);

    /* Tall with a gain. */
    init.a = 2.0f;
    ml_rng_seed(&r, 24);
    float tall[40 * 8];
    CHECK(ml_init_fill(tall, 40, 8, &init, &r) == ML_OK);
    e = orth_error(tall, 40, 8, 4.0);
    CHECK_MSG(e < 4e-4, "40x8 gain 2: max |W^T W - 4 I| = %g", e);

    /* Orthogonal rows of a random matrix are not the identity's rows. */
    int identity_like = 1;
    for (int i = 0; i < 64; i++)
        identity_like &= fabsf(fabsf(sq[i * 64 + i]) - 1.5f) < 1e-3f;
    CHECK(!identity_like);
}

static void test_reproducible(void)
{
    static float w2[N];
    for (int k = 0; k < ML_INIT_NKINDS; k++) {
        if (k == ML_INIT_ZEROS || k == ML_INIT_CONSTANT)
            continue;
        float a = k == ML_INIT_NORMAL ? 0.0f : k == ML_INIT_UNIFORM ? -1.0f : 0.0f;
        float b = k == ML_INIT_NORMAL || k == ML_INIT_UNIFORM ? 1.0f : 0.0f;
        /* The orthogonal initializer is costly at full size; a small slice of w is enough. */
        int64_t fo = k == ML_INIT_ORTHOGONAL ? 16 : FAN_OUT;
        ml_init_t init = {(ml_init_kind_t)k, a, b};
        ml_rng_t r;
        ml_rng_seed(&r, 31);
        CHECK(ml_init_fill(w, fo, FAN_IN, &init, &r) == ML_OK);
        ml_rng_seed(&r, 31);
        CHECK(ml_init_fill(w2, fo, FAN_IN, &init, &r) == ML_OK);
        CHECK_MSG(memcmp(w, w2, (size_t)(fo * FAN_IN) * sizeof(float)) == 0,
                  "%s: same seed, different values", ml_init_name((ml_init_kind_t)k));
        ml_rng_seed(&r, 32);
        CHECK(ml_init_fill(w2, fo, FAN_IN, &init, &r) == ML_OK);
        CHECK_MSG(memcmp(w, w2, (size_t)(fo * FAN_IN) * sizeof(float)) != 0,
                  "%s: different seeds, same values", ml_init_name((ml_init_kind_t)k));
    }
}

static void test_names(void)
{
    static const char *const expect[ML_INIT_NKINDS] = {
        "default",        "zeros",         "constant",        "normal",         "uniform",
        "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"};
    for (int k = 0; k < ML_INIT_NKINDS; k++) {
        const char *name = ml_init_name((ml_init_kind_t)k);
        CHECK_MSG(name && strcmp(name, expect[k]) == 0, "kind %d named %s", k,
                  name ? name : "NULL");
        CHECK(ml_init_kind_from_name(expect[k]) == k);
    }
    CHECK(ml_init_kind_from_name("xavier") == -1);
    CHECK(ml_init_kind_from_name("") == -1);
    CHECK(ml_init_kind_from_name("Zeros") == -1);
    CHECK(ml_init_name(ML_INIT_NKINDS) != NULL);
}

static void test_errors(void)
{
    float buf[8];
    ml_rng_t r;
    ml_rng_seed(&r, 1);
    ml_init_t bad = {ML_INIT_NKINDS, 0, 0};
    CHECK_ERR(ml_init_fill(buf, 2, 4, &bad, &r), ML_EARG, "10");
    bad.kind = (ml_init_kind_t)77;
    CHECK_ERR(ml_init_fill(buf, 2, 4, &bad, &r), ML_EARG, "77");
    ml_init_t ok = {ML_INIT_DEFAULT, 0, 0};
    CHECK_ERR(ml_init_fill(buf, -2, 4, &ok, &r), ML_EARG, "-2");
    CHECK_ERR(ml_init_fill(buf, 2, -4, &ok, &r), ML_EARG, "-4");
    ml_init_t nstd = {ML_INIT_NORMAL, 0.0f, -1.0f};
    CHECK_ERR(ml_init_fill(buf, 2, 4, &nstd, &r), ML_EARG, "-1");
    ml_init_t rev = {ML_INIT_UNIFORM, 1.0f, -1.0f};
    CHECK_ERR(ml_init_fill(buf, 2, 4, &rev, &r), ML_EARG, "-1");
}

int main(void)
{
    test_uniform_family();
    test_normal_family();
    test_constant_zeros();
    test_bias();
    test_orthogonal();
    test_reproducible();
    test_names();
    test_errors();
    return check_report("test_init");
}
