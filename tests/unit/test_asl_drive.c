/*
 * test_asl_drive.c - the in-process driver (asl_drive.h): the two orders
 * (SERIAL: tasks first, the clock moving on by their time; TIMED: time
 * order, a late answer losing to its timeout), the caller's inputs (a stop),
 * the fed hook, a task nobody answers, max_feeds, a real clock, and a
 * driver reused with answers whose strings do not outlive the callback.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "asl.h"
#include "asl_drive.h"

#define T0 1700000000000LL

static const asl_exec_info INFO = {
    .execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e1",
    .execution_name = "e1",
    .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    .state_machine_name = "m",
    .role_arn = "arn:aws:iam::123456789012:role/r",
    .start_ms = T0,
    .seed = 7,
};

static asl_machine *compile(const char *text)
{
    asl_machine *m = NULL;
    asl_diags d;
    if (asl_machine_compile_text(text, strlen(text), ASL_STANDARD, &m, &d) != SFN_OK)
        fail_msg("compile failed: %s", d.n ? d.d[0].message : "?");
    return m;
}

/* What the tests' task callback answers, and what the hooks saw. */
typedef struct script {
    int kind;
    int64_t after_ms;
    int calls, feeds, stops;
    int64_t clock, clock_step; /* the fake real clock */
    int clock_calls;
} script;

static void task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *a)
{
    script *s = ctx;
    s->calls++;
    a->kind = s->kind;
    a->after_ms = s->after_ms;
    if (s->kind == ASL_IN_TASK_SUCCEEDED) {
        a->result_new = json_pack("{s:i}", "call", s->calls);
    } else if (s->kind == ASL_IN_TASK_FAILED) {
        /* strings that do not outlive the call: the driver copies them */
        static char err[32], cause[64];
        snprintf(err, sizeof err, "E%d", s->calls);
        snprintf(cause, sizeof cause, "cause of call %d", s->calls);
        a->error = err;
        a->cause = cause;
    }
}

static void fed(void *ctx, const asl_input *in, int rc)
{
    script *s = ctx;
    s->feeds++;
    s->stops += in->kind == ASL_IN_STOP;
}

static int64_t fake_clock(void *ctx, int64_t until_ms)
{
    script *s = ctx;
    s->clock_calls++;
    s->clock += s->clock_step;
    return s->clock;
}

static asl_drive *drive_new(int order, script *s)
{
    asl_drive_opts o = {.order = order, .task = task, .fed = fed, .ctx = s};
    asl_drive *d = asl_drive_new(&o);
    assert_non_null(d);
    return d;
}

/* Index of the first event of type t, or -1. */
static long event_index(const asl_exec *x, const char *t)
{
    for (size_t i = 0; i < asl_exec_event_count(x); i++)
        if (strcmp(asl_exec_event_type(x, i), t) == 0)
            return (long)i;
    return -1;
}

/* Time of event i since the start, in ms. */
static int64_t event_ms(const asl_exec *x, long i)
{
    json_t *e = asl_exec_event_json(x, (size_t)i, 0);
    double ts = json_real_value(json_object_get(e, "timestamp"));
    json_decref(e);
    return (int64_t)(ts * 1000.0 + 0.5) - T0;
}

/* A task (5 s to answer) beside a Wait of 1 s. */
#define PARALLEL_DEF                                                                                        \
    "{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":["               \
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"                                \
    "\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"End\":true}}},"                                \
    "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"End\":true}}}]}}}"

static void test_serial_and_timed_orders(void **state)
{
    (void)state;
    asl_machine *m = compile(PARALLEL_DEF);
    json_t *in = json_object();
    for (int order = ASL_DRIVE_SERIAL; order <= ASL_DRIVE_TIMED; order++) {
        script s = {.kind = ASL_IN_TASK_SUCCEEDED, .after_ms = 5000};
        asl_drive *d = drive_new(order, &s);
        asl_exec *x = asl_exec_start(m, &INFO, in);
        assert_int_equal(asl_drive_run(d, x, T0), ASL_SUCCEEDED);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.feeds, 2);
        long task = event_index(x, "LambdaFunctionSucceeded"), wait = event_index(x, "WaitStateExited");
        assert_true(task > 0 && wait > 0);
        assert_int_equal(event_ms(x, task), 5000);
        if (order == ASL_DRIVE_SERIAL) {
            /* the task's answer first; the timer then, the clock past it */
            assert_true(task < wait);
            assert_int_equal(event_ms(x, wait), 5000);
        } else {
            assert_true(wait < task);
            assert_int_equal(event_ms(x, wait), 1000);
        }
        json_t *out = asl_exec_output_get(x);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(out, 0), "call")), 1);
        asl_exec_free(x);
        asl_drive_free(d);
    }
    json_decref(in);
    asl_machine_free(m);
}

