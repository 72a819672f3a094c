/*
 * api_exec.c - the execution operations of the Step Functions API:
 * StartExecution, StartSyncExecution, DescribeExecution, ListExecutions,
 * StopExecution, RedriveExecution, SendTaskSuccess / SendTaskFailure /
 * SendTaskHeartbeat, and the Sfnd.WaitExecution extension (api.h).
 *
 * An execution's name, when the request has none, is a made-up UUID
 * (version 7); a named Standard execution is idempotent while it runs
 * (same name and input: the same execution). StartSyncExecution and
 * Sfnd.WaitExecution keep their call until the runner reports the end
 * (or the wait's timer fires).
 *
 * Must not: change an execution except through the runner (run_exec_*,
 * run_task_send), reply except through api__reply_* (after the commit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "api_int.h"
#include "run_meta.h"
#include "asl.h"

#include "jtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- small helpers ---------------------------------------------------------- */
static uint64_t rng_next(api *a)
{
    uint64_t z = (a->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A generated execution name. AWS makes up a UUID; this one is of
 * version 7 (RFC 9562): 48 bits of Unix time in milliseconds, then 74
 * random bits. Names made up in turn sort in turn, so each new execution's
 * ARN goes to the end of the store's ARN index; a random (version 4) name
 * wrote a page of it in a random place for every start (bench). */
static void uuid7(api *a, char out[37])
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t ms = (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
    uint64_t x = (ms << 16) | 0x7000u | (rng_next(a) & 0x0fffu);
    uint64_t y = rng_next(a);
    y = (y & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(x >> 32),
             (unsigned)((x >> 16) & 0xffff), (unsigned)(x & 0xffff), (unsigned)(y >> 48),
             (unsigned long long)(y & 0xffffffffffffULL));
}

static const char *status_name(int s)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED",
                                    "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"};
    return s >= 0 && s <= RUN_PENDING_REDRIVE ? n[s] : "RUNNING";
}

static int status_from_name(const char *s)
{
    static const char *const n[] = {"RUNNING", "SUCCEEDED", "FAILED",
                                    "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"};
    for (int i = 0; i <= RUN_PENDING_REDRIVE; i++)
        if (!strcmp(s, n[i]))
            return i;
    return -1;
}

/* ---- JSON shapes ------------------------------------------------------------------ */
static json_t *exec_json(const run_exec_info *x, int full)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "executionArn", x->arn, "stateMachineArn",
                          x->sm_arn, "name", x->name, "status", status_name(x->status),
                          "startDate", ts(x->start_ms));
    if (o == NULL)
        return NULL;
    if (x->stop_ms && x->status != RUN_RUNNING)
        json_object_set_new(o, "stopDate", ts(x->stop_ms));
    if (full) {
        json_object_set_new(o, "input", json_string(x->input));
        json_object_set_new(o, "inputDetails", json_pack("{s:b}", "included", 1));
        if (x->output) {
            json_object_set_new(o, "output", json_string(x->output));
            json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
        }
        if (x->error)
            json_object_set_new(o, "error", json_string(x->error));
        if (x->cause)
            json_object_set_new(o, "cause", json_string(x->cause));
        json_object_set_new(o, "redriveCount", json_integer(x->redrive_count));
        const char *rs = x->status == RUN_RUNNING || x->status == RUN_SUCCEEDED
                             ? "NOT_REDRIVABLE"
                             : "REDRIVABLE";
        json_object_set_new(o, "redriveStatus", json_string(rs));
        if (x->status == RUN_RUNNING || x->status == RUN_SUCCEEDED)
            json_object_set_new(
                o, "redriveStatusReason",
                json_string(x->status == RUN_RUNNING ? "Execution is RUNNING and cannot be redriven"
                                                       : "Execution is SUCCEEDED and cannot be redriven"));
        if (x->redrive_ms)
            json_object_set_new(o, "redriveDate", ts(x->redrive_ms));
    } else {
        /* ListExecutions' items carry redriveCount, 0 included */
        json_object_set_new(o, "redriveCount", json_integer(x->redrive_count));
        if (x->redrive_ms)
            json_object_set_new(o, "redriveDate", ts(x->redrive_ms));
    }
    return o;
}

