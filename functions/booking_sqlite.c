/*
 * booking_sqlite.c - the booking store on SQLite (the local backend; see
 * booking.h for the rules, booking.c for where they are written).
 *
 * Each write reads the item, applies the rule and writes the item back
 * inside one BEGIN IMMEDIATE transaction, so two function processes
 * racing on one trip (a retry and a late original, a cancel and a late
 * book, two executions of one trip) are serialised. Writers queue on a
 * lock file (flock) before BEGIN: the kernel wakes the next one when the
 * lock is free, where SQLite's busy handler has every waiting process
 * poll (with a dozen function processes, the polling cost more CPU than
 * the writes: bench).
 */
#include "booking_int.h"
#include "sqlvfs.h"

#include <sqlite3.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define SQLITE_BUSY_MS 15000
#define SQLITE_CKPT_FRAMES 1000 /* SQLite's own auto-checkpoint size (4 MB of WAL) */
#define PURGE_EVERY 64          /* writes between two sweeps of expired tombstones */
#define PURGE_BATCH 32

/* The statements, prepared once per store: parsing SQL again on every
 * invocation cost more than running it. */
enum sql_stmt { Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_READ, Q_PUT, Q_COUNT, Q_PURGE, Q_COUNT_ALL };

struct booking_sqlite {
    sqlite3 *db;
    sqlite3_stmt *q[Q_COUNT_ALL];
    int lockfd;    /* <db>-writer: flock'd around each write (-1: none) */
    int ckpt_due;  /* the WAL is long: checkpoint after this write */
    unsigned writes;
};

static const char *const SCHEMA =
    "CREATE TABLE IF NOT EXISTS bookings ("
    " tripId TEXT NOT NULL, kind TEXT NOT NULL,"
    " status TEXT CHECK (status IN ('BOOKED','CANCELLED')),"
    " details TEXT, bookedAt TEXT, cancelledAt TEXT,"
    " cancelAttempts INTEGER NOT NULL DEFAULT 0,"
    " owner TEXT, cancelledBy TEXT, expiresAt INTEGER,"
    " PRIMARY KEY (tripId, kind)) WITHOUT ROWID";
/* A table made before items had owners gains the columns. */
static const char *const MIGRATIONS[] = {
    "ALTER TABLE bookings ADD COLUMN owner TEXT",
    "ALTER TABLE bookings ADD COLUMN cancelledBy TEXT",
    "ALTER TABLE bookings ADD COLUMN expiresAt INTEGER",
};
static const char *const INDEX =
    "CREATE INDEX IF NOT EXISTS bookings_expiry ON bookings (expiresAt)"
    " WHERE expiresAt IS NOT NULL";

#define ITEM_COLS "status, owner, details, bookedAt, cancelledAt, cancelAttempts, cancelledBy, expiresAt"
static const char *const SQL[Q_COUNT_ALL] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_READ] = "SELECT " ITEM_COLS " FROM bookings WHERE tripId=?1 AND kind=?2",
    [Q_PUT] = "INSERT INTO bookings (tripId, kind, " ITEM_COLS ")"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
              " ON CONFLICT (tripId, kind) DO UPDATE SET status=excluded.status,"
              " owner=excluded.owner, details=excluded.details, bookedAt=excluded.bookedAt,"
              " cancelledAt=excluded.cancelledAt, cancelAttempts=excluded.cancelAttempts,"
              " cancelledBy=excluded.cancelledBy, expiresAt=excluded.expiresAt",
    [Q_COUNT] = "INSERT INTO bookings (tripId, kind, cancelAttempts) VALUES (?1, ?2, 1)"
                " ON CONFLICT (tripId, kind) DO UPDATE"
                " SET cancelAttempts=bookings.cancelAttempts+1"
                " RETURNING cancelAttempts",
    [Q_PURGE] = "DELETE FROM bookings WHERE (tripId, kind) IN (SELECT tripId, kind FROM bookings"
                " WHERE expiresAt <= ?1 AND (status IS NULL OR status <> 'BOOKED') LIMIT 32)",
};

/* After each commit (sqlite3_wal_hook): once the WAL holds
 * SQLITE_CKPT_FRAMES, mark the store for a checkpoint, which the write
 * runs after it has let the next writer in (checkpoint_wal): a checkpoint
 * inside COMMIT held every other function's write for milliseconds. */
