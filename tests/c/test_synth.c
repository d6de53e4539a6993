/* Synthetic sequence data (synth.h): each generator's defining property checked on what it
 * draws (exact sine values, the AR recursion, two markers per adding sequence and the sum of
 * their values, the copy task's layout, tags that follow the next-word rule), the same seed
 * giving the same tensors and another seed others, and the tagging task's best left-to-right
 * accuracy against a brute-force enumeration of every sentence. Bad arguments are errors
 * naming them. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gradcheck.h"
#include "moonlab/error.h"
#include "moonlab/synth.h"

static int same(const ml_tensor_t *a, const ml_tensor_t *b)
{
    int64_t n = ml_tensor_numel(a);
    return n == ml_tensor_numel(b) && memcmp(a->data, b->data, (size_t)n * sizeof(float)) == 0;
}

static void test_series(void)
{
    ml_tensor_t s, s2;
    CHECK(ml_synth_sine(&s, 50, 0.3, 0.5, 2.0, 0.0, 1) == ML_OK);
    CHECK(s.ndim == 2 && s.shape[0] == 50 && s.shape[1] == 1);
    int ok = 1;
    for (int t = 0; t < 50; t++)
        ok &= fabsf(s.data[t] - (float)(2.0 * sin(0.3 * (t + 1) + 0.5))) < 1e-6f;
    CHECK(ok);
    ml_tensor_free(&s);
    CHECK(ml_synth_sine(&s, 1000, 0.01, 0, 1, 0.2, 7) == ML_OK);
    CHECK(ml_synth_sine(&s2, 1000, 0.01, 0, 1, 0.2, 7) == ML_OK);
    CHECK(same(&s, &s2));
    double r = 0, r2 = 0;
    for (int t = 0; t < 1000; t++) {
        double e = s.data[t] - sin(0.01 * (t + 1));
        r += e;
        r2 += e * e;
    }
    CHECK(fabs(r / 1000) < 0.03 && fabs(sqrt(r2 / 1000) - 0.2) < 0.02); /* N(0, 0.2^2) noise */
    ml_tensor_free(&s2);
    CHECK(ml_synth_sine(&s2, 1000, 0.01, 0, 1, 0.2, 8) == ML_OK && !same(&s, &s2));
    ml_tensor_free(&s);
    ml_tensor_free(&s2);
    CHECK_ERR(ml_synth_sine(&s, 0, 1, 0, 1, 0, 1), ML_EARG, "n = 0");
    CHECK_ERR(ml_synth_sine(&s, 5, 1, 0, 1, -1, 1), ML_EARG, "noise -1");

    /* AR: without noise, the recursion from zeros; with it, the residuals are the noise */
    double phi[2] = {0.5, -0.25};
    CHECK(ml_synth_ar(&s, 6, phi, 2, 1.0, 0.0, 0, 1) == ML_OK);
    double x[8] = {0};
    ok = 1;
    for (int t = 0; t < 6; t++) {
        x[t + 2] = 1.0 + 0.5 * x[t + 1] - 0.25 * x[t];
        ok &= fabsf(s.data[t] - (float)x[t + 2]) < 1e-6f;
    }
    CHECK(ok);
    ml_tensor_free(&s);
    CHECK(ml_synth_ar(&s, 5000, phi, 2, 0.0, 0.5, 100, 3) == ML_OK);
    r = r2 = 0;
    for (int t = 2; t < 5000; t++) {
        double e = s.data[t] - 0.5 * s.data[t - 1] + 0.25 * s.data[t - 2];
        r += e;
        r2 += e * e;
    }
    CHECK(fabs(r / 4998) < 0.03 && fabs(sqrt(r2 / 4998) - 0.5) < 0.02);
    ml_tensor_free(&s);
    double wild[1] = {1.5};
    CHECK_ERR(ml_synth_ar(&s, 500, wild, 1, 0, 1, 0, 1), ML_ENAN, "exceeds 1e30", "stationary");
    CHECK(!s.data);
    CHECK_ERR(ml_synth_ar(&s, 5, phi, 0, 0, 1, 0, 1), ML_EARG, "p = 0");
}

static void test_adding_copy(void)
{
    ml_tensor_t x, y, x2, y2;
    CHECK(ml_synth_adding(&x, &y, 200, 9, 5) == ML_OK);
    CHECK(x.ndim == 3 && x.shape[1] == 9 && x.shape[2] == 2 && y.shape[1] == 1);
    int ok = 1;
    for (int i = 0; i < 200; i++) {
        const float *row = x.data + i * 18;
        int marks = 0, first = -1, second = -1;
        double sum = 0;
        for (int t = 0; t < 9; t++) {
            ok &= row[2 * t] >= 0 && row[2 * t] < 1;
            ok &= row[2 * t + 1] == 0 || row[2 * t + 1] == 1;
            if (row[2 * t + 1] == 1) {
                marks++;
                sum += row[2 * t];
                if (first < 0)
                    first = t;
                else
                    second = t;
            }
        }
        ok &= marks == 2 && first < 5 && second >= 5 && fabsf(y.data[i] - (float)sum) < 1e-6f;
    }
    CHECK(ok);
    CHECK(ml_synth_adding(&x2, &y2, 200, 9, 5) == ML_OK && same(&x, &x2) && same(&y, &y2));
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    ml_tensor_free(&x2);
    ml_tensor_free(&y2);
    CHECK_ERR(ml_synth_adding(&x, &y, 3, 1, 5), ML_EARG, "t = 1");

    CHECK(ml_synth_copy(&x, &y, 50, 6, 4, 3, 9) == ML_OK);
    CHECK(x.shape[0] == 50 && x.shape[1] == 14 && y.shape[1] == 14);
    ok = 1;
    for (int i = 0; i < 50; i++) {
        const float *xi = x.data + i * 14, *yi = y.data + i * 14;
        for (int s = 0; s < 14; s++) {
            if (s < 4)
                ok &= xi[s] >= 1 && xi[s] <= 3 && yi[10 + s] == xi[s] && yi[s] == 0;
            else if (s == 9)
                ok &= xi[s] == 4; /* the delimiter: symbols + 1, after t - 1 = 5 blanks */
            else
                ok &= xi[s] == 0;
            if (s >= 4 && s < 10)
                ok &= yi[s] == 0;
        }
    }
    CHECK(ok);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    CHECK_ERR(ml_synth_copy(&x, &y, 5, 0, 4, 3, 9), ML_EARG, "t = 0");
}

