/*
 * console_state.c - GET /console/state?executionArn=&state=[&container=
 * &index=]: one state's last visit (in the given Map iteration or Parallel
 * branch, else anywhere) for the execution page's state panel:
 *
 *   {"state", "type", "context", "visits", "input", "output", "error",
 *    "cause", "parameters", "result", "enteredAt", "exitedAt",
 *    "attempts": [{"attempt", "scheduledAt", "startedAt", "endedAt",
 *                  "outcome", "error", "cause", "waitBefore"}],
 *    "dataflow": [{"step", "label", "value", "source": "history" |
 *                  "recomputed"}],
 *    "recomputeNote"}
 *
 * What the history records is taken as it is (StateEntered input,
 * TaskScheduled parameters or LambdaFunctionScheduled input, the task's
 * result, StateExited output); the steps it does not record are
 * recomputed by the core's TestState (asl_test.h, DEBUG inspection data)
 * on the definition of the execution, the state's recorded input and the
 * task's recorded result or error as its mock: the same code an execution
 * runs, never the task itself (con_dataflow).
 *
 * Must not: run a task or invoke a function; write.
 */
#define _GNU_SOURCE
#include "console_walk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asl_test.h"

typedef struct state_req {
    con_walk w;
    char state[256];
    char container[256];
    long long index; /* -1: any */
    int k;           /* the state's index once known */
    int vctx;        /* the visit's context */
    int visits;
    json_t *visit;   /* the last visit so far */
} state_req;

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static const json_t *details(const json_t *ev)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ev, k, v) {
        if (ends_with(k, "EventDetails") && json_is_object(v))
            return v;
    }
    return NULL;
}

static void copy(json_t *to, const char *key, const json_t *from, const char *fkey)
{
    const json_t *v = json_object_get(from, fkey);
    if (json_is_string(v))
        json_object_set(to, key, (json_t *)v);
}

/* One event of the visit. */
static void visit_event(json_t *v, const char *type, const json_t *d, const json_t *ts)
{
    json_t *atts = json_object_get(v, "attempts");
    json_t *last = json_array_get(atts, json_array_size(atts) - 1);
    if (ends_with(type, "StateExited")) {
        copy(v, "output", d, "output");
        json_object_set(v, "exitedAt", (json_t *)ts);
    } else if (ends_with(type, "Scheduled")) {
        json_t *a = json_pack("{s:I,s:O}", "attempt", (json_int_t)json_array_size(atts) + 1,
                              "scheduledAt", ts);
        double end = json_number_value(json_object_get(last, "endedAt"));
        if (a && last && end > 0)
            json_object_set_new(a, "waitBefore", json_real(json_number_value(ts) - end));
        json_array_append_new(atts, a);
        if (!json_object_get(v, "parameters")) {
            copy(v, "parameters", d, "parameters");
            copy(v, "parameters", d, "input");
        }
        copy(v, "resource", d, "resource");
    } else if (ends_with(type, "Started") && last && strncmp(type, "Map", 3) &&
               strncmp(type, "Parallel", 8)) {
        json_object_set(last, "startedAt", (json_t *)ts);
    } else if (!strncmp(type, "MapIteration", 12) || !strncmp(type, "Execution", 9)) {
        return;
    } else if (ends_with(type, "Succeeded") && last) {
        json_object_set(last, "endedAt", (json_t *)ts);
        json_object_set_new(last, "outcome", json_string("succeeded"));
        copy(v, "result", d, "output");
        json_object_del(v, "error");
        json_object_del(v, "cause");
    } else if (ends_with(type, "Failed") || ends_with(type, "TimedOut") ||
               ends_with(type, "Aborted")) {
        if (last) {
            json_object_set(last, "endedAt", (json_t *)ts);
            json_object_set_new(last, "outcome", json_string(ends_with(type, "TimedOut")
                                                                 ? "timed out"
                                                             : ends_with(type, "Aborted")
                                                                 ? "aborted"
                                                                 : "failed"));
            copy(last, "error", d, "error");
            copy(last, "cause", d, "cause");
        }
        copy(v, "error", d, "error");
        copy(v, "cause", d, "cause");
    }
}

