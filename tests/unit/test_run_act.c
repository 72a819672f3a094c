/*
 * test_run_act.c - the runner's activities on a real loop and store: a
 * worker polling before the task exists gets it (its ActivityStarted
 * committed first); workers are served oldest first and tasks oldest
 * first; a cancelled worker takes nothing (the task goes to the next), also
 * when it goes after its task was picked but before the commit; a
 * task whose execution was stopped is never handed out; a poll that ends
 * empty; ActivityScheduleFailed for an activity that does not exist;
 * CreateActivity idempotent; the worker count; a restart (recovery)
 * offering a waiting task again with the same token.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "asl.h"
#include "ev.h"
#include "run.h"
#include "store.h"

#define ACT "arn:aws:states:us-east-1:123456789012:activity:work"

typedef struct fixture {
    char path[64];
    ev_loop *loop;
    store *st;
    run *r;
    store_sm sm;
} fixture;

static const char machine[] =
    "{\"StartAt\":\"W\",\"States\":{\"W\":{\"Type\":\"Task\",\"Resource\":\"" ACT "\","
    "\"End\":true}}}";

static void fixture_run(fixture *f)
{
    run_opts o = {.loop = f->loop, .st = f->st, .quiet = 1, .probe_ms = 1};
    f->r = run_create(&o);
    assert_non_null(f->r);
}

static void fixture_open(fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "/tmp/test_run_act_%ld.db", (long)getpid());
    unlink(f->path);
    char err[256];
    assert_int_equal(store_open(f->path, 1, &f->st, err, sizeof err), STORE_OK);
    f->loop = ev_create();
    assert_non_null(f->loop);
    setenv("SFN_TEST_ACTIVITY_POLL_MS", "200", 1);
    fixture_run(f);
    f->sm = (store_sm){.arn = "arn:aws:states:us-east-1:123456789012:stateMachine:M",
                       .name = "M", .role_arn = "arn:aws:iam::123456789012:role/r"};
    assert_int_equal(run_sm_save(f->r, &f->sm, machine), 0);
    run_flush(f->r);
}

static void fixture_close(fixture *f)
{
    run_free(f->r);
    store_close(f->st);
    ev_free(f->loop);
    char p[96];
    const char *sfx[] = {"", "-wal", "-shm", "-lock"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
}

typedef struct got {
    int called, rc;
    char *token, *input;
} got;

static void on_task(void *ud, int rc, const char *token, const char *input)
{
    got *g = ud;
    g->called++;
    g->rc = rc;
    g->token = token ? strdup(token) : NULL;
    g->input = input ? strdup(input) : NULL;
}

static void got_free(got *g)
{
    free(g->token);
    free(g->input);
    memset(g, 0, sizeof *g);
}

static void spin(fixture *f, int ms, const int *until)
{
    int64_t end = ev_now_ms() + ms;
    while ((until == NULL || !*until) && ev_now_ms() < end)
        ev_run_once(f->loop, 5);
    run_flush(f->r);
}

static char *start(fixture *f, const char *name, int n)
{
    json_t *in = json_pack("{s:i}", "n", n);
    char *text = json_dumps(in, JSON_COMPACT);
    run_start s = {.sm = &f->sm, .name = name, .input_text = text, .input = in};
    char *arn = NULL;
    int64_t ms;
    assert_int_equal(run_exec_start(f->r, &s, NULL, NULL, &arn, &ms), 0);
    run_flush(f->r);
    json_decref(in);
    free(text);
    return arn;
}

static int exec_status(fixture *f, const char *arn)
{
    run_exec_info x;
    assert_int_equal(run_exec_get(f->r, arn, &x), 0);
    int st = x.status;
    run_exec_info_cleanup(&x);
    return st;
}

static void test_create_idempotent(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    char *a1 = NULL, *a2 = NULL;
    int64_t c1 = 0, c2 = 0;
    int fresh = 0;
    assert_int_equal(run_act_create(f.r, "work", &a1, &c1, &fresh), 0);
    assert_int_equal(fresh, 1);
    run_flush(f.r);
    assert_int_equal(run_act_create(f.r, "work", &a2, &c2, &fresh), 0);
    assert_int_equal(fresh, 0); /* the existing one */
    assert_string_equal(a1, ACT);
    assert_string_equal(a1, a2);
    assert_int_equal(c1, c2);
    free(a2);
    assert_int_equal(run_act_create(f.r, "bad name", &a2, &c2, &fresh), RUN_EINVAL);
    assert_null(a2);
    free(a1);
    run_act a;
    assert_int_equal(run_act_get(f.r, ACT, &a), 0);
    assert_string_equal(a.name, "work");
    run_act_cleanup(&a);
    assert_int_equal(run_act_delete(f.r, ACT), 0);
    run_flush(f.r);
    assert_int_equal(run_act_get(f.r, ACT, &a), RUN_ENOENT);
    assert_int_equal(run_act_delete(f.r, ACT), 0);
    fixture_close(&f);
}

static void test_schedule_failed(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    char *arn = start(&f, "e1", 1);
    spin(&f, 50, NULL);
    assert_int_equal(exec_status(&f, arn), RUN_FAILED);
    free(arn);
    fixture_close(&f);
}

