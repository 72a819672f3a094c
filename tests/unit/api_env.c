/*
 * api_env.c - the API in process for its unit tests (see api_env.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api_env.h"

typedef struct reply {
    int done, status;
    json_t *body;
} reply;

static void on_reply(void *ud, int status, const char *body, size_t len)
{
    reply *r = ud;
    r->done = 1;
    r->status = status;
    r->body = json_loadb(body, len, 0, NULL);
}

void env_open(env *e, const char *path)
{
    char err[256];
    memset(e, 0, sizeof *e);
    e->loop = ev_create();
    assert_non_null(e->loop);
    assert_int_equal(store_open(path, 0, &e->st, err, sizeof err), 0);
    run_opts ro = {.loop = e->loop, .st = e->st, .quiet = 1, .time_scale = 1000};
    e->run = run_create(&ro);
    api_opts ao = {.run = e->run, .loop = e->loop};
    e->api = api_create(&ao);
    assert_non_null(e->api);
}

void env_close(env *e)
{
    run_flush(e->run);
    run_free(e->run);
    api_free(e->api);
    store_close(e->st);
    ev_free(e->loop);
}

json_t *env_call(env *e, const char *op, const char *body, int *status)
{
    char target[128];
    snprintf(target, sizeof target, "%s%s", strchr(op, '.') ? "" : "AWSStepFunctions.", op);
    reply r = {0};
    api_call(e->api, target, body, strlen(body), on_reply, &r);
    if (e->deferred)
        assert_int_equal(r.done, 0); /* never answered before the commit */
    for (int i = 0; i < 2000 && !r.done; i++)
        ev_run_once(e->loop, 5);
    assert_true(r.done);
    *status = r.status;
    return r.body;
}

json_t *env_ok(env *e, const char *op, const char *body)
{
    int status;
    json_t *j = env_call(e, op, body, &status);
    if (status != 200)
        fail_msg("%s %s -> %d %s", op, body, status, json_dumps(j, 0));
    return j;
}

void env_expect_err(env *e, const char *op, const char *body, const char *type)
{
    int status;
    json_t *j = env_call(e, op, body, &status);
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (status != 400 || t == NULL || strcmp(t, type) != 0)
        fail_msg("%s %s: want %s, got %d %s", op, body, type, status, t ? t : "(none)");
    assert_non_null(json_string_value(json_object_get(j, "message")));
    json_decref(j);
}
