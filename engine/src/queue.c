/* The batch queue on SQLite (see moonlab/queue.h).
 *
 * Tables: `entries` (one row per entry, its state and last run) and `args` (the arguments of
 * each entry, one row per argument in order). The database keeps a rollback journal (not WAL,
 * whose shared memory would tie every runner to one machine) with synchronous FULL: a
 * committed change is on disk before the call returns, so kill -9 or a power cut loses nothing
 * that was reported. Every change opens with BEGIN IMMEDIATE, which takes the write lock at
 * once (waiting up to the busy timeout): a claim reads the oldest pending entry and marks it
 * running with no other writer in between. */
#include "moonlab/queue.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moonlab/error.h"
#include "moonlab/proc.h"

#define SCHEMA_VERSION 1

struct ml_queue {
    sqlite3 *db;
    char *path;
    char host[256];
    int64_t pid;
    char token[128];
};

static const char *const state_names[ML_QUEUE_NSTATES] = {"pending", "running", "done", "failed"};

const char *ml_queue_state_name(ml_queue_state_t s)
{
    return (s >= 0 && s < ML_QUEUE_NSTATES) ? state_names[s] : "unknown";
}

static ml_queue_state_t state_of(const char *name)
{
    for (int i = 0; i < ML_QUEUE_NSTATES; i++)
        if (name && strcmp(name, state_names[i]) == 0)
            return (ml_queue_state_t)i;
    return ML_QUEUE_PENDING;
}

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS entries ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " status TEXT NOT NULL DEFAULT 'pending'"
    "  CHECK (status IN ('pending', 'running', 'done', 'failed')),"
    " script TEXT NOT NULL,"
    " dir TEXT NOT NULL,"
    " added REAL NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " started REAL, finished REAL, heartbeat REAL,"
    " host TEXT, runner_pid INTEGER, runner_token TEXT, pid INTEGER, pid_token TEXT,"
    " exit_code INTEGER, signal INTEGER, reason TEXT, result TEXT);"
    "CREATE TABLE IF NOT EXISTS args ("
    " entry INTEGER NOT NULL, pos INTEGER NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (entry, pos));"
    "CREATE INDEX IF NOT EXISTS entries_by_status ON entries (status, id);";

/* ---- small SQLite helpers: each failure becomes ML_EIO naming the database ---- */

static int db_fail(ml_queue_t *q, const char *what)
{
    return ml__fail(ML_EIO, "queue database '%s': %s: %s", q->path, what, sqlite3_errmsg(q->db));
}

static int exec(ml_queue_t *q, const char *sql, const char *what)
{
    return sqlite3_exec(q->db, sql, NULL, NULL, NULL) == SQLITE_OK ? ML_OK : db_fail(q, what);
}

static int begin(ml_queue_t *q, const char *what)
{
    return exec(q, "BEGIN IMMEDIATE", what);
}

