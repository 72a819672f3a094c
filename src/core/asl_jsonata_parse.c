/*
 * asl_jsonata_parse.c - JSONata text to AST: a lexer, a Pratt parser with
 * the binding powers jsonata documents for its operators, and a pass that
 * turns dotted steps into paths and attaches predicates to their steps.
 * Also the compile half of the public API (asl_jsonata_compile/free/text).
 *
 * Compiles once per definition; the AST is immutable afterwards. Must not
 * evaluate anything (regex literals are only compiled, by
 * asl_jsonata_regex.c), and must stay bounded: MAX_EXPR_LEN bytes of text,
 * MAX_PARSE_DEPTH of nesting.
 */
#include "asl_nomem.h"
#include "asl_jsonata_int.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * AST
 * ==================================================================== */

static void node_free(node *n)
{
    if (n == NULL)
        return;
    free(n->s);
    json_decref(n->lit);
    jn__regex_free(n->re);
    node_free(n->a);
    node_free(n->b);
    node_free(n->c);
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    for (size_t i = 0; i < n->nstages; i++)
        node_free(n->stages[i]);
    free(n->stages);
    for (size_t i = 0; i < n->npreds; i++)
        node_free(n->preds[i]);
    free(n->preds);
    for (size_t i = 0; i < n->nparams; i++)
        free(n->params[i]);
    free(n->params);
    free(n);
}

static int vec_push(node ***v, size_t *n, node *x)
{
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        size_t cap = *n ? *n * 2 : 4;
        node **p = realloc(*v, cap * sizeof *p);
        if (p == NULL)
            return -1;
        *v = p;
    }
    (*v)[(*n)++] = x;
    return 0;
}

/* ======================================================================
 * Lexer
 * ==================================================================== */

enum ttype { T_END, T_NUM, T_STR, T_NAME, T_VAR, T_OP, T_VALUE, T_REGEX };

typedef struct token {
    int type;
    char *s;      /* T_STR/T_NAME/T_VAR text, T_OP operator, T_REGEX pattern */
    size_t slen;  /* length of s (strings may hold NUL) */
    double num;
    json_t *val;  /* T_VALUE */
    char flags[4];/* T_REGEX */
    size_t pos;
} token;

typedef struct parser {
    const char *src;
    size_t len;
    token *toks;
    size_t ntok, cap, at;
    int depth;
    char *err;
    size_t errlen;
    int failed;
} parser;

static int perr(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        if (p->err && p->errlen)
            vsnprintf(p->err, p->errlen, fmt, ap);
        va_end(ap);
        p->failed = 1;
    }
    return -1;
}

static int tok_add(parser *p, token t)
{
    if (p->ntok == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        token *n = realloc(p->toks, cap * sizeof *n);
        if (n == NULL) {
            free(t.s);
            json_decref(t.val);
            return perr(p, "%s", ASL_NOMEM);
        }
        p->toks = n;
        p->cap = cap;
    }
    p->toks[p->ntok++] = t;
    return 0;
}

