/*
 * store.c - SQLite persistence for sfnd (see store.h).
 *
 * Every statement is prepared once and kept: at thousands of executions per
 * second, preparing SQL would cost more than running it. This file must not
 * decide anything about executions; it only keeps what the runner tells it.
 */
#include "store.h"
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

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_SM_PUT,
    Q_SM_GET,
    Q_SM_EACH,
    Q_DEF_INSERT,
    Q_DEF_GET,
    Q_EXEC_INSERT,
    Q_EXEC_GET,
    Q_EXEC_GET_ID,
    Q_EXEC_STATUS,
    Q_END_PUT,
    Q_END_DEL,
    Q_EXEC_REDRIVE,
    Q_EXEC_LIST,
    Q_EXEC_LIST_STATUS,
    Q_EXEC_RUNNING,
    Q_EXEC_COUNT,
    Q_IN_APPEND,
    Q_IN_EACH,
    Q_IN_MAX,
    Q_EV_APPEND,
    Q_EV_ASC,
    Q_EV_DESC,
    Q_EV_MAX,
    Q_EV_ONE,
    Q_EXP_PICK,
    Q_EXP_EVENTS,
    Q_EXP_INPUTS,
    Q_EXP_END,
    Q_EXP_EXEC,
    Q__COUNT
};

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
    "CREATE INDEX IF NOT EXISTS executions_closed ON executions(stop_ms) WHERE status<>0;";

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

static int split_old_rows(store *s);

/* The checkpointer: a second connection on its own thread. */
typedef struct ckpt {
    sqlite3 *db;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int want, stop, started, busy;
    int copied;    /* frames the last pass left copied (0: none since) */
    unsigned gen;  /* bumped by each commit to a WAL short of CKPT_FRAMES */
    long passes;   /* runs of the thread */
} ckpt;

/* Payload compression. The large texts (history rows, task results, an
 * execution's input and output) are stored as a BLOB: one format byte
 * (STORE_Z_DICT1), the text's length (4 bytes, little-endian), then raw
 * deflate primed with zdict1 below. A TEXT value is a payload as it was
 * given: short ones, ones deflate does not shrink, and everything written
 * by builds before this one, which readers take unchanged. (A saga's
 * history is about 11 KB of JSON that repeats the trip in nearly every
 * event: per row deflate makes it about 3.3 KB, primed with the words of
 * history events about 2.5 KB.) */
#define STORE_Z_DICT1 1
#define STORE_Z_MIN 96   /* shorter payloads stay text */
#define STORE_Z_HEAD 5
#define STORE_Z_LEVEL 1  /* level 6 saves ~10% more for 3x the CPU */

/* The dictionary of format 1: fixed forever (rows written with it must
 * inflate with it); a new one takes a new format byte. Words of the event
 * JSON that history rows repeat, the most frequent last (deflate reaches
 * the end of its window cheapest). */
static const char zdict1[] =
    "\"ExecutionAborted\",\"executionAbortedEventDetails\":{\"error\":\""
    "\"ExecutionTimedOut\",\"executionTimedOutEventDetails\":{\"error\":\""
    "\"ExecutionRedriven\",\"executionRedrivenEventDetails\":{\"redriveCount\":"
    "\"WaitStateEntered\",\"WaitStateExited\",\"MapStateEntered\",\"MapStateExited\","
    "\"MapStateStarted\",\"MapStateSucceeded\",\"MapIterationStarted\",\"mapIterationStartedEventDetails\""
    "\"MapIterationSucceeded\",\"mapIterationSucceededEventDetails\":{\"name\":\"\",\"index\":"
    "\"ParallelStateEntered\",\"ParallelStateExited\",\"ParallelStateStarted\",\"ParallelStateSucceeded\","
    "\"SucceedStateEntered\",\"SucceedStateExited\",\"FailStateEntered\",\"FailStateExited\","
    "\"TaskScheduled\",\"taskScheduledEventDetails\":{\"resourceType\":\"\",\"resource\":\"\",\"region\":\"us-east-1\",\"parameters\":\""
    "\"TaskStarted\",\"taskStartedEventDetails\":{\"TaskSucceeded\",\"taskSucceededEventDetails\":{"
    "\"TaskFailed\",\"taskFailedEventDetails\":{\"TaskTimedOut\",\"taskTimedOutEventDetails\":{"
    "\"LambdaFunctionTimedOut\",\"lambdaFunctionTimedOutEventDetails\":{\"error\":\"States.Timeout\""
    "\"ExecutionFailed\",\"executionFailedEventDetails\":{\"error\":\"\",\"cause\":\""
    "\"LambdaFunctionFailed\",\"lambdaFunctionFailedEventDetails\":{\"error\":\""
    "{\"errorMessage\":\"\",\"errorType\":\"\",\"stackTrace\":[]}"
    "\"ExecutionSucceeded\",\"executionSucceededEventDetails\":{\"output\":\"{\\\""
    "\"ExecutionStarted\",\"executionStartedEventDetails\":{\"input\":\"{\\\""
    "\"roleArn\":\"arn:aws:iam::123456789012:role/"
    "\"type\":\"PassStateEntered\",\"stateEnteredEventDetails\":{\"name\":\""
    "\"type\":\"PassStateExited\",\"stateExitedEventDetails\":{\"name\":\""
    "\"type\":\"ChoiceStateEntered\",\"stateEnteredEventDetails\":{\"name\":\""
    "\"type\":\"ChoiceStateExited\",\"stateExitedEventDetails\":{\"name\":\""
    "\"resource\":\"arn:aws:lambda:us-east-1:123456789012:function:\",\"timeoutInSeconds\":"
    "\"type\":\"LambdaFunctionScheduled\",\"lambdaFunctionScheduledEventDetails\":{\"input\":\"{\\\""
    "\"type\":\"LambdaFunctionStarted\"}"
    "\"type\":\"LambdaFunctionSucceeded\",\"lambdaFunctionSucceededEventDetails\":{\"output\":\"{\\\""
    "\"type\":\"TaskStateEntered\",\"stateEnteredEventDetails\":{\"name\":\""
    "\"type\":\"TaskStateExited\",\"stateExitedEventDetails\":{\"name\":\""
    "arn:aws:states:us-east-1:123456789012:stateMachine:"
    "\\\"executionId\\\":\\\"arn:aws:states:us-east-1:123456789012:execution:"
    "\\\"redriveCount\\\":0}\\\":{\\\"\\\"},\\\"\\\":\\\"\\\",\\\"T00:00:00.000Z\\\",\\\""
    "\"input\":@\"output\":@\"inputDetails\":{\"truncated\":false}}"
    "\"outputDetails\":{\"truncated\":false}}}\n"
    "{\"id\":\"previousEventId\":\"timestamp\":1.7";

