/* Numeric kernels: outputs first, then inputs, then sizes. Only engine/kernels/ includes
 * blis.h; everything else calls these. Strides are in elements. */
#ifndef MOONLAB_KERNELS_H
#define MOONLAB_KERNELS_H

#include <stdint.h>

/* c (M,N) = alpha * a (M,K) @ b (K,N) + beta * c, general strides, on BLIS. */
void ml_k_gemm(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
               const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
               float alpha, float beta);
/* The same product on one thread, for callers that already run on several (each thread its
 * own rows): always BLIS's packed algorithm, so an element's bits do not depend on how the
 * rows are split among calls (nor on the thread count). Where BLIS's micro-kernel stores
 * tiles by columns and alpha is 1, moonlab drives that kernel itself with BLIS's k-blocks
 * (faster on long sums such as weight gradients over T*B rows): the same bits as BLIS. */
void ml_k_gemm1(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                float alpha, float beta);
/* The same product by bli_sgemm itself (packed, one thread): what ml_k_gemm1 must equal bit
 * for bit, for tests and benchmarks. */
void ml_k_gemm_blis(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                    float alpha, float beta);
/* A right-hand factor b (K,N) laid out once for many one-thread products with different
 * left-hand rows: a recurrent layer's weights over its time steps. BLIS's micro-kernel then
 * runs on it directly, where ml_k_gemm1 would copy b into BLIS's layout at every call. The
 * caller owns the memory: ml_k_pack_size(K, N) floats for the layout, and for each product of
 * M rows ml_k_packed_scratch_size(M, K) floats of scratch (one per concurrent caller). Where
 * the micro-kernel wants row-major tiles (no CPU here has one) the layout stays empty and the
 * products are ml_k_gemm1's. */
typedef struct {
    float *panels;     /* (N/MR panels, K, MR) rounded up; NULL: the ml_k_gemm1 fallback */
    const float *b;    /* the factor as given: it must outlive the products */
    int64_t rsb, csb, k, n;
} ml_k_packed_t;
int64_t ml_k_pack_size(int64_t k, int64_t n);
int64_t ml_k_packed_scratch_size(int64_t m, int64_t k);
/* Lays b (K,N) out in buf (ml_k_pack_size(K, N) floats, any alignment). */
void ml_k_pack(ml_k_packed_t *p, float *buf, const float *b, int64_t rsb, int64_t csb,
               int64_t k, int64_t n);
/* c (M,N) = a (M,K) @ b + beta * c on the calling thread; c and a have unit column stride.
 * Each element of c is the same bits however the rows are split among calls. */
void ml_k_gemm_packed(float *c, int64_t rsc, const float *a, int64_t rsa, const ml_k_packed_t *p,
                      int64_t m, float beta, float *scratch);
/* A product of ml_k_gemm_at: c (M, N) row-major with row stride ldc, b (K, N) with row stride ldb. */
typedef struct {
    float *c;
    int64_t ldc;
    const float *b;
    int64_t ldb, n;
} ml_k_group_t;
/* A layer's weight gradients over all its rows: for each of the ng (at most 4) groups,
 * c = aᵀ @ b + beta * c, where a (K, M) holds the K rows' output gradients (row stride lda);
 * and when sums is not NULL, sums (M) += a's column sums (the bias gradient). Each result is
 * the same bits as from ml_k_gemm and ml_k_sum_rows; a is laid out once for all the products
 * and summed on the way. */
void ml_k_gemm_at(const float *a, int64_t lda, int64_t k, int64_t m, const ml_k_group_t *g,
                  int ng, float beta, float *sums);
/* The same product by three plain loops: a test oracle, never used on a hot path. */
void ml_k_gemm_ref(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa,
                   int64_t csa, const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n,
                   int64_t k, float alpha, float beta);

/* GEMM accounting, for benchmarks: ml_k_gemm_count(1) zeroes the counters and starts counting
 * every ml_k_gemm / ml_k_gemm1 / ml_k_gemm_packed call (its 2*M*N*K FLOPs and its time; calls
 * made at once from several threads add their times), ml_k_gemm_count(0) stops;
 * ml_k_gemm_counted reads them. */
void ml_k_gemm_count(int on);
void ml_k_gemm_counted(int64_t *calls, double *flops, double *seconds);

/* BLIS threads used by ml_k_gemm (>= 1) and the library's version string. */
void ml_k_set_threads(int n);
int ml_k_get_threads(void);
const char *ml_k_blis_version(void);

/* y (M,N) += bias (N) broadcast over rows; y rows contiguous with row stride ldy. */
void ml_k_add_bias(float *y, int64_t ldy, const float *bias, int64_t m, int64_t n);
/* db (N) += sum over rows of dy (M,N), each column's sum over the rows in order (the same bits
 * at every thread count). ml_k_sum_rows1 runs on the calling thread. */
void ml_k_sum_rows(float *db, const float *dy, int64_t lddy, int64_t m, int64_t n);
void ml_k_sum_rows1(float *db, const float *dy, int64_t lddy, int64_t m, int64_t n);

/* Elementwise activations over n contiguous floats. Forward: y = f(x). Backward accumulates
 * dx += dy * f'(.) using the saved forward output y (relu, sigmoid, tanh). */
void ml_k_relu(float *y, const float *x, int64_t n);
void ml_k_relu_backward(float *dx, const float *dy, const float *y, int64_t n);
void ml_k_sigmoid(float *y, const float *x, int64_t n);
void ml_k_sigmoid_backward(float *dx, const float *dy, const float *y, int64_t n);
void ml_k_tanh(float *y, const float *x, int64_t n);
void ml_k_tanh_backward(float *dx, const float *dy, const float *y, int64_t n);

/* Row-wise softmax / log-softmax of x (M,N) into y (M,N), numerically stable. Backward
 * accumulates into dx given dy and the forward output y. */
void ml_k_softmax(float *y, const float *x, int64_t m, int64_t n);
void ml_k_softmax_backward(float *dx, const float *dy, const float *y, int64_t m, int64_t n);
void ml_k_log_softmax(float *y, const float *x, int64_t m, int64_t n);
void ml_k_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t m, int64_t n);

/* y = a*x + y; y *= a; sum of squares (double accumulator). */
void ml_k_axpy(float *y, const float *x, float a, int64_t n);
void ml_k_scale(float *y, float a, int64_t n);
double ml_k_sumsq(const float *x, int64_t n);

#endif
