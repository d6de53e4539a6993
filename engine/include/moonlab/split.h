/* Cross-validation splits: for every fold, which rows train and which test, as 0-based row
 * numbers. The semantics are scikit-learn's model_selection splitters (KFold, StratifiedKFold,
 * GroupKFold, StratifiedGroupKFold, Repeated*, ShuffleSplit, StratifiedShuffleSplit,
 * GroupShuffleSplit, LeaveOneOut, LeavePOut, LeaveOneGroupOut, TimeSeriesSplit,
 * PredefinedSplit, train_test_split); the deterministic ones give exactly its indices
 * (GroupKFold up to 16 groups; StratifiedGroupKFold but for rounding ties, see there). The
 * random ones draw from ml_rng_t streams derived from one seed per fold or repeat, so a fold
 * depends only on the seed and its number; their indices differ from scikit-learn's (another
 * generator) but follow the same rules.
 *
 * A split is built once (O(N), or O(N log N) where labels must be sorted) into an ml_split_t
 * plan that holds a fold number per row and repeat, or a class or group per row; each fold is
 * then computed on demand in O(N) into caller buffers (ml_split_fold_sizes, ml_split_fold).
 * Nothing here touches the feature matrix.
 *
 * Labels and groups are int64 values of any kind, one per row (class 7 and class -3 are two
 * classes); classes and groups are ordered by value where the order matters (LeaveOneGroupOut
 * takes groups in ascending order, as numpy.unique does). ml_split_encode_f64 and
 * ml_split_encode_str turn doubles or strings into such values with the same order.
 *
 * Every constructor zeroes *s first, validates its arguments and returns ML_OK, or ML_EARG
 * with a message that starts with the splitter's name and names the argument and its value
 * ("kfold: k = 6 folds for 5 samples ..."), or ML_ENOMEM; on failure *s owns nothing. */
#ifndef MOONLAB_SPLIT_H
#define MOONLAB_SPLIT_H

#include <stdint.h>

/* leave_p_out refuses to enumerate more folds than this. */
#define ML_SPLIT_MAX_FOLDS 1000000
/* Rows per split: fold numbers are kept as int32. */
#define ML_SPLIT_MAX_ROWS ((int64_t)INT32_MAX)

typedef enum {
    ML_SPLIT_NONE = 0,
    ML_SPLIT_ASSIGNED,        /* a test fold per row and repeat (k-fold kinds, groups, predefined) */
    ML_SPLIT_LEAVE_ONE_OUT,
    ML_SPLIT_LEAVE_P_OUT,
    ML_SPLIT_TIME_SERIES,
    ML_SPLIT_SHUFFLE,         /* shuffle_split and unstratified holdout */
    ML_SPLIT_STRATIFIED,      /* stratified_shuffle_split and stratified holdout */
    ML_SPLIT_GROUP_SHUFFLE
} ml_split_kind_t;

typedef struct ml_split {
    ml_split_kind_t kind;
    const char *name;      /* the splitter, for messages ("kfold") */
    int64_t n;             /* rows 0..n-1 */
    int64_t nfolds;        /* folds, repeats included */
    int64_t k;             /* ASSIGNED: folds per repeat; LEAVE_P_OUT: p */
    int64_t ntrain, nval, ntest;  /* SHUFFLE, STRATIFIED: set sizes (rows);
                                     GROUP_SHUFFLE: in groups; TIME_SERIES: ntest only */
    int64_t gap, max_train;       /* TIME_SERIES (max_train 0: unbounded) */
    int shuffle;                  /* SHUFFLE: 0 = holdout in row order */
    uint64_t seed;
    int32_t *fold;         /* ASSIGNED (repeats, n): test fold of each row, -1 = never tested */
    int64_t *count;        /* ASSIGNED (nfolds): test rows of each fold */
    int64_t nclasses;      /* STRATIFIED: classes; GROUP_SHUFFLE: groups */
    int64_t *code;         /* GROUP_SHUFFLE (n): group of each row, 0..nclasses-1 */
    int64_t *members;      /* STRATIFIED (n): rows by class, in row order within a class */
    int64_t *start;        /* STRATIFIED (nclasses+1): where each class starts in members;
                              GROUP_SHUFFLE (nclasses): rows of each group */
} ml_split_t;

