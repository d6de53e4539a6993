/* ml_k_gemm (BLIS) against the plain-loop oracle ml_k_gemm_ref: awkward sizes, every
 * transpose combination expressed as strides, leading dimensions larger than the matrix,
 * alpha/beta combinations (beta = 0 must overwrite NaN garbage), k = 0, and thread-count
 * independence. ml_k_gemm_packed (the micro-kernel on a factor laid out once) against the same
 * oracle, with edge tiles, k past BLIS's k-block, and the same bits however the rows are
 * split among calls.
 *
 * Tolerance. The oracle accumulates in double and rounds once, so it is within half an ulp of
 * the exact product. BLIS accumulates in float32 in an order of its choosing (blocked, FMA);
 * for any order the classic bound is |fl(sum) - sum| <= gamma_k * sum_p |a_ip||b_pj| with
 * gamma_k ~ k*u, u = 2^-24, plus a few roundings for alpha, beta*c and the final add. We allow
 * 2*(k+3)*u * (|alpha| * sum_p |a_ip||b_pj| + |beta| * |c_ij|): above the worst case for any
 * summation order, yet far below what an indexing mistake produces (one wrong or missing term
 * is of order sum/k, i.e. ~k/2 times the tolerance). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "moonlab/kernels.h"
#include "moonlab/rng.h"

#define SENTINEL 12345.0f

/* A matrix view into a larger buffer: `pad` extra elements before it and in every leading
 * dimension; stored row-major, or column-major when `trans` (a transposed operand). */
typedef struct {
    float *buf;
    int64_t len;
    float *p;
    int64_t rows, cols, rs, cs;
} mat_t;

static void mat_make(mat_t *x, int64_t rows, int64_t cols, int trans, int64_t pad)
{
    x->rows = rows;
    x->cols = cols;
    int64_t ld = (trans ? rows : cols) + pad;
    int64_t outer = trans ? cols : rows;
    x->len = pad + outer * ld + 1;
    x->buf = malloc((size_t)x->len * sizeof(float));
    x->p = x->buf + pad;
    x->rs = trans ? 1 : ld;
    x->cs = trans ? ld : 1;
    for (int64_t i = 0; i < x->len; i++)
        x->buf[i] = SENTINEL;
}

static float *mat_at(const mat_t *x, int64_t i, int64_t j)
{
    return x->p + i * x->rs + j * x->cs;
}

static void mat_fill_random(mat_t *x, ml_rng_t *r)
{
    for (int64_t i = 0; i < x->rows; i++)
        for (int64_t j = 0; j < x->cols; j++)
            *mat_at(x, i, j) = 2.0f * ml_rng_float(r) - 1.0f;
}

/* 1 if every buffer element outside the view still holds the sentinel. */
static int mat_outside_untouched(const mat_t *x)
{
    char *inside = calloc((size_t)x->len, 1);
    for (int64_t i = 0; i < x->rows; i++)
        for (int64_t j = 0; j < x->cols; j++)
            inside[mat_at(x, i, j) - x->buf] = 1;
    int ok = 1;
    for (int64_t q = 0; q < x->len; q++)
        if (!inside[q] && x->buf[q] != SENTINEL)
            ok = 0;
    free(inside);
    return ok;
}

static void mat_free(mat_t *x)
{
    free(x->buf);
    memset(x, 0, sizeof *x);
}

/* 1: check_case's products go through ml_k_gemm_packed (alpha 1, row-major a and c). */
static int use_packed;

