/*
 * booking.c - the booking store: SQLite and DynamoDB backends (see booking.h).
 *
 * Each operation is one atomic write whose condition carries the saga's
 * rules, so two function processes racing on the same trip (a retry and
 * a late original, a cancel and a late book) cannot interleave badly:
 * SQLite serialises them with BEGIN IMMEDIATE under WAL, DynamoDB with
 * conditional UpdateItem. Nothing here reads-then-writes outside those.
 */
#include "booking.h"
#include "sqlvfs.h"

#include <curl/curl.h>
#include <sqlite3.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SQLITE_BUSY_MS 15000
#define SQLITE_CKPT_FRAMES 1000 /* SQLite's own auto-checkpoint size (4 MB of WAL) */
#define HTTP_TIMEOUT_MS 2500L  /* x3 tries, still below the functions' 10 s Lambda timeout */
#define HTTP_MAX_BODY (1u << 20)
#define HTTP_RETRIES 2

enum backend { BACKEND_SQLITE, BACKEND_DYNAMODB };

/* The SQLite statements, prepared once per store: parsing SQL again on
 * every invocation cost more than running it. */
enum sql_stmt { Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_READ, Q_BOOK, Q_CANCEL, Q_COUNT, Q_COUNT_ALL };

struct booking_store {
    enum backend backend;
    sqlite3 *db;          /* SQLite */
    sqlite3_stmt *q[Q_COUNT_ALL];
    int lockfd;           /* <db>-writer: flock'd around each write (-1: none) */
    int ckpt_due;         /* the WAL is long: checkpoint after this write */
    char *text;           /* the details as JSON text, reused by every book */
    size_t text_len, text_cap;
    CURL *h;              /* DynamoDB */
    char *table, *region, *endpoint;
};

static const char *const kind_names[] = {"HOTEL", "FLIGHT", "CAR"};

const char *booking_kind_name(booking_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : "?";
}

