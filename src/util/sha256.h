/*
 * sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the
 * SigV4 signer (sigv4.c). Written here so that the runner and the saga's
 * functions sign with one copy and neither needs libcrypto.
 *
 * Must not: allocate.
 */
#ifndef SFN_SHA256_H
#define SFN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sfn_sha256_ctx {
    uint32_t h[8];
    uint64_t len;          /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
} sfn_sha256_ctx;

void sfn_sha256_init(sfn_sha256_ctx *c);
void sfn_sha256_update(sfn_sha256_ctx *c, const void *p, size_t n);
void sfn_sha256_final(sfn_sha256_ctx *c, unsigned char out[32]);
/* out := SHA-256(p[0..n)) */
void sfn_sha256(const void *p, size_t n, unsigned char out[32]);
/* out := HMAC-SHA256(key, msg) */
void sfn_hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
                     unsigned char out[32]);

#endif
