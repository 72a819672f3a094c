/*
 * test_store.c - the SQLite store: round trips, ordering, pagination, and
 * that an uncommitted transaction leaves nothing behind (what recovery
 * relies on).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "test_tmpdb.h"
#include "sqlvfs.h"

#include <sys/wait.h>

#include <sqlite3.h>

static store *open_mem(void)
{
    store *s = NULL;
    char err[256];
    assert_int_equal(store_open(":memory:", 1, &s, err, sizeof err), STORE_OK);
    return s;
}


static void test_sm_roundtrip(void **state)
{
    (void)state;
    store *s = open_mem();
    int64_t def_id = 0;
    assert_int_equal(store_def_insert(s, "arn:sm:a", "{\"StartAt\":\"x\"}", 0, &def_id), 0);
    assert_true(def_id > 0);
    store_sm sm = {.arn = "arn:sm:a", .name = "a", .role_arn = "arn:role", .type = 1,
                   .def_id = def_id, .created_ms = 1000, .updated_ms = 2000, .from_template = 1};
    assert_int_equal(store_sm_put(s, &sm), 0);
    store_sm got;
    assert_int_equal(store_sm_get(s, "arn:sm:a", &got), 0);
    assert_string_equal(got.name, "a");
    assert_string_equal(got.role_arn, "arn:role");
    assert_int_equal(got.type, 1);
    assert_int_equal(got.def_id, def_id);
    assert_int_equal(got.created_ms, 1000);
    assert_int_equal(got.from_template, 1);
    store_sm_cleanup(&got);
    assert_int_equal(store_sm_get(s, "arn:sm:none", &got), STORE_ENOENT);

    char *def = NULL;
    int type = -1;
    assert_int_equal(store_def_get(s, def_id, &def, &type), 0);
    assert_string_equal(def, "{\"StartAt\":\"x\"}");
    assert_int_equal(type, 0);
    free(def);
    assert_int_equal(store_def_get(s, 999, &def, &type), STORE_ENOENT);

    /* deleted machines are hidden from the walk */
    store_sm b = sm;
    b.arn = "arn:sm:b";
    b.name = "b";
    b.deleted = 1;
    assert_int_equal(store_sm_put(s, &b), 0);
    store_close(s);
}

static int count_cb(void *ctx, const store_sm *sm)
{
    (void)sm;
    (*(int *)ctx)++;
    return 0;
}

static void test_sm_each_skips_deleted(void **state)
{
    (void)state;
    store *s = open_mem();
    store_sm a = {.arn = "arn:a", .name = "a", .def_id = 1};
    store_sm b = {.arn = "arn:b", .name = "b", .def_id = 1, .deleted = 1};
    store_sm c = {.arn = "arn:c", .name = "c", .def_id = 1};
    assert_int_equal(store_sm_put(s, &a), 0);
    assert_int_equal(store_sm_put(s, &b), 0);
    assert_int_equal(store_sm_put(s, &c), 0);
    int n = 0;
    assert_int_equal(store_sm_each(s, count_cb, &n), 0);
    assert_int_equal(n, 2);
    store_close(s);
}

static void insert_exec(store *s, const char *arn, int status, int64_t *id)
{
    store_exec x = {.arn = (char *)arn, .sm_arn = "arn:sm", .name = "n", .input = "{}",
                    .status = status, .start_ms = 5, .seed = UINT64_C(0xfedcba9876543210),
                    .def_id = 1};
    assert_int_equal(store_exec_insert(s, &x), 0);
    *id = x.id;
}

static void test_exec_roundtrip_and_duplicate(void **state)
{
    (void)state;
    store *s = open_mem();
    int64_t id;
    insert_exec(s, "arn:x:1", STORE_RUNNING, &id);
    store_exec x = {.arn = "arn:x:1", .sm_arn = "arn:sm", .name = "n", .input = "{}"};
    assert_int_equal(store_exec_insert(s, &x), STORE_EEXIST);

    store_exec got;
    assert_int_equal(store_exec_get(s, "arn:x:1", &got), 0);
    assert_int_equal(got.id, id);
    /* the seed survives the signed SQLite integer */
    assert_true(got.seed == UINT64_C(0xfedcba9876543210));
    assert_null(got.output);
    store_exec_cleanup(&got);

    assert_int_equal(store_exec_set_status(s, id, STORE_FAILED, 99, NULL, "E", "C"), 0);
    assert_int_equal(store_exec_get_id(s, id, &got), 0);
    assert_int_equal(got.status, STORE_FAILED);
    assert_int_equal(got.stop_ms, 99);
    assert_string_equal(got.error, "E");
    assert_string_equal(got.cause, "C");
    store_exec_cleanup(&got);
    assert_int_equal(store_exec_get(s, "arn:none", &got), STORE_ENOENT);
    store_close(s);
}

/* What an execution ended with lives apart from its row (exec_end): it
 * comes back with the row, goes when the execution runs again (redrive),
 * and rows written before that table, with their output in the row, read
 * as they did. */
static void test_exec_end(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_end_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    int64_t id, old;
    insert_exec(s, "arn:x:new", STORE_RUNNING, &id);
    insert_exec(s, "arn:x:old", STORE_RUNNING, &old);
    assert_int_equal(store_exec_set_status(s, id, STORE_SUCCEEDED, 7, "{\"ok\":1}", NULL, NULL), 0);
    store_exec got;
    assert_int_equal(store_exec_get(s, "arn:x:new", &got), 0);
    assert_int_equal(got.status, STORE_SUCCEEDED);
    assert_int_equal(got.stop_ms, 7);
    assert_string_equal(got.output, "{\"ok\":1}");
    assert_null(got.error);
    store_exec_cleanup(&got);
    /* redriven: running, nothing ended with */
    assert_int_equal(store_exec_set_status(s, id, STORE_RUNNING, 0, NULL, NULL, NULL), 0);
    assert_int_equal(store_exec_get_id(s, id, &got), 0);
    assert_int_equal(got.status, STORE_RUNNING);
    assert_null(got.output);
    store_exec_cleanup(&got);
    assert_int_equal(store_exec_set_status(s, id, STORE_FAILED, 9, NULL, "E", "C"), 0);
    store_close(s);

    /* a row as an earlier version wrote it */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE executions SET status=1, stop_ms=3, output='{\"legacy\":true}' WHERE id=%lld",
             (long long)old);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    assert_int_equal(store_exec_get_id(s, old, &got), 0);
    assert_string_equal(got.output, "{\"legacy\":true}");
    store_exec_cleanup(&got);
    assert_int_equal(store_exec_get_id(s, id, &got), 0);
    assert_int_equal(got.status, STORE_FAILED);
    assert_null(got.output);
    assert_string_equal(got.error, "E");
    assert_string_equal(got.cause, "C");
    store_exec_cleanup(&got);
    /* the legacy row redriven and ended again: the new ending wins */
    assert_int_equal(store_exec_set_status(s, old, STORE_RUNNING, 0, NULL, NULL, NULL), 0);
    assert_int_equal(store_exec_get_id(s, old, &got), 0);
    assert_null(got.output);
    store_exec_cleanup(&got);
    assert_int_equal(store_exec_set_status(s, old, STORE_SUCCEEDED, 4, "2", NULL, NULL), 0);
    assert_int_equal(store_exec_get_id(s, old, &got), 0);
    assert_string_equal(got.output, "2");
    store_exec_cleanup(&got);
    store_close(s);
    unlink_db(path);
}

