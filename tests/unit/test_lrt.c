/*
 * test_lrt.c - the Runtime API client against a fake Runtime API.
 *
 * The fake is a tiny HTTP/1.1 server on 127.0.0.1 in a thread: it hands
 * out scripted events on GET /next and records every POST. Each test
 * scripts what the API does (answers, 500s, closed connections) and checks
 * what the client sent and what lrt_run returned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lrt.h"

#define MAX_POSTS 16
#define MAX_EVENTS 12

typedef struct post {
    char path[256];
    char error_type[128]; /* Lambda-Runtime-Function-Error-Type */
    char *body;
    size_t len;
} post;

typedef struct fake {
    int lfd, port;
    pthread_t th;
    /* script */
    const char *events[MAX_EVENTS]; /* bodies handed out by GET /next, in order */
    size_t event_len[MAX_EVENTS];   /* 0 = strlen */
    int nevents;
    int chunked;             /* send GET /next bodies with Transfer-Encoding: chunked */
    int close_after;         /* answer every request with Connection: close, then close */
    int no_length;           /* GET /next bodies end with the connection (no length) */
    int no_trace;            /* leave out Lambda-Runtime-Trace-Id */
    int close_next;          /* close the connection on the first N GET /next */
    int post_status;         /* answer to posts; 0 = 202 */
    int hold_posts;          /* when the next request came with the post, answer
                                the post only with that GET's answer, as sfnd
                                does */
    char held[128];          /* the held answer */
    int held_posts;          /* posts answered that way */
    char deadline[32];       /* Lambda-Runtime-Deadline-Ms, "" = none */
    /* record */
    int nexts, connections;
    post posts[MAX_POSTS];
    int nposts;
} fake;

static fake F;

