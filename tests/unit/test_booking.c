#define _GNU_SOURCE /* strcasestr */
/*
 * test_booking.c - the booking store, both backends.
 *
 * The same semantic checks run against SQLite (a temp dir) and against
 * DynamoDB as served by moto on 127.0.0.1 (started and stopped here;
 * skipped when moto is not installed). SQLite also gets concurrent writers:
 * forked processes racing on one trip, as function processes do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "booking.h"

static char tmpdir[256];
static char dbpath[512];

static const char *status_of(const json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "status"));
    return s ? s : "(none)";
}

static json_t *hotel_details(void)
{
    return json_pack("{s:s, s:s, s:s}", "hotel", "holiday inn", "checkIn",
                     "2017-07-10T12:00:00.000Z", "checkOut", "2017-07-12T14:00:00.000Z");
}

/* ---- the semantics, whatever the backend -------------------------------- */

#define E1 "arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:e1"
#define E2 "arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:e2"
#define E3 "arn:aws:states:us-east-1:123456789012:execution:TripSagaStateMachine:e3"

static const char *owner_of(const json_t *rec)
{
    const char *s = json_string_value(json_object_get(rec, "owner"));
    return s ? s : "(none)";
}

static void check_semantics(booking_store *s, const char *prefix)
{
    char trip[128], trip2[128], trip3[128], trip4[128];
    booking_err err = {{0}, {0}};
    booking_outcome oc;
    json_t *rec = NULL, *rec2 = NULL;
    json_t *d = hotel_details();
    snprintf(trip, sizeof trip, "%s-trip-1", prefix);
    snprintf(trip2, sizeof trip2, "%s-trip-2", prefix);
    snprintf(trip3, sizeof trip3, "%s-trip-3", prefix);
    snprintf(trip4, sizeof trip4, "%s-trip-4", prefix);

    /* absent */
    assert_int_equal(booking_get(s, trip, BOOKING_HOTEL, &rec, &err), BOOKING_ENOENT);

    /* book, then book again by the same execution: one booking, the first
     * one's details and bookedAt */
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E1, d, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_BOOKED);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E1);
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "HOTEL");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "details"), "hotel")),
                        "holiday inn");
    json_t *other = json_pack("{s:s}", "hotel", "another");
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E1, other, &rec2, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_ALREADY_BOOKED);
    assert_string_equal(json_string_value(json_object_get(rec, "bookedAt")),
                        json_string_value(json_object_get(rec2, "bookedAt")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec2, "details"), "hotel")),
                        "holiday inn");
    json_decref(rec);
    json_decref(rec2);

    /* another execution of the same trip is refused and changes nothing */
    rec = NULL;
    memset(&err, 0, sizeof err);
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E2, other, &rec, &oc, &err),
                     BOOKING_ECONFLICT);
    assert_int_equal(oc, BOOKING_REFUSED);
    assert_non_null(strstr(err.msg, "another execution"));
    assert_string_equal(owner_of(rec), E1);
    json_decref(rec);
    /* ... and its cancel is a recorded no-op */
    assert_int_equal(booking_cancel(s, trip, BOOKING_HOTEL, E2, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_NOT_OWNER);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E1);
    json_decref(rec);
    assert_int_equal(booking_get(s, trip, BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E1);
    json_decref(rec);

    /* kinds are separate items */
    assert_int_equal(booking_get(s, trip, BOOKING_FLIGHT, &rec, &err), BOOKING_ENOENT);

    /* the owner cancels; again: still CANCELLED, same cancelledAt, and the
     * tombstone expires some day */
    assert_int_equal(booking_cancel(s, trip, BOOKING_HOTEL, E1, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_CANCELLED);
    assert_string_equal(status_of(rec), "CANCELLED");
    assert_true(json_integer_value(json_object_get(rec, "expiresAt")) > (json_int_t)time(NULL));
    assert_int_equal(booking_cancel(s, trip, BOOKING_HOTEL, E1, &rec2, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_ALREADY_CANCELLED);
    assert_string_equal(status_of(rec2), "CANCELLED");
    assert_string_equal(json_string_value(json_object_get(rec, "cancelledAt")),
                        json_string_value(json_object_get(rec2, "cancelledAt")));
    json_decref(rec);
    json_decref(rec2);

    /* a booking by E1 after its cancel is refused and writes nothing */
    rec = NULL;
    memset(&err, 0, sizeof err);
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E1, d, &rec, &oc, &err),
                     BOOKING_ECANCELLED);
    assert_non_null(strstr(err.msg, "already cancelled"));
    json_decref(rec);
    assert_int_equal(booking_get(s, trip, BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "CANCELLED");
    json_decref(rec);

    /* E2 cancelled it (a no-op then): it may not book it now either */
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E2, other, NULL, &oc, &err),
                     BOOKING_ECANCELLED);
    /* a new execution may book what a compensated one left: E3 takes the
     * tombstone over, with its own details; nothing of E1 comes back */
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E3, other, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_BOOKED);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "details"), "hotel")),
                        "another");
    assert_true(json_is_null(json_object_get(rec, "cancelledAt")));
    json_decref(rec);
    /* E1's late book still bounces, now off E3's booking */
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, E1, d, NULL, &oc, &err),
                     BOOKING_ECANCELLED);
    json_decref(other);

    /* E2 cancelled something E1 held (a no-op), E1 then released it: E2's
     * late book must still be refused, not take the tombstone over */
    assert_int_equal(booking_book(s, trip4, BOOKING_HOTEL, E1, d, NULL, &oc, &err), BOOKING_OK);
    assert_int_equal(booking_cancel(s, trip4, BOOKING_HOTEL, E2, NULL, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_NOT_OWNER);
    assert_int_equal(booking_cancel(s, trip4, BOOKING_HOTEL, E1, NULL, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_CANCELLED);
    assert_int_equal(booking_book(s, trip4, BOOKING_HOTEL, E2, d, NULL, &oc, &err),
                     BOOKING_ECANCELLED);

    /* late booking: cancel first (nothing booked -> tombstone), book later */
    assert_int_equal(booking_cancel(s, trip2, BOOKING_CAR, E1, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_NOTHING_BOOKED);
    assert_string_equal(status_of(rec), "CANCELLED");
    assert_string_equal(owner_of(rec), E1);
    assert_true(json_is_null(json_object_get(rec, "bookedAt")));
    json_decref(rec);
    json_t *car = json_pack("{s:s}", "car", "Volvo");
    assert_int_equal(booking_book(s, trip2, BOOKING_CAR, E1, car, NULL, NULL, &err),
                     BOOKING_ECANCELLED);
    json_decref(car);
    assert_int_equal(booking_get(s, trip2, BOOKING_CAR, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "CANCELLED");
    assert_true(json_is_null(json_object_get(rec, "bookedAt")));
    json_decref(rec);

    /* counted cancel attempts: durable, and they do not block a booking */
    long n = 0;
    assert_int_equal(booking_count_cancel_attempt(s, trip3, BOOKING_FLIGHT, &n, &err), BOOKING_OK);
    assert_int_equal(n, 1);
    assert_int_equal(booking_count_cancel_attempt(s, trip3, BOOKING_FLIGHT, &n, &err), BOOKING_OK);
    assert_int_equal(n, 2);
    json_t *fl = json_pack("{s:s}", "depart", "London");
    assert_int_equal(booking_book(s, trip3, BOOKING_FLIGHT, E1, fl, &rec, NULL, &err), BOOKING_OK);
    json_decref(fl);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_int_equal(json_integer_value(json_object_get(rec, "cancelAttempts")), 2);
    json_decref(rec);
    assert_int_equal(booking_cancel(s, trip3, BOOKING_FLIGHT, E1, &rec, NULL, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "CANCELLED");
    json_decref(rec);

    /* bad arguments */
    assert_int_equal(booking_book(s, "", BOOKING_HOTEL, E1, d, NULL, NULL, &err), BOOKING_EINVAL);
    assert_int_equal(booking_book(s, trip, BOOKING_HOTEL, "", d, NULL, NULL, &err), BOOKING_EINVAL);
    assert_int_equal(booking_cancel(s, trip, BOOKING_HOTEL, NULL, NULL, NULL, &err), BOOKING_EINVAL);
    json_decref(d);
}

/* ---- SQLite ------------------------------------------------------------- */

static int sqlite_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_booking.XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(dbpath, sizeof dbpath, "%s/bookings.sqlite", tmpdir);
    return 0;
}

static int sqlite_teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_sqlite_semantics(void **state)
{
    (void)state;
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    assert_int_equal(booking_store_open_sqlite(dbpath, &s, &err), BOOKING_OK);
    check_semantics(s, "sql");
    booking_store_free(s);

    /* durable: a new handle (a new function process) sees the same items */
    assert_int_equal(booking_store_open_sqlite(dbpath, &s, &err), BOOKING_OK);
    json_t *rec = NULL;
    assert_int_equal(booking_get(s, "sql-trip-1", BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E3);
    json_decref(rec);
    booking_store_free(s);
}

/* Tombstones expire (DynamoDB's TTL attribute, honoured by SQLite): an
 * expired one is absent to reads and rules, and writes sweep it away. A
 * booking never expires. */
static void test_sqlite_ttl(void **state)
{
    (void)state;
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    booking_outcome oc;
    json_t *rec = NULL;
    json_t *d = hotel_details();
    assert_int_equal(booking_store_open_sqlite(dbpath, &s, &err), BOOKING_OK);
    booking_store_set_ttl(s, -1);
    assert_int_equal(booking_book(s, "ttl-1", BOOKING_HOTEL, E1, d, NULL, NULL, &err), BOOKING_OK);
    assert_int_equal(booking_cancel(s, "ttl-1", BOOKING_HOTEL, E1, &rec, &oc, &err), BOOKING_OK);
    assert_true(json_integer_value(json_object_get(rec, "expiresAt")) < (json_int_t)time(NULL));
    json_decref(rec);
    assert_int_equal(booking_get(s, "ttl-1", BOOKING_HOTEL, &rec, &err), BOOKING_ENOENT);
    /* gone for the rules too: the same owner may book it again */
    assert_int_equal(booking_book(s, "ttl-1", BOOKING_HOTEL, E1, d, &rec, &oc, &err), BOOKING_OK);
    assert_int_equal(oc, BOOKING_BOOKED);
    assert_true(json_is_null(json_object_get(rec, "expiresAt")));
    json_decref(rec);
    /* the sweep: many expired tombstones, then writes remove them */
    for (int i = 0; i < 100; i++) {
        char t[32];
        snprintf(t, sizeof t, "ttl-sweep-%d", i);
        assert_int_equal(booking_cancel(s, t, BOOKING_CAR, E1, NULL, NULL, &err), BOOKING_OK);
    }
    booking_store_set_ttl(s, 86400);
    for (int i = 0; i < 300; i++)
        assert_int_equal(booking_book(s, "ttl-2", BOOKING_CAR, E1, d, NULL, NULL, &err), BOOKING_OK);
    booking_store_free(s);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM bookings WHERE tripId LIKE "
                                            "'ttl-sweep-%'", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int(st, 0) < 100);
    sqlite3_finalize(st);
    /* the booked item is still there */
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT status FROM bookings WHERE tripId='ttl-1'", -1,
                                        &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "BOOKED");
    sqlite3_finalize(st);
    sqlite3_close(db);
    json_decref(d);
}

/* A table made before bookings had owners is migrated in place. */
static void test_sqlite_migrates_old_table(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/old.sqlite", tmpdir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
        "CREATE TABLE bookings (tripId TEXT NOT NULL, kind TEXT NOT NULL,"
        " status TEXT CHECK (status IN ('BOOKED','CANCELLED')), details TEXT, bookedAt TEXT,"
        " cancelledAt TEXT, cancelAttempts INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY (tripId, kind)) WITHOUT ROWID;"
        "INSERT INTO bookings VALUES ('old', 'HOTEL', 'BOOKED', '{}', 'x', NULL, 0)",
        NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    json_t *rec = NULL;
    assert_int_equal(booking_store_open_sqlite(path, &s, &err), BOOKING_OK);
    assert_int_equal(booking_get(s, "old", BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "BOOKED");
    json_decref(rec);
    assert_int_equal(booking_cancel(s, "old", BOOKING_CAR, E1, NULL, NULL, &err), BOOKING_OK);
    booking_store_free(s);
}

static void test_open_env(void **state)
{
    (void)state;
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    char path[600];
    setenv("SFN_LOCAL_STORE_DIR", tmpdir, 1);
    unsetenv("BOOKINGS_TABLE");
    assert_int_equal(booking_store_open_env(&s, &err), BOOKING_EINVAL);
    setenv("BOOKINGS_TABLE", "TripBookings", 1);
    memset(&err, 0, sizeof err);
    assert_int_equal(booking_store_open_env(&s, &err), BOOKING_OK);
    snprintf(path, sizeof path, "%s/TripBookings.sqlite", tmpdir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    booking_store_free(s);
    setenv("BOOKINGS_TABLE", "../escape", 1);
    assert_int_equal(booking_store_open_env(&s, &err), BOOKING_EINVAL);
    unsetenv("SFN_LOCAL_STORE_DIR");
    unsetenv("BOOKINGS_TABLE");
}

#define WRITERS 6
#define ROUNDS 25

/* Child: open its own store and race. Exit code = number of failures. */
static int writer(int id)
{
    static const char *const owners[2] = {E1, E2};
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    int bad = 0;
    if (booking_store_open_sqlite(dbpath, &s, &err) < 0)
        return 100;
    json_t *d = hotel_details();
    for (int i = 0; i < ROUNDS; i++) {
        long n;
        /* everybody books the flight of trip race-1: one booking */
        int r1 = booking_book(s, "race-1", BOOKING_FLIGHT, owners[id % 2], d, NULL, NULL, &err);
        if (r1 != BOOKING_OK && r1 != BOOKING_ECONFLICT)
            bad++;
        /* everybody counts attempts on race-1 CAR: none may be lost */
        if (booking_count_cancel_attempt(s, "race-1", BOOKING_CAR, &n, &err) != BOOKING_OK)
            bad++;
        /* half book race-2's hotel while the other half cancel it */
        if (id % 2 == 0) {
            int rc = booking_book(s, "race-2", BOOKING_HOTEL, E1, d, NULL, NULL, &err);
            if (rc != BOOKING_OK && rc != BOOKING_ECANCELLED)
                bad++;
        } else if (booking_cancel(s, "race-2", BOOKING_HOTEL, E1, NULL, NULL, &err) != BOOKING_OK) {
            bad++;
        }
    }
    json_decref(d);
    booking_store_free(s);
    if (bad)
        fprintf(stderr, "writer %d: %d failures, last: %s\n", id, bad, err.msg);
    return bad;
}

static void test_sqlite_concurrent_writers(void **state)
{
    (void)state;
    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0)
            _exit(writer(i));
    }
    for (int i = 0; i < WRITERS; i++) {
        int st = 0;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    json_t *rec = NULL;
    assert_int_equal(booking_store_open_sqlite(dbpath, &s, &err), BOOKING_OK);
    /* two executions raced for race-1's flight: exactly one holds it */
    assert_int_equal(booking_get(s, "race-1", BOOKING_FLIGHT, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_true(strcmp(owner_of(rec), E1) == 0 || strcmp(owner_of(rec), E2) == 0);
    json_decref(rec);
    assert_int_equal(booking_get(s, "race-1", BOOKING_CAR, &rec, &err), BOOKING_OK);
    assert_int_equal(json_integer_value(json_object_get(rec, "cancelAttempts")), WRITERS * ROUNDS);
    json_decref(rec);
    /* cancel and book commute: whatever the interleaving, it ends cancelled */
    assert_int_equal(booking_get(s, "race-2", BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "CANCELLED");
    json_decref(rec);
    booking_store_free(s);
}

/* ---- DynamoDB via moto -------------------------------------------------- */

static pid_t moto_pid = -1;
static int moto_port;
static char moto_url[64];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return s * n;
}

/* POST a DynamoDB call with curl directly (to create the table); HTTP status. */
static long ddb_raw(const char *op, const char *body)
{
    char target[128];
    long status = 0;
    CURL *h = curl_easy_init();
    struct curl_slist *hl = NULL;
    snprintf(target, sizeof target, "X-Amz-Target: DynamoDB_20120810.%s", op);
    hl = curl_slist_append(hl, "Content-Type: application/x-amz-json-1.0");
    hl = curl_slist_append(hl, target);
    curl_easy_setopt(h, CURLOPT_URL, moto_url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:dynamodb");
    curl_easy_setopt(h, CURLOPT_USERPWD, "testing:testing");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(h);
    return status;
}

static int moto_setup(void **state)
{
    (void)state;
    const char *py = getenv("PYTHON3") ? getenv("PYTHON3") : "python3";
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import moto.server, flask' >/dev/null 2>&1", py);
    if (system(cmd) != 0)
        return 0; /* moto_pid stays -1: the test skips */
    moto_port = free_port();
    if (moto_port <= 0)
        return -1;
    snprintf(moto_url, sizeof moto_url, "http://127.0.0.1:%d/", moto_port);
    moto_pid = fork();
    if (moto_pid < 0)
        return -1;
    if (moto_pid == 0) {
        char port[16];
        snprintf(port, sizeof port, "%d", moto_port);
        int null = open("/dev/null", 1);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        setpgid(0, 0);
        execlp(py, py, "-m", "moto.server", "-H", "127.0.0.1", "-p", port, (char *)NULL);
        _exit(127);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "testing", 1);
    setenv("AWS_SESSION_TOKEN", "testing-session-token", 1);
    /* Wait (bounded) for the server to answer, then create the table. */
    const char *create =
        "{\"TableName\":\"TripBookings\",\"BillingMode\":\"PAY_PER_REQUEST\","
        "\"AttributeDefinitions\":[{\"AttributeName\":\"tripId\",\"AttributeType\":\"S\"},"
        "{\"AttributeName\":\"kind\",\"AttributeType\":\"S\"}],"
        "\"KeySchema\":[{\"AttributeName\":\"tripId\",\"KeyType\":\"HASH\"},"
        "{\"AttributeName\":\"kind\",\"KeyType\":\"RANGE\"}]}";
    for (int i = 0; i < 300; i++) {
        long st = ddb_raw("CreateTable", create);
        if (st == 200)
            return 0;
        if (st != 0)
            return -1;
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

static int moto_teardown(void **state)
{
    (void)state;
    if (moto_pid > 0) {
        kill(-moto_pid, SIGTERM);
        kill(moto_pid, SIGTERM);
        waitpid(moto_pid, NULL, 0);
        curl_global_cleanup();
    }
    return 0;
}

static void test_dynamodb_semantics(void **state)
{
    (void)state;
    /* moto is installed wherever the tests run (scripts/deps.sh): a
     * missing moto fails here rather than hiding the DynamoDB backend */
    if (moto_pid <= 0)
        fail_msg("moto could not start: install it (pip install 'moto[server]')");
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    assert_int_equal(booking_store_open_dynamodb("TripBookings", "us-east-1", moto_url, &s, &err),
                     BOOKING_OK);
    check_semantics(s, "ddb");
    booking_store_free(s);

    /* the environment picks DynamoDB when SFN_LOCAL_STORE_DIR is unset */
    unsetenv("SFN_LOCAL_STORE_DIR");
    setenv("BOOKINGS_TABLE", "TripBookings", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ENDPOINT_URL_DYNAMODB", moto_url, 1);
    assert_int_equal(booking_store_open_env(&s, &err), BOOKING_OK);
    json_t *rec = NULL;
    assert_int_equal(booking_get(s, "ddb-trip-1", BOOKING_HOTEL, &rec, &err), BOOKING_OK);
    assert_string_equal(status_of(rec), "BOOKED");
    assert_string_equal(owner_of(rec), E3);
    json_decref(rec);

    /* a missing table is a store failure, not a refusal */
    booking_store_free(s);
    assert_int_equal(booking_store_open_dynamodb("NoSuchTable", "us-east-1", moto_url, &s, &err),
                     BOOKING_OK);
    json_t *d = hotel_details();
    memset(&err, 0, sizeof err);
    assert_int_equal(booking_book(s, "x", BOOKING_HOTEL, E1, d, NULL, NULL, &err), BOOKING_EIO);
    assert_non_null(strstr(err.msg, "ResourceNotFound"));
    assert_string_equal(err.code, "ResourceNotFoundException");
    json_decref(d);
    booking_store_free(s);

    /* no credentials: refused before any request */
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(booking_store_open_dynamodb("TripBookings", "us-east-1", moto_url, &s, &err),
                     BOOKING_OK);
    assert_int_equal(booking_cancel(s, "x", BOOKING_HOTEL, E1, NULL, NULL, &err), BOOKING_EINVAL);
    booking_store_free(s);
    setenv("AWS_ACCESS_KEY_ID", "testing", 1);
    unsetenv("BOOKINGS_TABLE");
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
}

/* ---- DynamoDB's throttling and 5xx, retried inside the deadline ---------- */

/* A fake DynamoDB endpoint in a child process: answers the scripted
 * statuses in order (then 200s), one connection per request, and counts
 * the requests it got in *counter (shared memory). */
static pid_t fake_pid = -1;
static int fake_port;

static const char OK_BODY[] =
    "{\"Attributes\":{\"tripId\":{\"S\":\"t\"},\"kind\":{\"S\":\"HOTEL\"},"
    "\"status\":{\"S\":\"BOOKED\"},\"owner\":{\"S\":\"" E1 "\"}}}";

static void fake_ddb(int lfd, const int *script, int n, volatile int *counter)
{
    for (int i = 0;; i++) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            _exit(0);
        char buf[8192];
        size_t got = 0;
        /* read the headers and the body (Content-Length) */
        for (;;) {
            ssize_t r = read(c, buf + got, sizeof buf - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            buf[got] = '\0';
            char *eoh = strstr(buf, "\r\n\r\n");
            char *cl = strcasestr(buf, "content-length:");
            if (eoh && cl && got >= (size_t)(eoh + 4 - buf) + (size_t)atoi(cl + 15))
                break;
        }
        (*counter)++;
        int st = i < n ? script[i] : 200;
        const char *body = st == 200   ? OK_BODY
                           : st == 400 ? "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ThrottlingException\","
                                         "\"message\":\"Rate of requests exceeds the allowed throughput.\"}"
                                       : "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\"}";
        char head[256];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n", st, strlen(body));
        if (write(c, head, (size_t)hl) < 0 || write(c, body, strlen(body)) < 0)
            _exit(1);
        close(c);
    }
}

static volatile int *start_fake(const int *script, int n)
{
    volatile int *counter = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(counter != MAP_FAILED);
    *counter = 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 16), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    fake_port = ntohs(a.sin_port);
    fake_pid = fork();
    assert_true(fake_pid >= 0);
    if (fake_pid == 0)
        fake_ddb(lfd, script, n, counter);
    close(lfd);
    return counter;
}

static void stop_fake(volatile int *counter)
{
    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    munmap((void *)counter, sizeof(int));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Throttling (400 ThrottlingException) and 5xx are retried with back-off:
 * the booking lands on the fourth request. */
static void test_dynamodb_throttling_retried(void **state)
{
    (void)state;
    static const int script[] = {400, 503, 400};
    volatile int *counter = start_fake(script, 3);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", fake_port);
    setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    booking_outcome oc;
    json_t *d = hotel_details(), *rec = NULL;
    assert_int_equal(booking_store_open_dynamodb("T", "us-east-1", url, &s, &err), BOOKING_OK);
    booking_store_set_deadline(s, now_ms() + 10000);
    int rc = booking_book(s, "t", BOOKING_HOTEL, E1, d, &rec, &oc, &err);
    if (rc != BOOKING_OK)
        fail_msg("book: %d %s", rc, err.msg);
    assert_int_equal(oc, BOOKING_BOOKED);
    assert_int_equal(*counter, 4);
    json_decref(rec);
    json_decref(d);
    booking_store_free(s);
    stop_fake(counter);
}

/* Throttled for good: it stops in time for the function to answer before
 * its deadline, and says what it saw. */
static void test_dynamodb_throttling_until_deadline(void **state)
{
    (void)state;
    static int script[400];
    for (int i = 0; i < 400; i++)
        script[i] = 400;
    volatile int *counter = start_fake(script, 400);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", fake_port);
    booking_store *s = NULL;
    booking_err err = {{0}, {0}};
    json_t *d = hotel_details();
    assert_int_equal(booking_store_open_dynamodb("T", "us-east-1", url, &s, &err), BOOKING_OK);
    int64_t t0 = now_ms(), deadline = t0 + 1500;
    booking_store_set_deadline(s, deadline);
    assert_int_equal(booking_book(s, "t", BOOKING_HOTEL, E1, d, NULL, NULL, &err), BOOKING_EIO);
    int64_t t1 = now_ms();
    assert_true(t1 < deadline); /* the function still has time to answer */
    assert_true(*counter >= 3); /* it did retry */
    assert_non_null(strstr(err.msg, "ThrottlingException"));
    assert_string_equal(err.code, "ThrottlingException");
    json_decref(d);
    booking_store_free(s);
    stop_fake(counter);
}

int main(void)
{
    const struct CMUnitTest sqlite_tests[] = {
        cmocka_unit_test(test_sqlite_semantics),
        cmocka_unit_test(test_sqlite_ttl),
        cmocka_unit_test(test_sqlite_migrates_old_table),
        cmocka_unit_test(test_open_env),
        cmocka_unit_test(test_sqlite_concurrent_writers),
    };
    const struct CMUnitTest ddb_tests[] = {
        cmocka_unit_test(test_dynamodb_semantics),
    };
    const struct CMUnitTest retry_tests[] = {
        cmocka_unit_test(test_dynamodb_throttling_retried),
        cmocka_unit_test(test_dynamodb_throttling_until_deadline),
    };
    int failed = cmocka_run_group_tests_name("booking_sqlite", sqlite_tests, sqlite_setup,
                                             sqlite_teardown);
    failed += cmocka_run_group_tests_name("booking_dynamodb", ddb_tests, moto_setup, moto_teardown);
    failed += cmocka_run_group_tests_name("booking_dynamodb_retries", retry_tests, NULL, NULL);
    return failed;
}
