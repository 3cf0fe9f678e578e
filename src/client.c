/* client: hbpoold's client connections: newline-delimited JSON-RPC in, replies out in whatever
 * order they complete, with per-client limits and backpressure.
 *
 * A client's state is one value, and the hub keeps a list per state (client_set_state moves it,
 * as PgBouncer's change_client_state does). A closed client has lost its socket and is freed once
 * nothing is in flight or held, so a late reply never touches freed memory.
 *
 * Every byte a client makes the daemon hold is counted, per client and in all: input not yet
 * taken, each request line until the request is answered (its parsed and encoded forms live that
 * long), and replies not yet written. When the total passes max_buffered_bytes, the clients
 * holding the most stop being read (CLIENT_THROTTLED) until it falls to three quarters of that;
 * a client whose replies have not moved for BUDGET_DEAF_MS meanwhile is closed, since stopping
 * its reading cannot shrink what it holds. A throttled client is watched for a hang-up
 * (EV_CLOSED): one that left is read to its end, so that what it held is let go. */
#include "client.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "clock.h"
#include "decoder.h"
#include "log.h"
#include "protocol.h"
#include "xmalloc.h"

/* Over the budget, a client whose unsent replies have not moved this long is closed: the
 * gateway's replies pile up meanwhile (a scan page every few ms), so it is short. A client
 * reading a large reply moves it every few ms. */
#define BUDGET_DEAF_MS 250
/* Over the budget, a growing client is throttled at once when it holds this share of it (1/64);
 * smaller holders are throttled by the janitor, only if the total stays over. */
#define BUDGET_HEAVY_SHIFT 6

typedef struct client client;

/* One line holding a JSON-RPC batch (an array of requests; batch.c's batch is a method): its
 * reply is one array, sent when every member is back. */
typedef struct rpc_batch {
  char **members;
  size_t nmembers, pending;
  size_t bytes; /* its line's length: held until the batch's reply goes */
} rpc_batch;

typedef enum client_state {
  CLIENT_READING,   /* reads lines and dispatches them */
  CLIENT_PAUSED,    /* reading stopped: its unsent replies passed max_output_bytes_per_client */
  CLIENT_THROTTLED, /* reading stopped: over max_buffered_bytes, and it holds a large share */
  CLIENT_FINISHING, /* the peer shut its sending side: what it sent is answered, then it closes */
  CLIENT_FLUSHING,  /* an over-long line was refused: closes once that error is written */
  CLIENT_CLOSED,    /* the socket is gone: freed once nothing is in flight or held */
  CLIENT_NSTATES
} client_state;

struct client {
  client_hub *hub;
  uint64_t id;
  struct bufferevent *bev; /* NULL once closed */
  access_peer peer;        /* pid, uid and groups from the socket (none over TCP) */
  bool denial_logged;      /* [access] refused a request: logged once per client */
  client_state state;
  int in_flight;        /* requests whose reply has not come back: max_requests_per_client */
  int holds;            /* code that runs past a callback which could free the client */
  bool line_at_decoder; /* a large line is being parsed: the lines after it wait */
  /* The start of a line that has not ended yet (NULL until one needs it): each read then
   * searches only its new bytes for the newline. Searching a long line from its start at every
   * read cost the loop time quadratic in its length (31% of the daemon's CPU with 15 MiB lines). */
  struct evbuffer *partial;
  /* its buffered bytes: input, output, and the lines of requests not answered yet */
  size_t held;
  size_t decoding; /* the length of its line at the decoder */
  int64_t last_active_ms;
  int64_t output_moved_ms; /* when its unsent replies last began or drained, for the timeout */
  bool reads_held;         /* its unsent replies passed client_reply_window_bytes */
  struct event *hangup;    /* while throttled: the peer closing, seen without reading */
  bool hung_up;            /* seen so: read to its end, whatever the budget */
  TAILQ_ENTRY(client) link;
};

TAILQ_HEAD(client_list, client);

