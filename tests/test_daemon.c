/* End-to-end tests of hbpoold: the real daemon, started from the build, talking to a real gateway,
 * driven through its Unix socket exactly as a client in any language would. */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway_env.h"
#include "peer.h"

static hbc_options g_gateway;
static int g_idle_timeout_ms;      /* the gateway drops connections idle this long */
static int g_scanner_expiry_ms;    /* the gateway forgets scanners unused this long */
static int g_refresh_ms;           /* the daemon's idle_refresh_ms: below the gateway's limit */
static int g_scanner_idle_ms;      /* the daemon's scanner_idle_timeout_ms: past the gateway's */
static char g_dir[64], g_socket[100], g_prefix[32];
static pid_t g_daemon;
static int g_seq;

/* ---------------------------------------------------------------------------------------------
 * A line client. */

typedef struct conn {
  int fd;
  char buf[1 << 16];
  size_t len;
} conn;

static conn *conn_open(void) {
  conn *c = calloc(1, sizeof *c);
  c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", g_socket);
  ck_assert_msg(connect(c->fd, (struct sockaddr *)&sa, sizeof sa) == 0, "connect %s: %s",
                g_socket, strerror(errno));
  return c;
}

static void conn_close(conn *c) {
  close(c->fd);
  free(c);
}

static void conn_send(conn *c, const char *data) {
  ck_assert_int_eq(peer_write_all(c->fd, data, strlen(data)), 0);
}

/* The next line (malloc'd, without '\n'), or NULL at EOF or after timeout_ms. */
static char *conn_line(conn *c, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    char *nl = memchr(c->buf, '\n', c->len);
    if (nl != NULL) {
      size_t n = (size_t)(nl - c->buf);
      char *line = strndup(c->buf, n);
      memmove(c->buf, nl + 1, c->len - n - 1);
      c->len -= n + 1;
      return line;
    }
    ck_assert_msg(c->len < sizeof c->buf, "reply line too long for the test client");
    int left = (int)(deadline - mono_ms());
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (left <= 0 || poll(&pf, 1, left) <= 0)
      return NULL;
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (r <= 0)
      return NULL;
    c->len += (size_t)r;
  }
}

static json_t *conn_json(conn *c) {
  char *line = conn_line(c, 30000);
  ck_assert_msg(line != NULL, "no reply from hbpoold");
  json_error_t je;
  json_t *v = json_loads(line, 0, &je);
  ck_assert_msg(v != NULL, "reply is not JSON: %s", line);
  free(line);
  return v;
}

/* Sends {"jsonrpc":"2.0","id":N,"method":M,"params":P} and returns the reply object. */
static json_t *call_on(conn *c, const char *method, json_t *params) {
  int id = ++g_seq;
  json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                          "params", params != NULL ? params : json_object());
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  conn_send(c, text);
  conn_send(c, "\n");
  free(text);
  json_t *reply = conn_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(reply, "id")), id);
  ck_assert_str_eq(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
  return reply;
}

/* The result of a call that must succeed (a new reference). */
static json_t *ok(const char *method, json_t *params) {
  conn *c = conn_open();
  json_t *reply = call_on(c, method, params);
  conn_close(c);
  json_t *err = json_object_get(reply, "error");
  if (err != NULL) {
    char *text = json_dumps(err, JSON_COMPACT);
    ck_abort_msg("%s failed: %s", method, text);
  }
  json_t *result = json_incref(json_object_get(reply, "result"));
  ck_assert_ptr_nonnull(result);
  json_decref(reply);
  return result;
}

/* The error of a call that must fail with code; returns the error object. */
static json_t *fails(const char *method, json_t *params, int code) {
  conn *c = conn_open();
  json_t *reply = call_on(c, method, params);
  conn_close(c);
  json_t *err = json_object_get(reply, "error");
  char *text = json_dumps(reply, JSON_COMPACT);
  ck_assert_msg(err != NULL, "%s should fail with %d: %s", method, code, text);
  ck_assert_msg(json_integer_value(json_object_get(err, "code")) == code,
                "%s: expected code %d: %s", method, code, text);
  free(text);
  json_incref(err);
  json_decref(reply);
  return err;
}

/* Compares a value with JSON text. */
static void expect_json(json_t *got, const char *want) {
  json_error_t je;
  json_t *w = json_loads(want, JSON_DECODE_ANY, &je);
  ck_assert_msg(w != NULL, "bad expectation %s", want);
  char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
  ck_assert_msg(json_equal(got, w), "got %s, expected %s", g, want);
  free(g);
  json_decref(w);
  json_decref(got);
}

/* ---------------------------------------------------------------------------------------------
 * The daemon under test. */

