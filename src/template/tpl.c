/*
 * tpl.c - SAM template loader (see tpl.h).
 *
 * Two passes: YAML -> JSON with the short-form tags rewritten to their long
 * forms (the same tree CloudFormation would see from a JSON template), then
 * the resources sfnd provides are read with their intrinsics evaluated
 * against the local names. Evaluation is bounded in depth, so a template
 * cannot make us recurse forever.
 *
 * Must not: start anything, write anything, read files other than the
 * template and the DefinitionUri files it names.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl.h"

#include "lam_env.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define TPL_MAX_DEPTH 64
#define TPL_MAX_FILE (4 * 1024 * 1024)

enum res_kind { R_OTHER = 0, R_FUNCTION, R_STATE_MACHINE, R_TABLE, R_TOPIC };

typedef struct res {
    const char *logical_id;
    const char *type;
    enum res_kind kind;
    const char *name;
    const char *arn;
    json_t *props; /* borrowed from the template tree (Globals merged for functions) */
} res;

struct tpl {
    json_t *root;
    char *dir;
    char *path;
    const char *region;
    const char *account;
    const char *stack;
    char **strs;
    size_t nstrs, capstrs;
    res *res;
    size_t nres;
    tpl_function *fns;
    size_t nfns;
    tpl_state_machine *sms;
    size_t nsms;
    tpl_table *tables;
    size_t ntables;
    tpl_topic *topics;
    size_t ntopics;
    json_t *overrides; /* parameter name -> string value */
    json_t *env_vars;  /* --env-vars, checked: "Parameters" or a function's logical ID
                          -> {name: string value}; NULL: none */
    const char **unsupported;
    size_t nunsupported;
    json_t *owned; /* array holding the evaluated definitions and merged props */
    char err[512];
};

/* ---- small helpers ------------------------------------------------------ */
static const char *keep(tpl *t, char *s)
{
    if (s == NULL)
        return NULL;
    if (t->nstrs == t->capstrs) {
        size_t cap = t->capstrs ? t->capstrs * 2 : 32;
        char **n = realloc(t->strs, cap * sizeof *n);
        if (n == NULL) {
            free(s);
            return NULL;
        }
        t->strs = n;
        t->capstrs = cap;
    }
    t->strs[t->nstrs++] = s;
    return s;
}

