/*
 * asl_jsonata.h - the JSONata query language of Step Functions
 * (QueryLanguage "JSONata"): expressions written as "{% ... %}" strings.
 *
 * Compile once, evaluate many times (like asl_path.h). The language follows
 * jsonata 2.0.6 as Step Functions runs it: paths with sequence semantics,
 * predicates, operators, blocks, variables (:=), lambdas, a large subset of
 * the built-in functions plus the Step Functions additions $partition,
 * $range, $hash, $random([seed]), $uuid and $parse.
 *
 * Pure: no I/O, no clock. $now()/$millis() read the entry time from
 * $states.context.State.EnteredTime (else Execution.StartTime, else the
 * epoch); $random()/$uuid() draw from scope->rng.
 *
 * Ownership (jansson words): arguments are borrowed; every json_t returned
 * through an OUT parameter is a new reference owned by the caller.
 */
#ifndef ASL_JSONATA_H
#define ASL_JSONATA_H

#include "asl_int.h"

typedef struct asl_jsonata asl_jsonata;

/* Compile an expression (the text between {% and %}; surrounding blanks are
 * ignored). Returns 0, or -1 with a message in err (jsonata's code and
 * wording, e.g. "S0202: Expected \")\", got \";\"" ). */
int asl_jsonata_compile(const char *expr, asl_jsonata **out, char *err, size_t errlen);
void asl_jsonata_free(asl_jsonata *e);
/* The expression text as AWS quotes it in causes (trimmed). Returns: borrowed. */
const char *asl_jsonata_text(const asl_jsonata *e);

/* Evaluate. states is the $states object ({"input", "context", and where
 * the field has them "result", "errorOutput"}), borrowed, may be NULL.
 * Variables ($name other than $states) come from scope->var_lookup (they
 * shadow built-in functions of the same name, as bindings do in jsonata).
 * Returns 0 with *out = new reference, or *out = NULL when the result is
 * JSONata's undefined (the caller decides: most fields turn that into
 * asl_jsonata_err_undefined); -1 with States.QueryEvaluationError in err and
 * AWS's cause without the "An error occurred while executing the state ..."
 * prefix, which the engine adds:
 *   "The JSONata expression '<expr>' specified for the field '<field>' threw
 *    an error during evaluation. T1006: Attempted to invoke a non-function"
 *   "The JSONata expression '<expr>' specified for the field '<field>'
 *    returned an unsupported result type."          (a function value)
 * asl_jsonata_eval has no field: its causes leave out
 * " specified for the field '...'"; use asl_jsonata_eval_field.        */
int asl_jsonata_eval(const asl_jsonata *e, json_t *states, const asl_scope *scope, json_t **out,
                     asl_err *err);
int asl_jsonata_eval_field(const asl_jsonata *e, const char *field, json_t *states,
                           const asl_scope *scope, json_t **out, asl_err *err);

/* Set AWS's errors for results a field cannot take (error name
 * States.QueryEvaluationError; field may be NULL):
 *   "The JSONata expression '$x' specified for the field 'Output/result'
 *    returned nothing (undefined)."
 *   "The JSONata expression '1' specified for the field 'Items' returned an
 *    unexpected result type. Expected 'array', but was 'number' for value: 1" */
void asl_jsonata_err_undefined(const asl_jsonata *e, const char *field, asl_err *err);
void asl_jsonata_err_type(const asl_jsonata *e, const char *field, const char *expected,
                          const json_t *value, asl_err *err);

/* True if v is a string of the form "{% ... %}" (exactly: no blanks before
 * "{%" or after "%}"; AWS treats " {% x %} " as a literal string). */
int asl_jsonata_is_expr(const json_t *v);

/* ---- JSON templates for JSONata fields (Arguments, Output, Assign, Items,
 * ItemSelector, Credentials, Catch Output/Assign, Fail Error/Cause, ...) --
 * Every string that is exactly "{% expr %}" is an expression, at any depth
 * of objects and arrays; everything else is literal (shared by reference).
 * An expression that yields undefined is an error (AWS: "... returned
 * nothing (undefined)."), also inside objects and arrays.                 */
typedef struct asl_jtmpl asl_jtmpl;

/* field names the definition field for causes ("Output"); nested keys are
 * appended as "Output/result", array elements as "Output/0" (the array form
 * is our guess: no AWS recording shows it). field may be NULL.
 * Returns 0, or -1 with a message in err naming the bad expression. */
int asl_jtmpl_compile(const json_t *v, asl_jtmpl **out, char *err, size_t errlen);
int asl_jtmpl_compile_field(const json_t *v, const char *field, asl_jtmpl **out, char *err,
                            size_t errlen);
void asl_jtmpl_free(asl_jtmpl *t);
/* True if the template contains no expression (its value is the literal). */
int asl_jtmpl_is_literal(const asl_jtmpl *t);
/* The single expression when the whole template is one "{% %}" string,
 * else NULL (for fields whose result type the engine checks, e.g. Items).
 * Returns: borrowed. */
const asl_jsonata *asl_jtmpl_expr(const asl_jtmpl *t);
int asl_jtmpl_eval(const asl_jtmpl *t, json_t *states, const asl_scope *scope, json_t **out,
                   asl_err *e);

#endif
