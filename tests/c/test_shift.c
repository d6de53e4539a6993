/* Distribution shift (shift.h). The distributions behind the p-values, the two-sample
 * statistics, the logistic regression, BBSE and EM are checked against SciPy, scikit-learn and
 * NumPy values in tests/ref/shift_reference.h (tests/ref/make_shift_reference.py, which draws
 * the same samples from the same 32-bit LCG as this file); the exact KS tail and BBSE's
 * joint-confusion claim also against closed forms. Generators: exact class counts and
 * largest-remainder rounding, no repeated rows without replacement, rows kept or dropped as
 * specified, corruptions against their definitions, relabelling per rule, the selection rate
 * against its integral, Dirichlet moments; the same seed gives the same result and another
 * seed another; bad arguments give ML_EARG naming the argument and its value. Views with
 * index lists and non-contiguous rows give what contiguous copies give. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../ref/shift_reference.h"
#include "check.h"
#include "moonlab/error.h"
#include "moonlab/shift.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- the LCG shared with make_shift_reference.py ---- */

static uint32_t lcg_state;
static void lcg_seed(uint32_t s) { lcg_state = s; }
static double lcg_u(void)
{
    lcg_state = 1664525u * lcg_state + 1013904223u;
    return ((double)lcg_state + 0.5) / 4294967296.0;
}
static double lcg_normal(void)
{
    double u1 = lcg_u(), u2 = lcg_u();
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static int has(const char *needle)
{
    return strstr(ml_errmsg(), needle) != NULL;
}

#define CHECK_ERR(call, code, needle)                                                   \
    do {                                                                                \
        int rc_ = (call);                                                               \
        CHECK_MSG(rc_ == (code) && has(needle), "rc %d, message '%s', expected '%s'",   \
                  rc_, ml_errmsg(), needle);                                            \
    } while (0)

static ml_tensor_t tensor2(int64_t n, int64_t d)
{
    ml_tensor_t t;
    int64_t s[2] = {n, d};
    ml_tensor_new(&t, 2, s);
    return t;
}

static ml_tensor_t tensor1(int64_t n)
{
    ml_tensor_t t;
    int64_t s[1] = {n};
    ml_tensor_new(&t, 1, s);
    return t;
}

/* ---- distributions ---- */

static void test_distributions(void)
{
    for (int i = 0; i < NELEM(ref_kolmogorov_x); i++)
        CHECK_CLOSE(ml_stat_kolmogorov_sf(ref_kolmogorov_x[i]), ref_kolmogorov_sf[i], 1e-14, 1e-9);
    CHECK(ml_stat_kolmogorov_sf(0) == 1.0);
    for (int i = 0; i < NELEM(ref_gamma_q); i++) {
        double q = ml_stat_gamma_q(ref_gamma_q[i].a, ref_gamma_q[i].x);
        CHECK_CLOSE(q, ref_gamma_q[i].q, 1e-15, 1e-9);
        CHECK_CLOSE(ml_stat_gamma_p(ref_gamma_q[i].a, ref_gamma_q[i].x) + q, 1.0, 1e-12, 0);
    }
    CHECK(isnan(ml_stat_gamma_q(-1, 1)));
    for (int i = 0; i < NELEM(ref_chi2); i++)
        CHECK_CLOSE(ml_stat_chi2_sf(ref_chi2[i].x, ref_chi2[i].df), ref_chi2[i].sf, 1e-15, 1e-9);
    for (int i = 0; i < NELEM(ref_binom); i++)
        CHECK_CLOSE(ml_stat_binom_sf(ref_binom[i].k, ref_binom[i].n, ref_binom[i].p),
                    ref_binom[i].sf, 1e-15, 1e-9);
}

/* C(a, b) as a double (small arguments). */
static double choose(int a, int b)
{
    if (b < 0 || b > a)
        return 0;
    double r = 1;
    for (int i = 1; i <= b; i++)
        r = r * (a - b + i) / i;
    return r;
}

static void test_ks(void)
{
    /* Equal sample sizes: P(D >= k/n) = 2 sum_j (-1)^(j+1) C(2n, n - jk) / C(2n, n)
     * (Gnedenko and Korolyuk), an independent closed form for the lattice-path count. */
    int n = 12;
    for (int k = 1; k <= n; k++) {
        double s = 0;
        for (int j = 1; j * k <= n; j++)
            s += (j % 2 ? 2.0 : -2.0) * choose(2 * n, n - j * k);
        double want = s / choose(2 * n, n);
        want = want > 1 ? 1 : want;
        CHECK_CLOSE(ml_stat_ks2_exact_sf(n, n, (int64_t)k * n), want, 1e-13, 1e-9);
    }
    CHECK(ml_stat_ks2_exact_sf(3, 4, 0) == 1.0);
    for (int c = 0; c < NELEM(ref_ks); c++) {
        int na = ref_ks[c].n, nb = ref_ks[c].m;
        double *a = malloc((size_t)na * sizeof *a), *b = malloc((size_t)nb * sizeof *b);
        lcg_seed(ref_ks[c].seed);
        if (ref_ks[c].kind == 1) {
            for (int i = 0; i < na; i++)
                a[i] = floor(4 * lcg_u()) / 4;
            for (int i = 0; i < nb; i++)
                b[i] = floor(4 * pow(lcg_u(), 0.8)) / 4;
        } else {
            for (int i = 0; i < na; i++)
                a[i] = lcg_normal();
            for (int i = 0; i < nb; i++)
                b[i] = ref_ks[c].shift + ref_ks[c].scale * lcg_normal();
        }
        double d, p;
        CHECK(ml_stat_ks2(&d, &p, a, na, b, nb, "ks") == ML_OK);
        CHECK_CLOSE(d, ref_ks[c].d, 1e-12, 0);
        CHECK_CLOSE(p, ref_ks[c].p, 1e-12, 1e-7);
        free(a);
        free(b);
    }
    double a[3] = {1, 2, NAN}, b[2] = {1, 2}, d, p;
    CHECK_ERR(ml_stat_ks2(&d, &p, a, 3, b, 2, "ks_test"), ML_ENAN, "ks_test: first sample value 3 is NaN");
    CHECK_ERR(ml_stat_ks2(&d, &p, a, 0, b, 2, "ks_test"), ML_EARG, "samples of 0 and 2 values");

    /* Per-column tests through a view: column 0 a clear shift, column 1 none; Bonferroni. */
    ml_tensor_t x = tensor2(200, 2), y = tensor2(150, 2);
    lcg_seed(5);
    for (int i = 0; i < 200; i++) {
        x.data[2 * i] = (float)lcg_normal();
        x.data[2 * i + 1] = (float)lcg_normal();
    }
    for (int i = 0; i < 150; i++) {
        y.data[2 * i] = (float)(1 + lcg_normal());
        y.data[2 * i + 1] = (float)lcg_normal();
    }
    ml_shift_rows_t va = ml_shift_view(&x, NULL, 0), vb = ml_shift_view(&y, NULL, 0);
    double st[2], ps[2], padj;
    CHECK(ml_shift_ks_test(st, ps, &padj, &va, &vb, "ks_test") == ML_OK);
    CHECK(ps[0] < 1e-10 && ps[1] > 0.01);
    CHECK_CLOSE(padj, fmin(1.0, 2 * fmin(ps[0], ps[1])), 0, 1e-15);
    /* the same column through ml_stat_ks2 */
    double *ca = malloc(200 * sizeof *ca), *cb = malloc(150 * sizeof *cb);
    for (int i = 0; i < 200; i++)
        ca[i] = x.data[2 * i + 1];
    for (int i = 0; i < 150; i++)
        cb[i] = y.data[2 * i + 1];
    CHECK(ml_stat_ks2(&d, &p, ca, 200, cb, 150, "ks") == ML_OK);
    CHECK(d == st[1] && p == ps[1]);
    free(ca);
    free(cb);
    ml_tensor_t z = tensor2(10, 3);
    ml_shift_rows_t vz = ml_shift_view(&z, NULL, 0);
    CHECK_ERR(ml_shift_ks_test(st, ps, &padj, &va, &vz, "ks_test"), ML_ESHAPE,
              "source rows have 2 values, target rows 3");
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&z);
}

