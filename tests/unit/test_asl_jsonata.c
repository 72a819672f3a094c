/*
 * test_asl_jsonata.c - the JSONata expression language (asl_jsonata_*.c):
 * the behaviours recorded against AWS in shared/conformance (each marked
 * "AWS:"), jsonata 2.0.6 semantics checked against the reference engine
 * (sequences, predicates, operators, built-ins, errors), the Step Functions
 * additions, JSONata field templates and AWS's QueryEvaluationError causes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl_jsonata.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON %s: %s", text, je.text);
    return v;
}

/* JSON equality with numbers compared by value (1 == 1.0) */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        const char *k;
        json_t *x;
        if (json_object_size(a) != json_object_size(b))
            return 0;
        json_object_foreach((json_t *)a, k, x) {
            json_t *y = json_object_get(b, k);
            if (y == NULL || !same(x, y))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static json_t *vars_obj;
static json_t *lookup(void *ud, const char *name)
{
    (void)ud;
    return json_object_get(vars_obj, name);
}

static const char STATE_INPUT[] =
    "{\"a\":1,\"b\":[1,2,3],\"s\":\"Hello World\",\"o\":{\"x\":1,\"y\":[4,5]},"
    "\"items\":[{\"n\":\"a\",\"v\":1,\"t\":[1,2]},{\"n\":\"b\",\"v\":2,\"t\":[3]},{\"n\":\"c\",\"v\":3}],"
    "\"one\":[7],\"nested\":[[1,2],[3]],\"e\":[],\"nul\":null,\"f\":1.5}";

/* Evaluate expr with $states.input = input (JSON text; NULL: STATE_INPUT).
 * Returns compact text of the result, "undefined", or "ERR <cause>". */
static char *run(const char *expr, const char *input)
{
    asl_jsonata *e;
    char err[256];
    if (asl_jsonata_compile(expr, &e, err, sizeof err) < 0) {
        char *r = malloc(strlen(err) + 10);
        sprintf(r, "COMPILE %s", err);
        return r;
    }
    json_t *states = json_pack("{s:o,s:{s:{s:s,s:s}}}", "input", J(input ? input : STATE_INPUT), "context",
                               "State", "EnteredTime", "2024-01-02T03:04:05.678Z", "Name", "S");
    asl_rng rng = {42};
    asl_scope sc = {NULL, lookup, NULL, &rng};
    json_t *out = NULL;
    asl_err ae = {0};
    char *r;
    if (asl_jsonata_eval(e, states, &sc, &out, &ae) < 0) {
        assert_string_equal(ae.error, "States.QueryEvaluationError");
        r = malloc(strlen(ae.cause) + 8);
        sprintf(r, "ERR %s", ae.cause);
    } else if (out == NULL)
        r = strdup("undefined");
    else
        r = asl_json_text(out);
    json_decref(out);
    asl_err_clear(&ae);
    json_decref(states);
    asl_jsonata_free(e);
    return r;
}

typedef struct tcase {
    const char *expr;
    const char *input; /* NULL: STATE_INPUT */
    const char *want;  /* JSON text, "undefined", or "ERR <code>" (prefix of the jsonata error) */
} tcase;

static void check(const tcase *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char *got = run(t[i].expr, t[i].input);
        int ok;
        if (strncmp(t[i].want, "ERR ", 4) == 0 || strncmp(t[i].want, "COMPILE ", 8) == 0 ||
            strcmp(t[i].want, "undefined") == 0) {
            if (strncmp(t[i].want, "ERR ", 4) == 0) {
                const char *p = strstr(got, "evaluation. ");
                ok = p && strncmp(p + 12, t[i].want + 4, strlen(t[i].want + 4)) == 0;
            } else
                ok = strncmp(got, t[i].want, strlen(t[i].want)) == 0;
        } else {
            json_t *w = J(t[i].want), *g = json_loads(got, JSON_DECODE_ANY, NULL);
            ok = g && same(w, g);
            json_decref(w);
            json_decref(g);
        }
        if (!ok)
            fail_msg("%s\n   want: %s\n   got:  %s", t[i].expr, t[i].want, got);
        free(got);
    }
}