static int fail(booking_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(booking_err *err, int code, const char *fmt, ...)
{
    if (err && !err->msg[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ISO-8601 UTC with milliseconds, like the trip's own timestamps. */
static void now_iso(char out[32])
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* ======================================================================
 * SQLite
 * ==================================================================== */

static const char *const SCHEMA =
    "CREATE TABLE IF NOT EXISTS bookings ("
    " tripId TEXT NOT NULL, kind TEXT NOT NULL,"
    " status TEXT CHECK (status IN ('BOOKED','CANCELLED')),"
    " details TEXT, bookedAt TEXT, cancelledAt TEXT,"
    " cancelAttempts INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (tripId, kind)) WITHOUT ROWID";

/* Each write is one upsert whose condition carries the rule; ?1 tripId,
 * ?2 kind, ?3 details, ?4 the time. (A RETURNING clause instead of the
 * read-back SELECT measured slower: SQLite buffers returned rows in an
 * ephemeral table, while the SELECT finds the pages just written in cache.) */
#define ITEM_COLS "status, details, bookedAt, cancelledAt, cancelAttempts"
static const char *const SQL[Q_COUNT_ALL] = {
    [Q_BEGIN] = "BEGIN IMMEDIATE",
    [Q_COMMIT] = "COMMIT",
    [Q_ROLLBACK] = "ROLLBACK",
    [Q_READ] = "SELECT " ITEM_COLS " FROM bookings WHERE tripId=?1 AND kind=?2",
    /* Only an item with no status yet (absent, or a counted cancel attempt
     * that never completed) becomes BOOKED; BOOKED stays as it was and
     * CANCELLED is never overwritten. */
    [Q_BOOK] = "INSERT INTO bookings (tripId, kind, status, details, bookedAt)"
               " VALUES (?1, ?2, 'BOOKED', ?3, ?4)"
               " ON CONFLICT (tripId, kind) DO UPDATE SET status='BOOKED',"
               " details=excluded.details, bookedAt=excluded.bookedAt"
               " WHERE bookings.status IS NULL",
    [Q_CANCEL] = "INSERT INTO bookings (tripId, kind, status, cancelledAt)"
                 " VALUES (?1, ?2, 'CANCELLED', ?4)"
                 " ON CONFLICT (tripId, kind) DO UPDATE SET status='CANCELLED',"
                 " cancelledAt=coalesce(bookings.cancelledAt, excluded.cancelledAt)",
    [Q_COUNT] = "INSERT INTO bookings (tripId, kind, cancelAttempts) VALUES (?1, ?2, 1)"
                " ON CONFLICT (tripId, kind) DO UPDATE"
                " SET cancelAttempts=bookings.cancelAttempts+1",
};

/* After each commit (sqlite3_wal_hook): once the WAL holds
 * SQLITE_CKPT_FRAMES, mark the store for a checkpoint, which sql_write
 * runs after it has let the next writer in (checkpoint_wal). The hook
 * runs inside COMMIT, while this process still holds the writers' lock:
 * a checkpoint there (copy 4 MB of log, fsync it and the database) held
 * every other function's write for milliseconds, the tail of the saga
 * benchmark's latency. */
static int on_wal_commit(void *ud, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    if (frames >= SQLITE_CKPT_FRAMES)
        ((booking_store *)ud)->ckpt_due = 1;
    return SQLITE_OK; /* the commit happened whatever the checkpoint will do */
}

/* Checkpoint the WAL in two steps. First PASSIVE, without the writers'
 * lock: it copies what is in the log and fsyncs, the long part, while
 * other processes go on writing. Then, holding the lock so that no write
 * comes in between, checkpoint the little written meanwhile; the next
 * writer then finds the log fully copied and starts it again from the
 * beginning. (SQLite's automatic checkpoint is PASSIVE only: with several
 * processes writing without pause it never catches up with the commits
 * made while it runs, so the log was never restarted and grew by 4 KB
 * per write for good.) A process that finds another one checkpointing
 * gets SQLITE_BUSY at once and carries on. */
static void checkpoint_wal(booking_store *s)
{
    s->ckpt_due = 0;
    if (sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL) != SQLITE_OK)
        return; /* another process is at it */
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX) < 0)
        return;
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    flock(s->lockfd, LOCK_UN);
}

/* Run setup SQL, waiting out a concurrent first opener. */
/* Waiting for another process's write: SQLite's own busy timeout sleeps
 * 1, 2, 5, 10 ... ms between tries, far longer than a booking holds the
 * lock (tens of microseconds), which shows as latency spikes when many
 * function processes write at once. Poll in short sleeps instead, up to
 * SQLITE_BUSY_MS in all. */
static int on_busy(void *ud, int tries)
{
    (void)ud;
    /* 50 us for the first 2 ms, then 1 ms */
    long waited_us = tries < 40 ? tries * 50L : 2000L + (tries - 40) * 1000L;
    if (waited_us >= SQLITE_BUSY_MS * 1000L)
        return 0;
    struct timespec ts = {0, tries < 40 ? 50000L : 1000000L};
    nanosleep(&ts, NULL);
    return 1;
}

static int exec_retry(sqlite3 *db, const char *sql)
{
    int rc;
    for (int i = 0; i < 200; i++) {
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            return rc;
        usleep(5000);
    }
    return rc;
}

int booking_store_open_sqlite(const char *path, booking_store **out, booking_err *err)
{
    booking_store *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, BOOKING_ENOMEM, "out of memory");
    s->backend = BACKEND_SQLITE;
    s->lockfd = -1;
    /* Through the VFS that writes a commit's log frames in one call, not
     * two per page (src/sqlvfs) */
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        sqlvfs_gather()) != SQLITE_OK)
        goto fail_db;
    if (strcmp(path, ":memory:") != 0 && strncmp(path, "file:", 5) != 0) {
        char lp[4096];
        if ((size_t)snprintf(lp, sizeof lp, "%s-writer", path) < sizeof lp)
            s->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        /* without it, writers still serialise, by polling (on_busy) */
    }
    sqlite3_busy_handler(s->db, on_busy, NULL);
    if (exec_retry(s->db, "PRAGMA journal_mode=WAL") != SQLITE_OK ||
        exec_retry(s->db, "PRAGMA synchronous=NORMAL") != SQLITE_OK ||
        exec_retry(s->db, SCHEMA) != SQLITE_OK)
        goto fail_db;
    sqlite3_wal_hook(s->db, on_wal_commit, s); /* replaces the automatic checkpoint */
    for (int i = 0; i < Q_COUNT_ALL; i++)
        if (sqlite3_prepare_v3(s->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL) !=
            SQLITE_OK)
            goto fail_db;
    *out = s;
    return BOOKING_OK;