/* exec_json's object as text, written directly (StartExecution and
 * WaitExecution answer thousands of times a second). Same members, same
 * order. */
static void put_key(jtext *b, const char *k)
{
    jtext_c(b, ',');
    jtext_cstr(b, k);
    jtext_c(b, ':');
}

static char *exec_text(const run_exec_info *x, int full)
{
    jtext b = {0};
    jtext_lit(&b, "{\"executionArn\":");
    jtext_cstr(&b, x->arn);
    put_key(&b, "stateMachineArn");
    jtext_cstr(&b, x->sm_arn);
    put_key(&b, "name");
    jtext_cstr(&b, x->name);
    put_key(&b, "status");
    jtext_cstr(&b, status_name(x->status));
    put_key(&b, "startDate");
    jtext_ts(&b, x->start_ms);
    if (x->stop_ms && x->status != RUN_RUNNING) {
        put_key(&b, "stopDate");
        jtext_ts(&b, x->stop_ms);
    }
    if (full) {
        put_key(&b, "input");
        jtext_cstr(&b, x->input);
        jtext_lit(&b, ",\"inputDetails\":{\"included\":true}");
        if (x->output) {
            put_key(&b, "output");
            jtext_cstr(&b, x->output);
            jtext_lit(&b, ",\"outputDetails\":{\"included\":true}");
        }
        if (x->error) {
            put_key(&b, "error");
            jtext_cstr(&b, x->error);
        }
        if (x->cause) {
            put_key(&b, "cause");
            jtext_cstr(&b, x->cause);
        }
        put_key(&b, "redriveCount");
        jtext_int(&b, x->redrive_count);
        int nr = x->status == RUN_RUNNING || x->status == RUN_SUCCEEDED;
        put_key(&b, "redriveStatus");
        jtext_cstr(&b, nr ? "NOT_REDRIVABLE" : "REDRIVABLE");
        if (nr) {
            put_key(&b, "redriveStatusReason");
            jtext_cstr(&b, x->status == RUN_RUNNING ? "Execution is RUNNING and cannot be redriven"
                                                      : "Execution is SUCCEEDED and cannot be redriven");
        }
        if (x->redrive_ms) {
            put_key(&b, "redriveDate");
            jtext_ts(&b, x->redrive_ms);
        }
    } else if (x->redrive_count) {
        put_key(&b, "redriveCount");
        jtext_int(&b, x->redrive_count);
        if (x->redrive_ms) {
            put_key(&b, "redriveDate");
            jtext_ts(&b, x->redrive_ms);
        }
    }
    jtext_c(&b, '}');
    return jtext_take(&b);
}

static void reply_exec(call *c, const run_exec_info *x)
{
    char *text = api__ver_exec_text(c, x->id, exec_text(x, 1));
    if (text == NULL)
        api__reply_text(c, 500,
                        strdup("{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}"));
    else
        api__reply_text(c, 200, text);
}

/* ---- executions ------------------------------------------------------------------ */
static void sync_done(void *ud, int rc, const run_result *res);

/* The machine of a StartExecution. Step Functions Local's
 * <stateMachineArn>#<TestCaseName> runs a test case of the mock
 * configuration: *smarn is then the ARN without it (in buf) and *tcase the
 * test case. Without a mock configuration '#' is part of the name, as on
 * AWS. Returns nonzero when it replied (an error). */
