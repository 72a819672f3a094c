/*
 * fjson.c - a direct JSON reader that builds jansson values (see fjson.h).
 *
 * Must not: accept or refuse anything differently from json_loadb: what it
 * does not take (and every error) goes to jansson.
 */
#include "fjson.h"

#include <stdlib.h>
#include <string.h>

#define FAST_DEPTH 64 /* nesting handled here; deeper goes to jansson */

/* Length of the well-formed UTF-8 sequence at p (2..4 bytes), or 0. The
 * rules are the JSON/jansson ones: no overlongs, no surrogates, nothing
 * above U+10FFFF. */
size_t fjson_utf8_len(const unsigned char *p, const unsigned char *end)
{
    size_t need;
    if (*p >= 0xc2 && *p <= 0xdf)
        need = 1;
    else if (*p >= 0xe0 && *p <= 0xef)
        need = 2;
    else if (*p >= 0xf0 && *p <= 0xf4)
        need = 3;
    else
        return 0;
    if ((size_t)(end - p) <= need)
        return 0;
    for (size_t i = 1; i <= need; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0) ||
        (*p == 0xf0 && p[1] < 0x90) || (*p == 0xf4 && p[1] >= 0x90))
        return 0;
    return need + 1;
}

/* jansson's parser reads a character at a time through a callback and
 * cost most of an invocation's own CPU. Events are plain JSON, so a
 * direct parser builds the same jansson values (same key order, last
 * duplicate wins, as json_loadb) for the common forms: objects, arrays,
 * strings with the short escapes and valid UTF-8, integers up to 18
 * digits, true/false/null, up to FAST_DEPTH levels. Anything else (\u
 * escapes, reals, long integers, deeper nesting, and every error) makes it
 * give up and json_loadb parse the event, so what is accepted, what is
 * refused and the error text stay jansson's. */

typedef struct fastjson {
    const char *p, *end;
    char *scratch;       /* decoded strings with escapes */
    size_t scap;
} fastjson;

static void fj_ws(fastjson *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

/* Consumes c when it is the next byte; 1 when it was. */
static int fj_eat(fastjson *j, char c)
{
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}

/* The string at j->p (after its opening quote); *out points at its
 * bytes: in the input when there is nothing to decode, else in scratch. */
static int fj_string(fastjson *j, const char **out, size_t *len)
{
    const unsigned char *p = (const unsigned char *)j->p, *end = (const unsigned char *)j->end;
    const unsigned char *start = p;
    size_t n;
    for (;;) { /* the common case: no escapes, nothing to copy */
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p >= end || *p < 0x20)
            return -1;
        if (*p < 0x80)
            break;
        if (!(n = fjson_utf8_len(p, end)))
            return -1;
        p += n;
    }
    if (*p == '"') {
        *out = (const char *)start;
        *len = (size_t)(p - start);
        j->p = (const char *)p + 1;
        return 0;
    }
    /* Escapes: decode into scratch; the result is never longer than the
     * rest of the input. */
    size_t o = (size_t)(p - start), need = o + (size_t)(end - p) + 1;
    if (need > j->scap) {
        char *q = realloc(j->scratch, need);
        if (!q)
            return -1;
        j->scratch = q;
        j->scap = need;
    }
    char *d = j->scratch;
    memcpy(d, start, o);
    while (p < end) {
        if (*p == '"') {
            *out = d;
            *len = o;
            j->p = (const char *)p + 1;
            return 0;
        }
        if (*p < 0x20)
            return -1;
        if (*p >= 0x80) {
            if (!(n = fjson_utf8_len(p, end)))
                return -1;
            memcpy(d + o, p, n);
            o += n;
            p += n;
            continue;
        }
        if (*p != '\\') {
            d[o++] = (char)*p++;
            continue;
        }
        if (p + 1 >= end)
            return -1;
        switch (p[1]) {
        case '"': d[o++] = '"'; break;
        case '\\': d[o++] = '\\'; break;
        case '/': d[o++] = '/'; break;
        case 'b': d[o++] = '\b'; break;
        case 'f': d[o++] = '\f'; break;
        case 'n': d[o++] = '\n'; break;
        case 'r': d[o++] = '\r'; break;
        case 't': d[o++] = '\t'; break;
        default: return -1; /* \u and the invalid ones: jansson's */
        }
        p += 2;
    }
    return -1;
}

static json_t *fj_value(fastjson *j, int depth);