typedef struct zbuf {
    char *p;
    size_t cap;
} zbuf;

/* Where a payload is deflated for binding (one per value bound in one
 * statement) and inflated for reading (one per value a caller may hold at
 * once: an event's text is read inside a walk over events). */
enum { ZW_BODY, ZW_RESULT, ZW_INPUT, ZW_OUTPUT, ZW__COUNT };
enum { ZR_BODY, ZR_TEXT, ZR_RESULT, ZR_INPUT, ZR_OUTPUT, ZR__COUNT };

struct store {
    int compress; /* store_set_compress: payloads written deflated */
    sqlite3 *db;
    sqlite3_stmt *q[Q__COUNT];
    int in_txn;
    int lockfd; /* <path>-lock, flock'd: one sfnd per database (-1: none) */
    int no_shm; /* opened on a full disk: exclusive, no checkpoint thread */
    ckpt ck;
    z_stream zd, zi;  /* kept: deflateInit allocates ~256 KB */
    int zd_ok, zi_ok; /* 1: initialised */
    zbuf zw[ZW__COUNT], zr[ZR__COUNT];
};

static int zbuf_reserve(zbuf *b, size_t n)
{
    if (n <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < n)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* Deflate v[0..len) into slot w; *n gets the blob's size. -1 when zlib or
 * memory fails (the caller stores the text instead). */
static int z_pack(store *s, int w, const char *v, size_t len, size_t *n)
{
    z_stream *z = &s->zd;
    if (!s->zd_ok) {
        if (deflateInit2(z, STORE_Z_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
        s->zd_ok = 1;
    } else if (deflateReset(z) != Z_OK) {
        return -1;
    }
    if (deflateSetDictionary(z, (const Bytef *)zdict1, sizeof zdict1 - 1) != Z_OK)
        return -1;
    size_t bound = STORE_Z_HEAD + deflateBound(z, (uLong)len);
    zbuf *b = &s->zw[w];
    if (zbuf_reserve(b, bound) != 0)
        return -1;
    unsigned char *h = (unsigned char *)b->p;
    h[0] = STORE_Z_DICT1;
    for (int i = 0; i < 4; i++)
        h[1 + i] = (unsigned char)(len >> (8 * i));
    z->next_in = (Bytef *)v;
    z->avail_in = (uInt)len;
    z->next_out = h + STORE_Z_HEAD;
    z->avail_out = (uInt)(bound - STORE_Z_HEAD);
    if (deflate(z, Z_FINISH) != Z_STREAM_END)
        return -1;
    *n = STORE_Z_HEAD + z->total_out;
    return 0;
}

/* Bind a payload (len < 0: strlen) as a deflated blob from slot w, or as
 * text when short or when deflate does not make it smaller. */
static void bind_payload(store *s, sqlite3_stmt *st, int i, const char *v, long len, int w)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
        return;
    }
    size_t l = len < 0 ? strlen(v) : (size_t)len, n = 0;
    if (s->compress && l >= STORE_Z_MIN && l < 0x7fffffff && z_pack(s, w, v, l, &n) == 0 && n < l)
        sqlite3_bind_blob(st, i, s->zw[w].p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, i, v, (int)l, SQLITE_STATIC);
}

/* Column i of a row as text: a TEXT value as SQLite holds it (valid until
 * the statement moves on), a blob inflated into read slot r (valid until
 * that slot is used again), NULL for NULL and for a blob that does not
 * inflate (corruption: *bad is set when bad is not NULL). *len (may be
 * NULL) gets its length. */
static const char *col_payload(store *s, sqlite3_stmt *st, int i, int r, size_t *len, int *bad)
{
    if (len)
        *len = 0;
    int type = sqlite3_column_type(st, i);
    if (type == SQLITE_NULL)
        return NULL;
    if (type != SQLITE_BLOB) {
        const char *t = (const char *)sqlite3_column_text(st, i);
        if (len)
            *len = (size_t)sqlite3_column_bytes(st, i);
        return t;
    }
    const unsigned char *h = sqlite3_column_blob(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    if (h == NULL || n < STORE_Z_HEAD || h[0] != STORE_Z_DICT1)
        goto bad;
    size_t out = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
    z_stream *z = &s->zi;
    if (!s->zi_ok) {
        if (inflateInit2(z, -15) != Z_OK)
            goto bad;
        s->zi_ok = 1;
    } else if (inflateReset(z) != Z_OK) {
        goto bad;
    }
    zbuf *b = &s->zr[r];
    if (inflateSetDictionary(z, (const Bytef *)zdict1, sizeof zdict1 - 1) != Z_OK ||
        zbuf_reserve(b, out + 1) != 0)
        goto bad;
    z->next_in = (Bytef *)(h + STORE_Z_HEAD);
    z->avail_in = (uInt)(n - STORE_Z_HEAD);
    z->next_out = (Bytef *)b->p;
    z->avail_out = (uInt)out;
    if (inflate(z, Z_FINISH) != Z_STREAM_END || z->total_out != out)
        goto bad;
    b->p[out] = '\0';
    if (len)
        *len = out;
    return b->p;
bad:
    if (bad)
        *bad = 1;
    return NULL;
}

/* A payload column copied (malloc'd); NULL for NULL, or when out of
 * memory or corrupt. */
static char *payload_dup(store *s, sqlite3_stmt *st, int i, int r)
{
    const char *t = col_payload(s, st, i, r, NULL, NULL);
    return t ? strdup(t) : NULL;
}

static sqlite3_stmt *stmt(store *s, int which)
{
    sqlite3_stmt *st = s->q[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Run a statement that returns no rows; leaves it reset. */
static int run_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EEXIST;
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

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
    if (sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK)
        goto fail_exec;
    if ((!has_table(s->db, "event_log", "seq") &&
         sqlite3_exec(s->db, migrate_step_inputs, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "events", "body") &&
         sqlite3_exec(s->db, migrate_events, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "event_batches", "body") &&
         sqlite3_exec(s->db, migrate_batches, NULL, NULL, &err) != SQLITE_OK) ||
        (has_table(s->db, "inputs", "kind") &&
         sqlite3_exec(s->db, migrate_inputs, NULL, NULL, &err) != SQLITE_OK))
        goto fail_exec;
    for (int i = 0; i < Q__COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i],
                               NULL) != SQLITE_OK)
            goto fail_db;
    }
    /* not fatal: old rows read right, only slower (split_old_rows) */
    (void)split_old_rows(s);
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
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->zd_ok)
        deflateEnd(&s->zd);
    if (s->zi_ok)
        inflateEnd(&s->zi);
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

