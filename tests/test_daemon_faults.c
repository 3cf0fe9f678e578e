/* End-to-end fault tests of hbpoold on a gateway of its own, under load from many clients:
 * - the gateway stopped and started again, while clients write and while the pool is idle;
 * - faults injected between daemon and gateway by a fault proxy (latency, resets, a black hole,
 *   trickled replies, half-closes, garbage), each on and then off.
 * No request hangs, failures carry the documented codes, the daemon recovers by itself, every
 * acknowledged write is in HBase, and no write is applied twice. */
#include <check.h>
#include <errno.h>
#include <glib.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "faultproxy.h"
#include "gateway_env.h"
#include "peer.h"

#define POOL_SIZE 4
#define CONNECT_MS 1000
#define REQUEST_MS 5000
#define QUEUE_MS 1000
#define RECONNECT_MAX_MS 1000
/* The longest a request may take: a wait for a connection, then a connect and a call, twice for
 * a read retried on a fresh connection, and slack for a loaded machine. */
#define REPLY_BOUND_MS (QUEUE_MS + 2 * (CONNECT_MS + REQUEST_MS) + 3000)
#define RECOVERY_BOUND_MS 15000 /* from the gateway's restart to the first success */
#define OUTAGE_MS 3000
#define MAX_CLIENTS 50
#define DEPTH 2 /* requests outstanding per client */

static hbc_options g_gateway; /* the gateway these tests stop and start */
static char g_gateway_name[32];
static dh_daemon g_d;
static const char *g_table = "t";
static char g_prefix[32]; /* every daemon's table_prefix: g_d reads the others' tables */

/* ---------------------------------------------------------------------------------------------
 * The load: clients on a thread of their own, recording every request. */

typedef enum kind {
  PUT,   /* a put of a new row */
  READ,  /* a read of an acknowledged row */
  COUNT, /* counter_inc of a new counter, by 1: a second application would show as 2 */
} kind;

typedef struct rec {
  int64_t sent_ms, done_ms; /* done_ms 0: no reply */
  int client, row;          /* row: the counter's number for COUNT */
  kind kind;
  bool ok;
  int code; /* the error's */
  bool retryable;
} rec;

typedef struct client {
  dh_conn *conn;
  int next_row, next_counter;
  json_int_t next_id;
  int nout;
  json_int_t out_id[DEPTH];
  size_t out_rec[DEPTH];
  int *acked; /* rows whose put got a result */
  size_t nacked, acked_cap;
  bool dead;         /* the daemon closed the connection */
  int64_t resume_ms; /* after a failure, a pause before the next request, as clients do */
} client;

typedef struct load {
  const dh_daemon *d;
  const char *table;
  bool counters; /* one request in four is a counter_inc */
  int pace_ms;   /* the least time between two requests of a client; 0: none */
  bool killing;  /* the daemon is killed: connections end, requests in flight get no reply */
  int nclients;
  client c[MAX_CLIENTS];
  rec *recs;
  size_t nrecs, cap;
  atomic_bool stop;
  atomic_llong last_ok_sent_ms; /* when the latest request that succeeded was sent */
  char problem[512];            /* the first protocol problem seen, if any */
  int problems;
  pthread_t thread;
} load;

static void value_of(char *out, size_t n, int c, int row) {
  snprintf(out, n, "written by %d as %d", c, row);
}

static void key_of(char *out, size_t n, int c, int row) {
  snprintf(out, n, "w%d-%06d", c, row);
}

static void counter_row_of(char *out, size_t n, int c) {
  snprintf(out, n, "counters-%d", c);
}

