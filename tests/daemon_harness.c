/* daemon_harness: hbpoold from the build, and a JSON-RPC line client for it (see the header). */
#include "daemon_harness.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"

/* Replies larger than this are a daemon bug as far as the tests go. */
#define DH_MAX_INPUT ((size_t)256 << 20)

static json_int_t g_next_id;

/* ---------------------------------------------------------------------------------------------
 * The daemon. */

const char *dh_transport(const hbc_options *gw) {
  return gw->http ? "http" : gw->framed ? "framed" : "buffered";
}

static bool write_config(const dh_daemon *d, const hbc_options *gw, const char *daemon_keys,
                         const char *gateway_keys) {
  FILE *f = fopen(d->conf, "w");
  if (f == NULL)
    return false;
  fprintf(f,
          "[daemon]\nlisten_socket = %s\nlog_level = warning\n%s\n[gateway]\nhost = %s\n"
          "port = %d\ntransport = %s\nprotocol = %s\n%s",
          d->socket, daemon_keys, gw->host, gw->port, dh_transport(gw),
          gw->protocol == HBC_PROTOCOL_COMPACT ? "compact" : "binary", gateway_keys);
  return fclose(f) == 0;
}

/* Waits up to 20 s for the socket; false if the daemon exits first or never makes it. */
static bool wait_for_socket(dh_daemon *d) {
  for (int i = 0; i < 400; i++) {
    if (access(d->socket, F_OK) == 0)
      return true;
    int status;
    if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
      d->pid = 0;
      return false;
    }
    sleep_ms(50);
  }
  return false;
}

/* Runs $top_builddir/daemon/hbpoold -c d->conf (under $HBPOOL_TEST_DAEMON_WRAPPER, e.g.
 * "valgrind -q"); d->pid 0 if it could not fork. */
static void spawn(dh_daemon *d) {
  const char *builddir = getenv("top_builddir");
  const char *wrapper = getenv("HBPOOL_TEST_DAEMON_WRAPPER");
  char command[1024];
  snprintf(command, sizeof command, "exec %s %s/daemon/hbpoold -c %s",
           wrapper != NULL ? wrapper : "", builddir != NULL ? builddir : "..", d->conf);
  fflush(NULL);
  d->pid = fork();
  if (d->pid < 0)
    d->pid = 0;
  if (d->pid == 0) {
    execl("/bin/sh", "sh", "-c", command, (char *)NULL);
    _exit(127);
  }
}

bool dh_start(dh_daemon *d, const char *prog, const hbc_options *gw, const char *daemon_keys,
              const char *gateway_keys) {
  memset(d, 0, sizeof *d);
  snprintf(d->dir, sizeof d->dir, "/tmp/hbpoold-test.XXXXXX");
  if (mkdtemp(d->dir) == NULL) {
    fprintf(stderr, "%s: mkdtemp: %s\n", prog, strerror(errno));
    return false;
  }
  snprintf(d->conf, sizeof d->conf, "%s/hbpoold.conf", d->dir);
  snprintf(d->socket, sizeof d->socket, "%s/hbpoold.sock", d->dir);
  if (!write_config(d, gw, daemon_keys, gateway_keys)) {
    fprintf(stderr, "%s: cannot write %s\n", prog, d->conf);
    return false;
  }
  spawn(d);
  if (d->pid > 0 && wait_for_socket(d)) {
    /* The daemon promises that its socket file appears only once it accepts connections. */
    dh_conn *c = dh_try_connect(d);
    if (c != NULL) {
      dh_close(c);
      return true;
    }
    fprintf(stderr, "%s: %s exists but refuses connections: %s\n", prog, d->socket,
            strerror(errno));
    dh_stop(d);
    return false;
  }
  fprintf(stderr, "%s: hbpoold -c %s did not create %s\n", prog, d->conf, d->socket);
  dh_stop(d);
  return false;
}

bool dh_restart(dh_daemon *d) {
  spawn(d);
  for (int i = 0; i < 400 && d->pid > 0; i++) {
    dh_conn *c = dh_try_connect(d);
    if (c != NULL) {
      dh_close(c);
      return true;
    }
    int status;
    if (waitpid(d->pid, &status, WNOHANG) == d->pid)
      d->pid = 0;
    sleep_ms(50);
  }
  return false;
}

int dh_stop(dh_daemon *d) {
  int status = 0;
  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR) {
    }
    d->pid = 0;
  }
  unlink(d->socket);
  unlink(d->conf);
  rmdir(d->dir);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

long dh_status_kb(const dh_daemon *d, const char *field) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  long kb = -1;
  size_t n = strlen(field);
  while (kb < 0 && fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, field, n) == 0 && line[n] == ':')
      kb = strtol(line + n + 1, NULL, 10);
  }
  fclose(f);
  return kb;
}

int dh_free_tcp_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  int port = -1;
  if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
    port = ntohs(sa.sin_port);
  if (fd >= 0)
    close(fd);
  return port;
}