struct client_hub {
  struct event_base *base;
  api *api;
  decoder *decoder;
  const config *cfg;
  struct client_list lists[CLIENT_NSTATES];
  int counts[CLIENT_NSTATES];
  bool draining; /* the daemon is stopping: new requests are refused */
  bool freeing;  /* client_hub_free: the gateways and scanners are gone already */
  uint64_t next_id, accepted, refused;
  uint64_t denied;          /* requests [access] refused */
  uint64_t output_timeouts; /* clients closed by client_output_timeout_ms */
  int64_t next_output_check_ms;
  uint64_t received_bytes, sent_bytes; /* request lines taken, replies queued */
  size_t held, held_peak;              /* every client's buffered bytes, for max_buffered_bytes */
  uint64_t throttles;                  /* times a client was throttled by the budget */
  uint64_t budget_closes;              /* clients closed over the budget, for unread replies */
  int reads_held;                      /* clients past client_reply_window_bytes now */
  uint64_t reads_holds;                /* times a client passed it */
  bool over_budget;                    /* logged when it passes, and when it is back under */
};

/* What a reply is routed back to: a client, or a batch of one. */
typedef struct route {
  client *c;
  rpc_batch *b;
  size_t index;
  size_t bytes; /* its line's length (0 in a batch): held until its reply goes */
} route;

/* The number of clients with a socket (every state but closed). */
static int connected(const client_hub *hub) {
  return hub->counts[CLIENT_READING] + hub->counts[CLIENT_PAUSED] + hub->counts[CLIENT_THROTTLED] +
    hub->counts[CLIENT_FINISHING] + hub->counts[CLIENT_FLUSHING];
}

/* Moves c to state's list; the only place a client's state changes. */
static void client_set_state(client *c, client_state state) {
  client_hub *hub = c->hub;
  TAILQ_REMOVE(&hub->lists[c->state], c, link);
  hub->counts[c->state]--;
  c->state = state;
  TAILQ_INSERT_TAIL(&hub->lists[state], c, link);
  hub->counts[state]++;
}

/* Calls fn on every client that has a socket, in state order; fn may close the client. */
static void each_connected(client_hub *hub, void (*fn)(client *c, void *arg), void *arg) {
  for (int s = 0; s < CLIENT_CLOSED; s++) {
    client *c, *next;
    for (c = TAILQ_FIRST(&hub->lists[s]); c != NULL; c = next) {
      next = TAILQ_NEXT(c, link);
      fn(c, arg);
    }
  }
}

/* Every change in what a client holds goes through here. */
static void count_held(client *c, size_t added, size_t removed) {
  client_hub *hub = c->hub;
  c->held = c->held + added - removed;
  hub->held = hub->held + added - removed;
  if (hub->held > hub->held_peak)
    hub->held_peak = hub->held;
}

static void on_input_change(struct evbuffer *in, const struct evbuffer_cb_info *info, void *arg) {
  (void)in;
  count_held(arg, info->n_added, info->n_deleted);
}

/* client_reply_window_bytes: a client not reading its replies gets none of its reads started
 * (its reads would only fetch more for it not to read), until it has read half of the window. */
static void window_check(client *c, size_t unsent) {
  size_t window = c->hub->cfg->client_reply_window_bytes;
  bool hold = window > 0 && (c->reads_held ? unsent > window / 2 : unsent >= window);
  if (hold == c->reads_held)
    return;
  c->reads_held = hold;
  c->hub->reads_held += hold ? 1 : -1;
  c->hub->reads_holds += hold;
  api_client_hold_reads(c->hub->api, c->id, hold);
}

/* The clock of client_output_timeout_ms: it starts when replies begin to wait, and starts again
 * whenever some of their bytes leave. */
static void on_output_change(struct evbuffer *out, const struct evbuffer_cb_info *info, void *arg) {
  (void)out;
  client *c = arg;
  count_held(c, info->n_added, info->n_deleted);
  if (info->n_deleted > 0 || (info->orig_size == 0 && info->n_added > 0))
    c->output_moved_ms = clock_now_ms();
  window_check(c, info->orig_size + info->n_added - info->n_deleted);
}

/* True while the total is over max_buffered_bytes; logs the crossing. */
static bool over_budget(client_hub *hub) {
  size_t budget = hub->cfg->max_buffered_bytes;
  if (hub->held <= budget)
    return false;
  if (!hub->over_budget)
    log_warning("clients' buffered bytes (%zu) passed max_buffered_bytes (%zu): reading stops "
                "from the clients holding the most until they fall to %zu",
                hub->held, budget, budget / 4 * 3);
  hub->over_budget = true;
  return true;
}

/* Reading stops only while the client is throttled. */
static void unthrottle(client *c, client_state to) {
  event_del(c->hangup);
  client_set_state(c, to);
  if (to == CLIENT_READING)
    bufferevent_enable(c->bev, EV_READ);
}