struct list_ctx {
    int n;
    int64_t ids[16];
};

static int list_cb(void *ctx, const store_exec *x)
{
    struct list_ctx *l = ctx;
    l->ids[l->n++] = x->id;
    return 0;
}

static void test_exec_list_pages(void **state)
{
    (void)state;
    store *s = open_mem();
    int64_t ids[5];
    char arn[32];
    for (int i = 0; i < 5; i++) {
        snprintf(arn, sizeof arn, "arn:x:%d", i);
        insert_exec(s, arn, i % 2 ? STORE_SUCCEEDED : STORE_RUNNING, &ids[i]);
    }
    struct list_ctx l = {0};
    int64_t next = 0;
    assert_int_equal(store_exec_list(s, "arn:sm", -1, 0, 2, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.ids[0], ids[4]); /* newest first */
    assert_int_equal(l.ids[1], ids[3]);
    assert_int_equal(next, ids[3]);
    assert_int_equal(store_exec_list(s, "arn:sm", -1, next, 2, list_cb, &l, &next), 0);
    assert_int_equal(store_exec_list(s, "arn:sm", -1, next, 2, list_cb, &l, &next), 0);
    assert_int_equal(l.n, 5);
    assert_int_equal(next, 0); /* no further page */
    assert_int_equal(l.ids[4], ids[0]);

    struct list_ctx r = {0};
    assert_int_equal(store_exec_list(s, "arn:sm", STORE_RUNNING, 0, 0, list_cb, &r, &next), 0);
    assert_int_equal(r.n, 3);
    struct list_ctx run = {0};
    assert_int_equal(store_exec_each_running(s, list_cb, &run), 0);
    assert_int_equal(run.n, 3);
    assert_int_equal(run.ids[0], ids[0]); /* oldest first */
    int64_t cnt;
    assert_int_equal(store_exec_count(s, "arn:sm", &cnt), 0);
    assert_int_equal(cnt, 5);
    store_close(s);
}

struct in_ctx {
    int n;
    int64_t seq[8];
    char result[8][32];
};

static int in_cb(void *ctx, const store_input *in)
{
    struct in_ctx *c = ctx;
    c->seq[c->n] = in->seq;
    snprintf(c->result[c->n], sizeof c->result[0], "%s", in->result ? in->result : "(null)");
    c->n++;
    return 0;
}

struct in_full {
    int n;
    store_input in[8];
    char text[8][3][24];
};

static int in_full_cb(void *ctx, const store_input *in)
{
    struct in_full *c = ctx;
    assert_true(c->n < 8);
    c->in[c->n] = *in;
    const char *v[3] = {in->result, in->error, in->cause};
    for (int i = 0; i < 3; i++)
        snprintf(c->text[c->n][i], sizeof c->text[0][0], "%s", v[i] ? v[i] : "(null)");
    c->n++;
    return 0;
}

/* Inputs kept in the rows of the steps they caused come back with those
 * kept alone (a step without events), in seq order, every field intact;
 * the step rows' events read as before. */
static void test_step_rows_keep_inputs(void **state)
{
    (void)state;
    store *s = open_mem();
    store_input i1 = {.seq = 1, .kind = 1, .id = 11, .now_ms = 100, .result = "{\"r\":1}"};
    store_input i2 = {.seq = 2, .kind = 2, .id = 12, .now_ms = 200, .error = "E", .cause = "C"};
    store_input i3 = {.seq = 3, .kind = 3, .id = 13, .now_ms = 300};
    const char *start = "{\"id\":1}\n{\"id\":2}";
    assert_int_equal(store_step_append(s, 5, 1, 2, start, strlen(start), NULL), 0);
    assert_int_equal(store_step_append(s, 5, 3, 3, "{\"id\":3}", 8, &i1), 0);
    assert_int_equal(store_input_append(s, 5, &i2), 0); /* a step without events */
    assert_int_equal(store_step_append(s, 5, 4, 5, "{\"id\":4}\n{\"id\":5}", 17, &i3), 0);
    store_input other = {.seq = 1, .kind = 1, .id = 99, .now_ms = 1};
    assert_int_equal(store_step_append(s, 6, 1, 1, "{\"id\":1}", 8, &other), 0);

    struct in_full c = {0};
    assert_int_equal(store_input_each(s, 5, in_full_cb, &c), 0);
    assert_int_equal(c.n, 3);
    const store_input *want[3] = {&i1, &i2, &i3};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c.in[i].seq, want[i]->seq);
        assert_int_equal(c.in[i].kind, want[i]->kind);
        assert_int_equal(c.in[i].id, want[i]->id);
        assert_int_equal(c.in[i].now_ms, want[i]->now_ms);
    }
    assert_string_equal(c.text[0][0], "{\"r\":1}");
    assert_string_equal(c.text[0][1], "(null)");
    assert_string_equal(c.text[1][0], "(null)");
    assert_string_equal(c.text[1][1], "E");
    assert_string_equal(c.text[1][2], "C");
    int64_t seq;
    assert_int_equal(store_input_next_seq(s, 5, &seq), 0);
    assert_int_equal(seq, 4);
    assert_int_equal(store_input_next_seq(s, 6, &seq), 0);
    assert_int_equal(seq, 2);
    int64_t max;
    assert_int_equal(store_event_max(s, 5, &max), 0);
    assert_int_equal(max, 5);
    char *text = NULL;
    assert_int_equal(store_event_text(s, 5, 4, &text), 0);
    assert_non_null(strstr(text, "{\"id\":4}"));
    free(text);
    store_close(s);
}

/* A data directory whose event_log predates the input columns: they are
 * added, its rows read as before, and new steps keep their inputs. */
