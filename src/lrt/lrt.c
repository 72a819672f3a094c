/*
 * lrt.c - the Lambda Runtime API loop (see lrt.h).
 *
 * One libcurl easy handle, reused so the connection to the API stays open.
 * What the API answers decides what we do: 200/202 carry on; 500 means the
 * runtime must exit (AWS restarts the sandbox); 400/403 on a post are
 * logged and the loop carries on (the invocation is already settled). A
 * connection that fails or closes is retried a bounded number of times,
 * because a request that never reached the API did nothing.
 */
#include "lrt.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_RETRIES 3

/* A growable byte buffer with a hard cap (curl's dynbuf idea). */
typedef struct buf {
    char *p;
    size_t len, cap, max;
    int toobig;
} buf;

/* The headers of one GET /next. */
typedef struct next_headers {
    char *request_id, *deadline, *arn, *trace, *client_context, *cognito, *tenant;
} next_headers;

typedef struct rt {
    CURL *h;
    char base[512];       /* http://host:port/2018-06-01 */
    int max_retries;
    buf body;             /* the last response body */
    next_headers hd;      /* filled only while reading GET /next */
    int want_headers;
} rt;

json_t *lrt_fail(lrt_error *err, const char *type, const char *fmt, ...)
{
    va_list ap;
    snprintf(err->type, sizeof err->type, "%s", type);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return NULL;
}

int64_t lrt_context_remaining_ms(const lrt_context *ctx)
{
    struct timespec ts;
    if (ctx->deadline_ms <= 0)
        return INT64_MAX;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ctx->deadline_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void headers_clear(next_headers *hd)
{
    free(hd->request_id);
    free(hd->deadline);
    free(hd->arn);
    free(hd->trace);
    free(hd->client_context);
    free(hd->cognito);
    free(hd->tenant);
    memset(hd, 0, sizeof *hd);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    size_t len = size * n;
    if (b->len + len > b->max) {
        b->toobig = 1;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return len;
}

/* Keep a copy of header `name` if this line is it; true when it was. */
static int take_header(const char *line, size_t len, const char *name, char **dst)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return 0;
    const char *v = line + nl + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    free(*dst);
    *dst = strndup(v, (size_t)(end - v));
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    rt *r = ud;
    size_t len = size * n;
    if (!r->want_headers)
        return len;
    next_headers *hd = &r->hd;
    (void)(take_header(data, len, "Lambda-Runtime-Aws-Request-Id", &hd->request_id) ||
           take_header(data, len, "Lambda-Runtime-Deadline-Ms", &hd->deadline) ||
           take_header(data, len, "Lambda-Runtime-Invoked-Function-Arn", &hd->arn) ||
           take_header(data, len, "Lambda-Runtime-Trace-Id", &hd->trace) ||
           take_header(data, len, "Lambda-Runtime-Client-Context", &hd->client_context) ||
           take_header(data, len, "Lambda-Runtime-Cognito-Identity", &hd->cognito) ||
           take_header(data, len, "Lambda-Runtime-Aws-Tenant-Id", &hd->tenant));
    return len;
}

static int rt_open(rt *r, const lrt_options *opts)
{
    const char *api = opts && opts->api ? opts->api : getenv("AWS_LAMBDA_RUNTIME_API");
    memset(r, 0, sizeof *r);
    if (!api || !*api) {
        fprintf(stderr, "lrt: AWS_LAMBDA_RUNTIME_API is not set\n");
        return LRT_EINVAL;
    }
    if ((size_t)snprintf(r->base, sizeof r->base, "http://%s/2018-06-01", api) >= sizeof r->base)
        return LRT_EINVAL;
    r->max_retries = opts && opts->max_retries > 0 ? opts->max_retries : DEFAULT_RETRIES;
    r->body.max = LRT_MAX_PAYLOAD;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return LRT_ENOMEM;
    r->h = curl_easy_init();
    if (!r->h) {
        curl_global_cleanup();
        return LRT_ENOMEM;
    }
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->h, CURLOPT_PROXY, ""); /* the API is local: never via a proxy */
    /* No CURLOPT_TIMEOUT anywhere: GET /next may wait as long as the
     * sandbox is frozen. Connecting to a local socket is quick or fails. */
    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    return LRT_OK;
}

