/* A concurrency test of hbpoold: 200 clients pipeline 500 mixed requests each through a pool of
 * 4 gateway connections; every reply must match its id and what that client wrote. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "gateway_env.h"
#include "peer.h"

enum {
  CLIENTS = 200,
  REQUESTS = 500, /* per client */
  WINDOW = 4,     /* requests outstanding per client */
  POOL_SIZE = 4,
  MAX_SHARED = CLIENTS * REQUESTS,
};

static hbc_options g_gateway;
static dh_daemon g_d;
static const char *g_table = "t";

typedef enum op { OP_PUT, OP_ROW, OP_ROWS, OP_SCAN, OP_INC_OWN, OP_INC_SHARED } op;

/* A request sent and not yet answered. */
typedef struct pending {
  json_t *id;
  op kind;
  int row;        /* OP_PUT: the row written */
  json_int_t add; /* OP_INC_OWN: the increment */
  json_t *expect; /* the result it must have (not for OP_INC_SHARED) */
} pending;

typedef struct client {
  int index;
  dh_conn *conn;
  unsigned rng;
  int sent, answered;
  int nrows; /* rows 0..nrows-1 have been put (sent) */
  bool acked[REQUESTS];
  int *acked_rows; /* the rows whose put was answered, for picking reads */
  int nacked;
  int acked_prefix; /* rows 0..acked_prefix-1 are all answered */
  pending slots[WINDOW];
  int nslots;
  json_int_t next_id;
  bool own_busy; /* an increment of the client's own counter is outstanding */
  json_int_t own_total;
  json_int_t shared_incs;
} client;

/* The new values the shared counter returned: each exactly once. */
static bool g_shared_seen[MAX_SHARED + 1];

static unsigned rnd(client *c) {
  c->rng = c->rng * 1103515245u + 12345u;
  return (c->rng >> 8) & 0xffffff;
}

static void row_key(char *out, size_t n, int who, int row) {
  snprintf(out, n, "L%03d-%04d", who, row);
}

/* The row a put wrote: a value of varying length that says whose and which it is. */
static json_t *row_value(int who, int row) {
  char v[160];
  int len = snprintf(v, sizeof v, "value of %d/%d:", who, row);
  for (int i = 0; i < (row * 7 + who) % 60; i++)
    v[len++] = (char)('a' + (i + row) % 26);
  v[len] = '\0';
  char n[16];
  snprintf(n, sizeof n, "%d", row);
  return json_pack("{s:s,s:s}", "cf:a", v, "cf:n", n);
}

static json_t *row_pair(int who, int row) {
  char key[32];
  row_key(key, sizeof key, who, row);
  return json_pack("[s,o]", key, row_value(who, row));
}

/* ---------------------------------------------------------------------------------------------
 * Requests and what their results must be. */

static json_t *req_put(client *c, pending *p) {
  p->kind = OP_PUT;
  p->row = c->nrows++;
  p->expect = json_null();
  char key[32];
  row_key(key, sizeof key, c->index, p->row);
  return json_pack("{s:s,s:s,s:o}", "table", g_table, "row", key, "data",
                   row_value(c->index, p->row));
}

