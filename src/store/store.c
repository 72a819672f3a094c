/*
 * store.c - SQLite persistence for sfnd (see store.h): open and close, the
 * schema and the migrations of older data directories, the prepared
 * statements, transactions and the write probe, and the checkpointer
 * thread. State machines and executions are in store_exec.c, the input
 * and event logs and payload compression in store_log.c (store_int.h).
 *
 * Every statement is prepared once and kept: at thousands of executions per
 * second, preparing SQL would cost more than running it. This file must not
 * decide anything about executions; it only keeps what the runner tells it.
 */
#include "store_int.h"
#include "store_meta.h"
#include "sqlvfs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

/* The WAL is checkpointed by a thread once it holds CKPT_FRAMES frames;
 * past CKPT_FORCE_FRAMES (the thread cannot catch up) the committing
 * thread checkpoints it itself, in RESTART mode. */
#define CKPT_FRAMES 1000
#define CKPT_FORCE_FRAMES 16000
#define CKPT_TAIL_FRAMES 64 /* a pass that copies fewer ends the thread's run */

/* ---- statements, schema, migrations ------------------------------------- */
static const char *const sql_text[Q__COUNT] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_SM_PUT] = "INSERT OR REPLACE INTO state_machines(arn,name,role_arn,type,def_id,created_ms,"
                 "updated_ms,from_template,deleted) VALUES(?,?,?,?,?,?,?,?,?)",
    [Q_SM_GET] = "SELECT arn,name,role_arn,type,def_id,created_ms,updated_ms,from_template,deleted "
                 "FROM state_machines WHERE arn=?",
    [Q_SM_EACH] = "SELECT arn,name,role_arn,type,def_id,created_ms,updated_ms,from_template,deleted "
                  "FROM state_machines WHERE deleted=0 ORDER BY arn",
    [Q_DEF_INSERT] = "INSERT INTO definitions(sm_arn,definition,type) VALUES(?,?,?)",
    [Q_DEF_GET] = "SELECT definition,type FROM definitions WHERE id=?",
    [Q_EXEC_INSERT] = "INSERT INTO executions(arn,sm_arn,name,input,status,start_ms,stop_ms,seed,"
                      "def_id,output,error,cause,redrive_count,redrive_ms) "
                      "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
/* An ended execution's output, error and cause are in exec_end (rows
 * before it kept them in executions: coalesce). */
