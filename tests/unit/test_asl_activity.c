/*
 * test_asl_activity.c - the core's side of activity tasks: the task's
 * token, ActivityScheduled with its timeouts, ActivityStarted only when a
 * worker takes the task (with its workerName, once), ActivitySucceeded,
 * ActivityScheduleFailed caught by Catch, a heartbeat running out as
 * States.Timeout (ActivityTimedOut), the same token after a replay and a
 * new one for each retry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

#define ACT "arn:aws:states:us-east-1:123456789012:activity:work"

static const char def[] =
    "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Task\",\"Resource\":\"" ACT "\","
    "\"TimeoutSeconds\":30,\"HeartbeatSeconds\":5,"
    "\"Catch\":[{\"ErrorEquals\":[\"States.Timeout\",\"ActivityDoesNotExist\"],"
    "\"ResultPath\":\"$.err\",\"Next\":\"C\"}],\"End\":true},"
    "\"C\":{\"Type\":\"Pass\",\"End\":true}}}";

static asl_machine *machine(void)
{
    asl_machine *m = NULL;
    asl_diags d = {0};
    assert_int_equal(asl_machine_compile_text(def, strlen(def), 0, &m, &d), 0);
    return m;
}

static asl_exec *start(const asl_machine *m)
{
    asl_exec_info info = {.execution_arn = "arn:aws:states:us-east-1:123456789012:execution:S:e",
                          .execution_name = "e",
                          .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:S",
                          .state_machine_name = "S", .start_ms = 1000, .seed = 7};
    json_t *in = json_pack("{s:i}", "n", 1);
    asl_exec *x = asl_exec_start(m, &info, in);
    json_decref(in);
    assert_non_null(x);
    return x;
}

/* The types of events [from, count) joined by ','. */
static void types(const asl_exec *x, size_t from, char *out, size_t cap)
{
    out[0] = '\0';
    for (size_t i = from; i < asl_exec_event_count(x); i++) {
        json_t *e = asl_exec_event_json(x, i, 1);
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", json_string_value(json_object_get(e, "type")));
        json_decref(e);
    }
}

static const asl_cmd *the_task(asl_exec *x)
{
    const asl_cmd *c;
    size_t n = asl_exec_pending(x, &c);
    for (size_t i = 0; i < n; i++)
        if (c[i].kind == ASL_CMD_INVOKE)
            return &c[i];
    return NULL;
}

static void test_worker_takes_and_answers(void **state)
{
    (void)state;
    asl_machine *m = machine();
    asl_exec *x = start(m);
    char t[512];
    types(x, 0, t, sizeof t);
    /* no ActivityStarted until a worker takes it */
    assert_string_equal(t, "ExecutionStarted,TaskStateEntered,ActivityScheduled");
    json_t *sch = asl_exec_event_json(x, 2, 1);
    json_t *d = json_object_get(sch, "activityScheduledEventDetails");
    assert_string_equal(json_string_value(json_object_get(d, "resource")), ACT);
    assert_int_equal(json_integer_value(json_object_get(d, "timeoutInSeconds")), 30);
    assert_int_equal(json_integer_value(json_object_get(d, "heartbeatInSeconds")), 5);
    json_decref(sch);
    const asl_cmd *c = the_task(x);
    assert_non_null(c);
    assert_non_null(c->token); /* the worker's token */
    assert_null(c->function);
    uint64_t id = c->id;
    asl_input in = {.kind = ASL_IN_TASK_STARTED, .id = id, .now_ms = 2000, .cause = "w1"};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    assert_int_equal(asl_exec_feed(x, &in), 0); /* taken again after a restart: no event */
    types(x, 3, t, sizeof t);
    assert_string_equal(t, "ActivityStarted");
    json_t *st = asl_exec_event_json(x, 3, 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(st, "activityStartedEventDetails"), "workerName")),
                        "w1");
    json_decref(st);
    json_t *res = json_pack("{s:b}", "ok", 1);
    in = (asl_input){.kind = ASL_IN_TASK_SUCCEEDED, .id = id, .now_ms = 3000, .result = res};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    json_decref(res);
    types(x, 4, t, sizeof t);
    assert_string_equal(t, "ActivitySucceeded,TaskStateExited,ExecutionSucceeded");
    asl_exec_free(x);
    asl_machine_free(m);
}

