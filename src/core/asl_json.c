/*
 * asl_json.c - compact JSON text as AWS prints it, and bounded JSON parsing.
 *
 * AWS renders payloads (history, causes, States.JsonToString) with Jackson:
 * no spaces, keys in insertion order, '/' and non-ASCII left as they are,
 * control characters escaped, doubles in their shortest round-trip form
 * with Java's Double.toString shape ("1.0", "1.0E10"). We write that form
 * ourselves instead of json_dumps, whose real formatting ("1e+10", "%.17g")
 * differs. Must not do I/O; must not mutate its argument.
 */
#include "asl.h"
#include "asl_int.h"
#include "asl_nomem.h"

#include <float.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int jgrow(asl_jbuf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (asl__text_grow(&b->p, &b->cap, b->n + more + 1, 256) < 0) {
        b->oom = 1;
        return -1;
    }
    return 0;
}

void asl_jbuf_cleanup(asl_jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *asl_jbuf_take(asl_jbuf *b)
{
    if (jgrow(b, 0) < 0) {
        asl_jbuf_cleanup(b);
        return NULL;
    }
    b->p[b->n] = '\0';
    char *p = b->p;
    memset(b, 0, sizeof *b);
    return p;
}

void asl_jbuf_raw(asl_jbuf *b, const char *s, size_t n)
{
    if (jgrow(b, n) < 0)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void asl_jbuf_c(asl_jbuf *b, char c)
{
    if (jgrow(b, 1) < 0)
        return;
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs,
 * no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (len > avail || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return len;
}

void asl_jbuf_str(asl_jbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    /* worst case every byte becomes \u00XX */
    if (jgrow(b, n * 6 + 2) < 0)
        return;
    char *o = b->p + b->n;
    *o++ = '"';
    for (size_t i = 0; i < n; i++) {
        /* Eight plain bytes at a time (no control character, quote,
         * backslash or byte >= 0x80): most of a JSON payload's text. */
        while (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
            uint64_t ctl = (w - ones * 0x20) & ~w;
            uint64_t quo = w ^ (ones * '"'), bsl = w ^ (ones * '\\');
            uint64_t special = (ctl | ((quo - ones) & ~quo) | ((bsl - ones) & ~bsl) | w) & high;
            if (special)
                break;
            memcpy(o, s + i, 8);
            o += 8;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            /* copy a well-formed UTF-8 sequence; anything else (a function's
             * stray bytes, a message cut mid-character) becomes U+FFFD, so
             * that what we write is always valid JSON text */
            size_t len = utf8_len((const unsigned char *)s + i, n - i);
            if (len == 0) {
                *o++ = (char)0xEF;
                *o++ = (char)0xBF;
                *o++ = (char)0xBD;
            } else {
                memcpy(o, s + i, len);
                o += len;
                i += len - 1;
            }
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\b': *o++ = 'b'; break;
        case '\t': *o++ = 't'; break;
        case '\n': *o++ = 'n'; break;
        case '\f': *o++ = 'f'; break;
        case '\r': *o++ = 'r'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
            break;
        }
    }
    *o++ = '"';
    b->n = (size_t)(o - b->p);
    b->p[b->n] = '\0';
}

void asl_jbuf_int(asl_jbuf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    asl_jbuf_raw(b, p, (size_t)(e - p));
}

/* The shortest digits that read back as d (d > 0). A decimal of at most
 * 15 significant digits is unique among doubles, so when the 15-digit
 * rounding reads back, it is the shortest with its trailing zeros cut; if
 * it does not, no shorter one can, and 16 then 17 digits are tried (the
 * same answer as trying 1, 2, ... 17 in turn) for a normal double. */
static int shortest_digits(double d, char *digits, int *exp10)
{
    char tmp[40];
    /* subnormals carry fewer digits: the argument above does not hold */
    for (int prec = d >= DBL_MIN ? 15 : 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    int nd = 0;
    const char *p = tmp;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *exp10 = atoi(p + 1);
    return nd;
}

/* Java's scientific form of digits dg[0..nd) times 10^e: "d.ddd" (at
 * least one digit after the point) then "E<e>", at out; returns the length. */
static size_t put_sci(char *out, size_t cap, const char *dg, int nd, int e)
{
    size_t o = 0;
    out[o++] = dg[0];
    out[o++] = '.';
    if (nd > 1)
        for (int i = 1; i < nd; i++)
            out[o++] = dg[i];
    else
        out[o++] = '0';
    out[o++] = 'E';
    unsigned u = e < 0 ? 0u - (unsigned)e : (unsigned)e;
    if (e < 0)
        out[o++] = '-';
    char t[12];
    int k = 0;
    do
        t[k++] = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    while (k > 0 && o < cap)
        out[o++] = t[--k];
    return o;
}

void asl_jbuf_real(asl_jbuf *b, double d)
{
    char out[64];
    size_t o = 0;
    if (isnan(d) || isinf(d)) {
        asl_jbuf_raw(b, "null", 4);
        return;
    }
    if (d == 0) {
        if (signbit(d))
            asl_jbuf_raw(b, "-0.0", 4);
        else
            asl_jbuf_raw(b, "0.0", 3);
        return;
    }
    if (d < 0) {
        out[o++] = '-';
        d = -d;
    }
    char dg[24];
    int e;
    int nd = shortest_digits(d, dg, &e);
    if (d >= 1e-3 && d < 1e7) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++)
                out[o++] = i < nd ? dg[i] : '0';
            out[o++] = '.';
            if (nd > e + 1)
                for (int i = e + 1; i < nd; i++)
                    out[o++] = dg[i];
            else
                out[o++] = '0';
        } else {
            out[o++] = '0';
            out[o++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[o++] = '0';
            for (int i = 0; i < nd; i++)
                out[o++] = dg[i];
        }
    } else {
        o += put_sci(out + o, sizeof out - o, dg, nd, e);
    }
    asl_jbuf_raw(b, out, o);
}

void asl_jbuf_ms_seconds(asl_jbuf *b, int64_t ms)
{
    /* ms / 1000.0 has at most 13 significant digits here, fewer than a
     * double holds, and it is the double nearest that decimal: the
     * shortest digits asl_jbuf_real would find are those of ms without
     * its trailing zeros, printed as d.ddd...E9. (Every history timestamp
     * and API date goes through here: no snprintf/strtod round trips.) */
    if (ms < 1000000000000LL || ms >= 10000000000000LL) {
        asl_jbuf_real(b, (double)ms / 1000.0);
        return;
    }
    char dg[13], out[24];
    for (int i = 12; i >= 0; i--) {
        dg[i] = (char)('0' + ms % 10);
        ms /= 10;
    }
    int nd = 13;
    while (nd > 1 && dg[nd - 1] == '0')
        nd--;
    asl_jbuf_raw(b, out, put_sci(out, sizeof out, dg, nd, 9));
}

void asl_jbuf_value(asl_jbuf *b, const json_t *v)
{
    if (v == NULL) {
        asl_jbuf_raw(b, "null", 4);
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        asl_jbuf_c(b, '{');
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                asl_jbuf_c(b, ',');
            first = 0;
            asl_jbuf_str(b, k, strlen(k));
            asl_jbuf_c(b, ':');
            asl_jbuf_value(b, x);
        }
        asl_jbuf_c(b, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        asl_jbuf_c(b, '[');
        json_array_foreach(v, i, x) {
            if (i > 0)
                asl_jbuf_c(b, ',');
            asl_jbuf_value(b, x);
        }
        asl_jbuf_c(b, ']');
        break;
    }
    case JSON_STRING:
        asl_jbuf_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        asl_jbuf_int(b, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        asl_jbuf_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        asl_jbuf_raw(b, "true", 4);
        break;
    case JSON_FALSE:
        asl_jbuf_raw(b, "false", 5);
        break;
    case JSON_NULL:
        asl_jbuf_raw(b, "null", 4);
        break;
    }
}

char *asl_json_text(const json_t *v)
{
    asl_jbuf b = {0};
    asl_jbuf_value(&b, v);
    return asl_jbuf_take(&b);
}

/* Nesting depth of JSON text, checked before parsing so that a hostile
 * document cannot drive the parser (or our recursive walkers) deep. */
static int depth_ok(const char *s, size_t len)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"')
            in_str = 1;
        else if (c == '[' || c == '{') {
            if (++depth > ASL_MAX_DEPTH)
                return 0;
        } else if (c == ']' || c == '}')
            depth--;
    }
    return 1;
}