static void rollback(ml_queue_t *q)
{
    if (!sqlite3_get_autocommit(q->db))
        sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

/* COMMIT, or roll back and return rc when an earlier step failed. */
static int finish_tx(ml_queue_t *q, int rc, const char *what)
{
    if (rc == ML_OK && sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = db_fail(q, what);
    if (rc != ML_OK)
        rollback(q);
    return rc;
}

static int prepare(ml_queue_t *q, sqlite3_stmt **st, const char *sql, const char *what)
{
    return sqlite3_prepare_v2(q->db, sql, -1, st, NULL) == SQLITE_OK ? ML_OK : db_fail(q, what);
}

/* Step a statement that returns no rows, then free it. */
static int run_stmt(ml_queue_t *q, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? ML_OK : db_fail(q, what);
    sqlite3_finalize(st);
    return rc;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static char *dup_text(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

/* ---- opening ---- */

static int ensure_schema(ml_queue_t *q)
{
    int rc = begin(q, "cannot lock to set up the tables");
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st, "PRAGMA user_version", "cannot read the schema version");
    if (rc)
        return finish_tx(q, rc, "");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > SCHEMA_VERSION) {
        rc = ml__fail(ML_EFORMAT, "queue database '%s' has schema version %d; this moonlab reads %d",
                      q->path, version, SCHEMA_VERSION);
    } else if (version == 0) {
        rc = exec(q, schema, "cannot create the tables");
        if (!rc)
            rc = exec(q, "PRAGMA user_version = 1", "cannot set the schema version");
    }
    return finish_tx(q, rc, "cannot commit the tables");
}

int ml_queue_open(ml_queue_t **out, const char *path, int create, int busy_ms)
{
    *out = NULL;
    if (!path || !*path)
        return ml__fail(ML_EARG, "queue: no database path given");
    if (!create && access(path, F_OK) != 0)
        return ml__fail(ML_EIO, "no queue database at '%s'", path);
    ml_queue_t *q = calloc(1, sizeof *q);
    if (!q)
        return ml__fail(ML_ENOMEM, "queue: out of memory");
    q->path = strdup(path);
    if (!q->path) {
        free(q);
        return ml__fail(ML_ENOMEM, "queue: out of memory");
    }
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = ML_OK;
    if (sqlite3_open_v2(path, &q->db, flags, NULL) != SQLITE_OK) {
        rc = ml__fail(ML_EIO, "cannot open queue database '%s': %s", path,
                      q->db ? sqlite3_errmsg(q->db) : "out of memory");
    } else {
        sqlite3_busy_timeout(q->db, busy_ms > 0 ? busy_ms : 0);
        sqlite3_extended_result_codes(q->db, 0);
        /* a file that is no database fails at its first read */
        rc = exec(q, "SELECT count(*) FROM sqlite_master", "cannot open (is it a queue database?)");
        if (!rc)
            rc = exec(q, "PRAGMA journal_mode = DELETE", "cannot set the journal mode");
        if (!rc)
            rc = exec(q, "PRAGMA synchronous = FULL", "cannot set synchronous writes");
        if (!rc)
            rc = ensure_schema(q);
    }
    if (rc) {
        ml_queue_close(q);
        return rc;
    }
    if (gethostname(q->host, sizeof q->host) != 0)
        strcpy(q->host, "unknown");
    q->host[sizeof q->host - 1] = '\0';
    q->pid = (int64_t)getpid();
    if (!ml_proc_token((pid_t)q->pid, q->token, sizeof q->token))
        snprintf(q->token, sizeof q->token, "?:%lld", (long long)q->pid);
    *out = q;
    return ML_OK;
}

void ml_queue_close(ml_queue_t *q)
{
    if (!q)
        return;
    sqlite3_close(q->db);
    free(q->path);
    free(q);
}

/* ---- entries ---- */

void ml_queue_entry_free(ml_queue_entry_t *e)
{
    if (!e)
        return;
    free(e->script);
    free(e->dir);
    free(e->host);
    free(e->reason);
    free(e->result);
    for (int i = 0; i < e->nargs; i++)
        free(e->args[i]);
    free(e->args);
    memset(e, 0, sizeof *e);
}

void ml_queue_list_free(ml_queue_entry_t *es, int64_t n)
{
    if (!es)
        return;
    for (int64_t i = 0; i < n; i++)
        ml_queue_entry_free(&es[i]);
    free(es);
}

#define ENTRY_COLUMNS                                                                      \
    "id, status, script, dir, added, started, finished, heartbeat, attempts, host, "     \
    "runner_pid, pid, exit_code, signal, reason, result"

static int read_entry(sqlite3_stmt *st, ml_queue_entry_t *e)
{
    memset(e, 0, sizeof *e);
    e->id = sqlite3_column_int64(st, 0);
    e->state = state_of((const char *)sqlite3_column_text(st, 1));
    e->script = dup_text(st, 2);
    e->dir = dup_text(st, 3);
    e->added = sqlite3_column_double(st, 4);
    e->started = sqlite3_column_double(st, 5);
    e->finished = sqlite3_column_double(st, 6);
    e->heartbeat = sqlite3_column_double(st, 7);
    e->attempts = sqlite3_column_int64(st, 8);
    e->host = dup_text(st, 9);
    e->runner_pid = sqlite3_column_int64(st, 10);
    e->pid = sqlite3_column_int64(st, 11);
    e->exit_code = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 12);
    e->signal = sqlite3_column_int(st, 13);
    e->reason = dup_text(st, 14);
    e->result = dup_text(st, 15);
    if (!e->script || !e->dir || !e->host || !e->reason || !e->result) {
        ml_queue_entry_free(e);
        return ml__fail(ML_ENOMEM, "queue: out of memory");
    }
    return ML_OK;
}

static int push_arg(ml_queue_entry_t *e, const char *value)
{
    char **a = realloc(e->args, (size_t)(e->nargs + 1) * sizeof *a);
    if (!a)
        return ml__fail(ML_ENOMEM, "queue: out of memory");
    e->args = a;
    a[e->nargs] = strdup(value ? value : "");
    if (!a[e->nargs])
        return ml__fail(ML_ENOMEM, "queue: out of memory");
    e->nargs++;
    return ML_OK;
}

int ml_queue_add(ml_queue_t *q, const char *script, const char *dir, const char *const *args,
                 int nargs, int64_t *id)
{
    if (!script || !*script || !dir || nargs < 0 || (nargs > 0 && !args))
        return ml__fail(ML_EARG, "queue add: script, directory and arguments are required");
    for (int i = 0; i < nargs; i++)
        if (!args[i])
            return ml__fail(ML_EARG, "queue add: argument %d is missing", i + 1);
    int rc = begin(q, "cannot lock to add an entry");
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st, "INSERT INTO entries (script, dir, added) VALUES (?, ?, ?)",
                 "cannot add an entry");
    if (!rc) {
        sqlite3_bind_text(st, 1, script, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, dir, -1, SQLITE_TRANSIENT);
        sqlite3_bind_double(st, 3, ml_proc_now());
        rc = run_stmt(q, st, "cannot add an entry");
    }
    int64_t new_id = sqlite3_last_insert_rowid(q->db);
    for (int i = 0; i < nargs && !rc; i++) {
        rc = prepare(q, &st, "INSERT INTO args (entry, pos, value) VALUES (?, ?, ?)",
                     "cannot add an argument");
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, new_id);
        sqlite3_bind_int(st, 2, i);
        sqlite3_bind_text(st, 3, args[i], -1, SQLITE_TRANSIENT);
        rc = run_stmt(q, st, "cannot add an argument");
    }
    rc = finish_tx(q, rc, "cannot commit the new entry");
    if (!rc && id)
        *id = new_id;
    return rc;
}

