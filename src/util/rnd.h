/*
 * rnd.h - the one random stream (splitmix64) and UUID text, for every
 * module: the core's deterministic draws (seeded from the execution, so a
 * replay draws the same), request ids, execution names.
 *
 * Not for secrets: splitmix64 is predictable from its output.
 * Threading: a stream belongs to one thread; the functions keep no state.
 */
#ifndef SFN_RND_H
#define SFN_RND_H

#include <stdint.h>

typedef struct sfn_rng {
    uint64_t s;
} sfn_rng;

/* The next 64 bits of the stream (splitmix64: every seed is good). */
uint64_t sfn_rng_next(sfn_rng *r);
/* Uniform in [0, 1), 53 bits. */
double sfn_rng_double(sfn_rng *r);
/* A seed from the kernel (getrandom), or from the time and pid without it. */
uint64_t sfn_rng_seed(void);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" from 128 bits, as given. */
void sfn_uuid_text(uint64_t hi, uint64_t lo, char out[37]);
/* A random UUID (RFC 9562 version 4). */
void sfn_uuid4(sfn_rng *r, char out[37]);
/* A UUID of version 7 (RFC 9562): 48 bits of Unix time in ms, then random
 * bits, so that names made in turn sort in turn. */
void sfn_uuid7(sfn_rng *r, uint64_t unix_ms, char out[37]);

#endif
