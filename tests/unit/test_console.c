/*
 * test_console.c - the console's C side (src/console): the Graphviz SVG of
 * the trip saga (every state a node with its id, Start and End), Parallel
 * and Map as clusters with their branches inside, a 200-state machine, a
 * definition that is not JSON; the built-in asset table; the state ids;
 * which API targets count as reads.
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saga_svg),
        cmocka_unit_test(test_parallel_map_clusters),
        cmocka_unit_test(test_big_machine),
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_ids_and_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