/* ---- state machines ---------------------------------------------------- */
int store_sm_put(store *s, const store_sm *sm)
{
    sqlite3_stmt *st = stmt(s, Q_SM_PUT);
    bind_text(st, 1, sm->arn);
    bind_text(st, 2, sm->name);
    bind_text(st, 3, sm->role_arn);
    sqlite3_bind_int(st, 4, sm->type);
    sqlite3_bind_int64(st, 5, sm->def_id);
    sqlite3_bind_int64(st, 6, sm->created_ms);
    sqlite3_bind_int64(st, 7, sm->updated_ms);
    sqlite3_bind_int(st, 8, sm->from_template);
    sqlite3_bind_int(st, 9, sm->deleted);
    return run_done(st);
}

static void sm_from_row(sqlite3_stmt *st, store_sm *out, int dup)
{
    if (dup) {
        out->arn = col_dup(st, 0);
        out->name = col_dup(st, 1);
        out->role_arn = col_dup(st, 2);
    } else {
        out->arn = (char *)sqlite3_column_text(st, 0);
        out->name = (char *)sqlite3_column_text(st, 1);
        out->role_arn = (char *)sqlite3_column_text(st, 2);
    }
    out->type = sqlite3_column_int(st, 3);
    out->def_id = sqlite3_column_int64(st, 4);
    out->created_ms = sqlite3_column_int64(st, 5);
    out->updated_ms = sqlite3_column_int64(st, 6);
    out->from_template = sqlite3_column_int(st, 7);
    out->deleted = sqlite3_column_int(st, 8);
}

