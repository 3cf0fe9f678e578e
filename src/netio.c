/* netio: socket I/O to a Thrift gateway with deadlines, read-ahead and optional framing. */
#include "netio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "task.h"
#include "xmalloc.h"

#define NETIO_READ_AHEAD (64 * 1024)
#define NETIO_FRAME_HEADER 4
/* http: the longest line of a reply's head, and room for the request's Content-Length value. */
#define NETIO_HTTP_LINE 8192
#define NETIO_HTTP_LENGTH_ROOM 32
/* A dead gateway host is noticed by TCP keepalive within idle + interval * count seconds. */
#define NETIO_KEEPIDLE_S 30
#define NETIO_KEEPINTVL_S 10
#define NETIO_KEEPCNT 3

struct netio {
  int fd;
  bool framed;
  bool http;
  bool bounded; /* framed or http: the transport says where a reply ends */
  size_t max_message;
  int64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds */

  uint8_t *rbuf; /* raw bytes received ahead of the decoder */
  size_t rcap, rpos, rlen;
  size_t frame_left; /* payload bytes of the current frame (http: body or chunk) left */
  bool in_frame;     /* http: in a reply's body */
  bool chunked;      /* http: the body comes in chunks */
  bool body_done;    /* http: its last chunk was read */
  size_t msg_bytes;  /* payload bytes of the current message consumed */

  /* The outgoing message after head_room bytes (always counted in wlen) reserved for what goes
   * before it: the 4-byte length when framed, the request's head with http. */
  uint8_t *wbuf;
  size_t wcap, wlen, head_room;
  char *http_head;      /* the request's head up to the Content-Length value */
  bool awaiting_reply;  /* a request went out and nothing of its reply has been read */
  uint64_t reply_bytes; /* of every complete reply so far */
};

/* Waits until fd is ready for events or the deadline passes. In a task (the daemon's pooled
 * connections) the wait yields to the event loop; elsewhere (tests, tools) it polls. */
static int wait_ready(int fd, short events, int64_t deadline_ms, const char *what, hb_error *err) {
  if (task_self() != NULL) {
    int want = (events & POLLIN ? TASK_READABLE : 0) | (events & POLLOUT ? TASK_WRITABLE : 0);
    switch (task_wait(fd, want, deadline_ms)) {
    case TASK_READY:
    case TASK_WOKEN: return 0;
    case TASK_TIMEOUT: return hb_error_set(err, HB_ERR_TIMEOUT, "timed out %s", what);
    case TASK_CANCELLED:
      return hb_error_set(err, HB_ERR_TRANSPORT, "the daemon stopped %s: it is shutting down",
                          what);
    }
  }
  for (;;) {
    int64_t left = deadline_ms - clock_now_ms();
    if (left <= 0)
      return hb_error_set(err, HB_ERR_TIMEOUT, "timed out %s", what);
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
    if (n > 0)
      return 0;
    if (n < 0 && errno != EINTR)
      return hb_error_set(err, HB_ERR_TRANSPORT, "poll failed %s: %s", what, strerror(errno));
  }
}

static void tune_socket(int fd, int family) {
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  int idle = NETIO_KEEPIDLE_S, intvl = NETIO_KEEPINTVL_S, cnt = NETIO_KEEPCNT;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  if (family == AF_INET || family == AF_INET6)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Non-blocking connect to one address, finished within the deadline. Returns the fd or -1. */
static int connect_one(const struct addrinfo *ai, int64_t deadline_ms, hb_error *err) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (fd < 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "socket: %s", strerror(errno));
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    if (errno != EINPROGRESS) {
      hb_error_set(err, HB_ERR_TRANSPORT, "connect: %s", strerror(errno));
      close(fd);
      return -1;
    }
    if (wait_ready(fd, POLLOUT, deadline_ms, "connecting", err) < 0) {
      close(fd);
      return -1;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    if (soerr != 0) {
      hb_error_set(err, HB_ERR_TRANSPORT, "connect: %s", strerror(soerr));
      close(fd);
      return -1;
    }
  }
  tune_socket(fd, ai->ai_family);
  return fd;
}

/* A name lookup on a thread of its own: getaddrinfo has no timeout, so a task waits for the
 * thread's word on a pipe, with the connect deadline, and leaves it behind if that passes. */