static void write_config(const char *path, size_t max_line) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return;
  fprintf(f,
          "[daemon]\nlisten_socket = %s\nmax_line_bytes = %zu\ntable_prefix = %s\n"
          "log_level = warning\nscan_max_rows = 7\nmax_output_bytes_per_client = 65536\n"
          "scanner_idle_timeout_ms = %d\n\n[gateway]\nhost = %s\nport = %d\ntransport = %s\n"
          "protocol = %s\npool_size = 4\nidle_refresh_ms = %d\n",
          g_socket, max_line, g_prefix, g_scanner_idle_ms, g_gateway.host, g_gateway.port,
          g_gateway.framed ? "framed" : "buffered",
          g_gateway.protocol == HBC_PROTOCOL_COMPACT ? "compact" : "binary", g_refresh_ms);
  fclose(f);
}

static bool start_daemon(void) {
  char conf[128];
  snprintf(conf, sizeof conf, "%s/hbpoold.conf", g_dir);
  write_config(conf, 65536);
  const char *builddir = getenv("top_builddir");
  char prog[512];
  snprintf(prog, sizeof prog, "%s/daemon/hbpoold", builddir != NULL ? builddir : "..");
  /* HBPOOL_TEST_DAEMON_WRAPPER runs the daemon under a tool, e.g. "valgrind -q". */
  const char *wrapper = getenv("HBPOOL_TEST_DAEMON_WRAPPER");
  char command[1024];
  snprintf(command, sizeof command, "exec %s %s -c %s", wrapper != NULL ? wrapper : "", prog, conf);
  g_daemon = fork();
  if (g_daemon == 0) {
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400; i++) {
    if (access(g_socket, F_OK) == 0)
      return true;
    sleep_ms(50);
  }
  fprintf(stderr, "test_daemon: hbpoold (%s) did not create %s\n", prog, g_socket);
  return false;
}

static int stop_daemon(void) {
  kill(g_daemon, SIGTERM);
  int status = 0;
  while (waitpid(g_daemon, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static const char *g_table = "t";

static json_t *params_table(void) {
  return json_pack("{s:s}", "table", g_table);
}

static void setup(void) {
  ok("create_table",
     json_pack("{s:s,s:{s:{s:i},s:{}}}", "table", g_table, "families", "cf", "max_versions", 5,
               "cg"));
}

static void teardown(void) {
  json_decref(ok("delete_table", json_pack("{s:s,s:b}", "table", g_table, "disable", 1)));
}

/* ---------------------------------------------------------------------------------------------
 * Tests. */

START_TEST(test_ping_version_stats) {
  expect_json(ok("ping", NULL), "\"pong\"");
  json_t *v = ok("version", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(v, "version")), PACKAGE_VERSION);
  json_decref(v);
  json_t *st = ok("stats", NULL);
  json_t *pool = json_object_get(st, "pool");
  ck_assert_int_eq(json_integer_value(json_object_get(pool, "size")), 4);
  ck_assert(json_is_true(json_object_get(pool, "gateway_up")));
  ck_assert_int_ge(json_integer_value(json_object_get(json_object_get(st, "clients"), "connected")),
                   1);
  json_decref(st);
}
END_TEST

START_TEST(test_admin) {
  json_t *tables = ok("tables", NULL);
  bool found = false;
  for (size_t i = 0; i < json_array_size(tables); i++)
    found |= strcmp(json_string_value(json_array_get(tables, i)), g_table) == 0;
  ck_assert_msg(found, "tables() lacks %s (with the prefix stripped)", g_table);
  json_decref(tables);
  json_t *fams = ok("families", params_table());
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(fams, "cf"), "max_versions")),
                   5);
  ck_assert_str_eq(json_string_value(json_object_get(json_object_get(fams, "cg"), "name")), "cg:");
  json_decref(fams);
  expect_json(ok("is_table_enabled", params_table()), "true");
  expect_json(ok("disable_table", params_table()), "null");
  expect_json(ok("is_table_enabled", params_table()), "false");
  expect_json(ok("enable_table", params_table()), "null");
  json_t *regions = ok("regions", params_table());
  ck_assert_int_eq(json_array_size(regions), 1);
  ck_assert_str_eq(json_string_value(json_object_get(json_array_get(regions, 0), "start_key")), "");
  json_decref(regions);
  expect_json(ok("compact_table", json_pack("{s:s,s:b}", "table", g_table, "major", 1)), "null");
  json_decref(fails("create_table", json_pack("{s:s,s:{s:{}}}", "table", g_table, "families", "cf"),
                    -32003));
  json_decref(fails("families", json_pack("{s:s}", "table", "no_such_table"), -32001));
}
END_TEST

