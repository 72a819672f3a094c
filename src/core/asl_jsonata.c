/*
 * asl_jsonata.c - JSONata expressions for QueryLanguage "JSONata" states:
 * a lexer and Pratt parser producing an AST (compiled once), and a
 * tree-walking evaluator with jsonata 2.0.6's sequence semantics (a path
 * over arrays maps and flattens; a one-item sequence is the item itself;
 * undefined propagates), the built-in functions Step Functions offers, a
 * small backtracking regex engine, and the JSON templates of JSONata fields.
 *
 * Written from the JSONata documentation and observed behaviour, not from
 * jsonata-js. Must not do I/O, read the clock or call rand(): time comes from
 * $states.context, randomness from asl_scope.rng. Everything is bounded:
 * expression length, nesting depth, evaluation steps, sizes of strings and
 * arrays built, regex backtracking.
 */
#include "asl_jsonata.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPR_LEN 65536     /* bytes of expression text */
#define MAX_PARSE_DEPTH 200    /* nesting of the expression */
#define MAX_EVAL_DEPTH 300     /* nested evaluation incl. lambda recursion */
#define MAX_STEPS 2000000L     /* evaluation steps per evaluation */
#define MAX_STR (4u << 20)     /* bytes of a string built */
#define MAX_ITEMS 1000000u     /* items of an array built */
#define MAX_RANGE 10000000.0   /* jsonata's own limit on [a..b] (D2014) */
#define MAX_RX_STEPS 1000000L  /* regex backtracking steps per match */
#define MAX_RX_DEPTH 4000      /* regex recursion depth */

/* ======================================================================
 * AST
 * ==================================================================== */

enum ntype {
    N_LIT,    /* lit: number, string, true/false/null */
    N_REGEX,  /* rx */
    N_NAME,   /* field name s */
    N_WILD,   /* * */
    N_DESC,   /* ** */
    N_PARENT, /* % (unsupported at run time) */
    N_VAR,    /* $s; s == "" is $, s == "$" is $$ */
    N_PATH,   /* kids: steps */
    N_BIN,    /* op, a, b */
    N_NEG,    /* a */
    N_ARRAY,  /* kids */
    N_OBJECT, /* kids: k0 v0 k1 v1 ... */
    N_COND,   /* a ? b : c */
    N_BLOCK,  /* kids */
    N_BIND,   /* s := a */
    N_CALL,   /* a(kids) */
    N_LAMBDA, /* params, a = body */
    N_RANGE,  /* a .. b */
    N_CHAIN,  /* a ~> b */
    N_PLACEHOLDER, /* ? in partial application */
};

/* binary operators */
enum {
    OP_ADD = 1, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
    OP_AND, OP_OR, OP_IN, OP_CONCAT, OP_DOT, OP_PRED
};

typedef struct rx rx;

typedef struct node {
    int type;
    int op;
    char *s;            /* name, variable, bind target */
    json_t *lit;        /* N_LIT */
    rx *re;             /* N_REGEX */
    struct node *a, *b, *c;
    struct node **kids; /* steps, items, args, pairs, block exprs */
    size_t nkids;
    struct node **stages; /* predicates applied per item inside a path step */
    size_t nstages;
    struct node **preds;  /* predicates applied to the whole value */
    size_t npreds;
    char **params;        /* N_LAMBDA */
    size_t nparams;
    int keep_array;       /* [] after a path */
    int partial;          /* N_CALL with ? placeholders */
    size_t pos;
} node;

struct asl_jsonata {
    char *text;
    node *root;
};

static void regex_free(rx *r);

static void node_free(node *n)
{
    if (n == NULL)
        return;
    free(n->s);
    json_decref(n->lit);
    regex_free(n->re);
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
            return perr(p, "out of memory");
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
        if (c == '/' && !operand) { /* regex literal */
            size_t j = i + 1;
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
            if (j == i + 1)
                return perr(p, "S0301: Empty regular expressions are not allowed");
            t.type = T_REGEX;
            t.slen = j - i - 1;
            t.s = strndup(s + i + 1, t.slen);
            j++;
            size_t f = 0;
            while (j < n && (s[j] == 'i' || s[j] == 'm')) {
                if (f < 2 && !strchr(t.flags, s[j]))
                    t.flags[f++] = s[j];
                j++;
            }
            i = j;
            operand = 1;
            if (t.s == NULL || tok_add(p, t) < 0)
                return perr(p, "out of memory");
            continue;
        }
        static const char *ops2[] = {"..", ":=", "!=", ">=", "<=", "**", "~>", "?:", "??"};
        int matched = 0;
        for (size_t k = 0; k < sizeof ops2 / sizeof ops2[0]; k++)
            if (i + 1 < n && s[i] == ops2[k][0] && s[i + 1] == ops2[k][1]) {
                t.type = T_OP;
                t.s = strdup(ops2[k]);
                i += 2;
                matched = 1;
                break;
            }
        if (!matched && strchr(".[]{}(),@#;:?+-*/%|=<>^&!~", c)) {
            t.type = T_OP;
            t.s = strndup(&c, 1);
            i++;
            matched = 1;
        }
        if (matched) {
            if (t.s == NULL)
                return perr(p, "out of memory");
            operand = strcmp(t.s, ")") == 0 || strcmp(t.s, "]") == 0 || strcmp(t.s, "}") == 0;
            if (tok_add(p, t) < 0)
                return -1;
            continue;
        }
        if (c == '"' || c == '\'') {
            size_t j = i + 1, k = 0;
            char *o = malloc(n - i + 1);
            if (o == NULL)
                return perr(p, "out of memory");
            while (j < n && s[j] != c) {
                if (s[j] == '\\') {
                    j++;
                    if (j >= n)
                        break;
                    char e = s[j];
                    switch (e) {
                    case '"': case '\\': case '/': o[k++] = e; break;
                    case 'b': o[k++] = '\b'; break;
                    case 'f': o[k++] = '\f'; break;
                    case 'n': o[k++] = '\n'; break;
                    case 'r': o[k++] = '\r'; break;
                    case 't': o[k++] = '\t'; break;
                    case 'u': {
                        unsigned cp;
                        if (j + 4 >= n || hex4(s + j + 1, &cp) < 0) {
                            free(o);
                            return perr(p, "S0104: The escape sequence \\u must be followed by 4 hex digits");
                        }
                        j += 4;
                        if (cp >= 0xd800 && cp < 0xdc00 && j + 6 < n && s[j + 1] == '\\' &&
                            s[j + 2] == 'u') {
                            unsigned lo;
                            if (hex4(s + j + 3, &lo) == 0 && lo >= 0xdc00 && lo < 0xe000) {
                                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                                j += 6;
                            }
                        }
                        if (cp >= 0xd800 && cp < 0xe000)
                            cp = 0xfffd;
                        utf8_put(o, &k, cp);
                        break;
                    }
                    default:
                        free(o);
                        return perr(p, "S0103: Unsupported escape sequence: \\%c", e);
                    }
                    j++;
                } else
                    o[k++] = s[j++];
            }
            if (j >= n) {
                free(o);
                return perr(p, "S0101: String literal must be terminated by a matching quote");
            }
            o[k] = '\0';
            t.type = T_STR;
            t.s = o;
            t.slen = k;
            i = j + 1;
            operand = 1;
            if (tok_add(p, t) < 0)
                return -1;
            continue;
        }
        if (isdigit((unsigned char)c)) {
            size_t j = i;
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
            size_t l = j - i < sizeof tmp - 1 ? j - i : sizeof tmp - 1;
            memcpy(tmp, s + i, l);
            tmp[l] = '\0';
            t.type = T_NUM;
            t.num = strtod(tmp, NULL);
            if (!isfinite(t.num) || j - i >= sizeof tmp - 1)
                return perr(p, "S0102: Number out of range: %s", tmp);
            i = j;
            operand = 1;
            if (tok_add(p, t) < 0)
                return -1;
            continue;
        }
        if (c == '`') {
            const char *e = memchr(s + i + 1, '`', n - i - 1);
            if (e == NULL)
                return perr(p, "S0105: Quoted property name must be terminated with a backquote (`)");
            t.type = T_NAME;
            t.slen = (size_t)(e - s) - i - 1;
            t.s = strndup(s + i + 1, t.slen);
            i = (size_t)(e - s) + 1;
            operand = 1;
            if (t.s == NULL || tok_add(p, t) < 0)
                return perr(p, "out of memory");
            continue;
        }
        if (c == '$') {
            size_t j = i + 1;
            while (j < n && is_name_char((unsigned char)s[j]))
                j++;
            if (j == i + 1 && j < n && s[j] == '$')
                j++; /* $$ */
            t.type = T_VAR;
            t.slen = j - i - 1;
            t.s = strndup(s + i + 1, t.slen);
            i = j;
            operand = 1;
            if (t.s == NULL || tok_add(p, t) < 0)
                return perr(p, "out of memory");
            continue;
        }
        /* name, keyword value, or word operator */
        size_t j = i;
        while (j < n && is_name_char((unsigned char)s[j]))
            j++;
        if (j == i)
            return perr(p, "S0204: Unknown operator: \"%c\"", c);
        t.slen = j - i;
        t.s = strndup(s + i, t.slen);
        if (t.s == NULL)
            return perr(p, "out of memory");
        i = j;
        if (operand && (!strcmp(t.s, "and") || !strcmp(t.s, "or") || !strcmp(t.s, "in"))) {
            t.type = T_OP;
            operand = 0;
        } else if (!strcmp(t.s, "true") || !strcmp(t.s, "false") || !strcmp(t.s, "null")) {
            t.type = T_VALUE;
            t.val = t.s[0] == 't' ? json_true() : t.s[0] == 'f' ? json_false() : json_null();
            operand = 1;
        } else {
            t.type = T_NAME;
            operand = 1;
        }
        if (tok_add(p, t) < 0)
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
        perr(p, "out of memory");
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
                    perr(p, "out of memory");
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
        n->s = strdup(t->s);
        return n;
    case T_REGEX:
        return mk(p, N_REGEX, t->pos); /* compiled by the caller (needs flags) */
    case T_NAME:
        if ((strcmp(t->s, "function") == 0 || strcmp(t->s, "\xce\xbb") == 0) &&
            is_op(peek(p), "(")) {
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
                        perr(p, "out of memory");
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
        if ((n = mk(p, N_NAME, t->pos)) == NULL)
            return NULL;
        n->s = strdup(t->s);
        return n;
    case T_OP:
        break;
    }
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
    if (!strcmp(s, "{")) {
        if ((n = mk(p, N_OBJECT, t->pos)) == NULL)
            return NULL;
        if (!is_op(peek(p), "}")) {
            while (1) {
                node *k = expr(p, 0);
                if (k == NULL || vec_push(&n->kids, &n->nkids, k) < 0) {
                    node_free(k);
                    node_free(n);
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
    if (!strcmp(s, "|"))
        perr(p, "S0201: Syntax error: \"|\" (transform expressions are not supported)");
    else
        perr(p, "S0211: The symbol %s cannot be used as a unary operator", s);
    return NULL;
}

static rx *regex_compile(const char *pat, size_t len, const char *flags, char *err, size_t errlen);

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
        left->re = regex_compile(t->s, t->slen, t->flags, e, sizeof e);
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
            l->type = N_NAME;
            l->s = strdup(json_string_value(l->lit));
            json_decref(l->lit);
            l->lit = NULL;
            if (l->npreds) {
                l->stages = l->preds;
                l->nstages = l->npreds;
                l->preds = NULL;
                l->npreds = 0;
            }
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
                    perr(p, "out of memory");
                    return NULL;
                }
                rt->kids[i] = NULL;
            }
            if (rt->keep_array)
                l->keep_array = 1;
            node_free(rt);
        } else {
            if (rt->type == N_LIT && json_is_string(rt->lit)) { /* "a b" as a step is a name */
                rt->type = N_NAME;
                rt->s = strdup(json_string_value(rt->lit));
                json_decref(rt->lit);
                rt->lit = NULL;
            } else if (rt->type == N_LIT) {
                char *t = asl_json_text(rt->lit);
                node_free(l);
                node_free(rt);
                perr(p, "S0213: The literal value %s cannot be used as a step within a path expression",
                     t ? t : "?");
                free(t);
                return NULL;
            }
            if (rt->npreds) { /* predicates on a step apply per item */
                rt->stages = rt->preds;
                rt->nstages = rt->npreds;
                rt->preds = NULL;
                rt->npreds = 0;
            }
            if (rt->keep_array) {
                l->keep_array = 1;
                rt->keep_array = 0;
            }
            if (vec_push(&l->kids, &l->nkids, rt) < 0) {
                node_free(l);
                node_free(rt);
                perr(p, "out of memory");
                return NULL;
            }
        }
        if (keep)
            l->keep_array = 1;
        r = l;
    } else if (n->type == N_BIN && n->op == OP_PRED) {
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
            perr(p, "out of memory");
            return NULL;
        }
        if (keep)
            l->keep_array = 1;
        r = l;
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
 * Values and evaluation context
 * ==================================================================== */

typedef struct ectx ectx;
typedef struct frame frame;
typedef struct val val;

typedef int (*builtin_fn)(ectx *c, val *args, size_t nargs, json_t *in, val *out);
struct bdef;

typedef struct fnval {
    const struct bdef *bdef; /* built-in */
    const node *rxn;       /* regex literal: its node */
    const node *lambda;    /* lambda: its node */
    frame *closure;
    json_t *cin;           /* lambda: the context it was defined in (borrowed from arena) */
    /* partial application */
    struct fnval *target;
    val *bound;            /* args with NULL holes (fn==NULL && j==NULL && hole) */
    size_t nbound;
    struct fnval *next_alloc;
} fnval;

/* A JSONata value: JSON (j), a function (fn), or undefined (both NULL).
 * seq marks a sequence (an array built by path evaluation, collapsed to
 * its item when it holds one), cons an array built by [...], keep a
 * sequence that must stay an array ([] in a path). */
struct val {
    json_t *j;
    fnval *fn;
    unsigned char seq, cons, keep, hole;
};

typedef struct binding {
    char *name;
    val v;
    struct binding *next;
} binding;

struct frame {
    frame *parent;
    binding *b;
    frame *next_alloc;
};

struct ectx {
    const asl_scope *scope;
    json_t *states;
    frame *frames;     /* every frame made during this evaluation */
    fnval *fns;        /* every function value made */
    json_t *keep;      /* JSON kept alive for lambdas' contexts */
    int depth;
    long steps;
    int failed;
    const char *fname; /* built-in being called, for messages */
    char code[8];
    char msg[600];
};

static const val UNDEF = {0};

static void vfree(val *v)
{
    json_decref(v->j);
    *v = UNDEF;
}

static int defined(const val *v) { return v->j != NULL || v->fn != NULL; }