static int read_exact(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* One request; -1 when the connection is gone. */
static int serve_one(int fd)
{
    char head[8192];
    size_t len = 0;
    while (len < sizeof head - 1) {
        ssize_t r = recv(fd, head + len, 1, 0);
        if (r <= 0)
            return -1;
        len++;
        if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[len] = '\0';
    char method[8], path[256];
    if (sscanf(head, "%7s %255s", method, path) != 2)
        return -1;
    size_t clen = 0;
    char etype[128] = "";
    for (char *line = strstr(head, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
        char *l = line + 2;
        if (strncasecmp(l, "Content-Length:", 15) == 0)
            clen = strtoul(l + 15, NULL, 10);
        if (strncasecmp(l, "Lambda-Runtime-Function-Error-Type:", 35) == 0)
            sscanf(l + 35, " %127[^\r]", etype);
    }
    char *body = malloc(clen + 1);
    if (!body || read_exact(fd, body, clen) < 0) {
        free(body);
        return -1;
    }
    body[clen] = '\0';

    char hdr[1024];
    if (strcmp(method, "GET") == 0 && strcmp(path, "/2018-06-01/runtime/invocation/next") == 0) {
        free(body);
        int i = F.nexts++;
        if (i < F.close_next)
            return -1; /* close without a word */
        i -= F.close_next;
        if (i >= F.nevents) {
            const char *r = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
            return 0;
        }
        char held[128] = "";
        if (F.held[0]) { /* the post's answer goes out with this one, in one write */
            snprintf(held, sizeof held, "%s", F.held);
            F.held[0] = '\0';
            F.held_posts++;
        }
        size_t blen = F.event_len[i] ? F.event_len[i] : strlen(F.events[i]);
        char framing[64];
        if (F.chunked)
            snprintf(framing, sizeof framing, "Transfer-Encoding: chunked\r\n");
        else if (F.no_length)
            snprintf(framing, sizeof framing, "Connection: close\r\n");
        else
            snprintf(framing, sizeof framing, "Content-Length: %zu\r\n", blen);
        int n = snprintf(hdr, sizeof hdr,
                         "%sHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Lambda-Runtime-Aws-Request-Id: id-%d\r\n"
                         "%s%s%s"
                         "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:f\r\n"
                         "%s"
                         "Lambda-Runtime-Client-Context: {\"c\":1}\r\n"
                         "Lambda-Runtime-Cognito-Identity: {\"i\":2}\r\n"
                         "%s%s\r\n",
                         held, i + 1, F.deadline[0] ? "Lambda-Runtime-Deadline-Ms: " : "", F.deadline,
                         F.deadline[0] ? "\r\n" : "",
                         F.no_trace ? "" : "Lambda-Runtime-Trace-Id: Root=1-abc;Parent=def;Sampled=1\r\n",
                         F.close_after && !F.no_length ? "Connection: close\r\n" : "", framing);
        send_all(fd, hdr, (size_t)n);
        if (F.chunked) {
            /* uneven chunks, an extension, upper-case hex and a trailer */
            size_t off = 0, step = 7;
            while (off < blen) {
                size_t k = blen - off < step ? blen - off : step;
                n = snprintf(hdr, sizeof hdr, "%zX;ext=1\r\n", k);
                send_all(fd, hdr, (size_t)n);
                send_all(fd, F.events[i] + off, k);
                send_all(fd, "\r\n", 2);
                off += k;
                step = step * 3 + 1;
            }
            const char *last = "0\r\nX-Trailer: t\r\n\r\n";
            send_all(fd, last, strlen(last));
        } else {
            send_all(fd, F.events[i], blen);
        }
        return F.close_after || F.no_length ? -1 : 0;
    }
    if (strcmp(method, "POST") == 0 && F.nposts < MAX_POSTS) {
        post *p = &F.posts[F.nposts++];
        snprintf(p->path, sizeof p->path, "%s", path);
        snprintf(p->error_type, sizeof p->error_type, "%s", etype);
        p->body = body;
        p->len = clen;
        int st = F.post_status ? F.post_status : 202;
        int n = snprintf(hdr, sizeof hdr, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\n{}", st,
                         F.close_after ? "Connection: close\r\n" : "");
        char peek;
        if (F.hold_posts && recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
            /* the next request is already here (sent with the post) */
            snprintf(F.held, sizeof F.held, "%s", hdr);
            return 0;
        }
        send_all(fd, hdr, (size_t)n);
        return F.close_after ? -1 : 0;
    }
    free(body);
    return -1;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(F.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        F.connections++;
        while (serve_one(fd) == 0) {
        }
        close(fd);
    }
}

static char api[64];

static int start(void **state)
{
    (void)state;
    memset(&F, 0, sizeof F);
    F.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (F.lfd < 0 || bind(F.lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(F.lfd, 16) < 0 ||
        getsockname(F.lfd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    F.port = ntohs(a.sin_port);
    snprintf(api, sizeof api, "127.0.0.1:%d", F.port);
    return pthread_create(&F.th, NULL, serve, NULL) == 0 ? 0 : -1;
}

static void stop_server(void)
{
    shutdown(F.lfd, SHUT_RDWR);
    close(F.lfd);
    pthread_join(F.th, NULL);
    F.lfd = -1;
}

static int stop(void **state)
{
    (void)state;
    if (F.lfd >= 0)
        stop_server();
    for (int i = 0; i < F.nposts; i++)
        free(F.posts[i].body);
    return 0;
}

/* ---- handlers ----------------------------------------------------------- */

static char seen_trace[256];
static int64_t seen_remaining;
static lrt_context seen_ctx;
static char seen_strings[4][256];

static json_t *echo(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)err;
    (void)user;
    const char *t = getenv("_X_AMZN_TRACE_ID");
    snprintf(seen_trace, sizeof seen_trace, "%s", t ? t : "");
    seen_remaining = lrt_context_remaining_ms(ctx);
    seen_ctx = *ctx;
    snprintf(seen_strings[0], 256, "%s", ctx->request_id);
    snprintf(seen_strings[1], 256, "%s", ctx->invoked_function_arn);
    snprintf(seen_strings[2], 256, "%s", ctx->client_context);
    snprintf(seen_strings[3], 256, "%s", ctx->cognito_identity);
    return json_deep_copy(event);
}

static json_t *failing(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)event;
    (void)ctx;
    (void)user;
    return lrt_fail(err, "BookingFailed", "no rooms at the %s", "holiday inn");
}

static json_t *untyped(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)event;
    (void)ctx;
    (void)user;
    (void)err;
    return NULL;
}

static int run(lrt_handler h, int max)
{
    lrt_options o = {.api = api, .max_invocations = max, .max_retries = 2};
    return lrt_run(h, NULL, &o);
}

/* ---- tests -------------------------------------------------------------- */

static void test_success(void **state)
{
    (void)state;
    F.events[0] = "{\"tripId\":\"t1\",\"n\":[1,2,3]}";
    F.events[1] = "\"just a string\"";
    F.nevents = 2;
    assert_int_equal(run(echo, 2), LRT_OK);
    assert_int_equal(F.nposts, 2);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/invocation/id-1/response");
    json_t *got = json_loads(F.posts[0].body, 0, NULL);
    json_t *want = json_loads(F.events[0], 0, NULL);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    assert_string_equal(F.posts[1].path, "/2018-06-01/runtime/invocation/id-2/response");
    assert_string_equal(F.posts[1].body, "\"just a string\"");
    assert_string_equal(F.posts[0].error_type, "");
    /* the context, from the headers */
    assert_string_equal(seen_strings[0], "id-2");
    assert_string_equal(seen_strings[1], "arn:aws:lambda:us-east-1:123456789012:function:f");
    assert_string_equal(seen_strings[2], "{\"c\":1}");
    assert_string_equal(seen_strings[3], "{\"i\":2}");
    assert_string_equal(seen_trace, "Root=1-abc;Parent=def;Sampled=1");
    assert_int_equal(seen_ctx.deadline_ms, 0);
    assert_true(seen_remaining == INT64_MAX);
    /* one connection, kept alive */
    assert_int_equal(F.connections, 1);
}

static void test_error_with_type(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.events[1] = "{}";
    F.nevents = 2;
    assert_int_equal(run(failing, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/invocation/id-1/error");
    assert_string_equal(F.posts[0].error_type, "BookingFailed");
    json_t *b = json_loads(F.posts[0].body, 0, NULL);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "errorType")), "BookingFailed");
    assert_string_equal(json_string_value(json_object_get(b, "errorMessage")),
                        "no rooms at the holiday inn");
    assert_true(json_is_array(json_object_get(b, "stackTrace")));
    assert_int_equal(json_array_size(json_object_get(b, "stackTrace")), 0);
    json_decref(b);
    /* a handler that forgot the type still reports an error */
    assert_int_equal(run(untyped, 1), LRT_OK);
    assert_string_equal(F.posts[1].error_type, "HandlerError");
}

static void test_init_error(void **state)
{
    (void)state;
    lrt_options o = {.api = api};
    assert_int_equal(lrt_init_error("Runtime.InitError", "cannot open the store", &o), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/init/error");
    assert_string_equal(F.posts[0].error_type, "Runtime.InitError");
    json_t *b = json_loads(F.posts[0].body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "errorMessage")), "cannot open the store");
    json_decref(b);
}

static void test_deadline(void **state)
{
    (void)state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    snprintf(F.deadline, sizeof F.deadline, "%lld", now + 3000);
    F.events[0] = "{}";
    F.nevents = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(seen_ctx.deadline_ms, now + 3000);
    assert_true(seen_remaining > 0 && seen_remaining <= 3000);
}

static char *big_event(size_t n)
{
    char *s = malloc(n + 1);
    memset(s, 'x', n);
    s[0] = '"';
    s[n - 1] = '"';
    s[n] = '\0';
    return s;
}

static void test_large_payload(void **state)
{
    (void)state;
    size_t n = 5u * 1024u * 1024u;
    char *ev = big_event(n);
    F.events[0] = ev;
    F.event_len[0] = n;
    F.nevents = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/invocation/id-1/response");
    assert_int_equal(F.posts[0].len, n);
    assert_memory_equal(F.posts[0].body, ev, n);
    free(ev);
}

static void test_event_too_large(void **state)
{
    (void)state;
    size_t n = LRT_MAX_PAYLOAD + 1000;
    char *ev = big_event(n);
    F.events[0] = ev;
    F.event_len[0] = n;
    F.nevents = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/invocation/id-1/error");
    assert_string_equal(F.posts[0].error_type, "Runtime.PayloadTooLarge");
    free(ev);
}

static void test_invalid_event(void **state)
{
    (void)state;
    F.events[0] = "{not json";
    F.nevents = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_string_equal(F.posts[0].path, "/2018-06-01/runtime/invocation/id-1/error");
    assert_string_equal(F.posts[0].error_type, "Runtime.InvalidEvent");
}

static void test_api_500_on_next_exits(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.nevents = 1; /* the second GET /next gets a 500 */
    assert_int_equal(run(echo, 0), LRT_EAPI);
    assert_int_equal(F.nposts, 1);
    assert_int_equal(F.nexts, 2);
}

static void test_api_500_on_response_exits(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.events[1] = "{}";
    F.nevents = 2;
    F.post_status = 500;
    assert_int_equal(run(echo, 0), LRT_EAPI);
    /* the GET /next pipelined behind the post may have been served, but
     * its event is not run */
    assert_int_equal(F.nposts, 1);
}

/* A post carries GET /next behind it: an API that answers the post only
 * together with the next event (sfnd) is not waited on; every answer is
 * read in order on the one connection. The last invocation's post (of
 * max_invocations) asks for nothing more. */
static void test_next_pipelined_behind_post(void **state)
{
    (void)state;
    F.events[0] = "{\"a\":1}";
    F.events[1] = "{\"b\":2}";
    F.events[2] = "{\"c\":3}";
    F.nevents = 3;
    F.hold_posts = 1;
    assert_int_equal(run(echo, 3), LRT_OK);
    assert_int_equal(F.nposts, 3);
    assert_int_equal(F.held_posts, 2); /* the third is the last: held, never asked for */
    assert_int_equal(F.nexts, 3);
    assert_int_equal(F.connections, 1);
    assert_string_equal(F.posts[1].path, "/2018-06-01/runtime/invocation/id-2/response");
    assert_string_equal(F.posts[2].body, "{\"c\":3}");
}

static json_t *small_result(const json_t *event, const lrt_context *ctx, lrt_error *err,
                            void *user)
{
    (void)ctx;
    (void)err;
    (void)user;
    return json_pack("{s:I}", "len", (json_int_t)json_string_length(event));
}

static json_t *fail_on_big(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)ctx;
    (void)user;
    if (json_is_string(event) && json_string_length(event) > 1000)
        return lrt_fail(err, "TooBig", "no thanks");
    return json_deep_copy(event);
}

