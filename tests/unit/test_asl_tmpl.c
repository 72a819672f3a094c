/*
 * test_asl_tmpl.c - payload templates: ".$" keys (paths, $$, $var,
 * intrinsics), nesting through objects and arrays, literal sharing, and
 * AWS's errors (States.Runtime cause text for a path that matches
 * nothing, States.IntrinsicFailure, compile-time messages).
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

static asl_rng rng = {7};

/* Result text or "ERR <error>: <cause>". */
static char *run(const char *tmpl, const char *input)
{
    json_t *t = J(tmpl), *in = J(input), *out = NULL;
    json_t *ctx = J("{\"Execution\":{\"Id\":\"arn:exec\"},\"Map\":{\"Item\":{\"Index\":2,\"Value\":\"B\"}}}");
    asl_scope sc = {ctx, lookup, NULL, &rng};
    asl_tmpl *c;
    char err[256];
    if (asl_tmpl_compile(t, "Parameters", &c, err, sizeof err) < 0)
        fail_msg("compile %s: %s", tmpl, err);
    json_decref(t);
    asl_err e = {0};
    char *r;
    if (asl_tmpl_eval(c, in, &sc, &out, &e) == 0)
        r = asl_json_text(out);
    else if (asprintf(&r, "ERR %s: %s", e.error, e.cause ? e.cause : "") < 0)
        abort();
    asl_err_clear(&e);
    asl_tmpl_free(c);
    json_decref(out);
    json_decref(in);
    json_decref(ctx);
    return r;
}

#define EXPECT(tmpl, input, want)                                                                  \
    do {                                                                                           \
        char *got_ = run(tmpl, input);                                                             \
        if (strcmp(got_, want) != 0)                                                               \
            fail_msg("%s on %s:\n got  %s\n want %s", tmpl, input, got_, want);                    \
        free(got_);                                                                                \
    } while (0)

static void test_paths_and_literals(void **state)
{
    (void)state;
    EXPECT("{\"flagged\":true,\"parts\":{\"first.$\":\"$.vals[0]\",\"last3.$\":\"$.vals[3:]\"}}",
           "{\"flagged\":7,\"vals\":[0,10,20,30,40,50]}",
           "{\"flagged\":true,\"parts\":{\"first\":0,\"last3\":[30,40,50]}}");
    EXPECT("{\"FromInput.$\":\"$.users[?(@.status == 0)]\"}",
           "{\"users\":[{\"status\":0,\"year\":1997},{\"status\":1,\"year\":1998}]}",
           "{\"FromInput\":[{\"status\":0,\"year\":1997}]}");
    EXPECT("{\"item.$\":\"$.items[*]\"}", "{}", "{\"item\":[]}");
    EXPECT("{\"all.$\":\"$\",\"c\":\"$.not-a-path\",\"n\":null,\"l\":[1,\"$.x\"]}", "{\"x\":1}",
           "{\"all\":{\"x\":1},\"c\":\"$.not-a-path\",\"n\":null,\"l\":[1,\"$.x\"]}");
    EXPECT("{}", "{\"x\":1}", "{}");
    /* context object and variables */
    EXPECT("{\"id.$\":\"$$.Execution.Id\",\"i.$\":\"$$.Map.Item.Index\",\"v.$\":\"$$.Map.Item.Value\"}",
           "{}", "{\"id\":\"arn:exec\",\"i\":2,\"v\":\"B\"}");
    vars = J("{\"Question\":\"Who?\",\"obj\":{\"a\":{\"b\":3}}}");
    EXPECT("{\"q.$\":\"$Question\",\"b.$\":\"$obj.a.b\"}", "{}", "{\"q\":\"Who?\",\"b\":3}");
    json_decref(vars);
    vars = NULL;
}

static void test_arrays_and_nesting(void **state)
{
    (void)state;
    EXPECT("{\"list\":[{\"a.$\":\"$.x\"},[{\"b.$\":\"$.y\"}],3,{\"lit\":true}]}", "{\"x\":1,\"y\":2}",
           "{\"list\":[{\"a\":1},[{\"b\":2}],3,{\"lit\":true}]}");
    EXPECT("{\"a\":{\"b\":{\"c\":{\"d.$\":\"$.v\",\"e\":1}}}}", "{\"v\":\"deep\"}",
           "{\"a\":{\"b\":{\"c\":{\"d\":\"deep\",\"e\":1}}}}");
    /* key order is the template's */
    EXPECT("{\"z.$\":\"$.a\",\"y\":1,\"x.$\":\"$.b\"}", "{\"a\":1,\"b\":2}",
           "{\"z\":1,\"y\":1,\"x\":2}");
    /* a key that is exactly ".$" or has .$ elsewhere stays literal */
    EXPECT("{\"a.$b\":\"$.x\"}", "{\"x\":1}", "{\"a.$b\":\"$.x\"}");
}