static json_t *req_row(client *c, pending *p) {
  char key[32];
  p->kind = OP_ROW;
  if (rnd(c) % 10 == 0) { /* a row nobody writes */
    snprintf(key, sizeof key, "L%03d-m%u", c->index, rnd(c) % 1000);
    p->expect = json_object();
  } else {
    int row = c->acked_rows[rnd(c) % (unsigned)c->nacked];
    row_key(key, sizeof key, c->index, row);
    p->expect = row_value(c->index, row);
  }
  return json_pack("{s:s,s:s}", "table", g_table, "row", key);
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

/* Up to 4 distinct acknowledged rows and one missing row, in key order. */
static json_t *req_rows(client *c, pending *p) {
  int picks[4], n = 0;
  for (int i = 0; i < 4; i++) {
    int row = c->acked_rows[rnd(c) % (unsigned)c->nacked];
    bool dup = false;
    for (int j = 0; j < n; j++)
      dup |= picks[j] == row;
    if (!dup)
      picks[n++] = row;
  }
  qsort(picks, (size_t)n, sizeof picks[0], cmp_int);
  p->kind = OP_ROWS;
  p->expect = json_array();
  json_t *keys = json_array();
  char key[32];
  for (int i = 0; i < n; i++) {
    row_key(key, sizeof key, c->index, picks[i]);
    json_array_append_new(keys, json_string(key));
    json_array_append_new(p->expect, row_pair(c->index, picks[i]));
  }
  snprintf(key, sizeof key, "L%03d-~missing", c->index); /* sorts after every row */
  json_array_append_new(keys, json_string(key));
  return json_pack("{s:s,s:o}", "table", g_table, "rows", keys);
}

/* A scan inside the rows that are all acknowledged: exactly those rows come back. */
static json_t *req_scan(client *c, pending *p) {
  int from = (int)(rnd(c) % (unsigned)c->acked_prefix);
  int to = from + 1 + (int)(rnd(c) % 6);
  to = to > c->acked_prefix ? c->acked_prefix : to;
  char start[32], stop[32];
  row_key(start, sizeof start, c->index, from);
  row_key(stop, sizeof stop, c->index, to);
  json_t *rows = json_array();
  for (int i = from; i < to; i++)
    json_array_append_new(rows, row_pair(c->index, i));
  p->kind = OP_SCAN;
  p->expect = json_pack("{s:o,s:n}", "rows", rows, "next");
  return json_pack("{s:s,s:s,s:s}", "table", g_table, "row_start", start, "row_stop", stop);
}

/* The client's own counter: one increment at a time, so the new value is known. */
static json_t *req_inc_own(client *c, pending *p) {
  char row[16];
  snprintf(row, sizeof row, "own%03d", c->index);
  p->kind = OP_INC_OWN;
  p->add = 1 + rnd(c) % 5;
  p->expect = json_integer(c->own_total + p->add);
  c->own_busy = true;
  return json_pack("{s:s,s:s,s:s,s:I}", "table", g_table, "row", row, "column", "cf:n", "value",
                   p->add);
}

/* The counter every client increments by 1: the new values are 1..total, each once. */
static json_t *req_inc_shared(client *c, pending *p) {
  (void)c;
  p->kind = OP_INC_SHARED;
  p->expect = NULL;
  return json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "shared", "column", "cf:n");
}

static const char *const METHOD_OF[] = {
  [OP_PUT] = "put",
  [OP_ROW] = "row",
  [OP_ROWS] = "rows",
  [OP_SCAN] = "scan",
  [OP_INC_OWN] = "counter_inc",
  [OP_INC_SHARED] = "counter_inc",
};

/* The next request of c, as a line; fills its slot. */
static char *next_request(client *c, pending *p) {
  unsigned r = rnd(c) % 100;
  json_t *params;
  if (r < 50 && c->nacked == 0)
    params = req_put(c, p); /* nothing to read yet */
  else if (r < 30)
    params = req_put(c, p);
  else if (r < 50)
    params = req_row(c, p);
  else if (r < 60 && c->nacked > 0)
    params = req_rows(c, p);
  else if (r < 70 && c->acked_prefix > 0)
    params = req_scan(c, p);
  else if (r < 80 && !c->own_busy)
    params = req_inc_own(c, p);
  else if (r >= 80)
    params = req_inc_shared(c, p);
  else
    params = req_put(c, p);
  /* Ids of both kinds JSON-RPC allows, unique on the connection. */
  json_int_t n = ++c->next_id;
  char sid[32];
  snprintf(sid, sizeof sid, "c%d-%lld", c->index, (long long)n);
  p->id = n % 2 ? json_integer(n) : json_string(sid);
  c->sent++;
  return dh_request(json_incref(p->id), METHOD_OF[p->kind], params);
}

/* Fills the client's window with requests, sent in one write. */
static void fill_window(client *c) {
  char *lines[WINDOW];
  size_t total = 0;
  int n = 0;
  while (c->nslots < WINDOW && c->sent < REQUESTS) {
    lines[n] = next_request(c, &c->slots[c->nslots++]);
    total += strlen(lines[n++]);
  }
  if (n == 0)
    return;
  char *all = malloc(total + 1), *p = all;
  for (int i = 0; i < n; i++) {
    size_t len = strlen(lines[i]);
    memcpy(p, lines[i], len);
    p += len;
    free(lines[i]);
  }
  *p = '\0';
  dh_send(c->conn, all);
  free(all);
}