static void test_step_input_migration(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_mig3_XXXXXX";
    legacy_db(path,
              "CREATE TABLE event_log(id INTEGER PRIMARY KEY, exec_id INTEGER NOT NULL,"
              " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, body TEXT NOT NULL);"
              "CREATE UNIQUE INDEX event_log_exec ON event_log(exec_id, last_id);"
              "INSERT INTO event_log(exec_id,first_id,last_id,body)"
              " VALUES(3,1,2,'{\"id\":1}' || char(10) || '{\"id\":2}');");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    store_input in = {.seq = 1, .kind = 1, .id = 7, .now_ms = 5, .result = "true"};
    assert_int_equal(store_step_append(s, 3, 3, 3, "{\"id\":3}", 8, &in), 0);
    struct in_full c = {0};
    assert_int_equal(store_input_each(s, 3, in_full_cb, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.in[0].id, 7);
    assert_string_equal(c.text[0][0], "true");
    int64_t max;
    assert_int_equal(store_event_max(s, 3, &max), 0);
    assert_int_equal(max, 3);
    char *text = NULL;
    assert_int_equal(store_event_text(s, 3, 2, &text), 0);
    assert_non_null(strstr(text, "{\"id\":2}"));
    free(text);
    store_close(s);
    unlink_db(path);
}

static void test_inputs_and_events(void **state)
{
    (void)state;
    store *s = open_mem();
    int64_t seq;
    assert_int_equal(store_input_next_seq(s, 7, &seq), 0);
    assert_int_equal(seq, 1);
    store_input a = {.seq = 2, .kind = 1, .id = 3, .now_ms = 10, .result = "{\"a\":1}"};
    store_input b = {.seq = 1, .kind = 3, .id = 4, .now_ms = 9};
    assert_int_equal(store_input_append(s, 7, &a), 0);
    assert_int_equal(store_input_append(s, 7, &b), 0);
    assert_int_equal(store_input_append(s, 7, &b), STORE_EEXIST);
    struct in_ctx c = {0};
    assert_int_equal(store_input_each(s, 7, in_cb, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.seq[0], 1);
    assert_string_equal(c.result[0], "(null)");
    assert_string_equal(c.result[1], "{\"a\":1}");
    assert_int_equal(store_input_next_seq(s, 7, &seq), 0);
    assert_int_equal(seq, 3);

    for (int i = 1; i <= 5; i++) {
        char body[32];
        snprintf(body, sizeof body, "{\"id\":%d}", i);
        assert_int_equal(store_event_append(s, 7, i, "T", body), 0);
    }
    assert_int_equal(store_event_append(s, 7, 3, "T", "{}"), STORE_EEXIST);
    int64_t max;
    assert_int_equal(store_event_max(s, 7, &max), 0);
    assert_int_equal(max, 5);
    assert_int_equal(store_event_max(s, 8, &max), 0);
    assert_int_equal(max, 0);
    store_close(s);
}

struct ev_ctx {
    int n;
    int64_t ids[8];
};

static int ev_cb(void *ctx, int64_t id, const char *type, const char *json)
{
    struct ev_ctx *c = ctx;
    (void)type;
    (void)json;
    c->ids[c->n++] = id;
    return 0;
}

static void test_events_order_and_range(void **state)
{
    (void)state;
    store *s = open_mem();
    for (int i = 1; i <= 6; i++)
        assert_int_equal(store_event_append(s, 1, i, "T", "{}"), 0);
    struct ev_ctx c = {0};
    assert_int_equal(store_event_each(s, 1, 2, 0, 0, 3, ev_cb, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.ids[0], 2);
    assert_int_equal(c.ids[2], 4);
    struct ev_ctx d = {0};
    assert_int_equal(store_event_each(s, 1, 1, 5, 1, 0, ev_cb, &d), 0);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.ids[0], 5);
    assert_int_equal(d.ids[4], 1);
    store_close(s);
}

struct bev_ctx {
    int n;
    int64_t ids[80];
    char texts[80][48];
    char types[80][32];
    int stop_after; /* nonzero: return 7 at this call */
};

static int bev_cb(void *ctx, int64_t id, const char *type, const char *json)
{
    struct bev_ctx *c = ctx;
    c->ids[c->n] = id;
    snprintf(c->texts[c->n], sizeof c->texts[0], "%s", json);
    snprintf(c->types[c->n], sizeof c->types[0], "%s", type ? type : "");
    c->n++;
    return c->stop_after && c->n == c->stop_after ? 7 : 0;
}

/* A step's events are one row: reads split it back into events, across
 * row boundaries, in both orders, with limits (GetExecutionHistory pages). */
static void test_event_batches(void **state)
{
    (void)state;
    store *s = open_mem();
    /* exec 1: ids 1..2, 3..5, 6 (a batch of one), 7..76 (more than 64) */
    const char *b1 = "{\"id\":1,\"type\":\"ExecutionStarted\"}\n{\"id\":2,\"type\":\"A\"}";
    const char *b2 = "{\"id\":3,\"s\":\"a\\nb\"}\n{\"id\":4}\n{\"id\":5,\"type\":\"B\"}";
    assert_int_equal(store_events_append(s, 1, 1, 2, b1, strlen(b1)), 0);
    assert_int_equal(store_events_append(s, 1, 3, 5, b2, strlen(b2)), 0);
    assert_int_equal(store_event_append(s, 1, 6, "T", "{\"id\":6}"), 0);
    char big[4096];
    size_t o = 0;
    for (int i = 7; i <= 76; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s{\"id\":%d}", i > 7 ? "\n" : "", i);
    assert_int_equal(store_events_append(s, 1, 7, 76, big, o), 0);
    /* another execution's rows are never mixed in */
    assert_int_equal(store_events_append(s, 2, 1, 1, "{\"id\":1}", 8), 0);
    assert_int_equal(store_events_append(s, 0, 1, 1, "{\"id\":1}", 8), 0);
    int64_t max = 0;
    assert_int_equal(store_event_max(s, 1, &max), 0);
    assert_int_equal(max, 76);
    assert_int_equal(store_event_max(s, 3, &max), 0);
    assert_int_equal(max, 0);

    struct bev_ctx a = {0};
    assert_int_equal(store_event_each(s, 1, 1, 0, 0, 0, bev_cb, &a), 0);
    assert_int_equal(a.n, 76);
    for (int i = 0; i < 76; i++)
        assert_int_equal(a.ids[i], i + 1);
    assert_string_equal(a.texts[0], "{\"id\":1,\"type\":\"ExecutionStarted\"}");
    assert_string_equal(a.types[0], "ExecutionStarted");
    assert_string_equal(a.texts[2], "{\"id\":3,\"s\":\"a\\nb\"}");
    assert_string_equal(a.texts[5], "{\"id\":6}");
    assert_string_equal(a.texts[75], "{\"id\":76}");

    /* a page starting inside a row and ending inside another */
    struct bev_ctx p = {0};
    assert_int_equal(store_event_each(s, 1, 4, 0, 0, 4, bev_cb, &p), 0);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.ids[0], 4);
    assert_int_equal(p.ids[3], 7);
    assert_string_equal(p.texts[1], "{\"id\":5,\"type\":\"B\"}");

    /* reverse from 5 down: 5, 4, 3, 2 */
    struct bev_ctx r = {0};
    assert_int_equal(store_event_each(s, 1, 1, 5, 1, 4, bev_cb, &r), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.ids[0], 5);
    assert_int_equal(r.ids[3], 2);
    assert_string_equal(r.texts[2], "{\"id\":3,\"s\":\"a\\nb\"}");

    /* a nonzero return from the callback stops the walk and is returned */
    struct bev_ctx k = {.stop_after = 3};
    assert_int_equal(store_event_each(s, 1, 1, 0, 0, 0, bev_cb, &k), 7);
    assert_int_equal(k.n, 3);
    store_close(s);
}

/* ---- history pages: bounded rows (issue 12) ------------------------------ */
struct page_ctx {
    int n;
    int64_t ids[1100];
};

/* Each event's text must be its own: {"id":<id>,...}. */
static int page_cb(void *ctx, int64_t id, const char *type, const char *json)
{
    struct page_ctx *c = ctx;
    char want[32];
    (void)type;
    int w = snprintf(want, sizeof want, "{\"id\":%lld,", (long long)id);
    if (strncmp(json, want, (size_t)w) != 0)
        fail_msg("event %lld reads as %.60s", (long long)id, json);
    assert_true(c->n < 1100);
    c->ids[c->n++] = id;
    return 0;
}

/* Lines {"id":first,"p":"<pad>"} .. {"id":last,...} joined by '\n'. */
static char *event_lines(int64_t first, int64_t last, size_t pad, size_t *len)
{
    size_t cap = (size_t)(last - first + 1) * (pad + 40) + 1, o = 0;
    char *b = malloc(cap);
    assert_non_null(b);
    for (int64_t i = first; i <= last; i++) {
        o += (size_t)snprintf(b + o, cap - o, "%s{\"id\":%lld,\"p\":\"", i > first ? "\n" : "",
                              (long long)i);
        memset(b + o, 'x', pad);
        o += pad;
        o += (size_t)snprintf(b + o, cap - o, "\"}");
    }
    *len = o;
    return b;
}

static void check_page(store *s, int64_t exec, int64_t from, int64_t to, int reverse, int limit,
                       int64_t want_first, int want_n)
{
    struct page_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(store_event_each(s, exec, from, to, reverse, limit, page_cb, c), 0);
    assert_int_equal(c->n, want_n);
    for (int i = 0; i < c->n; i++)
        assert_int_equal(c->ids[i], reverse ? want_first - i : want_first + i);
    free(c);
}

static void check_text(store *s, int64_t exec, int64_t id)
{
    char *t = NULL, want[32];
    assert_int_equal(store_event_text(s, exec, id, &t), 0);
    int w = snprintf(want, sizeof want, "{\"id\":%lld,", (long long)id);
    assert_int_equal(strncmp(t, want, (size_t)w), 0);
    assert_string_equal(t + strlen(t) - 2, "\"}");
    free(t);
}

static int64_t user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long count_rows(const char *path, int64_t exec_id);
static int seq_cb(void *ctx, const store_input *in);

/* One step of 3,000 events (an inline Map, a Pass loop) is stored as rows of
 * at most 64 events, its input with the first: a page or one event read by
 * id costs a few rows whatever the step made. Pages forwards and backwards
 * from the middle, across row boundaries, and each event by id read back
 * right; the input is returned once. */
static void test_history_pages_bounded_rows(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_pages_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    size_t len;
    char *big = event_lines(1, 3000, 20, &len);
    store_input in1 = {.seq = 1, .kind = 1, .id = 9, .now_ms = 5, .result = "{\"r\":1}"};
    store_input in2 = {.seq = 2, .kind = 1, .id = 10, .now_ms = 6, .result = "{\"r\":2}"};
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_step_append(s, 1, 1, 3000, big, len, &in1), 0);
    free(big);
    big = event_lines(3001, 3010, 20, &len);
    assert_int_equal(store_step_append(s, 1, 3001, 3010, big, len, &in2), 0);
    free(big);
    /* payloads of 20 KB: rows close at about 64 KB, 4 events */
    big = event_lines(1, 10, 20000, &len);
    assert_int_equal(store_step_append(s, 2, 1, 10, big, len, NULL), 0);
    free(big);
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(count_rows(path, 1), 47 + 1); /* ceil(3000 / 64), then the 10 */
    assert_int_equal(count_rows(path, 2), 3);      /* 4 + 4 + 2 */

    check_page(s, 1, 1, 0, 0, 1000, 1, 1000);       /* first page */
    check_page(s, 1, 1500, 0, 0, 1000, 1500, 1000); /* a middle page */
    check_page(s, 1, 2500, 0, 0, 1000, 2500, 511);  /* the last, into the next step */
    check_page(s, 1, 1, 0, 1, 1000, 3010, 1000);    /* reverse from the end */
    check_page(s, 1, 1, 2000, 1, 1000, 2000, 1000); /* reverse from the middle */
    check_page(s, 1, 1, 700, 1, 1000, 700, 700);    /* reverse, the last page */
    check_page(s, 1, 64, 65, 0, 0, 64, 2);          /* across a row boundary */
    check_page(s, 1, 64, 65, 1, 0, 65, 2);
    check_page(s, 2, 1, 0, 0, 0, 1, 10);
    check_page(s, 2, 1, 0, 1, 0, 10, 10);
    int64_t ids[] = {1, 63, 64, 65, 128, 129, 2999, 3000, 3001, 3010};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        check_text(s, 1, ids[i]);
    for (int64_t i = 1; i <= 10; i++)
        check_text(s, 2, i);
    char *t = NULL;
    assert_int_equal(store_event_text(s, 1, 3011, &t), STORE_ENOENT);
    int64_t max = 0;
    assert_int_equal(store_event_max(s, 1, &max), 0);
    assert_int_equal(max, 3010);
    int64_t seqs[8] = {0};
    assert_int_equal(store_input_each(s, 1, seq_cb, seqs), 0);
    assert_int_equal(seqs[0], 2);
    assert_int_equal(seqs[1], 1);
    assert_int_equal(seqs[2], 2);
    store_close(s);
    assert_int_equal(user_version(path), 1);
    unlink_db(path);
}

/* A database written before rows were bounded: its rows of hundreds of
 * events are split once at open (user_version 0 -> 1), keeping every event,
 * the step's input (once) and a row of fewer lines than ids as it was; a
 * second open changes nothing. */
static void test_history_old_rows_split(void **state)
{
    (void)state;
    size_t len;
    char *big = event_lines(1, 300, 10, &len);
    size_t cap = len + 4096;
    char *sql = malloc(cap);
    assert_non_null(sql);
    int w = snprintf(sql, cap,
                     "CREATE TABLE event_log(id INTEGER PRIMARY KEY, exec_id INTEGER NOT NULL,"
                     " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, body TEXT NOT NULL,"
                     " seq INTEGER, kind INTEGER, task_id INTEGER, now_ms INTEGER, result TEXT,"
                     " error TEXT, cause TEXT);"
                     "CREATE UNIQUE INDEX event_log_exec ON event_log(exec_id, last_id);"
                     "INSERT INTO event_log(exec_id,first_id,last_id,body,seq,kind,task_id,now_ms,"
                     "result) VALUES(5,1,300,'%s',3,1,7,42,'{\"ok\":true}');"
                     /* a row of 100 ids holding only two lines (as written) */
                     "INSERT INTO event_log(exec_id,first_id,last_id,body) VALUES(5,301,400,"
                     "'{\"id\":301,\"p\":\"a\"}\n{\"id\":302,\"p\":\"b\"}');"
                     "INSERT INTO event_log(exec_id,first_id,last_id,body) VALUES(6,1,1,"
                     "'{\"id\":1,\"p\":\"c\"}');",
                     big);
    assert_true(w > 0 && (size_t)w < cap);
    free(big);
    char path[] = "/tmp/test_store_oldrows_XXXXXX";
    legacy_db(path, sql);
    free(sql);
    assert_int_equal(user_version(path), 0);
    for (int pass = 0; pass < 2; pass++) {
        char err[256];
        store *s = NULL;
        assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
        check_page(s, 5, 1, 0, 0, 0, 1, 302);
        check_page(s, 5, 1, 0, 1, 1000, 302, 302);
        check_page(s, 5, 1, 200, 1, 150, 200, 150);
        check_page(s, 5, 100, 0, 0, 100, 100, 100);
        check_text(s, 5, 1);
        check_text(s, 5, 128);
        check_text(s, 5, 300);
        check_text(s, 5, 302);
        check_page(s, 6, 1, 0, 0, 0, 1, 1);
        int64_t max = 0;
        assert_int_equal(store_event_max(s, 5, &max), 0);
        assert_int_equal(max, 400);
        int64_t seqs[8] = {0};
        assert_int_equal(store_input_each(s, 5, seq_cb, seqs), 0);
        assert_int_equal(seqs[0], 1);
        assert_int_equal(seqs[1], 3);
        store_close(s);
        assert_int_equal(count_rows(path, 5), 5 + 1); /* ceil(300 / 64), then 301..400 */
        assert_int_equal(user_version(path), 1);
    }
    unlink_db(path);
}

/* A data directory from before event batches keeps its history. */
static void test_event_migration(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_mig_XXXXXX";
    legacy_db(path,
              "CREATE TABLE events(exec_id INTEGER NOT NULL, id INTEGER NOT NULL,"
              " type TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY(exec_id, id))"
              " WITHOUT ROWID;"
              "INSERT INTO events VALUES(4,1,'A','{\"id\":1}'),(4,2,'B','{\"id\":2}');");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    struct bev_ctx a = {0};
    assert_int_equal(store_event_each(s, 4, 1, 0, 0, 0, bev_cb, &a), 0);
    assert_int_equal(a.n, 2);
    assert_string_equal(a.texts[1], "{\"id\":2}");
    store_close(s);
    /* opening again does not migrate twice */
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    struct bev_ctx b = {0};
    assert_int_equal(store_event_each(s, 4, 1, 0, 0, 0, bev_cb, &b), 0);
    assert_int_equal(b.n, 2);
    store_close(s);
    unlink_db(path);
}

/* A data directory with per-execution keyed tables (event_batches, inputs)
 * keeps its history and inputs, in order, on the append-only logs. */
static int seq_cb(void *ctx, const store_input *in)
{
    int64_t *seqs = ctx;
    seqs[seqs[0] + 1] = in->seq;
    seqs[0]++;
    assert_true(in->result != NULL);
    return 0;
}

static void test_batch_migration(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_mig2_XXXXXX";
    legacy_db(path,
              "CREATE TABLE event_batches(k INTEGER PRIMARY KEY, last_id INTEGER NOT NULL,"
              " body TEXT NOT NULL);"
              "INSERT INTO event_batches VALUES((7<<32)|3,3,'{\"id\":3}'),"
              "((7<<32)|1,2,'{\"id\":1}\n{\"id\":2}'),((8<<32)|1,1,'{\"id\":9}');"
              "CREATE TABLE inputs(exec_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
              " kind INTEGER NOT NULL, task_id INTEGER NOT NULL, now_ms INTEGER NOT NULL,"
              " result TEXT, error TEXT, cause TEXT, PRIMARY KEY(exec_id, seq)) WITHOUT ROWID;"
              "INSERT INTO inputs VALUES(7,2,1,5,100,'{}',NULL,NULL),"
              "(7,1,1,4,90,'[]',NULL,NULL);");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    struct bev_ctx a = {0};
    assert_int_equal(store_event_each(s, 7, 1, 0, 0, 0, bev_cb, &a), 0);
    assert_int_equal(a.n, 3);
    assert_string_equal(a.texts[0], "{\"id\":1}");
    assert_string_equal(a.texts[2], "{\"id\":3}");
    int64_t max = 0;
    assert_int_equal(store_event_max(s, 7, &max), 0);
    assert_int_equal(max, 3);
    int64_t seqs[8] = {0};
    assert_int_equal(store_input_each(s, 7, seq_cb, seqs), 0);
    assert_int_equal(seqs[0], 2);
    assert_int_equal(seqs[1], 1);
    assert_int_equal(seqs[2], 2);
    int64_t next = 0;
    assert_int_equal(store_input_next_seq(s, 7, &next), 0);
    assert_int_equal(next, 3);
    store_close(s);
    unlink_db(path);
}

/* What recovery relies on: a transaction not committed before a crash
 * leaves nothing; one committed survives a reopen. */
static void test_txn_durability(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_begin(s), 0); /* nested begin is a no-op */
    assert_true(store_in_txn(s));
    assert_int_equal(store_event_append(s, 1, 1, "A", "{}"), 0);
    assert_int_equal(store_commit(s), 0);
    assert_false(store_in_txn(s));
    assert_int_equal(store_begin(s), 0);
    assert_int_equal(store_event_append(s, 1, 2, "B", "{}"), 0);
    store_close(s); /* without commit: rolled back */

    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    int64_t max;
    assert_int_equal(store_event_max(s, 1, &max), 0);
    assert_int_equal(max, 1);
    store_close(s);
    unlink_db(path);
}