static void counter_column_of(char *out, size_t n, int counter) {
  snprintf(out, n, "cf:n%06d", counter);
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

static size_t new_rec(load *l, int c, int row, kind k) {
  if (l->nrecs == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 4096;
    l->recs = realloc(l->recs, l->cap * sizeof *l->recs);
  }
  l->recs[l->nrecs] = (rec){.sent_ms = mono_ms(), .client = c, .row = row, .kind = k};
  return l->nrecs++;
}

/* What the client sends next: a read of a row it wrote one time in four, a counter one time in
 * four if the load has counters, else a put. */
static kind next_kind(const load *l, const client *c) {
  if (c->next_id % 4 == 1 && l->counters)
    return COUNT;
  if (c->next_id % 4 == 3 && c->nacked > 0)
    return READ;
  return PUT;
}

static json_t *params_of(const load *l, int i, kind k, int row) {
  char key[32], value[64];
  switch (k) {
  case COUNT:
    counter_row_of(key, sizeof key, i);
    counter_column_of(value, sizeof value, row);
    return json_pack("{s:s,s:s,s:s}", "table", l->table, "row", key, "column", value);
  case READ:
    key_of(key, sizeof key, i, row);
    return json_pack("{s:s,s:s}", "table", l->table, "row", key);
  default:
    key_of(key, sizeof key, i, row);
    value_of(value, sizeof value, i, row);
    return json_pack("{s:s,s:s,s:{s:s}}", "table", l->table, "row", key, "data", "cf:a", value);
  }
}

static void send_one(load *l, int i) {
  client *c = &l->c[i];
  kind k = next_kind(l, c);
  int row = k == PUT ? c->next_row++
    : k == COUNT     ? c->next_counter++
                     : c->acked[(size_t)c->next_id % c->nacked];
  static const char *const methods[] = {[PUT] = "put", [READ] = "row", [COUNT] = "counter_inc"};
  json_int_t id = ++c->next_id;
  char *line = dh_request(json_integer(id), methods[k], params_of(l, i, k, row));
  c->out_id[c->nout] = id;
  c->out_rec[c->nout++] = new_rec(l, i, row, k);
  /* Once the daemon is killed, a send can fail before the client reads its connection's end. */
  if (dh_write(c->conn, line, strlen(line)) < 0 && !__atomic_load_n(&l->killing, __ATOMIC_SEQ_CST))
    trouble(l, "client %d: send failed: %s", i, strerror(errno));
  free(line);
  if (l->pace_ms > 0)
    c->resume_ms = mono_ms() + l->pace_ms;
}

/* The result a request must have had if it succeeded. */
static json_t *expected_result(const rec *q) {
  char value[64];
  value_of(value, sizeof value, q->client, q->row);
  return q->kind == PUT ? json_null()
    : q->kind == COUNT  ? json_integer(1)
                        : json_pack("{s:s}", "cf:a", value);
}

/* Checks one reply and settles its request. */
static void take_reply(load *l, int i, const char *line) {
  client *c = &l->c[i];
  json_error_t je;
  json_t *r = json_loads(line, 0, &je);
  json_int_t id = json_integer_value(json_object_get(r, "id"));
  int slot = -1;
  for (int k = 0; k < c->nout; k++)
    slot = c->out_id[k] == id ? k : slot;
  if (r == NULL || slot < 0) {
    trouble(l, "client %d: a reply to nothing outstanding: %.200s", i, line);
    json_decref(r);
    return;
  }
  rec *q = &l->recs[c->out_rec[slot]];
  c->out_id[slot] = c->out_id[--c->nout];
  c->out_rec[slot] = c->out_rec[c->nout];
  q->done_ms = mono_ms();
  json_t *err = json_object_get(r, "error"), *result = json_object_get(r, "result");
  q->ok = err == NULL && result != NULL;
  q->code = (int)json_integer_value(json_object_get(err, "code"));
  q->retryable = json_is_true(json_object_get(json_object_get(err, "data"), "retryable"));
  json_t *want = expected_result(q);
  if (q->ok && !json_equal(result, want))
    trouble(l, "client %d: wrong result: %.200s", i, line);
  json_decref(want);
  if (q->ok && q->kind == PUT) {
    if (c->nacked == c->acked_cap) {
      c->acked_cap = c->acked_cap ? 2 * c->acked_cap : 1024;
      c->acked = realloc(c->acked, c->acked_cap * sizeof *c->acked);
    }
    c->acked[c->nacked++] = q->row;
  }
  if (q->ok)
    atomic_store(&l->last_ok_sent_ms, q->sent_ms);
  else
    c->resume_ms = q->done_ms + 10;
  json_decref(r);
}

static void read_client(load *l, int i) {
  client *c = &l->c[i];
  ssize_t n = dh_fill(c->conn);
  if (n == 0 || (n < 0 && errno != EAGAIN)) {
    if (!__atomic_load_n(&l->killing, __ATOMIC_SEQ_CST))
      trouble(l, "client %d: the daemon closed the connection", i);
    /* its requests stay without reply: counted as hung, unless the daemon was killed */
    __atomic_store_n(&c->dead, true, __ATOMIC_SEQ_CST);
    c->nout = 0;
    return;
  }
  char *line;
  while ((line = dh_take_line(c->conn)) != NULL) {
    take_reply(l, i, line);
    free(line);
  }
}

/* Sends until told to stop, then waits for the outstanding replies (at most REPLY_BOUND_MS). */
static void *run_load(void *arg) {
  load *l = arg;
  int64_t stopped_at = 0;
  for (;;) {
    bool stop = atomic_load(&l->stop);
    stopped_at = stop && stopped_at == 0 ? mono_ms() : stopped_at;
    struct pollfd pf[MAX_CLIENTS];
    int outstanding = 0;
    for (int i = 0; i < l->nclients; i++) {
      client *c = &l->c[i];
      while (!stop && !c->dead && c->nout < DEPTH && mono_ms() >= c->resume_ms)
        send_one(l, i);
      outstanding += c->nout;
      pf[i] = (struct pollfd){.fd = c->dead ? -1 : c->conn->fd, .events = POLLIN};
    }
    if (stop && (outstanding == 0 || mono_ms() - stopped_at > REPLY_BOUND_MS))
      return NULL;
    if (poll(pf, (nfds_t)l->nclients, 5) < 0 && errno != EINTR)
      trouble(l, "poll: %s", strerror(errno));
    for (int i = 0; i < l->nclients; i++) {
      if (pf[i].revents != 0)
        read_client(l, i);
    }
  }
}

static load *load_start(const dh_daemon *d, const char *table, int nclients, bool counters,
                        int pace_ms) {
  load *l = calloc(1, sizeof *l);
  l->pace_ms = pace_ms;
  l->d = d;
  l->table = table;
  l->nclients = nclients;
  l->counters = counters;
  for (int i = 0; i < nclients; i++)
    l->c[i].conn = dh_connect(d);
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
  for (int i = 0; i < l->nclients; i++) {
    dh_close(l->c[i].conn);
    free(l->c[i].acked);
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

/* The request may have been carried out: the gateway timed out or its connection failed after
 * the request was sent. Every other failure is a refusal before anything was sent. */
static bool maybe_sent(int code) {
  return code == -32006 || code == -32010;
}

static const char *kind_name(kind k) {
  return k == PUT ? "put" : k == READ ? "read" : "counter_inc";
}

/* Every request was answered within REPLY_BOUND_MS (unless the daemon was killed), with a result
 * or a documented failure whose "retryable" is as docs/protocol.md says: true when nothing was
 * sent, else only for reads. */
static void check_replies(const load *l) {
  ck_assert_msg(l->problems == 0, "%d protocol problems, the first: %s", l->problems, l->problem);
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->done_ms == 0 && l->killing)
      continue; /* in flight when the daemon died */
    ck_assert_msg(q->done_ms != 0, "request %zu (client %d, %s %d) was never answered", i,
                  q->client, kind_name(q->kind), q->row);
    ck_assert_msg(q->done_ms - q->sent_ms <= REPLY_BOUND_MS, "request %zu took %lld ms", i,
                  (long long)(q->done_ms - q->sent_ms));
    ck_assert_msg(q->ok || documented_failure(q->code), "request %zu failed with %d", i, q->code);
    if (!q->ok)
      ck_assert_msg(q->retryable == (!maybe_sent(q->code) || q->kind == READ),
                    "request %zu (a %s) failed with %d, retryable %d", i, kind_name(q->kind),
                    q->code, q->retryable);
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

/* Of the requests failures_between counts, those that failed with code. */
static int code_between(const load *l, int code, int64_t from_ms, int64_t to_ms,
                        int64_t done_before_ms) {
  int found = 0;
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->sent_ms >= from_ms && q->sent_ms < to_ms && q->done_ms < done_before_ms && !q->ok &&
        q->code == code)
      found++;
  }
  return found;
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

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* How the requests sent in [from_ms, to_ms) ended, and their p99 time to answer, for the log. */
static void print_codes(const load *l, const char *what, int64_t from_ms, int64_t to_ms) {
  static const int codes[] = {-32004, -32005, -32006, -32010};
  int n[4] = {0}, ok = 0, all = 0;
  int64_t *took = malloc((l->nrecs + 1) * sizeof *took);
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->sent_ms < from_ms || q->sent_ms >= to_ms)
      continue;
    took[all++] = q->done_ms - q->sent_ms;
    for (int k = 0; k < 4; k++)
      n[k] += q->code == codes[k];
    ok += q->ok;
  }
  qsort(took, (size_t)all, sizeof *took, cmp_i64);
  printf("test_daemon_faults: %s: %d requests: %d succeeded; failed with -32004: %d, "
         "-32005: %d, -32006: %d, -32010: %d; p99 %lld ms\n",
         what, all, ok, n[0], n[1], n[2], n[3], all > 0 ? (long long)took[all * 99 / 100] : 0LL);
  free(took);
}

