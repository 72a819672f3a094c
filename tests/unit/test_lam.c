/*
 * test_lam.c - local Lambda with real child processes (the fixture
 * bootstrap in tests/lambda_fixtures): success, function error, timeout,
 * crash and exit mid-invocation, replacement, warm reuse, queueing beyond
 * the cap, init failures, the clean environment and its overrides
 * (--env-vars), function lookup, the
 * Runtime API's refusals and the Invoke HTTP API.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ev.h"
#include "http.h"
#include "lam.h"

#ifndef FIXTURE_BOOTSTRAP
#error "FIXTURE_BOOTSTRAP must be defined"
#endif

typedef struct res {
    int done;
    lam_status status;
    char id[40];
    char *body;
    char etype[64];
} res;

static void on_result(void *ud, const lam_result *r)
{
    res *x = ud;
    assert_int_equal(x->done, 0); /* exactly once */
    x->done = 1;
    x->status = r->status;
    snprintf(x->id, sizeof x->id, "%s", r->request_id);
    x->body = strndup(r->body, r->len);
    snprintf(x->etype, sizeof x->etype, "%s", r->error_type ? r->error_type : "");
}

static ev_loop *L;
static lam *LM;

static void setup_opts(lam_opts *o)
{
    L = ev_create();
    LM = lam_create(L, o);
    assert_non_null(LM);
}

static void setup(int max_procs)
{
    lam_opts o = {.max_procs = max_procs, .log_discard = 1, .region = "us-east-1"};
    setup_opts(&o);
}

static void add_fn(const char *name, const char *handler, int timeout)
{
    const char *env[] = {"TABLE_NAME=bookings", "AWS_REGION=eu-west-9", NULL};
    lam_function_def d = {.name = name, .bootstrap = FIXTURE_BOOTSTRAP, .handler = handler,
                          .env = env, .timeout_s = timeout, .memory_mb = 256};
    assert_int_equal(lam_function_add(LM, &d), 0);
}

static void teardown(void)
{
    lam_free(LM);
    ev_free(L);
}

static void run_until(int *flag, int ms)
{
    int64_t end = ev_now_ms() + ms;
    while (!*flag && ev_now_ms() < end)
        ev_run_once(L, 10);
    assert_true(*flag);
}

static void invoke(const char *fn, const char *payload, res *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(lam_invoke(LM, fn, payload, strlen(payload), on_result, r, NULL), 0);
    assert_int_equal(r->done, 0); /* never from inside lam_invoke */
    run_until(&r->done, 5000);
}

static void test_success_and_warm(void **state)
{
    setup(4);
    add_fn("echo", "echo", 3);
    res r;
    invoke("echo", "{\"op\":\"echo\",\"x\":[1,2]}", &r);
    assert_int_equal(r.status, LAM_OK);
    assert_string_equal(r.body, "{\"op\":\"echo\",\"x\":[1,2]}");
    assert_int_equal(strlen(r.id), 36);
    free(r.body);
    /* warm: the same process answers the next ones */
    invoke("echo", "{\"op\":\"pid\"}", &r);
    char first[64];
    snprintf(first, sizeof first, "%s", r.body);
    free(r.body);
    for (int i = 0; i < 20; i++) {
        invoke("arn:aws:lambda:us-east-1:123456789012:function:echo", "{\"op\":\"pid\"}", &r);
        assert_string_equal(r.body, first);
        free(r.body);
    }
    lam_stats st;
    lam_stats_get(LM, &st);
    assert_int_equal(st.spawned, 1);
    assert_int_equal(st.invocations, 22);
    teardown();
}

static void test_function_error(void **state)
{
    setup(2);
    add_fn("book", "fail", 3);
    res r;
    invoke("book", "{}", &r);
    assert_int_equal(r.status, LAM_FUNCTION_ERROR);
    assert_string_equal(r.etype, "BookingFailed");
    assert_string_equal(r.body, "{\"errorMessage\":\"no rooms\",\"errorType\":\"BookingFailed\",\"stackTrace\":[]}");
    free(r.body);
    teardown();
}

static void test_timeout(void **state)
{
    setup(2);
    add_fn("slow", "echo", 1);
    res r;
    int64_t t0 = ev_now_ms();
    invoke("slow", "{\"op\":\"sleep\",\"ms\":10000}", &r);
    int64_t took = ev_now_ms() - t0;
    assert_true(took >= 1000 && took < 3000);
    assert_int_equal(r.status, LAM_TIMEOUT);
    assert_string_equal(r.etype, "Sandbox.Timedout");
    char want[200];
    snprintf(want, sizeof want,
             "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"RequestId: %s Error: Task timed out after 1.00 seconds\"}",
             r.id);
    assert_string_equal(r.body, want);
    free(r.body);
    /* the killed process is replaced: the next invocation works */
    invoke("slow", "{\"op\":\"echo\"}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    lam_stats st;
    lam_stats_get(LM, &st);
    assert_int_equal(st.spawned, 2);
    assert_int_equal(st.procs, 1);
    teardown();
}

static void test_crash_and_exit(void **state)
{
    setup(2);
    add_fn("c", "echo", 3);
    res r;
    invoke("c", "{\"op\":\"crash\"}", &r);
    assert_int_equal(r.status, LAM_EXIT);
    assert_string_equal(r.etype, "Runtime.ExitError");
    char want[200];
    snprintf(want, sizeof want,
             "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: %s Error: Runtime exited with error: signal: killed\"}",
             r.id);
    assert_string_equal(r.body, want);
    free(r.body);
    invoke("c", "{\"op\":\"exit\",\"code\":1}", &r);
    assert_int_equal(r.status, LAM_EXIT);
    assert_non_null(strstr(r.body, "Runtime exited with error: exit status 1\"}"));
    free(r.body);
    invoke("c", "{\"op\":\"echo\"}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    lam_stats st;
    lam_stats_get(LM, &st);
    assert_int_equal(st.spawned, 3);
    teardown();
}

static void test_queue_beyond_cap(void **state)
{
    setup(2);
    add_fn("q", "echo", 3);
    res r[6];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 6; i++) {
        char p[64];
        snprintf(p, sizeof p, "{\"op\":\"sleep\",\"ms\":100,\"i\":%d}", i);
        assert_int_equal(lam_invoke(LM, "q", p, strlen(p), on_result, &r[i], NULL), 0);
    }
    int64_t t0 = ev_now_ms();
    for (int i = 0; i < 6; i++)
        run_until(&r[i].done, 5000);
    int64_t took = ev_now_ms() - t0;
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].status, LAM_OK);
        char p[64];
        snprintf(p, sizeof p, "\"i\":%d}", i);
        assert_non_null(strstr(r[i].body, p));
        free(r[i].body);
    }
    lam_stats st;
    lam_stats_get(LM, &st);
    assert_int_equal(st.spawned, 2); /* capped */
    assert_true(st.queued >= 4);
    assert_true(took >= 300); /* 6 x 100 ms on 2 processes */
    teardown();
}

static void test_init_errors(void **state)
{
    setup(2);
    add_fn("if", "initfail", 3);
    add_fn("ic", "initcrash", 3);
    lam_function_def d = {.name = "missing", .bootstrap = "/nonexistent/dir/bootstrap"};
    assert_int_equal(lam_function_add(LM, &d), 0);
    res r;
    invoke("if", "{}", &r);
    assert_int_equal(r.status, LAM_INIT_ERROR);
    assert_string_equal(r.etype, "Runtime.BadConfig");
    free(r.body);
    invoke("ic", "{}", &r);
    assert_int_equal(r.status, LAM_INIT_ERROR);
    assert_string_equal(r.etype, "Runtime.ExitError");
    assert_non_null(strstr(r.body, "exit status 2"));
    free(r.body);
    invoke("missing", "{}", &r);
    assert_int_equal(r.status, LAM_INIT_ERROR);
    assert_string_equal(r.etype, "Runtime.InvalidEntrypoint");
    assert_non_null(strstr(r.body, "fork/exec /nonexistent/dir/bootstrap"));
    free(r.body);
    teardown();
}