static int find_sm_case(call *c, const char **smarn, char *buf, size_t n, run_sm *sm,
                        const char **tcase)
{
    api *a = c->a;
    const char *hash = run_mock_loaded(a->run) ? strchr(*smarn, '#') : NULL;
    if (hash) {
        snprintf(buf, n, "%.*s", (int)(hash - *smarn), *smarn);
        *tcase = hash + 1;
        *smarn = buf;
    }
    if (api__ver_sm_for_start(c, *smarn, sm)) /* sets c->ver_arn, c->alias_arn */
        return 1;
    if (*tcase && !run_mock_has_case(a->run, sm->name, *tcase)) {
        CLIENT(c, "ValidationException",
               "Test case '%s' is not defined for state machine '%s' in the mock configuration "
               "file",
               *tcase, *smarn);
        run_sm_cleanup(sm);
        return 1;
    }
    return 0;
}

/* The execution input parsed, or NULL after replying InvalidExecutionInput:
 * an empty input is AWS's "Invalid execution input."; other faults in
 * Jackson's words where known. */
static json_t *parse_input(call *c, const char *input)
{
    json_error_t je;
    json_t *in = fjson_loadb(input, strlen(input), JSON_DECODE_ANY, &je, &c->a->fj);
    if (in == NULL) {
        char aws[400];
        CLIENT(c, "InvalidExecutionInput", "Invalid State Machine Execution Input: '%s'",
               input[0] == '\0' ? "Invalid execution input."
               : asl_json_error_aws(input, strlen(input), aws, sizeof aws) ? aws
                                                                         : je.text);
    }
    return in;
}

static void op_start(call *c, json_t *req, int sync)
{
    api *a = c->a;
    const char *smarn, *name, *input, *trace, *incl;
    run_sm sm;
    if (api__str_member(c, req, "stateMachineArn", 1, 2048, &smarn) ||
        api__str_member(c, req, "name", 0, 0, &name) ||
        api__str_member(c, req, "input", 0, MAX_INPUT, &input) ||
        api__str_member(c, req, "traceHeader", 0, 256, &trace) ||
        (sync && api__str_member(c, req, "includedData", 0, 0, &incl)))
        return;
    if (sync)
        c->include_data = incl == NULL || strcmp(incl, "METADATA_ONLY") != 0;
    if (name && strlen(name) > 80) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: "
               "Member must have length less than or equal to 80",
               name);
        return;
    }
    if (name && !run_name_valid(name)) {
        CLIENT(c, "InvalidName", "Invalid Name: '%s'", name);
        return;
    }
    char smbuf[2048];
    const char *tcase = NULL;
    if (find_sm_case(c, &smarn, smbuf, sizeof smbuf, &sm, &tcase))
        return;
    if (sync && sm.type != ASL_EXPRESS) {
        run_sm_cleanup(&sm);
        CLIENT(c, "StateMachineTypeNotSupported",
               "This operation is not supported by this type of state machine");
        return;
    }
    if (input == NULL)
        input = "{}";
    json_t *in = parse_input(c, input);
    if (in == NULL) {
        run_sm_cleanup(&sm);
        return;
    }
    char uuid[37];
    int named = name != NULL;
    if (name == NULL) {
        uuid7(a, uuid);
        name = uuid;
    }
    int express = sm.type == ASL_EXPRESS;
    /* (A name we made up is new: no need to look for it; the unique ARN
     * index would still refuse a collision.) */
    if (!express && named) {
        /* Name idempotency (AWS): the same name and input while it runs
         * returns the same execution; otherwise ExecutionAlreadyExists. */
        char *xarn = sfn_arn_execution(sm.arn, name, NULL);
        run_exec_info old;
        if (xarn && run_exec_get(a->run, xarn, &old) == 0) {
            int same = old.status == RUN_RUNNING && !strcmp(old.input, input) &&
                       !strcmp(old.sm_arn, sm.arn);
            if (same)
                api__reply_json(c, json_pack("{s:s,s:o}", "executionArn", xarn, "startDate",
                                             ts(old.start_ms)));
            else
                CLIENT(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", xarn);
            run_exec_info_cleanup(&old);
            free(xarn);
            json_decref(in);
            run_sm_cleanup(&sm);
            return;
        }
        free(xarn);
    }
    run_start s = {.sm = &sm, .name = name, .input_text = input, .input = in,
                   .express = express, .test_case = tcase, .version_arn = c->ver_arn,
                   .alias_arn = c->alias_arn};
    char *arn = NULL;
    int64_t start_ms = 0;
    int rc = run_exec_start(a->run, &s, sync ? sync_done : NULL, c, &arn, &start_ms);
    json_decref(in);
    run_sm_cleanup(&sm);
    if (rc == RUN_EEXIST) {
        CLIENT(c, "ExecutionAlreadyExists", "Execution Already Exists: '%s'", name);
        return;
    }
    if (rc == RUN_EUNAVAIL) {
        api__reply_unavail(c);
        return;
    }
    if (rc != 0) {
        api__reply_err(c, 500, "InternalFailure", "cannot start the execution: %s",
                       sfn_strerror(rc));
        return;
    }
    if (sync) {
        /* answered by sync_done; keep what the reply needs */
        c->arn = arn;
        json_t *meta = json_pack("{s:s,s:s,s:s,s:o}", "executionArn", arn, "stateMachineArn",
                                 smarn, "name", name, "startDate", ts(start_ms));
        if (c->include_data)
            json_object_set_new(meta, "input", json_string(input));
        c->body = jtext_dup(meta);
        json_decref(meta);
        return;
    }
    jtext b = {0};
    jtext_lit(&b, "{\"executionArn\":");
    jtext_cstr(&b, arn);
    jtext_lit(&b, ",\"startDate\":");
    jtext_ts(&b, start_ms);
    jtext_c(&b, '}');
    free(arn);
    char *text = jtext_take(&b);
    if (text == NULL)
        api__reply_err(c, 500, "InternalFailure", "out of memory");
    else
        api__reply_text(c, 200, text);
}

