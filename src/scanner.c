/* scanner: scanner_open, scanner_next and scanner_close, for scans too long for one call, and the
 * scanners scan pages keep open for the scan call that continues them. Scanner ids are global to
 * the gateway, so a scanner is not tied to a pooled connection between calls; calls on one
 * scanner are serialised (the gateway fails concurrent ones), the others wait in its queue. A
 * scanner belongs to the client connection that opened it and goes with it; a kept one belongs
 * to the daemon and goes when unused for scan_keep_open_ms. */
#include "scanner.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "scan_spec.h"
#include "xmalloc.h"

/* The open scanners of the daemon, and what a scanner's own calls need of the api. */
struct scanner_set {
  TAILQ_HEAD(, scanner) list;
  uint64_t next_id;
  uint64_t reopens;
  uint64_t read_aheads;
  uint64_t resumes; /* scan pages read from a kept scanner */
  call_env *env;
};

/* Only the call holding it (busy) touches its gateway state. */
struct scanner {
  uint64_t id;
  uint64_t client_id; /* the client that opened it: only it may use it */
  uint32_t gateway;   /* the gateway it lives on (a cluster id): its calls go there */
  int32_t gateway_id; /* the gateway's id of it */
  bool busy, closed;
  /* Kept by a scan page, owned by the daemon: found by key, the continuing call's params in
   * the form scan.c gives them (NULL while a call has it, or once it is closed). */
  bool kept;
  char *key;
  int64_t last_used_ms;
  char *table;
  hbc_scan scan;     /* to reopen it after the gateway expired it */
  proto_mem *mem;    /* scan's bytes */
  uint8_t *last_key; /* the last row returned, where a reopened scanner resumes */
  size_t last_len;
  bool have_last;
  hbc_bytes prefix;      /* row_prefix: a reverse scan stops at the first row without it */
  bool skip_start;       /* the first row may be the key after the prefix: skip it */
  bool ended;            /* left the prefix: the gateway scanner has nothing more for us */
  int32_t rows_per_call; /* batch_size */
  /* Read-ahead: the rows the gateway gave after the last scanner_next, fetched while the client
   * reads that call's reply, and not yet returned (from ahead_at on); or why that fetch failed,
   * which the next scanner_next then reports. has_ahead: one of the two is there. */
  bool has_ahead;
  hbc_result ahead;
  size_t ahead_at;
  hb_error ahead_err;
  int32_t read_ahead; /* rows to read ahead once the current call is over; 0: none */
  bool include_timestamp, sorted_columns;
  TAILQ_HEAD(, call) waiting;
  TAILQ_ENTRY(scanner) link;
};

/* A scanner with copies of k's scan options: the request's bytes go with the request. */
static scanner *scanner_new(scanner_set *set, const call *k) {
  scanner *sc = xcalloc(1, sizeof *sc);
  sc->id = ++set->next_id;
  sc->client_id = k->client_id;
  sc->table = xstrdup(k->table);
  sc->scan = k->scan;
  sc->scan.start_row = call_keep_bytes(&sc->mem, k->scan.start_row);
  sc->scan.stop_row = call_keep_bytes(&sc->mem, k->scan.stop_row);
  sc->scan.filter = call_keep_bytes(&sc->mem, k->scan.filter);
  sc->prefix = call_keep_bytes(&sc->mem, k->prefix);
  sc->skip_start = k->start_exclusive;
  hbc_bytes *cols = proto_mem_alloc(&sc->mem, (k->ncolumns ? k->ncolumns : 1) * sizeof *cols);
  for (size_t i = 0; i < k->ncolumns; i++)
    cols[i] = call_keep_bytes(&sc->mem, k->columns[i]);
  sc->scan.columns = cols;
  sc->rows_per_call = k->scan.caching;
  sc->include_timestamp = k->include_timestamp;
  sc->sorted_columns = k->sorted_columns;
  TAILQ_INIT(&sc->waiting);
  TAILQ_INSERT_TAIL(&set->list, sc, link);
  return sc;
}

static int prepare_scanner_open(call *k, proto_error *e) {
  if (scan_spec_prepare(k, e) < 0)
    return -1;
  k->sc = scanner_new(k->env->scanners, k);
  return 0;
}

