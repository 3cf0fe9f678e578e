/* test_hbase: Check integration tests of the hbase_client layer against a real Thrift1 gateway. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway_env.h"
#include "hbase_client.h"
#include "peer.h"

/* ------------------------------------------------------------------------------------------------
 * Configuration, shared state and assertion helpers. */

static hbc_options g_opts; /* the gateway under test, from the environment */
static pid_t g_run_pid;    /* the runner's pid: every table of this run starts with TABLE_PREFIX */
static int g_table_seq;

#define TABLE_PREFIX "hbpool_it_"

/* Each test runs on one connection and (for most) one fresh table. */
static hbc_conn *C;
static hb_error E = HB_ERROR_INIT;
static char g_table[128];
static hbc_bytes T;

#define ERR_TEXT hb_errcode_name(E.code), (E.message != NULL ? E.message : "")

/* The call must succeed. */
#define OK(expr)                                                                                   \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    ck_assert_msg(rc_ == 0, "%s failed: %s: %.600s", #expr, ERR_TEXT);                             \
  } while (0)

/* The call must fail with this error code; the error is cleared afterwards. */
#define FAILS(expr, want)                                                                          \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    ck_assert_msg(rc_ == -1 && E.code == (want), "%s: expected %s, got rc=%d %s: %.600s", #expr,   \
                  hb_errcode_name(want), rc_, ERR_TEXT);                                           \
    hb_error_clear(&E);                                                                            \
  } while (0)

/* got_expr is a malloc'd string: compare it with want and free it. */
#define ck_assert_text(got_expr, want)                                                             \
  do {                                                                                             \
    char *got_ = (got_expr);                                                                       \
    ck_assert_str_eq(got_, want);                                                                  \
    free(got_);                                                                                    \
  } while (0)

#define ck_assert_bytes_str(b, s)                                                                  \
  do {                                                                                             \
    hbc_bytes b_ = (b);                                                                            \
    const char *s_ = (s);                                                                          \
    ck_assert_msg(b_.len == strlen(s_) && memcmp(b_.data, s_, b_.len) == 0,                        \
                  "%s is \"%.*s\", expected \"%s\"", #b, (int)b_.len, (const char *)b_.data, s_);  \
  } while (0)

#define ck_assert_bytes_mem(b, arr)                                                                \
  do {                                                                                             \
    hbc_bytes b_ = (b);                                                                            \
    ck_assert_uint_eq(b_.len, sizeof(arr));                                                        \
    ck_assert_mem_eq(b_.data, arr, sizeof(arr));                                                   \
  } while (0)

/* A NULL-terminated list of C strings, for columns and rows. */
#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ALL_COLUMNS NULL

static hbc_bytes B(const char *s) {
  return hbc_str(s);
}

static hbc_bytes BM(const uint8_t *p, size_t n) {
  return (hbc_bytes){p, n};
}

static bool bytes_eq_str(hbc_bytes b, const char *s) {
  return b.len == strlen(s) && memcmp(b.data, s, b.len) == 0;
}

/* Converts a NULL-terminated list into hbc_bytes (at most 16 entries); returns the count. */
static size_t to_bytes(const char *const *list, hbc_bytes *out) {
  size_t n = 0;
  for (; list != NULL && list[n] != NULL; n++) {
    ck_assert_uint_lt(n, 16);
    out[n] = hbc_str(list[n]);
  }
  return n;
}

/* ------------------------------------------------------------------------------------------------
 * Text renderings of results, so that tests compare whole results with one string. */

enum { SHOW_KEYS, SHOW_COUNTS, SHOW_CELLS, SHOW_TIMES };

static void put_bytes(FILE *f, hbc_bytes b) {
  for (size_t i = 0; i < b.len; i++) {
    uint8_t ch = b.data[i];
    if (ch >= 0x20 && ch < 0x7f && ch != '\\')
      fputc(ch, f);
    else
      fprintf(f, "\\x%02x", ch);
  }
}

/* "key", "key/3", "key{cf:a=1,cf:b=2}" or "key{cf:a=1@100}" */
static void put_row(FILE *f, const hbc_row *row, int mode) {
  put_bytes(f, row->key);
  if (mode == SHOW_COUNTS)
    fprintf(f, "/%zu", row->ncells);
  if (mode < SHOW_CELLS)
    return;
  fputc('{', f);
  for (size_t i = 0; i < row->ncells; i++) {
    fputs(i > 0 ? "," : "", f);
    put_bytes(f, row->cells[i].column);
    fputc('=', f);
    put_bytes(f, row->cells[i].value);
    if (mode == SHOW_TIMES)
      fprintf(f, "@%lld", (long long)row->cells[i].timestamp);
  }
  fputc('}', f);
}

typedef struct text {
  FILE *f;
  char *buf;
  size_t len;
  bool any;
} text;

static void text_open(text *t) {
  memset(t, 0, sizeof *t);
  t->f = open_memstream(&t->buf, &t->len);
  ck_assert_ptr_nonnull(t->f);
}

static void text_row(text *t, const hbc_row *row, int mode) {
  fputs(t->any ? " " : "", t->f);
  put_row(t->f, row, mode);
  t->any = true;
}

static char *text_close(text *t) {
  fclose(t->f);
  return t->buf;
}

static char *rows_text(const hbc_result *r, int mode) {
  text t;
  text_open(&t);
  for (size_t i = 0; i < r->nrows; i++)
    text_row(&t, &r->rows[i], mode);
  return text_close(&t);
}

/* "v3@300 v2@200": cells of get_versions or append. */
static char *cells_text(const hbc_result *r) {
  text t;
  text_open(&t);
  for (size_t i = 0; i < r->ncells; i++) {
    fputs(i > 0 ? " " : "", t.f);
    put_bytes(t.f, r->cells[i].value);
    fprintf(t.f, "@%lld", (long long)r->cells[i].timestamp);
  }
  return text_close(&t);
}

/* ------------------------------------------------------------------------------------------------
 * Connections, tables and fixtures. */

static hbc_conn *connect_gateway(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&g_opts, &err);
  ck_assert_msg(c != NULL, "cannot connect to %s:%d: %s: %s", g_opts.host, g_opts.port,
                hb_errcode_name(err.code), err.message);
  ck_assert(hbc_usable(c));
  return c;
}

/* A name no other test or run uses: prefix, runner pid, test process pid, counter, tag. */
static void make_name(char *buf, size_t size, const char *tag) {
  snprintf(buf, size, TABLE_PREFIX "%ld_%ld_%d_%s", (long)g_run_pid, (long)getpid(), ++g_table_seq,
           tag);
}

static bool table_listed(const char *name) {
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_table_names(C, &r, &E));
  bool found = false;
  for (size_t i = 0; i < r.nnames; i++)
    found = found || bytes_eq_str(r.names[i], name);
  hbc_result_free(&r);
  return found;
}

/* Deleting needs a disabled table. */
static void drop_table(const char *name) {
  OK(hbc_disable_table(C, hbc_str(name), &E));
  OK(hbc_delete_table(C, hbc_str(name), &E));
}

