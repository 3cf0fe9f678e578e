/* scan: the scan method: one call returns up to limit rows, capped at scan_max_rows, and "next",
 * the params that continue where it stopped. */
#include <stdlib.h>

#include "call.h"
#include "scan_spec.h"
#include "scanner.h"
#include "xmalloc.h"

/* Writes the rows of a page that the scan returns: not a first row equal to an exclusive start,
 * nothing from the first row without the prefix on (*ended), at most up to the limit. False when
 * the scan must stop there (the prefix left, the limit reached, or an encoding error: *failed). */
static bool write_page(call *k, proto_text *t, const hbc_result *res, int64_t *returned,
                       hbc_bytes *last, bool *ended, bool *failed) {
  size_t from = 0, to = res->nrows;
  if (*returned == 0 && to > 0 && k->start_exclusive &&
      hbc_bytes_equal(res->rows[0].key, k->scan.start_row))
    from = 1;
  for (size_t i = from; k->prefix.len > 0 && i < to; i++) {
    if (!scan_spec_has_prefix(res->rows[i].key, k->prefix)) {
      to = i;
      *ended = true;
    }
  }
  if ((int64_t)(to - from) > k->arg.scan.limit - *returned)
    to = from + (size_t)(k->arg.scan.limit - *returned);
  if (call_text_rows(k, t, res->rows + from, to - from, *returned > 0) < 0) {
    *failed = true;
    return false;
  }
  if (to > from) {
    *returned += (int64_t)(to - from);
    *last = call_keep_bytes(&k->mem, res->rows[to - 1].key);
  }
  return !*ended && *returned < k->arg.scan.limit;
}

/* The params of the call that continues where this one stopped. */
static json_t *scan_next(call *k, hbc_bytes last, size_t returned) {
  json_t *next = json_deep_copy(k->req.params);
  json_t *key = proto_bytes_to_json(last, k->req.encoding, "a row key", &k->err);
  if (next == NULL || key == NULL) {
    json_decref(next);
    json_decref(key);
    return NULL;
  }
  json_object_set_new(next, "row_start", key);
  json_object_set_new(next, "row_start_exclusive", json_true());
  if (k->arg.scan.limit != INT32_MAX)
    json_object_set_new(next, "limit", json_integer(k->arg.scan.limit - (json_int_t)returned));
  return next;
}

/* The key a kept scanner is found by: the table as the gateway knows it (a reload may change the
 * prefix), the encoding the row keys are in, and the params in one canonical form. */
static char *scan_key(const call *k, json_t *params) {
  char *dump = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
  if (dump == NULL)
    return NULL;
  char *key = xasprintf("%s\n%d\n%s", k->table, (int)k->req.encoding, dump);
  free(dump);
  return key;
}

/* A continuation finds the scanner its page kept, if it is still open. */
static int prepare_scan(call *k, proto_error *e) {
  if (scan_spec_prepare(k, e) < 0)
    return -1;
  if (k->env->scan_keep_open_ms == 0 || !k->start_exclusive)
    return 0;
  char *key = scan_key(k, k->req.params);
  if (key != NULL)
    scanner_take_kept(k, key);
  free(key);
  return 0;
}

/* Ends a page of returned rows after last: "next" when it stopped at the cap with more to come,
 * and then what the call's after needs to keep its scanner for that next call. */
static json_t *end_page(call *k, proto_text *t, bool stopped_at_cap, hbc_bytes last,
                        int64_t returned, bool keep) {
  proto_text_puts(t, "],\"next\":");
  json_t *next = stopped_at_cap ? scan_next(k, last, (size_t)returned) : NULL;
  if (next == NULL || proto_text_json(t, next) < 0)
    proto_text_puts(t, "null");
  if (next != NULL && keep) {
    int64_t left = k->arg.scan.limit - returned;
    k->arg.scan.next_key = scan_key(k, next);
    k->arg.scan.read_ahead = (int32_t)(left < k->scan_cap ? left : k->scan_cap);
  }
  json_decref(next);
  proto_text_add(t, "}", 1);
  return call_text_result(k);
}

/* A page read from a scanner of its own, opened at row_start; kept open after the page when the
 * scan goes on, unless keep is false. */
