/*
 * evpattern.h - EventBridge event patterns: does an event match a rule?
 *
 * The subset sfnd needs for the rules of a SAM template (EventBridge user
 * guide, "Event patterns" and "Content filtering"):
 *   - every field named in the pattern must match; fields it does not name
 *     are ignored; nested objects match nested fields;
 *   - a leaf is an array of alternatives, any of which may match: exact
 *     values (string, number, boolean, null) or filter objects
 *     {"prefix": s}, {"suffix": s}, {"equals-ignore-case": s},
 *     {"anything-but": v | [v...] | {"prefix": s}}, {"exists": bool},
 *     {"numeric": [op, n (, op, n)]} with op one of = < <= > >=;
 *   - an array in the event matches when any of its elements matches.
 * Not supported: "$or", "wildcard", "cidr" (evpattern_check refuses them).
 *
 * Pure: no I/O, no allocation beyond what jansson's getters do.
 */
#ifndef SFN_EVPATTERN_H
#define SFN_EVPATTERN_H

#include <jansson.h>
#include <stddef.h>

/* Check that pattern (borrowed) is a pattern this module can evaluate.
 * Returns 0, or -1 with a message in err. */
int evpattern_check(const json_t *pattern, char *err, size_t errlen);

/* 1 when event (borrowed) matches pattern (borrowed), else 0. A pattern
 * that evpattern_check refuses never matches. */
int evpattern_match(const json_t *pattern, const json_t *event);

#endif
