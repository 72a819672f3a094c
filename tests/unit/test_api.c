/*
 * test_api.c - the Step Functions API over the runner and an in-memory (or
 * temporary) store, without HTTP or Lambda processes: request parsing and
 * AWS's errors, the state machine and execution life cycle, task tokens,
 * sync EXPRESS executions, stop, history pagination (and the runner's
 * history iterator under it), and recovery of a running execution by a
 * fresh runner (replay of its input log).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_env.h"
#include "jtext.h"

static char *create_sm(env *e, const char *name, const char *def, const char *type)
{
    json_t *req = json_pack("{s:s,s:s,s:s,s:s}", "name", name, "definition", def, "roleArn",
                            "arn:aws:iam::123456789012:role/r", "type", type);
    char *text = json_dumps(req, 0);
    json_t *j = env_ok(e, "CreateStateMachine", text);
    char *arn = strdup(json_string_value(json_object_get(j, "stateMachineArn")));
    assert_true(json_is_number(json_object_get(j, "creationDate")));
    json_decref(j);
    json_decref(req);
    free(text);
    return arn;
}

static const char pass_def[] =
    "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"Result\":{\"x\":1},"
    "\"ResultPath\":\"$.r\",\"End\":true}}}";

static char *start(env *e, const char *sm, const char *name, const char *input)
{
    json_t *req = json_pack("{s:s}", "stateMachineArn", sm);
    if (name)
        json_object_set_new(req, "name", json_string(name));
    if (input)
        json_object_set_new(req, "input", json_string(input));
    char *text = json_dumps(req, 0);
    json_t *j = env_ok(e, "StartExecution", text);
    char *arn = strdup(json_string_value(json_object_get(j, "executionArn")));
    json_decref(j);
    json_decref(req);
    free(text);
    return arn;
}

static json_t *describe(env *e, const char *arn)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", arn);
    return env_ok(e, "DescribeExecution", body);
}

static void test_request_errors(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    env_expect_err(&e, "NoSuchOp", "{}", "UnknownOperationException");
    env_expect_err(&e, "ListExecutions", "{not json", "SerializationException");
    env_expect_err(&e, "ListExecutions", "[1,2]", "SerializationException");
    env_expect_err(&e, "DescribeExecution", "{\"executionArn\":5}", "SerializationException");
    env_expect_err(&e, "DescribeExecution", "{}", "ValidationException");
    env_expect_err(&e, "DescribeExecution", "{\"executionArn\":\"nope\"}", "InvalidArn");
    env_expect_err(&e, "DescribeExecution",
               "{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:x\"}",
               "InvalidArn");
    env_expect_err(&e, "DescribeExecution",
               "{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:execution:x:y\"}",
               "ExecutionDoesNotExist");
    env_expect_err(&e, "StartExecution",
               "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:x\"}",
               "StateMachineDoesNotExist");
    env_expect_err(&e, "CreateStateMachine",
               "{\"name\":\"a\",\"definition\":\"{}\",\"roleArn\":\"arn:aws:iam::1:role/r\"}",
               "InvalidDefinition");
    env_expect_err(&e, "CreateStateMachine",
               "{\"name\":\"a b\",\"definition\":\"{}\",\"roleArn\":\"arn:aws:iam::1:role/r\"}",
               "InvalidName");
    env_expect_err(&e, "ListStateMachines", "{\"nextToken\":\"garbage\"}", "InvalidToken");
    env_expect_err(&e, "ListStateMachines", "{\"maxResults\":5000}", "ValidationException");
    env_expect_err(&e, "SendTaskSuccess", "{\"taskToken\":\"x\",\"output\":\"{}\"}", "InvalidToken");
    env_expect_err(&e, "SendTaskSuccess",
               "{\"taskToken\":\"0123456789abcdef0123456789abcdef-7\",\"output\":\"{}\"}",
               "TaskDoesNotExist");
    env_expect_err(&e, "UpdateStateMachine",
               "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:x\"}",
               "MissingRequiredParameter");
    env_close(&e);
}

static void test_lifecycle(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    char *sm = create_sm(&e, "pass", pass_def, "STANDARD");
    assert_string_equal(sm, "arn:aws:states:us-east-1:123456789012:stateMachine:pass");
    /* identical create is idempotent; a different one is refused */
    free(create_sm(&e, "pass", pass_def, "STANDARD"));
    env_expect_err(&e, "CreateStateMachine",
               "{\"name\":\"pass\",\"definition\":\"{\\\"StartAt\\\":\\\"Q\\\",\\\"States\\\":"
               "{\\\"Q\\\":{\\\"Type\\\":\\\"Succeed\\\"}}}\",\"roleArn\":\"arn:aws:iam::1:role/r\"}",
               "StateMachineAlreadyExists");

    char body[2048];
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\"}", sm);
    json_t *d = env_ok(&e, "DescribeStateMachine", body);
    assert_string_equal(json_string_value(json_object_get(d, "definition")), pass_def);
    assert_string_equal(json_string_value(json_object_get(d, "type")), "STANDARD");
    json_decref(d);

    char *x = start(&e, sm, "one", "{\"a\":1}");
    assert_string_equal(x, "arn:aws:states:us-east-1:123456789012:execution:pass:one");
    json_t *desc = describe(&e, x);
    assert_string_equal(json_string_value(json_object_get(desc, "status")), "SUCCEEDED");
    json_t *out = json_loads(json_string_value(json_object_get(desc, "output")), 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(out, "r"), "x")), 1);
    assert_true(json_is_number(json_object_get(desc, "stopDate")));
    json_decref(out);
    json_decref(desc);

    /* a name already used by an ended execution */
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\",\"name\":\"one\",\"input\":\"{\\\"a\\\":1}\"}", sm);
    env_expect_err(&e, "StartExecution", body, "ExecutionAlreadyExists");
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\",\"input\":\"{bad\"}", sm);
    env_expect_err(&e, "StartExecution", body, "InvalidExecutionInput");
    char *big = malloc(300000);
    memset(big, ' ', 299999);
    big[0] = '"';
    big[299998] = '"';
    big[299999] = '\0';
    json_t *req = json_pack("{s:s,s:s}", "stateMachineArn", sm, "input", big);
    char *text = json_dumps(req, 0);
    env_expect_err(&e, "StartExecution", text, "ValidationException");
    free(text);
    json_decref(req);
    free(big);

    /* history: ids 1..n, pagination both ways, data stripped on request */
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", x);
    json_t *h = env_ok(&e, "GetExecutionHistory", body);
    json_t *evs = json_object_get(h, "events");
    size_t n = json_array_size(evs);
    assert_true(n >= 4);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, i), "id")), (long long)i + 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 0), "type")),
                        "ExecutionStarted");
    assert_string_equal(json_string_value(json_object_get(json_array_get(evs, n - 1), "type")),
                        "ExecutionSucceeded");
    json_decref(h);
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"maxResults\":2,\"reverseOrder\":true,"
                                "\"includeExecutionData\":false}", x);
    h = env_ok(&e, "GetExecutionHistory", body);
    evs = json_object_get(h, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 0), "id")), (long long)n);
    json_t *det = json_object_get(json_array_get(evs, 0), "executionSucceededEventDetails");
    assert_null(json_object_get(det, "output"));
    const char *tok = json_string_value(json_object_get(h, "nextToken"));
    assert_non_null(tok);
    char body2[2048];
    snprintf(body2, sizeof body2, "{\"executionArn\":\"%s\",\"maxResults\":100,\"reverseOrder\":true,"
                                  "\"nextToken\":\"%s\"}", x, tok);
    json_t *h2 = env_ok(&e, "GetExecutionHistory", body2);
    assert_int_equal(json_array_size(json_object_get(h2, "events")), n - 2);
    assert_null(json_object_get(h2, "nextToken"));
    json_decref(h2);
    json_decref(h);

    /* list with a status filter and pagination */
    free(start(&e, sm, "two", NULL));
    free(start(&e, sm, "three", NULL));
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\",\"maxResults\":2,\"statusFilter\":\"SUCCEEDED\"}", sm);
    json_t *l = env_ok(&e, "ListExecutions", body);
    assert_int_equal(json_array_size(json_object_get(l, "executions")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(l, "executions"), 0), "name")), "three");
    assert_non_null(json_object_get(l, "nextToken"));
    json_decref(l);
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\",\"statusFilter\":\"RUNNING\"}", sm);
    l = env_ok(&e, "ListExecutions", body);
    assert_int_equal(json_array_size(json_object_get(l, "executions")), 0);
    json_decref(l);

    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", x);
    json_t *f = env_ok(&e, "DescribeStateMachineForExecution", body);
    assert_string_equal(json_string_value(json_object_get(f, "definition")), pass_def);
    json_decref(f);

    json_t *v = env_ok(&e, "ValidateStateMachineDefinition", "{\"definition\":\"{\\\"StartAt\\\":1}\"}");
    assert_string_equal(json_string_value(json_object_get(v, "result")), "FAIL");
    assert_true(json_array_size(json_object_get(v, "diagnostics")) > 0);
    json_decref(v);

    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\"}", sm);
    json_decref(env_ok(&e, "DeleteStateMachine", body));
    env_expect_err(&e, "DescribeStateMachine", body, "StateMachineDoesNotExist");
    free(x);
    free(sm);
    env_close(&e);
}