START_TEST(test_put_row_rows_cells) {
  expect_json(ok("put", json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "r1", "data",
                                  "cf:a", "1", "cg:b", "2")), "null");
  expect_json(ok("put", json_pack("{s:s,s:s,s:{s:s},s:I}", "table", g_table, "row", "r2", "data",
                                  "cf:a", "old", "timestamp", (json_int_t)100)), "null");
  expect_json(ok("put", json_pack("{s:s,s:s,s:{s:s},s:I}", "table", g_table, "row", "r2", "data",
                                  "cf:a", "new", "timestamp", (json_int_t)200)), "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "r1")),
              "{\"cf:a\":\"1\",\"cg:b\":\"2\"}");
  expect_json(ok("row", json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "r1", "columns", "cg")),
              "{\"cg:b\":\"2\"}");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "missing")), "{}");
  /* A read timestamp is exclusive: cells older than it. */
  expect_json(ok("row", json_pack("{s:s,s:s,s:I,s:b}", "table", g_table, "row", "r2", "timestamp",
                                  (json_int_t)200, "include_timestamp", 1)),
              "{\"cf:a\":[\"old\",100]}");
  expect_json(ok("rows", json_pack("{s:s,s:[s,s,s]}", "table", g_table, "rows", "r1", "missing",
                                   "r2")),
              "[[\"r1\",{\"cf:a\":\"1\",\"cg:b\":\"2\"}],[\"r2\",{\"cf:a\":\"new\"}]]");
  expect_json(ok("rows", json_pack("{s:s,s:[s,s],s:I}", "table", g_table, "rows", "r1", "r2",
                                   "timestamp", (json_int_t)150)),
              "[[\"r2\",{\"cf:a\":\"old\"}]]");
  expect_json(ok("cells", json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "r2", "column",
                                    "cf:a")), "[\"new\",\"old\"]");
  expect_json(ok("cells", json_pack("{s:s,s:s,s:s,s:i,s:b}", "table", g_table, "row", "r2",
                                    "column", "cf:a", "versions", 1, "include_timestamp", 1)),
              "[[\"new\",200]]");
  json_decref(fails("cells", json_pack("{s:s,s:s,s:s,s:i}", "table", g_table, "row", "r2",
                                       "column", "cf:a", "versions", 0), -32602));
}
END_TEST

START_TEST(test_delete) {
  ok("put", json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "table", g_table, "row", "d", "data", "cf:a",
                      "1", "cf:b", "2", "cg:c", "3"));
  expect_json(ok("delete", json_pack("{s:s,s:s,s:[s]}", "table", g_table, "row", "d", "columns",
                                     "cf:a")), "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "d")),
              "{\"cf:b\":\"2\",\"cg:c\":\"3\"}");
  expect_json(ok("delete", json_pack("{s:s,s:s}", "table", g_table, "row", "d")), "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "d")), "{}");
}
END_TEST

START_TEST(test_counters_and_append) {
  json_t *p = json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "c", "column", "cf:n");
  expect_json(ok("counter_get", json_deep_copy(p)), "0");
  json_object_set_new(p, "value", json_integer(5));
  expect_json(ok("counter_inc", json_deep_copy(p)), "5");
  json_object_set_new(p, "value", json_integer(2));
  expect_json(ok("counter_dec", json_deep_copy(p)), "3");
  json_object_set_new(p, "value", json_integer(-42));
  expect_json(ok("counter_set", json_deep_copy(p)), "null");
  json_object_del(p, "value");
  expect_json(ok("counter_get", p), "-42");
  /* The counter is 8-byte big-endian: read it back as base64. */
  expect_json(ok("row", json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "Yw==", "encoding",
                                  "base64")),
              "{\"Y2Y6bg==\":\"/////////9Y=\"}");
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "ap", "data", "cf:x", "ab"));
  expect_json(ok("append", json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "ap",
                                     "data", "cf:x", "cd", "cf:y", "new")),
              "{\"cf:x\":\"abcd\",\"cf:y\":\"new\"}");
}
END_TEST

START_TEST(test_binary_data_and_encoding_errors) {
  /* row \x00\xff, column cf:\x01, value \xff\xfe\x00 */
  ok("put", json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", g_table, "encoding", "base64", "row", "AP8=",
                      "data", "Y2Y6AQ==", "//4A"));
  expect_json(ok("row", json_pack("{s:s,s:s,s:s}", "table", g_table, "encoding", "base64", "row",
                                   "AP8=")),
              "{\"Y2Y6AQ==\":\"//4A\"}");
  json_t *err = fails("row", json_pack("{s:s,s:s,s:s}", "table", g_table, "encoding", "base64",
                                       "row", "not base64!"), -32007);
  json_decref(err);
  ok("put", json_pack("{s:s,s:s,s:s,s:{s:s}}", "table", g_table, "encoding", "base64", "row",
                      "YmFk", "data", "Y2Y6dg==", "gA=="));
  err = fails("row", json_pack("{s:s,s:s}", "table", g_table, "row", "bad"), -32007);
  const char *msg = json_string_value(json_object_get(err, "message"));
  ck_assert_msg(strstr(msg, "bad") != NULL && strstr(msg, "cf:v") != NULL &&
                strstr(msg, "base64") != NULL, "message: %s", msg);
  json_decref(err);
}
END_TEST

