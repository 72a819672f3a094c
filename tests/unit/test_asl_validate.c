/*
 * test_asl_validate.c - definition validation (asl_validate) and the
 * InvalidDefinition cause text (asl_diags_cause).
 *
 * Besides hand-written cases, two data-driven checks run over the
 * AWS-recorded conformance files when they can be found (walking up from
 * the working directory and from argv[0]; SFN_CONFORMANCE_DIR overrides):
 *   validation.jsonl - every definition error must be refused; how many
 *                      causes match AWS's text exactly is printed;
 *   cases.jsonl, lambda_cases.jsonl - every definition must be accepted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asl.h"
/* The compiled form, to see targets resolved to indices; its `state` type
 * is renamed so cmocka's `void **state` parameters do not shadow it. */
#define state compiled_state
#include "asl_machine_int.h"
#undef state
#include <time.h>

static const char *g_argv0;

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (v == NULL)
        fail_msg("bad JSON in test: %s (%s)", text, e.text);
    return v;
}

/* Validate text; expect refusal whose cause contains want (or acceptance
 * when want is NULL). */
static void check(const char *def, int type, const char *want)
{
    json_t *d = J(def);
    asl_diags diags;
    char cause[8192];
    int rc = asl_validate(d, type, &diags);
    asl_diags_cause(&diags, cause, sizeof cause);
    if (want == NULL) {
        if (rc != 0)
            fail_msg("refused %s: %s", def, cause);
    } else {
        if (rc == 0)
            fail_msg("accepted %s (wanted '%s')", def, want);
        assert_int_equal(rc, SFN_EINVAL);
        assert_true(diags.n > 0);
        if (strstr(cause, want) == NULL)
            fail_msg("definition %s\n  cause: %s\n  lacks: %s", def, cause, want);
    }
    json_decref(d);
}

#define PASS_END "{\"Type\":\"Pass\",\"End\":true}"

static void test_top_level(void **state)
{
    (void)state;
    check("{\"StartAt\":\"A\",\"States\":{\"A\":" PASS_END "}}", ASL_STANDARD, NULL);
    check("{\"Comment\":\"BASE_INVALID_DER\",\"StartAt\":\"State_1\"}", ASL_STANDARD,
          "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'");
    check("{\"States\":{\"A\":" PASS_END "}}", ASL_STANDARD, "These fields are required: [StartAt] at /");
    check("{\"StartAt\":\"A\",\"States\":{}}", ASL_STANDARD, "non-empty");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":" PASS_END "},\"Foo\":1}", ASL_STANDARD,
          "Field 'Foo' is not supported at /");
    check("{\"StartAt\":\"A\",\"Version\":\"2.0\",\"States\":{\"A\":" PASS_END "}}", ASL_STANDARD, "/Version");
    check("{\"StartAt\":\"A\",\"QueryLanguage\":\"XPath\",\"States\":{\"A\":" PASS_END "}}", ASL_STANDARD,
          "[JSONPath, JSONata] at /QueryLanguage");
    check("{\"StartAt\":\"B\",\"States\":{\"A\":" PASS_END "}}", ASL_STANDARD,
          "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /StartAt");
    json_t *arr = J("[]");
    asl_diags d;
    assert_int_equal(asl_validate(arr, ASL_STANDARD, &d), SFN_EINVAL);
    json_decref(arr);
}

static void test_graph(void **state)
{
    (void)state;
    /* recorded by AWS (localstack #11978): both diagnostics, joined by ", " */
    check("{\"StartAt\":\"pass1\",\"States\":{\"pass1\":{\"Type\":\"Pass\",\"Next\":\"pass3\"},\"pass2\":" PASS_END
          "}}",
          ASL_STANDARD,
          "Invalid State Machine Definition: 'MISSING_TRANSITION_TARGET: Missing 'Next' target: pass3 at "
          "/States/pass1/Next, MISSING_TRANSITION_TARGET: State \"pass2\" is not reachable. at /States/pass2'");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"B\"},\"B\":{\"Type\":\"Pass\",\"Next\":\"A\"}}}",
          ASL_STANDARD, "MISSING_END_STATE: Workflow has no terminal state at null");
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,"
          "\"Next\":\"Nope\"}],\"Default\":\"D\"},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "Missing 'Next' target: Nope at /States/C/Choices[0]/Next");
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,"
          "\"Next\":\"D\"}],\"Default\":\"Nope\"},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "Missing 'Next' target: Nope at /States/C/Default");
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
          "\"End\":true,\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"Nope\"}]}}}",
          ASL_STANDARD, "Missing 'Next' target: Nope at /States/T/Catch[0]/Next");
    /* reachable through a catcher and a choice default */
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
          "\"Next\":\"C\",\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"F\"}]},"
          "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,\"Next\":\"F\"}],\"Default\":\"S\"},"
          "\"F\":{\"Type\":\"Fail\"},\"S\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, NULL);
    /* a branch is its own scope */
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[{\"StartAt\":\"X\","
          "\"States\":{\"X\":{\"Type\":\"Pass\",\"Next\":\"P\"}}}]}}}",
          ASL_STANDARD, "Missing 'Next' target: P at /States/P/Branches[0]/States/X/Next");
}

