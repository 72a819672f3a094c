/*
 * api_sm.c - the state machine operations of the Step Functions API:
 * CreateStateMachine, DescribeStateMachine, ListStateMachines,
 * UpdateStateMachine, DeleteStateMachine, DescribeStateMachineForExecution,
 * ValidateStateMachineDefinition, and api_sm_from_template (the template's
 * state machines at start-up).
 *
 * A definition is compile-checked (asl_machine_compile_text) before it is
 * saved; CreateStateMachine with the request of an existing one is
 * idempotent, as on AWS.
 *
 * Must not: write a state machine except through the runner (run_sm_save),
 * reply except through api__reply_* (after the commit).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "arn.h"
#include "api_int.h"
#include "run_ver.h"
#include "run_meta.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEFINITION 1048576

/* ---- compiling off the loop ---------------------------------------------------
 * A definition above ASYNC_MIN bytes (1 MB compiles in about 100 ms) is
 * compiled on the API's worker thread (ev_work) while the loop serves
 * everyone else; when it is done the op runs again from the start with the
 * result in c->pre (the request is parsed again: cheap; nothing before the
 * compile has side effects). The compiled machine goes to the runner's
 * cache with the definition's id, so the first execution does not compile
 * it on the loop either. */
#define ASYNC_MIN 65536

struct precompiled {
    call *c;
    json_t *req;               /* the request, for the second run */
    void (*op)(call *c, json_t *req);
    const char *text;          /* the definition (inside req) */
    int type;
    int rc;
    asl_machine *m;
    asl_diags d;
};

static void pre_work(void *ud)
{
    precompiled *p = ud;
    memset(&p->d, 0, sizeof p->d);
    p->rc = asl_machine_compile_text(p->text, strlen(p->text), p->type, &p->m, &p->d);
}

static void pre_done(void *ud, int cancelled)
{
    precompiled *p = ud;
    if (!cancelled) {
        p->c->pre = p;
        p->op(p->c, p->req); /* the op answers; c may be gone after */
    }
    asl_machine_free(p->m);
    json_decref(p->req);
    free(p);
}

/* Compile text: 0 with *m (may be NULL: not wanted), SFN_EINVAL with d
 * filled, or 1 when the compile went to the worker and op runs again
 * later (the caller returns at once, having changed nothing). */
static int compile_def(call *c, json_t *req, void (*op)(call *, json_t *), const char *text,
                       int type, asl_machine **m, asl_diags *d)
{
    precompiled *p = c->pre;
    if (p && p->text == text && p->type == type) {
        *d = p->d;
        if (m) {
            *m = p->m;
            p->m = NULL;
        }
        return p->rc;
    }
    size_t len = strlen(text);
    if (len >= ASYNC_MIN && c->a->work && (p = calloc(1, sizeof *p)) != NULL) {
        *p = (precompiled){.c = c, .req = json_incref(req), .op = op, .text = text, .type = type};
        if (ev_work_submit(c->a->work, pre_work, pre_done, p) == 0)
            return 1;
        json_decref(req);
        free(p);
    }
    memset(d, 0, sizeof *d);
    asl_machine *mm = NULL;
    int rc = asl_machine_compile_text(text, len, type, &mm, d);
    if (m)
        *m = mm;
    else
        asl_machine_free(mm);
    return rc;
}

/* Compile-check a definition; replies InvalidDefinition (-1), or 1 when
 * the op runs again after an off-loop compile. *m (may be NULL) gets the
 * compiled machine. */
static int check_definition(call *c, json_t *req, void (*op)(call *, json_t *), const char *text,
                            int type, asl_machine **m)
{
    asl_diags d;
    int rc = compile_def(c, req, op, text, type, m, &d);
    if (rc == 1)
        return 1;
    if (rc != SFN_OK) {
        char cause[2048];
        asl_diags_cause_text(&d, text, cause, sizeof cause);
        CLIENT(c, "InvalidDefinition", "%s", cause);
        return -1;
    }
    return 0;
}

