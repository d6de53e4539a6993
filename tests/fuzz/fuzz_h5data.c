/* libFuzzer target: ml_h5data_parse on arbitrary bytes, opened as an in-memory HDF5 file
 * image (HDF5's core driver). A success must give x with 1 to 4 dimensions, y and weights
 * (when present) with x's row count, weights with one dimension, and only finite values; a
 * failure must leave the result empty with a message naming the input. Datasets over 16 MB
 * are refused by the reader's size limit (a tiny file can declare a huge dataset).
 *
 * libhdf5 1.10.8 crashes on some damaged files inside its own parsing (reading through wild
 * addresses from the file; see tests/fuzz/README.md). Those are library bugs we cannot fix, and
 * they would stop every fuzzing run within seconds. So each input is first read in a child
 * process (one that lives until an input crashes it) whose sanitizer report comes back
 * through a pipe: if the child crashes and the
 * faulting frame is inside libhdf5, the input is counted (and saved to the directory named by
 * $MOONLAB_FUZZ_LIBHDF5_DIR, if set) and skipped; if the child survives, the input is read
 * again here, in the fuzzer's own process, where coverage and every check count; a crash
 * anywhere else is reproduced here, so libFuzzer reports it as usual. Without AddressSanitizer
 * (the plain replay build) a child killed by a signal is taken as a library crash: the
 * sanitized builds are where the distinction is made. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moonlab/error.h"
#include "moonlab/h5data.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);
const char *__lsan_default_suppressions(void);

/* libhdf5 asks for gigabytes on some damaged files. The probe ends itself on any allocation over
 * 1 GB (below); libFuzzer's own malloc limit (2 GB by default) would instead write an "oom-"
 * artifact from inside the probe for each one. So the limit is raised past the probe's (our
 * reader's allocations are bounded by spec.max_bytes; the parent only runs inputs the probe
 * survived). libFuzzer reads its flags after this call. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char flag[] = "-malloc_limit_mb=1000000";
    static char *args[256];
    int n = *argc < 250 ? *argc : 250;
    for (int i = 0; i < n; i++)
        args[i] = (*argv)[i];
    args[n] = flag;
    args[n + 1] = NULL;
    *argc = n + 1;
    *argv = args;
    return 0;
}

/* libhdf5 1.10.8 itself leaks a few small blocks on some damaged files (seen: 112 bytes in 2
 * allocations from inside libhdf5_serial.so, our reader having closed every id it opened);
 * LeakSanitizer ignores leaks allocated inside the library. Leaks of our own still count. */
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5_serial.so\n";
}

static const ml_h5data_spec_t spec = {.max_bytes = (size_t)16 << 20};

static int check(const uint8_t *data, size_t size)
{
    ml_h5data_t d;
    if (ml_h5data_parse(&d, data, size, "fuzz.h5", &spec) != ML_OK) {
        if (d.x.data || d.y.data || d.weights.data || d.attrs || d.nattrs ||
            strncmp(ml_errmsg(), "fuzz.h5", 7) != 0)
            abort();
        return 0;
    }
    int64_t n = d.x.shape[0];
    if (d.x.ndim < 1 || d.x.ndim > 4 || !ml_tensor_all_finite(&d.x))
        abort();
    if (d.y.data && (d.y.ndim < 1 || d.y.shape[0] != n || !ml_tensor_all_finite(&d.y)))
        abort();
    if (d.weights.data &&
        (d.weights.ndim != 1 || d.weights.shape[0] != n || !ml_tensor_all_finite(&d.weights)))
        abort();
    for (int i = 0; i < d.nattrs; i++)
        if (!d.attrs[i].name)
            abort();
    ml_h5data_free(&d);
    return 0;
}

#ifdef FUZZ_ASAN
/* The first stack frame of a sanitizer report that is not the C library or the sanitizer's
 * own interceptors: is it inside libhdf5? */
static int faults_in_libhdf5(const char *report)
{
    static const char *const skip[] = {"__interceptor_", "libc.so", "sysdeps", "memcpy",
                                       "memmove", "memset", "strlen", "__asan", "libasan",
                                       "sanitizer", "libclang_rt", " in malloc ",
                                       " in calloc ", " in realloc ", " in free ", "fuzzer::",
                                       NULL};
    for (const char *p = strstr(report, "    #"); p; p = strstr(p + 1, "    #")) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        int skipped = 0;
        for (const char *const *s = skip; *s && !skipped; s++)
            skipped = strstr(line, *s) != NULL;
        if (!skipped)
            return strstr(line, "libhdf5") != NULL;
    }
    return 1; /* no stack at all (a message from libFuzzer's malloc limit): not a report of ours */
}
#endif

static unsigned long library_crashes;

static void report_library_crashes(void)
{
    if (library_crashes)
        fprintf(stderr, "fuzz_h5data: %lu inputs crashed inside libhdf5 (isolated in a child, "
                "not counted as findings)\n", library_crashes);
}

