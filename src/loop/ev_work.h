/*
 * ev_work.h - work off the loop's thread: a job runs on a worker thread and
 * its completion runs on the loop's thread, as a callback of the loop (an
 * eventfd it watches).
 *
 * For what can take longer than a loop iteration should (compiling a 1 MB
 * definition: ~100 ms) and touches nothing the loop owns: the job gets its
 * own data and returns it; done() hands it over.
 *
 * Jobs run one at a time, in the order given, on one thread (the machine
 * has few cores and the loop needs one).
 *
 * Must not: call loop functions from work(); share data with the loop while
 * the job runs.
 * Threading: ev_work_submit and ev_work_free on the loop's thread; work()
 * on the worker; done() on the loop's thread.
 */
#ifndef SFN_EV_WORK_H
#define SFN_EV_WORK_H

#include "ev.h"

typedef struct ev_work ev_work;

/* Runs on the worker thread. */
typedef void ev_work_fn(void *job);
/* Runs on the loop's thread after work(job) returned (cancelled: 1 when
 * ev_work_free dropped it before it ran: free the job, do nothing else). */
typedef void ev_work_done(void *job, int cancelled);

/* The worker of loop (its thread starts with the first job). NULL: out of
 * memory or fds. */
ev_work *ev_work_create(ev_loop *loop);
/* Queue a job. Returns 0 or -ENOMEM / -EAGAIN (the thread cannot start):
 * then nothing is queued and the caller may run it on its own thread. */
int ev_work_submit(ev_work *w, ev_work_fn *work, ev_work_done *done, void *job);
/* Jobs queued or running. */
int ev_work_pending(const ev_work *w);
/* Wait for the running job, drop the queued ones (done(job, 1)), stop the
 * thread, free. The completions of finished jobs not yet delivered are
 * delivered first (done(job, 0)). */
void ev_work_free(ev_work *w);

#endif