static void test_chi2(void)
{
    for (int c = 0; c < NELEM(ref_chi2_table); c++) {
        int64_t na = 0, nb = 0, C = ref_chi2_table[c].C;
        for (int k = 0; k < C; k++) {
            na += ref_chi2_table[c].a[k];
            nb += ref_chi2_table[c].b[k];
        }
        int64_t *la = malloc((size_t)na * sizeof *la), *lb = malloc((size_t)nb * sizeof *lb);
        int64_t ia = 0, ib = 0, table[8];
        for (int k = 0; k < C; k++) {
            for (int64_t j = 0; j < ref_chi2_table[c].a[k]; j++)
                la[ia++] = k;
            for (int64_t j = 0; j < ref_chi2_table[c].b[k]; j++)
                lb[ib++] = k;
        }
        double stat, df, p;
        CHECK(ml_shift_chi2_test(&stat, &df, &p, table, la, na, lb, nb, C, "chi2") == ML_OK);
        CHECK_CLOSE(stat, ref_chi2_table[c].stat, 1e-12, 1e-10);
        CHECK(df == ref_chi2_table[c].df);
        CHECK_CLOSE(p, ref_chi2_table[c].p, 1e-15, 1e-9);
        for (int k = 0; k < C; k++)
            CHECK(table[k] == ref_chi2_table[c].a[k] && table[C + k] == ref_chi2_table[c].b[k]);
        free(la);
        free(lb);
    }
    int64_t one[3] = {2, 2, 2}, t[6], bad[2] = {0, 3};
    double stat, df, p;
    CHECK(ml_shift_chi2_test(&stat, &df, &p, t, one, 3, one, 2, 3, "chi2") == ML_OK);
    CHECK(stat == 0 && df == 0 && p == 1);
    CHECK_ERR(ml_shift_chi2_test(&stat, &df, &p, t, one, 3, bad, 2, 3, "chi2_test"), ML_EARG,
              "chi2_test: row 2 has label 3, outside the 3 classes 0..2");
}

static void mmd_data(ml_tensor_t *a, ml_tensor_t *b, unsigned seed, int n, int m, int d,
                     double shift)
{
    *a = tensor2(n, d);
    *b = tensor2(m, d);
    lcg_seed(seed);
    for (int i = 0; i < n * d; i++)
        a->data[i] = (float)lcg_normal();
    for (int i = 0; i < m * d; i++)
        b->data[i] = (float)(shift + lcg_normal());
}

static void test_mmd(void)
{
    for (int c = 0; c < NELEM(ref_mmd); c++) {
        ml_tensor_t a, b;
        mmd_data(&a, &b, ref_mmd[c].seed, ref_mmd[c].n, ref_mmd[c].m, ref_mmd[c].d,
                 ref_mmd[c].shift);
        ml_shift_rows_t va = ml_shift_view(&a, NULL, 0), vb = ml_shift_view(&b, NULL, 0);
        double mmd2, p, sigma, p2, s2, m2;
        CHECK(ml_shift_mmd_test(&mmd2, &p, &sigma, &va, &vb, 20000, 0, 7, "mmd") == ML_OK);
        CHECK_CLOSE(sigma, ref_mmd[c].sigma, 0, 1e-5);
        CHECK_CLOSE(mmd2, ref_mmd[c].mmd2, 1e-5, 1e-4);
        /* the Monte Carlo p against the exact permutation p (standard error <= 0.0036) */
        CHECK_CLOSE(p, ref_mmd[c].p_exact, 0.015, 0);
        CHECK(ml_shift_mmd_test(&m2, &p2, &s2, &va, &vb, 20000, 0, 7, "mmd") == ML_OK);
        CHECK(p2 == p && m2 == mmd2);
        CHECK(ml_shift_mmd_test(&m2, &p2, &s2, &va, &vb, 200, 0.5, 7, "mmd") == ML_OK);
        CHECK(s2 == 0.5);
        ml_tensor_free(&a);
        ml_tensor_free(&b);
    }
    ml_tensor_t a, b;
    mmd_data(&a, &b, 3, 1, 4, 2, 0);
    ml_shift_rows_t va = ml_shift_view(&a, NULL, 0), vb = ml_shift_view(&b, NULL, 0);
    double mmd2, p, sigma;
    CHECK_ERR(ml_shift_mmd_test(&mmd2, &p, &sigma, &va, &vb, 10, 0, 1, "mmd_test"), ML_EARG,
              "1 source and 4 target rows");
    CHECK_ERR(ml_shift_mmd_test(&mmd2, &p, &sigma, &vb, &vb, 0, 0, 1, "mmd_test"), ML_EARG,
              "permutations = 0");
    CHECK_ERR(ml_shift_mmd_test(&mmd2, &p, &sigma, &vb, &vb, 10, -1, 1, "mmd_test"), ML_EARG,
              "bandwidth = -1");
    ml_tensor_free(&a);
    ml_tensor_free(&b);
    /* identical rows: no median distance to use */
    ml_tensor_t z = tensor2(6, 2);
    ml_shift_rows_t vz = ml_shift_view(&z, NULL, 0);
    CHECK_ERR(ml_shift_mmd_test(&mmd2, &p, &sigma, &vz, &vz, 10, 0, 1, "mmd_test"), ML_EARG,
              "median distance between rows is 0");
    ml_tensor_free(&z);
}