#define EXEC_COLS                                                                                  \
    "e.id,e.arn,e.sm_arn,e.name,e.input,e.status,e.start_ms,e.stop_ms,e.seed,e.def_id,"           \
    "coalesce(x.output,e.output),coalesce(x.error,e.error),coalesce(x.cause,e.cause),"            \
    "e.redrive_count,e.redrive_ms FROM executions e LEFT JOIN exec_end x ON x.exec_id=e.id"
    [Q_EXEC_GET] = "SELECT " EXEC_COLS " WHERE e.arn=?",
    [Q_EXEC_GET_ID] = "SELECT " EXEC_COLS " WHERE e.id=?",
    [Q_EXEC_STATUS] = "UPDATE executions SET status=?,stop_ms=?,output=NULL,error=NULL,cause=NULL "
                      "WHERE id=?",
    [Q_END_PUT] = "INSERT OR REPLACE INTO exec_end(exec_id,output,error,cause) VALUES(?,?,?,?)",
    [Q_END_DEL] = "DELETE FROM exec_end WHERE exec_id=?",
    [Q_EXEC_REDRIVE] = "UPDATE executions SET redrive_count=?,redrive_ms=? WHERE id=?",
    [Q_EXEC_LIST] = "SELECT " EXEC_COLS " WHERE e.sm_arn=? AND e.id<? "
                    "ORDER BY e.id DESC LIMIT ?",
    [Q_EXEC_LIST_STATUS] = "SELECT " EXEC_COLS " WHERE e.sm_arn=? AND e.id<? "
                           "AND e.status=? ORDER BY e.id DESC LIMIT ?",
    [Q_EXEC_RUNNING] = "SELECT " EXEC_COLS " WHERE e.status=0 ORDER BY e.id",
    [Q_EXEC_COUNT] = "SELECT count(*) FROM executions WHERE sm_arn=?",
    /* The two logs are append-only: rowid tables whose new rows go to the
     * right-most leaf, each found again through a small index. (Keyed by
     * execution, every step's row landed inside the b-tree among the other
     * running executions' rows and split a page: about 26 WAL pages, 106 KB,
     * written per saga for 18 KB of data.) */
    [Q_IN_APPEND] = "INSERT INTO input_log(exec_id,seq,kind,task_id,now_ms,result,error,cause) "
                    "VALUES(?,?,?,?,?,?,?,?)",
    /* An input is kept in the row of the step it caused (event_log), and
     * in input_log only when that step made no event (or was written by an
     * earlier version): two more b-trees written per commit, for nothing. */
    [Q_IN_EACH] = "SELECT seq,kind,task_id,now_ms,result,error,cause FROM input_log "
                  "WHERE exec_id=?1 UNION ALL "
                  "SELECT seq,kind,task_id,now_ms,result,error,cause FROM event_log "
                  "WHERE exec_id=?1 AND seq IS NOT NULL ORDER BY 1",
    [Q_IN_MAX] = "SELECT max(coalesce((SELECT max(seq) FROM input_log WHERE exec_id=?1),0),"
                 "coalesce((SELECT max(seq) FROM event_log WHERE exec_id=?1),0))",
    /* One row per step: the events first..last as text joined by '\n'
     * (compact JSON never holds a raw newline). */
    [Q_EV_APPEND] = "INSERT INTO event_log(exec_id,first_id,last_id,body,seq,kind,task_id,now_ms,"
                    "result,error,cause) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [Q_EV_ASC] = "SELECT first_id,last_id,body FROM event_log WHERE exec_id=? AND last_id>=? "
                 "AND first_id<=? ORDER BY last_id",
    /* Backwards from the row that holds id ?3 (the least last_id >= ?3),
     * found through the index: filtering on first_id<=?3 alone walked
     * every row after the page first. */
    [Q_EV_DESC] = "SELECT first_id,last_id,body FROM event_log WHERE exec_id=?1 AND last_id>=?2 "
                  "AND last_id<=coalesce((SELECT min(last_id) FROM event_log WHERE exec_id=?1 "
                  "AND last_id>=?3),?3) AND first_id<=?3 ORDER BY last_id DESC",
    [Q_EV_MAX] = "SELECT max(last_id) FROM event_log WHERE exec_id=?",
    [Q_EV_ONE] = "SELECT first_id,body FROM event_log WHERE exec_id=? AND last_id>=? "
                 "ORDER BY last_id LIMIT 1",
    /* Retention: the oldest ended executions, through executions_closed
     * (its WHERE must be the partial index's, word for word). */
    [Q_EXP_PICK] = "SELECT id FROM executions WHERE status<>0 AND stop_ms<? "
                   "ORDER BY stop_ms LIMIT ?",
    [Q_EXP_EVENTS] = "DELETE FROM event_log WHERE exec_id=?",
    [Q_EXP_INPUTS] = "DELETE FROM input_log WHERE exec_id=?",
    [Q_EXP_END] = "DELETE FROM exec_end WHERE exec_id=?",
    [Q_EXP_EXEC] = "DELETE FROM executions WHERE id=? AND status<>0",
    /* an execution's mock test case (store_mock.c) */
    [Q_EXP_MOCK] = "DELETE FROM exec_mock WHERE exec_id=?",
    [Q_MOCK_SET] = "INSERT OR REPLACE INTO exec_mock(exec_id,test_case) VALUES(?,?)",
    [Q_MOCK_GET] = "SELECT test_case FROM exec_mock WHERE exec_id=?",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS state_machines("
    " arn TEXT PRIMARY KEY, name TEXT NOT NULL, role_arn TEXT, type INTEGER NOT NULL,"
    " def_id INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    " from_template INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS definitions("
    " id INTEGER PRIMARY KEY, sm_arn TEXT NOT NULL, definition TEXT NOT NULL,"
    " type INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS executions("
    " id INTEGER PRIMARY KEY, arn TEXT NOT NULL UNIQUE, sm_arn TEXT NOT NULL, name TEXT NOT NULL,"
    " input TEXT NOT NULL, status INTEGER NOT NULL, start_ms INTEGER NOT NULL,"
    " stop_ms INTEGER NOT NULL, seed INTEGER NOT NULL, def_id INTEGER NOT NULL, output TEXT,"
    " error TEXT, cause TEXT, redrive_count INTEGER NOT NULL DEFAULT 0,"
    " redrive_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS executions_sm ON executions(sm_arn, id);"
    /* What an execution ended with, apart from its row: written there, the
     * output grew a row among the running executions' rows at every end,
     * split pages and rewrote neighbours (about 5 WAL pages per commit,
     * against 2 with this append-mostly table). */
    "CREATE TABLE IF NOT EXISTS exec_end("
    " exec_id INTEGER PRIMARY KEY, output TEXT, error TEXT, cause TEXT);"
    /* No index on status: recovery, the one reader, scans the table once
     * at start-up, and the index cost a page or two in every commit (the
     * insert at start, the delete at the end). */
    "DROP INDEX IF EXISTS executions_running;"
    "CREATE TABLE IF NOT EXISTS input_log("
    " id INTEGER PRIMARY KEY, exec_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " kind INTEGER NOT NULL, task_id INTEGER NOT NULL, now_ms INTEGER NOT NULL, result TEXT,"
    " error TEXT, cause TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS input_log_exec ON input_log(exec_id, seq);"
    "CREATE TABLE IF NOT EXISTS event_log("
    " id INTEGER PRIMARY KEY, exec_id INTEGER NOT NULL, first_id INTEGER NOT NULL,"
    " last_id INTEGER NOT NULL, body TEXT NOT NULL,"
    " seq INTEGER, kind INTEGER, task_id INTEGER, now_ms INTEGER, result TEXT, error TEXT,"
    " cause TEXT);"
    "CREATE UNIQUE INDEX IF NOT EXISTS event_log_exec ON event_log(exec_id, last_id);"
    /* Ended executions by stop time, for retention (store_exec_expire):
     * an execution enters it when it ends, at the right-most leaf, about
     * one page per group commit; running ones are not in it. */
    "CREATE INDEX IF NOT EXISTS executions_closed ON executions(stop_ms) WHERE status<>0;"
    /* The test case of the mock configuration an execution runs (started
     * on <stateMachineArn>#<TestCaseName>); most executions have none. */
    "CREATE TABLE IF NOT EXISTS exec_mock(exec_id INTEGER PRIMARY KEY, test_case TEXT NOT NULL);";

/* Data directories written by earlier versions: move their rows over,
 * in key order so each execution's rows keep their order. */
static const char migrate_events[] =
    "INSERT INTO event_log(exec_id,first_id,last_id,body) "
    "SELECT exec_id,id,id,body FROM events ORDER BY exec_id,id;"
    "DROP TABLE events;";
static const char migrate_batches[] =
    "INSERT INTO event_log(exec_id,first_id,last_id,body) "
    "SELECT k>>32,k&0xffffffff,last_id,body FROM event_batches ORDER BY k;"
    "DROP TABLE event_batches;";
/* An event_log from before inputs were kept in it: the columns, empty. */
static const char migrate_step_inputs[] =
    "ALTER TABLE event_log ADD COLUMN seq INTEGER;"
    "ALTER TABLE event_log ADD COLUMN kind INTEGER;"
    "ALTER TABLE event_log ADD COLUMN task_id INTEGER;"
    "ALTER TABLE event_log ADD COLUMN now_ms INTEGER;"
    "ALTER TABLE event_log ADD COLUMN result TEXT;"
    "ALTER TABLE event_log ADD COLUMN error TEXT;"
    "ALTER TABLE event_log ADD COLUMN cause TEXT;";
static const char migrate_inputs[] =
    "INSERT INTO input_log(exec_id,seq,kind,task_id,now_ms,result,error,cause) "
    "SELECT exec_id,seq,kind,task_id,now_ms,result,error,cause FROM inputs "
    "ORDER BY exec_id,seq;"
    "DROP TABLE inputs;";

static int has_table(sqlite3 *db, const char *table, const char *column)
{
    return sqlite3_table_column_metadata(db, NULL, table, column, NULL, NULL, NULL, NULL,
                                         NULL) == SQLITE_OK;
}

/* ---- the owner lock and the checkpointer -------------------------------- */
/* One sfnd per database: a second one on the same --data fails at once
 * instead of sharing it. */
static int owner_lock(store *s, const char *path, char *errbuf, size_t errlen)
{
    char lp[4096];
    if ((size_t)snprintf(lp, sizeof lp, "%s-lock", path) >= sizeof lp) {
        snprintf(errbuf, errlen, "%s: path too long", path);
        return STORE_EDB;
    }
    s->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lockfd < 0) {
        snprintf(errbuf, errlen, "%s: %s", lp, strerror(errno));
        return STORE_EDB;
    }
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        snprintf(errbuf, errlen, "%s: %s", path,
                 errno == EWOULDBLOCK ? "in use by another process" : strerror(errno));
        return STORE_EDB;
    }
    return STORE_OK;
}

