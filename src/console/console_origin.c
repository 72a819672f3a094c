/*
 * console_origin.c - GET /console/origin?stateMachineArn=: where a state
 * machine came from, for its page:
 *
 *   {"template": the template file sfnd loaded, or null,
 *    "logicalId": the resource's logical ID, or null (created by the API),
 *    "substitutions": {key: value} (DefinitionSubstitutions, evaluated),
 *    "functions": [{"arn", "name", "states": [state names]}]}
 *
 * functions are the Lambda functions the definition resolves to: a
 * Resource that is a function ARN, or the FunctionName of an
 * arn:aws:states:::lambda:invoke task (a bare name or partial ARN made a
 * full ARN in the machine's region and account), at any depth
 * (con__functions). The template part comes from sfnd (console_set_origin).
 *
 * Must not: write; evaluate paths or JSONata (a FunctionName.$ is shown as
 * the path it is).
 */
#define _GNU_SOURCE
#include "console_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* region and account of an ARN ("arn:aws:states:R:A:..."). */
static void region_account(const char *arn, char *region, char *account, size_t cap)
{
    const char *p = arn;
    snprintf(region, cap, "us-east-1");
    snprintf(account, cap, "123456789012");
    for (int i = 0; i < 3 && p; i++)
        p = strchr(p, ':') ? strchr(p, ':') + 1 : NULL;
    const char *q = p ? strchr(p, ':') : NULL;
    if (p && q && q > p && (size_t)(q - p) < cap) {
        snprintf(region, cap, "%.*s", (int)(q - p), p);
        const char *r = strchr(q + 1, ':');
        if (r && r > q + 1 && (size_t)(r - q - 1) < cap)
            snprintf(account, cap, "%.*s", (int)(r - q - 1), q + 1);
    }
}

/* A function's ARN from a FunctionName (name, partial or full ARN). */
static void function_arn(const char *fn, const char *sm_arn, char *out, size_t cap)
{
    char region[64], account[64];
    if (!strncmp(fn, "arn:", 4)) {
        snprintf(out, cap, "%s", fn);
        return;
    }
    region_account(sm_arn ? sm_arn : "", region, account, sizeof region);
    if (strchr(fn, ':') && !strncmp(fn, "function:", 9))
        snprintf(out, cap, "arn:aws:lambda:%s:%s:%s", region, account, fn);
    else if (strchr(fn, ':') && strstr(fn, ":function:"))
        snprintf(out, cap, "arn:aws:lambda:%s:%s", region, fn);
    else
        snprintf(out, cap, "arn:aws:lambda:%s:%s:function:%s", region, account, fn);
}

static void add_function(json_t *byarn, const char *arn, const char *state)
{
    json_t *f = json_object_get(byarn, arn);
    if (f == NULL) {
        const char *n = strstr(arn, ":function:");
        char name[256];
        snprintf(name, sizeof name, "%s", n ? n + 10 : arn);
        char *colon = strchr(name, ':'); /* a qualifier */
        if (colon)
            *colon = '\0';
        f = json_pack("{s:s,s:s,s:[]}", "arn", arn, "name", name, "states");
        if (f == NULL || json_object_set_new(byarn, arn, f) != 0)
            return;
    }
    json_array_append_new(json_object_get(f, "states"), json_string(state));
}

static void scan(const json_t *scope, const char *sm_arn, json_t *byarn)
{
    const char *name;
    const json_t *st;
    json_object_foreach(json_object_get(scope, "States"), name, st) {
        const char *res = json_string_value(json_object_get(st, "Resource"));
        char arn[1024];
        if (res && !strncmp(res, "arn:aws:lambda:", 15)) {
            add_function(byarn, res, name);
        } else if (res && !strncmp(res, "arn:aws:states:::lambda:invoke", 30)) {
            const json_t *args = json_object_get(st, "Parameters");
            if (args == NULL)
                args = json_object_get(st, "Arguments");
            const char *fn = json_string_value(json_object_get(args, "FunctionName"));
            if (fn && fn[0] != '{') {
                function_arn(fn, sm_arn, arn, sizeof arn);
                add_function(byarn, arn, name);
            }
        }
        const json_t *br = json_object_get(st, "Branches");
        size_t i;
        const json_t *b;
        json_array_foreach(br, i, b) scan(b, sm_arn, byarn);
        const json_t *it = json_object_get(st, "ItemProcessor");
        if (it == NULL)
            it = json_object_get(st, "Iterator");
        if (it)
            scan(it, sm_arn, byarn);
    }
}

json_t *con__functions(const json_t *definition, const char *sm_arn)
{
    json_t *byarn = json_object(), *out = json_array();
    const char *k;
    json_t *v;
    if (byarn && out) {
        scan(definition, sm_arn, byarn);
        json_object_foreach(byarn, k, v) json_array_append(out, v);
    }
    json_decref(byarn);
    return out;
}

/* ---- what sfnd tells the console --------------------------------------------------------- */
int console_set_origin(console *c, const char *sm_arn, const char *template_path,
                       const char *logical_id, const json_t *substitutions)
{
    if (c->origins == NULL && (c->origins = json_object()) == NULL)
        return -1;
    json_t *o = json_pack("{s:s?,s:s?,s:O?}", "template", template_path, "logicalId", logical_id,
                          "substitutions", (json_t *)substitutions);
    return o ? json_object_set_new(c->origins, sm_arn, o) : -1;
}

typedef struct origin_req {
    con_pending p;
    char *arn;
} origin_req;

static void origin_destroy(con_pending *p)
{
    free(((origin_req *)p)->arn);
    free(p);
}

static void origin_reply(con_pending *p, int status, const char *body, size_t len)
{
    origin_req *o = (origin_req *)p;
    json_t *j = json_loadb(body, len, 0, NULL);
    if (status != 200 || j == NULL) {
        con__finish_json(p, status == 200 ? 500 : status, j);
        return;
    }
    json_t *def = json_loads(json_string_value(json_object_get(j, "definition")) ?: "", 0, NULL);
    const json_t *from = json_object_get(p->c->origins, o->arn);
    json_t *out = json_pack("{s:O,s:O,s:O,s:o}", "template",
                            json_object_get(from, "template") ?: json_null(), "logicalId",
                            json_object_get(from, "logicalId") ?: json_null(), "substitutions",
                            json_object_get(from, "substitutions") ?: json_null(), "functions",
                            con__functions(def, o->arn));
    json_decref(def);
    json_decref(j);
    con__finish_json(p, out ? 200 : 500, out);
}

void con__origin(console *c, http_req *req, const char *arn)
{
    origin_req *o = calloc(1, sizeof *o);
    if (o == NULL || (o->arn = strdup(arn)) == NULL) {
        free(o);
        con__respond_err(req, 500, "InternalFailure", "out of memory");
        return;
    }
    o->p.req = req;
    o->p.on_reply = origin_reply;
    o->p.destroy = origin_destroy;
    con__link(c, &o->p);
    con__api(&o->p, "AWSStepFunctions.DescribeStateMachine",
             json_pack("{s:s}", "stateMachineArn", arn));
}