static void test_clean_env(void **state)
{
    setenv("SFND_SECRET_SHOULD_NOT_LEAK", "1", 1);
    setup(1);
    add_fn("envfn", "env", 7);
    res r;
    invoke("envfn", "{}", &r);
    assert_int_equal(r.status, LAM_OK);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    json_t *env = json_object_get(j, "env");
    static const char *const want[] = {
        "AWS_LAMBDA_RUNTIME_API=127.0.0.1:", "AWS_LAMBDA_FUNCTION_NAME=envfn",
        "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
        "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/envfn", "AWS_LAMBDA_LOG_STREAM_NAME=",
        "AWS_LAMBDA_INITIALIZATION_TYPE=on-demand", "AWS_REGION=us-east-1",
        "AWS_DEFAULT_REGION=us-east-1", "AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
        "_HANDLER=env", "LAMBDA_TASK_ROOT=/", "LAMBDA_RUNTIME_DIR=", "TZ=:UTC",
        "LANG=en_US.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "AWS_ACCESS_KEY_ID=",
        "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "TABLE_NAME=bookings", NULL};
    size_t nwant = 0;
    for (; want[nwant]; nwant++) {
        int found = 0;
        for (size_t i = 0; i < json_array_size(env); i++)
            if (strncmp(json_string_value(json_array_get(env, i)), want[nwant], strlen(want[nwant])) == 0)
                found++;
        if (found != 1)
            fail_msg("env %s found %d times in %s", want[nwant], found, r.body);
    }
    /* nothing else: not sfnd's environment, and the reserved AWS_REGION not overridden */
    assert_int_equal(json_array_size(env), nwant);
    assert_null(strstr(r.body, "SFND_SECRET"));
    assert_null(strstr(r.body, "eu-west-9"));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", FIXTURE_BOOTSTRAP);
    *strrchr(dir, '/') = 0;
    char *real = realpath(dir, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "cwd")), real);
    char root[4200];
    snprintf(root, sizeof root, "LAMBDA_TASK_ROOT=%s", real);
    assert_non_null(strstr(r.body, root));
    free(real);
    json_decref(j);
    free(r.body);
    teardown();
}

/* How many entries of the fixture's env array are exactly kv. */
static int env_count(json_t *env, const char *kv)
{
    int found = 0;
    for (size_t i = 0; i < json_array_size(env); i++)
        found += strcmp(json_string_value(json_array_get(env, i)), kv) == 0;
    return found;
}

static int env_has_name(json_t *env, const char *name)
{
    size_t n = strlen(name);
    int found = 0;
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        found += strncmp(e, name, n) == 0 && e[n] == '=';
    }
    return found;
}

/* sfnd --env-vars: overrides win over lam's defaults (credentials, region)
 * and over the function's Environment, may be empty, may add names;
 * lam's own names are refused. */
static void test_env_override(void **state)
{
    setenv("SFND_SECRET_SHOULD_NOT_LEAK", "1", 1);
    setup(1);
    const char *env[] = {"TABLE_NAME=bookings", "AWS_REGION=eu-west-9", "KEEP=t", NULL};
    const char *ovr[] = {"AWS_ACCESS_KEY_ID=ASIAOVERRIDE", "AWS_SECRET_ACCESS_KEY=sec",
                         "AWS_SESSION_TOKEN=tok", "AWS_REGION=eu-central-1", "TABLE_NAME=other",
                         "EMPTY=", "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:5000", NULL};
    lam_function_def d = {.name = "ovr", .bootstrap = FIXTURE_BOOTSTRAP, .handler = "env",
                          .env = env, .env_override = ovr, .timeout_s = 7};
    assert_int_equal(lam_function_add(LM, &d), 0);
    res r;
    invoke("ovr", "{}", &r);
    assert_int_equal(r.status, LAM_OK);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    json_t *e = json_object_get(j, "env");
    for (int i = 0; ovr[i]; i++)
        if (env_count(e, ovr[i]) != 1)
            fail_msg("%s not exactly once in %s", ovr[i], r.body);
    assert_int_equal(env_has_name(e, "AWS_REGION"), 1);
    assert_int_equal(env_count(e, "KEEP=t"), 1);
    assert_int_equal(env_count(e, "AWS_DEFAULT_REGION=us-east-1"), 1); /* not overridden */
    assert_int_equal(env_count(e, "_HANDLER=env"), 1);
    assert_int_equal(env_has_name(e, "TABLE_NAME"), 1);
    assert_int_equal(env_has_name(e, "AWS_ACCESS_KEY_ID"), 1);
    assert_null(strstr(r.body, "AKIALOCALSFND"));
    assert_null(strstr(r.body, "eu-west-9"));
    assert_null(strstr(r.body, "SFND_SECRET"));
    /* the 19 defaults (4 replaced in place), KEEP, TABLE_NAME, EMPTY, the endpoint */
    assert_int_equal(json_array_size(e), 19 + 4);
    json_decref(j);
    free(r.body);

    static const char *const refused[] = {"AWS_LAMBDA_RUNTIME_API=127.0.0.1:1", "_HANDLER=x",
                                          "LAMBDA_TASK_ROOT=/", "AWS_LAMBDA_FUNCTION_NAME=x",
                                          "AWS_LAMBDA_LOG_STREAM_NAME=x", "1BAD=x", "A-B=x",
                                          "NOEQUALS", "=x", NULL};
    for (int i = 0; refused[i]; i++) {
        const char *one[] = {"FINE=1", refused[i], NULL};
        lam_function_def b = {.name = "refused", .bootstrap = FIXTURE_BOOTSTRAP,
                              .env_override = one};
        if (lam_function_add(LM, &b) != -EINVAL)
            fail_msg("override %s accepted", refused[i]);
    }
    assert_null(lam_function_find(LM, "refused"));
    teardown();
}

static void test_lookup(void **state)
{
    setup(1);
    add_fn("Fn-1", "echo", 3);
    lam_function *f = lam_function_find(LM, "Fn-1");
    assert_non_null(f);
    assert_string_equal(lam_function_arn(f), "arn:aws:lambda:us-east-1:123456789012:function:Fn-1");
    assert_ptr_equal(lam_function_find(LM, "Fn-1:$LATEST"), f);
    assert_ptr_equal(lam_function_find(LM, "123456789012:function:Fn-1"), f);
    assert_ptr_equal(lam_function_find(LM, "arn:aws:lambda:us-east-1:123456789012:function:Fn-1:$LATEST"), f);
    assert_null(lam_function_find(LM, "Fn-1:7"));
    assert_null(lam_function_find(LM, "fn-1"));
    assert_null(lam_function_find(LM, "arn:aws:lambda:eu-west-1:123456789012:function:Fn-1"));
    assert_null(lam_function_find(LM, "arn:aws:lambda:us-east-1:999999999999:function:Fn-1"));
    assert_null(lam_function_find(LM, "arn:aws:lambda:us-east-1:123456789012:function:Fn-1:$LATEST:x"));
    res r = {0};
    assert_int_equal(lam_invoke(LM, "nope", "{}", 2, on_result, &r, NULL), LAM_ENOTFOUND);
    static char big[LAM_MAX_PAYLOAD + 1];
    assert_int_equal(lam_invoke(LM, "Fn-1", big, sizeof big, on_result, &r, NULL), LAM_ETOOLARGE);
    lam_function_def d = {.name = "Fn-1", .bootstrap = FIXTURE_BOOTSTRAP};
    assert_int_equal(lam_function_add(LM, &d), -EEXIST);
    d.name = "bad name";
    assert_int_equal(lam_function_add(LM, &d), -EINVAL);
    teardown();
}

/* ---- a blocking HTTP client driven alongside the loop ------------------- */
static char cbuf[8 << 20];
static size_t clen;

static int http_call(int port, const char *req, size_t reqlen, char *head, size_t headsz, char **body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    size_t off = 0;
    clen = 0;
    int64_t end = ev_now_ms() + 5000;
    while (ev_now_ms() < end) {
        if (off < reqlen) {
            ssize_t w = send(fd, req + off, reqlen - off, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0)
                off += (size_t)w;
        }
        ev_run_once(L, 2);
        ssize_t r = recv(fd, cbuf + clen, sizeof cbuf - clen - 1, MSG_DONTWAIT);
        if (r > 0) {
            clen += (size_t)r;
            cbuf[clen] = 0;
        }
        char *e = strstr(cbuf, "\r\n\r\n");
        if (e) {
            char *cl = strcasestr(cbuf, "Content-Length: ");
            size_t n = cl ? strtoul(cl + 16, NULL, 10) : 0;
            size_t hl = (size_t)(e + 4 - cbuf);
            if (clen >= hl + n) {
                snprintf(head, headsz, "%.*s", (int)hl, cbuf);
                if (body)
                    *body = strndup(cbuf + hl, n);
                close(fd);
                return atoi(cbuf + 9);
            }
        }
    }
    close(fd);
    return -1;
}

static void route(http_req *req, void *ud)
{
    const char *p = http_req_path(req);
    const char *pre = "/2015-03-31/functions/";
    char name[256];
    snprintf(name, sizeof name, "%s", p + strlen(pre));
    *strchr(name, '/') = 0;
    lam_http_invoke(LM, req, name);
}

