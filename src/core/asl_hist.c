/*
 * asl_hist.c - an execution's history: the events as they are recorded
 * (small structs, appended by asl__emit), and their text: the
 * GetExecutionHistory shape the API returns, and the compact log form the
 * runner stores, where a payload equal to the last one written in full is
 * an "@<id>" reference to it.
 *
 * It records and writes; it must not decide anything about the execution
 * (which event comes when is asl_exec.c's and asl_par.c's), and like the
 * rest of the core it does no I/O.
 */
#include "asl_exec_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_names[] = {
#define X(n) #n,
    EVENT_TYPES(X)
#undef X
};

/* ---- recording ------------------------------------------------------------- */
/* Tests: when > 0, the growth of the history that brings it to 0 fails,
 * as an out-of-memory would (asl_int.h). */
long asl__test_fail_grow;

#define EV_RESERVE 32

ev *asl__emit(asl_exec *x, thr *t, int type, const state *st)
{
    if (t && t->silent)
        return NULL;
    /* The history is the truth: an event is never dropped. The array is
     * grown while EV_RESERVE slots are still free, so when that fails (no
     * memory) the event, and the failure the execution then ends with,
     * still have room; run_queue fails the execution at once. */
    size_t need = x->nev + 1 + EV_RESERVE;
    int fail_now = need > x->capev && asl__test_fail_grow > 0 && --asl__test_fail_grow == 0;
    if (fail_now || asl__grow((void **)&x->evs, &x->capev, need, sizeof *x->evs) != 0) {
        x->oom = 1;
        if (x->nev >= x->capev)
            return NULL; /* the reserve is spent: cannot happen in one step */
    }
    ev *e = &x->evs[x->nev++];
    memset(e, 0, sizeof *e);
    e->type = type;
    e->ts = x->now;
    e->st = st;
    uint32_t id = (uint32_t)x->nev;
    if (t) {
        e->prev = t->last;
        t->last = id;
    } else {
        e->prev = x->nev > 1 ? (uint32_t)(x->nev - 1) : 0;
    }
    return e;
}

void asl__events_free(asl_exec *x)
{
    for (size_t i = 0; i < x->nev; i++) {
        json_decref(x->evs[i].a);
        json_decref(x->evs[i].assigned);
        free(x->evs[i].err);
        free(x->evs[i].cause);
        free(x->evs[i].loc);
    }
    free(x->evs);
}

size_t asl_exec_event_count(const asl_exec *x) { return x->nev; }

/* ---- the log form's @<id> tokens ---------------------------------------- */
/* End of the string token at p[0] == '"' within [p, end): just past its
 * closing quote, or NULL. */