START_TEST(test_protocol_errors) {
  conn *c = conn_open();
  conn_send(c, "this is not json\n");
  json_t *r = conn_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32700);
  ck_assert(json_is_null(json_object_get(r, "id")));
  json_decref(r);
  conn_send(c, "{\"id\":1,\"method\":\"ping\"}\n");
  r = conn_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32600);
  json_decref(r);
  conn_send(c, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"}\n");
  r = conn_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32601);
  ck_assert_str_eq(json_string_value(json_object_get(r, "id")), "x");
  json_decref(r);
  /* The connection still serves after all that. */
  json_t *pong = call_on(c, "ping", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(pong, "result")), "pong");
  json_decref(pong);
  conn_close(c);
  json_t *e = fails("row", json_pack("{s:i,s:s}", "table", 5, "row", "r"), -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "table"));
  json_decref(e);
  e = fails("row", json_pack("{s:s,s:s,s:i}", "table", g_table, "row", "r", "colums", 1), -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "colums"));
  json_decref(e);
}
END_TEST

START_TEST(test_pipelining_and_batches) {
  conn *c = conn_open();
  enum { N = 200 };
  char line[256];
  for (int i = 0; i < N; i++) {
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"put\",\"params\":{\"table\":\"%s\","
             "\"row\":\"p%d\",\"data\":{\"cf:a\":\"v%d\"}}}\n", i, g_table, i, i);
    conn_send(c, line);
  }
  bool seen[N] = {false};
  for (int i = 0; i < N; i++) {
    json_t *r = conn_json(c);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert(id >= 0 && id < N && !seen[id]);
    ck_assert_ptr_null(json_object_get(r, "error"));
    seen[id] = true;
    json_decref(r);
  }
  snprintf(line, sizeof line,
           "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"p7\"}},{\"jsonrpc\":\"2.0\",\"method\":\"ping\"},"
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}]\n", g_table);
  conn_send(c, line);
  json_t *b = conn_json(c);
  ck_assert(json_is_array(b));
  ck_assert_int_eq(json_array_size(b), 2);
  json_decref(b);
  conn_close(c);
}
END_TEST

START_TEST(test_long_line_closes_only_that_client) {
  conn *bystander = conn_open();
  conn *c = conn_open();
  char *big = malloc(200000);
  memset(big, 'x', 199999);
  big[199999] = '\0';
  peer_write_all(c->fd, big, 199999); /* may fail once the daemon closes: that is fine */
  json_t *r = conn_json(c);
  ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(r, "error"), "code")), -32008);
  json_decref(r);
  ck_assert_ptr_null(conn_line(c, 2000)); /* closed */
  json_t *pong = call_on(bystander, "ping", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(pong, "result")), "pong");
  json_decref(pong);
  free(big);
  conn_close(c);
  conn_close(bystander);
}
END_TEST

/* Scans every page of a scan, following "next"; returns the keys joined with ','. */
static char *scan_keys(json_t *params) {
  char *keys = calloc(1, 4096);
  for (int page = 0; params != NULL && page < 20; page++) {
    json_t *res = ok("scan", params);
    json_t *rows = json_object_get(res, "rows");
    ck_assert_int_le(json_array_size(rows), 7); /* scan_max_rows */
    for (size_t i = 0; i < json_array_size(rows); i++) {
      strcat(keys, json_string_value(json_array_get(json_array_get(rows, i), 0)));
      strcat(keys, ",");
    }
    json_t *next = json_object_get(res, "next");
    params = json_is_null(next) ? NULL : json_incref(next);
    json_decref(res);
  }
  ck_assert_ptr_null(params);
  return keys;
}