/* ---- correction ---- */

static void logreg_data(ml_tensor_t *x0, ml_tensor_t *x1, int c)
{
    int d = ref_logreg[c].d;
    *x0 = tensor2(ref_logreg[c].n0, d);
    *x1 = tensor2(ref_logreg[c].n1, d);
    lcg_seed(ref_logreg[c].seed);
    for (int i = 0; i < ref_logreg[c].n0 * d; i++)
        x0->data[i] = (float)lcg_normal();
    for (int i = 0; i < ref_logreg[c].n1; i++)
        for (int j = 0; j < d; j++)
            x1->data[i * d + j] = (float)(ref_logreg[c].shift * (j + 1) / d + lcg_normal());
}

static void test_logreg(void)
{
    for (int c = 0; c < NELEM(ref_logreg); c++) {
        ml_tensor_t x0, x1;
        logreg_data(&x0, &x1, c);
        int d = ref_logreg[c].d, iters;
        ml_shift_rows_t v0 = ml_shift_view(&x0, NULL, 0), v1 = ml_shift_view(&x1, NULL, 0);
        double coef[4];
        CHECK(ml_shift_logreg(coef, &iters, &v0, &v1, ref_logreg[c].l2, 100, 1e-10, "lr") == ML_OK);
        for (int j = 0; j <= d; j++)
            CHECK_CLOSE(coef[j], ref_logreg[c].coef[j], 2e-6, 1e-5);
        CHECK(iters >= 2 && iters < 30);
        /* The same through non-contiguous rows (a transposed copy) and an index list. */
        int64_t n1 = ref_logreg[c].n1, s[2] = {d, n1};
        ml_tensor_t tt, view;
        ml_tensor_new(&tt, 2, s);
        for (int64_t i = 0; i < n1; i++)
            for (int j = 0; j < d; j++)
                tt.data[j * n1 + i] = x1.data[i * d + j];
        ml_tensor_transpose(&view, &tt, 0, 1);
        int64_t *rows = malloc((size_t)n1 * sizeof *rows);
        for (int64_t i = 0; i < n1; i++)
            rows[i] = n1 - 1 - i; /* reversed: the fit does not depend on the order */
        ml_shift_rows_t vt = ml_shift_view(&view, rows, n1);
        double coef2[4];
        CHECK(ml_shift_logreg(coef2, NULL, &v0, &vt, ref_logreg[c].l2, 100, 1e-10, "lr") == ML_OK);
        for (int j = 0; j <= d; j++)
            CHECK_CLOSE(coef2[j], coef[j], 1e-9, 1e-8);
        /* importance weights from the fit: min(clip, ratio exp(h(x))) */
        float w[100];
        CHECK(ml_shift_importance(w, &v0, coef, 0.5, 1.2, "iw") == ML_OK);
        for (int i = 0; i < 5; i++) {
            double z = coef[d];
            for (int j = 0; j < d; j++)
                z += coef[j] * x0.data[i * d + j];
            CHECK_CLOSE(w[i], fmin(1.2, 0.5 * exp(z)), 0, 1e-6);
        }
        free(rows);
        ml_tensor_free(&tt);
        ml_tensor_free(&x0);
        ml_tensor_free(&x1);
    }
    ml_tensor_t a = tensor2(4, 2), b = tensor2(3, 3);
    ml_shift_rows_t va = ml_shift_view(&a, NULL, 0), vb = ml_shift_view(&b, NULL, 0);
    double coef[4];
    CHECK_ERR(ml_shift_logreg(coef, NULL, &va, &vb, 1, 10, 1e-8, "domain_classifier"), ML_ESHAPE,
              "source rows have 2 values, target rows 3");
    CHECK_ERR(ml_shift_logreg(coef, NULL, &va, &va, -1, 10, 1e-8, "domain_classifier"), ML_EARG,
              "l2 = -1 must be >= 0");
    float w[4];
    CHECK_ERR(ml_shift_importance(w, &va, coef, 0, 1, "importance_weights"), ML_EARG,
              "ratio = 0 must be > 0");
    ml_tensor_free(&a);
    ml_tensor_free(&b);
}

static void test_domain_test(void)
{
    /* Same distribution: the held-out accuracy is chance. Shifted: far above it. */
    ml_tensor_t a = tensor2(400, 2), b = tensor2(300, 2), c = tensor2(300, 2);
    lcg_seed(77);
    for (int i = 0; i < 800; i++)
        a.data[i] = (float)lcg_normal();
    for (int i = 0; i < 600; i++)
        b.data[i] = (float)lcg_normal();
    for (int i = 0; i < 600; i++)
        c.data[i] = (float)(i % 2 ? lcg_normal() : 1.0 + lcg_normal());
    ml_shift_rows_t va = ml_shift_view(&a, NULL, 0), vb = ml_shift_view(&b, NULL, 0);
    ml_shift_rows_t vc = ml_shift_view(&c, NULL, 0);
    double acc, p;
    int64_t k, tot;
    CHECK(ml_shift_domain_test(&acc, &k, &tot, &p, &va, &vb, 0.5, 1, 3, "clf") == ML_OK);
    CHECK(tot == 300 && fabs(acc - 0.5) < 0.1 && p > 0.01);
    CHECK(p == ml_stat_binom_sf(k, tot, 0.5));
    CHECK(ml_shift_domain_test(&acc, &k, &tot, &p, &va, &vc, 0.5, 1, 3, "clf") == ML_OK);
    CHECK(acc > 0.62 && p < 1e-4);
    CHECK_ERR(ml_shift_domain_test(&acc, &k, &tot, &p, &va, &vb, 1.0, 1, 3, "classifier_test"),
              ML_EARG, "holdout = 1 is outside (0, 1)");
    ml_tensor_free(&a);
    ml_tensor_free(&b);
    ml_tensor_free(&c);
}