int store_sm_get(store *s, const char *arn, store_sm *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = stmt(s, Q_SM_GET);
    bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        sm_from_row(st, out, 1);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

void store_sm_cleanup(store_sm *sm)
{
    if (sm == NULL)
        return;
    free(sm->arn);
    free(sm->name);
    free(sm->role_arn);
    memset(sm, 0, sizeof *sm);
}

int store_sm_each(store *s, int (*cb)(void *ctx, const store_sm *sm), void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_SM_EACH);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_sm sm;
        sm_from_row(st, &sm, 0);
        int r = cb(ctx, &sm);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

int store_def_insert(store *s, const char *sm_arn, const char *definition, int type, int64_t *id)
{
    sqlite3_stmt *st = stmt(s, Q_DEF_INSERT);
    bind_text(st, 1, sm_arn);
    bind_text(st, 2, definition);
    sqlite3_bind_int(st, 3, type);
    int rc = run_done(st);
    if (rc == STORE_OK)
        *id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

int store_def_get(store *s, int64_t id, char **definition, int *type)
{
    sqlite3_stmt *st = stmt(s, Q_DEF_GET);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *definition = col_dup(st, 0);
        *type = sqlite3_column_int(st, 1);
        sqlite3_reset(st);
        return *definition ? STORE_OK : STORE_EDB;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

/* ---- executions -------------------------------------------------------- */
int store_exec_insert(store *s, store_exec *x)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_INSERT);
    bind_text(st, 1, x->arn);
    bind_text(st, 2, x->sm_arn);
    bind_text(st, 3, x->name);
    bind_payload(s, st, 4, x->input, -1, ZW_INPUT);
    sqlite3_bind_int(st, 5, x->status);
    sqlite3_bind_int64(st, 6, x->start_ms);
    sqlite3_bind_int64(st, 7, x->stop_ms);
    sqlite3_bind_int64(st, 8, (int64_t)x->seed);
    sqlite3_bind_int64(st, 9, x->def_id);
    bind_payload(s, st, 10, x->output, -1, ZW_OUTPUT);
    bind_text(st, 11, x->error);
    bind_text(st, 12, x->cause);
    sqlite3_bind_int(st, 13, x->redrive_count);
    sqlite3_bind_int64(st, 14, x->redrive_ms);
    int rc = run_done(st);
    if (rc == STORE_OK)
        x->id = sqlite3_last_insert_rowid(s->db);
    return rc;
}

static void exec_from_row(store *s, sqlite3_stmt *st, store_exec *x, int dup)
{
    x->id = sqlite3_column_int64(st, 0);
    char **strs[] = {&x->arn, &x->sm_arn, &x->name};
    for (int i = 0; i < 3; i++)
        *strs[i] = dup ? col_dup(st, 1 + i) : (char *)sqlite3_column_text(st, 1 + i);
    x->input = dup ? payload_dup(s, st, 4, ZR_INPUT)
                   : (char *)col_payload(s, st, 4, ZR_INPUT, NULL, NULL);
    x->status = sqlite3_column_int(st, 5);
    x->start_ms = sqlite3_column_int64(st, 6);
    x->stop_ms = sqlite3_column_int64(st, 7);
    x->seed = (uint64_t)sqlite3_column_int64(st, 8);
    x->def_id = sqlite3_column_int64(st, 9);
    x->output = dup ? payload_dup(s, st, 10, ZR_OUTPUT)
                    : (char *)col_payload(s, st, 10, ZR_OUTPUT, NULL, NULL);
    char **strs2[] = {&x->error, &x->cause};
    for (int i = 0; i < 2; i++)
        *strs2[i] = dup ? col_dup(st, 11 + i) : (char *)sqlite3_column_text(st, 11 + i);
    x->redrive_count = sqlite3_column_int(st, 13);
    x->redrive_ms = sqlite3_column_int64(st, 14);
}

static int exec_get(store *s, sqlite3_stmt *st, store_exec *out)
{
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        exec_from_row(s, st, out, 1);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

int store_exec_get(store *s, const char *arn, store_exec *out)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_GET);
    bind_text(st, 1, arn);
    return exec_get(s, st, out);
}

int store_exec_get_id(store *s, int64_t id, store_exec *out)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_GET_ID);
    sqlite3_bind_int64(st, 1, id);
    return exec_get(s, st, out);
}

void store_exec_cleanup(store_exec *x)
{
    if (x == NULL)
        return;
    free(x->arn);
    free(x->sm_arn);
    free(x->name);
    free(x->input);
    free(x->output);
    free(x->error);
    free(x->cause);
    memset(x, 0, sizeof *x);
}

int store_exec_set_status(store *s, int64_t id, int status, int64_t stop_ms, const char *output,
                          const char *error, const char *cause)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_STATUS);
    sqlite3_bind_int(st, 1, status);
    sqlite3_bind_int64(st, 2, stop_ms);
    sqlite3_bind_int64(st, 3, id);
    int rc = run_done(st);
    if (rc != STORE_OK)
        return rc;
    if (output == NULL && error == NULL && cause == NULL) {
        st = stmt(s, Q_END_DEL); /* running again (redrive), or ended with nothing */
        sqlite3_bind_int64(st, 1, id);
        return run_done(st);
    }
    st = stmt(s, Q_END_PUT);
    sqlite3_bind_int64(st, 1, id);
    bind_payload(s, st, 2, output, -1, ZW_OUTPUT);
    bind_text(st, 3, error);
    bind_text(st, 4, cause);
    return run_done(st);
}

