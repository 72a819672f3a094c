/*
 * test_fwd.c - the forwarded tasks' pure parts (src/runner/run_tasks_fwd.h):
 * which resources are forwarded, the exact signed request (its signature
 * computed independently, with Python's hashlib/hmac over the canonical
 * request SigV4 defines), the error code of JSON, header and XML error
 * answers, and the States error names (the optimized DynamoDB integration's
 * "DynamoDB." and the SDK integration's PascalCase "DynamoDb.", with
 * "Exception" always at the end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "run_tasks_fwd.h"

static void test_parse(void **st)
{
    (void)st;
    fwd_spec sp;
    char err[512];
    assert_int_equal(run__fwd_parse("dynamodb:putItem", &sp, err, sizeof err), 1);
    assert_true(sp.optimized);
    assert_string_equal(sp.action, "PutItem");
    assert_string_equal(sp.api->target, "DynamoDB_20120810");
    assert_int_equal(run__fwd_parse("dynamodb:updateItem", &sp, err, sizeof err), 1);
    assert_string_equal(sp.action, "UpdateItem");
    /* not an optimized integration; no .waitForTaskToken form */
    assert_int_equal(run__fwd_parse("dynamodb:query", &sp, err, sizeof err), 0);
    assert_int_equal(run__fwd_parse("dynamodb:getItem.waitForTaskToken", &sp, err, sizeof err), 0);
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb:getItem", &sp, err, sizeof err), 1);
    assert_false(sp.optimized);
    assert_string_equal(sp.service, "dynamodb");
    assert_string_equal(sp.action, "GetItem");
    assert_int_equal(run__fwd_parse("aws-sdk:sqs:sendMessage.waitForTaskToken", &sp, err,
                                    sizeof err), 1);
    assert_true(sp.wait_for_token);
    assert_string_equal(sp.action, "SendMessage");
    assert_string_equal(sp.api->target, "AmazonSQS");
    assert_int_equal(run__fwd_parse("aws-sdk:sfn:startExecution", &sp, err, sizeof err), 1);
    assert_string_equal(sp.api->signing, "states");
    assert_string_equal(sp.api->err_name, "Sfn");
    /* query protocol: said, not sent */
    assert_int_equal(run__fwd_parse("aws-sdk:sns:publish", &sp, err, sizeof err), -1);
    assert_non_null(strstr(err, "'sns'"));
    assert_int_equal(run__fwd_parse("sqs:sendMessage", &sp, err, sizeof err), 0);
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb:", &sp, err, sizeof err), 0);
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb:get-item", &sp, err, sizeof err), 0);
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb", &sp, err, sizeof err), 0);
}

static const char BODY[] = "{\"TableName\":\"T\",\"Key\":{\"pk\":{\"S\":\"a\"}}}";

static void test_request(void **st)
{
    (void)st;
    fwd_spec sp;
    char err[256];
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb:getItem", &sp, err, sizeof err), 1);
    fwd_creds c = {"AKIDTEST", "SECRETKEY", "TOKEN/+="};
    size_t len = 0;
    char *req = run__fwd_request(&sp, "127.0.0.1:8000", "/", "us-east-1", &c, BODY,
                                 strlen(BODY), 1796533454 /* 2026-12-06T05:04:14Z */, &len);
    assert_non_null(req);
    const char *want =
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        "X-Amz-Target: DynamoDB_20120810.GetItem\r\n"
        "X-Amz-Date: 20261206T050414Z\r\n"
        "X-Amz-Security-Token: TOKEN/+=\r\n"
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20261206/us-east-1/dynamodb/"
        "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
        "x-amz-target, Signature=740fa1786498207505784d8082c23c52f61690fd48612b32605131b0df29176a\r\n"
        "Content-Length: 40\r\nConnection: close\r\nUser-Agent: sfnd\r\n\r\n"
        "{\"TableName\":\"T\",\"Key\":{\"pk\":{\"S\":\"a\"}}}";
    assert_string_equal(req, want);
    assert_int_equal(len, strlen(want));
    free(req);

    /* JSON 1.1, a path, another region, no session token */
    assert_int_equal(run__fwd_parse("aws-sdk:kms:encrypt", &sp, err, sizeof err), 1);
    fwd_creds c2 = {"AKIDTEST", "SECRETKEY", ""};
    req = run__fwd_request(&sp, "localhost:4566", "/kms", "eu-west-1", &c2, "{}", 2, 1796533454,
                           &len);
    assert_non_null(req);
    assert_non_null(strstr(req, "POST /kms HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Content-Type: application/x-amz-json-1.1\r\n"));
    assert_non_null(strstr(req, "X-Amz-Target: TrentService.Encrypt\r\n"));
    assert_null(strstr(req, "Security-Token"));
    assert_non_null(strstr(req, "Credential=AKIDTEST/20261206/eu-west-1/kms/aws4_request, "
                                "SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                                "Signature=500a3677dd8bd72ef29cdd542d7e0e3498be29ee6775d2507d1564626142034b\r\n"));
    free(req);
    /* no secret: nothing to sign with */
    fwd_creds c3 = {"AKIDTEST", "", ""};
    assert_null(run__fwd_request(&sp, "h", "/", "us-east-1", &c3, "{}", 2, 1796533454, &len));
}

static void test_errors(void **st)
{
    (void)st;
    char code[128], msg[256], name[160];
    const char *j = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException\","
                    "\"message\":\"The conditional request failed\"}";
    run__fwd_error_parse(j, strlen(j), NULL, code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "ConditionalCheckFailedException");
    assert_string_equal(msg, "The conditional request failed");
    j = "{\"Message\":\"Requested resource not found\"}";
    run__fwd_error_parse(j, strlen(j), "ResourceNotFoundException:http://internal.amazon.com/",
                         code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "ResourceNotFoundException");
    assert_string_equal(msg, "Requested resource not found");
    j = "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature "
        "we calculated does not match</Message></Error></ErrorResponse>";
    run__fwd_error_parse(j, strlen(j), NULL, code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "SignatureDoesNotMatch");
    assert_string_equal(msg, "The request signature we calculated does not match");
    run__fwd_error_parse("", 0, NULL, code, sizeof code, msg, sizeof msg);
    assert_string_equal(code, "UnknownError");
    assert_string_equal(msg, "");

    fwd_spec sp;
    char err[256];
    assert_int_equal(run__fwd_parse("dynamodb:putItem", &sp, err, sizeof err), 1);
    run__fwd_error_name(&sp, "ConditionalCheckFailedException", name, sizeof name);
    assert_string_equal(name, "DynamoDB.ConditionalCheckFailedException");
    run__fwd_error_name(&sp, "SignatureDoesNotMatch", name, sizeof name);
    assert_string_equal(name, "DynamoDB.SignatureDoesNotMatchException");
    assert_int_equal(run__fwd_parse("aws-sdk:dynamodb:putItem", &sp, err, sizeof err), 1);
    run__fwd_error_name(&sp, "ConditionalCheckFailedException", name, sizeof name);
    assert_string_equal(name, "DynamoDb.ConditionalCheckFailedException");
    assert_int_equal(run__fwd_parse("aws-sdk:secretsmanager:getSecretValue", &sp, err, sizeof err), 1);
    run__fwd_error_name(&sp, "ResourceNotFoundException", name, sizeof name);
    assert_string_equal(name, "SecretsManager.ResourceNotFoundException");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