static const char token_def[] =
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\","
    "\"Resource\":\"arn:aws:states:::ecs:runTask.waitForTaskToken\","
    "\"Parameters\":{\"QueueUrl\":\"q\",\"token.$\":\"$$.Task.Token\"},"
    "\"End\":true}}}";

static char *token_of(env *e, const char *x)
{
    char body[1024];
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", x);
    json_t *h = env_ok(e, "GetExecutionHistory", body);
    json_t *ev;
    size_t i;
    char *tok = NULL;
    json_array_foreach(json_object_get(h, "events"), i, ev) {
        json_t *d = json_object_get(ev, "taskScheduledEventDetails");
        if (d) {
            json_t *p = json_loads(json_string_value(json_object_get(d, "parameters")), 0, NULL);
            tok = strdup(json_string_value(json_object_get(p, "token")));
            json_decref(p);
        }
    }
    json_decref(h);
    assert_non_null(tok);
    return tok;
}

static void test_task_token_and_stop(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    char *sm = create_sm(&e, "tok", token_def, "STANDARD");
    char *x = start(&e, sm, "t1", NULL);
    json_t *d = describe(&e, x);
    if (strcmp(json_string_value(json_object_get(d, "status")), "RUNNING") != 0)
        fail_msg("%s", json_dumps(d, 0));
    json_decref(d);
    char *tok = token_of(&e, x);
    char body[1024];
    snprintf(body, sizeof body, "{\"taskToken\":\"%s\"}", tok);
    json_decref(env_ok(&e, "SendTaskHeartbeat", body));
    snprintf(body, sizeof body, "{\"taskToken\":\"%s\",\"output\":\"{\\\"ok\\\":true}\"}", tok);
    json_decref(env_ok(&e, "SendTaskSuccess", body));
    d = describe(&e, x);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "SUCCEEDED");
    assert_string_equal(json_string_value(json_object_get(d, "output")), "{\"ok\":true}");
    json_decref(d);
    /* the token is spent */
    env_expect_err(&e, "SendTaskSuccess", body, "TaskDoesNotExist");

    /* failure through the token */
    char *x2 = start(&e, sm, "t2", NULL);
    char *tok2 = token_of(&e, x2);
    snprintf(body, sizeof body, "{\"taskToken\":\"%s\",\"error\":\"Boom\",\"cause\":\"why\"}", tok2);
    json_decref(env_ok(&e, "SendTaskFailure", body));
    d = describe(&e, x2);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "FAILED");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "Boom");
    json_decref(d);

    /* stop a waiting execution */
    char *x3 = start(&e, sm, "t3", NULL);
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"error\":\"E\",\"cause\":\"C\"}", x3);
    json_t *s = env_ok(&e, "StopExecution", body);
    assert_true(json_is_number(json_object_get(s, "stopDate")));
    json_decref(s);
    d = describe(&e, x3);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "ABORTED");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "E");
    json_decref(d);
    /* an ABORTED Standard execution can be redriven (AWS: failed, timed out
     * or aborted); it runs again from the state it was stopped in */
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", x3);
    json_t *rd = env_ok(&e, "RedriveExecution", body);
    assert_true(json_is_number(json_object_get(rd, "redriveDate")));
    json_decref(rd);
    d = describe(&e, x3);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "RUNNING");
    assert_int_equal(json_integer_value(json_object_get(d, "redriveCount")), 1);
    json_decref(d);
    /* a RUNNING one cannot */
    env_expect_err(&e, "RedriveExecution", body, "ExecutionNotRedrivable");
    free(tok);
    free(tok2);
    free(x);
    free(x2);
    free(x3);
    free(sm);
    env_close(&e);
}