static int load_args(ml_queue_t *q, ml_queue_entry_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(q, &st, "SELECT value FROM args WHERE entry = ? ORDER BY pos",
                     "cannot read arguments");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, e->id);
    int s = SQLITE_DONE;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = push_arg(e, (const char *)sqlite3_column_text(st, 0));
    if (!rc && s != SQLITE_DONE)
        rc = db_fail(q, "cannot read arguments");
    sqlite3_finalize(st);
    return rc;
}

/* Read entry id inside or outside a transaction; ML_EARG if there is none. */
static int get_entry(ml_queue_t *q, int64_t id, ml_queue_entry_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(q, &st, "SELECT " ENTRY_COLUMNS " FROM entries WHERE id = ?",
                     "cannot read an entry");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_entry(st, e);
    else if (s == SQLITE_DONE)
        rc = ml__fail(ML_EARG, "no entry %lld in the queue", (long long)id);
    else
        rc = db_fail(q, "cannot read an entry");
    sqlite3_finalize(st);
    if (!rc && (rc = load_args(q, e)) != ML_OK)
        ml_queue_entry_free(e);
    return rc;
}

int ml_queue_get(ml_queue_t *q, int64_t id, ml_queue_entry_t *e)
{
    return get_entry(q, id, e);
}

int ml_queue_list(ml_queue_t *q, ml_queue_entry_t **out, int64_t *n)
{
    *out = NULL;
    *n = 0;
    /* one read transaction, so entries and arguments come from the same state */
    int rc = exec(q, "BEGIN", "cannot start reading");
    if (rc)
        return rc;
    ml_queue_entry_t *es = NULL;
    int64_t count = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st, "SELECT " ENTRY_COLUMNS " FROM entries ORDER BY id",
                 "cannot list entries");
    int s = SQLITE_DONE;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            ml_queue_entry_t *grown = realloc(es, (size_t)cap * sizeof *es);
            if (!grown) {
                rc = ml__fail(ML_ENOMEM, "queue: out of memory");
                break;
            }
            es = grown;
        }
        rc = read_entry(st, &es[count]);
        if (!rc)
            count++;
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_fail(q, "cannot list entries");
    sqlite3_finalize(st);
    if (!rc)
        rc = prepare(q, &st, "SELECT entry, value FROM args ORDER BY entry, pos",
                     "cannot list arguments");
    if (!rc) {
        int64_t i = 0;
        while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t entry = sqlite3_column_int64(st, 0);
            while (i < count && es[i].id < entry)
                i++;
            if (i < count && es[i].id == entry)
                rc = push_arg(&es[i], (const char *)sqlite3_column_text(st, 1));
        }
        if (!rc && s != SQLITE_DONE)
            rc = db_fail(q, "cannot list arguments");
        sqlite3_finalize(st);
    }
    rollback(q); /* a read transaction: nothing to keep */
    if (rc) {
        ml_queue_list_free(es, count);
        return rc;
    }
    *out = es;
    *n = count;
    return ML_OK;
}

