/*
 * api_ver.c - versions and aliases in the Step Functions API:
 * PublishStateMachineVersion, ListStateMachineVersions,
 * DeleteStateMachineVersion, Create/Describe/Update/Delete/
 * ListStateMachineAliases; and what the state machine and execution
 * operations ask of them (api_int.h: api__ver_*): a start on a version or
 * alias ARN, DescribeStateMachine of a version, the revision, DELETING,
 * the version and alias of an execution.
 *
 * A version is a snapshot (definition row, role, type, revision,
 * description) numbered 1, 2, ... per machine, never reused; publishing
 * again a revision the newest version already holds gives that version
 * back. An alias routes to one or two versions of its machine by weight.
 *
 * Must not: write except through the runner (run_ver.h), reply except
 * through api__reply_* (after the commit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"
#include "run_ver.h"

#include "jtext.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIAS_NAME_MAX 80
#define DESCRIPTION_MAX 256
#define ROUTES_MAX 2
#define ALIAS_NAME_PATTERN "^(?=.*[a-zA-Z_\\-\\.])[a-zA-Z0-9_\\-\\.]+$"

static void reply_store_err(call *c)
{
    api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
}

static int same_rev(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && !strcmp(a, b));
}

/* ---- publishing ------------------------------------------------------------------- */
/* Publish sm as it is now (this transaction's writes included): the newest
 * version when it holds the current revision, else a new one. 0 with
 * *version and *created_ms, or -1 after replying. */
int api__ver_publish(call *c, const run_sm *sm, const char *description, int64_t *version,
                     int64_t *created_ms)
{
    run *r = c->a->run;
    run_smx x;
    run_ver latest;
    if (run_smx_get(r, sm->arn, &x) != 0) {
        reply_store_err(c);
        return -1;
    }
    int rc = run_ver_latest(r, sm->arn, &latest);
    if (rc == 0 && same_rev(latest.revision_id, x.revision_id) && latest.def_id == sm->def_id) {
        *version = latest.version;
        *created_ms = latest.created_ms;
        run_ver_cleanup(&latest);
        run_smx_cleanup(&x);
        return 0;
    }
    if (rc == 0)
        run_ver_cleanup(&latest);
    run_smx_cleanup(&x);
    if (rc == RUN_EDB) {
        reply_store_err(c);
        return -1;
    }
    *created_ms = ev_wall_ms();
    if (run_ver_publish(r, sm, description, *created_ms, version) != 0) {
        api__reply_unavail(c);
        return -1;
    }
    return 0;
}

/* "publish" and "versionDescription" of Create/UpdateStateMachine. */
int api__ver_publish_members(call *c, const json_t *req, int *publish, const char **description)
{
    if (api__bool_member(c, req, "publish", 0, publish) ||
        api__str_member(c, req, "versionDescription", 0, DESCRIPTION_MAX, description))
        return -1;
    if (*description && !*publish) {
        CLIENT(c, "ValidationException",
               "Version description can only be set when publish is true");
        return -1;
    }
    return 0;
}

void api__op_publish_version(call *c, json_t *req)
{
    const char *arn, *rev, *desc;
    run_sm sm;
    if (api__str_member(c, req, "stateMachineArn", 1, 256, &arn) ||
        api__str_member(c, req, "revisionId", 0, 256, &rev) ||
        api__str_member(c, req, "description", 0, DESCRIPTION_MAX, &desc) ||
        api__find_sm(c, arn, &sm))
        return;
    if (rev) {
        run_smx x;
        if (run_smx_get(c->a->run, sm.arn, &x) != 0) {
            run_sm_cleanup(&sm);
            reply_store_err(c);
            return;
        }
        if (!same_rev(rev, x.revision_id)) {
            api__reply_err(c, 409, "ConflictException",
                           "Failed to publish the State Machine version for revision %s. The "
                           "current State Machine revision is %s.",
                           rev, x.revision_id ? x.revision_id : "null");
            run_smx_cleanup(&x);
            run_sm_cleanup(&sm);
            return;
        }
        run_smx_cleanup(&x);
    }
    int64_t v, created;
    if (api__ver_publish(c, &sm, desc, &v, &created) == 0) {
        json_t *o = json_pack("{s:o,s:o}", "stateMachineVersionArn",
                              json_sprintf("%s:%lld", sm.arn, (long long)v), "creationDate",
                              ts(created));
        api__reply_json(c, o);
    }
    run_sm_cleanup(&sm);
}