static int fail(ectx *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(ectx *c, const char *code, const char *fmt, ...)
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

static int oom(ectx *c) { return fail(c, "U1001", "Out of memory"); }

static frame *frame_new(ectx *c, frame *parent)
{
    frame *f = calloc(1, sizeof *f);
    if (f == NULL) {
        oom(c);
        return NULL;
    }
    f->parent = parent;
    f->next_alloc = c->frames;
    c->frames = f;
    return f;
}

/* bind steals v */
static int frame_bind(ectx *c, frame *f, const char *name, val *v)
{
    for (binding *b = f->b; b; b = b->next)
        if (strcmp(b->name, name) == 0) {
            vfree(&b->v);
            b->v = *v;
            *v = UNDEF;
            return 0;
        }
    binding *b = calloc(1, sizeof *b);
    if (b == NULL || (b->name = strdup(name)) == NULL) {
        free(b);
        vfree(v);
        return oom(c);
    }
    b->v = *v;
    *v = UNDEF;
    b->next = f->b;
    f->b = b;
    return 0;
}

static fnval *fn_new(ectx *c)
{
    fnval *f = calloc(1, sizeof *f);
    if (f == NULL) {
        oom(c);
        return NULL;
    }
    f->next_alloc = c->fns;
    c->fns = f;
    return f;
}

static void ectx_cleanup(ectx *c)
{
    while (c->frames) {
        frame *f = c->frames;
        c->frames = f->next_alloc;
        while (f->b) {
            binding *b = f->b;
            f->b = b->next;
            vfree(&b->v);
            free(b->name);
            free(b);
        }
        free(f);
    }
    while (c->fns) {
        fnval *f = c->fns;
        c->fns = f->next_alloc;
        for (size_t i = 0; i < f->nbound; i++)
            vfree(&f->bound[i]);
        free(f->bound);
        free(f);
    }
    json_decref(c->keep);
    c->keep = NULL;
}

/* ---- numbers -------------------------------------------------------- */

static json_t *num_new(double d)
{
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
        return json_integer((json_int_t)d);
    return json_real(d);
}

static int mknum(ectx *c, double d, val *out)
{
    if (!isfinite(d))
        return fail(c, "D1001", "Number out of range: %s", isnan(d) ? "null" : "null");
    out->j = num_new(d);
    return out->j ? 0 : oom(c);
}

static double numv(const json_t *j) { return json_number_value(j); }

/* JavaScript's Number#toString for finite d: shortest round-trip digits,
 * exponent form outside [1e-7, 1e21). */
static void fmt_js_number(double d, char *out, size_t n)
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

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int bad;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n + 1 > MAX_STR) {
        b->bad = 2;
        return;
    }
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->bad = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static int sb_done(ectx *c, sbuf *b, val *out)
{
    if (b->bad) {
        free(b->p);
        return b->bad == 2 ? fail(c, "U1002", "String result too large") : oom(c);
    }
    out->j = json_stringn_nocheck(b->p ? b->p : "", b->n);
    free(b->p);
    return out->j ? 0 : oom(c);
}

/* JSON.stringify-like text. round15: numbers rounded to 15 significant
 * digits as $string does. indent: pretty-print with 2 spaces. */
static void put_json(sbuf *b, const json_t *v, int round15, int indent, int level)
{
    char tmp[64];
    switch (json_typeof(v)) {
    case JSON_NULL:
        sb_puts(b, "null");
        break;
    case JSON_TRUE:
        sb_puts(b, "true");
        break;
    case JSON_FALSE:
        sb_puts(b, "false");
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d = numv(v);
        if (round15) {
            snprintf(tmp, sizeof tmp, "%.14e", d);
            d = strtod(tmp, NULL);
        }
        if (!isfinite(d))
            snprintf(tmp, sizeof tmp, "null"); /* JSON.stringify(Infinity) */
        else
            fmt_js_number(d, tmp, sizeof tmp);
        sb_puts(b, tmp);
        break;
    }
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        sb_put(b, "\"", 1);
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)s[i];
            switch (ch) {
            case '"': sb_puts(b, "\\\""); break;
            case '\\': sb_puts(b, "\\\\"); break;
            case '\n': sb_puts(b, "\\n"); break;
            case '\r': sb_puts(b, "\\r"); break;
            case '\t': sb_puts(b, "\\t"); break;
            case '\b': sb_puts(b, "\\b"); break;
            case '\f': sb_puts(b, "\\f"); break;
            default:
                if (ch < 0x20) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", ch);
                    sb_puts(b, tmp);
                } else
                    sb_put(b, (const char *)&s[i], 1);
            }
        }
        sb_put(b, "\"", 1);
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        sb_put(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_put(b, ",", 1);
            if (indent) {
                sb_put(b, "\n", 1);
                for (int k = 0; k <= level; k++)
                    sb_puts(b, "  ");
            }
            put_json(b, json_array_get(v, i), round15, indent, level + 1);
        }
        if (indent && n) {
            sb_put(b, "\n", 1);
            for (int k = 0; k < level; k++)
                sb_puts(b, "  ");
        }
        sb_put(b, "]", 1);
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        int first = 1;
        sb_put(b, "{", 1);
        json_object_foreach((json_t *)v, k, x) {
            if (!first)
                sb_put(b, ",", 1);
            first = 0;
            if (indent) {
                sb_put(b, "\n", 1);
                for (int q = 0; q <= level; q++)
                    sb_puts(b, "  ");
            }
            json_t *ks = json_string(k);
            if (ks)
                put_json(b, ks, 0, 0, 0);
            json_decref(ks);
            sb_put(b, indent ? ": " : ":", indent ? 2 : 1);
            put_json(b, x, round15, indent, level + 1);
        }
        if (indent && !first) {
            sb_put(b, "\n", 1);
            for (int q = 0; q < level; q++)
                sb_puts(b, "  ");
        }
        sb_put(b, "}", 1);
        break;
    }
    }
}

/* Text of a value for error messages (JSON.stringify). */
static char *msg_text(const val *v)
{
    if (v->fn)
        return strdup("{}");
    if (v->j == NULL)
        return strdup("undefined");
    sbuf b = {0};
    put_json(&b, v->j, 0, 0, 0);
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

static int deep_eq(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return numv(a) == numv(b);
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
            if (!deep_eq(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)a, k, x) {
            json_t *y = json_object_get(b, k);
            if (y == NULL || !deep_eq(x, y))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

/* jsonata's boolean cast */
static int truthy(const val *v)
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
        return numv(j) != 0;
    case JSON_STRING:
        return json_string_length(j) > 0;
    case JSON_OBJECT:
        return json_object_size(j) > 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (n == 1) {
            val x = {json_array_get(j, 0), NULL, 0, 0, 0, 0};
            return truthy(&x);
        }
        for (size_t i = 0; i < n; i++) {
            val x = {json_array_get(j, i), NULL, 0, 0, 0, 0};
            if (truthy(&x))
                return 1;
        }
        return 0;
    }
    }
    return 0;
}

/* ---- sequences ------------------------------------------------------- */

static int seq_init(ectx *c, val *s)
{
    *s = UNDEF;
    s->j = json_array();
    s->seq = 1;
    return s->j ? 0 : oom(c);
}

static int arr_push(ectx *c, json_t *arr, json_t *item /* borrowed */)
{
    if (json_array_size(arr) >= MAX_ITEMS)
        return fail(c, "U1003", "Array result too large");
    if (json_array_append(arr, item) < 0)
        return oom(c);
    return 0;
}

/* Collapse a sequence the way every jsonata evaluation ends. */
static void seq_finish(val *v, int keep_array)
{
    if (!v->seq)
        return;
    if (keep_array)
        v->keep = 1;
    size_t n = json_array_size(v->j);
    if (n == 0) {
        vfree(v);
    } else if (n == 1 && !v->keep) {
        json_t *x = json_incref(json_array_get(v->j, 0));
        json_decref(v->j);
        *v = UNDEF;
        v->j = x;
    }
}

/* ======================================================================
 * Evaluator
 * ==================================================================== */

static int ev(ectx *c, const node *n, json_t *in, frame *env, val *out);
static int call_fn(ectx *c, fnval *f, val *args, size_t nargs, json_t *in, val *out);
static int builtin_lookup(ectx *c, const char *name, val *out);
static int bi_dispatch(ectx *c, const struct bdef *d, val *a, size_t nargs, json_t *in, val *out);

static val vcopy(const val *v)
{
    val r = *v;
    json_incref(r.j);
    return r;
}

static int lookup_var(ectx *c, const char *name, json_t *in, frame *env, val *out)
{
    *out = UNDEF;
    if (name[0] == '\0') {
        out->j = json_incref(in);
        return 0;
    }
    if (strcmp(name, "$") == 0)
        return 0; /* $$: Step Functions evaluates with no root input */
    for (frame *f = env; f; f = f->parent)
        for (binding *b = f->b; b; b = b->next)
            if (strcmp(b->name, name) == 0) {
                *out = vcopy(&b->v);
                return 0;
            }
    if (strcmp(name, "states") == 0) {
        out->j = json_incref(c->states);
        return 0;
    }
    if (c->scope && c->scope->var_lookup) {
        json_t *v = c->scope->var_lookup(c->scope->var_ud, name);
        if (v) {
            out->j = json_incref(v);
            return 0;
        }
    }
    return builtin_lookup(c, name, out);
}

static int lookup_name(ectx *c, json_t *in, const char *name, val *out)
{
    *out = UNDEF;
    if (json_is_array(in)) {
        val s;
        if (seq_init(c, &s) < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(in); i++) {
            val r;
            if (lookup_name(c, json_array_get(in, i), name, &r) < 0) {
                vfree(&s);
                return -1;
            }
            int rc = 0;
            if (json_is_array(r.j)) {
                for (size_t k = 0; k < json_array_size(r.j) && rc == 0; k++)
                    rc = arr_push(c, s.j, json_array_get(r.j, k));
            } else if (r.j)
                rc = arr_push(c, s.j, r.j);
            vfree(&r);
            if (rc < 0) {
                vfree(&s);
                return -1;
            }
        }
        *out = s;
        return 0;
    }
    if (json_is_object(in))
        out->j = json_incref(json_object_get(in, name));
    return 0;
}

static int flatten_into(ectx *c, json_t *dst, json_t *v)
{
    if (!json_is_array(v))
        return arr_push(c, dst, v);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (flatten_into(c, dst, json_array_get(v, i)) < 0)
            return -1;
    return 0;
}

static int ev_wildcard(ectx *c, json_t *in, val *out)
{
    if (seq_init(c, out) < 0)
        return -1;
    if (json_is_object(in)) {
        const char *k;
        json_t *x;
        json_object_foreach(in, k, x) {
            if (flatten_into(c, out->j, x) < 0)
                return -1;
        }
    } else if (json_is_array(in)) {
        for (size_t i = 0; i < json_array_size(in); i++)
            if (flatten_into(c, out->j, json_array_get(in, i)) < 0)
                return -1;
    }
    return 0;
}

static int descend(ectx *c, json_t *dst, json_t *v, int depth)
{
    if (depth > ASL_MAX_DEPTH)
        return fail(c, "U1005", "Input nested too deeply");
    if (!json_is_array(v) && arr_push(c, dst, v) < 0)
        return -1;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (descend(c, dst, json_array_get(v, i), depth + 1) < 0)
                return -1;
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (descend(c, dst, x, depth + 1) < 0)
                return -1;
        }
    }
    return 0;
}

static int is_number(const json_t *j) { return json_is_number(j); }

/* evaluateFilter: predicate applied to a value taken as a sequence */
static int filter(ectx *c, const node *pred, val *v, frame *env)
{
    if (!defined(v) || v->fn)
        return 0;
    json_t *items;
    if (json_is_array(v->j))
        items = json_incref(v->j);
    else {
        items = json_array();
        if (items == NULL || json_array_append(items, v->j) < 0) {
            json_decref(items);
            return oom(c);
        }
    }
    size_t n = json_array_size(items);
    val res;
    if (seq_init(c, &res) < 0) {
        json_decref(items);
        return -1;
    }
    int rc = 0;
    if (pred->type == N_LIT && is_number(pred->lit)) {
        double d = floor(numv(pred->lit));
        if (d < 0)
            d += (double)n;
        if (d >= 0 && d < (double)n) {
            json_t *item = json_array_get(items, (size_t)d);
            if (json_is_array(item)) {
                vfree(&res);
                res.j = json_incref(item);
            } else
                rc = arr_push(c, res.j, item);
        }
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *item = json_array_get(items, i);
            val r;
            if ((rc = ev(c, pred, item, env, &r)) < 0)
                break;
            if (is_number(r.j) || (json_is_array(r.j) && json_array_size(r.j) > 0)) {
                int allnum = 1;
                if (json_is_array(r.j))
                    for (size_t k = 0; k < json_array_size(r.j); k++)
                        if (!is_number(json_array_get(r.j, k)))
                            allnum = 0;
                if (allnum) {
                    size_t m = json_is_array(r.j) ? json_array_size(r.j) : 1;
                    for (size_t k = 0; k < m && rc == 0; k++) {
                        json_t *x = json_is_array(r.j) ? json_array_get(r.j, k) : r.j;
                        double d = floor(numv(x));
                        if (d < 0)
                            d += (double)n;
                        if (d == (double)i)
                            rc = arr_push(c, res.j, item);
                    }
                    vfree(&r);
                    continue;
                }
            }
            if (truthy(&r))
                rc = arr_push(c, res.j, item);
            vfree(&r);
        }
    }
    json_decref(items);
    if (rc < 0) {
        vfree(&res);
        return -1;
    }
    vfree(v);
    *v = res;
    return 0;
}

/* evaluateStep: one path step over every item of the input sequence */
static int ev_step(ectx *c, const node *step, json_t *items, int single_undef, int last, frame *env,
                   val *out)
{
    size_t n = single_undef ? 1 : json_array_size(items);
    val *rs = calloc(n ? n : 1, sizeof *rs);
    size_t nr = 0;
    int rc = 0;
    if (rs == NULL)
        return oom(c);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *item = single_undef ? NULL : json_array_get(items, i);
        val v;
        if ((rc = ev(c, step, item, env, &v)) < 0)
            break;
        for (size_t k = 0; k < step->nstages && rc == 0; k++)
            rc = filter(c, step->stages[k], &v, env);
        if (rc == 0 && v.j)
            rs[nr++] = v;
        else
            vfree(&v);
    }
    if (rc == 0) {
        if (last && nr == 1 && json_is_array(rs[0].j) && !rs[0].seq) {
            *out = rs[0];
            rs[0] = UNDEF;
        } else if ((rc = seq_init(c, out)) == 0) {
            for (size_t i = 0; i < nr && rc == 0; i++) {
                if (json_is_array(rs[i].j) && !rs[i].cons) {
                    for (size_t k = 0; k < json_array_size(rs[i].j) && rc == 0; k++)
                        rc = arr_push(c, out->j, json_array_get(rs[i].j, k));
                } else
                    rc = arr_push(c, out->j, rs[i].j);
            }
            if (rc < 0)
                vfree(out);
        }
    }
    for (size_t i = 0; i < nr; i++)
        vfree(&rs[i]);
    free(rs);
    return rc;
}

