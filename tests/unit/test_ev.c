/*
 * test_ev.c - the event loop: timer order and cancel, fd readiness, child
 * exit, signals as events, the before-sleep hook, stop.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ev.h"
#include "ev_work.h"

#include <pthread.h>
#include <time.h>

static int order[16];
static int norder;

static void t_record(ev_loop *l, ev_timer *t, void *ud)
{
    order[norder++] = (int)(intptr_t)ud;
}

static void test_timers_order(void **state)
{
    ev_loop *l = ev_create();
    assert_non_null(l);
    norder = 0;
    int64_t now = ev_now_ms();
    /* deadlines in the past fire at once, in deadline order, ties FIFO */
    ev_timer_add(l, now - 5, t_record, (void *)3);
    ev_timer_add(l, now - 10, t_record, (void *)1);
    ev_timer_add(l, now - 10, t_record, (void *)2);
    ev_timer *c = ev_timer_add(l, now - 7, t_record, (void *)99);
    ev_timer_add(l, now - 1, t_record, (void *)4);
    ev_timer_add(l, now + 60000, t_record, (void *)100);
    ev_timer_cancel(l, c);
    assert_int_equal(ev_timer_count(l), 5);
    int n = ev_run_once(l, 0);
    assert_int_equal(n, 4);
    assert_int_equal(norder, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(order[i], i + 1);
    assert_int_equal(ev_timer_count(l), 1);
    ev_free(l); /* frees the pending one: no leak under ASan */
}

static int64_t many_at[256];
static int nmany;
static void t_many(ev_loop *l, ev_timer *t, void *ud)
{
    many_at[nmany++] = ev_timer_deadline(t);
}

static void test_timer_heap_many(void **state)
{
    ev_loop *l = ev_create();
    ev_timer *ts[200];
    int64_t base = ev_now_ms() - 1000;
    nmany = 0;
    /* scattered deadlines; cancel every third; the rest fire sorted */
    for (int i = 0; i < 200; i++)
        ts[i] = ev_timer_add(l, base + (i * 7919) % 200, t_many, NULL);
    for (int i = 0; i < 200; i += 3)
        ev_timer_cancel(l, ts[i]);
    ev_run_once(l, 0);
    assert_int_equal(nmany, 200 - 67);
    for (int i = 1; i < nmany; i++)
        assert_true(many_at[i - 1] <= many_at[i]);
    assert_int_equal(ev_timer_count(l), 0);
    ev_free(l);
}

static int64_t fired_at[8];
static int nfired;
static void t_deadline(ev_loop *l, ev_timer *t, void *ud)
{
    fired_at[nfired++] = ev_timer_deadline(t);
    ev_timer_cancel(l, t); /* harmless inside its own callback */
}

static void test_timer_sorted_fire(void **state)
{
    ev_loop *l = ev_create();
    int64_t now = ev_now_ms();
    int64_t d[] = {now + 30, now + 10, now + 20};
    for (int i = 0; i < 3; i++)
        ev_timer_add(l, d[i], t_deadline, NULL);
    nfired = 0;
    while (nfired < 3)
        assert_true(ev_run_once(l, -1) >= 0);
    assert_true(fired_at[0] == now + 10 && fired_at[1] == now + 20 && fired_at[2] == now + 30);
    assert_true(ev_now_ms() >= now + 30);
    ev_free(l);
}

static int got_events, got_fd;
static void on_fd(ev_loop *l, int fd, int events, void *ud)
{
    got_events = events;
    got_fd = fd;
    char b[8];
    if (events & EV_READ)
        (void)!read(fd, b, sizeof b);
}

static void test_fd_readiness(void **state)
{
    ev_loop *l = ev_create();
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    assert_int_equal(ev_fd_watch(l, p[0], EV_READ, on_fd, NULL), 0);
    got_events = 0;
    assert_int_equal(ev_run_once(l, 0), 0); /* nothing to read yet */
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ev_run_once(l, 1000), 1);
    assert_int_equal(got_events, EV_READ);
    assert_int_equal(got_fd, p[0]);
    /* write readiness on the other end */
    assert_int_equal(ev_fd_watch(l, p[1], EV_WRITE, on_fd, NULL), 0);
    got_events = 0;
    assert_int_equal(ev_run_once(l, 1000), 1);
    assert_int_equal(got_events, EV_WRITE);
    assert_int_equal(got_fd, p[1]);
    ev_fd_unwatch(l, p[1]);
    ev_fd_unwatch(l, p[0]);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(ev_run_once(l, 0), 0); /* unwatched: no callback */
    close(p[0]);
    close(p[1]);
    ev_free(l);
}

static void t_stop(ev_loop *l, ev_timer *t, void *ud)
{
    ev_stop(l);
}

static pid_t child_pid;
static int child_status = -1;
static void on_child(ev_loop *l, pid_t pid, int status, void *ud)
{
    child_pid = pid;
    child_status = status;
    ev_stop(l);
}

