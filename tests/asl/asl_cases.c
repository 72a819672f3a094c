/*
 * asl_cases.c - data-driven ASL cases of our own (tests/asl/cases/NAME.json),
 * for what the AWS-recorded corpus does not cover: Retry back-off
 * arithmetic, MaxDelaySeconds, jitter bounds, Catch ResultPath, task
 * timeouts and heartbeats, Lambda error shapes, stop, replay.
 *
 * A case:
 * { "name": "...", "definition": {...}, "input": {...},
 *   "tasks": { "<Resource or FunctionName>": [ answer, answer, ... ] },
 *   "expected": { "status", "output", "error", "cause",
 *                 "events": ["ExecutionStarted", ...],          (exact sequence)
 *                 "times": [["TaskScheduled", k, lo_ms, hi_ms]] (k-th such event's
 *                                                                time since start)
 *                 "replay": true  (feeding the same inputs to a fresh
 *                                  execution must give the same history) } }
 * An answer: {"result": v} | {"error": "E", "cause": "C"} | {"hang": true}
 * (never answers), each optionally with "after_ms": N (virtual delay) and
 * "submitted": v (the response that hands a .waitForTaskToken task over,
 * fed at once: TaskSubmitted).
 * The clock is virtual: time jumps to the next due feed.
 */
#include "asl.h"
#include "asl_drive.h"
#include "asl_json.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The inputs fed, for the replay check. */
typedef struct log_entry {
    asl_input in;
    json_t *result;
    char *error, *cause;
} log_entry;

typedef struct run {
    json_t *tasks;   /* the case's scripted answers: a copy, consumed */
    json_t *last;    /* the answer given last: its strings live until the next */
    asl_drive *drv;  /* for an answer's "submitted" input */
    log_entry *log;
    size_t nlog, caplog;
} run;

/* A task: its next scripted answer, after its after_ms (ASL_DRIVE_TIMED). */
static void case_task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *ans)
{
    run *r = ctx;
    const char *key = c->function ? c->function : c->resource;
    json_t *q = json_object_get(r->tasks, key);
    if (q == NULL)
        q = json_object_get(r->tasks, c->resource);
    json_t *a = json_array_get(q, 0);
    if (a == NULL) {
        ans->kind = ASL_IN_TASK_FAILED;
        ans->error = "Test.NoScriptedAnswer";
        ans->cause = key;
        return;
    }
    json_decref(r->last);
    r->last = json_incref(a);
    json_array_remove(q, 0);
    json_t *sub = json_object_get(a, "submitted");
    if (sub != NULL && r->drv != NULL) {
        /* the submitting call's response (.waitForTaskToken), fed at once */
        asl_input in = {.kind = ASL_IN_TASK_SUBMITTED, .id = c->id, .result = sub};
        asl_drive_at(r->drv, now_ms, &in);
    }
    if (!json_is_true(json_object_get(a, "hang"))) {
        ans->after_ms = json_integer_value(json_object_get(a, "after_ms"));
        if (json_object_get(a, "error")) {
            ans->kind = ASL_IN_TASK_FAILED;
            ans->error = json_string_value(json_object_get(a, "error"));
            ans->cause = json_string_value(json_object_get(a, "cause"));
        } else {
            ans->kind = ASL_IN_TASK_SUCCEEDED;
            ans->result_new = json_incref(json_object_get(a, "result"));
        }
    }
}

static void case_fed(void *ctx, const asl_input *in, int rc)
{
    run *r = ctx;
    if (rc != SFN_OK)
        return;
    if (r->nlog == r->caplog) {
        r->caplog = r->caplog ? r->caplog * 2 : 16;
        r->log = realloc(r->log, r->caplog * sizeof *r->log);
    }
    r->log[r->nlog++] = (log_entry){.in = *in, .result = json_incref(in->result),
                                    .error = in->error ? strdup(in->error) : NULL,
                                    .cause = in->cause ? strdup(in->cause) : NULL};
}

