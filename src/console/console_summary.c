/*
 * console_summary.c - GET /console/summary?executionArn=: an execution's
 * history walked once (console_walk.c) into what the execution page draws
 * without fetching every event:
 *
 *   {"execution": DescribeExecution's answer,
 *    "states": {name: {"type", "status", "entered", "exited", "attempts",
 *               "retries", "failures", "enteredAt", "exitedAt", "input",
 *               "output", "error", "cause"}},
 *    "containers": {name: {"type": "Map" | "Parallel", "count": n,
 *                   "byStatus": {status: n}}},
 *    "stepNames": [name, ...],
 *    "eventStep": [index into stepNames or -1, for event 1, 2, ...],
 *    "eventCount": n}
 *
 * status is succeeded, retried (succeeded after failed attempts), caught
 * (failed, and a Catch went on), failed, running; a state absent was not
 * reached. containers counts the Map iterations and Parallel branches
 * run (GET /console/iterations pages them). Payloads are cut at CON_PAYLOAD
 * bytes ("truncated").
 *
 * Must not: write; hold more than one page of events in JSON at a time.
 */
#define _GNU_SOURCE
#include "console_walk.h"

#include <stdlib.h>
#include <string.h>

/* Map iterations and Parallel branches, counted by container and status. */
json_t *con__containers(const con_walk *w)
{
    json_t *out = json_object();
    for (size_t i = 1; out && i < w->nctx; i++) {
        const con_ctx *x = &w->ctxs[i];
        const char *name = json_string_value(json_array_get(w->names, (size_t)x->container));
        if (name == NULL)
            continue;
        json_t *c = json_object_get(out, name);
        if (c == NULL) {
            c = json_pack("{s:s,s:I,s:{}}", "type", x->kind == CON_CTX_MAP ? "Map" : "Parallel",
                          "count", (json_int_t)0, "byStatus");
            if (c == NULL || json_object_set_new(out, name, c) != 0)
                continue;
        }
        json_object_set_new(c, "count",
                            json_integer(json_integer_value(json_object_get(c, "count")) + 1));
        json_t *by = json_object_get(c, "byStatus");
        json_object_set_new(by, x->status,
                            json_integer(json_integer_value(json_object_get(by, x->status)) + 1));
    }
    return out;
}

static void answer(con_walk *w)
{
    json_t *steps = json_array();
    for (size_t i = 1; steps && i < w->nstep; i++)
        json_array_append_new(steps, json_integer(w->step[i]));
    json_t *j = json_pack("{s:O,s:O,s:o,s:O,s:o,s:I}", "execution", w->execution, "states",
                          w->states, "containers", con__containers(w), "stepNames", w->names,
                          "eventStep", steps, "eventCount",
                          (json_int_t)(w->nstep ? w->nstep - 1 : 0));
    con__finish_json(&w->p, j ? 200 : 500, j);
}

void con__summary(console *c, http_req *req, const char *arn)
{
    con_walk *w = calloc(1, sizeof *w);
    if (w == NULL) {
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    w->on_done = answer;
    con_walk_start(c, req, w, arn);
}
