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
#include "asl_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t n, cap;
    int oom;
} buf;

static int buf_grow(buf *b, size_t more)
{
    if (b->oom)
        return -1;
    if (b->n + more + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->oom = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static void buf_put(buf *b, const char *s, size_t n)
{
    if (buf_grow(b, n) < 0)
        return;
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void buf_putc(buf *b, char c)
{
    if (buf_grow(b, 1) < 0)
        return;
    b->p[b->n++] = c;
}

static void put_string(buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of plain bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[6];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\t': esc = "\\t"; break;
            case '\n': esc = "\\n"; break;
            case '\f': esc = "\\f"; break;
            case '\r': esc = "\\r"; break;
            default:
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                break;
            }
        } else
            continue;
        buf_put(b, s + run, i - run);
        if (esc != NULL)
            buf_put(b, esc, strlen(esc));
        else
            buf_put(b, u, 6);
        run = i + 1;
    }
    buf_put(b, s + run, n - run);
    buf_putc(b, '"');
}

/* Shortest digits that read back as d: try increasing precision. */
static int shortest_digits(double d, char *digits, int *exp10)
{
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp: "d.ddde[+-]xx" (d > 0 here) */
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

/* Java Double.toString layout of the shortest round-trip digits. */
static void put_real(buf *b, double d)
{
    char out[64];
    size_t o = 0;
    if (isnan(d) || isinf(d)) { /* not JSON; jansson never holds these */
        buf_put(b, "null", 4);
        return;
    }
    if (d == 0) {
        if (signbit(d))
            buf_put(b, "-0.0", 4);
        else
            buf_put(b, "0.0", 3);
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
        out[o++] = dg[0];
        out[o++] = '.';
        if (nd > 1)
            for (int i = 1; i < nd; i++)
                out[o++] = dg[i];
        else
            out[o++] = '0';
        o += (size_t)snprintf(out + o, sizeof out - o, "E%d", e);
    }
    buf_put(b, out, o);
}

static void put_value(buf *b, const json_t *v)
{
    char tmp[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        buf_putc(b, '{');
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                buf_putc(b, ',');
            first = 0;
            put_string(b, k, strlen(k));
            buf_putc(b, ':');
            put_value(b, x);
        }
        buf_putc(b, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        buf_putc(b, '[');
        json_array_foreach(v, i, x) {
            if (i > 0)
                buf_putc(b, ',');
            put_value(b, x);
        }
        buf_putc(b, ']');
        break;
    }
    case JSON_STRING:
        put_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: {
        int n = snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        buf_put(b, tmp, (size_t)n);
        break;
    }
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        buf_put(b, "true", 4);
        break;
    case JSON_FALSE:
        buf_put(b, "false", 5);
        break;
    case JSON_NULL:
        buf_put(b, "null", 4);
        break;
    }
}

char *asl_json_text(const json_t *v)
{
    buf b = {0};
    if (v == NULL)
        buf_put(&b, "null", 4);
    else
        put_value(&b, v);
    if (buf_grow(&b, 0) < 0) {
        free(b.p);
        return NULL;
    }
    b.p[b.n] = '\0';
    return b.p;
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

json_t *asl_json_parse(const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
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
    if (v == NULL && err && errlen)
        snprintf(err, errlen, "%s at line %d column %d", je.text, je.line, je.column);
    return v;
}
