/*
 * md5.h - MD5 (RFC 1321) as lower-case hex, for the AWS response fields
 * that carry it (SQS's MD5OfMessageBody and MD5OfMessageAttributes).
 * Not for anything that needs a secure hash.
 *
 * Must not: allocate.
 */
#ifndef SFN_MD5_H
#define SFN_MD5_H

#include <stddef.h>

/* hex (33 bytes) := the MD5 digest of s[0..n) in lower-case hex. */
void sfn_md5_hex(const void *s, size_t n, char hex[33]);

#endif
