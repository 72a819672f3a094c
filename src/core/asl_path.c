/*
 * asl_path.c - JSONPath as AWS Step Functions evaluates it (Jayway
 * semantics): compile once into a step list, evaluate without re-parsing,
 * share matched nodes by reference. Also ResultPath placement
 * (asl_path_set), copy-on-write: the document it is given is never
 * modified. No I/O.
 *
 * Supported: $ $$ $var roots; .name ['name'] ["name"] ['a','b'] [0] [-1]
 * [0,2] [a:b] [*] .* .. (deep scan) [?(<filter>)] with == != < <= > >=,
 * && || ! and parentheses; filter operands @.path, $.path, numbers,
 * strings, true, false, null; [?(@.x)] tests existence.
 */
#include "asl_nomem.h"
#include "asl_path.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS ASL_MAX_DEPTH
#define MAX_FILTER_NEST 32

enum step_kind {
    S_NAME,
    S_INDEX,
    S_WILD,
    S_SLICE,
    S_NAMES, /* ['a','b'] */
    S_INDEXES, /* [0,2] */
    S_FILTER,
    S_DEEP, /* .. : apply the rest at this node and every descendant */
};

enum root_kind { R_INPUT, R_CONTEXT, R_VAR, R_CURRENT };

typedef struct fexpr fexpr;

typedef struct step {
    int kind;
    char *name;         /* S_NAME */
    long long index;    /* S_INDEX */
    long long from, to; /* S_SLICE */
    int has_from, has_to;
    char **names;       /* S_NAMES */
    long long *idx;     /* S_INDEXES */
    size_t count;       /* entries in names/idx */
    fexpr *filter;      /* S_FILTER */
} step;

typedef struct seq {
    step *v;
    size_t n, cap;
    int definite;
} seq;

enum fop { F_OR, F_AND, F_NOT, F_EXISTS, F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE };
enum okind { O_LIT, O_CUR, O_ROOT };

typedef struct operand {
    int kind;
    json_t *lit; /* O_LIT */
    seq path;    /* O_CUR / O_ROOT */
} operand;

struct fexpr {
    int op;
    fexpr *l, *r;    /* F_OR F_AND F_NOT */
    operand a, b;    /* F_EXISTS uses a; comparisons a OP b */
};

struct asl_path {
    char *text;
    char *normal;
    int root;
    char *var; /* R_VAR */
    seq s;
};

/* ---- freeing --------------------------------------------------------- */

static void seq_clear(seq *s);

static void fexpr_free(fexpr *f)
{
    if (f == NULL)
        return;
    fexpr_free(f->l);
    fexpr_free(f->r);
    json_decref(f->a.lit);
    json_decref(f->b.lit);
    seq_clear(&f->a.path);
    seq_clear(&f->b.path);
    free(f);
}