static void test_state_fields(void **state)
{
    (void)state;
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Bogus\",\"End\":true}}}", ASL_STANDARD,
          "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map] "
          "at /States/A/Type");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"End\":true}}}", ASL_STANDARD,
          "These fields are required: [Type] at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Seconds\":3}}}", ASL_STANDARD,
          "Field 'Seconds' is not supported at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Map\",\"End\":true,\"TimeoutSeconds\":3,"
          "\"ItemProcessor\":{\"StartAt\":\"B\",\"States\":{\"B\":" PASS_END "}}}}}",
          ASL_STANDARD, "Field 'TimeoutSeconds' is not supported at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\"}}}", ASL_STANDARD, "[Next, End] at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Next\":\"A\"}}}", ASL_STANDARD,
          "[Next, End] at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Succeed\",\"End\":true}}}", ASL_STANDARD,
          "Field 'End' is not supported at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Fail\",\"Error\":\"E\",\"ErrorPath\":\"$.e\"}}}",
          ASL_STANDARD, "There should only be one of the following fields: [Error, ErrorPath] at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Fail\",\"ErrorPath\":\"States.Format('{}', $.e)\","
          "\"CausePath\":\"$.c\"}}}",
          ASL_STANDARD, NULL);
    char name[200];
    memset(name, 'n', 81);
    name[81] = '\0';
    char def[512];
    snprintf(def, sizeof def, "{\"StartAt\":\"%s\",\"States\":{\"%s\":" PASS_END "}}", name, name);
    check(def, ASL_STANDARD, "maximum length of 80");
    name[80] = '\0';
    snprintf(def, sizeof def, "{\"StartAt\":\"%s\",\"States\":{\"%s\":" PASS_END "}}", name, name);
    check(def, ASL_STANDARD, NULL);
}

static void test_wait(void **state)
{
    (void)state;
    check("{\"StartAt\":\"WaitUntil\",\"States\":{\"WaitUntil\":{\"End\":true,\"Timestamp\":\"2016-12-05T21:29:29\","
          "\"Type\":\"Wait\"}}}",
          ASL_STANDARD,
          "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: String does not match RFC3339 timestamp at "
          "/States/WaitUntil/Timestamp'");
    check("{\"StartAt\":\"W\",\"States\":{\"W\":{\"End\":true,\"Timestamp\":\"2016-12-05T21:29:29Z\",\"Type\":\"Wait\"}}}",
          ASL_STANDARD, NULL);
    check("{\"StartAt\":\"W\",\"States\":{\"W\":{\"End\":true,\"Type\":\"Wait\"}}}", ASL_STANDARD,
          "[Seconds, Timestamp, SecondsPath, TimestampPath] at /States/W");
    check("{\"StartAt\":\"W\",\"States\":{\"W\":{\"End\":true,\"Seconds\":1,\"SecondsPath\":\"$.s\",\"Type\":\"Wait\"}}}",
          ASL_STANDARD, "There should only be one of the following fields");
    check("{\"StartAt\":\"W\",\"States\":{\"W\":{\"End\":true,\"Seconds\":-1,\"Type\":\"Wait\"}}}", ASL_STANDARD,
          "at /States/W/Seconds");
    check("{\"StartAt\":\"W\",\"States\":{\"W\":{\"End\":true,\"SecondsPath\":\"s\",\"Type\":\"Wait\"}}}", ASL_STANDARD,
          "The value for the field 'SecondsPath' must be a valid JSONPath at /States/W/SecondsPath");
}

static void test_paths_and_templates(void **state)
{
    (void)state;
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"InputPath\":\"$.a\","
          "\"OutputPath\":null,\"ResultPath\":\"$.r\"}}}",
          ASL_STANDARD, NULL);
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"InputPath\":\"a.b\"}}}", ASL_STANDARD,
          "'InputPath' must be a valid JSONPath at /States/A/InputPath");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"ResultPath\":\"$.a[*]\"}}}",
          ASL_STANDARD, "at /States/A/ResultPath");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Assign\":{\"bad-name\":1}}}}",
          ASL_STANDARD, "INVALID_VARIABLE_NAME");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Assign\":{\"ok_1\":1,\"x.$\":\"$.a\"}}}}",
          ASL_STANDARD, NULL);
}

