/* The one place that talks to BLIS. Transposes arrive as strides; BLIS takes general
 * row/column strides directly, so no operand is ever copied here. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>
#include <omp.h>

#include "moonlab/kernels.h"

/* BLIS 0.9 picks its kernels from a CPUID table; CPUs newer than the table (AMD Zen 4 and
 * later, with AVX-512) fall back to the unoptimised "generic" kernels, about 4x slower here.
 * Before BLIS initialises, point such CPUs at the Skylake-X kernels, which need exactly the
 * AVX-512 subsets tested below. A valid BLIS_ARCH_TYPE set by the user is left alone. */
/* The micro-kernel ml_k_gemm_packed drives: its tile (MR, NR), BLIS's k-block, and whether
 * it stores tiles of C by columns (the transposed product then puts the packed factor where
 * the kernel wants its MR side). ukr is NULL when it does not. */
static struct {
    sgemm_ukr_ft ukr;
    cntx_t *cntx;
    int64_t mr, nr, kc;
} uk;

static void find_ukernel(void)
{
    cntx_t *cx = bli_gks_query_cntx();
    if (!cx || !bli_cntx_l3_nat_ukr_prefers_cols_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx))
        return;
    uk.mr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cx);
    uk.nr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cx);
    uk.kc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, cx);
    /* packed panels must be exactly MR (NR) wide, as BLIS's own packing makes them */
    if (uk.mr < 1 || uk.nr < 1 || uk.kc < 1 ||
        bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_MR, cx) != uk.mr ||
        bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_NR, cx) != uk.nr)
        return;
    uk.cntx = cx;
    uk.ukr = (sgemm_ukr_ft)bli_cntx_get_l3_nat_ukr_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx);
}

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
    find_ukernel();
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

