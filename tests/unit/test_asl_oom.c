/*
 * test_asl_oom.c - the core's compile and validation paths when memory
 * runs out (test_run.c does the same for an execution's path).
 *
 * For each definition and N = 1, 2, ... the Nth allocation made by
 * asl_machine_compile_text (or asl_validate) fails, once. The answer must
 * then be one of:
 *   - SFN_ENOMEM, nothing kept (ASan finds no leak);
 *   - the answer without the failure (a valid definition compiles, an
 *     invalid one is refused with the same first diagnostic), and a
 *     compiled machine then runs exactly as the reference does (same
 *     status, same output) - an allocation failure must never pass for a
 *     compiled machine that lacks a part, nor for an invalid definition.
 * Never a crash. The loop ends at the first N no allocation reaches.
 *
 * OOM_TRACE=N prints the stack of allocation N when it fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "asl_drive.h"
#include "oom.h"

#define OOM_MAX 200000

/* JSONata: Assign, Output, Arguments, Choice Conditions, Map Items,
 * Parallel, Retry and Catch, a Fail with expressions. */
static const char jsonata_machine[] =
    "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{"
    "\"A\":{\"Type\":\"Pass\",\"Assign\":{\"xs\":\"{% [1,2,3] %}\",\"who\":\"{% $states.input.who %}\"},"
    "\"Output\":{\"n\":\"{% $count($xs) %}\",\"up\":\"{% $uppercase($who) %}\"},\"Next\":\"T\"},"
    "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
    "\"Arguments\":{\"FunctionName\":\"f\",\"Payload\":{\"n\":\"{% $states.input.n %}\"}},"
    "\"Output\":\"{% $merge([$states.input, {'t': $states.result}]) %}\","
    "\"Retry\":[{\"ErrorEquals\":[\"States.TaskFailed\"],\"MaxAttempts\":2}],"
    "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"Bad\"}],\"Next\":\"C\"},"
    "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Condition\":\"{% $states.input.n > 2 %}\","
    "\"Next\":\"M\"}],\"Default\":\"Bad\"},"
    "\"M\":{\"Type\":\"Map\",\"Items\":\"{% $xs %}\",\"ItemProcessor\":{\"StartAt\":\"I\","
    "\"States\":{\"I\":{\"Type\":\"Pass\",\"Output\":\"{% $states.input * 10 %}\",\"End\":true}}},"
    "\"Output\":{\"m\":\"{% $states.result %}\",\"s\":\"{% $sum($states.result) %}\"},\"Next\":\"P\"},"
    "\"P\":{\"Type\":\"Parallel\",\"Branches\":["
    "{\"StartAt\":\"B1\",\"States\":{\"B1\":{\"Type\":\"Pass\",\"Output\":\"{% $substring('abcdef', 1, 3) %}\",\"End\":true}}},"
    "{\"StartAt\":\"B2\",\"States\":{\"B2\":{\"Type\":\"Wait\",\"Seconds\":\"{% 1 %}\",\"End\":true}}}],"
    "\"Next\":\"S\"},"
    "\"Bad\":{\"Type\":\"Fail\",\"Error\":\"{% 'E' & $string($count($xs)) %}\",\"Cause\":\"{% $who %}\"},"
    "\"S\":{\"Type\":\"Succeed\"}}}";

/* JSONPath: intrinsics, ItemSelector, ResultSelector, Choice rules. */
static const char path_machine[] =
    "{\"StartAt\":\"A\",\"TimeoutSeconds\":60,\"States\":{"
    "\"A\":{\"Type\":\"Pass\",\"Parameters\":{\"f.$\":\"States.Format('hi {} {}', $.who, $.n)\","
    "\"a.$\":\"States.Array(1, 2, $.n)\",\"p.$\":\"States.ArrayPartition(States.ArrayRange(1, 9, 2), 2)\","
    "\"j.$\":\"States.JsonMerge($.o, States.StringToJson('{\\\"z\\\":1}'), false)\","
    "\"h.$\":\"States.Hash($.who, 'SHA-256')\",\"u.$\":\"States.ArrayUnique(States.Array(1, 1, 2))\","
    "\"ctx.$\":\"$$.Execution.Name\",\"who.$\":\"$.who\",\"n.$\":\"$.n\"},\"ResultPath\":\"$.p\",\"Next\":\"M\"},"
    "\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.p.a\",\"MaxConcurrency\":2,"
    "\"ItemSelector\":{\"v.$\":\"$$.Map.Item.Value\",\"i.$\":\"$$.Map.Item.Index\"},"
    "\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"INLINE\"},\"StartAt\":\"T\",\"States\":{"
    "\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:f\","
    "\"ResultSelector\":{\"ok.$\":\"$.ok\"},\"ResultPath\":\"$.r\",\"TimeoutSeconds\":5,\"End\":true}}},"
    "\"ResultPath\":\"$.m\",\"Next\":\"C\"},"
    "\"C\":{\"Type\":\"Choice\",\"Choices\":["
    "{\"And\":[{\"Variable\":\"$.n\",\"NumericGreaterThan\":1},{\"Not\":{\"Variable\":\"$.who\","
    "\"StringMatches\":\"x*\"}}],\"Next\":\"W\"},"
    "{\"Variable\":\"$.m[0].r.ok\",\"BooleanEquals\":false,\"Next\":\"F\"}],\"Default\":\"F\"},"
    "\"W\":{\"Type\":\"Wait\",\"SecondsPath\":\"$.n\",\"Next\":\"S\"},"
    "\"F\":{\"Type\":\"Fail\",\"ErrorPath\":\"$.who\",\"CausePath\":\"States.Format('n={}', $.n)\"},"
    "\"S\":{\"Type\":\"Succeed\",\"OutputPath\":\"$.p\"}}}";