static int in_context(const con_walk *w, const state_req *r, int c)
{
    if (r->index < 0)
        return 1;
    if (c <= 0)
        return 0;
    const con_ctx *x = &w->ctxs[c];
    const char *name = json_string_value(json_array_get(w->names, (size_t)x->container));
    return x->index == r->index && name && !strcmp(name, r->container);
}

static void on_event(con_walk *w, const json_t *ev, long long id, int k, int c)
{
    (void)id;
    state_req *r = (state_req *)w;
    const char *type = json_string_value(json_object_get(ev, "type"));
    const json_t *d = details(ev);
    const json_t *ts = json_object_get(ev, "timestamp");
    if (k < 0 || strcmp(json_string_value(json_array_get(w->names, (size_t)k)) ?: "", r->state))
        return;
    if (ends_with(type, "StateEntered")) {
        if (!in_context(w, r, c))
            return;
        json_decref(r->visit);
        r->visit = json_pack("{s:[],s:O}", "attempts", "enteredAt", ts);
        if (r->visit)
            copy(r->visit, "input", d, "input");
        r->vctx = c;
        r->visits++;
    } else if (r->visit && c == r->vctx) {
        visit_event(r->visit, type, d, ts);
    }
}

/* ---- the data flow ------------------------------------------------------------------------- */
static const struct {
    const char *key, *label;
} STEPS[] = {
    {"input", "Input"},
    {"afterInputPath", "After InputPath"},
    {"afterItemsPath", "After ItemsPath"},
    {"afterItemSelector", "After ItemSelector"},
    {"afterParameters", "After Parameters"},
    {"afterArguments", "After Arguments"},
    {"result", "Result"},
    {"afterResultSelector", "After ResultSelector"},
    {"afterResultPath", "After ResultPath"},
    {"output", "Output"},
};

/* What the history recorded for a step (NULL: nothing). */
static const char *recorded(const json_t *visit, const char *step, const char *type)
{
    int task = type && !strcmp(type, "Task");
    if (!strcmp(step, "input") || !strcmp(step, "output") || !strcmp(step, "result"))
        return json_string_value(json_object_get(visit, step));
    if (task && (!strcmp(step, "afterParameters") || !strcmp(step, "afterArguments")))
        return json_string_value(json_object_get(visit, "parameters"));
    return NULL;
}

/* Run the core's TestState on the visit; its inspection data, or NULL
 * with a note. */
