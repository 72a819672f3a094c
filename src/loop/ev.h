/*
 * ev.h - the one event loop of sfnd: fds, timers, child processes, signals.
 *
 * Everything that waits in sfnd waits here (STYLE.md: "one loop owns all
 * waiting"). The API is kept as small as Redis ae.h: watch an fd, arm a
 * timer, watch a child pid, watch a signal, a hook run once per iteration
 * just before the loop blocks (the runner's group commit: flush the SQLite
 * batch, then act on it), and stop.
 *
 * Must not: block in a callback, know about HTTP, SQLite or ASL.
 *
 * Threading: an ev_loop and everything registered on it belong to the thread
 * that runs it. No function here is thread-safe.
 *
 * Time: deadlines are absolute milliseconds on CLOCK_MONOTONIC (ev_now_ms);
 * convert wall-clock deadlines (e.g. a Wait state's Timestamp, stored in
 * SQLite as epoch ms) with ev_wall_to_mono_ms.
 *
 * Errors: negative errno values (-ENOMEM, -EINVAL, -EEXIST, ...).
 */
#ifndef SFN_EV_H
#define SFN_EV_H

#include <stdint.h>
#include <sys/types.h>

typedef struct ev_loop ev_loop;
typedef struct ev_timer ev_timer;

#define EV_READ 1  /* fd readable, or peer hung up / error (read to find out) */
#define EV_WRITE 2 /* fd writable */

/* fd is ready for `events` (EV_READ|EV_WRITE). Errors and hang-ups are
 * reported as EV_READ (and EV_WRITE if watched) so a read() or write()
 * in the callback sees them. */
typedef void ev_fd_cb(ev_loop *loop, int fd, int events, void *ud);
/* The timer fired. `t` is freed when the callback returns; do not cancel it
 * afterwards (cancelling it inside its own callback is a harmless no-op). */
typedef void ev_timer_cb(ev_loop *loop, ev_timer *t, void *ud);
/* Child `pid` ended; `status` is as from waitpid (WIFEXITED, WTERMSIG...).
 * The child is already reaped; the watch is gone. */
typedef void ev_child_cb(ev_loop *loop, pid_t pid, int status, void *ud);
/* A watched signal (SIGTERM, SIGINT, ...) arrived. */
typedef void ev_signal_cb(ev_loop *loop, int signo, void *ud);
/* Called once per iteration, before the loop blocks in epoll_wait. */
typedef void ev_hook_cb(ev_loop *loop, void *ud);

/* Create a loop. Returns NULL on failure (out of memory or fds). */
ev_loop *ev_create(void);
/* Free the loop: pending timers are freed without running, watched fds are
 * NOT closed (their owners close them), child watches are dropped (the
 * children are not killed or reaped). ev_free(NULL) is a no-op. */
void ev_free(ev_loop *loop);

/* ---- fds -------------------------------------------------------------- */
/* Watch fd for `events` (EV_READ|EV_WRITE), replacing any earlier watch of
 * the same fd (callback, ud and mask). events == 0 is ev_fd_unwatch.
 * The fd should be non-blocking. Level-triggered.
 * Returns 0, or -errno (-EBADF, -ENOMEM). */
int ev_fd_watch(ev_loop *loop, int fd, int events, ev_fd_cb *cb, void *ud);
/* Stop watching fd (call BEFORE close(fd)). Unknown fd: no-op. Safe inside
 * any callback: a pending event of an unwatched fd is not delivered. */
void ev_fd_unwatch(ev_loop *loop, int fd);

/* ---- time and timers -------------------------------------------------- */
int64_t ev_now_ms(void);   /* CLOCK_MONOTONIC, ms */
int64_t ev_now_us(void);   /* CLOCK_MONOTONIC, µs (for latency figures) */
int64_t ev_wall_ms(void);  /* CLOCK_REALTIME, ms since the epoch */
/* The monotonic deadline that corresponds to a wall-clock epoch-ms time
 * (past times map to "now or earlier", so the timer fires at once). */
int64_t ev_wall_to_mono_ms(int64_t wall_ms);

/* Arm a one-shot timer firing when ev_now_ms() >= deadline_ms. Timers with
 * equal deadlines fire in the order they were added. Heap: O(log n).
 * Returns the timer (valid until it fires or is cancelled), NULL on ENOMEM. */
ev_timer *ev_timer_add(ev_loop *loop, int64_t deadline_ms, ev_timer_cb *cb, void *ud);
/* Cancel and free a pending timer. NULL is a no-op. O(log n). */
void ev_timer_cancel(ev_loop *loop, ev_timer *t);
/* The deadline a timer was armed with. */
int64_t ev_timer_deadline(const ev_timer *t);
/* Number of pending timers (tests, stats). */
size_t ev_timer_count(const ev_loop *loop);

/* ---- child processes -------------------------------------------------- */
/* Call cb once when child `pid` (a child of this process, not yet reaped)
 * exits; the loop reaps it (waitpid). Uses a pidfd per child, so no global
 * SIGCHLD handler and no reaping of other code's children.
 * Returns 0, -ESRCH (no such process), -EEXIST (already watched), -errno. */
int ev_child_watch(ev_loop *loop, pid_t pid, ev_child_cb *cb, void *ud);
/* Forget a child watch without reaping (the owner will waitpid itself).
 * Returns 0 or -ENOENT. */
int ev_child_unwatch(ev_loop *loop, pid_t pid);

/* ---- signals ---------------------------------------------------------- */
/* Deliver `signo` (SIGTERM, SIGINT, SIGHUP, ...) as a loop event through a
 * signalfd. Blocks the signal in the calling thread (call before starting
 * other threads, so they inherit the mask). Children spawned by sfnd must
 * reset their mask (lam does, with posix_spawnattr_setsigmask).
 * cb NULL stops watching (and unblocks). Returns 0 or -errno. */
int ev_signal_watch(ev_loop *loop, int signo, ev_signal_cb *cb, void *ud);

/* ---- running ---------------------------------------------------------- */
/* Set the hook called at the start of every iteration, before blocking
 * (NULL to clear). The hook may add timers, respond, write: the loop
 * recomputes its timeout after the hook. */
void ev_set_before_sleep(ev_loop *loop, ev_hook_cb *cb, void *ud);
/* Run until ev_stop is called. Returns 0, or -errno if epoll_wait fails. */
int ev_run(ev_loop *loop);
/* One iteration: before-sleep hook, wait at most timeout_ms (-1 = until
 * something happens, 0 = poll), dispatch fd events, then due timers.
 * Returns the number of callbacks run (fd + timer + child + signal), or
 * -errno. Tests drive the loop with this. */
int ev_run_once(ev_loop *loop, int timeout_ms);
/* Make ev_run return after the current iteration. Safe in callbacks. */
void ev_stop(ev_loop *loop);
/* Nonzero after ev_stop until the next ev_run. */
int ev_stopped(const ev_loop *loop);

#endif