/* The checkpointer's thread: PASSIVE checkpoints, which never wait for
 * the writer, so commits go on while it copies and fsyncs. Each pass
 * copies what was committed during the previous one; passes repeat until
 * one finds little new. The WAL is restarted (written again from its
 * beginning) only by a transaction that begins when it is all copied,
 * which, with commits every millisecond, a thread cannot time: the
 * committing thread copies the last few frames itself (on_wal_commit). */
static void *ckpt_main(void *arg)
{
    store *s = arg;
    ckpt *c = &s->ck;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->want && !c->stop)
            pthread_cond_wait(&c->cv, &c->mu);
        if (c->stop)
            break;
        c->want = 0;
        c->busy = 1;
        unsigned gen = c->gen;
        pthread_mutex_unlock(&c->mu);
        int nlog = 0, nckpt = 0, before = -1;
        for (int pass = 0; pass < 4; pass++) {
            if (sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt) !=
                    SQLITE_OK ||
                nckpt < 0 || (before >= 0 && nckpt - before < CKPT_TAIL_FRAMES))
                break;
            before = nckpt;
        }
        pthread_mutex_lock(&c->mu);
        c->busy = 0;
        /* a pass that saw the WAL restart counts for nothing */
        c->copied = nckpt > 0 && gen == c->gen ? nckpt : 0;
        c->passes++;
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* After each commit (sqlite3_wal_hook, which replaces SQLite's automatic
 * checkpoint), once the WAL is long: if the checkpointer has copied most
 * of it and is idle, copy the rest here, so that the next transaction
 * restarts the WAL; else wake the checkpointer. Past CKPT_FORCE_FRAMES
 * (it cannot keep up) checkpoint here in RESTART mode, so the WAL cannot
 * grow without bound. */
