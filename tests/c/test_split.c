/* Cross-validation splits (split.h). For every splitter: the folds' test sets are disjoint
 * and cover every row as documented (once per repeat for the k-fold kinds, the stated sizes
 * for the shuffle kinds), train and test never share a row, stratified kinds keep every class
 * within one row of its share in every set, group kinds never split a group, the same seed
 * gives the same folds and another seed other folds, and bad arguments give ML_EARG naming the
 * argument and its value. Deterministic splitters are checked against their definitions here
 * (and against scikit-learn's own indices in tests/lua/split_spec.lua); the controlled
 * rounding behind the stratified shuffles is checked to be exact and unbiased. Timing of a
 * 5-fold stratified split of 70000 rows is printed. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/rng.h"
#include "moonlab/split.h"

/* One fold's sets, owned. */
typedef struct {
    int64_t ntr, nva, nte;
    int64_t *tr, *va, *te;
} fold_t;

static int get_fold(const ml_split_t *s, int64_t f, fold_t *o)
{
    memset(o, 0, sizeof *o);
    int rc = ml_split_fold_sizes(s, f, &o->ntr, &o->nva, &o->nte);
    if (rc)
        return rc;
    o->tr = malloc((size_t)(o->ntr + 1) * sizeof *o->tr);
    o->va = malloc((size_t)(o->nva + 1) * sizeof *o->va);
    o->te = malloc((size_t)(o->nte + 1) * sizeof *o->te);
    return ml_split_fold(s, f, o->tr, o->va, o->te);
}

static void free_fold(fold_t *o)
{
    free(o->tr);
    free(o->va);
    free(o->te);
}

static int ascending(const int64_t *v, int64_t n)
{
    for (int64_t i = 1; i < n; i++)
        if (v[i] <= v[i - 1])
            return 0;
    return 1;
}

enum { SORTED = 1, COVER = 2 }; /* checks for the k-fold kinds */

/* Every fold: rows in range, no row twice in a set or in two sets; with COVER every row is in
 * train, val or test; with SORTED the sets ascend. Adds each row's test count to tested (n). */
static void check_folds(const ml_split_t *s, int flags, int64_t *tested, const char *what)
{
    int64_t n = s->n;
    unsigned char *mark = malloc((size_t)n + 1);
    for (int64_t f = 0; f < s->nfolds; f++) {
        fold_t o;
        CHECK_MSG(get_fold(s, f, &o) == ML_OK, "%s fold %lld: %s", what, (long long)f,
                  ml_errmsg());
        memset(mark, 0, (size_t)n + 1);
        int ok = 1;
        const int64_t *sets[3] = {o.tr, o.va, o.te};
        int64_t lens[3] = {o.ntr, o.nva, o.nte};
        for (int j = 0; j < 3; j++)
            for (int64_t i = 0; i < lens[j]; i++) {
                int64_t r = sets[j][i];
                if (r < 0 || r >= n || mark[r]) {
                    ok = 0;
                    continue;
                }
                mark[r] = (unsigned char)(j + 1);
                if (j == 2 && tested)
                    tested[r]++;
            }
        CHECK_MSG(ok, "%s fold %lld: a row out of range or in two places", what, (long long)f);
        if (flags & COVER) {
            int64_t missing = 0;
            for (int64_t r = 0; r < n; r++)
                missing += mark[r] == 0;
            CHECK_MSG(missing == 0, "%s fold %lld: %lld rows in no set", what, (long long)f,
                      (long long)missing);
        }
        if (flags & SORTED)
            CHECK_MSG(ascending(o.tr, o.ntr) && ascending(o.te, o.nte),
                      "%s fold %lld: sets not ascending", what, (long long)f);
        free_fold(&o);
    }
    free(mark);
}

/* Every row tested exactly `times` times over all folds. */
static void check_tested(const ml_split_t *s, int flags, int64_t times, const char *what)
{
    int64_t *tested = calloc((size_t)s->n + 1, sizeof *tested);
    check_folds(s, flags, tested, what);
    int64_t bad = 0;
    for (int64_t r = 0; r < s->n; r++)
        bad += tested[r] != times;
    CHECK_MSG(bad == 0, "%s: %lld rows not tested exactly %lld times", what, (long long)bad,
              (long long)times);
    free(tested);
}