static void sync_done(void *ud, int rc, const run_result *res)
{
    call *c = ud;
    json_error_t je;
    json_t *o = c->body ? json_loads(c->body, 0, &je) : NULL;
    free(c->body);
    c->body = NULL;
    if (rc == RUN_EUNAVAIL) {
        json_decref(o);
        api__reply_unavail(c);
        return;
    }
    if (rc != 0 || o == NULL) {
        json_decref(o);
        api__reply_err(c, 500, "ServiceUnavailable", "the service is shutting down");
        return;
    }
    json_object_set_new(o, "stopDate", ts(res->stop_ms));
    json_object_set_new(o, "status", json_string(asl_status_name(res->status)));
    if (c->include_data) {
        json_object_set_new(o, "inputDetails", json_pack("{s:b}", "included", 1));
        if (res->output) {
            json_object_set_new(o, "output", json_string(res->output));
            json_object_set_new(o, "outputDetails", json_pack("{s:b}", "included", 1));
        }
    }
    if (res->error)
        json_object_set_new(o, "error", json_string(res->error));
    if (res->cause)
        json_object_set_new(o, "cause", json_string(res->cause));
    double start = json_real_value(json_object_get(o, "startDate"));
    int64_t dur = res->stop_ms - (int64_t)(start * 1000.0 + 0.5);
    if (dur < 1)
        dur = 1;
    json_object_set_new(o, "billingDetails",
                        json_pack("{s:i,s:I}", "billedMemoryUsedInMB", 64,
                                  "billedDurationInMilliseconds",
                                  (json_int_t)((dur + 99) / 100 * 100)));
    api__reply_json(c, o);
}

void api__op_describe_exec(call *c, json_t *req)
{
    const char *arn;
    run_exec_info x;
    /* AWS: not for Express executions (InvalidArn, "... context: express") */
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__check_arn(c, arn, "execution", NULL) || api__find_exec(c, arn, &x))
        return;
    reply_exec(c, &x);
    run_exec_info_cleanup(&x);
}