/* Families "cf" (5 versions) and "cg" (IDL defaults: 3 versions). */
static void create_test_table(const char *name) {
  hbc_family f[2];
  hbc_family_init(&f[0], hbc_str("cf"));
  f[0].max_versions = 5;
  hbc_family_init(&f[1], hbc_str("cg"));
  OK(hbc_create_table(C, hbc_str(name), f, 2, &E));
}

static void setup_conn(void) {
  C = connect_gateway();
}

static void teardown_conn(void) {
  hbc_close(C);
  C = NULL;
  hb_error_clear(&E);
}

static void setup_table(void) {
  setup_conn();
  make_name(g_table, sizeof g_table, "t");
  T = hbc_str(g_table);
  create_test_table(g_table);
}

static void teardown_table(void) {
  drop_table(g_table);
  teardown_conn();
}

/* ------------------------------------------------------------------------------------------------
 * Data helpers on the fixture table T. */

static hbc_mutation put_m(const char *column, hbc_bytes value) {
  return (hbc_mutation){.is_delete = false, .column = hbc_str(column), .value = value, .wal = true};
}

static hbc_mutation del_m(const char *column) {
  return (
    hbc_mutation){.is_delete = true, .column = hbc_str(column), .value = hbc_str(""), .wal = true};
}

static void mutate(hbc_bytes row, const hbc_mutation *m, size_t n, int64_t ts) {
  hbc_row_mutations rm = {row, m, n};
  OK(hbc_mutate_rows(C, T, &rm, 1, ts, &E));
}

static void put_at(const char *row, const char *column, const char *value, int64_t ts) {
  hbc_mutation m = put_m(column, hbc_str(value));
  mutate(hbc_str(row), &m, 1, ts);
}

static void put(const char *row, const char *column, const char *value) {
  put_at(row, column, value, HBC_LATEST);
}

static void delete_at(const char *row, const char *column, int64_t ts) {
  hbc_mutation m = del_m(column);
  mutate(hbc_str(row), &m, 1, ts);
}

/* get_rows of byte-string rows, all columns, rendered as text. */
static char *get_bytes_text(const hbc_bytes *rows, size_t nrows, int mode) {
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_rows(C, T, rows, nrows, NULL, 0, HBC_LATEST, &r, &E));
  char *s = rows_text(&r, mode);
  hbc_result_free(&r);
  return s;
}

/* get_rows with C-string rows and columns, rendered as text. */
static char *get_text(const char *const *rows, const char *const *columns, int64_t ts, int mode) {
  hbc_bytes rv[16], cv[16];
  size_t nrows = to_bytes(rows, rv), ncols = to_bytes(columns, cv);
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_rows(C, T, rv, nrows, cv, ncols, ts, &r, &E));
  char *s = rows_text(&r, mode);
  hbc_result_free(&r);
  return s;
}

static char *get_cells(const char *row, const char *const *columns) {
  return get_text(LIST(row), columns, HBC_LATEST, SHOW_CELLS);
}

static char *versions_text(const char *row, const char *column, int64_t ts, int32_t n) {
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_versions(C, T, hbc_str(row), hbc_str(column), ts, n, &r, &E));
  char *s = cells_text(&r);
  hbc_result_free(&r);
  return s;
}

/* ------------------------------------------------------------------------------------------------
 * Admin. */

static void assert_family(const hbc_family *f, const char *name, int32_t versions, bool in_memory,
                          const char *bloom, int32_t ttl, bool block_cache) {
  ck_assert_bytes_str(f->name, name);
  ck_assert_int_eq(f->max_versions, versions);
  ck_assert_str_eq(f->compression, "NONE");
  ck_assert_int_eq(f->in_memory, in_memory);
  ck_assert_str_eq(f->bloom_filter_type, bloom);
  ck_assert_int_eq(f->time_to_live, ttl);
  ck_assert_int_eq(f->block_cache_enabled, block_cache);
}

START_TEST(test_create_with_options) {
  char name[128];
  make_name(name, sizeof name, "opts");
  hbc_family f[2];
  hbc_family_init(&f[0], B("cf"));
  f[0].max_versions = 5;
  f[0].in_memory = true;
  f[0].time_to_live = 86400;
  f[0].bloom_filter_type = "ROW";
  f[0].block_cache_enabled = true;
  hbc_family_init(&f[1], B("cg:")); /* both spellings of a family name are accepted */
  OK(hbc_create_table(C, B(name), f, 2, &E));
  ck_assert(table_listed(name));

  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_column_descriptors(C, B(name), &r, &E));
  ck_assert_uint_eq(r.nfamilies, 2);
  assert_family(&r.families[0], "cf:", 5, true, "ROW", 86400, true);
  /* time_to_live -1 means "forever", which HBase stores and reports as Integer.MAX_VALUE. */
  assert_family(&r.families[1], "cg:", 3, false, "NONE", 2147483647, false);
  hbc_result_free(&r);

  drop_table(name);
  ck_assert(!table_listed(name));
}
END_TEST

START_TEST(test_enable_disable) {
  char name[128];
  make_name(name, sizeof name, "onoff");
  create_test_table(name);
  bool enabled = false;
  OK(hbc_is_table_enabled(C, B(name), &enabled, &E));
  ck_assert(enabled);
  OK(hbc_disable_table(C, B(name), &E));
  OK(hbc_is_table_enabled(C, B(name), &enabled, &E));
  ck_assert(!enabled);
  OK(hbc_enable_table(C, B(name), &E));
  OK(hbc_is_table_enabled(C, B(name), &enabled, &E));
  ck_assert(enabled);
  drop_table(name);
}
END_TEST

START_TEST(test_compact_and_regions) {
  make_name(g_table, sizeof g_table, "regions");
  T = B(g_table);
  create_test_table(g_table);
  put("r1", "cf:a", "1");
  OK(hbc_compact(C, T, false, &E));
  OK(hbc_compact(C, T, true, &E));
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=1}");

  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_table_regions(C, T, &r, &E));
  ck_assert_uint_eq(r.nregions, 1);
  const hbc_region *reg = &r.regions[0];
  ck_assert_uint_eq(reg->start_key.len, 0);
  ck_assert_uint_eq(reg->end_key.len, 0);
  /* Region names are "table,startkey,id.encoded." */
  ck_assert_uint_gt(reg->name.len, strlen(g_table));
  ck_assert_mem_eq(reg->name.data, g_table, strlen(g_table));
  ck_assert_int_eq(reg->name.data[strlen(g_table)], ',');
  ck_assert_int_gt(reg->id, 0);
  ck_assert_uint_gt(reg->server_name.len, 0);
  ck_assert_int_gt(reg->port, 0);
  hbc_result_free(&r);
  drop_table(g_table);
}
END_TEST

START_TEST(test_already_exists) {
  char name[128];
  make_name(name, sizeof name, "twice");
  create_test_table(name);
  hbc_family f;
  hbc_family_init(&f, B("cf"));
  FAILS(hbc_create_table(C, B(name), &f, 1, &E), HB_ERR_ALREADY_EXISTS);
  ck_assert(hbc_usable(C));
  ck_assert(table_listed(name));
  drop_table(name);
}
END_TEST

