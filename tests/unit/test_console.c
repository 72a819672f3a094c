/*
 * test_console.c - the console's C side (src/console): the Graphviz SVG of
 * the trip saga (every state a node with its id, Start and End), Parallel
 * and Map as clusters with their branches inside, a 200-state machine, a
 * definition that is not JSON; the built-in asset table; the state ids;
 * which API targets count as reads; the history walk (Map iterations and
 * Parallel branches as contexts, their statuses, the iterations page);
 * the data-flow steps recomputed by TestState; the functions a definition
 * resolves to; the server-sent events' text; a machine's template origin.
 * Must not: start a server or touch the network.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "console_graph.h"
#include "console_int.h"
#include "console_walk.h"
#include "asl.h"

static char *slurp(const char *rel)
{
    char path[4096];
    const char *src = getenv("SFN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", src ? src : "../..", rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Does the SVG hold an element whose id is the state's? */
static int has_state(const char *svg, const char *name)
{
    char id[600], attr[640];
    console_graph_id(id, sizeof id, name);
    /* Graphviz writes '-' as &#45; in attributes */
    snprintf(attr, sizeof attr, "id=\"st&#45;%s\"", id + 3);
    return strstr(svg, attr) != NULL;
}

static void test_saga_svg(void **st)
{
    (void)st;
    char *def = slurp("statemachine/trip_saga.asl.json");
    console_graph *g = console_graph_create();
    assert_non_null(g);
    size_t len = 0;
    char err[256];
    char *svg = console_graph_svg(g, def, &len, err, sizeof err);
    assert_non_null(svg);
    assert_int_equal(strlen(svg), len);
    assert_true(!strncmp(svg, "<svg", 4));
    json_t *j = json_loads(def, 0, NULL);
    const char *name;
    json_t *v;
    int n = 0;
    json_object_foreach(json_object_get(j, "States"), name, v) {
        if (!has_state(svg, name))
            fail_msg("state %s has no node", name);
        n++;
    }
    assert_true(n >= 17);
    assert_true(has_state(svg, "start") || strstr(svg, "id=\"st&#45;start\""));
    assert_non_null(strstr(svg, "id=\"st&#45;end\""));
    assert_non_null(strstr(svg, "class=\"edge catch\"")); /* the saga's Catch edges */
    json_decref(j);
    free(svg);
    console_graph_free(g);
    free(def);
}

static void test_parallel_map_clusters(void **st)
{
    (void)st;
    const char *def =
        "{\"StartAt\":\"P\",\"States\":{"
        "\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\",\"Branches\":["
        "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"End\":true}}},"
        "{\"StartAt\":\"B\",\"States\":{\"B\":{\"Type\":\"Pass\",\"Next\":\"B2\"},"
        "\"B2\":{\"Type\":\"Succeed\"}}}],"
        "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"F\"}]},"
        "\"M\":{\"Type\":\"Map\",\"End\":true,\"ItemProcessor\":{\"StartAt\":\"I\","
        "\"States\":{\"I\":{\"Type\":\"Task\",\"Resource\":\"arn:x\",\"End\":true}}}},"
        "\"F\":{\"Type\":\"Fail\",\"Error\":\"E\"}}}";
    console_graph *g = console_graph_create();
    size_t len;
    char err[256];
    char *svg = console_graph_svg(g, def, &len, err, sizeof err);
    assert_non_null(svg);
    const char *names[] = {"P", "A", "B", "B2", "M", "I", "F"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!has_state(svg, names[i]))
            fail_msg("state %s missing", names[i]);
    /* P and M are clusters (class "cluster state t-..."), with branches */
    assert_non_null(strstr(svg, "class=\"cluster state t&#45;Parallel\""));
    assert_non_null(strstr(svg, "class=\"cluster state t&#45;Map\""));
    assert_non_null(strstr(svg, ">Branch 2<"));
    assert_non_null(strstr(svg, ">Iterator<"));
    free(svg);
    console_graph_free(g);
}

