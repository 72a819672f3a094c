/*
 * test_asl_intrinsic.c - every intrinsic function, argument parsing,
 * nesting, and the errors for bad calls (compile time) and bad arguments
 * (States.IntrinsicFailure / States.Runtime at evaluation). Expected values
 * follow the conformance cases recorded against AWS where they exist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl_path.h"

static asl_rng rng;

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

static json_t *vars;
static json_t *lookup(void *ud, const char *name)
{
    (void)ud;
    return json_object_get(vars, name);
}

/* Result text, "ERR <error>: <cause>" or "COMPILE <msg>". */
static char *run(const char *expr, const char *input)
{
    asl_intrinsic *f;
    char err[256];
    if (asl_intrinsic_compile(expr, &f, err, sizeof err) < 0) {
        char *r;
        if (asprintf(&r, "COMPILE %s", err) < 0)
            abort();
        return r;
    }
    json_t *in = J(input), *out = NULL;
    json_t *ctx = J("{\"StateMachine\":{\"Name\":\"my-machine-name\"},\"Execution\":{\"Input\":{\"a\":1}}}");
    asl_scope sc = {ctx, lookup, NULL, &rng};
    asl_err e = {0};
    char *r;
    if (asl_intrinsic_eval(f, in, &sc, &out, &e) == 0) {
        r = asl_json_text(out);
        assert_null(e.error);
    } else {
        assert_non_null(e.error);
        if (asprintf(&r, "ERR %s: %s", e.error, e.cause ? e.cause : "") < 0)
            abort();
    }
    asl_err_clear(&e);
    json_decref(out);
    json_decref(in);
    json_decref(ctx);
    asl_intrinsic_free(f);
    return r;
}

