"""Reference values for the shift tests (tests/c/test_shift.c), computed with SciPy 1.10 and
scikit-learn 1.2 (Debian's python3-scipy, python3-sklearn) or, where neither has the
quantity, with a plain NumPy implementation of the published formula:

  - Kolmogorov's limiting distribution (scipy.stats.kstwobign.sf);
  - two-sample Kolmogorov-Smirnov statistics and p-values (scipy.stats.ks_2samp, exact
    method; for large samples the statistic and kstwobign.sf(sqrt(n m / (n + m)) D));
  - regularized upper incomplete gamma (scipy.special.gammaincc), chi-squared tail
    (scipy.stats.chi2.sf), chi-squared homogeneity tests (scipy.stats.chi2_contingency with
    correction=False), binomial tails (scipy.stats.binom.sf);
  - MMD: the unbiased MMD^2 with the median-distance Gaussian bandwidth (NumPy, scipy's pdist)
    and the exact permutation p-value by enumerating every split of a small pooled sample;
  - logistic regression (sklearn.linear_model.LogisticRegression, C = 1 / l2);
  - BBSE's ridge solve and Saerens et al.'s EM (NumPy, from the papers' formulas).

The samples are not stored: both sides draw them from the same 32-bit linear congruential
generator (state = 1664525 state + 1013904223 mod 2^32, u = (state + 0.5) / 2^32, normals by
Box-Muller), so the fixture is a few numbers per case.

Regenerate (only when a case is added):
    /usr/bin/python3 tests/ref/make_shift_reference.py
which rewrites tests/ref/shift_reference.h next to this script."""
import itertools
import math
import os

import numpy as np
import scipy
import sklearn
from scipy import special, stats
from scipy.spatial.distance import pdist
from sklearn.linear_model import LogisticRegression


class Lcg:
    def __init__(self, seed):
        self.s = seed & 0xFFFFFFFF

    def u(self):
        self.s = (1664525 * self.s + 1013904223) & 0xFFFFFFFF
        return (self.s + 0.5) / 4294967296.0

    def normal(self):
        u1 = self.u()
        u2 = self.u()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


out = []


def emit(line=""):
    out.append(line)


def carr(name, values, ctype="double"):
    vals = ", ".join(repr(float(v)) if ctype == "double" else str(int(v)) for v in values)
    emit("static const %s %s[] = {%s};" % (ctype, name, vals))


# ---- Kolmogorov's distribution ----
kx = [0.05, 0.2, 0.5, 0.8, 0.99, 1.0, 1.2, 1.5, 2.0, 3.0]
carr("ref_kolmogorov_x", kx)
carr("ref_kolmogorov_sf", [stats.kstwobign.sf(x) for x in kx])

# ---- two-sample KS: (seed, n, m, kind) ----
# kind 0: a ~ N(0,1), b ~ N(shift, scale); kind 1: values on a grid of 4 (ties).
ks_cases = [(11, 5, 7, 0.5, 1.0, 0), (12, 20, 20, 0.3, 1.0, 0), (13, 30, 45, 0.8, 1.0, 0),
            (14, 100, 80, 0.0, 1.5, 0), (15, 25, 30, 0.0, 1.0, 1), (16, 60, 40, 0.0, 1.0, 0),
            (17, 4000, 3000, 0.05, 1.0, 0)]


def ks_sample(c):
    seed, n, m, shift, scale, kind = c
    g = Lcg(seed)
    if kind == 1:
        a = [math.floor(4 * g.u()) / 4 for _ in range(n)]
        b = [math.floor(4 * g.u() ** 0.8) / 4 for _ in range(m)]
    else:
        a = [g.normal() for _ in range(n)]
        b = [shift + scale * g.normal() for _ in range(m)]
    return np.array(a), np.array(b)


emit("/* seed, n, m, shift, scale, kind (0 normal, 1 ties) */")
emit("static const struct { unsigned seed; int n, m; double shift, scale; int kind; double d, p; } ref_ks[] = {")
for c in ks_cases:
    a, b = ks_sample(c)
    if c[1] * c[2] <= 1e7:
        r = stats.ks_2samp(a, b, method="exact")
        d, p = r.statistic, r.pvalue
    else:
        d = stats.ks_2samp(a, b, method="asymp").statistic
        en = c[1] * c[2] / (c[1] + c[2])
        p = stats.kstwobign.sf(math.sqrt(en) * d)
    emit("    {%du, %d, %d, %r, %r, %d, %r, %r}," % (c[0], c[1], c[2], c[3], c[4], c[5], float(d), float(p)))
