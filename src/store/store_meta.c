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
    " arn TEXT PRIMARY KEY, logging TEXT, tracing TEXT, encryption TEXT);";

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
