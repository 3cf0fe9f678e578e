/* faultproxy: test equipment on loopback, a TCP relay to a real gateway that injects one fault at
 * a time into the traffic passing through it, on connections old and new. */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peer.h"

struct faultproxy {
  int listen_fd;
  int port;
  struct sockaddr_in gateway;
  pthread_t acceptor;
  int fault;    /* fp_fault, read and written atomically */
  int stopping; /* atomically */
  long accepted;
  pthread_mutex_t lock;
  pthread_cond_t idle;
  int relays; /* running, under lock */
};

/* One relayed connection. */
typedef struct relay {
  faultproxy *p;
  int client, gateway;
  bool half_closed; /* the client's side is shut for writing: replies go nowhere */
  unsigned seed;
} relay;

static const char *const names[FP_NFAULTS] = {
  [FP_NONE] = "none",           [FP_LATENCY] = "latency", [FP_RESET] = "reset",
  [FP_BLACKHOLE] = "blackhole", [FP_TRICKLE] = "trickle", [FP_HALF_CLOSE] = "half-close",
  [FP_GARBAGE] = "garbage",
};

const char *fp_name(fp_fault fault) {
  return fault < FP_NFAULTS ? names[fault] : "?";
}

static fp_fault fault_now(const faultproxy *p) {
  return (fp_fault)__atomic_load_n(&p->fault, __ATOMIC_SEQ_CST);
}

/* A request chunk: on to the gateway, late under FP_LATENCY. */
static int pass_request(relay *r, const char *buf, size_t n) {
  if (fault_now(r->p) == FP_LATENCY)
    sleep_ms(FP_LATENCY_MS);
  return peer_write_all(r->gateway, buf, n);
}

/* Sends an RST: a zero linger makes the close abort the connection. */
static void reset(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* A reply chunk, as the fault in force says; -1 ends the relay. */
static int pass_reply(relay *r, char *buf, size_t n) {
  if (r->half_closed)
    return 0;
  switch (fault_now(r->p)) {
  case FP_LATENCY: sleep_ms(FP_LATENCY_MS); return peer_write_all(r->client, buf, n);
  case FP_RESET:
    peer_write_all(r->client, buf, n / 2);
    reset(r->client);
    return -1;
  case FP_BLACKHOLE: return 0;
  case FP_TRICKLE:
    for (size_t i = 0; i < n; i++) {
      if (peer_write_all(r->client, buf + i, 1) < 0)
        return -1;
      struct timespec ts = {.tv_nsec = FP_TRICKLE_US * 1000L};
      nanosleep(&ts, NULL);
    }
    return 0;
  case FP_HALF_CLOSE:
    shutdown(r->client, SHUT_WR);
    r->half_closed = true;
    return 0;
  case FP_GARBAGE:
    for (size_t i = 0; i < n; i++)
      buf[i] = (char)rand_r(&r->seed);
    return peer_write_all(r->client, buf, n);
  default: return peer_write_all(r->client, buf, n);
  }
}

/* Relays until either side closes or the proxy stops. */
static void run_relay(relay *r) {
  struct pollfd pf[2] = {{.fd = r->client, .events = POLLIN}, {.fd = r->gateway, .events = POLLIN}};
  char buf[65536];
  while (!__atomic_load_n(&r->p->stopping, __ATOMIC_SEQ_CST)) {
    int ready = poll(pf, 2, 50);
    if (ready < 0 && errno != EINTR)
      return;
    if (ready <= 0)
      continue;
    if (pf[0].revents != 0) {
      ssize_t n = recv(r->client, buf, sizeof buf, 0);
      if (n <= 0 || pass_request(r, buf, (size_t)n) < 0)
        return;
    }
    if (pf[1].revents != 0) {
      ssize_t n = recv(r->gateway, buf, sizeof buf, 0);
      if (n <= 0 || pass_reply(r, buf, (size_t)n) < 0)
        return;
    }
  }
}

static void *relay_main(void *arg) {
  relay *r = arg;
  r->gateway = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(r->gateway, (struct sockaddr *)&r->p->gateway, sizeof r->p->gateway) == 0)
    run_relay(r);
  else
    reset(r->client); /* the gateway is down: so is the proxy, as far as the client can tell */
  close(r->gateway);
  close(r->client);
  faultproxy *p = r->p;
  free(r);
  pthread_mutex_lock(&p->lock);
  if (--p->relays == 0)
    pthread_cond_broadcast(&p->idle);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

static void *accept_main(void *arg) {
  faultproxy *p = arg;
  while (!__atomic_load_n(&p->stopping, __ATOMIC_SEQ_CST)) {
    struct pollfd pf = {.fd = p->listen_fd, .events = POLLIN};
    if (poll(&pf, 1, 50) <= 0)
      continue;
    int fd = accept4(p->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    relay *r = calloc(1, sizeof *r);
    r->p = p;
    r->client = fd;
    r->seed = (unsigned)__atomic_add_fetch(&p->accepted, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&p->lock);
    p->relays++;
    pthread_mutex_unlock(&p->lock);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_create(&t, &attr, relay_main, r);
    pthread_attr_destroy(&attr);
  }
  return NULL;
}

faultproxy *fp_start(const char *host, int port) {
  faultproxy *p = calloc(1, sizeof *p);
  p->gateway = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof sa;
  p->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (inet_pton(AF_INET, host, &p->gateway.sin_addr) != 1 ||
      bind(p->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(p->listen_fd, 128) < 0 ||
      getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) < 0) {
    close(p->listen_fd);
    free(p);
    return NULL;
  }
  p->port = ntohs(sa.sin_port);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->idle, NULL);
  pthread_create(&p->acceptor, NULL, accept_main, p);
  return p;
}

int fp_port(const faultproxy *p) {
  return p->port;
}

void fp_set(faultproxy *p, fp_fault fault) {
  __atomic_store_n(&p->fault, (int)fault, __ATOMIC_SEQ_CST);
}

long fp_accepted(const faultproxy *p) {
  return __atomic_load_n(&p->accepted, __ATOMIC_SEQ_CST);
}

void fp_stop(faultproxy *p) {
  __atomic_store_n(&p->stopping, 1, __ATOMIC_SEQ_CST);
  pthread_join(p->acceptor, NULL);
  pthread_mutex_lock(&p->lock);
  while (p->relays > 0)
    pthread_cond_wait(&p->idle, &p->lock);
  pthread_mutex_unlock(&p->lock);
  close(p->listen_fd);
  pthread_mutex_destroy(&p->lock);
  pthread_cond_destroy(&p->idle);
  free(p);
}
