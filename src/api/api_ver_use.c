/*
 * api_ver_use.c - what the state machine and execution operations ask of
 * versions and aliases (api_int.h, api__ver_*): the machine a start runs
 * (a version's snapshot, an alias's pick), DescribeStateMachine of a
 * version ARN, a machine's revisionId and DELETING status, and the
 * version and alias ARNs of an execution in DescribeExecution and
 * ListExecutions (and ListExecutions of a version or alias ARN).
 *
 * Must not: write (the operations do, through the runner).
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

static int not_found(call *c, const char *arn)
{
    CLIENT(c, "StateMachineDoesNotExist", "State Machine Does Not Exist: '%s'", arn);
    return -1;
}

static int read_failed(call *c)
{
    api__reply_err(c, 500, "InternalFailure", "store: %s", run_store_errmsg(c->a->run));
    return -1;
}

/* sm becomes version `version` of itself: its definition, role, type. */
static int as_version(call *c, run_sm *sm, int64_t version, const char *shown_arn)
{
    run_ver v;
    int rc = run_ver_get(c->a->run, sm->arn, version, &v);
    if (rc != 0) {
        run_sm_cleanup(sm);
        return rc == RUN_EDB ? read_failed(c) : not_found(c, shown_arn);
    }
    sm->def_id = v.def_id;
    sm->type = v.type;
    free(sm->role_arn);
    sm->role_arn = v.role_arn;
    v.role_arn = NULL;
    run_ver_cleanup(&v);
    return 0;
}

/* An alias's route, picked by weight: *version and *version_arn (malloc'd). */
static int pick_route(call *c, const char *alias_arn, int64_t *version, char **version_arn)
{
    run_alias a;
    int rc = run_alias_get(c->a->run, alias_arn, &a);
    if (rc != 0)
        return rc == RUN_EDB ? read_failed(c) : not_found(c, alias_arn);
    json_error_t je;
    json_t *routes = json_loads(a.routing, 0, &je);
    run_alias_cleanup(&a);
    int n = (int)json_array_size(routes);
    int w[2] = {0, 0};
    for (int i = 0; i < n && i < 2; i++)
        w[i] = (int)json_integer_value(json_object_get(json_array_get(routes, (size_t)i), "weight"));
    int k = run_ver_pick(c->a->run, w, n > 2 ? 2 : n);
    const char *varn = k >= 0 ? json_string_value(json_object_get(
                                    json_array_get(routes, (size_t)k), "stateMachineVersionArn"))
                              : NULL;
    ver_arn va;
    if (varn == NULL || ver_arn_parse(varn, &va) != 0 || va.kind != VER_ARN_VERSION ||
        (*version_arn = strdup(varn)) == NULL) {
        json_decref(routes);
        return not_found(c, alias_arn);
    }
    *version = va.version;
    json_decref(routes);
    return 0;
}

int api__ver_sm_for_start(call *c, const char *arn, run_sm *sm)
{
    char **version_arn = &c->ver_arn, **alias_arn = &c->alias_arn;
    free(*version_arn);
    free(*alias_arn);
    *version_arn = *alias_arn = NULL;
    if (api__check_arn(c, arn, "stateMachine", NULL) != 0)
        return -1;
    ver_arn va;
    if (ver_arn_parse(arn, &va) != 0)
        return not_found(c, arn);
    char *base = strndup(arn, va.base_len);
    if (base == NULL)
        return read_failed(c);
    int rc = run_sm_get(c->a->run, base, sm);
    free(base);
    if (rc == 0 && sm->deleted)
        run_sm_cleanup(sm);
    if (rc != 0 || sm->arn == NULL)
        return rc == RUN_EDB ? read_failed(c) : not_found(c, arn);
    run_smx x;
    if (run_smx_get(c->a->run, sm->arn, &x) != 0) {
        run_sm_cleanup(sm);
        return read_failed(c);
    }
    int deleting = x.deleting;
    run_smx_cleanup(&x);
    if (deleting) {
        run_sm_cleanup(sm);
        CLIENT(c, "StateMachineDeleting", "State Machine is being deleted: '%s'", arn);
        return -1;
    }
    if (va.kind == VER_ARN_MACHINE)
        return 0;
    if (va.kind == VER_ARN_VERSION) {
        if (as_version(c, sm, va.version, arn) != 0)
            return -1;
        if ((*version_arn = strdup(arn)) == NULL) {
            run_sm_cleanup(sm);
            return read_failed(c);
        }
        return 0;
    }
    int64_t v;
    if (pick_route(c, arn, &v, version_arn) != 0) {
        run_sm_cleanup(sm);
        return -1;
    }
    if (as_version(c, sm, v, *version_arn) != 0)
        return -1;
    if ((*alias_arn = strdup(arn)) == NULL) {
        run_sm_cleanup(sm);
        return read_failed(c);
    }
    return 0;
}

