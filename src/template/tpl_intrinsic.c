/*
 * tpl_intrinsic.c - the SAM template loader's intrinsic functions (Ref,
 * Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If, Fn::Equals, Fn::Not/And/Or,
 * Fn::Select, Fn::Split, Fn::FindInMap, Condition) evaluated against the
 * local names and ARNs of the template's resources, its Parameters (or
 * their overrides) and the pseudo parameters.
 *
 * Must not: read files, add resources (tpl.c names them before anything is
 * evaluated), recurse past TPL_MAX_DEPTH.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include <limits.h>
#include <string.h>

static const res *res_find(const tpl *t, const char *id)
{
    for (size_t i = 0; i < t->nres; i++)
        if (!strcmp(t->res[i].logical_id, id))
            return &t->res[i];
    return NULL;
}

/* The string form CloudFormation uses when a value lands in a string. */
char *tpl__stringify(const json_t *v)
{
    char *s = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return strdup(json_string_value(v));
    case JSON_INTEGER:
        if (asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
            return NULL;
        return s;
    case JSON_REAL:
        if (asprintf(&s, "%.17g", json_real_value(v)) < 0)
            return NULL;
        return s;
    case JSON_TRUE:
        return strdup("true");
    case JSON_FALSE:
        return strdup("false");
    default:
        return NULL;
    }
}

static json_t *ref(tpl *t, const char *name)
{
    if (!strcmp(name, "AWS::Region"))
        return json_string(t->region);
    if (!strcmp(name, "AWS::AccountId"))
        return json_string(t->account);
    if (!strcmp(name, "AWS::StackName"))
        return json_string(t->stack);
    if (!strcmp(name, "AWS::Partition"))
        return json_string("aws");
    if (!strcmp(name, "AWS::URLSuffix"))
        return json_string("amazonaws.com");
    if (!strcmp(name, "AWS::StackId"))
        return json_sprintf("arn:aws:cloudformation:%s:%s:stack/%s/00000000-0000-0000-0000-"
                            "000000000000",
                            t->region, t->account, t->stack);
    if (!strcmp(name, "AWS::NoValue"))
        return NULL;
    json_t *params = json_object_get(t->root, "Parameters");
    json_t *p = json_object_get(params, name);
    if (p != NULL) {
        json_t *ov = json_object_get(t->overrides, name);
        if (ov != NULL)
            return json_deep_copy(ov);
        json_t *d = json_object_get(p, "Default");
        return d ? json_deep_copy(d) : json_string("");
    }
    const res *r = res_find(t, name);
    if (r == NULL) {
        fail(t, "Unresolved resource dependency [%s]", name);
        return NULL;
    }
    switch (r->kind) {
    case R_STATE_MACHINE: /* Ref of a state machine is its ARN */
    case R_TOPIC:         /* and of a topic too */
    case R_ACTIVITY:      /* and of an activity */
        return json_string(r->arn);
    case R_QUEUE:         /* a queue's is its URL */
        return json_string(r->url);
    case R_FUNCTION:
    case R_TABLE:
    case R_BUS:
    case R_EVRULE:
        return json_string(r->name);
    default:
        return json_string(r->logical_id);
    }
}

static json_t *getatt(tpl *t, const char *id, const char *attr)
{
    const res *r = res_find(t, id);
    if (r == NULL) {
        fail(t, "Unresolved resource dependency [%s] in Fn::GetAtt", id);
        return NULL;
    }
    if (!strcmp(attr, "Arn") && r->arn)
        return json_string(r->arn);
    if (!strcmp(attr, "Name") && r->name)
        return json_string(r->name);
    if (r->kind == R_TOPIC && !strcmp(attr, "TopicArn"))
        return json_string(r->arn);
    if (r->kind == R_TOPIC && !strcmp(attr, "TopicName"))
        return json_string(r->name);
    if (r->kind == R_QUEUE && !strcmp(attr, "QueueName"))
        return json_string(r->name);
    if (r->kind == R_QUEUE && !strcmp(attr, "QueueUrl"))
        return json_string(r->url);
    if (r->kind == R_TABLE && !strcmp(attr, "StreamArn"))
        return json_sprintf("%s/stream/1970-01-01T00:00:00.000", r->arn);
    return json_sprintf("%s.%s", id, attr);
}

