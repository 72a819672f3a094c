/*
 * test_sigv4.c - src/util's SHA-256, HMAC-SHA256 and SigV4 signer.
 *
 * The signer against AWS's own published examples (the get-vanilla and
 * post-vanilla cases of AWS's SigV4 test suite, and the IAM ListUsers
 * request of "Create a signed AWS API request"), and against signatures
 * made by another implementation: botocore's SigV4Auth (the AWS SDK for
 * Python) signed the same requests, at the same times, with the same keys.
 * A signature is a hash: any difference in the canonical request changes
 * all of it. SHA-256 against FIPS 180-4's examples, HMAC against RFC 4231.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "sha256.h"
#include "sigv4.h"

#include <stdio.h>

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

static void hexs(const unsigned char *p, char *out)
{
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* FIPS 180-4 / NIST's examples; RFC 4231 test cases 2 and 6 (a key
 * longer than the block). */
static void test_sha256_hmac(void **state)
{
    (void)state;
    unsigned char md[32];
    char hx[65];
    sfn_sha256("abc", 3, md);
    hexs(md, hx);
    assert_string_equal(hx, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sfn_sha256("", 0, md);
    hexs(md, hx);
    assert_string_equal(hx, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m56 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sfn_sha256(m56, strlen(m56), md);
    hexs(md, hx);
    assert_string_equal(hx, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* the same, fed in uneven pieces */
    sfn_sha256_ctx c;
    sfn_sha256_init(&c);
    for (size_t i = 0; i < strlen(m56); i += 7)
        sfn_sha256_update(&c, m56 + i, strlen(m56) - i < 7 ? strlen(m56) - i : 7);
    sfn_sha256_final(&c, md);
    hexs(md, hx);
    assert_string_equal(hx, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *msg = "what do ya want for nothing?";
    sfn_hmac_sha256("Jefe", 4, msg, strlen(msg), md);
    hexs(md, hx);
    assert_string_equal(hx, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    unsigned char key[131];
    memset(key, 0xaa, sizeof key);
    const char *big = "Test Using Larger Than Block-Size Key - Hash Key First";
    sfn_hmac_sha256(key, sizeof key, big, strlen(big), md);
    hexs(md, hx);
    assert_string_equal(hx, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* AWS's SigV4 test suite: get-vanilla and post-vanilla (credentials
 * AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service"). */
static void test_aws_suite_vanilla(void **state)
{
    (void)state;
    sigv4_in in = {.method = "GET", .host = "example.amazonaws.com", .path = "/", .query = "",
                   .region = "us-east-1", .service = "service", .access_key = "AKIDEXAMPLE",
                   .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                   .now = 1440938160 /* 2015-08-30T12:36:00Z */};
    sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), 0);
    assert_string_equal(out.amz_date, "20150830T123600Z");
    assert_string_equal(out.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
    in.method = "POST";
    assert_int_equal(sigv4_sign(&in, &out), 0);
    assert_string_equal(out.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                        "aws4_request, SignedHeaders=host;x-amz-date, Signature="
                        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

/* The IAM ListUsers example of AWS's "Create a signed AWS API request":
 * a query string and a Content-Type with a space to keep. */
static void test_aws_doc_list_users(void **state)
{
    (void)state;
    sigv4_header hs[] = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}};
    sigv4_in in = {.method = "GET", .host = "iam.amazonaws.com", .path = "/",
                   .query = "Action=ListUsers&Version=2010-05-08", .headers = hs, .nheaders = 1,
                   .region = "us-east-1", .service = "iam", .access_key = "AKIDEXAMPLE",
                   .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", .now = 1440938160};
    sigv4_out out;
    assert_int_equal(sigv4_sign(&in, &out), 0);
    assert_string_equal(out.authorization,
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                        "aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
                        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_hmac),
        cmocka_unit_test(test_aws_suite_vanilla),
        cmocka_unit_test(test_aws_doc_list_users),
        cmocka_unit_test(test_matches_botocore_with_token),
        cmocka_unit_test(test_signed_headers_are_what_is_sent),
        cmocka_unit_test(test_split_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
