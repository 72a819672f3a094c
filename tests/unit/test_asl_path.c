/*
 * test_asl_path.c - JSONPath compile/eval (Jayway semantics as AWS uses
 * them), ResultPath placement (copy-on-write), and the compact JSON text
 * and bounded parser of asl_json.c.
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

const char *asl_path_normalized(const asl_path *p);

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

static json_t *vars_obj;
static json_t *lookup(void *ud, const char *name)
{
    (void)ud;
    return json_object_get(vars_obj, name);
}

/* Evaluate path over doc; return compact text of the result or "<none>". */
static char *eval_text(const char *path, const char *doc)
{
    asl_path *p;
    char err[256];
    if (asl_path_compile(path, ASL_PATH_ANY, &p, err, sizeof err) < 0)
        fail_msg("compile %s: %s", path, err);
    json_t *in = J(doc), *out = NULL;
    json_t *ctx = J("{\"Execution\":{\"Id\":\"arn:x\",\"Input\":{\"k\":1}},\"State\":{\"Name\":\"S\"}}");
    asl_scope sc = {ctx, lookup, NULL, NULL};
    char *r;
    if (asl_path_eval(p, in, &sc, &out) < 0)
        r = strdup("<none>");
    else
        r = asl_json_text(out);
    json_decref(out);
    json_decref(in);
    json_decref(ctx);
    asl_path_free(p);
    return r;
}