START_TEST(test_scan) {
  const char *keys[] = {"r9", "s", "s00", "s01", "s02", "s03", "s04", "s05", "s06", "s07", "s08",
                        "s09", "s10", "s11", "t"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    ok("put", json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", keys[i], "data", "cf:b",
                        keys[i], "cf:a", "x"));
  char *got = scan_keys(json_pack("{s:s,s:s}", "table", g_table, "row_prefix", "s"));
  ck_assert_str_eq(got, "s,s00,s01,s02,s03,s04,s05,s06,s07,s08,s09,s10,s11,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s,s:b}", "table", g_table, "row_prefix", "s", "reverse", 1));
  ck_assert_str_eq(got, "s11,s10,s09,s08,s07,s06,s05,s04,s03,s02,s01,s00,s,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s,s:s,s:i}", "table", g_table, "row_start", "s05", "row_stop",
                            "t", "limit", 3));
  ck_assert_str_eq(got, "s05,s06,s07,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:i}", "table", g_table, "limit", 9));
  ck_assert_str_eq(got, "r9,s,s00,s01,s02,s03,s04,s05,s06,");
  free(got);
  got = scan_keys(json_pack("{s:s,s:s}", "table", g_table, "filter", "PrefixFilter('s1')"));
  ck_assert_str_eq(got, "s10,s11,");
  free(got);
  expect_json(ok("scan", json_pack("{s:s,s:s,s:s,s:[s],s:b}", "table", g_table, "row_start", "s05",
                                   "row_stop", "s06", "columns", "cf:b", "sorted_columns", 1)),
              "{\"rows\":[[\"s05\",[[\"cf:b\",\"s05\"]]]],\"next\":null}");
  json_t *res = ok("scan", json_pack("{s:s,s:s,s:s,s:b}", "table", g_table, "row_start", "t",
                                      "row_stop", "u", "include_timestamp", 1));
  json_t *cell = json_object_get(json_array_get(json_array_get(json_object_get(res, "rows"), 0), 1),
                                 "cf:a");
  ck_assert(json_is_array(cell) && json_is_integer(json_array_get(cell, 1)));
  json_decref(res);
  json_decref(fails("scan", json_pack("{s:s,s:i}", "table", g_table, "batch_size", 0), -32602));
  json_decref(fails("scan", json_pack("{s:s,s:s,s:s}", "table", g_table, "row_prefix", "s",
                                      "row_stop", "t"), -32602));
}
END_TEST

START_TEST(test_batch) {
  ok("put", json_pack("{s:s,s:s,s:{s:s,s:s}}", "table", g_table, "row", "b1", "data", "cf:old", "x",
                      "cg:keep", "y"));
  json_t *ops = json_pack(
    "[{s:s,s:s,s:{s:s}},{s:s,s:s,s:[s]},{s:s,s:s,s:{s:s}},{s:s,s:s},{s:s,s:s,s:{s:s}},"
    "{s:s,s:s,s:s,s:i},{s:s,s:s,s:s},{s:s,s:s,s:s,s:i},{s:s,s:s,s:{s:s}},{s:s,s:s,s:{s:s}}]",
    /* a delete of a family, then a put to it: both take effect, in order */
    "op", "put", "row", "b1", "data", "cf:a", "1",
    "op", "delete", "row", "b1", "columns", "cf",
    "op", "put", "row", "b1", "data", "cf:b", "2",
    /* a whole-row delete, then a put */
    "op", "delete", "row", "b2",
    "op", "put", "row", "b2", "data", "cf:c", "3",
    "op", "counter_inc", "row", "b3", "column", "cf:n", "value", 5,
    "op", "counter_inc", "row", "b3", "column", "cf:n",
    "op", "counter_dec", "row", "b3", "column", "cf:n", "value", 2,
    /* the same cell twice: the last wins */
    "op", "put", "row", "b4", "data", "cf:d", "first",
    "op", "put", "row", "b4", "data", "cf:d", "last");
  expect_json(ok("batch", json_pack("{s:s,s:o,s:i}", "table", g_table, "operations", ops,
                                    "batch_size", 2)), "null");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b1")),
              "{\"cf:b\":\"2\",\"cg:keep\":\"y\"}");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b2")), "{\"cf:c\":\"3\"}");
  expect_json(ok("counter_get", json_pack("{s:s,s:s,s:s}", "table", g_table, "row", "b3", "column",
                                          "cf:n")), "4");
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "b4")), "{\"cf:d\":\"last\"}");
  /* A timestamp and wal apply to the whole batch. */
  expect_json(ok("batch", json_pack("{s:s,s:[{s:s,s:s,s:{s:s}}],s:I,s:b}", "table", g_table,
                                    "operations", "op", "put", "row", "b5", "data", "cf:t", "v",
                                    "timestamp", (json_int_t)1234, "wal", 0)), "null");
  expect_json(ok("cells", json_pack("{s:s,s:s,s:s,s:b}", "table", g_table, "row", "b5", "column",
                                    "cf:t", "include_timestamp", 1)), "[[\"v\",1234]]");
  json_t *e = fails("batch", json_pack("{s:s,s:[{s:s,s:s}]}", "table", g_table, "operations", "op",
                                       "upsert", "row", "x"), -32602);
  ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e, "message")), "operations"));
  json_decref(e);
}
END_TEST