/* ---------------------------------------------------------------------------------------------
 * Replies. */

static void acked_put(client *c, int row) {
  c->acked[row] = true;
  c->acked_rows[c->nacked++] = row;
  while (c->acked_prefix < c->nrows && c->acked[c->acked_prefix])
    c->acked_prefix++;
}

static void check_result(client *c, pending *p, json_t *result, const char *line) {
  if (p->kind == OP_INC_SHARED) {
    json_int_t v = json_integer_value(result);
    ck_assert_msg(json_is_integer(result) && v >= 1 && v <= MAX_SHARED && !g_shared_seen[v],
                  "client %d: the shared counter returned %lld twice or out of range: %.300s",
                  c->index, (long long)v, line);
    g_shared_seen[v] = true;
    c->shared_incs++;
    return;
  }
  char *want = dh_text(p->expect);
  ck_assert_msg(json_equal(result, p->expect), "client %d: %s: expected %s, got %.500s", c->index,
                METHOD_OF[p->kind], want, line);
  free(want);
  if (p->kind == OP_PUT)
    acked_put(c, p->row);
  if (p->kind == OP_INC_OWN) {
    c->own_total += p->add;
    c->own_busy = false;
  }
}

static void handle_reply(client *c, const char *line) {
  json_error_t je;
  json_t *r = json_loads(line, 0, &je);
  ck_assert_msg(r != NULL, "client %d: not JSON: %.300s", c->index, line);
  json_t *id = json_object_get(r, "id"), *result = json_object_get(r, "result");
  int slot = -1;
  for (int i = 0; i < c->nslots && slot < 0; i++)
    slot = id != NULL && json_equal(id, c->slots[i].id) ? i : -1;
  ck_assert_msg(slot >= 0, "client %d: a reply to no outstanding request: %.300s", c->index, line);
  ck_assert_msg(result != NULL && json_object_get(r, "error") == NULL,
                "client %d: %s failed: "
                "%.500s",
                c->index, METHOD_OF[c->slots[slot].kind], line);
  check_result(c, &c->slots[slot], result, line);
  json_decref(c->slots[slot].id);
  json_decref(c->slots[slot].expect);
  c->slots[slot] = c->slots[--c->nslots];
  c->answered++;
  json_decref(r);
}

static void read_replies(client *c) {
  ssize_t n = dh_fill(c->conn);
  ck_assert_msg(n > 0 || (n < 0 && errno == EAGAIN), "client %d: connection lost (%s)", c->index,
                n == 0 ? "EOF" : strerror(errno));
  char *line;
  while ((line = dh_take_line(c->conn)) != NULL) {
    handle_reply(c, line);
    free(line);
  }
}

/* Runs every client to completion in one poll loop. */
static void run_clients(client *cs) {
  struct pollfd pf[CLIENTS];
  int64_t deadline = mono_ms() + 600000; /* a hang guard, not a timing assertion */
  for (;;) {
    int active = 0;
    for (int i = 0; i < CLIENTS; i++) {
      fill_window(&cs[i]);
      pf[i] = (struct pollfd){.fd = cs[i].conn->fd, .events = POLLIN};
      active += cs[i].answered < REQUESTS;
    }
    if (active == 0)
      return;
    ck_assert_msg(mono_ms() < deadline, "%d clients still waiting after 600 s", active);
    int n = poll(pf, CLIENTS, 1000);
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < CLIENTS && n > 0; i++) {
      if (pf[i].revents != 0)
        read_replies(&cs[i]);
    }
  }
}

/* ---------------------------------------------------------------------------------------------
 * Checks at the end, and the test. */

static json_int_t counter(const char *row) {
  json_t *v = dh_ok(&g_d, "counter_get",
                    json_pack("{s:s,s:s,s:s}", "table", g_table, "row", row, "column", "cf:n"));
  json_int_t n = json_integer_value(v);
  json_decref(v);
  return n;
}

/* Every row the client wrote is in HBase, with its value, and nothing else under its prefix. */
static void check_rows_stored(const client *c) {
  char prefix[16];
  snprintf(prefix, sizeof prefix, "L%03d-", c->index);
  json_t *res = dh_ok(&g_d, "scan",
                      json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix", prefix, "limit",
                                REQUESTS + 1));
  json_t *want = json_array();
  for (int i = 0; i < c->nrows; i++)
    json_array_append_new(want, row_pair(c->index, i));
  json_t *got = json_object_get(res, "rows");
  ck_assert_msg(json_equal(got, want), "client %d: %zu rows stored, %d written, or values differ",
                c->index, json_array_size(got), c->nrows);
  json_decref(want);
  json_decref(res);
}