static json_t *test_state(const char *definition, const char *state, const char *type,
                          const json_t *visit, const asl_exec_info *info, const char *context,
                          char *note, size_t cap)
{
    asl_test_req q = {.definition = definition, .state_name = state, .level = ASL_TEST_DEBUG,
                      .field_validation = ASL_FVM_NONE, .retrier_retry_count = -1,
                      .map_iteration_failure_count = -1, .info = *info};
    q.input = json_string_value(json_object_get(visit, "input"));
    if (q.input == NULL) {
        snprintf(note, cap, "no recorded input: nothing recomputed");
        return NULL;
    }
    if (type && (!strcmp(type, "Map") || !strcmp(type, "Parallel"))) {
        snprintf(note, cap, "a %s's steps are not recomputed (its iterations ran on their own)",
                 type);
        return NULL;
    }
    if (type && !strcmp(type, "Task")) {
        size_t n = json_array_size(json_object_get(visit, "attempts"));
        q.mock_result = json_string_value(json_object_get(visit, "result"));
        q.mock_error = json_string_value(json_object_get(visit, "error"));
        q.mock_cause = json_string_value(json_object_get(visit, "cause"));
        q.has_mock_error = q.mock_result == NULL && q.mock_error != NULL;
        q.has_mock = q.mock_result != NULL || q.has_mock_error; /* either kind of mock */
        if (!q.has_mock) {
            snprintf(note, cap, "the task has no recorded result yet: nothing recomputed");
            return NULL;
        }
        if (q.has_mock_error && n > 1)
            q.retrier_retry_count = (int)n - 1;
    }
    asl_test *t = NULL;
    asl_test_err err;
    json_t *resp = NULL;
    q.context = context;
    if (asl_test_start(&q, &t, &err) != SFN_OK || asl_test_result(t, &resp, &err) != SFN_OK) {
        snprintf(note, cap, "TestState refused it: %s: %s", err.type, err.message);
        asl_test_free(t);
        return NULL;
    }
    asl_test_free(t);
    json_t *id = json_incref(json_object_get(resp, "inspectionData"));
    const char *status = json_string_value(json_object_get(resp, "status"));
    const json_t *output = json_object_get(resp, "output");
    /* a caught error: the Catch's ResultPath made the output */
    if (id && status && !strcmp(status, "CAUGHT_ERROR") && json_is_string(output) &&
        !json_object_get(id, "afterResultPath"))
        json_object_set(id, "afterResultPath", (json_t *)output);
    if (status && !strcmp(status, "FAILED") && !json_object_get(visit, "error"))
        snprintf(note, cap, "recomputing stopped at %s: %s",
                 json_string_value(json_object_get(resp, "error")) ?: "an error",
                 json_string_value(json_object_get(resp, "cause")) ?: "");
    json_decref(resp);
    if (id == NULL)
        snprintf(note, cap, "TestState gave no inspection data");
    return id;
}

static json_t *iso(double t)
{
    char buf[64];
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)((t - (double)s) * 1000) % 1000);
    return json_string(buf);
}

/* The context object the state saw, as far as the history tells: the
 * execution, the machine, the state (entered time, retry count). TestState
 * takes no Map part (AWS: "'Map' field is not supported when mocking a
 * Context object"): a $$.Map reference is not recomputed. Text, malloc'd. */
char *con_context_object(const json_t *execution, const char *role_arn, const char *state,
                         const json_t *visit)
{
    const json_t *x = execution;
    const char *sm = json_string_value(json_object_get(x, "stateMachineArn"));
    const char *smname = sm && strrchr(sm, ':') ? strrchr(sm, ':') + 1 : sm;
    json_t *input = json_loads(json_string_value(json_object_get(x, "input")) ?: "{}", 0, NULL);
    size_t n = json_array_size(json_object_get(visit, "attempts"));
    json_t *c = json_pack(
        "{s:{s:O?,s:o?,s:O?,s:o?,s:o,s:I},s:{s:s?,s:s?},s:{s:s,s:o,s:I}}", "Execution", "Id",
        json_object_get(x, "executionArn"), "Input", input, "Name", json_object_get(x, "name"),
        "RoleArn", role_arn ? json_string(role_arn) : NULL, "StartTime",
        iso(json_number_value(json_object_get(x, "startDate"))), "RedriveCount",
        json_integer_value(json_object_get(x, "redriveCount")), "StateMachine", "Id", sm, "Name",
        smname, "State", "Name", state, "EnteredTime",
        iso(json_number_value(json_object_get(visit, "enteredAt"))), "RetryCount",
        (json_int_t)(n > 1 ? n - 1 : 0));
    char *text = c ? json_dumps(c, JSON_COMPACT) : NULL;
    json_decref(c);
    return text;
}

