/*
 * test_asl_mock.c - mock configuration files (asl_mock.h): the documented
 * example parses; ranges answer each invocation; what is past the last key,
 * an unknown test case and an activity fail with States.Runtime; Return
 * for a Lambda ARN resource is the Invoke response's Payload, the whole
 * response for lambda:invoke and other integrations; every refusal names
 * the file, the path in the JSON and what is wrong (bad JSON, duplicate
 * keys, unknown members, missing names, bad and overlapping ranges, bad
 * Throw); the JSON subset matcher of `sfn test`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "asl.h"
#include "asl_mock.h"

static const char DOC[] =
    "{\"StateMachines\":{\"LambdaSQSIntegration\":{\"TestCases\":{"
    "\"HappyPath\":{\"LambdaState\":\"MockedLambdaSuccess\",\"SQSState\":\"MockedSQSSuccess\"},"
    "\"RetryPath\":{\"LambdaState\":\"MockedLambdaRetry\",\"SQSState\":\"MockedSQSSuccess\"},"
    "\"HybridPath\":{\"LambdaState\":\"MockedLambdaSuccess\"}}}},"
    "\"MockedResponses\":{"
    "\"MockedLambdaSuccess\":{\"0\":{\"Return\":{\"StatusCode\":200,\"Payload\":{\"StatusCode\":200,"
    "\"body\":\"Hello from Lambda!\"}}}},"
    "\"LambdaMockedResourceNotReady\":{\"0\":{\"Throw\":{\"Error\":\"Lambda.ResourceNotReadyException\","
    "\"Cause\":\"Lambda resource is not ready.\"}}},"
    "\"MockedSQSSuccess\":{\"0\":{\"Return\":{\"MD5OfMessageBody\":\"3bcb\",\"MessageId\":\"3bcb-8b51\"}}},"
    "\"MockedLambdaRetry\":{\"0\":{\"Throw\":{\"Error\":\"Lambda.ResourceNotReadyException\","
    "\"Cause\":\"Lambda resource is not ready.\"}},"
    "\"1-2\":{\"Throw\":{\"Error\":\"Lambda.TimeoutException\",\"Cause\":\"Lambda timed out.\"}},"
    "\"3\":{\"Return\":{\"StatusCode\":200,\"Payload\":{\"StatusCode\":200,\"body\":\"ok\"}}}}}}";

#define LAMBDA_ARN "arn:aws:lambda:us-east-1:123456789012:function:HelloWorldFunction"
#define LAMBDA_INVOKE "arn:aws:states:::lambda:invoke"
#define SQS_RES "arn:aws:states:::sqs:sendMessage"

static const asl_cmd INVOKE_CMD = {.kind = ASL_CMD_INVOKE, .resource = LAMBDA_INVOKE,
                                   .function = "HelloWorldFunction"};
static const asl_cmd ARN_CMD = {.kind = ASL_CMD_INVOKE, .resource = LAMBDA_ARN, .function = LAMBDA_ARN};
static const asl_cmd SQS_CMD = {.kind = ASL_CMD_INVOKE, .resource = SQS_RES};
static const asl_cmd ACT_CMD = {.kind = ASL_CMD_INVOKE,
                                .resource = "arn:aws:states:us-east-1:123456789012:activity:a"};
#define LAMBDA_INV (&INVOKE_CMD)
#define SQS (&SQS_CMD)

static asl_mock *parse_ok(const char *text)
{
    asl_mock *m = NULL;
    char err[512] = "";
    int rc = asl_mock_parse(text, strlen(text), "MockConfigFile.json", &m, err, sizeof err);
    if (rc != SFN_OK)
        fail_msg("refused: %s", err);
    return m;
}

static void test_documented_example(void **st)
{
    (void)st;
    asl_mock *m = parse_ok(DOC);
    assert_string_equal(asl_mock_name(m), "MockConfigFile.json");
    assert_true(asl_mock_has_case(m, "LambdaSQSIntegration", "RetryPath"));
    assert_false(asl_mock_has_case(m, "LambdaSQSIntegration", "Nope"));
    assert_false(asl_mock_has_case(m, "Other", "RetryPath"));
    asl_mock_answer a;
    /* RetryPath: 0 throws, 1-2 throw another error, 3 returns, 4 is past the end */
    const char *want[] = {"Lambda.ResourceNotReadyException", "Lambda.TimeoutException",
                          "Lambda.TimeoutException"};
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(asl_mock_answer_get(m, "LambdaSQSIntegration", "RetryPath", "LambdaState",
                                             LAMBDA_INV, i, &a),
                         SFN_OK);
        assert_int_equal(a.kind, ASL_MOCK_THROW);
        assert_string_equal(a.error, want[i]);
    }
    assert_int_equal(asl_mock_answer_get(m, "LambdaSQSIntegration", "RetryPath", "LambdaState",
                                         LAMBDA_INV, 3, &a),
                     SFN_OK);
    assert_int_equal(a.kind, ASL_MOCK_RETURN);
    /* lambda:invoke: the function's output (the engine shapes the response) */
    assert_string_equal(json_string_value(json_object_get(a.result, "body")), "ok");
    assert_null(json_object_get(a.result, "Payload"));
    json_decref(a.result);
    asl_mock_answer_get(m, "LambdaSQSIntegration", "RetryPath", "LambdaState", LAMBDA_INV, 4, &a);
    assert_int_equal(a.kind, ASL_MOCK_THROW);
    assert_string_equal(a.error, "States.Runtime");
    assert_non_null(strstr(a.cause, "invocation 4"));
    /* a Lambda ARN resource: the Payload */
    asl_mock_answer_get(m, "LambdaSQSIntegration", "HappyPath", "LambdaState", &ARN_CMD, 0, &a);
    assert_int_equal(a.kind, ASL_MOCK_RETURN);
    assert_string_equal(json_string_value(json_object_get(a.result, "body")), "Hello from Lambda!");
    assert_null(json_object_get(a.result, "Payload"));
    json_decref(a.result);
    /* another integration: the response as given */
    asl_mock_answer_get(m, "LambdaSQSIntegration", "HappyPath", "SQSState", SQS, 0, &a);
    assert_int_equal(a.kind, ASL_MOCK_RETURN);
    assert_string_equal(json_string_value(json_object_get(a.result, "MessageId")), "3bcb-8b51");
    json_decref(a.result);
    /* HybridPath does not mock SQSState: the real task runs */
    asl_mock_answer_get(m, "LambdaSQSIntegration", "HybridPath", "SQSState", SQS, 0, &a);
    assert_int_equal(a.kind, ASL_MOCK_NONE);
    /* an unknown test case, an activity */
    asl_mock_answer_get(m, "LambdaSQSIntegration", "Gone", "SQSState", SQS, 0, &a);
    assert_string_equal(a.error, "States.Runtime");
    asl_mock_answer_get(m, "LambdaSQSIntegration", "HappyPath", "SQSState", &ACT_CMD, 0, &a);
    assert_string_equal(a.error, "States.Runtime");
    assert_non_null(strstr(a.cause, "Activity state cannot be mocked"));
    asl_mock_free(m);
}

