/*
 * asl_path.h - JSONPath, reference paths, payload templates and intrinsic
 * functions of the Amazon States Language (JSONPath query language).
 *
 * Compile once, evaluate many times: a definition's paths and templates are
 * compiled when the machine is loaded; evaluation never re-parses text.
 * Pure: no I/O, no clock; randomness comes from asl_scope.rng.
 *
 * Ownership (jansson words): arguments are borrowed; every json_t returned
 * through an OUT parameter is a new reference owned by the caller.
 */
#ifndef ASL_PATH_H
#define ASL_PATH_H

#include "asl_int.h"

/* ---- paths ---------------------------------------------------------------
 * Text forms accepted:
 *   "$" "$.a.b" "$['a b']" "$.a[0]" "$.a[*].b" "$..x" "$.a[?(@.x > 1)]" ...
 *   "$$" and "$$.Execution.Id"          -> the context object
 *   "$name" "$name.a.b"                 -> a variable (Assign)
 * A path is "definite" when it can match at most one node (no wildcard,
 * slice, filter, union or deep scan): evaluating an indefinite path yields
 * an array of matches (Jayway semantics, as AWS).
 */
typedef struct asl_path asl_path;

enum {
    ASL_PATH_ANY = 0,       /* any JSONPath */
    ASL_PATH_REFERENCE = 1, /* reference path only (ResultPath, ItemsPath
                               where AWS demands it): definite, no $$ */
};

/* Compile text. Returns 0, or -1 with a message in err (AWS wording where
 * one exists, e.g. for use in "The value for the field 'X' must be a valid
 * JSONPath"). */
int asl_path_compile(const char *text, int flags, asl_path **out, char *err, size_t errlen);
void asl_path_free(asl_path *p);
const char *asl_path_text(const asl_path *p); /* Returns: borrowed */
int asl_path_is_definite(const asl_path *p);
int asl_path_is_context(const asl_path *p);  /* starts with $$ */
int asl_path_is_variable(const asl_path *p); /* starts with $name */
/* The path in Jayway's normalized form, e.g. "$['a'][0]", as AWS prints it
 * in "No results for path" causes. Returns: borrowed. */
const char *asl_path_normalized(const asl_path *p);

/* Evaluate against input ($). Returns 0 and *out (new reference; for an
 * indefinite path an array of the matches, possibly empty), or -1 when a
 * definite path matches nothing (*out untouched). */
int asl_path_eval(const asl_path *p, json_t *input, const asl_scope *scope, json_t **out);

/* ResultPath: place value at the (reference) path inside doc and return the
 * new document in *out (new reference). doc is not modified: objects on the
 * way are copied shallowly, the rest is shared by reference. Missing objects
 * on the way are created. Path "$" replaces the whole document.
 * Returns 0, or -1 with an ASL error in e (States.ResultPathMatchFailure with
 * AWS's cause) when the path runs through a non-object. */
int asl_path_set(const asl_path *p, json_t *doc, json_t *value, json_t **out, asl_err *e);

/* ---- payload templates (Parameters, ResultSelector, ItemSelector,
 * Assign in JSONPath states) --------------------------------------------
 * Keys ending in ".$" take a path ($, $$, $var) or an intrinsic function
 * call (States.Format(...)); the ".$" is dropped from the output key.
 * Everything else is copied literally (shared by reference).              */
typedef struct asl_tmpl asl_tmpl;

/* field: the definition field name (for messages, e.g. "Parameters").
 * Returns 0, or -1 with an AWS-style validation message in err. */
int asl_tmpl_compile(const json_t *tmpl, const char *field, asl_tmpl **out, char *err, size_t errlen);
void asl_tmpl_free(asl_tmpl *t);

/* Evaluate. Returns 0 and *out (new reference), or -1 with an ASL error in e
 * (States.Runtime for a path that matches nothing, with AWS's cause text:
 * "The JSONPath '$.x' specified for the field 'x.$' could not be found in the
 * input '<input JSON>'"; States.IntrinsicFailure for a bad intrinsic call). */
int asl_tmpl_eval(const asl_tmpl *t, json_t *input, const asl_scope *scope, json_t **out, asl_err *e);

/* ---- intrinsic functions -------------------------------------------------
 * A single call expression such as "States.Format('x {}', $.a)", nested up
 * to 10 deep. Arguments: string literals in single quotes (with \' \{ \} \\
 * escapes), numbers, true/false/null, paths ($ $$ $var).                   */
typedef struct asl_intrinsic asl_intrinsic;

int asl_intrinsic_compile(const char *text, asl_intrinsic **out, char *err, size_t errlen);
void asl_intrinsic_free(asl_intrinsic *f);
/* Returns 0 and *out (new reference), or -1 with States.IntrinsicFailure
 * (or States.Runtime for a path argument that matches nothing) in e. */
int asl_intrinsic_eval(const asl_intrinsic *f, json_t *input, const asl_scope *scope, json_t **out,
                       asl_err *e);
/* True if text looks like an intrinsic call ("States.Xxx(" prefix). */
int asl_is_intrinsic(const char *text);

#endif