static void test_workers_and_tasks_in_order(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    assert_int_equal(run_act_ensure(f.r, "work", ACT), 0);
    run_flush(f.r);
    got g1 = {0}, g2 = {0}, g3 = {0}, gone = {0};
    /* a worker that goes away, then two that stay: all wait before any task */
    run_act_poll *pg = run_act_poll_start(f.r, ACT, "gone", on_task, &gone);
    assert_non_null(run_act_poll_start(f.r, ACT, "w1", on_task, &g1));
    assert_non_null(run_act_poll_start(f.r, ACT, "w2", on_task, &g2));
    assert_int_equal(run_act_pollers(f.r, ACT), 3);
    run_act_poll_cancel(pg);
    assert_int_equal(run_act_pollers(f.r, ACT), 2);
    char *a1 = start(&f, "e1", 1), *a2 = start(&f, "e2", 2);
    spin(&f, 100, &g2.called);
    assert_int_equal(gone.called, 0);
    assert_int_equal(g1.called, 1);
    assert_int_equal(g1.rc, 0);
    assert_non_null(g1.token);
    assert_string_equal(g1.input, "{\"n\":1}"); /* the oldest task to the oldest worker */
    assert_int_equal(g2.called, 1);
    assert_string_equal(g2.input, "{\"n\":2}");
    /* a third worker finds nothing and gets an empty answer */
    assert_non_null(run_act_poll_start(f.r, ACT, "w3", on_task, &g3));
    spin(&f, 1000, &g3.called);
    assert_int_equal(g3.called, 1);
    assert_null(g3.token);
    json_t *out = json_pack("{s:b}", "ok", 1);
    assert_int_equal(run_task_send(f.r, g1.token, RUN_TASK_SUCCESS, out, NULL, NULL), 0);
    assert_int_equal(run_task_send(f.r, g2.token, RUN_TASK_FAILURE, NULL, "E", "c"), 0);
    json_decref(out);
    spin(&f, 50, NULL);
    assert_int_equal(exec_status(&f, a1), RUN_SUCCEEDED);
    assert_int_equal(exec_status(&f, a2), RUN_FAILED);
    free(a1);
    free(a2);
    got_free(&g1);
    got_free(&g2);
    got_free(&g3);
    fixture_close(&f);
}

static void test_stopped_task_not_handed(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    assert_int_equal(run_act_ensure(f.r, "work", ACT), 0);
    run_flush(f.r);
    char *a1 = start(&f, "e1", 1), *a2 = start(&f, "e2", 2);
    int64_t ms;
    assert_int_equal(run_exec_stop(f.r, a1, NULL, NULL, &ms), 0);
    run_flush(f.r);
    got g = {0};
    assert_non_null(run_act_poll_start(f.r, ACT, "w", on_task, &g));
    spin(&f, 500, &g.called);
    assert_int_equal(g.called, 1);
    assert_string_equal(g.input, "{\"n\":2}"); /* e1's task was dropped */
    free(a1);
    free(a2);
    got_free(&g);
    fixture_close(&f);
}

/* The worker goes away after its task was picked, before the commit. */
static void test_cancel_while_handing(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    assert_int_equal(run_act_ensure(f.r, "work", ACT), 0);
    run_flush(f.r);
    char *a1 = start(&f, "e1", 1);
    got x = {0}, y = {0};
    run_act_poll *p = run_act_poll_start(f.r, ACT, "quitter", on_task, &x);
    assert_non_null(p);
    run_act_poll_cancel(p); /* picked, ActivityStarted not committed yet */
    run_flush(f.r);
    assert_int_equal(x.called, 0);
    assert_non_null(run_act_poll_start(f.r, ACT, "stayer", on_task, &y));
    spin(&f, 500, &y.called);
    assert_int_equal(y.called, 1);
    assert_string_equal(y.input, "{\"n\":1}");
    assert_int_equal(run_task_send(f.r, y.token, RUN_TASK_SUCCESS, json_null(), NULL, NULL), 0);
    spin(&f, 50, NULL);
    assert_int_equal(exec_status(&f, a1), RUN_SUCCEEDED);
    free(a1);
    got_free(&y);
    fixture_close(&f);
}

static void test_restart_offers_again(void **state)
{
    (void)state;
    fixture f;
    fixture_open(&f);
    assert_int_equal(run_act_ensure(f.r, "work", ACT), 0);
    run_flush(f.r);
    char *a1 = start(&f, "e1", 1);
    got g = {0};
    assert_non_null(run_act_poll_start(f.r, ACT, "before", on_task, &g));
    spin(&f, 500, &g.called);
    assert_non_null(g.token);
    /* a new runner on the same store, as after a crash */
    run_free(f.r);
    fixture_run(&f);
    char err[256];
    assert_int_equal(run_recover(f.r, err, sizeof err), 1);
    run_flush(f.r);
    got h = {0};
    assert_non_null(run_act_poll_start(f.r, ACT, "after", on_task, &h));
    spin(&f, 500, &h.called);
    assert_non_null(h.token);
    assert_string_equal(g.token, h.token); /* offered again, the same token */
    assert_int_equal(run_task_send(f.r, g.token, RUN_TASK_SUCCESS, json_null(), NULL, NULL), 0);
    spin(&f, 50, NULL);
    assert_int_equal(exec_status(&f, a1), RUN_SUCCEEDED);
    assert_int_equal(run_task_send(f.r, h.token, RUN_TASK_SUCCESS, json_null(), NULL, NULL),
                     RUN_ENOENT);
    free(a1);
    got_free(&g);
    got_free(&h);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_idempotent),
        cmocka_unit_test(test_schedule_failed),
        cmocka_unit_test(test_workers_and_tasks_in_order),
        cmocka_unit_test(test_stopped_task_not_handed),
        cmocka_unit_test(test_cancel_while_handing),
        cmocka_unit_test(test_restart_offers_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
