/*
 * asl_intrinsic.c - the intrinsic functions of JSONPath states
 * (States.Format, States.Array..., States.Hash, States.UUID, ...): a call
 * expression is compiled once into a tree of calls, literals and compiled
 * paths, then evaluated against the state input. Digests (SHA-1, SHA-2)
 * are written here; MD5 and base64 are src/util's.
 * Randomness comes only from asl_scope.rng (or a seed argument). No I/O.
 */
#include "asl_nomem.h"
#include "sha256.h"
#include "asl_path.h"
#include "b64.h"
#include "md5.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_NEST 10     /* AWS: up to 10 nested intrinsic functions */
#define MAX_ARGS 255
#define MAX_STR_INPUT 10000  /* AWS: Base64Encode/Decode, Hash input */
#define MAX_RANGE_ITEMS 1000 /* AWS: ArrayRange result size */
#define FAILURE "States.IntrinsicFailure"

enum fn {
    FN_FORMAT,
    FN_STRING_TO_JSON,
    FN_JSON_TO_STRING,
    FN_ARRAY,
    FN_ARRAY_PARTITION,
    FN_ARRAY_CONTAINS,
    FN_ARRAY_RANGE,
    FN_ARRAY_GET_ITEM,
    FN_ARRAY_LENGTH,
    FN_ARRAY_UNIQUE,
    FN_BASE64_ENCODE,
    FN_BASE64_DECODE,
    FN_HASH,
    FN_JSON_MERGE,
    FN_MATH_RANDOM,
    FN_MATH_ADD,
    FN_STRING_SPLIT,
    FN_UUID,
};

static const struct fninfo {
    const char *name;
    int fn, min, max;
} fns[] = {
    {"States.Format", FN_FORMAT, 1, MAX_ARGS},
    {"States.StringToJson", FN_STRING_TO_JSON, 1, 1},
    {"States.JsonToString", FN_JSON_TO_STRING, 1, 1},
    {"States.Array", FN_ARRAY, 0, MAX_ARGS},
    {"States.ArrayPartition", FN_ARRAY_PARTITION, 2, 2},
    {"States.ArrayContains", FN_ARRAY_CONTAINS, 2, 2},
    {"States.ArrayRange", FN_ARRAY_RANGE, 3, 3},
    {"States.ArrayGetItem", FN_ARRAY_GET_ITEM, 2, 2},
    {"States.ArrayLength", FN_ARRAY_LENGTH, 1, 1},
    {"States.ArrayUnique", FN_ARRAY_UNIQUE, 1, 1},
    {"States.Base64Encode", FN_BASE64_ENCODE, 1, 1},
    {"States.Base64Decode", FN_BASE64_DECODE, 1, 1},
    {"States.Hash", FN_HASH, 2, 2},
    {"States.JsonMerge", FN_JSON_MERGE, 3, 3},
    {"States.MathRandom", FN_MATH_RANDOM, 2, 3},
    {"States.MathAdd", FN_MATH_ADD, 2, 2},
    {"States.StringSplit", FN_STRING_SPLIT, 2, 2},
    {"States.UUID", FN_UUID, 0, 0},
};

enum akind { A_LIT, A_PATH, A_CALL };

typedef struct iarg {
    int kind;
    json_t *lit;         /* A_LIT */
    char *raw;           /* A_LIT string: text between the quotes, escapes kept */
    asl_path *path;      /* A_PATH */
    asl_intrinsic *call; /* A_CALL */
} iarg;

struct asl_intrinsic {
    const struct fninfo *fi;
    char *text;
    iarg *args;
    size_t nargs;
};

void asl_intrinsic_free(asl_intrinsic *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->nargs; i++) {
        json_decref(f->args[i].lit);
        free(f->args[i].raw);
        asl_path_free(f->args[i].path);
        asl_intrinsic_free(f->args[i].call);
    }
    free(f->args);
    free(f->text);
    free(f);
}