static const asl_exec_info INFO = {
    .execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e",
    .execution_name = "e",
    .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    .state_machine_name = "m",
    .role_arn = "arn:aws:iam::123456789012:role/r",
    .start_ms = 1700000000000LL,
    .seed = 42,
};

static int fail(const char *name, const char *what, json_t *got, json_t *want)
{
    char *g = got ? asl_json_text(got) : strdup("(none)");
    char *w = want ? asl_json_text(want) : strdup("(none)");
    fprintf(stderr, "FAIL %s: %s\n  got:  %.2000s\n  want: %.2000s\n", name, what, g, w);
    free(g);
    free(w);
    return 1;
}

static int json_str_eq(const char *a, json_t *b)
{
    if (json_is_null(b) || b == NULL)
        return a == NULL;
    return a != NULL && json_is_string(b) && strcmp(a, json_string_value(b)) == 0;
}

static int run_case(const char *path)
{
    json_error_t jerr;
    json_t *c = json_load_file(path, 0, &jerr);
    if (c == NULL) {
        fprintf(stderr, "FAIL %s: bad JSON: %s\n", path, jerr.text);
        return 1;
    }
    const char *name = json_string_value(json_object_get(c, "name"));
    if (name == NULL)
        name = path;
    json_t *exp = json_object_get(c, "expected");
    asl_machine *m = NULL;
    asl_diags d;
    int bad = 0;
    if (asl_machine_compile(json_object_get(c, "definition"), ASL_STANDARD, &m, &d) != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&d, cause, sizeof cause);
        if (json_str_eq("INVALID_DEFINITION", json_object_get(exp, "status"))) {
            json_t *want = json_object_get(exp, "cause");
            if (want && !json_str_eq(cause, want))
                bad |= fail(name, "invalid-definition cause", json_string(cause), want);
            json_decref(c);
            return bad;
        }
        fprintf(stderr, "FAIL %s: definition refused: %s\n", name, cause);
        json_decref(c);
        return 1;
    }
    run r;
    memset(&r, 0, sizeof r);
    r.tasks = json_deep_copy(json_object_get(c, "tasks"));
    if (r.tasks == NULL)
        r.tasks = json_object();
    json_t *input = json_object_get(c, "input");
    json_t *empty = json_object();
    if (input == NULL)
        input = empty;
    asl_exec *x = asl_exec_start(m, &INFO, input);
    asl_drive_opts o = {.order = ASL_DRIVE_TIMED, .task = case_task, .fed = case_fed, .ctx = &r};
    asl_drive *drv = asl_drive_new(&o);
    r.drv = drv;
    json_t *stop = json_object_get(c, "stop_at_ms");
    if (stop) {
        asl_input in = {.kind = ASL_IN_STOP, .error = "Stopped", .cause = "by test"};
        asl_drive_at(drv, INFO.start_ms + json_integer_value(stop), &in);
    }
    asl_drive_run(drv, x, INFO.start_ms);
    asl_drive_free(drv);
    /* status, output, error, cause */
    const char *st = asl_status_name(asl_exec_status(x));
    if (!json_str_eq(st, json_object_get(exp, "status")))
        bad |= fail(name, "status", json_string(st), json_object_get(exp, "status"));
    if (json_object_get(exp, "output") && !json_equal(asl_exec_output_get(x), json_object_get(exp, "output")))
        bad |= fail(name, "output", asl_exec_output_get(x), json_object_get(exp, "output"));
    if (json_object_get(exp, "error") && !json_str_eq(asl_exec_error(x), json_object_get(exp, "error")))
        bad |= fail(name, "error", json_string(asl_exec_error(x) ? asl_exec_error(x) : "(null)"),
                    json_object_get(exp, "error"));
    if (json_object_get(exp, "cause") && !json_str_eq(asl_exec_cause(x), json_object_get(exp, "cause")))
        bad |= fail(name, "cause", json_string(asl_exec_cause(x) ? asl_exec_cause(x) : "(null)"),
                    json_object_get(exp, "cause"));
    /* events */
    size_t nev = asl_exec_event_count(x);
    json_t *types = json_array();
    for (size_t i = 0; i < nev; i++)
        json_array_append_new(types, json_string(asl_exec_event_type(x, i)));
    if (json_object_get(exp, "events") && !json_equal(types, json_object_get(exp, "events")))
        bad |= fail(name, "event sequence", types, json_object_get(exp, "events"));
    /* previousEventId sanity: ids 1..n, prev < id */
    for (size_t i = 0; i < nev; i++) {
        json_t *e = asl_exec_event_json(x, i, 1);
        json_int_t id = json_integer_value(json_object_get(e, "id"));
        json_int_t prev = json_integer_value(json_object_get(e, "previousEventId"));
        if (id != (json_int_t)i + 1 || prev >= id)
            bad |= fail(name, "event ids", e, NULL);
        json_decref(e);
    }
    /* times */
    size_t k;
    json_t *t;
    json_array_foreach(json_object_get(exp, "times"), k, t) {
        const char *type = json_string_value(json_array_get(t, 0));
        json_int_t nth = json_integer_value(json_array_get(t, 1));
        double lo = json_number_value(json_array_get(t, 2)), hi = json_number_value(json_array_get(t, 3));
        json_int_t seen = 0;
        int found = 0;
        for (size_t i = 0; i < nev; i++) {
            if (strcmp(asl_exec_event_type(x, i), type) != 0)
                continue;
            if (seen++ != nth)
                continue;
            json_t *e = asl_exec_event_json(x, i, 0);
            double ts = json_real_value(json_object_get(e, "timestamp")) * 1000.0 - (double)INFO.start_ms;
            json_decref(e);
            found = 1;
            if (ts < lo - 0.5 || ts > hi + 0.5) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s #%lld at %.0f ms, want [%.0f, %.0f]", type, (long long)nth, ts, lo, hi);
                bad |= fail(name, msg, NULL, t);
            }
        }
        if (!found)
            bad |= fail(name, "times: no such event", types, t);
    }
    /* replay: the same inputs into a fresh execution give the same history */
    if (json_is_true(json_object_get(exp, "replay"))) {
        asl_exec *y = asl_exec_start(m, &INFO, input);
        for (size_t i = 0; i < r.nlog; i++) {
            asl_input in = r.log[i].in;
            in.result = r.log[i].result;
            in.error = r.log[i].error;
            in.cause = r.log[i].cause;
            asl_exec_feed(y, &in);
        }
        if (asl_exec_event_count(y) != nev)
            bad |= fail(name, "replay event count", json_integer((json_int_t)asl_exec_event_count(y)),
                        json_integer((json_int_t)nev));
        for (size_t i = 0; i < nev && i < asl_exec_event_count(y); i++) {
            json_t *a = asl_exec_event_json(x, i, 1), *b = asl_exec_event_json(y, i, 1);
            if (!json_equal(a, b))
                bad |= fail(name, "replay event differs", b, a);
            json_decref(a);
            json_decref(b);
        }
        asl_exec_free(y);
    }
    if (!bad)
        printf("ok   %s\n", name);
    json_decref(types);
    for (size_t i = 0; i < r.nlog; i++) {
        json_decref(r.log[i].result);
        free(r.log[i].error);
        free(r.log[i].cause);
    }
    free(r.log);
    json_decref(r.tasks);
    json_decref(r.last);
    asl_exec_free(x);
    asl_machine_free(m);
    json_decref(empty);
    json_decref(c);
    return bad;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: asl_cases DIR|FILE...\n");
        return 2;
    }
    int failed = 0, passed = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir(argv[i]);
        if (dir == NULL) {
            if (run_case(argv[i]))
                failed++;
            else
                passed++;
            continue;
        }
        char *names[1024];
        int n = 0;
        struct dirent *de;
        while ((de = readdir(dir)) != NULL && n < 1024) {
            size_t l = strlen(de->d_name);
            if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0)
                names[n++] = strdup(de->d_name);
        }
        closedir(dir);
        qsort(names, (size_t)n, sizeof *names, cmp);
        for (int j = 0; j < n; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], names[j]);
            if (run_case(path))
                failed++;
            else
                passed++;
            free(names[j]);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}