static json_t *logging_off(void)
{
    return json_pack("{s:s,s:b}", "level", "OFF", "includeExecutionData", 0);
}

int api__ver_describe(call *c, const char *arn)
{
    ver_arn va;
    if (strncmp(arn, "arn:", 4) != 0 || ver_arn_parse(arn, &va) != 0 ||
        va.kind != VER_ARN_VERSION)
        return 0;
    if (api__check_arn(c, arn, "stateMachine", NULL) != 0)
        return 1;
    char *base = strndup(arn, va.base_len);
    run_sm sm;
    int rc = base ? run_sm_get(c->a->run, base, &sm) : RUN_ENOMEM;
    free(base);
    if (rc != 0 || sm.deleted) {
        if (rc == 0)
            run_sm_cleanup(&sm);
        not_found(c, arn);
        return 1;
    }
    run_ver v;
    rc = run_ver_get(c->a->run, sm.arn, va.version, &v);
    if (rc != 0) {
        run_sm_cleanup(&sm);
        if (rc == RUN_EDB)
            read_failed(c);
        else
            not_found(c, arn);
        return 1;
    }
    char *def = NULL;
    int type = 0;
    run_sm_definition(c->a->run, v.def_id, &def, &type);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:o}", "stateMachineArn", arn,
                          "name", sm.name, "status", "ACTIVE", "definition", def ? def : "{}",
                          "roleArn", v.role_arn ? v.role_arn : "", "type",
                          v.type ? "EXPRESS" : "STANDARD", "creationDate", ts(v.created_ms),
                          "loggingConfiguration", logging_off(), "tracingConfiguration",
                          json_pack("{s:b}", "enabled", 0));
    if (v.revision_id)
        json_object_set_new(o, "revisionId", json_string(v.revision_id));
    if (v.description)
        json_object_set_new(o, "description", json_string(v.description));
    api__ver_variable_refs(o, def);
    free(def);
    run_ver_cleanup(&v);
    run_sm_cleanup(&sm);
    api__reply_json(c, o);
    return 1;
}

void api__ver_sm_keys(call *c, const char *sm_arn, json_t *o)
{
    run_smx x;
    if (run_smx_get(c->a->run, sm_arn, &x) != 0)
        return;
    if (x.revision_id)
        json_object_set_new(o, "revisionId", json_string(x.revision_id));
    if (x.deleting)
        json_object_set_new(o, "status", json_string("DELETING"));
    run_smx_cleanup(&x);
}

void api__ver_for_exec_keys(call *c, int64_t def_id, json_t *o)
{
    char *rev = NULL, *role = NULL;
    json_object_del(o, "revisionId");
    if (run_defrev_get(c->a->run, def_id, &rev, &role) == 0) {
        if (rev)
            json_object_set_new(o, "revisionId", json_string(rev));
        if (role)
            json_object_set_new(o, "roleArn", json_string(role));
    }
    free(rev);
    free(role);
}

/* ---- executions --------------------------------------------------------------------- */
char *api__ver_exec_text(call *c, int64_t exec_id, char *text)
{
    char *va = NULL, *aa = NULL;
    size_t n = text ? strlen(text) : 0;
    if (n < 2 || text[n - 1] != '}' || run_execver_get(c->a->run, exec_id, &va, &aa) != 0)
        return text;
    jtext b = {0};
    jtext_raw(&b, text, n - 1);
    if (va) {
        jtext_lit(&b, ",\"stateMachineVersionArn\":");
        jtext_cstr(&b, va);
    }
    if (aa) {
        jtext_lit(&b, ",\"stateMachineAliasArn\":");
        jtext_cstr(&b, aa);
    }
    jtext_c(&b, '}');
    char *out = jtext_take(&b);
    free(va);
    free(aa);
    if (out == NULL)
        return text;
    free(text);
    return out;
}

int api__ver_exec_keys(call *c, int64_t exec_id, json_t *o, const char *filter)
{
    char *va = NULL, *aa = NULL;
    int rc = run_execver_get(c->a->run, exec_id, &va, &aa);
    int match = filter == NULL || (va && !strcmp(va, filter)) || (aa && !strcmp(aa, filter));
    if (rc == 0 && o && match) {
        if (va)
            json_object_set_new(o, "stateMachineVersionArn", json_string(va));
        if (aa)
            json_object_set_new(o, "stateMachineAliasArn", json_string(aa));
    }
    free(va);
    free(aa);
    return match;
}

int api__ver_list_target(const char *arn, char **base)
{
    ver_arn va;
    *base = NULL;
    if (ver_arn_parse(arn, &va) != 0 || va.kind == VER_ARN_MACHINE)
        return 0;
    *base = strndup(arn, va.base_len);
    return *base != NULL;
}