static json_t *run_scanner_open(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  if (hbc_scanner_open(c, hbc_str(sc->table), &sc->scan, &sc->gateway_id, herr) < 0)
    return NULL;
  sc->gateway = k->job.route.ran_on;
  return json_pack("{s:I}", "scanner", (json_int_t)sc->id);
}

static void drop_ahead(scanner *sc) {
  hbc_result_free(&sc->ahead);
  sc->ahead = (hbc_result)HBC_RESULT_INIT;
  sc->ahead_at = 0;
  hb_error_clear(&sc->ahead_err);
  sc->has_ahead = false;
}

static void scanner_free(scanner_set *set, scanner *sc) {
  call *w;
  while ((w = TAILQ_FIRST(&sc->waiting)) != NULL) {
    TAILQ_REMOVE(&sc->waiting, w, wait_link);
    set->env->in_flight--;
    proto_fail(&w->err, PROTO_INVALID_PARAMS, "invalid params: scanner %llu was closed",
               (unsigned long long)sc->id);
    w->sc = NULL;
    call_finish(w);
  }
  TAILQ_REMOVE(&set->list, sc, link);
  drop_ahead(sc);
  proto_mem_free(&sc->mem);
  free(sc->key);
  free(sc->last_key);
  free(sc->table);
  free(sc);
}

/* The scanner's call is over: the next waiting call on it may go. */
static void scanner_release(scanner_set *set, scanner *sc) {
  sc->busy = false;
  sc->last_used_ms = clock_now_ms();
  call *w = TAILQ_FIRST(&sc->waiting);
  if (w == NULL)
    return;
  TAILQ_REMOVE(&sc->waiting, w, wait_link);
  set->env->in_flight--;
  sc->busy = true;
  w->prefer_gateway = sc->gateway;
  call_submit(w);
}

static void after_scanner_open(call *k) {
  if (call_failed(k))
    scanner_free(k->env->scanners, k->sc);
  else
    scanner_release(k->env->scanners, k->sc);
}

static int prepare_scanner_use(call *k, proto_error *e) {
  int64_t id = 0;
  if (proto_param_int(&k->req, "scanner", true, 1, INT64_MAX, &id, e) < 0)
    return -1;
  scanner *sc;
  TAILQ_FOREACH(sc, &k->env->scanners->list, link)
  if ((int64_t)sc->id == id && sc->client_id == k->client_id && !sc->kept && !sc->closed)
    break;
  if (sc == NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"scanner\" %lld is not open on this connection (closed, "
                      "expired after scanner_idle_timeout_ms, or never opened)",
                      (long long)id);
  k->sc = sc;
  return 0;
}

static int prepare_scanner_next(call *k, proto_error *e) {
  if (prepare_scanner_use(k, e) < 0)
    return -1;
  k->arg.scanner_next.count = k->sc->rows_per_call;
  k->include_timestamp = k->sc->include_timestamp;
  k->sorted_columns = k->sc->sorted_columns;
  return proto_param_int(&k->req, "count", false, 1, INT32_MAX, &k->arg.scanner_next.count, e);
}

/* Opens a new gateway scanner for sc, on the gateway this call runs on, that starts at the last
 * row fetched (the caller skips it). */
static int reopen_scanner(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  hbc_scan s = sc->scan;
  if (sc->have_last)
    s.start_row = (hbc_bytes){sc->last_key, sc->last_len};
  if (hbc_scanner_open(c, hbc_str(sc->table), &s, &sc->gateway_id, herr) < 0)
    return -1;
  sc->gateway = k->job.route.ran_on;
  k->reopened = true;
  return 0;
}

/* The gateway drops scanners unused for a while ("scanner ID is invalid"): a new one after the
 * last row fetched, unless scan_batching may have split that row. */
static int reopen_expired(hbc_conn *c, call *k, hb_error *herr) {
  if (herr->code != HB_ERR_ILLEGAL_ARGUMENT || k->sc->scan.batch_size > 0)
    return -1;
  hb_error_clear(herr);
  return reopen_scanner(c, k, herr);
}

/* The call runs on another gateway than the scanner's (that one failed, or a reload removed it):
 * its scanner id means nothing here, or another scanner. A new one after the last row fetched,
 * unless scan_batching may have split that row. */