static int error_code(json_t *reply) {
  return (int)json_integer_value(json_object_get(json_object_get(reply, "error"), "code"));
}

START_TEST(test_garbage_nul_and_deep_nesting) {
  conn *c = conn_open();
  static const char garbage[] = "\x01\x02\xff\xfe{\"a\x00\":1}\x80\n";
  ck_assert_int_eq(peer_write_all(c->fd, garbage, sizeof garbage - 1), 0);
  json_t *r = conn_json(c);
  ck_assert_int_eq(error_code(r), -32700);
  json_decref(r);
  char *deep = malloc(60002);
  memset(deep, '[', 30000);
  memset(deep + 30000, ']', 30000);
  deep[60000] = '\n';
  deep[60001] = '\0';
  conn_send(c, deep);
  free(deep);
  r = conn_json(c);
  ck_assert_int_eq(error_code(r), -32700);
  json_decref(r);
  /* A NUL inside a JSON string is data, not the end of it. */
  conn_send(c, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\\u0000\"}\n");
  r = conn_json(c);
  ck_assert_int_ne(error_code(r), 0);
  json_decref(r);
  json_t *pong = call_on(c, "ping", NULL);
  ck_assert_str_eq(json_string_value(json_object_get(pong, "result")), "pong");
  json_decref(pong);
  conn_close(c);
}
END_TEST

/* Every parameter of row, given the wrong type, is named in the error. */
START_TEST(test_wrong_types_name_the_parameter) {
  static const char *const cases[][2] = {
    {"table", "5"}, {"row", "{}"}, {"columns", "\"cf\""}, {"timestamp", "\"now\""},
    {"include_timestamp", "1"}, {"use_prefix", "\"yes\""}, {"encoding", "\"latin1\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    json_t *params = json_pack("{s:s,s:s}", "table", g_table, "row", "r1");
    json_error_t je;
    json_object_set_new(params, cases[i][0], json_loads(cases[i][1], JSON_DECODE_ANY, &je));
    json_t *e = fails("row", params, -32602);
    const char *msg = json_string_value(json_object_get(e, "message"));
    ck_assert_msg(strstr(msg, cases[i][0]) != NULL, "%s: message does not name it: %s",
                  cases[i][0], msg);
    json_decref(e);
  }
}
END_TEST

/* A client that sends half a line and stalls holds up nobody, and is served once it finishes. */
START_TEST(test_half_line_stalls_nobody) {
  conn *slow = conn_open();
  conn_send(slow, "{\"jsonrpc\":\"2.0\",\"id\":1,");
  expect_json(ok("ping", NULL), "\"pong\"");
  conn_send(slow, "\"method\":\"ping\"}\n");
  json_t *r = conn_json(slow);
  ck_assert_str_eq(json_string_value(json_object_get(r, "result")), "pong");
  json_decref(r);
  conn_close(slow);
}
END_TEST

/* A client that does not read its replies is paused (bounded memory), others go on, and once it
 * reads it gets every reply. */
START_TEST(test_client_that_does_not_read) {
  char value[4001];
  memset(value, 'v', 4000);
  value[4000] = '\0';
  ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "big", "data", "cf:v", value));
  conn *lazy = conn_open();
  enum { N = 200 }; /* 200 replies of ~4 KB: far beyond the 64 KiB output limit */
  char line[256];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"big\"}}\n", g_table);
  for (int i = 0; i < N; i++)
    conn_send(lazy, line);
  sleep_ms(500);
  expect_json(ok("ping", NULL), "\"pong\"");
  for (int i = 0; i < N; i++) {
    json_t *r = conn_json(lazy);
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(json_object_get(r, "result") != NULL, "reply %d: %.300s", i, text);
    free(text);
    json_decref(r);
  }
  conn_close(lazy);
}
END_TEST

