/*
 * test_tpl.c - the SAM template loader: short forms, Globals, names/ARNs,
 * DefinitionUri + DefinitionSubstitutions, bootstrap lookup, unsupported
 * resources, and refusals; SNS topics, EventBridgeRule events, parameter
 * overrides, --env-vars (precedence, conversions, refusals) and
 * alphanumeric logical IDs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tpl.h"

static char dir[64];

static void write_file(const char *name, const char *text, int mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, (mode_t)mode);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_tpl_XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/bin", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/bin/functions", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/bin/functions/BookFn", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/build", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/build/CancelFn", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sm", dir);
    mkdir(p, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char saga_tpl[] =
    "AWSTemplateFormatVersion: '2010-09-09'\n"
    "Transform: AWS::Serverless-2016-10-31\n"
    "Parameters:\n"
    "  Stage: {Type: String, Default: dev}\n"
    "Conditions:\n"
    "  IsProd: !Equals [!Ref Stage, prod]\n"
    "Globals:\n"
    "  Function:\n"
    "    Runtime: provided.al2023\n"
    "    Timeout: 10\n"
    "    MemorySize: 256\n"
    "    Environment:\n"
    "      Variables:\n"
    "        BOOKINGS_TABLE: !Ref BookingsTable\n"
    "        STAGE: !Ref Stage\n"
    "Resources:\n"
    "  BookFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      Handler: bootstrap\n"
    "      Timeout: 5\n"
    "      Environment:\n"
    "        Variables:\n"
    "          STAGE: mine\n"
    "          MODE: !If [IsProd, fast, safe]\n"
    "          JOINED: !Join ['-', [a, !Ref Stage, !Sub '${AWS::Region}']]\n"
    "  CancelFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      FunctionName: !Sub '${AWS::StackName}-cancel'\n"
    "  BookingsTable:\n"
    "    Type: AWS::DynamoDB::Table\n"
    "    Properties:\n"
    "      TableName: !Sub 'bookings-${Stage}'\n"
    "  SagaLogs:\n"
    "    Type: AWS::Logs::LogGroup\n"
    "  Saga:\n"
    "    Type: AWS::Serverless::StateMachine\n"
    "    Properties:\n"
    "      DefinitionUri: sm/saga.asl.json\n"
    "      DefinitionSubstitutions:\n"
    "        BookArn: !GetAtt BookFn.Arn\n"
    "        CancelName: !Ref CancelFn\n"
    "        TableArn: !GetAtt [BookingsTable, Arn]\n"
    "      Policies:\n"
    "        - LambdaInvokePolicy: {FunctionName: !Ref BookFn}\n"
    "  Express:\n"
    "    Type: AWS::Serverless::StateMachine\n"
    "    Properties:\n"
    "      Name: fast-one\n"
    "      Type: EXPRESS\n"
    "      Definition:\n"
    "        StartAt: P\n"
    "        States:\n"
    "          P: {Type: Pass, Result: {n: 3, f: 1.5, b: true, s: '3'}, End: true}\n";

static const char saga_def[] =
    "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Task\",\"Resource\":\"${BookArn}\","
    "\"Parameters\":{\"fn\":\"${CancelName}\",\"t\":\"x ${TableArn} ${Unknown}\"},"
    "\"End\":true}}}";

static const char *env_get(const tpl_function *f, const char *key)
{
    size_t kl = strlen(key);
    for (const char *const *e = f->env; *e; e++)
        if (!strncmp(*e, key, kl) && (*e)[kl] == '=')
            return *e + kl + 1;
    return NULL;
}

static void test_saga_like_template(void **state)
{
    (void)state;
    write_file("template.yaml", saga_tpl, 0644);
    write_file("sm/saga.asl.json", saga_def, 0644);
    write_file("bin/functions/BookFn/bootstrap", "#!/bin/sh\n", 0755);
    write_file("build/CancelFn/bootstrap", "#!/bin/sh\n", 0755);

    char path[256], bin[256], err[512];
    snprintf(path, sizeof path, "%s/template.yaml", dir);
    snprintf(bin, sizeof bin, "%s/bin", dir);
    tpl_opts o = {.region = "eu-west-1", .bin_dir = bin, .store_dir = "/data/tables"};
    tpl *t = NULL;
    int rc = tpl_load(path, &o, &t, err, sizeof err);
    if (rc != 0)
        fail_msg("tpl_load: %s", err);

    assert_int_equal(tpl_function_count(t), 2);
    const tpl_function *book = tpl_function_at(t, 0);
    const tpl_function *cancel = tpl_function_at(t, 1);
    assert_string_equal(book->logical_id, "BookFn");
    assert_string_equal(book->name, "BookFn");
    assert_string_equal(book->arn, "arn:aws:lambda:eu-west-1:123456789012:function:BookFn");
    assert_int_equal(book->timeout_s, 5);    /* own value wins over Globals */
    assert_int_equal(book->memory_mb, 256);  /* from Globals */
    assert_string_equal(book->runtime, "provided.al2023");
    assert_non_null(book->bootstrap);
    assert_non_null(strstr(book->bootstrap, "/bin/functions/BookFn/bootstrap"));
    assert_string_equal(env_get(book, "BOOKINGS_TABLE"), "bookings-dev");
    assert_string_equal(env_get(book, "STAGE"), "mine");
    assert_string_equal(env_get(book, "MODE"), "safe");
    assert_string_equal(env_get(book, "JOINED"), "a-dev-eu-west-1");
    assert_string_equal(env_get(book, "SFN_LOCAL_STORE_DIR"), "/data/tables");

    assert_string_equal(cancel->name, "sfnd-cancel");
    assert_int_equal(cancel->timeout_s, 10);
    assert_non_null(cancel->bootstrap); /* found in build/ next to the template */
    assert_non_null(strstr(cancel->bootstrap, "/build/CancelFn/bootstrap"));
    assert_string_equal(env_get(cancel, "STAGE"), "dev");

    assert_int_equal(tpl_table_count(t), 1);
    assert_string_equal(tpl_table_at(t, 0)->name, "bookings-dev");

    assert_int_equal(tpl_state_machine_count(t), 2);
    const tpl_state_machine *sm = tpl_state_machine_at(t, 0);
    assert_string_equal(sm->name, "Saga");
    assert_string_equal(sm->arn, "arn:aws:states:eu-west-1:123456789012:stateMachine:Saga");
    assert_int_equal(sm->type, 0);
    json_t *b = json_object_get(json_object_get(sm->definition, "States"), "B");
    assert_string_equal(json_string_value(json_object_get(b, "Resource")), book->arn);
    json_t *params = json_object_get(b, "Parameters");
    assert_string_equal(json_string_value(json_object_get(params, "fn")), "sfnd-cancel");
    assert_string_equal(json_string_value(json_object_get(params, "t")),
                        "x arn:aws:dynamodb:eu-west-1:123456789012:table/bookings-dev ${Unknown}");

    const tpl_state_machine *ex = tpl_state_machine_at(t, 1);
    assert_string_equal(ex->name, "fast-one");
    assert_int_equal(ex->type, 1);
    json_t *res = json_object_get(
        json_object_get(json_object_get(ex->definition, "States"), "P"), "Result");
    assert_true(json_is_integer(json_object_get(res, "n")));
    assert_true(json_is_real(json_object_get(res, "f")));
    assert_true(json_is_true(json_object_get(res, "b")));
    assert_true(json_is_string(json_object_get(res, "s"))); /* quoted stays a string */

    assert_int_equal(tpl_unsupported_count(t), 1);
    assert_string_equal(tpl_unsupported_at(t, 0), "SagaLogs (AWS::Logs::LogGroup)");
    tpl_free(t);
}

