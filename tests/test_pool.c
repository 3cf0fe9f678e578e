/* Integration tests of the connection pool against a real gateway: completions on the loop
 * thread, queue limits, idle refresh, retry of reads on stale connections, and a gateway that
 * goes down and comes back. */
#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway_env.h"
#include "hbase_client.h"
#include "peer.h"
#include "pool.h"
#include "task.h"

static hbc_options g_gateway;
static int g_idle_timeout_ms; /* the gateway's own idle timeout */
static char g_table[64];
static struct event_base *base;
static pthread_t loop_thread;

/* One job of a test: what to do and what happened. */
typedef struct job_ctx {
  pool_job job;
  int sleep_ms;      /* work_sleep */
  const char *value; /* work_put */
  bool off_loop;     /* done ran on another thread than the loop's */
  int64_t submitted_ms, done_ms;
  bool finished;
  int *pending; /* the loop stops when it reaches 0 */
} job_ctx;

static hbc_bytes B(const char *s) {
  return hbc_str(s);
}

static int work_get(hbc_conn *c, pool_job *job) {
  hbc_bytes row = B("pool-row");
  hbc_result res = HBC_RESULT_INIT;
  int rc = hbc_get_rows(c, B(g_table), &row, 1, NULL, 0, HBC_LATEST, &res, &job->err);
  if (rc == 0 && (res.nrows != 1 || res.rows[0].ncells != 1))
    rc = hb_error_set(&job->err, HB_ERR_INVALID, "pool-row came back with the wrong cells");
  hbc_result_free(&res);
  return rc;
}

static int work_put(hbc_conn *c, pool_job *job) {
  job_ctx *x = job->ctx;
  hbc_mutation m = {.column = B("cf:q"), .value = B(x->value), .wal = true};
  hbc_row_mutations rm = {.row = B("pool-row"), .mutations = &m, .nmutations = 1};
  return hbc_mutate_rows(c, B(g_table), &rm, 1, HBC_LATEST, &job->err);
}

/* Holds a connection for a while, as a slow call would: the worker waits without holding
 * the loop, as it waits for a slow gateway. */
static int work_sleep(hbc_conn *c, pool_job *job) {
  (void)c;
  int64_t until = mono_ms() + ((job_ctx *)job->ctx)->sleep_ms;
  for (;;) {
    task_wake_reason r = task_wait(-1, 0, until);
    if (r == TASK_TIMEOUT)
      return 0;
    if (r == TASK_CANCELLED) /* as netio reports a wait the stopping pool cut off */
      return hb_error_set(&job->err, HB_ERR_TRANSPORT, "cut off: the pool is stopping");
  }
}

static void on_done(pool_job *job) {
  job_ctx *x = job->ctx;
  x->off_loop = !pthread_equal(pthread_self(), loop_thread);
  x->done_ms = mono_ms();
  x->finished = true;
  if (--*x->pending == 0)
    event_base_loopbreak(base);
}

static void init_job(job_ctx *x, pool_work_fn work, pool_retry retry, int *pending) {
  memset(x, 0, sizeof *x);
  x->job.work = work;
  x->job.done = on_done;
  x->job.ctx = x;
  x->job.retry = retry;
  x->pending = pending;
}

static int submit(pool *p, job_ctx *x) {
  hb_error err = HB_ERROR_INIT;
  x->submitted_ms = mono_ms();
  int rc = pool_submit(p, &x->job, &err);
  if (rc < 0) {
    x->job.err = err; /* refused: done will not run */
    (*x->pending)--;
  }
  return rc;
}

/* The janitor's part: expire waiting jobs every 20 ms. */
static void janitor(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  pool_expire(arg);
}

static void on_limit(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  (void)arg;
  event_base_loopbreak(base);
}

/* Runs the loop until limit passes or a callback breaks it. The limit is an event of its own,
 * freed on the way out: event_base_loopexit's timer outlives the run it was set for, and after a
 * long sleep (a wait for the gateway's idle timeout) it would end the next run at once. */
static void run_loop(struct timeval limit) {
  struct event *ev = evtimer_new(base, on_limit, NULL);
  evtimer_add(ev, &limit);
  event_base_dispatch(base);
  event_free(ev);
}

/* Runs the loop (the pool's workers) for ms. */
static void run_for(int ms) {
  run_loop((struct timeval){0, ms * 1000});
}

/* Runs the loop until every pending job is done (or 60 s pass). */
static void run_until_done(pool *p, int *pending) {
  struct event *tick = event_new(base, -1, EV_PERSIST, janitor, p);
  struct timeval every = {0, 20000};
  event_add(tick, &every);
  if (*pending > 0)
    run_loop((struct timeval){60, 0});
  event_free(tick);
  ck_assert_int_eq(*pending, 0);
}

