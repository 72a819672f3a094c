/*
 * test_asl_test.c - TestState in the core (asl_test.h): one state run on
 * its own with the engine's semantics; every status (SUCCEEDED, FAILED,
 * RETRIABLE, CAUGHT_ERROR), nextState, the inspection data of each level,
 * mocks (results, errors, their response-shape checks), a task left to the
 * caller, Map and Parallel under a mock, the stateConfiguration members,
 * the context object and the variables, and the refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "asl_test.h"

static asl_test_req base(const char *definition)
{
    asl_test_req q;
    memset(&q, 0, sizeof q);
    q.definition = definition;
    q.retrier_retry_count = -1;
    q.map_iteration_failure_count = -1;
    q.info.execution_arn = "arn:aws:states:us-east-1:123456789012:express:sm:ex";
    q.info.execution_name = "ex";
    q.info.state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:sm";
    q.info.state_machine_name = "sm";
    q.info.start_ms = 1700000000000LL;
    q.info.seed = 3;
    return q;
}

/* Run q to its end (no task left to the caller); the response. */
static json_t *run(const asl_test_req *q)
{
    asl_test *t = NULL;
    asl_test_err err;
    int rc = asl_test_start(q, &t, &err);
    if (rc != SFN_OK)
        fail_msg("refused: %s: %s", err.type, err.message);
    json_t *resp = NULL;
    if (asl_test_result(t, &resp, &err) != SFN_OK)
        fail_msg("result refused: %s: %s", err.type, err.message);
    asl_test_free(t);
    return resp;
}

/* The API error q is refused with (at start or at the end). */
static void refused(const asl_test_req *q, const char *type, const char *message)
{
    asl_test *t = NULL;
    asl_test_err err;
    int rc = asl_test_start(q, &t, &err);
    if (rc == SFN_OK) {
        json_t *resp = NULL;
        rc = asl_test_result(t, &resp, &err);
        json_decref(resp);
        asl_test_free(t);
    }
    assert_int_equal(rc, SFN_EINVAL);
    assert_string_equal(err.type, type);
    if (message)
        assert_string_equal(err.message, message);
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Member k of o, a JSON text, equal to the JSON text want. */
static void json_member_eq(const json_t *o, const char *k, const char *want)
{
    const char *text = str(o, k);
    if (text == NULL)
        fail_msg("no member %s", k);
    json_error_t e;
    json_t *a = json_loads(text, JSON_DECODE_ANY, &e), *b = json_loads(want, JSON_DECODE_ANY, &e);
    assert_non_null(a);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("%s: %s, want %s", k, text, want);
    json_decref(a);
    json_decref(b);
}

static size_t nkeys(const json_t *o)
{
    return json_object_size(o);
}

static void test_pass_debug_flow(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Pass\",\"InputPath\":\"$.a\",\"Parameters\":{\"x.$\":\"$.b\"},"
                          "\"ResultPath\":\"$.r\",\"OutputPath\":\"$.r\",\"Next\":\"After\"}");
    q.input = "{\"a\":{\"b\":7}}";
    q.level = ASL_TEST_DEBUG;
    json_t *r = run(&q);
    assert_string_equal(str(r, "status"), "SUCCEEDED");
    assert_string_equal(str(r, "nextState"), "After");
    json_member_eq(r, "output", "{\"x\":7}");
    json_t *id = json_object_get(r, "inspectionData");
    json_member_eq(id, "input", "{\"a\":{\"b\":7}}");
    json_member_eq(id, "afterInputPath", "{\"b\":7}");
    json_member_eq(id, "afterParameters", "{\"x\":7}");
    json_member_eq(id, "afterResultSelector", "{\"x\":7}");
    json_member_eq(id, "afterResultPath", "{\"a\":{\"b\":7},\"r\":{\"x\":7}}");
    assert_int_equal(nkeys(id), 5);
    json_decref(r);

    q.level = ASL_TEST_INFO; /* INFO: no inspection data */
    r = run(&q);
    assert_null(json_object_get(r, "inspectionData"));
    json_decref(r);
}