static void gemm_packed(mat_t *c, const mat_t *a, const mat_t *b, float beta)
{
    const int64_t k = a->cols, m = c->rows, n = c->cols;
    float *buf = malloc((size_t)ml_k_pack_size(k, n) * sizeof(float));
    float *scratch = malloc((size_t)ml_k_packed_scratch_size(m, k) * sizeof(float));
    ml_k_packed_t p;
    ml_k_pack(&p, buf, b->p, b->rs, b->cs, k, n);
    /* BLIS's Skylake-X kernel stores tiles by columns: there the layout must be made (on other
     * kernels the products fall back to ml_k_gemm1, checked all the same) */
    if (strstr(ml_k_blis_version(), "skx kernels"))
        CHECK_MSG(p.panels != NULL, "k=%lld n=%lld: no packed layout with the skx kernel",
                  (long long)k, (long long)n);
    ml_k_gemm_packed(c->p, c->rs, a->p, a->rs, &p, m, beta, scratch);
    free(buf);
    free(scratch);
}

static void gemm_blis(mat_t *c, const mat_t *a, const mat_t *b, float alpha, float beta)
{
    if (use_packed) {
        gemm_packed(c, a, b, beta);
        return;
    }
    ml_k_gemm(c->p, c->rs, c->cs, a->p, a->rs, a->cs, b->p, b->rs, b->cs, c->rows, c->cols, a->cols,
              alpha, beta);
}

static void gemm_ref(mat_t *c, const mat_t *a, const mat_t *b, float alpha, float beta)
{
    ml_k_gemm_ref(c->p, c->rs, c->cs, a->p, a->rs, a->cs, b->p, b->rs, b->cs, c->rows, c->cols,
                  a->cols, alpha, beta);
}

/* One case: C (m,n) = alpha A (m,k) B (k,n) + beta C, with the given layouts. */
static void check_case(int64_t m, int64_t n, int64_t k, int ta, int tb, int tc, float alpha,
                       float beta, int nan_c, ml_rng_t *r)
{
    mat_t a, b, c, cref;
    int64_t pad = 3;
    mat_make(&a, m, k, ta, pad);
    mat_make(&b, k, n, tb, pad + 2);
    mat_make(&c, m, n, tc, pad + 1);
    mat_make(&cref, m, n, tc, pad + 1);
    mat_fill_random(&a, r);
    mat_fill_random(&b, r);
    mat_fill_random(&c, r);
    if (nan_c)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                *mat_at(&c, i, j) = NAN;
    memcpy(cref.buf, c.buf, (size_t)c.len * sizeof(float));
    float *c_orig = malloc((size_t)c.len * sizeof(float));
    memcpy(c_orig, c.buf, (size_t)c.len * sizeof(float));

    gemm_blis(&c, &a, &b, alpha, beta);
    gemm_ref(&cref, &a, &b, alpha, beta);

    const double u = 0x1.0p-24;
    int64_t bad = 0;
    double worst = 0, worst_tol = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += fabs((double)*mat_at(&a, i, p) * (double)*mat_at(&b, p, j));
            /* beta = 0 never reads C, so NaN garbage does not enter the bound. */
            double c0 = beta == 0.0f ? 0.0 : fabs((double)c_orig[mat_at(&c, i, j) - c.buf]);
            double tol = 2.0 * (double)(k + 3) * u * (fabs(alpha) * s + fabs(beta) * c0) + FLT_MIN;
            double got = *mat_at(&c, i, j), want = *mat_at(&cref, i, j);
            double err = fabs(got - want);
            if (!(err <= tol)) { /* also catches NaN */
                bad++;
                if (!(err <= worst)) {
                    worst = err;
                    worst_tol = tol;
                }
            }
        }
    CHECK_MSG(bad == 0,
              "m=%lld n=%lld k=%lld ta=%d tb=%d tc=%d alpha=%g beta=%g nan_c=%d: %lld elements "
              "off, worst error %g (tolerance %g)",
              (long long)m, (long long)n, (long long)k, ta, tb, tc, alpha, beta, nan_c,
              (long long)bad, worst, worst_tol);
    CHECK_MSG(mat_outside_untouched(&c) && mat_outside_untouched(&a) && mat_outside_untouched(&b),
              "m=%lld n=%lld k=%lld ta=%d tb=%d tc=%d: wrote outside the views", (long long)m,
              (long long)n, (long long)k, ta, tb, tc);
    mat_free(&a);
    mat_free(&b);
    mat_free(&c);
    mat_free(&cref);
    free(c_orig);
}

