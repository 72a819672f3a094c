/*
 * asl_tmpl.c - payload templates (Parameters, ResultSelector, ItemSelector,
 * Assign in JSONPath states): compiled once into a tree whose dynamic
 * leaves are compiled paths or intrinsic calls; every subtree without a
 * ".$" key is kept as one literal shared by reference. Evaluation builds
 * only the objects/arrays that contain dynamic leaves. No I/O.
 */
#include "asl_nomem.h"
#include "asl_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In asl_intrinsic.c; belongs in asl_int.h. */

enum tkind { T_LIT, T_PATH, T_INTR, T_OBJ, T_ARR };

typedef struct tnode {
    int kind;
    json_t *lit;        /* T_LIT: shared with the definition */
    asl_path *path;     /* T_PATH */
    asl_intrinsic *fn;  /* T_INTR */
    char *key;          /* key in the parent object (".$" dropped) */
    char *field;        /* key as written in the definition, for causes */
    struct tnode *kids; /* T_OBJ / T_ARR */
    size_t n;
} tnode;

struct asl_tmpl {
    tnode root;
};

static void node_clear(tnode *t)
{
    json_decref(t->lit);
    asl_path_free(t->path);
    asl_intrinsic_free(t->fn);
    free(t->key);
    free(t->field);
    for (size_t i = 0; i < t->n; i++)
        node_clear(&t->kids[i]);
    free(t->kids);
    memset(t, 0, sizeof *t);
}

void asl_tmpl_free(asl_tmpl *t)
{
    if (t == NULL)
        return;
    node_clear(&t->root);
    free(t);
}

static int compile_node(const json_t *v, tnode *t, const char *field, int depth, char *err,
                        size_t errlen);

/* A ".$" key's value: a path ($, $$, $var) or an intrinsic call. */
static int compile_dynamic(const char *key, const json_t *v, tnode *t, const char *field,
                           char *err, size_t errlen)
{
    char why[256];
    if (!json_is_string(v)) {
        snprintf(err, errlen,
                 "The value for the field '%s' must be a STRING that contains a JSONPath but was "
                 "not (in %s)",
                 key, field);
        return -1;
    }
    const char *s = json_string_value(v);
    if (asl_is_intrinsic(s)) {
        t->kind = T_INTR;
        if (asl_intrinsic_compile(s, &t->fn, why, sizeof why) < 0) {
            snprintf(err, errlen,
                     "The value for the field '%s' must be a valid JSONPath or a valid intrinsic "
                     "function call (in %s): %s",
                     key, field, why);
            return -1;
        }
        return 0;
    }
    t->kind = T_PATH;
    if (asl_path_compile(s, ASL_PATH_ANY, &t->path, why, sizeof why) < 0) {
        snprintf(err, errlen,
                 "The value for the field '%s' must be a valid JSONPath or a valid intrinsic "
                 "function call (in %s): %s",
                 key, field, why);
        return -1;
    }
    return 0;
}

static int compile_node(const json_t *v, tnode *t, const char *field, int depth, char *err,
                        size_t errlen)
{
    if (depth > ASL_MAX_DEPTH) {
        snprintf(err, errlen, "%s is nested too deep", field);
        return -1;
    }
    size_t n = json_is_object(v) ? json_object_size(v) : json_is_array(v) ? json_array_size(v) : 0;
    if (n == 0) {
        t->kind = T_LIT;
        t->lit = json_incref((json_t *)v);
        return 0;
    }
    t->kind = json_is_object(v) ? T_OBJ : T_ARR;
    t->kids = calloc(n, sizeof *t->kids);
    if (t->kids == NULL) {
        snprintf(err, errlen, "%s", ASL_NOMEM);
        return -1;
    }
    int all_lit = 1;
    if (t->kind == T_OBJ) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            tnode *c = &t->kids[t->n++];
            size_t kl = strlen(k);
            if (kl > 2 && strcmp(k + kl - 2, ".$") == 0) {
                c->key = strndup(k, kl - 2);
                c->field = strdup(k);
                if (c->key == NULL || c->field == NULL) {
                    snprintf(err, errlen, "%s", ASL_NOMEM);
                    return -1;
                }
                if (compile_dynamic(k, x, c, field, err, errlen) < 0)
                    return -1;
                all_lit = 0;
            } else {
                c->key = strdup(k);
                if (c->key == NULL) {
                    snprintf(err, errlen, "%s", ASL_NOMEM);
                    return -1;
                }
                if (compile_node(x, c, field, depth + 1, err, errlen) < 0)
                    return -1;
                all_lit &= c->kind == T_LIT;
            }
        }
    } else {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            tnode *c = &t->kids[t->n++];
            if (compile_node(x, c, field, depth + 1, err, errlen) < 0)
                return -1;
            all_lit &= c->kind == T_LIT;
        }
    }
    if (all_lit) { /* nothing dynamic below: share the definition's value */
        for (size_t i = 0; i < t->n; i++)
            node_clear(&t->kids[i]);
        free(t->kids);
        t->kids = NULL;
        t->n = 0;
        t->kind = T_LIT;
        t->lit = json_incref((json_t *)v);
    }
    return 0;
}

int asl_tmpl_compile(const json_t *tmpl, const char *field, asl_tmpl **out, char *err,
                     size_t errlen)
{
    char dummy[8];
    if (err == NULL || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    if (tmpl == NULL) {
        snprintf(err, errlen, "%s is missing", field ? field : "template");
        return -1;
    }
    asl_tmpl *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, errlen, "%s", ASL_NOMEM);
        return -1;
    }
    if (compile_node(tmpl, &t->root, field ? field : "template", 0, err, errlen) < 0) {
        asl_tmpl_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

static int eval_node(const tnode *t, json_t *input, const asl_scope *scope, json_t **out,
                     asl_err *e)
{
    switch (t->kind) {
    case T_LIT:
        *out = json_incref(t->lit);
        return 0;
    case T_PATH:
        if (asl_path_eval(t->path, input, scope, out) == 0)
            return 0;
        {
            json_t *where = asl_path_is_context(t->path) ? (scope ? scope->context : NULL) : input;
            char *txt = asl_json_text(where);
            asl_err_set(e, "States.Runtime",
                        "The JSONPath '%s' specified for the field '%s' could not be found in the "
                        "input '%s'",
                        asl_path_text(t->path), t->field, txt ? txt : "null");
            free(txt);
        }
        return -1;
    case T_INTR:
        return asl__intrinsic_eval(t->fn, input, scope, t->field, out, e);
    case T_OBJ:
    case T_ARR: {
        /* an object or an array of templates: each evaluated in order */
        int obj = t->kind == T_OBJ;
        json_t *c = obj ? json_object() : json_array();
        if (c == NULL)
            goto oom;
        for (size_t i = 0; i < t->n; i++) {
            json_t *v;
            if (eval_node(&t->kids[i], input, scope, &v, e) < 0) {
                json_decref(c);
                return -1;
            }
            if ((obj ? json_object_set_new(c, t->kids[i].key, v) : json_array_append_new(c, v)) <
                0) {
                json_decref(c);
                goto oom;
            }
        }
        *out = c;
        return 0;
    }
    }
oom:
    asl_err_set(e, "States.Runtime", "out of memory while evaluating a payload template");
    return -1;
}

int asl_tmpl_eval(const asl_tmpl *t, json_t *input, const asl_scope *scope, json_t **out,
                  asl_err *e)
{
    return eval_node(&t->root, input, scope, out, e);
}