/* ---------------------------------------------------------------------------------------------
 * Connections. */

static dh_conn *conn_of(int fd, const struct sockaddr *sa, socklen_t len) {
  if (fd < 0)
    return NULL;
  if (connect(fd, sa, len) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return NULL;
  }
  dh_conn *c = calloc(1, sizeof *c);
  c->fd = fd;
  return c;
}

dh_conn *dh_try_connect(const dh_daemon *d) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", d->socket);
  return conn_of(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), (struct sockaddr *)&sa, sizeof sa);
}

dh_conn *dh_try_connect_tcp(int port) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  return conn_of(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), (struct sockaddr *)&sa, sizeof sa);
}

dh_conn *dh_connect(const dh_daemon *d) {
  dh_conn *c = dh_try_connect(d);
  ck_assert_msg(c != NULL, "connect %s: %s", d->socket, strerror(errno));
  return c;
}

void dh_close(dh_conn *c) {
  if (c == NULL)
    return;
  close(c->fd);
  free(c->buf);
  free(c);
}

int dh_write(dh_conn *c, const char *data, size_t len) {
  return peer_write_all(c->fd, data, len);
}

void dh_send(dh_conn *c, const char *text) {
  ck_assert_msg(dh_write(c, text, strlen(text)) == 0, "send to hbpoold: %s", strerror(errno));
}

ssize_t dh_fill(dh_conn *c) {
  if (c->cap - c->len < 65536) {
    if (c->cap >= DH_MAX_INPUT) {
      errno = EMSGSIZE;
      return -1;
    }
    c->cap = c->cap == 0 ? 131072 : c->cap * 2;
    c->buf = realloc(c->buf, c->cap);
  }
  ssize_t n;
  do {
    n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n > 0)
    c->len += (size_t)n;
  return n;
}

char *dh_take_line(dh_conn *c) {
  char *nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL;
  if (nl == NULL)
    return NULL;
  size_t n = (size_t)(nl - c->buf);
  char *line = malloc(n + 1);
  memcpy(line, c->buf, n);
  line[n] = '\0';
  memmove(c->buf, nl + 1, c->len - n - 1);
  c->len -= n + 1;
  return line;
}

char *dh_line(dh_conn *c, int timeout_ms) {
  int64_t deadline = mono_ms() + timeout_ms;
  for (;;) {
    char *line = dh_take_line(c);
    if (line != NULL)
      return line;
    int left = (int)(deadline - mono_ms());
    struct pollfd pf = {.fd = c->fd, .events = POLLIN};
    if (left <= 0 || poll(&pf, 1, left) <= 0)
      return NULL;
    ssize_t n = dh_fill(c);
    if (n == 0 || (n < 0 && errno != EAGAIN))
      return NULL;
  }
}

