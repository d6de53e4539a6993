/* Naive GEMM kept as the oracle the BLIS path is tested against. Accumulates in double so the
 * oracle's own rounding is well below float32's. */
#include "moonlab/kernels.h"

void ml_k_gemm_ref(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa,
                   int64_t csa, const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n,
                   int64_t k, float alpha, float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (double)a[i * rsa + p * csa] * (double)b[p * rsb + j * csb];
            float *cij = c + i * rsc + j * csc;
            *cij = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *cij));
        }
}
