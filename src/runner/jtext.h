/*
 * jtext.h - JSON text for what sfnd stores and returns, written fast.
 *
 * The same text as the core's asl_json_text (AWS's form: compact, keys in
 * insertion order, '/' and non-ASCII as they are, doubles in their shortest
 * round-trip digits laid out as Java's Double.toString, so an epoch-seconds
 * timestamp reads 1.700000000123E9 as on AWS), but appended into a reusable
 * growing buffer and with reals found in at most three printf/strtod
 * rounds instead of up to seventeen. The runner writes every history event
 * and payload with it, the API every reply.
 *
 * Must not: allocate per value (only the buffer grows), mutate its input.
 * Threading: a jtext belongs to one thread.
 */
#ifndef SFN_JTEXT_H
#define SFN_JTEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct jtext {
    char *p;      /* NUL-terminated after any put (unless oom) */
    size_t n;     /* bytes written */
    size_t cap;
    int oom;      /* an allocation failed: the text is incomplete */
} jtext;

/* Empty the buffer (keeps its memory). */
static inline void jtext_reset(jtext *b)
{
    b->n = 0;
    b->oom = 0;
    if (b->p)
        b->p[0] = '\0';
}
void jtext_cleanup(jtext *b);
/* Hand the text over (malloc'd, NUL-terminated; NULL when oom) and leave
 * b empty. */
char *jtext_take(jtext *b);

void jtext_raw(jtext *b, const char *s, size_t n);
void jtext_c(jtext *b, char c);
/* A string literal as is. */
#define jtext_lit(b, lit) jtext_raw((b), (lit), sizeof(lit) - 1)
/* A JSON string literal of s[0..n): quotes and escapes. */
void jtext_str(jtext *b, const char *s, size_t n);
static inline void jtext_cstr(jtext *b, const char *s)
{
    jtext_str(b, s, __builtin_strlen(s));
}
void jtext_int(jtext *b, int64_t v);
void jtext_real(jtext *b, double d);
/* Epoch milliseconds as the API's timestamp (epoch seconds, a number). */
static inline void jtext_ts(jtext *b, int64_t ms)
{
    jtext_real(b, (double)ms / 1000.0);
}
/* Any jansson value (NULL prints null). */
void jtext_value(jtext *b, const json_t *v);
/* The value as malloc'd text (NULL on ENOMEM), like asl_json_text. */
char *jtext_dup(const json_t *v);

#endif