static void test_retry_catch(void **state)
{
    (void)state;
#define TASK_WITH(extra)                                                                                     \
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\"," \
    "\"End\":true," extra "},\"H\":{\"Type\":\"Succeed\"}}}"
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[\"States.ALL\",\"X\"]}]"), ASL_STANDARD,
          "States.ALL must appear alone and at end of list at /States/T/Retry[0]/ErrorEquals");
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"]},{\"ErrorEquals\":[\"X\"]}]"), ASL_STANDARD,
          "at /States/T/Retry[0]/ErrorEquals");
    check(TASK_WITH("\"Retry\":[{\"MaxAttempts\":2}]"), ASL_STANDARD,
          "These fields are required: [ErrorEquals] at /States/T/Retry[0]");
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[]}]"), ASL_STANDARD, "Value cannot be empty");
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[\"X\"],\"JitterStrategy\":\"HALF\"}]"), ASL_STANDARD, "[NONE, FULL]");
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[\"X\"],\"BackoffRate\":0.5}]"), ASL_STANDARD, "BackoffRate");
    check(TASK_WITH("\"Catch\":[{\"ErrorEquals\":[\"X\"]}]"), ASL_STANDARD,
          "These fields are required: [Next] at /States/T/Catch[0]");
    check(TASK_WITH("\"Retry\":[{\"ErrorEquals\":[\"X\"],\"IntervalSeconds\":2,\"MaxAttempts\":0,\"BackoffRate\":1.5,"
                    "\"MaxDelaySeconds\":5,\"JitterStrategy\":\"FULL\"},{\"ErrorEquals\":[\"States.ALL\"]}],"
                    "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"H\",\"ResultPath\":\"$.err\"}]"),
          ASL_STANDARD, NULL);
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Retry\":[]}}}", ASL_STANDARD,
          "Field 'Retry' is not supported at /States/A");
}

static void test_task(void **state)
{
    (void)state;
    check("{\"StartAt\":\"Query\",\"States\":{\"Query\":{\"End\":true,\"Resource\":\"arn:aws:states:::dynamodb:query\","
          "\"Type\":\"Task\"}}}",
          ASL_STANDARD,
          "SCHEMA_VALIDATION_FAILED: The resource provided arn:aws:states:::dynamodb:query is not recognized. The value "
          "is not a valid resource ARN, or the resource is not available in this region. at /States/Query/Resource");
    const char *ok[] = {"arn:aws:lambda:us-east-1:111111111111:function:f",
                        "arn:aws:lambda:us-east-1:111111111111:function:f:live",
                        "arn:aws:states:::lambda:invoke",
                        "arn:aws:states:::lambda:invoke.waitForTaskToken",
                        "arn:aws:states:::dynamodb:putItem",
                        "arn:aws:states:::aws-sdk:dynamodb:query",
                        "arn:aws:states:::states:startExecution.sync:2",
                        "arn:aws:states:us-east-1:123456789012:activity:act",
                        "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                        /* AWS took this one (a recorded TestState): any account text */
                        "arn:aws:lambda:your-region:your-account-id:function:f"};
    const char *bad[] = {"lambda_func", "arn:aws:lambda:us-east-1::function:f", "arn:aws:states:::nosuch:thing",
                         "arn:aws:states:::lambda:invoke.async", "arn:aws:s3:::bucket", ""};
    char def[512];
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        snprintf(def, sizeof def, "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"%s\",\"End\":true}}}",
                 ok[i]);
        check(def, ASL_STANDARD, NULL);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(def, sizeof def, "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"%s\",\"End\":true}}}",
                 bad[i]);
        check(def, ASL_STANDARD, "is not recognized");
    }
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"End\":true}}}", ASL_STANDARD,
          "These fields are required: [Resource] at /States/T");
    check("{\"StartAt\":\"S\",\"States\":{\"S\":{\"End\":true,\"Resource\":\"arn:aws:states:::states:startExecution.sync\","
          "\"Type\":\"Task\"}}}",
          ASL_EXPRESS,
          "'SCHEMA_VALIDATION_FAILED: Express state machine does not support '.sync' service integration at "
          "/States/S/Resource'");
    check("{\"StartAt\":\"S\",\"States\":{\"S\":{\"End\":true,\"Resource\":\"arn:aws:states:::sns:publish.waitForTaskToken\","
          "\"Type\":\"Task\"}}}",
          ASL_EXPRESS, "service integration  at /States/S/Resource");
    check("{\"StartAt\":\"S\",\"States\":{\"S\":{\"End\":true,\"Resource\":\"arn:aws:states:::sns:publish.waitForTaskToken\","
          "\"Type\":\"Task\"}}}",
          ASL_STANDARD, NULL);
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"State0\",\"States\":{\"State0\":{\"Arguments\":\"{% $states.input %}\","
          "\"Credentials\":{},\"End\":true,\"Resource\":\"arn:aws:states:::lambda:invoke\",\"Type\":\"Task\"}}}",
          ASL_STANDARD,
          "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: The field 'RoleArn' is required but was missing "
          "at /States/State0/Credentials'");
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
          "\"End\":true,\"TimeoutSeconds\":5,\"HeartbeatSeconds\":10}}}",
          ASL_STANDARD, "HeartbeatSeconds");
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\","
          "\"End\":true,\"TimeoutSeconds\":5,\"TimeoutSecondsPath\":\"$.t\"}}}",
          ASL_STANDARD, "[TimeoutSeconds, TimeoutSecondsPath]");
}

