/* End-to-end fault tests of hbpoold on a gateway of their own, stopped and started again while
 * clients write continuously and while the pool is idle: no request hangs, failures carry the
 * documented codes, the daemon recovers by itself, and every acknowledged write is in HBase. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

#define POOL_SIZE 4
#define CONNECT_MS 1000
#define REQUEST_MS 5000
#define QUEUE_MS 1000
/* The longest a request may take: a wait for a connection, then a connect and a call, twice for
 * a read retried on a fresh connection, and slack for a loaded machine. */
#define REPLY_BOUND_MS (QUEUE_MS + 2 * (CONNECT_MS + REQUEST_MS) + 3000)
#define RECOVERY_BOUND_MS 15000 /* from the gateway's restart to the first success */
#define OUTAGE_MS 3000
#define WRITERS 6
#define DEPTH 2 /* requests outstanding per writer */

static hbc_options g_gateway; /* the gateway these tests stop and start */
static char g_gateway_name[32];
static dh_daemon g_d;
static const char *g_table = "t";

/* ---------------------------------------------------------------------------------------------
 * The load: writers on a thread of their own, recording every request. */

typedef struct rec {
  int64_t sent_ms, done_ms; /* done_ms 0: no reply */
  int writer, row;
  bool write; /* a put of a new row; else a read of an acknowledged one */
  bool ok;
  int code; /* the error's */
  bool retryable;
} rec;

typedef struct writer {
  dh_conn *conn;
  int next_row;
  json_int_t next_id;
  int nout;
  json_int_t out_id[DEPTH];
  size_t out_rec[DEPTH];
  int *acked; /* rows whose put got a result */
  size_t nacked, acked_cap;
  bool dead;         /* the daemon closed the connection */
  int64_t resume_ms; /* after a failure, a pause before the next request, as clients do */
} writer;

typedef struct load {
  writer w[WRITERS];
  rec *recs;
  size_t nrecs, cap;
  atomic_bool stop;
  atomic_llong last_ok_sent_ms; /* when the latest request that succeeded was sent */
  char problem[512];            /* the first protocol problem seen, if any */
  int problems;
  pthread_t thread;
} load;

static void value_of(char *out, size_t n, int w, int row) {
  snprintf(out, n, "written by %d as %d", w, row);
}

static void key_of(char *out, size_t n, int w, int row) {
  snprintf(out, n, "w%d-%06d", w, row);
}

