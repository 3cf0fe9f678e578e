/* In-process tests of request-path logic that the end-to-end tests reach only through a real
 * gateway: how a batch is cut into mutateRows calls (by batch_size, by bytes, a delete before a
 * put of the same row), which rows a prefix scan asks for and keeps (forward, reverse, prefixes
 * ending in 0xff), and how a client's input is cut into lines. The daemon's modules run here on
 * one libevent loop; the gateway is tests/peer.c, which records each framed request and answers
 * it with bytes written by hand. */
#include <check.h>
#include <event2/event.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "canned.h"
#include "client.h"
#include "config.h"
#include "decoder.h"
#include "peer.h"
#include "cluster.h"

#define MAX_REQUESTS 64

/* ---------------------------------------------------------------------------------------------
 * The gateway: records requests, answers them. */

typedef struct recorder {
  pthread_mutex_t lock;
  tbuf requests[MAX_REQUESTS];
  int nrequests;
  const char *const *scan_keys; /* the rows the first scannerGetList returns; then none */
  int get_lists;
} recorder;

/* Reads Thrift binary bytes of a request; a test fails on bytes that run short. */
typedef struct treader {
  const uint8_t *p;
  size_t len, at;
} treader;

static const uint8_t *tr_take(treader *r, size_t n) {
  ck_assert_msg(r->len - r->at >= n, "request ends early (%zu of %zu bytes)", r->at, r->len);
  const uint8_t *p = r->p + r->at;
  r->at += n;
  return p;
}

static uint64_t tr_uint(treader *r, size_t n) {
  const uint8_t *p = tr_take(r, n);
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v = v << 8 | p[i];
  return v;
}

static size_t tr_bytes(treader *r, const uint8_t **data) {
  size_t n = (size_t)tr_uint(r, 4);
  *data = tr_take(r, n);
  return n;
}

/* A field's type (TB_STOP at the end of a struct) and id. */
static int tr_field(treader *r, int16_t *id) {
  int type = (int)tr_uint(r, 1);
  if (type != TB_STOP)
    *id = (int16_t)tr_uint(r, 2);
  return type;
}

static void tr_skip(treader *r, int type) {
  const uint8_t *data;
  int16_t id;
  switch (type) {
  case TB_BOOL:
  case TB_BYTE: tr_take(r, 1); return;
  case TB_I32: tr_take(r, 4); return;
  case TB_I64: tr_take(r, 8); return;
  case TB_STRING: tr_bytes(r, &data); return;
  case TB_STRUCT:
    for (int t; (t = tr_field(r, &id)) != TB_STOP;)
      tr_skip(r, t);
    return;
  case TB_LIST: {
    int elem = (int)tr_uint(r, 1);
    for (uint32_t n = (uint32_t)tr_uint(r, 4); n > 0; n--)
      tr_skip(r, elem);
    return;
  }
  case TB_MAP: {
    int k = (int)tr_uint(r, 1), v = (int)tr_uint(r, 1);
    for (uint32_t n = (uint32_t)tr_uint(r, 4); n > 0; n--) {
      tr_skip(r, k);
      tr_skip(r, v);
    }
    return;
  }
  default: ck_abort_msg("request with a field of type %d", type);
  }
}

/* The method name of a request; r is left at its arguments. */
static void tr_message(treader *r, char *name, size_t size) {
  ck_assert_uint_eq(tr_uint(r, 4) & 0xffff00ff, 0x80010001); /* version 1, a call */
  const uint8_t *data;
  size_t n = tr_bytes(r, &data);
  snprintf(name, size, "%.*s", (int)n, (const char *)data);
  tr_uint(r, 4); /* sequence id */
}

/* A scannerGetList reply: each key a row with cell cf:a = "v". */
static void rows_reply(tbuf *b, const char *const *keys) {
  int n = 0;
  while (keys != NULL && keys[n] != NULL)
    n++;
  tb_message(b, "scannerGetList", TB_REPLY);
  tb_field(b, TB_LIST, 0);
  tb_list(b, TB_STRUCT, n);
  for (int i = 0; i < n; i++) {
    tb_field(b, TB_STRING, 1);
    tb_str(b, keys[i]);
    tb_field(b, TB_MAP, 2);
    tb_map(b, TB_STRING, TB_STRUCT, 1);
    tb_str(b, "cf:a");
    tb_field(b, TB_STRING, 1);
    tb_str(b, "v");
    tb_field(b, TB_I64, 2);
    tb_i64(b, 1);
    tb_stop(b); /* TCell */
    tb_stop(b); /* TRowResult */
  }
  tb_stop(b);
}

