/* Unit tests of tasks (coroutines on the loop): waits on sockets, deadlines, parks and wakes,
 * cancellation, slices, work handed to the helper thread, and many tasks whose locals survive
 * every switch. No HBase needed. */
#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "task.h"

static struct event_base *base;
static pthread_t loop_thread;

static void setup(void) {
  base = event_base_new();
  loop_thread = pthread_self();
}

static void teardown(void) {
  event_base_free(base);
}

static task *start(task_fn fn, void *arg) {
  hb_error err = HB_ERROR_INIT;
  task *t = task_new(base, fn, arg, &err);
  ck_assert_msg(t != NULL, "task_new: %s", err.message);
  return t;
}

/* Runs the loop until t has finished, at most 10 s. */
static void run_until_finished(task *t) {
  int64_t limit = clock_now_ms() + 10000;
  while (!task_finished(t) && clock_now_ms() < limit)
    event_base_loop(base, EVLOOP_ONCE);
  ck_assert(task_finished(t));
}

/* A loop event that counts its runs: proof that the loop ran while a task waited. */
typedef struct ticker {
  struct event *ev;
  int ticks;
  int fd; /* >= 0: the first tick writes a byte to it */
} ticker;

static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ticker *k = arg;
  if (k->ticks++ == 0 && k->fd >= 0)
    ck_assert_int_eq(write(k->fd, "x", 1), 1);
}

static void ticker_start(ticker *k, int every_ms, int fd) {
  k->ticks = 0;
  k->fd = fd;
  k->ev = event_new(base, -1, EV_PERSIST, on_tick, k);
  struct timeval tv = {0, every_ms * 1000};
  event_add(k->ev, &tv);
}

static void ticker_stop(ticker *k) {
  event_free(k->ev);
}

/* ------------------------------------------------------------------------------------------- */

typedef struct wait_case {
  int fd;
  int64_t deadline_ms;
  task_wake_reason reason;
  bool on_loop_thread;
  char got;
  int64_t waited_ms;
} wait_case;

static void wait_readable(void *arg) {
  wait_case *c = arg;
  c->on_loop_thread = pthread_equal(pthread_self(), loop_thread);
  int64_t t0 = clock_now_ms();
  c->reason = task_wait(c->fd, TASK_READABLE, c->deadline_ms);
  c->waited_ms = clock_now_ms() - t0;
  if (c->reason == TASK_READY)
    ck_assert_int_eq(read(c->fd, &c->got, 1), 1);
}

START_TEST(test_wait_yields_until_the_socket_is_ready) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  wait_case c = {.fd = sv[0], .deadline_ms = TASK_NO_DEADLINE};
  ticker k;
  ticker_start(&k, 20, sv[1]); /* the loop's first tick makes the socket readable */
  task *t = start(wait_readable, &c);
  ck_assert(task_self() == NULL);
  run_until_finished(t);
  ck_assert_int_eq(c.reason, TASK_READY);
  ck_assert_int_eq(c.got, 'x');
  ck_assert(c.on_loop_thread);
  ck_assert_int_ge(k.ticks, 1);
  ticker_stop(&k);
  task_free(t);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

START_TEST(test_wait_ends_at_its_deadline) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  wait_case c = {.fd = sv[0], .deadline_ms = clock_now_ms() + 80};
  task *t = start(wait_readable, &c);
  run_until_finished(t);
  ck_assert_int_eq(c.reason, TASK_TIMEOUT);
  ck_assert_int_ge(c.waited_ms, 70);
  ck_assert_int_lt(c.waited_ms, 2000);
  task_free(t);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */

typedef struct park_case {
  int first, second; /* task_wake_reason, or -1 while still waiting */
} park_case;

static void park_twice(void *arg) {
  park_case *c = arg;
  c->first = task_wait(-1, 0, TASK_NO_DEADLINE);
  c->second = task_wait(-1, 0, clock_now_ms() + 50);
}

START_TEST(test_park_ends_on_wake_or_deadline) {
  park_case c = {.first = -1, .second = -1};
  task *t = start(park_twice, &c);
  event_base_loop(base, EVLOOP_NONBLOCK); /* it starts and parks */
  event_base_loop(base, EVLOOP_NONBLOCK);
  ck_assert(!task_finished(t));
  ck_assert_int_eq(c.first, -1);
  task_wake(t);
  run_until_finished(t);
  ck_assert_int_eq(c.first, TASK_WOKEN);
  ck_assert_int_eq(c.second, TASK_TIMEOUT);
  task_free(t);
}
END_TEST