static void rt_close(rt *r)
{
    if (r->h) {
        curl_easy_cleanup(r->h);
        curl_global_cleanup();
    }
    free(r->body.p);
    headers_clear(&r->hd);
    memset(r, 0, sizeof *r);
}

/* Errors where the request may simply not have arrived: worth retrying. */
static int transient(CURLcode c)
{
    return c == CURLE_COULDNT_CONNECT || c == CURLE_SEND_ERROR || c == CURLE_RECV_ERROR ||
           c == CURLE_GOT_NOTHING || c == CURLE_PARTIAL_FILE || c == CURLE_OPERATION_TIMEDOUT;
}

/* One request; body NULL means GET. *status gets the HTTP status. */
static int rt_request(rt *r, const char *path, const char *body, size_t len,
                      const char *error_type, long *status)
{
    char url[1024];
    char hdr[256];
    struct curl_slist *hl = NULL;
    int rc = LRT_EIO;

    if ((size_t)snprintf(url, sizeof url, "%s%s", r->base, path) >= sizeof url)
        return LRT_EINVAL;
    if (body) {
        hl = curl_slist_append(hl, "Content-Type: application/json");
        hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
        if (error_type) {
            snprintf(hdr, sizeof hdr, "Lambda-Runtime-Function-Error-Type: %s", error_type);
            for (char *c = hdr; *c; c++)
                if (*c == '\r' || *c == '\n')
                    *c = ' ';
            hl = curl_slist_append(hl, hdr);
        }
        if (!hl)
            return LRT_ENOMEM;
    }
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(r->h, CURLOPT_POST, 1L);
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(r->h, CURLOPT_HTTPGET, 1L);
    }
    r->want_headers = body == NULL;

    for (int attempt = 0;; attempt++) {
        r->body.len = 0;
        r->body.toobig = 0;
        if (r->body.p)
            r->body.p[0] = '\0';
        if (!body)
            headers_clear(&r->hd);
        CURLcode c = curl_easy_perform(r->h);
        if (c == CURLE_OK) {
            curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, status);
            rc = LRT_OK;
            break;
        }
        if (c == CURLE_WRITE_ERROR && r->body.toobig) {
            curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, status);
            rc = LRT_ETOOBIG;
            break;
        }
        fprintf(stderr, "lrt: %s %s: %s (attempt %d)\n", body ? "POST" : "GET", path,
                curl_easy_strerror(c), attempt + 1);
        if (!transient(c) || attempt >= r->max_retries) {
            rc = LRT_EIO;
            break;
        }
        /* A short, growing pause: the API is local and restarts fast. */
        struct timespec ts = {0, 10000000L * (attempt + 1)};
        nanosleep(&ts, NULL);
    }
    r->want_headers = 0;
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return rc;
}

/* What a post's status means for the loop. */
static int post_status(const char *what, long status)
{
    if (status == 202 || status == 200)
        return LRT_OK;
    if (status >= 500) {
        fprintf(stderr, "lrt: %s: the Runtime API answered %ld: exiting\n", what, status);
        return LRT_EAPI;
    }
    fprintf(stderr, "lrt: %s: the Runtime API answered %ld\n", what, status);
    return LRT_OK;
}

