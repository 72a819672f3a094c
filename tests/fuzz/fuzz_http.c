/*
 * fuzz_http.c - fuzz the HTTP/1.1 request parser (src/loop/http_parse.c),
 * the first code every byte from a client reaches.
 *
 * The parser source is compiled into this target directly, so the target
 * links without sfn_loop (tests/fuzz links only asl and sfnd_core); the
 * parser is pure and self-contained for exactly this reason.
 *
 * Checks: no crash or over-read; a positive result is a head length within
 * the input whose spans all lie inside it; every proper prefix of a valid
 * head is "need more" or the same answer; tight limits never accept more.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/loop/http_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_spans(const http_parsed *p, size_t head)
{
    assert(p->method.off + p->method.len <= head);
    assert(p->path.off + p->path.len <= head);
    assert(p->query.off + p->query.len <= head);
    assert(p->nheaders >= 0 && p->nheaders <= HTTP_MAX_HEADERS);
    for (int i = 0; i < p->nheaders; i++) {
        assert(p->hname[i].off + p->hname[i].len <= head);
        assert(p->hvalue[i].off + p->hvalue[i].len <= head);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy to an exact-size heap block so ASan catches any over-read. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    http_parsed p;
    int rc = http_parse_request(buf, size, NULL, &p);
    if (rc > 0) {
        assert((size_t)rc <= size);
        check_spans(&p, (size_t)rc);
        /* the same head alone parses to the same length */
        http_parsed q;
        assert(http_parse_request(buf, (size_t)rc, NULL, &q) == rc);
        /* a prefix is never a complete different request */
        int pr = http_parse_request(buf, (size_t)rc - 1, NULL, &q);
        assert(pr <= 0);
    }
    http_limits tight = {.max_head = 64, .max_body = 8};
    int rt = http_parse_request(buf, size, &tight, &p);
    if (rt > 0) {
        assert(rt <= 64);
        assert(p.content_length <= 8);
        check_spans(&p, (size_t)rt);
    }
    free(buf);
    return 0;
}
