/* The batch queue's store: entries and their arguments survive closing, claims go oldest first
 * and never twice (checked with several processes claiming at once), only the holder ends an
 * entry, retry/remove are all-or-nothing, and recovery puts back exactly the entries whose
 * runner is gone (dead process, restarted machine, silent other host), killing orphans; and
 * the process helpers of moonlab/proc.h the runner relies on (tokens, spawning in a directory,
 * waking on a child's exit). */
#define _GNU_SOURCE /* mkdtemp */

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "moonlab/error.h"
#include "moonlab/proc.h"
#include "moonlab/queue.h"

static char dir[64];
static char db[160];

static int64_t add(ml_queue_t *q, const char *script)
{
    const char *args[] = {"--set", "x=1", "--seed", "7"};
    int64_t id = 0;
    CHECK(ml_queue_add(q, script, "/tmp", args, 4, &id) == ML_OK);
    return id;
}

static ml_queue_state_t state(ml_queue_t *q, int64_t id)
{
    ml_queue_entry_t e;
    if (ml_queue_get(q, id, &e) != ML_OK)
        return ML_QUEUE_NSTATES;
    ml_queue_state_t s = e.state;
    ml_queue_entry_free(&e);
    return s;
}

/* Run one SQL statement on the database behind the queue's back (to fake other runners). */
static void poke(const char *sql)
{
    sqlite3 *h = NULL;
    CHECK(sqlite3_open(db, &h) == SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    char *err = NULL;
    CHECK_MSG(sqlite3_exec(h, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err ? err : "");
    sqlite3_free(err);
    sqlite3_close(h);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_open_errors(void)
{
    ml_queue_t *q = NULL;
    char path[160];
    snprintf(path, sizeof path, "%s/missing.db", dir);
    CHECK(ml_queue_open(&q, path, 0, 100) == ML_EIO);
    CHECK(q == NULL);
    CHECK(strstr(ml_errmsg(), "no queue database at") != NULL);

    snprintf(path, sizeof path, "%s/not-a-db", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("this is a text file, long enough to have a header of its own ......\n", f);
        fclose(f);
    }
    CHECK(ml_queue_open(&q, path, 0, 100) == ML_EIO);
    CHECK_MSG(strstr(ml_errmsg(), "not a database") != NULL, "%s", ml_errmsg());

    CHECK(ml_queue_open(&q, "/proc/no-such-dir/queue.db", 1, 100) == ML_EIO);
    CHECK_MSG(strstr(ml_errmsg(), "cannot open queue database") != NULL, "%s", ml_errmsg());
}

static void test_entries(void)
{
    ml_queue_t *q = NULL;
    CHECK(ml_queue_open(&q, db, 1, 5000) == ML_OK);
    if (!q)
        return;
    int64_t a = add(q, "a.lua"), b = add(q, "b.lua");
    int64_t c = 0;
    CHECK(ml_queue_add(q, "c.lua", "/work", NULL, 0, &c) == ML_OK);
    CHECK(a == 1 && b == 2 && c == 3);
    CHECK(ml_queue_add(q, "", "/tmp", NULL, 0, &c) == ML_EARG);

    ml_queue_entry_t e;
    CHECK(ml_queue_get(q, 2, &e) == ML_OK);
    CHECK(e.id == 2 && e.state == ML_QUEUE_PENDING && strcmp(e.script, "b.lua") == 0);
    CHECK(strcmp(e.dir, "/tmp") == 0 && e.attempts == 0 && e.started == 0);
    CHECK(e.nargs == 4 && strcmp(e.args[0], "--set") == 0 && strcmp(e.args[1], "x=1") == 0 &&
          strcmp(e.args[3], "7") == 0);
    CHECK(e.added > 1.6e9 && e.exit_code == -1 && e.signal == 0 && e.reason[0] == '\0');
    ml_queue_entry_free(&e);
    CHECK(ml_queue_get(q, 99, &e) == ML_EARG);
    CHECK(strcmp(ml_errmsg(), "no entry 99 in the queue") == 0);
    ml_queue_close(q);

    /* everything is still there after reopening */
    CHECK(ml_queue_open(&q, db, 0, 5000) == ML_OK);
    if (!q)
        return;
    ml_queue_entry_t *es;
    int64_t n;
    CHECK(ml_queue_list(q, &es, &n) == ML_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(es[0].id == 1 && es[1].id == 2 && es[2].id == 3);
        CHECK(es[0].nargs == 4 && es[2].nargs == 0 && strcmp(es[2].dir, "/work") == 0);
        CHECK(strcmp(es[1].args[2], "--seed") == 0);
    }
    ml_queue_list_free(es, n);
    int64_t counts[ML_QUEUE_NSTATES];
    CHECK(ml_queue_counts(q, counts) == ML_OK);
    CHECK(counts[ML_QUEUE_PENDING] == 3 && counts[ML_QUEUE_RUNNING] == 0);
    ml_queue_close(q);
}

static void test_life_cycle(void)
{
    ml_queue_t *q = NULL;
    CHECK(ml_queue_open(&q, db, 0, 5000) == ML_OK);
    if (!q)
        return;
    ml_queue_entry_t e;
    int got = 0;
    /* oldest first */
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got);
    if (!got)
        return;
    CHECK(e.id == 1 && e.state == ML_QUEUE_RUNNING && e.attempts == 1 && e.started > 0);
    CHECK(e.runner_pid == (int64_t)getpid() && e.nargs == 4);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_started(q, 1, getpid()) == ML_OK);
    CHECK(ml_queue_started(q, 2, getpid()) == ML_ESTATE); /* not claimed */

    int held = 0;
    CHECK(ml_queue_finish(q, 1, ML_QUEUE_DONE, 0, 0, NULL, "/r/a.h5", &held) == ML_OK && held);
    CHECK(ml_queue_get(q, 1, &e) == ML_OK);
    CHECK(e.state == ML_QUEUE_DONE && e.exit_code == 0 && strcmp(e.result, "/r/a.h5") == 0);
    CHECK(e.finished >= e.started && e.pid == (int64_t)getpid());
    ml_queue_entry_free(&e);
    /* a second end of the same entry changes nothing */
    CHECK(ml_queue_finish(q, 1, ML_QUEUE_FAILED, 1, 0, "x", NULL, &held) == ML_OK && !held);
    CHECK(state(q, 1) == ML_QUEUE_DONE);
    CHECK(ml_queue_finish(q, 1, ML_QUEUE_PENDING, 0, 0, NULL, NULL, &held) == ML_EARG);

    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 2);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_finish(q, 2, ML_QUEUE_FAILED, -1, SIGSEGV, "b.lua crashed", NULL, &held) ==
              ML_OK &&
          held);
    CHECK(ml_queue_get(q, 2, &e) == ML_OK);
    CHECK(e.state == ML_QUEUE_FAILED && e.exit_code == -1 && e.signal == SIGSEGV);
    CHECK(strcmp(e.reason, "b.lua crashed") == 0);
    ml_queue_entry_free(&e);

    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 3);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_release(q, 3, "interrupted") == ML_OK);
    CHECK(ml_queue_get(q, 3, &e) == ML_OK);
    CHECK(e.state == ML_QUEUE_PENDING && strcmp(e.reason, "interrupted") == 0 && e.started == 0);
    CHECK(e.attempts == 1);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_release(q, 3, NULL) == ML_ESTATE);

    /* retry: a done entry named with a failed one changes nothing */
    int64_t ids[] = {2, 1}, changed = 9;
    CHECK(ml_queue_retry(q, ids, 2, &changed) == ML_ESTATE && changed == 0);
    CHECK(strcmp(ml_errmsg(), "entry 1 is done, not failed") == 0);
    CHECK(state(q, 2) == ML_QUEUE_FAILED);
    int64_t unknown[] = {42};
    CHECK(ml_queue_retry(q, unknown, 1, &changed) == ML_EARG);
    CHECK(ml_queue_retry(q, ids, 1, &changed) == ML_OK && changed == 1);
    CHECK(ml_queue_get(q, 2, &e) == ML_OK);
    CHECK(e.state == ML_QUEUE_PENDING && e.signal == 0 && e.reason[0] == '\0' && e.attempts == 1);
    ml_queue_entry_free(&e);
    /* retry of every failed entry */
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 2 && e.attempts == 2);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_finish(q, 2, ML_QUEUE_FAILED, 3, 0, "again", NULL, &held) == ML_OK);
    CHECK(ml_queue_retry(q, NULL, 0, &changed) == ML_OK && changed == 1);
    CHECK(ml_queue_retry(q, NULL, 0, &changed) == ML_OK && changed == 0);

    /* remove: all or nothing, running entries refused, ids never reused */
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 2);
    ml_queue_entry_free(&e);
    int64_t rm[] = {3, 2};
    CHECK(ml_queue_remove(q, rm, 2) == ML_ESTATE);
    CHECK(strcmp(ml_errmsg(), "entry 2 is running; stop its runner first") == 0);
    CHECK(state(q, 3) == ML_QUEUE_PENDING);
    CHECK(ml_queue_remove(q, rm, 1) == ML_OK);
    CHECK(state(q, 3) == ML_QUEUE_NSTATES);
    CHECK(ml_queue_remove(q, rm, 1) == ML_EARG);
    int64_t d = add(q, "d.lua");
    CHECK(d == 4);
    int64_t counts[ML_QUEUE_NSTATES];
    CHECK(ml_queue_counts(q, counts) == ML_OK);
    CHECK(counts[ML_QUEUE_DONE] == 1 && counts[ML_QUEUE_RUNNING] == 1 &&
          counts[ML_QUEUE_PENDING] == 1 && counts[ML_QUEUE_FAILED] == 0);
    ml_queue_close(q);
}

