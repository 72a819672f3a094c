/*
 * test_api_meta.c - tags and a state machine's logging, tracing and
 * encryption configurations: the checks as AWS makes them
 * (api_meta_check.c), the store's tables (store_meta.c), and the
 * operations over the runner and a store on disk (api_meta.c, api_sm.c):
 * refused input changes nothing, what was acknowledged is there after the
 * store is opened again, a deleted machine's tags go with it.
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
#include "api_meta_check.h"
#include "store_meta.h"
#include "test_tmpdb.h"

/* ---- the checks --------------------------------------------------------------- */
static const char *check_tags_text(const char *text)
{
    static meta_err e;
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    int rc = meta_check_tags(j, "tags", &e);
    json_decref(j);
    return rc == 0 ? NULL : e.type;
}

static void test_tag_checks(void **state)
{
    (void)state;
    assert_null(check_tags_text("[]"));
    assert_null(check_tags_text("[{\"key\":\"k\",\"value\":\"\"}]"));
    assert_null(check_tags_text("[{\"key\":\"a b_.:/=+-@\",\"value\":\"v\"},{\"key\":\"k\"}]"));
    assert_null(check_tags_text("[{\"key\":\"\xc3\xa9t\xc3\xa9\",\"value\":\"x\"}]"));
    assert_string_equal(check_tags_text("[{\"key\":\"\",\"value\":\"v\"}]"), "ValidationException");
    assert_string_equal(check_tags_text("[{\"value\":\"v\"}]"), "ValidationException");
    assert_string_equal(check_tags_text("[{\"key\":\"k*\",\"value\":\"v\"}]"),
                        "ValidationException");
    assert_string_equal(check_tags_text("[{\"key\":\"aws:x\",\"value\":\"v\"}]"),
                        "ValidationException");
    assert_string_equal(check_tags_text("[{\"key\":1}]"), "SerializationException");
    assert_string_equal(check_tags_text("[\"k\"]"), "SerializationException");
    /* 128 characters of key, 256 of value (characters, not bytes) */
    char key[200], val[600], text[1024];
    memset(key, 'k', 128);
    key[128] = '\0';
    for (int i = 0; i < 256; i++)
        memcpy(val + 2 * i, "\xc3\xa9", 2);
    val[512] = '\0';
    snprintf(text, sizeof text, "[{\"key\":\"%s\",\"value\":\"%s\"}]", key, val);
    assert_null(check_tags_text(text));
    snprintf(text, sizeof text, "[{\"key\":\"%sk\",\"value\":\"v\"}]", key);
    assert_string_equal(check_tags_text(text), "ValidationException");
    snprintf(text, sizeof text, "[{\"key\":\"k\",\"value\":\"%sx\"}]", val);
    assert_string_equal(check_tags_text(text), "ValidationException");

    meta_err e;
    json_t *keys = json_pack("[s,s]", "a", "");
    assert_int_equal(meta_check_tag_keys(keys, &e), -1);
    assert_string_equal(e.type, "ValidationException");
    json_decref(keys);

    /* 50 tags a resource: counted after the merge, a key given again once */
    json_t *have = json_object();
    for (int i = 0; i < 49; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        json_object_set_new(have, k, json_string("v"));
    }
    json_t *add = json_pack("[{s:s,s:s},{s:s,s:s}]", "key", "k0", "value", "x", "key", "new",
                            "value", "y");
    assert_int_equal(meta_check_tag_count(have, add, "arn", &e), 0);
    json_array_append_new(add, json_pack("{s:s,s:s}", "key", "other", "value", "z"));
    assert_int_equal(meta_check_tag_count(have, add, "arn", &e), -1);
    assert_string_equal(e.type, "TooManyTags");
    json_decref(add);
    json_decref(have);
}

