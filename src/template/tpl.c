/*
 * tpl.c - SAM template loader (see tpl.h): tpl_load and the template
 * model, the resources sfnd provides (functions, state machines with their
 * definitions and EventBridgeRule events, tables, topics) and what is not
 * provided locally.
 *
 * Two passes: YAML -> JSON with the short-form tags rewritten to their long
 * forms (tpl_yaml.c), then the resources are read with their intrinsics
 * evaluated against the local names (tpl_intrinsic.c). Evaluation is
 * bounded in depth, so a template cannot make us recurse forever.
 * See tpl_int.h for the other files.
 *
 * Must not: start anything, write anything, read files other than the
 * template and the DefinitionUri files it names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TPL_MAX_FILE (4 * 1024 * 1024)

/* ---- resources ------------------------------------------------------------ */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(TPL_MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, TPL_MAX_FILE + 1, f) : 0;
    fclose(f);
    if (buf == NULL || n > TPL_MAX_FILE) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Globals.Function under the function's own Properties; Environment
 * Variables merge key by key (the function's win), as SAM does. */
static json_t *merge_globals(tpl *t, const json_t *props)
{
    json_t *g = json_object_get(json_object_get(t->root, "Globals"), "Function");
    json_t *m = json_is_object(props) ? json_deep_copy(props) : json_object();
    if (!json_is_object(g) || m == NULL)
        return m;
    const char *k;
    json_t *gv;
    json_object_foreach(g, k, gv) {
        json_t *own = json_object_get(m, k);
        if (own == NULL) {
            json_object_set_new(m, k, json_deep_copy(gv));
        } else if (!strcmp(k, "Environment")) {
            json_t *gvars = json_object_get(gv, "Variables");
            json_t *ovars = json_object_get(own, "Variables");
            if (json_is_object(gvars) && json_is_object(ovars)) {
                json_t *merged = json_deep_copy(gvars);
                json_object_update(merged, ovars);
                json_object_set_new(own, "Variables", merged);
            } else if (json_is_object(gvars) && ovars == NULL) {
                json_object_set_new(own, "Variables", json_deep_copy(gvars));
            }
        }
    }
    return m;
}

static int load_function(tpl *t, const tpl_opts *o, res *r)
{
    tpl_function *f = &t->fns[t->nfns++];
    f->logical_id = r->logical_id;
    f->name = r->name;
    f->arn = r->arn;
    f->handler = tpl__eval_str(t, r->props, "Handler");
    f->runtime = tpl__eval_str(t, r->props, "Runtime");
    if (f->handler == NULL && (f->runtime == NULL || !strncmp(f->runtime, "provided", 8)))
        f->handler = "bootstrap";
    f->timeout_s = tpl__eval_int(t, r->props, "Timeout", 3);
    f->memory_mb = tpl__eval_int(t, r->props, "MemorySize", 128);
    f->build_method = tpl__eval_str(t, r->metadata, "BuildMethod");
    json_t *arch = tpl__eval(t, json_object_get(r->props, "Architectures"), 0);
    const char *a0 = json_string_value(json_array_get(arch, 0));
    f->architecture = a0 && !strcmp(a0, "arm64") ? "arm64" : "x86_64";
    json_decref(arch);
    if (t->err[0])
        return -EINVAL;
    int crc = tpl__find_code(t, o, r, f);
    if (crc != 0)
        return crc;

    /* --env-vars: Parameters, then the function's own entry over it */
    json_t *ovr = json_object();
    if (ovr == NULL)
        return -ENOMEM;
    json_t *ev_all = json_object_get(t->env_vars, "Parameters");
    json_t *ev_fn = json_object_get(t->env_vars, r->logical_id);
    if ((ev_all && json_object_update(ovr, ev_all) != 0) ||
        (ev_fn && json_object_update(ovr, ev_fn) != 0)) {
        json_decref(ovr);
        return -ENOMEM;
    }
    const char **olist = calloc(json_object_size(ovr) + 1, sizeof *olist);
    if (olist == NULL || keep(t, (char *)olist) == NULL) {
        json_decref(ovr);
        return -ENOMEM;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(ovr, k, v) {
        if ((olist[i++] = keepf(t, "%s=%s", k, json_string_value(v))) == NULL) {
            json_decref(ovr);
            return -ENOMEM;
        }
    }
    olist[i] = NULL;
    f->env_override = olist;

    json_t *vars = NULL;
    const json_t *env = json_object_get(r->props, "Environment");
    if (env != NULL) {
        vars = tpl__eval(t, json_object_get(env, "Variables"), 0);
        if (t->err[0]) {
            json_decref(vars);
            json_decref(ovr);
            return fail(t, "Resources.%s.Environment: %s", r->logical_id, t->err);
        }
    }
    size_t n = json_object_size(vars) + 2;
    const char **list = calloc(n, sizeof *list);
    if (list == NULL || keep(t, (char *)list) == NULL) {
        json_decref(vars);
        json_decref(ovr);
        return -ENOMEM;
    }
    i = 0;
    json_object_foreach(vars, k, v) {
        char *s = tpl__stringify(v);
        if (s == NULL) {
            json_decref(vars);
            json_decref(ovr);
            return fail(t, "Resources.%s: environment variable %s is not a string",
                        r->logical_id, k);
        }
        if (json_object_get(ovr, k) == NULL)
            list[i++] = keepf(t, "%s=%s", k, s);
        free(s);
    }
    json_decref(vars);
    if (o->store_dir && t->ntables > 0 && json_object_get(ovr, "SFN_LOCAL_STORE_DIR") == NULL)
        list[i++] = keepf(t, "SFN_LOCAL_STORE_DIR=%s", o->store_dir);
    list[i] = NULL;
    f->env = list;
    json_decref(ovr);
    return 0;
}

/* ${Key} in every string value of the definition (DefinitionSubstitutions). */
static json_t *substitute(tpl *t, const json_t *v, const json_t *subs, int depth)
{
    if (depth > TPL_MAX_DEPTH * 4) {
        fail(t, "definition nested too deep");
        return NULL;
    }
    if (json_is_string(v) && strstr(json_string_value(v), "${")) {
        /* Same rules as Fn::Sub, but unknown ${X} stay as they are. */
        const char *s = json_string_value(v);
        size_t cap = strlen(s) * 2 + 64, len = 0;
        char *out = malloc(cap);
        if (out == NULL)
            return NULL;
        for (const char *p = s; *p;) {
            const char *end = p[0] == '$' && p[1] == '{' ? strchr(p + 2, '}') : NULL;
            const json_t *val = NULL;
            if (end) {
                char name[256];
                size_t nl = (size_t)(end - p - 2);
                if (nl < sizeof name) {
                    memcpy(name, p + 2, nl);
                    name[nl] = '\0';
                    val = json_object_get(subs, name);
                }
            }
            const char *ins = val ? json_string_value(val) : NULL;
            size_t add = ins ? strlen(ins) : 1;
            if (len + add + 1 > cap) {
                cap = (len + add + 1) * 2;
                char *o = realloc(out, cap);
                if (o == NULL) {
                    free(out);
                    return NULL;
                }
                out = o;
            }
            if (ins) {
                memcpy(out + len, ins, add);
                len += add;
                p = end + 1;
            } else {
                out[len++] = *p++;
            }
        }
        out[len] = '\0';
        json_t *r = json_string(out);
        free(out);
        return r;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            json_t *e = substitute(t, c, subs, depth + 1);
            if (e == NULL) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, k, e);
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *c;
        json_array_foreach(v, i, c) {
            json_t *e = substitute(t, c, subs, depth + 1);
            if (e == NULL) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, e);
        }
        return a;
    }
    return json_deep_copy(v);
}