/* Issue 12: an event of 1 MiB or more grows the read buffer past what is
 * kept; the small post after it carries GET /next, whose answer comes with
 * the post's (sfnd holds it). The buffer was released with that answer
 * still in it, and the next invocation read from freed memory (NULL:
 * a segfault). Success and error posts both pipeline. */
static void test_big_event_then_pipelined_next(void **state)
{
    (void)state;
    size_t n = 1536u * 1024u;
    char *ev = big_event(n);
    F.events[0] = ev;
    F.event_len[0] = n;
    F.events[1] = "{\"small\":1}";
    F.events[2] = ev;
    F.event_len[2] = n;
    F.events[3] = "[3]";
    F.nevents = 4;
    F.hold_posts = 1;
    assert_int_equal(run(small_result, 2), LRT_OK);
    assert_int_equal(F.nposts, 2);
    assert_int_equal(F.held_posts, 1);
    char want[64];
    snprintf(want, sizeof want, "{\"len\":%zu}", n - 2);
    assert_string_equal(F.posts[0].body, want);
    assert_string_equal(F.posts[1].path, "/2018-06-01/runtime/invocation/id-2/response");
    assert_string_equal(F.posts[1].body, "{\"len\":0}");
    /* the same with an error post after the big event */
    assert_int_equal(run(fail_on_big, 2), LRT_OK);
    assert_int_equal(F.nposts, 4);
    assert_string_equal(F.posts[2].path, "/2018-06-01/runtime/invocation/id-3/error");
    assert_string_equal(F.posts[2].error_type, "TooBig");
    assert_string_equal(F.posts[3].path, "/2018-06-01/runtime/invocation/id-4/response");
    assert_string_equal(F.posts[3].body, "[3]");
    free(ev);
}

