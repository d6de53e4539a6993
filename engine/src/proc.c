/* Processes and files for the study runner and the queue (see moonlab/proc.h). Workers are
 * started with posix_spawn, which is safe in a process that already runs BLIS/OpenMP threads. */
#define _GNU_SOURCE /* NOLINT(bugprone-reserved-identifier): pipe2, posix_spawn_file_actions_addchdir_np */
#include "moonlab/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "moonlab/error.h"

extern char **environ;

static volatile sig_atomic_t caught_signal = 0;

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void close_pair(int *fds)
{
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    fds[0] = fds[1] = -1;
}

int ml_proc_spawn(ml_proc_t *p, const char *const *argv, int pipes, const char *log)
{
    return ml_proc_spawn_in(p, argv, pipes, log, NULL);
}

int ml_proc_spawn_in(ml_proc_t *p, const char *const *argv, int pipes, const char *log,
                     const char *dir)
{
    int in[2] = {-1, -1}, msg[2] = {-1, -1}, logfd = -1, rc;
    p->pid = -1;
    p->to_child = p->from_child = -1;
    if (!argv || !argv[0])
        return ml__fail(ML_EARG, "spawn: no program given");
    /* posix_spawn reports a failed chdir only as the program's error, and not at all where its
     * vfork is a plain fork (valgrind): the child would just exit 127 */
    if (dir && access(dir, X_OK) != 0)
        return ml__fail(ML_EIO, "spawn %s: cannot enter directory '%s': %s", argv[0], dir,
                        strerror(errno));
    if (pipes && (pipe2(in, O_CLOEXEC) != 0 || pipe2(msg, O_CLOEXEC) != 0)) {
        rc = ml__fail(ML_EIO, "spawn %s: cannot create pipes: %s", argv[0], strerror(errno));
        close_pair(in);
        close_pair(msg);
        return rc;
    }
    if (log) {
        logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (logfd < 0) {
            rc = ml__fail(ML_EIO, "spawn %s: cannot open log '%s': %s", argv[0], log,
                          strerror(errno));
            close_pair(in);
            close_pair(msg);
            return rc;
        }
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (pipes) {
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, msg[1], 3);
    }
    if (logfd >= 0) {
        posix_spawn_file_actions_adddup2(&fa, logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, logfd, 2);
    }
    if (dir)
        posix_spawn_file_actions_addchdir_np(&fa, dir);
    /* The child starts with default signal handling even if this process catches SIGINT, and
     * in its own process group, so a kill of the group reaches its threads' children too. */
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid;
    int err = posix_spawn(&pid, argv[0], &fa, &at, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (logfd >= 0)
        close(logfd);
    if (err != 0) {
        close_pair(in);
        close_pair(msg);
        return ml__fail(ML_EIO, "spawn %s: %s", argv[0], strerror(err));
    }
    p->pid = pid;
    if (pipes) {
        close(in[0]);
        close(msg[1]);
        p->to_child = in[1];
        p->from_child = msg[0];
        set_nonblocking(p->from_child);
    }
    return ML_OK;
}

int ml_proc_wait(pid_t pid, int block, ml_proc_status_t *st)
{
    int status = 0;
    pid_t r;
    st->state = 0;
    st->code = 0;
    do {
        r = waitpid(pid, &status, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return ml__fail(ML_ESTATE, "wait for process %d: %s", (int)pid, strerror(errno));
    if (r == 0)
        return ML_OK;
    if (WIFEXITED(status)) {
        st->state = 1;
        st->code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        st->state = 2;
        st->code = WTERMSIG(status);
    }
    return ML_OK;
}

int ml_proc_alive(pid_t pid)
{
    if (pid <= 0)
        return 0;
    if (kill(pid, 0) != 0 && errno != EPERM)
        return 0;
    /* A killed process whose parent has not reaped it yet (an orphan in a container whose
     * init does not reap) still answers kill(); it is dead all the same. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *end = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    return !(end && end[1] == ' ' && (end[2] == 'Z' || end[2] == 'X'));
}

int ml_proc_poll(const int *fds, int n, int timeout_ms, int *ready)
{
    struct pollfd pf[64];
    if (n < 0 || n > 64)
        return ml__fail(ML_EARG, "poll: %d descriptors (at most 64)", n);
    for (int i = 0; i < n; i++) {
        pf[i].fd = fds[i];
        pf[i].events = POLLIN;
        pf[i].revents = 0;
        ready[i] = 0;
    }
    int r = poll(pf, (nfds_t)n, timeout_ms);
    if (r < 0)
        return errno == EINTR ? 0 : -ml__fail(ML_EIO, "poll: %s", strerror(errno));
    for (int i = 0; i < n; i++)
        ready[i] = (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    return r;
}

int64_t ml_proc_read(int fd, char *buf, int64_t cap)
{
    for (;;) {
        ssize_t r = read(fd, buf, (size_t)cap);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        return -1;
    }
}

int ml_proc_write(int fd, const char *buf, int64_t n)
{
    signal(SIGPIPE, SIG_IGN);
    while (n > 0) {
        ssize_t w = write(fd, buf, (size_t)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT, .revents = 0};
                poll(&pf, 1, 100);
                continue;
            }
            return ml__fail(ML_EIO, "write to descriptor %d: %s", fd, strerror(errno));
        }
        buf += w;
        n -= w;
    }
    return ML_OK;
}

static void on_signal(int sig)
{
    caught_signal = sig;
}

void ml_proc_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int ml_proc_interrupted(void)
{
    return (int)caught_signal;
}

int ml_proc_kill(pid_t pid, int sig, int group)
{
    if (pid <= 0)
        return ml__fail(ML_EARG, "kill: bad pid %d", (int)pid);
    if (kill(group ? -pid : pid, sig) != 0 && errno != ESRCH)
        return ml__fail(ML_EIO, "kill %d: %s", (int)pid, strerror(errno));
    return ML_OK;
}

int ml_proc_redirect_output(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return ml__fail(ML_EIO, "cannot open log '%s': %s", path, strerror(errno));
    fflush(stdout);
    fflush(stderr);
    int rc = (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) ? ml__fail(ML_EIO, "redirect to '%s': %s", path,
                                                             strerror(errno))
                                                  : ML_OK;
    close(fd);
    return rc;
}

int ml_proc_create_exclusive(const char *path, const char *contents)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            return 1;
        ml__fail(ML_EIO, "cannot create '%s': %s", path, strerror(errno));
        return -1;
    }
    size_t n = strlen(contents);
    ssize_t w = write(fd, contents, n);
    int bad = w < 0 || (size_t)w != n;
    if (close(fd) != 0 || bad) {
        ml__fail(ML_EIO, "cannot write '%s': %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

double ml_proc_mtime(const char *path)
{
    struct stat s;
    if (stat(path, &s) != 0)
        return -1;
    return (double)s.st_mtim.tv_sec + (double)s.st_mtim.tv_nsec * 1e-9;
}

int ml_proc_touch(const char *path)
{
    if (utimensat(AT_FDCWD, path, NULL, 0) != 0)
        return ml__fail(ML_EIO, "touch '%s': %s", path, strerror(errno));
    return ML_OK;
}

double ml_proc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int ml_proc_self_exe(char *buf, int64_t cap)
{
    ssize_t n = readlink("/proc/self/exe", buf, (size_t)cap - 1);
    if (n <= 0)
        return ml__fail(ML_EIO, "cannot read /proc/self/exe: %s", strerror(errno));
    buf[n] = '\0';
    return ML_OK;
}

int ml_proc_die_with_parent(void)
{
    pid_t parent = getppid();
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        return ml__fail(ML_EIO, "prctl: %s", strerror(errno));
    if (getppid() != parent || parent == 1)
        return ml__fail(ML_ESTATE, "the parent process has already exited");
    return ML_OK;
}

int ml_proc_list_dir(const char *path, int (*fn)(const char *name, void *ud), void *ud)
{
    DIR *d = opendir(path);
    if (!d)
        return ml__fail(ML_EIO, "cannot list directory '%s': %s", path, strerror(errno));
    struct dirent *e;
    int rc = ML_OK;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (fn(e->d_name, ud) != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* The boot id (changes at every boot) and the process's start time in clock ticks since boot
 * (field 22 of /proc/<pid>/stat) together name one process for good: a pid reused after the
 * process ended or after a reboot gives another token. */
int ml_proc_token(pid_t pid, char *buf, int64_t cap)
{
    char path[64], stat[1024], boot[64] = "";
    if (pid <= 0 || cap < 2)
        return 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            boot[0] = '\0';
        fclose(f);
        boot[strcspn(boot, "\n")] = '\0';
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* the command name (field 2) is in parentheses and may hold spaces or parentheses */
    const char *p = strrchr(stat, ')');
    if (!p)
        return 0;
    char state = ' ';
    unsigned long long start = 0;
    int field = 2;
    for (p++; *p; p++) {
        if (*p != ' ')
            continue;
        field++;
        if (field == 3)
            state = p[1];
        if (field == 22) {
            start = strtoull(p + 1, NULL, 10);
            break;
        }
    }
    if (field != 22 || state == 'Z' || state == 'X')
        return 0; /* a zombie has finished: it only waits to be reaped */
    snprintf(buf, (size_t)cap, "%s:%llu", boot, start);
    return 1;
}

int ml_proc_cwd(char *buf, int64_t cap)
{
    if (!getcwd(buf, (size_t)cap))
        return ml__fail(ML_EIO, "cannot read the working directory: %s", strerror(errno));
    return ML_OK;
}

static void on_child(int sig)
{
    (void)sig; /* only here to end a wait in ml_proc_poll early */
}

void ml_proc_wake_on_child_exit(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP; /* no SA_RESTART: poll returns at once */
    sigaction(SIGCHLD, &sa, NULL);
}
