/*
 * sfn_test_check.c - `sfn test`'s expectations against an ended execution,
 * and its JUnit XML (see sfn_test.h).
 */
#include "sfn_test.h"

#include "asl_json.h"
#include "asl_mock.h"

#include <stdlib.h>
#include <string.h>

/* Compact JSON text of v, cut to 400 characters. */
static void show(FILE *f, const json_t *v)
{
    char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    const char *s = t ? t : "null";
    if (strlen(s) > 400)
        fprintf(f, "%.400s...", s);
    else
        fputs(s, f);
    free(t);
}

static void show_list(FILE *f, const json_t *a)
{
    fputc('[', f);
    for (size_t i = 0; i < json_array_size(a); i++)
        fprintf(f, "%s%s", i ? ", " : "", json_string_value(json_array_get(a, i)));
    fputc(']', f);
}

/* The states entered and the event types of x, in order. */
static void walk(asl_exec *x, json_t *path, json_t *types)
{
    size_t n = asl_exec_event_count(x);
    for (size_t i = 0; i < n; i++) {
        const char *type = asl_exec_event_type(x, i);
        json_array_append_new(types, json_string(type ? type : "?"));
        if (type && strstr(type, "StateEntered")) {
            json_t *ev = asl_exec_event_json(x, i, 0);
            const char *name =
                json_string_value(json_object_get(json_object_get(ev, "stateEnteredEventDetails"), "name"));
            json_array_append_new(path, json_string(name ? name : "?"));
            json_decref(ev);
        }
    }
}

/* want (an array of strings) against got: exact, or (contains) an ordered
 * subsequence of it. */
static int list_check(FILE *d, const char *what, const json_t *want, const json_t *got, int contains)
{
    if (!json_is_array(want)) {
        fprintf(d, "    %s: the expectation must be an array of strings\n", what);
        return 1;
    }
    size_t j = 0;
    for (size_t i = 0; i < json_array_size(want); i++) {
        const char *w = json_string_value(json_array_get(want, i));
        if (!contains) {
            const char *g = json_string_value(json_array_get(got, i));
            if (w == NULL || g == NULL || strcmp(w, g) != 0) {
                fprintf(d, "    %s: first difference at [%zu]: expected %s, got %s\n", what, i,
                        w ? w : "(end)", g ? g : "(end)");
                goto differ;
            }
            continue;
        }
        while (j < json_array_size(got) && strcmp(json_string_value(json_array_get(got, j)), w ? w : "") != 0)
            j++;
        if (j == json_array_size(got)) {
            fprintf(d, "    %s: %s (expected [%zu], in this order) not found\n", what, w ? w : "?", i);
            goto differ;
        }
        j++;
    }
    if (contains || json_array_size(want) == json_array_size(got))
        return 0;
    fprintf(d, "    %s: expected %zu entries, got %zu\n", what, json_array_size(want),
            json_array_size(got));
differ:
    fprintf(d, "      expected ");
    show_list(d, want);
    fprintf(d, "\n      got      ");
    show_list(d, got);
    fputc('\n', d);
    return 1;
}

static int str_check(FILE *d, const char *what, const json_t *want, const char *got, int contains)
{
    const char *w = json_string_value(want);
    if (json_is_null(want) && got == NULL)
        return 0;
    if (w == NULL) {
        fprintf(d, "    %s: the expectation must be a string (or null)\n", what);
        return 1;
    }
    if (got && (contains ? strstr(got, w) != NULL : strcmp(got, w) == 0))
        return 0;
    fprintf(d, "    %s: expected %s\"%s\", got %s%s%s\n", what, contains ? "it to contain " : "", w,
            got ? "\"" : "", got ? got : "null", got ? "\"" : "");
    return 1;
}

static int output_check(FILE *d, const json_t *want, const json_t *got, int contains)
{
    char where[256];
    json_t *null = json_null();
    const json_t *g = got ? got : null, *w_at = NULL, *g_at = NULL;
    int ok = asl_json_subset_diff(want, g, where, sizeof where, &w_at, &g_at);
    if (ok && !contains) /* exact: got has nothing more either */
        ok = asl_json_subset_diff(g, want, where, sizeof where, &g_at, &w_at);
    if (ok)
        return 0;
    fprintf(d, "    %s at %s: expected ", contains ? "outputContains" : "output", where);
    if (w_at)
        show(d, w_at);
    else
        fputs("nothing", d);
    fprintf(d, ", got ");
    if (g_at)
        show(d, g_at);
    else
        fputs("nothing", d);
    fprintf(d, "\n      output: ");
    show(d, g);
    fputc('\n', d);
    return 1;
}

int sfn_test_check(asl_exec *x, const json_t *expect, FILE *d)
{
    int bad = 0;
    json_t *path = json_array(), *types = json_array();
    walk(x, path, types);
    const char *k;
    json_t *w;
    json_object_foreach((json_t *)expect, k, w) {
        if (!strcmp(k, "status")) {
            bad += str_check(d, k, w, asl_status_name(asl_exec_status(x)), 0);
        } else if (!strcmp(k, "error")) {
            bad += str_check(d, k, w, asl_exec_error(x), 0);
        } else if (!strcmp(k, "cause") || !strcmp(k, "causeContains")) {
            bad += str_check(d, k, w, asl_exec_cause(x), k[5] != 0);
        } else if (!strcmp(k, "output") || !strcmp(k, "outputContains")) {
            bad += output_check(d, w, asl_exec_output_get(x), k[6] != 0);
        } else if (!strcmp(k, "path")) {
            bad += list_check(d, k, w, path, 0);
        } else if (!strcmp(k, "historyTypes") || !strcmp(k, "historyContains")) {
            bad += list_check(d, k, w, types, !strcmp(k, "historyContains"));
        } else {
            fprintf(d, "    %s: not an expectation (status, error, cause, causeContains, output, "
                       "outputContains, path, historyTypes, historyContains)\n", k);
            bad++;
        }
    }
    json_decref(path);
    json_decref(types);
    return bad;
}

/* ---- JUnit XML ------------------------------------------------------------- */
static void xml(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc(' ', f); /* not allowed in XML 1.0 */
            else
                fputc(*s, f);
        }
    }
}

int sfn_test_junit(const char *path, const sfn_test_case *c, size_t n)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    size_t failed = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        failed += c[i].failures > 0;
        total += c[i].ms;
    }
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    fprintf(f, "<testsuites tests=\"%zu\" failures=\"%zu\" time=\"%.6f\">\n", n, failed, total / 1000);
    for (size_t i = 0; i < n;) {
        size_t j = i, nf = 0;
        double t = 0;
        for (; j < n && strcmp(c[j].suite, c[i].suite) == 0; j++) {
            nf += c[j].failures > 0;
            t += c[j].ms;
        }
        fprintf(f, "  <testsuite name=\"");
        xml(f, c[i].suite);
        fprintf(f, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" time=\"%.6f\">\n", j - i, nf, t / 1000);
        for (; i < j; i++) {
            fprintf(f, "    <testcase classname=\"");
            xml(f, c[i].suite);
            fprintf(f, "\" name=\"");
            xml(f, c[i].name);
            fprintf(f, "\" time=\"%.6f\"", c[i].ms / 1000);
            if (c[i].failures == 0) {
                fprintf(f, "/>\n");
                continue;
            }
            fprintf(f, ">\n      <failure message=\"%d difference%s\">", c[i].failures,
                    c[i].failures > 1 ? "s" : "");
            xml(f, c[i].diff);
            fprintf(f, "</failure>\n    </testcase>\n");
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
    return fclose(f) == 0 ? 0 : -1;
}
