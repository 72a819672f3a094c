/*
 * fjson.h - a direct JSON reader for the common forms, building jansson
 * values.
 *
 * jansson's parser reads a character at a time through a callback; for
 * the JSON that goes through every invocation (events, results, inputs)
 * that was most of the parsing cost. fjson reads objects, arrays, strings
 * with the short escapes and valid UTF-8, integers up to 18 digits,
 * true/false/null, up to 64 levels, and builds what json_loadb would (same
 * key order, the last duplicate wins). Anything else (\u escapes, reals,
 * long integers, deeper nesting, every error) it leaves to json_loadb, so
 * what is accepted, what is refused and the error texts stay jansson's.
 *
 * Threading: a fjson_buf belongs to one thread.
 */
#ifndef SFN_FJSON_H
#define SFN_FJSON_H

#include <jansson.h>
#include <stddef.h>

/* Scratch space for decoded strings, reused from call to call (zero it to
 * start; fjson_buf_free at the end). */
typedef struct fjson_buf {
    char *scratch;
    size_t scap;
} fjson_buf;

/* The value of text[0, len): new, or NULL when the direct reader does not
 * take it (then json_loadb decides). any: a scalar at the top is accepted
 * (JSON_DECODE_ANY). buf may be NULL. */
json_t *fjson_parse(const char *text, size_t len, int any, fjson_buf *buf);
/* json_loadb(text, len, flags, err) with the direct reader first. */
json_t *fjson_loadb(const char *text, size_t len, size_t flags, json_error_t *err,
                    fjson_buf *buf);
void fjson_buf_free(fjson_buf *buf);
/* Length of the well-formed UTF-8 sequence at p (2..4 bytes; JSON's and
 * jansson's rules: no overlongs, no surrogates, nothing above U+10FFFF),
 * or 0. */
size_t fjson_utf8_len(const unsigned char *p, const unsigned char *end);

#endif