/* A throttled client that hangs up is read again: its EOF closes it, and its bytes go. */
static void on_hangup(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  client *c = arg;
  c->hung_up = true;
  if (c->state != CLIENT_THROTTLED)
    return;
  unthrottle(c, CLIENT_READING);
}

static void throttle(client *c) {
  client_set_state(c, CLIENT_THROTTLED);
  bufferevent_disable(c->bev, EV_READ);
  c->hub->throttles++;
  if (c->hangup == NULL)
    c->hangup = event_new(c->hub->base, bufferevent_getfd(c->bev), EV_CLOSED, on_hangup, c);
  event_add(c->hangup, NULL);
}

/* After a client's bytes grew: over the budget, a client holding a large share of it is not
 * read any more, so that the others go on. */
static void budget_check(client *c) {
  client_hub *hub = c->hub;
  if (c->state == CLIENT_READING && !c->hung_up &&
      c->held >= hub->cfg->max_buffered_bytes >> BUDGET_HEAVY_SHIFT && over_budget(hub))
    throttle(c);
}

/* Under three quarters of the budget again, throttled clients are read again (unless their own
 * unsent replies keep them paused). Not called while a list is being walked: it moves clients. */
static void budget_relax(client_hub *hub) {
  if (!hub->over_budget || hub->held > hub->cfg->max_buffered_bytes / 4 * 3)
    return;
  hub->over_budget = false;
  log_info("clients' buffered bytes (%zu) are back under three quarters of max_buffered_bytes: "
           "every client is read again",
           hub->held);
  client *c;
  while ((c = TAILQ_FIRST(&hub->lists[CLIENT_THROTTLED])) != NULL)
    unthrottle(c,
               evbuffer_get_length(bufferevent_get_output(c->bev)) >
                   hub->cfg->max_output_bytes_per_client
                 ? CLIENT_PAUSED
                 : CLIENT_READING);
}

static bool is_free_to_go(const client *c) {
  return c->in_flight == 0 && c->holds == 0;
}

static void client_free(client *c) {
  client_hub *hub = c->hub;
  TAILQ_REMOVE(&hub->lists[c->state], c, link);
  hub->counts[c->state]--;
  access_peer_free(&c->peer);
  if (c->hangup != NULL)
    event_free(c->hangup);
  if (c->partial != NULL)
    evbuffer_free(c->partial);
  free(c);
}

/* Lets go of the start of an unfinished line (its callback counts it off). */
static void drop_partial(client *c) {
  if (c->partial != NULL)
    evbuffer_drain(c->partial, evbuffer_get_length(c->partial));
}

/* Stops reading, drops unsent output, and frees the client once nothing is in flight or held. */
static void client_close(client *c, const char *why) {
  if (c->state == CLIENT_CLOSED)
    return;
  log_info("client %llu (pid %d uid %d): closed: %s", (unsigned long long)c->id, (int)c->peer.pid,
           (int)c->peer.uid, why);
  if (c->hangup != NULL)
    event_del(c->hangup);
  client_set_state(c, CLIENT_CLOSED);
  c->hub->reads_held -= c->reads_held;
  c->reads_held = false;
  if (!c->hub->freeing)
    api_client_closed(c->hub->api, c->id);
  /* What the buffers hold goes with them; a line at the decoder is let go when it is back. */
  struct evbuffer *in = bufferevent_get_input(c->bev), *out = bufferevent_get_output(c->bev);
  evbuffer_remove_cb(in, on_input_change, c);
  evbuffer_remove_cb(out, on_output_change, c);
  count_held(c, 0, evbuffer_get_length(in) + evbuffer_get_length(out));
  drop_partial(c);
  bufferevent_free(c->bev);
  c->bev = NULL;
  if (is_free_to_go(c))
    client_free(c);
}

/* Closes c for the budget if it has left replies unread since before deaf_since. */
static bool close_if_deaf(client *c, int64_t deaf_since) {
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 || c->output_moved_ms > deaf_since)
    return false;
  char why[96];
  snprintf(why, sizeof why, "over max_buffered_bytes, and its replies went unread for %d ms",
           BUDGET_DEAF_MS);
  c->hub->budget_closes++;
  client_close(c, why);
  return true;
}

/* Sends what the socket takes now of a reply, when nothing is queued before it: most replies
 * then cost one send, without waiting for the socket to be reported writable. Returns the bytes
 * sent (0 when none could be, or some were queued already). */
