/*
 * asl_jsonata_value.c - the values JSONata evaluation works on and the
 * context of one evaluation: error recording, frames and function values
 * (freed together when the evaluation ends), numbers as JavaScript prints
 * them, a bounded string buffer and JSON.stringify-like text, deep
 * equality, jsonata's boolean cast, and sequences.
 *
 * Knows nothing of the AST or of particular operators and functions. Must
 * not do I/O; what it builds is bounded by MAX_STR and MAX_ITEMS.
 */
#include "asl_jsonata_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors, frames, function values --------------------------------- */

void jn__vfree(val *v)
{
    json_decref(v->j);
    *v = UNDEF;
}

int jn__fail(ectx *c, const char *code, const char *fmt, ...)
{
    if (!c->failed) {
        va_list ap;
        va_start(ap, fmt);
        snprintf(c->code, sizeof c->code, "%s", code);
        vsnprintf(c->msg, sizeof c->msg, fmt, ap);
        va_end(ap);
        c->failed = 1;
    }
    return -1;
}

int jn__oom(ectx *c) { return jn__fail(c, "U1001", "Out of memory"); }

int jn__ret_json(int rc, json_t *r, val *out)
{
    if (rc < 0) {
        json_decref(r);
        return -1;
    }
    out->j = r;
    return 0;
}

frame *jn__frame_new(ectx *c, frame *parent)
{
    frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        jn__oom(c);
        return NULL;
    }
    f->parent = parent;
    f->next_alloc = c->frames;
    c->frames = f;
    return f;
}

/* bind steals v */
int jn__frame_bind(ectx *c, frame *f, const char *name, val *v)
{
    for (binding *b = f->b; b; b = b->next)
        if (strcmp(b->name, name) == 0) {
            jn__vfree(&b->v);
            b->v = *v;
            *v = UNDEF;
            return 0;
        }
    binding *b = calloc(1, sizeof *b);
    if (b == NULL || (b->name = strdup(name)) == NULL) {
        free(b);
        jn__vfree(v);
        return jn__oom(c);
    }
    b->v = *v;
    *v = UNDEF;
    b->next = f->b;
    f->b = b;
    return 0;
}

fnval *jn__fn_new(ectx *c)
{
    fnval *f = calloc(1, sizeof *f);
    if (f == NULL) {
        jn__oom(c);
        return NULL;
    }
    f->next_alloc = c->fns;
    c->fns = f;
    return f;
}

void jn__ectx_cleanup(ectx *c)
{
    while (c->frames) {
        frame *f = c->frames;
        c->frames = f->next_alloc;
        while (f->b) {
            binding *b = f->b;
            f->b = b->next;
            jn__vfree(&b->v);
            free(b->name);
            free(b);
        }
        free(f);
    }
    while (c->fns) {
        fnval *f = c->fns;
        c->fns = f->next_alloc;
        for (size_t i = 0; i < f->nbound; i++)
            jn__vfree(&f->bound[i]);
        free(f->bound);
        free(f);
    }
    json_decref(c->keep);
    c->keep = NULL;
}

/* ---- numbers -------------------------------------------------------- */

