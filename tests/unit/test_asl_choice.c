/*
 * test_asl_choice.c - Choice rules (compile + evaluate) and RFC 3339
 * timestamps. Expected values come from the AWS-recorded conformance cases
 * (choice_operators, test_wait, test_base_scenarios).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl_choice.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    if (v == NULL)
        fail_msg("bad JSON in test: %s (%s)", text, e.text);
    return v;
}

/* Evaluate rule (JSON) on input (JSON): returns 1/0, or -1 on ASL error
 * (error/cause copied out when wanted). */
static int eval_with(const char *rule, const char *input, const asl_scope *scope, char *cause, size_t n)
{
    json_t *r = J(rule), *in = J(input);
    char err[512];
    asl_choice_rule *cr = NULL;
    int rc = asl_choice_compile(r, 1, "/States/C/Choices[0]", &cr, err, sizeof err);
    if (rc != 0)
        fail_msg("compile failed for %s: %s", rule, err);
    asl_err e = {0};
    int matched = -7;
    rc = asl_choice_eval(cr, in, scope, &matched, &e);
    if (rc != 0) {
        assert_non_null(e.error);
        assert_string_equal(e.error, "States.Runtime");
        if (cause != NULL)
            snprintf(cause, n, "%s", e.cause ? e.cause : "");
        matched = -1;
    } else {
        assert_null(e.error);
    }
    asl_err_clear(&e);
    asl_choice_free(cr);
    json_decref(r);
    json_decref(in);
    return matched;
}

static int eval(const char *rule, const char *input)
{
    return eval_with(rule, input, NULL, NULL, 0);
}

static void rule_of(char *buf, size_t n, const char *op, const char *operand)
{
    snprintf(buf, n, "{\"Variable\":\"$.v\",\"%s\":%s,\"Next\":\"X\"}", op, operand);
}

static int eval_op(const char *op, const char *operand, const char *value)
{
    char rule[512], input[512];
    rule_of(rule, sizeof rule, op, operand);
    snprintf(input, sizeof input, "{\"v\":%s,\"w\":%s}", value, operand);
    return eval(rule, input);
}

/* The Path form of op: the operand is read from $.w. */
static int eval_op_path(const char *op, const char *operand, const char *value)
{
    char rule[512], input[512], opp[128];
    snprintf(opp, sizeof opp, "%sPath", op);
    rule_of(rule, sizeof rule, opp, "\"$.w\"");
    snprintf(input, sizeof input, "{\"v\":%s,\"w\":%s}", value, operand);
    return eval(rule, input);
}

