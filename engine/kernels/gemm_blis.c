/* The one place that talks to BLIS. Transposes arrive as strides; BLIS takes general
 * row/column strides directly. Large products run BLIS's packed algorithm on its micro-kernel
 * with moonlab's own packing and loop order (gemm_own), bit for bit what BLIS computes. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <blis.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <xmmintrin.h>
#endif
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
    int64_t mr, nr, kc, kc_max;
    int edge; /* edge_tile may stand in for ukr on tiles of fewer than NR rows */
} uk;

static void find_ukernel(void)
{
    cntx_t *cx = bli_gks_query_cntx();
    if (!cx || !bli_cntx_l3_nat_ukr_prefers_cols_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx))
        return;
    uk.mr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_MR, cx);
    uk.nr = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_NR, cx);
    uk.kc = bli_cntx_get_blksz_def_dt(BLIS_FLOAT, BLIS_KC, cx);
    uk.kc_max = bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_KC, cx);
    /* packed panels must be exactly MR (NR) wide, as BLIS's own packing makes them */
    if (uk.mr < 1 || uk.nr < 1 || uk.kc < 1 || uk.kc_max < uk.kc ||
        bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_MR, cx) != uk.mr ||
        bli_cntx_get_blksz_max_dt(BLIS_FLOAT, BLIS_NR, cx) != uk.nr)
        return;
    uk.cntx = cx;
    uk.ukr = (sgemm_ukr_ft)bli_cntx_get_l3_nat_ukr_dt(BLIS_FLOAT, BLIS_GEMM_UKR, cx);
#if defined(__AVX512F__)
    uk.edge = uk.mr == 32 && bli_arch_query_id() == BLIS_ARCH_SKX;
#endif
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
                      int64_t n, int64_t k, float alpha, float beta, rntm_t *rntm, int own);
static int gemm_own(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                    float beta);

/* The product on the given BLIS runtime (NULL: the global thread count), counted when on;
 * own: BLIS's packed algorithm may run as gemm_own (the runtime then has one thread, its
 * small-product path off). */
static void gemm(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                 const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                 float alpha, float beta, rntm_t *rntm, int own)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed)) {
        gemm_body(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, rntm, own);
        return;
    }
    long long t0 = now_ns();
    gemm_body(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, rntm, own);
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
                 float alpha, float beta, rntm_t *rntm, int own)
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
    /* BLIS folds an alpha other than 1 into its packing of one factor: those stay BLIS's */
    if (own && alpha == 1.0f &&
        gemm_own(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, beta) == 0)
        return;
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
        gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 0), 0);
        return;
    }
    const int by_rows = m >= n;
    const int64_t len = by_rows ? m : n;
    int64_t nt = ml_k_get_threads();
    if (nt > len / MIN_BLOCK)
        nt = len / MIN_BLOCK;
    if (nt <= 1) {
        gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 1), 1);
        return;
    }
    _Pragma("omp parallel num_threads((int)nt)")
    {
        const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t lo = len * t / T, hi = len * (t + 1) / T;
        rntm_t rt;
        if (by_rows)
            gemm(c + lo * rsc, rsc, csc, a + lo * rsa, rsa, csa, b, rsb, csb, hi - lo, n, k,
                 alpha, beta, one_thread(&rt, 1), 1);
        else
            gemm(c + lo * csc, rsc, csc, a, rsa, csa, b + lo * csb, rsb, csb, m, hi - lo, k,
                 alpha, beta, one_thread(&rt, 1), 1);
    }
}

void ml_k_gemm1(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                float alpha, float beta)
{
    rntm_t r;
    gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 1), 1);
}