/* The best left-to-right accuracy by brute force: every sentence of t words with its
 * probability; at each position the best guess from the words so far is the likelier tag. */
static double brute_force_best(const ml_tagging_t *o, int t)
{
    int v = o->vocab, rest = v - o->ambiguous;
    int total = 1;
    for (int i = 0; i < t; i++)
        total *= v;
    static double mass[4][4096][2]; /* [position][prefix id][tag] */
    memset(mass, 0, sizeof mass);
    for (int code = 0; code < total; code++) {
        int w[4];
        double p = 1;
        for (int i = 0, c = code; i < t; i++, c /= v) {
            w[i] = c % v;
            p *= w[i] < o->ambiguous ? o->p_ambiguous / o->ambiguous
                                     : (1 - o->p_ambiguous) / rest;
        }
        int prefix = 0;
        for (int i = 0; i < t; i++) {
            prefix = prefix * v + w[i];
            int name = w[i] >= o->ambiguous && w[i] < o->ambiguous + o->names;
            int tag = name;
            if (w[i] < o->ambiguous)
                tag = i + 1 < t && w[i + 1] >= o->ambiguous && w[i + 1] < o->ambiguous + o->names;
            mass[i][prefix][tag] += p;
        }
    }
    double right = 0;
    for (int i = 0; i < t; i++)
        for (int pfx = 0; pfx < 4096; pfx++)
            right += fmax(mass[i][pfx][0], mass[i][pfx][1]);
    return right / t;
}

static void test_tagging(void)
{
    ml_tagging_t o = {.vocab = 10, .ambiguous = 2, .names = 4, .p_ambiguous = 0.3};
    ml_tensor_t x, y;
    double best, sample;
    CHECK(ml_synth_tagging(&x, &y, 4000, 8, &o, 11, &best, &sample) == ML_OK);
    CHECK(x.shape[0] == 4000 && x.shape[1] == 8 && y.shape[1] == 8);
    int ok = 1;
    long amb = 0, right = 0, n = 4000L * 8;
    double q = 0.7 * 4 / 8; /* 0.35: an ambiguous word is best tagged 0 */
    for (long i = 0; i < n; i++) {
        int w = (int)x.data[i], s = (int)(i % 8);
        int name = w >= 2 && w < 6;
        int want = name;
        if (w < 2) {
            amb++;
            want = s < 7 && x.data[i + 1] >= 2 && x.data[i + 1] < 6;
            right += s == 7 || want == 0;
        } else {
            right++;
        }
        ok &= w >= 0 && w < 10 && y.data[i] == (float)want;
    }
    CHECK(ok);
    CHECK(fabs((double)amb / n - 0.3) < 0.01);
    CHECK_CLOSE(best, 1 - 7.0 / 8 * 0.3 * q, 1e-12, 0);
    CHECK_CLOSE(sample, (double)right / n, 1e-12, 0);
    CHECK(fabs(sample - best) < 0.01);
    ml_tensor_free(&x);
    ml_tensor_free(&y);
    /* the formula against every sentence, including a case where "name" is the better guess */
    ml_tagging_t small[3] = {{4, 1, 1, 0.4}, {5, 2, 2, 0.5}, {4, 1, 2, 0.2}};
    for (int k = 0; k < 3; k++) {
        CHECK(ml_synth_tagging(&x, &y, 1, 3, &small[k], 1, &best, &sample) == ML_OK);
        CHECK_CLOSE(best, brute_force_best(&small[k], 3), 1e-12, 0);
        ml_tensor_free(&x);
        ml_tensor_free(&y);
    }
    ml_tagging_t bad = {.vocab = 3, .ambiguous = 2, .names = 1, .p_ambiguous = 0.3};
    CHECK_ERR(ml_synth_tagging(&x, &y, 5, 4, &bad, 1, &best, &sample), ML_EARG, "vocab 3");
    bad = (ml_tagging_t){.vocab = 10, .ambiguous = 2, .names = 4, .p_ambiguous = 1.0};
    CHECK_ERR(ml_synth_tagging(&x, &y, 5, 4, &bad, 1, &best, &sample), ML_EARG,
              "p_ambiguous = 1");
}

int main(void)
{
    test_series();
    test_adding_copy();
    test_tagging();
    return check_report("synth");
}
