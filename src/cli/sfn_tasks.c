/*
 * sfn_tasks.c - task resolution for `sfn run` (see sfn_tasks.h).
 */
#include "sfn_tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sfn_tasks {
    char *template_path;
};

sfn_tasks *sfn_tasks_create(const char *template_path)
{
    sfn_tasks *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->template_path = template_path ? strdup(template_path) : NULL;
    return t;
}

void sfn_tasks_free(sfn_tasks *t)
{
    if (t == NULL)
        return;
    free(t->template_path);
    free(t);
}

/* The function's full ARN, as AWS names it in its error. */
static void function_arn(const char *fn, char *buf, size_t len)
{
    if (strncmp(fn, "arn:", 4) == 0)
        snprintf(buf, len, "%s", fn);
    else
        snprintf(buf, len, "arn:aws:lambda:us-east-1:123456789012:function:%s", fn);
}

void sfn_tasks_invoke(sfn_tasks *t, const char *resource, const char *function, json_t *payload, int timeout_s,
                      sfn_task_result *r)
{
    (void)t;
    (void)payload;
    (void)timeout_s;
    memset(r, 0, sizeof *r);
    if (function == NULL) {
        r->error = strdup("States.Runtime");
        if (asprintf(&r->cause, "The resource '%s' is not supported by the local engine", resource) < 0)
            r->cause = NULL;
        return;
    }
    char arn[512];
    function_arn(function, arn, sizeof arn);
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