void ml_k_gemm_blis(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                    float alpha, float beta)
{
    rntm_t r;
    gemm(c, rsc, csc, a, rsa, csa, b, rsb, csb, m, n, k, alpha, beta, one_thread(&r, 1), 0);
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

/* The k-block starting at k0 of a sum over k, as BLIS cuts it: KC elements, or all that is
 * left when that is at most KC's maximum. */
static int64_t k_block(int64_t k0, int64_t k)
{
    return k - k0 <= uk.kc_max ? k - k0 : uk.kc;
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
 * dst (K, w): dst[q*w + i]; lines n..w-1 are zeros (the tile's edge). Contiguous lines go
 * four by four through 4x4 transposes, four floats a load and a store. */
static void copy_panel(float *restrict dst, const float *restrict src, int64_t rs, int64_t cs,
                       int64_t k, int64_t w, int64_t n)
{
    int64_t q0 = 0;
#ifdef __SSE2__
    if (rs == 1 && w % 4 == 0) {
        for (; q0 + 4 <= k; q0 += 4)
            for (int64_t i = 0; i < w; i += 4) {
                const float *l = src + i * cs + q0;
                const __m128 z = _mm_setzero_ps();
                __m128 r0 = i < n ? _mm_loadu_ps(l) : z;
                __m128 r1 = i + 1 < n ? _mm_loadu_ps(l + cs) : z;
                __m128 r2 = i + 2 < n ? _mm_loadu_ps(l + 2 * cs) : z;
                __m128 r3 = i + 3 < n ? _mm_loadu_ps(l + 3 * cs) : z;
                _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
                float *d = dst + q0 * w + i;
                _mm_storeu_ps(d, r0);
                _mm_storeu_ps(d + w, r1);
                _mm_storeu_ps(d + 2 * w, r2);
                _mm_storeu_ps(d + 3 * w, r3);
            }
    }
#endif
    for (int64_t i = 0; i < w; i++) {
        float *restrict d = dst + i;
        if (i >= n) {
            for (int64_t q = q0; q < k; q++)
                d[q * w] = 0.0f;
            continue;
        }
        const float *restrict line = src + i * cs;
        for (int64_t q = q0; q < k; q++)
            d[q * w] = line[q * rs];
    }
}

/* The micro-kernel's layout of src (K, N) (element (q, i) at q*sk + i*sn) in dst: panel j holds,
 * for each of the K rows, the w columns j*w.. (zeros past N), one panel after another. A unit
 * sn reads src row by row, in memory order, each row's floats going out w to a panel, and
 * adds each row to sums (N) when given; else each column is read along its own stride. */
#if defined(__GNUC__) && !defined(__clang__)
/* the pieces are 12 to 32 floats: a memcpy call for each (GCC's rewrite of the loop) costs
 * more than the copy */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void pack_panels_sum(float *restrict dst, const float *restrict src, int64_t sk,
                            int64_t sn, int64_t k, int64_t n, int64_t w, float *restrict sums)
{
    if (sn != 1) {
        for (int64_t j0 = 0; j0 < n; j0 += w, dst += k * w)
            copy_panel(dst, src + j0 * sn, sk, sn, k, w, n - j0 < w ? n - j0 : w);
        return;
    }
    const int64_t full = n / w, rest = n % w;
    for (int64_t q = 0; q < k; q++) {
        const float *restrict row = src + q * sk;
        float *restrict d = dst + q * w;
        /* the kernel's two widths as fixed-size copies: a few vector moves each */
        if (w == 12)
            for (int64_t j = 0; j < full; j++, row += w, d += k * w)
                memcpy(d, row, 12 * sizeof(float));
        else if (w == 32)
            for (int64_t j = 0; j < full; j++, row += w, d += k * w)
                memcpy(d, row, 32 * sizeof(float));
        else
            for (int64_t j = 0; j < full; j++, row += w, d += k * w)
                for (int64_t i = 0; i < w; i++)
                    d[i] = row[i];
        if (rest) {
            for (int64_t i = 0; i < rest; i++)
                d[i] = row[i];
            for (int64_t i = rest; i < w; i++)
                d[i] = 0.0f;
        }
        if (sums) {
            row = src + q * sk;
            for (int64_t i = 0; i < n; i++)
                sums[i] += row[i];
        }
    }
}

static void pack_panels(float *restrict dst, const float *restrict src, int64_t sk, int64_t sn,
                        int64_t k, int64_t n, int64_t w)
{
    pack_panels_sum(dst, src, sk, sn, k, n, w, NULL);
}

void ml_k_pack(ml_k_packed_t *p, float *buf, const float *b, int64_t rsb, int64_t csb,
               int64_t k, int64_t n)
{
    BLIS_READY();
    *p = (ml_k_packed_t){.b = b, .rsb = rsb, .csb = csb, .k = k, .n = n};
    if (!uk.ukr || !buf || k <= 0 || n <= 0)
        return;
    /* panel j: for each of the K rows of b, the MR columns j*MR.. (zeros past N) */
    pack_panels(aligned(buf), b, rsb, csb, k, n, uk.mr);
    p->panels = aligned(buf);
}

static void ukr_aux(auxinfo_t *aux)
{
    memset(aux, 0, sizeof *aux);
    bli_auxinfo_set_schema_a(BLIS_PACKED_ROW_PANELS, aux);
    bli_auxinfo_set_schema_b(BLIS_PACKED_COL_PANELS, aux);
    bli_auxinfo_set_is_a(1, aux);
    bli_auxinfo_set_is_b(1, aux);
}

#if defined(__AVX512F__)
/* Rows (1 to 4, a constant once inlined) of one tile: the tile's rows of a (packed, NR apart)
 * against a panel of 32 columns of b. Each element is one chain of fused multiply-adds over
 * k in order from zero, then stored (beta 0) or added to c (beta 1): what BLIS's Skylake-X
 * kernel computes, one accumulator per element, so the same bits. */
static inline __attribute__((always_inline)) void edge_rows(int rows, int64_t cols, int64_t k,
                                                            const float *pb, const float *pa,
                                                            int64_t nr, float beta, float *c,
                                                            int64_t rsc)
{
    __m512 acc[4][2];
    for (int r = 0; r < rows; r++)
        acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t q = 0; q < k; q++) {
        __m512 b0 = _mm512_loadu_ps(pb + q * 32), b1 = _mm512_loadu_ps(pb + q * 32 + 16);
        /* in registers: folded into each multiply-add they would be loaded once per row */
        __asm__("" : "+v"(b0), "+v"(b1));
        for (int r = 0; r < rows; r++) {
            const __m512 a = _mm512_set1_ps(pa[q * nr + r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
    }
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1u);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1u) : 0;
    for (int r = 0; r < rows; r++) {
        float *cr = c + r * rsc;
        if (beta != 0.0f) {
            acc[r][0] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), acc[r][0]);
            acc[r][1] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), acc[r][1]);
        }
        _mm512_mask_storeu_ps(cr, m0, acc[r][0]);
        _mm512_mask_storeu_ps(cr + 16, m1, acc[r][1]);
    }
}