/* Refused, each for another reason (a JSONPath, a JSONata expression, a
 * missing target, an unknown field, a Choice without rules). */
static const char *const invalid[] = {
    "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"InputPath\":\"$.[\",\"End\":true}}}",
    "{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\","
    "\"Output\":\"{% $x + %}\",\"End\":true}}}",
    "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"Nowhere\"},"
    "\"B\":{\"Type\":\"Succeed\"}}}",
    "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:r:1:function:f\","
    "\"Bogus\":1,\"End\":true}}}",
    "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Choice\",\"Choices\":[]}}}",
    "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Parameters\":"
    "{\"x.$\":\"States.Format('{} {}', $.a, States.Array(1, 'b'\"},\"End\":true}}}",
};

static const asl_exec_info INFO = {
    .execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e1",
    .execution_name = "e1",
    .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    .state_machine_name = "m",
    .role_arn = "arn:aws:iam::123456789012:role/r",
    .start_ms = 1700000000000LL,
    .seed = 7,
};

static void task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *a)
{
    (void)ctx;
    (void)c;
    (void)now_ms;
    a->kind = ASL_IN_TASK_SUCCEEDED;
    a->result_new = json_pack("{s:b,s:i}", "ok", 1, "n", 3);
    a->after_ms = 10;
}

/* Run m to its end (nothing failing): "STATUS output" (malloc'd). */
static char *outcome(const asl_machine *m)
{
    json_t *in = json_pack("{s:s,s:i,s:{s:i}}", "who", "ana", "n", 3, "o", "y", 2);
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_non_null(x);
    asl_drive_opts o = {.order = ASL_DRIVE_TIMED, .task = task};
    asl_drive *d = asl_drive_new(&o);
    assert_non_null(d);
    int st = asl_drive_run(d, x, INFO.start_ms);
    json_t *out = asl_exec_output_get(x);
    char *text = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *r = NULL;
    assert_true(asprintf(&r, "%d %s", st, text ? text : "-") > 0);
    free(text);
    asl_drive_free(d);
    asl_exec_free(x);
    json_decref(in);
    return r;
}

/* The definition file at path with its DefinitionSubstitutions
 * (${NameArn}) made ARNs: a Lambda function's, a topic's, a machine's. */
static char *read_file(const char *path);