/* Records a problem without a Check assertion: this runs off the test's thread. */
static void trouble(load *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trouble(load *l, const char *fmt, ...) {
  if (l->problems++ > 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->problem, sizeof l->problem, fmt, ap);
  va_end(ap);
}

static size_t new_rec(load *l, int w, int row, bool write) {
  if (l->nrecs == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 4096;
    l->recs = realloc(l->recs, l->cap * sizeof *l->recs);
  }
  l->recs[l->nrecs] = (rec){.sent_ms = mono_ms(), .writer = w, .row = row, .write = write};
  return l->nrecs++;
}

/* A put of the writer's next row, or (one in four) a read of a row it wrote. */
static void send_one(load *l, int i) {
  writer *w = &l->w[i];
  char key[32], value[64];
  bool write = w->nacked == 0 || w->next_id % 4 != 0;
  int row = write ? w->next_row++ : w->acked[(size_t)w->next_id % w->nacked];
  key_of(key, sizeof key, i, row);
  value_of(value, sizeof value, i, row);
  json_t *params = write
    ? json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", key, "data", "cf:a", value)
    : json_pack("{s:s,s:s}", "table", g_table, "row", key);
  json_int_t id = ++w->next_id;
  char *line = dh_request(json_integer(id), write ? "put" : "row", params);
  w->out_id[w->nout] = id;
  w->out_rec[w->nout++] = new_rec(l, i, row, write);
  if (dh_write(w->conn, line, strlen(line)) < 0)
    trouble(l, "writer %d: send failed: %s", i, strerror(errno));
  free(line);
}

/* Checks one reply and settles its request. */
static void take_reply(load *l, int i, const char *line) {
  writer *w = &l->w[i];
  json_error_t je;
  json_t *r = json_loads(line, 0, &je);
  json_int_t id = json_integer_value(json_object_get(r, "id"));
  int slot = -1;
  for (int k = 0; k < w->nout; k++)
    slot = w->out_id[k] == id ? k : slot;
  if (r == NULL || slot < 0) {
    trouble(l, "writer %d: a reply to nothing outstanding: %.200s", i, line);
    json_decref(r);
    return;
  }
  rec *q = &l->recs[w->out_rec[slot]];
  w->out_id[slot] = w->out_id[--w->nout];
  w->out_rec[slot] = w->out_rec[w->nout];
  q->done_ms = mono_ms();
  json_t *err = json_object_get(r, "error"), *result = json_object_get(r, "result");
  q->ok = err == NULL && result != NULL;
  q->code = (int)json_integer_value(json_object_get(err, "code"));
  q->retryable = json_is_true(json_object_get(json_object_get(err, "data"), "retryable"));
  char value[64];
  value_of(value, sizeof value, i, q->row);
  json_t *want = q->write ? json_null() : json_pack("{s:s}", "cf:a", value);
  if (q->ok && !json_equal(result, want))
    trouble(l, "writer %d: wrong result: %.200s", i, line);
  json_decref(want);
  if (q->ok && q->write) {
    if (w->nacked == w->acked_cap) {
      w->acked_cap = w->acked_cap ? 2 * w->acked_cap : 1024;
      w->acked = realloc(w->acked, w->acked_cap * sizeof *w->acked);
    }
    w->acked[w->nacked++] = q->row;
  }
  if (q->ok)
    atomic_store(&l->last_ok_sent_ms, q->sent_ms);
  else
    w->resume_ms = q->done_ms + 10;
  json_decref(r);
}

static void read_writer(load *l, int i) {
  writer *w = &l->w[i];
  ssize_t n = dh_fill(w->conn);
  if (n == 0 || (n < 0 && errno != EAGAIN)) {
    trouble(l, "writer %d: the daemon closed the connection", i);
    w->dead = true; /* its requests stay without reply: counted as hung */
    w->nout = 0;
    return;
  }
  char *line;
  while ((line = dh_take_line(w->conn)) != NULL) {
    take_reply(l, i, line);
    free(line);
  }
}

/* Writes until told to stop, then waits for the outstanding replies (at most REPLY_BOUND_MS). */
static void *run_load(void *arg) {
  load *l = arg;
  int64_t stopped_at = 0;
  for (;;) {
    bool stop = atomic_load(&l->stop);
    stopped_at = stop && stopped_at == 0 ? mono_ms() : stopped_at;
    struct pollfd pf[WRITERS];
    int outstanding = 0;
    for (int i = 0; i < WRITERS; i++) {
      while (!stop && !l->w[i].dead && l->w[i].nout < DEPTH && mono_ms() >= l->w[i].resume_ms)
        send_one(l, i);
      outstanding += l->w[i].nout;
      pf[i] = (struct pollfd){.fd = l->w[i].dead ? -1 : l->w[i].conn->fd, .events = POLLIN};
    }
    if (stop && (outstanding == 0 || mono_ms() - stopped_at > REPLY_BOUND_MS))
      return NULL;
    if (poll(pf, WRITERS, 5) < 0 && errno != EINTR)
      trouble(l, "poll: %s", strerror(errno));
    for (int i = 0; i < WRITERS; i++) {
      if (pf[i].revents != 0)
        read_writer(l, i);
    }
  }
}

static load *load_start(void) {
  load *l = calloc(1, sizeof *l);
  for (int i = 0; i < WRITERS; i++)
    l->w[i].conn = dh_connect(&g_d);
  atomic_init(&l->stop, false);
  atomic_init(&l->last_ok_sent_ms, 0);
  ck_assert_int_eq(pthread_create(&l->thread, NULL, run_load, l), 0);
  return l;
}

static void load_stop(load *l) {
  atomic_store(&l->stop, true);
  pthread_join(l->thread, NULL);
}

static void load_free(load *l) {
  for (int i = 0; i < WRITERS; i++) {
    dh_close(l->w[i].conn);
    free(l->w[i].acked);
  }
  free(l->recs);
  free(l);
}

/* Waits until a request sent at or after since_ms has succeeded; false after limit_ms. */
static bool wait_for_success(load *l, int64_t since_ms, int limit_ms) {
  int64_t deadline = mono_ms() + limit_ms;
  while (atomic_load(&l->last_ok_sent_ms) < since_ms) {
    if (mono_ms() > deadline)
      return false;
    sleep_ms(20);
  }
  return true;
}

/* ---------------------------------------------------------------------------------------------
 * Checking the record. */

/* The moments of the outage, on the test's clock. */
typedef struct outage {
  int64_t stop_ms, down_ms; /* gateway-stop called; returned (the port is closed) */
  int64_t start_ms, up_ms;  /* gateway-start called; returned (the gateway answers) */
} outage;

static bool documented_failure(int code) {
  return code == -32004 || code == -32005 || code == -32006 || code == -32010;
}

/* Every request was answered within REPLY_BOUND_MS, with a result or a documented failure whose
 * "retryable" is as docs/protocol.md says: true when nothing was sent, else only for reads. */
static void check_replies(const load *l) {
  ck_assert_msg(l->problems == 0, "%d protocol problems, the first: %s", l->problems, l->problem);
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    ck_assert_msg(q->done_ms != 0, "request %zu (writer %d row %d) was never answered", i,
                  q->writer, q->row);
    ck_assert_msg(q->done_ms - q->sent_ms <= REPLY_BOUND_MS, "request %zu took %lld ms", i,
                  (long long)(q->done_ms - q->sent_ms));
    ck_assert_msg(q->ok || documented_failure(q->code), "request %zu failed with %d", i, q->code);
    /* Nothing sent: retryable. Maybe applied (a timeout, a broken connection): only reads are. */
    bool sent = q->code == -32006 || q->code == -32010;
    if (!q->ok)
      ck_assert_msg(q->retryable == (!sent || !q->write),
                    "request %zu (a %s) failed with %d, "
                    "retryable %d",
                    i, q->write ? "put" : "read", q->code, q->retryable);
  }
}