/* ---- behaviours recorded against AWS (shared/conformance) ------------- */

static void test_aws_recorded(void **st)
{
    (void)st;
    static const tcase t[] = {
        /* test_choice_singleton_composite, test_escape_sequence_parsing */
        {"$states.input.str_value = \"string literal\"", "{\"str_value\":\"string literal\"}", "true"},
        {"$states.input = '\"'", "\"\\\"\"", "true"},
        /* test_base_jsonata_regular_expressions */
        {"$contains(\"hello$world\", /^hello\\$/)", "{}", "true"},
        {"$contains('hello$world', /^hello\\$/)", "{}", "true"},
        {"$contains('hello$world', /^hello\\ /)", "{}", "false"},
        /* test_merge_with_dynamic_args */
        {"$merge([$states.input.part1, $states.input.part2])",
         "{\"part1\":{\"hello\":\"world\"},\"part2\":{\"foo\":\"bar\"}}", "{\"foo\":\"bar\",\"hello\":\"world\"}"},
        /* test_base_map ITEMS_DOUBLE_QUOTES, TOLERATED_FAILURE_COUNT */
        {"$number('2')", "{}", "2"},
        {"$variable := 1", "{}", "1"},
        /* test_choice_unsorted_parameters */
        {"$states.input.result.done", "{\"result\":{\"done\":true}}", "true"},
        {"$not($states.input.result.done)", "{\"result\":{\"done\":true}}", "false"},
        /* test_map_state_items_eval_jsonata */
        {"[0]", "{}", "[0]"},
        {"[1, 'two', 3]", "{}", "[1,\"two\",3]"},
        {"1", "{}", "1"},
        {"true", "{}", "true"},
        /* test_array_partition#0..19 (a sample) */
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0],\"snd\":1}", "[[0]]"},
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0],\"snd\":5}", "[[0]]"},
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0,1],\"snd\":1}", "[[0],[1]]"},
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0,1,2],\"snd\":3}", "[[0,1,2]]"},
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0,1,2,3],\"snd\":3}", "[[0,1,2],[3]]"},
        {"$partition($states.input.fst, $states.input.snd)", "{\"fst\":[0,1,2,3],\"snd\":5}", "[[0,1,2,3]]"},
        /* test_array_range#0..2: a one-item result is the item itself */
        {"$range($states.input.fst, $states.input.snd, $states.input.trd)", "{\"fst\":0,\"snd\":9,\"trd\":3}", "[0,3,6,9]"},
        {"$range($states.input.fst, $states.input.snd, $states.input.trd)", "{\"fst\":0,\"snd\":10,\"trd\":3}", "[0,3,6,9]"},
        {"$range($states.input.fst, $states.input.snd, $states.input.trd)", "{\"fst\":1,\"snd\":9,\"trd\":9}", "1"},
        /* test_parse#3..5 */
        {"$parse($states.input.FunctionInput)", "{\"FunctionInput\":\"true\"}", "true"},
        {"$parse($states.input.FunctionInput)", "{\"FunctionInput\":\"\\\"HelloWorld\\\"\"}", "\"HelloWorld\""},
        {"$parse($states.input.FunctionInput)", "{\"FunctionInput\":\"[1, 2, \\\"HelloWorld\\\"]\"}", "[1,2,\"HelloWorld\"]"},
        /* test_math_random_seeded: $randomSeeded does not exist */
        {"$randomSeeded($states.input.FunctionInput.fst)", "{\"FunctionInput\":\"fst\"}",
         "ERR T1006: Attempted to invoke a non-function"},
        /* test_base_cases BASE_DIRECT_EXPR (variable var_constant_1 = 1) */
        {"$sum($states.input.input_values) + $var_constant_1", "{\"input_values\":[1,2,3]}", "7"},
        {"$doesNotExist", "{}", "undefined"},
        {"$states.input.enigma.mystery.riddle", "{\"enigma\":{\"mystery\":{\"riddle\":\"r\"}}}", "\"r\""},
    };
    check(t, sizeof t / sizeof t[0]);
}