START_TEST(test_missing_table) {
  char name[128];
  make_name(name, sizeof name, "missing");
  hbc_bytes row = B("r1");
  hbc_result r = HBC_RESULT_INIT;
  FAILS(hbc_get_rows(C, B(name), &row, 1, NULL, 0, HBC_LATEST, &r, &E), HB_ERR_IO);
  ck_assert(hbc_usable(C));
  ck_assert(!table_listed(name));
  FAILS(hbc_delete_table(C, B(name), &E), HB_ERR_IO);
  ck_assert(hbc_usable(C));
  bool enabled = true;
  FAILS(hbc_is_table_enabled(C, B(name), &enabled, &E), HB_ERR_IO);
  FAILS(hbc_disable_table(C, B(name), &E), HB_ERR_IO);
  FAILS(hbc_column_descriptors(C, B(name), &r, &E), HB_ERR_IO);
  hbc_result_free(&r);
  ck_assert(hbc_usable(C));
  /* Opening a scanner does not look the table up: the first fetch fails. */
  hbc_scan scan;
  hbc_scan_init(&scan);
  int32_t id = -1;
  OK(hbc_scanner_open(C, B(name), &scan, &id, &E));
  FAILS(hbc_scanner_get_list(C, id, 1, &r, &E), HB_ERR_IO);
  OK(hbc_scanner_close(C, id, &E));
  ck_assert(hbc_usable(C));
  /* getTableRegions of a missing table is an empty list, not an error. */
  OK(hbc_table_regions(C, B(name), &r, &E));
  ck_assert_uint_eq(r.nregions, 0);
  hbc_result_free(&r);
  ck_assert(!table_listed(name));
}
END_TEST

START_TEST(test_create_without_families) {
  char name[128];
  make_name(name, sizeof name, "nofam");
  FAILS(hbc_create_table(C, B(name), NULL, 0, &E), HB_ERR_INVALID);
  ck_assert(hbc_usable(C));
  ck_assert(!table_listed(name));
}
END_TEST

START_TEST(test_transport_mismatch) {
  /* The other framing than the gateway's (plain bytes to an HTTP one): the gateway drops the
   * connection, waits for more bytes or answers something else, so the call fails with
   * TRANSPORT or TIMEOUT and the connection is given up. */
  hbc_options o = g_opts;
  if (o.http)
    o.http = false;
  else
    o.framed = !o.framed;
  o.call_timeout_ms = 2000;
  hbc_conn *c = hbc_connect(&o, &E);
  ck_assert_ptr_nonnull(c);
  hbc_result r = HBC_RESULT_INIT;
  int rc = hbc_table_names(c, &r, &E);
  ck_assert_msg(rc == -1 && (E.code == HB_ERR_TRANSPORT || E.code == HB_ERR_TIMEOUT),
                "expected TRANSPORT or TIMEOUT, got rc=%d %s: %s", rc, ERR_TEXT);
  ck_assert(!hbc_usable(c));
  hbc_close(c);
  hb_error_clear(&E);
  OK(hbc_table_names(C, &r, &E)); /* the right settings still work */
  hbc_result_free(&r);
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Puts and gets. */

START_TEST(test_wide_row) {
  enum { WIDE = 2000 };
  static char cols[WIDE][16], vals[WIDE][16];
  hbc_mutation *m = calloc(WIDE, sizeof *m);
  ck_assert_ptr_nonnull(m);
  for (int i = 0; i < WIDE; i++) { /* sent in reverse column order */
    snprintf(cols[i], sizeof cols[i], "cf:c%04d", i);
    snprintf(vals[i], sizeof vals[i], "value-%d", i);
    m[WIDE - 1 - i] = put_m(cols[i], B(vals[i]));
  }
  mutate(B("wide"), m, WIDE, HBC_LATEST);
  free(m);

  hbc_bytes row = B("wide");
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_rows(C, T, &row, 1, NULL, 0, HBC_LATEST, &r, &E));
  ck_assert_uint_eq(r.nrows, 1);
  ck_assert_uint_eq(r.rows[0].ncells, WIDE);
  for (int i = 0; i < WIDE; i++) {
    ck_assert_bytes_str(r.rows[0].cells[i].column, cols[i]);
    ck_assert_bytes_str(r.rows[0].cells[i].value, vals[i]);
  }
  hbc_result_free(&r);
}
END_TEST

START_TEST(test_binary_keys_and_values) {
  static const uint8_t key[] = {0x00, 'k', 0xff, 0x00, 0xff};
  static const uint8_t key2[] = {0xff, 0xff};
  static const uint8_t col[] = {'c', 'f', ':', 0x00, 0xff, 'q'};
  static const uint8_t val[] = {0xff, 0x00, 0x00, 'v', 0xff};
  hbc_mutation m[2] = {{false, BM(col, sizeof col), BM(val, sizeof val), true},
                       put_m("cf:empty", B(""))};
  mutate(BM(key, sizeof key), m, 2, HBC_LATEST);
  mutate(BM(key2, sizeof key2), m, 1, HBC_LATEST);

  hbc_bytes rows[3] = {BM(key, sizeof key), B("absent"), BM(key2, sizeof key2)};
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_rows(C, T, rows, 1, NULL, 0, HBC_LATEST, &r, &E)); /* getRowWithColumns */
  ck_assert_uint_eq(r.nrows, 1);
  ck_assert_bytes_mem(r.rows[0].key, key);
  ck_assert_uint_eq(r.rows[0].ncells, 2);
  ck_assert_bytes_mem(r.rows[0].cells[0].column, col); /* "cf:\0..." sorts before "cf:e" */
  ck_assert_bytes_mem(r.rows[0].cells[0].value, val);
  ck_assert_bytes_str(r.rows[0].cells[1].column, "cf:empty");
  ck_assert_uint_eq(r.rows[0].cells[1].value.len, 0); /* an empty value is still a cell */
  hbc_result_free(&r);

  ck_assert_text(get_bytes_text(rows, 3, SHOW_CELLS), /* getRowsWithColumns */
                 "\\x00k\\xff\\x00\\xff{cf:\\x00\\xffq=\\xff\\x00\\x00v\\xff,cf:empty=} "
                 "\\xff\\xff{cf:\\x00\\xffq=\\xff\\x00\\x00v\\xff}");
}
END_TEST

