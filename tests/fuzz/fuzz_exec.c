/*
 * fuzz_exec.c - run arbitrary definitions on arbitrary input to their end.
 *
 * Input: a definition (JSON), a NUL byte, the execution input (JSON), a NUL
 * byte, then answer bytes: each task gets the next byte (even: success with
 * the task's own payload, odd: an error whose name depends on the byte,
 * 0xff: the execution is stopped instead). The core's driver (asl_drive.h)
 * answers tasks one at a time and fires timers in due order, for 2,000
 * feeds at the most. Must never crash, leak or loop forever (the core caps
 * history at 25,000 events).
 */
#include "asl.h"
#include "asl_drive.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const errors[] = {"States.ALL", "States.Timeout", "Lambda.ServiceException", "BookingFailed",
                                     "States.Runtime", "States.TaskFailed", "Custom", "States.DataLimitExceeded"};

typedef struct answers {
    const uint8_t *p;
    size_t n, i;
    json_t *input;
} answers;

static void fuzz_task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *a)
{
    answers *as = ctx;
    uint8_t b = as->i < as->n ? as->p[as->i++] : 0;
    if (b & 1) {
        a->kind = b == 0xff ? ASL_IN_STOP : ASL_IN_TASK_FAILED;
        a->error = errors[(b >> 1) % (sizeof errors / sizeof errors[0])];
        a->cause = "fuzz";
    } else {
        a->kind = ASL_IN_TASK_SUCCEEDED;
        a->result_new = json_incref(c->payload ? c->payload : as->input);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *z1 = memchr(data, 0, size);
    if (z1 == NULL)
        return 0;
    size_t dlen = (size_t)(z1 - data);
    const uint8_t *rest = z1 + 1;
    size_t rlen = size - dlen - 1;
    const uint8_t *z2 = memchr(rest, 0, rlen);
    size_t ilen = z2 ? (size_t)(z2 - rest) : rlen;
    const uint8_t *ans = z2 ? z2 + 1 : rest + rlen;
    size_t alen = z2 ? rlen - ilen - 1 : 0;

    asl_machine *m = NULL;
    asl_diags diags;
    if (asl_machine_compile_text((const char *)data, dlen, ASL_STANDARD, &m, &diags) != SFN_OK)
        return 0;
    json_error_t je;
    json_t *input = json_loadb((const char *)rest, ilen, JSON_DECODE_ANY, &je);
    if (input == NULL)
        input = json_object();
    asl_exec_info info = {.execution_arn = "arn:aws:states:us-east-1:123456789012:execution:m:e",
                          .execution_name = "e",
                          .state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:m",
                          .state_machine_name = "m",
                          .role_arn = "r",
                          .start_ms = 1000,
                          .seed = 1};
    asl_exec *x = asl_exec_start(m, &info, input);
    answers as = {.p = ans, .n = alen, .input = input};
    asl_drive_opts o = {.order = ASL_DRIVE_SERIAL, .task = fuzz_task, .ctx = &as, .max_feeds = 2000};
    asl_drive *d = asl_drive_new(&o);
    if (x && d)
        asl_drive_run(d, x, info.start_ms);
    asl_drive_free(d);
    if (x) {
        size_t ne = asl_exec_event_count(x);
        for (size_t i = 0; i < ne && i < 64; i++)
            json_decref(asl_exec_event_json(x, i, 1));
    }
    asl_exec_free(x);
    json_decref(input);
    asl_machine_free(m);
    return 0;
}