static void test_query_language(void **state)
{
    (void)state;
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,"
          "\"InputPath\":\"$.a\"}}}",
          ASL_STANDARD,
          "The QueryLanguage is set to 'JSONata', but field 'InputPath' is only supported for the 'JSONPath' "
          "QueryLanguage at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"Output\":{}}}}", ASL_STANDARD,
          "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' "
          "QueryLanguage at /States/A");
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,"
          "\"QueryLanguage\":\"JSONPath\"}}}",
          ASL_STANDARD, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine at /States/A");
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"QueryLanguage\":\"JSONata\","
          "\"Output\":\"{% $states.input %}\"}}}",
          ASL_STANDARD, NULL);
    check("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"QueryLanguage\":\"JSONata\","
          "\"Output\":\"{% $states.input \"}}}",
          ASL_STANDARD, "JSONata string");
    check("{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true,\"ItemProcessor\":{\"QueryLanguage\":"
          "\"JSONata\",\"StartAt\":\"B\",\"States\":{\"B\":" PASS_END "}}}}}",
          ASL_STANDARD, "Field 'QueryLanguage' is not supported at /States/M/ItemProcessor");
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{"
          "\"Condition\":\"{% $states.input.a = 1 %}\",\"Next\":\"D\"}],\"Default\":\"D\"},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, NULL);
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{"
          "\"Variable\":\"$.a\",\"IsNull\":true,\"Next\":\"D\"}]},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "field 'Variable' is only supported for the 'JSONPath' QueryLanguage");
    check("{\"QueryLanguage\":\"JSONata\",\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"End\":true,"
          "\"Seconds\":\"{% $states.input.s %}\"}}}",
          ASL_STANDARD, NULL);
}

static void test_choice_and_map(void **state)
{
    (void)state;
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[]},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "Value cannot be empty at /States/C/Choices");
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true}]},"
          "\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "SCHEMA_VALIDATION_FAILED: These fields are required: [Next] at /States/C/Choices[0]");
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.a\",\"IsNull\":true,"
          "\"Next\":\"D\"}],\"End\":true},\"D\":{\"Type\":\"Succeed\"}}}",
          ASL_STANDARD, "Field 'End' is not supported at /States/C");
#define MAP_WITH(label, cfg)                                                                                  \
    "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true," label "\"ItemProcessor\":{"       \
    "\"ProcessorConfig\":" cfg ",\"StartAt\":\"B\",\"States\":{\"B\":" PASS_END "}}}}}"
    check(MAP_WITH("\"Label\":\"ok-label_1\",", "{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"}"),
          ASL_STANDARD, NULL);
    check(MAP_WITH("\"Label\":\"label_?\",", "{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"}"), ASL_STANDARD,
          "Label contains invalid character: '?'");
    check(MAP_WITH("\"Label\":\"label_\\t\",", "{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"}"),
          ASL_STANDARD, "Label contains invalid character: '\\t'");
    check(MAP_WITH("\"Label\":\"label_\\u0088\",", "{\"Mode\":\"DISTRIBUTED\",\"ExecutionType\":\"STANDARD\"}"),
          ASL_STANDARD, "Label contains invalid character: '\\x88'");
    check(MAP_WITH("", "{\"Mode\":\"DISTRIBUTED\"}"), ASL_STANDARD, "These fields are required: [ExecutionType]");
    check(MAP_WITH("", "{\"Mode\":\"INLINE\",\"ExecutionType\":\"STANDARD\"}"), ASL_STANDARD,
          "Field 'ExecutionType' is not supported");
    check(MAP_WITH("", "{\"Mode\":\"SIDEWAYS\"}"), ASL_STANDARD, "[INLINE, DISTRIBUTED]");
    check("{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true}}}", ASL_STANDARD,
          "These fields are required: [ItemProcessor] at /States/M");
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[]}}}", ASL_STANDARD,
          "Value cannot be empty at /States/P/Branches");
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[{\"StartAt\":\"X\","
          "\"States\":{\"X\":{\"Type\":\"Nope\"}}}]}}}",
          ASL_STANDARD, "at /States/P/Branches[0]/States/X/Type");
}

