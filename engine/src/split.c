#include "moonlab/split.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moonlab/error.h"
#include "moonlab/rng.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static void fail_msg(const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void fail_msg(const char *name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ml__fail(ML_EARG, "%s: %s", name, msg);
}

/* ML_EARG with "name: message": a constant value, so analyzers (which do not follow variadic
 * calls) see that a failure is never ML_OK. */
#define FAIL(...) (fail_msg(__VA_ARGS__), ML_EARG)

/* malloc of count elements (at least one byte); NULL with ML_ENOMEM recorded on failure. */
static void *alloc_n(int64_t count, size_t size, const char *name)
{
    if (count < 0 || (uint64_t)count > SIZE_MAX / size) {
        ml__fail(ML_ENOMEM, "%s: %lld entries do not fit in memory", name, (long long)count);
        return NULL;
    }
    void *p = malloc(count ? (size_t)count * size : 1);
    if (!p)
        ml__fail(ML_ENOMEM, "%s: out of memory for %lld entries", name, (long long)count);
    return p;
}

/* Zero-filled alloc_n: for tables indexed by row data (counts, places). */
static void *alloc_zero(int64_t count, size_t size, const char *name)
{
    if (count < 0 || (uint64_t)count > SIZE_MAX / size) {
        ml__fail(ML_ENOMEM, "%s: %lld entries do not fit in memory", name, (long long)count);
        return NULL;
    }
    void *p = calloc(count ? (size_t)count : 1, size);
    if (!p)
        ml__fail(ML_ENOMEM, "%s: out of memory for %lld entries", name, (long long)count);
    return p;
}

static int check_rows(int64_t n, const char *name)
{
    if (n < 0)
        return FAIL(name, "%lld samples", (long long)n);
    if (n > ML_SPLIT_MAX_ROWS)
        return FAIL(name, "%lld samples, more than the %lld a split handles", (long long)n,
                    (long long)ML_SPLIT_MAX_ROWS);
    return ML_OK;
}

static int check_k(int64_t k, int64_t n, const char *name)
{
    if (k < 2)
        return FAIL(name, "k = %lld: k-fold needs at least 2 folds", (long long)k);
    if (k > n)
        return FAIL(name, "k = %lld folds for %lld samples: needs k <= samples", (long long)k,
                    (long long)n);
    return ML_OK;
}

static void seed_stream(ml_rng_t *r, uint64_t seed, const char *stream, int64_t index)
{
    ml_rng_seed(r, ml_seed_derive(seed, stream, (uint64_t)index));
}

static void swap64(int64_t *a, int64_t i, int64_t j)
{
    int64_t t = a[i];
    a[i] = a[j];
    a[j] = t;
}

/* Fisher-Yates over the first m positions: a[0..m) becomes a uniform random draw (in random
 * order) of a[0..n) without replacement. m = n shuffles all of it. */
static void partial_shuffle(ml_rng_t *r, int64_t *a, int64_t n, int64_t m)
{
    for (int64_t i = 0; i < m && i < n - 1; i++)
        swap64(a, i, i + (int64_t)ml_rng_below(r, (uint64_t)(n - i)));
}

static void shuffle_i32(ml_rng_t *r, int32_t *a, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ml_rng_below(r, (uint64_t)i + 1);
        int32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void iota(int64_t *a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        a[i] = i;
}

/* ---- label codes ------------------------------------------------------------------------ */

typedef struct { int64_t v, i; } pair_i64_t;
typedef struct { double v; int64_t i; } pair_f64_t;
typedef struct { const char *v; int64_t i; } pair_str_t;

static int cmp_i64(const void *a, const void *b)
{
    const pair_i64_t *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

static int cmp_f64(const void *a, const void *b)
{
    const pair_f64_t *x = a, *y = b;
    return (x->v > y->v) - (x->v < y->v);
}

static int cmp_str(const void *a, const void *b)
{
    const pair_str_t *x = a, *y = b;
    return strcmp(x->v, y->v);
}

/* Codes 0..C-1 of int64 values in ascending order. Labels in a range not much wider than n
 * (class numbers, group ids) are ranked by counting in O(n + range); others by sorting. */
static int encode(int64_t *codes, int64_t *nclasses, const int64_t *v, int64_t n,
                  const char *name)
{
    *nclasses = 0;
    if (n == 0)
        return ML_OK;
    int64_t lo = v[0], hi = v[0];
    for (int64_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    uint64_t range = (uint64_t)hi - (uint64_t)lo;
    if (range < (uint64_t)n * 2 + 1024) {
        int64_t *rank = alloc_n((int64_t)range + 1, sizeof *rank, name);
        if (!rank)
            return ML_ENOMEM;
        memset(rank, 0, ((size_t)range + 1) * sizeof *rank);
        for (int64_t i = 0; i < n; i++)
            rank[(uint64_t)v[i] - (uint64_t)lo] = 1;
        int64_t c = 0;
        for (uint64_t j = 0; j <= range; j++)
            if (rank[j])
                rank[j] = c++;
        for (int64_t i = 0; i < n; i++)
            codes[i] = rank[(uint64_t)v[i] - (uint64_t)lo];
        *nclasses = c;
        free(rank);
        return ML_OK;
    }
    pair_i64_t *p = alloc_n(n, sizeof *p, name);
    if (!p)
        return ML_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        p[i] = (pair_i64_t){v[i], i};
    qsort(p, (size_t)n, sizeof *p, cmp_i64);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && p[i].v != p[i - 1].v)
            c++;
        codes[p[i].i] = c;
    }
    *nclasses = c + 1;
    free(p);
    return ML_OK;
}

int ml_split_encode_f64(int64_t *codes, int64_t *nclasses, const double *v, int64_t n,
                        const char *name)
{
    if (!codes || !nclasses || (n > 0 && !v) || n < 0)
        return FAIL(name, "encode: bad arguments");
    *nclasses = 0;
    for (int64_t i = 0; i < n; i++)
        if (isnan(v[i]))
            return FAIL(name, "label of row %lld is NaN", (long long)i + 1);
    pair_f64_t *p = alloc_n(n, sizeof *p, name);
    if (!p)
        return ML_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        p[i] = (pair_f64_t){v[i], i};
    qsort(p, (size_t)n, sizeof *p, cmp_f64);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && p[i].v != p[i - 1].v) /* -0.0 and 0.0 are one class, as in numpy */
            c++;
        codes[p[i].i] = c;
    }
    *nclasses = n ? c + 1 : 0;
    free(p);
    return ML_OK;
}

int ml_split_encode_str(int64_t *codes, int64_t *nclasses, const char *const *v, int64_t n,
                        const char *name)
{
    if (!codes || !nclasses || (n > 0 && !v) || n < 0)
        return FAIL(name, "encode: bad arguments");
    *nclasses = 0;
    for (int64_t i = 0; i < n; i++)
        if (!v[i])
            return FAIL(name, "label of row %lld is NULL", (long long)i + 1);
    pair_str_t *p = alloc_n(n, sizeof *p, name);
    if (!p)
        return ML_ENOMEM;
    for (int64_t i = 0; i < n; i++)
        p[i] = (pair_str_t){v[i], i};
    /* Byte order of UTF-8 is code-point order, numpy's order of str. */
    qsort(p, (size_t)n, sizeof *p, cmp_str);
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(p[i].v, p[i - 1].v) != 0)
            c++;
        codes[p[i].i] = c;
    }
    *nclasses = n ? c + 1 : 0;
    free(p);
    return ML_OK;
}