static void test_connection_closed_is_retried(void **state)
{
    (void)state;
    F.events[0] = "{\"a\":1}";
    F.nevents = 1;
    F.close_next = 2; /* within the bounded retries (2) */
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].body, "{\"a\":1}");
    assert_int_equal(F.connections, 3);
}

static void test_connection_always_closed_gives_up(void **state)
{
    (void)state;
    F.close_next = 100;
    assert_int_equal(run(echo, 0), LRT_EIO);
    assert_int_equal(F.nexts, 3); /* 1 + 2 retries, then exit */
    assert_int_equal(F.nposts, 0);
}

static void test_api_gone(void **state)
{
    (void)state;
    stop_server(); /* nothing listens on the port any more */
    assert_int_equal(run(echo, 0), LRT_EIO);
    unsetenv("AWS_LAMBDA_RUNTIME_API");
    assert_int_equal(lrt_run(echo, NULL, NULL), LRT_EINVAL);
}


/* What jansson would post for this event text: the echo of its parse. */
static char *jansson_echo(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return s;
}

/* The event reaches the handler as json_loadb would build it, and the
 * result goes out byte for byte as json_dumps writes it, whichever way
 * (direct or through jansson) each side took. */
static void test_event_and_result_json(void **state)
{
    (void)state;
    static const char *const evs[] = {
        /* the direct reader: escapes, UTF-8, nesting, literals, integers */
        "{\"a\":\"x\\\"y\\n\\/\\t\",\"b\":[1,-2,true,false,null,-0],\"c\":{\"d\":\"h\xc3\xa9 \xe2\x82\xac "
        "\xf0\x9f\x98\x80\"},\"e\":{},\"f\":[],\"k\\\"q\":123456789012345678}",
        /* duplicate keys: the last value, in the first one's place */
        " {\"k\":1,\"z\":0,\"k\":2} ",
        /* jansson's: \\u escapes (and a control character going out as \\u0001),
         * reals, an integer past 18 digits */
        "{\"u\":\"\\u00e9\\ud83d\\ude00\\u0001\",\"r\":[1.5,-0.0,1e2],\"big\":-9223372036854775808}",
        "\"just a string\"",
        "12",
    };
    int n = (int)(sizeof evs / sizeof evs[0]);
    for (int i = 0; i < n; i++)
        F.events[i] = evs[i];
    F.nevents = n;
    assert_int_equal(run(echo, n), LRT_OK);
    assert_int_equal(F.nposts, n);
    for (int i = 0; i < n; i++) {
        char *want = jansson_echo(evs[i]);
        assert_non_null(want);
        assert_string_equal(F.posts[i].error_type, "");
        assert_int_equal(F.posts[i].len, strlen(want));
        assert_string_equal(F.posts[i].body, want);
        free(want);
    }
}

