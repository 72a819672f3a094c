/*
 * asl_machine_int.h - the compiled form of a state machine, shared by
 * asl_machine.c (compile) and the files that run it (asl_exec_int.h).
 * Immutable after compile.
 */
#ifndef ASL_MACHINE_INT_H
#define ASL_MACHINE_INT_H

#include "asl.h"
#include "asl_choice.h"
#include "asl_int.h"
#include "asl_jsonata.h"
#include "asl_path.h"

enum st_type { ST_TASK = 1, ST_PASS, ST_CHOICE, ST_WAIT, ST_SUCCEED, ST_FAIL, ST_PARALLEL, ST_MAP };

/* How a Task's Resource is run, which decides its history events. */
enum task_kind {
    TK_OTHER = 0,   /* a service integration we only pass through */
    TK_LAMBDA_ARN,  /* plain function ARN: LambdaFunction* events */
    TK_LAMBDA_INVOKE, /* arn:aws:states:::lambda:invoke: Task* events, wrapped result */
    TK_ACTIVITY,
};

typedef struct retrier {
    char **errs;
    int nerrs;
    double interval;    /* IntervalSeconds, default 1 */
    int max_attempts;   /* MaxAttempts, default 3 */
    double backoff;     /* BackoffRate, default 2.0 */
    double max_delay;   /* MaxDelaySeconds, <= 0: none */
    int jitter_full;    /* JitterStrategy FULL */
} retrier;

typedef struct catcher {
    char **errs;
    int nerrs;
    int next;              /* state index */
    asl_path *result_path; /* NULL with result_null=0: "$" */
    int result_null;       /* ResultPath: null -> keep the input */
    asl_tmpl *assign;
    asl_jtmpl *j_output;   /* JSONata: Output ($states.errorOutput) */
    asl_jtmpl *j_assign;   /* JSONata: Assign */
} catcher;

typedef struct prog prog;

typedef struct state {
    char *name;
    int type;
    int next; /* state index, -1 when End */
    int uses_ctx; /* the state reads $$: build the context object */
    int jsonata;  /* QueryLanguage JSONata (the state's, else the machine's) */

    /* JSONata fields (AWS-FACTS 3.2): templates whose "{% %}" strings are
     * expressions over $states and the variables */
    asl_jtmpl *j_args;      /* Arguments (Task, Parallel) */
    asl_jtmpl *j_output;    /* Output */
    asl_jtmpl *j_assign;    /* Assign */
    asl_jtmpl *j_items;     /* Map Items */
    asl_jtmpl *j_selector;  /* Map ItemSelector */
    asl_jtmpl *j_max_conc, *j_tol_count, *j_tol_pct; /* Map */
    asl_jtmpl *j_seconds, *j_timestamp;   /* Wait */
    asl_jtmpl *j_error, *j_cause;         /* Fail */
    asl_jtmpl *j_timeout, *j_heartbeat;   /* Task */
    asl_jtmpl **rule_cond, **rule_output, **rule_jassign; /* Choice rules */

    asl_path *input_path;  int input_null;  /* InputPath (null -> {}) */
    asl_path *output_path; int output_null; /* OutputPath (null -> {}) */
    asl_path *result_path; int result_null; /* ResultPath (null -> input) */
    asl_tmpl *parameters;      /* Parameters / ItemSelector (Map) */
    asl_tmpl *result_selector;
    asl_tmpl *assign;
    json_t *result;            /* Pass: Result */

    /* Task */
    char *resource;
    int task_kind;
    int wait_token;            /* .waitForTaskToken */
    char *res_type;            /* history resourceType, e.g. "lambda" */
    char *res_name;            /* history resource, e.g. "invoke" */
    int timeout_s;  asl_path *timeout_path;
    int heartbeat_s; asl_path *heartbeat_path;
    retrier *retry; int nretry;
    catcher *catch; int ncatch;

    /* Choice */
    int nchoices;
    asl_choice_rule **rules;
    int *rule_next;
    asl_tmpl **rule_assign;
    int default_next; /* -1: none */

    /* Wait */
    int wait_kind; /* 1 Seconds, 2 Timestamp, 3 SecondsPath, 4 TimestampPath */
    int64_t seconds;
    int64_t ts_ms;
    asl_path *wait_path;

    /* Fail */
    char *error, *cause;
    asl_path *error_path, *cause_path;
    asl_intrinsic *error_fn, *cause_fn; /* ErrorPath/CausePath as an intrinsic call */

    /* Parallel */
    prog **branches; int nbranches;

    /* Map */
    prog *iter;
    asl_path *items_path;
    json_t *items;             /* literal items (distributed ItemReader-less) */
    int max_conc;  asl_path *max_conc_path;
    int has_tol_count; int tol_count; asl_path *tol_count_path;
    int has_tol_pct; double tol_pct; asl_path *tol_pct_path;
    int distributed;
    char *label;
} state;

struct prog {
    int n;
    state *s;
    int start;
};

struct asl_machine {
    json_t *def;
    prog *root;
    int timeout_s; /* TimeoutSeconds, 0 = none */
    int type;
    int jsonata;   /* top-level QueryLanguage is JSONata */
};

#endif
