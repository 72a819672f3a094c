/*
 * asl_jsonata_builtins.c - the built-in functions of JSONata that Step
 * Functions offers: the table they are looked up in and the call
 * convention (context as argument 1 where jsonata allows it), the argument
 * helpers, and the functions on numbers, casts, objects and arrays, time,
 * higher-order functions, errors and the Step Functions additions
 * ($partition, $range, $hash, $random, $uuid, $parse). The string
 * functions are in asl_jsonata_builtins_str.c.
 *
 * Must not read the clock or call rand(): $now and $millis read
 * $states.context, $random, $shuffle and $uuid draw from asl_scope.rng.
 * Results are bounded by MAX_ITEMS and MAX_STR.
 */
#include "asl_jsonata_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arguments ---------------------------------------------------------- */

int jn__sig_err(ectx *c, size_t idx)
{
    return jn__fail(c, "T0410", "Argument %zu of function \"%s\" does not match function signature", idx + 1, c->fname);
}

/* argument i of a built-in (a, nargs in scope); undefined past the end */
#define A(i) ((i) < nargs ? &a[i] : &undef_arg)
static val undef_arg;

int jn__opt_str(ectx *c, val *a, size_t nargs, size_t i, const char **s, size_t *len)
{
    val *v = A(i);
    *s = NULL;
    *len = 0;
    if (!jn__defined(v))
        return 0;
    if (!json_is_string(v->j))
        return jn__sig_err(c, i);
    *s = json_string_value(v->j);
    *len = json_string_length(v->j);
    return 0;
}

int jn__opt_num(ectx *c, val *a, size_t nargs, size_t i, double *d, int *has)
{
    val *v = A(i);
    *has = 0;
    if (!jn__defined(v))
        return 0;
    if (!jn__is_number(v->j))
        return jn__sig_err(c, i);
    *d = jn__numv(v->j);
    *has = 1;
    return 0;
}

int jn__str_arg(ectx *c, val *a, size_t nargs, const char **s, size_t *len)
{
    if (jn__opt_str(c, a, nargs, 0, s, len) < 0)
        return -1;
    return *s != NULL;
}

/* array argument: arrays as they are, other values wrapped (jsonata's a<>) */
json_t *jn__as_array(val *v)
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
    if (!jn__defined(A(0)))
        return 0;
    if (A(0)->fn)
        return jn__sig_err(c, 0);
    if ((*arr = jn__as_array(A(0))) == NULL)
        return jn__oom(c);
    for (size_t i = 0; i < json_array_size(*arr); i++)
        if (!jn__is_number(json_array_get(*arr, i))) {
            json_decref(*arr);
            *arr = NULL;
            return jn__fail(c, "T0412", "Argument 1 of function \"%s\" must be an array of \"numbers\"", c->fname);
        }
    return 0;
}

/* ---- aggregates and casts ---------------------------------------------- */

static int bi_sum(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    json_t *arr;
    if (num_array(c, a, nargs, &arr) < 0 || arr == NULL)
        return c->failed ? -1 : 0;
    double s = 0;
    for (size_t i = 0; i < json_array_size(arr); i++)
        s += jn__numv(json_array_get(arr, i));
    json_decref(arr);
    return jn__mknum(c, s, out);
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
    double r = jn__numv(json_array_get(arr, 0)), s = 0;
    for (size_t i = 0; i < n; i++) {
        double x = jn__numv(json_array_get(arr, i));
        s += x;
        if (kind == 0 && x > r)
            r = x;
        if (kind == 1 && x < r)
            r = x;
    }
    json_decref(arr);
    return jn__mknum(c, kind == 2 ? s / (double)n : r, out);
}

static int bi_max(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 0); }
static int bi_min(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 1); }
static int bi_average(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_minmax_avg(c, a, n, out, 2); }