static void test_choice_and_fail(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.v\",\"NumericGreaterThan\":1,"
                          "\"Next\":\"Big\"}],\"Default\":\"Small\"}");
    q.input = "{\"v\":2}";
    json_t *r = run(&q);
    assert_string_equal(str(r, "nextState"), "Big");
    json_decref(r);
    q.input = "{\"v\":0}";
    r = run(&q);
    assert_string_equal(str(r, "nextState"), "Small");
    json_decref(r);

    q = base("{\"Type\":\"Fail\",\"QueryLanguage\":\"JSONata\",\"Error\":\"{% 'E' & $states.input.n %}\","
             "\"Cause\":\"why\"}");
    q.input = "{\"n\":\"1\"}";
    r = run(&q);
    assert_string_equal(str(r, "status"), "FAILED");
    assert_string_equal(str(r, "error"), "E1");
    assert_string_equal(str(r, "cause"), "why");
    assert_null(json_object_get(r, "output"));
    json_decref(r);
}

#define LAMBDA_TASK                                                                                      \
    "{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\",\"Parameters\":{\"FunctionName\":" \
    "\"f\",\"Payload.$\":\"$\"},\"ResultSelector\":{\"p.$\":\"$.Payload\"},\"End\":true}"

static void test_task_mock_result(void **state)
{
    (void)state;
    asl_test_req q = base(LAMBDA_TASK);
    q.input = "{\"k\":1}";
    q.level = ASL_TEST_TRACE;
    q.has_mock = 1;
    q.mock_result = "{\"Payload\":{\"ok\":true},\"StatusCode\":200}";
    json_t *r = run(&q);
    assert_string_equal(str(r, "status"), "SUCCEEDED");
    assert_null(json_object_get(r, "nextState"));
    json_member_eq(r, "output", "{\"p\":{\"ok\":true}}"); /* the mock is the response: no wrapper */
    json_t *id = json_object_get(r, "inspectionData");
    json_member_eq(id, "afterParameters", "{\"FunctionName\":\"f\",\"Payload\":{\"k\":1}}");
    json_member_eq(id, "result", "{\"Payload\":{\"ok\":true},\"StatusCode\":200}");
    json_member_eq(id, "afterResultSelector", "{\"p\":{\"ok\":true}}");
    assert_null(json_object_get(id, "request")); /* not an HTTP task */
    json_decref(r);
}

static void test_field_validation(void **state)
{
    (void)state;
    asl_test_req q = base(LAMBDA_TASK);
    q.has_mock = 1;
    q.mock_result = "{\"StatusCode\":\"200\"}";
    refused(&q, "ValidationException", "Mock result schema validation error: Field 'StatusCode' must be a number");
    q.field_validation = ASL_FVM_NONE;
    json_decref(run(&q));

    const char *start = "{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::states:startExecution\","
                        "\"Parameters\":{\"StateMachineArn\":\"a\"},\"End\":true}";
    q = base(start);
    q.has_mock = 1;
    q.mock_result = "{}";
    refused(&q, "ValidationException",
            "Mock result schema validation error: Required field 'ExecutionArn' is missing");
    q.field_validation = ASL_FVM_PRESENT;
    json_decref(run(&q));
    q.mock_result = "{\"StartDate\":5}";
    refused(&q, "ValidationException", "Mock result schema validation error: Field 'StartDate' must be a string");

    q = base("{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::aws-sdk:s3:getObject\",\"End\":true}");
    q.has_mock = 1;
    q.mock_result = "{\"StorageClass\":\"Papyrus\"}";
    refused(&q, "ValidationException",
            "Mock result schema validation error: Field 'StorageClass' is not an expected value");
    q.mock_result = "not json";
    refused(&q, "ValidationException", "Mocked result must be valid JSON");
}

#define RETRY_TASK                                                                                       \
    "{\"Type\":\"Task\",\"QueryLanguage\":\"JSONata\",\"Resource\":\"arn:aws:states:::lambda:invoke\","    \
    "\"Arguments\":{\"FunctionName\":\"f\"},\"Retry\":[{\"ErrorEquals\":[\"Other\"]},{\"ErrorEquals\":"     \
    "[\"E\"],\"IntervalSeconds\":2,\"MaxAttempts\":3,\"BackoffRate\":3}],\"Catch\":[{\"ErrorEquals\":"     \
    "[\"States.ALL\"],\"Output\":{\"caught\":\"{% $states.errorOutput.Error %}\"},\"Next\":\"H\"}],"       \
    "\"End\":true}"

