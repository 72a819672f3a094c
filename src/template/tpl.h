/*
 * tpl.h - the SAM template loader: what sfnd must create at start-up.
 *
 * Reads template.yaml with libyaml (CloudFormation's short forms !Ref,
 * !GetAtt, !Sub, !Join, !If, !Select, !Split, !Equals, !Not, !And, !Or,
 * !Condition are mapped to their long forms), applies Globals.Function, and
 * resolves intrinsics against the local names:
 *
 *   AWS::Serverless::Function      name = FunctionName or the logical ID;
 *                                  ARN arn:aws:lambda:<region>:<account>:function:<name>
 *   AWS::Serverless::StateMachine  name = Name or the logical ID;
 *                                  ARN arn:aws:states:<region>:<account>:stateMachine:<name>
 *   AWS::DynamoDB::Table,
 *   AWS::Serverless::SimpleTable   name = TableName or the logical ID
 *   AWS::StepFunctions::Activity   name = Name or the logical ID; !Ref gives the ARN
 *                                  arn:aws:states:<region>:<account>:activity:<name>,
 *                                  !GetAtt .Name the name
 *   AWS::SNS::Topic                name = TopicName or the logical ID;
 *                                  !Ref and !GetAtt .TopicArn give the ARN
 *                                  arn:aws:sns:<region>:<account>:<name>,
 *                                  !GetAtt .TopicName the name
 *
 * A state machine's Events of Type EventBridgeRule are kept (Pattern with
 * its intrinsics resolved, Input, InputPath) for the runner to match
 * execution status events against; other event types are listed as not
 * provided. Parameters resolve through !Ref to their Default, or to the
 * value given in tpl_opts.parameter_overrides (SAM CLI's
 * --parameter-overrides), checked against the template: an unknown key or
 * a value outside AllowedValues fails the load. Logical IDs must be
 * alphanumeric, as CloudFormation requires.
 *
 * tpl_opts.env_vars (SAM CLI's --env-vars file) gives each function
 * variables that win over everything else: "Parameters" applies to every
 * function, a function's logical ID to that one (it wins over Parameters).
 * Unlike SAM CLI every listed variable is set, declared in the template or
 * not. Values are strings; numbers and booleans become their text as SAM
 * CLI writes them (3, 1.5, true); null, objects and arrays fail the load,
 * as do a key that is not a function's logical ID, a name not
 * [A-Za-z_][A-Za-z0-9_]*, and a name the local Lambda owns (lam_env.h).
 *
 * A function's code is found as `sam build` leaves it (tpl_code.c): its
 * CodeUri folder (relative to the template's directory and confined to
 * it), .aws-sam/build/<LogicalId>/ and build/<LogicalId>/, the newer
 * preferred; tpl_function.looked lists the places looked at when none
 * holds it. A resource whose Condition is false is not created.
 *
 * (CloudFormation would append a random suffix to generated names; locally
 * the logical ID is kept so the names are stable across restarts and easy
 * to type.) Anything else is listed as not provided locally.
 *
 * Must not: start processes, touch the store, know the loop.
 *
 * Strings returned are borrowed from the tpl and live until tpl_free.
 */
#ifndef SFN_TPL_H
#define SFN_TPL_H

#include <jansson.h>
#include <stddef.h>

typedef struct tpl tpl;

typedef struct tpl_opts {
    const char *region;      /* default $AWS_REGION or "us-east-1" */
    const char *account;     /* default "123456789012" */
    const char *stack_name;  /* AWS::StackName, default "sfnd" */
    const char *bin_dir;     /* where <bin_dir>/functions/<LogicalId>/ (sfnd's own build of
                                this project's functions) is looked at first; NULL: only
                                the project (tpl_code.c) */
    const char *store_dir;   /* when the template has a table, every function
                                gets SFN_LOCAL_STORE_DIR=<store_dir>; NULL: not set */
    const char *parameter_overrides; /* "Key=Value Key2=Value2" (or SAM's
                                ParameterKey=K,ParameterValue=V form), separated by
                                white space; NULL: none */
    const json_t *env_vars;  /* borrowed, only during tpl_load: the --env-vars file
                                (SAM CLI's), {"Parameters": {VAR: value}, "<LogicalId>":
                                {VAR: value}}; checked here; NULL: none */
} tpl_opts;

typedef struct tpl_function {
    const char *logical_id;
    const char *name;
    const char *arn;
    const char *code_dir;    /* the folder the function runs from (its LAMBDA_TASK_ROOT):
                                sfnd's build, a sam build output or the CodeUri folder
                                (tpl_code.c); NULL when none holds it */
    const char *bootstrap;   /* provided.* (or no Runtime): <code_dir>/bootstrap, an
                                executable; NULL for other runtimes or when not found */
    const char *code_uri;    /* the CodeUri folder, absolute, inside the template's
                                directory (default: that directory); NULL when refused */
    const char *code_error;  /* why the function cannot run locally (a CodeUri outside
                                the project or in S3, an unknown runtime...), or NULL */
    const char *const *looked; /* when code_dir is NULL: "dir/ (what: why not)" for every
                                place looked at, NULL-terminated (never NULL) */
    const char *build_method; /* Metadata.BuildMethod (e.g. "makefile"), or NULL */
    const char *architecture; /* Architectures[0]: "x86_64" (default) or "arm64" */
    const char *handler;     /* Handler; default "bootstrap" for provided.* (NULL for
                                other runtimes when the template has none) */
    const char *runtime;     /* Runtime, e.g. "provided.al2023" (may be NULL) */
    const char *const *env;  /* "KEY=VALUE" ..., NULL-terminated: Environment.Variables
                                and SFN_LOCAL_STORE_DIR, less the names env_override sets */
    const char *const *env_override; /* "KEY=VALUE" ..., NULL-terminated (empty when
                                none): --env-vars Parameters, then this function's
                                entry (which wins); they win over env and over the
                                defaults of the local Lambda (lam_function_def) */
    int timeout_s;           /* Timeout, default 3 */
    int memory_mb;           /* MemorySize, default 128 */
} tpl_function;