/* A tile of fewer than NR rows, four rows at a time: BLIS's kernel computes a whole NR-row
 * tile for it (the batch of 100 in a recurrent step leaves 4 rows of 12 in its last tile). */
static void edge_tile(int64_t rows, int64_t cols, int64_t k, const float *pb, const float *pa,
                      float beta, float *c, int64_t rsc)
{
    for (int64_t r = 0; r < rows; r += 4)
        switch (rows - r < 4 ? rows - r : 4) {
        case 1: edge_rows(1, cols, k, pb, pa + r, uk.nr, beta, c + r * rsc, rsc); break;
        case 2: edge_rows(2, cols, k, pb, pa + r, uk.nr, beta, c + r * rsc, rsc); break;
        case 3: edge_rows(3, cols, k, pb, pa + r, uk.nr, beta, c + r * rsc, rsc); break;
        default: edge_rows(4, cols, k, pb, pa + r, uk.nr, beta, c + r * rsc, rsc); break;
        }
}
#endif

/* One tile of c (rsc apart, unit column stride): cols <= MR columns from the panel pb of b,
 * rows <= NR rows from the panel pa of a, over kb of the sum. */
static inline void tile(int64_t cols, int64_t rows, int64_t kb, float *pb, float *pa, float *beta,
                        float *c, int64_t rsc, auxinfo_t *aux)
{
    if (uk.edge && rows < uk.nr && (*beta == 0.0f || *beta == 1.0f)) { /* set with AVX-512 only */
#if defined(__AVX512F__)
        edge_tile(rows, cols, kb, pb, pa, *beta, c, rsc);
        return;
#endif
    }
    float one = 1.0f;
    uk.ukr((dim_t)cols, (dim_t)rows, (dim_t)kb, &one, pb, pa, beta, c, 1, (inc_t)rsc, aux, uk.cntx);
}