static int reopen_moved(hbc_conn *c, call *k, hb_error *herr) {
  if (k->sc->scan.batch_size > 0)
    return proto_fail(&k->err, PROTO_INVALID_PARAMS,
                      "invalid params: scanner %llu lost its gateway, and a scan with "
                      "scan_batching cannot resume on another: open a new scanner",
                      (unsigned long long)k->sc->id);
  return reopen_scanner(c, k, herr);
}

static void remember_last(scanner *sc, hbc_bytes key) {
  sc->last_key = xrealloc(sc->last_key, key.len ? key.len : 1);
  if (key.len > 0)
    memcpy(sc->last_key, key.data, key.len);
  sc->last_len = key.len;
  sc->have_last = true;
}

/* Fetches up to n rows, reopening the scanner if the gateway expired it or the call runs on
 * another gateway. The first row may be one not to return: the one a resumed scanner starts at
 * (returned already), or the key just after the prefix where a reverse prefix scan starts. */
static int fetch(hbc_conn *c, call *k, int32_t n, hbc_result *res, hb_error *herr) {
  scanner *sc = k->sc;
  hbc_bytes skip = sc->skip_start && !sc->have_last ? sc->scan.start_row : (hbc_bytes){0};
  bool skipping = sc->skip_start && !sc->have_last;
  bool reopened = false;
  if (k->job.route.ran_on != sc->gateway) {
    if (reopen_moved(c, k, herr) < 0)
      return -1;
    reopened = true;
  }
  if (hbc_scanner_get_list(c, sc->gateway_id, n, res, herr) < 0) {
    if (reopened || reopen_expired(c, k, herr) < 0 ||
        hbc_scanner_get_list(c, sc->gateway_id, n, res, herr) < 0)
      return -1;
    reopened = true;
  }
  if (reopened && sc->have_last) {
    skip = (hbc_bytes){sc->last_key, sc->last_len};
    skipping = true;
  }
  int skipped = skipping && res->nrows > 0 && hbc_bytes_equal(res->rows[0].key, skip) ? 1 : 0;
  /* Where a reopened scanner resumes: after the last row fetched, returned or read ahead (skip
   * may point into the old last_key: compared above, before it is replaced). */
  if (res->nrows > 0)
    remember_last(sc, res->rows[res->nrows - 1].key);
  return skipped;
}

/* Writes rows of a page, up to the first without the prefix (the scan is then over: *done);
 * *last, if given, becomes the last row written. */
static int write_rows(call *k, proto_text *t, const hbc_row *rows, size_t n, size_t *written,
                      hbc_bytes *last, bool *done) {
  scanner *sc = k->sc;
  for (size_t i = 0; sc->prefix.len > 0 && i < n; i++) {
    if (!scan_spec_has_prefix(rows[i].key, sc->prefix)) {
      n = i;
      sc->ended = *done = true;
    }
  }
  int rc = call_text_rows(k, t, rows, n, *written > 0);
  *written += n;
  if (last != NULL && n > 0)
    *last = call_keep_bytes(&k->mem, rows[n - 1].key);
  return rc;
}

/* Up to want rows from those read ahead; false when the read-ahead failed (herr says why). */
static bool take_ahead(call *k, proto_text *t, size_t want, size_t *written, hbc_bytes *last,
                       bool *done, int *rc, hb_error *herr) {
  scanner *sc = k->sc;
  if (!sc->has_ahead)
    return true;
  if (sc->ahead_err.code != HB_OK) {
    hb_error_set(herr, sc->ahead_err.code, "%s", sc->ahead_err.message);
    drop_ahead(sc);
    return false;
  }
  *done = sc->ahead.nrows == 0; /* only an empty list means the scanner is done */
  size_t n = sc->ahead.nrows - sc->ahead_at;
  if (n > want)
    n = want;
  *rc = write_rows(k, t, sc->ahead.rows + sc->ahead_at, n, written, last, done);
  sc->ahead_at += n;
  if (sc->ahead_at == sc->ahead.nrows)
    drop_ahead(sc);
  return true;
}