/* |count of class c in a set - its share| < 1 for train and test of every fold. */
static void check_strata(const ml_split_t *s, const int64_t *y, int64_t C, const char *what)
{
    int64_t *cnt = calloc((size_t)C, sizeof *cnt), *in = calloc((size_t)C, sizeof *in);
    for (int64_t i = 0; i < s->n; i++)
        cnt[y[i]]++;
    double worst = 0;
    for (int64_t f = 0; f < s->nfolds; f++) {
        fold_t o;
        CHECK(get_fold(s, f, &o) == ML_OK);
        const int64_t *sets[3] = {o.tr, o.va, o.te};
        int64_t lens[3] = {o.ntr, o.nva, o.nte};
        for (int j = 0; j < 3; j++) {
            memset(in, 0, (size_t)C * sizeof *in);
            for (int64_t i = 0; i < lens[j]; i++)
                in[y[sets[j][i]]]++;
            for (int64_t c = 0; c < C; c++) {
                double share = (double)cnt[c] * (double)lens[j] / (double)s->n;
                double d = fabs((double)in[c] - share);
                worst = d > worst ? d : worst;
            }
        }
        free_fold(&o);
    }
    CHECK_MSG(worst < 1, "%s: a class is %.3f rows off its share", what, worst);
    free(cnt);
    free(in);
}

/* No group has rows in two different sets of a fold (unused rows are a set of their own). */
static void check_groups(const ml_split_t *s, const int64_t *g, int64_t G, const char *what)
{
    int *where = malloc((size_t)G * sizeof *where);
    int *row_set = malloc((size_t)s->n * sizeof *row_set);
    int split_groups = 0;
    for (int64_t f = 0; f < s->nfolds; f++) {
        fold_t o;
        CHECK(get_fold(s, f, &o) == ML_OK);
        for (int64_t i = 0; i < s->n; i++)
            row_set[i] = 0;
        for (int64_t i = 0; i < o.ntr; i++)
            row_set[o.tr[i]] = 1;
        for (int64_t i = 0; i < o.nte; i++)
            row_set[o.te[i]] = 2;
        for (int64_t j = 0; j < G; j++)
            where[j] = -1;
        for (int64_t i = 0; i < s->n; i++) {
            if (where[g[i]] == -1)
                where[g[i]] = row_set[i];
            else if (where[g[i]] != row_set[i])
                split_groups++;
        }
        free_fold(&o);
    }
    CHECK_MSG(split_groups == 0, "%s: %d rows of a group on the other side", what,
              split_groups);
    free(where);
    free(row_set);
}

/* 1 if two plans give the same folds. */
static int same_folds(const ml_split_t *a, const ml_split_t *b)
{
    if (a->nfolds != b->nfolds)
        return 0;
    int same = 1;
    for (int64_t f = 0; f < a->nfolds && same; f++) {
        fold_t x, y;
        get_fold(a, f, &x);
        get_fold(b, f, &y);
        same = x.ntr == y.ntr && x.nte == y.nte && x.nva == y.nva &&
               memcmp(x.tr, y.tr, (size_t)x.ntr * sizeof *x.tr) == 0 &&
               memcmp(x.te, y.te, (size_t)x.nte * sizeof *x.te) == 0 &&
               memcmp(x.va, y.va, (size_t)x.nva * sizeof *x.va) == 0;
        free_fold(&x);
        free_fold(&y);
    }
    return same;
}

/* Labels with uneven classes: class c has about (c + 1) shares; values are not 0..C-1. */
static void make_labels(int64_t *y, int64_t *code, int64_t n, int64_t C, uint64_t seed)
{
    ml_rng_t r;
    ml_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) {
        int64_t u = (int64_t)ml_rng_below(&r, (uint64_t)(C * (C + 1) / 2)), c = 0;
        while (u >= c + 1) {
            u -= c + 1;
            c++;
        }
        code[i] = c;
        y[i] = 10 * c - 7; /* any values: the splitter ranks them */
    }
    for (int64_t c = 0; c < C && c < n; c++) { /* every class at least twice */
        code[2 * c] = code[2 * c + 1] = c;
        y[2 * c] = y[2 * c + 1] = 10 * c - 7;
    }
}