static void test_bounds(void **state)
{
    (void)state;
    /* Parallel nested 100 deep: refused cleanly (depth cap), no crash. */
    size_t cap = 1 << 20, off = 0;
    char *def = malloc(cap);
    const char *open = "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[";
    for (int i = 0; i < 100; i++)
        off += (size_t)snprintf(def + off, cap - off, "%s", open);
    off += (size_t)snprintf(def + off, cap - off, "{\"StartAt\":\"A\",\"States\":{\"A\":" PASS_END "}}");
    for (int i = 0; i < 100; i++)
        off += (size_t)snprintf(def + off, cap - off, "]}}}");
    check(def, ASL_STANDARD, "nested too deeply");

    /* Many states in a chain: accepted, reachability is linear. */
    off = (size_t)snprintf(def, cap, "{\"StartAt\":\"s0\",\"States\":{");
    for (int i = 0; i < 5000; i++)
        off += (size_t)snprintf(def + off, cap - off, "\"s%d\":{\"Type\":\"Pass\",\"Next\":\"s%d\"},", i, i + 1);
    off += (size_t)snprintf(def + off, cap - off, "\"s5000\":" PASS_END "}}");
    check(def, ASL_STANDARD, NULL);
    free(def);

    /* More diagnostics than fit: still refused, the array stays bounded. */
    json_t *d = J("{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true,\"a\":1,\"b\":2,\"c\":3,\"d\":4,"
                  "\"e\":5,\"f\":6,\"g\":7,\"h\":8,\"i\":9,\"j\":10,\"k\":11,\"l\":12,\"m\":13,\"n\":14,\"o\":15,"
                  "\"p\":16,\"q\":17,\"r\":18}}}");
    asl_diags diags;
    assert_int_equal(asl_validate(d, ASL_STANDARD, &diags), SFN_EINVAL);
    assert_int_equal(diags.n, ASL_MAX_DIAGS);
    char small[64];
    asl_diags_cause(&diags, small, sizeof small);
    assert_true(strlen(small) < sizeof small);
    json_decref(d);
}

/* Issue 12: compile resolved each target by scanning every state (20k
 * states took seconds on the loop). A 20,000-state machine listed in reverse
 * order, every state a Choice/Catch/Next source, compiles with each target
 * resolved to its index, a dangling target deep in it still gets the same
 * diagnostic, and the whole takes far less than the old quadratic time
 * (the bound is loose enough for a sanitizer build). */
static void test_large_machine_linear(void **state)
{
    (void)state;
    enum { N = 20000 };
    size_t cap = 4u << 20, off = 0;
    char *def = malloc(cap);
    assert_non_null(def);
    off = (size_t)snprintf(def, cap, "{\"StartAt\":\"s0\",\"States\":{\"s%d\":" PASS_END, N - 1);
    for (int i = N - 2; i >= 0; i--) {
        if (i % 3 == 0)
            off += (size_t)snprintf(def + off, cap - off,
                                    ",\"s%d\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.x\","
                                    "\"IsPresent\":true,\"Next\":\"s%d\"}],\"Default\":\"s%d\"}",
                                    i, N - 1, i + 1);
        else
            off += (size_t)snprintf(def + off, cap - off,
                                    ",\"s%d\":{\"Type\":\"Task\",\"Resource\":"
                                    "\"arn:aws:lambda:us-east-1:123456789012:function:f\",\"Catch\":"
                                    "[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"s%d\"}],\"Next\":\"s%d\"}",
                                    i, N - 1, i + 1);
    }
    off += (size_t)snprintf(def + off, cap - off, "}}");
    assert_true(off < cap);

    /* (over the 1 MB text limit, so parsed here and compiled as JSON) */
    json_t *d = J(def);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    asl_machine *m = NULL;
    asl_diags diags;
    assert_int_equal(asl_machine_compile(d, ASL_STANDARD, &m, &diags), SFN_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(secs < 2.0);
    /* states are indexed in document order: s(N-1) is 0, s(i) is N-1-i */
    const prog *p = m->root;
    assert_int_equal(p->n, N);
    assert_int_equal(p->start, N - 1);
    assert_string_equal(p->s[0].name, "s19999");
    for (int k = 1; k < N; k++) {
        int i = N - 1 - k;
        const compiled_state *s = &p->s[k];
        if (i % 3 == 0) {
            assert_int_equal(s->default_next, k - 1);
            assert_int_equal(s->rule_next[0], 0);
        } else {
            assert_int_equal(s->next, k - 1);
            assert_int_equal(s->catch[0].next, 0);
        }
    }
    asl_machine_free(m);
    json_decref(d);

    /* a dangling target deep in the machine: the same diagnostic as ever */
    char *at = strstr(def, "\"s10001\":{");
    assert_non_null(at);
    char *nx = strstr(at, "\"Next\":\"s10002\"");
    assert_non_null(nx);
    memcpy(nx + 8, "zz", 2); /* "s10002" -> "zz0002" */
    d = J(def);
    assert_int_equal(asl_validate(d, ASL_STANDARD, &diags), SFN_EINVAL);
    assert_string_equal(diags.d[0].code, "MISSING_TRANSITION_TARGET");
    assert_string_equal(diags.d[0].message, "Missing 'Next' target: zz0002");
    assert_string_equal(diags.d[0].location, "/States/s10001/Next");
    /* and what it cut off is unreachable, reported in document order */
    assert_string_equal(diags.d[1].message, "State \"s19998\" is not reachable.");
    json_decref(d);
    free(def);
}

/* ---- data-driven over the conformance files ----------------------------- */

static int find_conformance(const char *file, char *out, size_t n)
{
    const char *env = getenv("SFN_CONFORMANCE_DIR");
    if (env != NULL) {
        snprintf(out, n, "%s/%s", env, file);
        return access(out, R_OK) == 0 ? 0 : -1;
    }
    char start[2][PATH_MAX];
    int nstart = 0;
    if (getcwd(start[nstart], sizeof start[0]) != NULL)
        nstart++;
    if (g_argv0 != NULL && realpath(g_argv0, start[nstart]) != NULL)
        nstart++;
    for (int s = 0; s < nstart; s++) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", start[s]);
        for (;;) {
            snprintf(out, n, "%s/shared/conformance/%s", dir, file);
            if (access(out, R_OK) == 0)
                return 0;
            snprintf(out, n, "%s/../shared/conformance/%s", dir, file);
            if (access(out, R_OK) == 0)
                return 0;
            char *slash = strrchr(dir, '/');
            if (slash == NULL || slash == dir)
                break;
            *slash = '\0';
        }
    }
    return -1;
}