static void test_invoke_api(void **state)
{
    setup(2);
    add_fn("echo", "echo", 3);
    add_fn("fail", "fail", 3);
    http_server_opts so = {.port = 0, .max_body = LAM_MAX_PAYLOAD + 4096};
    http_server *srv = http_server_create(L, &so, route, NULL, NULL);
    assert_non_null(srv);
    int port = http_server_port(srv);
    char head[2048], req[1024];
    char *body = NULL;

    const char *payload = "{\"hello\":\"world\"}";
    snprintf(req, sizeof req, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n"
             "X-Amz-Invocation-Type: RequestResponse\r\nContent-Length: %zu\r\n\r\n%s", strlen(payload), payload);
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 200);
    assert_string_equal(body, payload);
    assert_non_null(strstr(head, "X-Amz-Executed-Version: $LATEST\r\n"));
    assert_non_null(strstr(head, "x-amzn-RequestId: "));
    assert_null(strstr(head, "X-Amz-Function-Error"));
    free(body);

    /* by ARN, percent-encoded, with ?Qualifier=$LATEST: a function error */
    snprintf(req, sizeof req, "POST /2015-03-31/functions/arn%%3Aaws%%3Alambda%%3Aus-east-1%%3A123456789012%%3Afunction%%3Afail/invocations?Qualifier=%%24LATEST HTTP/1.1\r\n"
             "Content-Length: 2\r\n\r\n{}");
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 200);
    assert_non_null(strstr(head, "X-Amz-Function-Error: Unhandled\r\n"));
    assert_non_null(strstr(body, "\"errorType\":\"BookingFailed\""));
    free(body);

    snprintf(req, sizeof req, "POST /2015-03-31/functions/nosuch/invocations HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 404);
    assert_non_null(strstr(head, "x-amzn-ErrorType: ResourceNotFoundException\r\n"));
    assert_string_equal(body, "{\"Type\":\"User\",\"message\":\"Function not found: arn:aws:lambda:us-east-1:123456789012:function:nosuch\"}");
    free(body);

    snprintf(req, sizeof req, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\n"
             "X-Amz-Invocation-Type: Event\r\nContent-Length: 2\r\n\r\n{}");
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 202);
    assert_string_equal(body, "");
    free(body);

    snprintf(req, sizeof req, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\n"
             "X-Amz-Invocation-Type: DryRun\r\nContent-Length: 2\r\n\r\n{}");
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 204);
    free(body);

    snprintf(req, sizeof req, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nContent-Length: 3\r\n\r\n{x}");
    assert_int_equal(http_call(port, req, strlen(req), head, sizeof head, &body), 400);
    assert_non_null(strstr(head, "InvalidRequestContentException"));
    free(body);

    /* 6 MB + 1: RequestEntityTooLargeException */
    size_t n = LAM_MAX_PAYLOAD + 1;
    char *big = malloc(n + 200);
    int hl = snprintf(big, 200, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    memset(big + hl, ' ', n);
    assert_int_equal(http_call(port, big, (size_t)hl + n, head, sizeof head, &body), 413);
    assert_non_null(strstr(head, "x-amzn-ErrorType: RequestEntityTooLargeException\r\n"));
    free(body);
    free(big);

    http_server_free(srv);
    teardown();
}

static void test_runtime_api_refusals(void **state)
{
    setup(1);
    add_fn("envfn", "env", 3);
    res r;
    invoke("envfn", "{}", &r);
    char *p = strstr(r.body, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:");
    assert_non_null(p);
    int port = atoi(p + strlen("AWS_LAMBDA_RUNTIME_API=127.0.0.1:"));
    free(r.body);
    /* let the fixture park its next GET /next, so our GET below is a second one */
    for (int64_t end = ev_now_ms() + 100; ev_now_ms() < end;)
        ev_run_once(L, 5);
    char head[1024], *body;
    const char *q1 = "POST /2018-06-01/runtime/invocation/00000000-0000-0000-0000-000000000000/response HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(http_call(port, q1, strlen(q1), head, sizeof head, &body), 400);
    assert_non_null(strstr(body, "InvalidRequestID"));
    free(body);
    const char *q2 = "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
    assert_int_equal(http_call(port, q2, strlen(q2), head, sizeof head, &body), 403);
    free(body);
    const char *q3 = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n"; /* already polling */
    assert_int_equal(http_call(port, q3, strlen(q3), head, sizeof head, &body), 403);
    free(body);
    const char *q4 = "GET /2018-06-01/nothing HTTP/1.1\r\n\r\n";
    assert_int_equal(http_call(port, q4, strlen(q4), head, sizeof head, &body), 404);
    free(body);
    /* the process is still fine */
    invoke("envfn", "{}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    teardown();
}

static int shut_done;
static void on_shut(void *ud) { shut_done = 1; }

static void test_shutdown(void **state)
{
    setup(2);
    add_fn("s", "echo", 3);
    res r;
    invoke("s", "{}", &r);
    free(r.body);
    shut_done = 0;
    lam_shutdown(LM, on_shut, NULL);
    assert_int_equal(lam_invoke(LM, "s", "{}", 2, on_result, &r, NULL), -ESHUTDOWN);
    run_until(&shut_done, 5000);
    lam_stats st;
    lam_stats_get(LM, &st);
    assert_int_equal(st.procs, 0);
    teardown();
}

/* ---- issue 12 ------------------------------------------------------------ */

/* Is pid gone (no such process, or a zombie nobody reaped yet)? */
static int proc_gone(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static pid_t read_pidfile(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int pid = 0;
    assert_int_equal(fscanf(f, "%d", &pid), 1);
    fclose(f);
    unlink(path);
    return (pid_t)pid;
}

static void wait_gone(pid_t pid)
{
    int64_t end = ev_now_ms() + 3000;
    while (!proc_gone(pid) && ev_now_ms() < end)
        ev_run_once(L, 10);
    if (!proc_gone(pid)) {
        kill(pid, SIGKILL);
        fail_msg("the bootstrap's child %d outlived it", (int)pid);
    }
}

/* A timeout kills the bootstrap's whole process group: what it forked
 * does not outlive it. */
static void test_timeout_kills_group(void **state)
{
    setup(1);
    add_fn("fk", "echo", 1);
    char pidfile[] = "/tmp/test_lam_pidXXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    char payload[200];
    snprintf(payload, sizeof payload, "{\"op\":\"forkchild\",\"ms\":10000,\"pidfile\":\"%s\"}", pidfile);
    res r;
    invoke("fk", payload, &r);
    assert_int_equal(r.status, LAM_TIMEOUT);
    free(r.body);
    pid_t child = read_pidfile(pidfile);
    assert_true(child > 0);
    wait_gone(child);
    teardown();
}

static int shut_done2;
static void on_shut2(void *ud) { shut_done2 = 1; }

/* ... and so does a shutdown (and lam_free). */
static void test_shutdown_kills_group(void **state)
{
    setup(1);
    add_fn("fk", "echo", 3);
    char pidfile[] = "/tmp/test_lam_pidXXXXXX";
    int fd = mkstemp(pidfile);
    assert_true(fd >= 0);
    close(fd);
    char payload[200];
    snprintf(payload, sizeof payload, "{\"op\":\"forkchild\",\"ms\":0,\"pidfile\":\"%s\"}", pidfile);
    res r;
    invoke("fk", payload, &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    pid_t child = read_pidfile(pidfile);
    assert_false(proc_gone(child));
    shut_done2 = 0;
    lam_shutdown(LM, on_shut2, NULL);
    run_until(&shut_done2, 5000);
    wait_gone(child);
    teardown();
}

/* A runtime that never calls GET /next is killed after the init limit (AWS:
 * 10 s; here 300 ms); as AWS does, the init is tried once more within the
 * function's Timeout (1 s) for the invocation that waits, which then fails
 * as a timeout; and its slot is free again. */
static void test_init_timeout(void **state)
{
    lam_opts o = {.max_procs = 1, .log_discard = 1, .init_timeout_ms = 300};
    setup_opts(&o);
    add_fn("hang", "initsleep", 1);
    res r;
    int64_t t0 = ev_now_ms();
    invoke("hang", "{}", &r);
    int64_t took = ev_now_ms() - t0;
    assert_true(took >= 1300 && took < 3000);
    assert_int_equal(r.status, LAM_TIMEOUT);
    assert_string_equal(r.etype, "Sandbox.Timedout");
    char want[300];
    snprintf(want, sizeof want,
             "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"RequestId: %s Error: Task "
             "timed out after 1.00 seconds\"}",
             r.id);
    assert_string_equal(r.body, want);
    free(r.body);
    lam_stats st;
    for (int64_t end = ev_now_ms() + 2000; ev_now_ms() < end;) {
        lam_stats_get(LM, &st);
        if (st.procs == 0)
            break;
        ev_run_once(L, 10);
    }
    lam_stats_get(LM, &st);
    assert_int_equal(st.procs, 0);
    /* the slot is free: the next one gets a process (which times out too) */
    invoke("hang", "{}", &r);
    assert_string_equal(r.etype, "Sandbox.Timedout");
    free(r.body);
    teardown();
}

/* A process that could not be started for the host's reasons (out of fds)
 * is a retryable service error, not the function's fault; a bootstrap that
 * is not executable stays Runtime.InvalidEntrypoint. */
static void test_spawn_failure_is_service_error(void **state)
{
    setup(1);
    add_fn("svc", "echo", 3);
    char path[] = "/tmp/test_lam_noexecXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    chmod(path, 0644);
    lam_function_def d = {.name = "noexec", .bootstrap = path};
    assert_int_equal(lam_function_add(LM, &d), 0);

    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = dup(0);
    assert_true(lowest >= 0);
    close(lowest);
    low = old;
    low.rlim_cur = (rlim_t)lowest; /* no new fd can be opened */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    res r;
    memset(&r, 0, sizeof r);
    int rc = lam_invoke(LM, "svc", "{}", 2, on_result, &r, NULL);
    for (int64_t end = ev_now_ms() + 2000; rc == 0 && !r.done && ev_now_ms() < end;)
        ev_run_once(L, 10);
    setrlimit(RLIMIT_NOFILE, &old);
    assert_int_equal(rc, 0);
    assert_true(r.done);
    assert_int_equal(r.status, LAM_SERVICE_ERROR);
    assert_string_equal(r.etype, "Lambda.ServiceException");
    assert_non_null(strstr(r.body, "Too many open files (Service: AWSLambda; Status Code: 500; "
                                   "Error Code: ServiceException; Request ID: "));
    free(r.body);
    /* fds again: the same function works */
    invoke("svc", "{\"op\":\"echo\"}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);

    invoke("noexec", "{}", &r);
    assert_int_equal(r.status, LAM_INIT_ERROR);
    assert_string_equal(r.etype, "Runtime.InvalidEntrypoint");
    assert_non_null(strstr(r.body, "Permission denied"));
    free(r.body);
    unlink(path);
    teardown();
}

/* A loop stalled past a function's deadline (a long request on the loop's
 * thread) does not turn its timely answer into a timeout: the timer that
 * fires late lets the pending answer be read first. */
static int stall_pipe[2];
static void on_stall(ev_loop *loop, int fd, int events, void *ud)
{
    char c;
    (void)!read(fd, &c, 1);
    ev_fd_unwatch(loop, fd);
    usleep(1500 * 1000); /* past the 1 s Timeout, in an fd callback: the
                            timers run right after, before the next poll */
}

static void kick_stall(ev_loop *loop, ev_timer *t, void *ud) { (void)!write(stall_pipe[1], "x", 1); }

static void test_stalled_loop_is_not_a_timeout(void **state)
{
    setup(1);
    add_fn("st", "echo", 1);
    res r;
    invoke("st", "{\"op\":\"echo\"}", &r); /* warm */
    free(r.body);
    assert_int_equal(pipe(stall_pipe), 0);
    assert_int_equal(ev_fd_watch(L, stall_pipe[0], EV_READ, on_stall, NULL), 0);
    memset(&r, 0, sizeof r);
    const char *p = "{\"op\":\"sleep\",\"ms\":200}";
    assert_int_equal(lam_invoke(LM, "st", p, strlen(p), on_result, &r, NULL), 0);
    ev_timer_add(L, ev_now_ms() + 50, kick_stall, NULL);
    run_until(&r.done, 5000);
    assert_string_equal(r.etype, "");
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    close(stall_pipe[0]);
    close(stall_pipe[1]);
    teardown();
}

/* A function's log is capped: <name>.log and one <name>.log.1, whatever it
 * writes. */
static void test_log_rotation(void **state)
{
    char dir[] = "/tmp/test_lam_logsXXXXXX";
    assert_non_null(mkdtemp(dir));
    lam_opts o = {.max_procs = 1, .log_dir = dir, .log_max_bytes = 65536};
    setup_opts(&o);
    add_fn("chatty", "echo", 10);
    res r;
    invoke("chatty", "{\"op\":\"spew\",\"bytes\":3000000}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    invoke("chatty", "{\"op\":\"spew\",\"bytes\":300000}", &r);
    assert_int_equal(r.status, LAM_OK);
    free(r.body);
    lam_free(LM); /* drains the pipes */
    LM = NULL;
    char path[600];
    struct stat sb;
    int64_t total = 0;
    snprintf(path, sizeof path, "%s/chatty.log", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 0 && sb.st_size <= 65536 + 4096);
    total += sb.st_size;
    unlink(path);
    snprintf(path, sizeof path, "%s/chatty.log.1", dir);
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > 60000 && sb.st_size <= 65536 + 4096);
    total += sb.st_size;
    unlink(path);
    assert_true(total < 2 * (65536 + 4096));
    DIR *d = opendir(dir);
    struct dirent *de;
    int others = 0;
    while ((de = readdir(d)) != NULL)
        others += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(others, 0);
    rmdir(dir);
    ev_free(L);
}

/* Invoke API payloads up to 6 MB are taken; a response past 6 MB is
 * Function.ResponseSizeTooLarge (it was a bare 413 past 7 MiB, the runtime
 * died and the invocation ended as its exit or a timeout). */
static void test_big_payloads(void **state)
{
    setup(1);
    add_fn("echo", "echo", 10);
    http_server_opts so = {.port = 0, .max_body = LAM_MAX_PAYLOAD + 4096};
    http_server *srv = http_server_create(L, &so, route, NULL, NULL);
    assert_non_null(srv);
    int port = http_server_port(srv);
    size_t n = 5u * 1024 * 1024;
    char *big = malloc(n + 200);
    int hl = snprintf(big, 200, "POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nContent-Length: %zu\r\n\r\n", n);
    memset(big + hl, 'y', n);
    big[hl] = '"';
    big[hl + n - 1] = '"';
    char head[2048], *body = NULL;
    assert_int_equal(http_call(port, big, (size_t)hl + n, head, sizeof head, &body), 200);
    assert_null(strstr(head, "X-Amz-Function-Error"));
    assert_int_equal(strlen(body), n);
    free(body);
    free(big);
    http_server_free(srv);

    res r;
    invoke("echo", "{\"op\":\"big\",\"bytes\":8000000}", &r);
    assert_int_equal(r.status, LAM_TOO_LARGE);
    assert_string_equal(r.etype, "Function.ResponseSizeTooLarge");
    free(r.body);
    invoke("echo", "{\"op\":\"big\",\"bytes\":6000000}", &r);
    assert_int_equal(r.status, LAM_OK);
    assert_int_equal(strlen(r.body), 6000000);
    free(r.body);
    teardown();
}

/* ---- the Lambda API (lam_api.c, lam_invoke.c) ---------------------------- */
static void route_all(http_req *req, void *ud)
{
    if (!lam_http_route(LM, req))
        http_respond(req, 418, "", "", 0);
}

static size_t unb64(const char *s, char *out)
{
    static const char B[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (; *s && *s != '=' && *s != '\r'; s++) {
        acc = acc << 6 | (unsigned)(strchr(B, *s) - B);
        if ((bits += 6) >= 8)
            out[o++] = (char)(acc >> (bits -= 8) & 0xff);
    }
    out[o] = 0;
    return o;
}

/* The X-Amz-Log-Result header of head, decoded into out (its length). */
static size_t log_result(const char *head, char *out)
{
    const char *h = strstr(head, "X-Amz-Log-Result: ");
    assert_non_null(h);
    return unb64(h + 18, out);
}

static int get(int port, const char *path, char *head, size_t hs, json_t **j)
{
    char req[1024], *body = NULL;
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    int st = http_call(port, req, strlen(req), head, hs, &body);
    *j = json_loads(body ? body : "", 0, NULL);
    free(body);
    return st;
}

static int post_inv(int port, const char *fn, const char *extra, const char *payload, char *head,
                    size_t hs, char **body)
{
    size_t n = strlen(payload);
    char *req = malloc(n + 4096);
    int k = snprintf(req, 4096,
                     "POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: x\r\n%s"
                     "Content-Length: %zu\r\n\r\n",
                     fn, extra, n);
    memcpy(req + k, payload, n);
    int st = http_call(port, req, (size_t)k + n, head, hs, body);
    free(req);
    return st;
}

/* ListFunctions, GetFunction, GetFunctionConfiguration in AWS's shapes. */
static void test_lambda_read_api(void **state)
{
    setup(1);
    add_fn("echo", "echo", 3);
    add_fn("beta", "echo", 5);
    const char *ovr[] = {"ONLY_OVR=1", NULL};
    lam_function_def d = {.name = "alpha", .bootstrap = FIXTURE_BOOTSTRAP, .handler = "x.y",
                          .runtime = "provided.al2023", .architecture = "arm64",
                          .env_override = ovr, .timeout_s = 9, .memory_mb = 512};
    assert_int_equal(lam_function_add(LM, &d), 0);
    http_server_opts so = {.port = 0, .max_body = LAM_MAX_PAYLOAD + 4096};
    http_server *srv = http_server_create(L, &so, route_all, NULL, NULL);
    int port = http_server_port(srv);
    char head[8192];
    json_t *j;
    assert_int_equal(get(port, "/2015-03-31/functions/", head, sizeof head, &j), 200);
    json_t *fns = json_object_get(j, "Functions");
    assert_int_equal(json_array_size(fns), 3);
    json_t *a = json_array_get(fns, 0); /* by name */
    assert_string_equal(json_string_value(json_object_get(a, "FunctionName")), "alpha");
    assert_string_equal(json_string_value(json_object_get(a, "FunctionArn")),
                        "arn:aws:lambda:us-east-1:123456789012:function:alpha");
    assert_string_equal(json_string_value(json_object_get(a, "Runtime")), "provided.al2023");
    assert_string_equal(json_string_value(json_object_get(a, "Handler")), "x.y");
    assert_int_equal(json_integer_value(json_object_get(a, "Timeout")), 9);
    assert_int_equal(json_integer_value(json_object_get(a, "MemorySize")), 512);
    assert_string_equal(json_string_value(json_object_get(a, "Version")), "$LATEST");
    assert_string_equal(json_string_value(json_object_get(a, "PackageType")), "Zip");
    assert_string_equal(json_string_value(json_array_get(json_object_get(a, "Architectures"), 0)),
                        "arm64");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(a, "Environment"), "Variables"),
                            "ONLY_OVR")),
                        "1");
    assert_true(json_integer_value(json_object_get(a, "CodeSize")) > 0);
    assert_int_equal(strlen(json_string_value(json_object_get(a, "LastModified"))), 28);
    assert_null(json_object_get(a, "State")); /* not in ListFunctions, as AWS */
    assert_string_equal(json_string_value(json_object_get(json_array_get(fns, 1), "FunctionName")),
                        "beta");
    const char *env = json_string_value(json_object_get(
        json_object_get(json_object_get(json_array_get(fns, 2), "Environment"), "Variables"),
        "TABLE_NAME"));
    assert_string_equal(env, "bookings");
    assert_null(json_object_get(j, "NextMarker"));
    json_decref(j);

    /* pages */
    assert_int_equal(get(port, "/2015-03-31/functions/?MaxItems=2", head, sizeof head, &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "Functions")), 2);
    assert_string_equal(json_string_value(json_object_get(j, "NextMarker")), "beta");
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/?MaxItems=2&Marker=beta", head, sizeof head,
                         &j), 200);
    assert_int_equal(json_array_size(json_object_get(j, "Functions")), 1);
    assert_null(json_object_get(j, "NextMarker"));
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/?MaxItems=0", head, sizeof head, &j), 400);
    json_decref(j);

    assert_int_equal(get(port, "/2015-03-31/functions/alpha", head, sizeof head, &j), 200);
    json_t *c = json_object_get(j, "Configuration");
    assert_string_equal(json_string_value(json_object_get(c, "State")), "Active");
    assert_string_equal(json_string_value(json_object_get(c, "LastUpdateStatus")), "Successful");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "Code"),
                                                          "RepositoryType")), "S3");
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A"
                               "123456789012%3Afunction%3Abeta/configuration",
                         head, sizeof head, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "FunctionName")), "beta");
    assert_int_equal(json_integer_value(json_object_get(j, "Timeout")), 5);
    assert_string_equal(json_string_value(json_object_get(j, "State")), "Active");
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/nosuch/configuration", head, sizeof head,
                         &j), 404);
    assert_non_null(strstr(head, "x-amzn-ErrorType: ResourceNotFoundException"));
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nosuch");
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/beta?Qualifier=7", head, sizeof head, &j),
                     404);
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functions/beta/policy", head, sizeof head, &j), 404);
    assert_non_null(strstr(head, "UnknownOperationException"));
    json_decref(j);
    assert_int_equal(get(port, "/2015-03-31/functionsX", head, sizeof head, &j), 418); /* not ours */
    json_decref(j);
    http_server_free(srv);
    teardown();
}