static void test_big_machine(void **st)
{
    (void)st;
    json_t *states = json_object();
    for (int i = 0; i < 200; i++) {
        char name[32], next[32];
        snprintf(name, sizeof name, "S%03d", i);
        snprintf(next, sizeof next, "S%03d", i + 1);
        json_t *s = i % 10 == 5 ? json_pack("{s:s,s:[{s:s,s:b,s:s}],s:s}", "Type", "Choice",
                                            "Choices", "Variable", "$.x", "IsPresent", 1, "Next",
                                            "S199", "Default", next)
                                : i == 199 ? json_pack("{s:s,s:b}", "Type", "Pass", "End", 1)
                                           : json_pack("{s:s,s:s}", "Type", "Pass", "Next", next);
        json_object_set_new(states, name, s);
    }
    json_t *def = json_pack("{s:s,s:o}", "StartAt", "S000", "States", states);
    char *text = json_dumps(def, 0);
    console_graph *g = console_graph_create();
    size_t len;
    char err[256];
    char *svg = console_graph_svg(g, text, &len, err, sizeof err);
    assert_non_null(svg);
    assert_true(has_state(svg, "S000") && has_state(svg, "S199") && has_state(svg, "S105"));
    free(svg);
    assert_null(console_graph_svg(g, "not json", &len, err, sizeof err));
    assert_non_null(strstr(err, "not JSON"));
    console_graph_free(g);
    free(text);
    json_decref(def);
}

static void test_assets(void **st)
{
    (void)st;
    const char *want[] = {"index.html", "console.css", "console.js"};
    for (size_t i = 0; i < 3; i++) {
        const console_asset *a = console_asset_find(want[i]);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_int_equal(a->data[a->len], 0);
    }
    const console_asset *idx = console_asset_find("index.html");
    assert_non_null(strstr((const char *)idx->data, "{{TOKEN}}"));
    assert_non_null(strstr(idx->type, "text/html"));
    assert_non_null(strstr(console_asset_find("console.js")->type, "javascript"));
    assert_null(console_asset_find("../console.c"));
    /* no asset loads anything from another origin */
    for (size_t i = 0; i < console_nassets; i++) {
        assert_null(strstr((const char *)console_assets[i].data, "https://"));
        assert_null(strstr((const char *)console_assets[i].data, "src=\"http"));
    }
}

static void test_ids_and_reads(void **st)
{
    (void)st;
    char id[64];
    assert_string_equal(console_graph_id(id, sizeof id, "Ab"), "st-4162");
    assert_string_equal(console_graph_id(id, 5, "Abc"), "");
    assert_true(console_target_reads("AWSStepFunctions.DescribeExecution"));
    assert_true(console_target_reads("AWSStepFunctions.ListExecutions"));
    assert_true(console_target_reads("AWSStepFunctions.GetExecutionHistory"));
    assert_true(console_target_reads("Sfnd.WaitExecution"));
    assert_false(console_target_reads("AWSStepFunctions.StartExecution"));
    assert_false(console_target_reads("AWSStepFunctions.StopExecution"));
    assert_false(console_target_reads("AWSStepFunctions.RedriveExecution"));
    assert_false(console_target_reads("AWSStepFunctions.TestState"));
    assert_false(console_target_reads(NULL));
    assert_false(console_target_reads("Other.ListThings"));
}


/* ---- the history walk ------------------------------------------------------------------ */
static const char PM_DEF[] =
    "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"Next\":\"M\",\"Branches\":["
    "{\"StartAt\":\"B1\",\"States\":{\"B1\":{\"Type\":\"Pass\",\"End\":true}}},"
    "{\"StartAt\":\"B2\",\"States\":{\"B2\":{\"Type\":\"Pass\",\"Next\":\"B2b\"},\"B2b\":{\"Type\":\"Pass\",\"End\":true}}}]},"
    "\"M\":{\"Type\":\"Map\",\"End\":true,\"ItemProcessor\":{\"StartAt\":\"Check\",\"States\":{"
    "\"Check\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$\",\"NumericEquals\":2,\"Next\":\"Bad\"}],\"Default\":\"Good\"},"
    "\"Good\":{\"Type\":\"Pass\",\"End\":true},\"Bad\":{\"Type\":\"Fail\",\"Error\":\"Two\"}}}}}}";