static void test_bbse(void)
{
    for (int c = 0; c < NELEM(ref_bbse); c++) {
        int n = ref_bbse[c].n, m = ref_bbse[c].m;
        int64_t *ps = malloc((size_t)n * sizeof *ps), *ys = malloc((size_t)n * sizeof *ys);
        int64_t *pt = malloc((size_t)m * sizeof *pt);
        lcg_seed(ref_bbse[c].seed);
        for (int i = 0; i < n; i++)
            ys[i] = (int64_t)(3 * lcg_u());
        for (int i = 0; i < n; i++) {
            if (lcg_u() < 0.7)
                ps[i] = ys[i];
            else
                ps[i] = (ys[i] + 1 + (int64_t)(2 * lcg_u())) % 3;
        }
        for (int i = 0; i < m; i++) {
            int64_t v = (int64_t)(3 * pow(lcg_u(), 1.7));
            pt[i] = v < 2 ? v : 2;
        }
        double w[3], conf[9], mu[3], pri[3];
        CHECK(ml_shift_bbse(w, conf, mu, pri, ps, ys, n, pt, m, 3, ref_bbse[c].ridge, "bbse") == ML_OK);
        for (int j = 0; j < 3; j++) {
            CHECK_CLOSE(w[j], ref_bbse[c].w[j], 1e-12, 1e-9);
            CHECK_CLOSE(pri[j], ref_bbse[c].priors[j], 1e-12, 1e-9);
        }
        free(ps);
        free(ys);
        free(pt);
    }
    /* A joint confusion matrix C[i][j] = P(yhat = i | y = j) p_s(j), built from exact counts:
     * with p_s = (.5, .3, .2), P(yhat | y) = M and target priors p_t = (.2, .3, .5), the target's
     * predicted labels follow mu = M p_t = (.29, .33, .38). Solving C w = mu (no ridge) gives
     * w = p_t / p_s = (.4, 1, 2.5), not p_t. */
    static const double M[3][3] = {{0.8, 0.1, 0.2}, {0.1, 0.7, 0.2}, {0.1, 0.2, 0.6}};
    static const int ns[3] = {500, 300, 200}, mt[3] = {290, 330, 380};
    int64_t ps[1000], ys[1000], pt[1000], k = 0;
    for (int j = 0; j < 3; j++)
        for (int i = 0; i < 3; i++)
            for (int r = 0; r < (int)lround(M[i][j] * ns[j]); r++) {
                ys[k] = j;
                ps[k++] = i;
            }
    CHECK(k == 1000);
    k = 0;
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < mt[i]; r++)
            pt[k++] = i;
    double w[3], conf[9], mu[3], pri[3];
    CHECK(ml_shift_bbse(w, conf, mu, pri, ps, ys, 1000, pt, 1000, 3, 0, "bbse") == ML_OK);
    CHECK_CLOSE(w[0], 0.4, 1e-12, 1e-10);
    CHECK_CLOSE(w[1], 1.0, 1e-12, 1e-10);
    CHECK_CLOSE(w[2], 2.5, 1e-12, 1e-10);
    CHECK_CLOSE(pri[0], 0.2, 1e-12, 1e-10);
    CHECK_CLOSE(pri[2], 0.5, 1e-12, 1e-10);
    CHECK_CLOSE(conf[0 * 3 + 1], 0.1 * 0.3, 1e-15, 1e-12); /* C[0][1] = P(yhat=0|y=1) p_s(1) */
    CHECK_CLOSE(mu[1], 0.33, 1e-15, 1e-12);
    /* the default ridge 1/min(n, m) pulls w slightly toward 1 */
    double wr[3];
    CHECK(ml_shift_bbse(wr, conf, mu, pri, ps, ys, 1000, pt, 1000, 3, -1, "bbse") == ML_OK);
    CHECK(wr[0] > 0.4 && wr[1] > 1.0 && wr[2] < 2.5 && fabs(wr[2] - 2.5) < 0.2); /* 0.418, 1.037, 2.363 */
    /* a class never seen in held-out data makes C singular without a ridge */
    CHECK_ERR(ml_shift_bbse(w, conf, mu, pri, ps, ys, 500, pt, 1000, 3, 0, "bbse"), ML_EARG,
              "bbse: the confusion matrix is singular");
    CHECK_ERR(ml_shift_bbse(w, conf, mu, pri, ps, ys, 1000, pt, 1000, 2, 0, "bbse"), ML_EARG,
              "bbse: row 451 has label 2, outside the 2 classes 0..1");
}

static void test_em(void)
{
    for (int c = 0; c < NELEM(ref_em); c++) {
        int m = ref_em[c].m;
        double *probs = malloc((size_t)m * 3 * sizeof *probs);
        double *post = malloc((size_t)m * 3 * sizeof *post);
        lcg_seed(ref_em[c].seed);
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int k = 0; k < 3; k++) {
                double u = lcg_u();
                s += probs[i * 3 + k] = u * u + 0.01;
            }
            for (int k = 0; k < 3; k++)
                probs[i * 3 + k] /= s;
        }
        double pri[3];
        int iters, conv;
        CHECK(ml_shift_em(pri, post, &iters, &conv, probs, m, ref_em[c].src, 3, 1e-6, 100, "em") == ML_OK);
        CHECK(conv && iters == ref_em[c].iters);
        for (int k = 0; k < 3; k++)
            CHECK_CLOSE(pri[k], ref_em[c].priors[k], 1e-12, 1e-9);
        /* near the fixed point the priors are the mean of the adjusted posteriors */
        for (int k = 0; k < 3; k++) {
            double mean = 0;
            for (int i = 0; i < m; i++)
                mean += post[i * 3 + k] / m;
            CHECK_CLOSE(mean, pri[k], 2e-5, 0);
        }
        int it1, conv1;
        CHECK(ml_shift_em(pri, NULL, &it1, &conv1, probs, m, ref_em[c].src, 3, 1e-6, 3, "em") == ML_OK);
        CHECK(it1 == 3 && !conv1);
        free(probs);
        free(post);
    }
    double probs[6] = {0.5, 0.5, 0.2, 0.8}, pri[2], src_bad[2] = {0.6, 0.6}, src0[2] = {1, 0};
    int it, conv;
    CHECK_ERR(ml_shift_em(pri, NULL, &it, &conv, probs, 2, src_bad, 2, 1e-6, 100, "em"), ML_EARG,
              "em: source_priors sum to 1.2");
    CHECK_ERR(ml_shift_em(pri, NULL, &it, &conv, probs, 2, src0, 2, 1e-6, 100, "em"), ML_EARG,
              "source_priors[2] = 0");
    /* recalibration: p(y|x) ∝ w_y p(y|x) */
    double p2[4] = {0.5, 0.5, 0.2, 0.8}, w[2] = {3, 1};
    CHECK(ml_shift_recalibrate(p2, 2, w, 2, "recalibrate") == ML_OK);
    CHECK_CLOSE(p2[0], 0.75, 1e-15, 0);
    CHECK_CLOSE(p2[2], 0.6 / 1.4, 1e-15, 1e-12);
    double wneg[2] = {-1, 1};
    CHECK_ERR(ml_shift_recalibrate(p2, 2, wneg, 2, "recalibrate"), ML_EARG, "weights[1] = -1");
    /* probabilities from logits (softmax) and checked probabilities */
    ml_tensor_t s = tensor2(2, 2);
    s.data[0] = 0;
    s.data[1] = (float)log(3.0);
    s.data[2] = 0.3f;
    s.data[3] = 0.7f;
    ml_shift_rows_t vs = ml_shift_view(&s, NULL, 0);
    double out[4];
    CHECK(ml_shift_probabilities(out, &vs, 1, "em") == ML_OK);
    CHECK_CLOSE(out[1], 0.75, 1e-7, 0);
    CHECK(ml_shift_probabilities(out, &vs, 0, "em") != ML_OK); /* row 1 sums to 1 + log 3 */
    CHECK(has("em: row 1 sums to 1.09861"));
    ml_tensor_free(&s);
}

