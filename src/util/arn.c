/*
 * arn.c - Step Functions ARNs (see arn.h).
 */
#define _GNU_SOURCE
#include "arn.h"

#include <stdio.h>
#include <string.h>

#define SM_KIND ":stateMachine:"

int sfn_arn_states(char *buf, size_t len, const char *region, const char *account,
                   const char *kind, const char *name)
{
    int n = snprintf(buf, len, "arn:aws:states:%s:%s:%s:%s", region, account, kind, name);
    return n < 0 || (size_t)n >= len ? -1 : n;
}

char *sfn_arn_execution(const char *sm_arn, const char *name, const char *express_id)
{
    const char *p = strstr(sm_arn, SM_KIND);
    if (p == NULL)
        return NULL;
    const char *sm = p + strlen(SM_KIND);
    int smlen = (int)strcspn(sm, ":"); /* without a version or alias */
    char *out = NULL;
    int n = express_id
                ? asprintf(&out, "%.*s:express:%.*s:%s:%s", (int)(p - sm_arn), sm_arn, smlen, sm,
                           name, express_id)
                : asprintf(&out, "%.*s:execution:%.*s:%s", (int)(p - sm_arn), sm_arn, smlen, sm,
                           name);
    return n < 0 ? NULL : out;
}

int sfn_arn_machine_of(const char *exec_arn, char *buf, size_t len)
{
    const char *x = strstr(exec_arn, ":execution:");
    size_t kind = strlen(":execution:");
    if (x == NULL) {
        x = strstr(exec_arn, ":express:");
        kind = strlen(":express:");
    }
    if (x == NULL)
        return -1;
    const char *sm = x + kind;
    size_t smlen = strcspn(sm, ":");
    if (smlen == 0 || sm[smlen] != ':' || sm[smlen + 1] == '\0')
        return -1;
    int n = snprintf(buf, len, "%.*s" SM_KIND "%.*s", (int)(x - exec_arn), exec_arn, (int)smlen,
                     sm);
    return n < 0 || (size_t)n >= len ? -1 : n;
}
