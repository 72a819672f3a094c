/*
 * store_keeper: keeps the write-ahead logs of the local tables short (the
 * SQLite files the function processes write, tables/<Table>.sqlite), from
 * a thread of sfnd, so that no function invocation waits for a checkpoint.
 *
 * A function process that checkpoints its table itself does it between its
 * write and its response: that invocation, a step on some saga's critical
 * path, waits for the copy of a 4 MB log and two fsyncs. The keeper looks
 * at each log's length every tick, in the wal-index header (the -shm file,
 * whose layout SQLite documents; it holds a connection of its own, so the
 * file stays), and once a log is KEEP_FRAMES long copies it, PASSIVE (no
 * writer waits), then again holding the writers' lock (flock on
 * <file>-writer, the convention of functions/booking.c) so that nothing is
 * committed meanwhile: the next write then finds the log all copied and
 * starts it again from the beginning. Function processes still checkpoint
 * for themselves past a larger size, for when no sfnd runs.
 *
 * Must not create a table file (the functions do, with their schema), nor
 * keep a read transaction open between passes (it would pin the log).
 */
#include "store_keeper.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define KEEP_FRAMES 1000 /* a log this long (4 MB) is restarted */

typedef struct table {
    char *path;
    sqlite3 *db;         /* opened once the file exists */
    const volatile unsigned char *hdr; /* the wal-index header, mapped */
    int lockfd;          /* <path>-writer */
} table;

/* The wal-index header: two copies of 48 bytes, equal when consistent;
 * mxFrame (frames in the log), a native-order u32, at offset 16 of each. */
#define HDR_SIZE 48
#define HDR_MXFRAME 16

struct store_keeper {
    table *t;
    size_t n;
    int tick_ms;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    long passes, restarts;
};

static int table_open(table *t)
{
    if (t->db == NULL) {
        if (access(t->path, F_OK) != 0)
            return -1; /* not written yet */
        if (sqlite3_open_v2(t->path, &t->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
            sqlite3_close(t->db);
            t->db = NULL;
            return -1;
        }
    }
    /* A read opens (or joins) the wal-index; while this connection is
     * open no other can truncate it. */
    if (sqlite3_exec(t->db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    char sp[4096];
    if ((size_t)snprintf(sp, sizeof sp, "%s-shm", t->path) >= sizeof sp)
        return -1;
    int fd = open(sp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1; /* not a WAL database (yet) */
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size >= 2 * HDR_SIZE)
        m = mmap(NULL, 2 * HDR_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return -1;
    t->hdr = m;
    return 0;
}

/* Frames in the log now, or -1 while the header is being written. */
static long log_frames(const table *t)
{
    unsigned char a[HDR_SIZE], b[HDR_SIZE];
    memcpy(a, (const void *)t->hdr, HDR_SIZE);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(b, (const void *)(t->hdr + HDR_SIZE), HDR_SIZE);
    if (memcmp(a, b, HDR_SIZE) != 0)
        return -1;
    uint32_t mx;
    memcpy(&mx, a + HDR_MXFRAME, sizeof mx);
    return (long)mx;
}

/* One look; returns 1 when the log was left all copied for a restart. */
static int table_keep(table *t)
{
    if (t->hdr == NULL && table_open(t) != 0)
        return 0;
    if (log_frames(t) < KEEP_FRAMES)
        return 0;
    int nlog = 0, nckpt = 0;
    /* SQLITE_BUSY: a function process is checkpointing; next tick */
    if (sqlite3_wal_checkpoint_v2(t->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt) !=
            SQLITE_OK ||
        nlog < KEEP_FRAMES)
        return 0;
    if (t->lockfd < 0) {
        char lp[4096];
        if ((size_t)snprintf(lp, sizeof lp, "%s-writer", t->path) >= sizeof lp)
            return 0;
        t->lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (t->lockfd < 0)
            return 0;
    }
    int r;
    while ((r = flock(t->lockfd, LOCK_EX)) < 0 && errno == EINTR) {
    }
    if (r < 0)
        return 0;
    int rc = sqlite3_wal_checkpoint_v2(t->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
    flock(t->lockfd, LOCK_UN);
    return rc == SQLITE_OK && nlog > 0 && nckpt == nlog;
}

static void *keeper_main(void *arg)
{
    store_keeper *k = arg;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)k->tick_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop)
            break;
        pthread_mutex_unlock(&k->mu);
        long restarts = 0;
        for (size_t i = 0; i < k->n; i++)
            restarts += table_keep(&k->t[i]);
        pthread_mutex_lock(&k->mu);
        k->passes++;
        k->restarts += restarts;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static void tables_free(store_keeper *k)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->t[i].hdr)
            munmap((void *)k->t[i].hdr, 2 * HDR_SIZE);
        sqlite3_close(k->t[i].db);
        if (k->t[i].lockfd >= 0)
            close(k->t[i].lockfd);
        free(k->t[i].path);
    }
    free(k->t);
}

store_keeper *store_keeper_start(const char *const *paths, size_t n, int tick_ms)
{
    store_keeper *k = calloc(1, sizeof *k);
    if (k == NULL)
        return NULL;
    k->t = calloc(n ? n : 1, sizeof *k->t);
    if (k->t == NULL) {
        free(k);
        return NULL;
    }
    k->tick_ms = tick_ms > 0 ? tick_ms : 50;
    for (size_t i = 0; i < n; i++, k->n++) {
        k->t[i].lockfd = -1;
        if ((k->t[i].path = strdup(paths[i])) == NULL)
            goto fail;
    }
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        goto fail;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int cv_ok = pthread_cond_init(&k->cv, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (!cv_ok)
        goto fail;
    if (pthread_mutex_init(&k->mu, NULL) != 0) {
        pthread_cond_destroy(&k->cv);
        goto fail;
    }
    /* The thread takes no signals: they are the loop's (signalfd). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&k->thread, NULL, keeper_main, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        goto fail;
    }
    return k;

fail:
    tables_free(k);
    free(k);
    return NULL;
}

void store_keeper_stop(store_keeper *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    tables_free(k);
    free(k);
}

void store_keeper_counts(store_keeper *k, long *passes, long *restarts)
{
    pthread_mutex_lock(&k->mu);
    *passes = k->passes;
    *restarts = k->restarts;
    pthread_mutex_unlock(&k->mu);
}