static int bi_count(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    size_t n = !jn__defined(A(0)) ? 0 : json_is_array(A(0)->j) ? json_array_size(A(0)->j) : 1;
    return jn__mknum(c, (double)n, out);
}

static int bi_string(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    if (jn__defined(A(1)) && !json_is_boolean(A(1)->j))
        return jn__sig_err(c, 1);
    if (A(0)->fn) {
        out->j = json_string("");
        return out->j ? 0 : jn__oom(c);
    }
    if (json_is_string(A(0)->j)) {
        out->j = json_incref(A(0)->j);
        return 0;
    }
    sbuf b = {0};
    jn__put_json(&b, A(0)->j, 1, json_is_true(A(1)->j), 0);
    return jn__sb_done(c, &b, out);
}

static int bi_number(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    val *v = A(0);
    if (!jn__defined(v))
        return 0;
    if (jn__is_number(v->j)) {
        out->j = json_incref(v->j);
        return 0;
    }
    if (json_is_boolean(v->j))
        return jn__mknum(c, json_is_true(v->j) ? 1 : 0, out);
    if (json_is_null(v->j) || v->fn)
        return jn__sig_err(c, 0);
    if (json_is_string(v->j)) {
        const char *s = json_string_value(v->j);
        char *end;
        double d;
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'b' || s[1] == 'B' || s[1] == 'o' ||
                            s[1] == 'O') && s[2]) {
            int base = (s[1] | 32) == 'x' ? 16 : (s[1] | 32) == 'b' ? 2 : 8;
            unsigned long long u = strtoull(s + 2, &end, base);
            if (*end == '\0')
                return jn__mknum(c, (double)u, out);
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
                        return jn__mknum(c, d, out);
                }
            }
        }
    }
    char *t = jn__msg_text(v);
    jn__fail(c, "D3030", "Unable to cast value to a number: %s", t ? t : "?");
    free(t);
    return -1;
}

static int bi_boolean(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    if (!jn__defined(A(0)))
        return 0;
    out->j = json_boolean(jn__truthy(A(0)));
    return 0;
}

static int bi_not(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    if (!jn__defined(A(0)))
        return 0;
    out->j = json_boolean(!jn__truthy(A(0)));
    return 0;
}

static int bi_exists(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)c; (void)in;
    out->j = json_boolean(jn__defined(A(0)));
    return 0;
}

/* ---- objects and arrays ---------------------------------------------- */

static int bi_keys(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    val *v = A(0);
    if (!json_is_object(v->j) && !json_is_array(v->j))
        return 0;
    if (jn__seq_init(c, out) < 0)
        return -1;
    json_t *seen = json_object();
    if (seen == NULL)
        return jn__oom(c);
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
                return jn__oom(c);
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
    if (jn__opt_str(c, a, nargs, 1, &k, &kn) < 0)
        return -1;
    if (k == NULL)
        return jn__sig_err(c, 1);
    if (!jn__defined(A(0)))
        return 0;
    return jn__lookup_name(c, A(0)->j, k, out);
}