static void test_kfold(void)
{
    ml_split_t s, t;
    for (int64_t n = 2; n <= 23; n += 7)
        for (int64_t k = 2; k <= n && k <= 6; k++) {
            CHECK(ml_split_kfold(&s, n, k, 0, 0) == ML_OK);
            CHECK(s.nfolds == k);
            check_tested(&s, SORTED | COVER, 1, "kfold");
            /* Unshuffled: consecutive blocks, the first n % k one row larger. */
            int64_t start = 0;
            for (int64_t f = 0; f < k; f++) {
                fold_t o;
                CHECK(get_fold(&s, f, &o) == ML_OK);
                int64_t size = n / k + (f < n % k);
                int ok = o.nte == size && o.ntr == n - size;
                for (int64_t i = 0; ok && i < size; i++)
                    ok = o.te[i] == start + i;
                CHECK_MSG(ok, "kfold n=%lld k=%lld fold %lld is not rows %lld..%lld",
                          (long long)n, (long long)k, (long long)f, (long long)start,
                          (long long)(start + size - 1));
                start += size;
                free_fold(&o);
            }
            ml_split_free(&s);
        }
    CHECK(ml_split_kfold(&s, 50, 5, 1, 7) == ML_OK);
    check_tested(&s, SORTED | COVER, 1, "kfold shuffled");
    CHECK(ml_split_kfold(&t, 50, 5, 1, 7) == ML_OK);
    CHECK(same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_kfold(&t, 50, 5, 1, 8) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_kfold(&t, 50, 5, 0, 7) == ML_OK);
    CHECK(!same_folds(&s, &t)); /* shuffling changes the folds */
    ml_split_free(&t);

    /* Repeated: each repeat covers every row once; repeat 1 is kfold(shuffle) itself. */
    CHECK(ml_split_repeated_kfold(&t, 50, 5, 3, 7) == ML_OK);
    CHECK(t.nfolds == 15);
    check_tested(&t, SORTED | COVER, 3, "repeated_kfold");
    for (int64_t f = 0; f < 5; f++) {
        fold_t a, b;
        get_fold(&s, f, &a);
        get_fold(&t, f, &b);
        CHECK(a.nte == b.nte && memcmp(a.te, b.te, (size_t)a.nte * sizeof *a.te) == 0);
        free_fold(&a);
        free_fold(&b);
    }
    fold_t r1, r2;
    get_fold(&t, 0, &r1);
    get_fold(&t, 5, &r2);
    CHECK(r1.nte != r2.nte || memcmp(r1.te, r2.te, (size_t)r1.nte * sizeof *r1.te) != 0);
    free_fold(&r1);
    free_fold(&r2);
    ml_split_t u;
    CHECK(ml_split_repeated_kfold(&u, 50, 5, 3, 8) == ML_OK);
    CHECK(!same_folds(&t, &u));
    ml_split_free(&u);
    ml_split_free(&t);
    ml_split_free(&s);

    CHECK_ERR(ml_split_kfold(&s, 5, 6, 0, 0), ML_EARG, "kfold", "k = 6", "5 samples");
    CHECK_ERR(ml_split_kfold(&s, 5, 1, 0, 0), ML_EARG, "k = 1", "at least 2");
    CHECK_ERR(ml_split_kfold(&s, -3, 2, 0, 0), ML_EARG, "-3 samples");
    CHECK_ERR(ml_split_repeated_kfold(&s, 10, 2, 0, 0), ML_EARG, "repeats = 0");
    CHECK_ERR(ml_split_kfold(NULL, 10, 2, 0, 0), ML_EARG, "kfold");
    CHECK(s.fold == NULL && s.count == NULL); /* a failed plan owns nothing */
}

static void test_stratified_kfold(void)
{
    enum { N = 203, C = 4 };
    int64_t y[N], code[N];
    make_labels(y, code, N, C, 5);
    ml_split_t s, t;
    for (int shuffle = 0; shuffle <= 1; shuffle++)
        for (int64_t k = 2; k <= 7; k += 5) {
            CHECK(ml_split_stratified_kfold(&s, y, N, k, shuffle, 3) == ML_OK);
            check_tested(&s, SORTED | COVER, 1, "stratified_kfold");
            check_strata(&s, code, C, "stratified_kfold");
            /* Fold sizes differ by at most one. */
            int64_t lo = N, hi = 0;
            for (int64_t f = 0; f < k; f++) {
                lo = s.count[f] < lo ? s.count[f] : lo;
                hi = s.count[f] > hi ? s.count[f] : hi;
            }
            CHECK(hi - lo <= 1);
            ml_split_free(&s);
        }
    CHECK(ml_split_stratified_kfold(&s, y, N, 5, 1, 3) == ML_OK);
    CHECK(ml_split_stratified_kfold(&t, y, N, 5, 1, 3) == ML_OK);
    CHECK(same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_stratified_kfold(&t, y, N, 5, 1, 4) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);

    CHECK(ml_split_repeated_stratified_kfold(&s, y, N, 4, 3, 11) == ML_OK);
    CHECK(s.nfolds == 12);
    check_tested(&s, SORTED | COVER, 3, "repeated_stratified_kfold");
    check_strata(&s, code, C, "repeated_stratified_kfold");
    CHECK(ml_split_repeated_stratified_kfold(&t, y, N, 4, 3, 12) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);

    int64_t few[6] = {1, 1, 2, 2, 3, 3};
    CHECK_ERR(ml_split_stratified_kfold(&s, few, 6, 3, 0, 0), ML_EARG, "k = 3",
              "no class has that many rows", "largest has 2");
    CHECK_ERR(ml_split_stratified_kfold(&s, few, 6, 7, 0, 0), ML_EARG, "k = 7", "6 samples");
    CHECK_ERR(ml_split_stratified_kfold(&s, NULL, 6, 2, 0, 0), ML_EARG, "labels");
}

