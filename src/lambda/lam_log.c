/*
 * lam_log.c - the local Lambda's process output: each process's stdout and
 * stderr pipe, read on the loop in whole lines, to our stderr with "[name] "
 * in front of each line, or to <log_dir>/<name>.log, rotated once past
 * log_max (the one old file kept).
 *
 * Must not: block or let one chatty process hold the loop (at most
 * LOG_READS_PER_WAKE reads per wake), grow a log file without bound, fail an
 * invocation over a log that cannot be written.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lam_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_READS_PER_WAKE 16      /* a runaway writer cannot hold the loop */

static void log_flush_line(proc *p, const char *s, size_t n)
{
    char pre[300];
    int k = snprintf(pre, sizeof pre, "[%s] ", p->fn->name);
    /* one write per line keeps lines of different processes whole */
    char *line = malloc((size_t)k + n + 1);
    if (line == NULL)
        return;
    memcpy(line, pre, (size_t)k);
    memcpy(line + k, s, n);
    line[(size_t)k + n] = '\n';
    (void)!write(STDERR_FILENO, line, (size_t)k + n + 1);
    free(line);
}

/* The function's own log file (log_dir mode): <log_dir>/<name>.log, moved
 * to <name>.log.1 (the one old file kept) once it would pass log_max, so
 * one chatty invocation cannot fill the disk. */
void lam__log_path(const lam_function *f, char *buf, size_t len, const char *suffix)
{
    snprintf(buf, len, "%s/%s.log%s", f->l->log_dir, f->name, suffix);
}

static void log_write(lam_function *f, const char *s, size_t n)
{
    lam *l = f->l;
    if (f->logsize > 0 && f->logsize + (int64_t)n > l->log_max) {
        char cur[PATH_MAX], old[PATH_MAX];
        lam__log_path(f, cur, sizeof cur, "");
        lam__log_path(f, old, sizeof old, ".1");
        int fd = -1;
        if (rename(cur, old) == 0)
            fd = open(cur, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(f->logfd);
            f->logfd = fd;
            f->logsize = 0;
        } else {
            /* Cannot rotate: truncate in place rather than grow without bound. */
            if (ftruncate(f->logfd, 0) == 0)
                f->logsize = 0;
        }
    }
    while (n > 0 && f->logsize + (int64_t)n <= l->log_max + LOG_LINE_MAX) {
        ssize_t w = write(f->logfd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* disk full: the line is lost, the function is not */
        f->logsize += w;
        s += w;
        n -= (size_t)w;
    }
}

/* Lines [0, n) of p's buffer: to the function's file, or to our stderr with
 * "[name] " in front of each. */
static void log_emit(proc *p, size_t n, int whole)
{
    lam_function *f = p->fn;
    if (p->cur != NULL)
        lam__tail_add(p->cur, p->logbuf, n);
    if (f->logfd >= 0) {
        log_write(f, p->logbuf, n);
        if (whole && n > 0 && p->logbuf[n - 1] != '\n')
            log_write(f, "\n", 1);
        return;
    }
    size_t st = 0;
    for (size_t i = 0; i < n; i++)
        if (p->logbuf[i] == '\n') {
            log_flush_line(p, p->logbuf + st, i - st);
            st = i + 1;
        }
    if (st < n)
        log_flush_line(p, p->logbuf + st, n - st);
}

/* Read p's stdout/stderr pipe: at most max_reads reads (0 = until it would
 * block or ends). */
void lam__log_read(ev_loop *loop, proc *p, int fd, int max_reads)
{
    for (int k = 0; max_reads <= 0 || k < max_reads; k++) {
        ssize_t r = read(fd, p->logbuf + p->loglen, LOG_LINE_MAX - p->loglen);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                return;
            if (p->loglen)
                log_emit(p, p->loglen, 1);
            p->loglen = 0;
            ev_fd_unwatch(loop, fd);
            close(fd);
            p->logfd = -1;
            return;
        }
        p->loglen += (size_t)r;
        /* whole lines go out; a partial one waits for its end (lines of
         * different processes stay whole), unless it fills the buffer */
        size_t st = p->loglen;
        while (st > 0 && p->logbuf[st - 1] != '\n')
            st--;
        if (st == 0 && p->loglen == LOG_LINE_MAX)
            st = p->loglen;
        if (st > 0)
            log_emit(p, st, 0);
        memmove(p->logbuf, p->logbuf + st, p->loglen - st);
        p->loglen -= st;
    }
}

void lam__on_log(ev_loop *loop, int fd, int events, void *ud)
{
    lam__log_read(loop, ud, fd, LOG_READS_PER_WAKE);
}

void lam__log_note(lam_function *f, const char *line)
{
    size_t n = strlen(line);
    if (f->logfd >= 0) {
        log_write(f, line, n);
        log_write(f, "\n", 1);
        return;
    }
    char *s = malloc(strlen(f->name) + n + 5);
    if (s == NULL)
        return;
    int k = sprintf(s, "[%s] %s\n", f->name, line);
    (void)!write(STDERR_FILENO, s, (size_t)k);
    free(s);
}