emit("};")

# ---- incomplete gamma, chi-squared, binomial ----
gam = [(0.5, 0.1), (0.5, 3.0), (1.0, 1.0), (2.5, 0.7), (2.5, 6.0), (10.0, 3.0), (10.0, 12.0),
       (50.0, 40.0), (50.0, 70.0), (3.0, 30.0)]
emit("static const struct { double a, x, q; } ref_gamma_q[] = {")
for a, x in gam:
    emit("    {%r, %r, %r}," % (a, x, float(special.gammaincc(a, x))))
emit("};")
chi = [(0.5, 1), (3.84, 1), (10.0, 4), (2.0, 9), (30.0, 9), (100.0, 80)]
emit("static const struct { double x, df, sf; } ref_chi2[] = {")
for x, df in chi:
    emit("    {%r, %r, %r}," % (x, float(df), float(stats.chi2.sf(x, df))))
emit("};")
binom = [(0, 10, 0.5), (6, 10, 0.5), (10, 10, 0.5), (60, 100, 0.5), (75, 100, 0.5),
         (3, 50, 0.2), (20, 50, 0.2), (5100, 10000, 0.5), (1, 10000, 0.3), (11, 10, 0.5)]
emit("static const struct { long long k, n; double p, sf; } ref_binom[] = {")
for k, n, p in binom:
    emit("    {%d, %d, %r, %r}," % (k, n, p, float(stats.binom.sf(k - 1, n, p))))
emit("};")

# chi-squared homogeneity tests from count tables (2 x C; zero columns are dropped by us, and
# by building the table without them here)
tables = [[[30, 20, 50], [25, 30, 45]], [[10, 0, 5, 5], [2, 0, 12, 6]], [[100, 100], [70, 130]]]
emit("static const struct { long long a[4], b[4]; int C; double stat, df, p; } ref_chi2_table[] = {")
for t in tables:
    arr = np.array(t)
    keep = arr.sum(axis=0) > 0
    r = stats.chi2_contingency(arr[:, keep], correction=False)
    pad = lambda v: list(v) + [0] * (4 - len(v))
    emit("    {{%s}, {%s}, %d, %r, %r, %r}," % (", ".join(map(str, pad(t[0]))),
                                             ", ".join(map(str, pad(t[1]))), len(t[0]),
                                             float(r[0]), float(r[2]), float(r[1])))
emit("};")

# ---- MMD ----
def mmd_sample(seed, n, m, d, shift):
    g = Lcg(seed)
    a = np.array([[g.normal() for _ in range(d)] for _ in range(n)])
    b = np.array([[shift + g.normal() for _ in range(d)] for _ in range(m)])
    return a, b


def mmd2_unbiased(K, idx_x, idx_y):
    n, m = len(idx_x), len(idx_y)
    kxx = K[np.ix_(idx_x, idx_x)]
    kyy = K[np.ix_(idx_y, idx_y)]
    kxy = K[np.ix_(idx_x, idx_y)]
    return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
            - 2 * kxy.sum() / (n * m))


emit("static const struct { unsigned seed; int n, m, d; double shift, sigma, mmd2, p_exact; } ref_mmd[] = {")
for seed, n, m, d, shift in [(21, 6, 5, 2, 0.7), (22, 5, 5, 3, 1.5), (23, 7, 4, 1, 0.0)]:
    a, b = mmd_sample(seed, n, m, d, shift)
    z = np.vstack([a, b])
    dist = pdist(z)
    sigma = float(np.median(dist))
    sq = np.sum((z[:, None, :] - z[None, :, :]) ** 2, axis=2)
    K = np.exp(-sq / (2 * sigma ** 2))
    N = n + m
    obs = mmd2_unbiased(K, list(range(n)), list(range(n, N)))
    count = total = 0
    for comb in itertools.combinations(range(N), n):
        rest = [i for i in range(N) if i not in comb]
        s = mmd2_unbiased(K, list(comb), rest)
        count += s >= obs - 1e-12 * abs(obs)
        total += 1
    emit("    {%du, %d, %d, %d, %r, %r, %r, %r}," % (seed, n, m, d, shift, sigma, float(obs), count / total))
emit("};")