static void test_aws_causes(void **st)
{
    (void)st;
    /* test_math_random_seeded: the whole cause after the engine's prefix */
    asl_jsonata *e;
    char err[256];
    assert_int_equal(asl_jsonata_compile(" $randomSeeded($states.input.FunctionInput.fst) ", &e, err, sizeof err), 0);
    assert_string_equal(asl_jsonata_text(e), "$randomSeeded($states.input.FunctionInput.fst)");
    json_t *states = J("{\"input\":{\"FunctionInput\":\"fst\"}}"), *out = (json_t *)1;
    asl_err ae = {0};
    asl_scope sc = {NULL, lookup, NULL, NULL};
    assert_int_equal(asl_jsonata_eval_field(e, "Output/FunctionResult", states, &sc, &out, &ae), -1);
    assert_null(out);
    assert_string_equal(ae.error, "States.QueryEvaluationError");
    assert_string_equal(ae.cause, "The JSONata expression '$randomSeeded($states.input.FunctionInput.fst)' "
                                  "specified for the field 'Output/FunctionResult' threw an error during "
                                  "evaluation. T1006: Attempted to invoke a non-function");
    asl_err_clear(&ae);
    asl_jsonata_free(e);

    /* test_map_state_items_eval_jsonata_fail[function] */
    assert_int_equal(asl_jsonata_compile("$fn := function($x){$x}", &e, err, sizeof err), 0);
    assert_int_equal(asl_jsonata_eval_field(e, "Items", states, &sc, &out, &ae), -1);
    assert_string_equal(ae.cause, "The JSONata expression '$fn := function($x){$x}' specified for the field "
                                  "'Items' returned an unsupported result type.");
    asl_err_clear(&ae);
    asl_jsonata_free(e);

    /* test_map_state_items_variable_sampling[object], ..._fail[number] */
    assert_int_equal(asl_jsonata_compile("$ItemsVar", &e, err, sizeof err), 0);
    json_t *v = J("{\"foo\":\"bar\"}");
    asl_jsonata_err_type(e, "Items", "array", v, &ae);
    assert_string_equal(ae.cause, "The JSONata expression '$ItemsVar' specified for the field 'Items' returned "
                                  "an unexpected result type. Expected 'array', but was 'object' for value: "
                                  "{\"foo\":\"bar\"}");
    asl_err_clear(&ae);
    json_decref(v);
    v = json_null();
    asl_jsonata_err_type(e, "Items", "array", v, &ae);
    assert_string_equal(ae.cause, "The JSONata expression '$ItemsVar' specified for the field 'Items' returned "
                                  "an unexpected result type. Expected 'array', but was 'null' for value: null");
    asl_err_clear(&ae);
    asl_jsonata_free(e);

    /* test_undefined_reference[BASE_UNDEFINED_ARGUMENTS] */
    assert_int_equal(asl_jsonata_compile("$doesNotExist", &e, err, sizeof err), 0);
    asl_jsonata_err_undefined(e, "Arguments", &ae);
    assert_string_equal(ae.cause, "The JSONata expression '$doesNotExist' specified for the field 'Arguments' "
                                  "returned nothing (undefined).");
    asl_err_clear(&ae);
    asl_jsonata_free(e);
    json_decref(states);
}

/* ---- jsonata semantics (checked against jsonata 2.0.6) ------------------ */