int store_exec_set_redrive(store *s, int64_t id, int redrive_count, int64_t redrive_ms)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_REDRIVE);
    sqlite3_bind_int(st, 1, redrive_count);
    sqlite3_bind_int64(st, 2, redrive_ms);
    sqlite3_bind_int64(st, 3, id);
    return run_done(st);
}

static int exec_walk(store *s, sqlite3_stmt *st, int limit, int (*cb)(void *, const store_exec *),
                     void *ctx, int64_t *last_id, int *count)
{
    int rc;
    *count = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_exec x;
        exec_from_row(s, st, &x, 0);
        *last_id = x.id;
        (*count)++;
        int r = cb(ctx, &x);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
        if (limit > 0 && *count >= limit)
            break;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? STORE_OK : STORE_EDB;
}

int store_exec_list(store *s, const char *sm_arn, int status, int64_t after, int limit,
                    int (*cb)(void *ctx, const store_exec *x), void *ctx, int64_t *next_after)
{
    sqlite3_stmt *st = stmt(s, status < 0 ? Q_EXEC_LIST : Q_EXEC_LIST_STATUS);
    bind_text(st, 1, sm_arn);
    sqlite3_bind_int64(st, 2, after > 0 ? after : INT64_MAX);
    /* One row more than asked tells whether another page exists. */
    int fetch = limit > 0 ? limit + 1 : -1;
    if (status < 0) {
        sqlite3_bind_int(st, 3, fetch);
    } else {
        sqlite3_bind_int(st, 3, status);
        sqlite3_bind_int(st, 4, fetch);
    }
    int64_t last = 0;
    int count = 0, rc;
    *next_after = 0;
    for (;;) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            break;
        if (limit > 0 && count == limit) {
            *next_after = last;
            break;
        }
        store_exec x;
        exec_from_row(s, st, &x, 0);
        last = x.id;
        count++;
        int r = cb(ctx, &x);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? STORE_OK : STORE_EDB;
}

int store_exec_each_running(store *s, int (*cb)(void *ctx, const store_exec *x), void *ctx)
{
    int64_t last;
    int count;
    return exec_walk(s, stmt(s, Q_EXEC_RUNNING), 0, cb, ctx, &last, &count);
}

int store_exec_count(store *s, const char *sm_arn, int64_t *n)
{
    sqlite3_stmt *st = stmt(s, Q_EXEC_COUNT);
    bind_text(st, 1, sm_arn);
    int rc = sqlite3_step(st);
    *n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_EDB;
}