typedef struct lookup {
  int refs; /* the thread's and the waiter's */
  int pipe[2];
  char *host;
  char service[16];
  int rc;
  struct addrinfo *res;
} lookup;

static void lookup_unref(lookup *l) {
  if (__atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
    return;
  if (l->res != NULL)
    freeaddrinfo(l->res);
  close(l->pipe[0]);
  close(l->pipe[1]);
  free(l->host);
  free(l);
}

static void *lookup_main(void *arg) {
  lookup *l = arg;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  l->rc = getaddrinfo(l->host, l->service, &hints, &l->res);
  ssize_t n;
  do
    n = write(l->pipe[1], "", 1);
  while (n < 0 && errno == EINTR);
  lookup_unref(l);
  return NULL;
}

static int lookup_in_thread(const char *host, const char *service, int64_t deadline_ms,
                            struct addrinfo **res, hb_error *err) {
  lookup *l = xcalloc(1, sizeof *l);
  if (pipe2(l->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    free(l);
    return hb_error_set(err, HB_ERR_TRANSPORT, "cannot resolve %s: %s", host, strerror(errno));
  }
  l->refs = 2;
  l->host = xstrdup(host);
  snprintf(l->service, sizeof l->service, "%s", service);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, lookup_main, l);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    l->refs = 1;
    lookup_unref(l);
    return hb_error_set(err, HB_ERR_TRANSPORT, "cannot resolve %s: %s", host, strerror(rc));
  }
  if (wait_ready(l->pipe[0], POLLIN, deadline_ms, "resolving the gateway's name", err) < 0) {
    lookup_unref(l);
    return -1;
  }
  rc = l->rc;
  *res = l->res;
  l->res = NULL;
  lookup_unref(l);
  if (rc != 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "cannot resolve %s: %s", host, gai_strerror(rc));
  return 0;
}

/* An address needs no lookup; a name does, off the loop when called in a task. */
static int resolve(const char *host, const char *service, int64_t deadline_ms,
                   struct addrinfo **res, hb_error *err) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST};
  if (getaddrinfo(host, service, &hints, res) == 0)
    return 0;
  if (task_self() != NULL)
    return lookup_in_thread(host, service, deadline_ms, res, err);
  hints.ai_flags = 0;
  int rc = getaddrinfo(host, service, &hints, res);
  if (rc != 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "cannot resolve %s: %s", host, gai_strerror(rc));
  return 0;
}

netio *netio_connect(const char *host, int port, const netio_options *opts, hb_error *err) {
  int64_t deadline = clock_now_ms() + (opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1);
  char service[16];
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo *res = NULL;
  if (resolve(host, service, deadline, &res, err) < 0)
    return NULL;
  int fd = -1;
  for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
    fd = connect_one(ai, deadline, err);
  freeaddrinfo(res);
  if (fd < 0) {
    if (err != NULL && err->message != NULL) {
      char *msg = err->message;
      err->message = NULL;
      hb_error_set(err, err->code, "%s:%d: %s", host, port, msg);
      free(msg);
    }
    return NULL;
  }
  return netio_adopt(fd, host, port, opts);
}

netio *netio_adopt(int fd, const char *host, int port, const netio_options *opts) {
  int64_t deadline = clock_now_ms() + (opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 1);
  netio *io = xcalloc(1, sizeof *io);
  io->fd = fd;
  io->framed = opts->framed && !opts->http;
  io->http = opts->http;
  io->bounded = opts->framed || opts->http;
  io->max_message = opts->max_message_size;
  io->deadline_ms = deadline;
  if (io->http) {
    io->http_head = xasprintf("POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                              "Content-Type: application/x-thrift\r\n"
                              "Accept: application/x-thrift\r\nContent-Length: ",
                              opts->http_path != NULL ? opts->http_path : "/", host, port);
    io->head_room = strlen(io->http_head) + NETIO_HTTP_LENGTH_ROOM;
  } else {
    io->head_room = io->framed ? NETIO_FRAME_HEADER : 0;
  }
  io->wlen = io->head_room;
  return io;
}

void netio_close(netio *io) {
  if (io == NULL)
    return;
  close(io->fd);
  free(io->rbuf);
  free(io->wbuf);
  free(io->http_head);
  free(io);
}

void netio_set_deadline(netio *io, int timeout_ms) {
  io->deadline_ms = clock_now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
}