START_TEST(test_get_rows_omits_missing) {
  put("r1", "cf:a", "1");
  put("r2", "cf:a", "2");
  put("r3", "cf:a", "3");
  /* Rows come back in the order asked for, without the missing ones. */
  ck_assert_text(get_text(LIST("r3", "nope", "r1", "nope2"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS),
                 "r3{cf:a=3} r1{cf:a=1}");
  ck_assert_text(get_text(LIST("nope"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS), "");
  ck_assert_text(get_text(LIST("nope", "nope2"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS), "");
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_get_rows(C, T, NULL, 0, NULL, 0, HBC_LATEST, &r, &E));
  ck_assert_uint_eq(r.nrows, 0);
}
END_TEST

START_TEST(test_column_selection) {
  hbc_mutation m1[4] = {put_m("cg:c", B("3")), put_m("cf:b", B("2")), put_m("cf:a", B("1")),
                        put_m("cf:", B("e"))};
  hbc_mutation m2[2] = {put_m("cf:a", B("4")), put_m("cg:c", B("5"))};
  mutate(B("r1"), m1, 4, HBC_LATEST);
  mutate(B("r2"), m2, 2, HBC_LATEST);
  /* One row: getRowWithColumns. */
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:=e,cf:a=1,cf:b=2,cg:c=3}");
  ck_assert_text(get_cells("r1", LIST("cf:a")), "r1{cf:a=1}");
  ck_assert_text(get_cells("r1", LIST("cf")), "r1{cf:=e,cf:a=1,cf:b=2}");
  ck_assert_text(get_cells("r1", LIST("cf:")), "r1{cf:=e}"); /* "cf:" is the empty qualifier */
  ck_assert_text(get_cells("r1", LIST("cg", "cf:b")), "r1{cf:b=2,cg:c=3}");
  ck_assert_text(get_cells("r2", LIST("cf:b")), "");
  /* Several rows: getRowsWithColumns; a row without the selected columns is left out. */
  ck_assert_text(get_text(LIST("r1", "r2"), LIST("cf:b"), HBC_LATEST, SHOW_CELLS), "r1{cf:b=2}");
  ck_assert_text(get_text(LIST("r1", "r2"), LIST("cg"), HBC_LATEST, SHOW_CELLS),
                 "r1{cg:c=3} r2{cg:c=5}");
  ck_assert_text(get_text(LIST("r2", "r1"), LIST("cf:a", "cg:c"), HBC_LATEST, SHOW_CELLS),
                 "r2{cf:a=4,cg:c=5} r1{cf:a=1,cg:c=3}");
}
END_TEST

START_TEST(test_delete_column) {
  hbc_mutation m[3] = {put_m("cf:a", B("1")), put_m("cf:b", B("2")), put_m("cg:c", B("3"))};
  mutate(B("r1"), m, 3, HBC_LATEST);
  delete_at("r1", "cf:a", HBC_LATEST);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:b=2,cg:c=3}");
  delete_at("r1", "cf:missing", HBC_LATEST); /* deleting what is not there is fine */
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:b=2,cg:c=3}");
}
END_TEST

START_TEST(test_delete_family) {
  hbc_mutation m[3] = {put_m("cf:a", B("1")), put_m("cf:b", B("2")), put_m("cg:c", B("3"))};
  mutate(B("r1"), m, 3, HBC_LATEST);
  delete_at("r1", "cf", HBC_LATEST); /* no ':': the whole family */
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cg:c=3}");
  delete_at("r1", "cg", HBC_LATEST);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "");
}
END_TEST

START_TEST(test_puts_before_deletes) {
  put("r1", "cf:a", "old");
  /* One call, delete listed first: the gateway still applies the put first, so it is lost. */
  hbc_mutation m[3] = {del_m("cf:a"), put_m("cf:a", B("new")), put_m("cf:b", B("kept"))};
  mutate(B("r1"), m, 3, HBC_LATEST);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:b=kept}");
}
END_TEST