#define EXPECT(expr, input, want)                                                                  \
    do {                                                                                           \
        char *got_ = run(expr, input);                                                             \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s on %s:\n got  %s\n want %s", expr, input, got_, want);                    \
        free(got_);                                                                                \
    } while (0)

/* Expect a result starting with prefix (for error kinds). */
#define EXPECT_PREFIX(expr, input, prefix)                                                         \
    do {                                                                                           \
        char *got_ = run(expr, input);                                                             \
        if (strncmp(got_, prefix, strlen(prefix)) != 0)                                            \
            fail_msg("%s on %s:\n got  %s\n want %s...", expr, input, got_, prefix);               \
        free(got_);                                                                                \
    } while (0)

#define FAILS(expr, input) EXPECT_PREFIX(expr, input, "ERR States.IntrinsicFailure: ")
#define BAD_CALL(expr) EXPECT_PREFIX(expr, "{}", "COMPILE ")

static void test_format(void **state)
{
    (void)state;
    EXPECT("States.Format('Formatting argument {}.', $.v)", "{\"v\":\"\"}", "\"Formatting argument .\"");
    EXPECT("States.Format('Formatting argument {}.', $.v)", "{\"v\":null}", "\"Formatting argument null.\"");
    EXPECT("States.Format('Formatting argument {}.', $.v)", "{\"v\":1.1}", "\"Formatting argument 1.1.\"");
    EXPECT("States.Format('{} and {}', $.v, 3)", "{\"v\":true}", "\"true and 3\"");
    EXPECT("States.Format('fst={} snd={}', $.a, $.b)",
           "{\"a\":{\"Arg1\":1,\"Arg2\":[]},\"b\":[1,\"x\",{\"k\":null}]}",
           "\"fst={Arg1=1, Arg2=[]} snd=[1, x, {k=null}]\"");
    EXPECT("States.Format('Hello {}, welcome to {}!', $.name, $.place)",
           "{\"name\":\"John\",\"place\":\"LocalStack\"}", "\"Hello John, welcome to LocalStack!\"");
    EXPECT("States.Format('no holes')", "{}", "\"no holes\"");
    /* escaped braces and quotes are literal text, not placeholders */
    EXPECT("States.Format('\\{\\} {} it\\'s \\\\', 'x')", "{}", "\"{} x it's \\\\\"");
    /* the format string may come from a path; then {} are all placeholders */
    EXPECT("States.Format($.t, $$.StateMachine.Name)", "{\"t\":\"It's {}!\"}", "\"It's my-machine-name!\"");
    FAILS("States.Format('{} {}', 1)", "{}");
    FAILS("States.Format('{}', 1, 2)", "{}");
    FAILS("States.Format($.n, 1)", "{\"n\":5}");
    EXPECT("States.Format('{}', $.s)", "{\"s\":\"caf\\u00e9\"}", "\"café\"");
}

static void test_json_string(void **state)
{
    (void)state;
    EXPECT("States.StringToJson($.s)", "{\"s\":\"null\"}", "null");
    EXPECT("States.StringToJson($.s)", "{\"s\":\"1\"}", "1");
    EXPECT("States.StringToJson($.s)", "{\"s\":\"true\"}", "true");
    EXPECT("States.StringToJson($.s)", "{\"s\":\"\\\"HelloWorld\\\"\"}", "\"HelloWorld\"");
    EXPECT("States.StringToJson($.s)", "{\"s\":\"[1, 2, \\\"HelloWorld\\\"]\"}", "[1,2,\"HelloWorld\"]");
    EXPECT("States.StringToJson('{\"k\": \"v\"}')", "{}", "{\"k\":\"v\"}");
    FAILS("States.StringToJson($.s)", "{\"s\":\"{bad\"}");
    FAILS("States.StringToJson($.s)", "{\"s\":12}");
    FAILS("States.StringToJson($.s)", "{\"s\":\"\"}");
    EXPECT("States.JsonToString($.v)", "{\"v\":null}", "\"null\"");
    EXPECT("States.JsonToString($.v)", "{\"v\":0}", "\"0\"");
    EXPECT("States.JsonToString($.v)", "{\"v\":\"HelloWorld\"}", "\"\\\"HelloWorld\\\"\"");
    EXPECT("States.JsonToString($.v)", "{\"v\":{\"Arg1\":1,\"Arg2\":[]}}", "\"{\\\"Arg1\\\":1,\\\"Arg2\\\":[]}\"");
    EXPECT("States.JsonToString($)", "{\"b\":2,\"a\":1.5}", "\"{\\\"b\\\":2,\\\"a\\\":1.5}\"");
}

static void test_arrays(void **state)
{
    (void)state;
    EXPECT("States.Array()", "{}", "[]");
    EXPECT("States.Array($.a, $.b)", "{\"a\":\"\",\"b\":1.1}", "[\"\",1.1]");
    EXPECT("States.Array('a', 1, -2, 2.5, true, false, null, $.o)", "{\"o\":{\"x\":[]}}",
           "[\"a\",1,-2,2.5,true,false,null,{\"x\":[]}]");
    EXPECT("States.ArrayPartition($.a, 3)", "{\"a\":[]}", "[]");
    EXPECT("States.ArrayPartition($.a, 1)", "{\"a\":[0,1,2]}", "[[0],[1],[2]]");
    EXPECT("States.ArrayPartition($.a, 3)", "{\"a\":[0,1,2,3]}", "[[0,1,2],[3]]");
    EXPECT("States.ArrayPartition($.a, 5)", "{\"a\":[0]}", "[[0]]");
    FAILS("States.ArrayPartition($.a, 0)", "{\"a\":[1]}");
    FAILS("States.ArrayPartition($.a, -1)", "{\"a\":[1]}");
    FAILS("States.ArrayPartition($.a, 2)", "{\"a\":\"x\"}");
    FAILS("States.ArrayPartition($.a, 'x')", "{\"a\":[1]}");
    EXPECT("States.ArrayContains($.a, 1)", "{\"a\":[]}", "false");
    EXPECT("States.ArrayContains($.a, $.v)", "{\"a\":[[1,2,3],2],\"v\":null}", "false");
    EXPECT("States.ArrayContains($.a, $.v)", "{\"a\":[[1,2,3],2],\"v\":[1,2,3]}", "true");
    EXPECT("States.ArrayContains($.a, $.v)", "{\"a\":[{\"1\":2,\"2\":[]}],\"v\":[]}", "false");
    EXPECT("States.ArrayContains($.a, 5)", "{\"a\":[1,2,3,4,5,6]}", "true");
    FAILS("States.ArrayContains($.a, 5)", "{\"a\":{}}");
    EXPECT("States.ArrayRange(0, 9, 3)", "{}", "[0,3,6,9]");
    EXPECT("States.ArrayRange(1, 9, 9)", "{}", "[1]");
    EXPECT("States.ArrayRange(1, 9, 2)", "{}", "[1,3,5,7,9]");
    EXPECT("States.ArrayRange(1, 10, 2)", "{}", "[1,3,5,7,9]");
    EXPECT("States.ArrayRange(5, 1, -2)", "{}", "[5,3,1]");
    EXPECT("States.ArrayRange(5, 1, 2)", "{}", "[]");
    EXPECT("States.ArrayRange(0, 3, 1)", "{}", "[0,1,2,3]");
    { /* AWS's limit is 1000 items: exactly 1000 is fine */
        char *r = run("States.ArrayRange(1, 1000, 1)", "{}");
        json_t *v = J(r);
        assert_int_equal(json_array_size(v), 1000);
        assert_int_equal(json_integer_value(json_array_get(v, 999)), 1000);
        json_decref(v);
        free(r);
    }
    FAILS("States.ArrayRange(1, 1001, 1)", "{}");
    FAILS("States.ArrayRange(1, 9, 0)", "{}");
    FAILS("States.ArrayRange('1', 9, 1)", "{}");
    EXPECT("States.ArrayGetItem($.a, 5)", "{\"a\":[1,2,3,4,5,6,7,8,9]}", "6");
    EXPECT("States.ArrayGetItem($.a, 0)", "{\"a\":[{\"x\":1}]}", "{\"x\":1}");
    FAILS("States.ArrayGetItem($.a, 3)", "{\"a\":[1,2,3]}");
    FAILS("States.ArrayGetItem($.a, -1)", "{\"a\":[1,2,3]}");
    FAILS("States.ArrayGetItem($.a, 'x')", "{\"a\":[1,2,3]}");
    FAILS("States.ArrayGetItem($.a, 0)", "{\"a\":\"abc\"}");
    EXPECT("States.ArrayLength($.a)",
           "{\"a\":[null,null,true,true,false,false,1,1,1.1,0,0,\"H\",\"H\",[],[],[null],[null],"
           "{\"a\":1,\"b\":2},{\"a\":1,\"b\":2},{\"a\":1,\"b\":1}]}",
           "20");
    EXPECT("States.ArrayLength($.a)", "{\"a\":[]}", "0");
    FAILS("States.ArrayLength($.a)", "{\"a\":{}}");
    EXPECT("States.ArrayUnique($.a)", "{\"a\":[1,2,2,3,3,4]}", "[1,2,3,4]");
    EXPECT("States.ArrayUnique($.a)",
           "{\"a\":[null,null,true,true,\"H\",\"H\",[],[],[null],{\"a\":1},{\"a\":1},{\"a\":2}]}",
           "[null,true,\"H\",[],[null],{\"a\":1},{\"a\":2}]");
    FAILS("States.ArrayUnique($.a)", "{\"a\":1}");
}

static void test_base64_and_hash(void **state)
{
    (void)state;
    EXPECT("States.Base64Encode($.s)", "{\"s\":\"Data to encode\"}", "\"RGF0YSB0byBlbmNvZGU=\"");
    EXPECT("States.Base64Encode('')", "{}", "\"\"");
    EXPECT("States.Base64Encode('a')", "{}", "\"YQ==\"");
    EXPECT("States.Base64Encode('ab')", "{}", "\"YWI=\"");
    EXPECT("States.Base64Encode('abc')", "{}", "\"YWJj\"");
    EXPECT("States.Base64Encode('é')", "{}", "\"w6k=\"");
    EXPECT("States.Base64Decode($.s)", "{\"s\":\"RGF0YSB0byBlbmNvZGU=\"}", "\"Data to encode\"");
    EXPECT("States.Base64Decode($.s)", "{\"s\":\"\"}", "\"\"");
    EXPECT("States.Base64Decode('SGVsbG8gV29ybGQ=')", "{}", "\"Hello World\"");
    EXPECT("States.Base64Decode('YQ==')", "{}", "\"a\"");
    FAILS("States.Base64Decode('YQ=')", "{}");
    FAILS("States.Base64Decode('Y!==')", "{}");
    FAILS("States.Base64Decode('YQ==YQ==')", "{}");
    FAILS("States.Base64Decode('/w==')", "{}"); /* 0xff is not UTF-8 text */
    FAILS("States.Base64Encode($.n)", "{\"n\":1}");

    const char *in = "{\"s\":\"input data\"}";
    EXPECT("States.Hash($.s, 'MD5')", in, "\"812f45842bc6d66ee14572ce20db8e86\"");
    EXPECT("States.Hash($.s, 'SHA-1')", in, "\"aaff4a450a104cd177d28d18d74485e8cae074b7\"");
    EXPECT("States.Hash($.s, 'SHA-256')", in,
           "\"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3\"");
    EXPECT("States.Hash($.s, 'SHA-384')", in,
           "\"d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1"
           "fb9e9374a15562\"");
    EXPECT("States.Hash('abc', 'SHA-512')", "{}",
           "\"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba"
           "3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f\"");
    EXPECT("States.Hash('', 'MD5')", "{}", "\"d41d8cd98f00b204e9800998ecf8427e\"");
    EXPECT("States.Hash('', 'SHA-256')", "{}",
           "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"");
    /* 56..64-byte messages need a second padding block */
    EXPECT("States.Hash('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'SHA-1')", "{}",
           "\"84983e441c3bd26ebaae4aa1f95129e5e54670f1\"");
    EXPECT("States.Hash('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 'SHA-256')", "{}",
           "\"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1\"");
    EXPECT("States.Hash('The quick brown fox jumps over the lazy dog', 'MD5')", "{}",
           "\"9e107d9d372bb6826bd81d3542a419d6\"");
    EXPECT("States.Hash('abc', 'SHA-384')", "{}",
           "\"cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358"
           "baeca134c825a7\"");
    FAILS("States.Hash('abc', 'SHA-3')", "{}");
    FAILS("States.Hash('abc', 'sha-256')", "{}");
    FAILS("States.Hash(1, 'MD5')", "{}");
}

static void test_json_merge(void **state)
{
    (void)state;
    EXPECT("States.JsonMerge($.a, $.b, false)",
           "{\"a\":{\"a\":{\"a1\":1,\"a2\":2},\"b\":2,\"d\":3},\"b\":{\"a\":{\"a3\":1,\"a4\":2},\"c\":3,\"d\":4}}",
           "{\"a\":{\"a3\":1,\"a4\":2},\"b\":2,\"d\":4,\"c\":3}");
    EXPECT("States.JsonMerge(States.StringToJson('{\"x\": \"false\"}'), $$.Execution.Input, false)",
           "{}", "{\"x\":\"false\",\"a\":1}");
    FAILS("States.JsonMerge($.a, $.b, true)", "{\"a\":{},\"b\":{}}");
    FAILS("States.JsonMerge($.a, $.b, false)", "{\"a\":[],\"b\":{}}");
    FAILS("States.JsonMerge($.a, $.b, false)", "{\"a\":{},\"b\":1}");
    FAILS("States.JsonMerge($.a, $.b, 0)", "{\"a\":{},\"b\":{}}");
}

static void test_math(void **state)
{
    (void)state;
    /* AWS rounds each argument half up (Java Math.round) before adding */
    static const struct {
        const char *a, *b, *sum;
    } add[] = {{"-9", "3", "-6"},   {"1.5", "1.51", "4"}, {"-1.49", "-1.5", "-2"},
               {"1.49", "0", "1"},  {"1.49", "-1.49", "0"}, {"1.51", "0", "2"},
               {"-1.49", "0", "-1"}, {"-1.51", "0", "-2"}, {"0.5", "0", "1"},
               {"2.5", "0", "3"},   {"3.5", "0", "4"},   {"-0.5", "0", "0"},
               {"-3.5", "0", "-3"}, {"2147483647", "1", "2147483648"}};
    for (size_t i = 0; i < sizeof add / sizeof add[0]; i++) {
        char in[128];
        snprintf(in, sizeof in, "{\"a\":%s,\"b\":%s}", add[i].a, add[i].b);
        EXPECT("States.MathAdd($.a, $.b)", in, add[i].sum);
    }
    EXPECT("States.MathAdd(-1, 3)", "{}", "2");
    FAILS("States.MathAdd($.a, 1)", "{\"a\":\"1\"}");
    FAILS("States.MathAdd($.a, 1)", "{\"a\":2147483648}");
    FAILS("States.MathAdd($.a, 1)", "{\"a\":null}");

    for (int i = 0; i < 200; i++) {
        char *r = run("States.MathRandom(10, 13)", "{}");
        int v = atoi(r);
        assert_true(v >= 10 && v < 13);
        free(r);
    }
    /* a seed gives the same number every time, whatever the stream */
    char *r1 = run("States.MathRandom(0, 1000000, 7)", "{}");
    char *r2 = run("States.MathRandom(0, 1000000, 7)", "{}");
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
    FAILS("States.MathRandom(5, 5)", "{}");
    FAILS("States.MathRandom('a', 5)", "{}");
}

static void test_strings_and_uuid(void **state)
{
    (void)state;
    EXPECT("States.StringSplit($.s, ',')", "{\"s\":\" \"}", "[\" \"]");
    EXPECT("States.StringSplit($.s, ',')", "{\"s\":\" , \"}", "[\" \",\" \"]");
    EXPECT("States.StringSplit($.s, ',')", "{\"s\":\"1,2,3,4,5\"}", "[\"1\",\"2\",\"3\",\"4\",\"5\"]");
    EXPECT("States.StringSplit($.s, $.d)", "{\"s\":\"split on T and \\nnew line\",\"d\":\"T\\n\"}",
           "[\"split on \",\" and \",\"new line\"]");
    EXPECT("States.StringSplit($.s, ',')",
           "{\"s\":\"Value1,Value2,Value3\\nValue4,Value5,Value6\\n,,,\\ntrue,1,'HelloWorld'\\nNull,None,\\n   \\n\"}",
           "[\"Value1\",\"Value2\",\"Value3\\nValue4\",\"Value5\",\"Value6\\n\",\"\\ntrue\",\"1\","
           "\"'HelloWorld'\\nNull\",\"None\",\"\\n   \\n\"]");
    EXPECT("States.StringSplit('Hello\nWorld', '\n')", "{}", "[\"Hello\",\"World\"]");
    EXPECT("States.StringSplit('a€b€€c', '€')", "{}", "[\"a\",\"b\",\"c\"]");
    EXPECT("States.StringSplit('', ',')", "{}", "[]");
    EXPECT("States.StringSplit('abc', '')", "{}", "[\"abc\"]");
    FAILS("States.StringSplit(1, ',')", "{}");
    FAILS("States.StringSplit('a', 1)", "{}");

    char *u = run("States.UUID()", "{}");
    assert_int_equal(strlen(u), 38);
    assert_true(u[0] == '"' && u[9] == '-' && u[14] == '-' && u[15] == '4' && u[19] == '-' &&
                u[24] == '-');
    assert_non_null(strchr("89ab", u[20]));
    char *u2 = run("States.UUID()", "{}");
    assert_string_not_equal(u, u2);
    free(u);
    free(u2);
    /* deterministic: the same seed gives the same UUID */
    rng.s = 99;
    u = run("States.UUID()", "{}");
    rng.s = 99;
    u2 = run("States.UUID()", "{}");
    assert_string_equal(u, u2);
    free(u);
    free(u2);
}

static void test_nesting_and_paths(void **state)
{
    (void)state;
    EXPECT("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), 0)", "{}", "\"my\"");
    EXPECT("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
           "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))",
           "{}", "\"name\"");
    vars = J("{\"yCurrent\":44,\"xCurrent\":9,\"zCurrent\":6,\"bias\":4.3}");
    EXPECT("States.MathAdd(States.MathAdd(States.MathAdd($yCurrent, $xCurrent), $zCurrent), $bias)",
           "{}", "63");
    json_decref(vars);
    vars = NULL;
    /* path arguments with brackets, quotes and filters */
    EXPECT("States.Array($['a,b'], $.l[?(@.x == ')')].x, $.l[0:1])",
           "{\"a,b\":1,\"l\":[{\"x\":\")\"},{\"x\":2}]}", "[1,[\")\"],[{\"x\":\")\"}]]");
    EXPECT("  States.Array( 1 ,  'a' )  ", "{}", "[1,\"a\"]");
    EXPECT("States.Array($)", "{\"q\":1}", "[{\"q\":1}]");
    /* ten levels are allowed, eleven are not */
    EXPECT("States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array())))))))))",
           "{}", "[[[[[[[[[[]]]]]]]]]]");
    BAD_CALL("States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array()))))))))))");
    /* a path argument that matches nothing is States.Runtime */
    EXPECT("States.Format('{}', $.nope)", "{\"a\":1}",
           "ERR States.Runtime: The JSONPath '$.nope' could not be found in the input '{\"a\":1}'");
    EXPECT_PREFIX("States.Array($undefinedVar)", "{}", "ERR States.Runtime: ");
}

static void test_compile_errors(void **state)
{
    (void)state;
    BAD_CALL("States.Nope(1)");
    BAD_CALL("States.Format()");
    BAD_CALL("States.UUID(1)");
    BAD_CALL("States.ArrayRange(1, 2)");
    BAD_CALL("States.MathRandom(1)");
    BAD_CALL("States.MathRandom(1, 2, 3, 4)");
    BAD_CALL("States.JsonMerge($.a, $.b)");
    BAD_CALL("States.Array(1");
    BAD_CALL("States.Array(1,)");
    BAD_CALL("States.Array('abc)");
    BAD_CALL("States.Array(1) x");
    BAD_CALL("States.Array(abc)");
    BAD_CALL("States.Array($.a b)");
    BAD_CALL("States.Array(1e999)");
    BAD_CALL("Format('x')");
    BAD_CALL("States.Array");
    assert_true(asl_is_intrinsic("States.Format('x')"));
    assert_true(asl_is_intrinsic("States.UUID()"));
    assert_false(asl_is_intrinsic("$.States"));
    assert_false(asl_is_intrinsic("States.Format"));
    assert_false(asl_is_intrinsic("states.Format()"));
    assert_false(asl_is_intrinsic(NULL));
}

int main(void)
{
    rng.s = 12345;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),       cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_arrays),       cmocka_unit_test(test_base64_and_hash),
        cmocka_unit_test(test_json_merge),   cmocka_unit_test(test_math),
        cmocka_unit_test(test_strings_and_uuid), cmocka_unit_test(test_nesting_and_paths),
        cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
