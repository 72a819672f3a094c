/*
 * console.c - the console's routes (console.h): the page and its assets,
 * the per-process token and the check of browser writes, the graph
 * endpoint (DescribeStateMachine[ForExecution] through the API, then
 * Graphviz, cached by definition), and the plumbing of console requests
 * that wait for API calls (con__*).
 *
 * Must not: write; answer a request twice; serve anything but the built-in
 * assets and the JSON/SVG it computes.
 */
#define _GNU_SOURCE
#include "console_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Every console answer: no framing, no sniffing, nothing but our own. */
#define SEC_HEADERS                                                                           \
    "X-Content-Type-Options: nosniff\r\n"                                                     \
    "X-Frame-Options: DENY\r\n"                                                               \
    "Referrer-Policy: no-referrer\r\n"                                                        \
    "Cache-Control: no-store\r\n"
#define CSP                                                                                   \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "      \
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "     \
    "form-action 'none'\r\n"

const console_asset *console_asset_find(const char *name)
{
    for (size_t i = 0; i < console_nassets; i++)
        if (!strcmp(console_assets[i].name, name))
            return &console_assets[i];
    return NULL;
}

const char *console_token(const console *c) { return c->token; }

int console_target_reads(const char *t)
{
    static const char sfn[] = "AWSStepFunctions.";
    if (t == NULL)
        return 0;
    if (!strcmp(t, "Sfnd.WaitExecution"))
        return 1;
    if (strncmp(t, sfn, sizeof sfn - 1))
        return 0;
    t += sizeof sfn - 1;
    return !strncmp(t, "Describe", 8) || !strncmp(t, "List", 4) || !strncmp(t, "Get", 3) ||
           !strcmp(t, "ValidateStateMachineDefinition");
}

/* ---- answers ------------------------------------------------------------------------------- */
void con__respond_json(http_req *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (text == NULL) {
        static const char oom[] = "{\"__type\":\"InternalFailure\",\"message\":\"out of memory\"}";
        http_respond(req, 500, "Content-Type: application/json\r\n" SEC_HEADERS, oom,
                     sizeof oom - 1);
        return;
    }
    http_respond_take(req, status, "Content-Type: application/json\r\n" SEC_HEADERS, text,
                      strlen(text));
}

void con__respond_err(http_req *req, int status, const char *type, const char *msg)
{
    con__respond_json(req, status, json_pack("{s:s,s:s}", "__type", type, "message", msg));
}

/* ---- console requests waiting for the API ---------------------------------------------------- */
static void unlink_pending(con_pending *p)
{
    if (p->prev) {
        p->prev->next = p->next;
        if (p->next)
            p->next->prev = p->prev;
        p->prev = p->next = NULL;
    }
}

static void on_cancel(http_req *req, void *ud)
{
    con_pending *p = ud;
    http_req_release(req);
    p->req = NULL;
}

void con__link(console *c, con_pending *p)
{
    p->c = c;
    p->next = c->pending.next;
    p->prev = &c->pending;
    if (p->next)
        p->next->prev = p;
    c->pending.next = p;
    if (p->req)
        http_req_set_cancel(p->req, on_cancel, p);
}

static void finish(con_pending *p)
{
    unlink_pending(p);
    p->destroy(p);
}

static void api_reply(void *ud, int status, const char *body, size_t len)
{
    con_pending *p = ud;
    if (p->req == NULL) { /* the client went away */
        finish(p);
        return;
    }
    p->on_reply(p, status, body, len);
}

void con__api(con_pending *p, const char *target, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (text == NULL) {
        con__finish_err(p, 500, "InternalFailure", "out of memory");
        return;
    }
    api_call(p->c->a, target, text, strlen(text), api_reply, p);
    free(text);
}

static http_req *take_req(con_pending *p)
{
    http_req *r = p->req;
    p->req = NULL;
    if (r)
        http_req_set_cancel(r, NULL, NULL);
    return r;
}

void con__finish_json(con_pending *p, int status, json_t *j)
{
    http_req *r = take_req(p);
    if (r)
        con__respond_json(r, status, j);
    else
        json_decref(j);
    finish(p);
}

void con__finish_err(con_pending *p, int status, const char *type, const char *msg)
{
    con__finish_json(p, status, json_pack("{s:s,s:s}", "__type", type, "message", msg));
}

/* The API's own error reply, passed on as it is. */
static void finish_raw(con_pending *p, int status, const char *body, size_t len)
{
    http_req *r = take_req(p);
    if (r)
        http_respond(r, status, "Content-Type: application/json\r\n" SEC_HEADERS, body, len);
    finish(p);
}