static void test_retry_and_catch(void **state)
{
    (void)state;
    asl_test_req q = base(RETRY_TASK);
    q.level = ASL_TEST_DEBUG;
    q.has_mock = 1;
    q.has_mock_error = 1;
    q.mock_error = "E";
    q.mock_cause = "c";
    q.retrier_retry_count = 2; /* 2 attempts behind: backoff 2 * 3^2 */
    json_t *r = run(&q);
    assert_string_equal(str(r, "status"), "RETRIABLE");
    assert_string_equal(str(r, "error"), "E");
    assert_string_equal(str(r, "cause"), "c");
    json_t *d = json_object_get(json_object_get(r, "inspectionData"), "errorDetails");
    assert_int_equal(json_integer_value(json_object_get(d, "retryIndex")), 1);
    assert_int_equal(json_integer_value(json_object_get(d, "retryBackoffIntervalSeconds")), 18);
    json_member_eq(json_object_get(r, "inspectionData"), "afterArguments", "{\"FunctionName\":\"f\"}");
    json_decref(r);

    q.retrier_retry_count = 3; /* exhausted: the catcher takes it */
    r = run(&q);
    assert_string_equal(str(r, "status"), "CAUGHT_ERROR");
    assert_string_equal(str(r, "nextState"), "H");
    assert_string_equal(str(r, "error"), "E");
    json_member_eq(r, "output", "{\"caught\":\"E\"}");
    d = json_object_get(json_object_get(r, "inspectionData"), "errorDetails");
    assert_int_equal(json_integer_value(json_object_get(d, "catchIndex")), 0);
    assert_int_equal(json_integer_value(json_object_get(d, "retryIndex")), 1);
    json_decref(r);
}

static void test_task_left_to_caller(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\",\"Parameters\":"
                          "{\"FunctionName\":\"fn\",\"Payload.$\":\"$\"},\"TimeoutSeconds\":9,\"Catch\":[{"
                          "\"ErrorEquals\":[\"Boom\"],\"Next\":\"Recover\"}],\"End\":true}");
    q.input = "{\"n\":1}";
    asl_test *t = NULL;
    asl_test_err err;
    assert_int_equal(asl_test_start(&q, &t, &err), SFN_OK);
    const char *res, *fn;
    json_t *payload;
    int timeout;
    assert_int_equal(asl_test_pending(t, &res, &fn, &payload, &timeout), 1);
    assert_string_equal(fn, "fn");
    assert_int_equal(timeout, 9);
    assert_int_equal(json_integer_value(json_object_get(payload, "n")), 1);
    json_t *out = json_pack("{s:s}", "answer", "yes");
    asl_test_feed(t, out, NULL, NULL, q.info.start_ms + 5);
    json_decref(out);
    assert_int_equal(asl_test_pending(t, &res, &fn, &payload, &timeout), 0);
    json_t *r = NULL;
    assert_int_equal(asl_test_result(t, &r, &err), SFN_OK);
    json_error_t je;
    json_t *o = json_loads(str(r, "output"), 0, &je);
    /* a real lambda:invoke answer is wrapped as an execution's is */
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "Payload"), "answer")), "yes");
    assert_int_equal(json_integer_value(json_object_get(o, "StatusCode")), 200);
    json_decref(o);
    json_decref(r);
    asl_test_free(t);

    /* a function error goes to the Catch */
    assert_int_equal(asl_test_start(&q, &t, &err), SFN_OK);
    asl_test_feed(t, NULL, "Boom", "{\"errorType\":\"Boom\"}", q.info.start_ms);
    assert_int_equal(asl_test_result(t, &r, &err), SFN_OK);
    assert_string_equal(str(r, "status"), "CAUGHT_ERROR");
    assert_string_equal(str(r, "nextState"), "Recover");
    json_decref(r);
    asl_test_free(t);

    /* TimeoutSeconds runs out */
    assert_int_equal(asl_test_start(&q, &t, &err), SFN_OK);
    asl_test_timeout(t, q.info.start_ms + 9000);
    assert_int_equal(asl_test_result(t, &r, &err), SFN_OK);
    assert_string_equal(str(r, "status"), "FAILED");
    assert_string_equal(str(r, "error"), "States.Timeout");
    json_decref(r);
    asl_test_free(t);
}

