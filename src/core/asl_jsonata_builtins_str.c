/*
 * asl_jsonata_builtins_str.c - the built-in string functions of JSONata:
 * $length, $substring..., $uppercase/$lowercase, $trim, $pad, the ones that
 * take a string or a regex ($contains, $split, $replace, $match), $join and
 * base64. Positions count code points, as jsonata does. Rows for the table
 * of asl_jsonata_builtins.c come from jn__string_builtin.
 *
 * Must not match regexes itself: that is asl_jsonata_regex.c. Results are
 * bounded by MAX_STR and MAX_ITEMS.
 */
#include "asl_jsonata_int.h"
#include "b64.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* argument i of a built-in (a, nargs in scope); undefined past the end */
#define A(i) ((i) < nargs ? &a[i] : &undef_arg)
static val undef_arg;

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
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    return jn__mknum(c, (double)cp_len(s, n), out);
}

static int bi_substring(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double st, ln;
    int hs, hl;
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0 || jn__opt_num(c, a, nargs, 1, &st, &hs) < 0 ||
        jn__opt_num(c, a, nargs, 2, &ln, &hl) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (!hs)
        return jn__sig_err(c, 1);
    double len = (double)cp_len(s, n);
    st = trunc(st);
    double start = st < 0 ? (len + st < 0 ? 0 : len + st) : (st > len ? len : st);
    double end = len;
    if (hl) {
        if (ln <= 0)
            return jn__mkstr(c, "", 0, out);
        end = start + trunc(ln);
        if (end > len)
            end = len;
    }
    if (end < start)
        end = start;
    size_t b0 = cp_off(s, n, (size_t)start), b1 = cp_off(s, n, (size_t)end);
    return jn__mkstr(c, s + b0, b1 - b0, out);
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
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0 || jn__opt_str(c, a, nargs, 1, &t, &tn) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (t == NULL)
        return jn__sig_err(c, 1);
    const char *p = memfind(s, n, t, tn);
    if (p == NULL)
        return jn__mkstr(c, s, n, out);
    if (after)
        return jn__mkstr(c, p + tn, n - (size_t)(p - s) - tn, out);
    return jn__mkstr(c, s, (size_t)(p - s), out);
}
static int bi_substringBefore(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_substr_ba(c, a, n, out, 0); }
static int bi_substringAfter(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_substr_ba(c, a, n, out, 1); }

static int bi_case(ectx *c, val *a, size_t nargs, val *out, int up)
{
    const char *s;
    size_t n;
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    char *t = malloc(n + 1);
    if (t == NULL)
        return jn__oom(c);
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
    int rc = jn__mkstr(c, t, n, out);
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
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    sbuf b = {0};
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        if (strchr(" \t\n\r\f\v", s[i]) && s[i]) {
            space = 1;
            continue;
        }
        if (space && b.n)
            jn__sb_put(&b, " ", 1);
        space = 0;
        jn__sb_put(&b, s + i, 1);
    }
    return jn__sb_done(c, &b, out);
}

static int bi_pad(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *pc;
    size_t n, pn;
    double w;
    int hw;
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0 || jn__opt_num(c, a, nargs, 1, &w, &hw) < 0 ||
        jn__opt_str(c, a, nargs, 2, &pc, &pn) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (!hw)
        return jn__sig_err(c, 1);
    if (pc == NULL || pn == 0) {
        pc = " ";
        pn = 1;
    }
    double len = (double)cp_len(s, n), want = fabs(trunc(w));
    if (want > MAX_STR)
        return jn__fail(c, "U1002", "String result too large");
    size_t padn = want > len ? (size_t)(want - len) : 0, pcl = cp_len(pc, pn);
    sbuf b = {0};
    if (w > 0)
        jn__sb_put(&b, s, n);
    for (size_t i = 0; i < padn; i++) {
        size_t k = i % pcl, o0 = cp_off(pc, pn, k), o1 = cp_off(pc, pn, k + 1);
        jn__sb_put(&b, pc + o0, o1 - o0);
    }
    if (w <= 0)
        jn__sb_put(&b, s, n);
    return jn__sb_done(c, &b, out);
}