static void test_timestamp_parse(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(asl_timestamp_parse("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00Z", &ms), 0);
    assert_int_equal(ms, 1457920740000LL);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00.123Z", &ms), 0);
    assert_int_equal(ms, 1457920740123LL);
    /* nanoseconds are accepted (recorded: test_wait_timestamp_jsonata[NANOSECONDS]) */
    assert_int_equal(asl_timestamp_parse("2016-03-05T21:29:29.243167252Z", &ms), 0);
    assert_int_equal(ms % 1000, 243);
    assert_int_equal(asl_timestamp_parse("2026-11-27T02:27:23.000000Z", NULL), 0);
    /* offsets */
    int64_t a, b;
    assert_int_equal(asl_timestamp_parse("2012-10-09T19:00:55+01:00", &a), 0);
    assert_int_equal(asl_timestamp_parse("2012-10-09T18:00:55Z", &b), 0);
    assert_int_equal(a, b);
    assert_int_equal(asl_timestamp_parse("2012-10-09T17:30:55-00:30", &a), 0);
    assert_int_equal(a, b);
    /* RFC 3339 allows lowercase t and z */
    assert_int_equal(asl_timestamp_parse("2012-10-09t18:00:55z", &a), 0);
    assert_int_equal(a, b);
    /* leap day */
    assert_int_equal(asl_timestamp_parse("2016-02-29T00:00:00Z", NULL), 0);

    /* refused (recorded): no zone, no T, hour 25, month 13, day-first */
    assert_int_equal(asl_timestamp_parse("2016-12-05T21:29:29", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-12-05 21:29:29Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-12-05T25:29:29Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-13-05T21:29:29Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("05-12-2016T21:29:29Z", NULL), -1);
    /* and more */
    assert_int_equal(asl_timestamp_parse("2015-02-29T00:00:00Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-04-31T00:00:00Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:60Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00.Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00.1234567890Z", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00Zjunk", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2016-03-14T01:59:00+0100", NULL), -1);
    assert_int_equal(asl_timestamp_parse("2023-02-24", NULL), -1);
    assert_int_equal(asl_timestamp_parse("", NULL), -1);
    assert_int_equal(asl_timestamp_parse(NULL, NULL), -1);
}

static void test_timestamp_format(void **state)
{
    (void)state;
    char buf[32];
    asl_timestamp_format(0, buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    asl_timestamp_format(1704164645678LL, buf);
    assert_string_equal(buf, "2024-01-02T03:04:05.678Z");
    asl_timestamp_format(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    asl_timestamp_format(951782400000LL, buf); /* 2000-02-29 */
    assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
    /* round trip over a spread of instants */
    for (int64_t t = -86400000LL * 800; t < 4102444800000LL; t += 86400000LL * 97 + 12345) {
        int64_t back = 0;
        asl_timestamp_format(t, buf);
        assert_int_equal(asl_timestamp_parse(buf, &back), 0);
        assert_int_equal(back, t);
    }
}

static void test_numeric(void **state)
{
    (void)state;
    assert_int_equal(eval_op("NumericEquals", "0", "0.0"), 1);
    assert_int_equal(eval_op("NumericEquals", "1.0", "1"), 1);
    assert_int_equal(eval_op("NumericEquals", "2.22", "2.22"), 1);
    assert_int_equal(eval_op("NumericEquals", "1", "1.1"), 0);
    assert_int_equal(eval_op("NumericLessThan", "1", "0"), 1);
    assert_int_equal(eval_op("NumericLessThan", "0", "0.0"), 0);
    assert_int_equal(eval_op("NumericGreaterThan", "0", "1"), 1);
    assert_int_equal(eval_op("NumericGreaterThan", "1", "1"), 0);
    assert_int_equal(eval_op("NumericLessThanEquals", "1", "1"), 1);
    assert_int_equal(eval_op("NumericGreaterThanEquals", "1", "0"), 0);
    assert_int_equal(eval_op("NumericEquals", "9007199254740993", "9007199254740993"), 1);
    assert_int_equal(eval_op("NumericEquals", "9007199254740993", "9007199254740992"), 0);
    /* type mismatch is false, never an error */
    const char *others[] = {"null", "\"1\"", "\"\"", "true", "false", "[]", "[1]", "{}", "{\"A\":0}"};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        assert_int_equal(eval_op("NumericEquals", "1", others[i]), 0);
        assert_int_equal(eval_op_path("NumericEquals", "1", others[i]), 0);
        assert_int_equal(eval_op_path("NumericLessThan", others[i], "1"), 0);
    }
    assert_int_equal(eval_op_path("NumericEquals", "0.0", "0"), 1);
    assert_int_equal(eval_op_path("NumericGreaterThan", "0", "1"), 1);
    assert_int_equal(eval_op_path("NumericLessThanEquals", "0", "0.0"), 1);
    assert_int_equal(eval_op_path("NumericGreaterThanEquals", "2", "1"), 0);
}

static void test_string(void **state)
{
    (void)state;
    assert_int_equal(eval_op("StringEquals", "\"Hello\"", "\"Hello\""), 1);
    assert_int_equal(eval_op("StringEquals", "\"     \"", "\" \""), 0);
    assert_int_equal(eval_op("StringEquals", "\"\\t\\r\\n\"", "\"\\t\\n\""), 0);
    assert_int_equal(eval_op("StringEquals", "\"HelloWorld\"", "1"), 0);
    assert_int_equal(eval_op("StringEquals", "\"true\"", "true"), 0);
    assert_int_equal(eval_op("StringGreaterThan", "\"\"", "\"\""), 0);
    assert_int_equal(eval_op("StringGreaterThan", "\"A \"", "\"A\""), 0);
    assert_int_equal(eval_op("StringGreaterThan", "\"A\"", "\"A \""), 1);
    assert_int_equal(eval_op("StringLessThan", "\"abc\"", "\"abb\""), 1);
    assert_int_equal(eval_op("StringLessThanEquals", "\"abc\"", "\"abc\""), 1);
    assert_int_equal(eval_op("StringGreaterThanEquals", "\"abc\"", "\"abd\""), 1);
    /* Java orders by UTF-16 units: U+FFFF sorts after U+1F600 (surrogates) */
    assert_int_equal(eval_op("StringLessThan", "\"\\uffff\"", "\"\\ud83d\\ude00\""), 1);
    assert_int_equal(eval_op_path("StringEquals", "\"Hello\"", "\"Hello\""), 1);
    assert_int_equal(eval_op_path("StringLessThan", "\"b\"", "\"a\""), 1);
    assert_int_equal(eval_op_path("StringEquals", "1", "\"1\""), 0);
}

static void test_string_matches(void **state)
{
    (void)state;
    assert_int_equal(eval_op("StringMatches", "\"log-*.txt\"", "\"log-2024.txt\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"log-*.txt\"", "\"log-.txt\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"log-*.txt\"", "\"log-2024.txt.gz\""), 0);
    assert_int_equal(eval_op("StringMatches", "\"*\"", "\"\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"a*b*c\"", "\"aXXbYYbZc\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"a*b*c\"", "\"aXXcYYb\""), 0);
    /* "\\*" in JSON is \* in the pattern: a literal star */
    assert_int_equal(eval_op("StringMatches", "\"a\\\\*\"", "\"a*\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"a\\\\*\"", "\"ab\""), 0);
    assert_int_equal(eval_op("StringMatches", "\"exact\"", "\"exact\""), 1);
    assert_int_equal(eval_op("StringMatches", "\"exact\"", "\"exactly\""), 0);
    assert_int_equal(eval_op("StringMatches", "\"*\"", "3"), 0);
}

static void test_boolean_and_is(void **state)
{
    (void)state;
    assert_int_equal(eval_op("BooleanEquals", "true", "true"), 1);
    assert_int_equal(eval_op("BooleanEquals", "false", "false"), 1);
    assert_int_equal(eval_op("BooleanEquals", "true", "false"), 0);
    assert_int_equal(eval_op("BooleanEquals", "false", "0"), 0);
    assert_int_equal(eval_op("BooleanEquals", "true", "\"true\""), 0);
    assert_int_equal(eval_op("BooleanEquals", "false", "null"), 0);
    assert_int_equal(eval_op_path("BooleanEquals", "true", "true"), 1);
    assert_int_equal(eval_op_path("BooleanEquals", "false", "[]"), 0);

    assert_int_equal(eval_op("IsNull", "true", "null"), 1);
    assert_int_equal(eval_op("IsNull", "false", "\"x\""), 1);
    assert_int_equal(eval_op("IsNumeric", "true", "1.5"), 1);
    assert_int_equal(eval_op("IsNumeric", "true", "\"1\""), 0);
    assert_int_equal(eval_op("IsString", "true", "\"\""), 1);
    assert_int_equal(eval_op("IsString", "false", "\"2012-10-09T19:00:55Z\""), 0);
    assert_int_equal(eval_op("IsBoolean", "true", "false"), 1);
    assert_int_equal(eval_op("IsBoolean", "false", "\"2012-10-09T19:00:55+01:00\""), 1);
    assert_int_equal(eval_op("IsTimestamp", "true", "\"2012-10-09T19:00:55Z\""), 1);
    assert_int_equal(eval_op("IsTimestamp", "true", "\"2012-10-09T19:00:55\""), 0);
    assert_int_equal(eval_op("IsTimestamp", "false", "12"), 1);
    assert_int_equal(eval_op("IsPresent", "true", "null"), 1);
    /* IsPresent on a missing path is false/true, never an error */
    assert_int_equal(eval("{\"Variable\":\"$.nope\",\"IsPresent\":true,\"Next\":\"X\"}", "{}"), 0);
    assert_int_equal(eval("{\"Variable\":\"$.nope\",\"IsPresent\":false,\"Next\":\"X\"}", "{}"), 1);
}

static void test_timestamps(void **state)
{
    (void)state;
    const char *t55 = "\"2012-10-09T19:00:55Z\"", *t56 = "\"2012-10-09T19:00:56Z\"";
    assert_int_equal(eval_op("TimestampEquals", t55, t55), 1);
    assert_int_equal(eval_op("TimestampEquals", t55, t56), 0);
    assert_int_equal(eval_op("TimestampEquals", t55, "\"2012-10-09T20:00:55+01:00\""), 1);
    assert_int_equal(eval_op("TimestampGreaterThan", t55, t56), 1);
    assert_int_equal(eval_op("TimestampGreaterThan", t55, t55), 0);
    assert_int_equal(eval_op("TimestampLessThan", t56, t55), 1);
    assert_int_equal(eval_op("TimestampLessThanEquals", t55, t55), 1);
    assert_int_equal(eval_op("TimestampGreaterThanEquals", t56, t55), 0);
    const char *others[] = {"null", "0.0", "1", "\"\"", "\" \"", "[]", "[\"\"]", "{}", "false", "\"2012-10-09\""};
    for (size_t i = 0; i < sizeof others / sizeof *others; i++)
        assert_int_equal(eval_op("TimestampEquals", t55, others[i]), 0);
    assert_int_equal(eval_op_path("TimestampEquals", t55, t55), 1);
    assert_int_equal(eval_op_path("TimestampGreaterThanEquals", t56, t55), 0);
    assert_int_equal(eval_op_path("TimestampLessThan", t55, t56), 0);
    assert_int_equal(eval_op_path("TimestampEquals", "\"junk\"", t55), 0);
    /* sub-millisecond precision counts */
    assert_int_equal(eval_op("TimestampLessThan", "\"2012-10-09T19:00:55.0000002Z\"", "\"2012-10-09T19:00:55.0000001Z\""), 1);
}

static void test_boolean_operators(void **state)
{
    (void)state;
    const char *and_rule = "{\"And\":[{\"Variable\":\"$.a\",\"NumericGreaterThanEquals\":20},"
                           "{\"Variable\":\"$.a\",\"NumericLessThan\":30}],\"Next\":\"X\"}";
    assert_int_equal(eval(and_rule, "{\"a\":22}"), 1);
    assert_int_equal(eval(and_rule, "{\"a\":30}"), 0);
    const char *or_rule = "{\"Or\":[{\"Variable\":\"$.a\",\"StringEquals\":\"x\"},"
                          "{\"Not\":{\"Variable\":\"$.b\",\"BooleanEquals\":true}}],\"Next\":\"X\"}";
    assert_int_equal(eval(or_rule, "{\"a\":\"x\",\"b\":true}"), 1);
    assert_int_equal(eval(or_rule, "{\"a\":\"y\",\"b\":true}"), 0);
    assert_int_equal(eval(or_rule, "{\"a\":\"y\",\"b\":false}"), 1);
    /* short circuit: the missing $.c is never read */
    assert_int_equal(eval("{\"And\":[{\"Variable\":\"$.a\",\"IsNull\":true},{\"Variable\":\"$.c\",\"IsNull\":true}],\"Next\":\"X\"}",
                          "{\"a\":1}"),
                     0);
    assert_int_equal(eval("{\"Not\":{\"Not\":{\"Variable\":\"$\",\"IsPresent\":true}},\"Next\":\"X\"}", "{}"), 1);
}

static void test_missing_paths(void **state)
{
    (void)state;
    char cause[512];
    assert_int_equal(eval_with("{\"Variable\":\"$.missing\",\"NumericEquals\":1,\"Next\":\"X\"}", "{}", NULL,
                               cause, sizeof cause),
                     -1);
    assert_string_equal(cause, "Invalid path '$.missing': The choice state's condition path references an invalid value.");
    assert_int_equal(eval_with("{\"Variable\":\"$.a\",\"NumericEqualsPath\":\"$.b\",\"Next\":\"X\"}", "{\"a\":1}", NULL,
                               cause, sizeof cause),
                     -1);
    assert_string_equal(cause, "Invalid path '$.b': The choice state's condition path references an invalid value.");
    /* IsNull is no exception: only IsPresent tolerates a missing value */
    assert_int_equal(eval("{\"Variable\":\"$.missing\",\"IsNull\":false,\"Next\":\"X\"}", "{}"), -1);
    /* an error inside Not propagates */
    assert_int_equal(eval("{\"Not\":{\"Variable\":\"$.m\",\"StringEquals\":\"a\"},\"Next\":\"X\"}", "{}"), -1);
}

static json_t *lookup(void *ud, const char *name)
{
    return json_object_get((json_t *)ud, name);
}

static void test_variables_and_context(void **state)
{
    (void)state;
    json_t *vars = J("{\"limit\":10,\"name\":\"bob\"}");
    json_t *ctx = J("{\"Execution\":{\"Name\":\"exec-1\"}}");
    asl_scope scope = {ctx, lookup, vars, NULL};
    assert_int_equal(eval_with("{\"Variable\":\"$limit\",\"NumericEquals\":10,\"Next\":\"X\"}", "{}", &scope, NULL, 0), 1);
    assert_int_equal(eval_with("{\"Variable\":\"$.n\",\"NumericLessThanPath\":\"$limit\",\"Next\":\"X\"}", "{\"n\":3}",
                               &scope, NULL, 0),
                     1);
    assert_int_equal(eval_with("{\"Variable\":\"$$.Execution.Name\",\"StringEquals\":\"exec-1\",\"Next\":\"X\"}", "{}",
                               &scope, NULL, 0),
                     1);
    assert_int_equal(eval_with("{\"Variable\":\"$nope\",\"IsPresent\":false,\"Next\":\"X\"}", "{}", &scope, NULL, 0), 1);
    json_decref(vars);
    json_decref(ctx);
}

static void expect_compile_error(const char *rule, int top, const char *want)
{
    json_t *r = J(rule);
    asl_choice_rule *cr = NULL;
    char err[512] = "";
    assert_int_equal(asl_choice_compile(r, top, "/States/C/Choices[0]", &cr, err, sizeof err), -1);
    assert_null(cr);
    if (strstr(err, want) == NULL)
        fail_msg("rule %s: error '%s' lacks '%s'", rule, err, want);
    assert_true(strncmp(err, "SCHEMA_VALIDATION_FAILED: ", 26) == 0);
    json_decref(r);
}

static void test_compile_errors(void **state)
{
    (void)state;
    expect_compile_error("{\"Variable\":\"$.a\",\"IsNull\":true}", 1,
                         "These fields are required: [Next] at /States/C/Choices[0]");
    expect_compile_error("{\"And\":[{\"Variable\":\"$.a\",\"IsNull\":true,\"Next\":\"X\"}],\"Next\":\"X\"}", 1,
                         "Field 'Next' is not supported at /States/C/Choices[0]/And[0]");
    expect_compile_error("{\"Variable\":\"$.a\",\"IsNull\":true,\"IsString\":true,\"Next\":\"X\"}", 1, "only be one");
    expect_compile_error("{\"Variable\":\"$.a\",\"Next\":\"X\"}", 1, "comparison operator");
    expect_compile_error("{\"Variable\":\"$.a\",\"Bogus\":1,\"IsNull\":true,\"Next\":\"X\"}", 1,
                         "Field 'Bogus' is not supported");
    expect_compile_error("{\"Variable\":\"$.a\",\"TimestampEquals\":\"2016-12-05T21:29:29\",\"Next\":\"X\"}", 1,
                         "String does not match RFC3339 timestamp at /States/C/Choices[0]/TimestampEquals");
    expect_compile_error("{\"Variable\":\"a.b\",\"IsNull\":true,\"Next\":\"X\"}", 1, "'Variable' must be a valid JSONPath");
    expect_compile_error("{\"Variable\":\"$.a\",\"NumericEqualsPath\":\"nope\",\"Next\":\"X\"}", 1,
                         "'NumericEqualsPath' must be a valid JSONPath");
    expect_compile_error("{\"Variable\":\"$.a\",\"NumericEquals\":\"1\",\"Next\":\"X\"}", 1, "NUMBER");
    expect_compile_error("{\"Variable\":\"$.a\",\"StringEquals\":1,\"Next\":\"X\"}", 1, "STRING");
    expect_compile_error("{\"Variable\":\"$.a\",\"IsNull\":\"yes\",\"Next\":\"X\"}", 1, "BOOLEAN");
    expect_compile_error("{\"And\":[],\"Next\":\"X\"}", 1, "Value cannot be empty");
    expect_compile_error("{\"Not\":{\"Variable\":\"$.a\",\"IsNull\":true},\"Variable\":\"$.a\",\"Next\":\"X\"}", 1,
                         "only one of the following fields");
    expect_compile_error("[]", 1, "OBJECT");

    /* nested too deep: a clean error, no crash */
    char *deep = malloc(20000);
    size_t off = 0;
    off += (size_t)sprintf(deep + off, "{\"Next\":\"X\",\"Not\":");
    for (int i = 0; i < 200; i++)
        off += (size_t)sprintf(deep + off, "{\"Not\":");
    off += (size_t)sprintf(deep + off, "{\"Variable\":\"$\",\"IsNull\":true}");
    for (int i = 0; i < 201; i++)
        deep[off++] = '}';
    deep[off] = '\0';
    expect_compile_error(deep, 1, "nested too deeply");
    free(deep);

    /* a nested rule is fine without Next */
    json_t *r = J("{\"Variable\":\"$.a\",\"IsNull\":true}");
    asl_choice_rule *cr = NULL;
    char err[256];
    assert_int_equal(asl_choice_compile(r, 0, "/x", &cr, err, sizeof err), 0);
    asl_choice_free(cr);
    json_decref(r);
    asl_choice_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp_parse),   cmocka_unit_test(test_timestamp_format),
        cmocka_unit_test(test_numeric),           cmocka_unit_test(test_string),
        cmocka_unit_test(test_string_matches),    cmocka_unit_test(test_boolean_and_is),
        cmocka_unit_test(test_timestamps),        cmocka_unit_test(test_boolean_operators),
        cmocka_unit_test(test_missing_paths),     cmocka_unit_test(test_variables_and_context),
        cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
