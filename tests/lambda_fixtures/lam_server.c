/*
 * lam_server.c - a tiny server around src/lambda for end-to-end checks of
 * the Invoke API with real clients (`aws lambda invoke --endpoint-url`):
 *   lam_server BOOTSTRAP [PORT]
 * registers functions "echo" (handler echo), "fail" (fail) and "env" (env)
 * on BOOTSTRAP, serves POST /2015-03-31/functions/{name}/invocations on
 * 127.0.0.1:PORT (0 = any), prints "port N" and runs until SIGTERM/SIGINT.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ev.h"
#include "http.h"
#include "lam.h"

static lam *L;

static void route(http_req *req, void *ud)
{
    const char *p = http_req_path(req);
    static const char pre[] = "/2015-03-31/functions/";
    const char *suf = "/invocations";
    size_t n = strlen(p), sl = strlen(suf);
    if (strcmp(http_req_method(req), "POST") == 0 && strncmp(p, pre, sizeof pre - 1) == 0 &&
        n > sizeof pre - 1 + sl && strcmp(p + n - sl, suf) == 0) {
        char name[512];
        size_t k = n - sl - (sizeof pre - 1);
        if (k < sizeof name && memchr(p + sizeof pre - 1, '/', k) == NULL) {
            memcpy(name, p + sizeof pre - 1, k);
            name[k] = 0;
            lam_http_invoke(L, req, name);
            return;
        }
    }
    http_respond(req, 404, "Content-Type: application/json\r\n", "{\"message\":\"not found\"}", 23);
}

static void on_done(void *ud) { ev_stop(ud); }

static void on_signal(ev_loop *loop, int signo, void *ud)
{
    lam_shutdown(L, on_done, loop);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lam_server BOOTSTRAP [PORT]\n");
        return 2;
    }
    ev_loop *loop = ev_create();
    ev_signal_watch(loop, SIGTERM, on_signal, NULL);
    ev_signal_watch(loop, SIGINT, on_signal, NULL);
    lam_opts lo = {.max_procs = 4};
    L = lam_create(loop, &lo);
    const char *names[] = {"echo", "fail", "env"};
    for (int i = 0; i < 3; i++) {
        const char *env[] = {"FROM_TEMPLATE=yes", NULL};
        lam_function_def d = {.name = names[i], .bootstrap = argv[1], .handler = names[i], .env = env,
                              .timeout_s = 3};
        lam_function_add(L, &d);
    }
    http_server_opts so = {.port = argc > 2 ? atoi(argv[2]) : 0, .max_body = LAM_MAX_PAYLOAD + 1024 * 1024};
    int err = 0;
    http_server *srv = http_server_create(loop, &so, route, NULL, &err);
    if (srv == NULL) {
        fprintf(stderr, "listen: %d\n", err);
        return 1;
    }
    printf("port %d\n", http_server_port(srv));
    fflush(stdout);
    ev_run(loop);
    http_server_free(srv);
    lam_free(L);
    ev_free(loop);
    return 0;
}
