/* peer: a loopback TCP server for unit tests; each connection is served by a test's handler. */
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PEER_MAX_CONNS 256

struct peer {
  int listen_fd;
  int port;
  peer_handler handler;
  void *arg;
  pthread_t acceptor;
  pthread_t conns[PEER_MAX_CONNS];
  int nconns;
  bool stopping;
};

typedef struct conn_job {
  peer *p;
  int fd;
} conn_job;

static void *conn_main(void *a) {
  conn_job *job = a;
  job->p->handler(job->fd, job->p->arg);
  close(job->fd);
  free(job);
  return NULL;
}

/* Accepts until stopped; once stopping, still accepts what is already queued, so a client that
 * connected, wrote and left before the acceptor ran is served all the same. */
static void *accept_main(void *a) {
  peer *p = a;
  for (;;) {
    bool stopping = __atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST);
    struct pollfd pf = {.fd = p->listen_fd, .events = POLLIN};
    if (poll(&pf, 1, stopping ? 0 : 50) <= 0) {
      if (stopping)
        break;
      continue;
    }
    int fd = accept(p->listen_fd, NULL, NULL);
    if (fd < 0 || p->nconns == PEER_MAX_CONNS) {
      if (fd >= 0)
        close(fd);
      continue;
    }
    conn_job *job = malloc(sizeof *job);
    job->p = p;
    job->fd = fd;
    pthread_create(&p->conns[p->nconns++], NULL, conn_main, job);
  }
  return NULL;
}

peer *peer_start(peer_handler handler, void *arg) {
  peer *p = calloc(1, sizeof *p);
  p->handler = handler;
  p->arg = arg;
  p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(p->listen_fd, 64) < 0 ||
      getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) < 0) {
    close(p->listen_fd);
    free(p);
    return NULL;
  }
  p->port = ntohs(sa.sin_port);
  pthread_create(&p->acceptor, NULL, accept_main, p);
  return p;
}

int peer_port(const peer *p) {
  return p->port;
}

void peer_stop(peer *p) {
  __atomic_store_n(&p->stopping, true, __ATOMIC_SEQ_CST);
  pthread_join(p->acceptor, NULL);
  for (int i = 0; i < p->nconns; i++)
    pthread_join(p->conns[i], NULL);
  close(p->listen_fd);
  free(p);
}

int peer_read_exact(int fd, void *buf, size_t len) {
  uint8_t *b = buf;
  while (len > 0) {
    ssize_t n = recv(fd, b, len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

int peer_write_all(int fd, const void *buf, size_t len) {
  const uint8_t *b = buf;
  while (len > 0) {
    ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    b += n;
    len -= (size_t)n;
  }
  return 0;
}

int peer_read_frame(int fd, uint8_t **payload, size_t *len) {
  uint8_t h[4];
  if (peer_read_exact(fd, h, 4) < 0)
    return -1;
  *len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
  *payload = malloc(*len ? *len : 1);
  if (peer_read_exact(fd, *payload, *len) < 0) {
    free(*payload);
    *payload = NULL;
    return -1;
  }
  return 0;
}

int peer_write_frame(int fd, const void *payload, size_t len) {
  uint8_t h[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  if (peer_write_all(fd, h, 4) < 0)
    return -1;
  return peer_write_all(fd, payload, len);
}

size_t peer_drain(int fd, int quiet_ms) {
  size_t total = 0;
  uint8_t buf[4096];
  for (;;) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, quiet_ms) <= 0)
      return total;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return total;
    total += (size_t)n;
  }
}

void sleep_ms(int ms) {
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