json_t *jn__num_new(double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

int jn__mknum(ectx *c, double d, val *out)
{
    if (!isfinite(d))
        return jn__fail(c, "D1001", "Number out of range: %s", isnan(d) ? "null" : "null");
    out->j = jn__num_new(d);
    return out->j ? 0 : jn__oom(c);
}

/* JavaScript's Number#toString for finite d: shortest round-trip digits,
 * exponent form outside [1e-7, 1e21). */
void jn__fmt_js_number(double d, char *out, size_t n)
{
    if (d == 0) {
        snprintf(out, n, "0");
        return;
    }
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    /* buf: [-]D[.DDD]e[+-]XX */
    char digits[24];
    size_t k = 0;
    const char *s = buf;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; *s && *s != 'e'; s++)
        if (isdigit((unsigned char)*s) && k < sizeof digits - 1)
            digits[k++] = *s;
    digits[k] = '\0';
    int e = atoi(s + 1);
    while (k > 1 && digits[k - 1] == '0')
        digits[--k] = '\0';
    int nexp = e + 1; /* value = 0.DIGITS * 10^nexp */
    char *o = out;
    size_t left = n;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(o, left, __VA_ARGS__);                                                   \
        if (w_ < 0 || (size_t)w_ >= left)                                                          \
            return;                                                                                \
        o += w_;                                                                                   \
        left -= (size_t)w_;                                                                        \
    } while (0)
    if (neg)
        PUT("-");
    if ((int)k <= nexp && nexp <= 21) {
        PUT("%s", digits);
        for (int i = 0; i < nexp - (int)k; i++)
            PUT("0");
    } else if (0 < nexp && nexp <= 21) {
        PUT("%.*s.%s", nexp, digits, digits + nexp);
    } else if (-6 < nexp && nexp <= 0) {
        PUT("0.");
        for (int i = 0; i < -nexp; i++)
            PUT("0");
        PUT("%s", digits);
    } else {
        if (k == 1)
            PUT("%c", digits[0]);
        else
            PUT("%c.%s", digits[0], digits + 1);
        PUT("e%c%d", nexp - 1 < 0 ? '-' : '+', abs(nexp - 1));
    }
#undef PUT
}

/* ---- string buffer --------------------------------------------------- */

void jn__sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n + 1 > MAX_STR) {
        b->bad = 2;
        return;
    }
    if (asl__text_grow(&b->p, &b->cap, b->n + n + 1, 64) < 0) {
        b->bad = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void jn__sb_puts(sbuf *b, const char *s) { jn__sb_put(b, s, strlen(s)); }

int jn__sb_done(ectx *c, sbuf *b, val *out)
{
    if (b->bad) {
        free(b->p);
        return b->bad == 2 ? jn__fail(c, "U1002", "String result too large") : jn__oom(c);
    }
    out->j = json_stringn_nocheck(b->p ? b->p : "", b->n);
    free(b->p);
    return out->j ? 0 : jn__oom(c);
}

int jn__mkstr(ectx *c, const char *s, size_t n, val *out)
{
    out->j = json_stringn_nocheck(s, n);
    return out->j ? 0 : jn__oom(c);
}

/* JSON.stringify-like text. round15: numbers rounded to 15 significant
 * digits as $string does. indent: pretty-print with 2 spaces. */
void jn__put_json(sbuf *b, const json_t *v, int round15, int indent, int level)
{
    char tmp[64];
    switch (json_typeof(v)) {
    case JSON_NULL:
        jn__sb_puts(b, "null");
        break;
    case JSON_TRUE:
        jn__sb_puts(b, "true");
        break;
    case JSON_FALSE:
        jn__sb_puts(b, "false");
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = jn__numv(v);
        if (round15) {
            snprintf(tmp, sizeof tmp, "%.14e", d);
            d = strtod(tmp, NULL);
        }
        if (!isfinite(d))
            snprintf(tmp, sizeof tmp, "null"); /* JSON.stringify(Infinity) */
        else
            jn__fmt_js_number(d, tmp, sizeof tmp);
        jn__sb_puts(b, tmp);
        break;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        jn__sb_put(b, "\"", 1);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            switch (ch) {
            case '"': jn__sb_puts(b, "\\\""); break;
            case '\\': jn__sb_puts(b, "\\\\"); break;
            case '\n': jn__sb_puts(b, "\\n"); break;
            case '\r': jn__sb_puts(b, "\\r"); break;
            case '\t': jn__sb_puts(b, "\\t"); break;
            case '\b': jn__sb_puts(b, "\\b"); break;
            case '\f': jn__sb_puts(b, "\\f"); break;
            default:
                if (ch < 0x20) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                    jn__sb_puts(b, tmp);
                } else
                    jn__sb_put(b, (const char *)&s[i], 1);
            }
        }
        jn__sb_put(b, "\"", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        jn__sb_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                jn__sb_put(b, ",", 1);
            if (indent) {
                jn__sb_put(b, "\n", 1);
                for (int k = 0; k <= level; k++)
                    jn__sb_puts(b, "  ");
            }
            jn__put_json(b, json_array_get(v, i), round15, indent, level + 1);
        }
        if (indent && n) {
            jn__sb_put(b, "\n", 1);
            for (int k = 0; k < level; k++)
                jn__sb_puts(b, "  ");
        }
        jn__sb_put(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        jn__sb_put(b, "{", 1);
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                jn__sb_put(b, ",", 1);
            first = 0;
            if (indent) {
                jn__sb_put(b, "\n", 1);
                for (int q = 0; q <= level; q++)
                    jn__sb_puts(b, "  ");
            }
            json_t *ks = json_string(k);
            if (ks)
                jn__put_json(b, ks, 0, 0, 0);
            json_decref(ks);
            jn__sb_put(b, indent ? ": " : ":", indent ? 2 : 1);
            jn__put_json(b, x, round15, indent, level + 1);
        }
        if (indent && !first) {
            jn__sb_put(b, "\n", 1);
            for (int q = 0; q < level; q++)
                jn__sb_puts(b, "  ");
        }
        jn__sb_put(b, "}", 1);
        break;
    }
    }
}