/* The history sfnd writes for PM_DEF on [1,2,3] (ids, previous ids, types,
 * names): branches interleave as the engine runs them. */
static const struct {
    int id, prev;
    const char *type, *name;
    int index;
} PM_EVENTS[] = {
    {1, 0, "ExecutionStarted", NULL, -1},       {2, 0, "ParallelStateEntered", "P", -1},
    {3, 2, "ParallelStateStarted", NULL, -1},   {4, 3, "PassStateEntered", "B1", -1},
    {5, 4, "PassStateExited", "B1", -1},        {6, 3, "PassStateEntered", "B2", -1},
    {7, 6, "PassStateExited", "B2", -1},        {8, 7, "PassStateEntered", "B2b", -1},
    {9, 8, "PassStateExited", "B2b", -1},       {10, 3, "ParallelStateExited", "P", -1},
    {11, 10, "MapStateEntered", "M", -1},       {12, 11, "MapStateStarted", NULL, -1},
    {13, 12, "MapIterationStarted", "M", 0},    {14, 13, "MapIterationStarted", "M", 1},
    {15, 14, "MapIterationStarted", "M", 2},    {16, 13, "ChoiceStateEntered", "Check", -1},
    {17, 16, "ChoiceStateExited", "Check", -1}, {18, 14, "ChoiceStateEntered", "Check", -1},
    {19, 18, "ChoiceStateExited", "Check", -1}, {20, 15, "ChoiceStateEntered", "Check", -1},
    {21, 20, "ChoiceStateExited", "Check", -1}, {22, 17, "PassStateEntered", "Good", -1},
    {23, 22, "PassStateExited", "Good", -1},    {24, 15, "MapIterationSucceeded", "M", 0},
    {25, 19, "FailStateEntered", "Bad", -1},    {26, 24, "MapIterationFailed", "M", 1},
    {27, 21, "PassStateEntered", "Good", -1},   {28, 27, "PassStateExited", "Good", -1},
    {29, 26, "MapIterationSucceeded", "M", 2},  {30, 29, "MapStateSucceeded", NULL, -1},
    {31, 30, "MapStateExited", "M", -1},        {32, 31, "ExecutionSucceeded", NULL, -1},
};

static json_t *pm_event(size_t i)
{
    const char *t = PM_EVENTS[i].type;
    json_t *ev = json_pack("{s:i,s:i,s:s,s:f}", "id", PM_EVENTS[i].id, "previousEventId",
                           PM_EVENTS[i].prev, "type", t, "timestamp", 1000.0 + i);
    json_t *d = json_object();
    if (PM_EVENTS[i].name)
        json_object_set_new(d, "name", json_string(PM_EVENTS[i].name));
    if (PM_EVENTS[i].index >= 0)
        json_object_set_new(d, "index", json_integer(PM_EVENTS[i].index));
    json_object_set_new(d, "input", json_string("1"));
    const char *key = strstr(t, "StateEntered")    ? "stateEnteredEventDetails"
                      : strstr(t, "StateExited")   ? "stateExitedEventDetails"
                      : strstr(t, "MapIteration")  ? "mapIterationStartedEventDetails"
                                                   : "otherEventDetails";
    json_object_set_new(ev, key, d);
    return ev;
}

static void walk_pm(con_walk *w)
{
    json_t *def = json_loads(PM_DEF, 0, NULL);
    assert_non_null(def);
    memset(w, 0, sizeof *w);
    assert_int_equal(con_walk_init(w, def), 0);
    json_decref(def);
    w->execution = json_pack("{s:s}", "status", "SUCCEEDED");
    w->ctx_states_of = "M";
    for (size_t i = 0; i < sizeof PM_EVENTS / sizeof PM_EVENTS[0]; i++) {
        json_t *ev = pm_event(i);
        assert_int_equal(con_walk_event(w, ev), 0);
        json_decref(ev);
    }
    con_walk_end(w);
}

