/*
 * conformance_fn.c - C equivalents of the tiny Lambda handlers the AWS-
 * recorded conformance cases call (shared/conformance/lambda_cases.jsonl),
 * as one bootstrap that picks its behaviour from _HANDLER (the template's
 * Handler): id_function returns its event, echo_function {"Return":
 * "HelloWorld"},
 * raise_exception fails with errorType Exception, raise_custom_exception
 * with CustomException, wait_60_seconds sleeps 60 s, large_output_string
 * returns a string over the 256 KiB payload limit, return_bytes_str
 * returns "HelloWorld!". Built on the project's Runtime API client (lrt).
 */
#include "lrt.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static json_t *handle(const json_t *event, const lrt_context *ctx, lrt_error *err, void *user)
{
    (void)ctx;
    const char *h = user;
    if (strcmp(h, "raise_exception") == 0)
        return lrt_fail(err, "Exception", "Some exception was raised.");
    if (strcmp(h, "raise_custom_exception") == 0)
        return lrt_fail(err, "CustomException", "%s", "");
    if (strcmp(h, "wait_60_seconds") == 0)
        sleep(60);
    if (strcmp(h, "large_output_string") == 0) {
        size_t n = 300 * 1024;
        char *s = malloc(n + 1);
        if (s == NULL)
            return lrt_fail(err, "MemoryError", "out of memory");
        memset(s, 'a', n);
        s[n] = 0;
        json_t *v = json_string(s);
        free(s);
        return v;
    }
    if (strcmp(h, "return_bytes_str") == 0)
        return json_string("HelloWorld!");
    if (strcmp(h, "echo_function") == 0)
        return json_pack("{s:s}", "Return", "HelloWorld");
    return json_incref((json_t *)event); /* id_function, wait_60_seconds */
}

int main(void)
{
    const char *h = getenv("_HANDLER");
    return lrt_run(handle, (void *)(h ? h : "id_function"), NULL) == LRT_OK ? 0 : 1;
}