static void test_lambda_missing_and_sync(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    char *sm = create_sm(&e, "lam",
                         "{\"StartAt\":\"L\",\"States\":{\"L\":{\"Type\":\"Task\",\"Resource\":"
                         "\"arn:aws:lambda:us-east-1:123456789012:function:Nope\",\"End\":true}}}",
                         "STANDARD");
    char *x = start(&e, sm, NULL, NULL);
    json_t *d = describe(&e, x);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "FAILED");
    assert_string_equal(json_string_value(json_object_get(d, "error")),
                        "Lambda.ResourceNotFoundException");
    json_decref(d);

    char *ex = create_sm(&e, "fast",
                         "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":2,"
                         "\"Next\":\"P\"},\"P\":{\"Type\":\"Pass\",\"End\":true}}}",
                         "EXPRESS");
    char body[1024];
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\",\"input\":\"{\\\"k\\\":2}\"}", ex);
    json_t *r = env_ok(&e, "StartSyncExecution", body);
    assert_string_equal(json_string_value(json_object_get(r, "status")), "SUCCEEDED");
    assert_string_equal(json_string_value(json_object_get(r, "output")), "{\"k\":2}");
    assert_non_null(strstr(json_string_value(json_object_get(r, "executionArn")), ":express:fast:"));
    assert_non_null(json_object_get(r, "billingDetails"));
    json_decref(r);
    snprintf(body, sizeof body, "{\"stateMachineArn\":\"%s\"}", sm);
    env_expect_err(&e, "StartSyncExecution", body, "StateMachineTypeNotSupported");
    free(x);
    free(sm);
    free(ex);
    env_close(&e);
}

