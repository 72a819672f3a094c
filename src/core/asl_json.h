/*
 * asl_json.h - JSON text in and out, as the core prints and reads it: the
 * writer (asl_jbuf), compact text of a value, bounded parsing, and the size
 * limits. Public: the runner, the API, the CLI and the benchmarks use the
 * same writer, so what they print and what the engine puts in causes and
 * history are the same text. Implemented in asl_json.c.
 *
 * Threading: an asl_jbuf belongs to one thread; the functions keep no state.
 */
#ifndef ASL_JSON_H
#define ASL_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* JSON size limit of a payload: 256 KiB of UTF-8 (AWS "payload size"). */
#define ASL_MAX_PAYLOAD 262144
/* Bounds on what we accept at all (depth of nesting, definition size). */
#define ASL_MAX_DEPTH 512
#define ASL_MAX_DEFINITION (1024 * 1024)

/* ---- JSON text ---------------------------------------------------------
 * A growing buffer that JSON text is appended to (reused across calls: it
 * allocates only when it grows). Everything that prints JSON for AWS's
 * clients goes through it: compact, keys in insertion order, '/' and
 * non-ASCII as they are, control characters escaped, doubles in their
 * shortest round-trip digits laid out as Java's Double.toString ("1.0",
 * "1.795750067791E9") as AWS (Jackson) prints them.                        */
typedef struct asl_jbuf {
    char *p;   /* NUL-terminated after any append (unless oom) */
    size_t n;  /* bytes written */
    size_t cap;
    int oom;   /* an allocation failed: the text is incomplete */
} asl_jbuf;
static inline void asl_jbuf_reset(asl_jbuf *b)
{
    b->n = 0;
    b->oom = 0;
    if (b->p)
        b->p[0] = '\0';
}
void asl_jbuf_cleanup(asl_jbuf *b);
/* Hand the text over (malloc'd; NULL when oom) and leave b empty. */
char *asl_jbuf_take(asl_jbuf *b);
void asl_jbuf_raw(asl_jbuf *b, const char *s, size_t n);
void asl_jbuf_c(asl_jbuf *b, char c);
/* A JSON string literal of s[0..n): quotes and escapes. */
void asl_jbuf_str(asl_jbuf *b, const char *s, size_t n);
void asl_jbuf_int(asl_jbuf *b, int64_t v);
void asl_jbuf_real(asl_jbuf *b, double d);
/* ms milliseconds as seconds, exactly as asl_jbuf_real(ms / 1000.0). */
void asl_jbuf_ms_seconds(asl_jbuf *b, int64_t ms);
/* Any jansson value (NULL prints null). */
void asl_jbuf_value(asl_jbuf *b, const json_t *v);

/* Render JSON compactly the way AWS prints it in causes, history and
 * States.JsonToString (no spaces, keys in insertion order, numbers in their
 * shortest round-trip form). Returns malloc'd text, NULL when out of memory. */
char *asl_json_text(const json_t *v);
/* Parse JSON text bounded in size and nesting depth (ASL_MAX_DEPTH); any
 * JSON value at top level. Returns: new, or NULL with a message in err and
 * errno ENOMEM (out of memory) or EINVAL (not JSON, too large, too deep). */
json_t *asl_json_parse(const char *text, size_t len, char *err, size_t errlen);

#endif