/* The product as C^T = b^T a^T, whose tiles the kernel stores by columns: b's panels are the
 * kernel's MR side, panels of NR rows of a (copied into scratch) its NR side. Each element is
 * one sequence of fused multiply-adds over k in BLIS's k-blocks, whichever tile holds it. */
static void gemm_packed_body(float *c, int64_t rsc, const float *a, int64_t rsa,
                             const ml_k_packed_t *p, int64_t m, float beta, float *scratch)
{
    const int64_t mr = uk.mr, nr = uk.nr, k = p->k, n = p->n;
    float *pa = aligned(scratch);
    const int64_t ps = row_panel(k);
    auxinfo_t aux;
    ukr_aux(&aux);
    for (int64_t r0 = 0; r0 < m; r0 += nr, pa += ps) {
        const int64_t rows = m - r0 < nr ? m - r0 : nr;
        pack_panels(pa, a + r0 * rsa, 1, rsa, k, rows, nr); /* rows r0.. of a, at stride NR */
        for (int64_t k0 = 0, kb; k0 < k; k0 += kb) {
            kb = k_block(k0, k);
            float bk = k0 == 0 ? beta : 1.0f;
            for (int64_t j0 = 0; j0 < n; j0 += mr) {
                const int64_t cols = n - j0 < mr ? n - j0 : mr;
                float *panel = p->panels + j0 * k + k0 * mr;
                bli_auxinfo_set_next_a(j0 + mr < n ? panel + mr * k : p->panels + k0 * mr, &aux);
                bli_auxinfo_set_next_b(pa + k0 * nr, &aux);
                tile(cols, rows, kb, panel, pa + k0 * nr, &bk, c + r0 * rsc + j0, rsc, &aux);
            }
        }
    }
}

/* Floats of b's block that own_groups keeps laid out at once (in the level-2 cache), and of a's. */
#define OWN_B_FLOATS ((int64_t)64 * 1024)
#define OWN_A_FLOATS ((int64_t)384 * 1024)
/* Floats of scratch ml_k_gemm_at takes at most on several threads (16 MB). */
#define OWN_SHARED_FLOATS ((int64_t)4 * 1024 * 1024)

/* One product of own_groups: c (M, N) += a @ b, c with any strides. */
typedef struct {
    float *c;
    int64_t rsc, csc;
    const float *b;
    int64_t rsb, csb, n;
} group_t;

/* Blocks of own_groups for m rows of a, k, and products of at most n_most columns. */
static void own_blocks(int64_t m, int64_t k, int64_t n_most, int64_t *mc, int64_t *nc)
{
    const int64_t mr = uk.mr, nr = uk.nr, kb_most = k < uk.kc_max ? k : uk.kc_max;
    *nc = OWN_B_FLOATS / kb_most / mr * mr;
    *mc = OWN_A_FLOATS / kb_most / nr * nr;
    *nc = *nc < mr ? mr : *nc > round_up(n_most, mr) ? round_up(n_most, mr) : *nc;
    *mc = *mc < nr ? nr : *mc > round_up(m, nr) ? round_up(m, nr) : *mc;
}

/* Floats of scratch own_groups needs for those sizes. */
static int64_t own_scratch(int64_t m, int64_t k, int64_t n_most)
{
    int64_t mc, nc;
    own_blocks(m, k, n_most, &mc, &nc);
    return (nc + mc) * (k < uk.kc_max ? k : uk.kc_max) + (int64_t)2 * ALIGN_FLOATS;
}

