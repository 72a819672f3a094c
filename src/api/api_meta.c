/*
 * api_meta.c - tags (TagResource, UntagResource, ListTagsForResource and
 * CreateStateMachine's `tags`) and a state machine's logging, tracing and
 * encryption configurations as CreateStateMachine, UpdateStateMachine and
 * DescribeStateMachine take and answer them (api_sm.c calls the
 * api__sm_* helpers here). The checks themselves are api_meta_check.c's.
 *
 * Tags are kept by resource ARN (run_meta.h); a resource exists when
 * run_resource_exists says so (state machines today; a version or alias
 * ARN is not a taggable resource: ResourceNotFound, as AWS answers).
 *
 * Must not: write except through the runner; reply except through
 * api__reply_* (after the commit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"
#include "api_meta_check.h"
#include "jtext.h"
#include "run_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESOURCE_ARN 256

static void reply_meta_err(call *c, const meta_err *e)
{
    if (!strcmp(e->type, "TooManyTags")) {
        jtext b = {0};
        jtext_lit(&b, "{\"__type\":\"TooManyTags\",\"message\":");
        jtext_cstr(&b, e->msg);
        jtext_c(&b, '}');
        char *text = jtext_take(&b);
        api__reply_text(c, 400, text ? text : strdup("{\"__type\":\"TooManyTags\"}"));
        return;
    }
    api__reply_err(c, !strcmp(e->type, "InternalFailure") ? 500 : 400, e->type, "%s", e->msg);
}

/* The resource ARN of a tag operation: checked, and existing. */
static int resource_member(call *c, const json_t *req, const char **arn)
{
    if (api__str_member(c, req, "resourceArn", 1, MAX_RESOURCE_ARN, arn) ||
        api__check_arn(c, *arn, "stateMachine", "activity"))
        return -1;
    int rc = run_resource_exists(c->a->run, *arn);
    if (rc == RUN_ENOENT) {
        CLIENT(c, "ResourceNotFound", "Resource not found: '%s'", *arn);
        return -1;
    }
    if (rc != 0) {
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return -1;
    }
    return 0;
}

static int collect_tag(void *ctx, const char *key, const char *value)
{
    return json_object_set_new(ctx, key, json_string(value)) == 0 ? 0 : 1;
}

/* The tags of arn as an object key -> value (NULL after replying). */
static json_t *tags_of(call *c, const char *arn)
{
    json_t *have = json_object();
    if (have == NULL || run_tags_each(c->a->run, arn, collect_tag, have) != 0) {
        json_decref(have);
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return NULL;
    }
    return have;
}

/* tags (checked) as run_tag pointers into the JSON (borrowed). */
static run_tag *tag_array(const json_t *tags, size_t *n)
{
    *n = json_array_size(tags);
    run_tag *t = calloc(*n ? *n : 1, sizeof *t);
    for (size_t i = 0; t && i < *n; i++) {
        const json_t *o = json_array_get(tags, i);
        t[i].key = json_string_value(json_object_get(o, "key"));
        const char *v = json_string_value(json_object_get(o, "value"));
        t[i].value = v ? v : "";
    }
    return t;
}

/* Check tags (at `where`) against the resource's tags `have` (NULL:
 * none), then store them. 0, or -1 after replying. */
static int put_tags(call *c, const char *arn, const json_t *tags, const json_t *have)
{
    meta_err e;
    if (meta_check_tags(tags, "tags", &e) || meta_check_tag_count(have, tags, arn, &e)) {
        reply_meta_err(c, &e);
        return -1;
    }
    size_t n;
    run_tag *t = tag_array(tags, &n);
    if (t == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return -1;
    }
    int rc = n ? run_tags_put(c->a->run, arn, t, n) : 0;
    free(t);
    if (rc != 0) {
        api__reply_unavail(c);
        return -1;
    }
    return 0;
}

/* ---- TagResource, UntagResource, ListTagsForResource ---------------------------- */
void api__op_tag_resource(call *c, json_t *req)
{
    const char *arn;
    json_t *tags;
    if (api__member(c, req, "tags", T_ARR, 1, &tags) || resource_member(c, req, &arn))
        return;
    json_t *have = tags_of(c, arn);
    if (have == NULL)
        return;
    int rc = put_tags(c, arn, tags, have);
    json_decref(have);
    if (rc == 0)
        api__reply_json(c, json_object());
}

