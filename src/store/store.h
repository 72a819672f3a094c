/*
 * store.h - durable state of sfnd in one SQLite database (WAL, fsync on).
 *
 * What lives here: state machines (and every definition an execution ran
 * with), executions, the log of inputs fed to each execution, and its
 * history events. The runner writes an execution's inputs together with the
 * events they produced inside one transaction it opens with store_begin and
 * closes with store_commit, batching many executions per commit (group
 * commit). The store knows nothing of ASL, of the loop or of HTTP: it stores
 * text and numbers and gives them back (large texts are kept deflated,
 * store.c; readers always get the text). Ended executions older than a
 * retention are removed with store_exec_expire.
 *
 * Strings handed to callbacks are borrowed and valid only during the call.
 * Structs filled by _get functions own their strings: release them with the
 * matching _cleanup. All calls are made from the loop thread.
 */
#ifndef SFN_STORE_H
#define SFN_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "sfn_err.h"

/* The values are the error table's (src/util/sfn_err.h). */
#define STORE_OK SFN_E_OK
#define STORE_EDB SFN_E_IO         /* SQLite failed (I/O, corruption, full disk) */
#define STORE_ENOENT SFN_E_NOENT   /* no such row */
#define STORE_EEXIST SFN_E_EXIST   /* unique key already taken */

typedef struct store store;

/* Open (creating if needed) the database file at path; ":memory:" for
 * tests. sync_full: 1 = synchronous=FULL (the default for sfnd), 0 = NORMAL.
 * Returns STORE_OK and *out, or STORE_EDB with a message in errbuf. */
int store_open(const char *path, int sync_full, store **out, char *errbuf, size_t errlen);
/* 1 when store_open found no room for the shared-memory index (a full
 * disk) and opened the database for this process alone, its checkpoints
 * on the caller's thread: everything works, a restart with room goes back
 * to checkpoints on their own thread. */
int store_no_shm(const store *s);
/* How payloads (history rows, task results, an execution's input and
 * output) are written from now on. Readers take every form whatever this
 * says. */
enum store_compress {
    STORE_COMPRESS_OFF = 0,
    STORE_COMPRESS_ZSTD = 1,    /* sfnd's default */
    STORE_COMPRESS_DEFLATE = 2, /* the earlier format, for tests of old rows */
};
void store_set_compress(store *s, int mode);
void store_close(store *s);
/* Checkpoints the checkpointer thread has run (opened with sync_full). */
long store_checkpoints(store *s);
/* The last SQLite error message (borrowed). */
const char *store_errmsg(store *s);

/* One write transaction; store_begin while one is open is a no-op that
 * returns STORE_OK, so callers can open lazily. */
int store_begin(store *s);
int store_commit(store *s);
void store_rollback(store *s);
/* Outside a transaction: commit a write of 64 KiB (then delete it), to
 * learn whether the store takes writes again after one failed. */
int store_probe(store *s);
int store_in_txn(const store *s);

/* ---- state machines ---------------------------------------------------- */
typedef struct store_sm {
    char *arn;
    char *name;
    char *role_arn;
    int type;             /* 0 STANDARD, 1 EXPRESS */
    int64_t def_id;       /* current definition (store_def_*) */
    int64_t created_ms;
    int64_t updated_ms;
    int from_template;    /* 1: created from the SAM template at start-up */
    int deleted;          /* 1: DeleteStateMachine ran (executions remain) */
} store_sm;

/* Insert or replace the row for sm->arn (all fields written). */
int store_sm_put(store *s, const store_sm *sm);
/* Returns STORE_ENOENT when absent (deleted rows are returned too). */
int store_sm_get(store *s, const char *arn, store_sm *out);
void store_sm_cleanup(store_sm *sm);
/* Calls cb for every machine not deleted, ordered by ARN; a nonzero return
 * from cb stops the walk and is returned. */
int store_sm_each(store *s, int (*cb)(void *ctx, const store_sm *sm), void *ctx);

