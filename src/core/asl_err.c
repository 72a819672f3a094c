/*
 * asl_err.c - ASL error values, the random stream and compact JSON text.
 * Small helpers shared by every core module; no I/O.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* vasprintf */
#endif
#include "asl_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void asl__parse_err(int *failed, char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (*failed)
        return;
    *failed = 1;
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
}

size_t asl__scan_number(const char *s, size_t i, size_t n, const char *signs, int *real)
{
    *real = 0;
    if (i < n && s[i] != '\0' && strchr(signs, s[i]))
        i++;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (isdigit(c))
            i++;
        else if (c == '.' || c == 'e' || c == 'E' || ((c == '-' || c == '+') && *real)) {
            *real = 1;
            i++;
        } else
            break;
    }
    return i;
}

void asl_err_set(asl_err *e, const char *error, const char *fmt, ...)
{
    if (e == NULL || e->error != NULL)
        return;
    e->error = strdup(error);
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&e->cause, fmt, ap) < 0)
            e->cause = NULL;
        va_end(ap);
    }
}

void asl_err_set_str(asl_err *e, const char *error, const char *cause)
{
    if (e == NULL || e->error != NULL)
        return;
    e->error = strdup(error ? error : "");
    e->cause = cause ? strdup(cause) : NULL;
}

void asl_err_clear(asl_err *e)
{
    if (e == NULL)
        return;
    free(e->error);
    free(e->cause);
    e->error = NULL;
    e->cause = NULL;
}

