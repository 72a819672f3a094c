/*
 * api_act.c - activities: CreateActivity, DescribeActivity, ListActivities,
 * DeleteActivity, GetActivityTask (the long poll; the runner's run_act_*
 * keeps the rows, the queues and the waiting workers). SendTask* with an
 * activity's token are api_exec.c's, as for .waitForTaskToken.
 *
 * Tags: CreateActivity's are checked and kept as CreateStateMachine's
 * (api_meta.c: the tag store by resource ARN, written in the same
 * transaction as the activity); DeleteActivity forgets them.
 *
 * Threading: the loop's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"
#include "run_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jtext.h"

static int act_arn(call *c, const json_t *req, const char **arn)
{
    return api__str_member(c, req, "activityArn", 1, 256, arn) ||
           api__check_arn(c, *arn, "activity", NULL);
}

static int find_act(call *c, const char *arn, run_act *a)
{
    int rc = run_act_get(c->a->run, arn, a);
    if (rc == 0)
        return 0;
    if (rc == RUN_ENOENT)
        CLIENT(c, "ActivityDoesNotExist", "Activity Does Not Exist: '%s'", arn);
    else
        api__reply_err(c, 500, "InternalFailure", "%s", run_store_errmsg(c->a->run));
    return -1;
}

/* InvalidName, with the name as it came (a NUL included). */
static void invalid_name(call *c, const char *name, size_t len)
{
    jtext b = {0};
    jtext_lit(&b, "{\"__type\":\"InvalidName\",\"message\":");
    char *msg = malloc(len + 20);
    if (msg) {
        memcpy(msg, "Invalid Name: '", 15);
        memcpy(msg + 15, name, len);
        memcpy(msg + 15 + len, "'", 1);
        jtext_str(&b, msg, len + 16);
        free(msg);
    } else {
        jtext_cstr(&b, "Invalid Name");
    }
    jtext_c(&b, '}');
    char *text = jtext_take(&b);
    if (text == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    api__reply_text(c, 400, text);
}

void api__op_create_activity(call *c, json_t *req)
{
    json_t *nv, *tags, *enc;
    if (api__member(c, req, "name", T_STR, 1, &nv) || api__member(c, req, "tags", T_ARR, 0, &tags) ||
        api__member(c, req, "encryptionConfiguration", T_OBJ, 0, &enc) || api__tags_req(c, req))
        return;
    const char *name = json_string_value(nv);
    size_t len = json_string_length(nv);
    if (len == 0 || len > 80 || strlen(name) != len || !run_name_valid(name)) {
        invalid_name(c, name, len);
        return;
    }
    char *arn = NULL;
    int64_t created = 0;
    int fresh = 0;
    int rc = run_act_create(c->a->run, name, &arn, &created, &fresh);
    if (rc == 0 && fresh && api__tags_save(c, arn, req) != 0)
        rc = RUN_EUNAVAIL; /* the transaction is rolled back: no activity either */
    if (rc == RUN_EUNAVAIL) {
        api__reply_unavail(c);
    } else if (rc == RUN_EINVAL) {
        CLIENT(c, "InvalidName", "Invalid Name: '%s'", name);
    } else if (rc != 0) {
        api__reply_err(c, 500, "InternalFailure", "cannot create the activity");
    } else {
        api__reply_json(c, json_pack("{s:s,s:o}", "activityArn", arn, "creationDate",
                                     ts(created)));
    }
    free(arn);
}

void api__op_describe_activity(call *c, json_t *req)
{
    const char *arn;
    run_act a;
    if (act_arn(c, req, &arn) || find_act(c, arn, &a))
        return;
    api__reply_json(c, json_pack("{s:s,s:s,s:o,s:{s:s}}", "activityArn", a.arn, "name", a.name,
                                 "creationDate", ts(a.created_ms), "encryptionConfiguration",
                                 "type", "AWS_OWNED_KEY"));
    run_act_cleanup(&a);
}

static int list_cb(void *ctx, const run_act *a)
{
    json_array_append_new(ctx, json_pack("{s:s,s:s,s:o}", "activityArn", a->arn, "name", a->name,
                                         "creationDate", ts(a->created_ms)));
    return 0;
}

void api__op_list_activities(call *c, json_t *req)
{
    long max;
    const char *tok;
    long long skip = 0;
    if (api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        api__str_member(c, req, "nextToken", 0, 1024, &tok) ||
        api__parse_token(c, tok, "ACT", &skip))
        return;
    long limit = max ? max : LIST_DEFAULT;
    json_t *arr = json_array();
    int more = 0;
    if (run_act_list(c->a->run, (long)skip, limit, list_cb, arr, &more) != 0) {
        json_decref(arr);
        api__reply_err(c, 500, "InternalFailure", "%s", run_store_errmsg(c->a->run));
        return;
    }
    json_t *o = json_pack("{s:o}", "activities", arr);
    if (more)
        json_object_set_new(o, "nextToken", json_sprintf("ACT%ld", (long)skip + limit));
    api__reply_json(c, o);
}

void api__op_delete_activity(call *c, json_t *req)
{
    const char *arn;
    if (act_arn(c, req, &arn))
        return;
    int rc = run_act_delete(c->a->run, arn);
    if (rc == 0 && run_meta_forget(c->a->run, arn) != 0)
        rc = RUN_EUNAVAIL;
    if (rc == RUN_EUNAVAIL)
        api__reply_unavail(c);
    else if (rc != 0)
        api__reply_err(c, 500, "InternalFailure", "%s", run_store_errmsg(c->a->run));
    else
        api__reply_json(c, json_object());
}

/* ---- GetActivityTask ---------------------------------------------------------- */
typedef struct act_poll {
    call *c;
    run_act_poll *p;
} act_poll;

static void on_task(void *ud, int rc, const char *token, const char *input)
{
    act_poll *ap = ud;
    call *c = ap->c;
    if (c->req)
        http_req_set_cancel(c->req, NULL, NULL);
    free(ap);
    if (rc == RUN_EUNAVAIL)
        api__reply_unavail(c);
    else if (rc != 0)
        api__reply_err(c, 503, "ServiceUnavailable", "The service is shutting down");
    else if (token == NULL)
        api__reply_json(c, json_object()); /* none came within the poll */
    else
        api__reply_json(c, json_pack("{s:s,s:s}", "taskToken", token, "input", input));
}

/* The worker closed its connection: it takes nothing. */
static void on_gone(http_req *req, void *ud)
{
    (void)req;
    act_poll *ap = ud;
    call *c = ap->c;
    run_act_poll_cancel(ap->p);
    free(ap);
    api__reply_json(c, json_object()); /* frees the call; the reply goes nowhere */
}

void api__op_get_activity_task(call *c, json_t *req)
{
    const char *arn, *worker;
    run_act a;
    if (act_arn(c, req, &arn) || api__str_member(c, req, "workerName", 0, 80, &worker) ||
        find_act(c, arn, &a))
        return;
    run_act_cleanup(&a);
    if (run_act_pollers(c->a->run, arn) >= 1000) {
        CLIENT(c, "ActivityWorkerLimitExceeded",
               "Activity Worker Limit Exceeded: 'at most 1000 workers may poll an activity'");
        return;
    }
    act_poll *ap = calloc(1, sizeof *ap);
    if (ap == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    ap->c = c;
    ap->p = run_act_poll_start(c->a->run, arn, worker, on_task, ap);
    if (ap->p == NULL) {
        free(ap);
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    if (c->req) {
        http_req_set_cancel(c->req, on_gone, ap);
        if (http_req_cancelled(c->req))
            on_gone(c->req, ap); /* gone already: take nothing */
    }
}
