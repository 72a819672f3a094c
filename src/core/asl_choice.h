/*
 * asl_choice.h - Choice state rules (JSONPath query language).
 *
 * A rule is compiled once from its JSON (Variable + one comparison operator,
 * or And/Or/Not) and evaluated against a state input. Pure: no I/O.
 */
#ifndef ASL_CHOICE_H
#define ASL_CHOICE_H

#include "asl_int.h"

typedef struct asl_choice_rule asl_choice_rule;

/* Compile one rule. top_level: the rule is an element of Choices (it then
 * has "Next" and may have "Assign"; nested rules must not have Next).
 * location: the JSON pointer of the rule (e.g. "/States/C/Choices/0"), for
 * messages. Returns 0, or -1 with an AWS-style SCHEMA_VALIDATION_FAILED
 * message in err. */
int asl_choice_compile(const json_t *rule, int top_level, const char *location, asl_choice_rule **out,
                       char *err, size_t errlen);
void asl_choice_free(asl_choice_rule *r);

/* Evaluate. Returns 0 with *matched set, or -1 with an ASL error in e (e.g.
 * States.Runtime when Variable matches nothing, with AWS's cause text). */
int asl_choice_eval(const asl_choice_rule *r, json_t *input, const asl_scope *scope, int *matched, asl_err *e);

/* Parse an RFC 3339 timestamp as AWS accepts it ("2016-03-14T01:59:00Z",
 * fractional seconds, numeric offsets). Returns 0 and epoch ms, or -1. */
int asl_timestamp_parse(const char *s, int64_t *epoch_ms);
/* Format epoch ms as AWS prints timestamps in the context object and
 * history, e.g. "2024-01-02T03:04:05.678Z". buf must hold 32 bytes. */
void asl_timestamp_format(int64_t epoch_ms, char *buf);

#endif