/* Events of Type EventBridgeRule (SAM spec): the pattern with its
 * intrinsics resolved (a !Ref of another state machine gives its ARN),
 * Input as JSON text, InputPath, the bus (a rule on another bus than the
 * default one sees only events:putEvents tasks' entries). */
static int load_rules(tpl *t, const res *r, tpl_state_machine *m)
{
    const json_t *events = json_object_get(r->props, "Events");
    if (events == NULL)
        return 0;
    if (!json_is_object(events))
        return fail(t, "Resources.%s.Events: must be a map", r->logical_id);
    tpl_rule *rules = calloc(json_object_size(events) + 1, sizeof *rules);
    if (rules == NULL || keep(t, (char *)rules) == NULL)
        return -ENOMEM;
    m->rules = rules;
    const char *id;
    const json_t *ev;
    json_object_foreach((json_t *)events, id, ev) {
        const char *type = json_string_value(json_object_get(ev, "Type"));
        const json_t *props = json_object_get(ev, "Properties");
        if (type == NULL || strcmp(type, "EventBridgeRule") != 0) {
            t->unsupported[t->nunsupported++] =
                keepf(t, "%s.Events.%s (%s)", r->logical_id, id, type ? type : "no Type");
            continue;
        }
        const char *bus = tpl__eval_str(t, props, "EventBusName");
        const char *state = tpl__eval_str(t, props, "State");
        const json_t *enabled = json_object_get(props, "Enabled");
        if (t->err[0])
            return fail(t, "Resources.%s.Events.%s: %s", r->logical_id, id, t->err);
        if ((state && !strcmp(state, "DISABLED")) || json_is_false(enabled))
            continue;
        if (json_object_get(props, "InputTransformer"))
            return fail(t, "Resources.%s.Events.%s: InputTransformer is not provided locally "
                           "(use Input or InputPath)",
                        r->logical_id, id);
        const json_t *pin = json_object_get(props, "Pattern");
        if (pin == NULL)
            return fail(t, "Resources.%s.Events.%s: an EventBridgeRule needs a Pattern",
                        r->logical_id, id);
        json_t *pattern = tpl__eval(t, pin, 0);
        if (pattern == NULL || !json_is_object(pattern)) {
            json_decref(pattern);
            return fail(t, "Resources.%s.Events.%s.Pattern: %s", r->logical_id, id,
                        t->err[0] ? t->err : "must be a map");
        }
        json_array_append_new(t->owned, pattern);
        tpl_rule *ru = &rules[m->nrules];
        ru->id = id;
        ru->bus = tpl__bus_name(bus);
        ru->pattern = pattern;
        ru->input = tpl__eval_str(t, props, "Input");
        ru->input_path = tpl__eval_str(t, props, "InputPath");
        if (t->err[0])
            return fail(t, "Resources.%s.Events.%s: %s", r->logical_id, id, t->err);
        if (ru->input && ru->input_path)
            return fail(t, "Resources.%s.Events.%s: Input and InputPath are mutually exclusive",
                        r->logical_id, id);
        if (ru->input) {
            json_error_t je;
            json_t *j = json_loads(ru->input, JSON_DECODE_ANY, &je);
            if (j == NULL)
                return fail(t, "Resources.%s.Events.%s.Input: not JSON: %s", r->logical_id, id,
                            je.text);
            json_decref(j);
        }
        if (ru->input_path && ru->input_path[0] != '$')
            return fail(t, "Resources.%s.Events.%s.InputPath: must start with $", r->logical_id,
                        id);
        m->nrules++;
    }
    return 0;
}