/* Events jansson refuses are refused with jansson's own message. */
static void test_invalid_events_message(void **state)
{
    (void)state;
    static const char *const evs[] = {"{\"a\":1,}", "[1 2]", "\"\xff\"", "{\"a\":01}",
                                      "{\"a\":1} x", "", "{\"k\\u0000\":1}", "99999999999999999999"};
    int n = (int)(sizeof evs / sizeof evs[0]);
    for (int i = 0; i < n; i++)
        F.events[i] = evs[i];
    F.nevents = n;
    assert_int_equal(run(echo, n), LRT_OK);
    assert_int_equal(F.nposts, n);
    for (int i = 0; i < n; i++) {
        json_error_t jerr;
        assert_null(json_loads(evs[i], JSON_DECODE_ANY, &jerr));
        char want[400];
        snprintf(want, sizeof want, "The event is not JSON: %s", jerr.text);
        assert_string_equal(F.posts[i].error_type, "Runtime.InvalidEvent");
        json_t *b = json_loads(F.posts[i].body, 0, NULL);
        assert_non_null(b);
        assert_string_equal(json_string_value(json_object_get(b, "errorMessage")), want);
        json_decref(b);
    }
}

static json_t *real_result(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)event;
    (void)ctx;
    (void)err;
    (void)user;
    return json_pack("{s:f, s:[f]}", "pi", 3.14159, "tenth", 0.1);
}