# ---- logistic regression ----
emit("static const struct { unsigned seed; int n0, n1, d; double shift, l2, coef[4]; } ref_logreg[] = {")
for seed, n0, n1, d, shift, l2 in [(31, 40, 30, 3, 0.8, 1.0), (32, 25, 60, 2, 0.3, 0.1),
                                    (33, 50, 50, 3, 2.0, 5.0)]:
    g = Lcg(seed)
    x0 = np.array([[g.normal() for _ in range(d)] for _ in range(n0)])
    x1 = np.array([[shift * (j + 1) / d + g.normal() for j in range(d)] for _ in range(n1)])
    X = np.vstack([x0, x1])
    y = np.array([0] * n0 + [1] * n1)
    lr = LogisticRegression(C=1.0 / l2, tol=1e-10, max_iter=100000, solver="newton-cg").fit(X, y)
    coef = list(lr.coef_[0]) + [lr.intercept_[0]]
    coef += [0.0] * (4 - len(coef))
    emit("    {%du, %d, %d, %d, %r, %r, {%s}}," % (seed, n0, n1, d, shift, l2,
                                                  ", ".join(repr(float(c)) for c in coef)))
emit("};")

# ---- BBSE: labels from the LCG, C = 3 ----
def bbse_sample(seed, n, m):
    g = Lcg(seed)
    ys = [int(3 * g.u()) for _ in range(n)]
    # predictions right 70% of the time, else a uniform other class
    ps = [y if g.u() < 0.7 else (y + 1 + int(2 * g.u())) % 3 for y in ys]
    pt = [min(2, int(3 * g.u() ** 1.7)) for _ in range(m)]
    return np.array(ps), np.array(ys), np.array(pt)


emit("static const struct { unsigned seed; int n, m; double ridge, w[3], priors[3]; } ref_bbse[] = {")
for seed, n, m, ridge in [(41, 300, 200, -1.0), (42, 120, 500, 0.0), (43, 1000, 1000, 0.05)]:
    ps, ys, pt = bbse_sample(seed, n, m)
    Cn = 3
    conf = np.zeros((Cn, Cn))
    for p_, y_ in zip(ps, ys):
        conf[p_, y_] += 1.0 / n
    mu = np.bincount(pt, minlength=Cn) / m
    lam = 1.0 / min(n, m) if ridge < 0 else ridge
    w = np.linalg.solve(conf.T @ conf + lam * np.eye(Cn), conf.T @ mu + lam)
    w = np.clip(w, 0, None)
    pri = w * conf.sum(axis=0)
    pri = pri / pri.sum()
    emit("    {%du, %d, %d, %r, {%s}, {%s}}," % (seed, n, m, ridge, ", ".join(map(repr, map(float, w))),
                                              ", ".join(map(repr, map(float, pri)))))
emit("};")

# ---- EM (Saerens et al. 2002) ----
def em_sample(seed, m):
    g = Lcg(seed)
    rows = []
    for _ in range(m):
        v = [g.u() ** 2 + 0.01 for _ in range(3)]
        s = sum(v)
        rows.append([x / s for x in v])
    return np.array(rows)


emit("static const struct { unsigned seed; int m; double src[3], priors[3]; int iters; } ref_em[] = {")
for seed, m, src in [(51, 60, [1 / 3, 1 / 3, 1 / 3]), (52, 200, [0.5, 0.3, 0.2])]:
    P = em_sample(seed, m)
    src = np.array(src)
    pri = src.copy()
    it = 0
    while it < 100:
        post = P * (pri / src)
        post /= post.sum(axis=1, keepdims=True)
        new = post.mean(axis=0)
        change = np.max(np.abs(new - pri))
        pri = new
        it += 1
        if change < 1e-6:
            break
    emit("    {%du, %d, {%s}, {%s}, %d}," % (seed, m, ", ".join(map(repr, map(float, src))),
                                             ", ".join(map(repr, map(float, pri))), it))
emit("};")

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "shift_reference.h"), "w") as f:
    f.write("/* Generated by tests/ref/make_shift_reference.py with SciPy %s, scikit-learn %s and\n"
            " * NumPy %s; do not edit. Regenerate: /usr/bin/python3 tests/ref/make_shift_reference.py */\n"
            % (scipy.__version__, sklearn.__version__, np.__version__))
    f.write("#ifndef MOONLAB_SHIFT_REFERENCE_H\n#define MOONLAB_SHIFT_REFERENCE_H\n\n")
    f.write("\n".join(out) + "\n\n#endif\n")
print("wrote", os.path.join(here, "shift_reference.h"))
