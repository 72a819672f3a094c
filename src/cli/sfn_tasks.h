/*
 * sfn_tasks.h - how `sfn run` resolves a Task's resource into a result.
 *
 * Without a template every Lambda function is missing, and the task fails
 * as AWS fails it (Lambda.ResourceNotFoundException). With --template the
 * functions of the SAM template are run as their built bootstraps.
 */
#ifndef SFN_TASKS_H
#define SFN_TASKS_H

#include <jansson.h>
#include <stdint.h>

typedef struct sfn_tasks sfn_tasks;

typedef struct sfn_task_result {
    json_t *result;  /* OUT: new reference on success */
    char *error;     /* OUT: malloc'd error name on failure */
    char *cause;     /* OUT: malloc'd cause */
    int64_t elapsed_ms;
    int timed_out;   /* the task ran past timeout_s */
} sfn_task_result;

/* template may be NULL. Returns NULL when the template cannot be loaded. */
sfn_tasks *sfn_tasks_create(const char *template_path);
void sfn_tasks_free(sfn_tasks *t);
void sfn_tasks_invoke(sfn_tasks *t, const char *resource, const char *function, json_t *payload, int timeout_s,
                      sfn_task_result *r);
void sfn_task_result_cleanup(sfn_task_result *r);
/* Replace DefinitionSubstitutions placeholders (${Key}) in a definition's
 * text: with the template's function ARNs/names when t has a template, else
 * with placeholder Lambda ARNs (so a DefinitionUri file validates on its
 * own). t may be NULL. Returns malloc'd text. */
char *sfn_tasks_substitute(const sfn_tasks *t, const char *text);

#endif