/* ---- string or regex (the engine is asl_jsonata_regex.c) ---------------- */


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
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (r) {
        rxmatch m = {0};
        int rc = jn__regex_search(c, r, s, n, 0, &m);
        jn__rxmatch_free(&m);
        if (rc < 0)
            return -1;
        out->j = json_boolean(rc);
        return 0;
    }
    if (jn__opt_str(c, a, nargs, 1, &t, &tn) < 0)
        return -1;
    if (t == NULL)
        return jn__sig_err(c, 1);
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
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r && (jn__opt_str(c, a, nargs, 1, &t, &tn) < 0 || t == NULL))
        return c->failed ? -1 : jn__sig_err(c, 1);
    if (jn__opt_num(c, a, nargs, 2, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return jn__fail(c, "D3020", "Third argument of split function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    json_t *arr = json_array();
    if (arr == NULL)
        return jn__oom(c);
    size_t pos = 0;
    int rc = 0;
    rxmatch m = {0};
    while (rc == 0 && (!hl || json_array_size(arr) < (size_t)lim)) {
        size_t ms, me;
        if (r) {
            int f = jn__regex_search(c, r, s, n, pos, &m);
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
            rc = x && json_array_append_new(arr, x) == 0 ? 0 : jn__oom(c);
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
        rc = x && json_array_append_new(arr, x) == 0 ? 0 : jn__oom(c);
        pos = me;
        if (json_array_size(arr) > MAX_ITEMS)
            rc = jn__fail(c, "U1003", "Array result too large");
    }
    if (rc == 0 && !(tn == 0 && !r) && (!hl || json_array_size(arr) < (size_t)lim)) {
        json_t *x = json_stringn_nocheck(s + pos, n - pos);
        rc = x && json_array_append_new(arr, x) == 0 ? 0 : jn__oom(c);
    }
    jn__rxmatch_free(&m);
    return jn__ret_json(rc, arr, out);
}

static int bi_join(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *sep;
    size_t sn;
    if (!jn__defined(A(0)))
        return 0;
    if (jn__opt_str(c, a, nargs, 1, &sep, &sn) < 0)
        return -1;
    json_t *arr = jn__as_array(A(0));
    if (arr == NULL)
        return jn__oom(c);
    sbuf b = {0};
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_string(x)) {
            json_decref(arr);
            free(b.p);
            return jn__fail(c, "T0412", "Argument 1 of function \"join\" must be an array of \"strings\"");
        }
        if (i && sep)
            jn__sb_put(&b, sep, sn);
        jn__sb_put(&b, json_string_value(x), json_string_length(x));
    }
    json_decref(arr);
    return jn__sb_done(c, &b, out);
}

/* $replace's replacement text for one regex match, read as jsonata reads
 * it: "$$" is "$", "$0" the match, "$" then a number a group. The number is
 * up to as many digits as the group count has (so "$12" is group 12 of 12
 * or more, "$1" then "2" of fewer), one digit fewer when it is beyond the
 * count; a group that does not exist or did not take part adds nothing. A
 * "$" before anything else is itself. */
static void put_replacement(sbuf *b, const char *rep, size_t rn, const char *s, const rxmatch *m)
{
    int maxd = 1;
    for (int g = m->ngroups; g >= 10; g /= 10)
        maxd++;
    for (size_t i = 0; i < rn; i++) {
        if (rep[i] != '$' || i + 1 >= rn) {
            jn__sb_put(b, rep + i, 1);
            continue;
        }
        if (rep[i + 1] == '$') {
            jn__sb_put(b, "$", 1);
            i++;
            continue;
        }
        if (rep[i + 1] == '0') {
            jn__sb_put(b, s + m->start, m->end - m->start);
            i++;
            continue;
        }
        long g = 0;
        int nd = 0;
        while (nd < maxd && i + 1 + (size_t)nd < rn && isdigit((unsigned char)rep[i + 1 + (size_t)nd])) {
            g = g * 10 + (rep[i + 1 + (size_t)nd] - '0');
            nd++;
        }
        if (nd == 0) {
            jn__sb_put(b, "$", 1);
            continue;
        }
        if (maxd > 1 && nd == maxd && g > m->ngroups) {
            g /= 10;
            nd--;
        }
        if (g >= 1 && g <= m->ngroups && m->groups[2 * (g - 1)] != (size_t)-1)
            jn__sb_put(b, s + m->groups[2 * (g - 1)], m->groups[2 * (g - 1) + 1] - m->groups[2 * (g - 1)]);
        i += (size_t)nd;
    }
}

static int bi_replace(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *pat = NULL, *rep;
    size_t n, pn = 0, rn;
    double lim;
    int hl;
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r) {
        if (jn__opt_str(c, a, nargs, 1, &pat, &pn) < 0 || pat == NULL)
            return c->failed ? -1 : jn__sig_err(c, 1);
        if (pn == 0)
            return jn__fail(c, "D3010", "Second argument of replace function cannot be an empty string");
    }
    if (jn__opt_str(c, a, nargs, 2, &rep, &rn) < 0)
        return -1;
    if (rep == NULL)
        return jn__sig_err(c, 2);
    if (jn__opt_num(c, a, nargs, 3, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return jn__fail(c, "D3011", "Fourth argument of replace function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    sbuf b = {0};
    size_t pos = 0, count = 0;
    rxmatch m = {0};
    while (pos <= n && (!hl || count < (size_t)lim)) {
        if (r) {
            int f = jn__regex_search(c, r, s, n, pos, &m);
            if (f < 0) {
                free(b.p);
                jn__rxmatch_free(&m);
                return -1;
            }
            if (!f)
                break;
            if (m.end == m.start) {
                if (m.start >= n && count > 0)
                    break;
                free(b.p);
                jn__rxmatch_free(&m);
                return jn__fail(c, "D1004", "Regular expression matches zero length string");
            }
        } else {
            const char *p = memfind(s + pos, n - pos, pat, pn);
            if (p == NULL)
                break;
            m.start = (size_t)(p - s);
            m.end = m.start + pn;
            m.ngroups = 0;
        }
        jn__sb_put(&b, s + pos, m.start - pos);
        if (r) /* $0, $1.. in the replacement */
            put_replacement(&b, rep, rn, s, &m);
        else
            jn__sb_put(&b, rep, rn);
        pos = m.end;
        count++;
    }
    jn__rxmatch_free(&m);
    if (pos < n)
        jn__sb_put(&b, s + pos, n - pos);
    return jn__sb_done(c, &b, out);
}

static int bi_match(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double lim;
    int hl;
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    if (s == NULL)
        return 0;
    const rx *r = arg_regex(A(1));
    if (!r)
        return jn__sig_err(c, 1);
    if (jn__opt_num(c, a, nargs, 2, &lim, &hl) < 0)
        return -1;
    if (hl && lim < 0)
        return jn__fail(c, "D3040", "Third argument of match function must evaluate to a positive number");
    if (hl && lim > MAX_ITEMS)
        lim = MAX_ITEMS;
    if (jn__seq_init(c, out) < 0)
        return -1;
    size_t pos = 0;
    rxmatch m = {0};
    while (pos <= n && (!hl || json_array_size(out->j) < (size_t)lim)) {
        int f = jn__regex_search(c, r, s, n, pos, &m);
        if (f < 0) {
            jn__rxmatch_free(&m);
            return -1;
        }
        if (!f)
            break;
        json_t *groups = json_array();
        for (int g = 0; groups && g < m.ngroups; g++) {
            size_t g0 = m.groups[2 * g], g1 = m.groups[2 * g + 1];
            json_array_append_new(groups, g0 == (size_t)-1 ? json_string("") : json_stringn_nocheck(s + g0, g1 - g0));
        }
        json_t *o = json_pack("{s:s%,s:I,s:o}", "match", s + m.start, m.end - m.start, "index",
                              (json_int_t)cp_len(s, m.start), "groups", groups);
        if (o == NULL || json_array_append_new(out->j, o) < 0) {
            jn__rxmatch_free(&m);
            return jn__oom(c);
        }
        pos = m.end > m.start ? m.end : m.end + 1;
    }
    jn__rxmatch_free(&m);
    return 0;
}

/* ---- base64 -------------------------------------------------------------- */

static int bi_base64encode(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n, k;
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    char *e = sfn_b64_encode((const unsigned char *)s, n, &k);
    sbuf b = {0};
    if (e != NULL)
        jn__sb_put(&b, e, k);
    else
        b.bad = 1;
    free(e);
    return jn__sb_done(c, &b, out);
}

static int bi_base64decode(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n, k;
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    unsigned char *d = sfn_b64_decode(s, n, SFN_B64_LENIENT, &k);
    sbuf b = {0};
    if (d != NULL)
        jn__sb_put(&b, (const char *)d, k);
    else
        b.bad = 1; /* lenient decoding fails only for memory */
    free(d);
    return jn__sb_done(c, &b, out);
}

/* ---- the table ------------------------------------------------------------ */

static const bdef string_builtins[] = {
    {"length", bi_length, 1}, {"substring", bi_substring, 0},
    {"substringBefore", bi_substringBefore, 2}, {"substringAfter", bi_substringAfter, 2},
    {"uppercase", bi_uppercase, 1}, {"lowercase", bi_lowercase, 1}, {"trim", bi_trim, 1},
    {"pad", bi_pad, 0}, {"contains", bi_contains, 2}, {"split", bi_split, 0}, {"join", bi_join, 0},
    {"replace", bi_replace, 0}, {"match", bi_match, 0},
    {"base64encode", bi_base64encode, 1}, {"base64decode", bi_base64decode, 1},
};

const bdef *jn__string_builtin(const char *name)
{
    for (size_t i = 0; i < sizeof string_builtins / sizeof string_builtins[0]; i++)
        if (strcmp(string_builtins[i].name, name) == 0)
            return &string_builtins[i];
    return NULL;
}