static const char *keepf(tpl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *keepf(tpl *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return keep(t, s);
}

static int fail(tpl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(tpl *t, const char *fmt, ...)
{
    if (t->err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->err, sizeof t->err, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- YAML -> JSON ------------------------------------------------------- */
static int is_int(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p == '\0')
        return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return strlen(s) < 19;
}

static int is_float(const char *s)
{
    const char *p = s;
    int digits = 0, dot = 0;
    if (*p == '-' || *p == '+')
        p++;
    for (; *p; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.' && !dot)
            dot = 1;
        else if ((*p == 'e' || *p == 'E') && digits) {
            p++;
            if (*p == '-' || *p == '+')
                p++;
            if (*p == '\0')
                return 0;
            for (; *p; p++)
                if (*p < '0' || *p > '9')
                    return 0;
            return 1;
        } else
            return 0;
    }
    return digits > 0 && dot;
}

static json_t *plain_scalar(const char *v)
{
    if (!strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
        !strcmp(v, "NULL"))
        return json_null();
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
        return json_true();
    if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
        return json_false();
    if (is_int(v))
        return json_integer(strtoll(v, NULL, 10));
    if (is_float(v))
        return json_real(strtod(v, NULL));
    return json_string(v);
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, char *err,
                            size_t errlen);

static json_t *wrap_tag(const char *tag, json_t *v, yaml_node_t *n)
{
    if (v == NULL)
        return NULL;
    const char *name = tag + 1;
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(v);
        return NULL;
    }
    if (!strcmp(name, "Ref")) {
        json_object_set_new(o, "Ref", v);
    } else if (!strcmp(name, "Condition")) {
        json_object_set_new(o, "Condition", v);
    } else if (!strcmp(name, "GetAtt") && json_is_string(v)) {
        /* !GetAtt A.B.C -> ["A", "B.C"]: the logical ID never has a dot */
        const char *s = json_string_value(v);
        const char *dot = strchr(s, '.');
        json_t *a = json_array();
        if (dot) {
            json_array_append_new(a, json_stringn(s, (size_t)(dot - s)));
            json_array_append_new(a, json_string(dot + 1));
        } else {
            json_array_append_new(a, json_string(s));
        }
        json_decref(v);
        json_object_set_new(o, "Fn::GetAtt", a);
    } else {
        char key[64];
        snprintf(key, sizeof key, "Fn::%s", name);
        json_object_set_new(o, key, v);
    }
    (void)n;
    return o;
}

static json_t *node_to_json(yaml_document_t *doc, yaml_node_t *n, int depth, char *err,
                            size_t errlen)
{
    if (n == NULL || depth > TPL_MAX_DEPTH) {
        snprintf(err, errlen, "line %lu: nesting too deep",
                 n ? (unsigned long)n->start_mark.line + 1 : 0UL);
        return NULL;
    }
    const char *tag = (const char *)n->tag;
    int local_tag = tag && tag[0] == '!' && tag[1] != '\0' && tag[1] != '!';
    json_t *v = NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = (const char *)n->data.scalar.value;
        if (strlen(s) != n->data.scalar.length) {
            snprintf(err, errlen, "line %lu: NUL in scalar", (unsigned long)n->start_mark.line + 1);
            return NULL;
        }
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !local_tag &&
            (tag == NULL || !strcmp(tag, YAML_DEFAULT_SCALAR_TAG)))
            v = plain_scalar(s);
        else
            v = json_string(s);
        if (v == NULL)
            snprintf(err, errlen, "line %lu: invalid scalar (not UTF-8?)",
                     (unsigned long)n->start_mark.line + 1);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        v = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start;
             v && it < n->data.sequence.items.top; it++) {
            json_t *c = node_to_json(doc, yaml_document_get_node(doc, *it), depth + 1, err, errlen);
            if (c == NULL || json_array_append_new(v, c) != 0) {
                json_decref(v);
                return NULL;
            }
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        v = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             v && p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k == NULL || k->type != YAML_SCALAR_NODE) {
                snprintf(err, errlen, "line %lu: mapping key is not a scalar",
                         (unsigned long)n->start_mark.line + 1);
                json_decref(v);
                return NULL;
            }
            json_t *c = node_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1, err,
                                     errlen);
            if (c == NULL || json_object_set_new(v, (const char *)k->data.scalar.value, c) != 0) {
                json_decref(v);
                return NULL;
            }
        }
        break;
    }
    default:
        snprintf(err, errlen, "empty YAML node");
        return NULL;
    }
    if (v == NULL)
        return NULL;
    return local_tag ? wrap_tag(tag, v, n) : v;
}

json_t *tpl_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    json_t *out = NULL;
    err[0] = '\0';
    if (!yaml_parser_initialize(&parser)) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        goto out_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL)
        snprintf(err, errlen, "empty document");
    else
        out = node_to_json(&doc, root, 0, err, errlen);
    yaml_document_delete(&doc);
out_parser:
    yaml_parser_delete(&parser);
    return out;
}

/* ---- intrinsic evaluation ----------------------------------------------- */
static const res *res_find(const tpl *t, const char *id)
{
    for (size_t i = 0; i < t->nres; i++)
        if (!strcmp(t->res[i].logical_id, id))
            return &t->res[i];
    return NULL;
}

/* The string form CloudFormation uses when a value lands in a string. */
static char *stringify(const json_t *v)
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

