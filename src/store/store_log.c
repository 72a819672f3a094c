/*
 * store_log.c - an execution's two append-only logs in the store (see
 * store.h): the inputs fed to it and its history events, one row per step
 * with the input that caused it (rows of at most STORE_ROW_EVENTS events;
 * rows of older databases split once, at open), read forwards or
 * backwards (a walk with a callback, or a cursor), or one event by id; and
 * payload compression, the deflated form of
 * the large texts every file of the store writes and reads.
 *
 * Must not: interpret an event beyond its line and its "type" member, or
 * an input beyond its columns (the runner and the core do); decide
 * anything about executions.
 */
#include "store_int.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- payloads ------------------------------------------------------------ */
/* Payload compression. The large texts (history rows, task results, an
 * execution's input and output) are stored as a BLOB: one format byte
 * (STORE_Z_DICT1), the text's length (4 bytes, little-endian), then raw
 * deflate primed with zdict1 below. A TEXT value is a payload as it was
 * given: short ones, ones deflate does not shrink, and everything written
 * by builds before this one, which readers take unchanged. (A saga's
 * history is about 11 KB of JSON that repeats the trip in nearly every
 * event: per row deflate makes it about 3.3 KB, primed with the words of
 * history events about 2.5 KB.) */
#define STORE_Z_DICT1 1  /* raw deflate primed with zdict1 (read only now) */
#define STORE_Z_ZSTD1 2  /* zstd with zdict1 as its raw-content dictionary */
#define STORE_Z_MIN 96   /* shorter payloads stay text */
#define STORE_Z_HEAD 5
#define STORE_Z_LEVEL 1  /* level 6 saves ~10% more for 3x the CPU */
#define STORE_ZSTD_LEVEL 1

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

/* Compress v[0..len) into slot w as format 2 (zstd, about five times as
 * fast as deflate for the same size); *n gets the blob's size. -1 when
 * zstd or memory fails (the caller stores the text instead). */
static int z_pack(store *s, int w, const char *v, size_t len, size_t *n)
{
    if (s->zc == NULL && (s->zc = ZSTD_createCCtx()) == NULL)
        return -1;
    if (s->zcd == NULL &&
        (s->zcd = ZSTD_createCDict(zdict1, sizeof zdict1 - 1, STORE_ZSTD_LEVEL)) ==
            NULL)
        return -1;
    size_t bound = STORE_Z_HEAD + ZSTD_compressBound(len);
    zbuf *b = &s->zw[w];
    if (zbuf_reserve(b, bound) != 0)
        return -1;
    unsigned char *h = (unsigned char *)b->p;
    h[0] = STORE_Z_ZSTD1;
    for (int i = 0; i < 4; i++)
        h[1 + i] = (unsigned char)(len >> (8 * i));
    size_t k = ZSTD_compress_usingCDict(s->zc, h + STORE_Z_HEAD, bound - STORE_Z_HEAD, v, len,
                                        s->zcd);
    if (ZSTD_isError(k))
        return -1;
    *n = STORE_Z_HEAD + k;
    return 0;
}

/* Format 1, deflate: what builds before zstd wrote; kept for the tests
 * that check old rows still read (STORE_COMPRESS_DEFLATE). */
static int z_pack_deflate(store *s, int w, const char *v, size_t len, size_t *n)
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
void store__bind_payload(store *s, sqlite3_stmt *st, int i, const char *v, long len, int w)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
        return;
    }
    size_t l = len < 0 ? strlen(v) : (size_t)len, n = 0;
    int packed = s->compress && l >= STORE_Z_MIN && l < 0x7fffffff &&
                 (s->compress == STORE_COMPRESS_DEFLATE ? z_pack_deflate(s, w, v, l, &n)
                                                        : z_pack(s, w, v, l, &n)) == 0;
    if (packed && n < l)
        sqlite3_bind_blob(st, i, s->zw[w].p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, i, v, (int)l, SQLITE_STATIC);
}

/* Column i of a row as text: a TEXT value as SQLite holds it (valid until
 * the statement moves on), a blob inflated into read slot r (valid until
 * that slot is used again), NULL for NULL and for a blob that does not
 * inflate (corruption: *bad is set when bad is not NULL). *len (may be
 * NULL) gets its length. */
const char *store__col_payload(store *s, sqlite3_stmt *st, int i, int r, size_t *len, int *bad)
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
    if (h == NULL || n < STORE_Z_HEAD || (h[0] != STORE_Z_DICT1 && h[0] != STORE_Z_ZSTD1))
        goto bad;
    size_t out = (size_t)h[1] | (size_t)h[2] << 8 | (size_t)h[3] << 16 | (size_t)h[4] << 24;
    if (h[0] == STORE_Z_ZSTD1) {
        zbuf *b = &s->zr[r];
        if ((s->zx == NULL && (s->zx = ZSTD_createDCtx()) == NULL) ||
            (s->zdd == NULL &&
             (s->zdd = ZSTD_createDDict(zdict1, sizeof zdict1 - 1)) == NULL) ||
            zbuf_reserve(b, out + 1) != 0)
            goto bad;
        size_t k = ZSTD_decompress_usingDDict(s->zx, b->p, out, h + STORE_Z_HEAD,
                                              n - STORE_Z_HEAD, s->zdd);
        if (ZSTD_isError(k) || k != out)
            goto bad;
        b->p[out] = '\0';
        if (len)
            *len = out;
        return b->p;
    }
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
char *store__payload_dup(store *s, sqlite3_stmt *st, int i, int r)
{
    const char *t = store__col_payload(s, st, i, r, NULL, NULL);
    return t ? strdup(t) : NULL;
}