static void test_schedule_failed_caught(void **state)
{
    (void)state;
    asl_machine *m = machine();
    asl_exec *x = start(m);
    asl_input in = {.kind = ASL_IN_TASK_SCHEDULE_FAILED, .id = the_task(x)->id, .now_ms = 1500,
                    .error = "ActivityDoesNotExist", .cause = "gone"};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    char t[512];
    types(x, 3, t, sizeof t);
    assert_string_equal(t, "ActivityScheduleFailed,TaskStateExited,PassStateEntered,PassStateExited,"
                           "ExecutionSucceeded");
    json_t *e = asl_exec_event_json(x, 3, 1);
    json_t *d = json_object_get(e, "activityScheduleFailedEventDetails");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "ActivityDoesNotExist");
    assert_string_equal(json_string_value(json_object_get(d, "cause")), "gone");
    json_decref(e);
    asl_exec_free(x);
    asl_machine_free(m);
}

static void test_heartbeat_is_states_timeout(void **state)
{
    (void)state;
    asl_machine *m = machine();
    asl_exec *x = start(m);
    uint64_t id = the_task(x)->id;
    asl_input in = {.kind = ASL_IN_TASK_STARTED, .id = id, .now_ms = 1100, .cause = "w"};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    /* the heartbeat timer (due 5 s after scheduling) fires */
    const asl_cmd *c;
    size_t n = asl_exec_pending(x, &c);
    uint64_t hb = 0;
    int64_t due = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        if (c[i].kind == ASL_CMD_TIMER && c[i].due_ms < due) {
            due = c[i].due_ms;
            hb = c[i].id;
        }
    assert_int_equal(due, 6000);
    in = (asl_input){.kind = ASL_IN_TIMER, .id = hb, .now_ms = 6000};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    json_t *e = asl_exec_event_json(x, 4, 1);
    assert_string_equal(json_string_value(json_object_get(e, "type")), "ActivityTimedOut");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(e, "activityTimedOutEventDetails"), "error")),
                        "States.Timeout");
    json_decref(e);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED); /* caught */
    assert_true(asl_exec_task_timed_out(x, id)); /* SendTask*: TaskTimedOut */
    assert_false(asl_exec_task_timed_out(x, id + 1000));
    asl_exec_free(x);
    asl_machine_free(m);
}

static void test_replay_same_token(void **state)
{
    (void)state;
    asl_machine *m = machine();
    asl_exec *a = start(m), *b = start(m);
    assert_string_equal(the_task(a)->token, the_task(b)->token);
    asl_exec_free(a);
    asl_exec_free(b);
    asl_machine_free(m);
}

/* A retry schedules the activity again with a token of its own. */
static void test_retry_new_token(void **state)
{
    (void)state;
    static const char rdef[] =
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Task\",\"Resource\":\"" ACT "\","
        "\"Retry\":[{\"ErrorEquals\":[\"Worker.Busy\"],\"IntervalSeconds\":1,\"MaxAttempts\":1}],"
        "\"End\":true}}}";
    asl_machine *m = NULL;
    asl_diags d = {0};
    assert_int_equal(asl_machine_compile_text(rdef, strlen(rdef), 0, &m, &d), 0);
    asl_exec *x = start(m);
    const asl_cmd *c = the_task(x);
    char *tok1 = strdup(c->token);
    asl_input in = {.kind = ASL_IN_TASK_FAILED, .id = c->id, .now_ms = 1100, .error = "Worker.Busy"};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    const asl_cmd *p;
    size_t n = asl_exec_pending(x, &p);
    assert_int_equal(n, 1);
    assert_int_equal(p[0].kind, ASL_CMD_TIMER);
    in = (asl_input){.kind = ASL_IN_TIMER, .id = p[0].id, .now_ms = p[0].due_ms};
    assert_int_equal(asl_exec_feed(x, &in), 0);
    c = the_task(x);
    assert_non_null(c);
    assert_non_null(c->token);
    assert_string_not_equal(c->token, tok1);
    free(tok1);
    char t[512];
    types(x, 0, t, sizeof t);
    assert_string_equal(t, "ExecutionStarted,TaskStateEntered,ActivityScheduled,ActivityStarted,"
                           "ActivityFailed,ActivityScheduled");
    asl_exec_free(x);
    asl_machine_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_takes_and_answers),
        cmocka_unit_test(test_schedule_failed_caught),
        cmocka_unit_test(test_heartbeat_is_states_timeout),
        cmocka_unit_test(test_replay_same_token),
        cmocka_unit_test(test_retry_new_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
