/* reply_calls: the Thrift calls whose replies fuzz_reply feeds with hostile bytes, and
 * capture_replies records from a real gateway as its seeds. */
#ifndef HBPOOL_FUZZ_REPLY_CALLS_H
#define HBPOOL_FUZZ_REPLY_CALLS_H

#include "hbase_client.h"

#define NCALLS 20

static const hbc_bytes TABLE = {(const uint8_t *)"t", 1};
static const hbc_bytes ROW = {(const uint8_t *)"r", 1};
static const hbc_bytes COLUMN = {(const uint8_t *)"cf:a", 4};

/* One call of each kind whose reply hbpoold reads. */
static inline void call(hbc_conn *c, int which) {
  hb_error err = HB_ERROR_INIT;
  hbc_result res = HBC_RESULT_INIT;
  bool flag = false;
  int64_t value = 0;
  int32_t id = 0;
  hbc_mutation put = {.column = COLUMN, .value = ROW, .wal = true};
  hbc_row_mutations rows = {.row = ROW, .mutations = &put, .nmutations = 1};
  hbc_increment inc = {.table = TABLE, .row = ROW, .column = COLUMN, .amount = 1};
  hbc_family family;
  hbc_family_init(&family, COLUMN);
  hbc_scan scan;
  hbc_scan_init(&scan);
  switch (which) {
  case 0: hbc_table_names(c, &res, &err); break;
  case 1: hbc_create_table(c, TABLE, &family, 1, &err); break;
  case 2: hbc_delete_table(c, TABLE, &err); break;
  case 3: hbc_enable_table(c, TABLE, &err); break;
  case 4: hbc_disable_table(c, TABLE, &err); break;
  case 5: hbc_is_table_enabled(c, TABLE, &flag, &err); break;
  case 6: hbc_compact(c, TABLE, true, &err); break;
  case 7: hbc_column_descriptors(c, TABLE, &res, &err); break;
  case 8: hbc_table_regions(c, TABLE, &res, &err); break;
  case 9: hbc_get_rows(c, TABLE, &ROW, 1, NULL, 0, HBC_LATEST, &res, &err); break;
  case 10: hbc_get_rows(c, TABLE, &ROW, 1, &COLUMN, 1, 5, &res, &err); break;
  case 11: hbc_get_versions(c, TABLE, ROW, COLUMN, HBC_LATEST, 3, &res, &err); break;
  case 12: hbc_mutate_rows(c, TABLE, &rows, 1, HBC_LATEST, &err); break;
  case 13: hbc_atomic_increment(c, TABLE, ROW, COLUMN, 1, &value, &err); break;
  case 14: hbc_increment_rows(c, &inc, 1, &err); break;
  case 15: hbc_append(c, TABLE, ROW, &COLUMN, &ROW, 1, &res, &err); break;
  case 16: hbc_check_and_put(c, TABLE, ROW, COLUMN, NULL, &put, &flag, &err); break;
  case 17: hbc_scanner_open(c, TABLE, &scan, &id, &err); break;
  case 18: hbc_scanner_get_list(c, 7, 100, &res, &err); break;
  default: hbc_scanner_close(c, 7, &err); break;
  }
  hbc_result_free(&res);
  hb_error_clear(&err);
}

#endif