void api__op_untag_resource(call *c, json_t *req)
{
    const char *arn;
    json_t *keys;
    meta_err e;
    if (api__member(c, req, "tagKeys", T_ARR, 1, &keys))
        return;
    if (meta_check_tag_keys(keys, &e) != 0) {
        reply_meta_err(c, &e);
        return;
    }
    if (resource_member(c, req, &arn))
        return;
    size_t n = json_array_size(keys);
    const char **k = calloc(n ? n : 1, sizeof *k);
    if (k == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        k[i] = json_string_value(json_array_get(keys, i));
    int rc = n ? run_tags_remove(c->a->run, arn, k, n) : 0;
    free(k);
    if (rc != 0)
        api__reply_unavail(c);
    else
        api__reply_json(c, json_object());
}

static int list_tag(void *ctx, const char *key, const char *value)
{
    return json_array_append_new(ctx, json_pack("{s:s,s:s}", "key", key, "value", value)) ? 1
                                                                                          : 0;
}

void api__op_list_tags(call *c, json_t *req)
{
    const char *arn;
    if (resource_member(c, req, &arn))
        return;
    json_t *arr = json_array();
    if (arr == NULL || run_tags_each(c->a->run, arn, list_tag, arr) != 0) {
        json_decref(arr);
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return;
    }
    api__reply_json(c, json_pack("{s:o}", "tags", arr));
}

/* ---- a state machine's configurations (api_sm.c) --------------------------------- */
/* One configuration member: absent keeps *text; else checked and its
 * answer's text replaces it. */
static int conf_member(call *c, const json_t *req, const char *name,
                       int (*check)(const json_t *, json_t **, meta_err *), char **text)
{
    json_t *v = json_object_get(req, name), *o;
    meta_err e;
    if (v == NULL || json_is_null(v))
        return 0;
    if (check(v, &o, &e) != 0) {
        reply_meta_err(c, &e);
        return -1;
    }
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (t == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return -1;
    }
    free(*text);
    *text = t;
    return 0;
}

int api__sm_conf_req(call *c, const json_t *req, const char *base_arn, run_sm_conf *out)
{
    memset(out, 0, sizeof *out);
    if (base_arn && run_sm_conf_get(c->a->run, base_arn, out) == RUN_EDB) {
        api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
        return -1;
    }
    if (conf_member(c, req, "loggingConfiguration", meta_logging, &out->logging) ||
        conf_member(c, req, "tracingConfiguration", meta_tracing, &out->tracing) ||
        conf_member(c, req, "encryptionConfiguration", meta_encryption, &out->encryption)) {
        run_sm_conf_cleanup(out);
        return -1;
    }
    return 0;
}

int api__tags_req(call *c, const json_t *req)
{
    const json_t *tags = json_object_get(req, "tags");
    meta_err e;
    if (tags == NULL || json_is_null(tags))
        return 0;
    if (meta_check_tags(tags, "tags", &e) || meta_check_tag_count(NULL, tags, "", &e)) {
        reply_meta_err(c, &e);
        return -1;
    }
    return 0;
}

int api__sm_meta_save(call *c, const char *arn, const run_sm_conf *conf, const json_t *req,
                      int fresh)
{
    if (fresh && run_meta_forget(c->a->run, arn) != 0)
        return RUN_EUNAVAIL;
    if (run_sm_conf_put(c->a->run, arn, conf) != 0)
        return RUN_EUNAVAIL;
    return api__tags_save(c, arn, req);
}

int api__tags_save(call *c, const char *arn, const json_t *req)
{
    const json_t *tags = req ? json_object_get(req, "tags") : NULL;
    size_t n;
    run_tag *t = json_is_array(tags) && json_array_size(tags) ? tag_array(tags, &n) : NULL;
    if (t == NULL)
        return 0;
    int rc = run_tags_put(c->a->run, arn, t, n);
    free(t);
    return rc;
}

static json_t *conf_json(const char *text, json_t *(*dflt)(void))
{
    json_t *o = text ? json_loads(text, 0, NULL) : NULL;
    return o ? o : dflt();
}

void api__sm_conf_describe(call *c, const char *arn, json_t *o)
{
    run_sm_conf conf;
    run_sm_conf_get(c->a->run, arn, &conf); /* none stored: the defaults */
    json_object_set_new(o, "loggingConfiguration",
                        conf_json(conf.logging, meta_logging_default));
    json_object_set_new(o, "tracingConfiguration", conf_json(conf.tracing, meta_tracing_default));
    json_object_set_new(o, "encryptionConfiguration",
                        conf_json(conf.encryption, meta_encryption_default));
    run_sm_conf_cleanup(&conf);
}

/* ---- the template's Logging and Tracing (api.h) --------------------------------- */
/* SAM's PascalCase keys as the API's camelCase ones, at every level. */
static json_t *camel(const json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            char key[128];
            snprintf(key, sizeof key, "%s", k);
            if (key[0] >= 'A' && key[0] <= 'Z')
                key[0] = (char)(key[0] - 'A' + 'a');
            json_object_set_new(o, key, camel(x));
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            json_array_append_new(a, camel(x));
        return a;
    }
    return json_deep_copy(v);
}

/* The checked answer of one template configuration as text (NULL: absent). */
static int template_conf(const json_t *in, int (*check)(const json_t *, json_t **, meta_err *),
                         const char *what, char **text, char *err, size_t errlen)
{
    *text = NULL;
    if (in == NULL)
        return 0;
    json_t *c = camel(in), *o = NULL;
    meta_err e;
    int rc = check(c, &o, &e);
    json_decref(c);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s: %s", what, e.type, e.msg);
        return -EINVAL;
    }
    *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return *text ? 0 : -ENOMEM;
}

static int same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && !strcmp(a, b));
}

int api_sm_template_conf(api *a, const char *arn, const json_t *logging, const json_t *tracing,
                         char *err, size_t errlen)
{
    run_sm_conf old, conf = {0};
    int rc = template_conf(logging, meta_logging, "Logging", &conf.logging, err, errlen);
    if (rc == 0)
        rc = template_conf(tracing, meta_tracing, "Tracing", &conf.tracing, err, errlen);
    if (rc != 0) {
        run_sm_conf_cleanup(&conf);
        return rc;
    }
    int have = run_sm_conf_get(a->run, arn, &old) == 0;
    conf.encryption = have && old.encryption ? strdup(old.encryption) : NULL;
    if (!have || !same_text(old.logging, conf.logging) || !same_text(old.tracing, conf.tracing))
        if (run_sm_conf_put(a->run, arn, &conf) != 0) {
            snprintf(err, errlen, "store: the write failed");
            rc = -EAGAIN;
        }
    if (have)
        run_sm_conf_cleanup(&old);
    run_sm_conf_cleanup(&conf);
    return rc;
}