/* Properties.<key> of a state machine (Logging, Tracing): a map, kept as
 * written with its intrinsics resolved (the API checks it); NULL when
 * absent. */
static int load_sm_conf(tpl *t, res *r, const char *key, json_t **out)
{
    const json_t *v = json_object_get(r->props, key);
    *out = NULL;
    if (v == NULL)
        return 0;
    json_t *e = tpl__eval(t, v, 0);
    if (!json_is_object(e)) {
        json_decref(e);
        return fail(t, "Resources.%s.%s: must be a map", r->logical_id, key);
    }
    json_array_append_new(t->owned, e);
    *out = e;
    return 0;
}

static int load_state_machine(tpl *t, res *r)
{
    tpl_state_machine *m = &t->sms[t->nsms++];
    m->logical_id = r->logical_id;
    m->name = r->name;
    m->arn = r->arn;
    const char *type = tpl__eval_str(t, r->props, "Type");
    m->type = type && !strcmp(type, "EXPRESS") ? 1 : 0;
    if (type && strcmp(type, "EXPRESS") && strcmp(type, "STANDARD"))
        return fail(t, "Resources.%s.Type: must be STANDARD or EXPRESS", r->logical_id);
    m->role_arn = tpl__eval_str(t, r->props, "Role");
    if (m->role_arn == NULL)
        m->role_arn = keepf(t, "arn:aws:iam::%s:role/%sRole", t->account, r->logical_id);

    json_t *def = NULL;
    const json_t *inl = json_object_get(r->props, "Definition");
    const json_t *uri = json_object_get(r->props, "DefinitionUri");
    if (inl != NULL) {
        def = tpl__eval(t, inl, 0);
    } else if (json_is_string(uri)) {
        const char *u = json_string_value(uri);
        char path[PATH_MAX];
        if (u[0] == '/')
            snprintf(path, sizeof path, "%s", u);
        else
            snprintf(path, sizeof path, "%s/%s", t->dir, u);
        /* confined to the project: the template's directory and below */
        char *real = realpath(path, NULL), *root = realpath(t->dir, NULL);
        size_t rl = root ? strlen(root) : 0;
        int inside = real && root && strncmp(real, root, rl) == 0 &&
                     (real[rl] == '/' || (rl == 1 && root[0] == '/'));
        int exists = real != NULL;
        free(real);
        free(root);
        if (!exists)
            return fail(t, "Resources.%s.DefinitionUri: cannot read %s", r->logical_id, path);
        if (!inside)
            return fail(t, "Resources.%s.DefinitionUri: %s is not a file inside the project (%s)",
                        r->logical_id, u, t->dir);
        size_t len = 0;
        char *text = read_file(path, &len);
        if (text == NULL)
            return fail(t, "Resources.%s.DefinitionUri: cannot read %s", r->logical_id, path);
        json_error_t je;
        size_t ul = strlen(u);
        if (ul > 5 && !strcmp(u + ul - 5, ".json")) {
            def = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
            if (def == NULL)
                fail(t, "%s:%d: %s", path, je.line, je.text);
        } else {
            char e[256];
            def = tpl_yaml_to_json(text, len, e, sizeof e);
            if (def == NULL)
                fail(t, "%s: %s", path, e);
        }
        free(text);
    } else {
        return fail(t, "Resources.%s: needs Definition or a local DefinitionUri (an S3 "
                       "location is not provided locally)",
                    r->logical_id);
    }
    if (def == NULL)
        return fail(t, "Resources.%s: bad definition", r->logical_id);

    const json_t *subs_in = json_object_get(r->props, "DefinitionSubstitutions");
    if (subs_in != NULL) {
        json_t *subs = tpl__eval(t, subs_in, 0);
        if (!json_is_object(subs)) {
            json_decref(subs);
            json_decref(def);
            return fail(t, "Resources.%s.DefinitionSubstitutions: %s", r->logical_id,
                        t->err[0] ? t->err : "must be a map");
        }
        const char *k;
        json_t *v;
        json_object_foreach(subs, k, v) {
            char *s = tpl__stringify(v);
            if (s == NULL) {
                json_decref(subs);
                json_decref(def);
                return fail(t, "DefinitionSubstitutions.%s is not a string", k);
            }
            json_object_set_new(subs, k, json_string(s));
            free(s);
        }
        json_t *d2 = substitute(t, def, subs, 0);
        m->substitutions = subs;
        json_array_append_new(t->owned, subs);
        json_decref(def);
        def = d2;
        if (def == NULL)
            return fail(t, "Resources.%s: substitution failed", r->logical_id);
    }
    json_array_append_new(t->owned, def);
    m->definition = def;
    if (load_sm_conf(t, r, "Logging", &m->logging) || load_sm_conf(t, r, "Tracing", &m->tracing))
        return -1;
    return load_rules(t, r, m);
}

