/*
 * sigv4.h - AWS Signature Version 4 for one HTTP request.
 *
 * We sign ourselves instead of libcurl's CURLOPT_AWS_SIGV4 so that the
 * signed header list is exactly the headers we send: libcurl 7.88 also
 * signed an "Expect:" it had been told to remove (curl issue 11664), and
 * AWS refused every request with SignatureDoesNotMatch.
 *
 * The signer adds x-amz-date and, with a session token (what Lambda
 * provides), x-amz-security-token to the signed headers; the caller must
 * send both with the values in sigv4_out, plus every header it listed.
 * Header names are matched case-insensitively and sorted here.
 */
#ifndef SFN_SIGV4_H
#define SFN_SIGV4_H

#include <stddef.h>
#include <time.h>

typedef struct sigv4_header {
    const char *name;  /* e.g. "Content-Type" */
    const char *value;
} sigv4_header;

typedef struct sigv4_in {
    const char *method;        /* "POST" */
    const char *host;          /* the Host header: "dynamodb.us-east-1.amazonaws.com" or "127.0.0.1:5000" */
    const char *path;          /* "/" (already URI-encoded) */
    const char *query;         /* canonical query string, "" for none */
    const sigv4_header *headers; /* besides host, x-amz-date, x-amz-security-token */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *region, *service;
    const char *access_key, *secret_key;
    const char *session_token; /* NULL or "": none */
    time_t now;                /* request time, UTC */
} sigv4_in;

typedef struct sigv4_out {
    char amz_date[17];         /* 20150830T123600Z */
    char authorization[1024];
} sigv4_out;

/* 0, or -1 when an argument is missing or too long. */
int sigv4_sign(const sigv4_in *in, sigv4_out *out);

/* Parse "http[s]://host[:port][/path]" into the Host header value and the
 * path ("/" when none). 0 or -1. */
int sigv4_split_url(const char *url, char *host, size_t hostlen, char *path, size_t pathlen);

#endif