static void record_serve(int fd, void *arg) {
  recorder *rec = arg;
  for (;;) {
    uint8_t *req = NULL;
    size_t len = 0;
    if (peer_read_frame(fd, &req, &len) < 0)
      return;
    treader r = {req, len, 0};
    char name[64];
    tr_message(&r, name, sizeof name);
    tbuf reply = {0};
    pthread_mutex_lock(&rec->lock);
    if (rec->nrequests < MAX_REQUESTS)
      tb_raw(&rec->requests[rec->nrequests++], req, len);
    bool first_list = strcmp(name, "scannerGetList") == 0 && rec->get_lists++ == 0;
    pthread_mutex_unlock(&rec->lock);
    free(req);
    if (strcmp(name, "scannerOpenWithScan") == 0) {
      tb_message(&reply, name, TB_REPLY);
      tb_field(&reply, TB_I32, 0);
      tb_i32(&reply, 7);
      tb_stop(&reply);
    } else if (strcmp(name, "scannerGetList") == 0) {
      rows_reply(&reply, first_list ? rec->scan_keys : NULL);
    } else {
      canned_void(&reply, name); /* mutateRows(Ts), scannerClose */
    }
    int rc = peer_write_frame(fd, reply.data, reply.len);
    tb_free(&reply);
    if (rc < 0)
      return;
  }
}

/* ---------------------------------------------------------------------------------------------
 * The daemon's modules in this process. */

static recorder g_rec;
static peer *g_peer;
static struct event_base *g_base;
static config g_cfg;
static cluster *g_gateways;
static api *g_api;
static decoder *g_decoder;
static client_hub *g_hub;

static void setup(void) {
  g_rec = (recorder){.lock = PTHREAD_MUTEX_INITIALIZER};
  g_peer = peer_start(record_serve, &g_rec);
  g_base = event_base_new();
  config_defaults(&g_cfg);
  g_cfg.max_line_bytes = 1024;
  g_cfg.scan_max_rows = 1000;
  config_gateway *g = &g_cfg.gateways[0];
  free(g->host);
  g->host = strdup("127.0.0.1");
  g->port = peer_port(g_peer);
  g->transport = CONFIG_FRAMED;
  g->pool_size = 1;
  g->request_timeout_ms = 5000;
  g->coalesce = false;
  hb_error err = HB_ERROR_INIT;
  g_gateways = cluster_new(g_base, &g_cfg, &err);
  ck_assert_msg(g_gateways != NULL, "gateways: %s", err.message);
  g_api = api_new(g_gateways, &g_cfg, NULL, NULL);
  g_decoder = decoder_new(g_base, &err);
  ck_assert_msg(g_decoder != NULL, "decoder: %s", err.message);
  g_hub = client_hub_new(g_base, g_api, g_decoder, &g_cfg);
}

/* In the daemon's order (main.c's stop). */
static void teardown(void) {
  cluster_free(g_gateways);
  decoder_free(g_decoder);
  client_hub_free(g_hub);
  api_free(g_api);
  config_free(&g_cfg);
  event_base_free(g_base);
  peer_stop(g_peer);
  for (int i = 0; i < g_rec.nrequests; i++)
    tb_free(&g_rec.requests[i]);
}

static void on_reply(void *owner, char *line) {
  *(char **)owner = line != NULL ? line : strdup("(no reply)");
}

