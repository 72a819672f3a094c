/*
 * sfn_bench.c - how fast the ASL core runs the trip saga, in-process.
 *
 * Runs statemachine/trip_saga.asl.json (or an embedded definition of the
 * same shape) with trivial C task handlers on a virtual clock, for at least
 * --seconds, and prints one JSON line (the sfn-bench contract in DESIGN.md):
 *   {"input","mode","n","seconds","exec_per_s","transitions_per_s",
 *    "p50_us","p99_us","allocs_per_exec"}
 * Modes: engine (input parsed once, output not serialised: what JavaScript
 * engines measure), json (JSON text in and out every execution), and naive
 * (the baseline the issue compares with: jansson parse, one deep copy per
 * call, serialise; no engine at all).
 *
 * Allocations are counted by interposing malloc/calloc/realloc/free here and
 * forwarding to glibc; the process is single-threaded, so a plain counter
 * does. Under a sanitizer the interposition is left out and allocs_per_exec
 * is reported as -1.
 *
 * Must not: touch the network or the disk after start-up (the definition is
 * read once), or read events through asl_exec_event_json in engine mode (that
 * is the lazy path a reader pays for, not the engine).
 */
#include "asl.h"
#include "asl_drive.h"
#include "asl_json.h" /* asl_json_text, asl_json_parse: what the API layer uses */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- allocation counting ------------------------------------------------- */
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define BENCH_NO_INTERPOSE 1
#endif
#endif

static unsigned long long g_allocs; /* malloc + calloc + realloc calls */

#ifndef BENCH_NO_INTERPOSE
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

/* Exported so that jansson and libc (strdup, vasprintf) allocate through
 * them too: glibc supports replacing these four. */
void *malloc(size_t n);
void *calloc(size_t a, size_t b);
void *realloc(void *p, size_t n);
void free(void *p);

void *malloc(size_t n)
{
    g_allocs++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    g_allocs++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    g_allocs++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}
#define ALLOCS_COUNTED 1
#else
#define ALLOCS_COUNTED 0
#endif

/* ---- fixed inputs: the seed's events, verbatim ------------------------------ */
static const char INPUT_SUCCESS[] =
    "{\n"
    "  \"tripId\": \"b7a3c1e2-0d4f-4a8e-9c61-3f2e5d7a1b01\",\n"
    "  \"depart\": \"London\",\n"
    "  \"departAt\": \"2017-07-10T06:00:00.000Z\",\n"
    "  \"arrive\": \"Dublin\",\n"
    "  \"arriveAt\": \"2017-07-12T08:00:00.000Z\",\n"
    "  \"hotel\": \"holiday inn\",\n"
    "  \"checkIn\": \"2017-07-10T12:00:00.000Z\",\n"
    "  \"checkOut\": \"2017-07-12T14:00:00.000Z\",\n"
    "  \"car\": \"Volvo\",\n"
    "  \"carFrom\": \"2017-07-10T00:00:00.000Z\",\n"
    "  \"carTo\": \"2017-07-12T00:00:00.000Z\"\n"
    "}\n";

static const char INPUT_FAIL[] =
    "{\n"
    "  \"tripId\": \"5c12d94a-ee6a-40d9-889b-1d49142248b7\",\n"
    "  \"depart\": \"London\",\n"
    "  \"departAt\": \"2017-07-10T06:00:00.000Z\",\n"
    "  \"arrive\": \"Dublin\",\n"
    "  \"arriveAt\": \"2017-07-12T08:00:00.000Z\",\n"
    "  \"hotel\": \"holiday inn\",\n"
    "  \"checkIn\": \"2017-07-10T12:00:00.000Z\",\n"
    "  \"checkOut\": \"2017-07-12T14:00:00.000Z\",\n"
    "  \"car\": \"Volvo\",\n"
    "  \"carFrom\": \"2017-07-10T00:00:00.000Z\",\n"
    "  \"carTo\": \"2017-07-12T00:00:00.000Z\",\n"
    "  \"failBookFlight\": true\n"
    "}\n";

/* The saga's shape, used when statemachine/trip_saga.asl.json is missing:
 * book hotel, flight, car (Retry on Lambda service errors, Catch -> its own
 * cancel), cancels in reverse order with Retry, a final Fail. */