static json_t *run_scanner_next(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  if (sc->ended)
    return json_pack("{s:[],s:b}", "rows", "done", true);
  proto_text *t = call_text_begin(k);
  proto_text_puts(t, "{\"rows\":[");
  size_t want = (size_t)k->arg.scanner_next.count, written = 0;
  bool done = false;
  int rc = 0;
  if (!take_ahead(k, t, want, &written, NULL, &done, &rc, herr))
    return NULL;
  /* The rest (all of it without read-ahead) from the gateway. */
  if (rc == 0 && !done && written < want) {
    hbc_result res = HBC_RESULT_INIT;
    int skipped = fetch(c, k, (int32_t)(want - written), &res, herr);
    if (skipped < 0)
      return NULL;
    bool empty = res.nrows == 0; /* only an empty list means the scanner is done */
    done = empty;
    rc = write_rows(k, t, res.rows + skipped, res.nrows - (size_t)skipped, &written, NULL, &done);
    hbc_result_free(&res);
    if (empty && written > 0) {
      /* Rows read ahead, then the end: done is said by an empty page, the next call's. */
      done = false;
      sc->has_ahead = true;
    }
  }
  proto_text_puts(t, done ? "],\"done\":true}" : "],\"done\":false}");
  /* While the client reads this page, the next one comes from the gateway (after_scanner_use). */
  sc->read_ahead = !done && !sc->has_ahead ? (int32_t)want : 0;
  return rc == 0 ? call_text_result(k) : NULL;
}

static void discard_reply(void *owner, char *line) {
  (void)owner;
  free(line);
}

/* The read-ahead: the daemon's own scanner_next, made while the scanner is still held for the
 * call before it, whose rows the next scanner_next takes. A failure is kept for that call: rows
 * may have left the gateway's scanner, so the scan must not go on as if nothing happened. */
static json_t *run_read_ahead(hbc_conn *c, call *k, hb_error *herr) {
  scanner *sc = k->sc;
  hbc_result res = HBC_RESULT_INIT;
  int skipped = fetch(c, k, (int32_t)k->arg.scanner_next.count, &res, herr);
  sc->has_ahead = true;
  if (skipped < 0) {
    hb_error_set(&sc->ahead_err, herr->code, "%s",
                 herr->message != NULL ? herr->message : "the read-ahead failed");
    return NULL;
  }
  sc->ahead = res;
  sc->ahead_at = (size_t)skipped;
  return json_null();
}

static void after_read_ahead(call *k) {
  if (k->reopened)
    k->env->scanners->reopens++;
  if (!call_failed(k))
    k->env->scanners->read_aheads++;
  scanner_release(k->env->scanners, k->sc);
}

static const method read_ahead_method = {"scanner_next (read-ahead)",
                                         NULL,
                                         run_read_ahead,
                                         POOL_RETRY_NEVER,
                                         NULL,
                                         after_read_ahead,
                                         NULL,
                                         METHOD_READS,
                                         false};

/* Starts a read-ahead of n rows on sc, which stays held until it is over. */
static void read_ahead(call_env *env, scanner *sc, int32_t n) {
  call *k = xcalloc(1, sizeof *k);
  k->env = env;
  k->reply = discard_reply;
  k->m = &read_ahead_method;
  k->sc = sc;
  k->arg.scanner_next.count = n;
  k->prefer_gateway = sc->gateway;
  call_submit(k);
}

/* A scanner_next is over: the scanner goes to the next call waiting for it or, when none waits
 * and the scan goes on, reads ahead for the call the client will make. */
static void after_scanner_use(call *k) {
  if (k->reopened)
    k->env->scanners->reopens++;
  scanner *sc = k->sc;
  if (sc == NULL)
    return;
  int32_t n = sc->read_ahead;
  sc->read_ahead = 0;
  if (n > 0 && k->env->scanner_read_ahead && !call_failed(k) && !sc->closed &&
      TAILQ_EMPTY(&sc->waiting)) {
    read_ahead(k->env, sc, n);
    return;
  }
  scanner_release(k->env->scanners, sc);
}

static json_t *run_scanner_close(hbc_conn *c, call *k, hb_error *herr) {
  /* On another gateway its id is nothing, or someone else's scanner; its own gateway expires it
   * (scanner timeout), or has lost it. */
  if (k->job.route.ran_on != k->sc->gateway)
    return json_null();
  /* A scanner the gateway already expired is as closed as it gets. */
  if (hbc_scanner_close(c, k->sc->gateway_id, herr) < 0 && herr->code != HB_ERR_ILLEGAL_ARGUMENT)
    return NULL;
  hb_error_clear(herr);
  return json_null();
}