static void test_result_with_reals(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.nevents = 1;
    assert_int_equal(run(real_result, 1), LRT_OK);
    json_t *want = real_result(NULL, NULL, NULL, NULL);
    char *w = json_dumps(want, JSON_COMPACT);
    assert_string_equal(F.posts[0].body, w);
    free(w);
    json_decref(want);
}

static json_t *long_utf8_failure(const json_t *event, const lrt_context *ctx, lrt_error *err,
                                 void *user)
{
    (void)event;
    (void)ctx;
    (void)user;
    /* two ASCII bytes, then 2-byte characters: lrt_error's 1023 bytes end
     * inside one */
    char msg[2000] = "xy";
    for (size_t i = 2; i + 2 < sizeof msg; i += 2)
        memcpy(msg + i, "\xc3\xa9", 3);
    return lrt_fail(err, "BookingFailed", "%s", msg);
}

/* A message cut inside a UTF-8 character (lrt_error's fixed buffer) still
 * makes a JSON error body, and the runtime carries on. */
static void test_error_message_cut_inside_utf8(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.events[1] = "{\"a\":1}";
    F.nevents = 2;
    assert_int_equal(run(long_utf8_failure, 2), LRT_OK);
    assert_int_equal(F.nposts, 2);
    json_t *b = json_loads(F.posts[0].body, 0, NULL);
    assert_non_null(b);
    const char *m = json_string_value(json_object_get(b, "errorMessage"));
    assert_non_null(m);
    size_t len = strlen(m);
    assert_true(len > 1000);
    assert_memory_equal(m + len - 3, "\xef\xbf\xbd", 3); /* U+FFFD for the cut character */
    json_decref(b);
    assert_string_equal(F.posts[1].path, "/2018-06-01/runtime/invocation/id-2/error");
}

/* Chunked bodies (uneven chunks, an extension, a trailer) on a kept-alive
 * connection. */
static void test_chunked_event(void **state)
{
    (void)state;
    size_t n = 200000;
    char *ev = big_event(n);
    F.events[0] = "{\"tripId\":\"t1\",\"n\":[1,2,3]}";
    F.events[1] = ev;
    F.event_len[1] = n;
    F.nevents = 2;
    F.chunked = 1;
    assert_int_equal(run(echo, 2), LRT_OK);
    assert_int_equal(F.nposts, 2);
    assert_string_equal(F.posts[0].body, F.events[0]);
    assert_int_equal(F.posts[1].len, n);
    assert_memory_equal(F.posts[1].body, ev, n);
    assert_int_equal(F.connections, 1);
    free(ev);
}

/* A chunked event past the payload cap is refused, and the connection is
 * still usable for the error post. */
