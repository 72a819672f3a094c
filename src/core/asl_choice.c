/*
 * asl_choice.c - Choice state rules (JSONPath query language) and RFC 3339
 * timestamps.
 *
 * A rule is compiled once (paths pre-parsed, literal timestamps and
 * StringMatches patterns pre-digested) and evaluated against a state input
 * without re-reading the rule's JSON. Semantics follow what AWS recorded:
 * a comparison whose operand has the wrong JSON type is simply false; a
 * Variable (or a ...Path operand) that matches nothing fails the execution
 * with States.Runtime, except under IsPresent.
 *
 * Must not: do I/O, read the clock, or keep references into the rule JSON
 * (the definition may be freed after compiling).
 */
#include "asl_nomem.h"
#include "asl_choice.h"
#include "asl_path.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nested And/Or/Not deeper than this is refused at compile time, so that
 * evaluation recursion is bounded. */
#define CHOICE_MAX_DEPTH 64

enum rule_kind { R_AND = 1, R_OR, R_NOT, R_CMP };
enum val_type { T_STRING = 1, T_NUMERIC, T_BOOLEAN, T_TIMESTAMP, T_MATCHES, T_IS };
enum cmp_op { C_EQ = 1, C_LT, C_GT, C_LE, C_GE };
enum is_op { IS_NULL = 1, IS_PRESENT, IS_NUMERIC, IS_STRING, IS_BOOLEAN, IS_TIMESTAMP };

typedef struct opdef {
    const char *name;
    int type;    /* enum val_type */
    int cmp;     /* enum cmp_op, or enum is_op for T_IS */
    int is_path; /* operand is a path into the input */
} opdef;

/* ASL spec "Choice Rules": every comparison operator and its ...Path form. */
static const opdef OPS[] = {
    {"StringEquals", T_STRING, C_EQ, 0},
    {"StringEqualsPath", T_STRING, C_EQ, 1},
    {"StringLessThan", T_STRING, C_LT, 0},
    {"StringLessThanPath", T_STRING, C_LT, 1},
    {"StringGreaterThan", T_STRING, C_GT, 0},
    {"StringGreaterThanPath", T_STRING, C_GT, 1},
    {"StringLessThanEquals", T_STRING, C_LE, 0},
    {"StringLessThanEqualsPath", T_STRING, C_LE, 1},
    {"StringGreaterThanEquals", T_STRING, C_GE, 0},
    {"StringGreaterThanEqualsPath", T_STRING, C_GE, 1},
    {"StringMatches", T_MATCHES, C_EQ, 0},
    {"NumericEquals", T_NUMERIC, C_EQ, 0},
    {"NumericEqualsPath", T_NUMERIC, C_EQ, 1},
    {"NumericLessThan", T_NUMERIC, C_LT, 0},
    {"NumericLessThanPath", T_NUMERIC, C_LT, 1},
    {"NumericGreaterThan", T_NUMERIC, C_GT, 0},
    {"NumericGreaterThanPath", T_NUMERIC, C_GT, 1},
    {"NumericLessThanEquals", T_NUMERIC, C_LE, 0},
    {"NumericLessThanEqualsPath", T_NUMERIC, C_LE, 1},
    {"NumericGreaterThanEquals", T_NUMERIC, C_GE, 0},
    {"NumericGreaterThanEqualsPath", T_NUMERIC, C_GE, 1},
    {"BooleanEquals", T_BOOLEAN, C_EQ, 0},
    {"BooleanEqualsPath", T_BOOLEAN, C_EQ, 1},
    {"TimestampEquals", T_TIMESTAMP, C_EQ, 0},
    {"TimestampEqualsPath", T_TIMESTAMP, C_EQ, 1},
    {"TimestampLessThan", T_TIMESTAMP, C_LT, 0},
    {"TimestampLessThanPath", T_TIMESTAMP, C_LT, 1},
    {"TimestampGreaterThan", T_TIMESTAMP, C_GT, 0},
    {"TimestampGreaterThanPath", T_TIMESTAMP, C_GT, 1},
    {"TimestampLessThanEquals", T_TIMESTAMP, C_LE, 0},
    {"TimestampLessThanEqualsPath", T_TIMESTAMP, C_LE, 1},
    {"TimestampGreaterThanEquals", T_TIMESTAMP, C_GE, 0},
    {"TimestampGreaterThanEqualsPath", T_TIMESTAMP, C_GE, 1},
    {"IsNull", T_IS, IS_NULL, 0},
    {"IsPresent", T_IS, IS_PRESENT, 0},
    {"IsNumeric", T_IS, IS_NUMERIC, 0},
    {"IsString", T_IS, IS_STRING, 0},
    {"IsBoolean", T_IS, IS_BOOLEAN, 0},
    {"IsTimestamp", T_IS, IS_TIMESTAMP, 0},
};
#define N_OPS (sizeof(OPS) / sizeof(OPS[0]))

