/*
 * test_sigv4.c - the SigV4 signer against signatures made by another
 * implementation: botocore's SigV4Auth (the AWS SDK for Python) signed the
 * same requests, at the same times, with the same keys; the expected
 * Authorization values below are what it produced. A signature is a hash:
 * any difference in the canonical request changes all of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "sigv4.h"

static const char BODY[] =
    "{\"TableName\":\"TripBookings\",\"Key\":{\"tripId\":{\"S\":\"t1\"},\"kind\":{\"S\":\"HOTEL\"}}}";

/* botocore: POST http://127.0.0.1:5000/ at 2026-12-06T05:04:14Z, region
 * us-east-1, service dynamodb, with a session token. */
static void test_matches_botocore_with_token(void **state)
{
    (void)state;
    sigv4_header hs[] = {{"Content-Type", "application/x-amz-json-1.0"},
                         {"X-Amz-Target", "DynamoDB_20120810.GetItem"}};
    sigv4_in in = {.method = "POST", .host = "127.0.0.1:5000", .path = "/", .query = "",
                   .headers = hs, .nheaders = 2, .body = BODY, .body_len = strlen(BODY),
                   .region = "us-east-1", .service = "dynamodb",
                   .access_key = "ASIAEXAMPLEKEY000000",
                   .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   .session_token = "FQoGZXIvYXdzEXAMPLE//token+/=",
                   .now = 1796533454 /* 2026-12-06T05:04:14Z */};
    sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), 0);
    assert_string_equal(out.amz_date, "20261206T050414Z");
    assert_string_equal(out.authorization,
                        "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEY000000/20261206/us-east-1/"
                        "dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                        "x-amz-security-token;x-amz-target, Signature="
                        "cf9923bffe62888fc573b36c37f927a8e88397337ebfccb7f53930e3974d59d6");
}

/* Only the headers given (plus host and x-amz-date) are signed: nothing
 * that is not sent, like the empty "Expect:" libcurl used to sign. Header
 * order and case do not matter; a different body does. */
static void test_signed_headers_are_what_is_sent(void **state)
{
    (void)state;
    sigv4_header a[] = {{"X-Amz-Target", "DynamoDB_20120810.GetItem"},
                        {"content-type", "application/x-amz-json-1.0"}};
    sigv4_header b[] = {{"Content-Type", "application/x-amz-json-1.0"},
                        {"X-Amz-Target", "DynamoDB_20120810.GetItem"}};
    sigv4_in in = {.method = "POST", .host = "127.0.0.1:5000", .path = "/", .headers = a,
                   .nheaders = 2, .body = BODY, .body_len = strlen(BODY), .region = "us-east-1",
                   .service = "dynamodb", .access_key = "AKIDEXAMPLE",
                   .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", .now = 1796533454};
    sigv4_out o1, o2, o3;
    assert_int_equal(sigv4_sign(&in, &o1), 0);
    assert_non_null(strstr(o1.authorization, "SignedHeaders=content-type;host;x-amz-date;x-amz-target,"));
    assert_null(strstr(o1.authorization, "expect"));
    in.headers = b;
    assert_int_equal(sigv4_sign(&in, &o2), 0);
    assert_string_equal(o1.authorization, o2.authorization);
    in.body_len--;
    assert_int_equal(sigv4_sign(&in, &o3), 0);
    assert_string_not_equal(o1.authorization, o3.authorization);
    in.secret_key = "";
    assert_int_equal(sigv4_sign(&in, &o3), -1);
}

static void test_split_url(void **state)
{
    (void)state;
    char host[128], path[128];
    assert_int_equal(sigv4_split_url("https://dynamodb.us-east-1.amazonaws.com/", host, sizeof host,
                                     path, sizeof path), 0);
    assert_string_equal(host, "dynamodb.us-east-1.amazonaws.com");
    assert_string_equal(path, "/");
    assert_int_equal(sigv4_split_url("http://127.0.0.1:5000", host, sizeof host, path, sizeof path), 0);
    assert_string_equal(host, "127.0.0.1:5000");
    assert_string_equal(path, "/");
    assert_int_equal(sigv4_split_url("https://h.example:443/x/y?q", host, sizeof host, path,
                                     sizeof path), 0);
    assert_string_equal(host, "h.example");
    assert_string_equal(path, "/x/y");
    assert_int_equal(sigv4_split_url("no-scheme", host, sizeof host, path, sizeof path), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_botocore_with_token),
        cmocka_unit_test(test_signed_headers_are_what_is_sent),
        cmocka_unit_test(test_split_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