static void test_group_kfold(void)
{
    enum { N = 120 };
    int64_t g[N], gc[N], y[N], yc[N];
    ml_rng_t r;
    ml_rng_seed(&r, 9);
    for (int64_t i = 0; i < N; i++) { /* 17 groups of uneven size, values not 0..G-1 */
        int64_t u = (int64_t)ml_rng_below(&r, 100);
        gc[i] = u < 40 ? u % 3 : 3 + u % 14;
        g[i] = 1000 - 13 * gc[i];
    }
    make_labels(y, yc, N, 3, 4);
    ml_split_t s;
    for (int64_t k = 2; k <= 5; k++) {
        CHECK(ml_split_group_kfold(&s, g, N, k) == ML_OK);
        check_tested(&s, SORTED | COVER, 1, "group_kfold");
        check_groups(&s, gc, 17, "group_kfold");
        ml_split_free(&s);
        for (int shuffle = 0; shuffle <= 1; shuffle++) {
            CHECK(ml_split_stratified_group_kfold(&s, y, g, N, k, shuffle, 2) == ML_OK);
            check_tested(&s, SORTED | COVER, 1, "stratified_group_kfold");
            check_groups(&s, gc, 17, "stratified_group_kfold");
            ml_split_free(&s);
        }
    }
    /* Largest group first, each to the lighter fold: 5 -> A, 4 -> B, 3 -> B (4 < 5),
     * 2 -> A (5 < 7), 1 -> A (7 = 7: the lower fold). A = 8 rows, B = groups 2 and 3. */
    int64_t sized[15] = {1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5};
    CHECK(ml_split_group_kfold(&s, sized, 15, 2) == ML_OK);
    CHECK(s.count[0] == 8 && s.count[1] == 7);
    fold_t o;
    get_fold(&s, 1, &o); /* groups of 4 and 3 rows: values 2 and 3 */
    CHECK(o.nte == 7 && o.te[0] == 5 && o.te[6] == 11);
    free_fold(&o);
    ml_split_free(&s);

    /* Stratified groups, singletons: every class stays within one row of its share. */
    int64_t single[N];
    for (int64_t i = 0; i < N; i++)
        single[i] = i;
    CHECK(ml_split_stratified_group_kfold(&s, y, single, N, 4, 0, 0) == ML_OK);
    check_strata(&s, yc, 3, "stratified_group_kfold, one row per group");
    ml_split_free(&s);
    ml_split_t a, b;
    CHECK(ml_split_stratified_group_kfold(&a, y, g, N, 3, 1, 2) == ML_OK);
    CHECK(ml_split_stratified_group_kfold(&b, y, g, N, 3, 1, 2) == ML_OK);
    CHECK(same_folds(&a, &b));
    ml_split_free(&b);
    int differs = 0;
    for (uint64_t seed = 3; seed < 8 && !differs; seed++) {
        CHECK(ml_split_stratified_group_kfold(&b, y, g, N, 3, 1, seed) == ML_OK);
        differs = !same_folds(&a, &b);
        ml_split_free(&b);
    }
    CHECK(differs);
    ml_split_free(&a);

    int64_t three[6] = {4, 4, 5, 5, 6, 6};
    CHECK_ERR(ml_split_group_kfold(&s, three, 6, 4), ML_EARG, "k = 4", "3 groups");
    CHECK_ERR(ml_split_group_kfold(&s, three, 6, 1), ML_EARG, "k = 1");
    CHECK_ERR(ml_split_stratified_group_kfold(&s, three, three, 6, 4, 0, 0), ML_EARG, "k = 4",
              "3 groups");
    int64_t one_class[6] = {1, 1, 1, 2, 2, 2}, six[6] = {1, 2, 3, 4, 5, 6};
    CHECK_ERR(ml_split_stratified_group_kfold(&s, one_class, six, 6, 4, 0, 0), ML_EARG,
              "k = 4", "largest has 3");
    CHECK_ERR(ml_split_group_kfold(&s, NULL, 6, 2), ML_EARG, "groups");
}