/* The answer of a configuration check as compact text, or the error type. */
static char *conf_text(int (*check)(const json_t *, json_t **, meta_err *), const char *in)
{
    json_t *j = json_loads(in, 0, NULL), *o = NULL;
    meta_err e;
    assert_non_null(j);
    int rc = check(j, &o, &e);
    json_decref(j);
    if (rc != 0)
        return strdup(e.type);
    char *t = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return t;
}

#define EXPECT_CONF(check, in, want)                                                          \
    do {                                                                                        \
        char *got_ = conf_text(check, in);                                                     \
        assert_string_equal(got_, want);                                                       \
        free(got_);                                                                            \
    } while (0)

#define LG "{\"cloudWatchLogsLogGroup\":{\"logGroupArn\":" \
           "\"arn:aws:logs:us-east-1:123456789012:log-group:g:*\"}}"

static void test_logging_checks(void **state)
{
    (void)state;
    EXPECT_CONF(meta_logging, "{}", "{\"includeExecutionData\":false,\"level\":\"OFF\"}");
    EXPECT_CONF(meta_logging, "{\"level\":\"ALL\",\"includeExecutionData\":true,"
                              "\"destinations\":[" LG "]}",
                "{\"destinations\":[" LG "],\"includeExecutionData\":true,\"level\":\"ALL\"}");
    /* OFF keeps a destination it is given */
    EXPECT_CONF(meta_logging, "{\"level\":\"OFF\",\"destinations\":[" LG "]}",
                "{\"destinations\":[" LG "],\"includeExecutionData\":false,\"level\":\"OFF\"}");
    EXPECT_CONF(meta_logging, "{\"level\":\"ALL\"}", "InvalidLoggingConfiguration");
    EXPECT_CONF(meta_logging, "{\"level\":\"ERROR\",\"destinations\":[]}",
                "InvalidLoggingConfiguration");
    EXPECT_CONF(meta_logging, "{\"level\":\"FATAL\",\"destinations\":[" LG "," LG "]}",
                "InvalidLoggingConfiguration");
    EXPECT_CONF(meta_logging, "{\"level\":\"OFF\",\"destinations\":[" LG "," LG "]}",
                "InvalidLoggingConfiguration");
    EXPECT_CONF(meta_logging,
                "{\"level\":\"ALL\",\"destinations\":[{\"cloudWatchLogsLogGroup\":"
                "{\"logGroupArn\":\"not-an-arn\"}}]}",
                "InvalidLoggingConfiguration");
    EXPECT_CONF(meta_logging, "{\"level\":\"DEBUG\",\"destinations\":[" LG "]}",
                "ValidationException");
    EXPECT_CONF(meta_logging, "{\"level\":1}", "SerializationException");
    EXPECT_CONF(meta_logging, "{\"includeExecutionData\":\"yes\"}", "SerializationException");

    EXPECT_CONF(meta_tracing, "{}", "{\"enabled\":false}");
    EXPECT_CONF(meta_tracing, "{\"enabled\":true}", "{\"enabled\":true}");
    EXPECT_CONF(meta_tracing, "{\"enabled\":1}", "SerializationException");
}

static void test_encryption_checks(void **state)
{
    (void)state;
    EXPECT_CONF(meta_encryption, "{\"type\":\"AWS_OWNED_KEY\"}", "{\"type\":\"AWS_OWNED_KEY\"}");
    EXPECT_CONF(meta_encryption, "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"k1\"}",
                "{\"kmsDataKeyReusePeriodSeconds\":300,\"kmsKeyId\":\"k1\","
                "\"type\":\"CUSTOMER_MANAGED_KMS_KEY\"}");
    EXPECT_CONF(meta_encryption,
                "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"k1\","
                "\"kmsDataKeyReusePeriodSeconds\":60}",
                "{\"kmsDataKeyReusePeriodSeconds\":60,\"kmsKeyId\":\"k1\","
                "\"type\":\"CUSTOMER_MANAGED_KMS_KEY\"}");
    EXPECT_CONF(meta_encryption, "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\"}",
                "InvalidEncryptionConfiguration");
    EXPECT_CONF(meta_encryption, "{\"type\":\"AWS_OWNED_KEY\",\"kmsKeyId\":\"k1\"}",
                "InvalidEncryptionConfiguration");
    EXPECT_CONF(meta_encryption,
                "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"k\","
                "\"kmsDataKeyReusePeriodSeconds\":59}",
                "ValidationException");
    EXPECT_CONF(meta_encryption,
                "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"k\","
                "\"kmsDataKeyReusePeriodSeconds\":901}",
                "ValidationException");
    EXPECT_CONF(meta_encryption, "{}", "ValidationException");
    EXPECT_CONF(meta_encryption, "{\"type\":\"RSA\"}", "ValidationException");
    EXPECT_CONF(meta_encryption, "{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"\"}",
                "ValidationException");
}

