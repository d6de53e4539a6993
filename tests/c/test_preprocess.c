/* Preprocessing (preprocess.h): moments and ranges over all rows, over a row selection (only
 * those rows count) and over a transposed view, per feature and pooled; the affine map and its
 * inverse; one-hot; sliding windows of (T) and (T, D) series with horizons and steps, over a
 * strided view. Expected values are computed here independently in double. Every error names
 * the argument and value. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/preprocess.h"

static void fill(ml_tensor_t *t, int ndim, const int64_t *shape, const float *v)
{
    CHECK(ml_tensor_new(t, ndim, shape) == ML_OK);
    memcpy(t->data, v, (size_t)ml_tensor_numel(t) * sizeof(float));
}

static void test_fit(void)
{
    /* x (4, 2): rows (1, 10), (2, 20), (3, 60), (6, 10) */
    float v[8] = {1, 10, 2, 20, 3, 60, 6, 10};
    int64_t s[2] = {4, 2};
    ml_tensor_t x, mean, std, lo, hi;
    fill(&x, 2, s, v);
    CHECK(ml_pre_moments(&mean, &std, &x, NULL, 0, 0) == ML_OK);
    CHECK(mean.ndim == 1 && mean.shape[0] == 2);
    CHECK_CLOSE(mean.data[0], 3.0, 1e-6, 0);
    CHECK_CLOSE(mean.data[1], 25.0, 1e-6, 0);
    CHECK_CLOSE(std.data[0], sqrt((4 + 1 + 0 + 9) / 4.0), 1e-6, 1e-6); /* population std */
    CHECK_CLOSE(std.data[1], sqrt((225 + 25 + 1225 + 225) / 4.0), 1e-5, 1e-6);
    ml_tensor_free(&mean);
    ml_tensor_free(&std);

    /* only rows 2 and 4 (0-based 1, 3), the second twice: the others do not count */
    int64_t rows[3] = {1, 3, 3};
    CHECK(ml_pre_moments(&mean, &std, &x, rows, 3, 0) == ML_OK);
    CHECK_CLOSE(mean.data[0], (2 + 6 + 6) / 3.0, 1e-6, 1e-6);
    CHECK_CLOSE(mean.data[1], (20 + 10 + 10) / 3.0, 1e-5, 1e-6);
    double m0 = 14 / 3.0;
    CHECK_CLOSE(std.data[0], sqrt(((2 - m0) * (2 - m0) + 2 * (6 - m0) * (6 - m0)) / 3), 1e-6, 1e-6);
    ml_tensor_free(&mean);
    ml_tensor_free(&std);
    CHECK(ml_pre_range(&lo, &hi, &x, rows, 2, 0) == ML_OK);
    CHECK(lo.data[0] == 2 && hi.data[0] == 6 && lo.data[1] == 10 && hi.data[1] == 20);
    ml_tensor_free(&lo);
    ml_tensor_free(&hi);

    /* pooled over every value; a transposed view (2, 4) reads by its own rows */
    CHECK(ml_pre_moments(&mean, &std, &x, NULL, 0, 1) == ML_OK);
    CHECK(mean.ndim == 1 && mean.shape[0] == 1);
    CHECK_CLOSE(mean.data[0], 112 / 8.0, 1e-6, 1e-6);
    ml_tensor_free(&mean);
    ml_tensor_free(&std);
    ml_tensor_t xt;
    CHECK(ml_tensor_transpose(&xt, &x, 0, 1) == ML_OK);
    CHECK(ml_pre_range(&lo, &hi, &xt, NULL, 0, 0) == ML_OK);
    CHECK(lo.shape[0] == 4 && lo.data[2] == 3 && hi.data[2] == 60 && hi.data[3] == 10);
    ml_tensor_free(&lo);
    ml_tensor_free(&hi);

    /* a constant feature gets std 1 (it maps to 0) */
    float c[4] = {5, 5, 5, 5};
    int64_t s4[1] = {4};
    ml_tensor_t k;
    fill(&k, 1, s4, c);
    CHECK(ml_pre_moments(&mean, &std, &k, NULL, 0, 0) == ML_OK);
    CHECK(mean.data[0] == 5 && std.data[0] == 1);
    ml_tensor_free(&mean);
    ml_tensor_free(&std);

    /* errors */
    int64_t bad[1] = {4};
    CHECK_ERR(ml_pre_moments(&mean, &std, &x, bad, 1, 0), ML_EARG,
              "row 1 of the selection is 5, outside 1..4");
    CHECK_ERR(ml_pre_moments(&mean, &std, &x, rows, 0, 0), ML_EARG, "no values to fit");
    k.data[2] = NAN;
    CHECK_ERR(ml_pre_range(&lo, &hi, &k, NULL, 0, 0), ML_ENAN, "NaN");
    CHECK(!lo.data && !hi.data);
    ml_tensor_free(&k);
    ml_tensor_free(&x);
}

