/*
 * sfnd_load.c - a load generator for sfnd that costs little: C keep-alive
 * connections on one epoll thread, each looping StartExecution then the
 * Sfnd.WaitExecution long poll until the execution ends. Latency is from
 * sending StartExecution to the terminal answer.
 *
 *   sfnd-load --port P --sm ARN --input TEMPLATE [--seconds 5] [--warmup 1]
 *             [--concurrency 16]
 *
 * TEMPLATE is the execution input as JSON text in which every "%TRIP%" is
 * replaced by a fresh UUID per execution (sfnd_bench.py passes it). After
 * the warm-up it prints "measure\n" and flushes (so a caller can sample
 * the CPU of the other processes from then on), then one JSON line:
 * {"n","seconds","exec_per_s","p50_ms","p99_ms","statuses":{..},"errors",
 *  "client_cpu_ms_per_exec"}.
 *
 * Must not: take more than a small share of the CPU it measures (one
 * thread, no per-request allocation, no JSON library).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAX_LAT (1 << 22)

enum { S_START, S_WAIT };

typedef struct conn {
    int fd;
    int state;
    int measured;      /* started during the measured window */
    int64_t t0;        /* StartExecution sent, ns */
    char arn[512];
    char in[BUF];
    size_t inlen;
} conn;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rng[2];
static uint64_t rnd(void)
{
    uint64_t s1 = rng[0];
    const uint64_t s0 = rng[1];
    rng[0] = s0;
    s1 ^= s1 << 23;
    rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng[1] + s0;
}

static void uuid(char out[37])
{
    uint64_t a = rnd(), b = rnd();
    a = (a & ~0xf000ull) | 0x4000ull;
    b = (b & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffull));
}

/* ---- requests ------------------------------------------------------------ */
static char start_pre[BUF], start_post[BUF]; /* body around the trip id */
static size_t npre, npost;
static int port;

