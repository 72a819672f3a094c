/*
 * asl_jsonata_regex.c - regular expressions for JSONata's regex literals
 * (/pattern/flags): a small backtracking engine for the JavaScript syntax
 * jsonata passes through (classes, groups, alternation, greedy and lazy
 * quantifiers, anchors, \d \w \s \b, flags i and m). Bytes, except that
 * '.' and negated classes consume a whole UTF-8 character. Patterns are
 * compiled with the expression; the built-ins search with them.
 *
 * Must not grow without bound on hostile patterns: MAX_RX_STEPS
 * backtracking steps and MAX_RX_DEPTH recursion per match, and every start
 * position counts against the evaluation's MAX_STEPS. Lookaround fails
 * to compile.
 */
#include "asl_nomem.h"
#include "asl_jsonata_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- compiled form ---- */

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

void jn__regex_free(rx *r)
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

/* (...) or (?:...) after the "("; a is the node to fill. NULL (a freed) on error */
static rnode *rx_group(rparse *p, rnode *a)
{
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
    return a;
}

/* [...] or [^...] after the "["; a is the node to fill. NULL (a freed) on error */
static rnode *rx_class(rparse *p, rnode *a)
{
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
    return a;
}

/* \x after the backslash; a is the node to fill. NULL (a freed) on error */
static rnode *rx_escape(rparse *p, rnode *a)
{
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
    return a;
}

static rnode *rx_atom(rparse *p)
{
    rnode *a = calloc(1, sizeof *a);
    if (a == NULL) {
        p->err = ASL_NOMEM;
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
    case '(':
        return rx_group(p, a);
    case '[':
        return rx_class(p, a);
    case '\\':
        return rx_escape(p, a);
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
                p->err = ASL_NOMEM;
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
        p->err = ASL_NOMEM;
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
            p->err = ASL_NOMEM;
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

rx *jn__regex_compile(const char *pat, size_t len, const char *flags, char *err, size_t errlen)
{
    rparse p = {pat, len, 0, 0, 0, NULL};
    rx *r = calloc(1, sizeof *r);
    if (r == NULL) {
        snprintf(err, errlen, "%s", ASL_NOMEM);
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
        jn__regex_free(r);
        return NULL;
    }
    r->ngroups = p.ngroups; /* every group numbered is reported (no cap: the matcher's slots follow it) */
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
    size_t *caps; /* 2 * (r->ngroups + 1): start/end of capture k at 2k, 2k+1 (rxmatch.caps) */
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
int jn__regex_search(ectx *c, const rx *r, const char *s, size_t n, size_t from, rxmatch *m)
{
    /* a slot pair per capture group, however many the pattern has (capture
     * numbers go up to r->ngroups) */
    size_t need = 2 * ((size_t)r->ngroups + 1);
    if (m->ncaps < need) {
        size_t *nc = realloc(m->caps, need * sizeof *nc);
        if (nc == NULL)
            return jn__oom(c);
        m->caps = nc;
        m->ncaps = need;
    }
    rstate st = {0};
    st.c = c;
    st.r = r;
    st.s = s;
    st.n = n;
    st.caps = m->caps;
    /* once per search: a failed attempt puts back every slot it set (rm's
     * R_GROUP and pop), so each start position begins with all unset */
    for (size_t i = 0; i < need; i++)
        st.caps[i] = (size_t)-1;
    for (size_t at = from; at <= n; at++) {
        st.depth = 0;
        int f = rm(&st, r->root, at, NULL);
        if (f < 0 || st.toolong)
            return jn__fail(c, "U1007", "Regular expression is too complex to evaluate");
        if (f) {
            m->start = at;
            m->end = st.end;
            m->ngroups = r->ngroups;
            m->groups = m->caps + 2;
            for (int g = 0; g < r->ngroups; g++)
                if (m->groups[2 * g + 1] == (size_t)-1)
                    m->groups[2 * g] = (size_t)-1;
            return 1;
        }
        if (c->steps++ > MAX_STEPS)
            return jn__fail(c, "U1004", "Evaluation exceeded its step budget");
    }
    return 0;
}

void jn__rxmatch_free(rxmatch *m)
{
    free(m->caps);
    m->caps = m->groups = NULL;
    m->ncaps = 0;
    m->ngroups = 0;
}
