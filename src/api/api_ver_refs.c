/*
 * api_ver_refs.c - "variableReferences" of DescribeStateMachine and
 * DescribeStateMachineForExecution: for each state (nested ones too) the
 * variables it refers to, sorted, each once; states that refer to none
 * are left out, and so is the member when no state refers to any (AWS's
 * API reference).
 *
 * Where a reference can be: in JSONPath, a path value ("...Path" fields,
 * Choice's Variable, and the values of keys ending in ".$") that starts
 * with "$name", or an intrinsic function's "$name" argument; in JSONata,
 * "$name" inside a {% %} expression that is not a function call and not
 * $states.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "api_int.h"

#include <stdlib.h>
#include <string.h>

static int ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

static void add(json_t *names, const char *s, size_t n)
{
    char *k = strndup(s, n);
    if (k && strcmp(k, "states") != 0)
        json_object_set_new(names, k, json_true());
    free(k);
}

/* Every "$name" of s outside quoted strings; jsonata: skip function calls. */
static void scan(json_t *names, const char *s, int jsonata)
{
    char quote = 0;
    for (const char *p = s; *p; p++) {
        if (quote) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == quote)
                quote = 0;
            continue;
        }
        if (*p == '\'' || (jsonata && *p == '"')) {
            quote = *p;
            continue;
        }
        if (*p != '$' || !ident_start(p[1]))
            continue;
        const char *q = p + 1;
        while (ident_char(*q))
            q++;
        const char *r = q;
        while (*r == ' ')
            r++;
        if (!(jsonata && *r == '('))
            add(names, p + 1, (size_t)(q - p - 1));
        p = q - 1;
    }
}

static int is_path_key(const char *k)
{
    size_t n = strlen(k);
    return (n >= 2 && !strcmp(k + n - 2, ".$")) || (n > 4 && !strcmp(k + n - 4, "Path")) ||
           !strcmp(k, "Variable");
}

static void walk_value(json_t *names, const char *key, const json_t *v, int in_path);

static void walk_string(json_t *names, const char *key, const char *s, int in_path)
{
    size_t n = strlen(s);
    if (n >= 4 && !strncmp(s, "{%", 2) && !strcmp(s + n - 2, "%}")) {
        scan(names, s, 1);
        return;
    }
    if (!in_path && !(key && is_path_key(key)))
        return;
    if (!strncmp(s, "States.", 7)) {
        scan(names, s, 0);
        return;
    }
    if (s[0] == '$' && ident_start(s[1])) {
        const char *q = s + 1;
        while (ident_char(*q))
            q++;
        add(names, s + 1, (size_t)(q - s - 1));
    }
}

static void walk_value(json_t *names, const char *key, const json_t *v, int in_path)
{
    if (json_is_string(v)) {
        walk_string(names, key, json_string_value(v), in_path);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *it;
        json_array_foreach(v, i, it)
            walk_value(names, key, it, in_path);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *it;
        json_object_foreach((json_t *)v, k, it)
            walk_value(names, k, it, 0);
    }
}

static void walk_states(json_t *refs, const json_t *states);

/* One state: its own fields, then the states nested in it (walked as
 * states of their own). */
static void walk_state(json_t *refs, const char *name, const json_t *st)
{
    json_t *names = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)st, k, v) {
        if (!strcmp(k, "Iterator") || !strcmp(k, "ItemProcessor")) {
            walk_states(refs, json_object_get(v, "States"));
        } else if (!strcmp(k, "Branches")) {
            size_t i;
            json_t *b;
            json_array_foreach(v, i, b)
                walk_states(refs, json_object_get(b, "States"));
        } else if (strcmp(k, "Comment") != 0) {
            walk_value(names, k, v, 0);
        }
    }
    if (json_object_size(names) > 0) {
        json_t *keys = json_array();
        const char *n;
        json_t *t;
        json_object_foreach(names, n, t)
            json_array_append_new(keys, json_string(n));
        /* sorted, as AWS lists them */
        size_t cnt = json_array_size(keys);
        for (size_t i = 1; i < cnt; i++)
            for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(keys, j - 1)),
                                               json_string_value(json_array_get(keys, j))) > 0;
                 j--) {
                json_t *a = json_incref(json_array_get(keys, j - 1));
                json_array_set(keys, j - 1, json_array_get(keys, j));
                json_array_set_new(keys, j, a);
            }
        json_object_set_new(refs, name, keys);
    }
    json_decref(names);
}

static void walk_states(json_t *refs, const json_t *states)
{
    const char *name;
    json_t *st;
    if (!json_is_object(states))
        return;
    json_object_foreach((json_t *)states, name, st)
        if (json_is_object(st))
            walk_state(refs, name, st);
}

void api__ver_variable_refs(json_t *o, const char *definition)
{
    if (o == NULL || definition == NULL || strchr(definition, '$') == NULL)
        return;
    json_error_t je;
    json_t *d = json_loads(definition, 0, &je);
    if (d == NULL)
        return;
    json_t *refs = json_object();
    walk_states(refs, json_object_get(d, "States"));
    if (json_object_size(refs) > 0)
        json_object_set_new(o, "variableReferences", refs);
    else
        json_decref(refs);
    json_decref(d);
}
