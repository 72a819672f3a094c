/*
 * tpl_int.h - the SAM template loader's internals (src/template), shared by
 * its files; not part of its interface (tpl.h).
 *
 *   tpl.c            tpl_load and the model: resources (names and ARNs,
 *                    functions, state machines and their rules), tpl_free
 *   tpl_yaml.c       YAML -> JSON with the short forms mapped to long forms
 *   tpl_intrinsic.c  intrinsic functions evaluated against the local names
 *   tpl_code.c       where a function's code is: CodeUri, sam build's outputs
 *   tpl_opts.c       --parameter-overrides and --env-vars, checked against
 *                    the template
 *
 * The tpl__ functions are for these files only. Errors: t->err holds the
 * first message (fail), and the functions return -EINVAL or NULL.
 * Include it after defining _GNU_SOURCE (vasprintf).
 */
#ifndef SFN_TPL_INT_H
#define SFN_TPL_INT_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "tpl.h"

#define TPL_MAX_DEPTH 64

enum res_kind { R_OTHER = 0, R_FUNCTION, R_STATE_MACHINE, R_TABLE, R_TOPIC, R_QUEUE, R_BUS,
                R_EVRULE, R_ACTIVITY };

typedef struct res {
    const char *logical_id;
    const char *type;
    enum res_kind kind;
    const char *name;
    const char *arn;
    const char *url;        /* a queue's URL, else NULL */
    json_t *props; /* borrowed from the template tree (Globals merged for functions) */
    const json_t *metadata; /* the resource's Metadata, borrowed, or NULL */
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
    tpl_queue *queues;
    size_t nqueues;
    tpl_bus *buses;
    size_t nbuses;
    tpl_activity *acts;
    size_t nacts;
    tpl_evtarget *evtargets;
    size_t nevtargets;
    json_t *overrides; /* parameter name -> string value */
    json_t *env_vars;  /* --env-vars, checked: "Parameters" or a function's logical ID
                          -> {name: string value}; NULL: none */
    const char **unsupported;
    size_t nunsupported;
    json_t *owned; /* array holding the evaluated definitions and merged props */
    char err[512];
};

/* ---- helpers of every file ---------------------------------------------
 * keep: s (malloc'd, or NULL) now lives until tpl_free; NULL on ENOMEM.
 * keepf: a printf-formatted string, kept. fail: the first error message
 * goes to t->err; returns -EINVAL. */
static inline const char *keep(tpl *t, char *s)
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

static inline const char *keepf(tpl *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline const char *keepf(tpl *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return keep(t, s);
}

static inline int fail(tpl *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int fail(tpl *t, const char *fmt, ...)
{
    if (t->err[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->err, sizeof t->err, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* ---- tpl_intrinsic.c --------------------------------------------------- */
/* The string form CloudFormation uses when a value lands in a string: new,
 * or NULL for null, an object or an array. */
char *tpl__stringify(const json_t *v);
/* Evaluate v. Returns: new; NULL for AWS::NoValue or an error (t->err set). */
json_t *tpl__eval(tpl *t, const json_t *v, int depth);
/* Evaluate props[key], which must end up a string (kept) or be absent (NULL). */
const char *tpl__eval_str(tpl *t, const json_t *props, const char *key);
/* Evaluate props[key] as a positive int (a number or its text); dflt when
 * absent or not one. */
int tpl__eval_int(tpl *t, const json_t *props, const char *key, int dflt);

/* ---- tpl_code.c -------------------------------------------------------- */
/* f's code_dir, bootstrap, code_uri, code_error, looked from r (f's runtime
 * and handler set). Returns 0 (a function that cannot run has code_error
 * or no code_dir), -EINVAL (t->err) or -ENOMEM. */
/* tpl_events.c: pass 1 of a queue, bus or AWS::Events::Rule (its ARN, and
 * a queue's URL; listed); pass 2 of a rule (its state machine targets).
 * Return 0 or -EINVAL / -ENOMEM with t->err. */
int tpl__name_events(tpl *t, res *r);
int tpl__load_evrule(tpl *t, const res *r);
/* The bus name of an EventBusName value (a name or an event-bus ARN);
 * "default" for NULL. */
const char *tpl__bus_name(const char *v);
int tpl__find_code(tpl *t, const tpl_opts *o, const res *r, tpl_function *f);

/* ---- tpl_opts.c -------------------------------------------------------- */
/* --parameter-overrides s (may be NULL) into t->overrides, each checked
 * against the template's Parameters. */
int tpl__load_overrides(tpl *t, const char *s);
/* --env-vars ev (may be NULL) into t->env_vars, checked. */
int tpl__load_env_vars(tpl *t, const json_t *ev);

#endif