static void test_child_exit(void **state)
{
    ev_loop *l = ev_create();
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    assert_true(pid > 0);
    assert_int_equal(ev_child_watch(l, pid, on_child, NULL), 0);
    ev_timer *guard = ev_timer_add(l, ev_now_ms() + 5000, t_stop, NULL);
    assert_int_equal(ev_run(l), 0);
    assert_int_equal(child_pid, pid);
    assert_true(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 7);
    assert_true(waitpid(pid, NULL, WNOHANG) < 0); /* already reaped */

    /* killed by a signal */
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(ev_child_watch(l, pid, on_child, NULL), 0);
    kill(pid, SIGKILL);
    assert_int_equal(ev_run(l), 0);
    assert_true(WIFSIGNALED(child_status) && WTERMSIG(child_status) == SIGKILL);
    ev_timer_cancel(l, guard);
    ev_free(l);
}

static int hook_calls, hook_seen_timer;
static int timer_ran;
static void hook(ev_loop *l, void *ud)
{
    hook_calls++;
    hook_seen_timer = timer_ran;
}
static void t_mark(ev_loop *l, ev_timer *t, void *ud)
{
    timer_ran++;
}

static void test_before_sleep(void **state)
{
    ev_loop *l = ev_create();
    ev_set_before_sleep(l, hook, NULL);
    hook_calls = timer_ran = 0;
    ev_timer_add(l, ev_now_ms() - 1, t_mark, NULL);
    ev_run_once(l, 0);
    /* the hook runs before the iteration's events */
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_seen_timer, 0);
    assert_int_equal(timer_ran, 1);
    ev_run_once(l, 0);
    assert_int_equal(hook_calls, 2);
    assert_int_equal(hook_seen_timer, 1);
    ev_free(l);
}

static int sig_got;
static void on_sig(ev_loop *l, int signo, void *ud)
{
    sig_got = signo;
    ev_stop(l);
}

static void test_signal(void **state)
{
    ev_loop *l = ev_create();
    assert_int_equal(ev_signal_watch(l, SIGUSR1, on_sig, NULL), 0);
    assert_int_equal(ev_signal_watch(l, SIGTERM, on_sig, NULL), 0);
    kill(getpid(), SIGTERM); /* blocked: queued for the signalfd */
    assert_int_equal(ev_run(l), 0);
    assert_int_equal(sig_got, SIGTERM);
    ev_signal_watch(l, SIGUSR1, NULL, NULL);
    ev_signal_watch(l, SIGTERM, NULL, NULL);
    ev_free(l);
}

/* ---- ev_work ------------------------------------------------------------ */
typedef struct wjob {
    int id, *order, *n, *cancelled;
    pthread_t ran_on, done_on;
    int done;
} wjob;

static void wjob_work(void *ud)
{
    wjob *j = ud;
    j->ran_on = pthread_self();
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL); /* a long job: the loop must not wait for it */
}

static void wjob_done(void *ud, int cancelled)
{
    wjob *j = ud;
    j->done_on = pthread_self();
    j->done = 1;
    if (cancelled)
        (*j->cancelled)++;
    else
        j->order[(*j->n)++] = j->id;
}

static int ticks;
static void tick(ev_loop *loop, ev_timer *t, void *ud)
{
    (void)t;
    (void)ud;
    ticks++;
    ev_timer_add(loop, ev_now_ms() + 5, tick, NULL);
}

static void test_work_off_loop(void **state)
{
    (void)state;
    ev_loop *l = ev_create();
    ev_work *w = ev_work_create(l);
    assert_non_null(w);
    int seq[3] = {0}, n = 0, cancelled = 0;
    wjob j[3];
    for (int i = 0; i < 3; i++) {
        j[i] = (wjob){.id = i + 1, .order = seq, .n = &n, .cancelled = &cancelled};
        assert_int_equal(ev_work_submit(w, wjob_work, wjob_done, &j[i]), 0);
    }
    assert_int_equal(ev_work_pending(w), 3);
    ticks = 0;
    ev_timer_add(l, ev_now_ms() + 5, tick, NULL);
    int64_t end = ev_now_ms() + 3000;
    while (n < 3 && ev_now_ms() < end)
        ev_run_once(l, 50);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(seq[i], i + 1); /* in the order given */
        assert_false(pthread_equal(j[i].ran_on, pthread_self()));
        assert_true(pthread_equal(j[i].done_on, pthread_self()));
    }
    /* 180 ms of work while a 5 ms timer ticked on */
    assert_true(ticks >= 10);
    assert_int_equal(ev_work_pending(w), 0);
    /* freed with work queued: the running one finishes, the rest are dropped */
    wjob k[3];
    n = 0;
    for (int i = 0; i < 3; i++) {
        k[i] = (wjob){.id = i + 1, .order = seq, .n = &n, .cancelled = &cancelled};
        assert_int_equal(ev_work_submit(w, wjob_work, wjob_done, &k[i]), 0);
    }
    ev_work_free(w);
    assert_int_equal(n + cancelled, 3);
    assert_true(cancelled >= 1);
    for (int i = 0; i < 3; i++)
        assert_true(k[i].done);
    ev_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_off_loop),
        cmocka_unit_test(test_timers_order),   cmocka_unit_test(test_timer_heap_many),
        cmocka_unit_test(test_timer_sorted_fire), cmocka_unit_test(test_fd_readiness),
        cmocka_unit_test(test_child_exit),     cmocka_unit_test(test_before_sleep),
        cmocka_unit_test(test_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
