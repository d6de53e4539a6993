/* exp, sigmoid and tanh that the compiler can vectorize (libm's are scalar calls), for the
 * elementwise kernels and the recurrent cells' gate math. Accuracy: expf within 2 ulp of the
 * true value on [-87.3, 88] (Cody-Waite reduction, the degree-6 minimax polynomial of Cephes'
 * expf); sigmoid and tanh within 1.5e-7 absolute, and tanh keeps its relative accuracy near 0
 * through its odd Taylor series there. Inputs outside the range saturate as the functions do. */
#ifndef MOONLAB_VMATH_H
#define MOONLAB_VMATH_H

#include <math.h>
#include <stdint.h>

static inline float ml_vexpf(float x)
{
    x = x < -87.3f ? -87.3f : x; /* selects, not fminf/fmaxf calls: they vectorize */
    x = x > 88.0f ? 88.0f : x;
    float n = rintf(x * 1.44269504088896341f);
    float r = fmaf(n, -0.693359375f, x); /* x - n·ln2 in two parts, exactly */
    r = fmaf(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    /* 2^n through the exponent bits (n in [-126, 128) after the clamp); a union, which C
     * allows for this and the vectorizer handles, where memcpy would stop it. */
    n = n == n ? n : 0.0f; /* NaN: p is NaN already; keep the integer conversion defined */
    union { uint32_t i; float f; } scale = {.i = (uint32_t)((int32_t)n + 127) << 23};
    return p * scale.f;
}

static inline float ml_vsigmoidf(float x)
{
    return 1.0f / (1.0f + ml_vexpf(-x));
}

static inline float ml_vtanhf(float x)
{
    float ax = fabsf(x);
    float e = ml_vexpf(-2.0f * ax);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = x * x; /* |x| < 0.0625: x - x³/3 + 2x⁵/15 - 17x⁷/315, error < 1e-12 */
    float small = x * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f - x2 * 0.0539682540f)));
    return ax < 0.0625f ? small : copysignf(big, x);
}

#endif