static void reserve(uint8_t **buf, size_t *cap, size_t need) {
  if (need <= *cap)
    return;
  size_t ncap = *cap ? *cap : 4096;
  while (ncap < need)
    ncap *= 2;
  *buf = xrealloc(*buf, ncap);
  *cap = ncap;
}

int netio_write(netio *io, const void *buf, size_t len, hb_error *err) {
  assert(io != NULL && (buf != NULL || len == 0));
  (void)err;
  reserve(&io->wbuf, &io->wcap, io->wlen + len);
  memcpy(io->wbuf + io->wlen, buf, len);
  io->wlen += len;
  return 0;
}

static int send_all(netio *io, const uint8_t *p, size_t len, hb_error *err) {
  while (len > 0) {
    ssize_t n = send(io->fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (wait_ready(io->fd, POLLOUT, io->deadline_ms, "sending to the gateway", err) < 0)
        return -1;
      continue;
    }
    return hb_error_set(err, HB_ERR_TRANSPORT, "send to gateway failed: %s", strerror(errno));
  }
  return 0;
}

/* Writes what goes before the payload into the room left for it; returns where it starts. */
static size_t write_head(netio *io, size_t payload) {
  if (io->framed) {
    io->wbuf[0] = (uint8_t)(payload >> 24);
    io->wbuf[1] = (uint8_t)(payload >> 16);
    io->wbuf[2] = (uint8_t)(payload >> 8);
    io->wbuf[3] = (uint8_t)payload;
    return 0;
  }
  if (!io->http)
    return 0;
  char length[NETIO_HTTP_LENGTH_ROOM];
  int n = snprintf(length, sizeof length, "%zu\r\n\r\n", payload);
  size_t head = strlen(io->http_head);
  size_t start = io->head_room - head - (size_t)n;
  memcpy(io->wbuf + start, io->http_head, head);
  memcpy(io->wbuf + start + head, length, (size_t)n);
  return start;
}

int netio_flush(netio *io, hb_error *err) {
  size_t payload = io->wlen - io->head_room;
  if (payload == 0)
    return 0;
  if (io->framed && payload > INT32_MAX)
    return hb_error_set(err, HB_ERR_TRANSPORT, "request of %zu bytes is too large for a frame",
                        payload);
  size_t start = write_head(io, payload);
  int rc = send_all(io, io->wbuf + start, io->wlen - start, err);
  io->wlen = io->head_room;
  io->awaiting_reply = rc == 0 && io->rpos == io->rlen;
  return rc;
}

/* Receives at least one more raw byte into the read-ahead buffer. */
static int fill(netio *io, hb_error *err) {
  task_pause(); /* a huge reply already received is decoded in slices, not in one go */
  if (io->rpos == io->rlen)
    io->rpos = io->rlen = 0;
  if (io->rcap == 0)
    reserve(&io->rbuf, &io->rcap, NETIO_READ_AHEAD);
  if (io->rlen == io->rcap) {
    memmove(io->rbuf, io->rbuf + io->rpos, io->rlen - io->rpos);
    io->rlen -= io->rpos;
    io->rpos = 0;
  }
  /* Just after a request, its reply cannot be there yet: wait before the first recv. */
  if (io->awaiting_reply) {
    io->awaiting_reply = false;
    if (wait_ready(io->fd, POLLIN, io->deadline_ms, "waiting for the gateway's reply", err) < 0)
      return -1;
  }
  for (;;) {
    ssize_t n = recv(io->fd, io->rbuf + io->rlen, io->rcap - io->rlen, 0);
    if (n > 0) {
      io->rlen += (size_t)n;
      return 0;
    }
    if (n == 0 && io->msg_bytes == 0 && io->rlen == 0)
      return hb_error_set(err, HB_ERR_TRANSPORT,
                          "gateway closed the connection without replying (an idle timeout, a "
                          "restart, or a gateway whose transport (framed or buffered) or protocol "
                          "(binary or compact) differs from ours)");
    if (n == 0)
      return hb_error_set(err, HB_ERR_TRANSPORT, "gateway closed the connection mid-reply");
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return hb_error_set(err, HB_ERR_TRANSPORT, "receive from gateway failed: %s",
                          strerror(errno));
    if (wait_ready(io->fd, POLLIN, io->deadline_ms, "waiting for the gateway's reply", err) < 0)
      return -1;
  }
}

