/*
 * asl_jsonata_eval.c - the JSONata evaluator: walks the AST of
 * asl_jsonata_parse.c with jsonata's sequence semantics (paths, predicates,
 * operators, blocks, bindings, lambdas, partial application, ~>), and the
 * evaluation half of the public API with AWS's causes
 * (States.QueryEvaluationError).
 *
 * Must not do I/O, read the clock or call rand() (built-ins get time and
 * randomness through the ectx). Every evaluation is bounded: MAX_STEPS
 * steps, MAX_EVAL_DEPTH of nesting and recursion.
 */
#include "asl_jsonata_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Evaluator
 * ==================================================================== */

static int ev(ectx *c, const node *n, json_t *in, frame *env, val *out);

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
                *out = jn__vcopy(&b->v);
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
    return jn__builtin_lookup(c, name, out);
}

int jn__lookup_name(ectx *c, json_t *in, const char *name, val *out)
{
    *out = UNDEF;
    if (json_is_array(in)) {
        val s;
        if (jn__seq_init(c, &s) < 0)
            return -1;
        for (size_t i = 0; i < json_array_size(in); i++) {
            val r;
            if (jn__lookup_name(c, json_array_get(in, i), name, &r) < 0) {
                jn__vfree(&s);
                return -1;
            }
            int rc = 0;
            if (json_is_array(r.j)) {
                for (size_t k = 0; k < json_array_size(r.j) && rc == 0; k++)
                    rc = jn__arr_push(c, s.j, json_array_get(r.j, k));
            } else if (r.j)
                rc = jn__arr_push(c, s.j, r.j);
            jn__vfree(&r);
            if (rc < 0) {
                jn__vfree(&s);
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
        return jn__arr_push(c, dst, v);
    for (size_t i = 0; i < json_array_size(v); i++)
        if (flatten_into(c, dst, json_array_get(v, i)) < 0)
            return -1;
    return 0;
}

static int ev_wildcard(ectx *c, json_t *in, val *out)
{
    if (jn__seq_init(c, out) < 0)
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
        return jn__fail(c, "U1005", "Input nested too deeply");
    if (!json_is_array(v) && jn__arr_push(c, dst, v) < 0)
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

/* evaluateFilter: predicate applied to a value taken as a sequence */
static int filter(ectx *c, const node *pred, val *v, frame *env)
{
    if (!jn__defined(v) || v->fn)
        return 0;
    json_t *items;
    if (json_is_array(v->j))
        items = json_incref(v->j);
    else {
        items = json_array();
        if (items == NULL || json_array_append(items, v->j) < 0) {
            json_decref(items);
            return jn__oom(c);
        }
    }
    size_t n = json_array_size(items);
    val res;
    if (jn__seq_init(c, &res) < 0) {
        json_decref(items);
        return -1;
    }
    int rc = 0;
    if (pred->type == N_LIT && jn__is_number(pred->lit)) {
        double d = floor(jn__numv(pred->lit));
        if (d < 0)
            d += (double)n;
        if (d >= 0 && d < (double)n) {
            json_t *item = json_array_get(items, (size_t)d);
            if (json_is_array(item)) {
                jn__vfree(&res);
                res.j = json_incref(item);
            } else
                rc = jn__arr_push(c, res.j, item);
        }
    } else {
        for (size_t i = 0; i < n && rc == 0; i++) {
            json_t *item = json_array_get(items, i);
            val r;
            if ((rc = ev(c, pred, item, env, &r)) < 0)
                break;
            if (jn__is_number(r.j) || (json_is_array(r.j) && json_array_size(r.j) > 0)) {
                int allnum = 1;
                if (json_is_array(r.j))
                    for (size_t k = 0; k < json_array_size(r.j); k++)
                        if (!jn__is_number(json_array_get(r.j, k)))
                            allnum = 0;
                if (allnum) {
                    size_t m = json_is_array(r.j) ? json_array_size(r.j) : 1;
                    for (size_t k = 0; k < m && rc == 0; k++) {
                        json_t *x = json_is_array(r.j) ? json_array_get(r.j, k) : r.j;
                        double d = floor(jn__numv(x));
                        if (d < 0)
                            d += (double)n;
                        if (d == (double)i)
                            rc = jn__arr_push(c, res.j, item);
                    }
                    jn__vfree(&r);
                    continue;
                }
            }
            if (jn__truthy(&r))
                rc = jn__arr_push(c, res.j, item);
            jn__vfree(&r);
        }
    }
    json_decref(items);
    if (rc < 0) {
        jn__vfree(&res);
        return -1;
    }
    jn__vfree(v);
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
        return jn__oom(c);
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
            jn__vfree(&v);
    }
    if (rc == 0) {
        if (last && nr == 1 && json_is_array(rs[0].j) && !rs[0].seq) {
            *out = rs[0];
            rs[0] = UNDEF;
        } else if ((rc = jn__seq_init(c, out)) == 0) {
            for (size_t i = 0; i < nr && rc == 0; i++) {
                if (json_is_array(rs[i].j) && !rs[i].cons) {
                    for (size_t k = 0; k < json_array_size(rs[i].j) && rc == 0; k++)
                        rc = jn__arr_push(c, out->j, json_array_get(rs[i].j, k));
                } else
                    rc = jn__arr_push(c, out->j, rs[i].j);
            }
            if (rc < 0)
                jn__vfree(out);
        }
    }
    for (size_t i = 0; i < nr; i++)
        jn__vfree(&rs[i]);
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
        return jn__oom(c);
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
            jn__vfree(&cur);
            return -1;
        }
        jn__vfree(&cur);
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
                jn__vfree(&cur);
                return jn__oom(c);
            }
        }
    }
    json_decref(items);
    if (n->keep_array && cur.j) {
        if (json_is_array(cur.j) && cur.cons && !cur.seq) {
            val s;
            if (jn__seq_init(c, &s) < 0 || jn__arr_push(c, s.j, cur.j) < 0) {
                jn__vfree(&s);
                jn__vfree(&cur);
                return -1;
            }
            jn__vfree(&cur);
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
        jn__sb_put(b, json_string_value(v->j), json_string_length(v->j));
    else
        jn__put_json(b, v->j, 1, 0, 0);
}

static int ev_binary(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    val l = UNDEF, r = UNDEF;
    int rc = 0;
    if (n->op == OP_AND || n->op == OP_OR) {
        if (ev(c, n->a, in, env, &l) < 0)
            return -1;
        int lt = jn__truthy(&l);
        jn__vfree(&l);
        if ((n->op == OP_AND && !lt) || (n->op == OP_OR && lt)) {
            out->j = json_boolean(lt);
            return 0;
        }
        if (ev(c, n->b, in, env, &r) < 0)
            return -1;
        out->j = json_boolean(jn__truthy(&r));
        jn__vfree(&r);
        return 0;
    }
    if (ev(c, n->a, in, env, &l) < 0)
        return -1;
    if (ev(c, n->b, in, env, &r) < 0) {
        jn__vfree(&l);
        return -1;
    }
    const char *ot = op_text(n->op);
    switch (n->op) {
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MOD: {
        if (jn__defined(&l) && !jn__is_number(l.j)) {
            rc = jn__fail(c, "T2001", "The left side of the \"%s\" operator must evaluate to a number", ot);
            break;
        }
        if (jn__defined(&r) && !jn__is_number(r.j)) {
            rc = jn__fail(c, "T2002", "The right side of the \"%s\" operator must evaluate to a number", ot);
            break;
        }
        if (!jn__defined(&l) || !jn__defined(&r))
            break;
        double x = jn__numv(l.j), y = jn__numv(r.j), z;
        switch (n->op) {
        case OP_ADD: z = x + y; break;
        case OP_SUB: z = x - y; break;
        case OP_MUL: z = x * y; break;
        case OP_DIV: z = x / y; break;
        default: z = fmod(x, y); break;
        }
        rc = jn__mknum(c, z, out);
        break;
    }
    case OP_EQ: case OP_NE: {
        int eq = 0;
        if (l.j && r.j && !l.fn && !r.fn)
            eq = jn__deep_eq(l.j, r.j);
        if (!jn__defined(&l) || !jn__defined(&r))
            out->j = json_false();
        else
            out->j = json_boolean(n->op == OP_EQ ? eq : !eq);
        break;
    }
    case OP_LT: case OP_LE: case OP_GT: case OP_GE: {
        int lc = !l.fn && (l.j == NULL || json_is_string(l.j) || jn__is_number(l.j));
        int rcmp = !r.fn && (r.j == NULL || json_is_string(r.j) || jn__is_number(r.j));
        if (!lc || !rcmp) {
            rc = jn__fail(c, "T2010", "The expressions either side of operator \"%s\" must evaluate to numeric or string values", ot);
            break;
        }
        if (l.j == NULL || r.j == NULL)
            break;
        int cmp;
        if (jn__is_number(l.j) && jn__is_number(r.j)) {
            double x = jn__numv(l.j), y = jn__numv(r.j);
            cmp = x < y ? -1 : x > y ? 1 : 0;
        } else if (json_is_string(l.j) && json_is_string(r.j)) {
            size_t a = json_string_length(l.j), b = json_string_length(r.j);
            int m = memcmp(json_string_value(l.j), json_string_value(r.j), a < b ? a : b);
            cmp = m ? m : a < b ? -1 : a > b ? 1 : 0;
        } else {
            char *a = jn__msg_text(&l), *b = jn__msg_text(&r);
            rc = jn__fail(c, "T2009", "The values %s and %s either side of operator \"%s\" must be of the same data type",
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
                    found = jn__deep_eq(l.j, json_array_get(r.j, i));
            } else
                found = jn__deep_eq(l.j, r.j);
        }
        out->j = json_boolean(found);
        break;
    }
    case OP_CONCAT: {
        sbuf b = {0};
        to_text(&b, &l);
        to_text(&b, &r);
        rc = jn__sb_done(c, &b, out);
        break;
    }
    default:
        rc = jn__fail(c, "S0201", "Syntax error");
    }
    jn__vfree(&l);
    jn__vfree(&r);
    return rc;
}

static int ev_array(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    json_t *a = json_array();
    if (a == NULL)
        return jn__oom(c);
    for (size_t i = 0; i < n->nkids; i++) {
        val v;
        if (ev(c, n->kids[i], in, env, &v) < 0) {
            json_decref(a);
            return -1;
        }
        int rc = 0;
        if (v.j) {
            if (n->kids[i]->type == N_ARRAY || !json_is_array(v.j))
                rc = jn__arr_push(c, a, v.j);
            else
                for (size_t k = 0; k < json_array_size(v.j) && rc == 0; k++)
                    rc = jn__arr_push(c, a, json_array_get(v.j, k));
        }
        jn__vfree(&v);
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
        return jn__oom(c);
    for (size_t i = 0; i + 1 < n->nkids; i += 2) {
        val k, v;
        if (ev(c, n->kids[i], in, env, &k) < 0)
            goto fail;
        if (!json_is_string(k.j)) {
            char *t = jn__msg_text(&k);
            jn__vfree(&k);
            jn__fail(c, "T1003", "Key in object structure must evaluate to a string; got: %s", t ? t : "?");
            free(t);
            goto fail;
        }
        if (json_object_get(o, json_string_value(k.j))) {
            jn__fail(c, "D1009", "Multiple key definitions evaluate to same key: \"%s\"", json_string_value(k.j));
            jn__vfree(&k);
            goto fail;
        }
        if (ev(c, n->kids[i + 1], in, env, &v) < 0) {
            jn__vfree(&k);
            goto fail;
        }
        int rc = v.j ? json_object_set(o, json_string_value(k.j), v.j) : 0;
        jn__vfree(&k);
        jn__vfree(&v);
        if (rc < 0) {
            jn__oom(c);
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
        jn__vfree(&l);
        return -1;
    }
    int rc = 0;
    if (jn__defined(&l) && (!jn__is_number(l.j) || jn__numv(l.j) != floor(jn__numv(l.j))))
        rc = jn__fail(c, "T2003", "The left side of the range operator (..) must evaluate to an integer");
    else if (jn__defined(&r) && (!jn__is_number(r.j) || jn__numv(r.j) != floor(jn__numv(r.j))))
        rc = jn__fail(c, "T2004", "The right side of the range operator (..) must evaluate to an integer");
    else if (l.j && r.j && jn__numv(l.j) <= jn__numv(r.j)) {
        double a = jn__numv(l.j), b = jn__numv(r.j), size = b - a + 1;
        if (size > MAX_RANGE)
            rc = jn__fail(c, "D2014", "The size of the sequence allocated by the range operator (..) must not exceed 1e7.  Attempted to allocate %.0f.", size);
        else if (size > MAX_ITEMS)
            rc = jn__fail(c, "U1003", "Array result too large");
        else if ((out->j = json_array()) == NULL)
            rc = jn__oom(c);
        else
            for (double x = a; x <= b && rc == 0; x++) {
                json_t *nj = jn__num_new(x);
                if (nj == NULL || json_array_append_new(out->j, nj) < 0)
                    rc = jn__oom(c);
            }
    }
    jn__vfree(&l);
    jn__vfree(&r);
    if (rc < 0)
        jn__vfree(out);
    return rc;
}

static int keep_ctx(ectx *c, json_t *in)
{
    if (in == NULL)
        return 0;
    if (c->keep == NULL && (c->keep = json_array()) == NULL)
        return jn__oom(c);
    return json_array_append(c->keep, in) < 0 ? jn__oom(c) : 0;
}

static int resolve_proc(ectx *c, const node *p, json_t *in, frame *env, val *out)
{
    if (ev(c, p, in, env, out) < 0)
        return -1;
    if (out->fn)
        return 0;
    jn__vfree(out);
    if (p->type == N_PATH && p->nkids == 1 && p->kids[0]->type == N_NAME)
        return jn__fail(c, "T1005", "Attempted to invoke a non-function. Did you mean $%s?", p->kids[0]->s);
    return jn__fail(c, "T1006", "Attempted to invoke a non-function");
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
                jn__vfree(&args[k]);
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
        return jn__oom(c);
    if (piped)
        args[0] = jn__vcopy(piped);
    if (ev_args(c, n, in, env, args, first) < 0) {
        free(args);
        return -1;
    }
    int rc;
    if (n->partial) {
        fnval *f = jn__fn_new(c);
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
        rc = jn__call_fn(c, proc.fn, args, nargs, in, out);
    for (size_t i = 0; i < nargs; i++)
        jn__vfree(&args[i]);
    free(args);
    return rc;
}

int jn__call_fn(ectx *c, fnval *f, val *args, size_t nargs, json_t *in, val *out)
{
    *out = UNDEF;
    if (++c->depth > MAX_EVAL_DEPTH) {
        c->depth--;
        return jn__fail(c, "U1005", "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
    }
    int rc;
    if (f->target) {
        size_t total = f->nbound;
        val *all = calloc(total ? total : 1, sizeof *all);
        if (all == NULL) {
            c->depth--;
            return jn__oom(c);
        }
        size_t k = 0;
        for (size_t i = 0; i < total; i++)
            all[i] = f->bound[i].hole ? (k < nargs ? jn__vcopy(&args[k++]) : UNDEF) : jn__vcopy(&f->bound[i]);
        rc = jn__call_fn(c, f->target, all, total, in, out);
        for (size_t i = 0; i < total; i++)
            jn__vfree(&all[i]);
        free(all);
    } else if (f->bdef) {
        rc = jn__bi_dispatch(c, f->bdef, args, nargs, in, out);
    } else if (f->lambda) {
        frame *fr = jn__frame_new(c, f->closure);
        rc = fr ? 0 : -1;
        for (size_t i = 0; i < f->lambda->nparams && rc == 0; i++) {
            val v = i < nargs ? jn__vcopy(&args[i]) : UNDEF;
            rc = jn__frame_bind(c, fr, f->lambda->params[i], &v);
        }
        if (rc == 0)
            rc = ev(c, f->lambda->a, f->cin, fr, out);
    } else
        rc = jn__fail(c, "T1006", "Attempted to invoke a non-function");
    c->depth--;
    return rc;
}

int jn__fn_arity(const fnval *f)
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
        fnval *f = jn__fn_new(c);
        if (f == NULL)
            return -1;
        f->rxn = n;
        out->fn = f;
        return 0;
    }
    case N_NAME:
        return jn__lookup_name(c, in, n->s, out);
    case N_WILD:
        return ev_wildcard(c, in, out);
    case N_DESC:
        if (jn__seq_init(c, out) < 0)
            return -1;
        return in ? descend(c, out->j, in, 0) : 0;
    case N_PARENT:
        return jn__fail(c, "S0217", "The object representing the 'parent' cannot be derived from this expression");
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
        if (jn__defined(&v) && !jn__is_number(v.j)) {
            char *t = jn__msg_text(&v);
            rc = jn__fail(c, "D1002", "Cannot negate a non-numeric value: %s", t ? t : "?");
            free(t);
        } else if (v.j)
            rc = jn__mknum(c, -jn__numv(v.j), out);
        jn__vfree(&v);
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
        int t = jn__truthy(&v);
        jn__vfree(&v);
        if (t)
            return ev(c, n->b, in, env, out);
        return n->c ? ev(c, n->c, in, env, out) : 0;
    }
    case N_BLOCK: {
        frame *f = jn__frame_new(c, env);
        if (f == NULL)
            return -1;
        for (size_t i = 0; i < n->nkids; i++) {
            jn__vfree(out);
            if (ev(c, n->kids[i], in, f, out) < 0)
                return -1;
        }
        return 0;
    }
    case N_BIND: {
        if (ev(c, n->a, in, env, out) < 0)
            return -1;
        val cp = jn__vcopy(out);
        return jn__frame_bind(c, env, n->s, &cp);
    }
    case N_CALL:
        return ev_call(c, n, in, env, out, NULL);
    case N_LAMBDA: {
        fnval *f = jn__fn_new(c);
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
                jn__vfree(&f);
                rc = jn__fail(c, "T2006", "The right side of the function application operator ~> must be a function");
            } else if (rc == 0) {
                rc = jn__call_fn(c, f.fn, &l, 1, in, out);
                jn__vfree(&f);
            }
        }
        jn__vfree(&l);
        return rc;
    }
    case N_PLACEHOLDER:
        return jn__fail(c, "S0201", "Syntax error: \"?\"");
    }
    return jn__fail(c, "S0201", "Syntax error");
}

static int ev(ectx *c, const node *n, json_t *in, frame *env, val *out)
{
    *out = UNDEF;
    if (++c->steps > MAX_STEPS)
        return jn__fail(c, "U1004", "Evaluation exceeded its step budget");
    if (++c->depth > MAX_EVAL_DEPTH) {
        c->depth--;
        return jn__fail(c, "U1005", "Stack overflow error: Check for non-terminating recursive function.  Consider rewriting as tail-recursive.");
    }
    int rc = ev_inner(c, n, in, env, out);
    for (size_t i = 0; i < n->npreds && rc == 0; i++)
        rc = filter(c, n->preds[i], out, env);
    if (rc == 0)
        jn__seq_finish(out, n->keep_array);
    else
        jn__vfree(out);
    c->depth--;
    return rc;
}

/* ======================================================================
 * Public API: evaluation and its causes
 * ==================================================================== */

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
    frame *root = jn__frame_new(&c, NULL);
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
    jn__vfree(&v);
    jn__ectx_cleanup(&c);
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
                 asl__json_type_name(value), t ? t : "null");
        set_cause(err, e, field, what);
    } else
        set_cause(err, e, field, "returned an unexpected result type.");
    free(what);
    free(t);
}
