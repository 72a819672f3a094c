/*
 * ev.c - the event loop: epoll for fds, a binary min-heap for timers, one
 * pidfd per watched child, one signalfd for watched signals.
 *
 * Must not: block in anything but epoll_wait, allocate per iteration, scan
 * anything whose size grows with the number of watchers per event.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "ev.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What an fd slot is used for: the user's watch, or one of our own. */
enum { SLOT_FREE = 0, SLOT_USER, SLOT_CHILD, SLOT_SIGNAL };

typedef struct fd_slot {
    int kind;
    int mask;        /* EV_READ|EV_WRITE for SLOT_USER */
    ev_fd_cb *cb;
    void *ud;
    pid_t pid;       /* SLOT_CHILD */
    ev_child_cb *ccb;
} fd_slot;

struct ev_timer {
    int64_t deadline;
    uint64_t seq;    /* insertion order: equal deadlines fire FIFO */
    size_t idx;      /* position in the heap; SIZE_MAX while firing */
    ev_timer_cb *cb;
    void *ud;
};

typedef struct sig_watch {
    ev_signal_cb *cb;
    void *ud;
} sig_watch;

#define EV_NSIG 65

struct ev_loop {
    int epfd;
    fd_slot *slots;
    size_t nslots;
    ev_timer **heap;
    size_t nheap, capheap;
    uint64_t seq;
    int sigfd;
    sigset_t sigmask;
    sig_watch sigs[EV_NSIG];
    ev_hook_cb *before;
    void *before_ud;
    int stop;
    struct epoll_event events[256];
};

static int64_t clock_ms(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ev_now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }
int64_t ev_wall_ms(void) { return clock_ms(CLOCK_REALTIME); }

int64_t ev_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t ev_wall_to_mono_ms(int64_t wall_ms)
{
    return ev_now_ms() + (wall_ms - ev_wall_ms());
}

ev_loop *ev_create(void)
{
    ev_loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        free(l);
        return NULL;
    }
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    return l;
}

void ev_free(ev_loop *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    for (size_t fd = 0; fd < l->nslots; fd++)
        if (l->slots[fd].kind == SLOT_CHILD)
            close((int)fd);
    if (l->sigfd >= 0) {
        close(l->sigfd);
        pthread_sigmask(SIG_UNBLOCK, &l->sigmask, NULL);
    }
    free(l->slots);
    close(l->epfd);
    free(l);
}

/* ---- fd slots --------------------------------------------------------- */
static int slot_reserve(ev_loop *l, int fd)
{
    if (fd < 0)
        return -EBADF;
    if ((size_t)fd < l->nslots)
        return 0;
    size_t n = l->nslots ? l->nslots : 64;
    while (n <= (size_t)fd)
        n *= 2;
    fd_slot *s = realloc(l->slots, n * sizeof *s);
    if (s == NULL)
        return -ENOMEM;
    memset(s + l->nslots, 0, (n - l->nslots) * sizeof *s);
    l->slots = s;
    l->nslots = n;
    return 0;
}

static uint32_t to_epoll(int mask)
{
    return ((mask & EV_READ) ? EPOLLIN | EPOLLRDHUP : 0) | ((mask & EV_WRITE) ? EPOLLOUT : 0);
}

static int epoll_set(ev_loop *l, int fd, int was, uint32_t ev)
{
    struct epoll_event e = {.events = ev, .data.fd = fd};
    if (epoll_ctl(l->epfd, was ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &e) < 0)
        return -errno;
    return 0;
}

/* The loop's own fd (a child's pidfd, the signalfd): a slot, read events
 * on epoll. Returns 0, or a negative errno with fd closed. */
static int own_fd_add(ev_loop *l, int fd)
{
    int rc = slot_reserve(l, fd);
    if (rc == 0)
        rc = epoll_set(l, fd, 0, EPOLLIN);
    if (rc < 0)
        close(fd);
    return rc;
}

int ev_fd_watch(ev_loop *l, int fd, int events, ev_fd_cb *cb, void *ud)
{
    if (events == 0) {
        ev_fd_unwatch(l, fd);
        return 0;
    }
    int rc = slot_reserve(l, fd);
    if (rc < 0)
        return rc;
    fd_slot *s = &l->slots[fd];
    if (s->kind != SLOT_FREE && s->kind != SLOT_USER)
        return -EEXIST;
    if (s->kind == SLOT_FREE || s->mask != events) {
        rc = epoll_set(l, fd, s->kind == SLOT_USER, to_epoll(events));
        if (rc < 0)
            return rc;
    }
    s->kind = SLOT_USER;
    s->mask = events;
    s->cb = cb;
    s->ud = ud;
    return 0;
}