/* ---- retention --------------------------------------------------------- */
static int exec_remove(store *s, int64_t id)
{
    static const int del[] = {Q_EXP_EVENTS, Q_EXP_INPUTS, Q_EXP_END, Q_EXP_EXEC};
    for (size_t k = 0; k < sizeof del / sizeof del[0]; k++) {
        sqlite3_stmt *st = stmt(s, del[k]);
        sqlite3_bind_int64(st, 1, id);
        int rc = run_done(st);
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

int store_exec_expire(store *s, int64_t before_ms, int limit, int *removed)
{
    *removed = 0;
    if (limit <= 0)
        return STORE_OK;
    int64_t *ids = malloc((size_t)limit * sizeof *ids);
    if (ids == NULL)
        return STORE_EDB;
    /* the ids first: the table is not changed under a running SELECT */
    sqlite3_stmt *st = stmt(s, Q_EXP_PICK);
    sqlite3_bind_int64(st, 1, before_ms);
    sqlite3_bind_int(st, 2, limit);
    int n = 0, rc;
    while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (n < limit && rc != SQLITE_DONE) {
        free(ids);
        return STORE_EDB;
    }
    if (n == 0) {
        free(ids);
        return STORE_OK;
    }
    /* A savepoint: a failure (a full disk) undoes this batch alone, not
     * the caller's transaction, unless SQLite rolled all of it back. */
    int own = !s->in_txn;
    if (sqlite3_exec(s->db, "SAVEPOINT expire", NULL, NULL, NULL) != SQLITE_OK) {
        free(ids);
        return STORE_EDB;
    }
    rc = STORE_OK;
    for (int i = 0; i < n && rc == STORE_OK; i++)
        rc = exec_remove(s, ids[i]);
    free(ids);
    if (rc == STORE_OK && sqlite3_exec(s->db, "RELEASE expire", NULL, NULL, NULL) == SQLITE_OK) {
        *removed = n;
        return STORE_OK;
    }
    if (!sqlite3_get_autocommit(s->db)) {
        sqlite3_exec(s->db, "ROLLBACK TO expire", NULL, NULL, NULL);
        sqlite3_exec(s->db, "RELEASE expire", NULL, NULL, NULL);
    } else if (!own) {
        s->in_txn = 0; /* SQLite ended the caller's transaction */
    }
    return STORE_EDB;
}

/* ---- inputs ------------------------------------------------------------ */
/* An input's seq, kind, task_id, now_ms, result, error, cause: the same
 * columns, in that order, in input_log and in a step's event_log row,
 * bound from parameter `first` on. */
static void bind_input(store *s, sqlite3_stmt *st, int first, const store_input *in)
{
    sqlite3_bind_int64(st, first, in->seq);
    sqlite3_bind_int(st, first + 1, in->kind);
    sqlite3_bind_int64(st, first + 2, (int64_t)in->id);
    sqlite3_bind_int64(st, first + 3, in->now_ms);
    bind_payload(s, st, first + 4, in->result, -1, ZW_RESULT);
    bind_text(st, first + 5, in->error);
    bind_text(st, first + 6, in->cause);
}

int store_input_append(store *s, int64_t exec_id, const store_input *in)
{
    sqlite3_stmt *st = stmt(s, Q_IN_APPEND);
    sqlite3_bind_int64(st, 1, exec_id);
    bind_input(s, st, 2, in);
    return run_done(st);
}

int store_input_each(store *s, int64_t exec_id, int (*cb)(void *ctx, const store_input *in),
                     void *ctx)
{
    sqlite3_stmt *st = stmt(s, Q_IN_EACH);
    sqlite3_bind_int64(st, 1, exec_id);
    int rc, bad = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_input in = {
            .seq = sqlite3_column_int64(st, 0),
            .kind = sqlite3_column_int(st, 1),
            .id = (uint64_t)sqlite3_column_int64(st, 2),
            .now_ms = sqlite3_column_int64(st, 3),
            .result = col_payload(s, st, 4, ZR_RESULT, NULL, &bad),
            .error = (const char *)sqlite3_column_text(st, 5),
            .cause = (const char *)sqlite3_column_text(st, 6),
        };
        if (bad)
            break;
        int r = cb(ctx, &in);
        if (r != 0) {
            sqlite3_reset(st);
            return r;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

static int max_of(store *s, int which, int64_t exec_id, int64_t *out)
{
    sqlite3_stmt *st = stmt(s, which);
    sqlite3_bind_int64(st, 1, exec_id);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_EDB;
}

int store_input_next_seq(store *s, int64_t exec_id, int64_t *seq)
{
    int64_t m;
    int rc = max_of(s, Q_IN_MAX, exec_id, &m);
    *seq = m + 1;
    return rc;
}

/* ---- events ------------------------------------------------------------ */
/* A step's events are stored in rows of at most STORE_ROW_EVENTS events and
 * about STORE_ROW_BYTES of text (a row holds at least one event). A page of
 * history, or one event read for the payload a later one refers to, then
 * costs a few rows, whatever the step made: an inline Map or a loop of Pass
 * states can make 25,000 events in one step, and reading one of them used
 * to mean reading and splitting that whole row. */
#define STORE_ROW_EVENTS 64
#define STORE_ROW_BYTES (64 * 1024)

/* The length of the first row's worth of text[0..len): whole lines (one
 * event each), at most STORE_ROW_EVENTS and about STORE_ROW_BYTES; *lines
 * gets their count. When the row reaches the step's last event (n lines) or
 * the text's end, it is the whole rest (len): what does not split into n
 * lines is kept as it was given. The '\n' after a row is in neither row. */
static size_t row_cut(const char *text, size_t len, int64_t n, int64_t *lines)
{
    const char *p = text, *end = text + len;
    int64_t k = 0;
    for (;;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        *lines = ++k;
        if (nl == NULL || k >= n)
            return len;
        if (k == STORE_ROW_EVENTS || (size_t)(nl - text) >= STORE_ROW_BYTES)
            return (size_t)(nl - text);
        p = nl + 1;
    }
}

/* Insert the events first_id..last_id (their lines in text) as bounded rows;
 * the step's input (may be NULL) goes with the first. */
static int rows_append(store *s, int64_t exec_id, int64_t first_id, int64_t last_id,
                       const char *text, size_t len, const store_input *in)
{
    for (;;) {
        int64_t lines;
        size_t cut = row_cut(text, len, last_id - first_id + 1, &lines);
        int64_t row_last = cut == len ? last_id : first_id + lines - 1;
        sqlite3_stmt *st = stmt(s, Q_EV_APPEND);
        sqlite3_bind_int64(st, 1, exec_id);
        sqlite3_bind_int64(st, 2, first_id);
        sqlite3_bind_int64(st, 3, row_last);
        bind_payload(s, st, 4, text, (long)cut, ZW_BODY);
        if (in) /* else the input columns stay NULL (stmt cleared them) */
            bind_input(s, st, 5, in);
        int rc = run_done(st);
        if (rc != STORE_OK || cut == len)
            return rc;
        in = NULL;
        first_id = row_last + 1;
        text += cut + 1;
        len -= cut + 1;
    }
}

/* Databases written before rows were bounded (user_version < 1) may hold
 * rows of thousands of events: split them once, at open. Readers take rows
 * of any size, so when this cannot run (a full disk, say) the database is
 * still read right, only such rows cost more; it is tried again at the
 * next open. */
#define STORE_VERSION_BOUNDED_ROWS 1

static int split_one_row(store *s, sqlite3_stmt *get, sqlite3_stmt *del, int64_t id)
{
    sqlite3_reset(get);
    sqlite3_bind_int64(get, 1, id);
    if (sqlite3_step(get) != SQLITE_ROW)
        return STORE_EDB;
    int64_t exec_id = sqlite3_column_int64(get, 0);
    int64_t first = sqlite3_column_int64(get, 1), last = sqlite3_column_int64(get, 2);
    size_t len;
    int bad = 0;
    const char *body = col_payload(s, get, 3, ZR_BODY, &len, &bad);
    char *copy = bad ? NULL : malloc(len + 1);
    if (copy == NULL)
        return STORE_EDB;
    memcpy(copy, body ? body : "", len);
    copy[len] = '\0';
    /* the input columns: copies too, the row goes before its parts come */
    char *str[3] = {NULL, NULL, NULL};
    store_input in = {0}, *inp = NULL;
    int rc = STORE_OK;
    if (sqlite3_column_type(get, 4) != SQLITE_NULL) {
        in.seq = sqlite3_column_int64(get, 4);
        in.kind = sqlite3_column_int(get, 5);
        in.id = (uint64_t)sqlite3_column_int64(get, 6);
        in.now_ms = sqlite3_column_int64(get, 7);
        for (int i = 0; i < 3; i++) {
            const char *t = i == 0 ? col_payload(s, get, 8, ZR_RESULT, NULL, NULL)
                                   : (const char *)sqlite3_column_text(get, 8 + i);
            if (t != NULL && (str[i] = strdup(t)) == NULL)
                rc = STORE_EDB;
        }
        in.result = str[0];
        in.error = str[1];
        in.cause = str[2];
        inp = &in;
    }
    sqlite3_reset(get);
    if (rc == STORE_OK) {
        sqlite3_reset(del);
        sqlite3_bind_int64(del, 1, id);
        rc = run_done(del);
    }
    if (rc == STORE_OK)
        rc = rows_append(s, exec_id, first, last, copy, len, inp);
    free(copy);
    for (int i = 0; i < 3; i++)
        free(str[i]);
    return rc;
}

static int split_old_rows(store *s)
{
    sqlite3_stmt *ver = NULL, *ids = NULL, *get = NULL, *del = NULL;
    int64_t *v = NULL;
    size_t n = 0, cap = 0;
    int rc = STORE_EDB, version = 0;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &ver, NULL) != SQLITE_OK)
        goto done;
    if (sqlite3_step(ver) == SQLITE_ROW)
        version = sqlite3_column_int(ver, 0);
    if (version >= STORE_VERSION_BOUNDED_ROWS) {
        rc = STORE_OK;
        goto done;
    }
    if (run_done(stmt(s, Q_BEGIN)) != STORE_OK)
        goto done;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM event_log WHERE last_id-first_id>=?", -1, &ids,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT exec_id,first_id,last_id,body,seq,kind,task_id,now_ms,result,"
                           "error,cause FROM event_log WHERE id=?",
                           -1, &get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "DELETE FROM event_log WHERE id=?", -1, &del, NULL) != SQLITE_OK)
        goto rollback;
    /* the ids first: the table is not changed under a running SELECT */
    sqlite3_bind_int(ids, 1, STORE_ROW_EVENTS);
    int r;
    while ((r = sqlite3_step(ids)) == SQLITE_ROW) {
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            int64_t *nv = realloc(v, nc * sizeof *nv);
            if (nv == NULL)
                goto rollback;
            v = nv;
            cap = nc;
        }
        v[n++] = sqlite3_column_int64(ids, 0);
    }
    if (r != SQLITE_DONE)
        goto rollback;
    for (size_t i = 0; i < n; i++)
        if (split_one_row(s, get, del, v[i]) != STORE_OK)
            goto rollback;
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", STORE_VERSION_BOUNDED_ROWS);
    if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK ||
        run_done(stmt(s, Q_COMMIT)) != STORE_OK)
        goto rollback;
    rc = STORE_OK;
    goto done;