#define TIMEOUT_DEF                                                                                          \
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"                                 \
    "\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"TimeoutSeconds\":2,\"End\":true}}}"

static void test_late_answer_loses_to_timeout(void **state)
{
    (void)state;
    asl_machine *m = compile(TIMEOUT_DEF);
    json_t *in = json_object();
    /* TIMED: the answer due at 5 s comes after the timeout at 2 s */
    script s = {.kind = ASL_IN_TASK_SUCCEEDED, .after_ms = 5000};
    asl_drive *d = drive_new(ASL_DRIVE_TIMED, &s);
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_FAILED);
    assert_string_equal(asl_exec_error(x), "States.Timeout");
    assert_int_equal(asl_exec_stop_ms(x), T0 + 2000);
    asl_exec_free(x);
    asl_drive_free(d);
    /* SERIAL: a task that ran 5 s and gives no answer (it outlived its
     * timeout): the clock moves on, then the timer fires */
    script s2 = {.kind = 0, .after_ms = 5000};
    d = drive_new(ASL_DRIVE_SERIAL, &s2);
    x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_FAILED);
    assert_string_equal(asl_exec_error(x), "States.Timeout");
    assert_int_equal(asl_exec_stop_ms(x), T0 + 5000);
    assert_int_equal(s2.feeds, 1);
    asl_exec_free(x);
    asl_drive_free(d);
    json_decref(in);
    asl_machine_free(m);
}

#define WAIT_DEF "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":60,\"End\":true}}}"

static void test_input_at_stops(void **state)
{
    (void)state;
    asl_machine *m = compile(WAIT_DEF);
    json_t *in = json_object();
    script s = {0};
    asl_drive *d = drive_new(ASL_DRIVE_TIMED, &s);
    char err[16] = "Stopped", cause[16] = "by test";
    asl_input stop = {.kind = ASL_IN_STOP, .error = err, .cause = cause};
    assert_int_equal(asl_drive_at(d, T0 + 1000, &stop), SFN_OK);
    memset(err, 'x', sizeof err - 1); /* copied */
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_ABORTED);
    assert_string_equal(asl_exec_error(x), "Stopped");
    assert_int_equal(asl_exec_stop_ms(x), T0 + 1000);
    assert_int_equal(s.stops, 1);
    asl_exec_free(x);
    /* the input was for that run only: the next one waits its 60 s */
    x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_SUCCEEDED);
    assert_int_equal(asl_exec_stop_ms(x), T0 + 60000);
    assert_int_equal(s.stops, 1);
    asl_exec_free(x);
    asl_drive_free(d);
    json_decref(in);
    asl_machine_free(m);
}

#define TASK_DEF                                                                                          \
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\","                                            \
    "\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"End\":true}}}"

static void test_unanswered_task_left_waiting(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = json_object();
    for (int order = ASL_DRIVE_SERIAL; order <= ASL_DRIVE_TIMED; order++) {
        script s = {.kind = 0};
        asl_drive *d = drive_new(order, &s);
        asl_exec *x = asl_exec_start(m, &INFO, in);
        assert_int_equal(asl_drive_run(d, x, T0), ASL_RUNNING);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.feeds, 0);
        asl_exec_free(x);
        asl_drive_free(d);
    }
    /* no callback at all: the same */
    asl_drive_opts o = {.order = ASL_DRIVE_SERIAL};
    asl_drive *d = asl_drive_new(&o);
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_RUNNING);
    assert_int_equal(asl_drive_run(d, NULL, T0), SFN_EINVAL);
    asl_exec_free(x);
    asl_drive_free(d);
    json_decref(in);
    asl_machine_free(m);
}