static void test_paths(void **st)
{
    (void)st;
    static const tcase t[] = {
        {"$states.input.a", NULL, "1"},
        {"$states.input.b[0]", NULL, "1"},
        {"$states.input.b[-1]", NULL, "3"},
        {"$states.input.b[5]", NULL, "undefined"},
        {"$states.input.one", NULL, "[7]"},             /* an array stays an array */
        {"$states.input.items.n", NULL, "[\"a\",\"b\",\"c\"]"},
        {"$states.input.items[0].n", NULL, "\"a\""},
        {"$states.input.items[v > 1].n", NULL, "[\"b\",\"c\"]"},
        {"$states.input.items[n = \"b\"]", NULL, "{\"n\":\"b\",\"v\":2,\"t\":[3]}"},
        {"$states.input.items[n = \"z\"]", NULL, "undefined"},
        {"$states.input.items.t", NULL, "[1,2,3]"},     /* flattened */
        {"$states.input.items.t[0]", NULL, "[1,3]"},    /* per item */
        {"($states.input.items.t)[0]", NULL, "1"},      /* on the whole */
        {"$states.input.nested[0]", NULL, "[1,2]"},
        {"$states.input.o.*", NULL, "[1,4,5]"},
        {"$states.input.missing.deeper", NULL, "undefined"},
        {"$states.input.a[]", NULL, "[1]"},
        {"$states.input.items[0].n[]", NULL, "[\"a\"]"},
        {"$states.input.items[[0,2]].n", NULL, "[\"a\",\"c\"]"},
        {"$states.input.**.v", NULL, "[1,2,3]"},
        {"$states.input.b[$ > 1]", NULL, "[2,3]"},
        {"$states.input.b.($ * 10)", NULL, "[10,20,30]"},
        {"$states.input.items.{\"name\": n}", NULL, "[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]"},
        {"$states.input.`s`", NULL, "\"Hello World\""},
        {"$states.input.\"s\"", NULL, "\"Hello World\""},
        {"\"abc\".$uppercase()", NULL, "undefined"},    /* a string step is a name */
        {"$states.context.State.Name", NULL, "\"S\""},
        {"$vobj.a[1]", NULL, "2"},
        {"[[1,2],[3]][0]", NULL, "[1,2]"},
        {"[1,2,3].($ + 1)", NULL, "[2,3,4]"},
        {"$states.input.e", NULL, "[]"},
        {"$states.input.e[0]", NULL, "undefined"},
        {"$states.input.nul", NULL, "null"},
    };
    check(t, sizeof t / sizeof t[0]);
}

static void test_operators(void **st)
{
    (void)st;
    static const tcase t[] = {
        {"1 + 2 * 3", NULL, "7"},
        {"10 / 4", NULL, "2.5"},
        {"10 % 3", NULL, "1"},
        {"-5 + 2", NULL, "-3"},
        {"0.1 + 0.2", NULL, "0.30000000000000004"},
        {"1 = \"1\"", NULL, "false"},
        {"[1,2] = [1,2]", NULL, "true"},
        {"{\"a\":1} = {\"a\":1}", NULL, "true"},
        {"\"a\" < \"b\"", NULL, "true"},
        {"1 < \"b\"", NULL, "ERR T2009: The values 1 and \"b\" either side of operator \"<\" must be of the same data type"},
        {"$states.input.o < 1", NULL, "ERR T2010"},
        {"$states.input.a + \"x\"", NULL, "ERR T2002: The right side of the \"+\" operator must evaluate to a number"},
        {"\"x\" + 1", NULL, "ERR T2001"},
        {"$states.input.missing + 1", NULL, "undefined"},
        {"\"a\" & 1 & true & null", NULL, "\"a1truenull\""},
        {"\"a\" & [1,2] & {\"k\":0.1}", NULL, "\"a[1,2]{\\\"k\\\":0.1}\""},
        {"\"Hello\" & \" \" & $states.input.missing", NULL, "\"Hello \""},
        {"$states.input.a > 0 and $states.input.a < 2", NULL, "true"},
        {"$states.input.missing or 0", NULL, "false"},
        {"$states.input.a in [1,2]", NULL, "true"},
        {"3 in $states.input.b", NULL, "true"},
        {"true ? \"y\" : \"n\"", NULL, "\"y\""},
        {"false ? \"y\"", NULL, "undefined"},
        {"[1..3, 7]", NULL, "[1,2,3,7]"},
        {"[5..1]", NULL, "[]"},
        {"[1, [2, 3], $states.input.b]", NULL, "[1,[2,3],1,2,3]"},
        {"{\"a\": 1, \"b\": $states.input.missing}", NULL, "{\"a\":1}"},
        {"{\"a\": 1, \"a\": 2}", NULL, "ERR D1009"},
        {"($x := 5; $x * 2)", NULL, "10"},
        {"($f := function($n){ $n <= 1 ? 1 : $n * $f($n - 1) }; $f(5))", NULL, "120"},
        {"$states.input.b ~> $sum()", NULL, "6"},
        {"$states.input.s ~> $uppercase", NULL, "\"HELLO WORLD\""},
        {"-\"a\"", NULL, "ERR D1002"},
        {"$nope(1)", NULL, "ERR T1006"},
        {"sum(1)", NULL, "ERR T1005: Attempted to invoke a non-function. Did you mean $sum?"},
        {"/* comment */ 1", NULL, "1"},
        {"\"esc \\u00e9 \\n\"", NULL, "\"esc \\u00e9 \\n\""},
        {"1 +", NULL, "COMPILE S0207"},
        {"(1", NULL, "COMPILE S0203"},
        {"'unterminated", NULL, "COMPILE S0101"},
        {"1 := 2", NULL, "COMPILE S0212"},
    };
    check(t, sizeof t / sizeof t[0]);
}

