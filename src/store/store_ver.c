/*
 * store_ver.c - versions, aliases, revisions and DELETING (store_ver.h):
 * their tables (schema_ver, run from open_db after the main schema), and
 * their statements, prepared once at open into s->qv.
 *
 * Tables of their own rather than columns of state_machines/executions,
 * so a data directory of an earlier build only gains tables, and an
 * execution started on the unqualified machine (the common case) writes
 * nothing more.
 */
#include "store_int.h"
#include "store_ver.h"

#include <stdio.h>

enum {
    QV_SMX_GET,
    QV_SMX_PUT,
    QV_SMX_DEL,
    QV_SMX_DELETING,
    QV_DEFREV_PUT,
    QV_DEFREV_GET,
    QV_VER_PUT,
    QV_VER_GET,
    QV_VER_LATEST,
    QV_VER_DEL,
    QV_VER_DEL_ALL,
    QV_VER_LIST,
    QV_AL_PUT,
    QV_AL_GET,
    QV_AL_DEL,
    QV_AL_DEL_ALL,
    QV_AL_LIST,
    QV_AL_ROUTING,
    QV_XV_PUT,
    QV_XV_GET,
    QV__COUNT
};

#define VER_COLS "sm_arn,version,def_id,role_arn,type,revision_id,description,created_ms"
#define AL_COLS "arn,sm_arn,name,description,routing,created_ms,updated_ms"

static const char *const sql_ver[QV__COUNT] = {
    [QV_SMX_GET] = "SELECT revision_id,version_seq,deleting FROM sm_rev WHERE sm_arn=?",
    [QV_SMX_PUT] = "INSERT OR REPLACE INTO sm_rev(sm_arn,revision_id,version_seq,deleting) "
                   "VALUES(?,?,?,?)",
    [QV_SMX_DEL] = "DELETE FROM sm_rev WHERE sm_arn=?",
    [QV_SMX_DELETING] = "SELECT sm_arn FROM sm_rev WHERE deleting<>0",
    [QV_DEFREV_PUT] = "INSERT OR REPLACE INTO def_rev(def_id,revision_id,role_arn) VALUES(?,?,?)",
    [QV_DEFREV_GET] = "SELECT revision_id,role_arn FROM def_rev WHERE def_id=?",
    [QV_VER_PUT] = "INSERT INTO sm_versions(" VER_COLS ") VALUES(?,?,?,?,?,?,?,?)",
    [QV_VER_GET] = "SELECT " VER_COLS " FROM sm_versions WHERE sm_arn=? AND version=?",
    [QV_VER_LATEST] = "SELECT " VER_COLS " FROM sm_versions WHERE sm_arn=? "
                      "ORDER BY version DESC LIMIT 1",
    [QV_VER_DEL] = "DELETE FROM sm_versions WHERE sm_arn=? AND version=?",
    [QV_VER_DEL_ALL] = "DELETE FROM sm_versions WHERE sm_arn=?",
    [QV_VER_LIST] = "SELECT " VER_COLS " FROM sm_versions WHERE sm_arn=? AND version<? "
                    "ORDER BY version DESC LIMIT ?",
    [QV_AL_PUT] = "INSERT OR REPLACE INTO sm_aliases(" AL_COLS ") VALUES(?,?,?,?,?,?,?)",
    [QV_AL_GET] = "SELECT " AL_COLS " FROM sm_aliases WHERE arn=?",
    [QV_AL_DEL] = "DELETE FROM sm_aliases WHERE arn=?",
    [QV_AL_DEL_ALL] = "DELETE FROM sm_aliases WHERE sm_arn=?",
    [QV_AL_LIST] = "SELECT " AL_COLS " FROM sm_aliases WHERE sm_arn=? AND name>? "
                   "ORDER BY name LIMIT ?",
    /* the version's ARN quoted, as the routing's JSON text holds it */
    [QV_AL_ROUTING] = "SELECT arn FROM sm_aliases WHERE instr(routing, '\"' || ?1 || '\"')>0 "
                      "ORDER BY arn LIMIT 1",
    [QV_XV_PUT] = "INSERT OR REPLACE INTO exec_ver(exec_id,version_arn,alias_arn) VALUES(?,?,?)",
    [QV_XV_GET] = "SELECT version_arn,alias_arn FROM exec_ver WHERE exec_id=?",
};

