/* Shared helpers for the C suites: central-difference gradient checks, error assertions and
 * test tensors.
 * Include after check.h. */
#ifndef MOONLAB_TEST_GRADCHECK_H
#define MOONLAB_TEST_GRADCHECK_H

#include <stdint.h>
#include <string.h>

#include "check.h"
#include "moonlab/error.h"
#include "moonlab/tensor.h"

/* A scalar objective of whatever the caller perturbs; evaluated in double. */
typedef double (*gc_objective_fn)(void *ctx);

/* d f / d *x by central differences. The perturbed values are float, so the step actually
 * taken, (float)(x+eps) - (float)(x-eps), is used as the denominator rather than 2*eps. */
static inline double gc_central_diff(float *x, double eps, gc_objective_fn f, void *ctx)
{
    float x0 = *x;
    float xp = (float)((double)x0 + eps), xm = (float)((double)x0 - eps);
    *x = xp;
    double fp = f(ctx);
    *x = xm;
    double fm = f(ctx);
    *x = x0;
    return (fp - fm) / ((double)xp - (double)xm);
}

/* Compare analytic[0..n) with central differences over x[0..n) (x is perturbed in place and
 * restored). Every element is one CHECK, labelled `what[i]`. */
static inline void gc_check_array(const char *what, float *x, const float *analytic, int64_t n,
                                  double eps, double atol, double rtol, gc_objective_fn f,
                                  void *ctx)
{
    for (int64_t i = 0; i < n; i++) {
        double num = gc_central_diff(x + i, eps, f, ctx);
        double ana = analytic[i];
        CHECK_MSG(fabs(num - ana) <= atol + rtol * fabs(num),
                  "%s[%lld]: analytic %.9g, numeric %.9g", what, (long long)i, ana, num);
    }
}

/* `expr` must return `code` and leave a message containing every fragment given. The message
 * is cleared first so that a stale one cannot satisfy the check. */
#define CHECK_ERR(expr, code, ...)                                                                 \
    do {                                                                                           \
        ml__fail(ML_OK, "%s", "");                                                                 \
        int rc_ = (expr);                                                                          \
        CHECK_MSG(rc_ == (code), "%s returned %d (%s), expected %d; message: %s", #expr, rc_,      \
                  ml_strerror(rc_), (int)(code), ml_errmsg());                                     \
        const char *frags_[] = {__VA_ARGS__};                                                      \
        for (size_t f_ = 0; f_ < sizeof frags_ / sizeof *frags_; f_++)                             \
            CHECK_MSG(strstr(ml_errmsg(), frags_[f_]) != NULL,                                     \
                      "%s: message \"%s\" does not mention \"%s\"", #expr, ml_errmsg(),            \
                      frags_[f_]);                                                                 \
    } while (0)

/* Zero-filled test tensors of rank 1 and 2 (a failed allocation is a failed check). */
static inline void new1(ml_tensor_t *t, int64_t n)
{
    int64_t shape[1] = {n};
    CHECK(ml_tensor_new(t, 1, shape) == ML_OK);
}

static inline void new2(ml_tensor_t *t, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    CHECK(ml_tensor_new(t, 2, shape) == ML_OK);
}

#endif