static void after_scanner_close(call *k) {
  if (k->sc != NULL)
    scanner_free(k->env->scanners, k->sc);
}

static int prepare_scanner_close(call *k, proto_error *e) {
  if (prepare_scanner_use(k, e) < 0)
    return -1;
  k->sc->closed = true; /* no new calls; those already waiting fail when it goes */
  return 0;
}

static const char *const SCANNER_OPEN_PARAMS[] =
  {"table",   "use_prefix", "row_start",         "row_stop",   "row_prefix",    "columns",
   "filter",  "timestamp",  "include_timestamp", "batch_size", "scan_batching", "sorted_columns",
   "reverse", NULL};
static const char *const SCANNER_NEXT_PARAMS[] = {"scanner", "count", NULL};
static const char *const SCANNER_CLOSE_PARAMS[] = {"scanner", NULL};

/* A call on a scanner in use waits for it (the gateway fails concurrent calls on one scanner):
 * true when k was queued, submitted once the scanner is free; false when k may go now, and the
 * scanner is held for it. */
bool scanner_wait(call *k) {
  scanner *sc = k->sc;
  if (sc == NULL)
    return false;
  if (sc->busy) {
    TAILQ_INSERT_TAIL(&sc->waiting, k, wait_link);
    k->env->in_flight++;
    return true;
  }
  sc->busy = true;
  k->prefer_gateway = sc->gateway;
  return false;
}

/* A stale connection may have failed mid-reply, after the scanner moved on: never retried.
 * Indexed, so that close_scanner finds scanner_close whatever the order. */