/* Replace every occurrence of from by to (recorder placeholders). */
static void replace_all(char *s, size_t n, const char *from, const char *to)
{
    char tmp[8192];
    size_t o = 0;
    size_t fl = strlen(from), tl = strlen(to);
    for (const char *p = s; *p && o + tl + 1 < sizeof tmp;) {
        if (strncmp(p, from, fl) == 0) {
            memcpy(tmp + o, to, tl);
            o += tl;
            p += fl;
        } else {
            tmp[o++] = *p++;
        }
    }
    tmp[o] = '\0';
    snprintf(s, n, "%s", tmp);
}

static void test_validation_jsonl(void **state)
{
    (void)state;
    char path[PATH_MAX];
    if (find_conformance("validation.jsonl", path, sizeof path) != 0) {
        printf("SKIP: conformance/validation.jsonl not found (set SFN_CONFORMANCE_DIR)\n");
        skip();
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int total = 0, refused = 0, exact = 0, not_definition = 0, accepted = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        json_t *exp = json_object_get(c, "expected");
        const char *error = json_string_value(json_object_get(exp, "error"));
        const char *smt = json_string_value(json_object_get(c, "state_machine_type"));
        int type = smt && strcmp(smt, "EXPRESS") == 0 ? ASL_EXPRESS : ASL_STANDARD;
        asl_diags d;
        int rc = asl_validate(json_object_get(c, "definition"), type, &d);
        total++;
        if (error == NULL || strcmp(error, "InvalidDefinition") != 0) {
            not_definition++; /* StateMachineAlreadyExists, InvalidLoggingConfiguration */
            json_decref(c);
            continue;
        }
        if (rc == 0) {
            accepted++;
            printf("ACCEPTED (AWS refused): %s\n", json_string_value(json_object_get(c, "id")));
        } else {
            refused++;
            char got[8192], want[8192];
            asl_diags_cause(&d, got, sizeof got);
            const char *w = json_string_value(json_object_get(exp, "cause"));
            const char *boto = "when calling the CreateStateMachine operation: ";
            const char *cut = w ? strstr(w, boto) : NULL;
            snprintf(want, sizeof want, "%s", cut ? cut + strlen(boto) : (w ? w : ""));
            replace_all(want, sizeof want, "<partition>", "aws");
            if (strcmp(got, want) == 0)
                exact++;
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    printf("validation.jsonl: %d definitions, %d definition errors refused, %d accepted wrongly, "
           "%d causes match AWS exactly, %d not definition errors (not counted)\n",
           total, refused, accepted, exact, not_definition);
    assert_int_equal(accepted, 0);
}

static void accept_all(const char *file)
{
    char path[PATH_MAX];
    if (find_conformance(file, path, sizeof path) != 0) {
        printf("SKIP: conformance/%s not found (set SFN_CONFORMANCE_DIR)\n", file);
        skip();
    }
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int total = 0, rejected = 0;
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je);
        assert_non_null(c);
        const char *status = json_string_value(json_object_get(json_object_get(c, "expected"), "status"));
        const char *smt = json_string_value(json_object_get(c, "state_machine_type"));
        int type = smt && strcmp(smt, "EXPRESS") == 0 ? ASL_EXPRESS : ASL_STANDARD;
        asl_diags d;
        total++;
        if (status != NULL && strcmp(status, "INVALID_DEFINITION") != 0 &&
            asl_validate(json_object_get(c, "definition"), type, &d) != 0) {
            char got[8192];
            asl_diags_cause(&d, got, sizeof got);
            printf("REJECTED valid machine %s: %s\n", json_string_value(json_object_get(c, "id")), got);
            rejected++;
        }
        json_decref(c);
    }
    free(line);
    fclose(f);
    printf("%s: %d definitions, %d wrongly rejected\n", file, total, rejected);
    assert_int_equal(rejected, 0);
}