#define RETRY_LAMBDA                                                                                   \
    "\"Retry\":[{\"ErrorEquals\":[\"Lambda.ServiceException\",\"Lambda.AWSLambdaException\","         \
    "\"Lambda.SdkClientException\",\"Lambda.TooManyRequestsException\"],\"IntervalSeconds\":1,"       \
    "\"MaxAttempts\":3,\"BackoffRate\":2}]"
#define RETRY_ALL                                                                                      \
    "\"Retry\":[{\"ErrorEquals\":[\"States.ALL\"],\"IntervalSeconds\":1,\"MaxAttempts\":6,"            \
    "\"BackoffRate\":2}]"
#define BOOK(NAME, KEY, CANCEL, NEXT)                                                                  \
    "\"" NAME "\":{\"Type\":\"Task\",\"Resource\":\"${" NAME "FunctionArn}\",\"TimeoutSeconds\":15,"   \
    "\"ResultPath\":\"$.results." KEY "\"," RETRY_LAMBDA ",\"Catch\":[{\"ErrorEquals\":[\"States.ALL\"]," \
    "\"ResultPath\":\"$.error\",\"Next\":\"" CANCEL "\"}],\"Next\":\"" NEXT "\"}"
#define CANCEL(NAME, KEY, NEXT)                                                                        \
    "\"" NAME "\":{\"Type\":\"Task\",\"Resource\":\"${" NAME "FunctionArn}\",\"TimeoutSeconds\":15,"   \
    "\"ResultPath\":\"$.results." KEY "\"," RETRY_ALL ",\"Next\":\"" NEXT "\"}"

static const char EMBEDDED_DEFINITION[] =
    "{\"StartAt\":\"BookHotel\",\"States\":{"
    BOOK("BookHotel", "hotel", "CancelHotel", "BookFlight") ","
    BOOK("BookFlight", "flight", "CancelFlight", "BookCar") ","
    BOOK("BookCar", "car", "CancelCar", "TripBooked") ","
    CANCEL("CancelCar", "cancelCar", "CancelFlight") ","
    CANCEL("CancelFlight", "cancelFlight", "CancelHotel") ","
    CANCEL("CancelHotel", "cancelHotel", "TripBookingFailed") ","
    "\"TripBooked\":{\"Type\":\"Succeed\"},"
    "\"TripBookingFailed\":{\"Type\":\"Fail\",\"Error\":\"TripBookingFailed\","
    "\"Cause\":\"a booking failed; every booking was cancelled\"}}}";

#ifndef SFN_SAGA_PATH
#define SFN_SAGA_PATH "statemachine/trip_saga.asl.json"
#endif

/* ---- the task handlers ---------------------------------------------------- */
enum handler { H_NONE = 0, H_BOOK_HOTEL, H_BOOK_FLIGHT, H_BOOK_CAR, H_CANCEL_HOTEL, H_CANCEL_FLIGHT, H_CANCEL_CAR };

static const struct {
    const char *name;    /* matched inside the function ARN */
    const char *kind;    /* the booking kind */
    const char *failkey; /* input flag that makes a booking fail */
} handlers[] = {
    [H_BOOK_HOTEL] = {"BookHotel", "HOTEL", "failBookHotel"},
    [H_BOOK_FLIGHT] = {"BookFlight", "FLIGHT", "failBookFlight"},
    [H_BOOK_CAR] = {"BookCar", "CAR", "failBookCar"},
    [H_CANCEL_HOTEL] = {"CancelHotel", "HOTEL", NULL},
    [H_CANCEL_FLIGHT] = {"CancelFlight", "FLIGHT", NULL},
    [H_CANCEL_CAR] = {"CancelCar", "CAR", NULL},
};

static int handler_find(const char *fn)
{
    if (fn == NULL)
        return H_NONE;
    for (int h = H_BOOK_HOTEL; h <= H_CANCEL_CAR; h++)
        if (strstr(fn, handlers[h].name) != NULL)
            return h;
    return H_NONE;
}

/* What a handler answers: a result (new) or an error with its cause. */
typedef struct answer {
    json_t *result;
    const char *error;
    char cause[256];
} answer;

/* A booking as the real function returns it. Returns: new. */
static json_t *booking_new(const char *kind, const char *status, const char *trip)
{
    json_t *o = json_object();
    json_object_set_new(o, "tripId", json_string(trip ? trip : ""));
    json_object_set_new(o, "kind", json_string(kind));
    json_object_set_new(o, "status", json_string(status));
    return o;
}