static void test_walk_contexts(void **st)
{
    (void)st;
    con_walk w;
    walk_pm(&w);
    /* two branches (P's, by the definition's StartAt), three iterations */
    assert_int_equal(w.nctx, 6);
    int branches = 0, iters = 0;
    for (size_t i = 1; i < w.nctx; i++) {
        const con_ctx *x = &w.ctxs[i];
        const char *c = json_string_value(json_array_get(w.names, (size_t)x->container));
        if (x->kind == CON_CTX_BRANCH) {
            assert_string_equal(c, "P");
            assert_int_equal(x->index, branches++);
            assert_string_equal(x->status, "succeeded");
        } else {
            assert_string_equal(c, "M");
            assert_int_equal(x->index, iters++);
            assert_string_equal(x->status, x->index == 1 ? "failed" : "succeeded");
        }
    }
    assert_int_equal(branches, 2);
    assert_int_equal(iters, 3);
    /* each event's context: the branch, the iteration, back to the top */
    assert_int_equal(w.ctxs[w.ctx[8]].kind, CON_CTX_BRANCH);
    assert_int_equal(w.ctxs[w.ctx[8]].index, 1);
    assert_int_equal(w.ctx[10], 0);
    assert_int_equal(w.ctx[14], 0); /* MapIterationStarted chain at M's level */
    assert_int_equal(w.ctxs[w.ctx[25]].index, 1);
    assert_int_equal(w.ctxs[w.ctx[27]].index, 2);
    assert_int_equal(w.ctx[31], 0);
    char label[128];
    con_walk_ctx_label(&w, w.ctx[25], label, sizeof label);
    assert_string_equal(label, "M[1]");
    con_walk_ctx_label(&w, w.ctx[8], label, sizeof label);
    assert_string_equal(label, "P branch 2");
    /* the whole execution: a tolerated failure leaves M succeeded */
    json_t *sm = json_object_get(w.states, "M");
    assert_string_equal(json_string_value(json_object_get(sm, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(w.states, "Good"), "entered")), 2);
    json_t *c = con__containers(&w);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "M"), "count")), 3);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(c, "M"), "byStatus"), "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "P"), "count")), 2);
    json_decref(c);
    /* the page: offset, limit, a status filter; the members of the container */
    json_t *p = con__iterations(&w, "M", "", 1, 1);
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 3);
    json_t *items = json_object_get(p, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_int_equal(json_integer_value(json_object_get(it, "index")), 1);
    assert_string_equal(json_string_value(json_object_get(it, "status")), "failed");
    json_t *bad = json_object_get(json_object_get(it, "states"), "Bad");
    assert_string_equal(json_string_value(json_object_get(bad, "status")), "failed");
    assert_null(json_object_get(json_object_get(it, "states"), "Good"));
    assert_int_equal(json_array_size(json_object_get(p, "members")), 3);
    json_decref(p);
    p = con__iterations(&w, "M", "succeeded", 0, 50);
    assert_int_equal(json_integer_value(json_object_get(p, "matched")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(json_object_get(p, "items"), 1), "index")), 2);
    json_decref(p);
    p = con__iterations(&w, "B1", "", 0, 50); /* not a container: nothing */
    assert_int_equal(json_integer_value(json_object_get(p, "total")), 0);
    json_decref(p);
    con_walk_cleanup(&w);
}

/* ---- the data flow ------------------------------------------------------------------------- */
static const char *step_of(const json_t *flow, const char *step, const char **source)
{
    size_t i;
    const json_t *f;
    json_array_foreach(flow, i, f) {
        if (!strcmp(json_string_value(json_object_get(f, "step")), step)) {
            if (source)
                *source = json_string_value(json_object_get(f, "source"));
            return json_string_value(json_object_get(f, "value"));
        }
    }
    return NULL;
}

static void assert_json(const char *text, const char *want)
{
    assert_non_null(text);
    json_t *a = json_loads(text, JSON_DECODE_ANY, NULL), *b = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(a);
    if (!json_equal(a, b))
        fail_msg("%s is not %s", text, want);
    json_decref(a);
    json_decref(b);
}