/* Invoke: LogType Tail, the client context, Event with its retries, the
 * 256 KB asynchronous limit, DryRun. */
static void test_lambda_invoke_api(void **state)
{
    char logs[64];
    snprintf(logs, sizeof logs, "/tmp/test_lam_logs_XXXXXX");
    assert_non_null(mkdtemp(logs));
    lam_opts o = {.max_procs = 2, .log_dir = logs, .event_retry_ms = 50};
    setup_opts(&o);
    add_fn("echo", "echo", 3);
    add_fn("fail", "fail", 3);
    http_server_opts so = {.port = 0, .max_body = LAM_MAX_PAYLOAD + 4096};
    http_server *srv = http_server_create(L, &so, route_all, NULL, NULL);
    int port = http_server_port(srv);
    char head[16384], tail[8192], *body = NULL;

    /* the tail: START, the process's lines (a partial one too), END, REPORT */
    const char *say = "{\"op\":\"say\",\"text\":\"hello-tail\",\"partial\":\"no-newline\"}";
    assert_int_equal(post_inv(port, "echo", "X-Amz-Log-Type: Tail\r\n", say, head, sizeof head,
                              &body), 200);
    assert_string_equal(body, say);
    free(body);
    size_t n = log_result(head, tail);
    const char *rid = strstr(head, "x-amzn-RequestId: ") + 18;
    char start[100];
    snprintf(start, sizeof start, "START RequestId: %.36s Version: $LATEST\n", rid);
    if (strncmp(tail, start, strlen(start)) != 0)
        fail_msg("tail: %s", tail);
    assert_non_null(strstr(tail, "\nhello-tail\n"));
    assert_non_null(strstr(tail, "no-newline"));
    assert_non_null(strstr(tail, "\nEND RequestId: "));
    assert_non_null(strstr(tail, "\nREPORT RequestId: "));
    assert_non_null(strstr(tail, "\tMemory Size: 256 MB\t"));
    assert_true(n < 4096 && tail[n - 1] == '\n');
    /* without it: no header */
    assert_int_equal(post_inv(port, "echo", "", "{}", head, sizeof head, &body), 200);
    assert_null(strstr(head, "X-Amz-Log-Result"));
    free(body);
    /* a long log: the last 4 KB */
    assert_int_equal(post_inv(port, "echo", "X-Amz-Log-Type: Tail\r\n",
                              "{\"op\":\"spew\",\"bytes\":20000}", head, sizeof head, &body), 200);
    free(body);
    n = log_result(head, tail);
    assert_int_equal(n, 4096);
    assert_non_null(strstr(tail, "llll\nEND RequestId: "));
    /* a function error has its tail too */
    assert_int_equal(post_inv(port, "fail", "X-Amz-Log-Type: Tail\r\n", "{}", head, sizeof head,
                              &body), 200);
    free(body);
    assert_non_null(strstr(head, "X-Amz-Function-Error: Unhandled"));
    log_result(head, tail);
    assert_non_null(strstr(tail, "REPORT RequestId: "));

    /* the client context reaches the runtime as JSON text */
    const char *cc64 = "eyJjdXN0b20iOiB7ImsiOiAidiJ9LCAiZW52IjogeyJhIjogMX19"; /* {"custom": {"k": "v"}, "env": {"a": 1}} */
    char extra[256];
    snprintf(extra, sizeof extra, "X-Amz-Client-Context: %s\r\n", cc64);
    assert_int_equal(post_inv(port, "echo", extra, "{\"op\":\"headers\"}", head, sizeof head,
                              &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    const char *h = json_string_value(json_object_get(j, "head"));
    if (strstr(h, "\r\nLambda-Runtime-Client-Context: {\"custom\":{\"k\":\"v\"},\"env\":{\"a\":1}}"
                  "\r\n") == NULL)
        fail_msg("head: %s", h);
    json_decref(j);
    assert_int_equal(post_inv(port, "echo", "", "{\"op\":\"headers\"}", head, sizeof head, &body),
                     200);
    assert_null(strstr(body, "Client-Context"));
    free(body);
    assert_int_equal(post_inv(port, "echo", "X-Amz-Client-Context: bm90IGpzb24=\r\n", "{}", head,
                              sizeof head, &body), 400); /* "not json" */
    assert_non_null(strstr(body, "Client context must be a valid Base64-encoded JSON object."));
    free(body);
    assert_int_equal(post_inv(port, "echo", "X-Amz-Client-Context: ***\r\n", "{}", head,
                              sizeof head, &body), 400);
    free(body);

    /* Event: 202 at once; a failing one is tried 3 times with the same id,
     * then dropped with a line in the function's log */
    lam_stats st0, st;
    lam_stats_get(LM, &st0);
    assert_int_equal(post_inv(port, "fail", "X-Amz-Invocation-Type: Event\r\n", "{}", head,
                              sizeof head, &body), 202);
    free(body);
    char erid[40];
    snprintf(erid, sizeof erid, "%.36s", strstr(head, "x-amzn-RequestId: ") + 18);
    for (int64_t end = ev_now_ms() + 3000; ev_now_ms() < end;) {
        ev_run_once(L, 10);
        lam_stats_get(LM, &st);
        if (st.invocations - st0.invocations >= 3)
            break;
    }
    for (int64_t end = ev_now_ms() + 300; ev_now_ms() < end;)
        ev_run_once(L, 10);
    lam_stats_get(LM, &st);
    assert_int_equal(st.invocations - st0.invocations, 3);
    char lp[128], text[8192];
    snprintf(lp, sizeof lp, "%s/fail.log", logs);
    FILE *lf = fopen(lp, "r");
    assert_non_null(lf);
    text[fread(text, 1, sizeof text - 1, lf)] = 0;
    fclose(lf);
    char want[200];
    snprintf(want, sizeof want, "asynchronous invocation %s failed (BookingFailed), attempt 1 of 3: "
                                "retried in 50 ms", erid);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "asynchronous invocation %s failed (BookingFailed), attempt 2 of 3: "
                                "retried in 100 ms", erid);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof want, "asynchronous invocation %s failed (BookingFailed), attempt 3 of 3: "
                                "dropped", erid);
    assert_non_null(strstr(text, want));
    /* a successful one runs once */
    lam_stats_get(LM, &st0);
    assert_int_equal(post_inv(port, "echo", "X-Amz-Invocation-Type: Event\r\n", "{}", head,
                              sizeof head, &body), 202);
    free(body);
    for (int64_t end = ev_now_ms() + 400; ev_now_ms() < end;)
        ev_run_once(L, 10);
    lam_stats_get(LM, &st);
    assert_int_equal(st.invocations - st0.invocations, 1);

    /* 256 KB for Event, 6 MB for RequestResponse */
    size_t big = LAM_MAX_EVENT_PAYLOAD + 1;
    char *pl = malloc(big + 1);
    memset(pl, ' ', big);
    pl[0] = '1';
    pl[big] = 0;
    assert_int_equal(post_inv(port, "echo", "X-Amz-Invocation-Type: Event\r\n", pl, head,
                              sizeof head, &body), 413);
    assert_non_null(strstr(body, "262145 byte payload is too large for the Event invocation type "
                                 "(limit 262144 bytes)"));
    free(body);
    assert_int_equal(post_inv(port, "echo", "", pl, head, sizeof head, &body), 200);
    free(body);
    free(pl);
    assert_int_equal(post_inv(port, "echo", "X-Amz-Invocation-Type: DryRun\r\n", "{}", head,
                              sizeof head, &body), 204);
    free(body);
    /* an Event waiting for its retry is dropped at shutdown and free */
    assert_int_equal(post_inv(port, "fail", "X-Amz-Invocation-Type: Event\r\n", "{}", head,
                              sizeof head, &body), 202);
    free(body);
    http_server_free(srv);
    teardown();
    snprintf(text, sizeof text, "rm -rf %s", logs);
    assert_int_equal(system(text), 0);
}