static void test_leave_out(void)
{
    ml_split_t s;
    CHECK(ml_split_leave_one_out(&s, 9) == ML_OK);
    CHECK(s.nfolds == 9);
    check_tested(&s, SORTED | COVER, 1, "leave_one_out");
    for (int64_t f = 0; f < 9; f++) {
        fold_t o;
        get_fold(&s, f, &o);
        CHECK(o.nte == 1 && o.te[0] == f && o.ntr == 8);
        free_fold(&o);
    }
    ml_split_free(&s);

    /* Leave-p-out: all C(n, p) combinations, in strictly increasing lexicographic order. */
    CHECK(ml_split_leave_p_out(&s, 9, 3) == ML_OK);
    CHECK(s.nfolds == 84);
    check_tested(&s, SORTED | COVER, 28, "leave_p_out"); /* C(8, 2) folds test a row */
    int64_t prev[3] = {-1, -1, -1};
    int order_ok = 1;
    for (int64_t f = 0; f < s.nfolds; f++) {
        fold_t o;
        get_fold(&s, f, &o);
        int cmp = 0;
        for (int j = 0; j < 3 && cmp == 0; j++)
            cmp = (o.te[j] > prev[j]) - (o.te[j] < prev[j]);
        order_ok &= o.nte == 3 && cmp > 0;
        memcpy(prev, o.te, sizeof prev);
        free_fold(&o);
    }
    CHECK(order_ok);
    CHECK(prev[0] == 6 && prev[1] == 7 && prev[2] == 8);
    ml_split_free(&s);
    CHECK(ml_split_leave_p_out(&s, 1000000, 1) == ML_OK); /* as many folds as allowed */
    CHECK(s.nfolds == ML_SPLIT_MAX_FOLDS);
    fold_t o;
    CHECK(get_fold(&s, 999999, &o) == ML_OK && o.te[0] == 999999 && o.ntr == 999999);
    free_fold(&o);
    ml_split_free(&s);

    CHECK_ERR(ml_split_leave_one_out(&s, 1), ML_EARG, "leave_one_out", "1 samples");
    CHECK_ERR(ml_split_leave_p_out(&s, 5, 5), ML_EARG, "p = 5", "5 samples");
    CHECK_ERR(ml_split_leave_p_out(&s, 5, 0), ML_EARG, "p = 0");
    CHECK_ERR(ml_split_leave_p_out(&s, 40, 10), ML_EARG, "C(40, 10)", "1000000");
    CHECK_ERR(ml_split_leave_p_out(&s, 1000001, 1), ML_EARG, "more than 1000000");

    /* Leave one group out: folds in ascending order of group value. */
    int64_t g[8] = {30, -2, 30, 7, 7, -2, 100, 7};
    CHECK(ml_split_leave_one_group_out(&s, g, 8) == ML_OK);
    CHECK(s.nfolds == 4);
    check_tested(&s, SORTED | COVER, 1, "leave_one_group_out");
    int64_t gc[8] = {2, 0, 2, 1, 1, 0, 3, 1};
    check_groups(&s, gc, 4, "leave_one_group_out");
    get_fold(&s, 0, &o);
    CHECK(o.nte == 2 && o.te[0] == 1 && o.te[1] == 5);
    free_fold(&o);
    ml_split_free(&s);
    int64_t same[3] = {4, 4, 4};
    CHECK_ERR(ml_split_leave_one_group_out(&s, same, 3), ML_EARG, "1 distinct group");

    /* Predefined: -1 rows always train; folds by ascending value. */
    int64_t tf[7] = {5, -1, 2, 2, 5, -1, 9};
    CHECK(ml_split_predefined(&s, tf, 7) == ML_OK);
    CHECK(s.nfolds == 3);
    int64_t tested[7] = {0};
    check_folds(&s, SORTED | COVER, tested, "predefined_split");
    CHECK(tested[1] == 0 && tested[5] == 0 && tested[0] == 1 && tested[6] == 1);
    get_fold(&s, 0, &o);
    CHECK(o.nte == 2 && o.te[0] == 2 && o.te[1] == 3 && o.ntr == 5);
    free_fold(&o);
    ml_split_free(&s);
    int64_t none[3] = {-1, -1, -1};
    CHECK_ERR(ml_split_predefined(&s, none, 3), ML_EARG, "test_fold", "-1");
}