typedef struct exec_list {
    json_t *arr;
    call *c;
    const char *filter;   /* a version or alias ARN: its executions only */
    int redrive;          /* redriveFilter: 0 none, 1 REDRIVEN, 2 NOT_REDRIVEN */
    long limit;
    int64_t last;         /* the id of the last item given */
    int more;             /* one more item follows the page */
} exec_list;

/* The page: items that pass the redrive filter, up to the limit; the walk
 * stops at the first item past it (the page's next token names the last
 * item given). */
static int exec_list_cb(void *ctx, const run_exec_info *x)
{
    exec_list *l = ctx;
    if ((l->redrive == 1 && x->redrive_count == 0) || (l->redrive == 2 && x->redrive_count > 0))
        return 0;
    if (l->filter && !api__ver_exec_keys(l->c, x->id, NULL, l->filter))
        return 0;
    if ((long)json_array_size(l->arr) >= l->limit) {
        l->more = 1;
        return 1;
    }
    json_t *o = exec_json(x, 0);
    api__ver_exec_keys(l->c, x->id, o, NULL);
    json_array_append_new(l->arr, o);
    l->last = x->id;
    return 0;
}

void api__op_list_execs(call *c, json_t *req)
{
    const char *smarn, *filter, *tok, *maprun, *redrive;
    long max;
    long long after = 0;
    if (api__str_member(c, req, "stateMachineArn", 0, 2048, &smarn) ||
        api__str_member(c, req, "statusFilter", 0, 0, &filter) ||
        api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        api__str_member(c, req, "nextToken", 0, 3096, &tok) ||
        api__str_member(c, req, "mapRunArn", 0, 2048, &maprun) ||
        api__str_member(c, req, "redriveFilter", 0, 0, &redrive) ||
        api__parse_token(c, tok, "EX", &after))
        return;
    if (smarn == NULL && maprun == NULL) {
        CLIENT(c, "ValidationException", "Must provide a StateMachine ARN or MapRun ARN");
        return;
    }
    if (smarn == NULL) {
        /* a map run's iterations run inside its execution: no child
         * executions to list (api_maprun.c) */
        run_map_run m;
        if (api__find_map_run(c, maprun, &m) == 0) {
            run_map_run_cleanup(&m);
            api__reply_json(c, json_pack("{s:[]}", "executions"));
        }
        return;
    }
    int rfilter = 0;
    if (redrive && (rfilter = !strcmp(redrive, "REDRIVEN")      ? 1
                              : !strcmp(redrive, "NOT_REDRIVEN") ? 2
                                                                 : 0) == 0) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'redriveFilter' failed to satisfy "
               "constraint: Member must satisfy enum value set: [REDRIVEN, NOT_REDRIVEN]",
               redrive);
        return;
    }
    int status = -1;
    if (filter && (status = status_from_name(filter)) < 0) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'statusFilter' failed to satisfy "
               "constraint: Member must satisfy enum value set: [SUCCEEDED, TIMED_OUT, "
               "PENDING_REDRIVE, ABORTED, FAILED, RUNNING]",
               filter);
        return;
    }
    run_sm sm;
    if (api__check_arn(c, smarn, "stateMachine", NULL))
        return;
    char *base = NULL; /* a version or alias ARN lists its own executions */
    const char *only = api__ver_list_target(smarn, &base) ? smarn : NULL;
    if (only)
        smarn = base;
    int rc = run_sm_get(c->a->run, smarn, &sm);
    if (rc != 0) {
        CLIENT(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'",
               only ? only : smarn);
        free(base);
        return;
    }
    if (sm.type == ASL_EXPRESS) {
        run_sm_cleanup(&sm);
        free(base);
        CLIENT(c, "StateMachineTypeNotSupported",
               "This operation is not supported by this type of state machine");
        return;
    }
    run_sm_cleanup(&sm);
    exec_list l = {.arr = json_array(), .c = c, .filter = only, .redrive = rfilter,
                   .limit = max ? max : LIST_DEFAULT};
    int64_t next = 0;
    /* filtered: the machine's executions are walked until the page is full */
    run_exec_list(c->a->run, smarn, status, after, 0, exec_list_cb, &l, &next);
    free(base);
    json_t *o = json_pack("{s:o}", "executions", l.arr);
    if (l.more)
        json_object_set_new(o, "nextToken", json_sprintf("EX%lld", (long long)l.last));
    api__reply_json(c, o);
}