static int ev_path(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    json_t *items;
    int single_undef = 0;
    val cur = UNDEF;
    if (json_is_array(in) && n->kids[0]->type != N_VAR)
        items = json_incref(in);
    else if (in == NULL) {
        items = json_array();
        single_undef = 1;
    } else {
        items = json_array();
        if (items && json_array_append(items, in) < 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL)
        return oom(c);
    for (size_t i = 0; i < n->nkids; i++) {
        const node *step = n->kids[i];
        val r;
        int rc;
        if (i == 0 && step->type == N_ARRAY) {
            rc = ev(c, step, in, env, &r);
            for (size_t k = 0; k < step->nstages && rc == 0; k++)
                rc = filter(c, step->stages[k], &r, env);
        } else
            rc = ev_step(c, step, items, single_undef, i + 1 == n->nkids, env, &r);
        if (rc < 0) {
            json_decref(items);
            vfree(&cur);
            return -1;
        }
        vfree(&cur);
        cur = r;
        json_decref(items);
        items = NULL;
        single_undef = 0;
        if (cur.j == NULL || (json_is_array(cur.j) && json_array_size(cur.j) == 0))
            break;
        if (json_is_array(cur.j))
            items = json_incref(cur.j);
        else {
            items = json_array();
            if (items == NULL || json_array_append(items, cur.j) < 0) {
                json_decref(items);
                vfree(&cur);
                return oom(c);
            }
        }
    }
    json_decref(items);
    if (n->keep_array && cur.j) {
        if (json_is_array(cur.j) && cur.cons && !cur.seq) {
            val s;
            if (seq_init(c, &s) < 0 || arr_push(c, s.j, cur.j) < 0) {
                vfree(&s);
                vfree(&cur);
                return -1;
            }
            vfree(&cur);
            cur = s;
        }
        cur.keep = 1;
    }
    *out = cur;
    return 0;
}

static const char *op_text(int op)
{
    switch (op) {
    case OP_ADD: return "+";
    case OP_SUB: return "-";
    case OP_MUL: return "*";
    case OP_DIV: return "/";
    case OP_MOD: return "%";
    case OP_EQ: return "=";
    case OP_NE: return "!=";
    case OP_LT: return "<";
    case OP_LE: return "<=";
    case OP_GT: return ">";
    case OP_GE: return ">=";
    case OP_AND: return "and";
    case OP_OR: return "or";
    case OP_IN: return "in";
    case OP_CONCAT: return "&";
    }
    return "?";
}

/* $string's conversion; undefined and functions become "" */
static void to_text(sbuf *b, const val *v)
{
    if (v->fn || v->j == NULL)
        return;
    if (json_is_string(v->j))
        sb_put(b, json_string_value(v->j), json_string_length(v->j));
    else
        put_json(b, v->j, 1, 0, 0);
}

static int ev_binary(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    val l = UNDEF, r = UNDEF;
    int rc = 0;
    if (n->op == OP_AND || n->op == OP_OR) {
        if (ev(c, n->a, in, env, &l) < 0)
            return -1;
        int lt = truthy(&l);
        vfree(&l);
        if ((n->op == OP_AND && !lt) || (n->op == OP_OR && lt)) {
            out->j = json_boolean(lt);
            return 0;
        }
        if (ev(c, n->b, in, env, &r) < 0)
            return -1;
        out->j = json_boolean(truthy(&r));
        vfree(&r);
        return 0;
    }
    if (ev(c, n->a, in, env, &l) < 0)
        return -1;
    if (ev(c, n->b, in, env, &r) < 0) {
        vfree(&l);
        return -1;
    }
    const char *ot = op_text(n->op);
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MOD: {
        if (defined(&l) && !is_number(l.j)) {
            rc = fail(c, "T2001", "The left side of the \"%s\" operator must evaluate to a number", ot);
            break;
        }
        if (defined(&r) && !is_number(r.j)) {
            rc = fail(c, "T2002", "The right side of the \"%s\" operator must evaluate to a number", ot);
            break;
        }
        if (!defined(&l) || !defined(&r))
            break;
        double x = numv(l.j), y = numv(r.j), z;
        switch (n->op) {
        case OP_ADD: z = x + y; break;
        case OP_SUB: z = x - y; break;
        case OP_MUL: z = x * y; break;
        case OP_DIV: z = x / y; break;
        default: z = fmod(x, y); break;
        }
        rc = mknum(c, z, out);
        break;
    }
    case OP_EQ: case OP_NE: {
        int eq = 0;
        if (l.j && r.j && !l.fn && !r.fn)
            eq = deep_eq(l.j, r.j);
        if (!defined(&l) || !defined(&r))
            out->j = json_false();
        else
            out->j = json_boolean(n->op == OP_EQ ? eq : !eq);
        break;
    }
    case OP_LT: case OP_LE: case OP_GT: case OP_GE: {
        int lc = !l.fn && (l.j == NULL || json_is_string(l.j) || is_number(l.j));
        int rcmp = !r.fn && (r.j == NULL || json_is_string(r.j) || is_number(r.j));
        if (!lc || !rcmp) {
            rc = fail(c, "T2010", "The expressions either side of operator \"%s\" must evaluate to numeric or string values", ot);
            break;
        }
        if (l.j == NULL || r.j == NULL)
            break;
        int cmp;
        if (is_number(l.j) && is_number(r.j)) {
            double x = numv(l.j), y = numv(r.j);
            cmp = x < y ? -1 : x > y ? 1 : 0;
        } else if (json_is_string(l.j) && json_is_string(r.j)) {
            size_t a = json_string_length(l.j), b = json_string_length(r.j);
            int m = memcmp(json_string_value(l.j), json_string_value(r.j), a < b ? a : b);
            cmp = m ? m : a < b ? -1 : a > b ? 1 : 0;
        } else {
            char *a = msg_text(&l), *b = msg_text(&r);
            rc = fail(c, "T2009", "The values %s and %s either side of operator \"%s\" must be of the same data type",
                      a ? a : "?", b ? b : "?", ot);
            free(a);
            free(b);
            break;
        }
        int res = n->op == OP_LT ? cmp < 0 : n->op == OP_LE ? cmp <= 0 : n->op == OP_GT ? cmp > 0 : cmp >= 0;
        out->j = json_boolean(res);
        break;
    }
    case OP_IN: {
        int found = 0;
        /* jsonata compares with ===: arrays and objects are never "in" */
        if (l.j && r.j && !json_is_array(l.j) && !json_is_object(l.j)) {
            if (json_is_array(r.j)) {
                for (size_t i = 0; i < json_array_size(r.j) && !found; i++)
                    found = deep_eq(l.j, json_array_get(r.j, i));
            } else
                found = deep_eq(l.j, r.j);
        }
        out->j = json_boolean(found);
        break;
    }
    case OP_CONCAT: {
        sbuf b = {0};
        to_text(&b, &l);
        to_text(&b, &r);
        rc = sb_done(c, &b, out);
        break;
    }
    default:
        rc = fail(c, "S0201", "Syntax error");
    }
    vfree(&l);
    vfree(&r);
    return rc;
}

static int ev_array(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    json_t *a = json_array();
    if (a == NULL)
        return oom(c);
    for (size_t i = 0; i < n->nkids; i++) {
        val v;
        if (ev(c, n->kids[i], in, env, &v) < 0) {
            json_decref(a);
            return -1;
        }
        int rc = 0;
        if (v.j) {
            if (n->kids[i]->type == N_ARRAY || !json_is_array(v.j))
                rc = arr_push(c, a, v.j);
            else
                for (size_t k = 0; k < json_array_size(v.j) && rc == 0; k++)
                    rc = arr_push(c, a, json_array_get(v.j, k));
        }
        vfree(&v);
        if (rc < 0) {
            json_decref(a);
            return -1;
        }
    }
    out->j = a;
    out->cons = 1;
    return 0;
}

static int ev_object(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    json_t *o = json_object();
    if (o == NULL)
        return oom(c);
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        val k, v;
        if (ev(c, n->kids[i], in, env, &k) < 0)
            goto fail;
        if (!json_is_string(k.j)) {
            char *t = msg_text(&k);
            vfree(&k);
            fail(c, "T1003", "Key in object structure must evaluate to a string; got: %s", t ? t : "?");
            free(t);
            goto fail;
        }
        if (json_object_get(o, json_string_value(k.j))) {
            fail(c, "D1009", "Multiple key definitions evaluate to same key: \"%s\"", json_string_value(k.j));
            vfree(&k);
            goto fail;
        }
        if (ev(c, n->kids[i + 1], in, env, &v) < 0) {
            vfree(&k);
            goto fail;
        }
        int rc = v.j ? json_object_set(o, json_string_value(k.j), v.j) : 0;
        vfree(&k);
        vfree(&v);
        if (rc < 0) {
            oom(c);
            goto fail;
        }
    }
    out->j = o;
    return 0;
fail:
    json_decref(o);
    return -1;
}

static int ev_range(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    val l, r;
    if (ev(c, n->a, in, env, &l) < 0)
        return -1;
    if (ev(c, n->b, in, env, &r) < 0) {
        vfree(&l);
        return -1;
    }
    int rc = 0;
    if (defined(&l) && (!is_number(l.j) || numv(l.j) != floor(numv(l.j))))
        rc = fail(c, "T2003", "The left side of the range operator (..) must evaluate to an integer");
    else if (defined(&r) && (!is_number(r.j) || numv(r.j) != floor(numv(r.j))))
        rc = fail(c, "T2004", "The right side of the range operator (..) must evaluate to an integer");
    else if (l.j && r.j && numv(l.j) <= numv(r.j)) {
        double a = numv(l.j), b = numv(r.j), size = b - a + 1;
        if (size > MAX_RANGE)
            rc = fail(c, "D2014", "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate %.0f.", size);
        else if (size > MAX_ITEMS)
            rc = fail(c, "U1003", "Array result too large");
        else if ((out->j = json_array()) == NULL)
            rc = oom(c);
        else
            for (double x = a; x <= b && rc == 0; x++) {
                json_t *nj = num_new(x);
                if (nj == NULL || json_array_append_new(out->j, nj) < 0)
                    rc = oom(c);
            }
    }
    vfree(&l);
    vfree(&r);
    if (rc < 0)
        vfree(out);
    return rc;
}

static int keep_ctx(ectx *c, json_t *in)
{
    if (in == NULL)
        return 0;
    if (c->keep == NULL && (c->keep = json_array()) == NULL)
        return oom(c);
    return json_array_append(c->keep, in) < 0 ? oom(c) : 0;
}

static int resolve_proc(ectx *c, const node *p, json_t *in, frame *env, val *out)
{
    if (ev(c, p, in, env, out) < 0)
        return -1;
    if (out->fn)
        return 0;
    vfree(out);
    if (p->type == N_PATH && p->nkids == 1 && p->kids[0]->type == N_NAME)
        return fail(c, "T1005", "Attempted to invoke a non-function. Did you mean $%s?", p->kids[0]->s);
    return fail(c, "T1006", "Attempted to invoke a non-function");
}

static int ev_args(ectx *c, const node *n, json_t *in, frame *env, val *args, size_t first)
{
    for (size_t i = 0; i < n->nkids; i++) {
        if (n->kids[i]->type == N_PLACEHOLDER) {
            args[first + i] = UNDEF;
            args[first + i].hole = 1;
            continue;
        }
        if (ev(c, n->kids[i], in, env, &args[first + i]) < 0) {
            for (size_t k = 0; k < first + i; k++)
                vfree(&args[k]);
            return -1;
        }
    }
    return 0;
}

static int ev_call(ectx *c, const node *n, json_t *in, frame *env, val *out, const val *piped)
{
    val proc;
    if (resolve_proc(c, n->a, in, env, &proc) < 0)
        return -1;
    size_t first = piped ? 1 : 0, nargs = n->nkids + first;
    val *args = calloc(nargs ? nargs : 1, sizeof *args);
    if (args == NULL)
        return oom(c);
    if (piped)
        args[0] = vcopy(piped);
    if (ev_args(c, n, in, env, args, first) < 0) {
        free(args);
        return -1;
    }
    int rc;
    if (n->partial) {
        fnval *f = fn_new(c);
        if (f == NULL) {
            rc = -1;
        } else {
            f->target = proc.fn;
            f->bound = args;
            f->nbound = nargs;
            args = NULL;
            out->fn = f;
            rc = 0;
        }
        nargs = 0;
    } else
        rc = call_fn(c, proc.fn, args, nargs, in, out);
    for (size_t i = 0; i < nargs; i++)
        vfree(&args[i]);
    free(args);
    return rc;
}

