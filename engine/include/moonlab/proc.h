/* Processes and files for the study runner and the queue: spawning workers with pipes,
 * waiting without blocking, signals, exclusive claim files and directory listings. POSIX
 * only; nothing here knows about trials or Lua. */
#ifndef MOONLAB_PROC_H
#define MOONLAB_PROC_H

#include <stdint.h>
#include <sys/types.h>

/* A child process started by ml_proc_spawn. to_child is the write end of its stdin (or -1),
 * from_child the read end of its descriptor 3 (or -1); both are non-blocking and close on
 * exec. Its stdout and stderr are the parent's, or the file `log` (appended) if given. */
typedef struct ml_proc {
    pid_t pid;
    int to_child;
    int from_child;
} ml_proc_t;

/* Start argv[0] (a path) with arguments argv (NULL-terminated). pipes: 1 to give the child a
 * stdin pipe and a message pipe on descriptor 3, 0 for neither. */
int ml_proc_spawn(ml_proc_t *p, const char *const *argv, int pipes, const char *log);

/* ml_proc_spawn with the child's working directory set to dir (NULL: this process's); a dir
 * that cannot be entered is ML_EIO naming it, before any child starts. */
int ml_proc_spawn_in(ml_proc_t *p, const char *const *argv, int pipes, const char *log,
                     const char *dir);

/* How a child ended: state 0 running, 1 exited (code = exit status), 2 killed (code = the
 * signal). With block = 0 this never waits. */
typedef struct ml_proc_status {
    int state;
    int code;
} ml_proc_status_t;
int ml_proc_wait(pid_t pid, int block, ml_proc_status_t *st);

/* 1 if a process with this pid exists on this machine (it may belong to another user) and
 * is not a zombie. */
int ml_proc_alive(pid_t pid);

/* Wait until one of fds (n of them) is readable or timeout_ms passes (-1: no limit); ready[i]
 * is set to 1 for each readable (or closed) descriptor. Returns the number ready, 0 on
 * timeout; a signal ends the wait early with 0. */
int ml_proc_poll(const int *fds, int n, int timeout_ms, int *ready);

/* Read what is available from a non-blocking descriptor into buf (cap bytes): returns the
 * count, 0 at end of file, -1 when nothing is available now. */
int64_t ml_proc_read(int fd, char *buf, int64_t cap);

/* Write all of buf to fd (blocking until written); ignores SIGPIPE, fails on a closed pipe. */
int ml_proc_write(int fd, const char *buf, int64_t n);

/* SIGINT and SIGTERM set a flag instead of killing the process (ml_proc_catch_signals);
 * ml_proc_interrupted returns the last signal caught, or 0. */
void ml_proc_catch_signals(void);
int ml_proc_interrupted(void);

/* Send signal sig to pid (or to its process group if group is 1). */
int ml_proc_kill(pid_t pid, int sig, int group);

/* Point this process's stdout and stderr at a file (appended, created 0644). */
int ml_proc_redirect_output(const char *path);

/* Create path exclusively with the given contents: 0 when created, 1 if it already exists,
 * -1 on another error (message in ml_errmsg). */
int ml_proc_create_exclusive(const char *path, const char *contents);

/* Modification time of path in seconds since the epoch (with fraction), or -1 if missing. */
double ml_proc_mtime(const char *path);

/* Set path's modification time to now. */
int ml_proc_touch(const char *path);

/* Seconds since the epoch, wall clock, with fraction. */
double ml_proc_now(void);

/* Make the kernel kill this process when its parent dies (a worker never outlives its
 * runner); fails if the parent is already gone. */
int ml_proc_die_with_parent(void);

/* Call fn(name, ud) for each entry of directory path except "." and ".."; stops early when fn
 * returns non-zero. */
int ml_proc_list_dir(const char *path, int (*fn)(const char *name, void *ud), void *ud);

/* The running executable's path (from /proc/self/exe). */
int ml_proc_self_exe(char *buf, int64_t cap);

/* A text naming process pid on this machine across pid reuse and reboots ("<boot id>:<start
 * time>"), written to buf (cap bytes): 1 when the process exists and has not finished (a
 * zombie has), 0 otherwise. */
int ml_proc_token(pid_t pid, char *buf, int64_t cap);

/* This process's working directory. */
int ml_proc_cwd(char *buf, int64_t cap);

/* Let the exit of a child end an ml_proc_poll wait early (a SIGCHLD handler that does
 * nothing), so a parent polling with a timeout notices finished children at once. */
void ml_proc_wake_on_child_exit(void);

#endif