/* Every row of the load's table, as {key: {column: value}}, following "next" from page to
 * page; in base64 (keys and values), since counters are 8 raw bytes. */
static json_t *all_rows(const load *l) {
  json_t *rows = json_object();
  json_t *params = json_pack("{s:s,s:s}", "table", l->table, "encoding", "base64");
  while (params != NULL) {
    json_t *res = dh_ok(l->d, "scan", params);
    json_t *page = json_object_get(res, "rows");
    for (size_t i = 0; i < json_array_size(page); i++) {
      json_t *pair = json_array_get(page, i);
      json_object_set(rows, json_string_value(json_array_get(pair, 0)), json_array_get(pair, 1));
    }
    json_t *next = json_object_get(res, "next");
    params = json_is_null(next) ? NULL : json_incref(next);
    json_decref(res);
  }
  return rows;
}

/* A cell of all_rows' result, decoded, or NULL (g_free it). */
static char *stored_cell(json_t *rows, const char *key, const char *column, size_t *len) {
  gchar *k = g_base64_encode((const guchar *)key, strlen(key));
  gchar *c = g_base64_encode((const guchar *)column, strlen(column));
  const char *v = json_string_value(json_object_get(json_object_get(rows, k), c));
  g_free(k);
  g_free(c);
  *len = 0;
  return v == NULL ? NULL : (char *)g_base64_decode(v, len);
}