static int call_fn(ectx *c, fnval *f, val *args, size_t nargs, json_t *in, val *out)
{
    *out = UNDEF;
    if (++c->depth > MAX_EVAL_DEPTH) {
        c->depth--;
        return fail(c, "U1005", "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
    }
    int rc;
    if (f->target) {
        size_t total = f->nbound;
        val *all = calloc(total ? total : 1, sizeof *all);
        if (all == NULL) {
            c->depth--;
            return oom(c);
        }
        size_t k = 0;
        for (size_t i = 0; i < total; i++)
            all[i] = f->bound[i].hole ? (k < nargs ? vcopy(&args[k++]) : UNDEF) : vcopy(&f->bound[i]);
        rc = call_fn(c, f->target, all, total, in, out);
        for (size_t i = 0; i < total; i++)
            vfree(&all[i]);
        free(all);
    } else if (f->bdef) {
        rc = bi_dispatch(c, f->bdef, args, nargs, in, out);
    } else if (f->lambda) {
        frame *fr = frame_new(c, f->closure);
        rc = fr ? 0 : -1;
        for (size_t i = 0; i < f->lambda->nparams && rc == 0; i++) {
            val v = i < nargs ? vcopy(&args[i]) : UNDEF;
            rc = frame_bind(c, fr, f->lambda->params[i], &v);
        }
        if (rc == 0)
            rc = ev(c, f->lambda->a, f->cin, fr, out);
    } else
        rc = fail(c, "T1006", "Attempted to invoke a non-function");
    c->depth--;
    return rc;
}

static int fn_arity(const fnval *f)
{
    if (f->lambda)
        return (int)f->lambda->nparams;
    return 1;
}

static int ev_inner(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    switch (n->type) {
    case N_LIT:
        out->j = json_incref(n->lit);
        return 0;
    case N_REGEX: {
        fnval *f = fn_new(c);
        if (f == NULL)
            return -1;
        f->rxn = n;
        out->fn = f;
        return 0;
    }
    case N_NAME:
        return lookup_name(c, in, n->s, out);
    case N_WILD:
        return ev_wildcard(c, in, out);
    case N_DESC:
        if (seq_init(c, out) < 0)
            return -1;
        return in ? descend(c, out->j, in, 0) : 0;
    case N_PARENT:
        return fail(c, "S0217", "The object representing the 'parent' cannot be derived from this expression");
    case N_VAR:
        return lookup_var(c, n->s, in, env, out);
    case N_PATH:
        return ev_path(c, n, in, env, out);
    case N_BIN:
        return ev_binary(c, n, in, env, out);
    case N_NEG: {
        val v;
        if (ev(c, n->a, in, env, &v) < 0)
            return -1;
        int rc = 0;
        if (defined(&v) && !is_number(v.j)) {
            char *t = msg_text(&v);
            rc = fail(c, "D1002", "Cannot negate a non-numeric value: %s", t ? t : "?");
            free(t);
        } else if (v.j)
            rc = mknum(c, -numv(v.j), out);
        vfree(&v);
        return rc;
    }
    case N_ARRAY:
        return ev_array(c, n, in, env, out);
    case N_OBJECT:
        return ev_object(c, n, in, env, out);
    case N_COND: {
        val v;
        if (ev(c, n->a, in, env, &v) < 0)
            return -1;
        int t = truthy(&v);
        vfree(&v);
        if (t)
            return ev(c, n->b, in, env, out);
        return n->c ? ev(c, n->c, in, env, out) : 0;
    }
    case N_BLOCK: {
        frame *f = frame_new(c, env);
        if (f == NULL)
            return -1;
        for (size_t i = 0; i < n->nkids; i++) {
            vfree(out);
            if (ev(c, n->kids[i], in, f, out) < 0)
                return -1;
        }
        return 0;
    }
    case N_BIND: {
        if (ev(c, n->a, in, env, out) < 0)
            return -1;
        val cp = vcopy(out);
        return frame_bind(c, env, n->s, &cp);
    }
    case N_CALL:
        return ev_call(c, n, in, env, out, NULL);
    case N_LAMBDA: {
        fnval *f = fn_new(c);
        if (f == NULL || keep_ctx(c, in) < 0)
            return -1;
        f->lambda = n;
        f->closure = env;
        f->cin = in;
        out->fn = f;
        return 0;
    }
    case N_RANGE:
        return ev_range(c, n, in, env, out);
    case N_CHAIN: {
        val l;
        if (ev(c, n->a, in, env, &l) < 0)
            return -1;
        int rc;
        if (n->b->type == N_CALL && !n->b->partial)
            rc = ev_call(c, n->b, in, env, out, &l);
        else {
            val f;
            rc = ev(c, n->b, in, env, &f);
            if (rc == 0 && !f.fn) {
                vfree(&f);
                rc = fail(c, "T2006", "The right side of the function application operator ~> must be a function");
            } else if (rc == 0) {
                rc = call_fn(c, f.fn, &l, 1, in, out);
                vfree(&f);
            }
        }
        vfree(&l);
        return rc;
    }
    case N_PLACEHOLDER:
        return fail(c, "S0201", "Syntax error: \"?\"");
    }
    return fail(c, "S0201", "Syntax error");
}

static int ev(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    *out = UNDEF;
    if (++c->steps > MAX_STEPS)
        return fail(c, "U1004", "Evaluation exceeded its step budget");
    if (++c->depth > MAX_EVAL_DEPTH) {
        c->depth--;
        return fail(c, "U1005", "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
    }
    int rc = ev_inner(c, n, in, env, out);
    for (size_t i = 0; i < n->npreds && rc == 0; i++)
        rc = filter(c, n->preds[i], out, env);
    if (rc == 0)
        seq_finish(out, n->keep_array);
    else
        vfree(out);
    c->depth--;
    return rc;
}

/* ======================================================================
 * Built-in functions
 * ==================================================================== */


static int sig_err(ectx *c, size_t idx)
{
    return fail(c, "T0410", "Argument %zu of function \"%s\" does not match function signature", idx + 1, c->fname);
}

#define A(i) ((i) < nargs ? &a[i] : &undef_arg)
static val undef_arg;

static int opt_str(ectx *c, val *a, size_t nargs, size_t i, const char **s, size_t *len)
{
    val *v = A(i);
    *s = NULL;
    *len = 0;
    if (!defined(v))
        return 0;
    if (!json_is_string(v->j))
        return sig_err(c, i);
    *s = json_string_value(v->j);
    *len = json_string_length(v->j);
    return 0;
}

static int opt_num(ectx *c, val *a, size_t nargs, size_t i, double *d, int *has)
{
    val *v = A(i);
    *has = 0;
    if (!defined(v))
        return 0;
    if (!is_number(v->j))
        return sig_err(c, i);
    *d = numv(v->j);
    *has = 1;
    return 0;
}

/* array argument: arrays as they are, other values wrapped (jsonata's a<>) */
static json_t *as_array(val *v)
{
    if (json_is_array(v->j))
        return json_incref(v->j);
    json_t *a = json_array();
    if (a && v->j && json_array_append(a, v->j) < 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static int num_array(ectx *c, val *a, size_t nargs, json_t **arr)
{
    *arr = NULL;
    if (!defined(A(0)))
        return 0;
    if (A(0)->fn)
        return sig_err(c, 0);
    if ((*arr = as_array(A(0))) == NULL)
        return oom(c);
    for (size_t i = 0; i < json_array_size(*arr); i++)
        if (!is_number(json_array_get(*arr, i))) {
            json_decref(*arr);
            *arr = NULL;
            return fail(c, "T0412", "Argument 1 of function \"%s\" must be an array of \"numbers\"", c->fname);
        }
    return 0;
}

static int bi_sum(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    json_t *arr;
    if (num_array(c, a, nargs, &arr) < 0 || arr == NULL)
        return c->failed ? -1 : 0;
    double s = 0;
    for (size_t i = 0; i < json_array_size(arr); i++)
        s += numv(json_array_get(arr, i));
    json_decref(arr);
    return mknum(c, s, out);
}

static int bi_minmax_avg(ectx *c, val *a, size_t nargs, val *out, int kind)
{
    json_t *arr;
    if (num_array(c, a, nargs, &arr) < 0 || arr == NULL)
        return c->failed ? -1 : 0;
    size_t n = json_array_size(arr);
    if (n == 0) {
        json_decref(arr);
        return 0;
    }
    double r = numv(json_array_get(arr, 0)), s = 0;
    for (size_t i = 0; i < n; i++) {
        double x = numv(json_array_get(arr, i));
        s += x;
        if (kind == 0 && x > r)
            r = x;
        if (kind == 1 && x < r)
            r = x;
    }
    json_decref(arr);
    return mknum(c, kind == 2 ? s / (double)n : r, out);
}

static int bi_max(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 0); }
static int bi_min(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 1); }
static int bi_average(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 2); }

static int bi_count(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    size_t n = !defined(A(0)) ? 0 : json_is_array(A(0)->j) ? json_array_size(A(0)->j) : 1;
    return mknum(c, (double)n, out);
}

static int bi_string(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    if (defined(A(1)) && !json_is_boolean(A(1)->j))
        return sig_err(c, 1);
    if (A(0)->fn) {
        out->j = json_string("");
        return out->j ? 0 : oom(c);
    }
    if (json_is_string(A(0)->j)) {
        out->j = json_incref(A(0)->j);
        return 0;
    }
    sbuf b = {0};
    put_json(&b, A(0)->j, 1, json_is_true(A(1)->j), 0);
    return sb_done(c, &b, out);
}

static int bi_number(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    val *v = A(0);
    if (!defined(v))
        return 0;
    if (is_number(v->j)) {
        out->j = json_incref(v->j);
        return 0;
    }
    if (json_is_boolean(v->j))
        return mknum(c, json_is_true(v->j) ? 1 : 0, out);
    if (json_is_null(v->j) || v->fn)
        return sig_err(c, 0);
    if (json_is_string(v->j)) {
        const char *s = json_string_value(v->j);
        char *end;
        double d;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'b' || s[1] == 'B' || s[1] == 'o' ||
                            s[1] == 'O') && s[2]) {
            int base = (s[1] | 32) == 'x' ? 16 : (s[1] | 32) == 'b' ? 2 : 8;
            unsigned long long u = strtoull(s + 2, &end, base);
            if (*end == '\0')
                return mknum(c, (double)u, out);
        } else {
            /* JSON number syntax only */
            const char *p = s;
            if (*p == '-')
                p++;
            if (isdigit((unsigned char)*p)) {
                while (isdigit((unsigned char)*p))
                    p++;
                if (*p == '.' && isdigit((unsigned char)p[1])) {
                    p++;
                    while (isdigit((unsigned char)*p))
                        p++;
                }
                if ((*p == 'e' || *p == 'E')) {
                    const char *q = p + 1;
                    if (*q == '+' || *q == '-')
                        q++;
                    if (isdigit((unsigned char)*q)) {
                        while (isdigit((unsigned char)*q))
                            q++;
                        p = q;
                    }
                }
                if (*p == '\0') {
                    d = strtod(s, NULL);
                    if (isfinite(d))
                        return mknum(c, d, out);
                }
            }
        }
    }
    char *t = msg_text(v);
    fail(c, "D3030", "Unable to cast value to a number: %s", t ? t : "?");
    free(t);
    return -1;
}

static int bi_boolean(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    if (!defined(A(0)))
        return 0;
    out->j = json_boolean(truthy(A(0)));
    return 0;
}

static int bi_not(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    if (!defined(A(0)))
        return 0;
    out->j = json_boolean(!truthy(A(0)));
    return 0;
}

static int bi_exists(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    out->j = json_boolean(defined(A(0)));
    return 0;
}

/* ---- strings (positions count code points, as jsonata does) ---------- */

static size_t cp_len(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            k++;
    return k;
}

/* byte offset of code point index cp (clamped to n) */
static size_t cp_off(const char *s, size_t n, size_t cp)
{
    size_t k = 0, i = 0;
    for (; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            if (k == cp)
                return i;
            k++;
        }
    return n;
}

static int bi_length(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    return mknum(c, (double)cp_len(s, n), out);
}

static int mkstr(ectx *c, const char *s, size_t n, val *out)
{
    out->j = json_stringn_nocheck(s, n);
    return out->j ? 0 : oom(c);
}

static int bi_substring(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double st, ln;
    int hs, hl;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || opt_num(c, a, nargs, 1, &st, &hs) < 0 ||
        opt_num(c, a, nargs, 2, &ln, &hl) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (!hs)
        return sig_err(c, 1);
    double len = (double)cp_len(s, n);
    st = trunc(st);
    double start = st < 0 ? (len + st < 0 ? 0 : len + st) : (st > len ? len : st);
    double end = len;
    if (hl) {
        if (ln <= 0)
            return mkstr(c, "", 0, out);
        end = start + trunc(ln);
        if (end > len)
            end = len;
    }
    if (end < start)
        end = start;
    size_t b0 = cp_off(s, n, (size_t)start), b1 = cp_off(s, n, (size_t)end);
    return mkstr(c, s + b0, b1 - b0, out);
}

static const char *memfind(const char *h, size_t hn, const char *nd, size_t nn)
{
    if (nn == 0)
        return h;
    for (size_t i = 0; i + nn <= hn; i++)
        if (memcmp(h + i, nd, nn) == 0)
            return h + i;
    return NULL;
}

static int bi_substr_ba(ectx *c, val *a, size_t nargs, val *out, int after)
{
    const char *s, *t;
    size_t n, tn;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || opt_str(c, a, nargs, 1, &t, &tn) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (t == NULL)
        return sig_err(c, 1);
    const char *p = memfind(s, n, t, tn);
    if (p == NULL)
        return mkstr(c, s, n, out);
    if (after)
        return mkstr(c, p + tn, n - (size_t)(p - s) - tn, out);
    return mkstr(c, s, (size_t)(p - s), out);
}
static int bi_substringBefore(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_substr_ba(c, a, n, out, 0); }
static int bi_substringAfter(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_substr_ba(c, a, n, out, 1); }

static int bi_case(ectx *c, val *a, size_t nargs, val *out, int up)
{
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    char *t = malloc(n + 1);
    if (t == NULL)
        return oom(c);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        t[i] = ch < 0x80 ? (char)(up ? toupper(ch) : tolower(ch)) : (char)ch;
        /* Latin-1 letters U+00C0..U+00DE <-> U+00E0..U+00FE (not x and /) */
        if (ch == 0xc3 && i + 1 < n) {
            unsigned char d = (unsigned char)s[i + 1];
            if (up && d >= 0xa0 && d <= 0xbe && d != 0xb7)
                d -= 0x20;
            else if (!up && d >= 0x80 && d <= 0x9e && d != 0x97)
                d += 0x20;
            t[++i] = (char)d;
        }
    }
    int rc = mkstr(c, t, n, out);
    free(t);
    return rc;
}
static int bi_uppercase(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_case(c, a, n, out, 1); }
static int bi_lowercase(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_case(c, a, n, out, 0); }

static int bi_trim(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    sbuf b = {0};
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr(" \t\n\r\f\v", s[i]) && s[i]) {
            space = 1;
            continue;
        }
        if (space && b.n)
            sb_put(&b, " ", 1);
        space = 0;
        sb_put(&b, s + i, 1);
    }
    return sb_done(c, &b, out);
}

static int bi_pad(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *pc;
    size_t n, pn;
    double w;
    int hw;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || opt_num(c, a, nargs, 1, &w, &hw) < 0 ||
        opt_str(c, a, nargs, 2, &pc, &pn) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (!hw)
        return sig_err(c, 1);
    if (pc == NULL || pn == 0) {
        pc = " ";
        pn = 1;
    }
    double len = (double)cp_len(s, n), want = fabs(trunc(w));
    if (want > MAX_STR)
        return fail(c, "U1002", "String result too large");
    size_t padn = want > len ? (size_t)(want - len) : 0, pcl = cp_len(pc, pn);
    sbuf b = {0};
    if (w > 0)
        sb_put(&b, s, n);
    for (size_t i = 0; i < padn; i++) {
        size_t k = i % pcl, o0 = cp_off(pc, pn, k), o1 = cp_off(pc, pn, k + 1);
        sb_put(&b, pc + o0, o1 - o0);
    }
    if (w <= 0)
        sb_put(&b, s, n);
    return sb_done(c, &b, out);
}

/* ---- regex glue (engine below) ---------------------------------------- */

typedef struct rxmatch {
    size_t start, end;
    size_t groups[20]; /* start/end pairs of groups 1..10; SIZE_MAX when unset */
    int ngroups;
} rxmatch;
static int regex_search(ectx *c, const rx *r, const char *s, size_t n, size_t from, rxmatch *m);

static const rx *arg_regex(val *v)
{
    if (v->fn && v->fn->rxn)
        return v->fn->rxn->re;
    return NULL;
}