static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    if (frames >= SQLITE_CKPT_FRAMES)
        ((struct booking_sqlite *)ud)->ckpt_due = 1;
    return SQLITE_OK;
}

/* Checkpoint in two steps: PASSIVE without the writers' lock (the long
 * copy and fsync, while others write), then the little written meanwhile
 * under the lock, so the next writer restarts the log from its start.
 * (SQLite's automatic checkpoint never caught up with several processes
 * writing without pause: the log grew for good.) */
static void checkpoint_wal(struct booking_sqlite *q)
{
    q->ckpt_due = 0;
    if (sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
        return; /* another process is at it */
    if (q->lockfd < 0 || flock(q->lockfd, LOCK_EX) < 0)
        return;
    sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    flock(q->lockfd, LOCK_UN);
}

/* Waiting for another process's write: 50 us sleeps for the first 2 ms,
 * then 1 ms (SQLite's own 1, 2, 5, 10 ms steps are far longer than a
 * booking holds the lock), up to SQLITE_BUSY_MS in all. */
static int on_busy(void *ud, int tries)
{
    (void)ud;
    long waited_us = tries < 40 ? tries * 50L : 2000L + (tries - 40) * 1000L;
    if (waited_us >= SQLITE_BUSY_MS * 1000L)
        return 0;
    struct timespec ts = {0, tries < 40 ? 50000L : 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

/* Run setup SQL, waiting out a concurrent first opener. */
static int exec_retry(sqlite3 *db, const char *sql)
{
    int rc = SQLITE_OK;
    for (int i = 0; i < 200; i++) {
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            return rc;
        usleep(5000);
    }
    return rc;
}

static int has_column(sqlite3 *db, const char *col)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('bookings')", -1, &st, NULL) ==
        SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            found |= strcmp((const char *)sqlite3_column_text(st, 0), col) == 0;
    sqlite3_finalize(st);
    return found;
}

int bsql_open(booking_store *s, const char *path, booking_err *err)
{
    struct booking_sqlite *q = calloc(1, sizeof *q);
    if (!q)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    s->sql = q;
    q->lockfd = -1;
    /* Through the VFS that writes a commit's log frames in one call, not
     * two per page (src/sqlvfs) */
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        sqlvfs_gather()) != SQLITE_OK)
        goto fail_db;
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0) {
        char lp[4096];
        if ((size_t)snprintf(lp, sizeof lp, "%s-writer", path) < sizeof lp)
            q->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        /* without it, writers still serialise, by polling (on_busy) */
    }
    sqlite3_busy_handler(q->db, on_busy, NULL);
    if (exec_retry(q->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
        exec_retry(q->db, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
        exec_retry(q->db, SCHEMA) != SQLITE_OK)
        goto fail_db;
    static const char *const cols[] = {"owner", "cancelledBy", "expiresAt"};
    for (int i = 0; i < 3; i++)
        if (!has_column(q->db, cols[i]) && exec_retry(q->db, MIGRATIONS[i]) != SQLITE_OK &&
            !has_column(q->db, cols[i])) /* another process may have added it */
            goto fail_db;
    if (exec_retry(q->db, INDEX) != SQLITE_OK)
        goto fail_db;
    sqlite3_wal_hook(q->db, on_wal_commit, q); /* replaces the automatic checkpoint */
    for (int i = 0; i < Q_COUNT_ALL; i++)
        if (sqlite3_prepare_v3(q->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &q->q[i], NULL) !=
            SQLITE_OK)
            goto fail_db;
    return BOOKING_OK;

fail_db:
    return booking_fail(err, BOOKING_EIO, "sqlite %s: %s", path,
                        q->db ? sqlite3_errmsg(q->db) : "cannot open");
}

void bsql_free(booking_store *s)
{
    struct booking_sqlite *q = s->sql;
    if (!q)
        return;
    for (int i = 0; i < Q_COUNT_ALL; i++)
        sqlite3_finalize(q->q[i]);
    if (q->db)
        sqlite3_close(q->db);
    if (q->lockfd >= 0)
        close(q->lockfd);
    free(q);
    s->sql = NULL;
}

/* Step a statement that returns no rows and make it reusable. */
static int run_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static json_t *col_json_text(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    if (!v)
        return json_null();
    json_t *j = json_loadb(v, (size_t)sqlite3_column_bytes(st, i), 0, NULL);
    return j ? j : json_null();
}

static json_t *col_string(sqlite3_stmt *st, int i)
{
    const char *v = (const char *)sqlite3_column_text(st, i);
    return v ? json_stringn(v, (size_t)sqlite3_column_bytes(st, i)) : json_null();
}

/* The item (record shape) or NULL with *rc: BOOKING_ENOENT, EIO, ENOMEM. */
static json_t *read_item(booking_store *s, const char *trip, const char *kind, int *rc,
                         booking_err *err)
{
    struct booking_sqlite *q = s->sql;
    sqlite3_stmt *st = q->q[Q_READ];
    json_t *o = NULL;
    sqlite3_bind_text(st, 1, trip, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        *rc = BOOKING_ENOENT;
    } else if (step != SQLITE_ROW) {
        *rc = booking_fail(err, BOOKING_EIO, "sqlite read: %s", sqlite3_errmsg(q->db));
    } else {
        json_t *cb = col_json_text(st, 6);
        if (!json_is_array(cb)) {
            json_decref(cb);
            cb = json_array();
        }
        o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "tripId", trip,
                      "kind", kind, "status", col_string(st, 0), "owner", col_string(st, 1),
                      "details", col_json_text(st, 2), "bookedAt", col_string(st, 3),
                      "cancelledAt", col_string(st, 4), "cancelAttempts",
                      (json_int_t)sqlite3_column_int64(st, 5), "cancelledBy", cb, "expiresAt",
                      sqlite3_column_type(st, 7) == SQLITE_NULL
                          ? json_null()
                          : json_integer(sqlite3_column_int64(st, 7)));
        *rc = o ? BOOKING_OK : booking_fail(err, BOOKING_ENOMEM, "out of memory");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return o;
}

static void bind_str(sqlite3_stmt *st, int i, const json_t *v)
{
    if (json_is_string(v))
        sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v), SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
    char *t = v && !json_is_null(v) ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (t)
        sqlite3_bind_text(st, i, t, -1, free);
    else
        sqlite3_bind_null(st, i);
}

