/*
 * api_test.c - TestState (X-Amz-Target AWSStepFunctions.TestState): the
 * request's members parsed strictly, the state run by the core
 * (asl_test.h), a Task without a mock answered by the local Lambda
 * through the runner (run_invoke_function), and the core's response or
 * API error sent back.
 *
 * Nothing is stored: a TestState is not an execution. Its context object
 * names a made-up Express execution (a UUID) of a made-up machine, as
 * AWS's does.
 *
 * Must not: evaluate the state or shape its response (the core does), nor
 * invoke functions but through the runner.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "api_int.h"

#include "asl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_LIMIT_S 300 /* AWS: a TestState runs at most five minutes */

typedef struct tcall {
    call *c;       /* freed once answered: the loop and runner are kept */
    ev_loop *loop;
    run *run;
    asl_test *t;
    ev_timer *timer;
    int answered;
    int fn_out; /* a function invocation is out: tc lives until it answers */
} tcall;

static uint64_t rng_next(api *a)
{
    uint64_t z = (a->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void uuid4(api *a, char out[37])
{
    uint64_t x = rng_next(a), y = rng_next(a);
    snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(x >> 32), (unsigned)((x >> 16) & 0xffff),
             (unsigned)(x & 0xfff), (unsigned)(((y >> 48) & 0x3fff) | 0x8000),
             (unsigned long long)(y & 0xffffffffffffULL));
}

/* ---- the request ----------------------------------------------------------------- */
/* A string member that must be one of vals (NULL-terminated). */
static int enum_member(call *c, const json_t *obj, const char *name, const char *path, const char *const *vals,
                       int *out)
{
    const char *s;
    if (api__str_member(c, obj, name, 0, 0, &s) != 0)
        return -1;
    if (s == NULL)
        return 0;
    for (int i = 0; vals[i]; i++) {
        if (strcmp(vals[i], s) == 0) {
            *out = i;
            return 0;
        }
    }
    char set[128] = "";
    for (int i = 0; vals[i]; i++)
        snprintf(set + strlen(set), sizeof set - strlen(set), "%s%s", i ? ", " : "", vals[i]);
    CLIENT(c, "ValidationException",
           "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must "
           "satisfy enum value set: [%s]",
           s, path, set);
    return -1;
}

/* A string member of 1 to max characters when present. */
static int name_member(call *c, const json_t *obj, const char *name, const char *path, const char **out)
{
    if (api__str_member(c, obj, name, 0, 80, out) != 0)
        return -1;
    if (*out && **out == '\0') {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '' at '%s' failed to satisfy constraint: Member must "
               "have length greater than or equal to 1",
               path);
        return -1;
    }
    return 0;
}

static int mock_members(call *c, const json_t *req, asl_test_req *q)
{
    static const char *const modes[] = {"STRICT", "PRESENT", "NONE", NULL};
    json_t *mock, *eo;
    if (api__member(c, req, "mock", T_OBJ, 0, &mock) != 0)
        return -1;
    if (mock == NULL)
        return 0;
    q->has_mock = 1;
    if (api__str_member(c, mock, "result", 0, MAX_INPUT, &q->mock_result) != 0 ||
        api__member(c, mock, "errorOutput", T_OBJ, 0, &eo) != 0 ||
        enum_member(c, mock, "fieldValidationMode", "mock.fieldValidationMode", modes, &q->field_validation) != 0)
        return -1;
    if (eo) {
        q->has_mock_error = 1;
        if (api__str_member(c, eo, "error", 0, 256, &q->mock_error) != 0 ||
            api__str_member(c, eo, "cause", 0, 32768, &q->mock_cause) != 0)
            return -1;
    }
    if ((q->mock_result != NULL) == q->has_mock_error) {
        CLIENT(c, "ValidationException", "A mock must have either a result or an errorOutput, and not both");
        return -1;
    }
    return 0;
}

static int config_members(call *c, const json_t *req, asl_test_req *q)
{
    json_t *sc;
    long n;
    q->retrier_retry_count = q->map_iteration_failure_count = -1;
    if (api__member(c, req, "stateConfiguration", T_OBJ, 0, &sc) != 0)
        return -1;
    if (sc == NULL)
        return 0;
    if (api__int_member(c, sc, "retrierRetryCount", 0, 1L << 30, -1, &n) != 0)
        return -1;
    q->retrier_retry_count = (int)n;
    if (api__int_member(c, sc, "mapIterationFailureCount", 0, 1L << 30, -1, &n) != 0)
        return -1;
    q->map_iteration_failure_count = (int)n;
    if (name_member(c, sc, "errorCausedByState", "stateConfiguration.errorCausedByState",
                    &q->error_caused_by_state) != 0 ||
        api__str_member(c, sc, "mapItemReaderData", 0, MAX_INPUT, &q->map_item_reader_data) != 0)
        return -1;
    return 0;
}