/* A StringMatches pattern: literal bytes and '*' wildcards. */
typedef struct pat_tok {
    unsigned char c; /* literal byte; unused for a star */
    unsigned char star;
} pat_tok;

/* A timestamp to nanosecond precision (AWS accepts 9 fraction digits). */
typedef struct ts_val {
    int64_t sec;
    int32_t nsec;
} ts_val;

struct asl_choice_rule {
    int kind;                  /* enum rule_kind */
    /* R_AND / R_OR / R_NOT */
    size_t n_kids;
    asl_choice_rule **kids;
    /* R_CMP */
    const opdef *op;
    asl_path *var;             /* Variable */
    asl_path *operand_path;    /* ...Path operand */
    json_t *operand;           /* literal operand (own reference) */
    ts_val ts;                 /* literal Timestamp... operand, parsed */
    pat_tok *pat;              /* StringMatches */
    size_t n_pat;
};

/* ---- timestamps ------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, int m, int d)
{
    /* Proleptic Gregorian days since 1970-01-01 (era arithmetic). */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* RFC 3339 date-time as AWS accepts it: YYYY-MM-DDTHH:MM:SS, optional
 * fraction of 1..9 digits, then Z or +HH:MM / -HH:MM. The zone is required
 * ("2016-12-05T21:29:29" is refused, recorded), the 'T' is required ("NO_T"
 * refused), and letters may be lowercase as RFC 3339 allows. */
static int ts_parse(const char *s, ts_val *out)
{
    int y, mo, d, h, mi, se;
    size_t len = strlen(s);
    if (len < 20)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1)
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
        return -1;
    if (h > 23 || mi > 59 || se > 59)
        return -1;
    const char *p = s + 19;
    int32_t nsec = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd >= 9)
                return -1;
            nsec = nsec * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (int i = nd; i < 9; i++)
            nsec *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (oh * 60 + om) * 60;
        if (*p == '-')
            off = -off;
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    out->sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off;
    out->nsec = nsec;
    return 0;
}

int asl_timestamp_parse(const char *s, int64_t *epoch_ms)
{
    ts_val t;
    if (s == NULL || ts_parse(s, &t) != 0)
        return -1;
    if (epoch_ms)
        *epoch_ms = t.sec * 1000 + t.nsec / 1000000;
    return 0;
}

void asl_timestamp_format(int64_t epoch_ms, char *buf)
{
    int64_t ms = epoch_ms % 1000;
    int64_t secs = epoch_ms / 1000;
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days -= 1;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    /* Years outside 0..9999 cannot be written in 4 digits; clamp so the
     * 32-byte buffer is never overrun. */
    if (y < 0)
        y = 0;
    if (y > 9999)
        y = 9999;
    /* "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", by hand: a context object
     * carries one per state, and snprintf was a visible share of it */
    int f[7] = {(int)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), (int)ms};
    static const int width[7] = {4, 2, 2, 2, 2, 2, 3};
    static const char sep[7] = {'-', '-', 'T', ':', ':', '.', 'Z'};
    char *p = buf;
    for (int i = 0; i < 7; i++) {
        for (int k = width[i] - 1, v = f[i]; k >= 0; k--, v /= 10)
            p[k] = (char)('0' + v % 10);
        p += width[i];
        *p++ = sep[i];
    }
    *p = '\0';
}