static void test_cases_jsonl_accepted(void **state)
{
    (void)state;
    accept_all("cases.jsonl");
}

static void test_lambda_cases_jsonl_accepted(void **state)
{
    (void)state;
    accept_all("lambda_cases.jsonl");
}

/* CreateStateMachine's cause for a definition text (asl_diags_cause_text). */
static void create_cause(const char *text, int type, char *cause, size_t n)
{
    json_error_t e;
    json_t *d = json_loads(text, JSON_ALLOW_NUL, &e);
    if (d == NULL)
        fail_msg("bad JSON in test: %s (%s)", text, e.text);
    asl_diags diags;
    assert_int_equal(asl_validate(d, type, &diags), SFN_EINVAL);
    asl_diags_cause_text(&diags, text, cause, n);
    json_decref(d);
}

/* Map Label refusals: worded as AWS's ValueError with the definition's text
 * (recorded in test_map_state_label_*), empty and NUL-bearing labels too. */
static void test_label_value_errors(void **state)
{
    (void)state;
    char cause[4096], want[4096];
    static const char *const cases[][2] = {
        {"label_*", "[\"Label contains invalid character: '*'\"]"},
        {"label_\\\"", "['Label contains invalid character: \\'\"\\'']"},
        {"label_\\u0001", "[\"Label contains invalid character: '\\\\x01'\"]"},
        {"label_\\u0000", "[\"Label contains invalid character: '\\\\x00'\"]"},
        {"label_\\u0085", "[\"Label contains invalid character: '\\\\x85'\"]"},
        {"label_\\r", "[\"Label contains invalid character: '\\\\r'\"]"},
        {"", "['Label cannot be empty']"},
        {"12345678901234567890123456789012345678901", "['Label cannot exceed 40 characters']"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char def[1024];
        snprintf(def, sizeof def,
                 "{\"StartAt\": \"M\", \"States\": {\"M\": {\"Type\": \"Map\", \"ItemProcessor\": {\"ProcessorConfig\": "
                 "{\"Mode\": \"DISTRIBUTED\", \"ExecutionType\": \"STANDARD\"}, \"StartAt\": \"B\", \"States\": "
                 "{\"B\": {\"Type\": \"Pass\", \"End\": true}}}, \"Label\": \"%s\", \"End\": true}}}",
                 cases[i][0]);
        create_cause(def, ASL_STANDARD, cause, sizeof cause);
        snprintf(want, sizeof want, "Error=ValueError Args=%s in definition '%s'.", cases[i][1], def);
        assert_string_equal(cause, want);
    }
    /* 40 characters (multi-byte ones count once) are fine */
    check("{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"End\":true,\"Label\":\"\u00e9234567890123456789012345678901234567890\","
          "\"ItemProcessor\":{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Pass\",\"End\":true}}}}}}",
          ASL_STANDARD, NULL);
    /* other refusals keep the SCHEMA_VALIDATION_FAILED form */
    create_cause("{\"StartAt\":\"A\"}", ASL_STANDARD, cause, sizeof cause);
    assert_string_equal(cause, "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are "
                               "required: [States] at /'");
}

/* The opening every state check shares (required_member) and the refusals
 * added with it: Express activity ARNs, escapes in intrinsic strings. */
static void test_state_openings(void **state)
{
    (void)state;
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"End\":true}}}", ASL_STANDARD,
          "'SCHEMA_VALIDATION_FAILED: These fields are required: [Resource] at /States/T'");
    check("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":5,\"End\":true}}}", ASL_STANDARD,
          "The value for the field 'Resource' must be a STRING at /States/T/Resource'");
    check("{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":{}}}}", ASL_STANDARD,
          "The value for the field 'Choices' must be an ARRAY at /States/C/Choices'");
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true}}}", ASL_STANDARD,
          "These fields are required: [Branches] at /States/P'");
    const char *act = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Task\",\"End\":true,"
                      "\"Resource\":\"arn:aws:states:us-east-1:111111111111:activity:act\"}}}";
    check(act, ASL_STANDARD, NULL);
    check(act, ASL_EXPRESS,
          "'SCHEMA_VALIDATION_FAILED: Express state machine does not support Activity ARN at /States/A/Resource'");
    /* ASL: only \' \{ \} \\ are escapes in an intrinsic's string literal */
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true,"
          "\"Parameters\":{\"v.$\":\"States.Format('it\\\\'s \\\\{{\\\\} \\\\\\\\ {}', $.x)\"}}}}",
          ASL_STANDARD, NULL);
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true,"
          "\"Parameters\":{\"v.$\":\"States.Format('a\\\\nb {}', $.x)\"}}}}",
          ASL_STANDARD, "at /States/P/Parameters");
    check("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Pass\",\"End\":true,"
          "\"Parameters\":{\"v.$\":\"States.StringToJson('{\\\\\\\"a\\\\\\\": 1}')\"}}}}",
          ASL_STANDARD, "at /States/P/Parameters");
    check("{\"StartAt\":\"F\",\"States\":{\"F\":{\"Type\":\"Fail\",\"ErrorPath\":\"States.Format('\\\\x{}', $.e)\"}}}",
          ASL_STANDARD, "The value for the field 'ErrorPath' must be a valid JSONPath or a valid intrinsic function call");
}