static pool_options options(int size) {
  pool_options o = {
    .name = "test",
    .gateway = g_gateway,
    .size = size,
    .lazy_connect = false,
    .queue_timeout_ms = 5000,
    .max_queue = 1000,
    .idle_refresh_ms = 50000,
    .reconnect_min_ms = 100,
    .reconnect_max_ms = 1000,
  };
  return o;
}

static pool *new_pool(pool_options o) {
  hb_error err = HB_ERROR_INIT;
  pool *p = pool_new(base, &o, &err);
  ck_assert_msg(p != NULL, "pool_new: %s", err.message);
  return p;
}

static void setup(void) {
  base = event_base_new();
  loop_thread = pthread_self();
}

static void teardown(void) {
  event_base_free(base);
}

/* Runs one job to completion and returns its error code. */
static hb_errcode run_one(pool *p, pool_work_fn work, pool_retry retry, int *retries) {
  int pending = 1;
  job_ctx x;
  init_job(&x, work, retry, &pending);
  x.value = "v";
  submit(p, &x);
  run_until_done(p, &pending);
  ck_assert(!x.off_loop);
  if (retries != NULL)
    *retries = x.job.retries;
  hb_errcode code = x.job.err.code;
  hb_error_clear(&x.job.err);
  return code;
}

START_TEST(test_jobs_complete_on_the_loop_thread) {
  pool *p = new_pool(options(4));
  enum { N = 200 };
  job_ctx *x = calloc(N, sizeof *x);
  int pending = N;
  for (int i = 0; i < N; i++) {
    init_job(&x[i], i % 4 == 0 ? work_put : work_get,
             i % 4 ? POOL_RETRY_ON_STALE : POOL_RETRY_NEVER, &pending);
    x[i].value = "v";
    ck_assert_int_eq(submit(p, &x[i]), 0);
  }
  run_until_done(p, &pending);
  for (int i = 0; i < N; i++) {
    ck_assert_msg(x[i].job.err.code == HB_OK, "job %d: %s", i, x[i].job.err.message);
    ck_assert(!x[i].off_loop);
  }
  pool_stats st;
  pool_get_stats(p, &st);
  ck_assert_int_eq(st.size, 4);
  ck_assert_uint_eq(st.jobs, N);
  ck_assert_uint_eq(st.failed, 0);
  ck_assert_int_eq(st.waiting, 0);
  ck_assert(st.gateway_up);
  pool_free(p);
  free(x);
}
END_TEST

START_TEST(test_waiting_too_long_fails) {
  pool_options o = options(1);
  o.queue_timeout_ms = 200;
  pool *p = new_pool(o);
  int pending = 2;
  job_ctx slow, waiting;
  init_job(&slow, work_sleep, POOL_RETRY_NEVER, &pending);
  slow.sleep_ms = 1500;
  init_job(&waiting, work_get, POOL_RETRY_ON_STALE, &pending);
  submit(p, &slow);
  run_for(50); /* the worker has taken the slow job */
  submit(p, &waiting);
  run_until_done(p, &pending);
  ck_assert_int_eq(slow.job.err.code, HB_OK);
  ck_assert_int_eq(waiting.job.err.code, HB_ERR_QUEUE_TIMEOUT);
  int64_t waited = waiting.done_ms - waiting.submitted_ms;
  ck_assert_msg(waited >= 190 && waited < 700, "failed after %lld ms", (long long)waited);
  ck_assert(waiting.done_ms < slow.done_ms);
  hb_error_clear(&waiting.job.err);
  pool_free(p);
}
END_TEST

START_TEST(test_full_queue_refuses) {
  pool_options o = options(1);
  o.max_queue = 2;
  pool *p = new_pool(o);
  int pending = 4;
  job_ctx x[4];
  for (int i = 0; i < 4; i++) {
    init_job(&x[i], work_sleep, POOL_RETRY_NEVER, &pending);
    x[i].sleep_ms = i == 0 ? 500 : 10;
  }
  ck_assert_int_eq(submit(p, &x[0]), 0);
  run_for(50); /* the worker has taken x[0] */
  ck_assert_int_eq(submit(p, &x[1]), 0);
  ck_assert_int_eq(submit(p, &x[2]), 0);
  ck_assert_int_eq(submit(p, &x[3]), -1);
  ck_assert_int_eq(x[3].job.err.code, HB_ERR_OVERLOADED);
  hb_error_clear(&x[3].job.err);
  run_until_done(p, &pending);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(x[i].job.err.code, HB_OK);
  pool_free(p);
}
END_TEST