static json_t *sub(tpl *t, const json_t *arg, int depth)
{
    const char *s;
    const json_t *vars = NULL;
    if (json_is_string(arg)) {
        s = json_string_value(arg);
    } else if (json_is_array(arg) && json_array_size(arg) == 2 &&
               json_is_string(json_array_get(arg, 0)) && json_is_object(json_array_get(arg, 1))) {
        s = json_string_value(json_array_get(arg, 0));
        vars = json_array_get(arg, 1);
    } else {
        fail(t, "Fn::Sub takes a string or [string, {variables}]");
        return NULL;
    }
    size_t cap = strlen(s) + 64, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
#define PUT(p, n)                                                                                  \
    do {                                                                                           \
        size_t n_ = (n);                                                                           \
        if (len + n_ + 1 > cap) {                                                                  \
            cap = (len + n_ + 1) * 2;                                                              \
            char *o_ = realloc(out, cap);                                                          \
            if (o_ == NULL)                                                                        \
                goto oom;                                                                          \
            out = o_;                                                                              \
        }                                                                                          \
        memcpy(out + len, (p), n_);                                                                \
        len += n_;                                                                                 \
    } while (0)
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (end == NULL) {
                PUT(p, strlen(p));
                break;
            }
            if (p[2] == '!') { /* ${!Literal} -> ${Literal} */
                PUT("${", 2);
                PUT(p + 3, (size_t)(end - p - 2));
                p = end + 1;
                continue;
            }
            char name[256];
            size_t nl = (size_t)(end - p - 2);
            if (nl >= sizeof name) {
                fail(t, "Fn::Sub variable too long");
                goto oom;
            }
            memcpy(name, p + 2, nl);
            name[nl] = '\0';
            json_t *val = NULL;
            const json_t *vv = vars ? json_object_get(vars, name) : NULL;
            if (vv) {
                val = tpl__eval(t, vv, depth + 1);
            } else if (strchr(name, '.') && strncmp(name, "AWS::", 5) != 0) {
                char *dot = strchr(name, '.');
                *dot = '\0';
                val = getatt(t, name, dot + 1);
            } else {
                val = ref(t, name);
            }
            char *str = val ? tpl__stringify(val) : NULL;
            json_decref(val);
            if (str == NULL) {
                fail(t, "Fn::Sub: cannot resolve ${%s}", name);
                goto oom;
            }
            size_t sl = strlen(str);
            if (len + sl + 1 > cap) {
                cap = (len + sl + 1) * 2;
                char *o = realloc(out, cap);
                if (o == NULL) {
                    free(str);
                    goto oom;
                }
                out = o;
            }
            memcpy(out + len, str, sl);
            len += sl;
            free(str);
            p = end + 1;
        } else {
            PUT(p, 1);
            p++;
        }
    }
#undef PUT
    out[len] = '\0';
    json_t *r = json_string(out);
    free(out);
    return r;
oom:
    free(out);
    return NULL;
}

static int truthy(tpl *t, const json_t *v, int depth, int *out)
{
    json_t *e = tpl__eval(t, v, depth + 1);
    if (e == NULL || !json_is_boolean(e)) {
        json_decref(e);
        return fail(t, "a condition must evaluate to true or false");
    }
    *out = json_is_true(e);
    json_decref(e);
    return 0;
}

static json_t *condition(tpl *t, const char *name, int depth)
{
    json_t *c = json_object_get(json_object_get(t->root, "Conditions"), name);
    if (c == NULL) {
        fail(t, "unknown condition %s", name);
        return NULL;
    }
    return tpl__eval(t, c, depth + 1);
}

/* Fn::GetAtt: "Resource.Attribute" or [Resource, Attribute]. */
static json_t *fn_getatt(tpl *t, const json_t *arg)
{
    const json_t *a0 = json_array_get(arg, 0), *a1 = json_array_get(arg, 1);
    if (json_is_string(arg)) {
        char *s = strdup(json_string_value(arg));
        char *dot = s ? strchr(s, '.') : NULL;
        json_t *r = NULL;
        if (dot) {
            *dot = '\0';
            r = getatt(t, s, dot + 1);
        } else {
            fail(t, "Fn::GetAtt takes Resource.Attribute");
        }
        free(s);
        return r;
    }
    if (!json_is_string(a0) || !json_is_string(a1)) {
        fail(t, "Fn::GetAtt takes [Resource, Attribute]");
        return NULL;
    }
    return getatt(t, json_string_value(a0), json_string_value(a1));
}

