/* canned: Thrift1 replies encoded by hand for unit tests (see canned.h). */
#include "canned.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

void canned_column(int i, uint8_t out[7]) {
  memcpy(out, "cf:", 3);
  out[3] = (uint8_t)(i >> 24);
  out[4] = (uint8_t)(i >> 16);
  out[5] = (uint8_t)(i >> 8);
  out[6] = (uint8_t)i;
}

static void cell(tbuf *b, int row, int col) {
  char value[32];
  snprintf(value, sizeof value, "v-%d-%d", row, col);
  tb_field(b, TB_STRING, 1);
  tb_str(b, value);
  tb_field(b, TB_I64, 2);
  tb_i64(b, 1000 + col);
  tb_stop(b);
}

static void row_result(tbuf *b, int row, int ncols, bool sorted) {
  char key[32];
  snprintf(key, sizeof key, "row-%d", row);
  tb_field(b, TB_STRING, 1);
  tb_str(b, key);
  if (sorted) {
    tb_field(b, TB_LIST, 3);
    tb_list(b, TB_STRUCT, ncols);
    for (int c = ncols - 1; c >= 0; c--) {
      uint8_t name[7];
      canned_column(c, name);
      tb_field(b, TB_STRING, 1);
      tb_bin(b, name, sizeof name);
      tb_field(b, TB_STRUCT, 2);
      cell(b, row, c);
      tb_stop(b);
    }
  } else {
    tb_field(b, TB_MAP, 2);
    tb_map(b, TB_STRING, TB_STRUCT, ncols);
    for (int c = 0; c < ncols; c++) {
      uint8_t name[7];
      canned_column(c, name);
      tb_bin(b, name, sizeof name);
      cell(b, row, c);
    }
  }
  tb_stop(b);
}

void canned_rows(tbuf *b, const char *method, int nrows, int ncols, bool sorted) {
  tb_message(b, method, TB_REPLY);
  tb_field(b, TB_LIST, 0);
  tb_list(b, TB_STRUCT, nrows);
  for (int r = 0; r < nrows; r++)
    row_result(b, r, ncols, sorted);
  tb_stop(b);
}

static void descriptor(tbuf *b, const char *name, int max_versions) {
  tb_field(b, TB_STRING, 1);
  tb_str(b, name);
  tb_field(b, TB_I32, 2);
  tb_i32(b, max_versions);
  tb_field(b, TB_STRING, 3);
  tb_str(b, "NONE");
  tb_field(b, TB_BOOL, 4);
  tb_i8(b, 1);
  tb_field(b, TB_STRING, 5);
  tb_str(b, "ROW");
  tb_field(b, TB_I32, 9);
  tb_i32(b, 3600);
  tb_stop(b);
}

void canned_descriptors(tbuf *b) {
  tb_message(b, "getColumnDescriptors", TB_REPLY);
  tb_field(b, TB_MAP, 0);
  tb_map(b, TB_STRING, TB_STRUCT, 2);
  tb_str(b, "b:");
  descriptor(b, "b:", 2);
  tb_str(b, "a:");
  descriptor(b, "a:", 1);
  tb_stop(b);
}

void canned_declared(tbuf *b, const char *method, int16_t id, const char *message, bool can_retry) {
  tb_message(b, method, TB_REPLY);
  tb_field(b, TB_STRUCT, id);
  tb_field(b, TB_STRING, 1);
  tb_str(b, message);
  if (id == 1) {
    tb_field(b, TB_BOOL, 2);
    tb_i8(b, can_retry ? 1 : 0);
  }
  tb_stop(b);
  tb_stop(b);
}

void canned_app_exception(tbuf *b, const char *method, const char *message) {
  tb_message(b, method, TB_EXCEPTION);
  tb_field(b, TB_STRING, 1);
  tb_str(b, message);
  tb_field(b, TB_I32, 2);
  tb_i32(b, 6); /* INTERNAL_ERROR */
  tb_stop(b);
}

void canned_void(tbuf *b, const char *method) {
  tb_message(b, method, TB_REPLY);
  tb_stop(b);
}

void canned_serve(int fd, void *arg) {
  canned_script *s = arg;
  for (int i = 0; i < s->nreplies; i++) {
    uint8_t *req = NULL;
    size_t len = 0;
    if (peer_read_frame(fd, &req, &len) < 0)
      return;
    free(req);
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
    if (peer_write_frame(fd, s->replies[i].data, s->replies[i].len) < 0)
      return;
  }
  if (s->hold_ms > 0)
    sleep_ms(s->hold_ms);
}