static const char schema_ver[] =
    "CREATE TABLE IF NOT EXISTS sm_rev("
    " sm_arn TEXT PRIMARY KEY, revision_id TEXT, version_seq INTEGER NOT NULL DEFAULT 0,"
    " deleting INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS def_rev("
    " def_id INTEGER PRIMARY KEY, revision_id TEXT, role_arn TEXT);"
    "CREATE TABLE IF NOT EXISTS sm_versions("
    " sm_arn TEXT NOT NULL, version INTEGER NOT NULL, def_id INTEGER NOT NULL, role_arn TEXT,"
    " type INTEGER NOT NULL, revision_id TEXT, description TEXT, created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(sm_arn, version));"
    "CREATE TABLE IF NOT EXISTS sm_aliases("
    " arn TEXT PRIMARY KEY, sm_arn TEXT NOT NULL, name TEXT NOT NULL, description TEXT,"
    " routing TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS sm_aliases_sm ON sm_aliases(sm_arn, name);"
    "CREATE TABLE IF NOT EXISTS exec_ver("
    " exec_id INTEGER PRIMARY KEY, version_arn TEXT, alias_arn TEXT);"
    /* retention removes executions (store_exec_expire): their row here too */
    "CREATE TRIGGER IF NOT EXISTS exec_ver_gc AFTER DELETE ON executions"
    " BEGIN DELETE FROM exec_ver WHERE exec_id=old.id; END;";

int store__ver_open(store *s, char **err)
{
    if (sqlite3_exec(s->db, schema_ver, NULL, NULL, err) != SQLITE_OK)
        return STORE_EDB;
    s->qv = calloc(QV__COUNT, sizeof *s->qv);
    if (s->qv == NULL)
        return STORE_EDB;
    for (int i = 0; i < QV__COUNT; i++)
        if (sqlite3_prepare_v3(s->db, sql_ver[i], -1, SQLITE_PREPARE_PERSISTENT, &s->qv[i],
                               NULL) != SQLITE_OK) {
            *err = sqlite3_mprintf("%s", sqlite3_errmsg(s->db));
            return STORE_EDB;
        }
    return STORE_OK;
}

void store__ver_close(store *s)
{
    if (s->qv == NULL)
        return;
    for (int i = 0; i < QV__COUNT; i++)
        sqlite3_finalize(s->qv[i]);
    free(s->qv);
    s->qv = NULL;
}