static void test_functions(void **st)
{
    (void)st;
    static const tcase t[] = {
        {"$sum($states.input.items.v)", NULL, "6"},
        {"$sum(\"a\")", NULL, "ERR T0412"},
        {"$count($states.input.missing)", NULL, "0"},
        {"$max($states.input.b)", NULL, "3"},
        {"$min([])", NULL, "undefined"},
        {"$average([1,2,3,4])", NULL, "2.5"},
        {"$string(0.1 + 0.2)", NULL, "\"0.3\""},
        {"$string(1e21)", NULL, "\"1e+21\""},
        {"$string(1/3)", NULL, "\"0.333333333333333\""},
        {"$string(1e-7)", NULL, "\"1e-7\""},
        {"$string({\"a\":[1,2,\"x\"]})", NULL, "\"{\\\"a\\\":[1,2,\\\"x\\\"]}\""},
        {"$number(\"4.5e2\")", NULL, "450"},
        {"$number(\"abc\")", NULL, "ERR D3030: Unable to cast value to a number: \"abc\""},
        {"$boolean([0, 1])", NULL, "true"},
        {"$boolean({})", NULL, "false"},
        {"$exists($states.input.missing)", NULL, "false"},
        {"$length(\"h\\u00e9llo\")", NULL, "5"},
        {"$length(1)", NULL, "ERR T0410: Argument 1 of function \"length\" does not match function signature"},
        {"$substring(\"Hello World\", -5, 2)", NULL, "\"Wo\""},
        {"$substring(\"Hello World\", 3, 5)", NULL, "\"lo Wo\""},
        {"$substringBefore(\"Hello World\", \" \")", NULL, "\"Hello\""},
        {"$substringAfter(\"Hello World\", \"z\")", NULL, "\"Hello World\""},
        {"$uppercase(\"abc\") & $lowercase(\"ABC\")", NULL, "\"ABCabc\""},
        {"$trim(\"  a   b  \")", NULL, "\"a b\""},
        {"$pad(\"x\", -5, \"#\")", NULL, "\"####x\""},
        {"$contains(\"Hello\", /^h/i)", NULL, "true"},
        {"$split(\"a1b22c\", /\\d+/)", NULL, "[\"a\",\"b\",\"c\"]"},
        {"$split(\"a,b,c\", \",\", 2)", NULL, "[\"a\",\"b\"]"},
        {"$join([\"a\",\"b\"], \"-\")", NULL, "\"a-b\""},
        {"$replace(\"hello world\", \"o\", \"0\")", NULL, "\"hell0 w0rld\""},
        {"$replace(\"abc123\", /(\\d)/, \"<$1>\")", NULL, "\"abc<1><2><3>\""},
        {"$match(\"abc123\", /\\d/, 1).match", NULL, "\"1\""},
        {"$keys({\"a\":1})", NULL, "\"a\""},
        {"$keys($states.input.items)", NULL, "[\"n\",\"v\",\"t\"]"},
        {"$lookup($states.input.o, \"x\")", NULL, "1"},
        {"$merge([{\"a\":1},{\"b\":2},{\"a\":3}])", NULL, "{\"a\":3,\"b\":2}"},
        {"$append(1, [2])", NULL, "[1,2]"},
        {"$reverse([1,2,3])", NULL, "[3,2,1]"},
        {"$sort([3,1,2])", NULL, "[1,2,3]"},
        {"$sort([1,\"a\"])", NULL, "ERR D3070"},
        {"$sort($states.input.items, function($x, $y){ $x.v < $y.v }).n", NULL, "[\"c\",\"b\",\"a\"]"},
        {"$distinct([1,2,1,\"1\",[1],[1]])", NULL, "[1,2,\"1\",[1]]"},
        {"$abs(-5) + $floor(2.7) + $ceil(2.1)", NULL, "10"},
        {"[$round(2.5), $round(3.5), $round(1.2345, 2), $round(-2.5)]", NULL, "[2,4,1.23,-2]"},
        {"$power(2, 10)", NULL, "1024"},
        {"$sqrt(-1)", NULL, "ERR D3060"},
        {"$type(function(){1})", NULL, "\"function\""},
        {"$map([1,2,3], function($v, $i){ $v * $i })", NULL, "[0,2,6]"},
        {"$filter([1,2,3,4], function($v){ $v % 2 = 0 })", NULL, "[2,4]"},
        {"$reduce([1,2,3,4], function($a, $b){ $a + $b }, 10)", NULL, "20"},
        {"$each({\"a\":1,\"b\":2}, function($v, $k){ $k & $v })", NULL, "[\"a1\",\"b2\"]"},
        {"$sift({\"a\":1,\"b\":2}, function($v){ $v > 1 })", NULL, "{\"b\":2}"},
        {"$fromMillis(0)", NULL, "\"1970-01-01T00:00:00.000Z\""},
        {"$toMillis(\"2024-01-02T03:04:05.678Z\")", NULL, "1704164645678"},
        {"$now()", NULL, "\"2024-01-02T03:04:05.678Z\""},  /* from State.EnteredTime */
        {"$millis()", NULL, "1704164645678"},
        {"$base64decode($base64encode(\"hello\"))", NULL, "\"hello\""},
        {"$error(\"boom\")", NULL, "ERR D3137: boom"},
        {"$hash(\"hello\", \"SHA-256\")", NULL, "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\""},
        {"$hash(\"hello\", \"MD5\")", NULL, "\"5d41402abc4b2a76b9719d911017c592\""},
        {"$hash(\"abc\", \"SHA-1\")", NULL, "\"a9993e364706816aba3e25717850c26c9cd0d89d\""},
        {"$hash(\"hello\", \"CRC\")", NULL, "ERR T0410"},
        {"$random(7) = $random(7)", NULL, "true"},
        {"$random() < 1", NULL, "true"},
        {"$length($uuid())", NULL, "36"},
        {"$parse(\"{bad\")", NULL, "ERR D3140"},
    };
    check(t, sizeof t / sizeof t[0]);
}