/* Definitions are immutable once written: executions point at the one
 * they started with (DescribeStateMachineForExecution, recovery). */
int store_def_insert(store *s, const char *sm_arn, const char *definition, int type,
                     int64_t *id /* OUT */);
/* *definition: malloc'd text, caller frees. */
int store_def_get(store *s, int64_t id, char **definition /* OUT */, int *type /* OUT */);

/* ---- activities (store_act.c) ------------------------------------------ */
typedef struct store_act {
    char *arn;
    char *name;
    int64_t created_ms;
} store_act;

/* Insert a new activity: STORE_OK, STORE_EEXIST (that ARN is taken), STORE_EDB. */
int store_act_put(store *s, const store_act *a);
/* STORE_OK (*out to store_act_cleanup), STORE_ENOENT, STORE_EDB. */
int store_act_get(store *s, const char *arn, store_act *out);
/* Removes the row if there is one: STORE_OK, STORE_EDB. */
int store_act_delete(store *s, const char *arn);
/* Activities oldest first: skips `skip`, calls cb for at most `limit` (<= 0:
 * all), *a borrowed during the call; *more = 1 when another follows. A
 * nonzero return from cb stops the walk and is returned. */
int store_act_list(store *s, long skip, long limit, int (*cb)(void *ctx, const store_act *a),
                   void *ctx, int *more);
void store_act_cleanup(store_act *a);

/* ---- executions -------------------------------------------------------- */
enum store_status {
    STORE_RUNNING = 0, /* same order as the core's asl_status */
    STORE_SUCCEEDED,
    STORE_FAILED,
    STORE_TIMED_OUT,
    STORE_ABORTED,
    STORE_PENDING_REDRIVE,
};

typedef struct store_exec {
    int64_t id;           /* rowid, set by store_exec_insert */
    char *arn;
    char *sm_arn;
    char *name;
    char *input;          /* JSON text */
    int status;           /* enum store_status */
    int64_t start_ms;
    int64_t stop_ms;      /* 0 while running */
    uint64_t seed;        /* the core's random stream: replay needs it */
    int64_t def_id;
    char *output;         /* JSON text or NULL */
    char *error;
    char *cause;
    int redrive_count;
    int64_t redrive_ms;   /* 0 = never redriven */
} store_exec;

/* Inserts; STORE_EEXIST when the ARN exists. Sets x->id. */
int store_exec_insert(store *s, store_exec *x);
int store_exec_get(store *s, const char *arn, store_exec *out);
int store_exec_get_id(store *s, int64_t id, store_exec *out);
void store_exec_cleanup(store_exec *x);
/* Record the end (or a status change: redrive sets RUNNING again). */
int store_exec_set_status(store *s, int64_t id, int status, int64_t stop_ms, const char *output,
                          const char *error, const char *cause);
int store_exec_set_redrive(store *s, int64_t id, int redrive_count, int64_t redrive_ms);
/* The mock configuration's test case an execution runs (store_mock.c):
 * set in the transaction that inserts it; get gives *test_case malloc'd,
 * or NULL when it has none. Removed with the execution (retention). */
int store_exec_mock_set(store *s, int64_t exec_id, const char *test_case);
int store_exec_mock_get(store *s, int64_t exec_id, char **test_case);

/* Executions of sm_arn newest first, status < 0 for any, starting after
 * the row with id `after` (0 = from the newest). Stops after `limit` rows
 * (limit <= 0: no limit). *next_after gets the last id visited when more
 * rows may follow, else 0. */
int store_exec_list(store *s, const char *sm_arn, int status, int64_t after, int limit,
                    int (*cb)(void *ctx, const store_exec *x), void *ctx,
                    int64_t *next_after /* OUT */);
/* Every RUNNING execution, oldest first (recovery). */
int store_exec_each_running(store *s, int (*cb)(void *ctx, const store_exec *x), void *ctx);
int store_exec_count(store *s, const char *sm_arn, int64_t *n /* OUT */);