/* Return may be any JSON value; a gap is allowed (and fails at run time). */
static void test_any_return_and_gaps(void **st)
{
    (void)st;
    asl_mock *m = parse_ok("{\"StateMachines\":{\"M\":{\"TestCases\":{\"T\":{\"S\":\"R\"}}}},"
                           "\"MockedResponses\":{\"R\":{\"0\":{\"Return\":7},\"2-3\":{\"Return\":[1]},"
                           "\"10\":{\"Return\":null}},\"Empty\":{}}}");
    asl_mock_answer a;
    asl_mock_answer_get(m, "M", "T", "S", SQS, 0, &a);
    assert_int_equal(json_integer_value(a.result), 7);
    json_decref(a.result);
    asl_mock_answer_get(m, "M", "T", "S", SQS, 1, &a);
    assert_string_equal(a.error, "States.Runtime");
    asl_mock_answer_get(m, "M", "T", "S", SQS, 3, &a);
    assert_true(json_is_array(a.result));
    json_decref(a.result);
    asl_mock_answer_get(m, "M", "T", "S", SQS, 10, &a);
    assert_true(json_is_null(a.result));
    json_decref(a.result);
    /* a Lambda task's Return must be the Invoke response, with Payload */
    asl_mock_answer_get(m, "M", "T", "S", LAMBDA_INV, 0, &a);
    assert_int_equal(a.kind, ASL_MOCK_THROW);
    assert_string_equal(a.error, "States.Runtime");
    assert_non_null(strstr(a.cause, "Payload"));
    asl_mock_free(m);
}