/* A put: stored with its value if acknowledged; absent if refused before it was sent. */
static void check_put(json_t *rows, const rec *q, int *acked, int *refused) {
  char key[32], value[64];
  key_of(key, sizeof key, q->client, q->row);
  value_of(value, sizeof value, q->client, q->row);
  size_t len;
  char *got = stored_cell(rows, key, "cf:a", &len);
  bool present = got != NULL;
  bool same = present && len == strlen(value) && memcmp(got, value, len) == 0;
  g_free(got);
  if (q->ok) {
    ck_assert_msg(same, "acknowledged put of %s is not stored", key);
    ++*acked;
  } else if (q->done_ms != 0 && !maybe_sent(q->code)) {
    ck_assert_msg(!present, "put of %s failed with %d (nothing sent) but is stored", key, q->code);
    ++*refused;
  }
}

/* A counter, incremented once by 1: 1 if acknowledged, 0 (or absent) if refused before it was
 * sent, at most 1 whatever happened: a second application would mean the daemon resent it. */
static void check_counter(json_t *rows, const rec *q, int *applied) {
  char key[32], column[32];
  counter_row_of(key, sizeof key, q->client);
  counter_column_of(column, sizeof column, q->row);
  size_t len;
  unsigned char *got = (unsigned char *)stored_cell(rows, key, column, &len);
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++)
    v = v << 8 | got[i];
  g_free(got);
  ck_assert_msg(len == 0 || len == 8, "counter %s/%s: %zu bytes", key, column, len);
  ck_assert_msg(v <= 1, "counter %s/%s is %llu: incremented once, applied %llu times", key, column,
                (unsigned long long)v, (unsigned long long)v);
  if (q->ok)
    ck_assert_msg(v == 1, "acknowledged counter_inc of %s/%s is not stored", key, column);
  else if (q->done_ms != 0 && !maybe_sent(q->code))
    ck_assert_msg(v == 0, "counter_inc of %s/%s failed with %d (nothing sent) but is stored", key,
                  column, q->code);
  *applied += v == 1;
}