enum { SCANNER_OPEN, SCANNER_NEXT, SCANNER_CLOSE, SCANNER_END };
const method scanner_methods[] = {
  [SCANNER_OPEN] = {"scanner_open", prepare_scanner_open, run_scanner_open, POOL_RETRY_NEVER,
                    SCANNER_OPEN_PARAMS, after_scanner_open, scanner_wait, METHOD_READS, false},
  [SCANNER_NEXT] = {"scanner_next", prepare_scanner_next, run_scanner_next, POOL_RETRY_NEVER,
                    SCANNER_NEXT_PARAMS, after_scanner_use, scanner_wait, METHOD_READS, true},
  [SCANNER_CLOSE] = {"scanner_close", prepare_scanner_close, run_scanner_close, POOL_RETRY_NEVER,
                     SCANNER_CLOSE_PARAMS, after_scanner_close, scanner_wait, METHOD_READS, false},
  [SCANNER_END] = {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};

/* Closes a scanner on the gateway on the daemon's own account (no reply to anyone). */
static void close_scanner(scanner_set *set, scanner *sc) {
  if (sc->closed)
    return;
  sc->closed = true;
  free(sc->key);
  sc->key = NULL;
  call *k = xcalloc(1, sizeof *k);
  k->env = set->env;
  k->reply = discard_reply;
  k->m = &scanner_methods[SCANNER_CLOSE];
  k->sc = sc;
  call_start(k);
}

scanner_set *scanner_set_new(call_env *env) {
  scanner_set *set = xcalloc(1, sizeof *set);
  TAILQ_INIT(&set->list);
  set->env = env;
  return set;
}

void scanner_set_free(scanner_set *set) {
  if (set == NULL)
    return;
  while (!TAILQ_EMPTY(&set->list))
    scanner_free(set, TAILQ_FIRST(&set->list));
  free(set);
}

void scanner_client_closed(scanner_set *set, uint64_t client_id) {
  scanner *sc, *next;
  for (sc = TAILQ_FIRST(&set->list); sc != NULL; sc = next) {
    next = TAILQ_NEXT(sc, link);
    if (sc->client_id == client_id && !sc->kept)
      close_scanner(set, sc);
  }
}

void scanner_expire(scanner_set *set, int idle_timeout_ms, int keep_open_ms) {
  int64_t now = clock_now_ms();
  scanner *sc, *next;
  for (sc = TAILQ_FIRST(&set->list); sc != NULL; sc = next) {
    next = TAILQ_NEXT(sc, link);
    int timeout_ms = sc->kept ? keep_open_ms : idle_timeout_ms;
    if (!sc->busy && !sc->closed && now - sc->last_used_ms > timeout_ms)
      close_scanner(set, sc);
  }
}

void scanner_close_all(scanner_set *set) {
  scanner *sc, *next;
  for (sc = TAILQ_FIRST(&set->list); sc != NULL; sc = next) {
    next = TAILQ_NEXT(sc, link);
    close_scanner(set, sc);
  }
}

int scanner_count(const scanner_set *set, bool kept) {
  int n = 0;
  const scanner *sc;
  TAILQ_FOREACH(sc, &set->list, link)
  n += sc->kept == kept && !sc->closed;
  return n;
}

uint64_t scanner_reopens(const scanner_set *set) {
  return set->reopens;
}

uint64_t scanner_read_aheads(const scanner_set *set) {
  return set->read_aheads;
}

uint64_t scanner_resumes(const scanner_set *set) {
  return set->resumes;
}

/* ---------------------------------------------------------------------------------------------
 * Kept scanners: a scan page that stopped at scan_max_rows leaves its gateway scanner open, and
 * the scan call that continues it reads on from there (and from its read-ahead) instead of
 * opening a scanner of its own. */

/* At most this many scanners are kept: the least recently used idle one goes first. Each holds a
 * gateway scanner and up to a page read ahead. */
#define SCANNER_KEPT_MAX 64

static void close_least_used_kept(scanner_set *set) {
  scanner *sc, *oldest = NULL;
  int kept = 0;
  TAILQ_FOREACH(sc, &set->list, link) {
    if (!sc->kept || sc->closed)
      continue;
    kept++;
    if (!sc->busy && (oldest == NULL || sc->last_used_ms < oldest->last_used_ms))
      oldest = sc;
  }
  if (kept > SCANNER_KEPT_MAX && oldest != NULL)
    close_scanner(set, oldest);
}

void scanner_keep(call *k, int32_t gateway_id, hbc_bytes last) {
  scanner_set *set = k->env->scanners;
  scanner *sc = scanner_new(set, k);
  sc->kept = true;
  sc->client_id = 0;
  sc->gateway_id = gateway_id;
  sc->gateway = k->job.route.ran_on;
  sc->busy = true;
  remember_last(sc, last);
  k->sc = sc;
  close_least_used_kept(set);
}

bool scanner_take_kept(call *k, const char *key) {
  scanner *sc;
  TAILQ_FOREACH(sc, &k->env->scanners->list, link)
  if (sc->key != NULL && strcmp(sc->key, key) == 0)
    break;
  if (sc == NULL)
    return false;
  free(sc->key);
  sc->key = NULL;
  k->sc = sc;
  return true;
}

int scanner_page(hbc_conn *c, call *k, proto_text *t, size_t want, size_t *written, hbc_bytes *last,
                 bool *done, hb_error *herr) {
  scanner *sc = k->sc;
  int rc = 0;
  *done = sc->ended;
  if (!*done && !take_ahead(k, t, want, written, last, done, &rc, herr))
    return -1;
  while (rc == 0 && !*done && *written < want) {
    size_t n = want - *written;
    if (n > (size_t)sc->rows_per_call)
      n = (size_t)sc->rows_per_call;
    hbc_result res = HBC_RESULT_INIT;
    int skipped = fetch(c, k, (int32_t)n, &res, herr);
    if (skipped < 0)
      return -1;
    *done = res.nrows == 0; /* only an empty list means the scanner is done */
    rc = write_rows(k, t, res.rows + skipped, res.nrows - (size_t)skipped, written, last, done);
    hbc_result_free(&res);
  }
  if (rc == 0)
    k->env->scanners->resumes++;
  return rc;
}

void scanner_page_after(call *k, char *key, int32_t read_ahead_rows) {
  scanner *sc = k->sc;
  if (sc == NULL) {
    free(key);
    return;
  }
  scanner_set *set = k->env->scanners;
  if (key == NULL || call_failed(k) || sc->closed) {
    free(key);
    close_scanner(set, sc);
    scanner_release(set, sc);
    return;
  }
  sc->key = key;
  if (read_ahead_rows > 0 && k->env->scanner_read_ahead && !sc->has_ahead &&
      TAILQ_EMPTY(&sc->waiting)) {
    read_ahead(k->env, sc, read_ahead_rows);
    return;
  }
  scanner_release(set, sc);
}
