/*
 * sfn_tasks.c - task resolution for `sfn run` (see sfn_tasks.h).
 *
 * With --template, the SAM template's functions run as their built
 * bootstraps behind the local Runtime API (src/lambda), on an event loop
 * that this file drives until each invocation completes: `sfn run` is
 * sequential, so one loop turn per result is all it needs.
 */
#include "sfn_tasks.h"

#include "asl.h"
#include "asl_json.h"
#include "ev.h"
#include "lam.h"
#include "tpl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sfn_tasks {
    char *template_path;
    tpl *tpl;
    ev_loop *loop;
    lam *lam;
    char store_dir[PATH_MAX];
    void **abandoned;  /* waits whose task timed out first: freed here if
                          lam_free drops their callbacks */
    size_t nabandoned;
};

/* <dir of this executable> for finding out/bin/functions/<LogicalId>/bootstrap */
static void exe_dir(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        snprintf(buf, len, ".");
        return;
    }
    buf[n] = 0;
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = 0;
}

sfn_tasks *sfn_tasks_create(const char *template_path)
{
    sfn_tasks *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    if (template_path == NULL)
        return t;
    t->template_path = strdup(template_path);
    char bin[PATH_MAX], err[512];
    exe_dir(bin, sizeof bin);
    const char *data = getenv("SFN_DATA");
    snprintf(t->store_dir, sizeof t->store_dir, "%s/tables", data ? data : ".sfn");
    mkdir(data ? data : ".sfn", 0755);
    mkdir(t->store_dir, 0755);
    /* absolute: a function runs in its own directory (LAMBDA_TASK_ROOT) */
    char abs[PATH_MAX];
    if (realpath(t->store_dir, abs) != NULL)
        snprintf(t->store_dir, sizeof t->store_dir, "%s", abs);
    /* the account the functions' ARNs are in (default 123456789012, as sfnd) */
    const char *account = getenv("SFN_ACCOUNT");
    tpl_opts o = {.bin_dir = bin, .store_dir = t->store_dir, .account = account};
    if (tpl_load(template_path, &o, &t->tpl, err, sizeof err) != 0) {
        fprintf(stderr, "sfn: %s: %s\n", template_path, err);
        sfn_tasks_free(t);
        return NULL;
    }
    t->loop = ev_create();
    lam_opts lo = {.max_procs = 2, .account = account};
    t->lam = t->loop ? lam_create(t->loop, &lo) : NULL;
    if (t->lam == NULL) {
        sfn_tasks_free(t);
        return NULL;
    }
    for (size_t i = 0; i < tpl_function_count(t->tpl); i++) {
        const tpl_function *f = tpl_function_at(t->tpl, i);
        if (f->bootstrap == NULL) {
            fprintf(stderr, "sfn: function %s has no built bootstrap (run make first)\n", f->logical_id);
            continue;
        }
        lam_function_def d = {.name = f->name, .bootstrap = f->bootstrap, .handler = f->handler,
                              .env = f->env, .timeout_s = f->timeout_s, .memory_mb = f->memory_mb};
        lam_function_add(t->lam, &d);
    }
    return t;
}

typedef struct wait_result {
    int done;
    int abandoned;     /* the task timed out first */
    sfn_task_result *r;
} wait_result;

void sfn_tasks_free(sfn_tasks *t)
{
    if (t == NULL)
        return;
    lam_free(t->lam); /* kills what still runs; their callbacks are dropped */
    for (size_t i = 0; i < t->nabandoned; i++)
        free(t->abandoned[i]);
    free(t->abandoned);
    ev_free(t->loop);
    tpl_free(t->tpl);
    free(t->template_path);
    free(t);
}

/* Replace ${Key} placeholders (DefinitionSubstitutions) in a definition
 * file's text: from the template's state machine loaded from the same file,
 * else by convention (${<LogicalId>Arn} -> the function's ARN,
 * ${<LogicalId>} -> its name), else with a placeholder Lambda ARN so that
 * the definition can be validated on its own. Returns malloc'd text. */
char *sfn_tasks_substitute(const sfn_tasks *t, const char *text)
{
    size_t cap = strlen(text) * 2 + 256, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (const char *p = text; *p;) {
        const char *end = NULL;
        if (p[0] == '$' && p[1] == '{' && (end = strchr(p + 2, '}')) != NULL && end - p < 200 &&
            end > p + 2 && strspn(p + 2, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.") ==
                               (size_t)(end - p - 2)) {
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(end - p - 2), p + 2);
            char val[1024];
            val[0] = 0;
            for (size_t i = 0; t && t->tpl && i < tpl_function_count(t->tpl); i++) {
                const tpl_function *f = tpl_function_at(t->tpl, i);
                size_t ll = strlen(f->logical_id);
                if (strncmp(key, f->logical_id, ll) == 0 && strcmp(key + ll, "Arn") == 0)
                    snprintf(val, sizeof val, "%s", f->arn);
                else if (strcmp(key, f->logical_id) == 0)
                    snprintf(val, sizeof val, "%s", f->name);
            }
            if (val[0] == 0) {
                size_t kl = strlen(key);
                if (kl > 3 && strcmp(key + kl - 3, "Arn") == 0)
                    key[kl - 3] = 0;
                snprintf(val, sizeof val, "arn:aws:lambda:us-east-1:123456789012:function:%s", key);
            }
            size_t vl = strlen(val);
            if (n + vl + 1 >= cap) {
                cap = (n + vl + 1) * 2;
                char *no = realloc(out, cap);
                if (no == NULL) {
                    free(out);
                    return NULL;
                }
                out = no;
            }
            memcpy(out + n, val, vl);
            n += vl;
            p = end + 1;
            continue;
        }
        if (n + 2 >= cap) {
            cap *= 2;
            char *no = realloc(out, cap);
            if (no == NULL) {
                free(out);
                return NULL;
            }
            out = no;
        }
        out[n++] = *p++;
    }
    out[n] = 0;
    return out;
}