/* ---- the store's tables ------------------------------------------------------- */
static int join_tag(void *ctx, const char *k, const char *v)
{
    char *b = ctx;
    size_t n = strlen(b);
    snprintf(b + n, 256 - n, "%s=%s;", k, v);
    return 0;
}

static void test_store_meta(void **state)
{
    (void)state;
    store *s;
    char err[256], buf[256] = "";
    assert_int_equal(store_open(":memory:", 0, &s, err, sizeof err), STORE_OK);
    store_tag t[] = {{"b", "1"}, {"a", "2"}};
    assert_int_equal(store_tags_put(s, "arn:x", t, 2), STORE_OK);
    store_tag t2[] = {{"b", "3"}, {"c", ""}};
    assert_int_equal(store_tags_put(s, "arn:x", t2, 2), STORE_OK);
    assert_int_equal(store_tags_put(s, "arn:y", t, 1), STORE_OK);
    assert_int_equal(store_tags_each(s, "arn:x", join_tag, buf), STORE_OK);
    assert_string_equal(buf, "b=3;a=2;c=;"); /* first-added order, values replaced */
    const char *del[] = {"a", "zz"};
    assert_int_equal(store_tags_del(s, "arn:x", del, 2), STORE_OK);
    buf[0] = '\0';
    store_tags_each(s, "arn:x", join_tag, buf);
    assert_string_equal(buf, "b=3;c=;");

    store_sm_conf c = {.logging = "{\"level\":\"OFF\"}", .tracing = NULL, .encryption = "{}"};
    store_sm_conf got;
    assert_int_equal(store_sm_conf_get(s, "arn:x", &got), STORE_ENOENT);
    assert_int_equal(store_sm_conf_put(s, "arn:x", &c), STORE_OK);
    assert_int_equal(store_sm_conf_get(s, "arn:x", &got), STORE_OK);
    assert_string_equal(got.logging, "{\"level\":\"OFF\"}");
    assert_null(got.tracing);
    assert_string_equal(got.encryption, "{}");
    store_sm_conf_cleanup(&got);

    assert_int_equal(store_meta_forget(s, "arn:x"), STORE_OK);
    buf[0] = '\0';
    store_tags_each(s, "arn:x", join_tag, buf);
    assert_string_equal(buf, "");
    assert_int_equal(store_sm_conf_get(s, "arn:x", &got), STORE_ENOENT);
    buf[0] = '\0';
    store_tags_each(s, "arn:y", join_tag, buf);
    assert_string_equal(buf, "b=1;"); /* another resource's are untouched */

    /* map runs: kept per execution, gone with it */
    store_exec x = {.arn = "arn:e1", .sm_arn = "arn:sm", .name = "e1", .input = "{}",
                    .status = STORE_SUCCEEDED, .start_ms = 1, .stop_ms = 2};
    assert_int_equal(store_exec_insert(s, &x), STORE_OK);
    store_map_run mr = {.arn = "arn:mr1", .exec_arn = "arn:e1", .sm_arn = "arn:sm/l",
                        .started_id = 4, .total = 3, .succeeded = 3, .tolerated_pct = 12.5};
    assert_int_equal(store_map_run_put(s, &mr), STORE_OK);
    store_map_run got_mr;
    assert_int_equal(store_map_run_get(s, "arn:mr1", &got_mr), STORE_OK);
    assert_string_equal(got_mr.exec_arn, "arn:e1");
    assert_int_equal(got_mr.total, 3);
    assert_true(got_mr.tolerated_pct == 12.5);
    store_map_run_cleanup(&got_mr);
    int removed = 0;
    assert_int_equal(store_exec_expire(s, 100, 10, &removed), STORE_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(store_map_run_get(s, "arn:mr1", &got_mr), STORE_ENOENT);
    store_close(s);
}

/* ---- the operations over the runner -------------------------------------------- */
#define SM "arn:aws:states:us-east-1:123456789012:stateMachine:m"
#define DEF "{\\\"StartAt\\\":\\\"P\\\",\\\"States\\\":{\\\"P\\\":{\\\"Type\\\":\\\"Pass\\\",\\\"End\\\":true}}}"
#define ROLE "arn:aws:iam::123456789012:role/r"

static char *tags_text(env *e)
{
    json_t *j = env_ok(e, "ListTagsForResource", "{\"resourceArn\":\"" SM "\"}");
    char *t = json_dumps(json_object_get(j, "tags"), JSON_COMPACT);
    json_decref(j);
    return t;
}

static char *describe_member(env *e, const char *member)
{
    json_t *j = env_ok(e, "DescribeStateMachine", "{\"stateMachineArn\":\"" SM "\"}");
    char *t = json_dumps(json_object_get(j, member), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return t;
}

#define EXPECT_TEXT(expr, want)                                                               \
    do {                                                                                        \
        char *got_ = (expr);                                                                   \
        assert_non_null(got_);                                                                 \
        assert_string_equal(got_, want);                                                       \
        free(got_);                                                                            \
    } while (0)

static void test_ops_durable(void **state)
{
    (void)state;
    char path[] = "/tmp/test_api_meta_XXXXXX";
    tmp_db(path);
    env e;
    env_open(&e, path);
    /* refused: nothing is created */
    env_expect_err(&e, "CreateStateMachine",
               "{\"name\":\"m\",\"definition\":\"" DEF "\",\"roleArn\":\"" ROLE "\","
               "\"loggingConfiguration\":{\"level\":\"ALL\"}}",
               "InvalidLoggingConfiguration");
    env_expect_err(&e, "CreateStateMachine",
               "{\"name\":\"m\",\"definition\":\"" DEF "\",\"roleArn\":\"" ROLE "\","
               "\"tags\":[{\"key\":\"\",\"value\":\"v\"}]}",
               "ValidationException");
    env_expect_err(&e, "DescribeStateMachine", "{\"stateMachineArn\":\"" SM "\"}",
               "StateMachineDoesNotExist");
    env_expect_err(&e, "ListTagsForResource", "{\"resourceArn\":\"" SM "\"}", "ResourceNotFound");
    json_decref(env_ok(&e, "CreateStateMachine",
                   "{\"name\":\"m\",\"definition\":\"" DEF "\",\"roleArn\":\"" ROLE "\","
                   "\"tracingConfiguration\":{\"enabled\":true},"
                   "\"tags\":[{\"key\":\"k1\",\"value\":\"v1\"},{\"key\":\"k2\",\"value\":\"v2\"}]}"));
    EXPECT_TEXT(tags_text(&e), "[{\"key\":\"k1\",\"value\":\"v1\"},{\"key\":\"k2\",\"value\":\"v2\"}]");
    EXPECT_TEXT(describe_member(&e, "tracingConfiguration"), "{\"enabled\":true}");
    EXPECT_TEXT(describe_member(&e, "encryptionConfiguration"), "{\"type\":\"AWS_OWNED_KEY\"}");
    EXPECT_TEXT(describe_member(&e, "loggingConfiguration"),
                "{\"includeExecutionData\":false,\"level\":\"OFF\"}");

    json_decref(env_ok(&e, "TagResource",
                   "{\"resourceArn\":\"" SM "\",\"tags\":[{\"key\":\"k1\",\"value\":\"new\"},"
                   "{\"key\":\"k3\",\"value\":\"\"}]}"));
    json_decref(env_ok(&e, "UntagResource", "{\"resourceArn\":\"" SM "\",\"tagKeys\":[\"k2\",\"zz\"]}"));
    env_expect_err(&e, "TagResource", "{\"resourceArn\":\"" SM ":1\",\"tags\":[]}", "ResourceNotFound");
    env_expect_err(&e, "TagResource", "{\"resourceArn\":\"nope\",\"tags\":[]}", "InvalidArn");
    env_expect_err(&e, "TagResource", "{\"resourceArn\":\"" SM "\"}", "ValidationException");

    /* an update with one bad configuration changes none of them */
    env_expect_err(&e, "UpdateStateMachine",
               "{\"stateMachineArn\":\"" SM "\",\"tracingConfiguration\":{\"enabled\":false},"
               "\"encryptionConfiguration\":{\"type\":\"CUSTOMER_MANAGED_KMS_KEY\"}}",
               "InvalidEncryptionConfiguration");
    EXPECT_TEXT(describe_member(&e, "tracingConfiguration"), "{\"enabled\":true}");
    json_decref(env_ok(&e, "UpdateStateMachine",
                   "{\"stateMachineArn\":\"" SM "\",\"loggingConfiguration\":{\"level\":\"ERROR\","
                   "\"destinations\":[" LG "]},\"encryptionConfiguration\":{\"type\":"
                   "\"CUSTOMER_MANAGED_KMS_KEY\",\"kmsKeyId\":\"alias/k\"}}"));
    env_close(&e);

    /* what was acknowledged is on disk */
    env_open(&e, path);
    EXPECT_TEXT(tags_text(&e), "[{\"key\":\"k1\",\"value\":\"new\"},{\"key\":\"k3\",\"value\":\"\"}]");
    EXPECT_TEXT(describe_member(&e, "tracingConfiguration"), "{\"enabled\":true}");
    EXPECT_TEXT(describe_member(&e, "loggingConfiguration"),
                "{\"destinations\":[" LG "],\"includeExecutionData\":false,\"level\":\"ERROR\"}");
    EXPECT_TEXT(describe_member(&e, "encryptionConfiguration"),
                "{\"kmsDataKeyReusePeriodSeconds\":300,\"kmsKeyId\":\"alias/k\","
                "\"type\":\"CUSTOMER_MANAGED_KMS_KEY\"}");

    /* deleted, created again: nothing of the first one's */
    json_decref(env_ok(&e, "DeleteStateMachine", "{\"stateMachineArn\":\"" SM "\"}"));
    env_expect_err(&e, "ListTagsForResource", "{\"resourceArn\":\"" SM "\"}", "ResourceNotFound");
    json_decref(env_ok(&e, "CreateStateMachine",
                   "{\"name\":\"m\",\"definition\":\"" DEF "\",\"roleArn\":\"" ROLE "\"}"));
    EXPECT_TEXT(tags_text(&e), "[]");
    EXPECT_TEXT(describe_member(&e, "tracingConfiguration"), "{\"enabled\":false}");
    env_close(&e);
    unlink_db(path);
}

/* ---- map runs in the core ------------------------------------------------------- */
static const asl_exec_info MR_INFO = {
    .execution_arn = "arn:aws:states:us-east-1:123456789012:execution:dm:e1",
    .execution_name = "e1",
    .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:dm",
    .state_machine_name = "dm",
    .role_arn = "arn:aws:iam::123456789012:role/r",
    .start_ms = 1000,
    .seed = 7,
};

static asl_exec *map_exec(const char *def, const char *input, asl_machine **m)
{
    asl_diags d;
    memset(&d, 0, sizeof d);
    assert_int_equal(asl_machine_compile_text(def, strlen(def), 0, m, &d), SFN_OK);
    json_t *in = json_loads(input, 0, NULL);
    asl_exec *x = asl_exec_start(*m, &MR_INFO, in);
    json_decref(in);
    assert_non_null(x);
    return x;
}

static void test_core_map_runs(void **state)
{
    (void)state;
    /* items 1 and 3 fail; two tolerated: SUCCEEDED with 2 failed */
    static const char def[] =
        "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ToleratedFailureCount\":2,"
        "\"MaxConcurrency\":2,\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"DISTRIBUTED\","
        "\"ExecutionType\":\"STANDARD\"},\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":"
        "\"Choice\",\"Choices\":[{\"Variable\":\"$\",\"NumericEquals\":1,\"Next\":\"F\"},"
        "{\"Variable\":\"$\",\"NumericEquals\":3,\"Next\":\"F\"}],\"Default\":\"P\"},"
        "\"F\":{\"Type\":\"Fail\",\"Error\":\"E\"},\"P\":{\"Type\":\"Pass\",\"End\":true}}},"
        "\"End\":true}}}";
    asl_machine *m;
    asl_exec *x = map_exec(def, "[0,1,2,3,4]", &m);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED);
    const asl_map_run *mr;
    assert_int_equal(asl_exec_map_runs(x, &mr), 1);
    assert_int_equal(mr->status, ASL_SUCCEEDED);
    assert_string_equal(mr->label, "M");
    assert_int_equal(mr->total, 5);
    assert_int_equal(mr->succeeded, 3);
    assert_int_equal(mr->failed, 2);
    assert_int_equal(mr->pending + mr->running + mr->aborted, 0);
    assert_int_equal(mr->max_concurrency, 2);
    assert_int_equal(mr->tolerated_count, 2);
    char arn[512], arn2[512];
    assert_true(asl_map_run_arn(x, mr, arn, sizeof arn) > 0);
    assert_true(strncmp(arn, "arn:aws:states:us-east-1:123456789012:mapRun:dm/M:", 50) == 0);
    assert_int_equal(strlen(arn) - 50, 36); /* a UUID */
    /* its event names it so */
    json_t *ev = asl_exec_event_json(x, (size_t)mr->started_id - 1, 1);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "MapRunStarted");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(ev, "mapRunStartedEventDetails"), "mapRunArn")),
                        arn);
    json_decref(ev);
    /* the same execution again: the same ARN (a replay names it alike) */
    asl_machine *m2;
    asl_exec *y = map_exec(def, "[0,1,2,3,4]", &m2);
    asl_exec_map_runs(y, &mr);
    assert_true(asl_map_run_arn(y, mr, arn2, sizeof arn2) > 0);
    assert_string_equal(arn, arn2);
    asl_exec_free(y);
    asl_machine_free(m2);
    asl_exec_free(x);
    asl_machine_free(m);

    /* not tolerated: FAILED, the iterations in flight aborted */
    char def2[sizeof def];
    memcpy(def2, def, sizeof def);
    char *tol = strstr(def2, "\"ToleratedFailureCount\":2");
    tol[strlen("\"ToleratedFailureCount\":")] = '0';
    x = map_exec(def2, "[0,1,2,3,4]", &m);
    assert_int_equal(asl_exec_status(x), ASL_FAILED);
    asl_exec_map_runs(x, &mr);
    assert_int_equal(mr->status, ASL_FAILED);
    assert_int_equal(mr->failed, 1);
    assert_int_equal(mr->total, 5);
    assert_int_equal(mr->running, 0);
    asl_exec_free(x);
    asl_machine_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tag_checks),
        cmocka_unit_test(test_logging_checks),
        cmocka_unit_test(test_encryption_checks),
        cmocka_unit_test(test_store_meta),
        cmocka_unit_test(test_ops_durable),
        cmocka_unit_test(test_core_map_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
