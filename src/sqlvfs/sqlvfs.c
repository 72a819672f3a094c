/*
 * sqlvfs: an SQLite VFS that writes a transaction's log frames in one call.
 *
 * It is the default "unix" VFS with one change, for the write-ahead log
 * only. SQLite writes each frame as two calls, a 24-byte header and a page:
 * a commit of 20 pages was 40 pwrite()s (on sfnd's loop thread; 3 to 4 per
 * booking in a function process). Here the frames are gathered in memory
 * and go to the file in one write at the first of:
 *  - the database's shared-memory barrier, which SQLite calls to publish a
 *    commit in the wal-index, before any other connection can look for the
 *    new frames (with synchronous=NORMAL nothing is synced at a commit, and
 *    this is what keeps the frames in the file by then: another process, or
 *    this one after a crash, finds them there);
 *  - a sync of the log (synchronous=FULL: before the commit returns);
 *  - a read of what is gathered, a size query, a truncation, a close, a
 *    write elsewhere in the log, a lock change on the wal-index.
 * What reaches the disk, and when it is durable, is therefore unchanged.
 *
 * A write made at the barrier cannot report a full disk (the barrier
 * returns nothing, and under synchronous=NORMAL no sync follows to report
 * it): so before gathering, the log's blocks are reserved in RESERVE_CHUNK
 * steps (SQLite's size hint: posix_fallocate), and a full disk fails the
 * xWrite of the frames, where SQLite reports it and rolls back.
 *
 * Frames are gathered only for a database with a shared-memory wal-index
 * (the barrier exists): with exclusive locking SQLite keeps the index in
 * heap memory and calls no barrier, so frames are written as they come.
 *
 * Must not change anything else: database files and the wal-index go
 * straight to unix's methods.
 *
 * For tests that cannot mount a small filesystem: with SFN_TEST_FULL_FLAG
 * set to a path in the environment, every write through this VFS fails as
 * on a full disk (SQLITE_FULL) while that file exists.
 */
#include "sqlvfs.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define GATHER_MAX (1 << 20) /* past this, frames are written as they come */
/* unix's xWrite writes at most 128 KiB - 1 in one call (it masks the size
 * with 0x1ffff and reports a shorter write as a full disk) */
#define WRITE_MAX 0x1f000
#define RESERVE_CHUNK (256 * 1024)

typedef struct vfile vfile;
struct vfile {
    sqlite3_file base;   /* pMethods: log_methods or pass_methods */
    sqlite3_file *real;  /* the underlying unix file, right after us */
    int is_log;
    vfile *peer;         /* a log's database file, a database's log (or NULL) */
    int has_shm;         /* database: its wal-index is shared memory */
    unsigned char *buf;  /* log: gathered bytes, for [off, off+len) */
    size_t len, cap;
    sqlite3_int64 off;
    sqlite3_int64 reserved; /* log: bytes known allocated on disk */
};

static sqlite3_vfs *unix_vfs;
static sqlite3_vfs shim;
static sqlite3_io_methods log_methods, pass_methods;
static long log_writes_seen, log_writes_made; /* for tests: calls in, calls out */
static char *full_flag;                        /* SFN_TEST_FULL_FLAG */

static int disk_full(void)
{
    return full_flag != NULL && access(full_flag, F_OK) == 0;
}

static int write_all(vfile *f, const unsigned char *p, size_t n, sqlite3_int64 ofst)
{
    while (n > 0) {
        size_t k = n < WRITE_MAX ? n : WRITE_MAX;
        __atomic_fetch_add(&log_writes_made, 1, __ATOMIC_RELAXED);
        int rc = disk_full() ? SQLITE_FULL : f->real->pMethods->xWrite(f->real, p, (int)k, ofst);
        if (rc != SQLITE_OK)
            return rc;
        p += k;
        n -= k;
        ofst += (sqlite3_int64)k;
    }
    return SQLITE_OK;
}

static int gather_flush(vfile *f)
{
    if (f == NULL || f->len == 0)
        return SQLITE_OK;
    int rc = write_all(f, f->buf, f->len, f->off);
    f->len = 0;
    return rc;
}

/* ---- the log: gathered writes ------------------------------------------ */
/* Make sure the log's bytes up to end have blocks on disk. */
static int reserve(vfile *f, sqlite3_int64 end)
{
    if (disk_full())
        return SQLITE_FULL;
    if (end <= f->reserved)
        return SQLITE_OK;
    sqlite3_int64 want = (end + RESERVE_CHUNK - 1) / RESERVE_CHUNK * RESERVE_CHUNK;
    int rc = f->real->pMethods->xFileControl(f->real, SQLITE_FCNTL_SIZE_HINT, &want);
    if (rc == SQLITE_NOTFOUND)
        rc = SQLITE_OK; /* no hints here: as unix alone would */
    if (rc == SQLITE_OK)
        f->reserved = want;
    return rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR ? SQLITE_FULL : rc;
}