START_TEST(test_idle_connections_are_refreshed) {
  pool_options o = options(1);
  o.idle_refresh_ms = 300;
  pool *p = new_pool(o);
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_NEVER, NULL), HB_OK);
  sleep_ms(500);
  int retries = -1;
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_NEVER, &retries), HB_OK);
  ck_assert_int_eq(retries, 0);
  pool_stats st;
  pool_get_stats(p, &st);
  ck_assert_uint_eq(st.refreshes, 1);
  pool_free(p);
}
END_TEST

/* pool_free does not wait for a slow call: it cuts it off at once, fails what is queued as not
 * sent, and runs every done before it returns. */
START_TEST(test_free_cuts_calls_off_and_fails_the_queue) {
  pool *p = new_pool(options(1));
  int pending = 2;
  job_ctx slow, queued;
  init_job(&slow, work_sleep, POOL_RETRY_NEVER, &pending);
  slow.sleep_ms = 10000;
  init_job(&queued, work_get, POOL_RETRY_ON_STALE, &pending);
  submit(p, &slow);
  submit(p, &queued);
  run_for(100); /* the worker is in the slow call */
  ck_assert(!slow.finished);
  int64_t t0 = mono_ms();
  pool_free(p);
  int64_t took = mono_ms() - t0;
  ck_assert(slow.finished && queued.finished);
  ck_assert_int_eq(pending, 0);
  ck_assert_int_eq(slow.job.err.code, HB_ERR_TRANSPORT);
  ck_assert_int_eq(queued.job.err.code, HB_ERR_UNAVAILABLE);
  ck_assert_msg(strstr(queued.job.err.message, "shutting down") != NULL, "%s",
                queued.job.err.message);
  ck_assert_int_lt(took, 1000);
  hb_error_clear(&slow.job.err);
  hb_error_clear(&queued.job.err);
}
END_TEST

/* Without refresh, the gateway drops the idle socket: the pool sees that before sending and
 * reconnects, so neither a read nor a write fails, and nothing needs a retry. */
START_TEST(test_connection_closed_while_idle_is_replaced_before_use) {
  pool_options o = options(1);
  o.idle_refresh_ms = 3600 * 1000;
  pool *p = new_pool(o);
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_ON_STALE, NULL), HB_OK);
  sleep_ms(g_idle_timeout_ms + 1000);
  int retries = -1;
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_ON_STALE, &retries), HB_OK);
  ck_assert_int_eq(retries, 0);
  sleep_ms(g_idle_timeout_ms + 1000);
  ck_assert_int_eq(run_one(p, work_put, POOL_RETRY_NEVER, &retries), HB_OK);
  ck_assert_int_eq(retries, 0);
  pool_stats st;
  pool_get_stats(p, &st);
  ck_assert_uint_eq(st.retries, 0);
  ck_assert_uint_ge(st.reconnects, 2);
  pool_free(p);
}
END_TEST

/* The test proxy: relays between the pool and the gateway; when g_cut is set, it swallows the
 * next request it receives and closes that connection without a reply, as a gateway that died
 * just after reading a request would. */
static volatile int g_cut;

static void relay(int fd, void *arg) {
  (void)arg;
  int up = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_gateway.port)};
  inet_pton(AF_INET, g_gateway.host, &sa.sin_addr);
  if (connect(up, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(up);
    return;
  }
  struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = up, .events = POLLIN}};
  char buf[65536];
  for (;;) {
    if (poll(pfd, 2, -1) < 0)
      break;
    if (pfd[0].revents != 0) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0 || __atomic_exchange_n(&g_cut, 0, __ATOMIC_SEQ_CST) != 0 ||
          peer_write_all(up, buf, (size_t)n) < 0)
        break;
    }
    if (pfd[1].revents != 0) {
      ssize_t n = read(up, buf, sizeof buf);
      if (n <= 0 || peer_write_all(fd, buf, (size_t)n) < 0)
        break;
    }
  }
  close(up);
}

/* A connection that dies after the request was sent: a read is retried once on a fresh
 * connection, a write is not (it may have reached HBase), and the pool heals either way. */
START_TEST(test_call_cut_mid_way_read_retried_write_not) {
  peer *proxy = peer_start(relay, NULL);
  pool_options o = options(1);
  o.gateway.host = "127.0.0.1";
  o.gateway.port = peer_port(proxy);
  pool *p = new_pool(o);
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_ON_STALE, NULL), HB_OK);
  int retries = -1;
  g_cut = 1;
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_ON_STALE, &retries), HB_OK);
  ck_assert_int_eq(retries, 1);
  g_cut = 1;
  ck_assert_int_eq(run_one(p, work_put, POOL_RETRY_NEVER, &retries), HB_ERR_TRANSPORT);
  ck_assert_int_eq(retries, 0);
  ck_assert_int_eq(run_one(p, work_put, POOL_RETRY_NEVER, NULL), HB_OK);
  pool_stats st;
  pool_get_stats(p, &st);
  ck_assert_uint_eq(st.retries, 1);
  pool_free(p);
  peer_stop(proxy);
}
END_TEST

