/* scan_spec: a scan's options from its params (range, prefix, columns, filter, timestamp, batch
 * sizes, limit), shared by the scan method and scanner_open. */
#include "scan_spec.h"

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

bool scan_spec_has_prefix(hbc_bytes key, hbc_bytes prefix) {
  return key.len >= prefix.len && hbc_bytes_equal((hbc_bytes){key.data, prefix.len}, prefix);
}

static int prepare_scan_range(call *k, proto_error *e) {
  hbc_bytes start = {0}, stop = {0};
  if (call_param_bound(k, "row_start", &start, e) < 0 ||
      call_param_bound(k, "row_stop", &stop, e) < 0 ||
      call_param_bound(k, "row_prefix", &k->prefix, e) < 0 ||
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

int scan_spec_prepare(call *k, proto_error *e) {
  int64_t batch_size = 1000, scan_batching = 0, limit = INT32_MAX;
  hbc_scan_init(&k->scan);
  if (call_prepare_table(k, e) < 0 || call_prepare_timestamp(k, e) < 0 ||
      prepare_scan_range(k, e) < 0 ||
      proto_param_bool(&k->req, "include_timestamp", false, &k->include_timestamp, e) < 0 ||
      proto_param_bool(&k->req, "sorted_columns", false, &k->sorted_columns, e) < 0 ||
      call_param_columns(k, "columns", false, &k->columns, &k->ncolumns, e) < 0 ||
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