static int ts_cmp(const ts_val *a, const ts_val *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    if (a->nsec != b->nsec)
        return a->nsec < b->nsec ? -1 : 1;
    return 0;
}

/* ---- compile ---------------------------------------------------------- */

static void rule_free(asl_choice_rule *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_kids; i++)
        rule_free(r->kids[i]);
    free(r->kids);
    asl_path_free(r->var);
    asl_path_free(r->operand_path);
    json_decref(r->operand);
    free(r->pat);
    free(r);
}

void asl_choice_free(asl_choice_rule *r)
{
    rule_free(r);
}

static const opdef *op_find(const char *name)
{
    for (size_t i = 0; i < N_OPS; i++)
        if (strcmp(OPS[i].name, name) == 0)
            return &OPS[i];
    return NULL;
}

/* err gets "SCHEMA_VALIDATION_FAILED: <msg> at <loc>[/<field>]". */
__attribute__((format(printf, 5, 6))) static int fail(char *err, size_t errlen, const char *loc,
                                                       const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "SCHEMA_VALIDATION_FAILED: %s at %s%s%s", msg, loc, field ? "/" : "",
                 field ? field : "");
    return -1;
}

/* The '*' of StringMatches matches any run of characters; "\*" is a literal
 * star and "\\" a literal backslash (ASL spec, StringMatches). */
static int pattern_compile(const char *s, pat_tok **out, size_t *n)
{
    size_t len = strlen(s);
    pat_tok *p = calloc(len + 1, sizeof *p);
    if (p == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && (s[i + 1] == '*' || s[i + 1] == '\\')) {
            p[k++].c = (unsigned char)s[++i];
        } else if (s[i] == '*') {
            if (k == 0 || !p[k - 1].star) /* "**" is the same as "*" */
                p[k++].star = 1;
        } else {
            p[k++].c = (unsigned char)s[i];
        }
    }
    *out = p;
    *n = k;
    return 0;
}

/* Iterative wildcard match with single-star backtracking: O(n*m) worst
 * case, no recursion, so a hostile pattern cannot blow the stack. */
