/*
 * tpl_opts.c - what the command line adds to a SAM template, checked
 * against it: --parameter-overrides (each key a parameter of the template,
 * each value one of its AllowedValues) and --env-vars (SAM CLI's file:
 * "Parameters" or a function's logical ID, variable names, values as text).
 *
 * Must not: read files (the caller parses the --env-vars file), let a
 * variable the local Lambda owns (lam_env.h) through.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tpl_int.h"

#include "lam_env.h"

#include <string.h>

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
            char *s = tpl__stringify(a);
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
int tpl__load_overrides(tpl *t, const char *s)
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
int tpl__load_env_vars(tpl *t, const json_t *ev)
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
