/*
 * console_iter.c - GET /console/iterations?executionArn=&state=[&offset=]
 * [&limit=][&status=]: the Map iterations or Parallel branches of one
 * container state, a page at a time (limit at most ITER_MAX), for the
 * execution page's drill-down:
 *
 *   {"state": name, "type": "Map" | "Parallel", "members": [the state
 *    names inside it], "total": n, "matched": n (with status), "offset",
 *    "items": [{"index", "context" (the enclosing iteration or branch, ""
 *    at the top), "status", "states": {name: {"status", "entered",
 *    "exited", "attempts", "retries", "error", "cause"}}}]}
 *
 * Items are in the order the history started them. The history is walked
 * once per request (console_walk.c), as the summary is.
 *
 * Must not: write; answer more than ITER_MAX items.
 */
#define _GNU_SOURCE
#include "console_walk.h"

#include <stdlib.h>
#include <string.h>

#define ITER_MAX 200

typedef struct iter_req {
    con_walk w;
    char state[256];
    char status[32];
    long offset, limit;
} iter_req;

/* One context as an item. */
static json_t *item(const con_walk *w, int c)
{
    char label[512];
    const con_ctx *x = &w->ctxs[c];
    con_walk_ctx_label(w, x->parent, label, sizeof label);
    return json_pack("{s:I,s:s,s:s,s:O}", "index", (json_int_t)x->index, "context", label,
                     "status", x->status, "states", x->states);
}

json_t *con__iterations(const con_walk *w, const char *state, const char *status, long offset,
                        long limit)
{
    int m = -1;
    const json_t *st = json_object_get(w->states, state);
    if (st)
        m = (int)json_integer_value(json_object_get(st, "index"));
    const json_t *def = w->definition ? con_walk_find_state(w->definition, state) : NULL;
    const char *type = json_string_value(json_object_get(def, "Type"));
    json_t *members = w->definition ? con_walk_members(w->definition, state) : NULL;
    json_t *items = json_array();
    long total = 0, matched = 0;
    for (size_t i = 1; items && m >= 0 && i < w->nctx; i++) {
        const con_ctx *x = &w->ctxs[i];
        if (x->container != m)
            continue;
        total++;
        if (status && *status && strcmp(status, x->status))
            continue;
        if (matched++ >= offset && (long)json_array_size(items) < limit)
            json_array_append_new(items, item(w, (int)i));
    }
    return json_pack("{s:s,s:s?,s:o,s:I,s:I,s:I,s:o}", "state", state, "type", type, "members",
                     members ? members : json_array(), "total", (json_int_t)total, "matched",
                     (json_int_t)matched, "offset", (json_int_t)offset, "items", items);
}

static void answer(con_walk *w)
{
    iter_req *r = (iter_req *)w;
    if (json_object_get(w->states, r->state) == NULL && w->definition &&
        con_walk_find_state(w->definition, r->state) == NULL) {
        con__finish_err(&w->p, 400, "ValidationException", "no such state in the definition");
        return;
    }
    json_t *j = con__iterations(w, r->state, r->status, r->offset, r->limit);
    con__finish_json(&w->p, j ? 200 : 500, j);
}

static long num_param(http_req *req, const char *name, long def, long max)
{
    char buf[32];
    if (http_req_query_param(req, name, buf, sizeof buf) <= 0)
        return def;
    char *end;
    long v = strtol(buf, &end, 10);
    return *end || v < 0 ? -1 : v > max ? max : v;
}

void con__iter(console *c, http_req *req, const char *arn)
{
    iter_req *r = calloc(1, sizeof *r);
    if (r == NULL) {
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    r->offset = num_param(req, "offset", 0, 100000000);
    r->limit = num_param(req, "limit", 50, ITER_MAX);
    if (http_req_query_param(req, "state", r->state, sizeof r->state) <= 0 || r->offset < 0 ||
        r->limit <= 0) {
        free(r);
        con__respond_err(req, 400, "ValidationException",
                         "iterations needs state, and offset/limit as numbers (limit 1-200)");
        return;
    }
    if (http_req_query_param(req, "status", r->status, sizeof r->status) < 0)
        r->status[0] = '\0';
    r->w.on_done = answer;
    r->w.ctx_states_of = r->state;
    con_walk_start(c, req, &r->w, arn);
}