static int bi_merge(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    json_t *arr = jn__as_array(A(0)), *o = json_object();
    if (arr == NULL || o == NULL) {
        json_decref(arr);
        json_decref(o);
        return jn__oom(c);
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_object(x)) {
            json_decref(arr);
            json_decref(o);
            return jn__fail(c, "T0412", "Argument 1 of function \"merge\" must be an array of \"objects\"");
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
    if (!jn__defined(A(1))) {
        *out = jn__vcopy(A(0));
        out->seq = out->cons = out->keep = 0;
        return 0;
    }
    if (!jn__defined(A(0))) {
        *out = jn__vcopy(A(1));
        out->seq = out->cons = out->keep = 0;
        return 0;
    }
    json_t *x = jn__as_array(A(0)), *y = jn__as_array(A(1)), *r = json_array();
    int rc = x && y && r ? 0 : jn__oom(c);
    if (rc == 0 && json_array_size(x) + json_array_size(y) > MAX_ITEMS)
        rc = jn__fail(c, "U1003", "Array result too large");
    if (rc == 0 && (json_array_extend(r, x) < 0 || json_array_extend(r, y) < 0))
        rc = jn__oom(c);
    json_decref(x);
    json_decref(y);
    return jn__ret_json(rc, r, out);
}

static int bi_reverse(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    json_t *x = jn__as_array(A(0)), *r = json_array();
    if (x == NULL || r == NULL) {
        json_decref(x);
        json_decref(r);
        return jn__oom(c);
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
    if (!jn__defined(A(0)))
        return 0;
    if (!json_is_array(A(0)->j)) {
        *out = jn__vcopy(A(0));
        return 0;
    }
    json_t *x = A(0)->j, *r = json_array();
    if (r == NULL)
        return jn__oom(c);
    for (size_t i = 0; i < json_array_size(x); i++) {
        json_t *e = json_array_get(x, i);
        int dup = 0;
        for (size_t k = 0; k < json_array_size(r) && !dup; k++)
            dup = jn__deep_eq(e, json_array_get(r, k));
        if (!dup && json_array_append(r, e) < 0) {
            json_decref(r);
            return jn__oom(c);
        }
        if ((i & 1023) == 0 && ++c->steps > MAX_STEPS) {
            json_decref(r);
            return jn__fail(c, "U1004", "Evaluation exceeded its step budget");
        }
    }
    out->j = r;
    return 0;
}

/* merge sort; swap(a, b) true when a must come after b */
static int sort_cmp(ectx *c, fnval *f, json_t *x, json_t *y, int *after)
{
    if (f == NULL) {
        if (jn__is_number(x))
            *after = jn__numv(x) > jn__numv(y);
        else {
            size_t a = json_string_length(x), b = json_string_length(y);
            int m = memcmp(json_string_value(x), json_string_value(y), a < b ? a : b);
            *after = m > 0 || (m == 0 && a > b);
        }
        return 0;
    }
    val args[2] = {{x, NULL, 0, 0, 0, 0}, {y, NULL, 0, 0, 0, 0}}, r;
    if (jn__call_fn(c, f, args, 2, NULL, &r) < 0)
        return -1;
    *after = jn__truthy(&r);
    jn__vfree(&r);
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
    if (!jn__defined(A(0)))
        return 0;
    fnval *f = NULL;
    if (jn__defined(A(1))) {
        if (!A(1)->fn)
            return jn__sig_err(c, 1);
        f = A(1)->fn;
    }
    json_t *x = jn__as_array(A(0));
    if (x == NULL)
        return jn__oom(c);
    size_t n = json_array_size(x);
    if (f == NULL && n > 1) {
        int nums = 1, strs = 1;
        for (size_t i = 0; i < n; i++) {
            nums &= jn__is_number(json_array_get(x, i));
            strs &= json_is_string(json_array_get(x, i));
        }
        if (!nums && !strs) {
            json_decref(x);
            return jn__fail(c, "D3070", "The single argument form of the sort function can only be applied to an array of strings or an array of numbers.  Use the second argument to specify a comparison function");
        }
    }
    json_t **v = malloc((n ? n : 1) * sizeof *v), **tmp = malloc((n ? n : 1) * sizeof *tmp);
    int rc = v && tmp ? 0 : jn__oom(c);
    for (size_t i = 0; i < n && rc == 0; i++)
        v[i] = json_array_get(x, i);
    if (rc == 0)
        rc = msort(c, f, v, tmp, n);
    json_t *r = rc == 0 ? json_array() : NULL;
    if (rc == 0 && r == NULL)
        rc = jn__oom(c);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (json_array_append(r, v[i]) < 0)
            rc = jn__oom(c);
    free(v);
    free(tmp);
    json_decref(x);
    return jn__ret_json(rc, r, out);
}

static int bi_shuffle(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    json_t *x = jn__as_array(A(0)), *r = x ? asl_json_copy(x) : NULL;
    json_decref(x);
    if (r == NULL)
        return jn__oom(c);
    size_t n = json_array_size(r);
    if (n > 1 && (c->scope == NULL || c->scope->rng == NULL)) {
        json_decref(r);
        return jn__fail(c, "U1006", "No random source");
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
    return jn__opt_num(c, a, nargs, 0, d, has);
}

/* $abs, $floor, $ceil: one number in, f of it out (undefined stays so) */
static int unary_math(ectx *c, val *a, size_t n, val *out, double (*f)(double))
{
    double d;
    int h;
    if (num1(c, a, n, &d, &h) < 0 || !h)
        return c->failed ? -1 : 0;
    return jn__mknum(c, f(d), out);
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
        jn__fmt_js_number(d, t, sizeof t);
        return jn__fail(c, "D3060", "The sqrt function cannot be applied to a negative number: %s", t);
    }
    return jn__mknum(c, sqrt(d), out);
}
static int bi_power(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double x, y;
    int hx, hy;
    if (jn__opt_num(c, a, nargs, 0, &x, &hx) < 0 || jn__opt_num(c, a, nargs, 1, &y, &hy) < 0)
        return -1;
    if (!hx)
        return 0;
    if (!hy)
        return jn__sig_err(c, 1);
    double r = pow(x, y);
    if (!isfinite(r)) {
        char t1[40], t2[40];
        jn__fmt_js_number(x, t1, sizeof t1);
        jn__fmt_js_number(y, t2, sizeof t2);
        return jn__fail(c, "D3061", "The power function has resulted in a value that cannot be represented as a JSON number: base=%s, exponent=%s", t1, t2);
    }
    return jn__mknum(c, r, out);
}
static int bi_round(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double x, p = 0;
    int hx, hp;
    if (jn__opt_num(c, a, nargs, 0, &x, &hx) < 0 || jn__opt_num(c, a, nargs, 1, &p, &hp) < 0)
        return -1;
    if (!hx)
        return 0;
    /* round half to even at 10^-p, on the decimal text as jsonata does */
    double scale = pow(10, trunc(p));
    double v = x * scale;
    if (!isfinite(v))
        return jn__mknum(c, x, out);
    double r = round(v);
    if (fabs(v - trunc(v)) == 0.5 && fmod(r, 2) != 0)
        r -= copysign(1, v);
    return jn__mknum(c, r / scale, out);
}

static int bi_random(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    asl_rng local, *r;
    if (jn__defined(A(0))) {
        /* Step Functions' seeded form: same seed, same number */
        if (!jn__is_number(A(0)->j))
            return jn__sig_err(c, 0);
        double s = jn__numv(A(0)->j);
        uint64_t bits;
        memcpy(&bits, &s, sizeof bits); /* any double is a valid seed */
        local.s = bits ^ 0x9e3779b97f4a7c15ULL;
        r = &local;
    } else if (c->scope && c->scope->rng)
        r = c->scope->rng;
    else
        return jn__fail(c, "U1006", "No random source");
    return jn__mknum(c, asl_rng_double(r), out);
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
    return jn__mkstr(c, b, strlen(b), out);
}

static int bi_millis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)a; (void)nargs; (void)in;
    return jn__mknum(c, now_ms(c), out);
}