/* CloudFormation: "The logical ID must be alphanumeric (A-Za-z0-9) and
 * unique within the template." */
static int alnum(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')))
            return 0;
    return 1;
}

/* A resource's Condition: the name of one of the template's Conditions. */
static int resource_condition(tpl *t, const char *id, const json_t *cond, int *made)
{
    if (!json_is_string(cond))
        return fail(t, "Resources.%s.Condition: must be the name of a condition", id);
    json_t *c = json_pack("{s:O}", "Condition", cond);
    json_t *v = c ? tpl__eval(t, c, 0) : NULL;
    json_decref(c);
    if (!json_is_boolean(v)) {
        json_decref(v);
        return fail(t, "Resources.%s.Condition: %s", id,
                    t->err[0] ? t->err : "not a boolean");
    }
    *made = json_is_true(v);
    json_decref(v);
    return 0;
}

/* Pass 1 for one resource: its kind, its properties (Globals merged for a
 * function), its name when literal. */
static int name_resource(tpl *t, const char *id, json_t *rv)
{
    res *r = &t->res[t->nres++];
    r->logical_id = id;
    r->type = json_string_value(json_object_get(rv, "Type"));
    if (r->type == NULL)
        return fail(t, "Resources.%s: no Type", id);
    r->metadata = json_object_get(rv, "Metadata");
    json_t *props = json_object_get(rv, "Properties");
    const char *name_key = NULL;
    if (!strcmp(r->type, "AWS::Serverless::Function")) {
        r->kind = R_FUNCTION;
        json_t *m = merge_globals(t, props);
        json_array_append_new(t->owned, m);
        props = m;
        name_key = "FunctionName";
    } else if (!strcmp(r->type, "AWS::Serverless::StateMachine")) {
        r->kind = R_STATE_MACHINE;
        name_key = "Name";
    } else if (!strcmp(r->type, "AWS::DynamoDB::Table") ||
               !strcmp(r->type, "AWS::Serverless::SimpleTable")) {
        r->kind = R_TABLE;
        name_key = "TableName";
    } else if (!strcmp(r->type, "AWS::StepFunctions::Activity")) {
        r->kind = R_ACTIVITY;
        name_key = "Name";
    } else if (!strcmp(r->type, "AWS::SNS::Topic")) {
        r->kind = R_TOPIC;
        name_key = "TopicName";
    } else if (!strcmp(r->type, "AWS::SQS::Queue")) {
        r->kind = R_QUEUE;
        name_key = "QueueName";
    } else if (!strcmp(r->type, "AWS::Events::EventBus")) {
        r->kind = R_BUS;
        name_key = "Name";
    } else if (!strcmp(r->type, "AWS::Events::Rule")) {
        r->kind = R_EVRULE;
        name_key = "Name";
    }
    r->props = props;
    const json_t *nv = name_key ? json_object_get(props, name_key) : NULL;
    r->name = json_is_string(nv) ? json_string_value(nv) : id;
    return 0;
}