static int type_member(call *c, const json_t *req, int *type)
{
    const char *t;
    *type = 0;
    if (api__str_member(c, req, "type", 0, 0, &t) != 0)
        return -1;
    if (t == NULL || !strcmp(t, "STANDARD"))
        return 0;
    if (!strcmp(t, "EXPRESS")) {
        *type = 1;
        return 0;
    }
    CLIENT(c, "ValidationException",
           "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: "
           "Member must satisfy enum value set: [STANDARD, EXPRESS]",
           t);
    return -1;
}

/* ---- state machines ---------------------------------------------------------------- */
void api__op_create_sm(call *c, json_t *req)
{
    api *a = c->a;
    const char *name, *def, *role, *vdesc;
    int type, publish;
    if (api__str_member(c, req, "name", 1, 0, &name) ||
        api__str_member(c, req, "definition", 1, MAX_DEFINITION, &def) ||
        api__str_member(c, req, "roleArn", 1, 256, &role) || type_member(c, req, &type) ||
        api__ver_publish_members(c, req, &publish, &vdesc))
        return;
    json_t *v;
    if (api__member(c, req, "loggingConfiguration", T_OBJ, 0, &v) ||
        api__member(c, req, "tracingConfiguration", T_OBJ, 0, &v) ||
        api__member(c, req, "encryptionConfiguration", T_OBJ, 0, &v) ||
        api__member(c, req, "tags", T_ARR, 0, &v))
        return;
    if (!run_name_valid(name)) {
        CLIENT(c, "InvalidName", "Invalid Name: '%s'", name);
        return;
    }
    if (strncmp(role, "arn:", 4) != 0) {
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: %s'", role);
        return;
    }
    run_sm_conf conf;
    if (api__tags_req(c, req) || api__sm_conf_req(c, req, NULL, &conf))
        return;
    asl_machine *m = NULL;
    if (check_definition(c, req, api__op_create_sm, def, type, &m) != 0) {
        run_sm_conf_cleanup(&conf);
        return;
    }
    char arn[512]; /* name <= 80 characters; region and account are sfnd's */
    sfn_arn_states(arn, sizeof arn, a->region, a->account, "stateMachine", name);
    run_sm old;
    if (run_sm_get(a->run, arn, &old) == 0) {
        int same = 0;
        if (!old.deleted) {
            char *odef = NULL;
            int otype;
            if (run_sm_definition(a->run, old.def_id, &odef, &otype) == 0)
                same = !strcmp(odef, def) && otype == type && old.role_arn &&
                       !strcmp(old.role_arn, role);
            free(odef);
            if (!same) {
                run_sm_cleanup(&old);
                asl_machine_free(m);
                run_sm_conf_cleanup(&conf);
                CLIENT(c, "StateMachineAlreadyExists", "State Machine Already Exists: '%s'", arn);
                return;
            }
            /* identical request: idempotent, as on AWS */
            asl_machine_free(m);
            run_sm_conf_cleanup(&conf);
            json_t *o = json_pack("{s:s,s:o}", "stateMachineArn", arn, "creationDate",
                                  ts(old.created_ms));
            int64_t pv, pvms;
            if (publish && api__ver_publish(c, &old, vdesc, &pv, &pvms) != 0) {
                json_decref(o);
                run_sm_cleanup(&old);
                return;
            }
            if (publish)
                json_object_set_new(o, "stateMachineVersionArn",
                                    json_sprintf("%s:%lld", arn, (long long)pv));
            api__reply_json(c, o);
            run_sm_cleanup(&old);
            return;
        }
        run_sm_cleanup(&old);
    }
    int64_t now = ev_wall_ms();
    run_sm sm = {.arn = arn, .name = (char *)name, .role_arn = (char *)role, .type = type,
                   .created_ms = now, .updated_ms = now};
    int rc = run_sm_save_rev(a->run, &sm, def, 0, NULL) || api__sm_meta_save(c, arn, &conf, req, 1);
    run_sm_conf_cleanup(&conf);
    if (rc != 0) {
        asl_machine_free(m);
        api__reply_unavail(c);
        return;
    }
    run_machine_adopt(a->run, sm.def_id, m);
    json_t *o = json_pack("{s:s,s:o}", "stateMachineArn", arn, "creationDate", ts(now));
    int64_t pv, pvms;
    if (publish && api__ver_publish(c, &sm, vdesc, &pv, &pvms) != 0) {
        json_decref(o);
        return;
    }
    if (publish)
        json_object_set_new(o, "stateMachineVersionArn",
                            json_sprintf("%s:%lld", arn, (long long)pv));
    api__reply_json(c, o);
}

