/* fuzz_fjson.c - the direct JSON reader against jansson, and the history
 * log form's expansion.
 *
 * fjson_loadb must give what json_loadb gives for any input: the same
 * value (compared by compact dump) or the same refusal. The expansion of
 * @<id> tokens must never read past the line, and a line without tokens
 * outside strings must come back unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "asl_json.h"
#include "fjson.h"

static int lookup(void *ctx, int64_t id, const char **tok, size_t *toklen)
{
    (void)ctx;
    if (id % 3 == 0)
        return -1;
    *tok = "\"x\"";
    *toklen = 3;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    for (int any = 0; any < 2; any++) {
        size_t flags = any ? JSON_DECODE_ANY : 0;
        json_error_t e1, e2;
        json_t *a = fjson_loadb(text, size, flags, &e1, NULL);
        json_t *b = json_loadb(text, size, flags, &e2);
        if ((a == NULL) != (b == NULL))
            abort();
        if (a && b) {
            char *da = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
            char *db = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
            if ((da == NULL) != (db == NULL) || (da && strcmp(da, db) != 0))
                abort();
            free(da);
            free(db);
        }
        json_decref(a);
        json_decref(b);
    }
    asl_jbuf out = {0};
    int rc = asl_event_log_expand(text, size, lookup, NULL, &out);
    if (rc == SFN_OK && memchr(text, '@', size) == NULL &&
        (out.n != size || (size && memcmp(out.p, text, size) != 0)))
        abort();
    asl_jbuf_cleanup(&out);
    const char *tok;
    size_t tl;
    if (asl_event_log_payload(text, size, &tok, &tl) == 0 &&
        (tok < text || tok + tl > text + size || tl < 2 || tok[0] != '"' || tok[tl - 1] != '"'))
        abort();
    return 0;
}