/* A Wait of an hour: the runner is thrown away (as by a crash after the
 * commit), a new one recovers it from the store and it can be stopped;
 * the history continues where it was, one terminal event. */
static void test_recovery(void **state)
{
    (void)state;
    char path[] = "/tmp/test_api_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    env e;
    env_open(&e, path);
    e.deferred = 1;
    char *sm = create_sm(&e, "waity",
                         "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":3600000,"
                         "\"Next\":\"P\"},\"P\":{\"Type\":\"Pass\",\"End\":true}}}",
                         "STANDARD");
    char *x = start(&e, sm, "w", "{\"z\":1}");
    /* idempotent start while running */
    char *again = start(&e, sm, "w", "{\"z\":1}");
    assert_string_equal(x, again);
    free(again);
    json_t *d0 = describe(&e, x);
    if (strcmp(json_string_value(json_object_get(d0, "status")), "RUNNING") != 0)
        fail_msg("%s", json_dumps(d0, 0));
    json_decref(d0);
    env_close(&e);

    env_open(&e, path);

    e.deferred = 1;
    char err[256];
    assert_int_equal(run_recover(e.run, err, sizeof err), 1);
    json_t *d = describe(&e, x);
    assert_string_equal(json_string_value(json_object_get(d, "status")), "RUNNING");
    json_decref(d);
    char body[1024];
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\"}", x);
    json_decref(env_ok(&e, "StopExecution", body));
    json_t *h = env_ok(&e, "GetExecutionHistory", body);
    json_t *evs = json_object_get(h, "events"), *ev;
    size_t i;
    int terminal = 0;
    json_array_foreach(evs, i, ev) {
        assert_int_equal(json_integer_value(json_object_get(ev, "id")), (long long)i + 1);
        assert_true(json_integer_value(json_object_get(ev, "previousEventId")) < (long long)i + 1);
        const char *t = json_string_value(json_object_get(ev, "type"));
        terminal += !strncmp(t, "Execution", 9) && strcmp(t, "ExecutionStarted") != 0;
    }
    assert_int_equal(terminal, 1);
    json_decref(h);
    env_close(&e);
    env_open(&e, path);
    e.deferred = 1;
    assert_int_equal(run_recover(e.run, err, sizeof err), 0);
    env_close(&e);
    free(x);
    free(sm);
    char p2[64];
    unlink(path);
    snprintf(p2, sizeof p2, "%s-wal", path);
    unlink(p2);
    snprintf(p2, sizeof p2, "%s-shm", path);
    unlink(p2);
}

/* The JSON writer's doubles read back exactly and with the fewest digits
 * (the property AWS's Jackson output has), in Java's layout. */
static void check_same(const json_t *v)
{
    char *a = jtext_dup(v);
    assert_non_null(a);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        assert_true(strtod(a, NULL) == d);
        /* no shorter decimal reads back as d */
        char digits[64];
        int n = 0;
        for (const char *p = a; *p && *p != 'E'; p++)
            if (*p >= '0' && *p <= '9')
                digits[n++] = *p;
        while (n > 1 && digits[n - 1] == '0')
            n--;
        while (n > 1 && digits[0] == '0') {
            memmove(digits, digits + 1, (size_t)--n);
        }
        if (n > 1 && d != 0) {
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.*e", n - 2, d);
            assert_true(strtod(tmp, NULL) != d);
        }
    }
    free(a);
}