/* ---- runtimes (lam_runtime.c) ------------------------------------------- */
#ifndef RUNTIMES_DIR
#error "RUNTIMES_DIR must be defined"
#endif

static char rtdir[64];

static void rt_write(const char *name, const char *text, int mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", rtdir, name);
    for (char *c = p + strlen(rtdir) + 1; *c; c++)
        if (*c == '/') {
            *c = '\0';
            mkdir(p, 0755);
            *c = '/';
        }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(p, (mode_t)mode);
}

static void rt_mkdir(void)
{
    snprintf(rtdir, sizeof rtdir, "/tmp/test_lam_rt_XXXXXX");
    assert_non_null(mkdtemp(rtdir));
}

static void rt_rmdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", rtdir);
    assert_int_equal(system(cmd), 0);
}

static int have_program(const char *name)
{
    char p[4096];
    return lam_find_program(getenv("PATH"), name, p, sizeof p) == 0;
}

/* provided.*: a binary as it is; a script with its #! interpreter, and
 * #!/bin/sh on bash invoked as sh (Amazon Linux's /bin/sh). */
static void test_runtime_commands(void **state)
{
    rt_mkdir();
    lam_runtimes_opts ro = {.shim_dir = RUNTIMES_DIR};
    lam_runtimes *rts = lam_runtimes_create(&ro);
    assert_non_null(rts);
    lam_command c;
    char err[1024], p[256], bash[4096];
    assert_int_equal(lam_runtimes_command(rts, "provided.al2023", FIXTURE_BOOTSTRAP, &c, err,
                                          sizeof err), 0);
    assert_string_equal(c.exec, FIXTURE_BOOTSTRAP);
    assert_string_equal(c.argv[0], FIXTURE_BOOTSTRAP);
    assert_null(c.argv[1]);
    assert_null(c.execution_env);
    lam_command_free(&c);

    rt_write("sh/bootstrap", "#!/bin/sh\nset -euo pipefail\n", 0755);
    snprintf(p, sizeof p, "%s/sh/bootstrap", rtdir);
    assert_int_equal(lam_runtimes_command(rts, NULL, p, &c, err, sizeof err), 0);
    assert_int_equal(lam_find_program(getenv("PATH"), "bash", bash, sizeof bash), 0);
    assert_string_equal(c.exec, bash);
    assert_string_equal(c.argv[0], "sh");
    assert_string_equal(c.argv[1], p);
    assert_null(c.argv[2]);
    lam_command_free(&c);

    rt_write("env/bootstrap", "#!/usr/bin/env  python3 -u  \r\nprint(1)\n", 0755);
    snprintf(p, sizeof p, "%s/env/bootstrap", rtdir);
    assert_int_equal(lam_runtimes_command(rts, "provided.al2", p, &c, err, sizeof err), 0);
    assert_string_equal(c.exec, "/usr/bin/env");
    assert_string_equal(c.argv[0], "/usr/bin/env");
    assert_string_equal(c.argv[1], "python3 -u"); /* one argument, as Linux passes it */
    assert_string_equal(c.argv[2], p);
    lam_command_free(&c);

    rt_write("zsh/bootstrap", "#!/no/such/zsh\n", 0755);
    snprintf(p, sizeof p, "%s/zsh/bootstrap", rtdir);
    assert_int_not_equal(lam_runtimes_command(rts, NULL, p, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "its interpreter /no/such/zsh (#!) is not on this machine"));
    assert_null(c.exec);
    rt_write("rel/bootstrap", "#!bash\n", 0755);
    snprintf(p, sizeof p, "%s/rel/bootstrap", rtdir);
    assert_int_not_equal(lam_runtimes_command(rts, NULL, p, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "not an absolute path"));
    assert_int_not_equal(lam_runtimes_command(rts, "java21", NULL, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "Runtime java21 is not provided locally"));

    /* Node.js and Python: the machine's interpreter with our shim; another
     * major version is refused unless asked for */
    if (have_program("node")) {
        assert_int_not_equal(lam_runtimes_command(rts, "nodejs99.x", NULL, &c, err, sizeof err),
                             0);
        assert_non_null(strstr(err, "Runtime nodejs99.x, but this machine's node is "));
        assert_non_null(strstr(err, "install Node.js 99, or start sfnd with "
                                    "--runtime-mismatch=run"));
    } else {
        print_message("node is not installed: its checks are skipped\n");
    }
    assert_int_not_equal(lam_runtimes_command(rts, "python3.99", NULL, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "Runtime python3.99, but this machine's python is 3."));
    lam_runtimes_free(rts);

    ro.mismatch_run = 1;
    rts = lam_runtimes_create(&ro);
    assert_int_equal(lam_runtimes_command(rts, "python3.99", NULL, &c, err, sizeof err), 0);
    assert_non_null(strstr(c.note, "Runtime python3.99 runs on this machine's python 3."));
    assert_string_equal(c.execution_env, "AWS_Lambda_python3.99");
    assert_string_equal(c.argv[0], c.exec);
    assert_string_equal(c.argv[1], "-B");
    assert_string_equal(c.argv[2], RUNTIMES_DIR "/sfnd_python_runtime.py");
    assert_true(c.exec[0] == '/' && access(c.exec, X_OK) == 0); /* the real executable */
    lam_command_free(&c);
    lam_runtimes_free(rts);

    /* no shims: refused, with where they should be */
    ro.shim_dir = "/nonexistent";
    rts = lam_runtimes_create(&ro);
    assert_int_not_equal(lam_runtimes_command(rts, "python3.11", NULL, &c, err, sizeof err), 0);
    assert_non_null(strstr(err, "runtime shim /nonexistent/sfnd_python_runtime.py is missing"));
    lam_runtimes_free(rts);
    rt_rmdir();
}