static const char *str_end(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

int asl_event_log_payload(const char *line, size_t len, const char **tok, size_t *toklen)
{
    const char *p = line, *end = line + len;
    while (p < end) {
        if (*p != '"') {
            p++;
            continue;
        }
        const char *e = str_end(p, end);
        if (e == NULL)
            return -1;
        size_t kl = (size_t)(e - p);
        if (e < end && *e == ':' && e + 1 < end && e[1] == '"' &&
            ((kl == 7 && memcmp(p, "\"input\"", 7) == 0) ||
             (kl == 8 && memcmp(p, "\"output\"", 8) == 0))) {
            const char *ve = str_end(e + 1, end);
            if (ve == NULL)
                return -1;
            *tok = e + 1;
            *toklen = (size_t)(ve - (e + 1));
            return 0;
        }
        p = e;
    }
    return -1;
}

int asl_event_log_expand(const char *line, size_t len,
                         int (*lookup)(void *ctx, int64_t id, const char **tok, size_t *toklen),
                         void *ctx, asl_jbuf *out)
{
    const char *p = line, *end = line + len, *copied = line;
    while (p < end) {
        if (*p == '"') {
            const char *e = str_end(p, end);
            if (e == NULL)
                break;
            p = e;
            continue;
        }
        if (*p != '@') {
            p++;
            continue;
        }
        /* @<digits>: outside every string, so ours */
        const char *d = p + 1;
        int64_t id = 0;
        while (d < end && *d >= '0' && *d <= '9' && id < ((int64_t)1 << 40))
            id = id * 10 + (*d++ - '0');
        if (d == p + 1)
            return SFN_EINVAL;
        const char *tok;
        size_t tl;
        if (lookup(ctx, id, &tok, &tl) != 0)
            return SFN_ENOENT;
        asl_jbuf_raw(out, copied, (size_t)(p - copied));
        asl_jbuf_raw(out, tok, tl);
        copied = p = d;
    }
    asl_jbuf_raw(out, copied, (size_t)(end - copied));
    return out->oom ? SFN_ENOMEM : SFN_OK;
}

const char *asl_exec_event_type(const asl_exec *x, size_t i)
{
    return i < x->nev ? event_names[x->evs[i].type] : NULL;
}

/* ---- history events as text ---------------------------------------------------------------
 * One writer for the GetExecutionHistory shape, straight from the event
 * structs: the runner stores this text and the API returns it; the json_t
 * form (asl_exec_event_json) is this text parsed. Keys in AWS's order. */

/* "key":"<payload as JSON text, escaped>","keyDetails":{"truncated":false} */
/* For the log form (asl_exec_event_write_log): the execution's last
 * payload written in full, which a later equal payload refers to. */
typedef struct dd_ref {
    asl_jbuf *text;   /* its JSON text, unescaped */
    size_t *id;       /* its event id (0: none yet) */
    size_t this_id;   /* the event being written */
    const json_t **val; /* its value, when the events are written in one go
                         * (asl_exec_events_write_log: no step in between, so
                         * the same value has the same text); else NULL */
} dd_ref;

static void w_payload(asl_jbuf *b, const char *key, const char *detkey, const json_t *v,
                      int include_data, dd_ref *dd)
{
    if (!include_data)
        return;
    /* One state's input is often the last event's too (ExecutionStarted,
     * TaskStateEntered and TaskScheduled; TaskStateExited and the next
     * TaskStateEntered). The log form refers to the execution's last full
     * payload; the API form reuses the escaped text of the thread's last
     * one. */
    static __thread asl_jbuf scratch, last, last_esc;
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    if (dd && dd->val && v && *dd->val == v && *dd->id) {
        /* the last full payload's own value: its text, without writing it */
        asl_jbuf_c(b, '@');
        asl_jbuf_int(b, (int64_t)*dd->id);
        goto details;
    }
    asl_jbuf_reset(&scratch);
    asl_jbuf_value(&scratch, v ? v : json_null());
    const char *src = scratch.p ? scratch.p : "null";
    size_t n = scratch.p ? scratch.n : 4;
    asl_jbuf *mem = dd ? dd->text : &last;
    int same = mem->p && mem->n == n && !mem->oom && memcmp(mem->p, src, n) == 0;
    if (dd && same && *dd->id) {
        /* "@<id>": never JSON, so never mistaken for a payload, which is
         * always a string */
        asl_jbuf_c(b, '@');
        asl_jbuf_int(b, (int64_t)*dd->id);
        if (dd->val)
            *dd->val = v;
    } else if (!dd && same && !last_esc.oom) {
        asl_jbuf_raw(b, last_esc.p, last_esc.n);
    } else {
        size_t at = b->n;
        asl_jbuf_str(b, src, n);
        asl_jbuf_reset(mem);
        asl_jbuf_raw(mem, src, n);
        if (dd) {
            *dd->id = dd->this_id;
            if (dd->val)
                *dd->val = scratch.oom || mem->oom ? NULL : v;
        } else {
            asl_jbuf_reset(&last_esc);
            if (!b->oom)
                asl_jbuf_raw(&last_esc, b->p + at, b->n - at);
        }
    }
details:
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, detkey, strlen(detkey));
    asl_jbuf_raw(b, ":{\"truncated\":false}", 20);
}

static void w_kv(asl_jbuf *b, const char *key, const char *val)
{
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    asl_jbuf_str(b, val, strlen(val));
}

static void w_ki(asl_jbuf *b, const char *key, int64_t v)
{
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, key, strlen(key));
    asl_jbuf_c(b, ':');
    asl_jbuf_int(b, v);
}

static void w_err(asl_jbuf *b, const ev *e)
{
    if (e->cause)
        w_kv(b, "cause", e->cause);
    if (e->err)
        w_kv(b, "error", e->err);
}