/* Fn::Join: [delimiter, [values]]. */
static json_t *fn_join(tpl *t, const json_t *arg, int depth)
{
    const json_t *d = json_array_get(arg, 0);
    json_t *list = tpl__eval(t, json_array_get(arg, 1), depth + 1);
    if (!json_is_string(d) || !json_is_array(list)) {
        json_decref(list);
        fail(t, "Fn::Join takes [delimiter, [values]]");
        return NULL;
    }
    size_t cap = 64, len = 0;
    char *out = calloc(1, cap);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        char *s = tpl__stringify(item);
        const char *sep = i ? json_string_value(d) : "";
        if (s == NULL || out == NULL) {
            free(s);
            free(out);
            json_decref(list);
            fail(t, "Fn::Join: a value is not a string");
            return NULL;
        }
        size_t need = len + strlen(sep) + strlen(s) + 1;
        if (need > cap) {
            cap = need * 2;
            char *o = realloc(out, cap);
            if (o == NULL) {
                free(s);
                free(out);
                json_decref(list);
                return NULL;
            }
            out = o;
        }
        len += (size_t)sprintf(out + len, "%s%s", sep, s);
        free(s);
    }
    json_decref(list);
    json_t *r = out ? json_string(out) : NULL;
    free(out);
    return r;
}

/* Fn::Select: [index, list]. */
static json_t *fn_select(tpl *t, const json_t *arg, int depth)
{
    json_t *idx = tpl__eval(t, json_array_get(arg, 0), depth + 1);
    json_t *list = tpl__eval(t, json_array_get(arg, 1), depth + 1);
    long long i = json_is_integer(idx)  ? json_integer_value(idx)
                  : json_is_string(idx) ? strtoll(json_string_value(idx), NULL, 10)
                                        : -1;
    json_t *r = json_is_array(list) && i >= 0 ? json_array_get(list, (size_t)i) : NULL;
    if (r)
        json_incref(r);
    else
        fail(t, "Fn::Select: index out of range");
    json_decref(idx);
    json_decref(list);
    return r;
}

/* Fn::Split: [delimiter, string]. */
static json_t *fn_split(tpl *t, const json_t *arg, int depth)
{
    const json_t *d = json_array_get(arg, 0);
    json_t *s = tpl__eval(t, json_array_get(arg, 1), depth + 1);
    if (!json_is_string(d) || !json_is_string(s) || json_string_length(d) == 0) {
        json_decref(s);
        fail(t, "Fn::Split takes [delimiter, string]");
        return NULL;
    }
    json_t *out = json_array();
    const char *p = json_string_value(s), *dl = json_string_value(d), *q;
    while ((q = strstr(p, dl)) != NULL) {
        json_array_append_new(out, json_stringn(p, (size_t)(q - p)));
        p = q + strlen(dl);
    }
    json_array_append_new(out, json_string(p));
    json_decref(s);
    return out;
}

