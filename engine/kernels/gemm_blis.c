/* The one place that talks to BLIS. Transposes arrive as strides; BLIS takes general
 * row/column strides directly, so no operand is ever copied here. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <blis.h>
#include <omp.h>

#include "moonlab/kernels.h"

/* BLIS 0.9 picks its kernels from a CPUID table; CPUs newer than the table (AMD Zen 4 and
 * later, with AVX-512) fall back to the unoptimised "generic" kernels, about 4x slower here.
 * Before BLIS initialises, point such CPUs at the Skylake-X kernels, which need exactly the
 * AVX-512 subsets tested below. A valid BLIS_ARCH_TYPE set by the user is left alone. */
static void choose_kernels(void)
{
    /* BLIS aborts the process on an id it does not know: drop such a value instead. */
    const char *user = getenv("BLIS_ARCH_TYPE");
    if (user) {
        char *end;
        long id = strtol(user, &end, 10);
        if (end == user || *end != '\0' || id < 0 || id >= (long)BLIS_NUM_ARCHS)
            unsetenv("BLIS_ARCH_TYPE");
    }
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!getenv("BLIS_ARCH_TYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        char id[16];
        snprintf(id, sizeof id, "%d", (int)BLIS_ARCH_SKX);
        setenv("BLIS_ARCH_TYPE", id, 0);
    }
#endif
    bli_init();
}

static pthread_once_t blis_once = PTHREAD_ONCE_INIT;
#define BLIS_READY() pthread_once(&blis_once, choose_kernels)

/* BLIS rejects strides that make a size-1 dimension look like it overlaps the other; give such
 * dimensions the stride a contiguous layout would have. */
static void tidy_strides(int64_t m, int64_t n, int64_t *rs, int64_t *cs)
{
    if (m == 1 && n == 1) {
        *rs = 1;
        *cs = 1;
    } else if (m == 1) {
        *rs = n * *cs;
    } else if (n == 1) {
        *cs = m * *rs;
    }
}

/* Below this many multiply-adds BLIS's per-call set-up (objects, contexts, checks) costs more
 * than the product: minibatch training of small models makes thousands of such calls. */
#define SMALL_GEMM 8192

/* c = alpha*a@b + beta*c by plain loops in float, for tiny products. */
static void gemm_small(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa,
                       int64_t csa, const float *b, int64_t rsb, int64_t csb, int64_t m,
                       int64_t n, int64_t k, float alpha, float beta)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float acc = 0.0f;
            for (int64_t p = 0; p < k; p++)
                acc += a[i * rsa + p * csa] * b[p * rsb + j * csb];
            float *cij = c + i * rsc + j * csc;
            *cij = alpha * acc + (beta == 0.0f ? 0.0f : beta * *cij);
        }
}

/* GEMM accounting for benchmarks (ml_k_gemm_count): off, it costs one relaxed load a call. */
static atomic_int counting;
static atomic_llong counted_calls, counted_ns;
static _Atomic double counted_flops;

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void gemm_body(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa,
                      int64_t csa, const float *b, int64_t rsb, int64_t csb, int64_t m,
                      int64_t n, int64_t k, float alpha, float beta, rntm_t *rntm);

/* The product on the given BLIS runtime (NULL: the global thread count), counted when on. */
static void gemm(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                 const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                 float alpha, float beta, rntm_t *rntm)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) {
        gemm_body(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, rntm);
        return;
    }
    long long t0 = now_ns();
    gemm_body(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, rntm);
    atomic_fetch_add(&counted_ns, now_ns() - t0);
    atomic_fetch_add(&counted_calls, 1);
    double f = m > 0 && n > 0 && k > 0 ? 2.0 * (double)m * (double)n * (double)k : 0.0;
    double old = atomic_load(&counted_flops);
    while (!atomic_compare_exchange_weak(&counted_flops, &old, old + f))
        ;
}

void ml_k_gemm_count(int on)
{
    if (on) {
        atomic_store(&counted_calls, 0);
        atomic_store(&counted_ns, 0);
        atomic_store(&counted_flops, 0.0);
    }
    atomic_store(&counting, on != 0);
}

void ml_k_gemm_counted(int64_t *calls, double *flops, double *seconds)
{
    *calls = atomic_load(&counted_calls);
    *flops = atomic_load(&counted_flops);
    *seconds = (double)atomic_load(&counted_ns) * 1e-9;
}

