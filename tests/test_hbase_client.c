/* Unit tests of the HBase client layer against a loopback peer serving hand-encoded Thrift
 * replies: the c_glib defect regressions (binary map keys, first use from 32 threads), request
 * encoding, and the classification of every kind of failure. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned.h"
#include "hbase_client.h"
#include "peer.h"

static hbc_conn *open_conn(peer *p, int call_timeout_ms, size_t max_message) {
  hbc_options o;
  hbc_options_init(&o);
  o.host = "127.0.0.1";
  o.port = peer_port(p);
  o.framed = true;
  o.call_timeout_ms = call_timeout_ms;
  if (max_message > 0)
    o.max_message_size = max_message;
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&o, &err);
  ck_assert_msg(c != NULL, "connect: %s", err.message);
  return c;
}

static int get_row(hbc_conn *c, hbc_result *out, hb_error *err) {
  hbc_bytes row = hbc_str("row-0");
  return hbc_get_rows(c, hbc_str("t"), &row, 1, NULL, 0, HBC_LATEST, out, err);
}

static void assert_canned_row(const hbc_row *row, int r, int ncols) {
  char key[32];
  snprintf(key, sizeof key, "row-%d", r);
  ck_assert_uint_eq(row->key.len, strlen(key));
  ck_assert_mem_eq(row->key.data, key, row->key.len);
  ck_assert_uint_eq(row->ncells, (size_t)ncols);
  for (int i = 0; i < ncols; i++) {
    uint8_t name[7];
    char value[32];
    canned_column(i, name);
    snprintf(value, sizeof value, "v-%d-%d", r, i);
    const hbc_cell *cell = &row->cells[i];
    ck_assert_uint_eq(cell->column.len, sizeof name);
    ck_assert_mem_eq(cell->column.data, name, sizeof name);
    ck_assert_uint_eq(cell->value.len, strlen(value));
    ck_assert_mem_eq(cell->value.data, value, cell->value.len);
    ck_assert_int_eq(cell->timestamp, 1000 + i);
  }
}

/* c_glib defect 1: binary map keys were hashed as C strings and most columns were dropped. */
START_TEST(test_ten_thousand_binary_columns_decode_completely) {
  tbuf reply = {0};
  canned_rows(&reply, "getRowWithColumns", 1, 10000, false);
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, 5000, 0);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_msg(get_row(c, &res, &err) == 0, "get: %s", err.message);
  ck_assert_uint_eq(res.nrows, 1);
  assert_canned_row(&res.rows[0], 0, 10000); /* every column, in column order */
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

START_TEST(test_sorted_columns_keep_the_gateway_order) {
  tbuf reply = {0};
  canned_rows(&reply, "scannerGetList", 2, 5, true);
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, 5000, 0);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(hbc_scanner_get_list(c, 7, 10, &res, &err), 0);
  ck_assert_uint_eq(res.nrows, 2);
  for (size_t r = 0; r < 2; r++) {
    ck_assert_uint_eq(res.rows[r].ncells, 5);
    for (int i = 0; i < 5; i++) {
      uint8_t name[7];
      canned_column(4 - i, name); /* the canned reply lists columns in reverse */
      ck_assert_mem_eq(res.rows[r].cells[i].column.data, name, sizeof name);
    }
  }
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

/* The compact encoding, built by hand: unsigned LEB128, zigzag, and field headers with a delta
 * (1..15) from the previous id or, else, the id in full. */
static void tc_varint(tbuf *b, uint64_t v) {
  while (v >= 0x80) {
    tb_i8(b, (int8_t)(v | 0x80));
    v >>= 7;
  }
  tb_i8(b, (int8_t)v);
}