/* The oracle itself, on a product small enough to do by hand. */
static void test_oracle_by_hand(void)
{
    const float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    float c[4] = {1, 1, 1, 1}, d[4] = {1, 1, 1, 1};
    /* 2 * [[19,22],[43,50]] - 1 */
    const float want[4] = {37, 43, 85, 99};
    ml_k_gemm_ref(c, 2, 1, a, 2, 1, b, 2, 1, 2, 2, 2, 2.0f, -1.0f);
    ml_k_gemm(d, 2, 1, a, 2, 1, b, 2, 1, 2, 2, 2, 2.0f, -1.0f);
    CHECK(memcmp(c, want, sizeof want) == 0);
    CHECK(memcmp(d, want, sizeof want) == 0);
    /* A^T B with A^T given by strides over the same buffer: [[26,30],[38,44]]. */
    const float want_t[4] = {26, 30, 38, 44};
    ml_k_gemm_ref(c, 2, 1, a, 1, 2, b, 2, 1, 2, 2, 2, 1.0f, 0.0f);
    ml_k_gemm(d, 2, 1, a, 1, 2, b, 2, 1, 2, 2, 2, 1.0f, 0.0f);
    CHECK(memcmp(c, want_t, sizeof want_t) == 0);
    CHECK(memcmp(d, want_t, sizeof want_t) == 0);
}

static void test_shapes_layouts_scalars(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 20240611);
    static const int64_t dims[][3] = {
        {1, 1, 1},   {1, 9, 1},  {1, 1, 9},    {6, 1, 11},   {6, 11, 1},
        {1, 23, 19}, {7, 13, 5}, {16, 16, 16}, {33, 65, 17}, {100, 128, 512},
    };
    static const float scalars[][3] = {
        /* alpha, beta, NaN garbage in C */
        {1.0f, 0.0f, 0}, {1.0f, 0.0f, 1}, {1.0f, 1.0f, 0}, {-0.5f, 2.0f, 0}, {3.0f, 0.0f, 1},
    };
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        int big = dims[d][0] * dims[d][1] * dims[d][2] > 100000;
        for (int t = 0; t < 8; t++)
            for (size_t s = 0; s < sizeof scalars / sizeof *scalars; s++) {
                if (big && s != 1 && s != 2) /* keep the big shape to the two key cases */
                    continue;
                check_case(dims[d][0], dims[d][1], dims[d][2], t & 1, (t >> 1) & 1, (t >> 2) & 1,
                           scalars[s][0], scalars[s][1], (int)scalars[s][2], &r);
            }
    }
}

/* The packed product over edge tiles (M and N not multiples of the tile), k past BLIS's
 * k-block (384 here), b in either layout, beta 0 over NaN garbage, 1 and other values. */
static void test_packed(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 20261207);
    static const int64_t dims[][3] = {
        {1, 1, 1},    {1, 33, 5},    {13, 1, 7},    {12, 32, 128}, {25, 70, 3},
        {100, 512, 128}, {50, 128, 512}, {37, 45, 777},
    };
    static const float betas[][2] = {{0.0f, 1}, {1.0f, 0}, {-0.5f, 0}};
    use_packed = 1;
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t s = 0; s < sizeof betas / sizeof *betas; s++)
                check_case(dims[d][0], dims[d][1], dims[d][2], 0, tb, 0, 1.0f, betas[s][0],
                           (int)betas[s][1], &r);
    use_packed = 0;
}

/* Rows split among calls at any points (as threads split a batch) give the same bits as one
 * call over all rows. */