static int pattern_match(const pat_tok *p, size_t np, const char *str, size_t ns)
{
    size_t i = 0, j = 0, star = (size_t)-1, mark = 0;
    while (i < ns) {
        if (j < np && !p[j].star && p[j].c == (unsigned char)str[i]) {
            i++;
            j++;
        } else if (j < np && p[j].star) {
            star = j++;
            mark = i;
        } else if (star != (size_t)-1) {
            j = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (j < np && p[j].star)
        j++;
    return j == np;
}

static int compile_path(const json_t *v, const char *field, const char *loc, asl_path **out, char *err,
                        size_t errlen)
{
    char perr[256] = "";
    if (!json_is_string(v))
        return fail(err, errlen, loc, field, "The value for the field '%s' must be a STRING", field);
    if (asl_path_compile(json_string_value(v), ASL_PATH_ANY, out, perr, sizeof perr) != 0)
        return fail(err, errlen, loc, field, "The value for the field '%s' must be a valid JSONPath", field);
    return 0;
}

static int compile_rule(const json_t *j, int top_level, const char *loc, int depth, asl_choice_rule **out,
                        char *err, size_t errlen);

static int compile_cmp(asl_choice_rule *r, const json_t *j, int top_level, const char *loc, char *err,
                       size_t errlen)
{
    const char *key;
    const json_t *val;
    const opdef *op = NULL;
    const json_t *opval = NULL;
    int n_ops = 0;
    json_object_foreach((json_t *)j, key, val) {
        const opdef *o = op_find(key);
        if (o != NULL) {
            op = o;
            opval = val;
            n_ops++;
            continue;
        }
        if (strcmp(key, "Variable") == 0 || strcmp(key, "Comment") == 0)
            continue;
        if (top_level && (strcmp(key, "Next") == 0 || strcmp(key, "Assign") == 0))
            continue;
        return fail(err, errlen, loc, NULL, "Field '%s' is not supported", key);
    }
    if (n_ops != 1) {
        return fail(err, errlen, loc, NULL,
                    n_ops == 0 ? "A comparison operator is required together with 'Variable'"
                               : "There should only be one comparison operator together with 'Variable'");
    }
    r->kind = R_CMP;
    r->op = op;
    if (compile_path(json_object_get(j, "Variable"), "Variable", loc, &r->var, err, errlen) != 0)
        return -1;
    if (op->is_path)
        return compile_path(opval, op->name, loc, &r->operand_path, err, errlen);
    switch (op->type) {
    case T_STRING:
    case T_MATCHES:
        if (!json_is_string(opval))
            return fail(err, errlen, loc, op->name, "The value for the field '%s' must be a STRING", op->name);
        if (op->type == T_MATCHES &&
            pattern_compile(json_string_value(opval), &r->pat, &r->n_pat) != 0)
            return fail(err, errlen, loc, op->name, "%s", ASL_NOMEM);
        break;
    case T_NUMERIC:
        if (!json_is_number(opval))
            return fail(err, errlen, loc, op->name, "The value for the field '%s' must be a NUMBER", op->name);
        break;
    case T_BOOLEAN:
    case T_IS:
        if (!json_is_boolean(opval))
            return fail(err, errlen, loc, op->name, "The value for the field '%s' must be a BOOLEAN", op->name);
        break;
    case T_TIMESTAMP:
        if (!json_is_string(opval) || ts_parse(json_string_value(opval), &r->ts) != 0)
            return fail(err, errlen, loc, op->name, "String does not match RFC3339 timestamp");
        break;
    }
    r->operand = json_incref((json_t *)opval);
    return 0;
}

static int compile_bool(asl_choice_rule *r, const json_t *j, const char *which, int top_level,
                        const char *loc, int depth, char *err, size_t errlen)
{
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)j, key, val) {
        if (strcmp(key, which) == 0 || strcmp(key, "Comment") == 0)
            continue;
        if (top_level && (strcmp(key, "Next") == 0 || strcmp(key, "Assign") == 0))
            continue;
        return fail(err, errlen, loc, NULL, "Field '%s' is not supported", key);
    }
    const json_t *sub = json_object_get(j, which);
    char subloc[512];
    if (strcmp(which, "Not") == 0) {
        r->kind = R_NOT;
        r->kids = calloc(1, sizeof *r->kids);
        if (r->kids == NULL)
            return fail(err, errlen, loc, NULL, "%s", ASL_NOMEM);
        r->n_kids = 1;
        snprintf(subloc, sizeof subloc, "%s/Not", loc);
        return compile_rule(sub, 0, subloc, depth + 1, &r->kids[0], err, errlen);
    }
    r->kind = strcmp(which, "And") == 0 ? R_AND : R_OR;
    if (!json_is_array(sub))
        return fail(err, errlen, loc, which, "The value for the field '%s' must be an ARRAY", which);
    if (json_array_size(sub) == 0)
        return fail(err, errlen, loc, which, "Value cannot be empty");
    r->kids = calloc(json_array_size(sub), sizeof *r->kids);
    if (r->kids == NULL)
        return fail(err, errlen, loc, NULL, "%s", ASL_NOMEM);
    for (size_t i = 0; i < json_array_size(sub); i++) {
        snprintf(subloc, sizeof subloc, "%s/%s[%zu]", loc, which, i);
        r->n_kids = i + 1;
        if (compile_rule(json_array_get(sub, i), 0, subloc, depth + 1, &r->kids[i], err, errlen) != 0)
            return -1;
    }
    return 0;
}

