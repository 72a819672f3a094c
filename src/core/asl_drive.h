/*
 * asl_drive.h - run an execution to its end, in-process: start it, answer
 * its commands (tasks through a callback of the caller's, timers on a
 * virtual clock), loop until it ends. The one driver of `sfn run`, the ASL
 * cases, sfn-bench and the execution fuzzer; sfnd's runner drives
 * executions its own way (persisted, one step per event-loop turn).
 *
 * No I/O here: a task's answer comes from the callback; time is virtual
 * (it jumps to the next timer's due time) unless the caller gives a clock.
 *
 * Two orders:
 *   ASL_DRIVE_SERIAL  tasks run one at a time, in the order the core asks
 *                     for them; each answer is fed as soon as its turn
 *                     comes, the clock moving on by the time the task took;
 *                     timers (and inputs given with asl_drive_at) fire only
 *                     when no answer is waiting, earliest first. What a
 *                     synchronous caller sees (`sfn run`, the benchmark,
 *                     the fuzzer).
 *   ASL_DRIVE_TIMED   tasks run side by side: an answer arrives after_ms
 *                     after the task was asked for, and everything (answers,
 *                     timers, inputs) is fed in time order, ties in the
 *                     order they were asked for (asl_drive_at inputs first).
 *                     A task answering after its TimeoutSeconds loses to its
 *                     timer, as in AWS (the ASL cases).
 *
 * Threading: an asl_drive belongs to one thread; it may run any number of
 * executions one after the other (it allocates only when it grows).
 */
#ifndef ASL_DRIVE_H
#define ASL_DRIVE_H

#include "asl.h"

typedef struct asl_drive asl_drive;

enum asl_drive_order { ASL_DRIVE_SERIAL = 0, ASL_DRIVE_TIMED = 1 };

/* A task's answer. The callback gets it zeroed (no answer). */
typedef struct asl_drive_answer {
    int kind;           /* ASL_IN_TASK_SUCCEEDED, ASL_IN_TASK_FAILED, or
                           ASL_IN_STOP (the execution is stopped instead);
                           0: no answer (the task hangs: its timeout or
                           heartbeat timer, if any, decides) */
    json_t *result_new; /* SUCCEEDED: the task's output, a reference the
                           driver takes (NULL: null) */
    const char *error;  /* FAILED, STOP: error and cause (NULL ok), copied */
    const char *cause;
    int64_t after_ms;   /* how long the task took (virtual time; SERIAL: the
                           clock moves on by it even without an answer) */
} asl_drive_answer;

/* Called once for each ASL_CMD_INVOKE, as soon as the core issues it
 * (before anything else is fed), in the order it issues them; now_ms is the
 * driver's clock. A task asked for runs even if an answer fed before its
 * own then ends the execution or cancels the task (a failed Parallel
 * branch): its answer is dropped, or ignored by the core. a->error and
 * a->cause are copied when the callback returns: they need not outlive the
 * call. */
typedef void (*asl_drive_task_fn)(void *ctx, const asl_cmd *cmd, int64_t now_ms, asl_drive_answer *a);

typedef struct asl_drive_opts {
    int order;                /* enum asl_drive_order */
    asl_drive_task_fn task;   /* NULL: no task is ever answered */
    /* NULL: the virtual clock. Else the real one: returns the time now,
     * after waiting (as long as it likes) for until_ms when that is later;
     * an input due at T is fed once the clock has reached T, stamped with
     * the clock's time; a SERIAL answer is stamped with the time the clock
     * gives after its task. */
    int64_t (*clock)(void *ctx, int64_t until_ms);
    /* NULL, or told of each input fed and asl_exec_feed's answer to it
     * (e.g. to replay the execution from its inputs) */
    void (*fed)(void *ctx, const asl_input *in, int rc);
    void *ctx;                /* passed to the three */
    size_t max_feeds;         /* stop after this many feeds; 0: no limit */
} asl_drive_opts;

/* Returns NULL when out of memory. */
asl_drive *asl_drive_new(const asl_drive_opts *o);
void asl_drive_free(asl_drive *d);

/* An input of the caller's (e.g. ASL_IN_STOP) to feed at at_ms in the next
 * asl_drive_run (its now_ms is set then). Copied (result: a reference).
 * Returns SFN_OK or SFN_ENOMEM. */
int asl_drive_at(asl_drive *d, int64_t at_ms, const asl_input *in);

/* Drive x, just started at start_ms (asl_exec_start; its first commands are
 * still there), until it ends, waits on something nobody will answer (a
 * task token, a task that hangs with no timeout), or max_feeds is reached.
 * What is left undone is dropped. Returns x's status (enum asl_status:
 * ASL_RUNNING when it was left waiting), or SFN_ENOMEM (the execution is
 * left as it was, running). */
int asl_drive_run(asl_drive *d, asl_exec *x, int64_t start_ms);

#endif
