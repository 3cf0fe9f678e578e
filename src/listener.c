/* listener: the sockets hbpoold accepts clients on: a Unix socket, optionally TCP on loopback. */
#include "listener.h"

#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sockets.h"
#include "xmalloc.h"

typedef struct endpoint {
  struct evconnlistener *evl;
  sockets_guard *guard; /* pauses accepting after running out of descriptors */
  client_hub *hub;
  char name[128];
} endpoint;

struct listener {
  endpoint unix_ep, tcp_ep;
  char *socket_path;
};

static void on_accept(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg) {
  (void)evl;
  (void)sa;
  (void)len;
  endpoint *ep = arg;
  client_accept(ep->hub, fd, ep->name);
}

static int endpoint_start(endpoint *ep, struct event_base *base, int fd, client_hub *hub,
                          hb_error *err) {
  ep->hub = hub;
  evutil_make_socket_nonblocking(fd);
  /* Backlog 0: fd listens already, with the backlog sockets.c or systemd gave it. (-1 would
   * listen again with 128: a burst of clients would meet EAGAIN while the loop is busy.) Each
   * wake-up accepts every connection waiting (libevent loops until EAGAIN). */
  ep->evl = evconnlistener_new(base, on_accept, ep, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                               0, fd);
  if (ep->evl == NULL) {
    close(fd);
    return hb_error_set(err, HB_ERR_INVALID, "cannot listen on %s", ep->name);
  }
  ep->guard = sockets_guard_accept(base, ep->evl, ep->name);
  return 0;
}

static int listen_unix(listener *l, struct event_base *base, const config *cfg, client_hub *hub,
                       hb_error *err) {
  const char *path = cfg->listen_socket;
  int fd = sockets_listen_unix(path, cfg->listen_socket_mode, "listen_socket", err);
  if (fd < 0)
    return -1;
  l->socket_path = xstrdup(path);
  snprintf(l->unix_ep.name, sizeof l->unix_ep.name, "%s", path);
  return endpoint_start(&l->unix_ep, base, fd, hub, err);
}

static int listen_tcp(listener *l, struct event_base *base, const config *cfg, client_hub *hub,
                      hb_error *err) {
  int fd = sockets_listen_tcp(cfg->listen_tcp, "listen_tcp", err);
  if (fd < 0)
    return -1;
  snprintf(l->tcp_ep.name, sizeof l->tcp_ep.name, "tcp %s", cfg->listen_tcp);
  return endpoint_start(&l->tcp_ep, base, fd, hub, err);
}

/* Takes the sockets systemd passed: their kind decides what they are for. */
static int adopt(listener *l, struct event_base *base, client_hub *hub, int n, hb_error *err) {
  for (int fd = 3; fd < 3 + n; fd++) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type = 0;
    socklen_t tlen = sizeof type;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0 || type != SOCK_STREAM)
      return hb_error_set(err, HB_ERR_INVALID,
                          "socket %d from systemd is not a stream socket "
                          "(ListenStream= in hbpoold.socket)",
                          fd);
    bool is_unix = ss.ss_family == AF_UNIX;
    endpoint *ep = is_unix ? &l->unix_ep : &l->tcp_ep;
    if (ep->evl != NULL)
      return hb_error_set(err, HB_ERR_INVALID, "systemd passed more than one %s socket",
                          is_unix ? "Unix" : "TCP");
    if (is_unix)
      snprintf(ep->name, sizeof ep->name, "%.100s (from systemd)",
               ((struct sockaddr_un *)&ss)->sun_path);
    else
      snprintf(ep->name, sizeof ep->name, "tcp socket %d (from systemd)", fd);
    if (endpoint_start(ep, base, fd, hub, err) < 0)
      return -1;
    log_info("listening on %s", ep->name);
  }
  return 0;
}

listener *listener_new(struct event_base *base, const config *cfg, client_hub *hub, int inherited,
                       hb_error *err) {
  listener *l = xcalloc(1, sizeof *l);
  if (inherited > 0) {
    if (adopt(l, base, hub, inherited, err) < 0) {
      listener_free(l);
      return NULL;
    }
    if (cfg->listen_tcp != NULL && l->tcp_ep.evl == NULL)
      log_warning("listen_tcp (%s) is not used: systemd passed the sockets; add "
                  "ListenStream=%s to hbpoold.socket instead",
                  cfg->listen_tcp, cfg->listen_tcp);
    return l;
  }
  if (listen_unix(l, base, cfg, hub, err) < 0 ||
      (cfg->listen_tcp != NULL && listen_tcp(l, base, cfg, hub, err) < 0)) {
    listener_free(l);
    return NULL;
  }
  log_info("listening on %s%s%s", cfg->listen_socket, cfg->listen_tcp ? " and " : "",
           cfg->listen_tcp ? cfg->listen_tcp : "");
  return l;
}

static void endpoint_stop(endpoint *ep) {
  sockets_guard_free(ep->guard);
  if (ep->evl != NULL)
    evconnlistener_free(ep->evl);
  ep->evl = NULL;
  ep->guard = NULL;
}

void listener_free(listener *l) {
  if (l == NULL)
    return;
  endpoint_stop(&l->unix_ep);
  endpoint_stop(&l->tcp_ep);
  if (l->socket_path != NULL)
    unlink(l->socket_path);
  free(l->socket_path);
  free(l);
}
