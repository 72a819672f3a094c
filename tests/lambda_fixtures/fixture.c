/*
 * fixture.c - a test `bootstrap` for src/lambda, speaking the Lambda
 * Runtime API over a plain blocking socket (no libcurl, no src/lrt, so it
 * tests lam against the protocol, not against our own client).
 *
 * What it does per event: the event's "op" field, else the _HANDLER:
 *   echo            respond with the event
 *   env             respond {"env":[every environ entry],"cwd":"..."}
 *   fail            POST /error {"errorType":"BookingFailed",...}
 *   sleep           sleep "ms" milliseconds, then echo
 *   exit            exit("code") mid-invocation
 *   crash           SIGKILL itself mid-invocation
 *   big             respond with "bytes" bytes (a JSON string)
 *   pid             respond {"pid":N} (to tell warm processes apart)
 *   forkchild       fork a child that sleeps 60 s (same process group), write
 *                   its pid to "pidfile", then sleep "ms" (0: none) and echo
 *   spew            write "bytes" bytes of log lines to stdout, then echo
 *   say             write the line "text" to stdout and "partial" (no newline)
 *                   to stderr, then echo
 *   headers         respond {"head": the /next answer's head, as received}
 * Handlers only at start-up: initfail (POST /init/error, exit 1),
 * initcrash (exit 2 before the first /next), initsleep (never calls
 * /next: sleeps 60 s).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int sock = -1;
static char host[64];
static int port;

static void die(const char *m)
{
    fprintf(stderr, "fixture: %s: %s\n", m, strerror(errno));
    exit(99);
}

static void connect_api(void)
{
    sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(sock, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void send_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(sock, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            die("send");
        p += w;
        n -= (size_t)w;
    }
}

static char *rbuf;
static size_t rlen, rcap;
static char last_head[16384]; /* the head of the last response read */

/* Read one response; returns status, fills *body (malloc'd), header values. */
static int read_response(char **body, size_t *blen, char *reqid, size_t reqidsz)
{
    for (;;) {
        char *e = rlen ? memmem(rbuf, rlen, "\r\n\r\n", 4) : NULL;
        if (e) {
            size_t hl = (size_t)(e + 4 - rbuf);
            *e = 0;
            snprintf(last_head, sizeof last_head, "%s", rbuf);
            char *cl = strcasestr(rbuf, "\r\nContent-Length:");
            size_t n = cl ? strtoul(cl + 17, NULL, 10) : 0;
            char *ri = strcasestr(rbuf, "\r\nLambda-Runtime-Aws-Request-Id:");
            if (ri && reqid) {
                ri += 32;
                while (*ri == ' ')
                    ri++;
                size_t k = strcspn(ri, "\r");
                snprintf(reqid, reqidsz, "%.*s", (int)k, ri);
            }
            int status = atoi(rbuf + 9);
            while (rlen < hl + n) {
                if (rcap < hl + n + 1) {
                    rcap = hl + n + 1;
                    rbuf = realloc(rbuf, rcap);
                }
                ssize_t r = recv(sock, rbuf + rlen, rcap - rlen, 0);
                if (r <= 0)
                    die("recv body");
                rlen += (size_t)r;
            }
            if (body) {
                *body = malloc(n + 1);
                memcpy(*body, rbuf + hl, n);
                (*body)[n] = 0;
                *blen = n;
            }
            memmove(rbuf, rbuf + hl + n, rlen - hl - n);
            rlen -= hl + n;
            return status;
        }
        if (rcap - rlen < 4096) {
            rcap = rcap ? rcap * 2 : 65536;
            rbuf = realloc(rbuf, rcap);
        }
        ssize_t r = recv(sock, rbuf + rlen, rcap - rlen - 1, 0);
        if (r <= 0)
            exit(0); /* the service went away */
        rlen += (size_t)r;
        rbuf[rlen] = 0;
    }
}

static void post(const char *path, const char *extra, const char *body, size_t n)
{
    char head[512];
    int k = snprintf(head, sizeof head,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n",
                     path, host, port, extra, n);
    send_all(head, (size_t)k);
    send_all(body, n);
    int st = read_response(NULL, NULL, NULL, 0);
    if (st != 202) {
        fprintf(stderr, "fixture: POST %s -> %d\n", path, st);
        exit(98);
    }
}

static void respond(const char *id, const char *body, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/response", id);
    post(path, "", body, n);
}