/* Copies len raw bytes out of the stream, receiving as needed. */
static int read_raw(netio *io, uint8_t *dst, size_t len, hb_error *err) {
  while (len > 0) {
    if (io->rpos == io->rlen && fill(io, err) < 0)
      return -1;
    size_t take = io->rlen - io->rpos;
    if (take > len)
      take = len;
    memcpy(dst, io->rbuf + io->rpos, take);
    io->rpos += take;
    dst += take;
    len -= take;
  }
  return 0;
}

static int begin_frame(netio *io, hb_error *err) {
  uint8_t h[NETIO_FRAME_HEADER];
  if (read_raw(io, h, sizeof h, err) < 0)
    return -1;
  uint32_t size = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
  if (size == 0 || size > INT32_MAX)
    return hb_error_set(err, HB_ERR_TRANSPORT,
                        "bad frame size %u from the gateway (is it really framed?)", size);
  if (size > io->max_message)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply of %u bytes exceeds the %zu-byte limit", size,
                        io->max_message);
  io->frame_left = size;
  io->in_frame = true;
  return 0;
}

/* ---------------------------------------------------------------------------------------------
 * HTTP replies: a status line and headers, then the body, by Content-Length or in chunks. */

/* The next line of the reply's head, without its CRLF, NUL-terminated in line. */
static int read_head_line(netio *io, char *line, size_t cap, hb_error *err) {
  size_t n = 0;
  for (;;) {
    if (io->rpos == io->rlen && fill(io, err) < 0)
      return -1;
    const uint8_t *start = io->rbuf + io->rpos;
    size_t avail = io->rlen - io->rpos;
    const uint8_t *nl = memchr(start, '\n', avail);
    size_t take = nl != NULL ? (size_t)(nl - start) + 1 : avail;
    if (n + take >= cap)
      return hb_error_set(err, HB_ERR_TRANSPORT,
                          "the gateway's HTTP reply has a line over %zu bytes", cap - 1);
    memcpy(line + n, start, take);
    n += take;
    io->rpos += take;
    if (nl != NULL)
      break;
  }
  n--; /* the newline */
  if (n > 0 && line[n - 1] == '\r')
    n--;
  line[n] = '\0';
  return 0;
}

/* A chunk's size line; after the last (empty) chunk, its trailers: the body is done. */
static int begin_chunk(netio *io, hb_error *err) {
  char line[128];
  if (read_head_line(io, line, sizeof line, err) < 0)
    return -1;
  char *end;
  unsigned long long size = strtoull(line, &end, 16);
  if (end == line)
    return hb_error_set(err, HB_ERR_TRANSPORT, "bad chunk size \"%.40s\" from the gateway", line);
  if (size > io->max_message)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply exceeds the %zu-byte limit", io->max_message);
  io->frame_left = (size_t)size;
  if (size > 0)
    return 0;
  do /* trailers, up to the empty line */
    if (read_head_line(io, line, sizeof line, err) < 0)
      return -1;
  while (line[0] != '\0');
  io->body_done = true;
  return 0;
}

/* The CRLF after a chunk's data, then the next chunk. */
static int next_chunk(netio *io, hb_error *err) {
  char line[8];
  if (read_head_line(io, line, sizeof line, err) < 0)
    return -1;
  if (line[0] != '\0')
    return hb_error_set(err, HB_ERR_TRANSPORT, "a chunk from the gateway is longer than it said");
  return begin_chunk(io, err);
}

/* The status line and headers; only 200 carries a reply. */
static int begin_http_reply(netio *io, hb_error *err) {
  char *line = xmalloc(NETIO_HTTP_LINE);
  char status_line[128] = "";
  int status = 0;
  long long length = -1;
  bool chunked = false;
  int rc = read_head_line(io, line, NETIO_HTTP_LINE, err);
  if (rc == 0) {
    snprintf(status_line, sizeof status_line, "%s", line);
    if (sscanf(line, "HTTP/1.%*d %d", &status) != 1)
      rc = hb_error_set(err, HB_ERR_TRANSPORT,
                        "not an HTTP reply from the gateway: \"%.60s\" (is it in HTTP mode?)",
                        line);
  }
  while (rc == 0 && (rc = read_head_line(io, line, NETIO_HTTP_LINE, err)) == 0 && line[0] != '\0') {
    if (strncasecmp(line, "Content-Length:", 15) == 0)
      length = strtoll(line + 15, NULL, 10);
    else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strcasestr(line + 18, "chunked"))
      chunked = true;
  }
  free(line);
  if (rc < 0)
    return -1;
  if (status != 200)
    return hb_error_set(err, HB_ERR_TRANSPORT, "the gateway answered \"%s\"%s", status_line,
                        status == 404 ? " (check the gateway's path)" : "");
  io->in_frame = true;
  io->chunked = chunked;
  io->body_done = false;
  if (chunked)
    return begin_chunk(io, err);
  if (length < 0)
    return hb_error_set(err, HB_ERR_TRANSPORT,
                        "the gateway's HTTP reply has neither a Content-Length nor chunks");
  if ((unsigned long long)length > io->max_message)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply of %lld bytes exceeds the %zu-byte limit",
                        length, io->max_message);
  io->frame_left = (size_t)length;
  return 0;
}