static void refused(const char *text, const char *want)
{
    asl_mock *m = NULL;
    char err[512] = "";
    int rc = asl_mock_parse(text, strlen(text), "mocks.json", &m, err, sizeof err);
    if (rc != SFN_EINVAL || m != NULL)
        fail_msg("accepted: %s", text);
    if (strstr(err, want) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    assert_int_equal(strncmp(err, "mocks.json: ", 12), 0);
}

#define SM(tc) "{\"StateMachines\":{\"M\":{\"TestCases\":{\"T\":" tc "}}},"
#define R(body) "\"MockedResponses\":{\"R\":" body "}}"

static void test_refusals(void **st)
{
    (void)st;
    refused("{\"StateMachines\":", "line 1, column 17: not valid JSON");
    refused("[]", "$: must be an object");
    refused("{\"MockedResponses\":{}}", "$: needs StateMachines");
    refused("{\"StateMachines\":{},\"MockedResponse\":{}}", "$.MockedResponse: unknown field");
    refused("{\"StateMachines\":{},\"StateMachines\":{}}", "duplicate");
    refused("{\"StateMachines\":{\"M\":{}}}", "$.StateMachines.M: needs TestCases");
    refused("{\"StateMachines\":{\"M\":{\"TestCases\":[]}}}", "$.StateMachines.M.TestCases: must be an object");
    refused("{\"StateMachines\":{\"M\":{\"TestCases\":{},\"X\":1}}}", "$.StateMachines.M.X: unknown field");
    /* missing names */
    refused(SM("{\"S\":\"Nope\"}") R("{\"0\":{\"Return\":1}}"),
            "$.StateMachines.M.TestCases.T.S: mocked response \"Nope\" is not in MockedResponses");
    refused(SM("{\"S\":3}") R("{\"0\":{\"Return\":1}}"), "$.StateMachines.M.TestCases.T.S: must be the name");
    refused("{\"StateMachines\":{\"M\":{\"TestCases\":{\"T\":{\"S\":\"R\"}}}}}", "is not in MockedResponses");
    /* ranges */
    refused(SM("{}") R("{\"a\":{\"Return\":1}}"), "$.MockedResponses.R.a: not an invocation number");
    refused(SM("{}") R("{\"3-1\":{\"Return\":1}}"), "$.MockedResponses.R['3-1']: not an invocation number");
    refused(SM("{}") R("{\"-1\":{\"Return\":1}}"), "['-1']: not an invocation number");
    refused(SM("{}") R("{\"1-\":{\"Return\":1}}"), "['1-']: not an invocation number");
    refused(SM("{}") R("{\"1-2-3\":{\"Return\":1}}"), "['1-2-3']: not an invocation number");
    refused(SM("{}") R("{\" 1\":{\"Return\":1}}"), "not an invocation number");
    refused(SM("{}") R("{\"0-2\":{\"Return\":1},\"2\":{\"Return\":2}}"), "overlaps");
    refused(SM("{}") R("{\"5\":{\"Return\":1},\"1-9\":{\"Return\":2}}"), "overlaps");
    /* entries */
    refused(SM("{}") R("{\"0\":1}"), "$.MockedResponses.R['0']: must be an object with Return or Throw");
    refused(SM("{}") R("{\"0\":{}}"), "$.MockedResponses.R['0']: needs Return or Throw");
    refused(SM("{}") R("{\"0\":{\"Return\":1,\"Throw\":{}}}"), "has both Return and Throw");
    refused(SM("{}") R("{\"0\":{\"Retrun\":1}}"), "$.MockedResponses.R['0'].Retrun: unknown field");
    refused(SM("{}") R("{\"0\":{\"Throw\":\"x\"}}"), "$.MockedResponses.R['0'].Throw: must be an object");
    refused(SM("{}") R("{\"0\":{\"Throw\":{\"Cause\":\"c\"}}}"), "$.MockedResponses.R['0'].Throw: needs Error");
    refused(SM("{}") R("{\"0\":{\"Throw\":{\"Error\":\"e\"}}}"), "Throw: needs Cause");
    refused(SM("{}") R("{\"0\":{\"Throw\":{\"Error\":1,\"Cause\":\"c\"}}}"),
            "$.MockedResponses.R['0'].Throw.Error: must be a string");
    refused(SM("{}") "\"MockedResponses\":{\"R\":[]}}", "$.MockedResponses.R: must be an object of invocation");
    /* a file that is not there */
    asl_mock *m = NULL;
    char err[512];
    assert_int_equal(asl_mock_load("/nonexistent/mocks.json", &m, err, sizeof err), SFN_EINVAL);
    assert_non_null(strstr(err, "/nonexistent/mocks.json: cannot read"));
}

static json_t *J(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &je);
    assert_non_null(j);
    return j;
}