/* Run handler h on payload (borrowed). */
static void handler_run(int h, json_t *payload, answer *a)
{
    a->result = NULL;
    a->error = NULL;
    a->cause[0] = '\0';
    /* the saga passes {"trip": <input>, "executionId", ...}, as to the real functions */
    json_t *t = json_object_get(payload, "trip");
    if (json_is_object(t))
        payload = t;
    const char *trip = json_string_value(json_object_get(payload, "tripId"));
    if (h == H_NONE) {
        a->error = "Lambda.ResourceNotFoundException";
        snprintf(a->cause, sizeof a->cause, "no handler for this resource");
        return;
    }
    if (handlers[h].failkey && json_is_true(json_object_get(payload, handlers[h].failkey))) {
        a->error = "BookingFailed";
        /* A Lambda function error reaches the state machine as its error JSON. */
        snprintf(a->cause, sizeof a->cause,
                 "{\"errorType\":\"BookingFailed\",\"errorMessage\":\"%s booking refused for trip %s\"}",
                 handlers[h].kind, trip ? trip : "");
        return;
    }
    a->result = booking_new(handlers[h].kind, handlers[h].failkey ? "BOOKED" : "CANCELLED", trip);
}

/* ---- driving one execution (asl_drive) ---------------------------------------
 * Tasks are answered synchronously, in order; a timer is fed (virtual clock:
 * now = due) only when no task is outstanding, earliest first
 * (ASL_DRIVE_SERIAL). A stale timer (a task's timeout after it finished) is
 * ignored by the core.                                                     */
typedef struct tasks {
    answer a; /* the last answer: its cause is copied when bench_task returns */
} tasks;

static void bench_task(void *ctx, const asl_cmd *c, int64_t now_ms, asl_drive_answer *out)
{
    tasks *t = ctx;
    handler_run(handler_find(c->function ? c->function : c->resource), c->payload, &t->a);
    if (t->a.error) {
        out->kind = ASL_IN_TASK_FAILED;
        out->error = t->a.error;
        out->cause = t->a.cause;
    } else {
        out->kind = ASL_IN_TASK_SUCCEEDED;
        out->result_new = t->a.result;
    }
}

/* Read what full history recording left: every event's type. Returns a
 * checksum so the compiler cannot drop the loop. */
static size_t touch_history(const asl_exec *x)
{
    size_t n = asl_exec_event_count(x), sum = 0;
    for (size_t i = 0; i < n; i++) {
        const char *t = asl_exec_event_type(x, i);
        sum += t ? (unsigned char)t[0] : 0;
    }
    return sum;
}

/* ---- the naive baseline ------------------------------------------------------
 * A C data flow with jansson and no engine: parse, then for each call copy
 * the whole document and add its result (what an interpreter that copies at
 * every state does), then serialise. It follows the saga's data flow: on the
 * success input three bookings; with failBookFlight the hotel booking, the
 * failed flight (its error added), and the two cancels, newest first.      */
static void naive_call(json_t **doc, int h, const char *key, int *failed)
{
    answer a;
    handler_run(h, *doc, &a);
    json_t *copy = json_deep_copy(*doc);
    json_decref(*doc);
    *doc = copy;
    if (a.error) {
        json_object_set_new(copy, "error", json_pack("{s:s,s:s}", "Error", a.error, "Cause", a.cause));
        *failed = 1;
        return;
    }
    json_t *results = json_object_get(copy, "results");
    if (results == NULL) {
        results = json_object();
        json_object_set_new(copy, "results", results);
    }
    json_object_set_new(results, key, a.result);
}

static int naive_once(const char *text, size_t len, size_t *out_len)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (doc == NULL)
        return -1;
    int failed = 0, done = 0;
    static const struct {
        int book, cancel;
        const char *key;
    } steps[] = {
        {H_BOOK_HOTEL, H_CANCEL_HOTEL, "hotel"},
        {H_BOOK_FLIGHT, H_CANCEL_FLIGHT, "flight"},
        {H_BOOK_CAR, H_CANCEL_CAR, "car"},
    };
    for (done = 0; done < 3 && !failed; done++)
        naive_call(&doc, steps[done].book, steps[done].key, &failed);
    if (failed) {
        static const char *const ckeys[] = {"cancelHotel", "cancelFlight", "cancelCar"};
        for (int i = done - 1; i >= 0; i--) {
            int f2 = 0;
            naive_call(&doc, steps[i].cancel, ckeys[i], &f2);
        }
    }
    char *out = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (out == NULL)
        return -1;
    *out_len = strlen(out);
    free(out);
    return failed;
}