START_TEST(test_several_rows_one_call) {
  hbc_mutation a[2] = {put_m("cf:a", B("1")), put_m("cg:c", B("2"))};
  hbc_mutation b[1] = {put_m("cf:a", B("3"))};
  hbc_row_mutations rows[2] = {{B("ra"), a, 2}, {B("rb"), b, 1}};
  OK(hbc_mutate_rows(C, T, rows, 2, HBC_LATEST, &E));
  ck_assert_text(get_text(LIST("ra", "rb"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS),
                 "ra{cf:a=1,cg:c=2} rb{cf:a=3}");
  OK(hbc_mutate_rows(C, T, NULL, 0, HBC_LATEST, &E)); /* nothing to do */
}
END_TEST

START_TEST(test_put_without_colon_breaks_connection) {
  /* The gateway fails a put to "cf" (no ':') with a TApplicationException, not IllegalArgument;
   * the client must then give the connection up. */
  hbc_mutation m = put_m("cf", B("v"));
  hbc_row_mutations rm = {B("r1"), &m, 1};
  FAILS(hbc_mutate_rows(C, T, &rm, 1, HBC_LATEST, &E), HB_ERR_APPLICATION);
  ck_assert(!hbc_usable(C));
  hbc_result r = HBC_RESULT_INIT;
  FAILS(hbc_table_names(C, &r, &E), HB_ERR_TRANSPORT); /* refused without being sent */
  hbc_close(C);
  C = connect_gateway();
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "");
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Timestamps and versions. */

START_TEST(test_versions_and_timestamps) {
  for (int ts = 100; ts <= 400; ts += 100) {
    char v[16];
    snprintf(v, sizeof v, "v%d", ts);
    put_at("r1", "cf:v", v, ts); /* mutateRowsTs writes exactly that version */
  }
  ck_assert_text(versions_text("r1", "cf:v", HBC_LATEST, 10),
                 "v400@400 v300@300 v200@200 v100@100");
  ck_assert_text(versions_text("r1", "cf:v", HBC_LATEST, 2), "v400@400 v300@300");
  /* A read timestamp is an exclusive upper bound. */
  ck_assert_text(versions_text("r1", "cf:v", 300, 10), "v200@200 v100@100");
  ck_assert_text(versions_text("r1", "cf:v", 300, 1), "v200@200");
  ck_assert_text(versions_text("r1", "cf:v", 100, 10), "");
  ck_assert_text(versions_text("r1", "cf:nothing", HBC_LATEST, 10), "");
  ck_assert_text(get_text(LIST("r1"), ALL_COLUMNS, HBC_LATEST, SHOW_TIMES), "r1{cf:v=v400@400}");
  ck_assert_text(get_text(LIST("r1"), ALL_COLUMNS, 300, SHOW_TIMES), "r1{cf:v=v200@200}");
  ck_assert_text(get_text(LIST("r1"), LIST("cf:v"), 301, SHOW_TIMES), "r1{cf:v=v300@300}");
  ck_assert_text(get_text(LIST("r1"), ALL_COLUMNS, 100, SHOW_TIMES), "");
  /* getRowsWithColumnsTs, with and without columns. */
  ck_assert_text(get_text(LIST("r1", "nope"), ALL_COLUMNS, 250, SHOW_TIMES), "r1{cf:v=v200@200}");
  ck_assert_text(get_text(LIST("nope", "r1"), LIST("cf"), 150, SHOW_TIMES), "r1{cf:v=v100@100}");
  hbc_result r = HBC_RESULT_INIT;
  FAILS(hbc_get_versions(C, T, B("r1"), B("cf:v"), HBC_LATEST, 0, &r, &E), HB_ERR_INVALID);
}
END_TEST

START_TEST(test_max_versions_kept) {
  /* Family cf keeps 5 versions, cg the default 3. */
  for (int ts = 1; ts <= 7; ts++) {
    put_at("r1", "cf:m", "x", ts);
    put_at("r1", "cg:m", "y", ts);
  }
  ck_assert_text(versions_text("r1", "cf:m", HBC_LATEST, 100), "x@7 x@6 x@5 x@4 x@3");
  ck_assert_text(versions_text("r1", "cg:m", HBC_LATEST, 100), "y@7 y@6 y@5");
}
END_TEST

START_TEST(test_delete_with_timestamp) {
  put_at("r1", "cf:v", "a", 100);
  put_at("r1", "cf:v", "b", 200);
  put_at("r1", "cf:v", "c", 300);
  delete_at("r1", "cf:v", 200); /* versions <= 200 */
  ck_assert_text(versions_text("r1", "cf:v", HBC_LATEST, 10), "c@300");
  put_at("r1", "cg:x", "x1", 100);
  put_at("r1", "cg:x", "x3", 300);
  put_at("r1", "cg:y", "y2", 150);
  delete_at("r1", "cg", 200); /* the family, versions <= 200 */
  ck_assert_text(get_text(LIST("r1"), ALL_COLUMNS, HBC_LATEST, SHOW_TIMES),
                 "r1{cf:v=c@300,cg:x=x3@300}");
  ck_assert_text(versions_text("r1", "cg:x", HBC_LATEST, 10), "x3@300");
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Scanners. */

/* row-00 .. row-19: cf:a = aNN, cf:b = x (even) or y (odd), cg:c = c. */
static void fill_rows(void) {
  enum { N = 20 };
  static char keys[N][8], avals[N][8];
  hbc_mutation m[N][3];
  hbc_row_mutations rows[N];
  for (int i = 0; i < N; i++) {
    snprintf(keys[i], sizeof keys[i], "row-%02d", i);
    snprintf(avals[i], sizeof avals[i], "a%02d", i);
    m[i][0] = put_m("cf:a", B(avals[i]));
    m[i][1] = put_m("cf:b", B(i % 2 == 0 ? "x" : "y"));
    m[i][2] = put_m("cg:c", B("c"));
    rows[i] = (hbc_row_mutations){B(keys[i]), m[i], 3};
  }
  OK(hbc_mutate_rows(C, T, rows, N, HBC_LATEST, &E));
}

/* "row-05 row-06 ..." from first to last (inclusive, either direction), with a suffix each. */
static char *keys_text(int first, int last, const char *suffix) {
  text t;
  text_open(&t);
  int step = first <= last ? 1 : -1;
  for (int i = first; i != last + step; i += step)
    fprintf(t.f, "%srow-%02d%s", i == first ? "" : " ", i, suffix);
  return text_close(&t);
}

/* Opens a scanner, reads per_call rows at a time until an empty list, closes it. */
static char *scan_text(const hbc_scan *s, int32_t per_call, int mode) {
  int32_t id = -1;
  OK(hbc_scanner_open(C, T, s, &id, &E));
  text t;
  text_open(&t);
  for (int calls = 0;; calls++) {
    ck_assert_int_lt(calls, 500);
    hbc_result r = HBC_RESULT_INIT;
    OK(hbc_scanner_get_list(C, id, per_call, &r, &E));
    ck_assert_uint_le(r.nrows, (size_t)per_call);
    size_t n = r.nrows;
    for (size_t i = 0; i < n; i++)
      text_row(&t, &r.rows[i], mode);
    hbc_result_free(&r);
    if (n == 0)
      break;
  }
  OK(hbc_scanner_close(C, id, &E));
  return text_close(&t);
}

/* The scan's text must be want_expr (a malloc'd string); a macro, to report the caller's line. */
#define assert_scan(scan, per_call, mode, want_expr)                                               \
  do {                                                                                             \
    char *want_ = (want_expr);                                                                     \
    ck_assert_text(scan_text((scan), (per_call), (mode)), want_);                                  \
    free(want_);                                                                                   \
  } while (0)

START_TEST(test_scan_all_and_ranges) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  assert_scan(&s, 7, SHOW_KEYS, keys_text(0, 19, ""));
  assert_scan(&s, 1000, SHOW_COUNTS, keys_text(0, 19, "/3"));
  s.start_row = B("row-05");
  s.stop_row = B("row-08"); /* exclusive */
  assert_scan(&s, 2, SHOW_KEYS, keys_text(5, 7, ""));
  s.stop_row = B("");
  assert_scan(&s, 100, SHOW_KEYS, keys_text(5, 19, ""));
  s.start_row = B("row-17x"); /* need not exist */
  assert_scan(&s, 100, SHOW_KEYS, keys_text(18, 19, ""));
  s.start_row = B("zzz");
  assert_scan(&s, 100, SHOW_KEYS, strdup(""));
}
END_TEST

START_TEST(test_scan_prefix_range) {
  fill_rows();
  static const uint8_t after[] = {'r', 'o', 'w', '-', '1', 0xff, 0xff};
  put("row-1", "cf:a", "p");
  put("row-2", "cf:a", "q");
  hbc_mutation m = put_m("cf:a", B("r"));
  mutate(BM(after, sizeof after), &m, 1, HBC_LATEST);
  /* Prefix "row-1": start at the prefix, stop at the prefix with its last byte incremented. */
  hbc_scan s;
  hbc_scan_init(&s);
  s.start_row = B("row-1");
  s.stop_row = B("row-2");
  char *want = keys_text(10, 19, "");
  char *full = NULL;
  ck_assert_int_gt(asprintf(&full, "row-1 %s row-1\\xff\\xff", want), 0);
  free(want);
  assert_scan(&s, 4, SHOW_KEYS, full);
  /* Reversed: the start row is still inclusive and the stop row exclusive. */
  s.reversed = true;
  s.start_row = BM(after, sizeof after);
  s.stop_row = B("row-1");
  want = keys_text(19, 10, "");
  ck_assert_int_gt(asprintf(&full, "row-1\\xff\\xff %s", want), 0);
  free(want);
  assert_scan(&s, 3, SHOW_KEYS, full);
}
END_TEST

START_TEST(test_scan_columns) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  s.start_row = B("row-03");
  s.stop_row = B("row-05");
  hbc_bytes one[1] = {B("cf:a")};
  s.columns = one;
  s.ncolumns = 1;
  assert_scan(&s, 10, SHOW_CELLS, strdup("row-03{cf:a=a03} row-04{cf:a=a04}"));
  hbc_bytes two[2] = {B("cg"), B("cf:b")};
  s.columns = two;
  s.ncolumns = 2;
  assert_scan(&s, 10, SHOW_CELLS, strdup("row-03{cf:b=y,cg:c=c} row-04{cf:b=x,cg:c=c}"));
  hbc_bytes none[1] = {B("cf:none")};
  s.columns = none;
  s.ncolumns = 1;
  assert_scan(&s, 10, SHOW_CELLS, strdup(""));
}
END_TEST

START_TEST(test_scan_reversed) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  s.reversed = true;
  assert_scan(&s, 6, SHOW_KEYS, keys_text(19, 0, ""));
  s.start_row = B("row-08"); /* inclusive */
  s.stop_row = B("row-05");  /* exclusive */
  assert_scan(&s, 100, SHOW_KEYS, keys_text(8, 6, ""));
}
END_TEST