static sqlite3_stmt *vstmt(store *s, int which)
{
    sqlite3_stmt *st = s->qv[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

/* One row into fill(st, out); STORE_ENOENT when none. */
static int get_one(sqlite3_stmt *st, void (*fill)(sqlite3_stmt *, void *), void *out)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        fill(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? STORE_OK : rc == SQLITE_DONE ? STORE_ENOENT : STORE_EDB;
}

/* ---- sm_rev ------------------------------------------------------------------ */
static void smx_fill(sqlite3_stmt *st, void *p)
{
    store_smx *x = p;
    x->revision_id = col_dup(st, 0);
    x->version_seq = sqlite3_column_int64(st, 1);
    x->deleting = sqlite3_column_int(st, 2);
}

int store_smx_get(store *s, const char *sm_arn, store_smx *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = vstmt(s, QV_SMX_GET);
    bind_text(st, 1, sm_arn);
    return get_one(st, smx_fill, out);
}

int store_smx_put(store *s, const char *sm_arn, const store_smx *x)
{
    sqlite3_stmt *st = vstmt(s, QV_SMX_PUT);
    bind_text(st, 1, sm_arn);
    bind_text(st, 2, x->revision_id);
    sqlite3_bind_int64(st, 3, x->version_seq);
    sqlite3_bind_int(st, 4, x->deleting);
    return run_done(st);
}

int store_smx_del(store *s, const char *sm_arn)
{
    sqlite3_stmt *st = vstmt(s, QV_SMX_DEL);
    bind_text(st, 1, sm_arn);
    return run_done(st);
}

void store_smx_cleanup(store_smx *x)
{
    if (x) {
        free(x->revision_id);
        memset(x, 0, sizeof *x);
    }
}

int store_smx_each_deleting(store *s, int (*cb)(void *ctx, const char *sm_arn), void *ctx)
{
    /* collected first: cb may write (and reset this statement) */
    sqlite3_stmt *st = vstmt(s, QV_SMX_DELETING);
    char **v = NULL;
    size_t n = 0;
    int rc, ret = STORE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char **nv = realloc(v, (n + 1) * sizeof *v);
        if (nv == NULL || (nv[n] = col_dup(st, 0)) == NULL) {
            v = nv ? nv : v;
            ret = STORE_EDB;
            break;
        }
        v = nv;
        n++;
    }
    if (ret == STORE_OK && rc != SQLITE_DONE)
        ret = STORE_EDB;
    sqlite3_reset(st);
    for (size_t i = 0; i < n; i++) {
        if (ret == STORE_OK) {
            int r = cb(ctx, v[i]);
            if (r != 0)
                ret = r;
        }
        free(v[i]);
    }
    free(v);
    return ret;
}

/* ---- def_rev ----------------------------------------------------------------- */
int store_defrev_put(store *s, int64_t def_id, const char *revision_id, const char *role_arn)
{
    sqlite3_stmt *st = vstmt(s, QV_DEFREV_PUT);
    sqlite3_bind_int64(st, 1, def_id);
    bind_text(st, 2, revision_id);
    bind_text(st, 3, role_arn);
    return run_done(st);
}

typedef struct two {
    char **a, **b;
} two;

static void two_fill(sqlite3_stmt *st, void *p)
{
    two *t = p;
    *t->a = col_dup(st, 0);
    *t->b = col_dup(st, 1);
}

int store_defrev_get(store *s, int64_t def_id, char **revision_id, char **role_arn)
{
    *revision_id = *role_arn = NULL;
    sqlite3_stmt *st = vstmt(s, QV_DEFREV_GET);
    sqlite3_bind_int64(st, 1, def_id);
    two t = {revision_id, role_arn};
    return get_one(st, two_fill, &t);
}

/* ---- versions ---------------------------------------------------------------- */
static void ver_fill(sqlite3_stmt *st, void *p)
{
    store_ver *v = p;
    v->sm_arn = col_dup(st, 0);
    v->version = sqlite3_column_int64(st, 1);
    v->def_id = sqlite3_column_int64(st, 2);
    v->role_arn = col_dup(st, 3);
    v->type = sqlite3_column_int(st, 4);
    v->revision_id = col_dup(st, 5);
    v->description = col_dup(st, 6);
    v->created_ms = sqlite3_column_int64(st, 7);
}

int store_ver_put(store *s, const store_ver *v)
{
    sqlite3_stmt *st = vstmt(s, QV_VER_PUT);
    bind_text(st, 1, v->sm_arn);
    sqlite3_bind_int64(st, 2, v->version);
    sqlite3_bind_int64(st, 3, v->def_id);
    bind_text(st, 4, v->role_arn);
    sqlite3_bind_int(st, 5, v->type);
    bind_text(st, 6, v->revision_id);
    bind_text(st, 7, v->description);
    sqlite3_bind_int64(st, 8, v->created_ms);
    return run_done(st);
}

int store_ver_get(store *s, const char *sm_arn, int64_t version, store_ver *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = vstmt(s, QV_VER_GET);
    bind_text(st, 1, sm_arn);
    sqlite3_bind_int64(st, 2, version);
    return get_one(st, ver_fill, out);
}

int store_ver_latest(store *s, const char *sm_arn, store_ver *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = vstmt(s, QV_VER_LATEST);
    bind_text(st, 1, sm_arn);
    return get_one(st, ver_fill, out);
}

int store_ver_delete(store *s, const char *sm_arn, int64_t version)
{
    sqlite3_stmt *st = vstmt(s, QV_VER_DEL);
    bind_text(st, 1, sm_arn);
    sqlite3_bind_int64(st, 2, version);
    return run_done(st);
}

int store_ver_delete_all(store *s, const char *sm_arn)
{
    sqlite3_stmt *st = vstmt(s, QV_VER_DEL_ALL);
    bind_text(st, 1, sm_arn);
    return run_done(st);
}

void store_ver_cleanup(store_ver *v)
{
    if (v == NULL)
        return;
    free(v->sm_arn);
    free(v->role_arn);
    free(v->revision_id);
    free(v->description);
    memset(v, 0, sizeof *v);
}

/* Rows of a list statement (limit bound as limit + 1 by the caller) to cb;
 * the extra row only sets *more. */
static int list_rows(sqlite3_stmt *st, int limit, size_t size,
                     void (*fill)(sqlite3_stmt *, void *), void (*cleanup)(void *),
                     int (*cb)(void *ctx, const void *row), void *ctx, int *more)
{
    int rc, count = 0, ret = STORE_OK;
    *more = 0;
    union {
        store_ver v;
        store_alias a;
    } u;
    void *row = &u;
    if (size > sizeof u)
        return STORE_EDB;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limit > 0 && count == limit) {
            *more = 1;
            break;
        }
        memset(row, 0, size);
        fill(st, row);
        count++;
        int r = cb(ctx, row);
        cleanup(row);
        if (r != 0) {
            ret = r;
            break;
        }
    }
    if (ret == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = STORE_EDB;
    sqlite3_reset(st);
    return ret;
}