static void test_known_texts(void **state)
{
    (void)state;
    static const struct { double d; const char *text; } known[] = {
        {0.1, "0.1"}, {1.0, "1.0"}, {100.0, "100.0"}, {-2.5, "-2.5"}, {1e-3, "0.001"}, {1e-4, "1.0E-4"},
        {1e7, "1.0E7"}, {9999999.0, "9999999.0"}, {1795750067.791, "1.795750067791E9"},
        {0.30000000000000004, "0.30000000000000004"}, {12345678.5, "1.23456785E7"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        json_t *r = json_real(known[i].d);
        char *t = jtext_dup(r);
        assert_string_equal(t, known[i].text);
        free(t);
        json_decref(r);
    }
}

static void test_doubles_read_back_with_fewest_digits(void **state)
{
    (void)state;
    static const double fixed[] = {0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e-3, 9.99e-4, 1e7, 9999999.999,
                                   1e21, 1e22, 1e-7, 123456789012345678.0, 5e-324, 1.7976931348623157e308,
                                   1700000000.123, 1795750067.791, 0.30000000000000004, 100.0, -0.0,
                                   -2.5, 4.35, 1e15, 1e16, 1e17, 9007199254740993.0, 0.1 + 0.7};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        json_t *r = json_real(fixed[i]);
        check_same(r);
        json_decref(r);
    }
    uint64_t x = 0x12345678abcdefULL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double d;
        if (i % 3 == 0) {
            uint64_t bits = x;
            memcpy(&d, &bits, sizeof d);
            if (d != d || d - d != 0)
                continue; /* NaN / inf: not JSON */
        } else if (i % 3 == 1) {
            d = (double)(int64_t)(x % 4000000000000ULL) / 1000.0; /* ms timestamps */
        } else {
            d = (double)(x % 1000000) / (double)(1 + (x >> 40) % 1000);
        }
        json_t *r = json_real(d);
        check_same(r);
        json_decref(r);
    }
    json_t *v = json_loads("{\"a\":[1,-2,3.5,true,false,null,\"q\\\"\\\\\\n\\u0001/\u00e9\"],"
                           "\"b\":{\"c\":{},\"d\":[]},\"e\":-9223372036854775807,\"f\":1e300}",
                           0, NULL);
    assert_non_null(v);
    check_same(v);
    json_decref(v);
}

/* An ARN with a control character is InvalidArn (AWS checks before the
 * lookup), not StateMachineDoesNotExist / ExecutionDoesNotExist. */
static void test_arn_control_characters(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    char *sm = create_sm(&e, "ctl", pass_def, "STANDARD");
    env_expect_err(&e, "DescribeExecution",
               "{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:execution:ctl:a\\u0001b\"}",
               "InvalidArn");
    env_expect_err(&e, "DescribeStateMachine",
               "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:ctl\\n\"}",
               "InvalidArn");
    env_expect_err(&e, "StartExecution",
               "{\"stateMachineArn\":\"arn:aws:states:us-east-1:123456789012:stateMachine:c\\u007ftl\"}",
               "InvalidArn");
    env_expect_err(&e, "GetExecutionHistory",
               "{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:execution:ctl:\\t\"}",
               "InvalidArn");
    int status;
    json_t *j = env_call(&e, "DescribeExecution",
                      "{\"executionArn\":\"arn:aws:states:us-east-1:123456789012:execution:ctl:a\\u0001b\"}",
                      &status);
    const char *m = json_string_value(json_object_get(j, "message"));
    assert_non_null(m);
    assert_non_null(strstr(m, "Invalid Arn: '"));
    assert_null(strchr(m, '\001')); /* shown escaped */
    json_decref(j);
    free(sm);
    env_close(&e);
}

static void wait_status(env *e, const char *arn, const char *want)
{
    for (int i = 0; i < 200; i++) {
        json_t *d = describe(e, arn);
        int done = !strcmp(json_string_value(json_object_get(d, "status")), want);
        json_decref(d);
        if (done)
            return;
        ev_run_once(e->loop, 5);
    }
    fail_msg("%s never %s", arn, want);
}

