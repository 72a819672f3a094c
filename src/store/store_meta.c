/*
 * store_meta.c - tags by resource ARN and a state machine's logging,
 * tracing and encryption configurations (store_meta.h): their tables,
 * created at open (store__meta_schema), and their reads and writes.
 *
 * These are rare calls (an API request each, never per execution step):
 * their statements are prepared per call, not kept in s->q.
 *
 * Must not: know what the JSON texts hold (the API shapes them).
 */
#include "store_int.h"
#include "store_meta.h"

#include <stdio.h>

static const char meta_schema[] =
    "CREATE TABLE IF NOT EXISTS resource_tags("
    " arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY(arn, key));"
    "CREATE TABLE IF NOT EXISTS sm_config("
    " arn TEXT PRIMARY KEY, logging TEXT, tracing TEXT, encryption TEXT);"
    "CREATE TABLE IF NOT EXISTS map_runs("
    " arn TEXT PRIMARY KEY, exec_arn TEXT NOT NULL, sm_arn TEXT NOT NULL,"
    " started_id INTEGER, start_ms INTEGER, stop_ms INTEGER, status INTEGER,"
    " max_conc INTEGER, tol_count INTEGER, tol_pct REAL, total INTEGER, pending INTEGER,"
    " running INTEGER, succeeded INTEGER, failed INTEGER, aborted INTEGER);"
    "CREATE INDEX IF NOT EXISTS map_runs_exec ON map_runs(exec_arn, started_id);"
    /* an execution removed (retention, store_exec_expire) takes its map
     * runs along */
    "CREATE TRIGGER IF NOT EXISTS map_runs_gone AFTER DELETE ON executions BEGIN"
    " DELETE FROM map_runs WHERE exec_arn = OLD.arn; END;";

int store__meta_schema(store *s, char *errbuf, size_t errlen)
{
    char *err = NULL;
    if (sqlite3_exec(s->db, meta_schema, NULL, NULL, &err) != SQLITE_OK) {
        snprintf(errbuf, errlen, "meta schema: %s", err ? err : "error");
        sqlite3_free(err);
        return STORE_EDB;
    }
    return STORE_OK;
}

