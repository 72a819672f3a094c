/* test_fjson.c - the direct JSON reader gives what json_loadb gives: the
 * same values (key order, last duplicate), the same refusals, and leaves
 * to jansson what it does not read itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fjson.h"

/* Same outcome as json_loadb for flags, compared by the compact dump
 * (which keeps key order). */
static void same_as_jansson(const char *text, size_t len, size_t flags, fjson_buf *buf)
{
    json_error_t e1, e2;
    json_t *a = fjson_loadb(text, len, flags, &e1, buf);
    json_t *b = json_loadb(text, len, flags, &e2);
    if (b == NULL) {
        assert_null(a);
        assert_string_equal(e1.text, e2.text);
        return;
    }
    assert_non_null(a);
    char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
    assert_string_equal(da, db);
    free(da);
    free(db);
    json_decref(a);
    json_decref(b);
}

static void test_cases(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{}", "[]", " { \"a\" : 1 , \"b\":[true,false,null,\"x\"] } ",
        "{\"tripId\":\"t\",\"n\":-12,\"z\":0,\"s\":\"\\\"q\\\\\\/\\b\\f\\n\\r\\t\"}",
        "{\"a\":1,\"b\":2,\"a\":3}",                  /* last duplicate wins, first position */
        "{\"k\\n\":\"v\",\"k\\n\":\"w\"}",            /* escaped keys */
        "{\"u\":\"\\u00e9\\ud83d\\ude00\"}",           /* \u: jansson's */
        "{\"r\":1.5,\"e\":1e3}",                        /* reals: jansson's */
        "{\"big\":123456789012345678901}",              /* long integer: jansson's */
        "{\"i\":123456789012345678}", "{\"i\":-0}", "{\"i\":01}", "{\"i\":-}",
        "\"just a string\"", "42", "true", "null",     /* scalars: only with DECODE_ANY */
        "{\"a\":1} x", "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{\"a\":}", "", "   ",
        "{\"s\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}",
        "{\"s\":\"bad \xc3\x28\"}", "{\"s\":\"overlong \xc0\xaf\"}", "{\"s\":\"sur \xed\xa0\x80\"}",
        "{\"s\":\"ctl \x01\"}", "{\"s\":\"unterminated}", "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
        "{\"a\":[{\"b\":[{\"c\":\"\\\\\"}]}]}", "{\"\":\"\"}", "[\"\\x\"]",
    };
    fjson_buf buf = {0};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        same_as_jansson(cases[i], strlen(cases[i]), 0, &buf);
        same_as_jansson(cases[i], strlen(cases[i]), JSON_DECODE_ANY, &buf);
        same_as_jansson(cases[i], strlen(cases[i]), JSON_DECODE_ANY, NULL);
    }
    fjson_buf_free(&buf);
}

/* Nesting past what the direct reader takes goes to jansson, whatever
 * jansson then says. */
static void test_deep(void **state)
{
    (void)state;
    char text[2 * 3000 + 2];
    for (int depth = 60; depth <= 3000; depth += 970) {
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            text[n++] = '[';
        for (int i = 0; i < depth; i++)
            text[n++] = ']';
        text[n] = '\0';
        same_as_jansson(text, n, 0, NULL);
    }
}

/* The direct path is the one taken for plain JSON. */
static void test_direct(void **state)
{
    (void)state;
    const char *t = "{\"a\":[1,\"x\\n\"],\"b\":{\"c\":null}}";
    json_t *v = fjson_parse(t, strlen(t), 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_array_get(json_object_get(v, "a"), 1)), "x\n");
    json_decref(v);
    assert_null(fjson_parse("1.5", 3, 1, NULL));    /* left to jansson */
    assert_null(fjson_parse("\"s\"", 3, 0, NULL));  /* a scalar without DECODE_ANY */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