rollback:
    run_done(stmt(s, Q_ROLLBACK));
done:
    free(v);
    sqlite3_finalize(ver);
    sqlite3_finalize(ids);
    sqlite3_finalize(get);
    sqlite3_finalize(del);
    return rc;
}

int store_step_append(store *s, int64_t exec_id, int64_t first_id, int64_t last_id,
                      const char *text, size_t len, const store_input *in)
{
    if (first_id < 1 || last_id < first_id || last_id > 0xffffffffLL)
        return STORE_EDB;
    return rows_append(s, exec_id, first_id, last_id, text, len, in);
}

int store_events_append(store *s, int64_t exec_id, int64_t first_id, int64_t last_id,
                        const char *text, size_t len)
{
    return store_step_append(s, exec_id, first_id, last_id, text, len, NULL);
}

int store_event_append(store *s, int64_t exec_id, int64_t event_id, const char *type,
                       const char *json)
{
    (void)type;
    return store_events_append(s, exec_id, event_id, event_id, json, strlen(json));
}

/* Hand the events of one batch row that fall in [from, to] to cb, in the
 * asked order; counts against *left. Returns cb's nonzero, 1 when the
 * limit is reached, else 0. */
static int batch_walk(const char *body, size_t len, int64_t first, int64_t from, int64_t to,
                      int reverse, int *left, int *stop,
                      int (*cb)(void *, int64_t, const char *, const char *), void *ctx,
                      char **tmp, size_t *tmpcap)
{
    /* split into lines; at most last-first+1 of them */
    const char *starts[64];
    size_t lens[64];
    const char **sv = starts;
    size_t *lv = lens;
    size_t n = 0, cap = 64;
    const char **heap_s = NULL;
    size_t *heap_l = NULL;
    for (const char *p = body, *end = body + len; p <= end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (n == cap) {
            size_t nc = cap * 2;
            const char **ns = malloc(nc * sizeof *ns);
            size_t *nlv = malloc(nc * sizeof *nlv);
            if (ns == NULL || nlv == NULL) {
                free(ns);
                free(nlv);
                free(heap_s);
                free(heap_l);
                return STORE_EDB;
            }
            memcpy(ns, sv, n * sizeof *ns);
            memcpy(nlv, lv, n * sizeof *nlv);
            free(heap_s);
            free(heap_l);
            sv = heap_s = ns;
            lv = heap_l = nlv;
            cap = nc;
        }
        sv[n] = p;
        lv[n] = (size_t)(e - p);
        n++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    int rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++) {
        size_t i = reverse ? n - 1 - j : j;
        int64_t id = first + (int64_t)i;
        if (id < from || id > to)
            continue;
        if (*left == 0) {
            *stop = 1;
            break;
        }
        if (lv[i] + 1 > *tmpcap) {
            char *t = realloc(*tmp, lv[i] + 1);
            if (t == NULL) {
                rc = STORE_EDB;
                break;
            }
            *tmp = t;
            *tmpcap = lv[i] + 1;
        }
        memcpy(*tmp, sv[i], lv[i]);
        (*tmp)[lv[i]] = '\0';
        if (*left > 0)
            (*left)--;
        /* the type, for callers that filter on it: "type":"<name>" */
        char type[64] = "";
        const char *tp = strstr(*tmp, "\"type\":\"");
        if (tp) {
            tp += 8;
            size_t k = 0;
            while (tp[k] && tp[k] != '"' && k + 1 < sizeof type) {
                type[k] = tp[k];
                k++;
            }
            type[k] = '\0';
        }
        rc = cb(ctx, id, type, *tmp);
    }
    free(heap_s);
    free(heap_l);
    return rc;
}

