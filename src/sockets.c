/* sockets: listening sockets on a Unix path or on TCP, and accepting that pauses instead of
 * spinning when file descriptors run out. */
#include "sockets.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "xmalloc.h"

/* Connections waiting to be accepted (the kernel caps it at net.core.somaxconn, 4096 by default):
 * a burst of clients while the loop is busy waits here instead of failing with EAGAIN. */
#define SOCKETS_BACKLOG 4096
#define SOCKETS_EMFILE_PAUSE_MS 1000

/* Closes fd (if open) and reports why listening on it failed, from errno. */
static int listen_failed(int fd, const char *what, const char *where, hb_error *err) {
  int e = errno;
  if (fd >= 0)
    close(fd);
  return hb_error_set(err, HB_ERR_INVALID, "%s %s: cannot listen: %s", what, where, strerror(e));
}

static void unix_address(struct sockaddr_un *sa, const char *path) {
  *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
  snprintf(sa->sun_path, sizeof sa->sun_path, "%s", path);
}

/* A socket file that nobody accepts on is left over from a daemon that died: replace it. */
static int clear_socket_path(const char *path, const char *what, hb_error *err) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return 0;
  if (!S_ISSOCK(st.st_mode))
    return hb_error_set(err, HB_ERR_INVALID, "%s %s: the file exists and is not a socket", what,
                        path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa;
  unix_address(&sa, path);
  bool live = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
  if (fd >= 0)
    close(fd);
  if (live)
    return hb_error_set(err, HB_ERR_INVALID,
                        "%s %s: another process is serving it (another "
                        "hbpoold?)",
                        what, path);
  unlink(path);
  return 0;
}

/* The socket is bound and made to listen under a temporary name beside path, then linked to path:
 * a client that sees the file can connect to it, where between bind() and listen() it would be
 * refused. link() fails where rename() would replace: a daemon that started meanwhile keeps its
 * socket. A path too long for a temporary name beside it is bound in place. */
int sockets_listen_unix(const char *path, int mode, const char *what, hb_error *err) {
  if (clear_socket_path(path, what, err) < 0)
    return -1;
  struct sockaddr_un sa;
  char staged[sizeof sa.sun_path];
  int n = snprintf(staged, sizeof staged, "%s.%ld~", path, (long)getpid());
  const char *bound = n > 0 && (size_t)n < sizeof staged ? staged : path;
  if (bound == staged)
    unlink(staged); /* left by an earlier daemon of this pid that died between bind and link */
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  unix_address(&sa, bound);
  if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return listen_failed(fd, what, path, err);
  if (chmod(bound, (mode_t)mode) < 0 || listen(fd, SOCKETS_BACKLOG) < 0 ||
      (bound != path && link(bound, path) < 0)) {
    int e = errno;
    unlink(bound);
    errno = e;
    return listen_failed(fd, what, path, err);
  }
  if (bound != path)
    unlink(bound);
  return fd;
}

int sockets_listen_tcp(const char *address_port, const char *what, hb_error *err) {
  char host[64], service[16];
  int port = 0;
  if (config_listen_tcp_split(address_port, host, sizeof host, &port, err) < 0)
    return -1;
  snprintf(service, sizeof service, "%d", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(host, service, &hints, &ai) != 0 || ai == NULL)
    return hb_error_set(err, HB_ERR_INVALID, "%s %s: bad address", what, address_port);
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int one = 1;
  if (fd >= 0)
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bool ok = fd >= 0 && bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
    listen(fd, SOCKETS_BACKLOG) == 0;
  int e = errno;
  freeaddrinfo(ai);
  errno = e;
  return ok ? fd : listen_failed(fd, what, address_port, err);
}

struct sockets_guard {
  struct evconnlistener *evl;
  struct event *resume;
  char name[128];
  sockets_guard *next;
};

/* libevent hands an error callback the listener's accept argument, and evhttp makes that its
 * own for the listener it serves: a guard is found by its listener instead. The loop thread
 * alone touches this list, of one entry per listening socket. */
static sockets_guard *guards;

static sockets_guard *guard_of(struct evconnlistener *evl) {
  sockets_guard *g = guards;
  while (g != NULL && g->evl != evl)
    g = g->next;
  return g;
}

static void on_resume(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  sockets_guard *g = arg;
  evconnlistener_enable(g->evl);
}

static void on_accept_error(struct evconnlistener *evl, void *arg) {
  (void)arg;
  sockets_guard *g = guard_of(evl);
  if (g == NULL)
    return;
  int err = EVUTIL_SOCKET_ERROR();
  log_warning("accepting on %s failed: %s", g->name, evutil_socket_error_to_string(err));
  if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
    return;
  evconnlistener_disable(evl);
  struct timeval tv = {0, SOCKETS_EMFILE_PAUSE_MS * 1000};
  evtimer_add(g->resume, &tv);
}

sockets_guard *sockets_guard_accept(struct event_base *base, struct evconnlistener *evl,
                                    const char *name) {
  sockets_guard *g = xcalloc(1, sizeof *g);
  g->evl = evl;
  g->resume = evtimer_new(base, on_resume, g);
  snprintf(g->name, sizeof g->name, "%s", name);
  g->next = guards;
  guards = g;
  evconnlistener_set_error_cb(evl, on_accept_error);
  return g;
}

void sockets_guard_free(sockets_guard *g) {
  if (g == NULL)
    return;
  sockets_guard **p = &guards;
  while (*p != g)
    p = &(*p)->next;
  *p = g->next;
  event_free(g->resume);
  free(g);
}