static int members(call *c, const json_t *req, asl_test_req *q)
{
    static const char *const levels[] = {"INFO", "DEBUG", "TRACE", NULL};
    memset(q, 0, sizeof *q);
    if (api__str_member(c, req, "definition", 1, 1048576, &q->definition) != 0 ||
        api__str_member(c, req, "roleArn", 0, 256, &q->info.role_arn) != 0 ||
        api__str_member(c, req, "input", 0, MAX_INPUT, &q->input) != 0 ||
        enum_member(c, req, "inspectionLevel", "inspectionLevel", levels, &q->level) != 0 ||
        api__bool_member(c, req, "revealSecrets", 0, &q->reveal_secrets) != 0 ||
        api__str_member(c, req, "variables", 0, MAX_INPUT, &q->variables) != 0 ||
        name_member(c, req, "stateName", "stateName", &q->state_name) != 0 ||
        api__str_member(c, req, "context", 0, MAX_INPUT, &q->context) != 0 || mock_members(c, req, q) != 0 ||
        config_members(c, req, q) != 0)
        return -1;
    return 0;
}

/* ---- running --------------------------------------------------------------------- */
static void finish(tcall *tc)
{
    if (tc->timer)
        ev_timer_cancel(tc->loop, tc->timer);
    asl_test_free(tc->t);
    free(tc);
}

/* The core's response, or its API error. */
static void answer(tcall *tc)
{
    json_t *resp = NULL;
    asl_test_err err;
    int rc = asl_test_result(tc->t, &resp, &err);
    tc->answered = 1;
    if (rc == SFN_OK)
        api__reply_json(tc->c, resp);
    else if (rc == SFN_EINVAL)
        CLIENT(tc->c, err.type, "%s", err.message);
    else
        api__reply_err(tc->c, 500, "InternalFailure", "out of memory");
}

static void run_pending(tcall *tc);

static void on_result(void *ud, json_t *result, const char *error, const char *cause)
{
    tcall *tc = ud;
    tc->fn_out = 0;
    if (tc->answered) { /* timed out before */
        finish(tc);
        return;
    }
    if (tc->timer) {
        ev_timer_cancel(tc->loop, tc->timer);
        tc->timer = NULL;
    }
    asl_test_feed(tc->t, result, error, cause, ev_wall_ms());
    run_pending(tc);
}

static void on_timeout(ev_loop *loop, ev_timer *timer, void *ud)
{
    (void)loop;
    (void)timer;
    tcall *tc = ud;
    tc->timer = NULL;
    asl_test_timeout(tc->t, ev_wall_ms());
    answer(tc);
    if (!tc->fn_out)
        finish(tc);
}

/* Answer when the state has ended, else run the task it waits on: a
 * Lambda function through the runner (the reply comes from on_result). */
static void run_pending(tcall *tc)
{
    const char *resource, *fn;
    json_t *payload;
    int timeout;
    while (asl_test_pending(tc->t, &resource, &fn, &payload, &timeout) && fn == NULL) {
        char cause[512];
        snprintf(cause, sizeof cause,
                 "sfnd runs only Lambda functions in TestState; give a mock for the resource '%s'",
                 resource ? resource : "");
        asl_test_feed(tc->t, NULL, "States.Runtime", cause, ev_wall_ms());
    }
    if (!asl_test_pending(tc->t, &resource, &fn, &payload, &timeout)) {
        answer(tc);
        finish(tc);
        return;
    }
    char *text = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text == NULL) {
        api__reply_err(tc->c, 500, "InternalFailure", "out of memory");
        finish(tc);
        return;
    }
    int limit = timeout > 0 && timeout < TEST_LIMIT_S ? timeout : TEST_LIMIT_S;
    tc->timer = ev_timer_add(tc->loop, ev_now_ms() + (int64_t)limit * 1000, on_timeout, tc);
    tc->fn_out = 1;
    /* may answer at once (on_result): tc is not touched after this */
    run_invoke_function(tc->run, fn, text, on_result, tc);
    free(text);
}

void api__op_test_state(call *c, json_t *req)
{
    api *a = c->a;
    asl_test_req q;
    if (members(c, req, &q) != 0)
        return;
    char sm[37], ex[37], sm_arn[160], ex_arn[240];
    uuid4(a, sm);
    uuid4(a, ex);
    sfn_arn_states(sm_arn, sizeof sm_arn, a->region, a->account, "stateMachine", sm);
    /* TestState's execution: an Express one, without the UUID suffix */
    snprintf(ex_arn, sizeof ex_arn, "arn:aws:states:%s:%s:express:%s:%s", a->region, a->account,
             sm, ex);
    q.info.execution_arn = ex_arn;
    q.info.execution_name = ex;
    q.info.state_machine_arn = sm_arn;
    q.info.state_machine_name = sm;
    q.info.start_ms = ev_wall_ms();
    q.info.seed = rng_next(a);
    tcall *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    tc->c = c;
    tc->loop = a->loop;
    tc->run = a->run;
    asl_test_err err;
    int rc = asl_test_start(&q, &tc->t, &err);
    if (rc != SFN_OK) {
        free(tc);
        if (rc == SFN_EINVAL)
            CLIENT(c, err.type, "%s", err.message);
        else
            api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    run_pending(tc);
}