fail_db:
    fail(err, BOOKING_EIO, "sqlite %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
    booking_store_free(s);
    return BOOKING_EIO;
}

/* Step a statement that returns no rows and make it reusable. */
static int run_stmt(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The item from a row of ITEM_COLS. Returns: new, or NULL (no memory). */
static json_t *record_from_row(sqlite3_stmt *st, const char *trip_id, const char *kind)
{
    static const char *const cols[] = {"status", "details", "bookedAt", "cancelledAt"};
    json_t *o = json_pack("{s:s, s:s}", "tripId", trip_id, "kind", kind);
    if (!o)
        return NULL;
    for (int i = 0; i < 4; i++) {
        const char *v = (const char *)sqlite3_column_text(st, i);
        json_t *jv;
        if (!v)
            jv = json_null();
        else if (i == 1)
            jv = json_loadb(v, (size_t)sqlite3_column_bytes(st, i), 0, NULL);
        else
            jv = json_stringn(v, (size_t)sqlite3_column_bytes(st, i));
        json_object_set_new(o, cols[i], jv ? jv : json_null());
    }
    json_object_set_new(o, "cancelAttempts", json_integer(sqlite3_column_int64(st, 4)));
    return o;
}

/* The item as JSON; BOOKING_ENOENT if absent. */
static int sql_read(booking_store *s, const char *trip_id, const char *kind, json_t **record,
                    booking_err *err)
{
    sqlite3_stmt *st = s->q[Q_READ];
    int rc = BOOKING_EIO;
    sqlite3_bind_text(st, 1, trip_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = BOOKING_ENOENT;
        goto out;
    }
    if (step != SQLITE_ROW)
        goto out;
    json_t *o = record_from_row(st, trip_id, kind);
    if (!o) {
        rc = BOOKING_ENOMEM;
        goto out;
    }
    if (record)
        *record = o;
    else
        json_decref(o);
    rc = BOOKING_OK;
out:
    if (rc == BOOKING_EIO)
        fail(err, rc, "sqlite read: %s", sqlite3_errmsg(s->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Writers queue on a lock file (flock) before BEGIN IMMEDIATE: the
 * kernel wakes the next one when the lock is free, where SQLite's busy
 * handler has every waiting process poll (with a dozen function
 * processes, the polling cost more CPU than the writes: bench). */
static int sql_write_locked(booking_store *s, enum sql_stmt which, const char *trip_id,
                            const char *kind, const char *t3, size_t t3_len, const char *t4,
                            json_t **record, booking_err *err);
static int sql_write(booking_store *s, enum sql_stmt which, const char *trip_id, const char *kind,
                     const char *t3, size_t t3_len, const char *t4, json_t **record,
                     booking_err *err)
{
    int locked = 0;
    if (s->lockfd >= 0) {
        int r;
        while ((r = flock(s->lockfd, LOCK_EX)) < 0 && errno == EINTR) {
        }
        locked = r == 0;
    }
    int rc = sql_write_locked(s, which, trip_id, kind, t3, t3_len, t4, record, err);
    if (locked)
        flock(s->lockfd, LOCK_UN);
    if (s->ckpt_due)
        checkpoint_wal(s);
    return rc;
}

/* One write statement with (trip, kind, text3, text4) bindings (a
 * statement may leave ?3/?4 unused; binding them is then a no-op), inside
 * BEGIN IMMEDIATE together with the read-back, so the item returned is
 * the one this write produced. */
static int sql_write_locked(booking_store *s, enum sql_stmt which, const char *trip_id,
                            const char *kind, const char *t3, size_t t3_len, const char *t4,
                            json_t **record, booking_err *err)
{
    sqlite3_stmt *st = s->q[which];
    json_t *rec = NULL;
    int rc;
    if (run_stmt(s->q[Q_BEGIN]) != SQLITE_OK)
        return fail(err, BOOKING_EIO, "sqlite begin: %s", sqlite3_errmsg(s->db));
    rc = BOOKING_EIO;
    if (sqlite3_bind_parameter_count(st) >= 3)
        sqlite3_bind_text(st, 3, t3, t3 ? (int)t3_len : -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 4)
        sqlite3_bind_text(st, 4, t4, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 1, trip_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step != SQLITE_DONE) {
        /* the message before reset can replace it */
        fail(err, rc, "sqlite write: %s", sqlite3_errmsg(s->db));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        goto rollback;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    rc = sql_read(s, trip_id, kind, &rec, err);
    if (rc < 0)
        goto rollback;
    if (run_stmt(s->q[Q_COMMIT]) != SQLITE_OK) {
        rc = BOOKING_EIO;
        goto rollback;
    }
    *record = rec;
    return BOOKING_OK;

rollback:
    if (rc == BOOKING_EIO)
        fail(err, rc, "sqlite write: %s", sqlite3_errmsg(s->db));
    json_decref(rec);
    if (!sqlite3_get_autocommit(s->db))
        run_stmt(s->q[Q_ROLLBACK]);
    return rc;
}

static int sql_book(booking_store *s, const char *trip_id, const char *kind, const char *details,
                    size_t details_len, json_t **record, booking_err *err)
{
    char now[32];
    now_iso(now);
    return sql_write(s, Q_BOOK, trip_id, kind, details, details_len, now, record, err);
}

static int sql_cancel(booking_store *s, const char *trip_id, const char *kind, json_t **record,
                      booking_err *err)
{
    char now[32];
    now_iso(now);
    return sql_write(s, Q_CANCEL, trip_id, kind, NULL, 0, now, record, err);
}

static int sql_count(booking_store *s, const char *trip_id, const char *kind, long *attempts,
                     booking_err *err)
{
    json_t *rec = NULL;
    int rc = sql_write(s, Q_COUNT, trip_id, kind, NULL, 0, NULL, &rec, err);
    if (rc == BOOKING_OK)
        *attempts = (long)json_integer_value(json_object_get(rec, "cancelAttempts"));
    json_decref(rec);
    return rc;
}

/* json_dump_callback's sink: the store's reusable text buffer. */
static int text_append(const char *p, size_t n, void *ud)
{
    booking_store *s = ud;
    if (s->text_len + n + 1 > s->text_cap) {
        size_t cap = s->text_cap ? s->text_cap : 1024;
        while (cap < s->text_len + n + 1)
            cap *= 2;
        char *q = realloc(s->text, cap);
        if (!q)
            return -1;
        s->text = q;
        s->text_cap = cap;
    }
    memcpy(s->text + s->text_len, p, n);
    s->text_len += n;
    s->text[s->text_len] = '\0';
    return 0;
}

/* ======================================================================
 * DynamoDB (AWS JSON 1.0 protocol, SigV4 by libcurl)
 * ==================================================================== */

typedef struct dbuf {
    char *p;
    size_t len;
} dbuf;

static size_t on_http_body(char *data, size_t size, size_t n, void *ud)
{
    dbuf *b = ud;
    size_t len = size * n;
    if (b->len + len > HTTP_MAX_BODY)
        return 0;
    char *p = realloc(b->p, b->len + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->len, data, len);
    b->p = p;
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

/* Debian's libcurl looks for its CA bundle where Debian keeps it; Amazon
 * Linux keeps it elsewhere, so name the first one that exists. */
static const char *ca_bundle(void)
{
    static const char *const paths[] = {
        "/etc/pki/tls/certs/ca-bundle.crt",     /* Amazon Linux, Fedora */
        "/etc/ssl/certs/ca-certificates.crt",   /* Debian, Ubuntu */
        "/etc/ssl/cert.pem",
    };
    const char *env = getenv("SSL_CERT_FILE");
    if (env && access(env, R_OK) == 0)
        return env;
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (access(paths[i], R_OK) == 0)
            return paths[i];
    return NULL;
}

int booking_store_open_dynamodb(const char *table, const char *region, const char *endpoint,
                                booking_store **out, booking_err *err)
{
    char url[512];
    if (!table || !*table || !region || !*region)
        return fail(err, BOOKING_EINVAL, "DynamoDB needs a table name and a region");
    if (endpoint && *endpoint)
        snprintf(url, sizeof url, "%s", endpoint);
    else
        snprintf(url, sizeof url, "https://dynamodb.%s.amazonaws.com/", region);
    booking_store *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, BOOKING_ENOMEM, "out of memory");
    s->backend = BACKEND_DYNAMODB;
    s->lockfd = -1;
    s->table = strdup(table);
    s->region = strdup(region);
    s->endpoint = strdup(url);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(s->h = curl_easy_init()) ||
        !s->table || !s->region || !s->endpoint) {
        booking_store_free(s);
        return fail(err, BOOKING_ENOMEM, "cannot set up libcurl");
    }
    *out = s;
    return BOOKING_OK;
}

/* POST one operation. Returns 0 with *resp (the body, new) and *status;
 * a network failure or 5xx is retried a couple of times. */
static int ddb_call(booking_store *s, const char *op, json_t *req, json_t **resp, long *status,
                    booking_err *err)
{
    char target[96], sigv4[128], token_hdr[4096];
    struct curl_slist *hl = NULL;
    dbuf body = {NULL, 0};
    int rc = BOOKING_EIO;
    char *text = json_dumps(req, JSON_COMPACT);
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");

    if (!text)
        return fail(err, BOOKING_ENOMEM, "out of memory");
    if (!ak || !*ak || !sk || !*sk) {
        rc = fail(err, BOOKING_EINVAL, "no AWS credentials in the environment");
        goto out;
    }
    snprintf(target, sizeof target, "X-Amz-Target: DynamoDB_20120810.%s", op);
    hl = curl_slist_append(hl, "Content-Type: application/x-amz-json-1.0");
    hl = curl_slist_append(hl, target);
    hl = curl_slist_append(hl, "Expect:");
    if (token && *token) {
        /* Signed with the rest: libcurl's SigV4 covers the request headers. */
        snprintf(token_hdr, sizeof token_hdr, "X-Amz-Security-Token: %s", token);
        hl = curl_slist_append(hl, token_hdr);
    }
    if (!hl) {
        rc = fail(err, BOOKING_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:dynamodb", s->region);

    CURL *h = s->h;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, s->endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(text));
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, ak);
    curl_easy_setopt(h, CURLOPT_PASSWORD, sk);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_http_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    const char *ca = ca_bundle();
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);

    for (int attempt = 0;; attempt++) {
        free(body.p);
        body.p = NULL;
        body.len = 0;
        CURLcode c = curl_easy_perform(h);
        *status = 0;
        if (c == CURLE_OK)
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
        int retry = c != CURLE_OK || *status >= 500;
        if (!retry || attempt >= HTTP_RETRIES) {
            if (c != CURLE_OK) {
                rc = fail(err, BOOKING_EIO, "DynamoDB %s: %s", op, curl_easy_strerror(c));
                goto out;
            }
            break;
        }
        struct timespec ts = {0, 50000000L << attempt};
        nanosleep(&ts, NULL);
    }
    *resp = json_loadb(body.p ? body.p : "{}", body.len ? body.len : 2, 0, NULL);
    if (!*resp) {
        rc = fail(err, BOOKING_EIO, "DynamoDB %s: HTTP %ld, body is not JSON", op, *status);
        goto out;
    }
    rc = BOOKING_OK;
out:
    curl_slist_free_all(hl);
    free(body.p);
    free(text);
    return rc;
}

/* The short name of a DynamoDB error: "...#ConditionalCheckFailedException". */
static const char *ddb_error_type(const json_t *resp)
{
    const char *t = json_string_value(json_object_get(resp, "__type"));
    if (!t)
        return "";
    const char *hash = strrchr(t, '#');
    return hash ? hash + 1 : t;
}

static json_t *ddb_key(const char *trip_id, const char *kind)
{
    return json_pack("{s:{s:s}, s:{s:s}}", "tripId", "S", trip_id, "kind", "S", kind);
}

/* An attribute-value map of strings from a JSON object of strings. */
static json_t *ddb_map(const json_t *details)
{
    json_t *m = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)details, k, v) {
        if (json_is_string(v))
            json_object_set_new(m, k, json_pack("{s:O}", "S", v));
    }
    return json_pack("{s:o}", "M", m);
}

/* An item (attribute values) to our record shape. */
static json_t *ddb_record(const json_t *item)
{
    json_t *o = json_object();
    const char *names[] = {"tripId", "kind", "status", "bookedAt", "cancelledAt"};
    for (size_t i = 0; i < 5; i++) {
        json_t *s = json_object_get(json_object_get(item, names[i]), "S");
        json_object_set_new(o, names[i], s ? json_incref(s) : json_null());
    }
    json_t *m = json_object_get(json_object_get(item, "details"), "M");
    if (m) {
        json_t *d = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(m, k, v) {
            json_t *s = json_object_get(v, "S");
            if (s)
                json_object_set(d, k, s);
        }
        json_object_set_new(o, "details", d);
    } else {
        json_object_set_new(o, "details", json_null());
    }
    const char *n = json_string_value(json_object_get(json_object_get(item, "cancelAttempts"), "N"));
    json_object_set_new(o, "cancelAttempts", json_integer(n ? strtoll(n, NULL, 10) : 0));
    return o;
}

/* UpdateItem; *record gets the item after the write. A failed condition
 * returns BOOKING_ECANCELLED with the item as it is (ALL_OLD). */
static int ddb_update(booking_store *s, const char *trip_id, const char *kind, const char *expr,
                      const char *cond, json_t *names, json_t *values, json_t **record,
                      booking_err *err)
{
    json_t *resp = NULL;
    long status = 0;
    int rc;
    json_t *req = json_pack("{s:s, s:o, s:s, s:s}", "TableName", s->table, "Key",
                            ddb_key(trip_id, kind), "UpdateExpression", expr, "ReturnValues",
                            "ALL_NEW");
    if (!req)
        return fail(err, BOOKING_ENOMEM, "out of memory");
    if (cond) {
        json_object_set_new(req, "ConditionExpression", json_string(cond));
        json_object_set_new(req, "ReturnValuesOnConditionCheckFailure", json_string("ALL_OLD"));
    }
    if (names)
        json_object_set(req, "ExpressionAttributeNames", names);
    if (values)
        json_object_set(req, "ExpressionAttributeValues", values);
    rc = ddb_call(s, "UpdateItem", req, &resp, &status, err);
    json_decref(req);
    if (rc < 0)
        return rc;
    if (status == 200) {
        *record = ddb_record(json_object_get(resp, "Attributes"));
        rc = BOOKING_OK;
    } else if (strcmp(ddb_error_type(resp), "ConditionalCheckFailedException") == 0) {
        json_t *item = json_object_get(resp, "Item");
        *record = item ? ddb_record(item) : NULL;
        rc = BOOKING_ECANCELLED;
    } else {
        rc = fail(err, BOOKING_EIO, "DynamoDB UpdateItem: HTTP %ld %s: %s", status,
                  ddb_error_type(resp),
                  json_string_value(json_object_get(resp, "message"))
                      ? json_string_value(json_object_get(resp, "message"))
                      : json_string_value(json_object_get(resp, "Message"))
                            ? json_string_value(json_object_get(resp, "Message"))
                            : "");
    }
    json_decref(resp);
    return rc;
}

static int ddb_book(booking_store *s, const char *trip_id, const char *kind, const json_t *details,
                    json_t **record, booking_err *err)
{
    char now[32];
    now_iso(now);
    json_t *names = json_pack("{s:s, s:s}", "#s", "status", "#d", "details");
    json_t *values = json_pack("{s:{s:s}, s:o, s:{s:s}}", ":booked", "S", "BOOKED", ":d",
                               ddb_map(details), ":now", "S", now);
    /* BOOKED stays BOOKED (the if_not_exists keep the first booking's
     * details), nothing-yet becomes BOOKED, CANCELLED fails the condition. */
    int rc = names && values
                 ? ddb_update(s, trip_id, kind,
                              "SET #s = :booked, #d = if_not_exists(#d, :d),"
                              " bookedAt = if_not_exists(bookedAt, :now)",
                              "attribute_not_exists(#s) OR #s = :booked", names, values, record, err)
                 : fail(err, BOOKING_ENOMEM, "out of memory");
    if (rc == BOOKING_ECANCELLED && !*record)
        *record = json_pack("{s:s, s:s, s:s}", "tripId", trip_id, "kind", kind, "status",
                            "CANCELLED");
    json_decref(names);
    json_decref(values);
    return rc;
}

static int ddb_cancel(booking_store *s, const char *trip_id, const char *kind, json_t **record,
                      booking_err *err)
{
    char now[32];
    now_iso(now);
    json_t *names = json_pack("{s:s}", "#s", "status");
    json_t *values = json_pack("{s:{s:s}, s:{s:s}}", ":cancelled", "S", "CANCELLED", ":now", "S", now);
    int rc = names && values
                 ? ddb_update(s, trip_id, kind,
                              "SET #s = :cancelled, cancelledAt = if_not_exists(cancelledAt, :now)",
                              NULL, names, values, record, err)
                 : fail(err, BOOKING_ENOMEM, "out of memory");
    json_decref(names);
    json_decref(values);
    return rc;
}

static int ddb_count(booking_store *s, const char *trip_id, const char *kind, long *attempts,
                     booking_err *err)
{
    json_t *rec = NULL;
    json_t *values = json_pack("{s:{s:s}}", ":one", "N", "1");
    int rc = values ? ddb_update(s, trip_id, kind, "ADD cancelAttempts :one", NULL, NULL, values,
                                 &rec, err)
                    : fail(err, BOOKING_ENOMEM, "out of memory");
    if (rc == BOOKING_OK)
        *attempts = (long)json_integer_value(json_object_get(rec, "cancelAttempts"));
    json_decref(rec);
    json_decref(values);
    return rc;
}

static int ddb_get(booking_store *s, const char *trip_id, const char *kind, json_t **record,
                   booking_err *err)
{
    json_t *resp = NULL;
    long status = 0;
    json_t *req = json_pack("{s:s, s:o, s:b}", "TableName", s->table, "Key",
                            ddb_key(trip_id, kind), "ConsistentRead", 1);
    if (!req)
        return fail(err, BOOKING_ENOMEM, "out of memory");
    int rc = ddb_call(s, "GetItem", req, &resp, &status, err);
    json_decref(req);
    if (rc < 0)
        return rc;
    json_t *item = json_object_get(resp, "Item");
    if (status != 200)
        rc = fail(err, BOOKING_EIO, "DynamoDB GetItem: HTTP %ld %s", status, ddb_error_type(resp));
    else if (!item)
        rc = BOOKING_ENOENT;
    else if (record)
        *record = ddb_record(item);
    json_decref(resp);
    return rc;
}

/* ======================================================================
 * The interface
 * ==================================================================== */

int booking_store_open_env(booking_store **out, booking_err *err)
{
    const char *table = getenv("BOOKINGS_TABLE");
    const char *dir = getenv("SFN_LOCAL_STORE_DIR");
    if (!table || !*table)
        return fail(err, BOOKING_EINVAL, "BOOKINGS_TABLE is not set");
    if (dir && *dir) {
        char path[4096];
        if (strchr(table, '/'))
            return fail(err, BOOKING_EINVAL, "BOOKINGS_TABLE must not contain '/'");
        if ((size_t)snprintf(path, sizeof path, "%s/%s.sqlite", dir, table) >= sizeof path)
            return fail(err, BOOKING_EINVAL, "SFN_LOCAL_STORE_DIR is too long");
        return booking_store_open_sqlite(path, out, err);
    }
    const char *region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    const char *endpoint = getenv("AWS_ENDPOINT_URL_DYNAMODB");
    if (!endpoint || !*endpoint)
        endpoint = getenv("AWS_ENDPOINT_URL");
    return booking_store_open_dynamodb(table, region, endpoint, out, err);
}

void booking_store_free(booking_store *s)
{
    if (!s)
        return;
    for (int i = 0; i < Q_COUNT_ALL; i++)
        sqlite3_finalize(s->q[i]);
    free(s->text);
    if (s->db)
        sqlite3_close(s->db);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->h) {
        curl_easy_cleanup(s->h);
        curl_global_cleanup();
    }
    free(s->table);
    free(s->region);
    free(s->endpoint);
    free(s);
}