/* A wake is for a park: a task waiting for its socket goes on waiting. */
START_TEST(test_wake_does_not_end_a_socket_wait) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  wait_case c = {.fd = sv[0], .deadline_ms = clock_now_ms() + 150};
  task *t = start(wait_readable, &c);
  event_base_loop(base, EVLOOP_NONBLOCK);
  task_wake(t);
  run_until_finished(t);
  ck_assert_int_eq(c.reason, TASK_TIMEOUT);
  ck_assert_int_ge(c.waited_ms, 140);
  task_free(t);
  close(sv[0]);
  close(sv[1]);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */

typedef struct cancel_case {
  task_wake_reason first, again;
  bool returned;
} cancel_case;

static void wait_then_again(void *arg) {
  cancel_case *c = arg;
  c->first = task_wait(-1, 0, TASK_NO_DEADLINE);
  c->again = task_wait(-1, 0, TASK_NO_DEADLINE);
  c->returned = true;
}

START_TEST(test_cancel_ends_every_wait_and_runs_the_task_out) {
  cancel_case c = {.first = -1, .again = -1};
  task *t = start(wait_then_again, &c);
  event_base_loop(base, EVLOOP_NONBLOCK);
  ck_assert(!task_finished(t));
  task_cancel(t);
  ck_assert(task_finished(t)); /* within task_cancel, without the loop */
  ck_assert(task_is_cancelled(t));
  ck_assert_int_eq(c.first, TASK_CANCELLED);
  ck_assert_int_eq(c.again, TASK_CANCELLED);
  ck_assert(c.returned);
  task_free(t);
}
END_TEST