/* ---- generators ---- */

static int64_t count_of(const int64_t *out, int64_t n, const int64_t *labels, int64_t k)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++)
        c += labels[out[i]] == k;
    return c;
}

static int ascending(const int64_t *v, int64_t n, int strict)
{
    for (int64_t i = 1; i < n; i++)
        if (strict ? v[i] <= v[i - 1] : v[i] < v[i - 1])
            return 0;
    return 1;
}

static void test_label_shift(void)
{
    int64_t counts[3];
    double pri[3] = {0.5, 0.25, 0.25};
    ml_shift_class_counts(counts, pri, 3, 10); /* 5, 2.5, 2.5: the tie goes to class 1 */
    CHECK(counts[0] == 5 && counts[1] == 3 && counts[2] == 2);
    double pri2[3] = {0.2, 0.3, 0.5};
    ml_shift_class_counts(counts, pri2, 3, 7); /* 1.4, 2.1, 3.5 -> 1, 2, 4 */
    CHECK(counts[0] == 1 && counts[1] == 2 && counts[2] == 4);

    /* 180 rows: 100 of class 0, 50 of class 1, 30 of class 2, interleaved */
    int64_t lab[180], out[2000], out2[2000], n, n2;
    for (int i = 0; i < 180; i++)
        lab[i] = i < 150 ? (i % 3 == 2 ? 1 : 0) : 2;
    for (int i = 0; i < 150; i++)
        lab[i] = i % 3 == 0 ? 1 : 0;
    int64_t cnt[3] = {0, 0, 0};
    for (int i = 0; i < 180; i++)
        cnt[lab[i]]++;
    CHECK(cnt[0] == 100 && cnt[1] == 50 && cnt[2] == 30);
    /* without replacement, default size: class 2 (30 rows at 0.5) allows 60 */
    CHECK(ml_shift_resample(out, &n, lab, 180, pri2, 3, 0, 0, 9, "resample") == ML_OK);
    CHECK(n == 60 && count_of(out, n, lab, 0) == 12 && count_of(out, n, lab, 1) == 18 &&
          count_of(out, n, lab, 2) == 30);
    CHECK(ascending(out, n, 1)); /* ascending, no row twice */
    CHECK(ml_shift_resample(out2, &n2, lab, 180, pri2, 3, 0, 0, 9, "resample") == ML_OK);
    CHECK(n2 == n && memcmp(out, out2, (size_t)n * sizeof *out) == 0);
    CHECK(ml_shift_resample(out2, &n2, lab, 180, pri2, 3, 0, 0, 10, "resample") == ML_OK);
    CHECK(memcmp(out, out2, (size_t)n * sizeof *out) != 0);
    /* with replacement: exact counts, repeats */
    CHECK(ml_shift_resample(out, &n, lab, 180, pri2, 3, 1000, 1, 9, "resample") == ML_OK);
    CHECK(n == 1000 && count_of(out, n, lab, 0) == 200 && count_of(out, n, lab, 2) == 500);
    CHECK(ascending(out, n, 0) && !ascending(out, n, 1));
    /* errors */
    double bad[3] = {0.5, 0.5, 0.2}, neg[3] = {1.2, -0.2, 0}, two[2] = {0.5, 0.5};
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, bad, 3, 0, 0, 9, "resample"), ML_EARG,
              "resample: priors sum to 1.2, expected 1");
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, neg, 3, 0, 0, 9, "resample"), ML_EARG,
              "priors[2] = -0.2; priors must be >= 0");
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, two, 2, 0, 0, 9, "resample"), ML_EARG,
              "row 151 has label 2, outside the 2 classes 0..1");
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, pri2, 3, 100, 0, 9, "resample"), ML_EARG,
              "priors[3] = 0.5 asks for 50 rows of class 2, which has 30");
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, pri2, 3, 181, 0, 9, "resample"), ML_EARG,
              "size = 181 is more than the 180 rows");
    double four[4] = {0.25, 0.25, 0.25, 0.25};
    CHECK_ERR(ml_shift_resample(out, &n, lab, 180, four, 4, 0, 1, 9, "resample"), ML_EARG,
              "resample: priors[4] = 0.25 but class 3 has no rows");

    /* tweak-one, Dirichlet */
    double tw[4];
    CHECK(ml_shift_tweak_one(tw, 4, 2, 0.7, "tweak_one") == ML_OK);
    CHECK(tw[2] == 0.7 && fabs(tw[0] - 0.1) < 1e-15 && fabs(tw[3] - 0.1) < 1e-15);
    CHECK_ERR(ml_shift_tweak_one(tw, 4, 2, 1.5, "tweak_one"), ML_EARG, "tweak_one: rho = 1.5 is outside [0, 1]");
    CHECK_ERR(ml_shift_tweak_one(tw, 4, 4, 0.5, "tweak_one"), ML_EARG, "class = 4 is outside the 4 classes 0..3");
    double alphas[2] = {0.3, 5.0};
    for (int a = 0; a < 2; a++) {
        /* Dirichlet(alpha 1): E p_k = 1/C, Var p_k = (1/C)(1 - 1/C) / (C alpha + 1) */
        int C = 4, draws = 4000;
        double mean = 0, sq = 0, d[4];
        for (int t = 0; t < draws; t++) {
            CHECK(ml_shift_dirichlet(d, C, alphas[a], (uint64_t)t, "dirichlet") == ML_OK || t < 0);
            mean += d[1] / draws;
            sq += d[1] * d[1] / draws;
        }
        double var = sq - mean * mean, want = 0.25 * 0.75 / (C * alphas[a] + 1);
        CHECK_CLOSE(mean, 0.25, 0.012, 0);
        CHECK_CLOSE(var, want, 0, 0.1);
    }
    double d[4];
    CHECK_ERR(ml_shift_dirichlet(d, 4, 0, 1, "dirichlet"), ML_EARG, "dirichlet: alpha = 0 must be > 0");

    /* knock-out and keep-one-class */
    CHECK(ml_shift_knock_out(out, &n, lab, 180, 1, 0.4, 3, "knock_out") == ML_OK);
    CHECK(n == 160 && count_of(out, n, lab, 1) == 30 && count_of(out, n, lab, 0) == 100);
    CHECK(ascending(out, n, 1));
    CHECK(ml_shift_knock_out(out, &n, lab, 180, 1, 1.0, 3, "knock_out") == ML_OK);
    CHECK(n == 130 && count_of(out, n, lab, 1) == 0);
    CHECK_ERR(ml_shift_knock_out(out, &n, lab, 180, 1, -0.1, 3, "knock_out"), ML_EARG,
              "knock_out: fraction = -0.1 is outside [0, 1]");
    CHECK(ml_shift_keep_class(out, &n, lab, 180, 2, "only_class") == ML_OK);
    CHECK(n == 30 && out[0] == 150 && out[29] == 179);
}