static void test_packed_split_case(int64_t m, int64_t n, int64_t k)
{
    ml_rng_t r;
    ml_rng_seed(&r, 11);
    float *a = malloc((size_t)(m * k) * sizeof(float));
    float *b = malloc((size_t)(k * n) * sizeof(float));
    float *c0 = malloc((size_t)(m * n) * sizeof(float));
    float *c1 = malloc((size_t)(m * n) * sizeof(float));
    float *c2 = malloc((size_t)(m * n) * sizeof(float));
    float *buf = malloc((size_t)ml_k_pack_size(k, n) * sizeof(float));
    float *scratch = malloc((size_t)ml_k_packed_scratch_size(m, k) * sizeof(float));
    ml_rng_uniform(&r, a, m * k, -1.0f, 1.0f);
    ml_rng_uniform(&r, b, k * n, -1.0f, 1.0f);
    ml_rng_uniform(&r, c0, m * n, -1.0f, 1.0f);
    memcpy(c1, c0, (size_t)(m * n) * sizeof(float));
    memcpy(c2, c0, (size_t)(m * n) * sizeof(float));
    ml_k_packed_t p;
    ml_k_pack(&p, buf, b, n, 1, k, n);
    ml_k_gemm_packed(c1, n, a, k, &p, m, 1.0f, scratch);
    const int64_t cuts[] = {0, 1, 7, m / 2, m / 2 + 11, m};
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof *cuts; i++)
        ml_k_gemm_packed(c2 + cuts[i] * n, n, a + cuts[i] * k, k, &p, cuts[i + 1] - cuts[i], 1.0f,
                         scratch);
    CHECK_MSG(memcmp(c1, c2, (size_t)(m * n) * sizeof(float)) == 0,
              "m=%lld n=%lld k=%lld: rows split among calls give different bits", (long long)m,
              (long long)n, (long long)k);
    /* and the same bits as BLIS's own packed product: the same k-blocks, the same order */
    ml_k_gemm_blis(c0, n, 1, a, k, 1, b, n, 1, m, n, k, 1.0f, 1.0f);
    CHECK_MSG(memcmp(c0, c1, (size_t)(m * n) * sizeof(float)) == 0,
              "m=%lld n=%lld k=%lld: the packed product differs from bli_sgemm in the bits",
              (long long)m, (long long)n, (long long)k);
    free(a);
    free(b);
    free(c0);
    free(c1);
    free(c2);
    free(buf);
    free(scratch);
}

/* The recurrent layers' two per-step shapes (forward k = H, backward k = 4H), and k past two
 * of BLIS's k-blocks. */
static void test_packed_split(void)
{
    test_packed_split_case(100, 512, 128);
    test_packed_split_case(100, 128, 512);
    test_packed_split_case(37, 45, 1000);
    test_packed_split_case(29, 40, 850); /* a last k-block of 466: taken whole */
}

/* ml_k_gemm1 (moonlab's driver of BLIS's micro-kernel, where it runs) against bli_sgemm itself:
 * the same bits for every layout of a, b and c, over edge tiles and over k-blocks cut both
 * ways (KC is 384 here, and a last block up to 480 is taken whole), for beta 0 over NaN, 1 and
 * other values; alpha 1, the only value it takes. */
static void own_case(int64_t m, int64_t n, int64_t k, int ta, int tb, int tc, float beta,
                     ml_rng_t *r)
{
    mat_t a, b, c1, c2;
    mat_make(&a, m, k, ta, 3);
    mat_make(&b, k, n, tb, 5);
    mat_make(&c1, m, n, tc, 4);
    mat_make(&c2, m, n, tc, 4);
    mat_fill_random(&a, r);
    mat_fill_random(&b, r);
    mat_fill_random(&c1, r);
    if (beta == 0.0f)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                *mat_at(&c1, i, j) = NAN;
    memcpy(c2.buf, c1.buf, (size_t)c1.len * sizeof(float));
    ml_k_gemm1(c1.p, c1.rs, c1.cs, a.p, a.rs, a.cs, b.p, b.rs, b.cs, m, n, k, 1.0f, beta);
    ml_k_gemm_blis(c2.p, c2.rs, c2.cs, a.p, a.rs, a.cs, b.p, b.rs, b.cs, m, n, k, 1.0f, beta);
    CHECK_MSG(memcmp(c1.buf, c2.buf, (size_t)c1.len * sizeof(float)) == 0,
              "m=%lld n=%lld k=%lld ta=%d tb=%d tc=%d beta=%g: ml_k_gemm1 differs from "
              "bli_sgemm in the bits (or wrote outside c)",
              (long long)m, (long long)n, (long long)k, ta, tb, tc, beta);
    CHECK_MSG(mat_outside_untouched(&c1), "m=%lld n=%lld k=%lld ta=%d tb=%d tc=%d: wrote outside c",
              (long long)m, (long long)n, (long long)k, ta, tb, tc);
    mat_free(&a);
    mat_free(&b);
    mat_free(&c1);
    mat_free(&c2);
}

