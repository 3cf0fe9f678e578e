/* tbinary: writes Thrift binary-protocol bytes by hand (see tbinary.h). */
#include "tbinary.h"

#include <stdlib.h>
#include <string.h>

void tb_free(tbuf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

void tb_raw(tbuf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n)
      cap *= 2;
    b->data = realloc(b->data, cap);
    b->cap = cap;
  }
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
}

static void be(tbuf *b, uint64_t v, int bytes) {
  uint8_t out[8];
  for (int i = 0; i < bytes; i++)
    out[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  tb_raw(b, out, (size_t)bytes);
}

void tb_i8(tbuf *b, int8_t v) {
  be(b, (uint8_t)v, 1);
}
void tb_i16(tbuf *b, int16_t v) {
  be(b, (uint16_t)v, 2);
}
void tb_i32(tbuf *b, int32_t v) {
  be(b, (uint32_t)v, 4);
}
void tb_i64(tbuf *b, int64_t v) {
  be(b, (uint64_t)v, 8);
}

void tb_bin(tbuf *b, const void *p, size_t n) {
  tb_i32(b, (int32_t)n);
  tb_raw(b, p, n);
}

void tb_str(tbuf *b, const char *s) {
  tb_bin(b, s, strlen(s));
}

void tb_field(tbuf *b, int8_t type, int16_t id) {
  tb_i8(b, type);
  tb_i16(b, id);
}

void tb_stop(tbuf *b) {
  tb_i8(b, TB_STOP);
}

void tb_list(tbuf *b, int8_t elem_type, int32_t n) {
  tb_i8(b, elem_type);
  tb_i32(b, n);
}

void tb_map(tbuf *b, int8_t key_type, int8_t value_type, int32_t n) {
  tb_i8(b, key_type);
  tb_i8(b, value_type);
  tb_i32(b, n);
}

void tb_message(tbuf *b, const char *name, int type) {
  tb_i32(b, (int32_t)(0x80010000u | (uint32_t)type));
  tb_str(b, name);
  tb_i32(b, 0);
}