/* Out of memory, noted (asl_nomem.h). jansson's allocations go through
 * json_alloc, which counts the ones that fail on this thread: a parse that
 * fails while the count moves ran out of memory, whatever jansson says (it
 * reports some of those as syntax errors: "string or '}' expected").
 * Installed before main. */
static _Thread_local unsigned long json_nomem;

unsigned long asl__nomem_count(void)
{
    return json_nomem;
}

const char *asl__nomem(void)
{
    json_nomem++;
    return "out of memory";
}

static void *json_alloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL)
        json_nomem++;
    return p;
}

__attribute__((constructor)) static void json_alloc_install(void)
{
    json_set_alloc_funcs(json_alloc, free);
}

json_t *asl_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    unsigned long nomem_before = json_nomem;
    errno = EINVAL;
    if (len > ASL_MAX_DEFINITION) {
        if (err && errlen)
            snprintf(err, errlen, "JSON text too large (%zu bytes)", len);
        return NULL;
    }
    if (!depth_ok(text, len)) {
        if (err && errlen)
            snprintf(err, errlen, "JSON nesting deeper than %d", ASL_MAX_DEPTH);
        return NULL;
    }
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (v == NULL) {
        int nomem = json_nomem != nomem_before || json_error_code(&je) == json_error_out_of_memory;
        if (err && errlen) {
            if (nomem)
                snprintf(err, errlen, "out of memory");
            else
                snprintf(err, errlen, "%s at line %d column %d", je.text, je.line, je.column);
        }
        errno = nomem ? ENOMEM : EINVAL;
    }
    return v;
}