/* 'QueryLanguage' back to JSONPath is refused only in a machine that is
 * JSONata as a whole (recorded: a JSONPath state in a JSONata Map of a
 * JSONPath machine validates OK). */
static void test_query_language_downgrade(void **state)
{
    (void)state;
    check("{\"StartAt\":\"M\",\"QueryLanguage\":\"JSONPath\",\"States\":{\"M\":{\"Type\":\"Map\",\"QueryLanguage\":"
          "\"JSONata\",\"ItemProcessor\":{\"ProcessorConfig\":{\"Mode\":\"INLINE\"},\"StartAt\":\"P\",\"States\":{\"P\":"
          "{\"QueryLanguage\":\"JSONPath\",\"Type\":\"Pass\",\"End\":true}}},\"End\":true}}}",
          ASL_EXPRESS, NULL);
    check("{\"StartAt\":\"M\",\"QueryLanguage\":\"JSONata\",\"States\":{\"M\":{\"Type\":\"Map\","
          "\"ItemProcessor\":{\"StartAt\":\"P\",\"States\":{\"P\":"
          "{\"QueryLanguage\":\"JSONPath\",\"Type\":\"Pass\",\"End\":true}}},\"End\":true}}}",
          ASL_STANDARD, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine at "
                        "/States/M/ItemProcessor/States/P'");
}

/* Jackson's words for input that is not JSON (asl_json_error_aws). */
static void test_json_error_words(void **state)
{
    (void)state;
    char m[400];
    assert_int_equal(asl_json_error_aws("not some json", 13, m, sizeof m), 1);
    assert_string_equal(m, "Unrecognized token 'not': was expecting (JSON String, Number, Array, Object or token "
                           "'null', 'true' or 'false')");
    assert_int_equal(asl_json_error_aws("  \n", 3, m, sizeof m), 1);
    assert_string_equal(m, "No content to map due to end-of-input");
    assert_int_equal(asl_json_error_aws("{\"a\":", 5, m, sizeof m), 0);
    assert_int_equal(asl_json_error_aws("true x", 6, m, sizeof m), 0);
    /* a definition that is not JSON: INVALID_JSON_DESCRIPTION in those words */
    asl_machine *mc = NULL;
    asl_diags d;
    assert_int_equal(asl_machine_compile_text("nope", 4, ASL_STANDARD, &mc, &d), SFN_EINVAL);
    assert_string_equal(d.d[0].code, "INVALID_JSON_DESCRIPTION");
    assert_string_equal(d.d[0].message, "Unrecognized token 'nope': was expecting (JSON String, Number, Array, "
                                        "Object or token 'null', 'true' or 'false')");
}

int main(int argc, char **argv)
{
    (void)argc;
    g_argv0 = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level),          cmocka_unit_test(test_graph),
        cmocka_unit_test(test_state_fields),       cmocka_unit_test(test_wait),
        cmocka_unit_test(test_paths_and_templates), cmocka_unit_test(test_retry_catch),
        cmocka_unit_test(test_task),               cmocka_unit_test(test_query_language),
        cmocka_unit_test(test_choice_and_map),     cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_large_machine_linear),
        cmocka_unit_test(test_validation_jsonl),   cmocka_unit_test(test_cases_jsonl_accepted),
        cmocka_unit_test(test_lambda_cases_jsonl_accepted),
        cmocka_unit_test(test_label_value_errors),  cmocka_unit_test(test_state_openings),
        cmocka_unit_test(test_json_error_words),    cmocka_unit_test(test_query_language_downgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