/* The machine's version of runtime family "node" / "python": "nodejs20.x",
 * "python3.11" into out; 0 when the interpreter is there. */
static int machine_runtime(const char *family, char *out, size_t outlen)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd,
             !strcmp(family, "node")
                 ? "node -e 'process.stdout.write(\"nodejs\"+process.versions.node.split(\".\")[0]+\".x\")' 2>/dev/null"
                 : "python3 -c 'import sys; print(\"python%%d.%%d\" %% sys.version_info[:2], end=\"\")' 2>/dev/null");
    FILE *f = popen(cmd, "r");
    size_t n = f ? fread(out, 1, outlen - 1, f) : 0;
    if (f)
        pclose(f);
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

static void add_rt_fn(lam_runtimes *rts, const char *name, const char *runtime,
                      const char *handler, int timeout)
{
    lam_command c;
    char err[1024];
    if (lam_runtimes_command(rts, runtime, NULL, &c, err, sizeof err) != 0)
        fail_msg("%s: %s", runtime, err);
    lam_function_def d = {.name = name, .cmd = &c, .task_root = rtdir, .runtime = runtime,
                          .handler = handler, .timeout_s = timeout, .memory_mb = 192};
    assert_int_equal(lam_function_add(LM, &d), 0);
    lam_command_free(&c);
}

