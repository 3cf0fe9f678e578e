/* client_bench: times the client layer against a real gateway: single-row gets of a 10-column
 * row and 1,000-row scans. Prints one "name=value" line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_util.h"
#include "hbase_client.h"

#define TABLE "hbpool_bench"
#define GET_ROUNDS 3000
#define SCAN_ROUNDS 40
#define SCAN_ROWS 1000

static void check(int rc, hb_error *err, const char *what) {
  if (rc == 0)
    return;
  fprintf(stderr, "client_bench: %s: %s: %s\n", what, hb_errcode_name(err->code), err->message);
  exit(1);
}

static hbc_conn *connect_env(void) {
  hbc_options o;
  bench_gateway_options(&o, 60000);
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&o, &err);
  if (c == NULL)
    check(-1, &err, "connect");
  return c;
}

/* One row "get-row" of 10 columns, and SCAN_ROWS rows "scan-NNNNN" of 5 columns. */
static void load(hbc_conn *c) {
  hb_error err = HB_ERROR_INIT;
  /* Leftovers of an earlier run, if any (errors ignored: the table may not exist). */
  hbc_disable_table(c, hbc_str(TABLE), &err);
  hbc_delete_table(c, hbc_str(TABLE), &err);
  hb_error_clear(&err);
  hbc_family f;
  hbc_family_init(&f, hbc_str("cf"));
  check(hbc_create_table(c, hbc_str(TABLE), &f, 1, &err), &err, "create table");
  char cols[10][8], value[] = "value-of-twenty-byte";
  hbc_mutation m[10];
  for (int i = 0; i < 10; i++) {
    snprintf(cols[i], sizeof cols[i], "cf:c%d", i);
    m[i] = (hbc_mutation){.column = hbc_str(cols[i]), .value = hbc_str(value), .wal = true};
  }
  hbc_row_mutations rm = {.row = hbc_str("get-row"), .mutations = m, .nmutations = 10};
  check(hbc_mutate_rows(c, hbc_str(TABLE), &rm, 1, HBC_LATEST, &err), &err, "put get-row");
  static char keys[SCAN_ROWS][16];
  hbc_row_mutations *rows = calloc(SCAN_ROWS, sizeof *rows);
  for (int r = 0; r < SCAN_ROWS; r++) {
    snprintf(keys[r], sizeof keys[r], "scan-%05d", r);
    rows[r] = (hbc_row_mutations){.row = hbc_str(keys[r]), .mutations = m, .nmutations = 5};
  }
  check(hbc_mutate_rows(c, hbc_str(TABLE), rows, SCAN_ROWS, HBC_LATEST, &err), &err,
        "put scan rows");
  free(rows);
}

static void report(const char *name, double *samples, int n) {
  double sum = 0;
  for (int i = 0; i < n; i++)
    sum += samples[i];
  qsort(samples, (size_t)n, sizeof *samples, bench_compare_double);
  printf("%s_mean_us=%.1f\n%s_p50_us=%.1f\n%s_p99_us=%.1f\n", name, sum / n, name, samples[n / 2],
         name, samples[n * 99 / 100]);
}

static void bench_gets(hbc_conn *c) {
  double *t = malloc(GET_ROUNDS * sizeof *t);
  hbc_bytes row = hbc_str("get-row");
  hb_error err = HB_ERROR_INIT;
  double cpu0 = 0;
  for (int i = -200; i < GET_ROUNDS; i++) { /* the first 200 warm up */
    if (i == 0)
      cpu0 = bench_cpu_us(RUSAGE_SELF);
    hbc_result res = HBC_RESULT_INIT;
    double t0 = bench_now_us();
    check(hbc_get_rows(c, hbc_str(TABLE), &row, 1, NULL, 0, HBC_LATEST, &res, &err), &err, "get");
    if (i >= 0)
      t[i] = bench_now_us() - t0;
    if (res.nrows != 1 || res.rows[0].ncells != 10)
      check(-1, &err, "get returned the wrong row");
    hbc_result_free(&res);
  }
  printf("get_row_10_columns_cpu_us=%.1f\n", (bench_cpu_us(RUSAGE_SELF) - cpu0) / GET_ROUNDS);
  report("get_row_10_columns", t, GET_ROUNDS);
  free(t);
}

static void bench_scans(hbc_conn *c) {
  double *whole = malloc(SCAN_ROUNDS * sizeof *whole), *list = malloc(SCAN_ROUNDS * sizeof *list);
  hb_error err = HB_ERROR_INIT;
  hbc_scan s;
  hbc_scan_init(&s);
  s.start_row = hbc_str("scan-");
  s.stop_row = hbc_str("scan.");
  s.caching = SCAN_ROWS;
  double cpu0 = 0;
  for (int i = -5; i < SCAN_ROUNDS; i++) {
    if (i == 0)
      cpu0 = bench_cpu_us(RUSAGE_SELF);
    int32_t id;
    hbc_result res = HBC_RESULT_INIT;
    double t0 = bench_now_us();
    check(hbc_scanner_open(c, hbc_str(TABLE), &s, &id, &err), &err, "scanner open");
    double t1 = bench_now_us();
    check(hbc_scanner_get_list(c, id, SCAN_ROWS, &res, &err), &err, "scanner get");
    double t2 = bench_now_us();
    check(hbc_scanner_close(c, id, &err), &err, "scanner close");
    if (i >= 0) {
      whole[i] = bench_now_us() - t0;
      list[i] = t2 - t1;
    }
    if (res.nrows != SCAN_ROWS)
      check(-1, &err, "scan returned the wrong number of rows");
    hbc_result_free(&res);
  }
  printf("scan_1000_rows_open_get_close_cpu_us=%.1f\n",
         (bench_cpu_us(RUSAGE_SELF) - cpu0) / SCAN_ROUNDS);
  report("scan_1000_rows_open_get_close", whole, SCAN_ROUNDS);
  report("scanner_get_list_1000_rows", list, SCAN_ROUNDS);
  free(whole);
  free(list);
}

int main(int argc, char **argv) {
  hbc_conn *c = connect_env();
  if (argc > 1 && strcmp(argv[1], "--load") == 0) {
    load(c);
  } else {
    bench_gets(c);
    bench_scans(c);
  }
  hbc_close(c);
  return 0;
}