static void test_time_series(void)
{
    ml_split_t s;
    /* n = 20, 4 splits, test 3, gap 2, max_train 5: test blocks end at the last row. */
    CHECK(ml_split_time_series(&s, 20, 4, 3, 2, 5) == ML_OK);
    CHECK(s.nfolds == 4);
    int64_t tested[20] = {0};
    check_folds(&s, SORTED, tested, "time_series_split");
    for (int64_t f = 0; f < 4; f++) {
        fold_t o;
        get_fold(&s, f, &o);
        int64_t start = 20 - 4 * 3 + f * 3, end = start - 2;
        int64_t t0 = end > 5 ? end - 5 : 0;
        CHECK(o.nte == 3 && o.te[0] == start && o.te[2] == start + 2);
        CHECK(o.ntr == end - t0 && (o.ntr == 0 || (o.tr[0] == t0 && o.tr[o.ntr - 1] == end - 1)));
        free_fold(&o);
    }
    for (int64_t r = 0; r < 20; r++)
        CHECK(tested[r] == (r >= 8)); /* the last splits * test rows, once each */
    ml_split_free(&s);
    CHECK(ml_split_time_series(&s, 12, 3, 0, 0, 0) == ML_OK); /* default test = 12 / 4 */
    CHECK(s.ntest == 3);
    ml_split_free(&s);
    CHECK_ERR(ml_split_time_series(&s, 5, 5, 0, 0, 0), ML_EARG, "splits = 5", "6 samples");
    CHECK_ERR(ml_split_time_series(&s, 10, 1, 0, 0, 0), ML_EARG, "splits = 1");
    CHECK_ERR(ml_split_time_series(&s, 10, 3, 3, 1, 0), ML_EARG, "test = 3", "gap = 1");
    CHECK_ERR(ml_split_time_series(&s, 10, 3, 0, -1, 0), ML_EARG, "gap = -1");
    CHECK_ERR(ml_split_time_series(&s, 10, 3, 0, 0, -2), ML_EARG, "max_train = -2");
}

static ml_split_size_t frac(double f) { return (ml_split_size_t){ML_SIZE_FRACTION, f, 0}; }
static ml_split_size_t count(int64_t c) { return (ml_split_size_t){ML_SIZE_COUNT, 0, c}; }
static const ml_split_size_t NONE = {ML_SIZE_NONE, 0, 0};

static void test_sizes(void)
{
    int64_t z[3];
    CHECK(ml_split_sizes(z, 10, NONE, NONE, NONE, 0.25, "t", "samples") == ML_OK);
    CHECK(z[0] == 7 && z[1] == 0 && z[2] == 3); /* ceil(2.5) test, the rest train */
    CHECK(ml_split_sizes(z, 10, frac(0.7), NONE, NONE, 0.25, "t", "samples") == ML_OK);
    CHECK(z[0] == 7 && z[2] == 3); /* 0.7 * 10 is 7 (not 7.000000000000001) */
    CHECK(ml_split_sizes(z, 10, frac(0.6), frac(0.2), frac(0.2), 0.25, "t", "samples") == ML_OK);
    CHECK(z[0] == 6 && z[1] == 2 && z[2] == 2);
    CHECK(ml_split_sizes(z, 11, frac(0.6), frac(0.2), frac(0.2), 0.25, "t", "samples") == ML_OK);
    CHECK(z[0] == 5 && z[1] == 3 && z[2] == 3); /* rounding overflowed: train gives way */
    CHECK(ml_split_sizes(z, 10, count(4), NONE, count(3), 0.1, "t", "samples") == ML_OK);
    CHECK(z[0] == 4 && z[2] == 3); /* three rows unused */
    CHECK(ml_split_sizes(z, 10, count(4), count(2), NONE, 0.1, "t", "samples") == ML_OK);
    CHECK(z[0] == 4 && z[1] == 2 && z[2] == 4);
    CHECK_ERR(ml_split_sizes(z, 10, NONE, NONE, frac(1.5), 0.1, "holdout", "samples"), ML_EARG,
              "holdout", "test = 1.5", "(0, 1)");
    CHECK_ERR(ml_split_sizes(z, 10, frac(0), NONE, NONE, 0.1, "t", "samples"), ML_EARG,
              "train = 0");
    CHECK_ERR(ml_split_sizes(z, 10, NONE, NONE, count(10), 0.1, "t", "samples"), ML_EARG,
              "test = 10", "1..9");
    CHECK_ERR(ml_split_sizes(z, 10, frac(0.7), frac(0.2), frac(0.3), 0.1, "t", "samples"),
              ML_EARG, "1.2", "at most 1");
    CHECK_ERR(ml_split_sizes(z, 10, count(8), NONE, count(5), 0.1, "t", "samples"), ML_EARG,
              "13 samples", "10");
    CHECK_ERR(ml_split_sizes(z, 10, NONE, count(5), count(5), 0.1, "t", "samples"), ML_EARG,
              "train set would be empty");
    CHECK_ERR(ml_split_sizes(z, 1, NONE, NONE, NONE, 0.1, "t", "samples"), ML_EARG,
              "1 samples");
}

