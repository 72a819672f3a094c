/*
 * fuzz_api.c - the Step Functions request parsing and dispatch of sfnd
 * (api_call) over an in-memory store and a runner without Lambda.
 *
 * Input: the operation name (after "AWSStepFunctions.", or a whole target
 * when it contains a '.'), a newline, then the request body. Each input is
 * answered (the loop is pumped until the reply) and the reply must be a JSON
 * object with a status of 200 or 4xx; state persists across inputs, so a
 * corpus can create a machine and then start it. Every 256 inputs the whole
 * service is rebuilt to keep memory bounded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

typedef struct svc {
    ev_loop *loop;
    store *st;
    run *run;
    api *api;
} svc;

static svc S;
static unsigned uses;

static void svc_close(void)
{
    if (S.loop == NULL)
        return;
    run_flush(S.run);
    run_free(S.run);
    api_free(S.api);
    store_close(S.st);
    ev_free(S.loop);
    memset(&S, 0, sizeof S);
}

static void svc_open(void)
{
    char err[256];
    S.loop = ev_create();
    if (S.loop == NULL || store_open(":memory:", 0, &S.st, err, sizeof err) != 0)
        abort();
    run_opts ro = {.loop = S.loop, .st = S.st, .quiet = 1, .time_scale = 1e9};
    S.run = run_create(&ro);
    api_opts ao = {.run = S.run, .loop = S.loop};
    S.api = api_create(&ao);
    if (S.run == NULL || S.api == NULL)
        abort();
    atexit(svc_close);
}

typedef struct answer {
    int done;
    int status;
    int abandoned; /* the input is over: the late reply frees it */
} answer;

static void on_reply(void *ud, int status, const char *body, size_t len)
{
    answer *a = ud;
    a->done = 1;
    a->status = status;
    json_error_t je;
    json_t *j = json_loadb(body, len, 0, &je);
    /* every reply is a JSON object; errors carry __type and message */
    if (j == NULL || !json_is_object(j))
        abort();
    if (status != 200 && !json_is_string(json_object_get(j, "__type")))
        abort();
    json_decref(j);
    if (a->abandoned)
        free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int registered;
    if (!registered) {
        registered = 1;
        svc_open();
    }
    if (++uses % 256 == 0) {
        svc_close();
        svc_open();
    }
    const uint8_t *nl = memchr(data, '\n', size);
    size_t oplen = nl ? (size_t)(nl - data) : size;
    if (oplen > 100)
        return 0;
    char target[160];
    char op[101];
    memcpy(op, data, oplen);
    op[oplen] = '\0';
    if (strlen(op) != oplen)
        return 0;
    snprintf(target, sizeof target, "%s%s", strchr(op, '.') ? "" : "AWSStepFunctions.", op);
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - oplen - 1 : 0;
    answer *a = calloc(1, sizeof *a);
    if (a == NULL)
        return 0;
    api_call(S.api, target, body, blen, on_reply, a);
    for (int i = 0; i < 50 && !a->done; i++)
        ev_run_once(S.loop, 0);
    if (a->done) {
        if (a->status != 200 && (a->status < 400 || a->status > 499))
            abort();
        free(a);
    } else {
        /* a sync execution or WaitExecution still waiting: fine */
        a->abandoned = 1;
    }
    return 0;
}