/* ---- regexes with more than 10 capture groups ------------------------------
 * JavaScript RegExps (so jsonata's) have no limit on groups: every group is
 * reported, and $replace reads "$12" as group 12 when there are 12 or more
 * (as many digits as the group count has, one fewer when beyond it). Twelve
 * nested groups once ran the matcher past a fixed 10-group array. */

#define G12 "/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)(l)/"
#define NEST12 "/((((((((((((a))))))))))))/"
#define OPT11 "/(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(a)?(b)/"

static void test_regex_groups(void **st)
{
    (void)st;
    static const tcase t[] = {
        {"$match('abc', " NEST12 ")", NULL,
         "{\"match\":\"a\",\"index\":0,\"groups\":[\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
         "\"a\",\"a\",\"a\",\"a\"]}"},
        {"$match('xxabcdefghijklm', " G12 ")", NULL,
         "{\"match\":\"abcdefghijkl\",\"index\":2,\"groups\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\","
         "\"h\",\"i\",\"j\",\"k\",\"l\"]}"},
        {"$match('abcdefghijkl-abcdefghijkl', " G12 ").groups[11]", NULL, "[\"l\",\"l\"]"},
        {"$count($match('b', " OPT11 ").groups)", NULL, "12"},
        {"$match('b', " OPT11 ").groups[11]", NULL, "\"b\""},
        /* $replace: two-digit group references */
        {"$replace('abcdefghijkl', " G12 ", '$12$11$10$1')", NULL, "\"lkja\""},
        {"$replace('abcdefghijkl', " G12 ", '[$13|$0|$$12|$x|$]')", NULL, "\"[a3|abcdefghijkl|$12|$x|$]\""},
        {"$replace('ab-', /(a)(b)/, '$12')", NULL, "\"a2-\""}, /* fewer groups: "$1" then "2" */
        {"$replace('xbx', " OPT11 ", '[$11|$12]')", NULL, "\"x[|b]x\""}, /* group 11 took no part */
        {"$replace('abc', " NEST12 ", '<$12>')", NULL, "\"<a>bc\""},
        /* the other regex built-ins */
        {"$contains('xxabc', " NEST12 ")", NULL, "true"},
        {"$contains('xyz', " NEST12 ")", NULL, "false"},
        {"$split('1a2b3', /(((((((((((([a-z]))))))))))))/)", NULL, "[\"1\",\"2\",\"3\"]"},
        {"$split('abcdefghijkl+abcdefghijkl', " G12 ")", NULL, "[\"\",\"+\",\"\"]"},
    };
    check(t, sizeof t / sizeof t[0]);

    /* 150 groups of three characters each: "001002...150" */
    char subj[3 * 150 + 1], pat[5 * 150 + 1], expr[2048];
    for (int g = 1; g <= 150; g++) {
        snprintf(subj + 3 * (g - 1), 4, "%03d", g);
        memcpy(pat + 5 * (g - 1), "(...)", 5);
    }
    pat[5 * 150] = '\0';
    assert_true(snprintf(expr, sizeof expr, "$count($match('%s', /%s/).groups)", subj, pat) < (int)sizeof expr);
    char *got = run(expr, NULL);
    assert_string_equal(got, "150");
    free(got);
    assert_true(snprintf(expr, sizeof expr, "$match('%s', /%s/).groups[149]", subj, pat) < (int)sizeof expr);
    got = run(expr, NULL);
    assert_string_equal(got, "\"150\"");
    free(got);
    /* three digits with 150 groups; "$151" is beyond, so "$15" then "1" */
    assert_true(snprintf(expr, sizeof expr, "$replace('%s', /%s/, '$150 $100 $151 $15x $1')", subj, pat) < (int)sizeof expr);
    got = run(expr, NULL);
    assert_string_equal(got, "\"150 100 0151 015x 001\"");
    free(got);
}