static json_t *fj_object(fastjson *j, int depth)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    fj_ws(j);
    if (fj_eat(j, '}'))
        return o;
    for (;;) {
        const char *key;
        size_t klen;
        if (j->p >= j->end || *j->p != '"')
            goto fail;
        j->p++;
        if (fj_string(j, &key, &klen) < 0)
            goto fail;
        /* a key decoded into scratch must be kept from the value's strings */
        char kbuf[256];
        char *k = (char *)key;
        if (key == j->scratch) {
            k = klen < sizeof kbuf ? kbuf : malloc(klen + 1);
            if (!k)
                goto fail;
            memcpy(k, key, klen);
        }
        fj_ws(j);
        json_t *v = NULL;
        if (fj_eat(j, ':')) {
            fj_ws(j);
            v = fj_value(j, depth);
        }
        int bad = !v || json_object_setn_new_nocheck(o, k, klen, v) < 0;
        if (k != kbuf && k != key)
            free(k);
        if (bad)
            goto fail;
        fj_ws(j);
        if (fj_eat(j, ',')) {
            fj_ws(j);
            continue;
        }
        if (fj_eat(j, '}'))
            return o;
        goto fail;
    }
fail:
    json_decref(o);
    return NULL;
}

static json_t *fj_array(fastjson *j, int depth)
{
    json_t *a = json_array();
    if (!a)
        return NULL;
    fj_ws(j);
    if (fj_eat(j, ']'))
        return a;
    for (;;) {
        if (json_array_append_new(a, fj_value(j, depth)) < 0)
            goto fail;
        fj_ws(j);
        if (fj_eat(j, ',')) {
            fj_ws(j);
            continue;
        }
        if (fj_eat(j, ']'))
            return a;
        goto fail;
    }
fail:
    json_decref(a);
    return NULL;
}

static json_t *fj_literal(fastjson *j, const char *word, size_t n, json_t *v)
{
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return NULL;
    j->p += n;
    return v;
}

/* The value at j->p (no leading white space); NULL when the fast path
 * does not apply. Returns: new. */
static json_t *fj_value(fastjson *j, int depth)
{
    if (j->p >= j->end || depth >= FAST_DEPTH)
        return NULL;
    switch (*j->p) {
    case '{':
        j->p++;
        return fj_object(j, depth + 1);
    case '[':
        j->p++;
        return fj_array(j, depth + 1);
    case '"': {
        const char *s;
        size_t n;
        j->p++;
        return fj_string(j, &s, &n) < 0 ? NULL : json_stringn_nocheck(s, n);
    }
    case 't':
        return fj_literal(j, "true", 4, json_true());
    case 'f':
        return fj_literal(j, "false", 5, json_false());
    case 'n':
        return fj_literal(j, "null", 4, json_null());
    default: {
        /* -?(0|[1-9][0-9]*), at most 18 digits, not followed by . e E */
        const char *p = j->p;
        int neg = *p == '-';
        if (neg)
            p++;
        const char *d = p;
        json_int_t v = 0;
        while (p < j->end && *p >= '0' && *p <= '9' && p - d < 18)
            v = v * 10 + (*p++ - '0');
        size_t nd = (size_t)(p - d);
        if (nd == 0 || (nd > 1 && *d == '0'))
            return NULL;
        if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
            return NULL;
        j->p = p;
        return json_integer(neg ? -v : v);
    }
    }
}

json_t *fjson_parse(const char *text, size_t len, int any, fjson_buf *buf)
{
    fastjson j = {.p = text, .end = text + len, .scratch = buf ? buf->scratch : NULL,
                  .scap = buf ? buf->scap : 0};
    fj_ws(&j);
    json_t *v = fj_value(&j, 0);
    if (v) {
        fj_ws(&j);
        if (j.p != j.end || (!any && !json_is_object(v) && !json_is_array(v))) {
            json_decref(v);
            v = NULL;
        }
    }
    if (buf) {
        buf->scratch = j.scratch;
        buf->scap = j.scap;
    } else {
        free(j.scratch);
    }
    return v;
}

json_t *fjson_loadb(const char *text, size_t len, size_t flags, json_error_t *err, fjson_buf *buf)
{
    json_t *v = fjson_parse(text, len, (flags & JSON_DECODE_ANY) != 0, buf);
    return v ? v : json_loadb(text, len, flags, err);
}

void fjson_buf_free(fjson_buf *buf)
{
    free(buf->scratch);
    buf->scratch = NULL;
    buf->scap = 0;
}