json_t *con_dataflow(const char *definition, const char *state, const char *type,
                     const json_t *visit, const asl_exec_info *info, const char *context,
                     char *note, size_t cap)
{
    note[0] = '\0';
    json_t *id = definition ? test_state(definition, state, type, visit, info, context, note, cap)
                            : NULL;
    int jsonata = json_object_get(id, "afterArguments") != NULL;
    json_t *out = json_array();
    int recomputed = 0;
    for (size_t i = 0; out && i < sizeof STEPS / sizeof STEPS[0]; i++) {
        if (!strcmp(STEPS[i].key, jsonata ? "afterParameters" : "afterArguments"))
            continue;
        const char *v = recorded(visit, STEPS[i].key, type);
        const char *src = "history";
        if (v == NULL) {
            v = json_string_value(json_object_get(id, STEPS[i].key));
            src = "recomputed";
        }
        if (v == NULL)
            continue;
        recomputed += !strcmp(src, "recomputed");
        json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "step", STEPS[i].key, "label",
                                             STEPS[i].label, "value", v, "source", src));
    }
    if (id && recomputed && !note[0])
        snprintf(note, cap,
                 "steps marked recomputed were computed by TestState (DEBUG) on the state's "
                 "definition, its recorded input and %s",
                 type && !strcmp(type, "Task") ? "the task's recorded answer as a mock"
                                               : "no task");
    json_decref(id);
    return out;
}

/* ---- the endpoint -------------------------------------------------------------------------- */
static void answer(con_walk *w)
{
    state_req *r = (state_req *)w;
    const json_t *def = w->definition ? con_walk_find_state(w->definition, r->state) : NULL;
    if (def == NULL && json_object_get(w->states, r->state) == NULL) {
        con__finish_err(&w->p, 400, "ValidationException", "no such state in the definition");
        return;
    }
    const char *type = json_string_value(json_object_get(def, "Type"));
    char label[512], note[1200];
    con_walk_ctx_label(w, r->visit ? r->vctx : 0, label, sizeof label);
    json_t *out = json_pack("{s:s,s:s?,s:s,s:i}", "state", r->state, "type", type, "context",
                            label, "visits", r->visits);
    if (out && r->visit) {
        json_object_update(out, r->visit);
        char *dtext = json_dumps(w->definition, JSON_COMPACT);
        const json_t *x = w->execution;
        asl_exec_info info = {
            .execution_arn = json_string_value(json_object_get(x, "executionArn")),
            .execution_name = json_string_value(json_object_get(x, "name")),
            .state_machine_arn = json_string_value(json_object_get(x, "stateMachineArn")),
            .role_arn = w->role_arn,
            .start_ms = (int64_t)llround(json_number_value(json_object_get(x, "startDate")) * 1000),
        };
        const char *sm = info.state_machine_arn ? strrchr(info.state_machine_arn, ':') : NULL;
        info.state_machine_name = sm ? sm + 1 : NULL;
        char *cobj = con_context_object(x, w->role_arn, r->state, r->visit);
        json_object_set_new(out, "dataflow", con_dataflow(dtext, r->state, type, r->visit, &info,
                                                          cobj, note, sizeof note));
        free(cobj);
        free(dtext);
        if (note[0])
            json_object_set_new(out, "recomputeNote", json_string(note));
    }
    con__finish_json(&w->p, out ? 200 : 500, out);
}

static void state_free(con_walk *w) { json_decref(((state_req *)w)->visit); }

void con__state(console *c, http_req *req, const char *arn)
{
    state_req *r = calloc(1, sizeof *r);
    char idx[32];
    if (r == NULL) {
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    r->index = -1;
    if (http_req_query_param(req, "state", r->state, sizeof r->state) <= 0) {
        free(r);
        con__respond_err(req, 400, "ValidationException", "state is required");
        return;
    }
    if (http_req_query_param(req, "container", r->container, sizeof r->container) > 0 &&
        http_req_query_param(req, "index", idx, sizeof idx) > 0) {
        char *end;
        r->index = strtoll(idx, &end, 10);
        if (*end || r->index < 0) {
            free(r);
            con__respond_err(req, 400, "ValidationException", "index must be a number");
            return;
        }
    }
    r->w.on_event = on_event;
    r->w.on_done = answer;
    r->w.on_free = state_free;
    con_walk_start(c, req, &r->w, arn);
}