static void tc_zigzag(tbuf *b, int64_t v) {
  tc_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void tc_bin(tbuf *b, const char *s) {
  tc_varint(b, strlen(s));
  tb_raw(b, s, strlen(s));
}

/* Compact type nibbles: 1 true, 2 false, 5 i32, 6 i64, 8 binary, 9 list, 11 map, 12 struct. */
static void tc_field(tbuf *b, int16_t *last, int16_t id, uint8_t type) {
  if (id > *last && id - *last <= 15) {
    tb_i8(b, (int8_t)((id - *last) << 4 | type));
  } else {
    tb_i8(b, (int8_t)type);
    tc_zigzag(b, id);
  }
  *last = id;
}

/* A scannerGetList reply in the compact encoding: row "r1" with cells "cf:a" = "x" at
 * timestamp -5 and "cf:b" = "" at 2^40, plus fields a reader must skip: a bool (its value is
 * in the header), a list of i32, a field id given in full, and an unknown struct. */
static void compact_rows_reply(tbuf *b) {
  tb_i8(b, (int8_t)0x82);
  tb_i8(b, 2 << 5 | 1); /* a reply, version 1 */
  tc_varint(b, 1);      /* sequence id */
  tc_bin(b, "scannerGetList");
  int16_t result = 0, row = 0;
  tc_field(b, &result, 0, 9);
  tb_i8(b, 1 << 4 | 12); /* one struct */
  tc_field(b, &row, 1, 8);
  tc_bin(b, "r1");
  tc_field(b, &row, 2, 11);
  tc_varint(b, 2);
  tb_i8(b, 8 << 4 | 12);
  const char *cols[2] = {"cf:b", "cf:a"}, *vals[2] = {"", "x"};
  const int64_t ts[2] = {INT64_C(1) << 40, -5};
  for (int i = 0; i < 2; i++) {
    int16_t cell = 0;
    tc_bin(b, cols[i]);
    tc_field(b, &cell, 1, 8);
    tc_bin(b, vals[i]);
    tc_field(b, &cell, 2, 6);
    tc_zigzag(b, ts[i]);
    tb_i8(b, 0);
  }
  tc_field(b, &row, 9, 1);  /* bool true */
  tc_field(b, &row, 10, 9); /* list<i32> {7, -7} */
  tb_i8(b, 2 << 4 | 5);
  tc_zigzag(b, 7);
  tc_zigzag(b, -7);
  tc_field(b, &row, 300, 6); /* an id given in full */
  tc_zigzag(b, 12345);
  tc_field(b, &row, 301, 12); /* a struct holding a false bool */
  int16_t inner = 0;
  tc_field(b, &inner, 1, 2);
  tb_i8(b, 0);
  tb_i8(b, 0); /* end of the row */
  tb_i8(b, 0); /* end of the result */
}

START_TEST(test_compact_rows_decode) {
  tbuf reply = {0};
  compact_rows_reply(&reply);
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  hbc_options o;
  hbc_options_init(&o);
  o.host = "127.0.0.1";
  o.port = peer_port(p);
  o.framed = true;
  o.protocol = HBC_PROTOCOL_COMPACT;
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&o, &err);
  ck_assert_msg(c != NULL, "connect: %s", err.message);
  hbc_result res = HBC_RESULT_INIT;
  ck_assert_msg(hbc_scanner_get_list(c, 7, 10, &res, &err) == 0, "scan: %s", err.message);
  ck_assert_uint_eq(res.nrows, 1);
  const hbc_row *r = &res.rows[0];
  ck_assert_uint_eq(r->key.len, 2);
  ck_assert_mem_eq(r->key.data, "r1", 2);
  ck_assert_uint_eq(r->ncells, 2);
  ck_assert_mem_eq(r->cells[0].column.data, "cf:a", 4); /* in column order */
  ck_assert_uint_eq(r->cells[0].value.len, 1);
  ck_assert_mem_eq(r->cells[0].value.data, "x", 1);
  ck_assert_int_eq(r->cells[0].timestamp, -5);
  ck_assert_mem_eq(r->cells[1].column.data, "cf:b", 4);
  ck_assert_uint_eq(r->cells[1].value.len, 0);
  ck_assert_int_eq(r->cells[1].timestamp, INT64_C(1) << 40);
  ck_assert(hbc_usable(c));
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

START_TEST(test_descriptors_decode) {
  tbuf reply = {0};
  canned_descriptors(&reply);
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, 5000, 0);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(hbc_column_descriptors(c, hbc_str("t"), &res, &err), 0);
  ck_assert_uint_eq(res.nfamilies, 2);
  ck_assert_mem_eq(res.families[0].name.data, "a:", 2);
  ck_assert_int_eq(res.families[0].max_versions, 1);
  ck_assert_mem_eq(res.families[1].name.data, "b:", 2);
  ck_assert_int_eq(res.families[1].max_versions, 2);
  ck_assert_str_eq(res.families[1].bloom_filter_type, "ROW");
  ck_assert(res.families[1].in_memory);
  ck_assert_int_eq(res.families[1].time_to_live, 3600);
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

/* The request must carry the caller's bytes exactly (arguments are zero-copy views). */
typedef struct capture {
  uint8_t *req;
  size_t len;
  tbuf reply;
  bool raw; /* send reply as is instead of framing it */
} capture;

static void capture_serve(int fd, void *arg) {
  capture *cap = arg;
  if (peer_read_frame(fd, &cap->req, &cap->len) < 0)
    return;
  if (cap->raw)
    peer_write_all(fd, cap->reply.data, cap->reply.len);
  else
    peer_write_frame(fd, cap->reply.data, cap->reply.len);
}

static void expected_mutation(tbuf *b, bool del, const void *col, size_t ncol, const void *val,
                              size_t nval, bool wal) {
  tb_field(b, TB_BOOL, 1);
  tb_i8(b, del);
  tb_field(b, TB_STRING, 2);
  tb_bin(b, col, ncol);
  tb_field(b, TB_STRING, 3);
  tb_bin(b, val, nval);
  tb_field(b, TB_BOOL, 4);
  tb_i8(b, wal);
  tb_stop(b);
}

START_TEST(test_mutate_rows_request_bytes) {
  static const uint8_t row[] = {0x00, 'r', 0xff};
  static const uint8_t value[] = {0xff, 0x00, 0x01};
  hbc_mutation m[2] = {
    {.is_delete = false, .column = hbc_str("cf:a"), .value = {value, sizeof value}, .wal = true},
    {.is_delete = true, .column = hbc_str("cf"), .wal = false},
  };
  hbc_row_mutations rm = {.row = {row, sizeof row}, .mutations = m, .nmutations = 2};
  capture cap = {0};
  canned_void(&cap.reply, "mutateRowsTs");
  peer *p = peer_start(capture_serve, &cap);
  hbc_conn *c = open_conn(p, 5000, 0);
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(hbc_mutate_rows(c, hbc_str("tbl"), &rm, 1, 42, &err), 0);
  hbc_close(c);
  peer_stop(p);

  tbuf want = {0};
  tb_message(&want, "mutateRowsTs", TB_CALL);
  tb_field(&want, TB_STRING, 1);
  tb_str(&want, "tbl");
  tb_field(&want, TB_LIST, 2);
  tb_list(&want, TB_STRUCT, 1);
  tb_field(&want, TB_STRING, 1);
  tb_bin(&want, row, sizeof row);
  tb_field(&want, TB_LIST, 2);
  tb_list(&want, TB_STRUCT, 2);
  expected_mutation(&want, false, "cf:a", 4, value, sizeof value, true);
  expected_mutation(&want, true, "cf", 2, "", 0, false);
  tb_stop(&want);
  tb_field(&want, TB_I64, 3);
  tb_i64(&want, 42);
  tb_field(&want, TB_MAP, 4);
  tb_map(&want, TB_STRING, TB_STRING, 0);
  tb_stop(&want);
  ck_assert_uint_eq(cap.len, want.len);
  ck_assert_mem_eq(cap.req, want.data, want.len);
  free(cap.req);
  tb_free(&want);
  tb_free(&cap.reply);
}
END_TEST

/* Declared exceptions leave the connection usable: the next call on it succeeds. */
START_TEST(test_declared_exceptions_keep_the_connection) {
  tbuf replies[4] = {{0}};
  canned_declared(&replies[0], "getRowWithColumns", 1,
                  "org.apache.hadoop.hbase.TableNotFoundException: t\n\tat Foo.bar", true);
  canned_declared(&replies[1], "scannerGetList", 2, "scanner ID is invalid", false);
  canned_declared(&replies[2], "createTable", 3, "table t exists", false);
  canned_rows(&replies[3], "getRowWithColumns", 1, 3, false);
  canned_script s = {.replies = replies, .nreplies = 4};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, 5000, 0);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;

  ck_assert_int_eq(get_row(c, &res, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_IO);
  ck_assert(err.retryable);
  ck_assert_ptr_nonnull(strstr(err.message, "TableNotFoundException"));
  ck_assert(hbc_usable(c));

  ck_assert_int_eq(hbc_scanner_get_list(c, 3, 10, &res, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_ILLEGAL_ARGUMENT);
  ck_assert_str_eq(err.message, "scanner ID is invalid");
  ck_assert(hbc_usable(c));

  hbc_family f;
  hbc_family_init(&f, hbc_str("cf"));
  ck_assert_int_eq(hbc_create_table(c, hbc_str("t"), &f, 1, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_ALREADY_EXISTS);
  ck_assert(hbc_usable(c));

  ck_assert_int_eq(get_row(c, &res, &err), 0);
  assert_canned_row(&res.rows[0], 0, 3);
  hb_error_clear(&err);
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
  for (int i = 0; i < 4; i++)
    tb_free(&replies[i]);
}
END_TEST

/* Runs one call against a peer serving `reply` (or nothing) and checks the failure class. */
static void expect_broken(const tbuf *reply, int hold_ms, int timeout_ms, size_t max_message,
                          hb_errcode want, const char *needle) {
  canned_script s = {.replies = reply, .nreplies = reply != NULL ? 1 : 0, .hold_ms = hold_ms};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, timeout_ms, max_message);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(get_row(c, &res, &err), -1);
  ck_assert_msg(err.code == want, "got %s: %s", hb_errcode_name(err.code), err.message);
  ck_assert_msg(strstr(err.message, needle) != NULL, "'%s' not in '%s'", needle, err.message);
  ck_assert(!hbc_usable(c));
  /* A broken connection refuses further calls without touching the socket. */
  ck_assert_int_eq(get_row(c, &res, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_ptr_nonnull(strstr(err.message, "broken"));
  hb_error_clear(&err);
  hbc_result_free(&res);
  hbc_close(c);
  peer_stop(p);
}

START_TEST(test_application_exception_breaks_the_connection) {
  tbuf reply = {0};
  canned_app_exception(&reply, "getRowWithColumns", "Internal error processing getRowWithColumns");
  expect_broken(&reply, 0, 5000, 0, HB_ERR_APPLICATION, "Internal error");
  tb_free(&reply);
}
END_TEST

START_TEST(test_garbage_reply_is_a_transport_error) {
  tbuf reply = {0};
  tb_raw(&reply, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
  expect_broken(&reply, 200, 5000, 0, HB_ERR_TRANSPORT, "protocol");
  tb_free(&reply);
}
END_TEST

START_TEST(test_silent_gateway_is_a_timeout) {
  expect_broken(NULL, 1500, 300, 0, HB_ERR_TIMEOUT, "timed out");
}
END_TEST

START_TEST(test_eof_mid_reply_is_a_transport_error) {
  tbuf full = {0};
  canned_rows(&full, "getRowWithColumns", 1, 50, false);
  tbuf half = {0};
  tb_raw(&half, full.data, full.len / 2);
  /* The frame announces the whole reply but the peer closes halfway. */
  uint8_t *framed = malloc(full.len / 2 + 4);
  uint32_t n = (uint32_t)full.len;
  framed[0] = (uint8_t)(n >> 24);
  framed[1] = (uint8_t)(n >> 16);
  framed[2] = (uint8_t)(n >> 8);
  framed[3] = (uint8_t)n;
  memcpy(framed + 4, half.data, half.len);
  tbuf raw = {.data = framed, .len = half.len + 4, .cap = half.len + 4};
  capture cap = {.reply = raw, .raw = true};
  peer *p = peer_start(capture_serve, &cap);
  hbc_conn *c = open_conn(p, 5000, 0);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(get_row(c, &res, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert(!hbc_usable(c));
  hb_error_clear(&err);
  hbc_close(c);
  peer_stop(p);
  free(cap.req);
  tb_free(&full);
  tb_free(&half);
  tb_free(&raw);
}
END_TEST

/* Rows replies whose bytes cannot be a reply: each fails as a transport error naming what was
 * wrong, and the connection is given up. */
START_TEST(test_malformed_rows_replies_are_refused) {
  static const struct {
    const char *what;
    int depth;         /* lists nested in the rows field, or 0 */
    int8_t field_type; /* else a field of this type in the result */
  } cases[] = {
    {"nested too deep", 100, 0},
    {"unknown type", 0, 99},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tbuf reply = {0};
    tb_message(&reply, "getRowWithColumns", TB_REPLY);
    if (cases[i].depth > 0) {
      tb_field(&reply, TB_LIST, 5); /* an unknown field: skipped, as deep as it goes */
      for (int d = 0; d < cases[i].depth; d++)
        tb_list(&reply, TB_LIST, 1);
      tb_list(&reply, TB_LIST, 0);
    } else {
      tb_field(&reply, cases[i].field_type, 5);
    }
    tb_stop(&reply);
    expect_broken(&reply, 200, 5000, 0, HB_ERR_TRANSPORT, cases[i].what);
    tb_free(&reply);
  }
}
END_TEST

/* A reply announcing 2^28 table names is refused from its header, before anything is allocated. */
START_TEST(test_huge_announced_list_is_refused) {
  tbuf reply = {0};
  tb_message(&reply, "getTableNames", TB_REPLY);
  tb_field(&reply, TB_LIST, 0);
  tb_list(&reply, TB_STRING, 1 << 28);
  canned_script s = {.replies = &reply, .nreplies = 1, .hold_ms = 200};
  peer *p = peer_start(canned_serve, &s);
  hbc_conn *c = open_conn(p, 5000, 1 << 20);
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  ck_assert_int_eq(hbc_table_names(c, &res, &err), -1);
  ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
  ck_assert_msg(strstr(err.message, "limit") != NULL, "message: %s", err.message);
  ck_assert(!hbc_usable(c));
  hb_error_clear(&err);
  hbc_close(c);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

/* A binary field whose size on the wire is negative: c_glib's read_binary takes it for a string
 * of up to 4 GiB without data, which the generated code then appended from NULL (found by
 * tests/fuzz/fuzz_reply: an append reply, malloc of 4 GiB). Refused by the fixup, for the
 * generated readers of a list of structs (append) and of a list of binaries (table names). */
START_TEST(test_negative_string_size_is_refused) {
  for (int names = 0; names < 2; names++) {
    tbuf reply = {0};
    tb_message(&reply, names ? "getTableNames" : "append", TB_REPLY);
    tb_field(&reply, TB_LIST, 0);
    tb_list(&reply, names ? TB_STRING : TB_STRUCT, 1);
    if (!names)
      tb_field(&reply, TB_STRING, 1); /* TCell.value */
    tb_i32(&reply, -1572151400);
    tb_raw(&reply, "more bytes", 10);
    canned_script s = {.replies = &reply, .nreplies = 1, .hold_ms = 200};
    peer *p = peer_start(canned_serve, &s);
    hbc_conn *c = open_conn(p, 5000, 1 << 20);
    hbc_result res = HBC_RESULT_INIT;
    hb_error err = HB_ERROR_INIT;
    hbc_bytes col = hbc_str("cf:a"), val = hbc_str("x");
    int rc = names ? hbc_table_names(c, &res, &err)
                   : hbc_append(c, hbc_str("t"), hbc_str("r"), &col, &val, 1, &res, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_msg(strstr(err.message, "negative") != NULL, "message: %s", err.message);
    ck_assert(!hbc_usable(c));
    hb_error_clear(&err);
    hbc_result_free(&res);
    hbc_close(c);
    peer_stop(p);
    tb_free(&reply);
  }
}
END_TEST

/* A reply that ends inside a field the generated code skips (an unknown string, in a struct in a
 * list): c_glib's own skip freed the string its failed read had freed already, a double free
 * (found by tests/fuzz/fuzz_reply). The call fails as a transport error. */
START_TEST(test_reply_cut_in_a_skipped_field) {
  for (int nested = 0; nested < 2; nested++) {
    tbuf reply = {0};
    tb_message(&reply, nested ? "getColumnDescriptors" : "getTableNames", TB_REPLY);
    if (nested) {
      tb_field(&reply, TB_MAP, 0);
      tb_map(&reply, TB_STRING, TB_STRUCT, 1);
      tb_bin(&reply, "cf:", 3);
    }
    tb_field(&reply, TB_STRING, 99); /* unknown: skipped */
    tb_i32(&reply, 100);
    tb_raw(&reply, "only ten b", 10);
    canned_script s = {.replies = &reply, .nreplies = 1};
    peer *p = peer_start(canned_serve, &s);
    hbc_conn *c = open_conn(p, 5000, 0);
    hbc_result res = HBC_RESULT_INIT;
    hb_error err = HB_ERROR_INIT;
    int rc = nested ? hbc_column_descriptors(c, hbc_str("t"), &res, &err)
                    : hbc_table_names(c, &res, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert_int_eq(err.code, HB_ERR_TRANSPORT);
    ck_assert(!hbc_usable(c));
    hb_error_clear(&err);
    hbc_result_free(&res);
    hbc_close(c);
    peer_stop(p);
    tb_free(&reply);
  }
}
END_TEST

/* The same inside a TApplicationException the gateway sends: the library's own reader of it
 * skipped with the library's skip (an invalid free, found by tests/fuzz/fuzz_reply in a rows
 * reply); hbc_init gives the class a reader on wire.c. For a generated reader (table names) and
 * for wire.c's rows replies. */
START_TEST(test_application_exception_cut_in_a_skipped_field) {
  for (int rows = 0; rows < 2; rows++) {
    tbuf reply = {0};
    tb_message(&reply, rows ? "getRowWithColumns" : "getTableNames", TB_EXCEPTION);
    tb_field(&reply, TB_STRING, 99); /* unknown: skipped */
    tb_i32(&reply, 100);
    tb_raw(&reply, "only ten b", 10);
    canned_script s = {.replies = &reply, .nreplies = 1};
    peer *p = peer_start(canned_serve, &s);
    hbc_conn *c = open_conn(p, 5000, 0);
    hbc_result res = HBC_RESULT_INIT;
    hb_error err = HB_ERROR_INIT;
    hbc_bytes row = hbc_str("r");
    int rc = rows ? hbc_get_rows(c, hbc_str("t"), &row, 1, NULL, 0, HBC_LATEST, &res, &err)
                  : hbc_table_names(c, &res, &err);
    ck_assert_int_eq(rc, -1);
    ck_assert(!hbc_usable(c));
    hb_error_clear(&err);
    hbc_result_free(&res);
    hbc_close(c);
    peer_stop(p);
    tb_free(&reply);
  }
}
END_TEST

/* A rows reply whose counts promise millions of rows, or of cells in a row, then ends (within
 * what max_message_size lets the protocol accept): the call fails as a transport error on the
 * missing bytes, hands out nothing half-read, and the connection is given up. */
START_TEST(test_rows_reply_promising_millions_fails_on_what_arrives) {
  for (int cells_too = 0; cells_too < 2; cells_too++) {
    tbuf reply = {0};
    tb_message(&reply, "getRowWithColumns", TB_REPLY);
    tb_field(&reply, TB_LIST, 0);
    tb_list(&reply, TB_STRUCT, cells_too ? 1 : 1 << 24);
    tb_field(&reply, TB_STRING, 1);
    tb_str(&reply, "row-0");
    tb_field(&reply, TB_MAP, 2);
    tb_map(&reply, TB_STRING, TB_STRUCT, cells_too ? 1 << 24 : 0);
    canned_script s = {.replies = &reply, .nreplies = 1, .hold_ms = 200};
    peer *p = peer_start(canned_serve, &s);
    hbc_conn *c = open_conn(p, 5000, 0);
    hbc_result res = HBC_RESULT_INIT;
    hb_error err = HB_ERROR_INIT;
    ck_assert_int_eq(get_row(c, &res, &err), -1);
    ck_assert_msg(err.code == HB_ERR_TRANSPORT, "%s: %s", hb_errcode_name(err.code), err.message);
    ck_assert_uint_eq(res.nrows, 0); /* nothing half-read is handed out */
    ck_assert(!hbc_usable(c));
    hb_error_clear(&err);
    hbc_close(c);
    peer_stop(p);
    tb_free(&reply);
  }
}
END_TEST

/* c_glib defect 3: types registered by 32 threads at once on first use. Each loop iteration runs
 * in a fresh forked process, so every one is a first use. */
#define FIRST_USE_THREADS 32

typedef struct first_use {
  pthread_barrier_t *barrier;
  int port;
  int ok;
} first_use;

static void *first_use_thread(void *arg) {
  first_use *fu = arg;
  pthread_barrier_wait(fu->barrier);
  hbc_options o;
  hbc_options_init(&o);
  o.host = "127.0.0.1";
  o.port = fu->port;
  o.framed = true;
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&o, &err);
  if (c == NULL)
    return NULL;
  hbc_result res = HBC_RESULT_INIT;
  if (get_row(c, &res, &err) == 0 && res.nrows == 1 && res.rows[0].ncells == 20)
    fu->ok = 1;
  hbc_result_free(&res);
  hb_error_clear(&err);
  hbc_close(c);
  return NULL;
}

START_TEST(test_first_use_from_32_threads) {
  tbuf reply = {0};
  canned_rows(&reply, "getRowWithColumns", 1, 20, false);
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, FIRST_USE_THREADS);
  pthread_t th[FIRST_USE_THREADS];
  first_use fu[FIRST_USE_THREADS];
  for (int i = 0; i < FIRST_USE_THREADS; i++) {
    fu[i] = (first_use){.barrier = &barrier, .port = peer_port(p)};
    pthread_create(&th[i], NULL, first_use_thread, &fu[i]);
  }
  int ok = 0;
  for (int i = 0; i < FIRST_USE_THREADS; i++) {
    pthread_join(th[i], NULL);
    ok += fu[i].ok;
  }
  ck_assert_int_eq(ok, FIRST_USE_THREADS);
  pthread_barrier_destroy(&barrier);
  peer_stop(p);
  tb_free(&reply);
}
END_TEST

static Suite *client_suite(void) {
  Suite *s = suite_create("hbase_client (canned gateway)");
  TCase *decode = tcase_create("decode");
  tcase_set_timeout(decode, 30);
  tcase_add_test(decode, test_ten_thousand_binary_columns_decode_completely);
  tcase_add_test(decode, test_sorted_columns_keep_the_gateway_order);
  tcase_add_test(decode, test_compact_rows_decode);
  tcase_add_test(decode, test_descriptors_decode);
  tcase_add_test(decode, test_mutate_rows_request_bytes);
  suite_add_tcase(s, decode);

  TCase *errors = tcase_create("errors");
  tcase_set_timeout(errors, 30);
  tcase_add_test(errors, test_declared_exceptions_keep_the_connection);
  tcase_add_test(errors, test_application_exception_breaks_the_connection);
  tcase_add_test(errors, test_garbage_reply_is_a_transport_error);
  tcase_add_test(errors, test_silent_gateway_is_a_timeout);
  tcase_add_test(errors, test_eof_mid_reply_is_a_transport_error);
  tcase_add_test(errors, test_malformed_rows_replies_are_refused);
  tcase_add_test(errors, test_huge_announced_list_is_refused);
  tcase_add_test(errors, test_negative_string_size_is_refused);
  tcase_add_test(errors, test_reply_cut_in_a_skipped_field);
  tcase_add_test(errors, test_application_exception_cut_in_a_skipped_field);
  tcase_add_test(errors, test_rows_reply_promising_millions_fails_on_what_arrives);
  suite_add_tcase(s, errors);

  TCase *threads = tcase_create("threads");
  tcase_set_timeout(threads, 60);
  tcase_add_loop_test(threads, test_first_use_from_32_threads, 0, 20);
  suite_add_tcase(s, threads);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(client_suite());
  /* Forked: every test, and every loop iteration of the thread test, starts with fresh types. */
  srunner_set_fork_status(sr, CK_FORK);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
