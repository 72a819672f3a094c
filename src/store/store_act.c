/*
 * store_act.c - activities (CreateActivity and the template's
 * AWS::StepFunctions::Activity): one row per activity, keyed by ARN, with
 * its name and creation time (its tags are in the tag store of
 * store_meta.c, as every resource's).
 *
 * The table has its own schema string, run by store_open after the main
 * one (store__act_schema). Activities are created and deleted rarely: the
 * statements are prepared per call rather than kept.
 *
 * Must not: decide anything (the runner validates and owns the
 * transaction). Threading: the loop's.
 */
#include "store_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char act_schema[] =
    "CREATE TABLE IF NOT EXISTS activities("
    "arn TEXT PRIMARY KEY, name TEXT NOT NULL, created_ms INTEGER NOT NULL)";

int store__act_schema(store *s, char **err)
{
    return sqlite3_exec(s->db, act_schema, NULL, NULL, err) == SQLITE_OK ? STORE_OK : STORE_EDB;
}

static sqlite3_stmt *prep(store *s, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

static int act_from_row(sqlite3_stmt *st, store_act *out)
{
    memset(out, 0, sizeof *out);
    out->arn = col_dup(st, 0);
    out->name = col_dup(st, 1);
    out->created_ms = sqlite3_column_int64(st, 2);
    if (out->arn == NULL || out->name == NULL) {
        store_act_cleanup(out);
        return STORE_EDB;
    }
    return STORE_OK;
}

int store_act_put(store *s, const store_act *a)
{
    sqlite3_stmt *st = prep(s, "INSERT INTO activities(arn,name,created_ms) VALUES(?,?,?)");
    if (st == NULL)
        return STORE_EDB;
    sqlite3_bind_text(st, 1, a->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, a->created_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return STORE_EEXIST;
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

int store_act_get(store *s, const char *arn, store_act *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = prep(s, "SELECT arn,name,created_ms FROM activities WHERE arn=?");
    if (st == NULL)
        return STORE_EDB;
    sqlite3_bind_text(st, 1, arn, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_ROW ? act_from_row(st, out) : rc == SQLITE_DONE ? STORE_ENOENT
                                                                            : STORE_EDB;
    sqlite3_finalize(st);
    return ret;
}

int store_act_delete(store *s, const char *arn)
{
    sqlite3_stmt *st = prep(s, "DELETE FROM activities WHERE arn=?");
    if (st == NULL)
        return STORE_EDB;
    sqlite3_bind_text(st, 1, arn, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_OK : STORE_EDB;
}

int store_act_list(store *s, long skip, long limit, int (*cb)(void *ctx, const store_act *a),
                   void *ctx, int *more)
{
    *more = 0;
    /* one row past the page tells whether another follows */
    sqlite3_stmt *st = prep(s, "SELECT arn,name,created_ms FROM activities "
                               "ORDER BY created_ms, arn LIMIT ? OFFSET ?");
    if (st == NULL)
        return STORE_EDB;
    sqlite3_bind_int64(st, 1, limit > 0 ? limit + 1 : -1);
    sqlite3_bind_int64(st, 2, skip > 0 ? skip : 0);
    int rc, ret = STORE_OK;
    long n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (limit > 0 && n == limit) {
            *more = 1;
            break;
        }
        store_act a;
        if ((ret = act_from_row(st, &a)) != STORE_OK)
            break;
        ret = cb(ctx, &a);
        store_act_cleanup(&a);
        if (ret != 0)
            break;
        n++;
    }
    if (ret == STORE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = STORE_EDB;
    sqlite3_finalize(st);
    return ret;
}

void store_act_cleanup(store_act *a)
{
    if (a == NULL)
        return;
    free(a->arn);
    free(a->name);
    memset(a, 0, sizeof *a);
}
