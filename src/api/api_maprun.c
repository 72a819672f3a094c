/*
 * api_maprun.c - the Map Run operations of a distributed Map: ListMapRuns,
 * DescribeMapRun, UpdateMapRun, in AWS's shapes, over the records the
 * runner saves with each step (run_meta.h; the core keeps them,
 * asl_maprun.c).
 *
 * The iterations of a map run run inside its execution here (no child
 * executions are made): executionCounts are the iterations' counts, the
 * same as itemCounts (no ItemBatcher batches counted apart), and
 * ListExecutions with a mapRunArn lists none.
 *
 * Must not: write except through the runner; reply except through
 * api__reply_* (after the commit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"
#include "run_meta.h"

#include <stdlib.h>
#include <string.h>

static const char *map_run_status(int st)
{
    switch (st) {
    case ASL_RUNNING: return "RUNNING";
    case ASL_SUCCEEDED: return "SUCCEEDED";
    case ASL_FAILED: return "FAILED";
    default: return "ABORTED";
    }
}

static json_t *counts(const run_map_run *m)
{
    return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i}", "pending", m->pending, "running",
                     m->running, "succeeded", m->succeeded, "failed", m->failed, "timedOut", 0,
                     "aborted", m->aborted, "total", m->total, "resultsWritten",
                     m->succeeded + m->failed);
}

/* The map run arn: checked, found (*m to run_map_run_cleanup). */
int api__find_map_run(call *c, const char *arn, run_map_run *m)
{
    if (api__check_arn(c, arn, "mapRun", NULL))
        return -1;
    int rc = run_map_run_get(c->a->run, arn, m);
    if (rc == RUN_ENOENT) {
        CLIENT(c, "ResourceNotFound", "Resource not found: '%s'", arn);
        return -1;
    }
    if (rc != 0) {
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return -1;
    }
    return 0;
}

void api__op_describe_map_run(call *c, json_t *req)
{
    const char *arn;
    run_map_run m;
    if (api__str_member(c, req, "mapRunArn", 1, 2000, &arn) || api__find_map_run(c, arn, &m))
        return;
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:i,s:f,s:i,s:o,s:o}", "mapRunArn", m.arn,
                          "executionArn", m.exec_arn, "status", map_run_status(m.status),
                          "startDate", ts(m.start_ms), "maxConcurrency", m.max_concurrency,
                          "toleratedFailurePercentage", m.tolerated_pct,
                          "toleratedFailureCount", m.tolerated_count, "itemCounts", counts(&m),
                          "executionCounts", counts(&m));
    if (o && m.status != ASL_RUNNING)
        json_object_set_new(o, "stopDate", ts(m.stop_ms));
    run_map_run_cleanup(&m);
    api__reply_json(c, o);
}

typedef struct mr_list {
    json_t *arr;
    long skip, limit, seen;
    int more;
} mr_list;

static int mr_list_cb(void *ctx, const run_map_run *m)
{
    mr_list *l = ctx;
    if (l->seen++ < l->skip)
        return 0;
    if ((long)json_array_size(l->arr) >= l->limit) {
        l->more = 1;
        return 1;
    }
    json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "executionArn", m->exec_arn, "mapRunArn", m->arn,
                          "stateMachineArn", m->sm_arn, "startDate", ts(m->start_ms));
    if (o && m->status != ASL_RUNNING)
        json_object_set_new(o, "stopDate", ts(m->stop_ms));
    json_array_append_new(l->arr, o);
    return 0;
}

void api__op_list_map_runs(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    long long skip = 0;
    run_exec_info x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        api__str_member(c, req, "nextToken", 0, 3096, &tok) ||
        api__parse_token(c, tok, "MR", &skip) || api__find_exec(c, arn, &x))
        return;
    run_exec_info_cleanup(&x);
    mr_list l = {.arr = json_array(), .skip = (long)skip, .limit = max ? max : LIST_DEFAULT};
    int rc = run_map_run_each(c->a->run, arn, mr_list_cb, &l);
    if (rc < 0 || l.arr == NULL) {
        json_decref(l.arr);
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return;
    }
    json_t *o = json_pack("{s:o}", "mapRuns", l.arr);
    if (o && l.more)
        json_object_set_new(o, "nextToken", json_sprintf("MR%ld", l.skip + l.limit));
    api__reply_json(c, o);
}

void api__op_update_map_run(call *c, json_t *req)
{
    const char *arn;
    long mc, tc;
    json_t *tp;
    run_map_run m;
    if (api__str_member(c, req, "mapRunArn", 1, 2000, &arn) ||
        api__int_member(c, req, "maxConcurrency", 0, 2147483647L, -1, &mc) ||
        api__int_member(c, req, "toleratedFailureCount", 0, 2147483647L, -1, &tc))
        return;
    tp = json_object_get(req, "toleratedFailurePercentage");
    if (tp && !json_is_null(tp) && !json_is_number(tp)) {
        CLIENT(c, "SerializationException",
               "Unexpected value for 'toleratedFailurePercentage': expected FLOAT_VALUE");
        return;
    }
    double pct = tp && json_is_number(tp) ? json_number_value(tp) : -1;
    if (tp && json_is_number(tp) && (pct < 0 || pct > 100)) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%g' at 'toleratedFailurePercentage' failed to "
               "satisfy constraint: Member must have value %s",
               pct, pct < 0 ? "greater than or equal to 0.0" : "less than or equal to 100.0");
        return;
    }
    if (mc < 0 && tc < 0 && pct < 0) {
        CLIENT(c, "ValidationException",
               "Must provide at least one of maxConcurrency, toleratedFailurePercentage or "
               "toleratedFailureCount");
        return;
    }
    if (api__find_map_run(c, arn, &m))
        return;
    run_map_run_cleanup(&m);
    json_t *ch = json_object();
    if (mc >= 0)
        json_object_set_new(ch, "maxConcurrency", json_integer(mc));
    if (tc >= 0)
        json_object_set_new(ch, "toleratedFailureCount", json_integer(tc));
    if (pct >= 0)
        json_object_set_new(ch, "toleratedFailurePercentage", json_real(pct));
    int rc = run_map_run_update(c->a->run, arn, ch);
    json_decref(ch);
    if (rc != 0)
        api__reply_unavail(c);
    else
        api__reply_json(c, json_object());
}