static int bi_contains(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *t;
    size_t n, tn;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (r) {
        rxmatch m;
        int rc = regex_search(c, r, s, n, 0, &m);
        if (rc < 0)
            return -1;
        out->j = json_boolean(rc);
        return 0;
    }
    if (opt_str(c, a, nargs, 1, &t, &tn) < 0)
        return -1;
    if (t == NULL)
        return sig_err(c, 1);
    out->j = json_boolean(memfind(s, n, t, tn) != NULL);
    return 0;
}

static int bi_split(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *t = NULL;
    size_t n, tn = 0;
    double lim = -1;
    int hl;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r && (opt_str(c, a, nargs, 1, &t, &tn) < 0 || t == NULL))
        return c->failed ? -1 : sig_err(c, 1);
    if (opt_num(c, a, nargs, 2, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return fail(c, "D3020", "Third argument of split function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    json_t *arr = json_array();
    if (arr == NULL)
        return oom(c);
    size_t pos = 0;
    int rc = 0;
    while (rc == 0 && (!hl || json_array_size(arr) < (size_t)lim)) {
        size_t ms, me;
        if (r) {
            rxmatch m;
            int f = regex_search(c, r, s, n, pos, &m);
            if (f < 0) {
                rc = -1;
                break;
            }
            if (!f)
                break;
            ms = m.start;
            me = m.end;
            if (me == ms) { /* empty match: split per character */
                if (ms >= n)
                    break;
                me = ms = ms == pos ? cp_off(s + pos, n - pos, 1) + pos : ms;
                if (ms == pos) break;
            }
        } else if (tn == 0) {
            if (pos >= n)
                break;
            ms = me = pos + cp_off(s + pos, n - pos, 1);
            json_t *x = json_stringn_nocheck(s + pos, ms - pos);
            rc = x && json_array_append_new(arr, x) == 0 ? 0 : oom(c);
            pos = me;
            continue;
        } else {
            const char *p = memfind(s + pos, n - pos, t, tn);
            if (p == NULL)
                break;
            ms = (size_t)(p - s);
            me = ms + tn;
        }
        json_t *x = json_stringn_nocheck(s + pos, ms - pos);
        rc = x && json_array_append_new(arr, x) == 0 ? 0 : oom(c);
        pos = me;
        if (json_array_size(arr) > MAX_ITEMS)
            rc = fail(c, "U1003", "Array result too large");
    }
    if (rc == 0 && !(tn == 0 && !r) && (!hl || json_array_size(arr) < (size_t)lim)) {
        json_t *x = json_stringn_nocheck(s + pos, n - pos);
        rc = x && json_array_append_new(arr, x) == 0 ? 0 : oom(c);
    }
    if (rc < 0) {
        json_decref(arr);
        return -1;
    }
    out->j = arr;
    return 0;
}

static int bi_join(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *sep;
    size_t sn;
    if (!defined(A(0)))
        return 0;
    if (opt_str(c, a, nargs, 1, &sep, &sn) < 0)
        return -1;
    json_t *arr = as_array(A(0));
    if (arr == NULL)
        return oom(c);
    sbuf b = {0};
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_string(x)) {
            json_decref(arr);
            free(b.p);
            return fail(c, "T0412", "Argument 1 of function \"join\" must be an array of \"strings\"");
        }
        if (i && sep)
            sb_put(&b, sep, sn);
        sb_put(&b, json_string_value(x), json_string_length(x));
    }
    json_decref(arr);
    return sb_done(c, &b, out);
}

static int bi_replace(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *pat = NULL, *rep;
    size_t n, pn = 0, rn;
    double lim;
    int hl;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r) {
        if (opt_str(c, a, nargs, 1, &pat, &pn) < 0 || pat == NULL)
            return c->failed ? -1 : sig_err(c, 1);
        if (pn == 0)
            return fail(c, "D3010", "Second argument of replace function cannot be an empty string");
    }
    if (opt_str(c, a, nargs, 2, &rep, &rn) < 0)
        return -1;
    if (rep == NULL)
        return sig_err(c, 2);
    if (opt_num(c, a, nargs, 3, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return fail(c, "D3011", "Fourth argument of replace function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    sbuf b = {0};
    size_t pos = 0, count = 0;
    while (pos <= n && (!hl || count < (size_t)lim)) {
        rxmatch m;
        if (r) {
            int f = regex_search(c, r, s, n, pos, &m);
            if (f < 0) {
                free(b.p);
                return -1;
            }
            if (!f)
                break;
            if (m.end == m.start) {
                if (m.start >= n && count > 0)
                    break;
                free(b.p);
                return fail(c, "D1004", "Regular expression matches zero length string");
            }
        } else {
            const char *p = memfind(s + pos, n - pos, pat, pn);
            if (p == NULL)
                break;
            m.start = (size_t)(p - s);
            m.end = m.start + pn;
            m.ngroups = 0;
        }
        sb_put(&b, s + pos, m.start - pos);
        if (r) { /* $0, $1.. in the replacement */
            for (size_t i = 0; i < rn; i++) {
                if (rep[i] == '$' && i + 1 < rn && rep[i + 1] == '$') {
                    sb_put(&b, "$", 1);
                    i++;
                } else if (rep[i] == '$' && i + 1 < rn && isdigit((unsigned char)rep[i + 1])) {
                    int g = rep[i + 1] - '0';
                    i++;
                    if (g == 0)
                        sb_put(&b, s + m.start, m.end - m.start);
                    else if (g <= m.ngroups && m.groups[2 * (g - 1)] != (size_t)-1)
                        sb_put(&b, s + m.groups[2 * (g - 1)], m.groups[2 * (g - 1) + 1] - m.groups[2 * (g - 1)]);
                } else
                    sb_put(&b, rep + i, 1);
            }
        } else
            sb_put(&b, rep, rn);
        pos = m.end;
        count++;
    }
    if (pos < n)
        sb_put(&b, s + pos, n - pos);
    return sb_done(c, &b, out);
}

static int bi_match(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double lim;
    int hl;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r)
        return sig_err(c, 1);
    if (opt_num(c, a, nargs, 2, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return fail(c, "D3040", "Third argument of match function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    if (seq_init(c, out) < 0)
        return -1;
    size_t pos = 0;
    while (pos <= n && (!hl || json_array_size(out->j) < (size_t)lim)) {
        rxmatch m;
        int f = regex_search(c, r, s, n, pos, &m);
        if (f < 0)
            return -1;
        if (!f)
            break;
        json_t *groups = json_array();
        for (int g = 0; groups && g < m.ngroups; g++) {
            size_t g0 = m.groups[2 * g], g1 = m.groups[2 * g + 1];
            json_array_append_new(groups, g0 == (size_t)-1 ? json_string("") : json_stringn_nocheck(s + g0, g1 - g0));
        }
        json_t *o = json_pack("{s:s%,s:I,s:o}", "match", s + m.start, m.end - m.start, "index",
                              (json_int_t)cp_len(s, m.start), "groups", groups);
        if (o == NULL || json_array_append_new(out->j, o) < 0)
            return oom(c);
        pos = m.end > m.start ? m.end : m.end + 1;
    }
    return 0;
}

/* ---- objects and arrays ---------------------------------------------- */

static int bi_keys(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    val *v = A(0);
    if (!json_is_object(v->j) && !json_is_array(v->j))
        return 0;
    if (seq_init(c, out) < 0)
        return -1;
    json_t *seen = json_object();
    if (seen == NULL)
        return oom(c);
    size_t n = json_is_array(v->j) ? json_array_size(v->j) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_is_array(v->j) ? json_array_get(v->j, i) : v->j;
        if (!json_is_object(o))
            continue;
        const char *k;
        json_t *x;
        json_object_foreach(o, k, x) {
            if (json_object_get(seen, k))
                continue;
            json_object_set_new(seen, k, json_true());
            json_t *ks = json_string(k);
            if (ks == NULL || json_array_append_new(out->j, ks) < 0) {
                json_decref(seen);
                return oom(c);
            }
        }
    }
    json_decref(seen);
    return 0;
}

static int bi_lookup(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *k;
    size_t kn;
    if (opt_str(c, a, nargs, 1, &k, &kn) < 0)
        return -1;
    if (k == NULL)
        return sig_err(c, 1);
    if (!defined(A(0)))
        return 0;
    return lookup_name(c, A(0)->j, k, out);
}

static int bi_merge(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    json_t *arr = as_array(A(0)), *o = json_object();
    if (arr == NULL || o == NULL) {
        json_decref(arr);
        json_decref(o);
        return oom(c);
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_object(x)) {
            json_decref(arr);
            json_decref(o);
            return fail(c, "T0412", "Argument 1 of function \"merge\" must be an array of \"objects\"");
        }
        json_object_update(o, x);
    }
    json_decref(arr);
    out->j = o;
    return 0;
}

static int bi_append(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(1))) {
        *out = vcopy(A(0));
        out->seq = out->cons = out->keep = 0;
        return 0;
    }
    if (!defined(A(0))) {
        *out = vcopy(A(1));
        out->seq = out->cons = out->keep = 0;
        return 0;
    }
    json_t *x = as_array(A(0)), *y = as_array(A(1)), *r = json_array();
    int rc = x && y && r ? 0 : oom(c);
    if (rc == 0 && json_array_size(x) + json_array_size(y) > MAX_ITEMS)
        rc = fail(c, "U1003", "Array result too large");
    if (rc == 0 && (json_array_extend(r, x) < 0 || json_array_extend(r, y) < 0))
        rc = oom(c);
    json_decref(x);
    json_decref(y);
    if (rc < 0) {
        json_decref(r);
        return -1;
    }
    out->j = r;
    return 0;
}

static int bi_reverse(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    json_t *x = as_array(A(0)), *r = json_array();
    if (x == NULL || r == NULL) {
        json_decref(x);
        json_decref(r);
        return oom(c);
    }
    for (size_t i = json_array_size(x); i > 0; i--)
        json_array_append(r, json_array_get(x, i - 1));
    json_decref(x);
    out->j = r;
    return 0;
}

static int bi_distinct(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    if (!json_is_array(A(0)->j)) {
        *out = vcopy(A(0));
        return 0;
    }
    json_t *x = A(0)->j, *r = json_array();
    if (r == NULL)
        return oom(c);
    for (size_t i = 0; i < json_array_size(x); i++) {
        json_t *e = json_array_get(x, i);
        int dup = 0;
        for (size_t k = 0; k < json_array_size(r) && !dup; k++)
            dup = deep_eq(e, json_array_get(r, k));
        if (!dup && json_array_append(r, e) < 0) {
            json_decref(r);
            return oom(c);
        }
        if ((i & 1023) == 0 && ++c->steps > MAX_STEPS) {
            json_decref(r);
            return fail(c, "U1004", "Evaluation exceeded its step budget");
        }
    }
    out->j = r;
    return 0;
}

/* merge sort; swap(a, b) true when a must come after b */
static int sort_cmp(ectx *c, fnval *f, json_t *x, json_t *y, int *after)
{
    if (f == NULL) {
        if (is_number(x))
            *after = numv(x) > numv(y);
        else {
            size_t a = json_string_length(x), b = json_string_length(y);
            int m = memcmp(json_string_value(x), json_string_value(y), a < b ? a : b);
            *after = m > 0 || (m == 0 && a > b);
        }
        return 0;
    }
    val args[2] = {{x, NULL, 0, 0, 0, 0}, {y, NULL, 0, 0, 0, 0}}, r;
    if (call_fn(c, f, args, 2, NULL, &r) < 0)
        return -1;
    *after = truthy(&r);
    vfree(&r);
    return 0;
}

static int msort(ectx *c, fnval *f, json_t **v, json_t **tmp, size_t n)
{
    if (n < 2)
        return 0;
    size_t h = n / 2;
    if (msort(c, f, v, tmp, h) < 0 || msort(c, f, v + h, tmp, n - h) < 0)
        return -1;
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        int after;
        if (sort_cmp(c, f, v[i], v[j], &after) < 0)
            return -1;
        tmp[k++] = after ? v[j++] : v[i++];
    }
    while (i < h)
        tmp[k++] = v[i++];
    while (j < n)
        tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
    return 0;
}

static int bi_sort(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    fnval *f = NULL;
    if (defined(A(1))) {
        if (!A(1)->fn)
            return sig_err(c, 1);
        f = A(1)->fn;
    }
    json_t *x = as_array(A(0));
    if (x == NULL)
        return oom(c);
    size_t n = json_array_size(x);
    if (f == NULL && n > 1) {
        int nums = 1, strs = 1;
        for (size_t i = 0; i < n; i++) {
            nums &= is_number(json_array_get(x, i));
            strs &= json_is_string(json_array_get(x, i));
        }
        if (!nums && !strs) {
            json_decref(x);
            return fail(c, "D3070", "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function");
        }
    }
    json_t **v = malloc((n ? n : 1) * sizeof *v), **tmp = malloc((n ? n : 1) * sizeof *tmp);
    int rc = v && tmp ? 0 : oom(c);
    for (size_t i = 0; i < n && rc == 0; i++)
        v[i] = json_array_get(x, i);
    if (rc == 0)
        rc = msort(c, f, v, tmp, n);
    json_t *r = rc == 0 ? json_array() : NULL;
    if (rc == 0 && r == NULL)
        rc = oom(c);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (json_array_append(r, v[i]) < 0)
            rc = oom(c);
    free(v);
    free(tmp);
    json_decref(x);
    if (rc < 0) {
        json_decref(r);
        return -1;
    }
    out->j = r;
    return 0;
}

static int bi_shuffle(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    json_t *x = as_array(A(0)), *r = x ? json_copy(x) : NULL;
    json_decref(x);
    if (r == NULL)
        return oom(c);
    size_t n = json_array_size(r);
    if (n > 1 && (c->scope == NULL || c->scope->rng == NULL)) {
        json_decref(r);
        return fail(c, "U1006", "No random source");
    }
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)(asl_rng_next(c->scope->rng) % i);
        json_t *t = json_incref(json_array_get(r, i - 1));
        json_array_set(r, i - 1, json_array_get(r, k));
        json_array_set_new(r, k, t);
    }
    out->j = r;
    return 0;
}

/* ---- numbers --------------------------------------------------------- */

static int num1(ectx *c, val *a, size_t nargs, double *d, int *has)
{
    return opt_num(c, a, nargs, 0, d, has);
}

