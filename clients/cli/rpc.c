/* rpc: a JSON-RPC line client of hbpoold over its Unix socket, with a deadline on every wait. */
#include "rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RPC_READ_CHUNK 65536

static void rpc_fail(char *err, size_t errlen, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static void rpc_fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static long long rpc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or deadline (ms, -1: none) passes: 1 ready, 0 timed out,
 * -1 error. */
static int rpc_wait(int fd, short events, long long deadline) {
  for (;;) {
    int wait_ms = -1;
    if (deadline >= 0) {
      long long left = deadline - rpc_now_ms();
      if (left <= 0)
        return 0;
      wait_ms = left > 1000000 ? 1000000 : (int)left;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, wait_ms);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

static long long rpc_deadline(const rpc_conn *c) {
  return c->timeout_ms > 0 ? rpc_now_ms() + c->timeout_ms : -1;
}

int rpc_connect(rpc_conn *c, const char *path, int timeout_ms, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->timeout_ms = timeout_ms;
  c->next_id = 1;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) {
    rpc_fail(err, errlen, "%s: socket path too long", path);
    return -1;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    rpc_fail(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  /* A Unix socket connects at once or fails, except with EAGAIN while the daemon's listen queue
   * is full (it is busy accepting): then try again until the deadline. */
  long long deadline = rpc_deadline(c);
  while (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN || (deadline >= 0 && rpc_now_ms() >= deadline)) {
      if (errno == EAGAIN)
        rpc_fail(err, errlen, "cannot connect to %s: its listen queue stayed full for %d ms", path,
                 timeout_ms);
      else
        rpc_fail(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
    poll(NULL, 0, 10);
  }
  c->fd = fd;
  return 0;
}

static int rpc_send_all(rpc_conn *c, const char *data, size_t len, char *err, size_t errlen) {
  long long deadline = rpc_deadline(c);
  while (len > 0) {
    ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
    if (n > 0) {
      data += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      rpc_fail(err, errlen, "cannot send to the daemon: %s", strerror(errno));
      return -1;
    }
    if (rpc_wait(c->fd, POLLOUT, deadline) != 1) {
      rpc_fail(err, errlen, "the daemon took no request within %d ms", c->timeout_ms);
      return -1;
    }
  }
  return 0;
}

/* Room for RPC_READ_CHUNK more bytes; the buffer only grows as far as the longest line. */
static int rpc_reserve(rpc_conn *c) {
  if (c->cap - c->len >= RPC_READ_CHUNK)
    return 0;
  size_t cap = c->cap ? c->cap * 2 : RPC_READ_CHUNK * 2;
  char *buf = realloc(c->buf, cap);
  if (buf == NULL)
    return -1;
  c->buf = buf;
  c->cap = cap;
  return 0;
}

/* The next line (NUL-terminated in place, without '\n'), its length in *n; NULL with err. */
static char *rpc_read_line(rpc_conn *c, size_t *n, char *err, size_t errlen) {
  long long deadline = rpc_deadline(c);
  size_t scanned = 0;
  for (;;) {
    char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
    if (nl != NULL) {
      *nl = '\0';
      *n = (size_t)(nl - c->buf);
      return c->buf;
    }
    scanned = c->len;
    if (rpc_reserve(c) < 0) {
      rpc_fail(err, errlen, "out of memory for a reply of %zu bytes", c->len);
      return NULL;
    }
    ssize_t got = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
    if (got > 0) {
      c->len += (size_t)got;
      continue;
    }
    if (got == 0) {
      rpc_fail(err, errlen, "the daemon closed the connection without a reply");
      return NULL;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN) {
      rpc_fail(err, errlen, "cannot read from the daemon: %s", strerror(errno));
      return NULL;
    }
    int ready = rpc_wait(c->fd, POLLIN, deadline);
    if (ready != 1) {
      rpc_fail(err, errlen,
               ready == 0 ? "no reply from the daemon within %d ms"
                          : "cannot wait for the daemon's reply (%d ms)",
               c->timeout_ms);
      return NULL;
    }
  }
}

/* Drops the line of length n (and its '\n') from the front of the buffer. */
static void rpc_consume(rpc_conn *c, size_t n) {
  c->len -= n + 1;
  memmove(c->buf, c->buf + n + 1, c->len);
}

/* A JSON-RPC reply: a result or an error object, with an integer id, or a null id with an error
 * (the daemon could not read the request's id: a parse error, too many clients). */
static bool rpc_is_reply(const json_t *reply) {
  const json_t *rid = json_object_get(reply, "id");
  bool has_result = json_object_get(reply, "result") != NULL;
  bool has_error = json_is_object(json_object_get(reply, "error"));
  if (has_result == has_error)
    return false;
  return json_is_null(rid) ? has_error : json_is_integer(rid);
}

json_int_t rpc_reply_id(const json_t *reply) {
  const json_t *rid = json_object_get(reply, "id");
  return json_is_integer(rid) ? json_integer_value(rid) : -1;
}

json_int_t rpc_send(rpc_conn *c, const char *method, json_t *params, char *err, size_t errlen) {
  json_int_t id = c->next_id++;
  json_t *req = json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", id, "method", method);
  if (req == NULL)
    json_decref(params);
  if (req == NULL || (params != NULL && json_object_set_new(req, "params", params) < 0)) {
    json_decref(req);
    rpc_fail(err, errlen, "out of memory");
    return -1;
  }
  char *line = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(req);
  if (line == NULL) {
    rpc_fail(err, errlen, "the request could not be written as JSON");
    return -1;
  }
  size_t len = strlen(line);
  line[len] = '\n'; /* the NUL is not sent: the line ends at the newline */
  int rc = rpc_send_all(c, line, len + 1, err, errlen);
  free(line);
  return rc < 0 ? -1 : id;
}

json_t *rpc_receive(rpc_conn *c, char *err, size_t errlen) {
  size_t n;
  char *text = rpc_read_line(c, &n, err, errlen);
  if (text == NULL)
    return NULL;
  json_error_t jerr;
  /* Values may hold NUL bytes (\u0000: a counter read in utf8 mode). */
  json_t *reply = json_loadb(text, n, JSON_ALLOW_NUL, &jerr);
  if (reply == NULL || !rpc_is_reply(reply)) {
    rpc_fail(err, errlen, "the daemon's reply is not a JSON-RPC reply: %.200s", text);
    json_decref(reply);
    reply = NULL;
  }
  rpc_consume(c, n);
  return reply;
}

json_t *rpc_call(rpc_conn *c, const char *method, json_t *params, char *err, size_t errlen) {
  json_int_t id = rpc_send(c, method, params, err, errlen);
  json_t *reply = id < 0 ? NULL : rpc_receive(c, err, errlen);
  if (reply == NULL || rpc_reply_id(reply) == id || rpc_reply_id(reply) == -1)
    return reply;
  rpc_fail(err, errlen, "the daemon replied to request %lld instead of %lld",
           (long long)rpc_reply_id(reply), (long long)id);
  json_decref(reply);
  return NULL;
}

void rpc_close(rpc_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  free(c->buf);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}