static int put_item(booking_store *s, const json_t *rec, booking_err *err)
{
    struct booking_sqlite *q = s->sql;
    sqlite3_stmt *st = q->q[Q_PUT];
    bind_str(st, 1, json_object_get(rec, "tripId"));
    bind_str(st, 2, json_object_get(rec, "kind"));
    bind_str(st, 3, json_object_get(rec, "status"));
    bind_str(st, 4, json_object_get(rec, "owner"));
    bind_json(st, 5, json_object_get(rec, "details"));
    bind_str(st, 6, json_object_get(rec, "bookedAt"));
    bind_str(st, 7, json_object_get(rec, "cancelledAt"));
    sqlite3_bind_int64(st, 8, json_integer_value(json_object_get(rec, "cancelAttempts")));
    bind_json(st, 9, json_object_get(rec, "cancelledBy"));
    json_t *e = json_object_get(rec, "expiresAt");
    if (json_is_integer(e))
        sqlite3_bind_int64(st, 10, json_integer_value(e));
    else
        sqlite3_bind_null(st, 10);
    int rc = run_stmt(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_OK)
        return booking_fail(err, BOOKING_EIO, "sqlite write: %s", sqlite3_errmsg(q->db));
    return BOOKING_OK;
}

enum op { OP_BOOK, OP_CANCEL, OP_COUNT };

typedef struct wargs {
    enum op op;
    const char *trip, *kind, *owner;
    const json_t *details;
    json_t *rec;          /* out: the item after the write */
    booking_outcome oc;   /* out */
    long attempts;        /* out (OP_COUNT) */
} wargs;