START_TEST(test_scan_sort_columns) {
  /* Families "c", "cf", "cf2": HBase orders cells by family, then qualifier, which is not the
   * byte order of the "family:qualifier" strings ("cf2:z" < "cf:a"). sortColumns replies carry
   * a list in the gateway's order, which the client must keep; map replies are re-sorted by the
   * client into the same order. */
  char name[128];
  make_name(name, sizeof name, "sorted");
  hbc_family f[3];
  hbc_family_init(&f[0], B("cf2"));
  hbc_family_init(&f[1], B("cf"));
  hbc_family_init(&f[2], B("c"));
  OK(hbc_create_table(C, B(name), f, 3, &E));
  T = B(name);
  hbc_mutation m[5] = {put_m("cf2:z", B("4")), put_m("cf:b", B("3")), put_m("c:q", B("0")),
                       put_m("cf:a", B("2")), put_m("cf:", B("1"))};
  mutate(B("s1"), m, 5, HBC_LATEST);
  put("s2", "cf2:a", "5");
  hbc_scan s;
  hbc_scan_init(&s);
  s.sort_columns = true;
  assert_scan(&s, 10, SHOW_CELLS, strdup("s1{c:q=0,cf:=1,cf:a=2,cf:b=3,cf2:z=4} s2{cf2:a=5}"));
  s.sort_columns = false; /* the map reply, re-sorted by the client: the same order */
  assert_scan(&s, 10, SHOW_CELLS, strdup("s1{c:q=0,cf:=1,cf:a=2,cf:b=3,cf2:z=4} s2{cf2:a=5}"));
  drop_table(name);
  T = B(g_table);
}
END_TEST

START_TEST(test_scan_filter) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  s.filter = B("PrefixFilter('row-1')");
  assert_scan(&s, 100, SHOW_KEYS, keys_text(10, 19, ""));
  s.filter = B("ValueFilter(=, 'binary:x')");
  s.stop_row = B("row-06");
  assert_scan(&s, 100, SHOW_CELLS, strdup("row-00{cf:b=x} row-02{cf:b=x} row-04{cf:b=x}"));
  s.filter = B("PrefixFilter('row-1') AND ValueFilter(=, 'binary:a12')");
  s.stop_row = B("");
  assert_scan(&s, 100, SHOW_CELLS, strdup("row-12{cf:a=a12}"));
}
END_TEST

START_TEST(test_scan_caching) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  s.caching = 3;
  assert_scan(&s, 7, SHOW_COUNTS, keys_text(0, 19, "/3"));
  s.caching = 1000;
  assert_scan(&s, 1, SHOW_COUNTS, keys_text(0, 19, "/3"));
}
END_TEST

START_TEST(test_scan_batch_size) {
  enum { NCELLS = 10 };
  static char cols[NCELLS][8], vals[NCELLS][8];
  hbc_mutation m[NCELLS];
  for (int i = 0; i < NCELLS; i++) {
    snprintf(cols[i], sizeof cols[i], "cf:q%d", i);
    snprintf(vals[i], sizeof vals[i], "v%d", i);
    m[i] = put_m(cols[i], B(vals[i]));
  }
  mutate(B("wide"), m, NCELLS, HBC_LATEST);
  put("xnarrow", "cf:a", "n");
  hbc_scan s;
  hbc_scan_init(&s);
  s.batch_size = 3; /* a wide row comes back as several results of <= 3 cells */
  assert_scan(&s, 2, SHOW_CELLS,
              strdup("wide{cf:q0=v0,cf:q1=v1,cf:q2=v2} wide{cf:q3=v3,cf:q4=v4,cf:q5=v5} "
                     "wide{cf:q6=v6,cf:q7=v7,cf:q8=v8} wide{cf:q9=v9} xnarrow{cf:a=n}"));
  s.batch_size = 4;
  assert_scan(&s, 100, SHOW_COUNTS, strdup("wide/4 wide/4 wide/2 xnarrow/1"));
}
END_TEST

START_TEST(test_scan_timestamp) {
  fill_rows(); /* written now: newer than any timestamp below */
  put_at("row-03", "cf:old", "o100", 100);
  put_at("row-03", "cf:old", "o200", 200);
  put_at("row-07", "cg:old", "p150", 150);
  hbc_scan s;
  hbc_scan_init(&s);
  s.timestamp = 200; /* exclusive */
  assert_scan(&s, 10, SHOW_TIMES, strdup("row-03{cf:old=o100@100} row-07{cg:old=p150@150}"));
  s.timestamp = 201;
  s.stop_row = B("row-05");
  assert_scan(&s, 10, SHOW_TIMES, strdup("row-03{cf:old=o200@200}"));
  s.timestamp = 100;
  assert_scan(&s, 10, SHOW_TIMES, strdup(""));
}
END_TEST

START_TEST(test_scan_exhausted_stays_empty) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  s.start_row = B("row-18");
  int32_t id = -1;
  OK(hbc_scanner_open(C, T, &s, &id, &E));
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_scanner_get_list(C, id, 5, &r, &E));
  ck_assert_text(rows_text(&r, SHOW_KEYS), "row-18 row-19"); /* short: not yet "done" */
  hbc_result_free(&r);
  for (int i = 0; i < 2; i++) {
    OK(hbc_scanner_get_list(C, id, 5, &r, &E));
    ck_assert_uint_eq(r.nrows, 0);
    hbc_result_free(&r);
  }
  FAILS(hbc_scanner_get_list(C, id, 0, &r, &E), HB_ERR_INVALID);
  OK(hbc_scanner_close(C, id, &E));
}
END_TEST

START_TEST(test_scan_compat_090) {
  fill_rows();
  put_at("row-06", "cf:old", "o", 100);
  hbc_scan s;
  hbc_scan_init(&s);
  s.compat_090 = true;
  s.start_row = B("row-15"); /* scannerOpen */
  assert_scan(&s, 3, SHOW_KEYS, keys_text(15, 19, ""));
  s.start_row = B("row-05");
  s.stop_row = B("row-08"); /* scannerOpenWithStop */
  assert_scan(&s, 100, SHOW_KEYS, keys_text(5, 7, ""));
  s.timestamp = 200; /* scannerOpenWithStopTs */
  assert_scan(&s, 100, SHOW_TIMES, strdup("row-06{cf:old=o@100}"));
  s.stop_row = B(""); /* scannerOpenTs */
  s.start_row = B("");
  assert_scan(&s, 100, SHOW_TIMES, strdup("row-06{cf:old=o@100}"));
  hbc_bytes cols[1] = {B("cf:a")};
  s.timestamp = HBC_LATEST;
  s.start_row = B("row-05");
  s.stop_row = B("row-07");
  s.columns = cols;
  s.ncolumns = 1;
  s.filter = B("PrefixFilter('nothing')"); /* 0.90 has no filters: ignored */
  assert_scan(&s, 100, SHOW_CELLS, strdup("row-05{cf:a=a05} row-06{cf:a=a06}"));
}
END_TEST

