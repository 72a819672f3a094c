/*
 * store_int.h - the store's internals (src/store), shared by its files;
 * not part of its interface (store.h).
 *
 *   store.c       open and close, the schema and the migrations of older
 *                 data directories, the prepared statements, transactions
 *                 and the write probe, the checkpointer thread
 *   store_exec.c  state machines, definitions, executions, retention
 *   store_log.c   the input log and the history events (bounded rows, the
 *                 split of older rows), payload compression
 *
 * Every statement is prepared once at open into s->q[Q_*] and kept: at
 * thousands of executions per second, preparing SQL would cost more than
 * running it. The store__ functions are for these files only; the small
 * statement helpers below are static inline (they were, in one file).
 * Threading: the loop's; the checkpointer's thread (store.c) touches
 * s->ck alone.
 */
#ifndef SFN_STORE_INT_H
#define SFN_STORE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "store.h"

/* The prepared statements (their SQL: sql_text, store.c). */
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
    Q_EXP_MOCK,
    Q_MOCK_SET,
    Q_MOCK_GET,
    Q__COUNT
};

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

/* A buffer a payload is deflated or inflated into, kept for the next. */
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
    z_stream zd, zi;  /* kept: deflateInit allocates ~256 KB (format 1) */
    ZSTD_CCtx *zc;    /* format 2 (zstd), made on first use */
    ZSTD_DCtx *zx;
    ZSTD_CDict *zcd;
    ZSTD_DDict *zdd;
    int zd_ok, zi_ok; /* 1: initialised */
    zbuf zw[ZW__COUNT], zr[ZR__COUNT];
};

/* ---- statements: the helpers of every file --------------------------------- */
/* Prepared statement `which`, reset, its bindings cleared. */
static inline sqlite3_stmt *stmt(store *s, int which)
{
    sqlite3_stmt *st = s->q[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* Run a statement that returns no rows; leaves it reset. */
static inline int run_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EEXIST;
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

/* Bind text (NULL: SQL NULL), not copied: valid until the statement runs. */
static inline void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Column i as text, copied (malloc'd); NULL for NULL. */
static inline char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

/* ---- store_log.c: payloads -------------------------------------------------- */
/* Bind a payload (len < 0: strlen) as a deflated blob from write slot w
 * (ZW_*), or as text when short or when deflate does not make it smaller
 * (or compression is off). */
void store__bind_payload(store *s, sqlite3_stmt *st, int i, const char *v, long len, int w);
/* Column i of a row as text: a TEXT value as SQLite holds it (valid until
 * the statement moves on), a blob inflated into read slot r (ZR_*, valid
 * until that slot is used again), NULL for NULL and for a blob that does
 * not inflate (corruption: *bad is set when bad is not NULL). *len (may be
 * NULL) gets its length. */
const char *store__col_payload(store *s, sqlite3_stmt *st, int i, int r, size_t *len, int *bad);
/* A payload column copied (malloc'd); NULL for NULL, or when out of
 * memory or corrupt. */
char *store__payload_dup(store *s, sqlite3_stmt *st, int i, int r);

/* ---- store_log.c: history rows ---------------------------------------------- */
/* Split once the unbounded rows of databases written before rows were
 * bounded (called at open). Not fatal when it fails: such rows read right,
 * only slower, and it is tried again at the next open. */
int store__split_old_rows(store *s);

#endif