/* Retention: remove at most `limit` executions that ended (any status but
 * RUNNING) before before_ms (their stop_ms), oldest stop first, with all
 * their rows (inputs, history, end). Runs inside the open transaction
 * (store_begin), or in its own when none is open, as one savepoint: on
 * failure nothing of the batch is removed; STORE_EDB, and if SQLite had
 * to roll the caller's whole transaction back store_in_txn() is 0 after.
 * *removed gets the count. Freed pages are reused by later writes, so the
 * file stops growing once removals keep up with new executions. */
int store_exec_expire(store *s, int64_t before_ms, int limit, int *removed /* OUT */);

/* ---- the input log ----------------------------------------------------- */
typedef struct store_input {
    int64_t seq;          /* 1, 2, ... per execution */
    int kind;             /* the core's asl_input_kind */
    uint64_t id;          /* task or timer id */
    int64_t now_ms;
    const char *result;   /* JSON text or NULL */
    const char *error;
    const char *cause;
} store_input;

int store_input_append(store *s, int64_t exec_id, const store_input *in);
/* In seq order. */
int store_input_each(store *s, int64_t exec_id, int (*cb)(void *ctx, const store_input *in),
                     void *ctx);
/* The next seq (1 + the largest stored, 1 when none). */
int store_input_next_seq(store *s, int64_t exec_id, int64_t *seq /* OUT */);

/* ---- history events ---------------------------------------------------- */
/* The events first_id..last_id of one step as one row: text is their
 * JSON (as GetExecutionHistory returns them, data included) joined by
 * '\n', in id order (compact JSON holds no raw newline). */
int store_events_append(store *s, int64_t exec_id, int64_t first_id, int64_t last_id,
                        const char *text, size_t len);
/* The same row, with the input that caused the step (NULL: none), which
 * store_input_each then returns as if appended with store_input_append.
 * A step that made no event has no row: append its input alone. */
int store_step_append(store *s, int64_t exec_id, int64_t first_id, int64_t last_id,
                      const char *text, size_t len, const store_input *in);
/* One event (a batch of one). json: the event, data included; type is
 * not kept apart (readers get the event's own "type" member). */
int store_event_append(store *s, int64_t exec_id, int64_t event_id, const char *type,
                       const char *json);
/* Events with id in [from_id, to_id] (to_id <= 0: to the end), ascending or
 * descending, at most limit (<= 0: all), one call each (type: the value
 * of the event's "type" member, "" if none). A nonzero return from cb
 * stops the walk and is returned. */
int store_event_each(store *s, int64_t exec_id, int64_t from_id, int64_t to_id, int reverse,
                     int limit, int (*cb)(void *ctx, int64_t id, const char *type,
                                          const char *json),
                     void *ctx);
/* The same walk one event at a time, without copying: open, then
 * store_events_next gives 1 with the next event's *id and its text (*len
 * bytes, not NUL-terminated, borrowed until the next call or the close),
 * 0 at the end, STORE_EDB when the store failed. The cursor holds the
 * statement of store_event_each mid-walk: one cursor at a time, no
 * store_event_each while it is open (store_event_text is fine), and close
 * it within the loop iteration (it keeps a read snapshot open). */
typedef struct store_events store_events;
int store_events_open(store *s, int64_t exec_id, int64_t from_id, int64_t to_id, int reverse,
                      store_events **out);
int store_events_next(store_events *c, int64_t *id, const char **text, size_t *len);
void store_events_close(store_events *c);
/* The text of event id of an execution as stored (one line of its batch),
 * malloc'd in *text; STORE_ENOENT if absent. Safe to call from within a
 * store_event_each callback. */
int store_event_text(store *s, int64_t exec_id, int64_t id, char **text);
int store_event_max(store *s, int64_t exec_id, int64_t *max_id /* OUT */);

#endif