static void test_labels(void)
{
    ml_tensor_t y = tensor1(4);
    float v[4] = {0, 2, 1, 2};
    memcpy(y.data, v, sizeof v);
    ml_shift_rows_t vy = ml_shift_view(&y, NULL, 0);
    int64_t lab[4], C;
    CHECK(ml_shift_labels(lab, &vy, 3, "f", "y") == ML_OK && lab[1] == 2);
    CHECK(ml_shift_is_classes(&vy, &C) && C == 3);
    CHECK_ERR(ml_shift_labels(lab, &vy, 2, "resample", "y"), ML_EARG,
              "resample: y row 2 is class 2, outside the 2 classes 0..1");
    y.data[3] = 1.5f;
    CHECK_ERR(ml_shift_labels(lab, &vy, 0, "resample", "y"), ML_EARG,
              "y row 4 is 1.5, expected a class label");
    CHECK(!ml_shift_is_classes(&vy, &C));
    int64_t rows[2] = {3, 4};
    ml_shift_rows_t bad = ml_shift_view(&y, rows, 2);
    CHECK_ERR(ml_shift_check_view(&bad, "f", "rows"), ML_EARG, "f: rows row 2 is 5, outside 1..4");
    /* scores -> argmax */
    ml_tensor_t s = tensor2(2, 3);
    float sv[6] = {0.1f, 0.7f, 0.2f, 3, -1, 2};
    memcpy(s.data, sv, sizeof sv);
    ml_shift_rows_t vs = ml_shift_view(&s, NULL, 0);
    CHECK(ml_shift_predicted(lab, &C, &vs, 0, "f", "p") == ML_OK && lab[0] == 1 && lab[1] == 0 && C == 3);
    CHECK_ERR(ml_shift_predicted(lab, &C, &vs, 4, "chi2_test", "source"), ML_ESHAPE,
              "source has 3 score columns for 4 classes");
    ml_tensor_free(&y);
    ml_tensor_free(&s);
}

static void test_selection(void)
{
    /* x_1 ~ U(0, 1), p = sigmoid(4 x_1 - 3): E p = (softplus(1) - softplus(-3)) / 4 */
    int64_t N = 20000;
    ml_tensor_t x = tensor2(N, 2);
    lcg_seed(99);
    for (int64_t i = 0; i < 2 * N; i++)
        x.data[i] = (float)lcg_u();
    ml_shift_rows_t vx = ml_shift_view(&x, NULL, 0);
    int64_t *out = malloc((size_t)N * sizeof *out), *out2 = malloc((size_t)N * sizeof *out2), n, n2;
    int64_t feat[1] = {1};
    double coef[1] = {4};
    CHECK(ml_shift_select_logistic(out, &n, &vx, feat, coef, 1, -3, 0, 5, "selection") == ML_OK);
    double want = (log1p(exp(1.0)) - log1p(exp(-3.0))) / 4;
    CHECK_CLOSE((double)n / N, want, 0.012, 0);
    CHECK(ascending(out, n, 1));
    /* the kept rows lean toward large x_1, the other feature is untouched */
    double m1 = 0, m0 = 0;
    for (int64_t i = 0; i < n; i++) {
        m1 += x.data[2 * out[i] + 1] / n;
        m0 += x.data[2 * out[i]] / n;
    }
    CHECK(m1 > 0.6 && fabs(m0 - 0.5) < 0.02);
    CHECK(ml_shift_select_logistic(out2, &n2, &vx, feat, coef, 1, -3, 0, 5, "selection") == ML_OK);
    CHECK(n2 == n && memcmp(out, out2, (size_t)n * sizeof *out) == 0);
    /* with a size: draws with replacement proportional to p */
    CHECK(ml_shift_select_logistic(out, &n, &vx, feat, coef, 1, -3, 5000, 5, "selection") == ML_OK);
    CHECK(n == 5000 && ascending(out, n, 0));
    double ms = 0;
    for (int64_t i = 0; i < n; i++)
        ms += x.data[2 * out[i] + 1] / n;
    CHECK_CLOSE(ms, m1, 0.02, 0);
    /* through a view: positions of the view, not rows of the tensor */
    int64_t rows[3] = {10, 11, 12};
    ml_shift_rows_t vr = ml_shift_view(&x, rows, 3);
    double big[1] = {100};
    CHECK(ml_shift_select_logistic(out, &n, &vr, feat, big, 1, 50, 0, 5, "selection") == ML_OK);
    CHECK(n == 3 && out[0] == 0 && out[2] == 2);
    int64_t badf[1] = {2};
    CHECK_ERR(ml_shift_select_logistic(out, &n, &vx, badf, coef, 1, 0, 0, 5, "selection"), ML_EARG,
              "selection: features[1] = 3 is outside the row's 1..2 values");
    CHECK_ERR(ml_shift_select_logistic(out, &n, &vx, feat, coef, 0, 0, 0, 5, "selection"), ML_EARG,
              "features is empty");
    free(out);
    free(out2);
    ml_tensor_free(&x);
}

