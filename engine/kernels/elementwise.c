/* Elementwise and row-wise kernels. Plain loops over contiguous memory written so the compiler
 * vectorizes them (-O3 -march=native); no BLIS here. */
#include <math.h>

#include <omp.h>

#include "moonlab/kernels.h"
#include "vmath.h"

void ml_k_add_bias(float *restrict y, int64_t ldy, const float *restrict bias, int64_t m,
                   int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        float *restrict row = y + i * ldy;
        for (int64_t j = 0; j < n; j++)
            row[j] += bias[j];
    }
}

/* db[j0..j1) += the column sums of dy over its m rows, row after row. */
static void sum_columns(float *restrict db, const float *restrict dy, int64_t lddy, int64_t m,
                        int64_t j0, int64_t j1)
{
    for (int64_t i = 0; i < m; i++) {
        const float *restrict row = dy + i * lddy;
        for (int64_t j = j0; j < j1; j++)
            db[j] += row[j];
    }
}

void ml_k_sum_rows1(float *restrict db, const float *restrict dy, int64_t lddy, int64_t m,
                    int64_t n)
{
    sum_columns(db, dy, lddy, m, 0, n);
}

void ml_k_sum_rows(float *restrict db, const float *restrict dy, int64_t lddy, int64_t m,
                   int64_t n)
{
    /* Threads take blocks of columns: each sum still runs over the rows in order, so the bits
     * do not depend on the thread count. */
    const int nt = m * n >= (1 << 16) && n >= 64 ? ml_k_get_threads() : 1;
    if (nt <= 1) {
        sum_columns(db, dy, lddy, m, 0, n);
        return;
    }
    _Pragma("omp parallel num_threads(nt)")
    {
        const int64_t k = omp_get_num_threads(), t = omp_get_thread_num();
        /* block edges on 16-float (cache line) boundaries */
        const int64_t j0 = n * t / k / 16 * 16, j1 = t + 1 == k ? n : n * (t + 1) / k / 16 * 16;
        sum_columns(db, dy, lddy, m, j0, j1);
    }
}

void ml_k_relu(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ml_k_relu_backward(float *restrict dx, const float *restrict dy, const float *restrict y,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void ml_k_sigmoid(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = ml_vsigmoidf(x[i]);
}

void ml_k_sigmoid_backward(float *restrict dx, const float *restrict dy,
                           const float *restrict y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

void ml_k_tanh(float *restrict y, const float *restrict x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = ml_vtanhf(x[i]);
}

void ml_k_tanh_backward(float *restrict dx, const float *restrict dy, const float *restrict y,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

static float row_max(const float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t j = 0; j < n; j++)
        mx = x[j] > mx ? x[j] : mx;
    return mx;
}

void ml_k_softmax(float *restrict y, const float *restrict x, int64_t m, int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + i * n;
        float *yi = y + i * n;
        float mx = row_max(xi, n);
        float s = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            yi[j] = expf(xi[j] - mx);
            s += yi[j];
        }
        float inv = 1.0f / s;
        for (int64_t j = 0; j < n; j++)
            yi[j] *= inv;
    }
}

void ml_k_softmax_backward(float *restrict dx, const float *restrict dy,
                           const float *restrict y, int64_t m, int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        const float *dyi = dy + i * n, *yi = y + i * n;
        float dot = 0.0f;
        for (int64_t j = 0; j < n; j++)
            dot += dyi[j] * yi[j];
        float *dxi = dx + i * n;
        for (int64_t j = 0; j < n; j++)
            dxi[j] += yi[j] * (dyi[j] - dot);
    }
}

void ml_k_log_softmax(float *restrict y, const float *restrict x, int64_t m, int64_t n)
{
    if (n <= 0) /* no classes: nothing to normalise (and log of an empty sum) */
        return;
    for (int64_t i = 0; i < m; i++) {
        const float *xi = x + i * n;
        float *yi = y + i * n;
        float mx = row_max(xi, n);
        float s = 0.0f;
        for (int64_t j = 0; j < n; j++)
            s += expf(xi[j] - mx);
        /* s >= 1: the row's largest term is exp(0) */
        // cppcheck-suppress invalidFunctionArg
        float lse = mx + logf(s);
        for (int64_t j = 0; j < n; j++)
            yi[j] = xi[j] - lse;
    }
}

void ml_k_log_softmax_backward(float *restrict dx, const float *restrict dy,
                               const float *restrict y, int64_t m, int64_t n)
{
    for (int64_t i = 0; i < m; i++) {
        const float *dyi = dy + i * n, *yi = y + i * n;
        float s = 0.0f;
        for (int64_t j = 0; j < n; j++)
            s += dyi[j];
        float *dxi = dx + i * n;
        for (int64_t j = 0; j < n; j++)
            dxi[j] += dyi[j] - expf(yi[j]) * s;
    }
}

void ml_k_axpy(float *restrict y, const float *restrict x, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += a * x[i];
}

void ml_k_scale(float *y, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] *= a;
}

double ml_k_sumsq(const float *x, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}