void ev_fd_unwatch(ev_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nslots || l->slots[fd].kind != SLOT_USER)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&l->slots[fd], 0, sizeof l->slots[fd]);
}

/* ---- timers: a binary min-heap on (deadline, seq) --------------------- */
static int timer_less(const ev_timer *a, const ev_timer *b)
{
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
}

static void heap_place(ev_loop *l, size_t i, ev_timer *t)
{
    l->heap[i] = t;
    t->idx = i;
}

static void heap_up(ev_loop *l, size_t i)
{
    ev_timer *t = l->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!timer_less(t, l->heap[p]))
            break;
        heap_place(l, i, l->heap[p]);
        i = p;
    }
    heap_place(l, i, t);
}

static void heap_down(ev_loop *l, size_t i)
{
    ev_timer *t = l->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->nheap)
            break;
        if (c + 1 < l->nheap && timer_less(l->heap[c + 1], l->heap[c]))
            c++;
        if (!timer_less(l->heap[c], t))
            break;
        heap_place(l, i, l->heap[c]);
        i = c;
    }
    heap_place(l, i, t);
}

static void heap_remove(ev_loop *l, ev_timer *t)
{
    size_t i = t->idx;
    assert(i < l->nheap && l->heap[i] == t);
    ev_timer *last = l->heap[--l->nheap];
    t->idx = SIZE_MAX;
    if (last == t)
        return;
    heap_place(l, i, last);
    if (i > 0 && timer_less(last, l->heap[(i - 1) / 2]))
        heap_up(l, i);
    else
        heap_down(l, i);
}

ev_timer *ev_timer_add(ev_loop *l, int64_t deadline_ms, ev_timer_cb *cb, void *ud)
{
    if (l->nheap == l->capheap) {
        size_t n = l->capheap ? l->capheap * 2 : 64;
        ev_timer **h = realloc(l->heap, n * sizeof *h);
        if (h == NULL)
            return NULL;
        l->heap = h;
        l->capheap = n;
    }
    ev_timer *t = malloc(sizeof *t);
    if (t == NULL)
        return NULL;
    t->deadline = deadline_ms;
    t->seq = l->seq++;
    t->cb = cb;
    t->ud = ud;
    l->nheap++;
    heap_place(l, l->nheap - 1, t);
    heap_up(l, l->nheap - 1);
    return t;
}

void ev_timer_cancel(ev_loop *l, ev_timer *t)
{
    if (t == NULL || t->idx == SIZE_MAX) /* NULL, or firing right now */
        return;
    heap_remove(l, t);
    free(t);
}

int64_t ev_timer_deadline(const ev_timer *t) { return t->deadline; }
size_t ev_timer_count(const ev_loop *l) { return l->nheap; }

static int run_timers(ev_loop *l)
{
    int n = 0;
    if (l->nheap == 0)
        return 0;
    int64_t now = ev_now_ms();
    /* Only timers due now: one added by a callback for "now" waits for the
     * next iteration, so a timer loop cannot starve the fds. */
    uint64_t seq_limit = l->seq;
    while (l->nheap > 0 && l->heap[0]->deadline <= now && l->heap[0]->seq < seq_limit) {
        ev_timer *t = l->heap[0];
        heap_remove(l, t);
        t->cb(l, t, t->ud);
        free(t);
        n++;
    }
    return n;
}

/* ---- children: one pidfd each ----------------------------------------- */
int ev_child_watch(ev_loop *l, pid_t pid, ev_child_cb *cb, void *ud)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return -errno;
    int rc = own_fd_add(l, fd);
    if (rc < 0)
        return rc;
    fd_slot *s = &l->slots[fd];
    s->kind = SLOT_CHILD;
    s->pid = pid;
    s->ccb = cb;
    s->ud = ud;
    return 0;
}