/* A loop that never ends: Wait 1 s, back to the Wait (unless $.stop). */
#define LOOP_DEF                                                                                          \
    "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"Next\":\"C\"},"               \
    "\"C\":{\"Type\":\"Choice\",\"Choices\":[{\"Variable\":\"$.stop\",\"IsPresent\":true,\"Next\":\"D\"}],"   \
    "\"Default\":\"W\"},\"D\":{\"Type\":\"Succeed\"}}}"

static void test_max_feeds(void **state)
{
    (void)state;
    asl_machine *m = compile(LOOP_DEF);
    json_t *in = json_object();
    script s = {0};
    asl_drive_opts o = {.order = ASL_DRIVE_SERIAL, .task = task, .fed = fed, .ctx = &s, .max_feeds = 10};
    asl_drive *d = asl_drive_new(&o);
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_RUNNING);
    assert_int_equal(s.feeds, 10);
    asl_exec_free(x);
    asl_drive_free(d);
    json_decref(in);
    asl_machine_free(m);
}

static void test_real_clock(void **state)
{
    (void)state;
    asl_machine *m = compile(
        "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":1,\"End\":true}}}");
    json_t *in = json_object();
    script s = {.clock = T0, .clock_step = 400};
    asl_drive_opts o = {.order = ASL_DRIVE_SERIAL, .task = task, .clock = fake_clock, .ctx = &s};
    asl_drive *d = asl_drive_new(&o);
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_drive_run(d, x, T0), ASL_SUCCEEDED);
    /* asked until it reached the due time: 400, 800, 1200 ms */
    assert_int_equal(s.clock_calls, 3);
    assert_int_equal(asl_exec_stop_ms(x), T0 + 1200);
    asl_exec_free(x);
    asl_drive_free(d);
    json_decref(in);
    asl_machine_free(m);
}

/* Map over 40 items, each a task that fails: many answers at once, their
 * strings copied; one driver runs the execution twice. */
#define MAP_DEF                                                                                           \
    "{\"StartAt\":\"M\",\"States\":{\"M\":{\"Type\":\"Map\",\"ItemsPath\":\"$.items\",\"End\":true,"      \
    "\"ItemProcessor\":{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"             \
    "\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"End\":true,"                                  \
    "\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"],\"Next\":\"C\"}]},\"C\":{\"Type\":\"Pass\",\"End\":true}}}}}}"

static void test_reuse_and_copied_strings(void **state)
{
    (void)state;
    asl_machine *m = compile(MAP_DEF);
    json_t *in = json_object(), *items = json_array();
    for (int i = 0; i < 40; i++)
        json_array_append_new(items, json_integer(i));
    json_object_set_new(in, "items", items);
    for (int order = ASL_DRIVE_SERIAL; order <= ASL_DRIVE_TIMED; order++) {
        script s = {.kind = ASL_IN_TASK_FAILED};
        asl_drive *d = drive_new(order, &s);
        for (int run = 0; run < 2; run++) {
            s.calls = 0;
            asl_exec *x = asl_exec_start(m, &INFO, in);
            assert_int_equal(asl_drive_run(d, x, T0), ASL_SUCCEEDED);
            assert_int_equal(s.calls, 40);
            json_t *out = asl_exec_output_get(x);
            assert_int_equal(json_array_size(out), 40);
            /* item i's task was the (i+1)-th call: its own error and cause */
            for (int i = 0; i < 40; i++) {
                json_t *o = json_array_get(out, (size_t)i);
                char err[32], cause[64];
                snprintf(err, sizeof err, "E%d", i + 1);
                snprintf(cause, sizeof cause, "cause of call %d", i + 1);
                assert_string_equal(json_string_value(json_object_get(o, "Error")), err);
                assert_string_equal(json_string_value(json_object_get(o, "Cause")), cause);
            }
            asl_exec_free(x);
        }
        asl_drive_free(d);
    }
    json_decref(in);
    asl_machine_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_and_timed_orders),
        cmocka_unit_test(test_late_answer_loses_to_timeout),
        cmocka_unit_test(test_input_at_stops),
        cmocka_unit_test(test_unanswered_task_left_waiting),
        cmocka_unit_test(test_max_feeds),
        cmocka_unit_test(test_real_clock),
        cmocka_unit_test(test_reuse_and_copied_strings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