static void gemm_body(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                 const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                 float alpha, float beta, rntm_t *rntm)
{
    if (m <= 0 || n <= 0)
        return;
    if (k > 0 && m * n * k <= SMALL_GEMM) {
        gemm_small(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta);
        return;
    }
    BLIS_READY();
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                float *p = c + i * rsc + j * csc;
                *p = beta == 0.0f ? 0.0f : beta * *p;
            }
        return;
    }
    tidy_strides(m, n, &rsc, &csc);
    tidy_strides(m, k, &rsa, &csa);
    tidy_strides(k, n, &rsb, &csb);
    bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)m, (dim_t)n, (dim_t)k, &alpha,
                 (float *)a, (inc_t)rsa, (inc_t)csa, (float *)b, (inc_t)rsb, (inc_t)csb, &beta,
                 c, (inc_t)rsc, (inc_t)csc, NULL, rntm);
}

/* One BLIS thread; with blocked = 1 BLIS's packed algorithm even where it would take its
 * unpacked path for skinny products: its k-blocking is fixed, so an element of C comes out the
 * same bits whichever block of rows or columns the call covers. */
static rntm_t *one_thread(rntm_t *r, int blocked)
{
    bli_rntm_init(r);
    bli_rntm_set_num_threads(1, r);
    if (blocked)
        bli_rntm_disable_l3_sup(r);
    return r;
}

/* Below this many multiply-adds (about 40 us on one core) a product runs on one thread: a
 * second thread saves less than it costs to wake. */
#define THREADED_GEMM (1 << 21)
/* Rows (or columns) of C a thread takes at the least. */
#define MIN_BLOCK 16

/* Several threads split C into blocks of rows (or of columns, when there are more columns),
 * each computed by a one-thread BLIS call, inside one OpenMP region. BLIS's own threading
 * synchronises its threads at busy-wait barriers inside every call: with another job on a
 * core, each of them waits for a thread that is not running, and a study at 2 threads ran 40
 * times slower than at 1 (experiments/birnn_tagging.lua: 512 s against 12.6 s beside a busy
 * compiler). OpenMP's threads wait briefly and then sleep (GOMP_SPINCOUNT, engine/host/main.c).
 * Products of THREADED_GEMM and more take BLIS's packed algorithm at every thread count, so the
 * split never changes the bits; smaller ones run whole on one thread. */
void ml_k_gemm(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
               const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
               float alpha, float beta)
{
    rntm_t r;
    if (m * n * k < THREADED_GEMM) {
        gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 0));
        return;
    }
    const int by_rows = m >= n;
    const int64_t len = by_rows ? m : n;
    int64_t nt = ml_k_get_threads();
    if (nt > len / MIN_BLOCK)
        nt = len / MIN_BLOCK;
    if (nt <= 1) {
        gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 1));
        return;
    }
    _Pragma("omp parallel num_threads((int)nt)")
    {
        const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t lo = len * t / T, hi = len * (t + 1) / T;
        rntm_t rt;
        if (by_rows)
            gemm(c + lo * rsc, rsc, csc, a + lo * rsa, rsa, csa, b, rsb, csb, hi - lo, n, k,
                 alpha, beta, one_thread(&rt, 1));
        else
            gemm(c + lo * csc, rsc, csc, a, rsa, csa, b + lo * csb, rsb, csb, m, hi - lo, k,
                 alpha, beta, one_thread(&rt, 1));
    }
}

void ml_k_gemm1(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                float alpha, float beta)
{
    rntm_t r;
    gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 1));
}

void ml_k_set_threads(int n)
{
    BLIS_READY();
    bli_thread_set_num_threads(n < 1 ? 1 : n);
}

int ml_k_get_threads(void)
{
    BLIS_READY();
    dim_t n = bli_thread_get_num_threads();
    return n < 1 ? 1 : (int)n;
}

const char *ml_k_blis_version(void)
{
    static char buf[96];
    BLIS_READY();
    snprintf(buf, sizeof buf, "%s (%s, %s kernels)", bli_info_get_version_str(), ML_BLIS_VARIANT,
             bli_arch_string(bli_arch_query_id()));
    return buf;
}