/* A history nextToken works only with its own execution and direction. */
static void test_history_token_bound(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    char *sm = create_sm(&e, "tok", pass_def, "STANDARD");
    char *x1 = start(&e, sm, "one", "{}"), *x2 = start(&e, sm, "two", "{}");
    wait_status(&e, x1, "SUCCEEDED");
    wait_status(&e, x2, "SUCCEEDED");
    char body[2048];
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"maxResults\":1}", x1);
    json_t *h = env_ok(&e, "GetExecutionHistory", body);
    const char *tok = json_string_value(json_object_get(h, "nextToken"));
    assert_non_null(tok);
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"maxResults\":1,\"nextToken\":\"%s\"}",
             x1, tok);
    json_t *h1 = env_ok(&e, "GetExecutionHistory", body);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(h1, "events"), 0), "id")),
                     2);
    json_decref(h1);
    /* another execution */
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"maxResults\":1,\"nextToken\":\"%s\"}",
             x2, tok);
    env_expect_err(&e, "GetExecutionHistory", body, "InvalidToken");
    /* the other direction */
    snprintf(body, sizeof body,
             "{\"executionArn\":\"%s\",\"maxResults\":1,\"reverseOrder\":true,\"nextToken\":\"%s\"}",
             x1, tok);
    env_expect_err(&e, "GetExecutionHistory", body, "InvalidToken");
    json_decref(h);
    /* and a token of the old, unbound shape */
    snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"nextToken\":\"EV2\"}", x1);
    env_expect_err(&e, "GetExecutionHistory", body, "InvalidToken");
    free(x1);
    free(x2);
    free(sm);
    env_close(&e);
}

/* A loop of Pass states: each event's payload refers to the one before
 * (the log form's @<id>), about 4 events a turn. */
static const char loop_def[] =
    "{\"StartAt\":\"Init\",\"States\":{"
    "\"Init\":{\"Type\":\"Pass\",\"Parameters\":{\"n\":0,\"max.$\":\"$.max\",\"pad\":\"xyz\"},"
    "\"Next\":\"Inc\"},"
    "\"Inc\":{\"Type\":\"Pass\",\"Parameters\":{\"n.$\":\"States.MathAdd($.n, 1)\","
    "\"max.$\":\"$.max\",\"pad.$\":\"$.pad\"},\"Next\":\"More\"},"
    "\"More\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.n\","
    "\"NumericLessThanPath\":\"$.max\",\"Next\":\"Inc\"}],\"Default\":\"Done\"},"
    "\"Done\":{\"Type\":\"Succeed\"}}}";

/* Every event of arn through the runner's iterator, in order (texts). */
static json_t *history_all(env *e, const char *arn, int reverse, int64_t from, int max)
{
    run_history *it;
    assert_int_equal(run_history_open(e->run, arn, reverse, from, max, &it), 0);
    json_t *out = json_array();
    run_event ev;
    int rc;
    while ((rc = run_history_next(it, &ev)) == 1)
        json_array_append_new(out, json_pack("{s:I,s:s#}", "id", (json_int_t)ev.id, "json",
                                             ev.json, ev.len));
    assert_int_equal(rc, 0);
    run_history_close(it);
    return out;
}

static int count_refs(void *ctx, int64_t id, const char *type, const char *json)
{
    (void)id;
    (void)type;
    *(int *)ctx += strstr(json, "put\":@") != NULL;
    return 0;
}

static const char *ev_text(json_t *a, size_t i)
{
    return json_string_value(json_object_get(json_array_get(a, i), "json"));
}

/* The history iterator across the store's rows (64 events each), stored
 * as text or compressed either way: forwards and backwards (where the
 * payloads an event refers to are read by id) give the same texts, with
 * no @<id> left; a page from any event, and the API's pages followed by
 * nextToken, are slices of the whole. */
