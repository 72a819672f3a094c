/*
 * sigv4.c - AWS Signature Version 4 (see sigv4.h). The steps and names
 * follow AWS's "Create a signed AWS API request": canonical request ->
 * string to sign -> signing key (HMAC chain over date, region, service)
 * -> signature. SHA-256 and HMAC are sha256.c's: one signer for the
 * runner (forwarded tasks, src/runner/run_tasks_fwd.c) and the saga's
 * functions (functions/booking_ddb.c), with no libcrypto.
 */
#include "sigv4.h"

#include "sha256.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADERS 16

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    sfn_sha256(p, n, md);
    hex(md, 32, out);
    return 0;
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    sfn_hmac_sha256(key, klen, msg, strlen(msg), out);
    return 0;
}

/* A growing text with a fixed ceiling (requests here are small). */
typedef struct tbuf {
    char *p;
    size_t len, cap;
    int bad;
} tbuf;

static void put(tbuf *b, const char *s, size_t n)
{
    if (b->bad || b->len + n + 1 > b->cap) {
        b->bad = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(tbuf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A header value as SigV4 wants it: outer spaces trimmed, inner runs of
 * spaces collapsed to one. */
static void put_value(tbuf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == ' ' || v[i] == '\t') {
            space = 1;
            continue;
        }
        if (space)
            put(b, " ", 1);
        space = 0;
        put(b, &v[i], 1);
    }
}

typedef struct hdr {
    char name[64];
    const char *value;
} hdr;

static int cmp_hdr(const void *a, const void *b)
{
    return strcmp(((const hdr *)a)->name, ((const hdr *)b)->name);
}

static int add_hdr(hdr *h, size_t *n, const char *name, const char *value)
{
    size_t len = strlen(name);
    if (*n >= MAX_HEADERS || len == 0 || len >= sizeof h->name || !value)
        return -1;
    for (size_t i = 0; i < len; i++)
        h[*n].name[i] = (char)tolower((unsigned char)name[i]);
    h[*n].name[len] = '\0';
    h[*n].value = value;
    (*n)++;
    return 0;
}

int sigv4_sign(const sigv4_in *in, sigv4_out *out)
{
    if (!in || !out || !in->method || !in->host || !in->region || !in->service ||
        !in->access_key || !in->secret_key || !*in->access_key || !*in->secret_key)
        return -1;
    struct tm tm;
    gmtime_r(&in->now, &tm);
    char date[9];
    if (strftime(out->amz_date, sizeof out->amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16 ||
        strftime(date, sizeof date, "%Y%m%d", &tm) != 8)
        return -1;

    hdr h[MAX_HEADERS];
    size_t nh = 0;
    int token = in->session_token && *in->session_token;
    if (add_hdr(h, &nh, "host", in->host) < 0 || add_hdr(h, &nh, "x-amz-date", out->amz_date) < 0 ||
        (token && add_hdr(h, &nh, "x-amz-security-token", in->session_token) < 0))
        return -1;
    for (size_t i = 0; i < in->nheaders; i++) {
        const char *nm = in->headers[i].name;
        if (!strcasecmp(nm, "host") || !strcasecmp(nm, "x-amz-date") ||
            !strcasecmp(nm, "x-amz-security-token") || !strcasecmp(nm, "authorization"))
            continue; /* ours */
        if (add_hdr(h, &nh, nm, in->headers[i].value) < 0)
            return -1;
    }
    qsort(h, nh, sizeof *h, cmp_hdr);
    for (size_t i = 1; i < nh; i++)
        if (!strcmp(h[i].name, h[i - 1].name))
            return -1; /* a repeated header would need its values joined: not needed here */

    char signed_hdrs[512];
    tbuf sh = {signed_hdrs, 0, sizeof signed_hdrs, 0};
    signed_hdrs[0] = '\0';
    for (size_t i = 0; i < nh; i++) {
        if (i)
            put(&sh, ";", 1);
        puts_(&sh, h[i].name);
    }

    char body_hash[65], creq_hash[65];
    if (sha256_hex(in->body ? in->body : "", in->body ? in->body_len : 0, body_hash) < 0)
        return -1;
    size_t cap = 8192 + strlen(in->host) + (token ? strlen(in->session_token) : 0);
    for (size_t i = 0; i < nh; i++)
        cap += strlen(h[i].value) + strlen(h[i].name) + 2;
    char *creq = malloc(cap);
    if (!creq)
        return -1;
    tbuf cr = {creq, 0, cap, 0};
    puts_(&cr, in->method);
    puts_(&cr, "\n");
    puts_(&cr, in->path && *in->path ? in->path : "/");
    puts_(&cr, "\n");
    puts_(&cr, in->query ? in->query : "");
    puts_(&cr, "\n");
    for (size_t i = 0; i < nh; i++) {
        puts_(&cr, h[i].name);
        puts_(&cr, ":");
        put_value(&cr, h[i].value);
        puts_(&cr, "\n");
    }
    puts_(&cr, "\n");
    puts_(&cr, signed_hdrs);
    puts_(&cr, "\n");
    puts_(&cr, body_hash);
    int bad = cr.bad || sh.bad || sha256_hex(creq, cr.len, creq_hash) < 0;
    free(creq);
    if (bad)
        return -1;

    char scope[256], sts[512];
    if ((size_t)snprintf(scope, sizeof scope, "%s/%s/%s/aws4_request", date, in->region,
                         in->service) >= sizeof scope ||
        (size_t)snprintf(sts, sizeof sts, "AWS4-HMAC-SHA256\n%s\n%s\n%s", out->amz_date, scope,
                         creq_hash) >= sizeof sts)
        return -1;

    char ksecret[256];
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    if ((size_t)snprintf(ksecret, sizeof ksecret, "AWS4%s", in->secret_key) >= sizeof ksecret)
        return -1;
    int rc = hmac(ksecret, strlen(ksecret), date, k1) < 0 || hmac(k1, 32, in->region, k2) < 0 ||
             hmac(k2, 32, in->service, k3) < 0 || hmac(k3, 32, "aws4_request", k4) < 0 ||
             hmac(k4, 32, sts, sig) < 0;
    memset(ksecret, 0, sizeof ksecret);
    memset(k1, 0, sizeof k1);
    memset(k4, 0, sizeof k4);
    if (rc)
        return -1;
    char sighex[65];
    hex(sig, 32, sighex);
    if ((size_t)snprintf(out->authorization, sizeof out->authorization,
                         "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
                         in->access_key, scope, signed_hdrs, sighex) >= sizeof out->authorization)
        return -1;
    return 0;
}

int sigv4_split_url(const char *url, char *host, size_t hostlen, char *path, size_t pathlen)
{
    const char *p = strstr(url, "://");
    if (!p)
        return -1;
    p += 3;
    size_t n = strcspn(p, "/?#");
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    /* the default port is not part of the Host header curl sends */
    size_t hl = strlen(host);
    if (!strncmp(url, "https://", 8) && hl > 4 && !strcmp(host + hl - 4, ":443"))
        host[hl - 4] = '\0';
    else if (!strncmp(url, "http://", 7) && hl > 3 && !strcmp(host + hl - 3, ":80"))
        host[hl - 3] = '\0';
    const char *rest = p + n;
    size_t m = strcspn(rest, "?#");
    if (m == 0) {
        if (pathlen < 2)
            return -1;
        strcpy(path, "/");
    } else {
        if (m >= pathlen)
            return -1;
        memcpy(path, rest, m);
        path[m] = '\0';
    }
    return 0;
}