static long file_size(const char *path, const char *sfx)
{
    char p2[300];
    snprintf(p2, sizeof p2, "%s%s", path, sfx);
    FILE *f = fopen(p2, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* The checkpointer thread keeps the WAL short while commits go on without
 * a pause (each one writes pages the next does not rewrite), and the
 * committed rows are all there after a reopen. A second store on the same
 * database is refused while the first is open. */
static void test_checkpointer_and_owner(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL, *s2 = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(store_open(path, 1, &s2, err, sizeof err), STORE_EDB);
    assert_null(s2);
    assert_non_null(strstr(err, "in use by another process"));
    char *body = malloc(3001);
    assert_non_null(body);
    memset(body, 'x', 3000);
    body[3000] = '\0';
    long max_wal = 0;
    enum { COMMITS = 2500 }; /* about 3 WAL frames each: 7 checkpoints' worth */
    for (int i = 1; i <= COMMITS; i++) {
        assert_int_equal(store_begin(s), 0);
        assert_int_equal(store_events_append(s, 7, i, i, body, 3000), 0);
        assert_int_equal(store_commit(s), 0);
        long w = file_size(path, "-wal");
        if (w > max_wal)
            max_wal = w;
    }
    free(body);
    assert_true(store_checkpoints(s) >= 1);
    /* 1000 frames of 4 KB before a checkpoint, a few commits' worth more
     * while it runs: without one the WAL would hold every commit (30 MB) */
    assert_true(max_wal < 8L * 1024 * 1024);
    store_close(s);
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    int64_t max;
    assert_int_equal(store_event_max(s, 7, &max), 0);
    assert_int_equal(max, COMMITS);
    store_close(s);
    unlink_db(path);
}

static long count_rows(const char *path, int64_t exec_id)
{
    /* another connection, through SQLite's own VFS: what is on file */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM event_log WHERE exec_id=?", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, exec_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static void append_rows(store *s, int64_t exec_id, int n, const char *body, size_t len)
{
    assert_int_equal(store_begin(s), 0);
    for (int i = 1; i <= n; i++)
        assert_int_equal(store_events_append(s, exec_id, i, i, body, len), 0);
    assert_int_equal(store_commit(s), 0);
}

/* The store's VFS writes a commit's log frames in one call (SQLite makes
 * two per page), and they are on file when the commit returns: another
 * connection sees them. Transactions larger than what it gathers, and
 * ones that spill pages before their commit (frames SQLite re-reads and
 * rewrites), come back whole after a reopen; a process that dies with a
 * transaction open leaves the committed ones and nothing of the open one. */
#define BODY 6000
static void test_log_writes_gathered(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    char *body = malloc(BODY + 1);
    assert_non_null(body);
    /* random letters: deflate makes 6,000 of them about 3.6 KB, a page */
    uint32_t x = 12345;
    for (int i = 0; i < BODY; i++) {
        x = x * 1103515245u + 12345u;
        body[i] = (char)('a' + (x >> 16) % 26);
    }
    body[BODY] = '\0';
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);

    long seen0, made0, seen1, made1;
    sqlvfs_gather_counts(&seen0, &made0);
    append_rows(s, 1, 30, body, BODY); /* about 30 pages, 120 KB */
    sqlvfs_gather_counts(&seen1, &made1);
    assert_true(seen1 - seen0 >= 60);          /* a header and a page per frame */
    assert_true(made1 - made0 >= 1);
    assert_true(made1 - made0 <= 2);           /* 120 KB: one or two writes */
    assert_int_equal(count_rows(path, 1), 30); /* on file at the commit */

    append_rows(s, 2, 500, body, BODY); /* 1.5 MB: more than is gathered */
    assert_int_equal(count_rows(path, 2), 500);
    append_rows(s, 3, 1200, body, BODY); /* 3.6 MB: past the page cache, spills */
    assert_int_equal(count_rows(path, 3), 1200);
    store_close(s);

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* no cmocka here: exit codes */
        store *c = NULL;
        char e[256];
        if (store_open(path, 1, &c, e, sizeof e) != 0)
            _exit(2);
        if (store_begin(c) || store_events_append(c, 4, 1, 1, body, BODY) || store_commit(c))
            _exit(3);
        if (store_begin(c) || store_events_append(c, 5, 1, 1, body, BODY))
            _exit(4);
        for (int i = 2; i <= 40; i++) /* gathered, never synced */
            if (store_events_append(c, 5, i, i, body, BODY))
                _exit(5);
        _exit(0); /* as if killed: no rollback, no close */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    int64_t max;
    assert_int_equal(store_event_max(s, 1, &max), 0);
    assert_int_equal(max, 30);
    assert_int_equal(store_event_max(s, 3, &max), 0);
    assert_int_equal(max, 1200);
    assert_int_equal(store_event_max(s, 4, &max), 0);
    assert_int_equal(max, 1);
    assert_int_equal(count_rows(path, 5), 0);
    store_close(s);
    free(body);
    unlink_db(path);
}

#undef BODY

/* ---- retention and compression ---------------------------------------- */
/* A saga-like execution: its row, an input, two steps of events (the
 * first with its input), an end unless running. Payloads repeat the
 * trip, as a saga's do. */
static const char trip[] = "{\"trip\":{\"tripId\":\"9f1b25c8-db78-4fb4-9637-ca9f78d45ff9\","
                           "\"depart\":\"London\",\"departAt\":\"2017-07-10T06:00:00.000Z\","
                           "\"arrive\":\"Dublin\",\"arriveAt\":\"2017-07-12T08:00:00.000Z\"}}";

static int64_t saga_exec(store *s, int n, int status, int64_t stop_ms)
{
    char arn[64], ev[2048];
    snprintf(arn, sizeof arn, "arn:x:%d", n);
    store_exec x = {.arn = arn, .sm_arn = "arn:sm", .name = "n", .input = (char *)trip,
                    .status = STORE_RUNNING, .start_ms = 5, .def_id = 1};
    assert_int_equal(store_exec_insert(s, &x), 0);
    store_input in = {.seq = 1, .kind = 1, .id = 7, .now_ms = 6, .result = trip};
    assert_int_equal(store_input_append(s, x.id, &in), 0);
    int len = snprintf(ev, sizeof ev,
                       "{\"id\":1,\"type\":\"ExecutionStarted\",\"input\":%s}\n"
                       "{\"id\":2,\"type\":\"TaskStateEntered\",\"input\":%s}",
                       trip, trip);
    assert_int_equal(store_events_append(s, x.id, 1, 2, ev, (size_t)len), 0);
    store_input in2 = {.seq = 2, .kind = 1, .id = 8, .now_ms = 7, .result = trip};
    len = snprintf(ev, sizeof ev, "{\"id\":3,\"type\":\"TaskStateExited\",\"output\":%s}", trip);
    assert_int_equal(store_step_append(s, x.id, 3, 3, ev, (size_t)len, &in2), 0);
    if (status != STORE_RUNNING)
        assert_int_equal(store_exec_set_status(s, x.id, status, stop_ms, trip, NULL, NULL), 0);
    return x.id;
}

static int count_inputs(void *ctx, const store_input *in)
{
    assert_string_equal(in->result, trip);
    (*(int *)ctx)++;
    return 0;
}

/* How many rows of every table hold exec_id (another connection). */
static long rows_of(const char *path, int64_t exec_id)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM executions WHERE id=?1)+"
                                        "(SELECT count(*) FROM exec_end WHERE exec_id=?1)+"
                                        "(SELECT count(*) FROM input_log WHERE exec_id=?1)+"
                                        "(SELECT count(*) FROM event_log WHERE exec_id=?1)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, exec_id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Executions that ended before the cut go with every row they own, the
 * oldest first and at most `limit` per call; recent ones and running ones
 * (whatever their age) stay whole. */
static void test_retention_removes_old_closed(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_ret_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    int64_t old[250], recent[5], running[5];
    assert_int_equal(store_begin(s), 0);
    for (int i = 0; i < 5; i++)
        running[i] = saga_exec(s, 1000 + i, STORE_RUNNING, 0);
    for (int i = 0; i < 250; i++) /* stopped at 1000 + i: the oldest first */
        old[i] = saga_exec(s, i, i % 3 == 0 ? STORE_FAILED : STORE_SUCCEEDED, 1000 + (249 - i));
    for (int i = 0; i < 5; i++)
        recent[i] = saga_exec(s, 2000 + i, STORE_ABORTED, 50000);
    assert_int_equal(store_commit(s), 0);
    assert_true(rows_of(path, old[0]) >= 4);

    int n = -1;
    assert_int_equal(store_exec_expire(s, 10000, 200, &n), 0); /* its own transaction */
    assert_int_equal(n, 200);
    /* the 200 that stopped first: old[249] .. old[50] */
    assert_int_equal(rows_of(path, old[249]), 0);
    assert_int_equal(rows_of(path, old[50]), 0);
    assert_true(rows_of(path, old[49]) >= 4);
    assert_int_equal(store_begin(s), 0); /* inside the caller's transaction */
    assert_int_equal(store_exec_expire(s, 10000, 200, &n), 0);
    assert_int_equal(n, 50);
    assert_true(store_in_txn(s));
    assert_int_equal(store_commit(s), 0);
    assert_int_equal(store_exec_expire(s, 10000, 200, &n), 0);
    assert_int_equal(n, 0);

    store_exec x;
    for (int i = 0; i < 250; i++) {
        assert_int_equal(rows_of(path, old[i]), 0);
        assert_int_equal(store_exec_get_id(s, old[i], &x), STORE_ENOENT);
    }
    assert_int_equal(store_exec_get(s, "arn:x:0", &x), STORE_ENOENT);
    int64_t max = -1, seq = -1;
    assert_int_equal(store_event_max(s, old[0], &max), 0);
    assert_int_equal(max, 0);
    assert_int_equal(store_input_next_seq(s, old[0], &seq), 0);
    assert_int_equal(seq, 1);
    int64_t keep[10];
    memcpy(keep, recent, sizeof recent);
    memcpy(keep + 5, running, sizeof running);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(store_exec_get_id(s, keep[i], &x), 0);
        assert_string_equal(x.input, trip);
        if (i < 5)
            assert_string_equal(x.output, trip);
        store_exec_cleanup(&x);
        assert_int_equal(store_event_max(s, keep[i], &max), 0);
        assert_int_equal(max, 3);
        int k = 0;
        assert_int_equal(store_input_each(s, keep[i], count_inputs, &k), 0);
        assert_int_equal(k, 2);
    }
    /* a cut past every stop: the recent go too, the running never */
    assert_int_equal(store_exec_expire(s, INT64_MAX, 200, &n), 0);
    assert_int_equal(n, 5);
    for (int i = 0; i < 5; i++)
        assert_true(rows_of(path, running[i]) >= 3);
    /* a redriven execution runs again: out of retention's reach */
    assert_int_equal(store_exec_set_status(s, running[0], STORE_FAILED, 1, NULL, "E", "C"), 0);
    assert_int_equal(store_exec_set_status(s, running[0], STORE_RUNNING, 0, NULL, NULL, NULL), 0);
    assert_int_equal(store_exec_expire(s, INT64_MAX, 200, &n), 0);
    assert_int_equal(n, 0);
    store_close(s);
    unlink_db(path);
}

