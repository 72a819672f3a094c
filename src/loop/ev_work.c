/*
 * ev_work.c - one worker thread for the loop (see ev_work.h).
 *
 * Jobs go through two lists under one mutex: todo (queued, FIFO) and done
 * (finished, FIFO). The worker takes from todo, runs the job, appends it to
 * done and writes the eventfd; the loop's watch of the eventfd takes the
 * done list and calls each completion.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ev_work.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct job {
    ev_work_fn *work;
    ev_work_done *done;
    void *ud;
    struct job *next;
} job;

struct ev_work {
    ev_loop *loop;
    int efd;
    pthread_t thread;
    int started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *todo, **todo_tail;
    job *fin, **fin_tail;
    int pending;              /* queued + running + finished undelivered */
};

static void *worker(void *arg)
{
    ev_work *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (w->todo == NULL && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->todo == NULL)
            break;
        job *j = w->todo;
        w->todo = j->next;
        if (w->todo == NULL)
            w->todo_tail = &w->todo;
        pthread_mutex_unlock(&w->mu);
        j->work(j->ud);
        pthread_mutex_lock(&w->mu);
        j->next = NULL;
        *w->fin_tail = j;
        w->fin_tail = &j->next;
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof one);
        (void)n; /* the counter only wakes the loop: a full one is awake */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void deliver(ev_work *w)
{
    pthread_mutex_lock(&w->mu);
    job *l = w->fin;
    w->fin = NULL;
    w->fin_tail = &w->fin;
    pthread_mutex_unlock(&w->mu);
    for (job *nx; l; l = nx) {
        nx = l->next;
        w->pending--;
        l->done(l->ud, 0);
        free(l);
    }
}

static void on_event(ev_loop *loop, int fd, int events, void *ud)
{
    (void)loop;
    (void)events;
    uint64_t n;
    ssize_t r = read(fd, &n, sizeof n);
    (void)r;
    deliver(ud);
}

ev_work *ev_work_create(ev_loop *loop)
{
    ev_work *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->loop = loop;
    w->todo_tail = &w->todo;
    w->fin_tail = &w->fin;
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->efd < 0 || pthread_mutex_init(&w->mu, NULL) != 0) {
        if (w->efd >= 0)
            close(w->efd);
        free(w);
        return NULL;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0 ||
        ev_fd_watch(loop, w->efd, EV_READ, on_event, w) != 0) {
        pthread_mutex_destroy(&w->mu);
        close(w->efd);
        free(w);
        return NULL;
    }
    return w;
}

int ev_work_submit(ev_work *w, ev_work_fn *work, ev_work_done *done, void *ud)
{
    job *j = malloc(sizeof *j);
    if (j == NULL)
        return -ENOMEM;
    *j = (job){.work = work, .done = done, .ud = ud};
    if (!w->started) {
        /* the thread takes no signals: they are the loop's (signalfd) */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&w->thread, NULL, worker, w);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            free(j);
            return -EAGAIN;
        }
        w->started = 1;
    }
    pthread_mutex_lock(&w->mu);
    *w->todo_tail = j;
    w->todo_tail = &j->next;
    w->pending++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

int ev_work_pending(const ev_work *w)
{
    return w->pending;
}

void ev_work_free(ev_work *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    job *dropped = w->todo;
    w->todo = NULL;
    w->todo_tail = &w->todo;
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started)
        pthread_join(w->thread, NULL);
    deliver(w);
    for (job *nx; dropped; dropped = nx) {
        nx = dropped->next;
        dropped->done(dropped->ud, 1);
        free(dropped);
    }
    ev_fd_unwatch(w->loop, w->efd);
    close(w->efd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