/* JSON-escape s into out (as the inside of a string literal). */
static size_t escape(const char *s, char *out, size_t cap)
{
    size_t o = 0;
    for (; *s && o + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return o;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1; /* requests are small: the socket buffer takes them */
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int post(conn *c, const char *target, const char *body, size_t len)
{
    char req[BUF + 512];
    int h = snprintf(req, sizeof req,
                     "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/x-amz-json-1.0\r\n"
                     "X-Amz-Target: %s\r\nContent-Length: %zu\r\n\r\n",
                     port, target, len);
    if ((size_t)h + len > sizeof req)
        return -1;
    memcpy(req + h, body, len);
    return send_all(c->fd, req, (size_t)h + len);
}

static int send_start(conn *c)
{
    char body[BUF], id[37];
    uuid(id);
    if (npre + npost + 40 > sizeof body)
        return -1;
    memcpy(body, start_pre, npre);
    memcpy(body + npre, id, 36);
    memcpy(body + npre + 36, start_post, npost);
    c->state = S_START;
    return post(c, "AWSStepFunctions.StartExecution", body, npre + 36 + npost);
}

static int send_wait(conn *c)
{
    char body[700];
    int n = snprintf(body, sizeof body, "{\"executionArn\":\"%s\",\"timeoutSeconds\":30}", c->arn);
    c->state = S_WAIT;
    return post(c, "Sfnd.WaitExecution", body, (size_t)n);
}

/* The value of "key":"..." in body (no escapes in what we look for). */
static int str_field(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = memmem(body, len, pat, (size_t)pl);
    if (p == NULL)
        return -1;
    p += pl;
    const char *e = memchr(p, '"', len - (size_t)(p - body));
    if (e == NULL || (size_t)(e - p) >= cap)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    return 0;
}

/* ---- results --------------------------------------------------------------- */
static double *lat;
static size_t nlat;
static long errors;
static char stnames[8][24];
static long stcount[8];

static void count_status(const char *s)
{
    for (int i = 0; i < 8; i++) {
        if (stnames[i][0] == '\0') {
            snprintf(stnames[i], sizeof stnames[i], "%s", s);
            stcount[i] = 1;
            return;
        }
        if (!strcmp(stnames[i], s)) {
            stcount[i]++;
            return;
        }
    }
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the loop ------------------------------------------------------------------ */
static int64_t t_measure, t_end;

/* One complete response in c->in: act on it. Returns -1 to drop c. */
static int on_response(conn *c, int status, const char *body, size_t len)
{
    if (status != 200) {
        errors++;
        fprintf(stderr, "sfnd-load: HTTP %d: %.*s\n", status, (int)(len > 300 ? 300 : len), body);
        return -1;
    }
    if (c->state == S_START) {
        if (str_field(body, len, "executionArn", c->arn, sizeof c->arn) != 0) {
            errors++;
            return -1;
        }
        return send_wait(c);
    }
    char st[32];
    if (str_field(body, len, "status", st, sizeof st) != 0) {
        errors++;
        return -1;
    }
    if (!strcmp(st, "RUNNING"))
        return send_wait(c);
    int64_t t = now_ns();
    if (c->measured) {
        if (nlat < MAX_LAT)
            lat[nlat++] = (double)(t - c->t0) / 1e6;
        count_status(st);
    }
    if (t >= t_end)
        return 1; /* done */
    c->t0 = now_ns();
    c->measured = c->t0 >= t_measure;
    return send_start(c);
}

/* Parse what is buffered. Returns 0 (need more), 1 (finished), -1. */
static int on_data(conn *c)
{
    for (;;) {
        char *he = memmem(c->in, c->inlen, "\r\n\r\n", 4);
        if (he == NULL)
            return 0;
        size_t hl = (size_t)(he - c->in) + 4;
        int status = 0;
        if (sscanf(c->in, "HTTP/1.1 %d", &status) != 1)
            return -1;
        size_t cl = 0;
        for (char *p = c->in; p < he; p++) {
            if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) {
                cl = strtoul(p + 16, NULL, 10);
                break;
            }
        }
        if (hl + cl > sizeof c->in)
            return -1;
        if (c->inlen < hl + cl)
            return 0;
        char body[BUF];
        memcpy(body, c->in + hl, cl);
        body[cl] = '\0';
        memmove(c->in, c->in + hl + cl, c->inlen - hl - cl);
        c->inlen -= hl + cl;
        int rc = on_response(c, status, body, cl);
        if (rc != 0)
            return rc;
    }
}

static int connect_one(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int main(int argc, char **argv)
{
    double seconds = 5, warmup = 1;
    int conc = 16;
    const char *sm = NULL, *input = NULL;
    for (int i = 1; i < argc; i += 2) { /* --option value pairs */
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            goto usage;
        if (!strcmp(a, "--port"))
            port = atoi(v);
        else if (!strcmp(a, "--sm"))
            sm = v;
        else if (!strcmp(a, "--input"))
            input = v;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(a, "--concurrency"))
            conc = atoi(v);
        else
            goto usage;
    }
    if (port <= 0 || sm == NULL || input == NULL || conc <= 0)
        goto usage;
    if (getrandom(rng, sizeof rng, 0) != (ssize_t)sizeof rng)
        rng[0] = (uint64_t)now_ns(), rng[1] = 0x9e3779b97f4a7c15ull;

    /* {"stateMachineArn":SM,"input":"<escaped template>"} split at %TRIP% */
    char esc[BUF];
    escape(input, esc, sizeof esc);
    char *mark = strstr(esc, "%TRIP%");
    if (mark == NULL) {
        fprintf(stderr, "sfnd-load: --input has no %%TRIP%%\n");
        return 2;
    }
    *mark = '\0';
    npre = (size_t)snprintf(start_pre, sizeof start_pre, "{\"stateMachineArn\":\"%s\",\"input\":\"%s",
                            sm, esc);
    npost = (size_t)snprintf(start_post, sizeof start_post, "%s\"}", mark + 6);

    lat = malloc(sizeof *lat * MAX_LAT);
    conn *cs = calloc((size_t)conc, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (lat == NULL || cs == NULL || ep < 0)
        return 1;
    int64_t t_begin = now_ns();
    t_measure = t_begin + (int64_t)(warmup * 1e9);
    t_end = t_measure + (int64_t)(seconds * 1e9);
    int live = 0;
    for (int i = 0; i < conc; i++) {
        conn *c = &cs[i];
        c->fd = connect_one();
        if (c->fd < 0) {
            fprintf(stderr, "sfnd-load: cannot connect to 127.0.0.1:%d: %s\n", port, strerror(errno));
            return 1;
        }
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
        c->t0 = now_ns();
        if (send_start(c) != 0)
            return 1;
        live++;
    }
    int announced = 0;
    double cpu0 = 0;
    struct epoll_event evs[256];
    while (live > 0) {
        if (!announced && now_ns() >= t_measure) {
            announced = 1;
            cpu0 = cpu_s();
            fputs("measure\n", stdout);
            fflush(stdout);
        }
        int n = epoll_wait(ep, evs, 256, 100);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            ssize_t r = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
            int rc;
            if (r <= 0) {
                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                    continue;
                errors++;
                rc = -1;
            } else {
                c->inlen += (size_t)r;
                rc = on_data(c);
            }
            if (rc != 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                c->fd = -1;
                live--;
            }
        }
    }
    double cpu = cpu_s() - cpu0;
    double el = (double)(now_ns() - t_measure) / 1e9;
    qsort(lat, nlat, sizeof *lat, cmp_d);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)((double)nlat * 0.99)] : 0;
    printf("{\"client\":\"c\",\"n\":%zu,\"seconds\":%.2f,\"exec_per_s\":%.1f,\"p50_ms\":%.2f,"
           "\"p99_ms\":%.2f,\"errors\":%ld,\"client_cpu_ms_per_exec\":%.3f,\"statuses\":{",
           nlat, el, (double)nlat / el, p50, p99, errors, nlat ? cpu * 1000.0 / (double)nlat : 0.0);
    for (int i = 0; i < 8 && stnames[i][0]; i++)
        printf("%s\"%s\":%ld", i ? "," : "", stnames[i], stcount[i]);
    printf("}}\n");
    free(lat);
    free(cs);
    close(ep);
    return errors ? 1 : 0;
usage:
    fprintf(stderr, "usage: sfnd-load --port P --sm ARN --input TEMPLATE [--seconds 5] "
                    "[--warmup 1] [--concurrency 16]\n");
    return 2;
}