static void test_shuffle_split(void)
{
    ml_split_t s, t;
    CHECK(ml_split_shuffle(&s, 30, 6, 20, 7, 5) == ML_OK);
    int64_t *tested = calloc(30, sizeof *tested);
    check_folds(&s, 0, tested, "shuffle_split");
    int64_t total = 0;
    for (int64_t f = 0; f < 6; f++) {
        int64_t a, b, c;
        ml_split_fold_sizes(&s, f, &a, &b, &c);
        CHECK(a == 20 && b == 0 && c == 7);
    }
    for (int r = 0; r < 30; r++)
        total += tested[r];
    CHECK(total == 6 * 7); /* the stated number of test rows per split */
    free(tested);
    CHECK(ml_split_shuffle(&t, 30, 6, 20, 7, 5) == ML_OK);
    CHECK(same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_shuffle(&t, 30, 6, 20, 7, 6) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);
    CHECK_ERR(ml_split_shuffle(&s, 10, 0, 5, 5, 0), ML_EARG, "splits = 0");
    CHECK_ERR(ml_split_shuffle(&s, 10, 2, 6, 5, 0), ML_EARG, "11 samples", "10");

    /* Holdout in row order: train, then val, then test. */
    CHECK(ml_split_holdout(&s, NULL, 10, 5, 2, 3, 0, 0) == ML_OK);
    fold_t o;
    CHECK(get_fold(&s, 0, &o) == ML_OK);
    CHECK(o.ntr == 5 && o.tr[0] == 0 && o.tr[4] == 4 && o.nva == 2 && o.va[0] == 5 &&
          o.nte == 3 && o.te[0] == 7 && o.te[2] == 9);
    free_fold(&o);
    ml_split_free(&s);
    CHECK(ml_split_holdout(&s, NULL, 40, 24, 8, 8, 1, 3) == ML_OK);
    check_folds(&s, COVER, NULL, "holdout");
    CHECK(ml_split_holdout(&t, NULL, 40, 24, 8, 8, 1, 4) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);
    int64_t y[4] = {1, 1, 2, 2};
    CHECK_ERR(ml_split_holdout(&s, y, 4, 2, 0, 2, 0, 0), ML_EARG, "stratified", "shuffle");
}