/* BLIS's packed algorithm on the calling thread with alpha 1, on the same micro-kernel with the
 * same k-blocks, so every element comes out the same bits as from bli_sgemm; only the packing
 * and the blocking are moonlab's. For each k-block, a block of a's rows (the kernel's NR side)
 * is laid out, read in memory order; then for each product a block of b's columns (its MR
 * side), and every tile of the two. BLIS reads a's rows (here the long side) NR at a time at a
 * stride: on the recurrent layers' weight gradients (K = T*B) it ran at 64 to 72 GFLOP/s. The
 * products share a's layout (a layer's two weight gradients); with sums (and a's rows, the
 * k side, contiguous: rsa 1) a's column sums over its rows in order are added to it on the way
 * (ml_k_sum_rows's bits). scratch: own_scratch floats. */
static void own_groups(const float *a, int64_t rsa, int64_t csa, int64_t m, int64_t k,
                       const group_t *g, int ng, float beta, float *sums, float *scratch)
{
    const int64_t mr = uk.mr, nr = uk.nr, kb_most = k < uk.kc_max ? k : uk.kc_max;
    int64_t n_most = 0, mc, nc;
    for (int i = 0; i < ng; i++)
        n_most = g[i].n > n_most ? g[i].n : n_most;
    own_blocks(m, k, n_most, &mc, &nc);
    float *pb = aligned(scratch), *pa = aligned(pb + nc * kb_most);
    float one = 1.0f;
    auxinfo_t aux;
    ukr_aux(&aux);
    for (int64_t k0 = 0, kb; k0 < k; k0 += kb) {
        kb = k_block(k0, k);
        float bk = k0 == 0 ? beta : 1.0f;
        for (int64_t i0 = 0; i0 < m; i0 += mc) {
            const int64_t mcb = m - i0 < mc ? m - i0 : mc;
            pack_panels_sum(pa, a + i0 * rsa + k0 * csa, csa, rsa, kb, mcb, nr,
                            sums ? sums + i0 : NULL);
            for (int q = 0; q < ng; q++) {
                const group_t *p = &g[q];
                for (int64_t j0 = 0; j0 < p->n; j0 += nc) {
                    const int64_t ncb = p->n - j0 < nc ? p->n - j0 : nc;
                    pack_panels(pb, p->b + k0 * p->rsb + j0 * p->csb, p->rsb, p->csb, kb, ncb, mr);
                    for (int64_t r = 0; r < mcb; r += nr) {
                        const int64_t rows = mcb - r < nr ? mcb - r : nr;
                        float *pr = pa + r * kb;
                        bli_auxinfo_set_next_b(r + nr < mcb ? pr + nr * kb : pa, &aux);
                        for (int64_t j = 0; j < ncb; j += mr) {
                            const int64_t cols = ncb - j < mr ? ncb - j : mr;
                            float *cij = p->c + (i0 + r) * p->rsc + (j0 + j) * p->csc;
                            bli_auxinfo_set_next_a(pb + (j + mr < ncb ? j + mr : 0) * kb, &aux);
                            if (p->csc == 1)
                                tile(cols, rows, kb, pb + j * kb, pr, &bk, cij, p->rsc, &aux);
                            else
                                uk.ukr((dim_t)cols, (dim_t)rows, (dim_t)kb, &one, pb + j * kb,
                                       pr, &bk, cij, (inc_t)p->csc, (inc_t)p->rsc, &aux,
                                       uk.cntx);
                        }
                    }
                }
            }
        }
    }
}

/* One product on own_groups (c stored by columns: as c^T = b^T a^T, stored by rows). Returns 0,
 * or -1 with nothing written when it cannot run (no usable micro-kernel, no memory). */