static void test_corrupt(void)
{
    int64_t N = 50, D = 16;
    int64_t s3[3] = {N, 4, 4}, so[3] = {N, 4, 4};
    ml_tensor_t x, out;
    ml_tensor_new(&x, 3, s3);
    ml_tensor_new(&out, 3, so);
    lcg_seed(4);
    for (int64_t i = 0; i < N * D; i++)
        x.data[i] = (float)lcg_u();
    ml_shift_rows_t vx = ml_shift_view(&x, NULL, 0);
    uint8_t picked[50];
    int64_t changed;
    CHECK(ml_shift_corrupt(&out, picked, &changed, &vx, ML_CORRUPT_INVERT, 0, 0.3, 0, 0, 1, "c") == ML_OK);
    int64_t np = 0;
    int ok = 1;
    for (int64_t i = 0; i < N; i++) {
        np += picked[i];
        for (int64_t j = 0; j < D; j++)
            ok &= out.data[i * D + j] == (picked[i] ? 1.0f - x.data[i * D + j] : x.data[i * D + j]);
    }
    CHECK(np == 15 && changed == 15 && ok);
    /* contrast 1 changes nothing; contrast 0 makes each picked image its mean */
    CHECK(ml_shift_corrupt(&out, picked, &changed, &vx, ML_CORRUPT_CONTRAST, 1, 1.0, 0, 0, 1, "c") == ML_OK);
    CHECK(changed <= 2); /* (x - m) + m may round in the last bit */
    CHECK(ml_shift_corrupt(&out, picked, &changed, &vx, ML_CORRUPT_CONTRAST, 0, 1.0, 0, 0, 1, "c") == ML_OK);
    double mean = 0;
    for (int64_t j = 0; j < D; j++)
        mean += x.data[j] / D;
    CHECK_CLOSE(out.data[0], mean, 1e-6, 0);
    CHECK_CLOSE(out.data[D - 1], mean, 1e-6, 0);
    /* brightness clips at 1 */
    CHECK(ml_shift_corrupt(&out, picked, &changed, &vx, ML_CORRUPT_BRIGHTNESS, 0.5, 1.0, 0, 0, 1, "c") == ML_OK);
    ok = 1;
    for (int64_t j = 0; j < N * D; j++)
        ok &= out.data[j] == (float)fmin(1.0, (double)x.data[j] + 0.5);
    CHECK(ok && changed == N);
    /* noise: sigma = level / 255 on pixels far from the clipping bounds */
    ml_tensor_t flat = tensor2(400, 400), fo = tensor2(400, 400);
    for (int64_t i = 0; i < 400 * 400; i++)
        flat.data[i] = 0.5f;
    ml_shift_rows_t vf = ml_shift_view(&flat, NULL, 0);
    CHECK(ml_shift_corrupt(&fo, NULL, &changed, &vf, ML_CORRUPT_NOISE, 10, 0.5, 0, 0, 2, "c") == ML_OK);
    double sum = 0, sq = 0;
    int64_t cnt = 0;
    for (int64_t i = 0; i < 400; i++)
        if (fo.data[i * 400] != 0.5f || fo.data[i * 400 + 1] != 0.5f) {
            cnt++;
            for (int64_t j = 0; j < 400; j++) {
                double e = fo.data[i * 400 + j] - 0.5;
                sum += e;
                sq += e * e;
            }
        }
    CHECK(cnt == 200 && changed == 200);
    double sd = sqrt(sq / (cnt * 400.0) - pow(sum / (cnt * 400.0), 2));
    CHECK_CLOSE(sd, 10.0 / 255.0, 0, 0.01);
    /* noise 100/255 clips into [0, 1] */
    CHECK(ml_shift_corrupt(&fo, NULL, &changed, &vf, ML_CORRUPT_NOISE, 100, 1.0, 0, 0, 2, "c") == ML_OK);
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < 400 * 400; i++) {
        lo = fminf(lo, fo.data[i]);
        hi = fmaxf(hi, fo.data[i]);
    }
    CHECK(lo == 0.0f && hi == 1.0f);
    /* blur: a constant image stays constant, a single bright pixel spreads symmetrically */
    ml_tensor_t img = tensor2(2, 81), io = tensor2(2, 81); /* (N, 81): 9 x 9 images */
    for (int64_t j = 0; j < 81; j++) {
        img.data[j] = 0.25f;
        img.data[81 + j] = j == 40 ? 1.0f : 0.0f;
    }
    ml_shift_rows_t vi = ml_shift_view(&img, NULL, 0);
    CHECK(ml_shift_corrupt(&io, NULL, &changed, &vi, ML_CORRUPT_BLUR, 1.0, 1.0, 0, 0, 2, "c") == ML_OK);
    ok = 1;
    for (int64_t j = 0; j < 81; j++)
        ok &= fabsf(io.data[j] - 0.25f) < 1e-6f;
    double tot = 0;
    for (int64_t j = 0; j < 81; j++)
        tot += io.data[81 + j];
    /* the kernel's 1-D weights, radius 3 */
    double k0 = 1, k1 = exp(-0.5), ks = k0 + 2 * (k1 + exp(-2.0) + exp(-4.5));
    CHECK(ok && changed >= 1); /* the constant image may move in the last bit */
    CHECK_CLOSE(tot, 1.0, 1e-5, 0);
    CHECK_CLOSE(io.data[81 + 40], (k0 / ks) * (k0 / ks), 1e-6, 0);
    CHECK_CLOSE(io.data[81 + 41], (k0 / ks) * (k1 / ks), 1e-6, 0);
    CHECK(io.data[81 + 39] == io.data[81 + 41] && io.data[81 + 31] == io.data[81 + 49]);
    /* errors: pixels outside [0, 1], fraction outside [0, 1], blur on non-square rows */
    x.data[5 * D + 3] = 255;
    CHECK_ERR(ml_shift_corrupt(&out, NULL, &changed, &vx, ML_CORRUPT_INVERT, 0, 0.5, 0, 0, 1, "corrupt"),
              ML_EARG, "corrupt: x row 6 holds 255 at value 4");
    x.data[5 * D + 3] = 0;
    CHECK_ERR(ml_shift_corrupt(&out, NULL, &changed, &vx, ML_CORRUPT_INVERT, 0, 1.5, 0, 0, 1, "corrupt"),
              ML_EARG, "corrupt: fraction = 1.5 is outside [0, 1]");
    CHECK_ERR(ml_shift_corrupt(&out, NULL, &changed, &vx, ML_CORRUPT_NOISE, 0, 0.5, 0, 0, 1, "corrupt"),
              ML_EARG, "noise level = 0 must be > 0");
    ml_tensor_t odd = tensor2(2, 10), oo = tensor2(2, 10);
    ml_shift_rows_t vo = ml_shift_view(&odd, NULL, 0);
    CHECK_ERR(ml_shift_corrupt(&oo, NULL, &changed, &vo, ML_CORRUPT_BLUR, 1, 0.5, 0, 0, 1, "corrupt"),
              ML_ESHAPE, "rows of 10 values are not 3 x 3 images");
    CHECK(ml_shift_corrupt(&oo, NULL, &changed, &vo, ML_CORRUPT_BLUR, 1, 0.5, 2, 5, 1, "corrupt") == ML_OK);
    CHECK(ml_corruption_from_name("blur") == ML_CORRUPT_BLUR && ml_corruption_from_name("fog") == -1);
    ml_tensor_free(&x);
    ml_tensor_free(&out);
    ml_tensor_free(&flat);
    ml_tensor_free(&fo);
    ml_tensor_free(&img);
    ml_tensor_free(&io);
    ml_tensor_free(&odd);
    ml_tensor_free(&oo);
}

