/*
 * run_fn.c - a Lambda function invoked outside any execution (run.h,
 * run_invoke_function): sfnd's TestState runs a Task's function this way.
 * The answer is read exactly as an execution's Task reads it
 * (run__lambda_answer, run__lambda_refusal in run.c).
 *
 * Must not: write to the store or touch an execution: nothing here is
 * durable, and the drain does not wait for it (run_free answers what is
 * still out).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "run_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct run_fn {
    run *r;
    run_fn_cb *cb;
    void *ud;
    struct run_fn *next;
} run_fn;

static void unlink_fn(run *r, run_fn *f)
{
    for (run_fn **p = &r->fns; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            return;
        }
    }
}

static void on_fn(void *ud, const lam_result *res)
{
    run_fn *f = ud;
    run *r = f->r;
    unlink_fn(r, f);
    const char *error = NULL, *cause = NULL, *text;
    json_t *out = run__lambda_answer(r, res, &error, &cause, &text);
    f->cb(f->ud, out, out ? NULL : error, out ? NULL : cause);
    json_decref(out);
    free(f);
}

void run_invoke_function(run *r, const char *function, const char *payload, run_fn_cb *cb, void *ud)
{
    run_fn *f = calloc(1, sizeof *f);
    if (f == NULL) {
        cb(ud, NULL, "Lambda.ServiceException", "out of memory");
        return;
    }
    *f = (run_fn){.r = r, .cb = cb, .ud = ud, .next = r->fns};
    r->fns = f;
    int rc = r->lam ? lam_invoke(r->lam, function, payload, strlen(payload), on_fn, f, NULL) : LAM_ENOTFOUND;
    if (rc == 0)
        return;
    unlink_fn(r, f);
    free(f);
    char error[64], cause[1024];
    run__lambda_refusal(r, function, rc, error, sizeof error, cause, sizeof cause);
    cb(ud, NULL, error, cause);
}

/* lam_free follows run_free without running the loop and drops what is
 * queued without calling back: nothing refers to these afterwards. */
void run__fn_cancel_all(run *r)
{
    while (r->fns) {
        run_fn *f = r->fns;
        r->fns = f->next;
        f->cb(f->ud, NULL, "Lambda.ServiceException", "sfnd is shutting down");
        free(f);
    }
}