/* ---- the graph -------------------------------------------------------------------------------- */
typedef struct graph_req {
    con_pending p;
} graph_req;

static void graph_destroy(con_pending *p) { free(p); }

static unsigned long long fnv(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static void graph_reply(con_pending *p, int status, const char *body, size_t len)
{
    console *c = p->c;
    if (status != 200) {
        finish_raw(p, status, body, len);
        return;
    }
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *def = json_string_value(json_object_get(j, "definition"));
    if (def == NULL) {
        json_decref(j);
        con__finish_err(p, 500, "InternalFailure", "no definition in the API's answer");
        return;
    }
    unsigned long long key = fnv(def);
    struct svg_cache *hit = NULL;
    for (size_t i = 0; i < sizeof c->cache / sizeof c->cache[0]; i++)
        if (c->cache[i].svg && c->cache[i].key == key)
            hit = &c->cache[i];
    if (hit == NULL) {
        char err[256];
        size_t n = 0;
        char *svg = c->graph ? console_graph_svg(c->graph, def, &n, err, sizeof err) : NULL;
        if (svg == NULL) {
            json_decref(j);
            con__finish_err(p, 500, "InternalFailure", c->graph ? err : "no Graphviz context");
            return;
        }
        hit = &c->cache[c->cache_next++ % (sizeof c->cache / sizeof c->cache[0])];
        free(hit->svg);
        hit->key = key;
        hit->svg = svg;
        hit->len = n;
    }
    json_decref(j);
    http_req *r = take_req(p);
    if (r)
        http_respond(r, 200, "Content-Type: image/svg+xml\r\n" SEC_HEADERS, hit->svg, hit->len);
    finish(p);
}

static void serve_graph(console *c, http_req *req)
{
    char arn[2048];
    const char *target, *member;
    if (http_req_query_param(req, "executionArn", arn, sizeof arn) > 0) {
        target = "AWSStepFunctions.DescribeStateMachineForExecution";
        member = "executionArn";
    } else if (http_req_query_param(req, "stateMachineArn", arn, sizeof arn) > 0) {
        target = "AWSStepFunctions.DescribeStateMachine";
        member = "stateMachineArn";
    } else {
        con__respond_err(req, 400, "ValidationException",
                         "graph.svg needs stateMachineArn or executionArn");
        return;
    }
    graph_req *g = calloc(1, sizeof *g);
    if (g == NULL) {
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    g->p.req = req;
    g->p.on_reply = graph_reply;
    g->p.destroy = graph_destroy;
    con__link(c, &g->p);
    con__api(&g->p, target, json_pack("{s:s}", member, arn));
}

/* ---- pages and assets -------------------------------------------------------------------------- */
/* The page, with this process's token in place of {{TOKEN}}. */
static void serve_index(console *c, http_req *req)
{
    const console_asset *a = console_asset_find("index.html");
    static const char mark[] = "{{TOKEN}}";
    if (a == NULL) {
        con__respond_err(req, 500, "InternalFailure", "index.html is not built in");
        return;
    }
    char *out = malloc(a->len + 64);
    size_t o = 0;
    if (out == NULL) {
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    for (size_t i = 0; i < a->len;) {
        if (i + sizeof mark - 1 <= a->len && !memcmp(a->data + i, mark, sizeof mark - 1) &&
            o + 32 <= a->len + 63) {
            memcpy(out + o, c->token, 32);
            o += 32;
            i += sizeof mark - 1;
        } else
            out[o++] = (char)a->data[i++];
    }
    http_respond_take(req, 200, "Content-Type: text/html; charset=utf-8\r\n" SEC_HEADERS CSP, out,
                      o);
}

static void serve_asset(http_req *req, const char *name)
{
    const console_asset *a = console_asset_find(name);
    if (a == NULL || !strcmp(name, "index.html")) {
        con__respond_err(req, 404, "ResourceNotFound", "no such console asset");
        return;
    }
    char head[256];
    snprintf(head, sizeof head, "Content-Type: %s\r\n" SEC_HEADERS, a->type);
    http_respond(req, 200, head, (const char *)a->data, a->len);
}

/* ---- the route ------------------------------------------------------------------------------ */
static int token_ok(const console *c, const char *t)
{
    if (t == NULL || strlen(t) != 32)
        return 0;
    unsigned d = 0;
    for (size_t i = 0; i < 32; i++)
        d |= (unsigned)(t[i] ^ c->token[i]);
    return d == 0;
}

/* A same-origin browser POST that writes needs the console's token. */
static int refuse_browser_write(console *c, http_req *req)
{
    const char *origin = http_req_header(req, "Origin");
    const char *host = http_req_header(req, "Host");
    const char *auth = http_req_header(req, "Authorization");
    if (origin == NULL || (auth && !strncmp(auth, "AWS4-", 5)))
        return 0;
    if (host == NULL || strncasecmp(origin, "http://", 7) || strcasecmp(origin + 7, host))
        return 0; /* not our own origin: the API's check decides */
    if (console_target_reads(http_req_header(req, "X-Amz-Target")) ||
        token_ok(c, http_req_header(req, "X-Sfnd-Console-Token")))
        return 0;
    http_respond(req, 403,
                 "Content-Type: application/x-amz-json-1.0\r\n"
                 "x-amzn-ErrorType: AccessDeniedException\r\n",
                 "{\"__type\":\"AccessDeniedException\",\"message\":\"A browser write needs the "
                 "console's X-Sfnd-Console-Token\"}",
                 strlen("{\"__type\":\"AccessDeniedException\",\"message\":\"A browser write "
                        "needs the console's X-Sfnd-Console-Token\"}"));
    return 1;
}

typedef void exec_handler(console *c, http_req *req, const char *arn);

/* The console's endpoints that take an executionArn. */
static exec_handler *exec_route(const char *path)
{
    static const struct {
        const char *path;
        exec_handler *fn;
    } routes[] = {
        {"/console/summary", con__summary}, {"/console/saga", con__saga},
        {"/console/iterations", con__iter}, {"/console/state", con__state},
        {"/console/events", con__sse},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        if (!strcmp(path, routes[i].path))
            return routes[i].fn;
    return NULL;
}

int console_http_route(console *c, http_req *req)
{
    const char *method = http_req_method(req), *path = http_req_path(req);
    if (!strcmp(method, "POST") && !strcmp(path, "/"))
        return refuse_browser_write(c, req);
    if (strcmp(method, "GET") ||
        (strcmp(path, "/") && strcmp(path, "/index.html") && strncmp(path, "/console/", 9)))
        return 0;
    char msg[512];
    if (api_http_check(c->a, method, http_req_header(req, "Host"), http_req_header(req, "Origin"),
                       NULL, NULL, msg, sizeof msg) != 0)
        return 0; /* the API answers 403 */
    char arn[2048];
    if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
        serve_index(c, req);
    else if (!strncmp(path, "/console/assets/", 16))
        serve_asset(req, path + 16);
    else if (!strcmp(path, "/console/graph.svg"))
        serve_graph(c, req);
    else if (!strcmp(path, "/console/origin")) {
        if (http_req_query_param(req, "stateMachineArn", arn, sizeof arn) <= 0)
            con__respond_err(req, 400, "ValidationException", "stateMachineArn is required");
        else
            con__origin(c, req, arn);
    } else if (exec_route(path) != NULL) {
        if (http_req_query_param(req, "executionArn", arn, sizeof arn) <= 0)
            con__respond_err(req, 400, "ValidationException", "executionArn is required");
        else
            exec_route(path)(c, req, arn);
    } else
        con__respond_err(req, 404, "ResourceNotFound", "no such console page");
    return 1;
}

/* ---- lifetime ------------------------------------------------------------------------------- */
static void make_token(char out[33])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        unsigned long long x = (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 32);
        for (size_t i = 0; i < sizeof r; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            r[i] = (unsigned char)(x >> 56);
        }
    }
    for (size_t i = 0; i < sizeof r; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

console *console_create(const console_opts *o)
{
    console *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->a = o->a;
    c->loop = o->loop;
    c->datadir = strdup(o->datadir ? o->datadir : ".");
    c->graph = console_graph_create(); /* NULL: graph.svg answers 500 */
    make_token(c->token);
    if (c->datadir == NULL) {
        console_free(c);
        return NULL;
    }
    return c;
}

void console_free(console *c)
{
    if (c == NULL)
        return;
    while (c->pending.next) {
        con_pending *p = c->pending.next;
        http_req *r = take_req(p);
        if (r)
            http_req_release(r);
        finish(p);
    }
    for (size_t i = 0; i < sizeof c->cache / sizeof c->cache[0]; i++)
        free(c->cache[i].svg);
    console_graph_free(c->graph);
    json_decref(c->origins);
    free(c->datadir);
    free(c);
}