/* Several processes claim from one queue at once: every entry is claimed exactly once. */
static void test_concurrent_claims(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/race.db", dir);
    ml_queue_t *q = NULL;
    CHECK(ml_queue_open(&q, path, 1, 5000) == ML_OK);
    if (!q)
        return;
    enum { N = 60, P = 4 };
    for (int i = 0; i < N; i++)
        add(q, "s.lua");
    ml_queue_close(q);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t kids[P];
    for (int k = 0; k < P; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(fds[0]);
            ml_queue_t *mine = NULL;
            if (ml_queue_open(&mine, path, 0, 20000) != ML_OK)
                _exit(2);
            for (;;) {
                ml_queue_entry_t e;
                int got = 0, held = 0;
                if (ml_queue_claim(mine, &e, &got) != ML_OK)
                    _exit(3);
                if (!got)
                    break;
                int64_t id = e.id;
                ml_queue_entry_free(&e);
                if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id)
                    _exit(4);
                if (ml_queue_finish(mine, id, ML_QUEUE_DONE, 0, 0, NULL, NULL, &held) != ML_OK ||
                    !held)
                    _exit(5);
            }
            ml_queue_close(mine);
            _exit(0);
        }
    }
    close(fds[1]);
    int seen[N + 1] = {0}, total = 0;
    int64_t id;
    while (read(fds[0], &id, sizeof id) == (ssize_t)sizeof id) {
        total++;
        if (id >= 1 && id <= N)
            seen[id]++;
    }
    close(fds[0]);
    for (int k = 0; k < P; k++) {
        int status = -1;
        waitpid(kids[k], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "claimer %d: status %d", k,
                  status);
    }
    CHECK_MSG(total == N, "%d claims for %d entries", total, N);
    int once = 0;
    for (int i = 1; i <= N; i++)
        once += seen[i] == 1;
    CHECK_MSG(once == N, "%d of %d entries claimed exactly once", once, N);
}