/* An Events entry of Type EventBridgeRule of a state machine: start the
 * machine with each event matching pattern (SAM spec, "EventBridgeRule"). */
typedef struct tpl_rule {
    const char *id;          /* the key under Events, or Rule.TargetId for an
                                AWS::Events::Rule */
    const char *bus;         /* EventBusName (a name): "default" unless given */
    json_t *pattern;         /* borrowed: Properties.Pattern, intrinsics resolved */
    const char *input;       /* Properties.Input: JSON text used instead of the
                                event, or NULL */
    const char *input_path;  /* Properties.InputPath: JSONPath into the event, or NULL */
} tpl_rule;

typedef struct tpl_state_machine {
    const char *logical_id;
    const char *name;
    const char *arn;
    const char *role_arn;
    int type;                /* 0 STANDARD, 1 EXPRESS */
    json_t *definition;      /* borrowed: substitutions applied */
    const json_t *substitutions; /* DefinitionSubstitutions evaluated, or NULL */
    json_t *logging;         /* borrowed: Properties.Logging (SAM's LoggingConfiguration,
                                PascalCase), intrinsics resolved; NULL when absent */
    json_t *tracing;         /* borrowed: Properties.Tracing ({Enabled}), or NULL */
    const tpl_rule *rules;   /* its EventBridgeRule events */
    size_t nrules;
} tpl_state_machine;

typedef struct tpl_topic {
    const char *logical_id;
    const char *name;
    const char *arn;
} tpl_topic;

/* AWS::StepFunctions::Activity: created at start-up unless it exists. */
typedef struct tpl_activity {
    const char *logical_id;
    const char *name;
    const char *arn;
} tpl_activity;

/* AWS::SQS::Queue: Ref gives url, GetAtt Arn/QueueName/QueueUrl. */
typedef struct tpl_queue {
    const char *logical_id;
    const char *name;        /* QueueName or the logical ID (".fifo" added for
                                a FifoQueue that names none) */
    const char *arn;         /* arn:aws:sqs:<region>:<account>:<name> */
    const char *url;         /* https://sqs.<region>.amazonaws.com/<account>/<name> */
    int fifo;                /* FifoQueue: true */
    int content_dedup;       /* ContentBasedDeduplication: true */
} tpl_queue;

/* AWS::Events::EventBus (Ref gives the name, GetAtt Arn the ARN); the
 * default bus is always there and is not listed. */
typedef struct tpl_bus {
    const char *logical_id;
    const char *name;
    const char *arn;         /* arn:aws:events:<region>:<account>:event-bus/<name> */
} tpl_bus;

/* One target of an AWS::Events::Rule that is a state machine of the
 * template: the rule's pattern starts it (the rest of the rule is like an
 * EventBridgeRule event's). */
typedef struct tpl_evtarget {
    const char *rule_logical_id;
    const char *sm_arn;
    tpl_rule rule;           /* id "<Rule>.<TargetId>", bus, pattern, input, input_path */
} tpl_evtarget;

typedef struct tpl_table {
    const char *logical_id;
    const char *name;
} tpl_table;

/* The template's directory (absolute): the project, CodeUri's root. */
const char *tpl_dir(const tpl *t);

/* Load path. Returns 0 and *out, or a negative code with a message
 * ("template.yaml:12: ...") in err. */
int tpl_load(const char *path, const tpl_opts *opts, tpl **out, char *err, size_t errlen);
void tpl_free(tpl *t);

size_t tpl_function_count(const tpl *t);
const tpl_function *tpl_function_at(const tpl *t, size_t i);
size_t tpl_state_machine_count(const tpl *t);
const tpl_state_machine *tpl_state_machine_at(const tpl *t, size_t i);
size_t tpl_topic_count(const tpl *t);
const tpl_topic *tpl_topic_at(const tpl *t, size_t i);
size_t tpl_activity_count(const tpl *t);
const tpl_activity *tpl_activity_at(const tpl *t, size_t i);
size_t tpl_queue_count(const tpl *t);
const tpl_queue *tpl_queue_at(const tpl *t, size_t i);
size_t tpl_bus_count(const tpl *t);
const tpl_bus *tpl_bus_at(const tpl *t, size_t i);
size_t tpl_evtarget_count(const tpl *t);
const tpl_evtarget *tpl_evtarget_at(const tpl *t, size_t i);
size_t tpl_table_count(const tpl *t);
const tpl_table *tpl_table_at(const tpl *t, size_t i);
/* Resources not provided locally: "LogicalId (Type)". */
size_t tpl_unsupported_count(const tpl *t);
const char *tpl_unsupported_at(const tpl *t, size_t i);

/* Parse YAML text into JSON with the short forms mapped to long forms
 * ({"Ref": ...}, {"Fn::GetAtt": [...]} ...), unresolved. Exposed for tests
 * and for YAML state machine definitions. Returns: new, or NULL with err. */
json_t *tpl_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

#endif