static void test_stratified_shuffle(void)
{
    enum { N = 157, C = 5 };
    int64_t y[N], code[N];
    make_labels(y, code, N, C, 8);
    ml_split_t s, t;
    CHECK(ml_split_stratified_shuffle(&s, y, N, 20, 90, 40, 1) == ML_OK);
    int64_t *tested = calloc(N, sizeof *tested);
    check_folds(&s, 0, tested, "stratified_shuffle_split");
    int64_t total = 0;
    for (int r = 0; r < N; r++)
        total += tested[r];
    CHECK(total == 20 * 40);
    free(tested);
    check_strata(&s, code, C, "stratified_shuffle_split");
    CHECK(ml_split_stratified_shuffle(&t, y, N, 20, 90, 40, 1) == ML_OK);
    CHECK(same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_stratified_shuffle(&t, y, N, 20, 90, 40, 2) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);

    /* Stratified holdout with every row used: each of the three sets keeps the shares. */
    CHECK(ml_split_holdout(&s, y, N, 94, 31, 32, 1, 6) == ML_OK);
    check_folds(&s, COVER, NULL, "stratified holdout");
    check_strata(&s, code, C, "stratified holdout");
    ml_split_free(&s);

    /* Unbiased rounding: over many splits each class's mean test count is its exact share
     * (here 7 classes of 3 rows, 10 test rows: share 10/7 each, so 3 of 7 classes round up). */
    int64_t eq[21];
    for (int64_t i = 0; i < 21; i++)
        eq[i] = i / 3;
    enum { SPLITS = 7000 };
    CHECK(ml_split_stratified_shuffle(&s, eq, 21, SPLITS, 11, 10, 9) == ML_OK);
    double mean[7] = {0};
    for (int64_t f = 0; f < SPLITS; f++) {
        fold_t o;
        get_fold(&s, f, &o);
        for (int64_t i = 0; i < o.nte; i++)
            mean[eq[o.te[i]]] += 1.0 / SPLITS;
        free_fold(&o);
    }
    for (int c = 0; c < 7; c++) /* standard error about 0.006 */
        CHECK_CLOSE(mean[c], 10.0 / 7.0, 0.03, 0);
    ml_split_free(&s);

    int64_t lone[5] = {1, 1, 2, 2, 3};
    CHECK_ERR(ml_split_stratified_shuffle(&s, lone, 5, 2, 3, 2, 0), ML_EARG, "labels",
              "only 1 row");
    int64_t two[8] = {1, 1, 2, 2, 3, 3, 4, 4};
    CHECK_ERR(ml_split_stratified_shuffle(&s, two, 8, 2, 5, 3, 0), ML_EARG, "test has 3 rows",
              "4 classes");
}

static void test_group_shuffle(void)
{
    enum { N = 90 };
    int64_t g[N], gc[N];
    for (int64_t i = 0; i < N; i++) {
        gc[i] = (i * 7) % 15;
        g[i] = gc[i] * 3 + 1;
    }
    ml_split_t s, t;
    ml_split_size_t test = count(4), train = NONE;
    CHECK(ml_split_group_shuffle(&s, g, N, 8, train, test, 2) == ML_OK);
    int64_t *tested = calloc(N, sizeof *tested);
    check_folds(&s, SORTED | COVER, tested, "group_shuffle_split");
    int64_t total = 0;
    for (int r = 0; r < N; r++)
        total += tested[r];
    CHECK(total == 8 * 4 * 6); /* 4 test groups of 6 rows per split */
    free(tested);
    check_groups(&s, gc, 15, "group_shuffle_split");
    CHECK(ml_split_group_shuffle(&t, g, N, 8, train, test, 2) == ML_OK);
    CHECK(same_folds(&s, &t));
    ml_split_free(&t);
    CHECK(ml_split_group_shuffle(&t, g, N, 8, train, test, 3) == ML_OK);
    CHECK(!same_folds(&s, &t));
    ml_split_free(&t);
    ml_split_free(&s);
    CHECK(ml_split_group_shuffle(&s, g, N, 3, frac(0.4), frac(0.2), 2) == ML_OK);
    check_folds(&s, SORTED, NULL, "group_shuffle_split");
    check_groups(&s, gc, 15, "group_shuffle_split with unused groups");
    int64_t a, b, c;
    ml_split_fold_sizes(&s, 0, &a, &b, &c);
    CHECK(a == 6 * 6 && c == 3 * 6);
    ml_split_free(&s);
    CHECK_ERR(ml_split_group_shuffle(&s, g, N, 2, NONE, count(15), 0), ML_EARG,
              "test = 15 of 15 groups");
}

/* The reference case the report quotes: 5 stratified folds of 70000 rows, 10 classes. */
static void time_large(void)
{
    enum { N = 70000 };
    int64_t *y = malloc(N * sizeof *y), *code = malloc(N * sizeof *code);
    make_labels(y, code, N, 10, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ml_split_t s;
    CHECK(ml_split_stratified_kfold(&s, y, N, 5, 1, 1) == ML_OK);
    int64_t rows = 0;
    for (int64_t f = 0; f < 5; f++) {
        fold_t o;
        CHECK(get_fold(&s, f, &o) == ML_OK);
        rows += o.ntr + o.nte;
        free_fold(&o);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(rows == 5 * N);
    printf("stratified_kfold: 5 folds of %d rows (plan and every fold) in %.2f ms\n", N,
           ((double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6));
    ml_split_free(&s);
    free(y);
    free(code);
}

int main(void)
{
    test_kfold();
    test_stratified_kfold();
    test_group_kfold();
    test_leave_out();
    test_time_series();
    test_sizes();
    test_shuffle_split();
    test_stratified_shuffle();
    test_group_shuffle();
    time_large();
    return check_report("split");
}