static void history_pages(int compress /* enum store_compress */)
{
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    store_set_compress(e.st, compress);
    char *sm = create_sm(&e, "loop", loop_def, "STANDARD");
    char *x = start(&e, sm, "l", "{\"max\":150}");
    wait_status(&e, x, "SUCCEEDED");
    json_t *fwd = history_all(&e, x, 0, 0, 0), *rev = history_all(&e, x, 1, 0, 0);
    size_t n = json_array_size(fwd);
    assert_true(n > 500);
    /* the store holds the log form: payloads that name an earlier one */
    run_exec_info xi;
    assert_int_equal(run_exec_get(e.run, x, &xi), 0);
    int refs = 0;
    assert_int_equal(store_event_each(e.st, xi.id, 1, 0, 0, 0, count_refs, &refs), 0);
    assert_true(refs > 100);
    run_exec_info_cleanup(&xi);
    assert_int_equal(json_array_size(rev), n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(json_integer_value(json_object_get(json_array_get(fwd, i), "id")),
                         (long long)i + 1);
        assert_string_equal(ev_text(fwd, i), ev_text(rev, n - 1 - i));
        assert_null(strstr(ev_text(fwd, i), "\"input\":@"));
        assert_null(strstr(ev_text(fwd, i), "\"output\":@"));
        json_t *j = json_loads(ev_text(fwd, i), 0, NULL);
        assert_non_null(j);
        json_decref(j);
    }
    /* pages of the iterator from any event, either way */
    static const int64_t froms[] = {1, 2, 127, 128, 129, 300, 0};
    for (size_t k = 0; k < sizeof froms / sizeof *froms; k++) {
        int64_t f = froms[k] ? froms[k] : (int64_t)n;
        json_t *p = history_all(&e, x, 0, f, 200), *q = history_all(&e, x, 1, f, 200);
        size_t np = n - (size_t)f + 1 < 200 ? n - (size_t)f + 1 : 200;
        size_t nq = (size_t)f < 200 ? (size_t)f : 200;
        assert_int_equal(json_array_size(p), np);
        assert_int_equal(json_array_size(q), nq);
        for (size_t i = 0; i < np; i++)
            assert_string_equal(ev_text(p, i), ev_text(fwd, (size_t)f - 1 + i));
        for (size_t i = 0; i < nq; i++)
            assert_string_equal(ev_text(q, i), ev_text(fwd, (size_t)f - 1 - i));
        json_decref(p);
        json_decref(q);
    }
    /* the API's pages, following nextToken */
    static const int sizes[] = {7, 128, 129, 1000};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes * 2; k++) {
        int reverse = (int)(k & 1), size = sizes[k / 2];
        char body[2048], tok[128] = "";
        size_t seen = 0;
        for (;;) {
            int m = snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"maxResults\":%d%s",
                             x, size, reverse ? ",\"reverseOrder\":true" : "");
            snprintf(body + m, sizeof body - (size_t)m, tok[0] ? ",\"nextToken\":\"%s\"}" : "}",
                     tok);
            json_t *h = env_ok(&e, "GetExecutionHistory", body);
            json_t *evs = json_object_get(h, "events"), *ev;
            size_t i;
            json_array_foreach(evs, i, ev) {
                size_t at = reverse ? n - 1 - seen : seen;
                json_t *want = json_loads(ev_text(fwd, at), 0, NULL);
                assert_true(json_equal(ev, want));
                json_decref(want);
                seen++;
            }
            const char *t = json_string_value(json_object_get(h, "nextToken"));
            assert_int_equal(t == NULL, seen == n);
            if (t)
                snprintf(tok, sizeof tok, "%s", t);
            json_decref(h);
            if (t == NULL)
                break;
        }
        assert_int_equal(seen, n);
    }
    run_history *it;
    assert_int_equal(run_history_open(e.run, "arn:aws:states:us-east-1:123456789012:execution:"
                                             "loop:nope", 0, 0, 0, &it),
                     RUN_ENOENT);
    json_decref(fwd);
    json_decref(rev);
    free(x);
    free(sm);
    env_close(&e);
}

static void test_history_pages(void **state)
{
    (void)state;
    history_pages(STORE_COMPRESS_OFF);
    history_pages(STORE_COMPRESS_ZSTD);
    history_pages(STORE_COMPRESS_DEFLATE); /* rows of earlier builds */
}

/* Private by default: DNS rebinding (Host), foreign Origins, browser
 * "simple" cross-site POSTs. */