static size_t skip_blanks(const char *text, size_t len, size_t i)
{
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    return i;
}

/* Jackson's words (AWS parses JSON with it) for the commonest faults of a
 * JSON text: nothing but blanks, a bare word where a value starts, an
 * object whose first field name is not quoted. */
int asl_json_error_aws(const char *text, size_t len, char *out, size_t outlen)
{
    size_t i = skip_blanks(text, len, 0);
    if (i == len) {
        snprintf(out, outlen, "No content to map due to end-of-input");
        return 1;
    }
    if (text[i] == '{') {
        size_t k = skip_blanks(text, len, i + 1);
        unsigned char ch = k < len ? (unsigned char)text[k] : 0;
        if (k < len && ch != '"' && ch != '}' && ch >= 0x20 && ch < 0x7f) {
            snprintf(out, outlen,
                     "Unexpected character ('%c' (code %d)): was expecting double-quote to start "
                     "field name",
                     ch, ch);
            return 1;
        }
        return 0;
    }
    size_t j = i;
    while (j < len && ((text[j] >= 'a' && text[j] <= 'z') || (text[j] >= 'A' && text[j] <= 'Z') ||
                       (text[j] >= '0' && text[j] <= '9') || text[j] == '_' || text[j] == '$'))
        j++;
    int letter = (text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z');
    if (!letter || j == i)
        return 0;
    size_t n = j - i;
    if ((n == 4 && (memcmp(text + i, "true", 4) == 0 || memcmp(text + i, "null", 4) == 0)) ||
        (n == 5 && memcmp(text + i, "false", 5) == 0))
        return 0;
    snprintf(out, outlen,
             "Unrecognized token '%.*s': was expecting (JSON String, Number, Array, Object or token "
             "'null', 'true' or 'false')",
             (int)(n > 256 ? 256 : n), text + i);
    return 1;
}

/* jansson's json_copy ignores a failed insertion and returns what it has:
 * out of memory, a document with members missing. This one fails instead. */
json_t *asl_json_copy(json_t *v)
{
    if (json_is_object(v)) {
        json_t *r = json_object();
        const char *k;
        json_t *m;
        if (r == NULL)
            return NULL;
        json_object_foreach(v, k, m)
        {
            if (json_object_set_nocheck(r, k, m) != 0) {
                json_decref(r);
                return NULL;
            }
        }
        return r;
    }
    if (json_is_array(v)) {
        json_t *r = json_array();
        size_t i;
        json_t *m;
        if (r == NULL)
            return NULL;
        json_array_foreach(v, i, m)
        {
            if (json_array_append(r, m) != 0) {
                json_decref(r);
                return NULL;
            }
        }
        return r;
    }
    return json_copy(v);
}

const char *asl__json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "null";
}