static int check_args(const char *trip_id, booking_kind kind, booking_err *err)
{
    if (!trip_id || !*trip_id || (unsigned)kind > BOOKING_CAR)
        return fail(err, BOOKING_EINVAL, "a booking needs a trip id and a kind");
    return BOOKING_OK;
}

int booking_book(booking_store *s, const char *trip_id, booking_kind kind,
                 const json_t *details, json_t **record, booking_err *err)
{
    json_t *rec = NULL;
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    if (!json_is_object(details))
        return fail(err, BOOKING_EINVAL, "booking details must be an object");
    const char *kn = booking_kind_name(kind);
    if (s->backend == BACKEND_SQLITE) {
        s->text_len = 0;
        if (json_dump_callback(details, text_append, s, JSON_COMPACT | JSON_SORT_KEYS) < 0)
            return fail(err, BOOKING_ENOMEM, "out of memory");
        rc = sql_book(s, trip_id, kn, s->text ? s->text : "{}", s->text_len, &rec, err);
        if (rc == BOOKING_OK && strcmp(json_string_value(json_object_get(rec, "status")) ?
                                       json_string_value(json_object_get(rec, "status")) : "",
                                       "CANCELLED") == 0)
            rc = BOOKING_ECANCELLED; /* the conditional upsert left the tombstone alone */
    } else {
        rc = ddb_book(s, trip_id, kn, details, &rec, err);
    }
    if (rc == BOOKING_ECANCELLED)
        fail(err, rc, "%s booking of trip %s was already cancelled", kn, trip_id);
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return rc;
}

int booking_cancel(booking_store *s, const char *trip_id, booking_kind kind, json_t **record,
                   booking_err *err)
{
    json_t *rec = NULL;
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    rc = s->backend == BACKEND_SQLITE ? sql_cancel(s, trip_id, kn, &rec, err)
                                      : ddb_cancel(s, trip_id, kn, &rec, err);
    if (record)
        *record = rec;
    else
        json_decref(rec);
    return rc;
}

int booking_count_cancel_attempt(booking_store *s, const char *trip_id, booking_kind kind,
                                 long *attempts, booking_err *err)
{
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    return s->backend == BACKEND_SQLITE ? sql_count(s, trip_id, kn, attempts, err)
                                        : ddb_count(s, trip_id, kn, attempts, err);
}

int booking_get(booking_store *s, const char *trip_id, booking_kind kind, json_t **record,
                booking_err *err)
{
    int rc = check_args(trip_id, kind, err);
    if (rc < 0)
        return rc;
    const char *kn = booking_kind_name(kind);
    return s->backend == BACKEND_SQLITE ? sql_read(s, trip_id, kn, record, err)
                                        : ddb_get(s, trip_id, kn, record, err);
}