#define MAP_STATE                                                                                        \
    "{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"ItemSelector\":{\"v.$\":\"$$.Map.Item.Value\"},"        \
    "\"MaxConcurrency\":2,\"ToleratedFailureCount\":1,\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":"    \
    "{\"P\":{\"Type\":\"Pass\",\"End\":true}}},\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],"              \
    "\"Next\":\"H\"}],\"ResultPath\":\"$.out\",\"End\":true}"

static void test_map_mock(void **state)
{
    (void)state;
    asl_test_req q = base(MAP_STATE);
    q.input = "{\"items\":[1,2,3]}";
    q.level = ASL_TEST_DEBUG;
    q.has_mock = 1;
    q.mock_result = "[\"a\",\"b\",\"c\"]";
    q.map_iteration_failure_count = 1; /* tolerated */
    json_t *r = run(&q);
    assert_string_equal(str(r, "status"), "SUCCEEDED");
    json_member_eq(r, "output", "{\"items\":[1,2,3],\"out\":[\"a\",\"b\",\"c\"]}");
    json_t *id = json_object_get(r, "inspectionData");
    json_member_eq(id, "afterItemsPath", "[1,2,3]");
    json_member_eq(id, "afterItemSelector", "[{\"v\":1},{\"v\":2},{\"v\":3}]");
    assert_int_equal(json_integer_value(json_object_get(id, "maxConcurrency")), 2);
    assert_int_equal(json_integer_value(json_object_get(id, "toleratedFailureCount")), 1);
    json_decref(r);

    q.map_iteration_failure_count = 2; /* over the threshold: caught */
    r = run(&q);
    assert_string_equal(str(r, "status"), "CAUGHT_ERROR");
    assert_string_equal(str(r, "error"), "States.ExceedToleratedFailureThreshold");
    assert_string_equal(str(r, "nextState"), "H");
    json_decref(r);

    q.map_iteration_failure_count = 4;
    refused(&q, "ValidationException",
            "Map iteration failure count must be less than or equal to the number of Map iterations");

    q.map_iteration_failure_count = -1;
    q.mock_result = "{\"a\":1}";
    refused(&q, "ValidationException", "Mocked result must be an array.");
    q.has_mock = 0;
    refused(&q, "InvalidDefinition", NULL);

    /* a path to something that is not an array: the bare message */
    q = base("{\"Type\":\"Map\",\"ItemsPath\":\"$$.Execution.Input\",\"ItemProcessor\":{\"StartAt\":\"P\","
             "\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true}}},\"End\":true}");
    q.has_mock = 1;
    q.mock_result = "[]";
    q.context = "{\"Execution\":{\"Input\":{\"not\":\"an array\"}}}";
    r = run(&q);
    assert_string_equal(str(r, "status"), "FAILED");
    assert_string_equal(str(r, "error"), "States.Runtime");
    assert_string_equal(str(r, "cause"), "Reference path \"$.Execution.Input\" must point to array.");
    json_decref(r);
}

static void test_parallel_mock(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Parallel\",\"Branches\":[{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":"
                          "\"Pass\",\"End\":true}}},{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Pass\","
                          "\"End\":true}}}],\"Next\":\"N\"}");
    q.has_mock = 1;
    q.mock_result = "[1,2]";
    json_t *r = run(&q);
    json_member_eq(r, "output", "[1,2]");
    assert_string_equal(str(r, "nextState"), "N");
    json_decref(r);
    q.mock_result = "[1]";
    refused(&q, "ValidationException",
            "Mocked result must contain the same number of items as number of Parallel branches.");
    q.mock_result = NULL;
    q.has_mock_error = 1;
    q.mock_error = "BranchBroke";
    q.error_caused_by_state = "B";
    r = run(&q);
    assert_string_equal(str(r, "status"), "FAILED");
    assert_string_equal(str(r, "error"), "BranchBroke");
    json_decref(r);
    q.error_caused_by_state = "Nowhere";
    refused(&q, "ValidationException", NULL);
}

static void test_refusals(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Pass\",\"End\":true}");
    q.has_mock = 1;
    q.mock_result = "{}";
    refused(&q, "ValidationException", "State type 'Pass' is not supported when a mock is specified");
    q = base(LAMBDA_TASK);
    q.has_mock = 1;
    q.mock_result = "{}";
    q.reveal_secrets = 1;
    refused(&q, "ValidationException", "TestState does not support RevealSecrets when a mock is specified.");
    q = base("{\"Type\":\"Pass\",\"Next\":1}");
    refused(&q, "InvalidDefinition", NULL);
    q = base("not json");
    refused(&q, "InvalidDefinition", NULL);
    q = base("{\"Type\":\"Pass\",\"End\":true}");
    q.input = "{";
    refused(&q, "InvalidExecutionInput", NULL);
    q = base("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}}");
    q.state_name = "Z";
    refused(&q, "ValidationException", "State not found in definition");
}