/* ---- measurement ------------------------------------------------------------ */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

enum mode { M_ENGINE, M_JSON, M_NAIVE };

typedef struct bench {
    int mode;
    int fail;
    const asl_machine *m;
    const char *text; /* input text */
    size_t len;
    json_t *input;    /* engine mode: parsed once */
    tasks t;
    asl_drive *d;
    uint64_t transitions;
    size_t sink;      /* keeps results alive to the optimiser */
    uint64_t seq;
} bench;

/* One execution, start to end. Returns 0 when it ended as the input says it
 * must (success -> SUCCEEDED, fail -> FAILED), -1 otherwise. */
static int run_once(bench *b, int check)
{
    if (b->mode == M_NAIVE) {
        size_t out_len = 0;
        int r = naive_once(b->text, b->len, &out_len);
        b->sink += out_len;
        return r == b->fail ? 0 : -1;
    }
    json_t *input = b->input;
    if (b->mode == M_JSON) {
        char err[160];
        input = asl_json_parse(b->text, b->len, err, sizeof err);
        if (input == NULL)
            return -1;
    }
    asl_exec_info info;
    memset(&info, 0, sizeof info);
    info.execution_arn = "arn:aws:states:us-east-1:123456789012:execution:TripSaga:bench";
    info.execution_name = "bench";
    info.state_machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:TripSaga";
    info.state_machine_name = "TripSaga";
    info.role_arn = "arn:aws:iam::123456789012:role/TripSagaRole";
    info.start_ms = 1700000000000LL;
    info.seed = ++b->seq;
    int rc = -1;
    asl_exec *x = asl_exec_start(b->m, &info, input);
    if (x == NULL)
        goto out;
    int ended = asl_drive_run(b->d, x, info.start_ms);
    if (ended < 0 || ended == ASL_RUNNING)
        goto out; /* out of memory, or stuck */
    b->transitions += asl_exec_transitions(x);
    b->sink += touch_history(x);
    int st = asl_exec_status(x);
    if (b->mode == M_JSON) {
        char *text;
        if (st == ASL_SUCCEEDED) {
            text = asl_json_text(asl_exec_output_get(x));
        } else {
            /* DescribeExecution's answer for a failed run: error and cause */
            json_t *o = json_object();
            json_object_set_new(o, "error", json_string(asl_exec_error(x) ? asl_exec_error(x) : ""));
            json_object_set_new(o, "cause", json_string(asl_exec_cause(x) ? asl_exec_cause(x) : ""));
            text = asl_json_text(o);
            json_decref(o);
        }
        if (text == NULL)
            goto out;
        b->sink += strlen(text);
        free(text);
    } else if (st == ASL_SUCCEEDED) {
        b->sink += (size_t)json_object_size(asl_exec_output_get(x));
    }
    if (check) {
        json_t *out = asl_exec_output_get(x);
        if (check > 1) {
            char *o = asl_json_text(out);
            fprintf(stderr, "sfn-bench: %s, %zu events, %llu transitions, error %s, cause %s, output %s\n",
                    asl_status_name(st), asl_exec_event_count(x), (unsigned long long)asl_exec_transitions(x),
                    asl_exec_error(x) ? asl_exec_error(x) : "-", asl_exec_cause(x) ? asl_exec_cause(x) : "-",
                    o ? o : "-");
            for (size_t i = 0; i < asl_exec_event_count(x); i++)
                fprintf(stderr, "  %zu %s\n", i + 1, asl_exec_event_type(x, i));
            free(o);
        }
        if (b->fail) {
            if (st != ASL_FAILED) {
                fprintf(stderr, "sfn-bench: fail input ended %s, not FAILED\n", asl_status_name(st));
                goto out;
            }
        } else {
            json_t *r = json_object_get(out, "results");
            if (st != ASL_SUCCEEDED || !json_object_get(r, "hotel") || !json_object_get(r, "flight") ||
                !json_object_get(r, "car")) {
                fprintf(stderr, "sfn-bench: success input ended %s (%s: %s) without three bookings\n",
                        asl_status_name(st), asl_exec_error(x) ? asl_exec_error(x) : "-",
                        asl_exec_cause(x) ? asl_exec_cause(x) : "-");
                goto out;
            }
        }
    } else if ((st == ASL_SUCCEEDED) == b->fail) {
        goto out;
    }
    rc = 0;
out:
    asl_exec_free(x);
    if (b->mode == M_JSON)
        json_decref(input);
    return rc;
}