/* $abs, $floor, $ceil: one number in, f of it out (undefined stays so) */
static int unary_math(ectx *c, val *a, size_t n, val *out, double (*f)(double))
{
    double d;
    int h;
    if (num1(c, a, n, &d, &h) < 0 || !h)
        return c->failed ? -1 : 0;
    return mknum(c, f(d), out);
}
static int bi_abs(ectx *c, val *a, size_t n, json_t *in, val *out)
{
    (void)in;
    return unary_math(c, a, n, out, fabs);
}
static int bi_floor(ectx *c, val *a, size_t n, json_t *in, val *out)
{
    (void)in;
    return unary_math(c, a, n, out, floor);
}
static int bi_ceil(ectx *c, val *a, size_t n, json_t *in, val *out)
{
    (void)in;
    return unary_math(c, a, n, out, ceil);
}
static int bi_sqrt(ectx *c, val *a, size_t n, json_t *in, val *out)
{
    (void)in;
    double d;
    int h;
    if (num1(c, a, n, &d, &h) < 0 || !h)
        return c->failed ? -1 : 0;
    if (d < 0) {
        char t[40];
        fmt_js_number(d, t, sizeof t);
        return fail(c, "D3060", "The sqrt function cannot be applied to a negative number: %s", t);
    }
    return mknum(c, sqrt(d), out);
}
static int bi_power(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double x, y;
    int hx, hy;
    if (opt_num(c, a, nargs, 0, &x, &hx) < 0 || opt_num(c, a, nargs, 1, &y, &hy) < 0)
        return -1;
    if (!hx)
        return 0;
    if (!hy)
        return sig_err(c, 1);
    double r = pow(x, y);
    if (!isfinite(r)) {
        char t1[40], t2[40];
        fmt_js_number(x, t1, sizeof t1);
        fmt_js_number(y, t2, sizeof t2);
        return fail(c, "D3061", "The power function has resulted in a value that cannot be represented as a JSON number: base=%s, exponent=%s", t1, t2);
    }
    return mknum(c, r, out);
}
static int bi_round(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double x, p = 0;
    int hx, hp;
    if (opt_num(c, a, nargs, 0, &x, &hx) < 0 || opt_num(c, a, nargs, 1, &p, &hp) < 0)
        return -1;
    if (!hx)
        return 0;
    /* round half to even at 10^-p, on the decimal text as jsonata does */
    double scale = pow(10, trunc(p));
    double v = x * scale;
    if (!isfinite(v))
        return mknum(c, x, out);
    double r = round(v);
    if (fabs(v - trunc(v)) == 0.5 && fmod(r, 2) != 0)
        r -= copysign(1, v);
    return mknum(c, r / scale, out);
}

static int bi_random(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    asl_rng local, *r;
    if (defined(A(0))) {
        /* Step Functions' seeded form: same seed, same number */
        if (!is_number(A(0)->j))
            return sig_err(c, 0);
        double s = numv(A(0)->j);
        uint64_t bits;
        memcpy(&bits, &s, sizeof bits); /* any double is a valid seed */
        local.s = bits ^ 0x9e3779b97f4a7c15ULL;
        r = &local;
    } else if (c->scope && c->scope->rng)
        r = c->scope->rng;
    else
        return fail(c, "U1006", "No random source");
    return mknum(c, asl_rng_double(r), out);
}

/* ---- time (from $states.context, never the clock) -------------------- */

static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* ISO-8601 "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm]" -> ms since the epoch */
static int parse_iso(const char *s, double *ms)
{
    int y, mo, d, h = 0, mi = 0, n = 0;
    double sec = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    s += n;
    if (*s == 'T' || *s == ' ') {
        int k = 0;
        if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &k) != 2 || k != 5)
            return -1;
        s += 1 + k;
        if (*s == ':') {
            char *e;
            sec = strtod(s + 1, &e);
            if (e == s + 1)
                return -1;
            s = e;
        }
    }
    double off = 0;
    if (*s == 'Z')
        s++;
    else if (*s == '+' || *s == '-') {
        int oh, om = 0, k = 0;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &k) < 1)
            return -1;
        off = (oh * 60 + om) * (*s == '-' ? -1.0 : 1.0);
        s += 1 + (k ? k : 2);
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec >= 61)
        return -1;
    double days = (double)days_from_civil(y, (unsigned)mo, (unsigned)d);
    *ms = ((days * 24 + h) * 60 + mi - off) * 60000.0 + floor(sec * 1000 + 0.5);
    return 0;
}

static void fmt_iso(double ms, char *out, size_t n)
{
    long long t = (long long)floor(ms), msec = ((t % 1000) + 1000) % 1000;
    long long secs = (t - msec) / 1000;
    long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    long long rem = secs - days * 86400;
    /* civil_from_days */
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = (long long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    snprintf(out, n, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ", y, m, d, rem / 3600, rem / 60 % 60,
             rem % 60, msec);
}

static double now_ms(ectx *c)
{
    json_t *ctx = json_object_get(c->states, "context");
    const char *t = json_string_value(json_object_get(json_object_get(ctx, "State"), "EnteredTime"));
    if (t == NULL)
        t = json_string_value(json_object_get(json_object_get(ctx, "Execution"), "StartTime"));
    double ms;
    if (t && parse_iso(t, &ms) == 0)
        return ms;
    return 0;
}

static int bi_now(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)a; (void)nargs; (void)in;
    char b[40];
    fmt_iso(now_ms(c), b, sizeof b);
    return mkstr(c, b, strlen(b), out);
}

static int bi_millis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)a; (void)nargs; (void)in;
    return mknum(c, now_ms(c), out);
}

static int bi_toMillis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double ms;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    if (parse_iso(s, &ms) < 0)
        return fail(c, "D3110", "The argument of the toMillis function must be an ISO 8601 formatted timestamp. Given \"%.100s\"", s);
    return mknum(c, ms, out);
}

static int bi_fromMillis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double ms;
    int h;
    if (opt_num(c, a, nargs, 0, &ms, &h) < 0 || !h)
        return c->failed ? -1 : 0;
    if (fabs(ms) > 8.64e15)
        return fail(c, "D3132", "Number out of range");
    char b[48];
    fmt_iso(ms, b, sizeof b);
    return mkstr(c, b, strlen(b), out);
}

static int bi_type(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    const char *t = A(0)->fn ? "function" : asl_jsonata_type_name(A(0)->j);
    return mkstr(c, t, strlen(t), out);
}

/* ---- higher-order ------------------------------------------------------ */

static int hof_call(ectx *c, fnval *f, json_t *v, json_t *idx_or_key, json_t *whole, val *r)
{
    val args[3] = {{v, NULL, 0, 0, 0, 0}, {idx_or_key, NULL, 0, 0, 0, 0}, {whole, NULL, 0, 0, 0, 0}};
    int ar = fn_arity(f);
    return call_fn(c, f, args, (size_t)(ar < 1 ? 1 : ar > 3 ? 3 : ar), NULL, r);
}

static int bi_map_filter(ectx *c, val *a, size_t nargs, val *out, int is_filter)
{
    if (!defined(A(0)))
        return 0;
    if (!A(1)->fn)
        return sig_err(c, 1);
    json_t *x = as_array(A(0));
    if (x == NULL || seq_init(c, out) < 0) {
        json_decref(x);
        return oom(c);
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(x) && rc == 0; i++) {
        json_t *idx = json_integer((json_int_t)i);
        val r;
        rc = idx ? hof_call(c, A(1)->fn, json_array_get(x, i), idx, x, &r) : oom(c);
        json_decref(idx);
        if (rc < 0)
            break;
        if (is_filter) {
            if (truthy(&r))
                rc = arr_push(c, out->j, json_array_get(x, i));
        } else if (r.j)
            rc = arr_push(c, out->j, r.j);
        vfree(&r);
    }
    json_decref(x);
    return rc;
}
static int bi_map(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_map_filter(c, a, n, out, 0); }
static int bi_filter(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_map_filter(c, a, n, out, 1); }

static int bi_each(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    if (!json_is_object(A(0)->j))
        return sig_err(c, 0);
    if (!A(1)->fn)
        return sig_err(c, 1);
    if (seq_init(c, out) < 0)
        return -1;
    const char *k;
    json_t *x;
    json_object_foreach(A(0)->j, k, x) {
        json_t *ks = json_string(k);
        val r;
        int rc = ks ? hof_call(c, A(1)->fn, x, ks, A(0)->j, &r) : oom(c);
        json_decref(ks);
        if (rc == 0 && r.j)
            rc = arr_push(c, out->j, r.j);
        vfree(&r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int bi_sift(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    if (!json_is_object(A(0)->j))
        return sig_err(c, 0);
    if (!A(1)->fn)
        return sig_err(c, 1);
    json_t *o = json_object();
    if (o == NULL)
        return oom(c);
    const char *k;
    json_t *x;
    json_object_foreach(A(0)->j, k, x) {
        json_t *ks = json_string(k);
        val r;
        int rc = ks ? hof_call(c, A(1)->fn, x, ks, A(0)->j, &r) : oom(c);
        json_decref(ks);
        if (rc == 0 && truthy(&r))
            json_object_set(o, k, x);
        vfree(&r);
        if (rc < 0) {
            json_decref(o);
            return -1;
        }
    }
    if (json_object_size(o) == 0) {
        json_decref(o);
        return 0;
    }
    out->j = o;
    return 0;
}

static int bi_reduce(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!defined(A(0)))
        return 0;
    if (!A(1)->fn)
        return sig_err(c, 1);
    if (fn_arity(A(1)->fn) < 2 && A(1)->fn->lambda)
        return fail(c, "D3050", "The second argument of reduce function must be a function with at least two arguments");
    json_t *x = as_array(A(0));
    if (x == NULL)
        return oom(c);
    size_t i = 0;
    val acc = UNDEF;
    if (defined(A(2)))
        acc = vcopy(A(2));
    else if (json_array_size(x) > 0)
        acc.j = json_incref(json_array_get(x, i++));
    for (; i < json_array_size(x); i++) {
        json_t *idx = json_integer((json_int_t)i);
        val args[4] = {acc, {json_array_get(x, i), NULL, 0, 0, 0, 0}, {idx, NULL, 0, 0, 0, 0}, {x, NULL, 0, 0, 0, 0}}, r;
        int ar = fn_arity(A(1)->fn);
        int rc = call_fn(c, A(1)->fn, args, (size_t)(ar < 2 ? 2 : ar > 4 ? 4 : ar), NULL, &r);
        json_decref(idx);
        vfree(&acc);
        if (rc < 0) {
            json_decref(x);
            return -1;
        }
        acc = r;
    }
    json_decref(x);
    *out = acc;
    return 0;
}

static int bi_error(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in; (void)out;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    return fail(c, "D3137", "%s", s ? s : "$error() function evaluated");
}

static int bi_assert(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in; (void)out;
    const char *s;
    size_t n;
    if (!json_is_boolean(A(0)->j))
        return sig_err(c, 0);
    if (opt_str(c, a, nargs, 1, &s, &n) < 0)
        return -1;
    if (json_is_true(A(0)->j))
        return 0;
    return fail(c, "D3141", "%s", s ? s : "$assert() statement failed");
}

/* ---- base64 -------------------------------------------------------------- */

static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int bi_base64encode(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    sbuf b = {0};
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)(unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        char q[4] = {b64c[v >> 18 & 63], b64c[v >> 12 & 63], i + 1 < n ? b64c[v >> 6 & 63] : '=',
                     i + 2 < n ? b64c[v & 63] : '='};
        sb_put(&b, q, 4);
    }
    return sb_done(c, &b, out);
}

static int bi_base64decode(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    sbuf b = {0};
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = s[i] ? strchr(b64c, s[i]) : NULL;
        if (p == NULL)
            continue;
        acc = acc << 6 | (uint32_t)(p - b64c);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)(acc >> bits & 0xff);
            sb_put(&b, &ch, 1);
        }
    }
    return sb_done(c, &b, out);
}

/* ---- Step Functions additions ------------------------------------------ */

static int bi_partition(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double sz;
    int h;
    if (!defined(A(0)))
        return 0;
    if (opt_num(c, a, nargs, 1, &sz, &h) < 0)
        return -1;
    if (!h || sz < 1 || sz != floor(sz))
        return fail(c, "T0410", "Argument 2 of function \"partition\" must be a positive integer");
    json_t *x = as_array(A(0)), *r = json_array();
    if (x == NULL || r == NULL) {
        json_decref(x);
        json_decref(r);
        return oom(c);
    }
    size_t n = json_array_size(x), k = sz > (double)n ? n : (size_t)sz;
    for (size_t i = 0; i < n; i += k) {
        json_t *chunk = json_array();
        for (size_t j = i; chunk && j < i + k && j < n; j++)
            json_array_append(chunk, json_array_get(x, j));
        if (chunk == NULL || json_array_append_new(r, chunk) < 0) {
            json_decref(x);
            json_decref(r);
            return oom(c);
        }
    }
    json_decref(x);
    out->j = r;
    return 0;
}

static int bi_range(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double s, e, st = 1;
    int hs, he, hst;
    if (opt_num(c, a, nargs, 0, &s, &hs) < 0 || opt_num(c, a, nargs, 1, &e, &he) < 0 ||
        opt_num(c, a, nargs, 2, &st, &hst) < 0)
        return -1;
    if (!hs || !he)
        return 0;
    if (!hst)
        st = 1;
    if (st == 0)
        return fail(c, "T0410", "Argument 3 of function \"range\" must not be zero");
    double cnt = floor((e - s) / st) + 1;
    if (cnt > MAX_ITEMS)
        return fail(c, "U1003", "Array result too large");
    if (seq_init(c, out) < 0)
        return -1;
    for (double i = 0; i < cnt; i++) {
        json_t *x = num_new(s + i * st);
        if (x == NULL || json_array_append_new(out->j, x) < 0)
            return oom(c);
    }
    return 0;
}


static int bi_hash(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *alg;
    size_t n, an;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || opt_str(c, a, nargs, 1, &alg, &an) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (alg == NULL)
        return sig_err(c, 1);
    char hex[129];
    if (asl__hash_hex(alg, (const unsigned char *)s, n, hex) == 0)
        return fail(c, "T0410", "Argument 2 of function \"hash\" must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512");
    return mkstr(c, hex, strlen(hex), out);
}