/* Runs one request through the api, the pool and the peer; returns its reply line parsed. */
static json_t *call(const char *request) {
  json_error_t je;
  json_t *msg = json_loads(request, 0, &je);
  ck_assert_msg(msg != NULL, "bad request in the test: %s", je.text);
  char *line = NULL;
  api_call(g_api, msg, &(api_caller){1, NULL}, on_reply, &line);
  for (int i = 0; i < 5000 && line == NULL; i++)
    event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
  ck_assert_msg(line != NULL, "no reply within 5 s to %s", request);
  json_t *reply = json_loads(line, 0, &je);
  ck_assert_msg(reply != NULL, "reply is not JSON: %s", line);
  ck_assert_msg(json_object_get(reply, "error") == NULL, "%s: %s", request, line);
  free(line);
  return reply;
}

/* The recorded requests of one method, in order. */
static int requests_of(const char *method, treader *out, int max) {
  int n = 0;
  for (int i = 0; i < g_rec.nrequests && n < max; i++) {
    treader r = {g_rec.requests[i].data, g_rec.requests[i].len, 0};
    char name[64];
    tr_message(&r, name, sizeof name);
    if (strcmp(name, method) == 0)
      out[n++] = r;
  }
  return n;
}

/* ---------------------------------------------------------------------------------------------
 * Batches. */

/* One mutateRows call: each row key with its mutations as "+column" (put) or "-column"
 * (delete), rows separated by ' ': "r1:+cf:a,-cf:b r2:+cf:a". */
static void describe_mutate(treader *r, char *out, size_t size) {
  out[0] = '\0';
  int16_t id;
  for (int type; (type = tr_field(r, &id)) != TB_STOP;) {
    if (id != 2 || type != TB_LIST) {
      tr_skip(r, type);
      continue;
    }
    tr_uint(r, 1);
    for (uint32_t rows = (uint32_t)tr_uint(r, 4); rows > 0; rows--) {
      for (int t; (t = tr_field(r, &id)) != TB_STOP;) {
        const uint8_t *data;
        if (id == 1 && t == TB_STRING) {
          size_t n = tr_bytes(r, &data);
          snprintf(out + strlen(out), size - strlen(out), "%s%.*s:", out[0] ? " " : "", (int)n,
                   (const char *)data);
          continue;
        }
        if (id != 2 || t != TB_LIST) {
          tr_skip(r, t);
          continue;
        }
        tr_uint(r, 1);
        for (uint32_t m = (uint32_t)tr_uint(r, 4), first = 1; m > 0; m--, first = 0) {
          bool is_delete = false;
          const uint8_t *col = NULL;
          size_t ncol = 0;
          for (int mt; (mt = tr_field(r, &id)) != TB_STOP;) {
            if (id == 1 && mt == TB_BOOL)
              is_delete = tr_uint(r, 1) != 0;
            else if (id == 2 && mt == TB_STRING)
              ncol = tr_bytes(r, &col);
            else
              tr_skip(r, mt);
          }
          snprintf(out + strlen(out), size - strlen(out), "%s%c%.*s", first ? "" : ",",
                   is_delete ? '-' : '+', (int)ncol, (const char *)col);
        }
      }
    }
  }
}

static void expect_mutates(const char *const *want, int nwant) {
  treader got[MAX_REQUESTS];
  int n = requests_of("mutateRows", got, MAX_REQUESTS);
  ck_assert_msg(n == nwant, "%d mutateRows calls, %d expected", n, nwant);
  for (int i = 0; i < n; i++) {
    char text[512];
    describe_mutate(&got[i], text, sizeof text);
    ck_assert_msg(strcmp(text, want[i]) == 0, "call %d: \"%s\", expected \"%s\"", i, text, want[i]);
  }
}

/* batch_size counts mutations: 5 puts of one cell with batch_size 2 go as 2, 2 and 1. */
START_TEST(test_batch_chunks_by_count) {
  json_decref(call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"batch\",\"params\":{\"table\":\"t\","
                   "\"batch_size\":2,\"operations\":["
                   "{\"op\":\"put\",\"row\":\"r1\",\"data\":{\"cf:a\":\"1\"}},"
                   "{\"op\":\"put\",\"row\":\"r2\",\"data\":{\"cf:a\":\"2\"}},"
                   "{\"op\":\"put\",\"row\":\"r3\",\"data\":{\"cf:a\":\"3\"}},"
                   "{\"op\":\"put\",\"row\":\"r4\",\"data\":{\"cf:a\":\"4\"}},"
                   "{\"op\":\"put\",\"row\":\"r5\",\"data\":{\"cf:a\":\"5\"}}]}}"));
  const char *want[] = {"r1:+cf:a r2:+cf:a", "r3:+cf:a r4:+cf:a", "r5:+cf:a"};
  expect_mutates(want, 3);
}
END_TEST