void api__op_describe_sm(call *c, json_t *req)
{
    const char *arn;
    run_sm sm;
    if (api__str_member(c, req, "stateMachineArn", 1, 2048, &arn) || api__ver_describe(c, arn) ||
        api__find_sm(c, arn, &sm))
        return;
    char *def = NULL;
    int type = 0;
    run_sm_definition(c->a->run, sm.def_id, &def, &type);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "stateMachineArn", sm.arn, "name",
                          sm.name, "status", "ACTIVE", "definition", def ? def : "{}", "roleArn",
                          sm.role_arn ? sm.role_arn : "", "type",
                          sm.type ? "EXPRESS" : "STANDARD", "creationDate", ts(sm.created_ms));
    if (o) {
        api__sm_conf_describe(c, sm.arn, o);
        api__ver_sm_keys(c, sm.arn, o);
        api__ver_variable_refs(o, def);
    }
    free(def);
    run_sm_cleanup(&sm);
    api__reply_json(c, o);
}

static int sm_list_cb(void *ctx, const run_sm *sm)
{
    json_t *arr = ctx;
    json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o}", "stateMachineArn", sm->arn, "name",
                                         sm->name, "type", sm->type ? "EXPRESS" : "STANDARD",
                                         "creationDate", ts(sm->created_ms)));
    return 0;
}

void api__op_list_sms(call *c, json_t *req)
{
    long max;
    const char *tok;
    long long skip = 0;
    if (api__int_member(c, req, "maxResults", 0, LIST_MAX, 0, &max) ||
        api__str_member(c, req, "nextToken", 0, 1024, &tok) ||
        api__parse_token(c, tok, "SM", &skip))
        return;
    long limit = max ? max : LIST_DEFAULT;
    json_t *arr = json_array();
    int more = 0;
    run_sm_list(c->a->run, (long)skip, limit, sm_list_cb, arr, &more);
    json_t *o = json_pack("{s:o}", "stateMachines", arr);
    if (more)
        json_object_set_new(o, "nextToken", json_sprintf("SM%ld", (long)skip + limit));
    api__reply_json(c, o);
}

