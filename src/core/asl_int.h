/*
 * asl_int.h - internals shared by the modules of the ASL core (src/core).
 *
 * Not part of the public API (asl.h). No I/O, no clock, no rand() here: the
 * random stream is seeded by the caller so that a replayed execution draws
 * the same numbers (MathRandom, UUID, jitter) as the original run.
 */
#ifndef ASL_INT_H
#define ASL_INT_H

#include "asl_json.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- ASL runtime errors ------------------------------------------------
 * An ASL error is data ({Error, Cause}) that Retry/Catch match; it is not a
 * C failure. Both strings are heap-allocated; first failure wins.           */
typedef struct asl_err {
    char *error; /* e.g. "States.Runtime"; NULL when no error is set */
    char *cause; /* AWS's text; may be NULL */
} asl_err;

/* Set the error unless one is already set. cause is printf-formatted. */
void asl_err_set(asl_err *e, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set error/cause from plain strings (cause may be NULL), unless set. */
void asl_err_set_str(asl_err *e, const char *error, const char *cause);
void asl_err_clear(asl_err *e);
static inline int asl_err_isset(const asl_err *e) { return e->error != NULL; }

/* ---- the path and intrinsic parsers ------------------------------------ */
/* The first error of a parse wins: sets *failed and, once, formats the
 * message into err (when errlen is not 0). */
void asl__parse_err(int *failed, char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
/* The end of the number that starts at s[i] (i < n): one leading sign from
 * signs, then digits, '.', 'e', 'E', and signs after one of those; *real
 * tells whether any of those came. Checks nothing else. */
size_t asl__scan_number(const char *s, size_t i, size_t n, const char *signs, int *real);

/* ---- deterministic random stream (splitmix64, src/util/rnd.h) ----------- */
#include "rnd.h"
typedef sfn_rng asl_rng;
#define asl_rng_next sfn_rng_next
#define asl_rng_double sfn_rng_double /* uniform double in [0, 1) */

/* ---- evaluation scope ----------------------------------------------------
 * What a path or intrinsic can see besides the state input ($):
 *   $$      -> context (the context object, borrowed)
 *   $name   -> variables: lookup(ud, name) returns a borrowed value or NULL
 * rng feeds States.UUID and States.MathRandom.                             */
typedef struct asl_scope {
    json_t *context;                                 /* $$; may be NULL */
    json_t *(*var_lookup)(void *ud, const char *name); /* may be NULL */
    void *var_ud;
    asl_rng *rng;                                    /* may be NULL: no random */
} asl_scope;

/* ---- JSON text: the writer (asl_jbuf), asl_json_text, asl_json_parse and
 * the size limits are public: asl_json.h. */
/* A shallow copy of v (members shared) that, unlike json_copy, is NULL
 * when memory runs out rather than a copy with members missing. */
json_t *asl_json_copy(json_t *v);
/* JSON's name for v's type: "string" "number" "boolean" "null" "array"
 * "object" (what intrinsic and JSONata errors say). */
const char *asl__json_type_name(const json_t *v);
/* Room for need bytes in the growing text *p of capacity *cap (first
 * when empty, doubled until it fits). 0, or -1 when out of memory (*p and
 * *cap unchanged). The core's text buffers (asl_jbuf, the path's and
 * JSONata's) grow with it. */
static inline int asl__text_grow(char **p, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    char *np = realloc(*p, c);
    if (np == NULL)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

/* ---- state names ---------------------------------------------------------
 * Name -> index of the states of one scope, for O(1) transition lookups in
 * validation and compilation (asl_names.c). Keys are borrowed: the
 * definition must outlive the map. Capacity is fixed at init (n names).  */
typedef struct asl_names {
    const char **keys; /* borrowed; NULL slot = empty */
    long *idx;
    size_t cap;        /* power of two, at least 2n */
} asl_names;
/* Returns 0, or -1 when out of memory (s is then empty, safe to clean up). */
int asl__names_init(asl_names *s, size_t n);
void asl__names_cleanup(asl_names *s);
/* Adds k -> i unless k is present (the first index wins). At most the n
 * names given to init. */
void asl__names_put(asl_names *s, const char *k, long i);
/* Returns the index of k, or -1. */
long asl__names_get(const asl_names *s, const char *k);

/* Lower-case hex digest of msg for AWS's algorithm names (MD5, SHA-1,
 * SHA-256, SHA-384, SHA-512), into hex (129 bytes). Returns its length, or
 * 0 for an unknown algorithm. Shared by States.Hash and JSONata's $hash. */
size_t asl__hash_hex(const char *alg, const unsigned char *msg, size_t len, char *hex);

/* Evaluate an intrinsic inside a template field (field names the ".$" key in
 * causes). Internal to asl_tmpl.c / asl_intrinsic.c. */
struct asl_intrinsic;
int asl__intrinsic_eval(const struct asl_intrinsic *f, json_t *input, const asl_scope *scope, const char *field,
                        json_t **out, asl_err *e);

/* Tests only: when > 0, the N-th growth of an execution's history array
 * from now fails as an out-of-memory would (asl_hist.c). */
extern long asl__test_fail_grow;

#endif