static void test_recover(void)
{
    char path[160];
    snprintf(path, sizeof path, "%s/recover.db", dir);
    snprintf(db, sizeof db, "%s", path);
    ml_queue_t *q = NULL;
    CHECK(ml_queue_open(&q, path, 1, 5000) == ML_OK);
    if (!q)
        return;
    for (int i = 0; i < 5; i++)
        add(q, "s.lua");

    /* entry 1: claimed by this (live) runner */
    ml_queue_entry_t e;
    int got = 0;
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 1);
    ml_queue_entry_free(&e);

    /* entry 2: claimed by a runner that then dies without a word, leaving its process running */
    pid_t runner = fork();
    if (runner == 0) {
        ml_queue_t *mine = NULL;
        ml_queue_entry_t me;
        int g = 0;
        if (ml_queue_open(&mine, path, 0, 5000) != ML_OK || ml_queue_claim(mine, &me, &g) || !g)
            _exit(2);
        const char *argv[] = {"/bin/sleep", "30", NULL};
        ml_proc_t p;
        if (ml_proc_spawn(&p, argv, 0, NULL) || ml_queue_started(mine, me.id, p.pid))
            _exit(3);
        _exit(0); /* as if killed: no finish, no release */
    }
    int status = -1;
    waitpid(runner, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(ml_queue_get(q, 2, &e) == ML_OK);
    CHECK(e.state == ML_QUEUE_RUNNING && e.runner_pid == (int64_t)runner);
    pid_t orphan = (pid_t)e.pid;
    ml_queue_entry_free(&e);
    char tok[128];
    CHECK(orphan > 0 && ml_proc_token(orphan, tok, sizeof tok) == 1);

    /* entries 3, 4, 5: running on another host (old and fresh heartbeats), and on this host
     * before a restart of the machine */
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 3);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 4);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_claim(q, &e, &got) == ML_OK && got && e.id == 5);
    ml_queue_entry_free(&e);
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE entries SET host = 'elsewhere', heartbeat = %.3f WHERE id = 3",
             ml_proc_now() - 600);
    poke(sql);
    snprintf(sql, sizeof sql,
             "UPDATE entries SET host = 'elsewhere', heartbeat = %.3f WHERE id = 4",
             ml_proc_now() - 5);
    poke(sql);
    poke("UPDATE entries SET runner_token = 'an-older-boot:12345' WHERE id = 5");

    int64_t n = -1;
    CHECK(ml_queue_recover(q, 60, &n) == ML_OK);
    CHECK_MSG(n == 3, "recovered %lld", (long long)n);
    CHECK(state(q, 1) == ML_QUEUE_RUNNING);
    CHECK(state(q, 2) == ML_QUEUE_PENDING);
    CHECK(state(q, 3) == ML_QUEUE_PENDING);
    CHECK(state(q, 4) == ML_QUEUE_RUNNING);
    CHECK(state(q, 5) == ML_QUEUE_PENDING);
    CHECK(ml_queue_get(q, 2, &e) == ML_OK);
    CHECK_MSG(strstr(e.reason, "is gone; its process") && strstr(e.reason, "was killed"), "%s",
              e.reason);
    CHECK(e.started == 0 && e.attempts == 1);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_get(q, 3, &e) == ML_OK);
    CHECK_MSG(strstr(e.reason, "on elsewhere sent no heartbeat for 600 s") != NULL, "%s", e.reason);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_get(q, 5, &e) == ML_OK);
    CHECK_MSG(strstr(e.reason, "restart of the machine") != NULL, "%s", e.reason);
    ml_queue_entry_free(&e);
    /* the orphan was killed (it may linger a moment as a zombie, which does not count) */
    int alive = 1;
    for (int i = 0; i < 100 && alive; i++) {
        alive = ml_proc_token(orphan, tok, sizeof tok);
        if (alive)
            sleep_ms(20);
    }
    CHECK(!alive);

    /* the heartbeat keeps a live runner's entries fresh for other hosts' judgement */
    poke("UPDATE entries SET heartbeat = 1 WHERE id = 1");
    CHECK(ml_queue_heartbeat(q) == ML_OK);
    CHECK(ml_queue_get(q, 1, &e) == ML_OK);
    CHECK(e.heartbeat > ml_proc_now() - 60);
    ml_queue_entry_free(&e);
    CHECK(ml_queue_recover(q, 60, &n) == ML_OK && n == 0);
    ml_queue_close(q);
}