static int find_child(ev_loop *l, pid_t pid)
{
    /* Only used by unwatch (rare): a scan is fine. */
    for (size_t fd = 0; fd < l->nslots; fd++)
        if (l->slots[fd].kind == SLOT_CHILD && l->slots[fd].pid == pid)
            return (int)fd;
    return -1;
}

static void child_drop(ev_loop *l, int fd)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    memset(&l->slots[fd], 0, sizeof l->slots[fd]);
    close(fd);
}

int ev_child_unwatch(ev_loop *l, pid_t pid)
{
    int fd = find_child(l, pid);
    if (fd < 0)
        return -ENOENT;
    child_drop(l, fd);
    return 0;
}

static int child_ready(ev_loop *l, int fd)
{
    fd_slot s = l->slots[fd];
    int status = 0;
    pid_t r = waitpid(s.pid, &status, WNOHANG);
    if (r == 0)
        return 0; /* spurious: not exited yet */
    child_drop(l, fd);
    if (r < 0)
        status = 0; /* reaped by someone else; report a plain exit */
    s.ccb(l, s.pid, status, s.ud);
    return 1;
}

/* ---- signals ------------------------------------------------------------ */
int ev_signal_watch(ev_loop *l, int signo, ev_signal_cb *cb, void *ud)
{
    if (signo <= 0 || signo >= EV_NSIG)
        return -EINVAL;
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (cb == NULL) {
        sigdelset(&l->sigmask, signo);
        l->sigs[signo].cb = NULL;
        if (l->sigfd >= 0)
            signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
        pthread_sigmask(SIG_UNBLOCK, &one, NULL);
        return 0;
    }
    sigaddset(&l->sigmask, signo);
    pthread_sigmask(SIG_BLOCK, &one, NULL);
    int fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (l->sigfd < 0) {
        int rc = own_fd_add(l, fd);
        if (rc < 0)
            return rc;
        l->slots[fd].kind = SLOT_SIGNAL;
        l->sigfd = fd;
    }
    l->sigs[signo].cb = cb;
    l->sigs[signo].ud = ud;
    return 0;
}

static int signal_ready(ev_loop *l)
{
    struct signalfd_siginfo si;
    int n = 0;
    while (read(l->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int s = (int)si.ssi_signo;
        if (s > 0 && s < EV_NSIG && l->sigs[s].cb != NULL) {
            l->sigs[s].cb(l, s, l->sigs[s].ud);
            n++;
        }
    }
    return n;
}

/* ---- running ------------------------------------------------------------ */
void ev_set_before_sleep(ev_loop *l, ev_hook_cb *cb, void *ud)
{
    l->before = cb;
    l->before_ud = ud;
}

void ev_stop(ev_loop *l) { l->stop = 1; }
int ev_stopped(const ev_loop *l) { return l->stop; }

int ev_run_once(ev_loop *l, int timeout_ms)
{
    if (l->before != NULL)
        l->before(l, l->before_ud);
    if (l->nheap > 0 && timeout_ms != 0) {
        int64_t wait = l->heap[0]->deadline - ev_now_ms();
        if (wait < 0)
            wait = 0;
        if (timeout_ms < 0 || wait < timeout_ms)
            timeout_ms = wait > 0x7fffffff ? 0x7fffffff : (int)wait;
    }
    if (l->stop)
        timeout_ms = 0;
    int n = epoll_wait(l->epfd, l->events, (int)(sizeof l->events / sizeof l->events[0]), timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return -errno;
    }
    int ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = l->events[i].data.fd;
        uint32_t e = l->events[i].events;
        if ((size_t)fd >= l->nslots)
            continue;
        fd_slot *s = &l->slots[fd];
        switch (s->kind) {
        case SLOT_USER: {
            int mask = 0;
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                mask |= EV_READ;
            if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                mask |= EV_WRITE;
            mask &= s->mask;
            if (mask == 0)
                mask = s->mask & EV_READ ? EV_READ : EV_WRITE;
            s->cb(l, fd, mask, s->ud);
            ran++;
            break;
        }
        case SLOT_CHILD:
            ran += child_ready(l, fd);
            break;
        case SLOT_SIGNAL:
            ran += signal_ready(l);
            break;
        default:
            break; /* unwatched by an earlier callback of this batch */
        }
    }
    ran += run_timers(l);
    return ran;
}

int ev_run(ev_loop *l)
{
    l->stop = 0;
    while (!l->stop) {
        int rc = ev_run_once(l, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
