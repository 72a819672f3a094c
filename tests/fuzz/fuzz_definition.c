/*
 * fuzz_definition.c - arbitrary bytes as a state machine definition: parse
 * (bounded, as the API does), validate, and when valid compile and free.
 * Whatever the input, this must neither crash, leak nor run unbounded.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"
#include "asl_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (size > ASL_MAX_DEFINITION)
        return 0;
    json_t *def = asl_json_parse((const char *)data, size, err, sizeof err);
    if (def == NULL)
        return 0;
    /* The first byte picks the machine type, so EXPRESS rules get fuzzed
     * too without changing what the rest of the input means as JSON. */
    int type = size > 0 && (data[0] & 1) ? ASL_EXPRESS : ASL_STANDARD;
    asl_diags diags;
    char cause[4096];
    if (asl_validate(def, type, &diags) == 0) {
        asl_machine *m = NULL;
        if (asl_machine_compile(def, type, &m, &diags) == 0)
            asl_machine_free(m);
    } else {
        asl_diags_cause(&diags, cause, sizeof cause);
    }
    json_decref(def);
    return 0;
}