static int gemm_own(float *c, int64_t rsc, int64_t csc, const float *a, int64_t rsa, int64_t csa,
                    const float *b, int64_t rsb, int64_t csb, int64_t m, int64_t n, int64_t k,
                    float beta)
{
    if (!uk.ukr)
        return -1;
    group_t g = {.c = c, .rsc = rsc, .csc = csc, .b = b, .rsb = rsb, .csb = csb, .n = n};
    if (rsc == 1 && csc != 1) {
        g = (group_t){.c = c, .rsc = csc, .csc = 1, .b = a, .rsb = csa, .csb = rsa, .n = m};
        a = b;
        rsa = csb;
        csa = rsb;
        m = n;
    }
    float *scratch = malloc((size_t)own_scratch(m, k, g.n) * sizeof(float));
    if (!scratch)
        return -1;
    own_groups(a, rsa, csa, m, k, &g, 1, beta, NULL, scratch);
    free(scratch);
    return 0;
}

/* Global b panel q of gemm_at_shared: its product *i, first column *j0 and width *cols. */
static void b_panel(const int64_t *first, const ml_k_group_t *g, int64_t q, int *i, int64_t *j0,
                    int64_t *cols)
{
    int p = 0;
    while (q >= first[p + 1])
        p++;
    *i = p;
    *j0 = (q - first[p]) * uk.mr;
    *cols = g[p].n - *j0 < uk.mr ? g[p].n - *j0 : uk.mr;
}

/* ml_k_gemm_at on nt threads sharing one layout of each k-block: the threads lay out a share
 * of a's panels (summing their columns) and of b's, wait for each other, then compute a share
 * of the tiles of every product. Split by rows of the products instead, every thread would lay
 * out all of b: with a layer's few gate rows (the RNN's 128) that doubles the copying. The
 * layouts alternate between two buffers, so one wait per k-block suffices: a thread past the
 * wait of block i has finished its tiles of block i-1, the last readers of the buffer block
 * i+1 goes into. pas[] hold a's panels (m rounded up to NR, by the k-block), pbs[] all of the
 * products' b panels. Each tile of c belongs to one thread, and its k-blocks come in order. */
static void gemm_at_shared(const float *a, int64_t lda, int64_t k, int64_t m,
                           const ml_k_group_t *g, int ng, float beta, float *sums,
                           float *const pas[2], float *const pbs[2], int64_t nt)
{
    const int64_t mr = uk.mr, nr = uk.nr, np = (m + nr - 1) / nr;
    int64_t first[5] = {0}; /* the b panels of group i are first[i] .. first[i+1]-1 */
    for (int i = 0; i < ng; i++)
        first[i + 1] = first[i] + (g[i].n + mr - 1) / mr;
    const int64_t nq = first[ng];
    _Pragma("omp parallel num_threads((int)nt)")
    {
        const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        const int64_t p0 = np * t / T, p1 = np * (t + 1) / T, q0 = nq * t / T, q1 = nq * (t + 1) / T;
        const int64_t w0 = np * nq * t / T, w1 = np * nq * (t + 1) / T;
        auxinfo_t aux;
        ukr_aux(&aux);
        for (int64_t k0 = 0, kb, blk = 0; k0 < k; k0 += kb, blk++) {
            kb = k_block(k0, k);
            float bk = k0 == 0 ? beta : 1.0f;
            float *pa = pas[blk & 1], *pb = pbs[blk & 1];
            if (p1 > p0) {
                const int64_t r0 = p0 * nr, rows = (p1 * nr < m ? p1 * nr : m) - r0;
                pack_panels_sum(pa + r0 * kb, a + r0 + k0 * lda, lda, 1, kb, rows, nr,
                                sums ? sums + r0 : NULL);
            }
            for (int64_t q = q0; q < q1; q++) {
                int i;
                int64_t j0, cols;
                b_panel(first, g, q, &i, &j0, &cols);
                pack_panels(pb + q * mr * kb, g[i].b + k0 * g[i].ldb + j0, g[i].ldb, 1, kb, cols, mr);
            }
            _Pragma("omp barrier")
            for (int64_t w = w0; w < w1; w++) {
                const int64_t p = w / nq, q = w % nq, r0 = p * nr;
                const int64_t rows = m - r0 < nr ? m - r0 : nr;
                int i;
                int64_t j0, cols;
                b_panel(first, g, q, &i, &j0, &cols);
                bli_auxinfo_set_next_a(pb + (q + 1 < nq ? q + 1 : 0) * mr * kb, &aux);
                bli_auxinfo_set_next_b(pa + r0 * kb, &aux);
                tile(cols, rows, kb, pb + q * mr * kb, pa + r0 * kb, &bk,
                     g[i].c + r0 * g[i].ldc + j0, g[i].ldc, &aux);
            }
        }
    }
}