int ml_queue_counts(ml_queue_t *q, int64_t counts[ML_QUEUE_NSTATES])
{
    for (int i = 0; i < ML_QUEUE_NSTATES; i++)
        counts[i] = 0;
    sqlite3_stmt *st = NULL;
    int rc = prepare(q, &st, "SELECT status, count(*) FROM entries GROUP BY status",
                     "cannot count entries");
    if (rc)
        return rc;
    int s = SQLITE_DONE;
    while ((s = sqlite3_step(st)) == SQLITE_ROW)
        counts[state_of((const char *)sqlite3_column_text(st, 0))] = sqlite3_column_int64(st, 1);
    if (s != SQLITE_DONE)
        rc = db_fail(q, "cannot count entries");
    sqlite3_finalize(st);
    return rc;
}

/* ---- a runner's life cycle ---- */

int ml_queue_claim(ml_queue_t *q, ml_queue_entry_t *e, int *got)
{
    *got = 0;
    int rc = begin(q, "cannot lock to claim an entry");
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st, "SELECT id FROM entries WHERE status = 'pending' ORDER BY id LIMIT 1",
                 "cannot look for a pending entry");
    if (rc)
        return finish_tx(q, rc, "");
    int s = sqlite3_step(st);
    int64_t id = s == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = db_fail(q, "cannot look for a pending entry");
    sqlite3_finalize(st);
    if (rc || id == 0)
        return finish_tx(q, rc, "cannot commit");
    rc = prepare(q, &st,
                 "UPDATE entries SET status = 'running', attempts = attempts + 1, started = ?1,"
                 " finished = NULL, heartbeat = ?1, host = ?2, runner_pid = ?3, runner_token = ?4,"
                 " pid = NULL, pid_token = NULL, exit_code = NULL, signal = NULL, reason = NULL,"
                 " result = NULL WHERE id = ?5",
                 "cannot claim an entry");
    if (!rc) {
        sqlite3_bind_double(st, 1, ml_proc_now());
        sqlite3_bind_text(st, 2, q->host, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, q->pid);
        sqlite3_bind_text(st, 4, q->token, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, id);
        rc = run_stmt(q, st, "cannot claim an entry");
    }
    if (!rc)
        rc = get_entry(q, id, e);
    int crc = finish_tx(q, rc, "cannot commit the claim");
    if (crc && !rc)
        ml_queue_entry_free(e); /* the claim did not happen */
    if (!crc)
        *got = 1;
    return crc;
}

