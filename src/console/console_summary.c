/*
 * console_summary.c - GET /console/summary?executionArn=: an execution's
 * history walked once, page by page through the API (DescribeExecution,
 * then GetExecutionHistory 1,000 events at a time), into what the
 * execution page draws without fetching every event:
 *
 *   {"execution": DescribeExecution's answer,
 *    "states": {name: {"type", "status", "entered", "exited", "attempts",
 *               "retries", "failures", "enteredAt", "exitedAt", "input",
 *               "output", "error", "cause"}},
 *    "stepNames": [name, ...],
 *    "eventStep": [index into stepNames or -1, for event 1, 2, ...],
 *    "eventCount": n}
 *
 * status is succeeded, retried (succeeded after failed attempts), caught
 * (failed, and a Catch went on), failed, running; a state absent was not
 * reached. A StateEntered or StateExited event belongs to the state it
 * names; any other follows previousEventId back to one (not across a
 * StateExited). Payloads are cut at SUMMARY_PAYLOAD bytes ("truncated").
 *
 * Must not: write; hold more than one page of events in JSON at a time.
 */
#define _GNU_SOURCE
#include "console_int.h"

#include <stdlib.h>
#include <string.h>

#define PAGE 1000
#define SUMMARY_PAYLOAD 16384

typedef struct summary {
    con_pending p;
    char *arn;
    json_t *execution;
    json_t *states;    /* name -> stat */
    json_t *names;     /* index -> name */
    int *step;         /* event id -> name index, -1 */
    unsigned char *ex; /* event id -> 1 if a StateExited */
    size_t nstep, capstep;
} summary;

static void summary_destroy(con_pending *p)
{
    summary *s = (summary *)p;
    free(s->arn);
    json_decref(s->execution);
    json_decref(s->states);
    json_decref(s->names);
    free(s->step);
    free(s->ex);
    free(s);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static json_t *details_of(const json_t *ev)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ev, k, v) {
        if (ends_with(k, "EventDetails") && json_is_object(v))
            return v;
    }
    return NULL;
}

static void set_payload(json_t *st, const char *key, const json_t *v)
{
    const char *t = json_string_value(v);
    if (t == NULL)
        return;
    size_t n = strlen(t);
    if (n > SUMMARY_PAYLOAD) {
        json_object_set_new(st, key, json_stringn(t, SUMMARY_PAYLOAD));
        json_object_set_new(st, "truncated", json_true());
    } else
        json_object_set_new(st, key, json_string(t));
}

static void bump(json_t *st, const char *key)
{
    json_object_set_new(st, key, json_integer(json_integer_value(json_object_get(st, key)) + 1));
}

/* The state an event belongs to: a StateEntered's own, else its
 * predecessor's (not across a StateExited). */
static int attribute(summary *s, long long id, long long prev, const char *type, const json_t *d)
{
    if (ends_with(type, "StateExited")) {
        const char *name = json_string_value(json_object_get(d, "name"));
        const json_t *st = name ? json_object_get(s->states, name) : NULL;
        return st ? (int)json_integer_value(json_object_get(st, "index")) : -1;
    }
    if (ends_with(type, "StateEntered")) {
        const char *name = json_string_value(json_object_get(d, "name"));
        if (name == NULL)
            return -1;
        json_t *st = json_object_get(s->states, name);
        if (st == NULL) {
            size_t tl = strlen(type) - strlen("StateEntered");
            st = json_pack("{s:s%,s:I,s:I,s:I,s:I}", "type", type, tl, "index",
                           (json_int_t)json_array_size(s->names), "entered", (json_int_t)0,
                           "exited", (json_int_t)0, "attempts", (json_int_t)0);
            if (st == NULL || json_object_set_new(s->states, name, st) != 0 ||
                json_array_append_new(s->names, json_string(name)) != 0)
                return -1;
        }
        return (int)json_integer_value(json_object_get(st, "index"));
    }
    if (prev <= 0 || (size_t)prev >= s->nstep || s->ex[prev])
        return -1;
    (void)id;
    return s->step[prev];
}

static int grow(summary *s, size_t id)
{
    if (id < s->capstep)
        return 0;
    size_t cap = s->capstep ? s->capstep : 1024;
    while (cap <= id)
        cap *= 2;
    int *st = realloc(s->step, cap * sizeof *st);
    if (st == NULL)
        return -1;
    s->step = st;
    unsigned char *ex = realloc(s->ex, cap);
    if (ex == NULL)
        return -1;
    s->ex = ex;
    for (size_t i = s->capstep; i < cap; i++) {
        s->step[i] = -1;
        s->ex[i] = 0;
    }
    s->capstep = cap;
    return 0;
}

