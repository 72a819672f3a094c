/*
 * rnd.c - splitmix64 and UUID text (see rnd.h).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "rnd.h"

#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

uint64_t sfn_rng_next(sfn_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double sfn_rng_double(sfn_rng *r)
{
    return (double)(sfn_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t sfn_rng_seed(void)
{
    uint64_t u;
    if (getrandom(&u, sizeof u, 0) == (ssize_t)sizeof u)
        return u;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
           ((uint64_t)getpid() << 32);
}

void sfn_uuid_text(uint64_t hi, uint64_t lo, char out[37])
{
    snprintf(out, 37, "%08x-%04x-%04x-%04x-%012llx", (unsigned)(hi >> 32),
             (unsigned)((hi >> 16) & 0xffff), (unsigned)(hi & 0xffff), (unsigned)(lo >> 48),
             (unsigned long long)(lo & 0xffffffffffffULL));
}

void sfn_uuid4(sfn_rng *r, char out[37])
{
    uint64_t a = sfn_rng_next(r), b = sfn_rng_next(r);
    a = (a & 0xffffffffffff0fffULL) | 0x4000ULL;                /* version 4 */
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    /* variant */
    sfn_uuid_text(a, b, out);
}

void sfn_uuid7(sfn_rng *r, uint64_t unix_ms, char out[37])
{
    uint64_t a = (unix_ms << 16) | 0x7000u | (sfn_rng_next(r) & 0x0fffu);
    uint64_t b = sfn_rng_next(r);
    b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    sfn_uuid_text(a, b, out);
}