void api__op_stop(call *c, json_t *req)
{
    const char *arn, *error, *cause;
    run_exec_info x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__str_member(c, req, "error", 0, 256, &error) ||
        api__str_member(c, req, "cause", 0, 32768, &cause) ||
        api__check_arn(c, arn, "execution", NULL) || api__find_exec(c, arn, &x))
        return;
    int64_t stop_ms = x.stop_ms;
    int rc = x.status == RUN_RUNNING ? run_exec_stop(c->a->run, arn, error, cause, &stop_ms) : 0;
    run_exec_info_cleanup(&x);
    if (rc == RUN_EUNAVAIL) {
        api__reply_unavail(c);
        return;
    }
    if (rc != 0)
        stop_ms = ev_wall_ms();
    api__reply_json(c, json_pack("{s:o}", "stopDate", ts(stop_ms)));
}

/* Tokens the core makes: 32 hex digits, '-', the task id. */
static int token_shape_ok(const char *t)
{
    size_t i;
    for (i = 0; i < 32; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return 0;
    if (t[i++] != '-' || t[i] == '\0')
        return 0;
    for (; t[i]; i++)
        if (t[i] < '0' || t[i] > '9')
            return 0;
    return 1;
}

static void op_task(call *c, json_t *req, int kind)
{
    const char *tok, *output = NULL, *error = NULL, *cause = NULL;
    if (api__str_member(c, req, "taskToken", 1, 2048, &tok))
        return;
    if (kind == RUN_TASK_SUCCESS && api__str_member(c, req, "output", 1, MAX_INPUT, &output))
        return;
    if (kind == RUN_TASK_FAILURE &&
        (api__str_member(c, req, "error", 0, 256, &error) ||
         api__str_member(c, req, "cause", 0, 32768, &cause)))
        return;
    if (!token_shape_ok(tok)) {
        CLIENT(c, "InvalidToken", "Invalid Token: 'Invalid token'");
        return;
    }
    json_t *out = NULL;
    if (output) {
        json_error_t je;
        out = json_loads(output, JSON_DECODE_ANY, &je);
        if (out == NULL) {
            CLIENT(c, "InvalidOutput", "Invalid Output: '%s'", je.text);
            return;
        }
    }
    int rc = run_task_send(c->a->run, tok, kind, out, error, cause);
    json_decref(out);
    if (rc == RUN_EUNAVAIL) {
        api__reply_unavail(c);
        return;
    }
    if (rc == RUN_ETIMEDOUT) {
        /* AWS's wording is not recorded; in the form of its other messages */
        CLIENT(c, "TaskTimedOut", "Task Timed Out: 'Provided task has timed out'");
        return;
    }
    if (rc != 0) {
        CLIENT(c, "TaskDoesNotExist", "Task Does Not Exist: 'Provided task does not exist anymore'");
        return;
    }
    api__reply_json(c, json_object());
}

void api__op_redrive(call *c, json_t *req)
{
    const char *arn, *ctok;
    run_exec_info x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__str_member(c, req, "clientToken", 0, 64, &ctok) || api__find_exec(c, arn, &x))
        return;
    if (strstr(arn, ":express:")) {
        CLIENT(c, "ExecutionNotRedrivable", "Execution '%s' is an EXPRESS execution and cannot be redriven", arn);
    } else if (x.status == RUN_RUNNING || x.status == RUN_SUCCEEDED) {
        CLIENT(c, "ExecutionNotRedrivable", "Execution is %s and cannot be redriven",
               status_name(x.status));
    } else {
        char err[256] = "";
        int64_t when = 0;
        int rc = run_exec_redrive(c->a->run, arn, &when, err, sizeof err);
        if (rc == RUN_EUNAVAIL)
            api__reply_unavail(c);
        else if (rc != 0)
            CLIENT(c, "ExecutionNotRedrivable", "%s", err);
        else
            api__reply_json(c, json_pack("{s:o}", "redriveDate", ts(when)));
    }
    run_exec_info_cleanup(&x);
}