/* ---- the definition ------------------------------------------------------- */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 65536, n = 0;
    char *s = malloc(cap);
    while (s) {
        size_t r = fread(s + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (n + 1 == cap) {
            char *ns = realloc(s, cap *= 2);
            if (ns == NULL) {
                free(s);
                s = NULL;
            } else
                s = ns;
        }
    }
    fclose(f);
    if (s) {
        s[n] = '\0';
        *len = n;
    }
    return s;
}

/* Replace each "${NameFunctionArn}" (a DefinitionSubstitutions placeholder)
 * by the Lambda ARN CloudFormation would give function Name. Returns new
 * text (malloc'd). */
static char *substitute(const char *def)
{
    size_t cap = strlen(def) * 2 + 256, n = 0;
    char *o = malloc(cap);
    if (o == NULL)
        return NULL;
    const char *p = def;
    while (*p) {
        const char *s = strstr(p, "${");
        const char *e = s ? strchr(s, '}') : NULL;
        if (s == NULL || e == NULL) {
            size_t r = strlen(p);
            if (n + r + 1 > cap) {
                char *no = realloc(o, cap = n + r + 1);
                if (no == NULL) {
                    free(o);
                    return NULL;
                }
                o = no;
            }
            memcpy(o + n, p, r);
            n += r;
            break;
        }
        size_t name_len = (size_t)(e - s - 2);
        char name[128];
        if (name_len >= sizeof name)
            name_len = sizeof name - 1;
        memcpy(name, s + 2, name_len);
        name[name_len] = '\0';
        size_t nl = strlen(name);
        if (nl > 11 && strcmp(name + nl - 11, "FunctionArn") == 0)
            name[nl - 11] = '\0';
        else if (nl > 3 && strcmp(name + nl - 3, "Arn") == 0)
            name[nl - 3] = '\0';
        char arn[256];
        int al = snprintf(arn, sizeof arn, "arn:aws:lambda:us-east-1:123456789012:function:%s", name);
        size_t head = (size_t)(s - p);
        if (n + head + (size_t)al + 1 > cap) {
            char *no = realloc(o, cap = (n + head + (size_t)al + 1) * 2);
            if (no == NULL) {
                free(o);
                return NULL;
            }
            o = no;
        }
        memcpy(o + n, p, head);
        n += head;
        memcpy(o + n, arn, (size_t)al);
        n += (size_t)al;
        p = e + 1;
    }
    o[n] = '\0';
    return o;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sfn-bench [--input success|fail] [--mode engine|json|naive] [--seconds S]\n"
               "                 [--definition FILE.asl.json|embedded] [--verbose]\n");
}