/* Without batch_size, a call goes once its mutations reach 1 MiB: four puts of 400 kB go as
 * three (1.2 MB, the third reaching the limit) and one. */
START_TEST(test_batch_chunks_by_bytes) {
  enum { VALUE = 400 * 1000 };
  char *value = malloc(VALUE + 1);
  memset(value, 'x', VALUE);
  value[VALUE] = '\0';
  json_t *ops = json_array();
  for (int i = 1; i <= 4; i++) {
    char row[8];
    snprintf(row, sizeof row, "r%d", i);
    json_array_append_new(ops,
                          json_pack("{s:s,s:s,s:{s:s}}", "op", "put", "row", row, "data", "cf:a",
                                    value));
  }
  json_t *req = json_pack("{s:s,s:i,s:s,s:{s:s,s:o}}", "jsonrpc", "2.0", "id", 1, "method", "batch",
                          "params", "table", "t", "operations", ops);
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(call(text));
  free(text);
  json_decref(req);
  free(value);
  const char *want[] = {"r1:+cf:a r2:+cf:a r3:+cf:a", "r4:+cf:a"};
  expect_mutates(want, 2);
}
END_TEST

/* Within one call the gateway applies a row's puts before its deletes: a put after a delete of
 * the same row goes in the next call, and the rows after it with it. */
START_TEST(test_batch_put_after_delete_of_row_in_next_call) {
  json_decref(call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"batch\",\"params\":{\"table\":\"t\","
                   "\"operations\":["
                   "{\"op\":\"put\",\"row\":\"r1\",\"data\":{\"cf:a\":\"1\"}},"
                   "{\"op\":\"delete\",\"row\":\"r2\",\"columns\":[\"cf:a\"]},"
                   "{\"op\":\"delete\",\"row\":\"r1\",\"columns\":[\"cf:b\"]},"
                   "{\"op\":\"put\",\"row\":\"r2\",\"data\":{\"cf:a\":\"2\"}},"
                   "{\"op\":\"put\",\"row\":\"r3\",\"data\":{\"cf:a\":\"3\"}}]}}"));
  const char *want[] = {"r1:+cf:a,-cf:b r2:-cf:a", "r2:+cf:a r3:+cf:a"};
  expect_mutates(want, 2);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Scan prefixes. */

/* The startRow, stopRow and reversed of the last scannerOpenWithScan sent, as "start..stop"
 * with bytes outside 0x20..0x7e as \xNN, and " reversed" when so. */
static void describe_open(char *out, size_t size) {
  treader got[MAX_REQUESTS];
  int n = requests_of("scannerOpenWithScan", got, MAX_REQUESTS);
  ck_assert_int_ge(n, 1);
  treader *r = &got[n - 1];
  char start[64] = "", stop[64] = "";
  bool reversed = false;
  int16_t id;
  for (int type; (type = tr_field(r, &id)) != TB_STOP;) {
    if (id != 2 || type != TB_STRUCT) {
      tr_skip(r, type);
      continue;
    }
    for (int t; (t = tr_field(r, &id)) != TB_STOP;) {
      const uint8_t *data;
      if ((id == 1 || id == 2) && t == TB_STRING) {
        size_t len = tr_bytes(r, &data);
        char *dst = id == 1 ? start : stop;
        for (size_t i = 0; i < len; i++)
          snprintf(dst + strlen(dst), 64 - strlen(dst),
                   data[i] < 0x20 || data[i] > 0x7e ? "\\x%02x" : "%c", data[i]);
      } else if (id == 9 && t == TB_BOOL) {
        reversed = tr_uint(r, 1) != 0;
      } else {
        tr_skip(r, t);
      }
    }
  }
  snprintf(out, size, "%s..%s%s", start, stop, reversed ? " reversed" : "");
}