/* ---- versions --------------------------------------------------------------------- */
static int ver_list_cb(void *ctx, const run_ver *v)
{
    json_array_append_new(ctx, json_pack("{s:o,s:o}", "stateMachineVersionArn",
                                         json_sprintf("%s:%lld", v->sm_arn, (long long)v->version),
                                         "creationDate", ts(v->created_ms)));
    return 0;
}

void api__op_list_versions(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    long long below = 0;
    run_sm sm;
    if (api__str_member(c, req, "stateMachineArn", 1, 256, &arn) ||
        api__str_member(c, req, "nextToken", 0, 1024, &tok) ||
        api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        api__parse_token(c, tok, "V", &below) || api__find_sm(c, arn, &sm))
        return;
    int limit = max ? (int)max : LIST_DEFAULT;
    json_t *arr = json_array();
    int more = 0;
    /* the last version given is the one above the next page */
    int rc = run_ver_list(c->a->run, sm.arn, below, limit, ver_list_cb, arr, &more);
    run_sm_cleanup(&sm);
    if (rc != 0) {
        json_decref(arr);
        reply_store_err(c);
        return;
    }
    json_t *o = json_pack("{s:o}", "stateMachineVersions", arr);
    if (more && json_array_size(arr) > 0) {
        const char *last = json_string_value(
            json_object_get(json_array_get(arr, json_array_size(arr) - 1), "stateMachineVersionArn"));
        const char *n = last ? strrchr(last, ':') : NULL;
        if (n)
            json_object_set_new(o, "nextToken", json_sprintf("V%s", n + 1));
    }
    api__reply_json(c, o);
}

/* arn is a version ARN of an existing machine: 0 with *base (malloc'd)
 * and *va; else -1 after replying. */
static int version_arn(call *c, const char *arn, ver_arn *va, char **base)
{
    if (api__check_arn(c, arn, "stateMachine", NULL))
        return -1;
    if (ver_arn_parse(arn, va) != 0 || va->kind != VER_ARN_VERSION) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", arn);
        return -1;
    }
    *base = strndup(arn, va->base_len);
    if (*base == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return -1;
    }
    return 0;
}

void api__op_delete_version(call *c, json_t *req)
{
    const char *arn;
    ver_arn va;
    char *base = NULL;
    if (api__str_member(c, req, "stateMachineVersionArn", 1, 2000, &arn) ||
        version_arn(c, arn, &va, &base))
        return;
    char *alias = NULL;
    if (run_alias_routing_to(c->a->run, arn, &alias) != 0) {
        free(base);
        reply_store_err(c);
        return;
    }
    if (alias) {
        api__reply_err(c, 409, "ConflictException",
                       "Version to be deleted must not be referenced by an alias. Current list "
                       "of aliases referencing this version: [%s]",
                       alias);
        free(alias);
        free(base);
        return;
    }
    run_ver v;
    int rc = run_ver_get(c->a->run, base, va.version, &v);
    if (rc == 0) {
        run_ver_cleanup(&v);
        rc = run_ver_delete(c->a->run, base, va.version);
        free(base);
        if (rc != 0)
            api__reply_unavail(c);
        else
            api__reply_json(c, json_object());
        return;
    }
    free(base);
    if (rc == RUN_EDB)
        reply_store_err(c);
    else
        api__reply_json(c, json_object()); /* already gone: as AWS, no error */
}

/* ---- routing configurations ----------------------------------------------------------- */
typedef struct routes {
    int n;
    const char *arn[ROUTES_MAX];
    int weight[ROUTES_MAX];
    char *text;                 /* canonical JSON text (malloc'd) */
} routes;

/* "[a, b]" of the routes' ARNs or weights, for messages. */
static void list_text(const json_t *rc, int weights, char *out, size_t len)
{
    size_t i, off = 0;
    json_t *it;
    off += (size_t)snprintf(out + off, len - off, "[");
    json_array_foreach(rc, i, it) {
        json_t *v = json_object_get(it, weights ? "weight" : "stateMachineVersionArn");
        if (off < len)
            off += (size_t)(weights ? snprintf(out + off, len - off, "%s%lld", i ? ", " : "",
                                               (long long)json_integer_value(v))
                                    : snprintf(out + off, len - off, "%s%s", i ? ", " : "",
                                               json_is_string(v) ? json_string_value(v) : ""));
    }
    if (off < len)
        snprintf(out + off, len - off, "]");
}