/* *out = codes (n) of labels, allocated (NULL on failure). */
static int codes_of(int64_t **out, const int64_t *v, int64_t n, int64_t *nclasses,
                    const char *name, const char *what)
{
    *out = NULL;
    if (n > 0 && !v)
        return FAIL(name, "%s are missing", what);
    int64_t *codes = alloc_n(n, sizeof *codes, name);
    if (!codes)
        return ML_ENOMEM;
    int rc = encode(codes, nclasses, v, n, name);
    if (rc)
        free(codes);
    else
        *out = codes;
    return rc;
}

/* ---- sizes ------------------------------------------------------------------------------ */

/* x rounded up (up = 1) or down, after snapping to an integer within 1e-9 relative. */
static int64_t round_share(double x, int up)
{
    double r = nearbyint(x);
    if (fabs(x - r) <= 1e-9 * (fabs(x) > 1 ? fabs(x) : 1))
        return (int64_t)r;
    return (int64_t)(up ? ceil(x) : floor(x));
}

static int check_size(ml_split_size_t z, const char *what, int64_t n, int zero_ok,
                      const char *name, const char *unit)
{
    if (z.kind == ML_SIZE_FRACTION && !(z.fraction > 0 && z.fraction < 1))
        return FAIL(name, "%s = %g: a fraction must be in (0, 1)", what, z.fraction);
    if (z.kind == ML_SIZE_COUNT && (z.count < (zero_ok ? 0 : 1) || z.count >= n))
        return FAIL(name, "%s = %lld of %lld %s: a count must be %d..%lld", what,
                    (long long)z.count, (long long)n, unit, zero_ok ? 0 : 1,
                    (long long)n - 1);
    if (z.kind != ML_SIZE_NONE && z.kind != ML_SIZE_FRACTION && z.kind != ML_SIZE_COUNT)
        return FAIL(name, "%s: unknown kind of size %d", what, (int)z.kind);
    return ML_OK;
}

static int64_t count_of(ml_split_size_t z, int64_t n, int up)
{
    if (z.kind == ML_SIZE_COUNT)
        return z.count;
    if (z.kind == ML_SIZE_FRACTION)
        return round_share(z.fraction * (double)n, up);
    return 0;
}

int ml_split_sizes(int64_t out[3], int64_t n, ml_split_size_t train, ml_split_size_t val,
                   ml_split_size_t test, double default_test, const char *name,
                   const char *unit)
{
    int rc = check_rows(n, name);
    if (rc)
        return rc;
    if (n < 2)
        return FAIL(name, "%lld %s: a train and a test set need at least 2", (long long)n, unit);
    if ((rc = check_size(train, "train", n, 0, name, unit)) ||
        (rc = check_size(val, "val", n, 1, name, unit)) ||
        (rc = check_size(test, "test", n, 0, name, unit)))
        return rc;
    if (train.kind == ML_SIZE_NONE && test.kind == ML_SIZE_NONE)
        test = (ml_split_size_t){ML_SIZE_FRACTION, default_test, 0};
    double fsum = 0;
    int nfrac = 0;
    const ml_split_size_t *all[3] = {&train, &val, &test};
    for (int i = 0; i < 3; i++)
        if (all[i]->kind == ML_SIZE_FRACTION) {
            fsum += all[i]->fraction;
            nfrac++;
        }
    if (nfrac > 1 && fsum > 1 + 1e-9)
        return FAIL(name, "train + val + test = %g: fractions must sum to at most 1", fsum);
    int64_t ntest = count_of(test, n, 1), nval = count_of(val, n, 1);
    int64_t ntrain = count_of(train, n, 0);
    if (train.kind == ML_SIZE_NONE)
        ntrain = n - nval - ntest;
    else if (test.kind == ML_SIZE_NONE)
        ntest = n - ntrain - nval > 0 ? n - ntrain - nval : 0;
    if (ntrain + nval + ntest > n && train.kind == ML_SIZE_FRACTION &&
        val.kind != ML_SIZE_COUNT && test.kind != ML_SIZE_COUNT)
        ntrain = n - nval - ntest; /* only fractions, within 1: rounding alone overflowed */
    if (ntrain + nval + ntest > n)
        return FAIL(name, "train + val + test = %lld %s, more than the %lld there are",
                    (long long)ntrain + nval + ntest, unit, (long long)n);
    if (ntrain < 1)
        return FAIL(name, "the train set would be empty (%lld %s, val %lld, test %lld)",
                    (long long)n, unit, (long long)nval, (long long)ntest);
    if (ntest < 1)
        return FAIL(name, "the test set would be empty (%lld %s, train %lld, val %lld)",
                    (long long)n, unit, (long long)ntrain, (long long)nval);
    out[0] = ntrain;
    out[1] = nval;
    out[2] = ntest;
    return ML_OK;
}

/* ---- plans with a test fold per row ---------------------------------------------------- */

static int begin(ml_split_t *s, ml_split_kind_t kind, const char *name, int64_t n)
{
    if (!s)
        return FAIL(name, "plan is NULL");
    *s = (ml_split_t){0};
    s->kind = kind;
    s->name = name;
    s->n = n;
    return check_rows(n, name);
}

static int alloc_assigned(ml_split_t *s, int64_t repeats, int64_t k)
{
    if (repeats > 0 && k > INT64_MAX / repeats)
        return FAIL(s->name, "%lld repeats of %lld folds", (long long)repeats, (long long)k);
    if (s->n > 0 && repeats > INT64_MAX / s->n)
        return FAIL(s->name, "%lld repeats of %lld samples", (long long)repeats,
                    (long long)s->n);
    s->k = k;
    s->nfolds = repeats * k;
    s->fold = alloc_n(repeats * s->n, sizeof *s->fold, s->name);
    s->count = alloc_n(s->nfolds, sizeof *s->count, s->name);
    if (!s->fold || !s->count)
        return ML_ENOMEM;
    return ML_OK;
}

/* Test rows per fold, from the fold numbers. */
static void count_folds(ml_split_t *s)
{
    memset(s->count, 0, (size_t)s->nfolds * sizeof *s->count);
    int64_t repeats = s->k ? s->nfolds / s->k : 0;
    for (int64_t r = 0; r < repeats; r++)
        for (int64_t i = 0; i < s->n; i++)
            if (s->fold[r * s->n + i] >= 0)
                s->count[r * s->k + s->fold[r * s->n + i]]++;
}

static int finish(ml_split_t *s, int rc)
{
    if (rc != ML_OK) {
        ml_split_free(s);
        return rc;
    }
    count_folds(s);
    return ML_OK;
}

/* Consecutive blocks of perm (identity if NULL): the first n % k one row larger. */
static void kfold_fill(int32_t *fold, int64_t n, int64_t k, const int64_t *perm)
{
    int64_t pos = 0;
    for (int64_t f = 0; f < k; f++) {
        int64_t size = n / k + (f < n % k);
        for (int64_t j = pos; j < pos + size; j++)
            fold[perm ? perm[j] : j] = (int32_t)f;
        pos += size;
    }
}