static int bi_uuid(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)a; (void)nargs; (void)in;
    if (c->scope == NULL || c->scope->rng == NULL)
        return fail(c, "U1006", "No random source");
    unsigned char b[16];
    uint64_t x = asl_rng_next(c->scope->rng), y = asl_rng_next(c->scope->rng);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(x >> (8 * i));
        b[8 + i] = (unsigned char)(y >> (8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char s[37];
    snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return mkstr(c, s, 36, out);
}

static int bi_parse(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    if (opt_str(c, a, nargs, 0, &s, &n) < 0 || s == NULL)
        return c->failed ? -1 : 0;
    char e[160];
    out->j = asl_json_parse(s, n, e, sizeof e);
    if (out->j == NULL)
        return fail(c, "D3140", "Unable to parse the JSON string: %s", e);
    return 0;
}

typedef struct bdef {
    const char *name;
    builtin_fn fn;
    int ctxarg; /* called with ctxarg-1 args: the context becomes argument 1 */
} bdef;

static const bdef builtins[] = {
    {"sum", bi_sum, 0}, {"count", bi_count, 0}, {"max", bi_max, 0}, {"min", bi_min, 0},
    {"average", bi_average, 0}, {"string", bi_string, 1}, {"number", bi_number, 1},
    {"boolean", bi_boolean, 1}, {"not", bi_not, 1}, {"exists", bi_exists, 0},
    {"length", bi_length, 1}, {"substring", bi_substring, 0},
    {"substringBefore", bi_substringBefore, 2}, {"substringAfter", bi_substringAfter, 2},
    {"uppercase", bi_uppercase, 1}, {"lowercase", bi_lowercase, 1}, {"trim", bi_trim, 1},
    {"pad", bi_pad, 0}, {"contains", bi_contains, 2}, {"split", bi_split, 0}, {"join", bi_join, 0},
    {"replace", bi_replace, 0}, {"match", bi_match, 0}, {"keys", bi_keys, 0},
    {"lookup", bi_lookup, 0}, {"merge", bi_merge, 0}, {"append", bi_append, 0},
    {"reverse", bi_reverse, 0}, {"sort", bi_sort, 0}, {"distinct", bi_distinct, 0},
    {"shuffle", bi_shuffle, 0}, {"abs", bi_abs, 1}, {"floor", bi_floor, 1}, {"ceil", bi_ceil, 1},
    {"round", bi_round, 0}, {"power", bi_power, 0}, {"sqrt", bi_sqrt, 1},
    {"random", bi_random, 0}, {"now", bi_now, 0}, {"millis", bi_millis, 0},
    {"toMillis", bi_toMillis, 1}, {"fromMillis", bi_fromMillis, 1}, {"type", bi_type, 0},
    {"map", bi_map, 0}, {"filter", bi_filter, 0}, {"each", bi_each, 0}, {"sift", bi_sift, 0},
    {"reduce", bi_reduce, 0}, {"error", bi_error, 0}, {"assert", bi_assert, 0},
    {"base64encode", bi_base64encode, 1}, {"base64decode", bi_base64decode, 1},
    {"partition", bi_partition, 0}, {"range", bi_range, 0}, {"hash", bi_hash, 0},
    {"uuid", bi_uuid, 0}, {"parse", bi_parse, 0},
};

static int bi_dispatch(ectx *c, const struct bdef *d, val *a, size_t nargs, json_t *in, val *out)
{
    c->fname = d->name;
    if (d->ctxarg && nargs + 1 == (size_t)d->ctxarg) {
        val *b = calloc(nargs + 1, sizeof *b);
        if (b == NULL)
            return oom(c);
        b[0].j = in;
        for (size_t i = 0; i < nargs; i++)
            b[i + 1] = a[i];
        int rc = d->fn(c, b, nargs + 1, in, out);
        free(b);
        return rc;
    }
    return d->fn(c, a, nargs, in, out);
}

static int builtin_lookup(ectx *c, const char *name, val *out)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (strcmp(builtins[i].name, name) == 0) {
            fnval *f = fn_new(c);
            if (f == NULL)
                return -1;
            f->bdef = &builtins[i];
            out->fn = f;
            return 0;
        }
    return 0;
}

/* ======================================================================
 * Regular expressions: a small backtracking engine for the JavaScript
 * syntax jsonata passes through (classes, groups, alternation, greedy and
 * lazy quantifiers, anchors, \d \w \s \b, flags i and m). Bytes, except that
 * '.' and negated classes consume a whole UTF-8 character.
 * ==================================================================== */

enum { R_CHAR, R_ANY, R_CLASS, R_BOL, R_EOL, R_WORDB, R_NWORDB, R_GROUP, R_REPEAT };

typedef struct rnode {
    int kind;
    unsigned char ch;          /* R_CHAR */
    unsigned char set[32];     /* R_CLASS: bitmap of bytes */
    int negate;                /* R_CLASS: negated (matches any non-ASCII char too) */
    struct rnode **alts;       /* R_GROUP: alternatives (each a sequence) */
    size_t nalts;
    int cap;                   /* R_GROUP: capture index (1-based) or 0 */
    struct rnode *sub;         /* R_REPEAT: the repeated atom */
    int min, max, greedy;      /* R_REPEAT; max < 0 = unbounded */
    struct rnode *next;
} rnode;

struct rx {
    rnode *root; /* a R_GROUP (capture 0) */
    int ngroups;
    int icase, multiline;
};

static void rnode_free(rnode *n)
{
    while (n) {
        rnode *nx = n->next;
        for (size_t i = 0; i < n->nalts; i++)
            rnode_free(n->alts[i]);
        free(n->alts);
        rnode_free(n->sub);
        free(n);
        n = nx;
    }
}

static void regex_free(rx *r)
{
    if (r == NULL)
        return;
    rnode_free(r->root);
    free(r);
}

typedef struct rparse {
    const char *s;
    size_t n, i;
    int ngroups, depth;
    const char *err;
} rparse;

static void set_bit(unsigned char *set, int c) { set[c >> 3] |= (unsigned char)(1 << (c & 7)); }

static void set_class(unsigned char *set, char k)
{
    for (int c = 0; c < 128; c++) {
        int in = (k == 'd' || k == 'D') ? isdigit(c)
                 : (k == 'w' || k == 'W') ? (isalnum(c) || c == '_')
                                          : (c == ' ' || (c >= 9 && c <= 13));
        if (isupper((unsigned char)k))
            in = !in;
        if (in)
            set_bit(set, c);
    }
    if (isupper((unsigned char)k))
        for (int c = 128; c < 256; c++)
            set_bit(set, c);
}

static int esc_char(char e)
{
    switch (e) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'f': return '\f';
    case 'v': return '\v';
    case '0': return 0;
    }
    return (unsigned char)e;
}

static rnode *rx_alt(rparse *p);

static rnode *rx_atom(rparse *p)
{
    rnode *a = calloc(1, sizeof *a);
    if (a == NULL) {
        p->err = "out of memory";
        return NULL;
    }
    char ch = p->s[p->i++];
    switch (ch) {
    case '.':
        a->kind = R_ANY;
        break;
    case '^':
        a->kind = R_BOL;
        break;
    case '$':
        a->kind = R_EOL;
        break;
    case '(': {
        a->kind = R_GROUP;
        if (p->i + 1 < p->n && p->s[p->i] == '?' && p->s[p->i + 1] == ':')
            p->i += 2;
        else if (p->i < p->n && p->s[p->i] == '?') {
            p->err = "lookaround is not supported";
            free(a);
            return NULL;
        } else
            a->cap = ++p->ngroups;
        rnode *g = rx_alt(p);
        if (g == NULL) {
            free(a);
            return NULL;
        }
        /* rx_alt returns a group node holding the alternatives */
        a->alts = g->alts;
        a->nalts = g->nalts;
        g->alts = NULL;
        g->nalts = 0;
        rnode_free(g);
        if (p->i >= p->n || p->s[p->i] != ')') {
            p->err = "unterminated group";
            rnode_free(a);
            return NULL;
        }
        p->i++;
        break;
    }
    case '[': {
        a->kind = R_CLASS;
        if (p->i < p->n && p->s[p->i] == '^') {
            a->negate = 1;
            p->i++;
        }
        int first = 1;
        while (p->i < p->n && (p->s[p->i] != ']' || (first && 0))) {
            first = 0;
            int lo = (unsigned char)p->s[p->i++];
            if (lo == '\\' && p->i < p->n) {
                char e = p->s[p->i++];
                if (strchr("dDwWsS", e)) {
                    set_class(a->set, e);
                    continue;
                }
                lo = esc_char(e);
            }
            int hi = lo;
            if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
                p->i++;
                hi = (unsigned char)p->s[p->i++];
                if (hi == '\\' && p->i < p->n)
                    hi = esc_char(p->s[p->i++]);
                if (hi < lo) {
                    p->err = "range out of order in character class";
                    free(a);
                    return NULL;
                }
            }
            for (int c = lo; c <= hi; c++)
                set_bit(a->set, c);
        }
        if (p->i >= p->n) {
            p->err = "unterminated character class";
            free(a);
            return NULL;
        }
        p->i++;
        break;
    }
    case '\\': {
        if (p->i >= p->n) {
            p->err = "\\ at end of pattern";
            free(a);
            return NULL;
        }
        char e = p->s[p->i++];
        if (strchr("dDwWsS", e)) {
            a->kind = R_CLASS;
            set_class(a->set, e);
        } else if (e == 'b')
            a->kind = R_WORDB;
        else if (e == 'B')
            a->kind = R_NWORDB;
        else {
            a->kind = R_CHAR;
            a->ch = (unsigned char)esc_char(e);
        }
        break;
    }
    case '*': case '+': case '?': case '{':
        if (ch != '{') {
            p->err = "nothing to repeat";
            free(a);
            return NULL;
        }
        a->kind = R_CHAR; /* a lone '{' is literal */
        a->ch = (unsigned char)ch;
        break;
    default:
        a->kind = R_CHAR;
        a->ch = (unsigned char)ch;
    }
    return a;
}

static int rx_quant(rparse *p, int *min, int *max)
{
    char ch = p->s[p->i];
    if (ch == '*') { *min = 0; *max = -1; p->i++; return 1; }
    if (ch == '+') { *min = 1; *max = -1; p->i++; return 1; }
    if (ch == '?') { *min = 0; *max = 1; p->i++; return 1; }
    if (ch == '{') {
        size_t j = p->i + 1;
        int a = 0, b, digits = 0;
        while (j < p->n && isdigit((unsigned char)p->s[j]) && a < 100000) {
            a = a * 10 + p->s[j++] - '0';
            digits++;
        }
        if (!digits)
            return 0;
        b = a;
        if (j < p->n && p->s[j] == ',') {
            j++;
            if (j < p->n && isdigit((unsigned char)p->s[j])) {
                b = 0;
                while (j < p->n && isdigit((unsigned char)p->s[j]) && b < 100000)
                    b = b * 10 + p->s[j++] - '0';
            } else
                b = -1;
        }
        if (j >= p->n || p->s[j] != '}')
            return 0;
        p->i = j + 1;
        *min = a;
        *max = b;
        return 1;
    }
    return 0;
}

/* a sequence up to '|' or ')' */
static rnode *rx_seq(rparse *p)
{
    rnode *head = NULL, **tail = &head;
    while (p->i < p->n && p->s[p->i] != '|' && p->s[p->i] != ')') {
        rnode *a = rx_atom(p);
        if (a == NULL) {
            rnode_free(head);
            return NULL;
        }
        int min, max;
        while (p->i < p->n && rx_quant(p, &min, &max)) {
            if (a->kind == R_BOL || a->kind == R_EOL || a->kind == R_WORDB || a->kind == R_NWORDB ||
                (max >= 0 && max < min)) {
                p->err = "invalid quantifier";
                rnode_free(a);
                rnode_free(head);
                return NULL;
            }
            rnode *r = calloc(1, sizeof *r);
            if (r == NULL) {
                p->err = "out of memory";
                rnode_free(a);
                rnode_free(head);
                return NULL;
            }
            r->kind = R_REPEAT;
            r->sub = a;
            r->min = min;
            r->max = max;
            r->greedy = 1;
            if (p->i < p->n && p->s[p->i] == '?') {
                r->greedy = 0;
                p->i++;
            }
            a = r;
        }
        *tail = a;
        tail = &a->next;
    }
    return head;
}

static rnode *rx_alt(rparse *p)
{
    if (++p->depth > 50) {
        p->err = "pattern nested too deeply";
        return NULL;
    }
    rnode *g = calloc(1, sizeof *g);
    if (g == NULL) {
        p->err = "out of memory";
        return NULL;
    }
    g->kind = R_GROUP;
    while (1) {
        rnode *s;
        if (p->i < p->n && (p->s[p->i] == '|' || p->s[p->i] == ')'))
            s = NULL; /* empty alternative */
        else if ((s = rx_seq(p)) == NULL) {
            rnode_free(g);
            return NULL;
        }
        rnode **na = realloc(g->alts, (g->nalts + 1) * sizeof *na);
        if (na == NULL) {
            rnode_free(s);
            rnode_free(g);
            p->err = "out of memory";
            return NULL;
        }
        g->alts = na;
        g->alts[g->nalts++] = s;
        if (p->i < p->n && p->s[p->i] == '|') {
            p->i++;
            continue;
        }
        break;
    }
    p->depth--;
    return g;
}

static rx *regex_compile(const char *pat, size_t len, const char *flags, char *err, size_t errlen)
{
    rparse p = {pat, len, 0, 0, 0, NULL};
    rx *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->icase = strchr(flags, 'i') != NULL;
    r->multiline = strchr(flags, 'm') != NULL;
    r->root = rx_alt(&p);
    if (r->root && p.i < p.n) {
        p.err = "unmatched )";
    }
    if (r->root == NULL || p.err) {
        snprintf(err, errlen, "S0303: Invalid regular expression /%.*s/: %s", (int)(len > 60 ? 60 : len), pat,
                 p.err ? p.err : "syntax error");
        regex_free(r);
        return NULL;
    }
    r->ngroups = p.ngroups > 10 ? 10 : p.ngroups;
    return r;
}

/* ---- matcher ---- */

typedef struct rcont {
    int kind; /* 0: continue with node; 1: repeat */
    const rnode *node;
    int count;
    size_t start;
    int cap;
    const struct rcont *up;
} rcont;

typedef struct rstate {
    ectx *c;
    const rx *r;
    const char *s;
    size_t n;
    long steps;
    int depth;
    size_t end;
    size_t caps[22];
    int toolong;
} rstate;

static int rm(rstate *st, const rnode *nd, size_t pos, const rcont *k);

static int is_word(const rstate *st, size_t i)
{
    if (i >= st->n)
        return 0;
    unsigned char ch = (unsigned char)st->s[i];
    return isalnum(ch) || ch == '_';
}

static size_t char_len(const rstate *st, size_t pos)
{
    size_t l = 1;
    while (pos + l < st->n && ((unsigned char)st->s[pos + l] & 0xc0) == 0x80)
        l++;
    return l;
}

/* single-position atom: returns bytes consumed or 0 when no match */
static size_t atom_at(const rstate *st, const rnode *nd, size_t pos)
{
    if (pos >= st->n)
        return 0;
    unsigned char ch = (unsigned char)st->s[pos];
    switch (nd->kind) {
    case R_CHAR:
        if (ch == nd->ch || (st->r->icase && tolower(ch) == tolower(nd->ch)))
            return 1;
        return 0;
    case R_ANY:
        if (ch == '\n' || ch == '\r')
            return 0;
        return char_len(st, pos);
    case R_CLASS: {
        int in = (nd->set[ch >> 3] >> (ch & 7)) & 1;
        if (!in && st->r->icase && ch < 128) {
            int o = isupper(ch) ? tolower(ch) : toupper(ch);
            in = (nd->set[o >> 3] >> (o & 7)) & 1;
        }
        if (nd->negate)
            in = !in;
        if (!in)
            return 0;
        return ch >= 0x80 ? char_len(st, pos) : 1;
    }
    }
    return 0;
}