static json_t *eval(tpl *t, const json_t *v, int depth);

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
        return json_string(r->arn);
    case R_FUNCTION:
    case R_TABLE:
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
                val = eval(t, vv, depth + 1);
            } else if (strchr(name, '.') && strncmp(name, "AWS::", 5) != 0) {
                char *dot = strchr(name, '.');
                *dot = '\0';
                val = getatt(t, name, dot + 1);
            } else {
                val = ref(t, name);
            }
            char *str = val ? stringify(val) : NULL;
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
    json_t *e = eval(t, v, depth + 1);
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
    return eval(t, c, depth + 1);
}

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
    if (!strcmp(key, "Fn::GetAtt")) {
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
    if (!strcmp(key, "Fn::Sub"))
        return sub(t, arg, depth);
    if (!strcmp(key, "Fn::Join")) {
        const json_t *d = json_array_get(arg, 0);
        json_t *list = eval(t, json_array_get(arg, 1), depth + 1);
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
            char *s = stringify(item);
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
        return eval(t, json_array_get(arg, yes ? 1 : 2), depth + 1);
    }
    if (!strcmp(key, "Fn::Equals")) {
        json_t *a = eval(t, json_array_get(arg, 0), depth + 1);
        json_t *b = eval(t, json_array_get(arg, 1), depth + 1);
        char *sa = a ? stringify(a) : NULL, *sb = b ? stringify(b) : NULL;
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
    if (!strcmp(key, "Fn::Select")) {
        json_t *idx = eval(t, json_array_get(arg, 0), depth + 1);
        json_t *list = eval(t, json_array_get(arg, 1), depth + 1);
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
    if (!strcmp(key, "Fn::Split")) {
        const json_t *d = json_array_get(arg, 0);
        json_t *s = eval(t, json_array_get(arg, 1), depth + 1);
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
    if (!strcmp(key, "Fn::FindInMap")) {
        json_t *a = eval(t, arg, depth + 1);
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
static json_t *eval(tpl *t, const json_t *v, int depth)
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
            json_t *e = eval(t, c, depth + 1);
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
            json_t *e = eval(t, c, depth + 1);
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
static const char *eval_str(tpl *t, const json_t *props, const char *key)
{
    const json_t *v = json_object_get(props, key);
    if (v == NULL)
        return NULL;
    json_t *e = eval(t, v, 0);
    char *s = e ? stringify(e) : NULL;
    json_decref(e);
    if (s == NULL && t->err[0] == '\0')
        fail(t, "%s must be a string", key);
    return keep(t, s);
}

static int eval_int(tpl *t, const json_t *props, const char *key, int dflt)
{
    const json_t *v = json_object_get(props, key);
    if (v == NULL)
        return dflt;
    json_t *e = eval(t, v, 0);
    long long n = dflt;
    if (json_is_integer(e))
        n = json_integer_value(e);
    else if (json_is_string(e))
        n = strtoll(json_string_value(e), NULL, 10);
    json_decref(e);
    return n > 0 && n < INT_MAX ? (int)n : dflt;
}

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

static const char *find_bootstrap(tpl *t, const char *bin_dir, const char *id)
{
    char path[PATH_MAX];
    const char *cands[3][2] = {{bin_dir, "functions"}, {t->dir, "build"},
                               {t->dir, ".aws-sam/build"}};
    for (int i = 0; i < 3; i++) {
        if (cands[i][0] == NULL)
            continue;
        snprintf(path, sizeof path, "%s/%s/%s/bootstrap", cands[i][0], cands[i][1], id);
        if (access(path, X_OK) == 0) {
            char *rp = realpath(path, NULL);
            return keep(t, rp ? rp : strdup(path));
        }
    }
    return NULL;
}

static int load_function(tpl *t, const tpl_opts *o, res *r)
{
    tpl_function *f = &t->fns[t->nfns++];
    f->logical_id = r->logical_id;
    f->name = r->name;
    f->arn = r->arn;
    f->bootstrap = find_bootstrap(t, o->bin_dir, r->logical_id);
    f->handler = eval_str(t, r->props, "Handler");
    if (f->handler == NULL)
        f->handler = "bootstrap";
    f->runtime = eval_str(t, r->props, "Runtime");
    f->timeout_s = eval_int(t, r->props, "Timeout", 3);
    f->memory_mb = eval_int(t, r->props, "MemorySize", 128);
    if (t->err[0])
        return -EINVAL;

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
        vars = eval(t, json_object_get(env, "Variables"), 0);
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
        char *s = stringify(v);
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
 * Input as JSON text, InputPath. A rule on another bus than the default
 * one never sees Step Functions' events: it is listed as not provided,
 * like the other event types. */
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
        const char *bus = eval_str(t, props, "EventBusName");
        const char *state = eval_str(t, props, "State");
        const json_t *enabled = json_object_get(props, "Enabled");
        if (t->err[0])
            return fail(t, "Resources.%s.Events.%s: %s", r->logical_id, id, t->err);
        if ((bus && strcmp(bus, "default") != 0)) {
            t->unsupported[t->nunsupported++] =
                keepf(t, "%s.Events.%s (EventBridgeRule on bus %s)", r->logical_id, id, bus);
            continue;
        }
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
        json_t *pattern = eval(t, pin, 0);
        if (pattern == NULL || !json_is_object(pattern)) {
            json_decref(pattern);
            return fail(t, "Resources.%s.Events.%s.Pattern: %s", r->logical_id, id,
                        t->err[0] ? t->err : "must be a map");
        }
        json_array_append_new(t->owned, pattern);
        tpl_rule *ru = &rules[m->nrules];
        ru->id = id;
        ru->pattern = pattern;
        ru->input = eval_str(t, props, "Input");
        ru->input_path = eval_str(t, props, "InputPath");
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

static int load_state_machine(tpl *t, res *r)
{
    tpl_state_machine *m = &t->sms[t->nsms++];
    m->logical_id = r->logical_id;
    m->name = r->name;
    m->arn = r->arn;
    const char *type = eval_str(t, r->props, "Type");
    m->type = type && !strcmp(type, "EXPRESS") ? 1 : 0;
    if (type && strcmp(type, "EXPRESS") && strcmp(type, "STANDARD"))
        return fail(t, "Resources.%s.Type: must be STANDARD or EXPRESS", r->logical_id);
    m->role_arn = eval_str(t, r->props, "Role");
    if (m->role_arn == NULL)
        m->role_arn = keepf(t, "arn:aws:iam::%s:role/%sRole", t->account, r->logical_id);

    json_t *def = NULL;
    const json_t *inl = json_object_get(r->props, "Definition");
    const json_t *uri = json_object_get(r->props, "DefinitionUri");
    if (inl != NULL) {
        def = eval(t, inl, 0);
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
        json_t *subs = eval(t, subs_in, 0);
        if (!json_is_object(subs)) {
            json_decref(subs);
            json_decref(def);
            return fail(t, "Resources.%s.DefinitionSubstitutions: %s", r->logical_id,
                        t->err[0] ? t->err : "must be a map");
        }
        const char *k;
        json_t *v;
        json_object_foreach(subs, k, v) {
            char *s = stringify(v);
            if (s == NULL) {
                json_decref(subs);
                json_decref(def);
                return fail(t, "DefinitionSubstitutions.%s is not a string", k);
            }
            json_object_set_new(subs, k, json_string(s));
            free(s);
        }
        json_t *d2 = substitute(t, def, subs, 0);
        json_decref(subs);
        json_decref(def);
        def = d2;
        if (def == NULL)
            return fail(t, "Resources.%s: substitution failed", r->logical_id);
    }
    json_array_append_new(t->owned, def);
    m->definition = def;
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

/* One override: the parameter must exist and, when it lists AllowedValues,
 * the value must be one of them (compared as strings, as CloudFormation
 * passes parameters). */
static int override_one(tpl *t, const char *key, size_t klen, const char *val, size_t vlen)
{
    char *k = strndup(key, klen);
    char *v = strndup(val, vlen);
    int rc = -ENOMEM;
    if (k == NULL || v == NULL)
        goto out;
    json_t *p = json_object_get(json_object_get(t->root, "Parameters"), k);
    if (!json_is_object(p)) {
        rc = fail(t, "--parameter-overrides: the template has no parameter '%s'", k);
        goto out;
    }
    const json_t *allowed = json_object_get(p, "AllowedValues");
    if (json_is_array(allowed)) {
        size_t i;
        const json_t *a;
        int ok = 0;
        json_array_foreach(allowed, i, a) {
            char *s = stringify(a);
            ok = ok || (s && !strcmp(s, v));
            free(s);
        }
        if (!ok) {
            char *list = json_dumps(allowed, JSON_COMPACT);
            rc = fail(t, "--parameter-overrides: parameter '%s': value '%s' is not one of the "
                         "AllowedValues %s",
                      k, v, list ? list : "");
            free(list);
            goto out;
        }
    }
    rc = json_object_set_new(t->overrides, k, json_string(v)) == 0 ? 0 : -ENOMEM;
out:
    free(k);
    free(v);
    return rc;
}

/* "Key=Value Key2=Value2" or "ParameterKey=K,ParameterValue=V ...":
 * tokens separated by white space; a value may be "double-quoted" to hold
 * spaces. */
static int load_overrides(tpl *t, const char *s)
{
    t->overrides = json_object();
    if (t->overrides == NULL)
        return -ENOMEM;
    if (s == NULL)
        return 0;
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (*p == '\0')
            return 0;
        const char *tok = p;
        int q = 0;
        while (*p && (q || (*p != ' ' && *p != '\t' && *p != '\n'))) {
            if (*p == '"')
                q = !q;
            p++;
        }
        size_t n = (size_t)(p - tok);
        const char *key = tok, *val;
        size_t klen, vlen;
        if (n > 13 && !strncmp(tok, "ParameterKey=", 13)) {
            key = tok + 13;
            const char *c = memchr(key, ',', (size_t)(p - key));
            if (c == NULL || (size_t)(p - c) < 16 || strncmp(c + 1, "ParameterValue=", 15) != 0)
                return fail(t, "--parameter-overrides: '%.*s': expected "
                               "ParameterKey=K,ParameterValue=V",
                            (int)n, tok);
            klen = (size_t)(c - key);
            val = c + 16;
        } else {
            const char *eq = memchr(tok, '=', n);
            if (eq == NULL || eq == tok)
                return fail(t, "--parameter-overrides: '%.*s': expected Key=Value", (int)n, tok);
            klen = (size_t)(eq - tok);
            val = eq + 1;
        }
        vlen = (size_t)(p - val);
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
            val++;
            vlen -= 2;
        }
        int rc = override_one(t, key, klen, val, vlen);
        if (rc != 0)
            return rc;
    }
}

/* A --env-vars number as SAM CLI writes it (Python's str()): the shortest
 * text that reads back the same, "100.0" rather than "1e+02", exponent
 * form below 1e-4 and from 1e16 on. */
static void real_text(double d, char *buf, size_t len)
{
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, len, "%.*e", p - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    snprintf(buf, len, "%.*e", p - 1, d);
    const char *e = strchr(buf, 'e');
    int exp = e ? atoi(e + 1) : 0;
    if (exp < -4 || exp >= 16)
        return;
    int decimals = p - 1 - exp;
    snprintf(buf, len, "%.*f", decimals < 1 ? 1 : decimals, d);
}

static int env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static const char *const LAM_OWNED[] = {LAM_OWNED_ENV_NAMES, NULL};

/* One entry of --env-vars: {name: value} checked into {name: "text"}. */
static int env_vars_one(tpl *t, const char *key, json_t *vars, json_t *out)
{
    if (!json_is_object(vars))
        return fail(t, "--env-vars: '%s' must be an object of variables", key);
    const char *name;
    json_t *v;
    json_object_foreach(vars, name, v) {
        if (!env_name_ok(name))
            return fail(t, "--env-vars: %s.%s: a variable name must match [A-Za-z_][A-Za-z0-9_]*",
                        key, name);
        for (int i = 0; LAM_OWNED[i]; i++)
            if (!strcmp(LAM_OWNED[i], name))
                return fail(t, "--env-vars: %s.%s: sfnd sets this variable for the Lambda "
                               "Runtime API; it cannot be overridden",
                            key, name);
        char num[40];
        const char *text = NULL;
        switch (json_typeof(v)) {
        case JSON_STRING:
            text = json_string_value(v);
            if (strlen(text) != json_string_length(v))
                return fail(t, "--env-vars: %s.%s: the value holds a NUL character", key, name);
            break;
        case JSON_INTEGER:
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            text = num;
            break;
        case JSON_REAL:
            real_text(json_real_value(v), num, sizeof num);
            text = num;
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            text = json_is_true(v) ? "true" : "false";
            break;
        default:
            return fail(t, "--env-vars: %s.%s: the value must be a string, a number or a "
                           "boolean, not %s",
                        key, name,
                        json_is_null(v) ? "null" : json_is_object(v) ? "an object" : "an array");
        }
        if (json_object_set_new(out, name, json_string(text)) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* SAM CLI's --env-vars: "Parameters" for every function, a function's
 * logical ID for that function. A key naming no function is refused: a
 * typo must not pass silently. */
static int load_env_vars(tpl *t, const json_t *ev)
{
    if (ev == NULL)
        return 0;
    if (!json_is_object(ev))
        return fail(t, "--env-vars: the file must hold a JSON object");
    json_t *resources = json_object_get(t->root, "Resources");
    if (!json_is_object(resources))
        return 0; /* load_resources says so */
    t->env_vars = json_object();
    if (t->env_vars == NULL)
        return -ENOMEM;
    const char *key;
    json_t *vars;
    json_object_foreach((json_t *)ev, key, vars) {
        if (strcmp(key, "Parameters") != 0) {
            const char *type =
                json_string_value(json_object_get(json_object_get(resources, key), "Type"));
            if (type == NULL || strcmp(type, "AWS::Serverless::Function") != 0) {
                char fns[256] = "";
                size_t used = 0;
                const char *id;
                json_t *rv;
                json_object_foreach(resources, id, rv) {
                    const char *ty = json_string_value(json_object_get(rv, "Type"));
                    if (ty && !strcmp(ty, "AWS::Serverless::Function") && used < sizeof fns) {
                        int w = snprintf(fns + used, sizeof fns - used, "%s%s", used ? ", " : "",
                                         id);
                        used += w > 0 ? (size_t)w : 0;
                    }
                }
                return fail(t, "--env-vars: '%s' is neither Parameters nor the logical ID of a "
                               "function of the template (%s%s)",
                            key, used ? "its functions: " : "it has no functions", fns);
            }
        }
        json_t *out = json_object();
        if (out == NULL || json_object_set_new(t->env_vars, key, out) != 0)
            return -ENOMEM;
        int rc = env_vars_one(t, key, vars, out);
        if (rc != 0)
            return rc;
    }
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
    /* one slot per resource, plus one per state machine event */
    size_t nu = n + 1;
    const char *id;
    json_t *rv;
    json_object_foreach(resources, id, rv)
        nu += json_object_size(json_object_get(json_object_get(rv, "Properties"), "Events"));
    t->unsupported = calloc(nu, sizeof *t->unsupported);
    if (!t->res || !t->fns || !t->sms || !t->tables || !t->topics || !t->unsupported)
        return -ENOMEM;

    /* Pass 1: names and ARNs, so that any Ref/GetAtt can be answered. A
     * literal name property is used as is; a computed one is evaluated in
     * pass 2 (it may refer to other resources' names). */
    json_object_foreach(resources, id, rv) {
        if (!alnum(id))
            return fail(t, "Resources: logical ID '%s' must be alphanumeric (A-Za-z0-9)", id);
        res *r = &t->res[t->nres++];
        r->logical_id = id;
        r->type = json_string_value(json_object_get(rv, "Type"));
        if (r->type == NULL)
            return fail(t, "Resources.%s: no Type", id);
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
        } else if (!strcmp(r->type, "AWS::SNS::Topic")) {
            r->kind = R_TOPIC;
            name_key = "TopicName";
        }
        r->props = props;
        const json_t *nv = name_key ? json_object_get(props, name_key) : NULL;
        r->name = json_is_string(nv) ? json_string_value(nv) : id;
    }
    for (size_t i = 0; i < t->nres; i++) {
        res *r = &t->res[i];
        const char *key = r->kind == R_FUNCTION        ? "FunctionName"
                          : r->kind == R_STATE_MACHINE ? "Name"
                          : r->kind == R_TABLE         ? "TableName"
                          : r->kind == R_TOPIC         ? "TopicName"
                                                       : NULL;
        const json_t *nv = key ? json_object_get(r->props, key) : NULL;
        if (nv && !json_is_string(nv)) {
            r->name = eval_str(t, r->props, key);
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
    rc = load_env_vars(t, o->env_vars);
    if (rc != 0) {
        snprintf(err, errlen, "%s", t->err[0] ? t->err : "out of memory");
        goto fail_tpl;
    }
    rc = load_overrides(t, o->parameter_overrides);
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
const tpl_function *tpl_function_at(const tpl *t, size_t i) { return i < t->nfns ? &t->fns[i] : NULL; }
size_t tpl_state_machine_count(const tpl *t) { return t->nsms; }
const tpl_state_machine *tpl_state_machine_at(const tpl *t, size_t i)
{
    return i < t->nsms ? &t->sms[i] : NULL;
}
size_t tpl_topic_count(const tpl *t) { return t->ntopics; }
const tpl_topic *tpl_topic_at(const tpl *t, size_t i) { return i < t->ntopics ? &t->topics[i] : NULL; }
size_t tpl_table_count(const tpl *t) { return t->ntables; }
const tpl_table *tpl_table_at(const tpl *t, size_t i) { return i < t->ntables ? &t->tables[i] : NULL; }
size_t tpl_unsupported_count(const tpl *t) { return t->nunsupported; }
const char *tpl_unsupported_at(const tpl *t, size_t i)
{
    return i < t->nunsupported ? t->unsupported[i] : NULL;
}