/* A task cancelled before it ever ran still runs, and finds its waits cancelled. */
START_TEST(test_cancel_before_start) {
  cancel_case c = {.first = -1, .again = -1};
  task *t = start(wait_then_again, &c);
  task_cancel(t);
  ck_assert(task_finished(t));
  ck_assert_int_eq(c.first, TASK_CANCELLED);
  task_free(t);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */

typedef struct offload_case {
  pthread_t ran_on;
  int sleep_ms;
  int ticks_before, ticks_after;
  ticker *k;
} offload_case;

static void slow_work(void *arg) {
  offload_case *c = arg;
  c->ran_on = pthread_self();
  usleep((useconds_t)c->sleep_ms * 1000);
}

static void hand_over(void *arg) {
  offload_case *c = arg;
  c->ticks_before = c->k->ticks;
  task_run_off_loop(slow_work, c);
  c->ticks_after = c->k->ticks;
}

START_TEST(test_work_off_loop_runs_on_the_helper_while_the_loop_serves) {
  ticker k;
  ticker_start(&k, 5, -1);
  offload_case c = {.sleep_ms = 200, .k = &k};
  task *t = start(hand_over, &c);
  run_until_finished(t);
  ck_assert(!pthread_equal(c.ran_on, loop_thread));
  /* The loop ticked every 5 ms during the 200 ms of work: far more than a few times. */
  ck_assert_int_ge(c.ticks_after - c.ticks_before, 10);
  ticker_stop(&k);
  task_free(t);
}
END_TEST

/* Outside a task, the work simply runs where it is called. */
START_TEST(test_work_off_loop_outside_a_task_runs_here) {
  offload_case c = {.sleep_ms = 1};
  task_run_off_loop(slow_work, &c);
  ck_assert(pthread_equal(c.ran_on, loop_thread));
}
END_TEST

/* ------------------------------------------------------------------------------------------- */

typedef struct pause_case {
  ticker *k;
  int ticks_seen;
} pause_case;

static void busy_with_pauses(void *arg) {
  pause_case *c = arg;
  int64_t until = clock_now_ms() + 60;
  while (clock_now_ms() < until)
    task_pause();
  c->ticks_seen = c->k->ticks;
}

START_TEST(test_pause_lets_the_loop_run_during_long_work) {
  ticker k;
  ticker_start(&k, 1, -1);
  pause_case c = {.k = &k};
  task *t = start(busy_with_pauses, &c);
  run_until_finished(t);
  /* 60 ms in slices of TASK_SLICE_MS: the loop ran between them. */
  ck_assert_int_ge(c.ticks_seen, 5);
  ticker_stop(&k);
  task_free(t);
}
END_TEST

/* ------------------------------------------------------------------------------------------- */

/* Many tasks, each echoing over its own socket pair, with locals (integer and floating point)
 * that must survive every switch. */
enum { MANY = 64, ROUNDS = 50 };

typedef struct echo_case {
  int fd;
  int index;
  bool ok;
} echo_case;

static void echo_rounds(void *arg) {
  echo_case *c = arg;
  uint64_t sum = (uint64_t)c->index * 1000003u;
  double x = c->index + 0.5;
  char buf[256];
  memset(buf, c->index, sizeof buf);
  for (int r = 0; r < ROUNDS; r++) {
    if (task_wait(c->fd, TASK_READABLE, clock_now_ms() + 5000) != TASK_READY)
      return;
    char b;
    if (read(c->fd, &b, 1) != 1 || write(c->fd, &b, 1) != 1)
      return;
    sum = sum * 31 + (uint64_t)r;
    x = x * 1.0001 + r;
  }
  uint64_t want = (uint64_t)c->index * 1000003u;
  double wx = c->index + 0.5;
  for (int r = 0; r < ROUNDS; r++) {
    want = want * 31 + (uint64_t)r;
    wx = wx * 1.0001 + r;
  }
  bool same_buf = true;
  for (size_t i = 0; i < sizeof buf; i++)
    same_buf = same_buf && buf[i] == (char)c->index;
  c->ok = sum == want && x == wx && same_buf;
}

/* The loop's side of the echo: a byte to every task, then each answer read back. */
typedef struct driver {
  int fds[MANY];
  int round, answered;
  struct event *evs[MANY];
} driver;

static void on_answer(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  driver *d = arg;
  char b;
  if (read(fd, &b, 1) == 1)
    d->answered++;
}

START_TEST(test_many_tasks_keep_their_locals) {
  echo_case cases[MANY];
  task *tasks[MANY];
  driver d = {0};
  for (int i = 0; i < MANY; i++) {
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cases[i] = (echo_case){.fd = sv[0], .index = i};
    d.fds[i] = sv[1];
    d.evs[i] = event_new(base, sv[1], EV_READ | EV_PERSIST, on_answer, &d);
    event_add(d.evs[i], NULL);
    tasks[i] = start(echo_rounds, &cases[i]);
  }
  int64_t limit = clock_now_ms() + 20000;
  for (int r = 0; r < ROUNDS && clock_now_ms() < limit; r++) {
    for (int i = 0; i < MANY; i++)
      ck_assert_int_eq(write(d.fds[i], "p", 1), 1);
    while (d.answered < (r + 1) * MANY && clock_now_ms() < limit)
      event_base_loop(base, EVLOOP_ONCE);
  }
  for (int i = 0; i < MANY; i++) {
    run_until_finished(tasks[i]);
    ck_assert_msg(cases[i].ok, "task %d lost its locals", i);
    task_free(tasks[i]);
    event_free(d.evs[i]);
    close(cases[i].fd);
    close(d.fds[i]);
  }
  ck_assert_int_eq(d.answered, ROUNDS * MANY);
}
END_TEST

static Suite *task_suite(void) {
  Suite *s = suite_create("task");
  TCase *tc = tcase_create("task");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_wait_yields_until_the_socket_is_ready);
  tcase_add_test(tc, test_wait_ends_at_its_deadline);
  tcase_add_test(tc, test_park_ends_on_wake_or_deadline);
  tcase_add_test(tc, test_wake_does_not_end_a_socket_wait);
  tcase_add_test(tc, test_cancel_ends_every_wait_and_runs_the_task_out);
  tcase_add_test(tc, test_cancel_before_start);
  tcase_add_test(tc, test_work_off_loop_runs_on_the_helper_while_the_loop_serves);
  tcase_add_test(tc, test_work_off_loop_outside_a_task_runs_here);
  tcase_add_test(tc, test_pause_lets_the_loop_run_during_long_work);
  tcase_add_test(tc, test_many_tasks_keep_their_locals);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  evthread_use_pthreads(); /* the helper thread wakes tasks with event_active */
  SRunner *sr = srunner_create(task_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