static int load_resources(tpl *t, const tpl_opts *o)
{
    json_t *resources = json_object_get(t->root, "Resources");
    if (!json_is_object(resources))
        return fail(t, "the template has no Resources");
    size_t n = json_object_size(resources);
    t->res = calloc(n + 1, sizeof *t->res);
    t->fns = calloc(n + 1, sizeof *t->fns);
    t->sms = calloc(n + 1, sizeof *t->sms);
    t->tables = calloc(n + 1, sizeof *t->tables);
    t->topics = calloc(n + 1, sizeof *t->topics);
    t->queues = calloc(n + 1, sizeof *t->queues);
    t->buses = calloc(n + 1, sizeof *t->buses);
    t->acts = calloc(n + 1, sizeof *t->acts);
    /* one slot per resource, plus one per state machine event */
    size_t nu = n + 1;
    const char *id;
    json_t *rv;
    json_object_foreach(resources, id, rv)
        nu += json_object_size(json_object_get(json_object_get(rv, "Properties"), "Events")) +
              json_array_size(json_object_get(json_object_get(rv, "Properties"), "Targets"));
    t->unsupported = calloc(nu, sizeof *t->unsupported);
    if (!t->res || !t->fns || !t->sms || !t->tables || !t->topics || !t->queues || !t->buses ||
        !t->acts || !t->unsupported)
        return -ENOMEM;

    /* Pass 1: names and ARNs, so that any Ref/GetAtt can be answered. A
     * literal name property is used as is; a computed one is evaluated in
     * pass 2 (it may refer to other resources' names). */
    json_object_foreach(resources, id, rv) {
        if (!alnum(id))
            return fail(t, "Resources: logical ID '%s' must be alphanumeric (A-Za-z0-9)", id);
        const json_t *cond = json_object_get(rv, "Condition");
        if (cond != NULL) {
            int made = 0;
            if (resource_condition(t, id, cond, &made) != 0)
                return -EINVAL;
            if (!made)
                continue; /* not created, as CloudFormation does */
        }
        if (name_resource(t, id, rv) != 0)
            return -EINVAL;
    }
    for (size_t i = 0; i < t->nres; i++) {
        res *r = &t->res[i];
        const char *key = r->kind == R_FUNCTION        ? "FunctionName"
                          : r->kind == R_STATE_MACHINE ? "Name"
                          : r->kind == R_TABLE         ? "TableName"
                          : r->kind == R_TOPIC         ? "TopicName"
                          : r->kind == R_QUEUE         ? "QueueName"
                          : r->kind == R_BUS || r->kind == R_EVRULE || r->kind == R_ACTIVITY
                              ? "Name"
                                                       : NULL;
        const json_t *nv = key ? json_object_get(r->props, key) : NULL;
        if (nv && !json_is_string(nv)) {
            r->name = tpl__eval_str(t, r->props, key);
            if (r->name == NULL)
                return fail(t, "Resources.%s.%s: %s", r->logical_id, key, t->err);
        }
        switch (r->kind) {
        case R_FUNCTION:
            r->arn = keepf(t, "arn:aws:lambda:%s:%s:function:%s", t->region, t->account, r->name);
            break;
        case R_STATE_MACHINE:
            r->arn = keepf(t, "arn:aws:states:%s:%s:stateMachine:%s", t->region, t->account,
                           r->name);
            break;
        case R_TABLE:
            r->arn = keepf(t, "arn:aws:dynamodb:%s:%s:table/%s", t->region, t->account, r->name);
            t->tables[t->ntables].logical_id = r->logical_id;
            t->tables[t->ntables++].name = r->name;
            break;
        case R_TOPIC:
            r->arn = keepf(t, "arn:aws:sns:%s:%s:%s", t->region, t->account, r->name);
            t->topics[t->ntopics].logical_id = r->logical_id;
            t->topics[t->ntopics].name = r->name;
            t->topics[t->ntopics++].arn = r->arn;
            break;
        case R_ACTIVITY:
            r->arn = keepf(t, "arn:aws:states:%s:%s:activity:%s", t->region, t->account, r->name);
            t->acts[t->nacts].logical_id = r->logical_id;
            t->acts[t->nacts].name = r->name;
            t->acts[t->nacts++].arn = r->arn;
            break;
        case R_QUEUE:
        case R_BUS:
        case R_EVRULE:
            if (tpl__name_events(t, r) != 0)
                return -EINVAL;
            break;
        default:
            t->unsupported[t->nunsupported++] = keepf(t, "%s (%s)", r->logical_id, r->type);
            break;
        }
    }
    /* Pass 2: the resources themselves. */
    for (size_t i = 0; i < t->nres; i++) {
        res *r = &t->res[i];
        int rc = 0;
        if (r->kind == R_FUNCTION)
            rc = load_function(t, o, r);
        else if (r->kind == R_STATE_MACHINE)
            rc = load_state_machine(t, r);
        else if (r->kind == R_EVRULE)
            rc = tpl__load_evrule(t, r);
        if (rc != 0) {
            if (t->err[0] && strncmp(t->err, "Resources.", 10) != 0) {
                char tmp[sizeof t->err];
                memcpy(tmp, t->err, sizeof tmp);
                int w = snprintf(t->err, sizeof t->err, "Resources.%s: ", r->logical_id);
                if (w > 0 && (size_t)w < sizeof t->err)
                    snprintf(t->err + w, sizeof t->err - (size_t)w, "%.400s", tmp);
            }
            return rc;
        }
    }
    return 0;
}