static void test_own_same_bits(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 20261208);
    static const int64_t dims[][3] = {
        {1, 1, 1},     {2, 70, 9},     {45, 1, 33},   {13, 31, 384}, {33, 12, 385},
        {12, 97, 400}, {50, 40, 480},  {31, 33, 481}, {37, 45, 777}, {20, 65, 850},
        {64, 28, 1000}, {512, 28, 2800}, {512, 128, 2800}, {2800, 128, 512},
    };
    static const float betas[] = {0.0f, 1.0f, -0.5f};
    for (size_t d = 0; d < sizeof dims / sizeof *dims; d++) {
        int big = dims[d][0] * dims[d][1] * dims[d][2] > 10000000;
        for (int t = 0; t < 8; t++)
            for (size_t s = 0; s < sizeof betas / sizeof *betas; s++) {
                if (big && (s == 2 || (t != 2 && t != 0))) /* the layouts the layers use */
                    continue;
                own_case(dims[d][0], dims[d][1], dims[d][2], t & 1, (t >> 1) & 1, (t >> 2) & 1,
                         betas[s], &r);
            }
    }
    /* c with neither stride 1 (every other column of a wider matrix) */
    const int64_t m = 40, n = 50, k = 500;
    float *a = malloc((size_t)(m * k) * sizeof(float)), *b = malloc((size_t)(k * n) * sizeof(float));
    float *c1 = calloc((size_t)(m * 2 * n), sizeof(float)), *c2 = calloc((size_t)(m * 2 * n), sizeof(float));
    ml_rng_uniform(&r, a, m * k, -1.0f, 1.0f);
    ml_rng_uniform(&r, b, k * n, -1.0f, 1.0f);
    ml_k_gemm1(c1, 2 * n, 2, a, k, 1, b, n, 1, m, n, k, 1.0f, 0.0f);
    ml_k_gemm_blis(c2, 2 * n, 2, a, k, 1, b, n, 1, m, n, k, 1.0f, 0.0f);
    CHECK_MSG(memcmp(c1, c2, (size_t)(m * 2 * n) * sizeof(float)) == 0,
              "c with column stride 2: ml_k_gemm1 differs from bli_sgemm");
    free(a);
    free(b);
    free(c1);
    free(c2);
}

/* ml_k_gemm_at (a layer's weight and bias gradients in one pass over a) against ml_k_gemm and
 * ml_k_sum_rows one by one: the same bits, for one and two products, beta 0 and 1, on 1 and 2
 * threads (on 2, products of at most 64K elements split the sum over k, larger ones share each
 * k-block's layout), and products small enough to take ml_k_gemm's small-product path. */