/* Run an UPDATE on an entry this runner holds (bound as ?1 = id, ?2 = runner token after the
 * statement's own parameters were bound by bind()); *held tells whether a row changed. */
static int update_held(ml_queue_t *q, const char *sql, int64_t id, const char *what,
                       void (*bind)(sqlite3_stmt *, const void *), const void *ud, int *held)
{
    *held = 0;
    int rc = begin(q, what);
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st, sql, what);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, q->token, -1, SQLITE_STATIC);
        if (bind)
            bind(st, ud);
        rc = run_stmt(q, st, what);
    }
    if (!rc)
        *held = sqlite3_changes(q->db) > 0;
    return finish_tx(q, rc, what);
}

struct started_args {
    int64_t pid;
    const char *token;
};

static void bind_started(sqlite3_stmt *st, const void *ud)
{
    const struct started_args *a = ud;
    sqlite3_bind_int64(st, 3, a->pid);
    bind_text_or_null(st, 4, a->token);
    sqlite3_bind_double(st, 5, ml_proc_now());
}

int ml_queue_started(ml_queue_t *q, int64_t id, pid_t pid)
{
    char token[128];
    struct started_args a = {(int64_t)pid, ml_proc_token(pid, token, sizeof token) ? token : NULL};
    int held;
    int rc = update_held(q,
                         "UPDATE entries SET pid = ?3, pid_token = ?4, heartbeat = ?5"
                         " WHERE id = ?1 AND status = 'running' AND runner_token = ?2",
                         id, "cannot record an entry's process", bind_started, &a, &held);
    if (!rc && !held)
        rc = ml__fail(ML_ESTATE, "entry %lld is no longer held by this runner", (long long)id);
    return rc;
}

int ml_queue_heartbeat(ml_queue_t *q)
{
    int rc = begin(q, "cannot lock for a heartbeat");
    if (rc)
        return rc;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st,
                 "UPDATE entries SET heartbeat = ? WHERE status = 'running' AND runner_token = ?",
                 "cannot record a heartbeat");
    if (!rc) {
        sqlite3_bind_double(st, 1, ml_proc_now());
        sqlite3_bind_text(st, 2, q->token, -1, SQLITE_STATIC);
        rc = run_stmt(q, st, "cannot record a heartbeat");
    }
    return finish_tx(q, rc, "cannot commit a heartbeat");
}

struct finish_args {
    ml_queue_state_t state;
    int exit_code, sig;
    const char *reason, *result;
};

static void bind_finish(sqlite3_stmt *st, const void *ud)
{
    const struct finish_args *a = ud;
    sqlite3_bind_text(st, 3, state_names[a->state], -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, ml_proc_now());
    if (a->exit_code >= 0)
        sqlite3_bind_int(st, 5, a->exit_code);
    else
        sqlite3_bind_null(st, 5);
    if (a->sig > 0)
        sqlite3_bind_int(st, 6, a->sig);
    else
        sqlite3_bind_null(st, 6);
    bind_text_or_null(st, 7, a->reason);
    bind_text_or_null(st, 8, a->result);
}

int ml_queue_finish(ml_queue_t *q, int64_t id, ml_queue_state_t state, int exit_code, int sig,
                    const char *reason, const char *result, int *held)
{
    *held = 0;
    if (state != ML_QUEUE_DONE && state != ML_QUEUE_FAILED)
        return ml__fail(ML_EARG, "queue finish: an entry ends done or failed, not %s",
                        ml_queue_state_name(state));
    struct finish_args a = {state, exit_code, sig, reason, result};
    return update_held(q,
                       "UPDATE entries SET status = ?3, finished = ?4, heartbeat = ?4,"
                       " exit_code = ?5, signal = ?6, reason = ?7, result = ?8, pid_token = NULL"
                       " WHERE id = ?1 AND status = 'running' AND runner_token = ?2",
                       id, "cannot record an entry's end", bind_finish, &a, held);
}