static void test_intrinsics(void **state)
{
    (void)state;
    EXPECT("{\"s.$\":\"States.Format('Hello {}', $.n)\",\"u\":{\"r.$\":\"States.ArrayRange(0, 3, 1)\"}}",
           "{\"n\":\"Ann\"}", "{\"s\":\"Hello Ann\",\"u\":{\"r\":[0,1,2,3]}}");
    EXPECT("{\"x.$\":\"States.ArrayGetItem($.a, 9)\"}", "{\"a\":[1]}",
           "ERR States.IntrinsicFailure: Invalid arguments in States.ArrayGetItem: the index 9 is "
           "out of bounds for an array of size 1");
    /* a path argument that matches nothing names the field */
    EXPECT("{\"x.$\":\"States.Format('{}', $.nope)\"}", "{\"a\":1}",
           "ERR States.Runtime: The JSONPath '$.nope' specified for the field 'x.$' could not be "
           "found in the input '{\"a\":1}'");
}

static void test_runtime_errors(void **state)
{
    (void)state;
    /* AWS: "The JSONPath '$.no_such_jsonpath' specified for the field 'value.$' could not be
     * found in the input '<input>'" (conformance test_invalid_jsonpath) */
    EXPECT("{\"value.$\":\"$.no_such_jsonpath\"}", "{\"int-literal\":0}",
           "ERR States.Runtime: The JSONPath '$.no_such_jsonpath' specified for the field "
           "'value.$' could not be found in the input '{\"int-literal\":0}'");
    EXPECT("{\"outer\":[{\"in.$\":\"$.a.b\"}]}", "{\"a\":{\"c\":\"x/y\"}}",
           "ERR States.Runtime: The JSONPath '$.a.b' specified for the field 'in.$' could not be "
           "found in the input '{\"a\":{\"c\":\"x/y\"}}'");
    /* a $$ path is looked up in (and reported against) the context object */
    EXPECT("{\"c.$\":\"$$.Nope\"}", "{}",
           "ERR States.Runtime: The JSONPath '$$.Nope' specified for the field 'c.$' could not be "
           "found in the input '{\"Execution\":{\"Id\":\"arn:exec\"},\"Map\":{\"Item\":{\"Index\":2,"
           "\"Value\":\"B\"}}}'");
}

static void test_literals_shared(void **state)
{
    (void)state;
    json_t *t = J("{\"lit\":{\"big\":[1,2,3]},\"dyn.$\":\"$.x\",\"arr\":[{\"k\":1}]}");
    asl_tmpl *c;
    char err[128];
    assert_int_equal(asl_tmpl_compile(t, "Parameters", &c, err, sizeof err), 0);
    json_t *in = J("{\"x\":{\"deep\":true}}"), *out;
    asl_err e = {0};
    assert_int_equal(asl_tmpl_eval(c, in, NULL, &out, &e), 0);
    assert_ptr_equal(json_object_get(out, "lit"), json_object_get(t, "lit"));
    assert_ptr_equal(json_object_get(out, "arr"), json_object_get(t, "arr"));
    assert_ptr_equal(json_object_get(out, "dyn"), json_object_get(in, "x"));
    json_decref(out);
    /* a template without any .$ is returned as the very same value */
    asl_tmpl *c2;
    json_t *t2 = J("{\"a\":[1,{\"b\":2}]}");
    assert_int_equal(asl_tmpl_compile(t2, "ResultSelector", &c2, err, sizeof err), 0);
    assert_int_equal(asl_tmpl_eval(c2, in, NULL, &out, &e), 0);
    assert_ptr_equal(out, t2);
    json_decref(out);
    asl_tmpl_free(c2);
    json_decref(t2);
    asl_tmpl_free(c);
    json_decref(t);
    json_decref(in);
}

static void test_compile_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"a.$\":1}",
        "{\"a.$\":\"nope\"}",
        "{\"a.$\":\"$.x[\"}",
        "{\"a.$\":\"States.Nope()\"}",
        "{\"a.$\":\"States.Format()\"}",
        "{\"o\":{\"l\":[{\"a.$\":\"$$$\"}]}}",
        "{\"a.$\":null}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *t = J(bad[i]);
        asl_tmpl *c = NULL;
        char err[256] = "";
        if (asl_tmpl_compile(t, "Parameters", &c, err, sizeof err) == 0) {
            asl_tmpl_free(c);
            fail_msg("compiled bad template %s", bad[i]);
        }
        assert_non_null(strstr(err, "The value for the field 'a.$'"));
        json_decref(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_and_literals), cmocka_unit_test(test_arrays_and_nesting),
        cmocka_unit_test(test_intrinsics),         cmocka_unit_test(test_runtime_errors),
        cmocka_unit_test(test_literals_shared),    cmocka_unit_test(test_compile_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