static void check_counters(const client *cs) {
  json_int_t shared = 0;
  for (int i = 0; i < CLIENTS; i++) {
    char row[16];
    snprintf(row, sizeof row, "own%03d", i);
    ck_assert_int_eq(counter(row), cs[i].own_total);
    shared += cs[i].shared_incs;
  }
  ck_assert_int_eq(counter("shared"), shared);
  /* Each new value was seen once (checked as it came) and there were shared of them, all in
   * 1..shared: so exactly 1..shared, as atomic increments give. */
  for (json_int_t v = 1; v <= shared; v++)
    ck_assert_msg(g_shared_seen[v], "the shared counter never returned %lld", (long long)v);
}

START_TEST(test_many_clients_pipelined_mixed_requests) {
  client *cs = calloc(CLIENTS, sizeof *cs);
  for (int i = 0; i < CLIENTS; i++) {
    cs[i].index = i;
    cs[i].rng = 7919u * (unsigned)i + 1u;
    cs[i].conn = dh_connect(&g_d);
    cs[i].acked_rows = calloc(REQUESTS, sizeof *cs[i].acked_rows);
  }
  int64_t t0 = mono_ms();
  run_clients(cs);
  int64_t took = mono_ms() - t0;
  int puts = 0;
  json_int_t shared = 0;
  for (int i = 0; i < CLIENTS; i++) {
    ck_assert_int_eq(cs[i].answered, REQUESTS);
    ck_assert_int_eq(cs[i].nacked, cs[i].nrows);
    puts += cs[i].nrows;
    shared += cs[i].shared_incs;
  }
  printf("test_daemon_load: %d clients x %d requests (%d puts, %lld shared increments) in %.1f s: "
         "%.0f requests/s\n",
         CLIENTS, REQUESTS, puts, (long long)shared, (double)took / 1000,
         (double)CLIENTS * REQUESTS * 1000 / (double)(took > 0 ? took : 1));
  check_counters(cs);
  for (int i = 0; i < CLIENTS; i++)
    check_rows_stored(&cs[i]);
  json_t *st = dh_ok(&g_d, "stats", NULL);
  json_t *pool = json_object_get(st, "pool");
  ck_assert_int_eq(json_integer_value(json_object_get(pool, "size")), POOL_SIZE);
  ck_assert_int_eq(json_integer_value(json_object_get(pool, "failed")), 0);
  ck_assert_int_eq(json_integer_value(json_object_get(st, "in_flight")), 0);
  json_decref(st);
  for (int i = 0; i < CLIENTS; i++) {
    dh_close(cs[i].conn);
    free(cs[i].acked_rows);
  }
  free(cs);
}
END_TEST

static bool call_ok(const char *method, json_t *params) {
  return dh_try_ok(&g_d, "test_daemon_load", method, params);
}

static Suite *load_suite(void) {
  Suite *s = suite_create("hbpoold load");
  TCase *tc = tcase_create("load");
  tcase_set_timeout(tc, 900);
  tcase_add_test(tc, test_many_clients_pipelined_mixed_requests);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon_load"))
    return 2;
  signal(SIGPIPE, SIG_IGN);
  char keys[128], gateway_keys[128];
  snprintf(keys, sizeof keys, "table_prefix = load%d\n", (int)getpid());
  /* Waiting for one of 4 connections behind up to 800 requests is the point: never time out.
   * Connections are refreshed before a gateway with a short idle timeout would drop them. */
  snprintf(gateway_keys, sizeof gateway_keys,
           "pool_size = %d\nqueue_timeout_ms = 300000\nidle_refresh_ms = 1000\n", POOL_SIZE);
  if (!dh_start(&g_d, "test_daemon_load", &g_gateway, keys, gateway_keys))
    return 1;
  int failed = 1;
  if (call_ok("create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"))) {
    SRunner *sr = srunner_create(load_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    call_ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1));
  }
  int rc = dh_stop(&g_d);
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  return failed == 0 && rc == 0 ? 0 : 1;
}