/* The members of each route; weights in range. */
static int route_members(call *c, const json_t *rc)
{
    size_t i;
    json_t *it;
    json_array_foreach(rc, i, it) {
        json_t *arn = json_object_get(it, "stateMachineVersionArn");
        json_t *w = json_object_get(it, "weight");
        if (!json_is_object(it) || !json_is_string(arn) || !json_is_integer(w)) {
            CLIENT(c, "SerializationException",
                   "routingConfiguration.%zu: stateMachineVersionArn (string) and weight "
                   "(integer) are required",
                   i + 1);
            return -1;
        }
        json_int_t n = json_integer_value(w);
        if (n < 0 || n > 100) {
            CLIENT(c, "ValidationException",
                   "1 validation error detected: Value '%lld' at "
                   "'routingConfiguration.%zu.member.weight' failed to satisfy constraint: "
                   "Member must have value %s",
                   (long long)n, i + 1,
                   n < 0 ? "greater than or equal to 0" : "less than or equal to 100");
            return -1;
        }
    }
    return 0;
}

/* Check a routingConfiguration against the machine base_arn (NULL: the
 * first route's machine); fill *out. 0 or -1 after replying. */
static int parse_routes(call *c, const json_t *rc, const char *base_arn, routes *out)
{
    char msg[1024];
    memset(out, 0, sizeof *out);
    size_t n = json_array_size(rc);
    if (n < 1 || n > ROUTES_MAX) {
        jtext b = {0};
        size_t i;
        json_t *it;
        json_array_foreach(rc, i, it) {
            char item[600];
            snprintf(item, sizeof item,
                     "%sRoutingConfigurationListItem(stateMachineVersionArn=%s, weight=%lld)",
                     i ? ", " : "",
                     json_string_value(json_object_get(it, "stateMachineVersionArn"))
                         ? json_string_value(json_object_get(it, "stateMachineVersionArn"))
                         : "null",
                     (long long)json_integer_value(json_object_get(it, "weight")));
            jtext_raw(&b, item, strlen(item));
        }
        jtext_c(&b, '\0');
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '[%s]' at 'routingConfiguration' failed to "
               "satisfy constraint: Member must have length %s",
               b.p ? b.p : "", n < 1 ? "greater than or equal to 1" : "less than or equal to 2");
        jtext_cleanup(&b);
        return -1;
    }
    if (route_members(c, rc) != 0)
        return -1;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(rc, i);
        out->arn[i] = json_string_value(json_object_get(it, "stateMachineVersionArn"));
        out->weight[i] = (int)json_integer_value(json_object_get(it, "weight"));
        sum += out->weight[i];
    }
    out->n = (int)n;
    ver_arn va[ROUTES_MAX];
    for (int i = 0; i < out->n; i++) {
        if (ver_arn_parse(out->arn[i], &va[i]) != 0 || va[i].kind != VER_ARN_VERSION) {
            list_text(rc, 0, msg, sizeof msg);
            CLIENT(c, "ValidationException",
                   "Routing configuration must contain state machine version ARNs. Received: %s",
                   msg);
            return -1;
        }
    }
    if (out->n == 2 && !strcmp(out->arn[0], out->arn[1])) {
        list_text(rc, 0, msg, sizeof msg);
        CLIENT(c, "ValidationException",
               "Routing configuration must contain distinct state machine version ARNs. "
               "Received: %s",
               msg);
        return -1;
    }
    if (sum != 100) {
        list_text(rc, 1, msg, sizeof msg);
        CLIENT(c, "ValidationException",
               "Sum of routing configuration weights must equal 100. Received: %s", msg);
        return -1;
    }
    const char *b0 = base_arn ? base_arn : out->arn[0];
    size_t bl = base_arn ? strlen(base_arn) : va[0].base_len;
    for (int i = 0; i < out->n; i++) {
        if (va[i].base_len != bl || strncmp(out->arn[i], b0, bl) != 0) {
            list_text(rc, 0, msg, sizeof msg);
            CLIENT(c, "ValidationException",
                   "Routing configuration must contain state machine versions of the same "
                   "state machine. Received: %s",
                   msg);
            return -1;
        }
    }
    /* each version must exist */
    char base[512];
    snprintf(base, sizeof base, "%.*s", (int)bl, b0);
    for (int i = 0; i < out->n; i++) {
        run_ver v;
        int rc2 = run_ver_get(c->a->run, base, va[i].version, &v);
        if (rc2 == 0) {
            run_ver_cleanup(&v);
            continue;
        }
        if (rc2 == RUN_EDB)
            reply_store_err(c);
        else
            CLIENT(c, "ResourceNotFound", "Resource not found: '%s'", out->arn[i]);
        return -1;
    }
    jtext t = {0};
    jtext_c(&t, '[');
    for (int i = 0; i < out->n; i++) {
        if (i)
            jtext_c(&t, ',');
        jtext_lit(&t, "{\"stateMachineVersionArn\":");
        jtext_cstr(&t, out->arn[i]);
        jtext_lit(&t, ",\"weight\":");
        jtext_int(&t, out->weight[i]);
        jtext_c(&t, '}');
    }
    jtext_c(&t, ']');
    out->text = jtext_take(&t);
    if (out->text == NULL) {
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        return -1;
    }
    return 0;
}