/* Products of at most this many elements in all (m times the groups' columns) take
 * gemm_at_split on two threads: below it, a k-block's tiles are too few for gemm_at_shared's
 * wait at every k-block to pay (a vanilla RNN's 128 gate rows, a GRU's 384 by 28 or 128
 * columns); above it, adding the buffered k-blocks costs more than the waits. Its buffers grow
 * with k: past OWN_SHARED_FLOATS (an RNN layer of 128 on 28 inputs: about 150 000 rows) the
 * shared layout, whose memory does not, takes over. */
#define SPLIT_MOST ((int64_t)64 * 1024)

/* Where gemm_at_split splits a sum over k: the start of the k-block nearest the middle, or 0
 * when the sum is one k-block. */
static int64_t split_point(int64_t k)
{
    int64_t best = 0;
    for (int64_t k0 = 0; k0 < k; k0 += k_block(k0, k))
        if (k0 > 0 && (best == 0 || llabs(2 * k0 - k) < llabs(2 * best - k)))
            best = k0;
    return best;
}

/* Floats of gemm_at_split's buffers: each thread's scratch for own_groups, then the products
 * of each k-block past the split point (m times n_sum floats each, group after group); 0 when
 * the sum is one k-block and does not split. */
static int64_t split_floats(int64_t k, int64_t m, int64_t n_sum, int64_t n_most)
{
    const int64_t k1 = split_point(k);
    int64_t blocks = 0;
    for (int64_t k0 = k1; k1 > 0 && k0 < k; k0 += k_block(k0, k))
        blocks++;
    return blocks ? 2 * own_scratch(m, k, n_most) + blocks * m * n_sum : 0;
}

/* ml_k_gemm_at on two threads splitting the sum over k (k at least two k-blocks). The first
 * thread takes the k-blocks before split_point straight into c. The second takes a's column
 * sums over all its rows in order, then each later k-block into a buffer of its own (beta 0:
 * that block's sum alone). Then each of the two adds the buffered blocks, in order, to its half
 * of c's rows. Each element comes out (((beta*c + s_0) + s_1) + ...), s_i the chain of
 * multiply-adds over k-block i: the one-thread order, and so the same bits, with no wait
 * between k-blocks and no laid-out panel read by the other thread. n_most: the widest group's
 * columns; buf: split_floats floats. */
static void gemm_at_split(const float *a, int64_t lda, int64_t k, int64_t m, const group_t *gs,
                          int ng, int64_t n_most, float beta, float *sums, float *buf)
{
    const int64_t k1 = split_point(k), scratch = own_scratch(m, k, n_most);
    float *const parts = buf + 2 * scratch;
    _Pragma("omp parallel num_threads(2)")
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads(); /* 1: both parts */
        if (t == 0)
            own_groups(a, 1, lda, m, k1, gs, ng, beta, NULL, buf);
        if (t == nt - 1) {
            if (sums)
                ml_k_sum_rows1(sums, a, lda, k, m);
            float *part = parts;
            for (int64_t k0 = k1, kb; k0 < k; k0 += kb) {
                kb = k_block(k0, k);
                group_t ps[4];
                for (int i = 0; i < ng; i++) {
                    ps[i] = (group_t){.c = part, .rsc = gs[i].n, .csc = 1,
                                      .b = gs[i].b + k0 * gs[i].rsb, .rsb = gs[i].rsb,
                                      .csb = gs[i].csb, .n = gs[i].n};
                    part += m * gs[i].n;
                }
                own_groups(a + k0 * lda, 1, lda, m, kb, ps, ng, 0.0f, NULL, buf + scratch);
            }
        }
        _Pragma("omp barrier")
        const int64_t r0 = m * t / nt, r1 = m * (t + 1) / nt;
        const float *part = parts;
        for (int64_t k0 = k1; k0 < k; k0 += k_block(k0, k))
            for (int i = 0; i < ng; i++) {
                for (int64_t r = r0; r < r1; r++) /* c + s_i, as the kernel adds a block */
                    ml_k_axpy(gs[i].c + r * gs[i].rsc, part + r * gs[i].n, 1.0f, gs[i].n);
                part += m * gs[i].n;
            }
    }
}