static const char *region_of(const char *arn, char *buf, size_t len)
{
    /* arn:aws:states:REGION:... */
    const char *p = arn;
    for (int i = 0; i < 3 && p; i++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    if (p == NULL)
        return "us-east-1";
    const char *q = strchr(p, ':');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n == 0 || n >= len)
        return "us-east-1";
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

static const char *res_name(const state *st)
{
    return st->res_name ? st->res_name : st->resource;
}

static const char *res_type(const state *st)
{
    return st->res_type ? st->res_type : "";
}

/* The details object's key of each event type; none for a few. */
#define STATE_ENTERED "stateEnteredEventDetails"
#define STATE_EXITED "stateExitedEventDetails"
static const char *const details_key[E__COUNT] = {
    [E_ExecutionStarted] = "executionStartedEventDetails",
    [E_ExecutionSucceeded] = "executionSucceededEventDetails",
    [E_ExecutionFailed] = "executionFailedEventDetails",
    [E_ExecutionAborted] = "executionAbortedEventDetails",
    [E_ExecutionTimedOut] = "executionTimedOutEventDetails",
    [E_ExecutionRedriven] = "executionRedrivenEventDetails",
    [E_TaskStateEntered] = STATE_ENTERED, [E_PassStateEntered] = STATE_ENTERED,
    [E_ChoiceStateEntered] = STATE_ENTERED, [E_WaitStateEntered] = STATE_ENTERED,
    [E_SucceedStateEntered] = STATE_ENTERED, [E_FailStateEntered] = STATE_ENTERED,
    [E_ParallelStateEntered] = STATE_ENTERED, [E_MapStateEntered] = STATE_ENTERED,
    [E_TaskStateExited] = STATE_EXITED, [E_PassStateExited] = STATE_EXITED,
    [E_ChoiceStateExited] = STATE_EXITED, [E_WaitStateExited] = STATE_EXITED,
    [E_SucceedStateExited] = STATE_EXITED, [E_ParallelStateExited] = STATE_EXITED,
    [E_MapStateExited] = STATE_EXITED,
    [E_TaskScheduled] = "taskScheduledEventDetails",
    [E_TaskStarted] = "taskStartedEventDetails",
    [E_TaskSucceeded] = "taskSucceededEventDetails",
    [E_TaskSubmitted] = "taskSubmittedEventDetails",
    [E_TaskFailed] = "taskFailedEventDetails",
    [E_TaskTimedOut] = "taskTimedOutEventDetails",
    [E_LambdaFunctionScheduled] = "lambdaFunctionScheduledEventDetails",
    [E_ActivityScheduled] = "activityScheduledEventDetails",
    [E_LambdaFunctionSucceeded] = "lambdaFunctionSucceededEventDetails",
    [E_ActivitySucceeded] = "activitySucceededEventDetails",
    [E_LambdaFunctionFailed] = "lambdaFunctionFailedEventDetails",
    [E_LambdaFunctionTimedOut] = "lambdaFunctionTimedOutEventDetails",
    [E_ActivityFailed] = "activityFailedEventDetails",
    [E_ActivityTimedOut] = "activityTimedOutEventDetails",
    [E_ActivityStarted] = "activityStartedEventDetails",
    [E_ActivityScheduleFailed] = "activityScheduleFailedEventDetails",
    [E_MapStateStarted] = "mapStateStartedEventDetails",
    [E_MapIterationStarted] = "mapIterationStartedEventDetails",
    [E_MapIterationSucceeded] = "mapIterationSucceededEventDetails",
    [E_MapIterationFailed] = "mapIterationFailedEventDetails",
    [E_MapIterationAborted] = "mapIterationAbortedEventDetails",
    [E_MapRunStarted] = "mapRunStartedEventDetails",
    [E_MapRunFailed] = "mapRunFailedEventDetails",
    [E_EvaluationFailed] = "evaluationFailedEventDetails",
};

/* StateExited: "assignedVariables" with each value as JSON text. */
static void w_assigned(asl_jbuf *b, const ev *e)
{
    static __thread asl_jbuf scratch;
    asl_jbuf_raw(b, ",\"assignedVariables\":{", 22);
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(e->assigned, k, v) {
        if (!first)
            asl_jbuf_c(b, ',');
        first = 0;
        asl_jbuf_reset(&scratch);
        asl_jbuf_value(&scratch, v);
        asl_jbuf_str(b, k, strlen(k));
        asl_jbuf_c(b, ':');
        asl_jbuf_str(b, scratch.p ? scratch.p : "null", scratch.p ? scratch.n : 4);
    }
    asl_jbuf_raw(b, "},\"assignedVariablesDetails\":{\"truncated\":false}", 48);
}

static void w_scheduled(const asl_exec *x, asl_jbuf *b, const ev *e)
{
    static __thread asl_jbuf scratch;
    const state *st = e->st;
    char rb[64];
    asl_jbuf_reset(&scratch);
    asl_jbuf_value(&scratch, e->a);
    asl_jbuf_raw(b, ",\"parameters\":", 14);
    asl_jbuf_str(b, scratch.p ? scratch.p : "{}", scratch.p ? scratch.n : 2);
    w_kv(b, "region", region_of(x->sm_arn, rb, sizeof rb));
    w_kv(b, "resource", res_name(st));
    w_kv(b, "resourceType", res_type(st));
    if (e->timeout_s > 0)
        w_ki(b, "timeoutInSeconds", e->timeout_s);
    if (e->heartbeat_s > 0)
        w_ki(b, "heartbeatInSeconds", e->heartbeat_s);
}

/* The members of the details object, each with a leading ','. */
static void w_details(const asl_exec *x, const ev *e, int include_data, asl_jbuf *b, dd_ref *dd)
{
    const state *st = e->st;
    switch (e->type) {
    case E_ExecutionStarted:
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        w_kv(b, "roleArn", x->role);
        break;
    case E_ExecutionSucceeded:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        break;
    case E_ExecutionFailed: case E_ExecutionAborted: case E_ExecutionTimedOut: case E_LambdaFunctionFailed:
    case E_LambdaFunctionTimedOut: case E_ActivityFailed: case E_ActivityTimedOut: case E_MapRunFailed:
    case E_ActivityScheduleFailed:
        w_err(b, e);
        break;
    case E_ActivityStarted:
        if (e->cause)
            w_kv(b, "workerName", e->cause);
        break;
    case E_ExecutionRedriven:
        w_ki(b, "redriveCount", e->n);
        break;
    case E_EvaluationFailed:
        w_err(b, e);
        if (e->loc)
            w_kv(b, "location", e->loc);
        w_kv(b, "state", st ? st->name : "");
        break;
    case E_TaskStateEntered: case E_PassStateEntered: case E_ChoiceStateEntered: case E_WaitStateEntered:
    case E_SucceedStateEntered: case E_FailStateEntered: case E_ParallelStateEntered: case E_MapStateEntered:
        w_kv(b, "name", st->name);
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        break;
    case E_TaskStateExited: case E_PassStateExited: case E_ChoiceStateExited: case E_WaitStateExited:
    case E_SucceedStateExited: case E_ParallelStateExited: case E_MapStateExited:
        w_kv(b, "name", st->name);
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        if (e->assigned && include_data)
            w_assigned(b, e);
        break;
    case E_TaskScheduled:
        w_scheduled(x, b, e);
        break;
    case E_TaskStarted:
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_TaskSucceeded:
    case E_TaskSubmitted:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_TaskFailed:
    case E_TaskTimedOut:
        w_err(b, e);
        w_kv(b, "resource", res_name(st));
        w_kv(b, "resourceType", res_type(st));
        break;
    case E_LambdaFunctionScheduled:
    case E_ActivityScheduled:
        w_payload(b, "input", "inputDetails", e->a, include_data, dd);
        w_kv(b, "resource", st->resource);
        if (e->timeout_s > 0)
            w_ki(b, "timeoutInSeconds", e->timeout_s);
        if (e->heartbeat_s > 0 && e->type == E_ActivityScheduled)
            w_ki(b, "heartbeatInSeconds", e->heartbeat_s);
        break;
    case E_LambdaFunctionSucceeded:
    case E_ActivitySucceeded:
        w_payload(b, "output", "outputDetails", e->a, include_data, dd);
        break;
    case E_MapStateStarted:
        w_ki(b, "length", e->n);
        break;
    case E_MapIterationStarted: case E_MapIterationSucceeded: case E_MapIterationFailed:
    case E_MapIterationAborted:
        w_ki(b, "index", e->n);
        w_kv(b, "name", st->name);
        break;
    case E_MapRunStarted: {
        /* its record (asl_maprun.c) is named by this event's id */
        const asl_map_run *mr;
        size_t n = asl_exec_map_runs(x, &mr);
        char arn[1024] = "";
        for (size_t j = 0; j < n; j++)
            if (mr[j].started_id == (int64_t)(e - x->evs) + 1 &&
                asl_map_run_arn(x, &mr[j], arn, sizeof arn) < 0)
                arn[0] = '\0';
        w_kv(b, "mapRunArn", arn);
        break;
    }
    default:
        break;
    }
}

static int event_write(const asl_exec *x, size_t i, int include_data, asl_jbuf *b, dd_ref *dd)
{
    if (i >= x->nev)
        return SFN_ENOENT;
    const ev *e = &x->evs[i];
    asl_jbuf_raw(b, "{\"id\":", 6);
    asl_jbuf_int(b, (int64_t)i + 1);
    asl_jbuf_raw(b, ",\"previousEventId\":", 19);
    asl_jbuf_int(b, e->prev);
    asl_jbuf_raw(b, ",\"timestamp\":", 13);
    asl_jbuf_ms_seconds(b, e->ts);
    w_kv(b, "type", event_names[e->type]);
    /* the details object, under its key; none for a few types */
    const char *dkey = details_key[e->type];
    if (dkey == NULL) {
        asl_jbuf_c(b, '}');
        return b->oom ? SFN_ENOMEM : SFN_OK;
    }
    asl_jbuf_c(b, ',');
    asl_jbuf_str(b, dkey, strlen(dkey));
    asl_jbuf_c(b, ':');
    /* Every member is written with a leading ','; the first one's becomes
     * the '{' (no '{' written now, nothing to move afterwards). */
    size_t open = b->n;
    w_details(x, e, include_data, b, dd);
    if (b->n > open && b->p[open] == ',')
        b->p[open] = '{';
    else if (!b->oom)
        asl_jbuf_c(b, '{');
    asl_jbuf_raw(b, "}}", 2);
    return b->oom ? SFN_ENOMEM : SFN_OK;
}

int asl_exec_event_write(const asl_exec *x, size_t i, int include_data, asl_jbuf *b)
{
    return event_write(x, i, include_data, b, NULL);
}

int asl_exec_event_write_log(asl_exec *x, size_t i, asl_jbuf *b)
{
    x->dd_is_output = 0;
    dd_ref dd = {.text = &x->dd_text, .id = &x->dd_id, .this_id = i + 1};
    return event_write(x, i, 1, b, &dd);
}

int asl_exec_events_write_log(asl_exec *x, size_t from, size_t to, asl_jbuf *b)
{
    /* The value is known only for what this call writes: between two
     * calls a step may have built a new value where an old one was freed. */
    x->dd_val = NULL;
    x->dd_is_output = 0;
    for (size_t i = from; i < to; i++) {
        if (i > from)
            asl_jbuf_c(b, '\n');
        dd_ref dd = {.text = &x->dd_text, .id = &x->dd_id, .this_id = i + 1, .val = &x->dd_val};
        int rc = event_write(x, i, 1, b, &dd);
        if (rc != SFN_OK) {
            x->dd_val = NULL;
            return rc;
        }
    }
    /* dd_val is the last payload's value only if that payload went through
     * the memo (written, or referred to); the output must be the last
     * event's payload, not merely an earlier one */
    x->dd_is_output = x->dd_val != NULL && x->output != NULL && x->dd_val == x->output &&
                      to > from && to == x->nev && !x->dd_text.oom && x->dd_text.p != NULL &&
                      x->evs[to - 1].a == x->output;
    x->dd_val = NULL;
    return SFN_OK;
}

int asl_exec_output_log_text(const asl_exec *x, const char **p, size_t *n)
{
    if (!x->dd_is_output)
        return -1;
    *p = x->dd_text.p;
    *n = x->dd_text.n;
    return 0;
}

json_t *asl_exec_event_json(const asl_exec *x, size_t i, int include_data)
{
    asl_jbuf b = {0};
    if (asl_exec_event_write(x, i, include_data, &b) != SFN_OK) {
        asl_jbuf_cleanup(&b);
        return NULL;
    }
    char err[128];
    json_t *j = asl_json_parse(b.p, b.n, err, sizeof err);
    asl_jbuf_cleanup(&b);
    return j;
}