/* A requested set size: a fraction of the rows in (0, 1) or a count. */
typedef enum { ML_SIZE_NONE = 0, ML_SIZE_FRACTION, ML_SIZE_COUNT } ml_size_kind_t;
typedef struct ml_split_size {
    ml_size_kind_t kind;
    double fraction;
    int64_t count;
} ml_split_size_t;

/* Set sizes of n rows from requested ones, as scikit-learn's train_test_split: a fraction of
 * the test or validation set rounds up, of the train set down (after snapping to an integer
 * within 1e-9, so 0.7 of 10 rows is 7, where scikit-learn takes 8); with neither train nor
 * test given, test is default_test (a fraction); a set not given takes what the others leave
 * (val: none). Fractions must lie in (0, 1) and sum to at most 1, counts in 1..n-1 (val may
 * be 0), their sum at most n, and train and test must not be empty. When fractions that sum to
 * at most 1 overflow n only by rounding, train gives up the rows. `name` prefixes messages,
 * `unit` names what n counts ("samples", "groups"). out = {ntrain, nval, ntest}. */
int ml_split_sizes(int64_t out[3], int64_t n, ml_split_size_t train, ml_split_size_t val,
                   ml_split_size_t test, double default_test, const char *name,
                   const char *unit);

/* Codes 0..C-1 of doubles or strings in ascending order of value (numpy.unique's inverse);
 * *nclasses = C. NaN is ML_EARG naming the row. codes (n) is the caller's. */
int ml_split_encode_f64(int64_t *codes, int64_t *nclasses, const double *v, int64_t n,
                        const char *name);
int ml_split_encode_str(int64_t *codes, int64_t *nclasses, const char *const *v, int64_t n,
                        const char *name);

/* KFold: k folds (2..n), the first n % k one row larger. shuffle: rows are permuted first
 * (stream (seed, "kfold", 0)); unshuffled folds are consecutive rows, exactly scikit-learn's. */
int ml_split_kfold(ml_split_t *s, int64_t n, int64_t k, int shuffle, uint64_t seed);
/* RepeatedKFold: `repeats` shuffled k-folds, repeat r from stream (seed, "kfold", r), so the
 * first k folds equal ml_split_kfold(.., shuffle = 1, seed). Folds are repeat-major. */
int ml_split_repeated_kfold(ml_split_t *s, int64_t n, int64_t k, int64_t repeats,
                            uint64_t seed);
/* StratifiedKFold on labels y (n): each class is dealt to the folds round-robin in sorted
 * order, so each fold holds floor or ceil of its share of every class and fold sizes differ by
 * at most one; unshuffled, each class's rows go to folds 0, 1, ... in row order (exactly
 * scikit-learn's); shuffle permutes, within each class, which rows take which of its fold
 * slots (stream (seed, "stratified_kfold", repeat)). k must not exceed n nor every class's
 * size. */
int ml_split_stratified_kfold(ml_split_t *s, const int64_t *y, int64_t n, int64_t k,
                              int shuffle, uint64_t seed);
int ml_split_repeated_stratified_kfold(ml_split_t *s, const int64_t *y, int64_t n, int64_t k,
                                       int64_t repeats, uint64_t seed);
/* GroupKFold (scikit-learn 1.2): groups by size, largest first (ties: larger group value
 * first, which is scikit-learn's order up to 16 groups), each to the fold with the fewest rows
 * so far (ties: the lower fold). k <= groups. */
int ml_split_group_kfold(ml_split_t *s, const int64_t *groups, int64_t n, int64_t k);
/* StratifiedGroupKFold: groups in order of decreasing spread of their class counts (stable;
 * shuffle: from a random order, stream (seed, "stratified_group_kfold", 0)), each to the fold
 * that minimises the mean over classes of the standard deviation across folds of the class
 * fractions; a fold within numpy.isclose of the best wins if it has fewer rows, and folds
 * whose evaluations agree to 1e-12 are tied (fewer rows, then the lower fold), where
 * scikit-learn lets rounding decide. Unlike scikit-learn, k <= groups. */
