/*
 * asl_jsonata_int.h - what the files of the JSONata module share: the AST,
 * the values and evaluation context, and the jn__ functions that cross
 * between the files. Included only by asl_jsonata_*.c; everyone else uses
 * asl_jsonata.h.
 *
 * The module implements JSONata as Step Functions runs it (jsonata 2.0.6's
 * sequence semantics: a path over arrays maps and flattens; a one-item
 * sequence is the item itself; undefined propagates). Written from the
 * JSONata documentation and observed behaviour, not from jsonata-js:
 *   asl_jsonata_parse.c         lexer and Pratt parser: text -> AST (compile once)
 *   asl_jsonata_value.c         values, evaluation context, numbers, text, sequences
 *   asl_jsonata_eval.c          the tree-walking evaluator; evaluation API and causes
 *   asl_jsonata_builtins.c      built-in functions: table, arguments, numbers, arrays, time, ...
 *   asl_jsonata_builtins_str.c  built-in string functions (incl. regex ones, base64)
 *   asl_jsonata_regex.c         a small backtracking regex engine
 *   asl_jsonata_tmpl.c          the JSON templates of JSONata fields (public API only)
 *
 * The whole module must not do I/O, read the clock or call rand(): time
 * comes from $states.context, randomness from asl_scope.rng. Everything is
 * bounded by the limits below.
 *
 * Names: types keep their short names; every function shared between
 * files is jn__name. File-local helpers are static and unprefixed.
 */
#ifndef ASL_JSONATA_INT_H
#define ASL_JSONATA_INT_H

#include "asl_jsonata.h"

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
 * AST (built by asl_jsonata_parse.c, read by the evaluator)
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

typedef struct rx rx; /* a compiled regex (asl_jsonata_regex.c) */

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

/* ======================================================================
 * Values and evaluation context (asl_jsonata_value.c)
 * ==================================================================== */

typedef struct ectx ectx;
typedef struct frame frame;
typedef struct val val;

typedef int (*builtin_fn)(ectx *c, val *args, size_t nargs, json_t *in, val *out);

/* A built-in function: one row of a table in asl_jsonata_builtins*.c. */
typedef struct bdef {
    const char *name;
    builtin_fn fn;
    int ctxarg; /* called with ctxarg-1 args: the context becomes argument 1 */
} bdef;

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

static inline int jn__defined(const val *v) { return v->j != NULL || v->fn != NULL; }
static inline double jn__numv(const json_t *j) { return json_number_value(j); }
static inline int jn__is_number(const json_t *j) { return json_is_number(j); }
static inline val jn__vcopy(const val *v)
{
    val r = *v;
    json_incref(r.j);
    return r;
}

void jn__vfree(val *v);
/* Record the evaluation's error (the first one wins); returns -1. */
int jn__fail(ectx *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int jn__oom(ectx *c);
frame *jn__frame_new(ectx *c, frame *parent);
/* bind steals v */
int jn__frame_bind(ectx *c, frame *f, const char *name, val *v);
fnval *jn__fn_new(ectx *c);
void jn__ectx_cleanup(ectx *c);

json_t *jn__num_new(double d);
int jn__mknum(ectx *c, double d, val *out);
/* A built-in's end: r (new) becomes *out when rc is 0; else r is freed.
 * Returns 0 or -1 (rc: 0, or -1 with the error recorded). */
int jn__ret_json(int rc, json_t *r, val *out);
int jn__mkstr(ectx *c, const char *s, size_t n, val *out);
/* JavaScript's Number#toString for finite d */
void jn__fmt_js_number(double d, char *out, size_t n);

/* A growing string, bounded by MAX_STR; bad: 1 out of memory, 2 too large. */
typedef struct sbuf {
    char *p;
    size_t n, cap;
    int bad;
} sbuf;
void jn__sb_put(sbuf *b, const char *s, size_t n);
void jn__sb_puts(sbuf *b, const char *s);
/* out = the string built (b's memory is freed either way) */
int jn__sb_done(ectx *c, sbuf *b, val *out);
/* JSON.stringify-like text; round15: numbers as $string rounds them */
void jn__put_json(sbuf *b, const json_t *v, int round15, int indent, int level);
/* Text of a value for error messages. Returns: malloc'd, may be NULL. */
char *jn__msg_text(const val *v);

int jn__deep_eq(const json_t *a, const json_t *b);
int jn__truthy(const val *v);

int jn__seq_init(ectx *c, val *s);
int jn__arr_push(ectx *c, json_t *arr, json_t *item /* borrowed */);
void jn__seq_finish(val *v, int keep_array);

/* ======================================================================
 * Evaluator (asl_jsonata_eval.c), as the built-in functions call it
 * ==================================================================== */

int jn__call_fn(ectx *c, fnval *f, val *args, size_t nargs, json_t *in, val *out);
int jn__fn_arity(const fnval *f);
int jn__lookup_name(ectx *c, json_t *in, const char *name, val *out);

/* ======================================================================
 * Built-in functions (asl_jsonata_builtins.c, asl_jsonata_builtins_str.c)
 * ==================================================================== */

/* out = the built-in called name as a function value; undefined if none */
int jn__builtin_lookup(ectx *c, const char *name, val *out);
int jn__bi_dispatch(ectx *c, const struct bdef *d, val *a, size_t nargs, json_t *in, val *out);
/* the string functions' rows, for jn__builtin_lookup; NULL if none */
const bdef *jn__string_builtin(const char *name);

/* argument helpers shared by the built-ins */
int jn__sig_err(ectx *c, size_t idx);
int jn__opt_str(ectx *c, val *a, size_t nargs, size_t i, const char **s, size_t *len);
/* The first argument of a string function: 1 and s/len when it is a
 * string; 0 when it is undefined (so is the function's result); -1 when
 * it is of another type (the signature error is set). */
int jn__str_arg(ectx *c, val *a, size_t nargs, const char **s, size_t *len);
int jn__opt_num(ectx *c, val *a, size_t nargs, size_t i, double *d, int *has);
json_t *jn__as_array(val *v);

/* ======================================================================
 * Regular expressions (asl_jsonata_regex.c)
 * ==================================================================== */

/* A match. groups: start/end pairs of the capture groups 1..ngroups (group g
 * at groups[2(g-1)] and groups[2(g-1)+1]); SIZE_MAX when the group did not
 * take part. As in JavaScript there is no limit on the number of groups, so
 * the pairs live in a buffer the search grows: start with rxmatch m = {0},
 * reuse m across searches, and jn__rxmatch_free(&m) when done. */
typedef struct rxmatch {
    size_t start, end;
    size_t *groups; /* into caps */
    int ngroups;
    size_t *caps;   /* the matcher's slots: 2 * (ngroups + 1) */
    size_t ncaps;
} rxmatch;

/* NULL with "S0303: ..." in err when the pattern is not supported */
rx *jn__regex_compile(const char *pat, size_t len, const char *flags, char *err, size_t errlen);
void jn__regex_free(rx *r);
/* 1 found (m filled), 0 not found, -1 error (set on c) */
int jn__regex_search(ectx *c, const rx *r, const char *s, size_t n, size_t from, rxmatch *m);
void jn__rxmatch_free(rxmatch *m);

#endif