/* The intrinsic function key ("Ref", "Condition", "Fn::...") on arg. */
static json_t *fn(tpl *t, const char *key, const json_t *arg, int depth)
{
    if (!strcmp(key, "Ref")) {
        if (!json_is_string(arg)) {
            fail(t, "Ref takes a string");
            return NULL;
        }
        return ref(t, json_string_value(arg));
    }
    if (!strcmp(key, "Condition")) {
        if (!json_is_string(arg)) {
            fail(t, "Condition takes a string");
            return NULL;
        }
        return condition(t, json_string_value(arg), depth);
    }
    if (!strcmp(key, "Fn::GetAtt"))
        return fn_getatt(t, arg);
    if (!strcmp(key, "Fn::Sub"))
        return sub(t, arg, depth);
    if (!strcmp(key, "Fn::Join"))
        return fn_join(t, arg, depth);
    if (!strcmp(key, "Fn::If")) {
        const json_t *c = json_array_get(arg, 0);
        if (!json_is_string(c) || json_array_size(arg) != 3) {
            fail(t, "Fn::If takes [condition, then, else]");
            return NULL;
        }
        json_t *b = condition(t, json_string_value(c), depth);
        if (b == NULL || !json_is_boolean(b)) {
            json_decref(b);
            fail(t, "condition %s is not a boolean", json_string_value(c));
            return NULL;
        }
        int yes = json_is_true(b);
        json_decref(b);
        return tpl__eval(t, json_array_get(arg, yes ? 1 : 2), depth + 1);
    }
    if (!strcmp(key, "Fn::Equals")) {
        json_t *a = tpl__eval(t, json_array_get(arg, 0), depth + 1);
        json_t *b = tpl__eval(t, json_array_get(arg, 1), depth + 1);
        char *sa = a ? tpl__stringify(a) : NULL, *sb = b ? tpl__stringify(b) : NULL;
        int eq = sa && sb ? !strcmp(sa, sb) : json_equal(a, b);
        free(sa);
        free(sb);
        json_decref(a);
        json_decref(b);
        return json_boolean(eq);
    }
    if (!strcmp(key, "Fn::Not") || !strcmp(key, "Fn::And") || !strcmp(key, "Fn::Or")) {
        if (!json_is_array(arg) || json_array_size(arg) == 0) {
            fail(t, "%s takes a list of conditions", key);
            return NULL;
        }
        int acc = !strcmp(key, "Fn::And");
        size_t i;
        json_t *c;
        json_array_foreach(arg, i, c) {
            int b;
            if (truthy(t, c, depth, &b) != 0)
                return NULL;
            if (!strcmp(key, "Fn::Not"))
                return json_boolean(!b);
            acc = !strcmp(key, "Fn::And") ? acc && b : acc || b;
        }
        return json_boolean(acc);
    }
    if (!strcmp(key, "Fn::Select"))
        return fn_select(t, arg, depth);
    if (!strcmp(key, "Fn::Split"))
        return fn_split(t, arg, depth);
    if (!strcmp(key, "Fn::FindInMap")) {
        json_t *a = tpl__eval(t, arg, depth + 1);
        const json_t *m = json_object_get(t->root, "Mappings");
        for (size_t i = 0; i < 3 && m; i++)
            m = json_object_get(m, json_string_value(json_array_get(a, i)));
        json_decref(a);
        if (m == NULL) {
            fail(t, "Fn::FindInMap: no such key");
            return NULL;
        }
        return json_deep_copy(m);
    }
    fail(t, "intrinsic function %s is not supported locally", key);
    return NULL;
}

/* Evaluate v. Returns: new; NULL for AWS::NoValue or an error (t->err set). */
json_t *tpl__eval(tpl *t, const json_t *v, int depth)
{
    if (v == NULL)
        return NULL;
    if (depth > TPL_MAX_DEPTH) {
        fail(t, "intrinsic functions nested too deep");
        return NULL;
    }
    if (json_is_object(v)) {
        if (json_object_size(v) == 1) {
            const char *key = json_object_iter_key(json_object_iter((json_t *)v));
            if (!strcmp(key, "Ref") || !strcmp(key, "Condition") || !strncmp(key, "Fn::", 4))
                return fn(t, key, json_object_get(v, key), depth);
        }
        json_t *o = json_object();
        const char *k;
        json_t *c;
        json_object_foreach((json_t *)v, k, c) {
            json_t *e = tpl__eval(t, c, depth + 1);
            if (e == NULL) {
                if (t->err[0]) {
                    json_decref(o);
                    return NULL;
                }
                continue; /* AWS::NoValue drops the key */
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
            json_t *e = tpl__eval(t, c, depth + 1);
            if (e == NULL) {
                if (t->err[0]) {
                    json_decref(a);
                    return NULL;
                }
                continue;
            }
            json_array_append_new(a, e);
        }
        return a;
    }
    return json_deep_copy(v);
}

/* Evaluate a property that must end up a string (or absent). */
const char *tpl__eval_str(tpl *t, const json_t *props, const char *key)
{
    const json_t *v = json_object_get(props, key);
    if (v == NULL)
        return NULL;
    json_t *e = tpl__eval(t, v, 0);
    char *s = e ? tpl__stringify(e) : NULL;
    json_decref(e);
    if (s == NULL && t->err[0] == '\0')
        fail(t, "%s must be a string", key);
    return keep(t, s);
}

int tpl__eval_int(tpl *t, const json_t *props, const char *key, int dflt)
{
    const json_t *v = json_object_get(props, key);
    if (v == NULL)
        return dflt;
    json_t *e = tpl__eval(t, v, 0);
    long long n = dflt;
    if (json_is_integer(e))
        n = json_integer_value(e);
    else if (json_is_string(e))
        n = strtoll(json_string_value(e), NULL, 10);
    json_decref(e);
    return n > 0 && n < INT_MAX ? (int)n : dflt;
}