int main(void)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    const char *handler = getenv("_HANDLER");
    if (api == NULL || handler == NULL)
        return 97;
    snprintf(host, sizeof host, "%.*s", (int)strcspn(api, ":"), api);
    port = atoi(strchr(api, ':') + 1);
    connect_api();
    if (strcmp(handler, "initcrash") == 0)
        return 2;
    if (strcmp(handler, "initsleep") == 0) {
        sleep(60);
        return 3;
    }
    if (strcmp(handler, "initfail") == 0) {
        const char *b = "{\"errorType\":\"Runtime.BadConfig\",\"errorMessage\":\"init failed on purpose\"}";
        post("/2018-06-01/runtime/init/error", "Lambda-Runtime-Function-Error-Type: Runtime.BadConfig\r\n", b,
             strlen(b));
        return 1;
    }
    fprintf(stdout, "fixture started pid %d\n", (int)getpid());
    fflush(stdout);
    for (;;) {
        char req[256];
        snprintf(req, sizeof req, "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
                 host, port);
        send_all(req, strlen(req));
        char *ev = NULL, id[64] = "";
        size_t evlen = 0;
        int st = read_response(&ev, &evlen, id, sizeof id);
        if (st != 200)
            return 96;
        json_t *j = json_loadb(ev, evlen, 0, NULL);
        const char *op = json_string_value(json_object_get(j, "op"));
        if (op == NULL)
            op = handler;
        if (strcmp(op, "echo") == 0) {
            respond(id, ev, evlen);
        } else if (strcmp(op, "sleep") == 0) {
            long ms = (long)json_integer_value(json_object_get(j, "ms"));
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            respond(id, ev, evlen);
        } else if (strcmp(op, "fail") == 0) {
            char path[128];
            snprintf(path, sizeof path, "/2018-06-01/runtime/invocation/%s/error", id);
            const char *b = "{\"errorMessage\":\"no rooms\",\"errorType\":\"BookingFailed\",\"stackTrace\":[]}";
            post(path, "Lambda-Runtime-Function-Error-Type: Function.BookingFailed\r\n", b, strlen(b));
        } else if (strcmp(op, "exit") == 0) {
            exit((int)json_integer_value(json_object_get(j, "code")));
        } else if (strcmp(op, "crash") == 0) {
            raise(SIGKILL);
        } else if (strcmp(op, "env") == 0) {
            json_t *arr = json_array();
            for (char **e = environ; *e; e++)
                json_array_append_new(arr, json_string(*e));
            char cwd[4096];
            json_t *o = json_pack("{s:o,s:s}", "env", arr, "cwd", getcwd(cwd, sizeof cwd) ? cwd : "");
            char *s = json_dumps(o, JSON_COMPACT);
            respond(id, s, strlen(s));
            free(s);
            json_decref(o);
        } else if (strcmp(op, "forkchild") == 0) {
            pid_t c = fork();
            if (c == 0) {
                close(sock);
                sleep(60);
                _exit(0);
            }
            FILE *pf = fopen(json_string_value(json_object_get(j, "pidfile")), "w");
            if (pf) {
                fprintf(pf, "%d\n", (int)c);
                fclose(pf);
            }
            long ms = (long)json_integer_value(json_object_get(j, "ms"));
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
            respond(id, ev, evlen);
        } else if (strcmp(op, "spew") == 0) {
            size_t n = (size_t)json_integer_value(json_object_get(j, "bytes"));
            char line[100];
            memset(line, 'l', sizeof line - 1);
            line[sizeof line - 1] = '\n';
            for (size_t done = 0; done < n; done += sizeof line)
                if (fwrite(line, 1, sizeof line, stdout) != sizeof line)
                    break;
            fflush(stdout);
            respond(id, ev, evlen);
        } else if (strcmp(op, "say") == 0) {
            printf("%s\n", json_string_value(json_object_get(j, "text")));
            fflush(stdout);
            fprintf(stderr, "%s", json_string_value(json_object_get(j, "partial")));
            fflush(stderr);
            respond(id, ev, evlen);
        } else if (strcmp(op, "headers") == 0) {
            json_t *o = json_pack("{s:s}", "head", last_head);
            char *s = json_dumps(o, JSON_COMPACT);
            respond(id, s, strlen(s));
            free(s);
            json_decref(o);
        } else if (strcmp(op, "pid") == 0) {
            char b[64];
            int n = snprintf(b, sizeof b, "{\"pid\":%d}", (int)getpid());
            respond(id, b, (size_t)n);
        } else if (strcmp(op, "big") == 0) {
            size_t n = (size_t)json_integer_value(json_object_get(j, "bytes"));
            char *b = malloc(n + 2);
            b[0] = '"';
            memset(b + 1, 'x', n - 2);
            b[n - 1] = '"';
            respond(id, b, n);
            free(b);
        } else {
            respond(id, "null", 4);
        }
        json_decref(j);
        free(ev);
    }
}