static void test_token(void)
{
    char a[128], b[128];
    CHECK(ml_proc_token(getpid(), a, sizeof a) == 1);
    CHECK(ml_proc_token(getpid(), b, sizeof b) == 1 && strcmp(a, b) == 0);
    CHECK(strchr(a, ':') != NULL);
    CHECK(ml_proc_token(0, a, sizeof a) == 0);
    pid_t kid = fork();
    if (kid == 0)
        _exit(0);
    int status;
    /* until the child has exited, left unreaped (a fixed sleep is too short under valgrind) */
    siginfo_t info;
    CHECK(waitid(P_PID, (id_t)kid, &info, WEXITED | WNOWAIT) == 0);
    CHECK(ml_proc_token(kid, a, sizeof a) == 0); /* a zombie has finished */
    waitpid(kid, &status, 0);
    CHECK(ml_proc_token(kid, a, sizeof a) == 0);
}

/* The process helpers the runner relies on: a child started in another directory, the
 * working directory, and a poll ended early by a child's exit. */
static void test_proc_helpers(void)
{
    char log[160], sub[160], cwd[4096];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    snprintf(log, sizeof log, "%s/pwd.log", dir);
    CHECK(mkdir(sub, 0755) == 0);
    const char *argv[] = {"/bin/sh", "-c", "pwd", NULL};
    ml_proc_t p;
    ml_proc_status_t st;
    CHECK(ml_proc_spawn_in(&p, argv, 0, log, sub) == ML_OK);
    CHECK(ml_proc_wait(p.pid, 1, &st) == ML_OK && st.state == 1 && st.code == 0);
    FILE *f = fopen(log, "r");
    char line[256] = "";
    CHECK(f && fgets(line, sizeof line, f));
    if (f)
        fclose(f);
    line[strcspn(line, "\n")] = '\0';
    CHECK_MSG(strcmp(line, sub) == 0, "child ran in '%s', expected '%s'", line, sub);
    snprintf(sub, sizeof sub, "%s/no-such-dir", dir);
    CHECK(ml_proc_spawn_in(&p, argv, 0, NULL, sub) == ML_EIO);
    CHECK_MSG(strstr(ml_errmsg(), "cannot enter directory") && strstr(ml_errmsg(), sub),
              "message: %s", ml_errmsg());

    CHECK(ml_proc_cwd(cwd, sizeof cwd) == ML_OK);
    CHECK(getcwd(line, sizeof line) && strcmp(cwd, line) == 0);

    ml_proc_wake_on_child_exit();
    const char *quick[] = {"/bin/sleep", "0.3", NULL}; /* exits while the poll waits */
    CHECK(ml_proc_spawn(&p, quick, 0, NULL) == ML_OK);
    int ready = 0;
    double t0 = ml_proc_now();
    ml_proc_poll(&ready, 0, 5000, &ready);
    double waited = ml_proc_now() - t0;
    CHECK_MSG(waited < 2.5, "poll waited %.2f s after the child had exited", waited);
    CHECK(ml_proc_wait(p.pid, 1, &st) == ML_OK && st.state == 1);
    signal(SIGCHLD, SIG_DFL);
}

static void rm_rf(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/moonlab-queue.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db, sizeof db, "%s/queue.db", dir);
    test_open_errors();
    test_entries();
    test_life_cycle();
    test_concurrent_claims();
    test_recover();
    test_token();
    test_proc_helpers();
    rm_rf();
    return check_report("queue");
}