int ml_split_stratified_group_kfold(ml_split_t *s, const int64_t *y, const int64_t *groups,
                                    int64_t n, int64_t k, int shuffle, uint64_t seed);
/* ShuffleSplit: per split, a fresh permutation (stream (seed, "shuffle_split", split)); test
 * is its first ntest rows, train the next ntrain (both in that random order). */
int ml_split_shuffle(ml_split_t *s, int64_t n, int64_t splits, int64_t ntrain, int64_t ntest,
                     uint64_t seed);
/* StratifiedShuffleSplit: per split (stream (seed, "stratified_shuffle_split", split)) the
 * class-by-set counts are a controlled rounding of class × set / n (each within one of its
 * exact share, rows and set sizes exact, the rounding random and unbiased), then random rows
 * of each class fill them; train and test come in random order. Every class needs 2 rows;
 * train and test at least one row per class. */
int ml_split_stratified_shuffle(ml_split_t *s, const int64_t *y, int64_t n, int64_t splits,
                                int64_t ntrain, int64_t ntest, uint64_t seed);
/* GroupShuffleSplit: ShuffleSplit over the groups, with sizes in groups (ml_split_sizes over
 * the number of groups, default test 0.2); the sets are the rows of the chosen groups,
 * ascending. */
int ml_split_group_shuffle(ml_split_t *s, const int64_t *groups, int64_t n, int64_t splits,
                           ml_split_size_t train, ml_split_size_t test, uint64_t seed);
/* LeaveOneOut (n >= 2): fold f tests row f. */
int ml_split_leave_one_out(ml_split_t *s, int64_t n);
/* LeavePOut (1 <= p < n): every p-row combination in lexicographic order (itertools order);
 * more than ML_SPLIT_MAX_FOLDS folds is ML_EARG. */
int ml_split_leave_p_out(ml_split_t *s, int64_t n, int64_t p);
/* LeaveOneGroupOut: one fold per group (at least 2), in ascending order of group value. */
int ml_split_leave_one_group_out(ml_split_t *s, const int64_t *groups, int64_t n);
/* TimeSeriesSplit: `splits` folds of test_size rows (0: n / (splits + 1)) ending at the last
 * row; each trains on the rows before its test block less `gap`, the last max_train of them
 * (0: all). Exactly scikit-learn's indices. */
int ml_split_time_series(ml_split_t *s, int64_t n, int64_t splits, int64_t test_size,
                         int64_t gap, int64_t max_train);
/* PredefinedSplit: one fold per distinct value of test_fold other than -1, ascending; rows
 * marked -1 train in every fold. */
int ml_split_predefined(ml_split_t *s, const int64_t *test_fold, int64_t n);
/* train_test_split with a validation set: one fold with train, val and test of the given
 * sizes (ml_split_sizes). shuffle: test is the first ntest rows of a permutation (stream
 * (seed, "holdout", 0)), val the next nval, train the next ntrain; unshuffled: train is the
 * first rows, then val, then test. y (n) or NULL: stratified as ml_split_stratified_shuffle,
 * which needs shuffle. */
int ml_split_holdout(ml_split_t *s, const int64_t *y, int64_t n, int64_t ntrain, int64_t nval,
                     int64_t ntest, int shuffle, uint64_t seed);

/* Sizes of fold f's sets (0 <= f < nfolds); nval is 0 but for holdout. */
int ml_split_fold_sizes(const ml_split_t *s, int64_t f, int64_t *ntrain, int64_t *nval,
                        int64_t *ntest);
/* Write fold f: train (ntrain), val (nval; may be NULL when 0) and test (ntest) rows, 0-based,
 * ascending for the k-fold kinds, leave-out kinds, time series, predefined and group shuffle,
 * in random order for the shuffle kinds. Buffers are the caller's, sized by
 * ml_split_fold_sizes. */
int ml_split_fold(const ml_split_t *s, int64_t f, int64_t *train, int64_t *val, int64_t *test);

/* Release what the plan owns; idempotent, a no-op on a zeroed plan. */
void ml_split_free(ml_split_t *s);

#endif