/* Every acknowledged write is in HBase, once; no write refused as "nothing was sent" is. */
static void check_stored(const load *l) {
  json_t *rows = all_rows(l);
  int acked = 0, refused = 0, counted = 0, applied = 0;
  for (size_t i = 0; i < l->nrecs; i++) {
    const rec *q = &l->recs[i];
    if (q->kind == PUT)
      check_put(rows, q, &acked, &refused);
    if (q->kind == COUNT) {
      check_counter(rows, q, &applied);
      counted++;
    }
  }
  printf("test_daemon_faults: %d acknowledged puts read back, %d refused puts absent; "
         "%d counters incremented once: %d applied, none twice\n",
         acked, refused, counted, applied);
  json_decref(rows);
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

static int gateway(const char *command) {
  return gateway_env_script(command, g_gateway_name);
}

START_TEST(test_gateway_restart_under_load) {
  load *l = load_start(&g_d, g_table, 6, true, 0);
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
  print_codes(l, "restart", 0, INT64_MAX);
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

/* A daemon on gw with the tests' timeouts, and the table it writes to. */
static bool start_daemon_on(dh_daemon *d, const hbc_options *gw, const char *table) {
  char keys[64], gateway_keys[256];
  snprintf(keys, sizeof keys, "table_prefix = %s\n", g_prefix);
  snprintf(gateway_keys, sizeof gateway_keys,
           "pool_size = %d\nconnect_timeout_ms = %d\nrequest_timeout_ms = %d\n"
           "queue_timeout_ms = %d\nreconnect_min_ms = 100\nreconnect_max_ms = %d\n",
           POOL_SIZE, CONNECT_MS, REQUEST_MS, QUEUE_MS, RECONNECT_MAX_MS);
  return dh_start(d, "test_daemon_faults", gw, keys, gateway_keys) &&
    dh_try_ok(d, "test_daemon_faults", "create_table",
              json_pack("{s:s,s:{s:{}}}", "table", table, "families", "cf"));
}

/* ---------------------------------------------------------------------------------------------
 * Faults between the daemon and the gateway. */

#define PROXY_CLIENTS 50
#define PROXY_PACE_MS 50 /* up to 1,000 requests a second in all: faults, not throughput */
#define FAULT_MS 3000
/* From a fault's end to the first success: calls sent into a black hole hold every pooled
 * connection until they time out, then come the longest backoff, a probe (a connect and a call)
 * and slack for a loaded machine. */
#define FAULT_RECOVERY_MS (REQUEST_MS - FAULT_MS + RECONNECT_MAX_MS + CONNECT_MS + 3000)
/* From a fault's end until every request must succeed: calls sent into the fault have timed out
 * by then, and their connections are replaced. */
#define FAULT_SETTLE_MS (REQUEST_MS + 1000)
#define STEADY_MS 2000

typedef struct phase {
  int64_t on_ms, off_ms, steady_ms, end_ms;
  long connections; /* the daemon made while the fault was on */
} phase;

/* A gateway that breaks every call on a new connection is taken out after 8 and probed with
 * backoff (100 ms doubling to 1 s here): a few dozen connections in a fault, not thousands. */
#define FAULT_MAX_CONNECTIONS 60

/* One fault on for FAULT_MS, then off until the load has been steady for STEADY_MS. */
static void run_phase(faultproxy *fp, fp_fault f, phase *ph) {
  ph->on_ms = mono_ms();
  long accepted = fp_accepted(fp);
  fp_set(fp, f);
  sleep_ms(FAULT_MS);
  ph->off_ms = mono_ms();
  fp_set(fp, FP_NONE);
  ph->connections = fp_accepted(fp) - accepted;
  ph->steady_ms = ph->off_ms + FAULT_SETTLE_MS;
  sleep_ms(FAULT_SETTLE_MS + STEADY_MS);
  ph->end_ms = mono_ms();
}

/* While the fault was on, requests got answers; once off, the daemon recovered by itself within
 * FAULT_RECOVERY_MS, and after the settling time requests succeeded (see below for the one
 * failure let through). */
static void check_phase(const load *l, fp_fault f, const phase *ph) {
  print_codes(l, fp_name(f), ph->on_ms, ph->off_ms);
  printf("test_daemon_faults: %s: %ld connections made during it\n", fp_name(f), ph->connections);
  if (f == FP_RESET || f == FP_HALF_CLOSE || f == FP_GARBAGE)
    ck_assert_msg(ph->connections <= FAULT_MAX_CONNECTIONS,
                  "%s: %ld connections made in %d ms: the gateway was not taken out", fp_name(f),
                  ph->connections, FAULT_MS);
  int n;
  int failed = failures_between(l, ph->on_ms, ph->off_ms, INT64_MAX, &n);
  if (f == FP_LATENCY || f == FP_TRICKLE) /* slow, not broken: some requests get through */
    ck_assert_msg(failed < n, "%s: all %d requests failed", fp_name(f), n);
  int64_t first = first_success_done(l, ph->off_ms);
  printf("test_daemon_faults: %s: first success %lld ms after the fault stopped\n", fp_name(f),
         (long long)(first - ph->off_ms));
  ck_assert_msg(first >= 0 && first - ph->off_ms <= FAULT_RECOVERY_MS,
                "%s: no success within %d ms of the fault's end", fp_name(f), FAULT_RECOVERY_MS);
  /* Answered before the next fault began: recovered, every request succeeds. One answer is let
   * through, no_connection_available (-32005: nothing sent), with successes beside it: 100
   * requests outstanding on 4 connections wait past QUEUE_MS whenever the gateway slows, and a CI
   * machine building packages beside this once slowed it to ~14 calls a second for seconds after
   * a fault (the next phase's fresh daemon got the same answers). A gateway still taken out
   * (-32004), broken connections (-32010) or a pool that never frees a connection (no success)
   * still fail here. */
  failed = failures_between(l, ph->steady_ms, ph->end_ms, ph->end_ms, &n);
  int busy = code_between(l, -32005, ph->steady_ms, ph->end_ms, ph->end_ms);
  if (failed > 0)
    print_codes(l, "after it", ph->steady_ms, ph->end_ms);
  ck_assert_msg(n - failed >= 10 && failed == busy,
                "%s: %d of %d requests failed once recovered (%d of them with -32005)", fp_name(f),
                failed, n, busy);
}

/* Fifty clients of puts, reads and counters through a fault proxy, every fault on and off in
 * turn: see the file's comment for what must hold. */
START_TEST(test_faults_between_daemon_and_gateway) {
  faultproxy *fp = fp_start(g_gateway.host, g_gateway.port);
  ck_assert_ptr_nonnull(fp);
  hbc_options via = g_gateway;
  via.host = "127.0.0.1";
  via.port = fp_port(fp);
  dh_daemon d;
  ck_assert(start_daemon_on(&d, &via, "p"));
  load *l = load_start(&d, "p", PROXY_CLIENTS, true, PROXY_PACE_MS);
  bool warm = wait_for_success(l, mono_ms() + 500, 30000);
  phase ph[FP_NFAULTS];
  for (fp_fault f = FP_NONE + 1; f < FP_NFAULTS; f++)
    run_phase(fp, f, &ph[f]);
  load_stop(l);
  ck_assert_msg(warm, "no request succeeded before the faults");
  for (fp_fault f = FP_NONE + 1; f < FP_NFAULTS; f++)
    check_phase(l, f, &ph[f]);
  print_codes(l, "all faults", 0, INT64_MAX);
  printf("test_daemon_faults: the proxy accepted %ld connections\n", fp_accepted(fp));
  check_replies(l);
  check_stored(l);
  load_free(l);
  dh_try_ok(&d, "test_daemon_faults", "delete_table",
            json_pack("{s:s,s:b}", "table", "p", "disable", 1));
  ck_assert_int_eq(dh_stop(&d), 0);
  fp_stop(fp);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The daemon killed. */

/* All clients saw their connection end, within limit_ms. */
static bool wait_all_dead(const load *l, int limit_ms) {
  for (int64_t deadline = mono_ms() + limit_ms; mono_ms() < deadline; sleep_ms(20)) {
    int dead = 0;
    for (int i = 0; i < l->nclients; i++)
      dead += __atomic_load_n(&l->c[i].dead, __ATOMIC_SEQ_CST);
    if (dead == l->nclients)
      return true;
  }
  return false;
}

/* kill -9 of the daemon under 50 writing clients: each client sees its connection end, with no
 * wrong reply before; every write acknowledged before the kill is in HBase (once); the daemon
 * started again on the dead one's socket file serves. */
START_TEST(test_daemon_killed_under_load) {
  dh_daemon d;
  ck_assert(start_daemon_on(&d, &g_gateway, "k"));
  load *l = load_start(&d, "k", PROXY_CLIENTS, true, 0); /* unpaced: calls in flight at the kill */
  bool warm = wait_for_success(l, mono_ms() + 1000, 30000);
  __atomic_store_n(&l->killing, true, __ATOMIC_SEQ_CST);
  ck_assert_int_eq(kill(d.pid, SIGKILL), 0);
  bool ended = wait_all_dead(l, 10000);
  load_stop(l);
  int status;
  ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ck_assert_msg(warm, "no request succeeded before the kill");
  ck_assert_msg(ended, "a client did not see its connection end");
  size_t unanswered = 0;
  for (size_t i = 0; i < l->nrecs; i++)
    unanswered += l->recs[i].done_ms == 0;
  print_codes(l, "killed", 0, INT64_MAX);
  printf("test_daemon_faults: killed: %zu requests in flight got no reply\n", unanswered);
  check_replies(l);
  l->d = &g_d; /* the same table prefix: reads the table back */
  check_stored(l);
  load_free(l);
  ck_assert_msg(dh_restart(&d), "hbpoold did not start again on %s", d.socket);
  json_t *tables = dh_ok(&d, "tables", NULL);
  ck_assert(json_is_array(tables));
  json_decref(tables);
  dh_try_ok(&d, "test_daemon_faults", "delete_table",
            json_pack("{s:s,s:b}", "table", "k", "disable", 1));
  ck_assert_int_eq(dh_stop(&d), 0);
}
END_TEST

/* Unchecked fixtures: once for the test case, in Check's own process, so that the gateway is
 * stopped again whatever the tests did. */
static void faults_setup(void) {
  snprintf(g_gateway_name, sizeof g_gateway_name, "dfaults%d", (int)getpid());
  snprintf(g_prefix, sizeof g_prefix, "flt%d", (int)getpid());
  ck_assert_msg(gateway("gateway-start") == 0, "gateway '%s' did not start", g_gateway_name);
  bool ready = load_gateway() && start_daemon_on(&g_d, &g_gateway, g_table);
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
  tcase_add_test(tc, test_faults_between_daemon_and_gateway);
  tcase_add_test(tc, test_daemon_killed_under_load);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_can_start("test_daemon_faults"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0); /* a failed test's child exits without flushing */
  SRunner *sr = srunner_create(faults_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