static sqlite3_stmt *prep(store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

/* Step a statement that returns no rows and finalize it. */
static int done_free(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

/* ---- tags ----------------------------------------------------------------- */
int store_tags_put(store *s, const char *arn, const store_tag *tags, size_t n)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO resource_tags(arn, key, value) VALUES(?1, ?2, ?3)"
                               " ON CONFLICT(arn, key) DO UPDATE SET value = excluded.value");
    if (st == NULL)
        return STORE_EDB;
    int rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, arn);
        bind_text(st, 2, tags[i].key);
        bind_text(st, 3, tags[i].value ? tags[i].value : "");
        rc = sqlite3_step(st) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_tags_del(store *s, const char *arn, const char *const *keys, size_t n)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM resource_tags WHERE arn = ?1 AND key = ?2");
    if (st == NULL)
        return STORE_EDB;
    int rc = STORE_OK;
    for (size_t i = 0; i < n && rc == STORE_OK; i++) {
        sqlite3_reset(st);
        bind_text(st, 1, arn);
        bind_text(st, 2, keys[i]);
        rc = sqlite3_step(st) == SQLITE_DONE ? STORE_OK : STORE_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

int store_tags_each(store *s, const char *arn,
                    int (*cb)(void *ctx, const char *key, const char *value), void *ctx)
{
    sqlite3_stmt *st =
        prep(s, "SELECT key, value FROM resource_tags WHERE arn = ?1 ORDER BY rowid");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int r = cb(ctx, (const char *)sqlite3_column_text(st, 0),
                   (const char *)sqlite3_column_text(st, 1));
        if (r != 0) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

/* ---- a state machine's configuration ---------------------------------- */
int store_sm_conf_put(store *s, const char *arn, const store_sm_conf *c)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO sm_config(arn, logging, tracing, "
                               "encryption) VALUES(?1, ?2, ?3, ?4)");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    bind_text(st, 2, c->logging);
    bind_text(st, 3, c->tracing);
    bind_text(st, 4, c->encryption);
    return done_free(st);
}

int store_sm_conf_get(store *s, const char *arn, store_sm_conf *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st =
        prep(s, "SELECT logging, tracing, encryption FROM sm_config WHERE arn = ?1");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->logging = col_dup(st, 0);
        out->tracing = col_dup(st, 1);
        out->encryption = col_dup(st, 2);
        sqlite3_finalize(st);
        return STORE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

void store_sm_conf_cleanup(store_sm_conf *c)
{
    if (c == NULL)
        return;
    free(c->logging);
    free(c->tracing);
    free(c->encryption);
    memset(c, 0, sizeof *c);
}

int store_meta_forget(store *s, const char *arn)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM resource_tags WHERE arn = ?1");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    if (done_free(st) != STORE_OK)
        return STORE_EDB;
    if ((st = prep(s, "DELETE FROM sm_config WHERE arn = ?1")) == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    return done_free(st);
}

/* ---- map runs ------------------------------------------------------------------ */
#define MR_COLS                                                                          \
    "arn, exec_arn, sm_arn, started_id, start_ms, stop_ms, status, max_conc, tol_count, " \
    "tol_pct, total, pending, running, succeeded, failed, aborted"

int store_map_run_put(store *s, const store_map_run *m)
{
    sqlite3_stmt *st = prep(s, "INSERT OR REPLACE INTO map_runs(" MR_COLS ") VALUES(?1, ?2, ?3, "
                               "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, m->arn);
    bind_text(st, 2, m->exec_arn);
    bind_text(st, 3, m->sm_arn);
    const int64_t v[] = {m->started_id, m->start_ms,   m->stop_ms, m->status,
                         m->max_concurrency, m->tolerated_count};
    for (int i = 0; i < 6; i++)
        sqlite3_bind_int64(st, 4 + i, v[i]);
    sqlite3_bind_double(st, 10, m->tolerated_pct);
    const int c[] = {m->total, m->pending, m->running, m->succeeded, m->failed, m->aborted};
    for (int i = 0; i < 6; i++)
        sqlite3_bind_int(st, 11 + i, c[i]);
    return done_free(st);
}

static void map_run_row(sqlite3_stmt *st, store_map_run *m)
{
    m->arn = col_dup(st, 0);
    m->exec_arn = col_dup(st, 1);
    m->sm_arn = col_dup(st, 2);
    m->started_id = sqlite3_column_int64(st, 3);
    m->start_ms = sqlite3_column_int64(st, 4);
    m->stop_ms = sqlite3_column_int64(st, 5);
    m->status = sqlite3_column_int(st, 6);
    m->max_concurrency = sqlite3_column_int(st, 7);
    m->tolerated_count = sqlite3_column_int(st, 8);
    m->tolerated_pct = sqlite3_column_double(st, 9);
    m->total = sqlite3_column_int(st, 10);
    m->pending = sqlite3_column_int(st, 11);
    m->running = sqlite3_column_int(st, 12);
    m->succeeded = sqlite3_column_int(st, 13);
    m->failed = sqlite3_column_int(st, 14);
    m->aborted = sqlite3_column_int(st, 15);
}

int store_map_run_get(store *s, const char *arn, store_map_run *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = prep(s, "SELECT " MR_COLS " FROM map_runs WHERE arn = ?1");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, arn);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        map_run_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW && (out->arn == NULL || out->exec_arn == NULL || out->sm_arn == NULL)) {
        store_map_run_cleanup(out);
        return STORE_EDB;
    }
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

void store_map_run_cleanup(store_map_run *m)
{
    if (m == NULL)
        return;
    free(m->arn);
    free(m->exec_arn);
    free(m->sm_arn);
    memset(m, 0, sizeof *m);
}

int store_map_run_each(store *s, const char *exec_arn,
                       int (*cb)(void *ctx, const store_map_run *m), void *ctx)
{
    sqlite3_stmt *st = prep(s, "SELECT " MR_COLS " FROM map_runs WHERE exec_arn = ?1 "
                               "ORDER BY started_id");
    if (st == NULL)
        return STORE_EDB;
    bind_text(st, 1, exec_arn);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_map_run m;
        map_run_row(st, &m);
        int r = m.arn && m.exec_arn && m.sm_arn ? cb(ctx, &m) : STORE_EDB;
        store_map_run_cleanup(&m);
        if (r != 0) {
            sqlite3_finalize(st);
            return r;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}