static char *error_body(const char *type, const char *message)
{
    json_t *o = json_pack("{s:s, s:s, s:[]}", "errorMessage", message, "errorType", type,
                          "stackTrace");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static int post_error(rt *r, const char *path, const char *type, const char *message)
{
    long status = 0;
    char *b = error_body(type, message);
    if (!b)
        return LRT_ENOMEM;
    int rc = rt_request(r, path, b, strlen(b), type, &status);
    free(b);
    if (rc < 0)
        return rc;
    return post_status(path, status);
}

static int post_result(rt *r, const char *id, json_t *result)
{
    char path[512];
    long status = 0;
    char *s = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(path, sizeof path, "/runtime/invocation/%s/response", id);
    if (!s)
        return LRT_ENOMEM;
    size_t len = strlen(s);
    if (len > LRT_MAX_PAYLOAD) {
        free(s);
        snprintf(path, sizeof path, "/runtime/invocation/%s/error", id);
        return post_error(r, path, "Function.ResponseSizeTooLarge",
                          "The response is larger than the 6 MB payload limit");
    }
    int rc = rt_request(r, path, s, len, NULL, &status);
    free(s);
    if (rc < 0)
        return rc;
    if (status == 413) {
        snprintf(path, sizeof path, "/runtime/invocation/%s/error", id);
        return post_error(r, path, "Function.ResponseSizeTooLarge",
                          "The Runtime API refused the response as too large");
    }
    return post_status("response", status);
}

/* Run one invocation: GET /next, handler, post. */
static int run_one(rt *r, lrt_handler handler, void *user)
{
    long status = 0;
    char path[512];
    int rc = rt_request(r, "/runtime/invocation/next", NULL, 0, NULL, &status);
    if (rc < 0 && rc != LRT_ETOOBIG)
        return rc;
    if (status != 200) {
        fprintf(stderr, "lrt: GET next: the Runtime API answered %ld: exiting\n", status);
        return LRT_EAPI;
    }
    next_headers *hd = &r->hd;
    if (!hd->request_id || !*hd->request_id) {
        fprintf(stderr, "lrt: GET next: no Lambda-Runtime-Aws-Request-Id\n");
        return LRT_EAPI;
    }
    snprintf(path, sizeof path, "/runtime/invocation/%s/error", hd->request_id);
    if (rc == LRT_ETOOBIG)
        return post_error(r, path, "Runtime.PayloadTooLarge",
                          "The event is larger than the 6 MB payload limit");

    lrt_context ctx = {
        .request_id = hd->request_id,
        .deadline_ms = hd->deadline ? strtoll(hd->deadline, NULL, 10) : 0,
        .invoked_function_arn = hd->arn ? hd->arn : "",
        .trace_id = hd->trace ? hd->trace : "",
        .client_context = hd->client_context ? hd->client_context : "",
        .cognito_identity = hd->cognito ? hd->cognito : "",
        .tenant_id = hd->tenant ? hd->tenant : "",
    };
    /* Tracing SDKs read the trace header from the environment. */
    if (hd->trace && *hd->trace)
        setenv("_X_AMZN_TRACE_ID", hd->trace, 1);
    else
        unsetenv("_X_AMZN_TRACE_ID");

    json_error_t jerr;
    json_t *event = json_loadb(r->body.p ? r->body.p : "", r->body.len, JSON_DECODE_ANY, &jerr);
    if (!event) {
        char msg[300];
        snprintf(msg, sizeof msg, "The event is not JSON: %s", jerr.text);
        return post_error(r, path, "Runtime.InvalidEvent", msg);
    }
    lrt_error err = {{0}, {0}};
    json_t *result = handler(event, &ctx, &err, user);
    json_decref(event);
    if (result) {
        rc = post_result(r, hd->request_id, result);
        json_decref(result);
        return rc;
    }
    if (!err.type[0])
        snprintf(err.type, sizeof err.type, "HandlerError");
    fprintf(stderr, "lrt: invocation %s failed: %s: %s\n", hd->request_id, err.type, err.message);
    return post_error(r, path, err.type, err.message);
}

int lrt_run(lrt_handler handler, void *user, const lrt_options *opts)
{
    rt r;
    int rc = rt_open(&r, opts);
    if (rc < 0)
        return rc;
    int max = opts ? opts->max_invocations : 0;
    for (int n = 0; max <= 0 || n < max; n++) {
        rc = run_one(&r, handler, user);
        if (rc < 0)
            break;
    }
    rt_close(&r);
    return rc;
}

int lrt_init_error(const char *type, const char *message, const lrt_options *opts)
{
    rt r;
    int rc = rt_open(&r, opts);
    if (rc < 0)
        return rc;
    rc = post_error(&r, "/runtime/init/error", type, message);
    rt_close(&r);
    return rc;
}

int lrt_main(lrt_handler handler, lrt_init_fn init, lrt_cleanup_fn cleanup)
{
    void *user = NULL;
    lrt_error err = {{0}, {0}};
    if (init && init(&user, &err) < 0) {
        if (!err.type[0])
            snprintf(err.type, sizeof err.type, "Runtime.InitError");
        fprintf(stderr, "lrt: init failed: %s: %s\n", err.type, err.message);
        lrt_init_error(err.type, err.message, NULL);
        return 1;
    }
    int rc = lrt_run(handler, user, NULL);
    if (cleanup)
        cleanup(user);
    return rc == LRT_OK ? 0 : 1;
}