static void ver_cleanup_v(void *p)
{
    store_ver_cleanup(p);
}

int store_ver_list(store *s, const char *sm_arn, int64_t below, int limit,
                   int (*cb)(void *ctx, const store_ver *v), void *ctx, int *more)
{
    sqlite3_stmt *st = vstmt(s, QV_VER_LIST);
    bind_text(st, 1, sm_arn);
    sqlite3_bind_int64(st, 2, below > 0 ? below : INT64_MAX);
    sqlite3_bind_int(st, 3, limit > 0 ? limit + 1 : -1);
    return list_rows(st, limit, sizeof(store_ver), ver_fill, ver_cleanup_v,
                     (int (*)(void *, const void *))cb, ctx, more);
}

/* ---- aliases ----------------------------------------------------------------- */
static void alias_fill(sqlite3_stmt *st, void *p)
{
    store_alias *a = p;
    a->arn = col_dup(st, 0);
    a->sm_arn = col_dup(st, 1);
    a->name = col_dup(st, 2);
    a->description = col_dup(st, 3);
    a->routing = col_dup(st, 4);
    a->created_ms = sqlite3_column_int64(st, 5);
    a->updated_ms = sqlite3_column_int64(st, 6);
}

int store_alias_put(store *s, const store_alias *a)
{
    sqlite3_stmt *st = vstmt(s, QV_AL_PUT);
    bind_text(st, 1, a->arn);
    bind_text(st, 2, a->sm_arn);
    bind_text(st, 3, a->name);
    bind_text(st, 4, a->description);
    bind_text(st, 5, a->routing);
    sqlite3_bind_int64(st, 6, a->created_ms);
    sqlite3_bind_int64(st, 7, a->updated_ms);
    return run_done(st);
}

int store_alias_get(store *s, const char *arn, store_alias *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = vstmt(s, QV_AL_GET);
    bind_text(st, 1, arn);
    return get_one(st, alias_fill, out);
}

int store_alias_delete(store *s, const char *arn)
{
    sqlite3_stmt *st = vstmt(s, QV_AL_DEL);
    bind_text(st, 1, arn);
    return run_done(st);
}

int store_alias_delete_all(store *s, const char *sm_arn)
{
    sqlite3_stmt *st = vstmt(s, QV_AL_DEL_ALL);
    bind_text(st, 1, sm_arn);
    return run_done(st);
}

void store_alias_cleanup(store_alias *a)
{
    if (a == NULL)
        return;
    free(a->arn);
    free(a->sm_arn);
    free(a->name);
    free(a->description);
    free(a->routing);
    memset(a, 0, sizeof *a);
}

static void alias_cleanup_v(void *p)
{
    store_alias_cleanup(p);
}

int store_alias_list(store *s, const char *sm_arn, const char *after, int limit,
                     int (*cb)(void *ctx, const store_alias *a), void *ctx, int *more)
{
    sqlite3_stmt *st = vstmt(s, QV_AL_LIST);
    bind_text(st, 1, sm_arn);
    bind_text(st, 2, after ? after : "");
    sqlite3_bind_int(st, 3, limit > 0 ? limit + 1 : -1);
    return list_rows(st, limit, sizeof(store_alias), alias_fill, alias_cleanup_v,
                     (int (*)(void *, const void *))cb, ctx, more);
}

static void one_fill(sqlite3_stmt *st, void *p)
{
    *(char **)p = col_dup(st, 0);
}

int store_alias_routing_to(store *s, const char *version_arn, char **alias_arn)
{
    *alias_arn = NULL;
    sqlite3_stmt *st = vstmt(s, QV_AL_ROUTING);
    bind_text(st, 1, version_arn);
    int rc = get_one(st, one_fill, alias_arn);
    return rc == STORE_ENOENT ? STORE_OK : rc;
}

/* ---- exec_ver ---------------------------------------------------------------- */
int store_execver_put(store *s, int64_t exec_id, const char *version_arn, const char *alias_arn)
{
    sqlite3_stmt *st = vstmt(s, QV_XV_PUT);
    sqlite3_bind_int64(st, 1, exec_id);
    bind_text(st, 2, version_arn);
    bind_text(st, 3, alias_arn);
    return run_done(st);
}

int store_execver_get(store *s, int64_t exec_id, char **version_arn, char **alias_arn)
{
    *version_arn = *alias_arn = NULL;
    sqlite3_stmt *st = vstmt(s, QV_XV_GET);
    sqlite3_bind_int64(st, 1, exec_id);
    two t = {version_arn, alias_arn};
    return get_one(st, two_fill, &t);
}