static long file_pages(const char *path, long *freelist)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT * FROM pragma_page_count, "
                                            "pragma_freelist_count", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = sqlite3_column_int64(st, 0);
    *freelist = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Removed executions' pages are reused: rounds of "add 300, remove what
 * ended" leave the file the size the first round made it. */
/* The mock test case an execution runs: kept with it, read back, removed
 * with it by retention (store_mock.c). */
static void test_exec_mock_test_case(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_mock_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    assert_int_equal(store_begin(s), 0);
    int64_t mocked = saga_exec(s, 1, STORE_SUCCEEDED, 100), plain = saga_exec(s, 2, STORE_RUNNING, 0);
    assert_int_equal(store_exec_mock_set(s, mocked, "BookCarFails"), 0);
    assert_int_equal(store_commit(s), 0);
    char *tc = NULL;
    assert_int_equal(store_exec_mock_get(s, mocked, &tc), 0);
    assert_string_equal(tc, "BookCarFails");
    free(tc);
    assert_int_equal(store_exec_mock_get(s, plain, &tc), 0);
    assert_null(tc);
    /* reopened: still there */
    store_close(s);
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    assert_int_equal(store_exec_mock_get(s, mocked, &tc), 0);
    assert_string_equal(tc, "BookCarFails");
    free(tc);
    int n = -1;
    assert_int_equal(store_exec_expire(s, 1000, 10, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_exec_mock_get(s, mocked, &tc), 0);
    assert_null(tc);
    store_close(s);
    unlink(path);
}

static void test_retention_space_reused(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_reuse_XXXXXX";
    tmp_db(path);
    char err[256];
    long pages[4], fl;
    for (int round = 0; round < 4; round++) {
        store *s = NULL;
        assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
        assert_int_equal(store_begin(s), 0);
        for (int i = 0; i < 300; i++)
            saga_exec(s, round * 1000 + i, STORE_SUCCEEDED, 100 + round);
        assert_int_equal(store_commit(s), 0);
        int n = 0, total = 0;
        do {
            assert_int_equal(store_exec_expire(s, 1000, 200, &n), 0);
            total += n;
        } while (n > 0);
        assert_int_equal(total, 300);
        store_close(s); /* the last connection checkpoints the WAL */
        pages[round] = file_pages(path, &fl);
        assert_true(fl > 0);
    }
    assert_true(pages[3] <= pages[0] + 4);
    unlink_db(path);
}

/* Payloads are stored deflated (a BLOB) and read back as they were given,
 * through every reader; short ones and text written by earlier builds stay
 * text; a blob that does not inflate is an error, not a crash. */
static int text_of_each(void *ctx, int64_t id, const char *type, const char *json)
{
    (void)id;
    (void)type;
    char **seen = ctx;
    free(seen[0]); /* the last one seen */
    seen[0] = strdup(json);
    return 0;
}

static void test_payloads_compressed(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_z_XXXXXX";
    legacy_db(path, "CREATE TABLE event_log(id INTEGER PRIMARY KEY, exec_id INTEGER NOT NULL,"
                    " first_id INTEGER NOT NULL, last_id INTEGER NOT NULL, body TEXT NOT NULL,"
                    " seq INTEGER, kind INTEGER, task_id INTEGER, now_ms INTEGER, result TEXT,"
                    " error TEXT, cause TEXT);"
                    "INSERT INTO event_log(exec_id,first_id,last_id,body,seq,kind,task_id,now_ms,"
                    "result) VALUES(9,1,2,'{\"id\":1,\"old\":\"text row of an earlier build,"
                    " long enough to have been deflated by this one\"}\n{\"id\":2}',1,1,1,1,"
                    "'{\"result\":\"of an earlier build, long enough to have been deflated by"
                    " this one, were it written now\"}');");
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    store_set_compress(s, 1);
    assert_int_equal(store_begin(s), 0);
    int64_t id = saga_exec(s, 1, STORE_SUCCEEDED, 10);
    store_input shortin = {.seq = 3, .kind = 1, .id = 9, .now_ms = 8, .result = "{\"a\":1}"};
    assert_int_equal(store_input_append(s, id, &shortin), 0);
    assert_int_equal(store_commit(s), 0);

    store_exec x;
    assert_int_equal(store_exec_get_id(s, id, &x), 0);
    assert_string_equal(x.input, trip);
    assert_string_equal(x.output, trip);
    store_exec_cleanup(&x);
    char *t = NULL, *seen[1] = {NULL};
    assert_int_equal(store_event_text(s, id, 3, &t), 0);
    assert_non_null(strstr(t, "TaskStateExited"));
    assert_non_null(strstr(t, trip));
    free(t);
    assert_int_equal(store_event_each(s, id, 2, 2, 0, 0, text_of_each, seen), 0);
    assert_non_null(seen[0]);
    assert_non_null(strstr(seen[0], "\"id\":2,\"type\":\"TaskStateEntered\""));
    free(seen[0]);
    seen[0] = NULL;
    /* the earlier build's text row */
    assert_int_equal(store_event_text(s, 9, 1, &t), 0);
    assert_non_null(strstr(t, "text row of an earlier build"));
    free(t);
    int64_t seqs[4] = {0};
    assert_int_equal(store_input_each(s, 9, seq_cb, seqs), 0);
    assert_int_equal(seqs[0], 1);

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT typeof(input) FROM executions WHERE id=?1),"
                                        "(SELECT typeof(output) FROM exec_end WHERE exec_id=?1),"
                                        "(SELECT group_concat(typeof(body)) FROM event_log "
                                        "WHERE exec_id=?1),"
                                        "(SELECT typeof(result) FROM input_log WHERE exec_id=?1 "
                                        "AND seq=3)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "blob");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "blob");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "blob,blob");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "text");
    sqlite3_finalize(st);
    /* damage the blob of the execution's second row */
    assert_int_equal(sqlite3_exec(db, "UPDATE event_log SET body=x'01ff00000041424344' "
                                      "WHERE exec_id=1 AND first_id=3", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_event_text(s, id, 3, &t), STORE_EDB);
    assert_null(t);
    assert_int_equal(store_event_each(s, id, 1, 0, 0, 0, text_of_each, seen), STORE_EDB);
    free(seen[0]);
    store_close(s);
    unlink_db(path);
}

/* Rows written deflated (format 1, builds before zstd) and zstd (format 2)
 * side by side: both read back the same, whichever mode writes now. */
static void test_payload_formats(void **state)
{
    (void)state;
    char path[] = "/tmp/test_store_zf_XXXXXX";
    tmp_db(path);
    char err[256];
    store *s = NULL;
    assert_int_equal(store_open(path, 1, &s, err, sizeof err), 0);
    store_set_compress(s, STORE_COMPRESS_DEFLATE);
    assert_int_equal(store_begin(s), 0);
    int64_t a = saga_exec(s, 1, STORE_SUCCEEDED, 10);
    assert_int_equal(store_commit(s), 0);
    store_set_compress(s, STORE_COMPRESS_ZSTD);
    assert_int_equal(store_begin(s), 0);
    int64_t b = saga_exec(s, 2, STORE_SUCCEEDED, 10);
    assert_int_equal(store_commit(s), 0);
    for (int i = 0; i < 2; i++) {
        store_exec x;
        assert_int_equal(store_exec_get_id(s, i ? b : a, &x), 0);
        assert_string_equal(x.input, trip);
        assert_string_equal(x.output, trip);
        store_exec_cleanup(&x);
        char *t = NULL;
        assert_int_equal(store_event_text(s, i ? b : a, 3, &t), 0);
        assert_non_null(strstr(t, trip));
        free(t);
    }
    store_close(s);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT substr(hex(input),1,2) FROM executions "
                                            "ORDER BY id", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "01");
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "02");
    sqlite3_finalize(st);
    sqlite3_close(db);
    unlink_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sm_roundtrip),
        cmocka_unit_test(test_sm_each_skips_deleted),
        cmocka_unit_test(test_exec_roundtrip_and_duplicate),
        cmocka_unit_test(test_exec_end),
        cmocka_unit_test(test_exec_list_pages),
        cmocka_unit_test(test_inputs_and_events),
        cmocka_unit_test(test_step_rows_keep_inputs),
        cmocka_unit_test(test_step_input_migration),
        cmocka_unit_test(test_events_order_and_range),
        cmocka_unit_test(test_txn_durability),
        cmocka_unit_test(test_checkpointer_and_owner),
        cmocka_unit_test(test_log_writes_gathered),
        cmocka_unit_test(test_event_batches),
        cmocka_unit_test(test_exec_mock_test_case),
        cmocka_unit_test(test_event_migration),
        cmocka_unit_test(test_batch_migration),
        cmocka_unit_test(test_history_pages_bounded_rows),
        cmocka_unit_test(test_history_old_rows_split),
        cmocka_unit_test(test_retention_removes_old_closed),
        cmocka_unit_test(test_retention_space_reused),
        cmocka_unit_test(test_payloads_compressed),
        cmocka_unit_test(test_payload_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