START_TEST(test_scanner_invalid_id) {
  fill_rows();
  hbc_scan s;
  hbc_scan_init(&s);
  int32_t id = -1;
  OK(hbc_scanner_open(C, T, &s, &id, &E));
  OK(hbc_scanner_close(C, id, &E));
  hbc_result r = HBC_RESULT_INIT;
  /* The gateway answers IllegalArgument("scanner ID is invalid") for ids it does not know
   * (closed, expired or never opened); the connection stays usable. */
  FAILS(hbc_scanner_get_list(C, id, 1, &r, &E), HB_ERR_ILLEGAL_ARGUMENT);
  ck_assert(hbc_usable(C));
  FAILS(hbc_scanner_close(C, id, &E), HB_ERR_ILLEGAL_ARGUMENT);
  FAILS(hbc_scanner_get_list(C, -12345, 1, &r, &E), HB_ERR_ILLEGAL_ARGUMENT);
  ck_assert(hbc_usable(C));
  ck_assert_text(get_text(LIST("row-01"), LIST("cf:a"), HBC_LATEST, SHOW_CELLS),
                 "row-01{cf:a=a01}");
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Counters, append, check-and-put. */

START_TEST(test_atomic_increment) {
  int64_t v = -1;
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), 0, &v, &E)); /* creates the cell as 0 */
  ck_assert_int_eq(v, 0);
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), 5, &v, &E));
  ck_assert_int_eq(v, 5);
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), -2, &v, &E));
  ck_assert_int_eq(v, 3);
  ck_assert_text(get_cells("c1", ALL_COLUMNS), "c1{cf:n=\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x03}");
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), -4, &v, &E));
  ck_assert_int_eq(v, -1); /* 8-byte big-endian two's complement */
  ck_assert_text(get_cells("c1", ALL_COLUMNS), "c1{cf:n=\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff}");
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), INT64_C(0x100000000), &v, &E));
  ck_assert_int_eq(v, INT64_C(0xffffffff));
  /* A value that is not 8 bytes wide is an HBase error; the connection survives it. */
  put("c1", "cf:s", "abc");
  FAILS(hbc_atomic_increment(C, T, B("c1"), B("cf:s"), 1, &v, &E), HB_ERR_IO);
  ck_assert(hbc_usable(C));
  ck_assert_text(get_cells("c1", LIST("cf:s")), "c1{cf:s=abc}");
}
END_TEST

START_TEST(test_increment_rows) {
  hbc_increment inc[4] = {{T, B("c1"), B("cf:n"), 3},
                          {T, B("c1"), B("cg:m"), 4},
                          {T, B("c2"), B("cf:n"), 10},
                          {T, B("c1"), B("cf:n"), 2}};
  OK(hbc_increment_rows(C, inc, 4, &E));
  ck_assert_text(get_text(LIST("c1", "c2"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS),
                 "c1{cf:n=\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x05,"
                 "cg:m=\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x04} "
                 "c2{cf:n=\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x0a}");
  int64_t v = 0;
  OK(hbc_atomic_increment(C, T, B("c1"), B("cf:n"), 0, &v, &E));
  ck_assert_int_eq(v, 5);
  OK(hbc_increment_rows(C, NULL, 0, &E)); /* nothing to do */
}
END_TEST

START_TEST(test_append) {
  put("r1", "cf:s", "abc");
  hbc_bytes cols[2] = {B("cf:s"), B("cf:t")}, vals[2] = {B("def"), B("xyz")};
  hbc_result r = HBC_RESULT_INIT;
  OK(hbc_append(C, T, B("r1"), cols, vals, 2, &r, &E));
  ck_assert_uint_eq(r.ncells, 2);
  ck_assert_bytes_str(r.cells[0].value, "abcdef"); /* the new values */
  ck_assert_bytes_str(r.cells[1].value, "xyz");    /* a missing cell starts empty */
  ck_assert_uint_eq(r.cells[0].column.len, 0);     /* append replies carry no column names */
  ck_assert_int_gt(r.cells[0].timestamp, 0);
  hbc_result_free(&r);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:s=abcdef,cf:t=xyz}");
  /* A missing row. */
  OK(hbc_append(C, T, B("r2"), cols, vals, 1, &r, &E));
  ck_assert_uint_eq(r.ncells, 1);
  ck_assert_bytes_str(r.cells[0].value, "def");
  hbc_result_free(&r);
  ck_assert_text(get_cells("r2", ALL_COLUMNS), "r2{cf:s=def}");
}
END_TEST

START_TEST(test_check_and_put) {
  put("r1", "cf:a", "one");
  hbc_bytes one = B("one"), two = B("two");
  hbc_mutation m = put_m("cf:b", B("x"));
  bool applied = false;
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:a"), &one, &m, &applied, &E));
  ck_assert(applied);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=one,cf:b=x}");
  m = put_m("cf:b", B("y"));
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:a"), &two, &m, &applied, &E));
  ck_assert(!applied);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=one,cf:b=x}");
  /* Expected NULL: only if the column is absent. */
  m = put_m("cf:c", B("new"));
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:c"), NULL, &m, &applied, &E));
  ck_assert(applied);
  m = put_m("cf:c", B("again"));
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:a"), NULL, &m, &applied, &E));
  ck_assert(!applied);
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=one,cf:b=x,cf:c=new}");
  /* An empty expected value means the same as NULL. */
  hbc_bytes empty = B("");
  m = put_m("cf:d", B("d"));
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:d"), &empty, &m, &applied, &E));
  ck_assert(applied);
  OK(hbc_check_and_put(C, T, B("r1"), B("cf:a"), &empty, &m, &applied, &E));
  ck_assert(!applied);
  ck_assert_text(get_cells("r1", LIST("cf:d")), "r1{cf:d=d}");
  /* A missing row: the column is absent. */
  m = put_m("cf:c", B("again"));
  OK(hbc_check_and_put(C, T, B("r2"), B("cf:a"), NULL, &m, &applied, &E));
  ck_assert(applied);
  ck_assert_text(get_cells("r2", ALL_COLUMNS), "r2{cf:c=again}");
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Transport failure and recovery: stops and restarts the gateway, so it runs last. */

static int run_script(const char *command) {
  return gateway_env_script(command, gateway_env_name());
}

/* What happened while the gateway was down; asserted after it is back. */
typedef struct outage {
  int stop_rc;
  hb_errcode old_conn_code;
  char old_conn_msg[256];
  bool old_conn_usable;
  hb_errcode broken_conn_code;
  hb_errcode new_conn_code;
  char new_conn_msg[256];
  int64_t new_conn_ms;
  bool new_conn_null;
} outage;

static void observe_outage(hbc_conn *old, outage *o) {
  hbc_bytes row = B("r1");
  hbc_result r = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  int rc = hbc_get_rows(old, T, &row, 1, NULL, 0, HBC_LATEST, &r, &err);
  o->old_conn_code = rc == 0 ? HB_OK : err.code;
  snprintf(o->old_conn_msg, sizeof o->old_conn_msg, "%s", err.message != NULL ? err.message : "");
  o->old_conn_usable = hbc_usable(old);
  hbc_result_free(&r);
  hb_error_clear(&err);
  o->broken_conn_code = hbc_table_names(old, &r, &err) == 0 ? HB_OK : err.code;
  hbc_result_free(&r);
  hb_error_clear(&err);
  int64_t t0 = mono_ms();
  hbc_conn *c = hbc_connect(&g_opts, &err);
  o->new_conn_ms = mono_ms() - t0;
  o->new_conn_null = c == NULL;
  o->new_conn_code = err.code;
  snprintf(o->new_conn_msg, sizeof o->new_conn_msg, "%s", err.message != NULL ? err.message : "");
  hbc_close(c);
  hb_error_clear(&err);
}