/* ---- templates ------------------------------------------------------------ */

static void test_templates(void **st)
{
    (void)st;
    /* test_base_cases[BASE_LITERALS]: only strings that are exactly "{% %}"
     * are expressions; " {% states.input %} " and JSONPath-looking strings are
     * literal. */
    json_t *tj = J("{\"constant_not_jsonata\":\" {% states.input %} \",\"constant_varpath\":\"$no.such.var.path\","
                   "\"constant_jp_input.$\":\"$\",\"lst\":[null,0,0.1,true,[],{\"c\":0},\" {% x %} \"],"
                   "\"expr\":\"{% $sum($states.input.input_values) + $var_constant_1 %}\","
                   "\"nested\":{\"arr\":[1,\"{% $states.input.input_value %}\"]}}");
    json_t *states = J("{\"input\":{\"input_value\":\"string literal\",\"input_values\":[1,2,3]}}");
    asl_jtmpl *t;
    char err[256];
    assert_int_equal(asl_jtmpl_compile_field(tj, "Output", &t, err, sizeof err), 0);
    assert_false(asl_jtmpl_is_literal(t));
    assert_null(asl_jtmpl_expr(t));
    asl_rng rng = {1};
    asl_scope sc = {NULL, lookup, NULL, &rng};
    json_t *out;
    asl_err ae = {0};
    assert_int_equal(asl_jtmpl_eval(t, states, &sc, &out, &ae), 0);
    json_t *want = J("{\"constant_not_jsonata\":\" {% states.input %} \",\"constant_varpath\":\"$no.such.var.path\","
                     "\"constant_jp_input.$\":\"$\",\"lst\":[null,0,0.1,true,[],{\"c\":0},\" {% x %} \"],"
                     "\"expr\":7,\"nested\":{\"arr\":[1,\"string literal\"]}}");
    assert_true(same(out, want));
    json_decref(want);
    json_decref(out);
    asl_jtmpl_free(t);
    json_decref(tj);

    /* test_undefined_reference: undefined inside a template fails, naming the
     * field path */
    tj = J("{\"result\":\"{% $doesNotExist %}\"}");
    assert_int_equal(asl_jtmpl_compile_field(tj, "Output", &t, err, sizeof err), 0);
    assert_int_equal(asl_jtmpl_eval(t, states, &sc, &out, &ae), -1);
    assert_string_equal(ae.error, "States.QueryEvaluationError");
    assert_string_equal(ae.cause, "The JSONata expression '$doesNotExist' specified for the field 'Output/result' "
                                  "returned nothing (undefined).");
    asl_err_clear(&ae);
    asl_jtmpl_free(t);
    json_decref(tj);

    /* a whole-field expression */
    tj = json_string("{% $states.input.input_values %}");
    assert_int_equal(asl_jtmpl_compile_field(tj, "Items", &t, err, sizeof err), 0);
    assert_non_null(asl_jtmpl_expr(t));
    assert_int_equal(asl_jtmpl_eval(t, states, &sc, &out, &ae), 0);
    assert_int_equal(json_array_size(out), 3);
    json_decref(out);
    asl_jtmpl_free(t);
    json_decref(tj);

    /* literal templates are shared, not copied */
    tj = J("{\"a\":[1,2]}");
    assert_int_equal(asl_jtmpl_compile(tj, &t, err, sizeof err), 0);
    assert_true(asl_jtmpl_is_literal(t));
    assert_int_equal(asl_jtmpl_eval(t, states, &sc, &out, &ae), 0);
    assert_ptr_equal(out, tj);
    json_decref(out);
    asl_jtmpl_free(t);
    json_decref(tj);

    /* a bad expression fails at compile time */
    tj = J("{\"x\":\"{% 1 + %}\"}");
    assert_int_equal(asl_jtmpl_compile_field(tj, "Arguments", &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "Arguments/x"));
    json_decref(tj);

    json_t *s = json_string("{%%}");
    assert_true(asl_jsonata_is_expr(s));
    json_decref(s);
    s = json_string(" {% 1 %}");
    assert_false(asl_jsonata_is_expr(s));
    json_decref(s);
    json_decref(states);
}