static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
    store *s = ud;
    ckpt *c = &s->ck;
    if (frames < CKPT_FRAMES) {
        /* a WAL this short was restarted since the last pass: what that
         * pass copied counts no more */
        pthread_mutex_lock(&c->mu);
        c->copied = 0;
        c->gen++;
        pthread_mutex_unlock(&c->mu);
        return SQLITE_OK;
    }
    if (frames >= CKPT_FORCE_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&c->mu);
    /* at most a few commits' frames: the copy runs on the committing thread */
    int finish = !c->busy && c->copied > 0 && frames - c->copied <= 2 * CKPT_TAIL_FRAMES;
    if (finish)
        c->copied = 0;
    else if (!c->busy && !c->want) {
        c->want = 1;
        pthread_cond_signal(&c->cv);
    }
    pthread_mutex_unlock(&c->mu);
    if (finish)
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    return SQLITE_OK;
}

static int ckpt_start(store *s, const char *path)
{
    ckpt *c = &s->ck;
    /* a first read opens the WAL: until then the connection would take
     * the database for a rollback-journal one, with nothing to checkpoint */
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, sqlvfs_gather()) != SQLITE_OK ||
        sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK)
        return STORE_EDB;
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return STORE_EDB;
    if (pthread_cond_init(&c->cv, NULL) != 0) {
        pthread_mutex_destroy(&c->mu);
        return STORE_EDB;
    }
    /* The thread takes no signals: they are the loop's (signalfd), and a
     * thread that left SIGTERM unblocked would die of it. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&c->thread, NULL, ckpt_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        return STORE_EDB;
    }
    c->started = 1;
    sqlite3_wal_hook(s->db, on_wal_commit, s);
    return STORE_OK;
}

static void ckpt_stop(store *s)
{
    ckpt *c = &s->ck;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->stop = 1;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
        pthread_cond_destroy(&c->cv);
        pthread_mutex_destroy(&c->mu);
        c->started = 0;
        sqlite3_wal_hook(s->db, NULL, NULL);
    }
    sqlite3_close(c->db);
    c->db = NULL;
}

long store_checkpoints(store *s)
{
    if (!s->ck.started)
        return 0;
    pthread_mutex_lock(&s->ck.mu);
    long n = s->ck.passes;
    pthread_mutex_unlock(&s->ck.mu);
    return n;
}

/* ---- open, close ------------------------------------------------------- */
/* Open the connection, set it up and prepare the statements. exclusive:
 * the wal-index in heap memory instead of the -shm file (for a full disk,
 * where the file cannot be made). */