static int bi_toMillis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    double ms;
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    if (parse_iso(s, &ms) < 0)
        return jn__fail(c, "D3110", "The argument of the toMillis function must be an ISO 8601 formatted timestamp. Given \"%.100s\"", s);
    return jn__mknum(c, ms, out);
}

static int bi_fromMillis(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double ms;
    int h;
    if (jn__opt_num(c, a, nargs, 0, &ms, &h) < 0 || !h)
        return c->failed ? -1 : 0;
    if (fabs(ms) > 8.64e15)
        return jn__fail(c, "D3132", "Number out of range");
    char b[48];
    fmt_iso(ms, b, sizeof b);
    return jn__mkstr(c, b, strlen(b), out);
}

static int bi_type(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    const char *t = A(0)->fn ? "function" : asl__json_type_name(A(0)->j);
    return jn__mkstr(c, t, strlen(t), out);
}

/* ---- higher-order ------------------------------------------------------ */

static int hof_call(ectx *c, fnval *f, json_t *v, json_t *idx_or_key, json_t *whole, val *r)
{
    val args[3] = {{v, NULL, 0, 0, 0, 0}, {idx_or_key, NULL, 0, 0, 0, 0}, {whole, NULL, 0, 0, 0, 0}};
    int ar = jn__fn_arity(f);
    return jn__call_fn(c, f, args, (size_t)(ar < 1 ? 1 : ar > 3 ? 3 : ar), NULL, r);
}