int store_event_each(store *s, int64_t exec_id, int64_t from_id, int64_t to_id, int reverse,
                     int limit,
                     int (*cb)(void *ctx, int64_t id, const char *type, const char *json),
                     void *ctx)
{
    if (to_id <= 0 || to_id > 0xffffffffLL)
        to_id = 0xffffffffLL;
    if (from_id < 1)
        from_id = 1;
    sqlite3_stmt *st = stmt(s, reverse ? Q_EV_DESC : Q_EV_ASC);
    sqlite3_bind_int64(st, 1, exec_id);
    sqlite3_bind_int64(st, 2, from_id);
    sqlite3_bind_int64(st, 3, to_id);
    int left = limit > 0 ? limit : -1;
    char *tmp = NULL;
    size_t tmpcap = 0;
    int rc, r = 0, stop = 0, bad = 0;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t first = sqlite3_column_int64(st, 0);
        size_t len;
        const char *body = col_payload(s, st, 2, ZR_BODY, &len, &bad);
        if (bad) {
            r = STORE_EDB;
            break;
        }
        r = batch_walk(body ? body : "", body ? len : 0, first, from_id, to_id, reverse, &left,
                       &stop, cb, ctx, &tmp, &tmpcap);
        if (r != 0)
            break;
    }
    free(tmp);
    sqlite3_reset(st);
    if (r != 0)
        return r;
    return stop || rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

int store_event_text(store *s, int64_t exec_id, int64_t id, char **text)
{
    *text = NULL;
    sqlite3_stmt *st = stmt(s, Q_EV_ONE);
    sqlite3_bind_int64(st, 1, exec_id);
    sqlite3_bind_int64(st, 2, id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
    }
    int64_t first = sqlite3_column_int64(st, 0);
    size_t plen;
    int bad = 0;
    const char *p = col_payload(s, st, 1, ZR_TEXT, &plen, &bad);
    const char *end = p ? p + plen : NULL;
    if (bad) {
        sqlite3_reset(st);
        return STORE_EDB;
    }
    for (int64_t k = first; p && k < id; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : NULL;
    }
    rc = STORE_ENOENT;
    if (p && id >= first) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        *text = strndup(p, (size_t)((nl ? nl : end) - p));
        rc = *text ? STORE_OK : STORE_EDB;
    }
    sqlite3_reset(st);
    return rc;
}

int store_event_max(store *s, int64_t exec_id, int64_t *max_id)
{
    sqlite3_stmt *st = stmt(s, Q_EV_MAX);
    sqlite3_bind_int64(st, 1, exec_id);
    int rc = sqlite3_step(st);
    *max_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : STORE_EDB;
}

void store_set_compress(store *s, int on)
{
    if (s)
        s->compress = on != 0;
}