static void test_relabel(void)
{
    int64_t N = 1000;
    ml_tensor_t x = tensor2(N, 2), y = tensor1(N), yo = tensor1(N);
    lcg_seed(8);
    for (int64_t i = 0; i < N; i++) {
        x.data[2 * i] = (float)lcg_u();
        x.data[2 * i + 1] = (float)lcg_u();
        y.data[i] = (float)(i % 3);
    }
    ml_shift_rows_t vx = ml_shift_view(&x, NULL, 0), vy = ml_shift_view(&y, NULL, 0);
    int64_t map[3] = {1, 0, 2}; /* swap 0 and 1 */
    ml_relabel_t rule = {map, 3, 1, 0.5, 1, 1.0};
    int64_t changed;
    CHECK(ml_shift_relabel(&yo, &changed, &vy, &vx, &rule, 1, "relabel") == ML_OK);
    int ok = 1;
    int64_t want = 0;
    for (int64_t i = 0; i < N; i++) {
        int64_t old = i % 3, lab = x.data[2 * i + 1] > 0.5f ? map[old] : old;
        ok &= yo.data[i] == (float)lab;
        want += lab != old;
    }
    CHECK(ok && changed == want);
    /* a fraction, on a view that lists row 7 three times: one decision per row */
    int64_t rows[5] = {7, 7, 7, 8, 9};
    ml_shift_rows_t vr = ml_shift_view(&y, rows, 5);
    rule.feature = -1;
    rule.fraction = 0.5;
    /* rows 7, 8, 9 hold classes 1, 2, 0: row 7 counts 0 or 3 changes, row 9 0 or 1 */
    int agree = 1, seen_row7 = 0;
    for (uint64_t s = 0; s < 20; s++) {
        CHECK(ml_shift_relabel(&yo, &changed, &vr, NULL, &rule, s, "relabel") == ML_OK);
        agree &= changed == 0 || changed == 1 || changed == 3 || changed == 4;
        agree &= (changed >= 3) == (yo.data[7] == 0.0f);
        agree &= yo.data[0] == y.data[0] && yo.data[500] == y.data[500]; /* outside the view */
        seen_row7 += changed >= 3;
    }
    CHECK(agree && seen_row7 > 0 && seen_row7 < 20);
    rule.fraction = 0.3;
    CHECK(ml_shift_relabel(&yo, &changed, &vy, NULL, &rule, 2, "relabel") == ML_OK);
    CHECK_CLOSE((double)changed / N, 0.3 * 2.0 / 3.0, 0.05, 0);
    int64_t badmap[3] = {0, 5, 2};
    rule.map = badmap;
    CHECK_ERR(ml_shift_relabel(&yo, &changed, &vy, NULL, &rule, 2, "relabel"), ML_EARG,
              "relabel: map sends class 1 to 5, outside the 3 classes 0..2");
    rule.map = map;
    rule.nclasses = 2;
    CHECK_ERR(ml_shift_relabel(&yo, &changed, &vy, NULL, &rule, 2, "relabel"), ML_EARG,
              "relabel: y row 3 is 2, outside the 2 classes 0..1 of the map");
    rule.nclasses = 3;
    rule.feature = 2;
    CHECK_ERR(ml_shift_relabel(&yo, &changed, &vy, &vx, &rule, 2, "relabel"), ML_EARG,
              "feature = 3 is outside the row's 1..2 values");
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&yo);
}

static void test_mean_shift(void)
{
    ml_tensor_t x = tensor2(4, 2);
    float v[8] = {0, 0, 2, 0, 0, 4, 2, 4};
    memcpy(x.data, v, sizeof v);
    int64_t rows[2] = {2, 3};
    ml_shift_rows_t all = ml_shift_view(&x, NULL, 0), part = ml_shift_view(&x, rows, 2);
    double diff[2], norm;
    CHECK(ml_shift_mean_shift(diff, &norm, &all, &part, "f") == ML_OK);
    /* means (1, 2) -> (1, 4) */
    CHECK(diff[0] == 0 && diff[1] == 2 && norm == 2);
    ml_tensor_free(&x);
}

int main(void)
{
    test_distributions();
    test_ks();
    test_chi2();
    test_mmd();
    test_logreg();
    test_domain_test();
    test_bbse();
    test_em();
    test_labels();
    test_label_shift();
    test_selection();
    test_corrupt();
    test_relabel();
    test_mean_shift();
    return check_report("shift");
}