static int bi_map_filter(ectx *c, val *a, size_t nargs, val *out, int is_filter)
{
    if (!jn__defined(A(0)))
        return 0;
    if (!A(1)->fn)
        return jn__sig_err(c, 1);
    json_t *x = jn__as_array(A(0));
    if (x == NULL || jn__seq_init(c, out) < 0) {
        json_decref(x);
        return jn__oom(c);
    }
    int rc = 0;
    for (size_t i = 0; i < json_array_size(x) && rc == 0; i++) {
        json_t *idx = json_integer((json_int_t)i);
        val r;
        rc = idx ? hof_call(c, A(1)->fn, json_array_get(x, i), idx, x, &r) : jn__oom(c);
        json_decref(idx);
        if (rc < 0)
            break;
        if (is_filter) {
            if (jn__truthy(&r))
                rc = jn__arr_push(c, out->j, json_array_get(x, i));
        } else if (r.j)
            rc = jn__arr_push(c, out->j, r.j);
        jn__vfree(&r);
    }
    json_decref(x);
    return rc;
}
static int bi_map(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_map_filter(c, a, n, out, 0); }
static int bi_filter(ectx *c, val *a, size_t n, json_t *in, val *out) { (void)in; return bi_map_filter(c, a, n, out, 1); }

static int bi_each(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    if (!json_is_object(A(0)->j))
        return jn__sig_err(c, 0);
    if (!A(1)->fn)
        return jn__sig_err(c, 1);
    if (jn__seq_init(c, out) < 0)
        return -1;
    const char *k;
    json_t *x;
    json_object_foreach(A(0)->j, k, x) {
        json_t *ks = json_string(k);
        val r;
        int rc = ks ? hof_call(c, A(1)->fn, x, ks, A(0)->j, &r) : jn__oom(c);
        json_decref(ks);
        if (rc == 0 && r.j)
            rc = jn__arr_push(c, out->j, r.j);
        jn__vfree(&r);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int bi_sift(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    if (!jn__defined(A(0)))
        return 0;
    if (!json_is_object(A(0)->j))
        return jn__sig_err(c, 0);
    if (!A(1)->fn)
        return jn__sig_err(c, 1);
    json_t *o = json_object();
    if (o == NULL)
        return jn__oom(c);
    const char *k;
    json_t *x;
    json_object_foreach(A(0)->j, k, x) {
        json_t *ks = json_string(k);
        val r;
        int rc = ks ? hof_call(c, A(1)->fn, x, ks, A(0)->j, &r) : jn__oom(c);
        json_decref(ks);
        if (rc == 0 && jn__truthy(&r))
            json_object_set(o, k, x);
        jn__vfree(&r);
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
    if (!jn__defined(A(0)))
        return 0;
    if (!A(1)->fn)
        return jn__sig_err(c, 1);
    if (jn__fn_arity(A(1)->fn) < 2 && A(1)->fn->lambda)
        return jn__fail(c, "D3050", "The second argument of reduce function must be a function with at least two arguments");
    json_t *x = jn__as_array(A(0));
    if (x == NULL)
        return jn__oom(c);
    size_t i = 0;
    val acc = UNDEF;
    if (jn__defined(A(2)))
        acc = jn__vcopy(A(2));
    else if (json_array_size(x) > 0)
        acc.j = json_incref(json_array_get(x, i++));
    for (; i < json_array_size(x); i++) {
        json_t *idx = json_integer((json_int_t)i);
        val args[4] = {acc, {json_array_get(x, i), NULL, 0, 0, 0, 0}, {idx, NULL, 0, 0, 0, 0}, {x, NULL, 0, 0, 0, 0}}, r;
        int ar = jn__fn_arity(A(1)->fn);
        int rc = jn__call_fn(c, A(1)->fn, args, (size_t)(ar < 2 ? 2 : ar > 4 ? 4 : ar), NULL, &r);
        json_decref(idx);
        jn__vfree(&acc);
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
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0)
        return -1;
    return jn__fail(c, "D3137", "%s", s ? s : "$error() function evaluated");
}

static int bi_assert(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in; (void)out;
    const char *s;
    size_t n;
    if (!json_is_boolean(A(0)->j))
        return jn__sig_err(c, 0);
    if (jn__opt_str(c, a, nargs, 1, &s, &n) < 0)
        return -1;
    if (json_is_true(A(0)->j))
        return 0;
    return jn__fail(c, "D3141", "%s", s ? s : "$assert() statement failed");
}

/* ---- Step Functions additions ------------------------------------------ */

static int bi_partition(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    double sz;
    int h;
    if (!jn__defined(A(0)))
        return 0;
    if (jn__opt_num(c, a, nargs, 1, &sz, &h) < 0)
        return -1;
    if (!h || sz < 1 || sz != floor(sz))
        return jn__fail(c, "T0410", "Argument 2 of function \"partition\" must be a positive integer");
    json_t *x = jn__as_array(A(0)), *r = json_array();
    if (x == NULL || r == NULL) {
        json_decref(x);
        json_decref(r);
        return jn__oom(c);
    }
    size_t n = json_array_size(x), k = sz > (double)n ? n : (size_t)sz;
    for (size_t i = 0; i < n; i += k) {
        json_t *chunk = json_array();
        for (size_t j = i; chunk && j < i + k && j < n; j++)
            json_array_append(chunk, json_array_get(x, j));
        if (chunk == NULL || json_array_append_new(r, chunk) < 0) {
            json_decref(x);
            json_decref(r);
            return jn__oom(c);
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
    if (jn__opt_num(c, a, nargs, 0, &s, &hs) < 0 || jn__opt_num(c, a, nargs, 1, &e, &he) < 0 ||
        jn__opt_num(c, a, nargs, 2, &st, &hst) < 0)
        return -1;
    if (!hs || !he)
        return 0;
    if (!hst)
        st = 1;
    if (st == 0)
        return jn__fail(c, "T0410", "Argument 3 of function \"range\" must not be zero");
    double cnt = floor((e - s) / st) + 1;
    if (cnt > MAX_ITEMS)
        return jn__fail(c, "U1003", "Array result too large");
    if (jn__seq_init(c, out) < 0)
        return -1;
    for (double i = 0; i < cnt; i++) {
        json_t *x = jn__num_new(s + i * st);
        if (x == NULL || json_array_append_new(out->j, x) < 0)
            return jn__oom(c);
    }
    return 0;
}


static int bi_hash(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s, *alg;
    size_t n, an;
    if (jn__opt_str(c, a, nargs, 0, &s, &n) < 0 || jn__opt_str(c, a, nargs, 1, &alg, &an) < 0)
        return -1;
    if (s == NULL)
        return 0;
    if (alg == NULL)
        return jn__sig_err(c, 1);
    char hex[129];
    if (asl__hash_hex(alg, (const unsigned char *)s, n, hex) == 0)
        return jn__fail(c, "T0410", "Argument 2 of function \"hash\" must be one of MD5, SHA-1, SHA-256, SHA-384, SHA-512");
    return jn__mkstr(c, hex, strlen(hex), out);
}

static int bi_uuid(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)a; (void)nargs; (void)in;
    if (c->scope == NULL || c->scope->rng == NULL)
        return jn__fail(c, "U1006", "No random source");
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
    return jn__mkstr(c, s, 36, out);
}

static int bi_parse(ectx *c, val *a, size_t nargs, json_t *in, val *out)
{
    (void)in;
    const char *s;
    size_t n;
    int has = jn__str_arg(c, a, nargs, &s, &n);
    if (has <= 0)
        return has;
    char e[160];
    out->j = asl_json_parse(s, n, e, sizeof e);
    if (out->j == NULL)
        return jn__fail(c, "D3140", "Unable to parse the JSON string: %s", e);
    return 0;
}

/* ---- the table --------------------------------------------------------- */

/* the string functions' rows are in asl_jsonata_builtins_str.c */
static const bdef builtins[] = {
    {"sum", bi_sum, 0}, {"count", bi_count, 0}, {"max", bi_max, 0}, {"min", bi_min, 0},
    {"average", bi_average, 0}, {"string", bi_string, 1}, {"number", bi_number, 1},
    {"boolean", bi_boolean, 1}, {"not", bi_not, 1}, {"exists", bi_exists, 0},
    {"keys", bi_keys, 0}, {"lookup", bi_lookup, 0}, {"merge", bi_merge, 0}, {"append", bi_append, 0},
    {"reverse", bi_reverse, 0}, {"sort", bi_sort, 0}, {"distinct", bi_distinct, 0},
    {"shuffle", bi_shuffle, 0}, {"abs", bi_abs, 1}, {"floor", bi_floor, 1}, {"ceil", bi_ceil, 1},
    {"round", bi_round, 0}, {"power", bi_power, 0}, {"sqrt", bi_sqrt, 1},
    {"random", bi_random, 0}, {"now", bi_now, 0}, {"millis", bi_millis, 0},
    {"toMillis", bi_toMillis, 1}, {"fromMillis", bi_fromMillis, 1}, {"type", bi_type, 0},
    {"map", bi_map, 0}, {"filter", bi_filter, 0}, {"each", bi_each, 0}, {"sift", bi_sift, 0},
    {"reduce", bi_reduce, 0}, {"error", bi_error, 0}, {"assert", bi_assert, 0},
    {"partition", bi_partition, 0}, {"range", bi_range, 0}, {"hash", bi_hash, 0},
    {"uuid", bi_uuid, 0}, {"parse", bi_parse, 0},
};

int jn__bi_dispatch(ectx *c, const struct bdef *d, val *a, size_t nargs, json_t *in, val *out)
{
    c->fname = d->name;
    if (d->ctxarg && nargs + 1 == (size_t)d->ctxarg) {
        val *b = calloc(nargs + 1, sizeof *b);
        if (b == NULL)
            return jn__oom(c);
        b[0].j = in;
        for (size_t i = 0; i < nargs; i++)
            b[i + 1] = a[i];
        int rc = d->fn(c, b, nargs + 1, in, out);
        free(b);
        return rc;
    }
    return d->fn(c, a, nargs, in, out);
}

int jn__builtin_lookup(ectx *c, const char *name, val *out)
{
    const bdef *d = NULL;
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0] && d == NULL; i++)
        if (strcmp(builtins[i].name, name) == 0)
            d = &builtins[i];
    if (d == NULL)
        d = jn__string_builtin(name);
    if (d == NULL)
        return 0;
    fnval *f = jn__fn_new(c);
    if (f == NULL)
        return -1;
    f->bdef = d;
    out->fn = f;
    return 0;
}
