/*
 * test_asl_exec.c - the execution API of the core: start, commands, feed,
 * duplicates and late inputs, pending work for recovery, deterministic
 * replay, history event shapes, compile errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "asl.h"
#include "asl_int.h"

static const asl_exec_info INFO = {
    .execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e1",
    .execution_name = "e1",
    .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m",
    .state_machine_name = "m",
    .role_arn = "arn:aws:iam::123456789012:role/r",
    .start_ms = 1700000000000LL,
    .seed = 7,
};

static asl_machine *compile(const char *text)
{
    asl_machine *m = NULL;
    asl_diags d;
    int rc = asl_machine_compile_text(text, strlen(text), ASL_STANDARD, &m, &d);
    if (rc != SFN_OK)
        fail_msg("compile failed: %s", d.n ? d.d[0].message : "?");
    return m;
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
    assert_non_null(v);
    return v;
}

#define TASK_DEF                                                                                         \
    "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\","                                            \
    "\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\",\"ResultPath\":\"$.r\",\"End\":true}}}"

static void test_task_roundtrip(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = parse("{\"a\":1}");
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_exec_status(x), ASL_RUNNING);
    const asl_cmd *c;
    size_t n = asl_exec_cmds(x, &c);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].kind, ASL_CMD_INVOKE);
    assert_string_equal(c[0].function, "arn:aws:lambda:us-east-1:123456789012:function:F");
    assert_true(json_equal(c[0].payload, in));
    uint64_t id = c[0].id;

    json_t *res = parse("{\"booked\":true}");
    asl_input i = {.kind = ASL_IN_TASK_SUCCEEDED, .id = id, .now_ms = INFO.start_ms + 5, .result = res};
    assert_int_equal(asl_exec_feed(x, &i), SFN_OK);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED);
    json_t *want = parse("{\"a\":1,\"r\":{\"booked\":true}}");
    assert_true(json_equal(asl_exec_output_get(x), want));
    /* the input document is shared, never modified */
    json_t *orig = parse("{\"a\":1}");
    assert_true(json_equal(in, orig));
    /* a duplicate delivery after the end changes nothing */
    assert_int_equal(asl_exec_feed(x, &i), SFN_ESTATE);
    assert_int_equal(asl_exec_stop_ms(x), INFO.start_ms + 5);
    json_decref(orig);
    json_decref(want);
    json_decref(res);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

static void test_unknown_task_id_ignored(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = json_object();
    asl_exec *x = asl_exec_start(m, &INFO, in);
    size_t before = asl_exec_event_count(x);
    asl_input i = {.kind = ASL_IN_TASK_SUCCEEDED, .id = 999, .now_ms = INFO.start_ms, .result = in};
    assert_int_equal(asl_exec_feed(x, &i), SFN_ENOENT);
    assert_int_equal(asl_exec_event_count(x), before);
    assert_int_equal(asl_exec_status(x), ASL_RUNNING);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

static void test_pending_lists_outstanding_work(void **state)
{
    (void)state;
    asl_machine *m = compile("{\"StartAt\":\"P\",\"States\":{\"P\":{\"Type\":\"Parallel\",\"End\":true,\"Branches\":["
                             "{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
                             "\"arn:aws:lambda:us-east-1:123456789012:function:A\",\"End\":true}}},"
                             "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Wait\",\"Seconds\":30,\"End\":true}}}]}}}");
    json_t *in = json_object();
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    size_t n = asl_exec_pending(x, &c);
    assert_int_equal(n, 2);
    int invokes = 0, timers = 0;
    uint64_t timer_id = 0, task_id = 0;
    for (size_t k = 0; k < n; k++) {
        if (c[k].kind == ASL_CMD_INVOKE) {
            invokes++;
            task_id = c[k].id;
        } else {
            timers++;
            timer_id = c[k].id;
            assert_int_equal(c[k].due_ms, INFO.start_ms + 30000);
        }
    }
    assert_int_equal(invokes, 1);
    assert_int_equal(timers, 1);
    asl_input t = {.kind = ASL_IN_TIMER, .id = timer_id, .now_ms = INFO.start_ms + 30000};
    assert_int_equal(asl_exec_feed(x, &t), SFN_OK);
    n = asl_exec_pending(x, &c);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].id, task_id);
    json_t *r = json_string("a");
    asl_input ok = {.kind = ASL_IN_TASK_SUCCEEDED, .id = task_id, .now_ms = INFO.start_ms + 31000, .result = r};
    assert_int_equal(asl_exec_feed(x, &ok), SFN_OK);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED);
    json_t *want = parse("[\"a\",{}]");
    assert_true(json_equal(asl_exec_output_get(x), want));
    assert_int_equal(asl_exec_pending(x, &c), 0);
    json_decref(want);
    json_decref(r);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* Replaying the same inputs into a fresh execution rebuilds the same history,
 * random draws included (UUID, jitter): that is what crash recovery relies on. */