/* The write itself, inside BEGIN IMMEDIATE. */
static int write_txn(booking_store *s, wargs *a, booking_err *err)
{
    struct booking_sqlite *q = s->sql;
    char now[32];
    booking_now_iso(now);
    long long now_s = booking_now_ms() / 1000;
    int rc = BOOKING_OK;
    if (a->op == OP_COUNT) {
        sqlite3_stmt *st = q->q[Q_COUNT];
        sqlite3_bind_text(st, 1, a->trip, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->kind, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            a->attempts = (long)sqlite3_column_int64(st, 0);
            rc = sqlite3_step(st) == SQLITE_DONE
                     ? BOOKING_OK
                     : booking_fail(err, BOOKING_EIO, "sqlite count: %s", sqlite3_errmsg(q->db));
        } else {
            rc = booking_fail(err, BOOKING_EIO, "sqlite count: %s", sqlite3_errmsg(q->db));
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc;
    }
    json_t *cur = read_item(s, a->trip, a->kind, &rc, err);
    if (rc < 0 && rc != BOOKING_ENOENT)
        return rc;
    if (a->op == OP_BOOK) {
        switch (booking_decide_book(cur, a->owner, now_s)) {
        case V_KEEP:
            a->oc = BOOKING_ALREADY_BOOKED;
            a->rec = cur;
            return BOOKING_OK;
        case V_CONFLICT:
            a->oc = BOOKING_REFUSED;
            a->rec = cur;
            return BOOKING_ECONFLICT;
        case V_REFUSED:
            a->oc = BOOKING_REFUSED;
            a->rec = cur;
            return BOOKING_ECANCELLED;
        default:
            a->oc = BOOKING_BOOKED;
            a->rec = booking_apply_book(cur, a->trip, a->kind, a->owner, a->details, now);
            break;
        }
    } else {
        a->oc = booking_decide_cancel(cur, a->owner, now_s);
        a->rec = booking_apply_cancel(cur, a->trip, a->kind, a->owner, now, now_s + s->ttl_s);
    }
    json_decref(cur);
    if (!a->rec)
        return booking_fail(err, BOOKING_ENOMEM, "out of memory");
    rc = put_item(s, a->rec, err);
    if (rc == BOOKING_OK && ++q->writes % PURGE_EVERY == 0) {
        /* expired tombstones go, a few at a time, with the writes */
        sqlite3_stmt *st = q->q[Q_PURGE];
        sqlite3_bind_int64(st, 1, now_s);
        run_stmt(st);
        sqlite3_clear_bindings(st);
    }
    return rc;
}

static int sql_write(booking_store *s, wargs *a, booking_err *err)
{
    struct booking_sqlite *q = s->sql;
    int locked = 0;
    if (q->lockfd >= 0) {
        int r;
        while ((r = flock(q->lockfd, LOCK_EX)) < 0 && errno == EINTR) {
        }
        locked = r == 0;
    }
    int rc;
    if (run_stmt(q->q[Q_BEGIN]) != SQLITE_OK) {
        rc = booking_fail(err, BOOKING_EIO, "sqlite begin: %s", sqlite3_errmsg(q->db));
    } else {
        rc = write_txn(s, a, err);
        /* a refusal writes nothing but is still an answer: commit the read */
        if ((rc == BOOKING_OK || rc == BOOKING_ECONFLICT || rc == BOOKING_ECANCELLED) &&
            run_stmt(q->q[Q_COMMIT]) != SQLITE_OK)
            rc = booking_fail(err, BOOKING_EIO, "sqlite commit: %s", sqlite3_errmsg(q->db));
        if (!sqlite3_get_autocommit(q->db))
            run_stmt(q->q[Q_ROLLBACK]);
        if (rc == BOOKING_EIO || rc == BOOKING_ENOMEM) {
            json_decref(a->rec);
            a->rec = NULL;
        }
    }
    if (locked)
        flock(q->lockfd, LOCK_UN);
    if (q->ckpt_due)
        checkpoint_wal(q);
    return rc;
}

int bsql_book(booking_store *s, const char *trip, const char *kind, const char *owner,
              const json_t *details, json_t **rec, booking_outcome *out, booking_err *err)
{
    wargs a = {.op = OP_BOOK, .trip = trip, .kind = kind, .owner = owner, .details = details};
    int rc = sql_write(s, &a, err);
    *rec = a.rec;
    *out = a.oc;
    return rc;
}

int bsql_cancel(booking_store *s, const char *trip, const char *kind, const char *owner,
                json_t **rec, booking_outcome *out, booking_err *err)
{
    wargs a = {.op = OP_CANCEL, .trip = trip, .kind = kind, .owner = owner};
    int rc = sql_write(s, &a, err);
    *rec = a.rec;
    *out = a.oc;
    return rc;
}

int bsql_count(booking_store *s, const char *trip, const char *kind, long *attempts,
               booking_err *err)
{
    wargs a = {.op = OP_COUNT, .trip = trip, .kind = kind};
    int rc = sql_write(s, &a, err);
    if (rc == BOOKING_OK)
        *attempts = a.attempts;
    return rc;
}

int bsql_get(booking_store *s, const char *trip, const char *kind, json_t **rec,
             booking_err *err)
{
    int rc = BOOKING_OK;
    *rec = read_item(s, trip, kind, &rc, err);
    return rc;
}
