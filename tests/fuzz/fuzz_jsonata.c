/*
 * fuzz_jsonata.c - JSONata compile + evaluate on arbitrary text against a
 * fixed $states, and the same text as a "{% %}" template field. Must never
 * crash, leak or trip a sanitizer; every result must print as JSON.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl_jsonata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char STATES[] =
    "{\"input\":{\"a\":{\"b\":[1,2,{\"c\":\"x\"}],\"s\":\"str\"},\"n\":null,\"l\":[{\"k\":1,\"v\":true},"
    "{\"k\":2,\"v\":false},{\"k\":\"3\"}],\"f\":1.5,\"t\":\"{\\\"j\\\":[1]}\"},"
    "\"context\":{\"Execution\":{\"Id\":\"arn:e\",\"StartTime\":\"2024-01-01T00:00:00.000Z\"},"
    "\"State\":{\"Name\":\"S\",\"EnteredTime\":\"2024-01-01T00:00:01.000Z\"}},"
    "\"result\":{\"r\":[1,2,3]},\"errorOutput\":{\"Error\":\"E\",\"Cause\":\"c\"}}";

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
    json_t *states = asl_json_parse(STATES, sizeof STATES - 1, err, sizeof err);
    json_t *vars = json_pack("{s:i,s:[i,s,{s:b}]}", "v", 3, "arr", 1, "x", "k", 1);
    asl_rng rng = {7};
    asl_scope sc = {NULL, lookup, vars, &rng};

    asl_jsonata *e;
    if (asl_jsonata_compile(text, &e, err, sizeof err) == 0) {
        json_t *out = NULL;
        asl_err ae = {0};
        if (asl_jsonata_eval_field(e, "Output", states, &sc, &out, &ae) == 0 && out) {
            char *t = asl_json_text(out);
            if (t == NULL)
                abort();
            free(t);
        } else if (ae.error == NULL && out == NULL) {
            asl_jsonata_err_undefined(e, "Output", &ae);
        }
        json_decref(out);
        asl_err_clear(&ae);
        asl_jsonata_free(e);
    }
    /* the same text inside a template */
    size_t n = strlen(text);
    char *wrapped = malloc(n + 8);
    if (wrapped) {
        memcpy(wrapped, "{%", 2);
        memcpy(wrapped + 2, text, n);
        memcpy(wrapped + 2 + n, "%}", 3);
        json_t *tj = json_pack("{s:[s,i]}", "k", wrapped, 1);
        asl_jtmpl *t;
        if (tj && asl_jtmpl_compile_field(tj, "Arguments", &t, err, sizeof err) == 0) {
            json_t *out = NULL;
            asl_err ae = {0};
            if (asl_jtmpl_eval(t, states, &sc, &out, &ae) == 0)
                json_decref(out);
            asl_err_clear(&ae);
            asl_jtmpl_free(t);
        }
        json_decref(tj);
        free(wrapped);
    }
    json_decref(vars);
    json_decref(states);
    free(text);
    return 0;
}