static void test_chunked_event_too_large(void **state)
{
    (void)state;
    size_t n = LRT_MAX_PAYLOAD + 1000;
    char *ev = big_event(n);
    F.events[0] = ev;
    F.event_len[0] = n;
    F.nevents = 1;
    F.chunked = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].error_type, "Runtime.PayloadTooLarge");
    assert_int_equal(F.connections, 1);
    free(ev);
}

/* An API that closes after every answer (Connection: close), and one
 * whose bodies end with the connection: each request gets a new one. */
static void test_connection_close_answers(void **state)
{
    (void)state;
    F.events[0] = "{\"a\":1}";
    F.events[1] = "[2]";
    F.nevents = 2;
    F.close_after = 1;
    assert_int_equal(run(echo, 2), LRT_OK);
    assert_int_equal(F.nposts, 2);
    assert_string_equal(F.posts[0].body, "{\"a\":1}");
    assert_string_equal(F.posts[1].body, "[2]");
    assert_int_equal(F.connections, 4); /* next, post, next, post */
}

static void test_body_to_end_of_connection(void **state)
{
    (void)state;
    F.events[0] = "{\"a\":\"until close\"}";
    F.nevents = 1;
    F.no_length = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_int_equal(F.nposts, 1);
    assert_string_equal(F.posts[0].body, F.events[0]);
    assert_int_equal(F.connections, 2);
}

/* _X_AMZN_TRACE_ID follows each invocation's header, and goes away when
 * an invocation has none. */
static void test_trace_env_follows_invocation(void **state)
{
    (void)state;
    F.events[0] = "{}";
    F.nevents = 1;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_string_equal(seen_trace, "Root=1-abc;Parent=def;Sampled=1");
    assert_string_equal(getenv("_X_AMZN_TRACE_ID"), "Root=1-abc;Parent=def;Sampled=1");
    F.no_trace = 1;
    F.nexts = 0;
    assert_int_equal(run(echo, 1), LRT_OK);
    assert_string_equal(seen_trace, "");
    assert_string_equal(seen_strings[0], "id-1");
    assert_null(getenv("_X_AMZN_TRACE_ID"));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success, start, stop),
        cmocka_unit_test_setup_teardown(test_error_with_type, start, stop),
        cmocka_unit_test_setup_teardown(test_next_pipelined_behind_post, start, stop),
        cmocka_unit_test_setup_teardown(test_big_event_then_pipelined_next, start, stop),
        cmocka_unit_test_setup_teardown(test_init_error, start, stop),
        cmocka_unit_test_setup_teardown(test_deadline, start, stop),
        cmocka_unit_test_setup_teardown(test_large_payload, start, stop),
        cmocka_unit_test_setup_teardown(test_event_too_large, start, stop),
        cmocka_unit_test_setup_teardown(test_invalid_event, start, stop),
        cmocka_unit_test_setup_teardown(test_api_500_on_next_exits, start, stop),
        cmocka_unit_test_setup_teardown(test_api_500_on_response_exits, start, stop),
        cmocka_unit_test_setup_teardown(test_connection_closed_is_retried, start, stop),
        cmocka_unit_test_setup_teardown(test_connection_always_closed_gives_up, start, stop),
        cmocka_unit_test_setup_teardown(test_api_gone, start, stop),
        cmocka_unit_test_setup_teardown(test_event_and_result_json, start, stop),
        cmocka_unit_test_setup_teardown(test_invalid_events_message, start, stop),
        cmocka_unit_test_setup_teardown(test_result_with_reals, start, stop),
        cmocka_unit_test_setup_teardown(test_error_message_cut_inside_utf8, start, stop),
        cmocka_unit_test_setup_teardown(test_chunked_event, start, stop),
        cmocka_unit_test_setup_teardown(test_chunked_event_too_large, start, stop),
        cmocka_unit_test_setup_teardown(test_connection_close_answers, start, stop),
        cmocka_unit_test_setup_teardown(test_body_to_end_of_connection, start, stop),
        cmocka_unit_test_setup_teardown(test_trace_env_follows_invocation, start, stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