static void utf8_put(char *o, size_t *k, unsigned cp)
{
    if (cp < 0x80)
        o[(*k)++] = (char)cp;
    else if (cp < 0x800) {
        o[(*k)++] = (char)(0xc0 | cp >> 6);
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        o[(*k)++] = (char)(0xe0 | cp >> 12);
        o[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        o[(*k)++] = (char)(0xf0 | cp >> 18);
        o[(*k)++] = (char)(0x80 | (cp >> 12 & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[(*k)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static int hex4(const char *s, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)s[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v * 16 + (unsigned)d;
    }
    return 0;
}

static int is_name_char(int c)
{
    /* jsonata names end at operators and blanks; anything else belongs */
    return c != 0 && !strchr(" \t\r\n\v\f.[]{}(),@#;:?+-*/%|=<>^&!~`\"'$", c) ? 1
           : 0;
}

/* One helper per token class. Each reads the token at *i, adds it, moves
 * *i past it and sets *operand (the token ends an operand: a '/' after it
 * divides). Returns 0, or -1 with the message set. */

static int lex_regex(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    size_t n = p->len, j = *i + 1;
    int depth = 0;
    while (j < n) {
        if (s[j] == '\\') {
            j += 2;
            continue;
        }
        if (s[j] == '[')
            depth = 1;
        else if (s[j] == ']')
            depth = 0;
        else if (s[j] == '/' && !depth)
            break;
        j++;
    }
    if (j >= n)
        return perr(p, "S0302: No terminating / in regular expression");
    if (j == *i + 1)
        return perr(p, "S0301: Empty regular expressions are not allowed");
    t->type = T_REGEX;
    t->slen = j - *i - 1;
    t->s = strndup(s + *i + 1, t->slen);
    if (t->s == NULL)
        return perr(p, "%s", ASL_NOMEM);
    j++;
    size_t f = 0;
    while (j < n && (s[j] == 'i' || s[j] == 'm')) {
        if (f < 2 && !strchr(t->flags, s[j]))
            t->flags[f++] = s[j];
        j++;
    }
    *i = j;
    *operand = 1;
    if (t->s == NULL || tok_add(p, *t) < 0)
        return perr(p, "%s", ASL_NOMEM);
    return 0;
}

static const char *const ops2[] = {"..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"};

/* length of the operator at s[i]: 2, 1, or 0 when there is none */
static size_t op_len(const char *s, size_t i, size_t n)
{
    for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
        if (i + 1 < n && s[i] == ops2[k][0] && s[i + 1] == ops2[k][1])
            return 2;
    return strchr(".[]{}(),@#;:?+-*/%|=<>^&!~", s[i]) ? 1 : 0;
}

static int lex_op(parser *p, size_t *i, token *t, int *operand)
{
    size_t l = op_len(p->src, *i, p->len);
    t->type = T_OP;
    t->s = strndup(p->src + *i, l);
    *i += l;
    if (t->s == NULL)
        return perr(p, "%s", ASL_NOMEM);
    *operand = strcmp(t->s, ")") == 0 || strcmp(t->s, "]") == 0 || strcmp(t->s, "}") == 0;
    return tok_add(p, *t);
}

/* the escape sequence at s[*j] (after the backslash) into o[*k]; *j moves past it */
static int lex_escape(parser *p, size_t *j, char *o, size_t *k)
{
    const char *s = p->src;
    size_t n = p->len;
    char e = s[*j];
    switch (e) {
    case '"': case '\\': case '/': o[(*k)++] = e; break;
    case 'b': o[(*k)++] = '\b'; break;
    case 'f': o[(*k)++] = '\f'; break;
    case 'n': o[(*k)++] = '\n'; break;
    case 'r': o[(*k)++] = '\r'; break;
    case 't': o[(*k)++] = '\t'; break;
    case 'u': {
        unsigned cp;
        if (*j + 4 >= n || hex4(s + *j + 1, &cp) < 0)
            return perr(p, "S0104: The escape sequence \\u must be followed by 4 hex digits");
        *j += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && *j + 6 < n && s[*j + 1] == '\\' && s[*j + 2] == 'u') {
            unsigned lo;
            if (hex4(s + *j + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                *j += 6;
            }
        }
        if (cp >= 0xd800 && cp < 0xe000)
            cp = 0xfffd;
        utf8_put(o, k, cp);
        break;
    }
    default:
        return perr(p, "S0103: Unsupported escape sequence: \\%c", e);
    }
    (*j)++;
    return 0;
}

static int lex_string(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    size_t n = p->len, j = *i + 1, k = 0;
    char c = s[*i];
    char *o = malloc(n - *i + 1);
    if (o == NULL)
        return perr(p, "%s", ASL_NOMEM);
    while (j < n && s[j] != c) {
        if (s[j] == '\\') {
            j++;
            if (j >= n)
                break;
            if (lex_escape(p, &j, o, &k) < 0) {
                free(o);
                return -1;
            }
        } else
            o[k++] = s[j++];
    }
    if (j >= n) {
        free(o);
        return perr(p, "S0101: String literal must be terminated by a matching quote");
    }
    o[k] = '\0';
    t->type = T_STR;
    t->s = o;
    t->slen = k;
    *i = j + 1;
    *operand = 1;
    return tok_add(p, *t);
}

static int lex_number(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    size_t n = p->len, j = *i;
    while (j < n && isdigit((unsigned char)s[j]))
        j++;
    if (j + 1 < n && s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
        j++;
        while (j < n && isdigit((unsigned char)s[j]))
            j++;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < n && (s[k] == '+' || s[k] == '-'))
            k++;
        if (k < n && isdigit((unsigned char)s[k])) {
            while (k < n && isdigit((unsigned char)s[k]))
                k++;
            j = k;
        }
    }
    char tmp[64];
    size_t l = j - *i < sizeof tmp - 1 ? j - *i : sizeof tmp - 1;
    memcpy(tmp, s + *i, l);
    tmp[l] = '\0';
    t->type = T_NUM;
    t->num = strtod(tmp, NULL);
    if (!isfinite(t->num) || j - *i >= sizeof tmp - 1)
        return perr(p, "S0102: Number out of range: %s", tmp);
    *i = j;
    *operand = 1;
    return tok_add(p, *t);
}

/* `name with blanks` */
static int lex_quoted_name(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    const char *e = memchr(s + *i + 1, '`', p->len - *i - 1);
    if (e == NULL)
        return perr(p, "S0105: Quoted property name must be terminated with a backquote (`)");
    t->type = T_NAME;
    t->slen = (size_t)(e - s) - *i - 1;
    t->s = strndup(s + *i + 1, t->slen);
    *i = (size_t)(e - s) + 1;
    *operand = 1;
    if (t->s == NULL || tok_add(p, *t) < 0)
        return perr(p, "%s", ASL_NOMEM);
    return 0;
}

static int lex_var(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    size_t n = p->len, j = *i + 1;
    while (j < n && is_name_char((unsigned char)s[j]))
        j++;
    if (j == *i + 1 && j < n && s[j] == '$')
        j++; /* $$ */
    t->type = T_VAR;
    t->slen = j - *i - 1;
    t->s = strndup(s + *i + 1, t->slen);
    *i = j;
    *operand = 1;
    if (t->s == NULL || tok_add(p, *t) < 0)
        return perr(p, "%s", ASL_NOMEM);
    return 0;
}

/* a name, a keyword value, or a word operator (and, or, in after an operand) */
static int lex_word(parser *p, size_t *i, token *t, int *operand)
{
    const char *s = p->src;
    size_t n = p->len, j = *i;
    while (j < n && is_name_char((unsigned char)s[j]))
        j++;
    if (j == *i)
        return perr(p, "S0204: Unknown operator: \"%c\"", s[*i]);
    t->slen = j - *i;
    t->s = strndup(s + *i, t->slen);
    if (t->s == NULL)
        return perr(p, "%s", ASL_NOMEM);
    *i = j;
    if (*operand && (!strcmp(t->s, "and") || !strcmp(t->s, "or") || !strcmp(t->s, "in"))) {
        t->type = T_OP;
        *operand = 0;
    } else if (!strcmp(t->s, "true") || !strcmp(t->s, "false") || !strcmp(t->s, "null")) {
        t->type = T_VALUE;
        t->val = t->s[0] == 't' ? json_true() : t->s[0] == 'f' ? json_false() : json_null();
        *operand = 1;
    } else {
        t->type = T_NAME;
        *operand = 1;
    }
    return tok_add(p, *t);
}

static int lex(parser *p)
{
    const char *s = p->src;
    size_t i = 0, n = p->len;
    int operand = 0; /* previous token ends an operand: next '/' divides */
    while (1) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            const char *e = strstr(s + i + 2, "*/");
            if (e == NULL || (size_t)(e - s) >= n)
                return perr(p, "S0106: Comment has no closing tag");
            i = (size_t)(e - s) + 2;
            continue;
        }
        token t = {0};
        t.pos = i;
        if (i >= n) {
            t.type = T_END;
            return tok_add(p, t);
        }
        char c = s[i];
        int rc;
        if (c == '/' && !operand)
            rc = lex_regex(p, &i, &t, &operand);
        else if (op_len(s, i, n))
            rc = lex_op(p, &i, &t, &operand);
        else if (c == '"' || c == '\'')
            rc = lex_string(p, &i, &t, &operand);
        else if (isdigit((unsigned char)c))
            rc = lex_number(p, &i, &t, &operand);
        else if (c == '`')
            rc = lex_quoted_name(p, &i, &t, &operand);
        else if (c == '$')
            rc = lex_var(p, &i, &t, &operand);
        else
            rc = lex_word(p, &i, &t, &operand);
        if (rc < 0)
            return -1;
    }
}

/* ======================================================================
 * Parser (Pratt, binding powers as jsonata documents its operators)
 * ==================================================================== */

static int lbp_of(const token *t)
{
    if (t->type != T_OP)
        return 0;
    const char *s = t->s;
    static const struct {
        const char *op;
        int bp;
    } tab[] = {{".", 75}, {"[", 80}, {"]", 0},  {"{", 70},  {"}", 0},  {"(", 80},  {")", 0},
               {",", 0},  {"@", 80}, {"#", 80}, {";", 0},  {":", 0}, {"?", 20},  {"+", 50},
               {"-", 50}, {"*", 60}, {"/", 60}, {"%", 60},  {"|", 20}, {"=", 40},  {"<", 40},
               {">", 40}, {"^", 40}, {"**", 60}, {"..", 20}, {":=", 10}, {"!=", 40}, {"<=", 40},
               {">=", 40}, {"~>", 40}, {"and", 30}, {"or", 25}, {"in", 40}, {"&", 50},
               {"!", 0}, {"?:", 40}, {"??", 40}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (strcmp(tab[i].op, s) == 0)
            return tab[i].bp;
    return 0;
}

static token *peek(parser *p) { return &p->toks[p->at]; }

static int is_op(const token *t, const char *op)
{
    return t->type == T_OP && strcmp(t->s, op) == 0;
}

static const char *tok_desc(const token *t, char *buf, size_t n)
{
    if (t->type == T_END)
        return "(end)";
    if (t->type == T_NUM) {
        snprintf(buf, n, "%g", t->num);
        return buf;
    }
    snprintf(buf, n, "%.60s", t->s ? t->s : "?");
    return buf;
}

static int expect(parser *p, const char *op)
{
    token *t = peek(p);
    if (!is_op(t, op)) {
        char b[80];
        if (t->type == T_END)
            return perr(p, "S0203: Expected \"%s\" before end of expression", op);
        return perr(p, "S0202: Expected \"%s\", got \"%s\"", op, tok_desc(t, b, sizeof b));
    }
    p->at++;
    return 0;
}

static node *mk(parser *p, int type, size_t pos)
{
    node *n = calloc(1, sizeof *n);
    if (n == NULL) {
        perr(p, "%s", ASL_NOMEM);
        return NULL;
    }
    n->type = type;
    n->pos = pos;
    return n;
}

static node *expr(parser *p, int rbp);

static node *parse_seq(parser *p, node *n, const char *sep, const char *close)
{
    /* items separated by sep until close; appended to n->kids */
    if (!is_op(peek(p), close)) {
        while (1) {
            node *x = expr(p, 0);
            if (x == NULL || vec_push(&n->kids, &n->nkids, x) < 0) {
                node_free(x);
                node_free(n);
                if (!p->failed)
                    perr(p, "%s", ASL_NOMEM);
                return NULL;
            }
            if (!is_op(peek(p), sep))
                break;
            p->at++;
        }
    }
    if (expect(p, close) < 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* function($a, $b) <signature> { body }: t is "function" or "λ", at "(" */
static node *nud_lambda(parser *p, token *t)
{
    node *n;
    p->at++;
    if ((n = mk(p, N_LAMBDA, t->pos)) == NULL)
        return NULL;
    if (!is_op(peek(p), ")")) {
        while (1) {
            token *v = peek(p);
            if (v->type != T_VAR) {
                perr(p, "S0208: Parameter %zu of function definition must be a variable name (start with $)",
                     n->nparams + 1);
                node_free(n);
                return NULL;
            }
            char **np = realloc(n->params, (n->nparams + 1) * sizeof *np);
            if (np == NULL || (np[n->nparams] = strdup(v->s)) == NULL) {
                if (np)
                    n->params = np;
                node_free(n);
                perr(p, "%s", ASL_NOMEM);
                return NULL;
            }
            n->params = np;
            n->nparams++;
            p->at++;
            if (!is_op(peek(p), ","))
                break;
            p->at++;
        }
    }
    if (expect(p, ")") < 0) {
        node_free(n);
        return NULL;
    }
    if (is_op(peek(p), "<")) { /* type signature: accepted, not enforced */
        int depth = 0;
        while (peek(p)->type != T_END) {
            token *x = peek(p);
            p->at++;
            if (is_op(x, "<"))
                depth++;
            else if (is_op(x, ">") && --depth == 0)
                break;
        }
    }
    if (expect(p, "{") < 0) {
        node_free(n);
        return NULL;
    }
    n->a = expr(p, 0);
    if (n->a == NULL || expect(p, "}") < 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* { key: value, ... } after the "{" */
static node *nud_object(parser *p, token *t)
{
    node *n;
    if ((n = mk(p, N_OBJECT, t->pos)) == NULL)
        return NULL;
    if (!is_op(peek(p), "}")) {
        while (1) {
            node *k = expr(p, 0);
            if (k == NULL || vec_push(&n->kids, &n->nkids, k) < 0) {
                node_free(k);
                node_free(n);
                if (!p->failed)
                    perr(p, "%s", ASL_NOMEM);
                return NULL;
            }
            if (expect(p, ":") < 0) {
                node_free(n);
                return NULL;
            }
            node *v = expr(p, 0);
            if (v == NULL || vec_push(&n->kids, &n->nkids, v) < 0) {
                node_free(v);
                node_free(n);
                if (!p->failed)
                    perr(p, "%s", ASL_NOMEM);
                return NULL;
            }
            if (!is_op(peek(p), ","))
                break;
            p->at++;
        }
    }
    if (expect(p, "}") < 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

/* an operator token in prefix position */
static node *nud_op(parser *p, token *t)
{
    node *n;
    const char *s = t->s;
    if (!strcmp(s, "-")) {
        if ((n = mk(p, N_NEG, t->pos)) == NULL)
            return NULL;
        if ((n->a = expr(p, 70)) == NULL) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(s, "*"))
        return mk(p, N_WILD, t->pos);
    if (!strcmp(s, "**"))
        return mk(p, N_DESC, t->pos);
    if (!strcmp(s, "%"))
        return mk(p, N_PARENT, t->pos);
    if (!strcmp(s, "?"))
        return mk(p, N_PLACEHOLDER, t->pos);
    if (!strcmp(s, "(")) {
        if ((n = mk(p, N_BLOCK, t->pos)) == NULL)
            return NULL;
        return parse_seq(p, n, ";", ")");
    }
    if (!strcmp(s, "[")) {
        if ((n = mk(p, N_ARRAY, t->pos)) == NULL)
            return NULL;
        return parse_seq(p, n, ",", "]");
    }
    if (!strcmp(s, "{"))
        return nud_object(p, t);
    if (!strcmp(s, "|"))
        perr(p, "S0201: Syntax error: \"|\" (transform expressions are not supported)");
    else
        perr(p, "S0211: The symbol %s cannot be used as a unary operator", s);
    return NULL;
}

static node *nud(parser *p, token *t)
{
    node *n = NULL;
    switch (t->type) {
    case T_END:
        perr(p, "S0207: Unexpected end of expression");
        return NULL;
    case T_NUM:
        if ((n = mk(p, N_LIT, t->pos)) == NULL)
            return NULL;
        if (t->num == floor(t->num) && fabs(t->num) < 9007199254740992.0)
            n->lit = json_integer((json_int_t)t->num);
        else
            n->lit = json_real(t->num);
        return n;
    case T_STR:
        if ((n = mk(p, N_LIT, t->pos)) == NULL)
            return NULL;
        n->lit = json_stringn_nocheck(t->s, t->slen);
        return n;
    case T_VALUE:
        if ((n = mk(p, N_LIT, t->pos)) == NULL)
            return NULL;
        n->lit = json_incref(t->val);
        return n;
    case T_VAR:
        if ((n = mk(p, N_VAR, t->pos)) == NULL)
            return NULL;
        if ((n->s = strdup(t->s)) == NULL)
            perr(p, "%s", ASL_NOMEM); /* the parse fails; the tree is freed */
        return n;
    case T_REGEX:
        return mk(p, N_REGEX, t->pos); /* compiled by the caller (needs flags) */
    case T_NAME:
        if ((strcmp(t->s, "function") == 0 || strcmp(t->s, "\xce\xbb") == 0) &&
            is_op(peek(p), "("))
            return nud_lambda(p, t);
        if ((n = mk(p, N_NAME, t->pos)) == NULL)
            return NULL;
        if ((n->s = strdup(t->s)) == NULL)
            perr(p, "%s", ASL_NOMEM);
        return n;
    case T_OP:
        break;
    }
    return nud_op(p, t);
}

static int binop_of(const char *s)
{
    static const struct {
        const char *s;
        int op;
    } tab[] = {{"+", OP_ADD}, {"-", OP_SUB}, {"*", OP_MUL}, {"/", OP_DIV}, {"%", OP_MOD},
               {"=", OP_EQ},  {"!=", OP_NE}, {"<", OP_LT},  {"<=", OP_LE}, {">", OP_GT},
               {">=", OP_GE}, {"and", OP_AND}, {"or", OP_OR}, {"in", OP_IN}, {"&", OP_CONCAT}};
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(tab[i].s, s))
            return tab[i].op;
    return 0;
}

static node *led(parser *p, token *t, node *left)
{
    const char *s = t->s;
    node *n = NULL;
    int op = binop_of(s);
    if (op || !strcmp(s, ".")) {
        if ((n = mk(p, N_BIN, t->pos)) == NULL)
            goto fail;
        n->op = op ? op : OP_DOT;
        n->a = left;
        if ((n->b = expr(p, lbp_of(t))) == NULL) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(s, "..") || !strcmp(s, "~>")) {
        int range = s[0] == '.';
        if ((n = mk(p, range ? N_RANGE : N_CHAIN, t->pos)) == NULL)
            goto fail;
        n->a = left;
        if ((n->b = expr(p, range ? 20 : 40)) == NULL) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(s, ":=")) {
        if (left->type != N_VAR) {
            node_free(left);
            perr(p, "S0212: The left side of := must be a variable name (start with $)");
            return NULL;
        }
        if ((n = mk(p, N_BIND, t->pos)) == NULL)
            goto fail;
        n->s = left->s;
        left->s = NULL;
        node_free(left);
        if ((n->a = expr(p, 9)) == NULL) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(s, "?")) {
        if ((n = mk(p, N_COND, t->pos)) == NULL)
            goto fail;
        n->a = left;
        if ((n->b = expr(p, 0)) == NULL) {
            node_free(n);
            return NULL;
        }
        if (is_op(peek(p), ":")) {
            p->at++;
            if ((n->c = expr(p, 0)) == NULL) {
                node_free(n);
                return NULL;
            }
        }
        return n;
    }
    if (!strcmp(s, "[")) {
        if (is_op(peek(p), "]")) {
            p->at++;
            left->keep_array = 1;
            return left;
        }
        if ((n = mk(p, N_BIN, t->pos)) == NULL)
            goto fail;
        n->op = OP_PRED;
        n->a = left;
        if ((n->b = expr(p, 0)) == NULL || expect(p, "]") < 0) {
            node_free(n);
            return NULL;
        }
        return n;
    }
    if (!strcmp(s, "(")) {
        if ((n = mk(p, N_CALL, t->pos)) == NULL)
            goto fail;
        n->a = left;
        n = parse_seq(p, n, ",", ")");
        if (n)
            for (size_t i = 0; i < n->nkids; i++)
                if (n->kids[i]->type == N_PLACEHOLDER)
                    n->partial = 1;
        return n;
    }
    node_free(left);
    if (!strcmp(s, "{"))
        perr(p, "S0201: Syntax error: \"{\" (grouping is not supported)");
    else if (!strcmp(s, "^"))
        perr(p, "S0201: Syntax error: \"^\" (order-by is not supported)");
    else
        perr(p, "S0201: Syntax error: \"%s\"", s);
    return NULL;
fail:
    node_free(left);
    return NULL;
}

static node *expr(parser *p, int rbp)
{
    if (++p->depth > MAX_PARSE_DEPTH) {
        perr(p, "S0201: Syntax error: expression nested too deeply");
        return NULL;
    }
    token *t = peek(p);
    if (t->type != T_END)
        p->at++;
    node *left = nud(p, t);
    if (left && left->type == N_REGEX) {
        char e[200];
        left->re = jn__regex_compile(t->s, t->slen, t->flags, e, sizeof e);
        if (left->re == NULL) {
            node_free(left);
            perr(p, "%s", e);
            left = NULL;
        }
    }
    while (left && rbp < lbp_of(peek(p))) {
        t = peek(p);
        p->at++;
        left = led(p, t, left);
    }
    p->depth--;
    return left;
}

/* ---- AST post-processing: build paths and attach predicates ---------- */

static node *post(parser *p, node *n);

static node *as_path(parser *p, node *n)
{
    if (n->type == N_PATH)
        return n;
    node *path = mk(p, N_PATH, n->pos);
    if (path == NULL || vec_push(&path->kids, &path->nkids, n) < 0) {
        node_free(path);
        node_free(n);
        if (!p->failed)
            perr(p, "%s", ASL_NOMEM);
        return NULL;
    }
    path->keep_array = n->keep_array;
    n->keep_array = 0;
    return path;
}

static int post_kids(parser *p, node **kids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kids[i] = post(p, kids[i]);
        if (kids[i] == NULL) {
            for (size_t j = i + 1; j < n; j++) {
                node_free(kids[j]);
                kids[j] = NULL;
            }
            return -1;
        }
    }
    return 0;
}

/* a "b c" string literal used as a path step is a field name */
static void lit_to_name(parser *p, node *n)
{
    n->type = N_NAME;
    if ((n->s = strdup(json_string_value(n->lit))) == NULL)
        perr(p, "%s", ASL_NOMEM);
    json_decref(n->lit);
    n->lit = NULL;
}

/* predicates written on a step apply per item, inside the path */
static void preds_to_stages(node *n)
{
    n->stages = n->preds;
    n->nstages = n->npreds;
    n->preds = NULL;
    n->npreds = 0;
}

/* a.b: one path holding the steps of both sides; n is consumed */
static node *post_dot(parser *p, node *n)
{
    node *l = post(p, n->a), *rt;
    n->a = NULL;
    rt = post(p, n->b);
    n->b = NULL;
    int keep = n->keep_array;
    node_free(n);
    if (l == NULL || rt == NULL) {
        node_free(l);
        node_free(rt);
        return NULL;
    }
    if (l->type == N_LIT && json_is_string(l->lit)) { /* "a b".c: a name */
        lit_to_name(p, l);
        if (l->npreds)
            preds_to_stages(l);
    }
    if ((l = as_path(p, l)) == NULL) {
        node_free(rt);
        return NULL;
    }
    if (rt->type == N_PATH) {
        for (size_t i = 0; i < rt->nkids; i++) {
            if (vec_push(&l->kids, &l->nkids, rt->kids[i]) < 0) {
                node_free(l);
                node_free(rt);
                perr(p, "%s", ASL_NOMEM);
                return NULL;
            }
            rt->kids[i] = NULL;
        }
        if (rt->keep_array)
            l->keep_array = 1;
        node_free(rt);
    } else {
        if (rt->type == N_LIT && json_is_string(rt->lit)) { /* "a b" as a step is a name */
            lit_to_name(p, rt);
        } else if (rt->type == N_LIT) {
            char *t = asl_json_text(rt->lit);
            node_free(l);
            node_free(rt);
            perr(p, "S0213: The literal value %s cannot be used as a step within a path expression",
                 t ? t : "?");
            free(t);
            return NULL;
        }
        if (rt->npreds) /* predicates on a step apply per item */
            preds_to_stages(rt);
        if (rt->keep_array) {
            l->keep_array = 1;
            rt->keep_array = 0;
        }
        if (vec_push(&l->kids, &l->nkids, rt) < 0) {
            node_free(l);
            node_free(rt);
            perr(p, "%s", ASL_NOMEM);
            return NULL;
        }
    }
    if (keep)
        l->keep_array = 1;
    return l;
}

/* a[pred]: the predicate goes to the last step of a path, else to a; n is consumed */
static node *post_pred(parser *p, node *n)
{
    node *l = post(p, n->a), *pr;
    n->a = NULL;
    pr = post(p, n->b);
    n->b = NULL;
    int keep = n->keep_array;
    node_free(n);
    if (l == NULL || pr == NULL) {
        node_free(l);
        node_free(pr);
        return NULL;
    }
    int rc;
    if (l->type == N_PATH) {
        node *last = l->kids[l->nkids - 1];
        rc = vec_push(&last->stages, &last->nstages, pr);
    } else
        rc = vec_push(&l->preds, &l->npreds, pr);
    if (rc < 0) {
        node_free(l);
        node_free(pr);
        perr(p, "%s", ASL_NOMEM);
        return NULL;
    }
    if (keep)
        l->keep_array = 1;
    return l;
}

static node *post(parser *p, node *n)
{
    if (n == NULL)
        return NULL;
    if (++p->depth > MAX_PARSE_DEPTH * 2) {
        node_free(n);
        perr(p, "S0201: Syntax error: expression nested too deeply");
        return NULL;
    }
    node *r = n;
    if (n->type == N_NAME) {
        r = as_path(p, n);
    } else if (n->type == N_BIN && n->op == OP_DOT) {
        if ((r = post_dot(p, n)) == NULL)
            return NULL;
    } else if (n->type == N_BIN && n->op == OP_PRED) {
        if ((r = post_pred(p, n)) == NULL)
            return NULL;
    } else {
        if (n->a && (n->a = post(p, n->a)) == NULL)
            goto fail;
        if (n->b && (n->b = post(p, n->b)) == NULL)
            goto fail;
        if (n->c && (n->c = post(p, n->c)) == NULL)
            goto fail;
        if (post_kids(p, n->kids, n->nkids) < 0)
            goto fail;
        if (post_kids(p, n->preds, n->npreds) < 0)
            goto fail;
    }
    p->depth--;
    return r;
fail:
    node_free(n);
    return NULL;
}

/* ======================================================================
 * Public API: compile
 * ==================================================================== */

int asl_jsonata_compile(const char *text, asl_jsonata **out, char *err, size_t errlen)
{
    *out = NULL;
    size_t n = strlen(text);
    while (n && isspace((unsigned char)text[n - 1]))
        n--;
    while (n && isspace((unsigned char)*text)) {
        text++;
        n--;
    }
    if (n > MAX_EXPR_LEN) {
        snprintf(err, errlen, "S0201: Syntax error: expression longer than %d bytes", MAX_EXPR_LEN);
        return -1;
    }
    parser p = {0};
    p.src = text;
    p.len = n;
    p.err = err;
    p.errlen = errlen;
    node *root = NULL;
    asl_jsonata *e = NULL;
    if (lex(&p) < 0)
        goto done;
    if (peek(&p)->type == T_END) {
        perr(&p, "S0207: Unexpected end of expression");
        goto done;
    }
    root = expr(&p, 0);
    if (root == NULL)
        goto done;
    if (peek(&p)->type != T_END) {
        char b[80];
        perr(&p, "S0201: Syntax error: \"%s\"", tok_desc(peek(&p), b, sizeof b));
        goto done;
    }
    p.depth = 0;
    root = post(&p, root);
    if (root == NULL || p.failed) /* p.failed: an allocation failed on the way */
        goto done;
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->text = strndup(text, n)) == NULL) {
        free(e);
        e = NULL;
        perr(&p, "%s", ASL_NOMEM);
        goto done;
    }
    e->root = root;
    root = NULL;
    *out = e;
done:
    node_free(root);
    for (size_t i = 0; i < p.ntok; i++) {
        free(p.toks[i].s);
        json_decref(p.toks[i].val);
    }
    free(p.toks);
    return e ? 0 : -1;
}

void asl_jsonata_free(asl_jsonata *e)
{
    if (e == NULL)
        return;
    node_free(e->root);
    free(e->text);
    free(e);
}

const char *asl_jsonata_text(const asl_jsonata *e) { return e->text; }
