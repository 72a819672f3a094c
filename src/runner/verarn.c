/*
 * verarn.c - state machine ARN qualifiers, alias names, the routing
 * choice (verarn.h).
 */
#include "verarn.h"

#include <string.h>

int ver_arn_parse(const char *arn, ver_arn *out)
{
    memset(out, 0, sizeof *out);
    out->qual = "";
    const char *f[9];
    int n = 0;
    const char *p = arn;
    f[n++] = p;
    while ((p = strchr(p, ':')) != NULL) {
        if (n == 9)
            return -1;
        f[n++] = ++p;
    }
    if (n < 7 || strncmp(arn, "arn:", 4) != 0 || strncmp(f[2], "states:", 7) != 0 ||
        strncmp(f[5], "stateMachine:", 13) != 0 || f[6][0] == ':' || f[6][0] == '\0')
        return -1;
    if (n == 7) {
        out->base_len = strlen(arn);
        return 0;
    }
    const char *q = f[7];
    if (*q == '\0')
        return -1;
    out->base_len = (size_t)(q - 1 - arn);
    out->qual = q;
    size_t digits = strspn(q, "0123456789");
    if (q[digits] == '\0') {
        if (q[0] == '0' || digits > 18)
            return -1;
        int64_t v = 0;
        for (size_t i = 0; i < digits; i++)
            v = v * 10 + (q[i] - '0');
        out->kind = VER_ARN_VERSION;
        out->version = v;
        return 0;
    }
    if (!ver_alias_name_valid(q))
        return -1;
    out->kind = VER_ARN_ALIAS;
    return 0;
}

int ver_alias_name_valid(const char *name)
{
    int letter = 0;
    if (name == NULL || *name == '\0')
        return 0;
    for (const char *p = name; *p; p++) {
        char c = *p;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' ||
                    c == '.';
        if (!alpha && !(c >= '0' && c <= '9'))
            return 0;
        letter |= alpha;
    }
    return letter;
}

int ver_pick(const int *weights, int n, double u)
{
    if (n < 1)
        return -1;
    long total = 0;
    for (int i = 0; i < n; i++)
        total += weights[i] > 0 ? weights[i] : 0;
    if (total <= 0)
        return 0;
    double x = u * (double)total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += weights[i] > 0 ? weights[i] : 0;
        if (x < acc)
            return i;
    }
    /* u just below 1: the last route with a weight */
    for (int i = n - 1; i >= 0; i--)
        if (weights[i] > 0)
            return i;
    return n - 1;
}