static size_t send_now(client *c, struct evbuffer *out, const char *line, size_t len) {
  if (evbuffer_get_length(out) != 0)
    return 0;
  ssize_t n;
  do
    n = send(bufferevent_getfd(c->bev), line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  /* On an error the line is queued: the bufferevent's own write then reports it. */
  return n > 0 ? (size_t)n : 0;
}

static void free_line(const void *data, size_t len, void *line) {
  (void)data;
  (void)len;
  free(line);
}

/* Sends or queues a reply line (taking it); stops reading from a client that does not read its
 * replies. */
static void client_send(client *c, char *line) {
  if (line == NULL)
    return;
  if (c->state == CLIENT_CLOSED) {
    free(line);
    return;
  }
  /* Over the budget, a reply for a client that reads nothing is not kept: the client goes. */
  if (over_budget(c->hub) && close_if_deaf(c, clock_now_ms() - BUDGET_DEAF_MS)) {
    free(line);
    return;
  }
  struct evbuffer *out = bufferevent_get_output(c->bev);
  size_t len = strlen(line);
  size_t sent = send_now(c, out, line, len);
  c->hub->sent_bytes += len;
  if (sent == len) {
    free(line);
    return;
  }
  /* The rest is queued where it lies: a large reply is not copied. */
  evbuffer_add_reference(out, line + sent, len - sent, free_line, line);
  if (c->state == CLIENT_READING &&
      evbuffer_get_length(out) > c->hub->cfg->max_output_bytes_per_client) {
    client_set_state(c, CLIENT_PAUSED);
    bufferevent_disable(c->bev, EV_READ);
  }
  budget_check(c);
}

/* A client that half-closed (echo ... | socat) gets its replies before the connection goes.
 * Returns true when it closed the client, which may then be freed already. */
static bool close_if_answered(client *c) {
  if (c->state != CLIENT_FINISHING || !is_free_to_go(c) ||
      evbuffer_get_length(bufferevent_get_output(c->bev)) != 0)
    return false;
  client_close(c, "client disconnected");
  return true;
}

/* After a reply or a release: frees a closed client with nothing left, or closes a finishing
 * one that has been answered. */
static void settle(client *c) {
  if (c->state == CLIENT_CLOSED && is_free_to_go(c))
    client_free(c);
  else
    close_if_answered(c);
}

static void request_done(client *c) {
  c->in_flight--;
  settle(c);
}

/* A hold keeps c in memory across code that may send replies or close it (as Redis's
 * protectClient does); it is not a request, so max_requests_per_client does not count it. */
static void hold(client *c) {
  c->holds++;
}

static void release(client *c) {
  c->holds--;
  settle(c);
}

/* A member's reply (NULL for a notification): the batch's line goes out with the last one. */
static void rpc_batch_member_done(client *c, rpc_batch *b, size_t index, char *line) {
  b->members[index] = line;
  if (--b->pending > 0)
    return;
  /* Notifications have no member: an all-notification batch gets no reply at all. */
  size_t n = 0;
  for (size_t i = 0; i < b->nmembers; i++)
    if (b->members[i] != NULL)
      b->members[n++] = b->members[i];
  count_held(c, 0, b->bytes);
  client_send(c, n > 0 ? proto_batch_line(b->members, n) : NULL);
  for (size_t i = 0; i < n; i++)
    free(b->members[i]);
  free(b->members);
  free(b);
}

static void on_reply(void *owner, char *line) {
  route *r = owner;
  client *c = r->c;
  count_held(c, 0, r->bytes);
  if (r->b == NULL)
    client_send(c, line);
  else
    rpc_batch_member_done(c, r->b, r->index, line);
  free(r);
  request_done(c);
}

/* A request [access] refused: counted, and logged once per client. */
static void note_denial(client *c, const config_access_rule *rule) {
  c->hub->denied++;
  if (c->denial_logged)
    return;
  c->denial_logged = true;
  log_warning("client %llu (pid %d uid %d): a request was forbidden by [access] (%s); further "
              "refusals of this client are counted, not logged",
              (unsigned long long)c->id, (int)c->peer.pid, (int)c->peer.uid, rule->text);
}

static void dispatch(client *c, json_t *msg, rpc_batch *b, size_t index, size_t bytes) {
  route *r = xmalloc(sizeof *r);
  *r = (route){c, b, index, bytes};
  c->in_flight++;
  /* The rule is found per request: a reload applies to connected clients at once. */
  api_caller who = {c->id, access_rule_for(c->hub->cfg, &c->peer)};
  hold(c); /* the reply may come, and the client go, before api_call returns */
  if (!api_call(c->hub->api, msg, &who, on_reply, r))
    note_denial(c, who.rule);
  release(c);
}

/* The reply refusing a request over the client's in-flight limit, or any request once the daemon
 * is stopping, with its id (NULL for a notification); takes msg. */
static char *refusal(client *c, json_t *msg) {
  proto_error e = PROTO_ERROR_INIT;
  if (c->hub->draining)
    proto_fail(&e, PROTO_SHUTTING_DOWN,
               "hbpoold is stopping: the request was not run; send it "
               "again once it is back");
  else
    proto_fail(&e, PROTO_TOO_MANY_REQUESTS, "too many requests in flight on this connection (%d)",
               c->hub->cfg->max_requests_per_client);
  e.retryable = true;
  api_count_refused(c->hub->api, e.code);
  json_t *id = json_is_object(msg) ? json_object_get(msg, "id") : NULL;
  bool notification = json_is_object(msg) && id == NULL;
  char *line = notification ? NULL : proto_error_line(id, &e);
  proto_error_clear(&e);
  json_decref(msg);
  return line;
}

/* Members of a batch count one by one, like requests on lines of their own. */
static bool at_limit(const client *c) {
  return c->hub->draining || c->in_flight >= c->hub->cfg->max_requests_per_client;
}

/* One parsed line of bytes length: a request, or a JSON-RPC batch of them. */
static void handle_value(client *c, json_t *v, size_t bytes) {
  if (!json_is_array(v)) {
    if (!at_limit(c)) {
      dispatch(c, v, NULL, 0, bytes);
      return;
    }
    count_held(c, 0, bytes);
    client_send(c, refusal(c, v));
    return;
  }
  size_t n = json_array_size(v);
  rpc_batch *b = xcalloc(1, sizeof *b);
  b->members = xcalloc(n, sizeof *b->members);
  b->nmembers = b->pending = n;
  b->bytes = bytes;
  hold(c); /* the batch stays open until every member is dispatched */
  for (size_t i = 0; i < n; i++) {
    json_t *member = json_incref(json_array_get(v, i));
    if (at_limit(c))
      rpc_batch_member_done(c, b, i, refusal(c, member));
    else
      dispatch(c, member, b, i, 0);
  }
  json_decref(v);
  release(c);
}

/* A line of bytes length parsed: those bytes stay counted until what it asked is answered. */
static void on_parsed(client *c, json_t *v, const proto_error *e, size_t bytes) {
  if (v != NULL) {
    handle_value(c, v, bytes);
    return;
  }
  count_held(c, 0, bytes);
  if (e->code == 0)
    return; /* a blank line, found so by the decoder */
  api_count_refused(c->hub->api, e->code);
  client_send(c, proto_error_line(NULL, e));
}

static void process_input(client *c);

/* A large line comes back from the decoder: the client was held open for it meanwhile. */
static void on_decoded(void *owner, json_t *v, proto_error *e) {
  client *c = owner;
  c->line_at_decoder = false;
  if (c->state == CLIENT_CLOSED) {
    count_held(c, 0, c->decoding);
    json_decref(v);
  } else {
    on_parsed(c, v, e, c->decoding);
    process_input(c);
  }
  release(c);
}

/* Takes a small line (malloc'd) and parses it here. */
static void take_line(client *c, char *line, size_t len) {
  count_held(c, len, 0);
  if (proto_line_blank(line, len)) {
    count_held(c, 0, len);
  } else {
    proto_error e = PROTO_ERROR_INIT;
    json_t *v = proto_parse_line(line, len, &e);
    on_parsed(c, v, &e, len);
    proto_error_clear(&e);
  }
  free(line);
}

/* An over-long line gets an error, and the connection is closed once that error is sent: the rest
 * of the line could not be told from new requests. */
static void refuse_long_line(client *c, size_t max) {
  proto_error e = PROTO_ERROR_INIT;
  proto_fail(&e, PROTO_REQUEST_TOO_LARGE, "request line longer than max_line_bytes (%zu)", max);
  api_count_refused(c->hub->api, e.code);
  client_send(c, proto_error_line(NULL, &e));
  proto_error_clear(&e);
  if (c->state == CLIENT_CLOSED)
    return; /* closed for the budget */
  bufferevent_disable(c->bev, EV_READ);
  struct evbuffer *in = bufferevent_get_input(c->bev);
  c->hub->received_bytes += evbuffer_get_length(in);
  evbuffer_drain(in, evbuffer_get_length(in));
  c->hub->received_bytes += c->partial != NULL ? evbuffer_get_length(c->partial) : 0;
  drop_partial(c);
  client_set_state(c, CLIENT_FLUSHING);
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
    client_close(c, "request line too long");
}

/* Moves what the input holds, the start of a line, to c->partial: chains are moved, not
 * copied. */
static void keep_partial(client *c, struct evbuffer *in) {
  if (evbuffer_get_length(in) == 0)
    return;
  if (c->partial == NULL) {
    c->partial = evbuffer_new();
    evbuffer_add_cb(c->partial, on_input_change, c);
  }
  evbuffer_remove_buffer(in, c->partial, evbuffer_get_length(in));
}

/* Takes a large line, the first started bytes of it in c->partial and the next n in the input, to
 * the decoder's thread as it lies: its chains move, and the thread pulls them together. Copying
 * megabytes here would stall every client for milliseconds. */
static void take_large_line(client *c, struct evbuffer *in, size_t started, size_t n) {
  struct evbuffer *line = evbuffer_new();
  if (started > 0)
    evbuffer_remove_buffer(c->partial, line, started);
  evbuffer_remove_buffer(in, line, n);
  count_held(c, started + n, 0);
  c->line_at_decoder = true;
  c->decoding = started + n;
  hold(c);
  decoder_parse(c->hub->decoder, line, on_decoded, c);
}

/* Takes the complete lines buffered, in order; stops while a large line is being decoded, so
 * that a client's requests are dispatched in the order it sent them. After the client's EOF,
 * what is left is its last line, newline or not. */
static void process_input(client *c) {
  size_t max = c->hub->cfg->max_line_bytes;
  while (c->state <= CLIENT_FINISHING && !c->line_at_decoder) {
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t eol_len = 0, n = evbuffer_get_length(in);
    size_t started = c->partial != NULL ? evbuffer_get_length(c->partial) : 0;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
    if (eol.pos >= 0)
      n = (size_t)eol.pos;
    else if (c->state != CLIENT_FINISHING || n + started == 0) {
      if (n + started > max)
        refuse_long_line(c, max);
      else
        keep_partial(c, in);
      return;
    }
    if (started + n > max) {
      refuse_long_line(c, max);
      return;
    }
    c->hub->received_bytes += started + n + eol_len;
    if (started + n >= DECODER_MIN_BYTES) {
      take_large_line(c, in, started, n);
      evbuffer_drain(in, eol_len);
      continue;
    }
    char *line = xmalloc(started + n + 1);
    if (started > 0)
      evbuffer_remove(c->partial, line, started);
    evbuffer_remove(in, line + started, n);
    evbuffer_drain(in, eol_len);
    n += started;
    line[n] = '\0';
    if (n > 0 && line[n - 1] == '\r')
      n--;
    take_line(c, line, n);
  }
}

static void on_read(struct bufferevent *bev, void *arg) {
  (void)bev;
  client *c = arg;
  c->last_active_ms = clock_now_ms();
  hold(c); /* an over-long line may close it */
  process_input(c);
  budget_check(c);
  release(c);
}

/* The output has drained: resume a paused reader, or finish a close. */
static void on_write(struct bufferevent *bev, void *arg) {
  client *c = arg;
  budget_relax(c->hub);
  if (c->state == CLIENT_FLUSHING) {
    client_close(c, "request line too long");
    return;
  }
  if (close_if_answered(c))
    return;
  if (c->state == CLIENT_PAUSED) {
    client_set_state(c, CLIENT_READING);
    bufferevent_enable(bev, EV_READ);
  }
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
  (void)bev;
  client *c = arg;
  if (what & BEV_EVENT_EOF) {
    client_set_state(c, CLIENT_FINISHING);
    bufferevent_disable(c->bev, EV_READ);
    /* A reply arriving at once must not close (and free) the client under our feet. */
    hold(c);
    process_input(c);
    release(c); /* closes the client if everything is answered */
  } else if (what & BEV_EVENT_ERROR)
    client_close(c, "socket error");
}

void client_accept(client_hub *hub, int fd, const char *listener) {
  assert(hub != NULL && fd >= 0 && listener != NULL);
  if (connected(hub) >= hub->cfg->max_clients) {
    hub->refused++;
    proto_error e = PROTO_ERROR_INIT;
    proto_fail(&e, PROTO_TOO_MANY_REQUESTS, "too many clients (%d): try again later",
               hub->cfg->max_clients);
    e.retryable = true;
    char *line = proto_error_line(NULL, &e);
    ssize_t rc = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (rc > 0)
      hub->sent_bytes += (uint64_t)rc;
    free(line);
    proto_error_clear(&e);
    close(fd);
    log_warning("refused a client on %s: max_clients (%d) reached", listener,
                hub->cfg->max_clients);
    return;
  }
  client *c = xcalloc(1, sizeof *c);
  c->hub = hub;
  c->id = ++hub->next_id;
  access_peer_read(&c->peer, fd);
  evutil_make_socket_nonblocking(fd);
  c->bev = bufferevent_socket_new(hub->base, fd, BEV_OPT_CLOSE_ON_FREE);
  /* Reading stops once max_line_bytes + 1 are buffered without a newline: a flood is bounded. */
  bufferevent_setwatermark(c->bev, EV_READ, 0, hub->cfg->max_line_bytes + 1);
  bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
  evbuffer_add_cb(bufferevent_get_input(c->bev), on_input_change, c);
  evbuffer_add_cb(bufferevent_get_output(c->bev), on_output_change, c);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  c->last_active_ms = clock_now_ms();
  c->state = CLIENT_READING;
  TAILQ_INSERT_TAIL(&hub->lists[CLIENT_READING], c, link);
  hub->counts[CLIENT_READING]++;
  hub->accepted++;
  log_debug("client %llu (pid %d uid %d): connected on %s", (unsigned long long)c->id,
            (int)c->peer.pid, (int)c->peer.uid, listener);
}

client_hub *client_hub_new(struct event_base *base, api *a, decoder *dec, const config *cfg) {
  client_hub *hub = xcalloc(1, sizeof *hub);
  hub->base = base;
  hub->api = a;
  hub->decoder = dec;
  hub->cfg = cfg;
  for (int s = 0; s < CLIENT_NSTATES; s++)
    TAILQ_INIT(&hub->lists[s]);
  return hub;
}

static void close_for_stop(client *c, void *arg) {
  (void)arg;
  client_close(c, "daemon stopping");
}

void client_hub_free(client_hub *hub) {
  if (hub == NULL)
    return;
  hub->freeing = true; /* the api is not told: its gateways are freed, its scanners closed */
  each_connected(hub, close_for_stop, NULL);
  /* Clients still waiting for replies are freed as those arrive; the pool has been stopped by
   * now (its queued jobs replied to), so none is left. */
  client *c;
  while ((c = TAILQ_FIRST(&hub->lists[CLIENT_CLOSED])) != NULL)
    client_free(c);
  free(hub);
}

/* Closes c if it has been idle since *arg, a time in ms. */
static void close_if_idle_since(client *c, void *arg) {
  if (is_free_to_go(c) && c->last_active_ms < *(int64_t *)arg)
    client_close(c, "idle timeout");
}

/* Closes c if it has had replies waiting, none of whose bytes left, since *arg. */
static void close_if_unread_since(client *c, void *arg) {
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 ||
      c->output_moved_ms >= *(int64_t *)arg)
    return;
  char why[96];
  snprintf(why, sizeof why, "its replies went unread for %d ms (client_output_timeout_ms)",
           c->hub->cfg->client_output_timeout_ms);
  c->hub->output_timeouts++;
  client_close(c, why);
}

