/*
 * evpattern.c - EventBridge event pattern matching (see evpattern.h).
 *
 * Must not: allocate, log, or know where events come from.
 */
#include "evpattern.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EVP_MAX_DEPTH 32

static int is_filter(const json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 1;
}

static int numeric_ok(const json_t *spec, double x)
{
    size_t n = json_array_size(spec);
    for (size_t i = 0; i + 1 < n; i += 2) {
        const char *op = json_string_value(json_array_get(spec, i));
        double y = json_number_value(json_array_get(spec, i + 1));
        int ok = !strcmp(op, "=")    ? x == y
                 : !strcmp(op, "<")  ? x < y
                 : !strcmp(op, "<=") ? x <= y
                 : !strcmp(op, ">")  ? x > y
                 : !strcmp(op, ">=") ? x >= y
                                     : 0;
        if (!ok)
            return 0;
    }
    return 1;
}

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int ends(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);
    return n >= m && strcmp(s + n - m, p) == 0;
}

/* An exact value: strings, booleans and null by equality, numbers by value. */
static int same(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b);
    return json_equal((json_t *)a, (json_t *)b);
}

static int anything_but(const json_t *spec, const json_t *v)
{
    if (json_is_object(spec)) {
        const char *p = json_string_value(json_object_get(spec, "prefix"));
        const char *s = json_string_value(json_object_get(spec, "suffix"));
        if (!json_is_string(v))
            return 0;
        if (p)
            return !starts(json_string_value(v), p);
        if (s)
            return !ends(json_string_value(v), s);
        return 0;
    }
    if (json_is_array(spec)) {
        size_t i;
        const json_t *x;
        json_array_foreach(spec, i, x) if (same(x, v)) return 0;
        return 1;
    }
    return !same(spec, v);
}

/* One alternative against one present, non-array value. */
static int alt_match(const json_t *alt, const json_t *v)
{
    if (!is_filter(alt))
        return same(alt, v);
    const char *k = json_object_iter_key(json_object_iter((json_t *)alt));
    const json_t *a = json_object_iter_value(json_object_iter((json_t *)alt));
    if (!strcmp(k, "prefix"))
        return json_is_string(v) && json_is_string(a) &&
               starts(json_string_value(v), json_string_value(a));
    if (!strcmp(k, "suffix"))
        return json_is_string(v) && json_is_string(a) &&
               ends(json_string_value(v), json_string_value(a));
    if (!strcmp(k, "equals-ignore-case"))
        return json_is_string(v) && json_is_string(a) &&
               strcasecmp(json_string_value(v), json_string_value(a)) == 0;
    if (!strcmp(k, "anything-but"))
        return anything_but(a, v);
    if (!strcmp(k, "numeric"))
        return json_is_number(v) && numeric_ok(a, json_number_value(v));
    if (!strcmp(k, "exists"))
        return json_is_true(a);
    return 0;
}

/* A leaf: alternatives against the field's value (NULL: absent). */
static int leaf_match(const json_t *alts, const json_t *v)
{
    size_t i;
    const json_t *alt;
    json_array_foreach(alts, i, alt) {
        if (is_filter(alt) && json_object_get(alt, "exists")) {
            if (json_is_true(json_object_get(alt, "exists")) == (v != NULL))
                return 1;
            continue;
        }
        if (v == NULL)
            continue;
        if (json_is_array(v)) {
            size_t j;
            const json_t *e;
            json_array_foreach(v, j, e) if (alt_match(alt, e)) return 1;
        } else if (alt_match(alt, v)) {
            return 1;
        }
    }
    return 0;
}

static int obj_match(const json_t *pat, const json_t *ev, int depth)
{
    if (depth > EVP_MAX_DEPTH)
        return 0;
    const char *k;
    const json_t *pv;
    json_object_foreach((json_t *)pat, k, pv) {
        const json_t *v = json_is_object(ev) ? json_object_get(ev, k) : NULL;
        if (json_is_object(pv)) {
            if (!obj_match(pv, v, depth + 1))
                return 0;
        } else if (json_is_array(pv)) {
            if (!leaf_match(pv, v))
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

static int check_filter(const json_t *f, char *err, size_t errlen)
{
    const char *k = json_object_iter_key(json_object_iter((json_t *)f));
    const json_t *a = json_object_iter_value(json_object_iter((json_t *)f));
    if (!strcmp(k, "prefix") || !strcmp(k, "suffix") || !strcmp(k, "equals-ignore-case")) {
        if (!json_is_string(a))
            goto bad;
        return 0;
    }
    if (!strcmp(k, "exists")) {
        if (!json_is_boolean(a))
            goto bad;
        return 0;
    }
    if (!strcmp(k, "anything-but")) {
        if (json_is_object(a)) {
            if (json_object_size(a) != 1 ||
                (!json_is_string(json_object_get(a, "prefix")) &&
                 !json_is_string(json_object_get(a, "suffix"))))
                goto bad;
            return 0;
        }
        if (json_is_array(a)) {
            size_t i;
            const json_t *x;
            json_array_foreach(a, i, x) if (json_is_object(x) || json_is_array(x)) goto bad;
        }
        return 0;
    }
    if (!strcmp(k, "numeric")) {
        size_t n = json_array_size(a);
        if (n != 2 && n != 4)
            goto bad;
        for (size_t i = 0; i < n; i += 2) {
            const char *op = json_string_value(json_array_get(a, i));
            if (op == NULL || !json_is_number(json_array_get(a, i + 1)) ||
                (strcmp(op, "=") && strcmp(op, "<") && strcmp(op, "<=") && strcmp(op, ">") &&
                 strcmp(op, ">=")))
                goto bad;
        }
        return 0;
    }
    snprintf(err, errlen, "unsupported filter \"%s\"", k);
    return -1;
bad:
    snprintf(err, errlen, "bad \"%s\" filter", k);
    return -1;
}

static int check_obj(const json_t *p, int depth, char *err, size_t errlen)
{
    if (!json_is_object(p)) {
        snprintf(err, errlen, "a pattern must be an object");
        return -1;
    }
    if (depth > EVP_MAX_DEPTH) {
        snprintf(err, errlen, "pattern nested too deep");
        return -1;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)p, k, v) {
        if (!strcmp(k, "$or")) {
            snprintf(err, errlen, "\"$or\" is not supported locally");
            return -1;
        }
        if (json_is_object(v)) {
            if (check_obj(v, depth + 1, err, errlen))
                return -1;
            continue;
        }
        if (!json_is_array(v)) {
            snprintf(err, errlen, "\"%s\": a match value must be in an array", k);
            return -1;
        }
        size_t i;
        const json_t *alt;
        json_array_foreach(v, i, alt) {
            if (json_is_array(alt) || (json_is_object(alt) && json_object_size(alt) != 1)) {
                snprintf(err, errlen, "\"%s\": bad match value", k);
                return -1;
            }
            if (json_is_object(alt) && check_filter(alt, err, errlen))
                return -1;
        }
    }
    return 0;
}

int evpattern_check(const json_t *pattern, char *err, size_t errlen)
{
    return check_obj(pattern, 0, err, errlen);
}

int evpattern_match(const json_t *pattern, const json_t *event)
{
    char err[8];
    if (check_obj(pattern, 0, err, sizeof err) != 0)
        return 0;
    return obj_match(pattern, event, 0);
}
