/*
 * fuzz_exec.c - run arbitrary definitions on arbitrary input to their end.
 *
 * Input: a definition (JSON), a NUL byte, the execution input (JSON), a NUL
 * byte, then answer bytes: each task gets the next byte (even: success with
 * the task's own payload, odd: an error whose name depends on the byte).
 * Timers fire in due order. Must never crash, leak or loop forever (the
 * core caps history at 25,000 events).
 */
#include "asl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const errors[] = {"States.ALL", "States.Timeout", "Lambda.ServiceException", "BookingFailed",
                                     "States.Runtime", "States.TaskFailed", "Custom", "States.DataLimitExceeded"};

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
    asl_diags d;
    if (asl_machine_compile_text((const char *)data, dlen, ASL_STANDARD, &m, &d) != SFN_OK)
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
    int64_t now = 1000;
    size_t ai = 0;
    for (int steps = 0; x && asl_exec_status(x) == ASL_RUNNING && steps < 2000; steps++) {
        const asl_cmd *c;
        size_t n = asl_exec_pending(x, &c);
        if (n == 0)
            break;
        size_t pick = 0;
        for (size_t i = 0; i < n; i++) {
            if (c[i].kind == ASL_CMD_INVOKE) {
                pick = i;
                break;
            }
            if (c[i].due_ms < c[pick].due_ms)
                pick = i;
        }
        asl_input in;
        memset(&in, 0, sizeof in);
        in.id = c[pick].id;
        json_t *payload = json_incref(c[pick].payload);
        if (c[pick].kind == ASL_CMD_TIMER) {
            in.kind = ASL_IN_TIMER;
            if (c[pick].due_ms > now)
                now = c[pick].due_ms;
        } else {
            uint8_t b = ai < alen ? ans[ai++] : 0;
            if (b & 1) {
                in.kind = ASL_IN_TASK_FAILED;
                in.error = errors[(b >> 1) % (sizeof errors / sizeof errors[0])];
                in.cause = "fuzz";
            } else {
                in.kind = ASL_IN_TASK_SUCCEEDED;
                in.result = payload ? payload : input;
            }
            if (b == 0xff) {
                in.kind = ASL_IN_STOP;
            }
        }
        in.now_ms = now;
        asl_exec_feed(x, &in);
        json_decref(payload);
    }
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
