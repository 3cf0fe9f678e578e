/* decode_loop: decodes every kind of canned reply many times, for a leak checker to watch
 * (c_glib defect 2: generated finalizers did not chain up, so every decoded struct leaked).
 * Exits 0 when every reply decoded correctly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canned.h"
#include "hbase_client.h"
#include "peer.h"

#define ROUNDS 100

enum { R_ROWS, R_SORTED, R_DESCRIPTORS, R_IOERROR, R_COUNT };

static int one_round(hbc_conn *c) {
  hbc_result res = HBC_RESULT_INIT;
  hb_error err = HB_ERROR_INIT;
  hbc_bytes row = hbc_str("row-0");
  int bad = 0;
  if (hbc_get_rows(c, hbc_str("t"), &row, 1, NULL, 0, HBC_LATEST, &res, &err) != 0 ||
      res.nrows != 1 || res.rows[0].ncells != 1000)
    bad++;
  hbc_result_free(&res);
  if (hbc_scanner_get_list(c, 1, 10, &res, &err) != 0 || res.nrows != 10)
    bad++;
  hbc_result_free(&res);
  if (hbc_column_descriptors(c, hbc_str("t"), &res, &err) != 0 || res.nfamilies != 2)
    bad++;
  hbc_result_free(&res);
  if (hbc_get_rows(c, hbc_str("t"), &row, 1, NULL, 0, HBC_LATEST, &res, &err) != -1 ||
      err.code != HB_ERR_IO)
    bad++;
  hbc_result_free(&res);
  hb_error_clear(&err);
  return bad;
}

/* A TApplicationException breaks its connection: one connection per exception. */
static int application_exceptions(hbc_options *o) {
  tbuf reply = {0};
  canned_app_exception(&reply, "getRowWithColumns", "Internal error for the leak check");
  canned_script s = {.replies = &reply, .nreplies = 1};
  peer *p = peer_start(canned_serve, &s);
  o->port = peer_port(p);
  int bad = 0;
  for (int i = 0; i < ROUNDS / 4; i++) {
    hb_error err = HB_ERROR_INIT;
    hbc_result res = HBC_RESULT_INIT;
    hbc_bytes row = hbc_str("row-0");
    hbc_conn *c = hbc_connect(o, &err);
    if (c == NULL ||
        hbc_get_rows(c, hbc_str("t"), &row, 1, NULL, 0, HBC_LATEST, &res, &err) != -1 ||
        err.code != HB_ERR_APPLICATION)
      bad++;
    hb_error_clear(&err);
    hbc_close(c);
  }
  peer_stop(p);
  tb_free(&reply);
  return bad;
}

int main(void) {
  tbuf kinds[R_COUNT] = {{0}};
  canned_rows(&kinds[R_ROWS], "getRowWithColumns", 1, 1000, false);
  canned_rows(&kinds[R_SORTED], "scannerGetList", 10, 20, true);
  canned_descriptors(&kinds[R_DESCRIPTORS]);
  canned_declared(&kinds[R_IOERROR], "getRowWithColumns", 1, "IOError for the leak check", false);
  tbuf *replies = calloc(ROUNDS * R_COUNT, sizeof *replies);
  for (int i = 0; i < ROUNDS * R_COUNT; i++)
    replies[i] = kinds[i % R_COUNT];
  canned_script s = {.replies = replies, .nreplies = ROUNDS * R_COUNT};
  peer *p = peer_start(canned_serve, &s);

  hbc_options o;
  hbc_options_init(&o);
  o.host = "127.0.0.1";
  o.port = peer_port(p);
  o.framed = true;
  hb_error err = HB_ERROR_INIT;
  hbc_conn *c = hbc_connect(&o, &err);
  if (c == NULL) {
    fprintf(stderr, "decode_loop: connect: %s\n", err.message);
    return 1;
  }
  int bad = 0;
  for (int i = 0; i < ROUNDS; i++)
    bad += one_round(c);
  hbc_close(c);
  peer_stop(p);
  bad += application_exceptions(&o);
  for (int i = 0; i < R_COUNT; i++)
    tb_free(&kinds[i]);
  free(replies);
  printf("decode_loop: %d rounds of %d replies, %d wrong\n", ROUNDS, R_COUNT, bad);
  return bad == 0 ? 0 : 1;
}
