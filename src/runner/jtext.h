/*
 * jtext.h - JSON text for what sfnd stores and returns: the core's JSON
 * writer (asl_jbuf in src/core/asl_json.h) under the runner's and API's
 * short names. One implementation, so what the API returns and what the
 * engine prints in causes and history are the same text.
 *
 * Threading: a jtext belongs to one thread.
 */
#ifndef SFN_JTEXT_H
#define SFN_JTEXT_H

#include "asl_json.h"

#include <string.h>

typedef asl_jbuf jtext;

static inline void jtext_reset(jtext *b) { asl_jbuf_reset(b); }
static inline void jtext_cleanup(jtext *b) { asl_jbuf_cleanup(b); }
static inline char *jtext_take(jtext *b) { return asl_jbuf_take(b); }
static inline void jtext_raw(jtext *b, const char *s, size_t n) { asl_jbuf_raw(b, s, n); }
static inline void jtext_c(jtext *b, char c) { asl_jbuf_c(b, c); }
/* A string literal as is. */
#define jtext_lit(b, lit) jtext_raw((b), (lit), sizeof(lit) - 1)
static inline void jtext_str(jtext *b, const char *s, size_t n) { asl_jbuf_str(b, s, n); }
static inline void jtext_cstr(jtext *b, const char *s) { asl_jbuf_str(b, s, strlen(s)); }
static inline void jtext_int(jtext *b, int64_t v) { asl_jbuf_int(b, v); }
static inline void jtext_real(jtext *b, double d) { asl_jbuf_real(b, d); }
/* Epoch milliseconds as the API's timestamp (epoch seconds, a number). */
static inline void jtext_ts(jtext *b, int64_t ms) { asl_jbuf_ms_seconds(b, ms); }
static inline void jtext_value(jtext *b, const json_t *v) { asl_jbuf_value(b, v); }
/* The value as malloc'd text (NULL on ENOMEM), as asl_json_text. */
static inline char *jtext_dup(const json_t *v) { return asl_json_text(v); }

#endif
