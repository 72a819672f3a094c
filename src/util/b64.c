/*
 * b64.c - base64 (see b64.h).
 */
#include "b64.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *sfn_b64_encode(const unsigned char *s, size_t n, size_t *outlen)
{
    char *o = malloc((n + 2) / 3 * 4 + 1);
    size_t k = 0;
    if (o == NULL)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        o[k++] = alphabet[v >> 18 & 63];
        o[k++] = alphabet[v >> 12 & 63];
        o[k++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
        o[k++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}

static int value_of(int c)
{
    const char *p = c ? strchr(alphabet, c) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static unsigned char *decode_strict(const char *s, size_t n, unsigned char *o, size_t *k)
{
    if (n % 4 != 0)
        return NULL;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            char c = s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = value_of((unsigned char)c)) < 0) {
                return NULL;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        o[(*k)++] = (unsigned char)(x >> 16);
        if (pad < 2)
            o[(*k)++] = (unsigned char)(x >> 8);
        if (pad < 1)
            o[(*k)++] = (unsigned char)x;
    }
    return o;
}

static unsigned char *decode_lenient(const char *s, size_t n, unsigned char *o, size_t *k)
{
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value_of((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[(*k)++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    return o;
}

unsigned char *sfn_b64_decode(const char *s, size_t n, int mode, size_t *outlen)
{
    *outlen = 0;
    unsigned char *o = malloc(n / 4 * 3 + 4);
    if (o == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    size_t k = 0;
    if ((mode == SFN_B64_STRICT ? decode_strict(s, n, o, &k) : decode_lenient(s, n, o, &k)) ==
        NULL) {
        free(o);
        errno = EINVAL;
        return NULL;
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}