int asl_is_intrinsic(const char *text)
{
    if (text == NULL || strncmp(text, "States.", 7) != 0)
        return 0;
    const char *p = text + 7;
    if (!isalpha((unsigned char)*p))
        return 0;
    while (isalnum((unsigned char)*p))
        p++;
    while (*p == ' ')
        p++;
    return *p == '(';
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct iparser {
    const char *s;
    size_t i, n;
    char *err;
    size_t errlen;
    int failed;
} iparser;

static void ierr(iparser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ierr(iparser *P, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    asl__parse_err(&P->failed, P->err, P->errlen, fmt, ap);
    va_end(ap);
}

static int ipeek(const iparser *P) { return P->i < P->n ? (unsigned char)P->s[P->i] : -1; }

static void iws(iparser *P)
{
    while (P->i < P->n && isspace((unsigned char)P->s[P->i]))
        P->i++;
}

static asl_intrinsic *parse_call(iparser *P, int depth);

/* 'text' with \' \{ \} \\ escapes. */
static int parse_string(iparser *P, iarg *a)
{
    size_t st = ++P->i;
    char *val = malloc(P->n - st + 1);
    size_t n = 0;
    if (val == NULL) {
        ierr(P, "%s", ASL_NOMEM);
        return -1;
    }
    for (;;) {
        if (P->i >= P->n) {
            free(val);
            ierr(P, "unterminated string literal starting at position %zu", st - 1);
            return -1;
        }
        char c = P->s[P->i++];
        if (c == '\'')
            break;
        if (c == '\\') {
            /* ASL: in an intrinsic's string literal only ' { } and \ are
             * escaped; AWS refuses any other escape sequence */
            char d = P->i < P->n ? P->s[P->i] : '\0';
            if (d != '\'' && d != '{' && d != '}' && d != '\\') {
                free(val);
                ierr(P, "invalid escape sequence '\\%c' in the string literal at position %zu", d ? d : ' ',
                     P->i - 1);
                return -1;
            }
            P->i++;
            c = d;
        }
        val[n++] = c;
    }
    a->kind = A_LIT;
    unsigned long nomem = asl__nomem_count();
    a->lit = json_stringn(val, n); /* NULL: not UTF-8, or out of memory */
    a->raw = strndup(P->s + st, P->i - 1 - st);
    free(val);
    if (a->raw == NULL || (a->lit == NULL && asl__nomem_count() != nomem)) {
        ierr(P, "%s", ASL_NOMEM);
        return -1;
    }
    if (a->lit == NULL) {
        ierr(P, "invalid string literal at position %zu", st - 1);
        return -1;
    }
    return 0;
}

/* A path argument runs to the next ',' or ')' outside brackets/quotes. */
static int parse_path_arg(iparser *P, iarg *a)
{
    size_t st = P->i;
    int depth = 0;
    char q = 0;
    while (P->i < P->n) {
        char c = P->s[P->i];
        if (q) {
            if (c == '\\' && P->i + 1 < P->n)
                P->i++;
            else if (c == q)
                q = 0;
        } else if (c == '\'' || c == '"')
            q = c;
        else if (c == '[' || c == '(')
            depth++;
        else if ((c == ']' || c == ')') && depth > 0)
            depth--;
        else if ((c == ',' || c == ')') && depth == 0)
            break;
        P->i++;
    }
    size_t end = P->i;
    while (end > st && isspace((unsigned char)P->s[end - 1]))
        end--;
    char *text = strndup(P->s + st, end - st);
    if (text == NULL) {
        ierr(P, "%s", ASL_NOMEM);
        return -1;
    }
    char perrbuf[200];
    a->kind = A_PATH;
    if (asl_path_compile(text, ASL_PATH_ANY, &a->path, perrbuf, sizeof perrbuf) < 0) {
        ierr(P, "invalid path argument '%s': %s", text, perrbuf);
        free(text);
        return -1;
    }
    free(text);
    return 0;
}

static int parse_number(iparser *P, iarg *a)
{
    size_t st = P->i;
    int real;
    P->i = asl__scan_number(P->s, P->i, P->n, "-+", &real);
    char tmp[64];
    size_t len = P->i - st;
    if (len == 0 || len >= sizeof tmp) {
        ierr(P, "invalid number at position %zu", st);
        return -1;
    }
    memcpy(tmp, P->s + st, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    a->kind = A_LIT;
    if (!real) {
        long long v = strtoll(tmp, &end, 10);
        if (*end == '\0' && errno == 0)
            a->lit = json_integer(v);
        else
            real = 1;
    }
    if (real) {
        errno = 0;
        double d = strtod(tmp, &end);
        if (*end || errno || !isfinite(d)) {
            ierr(P, "invalid number '%s' at position %zu", tmp, st);
            return -1;
        }
        a->lit = json_real(d);
    }
    return a->lit ? 0 : -1;
}

static int parse_arg(iparser *P, iarg *a, int depth)
{
    iws(P);
    int c = ipeek(P);
    if (c == '\'')
        return parse_string(P, a);
    if (c == '$')
        return parse_path_arg(P, a);
    if (c == '-' || c == '+' || isdigit(c))
        return parse_number(P, a);
    if (P->n - P->i >= 7 && strncmp(P->s + P->i, "States.", 7) == 0) {
        a->kind = A_CALL;
        a->call = parse_call(P, depth + 1);
        return a->call ? 0 : -1;
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t wl = strlen(words[k]);
        if (P->n - P->i >= wl && strncmp(P->s + P->i, words[k], wl) == 0 &&
            !isalnum((unsigned char)(P->i + wl < P->n ? P->s[P->i + wl] : 0))) {
            P->i += wl;
            a->kind = A_LIT;
            a->lit = k == 0 ? json_true() : k == 1 ? json_false() : json_null();
            return 0;
        }
    }
    ierr(P, "unexpected character at position %zu", P->i);
    return -1;
}

static asl_intrinsic *parse_call(iparser *P, int depth)
{
    if (depth > MAX_NEST) {
        ierr(P, "intrinsic functions nested deeper than %d", MAX_NEST);
        return NULL;
    }
    size_t st = P->i;
    if (!(P->n - P->i >= 7 && strncmp(P->s + P->i, "States.", 7) == 0)) {
        ierr(P, "expected an intrinsic function at position %zu", P->i);
        return NULL;
    }
    P->i += 7;
    while (isalnum(ipeek(P)))
        P->i++;
    size_t nlen = P->i - st;
    const struct fninfo *fi = NULL;
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++)
        if (strlen(fns[k].name) == nlen && strncmp(fns[k].name, P->s + st, nlen) == 0)
            fi = &fns[k];
    if (fi == NULL) {
        ierr(P, "unknown intrinsic function '%.*s'", (int)nlen, P->s + st);
        return NULL;
    }
    iws(P);
    if (ipeek(P) != '(') {
        ierr(P, "expected '(' after %s", fi->name);
        return NULL;
    }
    P->i++;
    asl_intrinsic *f = calloc(1, sizeof *f);
    if (f == NULL) {
        ierr(P, "%s", ASL_NOMEM);
        return NULL;
    }
    f->fi = fi;
    iws(P);
    if (ipeek(P) == ')')
        P->i++;
    else {
        for (;;) {
            if (f->nargs >= MAX_ARGS) {
                ierr(P, "too many arguments to %s", fi->name);
                goto fail;
            }
            iarg *na = realloc(f->args, (f->nargs + 1) * sizeof *na);
            if (na == NULL) {
                ierr(P, "%s", ASL_NOMEM);
                goto fail;
            }
            f->args = na;
            memset(&f->args[f->nargs], 0, sizeof *na);
            f->nargs++;
            if (parse_arg(P, &f->args[f->nargs - 1], depth) < 0)
                goto fail;
            iws(P);
            if (ipeek(P) == ',') {
                P->i++;
                continue;
            }
            if (ipeek(P) == ')') {
                P->i++;
                break;
            }
            ierr(P, "expected ',' or ')' at position %zu", P->i);
            goto fail;
        }
    }
    if ((int)f->nargs < fi->min || (int)f->nargs > fi->max) {
        if (fi->min == fi->max)
            ierr(P, "%s takes %d argument%s, got %zu", fi->name, fi->min, fi->min == 1 ? "" : "s",
                 f->nargs);
        else if (fi->max == MAX_ARGS)
            ierr(P, "%s takes at least %d argument%s, got %zu", fi->name, fi->min,
                 fi->min == 1 ? "" : "s", f->nargs);
        else
            ierr(P, "%s takes %d to %d arguments, got %zu", fi->name, fi->min, fi->max, f->nargs);
        goto fail;
    }
    f->text = strndup(P->s + st, P->i - st);
    if (f->text == NULL) {
        ierr(P, "%s", ASL_NOMEM);
        goto fail;
    }
    return f;
fail:
    asl_intrinsic_free(f);
    return NULL;
}

int asl_intrinsic_compile(const char *text, asl_intrinsic **out, char *err, size_t errlen)
{
    iparser P = {.s = text, .n = text ? strlen(text) : 0, .err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (text == NULL) {
        ierr(&P, "no intrinsic function");
        return -1;
    }
    iws(&P);
    asl_intrinsic *f = parse_call(&P, 1);
    if (f == NULL)
        return -1;
    iws(&P);
    if (P.i != P.n) {
        ierr(&P, "unexpected text after the function call at position %zu", P.i);
        asl_intrinsic_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

/* ---- digests ------------------------------------------------------------ */

#define ROL32(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define ROR64(x, n) (((x) >> (n)) | ((x) << (64 - (n))))

/* Pad msg the SHA way into blocks of bs bytes (length field lenbytes,
 * big-endian) and feed each block to fn. */
static void md_blocks(const unsigned char *msg, size_t len, size_t bs, size_t lenbytes,
                      void (*fn)(void *st, const unsigned char *blk), void *st)
{
    size_t full = len / bs;
    for (size_t i = 0; i < full; i++)
        fn(st, msg + i * bs);
    unsigned char tail[256];
    size_t rem = len - full * bs;
    memcpy(tail, msg + full * bs, rem);
    tail[rem] = 0x80;
    size_t tl = (rem + 1 + lenbytes <= bs) ? bs : 2 * bs;
    memset(tail + rem + 1, 0, tl - rem - 1);
    unsigned long long bits = (unsigned long long)len * 8;
    for (size_t k = 0; k < 8; k++) {
        tail[tl - 1 - k] = (unsigned char)(bits >> (8 * k));
    }
    fn(st, tail);
    if (tl == 2 * bs)
        fn(st, tail + bs);
}

static void sha1_block(void *vs, const unsigned char *b)
{
    uint32_t *h = vs, w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
               (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (bb & c) | (~bb & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = bb ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (bb & c) | (bb & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = bb ^ c ^ d;
            k = 0xca62c1d6;
        }
        uint32_t t = ROL32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = ROL32(bb, 30);
        bb = a;
        a = t;
    }
    h[0] += a;
    h[1] += bb;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

static void sha512_block(void *vs, const unsigned char *b)
{
    static const uint64_t K[80] = {
        0x428a2f98d728ae22ULL, 0x7137449123ef65cdULL, 0xb5c0fbcfec4d3b2fULL, 0xe9b5dba58189dbbcULL,
        0x3956c25bf348b538ULL, 0x59f111f1b605d019ULL, 0x923f82a4af194f9bULL, 0xab1c5ed5da6d8118ULL,
        0xd807aa98a3030242ULL, 0x12835b0145706fbeULL, 0x243185be4ee4b28cULL, 0x550c7dc3d5ffb4e2ULL,
        0x72be5d74f27b896fULL, 0x80deb1fe3b1696b1ULL, 0x9bdc06a725c71235ULL, 0xc19bf174cf692694ULL,
        0xe49b69c19ef14ad2ULL, 0xefbe4786384f25e3ULL, 0x0fc19dc68b8cd5b5ULL, 0x240ca1cc77ac9c65ULL,
        0x2de92c6f592b0275ULL, 0x4a7484aa6ea6e483ULL, 0x5cb0a9dcbd41fbd4ULL, 0x76f988da831153b5ULL,
        0x983e5152ee66dfabULL, 0xa831c66d2db43210ULL, 0xb00327c898fb213fULL, 0xbf597fc7beef0ee4ULL,
        0xc6e00bf33da88fc2ULL, 0xd5a79147930aa725ULL, 0x06ca6351e003826fULL, 0x142929670a0e6e70ULL,
        0x27b70a8546d22ffcULL, 0x2e1b21385c26c926ULL, 0x4d2c6dfc5ac42aedULL, 0x53380d139d95b3dfULL,
        0x650a73548baf63deULL, 0x766a0abb3c77b2a8ULL, 0x81c2c92e47edaee6ULL, 0x92722c851482353bULL,
        0xa2bfe8a14cf10364ULL, 0xa81a664bbc423001ULL, 0xc24b8b70d0f89791ULL, 0xc76c51a30654be30ULL,
        0xd192e819d6ef5218ULL, 0xd69906245565a910ULL, 0xf40e35855771202aULL, 0x106aa07032bbd1b8ULL,
        0x19a4c116b8d2d0c8ULL, 0x1e376c085141ab53ULL, 0x2748774cdf8eeb99ULL, 0x34b0bcb5e19b48a8ULL,
        0x391c0cb3c5c95a63ULL, 0x4ed8aa4ae3418acbULL, 0x5b9cca4f7763e373ULL, 0x682e6ff3d6b2b8a3ULL,
        0x748f82ee5defb2fcULL, 0x78a5636f43172f60ULL, 0x84c87814a1f0ab72ULL, 0x8cc702081a6439ecULL,
        0x90befffa23631e28ULL, 0xa4506cebde82bde9ULL, 0xbef9a3f7b2c67915ULL, 0xc67178f2e372532bULL,
        0xca273eceea26619cULL, 0xd186b8c721c0c207ULL, 0xeada7dd6cde0eb1eULL, 0xf57d4f7fee6ed178ULL,
        0x06f067aa72176fbaULL, 0x0a637dc5a2c898a6ULL, 0x113f9804bef90daeULL, 0x1b710b35131c471bULL,
        0x28db77f523047d84ULL, 0x32caab7b40c72493ULL, 0x3c9ebe0a15c9bebcULL, 0x431d67c49c100d4cULL,
        0x4cc5d4becb3e42b6ULL, 0x597f299cfc657e2aULL, 0x5fcb6fab3ad6faecULL, 0x6c44198c4a475817ULL};
    uint64_t *h = vs, w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = 0;
        for (int k = 0; k < 8; k++)
            w[i] = w[i] << 8 | b[8 * i + k];
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ROR64(w[i - 15], 1) ^ ROR64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ROR64(w[i - 2], 19) ^ ROR64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t v[8];
    memcpy(v, h, sizeof v);
    for (int i = 0; i < 80; i++) {
        uint64_t S1 = ROR64(v[4], 14) ^ ROR64(v[4], 18) ^ ROR64(v[4], 41);
        uint64_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint64_t t1 = v[7] + S1 + ch + K[i] + w[i];
        uint64_t S0 = ROR64(v[0], 28) ^ ROR64(v[0], 34) ^ ROR64(v[0], 39);
        uint64_t mj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + S0 + mj;
    }
    for (int i = 0; i < 8; i++)
        h[i] += v[i];
}

/* Lower-case hex digest of msg; alg is AWS's name. Returns digest length
 * in hex chars, or 0 for an unknown algorithm. */
size_t asl__hash_hex(const char *alg, const unsigned char *msg, size_t len, char *hex)
{
    static const char hx[] = "0123456789abcdef";
    unsigned char d[64];
    size_t dl;
    if (strcmp(alg, "MD5") == 0) {
        sfn_md5_hex(msg, len, hex); /* src/util, with SQS's MD5 fields */
        return 32;
    } else if (strcmp(alg, "SHA-1") == 0) {
        uint32_t h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};
        md_blocks(msg, len, 64, 8, sha1_block, h);
        for (int i = 0; i < 20; i++)
            d[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
        dl = 20;
    } else if (strcmp(alg, "SHA-256") == 0) {
        sfn_sha256(msg, len, d); /* src/util, with SigV4's */
        dl = 32;
    } else if (strcmp(alg, "SHA-384") == 0 || strcmp(alg, "SHA-512") == 0) {
        int is384 = alg[4] == '3';
        uint64_t h384[8] = {0xcbbb9d5dc1059ed8ULL, 0x629a292a367cd507ULL, 0x9159015a3070dd17ULL,
                            0x152fecd8f70e5939ULL, 0x67332667ffc00b31ULL, 0x8eb44a8768581511ULL,
                            0xdb0c2e0d64f98fa7ULL, 0x47b5481dbefa4fa4ULL};
        uint64_t h512[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
                            0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                            0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};
        uint64_t *h = is384 ? h384 : h512;
        md_blocks(msg, len, 128, 16, sha512_block, h);
        dl = is384 ? 48 : 64;
        for (size_t i = 0; i < dl; i++)
            d[i] = (unsigned char)(h[i / 8] >> (56 - 8 * (i % 8)));
    } else
        return 0;
    for (size_t i = 0; i < dl; i++) {
        hex[2 * i] = hx[d[i] >> 4];
        hex[2 * i + 1] = hx[d[i] & 15];
    }
    hex[2 * dl] = '\0';
    return 2 * dl;
}

/* ---- evaluation ----------------------------------------------------------- */

typedef struct ictx {
    json_t *input;
    const asl_scope *scope;
    const char *field;
    asl_err *e;
} ictx;

static int fail(ictx *c, const asl_intrinsic *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ictx *c, const asl_intrinsic *f, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    asl_err_set(c->e, FAILURE, "Invalid arguments in %s: %s", f->fi->name, detail);
    return -1;
}

/* Java Math.round: floor(x + 0.5). AWS rounds number arguments this way
 * (MathAdd(1.5, 1.51) is 4). */
static long long jround(double d) { return (long long)floor(d + 0.5); }

/* An integer argument; reals are rounded like AWS does. */
static int want_int(ictx *c, const asl_intrinsic *f, const json_t *v, const char *what,
                    long long *out)
{
    long long r;
    if (json_is_integer(v))
        r = json_integer_value(v);
    else if (json_is_real(v) && fabs(json_real_value(v)) < 4e9)
        r = jround(json_real_value(v));
    else if (json_is_real(v))
        r = INT64_MAX;
    else
        return fail(c, f, "%s must be a number, got %s", what, asl__json_type_name(v));
    /* Java int arguments: keeps our arithmetic far from overflow too */
    if (r < INT32_MIN || r > INT32_MAX)
        return fail(c, f, "%s must be between %d and %d", what, INT32_MIN, INT32_MAX);
    *out = r;
    return 0;
}

static void format_repr(json_t *v, char **buf, size_t *n, size_t *cap, int *oom);

static void rep_put(const char *s, size_t l, char **buf, size_t *n, size_t *cap, int *oom)
{
    if (*oom)
        return;
    if (*n + l + 1 > *cap) {
        size_t nc = *cap ? *cap : 64;
        while (nc < *n + l + 1)
            nc *= 2;
        char *p = realloc(*buf, nc);
        if (p == NULL) {
            *oom = 1;
            return;
        }
        *buf = p;
        *cap = nc;
    }
    memcpy(*buf + *n, s, l);
    *n += l;
    (*buf)[*n] = '\0';
}

/* States.Format renders strings bare, containers the way Java's
 * Map/List toString does ({Arg1=1, Arg2=[]}), scalars as JSON. */
static void format_repr(json_t *v, char **buf, size_t *n, size_t *cap, int *oom)
{
    if (json_is_string(v)) {
        rep_put(json_string_value(v), json_string_length(v), buf, n, cap, oom);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        rep_put("[", 1, buf, n, cap, oom);
        json_array_foreach(v, i, x) {
            if (i)
                rep_put(", ", 2, buf, n, cap, oom);
            format_repr(x, buf, n, cap, oom);
        }
        rep_put("]", 1, buf, n, cap, oom);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        int first = 1;
        rep_put("{", 1, buf, n, cap, oom);
        json_object_foreach(v, k, x) {
            if (!first)
                rep_put(", ", 2, buf, n, cap, oom);
            first = 0;
            rep_put(k, strlen(k), buf, n, cap, oom);
            rep_put("=", 1, buf, n, cap, oom);
            format_repr(x, buf, n, cap, oom);
        }
        rep_put("}", 1, buf, n, cap, oom);
    } else {
        char *t = asl_json_text(v);
        if (t == NULL)
            *oom = 1;
        else
            rep_put(t, strlen(t), buf, n, cap, oom);
        free(t);
    }
}

static int fn_format(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    const char *fmt;
    size_t flen;
    int escapes;
    if (f->args[0].kind == A_LIT && f->args[0].raw) {
        fmt = f->args[0].raw; /* \{ \} must stay literal braces */
        flen = strlen(fmt);
        escapes = 1;
    } else if (json_is_string(a[0])) {
        fmt = json_string_value(a[0]);
        flen = json_string_length(a[0]);
        escapes = 0;
    } else
        return fail(c, f, "the format string must be a string, got %s", asl__json_type_name(a[0]));
    size_t holes = 0;
    for (size_t i = 0; i < flen; i++) {
        if (escapes && fmt[i] == '\\' && i + 1 < flen)
            i++;
        else if (fmt[i] == '{' && i + 1 < flen && fmt[i + 1] == '}') {
            holes++;
            i++;
        }
    }
    if (holes != na - 1)
        return fail(c, f, "the number of arguments (%zu) does not match the number of "
                          "placeholders (%zu) in the format string",
                    na - 1, holes);
    char *buf = NULL;
    size_t n = 0, cap = 0, arg = 1;
    int oom = 0;
    rep_put("", 0, &buf, &n, &cap, &oom);
    for (size_t i = 0; i < flen; i++) {
        if (escapes && fmt[i] == '\\' && i + 1 < flen) {
            char d = fmt[i + 1];
            if (d == '\'' || d == '{' || d == '}' || d == '\\') {
                rep_put(&d, 1, &buf, &n, &cap, &oom);
                i++;
                continue;
            }
            rep_put(fmt + i, 1, &buf, &n, &cap, &oom);
        } else if (fmt[i] == '{' && i + 1 < flen && fmt[i + 1] == '}') {
            format_repr(a[arg++], &buf, &n, &cap, &oom);
            i++;
        } else
            rep_put(fmt + i, 1, &buf, &n, &cap, &oom);
    }
    if (oom) {
        free(buf);
        return fail(c, f, "%s", ASL_NOMEM);
    }
    *out = json_stringn(buf, n);
    free(buf);
    return *out ? 0 : fail(c, f, "the result is not valid UTF-8");
}

static int fn_string_split(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_string(a[0]))
        return fail(c, f, "the first argument must be a string, got %s", asl__json_type_name(a[0]));
    if (!json_is_string(a[1]))
        return fail(c, f, "the delimiter must be a string, got %s", asl__json_type_name(a[1]));
    const char *s = json_string_value(a[0]), *d = json_string_value(a[1]);
    size_t n = json_string_length(a[0]), dn = json_string_length(a[1]);
    json_t *arr = json_array();
    if (arr == NULL)
        return fail(c, f, "%s", ASL_NOMEM);
    /* Every character of the delimiter string separates; empty pieces
     * are dropped. Characters are whole UTF-8 sequences. */
    size_t st = 0, i = 0;
    while (i <= n) {
        size_t cl = 0;
        if (i < n) {
            unsigned char b = (unsigned char)s[i];
            cl = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
            if (i + cl > n)
                cl = n - i;
            int is_delim = 0;
            for (size_t j = 0; j < dn && !is_delim;) {
                unsigned char db = (unsigned char)d[j];
                size_t dl = db < 0x80 ? 1 : db >= 0xf0 ? 4 : db >= 0xe0 ? 3 : 2;
                if (j + dl > dn)
                    dl = dn - j;
                if (dl == cl && memcmp(d + j, s + i, cl) == 0)
                    is_delim = 1;
                j += dl;
            }
            if (!is_delim) {
                i += cl;
                continue;
            }
        }
        if (i > st && json_array_append_new(arr, json_stringn(s + st, i - st)) < 0) {
            json_decref(arr);
            return fail(c, f, "%s", ASL_NOMEM);
        }
        if (i == n)
            break;
        i += cl;
        st = i;
    }
    *out = arr;
    return 0;
}

static int fn_uuid(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (c->scope == NULL || c->scope->rng == NULL)
        return fail(c, f, "no random source");
    unsigned char b[16];
    uint64_t x = asl_rng_next(c->scope->rng), y = asl_rng_next(c->scope->rng);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(x >> (8 * i));
        b[8 + i] = (unsigned char)(y >> (8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    char s[37];
    snprintf(s, sizeof s,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    *out = json_string(s);
    return 0;
}

static int call_eval(const asl_intrinsic *f, ictx *c, json_t **out);

static int arg_eval(const iarg *a, ictx *c, json_t **out)
{
    switch (a->kind) {
    case A_LIT:
        *out = json_incref(a->lit);
        return 0;
    case A_CALL:
        return call_eval(a->call, c, out);
    default:
        if (asl_path_eval(a->path, c->input, c->scope, out) == 0)
            return 0;
        {
            json_t *where = asl_path_is_context(a->path) ? (c->scope ? c->scope->context : NULL)
                                                          : c->input;
            char *txt = asl_json_text(where);
            if (c->field)
                asl_err_set(c->e, "States.Runtime",
                            "The JSONPath '%s' specified for the field '%s' could not be found in "
                            "the input '%s'",
                            asl_path_text(a->path), c->field, txt ? txt : "null");
            else
                asl_err_set(c->e, "States.Runtime",
                            "The JSONPath '%s' could not be found in the input '%s'",
                            asl_path_text(a->path), txt ? txt : "null");
            free(txt);
        }
        return -1;
    }
}

/* ---- one handler per function (call_body dispatches on fninfo.fn) ----- */

static int fn_string_to_json(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_string(a[0]))
        return fail(c, f, "the argument must be a string, got %s", asl__json_type_name(a[0]));
    char perr[160];
    *out = asl_json_parse(json_string_value(a[0]), json_string_length(a[0]), perr,
                          sizeof perr);
    return *out ? 0 : fail(c, f, "the string is not valid JSON: %s", perr);
}

static int fn_json_to_string(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    char *t = asl_json_text(a[0]);
    *out = t ? json_string(t) : NULL;
    free(t);
    return *out ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

static int fn_array(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    *out = json_array();
    for (size_t i = 0; *out && i < na; i++)
        if (json_array_append(*out, a[i]) < 0) {
            json_decref(*out);
            *out = NULL;
        }
    return *out ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

static int fn_array_partition(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    long long x;
    if (!json_is_array(a[0]))
        return fail(c, f, "the first argument must be an array, got %s", asl__json_type_name(a[0]));
    if (want_int(c, f, a[1], "the chunk size", &x) < 0)
        return -1;
    if (x <= 0)
        return fail(c, f, "the chunk size must be greater than 0, got %lld", x);
    size_t n = json_array_size(a[0]);
    json_t *res = json_array(), *chunk = NULL;
    for (size_t i = 0; res && i < n; i++) {
        if (i % (size_t)x == 0) {
            chunk = json_array();
            if (json_array_append_new(res, chunk) < 0)
                break;
        }
        json_array_append(chunk, json_array_get(a[0], i));
    }
    *out = res;
    return res ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

static int fn_array_contains(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_array(a[0]))
        return fail(c, f, "the first argument must be an array, got %s", asl__json_type_name(a[0]));
    size_t i;
    json_t *v;
    int found = 0;
    json_array_foreach(a[0], i, v) if (json_equal(v, a[1])) found = 1;
    *out = json_boolean(found);
    return 0;
}

static int fn_array_range(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    long long x, y, z;
    if (want_int(c, f, a[0], "the start", &x) < 0 || want_int(c, f, a[1], "the end", &y) < 0 ||
        want_int(c, f, a[2], "the step", &z) < 0)
        return -1;
    if (z == 0)
        return fail(c, f, "the step must not be 0");
    long long count = (y - x) / z + 1;
    if ((y - x) != 0 && ((y - x) < 0) != (z < 0))
        count = 0;
    if (count > MAX_RANGE_ITEMS)
        return fail(c, f, "the array cannot contain more than %d items, size: %lld",
                    MAX_RANGE_ITEMS, count);
    json_t *res = json_array();
    for (long long k = 0; res && k < count; k++)
        json_array_append_new(res, json_integer(x + k * z));
    *out = res;
    return res ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

static int fn_array_get_item(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    long long x;
    if (!json_is_array(a[0]))
        return fail(c, f, "the first argument must be an array, got %s", asl__json_type_name(a[0]));
    if (want_int(c, f, a[1], "the index", &x) < 0)
        return -1;
    if (x < 0 || (size_t)x >= json_array_size(a[0]))
        return fail(c, f, "the index %lld is out of bounds for an array of size %zu", x,
                    json_array_size(a[0]));
    *out = json_incref(json_array_get(a[0], (size_t)x));
    return 0;
}

static int fn_array_length(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_array(a[0]))
        return fail(c, f, "the argument must be an array, got %s", asl__json_type_name(a[0]));
    *out = json_integer((json_int_t)json_array_size(a[0]));
    return 0;
}

static int fn_array_unique(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_array(a[0]))
        return fail(c, f, "the argument must be an array, got %s", asl__json_type_name(a[0]));
    json_t *res = json_array();
    size_t i, j;
    json_t *v, *w;
    json_array_foreach(a[0], i, v) {
        int dup = 0;
        json_array_foreach(res, j, w) if (json_equal(v, w)) {
            dup = 1;
            break;
        }
        if (!dup && res)
            json_array_append(res, v);
    }
    *out = res;
    return res ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

/* Base64Encode, Base64Decode and Hash take at most MAX_STR_INPUT characters. */
static int input_len(ictx *c, const asl_intrinsic *f, const json_t *v)
{
    if (json_string_length(v) > MAX_STR_INPUT)
        return fail(c, f, "the input string must be at most %d characters, got %zu", MAX_STR_INPUT,
                    json_string_length(v));
    return 0;
}

/* Base64Encode's and Base64Decode's one argument: a string, not too long. */
static int str_input(ictx *c, const asl_intrinsic *f, const json_t *v)
{
    if (!json_is_string(v))
        return fail(c, f, "the argument must be a string, got %s", asl__json_type_name(v));
    return input_len(c, f, v);
}

static int fn_base64_encode(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (str_input(c, f, a[0]) < 0)
        return -1;
    size_t ol;
    char *enc = sfn_b64_encode((const unsigned char *)json_string_value(a[0]),
                           json_string_length(a[0]), &ol);
    *out = enc ? json_stringn(enc, ol) : NULL;
    free(enc);
    return *out ? 0 : fail(c, f, "%s", ASL_NOMEM);
}

static int fn_base64_decode(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (str_input(c, f, a[0]) < 0)
        return -1;
    size_t ol;
    unsigned char *dec =
        sfn_b64_decode(json_string_value(a[0]), json_string_length(a[0]), SFN_B64_STRICT, &ol);
    if (dec == NULL)
        return fail(c, f, "the input is not valid base64");
    *out = json_stringn((const char *)dec, ol);
    free(dec);
    return *out ? 0 : fail(c, f, "the decoded data is not valid UTF-8 text");
}

static int fn_hash(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_string(a[0]))
        return fail(c, f, "the data to hash must be a string, got %s", asl__json_type_name(a[0]));
    if (!json_is_string(a[1]))
        return fail(c, f, "the algorithm must be a string, got %s", asl__json_type_name(a[1]));
    if (input_len(c, f, a[0]) < 0)
        return -1;
    char hex[129];
    if (asl__hash_hex(json_string_value(a[1]), (const unsigned char *)json_string_value(a[0]),
                 json_string_length(a[0]), hex) == 0)
        return fail(c, f, "unknown hash algorithm '%s' (use MD5, SHA-1, SHA-256, SHA-384 or "
                          "SHA-512)",
                    json_string_value(a[1]));
    *out = json_string(hex);
    return 0;
}

static int fn_json_merge(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    if (!json_is_object(a[0]) || !json_is_object(a[1]))
        return fail(c, f, "the first two arguments must be objects, got %s and %s",
                    asl__json_type_name(a[0]), asl__json_type_name(a[1]));
    if (!json_is_boolean(a[2]))
        return fail(c, f, "the third argument must be a boolean, got %s", asl__json_type_name(a[2]));
    if (json_is_true(a[2]))
        return fail(c, f, "deep merging is not supported; the third argument must be false");
    json_t *res = asl_json_copy(a[0]); /* shallow: values shared */
    if (res == NULL || json_object_update(res, a[1]) < 0) {
        json_decref(res);
        return fail(c, f, "%s", ASL_NOMEM);
    }
    *out = res;
    return 0;
}

static int fn_math_random(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    long long x, y, z;
    if (want_int(c, f, a[0], "the start", &x) < 0 || want_int(c, f, a[1], "the end", &y) < 0)
        return -1;
    if (y <= x)
        return fail(c, f, "the end (%lld) must be greater than the start (%lld)", y, x);
    asl_rng local;
    asl_rng *r;
    if (na == 3) {
        if (want_int(c, f, a[2], "the seed", &z) < 0)
            return -1;
        local.s = (uint64_t)z;
        r = &local;
    } else if (c->scope && c->scope->rng)
        r = c->scope->rng;
    else
        return fail(c, f, "no random source");
    /* [start, end): start inclusive, end exclusive, as AWS documents */
    unsigned long long span = (unsigned long long)(y - x);
    *out = json_integer(x + (long long)(asl_rng_next(r) % span));
    return 0;
}

static int fn_math_add(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out)
{
    long long x, y;
    if (!json_is_number(a[0]) || !json_is_number(a[1]))
        return fail(c, f, "both arguments must be numbers, got %s and %s", asl__json_type_name(a[0]),
                    asl__json_type_name(a[1]));
    if (want_int(c, f, a[0], "the first value", &x) < 0 ||
        want_int(c, f, a[1], "the second value", &y) < 0)
        return -1;
    *out = json_integer(x + y);
    return 0;
}

typedef int (*intrinsic_fn)(ictx *c, const asl_intrinsic *f, json_t **a, size_t na, json_t **out);

static const intrinsic_fn handlers[] = {
    [FN_FORMAT] = fn_format,
    [FN_STRING_TO_JSON] = fn_string_to_json,
    [FN_JSON_TO_STRING] = fn_json_to_string,
    [FN_ARRAY] = fn_array,
    [FN_ARRAY_PARTITION] = fn_array_partition,
    [FN_ARRAY_CONTAINS] = fn_array_contains,
    [FN_ARRAY_RANGE] = fn_array_range,
    [FN_ARRAY_GET_ITEM] = fn_array_get_item,
    [FN_ARRAY_LENGTH] = fn_array_length,
    [FN_ARRAY_UNIQUE] = fn_array_unique,
    [FN_BASE64_ENCODE] = fn_base64_encode,
    [FN_BASE64_DECODE] = fn_base64_decode,
    [FN_HASH] = fn_hash,
    [FN_JSON_MERGE] = fn_json_merge,
    [FN_MATH_RANDOM] = fn_math_random,
    [FN_MATH_ADD] = fn_math_add,
    [FN_STRING_SPLIT] = fn_string_split,
    [FN_UUID] = fn_uuid,
};

static int call_body(const asl_intrinsic *f, ictx *c, json_t **a, size_t na, json_t **out)
{
    int fn = f->fi->fn;
    if (fn < 0 || (size_t)fn >= sizeof handlers / sizeof handlers[0] || handlers[fn] == NULL)
        return fail(c, f, "unsupported function");
    return handlers[fn](c, f, a, na, out);
}

static int call_eval(const asl_intrinsic *f, ictx *c, json_t **out)
{
    json_t *stack[8], **a = stack;
    size_t na = f->nargs;
    int rc = -1;
    if (na > 8) {
        a = calloc(na, sizeof *a);
        if (a == NULL)
            return fail(c, f, "%s", ASL_NOMEM);
    }
    size_t got = 0;
    for (; got < na; got++)
        if (arg_eval(&f->args[got], c, &a[got]) < 0)
            goto cleanup_args;
    json_t *res = NULL;
    rc = call_body(f, c, a, na, &res);
    if (rc == 0 && res == NULL)
        rc = fail(c, f, "%s", ASL_NOMEM);
    if (rc == 0)
        *out = res;
cleanup_args:
    for (size_t i = 0; i < got; i++)
        json_decref(a[i]);
    if (a != stack)
        free(a);
    return rc;
}

int asl__intrinsic_eval(const asl_intrinsic *f, json_t *input, const asl_scope *scope,
                        const char *field, json_t **out, asl_err *e)
{
    ictx c = {.input = input, .scope = scope, .field = field, .e = e};
    return call_eval(f, &c, out);
}

int asl_intrinsic_eval(const asl_intrinsic *f, json_t *input, const asl_scope *scope, json_t **out,
                       asl_err *e)
{
    return asl__intrinsic_eval(f, input, scope, NULL, out, e);
}
