/* task: coroutines on the loop thread (stacks switched from libevent callbacks). */
#include "task.h"

#include <assert.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/queue.h>
#include <unistd.h>

#include "clock.h"
#include "xmalloc.h"

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

/* ---------------------------------------------------------------------------------------------
 * Contexts. On x86-64 a switch saves the callee-saved registers and the FPU control words on the
 * stack it leaves and swaps stack pointers: no system call, unlike glibc's swapcontext (which
 * also saves the signal mask, and whose sanitizer interceptor rewrites shadow memory). Other
 * machines use ucontext. */

#if defined(__x86_64__)
typedef struct context {
  void *sp;
} context;

void hbpool_task_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl hbpool_task_switch\n"
        ".type hbpool_task_switch,@function\n"
        "hbpool_task_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size hbpool_task_switch, .-hbpool_task_switch\n");

static void context_switch(context *from, context *to) {
  hbpool_task_switch(&from->sp, to->sp);
}

/* A first switch to ctx "returns" into entry, with the stack aligned as after a call. */
static void context_init(context *ctx, void *stack, size_t size, void (*entry)(void)) {
  uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
  void **sp = (void **)top;
  *--sp = NULL;          /* entry's return address: it never returns */
  *--sp = (void *)entry; /* taken by the switch's ret */
  for (int i = 0; i < 6; i++)
    *--sp = NULL; /* rbp, rbx, r12-r15 */
  uint32_t mxcsr;
  uint16_t fpucw;
  __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
  __asm__ volatile("fnstcw %0" : "=m"(fpucw));
  *--sp = NULL;
  memcpy(sp, &mxcsr, sizeof mxcsr);
  memcpy((char *)sp + 4, &fpucw, sizeof fpucw);
  ctx->sp = sp;
}
#else
#include <ucontext.h>

typedef struct context {
  ucontext_t uc;
} context;

static void context_switch(context *from, context *to) {
  swapcontext(&from->uc, &to->uc);
}

/* getcontext returns twice as far as the compiler knows: keep what lives across it volatile. */
static void context_init(context *ctx, void *stack, size_t size, void (*entry)(void)) {
  ucontext_t *volatile c = &ctx->uc;
  getcontext(c);
  c->uc_stack.ss_sp = stack;
  c->uc_stack.ss_size = size;
  c->uc_link = NULL;
  makecontext(c, entry, 0);
}
#endif

struct task {
  struct event_base *base;
  struct event *ev;  /* what the task waits for: its fd, its deadline, a wake */
  context ctx, loop; /* the task's registers while it waits; the loop's while it runs */
  void *map;         /* stack mapping, its lowest page a guard */
  size_t map_size;
  task_fn fn;
  void *arg;
  bool waiting, parked, cancelled, finished;
  task_wake_reason reason;
  int64_t resumed_ms; /* when the loop last resumed it */
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
  t->resumed_ms = clock_now_ms();
#ifdef TASK_ASAN
  void *fake = NULL;
  __sanitizer_start_switch_fiber(&fake, stack_bottom(t), stack_size(t));
#endif
  context_switch(&t->loop, &t->ctx);
#ifdef TASK_ASAN
  __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
  current = NULL;
}

