/* capture_replies: records a real gateway's reply to each call of reply_calls.h, as seeds for
 * fuzz_reply: OUTDIR/call-NN-mode-M holds the call's byte, the mode's byte and the reply. Each
 * call runs on a connection of its own (as fuzz_reply's do), through a relay that copies what
 * the gateway sends.
 * Usage: capture_replies HOST PORT MODE OUTDIR   (MODE as fuzz_reply's second byte: 0 buffered,
 * 1 framed, 2 http, +4 compact) */
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "reply_calls.h"

typedef struct relay {
  int inner;          /* the client's end of the socket pair */
  int outer;          /* the gateway */
  unsigned char *got; /* what the gateway sent */
  size_t len, cap;
} relay;

static int dial(const char *host, const char *port) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
  if (getaddrinfo(host, port, &hints, &ai) != 0)
    return -1;
  int fd = socket(ai->ai_family, ai->ai_socktype, 0);
  if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(ai);
  return fd;
}

/* Copies both ways until the client closes its end. */
static void *run_relay(void *arg) {
  relay *r = arg;
  unsigned char buf[65536];
  struct pollfd p[2] = {{.fd = r->inner, .events = POLLIN}, {.fd = r->outer, .events = POLLIN}};
  for (;;) {
    if (poll(p, 2, 10000) <= 0)
      break;
    if (p[0].revents) {
      ssize_t n = read(r->inner, buf, sizeof buf);
      if (n <= 0 || write(r->outer, buf, (size_t)n) != n)
        break;
    }
    if (p[1].revents) {
      ssize_t n = read(r->outer, buf, sizeof buf);
      if (n <= 0)
        break;
      if (r->len + (size_t)n > r->cap) {
        r->cap = (r->len + (size_t)n) * 2;
        r->got = realloc(r->got, r->cap);
      }
      memcpy(r->got + r->len, buf, (size_t)n);
      r->len += (size_t)n;
      if (write(r->inner, buf, (size_t)n) != n)
        break;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: capture_replies HOST PORT MODE OUTDIR\n");
    return 2;
  }
  int mode = atoi(argv[3]);
  /* Tables first made, last dropped, so that each call has something to answer. */
  static const int order[] = {1,  5,  7,  8,  12, 9, 10, 11, 13, 14, 15,
                              16, 17, 18, 19, 0,  6, 4,  3,  4,  2};
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
    relay r = {0};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || (r.outer = dial(argv[1], argv[2])) < 0) {
      fprintf(stderr, "capture_replies: cannot reach %s:%s\n", argv[1], argv[2]);
      return 1;
    }
    r.inner = sv[1];
    fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK); /* as netio's sockets are */
    pthread_t t;
    pthread_create(&t, NULL, run_relay, &r);
    hbc_options o;
    hbc_options_init(&o);
    o.host = argv[1];
    o.port = atoi(argv[2]);
    o.framed = (mode & 3) == 1;
    o.http = (mode & 3) == 2;
    o.protocol = mode & 4 ? HBC_PROTOCOL_COMPACT : HBC_PROTOCOL_BINARY;
    hbc_conn *c = hbc_connect_fd(sv[0], &o);
    call(c, order[i]);
    hbc_close(c);
    pthread_join(t, NULL);
    close(sv[1]);
    close(r.outer);
    char path[4096];
    snprintf(path, sizeof path, "%s/call-%02d-mode-%d", argv[4], order[i], mode);
    FILE *f = fopen(path, "wb");
    unsigned char head[2] = {(unsigned char)order[i], (unsigned char)mode};
    if (f == NULL || fwrite(head, 1, 2, f) != 2 || fwrite(r.got, 1, r.len, f) != r.len ||
        fclose(f) != 0) {
      fprintf(stderr, "capture_replies: cannot write %s\n", path);
      return 1;
    }
    printf("%s: %zu bytes\n", path, r.len);
    free(r.got);
  }
  return 0;
}