int tpl_load(const char *path, const tpl_opts *opts, tpl **out, char *err, size_t errlen)
{
    tpl_opts dflt = {0};
    const tpl_opts *o = opts ? opts : &dflt;
    int rc = -ENOMEM;
    tpl *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto fail_alloc;
    t->owned = json_array();
    t->path = strdup(path);
    char *slash = strrchr(t->path ? t->path : "", '/');
    t->dir = slash ? strndup(t->path, (size_t)(slash - t->path)) : strdup(".");
    if (!t->owned || !t->path || !t->dir)
        goto fail_tpl;
    char *rdir = realpath(t->dir, NULL); /* CodeUri's root, absolute */
    if (rdir != NULL) {
        free(t->dir);
        t->dir = rdir;
    }
    const char *env_region = getenv("AWS_REGION");
    t->region = o->region ? o->region : env_region && *env_region ? env_region : "us-east-1";
    t->account = o->account ? o->account : "123456789012";
    t->stack = o->stack_name ? o->stack_name : "sfnd";
    t->region = keep(t, strdup(t->region));
    t->account = keep(t, strdup(t->account));
    t->stack = keep(t, strdup(t->stack));

    size_t len = 0;
    char *text = read_file(path, &len);
    if (text == NULL) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
        rc = -EIO;
        goto fail_tpl;
    }
    char yerr[256];
    t->root = tpl_yaml_to_json(text, len, yerr, sizeof yerr);
    free(text);
    if (t->root == NULL || !json_is_object(t->root)) {
        snprintf(err, errlen, "%s: %s", path, t->root ? "not a mapping" : yerr);
        rc = -EINVAL;
        goto fail_tpl;
    }
    const json_t *params = json_object_get(t->root, "Parameters");
    const char *pk;
    const json_t *pv;
    json_object_foreach((json_t *)params, pk, pv) {
        if (!alnum(pk)) {
            snprintf(err, errlen, "%s: Parameters: '%s' must be alphanumeric (A-Za-z0-9)", path,
                     pk);
            rc = -EINVAL;
            goto fail_tpl;
        }
    }
    /* an --env-vars error is about that file, not the template: no path */
    rc = tpl__load_env_vars(t, o->env_vars);
    if (rc != 0) {
        snprintf(err, errlen, "%s", t->err[0] ? t->err : "out of memory");
        goto fail_tpl;
    }
    rc = tpl__load_overrides(t, o->parameter_overrides);
    if (rc == 0)
        rc = load_resources(t, o);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, t->err[0] ? t->err : "out of memory");
        goto fail_tpl;
    }
    *out = t;
    return 0;

