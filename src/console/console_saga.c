/*
 * console_saga.c - GET /console/saga?executionArn=[&tripId=]: what a saga
 * execution holds and what it published, for the execution page:
 *
 *   {"bookings": [{"table", "tripId", "kind", "status", "owner",
 *                  "bookedAt", "cancelledAt", "cancelAttempts",
 *                  "heldByThis", "undoneByThis"}],
 *    "alerts": [{"topic", "message": the line as recorded}]}
 *
 * Bookings come from <data>/tables/<Table>.sqlite files that have a
 * bookings table (the saga functions' local store), opened READ-ONLY here:
 * the rows owned by the execution, cancelled by it, or of its trip. Reading
 * the file rather than invoking a function keeps the console from running
 * user code or taking a worker from an execution, and a read-only handle
 * cannot change a booking. Alerts are the lines of <data>/sns/ *.jsonl files that
 * name the execution or the trip (the last ALERTS_MAX).
 *
 * Must not: write to a table or the SNS sink; wait on a lock for long
 * (busy timeout SAGA_BUSY_MS).
 */
#define _GNU_SOURCE
#include "console_int.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAGA_BUSY_MS 200
#define ALERTS_MAX 50
#define ROWS_MAX 200

static const char *ends(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && !strcmp(s + a - b, suf) ? s + a - b : NULL;
}

static json_t *col(sqlite3_stmt *q, int i)
{
    switch (sqlite3_column_type(q, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(q, i));
    case SQLITE_NULL: return json_null();
    default: return json_string((const char *)sqlite3_column_text(q, i));
    }
}

/* The rows of one table file that concern the execution or the trip. */
static void table_rows(const char *path, const char *table, const char *arn, const char *trip,
                       json_t *out)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        goto done;
    sqlite3_busy_timeout(db, SAGA_BUSY_MS);
    if (sqlite3_prepare_v2(db,
                           "SELECT tripId, kind, status, owner, bookedAt, cancelledAt, "
                           "cancelAttempts, cancelledBy FROM bookings WHERE owner=?1 OR "
                           "instr(cancelledBy, ?1) > 0 OR tripId=?2 ORDER BY tripId, kind LIMIT ?3",
                           -1, &q, NULL) != SQLITE_OK)
        goto done;
    sqlite3_bind_text(q, 1, arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, trip ? trip : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(q, 3, ROWS_MAX);
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *owner = (const char *)sqlite3_column_text(q, 3);
        const char *status = (const char *)sqlite3_column_text(q, 2);
        const char *by = (const char *)sqlite3_column_text(q, 7);
        int mine = owner && !strcmp(owner, arn);
        json_t *row = json_pack("{s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:b}", "table", table,
                                "tripId", col(q, 0), "kind", col(q, 1), "status", col(q, 2),
                                "owner", col(q, 3), "bookedAt", col(q, 4), "cancelledAt",
                                col(q, 5), "cancelAttempts", col(q, 6), "heldByThis",
                                mine && status && !strcmp(status, "BOOKED"), "undoneByThis",
                                by && strstr(by, arn) != NULL);
        if (row)
            json_array_append_new(out, row);
    }
done:
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static json_t *bookings(const char *datadir, const char *arn, const char *trip)
{
    json_t *out = json_array();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tables", datadir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && out && (e = readdir(d)) != NULL) {
        const char *suf = ends(e->d_name, ".sqlite");
        if (suf == NULL || e->d_name[0] == '.')
            continue;
        char path[8192], table[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(table, sizeof table, "%.*s", (int)(suf - e->d_name), e->d_name);
        table_rows(path, table, arn, trip, out);
    }
    if (d)
        closedir(d);
    return out;
}

/* The lines of one topic's sink naming the execution or the trip. */
static void topic_lines(const char *path, const char *topic, const char *arn, const char *trip,
                        json_t *out)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (f && (n = getline(&line, &cap, f)) > 0) {
        if (!strstr(line, arn) && !(trip && *trip && strstr(line, trip)))
            continue;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        json_t *msg = json_loads(line, 0, NULL);
        json_array_append_new(out, json_pack("{s:s,s:o}", "topic", topic, "message",
                                             msg ? msg : json_string(line)));
        if (json_array_size(out) > ALERTS_MAX)
            json_array_remove(out, 0);
    }
    free(line);
    if (f)
        fclose(f);
}

static json_t *alerts(const char *datadir, const char *arn, const char *trip)
{
    json_t *out = json_array();
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sns", datadir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && out && (e = readdir(d)) != NULL) {
        const char *suf = ends(e->d_name, ".jsonl");
        if (suf == NULL || e->d_name[0] == '.')
            continue;
        char path[8192], topic[256];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        snprintf(topic, sizeof topic, "%.*s", (int)(suf - e->d_name), e->d_name);
        topic_lines(path, topic, arn, trip, out);
    }
    if (d)
        closedir(d);
    return out;
}

void con__saga(console *c, http_req *req, const char *arn)
{
    char trip[256];
    int tl = http_req_query_param(req, "tripId", trip, sizeof trip);
    const char *t = tl > 0 ? trip : NULL;
    con__respond_json(req, 200,
                      json_pack("{s:o,s:o}", "bookings", bookings(c->datadir, arn, t), "alerts",
                                alerts(c->datadir, arn, t)));
}