int main(int argc, char **argv)
{
    const char *input_name = "success", *mode_name = "engine", *def_path = NULL;
    double seconds = 5.0;
    int verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
            input_name = argv[++i];
        else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
            mode_name = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno || *end || !(seconds >= 0)) {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(argv[i], "--definition") == 0 && i + 1 < argc)
            def_path = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    bench b;
    memset(&b, 0, sizeof b);
    if (strcmp(input_name, "success") == 0)
        b.fail = 0;
    else if (strcmp(input_name, "fail") == 0)
        b.fail = 1;
    else {
        usage(stderr);
        return 2;
    }
    if (strcmp(mode_name, "engine") == 0)
        b.mode = M_ENGINE;
    else if (strcmp(mode_name, "json") == 0)
        b.mode = M_JSON;
    else if (strcmp(mode_name, "naive") == 0)
        b.mode = M_NAIVE;
    else {
        usage(stderr);
        return 2;
    }
    b.text = b.fail ? INPUT_FAIL : INPUT_SUCCESS;
    b.len = strlen(b.text);

    /* the definition: the saga's own file if we can find it */
    int rc = 1;
    asl_machine *m = NULL;
    char *raw = NULL, *def = NULL;
    const char *source = "embedded";
    size_t rawlen = 0;
    if (def_path && strcmp(def_path, "embedded") == 0) {
        /* the built-in copy of the saga's shape */
    } else if (def_path) {
        raw = read_file(def_path, &rawlen);
        if (raw == NULL) {
            fprintf(stderr, "sfn-bench: cannot read %s: %s\n", def_path, strerror(errno));
            return 2;
        }
        source = def_path;
    } else {
        static const char *const tries[] = {SFN_SAGA_PATH, "statemachine/trip_saga.asl.json"};
        for (size_t i = 0; i < sizeof tries / sizeof *tries && raw == NULL; i++)
            if ((raw = read_file(tries[i], &rawlen)) != NULL)
                source = tries[i];
    }
    def = substitute(raw ? raw : EMBEDDED_DEFINITION);
    if (def == NULL)
        goto done;
    asl_diags diags;
    memset(&diags, 0, sizeof diags);
    if (asl_machine_compile_text(def, strlen(def), ASL_STANDARD, &m, &diags) != SFN_OK) {
        char cause[2048];
        asl_diags_cause(&diags, cause, sizeof cause);
        fprintf(stderr, "sfn-bench: %s: %s\n", source, cause);
        rc = 2;
        goto done;
    }
    if (verbose)
        fprintf(stderr, "sfn-bench: definition %s\n", source);
    b.m = m;
    asl_drive_opts dopts = {.order = ASL_DRIVE_SERIAL, .task = bench_task, .ctx = &b.t};
    if ((b.d = asl_drive_new(&dopts)) == NULL)
        goto done;
    if (b.mode == M_ENGINE) {
        b.input = json_loadb(b.text, b.len, 0, NULL);
        if (b.input == NULL)
            goto done;
    }

    /* check it runs the saga as it must, then warm up */
    if (run_once(&b, verbose ? 2 : 1) != 0) {
        fprintf(stderr, "sfn-bench: the %s input did not run as expected\n", input_name);
        goto done;
    }
    for (int i = 0; i < 2000; i++)
        if (run_once(&b, 0) != 0)
            goto fail_run;

    size_t cap = 1 << 16, n = 0;
    uint32_t *lat = malloc(cap * sizeof *lat);
    if (lat == NULL)
        goto done;
    b.transitions = 0;
    unsigned long long allocs = 0;
    double t0 = now_s(), t1 = t0;
    uint64_t tick = now_ns();
    do {
        if (n == cap) {
            /* grown outside the counted window */
            uint32_t *nl = realloc(lat, (cap *= 2) * sizeof *lat);
            if (nl == NULL) {
                free(lat);
                goto done;
            }
            lat = nl;
        }
        unsigned long long a0 = g_allocs;
        int r = run_once(&b, 0);
        allocs += g_allocs - a0;
        uint64_t tock = now_ns();
        if (r != 0) {
            free(lat);
            goto fail_run;
        }
        uint64_t d = tock - tick;
        lat[n++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
        tick = tock;
        if ((n & 63) == 0 || seconds < 0.5)
            t1 = (double)tock / 1e9;
    } while (t1 - t0 < seconds || n < 1);
    t1 = now_s();
    double el = t1 - t0;
    qsort(lat, n, sizeof *lat, cmp_u32);
    double p50 = lat[(n - 1) / 2] / 1000.0;
    double p99 = lat[(size_t)((double)(n - 1) * 0.99)] / 1000.0;
    free(lat);
    printf("{\"input\":\"%s\",\"mode\":\"%s\",\"n\":%zu,\"seconds\":%.3f,\"exec_per_s\":%.0f,"
           "\"transitions_per_s\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"allocs_per_exec\":%.1f}\n",
           input_name, mode_name, n, el, (double)n / el, (double)b.transitions / el, p50, p99,
           ALLOCS_COUNTED ? (double)allocs / (double)n : -1.0);
    fflush(stdout);
    if (b.sink == 0)
        fprintf(stderr, "sfn-bench: nothing produced\n");
    rc = 0;
    goto done;
fail_run:
    fprintf(stderr, "sfn-bench: an execution did not end as the first one did\n");
done:
    asl_drive_free(b.d);
    json_decref(b.input);
    asl_machine_free(m);
    free(def);
    free(raw);
    return rc;
}
