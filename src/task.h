/* task: coroutines on the loop thread, so that code written as plain calls (a pooled gateway
 * connection's Thrift calls) waits for its socket by yielding to the loop instead of blocking it.
 *
 * Every task runs on the loop thread, on a stack of its own. It runs until it waits; the loop
 * resumes it when what it waits for happens. Tasks are resumed only from the loop's own stack
 * (an event callback), never from another task, so a task never runs inside another. */
#ifndef HBPOOL_TASK_H
#define HBPOOL_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

struct event_base;

typedef struct task task;
typedef void (*task_fn)(void *arg);

/* What a wait ended with. */
typedef enum task_wake_reason {
  TASK_READY,     /* the fd is ready */
  TASK_TIMEOUT,   /* the deadline passed */
  TASK_WOKEN,     /* task_wake (a park) */
  TASK_CANCELLED, /* task_cancel: the task must finish without waiting again */
} task_wake_reason;

#define TASK_READABLE 0x1
#define TASK_WRITABLE 0x2
#define TASK_NO_DEADLINE INT64_MAX

/* A task that will run fn(arg) on base's loop, starting in a later loop pass. Returns NULL with
 * err set when no stack could be had. */
task *task_new(struct event_base *base, task_fn fn, void *arg, hb_error *err);
/* Frees a task whose function has returned (or cancelled and finished). Loop stack only. */
void task_free(task *t);
bool task_finished(const task *t);

/* The task running now; NULL on the loop's own stack. */
task *task_self(void);

/* In a task: waits until fd is ready for what (TASK_READABLE, TASK_WRITABLE), or, with fd < 0,
 * until task_wake; in both cases at most until deadline_ms (clock_now_ms; TASK_NO_DEADLINE).
 * A cancelled task's waits return TASK_CANCELLED at once. */
task_wake_reason task_wait(int fd, int what, int64_t deadline_ms);
/* Ends the park (a wait without fd) of t in a later loop pass; a no-op otherwise. */
void task_wake(task *t);
/* Makes t's current and later waits return TASK_CANCELLED and runs it, now, until its
 * function returns. Loop stack only. */
void task_cancel(task *t);
bool task_is_cancelled(const task *t);

/* In a task that has run this long since the loop last resumed it, task_pause lets the loop
 * serve everyone else once before going on: long CPU work (decoding a huge reply) calls it
 * between pieces. Elsewhere both are no-ops. */
#define TASK_SLICE_MS 2
void task_pause(void);

/* In a task: lets the callbacks already made active (a pool's completions) run first, in this
 * same loop pass, before going on. Elsewhere a no-op. */
void task_yield(void);

/* In a task: runs fn(arg) on the tasks' helper thread while the task waits, and returns when it
 * is done: for CPU work too long to hold the loop with (rendering a huge reply). fn must touch
 * nothing the loop owns. Outside a task, or in a cancelled one, fn runs here and now. */
void task_run_off_loop(task_fn fn, void *arg);

#endif