static void assert_outage(const outage *o) {
  fprintf(stderr,
          "test_hbase: gateway down: open connection got %s (%s); connecting took %lld ms: %s\n",
          hb_errcode_name(o->old_conn_code), o->old_conn_msg, (long long)o->new_conn_ms,
          o->new_conn_msg);
  ck_assert_msg(o->stop_rc == 0, "gateway-stop exited with %d", o->stop_rc);
  ck_assert_msg(o->old_conn_code == HB_ERR_TRANSPORT || o->old_conn_code == HB_ERR_TIMEOUT,
                "call on the open connection: expected TRANSPORT or TIMEOUT, got %s (%s)",
                hb_errcode_name(o->old_conn_code), o->old_conn_msg);
  ck_assert(!o->old_conn_usable);
  ck_assert_int_eq(o->broken_conn_code, HB_ERR_TRANSPORT); /* refused without being sent */
  ck_assert(o->new_conn_null);
  ck_assert_msg(o->new_conn_code == HB_ERR_TRANSPORT && strstr(o->new_conn_msg, "refused") != NULL,
                "new connection: got %s (%s)", hb_errcode_name(o->new_conn_code), o->new_conn_msg);
  ck_assert_int_lt(o->new_conn_ms, 1000);
}

START_TEST(test_gateway_restart) {
  gateway_env_need("HBPOOL_HBASE_SCRIPT");
  gateway_env_need("HBPOOL_HBASE_RUN_DIR");
  gateway_env_need("HBPOOL_TEST_GATEWAY_NAME");
  put("r1", "cf:a", "before");
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=before}");

  outage o = {0};
  o.stop_rc = run_script("gateway-stop");
  observe_outage(C, &o);
  int start_rc = run_script("gateway-start"); /* before any assertion: the gateway comes back */
  assert_outage(&o);
  ck_assert_msg(start_rc == 0, "gateway-start exited with %d", start_rc);

  hbc_close(C); /* broken for good: a new connection works and the data is still there */
  C = connect_gateway();
  ck_assert_text(get_cells("r1", ALL_COLUMNS), "r1{cf:a=before}");
  put("r2", "cf:a", "after");
  ck_assert_text(get_text(LIST("r1", "r2"), ALL_COLUMNS, HBC_LATEST, SHOW_CELLS),
                 "r1{cf:a=before} r2{cf:a=after}");
}
END_TEST

/* ------------------------------------------------------------------------------------------------
 * Suite and main. */

static TCase *tcase(Suite *s, const char *name, void (*setup)(void), void (*teardown)(void),
                    double timeout) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, timeout);
  suite_add_tcase(s, tc);
  return tc;
}

static Suite *hbase_suite(void) {
  Suite *s = suite_create("hbase");
  TCase *tc = tcase(s, "admin", setup_conn, teardown_conn, 120);
  tcase_add_test(tc, test_create_with_options);
  tcase_add_test(tc, test_enable_disable);
  tcase_add_test(tc, test_compact_and_regions);
  tcase_add_test(tc, test_already_exists);
  tcase_add_test(tc, test_missing_table);
  tcase_add_test(tc, test_create_without_families);
  tcase_add_test(tc, test_transport_mismatch);

  tc = tcase(s, "put_get", setup_table, teardown_table, 120);
  tcase_add_test(tc, test_wide_row);
  tcase_add_test(tc, test_binary_keys_and_values);
  tcase_add_test(tc, test_get_rows_omits_missing);
  tcase_add_test(tc, test_column_selection);
  tcase_add_test(tc, test_delete_column);
  tcase_add_test(tc, test_delete_family);
  tcase_add_test(tc, test_puts_before_deletes);
  tcase_add_test(tc, test_several_rows_one_call);
  tcase_add_test(tc, test_put_without_colon_breaks_connection);

  tc = tcase(s, "versions", setup_table, teardown_table, 120);
  tcase_add_test(tc, test_versions_and_timestamps);
  tcase_add_test(tc, test_max_versions_kept);
  tcase_add_test(tc, test_delete_with_timestamp);

  tc = tcase(s, "scan", setup_table, teardown_table, 120);
  tcase_add_test(tc, test_scan_all_and_ranges);
  tcase_add_test(tc, test_scan_prefix_range);
  tcase_add_test(tc, test_scan_columns);
  tcase_add_test(tc, test_scan_reversed);
  tcase_add_test(tc, test_scan_sort_columns);
  tcase_add_test(tc, test_scan_filter);
  tcase_add_test(tc, test_scan_caching);
  tcase_add_test(tc, test_scan_batch_size);
  tcase_add_test(tc, test_scan_timestamp);
  tcase_add_test(tc, test_scan_exhausted_stays_empty);
  tcase_add_test(tc, test_scan_compat_090);
  tcase_add_test(tc, test_scanner_invalid_id);

  tc = tcase(s, "atomic", setup_table, teardown_table, 120);
  tcase_add_test(tc, test_atomic_increment);
  tcase_add_test(tc, test_increment_rows);
  tcase_add_test(tc, test_append);
  tcase_add_test(tc, test_check_and_put);

  tc = tcase(s, "restart", setup_table, teardown_table, 240);
  tcase_add_test(tc, test_gateway_restart);
  return s;
}

/* Tables of this run that failed tests left behind (a failing test stops before its cleanup). */
static void sweep_tables(void) {
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&g_opts, &err);
  if (c == NULL) {
    fprintf(stderr, "test_hbase: cannot sweep leftover tables: %s\n", err.message);
    hb_error_clear(&err);
    return;
  }
  char prefix[64];
  snprintf(prefix, sizeof prefix, TABLE_PREFIX "%ld_", (long)g_run_pid);
  hbc_result r = HBC_RESULT_INIT;
  if (hbc_table_names(c, &r, &err) == 0) {
    for (size_t i = 0; i < r.nnames; i++) {
      if (r.names[i].len < strlen(prefix) || memcmp(r.names[i].data, prefix, strlen(prefix)) != 0)
        continue;
      fprintf(stderr, "test_hbase: dropping leftover table %.*s\n", (int)r.names[i].len,
              (const char *)r.names[i].data);
      hbc_disable_table(c, r.names[i], NULL);
      hbc_delete_table(c, r.names[i], NULL);
    }
  }
  hbc_result_free(&r);
  hb_error_clear(&err);
  hbc_close(c);
}

/* Fills g_opts from HBPOOL_TEST_THRIFT_*; false (with a message) if they are missing or bad. */
static bool load_env(void) {
  if (!gateway_env_load(&g_opts, "test_hbase"))
    return false;
  g_opts.call_timeout_ms = 60000;
  return true;
}

int main(void) {
  if (!load_env())
    return 2;
  g_run_pid = getpid();
  hbc_init();
  printf("test_hbase: gateway %s:%d, %s, %s\n", g_opts.host, g_opts.port,
         g_opts.http       ? "http"
           : g_opts.framed ? "framed"
                           : "buffered",
         g_opts.protocol == HBC_PROTOCOL_COMPACT ? "compact" : "binary");
  fflush(stdout);
  SRunner *sr = srunner_create(hbase_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  sweep_tables();
  return failed == 0 ? 0 : 1;
}