static int open_db(store *s, const char *path, int sync_full, int exclusive, char *errbuf,
                   size_t errlen)
{
    char *err = NULL;
    /* Through the VFS that writes a commit's log frames in one call (it
     * was about 40 pwrite()s per commit on the loop thread). */
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        sqlvfs_gather()) != SQLITE_OK)
        goto fail_db;
    sqlite3_busy_timeout(s->db, 5000);
    if (exclusive && sqlite3_exec(s->db, "PRAGMA locking_mode=EXCLUSIVE", NULL, NULL, &err) != SQLITE_OK)
        goto fail_exec;
    /* Durability: each commit's WAL frames are fsynced before it returns
     * (synchronous=FULL). Checkpoints, which copy the WAL into the
     * database and fsync it, run on their own thread and connection
     * (ckpt_main), off the loop: inside a commit, on the loop thread,
     * each one (1000 pages, 4 MB) stalled every execution for 2 to 13 ms,
     * the benchmark's p99. That second connection is why the database is
     * not opened in exclusive locking mode; one process still owns it, by
     * the flock on <path>-lock. (A large cache_size made every commit
     * slower: not set.) */
    const char *pragmas = sync_full ? "PRAGMA journal_mode=WAL;"
                                      "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;"
                                    : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &err) != SQLITE_OK)
        goto fail_exec;
    if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK ||
        store__act_schema(s, &err) != STORE_OK)
        goto fail_exec;
    if (store__meta_schema(s, errbuf, errlen) != STORE_OK) /* store_meta.c */
        return STORE_EDB;
    if ((!has_table(s->db, "event_log", "seq") &&
         sqlite3_exec(s->db, migrate_step_inputs, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "events", "body") &&
         sqlite3_exec(s->db, migrate_events, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "event_batches", "body") &&
         sqlite3_exec(s->db, migrate_batches, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "inputs", "kind") &&
         sqlite3_exec(s->db, migrate_inputs, NULL, NULL, &err) != SQLITE_OK))
        goto fail_exec;
    if (store__ver_open(s, &err) != STORE_OK)
        goto fail_exec;
    for (int i = 0; i < Q__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
                               NULL) != SQLITE_OK)
            goto fail_db;
    }
    /* not fatal: old rows read right, only slower (split_old_rows) */
    (void)store__split_old_rows(s);
    return STORE_OK;

fail_exec:
    snprintf(errbuf, errlen, "%s: %s", path, err ? err : "error");
    sqlite3_free(err);
    return STORE_EDB;
fail_db:
    snprintf(errbuf, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    return STORE_EDB;
}