static int compile_rule(const json_t *j, int top_level, const char *loc, int depth, asl_choice_rule **out,
                        char *err, size_t errlen)
{
    *out = NULL;
    if (!json_is_object(j))
        return fail(err, errlen, loc, NULL, "Value should be an OBJECT");
    if (depth > CHOICE_MAX_DEPTH)
        return fail(err, errlen, loc, NULL, "Choice rule nested too deeply (limit %d)", CHOICE_MAX_DEPTH);
    if (top_level && json_object_get(j, "Next") == NULL)
        return fail(err, errlen, loc, NULL, "These fields are required: [Next]");
    if (top_level && !json_is_string(json_object_get(j, "Next")))
        return fail(err, errlen, loc, "Next", "The value for the field 'Next' must be a STRING");
    if (!top_level && json_object_get(j, "Next") != NULL)
        return fail(err, errlen, loc, NULL, "Field 'Next' is not supported");

    static const char *const SEL[] = {"And", "Or", "Not", "Variable"};
    const char *which = NULL;
    int n_sel = 0;
    for (size_t i = 0; i < 4; i++) {
        if (json_object_get(j, SEL[i]) != NULL) {
            which = SEL[i];
            n_sel++;
        }
    }
    if (n_sel != 1)
        return fail(err, errlen, loc, NULL,
                    "The object must have only one of the following fields, [And, Or, Not, Variable]");

    asl_choice_rule *r = calloc(1, sizeof *r);
    if (r == NULL)
        return fail(err, errlen, loc, NULL, "%s", ASL_NOMEM);
    int rc = strcmp(which, "Variable") == 0 ? compile_cmp(r, j, top_level, loc, err, errlen)
                                            : compile_bool(r, j, which, top_level, loc, depth, err, errlen);
    if (rc != 0) {
        rule_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

int asl_choice_compile(const json_t *rule, int top_level, const char *location, asl_choice_rule **out,
                       char *err, size_t errlen)
{
    if (out == NULL)
        return -1;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    return compile_rule(rule, top_level, location ? location : "", 0, out, err, errlen);
}

/* ---- evaluate ---------------------------------------------------------- */

/* Next UTF-16 code unit of a UTF-8 string (Java compares strings by UTF-16
 * units, so "\uFFFF" sorts after an astral character there). *pend holds
 * the low surrogate still to come. Returns -1 at the end. */
static int utf16_next(const unsigned char **ps, const unsigned char *end, int *pend)
{
    if (*pend >= 0) {
        int u = *pend;
        *pend = -1;
        return u;
    }
    const unsigned char *s = *ps;
    if (s >= end)
        return -1;
    uint32_t cp = s[0];
    int n = 1;
    if (cp >= 0xF0 && end - s >= 4) {
        cp = ((cp & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
        n = 4;
    } else if (cp >= 0xE0 && end - s >= 3) {
        cp = ((cp & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        n = 3;
    } else if (cp >= 0xC0 && end - s >= 2) {
        cp = ((cp & 0x1Fu) << 6) | (s[1] & 0x3Fu);
        n = 2;
    }
    *ps = s + n;
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *pend = (int)(0xDC00 + (cp & 0x3FF));
        return (int)(0xD800 + (cp >> 10));
    }
    return (int)cp;
}

static int str_cmp(const json_t *a, const json_t *b)
{
    const unsigned char *pa = (const unsigned char *)json_string_value(a);
    const unsigned char *pb = (const unsigned char *)json_string_value(b);
    const unsigned char *ea = pa + json_string_length(a);
    const unsigned char *eb = pb + json_string_length(b);
    int qa = -1, qb = -1;
    for (;;) {
        int ua = utf16_next(&pa, ea, &qa);
        int ub = utf16_next(&pb, eb, &qb);
        if (ua != ub)
            return ua < ub ? -1 : 1; /* -1 (end) sorts first */
        if (ua < 0)
            return 0;
    }
}

static int num_cmp(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    double x = json_number_value(a), y = json_number_value(b);
    return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_holds(int cmp, int c)
{
    switch (cmp) {
    case C_EQ:
        return c == 0;
    case C_LT:
        return c < 0;
    case C_GT:
        return c > 0;
    case C_LE:
        return c <= 0;
    case C_GE:
        return c >= 0;
    }
    return 0;
}

static int is_timestamp(const json_t *v, ts_val *t)
{
    ts_val tmp;
    return json_is_string(v) && ts_parse(json_string_value(v), t ? t : &tmp) == 0;
}

/* Type mismatches are false, never an error (recorded: NumericEquals on a
 * string, BooleanEquals on 0, TimestampEquals on a number...). */
static int compare(const asl_choice_rule *r, const json_t *v, const json_t *operand)
{
    const opdef *op = r->op;
    switch (op->type) {
    case T_STRING:
        if (!json_is_string(v) || !json_is_string(operand))
            return 0;
        return cmp_holds(op->cmp, str_cmp(v, operand));
    case T_MATCHES:
        if (!json_is_string(v))
            return 0;
        return pattern_match(r->pat, r->n_pat, json_string_value(v), json_string_length(v));
    case T_NUMERIC:
        if (!json_is_number(v) || !json_is_number(operand))
            return 0;
        return cmp_holds(op->cmp, num_cmp(v, operand));
    case T_BOOLEAN:
        if (!json_is_boolean(v) || !json_is_boolean(operand))
            return 0;
        return json_is_true(v) == json_is_true(operand);
    case T_TIMESTAMP: {
        ts_val a, b;
        if (!is_timestamp(v, &a))
            return 0;
        if (op->is_path) {
            if (!is_timestamp(operand, &b))
                return 0;
        } else {
            b = r->ts;
        }
        return cmp_holds(op->cmp, ts_cmp(&a, &b));
    }
    case T_IS: {
        int want = json_is_true(operand);
        int got = 0;
        switch (op->cmp) {
        case IS_NULL:
            got = json_is_null(v);
            break;
        case IS_NUMERIC:
            got = json_is_number(v);
            break;
        case IS_STRING:
            got = json_is_string(v);
            break;
        case IS_BOOLEAN:
            got = json_is_boolean(v);
            break;
        case IS_TIMESTAMP:
            got = is_timestamp(v, NULL);
            break;
        }
        return got == want;
    }
    }
    return 0;
}

static void invalid_path(asl_err *e, const asl_path *p)
{
    asl_err_set(e, "States.Runtime", "Invalid path '%s': The choice state's condition path references an invalid value.",
                asl_path_text(p));
}

static int eval_rule(const asl_choice_rule *r, json_t *input, const asl_scope *scope, int *matched, asl_err *e)
{
    int m = 0;
    switch (r->kind) {
    case R_NOT:
        if (eval_rule(r->kids[0], input, scope, &m, e) != 0)
            return -1;
        *matched = !m;
        return 0;
    case R_AND:
    case R_OR:
        for (size_t i = 0; i < r->n_kids; i++) {
            if (eval_rule(r->kids[i], input, scope, &m, e) != 0)
                return -1;
            if (r->kind == R_AND ? !m : m) {
                *matched = m;
                return 0;
            }
        }
        *matched = r->kind == R_AND;
        return 0;
    case R_CMP:
        break;
    default:
        return -1;
    }

    json_t *v = NULL;
    int present = asl_path_eval(r->var, input, scope, &v) == 0;
    if (r->op->type == T_IS && r->op->cmp == IS_PRESENT) {
        json_decref(v);
        *matched = present == json_is_true(r->operand);
        return 0;
    }
    if (!present) {
        invalid_path(e, r->var);
        return -1;
    }
    json_t *operand = r->operand;
    json_t *pv = NULL;
    if (r->op->is_path) {
        if (asl_path_eval(r->operand_path, input, scope, &pv) != 0) {
            json_decref(v);
            invalid_path(e, r->operand_path);
            return -1;
        }
        operand = pv;
    }
    *matched = compare(r, v, operand);
    json_decref(v);
    json_decref(pv);
    return 0;
}

int asl_choice_eval(const asl_choice_rule *r, json_t *input, const asl_scope *scope, int *matched, asl_err *e)
{
    int m = 0;
    if (r == NULL || matched == NULL)
        return -1;
    if (eval_rule(r, input, scope, &m, e) != 0)
        return -1;
    *matched = m;
    return 0;
}