/* The keys of a scan reply's rows, joined with ','. */
static void reply_keys(json_t *reply, char *out, size_t size) {
  out[0] = '\0';
  json_t *rows = json_object_get(json_object_get(reply, "result"), "rows");
  for (size_t i = 0; i < json_array_size(rows); i++)
    snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "",
             json_string_value(json_array_get(json_array_get(rows, i), 0)));
}

static void scan_case(const char *params, const char *const *gateway_rows, const char *want_open,
                      const char *want_keys) {
  g_rec.scan_keys = gateway_rows;
  g_rec.get_lists = 0;
  char request[512], got[256];
  snprintf(request, sizeof request,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"scan\",\"params\":{\"table\":\"t\",%s}}",
           params);
  json_t *reply = call(request);
  describe_open(got, sizeof got);
  ck_assert_msg(strcmp(got, want_open) == 0, "%s: opened %s, expected %s", params, got, want_open);
  reply_keys(reply, got, sizeof got);
  ck_assert_msg(strcmp(got, want_keys) == 0, "%s: rows %s, expected %s", params, got, want_keys);
  json_decref(reply);
}

/* Forward: from the prefix to the prefix's last byte incremented, as HappyBase asks. */
START_TEST(test_scan_prefix_forward) {
  const char *rows[] = {"ab", "ab0", "abz", NULL};
  scan_case("\"row_prefix\":\"ab\"", rows, "ab..ac", "ab,ab0,abz");
}
END_TEST

/* A prefix ending in 0xff bytes: those are dropped before the increment ("a\xff" -> "b"), and a
 * prefix of only 0xff bytes has no stop row. Keys in base64: "Yf8=" is "a\xff". */
START_TEST(test_scan_prefix_ending_in_ff) {
  const char *rows[] = {NULL};
  scan_case("\"encoding\":\"base64\",\"row_prefix\":\"Yf8=\"", rows, "a\\xff..b", "");
  /* "//8=" is "\xff\xff". */
  scan_case("\"encoding\":\"base64\",\"row_prefix\":\"//8=\"", rows, "\\xff\\xff..", "");
}
END_TEST

/* Reverse: from the incremented prefix down, the row equal to it skipped, stopping at the first
 * row outside the prefix, which the gateway would have gone on to return. */
START_TEST(test_scan_prefix_reverse) {
  const char *rows[] = {"ac", "abz", "ab0", "ab", "aa", NULL};
  scan_case("\"row_prefix\":\"ab\",\"reverse\":true", rows, "ac.. reversed", "abz,ab0,ab");
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Line framing: a client on a socketpair, answered by this loop. */

/* Reads one reply line from fd, running the loop meanwhile; NULL after 5 s or at EOF. */
static char *read_line(int fd, bool *eof) {
  static char buf[4096];
  size_t n = 0;
  *eof = false;
  for (int i = 0; i < 5000; i++) {
    event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, 1) <= 0)
      continue;
    ssize_t got = recv(fd, buf + n, 1, 0); /* a byte at a time: never past the line */
    if (got <= 0) {
      *eof = true;
      return NULL;
    }
    if (buf[n] == '\n') {
      buf[n] = '\0';
      return buf;
    }
    if (++n == sizeof buf - 1)
      return buf;
  }
  return NULL;
}

static void expect_pong(int fd, const char *why) {
  bool eof;
  char *line = read_line(fd, &eof);
  ck_assert_msg(line != NULL && strstr(line, "\"result\":\"pong\"") != NULL, "%s: %s", why,
                line != NULL ? line
                  : eof      ? "EOF"
                             : "no reply");
}

/* Nothing arrives within 100 ms. */
static void expect_silence(int fd, const char *why) {
  for (int i = 0; i < 100; i++) {
    event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pf, 1, 1) == 0, "%s: something arrived", why);
  }
}

static int connect_client(void) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  client_accept(g_hub, sv[0], "socketpair");
  return sv[1];
}

#define PING "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"

/* Lines are cut at '\n' wherever the writes fall: two in one write, one a byte at a time, CRLF
 * endings, and blank lines, which get no reply. */