static json_t *invoke_json(const char *fn, const char *payload, lam_status want)
{
    res r;
    invoke(fn, payload, &r);
    if (r.status != want)
        fail_msg("%s: status %d, body %s", fn, r.status, r.body);
    json_t *j = json_loads(r.body, JSON_DECODE_ANY, NULL);
    if (j == NULL)
        fail_msg("%s: not JSON: %s", fn, r.body);
    free(r.body);
    return j;
}

static const char NODE_APP[] =
    "exports.handler = async (event, context) => ({event, id: context.awsRequestId,\n"
    "  name: context.functionName, version: context.functionVersion,\n"
    "  arn: context.invokedFunctionArn, mem: context.memoryLimitInMB,\n"
    "  group: context.logGroupName, stream: context.logStreamName,\n"
    "  left: context.getRemainingTimeInMillis(), waits: context.callbackWaitsForEmptyEventLoop,\n"
    "  handler: process.env._HANDLER, root: process.env.LAMBDA_TASK_ROOT,\n"
    "  exec_env: process.env.AWS_EXECUTION_ENV, cwd: process.cwd()});\n"
    "exports.nested = {deep: {fn: async () => 'nested'}};\n"
    "exports.cb = (event, context, callback) => {\n"
    "  globalThis.n = (globalThis.n || 0) + 1;\n"
    "  if (event.nowait) context.callbackWaitsForEmptyEventLoop = false;\n"
    "  setTimeout(() => { globalThis.late = Date.now(); }, 300);\n"
    "  callback(null, {t: Date.now(), late: globalThis.late || 0, n: globalThis.n});\n"
    "};\n"
    "exports.cberr = (event, context, callback) => callback(new TypeError('bad input'));\n"
    "exports.fail = async () => { const e = new Error('no rooms'); e.name = 'BookingFailed';"
    " throw e; };\n"
    "exports.str = async () => { throw 'plain'; };\n";

/* Node.js through our shim: async and callback handlers, the context,
 * errors as AWS's Node.js runtime shapes them, init errors. */
static void test_node_runtime(void **state)
{
    char rt[32];
    if (machine_runtime("node", rt, sizeof rt) != 0) {
        print_message("node is not installed: Node.js runtime test skipped\n");
        skip();
    }
    rt_mkdir();
    rt_write("src/app.js", NODE_APP, 0644);
    rt_write("esm/mod.mjs", "export const handler = async (e) => ({esm: true, e});\n", 0644);
    rt_write("bad/throws.js", "throw new RangeError('at import');\n", 0644);
    rt_write("bad/needs.js", "require('no-such-package-xyz');\n", 0644);
    rt_write("bad/syntax.js", "exports.handler = async ( => 1;\n", 0644);
    setup(2);
    lam_runtimes_opts ro = {.shim_dir = RUNTIMES_DIR};
    lam_runtimes *rts = lam_runtimes_create(&ro);
    add_rt_fn(rts, "ctx", rt, "src/app.handler", 9);
    add_rt_fn(rts, "nested", rt, "src/app.nested.deep.fn", 3);
    add_rt_fn(rts, "esm", rt, "esm/mod.handler", 3);
    add_rt_fn(rts, "cb", rt, "src/app.cb", 3);
    add_rt_fn(rts, "cberr", rt, "src/app.cberr", 3);
    add_rt_fn(rts, "fail", rt, "src/app.fail", 3);
    add_rt_fn(rts, "str", rt, "src/app.str", 3);
    add_rt_fn(rts, "nohandler", rt, "src/app.nope", 3);
    add_rt_fn(rts, "throws", rt, "bad/throws.handler", 3);
    add_rt_fn(rts, "needs", rt, "bad/needs.handler", 3);
    add_rt_fn(rts, "syntax", rt, "bad/syntax.handler", 3);
    add_rt_fn(rts, "malformed", rt, "src/app", 3);
    lam_runtimes_free(rts);

    json_t *j = invoke_json("ctx", "{\"a\":[1,2]}", LAM_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "event"), "a") ?
                     json_array_get(json_object_get(json_object_get(j, "event"), "a"), 1) : NULL), 2);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "id"))), 36);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "ctx");
    assert_string_equal(json_string_value(json_object_get(j, "version")), "$LATEST");
    assert_string_equal(json_string_value(json_object_get(j, "arn")),
                        "arn:aws:lambda:us-east-1:123456789012:function:ctx");
    assert_string_equal(json_string_value(json_object_get(j, "mem")), "192");
    assert_string_equal(json_string_value(json_object_get(j, "group")), "/aws/lambda/ctx");
    assert_non_null(strstr(json_string_value(json_object_get(j, "stream")), "/[$LATEST]"));
    json_int_t left = json_integer_value(json_object_get(j, "left"));
    assert_true(left > 7000 && left <= 9000);
    assert_true(json_is_true(json_object_get(j, "waits")));
    assert_string_equal(json_string_value(json_object_get(j, "handler")), "src/app.handler");
    assert_string_equal(json_string_value(json_object_get(j, "root")), rtdir);
    assert_string_equal(json_string_value(json_object_get(j, "cwd")), rtdir);
    char ee[64];
    snprintf(ee, sizeof ee, "AWS_Lambda_%s", rt);
    assert_string_equal(json_string_value(json_object_get(j, "exec_env")), ee);
    json_decref(j);
    j = invoke_json("nested", "{}", LAM_OK);
    assert_string_equal(json_string_value(j), "nested");
    json_decref(j);
    j = invoke_json("esm", "7", LAM_OK);
    assert_true(json_is_true(json_object_get(j, "esm")));
    assert_int_equal(json_integer_value(json_object_get(j, "e")), 7);
    json_decref(j);

    /* callback: the answer waits for the event loop to empty (the 300 ms
     * timer ran before the next invocation), unless told not to */
    int64_t t0 = ev_now_ms();
    j = invoke_json("cb", "{}", LAM_OK);
    assert_true(ev_now_ms() - t0 >= 280);
    json_decref(j);
    t0 = ev_now_ms();
    j = invoke_json("cb", "{\"nowait\":true}", LAM_OK);
    assert_true(json_integer_value(json_object_get(j, "late")) > 0); /* the first one's timer */
    assert_int_equal(json_integer_value(json_object_get(j, "n")), 2); /* the same process */
    assert_true(ev_now_ms() - t0 < 280);
    json_decref(j);

    /* errors: {errorType, errorMessage, trace} */
    j = invoke_json("fail", "{}", LAM_FUNCTION_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "BookingFailed");
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "no rooms");
    json_t *tr = json_object_get(j, "trace");
    assert_true(json_array_size(tr) >= 2);
    assert_string_equal(json_string_value(json_array_get(tr, 0)), "BookingFailed: no rooms");
    assert_non_null(strstr(json_string_value(json_array_get(tr, 1)), "/src/app.js:"));
    json_decref(j);
    j = invoke_json("cberr", "{}", LAM_FUNCTION_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "TypeError");
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "bad input");
    json_decref(j);
    j = invoke_json("str", "{}", LAM_FUNCTION_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "string");
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "plain");
    assert_int_equal(json_array_size(json_object_get(j, "trace")), 0);
    json_decref(j);

    /* init errors, through /runtime/init/error */
    static const char *const inits[][3] = {
        {"nohandler", "Runtime.HandlerNotFound", "src/app.nope is undefined or not exported"},
        {"throws", "RangeError", "at import"},
        {"needs", "Runtime.ImportModuleError", "no-such-package-xyz"},
        {"syntax", "Runtime.UserCodeSyntaxError", "SyntaxError"},
        {"malformed", "Runtime.MalformedHandlerName", "src/app"},
    };
    for (size_t i = 0; i < sizeof inits / sizeof *inits; i++) {
        j = invoke_json(inits[i][0], "{}", LAM_INIT_ERROR);
        const char *et = json_string_value(json_object_get(j, "errorType"));
        const char *em = json_string_value(json_object_get(j, "errorMessage"));
        if (et == NULL || strcmp(et, inits[i][1]) || em == NULL || !strstr(em, inits[i][2]))
            fail_msg("%s: %s: %s", inits[i][0], et, em);
        json_decref(j);
    }
    teardown();
    rt_rmdir();
}