void store_set_compress(store *s, int mode)
{
    if (s)
        s->compress = mode == STORE_COMPRESS_ZSTD || mode == STORE_COMPRESS_DEFLATE ? mode : 0;
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
    store__bind_payload(s, st, first + 4, in->result, -1, ZW_RESULT);
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
            .result = store__col_payload(s, st, 4, ZR_RESULT, NULL, &bad),
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
        store__bind_payload(s, st, 4, text, (long)cut, ZW_BODY);
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
    const char *body = store__col_payload(s, get, 3, ZR_BODY, &len, &bad);
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
            const char *t = i == 0 ? store__col_payload(s, get, 8, ZR_RESULT, NULL, NULL)
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

int store__split_old_rows(store *s)
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
        const char *body = store__col_payload(s, st, 2, ZR_BODY, &len, &bad);
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

/* ---- an event cursor ------------------------------------------------------- */
struct store_events {
    store *s;
    sqlite3_stmt *st;
    int64_t from, to;
    int reverse, in_row, ended;
    const char *body, *end;   /* the current row's text */
    const char *p;            /* forwards: where the next line starts;
                               * backwards: where it ends; NULL: row done */
    int64_t id;               /* the id of that line */
};

int store_events_open(store *s, int64_t exec_id, int64_t from_id, int64_t to_id, int reverse,
                      store_events **out)
{
    *out = NULL;
    store_events *c = calloc(1, sizeof *c);
    if (c == NULL)
        return STORE_EDB;
    if (to_id <= 0 || to_id > 0xffffffffLL)
        to_id = 0xffffffffLL;
    if (from_id < 1)
        from_id = 1;
    c->s = s;
    c->from = from_id;
    c->to = to_id;
    c->reverse = reverse;
    c->st = stmt(s, reverse ? Q_EV_DESC : Q_EV_ASC);
    sqlite3_bind_int64(c->st, 1, exec_id);
    sqlite3_bind_int64(c->st, 2, from_id);
    sqlite3_bind_int64(c->st, 3, to_id);
    *out = c;
    return STORE_OK;
}

/* The next row: 1, 0 at the end, STORE_EDB. */
static int cursor_row(store_events *c)
{
    int rc = sqlite3_step(c->st);
    if (rc == SQLITE_DONE) {
        c->ended = 1;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return STORE_EDB;
    int64_t first = sqlite3_column_int64(c->st, 0);
    size_t len;
    int bad = 0;
    const char *body = store__col_payload(c->s, c->st, 2, ZR_BODY, &len, &bad);
    if (bad)
        return STORE_EDB;
    if (body == NULL) {
        body = "";
        len = 0;
    }
    c->body = body;
    c->end = body + len;
    if (!c->reverse) {
        c->p = body;
        c->id = first;
    } else {
        int64_t lines = 1;
        for (const char *q = body; (q = memchr(q, '\n', (size_t)(c->end - q))) != NULL; q++)
            lines++;
        c->p = c->end;
        c->id = first + lines - 1;
    }
    c->in_row = 1;
    return 1;
}

int store_events_next(store_events *c, int64_t *id, const char **text, size_t *len)
{
    for (;;) {
        if (c->ended)
            return 0;
        if (!c->in_row) {
            int rc = cursor_row(c);
            if (rc <= 0)
                return rc;
        }
        if (c->p == NULL) {
            c->in_row = 0;
            continue;
        }
        const char *line;
        size_t n;
        int64_t lid = c->id;
        if (!c->reverse) {
            const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
            line = c->p;
            n = (size_t)((nl ? nl : c->end) - c->p);
            c->p = nl ? nl + 1 : NULL;
            c->id++;
        } else {
            const char *nl = memrchr(c->body, '\n', (size_t)(c->p - c->body));
            line = nl ? nl + 1 : c->body;
            n = (size_t)(c->p - line);
            c->p = nl;
            c->id--;
        }
        if (lid < c->from || lid > c->to)
            continue;
        *id = lid;
        *text = line;
        *len = n;
        return 1;
    }
}

void store_events_close(store_events *c)
{
    if (c == NULL)
        return;
    sqlite3_reset(c->st);
    free(c);
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
    const char *p = store__col_payload(s, st, 1, ZR_TEXT, &plen, &bad);
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