/* Undo a failed open_db. */
static void close_db(store *s)
{
    store__ver_close(s);
    for (int i = 0; i < Q__COUNT; i++) {
        sqlite3_finalize(s->q[i]);
        s->q[i] = NULL;
    }
    sqlite3_close(s->db);
    s->db = NULL;
}

int store_open(const char *path, int sync_full, store **out, char *errbuf, size_t errlen)
{
    store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return STORE_EDB;
    }
    s->lockfd = -1;
    int on_disk = strcmp(path, ":memory:") != 0;
    if (sync_full && on_disk && owner_lock(s, path, errbuf, errlen) != STORE_OK) {
        store_close(s);
        return STORE_EDB;
    }
    if (open_db(s, path, sync_full, 0, errbuf, errlen) != STORE_OK) {
        int ec = s->db ? sqlite3_errcode(s->db) : SQLITE_CANTOPEN;
        close_db(s);
        /* A full disk cannot take the -shm file: open with the index in
         * memory (one connection, checkpoints on the loop) so that what
         * is stored can be read, and written again once there is room. */
        if (!on_disk || !sync_full || (ec != SQLITE_FULL && (ec & 0xff) != SQLITE_IOERR) ||
            open_db(s, path, sync_full, 1, errbuf, errlen) != STORE_OK) {
            store_close(s);
            return STORE_EDB;
        }
        s->no_shm = 1;
        *out = s;
        return STORE_OK;
    }
    if (sync_full && on_disk && ckpt_start(s, path) != STORE_OK) {
        snprintf(errbuf, errlen, "%s: %s", path, sqlite3_errmsg(s->db));
        store_close(s);
        return STORE_EDB;
    }
    *out = s;
    return STORE_OK;
}

int store_no_shm(const store *s)
{
    return s->no_shm;
}

void store_close(store *s)
{
    if (s == NULL)
        return;
    if (s->in_txn)
        store_rollback(s);
    ckpt_stop(s);
    store__ver_close(s);
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->zd_ok)
        deflateEnd(&s->zd);
    if (s->zi_ok)
        inflateEnd(&s->zi);
    ZSTD_freeCCtx(s->zc);
    ZSTD_freeDCtx(s->zx);
    ZSTD_freeCDict(s->zcd);
    ZSTD_freeDDict(s->zdd);
    for (int i = 0; i < ZW__COUNT; i++)
        free(s->zw[i].p);
    for (int i = 0; i < ZR__COUNT; i++)
        free(s->zr[i].p);
    free(s);
}

const char *store_errmsg(store *s)
{
    return sqlite3_errmsg(s->db);
}

/* ---- transactions -------------------------------------------------------- */
int store_begin(store *s)
{
    if (s->in_txn)
        return STORE_OK;
    int rc = run_done(stmt(s, Q_BEGIN));
    if (rc == STORE_OK)
        s->in_txn = 1;
    return rc;
}

int store_commit(store *s)
{
    if (!s->in_txn)
        return STORE_OK;
    int rc = run_done(stmt(s, Q_COMMIT));
    if (rc == STORE_OK)
        s->in_txn = 0;
    return rc;
}

void store_rollback(store *s)
{
    if (!s->in_txn)
        return;
    run_done(stmt(s, Q_ROLLBACK));
    s->in_txn = 0;
}

int store_probe(store *s)
{
    if (s->in_txn)
        return STORE_EDB;
    static const char put[] = "BEGIN IMMEDIATE;"
                              "CREATE TABLE IF NOT EXISTS probe(k INTEGER PRIMARY KEY, v BLOB);"
                              "INSERT OR REPLACE INTO probe VALUES(1, zeroblob(65536));"
                              "COMMIT;";
    if (sqlite3_exec(s->db, put, NULL, NULL, NULL) != SQLITE_OK) {
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return STORE_EDB;
    }
    /* its pages go back to the free list, for the next writes */
    (void)sqlite3_exec(s->db, "DELETE FROM probe", NULL, NULL, NULL);
    return STORE_OK;
}

int store_in_txn(const store *s)
{
    return s->in_txn;
}