fail_tpl:
    tpl_free(t);
fail_alloc:
    if (rc == -ENOMEM)
        snprintf(err, errlen, "out of memory");
    return rc;
}

void tpl_free(tpl *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nstrs; i++)
        free(t->strs[i]);
    free(t->strs);
    free(t->res);
    free(t->fns);
    free(t->sms);
    free(t->tables);
    free(t->topics);
    free(t->acts);
    free(t->queues);
    free(t->buses);
    free(t->evtargets);
    json_decref(t->overrides);
    json_decref(t->env_vars);
    free(t->unsupported);
    json_decref(t->owned);
    json_decref(t->root);
    free(t->dir);
    free(t->path);
    free(t);
}

size_t tpl_function_count(const tpl *t) { return t->nfns; }
const char *tpl_dir(const tpl *t) { return t->dir; }
const tpl_function *tpl_function_at(const tpl *t, size_t i) { return i < t->nfns ? &t->fns[i] : NULL; }
size_t tpl_state_machine_count(const tpl *t) { return t->nsms; }
const tpl_state_machine *tpl_state_machine_at(const tpl *t, size_t i)
{
    return i < t->nsms ? &t->sms[i] : NULL;
}
size_t tpl_topic_count(const tpl *t) { return t->ntopics; }
const tpl_topic *tpl_topic_at(const tpl *t, size_t i) { return i < t->ntopics ? &t->topics[i] : NULL; }
size_t tpl_activity_count(const tpl *t) { return t->nacts; }
const tpl_activity *tpl_activity_at(const tpl *t, size_t i) { return i < t->nacts ? &t->acts[i] : NULL; }
size_t tpl_queue_count(const tpl *t) { return t->nqueues; }
const tpl_queue *tpl_queue_at(const tpl *t, size_t i) { return i < t->nqueues ? &t->queues[i] : NULL; }
size_t tpl_bus_count(const tpl *t) { return t->nbuses; }
const tpl_bus *tpl_bus_at(const tpl *t, size_t i) { return i < t->nbuses ? &t->buses[i] : NULL; }
size_t tpl_evtarget_count(const tpl *t) { return t->nevtargets; }
const tpl_evtarget *tpl_evtarget_at(const tpl *t, size_t i)
{
    return i < t->nevtargets ? &t->evtargets[i] : NULL;
}
size_t tpl_table_count(const tpl *t) { return t->ntables; }
const tpl_table *tpl_table_at(const tpl *t, size_t i) { return i < t->ntables ? &t->tables[i] : NULL; }
size_t tpl_unsupported_count(const tpl *t) { return t->nunsupported; }
const char *tpl_unsupported_at(const tpl *t, size_t i)
{
    return i < t->nunsupported ? t->unsupported[i] : NULL;
}
