/* The batch queue: a list of scripts to run, kept in an SQLite database so that several
 * runner processes can drain it at once and its state survives kill -9 and reboots.
 *
 * Every state change is one `BEGIN IMMEDIATE` transaction (a writer waits for another up to
 * the busy timeout), so two runners never claim the same entry. A runner is named by its host,
 * pid and process token (ml_proc_token), taken when it opens the queue; its running entries
 * carry that name, and ml_queue_recover puts back to pending every entry whose runner is gone.
 * Nothing here starts processes or knows about Lua. */
#ifndef MOONLAB_QUEUE_H
#define MOONLAB_QUEUE_H

#include <stdint.h>
#include <sys/types.h>

typedef struct ml_queue ml_queue_t;

typedef enum {
    ML_QUEUE_PENDING = 0,
    ML_QUEUE_RUNNING,
    ML_QUEUE_DONE,
    ML_QUEUE_FAILED,
    ML_QUEUE_NSTATES
} ml_queue_state_t;

/* "pending", "running", "done", "failed". */
const char *ml_queue_state_name(ml_queue_state_t s);

/* One entry as stored. Strings are never NULL ("" when unset) and are owned by the entry
 * (ml_queue_entry_free); times are seconds since the epoch, 0 when not yet. */
typedef struct ml_queue_entry {
    int64_t id;               /* 1, 2, ... in order of adding; never reused */
    ml_queue_state_t state;
    char *script;             /* as given to add */
    char *dir;                /* working directory the entry runs in */
    char **args;              /* nargs arguments after the script */
    int nargs;
    double added, started, finished, heartbeat;
    int64_t attempts;         /* times claimed */
    char *host;               /* the runner's host (last or current run) */
    int64_t runner_pid, pid;  /* the runner and the entry's process (0: none) */
    int exit_code;            /* exit status, -1 when it has none */
    int signal;               /* signal that killed it, 0 when none */
    char *reason;             /* why it failed or was put back to pending */
    char *result;             /* the result file a finished entry wrote */
} ml_queue_entry_t;

void ml_queue_entry_free(ml_queue_entry_t *e);
void ml_queue_list_free(ml_queue_entry_t *es, int64_t n);

/* Open the queue database at path (create: make it if missing, else fail with ML_EIO). Waits
 * up to busy_ms milliseconds for a lock held by another process before giving up. */
int ml_queue_open(ml_queue_t **q, const char *path, int create, int busy_ms);
void ml_queue_close(ml_queue_t *q);

/* Add a pending entry running `script args...` in dir; *id receives its id. */
int ml_queue_add(ml_queue_t *q, const char *script, const char *dir, const char *const *args,
                 int nargs, int64_t *id);

/* One entry; ML_EARG ("no entry N in the queue") if there is none. */
int ml_queue_get(ml_queue_t *q, int64_t id, ml_queue_entry_t *e);

/* All entries in id order; *es is malloc'd (ml_queue_list_free). */
int ml_queue_list(ml_queue_t *q, ml_queue_entry_t **es, int64_t *n);

/* Entries per state, indexed by ml_queue_state_t. */
int ml_queue_counts(ml_queue_t *q, int64_t counts[ML_QUEUE_NSTATES]);

/* Claim the oldest pending entry for this runner: it becomes running, its attempts grow by
 * one and its previous outcome is cleared. *got is 0 (and e untouched) when none is pending. */
int ml_queue_claim(ml_queue_t *q, ml_queue_entry_t *e, int *got);

/* Record the process running a claimed entry. ML_ESTATE if this runner no longer holds it. */
int ml_queue_started(ml_queue_t *q, int64_t id, pid_t pid);

/* Mark every entry this runner holds as alive now. */
int ml_queue_heartbeat(ml_queue_t *q);

/* End a held entry as done or failed with its exit status (-1: none), killing signal (0:
 * none), reason and result file (NULL: none). *held is 0 if this runner no longer held it
 * (another process put it back to pending), and then nothing changes. */
int ml_queue_finish(ml_queue_t *q, int64_t id, ml_queue_state_t state, int exit_code, int sig,
                    const char *reason, const char *result, int *held);

/* Put a held entry back to pending (its run was interrupted); reason may be NULL. */
int ml_queue_release(ml_queue_t *q, int64_t id, const char *reason);

/* Failed entries back to pending: those in ids (n of them; each must exist and have failed,
 * else nothing changes), or every failed entry when n is 0. *changed counts them. */
int ml_queue_retry(ml_queue_t *q, const int64_t *ids, int64_t n, int64_t *changed);

/* Remove entries (none may be running; all or nothing). */
int ml_queue_remove(ml_queue_t *q, const int64_t *ids, int64_t n);

/* Put back to pending every running entry whose runner is gone: on this host, its runner
 * process no longer exists (or the machine rebooted since); on another host, its heartbeat
 * is older than stale_s seconds. An orphaned entry process still alive on this host is killed
 * first (with its process group). *recovered counts the entries put back. */
int ml_queue_recover(ml_queue_t *q, double stale_s, int64_t *recovered);

#endif