/* A client and what it held when the janitor looked, for the budget's ordering. */
typedef struct holder {
  client *c;
  size_t held;
} holder;

static int by_held_desc(const void *a, const void *b) {
  size_t x = ((const holder *)a)->held, y = ((const holder *)b)->held;
  return (x < y) - (x > y);
}

static void add_holder(client *c, void *arg) {
  holder **next = arg;
  if (c->held > 0)
    *(*next)++ = (holder){c, c->held};
}

/* Still over the budget at a janitor tick: stopping reads cannot shrink replies nobody reads, so
 * the clients holding such replies are closed, largest first, until it is under; then every
 * client still read that holds more than the average holder stops being read. */
static void budget_enforce(client_hub *hub, int64_t now) {
  if (!over_budget(hub)) {
    budget_relax(hub);
    return;
  }
  holder *all = xmalloc(((size_t)connected(hub) + 1) * sizeof *all), *end = all;
  each_connected(hub, add_holder, &end);
  size_t n = (size_t)(end - all);
  qsort(all, n, sizeof *all, by_held_desc);
  size_t closed = 0;
  for (size_t i = 0; i < n && over_budget(hub); i++)
    if (close_if_deaf(all[i].c, now - BUDGET_DEAF_MS)) {
      all[i].c = NULL; /* it may be freed */
      closed++;
    }
  size_t average = n > closed ? hub->held / (n - closed) : 0;
  for (size_t i = 0; i < n && over_budget(hub); i++)
    if (all[i].c != NULL && all[i].c->state == CLIENT_READING && !all[i].c->hung_up &&
        all[i].held >= average)
      throttle(all[i].c);
  free(all);
}