static void test_state_name_nested(void **state)
{
    (void)state;
    asl_test_req q = base("{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemProcessor\":{"
                          "\"StartAt\":\"Inner\",\"States\":{\"Inner\":{\"Type\":\"Pass\",\"Result\":5,"
                          "\"Next\":\"Last\"},\"Last\":{\"Type\":\"Succeed\"}}},\"End\":true}}}");
    q.state_name = "Inner";
    q.input = "{}";
    json_t *r = run(&q);
    json_member_eq(r, "output", "5");
    assert_string_equal(str(r, "nextState"), "Last");
    json_decref(r);
}

static void test_context_and_variables(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Pass\",\"QueryLanguage\":\"JSONata\",\"Output\":{\"c\":"
                          "\"{% $states.context %}\",\"v\":\"{% $x + 1 %}\"},\"Assign\":{\"y\":2},\"End\":true}");
    q.input = "{\"i\":1}";
    q.variables = "{\"x\":41}";
    q.level = ASL_TEST_DEBUG;
    json_t *r = run(&q);
    json_error_t je;
    json_t *o = json_loads(str(r, "output"), 0, &je);
    assert_int_equal(json_integer_value(json_object_get(o, "v")), 42);
    json_t *c = json_object_get(o, "c");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Execution"), "Id")),
                        q.info.execution_arn);
    assert_true(json_is_null(json_object_get(json_object_get(c, "Execution"), "RoleArn")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "State"), "Name")), "StateName");
    assert_null(json_object_get(json_object_get(c, "State"), "RetryCount")); /* a Pass has none */
    json_decref(o);
    json_member_eq(json_object_get(r, "inspectionData"), "variables", "{\"x\":41,\"y\":2}");
    json_decref(r);

    /* a context object given is $$ as it is */
    q = base("{\"Type\":\"Pass\",\"Parameters\":{\"n.$\":\"$$.Execution.Name\"},\"End\":true}");
    q.context = "{\"Execution\":{\"Name\":\"mine\"}}";
    r = run(&q);
    json_member_eq(r, "output", "{\"n\":\"mine\"}");
    json_decref(r);
    q.context = "{\"Execution\":{\"Id\":1}}";
    refused(&q, "ValidationException", "Invalid Context object provided: Execution.Id must be a string");
    q.context = "{\"Map\":{}}";
    refused(&q, "ValidationException",
            "Invalid Context object provided: 'Map' field is not supported when mocking a Context object");
    q.context = "{\"Other\":{}}";
    refused(&q, "ValidationException", "Invalid Context object provided: Field 'Other' is not allowed");
}

static void test_wait_passes(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Wait\",\"SecondsPath\":\"$.s\",\"Next\":\"Go\"}");
    q.input = "{\"s\":3600}";
    json_t *r = run(&q);
    assert_string_equal(str(r, "status"), "SUCCEEDED");
    assert_string_equal(str(r, "nextState"), "Go");
    json_decref(r);
    q.input = "{\"s\":-1}";
    r = run(&q);
    assert_string_equal(str(r, "status"), "FAILED");
    assert_string_equal(str(r, "error"), "States.Runtime");
    json_decref(r);
}

static void test_http_trace(void **state)
{
    (void)state;
    asl_test_req q = base("{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::http:invoke\",\"Parameters\":{"
                          "\"ApiEndpoint\":\"https://example.com/x\",\"Method\":\"GET\",\"QueryParameters\":"
                          "{\"a\":\"1\"}},\"End\":true}");
    q.level = ASL_TEST_TRACE;
    q.has_mock = 1;
    q.mock_result = "{\"StatusCode\":200,\"StatusText\":\"OK\",\"ResponseBody\":{\"r\":1}}";
    json_t *r = run(&q);
    json_t *id = json_object_get(r, "inspectionData");
    json_t *rq = json_object_get(id, "request"), *rs = json_object_get(id, "response");
    assert_string_equal(str(rq, "method"), "GET");
    assert_string_equal(str(rq, "url"), "https://example.com/x?a=1");
    assert_string_equal(str(rs, "statusCode"), "200");
    assert_string_equal(str(rs, "statusMessage"), "OK");
    assert_string_equal(str(rs, "body"), "{\"r\":1}");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_debug_flow),
        cmocka_unit_test(test_choice_and_fail),
        cmocka_unit_test(test_task_mock_result),
        cmocka_unit_test(test_field_validation),
        cmocka_unit_test(test_retry_and_catch),
        cmocka_unit_test(test_task_left_to_caller),
        cmocka_unit_test(test_map_mock),
        cmocka_unit_test(test_parallel_mock),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_state_name_nested),
        cmocka_unit_test(test_context_and_variables),
        cmocka_unit_test(test_wait_passes),
        cmocka_unit_test(test_http_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
