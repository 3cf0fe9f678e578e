/* scan: the scan method: one call returns up to limit rows, capped at scan_max_rows, and "next",
 * the params that continue where it stopped; and the scan options scanner_open shares. */
#include "scan.h"

#include <string.h>

/* HappyBase's bytes_increment: the smallest key above every key starting with prefix, i.e. the
 * last byte below 0xFF incremented and what follows dropped; NULL length for all 0xFF (no end). */
static hbc_bytes bytes_increment(call *k, hbc_bytes prefix) {
  size_t n = prefix.len;
  while (n > 0 && prefix.data[n - 1] == 0xff)
    n--;
  if (n == 0)
    return (hbc_bytes){(const uint8_t *)"", 0};
  uint8_t *out = proto_mem_alloc(&k->mem, n);
  memcpy(out, prefix.data, n);
  out[n - 1]++;
  return (hbc_bytes){out, n};
}

bool scan_has_prefix(hbc_bytes key, hbc_bytes prefix) {
  return key.len >= prefix.len && hbc_bytes_equal((hbc_bytes){key.data, prefix.len}, prefix);
}

static int prepare_scan_range(call *k, proto_error *e) {
  hbc_bytes start = {0}, stop = {0};
  if (proto_param_bytes(&k->req, "row_start", false, &k->mem, &start, e) < 0 ||
      proto_param_bytes(&k->req, "row_stop", false, &k->mem, &stop, e) < 0 ||
      proto_param_bytes(&k->req, "row_prefix", false, &k->mem, &k->prefix, e) < 0 ||
      proto_param_bool(&k->req, "row_start_exclusive", false, &k->start_exclusive, e) < 0 ||
      proto_param_bool(&k->req, "reverse", false, &k->scan.reversed, e) < 0)
    return -1;
  bool given = json_object_get(k->req.params, "row_prefix") != NULL;
  bool has_start = json_object_get(k->req.params, "row_start") != NULL;
  if (given && json_object_get(k->req.params, "row_stop") != NULL)
    return proto_fail(e, PROTO_INVALID_PARAMS,
                      "invalid params: \"row_prefix\" cannot be combined with \"row_stop\"");
  if (!given || k->prefix.len == 0) {
    k->scan.start_row = start;
    k->scan.stop_row = stop;
    return 0;
  }
  /* Forward: [prefix, increment(prefix)). Reverse: from increment(prefix) down, skipping that
   * key itself and stopping at the first row without the prefix (run_scan), so that the row
   * equal to the prefix is included and nothing outside it is. A row_start given with a prefix
   * (a continuation) says where to resume inside it. */
  hbc_bytes end = bytes_increment(k, k->prefix);
  k->scan.start_row = has_start ? start : k->scan.reversed ? end : k->prefix;
  k->scan.stop_row = k->scan.reversed ? (hbc_bytes){(const uint8_t *)"", 0} : end;
  if (k->scan.reversed && !has_start)
    k->start_exclusive = true;
  return 0;
}

int scan_prepare(call *k, proto_error *e) {
  int64_t batch_size = 1000, scan_batching = 0, limit = INT32_MAX;
  hbc_scan_init(&k->scan);
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      prepare_scan_range(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bool(&k->req, "sorted_columns", false, &k->sorted_columns, e) < 0 ||
      proto_param_bytes_list(&k->req, "columns", false, &k->mem, &k->columns, &k->ncolumns, e) <
        0 ||
      proto_param_bytes(&k->req, "filter", false, &k->mem, &k->scan.filter, e) < 0 ||
      proto_param_int(&k->req, "batch_size", false, 1, INT32_MAX, &batch_size, e) < 0 ||
      proto_param_int(&k->req, "scan_batching", false, 1, INT32_MAX, &scan_batching, e) < 0 ||
      proto_param_int(&k->req, "limit", false, 1, INT32_MAX, &limit, e) < 0)
    return -1;
  k->scan.timestamp = k->timestamp;
  k->scan.columns = k->columns;
  k->scan.ncolumns = k->ncolumns;
  k->scan.caching = (int32_t)batch_size;
  k->scan.batch_size = (int32_t)scan_batching;
  k->scan.sort_columns = k->sorted_columns;
  k->arg.scan.limit = limit;
  k->scan_cap = k->env->scan_max_rows; /* read here: a reload may change it meanwhile */
  return 0;
}

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
    if (!scan_has_prefix(res->rows[i].key, k->prefix)) {
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

static json_t *run_scan(hbc_conn *c, call *k, hb_error *herr) {
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
  hb_error close_err = HB_ERROR_INIT;
  if (herr->code == HB_OK || !hb_error_breaks_connection(herr->code))
    hbc_scanner_close(c, id, &close_err);
  hb_error_clear(&close_err);
  k->arg.scan.limit = want;
  if (failed)
    return NULL;
  proto_text_puts(t, "],\"next\":");
  bool stopped_at_cap = capped && !ended && returned == cap;
  json_t *next = stopped_at_cap ? scan_next(k, last, (size_t)returned) : NULL;
  if (next == NULL || proto_text_json(t, next) < 0)
    proto_text_puts(t, "null");
  json_decref(next);
  proto_text_add(t, "}", 1);
  return call_text_result(k);
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
  {"scan", scan_prepare, run_scan, POOL_RETRY_ON_STALE, SCAN_PARAMS, NULL, NULL},
  {NULL, NULL, NULL, POOL_RETRY_NEVER, NULL, NULL, NULL},
};