static void test_replay_is_deterministic(void **state)
{
    (void)state;
    asl_machine *m = compile(
        "{\"StartAt\":\"U\",\"States\":{\"U\":{\"Type\":\"Pass\",\"Parameters\":{\"id.$\":\"States.UUID()\"},"
        "\"Next\":\"T\"},\"T\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\","
        "\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"],\"JitterStrategy\":\"FULL\",\"MaxAttempts\":3}],\"End\":true}}}");
    json_t *in = json_object();
    asl_exec *a = asl_exec_start(m, &INFO, in);
    asl_input log[8];
    int nlog = 0;
    int64_t now = INFO.start_ms;
    for (int step = 0; step < 6 && asl_exec_status(a) == ASL_RUNNING; step++) {
        const asl_cmd *c;
        size_t n = asl_exec_pending(a, &c);
        assert_int_equal(n, 1);
        asl_input i = {.id = c[0].id, .now_ms = now};
        if (c[0].kind == ASL_CMD_TIMER) {
            i.kind = ASL_IN_TIMER;
            i.now_ms = now = c[0].due_ms;
        } else if (step < 3) {
            i.kind = ASL_IN_TASK_FAILED;
            i.error = "Boom";
            i.cause = "x";
        } else {
            i.kind = ASL_IN_TASK_SUCCEEDED;
            i.result = in;
        }
        log[nlog++] = i;
        assert_int_equal(asl_exec_feed(a, &i), SFN_OK);
    }
    asl_exec *b = asl_exec_start(m, &INFO, in);
    for (int k = 0; k < nlog; k++)
        assert_int_equal(asl_exec_feed(b, &log[k]), SFN_OK);
    assert_int_equal(asl_exec_event_count(a), asl_exec_event_count(b));
    for (size_t k = 0; k < asl_exec_event_count(a); k++) {
        json_t *ea = asl_exec_event_json(a, k, 1), *eb = asl_exec_event_json(b, k, 1);
        assert_true(json_equal(ea, eb));
        json_decref(ea);
        json_decref(eb);
    }
    assert_int_equal(asl_exec_status(a), asl_exec_status(b));
    json_decref(in);
    asl_exec_free(a);
    asl_exec_free(b);
    asl_machine_free(m);
}