static void test_http_check(void **state)
{
    (void)state;
    env e;
    env_open(&e, ":memory:");
    e.deferred = 1;
    api_set_port(e.api, 8083);
    char msg[512];
    const char *sig = "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/states/aws4_request, "
                      "SignedHeaders=host, Signature=00";
    const char *json = "application/x-amz-json-1.0";
#define CHECK(want, a, m, host, origin, auth, ct)                                                  \
    do {                                                                                           \
        int got_ = api_http_check((a), (m), (host), (origin), (auth), (ct), msg, sizeof msg);      \
        if (got_ != (want))                                                                        \
            fail_msg("host %s origin %s auth %s ct %s: want %d got %d (%s)", host ? host : "-",    \
                     origin ? origin : "-", auth ? "yes" : "-", ct ? ct : "-", want, got_, msg);   \
    } while (0)
    /* what the AWS CLI and the SDKs send */
    CHECK(0, e.api, "POST", "127.0.0.1:8083", NULL, sig, json);
    CHECK(0, e.api, "POST", "localhost:8083", NULL, sig, "application/json");
    CHECK(0, e.api, "POST", "LOCALHOST:8083", NULL, sig, NULL);
    CHECK(0, e.api, "POST", "[::1]:8083", NULL, sig, json);
    CHECK(0, e.api, "GET", NULL, NULL, NULL, NULL); /* HTTP/1.0 tool, no Host */
    CHECK(0, e.api, "POST", "127.0.0.1:8083", NULL, NULL, json); /* unsigned JSON: curl */
    /* DNS rebinding: a foreign name or the wrong port */
    CHECK(403, e.api, "POST", "evil.example:8083", NULL, sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1:9999", NULL, sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1", NULL, sig, json); /* port 80 */
    CHECK(403, e.api, "POST", "10.0.0.1:8083", NULL, sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1:8083:1", NULL, sig, json);
    CHECK(403, e.api, "POST", "[::1]x:8083", NULL, sig, json);
    assert_non_null(strstr(msg, "DNS rebinding"));
    /* Origin: only our own */
    CHECK(0, e.api, "POST", "127.0.0.1:8083", "http://127.0.0.1:8083", sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1:8083", "http://evil.example", sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1:8083", "null", sig, json);
    CHECK(403, e.api, "POST", "127.0.0.1:8083", "http://localhost:8083", sig, json);
    /* simple cross-site POSTs, unsigned */
    CHECK(403, e.api, "POST", "127.0.0.1:8083", NULL, NULL, "text/plain");
    CHECK(403, e.api, "POST", "127.0.0.1:8083", NULL, NULL, "Text/Plain; charset=UTF-8");
    CHECK(403, e.api, "POST", "127.0.0.1:8083", NULL, NULL, "application/x-www-form-urlencoded");
    CHECK(403, e.api, "POST", "127.0.0.1:8083", NULL, "Bearer x", "multipart/form-data; boundary=z");
    CHECK(0, e.api, "POST", "127.0.0.1:8083", NULL, sig, "text/plain"); /* signed: a real client */
    CHECK(0, e.api, "GET", "127.0.0.1:8083", NULL, NULL, "text/plain");
    /* --allow-origin and a wildcard --host */
    const char *origins[] = {"http://app.example:3000/"};
    api_opts ao = {.run = e.run, .loop = e.loop, .host = "0.0.0.0", .port = 8083,
                   .allow_origins = origins, .nallow_origins = 1};
    api *w = api_create(&ao);
    assert_non_null(w);
    CHECK(0, w, "POST", "192.168.1.5:8083", "http://app.example:3000", sig, json);
    CHECK(0, w, "POST", "[fe80::1]:8083", NULL, sig, json);
    CHECK(403, w, "POST", "rebind.example:8083", NULL, sig, json);
    CHECK(403, w, "POST", "192.168.1.5:8083", "http://app.example:3001", sig, json);
    api_free(w);
    ao.host = "192.168.1.5";
    w = api_create(&ao);
    CHECK(0, w, "POST", "192.168.1.5:8083", NULL, sig, json);
    CHECK(403, w, "POST", "192.168.1.6:8083", NULL, sig, json);
    api_free(w);
#undef CHECK
    /* the server's own error answers are AWS JSON errors */
    char b[256];
    size_t n = api_http_error_body(413, b, sizeof b, NULL);
    assert_true(n > 0);
    json_t *j = json_loadb(b, n, 0, NULL);
    assert_non_null(json_string_value(json_object_get(j, "__type")));
    assert_non_null(json_string_value(json_object_get(j, "message")));
    json_decref(j);
    n = api_http_error_body(503, b, sizeof b, NULL);
    assert_non_null(strstr(b, "\"__type\":\"ServiceUnavailableException\""));
    char url[64];
    api_url_format(url, sizeof url, "::", 8083);
    assert_string_equal(url, "http://[::]:8083");
    api_url_format(url, sizeof url, "127.0.0.1", 8083);
    assert_string_equal(url, "http://127.0.0.1:8083");
    assert_true(api_host_is_loopback("127.0.0.1") && api_host_is_loopback("::1") &&
                api_host_is_loopback("localhost") && api_host_is_loopback("127.1.2.3"));
    assert_false(api_host_is_loopback("0.0.0.0") || api_host_is_loopback("::") ||
                 api_host_is_loopback("192.168.1.5"));
    env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doubles_read_back_with_fewest_digits),
        cmocka_unit_test(test_known_texts),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_arn_control_characters),
        cmocka_unit_test(test_history_token_bound),
        cmocka_unit_test(test_history_pages),
        cmocka_unit_test(test_http_check),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_task_token_and_stop),
        cmocka_unit_test(test_lambda_missing_and_sync),
        cmocka_unit_test(test_recovery),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