static json_t *next_rows(conn *c, json_int_t scanner, int count) {
  json_t *r = call_on(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", scanner, "count", count));
  json_t *res = json_incref(json_object_get(r, "result"));
  char *text = json_dumps(r, JSON_COMPACT);
  ck_assert_msg(res != NULL, "scanner_next failed: %s", text);
  free(text);
  json_decref(r);
  return res;
}

static char *keys_of(json_t *res) {
  char *keys = calloc(1, 1024);
  json_t *rows = json_object_get(res, "rows");
  for (size_t i = 0; i < json_array_size(rows); i++) {
    strcat(keys, json_string_value(json_array_get(json_array_get(rows, i), 0)));
    strcat(keys, ",");
  }
  json_decref(res);
  return keys;
}

static json_int_t open_scanner(conn *c) {
  for (int i = 0; i < 10; i++) {
    char row[8];
    snprintf(row, sizeof row, "k%d", i);
    ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", row, "data", "cf:a", row));
  }
  json_t *r = call_on(c, "scanner_open", json_pack("{s:s,s:s,s:i}", "table", g_table, "row_prefix",
                                                   "k", "batch_size", 3));
  json_int_t id = json_integer_value(json_object_get(json_object_get(r, "result"), "scanner"));
  ck_assert_int_gt(id, 0);
  json_decref(r);
  return id;
}

static json_int_t open_scanners(void) {
  json_t *st = ok("stats", NULL);
  json_int_t n = json_integer_value(json_object_get(st, "scanners"));
  json_decref(st);
  return n;
}

START_TEST(test_scanner_open_next_close) {
  conn *c = conn_open();
  json_int_t id = open_scanner(c);
  char *k = keys_of(next_rows(c, id, 3));
  ck_assert_str_eq(k, "k0,k1,k2,");
  free(k);
  k = keys_of(next_rows(c, id, 4));
  ck_assert_str_eq(k, "k3,k4,k5,k6,");
  free(k);
  /* Another connection cannot use it. */
  json_decref(fails("scanner_next", json_pack("{s:I}", "scanner", id), -32602));
  /* Pipelined calls on one scanner are served one after the other, in order. */
  char line[160];
  for (int i = 1; i <= 3; i++) {
    snprintf(line, sizeof line, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"scanner_next\","
             "\"params\":{\"scanner\":%lld,\"count\":1}}\n", 1000 + i, (long long)id);
    conn_send(c, line);
  }
  char got[3][8];
  for (int i = 0; i < 3; i++) {
    json_t *r = conn_json(c);
    int slot = (int)json_integer_value(json_object_get(r, "id")) - 1001;
    ck_assert(slot >= 0 && slot < 3);
    json_t *rows = json_object_get(json_object_get(r, "result"), "rows");
    ck_assert_int_eq(json_array_size(rows), 1);
    snprintf(got[slot], sizeof got[slot], "%s",
             json_string_value(json_array_get(json_array_get(rows, 0), 0)));
    json_decref(r);
  }
  ck_assert_str_eq(got[0], "k7");
  ck_assert_str_eq(got[1], "k8");
  ck_assert_str_eq(got[2], "k9");
  json_t *last = next_rows(c, id, 5);
  ck_assert(json_is_true(json_object_get(last, "done")));
  json_decref(last);
  json_t *r = call_on(c, "scanner_close", json_pack("{s:I}", "scanner", id));
  ck_assert(json_is_null(json_object_get(r, "result")));
  json_decref(r);
  r = call_on(c, "scanner_next", json_pack("{s:I}", "scanner", id));
  ck_assert_int_eq(error_code(r), -32602);
  json_decref(r);
  conn_close(c);
}
END_TEST

/* The gateway forgets an unused scanner; the daemon reopens it after the last row returned. */
START_TEST(test_scanner_survives_gateway_expiry) {
  conn *c = conn_open();
  json_int_t id = open_scanner(c);
  char *k = keys_of(next_rows(c, id, 4));
  ck_assert_str_eq(k, "k0,k1,k2,k3,");
  free(k);
  json_t *st = ok("stats", NULL);
  json_int_t reopens = json_integer_value(json_object_get(st, "scanner_reopens"));
  json_decref(st);
  sleep_ms(g_scanner_expiry_ms + 1000); /* past the gateway's expiry, within the daemon's */
  json_t *r = call_on(c, "scanner_next", json_pack("{s:I,s:i}", "scanner", id, "count", 10));
  k = keys_of(json_incref(json_object_get(r, "result")));
  ck_assert_str_eq(k, "k4,k5,k6,k7,k8,k9,");
  free(k);
  st = ok("stats", NULL);
  ck_assert_int_eq(json_integer_value(json_object_get(st, "scanner_reopens")), reopens + 1);
  json_decref(st);
  json_decref(r);
  conn_close(c);
}
END_TEST

START_TEST(test_scanners_closed_with_their_client_and_when_idle) {
  json_int_t before = open_scanners();
  conn *c = conn_open();
  open_scanner(c);
  ck_assert_int_eq(open_scanners(), before + 1);
  conn_close(c);
  int64_t t0 = mono_ms();
  while (open_scanners() != before && mono_ms() - t0 < 5000)
    sleep_ms(50);
  ck_assert_int_eq(open_scanners(), before);
  c = conn_open();
  json_int_t id = open_scanner(c);
  sleep_ms(g_scanner_idle_ms + 500);
  json_t *r = call_on(c, "scanner_next", json_pack("{s:I}", "scanner", id));
  ck_assert_int_eq(error_code(r), -32602);
  json_decref(r);
  ck_assert_int_eq(open_scanners(), before);
  conn_close(c);
}
END_TEST

/* A pool left idle past the gateway's idle limit serves the next request without an error. */
START_TEST(test_idle_pool_serves_without_error) {
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "nothing")), "{}");
  sleep_ms(g_idle_timeout_ms + 1000);
  expect_json(ok("row", json_pack("{s:s,s:s}", "table", g_table, "row", "nothing")), "{}");
  expect_json(ok("put", json_pack("{s:s,s:s,s:{s:s}}", "table", g_table, "row", "w", "data", "cf:a",
                                  "1")), "null");
}
END_TEST