static void subset(const char *want, const char *got, int ok, const char *where)
{
    json_t *w = J(want), *g = J(got);
    char at[256];
    assert_int_equal(asl_json_subset(w, g, at, sizeof at), ok);
    if (where)
        assert_string_equal(at, where);
    json_decref(w);
    json_decref(g);
}

static void test_json_subset(void **st)
{
    (void)st;
    subset("{}", "{\"a\":1}", 1, "$");
    subset("{\"a\":1}", "{\"a\":1.0,\"b\":2}", 1, "$");
    subset("{\"a\":{\"b\":[1,{\"c\":\"x\"}]}}", "{\"a\":{\"b\":[1,{\"c\":\"x\",\"d\":0}],\"e\":1}}", 1, "$");
    subset("{\"a\":{\"b\":[1,{\"c\":\"y\"}]}}", "{\"a\":{\"b\":[1,{\"c\":\"x\"}]}}", 0, "$.a.b[1].c");
    subset("{\"a\":2}", "{\"b\":2}", 0, "$.a");
    subset("[1,2]", "[1,2,3]", 0, "$");
    subset("{\"odd key\":1}", "{\"odd key\":2}", 0, "$['odd key']");
    subset("\"s\"", "\"s\"", 1, "$");
    subset("null", "{}", 0, "$");
    subset("true", "true", 1, "$");
    /* the values where they differ */
    json_t *w = J("{\"a\":{\"b\":[1,2]},\"c\":3}"), *g = J("{\"a\":{\"b\":[1,5]}}");
    const json_t *wa, *ga;
    char at[64];
    assert_false(asl_json_subset_diff(w, g, at, sizeof at, &wa, &ga));
    assert_string_equal(at, "$.a.b[1]");
    assert_int_equal(json_integer_value(wa), 2);
    assert_int_equal(json_integer_value(ga), 5);
    json_object_set_new(json_object_get(g, "a"), "b", J("[1,2]"));
    assert_false(asl_json_subset_diff(w, g, at, sizeof at, &wa, &ga));
    assert_string_equal(at, "$.c");
    assert_int_equal(json_integer_value(wa), 3);
    assert_null(ga);
    json_decref(w);
    json_decref(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documented_example),
        cmocka_unit_test(test_any_return_and_gaps),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_json_subset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
