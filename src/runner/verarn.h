/*
 * verarn.h - the pure parts of versions and aliases (verarn.c): the
 * qualifier of a state machine ARN, the alias name rule, the choice of a
 * version by routing weight. No I/O, no state.
 */
#ifndef SFN_VERARN_H
#define SFN_VERARN_H

#include <stddef.h>
#include <stdint.h>

enum ver_arn_kind {
    VER_ARN_MACHINE = 0, /* arn:aws:states:R:A:stateMachine:NAME */
    VER_ARN_VERSION,     /* ...:NAME:3 */
    VER_ARN_ALIAS,       /* ...:NAME:prod */
};

typedef struct ver_arn {
    int kind;            /* enum ver_arn_kind */
    size_t base_len;     /* the unqualified machine ARN is arn[0 .. base_len) */
    int64_t version;     /* VER_ARN_VERSION: 1, 2, ... */
    const char *qual;    /* the qualifier (points into arn), "" for a machine */
} ver_arn;

/* 0 with *out, or -1 when arn is not a state machine ARN (7 or 8 ':'
 * separated fields, "stateMachine" the 6th, a name, a qualifier that is
 * a version number from 1 or an alias name). */
int ver_arn_parse(const char *arn, ver_arn *out);
/* AWS's alias name pattern ^(?=.*[a-zA-Z_\-\.])[a-zA-Z0-9_\-\.]+$ (the
 * length, at most 80, is checked apart). */
int ver_alias_name_valid(const char *name);
/* The index of the route that u (in [0, 1)) falls in, for n weights
 * summing to 100 (or any positive total). -1 when n < 1. */
int ver_pick(const int *weights, int n, double u);

#endif