/* The columns of a pending entry that still says what happened to its last run. */
#define BACK_TO_PENDING                                                                     \
    "status = 'pending', started = NULL, finished = NULL, heartbeat = NULL,"                \
    " runner_token = NULL, pid_token = NULL, exit_code = NULL, signal = NULL, result = NULL"

static void bind_reason(sqlite3_stmt *st, const void *ud)
{
    bind_text_or_null(st, 3, ud);
}

int ml_queue_release(ml_queue_t *q, int64_t id, const char *reason)
{
    int held;
    int rc = update_held(q,
                         "UPDATE entries SET " BACK_TO_PENDING ", reason = ?3"
                         " WHERE id = ?1 AND status = 'running' AND runner_token = ?2",
                         id, "cannot put an entry back to pending", bind_reason, reason, &held);
    if (!rc && !held)
        rc = ml__fail(ML_ESTATE, "entry %lld is no longer held by this runner", (long long)id);
    return rc;
}

/* The state of entry id inside a transaction; ML_EARG if there is none. */
static int state_in_tx(ml_queue_t *q, int64_t id, ml_queue_state_t *state)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(q, &st, "SELECT status FROM entries WHERE id = ?", "cannot read an entry");
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        *state = state_of((const char *)sqlite3_column_text(st, 0));
    else if (s == SQLITE_DONE)
        rc = ml__fail(ML_EARG, "no entry %lld in the queue", (long long)id);
    else
        rc = db_fail(q, "cannot read an entry");
    sqlite3_finalize(st);
    return rc;
}

static int run_for_id(ml_queue_t *q, const char *sql, int64_t id, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(q, &st, sql, what);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    return run_stmt(q, st, what);
}

static const char *const retry_sql =
    "UPDATE entries SET " BACK_TO_PENDING ", host = NULL, runner_pid = NULL, pid = NULL,"
    " reason = NULL WHERE status = 'failed'";

int ml_queue_retry(ml_queue_t *q, const int64_t *ids, int64_t n, int64_t *changed)
{
    *changed = 0;
    int rc = begin(q, "cannot lock to retry entries");
    if (rc)
        return rc;
    if (n == 0) {
        rc = exec(q, retry_sql, "cannot retry entries");
        if (!rc)
            *changed = sqlite3_changes(q->db);
        return finish_tx(q, rc, "cannot commit the retry");
    }
    char sql[512];
    snprintf(sql, sizeof sql, "%s AND id = ?", retry_sql);
    for (int64_t i = 0; i < n && !rc; i++) {
        ml_queue_state_t s = ML_QUEUE_PENDING;
        rc = state_in_tx(q, ids[i], &s);
        if (!rc && s != ML_QUEUE_FAILED)
            rc = ml__fail(ML_ESTATE, "entry %lld is %s, not failed", (long long)ids[i],
                          state_names[s]);
        if (!rc)
            rc = run_for_id(q, sql, ids[i], "cannot retry an entry");
        if (!rc)
            *changed += sqlite3_changes(q->db);
    }
    if (rc)
        *changed = 0;
    return finish_tx(q, rc, "cannot commit the retry");
}

int ml_queue_remove(ml_queue_t *q, const int64_t *ids, int64_t n)
{
    int rc = begin(q, "cannot lock to remove entries");
    if (rc)
        return rc;
    for (int64_t i = 0; i < n && !rc; i++) {
        ml_queue_state_t s = ML_QUEUE_PENDING;
        rc = state_in_tx(q, ids[i], &s);
        if (!rc && s == ML_QUEUE_RUNNING)
            rc = ml__fail(ML_ESTATE, "entry %lld is running; stop its runner first",
                          (long long)ids[i]);
        if (!rc)
            rc = run_for_id(q, "DELETE FROM args WHERE entry = ?", ids[i], "cannot remove");
        if (!rc)
            rc = run_for_id(q, "DELETE FROM entries WHERE id = ?", ids[i], "cannot remove");
    }
    return finish_tx(q, rc, "cannot commit the removal");
}

/* ---- recovery ---- */

typedef struct stale {
    int64_t id;
    char reason[512];
} stale_t;