/* Text of a value for error messages (JSON.stringify). */
char *jn__msg_text(const val *v)
{
    if (v->fn)
        return strdup("{}");
    if (v->j == NULL)
        return strdup("undefined");
    sbuf b = {0};
    jn__put_json(&b, v->j, 0, 0, 0);
    if (b.bad || b.p == NULL) {
        free(b.p);
        return strdup("?");
    }
    if (b.n > 200) {
        b.p[197] = b.p[198] = b.p[199] = '.';
        b.p[200] = '\0';
    }
    return b.p;
}

/* ---- deep equality (numbers by value, as JavaScript compares) -------- */

int jn__deep_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return jn__numv(a) == jn__numv(b);
    if (json_typeof(a) != json_typeof(b))
        return 0;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jn__deep_eq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)a, k, x) {
            json_t *y = json_object_get(b, k);
            if (y == NULL || !jn__deep_eq(x, y))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

/* jsonata's boolean cast */
int jn__truthy(const val *v)
{
    if (v->fn)
        return 0;
    const json_t *j = v->j;
    if (j == NULL)
        return 0;
    switch (json_typeof(j)) {
    case JSON_TRUE:
        return 1;
    case JSON_FALSE:
    case JSON_NULL:
        return 0;
    case JSON_INTEGER:
    case JSON_REAL:
        return jn__numv(j) != 0;
    case JSON_STRING:
        return json_string_length(j) > 0;
    case JSON_OBJECT:
        return json_object_size(j) > 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (n == 1) {
            val x = {json_array_get(j, 0), NULL, 0, 0, 0, 0};
            return jn__truthy(&x);
        }
        for (size_t i = 0; i < n; i++) {
            val x = {json_array_get(j, i), NULL, 0, 0, 0, 0};
            if (jn__truthy(&x))
                return 1;
        }
        return 0;
    }
    }
    return 0;
}

/* ---- sequences ------------------------------------------------------- */

int jn__seq_init(ectx *c, val *s)
{
    *s = UNDEF;
    s->j = json_array();
    s->seq = 1;
    return s->j ? 0 : jn__oom(c);
}

int jn__arr_push(ectx *c, json_t *arr, json_t *item /* borrowed */)
{
    if (json_array_size(arr) >= MAX_ITEMS)
        return jn__fail(c, "U1003", "Array result too large");
    if (json_array_append(arr, item) < 0)
        return jn__oom(c);
    return 0;
}

/* Collapse a sequence the way every jsonata evaluation ends. */
void jn__seq_finish(val *v, int keep_array)
{
    if (!v->seq)
        return;
    if (keep_array)
        v->keep = 1;
    size_t n = json_array_size(v->j);
    if (n == 0) {
        jn__vfree(v);
    } else if (n == 1 && !v->keep) {
        json_t *x = json_incref(json_array_get(v->j, 0));
        json_decref(v->j);
        *v = UNDEF;
        v->j = x;
    }
}