static const char PY_APP[] =
    "import os, time\n"
    "count = 0\n"
    "def handler(event, context):\n"
    "    global count\n"
    "    count += 1\n"
    "    return {'event': event, 'id': context.aws_request_id, 'name': context.function_name,\n"
    "            'version': context.function_version, 'arn': context.invoked_function_arn,\n"
    "            'mem': context.memory_limit_in_mb, 'group': context.log_group_name,\n"
    "            'stream': context.log_stream_name, 'left': context.get_remaining_time_in_millis(),\n"
    "            'handler': os.environ['_HANDLER'], 'root': os.environ['LAMBDA_TASK_ROOT'],\n"
    "            'exec_env': os.environ['AWS_EXECUTION_ENV'], 'cwd': os.getcwd(), 'count': count}\n"
    "class BookingFailed(Exception):\n"
    "    pass\n"
    "def fail(event, context):\n"
    "    raise BookingFailed('no rooms')\n"
    "def unserialisable(event, context):\n"
    "    return {'t': object()}\n";

/* Python through our shim: the context, errors {errorMessage, errorType,
 * requestId, stackTrace}, init errors. */
static void test_python_runtime(void **state)
{
    char rt[32];
    if (machine_runtime("python", rt, sizeof rt) != 0) {
        print_message("python3 is not installed: Python runtime test skipped\n");
        skip();
    }
    rt_mkdir();
    rt_write("app.py", PY_APP, 0644);
    rt_write("pkg/sub/mod.py", "def handler(e, c):\n    return 'nested'\n", 0644);
    rt_write("bad/throws.py", "raise KeyError('at import')\n", 0644);
    rt_write("bad/needs.py", "import no_such_module_xyz\n", 0644);
    rt_write("bad/syntax.py", "def handler(:\n", 0644);
    setup(2);
    lam_runtimes_opts ro = {.shim_dir = RUNTIMES_DIR};
    lam_runtimes *rts = lam_runtimes_create(&ro);
    add_rt_fn(rts, "ctx", rt, "app.handler", 9);
    add_rt_fn(rts, "nested", rt, "pkg/sub/mod.handler", 3);
    add_rt_fn(rts, "dotted", rt, "pkg.sub.mod.handler", 3);
    add_rt_fn(rts, "fail", rt, "app.fail", 3);
    add_rt_fn(rts, "unser", rt, "app.unserialisable", 3);
    add_rt_fn(rts, "nohandler", rt, "app.nope", 3);
    add_rt_fn(rts, "throws", rt, "bad/throws.handler", 3);
    add_rt_fn(rts, "needs", rt, "bad/needs.handler", 3);
    add_rt_fn(rts, "syntax", rt, "bad/syntax.handler", 3);
    add_rt_fn(rts, "malformed", rt, "app", 3);
    lam_runtimes_free(rts);

    json_t *j = invoke_json("ctx", "{\"a\":1}", LAM_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "event"), "a")), 1);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "id"))), 36);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "ctx");
    assert_string_equal(json_string_value(json_object_get(j, "version")), "$LATEST");
    assert_string_equal(json_string_value(json_object_get(j, "arn")),
                        "arn:aws:lambda:us-east-1:123456789012:function:ctx");
    assert_string_equal(json_string_value(json_object_get(j, "mem")), "192");
    assert_string_equal(json_string_value(json_object_get(j, "group")), "/aws/lambda/ctx");
    json_int_t left = json_integer_value(json_object_get(j, "left"));
    assert_true(left > 7000 && left <= 9000);
    assert_string_equal(json_string_value(json_object_get(j, "root")), rtdir);
    assert_string_equal(json_string_value(json_object_get(j, "cwd")), rtdir);
    char ee[64];
    snprintf(ee, sizeof ee, "AWS_Lambda_%s", rt);
    assert_string_equal(json_string_value(json_object_get(j, "exec_env")), ee);
    json_decref(j);
    j = invoke_json("ctx", "null", LAM_OK); /* warm: module state kept */
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 2);
    json_decref(j);
    j = invoke_json("nested", "{}", LAM_OK);
    assert_string_equal(json_string_value(j), "nested");
    json_decref(j);
    j = invoke_json("dotted", "{}", LAM_OK);
    assert_string_equal(json_string_value(j), "nested");
    json_decref(j);

    j = invoke_json("fail", "{}", LAM_FUNCTION_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "BookingFailed");
    assert_string_equal(json_string_value(json_object_get(j, "errorMessage")), "no rooms");
    assert_int_equal(strlen(json_string_value(json_object_get(j, "requestId"))), 36);
    json_t *st = json_object_get(j, "stackTrace");
    assert_int_equal(json_array_size(st), 1); /* the function's frame only */
    assert_non_null(strstr(json_string_value(json_array_get(st, 0)), "/app.py\", line 15, in fail"));
    json_decref(j);
    j = invoke_json("unser", "{}", LAM_FUNCTION_ERROR);
    assert_string_equal(json_string_value(json_object_get(j, "errorType")), "Runtime.MarshalError");
    json_decref(j);

    static const char *const inits[][3] = {
        {"nohandler", "Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"},
        {"throws", "KeyError", "at import"},
        {"needs", "Runtime.ImportModuleError",
         "Unable to import module 'bad.needs': No module named 'no_such_module_xyz'"},
        {"syntax", "Runtime.UserCodeSyntaxError", "Syntax error in module 'bad.syntax'"},
        {"malformed", "Runtime.MalformedHandlerName", "Bad handler 'app'"},
    };
    for (size_t i = 0; i < sizeof inits / sizeof *inits; i++) {
        j = invoke_json(inits[i][0], "{}", LAM_INIT_ERROR);
        const char *et = json_string_value(json_object_get(j, "errorType"));
        const char *em = json_string_value(json_object_get(j, "errorMessage"));
        if (et == NULL || strcmp(et, inits[i][1]) || em == NULL || !strstr(em, inits[i][2]))
            fail_msg("%s: %s: %s", inits[i][0], et, em);
        json_decref(j);
    }
    teardown();
    rt_rmdir();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_success_and_warm), cmocka_unit_test(test_function_error),
        cmocka_unit_test(test_timeout),          cmocka_unit_test(test_crash_and_exit),
        cmocka_unit_test(test_queue_beyond_cap), cmocka_unit_test(test_init_errors),
        cmocka_unit_test(test_clean_env),        cmocka_unit_test(test_env_override),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_invoke_api),       cmocka_unit_test(test_runtime_api_refusals),
        cmocka_unit_test(test_shutdown),
        cmocka_unit_test(test_timeout_kills_group),
        cmocka_unit_test(test_shutdown_kills_group),
        cmocka_unit_test(test_init_timeout),
        cmocka_unit_test(test_spawn_failure_is_service_error),
        cmocka_unit_test(test_stalled_loop_is_not_a_timeout),
        cmocka_unit_test(test_log_rotation),
        cmocka_unit_test(test_big_payloads),
        cmocka_unit_test(test_lambda_read_api),
        cmocka_unit_test(test_lambda_invoke_api),
        cmocka_unit_test(test_runtime_commands),
        cmocka_unit_test(test_node_runtime),
        cmocka_unit_test(test_python_runtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