/* Length of the boot-id part of a token ("<boot id>:<start time>"). */
static size_t boot_len(const char *token)
{
    const char *colon = strrchr(token, ':');
    return colon ? (size_t)(colon - token) : strlen(token);
}

static int same_boot(const char *a, const char *b)
{
    size_t n = boot_len(a);
    return n == boot_len(b) && strncmp(a, b, n) == 0;
}

/* Why the running entry in the current row of st is stale (written to why), or 0 if its
 * runner is alive. Kills the entry's orphaned process on this host. */
static int judge(const ml_queue_t *q, sqlite3_stmt *st, double stale_s, char *why, size_t cap)
{
    const char *host = (const char *)sqlite3_column_text(st, 1);
    int64_t runner = sqlite3_column_int64(st, 2);
    const char *rtoken = (const char *)sqlite3_column_text(st, 3);
    int64_t pid = sqlite3_column_int64(st, 4);
    const char *ptoken = (const char *)sqlite3_column_text(st, 5);
    double beat = sqlite3_column_double(st, 6);
    if (!host)
        host = "";
    if (strcmp(host, q->host) != 0) {
        double quiet = ml_proc_now() - beat;
        if (quiet <= stale_s)
            return 0;
        snprintf(why, cap, "runner %lld on %s sent no heartbeat for %.0f s", (long long)runner,
                 host, quiet);
        return 1;
    }
    if (rtoken && !same_boot(rtoken, q->token)) {
        snprintf(why, cap, "runner %lld on %s ended with a restart of the machine",
                 (long long)runner, host);
        return 1;
    }
    char now[128];
    if (rtoken && ml_proc_token((pid_t)runner, now, sizeof now) && strcmp(now, rtoken) == 0)
        return 0;
    int n = snprintf(why, cap, "runner %lld on %s is gone", (long long)runner, host);
    if (pid > 0 && ptoken && ml_proc_token((pid_t)pid, now, sizeof now) &&
        strcmp(now, ptoken) == 0) {
        ml_proc_kill((pid_t)pid, SIGKILL, 1);
        ml_proc_kill((pid_t)pid, SIGKILL, 0);
        if (n > 0 && (size_t)n < cap)
            snprintf(why + n, cap - (size_t)n, "; its process %lld was killed", (long long)pid);
    }
    return 1;
}

int ml_queue_recover(ml_queue_t *q, double stale_s, int64_t *recovered)
{
    *recovered = 0;
    int rc = begin(q, "cannot lock to recover entries");
    if (rc)
        return rc;
    stale_t *list = NULL;
    int64_t n = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    rc = prepare(q, &st,
                 "SELECT id, host, runner_pid, runner_token, pid, pid_token, heartbeat"
                 " FROM entries WHERE status = 'running' ORDER BY id",
                 "cannot look for stale entries");
    int s = SQLITE_DONE;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            stale_t *grown = realloc(list, (size_t)cap * sizeof *list);
            if (!grown) {
                rc = ml__fail(ML_ENOMEM, "queue: out of memory");
                break;
            }
            list = grown;
        }
        if (judge(q, st, stale_s, list[n].reason, sizeof list[n].reason)) {
            list[n].id = sqlite3_column_int64(st, 0);
            n++;
        }
    }
    if (!rc && s != SQLITE_DONE)
        rc = db_fail(q, "cannot look for stale entries");
    sqlite3_finalize(st);
    for (int64_t i = 0; i < n && !rc; i++) {
        rc = prepare(q, &st,
                     "UPDATE entries SET " BACK_TO_PENDING ", reason = ?2"
                     " WHERE id = ?1 AND status = 'running'",
                     "cannot put a stale entry back to pending");
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, list[i].id);
        sqlite3_bind_text(st, 2, list[i].reason, -1, SQLITE_STATIC);
        rc = run_stmt(q, st, "cannot put a stale entry back to pending");
    }
    free(list);
    rc = finish_tx(q, rc, "cannot commit the recovery");
    if (!rc)
        *recovered = n;
    return rc;
}
