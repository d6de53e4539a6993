/* The vectorizable exp, sigmoid and tanh hold the accuracy their header promises, against
 * libm in double, over a dense grid and at the edges. */
#include <math.h>

#include "check.h"
#include "vmath.h"

static double ulp_err(float got, double want)
{
    double ulp = nextafterf((float)want, INFINITY) - (float)want;
    return fabs(got - want) / ulp;
}

int main(void)
{
    double worst_exp = 0, worst_sig = 0, worst_tanh = 0, worst_tanh_rel = 0;
    for (double x = -87.0; x <= 88.0; x += 0.000731) {
        float xf = (float)x;
        double e = ulp_err(ml_vexpf(xf), exp((double)xf));
        worst_exp = e > worst_exp ? e : worst_exp;
    }
    for (double x = -30.0; x <= 30.0; x += 0.000371) {
        float xf = (float)x;
        double s = fabs(ml_vsigmoidf(xf) - 1.0 / (1.0 + exp(-(double)xf)));
        double t = fabs(ml_vtanhf(xf) - tanh((double)xf));
        worst_sig = s > worst_sig ? s : worst_sig;
        worst_tanh = t > worst_tanh ? t : worst_tanh;
    }
    for (double x = 1e-30; x < 1.0; x *= 1.01) { /* relative accuracy near zero */
        float xf = (float)x;
        double r = fabs(ml_vtanhf(xf) - tanh((double)xf)) / tanh((double)xf);
        double rn = fabs(ml_vtanhf(-xf) + tanh((double)xf)) / tanh((double)xf);
        worst_tanh_rel = r > worst_tanh_rel ? r : worst_tanh_rel;
        worst_tanh_rel = rn > worst_tanh_rel ? rn : worst_tanh_rel;
    }
    CHECK_MSG(worst_exp <= 2.0, "exp: %.3f ulp", worst_exp);
    CHECK_MSG(worst_sig <= 1.5e-7, "sigmoid: %.3g", worst_sig);
    CHECK_MSG(worst_tanh <= 1.5e-7, "tanh: %.3g", worst_tanh);
    CHECK_MSG(worst_tanh_rel <= 1e-6, "tanh relative near 0: %.3g", worst_tanh_rel);
    /* saturation and special values */
    CHECK(ml_vexpf(-1000.0f) >= 0.0f && ml_vexpf(-1000.0f) < 1e-37f);
    CHECK(isfinite(ml_vexpf(1000.0f)));
    CHECK(ml_vsigmoidf(-1000.0f) < 1e-37f && ml_vsigmoidf(1000.0f) == 1.0f);
    CHECK(ml_vtanhf(1000.0f) == 1.0f && ml_vtanhf(-1000.0f) == -1.0f);
    CHECK(ml_vtanhf(0.0f) == 0.0f);
    CHECK(isnan(ml_vtanhf(NAN)) && isnan(ml_vsigmoidf(NAN)));
    printf("worst: exp %.2f ulp, sigmoid %.2g, tanh %.2g abs / %.2g rel near 0\n", worst_exp,
           worst_sig, worst_tanh, worst_tanh_rel);
    return check_report("test_vmath");
}
