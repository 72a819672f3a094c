/*
 * store_exec.c - state machines, their definitions and executions in the
 * store (see store.h): their rows written and read, the pages of
 * ListExecutions, the running ones for recovery, and retention
 * (store_exec_expire removes ended executions with all their rows).
 *
 * An ended execution's output, error and cause are kept in exec_end, apart
 * from its row (the schema, store.c); its input and output are payloads,
 * deflated or not (store_log.c).
 *
 * Must not: decide anything about executions (it keeps what the runner
 * tells it), open a transaction of its own but retention's savepoint.
 */
#include "store_int.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
    store__bind_payload(s, st, 4, x->input, -1, ZW_INPUT);
    sqlite3_bind_int(st, 5, x->status);
    sqlite3_bind_int64(st, 6, x->start_ms);
    sqlite3_bind_int64(st, 7, x->stop_ms);
    sqlite3_bind_int64(st, 8, (int64_t)x->seed);
    sqlite3_bind_int64(st, 9, x->def_id);
    store__bind_payload(s, st, 10, x->output, -1, ZW_OUTPUT);
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
    x->input = dup ? store__payload_dup(s, st, 4, ZR_INPUT)
                   : (char *)store__col_payload(s, st, 4, ZR_INPUT, NULL, NULL);
    x->status = sqlite3_column_int(st, 5);
    x->start_ms = sqlite3_column_int64(st, 6);
    x->stop_ms = sqlite3_column_int64(st, 7);
    x->seed = (uint64_t)sqlite3_column_int64(st, 8);
    x->def_id = sqlite3_column_int64(st, 9);
    x->output = dup ? store__payload_dup(s, st, 10, ZR_OUTPUT)
                    : (char *)store__col_payload(s, st, 10, ZR_OUTPUT, NULL, NULL);
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
    store__bind_payload(s, st, 2, output, -1, ZW_OUTPUT);
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
    static const int del[] = {Q_EXP_EVENTS, Q_EXP_INPUTS, Q_EXP_END, Q_EXP_MOCK, Q_EXP_EXEC};
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