/* echo '...' | socat: the client shuts down its side first, and still gets every reply, also to
 * a last request without its newline. */
START_TEST(test_half_closed_client_gets_its_replies) {
  conn *c = conn_open();
  char line[256];
  snprintf(line, sizeof line,
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tables\"}\n"
           "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"row\",\"params\":{\"table\":\"%s\","
           "\"row\":\"x\"}}", g_table);
  conn_send(c, line);
  shutdown(c->fd, SHUT_WR);
  int seen = 0;
  for (int i = 0; i < 2; i++) {
    json_t *r = conn_json(c);
    seen |= (int)json_integer_value(json_object_get(r, "id"));
    ck_assert_ptr_nonnull(json_object_get(r, "result"));
    json_decref(r);
  }
  ck_assert_int_eq(seen, 3);
  ck_assert_ptr_null(conn_line(c, 5000)); /* then the daemon closes */
  conn_close(c);
}
END_TEST

static Suite *daemon_suite(void) {
  Suite *s = suite_create("hbpoold");
  TCase *tc = tcase_create("api");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_ping_version_stats);
  tcase_add_test(tc, test_admin);
  tcase_add_test(tc, test_put_row_rows_cells);
  tcase_add_test(tc, test_delete);
  tcase_add_test(tc, test_counters_and_append);
  tcase_add_test(tc, test_scan);
  tcase_add_test(tc, test_batch);
  tcase_add_test(tc, test_scanner_open_next_close);
  tcase_add_test(tc, test_scanner_survives_gateway_expiry);
  tcase_add_test(tc, test_scanners_closed_with_their_client_and_when_idle);
  tcase_add_test(tc, test_idle_pool_serves_without_error);
  tcase_add_test(tc, test_binary_data_and_encoding_errors);
  tcase_add_test(tc, test_protocol_errors);
  tcase_add_test(tc, test_pipelining_and_batches);
  tcase_add_test(tc, test_long_line_closes_only_that_client);
  tcase_add_test(tc, test_garbage_nul_and_deep_nesting);
  tcase_add_test(tc, test_wrong_types_name_the_parameter);
  tcase_add_test(tc, test_half_line_stalls_nobody);
  tcase_add_test(tc, test_half_closed_client_gets_its_replies);
  tcase_add_test(tc, test_client_that_does_not_read);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!gateway_env_load(&g_gateway, "test_daemon"))
    return 2;
  const char *idle = getenv("HBPOOL_TEST_IDLE_TIMEOUT_MS");
  const char *expiry = getenv("HBPOOL_TEST_SCANNER_EXPIRY_MS");
  g_idle_timeout_ms = idle != NULL && *idle ? atoi(idle) : 60000;        /* gateway defaults */
  g_scanner_expiry_ms = expiry != NULL && *expiry ? atoi(expiry) : 120000;
  g_refresh_ms = g_idle_timeout_ms / 2 < 1000 ? 1000 : g_idle_timeout_ms / 2;
  g_scanner_idle_ms = 2 * g_scanner_expiry_ms;
  signal(SIGPIPE, SIG_IGN);
  snprintf(g_dir, sizeof g_dir, "/tmp/hbpoold-test.XXXXXX");
  if (mkdtemp(g_dir) == NULL)
    return 2;
  snprintf(g_socket, sizeof g_socket, "%s/hbpoold.sock", g_dir);
  snprintf(g_prefix, sizeof g_prefix, "it%d", (int)getpid());
  if (!start_daemon())
    return 1;
  SRunner *sr = srunner_create(daemon_suite());
  srunner_set_fork_status(sr, CK_NOFORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  int rc = stop_daemon();
  printf("hbpoold exited with status %d after SIGTERM\n", rc);
  char path[128];
  snprintf(path, sizeof path, "%s/hbpoold.conf", g_dir);
  unlink(path);
  rmdir(g_dir);
  return failed == 0 && rc == 0 ? 0 : 1;
}