START_TEST(test_lines_cut_wherever_writes_fall) {
  int fd = connect_client();
  const char *two = PING "\n" PING "\n";
  ck_assert_int_eq(send(fd, two, strlen(two), 0), (ssize_t)strlen(two));
  expect_pong(fd, "first of two in one write");
  expect_pong(fd, "second of two in one write");
  const char *one = PING "\r\n";
  for (size_t i = 0; i < strlen(one); i++) {
    ck_assert_int_eq(send(fd, one + i, 1, 0), 1);
    event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  }
  expect_pong(fd, "a byte at a time, CRLF");
  ck_assert_int_eq(send(fd, "\n  \r\n\t\n", 7, 0), 7);
  expect_silence(fd, "blank lines");
  close(fd);
}
END_TEST

/* A blank line long enough to be parsed off the loop (64 KiB and more) gets no reply either,
 * as a short one does, and the line after it is served. */
START_TEST(test_long_blank_line_unanswered) {
  g_cfg.max_line_bytes = 1 << 20;
  client_hub_reconfigure(g_hub);
  int fd = connect_client();
  enum { BLANKS = 100 * 1024 };
  char *input = malloc(BLANKS + sizeof PING + 2);
  memset(input, ' ', BLANKS);
  input[BLANKS] = '\n';
  strcpy(input + BLANKS + 1, PING "\n");
  size_t len = strlen(input), sent = 0;
  while (sent < len) {
    ssize_t n = send(fd, input + sent, len - sent, MSG_DONTWAIT);
    if (n > 0)
      sent += (size_t)n;
    event_base_loop(g_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
  }
  free(input);
  expect_pong(fd, "the line after a long blank one");
  expect_silence(fd, "after the pong");
  close(fd);
}
END_TEST

/* A line of exactly max_line_bytes (1024 here) is served; one byte more is refused with
 * request_too_large, and the connection closes once that error is written. */
START_TEST(test_line_limit_exact) {
  int fd = connect_client();
  char line[1100];
  snprintf(line, sizeof line, "%-1024s\n", PING); /* padded with spaces to 1024 */
  ck_assert_int_eq(send(fd, line, 1025, 0), 1025);
  expect_pong(fd, "a line of max_line_bytes");
  snprintf(line, sizeof line, "%-1025s\n", PING);
  ck_assert_int_eq(send(fd, line, 1026, 0), 1026);
  bool eof;
  char *reply = read_line(fd, &eof);
  ck_assert_msg(reply != NULL && strstr(reply, "-32008") != NULL, "one byte over: %s",
                reply != NULL ? reply : "nothing");
  reply = read_line(fd, &eof);
  ck_assert_msg(reply == NULL && eof, "the connection should close after the error");
  close(fd);
}
END_TEST

/* After the client shuts its sending side, its last line, without a newline, is still
 * answered, and then the connection closes. */
START_TEST(test_last_line_without_newline_answered) {
  int fd = connect_client();
  ck_assert_int_eq(send(fd, PING, strlen(PING), 0), (ssize_t)strlen(PING));
  ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
  expect_pong(fd, "last line without a newline");
  bool eof;
  ck_assert_msg(read_line(fd, &eof) == NULL && eof, "the connection should close");
  close(fd);
}
END_TEST

/* A test case of tests (NULL-terminated), each run between setup and teardown. */
static void add_case(Suite *s, const char *name, const TTest *const *tests) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  for (size_t i = 0; tests[i] != NULL; i++)
    tcase_add_test(tc, tests[i]);
  suite_add_tcase(s, tc);
}

int main(void) {
  Suite *s = suite_create("request path");
  add_case(s, "batch",
           (const TTest *[]){test_batch_chunks_by_count, test_batch_chunks_by_bytes,
                             test_batch_put_after_delete_of_row_in_next_call, NULL});
  add_case(s, "scan",
           (const TTest *[]){test_scan_prefix_forward, test_scan_prefix_ending_in_ff,
                             test_scan_prefix_reverse, NULL});
  add_case(s, "lines",
           (const TTest *[]){test_lines_cut_wherever_writes_fall, test_long_blank_line_unanswered,
                             test_line_limit_exact, test_last_line_without_newline_answered, NULL});
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