void api__op_update_sm(call *c, json_t *req)
{
    api *a = c->a;
    const char *arn, *def, *role, *vdesc;
    json_t *logc, *trc, *encc;
    run_sm sm;
    int publish;
    if (api__str_member(c, req, "stateMachineArn", 1, 2048, &arn) ||
        api__str_member(c, req, "definition", 0, MAX_DEFINITION, &def) ||
        api__str_member(c, req, "roleArn", 0, 256, &role) ||
        api__member(c, req, "loggingConfiguration", T_OBJ, 0, &logc) ||
        api__member(c, req, "tracingConfiguration", T_OBJ, 0, &trc) ||
        api__member(c, req, "encryptionConfiguration", T_OBJ, 0, &encc) ||
        api__ver_publish_members(c, req, &publish, &vdesc))
        return;
    if (!def && !role && !logc && !trc && !encc) {
        CLIENT(c, "MissingRequiredParameter",
               "Either the definition, the role ARN, the LoggingConfiguration, or the "
               "TracingConfiguration must be specified");
        return;
    }
    if (api__find_sm(c, arn, &sm))
        return;
    if (role && strncmp(role, "arn:", 4) != 0) {
        run_sm_cleanup(&sm);
        CLIENT(c, "InvalidArn", "Invalid Arn: 'Invalid ARN prefix: %s'", role);
        return;
    }
    run_sm_conf conf;
    if (api__sm_conf_req(c, req, arn, &conf) != 0) {
        run_sm_cleanup(&sm);
        return;
    }
    asl_machine *m = NULL;
    if (def && check_definition(c, req, api__op_update_sm, def, sm.type, &m) != 0) {
        run_sm_cleanup(&sm);
        run_sm_conf_cleanup(&conf);
        return;
    }
    int64_t now = ev_wall_ms();
    /* a new revision when the definition or the role changes (AWS: an
     * update that changes neither keeps the revision) */
    if (def) {
        char *odef = NULL;
        int otype;
        if (run_sm_definition(a->run, sm.def_id, &odef, &otype) == 0 && !strcmp(odef, def))
            def = NULL;
        free(odef);
        if (def == NULL) {
            asl_machine_free(m);
            m = NULL;
        }
    }
    int changed = def != NULL || (role && (!sm.role_arn || strcmp(role, sm.role_arn)));
    if (role) {
        free(sm.role_arn);
        sm.role_arn = strdup(role);
    }
    sm.updated_ms = now;
    int rc = run_sm_save_rev(a->run, &sm, def, changed, NULL);
    if (rc == 0 && (logc || trc || encc))
        rc = api__sm_meta_save(c, arn, &conf, NULL, 0);
    run_sm_conf_cleanup(&conf);
    if (rc != 0)
        goto fail;
    if (def)
        run_machine_adopt(a->run, sm.def_id, m);
    m = NULL;
    json_t *o = json_pack("{s:o}", "updateDate", ts(now));
    api__ver_sm_keys(c, sm.arn, o);
    json_object_del(o, "status");
    int64_t pv, pvms;
    if (publish && api__ver_publish(c, &sm, vdesc, &pv, &pvms) != 0) {
        json_decref(o);
        run_sm_cleanup(&sm);
        return;
    }
    if (publish)
        json_object_set_new(o, "stateMachineVersionArn",
                            json_sprintf("%s:%lld", sm.arn, (long long)pv));
    run_sm_cleanup(&sm);
    api__reply_json(c, o);
    return;
fail:
    asl_machine_free(m);
    run_sm_cleanup(&sm);
    api__reply_unavail(c);
}

void api__op_delete_sm(call *c, json_t *req)
{
    const char *arn;
    if (api__str_member(c, req, "stateMachineArn", 1, 2048, &arn) ||
        api__check_arn(c, arn, "stateMachine", NULL))
        return;
    run_sm sm;
    int rc = 0, deleting;
    if (run_sm_get(c->a->run, arn, &sm) == 0) {
        /* with executions running: DELETING until they end (run_ver.c) */
        if (!sm.deleted)
            rc = run_sm_delete(c->a->run, &sm, &deleting);
        run_sm_cleanup(&sm);
    }
    if (rc != 0)
        api__reply_unavail(c);
    else
        api__reply_json(c, json_object());
}

void api__op_validate(call *c, json_t *req)
{
    const char *def, *sev;
    long max;
    int type;
    if (api__str_member(c, req, "definition", 1, MAX_DEFINITION, &def) ||
        type_member(c, req, &type) ||
        api__str_member(c, req, "severity", 0, 0, &sev) ||
        api__int_member(c, req, "maxResults", 0, 100, 0, &max))
        return;
    if (sev && strcmp(sev, "ERROR") && strcmp(sev, "WARNING")) {
        CLIENT(c, "ValidationException",
               "1 validation error detected: Value '%s' at 'severity' failed to satisfy "
               "constraint: Member must satisfy enum value set: [ERROR, WARNING]",
               sev);
        return;
    }
    asl_diags d;
    int rc = compile_def(c, req, api__op_validate, def, type, NULL, &d);
    if (rc == 1)
        return; /* runs again when the worker has compiled it */
    json_t *diags = json_array();
    int errors = 0, truncated = 0;
    for (int i = 0; i < d.n; i++) {
        int is_err = !strcmp(d.d[i].severity, "ERROR");
        errors += is_err;
        if (sev && !strcmp(sev, "ERROR") && !is_err)
            continue;
        if (max && (long)json_array_size(diags) >= max) {
            truncated = 1;
            continue;
        }
        const asl_diag *g = &d.d[i];
        /* AWS: a definition that is no JSON object at all gets this one
         * diagnostic, without a location (recorded) */
        int notjson = !strcmp(g->code, "INVALID_JSON_DESCRIPTION");
        json_t *o = json_pack("{s:s,s:s,s:s}", "severity", g->severity, "code",
                              notjson ? "SCHEMA_VALIDATION_FAILED" : g->code, "message",
                              notjson ? "Definition must be a valid JSON object" : g->message);
        if (o && g->location[0] && !notjson)
            json_object_set_new(o, "location", json_string(g->location));
        json_array_append_new(diags, o);
    }
    int fail = rc != SFN_OK || errors > 0;
    api__reply_json(c, json_pack("{s:s,s:o,s:b}", "result", fail ? "FAIL" : "OK", "diagnostics",
                                 diags, "truncated", truncated));
}