static void at_case(int64_t k, int64_t m, int64_t n1, int64_t n2, float beta, int threads)
{
    ml_rng_t r;
    ml_rng_seed(&r, (uint64_t)(k * 131 + m * 7 + n1 + n2));
    const int64_t lda = m + 3, ld1 = n1 + 1, ld2 = n2 + 2;
    float *a = malloc((size_t)(k * lda) * sizeof(float));
    float *b1 = malloc((size_t)(k * ld1) * sizeof(float)), *b2 = malloc((size_t)(k * ld2) * sizeof(float));
    float *c1 = malloc((size_t)(m * n1) * sizeof(float)), *c2 = malloc((size_t)(m * n2) * sizeof(float));
    float *d1 = malloc((size_t)(m * n1) * sizeof(float)), *d2 = malloc((size_t)(m * n2) * sizeof(float));
    float *s1 = malloc((size_t)m * sizeof(float)), *s2 = malloc((size_t)m * sizeof(float));
    ml_rng_uniform(&r, a, k * lda, -1.0f, 1.0f);
    ml_rng_uniform(&r, b1, k * ld1, -1.0f, 1.0f);
    ml_rng_uniform(&r, b2, k * ld2, -1.0f, 1.0f);
    ml_rng_uniform(&r, c1, m * n1, -1.0f, 1.0f);
    ml_rng_uniform(&r, c2, m * n2, -1.0f, 1.0f);
    ml_rng_uniform(&r, s1, m, -1.0f, 1.0f);
    memcpy(d1, c1, (size_t)(m * n1) * sizeof(float));
    memcpy(d2, c2, (size_t)(m * n2) * sizeof(float));
    memcpy(s2, s1, (size_t)m * sizeof(float));
    const int before = ml_k_get_threads();
    ml_k_set_threads(threads);
    const ml_k_group_t g[2] = {{.c = c1, .ldc = n1, .b = b1, .ldb = ld1, .n = n1},
                               {.c = c2, .ldc = n2, .b = b2, .ldb = ld2, .n = n2}};
    ml_k_gemm_at(a, lda, k, m, g, n2 ? 2 : 1, beta, s1);
    ml_k_set_threads(1);
    ml_k_gemm(d1, n1, 1, a, 1, lda, b1, ld1, 1, m, n1, k, 1.0f, beta);
    if (n2)
        ml_k_gemm(d2, n2, 1, a, 1, lda, b2, ld2, 1, m, n2, k, 1.0f, beta);
    ml_k_sum_rows(s2, a, lda, k, m);
    ml_k_set_threads(before);
    CHECK_MSG(memcmp(c1, d1, (size_t)(m * n1) * sizeof(float)) == 0 &&
                  memcmp(c2, d2, (size_t)(m * n2) * sizeof(float)) == 0,
              "k=%lld m=%lld n=%lld,%lld beta=%g threads=%d: ml_k_gemm_at's products differ "
              "from ml_k_gemm's", (long long)k, (long long)m, (long long)n1, (long long)n2, beta,
              threads);
    CHECK_MSG(memcmp(s1, s2, (size_t)m * sizeof(float)) == 0,
              "k=%lld m=%lld beta=%g threads=%d: ml_k_gemm_at's sums differ from ml_k_sum_rows'",
              (long long)k, (long long)m, beta, threads);
    free(a);
    free(b1);
    free(b2);
    free(c1);
    free(c2);
    free(d1);
    free(d2);
    free(s1);
    free(s2);
}

static void test_gemm_at(void)
{
    for (int threads = 1; threads <= 2; threads++)
        for (int bi = 0; bi < 2; bi++) {
            const float beta = bi ? 1.0f : 0.0f;
            at_case(2800, 512, 28, 128, beta, threads); /* an LSTM's first layer, batch 100 */
            at_case(2800, 512, 128, 128, beta, threads);
            at_case(2800, 128, 28, 128, beta, threads); /* a vanilla RNN layer: 128 gate rows */
            at_case(1000, 100, 45, 0, beta, threads);   /* one product, odd sizes */
            at_case(850, 37, 300, 70, beta, threads);   /* k-blocks 384 and 466 */
            at_case(64, 40, 20, 30, beta, threads);     /* small: ml_k_gemm's own path */
        }
}

