/*
 * asl_jsonata_tmpl.c - the JSON templates of JSONata fields (Arguments,
 * Output, Assign, Items, ...): every string that is exactly "{% expr %}",
 * at any depth of objects and arrays, is compiled once into an expression;
 * everything else is literal and shared by reference with the definition.
 *
 * Built on the public asl_jsonata.h alone: must not reach into the
 * module's internals (asl_jsonata_int.h). No I/O.
 */
#include "asl_nomem.h"
#include "asl_jsonata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int asl_jsonata_is_expr(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    return n >= 4 && s[0] == '{' && s[1] == '%' && s[n - 2] == '%' && s[n - 1] == '}';
}

/* ======================================================================
 * Templates
 * ==================================================================== */

enum { J_LIT, J_EXPR, J_OBJ, J_ARR };

typedef struct jt {
    int kind;
    json_t *lit;      /* J_LIT: shared with the definition */
    asl_jsonata *e;   /* J_EXPR */
    char *key;        /* key in the parent object */
    char *field;      /* "Output/result" for causes */
    struct jt *kids;
    size_t n;
} jt;

struct asl_jtmpl {
    jt root;
};

static void jt_clear(jt *t)
{
    json_decref(t->lit);
    asl_jsonata_free(t->e);
    free(t->key);
    free(t->field);
    for (size_t i = 0; i < t->n; i++)
        jt_clear(&t->kids[i]);
    free(t->kids);
    memset(t, 0, sizeof *t);
}

static int has_expr(const json_t *v, int depth)
{
    if (depth > ASL_MAX_DEPTH)
        return 0;
    if (asl_jsonata_is_expr(v))
        return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (has_expr(x, depth + 1))
                return 1;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_expr(json_array_get(v, i), depth + 1))
                return 1;
    }
    return 0;
}

static char *join_field(const char *field, const char *key)
{
    size_t n = (field ? strlen(field) + 1 : 0) + strlen(key) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", field ? field : "", field ? "/" : "", key);
    return s;
}

static int jt_compile(jt *t, const json_t *v, const char *field, int depth, char *err, size_t errlen)
{
    if (field && (t->field = strdup(field)) == NULL)
        goto nomem;
    if (depth > ASL_MAX_DEPTH) {
        snprintf(err, errlen, "template nested too deeply");
        return -1;
    }
    if (!has_expr(v, 0)) {
        t->kind = J_LIT;
        t->lit = json_incref((json_t *)v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        char *inner = strndup(s + 2, n - 4), e2[300] = "";
        if (inner == NULL)
            goto nomem;
        t->kind = J_EXPR;
        int rc = asl_jsonata_compile(inner, &t->e, e2, sizeof e2);
        if (rc < 0)
            snprintf(err, errlen, "The field '%s' holds an invalid JSONata expression '%.200s': %s",
                     field ? field : "", inner, e2);
        free(inner);
        return rc;
    }
    if (json_is_object(v)) {
        t->kind = J_OBJ;
        t->kids = calloc(json_object_size(v) ? json_object_size(v) : 1, sizeof *t->kids);
        if (t->kids == NULL)
            goto nomem;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            jt *kid = &t->kids[t->n++];
            char *f = join_field(field, k);
            if (f == NULL || (kid->key = strdup(k)) == NULL) {
                free(f);
                goto nomem;
            }
            int rc = jt_compile(kid, x, f, depth + 1, err, errlen);
            free(f);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    /* array */
    t->kind = J_ARR;
    t->kids = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof *t->kids);
    if (t->kids == NULL)
        goto nomem;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", i);
        char *f = join_field(field, idx);
        if (f == NULL)
            goto nomem;
        int rc = jt_compile(&t->kids[t->n++], json_array_get(v, i), f, depth + 1, err, errlen);
        free(f);
        if (rc < 0)
            return -1;
    }
    return 0;
nomem:
    snprintf(err, errlen, "%s", ASL_NOMEM);
    return -1;
}

int asl_jtmpl_compile_field(const json_t *v, const char *field, asl_jtmpl **out, char *err, size_t errlen)
{
    *out = NULL;
    asl_jtmpl *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, errlen, "%s", ASL_NOMEM);
        return -1;
    }
    if (jt_compile(&t->root, v, field, 0, err, errlen) < 0) {
        asl_jtmpl_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int asl_jtmpl_compile(const json_t *v, asl_jtmpl **out, char *err, size_t errlen)
{
    return asl_jtmpl_compile_field(v, NULL, out, err, errlen);
}

void asl_jtmpl_free(asl_jtmpl *t)
{
    if (t == NULL)
        return;
    jt_clear(&t->root);
    free(t);
}

int asl_jtmpl_is_literal(const asl_jtmpl *t) { return t->root.kind == J_LIT; }

const asl_jsonata *asl_jtmpl_expr(const asl_jtmpl *t) { return t->root.kind == J_EXPR ? t->root.e : NULL; }

static int jt_eval(const jt *t, json_t *states, const asl_scope *scope, json_t **out, asl_err *e)
{
    *out = NULL;
    switch (t->kind) {
    case J_LIT:
        *out = json_incref(t->lit);
        return 0;
    case J_EXPR:
        if (asl_jsonata_eval_field(t->e, t->field, states, scope, out, e) < 0)
            return -1;
        if (*out == NULL) {
            asl_jsonata_err_undefined(t->e, t->field, e);
            return -1;
        }
        return 0;
    case J_OBJ: {
        json_t *o = json_object();
        if (o == NULL)
            goto nomem;
        for (size_t i = 0; i < t->n; i++) {
            json_t *x;
            if (jt_eval(&t->kids[i], states, scope, &x, e) < 0) {
                json_decref(o);
                return -1;
            }
            if (json_object_set_new(o, t->kids[i].key, x) < 0) {
                json_decref(o);
                goto nomem;
            }
        }
        *out = o;
        return 0;
    }
    default: {
        json_t *a = json_array();
        if (a == NULL)
            goto nomem;
        for (size_t i = 0; i < t->n; i++) {
            json_t *x;
            if (jt_eval(&t->kids[i], states, scope, &x, e) < 0) {
                json_decref(a);
                return -1;
            }
            if (json_array_append_new(a, x) < 0) {
                json_decref(a);
                goto nomem;
            }
        }
        *out = a;
        return 0;
    }
    }
nomem:
    asl_err_set(e, "States.Runtime", "%s", ASL_NOMEM);
    return -1;
}

int asl_jtmpl_eval(const asl_jtmpl *t, json_t *states, const asl_scope *scope, json_t **out, asl_err *e)
{
    return jt_eval(&t->root, states, scope, out, e);
}