/* The function's full ARN, as AWS names it in its error. */
/* AWS names the version it looked for: an unqualified ARN gets :$LATEST. */
static void function_arn(const char *fn, char *buf, size_t len)
{
    const char *account = getenv("SFN_ACCOUNT");
    if (strncmp(fn, "arn:", 4) == 0)
        snprintf(buf, len, "%s", fn);
    else
        snprintf(buf, len, "arn:aws:lambda:us-east-1:%s:function:%s", account ? account : "123456789012", fn);
    int colons = 0;
    for (const char *p = buf; *p; p++)
        colons += *p == ':';
    if (colons == 6 && strlen(buf) + 9 < len)
        strcat(buf, ":$LATEST");
}


static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_result(void *ud, const lam_result *res)
{
    wait_result *w = ud;
    if (w->abandoned)
        return; /* the late result of a timed-out task: dropped (freed at the end) */
    sfn_task_result *r = w->r;
    w->done = 1;
    char err[256];
    if (res->status == LAM_OK) {
        r->result = asl_json_parse(res->body ? res->body : "null", res->len, err, sizeof err);
        if (r->result == NULL)
            r->result = json_stringn(res->body ? res->body : "", res->len);
        return;
    }
    /* Step Functions: Error is the errorType, Cause the error body. */
    r->error = strdup(res->error_type ? res->error_type : "Lambda.Unknown");
    r->cause = strndup(res->body ? res->body : "", res->len);
}

void sfn_tasks_invoke(sfn_tasks *t, const char *resource, const char *function, json_t *payload, int timeout_s,
                      sfn_task_result *r)
{
    memset(r, 0, sizeof *r);
    if (function == NULL) {
        r->error = strdup("States.Runtime");
        if (asprintf(&r->cause, "The resource '%s' is not supported by the local engine", resource) < 0)
            r->cause = NULL;
        return;
    }
    char arn[512];
    function_arn(function, arn, sizeof arn);
    if (t->lam && lam_function_find(t->lam, function) != NULL) {
        char *text = asl_json_text(payload);
        wait_result *w = calloc(1, sizeof *w);
        if (w == NULL) {
            free(text);
            r->error = strdup("Lambda.ServiceException");
            return;
        }
        w->r = r;
        char reqid[40];
        int64_t start = mono_ms();
        int rc = lam_invoke(t->lam, function, text, strlen(text), on_result, w, reqid);
        free(text);
        if (rc == LAM_ETOOLARGE) {
            free(w);
            r->error = strdup("Lambda.RequestTooLargeException");
            r->cause = strdup("Request must be smaller than 6291456 bytes for the InvokeFunction operation");
            return;
        }
        if (rc == 0) {
            /* wait for the result, but no longer than the state's
             * TimeoutSeconds: then the core's own timer decides */
            while (!w->done) {
                int64_t left = timeout_s > 0 ? (int64_t)timeout_s * 1000 - (mono_ms() - start) : 1000;
                if (left <= 0)
                    break;
                ev_run_once(t->loop, left > 1000 ? 1000 : (int)left);
            }
            r->elapsed_ms = mono_ms() - start;
            if (!w->done) {
                w->abandoned = 1; /* its late result is dropped */
                void **na = realloc(t->abandoned, (t->nabandoned + 1) * sizeof *na);
                if (na) {
                    t->abandoned = na;
                    t->abandoned[t->nabandoned++] = w;
                }
                r->timed_out = 1;
                return;
            }
            free(w);
            return;
        }
        free(w);
    }
    r->error = strdup("Lambda.ResourceNotFoundException");
    if (asprintf(&r->cause,
                 "Function not found: %s (Service: AWSLambda; Status Code: 404; Error Code: "
                 "ResourceNotFoundException; Request ID: 00000000-0000-0000-0000-000000000000; Proxy: null)",
                 arn) < 0)
        r->cause = NULL;
}

void sfn_task_result_cleanup(sfn_task_result *r)
{
    json_decref(r->result);
    free(r->error);
    free(r->cause);
    memset(r, 0, sizeof *r);
}