static void test_affine(void)
{
    float v[6] = {1, 10, 2, 20, 3, 60};
    int64_t s[2] = {3, 2}, f[1] = {2};
    ml_tensor_t x, shift, scale, out, back;
    fill(&x, 2, s, v);
    float sh[2] = {2, 30}, sc[2] = {0.5f, 10};
    fill(&shift, 1, f, sh);
    fill(&scale, 1, f, sc);
    CHECK(ml_pre_affine(&out, &x, NULL, 0, &shift, &scale, 2.0, -1.0, 0) == ML_OK);
    int ok = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            ok &= fabsf(out.data[i * 2 + j] - (float)((v[i * 2 + j] - sh[j]) / sc[j] * 2.0 - 1.0)) < 1e-5f;
    CHECK(ok);
    CHECK(ml_pre_affine(&back, &out, NULL, 0, &shift, &scale, 2.0, -1.0, 1) == ML_OK);
    ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= fabsf(back.data[i] - v[i]) < 1e-4f;
    CHECK(ok);
    ml_tensor_free(&out);
    ml_tensor_free(&back);
    /* the rows of a selection, in its order */
    int64_t rows[2] = {2, 0};
    CHECK(ml_pre_affine(&out, &x, rows, 2, &shift, &scale, 1.0, 0.0, 0) == ML_OK);
    CHECK(out.shape[0] == 2 && out.data[0] == 2.0f && out.data[1] == 3.0f && out.data[2] == -2.0f);
    ml_tensor_free(&out);
    /* statistics of another shape, a zero scale */
    int64_t f3[1] = {3};
    ml_tensor_t three;
    CHECK(ml_tensor_new(&three, 1, f3) == ML_OK);
    CHECK_ERR(ml_pre_affine(&out, &x, NULL, 0, &three, &three, 1, 0, 0), ML_ESHAPE,
              "3 values, x has 2 features");
    scale.data[1] = 0;
    CHECK_ERR(ml_pre_affine(&out, &x, NULL, 0, &shift, &scale, 1, 0, 0), ML_EARG, "scale 2 is 0");
    CHECK(!out.data);
    ml_tensor_free(&three);
    ml_tensor_free(&shift);
    ml_tensor_free(&scale);
    ml_tensor_free(&x);
}

static void test_one_hot(void)
{
    float lab[4] = {2, 0, 1, 2};
    int64_t s[2] = {4, 1};
    ml_tensor_t y, out;
    fill(&y, 2, s, lab);
    int64_t c;
    int64_t rows[2] = {1, 2};
    CHECK(ml_pre_label_count(&c, &y, NULL, 0) == ML_OK && c == 3);
    CHECK(ml_pre_label_count(&c, &y, rows, 2) == ML_OK && c == 2); /* the selection's labels */
    CHECK(ml_pre_one_hot(&out, &y, NULL, 0, 3) == ML_OK);
    CHECK(out.shape[0] == 4 && out.shape[1] == 3 && ml_tensor_sum(&out) == 4.0);
    CHECK(out.data[2] == 1 && out.data[3] == 1 && out.data[7] == 1 && out.data[11] == 1);
    ml_tensor_free(&out);
    CHECK_ERR(ml_pre_one_hot(&out, &y, NULL, 0, 2), ML_EARG,
              "label of row 1 is 2, outside the 2 classes 0..1");
    y.data[3] = 1.5f;
    CHECK_ERR(ml_pre_label_count(&c, &y, NULL, 0), ML_EARG, "label of row 4 is 1.5");
    y.data[3] = -1;
    CHECK_ERR(ml_pre_one_hot(&out, &y, NULL, 0, 3), ML_EARG, "row 4 is -1");
    ml_tensor_free(&y);
}

static void test_windows(void)
{
    float v[10];
    for (int i = 0; i < 10; i++)
        v[i] = (float)i;
    int64_t s[1] = {10};
    ml_tensor_t t, x, y;
    fill(&t, 1, s, v);
    /* w 3, k 2, step 2: windows start at 0, 2, 4 (4 + 3 + 2 = 9 <= 10) */
    CHECK(ml_pre_windows(&x, &y, &t, 3, 2, 2) == ML_OK);
    CHECK(x.ndim == 2 && x.shape[0] == 3 && x.shape[1] == 3 && y.shape[1] == 2);
    CHECK(x.data[3] == 2 && x.data[8] == 6 && y.data[0] == 3 && y.data[5] == 8);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    /* k 0: windows only */
    CHECK(ml_pre_windows(&x, &y, &t, 10, 0, 1) == ML_OK && x.shape[0] == 1 && !y.data);
    ml_tensor_free(&x);
    /* (T, D) through a transposed view: series (5, 2) read from a (2, 5) matrix */
    int64_t s25[2] = {2, 5};
    ml_tensor_t m, mt;
    fill(&m, 2, s25, v);
    CHECK(ml_tensor_transpose(&mt, &m, 0, 1) == ML_OK);
    CHECK(ml_pre_windows(&x, &y, &mt, 2, 1, 1) == ML_OK);
    CHECK(x.ndim == 3 && x.shape[0] == 3 && x.shape[1] == 2 && x.shape[2] == 2);
    /* window 2 (start 1): steps 1, 2 = (1, 6), (2, 7); y = step 3 = (3, 8) */
    CHECK(x.data[4] == 1 && x.data[5] == 6 && x.data[6] == 2 && x.data[7] == 7);
    CHECK(y.ndim == 3 && y.data[2] == 3 && y.data[3] == 8);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    CHECK_ERR(ml_pre_windows(&x, &y, &t, 8, 3, 1), ML_EARG, "need at least 11 steps, the series has 10");
    CHECK_ERR(ml_pre_windows(&x, &y, &t, 0, 1, 1), ML_EARG, "window 0");
    CHECK_ERR(ml_pre_windows(&x, &y, &t, 2, 1, 0), ML_EARG, "step 0");
    CHECK(!x.data && !y.data);
    ml_tensor_free(&m);
    ml_tensor_free(&t);
}

int main(void)
{
    test_fit();
    test_affine();
    test_one_hot();
    test_windows();
    return check_report("preprocess");
}
