/*
 * b64.h - base64 (RFC 4648, the standard alphabet, padded), for every
 * module: the States.Base64Encode/Decode intrinsics, JSONata's
 * $base64encode/$base64decode, Lambda's log tail.
 *
 * Must not: allocate with anything but malloc (callers free()).
 */
#ifndef SFN_B64_H
#define SFN_B64_H

#include <stddef.h>

/* The base64 text of s[0..n) (NUL-terminated, *outlen its length), or
 * NULL when out of memory. */
char *sfn_b64_encode(const unsigned char *s, size_t n, size_t *outlen);

enum sfn_b64_mode {
    SFN_B64_STRICT,  /* length a multiple of 4, padding only at the end */
    SFN_B64_LENIENT, /* characters outside the alphabet (padding, spaces) are
                        skipped, as JavaScript's JSONata decodes */
};
/* The bytes s[0..n) encode (NUL-terminated, *outlen their count), or NULL
 * when s is not valid in that mode or memory ran out (*outlen is then 0 and
 * errno is ENOMEM or EINVAL). */
unsigned char *sfn_b64_decode(const char *s, size_t n, int mode, size_t *outlen);

#endif