/* One event into the per-state counts. */
static int add_event(summary *s, const json_t *ev)
{
    long long id = json_integer_value(json_object_get(ev, "id"));
    long long prev = json_integer_value(json_object_get(ev, "previousEventId"));
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (id <= 0 || id > 100000000 || type == NULL || grow(s, (size_t)id) != 0)
        return id <= 0 || type == NULL ? 0 : -1;
    const json_t *d = details_of(ev);
    int k = attribute(s, id, prev, type, d);
    s->step[id] = k;
    s->ex[id] = ends_with(type, "StateExited");
    if ((size_t)id + 1 > s->nstep)
        s->nstep = (size_t)id + 1;
    if (k < 0)
        return 0;
    json_t *st = json_object_get(s->states, json_string_value(json_array_get(s->names, (size_t)k)));
    const json_t *ts = json_object_get(ev, "timestamp");
    if (ends_with(type, "StateEntered")) {
        bump(st, "entered");
        json_object_set(st, "enteredAt", (json_t *)ts);
        set_payload(st, "input", json_object_get(d, "input"));
        json_object_del(st, "outcome");
    } else if (ends_with(type, "StateExited")) {
        bump(st, "exited");
        json_object_set(st, "exitedAt", (json_t *)ts);
        set_payload(st, "output", json_object_get(d, "output"));
    } else if (ends_with(type, "Scheduled")) {
        bump(st, "attempts");
    } else if (strncmp(type, "Execution", 9) &&
               (ends_with(type, "Failed") || ends_with(type, "TimedOut") ||
                ends_with(type, "Aborted"))) {
        bump(st, "failures");
        json_object_set_new(st, "outcome", json_string("failed"));
        set_payload(st, "error", json_object_get(d, "error"));
        set_payload(st, "cause", json_object_get(d, "cause"));
    } else if (strncmp(type, "Execution", 9) && ends_with(type, "Succeeded")) {
        json_object_set_new(st, "outcome", json_string("ok"));
    }
    return 0;
}

/* Each state's status, once every event is in. */
static void statuses(summary *s)
{
    const char *exec = json_string_value(json_object_get(s->execution, "status"));
    int running = exec && (!strcmp(exec, "RUNNING") || !strcmp(exec, "PENDING_REDRIVE"));
    const char *name;
    json_t *st;
    json_object_foreach(s->states, name, st) {
        json_int_t in = json_integer_value(json_object_get(st, "entered"));
        json_int_t out = json_integer_value(json_object_get(st, "exited"));
        json_int_t att = json_integer_value(json_object_get(st, "attempts"));
        json_int_t fails = json_integer_value(json_object_get(st, "failures"));
        const char *type = json_string_value(json_object_get(st, "type"));
        const char *outcome = json_string_value(json_object_get(st, "outcome"));
        const char *status;
        if (in > out)
            status = running ? "running" : "failed";
        else if (type && !strcmp(type, "Fail"))
            status = "failed";
        else if (outcome && !strcmp(outcome, "failed"))
            status = "caught";
        else if (fails > 0)
            status = "retried";
        else
            status = "succeeded";
        json_object_set_new(st, "status", json_string(status));
        json_object_set_new(st, "retries", json_integer(att > 1 ? att - 1 : 0));
    }
}

static void answer(summary *s)
{
    statuses(s);
    json_t *steps = json_array();
    for (size_t i = 1; steps && i < s->nstep; i++)
        json_array_append_new(steps, json_integer(s->step[i]));
    json_t *j = json_pack("{s:O,s:O,s:O,s:o,s:I}", "execution", s->execution, "states", s->states,
                          "stepNames", s->names, "eventStep", steps, "eventCount",
                          (json_int_t)(s->nstep ? s->nstep - 1 : 0));
    con__finish_json(&s->p, j ? 200 : 500, j);
}

static void next_page(summary *s, const char *token)
{
    json_t *body = json_pack("{s:s,s:i,s:b}", "executionArn", s->arn, "maxResults", PAGE,
                             "includeExecutionData", 1);
    if (body && token)
        json_object_set_new(body, "nextToken", json_string(token));
    con__api(&s->p, "AWSStepFunctions.GetExecutionHistory", body);
}

static void history_reply(con_pending *p, int status, const char *body, size_t len)
{
    summary *s = (summary *)p;
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    if (j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, json_loadb(body, len, 0, NULL));
        return;
    }
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(j, "events"), i, ev) {
        if (add_event(s, ev) != 0) {
            json_decref(j);
            con__finish_err(p, 500, "InternalFailure", "out of memory");
            return;
        }
    }
    const char *tok = json_string_value(json_object_get(j, "nextToken"));
    if (tok)
        next_page(s, tok);
    else
        answer(s);
    json_decref(j);
}

static void describe_reply(con_pending *p, int status, const char *body, size_t len)
{
    summary *s = (summary *)p;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status != 200 || j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, j);
        return;
    }
    s->execution = j;
    p->on_reply = history_reply;
    next_page(s, NULL);
}

void con__summary(console *c, http_req *req, const char *arn)
{
    summary *s = calloc(1, sizeof *s);
    if (s == NULL || (s->arn = strdup(arn)) == NULL || (s->states = json_object()) == NULL ||
        (s->names = json_array()) == NULL) {
        if (s)
            summary_destroy(&s->p);
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    s->p.req = req;
    s->p.on_reply = describe_reply;
    s->p.destroy = summary_destroy;
    con__link(c, &s->p);
    con__api(&s->p, "AWSStepFunctions.DescribeExecution", json_pack("{s:s}", "executionArn", arn));
}