static void count(long long ns, int64_t m, int64_t n, int64_t k)
{
    atomic_fetch_add(&counted_ns, ns);
    atomic_fetch_add(&counted_calls, 1);
    double f = m > 0 && n > 0 && k > 0 ? 2.0 * (double)m * (double)n * (double)k : 0.0;
    double old = atomic_load(&counted_flops);
    while (!atomic_compare_exchange_weak(&counted_flops, &old, old + f))
        ;
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
    count(now_ns() - t0, m, n, k);
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

/* Panels start on 64-byte boundaries, as BLIS's own do. */
#define ALIGN_FLOATS 16

static int64_t round_up(int64_t x, int64_t to)
{
    return (x + to - 1) / to * to;
}

static float *aligned(float *buf)
{
    return buf + ((64 - (uintptr_t)buf % 64) % 64) / sizeof *buf;
}

int64_t ml_k_pack_size(int64_t k, int64_t n)
{
    BLIS_READY();
    if (!uk.ukr)
        return 0;
    return round_up(n, uk.mr) * k + ALIGN_FLOATS;
}

/* Floats between two of the scratch's panels of NR left-hand rows. */
static int64_t row_panel(int64_t k)
{
    return round_up(k * uk.nr, ALIGN_FLOATS);
}

int64_t ml_k_packed_scratch_size(int64_t m, int64_t k)
{
    BLIS_READY();
    if (!uk.ukr)
        return 0;
    return (m + uk.nr - 1) / uk.nr * row_panel(k) + ALIGN_FLOATS;
}

/* One panel: lines 0..n-1 of src (line i at src + i*cs, its element q at q*rs) spread over
 * dst (K, w): dst[q*w + i]; lines n..w-1 are zeros (the tile's edge). */
static void copy_panel(float *restrict dst, const float *restrict src, int64_t rs, int64_t cs,
                       int64_t k, int64_t w, int64_t n)
{
    for (int64_t i = 0; i < w; i++) {
        float *restrict d = dst + i;
        if (i >= n) {
            for (int64_t q = 0; q < k; q++)
                d[q * w] = 0.0f;
            continue;
        }
        const float *restrict line = src + i * cs;
        for (int64_t q = 0; q < k; q++)
            d[q * w] = line[q * rs];
    }
}

void ml_k_pack(ml_k_packed_t *p, float *buf, const float *b, int64_t rsb, int64_t csb,
               int64_t k, int64_t n)
{
    BLIS_READY();
    *p = (ml_k_packed_t){.b = b, .rsb = rsb, .csb = csb, .k = k, .n = n};
    if (!uk.ukr || !buf || k <= 0 || n <= 0)
        return;
    /* panel j: for each of the K rows of b, the MR columns j*MR.. (zeros past N) */
    const int64_t mr = uk.mr;
    float *dst = aligned(buf);
    for (int64_t j0 = 0; j0 < n; j0 += mr, dst += k * mr) {
        const int64_t cols = n - j0 < mr ? n - j0 : mr;
        if (csb == 1) { /* b's rows are contiguous: copy MR of them at a time, in order */
            for (int64_t q = 0; q < k; q++) {
                float *restrict d = dst + q * mr;
                const float *restrict src = b + q * rsb + j0;
                for (int64_t i = 0; i < cols; i++)
                    d[i] = src[i];
                for (int64_t i = cols; i < mr; i++)
                    d[i] = 0.0f;
            }
            continue;
        }
        copy_panel(dst, b + j0 * csb, rsb, csb, k, mr, cols); /* else along b's columns */
    }
    p->panels = aligned(buf);
}

/* The product as C^T = b^T a^T, whose tiles the kernel stores by columns: b's panels are the
 * kernel's MR side, panels of NR rows of a (copied into scratch) its NR side. Each element is
 * one sequence of fused multiply-adds over k in BLIS's k-blocks, whichever tile holds it. */
static void gemm_packed_body(float *c, int64_t rsc, const float *a, int64_t rsa,
                             const ml_k_packed_t *p, int64_t m, float beta, float *scratch)
{
    const int64_t mr = uk.mr, nr = uk.nr, k = p->k, n = p->n, kc = uk.kc;
    float *pa = aligned(scratch);
    const int64_t ps = row_panel(k);
    float one = 1.0f;
    auxinfo_t aux;
    memset(&aux, 0, sizeof aux);
    bli_auxinfo_set_schema_a(BLIS_PACKED_ROW_PANELS, &aux);
    bli_auxinfo_set_schema_b(BLIS_PACKED_COL_PANELS, &aux);
    bli_auxinfo_set_is_a(1, &aux);
    bli_auxinfo_set_is_b(1, &aux);
    for (int64_t r0 = 0; r0 < m; r0 += nr, pa += ps) {
        const int64_t rows = m - r0 < nr ? m - r0 : nr;
        copy_panel(pa, a + r0 * rsa, 1, rsa, k, nr, rows); /* rows r0.. of a, spread at stride NR */
        for (int64_t k0 = 0; k0 < k; k0 += kc) {
            const int64_t kb = k - k0 < kc ? k - k0 : kc;
            float bk = k0 == 0 ? beta : 1.0f;
            for (int64_t j0 = 0; j0 < n; j0 += mr) {
                const int64_t cols = n - j0 < mr ? n - j0 : mr;
                float *panel = p->panels + j0 * k + k0 * mr;
                bli_auxinfo_set_next_a(j0 + mr < n ? panel + mr * k : p->panels + k0 * mr, &aux);
                bli_auxinfo_set_next_b(pa + k0 * nr, &aux);
                uk.ukr((dim_t)cols, (dim_t)rows, (dim_t)kb, &one, panel, pa + k0 * nr, &bk,
                       c + r0 * rsc + j0, 1, (inc_t)rsc, &aux, uk.cntx);
            }
        }
    }
}

void ml_k_gemm_packed(float *c, int64_t rsc, const float *a, int64_t rsa, const ml_k_packed_t *p,
                      int64_t m, float beta, float *scratch)
{
    if (!p->panels || !scratch) {
        ml_k_gemm1(c, rsc, 1, a, rsa, 1, p->b, p->rsb, p->csb, m, p->n, p->k, 1.0f, beta);
        return;
    }
    if (m <= 0 || p->n <= 0)
        return;
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) {
        gemm_packed_body(c, rsc, a, rsa, p, m, beta, scratch);
        return;
    }
    long long t0 = now_ns();
    gemm_packed_body(c, rsc, a, rsa, p, m, beta, scratch);
    count(now_ns() - t0, m, p->n, p->k);
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