void ml_k_gemm_at(const float *a, int64_t lda, int64_t k, int64_t m, const ml_k_group_t *g,
                  int ng, float beta, float *sums)
{
    BLIS_READY();
    int fused = uk.ukr != NULL && ng >= 1 && ng <= 4 && m > 0 && k > 0;
    int64_t n_most = 0, n_panels = 0, n_sum = 0;
    for (int i = 0; fused && i < ng; i++) {
        fused = g[i].n > 0 && m * g[i].n * k >= THREADED_GEMM;
        n_most = g[i].n > n_most ? g[i].n : n_most;
        n_sum += g[i].n;
        n_panels += (g[i].n + uk.mr - 1) / uk.mr;
    }
    int64_t nt = ml_k_get_threads();
    nt = nt > m / MIN_BLOCK ? m / MIN_BLOCK : nt;
    nt = nt < 1 ? 1 : nt;
    const long long t0 = atomic_load_explicit(&counting, memory_order_relaxed) ? now_ns() : 0;
    const int64_t kbm = k < uk.kc_max ? k : uk.kc_max;
    const int64_t sa = fused ? round_up(m, uk.nr) * kbm : 0, sb = n_panels * uk.mr * kbm;
    float *buf = NULL;
    /* gemm_at_split's buffers, when two threads may take it and it would be quicker */
    const int64_t split = fused && nt == 2 && m * n_sum <= SPLIT_MOST
                              ? split_floats(k, m, n_sum, n_most) : 0;
    group_t gs[4];
    for (int i = 0; fused && i < ng; i++)
        gs[i] = (group_t){.c = g[i].c, .rsc = g[i].ldc, .csc = 1, .b = g[i].b, .rsb = g[i].ldb,
                          .csb = 1, .n = g[i].n};
    if (fused && nt == 1) { /* blocked: bounded scratch, whatever the sizes */
        buf = malloc((size_t)own_scratch(m, k, n_most) * sizeof(float));
        if (buf)
            own_groups(a, 1, lda, m, k, gs, ng, beta, sums, buf);
    } else if (split > 0 && split <= OWN_SHARED_FLOATS) {
        buf = malloc((size_t)split * sizeof(float));
        if (buf)
            gemm_at_split(a, lda, k, m, gs, ng, n_most, beta, sums, buf);
    } else if (fused && 2 * (sa + sb) <= OWN_SHARED_FLOATS) {
        buf = malloc((size_t)(2 * (sa + sb) + (int64_t)4 * ALIGN_FLOATS) * sizeof(float));
        if (buf) {
            float *pas[2], *pbs[2];
            pas[0] = aligned(buf);
            pas[1] = aligned(pas[0] + sa);
            pbs[0] = aligned(pas[1] + sa);
            pbs[1] = aligned(pbs[0] + sb);
            gemm_at_shared(a, lda, k, m, g, ng, beta, sums, pas, pbs, nt);
        }
    }
    if (buf) {
        free(buf);
        if (t0)
            for (int i = 0; i < ng; i++)
                count(i == 0 ? now_ns() - t0 : 0, m, g[i].n, k);
        return;
    }
    /* no micro-kernel, small products, no memory, or a layout too big to share: one by one */
    for (int i = 0; i < ng; i++)
        ml_k_gemm(g[i].c, g[i].ldc, 1, a, 1, lda, g[i].b, g[i].ldb, 1, m, g[i].n, k, 1.0f, beta);
    if (sums)
        ml_k_sum_rows(sums, a, lda, k, m);
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
