/* tbinary: writes Thrift binary-protocol bytes by hand, so tests check the decoder against an
 * encoder that shares no code with it. */
#ifndef HBPOOL_TEST_TBINARY_H
#define HBPOOL_TEST_TBINARY_H

#include <stddef.h>
#include <stdint.h>

enum {
  TB_STOP = 0,
  TB_BOOL = 2,
  TB_BYTE = 3,
  TB_I32 = 8,
  TB_I64 = 10,
  TB_STRING = 11,
  TB_STRUCT = 12,
  TB_MAP = 13,
  TB_LIST = 15
};
enum { TB_CALL = 1, TB_REPLY = 2, TB_EXCEPTION = 3 };

typedef struct tbuf {
  uint8_t *data;
  size_t len, cap;
} tbuf;

void tb_free(tbuf *b);
void tb_raw(tbuf *b, const void *p, size_t n);
void tb_i8(tbuf *b, int8_t v);
void tb_i16(tbuf *b, int16_t v);
void tb_i32(tbuf *b, int32_t v);
void tb_i64(tbuf *b, int64_t v);
void tb_bin(tbuf *b, const void *p, size_t n);
void tb_str(tbuf *b, const char *s);
void tb_field(tbuf *b, int8_t type, int16_t id);
void tb_stop(tbuf *b);
void tb_list(tbuf *b, int8_t elem_type, int32_t n);
void tb_map(tbuf *b, int8_t key_type, int8_t value_type, int32_t n);
/* Strict binary message header: version | type, name, seqid 0. */
void tb_message(tbuf *b, const char *name, int type);

#endif