static json_t *run_opened(hbc_conn *c, call *k, bool keep, hb_error *herr) {
  int64_t cap = k->scan_cap;
  int64_t want = k->arg.scan.limit;
  bool capped = k->arg.scan.limit > cap;
  if (capped)
    k->arg.scan.limit = cap;
  int32_t id = -1;
  if (hbc_scanner_open(c, call_table(k), &k->scan, &id, herr) < 0) {
    k->arg.scan.limit = want;
    return NULL;
  }
  proto_text *t = call_text_begin(k);
  proto_text_puts(t, "{\"rows\":[");
  int64_t returned = 0;
  hbc_bytes last = {0};
  bool ended = false, failed = false, more = true;
  while (more && !ended && !failed) {
    /* A continuation's first row is the one it resumes after: fetched one more in the same
     * call, rather than a call of its own for the last row of the page. */
    int64_t skipped = k->start_exclusive && returned == 0 ? 1 : 0;
    int64_t left = k->arg.scan.limit - returned;
    int64_t n = (left < k->scan.caching ? left : k->scan.caching) + skipped;
    if (n > INT32_MAX)
      n = INT32_MAX;
    hbc_result res = HBC_RESULT_INIT;
    if (hbc_scanner_get_list(c, id, (int32_t)n, &res, herr) < 0) {
      failed = true;
      break;
    }
    ended = res.nrows == 0; /* only an empty list means the scanner is done */
    more = write_page(k, t, &res, &returned, &last, &ended, &failed);
    hbc_result_free(&res);
  }
  k->arg.scan.limit = want;
  bool stopped_at_cap = !failed && capped && !ended && returned == cap;
  /* Every row fetched was returned, so the gateway scanner stands right after the last. */
  if (stopped_at_cap && keep) {
    scanner_keep(k, id, last);
    return end_page(k, t, true, last, returned, true);
  }
  hb_error close_err = HB_ERROR_INIT;
  if (herr->code == HB_OK || !hb_error_breaks_connection(herr->code))
    hbc_scanner_close(c, id, &close_err);
  hb_error_clear(&close_err);
  return failed ? NULL : end_page(k, t, stopped_at_cap, last, returned, false);
}

/* A page read on from the scanner the page before kept (k->sc). */
static json_t *run_kept(hbc_conn *c, call *k, hb_error *herr) {
  int64_t cap = k->scan_cap;
  int64_t want = k->arg.scan.limit < cap ? k->arg.scan.limit : cap;
  proto_text *t = call_text_begin(k);
  proto_text_puts(t, "{\"rows\":[");
  size_t returned = 0;
  hbc_bytes last = {0};
  bool done = false;
  if (scanner_page(c, k, t, (size_t)want, &returned, &last, &done, herr) < 0)
    return NULL;
  bool stopped_at_cap = !done && k->arg.scan.limit > cap && (int64_t)returned == cap;
  return end_page(k, t, stopped_at_cap, last, (int64_t)returned, true);
}

/* A continuation reads on from its kept scanner. If that fails (the scanner's read-ahead failed,
 * the gateway lost it...), the page is read from a scanner of its own: its params say where to
 * resume, so nothing is lost or returned twice. */
static json_t *run_scan(hbc_conn *c, call *k, hb_error *herr) {
  free(k->arg.scan.next_key); /* an earlier attempt's */
  k->arg.scan.next_key = NULL;
  if (k->sc == NULL)
    return run_opened(c, k, k->env->scan_keep_open_ms > 0, herr);
  if (!k->arg.scan.kept_failed) {
    json_t *result = run_kept(c, k, herr);
    if (result != NULL)
      return result;
    k->arg.scan.kept_failed = true;
    free(k->arg.scan.next_key);
    k->arg.scan.next_key = NULL;
    if (herr->code != HB_OK && hb_error_breaks_connection(herr->code))
      return NULL;
    hb_error_clear(herr);
    call_reset_reply(k);
  }
  return run_opened(c, k, false, herr);
}

static void after_scan(call *k) {
  scanner_page_after(k, k->arg.scan.next_key, k->arg.scan.read_ahead);
  k->arg.scan.next_key = NULL;
}

static const char *const SCAN_PARAMS[] = {"table",      "use_prefix",
                                          "row_start",  "row_stop",
                                          "row_prefix", "row_start_exclusive",
                                          "columns",    "filter",
                                          "timestamp",  "include_timestamp",
                                          "batch_size", "scan_batching",
                                          "limit",      "sorted_columns",
                                          "reverse",    NULL};

const method scan_methods[] = {
  {"scan", prepare_scan, run_scan, POOL_RETRY_ON_STALE, SCAN_PARAMS, after_scan, scanner_wait,
   METHOD_READS, true},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL, METHOD_WRITES, false},
};