static int kfold_plan(ml_split_t *s, const char *name, int64_t n, int64_t k, int shuffle,
                      int64_t repeats, uint64_t seed)
{
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (!rc)
        rc = check_k(k, n, name);
    if (!rc && repeats < 1)
        rc = FAIL(name, "repeats = %lld: needs at least 1", (long long)repeats);
    if (!rc)
        rc = alloc_assigned(s, repeats, k);
    int64_t *perm = NULL;
    if (!rc && shuffle && !(perm = alloc_n(n, sizeof *perm, name)))
        rc = ML_ENOMEM;
    for (int64_t r = 0; !rc && r < repeats; r++) {
        if (shuffle) {
            ml_rng_t g;
            seed_stream(&g, seed, "kfold", r);
            ml_rng_permutation(&g, perm, n);
        }
        kfold_fill(s->fold + r * n, n, k, perm);
    }
    free(perm);
    if (!rc) {
        s->shuffle = shuffle;
        s->seed = seed;
    }
    return finish(s, rc);
}

int ml_split_kfold(ml_split_t *s, int64_t n, int64_t k, int shuffle, uint64_t seed)
{
    return kfold_plan(s, "kfold", n, k, shuffle != 0, 1, seed);
}

int ml_split_repeated_kfold(ml_split_t *s, int64_t n, int64_t k, int64_t repeats,
                            uint64_t seed)
{
    return kfold_plan(s, "repeated_kfold", n, k, 1, repeats, seed);
}

/* StratifiedKFold. Classes are numbered by first appearance; in the class-sorted order,
 * position p goes to fold p % k, which fixes how many rows of each class every fold gets. */
static int stratified_plan(ml_split_t *s, const char *name, const int64_t *y, int64_t n,
                           int64_t k, int shuffle, int64_t repeats, uint64_t seed)
{
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (!rc)
        rc = check_k(k, n, name);
    if (!rc && repeats < 1)
        rc = FAIL(name, "repeats = %lld: needs at least 1", (long long)repeats);
    if (rc)
        return finish(s, rc);
    int64_t C = 0, *code = NULL;
    int64_t *rank = NULL, *cnt = NULL, *next = NULL;
    int32_t *slots = NULL;
    if ((rc = codes_of(&code, y, n, &C, name, "labels")) != ML_OK)
        return finish(s, rc);
    rank = alloc_n(C, sizeof *rank, name);
    cnt = alloc_n(C + 1, sizeof *cnt, name);
    next = alloc_n(C, sizeof *next, name);
    slots = alloc_n(n, sizeof *slots, name);
    if (!rank || !cnt || !next || !slots) {
        rc = ML_ENOMEM;
        goto done;
    }
    for (int64_t c = 0; c < C; c++)
        rank[c] = -1;
    int64_t seen = 0, largest = 0;
    for (int64_t i = 0; i < n; i++)
        if (rank[code[i]] < 0)
            rank[code[i]] = seen++;
    memset(cnt, 0, (size_t)(C + 1) * sizeof *cnt);
    for (int64_t i = 0; i < n; i++)
        cnt[rank[code[i]]]++;
    for (int64_t c = 0; c < C; c++)
        largest = cnt[c] > largest ? cnt[c] : largest;
    if (largest < k) {
        rc = FAIL(name, "k = %lld folds but no class has that many rows (the largest has %lld)",
                  (long long)k, (long long)largest);
        goto done;
    }
    if ((rc = alloc_assigned(s, repeats, k)) != ML_OK)
        goto done;
    for (int64_t r = 0; r < repeats; r++) {
        ml_rng_t g;
        seed_stream(&g, seed, "stratified_kfold", r);
        int64_t off = 0;
        for (int64_t c = 0; c < C; c++) {
            /* Positions off..off+cnt[c] of the class-sorted order; fold f gets those with
             * p % k == f, i.e. #{p < x : p % k == f} = (x - f + k - 1) / k between the ends. */
            int64_t pos = off;
            for (int64_t f = 0; f < k; f++) {
                int64_t a = (off + cnt[c] - f + k - 1) / k - (off - f + k - 1) / k;
                for (int64_t j = 0; j < a; j++)
                    slots[pos++] = (int32_t)f;
            }
            if (shuffle)
                shuffle_i32(&g, slots + off, cnt[c]);
            next[c] = off;
            off += cnt[c];
        }
        int32_t *fold = s->fold + r * n;
        for (int64_t i = 0; i < n; i++)
            fold[i] = slots[next[rank[code[i]]]++];
    }
    s->shuffle = shuffle;
    s->seed = seed;
done:
    free(code);
    free(rank);
    free(cnt);
    free(next);
    free(slots);
    return finish(s, rc);
}

int ml_split_stratified_kfold(ml_split_t *s, const int64_t *y, int64_t n, int64_t k,
                              int shuffle, uint64_t seed)
{
    return stratified_plan(s, "stratified_kfold", y, n, k, shuffle != 0, 1, seed);
}

int ml_split_repeated_stratified_kfold(ml_split_t *s, const int64_t *y, int64_t n, int64_t k,
                                       int64_t repeats, uint64_t seed)
{
    return stratified_plan(s, "repeated_stratified_kfold", y, n, k, 1, repeats, seed);
}

typedef struct { int64_t size, g; } group_size_t;

/* Larger groups first; among equal sizes the larger group value first (numpy's argsort of
 * small arrays is stable, and GroupKFold reverses it). */
static int cmp_group_size(const void *a, const void *b)
{
    const group_size_t *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return (x->g < y->g) - (x->g > y->g);
}

int ml_split_group_kfold(ml_split_t *s, const int64_t *groups, int64_t n, int64_t k)
{
    const char *name = "group_kfold";
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (rc)
        return finish(s, rc);
    int64_t G = 0, *code = NULL;
    group_size_t *order = NULL;
    int64_t *weight = NULL, *gfold = NULL;
    if ((rc = codes_of(&code, groups, n, &G, name, "groups")) != ML_OK)
        return finish(s, rc);
    if (k < 2 || k > G) {
        rc = k < 2 ? check_k(k, n, name)
                   : FAIL(name, "k = %lld folds for %lld groups: needs k <= groups",
                          (long long)k, (long long)G);
        goto done;
    }
    order = alloc_zero(G, sizeof *order, name);
    weight = alloc_zero(k, sizeof *weight, name);
    gfold = alloc_zero(G, sizeof *gfold, name);
    if (!order || !weight || !gfold || (rc = alloc_assigned(s, 1, k)) != ML_OK) {
        rc = rc ? rc : ML_ENOMEM;
        goto done;
    }
    for (int64_t g = 0; g < G; g++)
        order[g] = (group_size_t){0, g};
    for (int64_t i = 0; i < n; i++)
        order[code[i]].size++;
    qsort(order, (size_t)G, sizeof *order, cmp_group_size);
    for (int64_t j = 0; j < G; j++) {
        int64_t light = 0;
        for (int64_t f = 1; f < k; f++)
            light = weight[f] < weight[light] ? f : light;
        weight[light] += order[j].size;
        gfold[order[j].g] = light;
    }
    for (int64_t i = 0; i < n; i++)
        s->fold[i] = (int32_t)gfold[code[i]];
done:
    free(code);
    free(order);
    free(weight);
    free(gfold);
    return finish(s, rc);
}

typedef struct { double spread; int64_t pos, g; } group_spread_t;