/* ---- bounds: nothing crashes, runaway evaluations stop --------------------- */

static void test_bounds(void **st)
{
    (void)st;
    static const tcase t[] = {
        {"($f := function($n){ $f($n + 1) }; $f(0))", NULL, "ERR U1005"},
        {"[1..10000001]", NULL, "ERR D2014"},
        {"$count([1..100000])", NULL, "100000"},
        {"$contains(\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!\", /^(a|aa)*$/)", NULL, "ERR U1007"},
    };
    check(t, sizeof t / sizeof t[0]);
    /* deep nesting is refused at compile time, not by the stack */
    char deep[2000];
    memset(deep, '(', 1000);
    deep[1000] = '1';
    memset(deep + 1001, ')', 998);
    deep[1999] = '\0';
    asl_jsonata *e;
    char err[256];
    assert_int_equal(asl_jsonata_compile(deep, &e, err, sizeof err), -1);
}

int main(void)
{
    vars_obj = J("{\"var_constant_1\":1,\"vobj\":{\"a\":[1,2]}}");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_recorded), cmocka_unit_test(test_aws_causes),
        cmocka_unit_test(test_paths),        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_functions),    cmocka_unit_test(test_templates),
        cmocka_unit_test(test_bounds),       cmocka_unit_test(test_regex_groups),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    json_decref(vars_obj);
    return rc;
}