/* Task -> loop stack; returns when the loop resumes the task. */
static void yield(task *t) {
#ifdef TASK_ASAN
  __sanitizer_start_switch_fiber(t->finished ? NULL : &t->fake_stack, t->loop_bottom, t->loop_size);
#endif
  context_switch(&t->ctx, &t->loop);
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
  yield(t); /* a finished task is never resumed */
  abort();
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

/* Points the task's event at what it waits for next (fd -1: nothing but a wake or a timeout). */
static void rearm(task *t, int fd, short flags) {
  event_del(t->ev);
  event_assign(t->ev, t->base, fd, flags, on_event, t);
}

task *task_new(struct event_base *base, task_fn fn, void *arg, hb_error *err) {
  task *t = xcalloc(1, sizeof *t);
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
  context_init(&t->ctx, stack_bottom(t), stack_size(t), trampoline);
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
  rearm(t, fd >= 0 ? fd : -1, flags);
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

void task_pause(void) {
  task *t = current;
  if (t == NULL || t->cancelled || clock_now_ms() - t->resumed_ms < TASK_SLICE_MS)
    return;
  /* A zero timeout, not event_active: an event made active now would run again in this same
   * loop pass, before the loop has polled anyone's socket. */
  static const struct timeval now = {0, 0};
  rearm(t, -1, 0);
  t->waiting = true;
  event_add(t->ev, &now);
  yield(t);
  t->waiting = false;
}

void task_yield(void) {
  task *t = current;
  if (t == NULL || t->cancelled)
    return;
  /* Active events run in the order they were made active: those before this one go first. */
  rearm(t, -1, 0);
  t->waiting = true;
  event_active(t->ev, EV_TIMEOUT, 0);
  yield(t);
  t->waiting = false;
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

/* ---------------------------------------------------------------------------------------------
 * The helper thread: one for the process, started on first use, that runs tasks' long CPU work.
 * It wakes a task with event_active on the task's own event, which evthread makes safe from
 * another thread; the task readies that event before it hands the work over, so the wake-up
 * cannot come before the task is waiting for it. */

typedef struct offload {
  task_fn fn;
  void *arg;
  task *task;
  bool finished; /* under helper.lock */
  TAILQ_ENTRY(offload) link;
} offload;

static struct {
  pthread_once_t once;
  pthread_mutex_t lock;
  pthread_cond_t work, finished;
  TAILQ_HEAD(, offload) queue;
  bool started;
} helper = {.once = PTHREAD_ONCE_INIT,
            .lock = PTHREAD_MUTEX_INITIALIZER,
            .work = PTHREAD_COND_INITIALIZER,
            .finished = PTHREAD_COND_INITIALIZER};

static void *helper_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&helper.lock);
  for (;;) {
    offload *o = TAILQ_FIRST(&helper.queue);
    if (o == NULL) {
      pthread_cond_wait(&helper.work, &helper.lock);
      continue;
    }
    TAILQ_REMOVE(&helper.queue, o, link);
    pthread_mutex_unlock(&helper.lock);
    o->fn(o->arg);
    pthread_mutex_lock(&helper.lock);
    o->finished = true;
    event_active(o->task->ev, EV_READ, 0);
    pthread_cond_broadcast(&helper.finished);
  }
  return NULL;
}

static void helper_start(void) {
  TAILQ_INIT(&helper.queue);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  helper.started = pthread_create(&thread, &attr, helper_main, NULL) == 0;
  pthread_attr_destroy(&attr);
}

static bool offload_finished(offload *o) {
  pthread_mutex_lock(&helper.lock);
  bool done = o->finished;
  pthread_mutex_unlock(&helper.lock);
  return done;
}

void task_run_off_loop(task_fn fn, void *arg) {
  task *t = current;
  pthread_once(&helper.once, helper_start);
  if (t == NULL || t->cancelled || !helper.started) {
    fn(arg);
    return;
  }
  offload o = {.fn = fn, .arg = arg, .task = t};
  rearm(t, -1, 0);
  t->waiting = t->parked = true;
  pthread_mutex_lock(&helper.lock);
  TAILQ_INSERT_TAIL(&helper.queue, &o, link);
  pthread_cond_signal(&helper.work);
  pthread_mutex_unlock(&helper.lock);
  while (!t->cancelled && !offload_finished(&o))
    yield(t); /* a stray task_wake resumes us early: wait on */
  t->waiting = t->parked = false;
  /* Cancelled (the daemon is stopping): o lives on this stack, so wait for the helper here. */
  pthread_mutex_lock(&helper.lock);
  while (!o.finished)
    pthread_cond_wait(&helper.finished, &helper.lock);
  pthread_mutex_unlock(&helper.lock);
}