/* k = 0: the product is empty, so C = beta * C (and beta = 0 clears NaN garbage). */
static void test_k_zero(void)
{
    float a[1] = {5}, b[1] = {7};
    float c[6] = {1, 2, 3, 4, 5, 6};
    ml_k_gemm(c, 3, 1, a, 1, 1, b, 1, 1, 2, 3, 0, 1.0f, 2.0f);
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= c[i] == 2.0f * (float)(i + 1);
    CHECK_MSG(ok, "k=0, beta=2 doubles C");
    for (int i = 0; i < 6; i++)
        c[i] = NAN;
    ml_k_gemm(c, 3, 1, a, 1, 1, b, 1, 1, 2, 3, 0, 1.0f, 0.0f);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= c[i] == 0.0f;
    CHECK_MSG(ok, "k=0, beta=0 zeroes C even over NaN");
    /* The oracle agrees. */
    for (int i = 0; i < 6; i++)
        c[i] = NAN;
    ml_k_gemm_ref(c, 3, 1, a, 1, 1, b, 1, 1, 2, 3, 0, 1.0f, 0.0f);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= c[i] == 0.0f;
    CHECK(ok);

    /* m = 0 or n = 0: nothing to write. */
    float one[1] = {SENTINEL};
    ml_k_gemm(one, 1, 1, a, 1, 1, b, 1, 1, 0, 1, 1, 1.0f, 0.0f);
    ml_k_gemm(one, 1, 1, a, 1, 1, b, 1, 1, 1, 0, 1, 1.0f, 0.0f);
    CHECK(one[0] == SENTINEL);
}

/* The same product on 1 and 2 BLIS threads must be bit-identical (threads split M/N, never
 * the k sum, so every element is summed in the same order). */
static void test_threads(void)
{
    ml_rng_t r;
    ml_rng_seed(&r, 7);
    const int64_t m = 100, n = 128, k = 512;
    float *a = malloc((size_t)(m * k) * sizeof(float));
    float *b = malloc((size_t)(k * n) * sizeof(float));
    float *c1 = malloc((size_t)(m * n) * sizeof(float));
    float *c2 = malloc((size_t)(m * n) * sizeof(float));
    ml_rng_uniform(&r, a, m * k, -1.0f, 1.0f);
    ml_rng_uniform(&r, b, k * n, -1.0f, 1.0f);
    int before = ml_k_get_threads();
    ml_k_set_threads(1);
    CHECK(ml_k_get_threads() == 1);
    ml_k_gemm(c1, n, 1, a, k, 1, b, n, 1, m, n, k, 1.0f, 0.0f);
    ml_k_set_threads(2);
    CHECK(ml_k_get_threads() == 2);
    ml_k_gemm(c2, n, 1, a, k, 1, b, n, 1, m, n, k, 1.0f, 0.0f);
    CHECK_MSG(memcmp(c1, c2, (size_t)(m * n) * sizeof(float)) == 0,
              "1 and 2 threads give different bits");
    /* Transposed B as well (a different packing path). */
    ml_k_set_threads(1);
    ml_k_gemm(c1, n, 1, a, k, 1, b, 1, k, m, n, k, 1.0f, 0.0f);
    ml_k_set_threads(2);
    ml_k_gemm(c2, n, 1, a, k, 1, b, 1, k, m, n, k, 1.0f, 0.0f);
    CHECK_MSG(memcmp(c1, c2, (size_t)(m * n) * sizeof(float)) == 0,
              "1 and 2 threads give different bits (B transposed)");
    ml_k_set_threads(0); /* clamps to 1 */
    CHECK(ml_k_get_threads() == 1);
    ml_k_set_threads(before);
    CHECK(ml_k_blis_version() != NULL && strlen(ml_k_blis_version()) > 0);
    free(a);
    free(b);
    free(c1);
    free(c2);
}

int main(void)
{
    test_oracle_by_hand();
    test_shapes_layouts_scalars();
    test_k_zero();
    test_threads();
    test_packed();
    test_packed_split();
    test_own_same_bits();
    test_gemm_at();
    return check_report("test_gemm");
}