void api__op_describe_for_exec(call *c, json_t *req)
{
    const char *arn;
    run_exec_info x;
    if (api__str_member(c, req, "executionArn", 1, 2048, &arn) || api__find_exec(c, arn, &x))
        return;
    run_sm sm;
    char *def = NULL;
    int type;
    memset(&sm, 0, sizeof sm);
    run_sm_get(c->a->run, x.sm_arn, &sm);
    run_sm_definition(c->a->run, x.def_id, &def, &type);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:o}", "stateMachineArn", x.sm_arn, "name",
                          sm.name ? sm.name : "", "definition", def ? def : "{}", "roleArn",
                          sm.role_arn ? sm.role_arn : "", "updateDate", ts(sm.updated_ms));
    if (o) {
        api__sm_conf_describe(c, x.sm_arn, o);
        api__ver_for_exec_keys(c, x.def_id, o);
        api__ver_variable_refs(o, def);
    }
    free(def);
    run_sm_cleanup(&sm);
    run_exec_info_cleanup(&x);
    api__reply_json(c, o);
}

/* ---- the template's state machines (api.h) ---------------------------------------- */
int api_sm_from_template(api *a, const char *name, const char *definition, int type,
                         const char *role_arn, char **arn_out, char *err, size_t errlen)
{
    asl_machine *m = NULL;
    asl_diags d;
    memset(&d, 0, sizeof d);
    if (asl_machine_compile_text(definition, strlen(definition), type, &m, &d) != SFN_OK) {
        asl_diags_cause(&d, err, errlen);
        return -EINVAL;
    }
    asl_machine_free(m);
    char buf[512];
    char *arn = NULL;
    if (sfn_arn_states(buf, sizeof buf, a->region, a->account, "stateMachine", name) < 0 ||
        (arn = strdup(buf)) == NULL)
        return -ENOMEM;
    run_sm old;
    int have = run_sm_get(a->run, arn, &old) == 0;
    int same = 0;
    if (have && !old.deleted) {
        char *odef = NULL;
        int otype;
        if (run_sm_definition(a->run, old.def_id, &odef, &otype) == 0)
            same = !strcmp(odef, definition) && otype == type && old.role_arn &&
                   !strcmp(old.role_arn, role_arn);
        free(odef);
    }
    int rc = 0;
    if (!same) {
        int64_t now = ev_wall_ms();
        run_sm sm = {.arn = arn, .name = (char *)name, .role_arn = (char *)role_arn,
                       .type = type, .created_ms = have ? old.created_ms : now,
                       .updated_ms = now, .from_template = 1};
        if (run_sm_save_rev(a->run, &sm, definition, have && !old.deleted, NULL) != 0) {
            const char *why = NULL;
            run_available(a->run, &why);
            snprintf(err, errlen, "store: %s", why ? why : "the write failed");
            rc = -EAGAIN;
        }
    }
    if (have)
        run_sm_cleanup(&old);
    if (rc == 0)
        *arn_out = arn;
    else
        free(arn);
    return rc;
}