static void test_dataflow(void **st)
{
    (void)st;
    char note[512];
    const char *src = NULL;
    asl_exec_info info = {.execution_arn = "arn:aws:states:us-east-1:123456789012:execution:X:e",
                          .execution_name = "e",
                          .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:X",
                          .state_machine_name = "X",
                          .start_ms = 1000};
    /* a Pass: every step but input and output recomputed */
    const char *pass = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"InputPath\":\"$.x\","
                       "\"Parameters\":{\"y.$\":\"$.z\"},\"ResultPath\":\"$.r\",\"End\":true}}}";
    json_t *visit = json_pack("{s:s,s:[]}", "input", "{\"x\":{\"z\":1}}", "attempts");
    json_t *f = con_dataflow(pass, "A", "Pass", visit, &info, NULL, note, sizeof note);
    assert_json(step_of(f, "input", &src), "{\"x\":{\"z\":1}}");
    assert_string_equal(src, "history");
    assert_json(step_of(f, "afterInputPath", &src), "{\"z\":1}");
    assert_string_equal(src, "recomputed");
    assert_json(step_of(f, "afterParameters", &src), "{\"y\":1}");
    assert_json(step_of(f, "afterResultPath", &src), "{\"x\":{\"z\":1},\"r\":{\"y\":1}}");
    assert_string_equal(src, "recomputed");
    assert_null(step_of(f, "afterArguments", NULL));
    assert_non_null(strstr(note, "TestState"));
    json_decref(f);
    json_decref(visit);
    /* a Task: parameters and result as recorded, ResultSelector and
     * ResultPath from the recorded result as TestState's mock */
    const char *task = "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
                       "\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"ResultSelector\":"
                       "{\"k.$\":\"$.v\"},\"ResultPath\":\"$.res\",\"End\":true}}}";
    visit = json_pack("{s:s,s:s,s:s,s:[{}]}", "input", "{\"a\":1}", "parameters", "{\"a\":1}", "result",
                      "{\"v\":7}", "attempts");
    f = con_dataflow(task, "T", "Task", visit, &info, NULL, note, sizeof note);
    assert_json(step_of(f, "afterParameters", &src), "{\"a\":1}");
    assert_string_equal(src, "history");
    assert_json(step_of(f, "result", &src), "{\"v\":7}");
    assert_string_equal(src, "history");
    assert_json(step_of(f, "afterResultSelector", &src), "{\"k\":7}");
    assert_string_equal(src, "recomputed");
    assert_json(step_of(f, "afterResultPath", NULL), "{\"a\":1,\"res\":{\"k\":7}}");
    assert_null(step_of(f, "output", NULL));
    assert_non_null(strstr(note, "mock"));
    json_decref(f);
    /* no answer yet: nothing recomputed, and a Map is not */
    json_object_del(visit, "result");
    f = con_dataflow(task, "T", "Task", visit, &info, NULL, note, sizeof note);
    assert_null(step_of(f, "afterResultPath", NULL));
    assert_non_null(strstr(note, "no recorded result"));
    json_decref(f);
    f = con_dataflow(PM_DEF, "M", "Map", visit, &info, NULL, note, sizeof note);
    assert_int_equal(json_array_size(f), 1); /* the input, as recorded */
    assert_non_null(strstr(note, "not recomputed"));
    json_decref(f);
    json_decref(visit);
    /* the context object the history gives ($$.Execution.RedriveCount and all) */
    json_t *x = json_pack("{s:s,s:s,s:s,s:s,s:f,s:i}", "executionArn", info.execution_arn, "name", "e",
                          "stateMachineArn", info.state_machine_arn, "input", "{\"q\":1}", "startDate",
                          1.5, "redriveCount", 2);
    visit = json_pack("{s:f,s:[{},{}]}", "enteredAt", 2.25, "attempts");
    char *cobj = con_context_object(x, "arn:aws:iam::123456789012:role/r", "T", visit);
    json_t *c = json_loads(cobj, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "Execution"), "RedriveCount")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "Execution"), "StartTime")),
                        "1970-01-01T00:00:01.500Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "State"), "RetryCount")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "StateMachine"), "Name")), "X");
    const char *rc = "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Pass\",\"Parameters\":"
                     "{\"n.$\":\"$$.Execution.RedriveCount\"},\"End\":true}}}";
    json_t *v2 = json_pack("{s:s}", "input", "{}");
    f = con_dataflow(rc, "T", "Pass", v2, &info, cobj, note, sizeof note);
    assert_json(step_of(f, "afterParameters", NULL), "{\"n\":2}");
    json_decref(f);
    json_decref(v2);
    free(cobj);
    json_decref(c);
    json_decref(x);
    json_decref(visit);
}

