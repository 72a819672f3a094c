/*
 * fuzz_intrinsic.c - intrinsic function compile + evaluate on arbitrary
 * text against a fixed document, context and variables. Must never crash,
 * leak or trip a sanitizer; a failure must always carry an error name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char FIXED[] =
    "{\"s\":\"a,b,,c\",\"n\":7,\"f\":-2.5,\"arr\":[1,2,2,\"x\",{\"k\":[1]}],\"o\":{\"a\":1},"
    "\"o2\":{\"b\":2},\"b64\":\"SGVsbG8=\",\"js\":\"{\\\"q\\\":[1,2]}\",\"t\":true,\"z\":null}";

static json_t *lookup(void *ud, const char *name)
{
    return json_object_get((json_t *)ud, name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char err[256];
    json_t *doc = asl_json_parse(FIXED, sizeof FIXED - 1, err, sizeof err);
    json_t *ctx = json_pack("{s{ss}s{s{ss}}}", "StateMachine", "Name", "m-n", "Execution", "Input",
                            "x", "y");
    json_t *vars = json_pack("{sisO}", "v", 4, "doc", doc);
    asl_rng rng = {size};
    asl_scope sc = {ctx, lookup, vars, &rng};
    (void)asl_is_intrinsic(text);
    asl_intrinsic *f;
    if (asl_intrinsic_compile(text, &f, err, sizeof err) == 0) {
        json_t *out;
        asl_err e = {0};
        if (asl_intrinsic_eval(f, doc, &sc, &out, &e) == 0) {
            if (e.error != NULL)
                abort();
            char *t = asl_json_text(out);
            free(t);
            json_decref(out);
        } else if (e.error == NULL) {
            abort();
        }
        asl_err_clear(&e);
        asl_intrinsic_free(f);
    }
    json_decref(vars);
    json_decref(ctx);
    json_decref(doc);
    free(text);
    return 0;
}