/* The number of failures among requests sent in [from_ms, to_ms) and answered before
 * done_before_ms; the number of such requests in *n. */
static int failures_between(const load *l, int64_t from_ms, int64_t to_ms, int64_t done_before_ms,
                            int *n) {
  int failed = 0;
  *n = 0;
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->sent_ms < from_ms || q->sent_ms >= to_ms || q->done_ms >= done_before_ms)
      continue;
    (*n)++;
    failed += !q->ok;
  }
  return failed;
}

/* The first success among requests sent at or after since_ms: when it was answered, or -1. */
static int64_t first_success_done(const load *l, int64_t since_ms) {
  int64_t first = -1;
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->ok && q->sent_ms >= since_ms && (first < 0 || q->done_ms < first))
      first = q->done_ms;
  }
  return first;
}

/* How the requests ended, for the log. */
static void print_codes(const load *l) {
  static const int codes[] = {-32004, -32005, -32006, -32010};
  int n[4] = {0}, ok = 0;
  for (size_t i = 0; i < l->nrecs; i++) {
    for (int k = 0; k < 4; k++)
      n[k] += l->recs[i].code == codes[k];
    ok += l->recs[i].ok;
  }
  printf("test_daemon_faults: %zu requests: %d succeeded; failed with -32004: %d, -32005: %d, "
         "-32006: %d, -32010: %d\n",
         l->nrecs, ok, n[0], n[1], n[2], n[3]);
}

/* Every row of the table, as {key: value}, following "next" from page to page. */
static json_t *all_rows(void) {
  json_t *rows = json_object();
  json_t *params = json_pack("{s:s}", "table", g_table);
  while (params != NULL) {
    json_t *res = dh_ok(&g_d, "scan", params);
    json_t *page = json_object_get(res, "rows");
    for (size_t i = 0; i < json_array_size(page); i++) {
      json_t *pair = json_array_get(page, i);
      json_object_set(rows, json_string_value(json_array_get(pair, 0)),
                      json_object_get(json_array_get(pair, 1), "cf:a"));
    }
    json_t *next = json_object_get(res, "next");
    params = json_is_null(next) ? NULL : json_incref(next);
    json_decref(res);
  }
  return rows;
}

/* Every acknowledged put is in HBase with its value; no put refused as "nothing was sent" is. */
static void check_stored(const load *l) {
  json_t *rows = all_rows();
  int acked = 0, refused = 0;
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (!q->write)
      continue;
    char key[32], value[64];
    key_of(key, sizeof key, q->writer, q->row);
    value_of(value, sizeof value, q->writer, q->row);
    const char *got = json_string_value(json_object_get(rows, key));
    if (q->ok) {
      ck_assert_msg(got != NULL && strcmp(got, value) == 0, "acknowledged put of %s: %s", key,
                    got != NULL ? got : "missing");
      acked++;
    } else if (q->code == -32004 || q->code == -32005) {
      ck_assert_msg(got == NULL, "put of %s failed with %d (nothing sent) but is stored", key,
                    q->code);
      refused++;
    }
  }
  printf("test_daemon_faults: %d acknowledged puts read back, %d refused puts absent\n", acked,
         refused);
  json_decref(rows);
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

static int gateway(const char *command) {
  return gateway_env_script(command, g_gateway_name);
}