static int log_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 ofst)
{
    vfile *f = (vfile *)p;
    size_t n = (size_t)amt;
    __atomic_fetch_add(&log_writes_seen, 1, __ATOMIC_RELAXED);
    if (f->peer != NULL && f->peer->has_shm && n <= GATHER_MAX) {
        int rc = reserve(f, ofst + (sqlite3_int64)n);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (f->len > 0 && ofst == f->off + (sqlite3_int64)f->len && f->len + n <= GATHER_MAX) {
        /* the next bytes of the run */
    } else {
        int rc = gather_flush(f);
        if (rc != SQLITE_OK)
            return rc;
        if (n > GATHER_MAX || f->peer == NULL || !f->peer->has_shm)
            return write_all(f, data, n, ofst); /* nothing would flush it in time */
        f->off = ofst;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 64 * 1024;
        while (cap < f->len + n)
            cap *= 2;
        unsigned char *b = realloc(f->buf, cap);
        if (b == NULL) { /* write what we have and this, as unix would */
            int rc = gather_flush(f);
            return rc != SQLITE_OK ? rc : write_all(f, data, n, ofst);
        }
        f->buf = b;
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    return SQLITE_OK;
}

static int log_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 ofst)
{
    vfile *f = (vfile *)p;
    /* A read of what is gathered (SQLite re-reads frames of the open
     * transaction to recompute checksums): write it out first. */
    if (f->len > 0 && ofst < f->off + (sqlite3_int64)f->len && ofst + amt > f->off) {
        int rc = gather_flush(f);
        if (rc != SQLITE_OK)
            return rc;
    }
    return f->real->pMethods->xRead(f->real, out, amt, ofst);
}

static int log_sync(sqlite3_file *p, int flags)
{
    vfile *f = (vfile *)p;
    int rc = gather_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int log_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    vfile *f = (vfile *)p;
    int rc = gather_flush(f);
    if (size < f->reserved)
        f->reserved = 0; /* the next write asks again */
    return rc != SQLITE_OK ? rc : f->real->pMethods->xTruncate(f->real, size);
}

static int log_size(sqlite3_file *p, sqlite3_int64 *size)
{
    vfile *f = (vfile *)p;
    int rc = gather_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileSize(f->real, size);
}

static int log_fcntl(sqlite3_file *p, int op, void *arg)
{
    vfile *f = (vfile *)p;
    int rc = gather_flush(f);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xFileControl(f->real, op, arg);
}

/* ---- both: close ----------------------------------------------------------- */
static int pass_close(sqlite3_file *p)
{
    vfile *f = (vfile *)p;
    int rc = f->is_log ? gather_flush(f) : SQLITE_OK;
    if (f->peer)
        f->peer->peer = NULL;
    f->peer = NULL;
    int rc2 = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
    free(f->buf);
    f->buf = NULL;
    f->cap = f->len = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

/* ---- the database: the wal-index calls flush its log ---------------------- */
static int pass_shm_map(sqlite3_file *p, int pg, int pgsz, int extend, void volatile **out)
{
    vfile *f = (vfile *)p;
    int rc = f->real->pMethods->xShmMap(f->real, pg, pgsz, extend, out);
    if (rc == SQLITE_OK)
        f->has_shm = 1;
    return rc;
}
static int pass_shm_lock(sqlite3_file *p, int offset, int n, int flags)
{
    vfile *f = (vfile *)p;
    int rc = gather_flush(f->peer);
    return rc != SQLITE_OK ? rc : f->real->pMethods->xShmLock(f->real, offset, n, flags);
}
static void pass_shm_barrier(sqlite3_file *p)
{
    vfile *f = (vfile *)p;
    /* A failed write cannot be reported from here: keep the bytes, so the
     * next flush point (the commit's lock release, or a sync) retries and
     * reports it. */
    if (f->peer && f->peer->len > 0) {
        vfile *log = f->peer;
        if (write_all(log, log->buf, log->len, log->off) == SQLITE_OK)
            log->len = 0;
    }
    f->real->pMethods->xShmBarrier(f->real);
}

/* ---- forwarded as they are ---------------------------------------------- */
static int pass_read(sqlite3_file *p, void *out, int amt, sqlite3_int64 ofst)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xRead(r, out, amt, ofst);
}
static int pass_write(sqlite3_file *p, const void *data, int amt, sqlite3_int64 ofst)
{
    sqlite3_file *r = ((vfile *)p)->real;
    if (disk_full())
        return SQLITE_FULL;
    return r->pMethods->xWrite(r, data, amt, ofst);
}
static int pass_truncate(sqlite3_file *p, sqlite3_int64 size)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xTruncate(r, size);
}
static int pass_sync(sqlite3_file *p, int flags)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xSync(r, flags);
}
static int pass_size(sqlite3_file *p, sqlite3_int64 *size)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xFileSize(r, size);
}
static int pass_lock(sqlite3_file *p, int lock)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xLock(r, lock);
}
static int pass_unlock(sqlite3_file *p, int lock)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xUnlock(r, lock);
}
static int pass_reserved(sqlite3_file *p, int *out)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xCheckReservedLock(r, out);
}
static int pass_fcntl(sqlite3_file *p, int op, void *arg)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xFileControl(r, op, arg);
}
static int pass_sector(sqlite3_file *p)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xSectorSize(r);
}
static int pass_devchar(sqlite3_file *p)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xDeviceCharacteristics(r);
}
static int pass_shm_unmap(sqlite3_file *p, int del)
{
    vfile *f = (vfile *)p;
    gather_flush(f->peer);
    f->has_shm = 0;
    return f->real->pMethods->xShmUnmap(f->real, del);
}
static int pass_fetch(sqlite3_file *p, sqlite3_int64 ofst, int amt, void **out)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xFetch(r, ofst, amt, out);
}
static int pass_unfetch(sqlite3_file *p, sqlite3_int64 ofst, void *ptr)
{
    sqlite3_file *r = ((vfile *)p)->real;
    return r->pMethods->xUnfetch(r, ofst, ptr);
}