/* ---- aliases ---------------------------------------------------------------------- */
static int alias_name(call *c, const char *name)
{
    if (strlen(name) > ALIAS_NAME_MAX) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: "
               "Member must have length less than or equal to 80",
               name);
        return -1;
    }
    if (!ver_alias_name_valid(name)) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'name' failed to satisfy constraint: "
               "Member must satisfy regular expression pattern: " ALIAS_NAME_PATTERN,
               name);
        return -1;
    }
    return 0;
}

void api__op_create_alias(call *c, json_t *req)
{
    const char *name, *desc;
    json_t *rc;
    if (api__str_member(c, req, "name", 1, 0, &name) ||
        api__str_member(c, req, "description", 0, DESCRIPTION_MAX, &desc) ||
        api__member(c, req, "routingConfiguration", T_ARR, 1, &rc) || alias_name(c, name))
        return;
    routes rt;
    if (parse_routes(c, rc, NULL, &rt) != 0)
        return;
    ver_arn va;
    ver_arn_parse(rt.arn[0], &va);
    char *base = strndup(rt.arn[0], va.base_len);
    char *arn = NULL;
    run_sm sm;
    if (base == NULL || asprintf(&arn, "%s:%s", base, name) < 0) {
        arn = NULL;
        api__reply_err(c, 500, "InternalFailure", "out of memory");
        goto out;
    }
    if (api__find_sm(c, base, &sm))
        goto out;
    run_sm_cleanup(&sm);
    run_alias old;
    int r = run_alias_get(c->a->run, arn, &old);
    if (r == 0) {
        int same = !strcmp(old.routing, rt.text) && same_rev(old.description, desc);
        if (same)
            api__reply_json(c, json_pack("{s:s,s:o}", "stateMachineAliasArn", arn,
                                         "creationDate", ts(old.created_ms)));
        else
            api__reply_err(c, 409, "ConflictException",
                           "Failed to create alias because an alias with the same name and a "
                           "different routing configuration already exists.");
        run_alias_cleanup(&old);
        goto out;
    }
    if (r == RUN_EDB) {
        reply_store_err(c);
        goto out;
    }
    int64_t now = ev_wall_ms();
    run_alias a = {.arn = arn, .sm_arn = base, .name = (char *)name, .description = (char *)desc,
                   .routing = rt.text, .created_ms = now, .updated_ms = now};
    if (run_alias_put(c->a->run, &a) != 0)
        api__reply_unavail(c);
    else
        api__reply_json(c, json_pack("{s:s,s:o}", "stateMachineAliasArn", arn, "creationDate",
                                     ts(now)));
out:
    free(rt.text);
    free(base);
    free(arn);
}

/* An alias ARN that names an alias: 0 with *a, or -1 after replying. */
static int find_alias(call *c, const char *arn, run_alias *a)
{
    ver_arn va;
    if (api__check_arn(c, arn, "stateMachine", NULL))
        return -1;
    if (ver_arn_parse(arn, &va) != 0 || va.kind != VER_ARN_ALIAS) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", arn);
        return -1;
    }
    int rc = run_alias_get(c->a->run, arn, a);
    if (rc == 0)
        return 0;
    if (rc == RUN_EDB)
        reply_store_err(c);
    else
        CLIENT(c, "ResourceNotFound", "Resource not found: '%s'", arn);
    return -1;
}