void client_hub_expire(client_hub *hub) {
  int64_t now = clock_now_ms();
  budget_enforce(hub, now);
  if (hub->cfg->client_idle_timeout_ms > 0) {
    int64_t since = now - hub->cfg->client_idle_timeout_ms;
    each_connected(hub, close_if_idle_since, &since);
  }
  /* Once a second: the walk covers every client, and the timeout is seconds long. */
  if (hub->cfg->client_output_timeout_ms > 0 && now >= hub->next_output_check_ms) {
    hub->next_output_check_ms = now + 1000;
    int64_t since = now - hub->cfg->client_output_timeout_ms;
    each_connected(hub, close_if_unread_since, &since);
  }
}

void client_hub_get_counts(client_hub *hub, client_hub_counts *out) {
  *out = (client_hub_counts){
    .connected = connected(hub),
    .closing = hub->counts[CLIENT_CLOSED],
    .accepted = hub->accepted,
    .refused = hub->refused,
    .denied = hub->denied,
    .output_timeouts = hub->output_timeouts,
    .buffered_bytes = hub->held,
    .buffered_bytes_peak = hub->held_peak,
    .throttled = hub->counts[CLIENT_THROTTLED],
    .throttles = hub->throttles,
    .budget_closes = hub->budget_closes,
    .reads_held = hub->reads_held,
    .reads_holds = hub->reads_holds,
    .received_bytes = hub->received_bytes,
    .sent_bytes = hub->sent_bytes,
  };
}

