/* task: coroutines on the loop thread (ucontext stacks switched from libevent callbacks). */
#include "task.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "clock.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#include <sanitizer/common_interface_defs.h>
#define TASK_ASAN 1
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define TASK_VALGRIND 1
#endif
#endif

/* Room for GLib's and the generated Thrift code's frames, jansson's rendering and sanitizer
 * redzones; only the pages a task touches become resident. */
#define TASK_STACK_SIZE (1024 * 1024)

struct task {
  struct event_base *base;
  struct event *ev;        /* what the task waits for: its fd, its deadline, a wake */
  ucontext_t ctx, loop;    /* the task's registers while it waits; the loop's while it runs */
  void *map;               /* stack mapping, its lowest page a guard */
  size_t map_size;
  task_fn fn;
  void *arg;
  bool waiting, parked, cancelled, finished;
  task_wake_reason reason;
#ifdef TASK_ASAN
  void *fake_stack;
  const void *loop_bottom;
  size_t loop_size;
#endif
#ifdef TASK_VALGRIND
  unsigned vg_stack;
#endif
};

static __thread task *current;

task *task_self(void) {
  return current;
}

/* ---------------------------------------------------------------------------------------------
 * Switching stacks. The sanitizer calls tell ASan which stack is live, so that it neither
 * reports the other one's frames nor loses its fake frames. */

static void *stack_bottom(const task *t) {
  return (char *)t->map + getpagesize();
}

static size_t stack_size(const task *t) {
  return t->map_size - (size_t)getpagesize();
}

/* Loop stack -> task, until the task waits or returns. */
static void resume(task *t) {
  assert(current == NULL);
  current = t;
#ifdef TASK_ASAN
  void *fake = NULL;
  __sanitizer_start_switch_fiber(&fake, stack_bottom(t), stack_size(t));
#endif
  swapcontext(&t->loop, &t->ctx);
#ifdef TASK_ASAN
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
  current = NULL;
}

/* Task -> loop stack; returns when the loop resumes the task. */
static void yield(task *t) {
#ifdef TASK_ASAN
  __sanitizer_start_switch_fiber(t->finished ? NULL : &t->fake_stack, t->loop_bottom,
                                 t->loop_size);
#endif
  swapcontext(&t->ctx, &t->loop);
#ifdef TASK_ASAN
  __sanitizer_finish_switch_fiber(t->fake_stack, &t->loop_bottom, &t->loop_size);
#endif
}

static void trampoline(void) {
  task *t = current;
#ifdef TASK_ASAN
  __sanitizer_finish_switch_fiber(NULL, &t->loop_bottom, &t->loop_size);
#endif
  t->fn(t->arg);
  t->finished = true;
  yield(t); /* never returns: a finished task is not resumed */
}

/* ---------------------------------------------------------------------------------------------
 * Waiting. */

static void on_event(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  task *t = arg;
  if (!t->waiting || t->finished)
    return;
  if (what & EV_TIMEOUT)
    t->reason = TASK_TIMEOUT;
  else
    t->reason = t->parked ? TASK_WOKEN : TASK_READY;
  resume(t);
}

/* getcontext returns twice as far as the compiler knows: keep what lives across it volatile. */
static void init_context(ucontext_t *ctx, void *stack, size_t size) {
  ucontext_t *volatile c = ctx;
  getcontext(c);
  c->uc_stack.ss_sp = stack;
  c->uc_stack.ss_size = size;
  c->uc_link = NULL;
  makecontext(c, trampoline, 0);
}

task *task_new(struct event_base *base, task_fn fn, void *arg, hb_error *err) {
  task *t = calloc(1, sizeof *t);
  if (t == NULL)
    return hb_error_set(err, HB_ERR_TRANSPORT, "out of memory for a task"), NULL;
  t->map_size = TASK_STACK_SIZE + (size_t)getpagesize();
  t->map = mmap(NULL, t->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                -1, 0);
  if (t->map == MAP_FAILED) {
    free(t);
    return hb_error_set(err, HB_ERR_TRANSPORT, "cannot map a task stack"), NULL;
  }
  mprotect(t->map, (size_t)getpagesize(), PROT_NONE); /* an overflow faults, not corrupts */
  t->base = base;
  t->fn = fn;
  t->arg = arg;
  t->ev = event_new(base, -1, 0, on_event, t);
  init_context(&t->ctx, stack_bottom(t), stack_size(t));
#ifdef TASK_VALGRIND
  t->vg_stack = VALGRIND_STACK_REGISTER(stack_bottom(t), (char *)t->map + t->map_size);
#endif
  /* Started like a park that was woken: in the next loop pass. */
  t->waiting = t->parked = true;
  event_active(t->ev, EV_READ, 0);
  return t;
}

void task_free(task *t) {
  if (t == NULL)
    return;
  assert(current != t);
  event_free(t->ev);
#ifdef TASK_VALGRIND
  VALGRIND_STACK_DEREGISTER(t->vg_stack);
#endif
  munmap(t->map, t->map_size);
  free(t);
}

bool task_finished(const task *t) {
  return t->finished;
}

bool task_is_cancelled(const task *t) {
  return t->cancelled;
}

task_wake_reason task_wait(int fd, int what, int64_t deadline_ms) {
  task *t = current;
  assert(t != NULL);
  if (t->cancelled)
    return TASK_CANCELLED;
  int64_t now = clock_now_ms();
  if (deadline_ms != TASK_NO_DEADLINE && deadline_ms <= now)
    return TASK_TIMEOUT;
  short flags = 0;
  if (fd >= 0)
    flags = (short)((what & TASK_READABLE ? EV_READ : 0) | (what & TASK_WRITABLE ? EV_WRITE : 0));
  event_del(t->ev);
  event_assign(t->ev, t->base, fd >= 0 ? fd : -1, flags, on_event, t);
  if (deadline_ms != TASK_NO_DEADLINE) {
    int64_t left = deadline_ms - now;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
    event_add(t->ev, &tv);
  } else if (fd >= 0) {
    event_add(t->ev, NULL);
  }
  t->parked = fd < 0;
  t->waiting = true;
  yield(t);
  t->waiting = t->parked = false;
  return t->reason;
}

void task_wake(task *t) {
  if (t->waiting && t->parked && !t->cancelled)
    event_active(t->ev, EV_READ, 0);
}

void task_cancel(task *t) {
  assert(current == NULL);
  t->cancelled = true;
  if (t->finished || !t->waiting)
    return;
  event_del(t->ev);
  t->reason = TASK_CANCELLED;
  resume(t);
}