/* Wider class spread first; ties keep their (possibly shuffled) order, as a stable sort. */
static int cmp_group_spread(const void *a, const void *b)
{
    const group_spread_t *x = a, *y = b;
    if (x->spread != y->spread)
        return x->spread < y->spread ? 1 : -1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Population standard deviation over k folds of counts[f * C] / total, with fold `plus`
 * (or none: -1) holding `extra` more: numpy's two-pass std. */
static double fold_std(const int64_t *counts, int64_t C, int64_t k, double total, int64_t plus,
                       int64_t extra)
{
    double mean = 0;
    for (int64_t f = 0; f < k; f++)
        mean += (double)(counts[f * C] + (f == plus ? extra : 0)) / total;
    mean /= (double)k;
    double var = 0;
    for (int64_t f = 0; f < k; f++) {
        double d = (double)(counts[f * C] + (f == plus ? extra : 0)) / total - mean;
        var += d * d;
    }
    return sqrt(var / (double)k);
}

typedef struct {
    int64_t C, G, k;
    int64_t *ycnt;      /* (C) rows per class */
    int64_t *gstart;    /* (G+1) each group's entries in ecls/ecnt */
    int64_t *ecls, *ecnt;  /* (<= n) a group's classes and their counts */
    int64_t *gsize;     /* (G) */
} sgk_t;

/* Per group, its classes and counts: rows ordered by group then class (two stable counting
 * sorts), then runs of one class. */
static int sgk_tables(sgk_t *t, const int64_t *ycode, const int64_t *gcode, int64_t n,
                      const char *name)
{
    int64_t C = t->C, G = t->G;
    int64_t *by_class = alloc_zero(n, sizeof *by_class, name);
    int64_t *by_group = alloc_zero(n, sizeof *by_group, name);
    int64_t *pos = alloc_zero((C > G ? C : G) + 1, sizeof *pos, name);
    t->ycnt = alloc_zero(C, sizeof *t->ycnt, name);
    t->gstart = alloc_zero(G + 1, sizeof *t->gstart, name);
    t->ecls = alloc_zero(n, sizeof *t->ecls, name);
    t->ecnt = alloc_zero(n, sizeof *t->ecnt, name);
    t->gsize = alloc_zero(G, sizeof *t->gsize, name);
    int rc = ML_OK;
    if (!by_class || !by_group || !pos || !t->ycnt || !t->gstart || !t->ecls || !t->ecnt ||
        !t->gsize) {
        rc = ML_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        t->ycnt[ycode[i]]++;
        t->gsize[gcode[i]]++;
    }
    pos[0] = 0;
    for (int64_t c = 0; c < C; c++)
        pos[c + 1] = pos[c] + t->ycnt[c];
    for (int64_t i = 0; i < n; i++)
        by_class[pos[ycode[i]]++] = i;
    pos[0] = 0;
    for (int64_t g = 0; g < G; g++)
        pos[g + 1] = pos[g] + t->gsize[g];
    for (int64_t j = 0; j < n; j++)
        by_group[pos[gcode[by_class[j]]]++] = by_class[j];
    int64_t e = 0, j = 0;
    for (int64_t g = 0; g < G; g++) {
        t->gstart[g] = e;
        int64_t end = j + t->gsize[g];
        while (j < end) {
            int64_t c = ycode[by_group[j]], run = 0;
            while (j < end && ycode[by_group[j]] == c) {
                run++;
                j++;
            }
            t->ecls[e] = c;
            t->ecnt[e++] = run;
        }
    }
    t->gstart[G] = e;
done:
    free(by_class);
    free(by_group);
    free(pos);
    return rc;
}

static void sgk_free(sgk_t *t)
{
    free(t->ycnt);
    free(t->gstart);
    free(t->ecls);
    free(t->ecnt);
    free(t->gsize);
}

/* StratifiedGroupKFold's greedy: each group to the fold that keeps the class fractions most
 * even across folds. Only the group's own classes change, so a candidate fold costs
 * O(k * classes of the group) and the whole assignment O(k^2 n). */
static int sgk_assign(const sgk_t *t, const group_spread_t *order, int64_t *gfold,
                      const char *name)
{
    int64_t C = t->C, k = t->k;
    int64_t *counts = alloc_zero(k * C, sizeof *counts, name); /* (k, C) */
    int64_t *fsize = alloc_zero(k, sizeof *fsize, name);
    double *sd = alloc_zero(C, sizeof *sd, name);
    if (!counts || !fsize || !sd) {
        free(counts);
        free(fsize);
        free(sd);
        return ML_ENOMEM;
    }
    double total_sd = 0;
    for (int64_t j = 0; j < t->G; j++) {
        int64_t g = order[j].g, e0 = t->gstart[g], e1 = t->gstart[g + 1];
        double own = 0;
        for (int64_t e = e0; e < e1; e++)
            own += sd[t->ecls[e]];
        int64_t best = 0; /* the first fold is always taken: its evaluation beats INFINITY */
        double best_eval = INFINITY;
        int64_t best_size = INT64_MAX;
        for (int64_t f = 0; f < k; f++) {
            double moved = 0;
            for (int64_t e = e0; e < e1; e++) {
                int64_t c = t->ecls[e];
                moved += fold_std(counts + c, C, k, (double)t->ycnt[c], f, t->ecnt[e]);
            }
            double eval = (total_sd - own + moved) / (double)C;
            /* scikit-learn's rule: a lower evaluation wins, or one within numpy.isclose on a
             * fold with fewer rows. Evaluations that agree to rounding (1e-12) count as
             * equal, so the last bits of a sum never decide (in scikit-learn they do). */
            int close = fabs(eval - best_eval) <= 1e-8 + 1e-5 * fabs(best_eval);
            int same = fabs(eval - best_eval) <= 1e-12 * fabs(best_eval);
            int smaller = fsize[f] < best_size;
            if (same ? smaller : eval < best_eval || (close && smaller)) {
                best = f;
                best_eval = eval;
                best_size = fsize[f];
            }
        }
        gfold[g] = best;
        fsize[best] += t->gsize[g];
        for (int64_t e = e0; e < e1; e++) {
            int64_t c = t->ecls[e];
            counts[best * C + c] += t->ecnt[e];
            double now = fold_std(counts + c, C, k, (double)t->ycnt[c], -1, 0);
            total_sd += now - sd[c];
            sd[c] = now;
        }
    }
    free(counts);
    free(fsize);
    free(sd);
    return ML_OK;
}

int ml_split_stratified_group_kfold(ml_split_t *s, const int64_t *y, const int64_t *groups,
                                    int64_t n, int64_t k, int shuffle, uint64_t seed)
{
    const char *name = "stratified_group_kfold";
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (!rc)
        rc = check_k(k, n, name);
    if (rc)
        return finish(s, rc);
    sgk_t t = {0};
    t.k = k;
    int64_t *ycode = NULL, *gcode = NULL;
    group_spread_t *order = NULL;
    int64_t *gfold = NULL, *perm = NULL;
    if ((rc = codes_of(&ycode, y, n, &t.C, name, "labels")) != ML_OK ||
        (rc = codes_of(&gcode, groups, n, &t.G, name, "groups")) != ML_OK)
        goto done;
    if (k > t.G) {
        rc = FAIL(name, "k = %lld folds for %lld groups: needs k <= groups", (long long)k,
                  (long long)t.G);
        goto done;
    }
    if ((rc = sgk_tables(&t, ycode, gcode, n, name)) != ML_OK)
        goto done;
    int64_t largest = 0;
    for (int64_t c = 0; c < t.C; c++)
        largest = t.ycnt[c] > largest ? t.ycnt[c] : largest;
    if (largest < k) {
        rc = FAIL(name, "k = %lld folds but no class has that many rows (the largest has %lld)",
                  (long long)k, (long long)largest);
        goto done;
    }
    order = alloc_n(t.G, sizeof *order, name);
    gfold = alloc_n(t.G, sizeof *gfold, name);
    perm = alloc_n(t.G, sizeof *perm, name);
    if (!order || !gfold || !perm || (rc = alloc_assigned(s, 1, k)) != ML_OK) {
        rc = rc ? rc : ML_ENOMEM;
        goto done;
    }
    iota(perm, t.G);
    if (shuffle) {
        ml_rng_t g;
        seed_stream(&g, seed, "stratified_group_kfold", 0);
        partial_shuffle(&g, perm, t.G, t.G);
    }
    for (int64_t j = 0; j < t.G; j++) {
        /* The spread of a group's class counts, as C^2 times their variance: an integer,
         * so equal spreads compare equal (exact while below 2^53). */
        int64_t g = perm[j];
        double sq = 0;
        for (int64_t e = t.gstart[g]; e < t.gstart[g + 1]; e++)
            sq += (double)t.ecnt[e] * (double)t.ecnt[e];
        double size = (double)t.gsize[g];
        order[j] = (group_spread_t){(double)t.C * sq - size * size, j, g};
    }
    qsort(order, (size_t)t.G, sizeof *order, cmp_group_spread);
    if ((rc = sgk_assign(&t, order, gfold, name)) != ML_OK)
        goto done;
    for (int64_t i = 0; i < n; i++)
        s->fold[i] = (int32_t)gfold[gcode[i]];
    s->shuffle = shuffle != 0;
    s->seed = seed;
done:
    sgk_free(&t);
    free(ycode);
    free(gcode);
    free(order);
    free(gfold);
    free(perm);
    return finish(s, rc);
}

int ml_split_leave_one_group_out(ml_split_t *s, const int64_t *groups, int64_t n)
{
    const char *name = "leave_one_group_out";
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (rc)
        return finish(s, rc);
    int64_t G = 0, *code = NULL;
    if ((rc = codes_of(&code, groups, n, &G, name, "groups")) != ML_OK)
        return finish(s, rc);
    if (G < 2)
        rc = FAIL(name, "groups: %lld distinct group%s; needs at least 2", (long long)G,
                  G == 1 ? "" : "s");
    if (!rc)
        rc = alloc_assigned(s, 1, G);
    for (int64_t i = 0; !rc && i < n; i++)
        s->fold[i] = (int32_t)code[i];
    free(code);
    return finish(s, rc);
}

int ml_split_predefined(ml_split_t *s, const int64_t *test_fold, int64_t n)
{
    const char *name = "predefined_split";
    int rc = begin(s, ML_SPLIT_ASSIGNED, name, n);
    if (!rc && n > 0 && !test_fold)
        rc = FAIL(name, "test_fold is missing");
    if (rc)
        return finish(s, rc);
    int64_t m = 0, F = 0;
    int64_t *vals = alloc_n(n, sizeof *vals, name), *code = alloc_n(n, sizeof *code, name);
    if (!vals || !code) {
        rc = ML_ENOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (test_fold[i] != -1)
            vals[m++] = test_fold[i];
    if ((rc = encode(code, &F, vals, m, name)) != ML_OK)
        goto done;
    if (F == 0) {
        rc = FAIL(name, "test_fold: every entry is -1 (always train), so no fold tests anything");
        goto done;
    }
    if ((rc = alloc_assigned(s, 1, F)) != ML_OK)
        goto done;
    for (int64_t i = 0, j = 0; i < n; i++)
        s->fold[i] = test_fold[i] == -1 ? -1 : (int32_t)code[j++];
done:
    free(vals);
    free(code);
    return finish(s, rc);
}

/* ---- plans computed per fold ----------------------------------------------------------- */

int ml_split_leave_one_out(ml_split_t *s, int64_t n)
{
    const char *name = "leave_one_out";
    int rc = begin(s, ML_SPLIT_LEAVE_ONE_OUT, name, n);
    if (rc)
        return rc;
    if (n < 2)
        return FAIL(name, "%lld samples: needs at least 2", (long long)n);
    s->nfolds = n;
    return ML_OK;
}

/* C(n, p), or cap + 1 once it exceeds cap. C(n-r+i, i) grows with i, so stopping early is
 * safe, and every product stays below cap * n. */
static int64_t binomial_capped(int64_t n, int64_t p, int64_t cap)
{
    int64_t r = p < n - p ? p : n - p, b = 1;
    for (int64_t i = 1; i <= r; i++) {
        b = b * (n - r + i) / i;
        if (b > cap)
            return cap + 1;
    }
    return b;
}

int ml_split_leave_p_out(ml_split_t *s, int64_t n, int64_t p)
{
    const char *name = "leave_p_out";
    int rc = begin(s, ML_SPLIT_LEAVE_P_OUT, name, n);
    if (rc)
        return rc;
    if (p < 1)
        return FAIL(name, "p = %lld: needs p >= 1", (long long)p);
    if (p >= n)
        return FAIL(name, "p = %lld must be less than the %lld samples", (long long)p,
                    (long long)n);
    int64_t folds = binomial_capped(n, p, ML_SPLIT_MAX_FOLDS);
    if (folds > ML_SPLIT_MAX_FOLDS)
        return FAIL(name, "p = %lld of %lld samples makes C(%lld, %lld) folds, more than "
                    "%d; use shuffle_split for random subsets", (long long)p, (long long)n,
                    (long long)n, (long long)p, ML_SPLIT_MAX_FOLDS);
    s->k = p;
    s->nfolds = folds;
    return ML_OK;
}

int ml_split_time_series(ml_split_t *s, int64_t n, int64_t splits, int64_t test_size,
                         int64_t gap, int64_t max_train)
{
    const char *name = "time_series_split";
    int rc = begin(s, ML_SPLIT_TIME_SERIES, name, n);
    if (rc)
        return rc;
    if (splits < 2)
        return FAIL(name, "splits = %lld: needs at least 2", (long long)splits);
    if (splits + 1 > n)
        return FAIL(name, "splits = %lld needs at least %lld samples, got %lld",
                    (long long)splits, (long long)splits + 1, (long long)n);
    if (test_size < 0 || test_size > n)
        return FAIL(name, "test = %lld rows for %lld samples", (long long)test_size,
                    (long long)n);
    if (gap < 0 || gap > n)
        return FAIL(name, "gap = %lld rows for %lld samples", (long long)gap, (long long)n);
    if (max_train < 0)
        return FAIL(name, "max_train = %lld: needs at least 1", (long long)max_train);
    int64_t ts = test_size ? test_size : n / (splits + 1);
    if (n - gap - ts * splits <= 0)
        return FAIL(name, "splits = %lld of test = %lld rows with gap = %lld leave no row to "
                    "train on in %lld samples", (long long)splits, (long long)ts,
                    (long long)gap, (long long)n);
    s->nfolds = splits;
    s->ntest = ts;
    s->gap = gap;
    s->max_train = max_train;
    return ML_OK;
}

/* Fold f of a time series: train [*t0, *t1), test [*s0, *s0 + ntest). */
static void time_fold(const ml_split_t *s, int64_t f, int64_t *t0, int64_t *t1, int64_t *s0)
{
    *s0 = s->n - s->nfolds * s->ntest + f * s->ntest;
    *t1 = *s0 - s->gap;
    *t0 = s->max_train && s->max_train < *t1 ? *t1 - s->max_train : 0;
}

static int check_sets(const char *name, int64_t n, int64_t splits, int64_t ntrain,
                      int64_t nval, int64_t ntest, const char *unit)
{
    if (splits < 1)
        return FAIL(name, "splits = %lld: needs at least 1", (long long)splits);
    if (ntrain < 1 || ntest < 1 || nval < 0)
        return FAIL(name, "train %lld, val %lld, test %lld %s: train and test need at least 1",
                    (long long)ntrain, (long long)nval, (long long)ntest, unit);
    if (ntrain > n || nval > n || ntest > n || ntrain + nval + ntest > n)
        return FAIL(name, "train + val + test = %lld %s, more than the %lld there are",
                    (long long)ntrain + nval + ntest, unit, (long long)n);
    return ML_OK;
}

static int shuffle_plan(ml_split_t *s, const char *name, int64_t n, int64_t splits,
                        int64_t ntrain, int64_t nval, int64_t ntest, int shuffle,
                        uint64_t seed)
{
    int rc = begin(s, ML_SPLIT_SHUFFLE, name, n);
    if (!rc)
        rc = check_sets(name, n, splits, ntrain, nval, ntest, "samples");
    if (rc)
        return rc;
    s->nfolds = splits;
    s->ntrain = ntrain;
    s->nval = nval;
    s->ntest = ntest;
    s->shuffle = shuffle != 0;
    s->seed = seed;
    return ML_OK;
}

int ml_split_shuffle(ml_split_t *s, int64_t n, int64_t splits, int64_t ntrain, int64_t ntest,
                     uint64_t seed)
{
    return shuffle_plan(s, "shuffle_split", n, splits, ntrain, 0, ntest, 1, seed);
}

/* Rows grouped by class: members (n) in row order within each class, start (C+1). */
static int stratified_shuffle_plan(ml_split_t *s, const char *name, const int64_t *y,
                                   int64_t n, int64_t splits, int64_t ntrain, int64_t nval,
                                   int64_t ntest, uint64_t seed)
{
    int rc = begin(s, ML_SPLIT_STRATIFIED, name, n);
    if (!rc)
        rc = check_sets(name, n, splits, ntrain, nval, ntest, "samples");
    if (rc)
        return rc;
    int64_t C = 0, *code = NULL;
    if ((rc = codes_of(&code, y, n, &C, name, "labels")) != ML_OK)
        return rc;
    s->members = alloc_n(n, sizeof *s->members, name);
    s->start = alloc_n(C + 1, sizeof *s->start, name);
    if (!s->members || !s->start) {
        rc = ML_ENOMEM;
        goto done;
    }
    memset(s->start, 0, (size_t)(C + 1) * sizeof *s->start);
    for (int64_t i = 0; i < n; i++)
        s->start[code[i] + 1]++;
    for (int64_t c = 0; c < C; c++) {
        if (s->start[c + 1] < 2) {
            rc = FAIL(name, "labels: class %lld of %lld (in ascending order of label) has "
                      "only 1 row; stratifying needs at least 2 per class", (long long)c + 1,
                      (long long)C);
            goto done;
        }
        s->start[c + 1] += s->start[c];
    }
    const char *what[3] = {"train", "val", "test"};
    int64_t sizes[3] = {ntrain, nval, ntest};
    for (int j = 0; j < 3; j++)
        if (sizes[j] > 0 && sizes[j] < C) {
            rc = FAIL(name, "%s has %lld rows, fewer than the %lld classes", what[j],
                      (long long)sizes[j], (long long)C);
            goto done;
        }
    {
        int64_t *next = code; /* reuse: code is not needed once counted */
        int64_t *fill = alloc_n(C, sizeof *fill, name);
        if (!fill) {
            rc = ML_ENOMEM;
            goto done;
        }
        memcpy(fill, s->start, (size_t)C * sizeof *fill);
        for (int64_t i = 0; i < n; i++)
            s->members[fill[next[i]]++] = i;
        free(fill);
    }
    s->nclasses = C;
    s->nfolds = splits;
    s->ntrain = ntrain;
    s->nval = nval;
    s->ntest = ntest;
    s->shuffle = 1;
    s->seed = seed;
done:
    free(code);
    if (rc)
        ml_split_free(s);
    return rc;
}

int ml_split_stratified_shuffle(ml_split_t *s, const int64_t *y, int64_t n, int64_t splits,
                                int64_t ntrain, int64_t ntest, uint64_t seed)
{
    return stratified_shuffle_plan(s, "stratified_shuffle_split", y, n, splits, ntrain, 0,
                                   ntest, seed);
}

int ml_split_holdout(ml_split_t *s, const int64_t *y, int64_t n, int64_t ntrain, int64_t nval,
                     int64_t ntest, int shuffle, uint64_t seed)
{
    if (!y)
        return shuffle_plan(s, "holdout", n, 1, ntrain, nval, ntest, shuffle, seed);
    if (!shuffle) {
        if (s)
            *s = (ml_split_t){0};
        return FAIL("holdout", "a stratified holdout needs shuffle = true");
    }
    return stratified_shuffle_plan(s, "holdout", y, n, 1, ntrain, nval, ntest, seed);
}

int ml_split_group_shuffle(ml_split_t *s, const int64_t *groups, int64_t n, int64_t splits,
                           ml_split_size_t train, ml_split_size_t test, uint64_t seed)
{
    const char *name = "group_shuffle_split";
    int rc = begin(s, ML_SPLIT_GROUP_SHUFFLE, name, n);
    if (rc)
        return rc;
    int64_t G = 0, z[3];
    ml_split_size_t none = {ML_SIZE_NONE, 0, 0};
    if ((rc = codes_of(&s->code, groups, n, &G, name, "groups")) != ML_OK)
        return rc;
    if ((rc = ml_split_sizes(z, G, train, none, test, 0.2, name, "groups")) != ML_OK ||
        (rc = check_sets(name, G, splits, z[0], 0, z[2], "groups")) != ML_OK)
        goto done;
    int64_t ntrain = z[0], ntest = z[2];
    s->start = alloc_n(G, sizeof *s->start, name);
    if (!s->start) {
        rc = ML_ENOMEM;
        goto done;
    }
    memset(s->start, 0, (size_t)G * sizeof *s->start);
    for (int64_t i = 0; i < n; i++)
        s->start[s->code[i]]++;
    s->nclasses = G;
    s->nfolds = splits;
    s->ntrain = ntrain;
    s->ntest = ntest;
    s->shuffle = 1;
    s->seed = seed;
done:
    if (rc)
        ml_split_free(s);
    return rc;
}

/* ---- controlled rounding --------------------------------------------------------------- */

#define SETS 4 /* train, val, test, unused */

/* Rounds the class-by-set table x[c][j] = cnt[c] * size[j] / n, whose rows sum to cnt[c] and
 * columns to size[j] (both integers), to integers with the same sums, each cell the floor or
 * ceiling of x (controlled rounding). Fractional parts are kept exactly, in units of 1/n;
 * every class or set with a fractional cell has at least two (its sum is whole), so a walk
 * along fractional cells, alternating class and set, closes a cycle within 2 * SETS steps.
 * Moving the cycle's cells alternately up and down keeps every sum and takes at least one
 * cell to a whole number; the direction is drawn so that each cell's expected value is x
 * (dependent rounding), so which classes round up is random and unbiased. O(C * SETS^2). */
static int round_table(int64_t *out, const int64_t *cnt, int64_t C, const int64_t *size,
                       int64_t n, ml_rng_t *r, const char *name)
{
    int64_t *w = alloc_n(C * SETS, sizeof *w, name);     /* (C, SETS) fractions * n */
    int64_t *at = alloc_n(C * SETS, sizeof *at, name);   /* (C, SETS) place in list[j] */
    int64_t *list = alloc_n(C * SETS, sizeof *list, name); /* (SETS, C) fractional rows */
    int64_t len[SETS] = {0};
    int rc = ML_OK;
    if (!w || !at || !list) {
        rc = ML_ENOMEM;
        goto done;
    }
    for (int64_t c = 0; c < C; c++)
        for (int j = 0; j < SETS; j++) {
            int64_t prod = cnt[c] * size[j]; /* < n^2 <= 2^62 */
            out[c * SETS + j] = prod / n;
            w[c * SETS + j] = prod % n;
            at[c * SETS + j] = -1;
            if (w[c * SETS + j]) {
                at[c * SETS + j] = len[j];
                list[j * C + len[j]++] = c;
            }
        }
    for (;;) {
        int j0 = 0;
        while (j0 < SETS && len[j0] == 0)
            j0++;
        if (j0 == SETS)
            break;
        /* Walk: vertices alternate set, class, set, ...; stop on a repeat. */
        int64_t vert[2 * SETS + 4];
        int nv = 0, q = -1;
        vert[nv++] = j0;
        int64_t prev = -1;
        while (q < 0) {
            if (nv % 2 == 1) { /* at a set: go to a class other than the one we came from */
                int64_t j = vert[nv - 1];
                int64_t c = list[j * C] != prev ? list[j * C] : list[j * C + 1];
                for (int v = 1; v < nv && q < 0; v += 2)
                    if (vert[v] == c)
                        q = v;
                if (q < 0) {
                    prev = j;
                    vert[nv++] = c;
                }
            } else { /* at a class: go to another set where it is fractional */
                int64_t c = vert[nv - 1], j = -1;
                for (int64_t jj = 0; jj < SETS && j < 0; jj++)
                    if (jj != prev && w[c * SETS + jj] > 0)
                        j = jj;
                if (j < 0) {
                    rc = ml__fail(ML_ESTATE, "%s: rounding found no cycle", name);
                    goto done;
                }
                for (int v = 0; v < nv && q < 0; v += 2)
                    if (vert[v] == j)
                        q = v;
                if (q < 0) {
                    prev = c;
                    vert[nv++] = j;
                }
            }
            if (nv >= (int)(sizeof vert / sizeof vert[0])) {
                rc = ml__fail(ML_ESTATE, "%s: rounding walk did not close", name);
                goto done;
            }
        }
        /* Cycle vert[q..nv) back to vert[q]; edge e joins vert[q+e] and the next one. */
        int m = nv - q;
        int64_t cell[2 * SETS + 4];
        int64_t up = INT64_MAX, down = INT64_MAX; /* room on the + cells: up; on -: down */
        int64_t up2 = INT64_MAX, down2 = INT64_MAX;
        for (int e = 0; e < m; e++) {
            int64_t a = vert[q + e], b = vert[q + (e + 1) % m];
            int64_t c = (q + e) % 2 ? a : b, j = (q + e) % 2 ? b : a;
            cell[e] = c * SETS + j;
            int64_t v = w[cell[e]];
            if (e % 2 == 0) {
                up = n - v < up ? n - v : up;
                down2 = v < down2 ? v : down2;
            } else {
                down = v < down ? v : down;
                up2 = n - v < up2 ? n - v : up2;
            }
        }
        int64_t alpha = up < down ? up : down;      /* + cells up, - cells down */
        int64_t beta = down2 < up2 ? down2 : up2;   /* + cells down, - cells up */
        int64_t step = (int64_t)ml_rng_below(r, (uint64_t)(alpha + beta)) < beta ? alpha
                                                                                 : -beta;
        for (int e = 0; e < m; e++) {
            int64_t x = cell[e];
            w[x] += e % 2 == 0 ? step : -step;
            if (w[x] == 0 || w[x] == n) {
                int64_t j = x % SETS;
                out[x] += w[x] == n;
                w[x] = 0;
                int64_t last = list[j * C + --len[j]];
                list[j * C + at[x]] = last;
                at[last * SETS + j] = at[x];
                at[x] = -1;
            }
        }
    }
done:
    free(w);
    free(at);
    free(list);
    return rc;
}

/* ---- folds ------------------------------------------------------------------------------ */

static int check_fold(const ml_split_t *s, int64_t f)
{
    if (!s || s->kind == ML_SPLIT_NONE)
        return ml__fail(ML_EARG, "split: fold of an empty plan");
    if (f < 0 || f >= s->nfolds)
        return FAIL(s->name, "fold %lld outside 1..%lld", (long long)f + 1,
                    (long long)s->nfolds);
    return ML_OK;
}

/* Which groups fold f of a group shuffle tests (mark 2) and trains on (mark 1). */
static int group_pick(const ml_split_t *s, int64_t f, unsigned char *mark)
{
    int64_t G = s->nclasses;
    int64_t *perm = alloc_zero(G, sizeof *perm, s->name);
    if (!perm)
        return ML_ENOMEM;
    ml_rng_t g;
    seed_stream(&g, s->seed, s->name, f);
    iota(perm, G);
    partial_shuffle(&g, perm, G, s->ntest + s->ntrain);
    memset(mark, 0, (size_t)G);
    for (int64_t j = 0; j < s->ntest + s->ntrain; j++)
        mark[perm[j]] = j < s->ntest ? 2 : 1;
    free(perm);
    return ML_OK;
}

int ml_split_fold_sizes(const ml_split_t *s, int64_t f, int64_t *ntrain, int64_t *nval,
                        int64_t *ntest)
{
    int rc = check_fold(s, f);
    if (rc)
        return rc;
    int64_t tr = 0, va = 0, te = 0;
    switch (s->kind) {
    case ML_SPLIT_ASSIGNED:
        te = s->count[f];
        tr = s->n - te;
        break;
    case ML_SPLIT_LEAVE_ONE_OUT:
        te = 1;
        tr = s->n - 1;
        break;
    case ML_SPLIT_LEAVE_P_OUT:
        te = s->k;
        tr = s->n - s->k;
        break;
    case ML_SPLIT_TIME_SERIES: {
        int64_t t0, t1, s0;
        time_fold(s, f, &t0, &t1, &s0);
        tr = t1 - t0;
        te = s->ntest;
        break;
    }
    case ML_SPLIT_SHUFFLE:
    case ML_SPLIT_STRATIFIED:
        tr = s->ntrain;
        va = s->nval;
        te = s->ntest;
        break;
    case ML_SPLIT_GROUP_SHUFFLE: {
        unsigned char *mark = alloc_n(s->nclasses, 1, s->name);
        if (!mark || (rc = group_pick(s, f, mark)) != ML_OK) {
            free(mark);
            return rc ? rc : ML_ENOMEM;
        }
        for (int64_t g = 0; g < s->nclasses; g++) {
            tr += mark[g] == 1 ? s->start[g] : 0;
            te += mark[g] == 2 ? s->start[g] : 0;
        }
        free(mark);
        break;
    }
    case ML_SPLIT_NONE:
        break;
    }
    if (ntrain)
        *ntrain = tr;
    if (nval)
        *nval = va;
    if (ntest)
        *ntest = te;
    return ML_OK;
}

/* Lexicographic combination number f of p rows out of n: walk the rows, taking row v when f
 * falls among the C(m-1, r-1) combinations that contain it (m rows left, r still to take). */
static void lpo_fold(const ml_split_t *s, int64_t f, int64_t *train, int64_t *test)
{
    int64_t m = s->n, r = s->k, b = s->nfolds, rank = f; /* b = C(m, r) */
    int64_t ntr = 0, nte = 0;
    for (int64_t v = 0; v < s->n; v++, m--) {
        if (r == 0) {
            train[ntr++] = v;
            continue;
        }
        int64_t with = b * r / m; /* C(m-1, r-1), exact */
        if (rank < with) {
            test[nte++] = v;
            b = with;
            r--;
        } else {
            train[ntr++] = v;
            rank -= with;
            b -= with; /* C(m-1, r) */
        }
    }
}

static int stratified_fold(const ml_split_t *s, int64_t f, int64_t *train, int64_t *val,
                           int64_t *test)
{
    int64_t C = s->nclasses, n = s->n;
    int64_t *cnt = alloc_n(C, sizeof *cnt, s->name);
    int64_t *table = alloc_n(C * SETS, sizeof *table, s->name);
    int64_t *rows = alloc_n(n, sizeof *rows, s->name);
    int rc = ML_OK;
    if (!cnt || !table || !rows) {
        rc = ML_ENOMEM;
        goto done;
    }
    ml_rng_t g;
    seed_stream(&g, s->seed, s->name, f); /* "stratified_shuffle_split" or "holdout" */
    for (int64_t c = 0; c < C; c++)
        cnt[c] = s->start[c + 1] - s->start[c];
    int64_t size[SETS] = {s->ntrain, s->nval, s->ntest, n - s->ntrain - s->nval - s->ntest};
    if ((rc = round_table(table, cnt, C, size, n, &g, s->name)) != ML_OK)
        goto done;
    memcpy(rows, s->members, (size_t)n * sizeof *rows);
    int64_t *out[3] = {train, val, test}, len[3] = {0, 0, 0};
    for (int64_t c = 0; c < C; c++) {
        int64_t *mine = rows + s->start[c];
        int64_t take = table[c * SETS] + table[c * SETS + 1] + table[c * SETS + 2];
        partial_shuffle(&g, mine, cnt[c], take);
        int64_t p = 0;
        for (int j = 0; j < 3; j++)
            for (int64_t t = 0; t < table[c * SETS + j]; t++)
                out[j][len[j]++] = mine[p++];
    }
    for (int j = 0; j < 3; j++)
        if (out[j])
            partial_shuffle(&g, out[j], len[j], len[j]);
done:
    free(cnt);
    free(table);
    free(rows);
    return rc;
}

int ml_split_fold(const ml_split_t *s, int64_t f, int64_t *train, int64_t *val, int64_t *test)
{
    int64_t ntr, nva, nte;
    int rc = ml_split_fold_sizes(s, f, &ntr, &nva, &nte);
    if (rc)
        return rc;
    if ((ntr > 0 && !train) || (nva > 0 && !val) || (nte > 0 && !test))
        return FAIL(s->name, "fold %lld: a buffer for %lld train, %lld val, %lld test rows "
                    "is NULL", (long long)f + 1, (long long)ntr, (long long)nva,
                    (long long)nte);
    int64_t n = s->n, a = 0, b = 0;
    switch (s->kind) {
    case ML_SPLIT_ASSIGNED: {
        const int32_t *fold = s->fold + (f / s->k) * n;
        int32_t want = (int32_t)(f % s->k);
        for (int64_t i = 0; i < n; i++) {
            if (fold[i] == want)
                test[b++] = i;
            else
                train[a++] = i;
        }
        break;
    }
    case ML_SPLIT_LEAVE_ONE_OUT:
        for (int64_t i = 0; i < n; i++)
            if (i != f)
                train[a++] = i;
        test[0] = f;
        break;
    case ML_SPLIT_LEAVE_P_OUT:
        lpo_fold(s, f, train, test);
        break;
    case ML_SPLIT_TIME_SERIES: {
        int64_t t0, t1, s0;
        time_fold(s, f, &t0, &t1, &s0);
        for (int64_t i = t0; i < t1; i++)
            train[a++] = i;
        for (int64_t i = 0; i < s->ntest; i++)
            test[i] = s0 + i;
        break;
    }
    case ML_SPLIT_SHUFFLE: {
        int64_t used = s->ntest + s->nval + s->ntrain;
        if (!s->shuffle) { /* holdout in row order: train, val, test */
            for (int64_t i = 0; i < s->ntrain; i++)
                train[i] = i;
            for (int64_t i = 0; i < s->nval; i++)
                val[i] = s->ntrain + i;
            for (int64_t i = 0; i < s->ntest; i++)
                test[i] = s->ntrain + s->nval + i;
            break;
        }
        int64_t *perm = alloc_n(n, sizeof *perm, s->name);
        if (!perm)
            return ML_ENOMEM;
        ml_rng_t g;
        seed_stream(&g, s->seed, s->name, f); /* "shuffle_split" or "holdout" */
        iota(perm, n);
        partial_shuffle(&g, perm, n, used);
        memcpy(test, perm, (size_t)s->ntest * sizeof *test);
        if (s->nval)
            memcpy(val, perm + s->ntest, (size_t)s->nval * sizeof *val);
        memcpy(train, perm + s->ntest + s->nval, (size_t)s->ntrain * sizeof *train);
        free(perm);
        break;
    }
    case ML_SPLIT_STRATIFIED:
        return stratified_fold(s, f, train, val, test);
    case ML_SPLIT_GROUP_SHUFFLE: {
        unsigned char *mark = alloc_n(s->nclasses, 1, s->name);
        if (!mark || (rc = group_pick(s, f, mark)) != ML_OK) {
            free(mark);
            return rc ? rc : ML_ENOMEM;
        }
        for (int64_t i = 0; i < n; i++) {
            if (mark[s->code[i]] == 1)
                train[a++] = i;
            else if (mark[s->code[i]] == 2)
                test[b++] = i;
        }
        free(mark);
        break;
    }
    case ML_SPLIT_NONE:
        break;
    }
    return ML_OK;
}

void ml_split_free(ml_split_t *s)
{
    if (!s)
        return;
    free(s->fold);
    free(s->count);
    free(s->code);
    free(s->members);
    free(s->start);
    s->fold = NULL;
    s->count = NULL;
    s->code = NULL;
    s->members = NULL;
    s->start = NULL;
    s->kind = ML_SPLIT_NONE;
    s->nfolds = 0;
}