#define EXPECT_EVAL(path, doc, want)                                                               \
    do {                                                                                           \
        char *got_ = eval_text(path, doc);                                                         \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s on %s: got %s, want %s", path, doc, got_, want);                          \
        free(got_);                                                                                \
    } while (0)

static const char *DOC = "{\"store\":{\"book\":[{\"cat\":\"ref\",\"author\":\"Nigel\",\"price\":8.95},"
                         "{\"cat\":\"fic\",\"author\":\"Evelyn\",\"price\":12.99,\"isbn\":\"1\"},"
                         "{\"cat\":\"fic\",\"author\":\"Herman\",\"price\":8.99,\"isbn\":\"2\"}],"
                         "\"bicycle\":{\"color\":\"red\",\"price\":19.95}},\"a b\":1,\"n\":null}";

static void test_dot_and_bracket(void **state)
{
    (void)state;
    EXPECT_EVAL("$", "{\"a\":1}", "{\"a\":1}");
    EXPECT_EVAL("$.store.bicycle.color", DOC, "\"red\"");
    EXPECT_EVAL("$['store']['bicycle']['color']", DOC, "\"red\"");
    EXPECT_EVAL("$[\"store\"].bicycle[\"price\"]", DOC, "19.95");
    EXPECT_EVAL("$['a b']", DOC, "1");
    EXPECT_EVAL("$.n", DOC, "null");
    EXPECT_EVAL("$.delivery-partner", "{\"delivery-partner\":\"UQS\"}", "\"UQS\"");
    EXPECT_EVAL("$.store.missing", DOC, "<none>");
    EXPECT_EVAL("$.store.bicycle.color.x", DOC, "<none>");
    /* AWS keeps a backslash that does not escape the quote character */
    EXPECT_EVAL("$['Test\\\"\"Name\"']", "{\"Test\\\\\\\"\\\"Name\\\"\":\"v\"}", "\"v\"");
    EXPECT_EVAL("$['it\\'s']", "{\"it's\":2}", "2");
}

static void test_indexes_and_slices(void **state)
{
    (void)state;
    const char *arr = "{\"a\":[0,1,2,3,4,5]}";
    EXPECT_EVAL("$.a[0]", arr, "0");
    EXPECT_EVAL("$.a[5]", arr, "5");
    EXPECT_EVAL("$.a[6]", arr, "<none>");
    EXPECT_EVAL("$.a[-1]", arr, "5");
    EXPECT_EVAL("$.a[-6]", arr, "0");
    EXPECT_EVAL("$.a[-7]", arr, "<none>");
    EXPECT_EVAL("$.a[1:3]", arr, "[1,2]");
    EXPECT_EVAL("$.a[:2]", arr, "[0,1]");
    EXPECT_EVAL("$.a[4:]", arr, "[4,5]");
    EXPECT_EVAL("$.a[-2:]", arr, "[4,5]");
    EXPECT_EVAL("$.a[1:100]", arr, "[1,2,3,4,5]");
    EXPECT_EVAL("$.a[3:1]", arr, "[]");
    EXPECT_EVAL("$.a[0,2,-1]", arr, "[0,2,5]");
    EXPECT_EVAL("$[1]", "[\"x\",\"y\"]", "\"y\"");
    EXPECT_EVAL("$.a[0]", "{\"a\":{\"0\":1}}", "<none>");
}

static void test_wildcards_and_deep_scan(void **state)
{
    (void)state;
    EXPECT_EVAL("$.store.book[*].author", DOC, "[\"Nigel\",\"Evelyn\",\"Herman\"]");
    EXPECT_EVAL("$.store.bicycle.*", DOC, "[\"red\",19.95]");
    EXPECT_EVAL("$.store.bicycle[*]", DOC, "[\"red\",19.95]");
    EXPECT_EVAL("$..author", DOC, "[\"Nigel\",\"Evelyn\",\"Herman\"]");
    EXPECT_EVAL("$.store..price", DOC, "[8.95,12.99,8.99,19.95]");
    EXPECT_EVAL("$..book[0].author", DOC, "[\"Nigel\"]");
    EXPECT_EVAL("$..[1]", "{\"a\":[1,2],\"b\":{\"c\":[3,4]}}", "[2,4]");
    EXPECT_EVAL("$..*", "{\"a\":{\"b\":1}}", "[{\"b\":1},1]");
    EXPECT_EVAL("$.store['bicycle','missing','book'][0]", DOC, "[{\"cat\":\"ref\",\"author\":\"Nigel\",\"price\":8.95}]");
    /* AWS: an indefinite path over missing data gives [] (not a failure) */
    EXPECT_EVAL("$.items[*]", "{}", "[]");
    EXPECT_EVAL("$.items[:1]", "{}", "[]");
    EXPECT_EVAL("$.item.items[1:5]", "{}", "[]");
    EXPECT_EVAL("$.items[*].itemValue", "{}", "[]");
}

static void test_filters(void **state)
{
    (void)state;
    EXPECT_EVAL("$.users[?(@.status == 0)]",
                "{\"users\":[{\"status\":0,\"year\":1997},{\"status\":1,\"year\":1998}]}",
                "[{\"status\":0,\"year\":1997}]");
    EXPECT_EVAL("$.store.book[?(@.price < 9)].author", DOC, "[\"Nigel\",\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(@.price <= 8.99)].author", DOC, "[\"Nigel\",\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(@.price > 9)].author", DOC, "[\"Evelyn\"]");
    EXPECT_EVAL("$.store.book[?(@.price >= 12.99)].author", DOC, "[\"Evelyn\"]");
    EXPECT_EVAL("$.store.book[?(@.isbn)].author", DOC, "[\"Evelyn\",\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(!@.isbn)].author", DOC, "[\"Nigel\"]");
    EXPECT_EVAL("$.store.book[?(@.cat == 'fic' && @.price < 10)].author", DOC, "[\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(@.cat == \"ref\" || @.price > 12)].author", DOC,
                "[\"Nigel\",\"Evelyn\"]");
    EXPECT_EVAL("$.store.book[?(@.cat != 'fic')].author", DOC, "[\"Nigel\"]");
    EXPECT_EVAL("$.store.book[?((@.cat == 'fic') && !(@.isbn == '1'))].author", DOC, "[\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(@.author > 'F')].author", DOC, "[\"Nigel\",\"Herman\"]");
    EXPECT_EVAL("$.store.book[?(@.price < $.store.bicycle.price)].cat", DOC,
                "[\"ref\",\"fic\",\"fic\"]");
    EXPECT_EVAL("$.a[?(@ == 2)]", "{\"a\":[1,2,3,2]}", "[2,2]");
    EXPECT_EVAL("$.a[?(@.x == true)].y", "{\"a\":[{\"x\":true,\"y\":1},{\"x\":false,\"y\":2}]}", "[1]");
    EXPECT_EVAL("$.a[?(@.x == null)].y", "{\"a\":[{\"x\":null,\"y\":1},{\"y\":2}]}", "[1]");
    /* a type mismatch is not equal */
    EXPECT_EVAL("$.a[?(@.x == '1')]", "{\"a\":[{\"x\":1}]}", "[]");
    /* a filter on an object tests the object itself */
    EXPECT_EVAL("$.o[?(@.k == 1)]", "{\"o\":{\"k\":1}}", "[{\"k\":1}]");
}

static void test_context_and_variables(void **state)
{
    (void)state;
    vars_obj = J("{\"x\":{\"a\":{\"b\":[5,6]}},\"n\":3}");
    EXPECT_EVAL("$$.Execution.Id", "{}", "\"arn:x\"");
    EXPECT_EVAL("$$", "{}", "{\"Execution\":{\"Id\":\"arn:x\",\"Input\":{\"k\":1}},\"State\":{\"Name\":\"S\"}}");
    EXPECT_EVAL("$$.Nope", "{}", "<none>");
    EXPECT_EVAL("$n", "{}", "3");
    EXPECT_EVAL("$x.a.b[1]", "{}", "6");
    EXPECT_EVAL("$x.a.b[*]", "{}", "[5,6]");
    EXPECT_EVAL("$missing", "{}", "<none>");
    EXPECT_EVAL("$x.zz", "{}", "<none>");
    json_decref(vars_obj);
    vars_obj = NULL;

    asl_path *p;
    char err[128];
    assert_int_equal(asl_path_compile("$$.State.Name", 0, &p, err, sizeof err), 0);
    assert_true(asl_path_is_context(p));
    assert_false(asl_path_is_variable(p));
    json_t *out;
    assert_int_equal(asl_path_eval(p, json_null(), NULL, &out), -1); /* no scope: no $$ */
    asl_path_free(p);
    assert_int_equal(asl_path_compile("$my_var1.a", 0, &p, err, sizeof err), 0);
    assert_true(asl_path_is_variable(p));
    assert_false(asl_path_is_context(p));
    asl_path_free(p);
}

static void test_compile_errors_and_flags(void **state)
{
    (void)state;
    static const char *bad[] = {"", "a", "$.", "$[", "$['a'", "$['a']x", "$.a[", "$.a[1",
                                "$..", "$.a b", "$.a[?(@.x ==)]", "$.a[?@.x]", "$.a[?(@.x == 1]",
                                "$.a[x]", "$.a[1,]", " $.a", "$.f()", "$[?(1)]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        asl_path *p = NULL;
        char err[128] = "";
        if (asl_path_compile(bad[i], ASL_PATH_ANY, &p, err, sizeof err) == 0) {
            asl_path_free(p);
            fail_msg("compiled bad path '%s'", bad[i]);
        }
        assert_true(err[0] != '\0');
    }
    static const struct {
        const char *t;
        int definite;
        const char *norm;
    } ok[] = {
        {"$", 1, "$"},
        {"$.a.b", 1, "$['a']['b']"},
        {"$['a'][0]", 1, "$['a'][0]"},
        {"$.a[-1]", 1, "$['a'][-1]"},
        {"$.a[*]", 0, "$['a'][*]"},
        {"$.a[1:2]", 0, "$['a'][1:2]"},
        {"$..a", 0, "$..['a']"},
        {"$.a[?(@.b)]", 0, "$['a'][?]"},
        {"$['a','b']", 0, "$['a','b']"},
        {"$.NoSuchInputPath", 1, "$['NoSuchInputPath']"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        asl_path *p;
        char err[128];
        if (asl_path_compile(ok[i].t, ASL_PATH_ANY, &p, err, sizeof err) < 0)
            fail_msg("%s: %s", ok[i].t, err);
        assert_int_equal(asl_path_is_definite(p), ok[i].definite);
        assert_string_equal(asl_path_text(p), ok[i].t);
        assert_string_equal(asl_path_normalized(p), ok[i].norm);
        asl_path_free(p);
    }
    /* reference paths: definite and no context object */
    static const char *notref[] = {"$.a[*]", "$..a", "$$.Execution", "$.a[?(@.x)]", "$.a[0:1]"};
    for (size_t i = 0; i < sizeof notref / sizeof notref[0]; i++) {
        asl_path *p = NULL;
        char err[128];
        if (asl_path_compile(notref[i], ASL_PATH_REFERENCE, &p, err, sizeof err) == 0) {
            asl_path_free(p);
            fail_msg("accepted '%s' as a reference path", notref[i]);
        }
    }
}

/* ResultPath placement */
static char *set_text(const char *path, const char *doc, const char *val, asl_err *e)
{
    asl_path *p;
    char err[128];
    if (asl_path_compile(path, ASL_PATH_REFERENCE, &p, err, sizeof err) < 0)
        fail_msg("compile %s: %s", path, err);
    json_t *d = J(doc), *v = J(val), *out = NULL;
    char *before = asl_json_text(d);
    char *r;
    if (asl_path_set(p, d, v, &out, e) == 0)
        r = asl_json_text(out);
    else
        r = strdup("<fail>");
    char *after = asl_json_text(d);
    assert_string_equal(before, after); /* the input document is never modified */
    free(before);
    free(after);
    json_decref(out);
    json_decref(d);
    json_decref(v);
    asl_path_free(p);
    return r;
}

#define EXPECT_SET(path, doc, val, want)                                                           \
    do {                                                                                           \
        asl_err e_ = {0};                                                                          \
        char *got_ = set_text(path, doc, val, &e_);                                                \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("set %s in %s: got %s, want %s", path, doc, got_, want);                      \
        free(got_);                                                                                \
        asl_err_clear(&e_);                                                                        \
    } while (0)

static void test_result_path(void **state)
{
    (void)state;
    EXPECT_SET("$", "{\"a\":1}", "[1]", "[1]");
    EXPECT_SET("$.r", "{\"a\":1}", "2", "{\"a\":1,\"r\":2}");
    EXPECT_SET("$.a", "{\"a\":1,\"b\":2}", "\"x\"", "{\"a\":\"x\",\"b\":2}");
    EXPECT_SET("$.x.y.z", "{\"a\":1}", "true", "{\"a\":1,\"x\":{\"y\":{\"z\":true}}}");
    EXPECT_SET("$.a.b", "{\"a\":{\"c\":1}}", "2", "{\"a\":{\"c\":1,\"b\":2}}");
    EXPECT_SET("$['a b'].c", "{}", "1", "{\"a b\":{\"c\":1}}");
    EXPECT_SET("$.l[1].v", "{\"l\":[{},{\"w\":0}]}", "1", "{\"l\":[{},{\"w\":0,\"v\":1}]}");
    EXPECT_SET("$.l[-1]", "{\"l\":[1,2]}", "9", "{\"l\":[1,9]}");
    EXPECT_SET("$.a.b", "{\"a\":5}", "1", "<fail>");
    EXPECT_SET("$.a", "\"str\"", "1", "<fail>");
    EXPECT_SET("$.l[5]", "{\"l\":[1]}", "1", "<fail>");
    EXPECT_SET("$.a.b", "{\"a\":null}", "1", "<fail>");

    asl_err e = {0};
    char *r = set_text("$.partitioned", "\"{\\\"min\\\":1}\"", "1", &e);
    assert_string_equal(r, "<fail>");
    free(r);
    assert_string_equal(e.error, "States.ResultPathMatchFailure");
    assert_string_equal(e.cause, "Unable to apply ReferencePath $.partitioned to input "
                                 "\"{\\\"min\\\":1}\"");
    asl_err_clear(&e);
}

static void test_result_path_shares_subtrees(void **state)
{
    (void)state;
    asl_path *p;
    char err[64];
    assert_int_equal(asl_path_compile("$.a.new", ASL_PATH_REFERENCE, &p, err, sizeof err), 0);
    json_t *doc = J("{\"a\":{\"keep\":[1,2,3]},\"big\":{\"x\":[1]}}");
    json_t *val = J("{\"v\":1}");
    json_t *out;
    asl_err e = {0};
    assert_int_equal(asl_path_set(p, doc, val, &out, &e), 0);
    /* untouched subtrees are the same nodes, not copies */
    assert_ptr_equal(json_object_get(out, "big"), json_object_get(doc, "big"));
    assert_ptr_equal(json_object_get(json_object_get(out, "a"), "keep"),
                     json_object_get(json_object_get(doc, "a"), "keep"));
    assert_ptr_equal(json_object_get(json_object_get(out, "a"), "new"), val);
    /* objects on the way are new */
    assert_ptr_not_equal(out, doc);
    assert_ptr_not_equal(json_object_get(out, "a"), json_object_get(doc, "a"));
    assert_null(json_object_get(json_object_get(doc, "a"), "new"));
    json_decref(out);
    json_decref(doc);
    json_decref(val);
    asl_path_free(p);
}

static void test_eval_shares_by_reference(void **state)
{
    (void)state;
    asl_path *p;
    char err[64];
    json_t *doc = J("{\"a\":{\"b\":[1,2]}}"), *out;
    assert_int_equal(asl_path_compile("$.a.b", 0, &p, err, sizeof err), 0);
    assert_int_equal(asl_path_eval(p, doc, NULL, &out), 0);
    assert_ptr_equal(out, json_object_get(json_object_get(doc, "a"), "b"));
    json_decref(out);
    asl_path_free(p);
    json_decref(doc);
}

/* ---- asl_json ---- */

static void expect_text(const char *in, const char *want)
{
    json_t *v = J(in);
    char *t = asl_json_text(v);
    if (strcmp(t, want) != 0)
        fail_msg("text of %s: got %s want %s", in, t, want);
    free(t);
    json_decref(v);
}

static void test_json_text(void **state)
{
    (void)state;
    expect_text("{\"b\":1,\"a\":[true,false,null],\"c\":{}}", "{\"b\":1,\"a\":[true,false,null],\"c\":{}}");
    expect_text("\"a/b\\\\c\\\"d\"", "\"a/b\\\\c\\\"d\"");
    expect_text("\"\\n\\t\\r\\b\\f\\u0001\\u001f\"", "\"\\n\\t\\r\\b\\f\\u0001\\u001F\"");
    expect_text("\"caf\\u00e9 \\u20ac \\ud83d\\ude00\"", "\"café € 😀\"");
    expect_text("-12", "-12");
    expect_text("9007199254740993", "9007199254740993");
    expect_text("1.0", "1.0");
    expect_text("1.5", "1.5");
    expect_text("0.1", "0.1");
    expect_text("-0.25", "-0.25");
    expect_text("100.0", "100.0");
    expect_text("1234567.5", "1234567.5");
    expect_text("12345678.5", "1.23456785E7");
    expect_text("1e20", "1.0E20");
    expect_text("0.001", "0.001");
    expect_text("0.0001", "1.0E-4");
    expect_text("3.14159265358979", "3.14159265358979");
    expect_text("0.30000000000000004", "0.30000000000000004");
    expect_text("0.0", "0.0");
    expect_text("[]", "[]");
    char *t = asl_json_text(NULL);
    assert_string_equal(t, "null");
    free(t);
    /* the text reads back as the same value */
    json_t *v = J("[1.7976931348623157e308,5e-324,123.456,-1e-7]");
    t = asl_json_text(v);
    json_t *back = J(t);
    assert_true(json_equal(v, back));
    free(t);
    json_decref(v);
    json_decref(back);
}

static void test_json_parse(void **state)
{
    (void)state;
    char err[128];
    json_t *v = asl_json_parse("  \"x\" ", 6, err, sizeof err);
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "x");
    json_decref(v);
    v = asl_json_parse("12", 2, err, sizeof err);
    assert_int_equal(json_integer_value(v), 12);
    json_decref(v);
    assert_null(asl_json_parse("{\"a\":", 5, err, sizeof err));
    assert_true(err[0] != '\0');
    /* nesting bound */
    size_t n = ASL_MAX_DEPTH + 1;
    char *deep = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        deep[i] = '[';
        deep[n + i] = ']';
    }
    deep[2 * n] = '\0';
    assert_null(asl_json_parse(deep, 2 * n, err, sizeof err));
    v = asl_json_parse(deep + 1, 2 * n - 2, err, sizeof err); /* exactly the limit */
    assert_non_null(v);
    json_decref(v);
    free(deep);
    /* brackets inside strings do not count */
    v = asl_json_parse("\"[[[[\"", 6, err, sizeof err);
    assert_non_null(v);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dot_and_bracket),
        cmocka_unit_test(test_indexes_and_slices),
        cmocka_unit_test(test_wildcards_and_deep_scan),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_context_and_variables),
        cmocka_unit_test(test_compile_errors_and_flags),
        cmocka_unit_test(test_result_path),
        cmocka_unit_test(test_result_path_shares_subtrees),
        cmocka_unit_test(test_eval_shares_by_reference),
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_json_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