static void test_short_forms(void **state)
{
    (void)state;
    char err[256];
    const char y[] = "a: !Ref X\nb: !GetAtt F.Arn\nc: !Sub 'x${Y}'\nd: !Select [0, [p]]\n"
                     "e: !GetAtt [G, Name]\nf: !Condition C\n";
    json_t *j = tpl_yaml_to_json(y, sizeof y - 1, err, sizeof err);
    assert_non_null(j);
    json_t *want = json_loads(
        "{\"a\":{\"Ref\":\"X\"},\"b\":{\"Fn::GetAtt\":[\"F\",\"Arn\"]},\"c\":{\"Fn::Sub\":\"x${Y}\"},"
        "\"d\":{\"Fn::Select\":[0,[\"p\"]]},\"e\":{\"Fn::GetAtt\":[\"G\",\"Name\"]},"
        "\"f\":{\"Condition\":\"C\"}}",
        0, NULL);
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);

    const char bad[] = "a: [1, 2\n";
    assert_null(tpl_yaml_to_json(bad, sizeof bad - 1, err, sizeof err));
    assert_non_null(strstr(err, "line"));
}

static void expect_refusal(const char *yaml, const char *needle)
{
    write_file("bad.yaml", yaml, 0644);
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    tpl *t = NULL;
    assert_int_not_equal(tpl_load(path, NULL, &t, err, sizeof err), 0);
    assert_null(t);
    if (strstr(err, needle) == NULL)
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_refusals(void **state)
{
    (void)state;
    expect_refusal("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
                   "      Environment: {Variables: {X: !Ref Nope}}\n",
                   "Nope");
    expect_refusal("Resources:\n  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
                   "      DefinitionUri: missing.json\n",
                   "cannot read");
    expect_refusal("Resources:\n  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
                   "      DefinitionUri: {Bucket: b, Key: k}\n",
                   "S3");
    /* a DefinitionUri must stay inside the project (the template's dir) */
    FILE *out = fopen("/tmp/test_tpl_outside.asl.json", "w");
    assert_non_null(out);
    fputs("{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Pass\", \"End\": true}}}", out);
    fclose(out);
    expect_refusal("Resources:\n  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
                   "      DefinitionUri: ../test_tpl_outside.asl.json\n",
                   "not a file inside the project");
    expect_refusal("Resources:\n  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
                   "      DefinitionUri: /tmp/test_tpl_outside.asl.json\n",
                   "not a file inside the project");
    unlink("/tmp/test_tpl_outside.asl.json");
    expect_refusal("Foo: 1\n", "no Resources");
    expect_refusal("Resources: [\n", "bad.yaml");
    /* aliases that nest forever are cut off */
    expect_refusal("a: &a [*a]\nResources: {}\n", "bad.yaml");
}


static const char integ_tpl[] =
    "Parameters:\n"
    "  FaultInjection: {Type: String, Default: 'on', AllowedValues: ['on', 'off']}\n"
    "  TestHooks: {Type: String, Default: 'off'}\n"
    "  Retries: {Type: Number, Default: 3, AllowedValues: [1, 3]}\n"
    "Resources:\n"
    "  Fn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      Environment:\n"
    "        Variables:\n"
    "          FAULTS: !Ref FaultInjection\n"
    "          HOOKS: !Ref TestHooks\n"
    "          RETRIES: !Ref Retries\n"
    "          ALERTS: !Ref Alerts\n"
    "  Alerts:\n"
    "    Type: AWS::SNS::Topic\n"
    "  Named:\n"
    "    Type: AWS::SNS::Topic\n"
    "    Properties: {TopicName: !Sub '${AWS::StackName}-named'}\n"
    "  Saga:\n"
    "    Type: AWS::Serverless::StateMachine\n"
    "    Properties:\n"
    "      DefinitionSubstitutions:\n"
    "        Comp: !Ref Compensate\n"
    "        CompArn: !GetAtt Compensate.Arn\n"
    "        CompName: !GetAtt Compensate.Name\n"
    "        Topic: !Ref Alerts\n"
    "        TopicArn: !GetAtt Named.TopicArn\n"
    "        TopicName: !GetAtt Named.TopicName\n"
    "      Definition:\n"
    "        StartAt: P\n"
    "        States:\n"
    "          P: {Type: Pass, Result: '${Comp}|${CompArn}|${CompName}|${Topic}|${TopicArn}|${TopicName}', End: true}\n"
    "  Compensate:\n"
    "    Type: AWS::Serverless::StateMachine\n"
    "    Properties:\n"
    "      Name: CompensateTrip\n"
    "      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}\n"
    "      Events:\n"
    "        Stopped:\n"
    "          Type: EventBridgeRule\n"
    "          Properties:\n"
    "            Pattern:\n"
    "              source: [aws.states]\n"
    "              detail:\n"
    "                status: [ABORTED, TIMED_OUT]\n"
    "                stateMachineArn: [!Ref Saga]\n"
    "            InputPath: $.detail\n"
    "        Failed:\n"
    "          Type: EventBridgeRule\n"
    "          Properties:\n"
    "            Pattern: {detail: {status: [FAILED]}}\n"
    "            Input: '{\"k\": 1}'\n"
    "        Off:\n"
    "          Type: EventBridgeRule\n"
    "          Properties: {Pattern: {source: [x]}, State: DISABLED}\n"
    "        Nightly:\n"
    "          Type: Schedule\n"
    "          Properties: {Schedule: rate(1 day)}\n";

static tpl *load_integ(const char *overrides, char *err, size_t errlen)
{
    write_file("integ.yaml", integ_tpl, 0644);
    char path[256];
    snprintf(path, sizeof path, "%s/integ.yaml", dir);
    tpl_opts o = {.parameter_overrides = overrides};
    tpl *t = NULL;
    if (tpl_load(path, &o, &t, err, errlen) != 0)
        return NULL;
    return t;
}

static void test_topics_rules_substitutions(void **state)
{
    (void)state;
    char err[512];
    tpl *t = load_integ(NULL, err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    assert_int_equal(tpl_topic_count(t), 2);
    const tpl_topic *a = tpl_topic_at(t, 0), *n = tpl_topic_at(t, 1);
    assert_string_equal(a->logical_id, "Alerts");
    assert_string_equal(a->name, "Alerts");
    assert_string_equal(a->arn, "arn:aws:sns:us-east-1:123456789012:Alerts");
    assert_string_equal(n->name, "sfnd-named");
    assert_string_equal(n->arn, "arn:aws:sns:us-east-1:123456789012:sfnd-named");
    assert_null(tpl_topic_at(t, 2));

    const tpl_function *f = tpl_function_at(t, 0);
    assert_string_equal(env_get(f, "FAULTS"), "on");
    assert_string_equal(env_get(f, "HOOKS"), "off");
    assert_string_equal(env_get(f, "RETRIES"), "3");
    assert_string_equal(env_get(f, "ALERTS"), a->arn);

    /* a state machine's Ref / Arn / Name inside another's substitutions */
    const tpl_state_machine *saga = tpl_state_machine_at(t, 0);
    const tpl_state_machine *comp = tpl_state_machine_at(t, 1);
    assert_string_equal(saga->logical_id, "Saga");
    const char *r = json_string_value(json_object_get(
        json_object_get(json_object_get(saga->definition, "States"), "P"), "Result"));
    assert_string_equal(r, "arn:aws:states:us-east-1:123456789012:stateMachine:CompensateTrip|"
                           "arn:aws:states:us-east-1:123456789012:stateMachine:CompensateTrip|"
                           "CompensateTrip|arn:aws:sns:us-east-1:123456789012:Alerts|"
                           "arn:aws:sns:us-east-1:123456789012:sfnd-named|sfnd-named");

    assert_int_equal(saga->nrules, 0);
    assert_int_equal(comp->nrules, 2); /* the DISABLED one is left out */
    const tpl_rule *s0 = &comp->rules[0], *s1 = &comp->rules[1];
    assert_string_equal(s0->id, "Stopped");
    assert_string_equal(s0->input_path, "$.detail");
    assert_null(s0->input);
    json_t *want = json_loads("{\"source\":[\"aws.states\"],\"detail\":{\"status\":[\"ABORTED\","
                              "\"TIMED_OUT\"],\"stateMachineArn\":[\"arn:aws:states:us-east-1:"
                              "123456789012:stateMachine:Saga\"]}}",
                              0, NULL);
    assert_true(json_equal(s0->pattern, want));
    json_decref(want);
    assert_string_equal(s1->id, "Failed");
    assert_string_equal(s1->input, "{\"k\": 1}");
    assert_null(s1->input_path);

    /* topics are provided now; the Schedule event is not */
    assert_int_equal(tpl_unsupported_count(t), 1);
    assert_string_equal(tpl_unsupported_at(t, 0), "Compensate.Events.Nightly (Schedule)");
    tpl_free(t);
}

static void test_parameter_overrides(void **state)
{
    (void)state;
    char err[512];
    const char *forms[] = {"FaultInjection=off TestHooks=on Retries=1",
                           "  FaultInjection=off\tTestHooks=\"on\" Retries=1 ",
                           "ParameterKey=FaultInjection,ParameterValue=off "
                           "ParameterKey=TestHooks,ParameterValue=on Retries=1"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        tpl *t = load_integ(forms[i], err, sizeof err);
        if (t == NULL)
            fail_msg("tpl_load (%s): %s", forms[i], err);
        const tpl_function *f = tpl_function_at(t, 0);
        assert_string_equal(env_get(f, "FAULTS"), "off");
        assert_string_equal(env_get(f, "HOOKS"), "on");
        assert_string_equal(env_get(f, "RETRIES"), "1");
        tpl_free(t);
    }
    assert_null(load_integ("Nope=1", err, sizeof err));
    assert_non_null(strstr(err, "no parameter 'Nope'"));
    assert_null(load_integ("FaultInjection=maybe", err, sizeof err));
    assert_non_null(strstr(err, "AllowedValues"));
    assert_null(load_integ("Retries=2", err, sizeof err));
    assert_non_null(strstr(err, "AllowedValues"));
    assert_null(load_integ("FaultInjection", err, sizeof err));
    assert_non_null(strstr(err, "Key=Value"));
    assert_null(load_integ("ParameterKey=TestHooks", err, sizeof err));
    assert_non_null(strstr(err, "ParameterValue"));
}

static const char envvars_tpl[] =
    "Globals:\n"
    "  Function:\n"
    "    Environment:\n"
    "      Variables: {STAGE: dev, TABLE: !Ref Table}\n"
    "Resources:\n"
    "  BookFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      Environment: {Variables: {MODE: safe}}\n"
    "  CancelFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "  Table:\n"
    "    Type: AWS::DynamoDB::Table\n";

/* Load envvars_tpl with json text as --env-vars; NULL and err on refusal. */
static tpl *load_envvars(const char *json, char *err, size_t errlen)
{
    write_file("envvars.yaml", envvars_tpl, 0644);
    char path[256];
    snprintf(path, sizeof path, "%s/envvars.yaml", dir);
    json_t *ev = NULL;
    if (json != NULL) {
        json_error_t je;
        ev = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (ev == NULL)
            fail_msg("bad test JSON %s: %s", json, je.text);
    }
    tpl_opts o = {.store_dir = "/data/tables", .env_vars = ev};
    tpl *t = NULL;
    int rc = tpl_load(path, &o, &t, err, errlen);
    json_decref(ev); /* borrowed only during tpl_load */
    return rc == 0 ? t : NULL;
}

static const char *ovr_get(const tpl_function *f, const char *key)
{
    size_t kl = strlen(key);
    for (const char *const *e = f->env_override; *e; e++)
        if (!strncmp(*e, key, kl) && (*e)[kl] == '=')
            return *e + kl + 1;
    return NULL;
}

static size_t count(const char *const *list)
{
    size_t n = 0;
    while (list[n])
        n++;
    return n;
}

static void test_env_vars(void **state)
{
    (void)state;
    char err[512];
    /* without the option: the template's variables, the store, no overrides */
    tpl *t = load_envvars(NULL, err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    const tpl_function *book = tpl_function_at(t, 0);
    assert_non_null(book->env_override);
    assert_int_equal(count(book->env_override), 0);
    assert_string_equal(env_get(book, "SFN_LOCAL_STORE_DIR"), "/data/tables");
    assert_string_equal(env_get(book, "STAGE"), "dev");
    tpl_free(t);

    t = load_envvars("{\"Parameters\": {\"SFN_LOCAL_STORE_DIR\": \"\", \"STAGE\": \"all\","
                     " \"AWS_ACCESS_KEY_ID\": \"ASIAPARAMS\", \"AWS_REGION\": \"eu-west-1\","
                     " \"N\": 3, \"NEG\": -7, \"F\": 1.5, \"H\": 100.0, \"TINY\": 0.00001,"
                     " \"BIG\": 1e16, \"T\": true, \"FA\": false, \"_x9\": \"u\"},"
                     " \"BookFn\": {\"STAGE\": \"book\", \"MODE\": \"fast\","
                     " \"AWS_ACCESS_KEY_ID\": \"ASIABOOK\", \"ONLY_BOOK\": \"\"}}",
                     err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    book = tpl_function_at(t, 0);
    const tpl_function *cancel = tpl_function_at(t, 1);
    assert_string_equal(book->logical_id, "BookFn");
    /* the logical ID's entry wins over Parameters */
    assert_string_equal(ovr_get(book, "STAGE"), "book");
    assert_string_equal(ovr_get(book, "MODE"), "fast");
    assert_string_equal(ovr_get(book, "AWS_ACCESS_KEY_ID"), "ASIABOOK");
    assert_string_equal(ovr_get(book, "ONLY_BOOK"), "");
    assert_string_equal(ovr_get(cancel, "STAGE"), "all");
    assert_string_equal(ovr_get(cancel, "AWS_ACCESS_KEY_ID"), "ASIAPARAMS");
    assert_null(ovr_get(cancel, "ONLY_BOOK"));
    assert_null(ovr_get(cancel, "MODE"));
    assert_int_equal(count(book->env_override), 15);
    assert_int_equal(count(cancel->env_override), 13);
    /* every override is set, declared in the template or not; the
     * template's value of the same name is gone, the rest stay */
    for (int i = 0; i < 2; i++) {
        const tpl_function *f = tpl_function_at(t, (size_t)i);
        assert_string_equal(ovr_get(f, "SFN_LOCAL_STORE_DIR"), "");
        assert_null(env_get(f, "SFN_LOCAL_STORE_DIR"));
        assert_null(env_get(f, "STAGE"));
        assert_string_equal(env_get(f, "TABLE"), "Table");
        assert_string_equal(ovr_get(f, "AWS_REGION"), "eu-west-1");
        /* numbers and booleans as SAM CLI (Python's str()) writes them */
        assert_string_equal(ovr_get(f, "N"), "3");
        assert_string_equal(ovr_get(f, "NEG"), "-7");
        assert_string_equal(ovr_get(f, "F"), "1.5");
        assert_string_equal(ovr_get(f, "H"), "100.0");
        assert_string_equal(ovr_get(f, "TINY"), "1e-05");
        assert_string_equal(ovr_get(f, "BIG"), "1e+16");
        assert_string_equal(ovr_get(f, "T"), "true");
        assert_string_equal(ovr_get(f, "FA"), "false");
        assert_string_equal(ovr_get(f, "_x9"), "u");
    }
    assert_null(env_get(book, "MODE"));
    assert_null(env_get(cancel, "MODE")); /* BookFn's own, not in Globals */
    tpl_free(t);

    /* only a logical ID's entry: Parameters is optional */
    t = load_envvars("{\"CancelFn\": {\"X\": \"1\"}}", err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    assert_int_equal(count(tpl_function_at(t, 0)->env_override), 0);
    assert_string_equal(ovr_get(tpl_function_at(t, 1), "X"), "1");
    assert_string_equal(env_get(tpl_function_at(t, 1), "SFN_LOCAL_STORE_DIR"), "/data/tables");
    tpl_free(t);

    static const char *const bad[][2] = {
        /* a typo in a logical ID is not ignored */
        {"{\"BookFun\": {\"X\": \"1\"}}", "'BookFun' is neither Parameters nor the logical ID"},
        {"{\"BookFun\": {}}", "its functions: BookFn, CancelFn"},
        {"{\"Table\": {\"X\": \"1\"}}", "'Table' is neither"},
        {"{\"parameters\": {}}", "'parameters' is neither"},
        {"[]", "must hold a JSON object"},
        {"{\"Parameters\": [\"X=1\"]}", "'Parameters' must be an object"},
        {"{\"Parameters\": {\"X\": null}}", "Parameters.X: the value must be a string, a "
                                             "number or a boolean, not null"},
        {"{\"BookFn\": {\"Y\": {\"a\": 1}}}", "BookFn.Y: the value must be a string, a number "
                                               "or a boolean, not an object"},
        {"{\"Parameters\": {\"Z\": [1]}}", "Parameters.Z: the value must be a string, a number "
                                            "or a boolean, not an array"},
        {"{\"Parameters\": {\"1X\": \"v\"}}", "Parameters.1X: a variable name must match"},
        {"{\"Parameters\": {\"A-B\": \"v\"}}", "Parameters.A-B: a variable name must match"},
        {"{\"Parameters\": {\"\": \"v\"}}", "Parameters.: a variable name must match"},
        {"{\"Parameters\": {\"AWS_LAMBDA_RUNTIME_API\": \"127.0.0.1:9001\"}}",
         "Parameters.AWS_LAMBDA_RUNTIME_API: sfnd sets this variable"},
        {"{\"CancelFn\": {\"_HANDLER\": \"x\"}}", "CancelFn._HANDLER: sfnd sets"},
        {"{\"Parameters\": {\"LAMBDA_TASK_ROOT\": \"/\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"LAMBDA_RUNTIME_DIR\": \"/\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"AWS_LAMBDA_FUNCTION_NAME\": \"x\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"AWS_LAMBDA_FUNCTION_VERSION\": \"1\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"AWS_LAMBDA_FUNCTION_MEMORY_SIZE\": 1}}", "cannot be overridden"},
        {"{\"Parameters\": {\"AWS_LAMBDA_LOG_GROUP_NAME\": \"g\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"AWS_LAMBDA_LOG_STREAM_NAME\": \"s\"}}", "cannot be overridden"},
        {"{\"Parameters\": {\"N\": \"a\\u0000b\"}}", "NUL"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        t = load_envvars(bad[i][0], err, sizeof err);
        if (t != NULL)
            fail_msg("--env-vars %s accepted", bad[i][0]);
        if (strstr(err, "--env-vars: ") == NULL || strstr(err, bad[i][1]) == NULL)
            fail_msg("--env-vars %s: error '%s' lacks '%s'", bad[i][0], err, bad[i][1]);
    }
}

static void test_integration_refusals(void **state)
{
    (void)state;
    expect_refusal("Resources:\n  My-Fn:\n    Type: AWS::SNS::Topic\n", "alphanumeric");
    expect_refusal("Resources:\n  My_Fn:\n    Type: AWS::SNS::Topic\n", "alphanumeric");
    expect_refusal("Parameters:\n  a-b: {Type: String}\nResources:\n  T:\n    Type: AWS::SNS::Topic\n",
                   "alphanumeric");
    const char *sm = "Resources:\n  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
                     "      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}\n"
                     "      Events:\n        E:\n          Type: EventBridgeRule\n"
                     "          Properties:\n";
    char y[1024];
    snprintf(y, sizeof y, "%s            Input: '{}'\n", sm);
    expect_refusal(y, "needs a Pattern");
    snprintf(y, sizeof y, "%s            Pattern: {source: [x]}\n            Input: '{bad'\n", sm);
    expect_refusal(y, "Input: not JSON");
    snprintf(y, sizeof y,
             "%s            Pattern: {source: [x]}\n            Input: '{}'\n"
             "            InputPath: $.detail\n",
             sm);
    expect_refusal(y, "mutually exclusive");
    snprintf(y, sizeof y,
             "%s            Pattern: {source: [x]}\n            InputTransformer: {InputTemplate: x}\n",
             sm);
    expect_refusal(y, "InputTransformer");
    snprintf(y, sizeof y, "%s            Pattern: {source: [!Ref Nope]}\n", sm);
    expect_refusal(y, "Nope");
}

/* ---- where a function's code is (tpl_code.c) ----------------------------- */
static void mkdir_p(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    for (char *c = p + strlen(dir) + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(p, 0755);
            *c = '/';
        }
    mkdir(p, 0755);
}

/* Set rel's modification time to now + delta seconds. */
static void touch_at(const char *rel, int delta)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, rel);
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec += delta;
    ts[1] = ts[0];
    assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static tpl *load_code(const char *name, const char *yaml, char *err, size_t errlen)
{
    write_file(name, yaml, 0644);
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tpl *t = NULL;
    return tpl_load(path, NULL, &t, err, errlen) == 0 ? t : NULL;
}

static const tpl_function *fn_named(const tpl *t, const char *id)
{
    for (size_t i = 0; i < tpl_function_count(t); i++)
        if (!strcmp(tpl_function_at(t, i)->logical_id, id))
            return tpl_function_at(t, i);
    fail_msg("no function %s", id);
    return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = s ? strlen(s) : 0, b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int looked_for(const tpl_function *f, const char *needle)
{
    for (const char *const *l = f->looked; *l; l++)
        if (strstr(*l, needle))
            return 1;
    return 0;
}

static const char code_tpl[] =
    "Transform: AWS::Serverless-2016-10-31\n"
    "Parameters:\n"
    "  Stage: {Type: String, Default: dev}\n"
    "Conditions:\n"
    "  IsProd: !Equals [!Ref Stage, prod]\n"
    "Mappings:\n"
    "  Sizes: {dev: {mem: 256}, prod: {mem: 1024}}\n"
    "Globals:\n"
    "  Function:\n"
    "    Runtime: nodejs20.x\n"
    "    Handler: src/app.handler\n"
    "    CodeUri: node/\n"
    "    Timeout: 7\n"
    "    MemorySize: !FindInMap [Sizes, !Ref Stage, mem]\n"
    "Resources:\n"
    "  NodeFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "  PyFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties:\n"
    "      Runtime: !If [IsProd, python3.12, python3.11]\n"
    "      CodeUri: py\n"
    "      Handler: pkg/mod.handler\n"
    "  ShellFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {Runtime: provided.al2023, Handler: fn.handler, CodeUri: shell}\n"
    "  StaleFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {Runtime: provided.al2023, CodeUri: stale}\n"
    "  MakeFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Metadata: {BuildMethod: makefile}\n"
    "    Properties: {Runtime: provided.al2023, CodeUri: make}\n"
    "  MissingFn:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Metadata: {BuildMethod: makefile}\n"
    "    Properties: {Runtime: provided.al2, CodeUri: make}\n"
    "  ProdOnly:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Condition: IsProd\n"
    "  Up:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {CodeUri: ../elsewhere}\n"
    "  Abs:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {CodeUri: /etc}\n"
    "  Linked:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {CodeUri: link}\n"
    "  S3:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {CodeUri: {Bucket: b, Key: k}}\n"
    "  Java:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {Runtime: java21, Handler: a.B::h}\n"
    "  Escape:\n"
    "    Type: AWS::Serverless::Function\n"
    "    Properties: {Handler: ../../x.handler}\n";

/* AWS::SQS::Queue, AWS::Events::EventBus, AWS::Events::Rule (tpl_events.c) */
static const char msg_tpl[] =
    "Resources:\n"
    "  Q:\n    Type: AWS::SQS::Queue\n"
    "  F:\n    Type: AWS::SQS::Queue\n    Properties: {FifoQueue: true, ContentBasedDeduplication: \"true\"}\n"
    "  Bus:\n    Type: AWS::Events::EventBus\n    Properties: {Name: trips}\n"
    "  R:\n    Type: AWS::Events::Rule\n    Properties:\n"
    "      EventBusName: !GetAtt Bus.Arn\n"
    "      EventPattern: '{\"source\": [\"a\"]}'\n"
    "      Targets:\n"
    "        - {Id: t1, Arn: !GetAtt S.Arn, InputPath: $.detail}\n"
    "        - {Id: t2, Arn: !GetAtt Q.Arn}\n"
    "  Off:\n    Type: AWS::Events::Rule\n    Properties:\n"
    "      State: DISABLED\n      EventPattern: {source: [b]}\n"
    "      Targets: [{Id: t, Arn: !Ref S}]\n"
    "  S:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
    "      DefinitionSubstitutions: {U: !Ref Q, FU: !GetAtt F.QueueUrl, FN: !GetAtt F.QueueName,\n"
    "                                B: !Ref Bus, R: !GetAtt R.Arn}\n"
    "      Definition: {StartAt: P, States: {P: {Type: Pass, Result: '${U}|${FU}|${FN}|${B}|${R}', End: true}}}\n"
    "      Events:\n        E:\n          Type: EventBridgeRule\n"
    "          Properties: {EventBusName: trips, Pattern: {source: [x]}}\n";

static void test_queues_buses_rules(void **state)
{
    (void)state;
    char err[512];
    tpl *t = load_code("msg.yaml", msg_tpl, err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    assert_int_equal(tpl_queue_count(t), 2);
    const tpl_queue *q = tpl_queue_at(t, 0), *f = tpl_queue_at(t, 1);
    assert_string_equal(q->url, "https://sqs.us-east-1.amazonaws.com/123456789012/Q");
    assert_string_equal(q->arn, "arn:aws:sqs:us-east-1:123456789012:Q");
    assert_false(q->fifo);
    assert_string_equal(f->name, "F.fifo");
    assert_true(f->fifo && f->content_dedup);
    assert_int_equal(tpl_bus_count(t), 1);
    assert_string_equal(tpl_bus_at(t, 0)->arn, "arn:aws:events:us-east-1:123456789012:event-bus/trips");
    const tpl_state_machine *m = tpl_state_machine_at(t, 0);
    const char *r = json_string_value(json_object_get(
        json_object_get(json_object_get(m->definition, "States"), "P"), "Result"));
    assert_string_equal(r, "https://sqs.us-east-1.amazonaws.com/123456789012/Q|"
                           "https://sqs.us-east-1.amazonaws.com/123456789012/F.fifo|F.fifo|trips|"
                           "arn:aws:events:us-east-1:123456789012:rule/trips/R");
    assert_int_equal(m->nrules, 1);
    assert_string_equal(m->rules[0].bus, "trips");
    /* one target is a state machine; the queue target is listed as not provided */
    assert_int_equal(tpl_evtarget_count(t), 1);
    const tpl_evtarget *e = tpl_evtarget_at(t, 0);
    assert_string_equal(e->rule.id, "R.t1");
    assert_string_equal(e->rule.bus, "trips");
    assert_string_equal(e->sm_arn, m->arn);
    assert_string_equal(e->rule.input_path, "$.detail");
    json_t *want = json_loads("{\"source\":[\"a\"]}", 0, NULL);
    assert_true(json_equal(e->rule.pattern, want));
    json_decref(want);
    assert_int_equal(tpl_unsupported_count(t), 1);
    assert_non_null(strstr(tpl_unsupported_at(t, 0), "R.Targets[1]"));
    tpl_free(t);
    expect_refusal("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties: {QueueName: a.fifo}\n",
                   "must end in .fifo");
    expect_refusal("Resources:\n  B:\n    Type: AWS::Events::EventBus\n", "needs a Name");
}

static void test_code_lookup(void **state)
{
    (void)state;
    char err[512];
    mkdir_p("code/node/src");
    mkdir_p("code/py/pkg/mod");
    mkdir_p("code/shell");
    mkdir_p("code/stale");
    mkdir_p("code/make");
    mkdir_p("code/.aws-sam/build/StaleFn");
    mkdir_p("code/build/StaleFn");
    mkdir_p("code/build/MakeFn");
    mkdir_p("code/.aws-sam/build/MakeFn");
    write_file("code/node/src/app.mjs", "export const handler = async () => 1;\n", 0644);
    write_file("code/py/pkg/mod/__init__.py", "def handler(e, c): return 1\n", 0644);
    write_file("code/shell/bootstrap", "#!/bin/bash\n", 0755);
    write_file("code/stale/bootstrap", "#!/bin/bash\n", 0755);
    write_file("code/.aws-sam/build/StaleFn/bootstrap", "#!/bin/bash\n", 0755);
    write_file("code/build/StaleFn/bootstrap", "#!/bin/bash\n", 0755);
    write_file("code/make/Makefile", "build-MakeFn:\n", 0644);
    write_file("code/build/MakeFn/bootstrap", "#!/bin/bash\n", 0755);
    write_file("code/.aws-sam/build/MakeFn/bootstrap", "#!/bin/bash\n", 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/code/link", dir);
    assert_int_equal(symlink("/etc", p), 0);
    /* the newer of the two builds; the CodeUri folder when it is newer still */
    touch_at("code/build/StaleFn/bootstrap", -100);
    touch_at("code/.aws-sam/build/StaleFn/bootstrap", -50);
    touch_at("code/stale/bootstrap", -10);
    touch_at("code/build/MakeFn/bootstrap", -5);
    touch_at("code/.aws-sam/build/MakeFn/bootstrap", -60);

    tpl *t = load_code("code/template.yaml", code_tpl, err, sizeof err);
    if (t == NULL)
        fail_msg("tpl_load: %s", err);
    char root[512];
    snprintf(root, sizeof root, "%s/code", dir);
    assert_string_equal(tpl_dir(t), root);

    const tpl_function *f = fn_named(t, "NodeFn"); /* Globals: Runtime, Handler, CodeUri */
    assert_null(f->code_error);
    assert_true(ends_with(f->code_dir, "/code/node"));
    assert_string_equal(f->runtime, "nodejs20.x");
    assert_string_equal(f->handler, "src/app.handler");
    assert_null(f->bootstrap); /* not a custom runtime */
    assert_int_equal(f->timeout_s, 7);
    assert_int_equal(f->memory_mb, 256); /* !FindInMap [Sizes, !Ref Stage, mem] */

    f = fn_named(t, "PyFn");
    assert_string_equal(f->runtime, "python3.11"); /* !If on a Condition */
    assert_true(ends_with(f->code_dir, "/code/py")); /* pkg/mod/__init__.py */

    f = fn_named(t, "ShellFn");
    assert_true(ends_with(f->bootstrap, "/code/shell/bootstrap"));
    assert_string_equal(f->handler, "fn.handler");

    f = fn_named(t, "StaleFn"); /* sources newer than both builds */
    assert_true(ends_with(f->code_dir, "/code/stale"));
    f = fn_named(t, "MakeFn"); /* no bootstrap in CodeUri: the newer build */
    assert_true(ends_with(f->code_dir, "/code/build/MakeFn"));
    assert_string_equal(f->build_method, "makefile");
    assert_true(ends_with(f->code_uri, "/code/make"));

    f = fn_named(t, "MissingFn"); /* every place looked at, with why */
    assert_null(f->code_dir);
    assert_null(f->code_error);
    assert_string_equal(f->build_method, "makefile");
    assert_true(looked_for(f, "/code/.aws-sam/build/MissingFn/ (sam build output: no such "
                              "directory)"));
    assert_true(looked_for(f, "/code/build/MissingFn/ (sam build output: no such directory)"));
    assert_true(looked_for(f, "/code/make/ (CodeUri: no bootstrap)"));

    for (size_t i = 0; i < tpl_function_count(t); i++)
        assert_string_not_equal(tpl_function_at(t, i)->logical_id, "ProdOnly");
    assert_int_equal(tpl_function_count(t), 12);

    f = fn_named(t, "Up");
    assert_null(f->code_dir);
    assert_non_null(strstr(f->code_error, "CodeUri '../elsewhere' leads outside the project"));
    f = fn_named(t, "Abs");
    assert_non_null(strstr(f->code_error, "CodeUri '/etc' leads outside the project"));
    f = fn_named(t, "Linked");
    assert_non_null(strstr(f->code_error, "symbolic link to /etc, outside the project"));
    f = fn_named(t, "S3");
    assert_non_null(strstr(f->code_error, "S3"));
    f = fn_named(t, "Java");
    assert_non_null(strstr(f->code_error, "Runtime java21 is not provided locally"));
    f = fn_named(t, "Escape");
    assert_non_null(strstr(f->code_error, "Handler '../../x.handler' leaves"));
    tpl_free(t);

    /* with the parameter overridden, the conditional resource exists */
    write_file("code/template.yaml", code_tpl, 0644);
    snprintf(p, sizeof p, "%s/code/template.yaml", dir);
    tpl_opts o = {.parameter_overrides = "Stage=prod"};
    assert_int_equal(tpl_load(p, &o, &t, err, sizeof err), 0);
    assert_int_equal(tpl_function_count(t), 13);
    assert_string_equal(fn_named(t, "PyFn")->runtime, "python3.12");
    assert_int_equal(fn_named(t, "NodeFn")->memory_mb, 1024);
    tpl_free(t);
    expect_refusal("Resources:\n  F:\n    Type: AWS::Serverless::Function\n"
                   "    Condition: Nope\n",
                   "unknown condition Nope");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saga_like_template),
        cmocka_unit_test(test_short_forms),
        cmocka_unit_test(test_topics_rules_substitutions),
        cmocka_unit_test(test_parameter_overrides),
        cmocka_unit_test(test_env_vars),
        cmocka_unit_test(test_integration_refusals),
        cmocka_unit_test(test_queues_buses_rules),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_code_lookup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