json_t *dh_json(dh_conn *c) {
  char *line = dh_line(c, 30000);
  ck_assert_msg(line != NULL, "no reply from hbpoold");
  json_error_t je;
  /* JSON_ALLOW_NUL: a value may hold a NUL byte (a counter's), "\u0000" in utf8 mode. */
  json_t *v = json_loads(line, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  ck_assert_msg(v != NULL, "reply is not JSON (%s): %.300s", je.text, line);
  free(line);
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * Calls. */

char *dh_request(json_t *id, const char *method, json_t *params) {
  json_t *req = json_pack("{s:s,s:o,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                          "params", params != NULL ? params : json_object());
  char *text = json_dumps(req, JSON_COMPACT);
  json_decref(req);
  size_t n = strlen(text);
  text = realloc(text, n + 2);
  memcpy(text + n, "\n", 2);
  return text;
}

json_t *dh_call(dh_conn *c, const char *method, json_t *params) {
  json_int_t id = ++g_next_id;
  char *line = dh_request(json_integer(id), method, params);
  dh_send(c, line);
  free(line);
  json_t *reply = dh_json(c);
  char *text = dh_text(reply);
  ck_assert_msg(json_integer_value(json_object_get(reply, "id")) == id,
                "%s: reply to id %lld "
                "expected: %.300s",
                method, (long long)id, text);
  ck_assert_msg(json_is_string(json_object_get(reply, "jsonrpc")) &&
                  strcmp(json_string_value(json_object_get(reply, "jsonrpc")), "2.0") == 0,
                "%s: not a JSON-RPC 2.0 reply: %.300s", method, text);
  free(text);
  return reply;
}

json_t *dh_result(json_t *reply, const char *method) {
  json_t *result = json_object_get(reply, "result");
  char *text = dh_text(reply);
  ck_assert_msg(json_object_get(reply, "error") == NULL && result != NULL, "%s failed: %.500s",
                method, text);
  free(text);
  json_incref(result);
  json_decref(reply);
  return result;
}

json_t *dh_error(json_t *reply, const char *method, int code) {
  json_t *err = json_object_get(reply, "error");
  char *text = dh_text(reply);
  ck_assert_msg(err != NULL, "%s should fail with %d: %.500s", method, code, text);
  ck_assert_msg(dh_error_code(reply) == code, "%s: expected code %d: %.500s", method, code, text);
  free(text);
  json_incref(err);
  json_decref(reply);
  return err;
}

json_t *dh_ok(const dh_daemon *d, const char *method, json_t *params) {
  dh_conn *c = dh_connect(d);
  json_t *reply = dh_call(c, method, params);
  dh_close(c);
  return dh_result(reply, method);
}

json_t *dh_fails(const dh_daemon *d, const char *method, json_t *params, int code) {
  dh_conn *c = dh_connect(d);
  json_t *reply = dh_call(c, method, params);
  dh_close(c);
  return dh_error(reply, method, code);
}

json_t *dh_try_call_on(dh_conn *c, const char *method, json_t *params) {
  char *line = dh_request(json_integer(++g_next_id), method, params);
  json_t *reply = NULL;
  if (dh_write(c, line, strlen(line)) == 0) {
    char *text = dh_line(c, 60000);
    json_error_t je;
    reply = text != NULL ? json_loads(text, 0, &je) : NULL;
    free(text);
  }
  free(line);
  return reply;
}

json_t *dh_try_call(const dh_daemon *d, const char *method, json_t *params) {
  dh_conn *c = dh_try_connect(d);
  if (c == NULL) {
    json_decref(params);
    return NULL;
  }
  json_t *reply = dh_try_call_on(c, method, params);
  dh_close(c);
  return reply;
}

bool dh_try_ok(const dh_daemon *d, const char *prog, const char *method, json_t *params) {
  json_t *reply = dh_try_call(d, method, params);
  bool ok = reply != NULL && json_object_get(reply, "error") == NULL;
  if (!ok) {
    char *text = reply != NULL ? dh_text(reply) : strdup("no reply");
    fprintf(stderr, "%s: %s failed: %s\n", prog, method, text);
    free(text);
  }
  json_decref(reply);
  return ok;
}

bool dh_make_kib_rows(const dh_daemon *d, const char *prog, const char *table, int rows) {
  if (!dh_try_ok(d, prog, "create_table",
                 json_pack("{s:s,s:{s:{}}}", "table", table, "families", "cf")))
    return false;
  char value[1025], row[16];
  memset(value, 'v', 1024);
  value[1024] = '\0';
  for (int from = 0; from < rows; from += 200) {
    json_t *ops = json_array();
    for (int i = from; i < from + 200 && i < rows; i++) {
      snprintf(row, sizeof row, "s%03d", i);
      json_array_append_new(ops,
                            json_pack("{s:s,s:s,s:{s:s}}", "op", "put", "row", row, "data", "cf:v",
                                      value));
    }
    if (!dh_try_ok(d, prog, "batch", json_pack("{s:s,s:o}", "table", table, "operations", ops)))
      return false;
  }
  return true;
}

int dh_pipelined(const dh_daemon *d, const char *table, const char *method, const char *tag,
                 int n) {
  dh_conn *c = dh_connect(d);
  for (int i = 0; i < n; i++) {
    char row[64];
    snprintf(row, sizeof row, "%s%d", tag, i);
    json_t *params = strcmp(method, "put") == 0
      ? json_pack("{s:s,s:s,s:{s:s}}", "table", table, "row", row, "data", "cf:a", row)
      : json_pack("{s:s,s:s}", "table", table, "row", row);
    char *line = dh_request(json_integer(i), method, params);
    dh_send(c, line);
    free(line);
  }
  bool *seen = calloc(n > 0 ? (size_t)n : 1, sizeof *seen);
  int ok = 0;
  for (int i = 0; i < n; i++) {
    json_t *r = dh_json(c);
    char *text = dh_text(r);
    json_int_t id = json_integer_value(json_object_get(r, "id"));
    ck_assert_msg(id >= 0 && id < n && !seen[id], "a reply to no request sent: %.300s", text);
    seen[id] = true;
    if (json_object_get(r, "error") == NULL)
      ok++;
    else
      printf("%s %s%lld failed: %.300s\n", method, tag, (long long)id, text);
    free(text);
    json_decref(r);
  }
  free(seen);
  dh_close(c);
  return ok;
}

int dh_error_code(const json_t *reply) {
  return (int)json_integer_value(json_object_get(json_object_get(reply, "error"), "code"));
}

void dh_expect_json(json_t *got, const char *want) {
  json_error_t je;
  json_t *w = json_loads(want, JSON_DECODE_ANY, &je);
  ck_assert_msg(w != NULL, "bad expectation %s", want);
  char *g = dh_text(got);
  ck_assert_msg(json_equal(got, w), "got %.500s, expected %s", g, want);
  free(g);
  json_decref(w);
  json_decref(got);
}

char *dh_text(const json_t *v) {
  char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  return text != NULL ? text : strdup("(null)");
}