static void test_functions_and_origin(void **st)
{
    (void)st;
    json_t *def = json_loads(
        "{\"StartAt\":\"A\",\"States\":{"
        "\"A\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:eu-west-1:222222222222:function:F\",\"Next\":\"B\"},"
        "\"B\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\",\"Parameters\":{\"FunctionName\":\"G\"},\"Next\":\"C\"},"
        "\"C\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:states:::lambda:invoke\",\"Parameters\":{\"FunctionName.$\":\"$.f\"},\"Next\":\"P\"},"
        "\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":[{\"StartAt\":\"D\",\"States\":{"
        "\"D\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:eu-west-1:222222222222:function:F\",\"End\":true}}}]}}}",
        0, NULL);
    assert_non_null(def);
    json_t *fns = con__functions(def, "arn:aws:states:eu-west-1:222222222222:stateMachine:X");
    assert_int_equal(json_array_size(fns), 2);
    size_t i;
    json_t *f;
    int seen = 0;
    json_array_foreach(fns, i, f) {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!strcmp(name, "F")) {
            assert_int_equal(json_array_size(json_object_get(f, "states")), 2); /* A and D */
            seen |= 1;
        } else {
            assert_string_equal(name, "G");
            assert_string_equal(json_string_value(json_object_get(f, "arn")),
                                "arn:aws:lambda:eu-west-1:222222222222:function:G");
            seen |= 2;
        }
    }
    assert_int_equal(seen, 3);
    json_decref(fns);
    json_decref(def);
    /* what sfnd says of a template's machine */
    console_opts o = {.datadir = "."};
    console *c = console_create(&o);
    assert_non_null(c);
    json_t *subs = json_pack("{s:s}", "K", "V");
    assert_int_equal(console_set_origin(c, "arn:sm", "/t/template.yaml", "Logical", subs), 0);
    json_decref(subs);
    json_t *got = json_object_get(c->origins, "arn:sm");
    assert_string_equal(json_string_value(json_object_get(got, "logicalId")), "Logical");
    assert_string_equal(json_string_value(json_object_get(json_object_get(got, "substitutions"), "K")), "V");
    console_free(c);
}

static void test_sse_text(void **st)
{
    (void)st;
    size_t n = 0;
    assert_true(con__sse_terminal("ExecutionSucceeded"));
    assert_true(con__sse_terminal("ExecutionTimedOut"));
    assert_false(con__sse_terminal("TaskSucceeded"));
    assert_false(con__sse_terminal(NULL));
    char *t = con__sse_text(7, "WaitStateExited", &n);
    assert_string_equal(t, "retry: 100\nid: 7\nevent: update\ndata: {\"eventId\":7,\"type\":\"WaitStateExited\"}\n\n");
    assert_int_equal(n, strlen(t));
    free(t);
    t = con__sse_text(9, "ExecutionFailed", &n);
    assert_non_null(strstr(t, "event: end\n"));
    free(t);
    t = con__sse_text(0, NULL, &n);
    assert_null(strstr(t, "id:"));
    assert_int_equal(t[n - 1], '\n');
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saga_svg),
        cmocka_unit_test(test_parallel_map_clusters),
        cmocka_unit_test(test_big_machine),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_ids_and_reads),
        cmocka_unit_test(test_walk_contexts),
        cmocka_unit_test(test_dataflow),
        cmocka_unit_test(test_functions_and_origin),
        cmocka_unit_test(test_sse_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