static void seq_clear(seq *s)
{
    for (size_t i = 0; i < s->n; i++) {
        step *t = &s->v[i];
        free(t->name);
        for (size_t k = 0; t->names && k < t->count; k++)
            free(t->names[k]);
        free(t->names);
        free(t->idx);
        fexpr_free(t->filter);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

void asl_path_free(asl_path *p)
{
    if (p == NULL)
        return;
    free(p->text);
    free(p->normal);
    free(p->var);
    seq_clear(&p->s);
    free(p);
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct parser {
    const char *s;
    size_t i, n;
    char *err;
    size_t errlen;
    int failed;
    int nest;      /* filter nesting */
    size_t nsteps; /* all steps, filters included */
} parser;

static void perr(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(parser *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    asl__parse_err(&P->failed, P->err, P->errlen, fmt, ap);
    va_end(ap);
}

static int peek(const parser *P) { return P->i < P->n ? (unsigned char)P->s[P->i] : -1; }

static void skip_ws(parser *P)
{
    while (P->i < P->n && (P->s[P->i] == ' ' || P->s[P->i] == '\t'))
        P->i++;
}

static step *seq_push(parser *P, seq *s, int kind)
{
    if (++P->nsteps > MAX_STEPS) {
        perr(P, "path has too many steps");
        return NULL;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        step *v = realloc(s->v, cap * sizeof *v);
        if (v == NULL) {
            perr(P, "%s", ASL_NOMEM);
            return NULL;
        }
        s->v = v;
        s->cap = cap;
    }
    step *t = &s->v[s->n++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    if (kind != S_NAME && kind != S_INDEX)
        s->definite = 0;
    return t;
}

/* Characters that end a dot-notation name inside a filter expression. */
static int filter_stop(int c)
{
    return c == ' ' || c == '\t' || c == ')' || c == '=' || c == '!' || c == '<' || c == '>' ||
           c == '&' || c == '|' || c == ',' || c == ']';
}

static char *read_dot_name(parser *P, int in_filter)
{
    size_t st = P->i;
    while (P->i < P->n) {
        int c = (unsigned char)P->s[P->i];
        if (c == '.' || c == '[')
            break;
        if (in_filter && filter_stop(c))
            break;
        if (c == ' ' || c == '(' || c == ')') {
            perr(P, "use bracket notation ['name'] for a property containing '%c' (position %zu)",
                 c, P->i);
            return NULL;
        }
        P->i++;
    }
    if (P->i == st) {
        perr(P, "expected a property name at position %zu", st);
        return NULL;
    }
    char *name = strndup(P->s + st, P->i - st);
    if (name == NULL)
        perr(P, "%s", ASL_NOMEM);
    return name;
}

/* A quoted name ('x' or "x"); \ followed by the quote character is that
 * character, any other backslash is kept as it is (AWS keeps "\"" in
 * ['Test\""Name"'] literally). */
static char *read_quoted(parser *P)
{
    int q = peek(P);
    P->i++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        perr(P, "%s", ASL_NOMEM);
        return NULL;
    }
    for (;;) {
        if (P->i >= P->n) {
            free(out);
            perr(P, "unterminated quoted name");
            return NULL;
        }
        char c = P->s[P->i++];
        if (c == q)
            break;
        if (c == '\\' && P->i < P->n && P->s[P->i] == q)
            c = P->s[P->i++];
        if (n + 2 > cap) {
            cap *= 2;
            char *o = realloc(out, cap);
            if (o == NULL) {
                free(out);
                perr(P, "%s", ASL_NOMEM);
                return NULL;
            }
            out = o;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

static int read_int(parser *P, long long *v)
{
    skip_ws(P);
    size_t st = P->i;
    if (peek(P) == '-')
        P->i++;
    if (!isdigit(peek(P))) {
        P->i = st;
        return 0;
    }
    while (isdigit(peek(P)))
        P->i++;
    char tmp[32];
    size_t len = P->i - st;
    if (len >= sizeof tmp) {
        perr(P, "index too large at position %zu", st);
        return -1;
    }
    memcpy(tmp, P->s + st, len);
    tmp[len] = '\0';
    errno = 0;
    *v = strtoll(tmp, NULL, 10);
    if (errno) {
        perr(P, "index too large at position %zu", st);
        return -1;
    }
    skip_ws(P);
    return 1;
}

static int parse_seq(parser *P, seq *s, int in_filter);
static fexpr *parse_or(parser *P);

static int parse_filter(parser *P, seq *s)
{
    /* at '?' */
    P->i++;
    skip_ws(P);
    if (peek(P) != '(') {
        perr(P, "expected '(' after '?' at position %zu", P->i);
        return -1;
    }
    P->i++;
    if (++P->nest > MAX_FILTER_NEST) {
        perr(P, "filters nested too deep");
        return -1;
    }
    fexpr *f = parse_or(P);
    P->nest--;
    if (f == NULL)
        return -1;
    skip_ws(P);
    if (peek(P) != ')') {
        fexpr_free(f);
        perr(P, "expected ')' at position %zu", P->i);
        return -1;
    }
    P->i++;
    skip_ws(P);
    if (peek(P) != ']') {
        fexpr_free(f);
        perr(P, "expected ']' at position %zu", P->i);
        return -1;
    }
    P->i++;
    step *t = seq_push(P, s, S_FILTER);
    if (t == NULL) {
        fexpr_free(f);
        return -1;
    }
    t->filter = f;
    return 0;
}

/* ['a'] or ['a','b',...]: at the first quote. */
static int parse_names(parser *P, seq *s)
{
    char **names = NULL;
    size_t count = 0;
    for (;;) {
        skip_ws(P);
        if (peek(P) != '\'' && peek(P) != '"') {
            perr(P, "expected a quoted name at position %zu", P->i);
            goto fail_names;
        }
        char *nm = read_quoted(P);
        if (nm == NULL)
            goto fail_names;
        char **nn = realloc(names, (count + 1) * sizeof *nn);
        if (nn == NULL) {
            free(nm);
            perr(P, "%s", ASL_NOMEM);
            goto fail_names;
        }
        names = nn;
        names[count++] = nm;
        skip_ws(P);
        if (peek(P) == ',') {
            P->i++;
            continue;
        }
        if (peek(P) == ']') {
            P->i++;
            break;
        }
        perr(P, "expected ']' at position %zu", P->i);
        goto fail_names;
    }
    if (count == 1) {
        step *t = seq_push(P, s, S_NAME);
        if (t == NULL)
            goto fail_names;
        t->name = names[0];
        free(names);
        return 0;
    } else {
        step *t = seq_push(P, s, S_NAMES);
        if (t == NULL)
            goto fail_names;
        t->names = names;
        t->count = count;
        return 0;
    }
fail_names:
    for (size_t k = 0; k < count; k++)
        free(names[k]);
    free(names);
    return -1;
}

/* [a,b,...]: after its first index a, at the ','. */
static int parse_indexes(parser *P, seq *s, long long a)
{
    long long *idx = NULL;
    size_t count = 0;
    for (;;) {
        long long *ni = realloc(idx, (count + 1) * sizeof *ni);
        if (ni == NULL) {
            perr(P, "%s", ASL_NOMEM);
            goto fail_idx;
        }
        idx = ni;
        idx[count++] = a;
        if (peek(P) == ']') {
            P->i++;
            break;
        }
        if (peek(P) != ',') {
            perr(P, "expected ',' or ']' at position %zu", P->i);
            goto fail_idx;
        }
        P->i++;
        int r = read_int(P, &a);
        if (r <= 0) {
            if (r == 0)
                perr(P, "expected an index at position %zu", P->i);
            goto fail_idx;
        }
    }
    {
        step *t = seq_push(P, s, S_INDEXES);
        if (t == NULL)
            goto fail_idx;
        t->idx = idx;
        t->count = count;
        return 0;
    }
fail_idx:
    free(idx);
    return -1;
}

static int parse_bracket(parser *P, seq *s)
{
    P->i++; /* '[' */
    skip_ws(P);
    int c = peek(P);
    if (c == '*') {
        P->i++;
        skip_ws(P);
        if (peek(P) != ']') {
            perr(P, "expected ']' at position %zu", P->i);
            return -1;
        }
        P->i++;
        return seq_push(P, s, S_WILD) ? 0 : -1;
    }
    if (c == '?')
        return parse_filter(P, s);
    if (c == '\'' || c == '"')
        return parse_names(P, s);
    /* numbers: index, index list or slice */
    long long a = 0, b = 0;
    int ha = read_int(P, &a);
    if (ha < 0)
        return -1;
    if (peek(P) == ':') {
        P->i++;
        int hb = read_int(P, &b);
        if (hb < 0)
            return -1;
        if (peek(P) != ']') {
            perr(P, "expected ']' at position %zu", P->i);
            return -1;
        }
        P->i++;
        step *t = seq_push(P, s, S_SLICE);
        if (t == NULL)
            return -1;
        t->from = a;
        t->to = b;
        t->has_from = ha;
        t->has_to = hb;
        return 0;
    }
    if (!ha) {
        perr(P, "unexpected character in brackets at position %zu", P->i);
        return -1;
    }
    if (peek(P) == ']') {
        P->i++;
        step *t = seq_push(P, s, S_INDEX);
        if (t == NULL)
            return -1;
        t->index = a;
        return 0;
    }
    return parse_indexes(P, s, a);
}

/* Steps after a root, until the end of text (or, in a filter, until an
 * operator or closing bracket). */
static int parse_seq(parser *P, seq *s, int in_filter)
{
    s->definite = 1;
    while (P->i < P->n && !P->failed) {
        int c = peek(P);
        if (in_filter && filter_stop(c))
            break;
        if (c == '[') {
            if (parse_bracket(P, s) < 0)
                return -1;
            continue;
        }
        if (c != '.') {
            perr(P, "unexpected character '%c' at position %zu", c, P->i);
            return -1;
        }
        P->i++;
        if (peek(P) == '.') {
            P->i++;
            if (!seq_push(P, s, S_DEEP))
                return -1;
            if (peek(P) == '[')
                continue;
        }
        if (peek(P) == '*') {
            P->i++;
            if (!seq_push(P, s, S_WILD))
                return -1;
            continue;
        }
        char *name = read_dot_name(P, in_filter);
        if (name == NULL)
            return -1;
        step *t = seq_push(P, s, S_NAME);
        if (t == NULL) {
            free(name);
            return -1;
        }
        t->name = name;
    }
    return P->failed ? -1 : 0;
}

/* ---- filter expressions ----------------------------------------------- */

static int parse_operand(parser *P, operand *o)
{
    skip_ws(P);
    int c = peek(P);
    if (c == '@' || c == '$') {
        o->kind = c == '@' ? O_CUR : O_ROOT;
        P->i++;
        return parse_seq(P, &o->path, 1);
    }
    o->kind = O_LIT;
    if (c == '\'' || c == '"') {
        char *str = read_quoted(P);
        if (str == NULL)
            return -1;
        o->lit = json_string(str);
        free(str);
        if (o->lit == NULL) {
            perr(P, "invalid string literal");
            return -1;
        }
        return 0;
    }
    if (c == '-' || isdigit(c)) {
        size_t st = P->i;
        int real;
        P->i = asl__scan_number(P->s, P->i, P->n, "-", &real);
        char tmp[64];
        size_t len = P->i - st;
        if (len >= sizeof tmp) {
            perr(P, "number too long at position %zu", st);
            return -1;
        }
        memcpy(tmp, P->s + st, len);
        tmp[len] = '\0';
        char *end;
        errno = 0;
        if (real) {
            double d = strtod(tmp, &end);
            if (*end || errno) {
                perr(P, "invalid number at position %zu", st);
                return -1;
            }
            o->lit = json_real(d);
        } else {
            long long v = strtoll(tmp, &end, 10);
            if (*end || errno) {
                perr(P, "invalid number at position %zu", st);
                return -1;
            }
            o->lit = json_integer(v);
        }
        return o->lit ? 0 : -1;
    }
    static const struct {
        const char *w;
        int t;
    } words[] = {{"true", JSON_TRUE}, {"false", JSON_FALSE}, {"null", JSON_NULL}};
    for (size_t k = 0; k < 3; k++) {
        size_t wl = strlen(words[k].w);
        if (P->n - P->i >= wl && memcmp(P->s + P->i, words[k].w, wl) == 0) {
            P->i += wl;
            o->lit = words[k].t == JSON_TRUE ? json_true()
                     : words[k].t == JSON_FALSE ? json_false()
                                                : json_null();
            return 0;
        }
    }
    perr(P, "unexpected character in filter at position %zu", P->i);
    return -1;
}

static int match_op(parser *P)
{
    static const struct {
        const char *t;
        int op;
    } ops[] = {{"==", F_EQ}, {"!=", F_NE}, {"<=", F_LE}, {">=", F_GE}, {"<", F_LT}, {">", F_GT}};
    skip_ws(P);
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
        size_t l = strlen(ops[k].t);
        if (P->n - P->i >= l && memcmp(P->s + P->i, ops[k].t, l) == 0) {
            P->i += l;
            return ops[k].op;
        }
    }
    return -1;
}

static fexpr *fnew(parser *P, int op)
{
    fexpr *f = calloc(1, sizeof *f);
    if (f == NULL)
        perr(P, "%s", ASL_NOMEM);
    else
        f->op = op;
    return f;
}

static fexpr *parse_unary(parser *P)
{
    skip_ws(P);
    if (++P->nest > MAX_FILTER_NEST) {
        perr(P, "filter nested too deep");
        P->nest--;
        return NULL;
    }
    fexpr *f = NULL;
    if (peek(P) == '!' && !(P->i + 1 < P->n && P->s[P->i + 1] == '=')) {
        P->i++;
        fexpr *in = parse_unary(P);
        if (in && (f = fnew(P, F_NOT)) != NULL)
            f->l = in;
        else
            fexpr_free(in);
        goto out;
    }
    if (peek(P) == '(') {
        P->i++;
        f = parse_or(P);
        skip_ws(P);
        if (f && peek(P) != ')') {
            perr(P, "expected ')' at position %zu", P->i);
            fexpr_free(f);
            f = NULL;
        } else if (f)
            P->i++;
        goto out;
    }
    f = fnew(P, F_EXISTS);
    if (f == NULL)
        goto out;
    if (parse_operand(P, &f->a) < 0) {
        fexpr_free(f);
        f = NULL;
        goto out;
    }
    size_t save = P->i;
    int op = match_op(P);
    if (op < 0) {
        P->i = save;
        if (f->a.kind == O_LIT) {
            perr(P, "expected a comparison at position %zu", P->i);
            fexpr_free(f);
            f = NULL;
        }
        goto out;
    }
    f->op = op;
    if (parse_operand(P, &f->b) < 0) {
        fexpr_free(f);
        f = NULL;
    }
out:
    P->nest--;
    return f;
}

/* One level of a left-associative boolean chain: next (op next)*, where op
 * is the two-character c c ("&&" binds tighter than "||"). */
static fexpr *parse_chain(parser *P, fexpr *(*next)(parser *), char c, int kind)
{
    fexpr *l = next(P);
    while (l) {
        skip_ws(P);
        if (!(P->n - P->i >= 2 && P->s[P->i] == c && P->s[P->i + 1] == c))
            break;
        P->i += 2;
        fexpr *r = next(P);
        fexpr *f = r ? fnew(P, kind) : NULL;
        if (f == NULL) {
            fexpr_free(l);
            fexpr_free(r);
            return NULL;
        }
        f->l = l;
        f->r = r;
        l = f;
    }
    return l;
}

static fexpr *parse_and(parser *P)
{
    return parse_chain(P, parse_unary, '&', F_AND);
}

static fexpr *parse_or(parser *P)
{
    return parse_chain(P, parse_and, '|', F_OR);
}

/* ---- normalised text ----------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (asl__text_grow(&b->p, &b->cap, b->n + n + 1, 32) < 0) {
        b->oom = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_int(sbuf *b, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    sb_put(b, t, (size_t)n);
}

static char *normalise(const asl_path *p)
{
    sbuf b = {0};
    if (p->root == R_CONTEXT)
        sb_str(&b, "$$");
    else if (p->root == R_VAR) {
        sb_str(&b, "$");
        sb_str(&b, p->var);
    } else
        sb_str(&b, "$");
    for (size_t i = 0; i < p->s.n; i++) {
        const step *t = &p->s.v[i];
        switch (t->kind) {
        case S_NAME:
            sb_str(&b, "['");
            sb_str(&b, t->name);
            sb_str(&b, "']");
            break;
        case S_INDEX:
            sb_str(&b, "[");
            sb_int(&b, t->index);
            sb_str(&b, "]");
            break;
        case S_WILD:
            sb_str(&b, "[*]");
            break;
        case S_SLICE:
            sb_str(&b, "[");
            if (t->has_from)
                sb_int(&b, t->from);
            sb_str(&b, ":");
            if (t->has_to)
                sb_int(&b, t->to);
            sb_str(&b, "]");
            break;
        case S_NAMES:
            sb_str(&b, "[");
            for (size_t k = 0; k < t->count; k++) {
                sb_str(&b, k ? ",'" : "'");
                sb_str(&b, t->names[k]);
                sb_str(&b, "'");
            }
            sb_str(&b, "]");
            break;
        case S_INDEXES:
            sb_str(&b, "[");
            for (size_t k = 0; k < t->count; k++) {
                if (k)
                    sb_str(&b, ",");
                sb_int(&b, t->idx[k]);
            }
            sb_str(&b, "]");
            break;
        case S_FILTER:
            sb_str(&b, "[?]");
            break;
        case S_DEEP:
            sb_str(&b, "..");
            break;
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- compile ------------------------------------------------------------- */

int asl_path_compile(const char *text, int flags, asl_path **out, char *err, size_t errlen)
{
    parser P = {.s = text, .n = text ? strlen(text) : 0, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (text == NULL || text[0] != '$') {
        perr(&P, "a JSONPath must start with '$'");
        return -1;
    }
    asl_path *p = calloc(1, sizeof *p);
    if (p == NULL) {
        perr(&P, "%s", ASL_NOMEM);
        return -1;
    }
    p->text = strdup(text);
    if (p->text == NULL) {
        perr(&P, "%s", ASL_NOMEM);
        goto fail;
    }
    P.i = 1;
    if (peek(&P) == '$') {
        p->root = R_CONTEXT;
        P.i++;
    } else if (peek(&P) == '_' || isalpha(peek(&P))) {
        size_t st = P.i;
        while (peek(&P) == '_' || isalnum(peek(&P)))
            P.i++;
        p->root = R_VAR;
        p->var = strndup(text + st, P.i - st);
        if (p->var == NULL) {
            perr(&P, "%s", ASL_NOMEM);
            goto fail;
        }
    } else
        p->root = R_INPUT;
    if (parse_seq(&P, &p->s, 0) < 0)
        goto fail;
    if (p->s.n > 0 && p->s.v[p->s.n - 1].kind == S_DEEP) {
        perr(&P, "a path must not end with '..'");
        goto fail;
    }
    if (flags & ASL_PATH_REFERENCE) {
        if (p->root == R_CONTEXT) {
            perr(&P, "a reference path must not refer to the context object");
            goto fail;
        }
        if (!p->s.definite) {
            perr(&P, "a reference path must be definite (no wildcard, slice, filter, union or "
                     "deep scan)");
            goto fail;
        }
    }
    p->normal = normalise(p);
    if (p->normal == NULL) {
        perr(&P, "%s", ASL_NOMEM);
        goto fail;
    }
    *out = p;
    return 0;
fail:
    asl_path_free(p);
    return -1;
}

const char *asl_path_text(const asl_path *p) { return p->text; }
const char *asl_path_normalized(const asl_path *p) { return p->normal; }
int asl_path_is_definite(const asl_path *p) { return p->s.definite; }
int asl_path_is_context(const asl_path *p) { return p->root == R_CONTEXT; }
int asl_path_is_variable(const asl_path *p) { return p->root == R_VAR; }

/* ---- evaluation ---------------------------------------------------------- */

typedef struct ectx {
    json_t *root; /* for $ inside filters */
    int oom;
} ectx;

/* Definite walk: borrowed node or NULL. Only S_NAME / S_INDEX steps. */
static json_t *walk_definite(const seq *s, json_t *node)
{
    for (size_t i = 0; i < s->n && node != NULL; i++) {
        const step *t = &s->v[i];
        if (t->kind == S_NAME) {
            node = json_is_object(node) ? json_object_get(node, t->name) : NULL;
        } else {
            if (!json_is_array(node))
                return NULL;
            long long len = (long long)json_array_size(node), k = t->index;
            if (k < 0)
                k += len;
            node = (k >= 0 && k < len) ? json_array_get(node, (size_t)k) : NULL;
        }
    }
    return node;
}

static void walk(const seq *s, size_t i, json_t *node, ectx *c, json_t *acc);

static int filter_match(const fexpr *f, json_t *cur, ectx *c);

static void walk_deep(const seq *s, size_t i, json_t *node, ectx *c, json_t *acc)
{
    walk(s, i, node, c, acc);
    if (json_is_object(node)) {
        const char *k;
        json_t *v;
        json_object_foreach(node, k, v) {
            if (json_is_object(v) || json_is_array(v))
                walk_deep(s, i, v, c, acc);
        }
    } else if (json_is_array(node)) {
        size_t k;
        json_t *v;
        json_array_foreach(node, k, v) {
            if (json_is_object(v) || json_is_array(v))
                walk_deep(s, i, v, c, acc);
        }
    }
}

static void walk(const seq *s, size_t i, json_t *node, ectx *c, json_t *acc)
{
    if (c->oom)
        return;
    if (i == s->n) {
        if (json_array_append(acc, node) < 0)
            c->oom = 1;
        return;
    }
    const step *t = &s->v[i];
    switch (t->kind) {
    case S_NAME: {
        json_t *v = json_is_object(node) ? json_object_get(node, t->name) : NULL;
        if (v)
            walk(s, i + 1, v, c, acc);
        break;
    }
    case S_INDEX:
    case S_INDEXES: {
        if (!json_is_array(node))
            break;
        long long len = (long long)json_array_size(node);
        size_t cnt = t->kind == S_INDEX ? 1 : t->count;
        for (size_t q = 0; q < cnt; q++) {
            long long k = t->kind == S_INDEX ? t->index : t->idx[q];
            if (k < 0)
                k += len;
            if (k >= 0 && k < len)
                walk(s, i + 1, json_array_get(node, (size_t)k), c, acc);
        }
        break;
    }
    case S_NAMES:
        if (!json_is_object(node))
            break;
        for (size_t q = 0; q < t->count; q++) {
            json_t *v = json_object_get(node, t->names[q]);
            if (v)
                walk(s, i + 1, v, c, acc);
        }
        break;
    case S_WILD:
        if (json_is_object(node)) {
            const char *k;
            json_t *v;
            json_object_foreach(node, k, v) walk(s, i + 1, v, c, acc);
        } else if (json_is_array(node)) {
            size_t k;
            json_t *v;
            json_array_foreach(node, k, v) walk(s, i + 1, v, c, acc);
        }
        break;
    case S_SLICE: {
        if (!json_is_array(node))
            break;
        long long len = (long long)json_array_size(node);
        long long a = t->has_from ? t->from : 0, b = t->has_to ? t->to : len;
        if (a < 0)
            a += len;
        if (b < 0)
            b += len;
        if (a < 0)
            a = 0;
        if (b > len)
            b = len;
        for (long long k = a; k < b; k++)
            walk(s, i + 1, json_array_get(node, (size_t)k), c, acc);
        break;
    }
    case S_FILTER:
        if (json_is_array(node)) {
            size_t k;
            json_t *v;
            json_array_foreach(node, k, v) {
                if (filter_match(t->filter, v, c))
                    walk(s, i + 1, v, c, acc);
            }
        } else if (json_is_object(node)) {
            if (filter_match(t->filter, node, c))
                walk(s, i + 1, node, c, acc);
        }
        break;
    case S_DEEP:
        walk_deep(s, i + 1, node, c, acc);
        break;
    }
}

/* Value of a filter operand: new reference, or NULL when it matches nothing. */
static json_t *operand_value(const operand *o, json_t *cur, ectx *c)
{
    if (o->kind == O_LIT)
        return json_incref(o->lit);
    json_t *base = o->kind == O_CUR ? cur : c->root;
    if (o->path.definite) {
        json_t *v = walk_definite(&o->path, base);
        return json_incref(v);
    }
    json_t *acc = json_array();
    if (acc == NULL) {
        c->oom = 1;
        return NULL;
    }
    walk(&o->path, 0, base, c, acc);
    return acc;
}

static int cmp_values(int op, const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b)) {
        int r;
        if (json_is_integer(a) && json_is_integer(b)) {
            json_int_t x = json_integer_value(a), y = json_integer_value(b);
            r = x < y ? -1 : x > y;
        } else {
            double x = json_number_value(a), y = json_number_value(b);
            r = x < y ? -1 : x > y;
        }
        switch (op) {
        case F_EQ: return r == 0;
        case F_NE: return r != 0;
        case F_LT: return r < 0;
        case F_LE: return r <= 0;
        case F_GT: return r > 0;
        case F_GE: return r >= 0;
        }
        return 0;
    }
    if (json_is_string(a) && json_is_string(b) && op != F_EQ && op != F_NE) {
        int r = strcmp(json_string_value(a), json_string_value(b));
        switch (op) {
        case F_LT: return r < 0;
        case F_LE: return r <= 0;
        case F_GT: return r > 0;
        case F_GE: return r >= 0;
        }
        return 0;
    }
    if (op == F_EQ)
        return json_equal(a, b);
    if (op == F_NE)
        return !json_equal(a, b);
    return 0;
}

static int filter_match(const fexpr *f, json_t *cur, ectx *c)
{
    switch (f->op) {
    case F_OR:
        return filter_match(f->l, cur, c) || filter_match(f->r, cur, c);
    case F_AND:
        return filter_match(f->l, cur, c) && filter_match(f->r, cur, c);
    case F_NOT:
        return !filter_match(f->l, cur, c);
    case F_EXISTS: {
        json_t *v = operand_value(&f->a, cur, c);
        int r = v != NULL && !(json_is_array(v) && !f->a.path.definite && f->a.kind != O_LIT &&
                               json_array_size(v) == 0);
        json_decref(v);
        return r;
    }
    default: {
        json_t *a = operand_value(&f->a, cur, c);
        json_t *b = operand_value(&f->b, cur, c);
        int r = (a && b) ? cmp_values(f->op, a, b) : 0;
        json_decref(a);
        json_decref(b);
        return r;
    }
    }
}

static json_t *root_of(const asl_path *p, json_t *input, const asl_scope *scope)
{
    switch (p->root) {
    case R_CONTEXT:
        return scope ? scope->context : NULL;
    case R_VAR:
        return (scope && scope->var_lookup) ? scope->var_lookup(scope->var_ud, p->var) : NULL;
    default:
        return input;
    }
}

int asl_path_eval(const asl_path *p, json_t *input, const asl_scope *scope, json_t **out)
{
    json_t *root = root_of(p, input, scope);
    if (root == NULL)
        return -1;
    if (p->s.definite) {
        json_t *v = walk_definite(&p->s, root);
        if (v == NULL)
            return -1;
        *out = json_incref(v);
        return 0;
    }
    json_t *acc = json_array();
    if (acc == NULL)
        return -1;
    ectx c = {.root = root};
    walk(&p->s, 0, root, &c, acc);
    if (c.oom) {
        json_decref(acc);
        return -1;
    }
    *out = acc;
    return 0;
}

/* ---- ResultPath ------------------------------------------------------- */

/* New value for node with value placed at steps[i..]; NULL on mismatch, or
 * with *oom set when memory ran out. */
static json_t *set_at(const seq *s, size_t i, json_t *node, json_t *value, int *oom)
{
    if (i == s->n)
        return json_incref(value);
    const step *t = &s->v[i];
    if (t->kind == S_NAME) {
        json_t *copy;
        if (node == NULL)
            copy = json_object();
        else if (json_is_object(node))
            copy = asl_json_copy(node); /* shallow: children shared */
        else
            return NULL;
        if (copy == NULL) {
            *oom = 1;
            return NULL;
        }
        json_t *child = json_object_get(copy, t->name);
        json_t *nv = set_at(s, i + 1, child, value, oom);
        if (nv != NULL && json_object_set_new(copy, t->name, nv) < 0)
            *oom = 1, nv = NULL;
        if (nv == NULL) {
            json_decref(copy);
            return NULL;
        }
        return copy;
    }
    /* S_INDEX: only into an existing element */
    if (!json_is_array(node))
        return NULL;
    long long len = (long long)json_array_size(node), k = t->index;
    if (k < 0)
        k += len;
    if (k < 0 || k >= len)
        return NULL;
    json_t *copy = asl_json_copy(node);
    if (copy == NULL) {
        *oom = 1;
        return NULL;
    }
    json_t *nv = set_at(s, i + 1, json_array_get(copy, (size_t)k), value, oom);
    if (nv != NULL && json_array_set_new(copy, (size_t)k, nv) < 0)
        *oom = 1, nv = NULL;
    if (nv == NULL) {
        json_decref(copy);
        return NULL;
    }
    return copy;
}

int asl_path_set(const asl_path *p, json_t *doc, json_t *value, json_t **out, asl_err *e)
{
    json_t *r = NULL;
    int oom = 0;
    if (p->root == R_INPUT && p->s.definite)
        r = set_at(&p->s, 0, doc, value, &oom);
    if (r == NULL && oom) {
        asl_err_set(e, "States.Runtime", "out of memory applying ResultPath %s", p->text);
        return -1;
    }
    if (r == NULL) {
        char *txt = asl_json_text(doc);
        asl_err_set(e, "States.ResultPathMatchFailure",
                    "Unable to apply ReferencePath %s to input %s", p->text,
                    txt ? txt : "null");
        free(txt);
        return -1;
    }
    *out = r;
    return 0;
}