static int is_simple(const rnode *nd)
{
    return nd->kind == R_CHAR || nd->kind == R_ANY || nd->kind == R_CLASS;
}

static int pop(rstate *st, size_t pos, const rcont *k);

static int rep(rstate *st, const rnode *nd, int count, size_t pos, const rcont *k)
{
    if (nd->greedy) {
        if (nd->max < 0 || count < nd->max) {
            rcont c = {1, nd, count + 1, pos, 0, k};
            int r = rm(st, nd->sub, pos, &c);
            if (r)
                return r;
        }
        if (count >= nd->min)
            return rm(st, nd->next, pos, k);
        return 0;
    }
    if (count >= nd->min) {
        int r = rm(st, nd->next, pos, k);
        if (r)
            return r;
    }
    if (nd->max < 0 || count < nd->max) {
        rcont c = {1, nd, count + 1, pos, 0, k};
        return rm(st, nd->sub, pos, &c);
    }
    return 0;
}

static int pop(rstate *st, size_t pos, const rcont *k)
{
    if (k == NULL) {
        st->end = pos;
        return 1;
    }
    if (k->kind == 1) {
        if (pos == k->start && k->count > k->node->min)
            return 0; /* an empty iteration cannot make progress */
        return rep(st, k->node, k->count, pos, k->up);
    }
    size_t save = 0;
    if (k->cap) {
        save = st->caps[2 * k->cap + 1];
        st->caps[2 * k->cap + 1] = pos;
    }
    int r = rm(st, k->node, pos, k->up);
    if (!r && k->cap)
        st->caps[2 * k->cap + 1] = save;
    return r;
}

static int rm(rstate *st, const rnode *nd, size_t pos, const rcont *k)
{
    if (++st->steps > MAX_RX_STEPS || st->depth > MAX_RX_DEPTH) {
        st->toolong = 1;
        return -1;
    }
    st->depth++;
    int r = 0;
    while (nd && is_simple(nd)) { /* iterate plain atoms without recursion */
        size_t l = atom_at(st, nd, pos);
        if (l == 0)
            goto out;
        pos += l;
        nd = nd->next;
    }
    if (nd == NULL) {
        r = pop(st, pos, k);
        goto out;
    }
    switch (nd->kind) {
    case R_BOL:
        if (pos == 0 || (st->r->multiline && (st->s[pos - 1] == '\n' || st->s[pos - 1] == '\r')))
            r = rm(st, nd->next, pos, k);
        break;
    case R_EOL:
        if (pos == st->n || (st->r->multiline && (st->s[pos] == '\n' || st->s[pos] == '\r')))
            r = rm(st, nd->next, pos, k);
        break;
    case R_WORDB:
    case R_NWORDB: {
        int b = (pos > 0 && is_word(st, pos - 1)) != is_word(st, pos);
        if (b == (nd->kind == R_WORDB))
            r = rm(st, nd->next, pos, k);
        break;
    }
    case R_GROUP: {
        size_t s0 = 0, s1 = 0;
        if (nd->cap) {
            s0 = st->caps[2 * nd->cap];
            s1 = st->caps[2 * nd->cap + 1];
            st->caps[2 * nd->cap] = pos;
        }
        rcont c = {0, nd->next, 0, pos, nd->cap, k};
        for (size_t i = 0; i < nd->nalts && r == 0; i++)
            r = rm(st, nd->alts[i], pos, &c);
        if (r <= 0 && nd->cap) {
            st->caps[2 * nd->cap] = s0;
            st->caps[2 * nd->cap + 1] = s1;
        }
        break;
    }
    case R_REPEAT:
        if (is_simple(nd->sub)) {
            /* count the run, then back off (greedy) or extend (lazy) */
            size_t cap = 64, cnt = 0, *ends = malloc(cap * sizeof *ends), p = pos;
            if (ends == NULL) {
                r = -1;
                break;
            }
            ends[0] = pos;
            while ((nd->max < 0 || cnt < (size_t)nd->max)) {
                size_t l = atom_at(st, nd->sub, p);
                if (l == 0)
                    break;
                p += l;
                if (++cnt >= cap) {
                    size_t *ne = realloc(ends, (cap *= 2) * sizeof *ends);
                    if (ne == NULL) {
                        r = -1;
                        break;
                    }
                    ends = ne;
                }
                ends[cnt] = p;
            }
            if (r == 0 && cnt >= (size_t)nd->min) {
                if (nd->greedy) {
                    for (size_t i = cnt + 1; i-- > (size_t)nd->min && r == 0;)
                        r = rm(st, nd->next, ends[i], k);
                } else {
                    for (size_t i = (size_t)nd->min; i <= cnt && r == 0; i++)
                        r = rm(st, nd->next, ends[i], k);
                }
            }
            free(ends);
        } else
            r = rep(st, nd, 0, pos, k);
        break;
    }
out:
    st->depth--;
    return r;
}

/* 1 found (m filled), 0 not found, -1 error */
static int regex_search(ectx *c, const rx *r, const char *s, size_t n, size_t from, rxmatch *m)
{
    rstate st = {0};
    st.c = c;
    st.r = r;
    st.s = s;
    st.n = n;
    for (size_t at = from; at <= n; at++) {
        for (size_t i = 0; i < 22; i++)
            st.caps[i] = (size_t)-1;
        st.depth = 0;
        int f = rm(&st, r->root, at, NULL);
        if (f < 0 || st.toolong)
            return fail(c, "U1007", "Regular expression is too complex to evaluate");
        if (f) {
            m->start = at;
            m->end = st.end;
            m->ngroups = r->ngroups;
            for (int g = 0; g < r->ngroups; g++) {
                m->groups[2 * g] = st.caps[2 * (g + 1)];
                m->groups[2 * g + 1] = st.caps[2 * (g + 1) + 1];
                if (m->groups[2 * g + 1] == (size_t)-1)
                    m->groups[2 * g] = (size_t)-1;
            }
            return 1;
        }
        if (c->steps++ > MAX_STEPS)
            return fail(c, "U1004", "Evaluation exceeded its step budget");
    }
    return 0;
}

/* ======================================================================
 * Public API
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
    if (root == NULL)
        goto done;
    e = calloc(1, sizeof *e);
    if (e == NULL || (e->text = strndup(text, n)) == NULL) {
        free(e);
        e = NULL;
        perr(&p, "out of memory");
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

const char *asl_jsonata_type_name(const json_t *v)
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

#define QEE "States.QueryEvaluationError"

static void set_cause(asl_err *err, const asl_jsonata *e, const char *field, const char *what)
{
    if (field)
        asl_err_set(err, QEE, "The JSONata expression '%s' specified for the field '%s' %s", e->text, field, what);
    else
        asl_err_set(err, QEE, "The JSONata expression '%s' %s", e->text, what);
}

int asl_jsonata_eval_field(const asl_jsonata *e, const char *field, json_t *states, const asl_scope *scope,
                           json_t **out, asl_err *err)
{
    *out = NULL;
    ectx c;
    memset(&c, 0, sizeof c);
    c.scope = scope;
    c.states = states;
    val v = UNDEF;
    frame *root = frame_new(&c, NULL);
    int rc = root ? ev(&c, e->root, NULL, root, &v) : -1;
    if (rc < 0) {
        char what[800];
        snprintf(what, sizeof what, "threw an error during evaluation. %s: %s", c.code, c.msg);
        set_cause(err, e, field, what);
    } else if (v.fn) {
        set_cause(err, e, field, "returned an unsupported result type.");
        rc = -1;
    } else {
        *out = v.j;
        v.j = NULL;
    }
    vfree(&v);
    ectx_cleanup(&c);
    return rc;
}

int asl_jsonata_eval(const asl_jsonata *e, json_t *states, const asl_scope *scope, json_t **out, asl_err *err)
{
    return asl_jsonata_eval_field(e, NULL, states, scope, out, err);
}

void asl_jsonata_err_undefined(const asl_jsonata *e, const char *field, asl_err *err)
{
    set_cause(err, e, field, "returned nothing (undefined).");
}

void asl_jsonata_err_type(const asl_jsonata *e, const char *field, const char *expected, const json_t *value,
                          asl_err *err)
{
    char *t = asl_json_text(value);
    char *what = NULL;
    size_t n = (t ? strlen(t) : 4) + 200;
    what = malloc(n);
    if (what) {
        snprintf(what, n, "returned an unexpected result type. Expected '%s', but was '%s' for value: %s", expected,
                 asl_jsonata_type_name(value), t ? t : "null");
        set_cause(err, e, field, what);
    } else
        set_cause(err, e, field, "returned an unexpected result type.");
    free(what);
    free(t);
}

int asl_jsonata_is_expr(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    return n >= 4 && s[0] == '{' && s[1] == '%' && s[n - 2] == '%' && s[n - 1] == '}';
}

/* ======================================================================
 * Templates
 * ==================================================================== */

enum { J_LIT, J_EXPR, J_OBJ, J_ARR };

typedef struct jt {
    int kind;
    json_t *lit;      /* J_LIT: shared with the definition */
    asl_jsonata *e;   /* J_EXPR */
    char *key;        /* key in the parent object */
    char *field;      /* "Output/result" for causes */
    struct jt *kids;
    size_t n;
} jt;

struct asl_jtmpl {
    jt root;
};

static void jt_clear(jt *t)
{
    json_decref(t->lit);
    asl_jsonata_free(t->e);
    free(t->key);
    free(t->field);
    for (size_t i = 0; i < t->n; i++)
        jt_clear(&t->kids[i]);
    free(t->kids);
    memset(t, 0, sizeof *t);
}

static int has_expr(const json_t *v, int depth)
{
    if (depth > ASL_MAX_DEPTH)
        return 0;
    if (asl_jsonata_is_expr(v))
        return 1;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (has_expr(x, depth + 1))
                return 1;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (has_expr(json_array_get(v, i), depth + 1))
                return 1;
    }
    return 0;
}

static char *join_field(const char *field, const char *key)
{
    size_t n = (field ? strlen(field) + 1 : 0) + strlen(key) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s%s", field ? field : "", field ? "/" : "", key);
    return s;
}

static int jt_compile(jt *t, const json_t *v, const char *field, int depth, char *err, size_t errlen)
{
    if (field && (t->field = strdup(field)) == NULL)
        goto nomem;
    if (depth > ASL_MAX_DEPTH) {
        snprintf(err, errlen, "template nested too deeply");
        return -1;
    }
    if (!has_expr(v, 0)) {
        t->kind = J_LIT;
        t->lit = json_incref((json_t *)v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        char *inner = strndup(s + 2, n - 4), e2[300];
        if (inner == NULL)
            goto nomem;
        t->kind = J_EXPR;
        int rc = asl_jsonata_compile(inner, &t->e, e2, sizeof e2);
        if (rc < 0)
            snprintf(err, errlen, "The field '%s' holds an invalid JSONata expression '%.200s': %s",
                     field ? field : "", inner, e2);
        free(inner);
        return rc;
    }
    if (json_is_object(v)) {
        t->kind = J_OBJ;
        t->kids = calloc(json_object_size(v) ? json_object_size(v) : 1, sizeof *t->kids);
        if (t->kids == NULL)
            goto nomem;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            jt *kid = &t->kids[t->n++];
            char *f = join_field(field, k);
            if (f == NULL || (kid->key = strdup(k)) == NULL) {
                free(f);
                goto nomem;
            }
            int rc = jt_compile(kid, x, f, depth + 1, err, errlen);
            free(f);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    /* array */
    t->kind = J_ARR;
    t->kids = calloc(json_array_size(v) ? json_array_size(v) : 1, sizeof *t->kids);
    if (t->kids == NULL)
        goto nomem;
    for (size_t i = 0; i < json_array_size(v); i++) {
        char idx[32];
        snprintf(idx, sizeof idx, "%zu", i);
        char *f = join_field(field, idx);
        if (f == NULL)
            goto nomem;
        int rc = jt_compile(&t->kids[t->n++], json_array_get(v, i), f, depth + 1, err, errlen);
        free(f);
        if (rc < 0)
            return -1;
    }
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int asl_jtmpl_compile_field(const json_t *v, const char *field, asl_jtmpl **out, char *err, size_t errlen)
{
    *out = NULL;
    asl_jtmpl *t = calloc(1, sizeof *t);
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (jt_compile(&t->root, v, field, 0, err, errlen) < 0) {
        asl_jtmpl_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int asl_jtmpl_compile(const json_t *v, asl_jtmpl **out, char *err, size_t errlen)
{
    return asl_jtmpl_compile_field(v, NULL, out, err, errlen);
}

void asl_jtmpl_free(asl_jtmpl *t)
{
    if (t == NULL)
        return;
    jt_clear(&t->root);
    free(t);
}

int asl_jtmpl_is_literal(const asl_jtmpl *t) { return t->root.kind == J_LIT; }

const asl_jsonata *asl_jtmpl_expr(const asl_jtmpl *t) { return t->root.kind == J_EXPR ? t->root.e : NULL; }

static int jt_eval(const jt *t, json_t *states, const asl_scope *scope, json_t **out, asl_err *e)
{
    *out = NULL;
    switch (t->kind) {
    case J_LIT:
        *out = json_incref(t->lit);
        return 0;
    case J_EXPR:
        if (asl_jsonata_eval_field(t->e, t->field, states, scope, out, e) < 0)
            return -1;
        if (*out == NULL) {
            asl_jsonata_err_undefined(t->e, t->field, e);
            return -1;
        }
        return 0;
    case J_OBJ: {
        json_t *o = json_object();
        if (o == NULL)
            goto nomem;
        for (size_t i = 0; i < t->n; i++) {
            json_t *x;
            if (jt_eval(&t->kids[i], states, scope, &x, e) < 0) {
                json_decref(o);
                return -1;
            }
            if (json_object_set_new(o, t->kids[i].key, x) < 0) {
                json_decref(o);
                goto nomem;
            }
        }
        *out = o;
        return 0;
    }
    default: {
        json_t *a = json_array();
        if (a == NULL)
            goto nomem;
        for (size_t i = 0; i < t->n; i++) {
            json_t *x;
            if (jt_eval(&t->kids[i], states, scope, &x, e) < 0) {
                json_decref(a);
                return -1;
            }
            if (json_array_append_new(a, x) < 0) {
                json_decref(a);
                goto nomem;
            }
        }
        *out = a;
        return 0;
    }
    }
nomem:
    asl_err_set(e, "States.Runtime", "out of memory");
    return -1;
}

int asl_jtmpl_eval(const asl_jtmpl *t, json_t *states, const asl_scope *scope, json_t **out, asl_err *e)
{
    return jt_eval(&t->root, states, scope, out, e);
}