static void save_library_crash(const uint8_t *data, size_t size)
{
    const char *dir = getenv("MOONLAB_FUZZ_LIBHDF5_DIR");
    if (!dir || !dir[0])
        return;
    uint64_t h = 1469598103934665603ull; /* FNV-1a names the file by its content */
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    char path[4096];
    snprintf(path, sizeof path, "%s/libhdf5-crash-%016llx", dir, (unsigned long long)h);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, size, f);
        fclose(f);
    }
}

/* The probe: a child process that reads inputs from a pipe and parses each one, answering a
 * byte per input. It lives until an input crashes it (forking per input would cost ~15 ms). */
static pid_t probe = -1;
static int to_probe = -1, from_probe = -1, probe_report = -1;

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void probe_main(int in, int out)
{
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
        dup2(null, 2);
    signal(SIGABRT, SIG_DFL); /* no fuzzer crash handling (or artifacts) in the probe */
    signal(SIGALRM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
#ifdef FUZZ_ASAN
    __sanitizer_set_death_callback(NULL);
    __sanitizer_set_report_fd((void *)(intptr_t)probe_report);
#endif
    uint64_t n;
    static uint8_t buf[1 << 20];
    while (read_all(in, &n, sizeof n) == 0 && n <= sizeof buf && read_all(in, buf, n) == 0) {
        alarm(2); /* a library hang (seen: 20 s and more) ends as a crash of the probe */
        ml_h5data_t d;
        if (ml_h5data_parse(&d, buf, n, "fuzz.h5", &spec) == ML_OK)
            ml_h5data_free(&d);
        H5garbage_collect();
        alarm(0);
        char ok = 1;
        if (write_all(out, &ok, 1) != 0)
            break;
    }
    _exit(0);
}

static void start_probe(void)
{
    int in[2], out[2], rep[2];
    if (pipe(in) != 0 || pipe(out) != 0 || pipe(rep) != 0)
        abort();
    probe = fork();
    if (probe < 0)
        abort();
    if (probe == 0) {
        close(in[1]);
        close(out[0]);
        close(rep[0]);
        probe_report = rep[1];
        probe_main(in[0], out[1]);
    }
    close(in[0]);
    close(out[1]);
    close(rep[1]);
    to_probe = in[1];
    from_probe = out[0];
    probe_report = rep[0];
}

/* After the probe died: its sanitizer report (if any), its exit status. */
static int reap_probe(char *report, size_t cap, size_t *got)
{
    /* Read to the end even past cap: a probe whose report is longer than the buffer (a long
     * leak report) would otherwise block on the full pipe while we wait for it to exit. */
    ssize_t r;
    char spill[4096];
    *got = 0;
    for (;;) {
        int room = *got + 1 < cap;
        r = room ? read(probe_report, report + *got, cap - 1 - *got)
                 : read(probe_report, spill, sizeof spill);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (room)
            *got += (size_t)r;
    }
    report[*got] = '\0';
    /* It closed its end of the report pipe, so it is exiting; a probe that is somehow still
     * running would otherwise be waited for forever. */
    kill(probe, SIGKILL);
    int status = 0;
    while (waitpid(probe, &status, 0) < 0 && errno == EINTR)
        ;
    close(to_probe);
    close(from_probe);
    close(probe_report);
    probe = -1;
    return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) {
        registered = 1;
        atexit(report_library_crashes);
        signal(SIGPIPE, SIG_IGN);
    }
    if (size > (1 << 20))
        return 0;
    if (probe < 0)
        start_probe();
    uint64_t n = size;
    char ok = 0;
    /* libFuzzer's timeout timer (SIGALRM) interrupts these reads and writes now and then: the
     * helpers go on after EINTR, so only a probe that died counts as dead. */
    int alive = write_all(to_probe, &n, sizeof n) == 0 && write_all(to_probe, data, size) == 0 &&
                read_all(from_probe, &ok, 1) == 0;
    if (!alive) {
        static char report[1 << 16];
        size_t got;
        int status = reap_probe(report, sizeof report, &got);
#ifdef FUZZ_ASAN
        /* Our code fails only through sanitizer reports (it never exits or aborts, and its
         * allocations are bounded by spec.max_bytes); a probe that died without one was
         * stopped by a library hang (SIGALRM) or by libFuzzer's malloc limit inside libhdf5. */
        int library = got ? faults_in_libhdf5(report) : 1;
        (void)status;
#else
        int library = 1;
        (void)status;
#endif
        if (library) {
            library_crashes++;
            save_library_crash(data, size);
            return 0;
        }
        fprintf(stderr, "fuzz_h5data: the probe crashed outside libhdf5:\n%s\n", report);
        check(data, size);
        abort(); /* our own crash did not reproduce here: still a finding */
    }
    int rc = check(data, size);
    /* HDF5 keeps freed blocks on its own free lists; handing them back after every input keeps
     * libFuzzer from seeing a malloc/free imbalance and running a full leak check each time. */
    H5garbage_collect();
    return rc;
}