/* Polls with a read every 200 ms until one succeeds; returns how long that took. */
static int64_t wait_for_recovery(pool *p, int64_t limit_ms) {
  int64_t t0 = mono_ms();
  while (mono_ms() - t0 < limit_ms) {
    if (run_one(p, work_get, POOL_RETRY_ON_STALE, NULL) == HB_OK)
      return mono_ms() - t0;
    run_for(200); /* the pool's workers probe the gateway on the loop */
  }
  return -1;
}

START_TEST(test_gateway_down_fails_fast_and_recovers) {
  pool *p = new_pool(options(2));
  ck_assert_int_eq(run_one(p, work_get, POOL_RETRY_ON_STALE, NULL), HB_OK);
  const char *gw = gateway_env_name();
  int stop_rc = gateway_env_script("gateway-stop", gw);

  int64_t t0 = mono_ms();
  hb_errcode first = run_one(p, work_get, POOL_RETRY_ON_STALE, NULL);
  int64_t first_ms = mono_ms() - t0;
  /* The pool now knows: the next requests are refused at once. */
  int pending = 1;
  job_ctx x;
  init_job(&x, work_get, POOL_RETRY_ON_STALE, &pending);
  int64_t t1 = mono_ms();
  int refused = submit(p, &x);
  int64_t refuse_us = (mono_ms() - t1) * 1000;
  hb_errcode refused_code = x.job.err.code;
  hb_error_clear(&x.job.err);

  int start_rc = gateway_env_script("gateway-start", gw); /* before asserting: it must come back */
  int64_t recovered_ms = wait_for_recovery(p, 20000);
  pool_stats st;
  pool_get_stats(p, &st);
  pool_free(p);

  ck_assert_int_eq(stop_rc, 0);
  ck_assert_int_eq(start_rc, 0);
  ck_assert_msg(first == HB_ERR_UNAVAILABLE, "first request after the stop: %s",
                hb_errcode_name(first));
  ck_assert_int_lt(first_ms, 2000);
  ck_assert_int_eq(refused, -1);
  ck_assert_int_eq(refused_code, HB_ERR_UNAVAILABLE);
  ck_assert_int_lt(refuse_us, 50000);
  ck_assert_msg(recovered_ms >= 0, "no recovery within 20 s of the gateway's restart");
  ck_assert(st.gateway_up);
}
END_TEST

/* The table every job reads and writes; made outside any test, so errors are printed. */
static bool create_table(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&g_gateway, &err);
  hbc_family f;
  hbc_family_init(&f, B("cf"));
  hbc_mutation m = {.column = B("cf:q"), .value = B("v"), .wal = true};
  hbc_row_mutations rm = {.row = B("pool-row"), .mutations = &m, .nmutations = 1};
  bool ok = c != NULL && hbc_create_table(c, B(g_table), &f, 1, &err) == 0 &&
    hbc_mutate_rows(c, B(g_table), &rm, 1, HBC_LATEST, &err) == 0;
  if (!ok)
    fprintf(stderr, "test_pool: cannot prepare table %s: %s\n", g_table, err.message);
  hb_error_clear(&err);
  hbc_close(c);
  return ok;
}

static void drop_table(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&g_gateway, &err);
  if (c != NULL) {
    hbc_disable_table(c, B(g_table), &err);
    hbc_delete_table(c, B(g_table), &err);
    hbc_close(c);
  }
  hb_error_clear(&err);
}

static Suite *pool_suite(void) {
  Suite *s = suite_create("pool");
  TCase *tc = tcase_create("pool");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, test_jobs_complete_on_the_loop_thread);
  tcase_add_test(tc, test_waiting_too_long_fails);
  tcase_add_test(tc, test_full_queue_refuses);
  tcase_add_test(tc, test_free_cuts_calls_off_and_fails_the_queue);
  tcase_add_test(tc, test_idle_connections_are_refreshed);
  tcase_add_test(tc, test_connection_closed_while_idle_is_replaced_before_use);
  tcase_add_test(tc, test_call_cut_mid_way_read_retried_write_not);
  tcase_add_test(tc, test_gateway_down_fails_fast_and_recovers);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_pool"))
    return 2;
  g_gateway.call_timeout_ms = 30000;
  const char *idle = getenv("HBPOOL_TEST_IDLE_TIMEOUT_MS");
  g_idle_timeout_ms = idle != NULL && *idle != '\0' ? atoi(idle) : 60000; /* gateway default */
  evthread_use_pthreads();
  snprintf(g_table, sizeof g_table, "hbpool_pool_%d", (int)getpid());
  if (!create_table())
    return 1;
  SRunner *sr = srunner_create(pool_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  drop_table();
  return failed == 0 ? 0 : 1;
}