static char *read_definition(const char *path)
{
    char *raw = read_file(path);
    assert_non_null(raw);
    size_t cap = strlen(raw) * 4 + 1, k = 0;
    char *s = malloc(cap);
    assert_non_null(s);
    for (const char *p = raw; *p;) {
        const char *e = p[0] == '$' && p[1] == '{' ? strchr(p, '}') : NULL;
        if (e == NULL) {
            s[k++] = *p++;
            continue;
        }
        int n = (int)(e - p - 2);
        const char *name = p + 2;
        k += (size_t)snprintf(s + k, cap - k, "%s%.*s",
                              strstr(name, "Topic") && strstr(name, "Topic") < e
                                  ? "arn:aws:sns:us-east-1:123456789012:"
                              : strstr(name, "StateMachine") && strstr(name, "StateMachine") < e
                                  ? "arn:aws:states:us-east-1:123456789012:stateMachine:"
                                  : "arn:aws:lambda:us-east-1:123456789012:function:",
                              n, name);
        p = e + 1;
    }
    s[k] = '\0';
    free(raw);
    return s;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Compile text with each allocation failing in turn. Returns how many
 * allocations the compile makes.
 *
 * The text is parsed first, outside the loop: jansson 2.14's lexer is not
 * safe when an allocation fails in it (it goes on past the end of its
 * buffer; valgrind shows the write), so the loop starts at the parsed
 * definition (asl_machine_compile). The text's own out-of-memory answer is
 * checked where jansson allocates first, before it reads anything. */
static long compile_everywhere(const char *what, const char *text)
{
    const char *only = getenv("OOM_ONLY"); /* debugging: one definition */
    if (only && strstr(what, only) == NULL)
        return 1000;
    size_t len = strlen(text);
    asl_machine *m = NULL;
    asl_diags ref;
    int ref_rc = asl_machine_compile_text(text, len, ASL_STANDARD, &m, &ref);
    char *ref_out = ref_rc == SFN_OK ? outcome(m) : NULL;
    asl_machine_free(m);

    asl_diags d1;
    oom_arm(1);
    int rc = asl_machine_compile_text(text, len, ASL_STANDARD, &m, &d1);
    assert_true(oom_disarm());
    assert_int_equal(rc, SFN_ENOMEM); /* not "invalid JSON" */
    assert_null(m);

    json_t *def = json_loads(text, 0, NULL);
    assert_non_null(def);
    long n = 1;
    int nomem = 0;
    for (; n < OOM_MAX; n++) {
        asl_diags d;
        m = NULL;
        oom_arm(n);
        rc = asl_machine_compile(def, ASL_STANDARD, &m, &d);
        int hit = oom_disarm();
        if (rc == SFN_ENOMEM) {
            assert_null(m);
            nomem++;
        } else if (rc != ref_rc) {
            fail_msg("%s: allocation %ld failed and the compile answered %d (without it: %d)%s%s",
                     what, n, rc, ref_rc, rc == SFN_EINVAL ? ": " : "",
                     rc == SFN_EINVAL && d.n ? d.d[0].message : "");
        } else if (rc == SFN_OK) {
            char *got = outcome(m);
            if (strcmp(got, ref_out) != 0)
                fail_msg("%s: allocation %ld failed; the machine compiled runs otherwise:\n"
                         "  %s\nagainst\n  %s",
                         what, n, got, ref_out);
            free(got);
        } else if (strcmp(d.d[0].message, ref.d[0].message) != 0) {
            fail_msg("%s: allocation %ld failed; refused with \"%s\" instead of \"%s\"", what, n,
                     d.d[0].message, ref.d[0].message);
        }
        asl_machine_free(m);
        if (!hit)
            break;
    }
    fprintf(stderr, "%s: %ld allocations, each failed once: %d answered ENOMEM\n", what, n - 1,
            nomem);
    assert_true(n < OOM_MAX);
    json_decref(def);
    free(ref_out);
    return n - 1;
}

/* asl_validate (ValidateStateMachineDefinition) with each allocation
 * failing: valid stays valid or ENOMEM, refused stays refused the same way. */
static void validate_everywhere(const char *what, const char *text)
{
    const char *only = getenv("OOM_ONLY");
    if (only && strstr(what, only) == NULL)
        return;
    json_t *def = json_loads(text, 0, NULL);
    assert_non_null(def);
    asl_diags ref;
    int ref_rc = asl_validate(def, ASL_STANDARD, &ref);
    long n = 1;
    for (; n < OOM_MAX; n++) {
        asl_diags d;
        oom_arm(n);
        int rc = asl_validate(def, ASL_STANDARD, &d);
        int hit = oom_disarm();
        if (rc != SFN_ENOMEM && rc != ref_rc)
            fail_msg("%s: validation with allocation %ld failing answered %d (without: %d)", what,
                     n, rc, ref_rc);
        if (rc == SFN_EINVAL && strcmp(d.d[0].message, ref.d[0].message) != 0)
            fail_msg("%s: validation with allocation %ld failing said \"%s\"", what, n,
                     d.d[0].message);
        if (!hit)
            break;
    }
    assert_true(n < OOM_MAX);
    json_decref(def);
}

static void test_compile_valid(void **state)
{
    (void)state;
    static const char *const files[] = {"statemachine/trip_saga.asl.json",
                                        "statemachine/compensate_trip.asl.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", SFN_SOURCE_DIR, files[i]);
        char *text = read_definition(path);
        assert_true(compile_everywhere(files[i], text) > 100);
        validate_everywhere(files[i], text);
        free(text);
    }
    assert_true(compile_everywhere("jsonata machine", jsonata_machine) > 100);
    validate_everywhere("jsonata machine", jsonata_machine);
    assert_true(compile_everywhere("jsonpath machine", path_machine) > 100);
    validate_everywhere("jsonpath machine", path_machine);
}

static void test_compile_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char what[32];
        snprintf(what, sizeof what, "invalid[%zu]", i);
        compile_everywhere(what, invalid[i]);
        validate_everywhere(what, invalid[i]);
    }
}

int main(void)
{
    oom_init(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_valid),
        cmocka_unit_test(test_compile_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
