/* Minimal test harness for the C suites: CHECK records a failure with file:line and goes on;
 * check_report prints "N passed, N failed" and gives the exit code. */
#ifndef MOONLAB_TEST_CHECK_H
#define MOONLAB_TEST_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            check_passed_++;                                                          \
        } else {                                                                      \
            check_failed_++;                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)

#define CHECK_MSG(cond, ...)                                                \
    do {                                                                    \
        if (cond) {                                                         \
            check_passed_++;                                                \
        } else {                                                            \
            check_failed_++;                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                   \
    do {                                                                                \
        double ca_ = (double)(a), cb_ = (double)(b);                                    \
        CHECK_MSG(fabs(ca_ - cb_) <= (atol) + (rtol) * fabs(cb_), "%s = %.9g, %s = %.9g", \
                  #a, ca_, #b, cb_);                                                     \
    } while (0)

static int check_report(const char *suite)
{
    printf("%s: %d passed, %d failed\n", suite, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