void client_hub_stats(client_hub *hub, json_t *stats) {
  client_hub_counts n;
  client_hub_get_counts(hub, &n);
  json_t *o = json_pack("{s:i,s:i,s:I,s:I,s:I,s:I,s:I,s:I}", "connected", n.connected, "closing",
                        n.closing, "accepted", (json_int_t)n.accepted, "refused",
                        (json_int_t)n.refused, "access_denied", (json_int_t)n.denied,
                        "output_timeouts", (json_int_t)n.output_timeouts, "received_bytes",
                        (json_int_t)n.received_bytes, "sent_bytes", (json_int_t)n.sent_bytes);
  json_object_update_new(o,
                         json_pack("{s:I,s:I,s:i,s:I,s:I}", "buffered_bytes",
                                   (json_int_t)n.buffered_bytes, "buffered_bytes_peak",
                                   (json_int_t)n.buffered_bytes_peak, "throttled", n.throttled,
                                   "throttles", (json_int_t)n.throttles, "budget_closes",
                                   (json_int_t)n.budget_closes));
  json_object_update_new(o,
                         json_pack("{s:i,s:I}", "reads_held", n.reads_held, "reads_holds",
                                   (json_int_t)n.reads_holds));
  json_object_set_new(stats, "clients", o);
}

int client_hub_count(const client_hub *hub) {
  return connected(hub);
}

static void add_unsent_bytes(client *c, void *arg) {
  *(size_t *)arg += evbuffer_get_length(bufferevent_get_output(c->bev));
}

size_t client_hub_unsent_bytes(client_hub *hub) {
  size_t n = 0;
  each_connected(hub, add_unsent_bytes, &n);
  return n;
}

void client_hub_drain(client_hub *hub) {
  hub->draining = true;
}

static void set_read_watermark(client *c, void *arg) {
  (void)arg;
  bufferevent_setwatermark(c->bev, EV_READ, 0, c->hub->cfg->max_line_bytes + 1);
}

void client_hub_reconfigure(client_hub *hub) {
  each_connected(hub, set_read_watermark, NULL);
}