/* ---- Sfnd.WaitExecution ------------------------------------------------------------ */
static void wait_answer(call *c)
{
    run_exec_info x;
    c->answered = 1;
    if (c->timer) {
        ev_timer_cancel(c->a->loop, c->timer);
        c->timer = NULL;
    }
    if (run_exec_get(c->a->run, c->arn, &x) == 0) {
        reply_exec(c, &x);
        run_exec_info_cleanup(&x);
    } else {
        CLIENT(c, "ExecutionDoesNotExist", "Execution Does Not Exist: '%s'", c->arn);
    }
}

/* Timer and waiter both hold the call: the timer answers and leaves the
 * call to the waiter, which frees it (or answers first). */
static void wait_done(void *ud, int rc, const run_result *res)
{
    (void)res;
    call *c = ud;
    if (c->answered) {
        free(c->arn);
        free(c);
        return;
    }
    if (rc != 0) {
        c->answered = 1;
        if (c->timer)
            ev_timer_cancel(c->a->loop, c->timer);
        c->timer = NULL;
        api__reply_err(c, 500, "ServiceUnavailable", "the service is shutting down");
        return;
    }
    wait_answer(c);
}

static void wait_timeout(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)loop;
    (void)t;
    call *c = ud;
    c->timer = NULL;
    /* answer through a copy: the waiter still holds c and frees it */
    call *copy = calloc(1, sizeof *copy);
    if (copy == NULL)
        return;
    copy->a = c->a;
    copy->cb = c->cb;
    copy->ud = c->ud;
    copy->arn = strdup(c->arn);
    c->answered = 1;
    if (copy->arn == NULL) {
        api__reply_err(copy, 500, "InternalFailure", "out of memory");
        return;
    }
    wait_answer(copy);
}

void api__op_wait(call *c, json_t *req)
{
    const char *arn;
    long timeout;
    run_exec_info x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) ||
        api__int_member(c, req, "timeoutSeconds", 0, 3600, 60, &timeout))
        return;
    /* running in memory: it exists (no store lookup on the hot path) */
    if (!run_exec_running(c->a->run, arn)) {
        if (api__find_exec(c, arn, &x))
            return;
        run_exec_info_cleanup(&x);
    }
    c->arn = strdup(arn);
    if (c->arn == NULL || run_exec_wait(c->a->run, arn, wait_done, c) != 0) {
        wait_answer(c);
        return;
    }
    c->timer = ev_timer_add(c->a->loop, ev_now_ms() + timeout * 1000, wait_timeout, c);
}

/* ---- the entry points of api_call's table (api_int.h) ---------------------------- */
void api__op_start_async(call *c, json_t *req) { op_start(c, req, 0); }
void api__op_start_sync(call *c, json_t *req) { op_start(c, req, 1); }
void api__op_task_success(call *c, json_t *req) { op_task(c, req, RUN_TASK_SUCCESS); }
void api__op_task_failure(call *c, json_t *req) { op_task(c, req, RUN_TASK_FAILURE); }
void api__op_task_heartbeat(call *c, json_t *req) { op_task(c, req, RUN_TASK_HEARTBEAT); }