START_TEST(test_gateway_restart_under_load) {
  load *l = load_start();
  bool warm = wait_for_success(l, mono_ms() + 500, 30000);
  outage o;
  o.stop_ms = mono_ms();
  int stop_rc = gateway("gateway-stop");
  o.down_ms = mono_ms();
  sleep_ms(OUTAGE_MS);
  o.start_ms = mono_ms();
  int start_rc = gateway("gateway-start"); /* before any assertion: it must come back */
  o.up_ms = mono_ms();
  bool recovered = wait_for_success(l, o.up_ms, RECOVERY_BOUND_MS + 5000);
  int64_t steady_ms = mono_ms() + 2000; /* stale connections have been replaced by then */
  sleep_ms(5000);
  int64_t end_ms = mono_ms();
  load_stop(l);
  print_codes(l);
  ck_assert_int_eq(stop_rc, 0);
  ck_assert_int_eq(start_rc, 0);
  ck_assert_msg(warm, "no request succeeded before the outage");
  check_replies(l);
  int n;
  /* The gateway's port was closed from down_ms to start_ms: nothing answered then succeeded. */
  int failed = failures_between(l, o.down_ms, o.start_ms, o.start_ms, &n);
  ck_assert_msg(n > 0 && failed == n,
                "%d of %d requests sent and answered while the gateway was "
                "down failed",
                failed, n);
  int64_t first = first_success_done(l, o.up_ms);
  printf("test_daemon_faults: stop took %lld ms, start %lld ms; first success %lld ms after "
         "the restart\n",
         (long long)(o.down_ms - o.stop_ms), (long long)(o.up_ms - o.start_ms),
         (long long)(first - o.up_ms));
  ck_assert_msg(recovered && first >= 0 && first - o.up_ms <= RECOVERY_BOUND_MS,
                "no success within %d ms of the gateway's restart", RECOVERY_BOUND_MS);
  failed = failures_between(l, steady_ms, end_ms, INT64_MAX, &n);
  ck_assert_msg(n >= 10 && failed == 0, "%d of %d requests failed once recovered", failed, n);
  check_stored(l);
  load_free(l);
}
END_TEST

/* dh_pipelined on the daemon's table t. */
static int pipelined(const char *method, const char *tag, int n) {
  return dh_pipelined(&g_d, g_table, method, tag, n);
}

/* The gateway restarts while the pool is idle (every pooled connection is then dead): the next
 * requests, writes included, succeed; none of them had reached the gateway. */
START_TEST(test_gateway_restart_while_idle) {
  int before = pipelined("put", "idle-before", 2 * POOL_SIZE); /* every connection used */
  sleep_ms(200);
  int stop_rc = gateway("gateway-stop");
  int start_rc = gateway("gateway-start");
  ck_assert_int_eq(stop_rc, 0);
  ck_assert_int_eq(start_rc, 0);
  ck_assert_int_eq(before, 2 * POOL_SIZE);
  /* Writes first: a read would be retried on a fresh connection, and so replace a dead one. */
  int writes = pipelined("put", "idle-after", 2 * POOL_SIZE);
  int reads = pipelined("row", "idle-before", 2 * POOL_SIZE);
  ck_assert_msg(writes == 2 * POOL_SIZE, "%d of %d puts failed after the gateway restarted",
                2 * POOL_SIZE - writes, 2 * POOL_SIZE);
  ck_assert_int_eq(reads, 2 * POOL_SIZE);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The gateway and the daemon, made and removed outside any test. */

static bool load_gateway(void) {
  static char host[256];
  return gateway_env_read_own(g_gateway_name, &g_gateway, host, sizeof host);
}

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_d, "test_daemon_faults", method, params);
}

static bool start_daemon(void) {
  char keys[64], gateway_keys[256];
  snprintf(keys, sizeof keys, "table_prefix = flt%d\n", (int)getpid());
  snprintf(gateway_keys, sizeof gateway_keys,
           "pool_size = %d\nconnect_timeout_ms = %d\nrequest_timeout_ms = %d\n"
           "queue_timeout_ms = %d\nreconnect_min_ms = 100\nreconnect_max_ms = 1000\n",
           POOL_SIZE, CONNECT_MS, REQUEST_MS, QUEUE_MS);
  return dh_start(&g_d, "test_daemon_faults", &g_gateway, keys, gateway_keys) &&
    call_ok("create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"));
}

/* Unchecked fixtures: once for the test case, in Check's own process, so that the gateway is
 * stopped again whatever the tests did. */
static void faults_setup(void) {
  snprintf(g_gateway_name, sizeof g_gateway_name, "dfaults%d", (int)getpid());
  ck_assert_msg(gateway("gateway-start") == 0, "gateway '%s' did not start", g_gateway_name);
  bool ready = load_gateway() && start_daemon();
  if (!ready) {
    dh_stop(&g_d);
    gateway("gateway-stop");
  }
  ck_assert_msg(ready, "no daemon on gateway '%s'", g_gateway_name);
}

static void faults_teardown(void) {
  call_ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  int rc = dh_stop(&g_d);
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  ck_assert_int_eq(gateway("gateway-stop"), 0);
  gateway_env_forget_own(g_gateway_name);
  ck_assert_int_eq(rc, 0);
}

static Suite *faults_suite(void) {
  Suite *s = suite_create("hbpoold faults");
  TCase *tc = tcase_create("faults");
  tcase_add_unchecked_fixture(tc, faults_setup, faults_teardown);
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_gateway_restart_under_load);
  tcase_add_test(tc, test_gateway_restart_while_idle);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_can_start("test_daemon_faults"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = srunner_create(faults_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