static int shim_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *p, int flags,
                     int *out_flags)
{
    (void)vfs;
    vfile *f = (vfile *)p;
    memset(f, 0, sizeof *f);
    f->real = (sqlite3_file *)(f + 1);
    int rc = unix_vfs->xOpen(unix_vfs, name, f->real, flags, out_flags);
    if (f->real->pMethods == NULL) {
        f->base.pMethods = NULL; /* nothing to close */
        return rc;
    }
    /* Our method table must not offer what the real one lacks. */
    if (f->real->pMethods->iVersion < 3) {
        f->real->pMethods->xClose(f->real);
        f->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    f->is_log = (flags & SQLITE_OPEN_WAL) != 0;
    f->base.pMethods = f->is_log ? &log_methods : &pass_methods;
    if (f->is_log) {
        /* size hints reserve blocks only on a file with a chunk size */
        int chunk = RESERVE_CHUNK;
        (void)f->real->pMethods->xFileControl(f->real, SQLITE_FCNTL_CHUNK_SIZE, &chunk);
    }
    if (f->is_log && name) {
        /* the log's database: its barrier is where the frames must be out */
        sqlite3_file *db = sqlite3_database_file_object(name);
        if (db && db->pMethods == &pass_methods && ((vfile *)db)->peer == NULL) {
            f->peer = (vfile *)db;
            f->peer->peer = f;
        }
    }
    return rc;
}

static void shim_init(void)
{
    unix_vfs = sqlite3_vfs_find("unix");
    if (unix_vfs == NULL)
        return;
    const char *ff = getenv("SFN_TEST_FULL_FLAG");
    if (ff && *ff)
        full_flag = strdup(ff);
    pass_methods = (sqlite3_io_methods){
        .iVersion = 3,
        .xClose = pass_close,
        .xRead = pass_read,
        .xWrite = pass_write,
        .xTruncate = pass_truncate,
        .xSync = pass_sync,
        .xFileSize = pass_size,
        .xLock = pass_lock,
        .xUnlock = pass_unlock,
        .xCheckReservedLock = pass_reserved,
        .xFileControl = pass_fcntl,
        .xSectorSize = pass_sector,
        .xDeviceCharacteristics = pass_devchar,
        .xShmMap = pass_shm_map,
        .xShmLock = pass_shm_lock,
        .xShmBarrier = pass_shm_barrier,
        .xShmUnmap = pass_shm_unmap,
        .xFetch = pass_fetch,
        .xUnfetch = pass_unfetch,
    };
    log_methods = pass_methods;
    log_methods.xRead = log_read;
    log_methods.xWrite = log_write;
    log_methods.xTruncate = log_truncate;
    log_methods.xSync = log_sync;
    log_methods.xFileSize = log_size;
    log_methods.xFileControl = log_fcntl;

    shim = *unix_vfs; /* names, randomness, time, dlopen...: unix's own */
    shim.iVersion = unix_vfs->iVersion < 3 ? unix_vfs->iVersion : 3;
    shim.szOsFile = (int)sizeof(vfile) + unix_vfs->szOsFile;
    shim.zName = SQLVFS_GATHER;
    shim.pNext = NULL;
    shim.xOpen = shim_open;
    if (sqlite3_vfs_register(&shim, 0) != SQLITE_OK)
        unix_vfs = NULL;
}

void sqlvfs_gather_counts(long *seen, long *made)
{
    *seen = __atomic_load_n(&log_writes_seen, __ATOMIC_RELAXED);
    *made = __atomic_load_n(&log_writes_made, __ATOMIC_RELAXED);
}

const char *sqlvfs_gather(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, shim_init);
    return unix_vfs ? SQLVFS_GATHER : NULL;
}