void api__op_describe_alias(call *c, json_t *req)
{
    const char *arn;
    run_alias a;
    if (api__str_member(c, req, "stateMachineAliasArn", 1, 256, &arn) || find_alias(c, arn, &a))
        return;
    json_error_t je;
    json_t *routing = json_loads(a.routing, 0, &je);
    json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:o}", "stateMachineAliasArn", a.arn, "name", a.name,
                          "routingConfiguration", routing ? routing : json_array(),
                          "creationDate", ts(a.created_ms), "updateDate", ts(a.updated_ms));
    if (a.description)
        json_object_set_new(o, "description", json_string(a.description));
    run_alias_cleanup(&a);
    api__reply_json(c, o);
}

void api__op_update_alias(call *c, json_t *req)
{
    const char *arn, *desc;
    json_t *rc;
    if (api__str_member(c, req, "stateMachineAliasArn", 1, 256, &arn) ||
        api__str_member(c, req, "description", 0, DESCRIPTION_MAX, &desc) ||
        api__member(c, req, "routingConfiguration", T_ARR, 0, &rc))
        return;
    if (desc == NULL && rc == NULL) {
        CLIENT(c, "ValidationException",
               "Either the description or the RoutingConfiguration must be specified");
        return;
    }
    run_alias a;
    if (find_alias(c, arn, &a))
        return;
    routes rt = {0};
    if (rc && parse_routes(c, rc, a.sm_arn, &rt) != 0) {
        run_alias_cleanup(&a);
        return;
    }
    int64_t now = ev_wall_ms();
    if (desc) {
        free(a.description);
        a.description = strdup(desc);
    }
    if (rt.text) {
        free(a.routing);
        a.routing = rt.text;
        rt.text = NULL;
    }
    a.updated_ms = now;
    if (run_alias_put(c->a->run, &a) != 0)
        api__reply_unavail(c);
    else
        api__reply_json(c, json_pack("{s:o}", "updateDate", ts(now)));
    run_alias_cleanup(&a);
}

void api__op_delete_alias(call *c, json_t *req)
{
    const char *arn;
    ver_arn va;
    if (api__str_member(c, req, "stateMachineAliasArn", 1, 256, &arn) ||
        api__check_arn(c, arn, "stateMachine", NULL))
        return;
    if (ver_arn_parse(arn, &va) != 0 || va.kind != VER_ARN_ALIAS) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Resource type not valid in this context: %s'", arn);
        return;
    }
    run_alias a;
    int rc = run_alias_get(c->a->run, arn, &a);
    if (rc == 0) {
        run_alias_cleanup(&a);
        if (run_alias_delete(c->a->run, arn) != 0) {
            api__reply_unavail(c);
            return;
        }
    } else if (rc == RUN_EDB) {
        reply_store_err(c);
        return;
    }
    api__reply_json(c, json_object());
}

static int alias_list_cb(void *ctx, const run_alias *a)
{
    json_array_append_new(ctx, json_pack("{s:s,s:o}", "stateMachineAliasArn", a->arn,
                                         "creationDate", ts(a->created_ms)));
    return 0;
}

void api__op_list_aliases(call *c, json_t *req)
{
    const char *arn, *tok;
    long max;
    run_sm sm;
    if (api__str_member(c, req, "stateMachineArn", 1, 256, &arn) ||
        api__str_member(c, req, "nextToken", 0, 1024, &tok) ||
        api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max))
        return;
    /* the token is "AL:" and the last name given (names hold no ':') */
    if (tok && (strncmp(tok, "AL:", 3) != 0 || !ver_alias_name_valid(tok + 3))) {
        CLIENT(c, "InvalidToken", "Invalid Token: 'Invalid token'");
        return;
    }
    if (api__find_sm(c, arn, &sm))
        return;
    json_t *arr = json_array();
    int more = 0;
    int rc = run_alias_list(c->a->run, sm.arn, tok ? tok + 3 : NULL,
                            max ? (int)max : LIST_DEFAULT, alias_list_cb, arr, &more);
    run_sm_cleanup(&sm);
    if (rc != 0) {
        json_decref(arr);
        reply_store_err(c);
        return;
    }
    json_t *o = json_pack("{s:o}", "stateMachineAliases", arr);
    if (more && json_array_size(arr) > 0) {
        const char *last = json_string_value(json_object_get(
            json_array_get(arr, json_array_size(arr) - 1), "stateMachineAliasArn"));
        const char *n = last ? strrchr(last, ':') : NULL;
        if (n)
            json_object_set_new(o, "nextToken", json_sprintf("AL:%s", n + 1));
    }
    api__reply_json(c, o);
}