static void test_event_shapes(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = parse("{\"a\":1}");
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    asl_exec_cmds(x, &c);
    asl_input f = {.kind = ASL_IN_TASK_FAILED, .id = c[0].id, .now_ms = INFO.start_ms + 1500, .error = "Bad",
                   .cause = "why"};
    asl_exec_feed(x, &f);
    assert_int_equal(asl_exec_status(x), ASL_FAILED);
    assert_string_equal(asl_exec_error(x), "Bad");
    assert_string_equal(asl_exec_cause(x), "why");
    size_t n = asl_exec_event_count(x);
    const char *types[] = {"ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                           "LambdaFunctionStarted", "LambdaFunctionFailed", "ExecutionFailed"};
    assert_int_equal(n, 6);
    for (size_t k = 0; k < n; k++)
        assert_string_equal(asl_exec_event_type(x, k), types[k]);
    json_t *e0 = asl_exec_event_json(x, 0, 1);
    json_t *d0 = json_object_get(e0, "executionStartedEventDetails");
    assert_string_equal(json_string_value(json_object_get(d0, "input")), "{\"a\":1}");
    assert_string_equal(json_string_value(json_object_get(d0, "roleArn")), INFO.role_arn);
    assert_true(json_is_false(json_object_get(json_object_get(d0, "inputDetails"), "truncated")));
    json_t *e2 = asl_exec_event_json(x, 2, 1);
    json_t *d2 = json_object_get(e2, "lambdaFunctionScheduledEventDetails");
    assert_string_equal(json_string_value(json_object_get(d2, "resource")),
                        "arn:aws:lambda:us-east-1:123456789012:function:F");
    assert_int_equal(json_integer_value(json_object_get(e2, "previousEventId")), 2);
    json_t *e5 = asl_exec_event_json(x, 5, 1);
    json_t *d5 = json_object_get(e5, "executionFailedEventDetails");
    assert_string_equal(json_string_value(json_object_get(d5, "error")), "Bad");
    assert_string_equal(json_string_value(json_object_get(d5, "cause")), "why");
    assert_true(json_real_value(json_object_get(e5, "timestamp")) > 1700000001.4);
    /* without data: no payloads */
    json_t *e0n = asl_exec_event_json(x, 0, 0);
    assert_null(json_object_get(json_object_get(e0n, "executionStartedEventDetails"), "input"));
    json_decref(e0);
    json_decref(e0n);
    json_decref(e2);
    json_decref(e5);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* Payloads repeat from event to event (a state's input is the last
 * state's output): each event still carries its own, whether the text is
 * the same as the last one written or not, in any order of writing. */
static const char *payload_of(json_t *ev)
{
    const char *k;
    json_t *v;
    json_object_foreach(ev, k, v) {
        if (json_is_object(v)) {
            json_t *p = json_object_get(v, "input");
            if (!p)
                p = json_object_get(v, "output");
            if (p)
                return json_string_value(p);
        }
    }
    return NULL;
}

static void test_event_payloads_repeat(void **state)
{
    (void)state;
    asl_machine *m = compile("{\"StartAt\":\"A\",\"States\":{"
                             "\"A\":{\"Type\":\"Pass\",\"Result\":{\"x\":\"\\\"1\"},\"Next\":\"B\"},"
                             "\"B\":{\"Type\":\"Pass\",\"Next\":\"C\"},"
                             "\"C\":{\"Type\":\"Pass\",\"Result\":{\"x\":2},\"End\":true}}}");
    json_t *in = parse("{\"a\":\"q\\\"\"}");
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED);
    const char *want[] = {"{\"a\":\"q\\\"\"}", "{\"a\":\"q\\\"\"}", "{\"x\":\"\\\"1\"}",
                          "{\"x\":\"\\\"1\"}", "{\"x\":\"\\\"1\"}", "{\"x\":\"\\\"1\"}",
                          "{\"x\":2}", "{\"x\":2}"};
    size_t n = asl_exec_event_count(x);
    assert_int_equal(n, 8);
    for (int pass = 0; pass < 2; pass++) {
        /* forwards, then backwards: the reuse must not depend on order */
        for (size_t k = 0; k < n; k++) {
            size_t i = pass ? n - 1 - k : k;
            json_t *e = asl_exec_event_json(x, i, 1);
            assert_non_null(e);
            assert_string_equal(payload_of(e), want[i]);
            json_decref(e);
        }
    }
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* The log form: repeated payloads become @<id>, and expanding each line
 * with the earlier lines' payloads gives back the API form exactly. */
typedef struct lines {
    char *text[16];
    size_t len[16];
} lines;

static int lines_lookup(void *ctx, int64_t id, const char **tok, size_t *toklen)
{
    lines *l = ctx;
    if (id < 1 || id > 16 || l->text[id - 1] == NULL)
        return -1;
    return asl_event_log_payload(l->text[id - 1], l->len[id - 1], tok, toklen);
}

static int no_lookup(void *ctx, int64_t id, const char **tok, size_t *toklen)
{
    (void)ctx;
    (void)id;
    (void)tok;
    (void)toklen;
    return -1;
}

static void test_event_log_form(void **state)
{
    (void)state;
    asl_machine *m = compile("{\"StartAt\":\"A\",\"States\":{"
                             "\"A\":{\"Type\":\"Pass\",\"Result\":{\"x\":\"@1 \\\"@2\"},\"Next\":\"B\"},"
                             "\"B\":{\"Type\":\"Pass\",\"Next\":\"C\"},"
                             "\"C\":{\"Type\":\"Pass\",\"Result\":{\"x\":2},\"End\":true}}}");
    json_t *in = parse("{\"a\":\"q@3\"}");
    asl_exec *x = asl_exec_start(m, &INFO, in);
    size_t n = asl_exec_event_count(x);
    assert_int_equal(n, 8);
    lines stored, api;
    memset(&stored, 0, sizeof stored);
    memset(&api, 0, sizeof api);
    int refs = 0;
    for (size_t i = 0; i < n; i++) {
        asl_jbuf b = {0};
        assert_int_equal(asl_exec_event_write_log(x, i, &b), SFN_OK);
        stored.text[i] = b.p;
        stored.len[i] = b.n;
        asl_jbuf a = {0};
        assert_int_equal(asl_exec_event_write(x, i, 1, &a), SFN_OK);
        api.text[i] = a.p;
        api.len[i] = a.n;
        refs += strstr(b.p, ":@") != NULL;
    }
    assert_int_equal(refs, 5); /* Entered A, Entered B, Exited B, Entered C, Succeeded */
    /* Written in one go (one batch, or two), the same lines joined by '\n':
     * a payload that is the last full one's own value is not re-serialised,
     * and its reference is the same. */
    asl_jbuf joined = {0};
    for (size_t i = 0; i < n; i++) {
        if (i)
            asl_jbuf_c(&joined, '\n');
        asl_jbuf_raw(&joined, stored.text[i], stored.len[i]);
    }
    for (size_t split = 0; split <= n; split += 3) {
        asl_exec *x2 = asl_exec_start(m, &INFO, in);
        asl_jbuf b = {0};
        assert_int_equal(asl_exec_events_write_log(x2, 0, split, &b), SFN_OK);
        if (split > 0 && split < n)
            asl_jbuf_c(&b, '\n');
        assert_int_equal(asl_exec_events_write_log(x2, split, n, &b), SFN_OK);
        assert_int_equal(b.n, joined.n);
        assert_memory_equal(b.p, joined.p, joined.n);
        asl_jbuf_cleanup(&b);
        asl_exec_free(x2);
    }
    asl_jbuf_cleanup(&joined);
    for (size_t i = 0; i < n; i++) {
        asl_jbuf e = {0};
        assert_int_equal(asl_event_log_expand(stored.text[i], stored.len[i], lines_lookup, &stored, &e),
                         SFN_OK);
        assert_string_equal(e.p, api.text[i]);
        asl_jbuf_cleanup(&e);
    }
    /* an unknown reference is an error, an @ inside a string is not one */
    asl_jbuf e = {0};
    assert_int_equal(asl_event_log_expand("{\"input\":@9}", 12, no_lookup, NULL, &e), SFN_ENOENT);
    asl_jbuf_reset(&e);
    assert_int_equal(asl_event_log_expand("{\"a\":\"@9 \\\"@9\"}", 16, no_lookup, NULL, &e), SFN_OK);
    assert_string_equal(e.p, "{\"a\":\"@9 \\\"@9\"}");
    asl_jbuf_cleanup(&e);
    for (size_t i = 0; i < n; i++) {
        free(stored.text[i]);
        free(api.text[i]);
    }
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* The runner's way: after each step, that step's events in one batch
 * (asl_exec_events_write_log). The text equals event-by-event writing,
 * across steps too, where the same result object comes back (the value
 * memo must not outlive its batch). */
static void test_event_log_batches(void **state)
{
    (void)state;
    asl_machine *m = compile(
        "{\"StartAt\":\"T1\",\"States\":{"
        "\"T1\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\","
        "\"ResultPath\":\"$.r1\",\"Next\":\"P\"},"
        "\"P\":{\"Type\":\"Pass\",\"Next\":\"T2\"},"
        "\"T2\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\","
        "\"ResultPath\":null,\"Next\":\"T3\"},"
        "\"T3\":{\"Type\":\"Task\",\"Resource\":\"arn:aws:lambda:us-east-1:123456789012:function:F\","
        "\"ResultPath\":\"$.r3\",\"OutputPath\":\"$.r1\",\"End\":true}}}");
    json_t *in = parse("{\"trip\":\"t-1\"}");
    json_t *res = parse("{\"booked\":true}"); /* every task returns this very object */
    asl_exec *one = asl_exec_start(m, &INFO, in), *batch = asl_exec_start(m, &INFO, in);
    asl_jbuf a = {0}, b = {0};
    size_t done = 0;
    for (int step = 0;; step++) {
        size_t n = asl_exec_event_count(one);
        assert_int_equal(asl_exec_event_count(batch), n);
        for (size_t i = done; i < n; i++) {
            if (i > done)
                asl_jbuf_c(&a, '\n');
            assert_int_equal(asl_exec_event_write_log(one, i, &a), SFN_OK);
        }
        assert_int_equal(asl_exec_events_write_log(batch, done, n, &b), SFN_OK);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.p, b.p, a.n);
        asl_jbuf_c(&a, '|');
        asl_jbuf_c(&b, '|');
        done = n;
        if (asl_exec_status(one) != ASL_RUNNING)
            break;
        assert_true(step < 5);
        const asl_cmd *c1, *c2;
        assert_int_equal(asl_exec_cmds(one, &c1), 1);
        assert_int_equal(asl_exec_cmds(batch, &c2), 1);
        asl_input i1 = {.kind = ASL_IN_TASK_SUCCEEDED, .id = c1[0].id,
                        .now_ms = INFO.start_ms + step + 1, .result = res};
        asl_input i2 = i1;
        i2.id = c2[0].id;
        assert_int_equal(asl_exec_feed(one, &i1), SFN_OK);
        assert_int_equal(asl_exec_feed(batch, &i2), SFN_OK);
    }
    assert_int_equal(asl_exec_status(batch), ASL_SUCCEEDED);
    assert_non_null(strstr(b.p, ":@")); /* references were written */
    /* the output's text, as the terminal event carried it: only after a batch */
    const char *ot;
    size_t otn;
    assert_int_equal(asl_exec_output_log_text(one, &ot, &otn), -1);
    assert_int_equal(asl_exec_output_log_text(batch, &ot, &otn), 0);
    char *want = asl_json_text(asl_exec_output_get(batch));
    assert_non_null(want);
    assert_int_equal(otn, strlen(want));
    assert_memory_equal(ot, want, otn);
    free(want);
    asl_jbuf_cleanup(&a);
    asl_jbuf_cleanup(&b);
    asl_exec_free(one);
    asl_exec_free(batch);
    json_decref(res);
    json_decref(in);
    asl_machine_free(m);
}

static void test_compile_errors(void **state)
{
    (void)state;
    asl_machine *m = NULL;
    asl_diags d;
    const char *bad_json = "{\"StartAt\":";
    assert_int_equal(asl_machine_compile_text(bad_json, strlen(bad_json), ASL_STANDARD, &m, &d), SFN_EINVAL);
    assert_null(m);
    assert_true(d.n >= 1);
    const char *missing = "{\"StartAt\":\"A\",\"States\":{\"A\":{\"Type\":\"Pass\",\"Next\":\"Nope\"}}}";
    assert_int_equal(asl_machine_compile_text(missing, strlen(missing), ASL_STANDARD, &m, &d), SFN_EINVAL);
    char cause[2048];
    asl_diags_cause(&d, cause, sizeof cause);
    assert_non_null(strstr(cause, "Invalid State Machine Definition"));
    assert_non_null(strstr(cause, "Nope"));
}

static void test_stop_ends_running_tasks(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = json_object();
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    asl_exec_cmds(x, &c);
    uint64_t id = c[0].id;
    asl_input s = {.kind = ASL_IN_STOP, .now_ms = INFO.start_ms + 10, .error = "Ops", .cause = "manual"};
    assert_int_equal(asl_exec_feed(x, &s), SFN_OK);
    assert_int_equal(asl_exec_status(x), ASL_ABORTED);
    size_t n = asl_exec_event_count(x);
    assert_string_equal(asl_exec_event_type(x, n - 1), "ExecutionAborted");
    assert_string_equal(asl_exec_event_type(x, n - 2), "TaskStateAborted");
    /* the late result of the aborted task is refused: exactly one terminal event */
    asl_input late = {.kind = ASL_IN_TASK_SUCCEEDED, .id = id, .now_ms = INFO.start_ms + 20, .result = in};
    assert_int_equal(asl_exec_feed(x, &late), SFN_ESTATE);
    assert_int_equal(asl_exec_event_count(x), n);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* TimeoutSeconds running out after a heartbeat re-armed HeartbeatSeconds:
 * both timers of the attempt go, so the retried attempt is not failed by
 * the first one's heartbeat deadline (it was: States.HeartbeatTimeout at
 * 13 s, before the second attempt's own heartbeat was due at 19 s). */
static void test_timeout_drops_heartbeat_timer(void **state)
{
    (void)state;
    asl_machine *m = compile("{\"StartAt\":\"T\",\"States\":{\"T\":{\"Type\":\"Task\",\"Resource\":"
                             "\"arn:aws:lambda:us-east-1:123456789012:function:A\",\"TimeoutSeconds\":10,"
                             "\"HeartbeatSeconds\":8,\"Retry\":[{\"ErrorEquals\":[\"States.Timeout\"],"
                             "\"IntervalSeconds\":1,\"MaxAttempts\":1}],\"End\":true}}}");
    json_t *in = json_object();
    int64_t t0 = INFO.start_ms;
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    size_t n = asl_exec_pending(x, &c);
    uint64_t task = 0, to = 0;
    for (size_t k = 0; k < n; k++) {
        if (c[k].kind == ASL_CMD_INVOKE)
            task = c[k].id;
        else if (c[k].due_ms == t0 + 10000)
            to = c[k].id;
    }
    assert_true(task != 0 && to != 0);
    asl_input hb = {.kind = ASL_IN_HEARTBEAT, .id = task, .now_ms = t0 + 5000};
    assert_int_equal(asl_exec_feed(x, &hb), SFN_OK);
    asl_input fire = {.kind = ASL_IN_TIMER, .id = to, .now_ms = t0 + 10000};
    assert_int_equal(asl_exec_feed(x, &fire), SFN_OK);
    /* waiting for the retry's back-off only */
    n = asl_exec_pending(x, &c);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].kind, ASL_CMD_TIMER);
    assert_int_equal(c[0].due_ms, t0 + 11000);
    asl_input retry = {.kind = ASL_IN_TIMER, .id = c[0].id, .now_ms = t0 + 11000};
    assert_int_equal(asl_exec_feed(x, &retry), SFN_OK);
    n = asl_exec_pending(x, &c);
    assert_int_equal(n, 3); /* the task, its Timeout (21 s), its heartbeat (19 s) */
    for (size_t k = 0; k < n; k++)
        if (c[k].kind == ASL_CMD_TIMER)
            assert_true(c[k].due_ms == t0 + 21000 || c[k].due_ms == t0 + 19000);
    assert_int_equal(asl_exec_status(x), ASL_RUNNING);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* An out-of-memory while recording an event never drops it: the
 * execution fails visibly (States.Runtime) with every event it had, the
 * failure included, and continuous ids. */
static void test_history_oom_fails_visibly(void **state)
{
    (void)state;
    /* a long chain of Pass states: the history grows several times */
    json_t *states = json_object();
    for (int i = 0; i < 200; i++) {
        char name[16], next[16];
        snprintf(name, sizeof name, "P%d", i);
        snprintf(next, sizeof next, "P%d", i + 1);
        json_object_set_new(states, name, i < 199 ? json_pack("{s:s, s:s}", "Type", "Pass", "Next", next)
                                                 : json_pack("{s:s, s:b}", "Type", "Pass", "End", 1));
    }
    json_t *def = json_pack("{s:s, s:o}", "StartAt", "P0", "States", states);
    char *text = json_dumps(def, 0);
    asl_machine *m = compile(text);
    json_t *in = json_object();
    /* without a failure: 402 events, SUCCEEDED */
    asl_exec *x = asl_exec_start(m, &INFO, in);
    assert_int_equal(asl_exec_status(x), ASL_SUCCEEDED);
    size_t full = asl_exec_event_count(x);
    asl_exec_free(x);
    /* the second growth of the history fails */
    asl__test_fail_grow = 2;
    x = asl_exec_start(m, &INFO, in);
    asl__test_fail_grow = 0;
    assert_int_equal(asl_exec_status(x), ASL_FAILED);
    assert_string_equal(asl_exec_error(x), "States.Runtime");
    assert_non_null(strstr(asl_exec_cause(x), "out of memory"));
    size_t n = asl_exec_event_count(x);
    assert_true(n > 1 && n < full);
    assert_string_equal(asl_exec_event_type(x, n - 1), "ExecutionFailed");
    asl_exec_free(x);
    json_decref(in);
    free(text);
    json_decref(def);
    asl_machine_free(m);
}

static void test_data_limit(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = json_object();
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    asl_exec_cmds(x, &c);
    char *big = malloc(300000);
    memset(big, 'a', 299999);
    big[299999] = 0;
    json_t *r = json_string(big);
    asl_input i = {.kind = ASL_IN_TASK_SUCCEEDED, .id = c[0].id, .now_ms = INFO.start_ms, .result = r};
    asl_exec_feed(x, &i);
    assert_int_equal(asl_exec_status(x), ASL_FAILED);
    assert_string_equal(asl_exec_error(x), "States.DataLimitExceeded");
    free(big);
    json_decref(r);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

/* A function's error may carry any bytes: history text stays valid JSON,
 * invalid UTF-8 replaced by U+FFFD and good UTF-8 kept. */
static void test_invalid_utf8_cause(void **state)
{
    (void)state;
    asl_machine *m = compile(TASK_DEF);
    json_t *in = json_object();
    asl_exec *x = asl_exec_start(m, &INFO, in);
    const asl_cmd *c;
    asl_exec_cmds(x, &c);
    asl_input f = {.kind = ASL_IN_TASK_FAILED, .id = c[0].id, .now_ms = INFO.start_ms, .error = "Bad",
                   .cause = "caf\xc3\xa9 \xff\xfe cut \xe2\x82"};
    asl_exec_feed(x, &f);
    asl_jbuf b = {0};
    size_t n = asl_exec_event_count(x);
    assert_int_equal(asl_exec_event_write(x, n - 1, 1, &b), SFN_OK);
    json_error_t je;
    json_t *j = json_loadb(b.p, b.n, 0, &je); /* jansson refuses invalid UTF-8 */
    assert_non_null(j);
    const char *cause = json_string_value(json_object_get(json_object_get(j, "executionFailedEventDetails"), "cause"));
    assert_string_equal(cause, "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd cut \xef\xbf\xbd\xef\xbf\xbd");
    json_decref(j);
    asl_jbuf_cleanup(&b);
    json_decref(in);
    asl_exec_free(x);
    asl_machine_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_roundtrip),
        cmocka_unit_test(test_unknown_task_id_ignored),
        cmocka_unit_test(test_pending_lists_outstanding_work),
        cmocka_unit_test(test_replay_is_deterministic),
        cmocka_unit_test(test_event_shapes),
        cmocka_unit_test(test_event_payloads_repeat),
        cmocka_unit_test(test_event_log_form),
        cmocka_unit_test(test_event_log_batches),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_stop_ends_running_tasks),
        cmocka_unit_test(test_timeout_drops_heartbeat_timer),
        cmocka_unit_test(test_data_limit),
        cmocka_unit_test(test_history_oom_fails_visibly),
        cmocka_unit_test(test_invalid_utf8_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