/* The current frame (or HTTP body, or chunk) is used up and the reader wants more. */
static int next_frame(netio *io, hb_error *err) {
  if (!io->http) {
    if (io->in_frame)
      return hb_error_set(err, HB_ERR_TRANSPORT, "reply is longer than its frame");
    return begin_frame(io, err);
  }
  int rc = !io->in_frame            ? begin_http_reply(io, err)
    : io->chunked && !io->body_done ? next_chunk(io, err)
                                    : 0;
  if (rc == 0 && io->frame_left == 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply is longer than its HTTP body");
  return rc;
}

int netio_read(netio *io, void *buf, size_t len, hb_error *err) {
  assert(io != NULL && (buf != NULL || len == 0));
  /* The common case, a field already received and inside the current frame: a reply of rows
   * is read a few bytes at a time. */
  if (len <= io->rlen - io->rpos && (!io->bounded || len <= io->frame_left) &&
      io->msg_bytes + len <= io->max_message) {
    memcpy(buf, io->rbuf + io->rpos, len);
    io->rpos += len;
    io->msg_bytes += len;
    if (io->bounded)
      io->frame_left -= len;
    return 0;
  }
  if (io->msg_bytes + len > io->max_message)
    return hb_error_set(err, HB_ERR_TRANSPORT, "reply exceeds the %zu-byte limit", io->max_message);
  uint8_t *dst = buf;
  while (len > 0) {
    size_t take = len;
    if (io->bounded) {
      if (io->frame_left == 0 && next_frame(io, err) < 0)
        return -1;
      if (take > io->frame_left)
        take = io->frame_left;
    }
    if (read_raw(io, dst, take, err) < 0)
      return -1;
    dst += take;
    len -= take;
    io->msg_bytes += take;
    if (io->bounded)
      io->frame_left -= take;
  }
  return 0;
}

int netio_read_end(netio *io, hb_error *err) {
  /* A chunked body ends with an empty chunk the reader had no reason to read. */
  if (io->http && io->in_frame && io->chunked && !io->body_done && io->frame_left == 0) {
    if (next_chunk(io, err) < 0)
      return -1;
    if (!io->body_done)
      return hb_error_set(err, HB_ERR_TRANSPORT, "unexpected bytes after the gateway's reply");
  }
  /* One request, one reply: anything beyond it means the stream is out of step. */
  size_t left_over = io->frame_left + (io->rlen - io->rpos);
  io->reply_bytes += io->msg_bytes;
  io->msg_bytes = 0;
  io->in_frame = false;
  io->chunked = io->body_done = false;
  io->frame_left = 0;
  if (left_over != 0)
    return hb_error_set(err, HB_ERR_TRANSPORT, "%zu unexpected bytes after the gateway's reply",
                        left_over);
  return 0;
}

bool netio_peer_closed(netio *io) {
  if (io->rpos < io->rlen)
    return true;
  struct pollfd pfd = {.fd = io->fd, .events = POLLIN | POLLRDHUP};
  int rc;
  do
    rc = poll(&pfd, 1, 0);
  while (rc < 0 && errno == EINTR);
  /* Readable between calls means EOF, a reset, or stray bytes: the stream is unusable. */
  return rc != 0;
}

size_t netio_message_bytes(const netio *io) {
  return io->msg_bytes;
}

uint64_t netio_reply_bytes(const netio *io) {
  return io->reply_bytes;
}

size_t netio_max_message_size(const netio *io) {
  return io->max_message;
}
