/*
 * fuzz_path.c - JSONPath compile + evaluate + ResultPath placement, and the
 * bounded JSON parser/printer, on arbitrary text. Input: the path on the
 * first line; the rest, if it parses, is the document (else a fixed one).
 * Must never crash, leak or trip a sanitizer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FIXED[] =
    "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}],\"s\":\"str\"},\"n\":null,\"l\":[{\"k\":1,\"v\":true},"
    "{\"k\":2,\"v\":false},{\"k\":\"3\"}],\"f\":1.5,\"a b\":{\"'q'\":[[]]}}";

static json_t *lookup(void *ud, const char *name)
{
    return json_object_get((json_t *)ud, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *text = malloc(plen + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, plen);
    text[plen] = '\0';

    char err[256];
    json_t *doc = NULL;
    if (nl)
        doc = asl_json_parse((const char *)nl + 1, size - plen - 1, err, sizeof err);
    if (doc == NULL)
        doc = asl_json_parse(FIXED, sizeof FIXED - 1, err, sizeof err);
    json_t *ctx = json_pack("{s{ss}s{s{si}}}", "Execution", "Id", "arn:e", "Map", "Item", "Index", 1);
    json_t *vars = json_pack("{sOsi}", "v", doc, "n", 3);
    asl_rng rng = {1};
    asl_scope sc = {ctx, lookup, vars, &rng};

    asl_path *p;
    json_t *out;
    if (asl_path_compile(text, ASL_PATH_ANY, &p, err, sizeof err) == 0) {
        (void)asl_path_text(p);
        (void)asl_path_is_definite(p);
        if (asl_path_eval(p, doc, &sc, &out) == 0) {
            char *t = asl_json_text(out);
            json_t *back = t ? asl_json_parse(t, strlen(t), err, sizeof err) : NULL;
            if (back == NULL || !json_equal(back, out))
                abort(); /* our text must read back as the same value */
            json_decref(back);
            free(t);
            json_decref(out);
        }
        asl_path_free(p);
    }
    if (asl_path_compile(text, ASL_PATH_REFERENCE, &p, err, sizeof err) == 0) {
        char *before = asl_json_text(doc);
        asl_err e = {0};
        json_t *val = json_string("v");
        if (asl_path_set(p, doc, val, &out, &e) == 0)
            json_decref(out);
        asl_err_clear(&e);
        json_decref(val);
        char *after = asl_json_text(doc);
        if (before && after && strcmp(before, after) != 0)
            abort(); /* ResultPath must not modify its input */
        free(before);
        free(after);
        asl_path_free(p);
    }
    /* the same text as a template field */
    json_t *tj = json_pack("{s{ss}}", "o", "x.$", text);
    asl_tmpl *t;
    if (tj && asl_tmpl_compile(tj, "Parameters", &t, err, sizeof err) == 0) {
        asl_err e = {0};
        if (asl_tmpl_eval(t, doc, &sc, &out, &e) == 0)
            json_decref(out);
        asl_err_clear(&e);
        asl_tmpl_free(t);
    }
    json_decref(tj);
    json_decref(vars);
    json_decref(ctx);
    json_decref(doc);
    free(text);
    return 0;
}
