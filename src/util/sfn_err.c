/*
 * sfn_err.c - names and messages of the error table (see sfn_err.h).
 */
#include "sfn_err.h"

#include <stddef.h>

typedef struct entry {
    int value;
    const char *name, *msg;
} entry;

#define SFN_ERR_ENTRY_(name, value, shortname, msg) {value, shortname, msg},
static const entry table[] = {SFN_ERROR_TABLE(SFN_ERR_ENTRY_)};
#undef SFN_ERR_ENTRY_

static const entry *find(int code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].value == code)
            return &table[i];
    return NULL;
}

const char *sfn_errname(int code)
{
    const entry *e = find(code);
    return e ? e->name : "E?";
}

const char *sfn_strerror(int code)
{
    const entry *e = find(code);
    return e ? e->msg : "unknown error";
}
